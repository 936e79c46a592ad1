//! The JSON API (documented in README.md "The web application") and the file,
//! sign-in and write routes. Every handler: identify the caller, check they may,
//! do the work through the library core on a blocking thread, answer.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::QueryRejection;
use axum::extract::{ConnectInfo, FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Json;
use serde::Deserialize;

use crate::db::board::{self, SetRequest, State as CellState, Target, Who};
use crate::db::users::{self, AuditEntry, Role};
use crate::results::{SubrunQuery, save_cut_file};

use super::auth::{self, Ident};
use super::error::ApiError;
use super::App;

type Pairs = Vec<(String, String)>;

/// The client's address, for the audit log ("-" when not known).
pub struct Remote(pub String);

impl<S: Send + Sync> FromRequestParts<S> for Remote {
    type Rejection = std::convert::Infallible;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Remote, Self::Rejection> {
        Ok(Remote(parts.extensions.get::<ConnectInfo<SocketAddr>>().map_or_else(|| "-".to_string(), |c| c.0.ip().to_string())))
    }
}

pub fn query_pairs(q: Result<Query<Pairs>, QueryRejection>) -> Result<Pairs, ApiError> {
    q.map(|Query(p)| p).map_err(|e| ApiError::bad_request(format!("malformed query string: {e}")))
}

pub fn get<'a>(pairs: &'a Pairs, key: &str) -> Option<&'a str> {
    pairs.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
}

fn json_body<T: for<'de> Deserialize<'de>>(body: &Bytes) -> Result<T, ApiError> {
    serde_json::from_slice(body).map_err(|e| ApiError::bad_request(format!("the request body is not the JSON this route takes: {e}")))
}

/// Pretty JSON with a final newline: the bytes `gm2dqc status --json` prints.
fn pretty<T: serde::Serialize>(v: &T) -> Response {
    let mut s = serde_json::to_string_pretty(v).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"));
    s.push('\n');
    ([(header::CONTENT_TYPE, "application/json")], s).into_response()
}

/// Headers on every answer: no sniffing, no framing, scripts only from the server.
pub async fn security_headers(mut r: Response) -> Response {
    let h = r.headers_mut();
    h.insert("x-content-type-options", HeaderValue::from_static("nosniff"));
    h.insert("x-frame-options", HeaderValue::from_static("DENY"));
    h.insert("referrer-policy", HeaderValue::from_static("same-origin"));
    // JSROOT builds its drawing functions with `new Function` (unsafe-eval) and sets
    // inline styles; no inline script is ever needed, so injected markup cannot run.
    h.insert(
        "content-security-policy",
        HeaderValue::from_static("default-src 'self'; script-src 'self' 'unsafe-eval'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"),
    );
    r
}

pub async fn not_found() -> ApiError {
    ApiError::not_found("no such page or API route (the README lists them)")
}

/// Identify and check read access, in one blocking task with `f`.
async fn read<T, F>(app: &Arc<App>, headers: HeaderMap, f: F) -> Result<T, ApiError>
where
    T: Send + 'static,
    F: FnOnce(&mut dyn crate::db::Backend, &App, Ident) -> Result<T, ApiError> + Send + 'static,
{
    let a = app.clone();
    app.pool
        .run(move |b| {
            let id = auth::identify(b, &a.cfg.auth, &headers)?;
            auth::may_read(&a.cfg.auth, &id)?;
            f(b, &a, id)
        })
        .await
}

pub async fn whoami(State(app): State<Arc<App>>, headers: HeaderMap) -> Result<Response, ApiError> {
    let a = app.clone();
    let v = app
        .pool
        .run(move |b| {
            let id = auth::identify(b, &a.cfg.auth, &headers)?;
            Ok(serde_json::json!({
                "user": id.name(),
                "role": id.role().map(Role::as_str),
                "csrf": auth::csrf_token(&a.cfg.auth, &id),
                "anonymous_read": a.cfg.auth.anonymous_read,
                "layout": a.cfg.layout.name,
            }))
        })
        .await?;
    Ok(Json(v).into_response())
}

