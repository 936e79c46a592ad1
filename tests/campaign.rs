//! Campaigns: a dataset split into shards, run in any order (here, and on a real
//! single-node Slurm cluster that scripts/test.sh starts), reduced into exactly what
//! one `gm2dqc run` gives: the same table, merged-file and input-list bytes, the same
//! errors, the same database rows.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::cli::gm2dqc;
use crate::common::TempDir;

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn ok(args: &[&str]) -> String {
    let (code, out, err) = gm2dqc(args);
    assert_eq!(code, 0, "{args:?}: {out}{err}");
    out
}

/// A simulated dataset of 2 runs x 10 subruns (4 chunks per interval layout:
/// 8 + 2 files per run) with the standard faults and one truncated file.
fn dataset(dir: &Path, seed: &str) -> PathBuf {
    let sim = dir.join("sim");
    ok(&["-q", "simulate", "--out", s(&sim), "--runs", "2", "--subruns", "10", "--seed", seed]);
    let bad = sim.join("gm2dqc_sim_15922.00004.root");
    let bytes = std::fs::read(&bad).unwrap();
    std::fs::write(&bad, &bytes[..bytes.len() / 3]).unwrap();
    sim
}

/// The reference: one `gm2dqc run`.
fn one_run(sim: &Path, out: &Path, extra: &[&str]) {
    let mut args = vec!["-q", "run", "--input", s(sim), "--out", s(out), "--tag", "t", "--threads", "2"];
    args.extend_from_slice(extra);
    let (code, text, err) = gm2dqc(&args);
    assert_eq!(code, 1, "the truncated file makes it exit 1: {text}{err}");
}

/// What the database holds, without the times: every interval of validity with its
/// payload (content-addressed: same hash, same rows) and every upload's provenance.
fn db_rows(db: &Path) -> (Vec<String>, Vec<String>) {
    let c = rusqlite::Connection::open(db).unwrap();
    let q = |sql: &str| -> Vec<String> {
        let mut st = c.prepare(sql).unwrap();
        let n = st.column_count();
        st.query_map([], |r| Ok((0..n).map(|i| format!("{:?}", r.get_ref(i).unwrap())).collect::<Vec<_>>().join("|"))).unwrap().map(Result::unwrap).collect()
    };
    (
        q("SELECT tag, folder, first_run, first_subrun, end_run, end_subrun, payload_hash FROM iovs ORDER BY id"),
        q("SELECT u.tag, u.folder, u.dataset, u.cuts_sha256, i.path, i.size, i.sha256 FROM uploads u JOIN upload_inputs i ON i.upload_id = u.id ORDER BY u.id, i.rowid"),
    )
}

/// Everything a campaign must reproduce bit for bit.
fn assert_same_results(one: &Path, campaign: &Path, what: &str) {
    let mut files: Vec<PathBuf> = ["subrun_metrics", "subrun_status", "run_summary", "gain_constants", "calo_channel_status", "tracker_channel_status"]
        .iter()
        .map(|t| PathBuf::from(format!("{t}.parquet")))
        .chain(["inputs.json", "errors.txt"].map(PathBuf::from))
        .collect();
    let merged = gm2dqc::merged::list(&one.join("merged")).unwrap();
    assert!(!merged.is_empty());
    files.extend(merged.iter().map(|p| Path::new("merged").join(p.file_name().unwrap())));
    for f in &files {
        let (a, b) = (std::fs::read(one.join(f)).unwrap(), std::fs::read(campaign.join(f)).unwrap_or_default());
        assert!(a == b, "{}: {what}", f.display());
    }
    assert_eq!(gm2dqc::merged::list(&campaign.join("merged")).unwrap().len(), merged.len(), "{what}");
    let (x, y) = (db_rows(&one.join("conditions.sqlite")), db_rows(&campaign.join("conditions.sqlite")));
    assert!(!x.0.is_empty() && !x.1.is_empty());
    assert_eq!(x, y, "database rows: {what}");
    let summary: Value = serde_json::from_slice(&std::fs::read(campaign.join("summary.json")).unwrap()).unwrap();
    let reference: Value = serde_json::from_slice(&std::fs::read(one.join("summary.json")).unwrap()).unwrap();
    for k in ["key", "files", "good_subruns", "gain_status", "input_errors", "files_failed", "failed", "missing_subruns"] {
        assert_eq!(summary[k], reference[k], "summary.json {k}: {what}");
    }
}

fn plan_of(work: &Path) -> gm2dqc::campaign::Plan {
    gm2dqc::campaign::Plan::load(work).unwrap().0
}

