//! `/condb`, the conditions database over HTTP: its answers are what `gm2dqc db get`
//! prints, byte for byte, at random points of every folder, on SQLite and PostgreSQL;
//! ETag and 304; the caching that follows a tag's lock; 400/404 that name what is
//! wrong; 405 for every write method; 503 while the database is away and recovery
//! after; `gm2dqc serve --condb-only` serves nothing else.

use std::path::PathBuf;
use std::sync::Arc;

use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::Value;
use tower::ServiceExt;

use gm2dqc::db::board::Layout;
use gm2dqc::db::{self, export, time};
use gm2dqc::server::{auth::AuthConfig, router, App, ServeConfig};

use crate::cli::gm2dqc;
use crate::common::TempDir;
use crate::server::{copy_dir, demo, http, rt, Proxy, ServeProcess};

const FOLDERS: [&str; 9] = ["gain_constants", "calo_channel_status", "tracker_channel_status", "subrun_metrics", "subrun_status", "calo_quality", "kicker_dqc", "t0_dqc", "laser_dqc"];
/// `demo` is locked after both uploads; `demo-b` stays open.
const TAGS: [&str; 2] = ["demo", "demo-b"];

/// A database of one backend holding the demo's results in two tags.
pub(crate) struct Loaded {
    pub label: String,
    pub url: String,
    _keep: (TempDir, TempDir),
}

/// Each backend: the demo uploaded into `demo`, then (later) into `demo-b`, then
/// `demo` locked.
pub(crate) fn loaded(name: &str) -> Vec<Loaded> {
    crate::db::databases(name)
        .into_iter()
        .map(|(label, url, keep)| {
            let copy = TempDir::new("condb-out");
            copy_dir(&demo().join("out"), &copy.0.join("out"));
            let out = copy.0.join("out");
            for tag in TAGS {
                let (code, o, e) = gm2dqc(&["upload", "--out", out.to_str().unwrap(), "--db", &url, "--tag", tag]);
                assert_eq!(code, 0, "{label}: {o}{e}");
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
            let (code, o, e) = gm2dqc(&["db", "--db", &url, "lock", "demo"]);
            assert_eq!(code, 0, "{o}{e}");
            Loaded { label, url, _keep: (keep, copy) }
        })
        .collect()
}

pub(crate) fn app(url: &str, condb_only: bool) -> Arc<App> {
    App::new(ServeConfig {
        db: url.to_string(),
        outs: vec![],
        listen: "127.0.0.1:0".parse().unwrap(),
        layout: Layout::gm2dqc(),
        cut_dir: PathBuf::from("/nonexistent/cuts-saved"),
        auth: AuthConfig { anonymous_read: true, trust_header: None, secret: [7; 32] },
        condb_only,
    })
}

pub(crate) struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Answer {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
    pub fn error(&self) -> String {
        let v: Value = serde_json::from_slice(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()));
        v["error"].as_str().unwrap_or_else(|| panic!("no error in {v}")).to_string()
    }
}

pub(crate) async fn send(app: &Arc<App>, method: &str, uri: &str, headers: &[(&str, &str)]) -> Answer {
    let mut r = Request::builder().method(method).uri(uri);
    for (k, v) in headers {
        r = r.header(*k, *v);
    }
    let r = router(app.clone()).oneshot(r.body(Body::empty()).unwrap()).await.unwrap();
    let (status, headers) = (r.status(), r.headers().clone());
    let body = r.into_body().collect().await.unwrap().to_bytes().to_vec();
    Answer { status, headers, body }
}

/// xorshift64*: a fixed sequence, the same on every run.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) % n
    }
}

fn enc(s: &str) -> String {
    s.bytes().map(|b| if b.is_ascii_alphanumeric() || b"-_.".contains(&b) { (b as char).to_string() } else { format!("%{b:02X}") }).collect()
}

/// What `db get` must find, from the history alone (not from `db::get`): whether an
/// interval inserted by `as_of` covers the point.
fn covered(h: &[db::IovRecord], point: (u32, u32), as_of: Option<i64>) -> bool {
    h.iter().any(|r| {
        let after_first = (r.iov.first.0, r.iov.first.1) <= point;
        let before_end = r.iov.end.is_none_or(|e| point < e);
        after_first && before_end && as_of.is_none_or(|t| r.inserted_at_us <= t)
    })
}