#[derive(Deserialize)]
pub struct LoginForm {
    token: String,
    #[serde(default)]
    next: Option<String>,
}

/// `POST /login` (form `token`): sets the sign-in cookie.
pub async fn login(State(app): State<Arc<App>>, Remote(remote): Remote, axum::Form(f): axum::Form<LoginForm>) -> Result<Response, ApiError> {
    let token = f.token.trim().to_string();
    let t = token.clone();
    let user = app
        .pool
        .run(move |b| {
            let u = users::authenticate(b, &t)?;
            if let Some(u) = &u {
                users::audit(b, &AuditEntry { user: u.name.clone(), role: u.role, action: "sign-in".into(), target: String::new(), detail: String::new(), remote })?;
            }
            Ok(u)
        })
        .await
        .map_err(ApiError::page)?;
    if user.is_none() {
        return Err(ApiError::unauthorized("this token is not known: check it, or ask an expert for one (`gm2dqc serve user add NAME --role ROLE`)").page());
    }
    // Only a local path: never redirect elsewhere.
    let next = f.next.filter(|n| n.starts_with('/') && !n.starts_with("//") && !n.contains('\\')).unwrap_or_else(|| "/".into());
    let mut r = Redirect::to(&next).into_response();
    let cookie = format!("{}={token}; Path=/; HttpOnly; SameSite=Strict; Max-Age=2592000", auth::COOKIE);
    r.headers_mut().insert(header::SET_COOKIE, HeaderValue::from_str(&cookie).map_err(|_| ApiError::bad_request("the token holds characters a cookie cannot").page())?);
    Ok(r)
}

/// `POST /logout` (CSRF): clears the cookie.
pub async fn logout(State(app): State<Arc<App>>, headers: HeaderMap) -> Result<Response, ApiError> {
    let a = app.clone();
    app.pool
        .run(move |b| {
            let id = auth::identify(b, &a.cfg.auth, &headers)?;
            auth::may_write(&a.cfg.auth, &id, Role::Reader, &headers, "signing out").map(|_| ())
        })
        .await?;
    let mut r = StatusCode::NO_CONTENT.into_response();
    r.headers_mut().insert(header::SET_COOKIE, HeaderValue::from_str(&format!("{}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0", auth::COOKIE)).expect("ascii"));
    Ok(r)
}

pub async fn board(State(app): State<Arc<App>>, headers: HeaderMap, q: Result<Query<Pairs>, QueryRejection>) -> Result<Response, ApiError> {
    let q = query_pairs(q)?;
    let layout = app.layout(get(&q, "layout"))?;
    let view = read(&app, headers, move |b, _, _| Ok(board::view(b, &layout)?)).await?;
    Ok(pretty(&view))
}

/// `GET /api/board/version`: a number that changes whenever the board does (the
/// pages poll it and fetch the board again when it moved).
pub async fn board_version(State(app): State<Arc<App>>, headers: HeaderMap) -> Result<Response, ApiError> {
    let v = read(&app, headers, |b, _, _| Ok(board::version(b)?)).await?;
    let mut r = Json(serde_json::json!({"version": v})).into_response();
    r.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(r)
}

#[derive(Deserialize)]
struct SetBody {
    state: String,
    #[serde(default)]
    note: String,
    #[serde(default)]
    new_dataset: bool,
}