#[test]
fn shards_in_any_order_and_any_sharding_reduce_to_exactly_one_run() {
    let dir = TempDir::new("campaign-exact");
    let sim = dataset(&dir.0, "21");
    // The simulator's sums are quantised and add exactly in any order; these files'
    // do not, so a reduce that grouped the additions differently would show.
    let inexact = dir.0.join("inexact");
    std::fs::create_dir_all(&inexact).unwrap();
    crate::pipeline::write_inexact_dataset(&inexact, 2, 19);
    // A two-run interval whose reference run is its second run: the reference sum
    // comes from chunks merged after the first run's.
    let overrides = ["--interval", "100-101", "--reference-run", "101"];
    for (name, input, extra) in [("sim", &sim, &[][..]), ("inexact", &inexact, &overrides[..])] {
        let one = dir.0.join(format!("one-{name}"));
        one_run(input, &one, extra);
        let work = dir.0.join(format!("work-{name}"));
        let mut plan = vec!["plan", "--input", s(input), "--shards", "3", "--out", s(&work), "--tag", "t", "--json"];
        plan.extend_from_slice(extra);
        let j: Value = serde_json::from_str(&ok(&plan)).unwrap();
        assert_eq!(j["shards"].as_array().unwrap().len(), 3, "{j}");
        // Shards in reverse order, on 1 and 2 threads.
        for (i, threads) in [(2, "1"), (1, "2"), (0, "1")] {
            let text = ok(&["shard", s(&work), "--index", &i.to_string(), "--threads", threads]);
            assert!(text.contains(&format!("shard {i}:")), "{text}");
        }
        let (code, text, err) = gm2dqc(&["reduce", s(&work), "--threads", "2"]);
        assert_eq!(code, 1, "input problems are reported by the reduce: {text}{err}");
        if name == "sim" {
            assert!(text.contains("gm2dqc_sim_15922.00004.root"), "the truncated file is named: {text}");
        }
        assert_same_results(&one, &work.join("out"), &format!("3 shards, {name}"));

        // Another sharding of the same plan (one chunk per shard), merged in with
        // --from: every chunk is there twice, identical; each is used once.
        let fine = dir.0.join(format!("fine-{name}"));
        let mut plan = vec!["plan", "--input", s(input), "--shards", "100", "--out", s(&fine), "--tag", "t"];
        plan.extend_from_slice(extra);
        ok(&plan);
        let n = plan_of(&fine).shards.len();
        assert_eq!(n, plan_of(&fine).chunks.len());
        for i in (0..n).rev() {
            ok(&["-q", "shard", s(&fine), "--index", &i.to_string()]);
        }
        let other = dir.0.join(format!("reduced-{name}"));
        let (code, _, err) = gm2dqc(&["reduce", s(&work), "--from", s(&fine.join("shards")), "--out", s(&other), "--tag", "t"]);
        assert_eq!(code, 1, "{err}");
        assert_eq!(err.matches("is an identical copy").count(), n, "every duplicate chunk is named once: {err}");
        assert_same_results(&one, &other, &format!("two shardings merged, {name}"));
    }
}

#[test]
fn the_reduce_refuses_missing_tampered_and_conflicting_partial_results() {
    let dir = TempDir::new("campaign-refuse");
    let sim = dataset(&dir.0, "22");
    let work = dir.0.join("work");
    ok(&["plan", "--input", s(&sim), "--shards", "3", "--out", s(&work)]);
    let (code, _, err) = gm2dqc(&["plan", "--input", s(&sim), "--shards", "2", "--out", s(&work)]);
    assert_eq!(code, 2);
    assert!(err.contains("already holds a plan") && err.contains("--force"), "{err}");
    ok(&["-q", "shard", s(&work), "--index", "0"]);
    ok(&["-q", "shard", s(&work), "--index", "2"]);
    // A shard index outside the plan is a usage error naming the range.
    let (code, _, err) = gm2dqc(&["shard", s(&work), "--index", "3"]);
    assert_eq!(code, 1);
    assert!(err.contains("no shard 3") && err.contains("0 to 2"), "{err}");

    // Shard 1 has not run: refused, with the shard and what to do.
    let (code, _, err) = gm2dqc(&["reduce", s(&work)]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("shard 1: pending") && err.contains("--resubmit-failed") && err.contains("--allow-partial"), "{err}");
    assert!(!work.join("out").join("summary.json").exists());
    let (_, status, _) = gm2dqc(&["status", "--campaign", s(&work), "--json"]);
    let st: Value = serde_json::from_str(&status).unwrap();
    assert_eq!(st["counts"], serde_json::json!({"done": 2, "pending": 1}), "{st}");

    // --allow-partial: what is there, with the missing subruns recorded.
    let plan = plan_of(&work);
    let expected: Vec<(u32, u32)> = (plan.shards[1].chunks.0..plan.shards[1].chunks.1).flat_map(|c| plan.subruns(plan.chunks[c]).map(|id| (id.run, id.subrun)).collect::<Vec<_>>()).collect();
    let (code, text, err) = gm2dqc(&["reduce", s(&work), "--allow-partial", "--json"]);
    assert_eq!(code, 1, "{text}{err}");
    let j: Value = serde_json::from_str(&text).unwrap();
    let missing: Vec<(u32, u32)> = serde_json::from_value(j["analysis"]["missing_subruns"].clone()).unwrap();
    assert_eq!(missing, expected);
    let metrics = gm2dqc::tables::Table::read(&work.join("out/subrun_metrics.parquet")).unwrap();
    assert_eq!(metrics.height(), plan.files.len() - expected.len(), "missing subruns are in no table");
    let errors = std::fs::read_to_string(work.join("out/errors.txt")).unwrap();
    assert!(errors.contains("of shard 1: no partial result; left out (--allow-partial)"), "{errors}");

    // A chunk file changed after its shard wrote it: that partial result is not used.
    ok(&["-q", "shard", s(&work), "--index", "1"]);
    let chunk = std::fs::read_dir(gm2dqc::campaign::result_dir(&work, 0)).unwrap().map(|e| e.unwrap().path()).find(|p| p.extension().is_some_and(|e| e == "root")).unwrap();
    let original = std::fs::read(&chunk).unwrap();
    let mut bytes = original.clone();
    let k = bytes.len() / 2;
    bytes[k] ^= 1;
    std::fs::write(&chunk, &bytes).unwrap();
    let (code, _, err) = gm2dqc(&["reduce", s(&work)]);
    assert_eq!(code, 2, "{err}");
    // The shard whose result was refused is not "done": the reduce names its problem.
    assert!(err.contains("shard 0: failed") && !err.contains("shard 0: done"), "{err}");
    assert!(err.contains("not used") && err.contains("SHA-256") && err.contains(chunk.file_name().unwrap().to_str().unwrap()), "{err}");
    std::fs::write(&chunk, &original).unwrap();

    // The same chunk twice with different content: the reduce will not choose.
    let copy = dir.0.join("elsewhere").join("shard-00001");
    std::fs::create_dir_all(&copy).unwrap();
    for e in std::fs::read_dir(gm2dqc::campaign::result_dir(&work, 1)).unwrap() {
        let p = e.unwrap().path();
        std::fs::copy(&p, copy.join(p.file_name().unwrap())).unwrap();
    }
    let pj = copy.join("partial.json");
    let mut p: gm2dqc::campaign::Partial = serde_json::from_slice(&std::fs::read(&pj).unwrap()).unwrap();
    p.chunks[0].errors.push("an error the other copy does not have".into());
    std::fs::write(&pj, serde_json::to_vec(&p).unwrap()).unwrap();
    let (code, _, err) = gm2dqc(&["reduce", s(&work), "--from", s(copy.parent().unwrap())]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("two different partial results") && err.contains("elsewhere"), "{err}");
    // Without it, the full set reduces.
    let (code, _, err) = gm2dqc(&["reduce", s(&work)]);
    assert_eq!(code, 1, "{err}");
}

