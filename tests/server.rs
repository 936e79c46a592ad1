//! `gm2dqc serve` over HTTP as its users and an attacker would use it, through the
//! router itself (no socket): the board's JSON equals `gm2dqc status --json` byte for
//! byte, writes need a token, the role and the CSRF token, files are confined and
//! served by ranges, markup is never echoed into a page, and a database that goes
//! away answers 503 with Retry-After and comes back by itself.

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::{json, Value};
use tower::ServiceExt;

use gm2dqc::db::board::Layout;
use gm2dqc::db::users::{self, Role};
use gm2dqc::server::{auth::AuthConfig, router, App, ServeConfig};

use crate::cli::gm2dqc;
use crate::common::TempDir;

/// One demo (2 runs x 8 subruns, every stage, the board and an upload) shared by
/// the tests that only read it; tests that write get their own copy of its database.
pub(crate) fn demo() -> &'static Path {
    static DEMO: OnceLock<PathBuf> = OnceLock::new();
    DEMO.get_or_init(|| {
        let t = TempDir::new("serve-demo");
        let dir = t.0.clone();
        std::mem::forget(t);
        let (code, out, err) = gm2dqc(&["demo", "--dir", dir.to_str().unwrap(), "--threads", "2"]);
        assert_eq!(code, 0, "{out}\n{err}");
        // The demo ends by saying how to open its results in the web application.
        assert!(out.contains(&format!("gm2dqc serve --db {}", dir.join("out/conditions.sqlite").display())), "{out}");
        dir
    })
}

struct Server {
    app: Arc<App>,
    db: String,
    _tmp: TempDir,
}

/// A server on a copy of the demo's database.
fn server(anonymous_read: bool) -> Server {
    let tmp = TempDir::new("serve");
    let db = tmp.0.join("conditions.sqlite");
    std::fs::copy(demo().join("out/conditions.sqlite"), &db).unwrap();
    let db = db.to_str().unwrap().to_string();
    let mut b = gm2dqc::db::open(&db).unwrap();
    gm2dqc::db::migrate(b.as_mut()).unwrap();
    let cfg = ServeConfig {
        db: db.clone(),
        outs: vec![demo().join("out").canonicalize().unwrap()],
        listen: "127.0.0.1:0".parse().unwrap(),
        layout: Layout::gm2dqc(),
        cut_dir: tmp.0.join("cuts-saved"),
        auth: AuthConfig { anonymous_read, trust_header: Some("x-remote-user".into()), secret: [7; 32] },
        condb_only: false,
    };
    Server { app: App::new(cfg), db, _tmp: tmp }
}

struct Answer {
    status: StatusCode,
    headers: axum::http::HeaderMap,
    body: Vec<u8>,
}

impl Answer {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }
}

impl Server {
    fn token(&self, name: &str, role: Role) -> String {
        let mut b = gm2dqc::db::open(&self.db).unwrap();
        users::add_user(b.as_mut(), name, role, "test").unwrap()
    }

    async fn send(&self, req: Request<Body>) -> Answer {
        let r = router(self.app.clone()).oneshot(req).await.unwrap();
        let status = r.status();
        let headers = r.headers().clone();
        let body = r.into_body().collect().await.unwrap().to_bytes().to_vec();
        Answer { status, headers, body }
    }

    async fn get(&self, uri: &str, headers: &[(&str, &str)]) -> Answer {
        let mut r = Request::get(uri);
        for (k, v) in headers {
            r = r.header(*k, *v);
        }
        self.send(r.body(Body::empty()).unwrap()).await
    }

    async fn post(&self, uri: &str, headers: &[(&str, &str)], body: Value) -> Answer {
        let mut r = Request::post(uri).header("content-type", "application/json");
        for (k, v) in headers {
            r = r.header(*k, *v);
        }
        self.send(r.body(Body::from(body.to_string())).unwrap()).await
    }

    /// The CSRF token of a cookie session.
    async fn csrf(&self, cookie: &str) -> String {
        let w = self.get("/api/whoami", &[("cookie", cookie)]).await.json();
        w["csrf"].as_str().unwrap_or_else(|| panic!("no csrf in {w}")).to_string()
    }
}

pub(crate) fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap()
}

#[test]
fn the_boards_json_is_what_status_json_prints_byte_for_byte() {
    rt().block_on(async {
        let s = server(true);
        for layout in ["gm2dqc", "g2"] {
            let a = s.get(&format!("/api/board?layout={layout}"), &[]).await;
            assert_eq!(a.status, StatusCode::OK, "{}", a.text());
            let (code, cli, err) = gm2dqc(&["status", "--db", &s.db, "--json", "--layout", layout]);
            assert_eq!(code, 0, "{err}");
            assert_eq!(a.text(), cli, "layout {layout}");
        }
        let v = s.get("/api/board", &[]).await.json();
        assert_eq!(v["rows"][0]["dataset"], "demo");
    });
}