#[test]
fn condb_get_answers_what_db_get_prints_at_1000_random_points_on_sqlite_and_postgresql() {
    for l in loaded("condb_get") {
        let a = app(&l.url, false);
        let mut b = db::open_existing(&l.url).unwrap();
        let mut hist = std::collections::BTreeMap::new();
        let mut times = vec![time::parse_us("2020-01-01T00:00:00Z").unwrap()];
        for f in FOLDERS {
            for t in TAGS {
                let h = db::history(b.as_mut(), t, f).unwrap();
                assert!(!h.is_empty(), "{}: {f} in {t}", l.label);
                for r in &h {
                    times.extend([r.inserted_at_us - 1, r.inserted_at_us, r.inserted_at_us + 1]);
                }
                hist.insert((f, t), h);
            }
        }
        let (mut found, mut missing, mut by_binary) = (0, 0, 0);
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        // The library reads run outside the runtime (the PostgreSQL client blocks).
        let rt = rt();
        {
            for i in 0..1000 {
                let f = FOLDERS[rng.below(FOLDERS.len() as u64) as usize];
                let t = TAGS[rng.below(2) as usize];
                let run = 15919 + rng.below(6) as u32;
                let subrun = match rng.below(3) { 0 => None, _ => Some(rng.below(11) as u32) };
                let as_of = match rng.below(3) { 0 => None, _ => Some(times[rng.below(times.len() as u64) as usize]) };
                let json = rng.below(2) == 0;
                let mut uri = format!("/condb/get?folder={f}&tag={t}&run={run}");
                let mut args: Vec<String> = ["db", "--db", &l.url, "get", f, "--tag", t, "--run", &run.to_string()].iter().map(|s| s.to_string()).collect();
                if let Some(s) = subrun {
                    uri.push_str(&format!("&subrun={s}"));
                    args.extend(["--subrun".into(), s.to_string()]);
                }
                if let Some(us) = as_of {
                    uri.push_str(&format!("&as_of={}", enc(&time::format_us(us))));
                    args.extend(["--as-of".into(), time::format_us(us)]);
                }
                if json {
                    uri.push_str("&format=json");
                }
                args.extend(["--format".into(), if json { "json" } else { "csv" }.into()]);
                let ans = rt.block_on(send(&a, "GET", &uri, &[]));
                let expect = covered(&hist[&(f, t)], (run, subrun.unwrap_or(0)), as_of);
                let ctx = format!("{}: point {i}: {uri}", l.label);
                if expect {
                    found += 1;
                    assert_eq!(ans.status, StatusCode::OK, "{ctx}: {}", ans.text());
                    let rows = export::get_rows(b.as_mut(), t, f, run, subrun, as_of).unwrap().unwrap_or_else(|| panic!("{ctx}: nothing"));
                    let lib = export::frame_text(&rows.frame, if json { export::TextFormat::Json } else { export::TextFormat::Csv });
                    assert_eq!(ans.text(), lib, "{ctx}");
                    // The CSV names the folder's columns, in order (schema, not the formatter).
                    if !json {
                        let cols: Vec<String> = db::schema::folder(f).unwrap().columns.iter().map(|c| c.0.clone()).collect();
                        assert_eq!(ans.text().lines().next().unwrap(), cols.join(","), "{ctx}");
                    }
                } else {
                    missing += 1;
                    assert_eq!(ans.status, StatusCode::NOT_FOUND, "{ctx}: {}", ans.text());
                    assert!(ans.error().contains(&format!("no {f} in tag {t} for run {run}")), "{ctx}: {}", ans.error());
                }
                // One point in twenty: against the binary itself.
                if i % 20 == 0 {
                    by_binary += 1;
                    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
                    let (code, out, err) = gm2dqc(&argv);
                    if expect {
                        assert_eq!(code, 0, "{ctx}: {err}");
                        assert_eq!(ans.text(), out, "{ctx}: HTTP and `gm2dqc db get` differ");
                    } else {
                        assert_eq!(code, 1, "{ctx}: nothing covers the point, exit 1 as the README says: {out}");
                        assert!(err.contains(&format!("no {f} in tag {t}")), "{ctx}: {err}");
                    }
                }
            }
        }
        assert!(found > 200 && missing > 100, "{}: the points cover both answers ({found} found, {missing} missing)", l.label);
        assert_eq!(by_binary, 50);
    }
}

#[test]
fn condb_tags_history_and_folders_are_what_the_command_line_prints() {
    for l in loaded("condb_json") {
        let a = app(&l.url, false);
        rt().block_on(async {
            let ans = send(&a, "GET", "/condb/tags", &[]).await;
            assert_eq!(ans.status, StatusCode::OK, "{}", ans.text());
            let (code, out, err) = gm2dqc(&["db", "--db", &l.url, "tags", "--json"]);
            assert_eq!(code, 0, "{err}");
            assert_eq!(ans.text(), out, "{}", l.label);
            let v: Value = serde_json::from_str(&out).unwrap();
            assert_eq!(v.as_array().unwrap().iter().map(|t| (t["name"].as_str().unwrap(), t["locked"].as_bool().unwrap())).collect::<Vec<_>>(), [("demo", true), ("demo-b", false)]);
            for f in FOLDERS {
                for t in TAGS {
                    let ans = send(&a, "GET", &format!("/condb/history?folder={f}&tag={t}"), &[]).await;
                    assert_eq!(ans.status, StatusCode::OK, "{}", ans.text());
                    let (code, out, err) = gm2dqc(&["db", "--db", &l.url, "history", f, "--tag", t, "--json"]);
                    assert_eq!(code, 0, "{err}");
                    assert_eq!(ans.text(), out, "{}: {f} {t}", l.label);
                }
            }
            let ans = send(&a, "GET", "/condb/folders", &[]).await;
            assert_eq!(ans.status, StatusCode::OK);
            let v: Value = serde_json::from_slice(&ans.body).unwrap();
            let names: Vec<&str> = v.as_array().unwrap().iter().map(|f| f["name"].as_str().unwrap()).collect();
            assert_eq!(names, FOLDERS);
            let status = &v[4]["columns"];
            assert_eq!(status[0], serde_json::json!({"name": "run", "type": "int", "unit": null}));
            let gain_cols = v[0]["columns"].as_array().unwrap();
            let tau = gain_cols.iter().find(|c| c["name"] == "ifg_tau_us").unwrap();
            assert_eq!(tau["unit"], "us", "the database's columns have units");
            assert_eq!(status[2], serde_json::json!({"name": "ok", "type": "bool", "unit": null}));
            assert_eq!(status[4], serde_json::json!({"name": "flags_json", "type": "text", "unit": null}));
        });
    }
}

