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
        // Nine folders; two intervals (runs) each: 18 intervals in all, written once.
        assert_eq!(c["iovs"], 18, "{label}");
        assert_eq!(written, 9, "{label}: each folder written by exactly one process");
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

/// SHA-256 of `salt` then `token`, as lowercase hex: the stored hash, computed here.
fn salted_sha256(salt: &[u8], token: &str) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    h.update(salt);
    h.update(token.as_bytes());
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
}

/// Every stored row of web_users: (name, role, salt, token_hash, created_by).
fn web_user_rows(b: &mut dyn Backend) -> Vec<Vec<String>> {
    let mut tx = b.begin(false).unwrap();
    let rows = tx.query("SELECT name, role, salt, token_hash, created_by FROM web_users ORDER BY name", &[], &[ColType::Text; 5]).unwrap();
    rows.into_iter().map(|r| r.iter().map(|v| v.as_str().unwrap().to_string()).collect()).collect()
}

#[test]
fn web_users_tokens_authenticate_and_only_salted_hashes_are_stored() {
    use gm2dqc::db::users::{self, Role, User, UserError};
    for (label, url, _dir) in databases("users") {
        let mut b = db::open(&url).unwrap();
        let b = b.as_mut();
        let alice = users::add_user(b, "alice", Role::Shifter, "admin").unwrap();
        let bob = users::add_user(b, "bob", Role::Expert, "admin").unwrap();
        assert!(alice.starts_with("gm2.") && alice != bob, "{label}: {alice}");
        assert_eq!(users::authenticate(b, &alice).unwrap(), Some(User { name: "alice".into(), role: Role::Shifter }), "{label}");
        assert_eq!(users::authenticate(b, &bob).unwrap(), Some(User { name: "bob".into(), role: Role::Expert }), "{label}");
        // Wrong tokens: one character changed, bob's secret under alice's name, garbage.
        let (a_parts, b_parts): (Vec<&str>, Vec<&str>) = (alice.split('.').collect(), bob.split('.').collect());
        let swapped = format!("gm2.{}.{}", a_parts[1], b_parts[2]);
        let mut flipped = alice.clone().into_bytes();
        let last = flipped.len() - 1;
        flipped[last] = if flipped[last] == b'A' { b'B' } else { b'A' };
        let flipped = String::from_utf8(flipped).unwrap();
        for bad in [swapped.as_str(), flipped.as_str(), "", "gm2", "gm2.YWxpY2U.", "Bearer x", &alice[..alice.len() - 1], &format!("{alice}x")] {
            assert_eq!(users::authenticate(b, bad).unwrap(), None, "{label}: {bad:?} must not authenticate");
        }
        // The stored rows: no token text, a 16-byte salt each, SHA-256(salt || token).
        let rows = web_user_rows(b);
        assert_eq!(rows.iter().map(|r| (r[0].as_str(), r[1].as_str(), r[4].as_str())).collect::<Vec<_>>(), [("alice", "shifter", "admin"), ("bob", "expert", "admin")], "{label}");
        for (r, token) in rows.iter().zip([&alice, &bob]) {
            let secret = token.rsplit('.').next().unwrap();
            assert!(r.iter().all(|v| !v.contains(secret) && !v.contains(token.as_str())), "{label}: the token is not stored: {r:?}");
            assert_eq!(r[2].len(), 32, "{label}: 16 bytes of salt as hex");
            assert_eq!(r[3], salted_sha256(&unhex(&r[2]), token), "{label}: token_hash is SHA-256(salt || token)");
        }
        assert_ne!(rows[0][2], rows[1][2], "{label}: each user has a salt of their own");
        // The listing, one user by name (the reverse proxy's header), removal.
        let listed = users::users(b).unwrap();
        assert_eq!(listed.iter().map(|u| (u.name.as_str(), u.role, u.created_by.as_str())).collect::<Vec<_>>(), [("alice", Role::Shifter, "admin"), ("bob", Role::Expert, "admin")], "{label}");
        assert!(listed[0].created_at_us > 0 && listed[0].created_at.ends_with('Z'), "{label}");
        assert_eq!(users::user(b, "bob").unwrap(), Some(User { name: "bob".into(), role: Role::Expert }));
        assert_eq!(users::user(b, "carol").unwrap(), None);
        // An existing name is refused and says how to replace it; bad names refused.
        let e = users::add_user(b, "alice", Role::Expert, "admin").unwrap_err();
        assert!(matches!(e, UserError::Exists(ref n) if n == "alice") && e.to_string().contains("remove the user, then add them again"), "{label}: {e}");
        for bad in ["", "two words", "tab\t", &"x".repeat(65), "(board)"] {
            assert!(matches!(users::add_user(b, bad, Role::Reader, "admin"), Err(UserError::BadName { .. })), "{label}: {bad:?}");
        }
        assert_eq!(users::users(b).unwrap().len(), 2, "{label}: nothing written by the refusals");
        assert!(users::remove_user(b, "alice").unwrap() && !users::remove_user(b, "alice").unwrap(), "{label}");
        assert_eq!(users::authenticate(b, &alice).unwrap(), None, "{label}: a removed user's token is dead");
        // Added again: a new token; the old one still does not work.
        let again = users::add_user(b, "alice", Role::Reader, "bob").unwrap();
        assert_ne!(again, alice);
        assert_eq!(users::authenticate(b, &alice).unwrap(), None, "{label}");
        assert_eq!(users::authenticate(b, &again).unwrap().map(|u| u.role), Some(Role::Reader), "{label}");
    }
}