#[test]
fn writes_need_a_token_the_role_and_for_a_browser_the_csrf_token() {
    rt().block_on(async {
        let s = server(true);
        let set = json!({"state": "in_progress", "note": "looking at it"});
        let uri = "/api/board/demo/plots";
        // No token at all: 401.
        let a = s.post(uri, &[], set.clone()).await;
        assert_eq!(a.status, StatusCode::UNAUTHORIZED, "{}", a.text());
        assert!(a.headers.contains_key("www-authenticate"));
        // A token nobody has: 401, never anonymous.
        let a = s.post(uri, &[("authorization", "Bearer gm2_nobody_0000")], set.clone()).await;
        assert_eq!(a.status, StatusCode::UNAUTHORIZED, "{}", a.text());
        // The reader role: 403.
        let reader = s.token("rita", Role::Reader);
        let a = s.post(uri, &[("authorization", &format!("Bearer {reader}"))], set.clone()).await;
        assert_eq!(a.status, StatusCode::FORBIDDEN, "{}", a.text());
        assert!(a.json()["error"].as_str().unwrap().contains("shifter"), "{}", a.text());
        // A shifter's cookie without the CSRF token, or with a wrong one: 403.
        let shifter = s.token("sam", Role::Shifter);
        let cookie = format!("gm2dqc_token={shifter}");
        let a = s.post(uri, &[("cookie", &cookie)], set.clone()).await;
        assert_eq!(a.status, StatusCode::FORBIDDEN, "{}", a.text());
        assert!(a.text().contains("CSRF"), "{}", a.text());
        let a = s.post(uri, &[("cookie", &cookie), ("x-csrf-token", "0123456789abcdef0123456789abcdef")], set.clone()).await;
        assert_eq!(a.status, StatusCode::FORBIDDEN, "{}", a.text());
        // With it: written, as sam, and audited.
        let csrf = s.csrf(&cookie).await;
        let a = s.post(uri, &[("cookie", &cookie), ("x-csrf-token", &csrf)], set.clone()).await;
        assert_eq!(a.status, StatusCode::OK, "{}", a.text());
        assert_eq!(a.json()["entries"][0]["user"], "sam");
        // A bearer token needs no CSRF token (the browser never sends it by itself).
        let a = s.post(uri, &[("authorization", &format!("Bearer {shifter}"))], json!({"state": "done", "note": ""})).await;
        assert_eq!(a.status, StatusCode::OK, "{}", a.text());
        // The proxy header names a user: reader unless they have an account; CSRF needed.
        let a = s.post(uri, &[("x-remote-user", "sam")], set.clone()).await;
        assert_eq!(a.status, StatusCode::FORBIDDEN, "{}", a.text());
        let w = s.get("/api/whoami", &[("x-remote-user", "sam")]).await.json();
        assert_eq!(w["role"], "shifter");
        let a = s.post(uri, &[("x-remote-user", "sam"), ("x-csrf-token", w["csrf"].as_str().unwrap())], set.clone()).await;
        assert_eq!(a.status, StatusCode::OK, "{}", a.text());
        let w = s.get("/api/whoami", &[("x-remote-user", "mallory")]).await.json();
        assert_eq!(w["role"], "reader");
        let log = s.get("/api/audit", &[]).await.json();
        let sets: Vec<&Value> = log.as_array().unwrap().iter().filter(|e| e["action"] == "board.set").collect();
        assert_eq!(sets.len(), 3, "{log}");
        assert!(sets.iter().all(|e| e["user_name"] == "sam" || e["user"] == "sam"), "{log}");
    });
}

#[test]
fn the_boards_rules_hold_over_http() {
    rt().block_on(async {
        let s = server(true);
        let shifter = s.token("sam", Role::Shifter);
        let auth = format!("Bearer {shifter}");
        let h = [("authorization", auth.as_str())];
        // Held without a note: refused, nothing written.
        let before = s.get("/api/board/version", &[]).await.json();
        let a = s.post("/api/board/demo/gain", &h, json!({"state": "held", "note": "  "})).await;
        assert_eq!(a.status, StatusCode::BAD_REQUEST, "{}", a.text());
        assert!(a.text().contains("needs a note"), "{}", a.text());
        assert_eq!(s.get("/api/board/version", &[]).await.json(), before);
        // Held with a note, then the version moves (what the pages poll).
        let a = s.post("/api/board/demo/gain", &h, json!({"state": "held", "note": "laser run missing"})).await;
        assert_eq!(a.status, StatusCode::OK, "{}", a.text());
        assert_ne!(s.get("/api/board/version", &[]).await.json(), before);
        // Unknown state, column, dataset; a body that is not JSON.
        assert_eq!(s.post("/api/board/demo/gain", &h, json!({"state": "finished"})).await.status, StatusCode::BAD_REQUEST);
        assert_eq!(s.post("/api/board/demo/nosuch", &h, json!({"state": "done"})).await.status, StatusCode::NOT_FOUND);
        assert_eq!(s.post("/api/board/nosuch/gain", &h, json!({"state": "done"})).await.status, StatusCode::NOT_FOUND);
        let bad = s.send(Request::post("/api/board/demo/gain").header("authorization", &auth).body(Body::from("{state")).unwrap()).await;
        assert_eq!(bad.status, StatusCode::BAD_REQUEST, "{}", bad.text());
        // Next-TODO: a new dataset's scan done makes metrics TODO.
        let a = s.post("/api/board/run4A/scan", &h, json!({"state": "done", "note": "", "new_dataset": true})).await;
        assert_eq!(a.status, StatusCode::OK, "{}", a.text());
        let v = s.get("/api/board", &[]).await.json();
        let row = v["rows"].as_array().unwrap().iter().find(|r| r["dataset"] == "run4A").unwrap().clone();
        assert_eq!(row["cells"][1]["state"], "todo", "{row}");
    });
}