/// Replaces a file by a FIFO: a process that reads it blocks, as on a hung storage
/// mount, until it is killed. A subrun file cannot hang this way (the analysis refuses
/// anything but a regular file without opening it: tests/inputs.rs), but the
/// campaign's cut file may legitimately be a pipe, and every shard reads it after its
/// start marker. Returns the file's bytes for putting it back.
fn hang(file: &Path) -> Vec<u8> {
    let bytes = std::fs::read(file).unwrap();
    std::fs::remove_file(file).unwrap();
    let st = Command::new("mkfifo").arg(file).status().unwrap();
    assert!(st.success());
    bytes
}

fn unhang(file: &Path, bytes: &[u8]) {
    std::fs::remove_file(file).unwrap();
    std::fs::write(file, bytes).unwrap();
}

/// The standard cut set as a file of its own, so that a campaign has a copy in WORK.
fn cut_file(dir: &Path) -> PathBuf {
    let p = dir.join("standard-copy.toml");
    std::fs::write(&p, gm2dqc::cuts::STANDARD_TOML).unwrap();
    p
}

/// The partial.json of every shard of `n` but `k` (to check that they were not rerun).
fn other_partials(work: &Path, n: usize, k: usize) -> Vec<String> {
    (0..n).filter(|&i| i != k).map(|i| std::fs::read_to_string(gm2dqc::campaign::result_dir(work, i).join("partial.json")).unwrap()).collect()
}

