//! `/condb`: the conditions database over HTTP for production jobs, read-only (like
//! Fermilab's ConDB). Every answer is the bytes the command line prints for the same
//! read ([`crate::db::export`] formats both), with an `ETag` (the SHA-256 of those
//! bytes) and caching a web proxy can follow:
//!
//! - a read of a locked tag is `Cache-Control: public, max-age=86400, immutable`
//!   (locked before the read, the tag gets no later upload);
//! - a read of an open tag `as_of` a time more than [`AS_OF_SETTLED_S`] in the past is
//!   immutable too (history is append-only; the margin covers an upload whose
//!   transaction was stamped earlier than it committed, and clock skew);
//! - any other read is `Cache-Control: no-cache`: a proxy may keep it, but asks again
//!   (`If-None-Match` answers 304 when nothing changed).
//!
//! Formatted answers are kept in memory by the content hash of the payload they were
//! made from ([`Cache`], at most [`CACHE_BYTES`]): a read then costs one indexed
//! query ([`crate::db::resolve`]: which payload the tag gives at that point, then),
//! not the payload's rows and their formatting. Content-addressed, nothing in it is
//! ever stale: an upload to an open tag makes a new interval naming a new payload.
//!
//! There is no write route: every method but GET and HEAD is 405 with
//! `Allow: GET, HEAD`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

use crate::db::export::{self, TextFormat};
use crate::db::{schema, time};

use super::api::{get as param, query_pairs};
use super::auth;
use super::error::ApiError;
use super::App;

/// An `as_of` this many seconds or more in the past reads settled history.
pub const AS_OF_SETTLED_S: i64 = 3600;

const IMMUTABLE: &str = "public, max-age=86400, immutable";
const REVALIDATE: &str = "no-cache";
const ALLOW: &str = "GET, HEAD";

type Pairs = Vec<(String, String)>;

/// The formatted answers kept, in bytes of body at most; when full, the cache is
/// emptied and fills again (simple, and bounded).
pub const CACHE_BYTES: usize = 256 << 20;

/// What one payload's answer is made of: its content hash, its folder, the subrun
/// kept (`subrun=`), the format.
type Key = (String, String, Option<u32>, TextFormat);

/// Formatted answers by [`Key`]: (body, ETag).
#[derive(Default)]
pub struct Cache {
    inner: Mutex<(HashMap<Key, (Bytes, String)>, usize)>,
    hits: std::sync::atomic::AtomicU64,
}