#[test]
fn condb_etag_answers_304_and_caching_follows_the_tags_lock() {
    let l = loaded("condb_cache").remove(0);
    let a = app(&l.url, false);
    rt().block_on(async {
        let locked = send(&a, "GET", "/condb/get?folder=gain_constants&tag=demo&run=15921", &[]).await;
        assert_eq!(locked.status, StatusCode::OK);
        assert_eq!(locked.headers["cache-control"], "public, max-age=86400, immutable");
        assert_eq!(locked.headers["content-type"], "text/csv; charset=utf-8");
        let etag = locked.headers["etag"].to_str().unwrap().to_string();
        // The SHA-256 of the body, quoted: the same bytes have the same tag.
        assert_eq!(etag.len(), 66, "{etag}");
        assert!(etag.starts_with('"') && etag.ends_with('"'), "{etag}");
        // Kept formatted in memory by the payload's content hash.
        assert_eq!(a.condb_cache.len(), 1);
        assert_eq!(a.condb_cache.hits(), 0);
        let again = send(&a, "GET", "/condb/get?folder=gain_constants&tag=demo&run=15921", &[]).await;
        assert_eq!(a.condb_cache.hits(), 1, "asked again, the answer comes from the cache");
        assert_eq!(again.body, locked.body);
        assert_eq!(again.headers["etag"], etag.as_str());
        let open = send(&a, "GET", "/condb/get?folder=gain_constants&tag=demo-b&run=15921", &[]).await;
        assert_eq!(open.headers["cache-control"], "no-cache", "an open tag may change with the next upload");
        assert_eq!(open.body, locked.body, "the same upload in both tags");
        assert_eq!(open.headers["etag"], etag.as_str(), "the ETag names the content, not the tag");
        assert_eq!((a.condb_cache.len(), a.condb_cache.hits()), (1, 2), "the same payload in another tag is the same answer");
        let now = enc(&time::format_us(time::now_us()));
        let recent = send(&a, "GET", &format!("/condb/get?folder=gain_constants&tag=demo-b&run=15921&as_of={now}"), &[]).await;
        assert_eq!(recent.status, StatusCode::OK);
        assert_eq!(recent.headers["cache-control"], "no-cache", "an as_of of the last hour is not settled yet");

        // A new upload to the open tag: the next read answers it, never the kept bytes.
        let mut b = db::open(&l.url).unwrap();
        let (iov, mut p) = db::get(b.as_mut(), "demo-b", "gain_constants", (15921, 0), None).unwrap().unwrap();
        let g = p.folder.columns.iter().position(|(n, _)| *n == "gain").expect("a gain column");
        p.rows[0][g] = db::payload::Value::Real(1.25);
        let prov = db::Provenance::here("reprocessed", None, vec![]);
        db::upload(b.as_mut(), "demo-b", &[(iov, p)], &prov).unwrap();
        drop(b);
        let fresh = send(&a, "GET", "/condb/get?folder=gain_constants&tag=demo-b&run=15921", &[]).await;
        assert_eq!(fresh.status, StatusCode::OK);
        assert_ne!(fresh.headers["etag"], etag.as_str(), "a new payload, a new ETag");
        let (code, out, err) = gm2dqc(&["db", "--db", &l.url, "get", "gain_constants", "--tag", "demo-b", "--run", "15921", "--format", "csv"]);
        assert_eq!(code, 0, "{err}");
        assert_eq!(fresh.text(), out, "what db get prints after the upload");
        assert_ne!(fresh.body, locked.body);
        assert_eq!(send(&a, "GET", "/condb/get?folder=gain_constants&tag=demo&run=15921", &[]).await.body, locked.body, "the locked tag still answers its payload");
        let other = send(&a, "GET", "/condb/get?folder=gain_constants&tag=demo&run=15922&format=json", &[]).await;
        assert_ne!(other.headers["etag"], etag.as_str());
        assert_eq!(other.headers["content-type"], "application/json");
        // If-None-Match: 304, no body; a list or a weak tag holding it too; another: 200.
        for inm in [etag.clone(), format!("\"x\", {etag}"), format!("W/{etag}")] {
            let r = send(&a, "GET", "/condb/get?folder=gain_constants&tag=demo&run=15921", &[("if-none-match", &inm)]).await;
            assert_eq!(r.status, StatusCode::NOT_MODIFIED, "{inm}");
            assert!(r.body.is_empty());
            assert_eq!(r.headers["etag"], etag.as_str());
            assert_eq!(r.headers["cache-control"], "public, max-age=86400, immutable");
        }
        let r = send(&a, "GET", "/condb/get?folder=gain_constants&tag=demo&run=15922", &[("if-none-match", &etag)]).await;
        assert_eq!(r.status, StatusCode::OK);
        // gzip for a client that accepts it (proxies, `curl --compressed`): the same bytes
        // once decoded, its own ETag, `Vary: Accept-Encoding` on both forms.
        assert_eq!(locked.headers["vary"], "accept-encoding");
        assert!(locked.headers.get("content-encoding").is_none());
        let gz = send(&a, "GET", "/condb/get?folder=gain_constants&tag=demo&run=15921", &[("accept-encoding", "deflate, gzip;q=0.8")]).await;
        assert_eq!(gz.status, StatusCode::OK);
        assert_eq!(gz.headers["content-encoding"], "gzip");
        assert_eq!(gz.headers["vary"], "accept-encoding");
        assert_eq!(gz.headers["cache-control"], "public, max-age=86400, immutable");
        let gz_etag = gz.headers["etag"].to_str().unwrap().to_string();
        assert_eq!(gz_etag, format!("{}-gzip\"", etag.trim_end_matches('"')));
        let mut decoded = Vec::new();
        std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&gz.body[..]), &mut decoded).unwrap();
        assert_eq!(decoded, locked.body, "decoded, the bytes db get prints");
        assert!(gz.body.len() * 2 < locked.body.len(), "compressed: {} of {} bytes", gz.body.len(), locked.body.len());
        let r = send(&a, "GET", "/condb/get?folder=gain_constants&tag=demo&run=15921", &[("accept-encoding", "gzip"), ("if-none-match", &gz_etag)]).await;
        assert_eq!(r.status, StatusCode::NOT_MODIFIED);
        let r = send(&a, "GET", "/condb/get?folder=gain_constants&tag=demo&run=15921", &[("accept-encoding", "gzip;q=0, br")]).await;
        assert!(r.headers.get("content-encoding").is_none(), "gzip refused with q=0");
        assert_eq!(r.body, locked.body);
        // HEAD: the headers of GET, no body.
        let h = send(&a, "HEAD", "/condb/get?folder=gain_constants&tag=demo&run=15921", &[]).await;
        assert_eq!(h.status, StatusCode::OK);
        assert!(h.body.is_empty());
        assert_eq!(h.headers["etag"], etag.as_str());
        for uri in ["/condb/tags", "/condb/folders", "/condb/history?folder=gain_constants&tag=demo"] {
            let r = send(&a, "GET", uri, &[]).await;
            assert_eq!(r.headers["cache-control"], "no-cache", "{uri}");
            let e = r.headers["etag"].to_str().unwrap().to_string();
            assert_eq!(send(&a, "GET", uri, &[("if-none-match", &e)]).await.status, StatusCode::NOT_MODIFIED, "{uri}");
        }
    });
}