fn wait_for(what: &str, limit: Duration, mut done: impl FnMut() -> bool) {
    let t0 = Instant::now();
    while !done() {
        assert!(t0.elapsed() < limit, "timed out after {limit:?} waiting for {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn a_shard_killed_mid_way_is_rerun_alone() {
    let dir = TempDir::new("campaign-kill");
    let sim = dataset(&dir.0, "23");
    let cuts = cut_file(&dir.0);
    let one = dir.0.join("one");
    one_run(&sim, &one, &["--cuts", s(&cuts)]);
    let work = dir.0.join("work");
    ok(&["plan", "--input", s(&sim), "--shards", "3", "--out", s(&work), "--tag", "t", "--cuts", s(&cuts)]);
    let k = 1;
    let copy = work.join("cuts.toml");
    let bytes = hang(&copy);
    let mut child = Command::new(env!("CARGO_BIN_EXE_gm2dqc")).args(["shard", s(&work), "--index", &k.to_string()]).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
    wait_for("the shard's start marker", Duration::from_secs(60), || gm2dqc::campaign::marker_path(&work, k, "running").exists());
    let (_, status, _) = gm2dqc(&["status", "--campaign", s(&work)]);
    assert!(status.contains("running: started"), "{status}");
    child.kill().unwrap();
    child.wait().unwrap();
    unhang(&copy, &bytes);
    for i in (0..3).filter(|&i| i != k) {
        ok(&["-q", "shard", s(&work), "--index", &i.to_string()]);
    }
    let (_, status, _) = gm2dqc(&["status", "--campaign", s(&work), "--json"]);
    let st: Value = serde_json::from_str(&status).unwrap();
    assert_eq!(st["shards"][k]["label"], "killed", "{st}");
    assert!(!gm2dqc::campaign::result_dir(&work, k).exists(), "a killed shard leaves no partial result");
    let before = other_partials(&work, 3, k);

    let (code, _, err) = gm2dqc(&["reduce", s(&work)]);
    assert_eq!(code, 2);
    assert!(err.contains(&format!("shard {k}: killed")), "{err}");
    // --resubmit-failed picks exactly the killed shard and says how to rerun it.
    let text = ok(&["plan", "--out", s(&work), "--resubmit-failed"]);
    assert!(text.contains(&format!("shard {k}: killed")) && text.contains(&format!("--array={k} ")), "{text}");
    let list = std::fs::read_to_string(work.join("submit/resubmit.txt")).unwrap();
    assert_eq!(list, format!("{k}\n"));
    ok(&["-q", "shard", s(&work), "--index", &k.to_string()]);
    let after = other_partials(&work, 3, k);
    assert_eq!(before, after, "only the killed shard ran again");
    let text = ok(&["plan", "--out", s(&work), "--resubmit-failed"]);
    assert!(text.contains("nothing to resubmit: 3 done"), "{text}");
    let (code, _, err) = gm2dqc(&["reduce", s(&work)]);
    assert_eq!(code, 1, "{err}");
    assert_same_results(&one, &work.join("out"), "after the rerun of the killed shard");
}

/// The Slurm tests need the cluster scripts/test.sh starts (SLURM_CONF); in CI they
/// must run.
fn slurm() -> bool {
    if std::env::var_os("SLURM_CONF").is_some() {
        return true;
    }
    assert!(std::env::var("CI").as_deref() != Ok("true"), "CI=true but no Slurm cluster (SLURM_CONF): scripts/slurm.sh start failed?");
    eprintln!("skipped: no Slurm cluster (scripts/test.sh starts one with scripts/slurm.sh)");
    false
}

/// Waits until Slurm no longer lists any of the campaign's jobs.
fn wait_for_slurm(work: &Path, limit: Duration) {
    let jobs: Vec<String> = gm2dqc::campaign::scripts::submissions(work).into_iter().flat_map(|s| std::iter::once(s.shards_job).chain(s.reduce_job)).collect();
    wait_for(&format!("Slurm jobs {jobs:?}"), limit, || {
        // Every job, filtered here: squeue -j fails on ids it has forgotten.
        let o = Command::new("squeue").args(["-h", "-o", "%F"]).output().unwrap();
        assert!(o.status.success(), "squeue: {}", String::from_utf8_lossy(&o.stderr));
        !String::from_utf8_lossy(&o.stdout).lines().any(|l| jobs.iter().any(|j| j == l.trim()))
    });
}

#[test]
fn slurm_runs_the_shards_as_a_job_array_and_the_reduce_after_them() {
    if !slurm() {
        return;
    }
    let dir = TempDir::new("campaign-slurm");
    let sim = dataset(&dir.0, "24");
    let one = dir.0.join("one");
    one_run(&sim, &one, &[]);
    let work = dir.0.join("work");
    let text = ok(&["plan", "--input", s(&sim), "--shards", "4", "--out", s(&work), "--tag", "t", "--submit", "slurm"]);
    assert!(text.contains("submitted to Slurm: shards 0-3 as job") && text.contains("after all of them succeeded"), "{text}");
    wait_for_slurm(&work, Duration::from_secs(600));
    let log = std::fs::read_to_string(work.join("logs/reduce.log")).unwrap_or_default();
    assert!(work.join("out/elog.txt").exists(), "the reduce job ran to the end: {log}");
    for i in 0..4 {
        let l = std::fs::read_to_string(work.join(format!("logs/shard-{i}.log"))).unwrap();
        assert!(l.contains(&format!("shard {i}:")), "{l}");
        let p: gm2dqc::campaign::Partial = serde_json::from_slice(&std::fs::read(gm2dqc::campaign::result_dir(&work, i).join("partial.json")).unwrap()).unwrap();
        assert!(p.chunks.iter().all(|c| !c.inputs.is_empty()));
    }
    assert_same_results(&one, &work.join("out"), "Slurm job array");
    let (_, board, _) = gm2dqc(&["status", "--db", s(&work.join("out/conditions.sqlite")), "--json"]);
    let b: Value = serde_json::from_str(&board).unwrap();
    // Each column's stage is Done; the upload column waits for a second person's sign-off.
    let states: Vec<&str> = b["rows"][0]["cells"].as_array().unwrap().iter().map(|c| c["stages"][0]["state"].as_str().unwrap()).collect();
    assert_eq!(states, vec!["done"; 7], "{board}");
}

#[test]
fn slurm_a_killed_shard_is_resubmitted_alone_and_the_reduce_follows_it() {
    if !slurm() {
        return;
    }
    let dir = TempDir::new("campaign-slurm-kill");
    let sim = dataset(&dir.0, "25");
    let one = dir.0.join("one");
    one_run(&sim, &one, &[]);
    let work = dir.0.join("work");
    ok(&["plan", "--input", s(&sim), "--shards", "3", "--out", s(&work), "--tag", "t", "--submit", "slurm"]);
    // Shard 1 is stopped (SIGSTOP) as soon as it has started, as a hung storage mount
    // would stop it: its start marker stays, it never finishes. (The single-node
    // cluster runs on this host, so the marker's pid is a process here.)
    let k = 1;
    let marker = gm2dqc::campaign::marker_path(&work, k, "running");
    let t0 = Instant::now();
    let pid = loop {
        if let Some(m) = std::fs::read(&marker).ok().and_then(|b| serde_json::from_slice::<gm2dqc::campaign::Marker>(&b).ok()) {
            break m.pid;
        }
        assert!(t0.elapsed() < Duration::from_secs(600), "shard {k} did not start");
        std::thread::sleep(Duration::from_millis(5));
    };
    assert!(Command::new("kill").args(["-STOP", &pid.to_string()]).status().unwrap().success());
    assert!(!gm2dqc::campaign::result_dir(&work, k).exists(), "shard {k} finished before it could be stopped");
    let job = gm2dqc::campaign::scripts::submissions(&work)[0].clone();
    wait_for("the stuck shard's start and the others' results", Duration::from_secs(600), || {
        gm2dqc::campaign::marker_path(&work, k, "running").exists() && (0..3).filter(|&i| i != k).all(|i| gm2dqc::campaign::result_dir(&work, i).join("partial.json").exists())
    });
    let st = Command::new("scancel").arg(format!("{}_{k}", job.shards_job)).status().unwrap();
    assert!(st.success());
    // The reduce depends on every shard succeeding: Slurm cancels it.
    wait_for_slurm(&work, Duration::from_secs(120));
    assert!(!work.join("out/summary.json").exists(), "the reduce must not run after a shard failed");
    let (_, status, _) = gm2dqc(&["status", "--campaign", s(&work), "--json"]);
    let stj: Value = serde_json::from_str(&status).unwrap();
    assert_eq!(stj["shards"][k]["label"], "killed", "{stj}");
    let before = other_partials(&work, 3, k);

    let text = ok(&["plan", "--out", s(&work), "--resubmit-failed", "--submit", "slurm"]);
    assert!(text.contains(&format!("shard {k}: killed")) && text.contains(&format!("submitted to Slurm: shards {k} as job")), "{text}");
    wait_for_slurm(&work, Duration::from_secs(600));
    let after = other_partials(&work, 3, k);
    assert_eq!(before, after, "only the killed shard ran again");
    assert!(work.join("out/elog.txt").exists(), "the new reduce ran: {}", std::fs::read_to_string(work.join("logs/reduce.log")).unwrap_or_default());
    assert_same_results(&one, &work.join("out"), "Slurm, after the resubmission");
}

/// How a field of a JSON file is damaged.
#[derive(Debug, Clone)]
enum Edit {
    /// A string cut to 5 characters.
    Short,
    Empty,
    /// 64 bytes of non-ASCII text with a character across byte 12.
    NonAscii,
    /// A number for a string, a string for a number, `true` for an array or object.
    WrongType,
    /// u64::MAX.
    Huge,
    Missing,
    Set(Value),
}

fn edited(doc: &Value, pointer: &str, edit: &Edit) -> Value {
    let mut d = doc.clone();
    let (parent, key) = pointer.rsplit_once('/').unwrap();
    let p = d.pointer_mut(parent).unwrap_or_else(|| panic!("{pointer}: no such field in the file"));
    if let Edit::Missing = edit {
        match p {
            Value::Object(o) => assert!(o.remove(key).is_some(), "{pointer}"),
            Value::Array(a) => {
                a.remove(key.parse::<usize>().unwrap());
            }
            _ => panic!("{pointer}"),
        }
        return d;
    }
    let v = p.pointer_mut(&format!("/{key}")).unwrap_or_else(|| panic!("{pointer}: no such field"));
    *v = match edit {
        Edit::Short => Value::String(v.as_str().unwrap_or_else(|| panic!("{pointer} is not a string")).chars().take(5).collect()),
        Edit::Empty => Value::String(String::new()),
        Edit::NonAscii => Value::String(format!("a{}b", "é".repeat(31))),
        Edit::WrongType => match v {
            Value::String(_) => serde_json::json!(5),
            Value::Number(_) => serde_json::json!("x"),
            _ => serde_json::json!(true),
        },
        Edit::Huge => serde_json::json!(u64::MAX),
        Edit::Set(x) => x.clone(),
        Edit::Missing => unreachable!(),
    };
    d
}

/// Runs `f` and turns a panic into a failure line (the table reports every case).
fn no_panic<T>(what: &str, f: impl FnOnce() -> T + std::panic::UnwindSafe) -> Result<T, String> {
    std::panic::catch_unwind(f).map_err(|p| format!("{what}: PANIC {:?}", p.downcast_ref::<String>().cloned().or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))))
}