impl Cache {
    fn lock(&self) -> std::sync::MutexGuard<'_, (HashMap<Key, (Bytes, String)>, usize)> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }
    fn get(&self, k: &Key) -> Option<(Bytes, String)> {
        let v = self.lock().0.get(k).cloned();
        if v.is_some() {
            self.hits.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        v
    }
    fn put(&self, k: Key, v: (Bytes, String)) {
        if v.0.len() > CACHE_BYTES {
            return;
        }
        let mut g = self.lock();
        if g.1 + v.0.len() > CACHE_BYTES {
            *g = Default::default();
        }
        g.1 += v.0.len();
        g.0.insert(k, v);
    }
    /// How many answers are kept.
    pub fn len(&self) -> usize {
        self.lock().0.len()
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// How many answers came from the cache.
    pub fn hits(&self) -> u64 {
        self.hits.load(std::sync::atomic::Ordering::Relaxed)
    }
}

/// The `/condb` routes (merged into the application's router, or served alone by
/// `gm2dqc serve --condb-only`).
pub fn routes() -> Router<Arc<App>> {
    let ro = |r: axum::routing::MethodRouter<Arc<App>>| r.fallback(method_not_allowed);
    Router::new()
        .route("/condb/get", ro(get(get_payload)))
        .route("/condb/folders", ro(get(folders)))
        .route("/condb/tags", ro(get(tags)))
        .route("/condb/history", ro(get(history)))
}

async fn method_not_allowed() -> Response {
    let mut r = ApiError::new(StatusCode::METHOD_NOT_ALLOWED, "the conditions database over HTTP is read-only: only GET and HEAD (uploads: `gm2dqc upload`)").into_response();
    r.headers_mut().insert(header::ALLOW, HeaderValue::from_static(ALLOW));
    r
}

/// Read access as the rest of the server grants it: anyone when anonymous reading
/// is on (no account needed), else a signed-in user.
fn check_read(b: &mut dyn crate::db::Backend, app: &App, headers: &HeaderMap) -> Result<(), ApiError> {
    if app.cfg.auth.anonymous_read {
        return Ok(());
    }
    let id = auth::identify(b, &app.cfg.auth, headers)?;
    auth::may_read(&app.cfg.auth, &id)
}

/// A text answer with its ETag and caching, or 304 when the client holds it.
fn answer(headers: &HeaderMap, body: String, content_type: &'static str, immutable: bool) -> Response {
    let etag = etag_of(body.as_bytes());
    answer_tagged(headers, Bytes::from(body), etag, content_type, immutable)
}

fn etag_of(body: &[u8]) -> String {
    format!("\"{}\"", crate::checksum::sha256_hex(body))
}

fn answer_tagged(headers: &HeaderMap, body: Bytes, etag: String, content_type: &'static str, immutable: bool) -> Response {
    let cache = HeaderValue::from_static(if immutable { IMMUTABLE } else { REVALIDATE });
    let held = headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|t| t.trim().trim_start_matches("W/"))
        .any(|t| t == etag || t == "*");
    let etag = HeaderValue::from_str(&etag).unwrap_or_else(|_| HeaderValue::from_static("\"\""));
    if held {
        return (StatusCode::NOT_MODIFIED, [(header::ETAG, etag), (header::CACHE_CONTROL, cache)]).into_response();
    }
    ([(header::CONTENT_TYPE, HeaderValue::from_static(content_type)), (header::ETAG, etag), (header::CACHE_CONTROL, cache)], body).into_response()
}

fn required<'a>(q: &'a Pairs, key: &str, what: &str) -> Result<&'a str, ApiError> {
    param(q, key).filter(|v| !v.trim().is_empty()).ok_or_else(|| ApiError::bad_request(format!("parameter `{key}` is missing: give {what}")))
}

fn number(q: &Pairs, key: &str) -> Result<Option<u32>, ApiError> {
    param(q, key)
        .map(|v| v.trim().parse::<u32>().map_err(|_| ApiError::bad_request(format!("parameter `{key}={v}`: expected a whole number from 0 to {}", u32::MAX))))
        .transpose()
}

fn known_folder(name: &str) -> Result<(), ApiError> {
    match schema::folder(name) {
        Some(_) => Ok(()),
        None => Err(ApiError::not_found(format!("no folder `{name}`; folders: {} (/condb/folders lists them)", schema::folders().iter().map(|f| f.name).collect::<Vec<_>>().join(", ")))),
    }
}