#[test]
fn delivered_needs_an_expert_other_than_who_set_the_dqc_stages_done() {
    rt().block_on(async {
        let s = server(true);
        let sam = format!("Bearer {}", s.token("sam", Role::Shifter));
        let eve = format!("Bearer {}", s.token("eve", Role::Expert));
        let ed = format!("Bearer {}", s.token("ed", Role::Expert));
        for stage in ["dqc", "plots"] {
            let a = s.post(&format!("/api/board/demo/{stage}?layout=g2"), &[("authorization", &eve)], json!({"state": "done", "note": "checked"})).await;
            assert_eq!(a.status, StatusCode::OK, "{}", a.text());
        }
        let uri = "/api/board/demo/delivered?layout=g2";
        // A shifter may not sign off; the expert who set the DQC stages Done may not either.
        let a = s.post(uri, &[("authorization", &sam)], json!({"state": "done", "note": "ok"})).await;
        assert_eq!(a.status, StatusCode::FORBIDDEN, "{}", a.text());
        let a = s.post(uri, &[("authorization", &eve)], json!({"state": "done", "note": "ok"})).await;
        assert_eq!(a.status, StatusCode::FORBIDDEN, "{}", a.text());
        assert!(a.text().contains("eve") && a.text().contains("second person"), "{}", a.text());
        // A second expert may.
        let a = s.post(uri, &[("authorization", &ed)], json!({"state": "done", "note": "delivered"})).await;
        assert_eq!(a.status, StatusCode::OK, "{}", a.text());
        let v = s.get("/api/board?layout=g2", &[]).await.json();
        let cell = v["rows"][0]["cells"].as_array().unwrap().iter().find(|c| c["column"] == "delivered").unwrap().clone();
        assert_eq!(cell["state"], "done", "{cell}");
    });
}

#[test]
fn files_are_confined_to_the_known_directories_and_served_by_ranges() {
    rt().block_on(async {
        let s = server(true);
        let out = demo().join("out");
        let merged = std::fs::read(out.join("merged/merged_15921-15921.root")).unwrap();
        let uri = "/files/demo/out/merged/merged_15921-15921.root";
        let a = s.get(uri, &[]).await;
        assert_eq!(a.status, StatusCode::OK);
        assert_eq!(a.body, merged);
        assert_eq!(a.headers["accept-ranges"], "bytes");
        let a = s.get(uri, &[("range", "bytes=0-99")]).await;
        assert_eq!(a.status, StatusCode::PARTIAL_CONTENT);
        assert_eq!(a.body, merged[..100]);
        assert_eq!(a.headers["content-range"], format!("bytes 0-99/{}", merged.len()).as_str());
        // Several ranges: multipart/byteranges, each part the file's bytes.
        let a = s.get(uri, &[("range", "bytes=0-3,100-163")]).await;
        assert_eq!(a.status, StatusCode::PARTIAL_CONTENT);
        let ct = a.headers["content-type"].to_str().unwrap().to_string();
        let boundary = ct.split("boundary=").nth(1).unwrap();
        let parts: Vec<&[u8]> = split_parts(&a.body, boundary.as_bytes());
        assert_eq!(parts, vec![&merged[0..4], &merged[100..164]]);
        let a = s.get(uri, &[("range", format!("bytes={}-", merged.len() + 10).as_str())]).await;
        assert_eq!(a.status, StatusCode::RANGE_NOT_SATISFIABLE);
        // The subrun files, under the dataset's input directory.
        let a = s.get("/files/demo/input/gm2dqc_sim_15921.00001.root", &[("range", "bytes=0-3")]).await;
        assert_eq!((a.status, a.body.as_slice()), (StatusCode::PARTIAL_CONTENT, b"root".as_slice()), "{}", a.text());
        // Out of the directories: 404 whatever the spelling.
        std::os::unix::fs::symlink("/etc/passwd", out.join("merged/escape.root")).ok();
        for bad in [
            "/files/demo/out/../data/gm2dqc_sim_15921.00001.root",
            "/files/demo/out/%2e%2e/data/gm2dqc_sim_15921.00001.root",
            "/files/demo/out/merged/..%2f..%2fdata%2fgm2dqc_sim_15921.00001.root",
            "/files/demo/out//etc/passwd",
            "/files/demo/out/%2Fetc%2Fpasswd",
            "/files/demo/out/merged/escape.root",
            "/files/demo/etc/passwd",
            "/files/nosuch/out/manifest.json",
            "/files/demo/out/merged/nosuch.root",
        ] {
            let a = s.get(bad, &[]).await;
            assert_eq!(a.status, StatusCode::NOT_FOUND, "{bad}: {}", a.text());
            assert!(!a.text().contains("root:x:0"), "{bad}");
        }
        std::fs::remove_file(out.join("merged/escape.root")).ok();
    });
}

