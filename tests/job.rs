//! The rules of a job, seen from the command line as a shifter, an expert and an
//! attacker would try them: an output that cannot be written (a full disk), the board
//! written only by commands that succeed, Held, one job per output directory, files
//! read back edited or damaged, and every exit code the README promises.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::Value;

use crate::cli::gm2dqc;
use crate::common::{fixture, TempDir};

const TABLES: [&str; 6] = ["subrun_metrics", "gain_constants", "calo_channel_status", "tracker_channel_status", "subrun_status", "run_summary"];
const MERGED: [&str; 2] = ["merged_15921-15921.root", "merged_15922-15922.root"];

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Every table, merged file and inputs.json of `b` equals `a`'s, byte for byte for the
/// files and value for value for the tables.
fn assert_same_results(a: &Path, b: &Path, what: &str) {
    for t in TABLES {
        let x = gm2dqc::tables::read_parquet(&a.join(format!("{t}.parquet"))).unwrap();
        let y = gm2dqc::tables::read_parquet(&b.join(format!("{t}.parquet"))).unwrap_or_else(|e| panic!("{what}: {t}: {e}"));
        assert!(x.equals_missing(&y), "{t}: {what}");
    }
    for m in MERGED {
        let (x, y) = (std::fs::read(a.join("merged").join(m)).unwrap(), std::fs::read(b.join("merged").join(m)).unwrap_or_else(|e| panic!("{what}: merged/{m}: {e}")));
        assert!(x == y, "merged/{m}: {what}");
    }
    assert_eq!(std::fs::read(a.join("inputs.json")).unwrap(), std::fs::read(b.join("inputs.json")).unwrap(), "inputs.json: {what}");
}

/// The board as `status --json` prints it.
fn board(db: &str) -> Value {
    let (code, text, err) = gm2dqc(&["status", "--db", db, "--json"]);
    assert_eq!(code, 0, "{err}");
    serde_json::from_str(&text).unwrap()
}

/// The state of one stage of one dataset on the board.
fn cell(board: &Value, dataset: &str, stage: &str) -> Value {
    let row = board["rows"].as_array().unwrap().iter().find(|r| r["dataset"] == dataset).unwrap_or_else(|| panic!("no row {dataset} in {board}"));
    row["cells"].as_array().unwrap().iter().find(|c| c["column"] == stage).unwrap_or_else(|| panic!("no {stage} in {row}")).clone()
}

/// The small filesystem scripts/test.sh mounts for the disk-full tests.
fn small_fs() -> Option<PathBuf> {
    match std::env::var_os("GM2DQC_TEST_SMALLFS") {
        Some(p) if Path::new(&p).is_dir() => Some(PathBuf::from(p)),
        _ => {
            assert!(std::env::var("CI").is_err_or_not_true(), "CI=true: the disk-full tests must run (scripts/test.sh mounts GM2DQC_TEST_SMALLFS)");
            eprintln!("skipped: no small filesystem (GM2DQC_TEST_SMALLFS, mounted by scripts/test.sh as root)");
            None
        }
    }
}

trait NotTrue {
    fn is_err_or_not_true(&self) -> bool;
}

impl NotTrue for Result<String, std::env::VarError> {
    fn is_err_or_not_true(&self) -> bool {
        !matches!(self.as_deref(), Ok("true"))
    }
}

/// Free bytes of the filesystem holding `p` (from `df`, POSIX output).
fn free_bytes(p: &Path) -> u64 {
    let o = Command::new("df").args(["-P", "-B1", s(p)]).output().unwrap();
    let text = String::from_utf8_lossy(&o.stdout);
    text.lines().nth(1).and_then(|l| l.split_whitespace().nth(3)).and_then(|v| v.parse().ok()).unwrap_or_else(|| panic!("df: {text}"))
}