/// `POST /api/board/{dataset}/{column}` `{"state": "done", "note": "..."}`.
pub async fn set_cell(State(app): State<Arc<App>>, Path((dataset, column)): Path<(String, String)>, Remote(remote): Remote, headers: HeaderMap, q: Result<Query<Pairs>, QueryRejection>, body: Bytes) -> Result<Response, ApiError> {
    let q = query_pairs(q)?;
    let layout = app.layout(get(&q, "layout"))?;
    let body: SetBody = json_body(&body)?;
    let state = CellState::parse(&body.state).map_err(|e| ApiError::bad_request(e.to_string()))?;
    let target = layout.target(&column)?;
    let signoff = match &target {
        Target::Column(id) => layout.column(id).is_some_and(|c| !c.signoff.is_empty()),
        Target::Stage(_) => false,
    };
    // Signing a dataset off as delivered is an expert's; the rest of the board a shifter's.
    let role = if signoff && state == CellState::Done { Role::Expert } else { Role::Shifter };
    let a = app.clone();
    let out = app
        .pool
        .run(move |b| {
            let id = auth::identify(b, &a.cfg.auth, &headers)?;
            let user = auth::may_write(&a.cfg.auth, &id, role, &headers, &format!("setting a cell of the board to {}", state.as_str()))?;
            // The audit record is written in the set's own transaction: no set without it.
            let detail = serde_json::json!({"state": state.key(), "note": body.note, "layout": layout.name}).to_string();
            let audit = AuditEntry { user: user.name.clone(), role: user.role, action: "board.set".into(), target: format!("{dataset}/{column}"), detail, remote: remote.clone() };
            let mut req = SetRequest::new(dataset.clone(), target, state, body.note.clone()).by(Who { user: user.name.clone(), host: format!("web:{remote}") }).audited(audit);
            if body.new_dataset {
                req = req.new_dataset();
            }
            let entries = board::set(b, &layout, &req)?;
            let row = board::row(b, &layout, &dataset)?;
            Ok(serde_json::json!({"entries": entries, "row": row}))
        })
        .await?;
    Ok(Json(out).into_response())
}

pub async fn cell_history(State(app): State<Arc<App>>, Path((dataset, column)): Path<(String, String)>, headers: HeaderMap, q: Result<Query<Pairs>, QueryRejection>) -> Result<Response, ApiError> {
    let q = query_pairs(q)?;
    let layout = app.layout(get(&q, "layout"))?;
    let target = layout.target(&column)?;
    let h = read(&app, headers, move |b, _, _| Ok(board::history(b, &layout, &dataset, &target)?)).await?;
    Ok(Json(h).into_response())
}

pub async fn datasets(State(app): State<Arc<App>>, headers: HeaderMap) -> Result<Response, ApiError> {
    let l = read(&app, headers, |b, a, _| Ok(a.catalog.list(b)?.into_values().collect::<Vec<_>>())).await?;
    Ok(Json(l).into_response())
}

/// The results of one dataset (on a blocking thread): its directories and results.
async fn results_of(app: &Arc<App>, headers: HeaderMap, dataset: String) -> Result<(super::catalog::DatasetDirs, Arc<crate::results::Results>), ApiError> {
    read(app, headers, move |b, a, _| {
        let d = a.catalog.find(b, &dataset)?;
        let out = d.out.clone().ok_or_else(|| ApiError::not_found(format!("dataset `{dataset}` has no output directory recorded")))?;
        if let Some(p) = &d.problem {
            return Err(ApiError::not_found(p.clone()));
        }
        let r = a.catalog.results(&out)?;
        Ok((d, r))
    })
    .await
}

pub async fn dataset(State(app): State<Arc<App>>, Path(dataset): Path<String>, headers: HeaderMap) -> Result<Response, ApiError> {
    let (dirs, r) = results_of(&app, headers, dataset).await?;
    Ok(Json(serde_json::json!({"dirs": dirs, "results": super::views::overview(&r)})).into_response())
}

pub async fn subruns(State(app): State<Arc<App>>, Path(dataset): Path<String>, headers: HeaderMap, q: Result<Query<Pairs>, QueryRejection>) -> Result<Response, ApiError> {
    let q = query_pairs(q)?;
    let query = SubrunQuery::from_pairs(&q).map_err(|e| ApiError::bad_request(e.to_string()))?;
    let (_, r) = results_of(&app, headers, dataset).await?;
    Ok(Json(r.subruns(&query)?).into_response())
}

/// `GET /api/datasets/{d}/intervals`: the merged files and the objects the histogram
/// page draws.
pub async fn intervals(State(app): State<Arc<App>>, Path(dataset): Path<String>, headers: HeaderMap) -> Result<Response, ApiError> {
    let (_, r) = results_of(&app, headers, dataset).await?;
    Ok(Json(super::views::intervals(&r)).into_response())
}