#[test]
fn every_field_of_plan_and_partial_json_is_checked_on_load() {
    let dir = TempDir::new("campaign-fields");
    let sim = dir.0.join("sim");
    // 17 subruns: chunks of 8, 8 and 1 files; shard 1 has the last two chunks.
    ok(&["-q", "simulate", "--out", s(&sim), "--runs", "1", "--subruns", "17", "--seed", "26"]);
    let work = dir.0.join("work");
    ok(&["plan", "--input", s(&sim), "--shards", "2", "--out", s(&work)]);
    ok(&["-q", "shard", s(&work), "--index", "1"]);
    let plan_path = work.join("plan.json");
    let plan_text = std::fs::read(&plan_path).unwrap();
    let plan_doc: Value = serde_json::from_slice(&plan_text).unwrap();
    let (plan, plan_sha) = gm2dqc::campaign::Plan::load(&work).unwrap();
    assert_eq!((plan.chunks.len(), plan.shards[1].chunks), (3, (1, 3)), "the layout this test assumes");
    let last_file = plan.files.len() - 1;
    let rd = gm2dqc::campaign::result_dir(&work, 1);
    let pj = rd.join("partial.json");
    let partial_text = std::fs::read(&pj).unwrap();
    let partial_doc: Value = serde_json::from_slice(&partial_text).unwrap();
    gm2dqc::campaign::load_partial_json(&rd).expect("the shard's own result loads");

    use Edit::*;
    let hash = [Short, Empty, NonAscii, WrongType, Missing];
    let text = [Empty, WrongType, Missing];
    let mut plan_cases: Vec<(String, Edit, String)> = Vec::new();
    let add = |cases: &mut Vec<(String, Edit, String)>, pointer: &str, edits: &[Edit], field: &str| {
        for e in edits {
            cases.push((pointer.to_string(), e.clone(), field.to_string()));
        }
    };
    for (p, f) in [("/format", "format"), ("/analysis_id", "analysis_id"), ("/cuts/sha256", "cuts.sha256")] {
        add(&mut plan_cases, p, &hash, f);
    }
    for (p, f) in [("/cuts/source", "cuts.source"), ("/input", "input"), ("/dataset", "dataset"), ("/files/0/path", "files[0].path"), ("/jobs/gm2dqc", "jobs.gm2dqc")] {
        add(&mut plan_cases, p, &text, f);
    }
    add(&mut plan_cases, "/cwd", &[Empty, WrongType, Missing, Set("relative/dir".into())], "cwd");
    add(&mut plan_cases, "/cuts/copy", &[Empty, WrongType, Set("../cuts.toml".into()), Set("/etc/passwd".into())], "cuts.copy");
    add(&mut plan_cases, &format!("/files/{last_file}/size"), &[Huge, WrongType, Missing, Set((-1).into()), Set(1e300.into())], &format!("files[{last_file}].size"));
    add(&mut plan_cases, "/files/1/run", &[Huge, WrongType], "files[1].run");
    add(&mut plan_cases, "/files/1/run", &[Set(0.into())], "files[1]");
    add(&mut plan_cases, "/files/1/subrun", &[Set(0.into())], "files[1]");
    add(&mut plan_cases, "/chunks/0/len", &[Set(0.into()), Set(9.into()), Huge, WrongType, Missing], "chunks[0].len");
    add(&mut plan_cases, "/chunks/1/first", &[Set(5.into()), Huge], "chunks[1].first");
    add(&mut plan_cases, "/chunks/1/interval", &[Set(7.into()), Huge], "chunks[1].interval");
    add(&mut plan_cases, "/shards/0/chunks", &[Set(serde_json::json!([0, 99])), Set(serde_json::json!([0])), WrongType, Missing], "shards[0].chunks");
    add(&mut plan_cases, "/shards/1/index", &[Set(0.into()), Huge], "shards[1].index");
    add(&mut plan_cases, "/shards/0/bytes", &[Huge, Set(0.into()), WrongType], "shards[0].bytes");
    add(&mut plan_cases, "/shards/0/files", &[Set(0.into()), Huge], "shards[0].files");
    add(&mut plan_cases, "/shards", &[Set(serde_json::json!([])), WrongType, Missing], "shards");
    add(&mut plan_cases, "/references", &[Set(serde_json::json!([])), Missing], "references");
    add(&mut plan_cases, "/plan_intervals/0", &[Set(serde_json::json!([15921, 1]))], "plan_intervals[0]");
    add(&mut plan_cases, "/jobs/threads", &[Set(0.into()), Huge, WrongType], "jobs.threads");
    add(&mut plan_cases, "/jobs/tag", &[Set("a\nb".into()), WrongType, Missing], "jobs.tag");
    add(&mut plan_cases, "/jobs/partition", &[Set("p\n#SBATCH --x".into()), Empty], "jobs.partition");

    let mut failures = Vec::new();
    for (pointer, edit, field) in &plan_cases {
        std::fs::write(&plan_path, serde_json::to_vec_pretty(&edited(&plan_doc, pointer, edit)).unwrap()).unwrap();
        let w = work.clone();
        match no_panic(&format!("plan {pointer} {edit:?}"), move || gm2dqc::campaign::Plan::load(&w).map(|_| ())) {
            Err(p) => failures.push(p),
            Ok(Ok(())) => failures.push(format!("plan.json {pointer} {edit:?}: accepted")),
            Ok(Err(e)) => {
                let m = format!("{e:#}");
                if !(m.contains(plan_path.to_str().unwrap()) && m.contains(&format!("field `{field}`")) && m.contains("gm2dqc plan")) {
                    failures.push(format!("plan.json {pointer} {edit:?}: the error does not name the file and `{field}` with what to do: {m}"));
                }
            }
        }
    }
    // Through the commands: exit 2 and the message, never a panic (101).
    std::fs::write(&plan_path, serde_json::to_vec_pretty(&edited(&plan_doc, "/analysis_id", &NonAscii)).unwrap()).unwrap();
    for args in [vec!["reduce", s(&work)], vec!["status", "--campaign", s(&work)], vec!["shard", s(&work), "--index", "0"]] {
        let (code, out, err) = gm2dqc(&args);
        if code != 2 || !err.contains("field `analysis_id`") || err.contains("panicked") {
            failures.push(format!("{args:?} with a non-ASCII analysis_id: exit {code}: {out}{err}"));
        }
    }
    std::fs::write(&plan_path, &plan_text).unwrap();

    // partial.json: load_partial_json, the reduce's collect, and the shard states.
    let last_chunk = 1; // shard 1's second chunk
    let mut partial_cases: Vec<(String, Edit, String)> = Vec::new();
    for (p, f) in [("/format", "format"), ("/analysis_id", "analysis_id"), ("/plan_sha256", "plan_sha256"), ("/metrics_sha256", "metrics_sha256"), ("/chunks/0/sha256", "chunks[0].sha256"), ("/chunks/0/inputs/0/sha256", "chunks[0].inputs[0].sha256")] {
        add(&mut partial_cases, p, &hash, f);
    }
    for (p, f) in [("/metrics", "metrics"), ("/chunks/0/file", "chunks[0].file")] {
        add(&mut partial_cases, p, &[Empty, WrongType, Missing, Set("../plan.json".into()), Set("a/b".into()), Set("..".into())], f);
    }
    add(&mut partial_cases, "/host", &text, "host");
    add(&mut partial_cases, "/chunks/0/inputs/0/path", &text, "chunks[0].inputs[0].path");
    add(&mut partial_cases, "/seconds", &[Set((-1.0).into()), WrongType, Missing], "seconds");
    add(&mut partial_cases, "/threads", &[Set(0.into()), Huge, WrongType], "threads");
    add(&mut partial_cases, "/chunks/0/files_failed", &[Set(9.into()), Huge, WrongType, Missing], "chunks[0].files_failed");
    add(&mut partial_cases, &format!("/chunks/{last_chunk}/bytes"), &[Huge, WrongType, Set((-5).into())], &format!("chunks[{last_chunk}].bytes"));
    add(&mut partial_cases, "/chunks/1/index", &[Set(7.into()), Huge], "chunks[1].index");
    add(&mut partial_cases, "/chunks/0/chunk/len", &[Set(0.into()), Set(9.into())], "chunks[0].chunk.len");
    add(&mut partial_cases, "/chunks", &[Set(serde_json::json!([])), WrongType, Missing], "chunks");
    add(&mut partial_cases, "/shard", &[WrongType, Set((-1).into())], "shard");
    let queued = std::collections::BTreeSet::new();
    for (pointer, edit, field) in &partial_cases {
        std::fs::write(&pj, serde_json::to_vec_pretty(&edited(&partial_doc, pointer, edit)).unwrap()).unwrap();
        let named = |m: &str| m.contains(pj.to_str().unwrap()) && m.contains(&format!("field `{field}`")) && m.contains("rerun its shard");
        let r = rd.clone();
        match no_panic(&format!("partial {pointer} {edit:?}"), move || gm2dqc::campaign::load_partial_json(&r).map(|_| ())) {
            Err(p) => failures.push(p),
            Ok(Ok(())) => failures.push(format!("partial.json {pointer} {edit:?}: accepted")),
            Ok(Err(e)) if !named(&e.to_string()) || e.field() != Some(field.as_str()) => failures.push(format!("partial.json {pointer} {edit:?}: {e}")),
            Ok(Err(_)) => {}
        }
        let (r, p) = (rd.clone(), plan.clone());
        match no_panic(&format!("collect {pointer} {edit:?}"), move || gm2dqc::campaign::reduce::collect(&[r], &p)) {
            Err(p) => failures.push(p),
            Ok(c) if !(c.sources.is_empty() && c.rejected.len() == 1 && named(&c.rejected[0].1)) => failures.push(format!("collect, partial.json {pointer} {edit:?}: {:?}", c.rejected)),
            Ok(_) => {}
        }
        let states = gm2dqc::campaign::shard_states(&work, &plan, &plan_sha, &queued);
        match &states[1] {
            gm2dqc::campaign::ShardState::Failed { marker } if marker.error.as_deref().is_some_and(named) => {}
            other => failures.push(format!("shard state, partial.json {pointer} {edit:?}: {other:?}")),
        }
    }
    // Through the reduce: the partial result is not used, for the reason given, and
    // its shard is not "done".
    std::fs::write(&pj, serde_json::to_vec_pretty(&edited(&partial_doc, "/chunks/0/sha256", &NonAscii)).unwrap()).unwrap();
    let (code, out, err) = gm2dqc(&["reduce", s(&work)]);
    if code != 2 || !err.contains("not used") || !err.contains("field `chunks[0].sha256`") || err.contains("shard 1: done") || !err.contains("shard 1: failed") || err.contains("panicked") {
        failures.push(format!("reduce with a non-ASCII chunk hash: exit {code}: {out}{err}"));
    }
    std::fs::write(&pj, &partial_text).unwrap();
    assert!(failures.is_empty(), "{} of {} cases not refused cleanly:\n{}", failures.len(), plan_cases.len() + partial_cases.len(), failures.join("\n"));
}

