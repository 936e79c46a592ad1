//! The conditions database, the same tests on SQLite and on a real PostgreSQL.
//!
//! PostgreSQL: `scripts/test.sh` starts a throwaway server (scripts/pg.sh) and sets
//! GM2DQC_TEST_PG_HOST/PORT; each test makes its own database on it. Without those the
//! PostgreSQL half is skipped with a message, except when CI=true, where it fails:
//! the database tests never pass silently.

use std::sync::atomic::{AtomicUsize, Ordering};

use gm2dqc::db::payload::{Payload, Value};
use gm2dqc::db::schema::{self, ColType};
use gm2dqc::db::{self, Backend, DbError, InputFile, Iov, Provenance};
use polars::prelude::*;

use crate::common::TempDir;

/// A fresh empty database of each backend: (label, URL, scratch dir kept alive).
pub(crate) fn databases(tag: &str) -> Vec<(String, String, TempDir)> {
    static N: AtomicUsize = AtomicUsize::new(0);
    let dir = TempDir::new(&format!("db-{tag}"));
    let mut out = vec![("sqlite".to_string(), dir.0.join("conditions.sqlite").display().to_string(), dir)];
    match (std::env::var("GM2DQC_TEST_PG_HOST"), std::env::var("GM2DQC_TEST_PG_PORT")) {
        (Ok(host), Ok(port)) => {
            let name = format!("t_{}_{}_{}", tag, std::process::id(), N.fetch_add(1, Ordering::SeqCst));
            let admin = format!("postgresql:///postgres?host={host}&port={port}&user=postgres");
            let mut c = postgres::Client::connect(&admin, postgres::NoTls).expect("the test PostgreSQL server answers");
            c.batch_execute(&format!("CREATE DATABASE {name}")).unwrap();
            out.push(("postgres".to_string(), format!("postgresql:///{name}?host={host}&port={port}&user=postgres"), TempDir::new("db-pg-unused")));
        }
        _ => {
            assert!(std::env::var("CI").as_deref() != Ok("true"), "CI=true but no PostgreSQL test server: scripts/test.sh starts one (GM2DQC_TEST_PG_HOST/PORT)");
            eprintln!("db tests: PostgreSQL half skipped (GM2DQC_TEST_PG_HOST unset; scripts/test.sh starts a server)");
        }
    }
    out
}

/// A gain_constants payload whose values depend on `seed`.
pub(crate) fn gain_payload(seed: f64) -> Payload {
    let folder = schema::folder("gain_constants").unwrap();
    let n = 1296;
    let mut cols: Vec<Column> = Vec::new();
    for (name, t) in &folder.columns {
        let c = match t {
            ColType::Int => Column::new(name.as_str().into(), (0..n).map(|i| i as i64).collect::<Vec<i64>>()),
            ColType::Real => Column::new(name.as_str().into(), (0..n).map(|i| if i == 7 { None } else { Some(seed + i as f64 * 1e-3) }).collect::<Vec<Option<f64>>>()),
            ColType::Bool => Column::new(name.as_str().into(), (0..n).map(|i| i % 2 == 0).collect::<Vec<bool>>()),
            ColType::Text => Column::new(name.as_str().into(), (0..n).map(|i| format!("ok {seed} {i}")).collect::<Vec<String>>()),
        };
        cols.push(c);
    }
    Payload::from_frame(&folder, &DataFrame::new_infer_height(cols).unwrap()).unwrap()
}

pub(crate) fn prov(dataset: &str) -> Provenance {
    let mut p = Provenance::here(dataset, Some("c0ffee".into()), vec![InputFile { path: "/data/gm2_15921.00001.root".into(), size: 4_000_000, sha256: "ab".repeat(32) }]);
    p.user = "shifter".into();
    p
}

pub(crate) fn counts(b: &mut dyn Backend) -> std::collections::BTreeMap<String, i64> {
    db::table_counts(b).unwrap()
}