/// `GET /condb/get?folder=F&tag=T&run=R[&subrun=S][&as_of=TIME][&format=csv|json]`:
/// what `gm2dqc db get F --tag T --run R [--subrun S] [--as-of TIME] --format csv|json` prints.
async fn get_payload(State(app): State<Arc<App>>, headers: HeaderMap, q: Result<Query<Pairs>, QueryRejection>) -> Result<Response, ApiError> {
    let q = query_pairs(q)?;
    let folder = required(&q, "folder", "a folder, e.g. folder=gain_constants")?.to_string();
    let tag = required(&q, "tag", "the tag, e.g. tag=dqc-v1 (/condb/tags lists them)")?.to_string();
    let run = number(&q, "run")?.ok_or_else(|| ApiError::bad_request("parameter `run` is missing: give the run, e.g. run=15921"))?;
    let subrun = number(&q, "subrun")?;
    let as_of_us = match param(&q, "as_of") {
        None => None,
        Some(t) => Some(time::parse_us(t.trim()).ok_or_else(|| ApiError::bad_request(format!("parameter `as_of={t}`: expected a UTC time such as 2026-11-30T04:00:00Z")))?),
    };
    let format = match param(&q, "format") {
        None => TextFormat::Csv,
        Some(f) => TextFormat::parse(f.trim()).ok_or_else(|| ApiError::bad_request(format!("parameter `format={f}`: expected csv or json")))?,
    };
    known_folder(&folder)?;
    let ct = match format {
        TextFormat::Csv => "text/csv; charset=utf-8",
        TextFormat::Json => "application/json",
    };
    let (a, h) = (app.clone(), headers.clone());
    let (body, etag, locked) = app
        .pool
        .run(move |b| {
            check_read(b, &a, &h)?;
            // Locked before the read: then nothing can change what the read returns.
            let locked = crate::db::tag_locked(b, &tag)?.unwrap_or(false);
            let missing = || ApiError::not_found(format!("no {folder} in tag {tag} for run {run} subrun {}{}: no interval of this tag covers that point", subrun.unwrap_or(0), as_of_us.map(|t| format!(" as of {}", time::format_us(t))).unwrap_or_default()));
            let Some((_, hash)) = crate::db::resolve(b, &tag, &folder, (run, subrun.unwrap_or(0)), as_of_us)? else {
                return Err(missing());
            };
            if let Some((body, etag)) = a.condb_cache.get(&(hash, folder.clone(), subrun, format)) {
                return Ok((body, etag, locked));
            }
            // Not kept yet: the rows, checked against the hash they are stored under.
            let rows = export::get_rows(b, &tag, &folder, run, subrun, as_of_us)?.ok_or_else(missing)?;
            let body = Bytes::from(export::frame_text(&rows.frame, format));
            let etag = etag_of(&body);
            a.condb_cache.put((rows.payload_hash, folder, subrun, format), (body.clone(), etag.clone()));
            Ok((body, etag, locked))
        })
        .await?;
    let settled = as_of_us.is_some_and(|t| t <= time::now_us() - AS_OF_SETTLED_S * 1_000_000);
    Ok(answer_tagged(&headers, body, etag, ct, locked || settled))
}

/// `GET /condb/folders`: every folder with its columns and their types.
async fn folders(State(app): State<Arc<App>>, headers: HeaderMap) -> Result<Response, ApiError> {
    let (a, h) = (app.clone(), headers.clone());
    app.pool.run(move |b| check_read(b, &a, &h)).await?;
    // The folders are compiled into this build: they change only with the server.
    Ok(answer(&headers, export::folders_json(), "application/json", false))
}

/// `GET /condb/tags`: what `gm2dqc db tags --json` prints.
async fn tags(State(app): State<Arc<App>>, headers: HeaderMap) -> Result<Response, ApiError> {
    let (a, h) = (app.clone(), headers.clone());
    let text = app
        .pool
        .run(move |b| {
            check_read(b, &a, &h)?;
            Ok(export::tags_json(&crate::db::tags(b)?))
        })
        .await?;
    Ok(answer(&headers, text, "application/json", false))
}

/// `GET /condb/history?folder=F&tag=T`: what `gm2dqc db history F --tag T --json` prints.
async fn history(State(app): State<Arc<App>>, headers: HeaderMap, q: Result<Query<Pairs>, QueryRejection>) -> Result<Response, ApiError> {
    let q = query_pairs(q)?;
    let folder = required(&q, "folder", "a folder, e.g. folder=gain_constants")?.to_string();
    let tag = required(&q, "tag", "the tag, e.g. tag=dqc-v1 (/condb/tags lists them)")?.to_string();
    known_folder(&folder)?;
    let (a, h) = (app.clone(), headers.clone());
    let text = app
        .pool
        .run(move |b| {
            check_read(b, &a, &h)?;
            Ok(export::history_json(&crate::db::history(b, &tag, &folder)?))
        })
        .await?;
    // Small, and revalidated (no-cache) even for a locked tag: 304 costs one query.
    Ok(answer(&headers, text, "application/json", false))
}