#[test]
fn the_audit_record_is_append_only_and_read_newest_first() {
    use gm2dqc::db::users::{self, AuditEntry, Role};
    for (label, url, _dir) in databases("audit") {
        let mut b = db::open(&url).unwrap();
        let entry = |action: &str| AuditEntry { user: "alice".into(), role: Role::Shifter, action: action.into(), target: "run3B/plots".into(), detail: "done".into(), remote: "10.0.0.7".into() };
        for a in ["board.set", "cuts.save", "tag.lock"] {
            users::audit(b.as_mut(), &entry(a)).unwrap();
        }
        let log = users::audit_log(b.as_mut(), 10).unwrap();
        assert_eq!(log.iter().map(|r| r.action.as_str()).collect::<Vec<_>>(), ["tag.lock", "cuts.save", "board.set"], "{label}: newest first");
        assert_eq!((log[0].user.as_str(), log[0].role.as_str(), log[0].target.as_str(), log[0].remote.as_str()), ("alice", "shifter", "run3B/plots", "10.0.0.7"));
        assert_eq!(users::audit_log(b.as_mut(), 1).unwrap().len(), 1, "{label}");
        assert!(users::audit(b.as_mut(), &AuditEntry { action: " ".into(), ..entry("x") }).is_err(), "{label}: an action is required");
        let t = if label == "sqlite" { Value::Int(1) } else { Value::Bool(true) };
        for sql in ["UPDATE web_audit SET user_name = 'mallory' WHERE $1", "DELETE FROM web_audit WHERE $1"] {
            let mut tx = b.begin(true).unwrap();
            let e = tx.exec(sql, &[t.clone()]).unwrap_err().to_string();
            assert!(e.contains("append-only"), "{label}: {sql}: {e}");
        }
        let mut tx = b.begin(true).unwrap();
        let e = if label == "sqlite" { tx.exec("REPLACE INTO web_audit (id, at_us, user_name, role, action) SELECT id, at_us, 'mallory', role, action FROM web_audit", &[]) } else { tx.exec("TRUNCATE web_audit", &[]) };
        assert!(e.unwrap_err().to_string().contains("web_audit"), "{label}");
        drop(tx);
        assert_eq!(users::audit_log(b.as_mut(), 10).unwrap(), log, "{label}: unchanged");
    }
}

/// A database at schema version 3 (migrations 1 to 3 only, what gm2dqc before
/// migration 4 left) holding a tag, an upload of one interval and a board entry.
fn make_version_3(label: &str, url: &str) {
    let d = if label == "sqlite" { schema::Dialect::Sqlite } else { schema::Dialect::Postgres };
    let mut sql = vec!["CREATE TABLE schema_migrations (version BIGINT PRIMARY KEY, applied_at_us BIGINT NOT NULL)".to_string()];
    sql.extend(schema::migration_1(d));
    sql.extend(schema::migration_2(d));
    sql.extend(schema::migration_3(d));
    sql.push("INSERT INTO schema_migrations (version, applied_at_us) VALUES (1, 1), (2, 2), (3, 3)".into());
    sql.push("INSERT INTO tags (name, description, created_at_us) VALUES ('old', 'v3 tag', 10)".into());
    sql.push(
        "INSERT INTO uploads (created_at_us, tag, folder, dataset, software_version, git_commit, cuts_sha256, user_name, host, command_line) \
         VALUES (20, 'old', 'gain_constants', 'run2A', '0.1', 'abc', NULL, 'carol', 'h', 'gm2dqc upload')"
            .into(),
    );
    sql.push("INSERT INTO payloads (hash, folder, nrows, created_at_us) VALUES ('e3b0', 'gain_constants', 0, 20)".into());
    sql.push("INSERT INTO iovs (tag, folder, first_run, first_subrun, end_run, end_subrun, payload_hash, upload_id, inserted_at_us) VALUES ('old', 'gain_constants', 1, 0, 2, 0, 'e3b0', 1, 20)".into());
    sql.push("INSERT INTO stage_log (dataset, stage, state, user_name, host, at_us, note) VALUES ('run2A', 'dqc', 'Done', 'carol', 'h', 30, '')".into());
    exec_sql(d, url, &sql);
}

