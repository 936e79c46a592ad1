//! The web application's files, compiled into the binary (`build.rs` lists
//! `assets/`): the pages' scripts and style sheet and the vendored JSROOT
//! (`assets/jsroot/`, its licence and version in `assets/jsroot/README.md`). Nothing
//! is fetched from the internet; a server with no network serves all of it.

use axum::extract::Path;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

/// `(path under assets/, bytes)`, sorted by path.
pub static FILES: &[(&str, &[u8])] = include!(concat!(env!("OUT_DIR"), "/assets.rs"));

/// The bytes of an asset.
pub fn get(path: &str) -> Option<&'static [u8]> {
    FILES.binary_search_by(|(p, _)| (*p).cmp(path)).ok().map(|i| FILES[i].1)
}

fn content_type(path: &str) -> &'static str {
    match path.rsplit('.').next().unwrap_or("") {
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "html" => "text/html; charset=utf-8",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "json" => "application/json",
        "md" | "txt" | "LICENSE" => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

/// `GET /assets/{path}`, with an ETag (the content's hash) and 304.
pub async fn serve(Path(path): Path<String>, headers: HeaderMap) -> Response {
    let Some(bytes) = get(&path) else {
        return (StatusCode::NOT_FOUND, "no such asset").into_response();
    };
    let etag = format!("\"{:016x}\"", xxhash_rust::xxh64::xxh64(bytes, 0));
    if headers.get(header::IF_NONE_MATCH).and_then(|v| v.to_str().ok()).is_some_and(|v| v.split(',').any(|t| t.trim() == etag)) {
        return StatusCode::NOT_MODIFIED.into_response();
    }
    let mut r = (StatusCode::OK, bytes).into_response();
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type(&path)));
    h.insert(header::ETAG, HeaderValue::from_str(&etag).expect("ascii"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    r
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_assets_are_sorted_and_the_pages_scripts_are_there() {
        assert!(super::FILES.windows(2).all(|w| w[0].0 < w[1].0));
        for f in ["app.css", "common.js", "board.js", "dataset.js", "cuts.js", "hist.js", "tags.js", "jsroot/LICENSE", "jsroot/modules/core.mjs"] {
            assert!(super::get(f).is_some_and(|b| !b.is_empty()), "{f}");
        }
    }
}