#[test]
fn condb_refuses_writes_bad_parameters_and_unknown_names_and_is_503_while_the_database_is_away() {
    let l = loaded("condb_errors").remove(0);
    let a = app(&l.url, false);
    rt().block_on(async {
        for uri in ["/condb/get?folder=gain_constants&tag=demo&run=15921", "/condb/folders", "/condb/tags", "/condb/history?folder=gain_constants&tag=demo"] {
            for m in ["POST", "PUT", "DELETE", "PATCH"] {
                let r = send(&a, m, uri, &[]).await;
                assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED, "{m} {uri}");
                assert_eq!(r.headers["allow"], "GET, HEAD", "{m} {uri}");
                assert!(r.error().contains("read-only"), "{}", r.error());
            }
        }
        let base = "/condb/get?folder=gain_constants&tag=demo";
        for (uri, names) in [
            (base.to_string(), "`run`"),
            (format!("{base}&run=x"), "`run=x`"),
            (format!("{base}&run=-1"), "`run=-1`"),
            (format!("{base}&run=15921&subrun=1.5"), "`subrun=1.5`"),
            (format!("{base}&run=15921&as_of=yesterday"), "`as_of=yesterday`"),
            (format!("{base}&run=15921&format=parquet"), "`format=parquet`"),
            ("/condb/get?tag=demo&run=1".to_string(), "`folder`"),
            ("/condb/get?folder=gain_constants&run=1".to_string(), "`tag`"),
            ("/condb/history?folder=gain_constants".to_string(), "`tag`"),
        ] {
            let r = send(&a, "GET", &uri, &[]).await;
            assert_eq!(r.status, StatusCode::BAD_REQUEST, "{uri}: {}", r.text());
            assert!(r.error().contains(names), "{uri}: {}", r.error());
        }
        let r = send(&a, "GET", "/condb/get?folder=gains&tag=demo&run=15921", &[]).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND);
        assert!(r.error().contains("no folder `gains`") && r.error().contains("gain_constants, calo_channel_status"), "{}", r.error());
        for uri in ["/condb/get?folder=gain_constants&tag=nope&run=15921", "/condb/history?folder=gain_constants&tag=nope"] {
            let r = send(&a, "GET", uri, &[]).await;
            assert_eq!(r.status, StatusCode::NOT_FOUND, "{uri}");
            assert!(r.error().contains("no tag `nope`") && r.error().contains("demo, demo-b"), "{}", r.error());
        }
        let r = send(&a, "GET", "/condb/get?folder=gain_constants&tag=demo&run=15000", &[]).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND);
        assert!(r.error().contains("no gain_constants in tag demo for run 15000 subrun 0"), "{}", r.error());
        let r = send(&a, "GET", "/condb/get?folder=gain_constants&tag=demo&run=15921&as_of=2020-01-01T00:00:00Z", &[]).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND);
        assert!(r.error().contains("as of 2020-01-01"), "{}", r.error());

        // The database file goes away: 503 with Retry-After, even for an answer kept in
        // memory (which payload a tag gives needs the database); it comes back: answers.
        let ok = "/condb/get?folder=gain_constants&tag=demo&run=15921";
        assert_eq!(send(&a, "GET", ok, &[]).await.status, StatusCode::OK);
        let away = format!("{}.away", l.url);
        std::fs::rename(&l.url, &away).unwrap();
        for uri in [ok, "/condb/get?folder=gain_constants&tag=demo&run=15922", "/condb/tags", "/condb/history?folder=gain_constants&tag=demo"] {
            let r = send(&a, "GET", uri, &[]).await;
            assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "{uri}: {}", r.text());
            assert_eq!(r.headers["retry-after"], "5");
            assert!(r.error().contains("not available"), "{}", r.error());
        }
        std::fs::rename(&away, &l.url).unwrap();
        assert_eq!(send(&a, "GET", ok, &[]).await.status, StatusCode::OK);
    });
}