fn split_parts<'a>(body: &'a [u8], boundary: &[u8]) -> Vec<&'a [u8]> {
    let mut marker = b"\r\n--".to_vec();
    marker.extend_from_slice(boundary);
    let mut out = Vec::new();
    let mut rest = body;
    while let Some(i) = find(rest, &marker) {
        rest = &rest[i + marker.len()..];
        if rest.starts_with(b"--") {
            break;
        }
        let h = find(rest, b"\r\n\r\n").unwrap();
        let data = &rest[h + 4..];
        let end = find(data, &marker).unwrap();
        out.push(&data[..end]);
        rest = &data[end..];
    }
    out
}

fn find(h: &[u8], n: &[u8]) -> Option<usize> {
    h.windows(n.len()).position(|w| w == n)
}

#[test]
fn markup_in_notes_names_and_tags_is_stored_and_never_echoed_as_markup() {
    rt().block_on(async {
        let s = server(true);
        let auth = format!("Bearer {}", s.token("sam", Role::Shifter));
        let evil = "<script>alert('x')</script>\"'); DROP TABLE stage_log; --";
        let a = s.post("/api/board/demo/gain", &[("authorization", &auth)], json!({"state": "held", "note": evil})).await;
        assert_eq!(a.status, StatusCode::OK, "{}", a.text());
        let ds = "<img src=x onerror=alert(1)>";
        let a = s.post(&format!("/api/board/{}/scan", urlenc(ds)), &[("authorization", &auth)], json!({"state": "done", "note": evil, "new_dataset": true})).await;
        assert_eq!(a.status, StatusCode::OK, "{}", a.text());
        // Stored as given (the board's log survived the SQL), returned as JSON strings.
        let v = s.get("/api/board", &[]).await.json();
        let rows = v["rows"].as_array().unwrap();
        assert!(rows.iter().any(|r| r["dataset"] == ds), "{v}");
        let demo_row = rows.iter().find(|r| r["dataset"] == "demo").unwrap();
        assert_eq!(demo_row["held"]["note"], evil);
        // Pages: the shell escapes what it carries; no page holds the raw markup.
        for uri in ["/".to_string(), format!("/datasets/{}", urlenc(ds)), "/cuts".into(), "/login?next=%22%3E%3Cscript%3E".into()] {
            let a = s.get(&uri, &[]).await;
            let t = a.text();
            assert!(!t.contains("<script>alert") && !t.contains("<img src=x") && !t.contains("\"><script>"), "{uri}: {t}");
        }
        let csp = s.get("/", &[]).await.headers["content-security-policy"].to_str().unwrap().to_string();
        assert!(csp.contains("script-src 'self'") && !csp.contains("unsafe-inline' ;") && !csp.split(';').any(|d| d.contains("script-src") && d.contains("unsafe-inline")), "{csp}");
    });
}

fn urlenc(s: &str) -> String {
    gm2dqc::server::html::url_segment(s)
}

