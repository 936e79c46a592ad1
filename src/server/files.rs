//! `GET /files/{dataset}/{root}/{path}`: the merged files (`out`) and the subrun
//! files (`input`) of a known dataset, read-only, with HTTP range requests (JSROOT
//! reads a ROOT file by asking for the byte ranges of its keys, several per request:
//! `multipart/byteranges`).
//!
//! Confinement: the path is split into segments and a segment that is empty, `.`,
//! `..`, or holds `\` or NUL is refused before the filesystem is touched; the joined
//! path is then resolved (symbolic links followed) and must still lie under the
//! resolved root and be a regular file. Everything refused is 404, saying nothing
//! about what exists outside.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use axum::body::Body;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use super::error::ApiError;

/// Most ranges in one request.
pub const MAX_RANGES: usize = 1000;
/// Most bytes answered at once (a whole file without Range, or all ranges summed).
pub const MAX_BYTES: u64 = 512 << 20;

/// The file `rel` under `root`, or 404.
pub fn confine(root: &Path, rel: &str) -> Result<PathBuf, ApiError> {
    let nf = || ApiError::not_found(format!("no such file: {rel}"));
    if rel.is_empty() || rel.starts_with('/') {
        return Err(nf());
    }
    let mut p = root.to_path_buf();
    for seg in rel.split('/') {
        if seg.is_empty() || seg == "." || seg == ".." || seg.contains('\\') || seg.contains('\0') {
            return Err(nf());
        }
        p.push(seg);
    }
    let root = root.canonicalize().map_err(|_| nf())?;
    let real = p.canonicalize().map_err(|_| nf())?;
    if !real.starts_with(&root) {
        return Err(nf());
    }
    Ok(real)
}

/// A byte range, inclusive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Range {
    pub first: u64,
    pub last: u64,
}

/// The ranges of a `Range` header over a file of `size` bytes (RFC 9110 14.1.2):
/// `Ok(None)` to answer the whole file (no header, or a unit other than bytes),
/// `Err` (416) when none is satisfiable or the header is malformed.
pub fn parse_ranges(h: Option<&str>, size: u64) -> Result<Option<Vec<Range>>, String> {
    let Some(h) = h else { return Ok(None) };
    let Some(spec) = h.trim().strip_prefix("bytes=") else { return Ok(None) };
    let mut out = Vec::new();
    for part in spec.split(',') {
        let part = part.trim();
        let (a, b) = part.split_once('-').ok_or_else(|| format!("malformed range `{part}`"))?;
        let num = |s: &str| s.trim().parse::<u64>().map_err(|_| format!("malformed range `{part}`"));
        let r = if a.trim().is_empty() {
            let n = num(b)?;
            if n == 0 || size == 0 {
                continue;
            }
            Range { first: size.saturating_sub(n), last: size - 1 }
        } else {
            let first = num(a)?;
            let last = if b.trim().is_empty() { size.saturating_sub(1) } else { num(b)?.min(size.saturating_sub(1)) };
            if b.trim().is_empty() || num(b)? >= first {
                if first >= size {
                    continue;
                }
                Range { first, last }
            } else {
                return Err(format!("malformed range `{part}` (last before first)"));
            }
        };
        out.push(r);
        if out.len() > MAX_RANGES {
            return Err(format!("more than {MAX_RANGES} ranges in one request"));
        }
    }
    if out.is_empty() {
        return Err(format!("no range is within the file's {size} bytes"));
    }
    if out.iter().map(|r| r.last - r.first + 1).sum::<u64>() > MAX_BYTES {
        return Err(format!("the ranges ask for more than {MAX_BYTES} bytes at once"));
    }
    Ok(Some(out))
}