#[test]
fn condb_on_postgresql_is_503_while_the_server_is_away_and_answers_again_after() {
    let Some(l) = loaded("condb_pg").into_iter().find(|l| l.label == "postgres") else {
        return;
    };
    let (host, port) = (std::env::var("GM2DQC_TEST_PG_HOST").unwrap(), std::env::var("GM2DQC_TEST_PG_PORT").unwrap());
    let proxy = Proxy::start(PathBuf::from(format!("{host}/.s.PGSQL.{port}")));
    let via = l.url.replace(&format!("host={host}&port={port}"), &format!("host=127.0.0.1&port={}", proxy.port));
    assert_ne!(via, l.url);
    let a = app(&via, true);
    let ok = "/condb/get?folder=subrun_status&tag=demo-b&run=15922&format=json";
    rt().block_on(async {
        let before = send(&a, "GET", ok, &[]).await;
        assert_eq!(before.status, StatusCode::OK, "{}", before.text());
        proxy.cut();
        let r = send(&a, "GET", ok, &[]).await;
        assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "{}", r.text());
        assert_eq!(r.headers["retry-after"], "5");
        proxy.restore();
        let after = send(&a, "GET", ok, &[]).await;
        assert_eq!(after.status, StatusCode::OK, "{}", after.text());
        assert_eq!(after.body, before.body);
    });
}

#[test]
fn serve_condb_only_serves_the_conditions_and_nothing_else() {
    let l = loaded("condb_only").remove(0);
    let only = ServeProcess::start_with(&l.url, &["--condb-only"]);
    let (st, body) = http(&only.addr, "GET", "/condb/tags", &[], "");
    assert_eq!(st, 200, "{body}");
    let (_, out, _) = gm2dqc(&["db", "--db", &l.url, "tags", "--json"]);
    assert_eq!(body, out);
    let (st, body) = http(&only.addr, "GET", "/condb/get?folder=subrun_metrics&tag=demo&run=15921&subrun=3", &[], "");
    assert_eq!(st, 200, "{body}");
    let (_, out, _) = gm2dqc(&["db", "--db", &l.url, "get", "subrun_metrics", "--tag", "demo", "--run", "15921", "--subrun", "3"]);
    assert_eq!(body, out);
    for page in ["/", "/api/board", "/login", "/datasets/demo", "/cuts"] {
        let (st, body) = http(&only.addr, "GET", page, &[], "");
        assert_eq!(st, 404, "{page}: {body}");
    }
    let (st, _) = http(&only.addr, "POST", "/condb/tags", &[], "");
    assert_eq!(st, 405);
    // The whole application serves /condb too.
    let full = ServeProcess::start_with(&l.url, &[]);
    let (st, body) = http(&full.addr, "GET", "/condb/tags", &[], "");
    assert_eq!(st, 200, "{body}");
    assert_eq!(http(&full.addr, "GET", "/", &[], "").0, 200);
}