/// `GET /api/datasets/{d}/crystals/{calo}/{xtal}`: one crystal's gains, fit curve and files.
pub async fn crystal(State(app): State<Arc<App>>, Path((dataset, calo, xtal)): Path<(String, u32, u32)>, headers: HeaderMap) -> Result<Response, ApiError> {
    let v = read(&app, headers, move |b, a, _| {
        let d = a.catalog.find(b, &dataset)?;
        let out = d.out.clone().ok_or_else(|| ApiError::not_found(format!("dataset `{dataset}` has no output directory recorded")))?;
        let r = a.catalog.results(&out)?;
        // The fit range is the cut file's; the standard one when that cannot be read.
        let fit = a.catalog.tuner(&out).map(|t| t.base().fit).unwrap_or(crate::analysis::fit::FitConfig::STANDARD);
        super::views::crystal(&r, calo, xtal, &fit)
    })
    .await?;
    Ok(Json(v).into_response())
}

/// `GET /api/datasets/{d}/subruns/{run}/{subrun}`: one subrun's flags, reasons and file.
pub async fn subrun(State(app): State<Arc<App>>, Path((dataset, run, subrun)): Path<(String, u32, u32)>, headers: HeaderMap) -> Result<Response, ApiError> {
    let (_, r) = results_of(&app, headers, dataset).await?;
    Ok(Json(super::views::subrun(&r, run, subrun)?).into_response())
}

/// The cut file the dataset's flags were made with (the start of a tuning).
pub async fn base_cuts(State(app): State<Arc<App>>, Path(dataset): Path<String>, headers: HeaderMap) -> Result<Response, ApiError> {
    let t = read(&app, headers, move |b, a, _| {
        let d = a.catalog.find(b, &dataset)?;
        let out = d.out.ok_or_else(|| ApiError::not_found(format!("dataset `{dataset}` has no output directory recorded")))?;
        a.catalog.tuner(&out)
    })
    .await?;
    let b = t.base();
    Ok(Json(serde_json::json!({"text": t.base_text(), "source": b.source, "sha256": b.sha256, "is_dqc": t.base_is_dqc()})).into_response())
}

#[derive(Deserialize)]
struct TuneBody {
    text: String,
}

/// `POST /api/datasets/{d}/tune` `{"text": CUT FILE}`: what changes against the
/// dataset's cut file. A read: it changes nothing, so it needs no role.
pub async fn tune(State(app): State<Arc<App>>, Path(dataset): Path<String>, headers: HeaderMap, body: Bytes) -> Result<Response, ApiError> {
    let body: TuneBody = json_body(&body)?;
    let out = read(&app, headers, move |b, a, _| {
        let d = a.catalog.find(b, &dataset)?;
        let out = d.out.ok_or_else(|| ApiError::not_found(format!("dataset `{dataset}` has no output directory recorded")))?;
        let t = a.catalog.tuner(&out)?;
        Ok(match t.tune(&body.text) {
            Ok(r) => serde_json::json!({"ok": true, "result": r}),
            Err(diags) => serde_json::json!({"ok": false, "diagnostics": diags}),
        })
    })
    .await?;
    Ok(Json(out).into_response())
}

#[derive(Deserialize)]
struct SaveBody {
    name: String,
    text: String,
}

/// `POST /api/cuts` `{"name": "tight-2026.toml", "text": ...}` (expert): a new cut
/// file in the server's cut directory, never replacing one.
pub async fn save_cuts(State(app): State<Arc<App>>, Remote(remote): Remote, headers: HeaderMap, body: Bytes) -> Result<Response, ApiError> {
    let body: SaveBody = json_body(&body)?;
    let a = app.clone();
    let saved = app
        .pool
        .run(move |b| {
            let id = auth::identify(b, &a.cfg.auth, &headers)?;
            let user = auth::may_write(&a.cfg.auth, &id, Role::Expert, &headers, "saving a cut file")?;
            // The cut directory (default `cuts-saved`) is made on the first save.
            std::fs::create_dir_all(&a.cfg.cut_dir).map_err(|e| ApiError::internal(format!("cannot make the cut directory {}: {e}", a.cfg.cut_dir.display())))?;
            let saved = save_cut_file(&a.cfg.cut_dir, &body.name, &body.text).map_err(|e| ApiError::conflict(e.to_string()))?;
            let detail = serde_json::json!({"path": saved.path, "sha256": saved.sha256}).to_string();
            users::audit(b, &AuditEntry { user: user.name, role: user.role, action: "cuts.save".into(), target: body.name.clone(), detail, remote })?;
            Ok(saved)
        })
        .await?;
    Ok((StatusCode::CREATED, Json(saved)).into_response())
}