/// Answers a GET or HEAD of `path` (already confined), honouring `Range`.
pub fn answer(path: &Path, headers: &HeaderMap, head: bool) -> Result<Response, ApiError> {
    let nf = || ApiError::not_found("no such file (it may have been removed)".to_string());
    let f = File::open(path).map_err(|_| nf())?;
    let md = f.metadata().map_err(|_| nf())?;
    if !md.is_file() {
        return Err(nf());
    }
    let size = md.len();
    let read = |r: Range| -> Result<Vec<u8>, ApiError> {
        let mut buf = vec![0u8; (r.last - r.first + 1) as usize];
        f.read_exact_at(&mut buf, r.first).map_err(|e| ApiError::not_found(format!("the file changed while it was read ({e})")))?;
        Ok(buf)
    };
    let range_h = headers.get(header::RANGE).and_then(|v| v.to_str().ok());
    let ranges = match parse_ranges(range_h, size) {
        Ok(r) => r,
        Err(m) => {
            let mut r = (StatusCode::RANGE_NOT_SATISFIABLE, m).into_response();
            r.headers_mut().insert(header::CONTENT_RANGE, HeaderValue::from_str(&format!("bytes */{size}")).expect("ascii"));
            return Ok(r);
        }
    };
    let mut resp = match ranges.as_deref() {
        None => {
            if size > MAX_BYTES {
                return Err(ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, format!("the file has {size} bytes: ask for it in ranges (Range: bytes=...)")));
            }
            let body = if head { Vec::new() } else { read(Range { first: 0, last: size.saturating_sub(1) }).or_else(|e| if size == 0 { Ok(Vec::new()) } else { Err(e) })? };
            let mut r = (StatusCode::OK, Body::from(body)).into_response();
            r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/octet-stream"));
            r.headers_mut().insert(header::CONTENT_LENGTH, HeaderValue::from(size));
            r
        }
        Some([one]) => {
            let body = if head { Vec::new() } else { read(*one)? };
            let mut r = (StatusCode::PARTIAL_CONTENT, Body::from(body)).into_response();
            let h = r.headers_mut();
            h.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/octet-stream"));
            h.insert(header::CONTENT_RANGE, HeaderValue::from_str(&format!("bytes {}-{}/{size}", one.first, one.last)).expect("ascii"));
            h.insert(header::CONTENT_LENGTH, HeaderValue::from(one.last - one.first + 1));
            r
        }
        Some(many) => {
            let boundary = "gm2dqc-byteranges-7d1f3a";
            let mut body = Vec::new();
            for r in many {
                body.extend_from_slice(format!("\r\n--{boundary}\r\nContent-Type: application/octet-stream\r\nContent-Range: bytes {}-{}/{size}\r\n\r\n", r.first, r.last).as_bytes());
                if !head {
                    body.extend_from_slice(&read(*r)?);
                }
            }
            body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
            let mut r = (StatusCode::PARTIAL_CONTENT, Body::from(body)).into_response();
            r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_str(&format!("multipart/byteranges; boundary={boundary}")).expect("ascii"));
            r
        }
    };
    let h = resp.headers_mut();
    h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    if let Ok(m) = md.modified() {
        if let Ok(d) = m.duration_since(std::time::UNIX_EPOCH) {
            if let Ok(v) = HeaderValue::from_str(&format!("\"{:x}-{:x}\"", size, d.as_nanos())) {
                h.insert(header::ETAG, v);
            }
        }
    }
    Ok(resp)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_as_rfc_9110_reads_them() {
        let r = |first, last| Range { first, last };
        assert_eq!(parse_ranges(None, 100), Ok(None));
        assert_eq!(parse_ranges(Some("bytes=0-9"), 100), Ok(Some(vec![r(0, 9)])));
        assert_eq!(parse_ranges(Some("bytes=90-"), 100), Ok(Some(vec![r(90, 99)])));
        assert_eq!(parse_ranges(Some("bytes=-10"), 100), Ok(Some(vec![r(90, 99)])));
        assert_eq!(parse_ranges(Some("bytes=95-200"), 100), Ok(Some(vec![r(95, 99)])));
        assert_eq!(parse_ranges(Some("bytes=0-1, 10-19,50-50"), 100), Ok(Some(vec![r(0, 1), r(10, 19), r(50, 50)])));
        assert!(parse_ranges(Some("bytes=100-"), 100).is_err());
        assert!(parse_ranges(Some("bytes=9-1"), 100).is_err());
        assert!(parse_ranges(Some("bytes=a-b"), 100).is_err());
        assert!(parse_ranges(Some("bytes=-"), 100).is_err());
        assert_eq!(parse_ranges(Some("items=0-1"), 100), Ok(None));
    }

    #[test]
    fn confinement() {
        let d = std::env::temp_dir().join(format!("gm2dqc-confine-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(d.join("root/sub")).unwrap();
        std::fs::write(d.join("root/sub/a.root"), b"x").unwrap();
        std::fs::write(d.join("secret"), b"s").unwrap();
        std::os::unix::fs::symlink(d.join("secret"), d.join("root/out")).unwrap();
        std::os::unix::fs::symlink(d.join("root/sub/a.root"), d.join("root/in")).unwrap();
        let root = d.join("root");
        assert!(confine(&root, "sub/a.root").is_ok());
        assert!(confine(&root, "in").is_ok(), "a link that stays inside is served");
        for bad in ["../secret", "sub/../../secret", "/etc/passwd", "out", "sub//a.root", "./sub/a.root", "sub\\..\\a", "nope", ""] {
            assert_eq!(confine(&root, bad).unwrap_err().status, StatusCode::NOT_FOUND, "{bad}");
        }
        std::fs::remove_dir_all(&d).unwrap();
    }
}
