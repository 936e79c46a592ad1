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
//! Each is kept gzip-compressed too, made once: a client sending
//! `Accept-Encoding: gzip` gets it (`Content-Encoding: gzip`, its own ETag: the plain
//! one with `-gzip`), and every `/condb/get` answer says `Vary: Accept-Encoding`.
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
use crate::db::good::{self, GoodFormat, GoodQuery};
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

/// One representation of an answer: its bytes, its ETag, whether gzip-encoded.
#[derive(Clone)]
struct Repr {
    body: Bytes,
    etag: String,
    gzip: bool,
}

impl Repr {
    fn plain(body: Bytes) -> Repr {
        let etag = format!("\"{}\"", crate::checksum::sha256_hex(&body));
        Repr { body, etag, gzip: false }
    }
}

/// An answer as kept: as formatted, and gzip-compressed once (what web proxies and
/// `curl --compressed` ask for: about 0.4x the bytes of a gain CSV to move).
#[derive(Clone)]
struct Kept {
    plain: Repr,
    gzip: Option<Repr>,
}

impl Kept {
    fn new(text: String) -> Kept {
        use std::io::Write;
        let plain = Repr::plain(Bytes::from(text));
        let mut z = flate2::write::GzEncoder::new(Vec::with_capacity(plain.body.len() / 3), flate2::Compression::default());
        // Compressing into memory cannot fail short of allocation; if it ever does, the
        // plain form is answered to everyone.
        let gzip = z.write_all(&plain.body).and_then(|_| z.finish()).ok().map(|gz| {
            // The same content in another representation: its own (strong) ETag, named after the plain one.
            let etag = format!("{}-gzip\"", plain.etag.trim_end_matches('"'));
            Repr { body: Bytes::from(gz), etag, gzip: true }
        });
        Kept { plain, gzip }
    }
    fn bytes(&self) -> usize {
        self.plain.body.len() + self.gzip.as_ref().map_or(0, |g| g.body.len())
    }
    /// The representation for a request: gzip when the client accepts it.
    fn for_request(&self, headers: &HeaderMap) -> &Repr {
        match &self.gzip {
            Some(g) if accepts_gzip(headers) => g,
            _ => &self.plain,
        }
    }
}

/// Whether `Accept-Encoding` names gzip (or `*`) with a quality above 0.
fn accepts_gzip(headers: &HeaderMap) -> bool {
    headers.get_all(header::ACCEPT_ENCODING).iter().filter_map(|v| v.to_str().ok()).flat_map(|v| v.split(',')).any(|item| {
        let mut parts = item.split(';');
        let coding = parts.next().unwrap_or("").trim();
        let zero = parts.any(|p| p.trim().strip_prefix("q=").is_some_and(|q| q.trim().parse::<f32>().is_ok_and(|q| q <= 0.0)));
        (coding.eq_ignore_ascii_case("gzip") || coding == "*") && !zero
    })
}

/// Formatted answers by [`Key`].
#[derive(Default)]
pub struct Cache {
    inner: Mutex<(HashMap<Key, Kept>, usize)>,
    hits: std::sync::atomic::AtomicU64,
}