#[test]
fn round_trip_gaps_and_identical_reuploads() {
    for (label, url, _dir) in databases("roundtrip") {
        let mut b = db::open(&url).unwrap();
        let (p1, p2) = (gain_payload(1.0), gain_payload(2.0));
        let items = vec![(Iov::runs(100, 101), p1.clone()), (Iov::runs(105, 105), p2.clone())];
        let r = db::upload(b.as_mut(), "v1", &items, &prov("ds")).unwrap();
        assert_eq!((r.written, r.unchanged, r.new_payloads, r.rows), (2, 0, 2, 2 * 1296), "{label}");
        assert_eq!(r.gaps, [((102, 0), (105, 0))], "{label}");
        let (iov, got) = db::get(b.as_mut(), "v1", "gain_constants", (101, 57), None).unwrap().unwrap();
        assert_eq!((iov, &got), (Iov::runs(100, 101), &p1), "{label}: the payload comes back value for value");
        assert_eq!(got.hash(), p1.hash());
        assert_eq!(db::get(b.as_mut(), "v1", "gain_constants", (105, 0), None).unwrap().unwrap().1, p2, "{label}");
        assert!(db::get(b.as_mut(), "v1", "gain_constants", (103, 0), None).unwrap().is_none(), "{label}: a gap has no constants");
        assert!(db::get(b.as_mut(), "v1", "gain_constants", (106, 0), None).unwrap().is_none(), "{label}: the end is exclusive");
        // The same content again: nothing written, not even provenance.
        let before = counts(b.as_mut());
        let again = db::upload(b.as_mut(), "v1", &items, &prov("ds")).unwrap();
        assert_eq!((again.upload_id, again.written, again.unchanged), (None, 0, 2), "{label}");
        assert_eq!(counts(b.as_mut()), before, "{label}");
        // The same payload in another tag: a new interval, no new payload rows.
        let other = db::upload(b.as_mut(), "v2", &items[..1], &prov("ds")).unwrap();
        assert_eq!((other.written, other.new_payloads, other.rows), (1, 0, 0), "{label}");
        let inputs = db::upload_inputs(b.as_mut(), r.upload_id.unwrap()).unwrap();
        assert_eq!(inputs, prov("ds").inputs, "{label}");
    }
}

#[test]
fn supersession_keeps_the_old_constants_readable_as_of_their_time() {
    for (label, url, _dir) in databases("asof") {
        let mut b = db::open(&url).unwrap();
        let (old, new) = (gain_payload(1.0), gain_payload(3.0));
        db::upload(b.as_mut(), "t", &[(Iov::runs(10, 19), old.clone())], &prov("first pass")).unwrap();
        let t_old = db::history(b.as_mut(), "t", "gain_constants").unwrap()[0].inserted_at_us;
        db::upload(b.as_mut(), "t", &[(Iov::runs(15, 16), new.clone())], &prov("reprocessing")).unwrap();
        let at = |b: &mut Box<dyn Backend>, run, as_of| db::get(b.as_mut(), "t", "gain_constants", (run, 0), as_of).unwrap().unwrap().1;
        assert_eq!(at(&mut b, 12, None), old, "{label}: outside the new interval the old one is current");
        assert_eq!(at(&mut b, 15, None), new, "{label}");
        assert_eq!(at(&mut b, 16, None), new, "{label}");
        assert_eq!(at(&mut b, 17, None), old, "{label}");
        assert_eq!(at(&mut b, 15, Some(t_old)), old, "{label}: as of the first upload");
        assert!(db::get(b.as_mut(), "t", "gain_constants", (15, 0), Some(t_old - 1)).unwrap().is_none(), "{label}: before anything");
        let h = db::history(b.as_mut(), "t", "gain_constants").unwrap();
        assert_eq!(h.len(), 2, "{label}");
        assert!(h[1].inserted_at_us > h[0].inserted_at_us);
        assert_eq!((h[0].dataset.as_str(), h[1].dataset.as_str()), ("first pass", "reprocessing"));
        // Uploading the old content over 10-19 again supersedes the new one again.
        let r = db::upload(b.as_mut(), "t", &[(Iov::runs(10, 19), old.clone())], &prov("back")).unwrap();
        assert_eq!((r.written, r.new_payloads), (1, 0), "{label}: the old interval is not current at 15-16, so it is written");
        assert_eq!(at(&mut b, 15, None), old, "{label}");
    }
}