#[test]
fn a_full_disk_fails_the_job_with_exit_3_marks_nothing_done_and_the_rerun_completes() {
    let Some(fs) = small_fs() else { return };
    let dir = TempDir::new("job-full");
    let input = fixture("sim-small");
    let clean = dir.0.join("clean");
    let (code, text, err) = gm2dqc(&["run", "--input", s(&input), "--out", s(&clean), "--db", s(&dir.0.join("clean.sqlite")), "--tag", "t"]);
    assert_eq!(code, 0, "{text}{err}");
    let m1 = std::fs::metadata(clean.join("merged").join(MERGED[0])).unwrap().len();
    let m2 = std::fs::metadata(clean.join("merged").join(MERGED[1])).unwrap().len();

    // The output on the small filesystem, filled so that the first merged file fits
    // and the second does not.
    let out = fs.join(format!("out-{}", std::process::id()));
    let ballast = fs.join(format!("ballast-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&out);
    // The small filesystem is shared: whatever happens, give its space back.
    struct Cleanup(PathBuf, PathBuf);
    impl Drop for Cleanup {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
            let _ = std::fs::remove_file(&self.1);
        }
    }
    let _cleanup = Cleanup(out.clone(), ballast.clone());
    let page = 4096;
    let room = m1 + m2 / 2 + 8 * page;
    let free = free_bytes(&fs);
    assert!(free > room + 1_000_000, "the small filesystem has {free} bytes free; it needs more than {room}");
    std::fs::write(&ballast, vec![0u8; (free - room) as usize]).unwrap();
    let db = dir.0.join("board.sqlite");
    let (code, text, err) = gm2dqc(&["run", "--input", s(&input), "--out", s(&out), "--db", s(&db), "--tag", "t"]);
    assert_eq!(code, 3, "a write that failed is exit code 3: {text}{err}");
    assert!(err.contains("could not write") && err.contains(MERGED[1]), "the error names the file: {err}");
    assert!(!err.contains("input problems") && !text.contains("input problems"), "not an input problem: {text}{err}");
    assert!(!out.join("summary.json").exists(), "no summary.json covers a failed job");
    let b = board(s(&db));
    for stage in ["scan", "metrics", "merge", "gain", "dqc", "plots", "upload"] {
        assert_ne!(cell(&b, "sim-small", stage)["state"], "done", "{stage} must not be Done after a failed write: {b}");
    }
    assert!(cell(&b, "sim-small", "merge")["entry"]["note"].as_str().unwrap().contains("could not write"), "{b}");
    // A gain stage now finds no complete merge to fit.
    let (code, _, err) = gm2dqc(&["gain", "--out", s(&out), "--db", s(&db)]);
    assert_eq!(code, 2, "{err}");
    let (code, _, err) = gm2dqc(&["upload", "--out", s(&out), "--db", s(&db), "--tag", "t"]);
    assert_eq!(code, 2, "{err}");

    // Space freed: the same command redoes what was missing, and the results are
    // those of a clean run.
    std::fs::remove_file(&ballast).unwrap();
    let (code, text, err) = gm2dqc(&["run", "--input", s(&input), "--out", s(&out), "--db", s(&db), "--tag", "t"]);
    assert_eq!(code, 0, "{text}{err}");
    assert!(!text.contains("already done"), "the failed analysis is redone: {text}");
    assert_same_results(&clean, &out, "rerun after the disk was freed");
    let b = board(s(&db));
    for stage in ["scan", "metrics", "merge", "gain", "dqc", "plots", "upload"] {
        // The upload column's own stage: the column itself waits for a sign-off.
        assert_eq!(cell(&b, "sim-small", stage)["stages"][0]["state"], "done", "{stage}: {b}");
    }

    // The plots on a full disk: exit 3, the plots stage not Done, no temporary file
    // left holding space; after space is freed the same command finishes.
    std::fs::remove_dir_all(out.join("plots")).unwrap();
    std::fs::remove_file(out.join("report.html")).unwrap();
    let free = free_bytes(&fs);
    std::fs::write(&ballast, vec![0u8; (free - 64 * 1024) as usize]).unwrap();
    let (code, text, err) = gm2dqc(&["plots", "--out", s(&out), "--db", s(&db), "--tag", "t"]);
    assert_eq!(code, 3, "{text}{err}");
    assert!(err.contains("could not write") && err.contains(s(&out)), "{err}");
    assert_ne!(cell(&board(s(&db)), "sim-small", "plots")["state"], "done");
    let leftovers: Vec<_> = std::fs::read_dir(out.join("plots")).map(|d| d.filter_map(|e| e.ok()).map(|e| e.file_name()).filter(|n| n.to_string_lossy().contains(".tmp")).collect()).unwrap_or_default();
    assert!(leftovers.is_empty(), "temporary files left: {leftovers:?}");
    std::fs::remove_file(&ballast).unwrap();
    let (code, text, err) = gm2dqc(&["plots", "--out", s(&out), "--db", s(&db), "--tag", "t"]);
    assert_eq!(code, 0, "{text}{err}");
    assert_eq!(cell(&board(s(&db)), "sim-small", "plots")["state"], "done");
}

#[test]
fn a_stage_refuses_when_a_file_the_stage_before_wrote_is_missing() {
    let dir = TempDir::new("job-hole");
    let out = dir.0.join("out");
    let (code, _, err) = gm2dqc(&["run", "--input", s(&fixture("sim-small")), "--out", s(&out), "--tag", "t"]);
    assert_eq!(code, 0, "{err}");
    std::fs::remove_file(out.join("merged").join(MERGED[1])).unwrap();
    let (code, text, err) = gm2dqc(&["gain", "--out", s(&out)]);
    assert_eq!(code, 2, "{text}{err}");
    assert!(err.contains(MERGED[1]) && err.contains("missing") && err.contains("gm2dqc merge"), "{err}");
    // Nothing was replaced: the constants still cover both intervals.
    let gains = gm2dqc::tables::read_parquet(&out.join("gain_constants.parquet")).unwrap();
    assert_eq!(gains.height(), 2 * 1296);
    // A constants table that lost an interval is refused by the upload.
    let mut one = gains.head(Some(1296));
    gm2dqc::tables::write_parquet(&mut one, &out.join("gain_constants.parquet")).unwrap();
    let (code, _, err) = gm2dqc(&["upload", "--out", s(&out), "--tag", "t2"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("gain_constants.parquet") && err.contains("15922"), "{err}");
}

#[test]
fn commands_that_fail_before_the_work_write_nothing_anywhere() {
    for (label, db, _keep) in crate::db::databases("nowrite") {
        let dir = TempDir::new("job-nowrite");
        let out = dir.0.join("out");
        let input = fixture("sim-small");
        let (code, _, err) = gm2dqc(&["run", "--input", s(&input), "--out", s(&out), "--db", &db, "--tag", "t"]);
        assert_eq!(code, 0, "{label}: {err}");
        let before = board(&db);
        // A missing cut file: exit 2, the board of the finished dataset untouched.
        let (code, _, err) = gm2dqc(&["run", "--input", s(&input), "--out", s(&out), "--db", &db, "--cuts", s(&dir.0.join("nosuch.toml"))]);
        assert_eq!(code, 2, "{label}: {err}");
        assert_eq!(board(&db), before, "{label}: a failed command changed the board");
        // A mistyped dataset: exit 2, no board row, no output directory.
        let (code, _, err) = gm2dqc(&["metrics", "--input", s(&dir.0.join("TYPO")), "--out", s(&dir.0.join("o2")), "--db", &db]);
        assert_eq!(code, 2, "{label}: {err}");
        assert_eq!(board(&db), before, "{label}: a failed command added a board row");
        assert!(!dir.0.join("o2").exists(), "{label}: a failed command created its output directory");
        // --out naming a regular file, or a place under one.
        std::fs::write(dir.0.join("afile"), b"x").unwrap();
        let (code, _, err) = gm2dqc(&["run", "--input", s(&input), "--out", s(&dir.0.join("afile")), "--db", &db]);
        assert_eq!(code, 2, "{label}: {err}");
        assert!(err.contains("is a file"), "{label}: {err}");
        let (code, _, err) = gm2dqc(&["metrics", "--input", s(&input), "--out", s(&dir.0.join("afile/sub")), "--db", &db]);
        assert_eq!(code, 2, "{label}: {err}");
        assert_eq!(board(&db), before, "{label}");
    }
    // Without --db the stages' database is OUT/conditions.sqlite: not made either.
    let dir = TempDir::new("job-nowrite-default");
    let (code, _, err) = gm2dqc(&["metrics", "--input", s(&dir.0.join("TYPO")), "--out", s(&dir.0.join("o3"))]);
    assert_eq!(code, 2, "{err}");
    assert!(!dir.0.join("o3").exists(), "a failed command created its output directory");
}

#[test]
fn read_only_commands_create_nothing_and_name_what_is_unknown() {
    let dir = TempDir::new("job-readonly");
    let missing = dir.0.join("missing.sqlite");
    for args in [
        vec!["status", "--db", s(&missing)],
        vec!["status", "--db", s(&missing), "--json"],
        vec!["db", "--db", s(&missing), "get", "gain_constants", "--tag", "t", "--run", "15921"],
        vec!["db", "--db", s(&missing), "tags"],
        vec!["db", "--db", s(&missing), "history", "gain_constants", "--tag", "t"],
    ] {
        let (code, _, err) = gm2dqc(&args);
        assert_eq!(code, 2, "{args:?}: {err}");
        assert!(err.contains(&format!("no conditions database at {}", missing.display())) && err.contains("OUT/conditions.sqlite"), "{args:?}: {err}");
        assert!(!missing.exists(), "{args:?} created the database");
    }
    let out = dir.0.join("out");
    let (code, _, err) = gm2dqc(&["run", "--input", s(&fixture("sim-small")), "--out", s(&out), "--tag", "known"]);
    assert_eq!(code, 0, "{err}");
    let db = out.join("conditions.sqlite");
    let (code, _, err) = gm2dqc(&["db", "--db", s(&db), "get", "nosuch_folder", "--tag", "known", "--run", "15921"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("nosuch_folder") && err.contains("gain_constants"), "{err}");
    let (code, _, err) = gm2dqc(&["db", "--db", s(&db), "get", "gain_constants", "--tag", "nosuch", "--run", "15921"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("nosuch") && err.contains("known"), "an unknown tag is named, with the known ones: {err}");
    let (code, _, err) = gm2dqc(&["db", "--db", s(&db), "get", "gain_constants", "--tag", "known", "--run", "15921", "--format", "parquet"]);
    assert_eq!(code, 2, "{err}");
    let (code, _, err) = gm2dqc(&["db", "--db", s(&db), "get", "gain_constants", "--tag", "known", "--run", "15921", "--out", s(&dir.0)]);
    assert_eq!(code, 2, "--out naming a directory: {err}");
    let (code, _, err) = gm2dqc(&["db", "--db", s(&db), "get", "gain_constants", "--tag", "known", "--run", "15921", "--out", "/proc/nosuch/x.csv"]);
    assert_eq!(code, 2, "--out in a place that cannot hold a file: {err}");
    let empty = dir.0.join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let (code, _, err) = gm2dqc(&["db", "upload", "--from", s(&empty), "--tag", "t"]);
    assert_eq!(code, 2, "{err}");
    assert!(!empty.join("conditions.sqlite").exists(), "a refused upload created a database");
    let (code, _, err) = gm2dqc(&["status", "--db", s(&db), "set", "sim-small", "nosuch-stage", "done"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("nosuch-stage") && err.contains("scan, metrics"), "{err}");
    let (code, _, err) = gm2dqc(&["status", "--db", s(&db), "set", "sim-small", "gain", "hled", "--note", "x"]);
    assert_eq!(code, 2, "a mistyped state: {err}");
}

#[test]
fn upload_after_the_metrics_alone_is_a_usage_error() {
    let dir = TempDir::new("job-upload-early");
    let out = dir.0.join("out");
    let (code, _, err) = gm2dqc(&["metrics", "--input", s(&fixture("sim-small")), "--out", s(&out)]);
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = gm2dqc(&["upload", "--out", s(&out), "--tag", "t"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("the gain stage has not run"), "{err}");
}

#[test]
fn a_held_dataset_stops_run_and_the_stages_until_it_is_released() {
    for (label, db, _keep) in crate::db::databases("held") {
        let dir = TempDir::new("job-held");
        let out = dir.0.join("out");
        let input = fixture("sim-small");
        let run = ["run", "--input", s(&input), "--out", s(&out), "--db", &db, "--tag", "t"];
        let (code, _, err) = gm2dqc(&run);
        assert_eq!(code, 0, "{label}: {err}");
        let (code, _, err) = gm2dqc(&["status", "--db", &db, "set", "sim-small", "dqc", "HELD", "--note", "laser run missing, ask the calo expert"]);
        assert_eq!(code, 0, "{label}: states are case-insensitive: {err}");
        for args in [
            run.to_vec(),
            vec!["dqc", "--out", s(&out), "--db", &db],
            vec!["upload", "--out", s(&out), "--db", &db, "--tag", "t2"],
            vec!["metrics", "--input", s(&input), "--out", s(&out), "--db", &db],
        ] {
            let (code, text, err) = gm2dqc(&args);
            assert_eq!(code, 2, "{label}: {args:?}: {text}{err}");
            assert!(err.contains("held") && err.contains("laser run missing, ask the calo expert") && err.contains("dqc"), "{label}: {args:?}: {err}");
        }
        let c = cell(&board(&db), "sim-small", "dqc");
        assert_eq!((c["state"].as_str(), c["entry"]["note"].as_str()), (Some("held"), Some("laser run missing, ask the calo expert")), "{label}: the note stays on the board");
        let (code, _, err) = gm2dqc(&["status", "--db", &db, "set", "sim-small", "dqc", "todo", "--note", "laser run found"]);
        assert_eq!(code, 0, "{label}: {err}");
        let (code, _, err) = gm2dqc(&run);
        assert_eq!(code, 0, "{label}: released: {err}");
    }
}

/// Holds OUT's lock as another job would, with the holder line a job writes.
fn hold_lock(out: &Path) -> std::fs::File {
    std::fs::create_dir_all(out).unwrap();
    let f = std::fs::OpenOptions::new().read(true).write(true).create(true).truncate(true).open(out.join(".gm2dqc.lock")).unwrap();
    f.try_lock().unwrap();
    std::fs::write(out.join(".gm2dqc.lock"), "pid 4242 on testhost since 2026-12-01T00:00:00Z\n").unwrap();
    f
}

#[test]
fn one_job_per_output_directory() {
    let dir = TempDir::new("job-lock");
    let out = dir.0.join("out");
    let input = fixture("sim-small");
    let lock = hold_lock(&out);
    let (code, _, err) = gm2dqc(&["run", "--input", s(&input), "--out", s(&out), "--tag", "t"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("in use by another gm2dqc job") && err.contains("pid 4242 on testhost since 2026-12-01T00:00:00Z"), "{err}");
    assert!(!out.join("manifest.json").exists() && !out.join("conditions.sqlite").exists(), "a refused job wrote");
    drop(lock);
    // Two real runs at once: one does the work, the other waits its turn or refuses
    // naming the holder; neither fails on a locked database or a temporary file.
    let spawn = || {
        Command::new(env!("CARGO_BIN_EXE_gm2dqc"))
            .args(["run", "--input", s(&input), "--out", s(&out), "--tag", "t", "--threads", "1"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (a, b) = (spawn(), spawn());
    let mut codes = Vec::new();
    for c in [a, b] {
        let o = c.wait_with_output().unwrap();
        let err = String::from_utf8_lossy(&o.stderr).into_owned();
        let code = o.status.code().unwrap();
        assert!(code == 0 || (code == 2 && err.contains("in use by another gm2dqc job")), "exit {code}: {err}");
        assert!(!err.contains("database is locked") && !err.contains("panicked"), "{err}");
        codes.push(code);
    }
    assert!(codes.contains(&0), "{codes:?}");
    assert!(out.join("summary.json").exists());
}

#[test]
fn edited_or_damaged_manifest_and_summary_are_refused_or_redone_never_a_panic() {
    let dir = TempDir::new("job-edited");
    let good = dir.0.join("good");
    let (code, _, err) = gm2dqc(&["run", "--input", s(&fixture("sim-small")), "--out", s(&good), "--tag", "t"]);
    assert_eq!(code, 0, "{err}");
    let manifest: Value = serde_json::from_str(&std::fs::read_to_string(good.join("manifest.json")).unwrap()).unwrap();
    let huge = Value::from(u64::MAX);
    let values = [Value::from(""), Value::from("ab"), Value::from("é".repeat(40)), Value::from(12), huge.clone(), Value::Null, Value::from(vec![1, 2])];
    let fields = ["cuts", "cuts_sha256", "inputs_sha256", "failed", "finished", "errors", "outputs", "intervals"];
    let mut tried = 0;
    for stage in ["merge", "dqc"] {
        for field in fields {
            for v in values.iter().cloned().chain([Value::from("x")]) {
                let mut m = manifest.clone();
                if v.is_null() {
                    m["stages"][stage].as_object_mut().unwrap().remove(field);
                } else {
                    m["stages"][stage][field] = v.clone();
                }
                let out = dir.0.join("edited");
                let _ = std::fs::remove_dir_all(&out);
                copy_dir(&good, &out);
                std::fs::write(out.join("manifest.json"), serde_json::to_vec(&m).unwrap()).unwrap();
                let (code, _, err) = gm2dqc(&["upload", "--out", s(&out), "--tag", "t"]);
                assert!(matches!(code, 0 | 2), "{stage}.{field} = {v}: upload exit {code}: {err}");
                assert!(!err.contains("panicked"), "{err}");
                if code == 2 && err.contains("not a gm2dqc manifest") {
                    assert!(err.contains("manifest.json") && err.contains(&format!("stages.{stage}.{field}")), "the file and the field are named: {err}");
                }
                tried += 1;
            }
        }
    }
    assert!(tried > 100);
    // Fields that must be refused, not trusted.
    for (field, v) in [("cuts_sha256", Value::from("ab")), ("cuts_sha256", Value::from("é".repeat(40))), ("outputs", Value::from(vec!["../../etc/passwd"])), ("intervals", serde_json::json!([[15922, 15921]]))] {
        let mut m = manifest.clone();
        m["stages"]["merge"][field] = v.clone();
        std::fs::write(good.join("manifest.json.edit"), serde_json::to_vec(&m).unwrap()).unwrap();
        let out = dir.0.join("edited2");
        let _ = std::fs::remove_dir_all(&out);
        copy_dir(&good, &out);
        std::fs::rename(out.join("manifest.json.edit"), out.join("manifest.json")).unwrap();
        let (code, _, err) = gm2dqc(&["gain", "--out", s(&out)]);
        assert_eq!(code, 2, "merge.{field} = {v}: {err}");
        assert!(err.contains("manifest.json") && err.contains(&format!("stages.merge.{field}")), "{err}");
    }
    // A damaged summary.json is not trusted: the analysis is redone.
    for text in ["", "{", "[1,2]", "{\"key\": 5}", &"\u{e9}".repeat(1000)] {
        std::fs::write(good.join("summary.json"), text).unwrap();
        let (code, out, err) = gm2dqc(&["run", "--input", s(&fixture("sim-small")), "--out", s(&good), "--tag", "t"]);
        assert_eq!(code, 0, "{text:?}: {err}");
        assert!(!out.contains("already done"), "{text:?}: a damaged summary.json must not mark the work done: {out}");
    }
    std::fs::write(good.join("manifest.json"), [0xff, 0xfe, 0x00]).unwrap();
    let (code, _, err) = gm2dqc(&["upload", "--out", s(&good), "--tag", "t"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("manifest.json") && err.contains("not a gm2dqc manifest"), "{err}");
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let p = e.path();
        let name = e.file_name();
        if name == ".gm2dqc.lock" {
            continue;
        }
        if p.is_dir() {
            copy_dir(&p, &to.join(name));
        } else {
            std::fs::copy(&p, to.join(name)).unwrap();
        }
    }
}

#[test]
fn a_closed_pipe_ends_quietly_and_quiet_means_quiet() {
    let dir = TempDir::new("job-pipe");
    let out = dir.0.join("out");
    let (code, _, err) = gm2dqc(&["run", "--input", s(&fixture("sim-small")), "--out", s(&out), "--tag", "t"]);
    assert_eq!(code, 0, "{err}");
    // `gm2dqc db get ... | head -1`: the reader goes after one line.
    let mut child = Command::new(env!("CARGO_BIN_EXE_gm2dqc"))
        .args(["db", "--db", s(&out.join("conditions.sqlite")), "get", "gain_constants", "--tag", "t", "--run", "15921"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = [0u8; 16];
    std::io::Read::read_exact(child.stdout.as_mut().unwrap(), &mut first).unwrap();
    drop(child.stdout.take());
    let o = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!err.contains("Broken pipe") && !err.contains("error") && !err.contains("panicked"), "{err}");
    // -q: nothing on stdout, from every command that prints.
    let (code, text, err) = gm2dqc(&["-q", "scan", "--input", s(&fixture("sim-small"))]);
    assert_eq!((code, text.as_str()), (0, ""), "{err}");
    let (code, text, err) = gm2dqc(&["-q", "cuts", "apply", "--metrics", s(&out.join("subrun_metrics.parquet"))]);
    assert_eq!((code, text.as_str()), (0, ""), "{err}");
}

#[test]
fn the_summary_and_the_elog_count_each_bad_channel_once_whatever_the_number_of_intervals() {
    let dir = TempDir::new("job-count");
    let out = dir.0.join("out");
    let (code, _, err) = gm2dqc(&["run", "--input", s(&fixture("sim-small")), "--out", s(&out), "--tag", "t"]);
    assert!(code == 0 || code == 1, "{err}");
    let status = gm2dqc::tables::read_parquet(&out.join("calo_channel_status.parquet")).unwrap();
    let channel = status.column("channel").unwrap().cast(&polars::prelude::DataType::UInt32).unwrap();
    let channel: Vec<u32> = channel.u32().unwrap().iter().map(|c| c.unwrap()).collect();
    let distinct = |col: &str, want: bool| {
        let v = status.column(col).unwrap().bool().unwrap().clone();
        let mut chs: Vec<u32> = channel.iter().zip(v.iter()).filter(|(_, x)| *x == Some(want)).map(|(c, _)| *c).collect();
        let rows = chs.len();
        chs.sort();
        chs.dedup();
        (rows, chs.len())
    };
    let (rows, bad) = distinct("ok", false);
    assert!(rows > bad, "the fixture's bad crystals are bad in both runs (rows {rows}, crystals {bad})");
    let summary: Value = serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    assert_eq!(summary["bad_xtals"].as_u64(), Some(bad as u64), "{summary}");
    let (dead_rows, dead) = distinct("dead", true);
    assert!(dead_rows > dead && dead > 0, "dead crystals in both runs: {dead_rows} rows, {dead} crystals");
    let elog = std::fs::read_to_string(out.join("elog.txt")).unwrap();
    assert!(elog.contains(&format!("crystals: {dead} dead,")), "each dead crystal once: {elog}");
}

#[test]
fn a_job_reads_its_cut_file_once_and_every_stage_uses_that_reading() {
    use gm2dqc::job::{Job, JobConfig, Silent, Work};
    let dir = TempDir::new("job-cuts-once");
    let cuts = dir.0.join("mine.toml");
    std::fs::write(&cuts, format!("{}\n# mine\n", gm2dqc::cuts::STANDARD_TOML)).unwrap();
    let sha = gm2dqc::checksum::sha256_hex(&std::fs::read(&cuts).unwrap());
    let out = dir.0.join("out");
    let cfg = JobConfig { out: out.clone(), input: Some(fixture("sim-small")), cuts: Some(cuts.clone()), tag: "t".into(), board: true, ..JobConfig::default() };
    let mut job = Job::open(cfg, Work::Run).unwrap();
    // Edited after the job started: the stages still see the file as it was read.
    std::fs::write(&cuts, "this is not a cut file").unwrap();
    let r = job.run(&Silent).unwrap();
    assert_eq!(r.summary.cuts_sha256, sha);
    let status = gm2dqc::tables::read_parquet(&out.join("subrun_status.parquet")).unwrap();
    let shas = status.column("cuts_sha256").unwrap().str().unwrap().clone();
    assert!(shas.iter().all(|x| x == Some(sha.as_str())));
    let manifest: Value = serde_json::from_str(&std::fs::read_to_string(out.join("manifest.json")).unwrap()).unwrap();
    for stage in ["metrics", "merge", "gain", "dqc", "plots"] {
        assert_eq!(manifest["stages"][stage]["cuts_sha256"], sha.as_str(), "{stage}");
    }
}

#[test]
fn the_board_from_the_command_line_knows_its_datasets_and_both_layouts() {
    let dir = TempDir::new("job-board-cli");
    let out = dir.0.join("out");
    let db = out.join("conditions.sqlite");
    let (code, _, err) = gm2dqc(&["run", "--input", s(&fixture("sim-small")), "--out", s(&out), "--tag", "t"]);
    assert_eq!(code, 0, "{err}");
    // A typo makes no row; --new puts a dataset on the board.
    let (code, _, err) = gm2dqc(&["status", "--db", s(&db), "set", "sim-smal", "scan", "done"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("sim-smal") && err.contains("sim-small"), "the near name is suggested: {err}");
    assert_eq!(board(s(&db))["rows"].as_array().unwrap().len(), 1);
    let (code, text, err) = gm2dqc(&["status", "--db", s(&db), "set", "run3B", "scan", "done", "--new"]);
    assert_eq!(code, 0, "{err}");
    assert!(text.contains("run3B scan: Done") && text.contains("run3B metrics: TODO (by the board)"), "when done, the next cell becomes TODO: {text}");
    // Held needs a note.
    let (code, _, err) = gm2dqc(&["status", "--db", s(&db), "set", "run3B", "gain", "held"]);
    assert_eq!(code, 2, "{err}");
    // The g-2 spreadsheet's 18 columns, gm2dqc's stages mapped onto them.
    let (code, text, err) = gm2dqc(&["status", "--db", s(&db), "--layout", "g2", "--json"]);
    assert_eq!(code, 0, "{err}");
    let v: Value = serde_json::from_str(&text).unwrap();
    let row = v["rows"].as_array().unwrap().iter().find(|r| r["dataset"] == "sim-small").unwrap();
    let cells = row["cells"].as_array().unwrap();
    assert_eq!(cells.len(), 18, "{row}");
    let by_title = |t: &str| cells.iter().find(|c| c["column"].as_str().is_some_and(|id| v["layout"]["columns"].as_array().unwrap().iter().any(|col| col["id"] == id && col["title"] == t))).cloned();
    assert_eq!(by_title("hadd stages").unwrap()["state"], "done", "merge is the hadd stage: {row}");
    assert_eq!(by_title("QMethod").unwrap()["state"], "not_started", "a column set by hand: {row}");
    let (code, text, err) = gm2dqc(&["status", "--db", s(&db), "--layout", "g2"]);
    assert_eq!(code, 0, "{err}");
    assert!(text.lines().next().unwrap().contains("Dataset delivered"), "{text}");
}

#[test]
fn scan_names_the_subruns_missing_from_a_runs_numbering() {
    let dir = TempDir::new("job-gaps");
    let data = dir.0.join("data");
    std::fs::create_dir_all(&data).unwrap();
    let f = fixture("sim-small").join("gm2dqc_sim_15921.00001.root");
    for sub in [1, 2, 5] {
        std::fs::copy(&f, data.join(format!("gm2dqc_sim_15921.{sub:05}.root"))).unwrap();
    }
    let (code, text, err) = gm2dqc(&["scan", "--input", s(&data)]);
    assert_eq!(code, 0, "{err}");
    assert!(text.contains("missing subruns") && text.contains("run 15921") && text.contains("3-4"), "{text}");
    let (code, text, err) = gm2dqc(&["scan", "--input", s(&data), "--json"]);
    assert_eq!(code, 0, "{err}");
    let v: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["missing_subruns"][0]["run"], 15921, "{v}");
    assert_eq!(v["missing_subruns"][0]["missing"], serde_json::json!([[3, 4]]), "{v}");
}

/// The source files of a module directory (or one file), with their text.
fn sources(rel: &str) -> Vec<(PathBuf, String)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join(rel);
    let mut out = Vec::new();
    let mut todo = vec![root];
    while let Some(p) = todo.pop() {
        if p.is_dir() {
            todo.extend(std::fs::read_dir(&p).unwrap().map(|e| e.unwrap().path()));
        } else if p.extension().is_some_and(|e| e == "rs") {
            let text = std::fs::read_to_string(&p).unwrap();
            out.push((p, text));
        }
    }
    out
}

#[test]
fn the_module_boundaries_of_architecture_md_hold() {
    // Every face is built on the library core: nothing outside cli imports it.
    for (p, text) in sources("src") {
        if p.components().any(|c| c.as_os_str() == "cli") || p.ends_with("main.rs") || p.ends_with("lib.rs") {
            continue;
        }
        assert!(!text.contains("crate::cli"), "{} imports cli", p.display());
    }
    // The cut files know nothing of the pipeline; the analyses do no file I/O.
    for (p, text) in sources("src/cuts") {
        assert!(!text.contains("crate::pipeline"), "{} imports pipeline", p.display());
    }
    for (p, text) in sources("src/analysis") {
        for io in ["std::fs", "RootFile::open", "File::create", "crate::merged"] {
            assert!(!text.contains(io), "{} does file I/O ({io})", p.display());
        }
    }
    // The read model of results has no web code: the web application is a face.
    for (p, text) in sources("src/results") {
        for web in ["crate::server", "axum", "hyper", "http::"] {
            assert!(!text.contains(web), "{} has web code ({web})", p.display());
        }
    }
    // No stage name is spelled outside the Stage enum in the job and the faces.
    for (p, text) in sources("src/job").into_iter().chain(sources("src/cli")) {
        if p.ends_with("stage.rs") {
            continue;
        }
        for name in ["\"scan\"", "\"metrics\"", "\"merge\"", "\"gain\"", "\"dqc\"", "\"plots\"", "\"upload\""] {
            assert!(!text.contains(&format!("&[{name}")) && !text.contains(&format!("({name},")), "{}: stage name {name} as a literal", p.display());
        }
    }
}