#[test]
fn anonymous_reading_can_be_turned_off() {
    rt().block_on(async {
        let s = server(false);
        assert_eq!(s.get("/api/board", &[]).await.status, StatusCode::UNAUTHORIZED);
        let a = s.get("/", &[]).await;
        assert_eq!(a.status, StatusCode::SEE_OTHER, "{}", a.text());
        assert!(a.headers["location"].to_str().unwrap().starts_with("/login"));
        let reader = s.token("rita", Role::Reader);
        assert_eq!(s.get("/api/board", &[("authorization", &format!("Bearer {reader}"))]).await.status, StatusCode::OK);
        // The sign-in form sets the cookie; the cookie then reads.
        let r = Request::post("/login").header("content-type", "application/x-www-form-urlencoded").body(Body::from(format!("token={reader}&next=%2F"))).unwrap();
        let a = s.send(r).await;
        assert_eq!(a.status, StatusCode::SEE_OTHER, "{}", a.text());
        let set_cookie = a.headers["set-cookie"].to_str().unwrap().to_string();
        assert!(set_cookie.contains("HttpOnly") && set_cookie.contains("SameSite=Strict"), "{set_cookie}");
        let cookie = set_cookie.split(';').next().unwrap().to_string();
        assert_eq!(s.get("/api/board", &[("cookie", &cookie)]).await.status, StatusCode::OK);
        // A wrong token at sign-in: 401, and never a redirect off the site.
        let r = Request::post("/login").header("content-type", "application/x-www-form-urlencoded").body(Body::from("token=nope&next=%2F%2Fevil.example")).unwrap();
        assert_eq!(s.send(r).await.status, StatusCode::UNAUTHORIZED);
        let r = Request::post("/login").header("content-type", "application/x-www-form-urlencoded").body(Body::from(format!("token={reader}&next=%2F%2Fevil.example"))).unwrap();
        assert_eq!(s.send(r).await.headers["location"], "/");
    });
}

#[test]
fn a_database_that_goes_away_is_503_with_retry_after_and_the_server_recovers() {
    rt().block_on(async {
        let s = server(true);
        assert_eq!(s.get("/api/board", &[]).await.status, StatusCode::OK);
        let moved = format!("{}.away", s.db);
        std::fs::rename(&s.db, &moved).unwrap();
        // A page while the database is away: 503, an HTML page that says so.
        let pages = [s.get("/", &[]).await, s.get("/datasets/demo", &[]).await];
        for a in &pages {
            assert_eq!(a.status, StatusCode::SERVICE_UNAVAILABLE, "{}", a.text());
            assert_eq!(a.headers["retry-after"], "5");
            assert!(a.text().contains("not available"), "{}", a.text());
        }
        let a = s.get("/api/board/version", &[]).await;
        assert_eq!(a.status, StatusCode::SERVICE_UNAVAILABLE);
        assert!(a.json()["error"].as_str().unwrap().contains("not available"));
        std::fs::rename(&moved, &s.db).unwrap();
        assert_eq!(s.get("/api/board", &[]).await.status, StatusCode::OK);
        assert_eq!(s.get("/", &[]).await.status, StatusCode::OK);
    });
}

#[test]
fn malformed_requests_are_400_or_404_with_a_message_never_a_500() {
    rt().block_on(async {
        let s = server(true);
        for (uri, want) in [
            ("/api/board?layout=nosuch", StatusCode::BAD_REQUEST),
            ("/api/board?layout=%ZZ", StatusCode::BAD_REQUEST),
            ("/api/datasets/demo/subruns?page=x", StatusCode::BAD_REQUEST),
            ("/api/datasets/demo/subruns?sort=nosuch", StatusCode::BAD_REQUEST),
            ("/api/datasets/demo/subruns?per_page=-1", StatusCode::BAD_REQUEST),
            ("/api/datasets/nosuch/subruns", StatusCode::NOT_FOUND),
            ("/api/audit?limit=0", StatusCode::BAD_REQUEST),
            ("/datasets/demo/subruns/x/1", StatusCode::BAD_REQUEST),
            ("/nosuch", StatusCode::NOT_FOUND),
            ("/assets/../Cargo.toml", StatusCode::NOT_FOUND),
        ] {
            let a = s.get(uri, &[]).await;
            assert_eq!(a.status, want, "{uri}: {}", a.text());
            assert!(!a.body.is_empty(), "{uri}: an answer says why");
        }
    });
}