/// Runs SQL statements on the database at `url` directly, without gm2dqc (to make
/// a database as an older gm2dqc, or someone by hand, left it).
pub(crate) fn exec_sql(d: schema::Dialect, url: &str, sql: &[String]) {
    if d == schema::Dialect::Sqlite {
        let c = rusqlite::Connection::open(url).unwrap();
        for s in sql {
            c.execute_batch(s).unwrap();
        }
    } else {
        let mut c = postgres::Client::connect(url, postgres::NoTls).unwrap();
        for s in sql {
            c.batch_execute(s).unwrap();
        }
    }
}

#[test]
fn an_existing_version_3_database_gets_migration_4_and_keeps_its_data() {
    use gm2dqc::db::board;
    use gm2dqc::db::users::{self, Role, UserError};
    for (label, url, _dir) in databases("migrate4") {
        make_version_3(&label, &url);
        let old_dataset = |b: &mut dyn Backend| {
            let d = db::uploaded_datasets(b).unwrap();
            assert_eq!(d.len(), 1, "{label}");
            (d[0].dataset.clone(), d[0].out_dir.clone(), d[0].last_upload_at_us, d[0].tag.clone())
        };
        // Read as it is by a reader: no out_dir, and no users yet (a clear error).
        let mut r = db::open_existing(&url).unwrap();
        assert_eq!(old_dataset(r.as_mut()), ("run2A".into(), None, 20, "old".into()), "{label}");
        assert_eq!(db::history(r.as_mut(), "old", "gain_constants").unwrap()[0].out_dir, None, "{label}");
        let e = users::users(r.as_mut()).unwrap_err();
        assert!(matches!(e, UserError::Db(DbError::NeedsMigration { found: 3, needed: 4, .. })) && e.to_string().contains("gm2dqc db init"), "{label}: {e}");
        assert!(!db::table_counts(r.as_mut()).unwrap().contains_key("web_users"), "{label}");
        drop(r);
        // A writer migrates it; the data stays.
        let mut b = db::open(&url).unwrap();
        {
            let mut tx = b.begin(false).unwrap();
            assert_eq!(db::schema_version(tx.as_mut()).unwrap(), schema::SCHEMA_VERSION, "{label}");
        }
        assert_eq!(schema::SCHEMA_VERSION, 8);
        assert_eq!(old_dataset(b.as_mut()), ("run2A".into(), None, 20, "old".into()), "{label}: the old upload has no out_dir");
        let h = db::history(b.as_mut(), "old", "gain_constants").unwrap();
        assert_eq!((h.len(), h[0].user.as_str(), h[0].out_dir.as_deref(), h[0].required_flags.as_ref()), (1, "carol", None, None), "{label}");
        assert_eq!(db::tags(b.as_mut()).unwrap()[0].description, "v3 tag", "{label}");
        let row = board::row(b.as_mut(), &board::Layout::gm2dqc(), "run2A").unwrap().unwrap();
        assert_eq!(row.cells.iter().find(|c| c.column == "dqc").unwrap().state, board::State::Done, "{label}");
        let c = db::table_counts(b.as_mut()).unwrap();
        assert_eq!((c["uploads"], c["iovs"], c["stage_log"], c["web_users"], c["web_audit"]), (1, 1, 1, 0, 0), "{label}");
        // What migration 4 added works.
        let token = users::add_user(b.as_mut(), "dave", Role::Reader, "admin").unwrap();
        assert!(users::authenticate(b.as_mut(), &token).unwrap().is_some(), "{label}");
        let mut p = prov("run2B");
        p.out_dir = Some("/data/out/run2B".into());
        db::upload(b.as_mut(), "new", &[(Iov::runs(5, 5), gain_payload(1.0))], &p).unwrap();
        let d = db::uploaded_datasets(b.as_mut()).unwrap();
        assert_eq!(d.iter().map(|d| (d.dataset.as_str(), d.out_dir.as_deref(), d.tag.as_str())).collect::<Vec<_>>(), [("run2A", None, "old"), ("run2B", Some("/data/out/run2B"), "new")], "{label}");
        // Opening again applies nothing twice.
        drop(b);
        let mut b = db::open(&url).unwrap();
        assert_eq!(users::users(b.as_mut()).unwrap().len(), 1, "{label}");
    }
}