#[test]
fn locked_tags_and_history_are_enforced_by_the_database() {
    for (label, url, _dir) in databases("lock") {
        let mut b = db::open(&url).unwrap();
        db::upload(b.as_mut(), "gold", &[(Iov::runs(1, 1), gain_payload(1.0))], &prov("ds")).unwrap();
        assert!(db::lock_tag(b.as_mut(), "gold").unwrap());
        assert!(!db::lock_tag(b.as_mut(), "gold").unwrap(), "locking twice is fine");
        let before = counts(b.as_mut());
        let e = db::upload(b.as_mut(), "gold", &[(Iov::runs(2, 2), gain_payload(2.0))], &prov("ds")).unwrap_err();
        assert!(matches!(e, DbError::TagLocked(ref t) if t == "gold"), "{label}: {e}");
        assert_eq!(counts(b.as_mut()), before, "{label}: nothing written");
        let t = db::tags(b.as_mut()).unwrap();
        assert_eq!((t[0].name.as_str(), t[0].locked, t[0].iovs), ("gold", true, 1));
        // Even raw SQL cannot unlock a tag, insert into it, or rewrite history.
        for sql in [
            "UPDATE tags SET locked = $1 WHERE name = 'gold'",
            "INSERT INTO iovs (tag, folder, first_run, first_subrun, payload_hash, upload_id, inserted_at_us) SELECT tag, folder, 5, 0, payload_hash, upload_id, 1 FROM iovs WHERE $1 = $1",
            "DELETE FROM iovs WHERE $1 = $1",
            "UPDATE f_gain_constants SET gain = 2 WHERE $1 = $1",
            "DELETE FROM payloads WHERE $1 = $1",
        ] {
            let mut tx = b.begin(true).unwrap();
            let param = if sql.starts_with("UPDATE tags") { Value::Bool(false) } else { Value::Int(1) };
            assert!(tx.exec(sql, &[param]).is_err(), "{label}: {sql} must be refused");
        }
        assert_eq!(counts(b.as_mut()), before, "{label}");
    }
}

#[test]
fn sql_in_names_is_only_data() {
    for (label, url, _dir) in databases("inject") {
        let mut b = db::open(&url).unwrap();
        let evil = "x'); DROP TABLE iovs; --";
        let mut p = prov("ds\"; DELETE FROM tags; --");
        p.inputs[0].path = "/data/it's; DROP TABLE payloads;.root".into();
        let r = db::upload(b.as_mut(), evil, &[(Iov::runs(1, 1), gain_payload(1.0))], &p).unwrap();
        let t = db::tags(b.as_mut()).unwrap();
        assert_eq!(t[0].name, evil, "{label}");
        assert!(db::get(b.as_mut(), evil, "gain_constants", (1, 0), None).unwrap().is_some());
        let h = db::history(b.as_mut(), evil, "gain_constants").unwrap();
        assert_eq!(h[0].dataset, "ds\"; DELETE FROM tags; --");
        assert_eq!(db::upload_inputs(b.as_mut(), r.upload_id.unwrap()).unwrap()[0].path, p.inputs[0].path);
        assert!(matches!(db::get(b.as_mut(), evil, "gain_constants; DROP TABLE tags", (1, 0), None), Err(DbError::NoFolder { .. })));
        assert_eq!(counts(b.as_mut())["iovs"], 1, "{label}");
    }
}

#[test]
fn an_upload_with_overlapping_intervals_writes_nothing() {
    for (label, url, _dir) in databases("overlap") {
        let mut b = db::open(&url).unwrap();
        let before = counts(b.as_mut());
        let e = db::upload(b.as_mut(), "t", &[(Iov::runs(1, 5), gain_payload(1.0)), (Iov::runs(5, 6), gain_payload(2.0))], &prov("ds")).unwrap_err();
        assert!(matches!(e, DbError::Overlap { .. }), "{label}: {e}");
        assert_eq!(counts(b.as_mut()), before, "{label}");
    }
}

#[test]
fn concurrent_writers_to_one_tag_leave_no_duplicates() {
    for (label, url, _dir) in databases("concurrent") {
        db::open(&url).unwrap();
        // 8 writers at once: each uploads its own interval and one shared interval with
        // identical content; every upload succeeds, the shared one is written once.
        std::thread::scope(|s| {
            for k in 0..8u32 {
                let url = url.clone();
                s.spawn(move || {
                    let mut b = db::open(&url).unwrap();
                    let items = vec![(Iov::runs(1, 1), gain_payload(0.5)), (Iov::runs(10 + k, 10 + k), gain_payload(k as f64))];
                    db::upload(b.as_mut(), "busy", &items, &prov("ds")).unwrap();
                });
            }
        });
        let mut b = db::open(&url).unwrap();
        let c = counts(b.as_mut());
        assert_eq!(c["iovs"], 9, "{label}: 8 own intervals and the shared one once");
        assert_eq!(c["payloads"], 9, "{label}");
        assert_eq!(c["f_gain_constants"], 9 * 1296, "{label}");
        let h = db::history(b.as_mut(), "busy", "gain_constants").unwrap();
        let mut times: Vec<i64> = h.iter().map(|r| r.inserted_at_us).collect();
        times.dedup();
        assert!(times.windows(2).all(|w| w[0] < w[1]), "{label}: insertion times strictly increase");
    }
}