#[test]
fn the_dataset_api_lists_the_simulators_bad_subruns_with_their_reasons() {
    rt().block_on(async {
        let s = server(true);
        let truth: Value = serde_json::from_str(&std::fs::read_to_string(demo().join("data/truth.json")).unwrap()).unwrap();
        let a = s.get("/api/datasets/demo/subruns?only_bad=true&per_page=1000", &[]).await;
        assert_eq!(a.status, StatusCode::OK, "{}", a.text());
        let page = a.json();
        let mut got: Vec<(u64, u64)> = page["rows"].as_array().unwrap().iter().map(|r| (r["run"].as_u64().unwrap(), r["subrun"].as_u64().unwrap())).collect();
        got.sort();
        let mut want: Vec<(u64, u64)> = truth["subruns"].as_array().unwrap().iter().filter(|t| t["expected"]["ok"] == false).map(|t| (t["run"].as_u64().unwrap(), t["subrun"].as_u64().unwrap())).collect();
        want.sort();
        assert_eq!(got, want, "{page}");
        assert!(page["rows"].as_array().unwrap().iter().all(|r| !r["reason_list"].as_array().unwrap().is_empty() && r["ok"] == false), "{page}");
        // An output directory removed under the running server: the dataset says so, the board still works.
        let copy = TempDir::new("serve-moved");
        let d = server_with_out(&s, &copy.0);
        assert_eq!(d.get("/api/datasets/demo/subruns", &[]).await.status, StatusCode::OK);
        std::fs::remove_dir_all(copy.0.join("out")).unwrap();
        let a = d.get("/api/datasets/demo/subruns", &[]).await;
        assert_eq!(a.status, StatusCode::NOT_FOUND, "{}", a.text());
        assert!(a.text().contains("removed") || a.text().contains("no analysis"), "{}", a.text());
        assert_eq!(d.get("/api/board", &[]).await.status, StatusCode::OK);
        // The same for the directory an upload recorded (no --out).
        let up = TempDir::new("serve-uploaded");
        copy_dir(&demo().join("out"), &up.0.join("out"));
        let db = up.0.join("db.sqlite").display().to_string();
        let (code, o, e) = gm2dqc(&["upload", "--out", up.0.join("out").to_str().unwrap(), "--db", &db, "--tag", "demo"]);
        assert_eq!(code, 0, "{o}{e}");
        let mut cfg = s.app.cfg.clone();
        (cfg.db, cfg.outs) = (db.clone(), Vec::new());
        let u = Server { app: App::new(cfg), db, _tmp: TempDir::new("serve-uploaded-db") };
        let a = u.get("/api/datasets", &[]).await.json();
        assert_eq!(a[0]["out"], up.0.join("out").canonicalize().unwrap().to_str().unwrap(), "{a}");
        assert_eq!(u.get("/api/datasets/demo/subruns", &[]).await.status, StatusCode::OK);
        std::fs::remove_dir_all(up.0.join("out")).unwrap();
        let a = u.get("/api/datasets/demo", &[]).await;
        assert_eq!(a.status, StatusCode::NOT_FOUND, "{}", a.text());
        assert!(a.text().contains("no analysis now"), "{}", a.text());
        let a = u.get("/datasets/demo", &[]).await;
        assert_eq!(a.status, StatusCode::OK, "the page itself loads and says what is wrong: {}", a.text());
    });
}

/// A server like `s` whose `--out` is a copy of the demo's output directory in `dir`.
fn server_with_out(s: &Server, dir: &Path) -> Server {
    let out = dir.join("out");
    copy_dir(&demo().join("out"), &out);
    let mut cfg = s.app.cfg.clone();
    cfg.outs = vec![out.canonicalize().unwrap()];
    Server { app: App::new(cfg), db: s.db.clone(), _tmp: TempDir::new("serve-moved-db") }
}

pub(crate) fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let p = e.path();
        if p.is_dir() {
            copy_dir(&p, &to.join(e.file_name()));
        } else {
            std::fs::copy(&p, to.join(e.file_name())).unwrap();
        }
    }
}

/// A TCP forwarder in front of the PostgreSQL test server that can be cut: what a
/// database server that goes down and comes back looks like to gm2dqc serve.
pub(crate) struct Proxy {
    pub(crate) port: u16,
    down: Arc<std::sync::atomic::AtomicBool>,
    conns: Arc<std::sync::Mutex<Vec<std::net::TcpStream>>>,
}

impl Proxy {
    /// Forwards TCP connections on 127.0.0.1 to the Unix socket `upstream` (the test
    /// server of scripts/pg.sh listens on a Unix socket only).
    pub(crate) fn start(upstream: PathBuf) -> Proxy {
        use std::sync::atomic::Ordering;
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let down = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let conns: Arc<std::sync::Mutex<Vec<std::net::TcpStream>>> = Arc::default();
        let (d, cs) = (down.clone(), conns.clone());
        std::thread::spawn(move || {
            for c in l.incoming() {
                let Ok(c) = c else { continue };
                if d.load(Ordering::SeqCst) {
                    drop(c);
                    continue;
                }
                let Ok(u) = std::os::unix::net::UnixStream::connect(&upstream) else { continue };
                cs.lock().unwrap().push(c.try_clone().unwrap());
                let (mut c2, mut u2) = (c.try_clone().unwrap(), u.try_clone().unwrap());
                let (mut c1, mut u1) = (c, u);
                std::thread::spawn(move || {
                    let _ = std::io::copy(&mut c1, &mut u1);
                    let _ = u1.shutdown(std::net::Shutdown::Both);
                });
                std::thread::spawn(move || {
                    let _ = std::io::copy(&mut u2, &mut c2);
                    let _ = c2.shutdown(std::net::Shutdown::Both);
                });
            }
        });
        Proxy { port, down, conns }
    }