#[test]
fn a_real_upload_records_its_canonical_output_directory() {
    use gm2dqc::db::board;
    let dir = TempDir::new("db-outdir");
    let bin = env!("CARGO_BIN_EXE_gm2dqc");
    let run = |args: &[&str]| {
        let o = std::process::Command::new(bin).args(args).output().unwrap();
        (o.status.code(), String::from_utf8_lossy(&o.stdout).into_owned() + &String::from_utf8_lossy(&o.stderr))
    };
    let (sim, out) = (dir.0.join("sim"), dir.0.join("out"));
    std::fs::create_dir_all(dir.0.join("elsewhere")).unwrap();
    // Given with a detour: recorded as the canonical path.
    let detour = dir.0.join("elsewhere").join("..").join("out");
    let (s, o) = (sim.to_str().unwrap(), detour.to_str().unwrap());
    assert_eq!(run(&["simulate", "--out", s, "--runs", "2", "--subruns", "2", "--seed", "5"]).0, Some(0));
    let (code, text) = run(&["analyze", "--input", s, "--out", o]);
    assert_eq!(code, Some(0), "{text}");
    let want = std::fs::canonicalize(&out).unwrap().display().to_string();
    assert!(!want.contains(".."));
    for (label, url, _d) in databases("outdir") {
        // The job's upload (which marks the board) and `db upload`, into two tags.
        let (code, text) = run(&["upload", "--out", o, "--db", &url, "--tag", "job"]);
        assert_eq!(code, Some(0), "{label}: {text}");
        let (code, text) = run(&["db", "--db", &url, "upload", "--from", o, "--tag", "cli"]);
        assert_eq!(code, Some(0), "{label}: {text}");
        let mut b = db::open(&url).unwrap();
        for tag in ["job", "cli"] {
            let h = db::history(b.as_mut(), tag, "gain_constants").unwrap();
            assert!(!h.is_empty() && h.iter().all(|r| r.out_dir.as_deref() == Some(want.as_str())), "{label} {tag}: {h:?}");
        }
        let d = db::uploaded_datasets(b.as_mut()).unwrap();
        assert_eq!(d.len(), 1, "{label}: {d:?}");
        assert_eq!((d[0].out_dir.as_deref(), d[0].tag.as_str()), (Some(want.as_str()), "cli"), "{label}: the latest upload's");
        // The upload stage is Done on the board, the delivery not signed: TODO.
        let row = board::row(b.as_mut(), &board::Layout::gm2dqc(), &d[0].dataset).unwrap().unwrap();
        let up = row.cells.iter().find(|c| c.column == "upload").unwrap();
        assert_eq!((up.stages[0].state, up.state, up.signoff.is_none()), (board::State::Done, board::State::Todo, true), "{label}");
    }
}