/// The JSON a payload value must be in an exported file (the format's rule, written
/// out here: null, numbers, `inf`/`-inf` as strings, booleans, text).
fn value_json(v: &gm2dqc::db::payload::Value) -> Value {
    use gm2dqc::db::payload::Value as V;
    match v {
        V::Null(_) => Value::Null,
        V::Int(i) => (*i).into(),
        V::Real(x) if x.is_infinite() => (if *x > 0.0 { "inf" } else { "-inf" }).into(),
        V::Real(x) => (*x).into(),
        V::Bool(b) => (*b).into(),
        V::Text(s) => s.as_str().into(),
    }
}

fn point_of(v: &Value) -> (u32, u32) {
    (v["run"].as_u64().unwrap() as u32, v["subrun"].as_u64().unwrap() as u32)
}

/// Issue 18 part 4: `gm2dqc export condb` writes one ConDB JSON file per visible
/// interval, and at every point each folder's file holds exactly what `db get`
/// answers there (now and as of an earlier time), including an interval split by a
/// later upload over part of it.
#[test]
fn export_condb_files_hold_what_db_get_answers_at_every_point_on_sqlite_and_postgresql() {
    for l in loaded("condb_export") {
        // A later upload of one folder over subruns 3-5 of run 15921 in the open tag.
        let mut b = db::open(&l.url).unwrap();
        let (_, p) = db::get(b.as_mut(), "demo-b", "kicker_dqc", (15921, 0), None).unwrap().unwrap();
        let mut changed = p.clone();
        let real = changed.folder.columns.iter().position(|(_, t)| *t == gm2dqc::db::schema::ColType::Real).unwrap();
        changed.rows[0][real] = gm2dqc::db::payload::Value::Real(123.5);
        let split = db::Iov { first: (15921, 3), end: Some((15921, 6)) };
        db::upload(b.as_mut(), "demo-b", &[(split, changed)], &crate::db::prov("patch")).unwrap();
        let before_patch = db::history(b.as_mut(), "demo-b", "kicker_dqc").unwrap().iter().map(|r| r.inserted_at_us).max().unwrap() - 1;
        for (tag, as_of) in [("demo", None), ("demo-b", None), ("demo-b", Some(before_patch))] {
            let dir = TempDir::new("condb-export");
            let out = dir.0.join("files");
            let mut args = vec!["export".to_string(), "condb".into(), "--db".into(), l.url.clone(), "--tag".into(), tag.into(), "--out".into(), out.display().to_string()];
            if let Some(t) = as_of {
                args.extend(["--as-of".into(), time::format_us(t)]);
            }
            let (code, o, e) = gm2dqc(&args.iter().map(String::as_str).collect::<Vec<_>>());
            let ctx = format!("{}: {tag} as of {as_of:?}", l.label);
            assert_eq!(code, 0, "{ctx}: {o}{e}");
            let mut files: Vec<((u32, u32), Option<(u32, u32)>, Value)> = Vec::new();
            for entry in std::fs::read_dir(&out).unwrap() {
                let path = entry.unwrap().path();
                let v: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
                assert_eq!(v["format"], "gm2dqc-condb-1", "{ctx}");
                assert_eq!(v["tag"], tag, "{ctx}");
                let iov = &v["interval_of_validity"];
                let (first, end) = (point_of(&iov["first"]), (!iov["end"].is_null()).then(|| point_of(&iov["end"])));
                let name = match end {
                    Some(e) => format!("iov_{}.{}-{}.{}.json", first.0, first.1, e.0, e.1),
                    None => format!("iov_{}.{}-open.json", first.0, first.1),
                };
                assert_eq!(path.file_name().unwrap().to_str().unwrap(), name, "{ctx}");
                files.push((first, end, v));
            }
            let split_seen = files.iter().any(|(f, _, _)| *f == (15921, 3));
            assert_eq!(split_seen, tag == "demo-b" && as_of.is_none(), "{ctx}: the patched subruns have their own file exactly when the patch is visible");
            let mut points = 0;
            for run in 15919..15925 {
                for subrun in 0..12 {
                    for f in FOLDERS {
                        let holding: Vec<&Value> = files
                            .iter()
                            .filter(|(first, end, v)| *first <= (run, subrun) && end.is_none_or(|e| (run, subrun) < e) && !v["folders"][f].is_null())
                            .map(|(_, _, v)| &v["folders"][f])
                            .collect();
                        let want = db::get(b.as_mut(), tag, f, (run, subrun), as_of).unwrap();
                        let Some((_, payload)) = want else {
                            assert!(holding.is_empty(), "{ctx}: {f} at {run}.{subrun}: a file, but db get has nothing");
                            continue;
                        };
                        points += 1;
                        assert_eq!(holding.len(), 1, "{ctx}: {f} at {run}.{subrun}: {} files", holding.len());
                        let got = holding[0];
                        assert_eq!(got["payload_sha256"], payload.hash(), "{ctx}: {f} at {run}.{subrun}");
                        let cols: Vec<&str> = payload.folder.columns.iter().map(|(n, _)| n.as_str()).collect();
                        assert_eq!(got["columns"], serde_json::json!(cols), "{ctx}: {f}");
                        let rows: Vec<Vec<Value>> = payload.rows.iter().map(|r| r.iter().map(value_json).collect()).collect();
                        assert_eq!(got["values"], serde_json::json!(rows), "{ctx}: {f} at {run}.{subrun}: the values");
                    }
                }
            }
            // The demo's two runs, every subrun point of the grid, every folder.
            assert_eq!(points, 2 * 12 * FOLDERS.len(), "{ctx}: points with constants");
            // Exported again into the same directory: refused, nothing mixed.
            let (code, _, e) = gm2dqc(&args.iter().map(String::as_str).collect::<Vec<_>>());
            assert_eq!(code, 2, "{ctx}: {e}");
            assert!(e.contains("is not empty"), "{ctx}: {e}");
        }
        // An unknown tag: exit 2, its message said once (an error wrapping a database
        // error printed it twice).
        let dir = TempDir::new("condb-export-bad");
        let (code, _, e) = gm2dqc(&["export", "condb", "--db", &l.url, "--tag", "nope", "--out", dir.0.join("x").to_str().unwrap()]);
        assert_eq!(code, 2, "{e}");
        assert_eq!(e.matches("no tag `nope`").count(), 1, "{e}");
        assert!(!dir.0.join("x").exists(), "nothing written for a refused export");
    }
}