#[test]
fn a_refused_result_is_reported_with_its_problem_and_stale_temporaries_are_removed() {
    let dir = TempDir::new("campaign-refused");
    let sim = dir.0.join("sim");
    ok(&["-q", "simulate", "--out", s(&sim), "--runs", "1", "--subruns", "9", "--seed", "27", "--faults", "none"]);
    let work = dir.0.join("work");
    ok(&["plan", "--input", s(&sim), "--shards", "2", "--out", s(&work)]);
    // Temporary directories of killed shards: one of this host (its pid never ran:
    // above the kernel's pid limit), one of another host, one of another shard.
    let host: String = gm2dqc::db::host_name().chars().map(|c| if c.is_ascii_alphanumeric() || c == '.' || c == '_' { c } else { '_' }).collect();
    let shards = gm2dqc::campaign::shards_dir(&work);
    let dead = shards.join(format!(".shard-00000.tmp-{host}-99999999"));
    let elsewhere = shards.join(".shard-00000.tmp-otherhost-99999999");
    let other = shards.join(format!(".shard-00001.tmp-{host}-99999999"));
    for d in [&dead, &elsewhere, &other] {
        std::fs::create_dir_all(d).unwrap();
    }
    // A temporary directory with a complete partial.json is not published: the reduce
    // does not take it.
    ok(&["-q", "shard", s(&work), "--index", "0"]);
    assert!(!dead.exists(), "the rerun of shard 0 removes its stale temporary directory");
    assert!(elsewhere.exists() && other.exists(), "another host's and another shard's are left alone");
    assert_eq!(gm2dqc::campaign::shard::clean_stale_tmp(&work, None), vec![other.clone()]);
    assert!(elsewhere.exists());
    copy_dir(&gm2dqc::campaign::result_dir(&work, 0), &elsewhere);
    assert_eq!(gm2dqc::campaign::find_partials(std::slice::from_ref(&shards)).unwrap(), vec![gm2dqc::campaign::result_dir(&work, 0)]);

    ok(&["-q", "shard", s(&work), "--index", "1"]);
    // A chunk file cut short after its shard wrote it: the reduce names the problem,
    // and does not call the shard done.
    let rd = gm2dqc::campaign::result_dir(&work, 0);
    let chunk = rd.join("chunk-000000.root");
    let original = std::fs::read(&chunk).unwrap();
    std::fs::write(&chunk, &original[..original.len() - 1]).unwrap();
    let (code, _, err) = gm2dqc(&["reduce", s(&work)]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("1 shards are not done") && !err.contains("shard 0: done"), "{err}");
    assert!(err.contains("shard 0: failed") && err.contains("chunk-000000.root") && err.contains("refused"), "{err}");
    // A shard rerun does not take it for done either: it says what is in the way.
    let (code, _, err) = gm2dqc(&["shard", s(&work), "--index", "0"]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("in the way") && err.contains("chunk-000000.root") && err.contains("remove it"), "{err}");
    // One changed byte, same size: only the checksums show it. The states that know
    // the reduce's refusals report it.
    let mut bytes = original.clone();
    let k = bytes.len() / 2;
    bytes[k] ^= 1;
    std::fs::write(&chunk, &bytes).unwrap();
    let (plan, sha) = gm2dqc::campaign::Plan::load(&work).unwrap();
    let c = gm2dqc::campaign::reduce::collect(&gm2dqc::campaign::find_partials(std::slice::from_ref(&shards)).unwrap(), &plan);
    assert_eq!(c.rejected.len(), 1);
    let states = gm2dqc::campaign::shard_states_checked(&work, &plan, &sha, &Default::default(), &c.rejected);
    match &states[0] {
        gm2dqc::campaign::ShardState::Failed { marker } => {
            let e = marker.error.as_deref().unwrap();
            assert!(e.contains("SHA-256") && e.contains("chunk-000000.root") && e.contains("refused"), "{e}");
        }
        other => panic!("shard 0 with a changed chunk file: {other:?}"),
    }
    assert_eq!(states[1].label(), "done");
    std::fs::write(&chunk, &original).unwrap();
    let (code, _, err) = gm2dqc(&["reduce", s(&work)]);
    assert_eq!(code, 0, "the restored set reduces: {err}");
}

fn copy_dir(from: &Path, to: &Path) {
    for e in std::fs::read_dir(from).unwrap() {
        let p = e.unwrap().path();
        std::fs::copy(&p, to.join(p.file_name().unwrap())).unwrap();
    }
}