/// Issue 18: migration 6 adds folders (the per-run DQC constants, the calorimeters'
/// quality) and a column to an existing one (`gain_constants.reference_run`). A gain
/// payload stored by a gm2dqc before it was named by a hash without that column; read
/// back it has the column null, and must still verify (not be called corrupt), whether
/// the database is read as it is (version 5) or migrated.
#[test]
fn a_version_5_database_gets_migration_6_and_its_gain_payloads_still_verify() {
    for (label, url, _dir) in databases("migrate6") {
        let d = if label == "sqlite" { schema::Dialect::Sqlite } else { schema::Dialect::Postgres };
        // The folder as a version-5 gm2dqc had it, and one of its payloads.
        let old = schema::folders_at(5).into_iter().find(|f| f.name == "gain_constants").unwrap();
        assert!(old.columns.iter().all(|(c, _)| c != "reference_run") && !schema::folders_at(5).iter().any(|f| f.name == "kicker_dqc"));
        let full = gain_payload(3.0);
        let rows: Vec<Vec<Value>> = full.rows.iter().take(3).map(|r| r[..old.columns.len()].to_vec()).collect();
        let stored = Payload { folder: old.clone(), rows };
        let hash = stored.hash();
        let lit = |v: &Value| match v {
            Value::Null(_) => "NULL".to_string(),
            Value::Int(i) => i.to_string(),
            Value::Real(x) => format!("{x:?}"),
            Value::Bool(b) => if d == schema::Dialect::Sqlite { (*b as i32).to_string() } else { b.to_string() },
            Value::Text(s) => format!("'{}'", s.replace('\'', "''")),
        };
        let mut sql = vec!["CREATE TABLE schema_migrations (version BIGINT PRIMARY KEY, applied_at_us BIGINT NOT NULL)".to_string()];
        for (v, stmts) in schema::migrations(d).into_iter().filter(|(v, _)| *v <= 5) {
            sql.extend(stmts);
            sql.push(format!("INSERT INTO schema_migrations (version, applied_at_us) VALUES ({v}, {v})"));
        }
        sql.push("INSERT INTO tags (name, description, created_at_us) VALUES ('old', 'v5 tag', 10)".into());
        sql.push(
            "INSERT INTO uploads (created_at_us, tag, folder, dataset, software_version, git_commit, cuts_sha256, user_name, host, command_line) \
             VALUES (20, 'old', 'gain_constants', 'run2A', '0.1', 'abc', NULL, 'carol', 'h', 'gm2dqc upload')"
                .into(),
        );
        sql.push(format!("INSERT INTO payloads (hash, folder, nrows, created_at_us) VALUES ('{hash}', 'gain_constants', {}, 20)", stored.rows.len()));
        let names: Vec<String> = old.columns.iter().map(|(n, _)| format!("\"{n}\"")).collect();
        for (i, r) in stored.rows.iter().enumerate() {
            let vals: Vec<String> = r.iter().map(lit).collect();
            sql.push(format!("INSERT INTO f_gain_constants (payload_hash, row_index, {}) VALUES ('{hash}', {i}, {})", names.join(", "), vals.join(", ")));
        }
        sql.push(format!(
            "INSERT INTO iovs (tag, folder, first_run, first_subrun, end_run, end_subrun, payload_hash, upload_id, inserted_at_us) VALUES ('old', 'gain_constants', 1, 0, 2, 0, '{hash}', 1, 20)"
        ));
        exec_sql(d, &url, &sql);

        // Read as it is (version 5): the payload as stored; the new folders need the migration.
        let mut r = db::open_existing(&url).unwrap();
        let (_, got) = db::get(r.as_mut(), "old", "gain_constants", (1, 0), None).unwrap().unwrap();
        assert_eq!(got, stored, "{label}: read at version 5");
        let e = db::get(r.as_mut(), "old", "kicker_dqc", (1, 0), None).unwrap_err();
        assert!(matches!(e, DbError::NeedsMigration { found: 5, needed: 6, .. }) && e.to_string().contains("gm2dqc db init"), "{label}: {e}");
        assert!(!counts(r.as_mut()).contains_key("f_kicker_dqc"), "{label}");
        drop(r);

        // A writer migrates it: the old payload has reference_run null and still verifies.
        let mut b = db::open(&url).unwrap();
        assert_eq!(counts(b.as_mut())["f_kicker_dqc"], 0, "{label}");
        let (_, got) = db::get(b.as_mut(), "old", "gain_constants", (1, 0), None).unwrap().unwrap();
        let at = got.folder.columns.iter().position(|(c, _)| c == "reference_run").expect("the migrated folder has the column");
        assert_eq!(got.rows.len(), 3, "{label}");
        for (g, s) in got.rows.iter().zip(&stored.rows) {
            assert_eq!(g[at], Value::Null(ColType::Int), "{label}: stored before the column existed");
            assert_eq!(&g[..at], &s[..], "{label}");
        }
        assert_eq!(got.hash(), hash, "{label}: the name it was stored under");
        // The same rows with a reference run are new content: a new payload, read back whole.
        let mut with_ref = got.clone();
        for r in &mut with_ref.rows {
            r[at] = Value::Int(15921);
        }
        assert_ne!(with_ref.hash(), hash);
        let rep = db::upload(b.as_mut(), "old", &[(Iov::runs(1, 1), with_ref.clone())], &prov("run2A")).unwrap();
        assert_eq!((rep.written, rep.new_payloads), (1, 1), "{label}");
        let (_, back) = db::get(b.as_mut(), "old", "gain_constants", (1, 0), None).unwrap().unwrap();
        assert_eq!(back, with_ref, "{label}");
        // And the new folders take uploads, with the protections of the others.
        let kd = Payload { folder: schema::folder("kicker_dqc").unwrap(), rows: vec![] };
        let rep = db::upload(b.as_mut(), "old", &[(Iov::runs(1, 1), kd)], &prov("run2A")).unwrap();
        assert_eq!(rep.written, 1, "{label}");
    }
}