    /// Cuts every connection and refuses new ones.
    pub(crate) fn cut(&self) {
        self.down.store(true, std::sync::atomic::Ordering::SeqCst);
        for c in self.conns.lock().unwrap().drain(..) {
            let _ = c.shutdown(std::net::Shutdown::Both);
        }
    }

    pub(crate) fn restore(&self) {
        self.down.store(false, std::sync::atomic::Ordering::SeqCst);
    }
}

/// A minimal HTTP/1.1 client (one request per connection) for the server processes.
pub(crate) fn http(addr: &str, method: &str, path: &str, headers: &[(&str, &str)], body: &str) -> (u16, String) {
    use std::io::{Read, Write};
    let mut c = std::net::TcpStream::connect(addr).unwrap();
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n", body.len());
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    req.push_str(body);
    c.write_all(req.as_bytes()).unwrap();
    let mut out = Vec::new();
    c.read_to_end(&mut out).unwrap();
    let text = String::from_utf8_lossy(&out).into_owned();
    let status = text.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default();
    (status, body)
}

/// A `gm2dqc serve` process; killed at drop.
pub(crate) struct ServeProcess {
    child: std::process::Child,
    pub(crate) addr: String,
}

impl ServeProcess {
    fn start(db: &str) -> ServeProcess {
        ServeProcess::start_with(db, &[])
    }

    pub(crate) fn start_with(db: &str, extra: &[&str]) -> ServeProcess {
        use std::io::BufRead;
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_gm2dqc"))
            .args(["serve", "--db", db, "--listen", "127.0.0.1:0", "--threads", "2"])
            .args(extra)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::inherit())
            .spawn()
            .unwrap();
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        let addr = line.split("http://").nth(1).and_then(|r| r.split('/').next()).unwrap_or_else(|| panic!("no address in {line:?}")).to_string();
        ServeProcess { child, addr }
    }
}