/// Issue 18 part 5: the views `current_<folder>` answer a plain `SELECT ... WHERE tag
/// = T AND run = R [AND subrun = S]` with what `db get` gives there, on both databases,
/// including a subrun superseded by a later upload; `current_subrun_status` has the
/// standard flags as boolean columns, equal to the stored flags.
#[test]
fn the_current_views_give_what_db_get_gives_on_sqlite_and_postgresql() {
    use gm2dqc::db::payload::{Payload, Value as V};
    use gm2dqc::db::schema::{self, ColType};
    for l in loaded("condb_views") {
        let mut b = db::open(&l.url).unwrap();
        // A later upload of subrun 15921.3's status alone, with another verdict.
        let (_, p) = db::get(b.as_mut(), "demo-b", "subrun_status", (15921, 3), None).unwrap().unwrap();
        let col = |n: &str| p.folder.columns.iter().position(|(c, _)| c == n).unwrap();
        let mut row = p.rows.iter().find(|r| r[col("subrun")] == V::Int(3)).unwrap().clone();
        row[col("ok")] = V::Bool(false);
        row[col("reasons")] = V::Text("patched by hand".into());
        let patch = Payload { folder: p.folder.clone(), rows: vec![row] };
        db::upload(b.as_mut(), "demo-b", &[(db::Iov { first: (15921, 3), end: Some((15921, 4)) }, patch)], &crate::db::prov("patch")).unwrap();
        let mut checked = 0;
        for tag in TAGS {
            for f in FOLDERS {
                let folder = schema::folder(f).unwrap();
                let has = |c: &str| folder.columns.iter().any(|(n, _)| n == c);
                let names: Vec<String> = folder.columns.iter().map(|(n, _)| format!("\"{n}\"")).collect();
                // Counts are integers in the views (migration 8), floats in the payloads.
                let counts = gm2dqc::tables::count_columns(f);
                let is_count: Vec<bool> = folder.columns.iter().map(|(c, _)| counts.contains(&c.as_str())).collect();
                let types: Vec<ColType> = folder.columns.iter().zip(&is_count).map(|((_, t), &n)| if n { ColType::Int } else { *t }).collect();
                let subruns: Vec<Option<u32>> = if has("subrun") { (0..12).map(Some).collect() } else { vec![None] };
                for run in 15919..15925u32 {
                    for &subrun in &subruns {
                        let mut sql = format!("SELECT {} FROM {} WHERE tag = $1 AND run = $2", names.join(", "), schema::view_name(f));
                        let mut params = vec![db::payload::Value::Text(tag.into()), V::Int(run.into())];
                        if let Some(s) = subrun {
                            sql.push_str(" AND subrun = $3");
                            params.push(V::Int(s.into()));
                        }
                        let mut got = {
                            let mut tx = b.begin(false).unwrap();
                            tx.query(&sql, &params, &types).unwrap()
                        };
                        let mut want: Vec<Vec<V>> = match db::get(b.as_mut(), tag, f, (run, subrun.unwrap_or(0)), None).unwrap() {
                            None => Vec::new(),
                            Some((_, p)) => p.rows.into_iter().filter(|r| subrun.is_none_or(|s| r[folder.columns.iter().position(|(c, _)| c == "subrun").unwrap()] == V::Int(s.into()))).collect(),
                        };
                        for r in &mut want {
                            for (v, _) in r.iter_mut().zip(&is_count).filter(|(_, n)| **n) {
                                *v = match *v {
                                    V::Real(x) if x.fract() == 0.0 => V::Int(x as i64),
                                    V::Null(_) => V::Null(ColType::Int),
                                    ref other => panic!("{f}: a count that is not a whole number: {other:?}"),
                                };
                            }
                        }
                        let key = |r: &Vec<V>| format!("{r:?}");
                        got.sort_by_key(key);
                        want.sort_by_key(key);
                        assert_eq!(got, want, "{}: {f} in {tag} at {run}.{subrun:?}", l.label);
                        checked += got.len();
                    }
                }
            }
            // The flags as columns, equal to the stored JSON.
            let flags: Vec<String> = schema::VIEW_FLAGS.iter().map(|f| format!("\"{f}\"")).collect();
            let mut types = vec![ColType::Text];
            types.extend(std::iter::repeat_n(ColType::Bool, flags.len()));
            let rows = {
                let mut tx = b.begin(false).unwrap();
                tx.query(&format!("SELECT flags_json, {} FROM current_subrun_status WHERE tag = $1", flags.join(", ")), &[V::Text(tag.into())], &types).unwrap()
            };
            assert_eq!(rows.len(), 16, "{}: the demo's 16 subruns", l.label);
            for r in &rows {
                let stored: Value = serde_json::from_str(r[0].as_str().unwrap()).unwrap();
                for (k, f) in schema::VIEW_FLAGS.iter().enumerate() {
                    assert_eq!(r[k + 1], V::Bool(stored[f].as_bool().unwrap()), "{}: {f} of {stored}", l.label);
                }
            }
        }
        let patched = {
            let mut tx = b.begin(false).unwrap();
            tx.query("SELECT ok, reasons FROM current_subrun_status WHERE tag = $1 AND run = $2 AND subrun = $3", &[V::Text("demo-b".into()), V::Int(15921), V::Int(3)], &[ColType::Bool, ColType::Text]).unwrap()
        };
        assert_eq!(patched, [vec![V::Bool(false), V::Text("patched by hand".into())]], "{}: the later upload wins", l.label);
        assert!(checked > 2 * 2 * 1296, "{}: {checked} rows compared", l.label);
    }
}