impl Cache {
    fn lock(&self) -> std::sync::MutexGuard<'_, (HashMap<Key, Kept>, usize)> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }
    fn get(&self, k: &Key) -> Option<Kept> {
        let v = self.lock().0.get(k).cloned();
        if v.is_some() {
            self.hits.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        v
    }
    fn put(&self, k: Key, v: Kept) {
        let n = v.bytes();
        if n > CACHE_BYTES {
            return;
        }
        let mut g = self.lock();
        if g.1 + n > CACHE_BYTES {
            *g = Default::default();
        }
        g.1 += n;
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
        .route("/condb/good-subruns", ro(get(good_subruns)))
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
    respond(headers, &Repr::plain(Bytes::from(body)), content_type, immutable, false)
}

/// `vary`: the answer has a gzip representation too (`Vary: Accept-Encoding`).
fn respond(headers: &HeaderMap, r: &Repr, content_type: &'static str, immutable: bool, vary: bool) -> Response {
    let held = headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|t| t.trim().trim_start_matches("W/"))
        .any(|t| t == r.etag || t == "*");
    let mut h = HeaderMap::new();
    // A quoted hex digest: always a valid header value.
    if let Ok(etag) = HeaderValue::from_str(&r.etag) {
        h.insert(header::ETAG, etag);
    }
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static(if immutable { IMMUTABLE } else { REVALIDATE }));
    if vary {
        h.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
    }
    if held {
        return (StatusCode::NOT_MODIFIED, h).into_response();
    }
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    if r.gzip {
        h.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
    }
    (h, r.body.clone()).into_response()
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

fn as_of_param(q: &Pairs) -> Result<Option<i64>, ApiError> {
    match param(q, "as_of") {
        None => Ok(None),
        Some(t) => Ok(Some(time::parse_us(t.trim()).ok_or_else(|| ApiError::bad_request(format!("parameter `as_of={t}`: expected a UTC time such as 2026-11-30T04:00:00Z")))?)),
    }
}

/// A comma-separated list parameter (empty items dropped).
fn list_param(q: &Pairs, key: &str) -> Option<Vec<String>> {
    param(q, key).map(|v| v.split(',').map(str::trim).filter(|f| !f.is_empty()).map(str::to_string).collect())
}

/// Whether an answer read at `as_of_us` can no longer change.
fn settled(as_of_us: Option<i64>) -> bool {
    as_of_us.is_some_and(|t| t <= time::now_us() - AS_OF_SETTLED_S * 1_000_000)
}

/// `GET /condb/good-subruns?tag=T&dataset=D[&require=F,...][&ignore=F,...][&as_of=TIME][&format=json|txt|golden]`:
/// what `gm2dqc db good-subruns --tag T --dataset D ...` prints.
async fn good_subruns(State(app): State<Arc<App>>, headers: HeaderMap, q: Result<Query<Pairs>, QueryRejection>) -> Result<Response, ApiError> {
    let q = query_pairs(q)?;
    let tag = required(&q, "tag", "the tag, e.g. tag=dqc-v1 (/condb/tags lists them)")?.to_string();
    let dataset = required(&q, "dataset", "the dataset, e.g. dataset=run3B")?.to_string();
    let format = match param(&q, "format") {
        None => GoodFormat::Json,
        Some(f) => GoodFormat::parse(f.trim()).ok_or_else(|| ApiError::bad_request(format!("parameter `format={f}`: expected json, txt or golden")))?,
    };
    let query = GoodQuery { tag: tag.clone(), dataset, require: list_param(&q, "require"), ignore: list_param(&q, "ignore").unwrap_or_default(), as_of_us: as_of_param(&q)? };
    let ct = match format {
        GoodFormat::Txt => "text/plain; charset=utf-8",
        GoodFormat::Json | GoodFormat::Golden => "application/json",
    };
    let (a, h) = (app.clone(), headers.clone());
    let as_of_us = query.as_of_us;
    let (text, locked) = app
        .pool
        .run(move |b| {
            check_read(b, &a, &h)?;
            // Locked before the read: then nothing can change what the read returns.
            let locked = crate::db::tag_locked(b, &tag)?.unwrap_or(false);
            Ok((good::text(&good::good_subruns(b, &query)?, format), locked))
        })
        .await?;
    Ok(answer(&headers, text, ct, locked || settled(as_of_us)))
}

/// `GET /condb/get?folder=F&tag=T&run=R[&subrun=S][&as_of=TIME][&format=csv|json]`:
/// what `gm2dqc db get F --tag T --run R [--subrun S] [--as-of TIME] --format csv|json` prints.
async fn get_payload(State(app): State<Arc<App>>, headers: HeaderMap, q: Result<Query<Pairs>, QueryRejection>) -> Result<Response, ApiError> {
    let q = query_pairs(q)?;
    let folder = required(&q, "folder", "a folder, e.g. folder=gain_constants")?.to_string();
    let tag = required(&q, "tag", "the tag, e.g. tag=dqc-v1 (/condb/tags lists them)")?.to_string();
    let run = number(&q, "run")?.ok_or_else(|| ApiError::bad_request("parameter `run` is missing: give the run, e.g. run=15921"))?;
    let subrun = number(&q, "subrun")?;
    let as_of_us = as_of_param(&q)?;
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
    let (kept, locked) = app
        .pool
        .run(move |b| {
            check_read(b, &a, &h)?;
            // Locked before the read: then nothing can change what the read returns.
            let locked = crate::db::tag_locked(b, &tag)?.unwrap_or(false);
            let missing = || ApiError::not_found(format!("no {folder} in tag {tag} for run {run} subrun {}{}: no interval of this tag covers that point", subrun.unwrap_or(0), as_of_us.map(|t| format!(" as of {}", time::format_us(t))).unwrap_or_default()));
            let Some((_, hash)) = crate::db::resolve(b, &tag, &folder, (run, subrun.unwrap_or(0)), as_of_us)? else {
                return Err(missing());
            };
            if let Some(kept) = a.condb_cache.get(&(hash, folder.clone(), subrun, format)) {
                return Ok((kept, locked));
            }
            // Not kept yet: the rows, checked against the hash they are stored under.
            let rows = export::get_rows(b, &tag, &folder, run, subrun, as_of_us)?.ok_or_else(missing)?;
            let kept = Kept::new(export::frame_text(&rows.frame, format));
            a.condb_cache.put((rows.payload_hash, folder, subrun, format), kept.clone());
            Ok((kept, locked))
        })
        .await?;
    Ok(respond(&headers, kept.for_request(&headers), ct, locked || settled(as_of_us), true))
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