/// The PostgreSQL server of the test script, if any: (host dir, port, data dir).
fn pg_server() -> Option<(String, String)> {
    Some((std::env::var("GM2DQC_TEST_PG_HOST").ok()?, std::env::var("GM2DQC_TEST_PG_PORT").ok()?))
}

/// Starts an upload of `iov` to tag `t` that stops mid-transaction: another connection
/// holds the tag's row lock (released by dropping or rolling back the returned client).
fn upload_blocked_on_the_tag_lock(url: &str, iov: Iov, seed: f64) -> (postgres::Client, std::thread::JoinHandle<Result<db::UploadReport, DbError>>) {
    let mut holder = postgres::Client::connect(url, postgres::NoTls).unwrap();
    holder.batch_execute("BEGIN; SELECT 1 FROM tags WHERE name = 't' FOR UPDATE").unwrap();
    let url = url.to_string();
    let uploader = std::thread::spawn(move || {
        let mut b = db::open(&url).unwrap();
        db::upload(b.as_mut(), "t", &[(iov, gain_payload(seed))], &prov("ds"))
    });
    (holder, uploader)
}

#[test]
fn a_connection_killed_mid_upload_leaves_nothing_and_a_retry_succeeds() {
    let Some((host, port)) = pg_server() else {
        assert!(std::env::var("CI").as_deref() != Ok("true"), "CI=true but no PostgreSQL test server");
        eprintln!("skipped: no PostgreSQL test server");
        return;
    };
    let (_, url, _dir) = databases("kill").pop().unwrap();
    let mut b = db::open(&url).unwrap();
    db::create_tag(b.as_mut(), "t", "").unwrap();
    let before = counts(b.as_mut());
    // The upload waits mid-transaction on the tag lock; then its connection is killed.
    let (mut holder, uploader) = upload_blocked_on_the_tag_lock(&url, Iov::runs(1, 1), 1.0);
    let admin = format!("postgresql:///postgres?host={host}&port={port}&user=postgres");
    let mut a = postgres::Client::connect(&admin, postgres::NoTls).unwrap();
    let dbname = url.split("///").nth(1).unwrap().split('?').next().unwrap().to_string();
    let mut killed = 0;
    for _ in 0..200 {
        let rows = a
            .query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()", &[&dbname])
            .unwrap();
        killed = rows.len();
        if killed > 0 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert_eq!(killed, 1, "the upload was waiting on the tag lock");
    let e = uploader.join().unwrap().unwrap_err();
    assert!(e.to_string().contains("terminat") || e.to_string().contains("connection"), "a clear error: {e}");
    holder.batch_execute("ROLLBACK").unwrap();
    assert_eq!(counts(b.as_mut()), before, "nothing of the killed upload remains");
    let r = db::upload(b.as_mut(), "t", &[(Iov::runs(1, 1), gain_payload(1.0))], &prov("ds")).unwrap();
    assert_eq!((r.written, r.rows), (1, 1296), "the retry succeeds");
}

#[test]
fn eight_processes_uploading_one_analysis_write_it_once() {
    let dir = TempDir::new("db-processes");
    let bin = env!("CARGO_BIN_EXE_gm2dqc");
    let run = |args: &[&str]| {
        let o = std::process::Command::new(bin).args(args).output().unwrap();
        (o.status.code(), String::from_utf8_lossy(&o.stdout).into_owned() + &String::from_utf8_lossy(&o.stderr))
    };
    let (sim, out) = (dir.0.join("sim"), dir.0.join("out"));
    let (s, o) = (sim.to_str().unwrap(), out.to_str().unwrap());
    assert_eq!(run(&["simulate", "--out", s, "--runs", "2", "--subruns", "2", "--seed", "5"]).0, Some(0));
    let (code, text) = run(&["analyze", "--input", s, "--out", o]);
    assert_eq!(code, Some(0), "{text}");
    for (label, url, _d) in databases("procs") {
        // Started together, running at once.
        let spawned: Vec<_> = (0..8)
            .map(|_| {
                std::process::Command::new(bin)
                    .args(["db", "--db", &url, "upload", "--from", o, "--tag", "run2"])
                    .stdout(std::process::Stdio::piped())
                    .stderr(std::process::Stdio::piped())
                    .spawn()
                    .unwrap()
            })
            .collect();
        let children: Vec<_> = spawned.into_iter().map(|c| c.wait_with_output().unwrap()).collect();
        let mut written = 0;
        for c in &children {
            let text = String::from_utf8_lossy(&c.stdout).into_owned() + &String::from_utf8_lossy(&c.stderr);
            assert_eq!(c.status.code(), Some(0), "{label}: {text}");
            written += text.matches("intervals written").count();
        }
        let mut b = db::open(&url).unwrap();
        let c = counts(b.as_mut());
        // Five folders; two intervals (runs) each: ten intervals in all, written once.
        assert_eq!(c["iovs"], 10, "{label}");
        assert_eq!(written, 5, "{label}: each folder written by exactly one process");
        assert_eq!(c["f_gain_constants"], 2 * 1296, "{label}");
        assert_eq!(c["f_subrun_metrics"], 4, "{label}");
        let (code, csv) = run(&["db", "--db", &url, "get", "gain_constants", "--tag", "run2", "--run", "15922", "--format", "csv"]);
        assert_eq!(code, Some(0), "{label}: {csv}");
        assert_eq!(csv.lines().filter(|l| l.starts_with("15922,15922,")).count(), 1296, "{label}");
        let (code, st) = run(&["db", "--db", &url, "get", "subrun_status", "--tag", "run2", "--run", "15921", "--subrun", "2", "--format", "json"]);
        assert_eq!(code, Some(0), "{label}: {st}");
        assert!(st.contains("\"flags_json\"") && st.contains("\"subrun\": 2"), "{label}: {st}");
    }
}

#[test]
fn a_server_stopped_mid_upload_fails_it_clearly_and_writes_nothing() {
    if pg_server().is_none() {
        assert!(std::env::var("CI").as_deref() != Ok("true"), "CI=true but no PostgreSQL test server");
        eprintln!("skipped: no PostgreSQL test server");
        return;
    }
    // A server of its own: stopping the shared one would disturb the other tests.
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/pg.sh");
    let out = std::process::Command::new("bash").arg(&script).arg("start").env("GM2DQC_TEST_PG_PORT", "54371").output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let env = String::from_utf8_lossy(&out.stdout).into_owned();
    let field = |k: &str| env.split_whitespace().find_map(|w| w.strip_prefix(&format!("{k}="))).unwrap().to_string();
    let (host, dir) = (field("GM2DQC_TEST_PG_HOST"), field("GM2DQC_TEST_PG_DIR"));
    struct Stop(std::path::PathBuf, String);
    impl Drop for Stop {
        fn drop(&mut self) {
            let _ = std::process::Command::new("bash").arg(&self.0).args(["stop", &self.1]).status();
        }
    }
    let _stop = Stop(script.clone(), dir.clone());
    let url = format!("postgresql:///postgres?host={host}&port=54371&user=postgres");
    let pg = |cmd: &str| assert!(std::process::Command::new("bash").arg(&script).args([cmd, &dir]).status().unwrap().success());
    let mut b = db::open(&url).unwrap();
    db::upload(b.as_mut(), "t", &[(Iov::runs(1, 1), gain_payload(1.0))], &prov("ds")).unwrap();
    let before = counts(b.as_mut());
    // The upload waits on the tag lock when the server goes down.
    let (_holder, uploader) = upload_blocked_on_the_tag_lock(&url, Iov::runs(2, 2), 2.0);
    std::thread::sleep(std::time::Duration::from_millis(500));
    pg("pause");
    let e = uploader.join().unwrap().unwrap_err();
    assert!(matches!(e, DbError::Backend(_)), "{e}");
    eprintln!("the upload failed with: {e}");
    // The connection of the old process is gone too: a clear error, no hang.
    assert!(db::tags(b.as_mut()).is_err());
    pg("resume");
    let mut b = db::open(&url).unwrap();
    assert_eq!(counts(b.as_mut()), before, "nothing of the interrupted upload");
    let r = db::upload(b.as_mut(), "t", &[(Iov::runs(2, 2), gain_payload(2.0))], &prov("ds")).unwrap();
    assert_eq!(r.written, 1, "the retry succeeds");
}

#[test]
fn reader_and_writer_roles_on_postgres() {
    let Some(_) = pg_server() else {
        assert!(std::env::var("CI").as_deref() != Ok("true"), "CI=true but no PostgreSQL test server");
        eprintln!("skipped: no PostgreSQL test server");
        return;
    };
    let (_, url, _dir) = databases("roles").pop().unwrap();
    let mut owner = db::open(&url).unwrap();
    {
        let mut tx = owner.begin(true).unwrap();
        tx.exec(&schema::roles_sql(), &[]).unwrap();
        let dbname = url.split("///").nth(1).unwrap().split('?').next().unwrap().to_string();
        tx.exec(&format!("DROP ROLE IF EXISTS r_{dbname}; CREATE ROLE r_{dbname} LOGIN IN ROLE gm2dqc_reader; DROP ROLE IF EXISTS w_{dbname}; CREATE ROLE w_{dbname} LOGIN IN ROLE gm2dqc_writer"), &[]).unwrap();
        tx.commit().unwrap();
    }
    db::upload(owner.as_mut(), "t", &[(Iov::runs(1, 1), gain_payload(1.0))], &prov("ds")).unwrap();
    let dbname = url.split("///").nth(1).unwrap().split('?').next().unwrap().to_string();
    let as_user = |role: &str| url.replace("user=postgres", &format!("user={role}_{dbname}"));
    // The reader reads and cannot write.
    let mut reader = db::open(&as_user("r")).unwrap();
    assert!(db::get(reader.as_mut(), "t", "gain_constants", (1, 0), None).unwrap().is_some());
    let e = db::upload(reader.as_mut(), "t", &[(Iov::runs(2, 2), gain_payload(2.0))], &prov("ds")).unwrap_err();
    assert!(e.to_string().contains("permission denied"), "{e}");
    assert!(db::lock_tag(reader.as_mut(), "t").is_err());
    // The writer uploads and locks, but cannot unlock, rewrite or delete.
    let mut writer = db::open(&as_user("w")).unwrap();
    db::upload(writer.as_mut(), "t", &[(Iov::runs(2, 2), gain_payload(2.0))], &prov("ds")).unwrap();
    db::lock_tag(writer.as_mut(), "t").unwrap();
    assert!(matches!(db::upload(writer.as_mut(), "t", &[(Iov::runs(3, 3), gain_payload(3.0))], &prov("ds")), Err(DbError::TagLocked(_))));
    for sql in ["UPDATE tags SET locked = $1", "DELETE FROM iovs WHERE $1", "UPDATE f_gain_constants SET gain = 0 WHERE $1"] {
        let mut tx = writer.begin(true).unwrap();
        let p = if sql.starts_with("UPDATE tags") { Value::Bool(false) } else { Value::Bool(true) };
        assert!(tx.exec(sql, &[p]).is_err(), "the writer must not: {sql}");
    }
    assert_eq!(counts(owner.as_mut())["iovs"], 2);
}

#[test]
fn the_bookkeeping_board_is_shared_and_append_only() {
    use gm2dqc::db::board::{self, Layout, SetRequest, State};
    let layout = Layout::gm2dqc();
    let set = |b: &mut dyn Backend, ds: &str, st: &str, state: State, note: &str| board::set(b, &layout, &SetRequest::new(ds, layout.target(st)?, state, note).new_dataset());
    for (label, url, _dir) in databases("board") {
        let mut a = db::open(&url).unwrap();
        let mut b = db::open(&url).unwrap(); // a second shifter
        set(a.as_mut(), "run3B", "metrics", State::InProgress, "").unwrap();
        set(b.as_mut(), "run3B", "metrics", State::Done, "").unwrap();
        set(b.as_mut(), "run3B", "gain", State::Held, "laser run missing").unwrap();
        set(a.as_mut(), "60h", "scan", State::Skipped, "").unwrap();
        assert!(set(a.as_mut(), "60h", "coffee", State::Done, "").is_err(), "{label}: unknown stage");
        let rows = board::board(a.as_mut(), &layout).unwrap();
        assert_eq!(rows.iter().map(|r| r.dataset.as_str()).collect::<Vec<_>>(), ["60h", "run3B"], "{label}");
        let cell = |d: usize, st: &str| rows[d].cells.iter().find(|c| c.column == st).unwrap().clone();
        assert_eq!(cell(1, "metrics").state, State::Done, "{label}: the latest entry wins");
        assert_eq!((cell(1, "gain").state, cell(1, "gain").entry.unwrap().note.as_str()), (State::Held, "laser run missing"));
        assert_eq!(cell(1, "plots").state, State::NotStarted, "{label}: nothing recorded is not started");
        assert_eq!(cell(0, "scan").state, State::Skipped);
        let mut tx = a.begin(true).unwrap();
        assert!(tx.exec("DELETE FROM stage_log WHERE $1", &[Value::Bool(true)]).is_err(), "{label}: the log is append-only");
    }
}