/// Migration 8: `current_subrun_metrics` has UTC timestamps beside the seconds (to the
/// microsecond: ISO 8601 text in SQLite, `timestamptz` in PostgreSQL), and
/// `column_units` gives every quantity of every folder its unit, as `tables::unit` does.
#[test]
fn the_views_have_timestamps_and_the_database_its_units() {
    use gm2dqc::db::payload::Value as V;
    use gm2dqc::db::schema::{self, ColType};
    for l in loaded("condb_stamps") {
        let mut b = db::open(&l.url).unwrap();
        let mut tx = b.begin(false).unwrap();
        let sql = match l.label.as_str() {
            "sqlite" => "SELECT start_time, end_time, start_utc, end_utc FROM current_subrun_metrics WHERE tag = $1",
            _ => "SELECT start_time, end_time, to_char(start_utc AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'), \
                  to_char(end_utc AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"') FROM current_subrun_metrics WHERE tag = $1",
        };
        let rows = tx.query(sql, &[V::Text("demo".into())], &[ColType::Real, ColType::Real, ColType::Text, ColType::Text]).unwrap();
        assert_eq!(rows.len(), 16, "{}", l.label);
        for r in &rows {
            for (secs, stamp) in [(&r[0], &r[2]), (&r[1], &r[3])] {
                let V::Real(x) = *secs else { panic!("{}: time {secs:?}", l.label) };
                // The demo's times start at 2021-03-29T06:40:00Z; the ends are
                // twelfths of a second (rounded to the microsecond here).
                assert!(x >= 1.617e9, "{}: {x}", l.label);
                let want = gm2dqc::db::time::format_us((x * 1e6).round() as i64);
                assert_eq!(stamp, &V::Text(want), "{}: {x}", l.label);
            }
        }
        let units = tx.query("SELECT folder, column_name, unit FROM column_units ORDER BY folder, column_name", &[], &[ColType::Text; 3]).unwrap();
        let mut want: Vec<Vec<V>> = schema::folders()
            .iter()
            .flat_map(|f| f.columns.iter().filter_map(|(c, _)| gm2dqc::tables::unit(f.name, c).map(|u| vec![V::Text(f.name.into()), V::Text(c.clone()), V::Text(u.into())])))
            .collect();
        want.sort_by_key(|r| format!("{r:?}"));
        let mut got = units;
        got.sort_by_key(|r| format!("{r:?}"));
        assert_eq!(got, want, "{}", l.label);
        assert!(got.contains(&vec![V::Text("gain_constants".into()), V::Text("ifg_tau_us".into()), V::Text("us".into())]), "{}", l.label);
    }
}

/// The standard cut file's flags are the view's columns (a new standard flag needs a
/// migration that adds its column).
#[test]
fn the_view_flags_are_the_standard_flags() {
    assert_eq!(gm2dqc::cuts::standard().flags, gm2dqc::db::schema::VIEW_FLAGS);
}