impl Drop for ServeProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn on_postgresql_two_serve_processes_share_one_board_and_survive_the_server_going_away() {
    let Some((_, url, _keep)) = crate::db::databases("serve").into_iter().find(|(l, _, _)| l == "postgres") else {
        return;
    };
    // The demo's results uploaded into PostgreSQL (from a copy: an upload records itself in OUT).
    let copy = TempDir::new("serve-pg-out");
    copy_dir(&demo().join("out"), &copy.0.join("out"));
    let out = copy.0.join("out");
    let (code, o, e) = gm2dqc(&["upload", "--out", out.to_str().unwrap(), "--db", &url, "--tag", "demo"]);
    assert_eq!(code, 0, "{o}{e}");
    let token = {
        let mut b = gm2dqc::db::open(&url).unwrap();
        users::add_user(b.as_mut(), "sam", Role::Shifter, "test").unwrap()
    };
    // Two processes, one database: a set through one is on the other's board.
    let (a, b) = (ServeProcess::start(&url), ServeProcess::start(&url));
    let (st, v0) = http(&b.addr, "GET", "/api/board/version", &[], "");
    assert_eq!(st, 200, "{v0}");
    let auth = format!("Bearer {token}");
    let (st, body) = http(&a.addr, "POST", "/api/board/demo/plots", &[("Authorization", &auth), ("Content-Type", "application/json")], r#"{"state": "held", "note": "plots look odd"}"#);
    assert_eq!(st, 200, "{body}");
    let (_, v1) = http(&b.addr, "GET", "/api/board/version", &[], "");
    assert_ne!(v0, v1);
    let (_, board) = http(&b.addr, "GET", "/api/board", &[], "");
    let v: Value = serde_json::from_str(&board).unwrap();
    assert_eq!(v["rows"][0]["held"]["note"], "plots look odd", "{v}");
    // The dataset's results come from the directory the upload recorded.
    let (st, body) = http(&b.addr, "GET", "/api/datasets/demo/subruns?only_bad=true", &[], "");
    assert_eq!(st, 200, "{body}");
    drop((a, b));

    // The database server goes away: 503 with Retry-After; it comes back: answers again.
    let (host, port) = (std::env::var("GM2DQC_TEST_PG_HOST").unwrap(), std::env::var("GM2DQC_TEST_PG_PORT").unwrap());
    assert!(host.starts_with('/'), "scripts/pg.sh's server listens on a Unix socket in {host}");
    let proxy = Proxy::start(PathBuf::from(format!("{host}/.s.PGSQL.{port}")));
    let via = url.replace(&format!("host={host}&port={port}"), &format!("host=127.0.0.1&port={}", proxy.port));
    assert_ne!(via, url);
    rt().block_on(async {
        let mut s = server(true);
        let mut cfg = s.app.cfg.clone();
        cfg.db = via.clone();
        s.app = App::new(cfg);
        assert_eq!(s.get("/api/board", &[]).await.status, StatusCode::OK);
        proxy.cut();
        for uri in ["/api/board", "/api/board/version", "/"] {
            let a = s.get(uri, &[]).await;
            assert_eq!(a.status, StatusCode::SERVICE_UNAVAILABLE, "{uri}: {}", a.text());
            assert_eq!(a.headers["retry-after"], "5");
        }
        proxy.restore();
        assert_eq!(s.get("/api/board", &[]).await.status, StatusCode::OK);
        assert_eq!(s.get("/", &[]).await.status, StatusCode::OK);
    });
}

#[test]
fn a_crystals_page_gets_its_fit_from_the_gain_table_and_two_different_spectra() {
    rt().block_on(async {
        let s = server(true);
        let a = s.get("/api/datasets/demo/crystals/1/0", &[]).await;
        assert_eq!(a.status, StatusCode::OK, "{}", a.text());
        let v = a.json();
        assert_eq!(v["paths"]["infill"], "laser/inFill/calo1/xtal0");
        assert_eq!(v["paths"]["energy"], "calo/calo1/xtal0Energy");
        let g = gm2dqc::tables::read_parquet(&demo().join("out/gain_constants.parquet")).unwrap();
        let col = |n: &str| g.column(n).unwrap().cast(&polars::prelude::DataType::Float64).unwrap().f64().unwrap().clone();
        let (calo, xtal, first, norm, amp, tau) = (col("calo"), col("xtal"), col("run_first"), col("ifg_norm"), col("ifg_amp"), col("ifg_tau_us"));
        for iv in v["intervals"].as_array().unwrap() {
            let i = (0..g.height()).find(|&i| calo.get(i) == Some(1.0) && xtal.get(i) == Some(0.0) && first.get(i) == iv["first"].as_f64()).unwrap();
            assert_eq!(iv["fit"]["N"].as_f64(), norm.get(i), "{iv}");
            assert_eq!(iv["fit"]["A"].as_f64(), amp.get(i), "{iv}");
            assert_eq!(iv["fit"]["tau"].as_f64(), tau.get(i), "{iv}");
            assert_eq!((iv["fit"]["t_min"].as_f64(), iv["fit"]["t_max"].as_f64()), (Some(4.0), Some(400.0)), "the standard fit range");
            let (e, r) = (iv["energy_file"].as_str().unwrap(), iv["reference_file"].as_str().unwrap());
            assert_ne!(e, r, "a spectrum is never overlaid with itself: {iv}");
            assert!(r.starts_with("gm2dqc_sim_15921."), "the reference run's file: {r}");
            for f in [e, r] {
                assert_eq!(s.get(&format!("/files/demo/input/{f}"), &[("range", "bytes=0-3")]).await.body, b"root");
            }
        }
        assert_eq!(s.get("/api/datasets/demo/crystals/25/0", &[]).await.status, StatusCode::NOT_FOUND);
        assert_eq!(s.get("/api/datasets/demo/crystals/1/54", &[]).await.status, StatusCode::NOT_FOUND);
    });
}

#[test]
fn locking_a_tag_is_an_experts_and_is_audited() {
    rt().block_on(async {
        let s = server(true);
        let tags = s.get("/api/tags", &[]).await.json();
        assert_eq!(tags[0]["name"], "demo");
        assert_eq!(tags[0]["locked"], false);
        let sam = format!("Bearer {}", s.token("sam", Role::Shifter));
        let eve = format!("Bearer {}", s.token("eve", Role::Expert));
        assert_eq!(s.post("/api/tags/demo/lock", &[], json!({})).await.status, StatusCode::UNAUTHORIZED);
        assert_eq!(s.post("/api/tags/demo/lock", &[("authorization", &sam)], json!({})).await.status, StatusCode::FORBIDDEN);
        assert_eq!(s.get("/api/tags", &[]).await.json()[0]["locked"], false, "a refused lock changes nothing");
        let a = s.post("/api/tags/demo/lock", &[("authorization", &eve)], json!({})).await;
        assert_eq!(a.status, StatusCode::OK, "{}", a.text());
        assert_eq!(a.json()["changed"], true);
        assert_eq!(s.get("/api/tags", &[]).await.json()[0]["locked"], true);
        assert_eq!(s.post("/api/tags/nosuch/lock", &[("authorization", &eve)], json!({})).await.status, StatusCode::NOT_FOUND);
        let log = s.get("/api/audit", &[]).await.json();
        assert!(log.as_array().unwrap().iter().any(|e| e["action"] == "tag.lock" && e["user"] == "eve" && e["target"] == "demo"), "{log}");
        // The command line sees the lock.
        let (code, out, err) = gm2dqc(&["db", "--db", &s.db, "tags"]);
        assert_eq!(code, 0, "{err}");
        let demo = out.lines().find(|l| l.starts_with("demo ")).unwrap_or_else(|| panic!("{out}"));
        assert_eq!(demo.split_whitespace().nth(1), Some("yes"), "{out}");
    });
}