/// `GET /api/tags`: every tag, with whether it is locked and how many intervals it holds.
pub async fn tags(State(app): State<Arc<App>>, headers: HeaderMap) -> Result<Response, ApiError> {
    let t = read(&app, headers, |b, _, _| Ok(crate::db::tags(b)?)).await?;
    Ok(Json(t).into_response())
}

/// `POST /api/tags/{tag}/lock` (expert): the tag accepts no more uploads.
pub async fn lock_tag(State(app): State<Arc<App>>, Path(tag): Path<String>, Remote(remote): Remote, headers: HeaderMap) -> Result<Response, ApiError> {
    let a = app.clone();
    let changed = app
        .pool
        .run(move |b| {
            let id = auth::identify(b, &a.cfg.auth, &headers)?;
            let user = auth::may_write(&a.cfg.auth, &id, Role::Expert, &headers, "locking a tag")?;
            let changed = crate::db::lock_tag(b, &tag)?;
            users::audit(b, &AuditEntry { user: user.name, role: user.role, action: "tag.lock".into(), target: tag.clone(), detail: serde_json::json!({"changed": changed}).to_string(), remote })?;
            Ok(changed)
        })
        .await?;
    Ok(Json(serde_json::json!({"locked": true, "changed": changed})).into_response())
}

pub async fn audit(State(app): State<Arc<App>>, headers: HeaderMap, q: Result<Query<Pairs>, QueryRejection>) -> Result<Response, ApiError> {
    let q = query_pairs(q)?;
    let limit: usize = match get(&q, "limit") {
        None => 200,
        Some(s) => s.parse().ok().filter(|n| (1..=10_000).contains(n)).ok_or_else(|| ApiError::bad_request(format!("limit={s}: give a number from 1 to 10000")))?,
    };
    let log = read(&app, headers, move |b, _, _| Ok(users::audit_log(b, limit)?)).await?;
    Ok(Json(log).into_response())
}

/// The directory a `/files/{dataset}/{root}/...` path starts from.
fn file_root(dirs: &super::catalog::DatasetDirs, results: Option<&crate::results::Results>, root: &str) -> Result<std::path::PathBuf, ApiError> {
    let nf = || ApiError::not_found(format!("no such file root `{root}` (out or input)"));
    match root {
        "out" => dirs.out.clone().ok_or_else(nf),
        "input" => results.and_then(super::views::input_dir).ok_or_else(nf),
        _ => Err(nf()),
    }
}

async fn file_any(app: Arc<App>, dataset: String, root: String, path: String, headers: HeaderMap, head: bool) -> Result<Response, ApiError> {
    read(&app, headers.clone(), move |b, a, _| {
        let d = a.catalog.find(b, &dataset)?;
        let r = d.out.as_ref().and_then(|o| a.catalog.results(o).ok());
        let root = file_root(&d, r.as_deref(), &root)?;
        let p = super::files::confine(&root, &path)?;
        super::files::answer(&p, &headers, head)
    })
    .await
}

pub async fn file(State(app): State<Arc<App>>, Path((dataset, root, path)): Path<(String, String, String)>, headers: HeaderMap) -> Result<Response, ApiError> {
    file_any(app, dataset, root, path, headers, false).await
}

pub async fn file_head(State(app): State<Arc<App>>, Path((dataset, root, path)): Path<(String, String, String)>, headers: HeaderMap) -> Result<Response, ApiError> {
    file_any(app, dataset, root, path, headers, true).await
}
