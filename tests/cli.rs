//! The command line as shifters and scripts use it: every stage alone and chained by `run`,
//! resumability, bad inputs and their exit codes.

use std::process::Command;

use serde_json::Value;

use crate::common::{fixture, TempDir};

pub fn gm2dqc(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_gm2dqc")).args(args).output().expect("binary runs");
    (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
}

#[test]
fn inspect_object_json_has_exactly_the_documented_keys() {
    let f = fixture("root-written/uproot-hepdata-example.root");
    let expected: Value = serde_json::from_str(&std::fs::read_to_string(fixture("root-written/uproot-hepdata-example.root.json")).unwrap()).unwrap();
    for (path, keys_in_order) in [("hpx", true), ("hprof", true), ("hpxpy", true)] {
        let (code, out, err) = gm2dqc(&["inspect", f.to_str().unwrap(), "--object", path, "--json"]);
        assert_eq!(code, 0, "{err}");
        assert_eq!(out.lines().count(), 1, "one JSON object on one line");
        let v: Value = serde_json::from_str(&out).unwrap();
        let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
        let mut want = vec!["path", "class", "title", "entries", "axes", "values", "variances", "errors"];
        if !keys_in_order {
            want.sort();
        }
        let mut got = keys.clone();
        got.sort();
        let mut w2 = want.clone();
        w2.sort();
        assert_eq!(got, w2, "{path}");
        // Field order as documented (serde_json keeps insertion order with preserve_order
        // off only alphabetically, so check the raw text).
        let positions: Vec<usize> = want.iter().map(|k| out.find(&format!("\"{k}\":")).unwrap()).collect();
        assert!(positions.windows(2).all(|w| w[0] < w[1]), "{path}: keys out of order: {out:.200}");
        let e = expected["objects"].as_array().unwrap().iter().find(|o| o["path"] == path).unwrap();
        assert_eq!(v["class"], e["class"]);
        assert_eq!(v["values"].as_array().unwrap().len(), e["values"].as_array().unwrap().len());
        assert_eq!(v["variances"].is_null(), e["variances"].is_null());
        assert_eq!(v["errors"].is_null(), e["errors"].is_null());
    }
}

#[test]
fn inspect_lists_nested_objects() {
    let f = fixture("root640/classes-zstd.root");
    let (code, out, err) = gm2dqc(&["inspect", f.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    for want in ["dir1/dir2/dir3/h2;1", "dir1/dir2/prof;1", "cyc;2", "cyc;1", "TProfile2D", "zstd"] {
        assert!(out.contains(want), "{want} missing from:\n{out}");
    }
    let (code, out, _) = gm2dqc(&["inspect", f.to_str().unwrap(), "--json"]);
    assert_eq!(code, 0);
    let v: Value = serde_json::from_str(&out).unwrap();
    assert!(v.as_array().unwrap().iter().any(|o| o["path"] == "dir1/dir2/dir3/h2" && o["entries"].as_f64().is_some()));
}

#[test]
fn inspect_bad_input_exits_1_with_the_file_named() {
    let dir = crate::common::TempDir::new("cli");
    let bad = dir.0.join("not-root.root");
    std::fs::write(&bad, b"this is a log file, not ROOT").unwrap();
    let (code, _, err) = gm2dqc(&["inspect", bad.to_str().unwrap()]);
    assert_eq!(code, 1);
    assert!(err.contains("not-root.root") && err.contains("not a ROOT file"), "{err}");
    let f = fixture("root640/classes-zstd.root");
    let (code, _, err) = gm2dqc(&["inspect", f.to_str().unwrap(), "--object", "dir1/nope", "--json"]);
    assert_eq!(code, 1);
    assert!(err.contains("nope") && err.contains("dir2"), "{err}");
}

/// The columns of spec section 3 (subrun_metrics), in order.
const SUBRUN_METRICS_COLUMNS: &str = "run subrun file start_time end_time fills fills_nodqc fill_fraction ctags ctags_nodqc ctags_per_fill t0 \
    ibms1x_mean ibms1y_mean ibms2x_mean ibms2y_mean ibms1x_rms ibms1y_rms ibms2x_rms ibms2y_rms quad_step1 quad_step2 \
    kicker1_amplitude kicker2_amplitude kicker3_amplitude kicker1_timing kicker2_timing kicker3_timing kicker1_fwhm kicker2_fwhm kicker3_fwhm \
    laser1_sm laser2_sm laser3_sm laser4_sm laser5_sm laser6_sm singles doubles background loss_ratio loss_ratio_err loss_ratio_ctags \
    loss_ratio_ctags_err n_dead_xtals n_hot_xtals n_noisy_xtals n_dead_straws n_noisy_straws hv_trip_fills";

/// Spec section 4's columns, with the extras of gain_constants (ifg_norm_err, detail,
/// and the reference run of issue 18).
const GAIN_COLUMNS: &str = "run_first run_last calo xtal channel oof_ratio oof_ratio_err gain gain_err energy_scale ifg_norm ifg_norm_err ifg_amp \
    ifg_amp_err ifg_tau_us ifg_tau_err ifg_cov_amp_tau ifg_chi2_ndf ifg_ndf status detail reference_run";
/// Issue 18: the calorimeters' quality and the per-run DQC constants of the checklist.
const CALO_QUALITY_COLUMNS: &str = "run_first run_last calo n_dead n_hot n_noisy n_bad max_bad ok";
const KICKER_DQC_COLUMNS: &str = "run kicker n_subruns amplitude_median_kv amplitude_width_kv amplitude_low_kv amplitude_high_kv \
    timing_median_ns timing_width_ns timing_low_ns timing_high_ns fwhm_median_ns fwhm_width_ns fwhm_low_ns fwhm_high_ns k";
const T0_DQC_COLUMNS: &str = "run n_subruns t0_reference t0_width t0_low t0_high k";
const LASER_DQC_COLUMNS: &str = "run laser n_subruns sm_reference sm_width sm_low sm_high k";
const CALO_COLUMNS: &str = "run_first run_last channel calo xtal hits pedestal_rms dead hot noisy ok";
const TRACKER_COLUMNS: &str = "run_first run_last channel station module straw hits drift_mean_ns drift_rms_ns dead noisy ok";

#[test]
fn analyze_writes_the_tables_and_exits_1_naming_a_broken_file() {
    let dir = TempDir::new("cli-analyze");
    let sim = dir.0.join("sim");
    let (code, _, err) = gm2dqc(&["simulate", "--out", sim.to_str().unwrap(), "--runs", "1", "--subruns", "3", "--seed", "3"]);
    assert_eq!(code, 0, "{err}");
    // Cut one file in half: it can no longer be read, the other two are analysed.
    let broken = sim.join("gm2dqc_sim_15921.00002.root");
    let bytes = std::fs::read(&broken).unwrap();
    std::fs::write(&broken, &bytes[..bytes.len() / 2]).unwrap();
    let out = dir.0.join("out");
    let (code, stdout, err) = gm2dqc(&["analyze", "--input", sim.to_str().unwrap(), "--out", out.to_str().unwrap(), "--threads", "2"]);
    assert_eq!(code, 1, "stdout: {stdout}\nstderr: {err}");
    assert!(stdout.contains("FAILED") && stdout.contains("gm2dqc_sim_15921.00002.root"), "{stdout}");
    let errors = std::fs::read_to_string(out.join("errors.txt")).unwrap();
    assert!(errors.contains("gm2dqc_sim_15921.00002.root"), "{errors}");
    for (table, columns, rows) in [
        ("subrun_metrics", SUBRUN_METRICS_COLUMNS, 3),
        ("gain_constants", GAIN_COLUMNS, 1296),
        ("calo_channel_status", CALO_COLUMNS, 1296),
        ("tracker_channel_status", TRACKER_COLUMNS, 2048),
        ("calo_quality", CALO_QUALITY_COLUMNS, 24),
        ("kicker_dqc", KICKER_DQC_COLUMNS, 3),
        ("t0_dqc", T0_DQC_COLUMNS, 1),
        ("laser_dqc", LASER_DQC_COLUMNS, 6),
    ] {
        let df = gm2dqc::tables::read_parquet(&out.join(format!("{table}.parquet"))).unwrap();
        let names: Vec<&str> = df.get_column_names().iter().map(|s| s.as_str()).collect();
        assert_eq!(names, columns.split_whitespace().collect::<Vec<_>>(), "{table}");
        assert_eq!(df.height(), rows, "{table}");
    }
    let summary: Value = serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    assert_eq!(summary["files"], 3);
    assert_eq!(summary["failed"], true);
    // The inputs with their checksums: the two readable files (the broken one is read
    // too: it exists, it just is not ROOT any more).
    let inputs: Value = serde_json::from_str(&std::fs::read_to_string(out.join("inputs.json")).unwrap()).unwrap();
    assert_eq!(inputs.as_array().unwrap().len(), 3);
    assert_eq!(inputs[1]["size"].as_u64().unwrap() as usize, bytes.len() / 2);
    // Without --db or GM2DQC_DB, an upload goes to the embedded database in OUT.
    let (code, stdout, err) = gm2dqc(&["db", "upload", "--from", out.to_str().unwrap(), "--tag", "first"]);
    assert_eq!(code, 0, "{stdout}{err}");
    assert!(out.join("conditions.sqlite").exists());
    let (code, tags, _) = gm2dqc(&["db", "--db", out.join("conditions.sqlite").to_str().unwrap(), "tags", "--json"]);
    assert_eq!(code, 0);
    assert_eq!(serde_json::from_str::<Value>(&tags).unwrap()[0]["name"], "first");
    // A reference run outside the dataset is a configuration error: exit 2, nothing read.
    let out2 = dir.0.join("out2");
    let (code, _, err) = gm2dqc(&["analyze", "--input", sim.to_str().unwrap(), "--out", out2.to_str().unwrap(), "--reference-run", "1"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("reference run 1 is not in the dataset"), "{err}");
    assert!(!out2.exists(), "nothing is written for a configuration error");
}

#[test]
fn demo_runs_every_stage_and_a_second_run_writes_nothing_new() {
    let dir = TempDir::new("cli-demo");
    let d = dir.0.join("demo");
    let (code, stdout, err) = gm2dqc(&["demo", "--dir", d.to_str().unwrap(), "--threads", "2"]);
    assert_eq!(code, 0, "{stdout}{err}");
    for f in ["subrun_metrics.parquet", "subrun_status.parquet", "run_summary.parquet", "gain_constants.parquet", "calo_channel_status.parquet", "tracker_channel_status.parquet", "calo_quality.parquet", "kicker_dqc.parquet", "t0_dqc.parquet", "laser_dqc.parquet", "conditions.sqlite", "summary.json", "inputs.json", "report.html", "elog.txt", "plots/gain_vs_run.svg", "plots/fit_run15922_calo1_xtal0.png"] {
        assert!(d.join("out").join(f).exists(), "{f} missing; stdout:\n{stdout}");
    }
    assert!(stdout.contains("tag demo: 18 intervals written"), "{stdout}");
    assert!(stdout.contains("report (open in a browser): ") && stdout.contains("report.html"), "the demo says where the report is: {stdout}");
    let (code, again, err) = gm2dqc(&["demo", "--dir", d.to_str().unwrap(), "--threads", "1"]);
    assert_eq!(code, 0, "{again}{err}");
    assert!(again.contains("tag demo: 0 intervals written, 18 already current"), "the same inputs give the same results: {again}");
    // scan: the dataset by run, truth.json ignored; a broken file is named, exit 1.
    let data = d.join("data");
    let (code, listing, _) = gm2dqc(&["scan", "--input", data.to_str().unwrap(), "--json"]);
    assert_eq!(code, 0);
    let j: Value = serde_json::from_str(&listing).unwrap();
    assert_eq!((j["files"].as_u64(), j["runs"][1]["subruns"].as_u64()), (Some(16), Some(8)));
    assert!(j["ignored"][0].as_str().unwrap().ends_with("truth.json"));
    std::fs::write(data.join("gm2dqc_sim_15922.00009.root"), b"<html>proxy error</html>").unwrap();
    let (code, text, _) = gm2dqc(&["scan", "--input", data.to_str().unwrap()]);
    assert_eq!(code, 1);
    assert!(text.contains("unreadable: ") && text.contains("gm2dqc_sim_15922.00009.root") && text.contains("not a ROOT file"), "{text}");
    // The bookkeeping board in the demo's database: every stage Done.
    let dbfile = d.join("out/conditions.sqlite");
    let (code, board, err) = gm2dqc(&["status", "--db", dbfile.to_str().unwrap(), "--json"]);
    assert_eq!(code, 0, "{err}");
    let b: Value = serde_json::from_str(&board).unwrap();
    // Each column's own stage (the upload column also waits for a second person's sign-off).
    let state = |st: &str| b["rows"][0]["cells"].as_array().unwrap().iter().find(|c| c["column"] == st).unwrap()["stages"][0]["state"].clone();
    assert_eq!((b["rows"][0]["dataset"].as_str(), state("gain"), state("upload"), state("plots")), (Some("demo"), "done".into(), "done".into(), "done".into()));
    let (code, _, err) = gm2dqc(&["status", "--db", dbfile.to_str().unwrap(), "set", "demo", "plots", "held", "--note", "fonts"]);
    assert_eq!(code, 0, "{err}");
    let (_, table, _) = gm2dqc(&["status", "--db", dbfile.to_str().unwrap()]);
    assert!(table.contains("Held") && table.contains("plots Held by") && table.contains(": fonts"), "{table}");
    let (code, script, _) = gm2dqc(&["completions", "bash"]);
    assert_eq!(code, 0);
    assert!(script.contains("gm2dqc") && script.contains("analyze"));
}

#[test]
fn a_run_killed_at_any_point_finishes_like_an_uninterrupted_one() {
    let dir = TempDir::new("cli-kill");
    let (sim, reference, out) = (dir.0.join("sim"), dir.0.join("ref"), dir.0.join("out"));
    let (code, _, err) = gm2dqc(&["simulate", "--out", sim.to_str().unwrap(), "--runs", "1", "--subruns", "4", "--seed", "9"]);
    assert_eq!(code, 0, "{err}");
    let run = |out: &std::path::Path| vec!["run", "--input", sim.to_str().unwrap(), "--out", out.to_str().unwrap(), "--tag", "t"].into_iter().map(String::from).collect::<Vec<_>>();
    let args = run(&reference);
    let (code, text, err) = gm2dqc(&args.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(code, 0, "{text}{err}");
    // Killed (SIGKILL) at several points, one of them random, then run to the end.
    let random = 100 + std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().subsec_nanos() as u64 % 3000;
    eprintln!("kill points (ms): 150 600 1200 2500 {random}");
    for ms in [150, 600, 1200, 2500, random] {
        let mut child = Command::new(env!("CARGO_BIN_EXE_gm2dqc")).args(run(&out)).stdout(std::process::Stdio::null()).stderr(std::process::Stdio::null()).spawn().unwrap();
        std::thread::sleep(std::time::Duration::from_millis(ms));
        let _ = child.kill();
        let _ = child.wait();
    }
    let args = run(&out);
    let (code, text, err) = gm2dqc(&args.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(code, 0, "{text}{err}");
    assert_same_tables(&reference, &out, &format!("differs from the uninterrupted run (kill points 150 600 1200 2500 {random} ms)"));
    // The database: each interval once, whatever was interrupted.
    let mut db = gm2dqc::db::open(out.join("conditions.sqlite").to_str().unwrap()).unwrap();
    let counts = gm2dqc::db::table_counts(db.as_mut()).unwrap();
    // Nine folders, one run.
    assert_eq!(counts["iovs"], 9, "{counts:?}");
    assert_eq!(counts["payloads"], 9, "{counts:?}");
    // A third run of the same inputs does no work and writes nothing.
    let (code, text, _) = gm2dqc(&args.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(code, 0);
    assert!(text.contains("already done") && text.contains("0 intervals written, 9 already current"), "{text}");
}

#[test]
fn quiet_prints_nothing_and_rust_log_gives_logs_on_stderr() {
    let dir = TempDir::new("cli-quiet");
    let (sim, out) = (dir.0.join("sim"), dir.0.join("out"));
    let (code, stdout, err) = gm2dqc(&["--quiet", "simulate", "--out", sim.to_str().unwrap(), "--runs", "1", "--subruns", "2", "--seed", "4"]);
    assert_eq!((code, stdout.as_str()), (0, ""), "{err}");
    let (code, stdout, err) = gm2dqc(&["run", "-q", "--input", sim.to_str().unwrap(), "--out", out.to_str().unwrap()]);
    assert_eq!((code, stdout.as_str(), err.as_str()), (0, "", ""));
    let o = Command::new(env!("CARGO_BIN_EXE_gm2dqc")).env("RUST_LOG", "info").args(["analyze", "--input", sim.to_str().unwrap(), "--out", out.to_str().unwrap()]).output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("analysis starts") && err.contains("files=2") && !err.contains('\u{1b}'), "plain logs on stderr: {err}");
    assert!(String::from_utf8_lossy(&o.stdout).contains("analysed 2 files"), "stdout keeps the summary");
}

const TABLES: [&str; 6] = ["subrun_metrics", "subrun_status", "run_summary", "gain_constants", "calo_channel_status", "tracker_channel_status"];

fn assert_same_tables(a: &std::path::Path, b: &std::path::Path, what: &str) {
    for t in TABLES {
        let x = gm2dqc::tables::read_parquet(&a.join(format!("{t}.parquet"))).unwrap();
        let y = gm2dqc::tables::read_parquet(&b.join(format!("{t}.parquet"))).unwrap();
        assert!(x.equals_missing(&y), "{t}: {what}");
    }
    for m in ["merged_15921-15921.root", "merged_15922-15922.root"] {
        let (x, y) = (std::fs::read(a.join("merged").join(m)), std::fs::read(b.join("merged").join(m)));
        if let (Ok(x), Ok(y)) = (x, y) {
            assert!(x == y, "merged/{m}: {what}");
        }
    }
}

#[test]
fn stages_one_at_a_time_give_what_run_gives() {
    let dir = TempDir::new("cli-stages");
    let input = fixture("sim-small");
    let input = input.to_str().unwrap();
    let (one, staged) = (dir.0.join("one"), dir.0.join("staged"));
    let (o, s) = (one.to_str().unwrap(), staged.to_str().unwrap());
    let (code, text, err) = gm2dqc(&["run", "--input", input, "--out", o, "--json", "--threads", "2"]);
    assert_eq!(code, 0, "{text}{err}");
    let j: Value = serde_json::from_str(&text).expect("run --json prints one JSON document");
    assert_eq!((j["exit_code"].as_u64(), j["dataset"].as_str(), j["analysis"]["files"].as_u64()), (Some(0), Some("sim-small"), Some(2)));
    assert_eq!(j["upload"]["folders"]["gain_constants"]["written"], 2);

    // gain before merge, dqc before metrics, upload before either: usage errors that say what to run.
    let (code, _, err) = gm2dqc(&["gain", "--out", s]);
    assert_eq!(code, 2);
    assert!(err.contains("no merged files") && err.contains("gm2dqc merge"), "{err}");
    let (code, _, err) = gm2dqc(&["dqc", "--out", s]);
    assert_eq!(code, 2);
    assert!(err.contains("gm2dqc metrics"), "{err}");
    for args in [
        vec!["metrics", "--input", input, "--out", s, "--threads", "1"],
        vec!["merge", "--input", input, "--out", s, "--threads", "2"],
        vec!["gain", "--out", s, "--json"],
        vec!["dqc", "--out", s],
        vec!["plots", "--out", s, "--tag", "dqc"],
        vec!["upload", "--out", s, "--tag", "dqc"],
    ] {
        let (code, text, err) = gm2dqc(&args);
        assert_eq!(code, 0, "{args:?}: {text}{err}");
        if args.contains(&"--json") {
            let j: Value = serde_json::from_str(&text).unwrap();
            assert_eq!(j["gain_status"]["ok"].as_u64().unwrap() + j["gain_status"]["no_laser"].as_u64().unwrap(), 2 * 1296);
        }
    }
    assert_same_tables(&one, &staged, "stage by stage differs from run");
    // The merged files are real ROOT files: `inspect` lists them like any other.
    let (code, listing, err) = gm2dqc(&["inspect", staged.join("merged/merged_15921-15921.root").to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    assert!(listing.contains("merge/xtalHits") && listing.contains("laser/inFill/calo24/xtal53") && listing.contains("TH2D"), "{listing}");
    // Every stage is on the board of the directory's database; the upload column waits
    // for a second person's sign-off.
    let (_, board, _) = gm2dqc(&["status", "--db", staged.join("conditions.sqlite").to_str().unwrap(), "--json"]);
    let b: Value = serde_json::from_str(&board).unwrap();
    let cells = b["rows"][0]["cells"].as_array().unwrap();
    let stages: Vec<&str> = cells.iter().map(|c| c["stages"][0]["state"].as_str().unwrap()).collect();
    let shown: Vec<&str> = cells.iter().map(|c| c["state"].as_str().unwrap()).collect();
    assert_eq!((b["rows"][0]["dataset"].as_str(), stages), (Some("sim-small"), vec!["done"; 7]));
    assert_eq!(shown, ["done", "done", "done", "done", "done", "done", "todo"]);

    // Flags from another cut file than the constants: upload refuses and says why.
    let other = dir.0.join("loose.toml");
    std::fs::write(&other, format!("{}\n# a copy for this test: another hash\n", gm2dqc::cuts::STANDARD_TOML)).unwrap();
    let (code, _, err) = gm2dqc(&["dqc", "--out", s, "--cuts", other.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = gm2dqc(&["upload", "--out", s, "--tag", "mixed"]);
    assert_eq!(code, 2, "a usage error: {err}");
    assert!(err.contains("gain stage used cut file cuts/standard.toml") && err.contains("loose.toml"), "{err}");
    let (_, tags, _) = gm2dqc(&["db", "--db", staged.join("conditions.sqlite").to_str().unwrap(), "tags", "--json"]);
    assert!(!tags.contains("mixed"), "nothing was uploaded: {tags}");
    // New metrics make the flags stale: upload asks for the dqc stage again.
    let (code, _, err) = gm2dqc(&["metrics", "--input", input, "--out", s]);
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = gm2dqc(&["upload", "--out", s, "--tag", "stale"]);
    assert_eq!(code, 2, "a usage error: {err}");
    assert!(err.contains("the dqc stage has not run") && err.contains("gm2dqc dqc"), "{err}");
}

#[test]
fn bad_inputs_give_the_documented_error_and_exit_code() {
    let dir = TempDir::new("cli-bad");
    let out = dir.0.join("out");
    let o = out.to_str().unwrap();
    // A missing directory and an empty one: usage errors, nothing written.
    let (code, _, err) = gm2dqc(&["run", "--input", dir.0.join("nope").to_str().unwrap(), "--out", o]);
    assert_eq!(code, 2);
    assert!(err.contains("nope") && err.contains("No such file"), "{err}");
    std::fs::create_dir_all(dir.0.join("empty")).unwrap();
    let (code, _, err) = gm2dqc(&["run", "--input", dir.0.join("empty").to_str().unwrap(), "--out", o]);
    assert_eq!(code, 2);
    assert!(err.contains("no subrun files found"), "{err}");
    // An invalid cut file: every problem listed, no file read, exit 2.
    let bad_cuts = dir.0.join("bad.toml");
    std::fs::write(&bad_cuts, gm2dqc::cuts::STANDARD_TOML.replace("metric = \"quad_step1\"", "metric = \"quad_step_1\"")).unwrap();
    let (code, _, err) = gm2dqc(&["run", "--input", fixture("sim-small").to_str().unwrap(), "--out", o, "--cuts", bad_cuts.to_str().unwrap()]);
    assert_eq!(code, 2);
    assert!(err.contains("bad.toml:") && err.contains("quad_step_1") && err.contains("quad_step1") && err.contains("nothing was evaluated"), "{err}");
    assert!(!out.join("subrun_metrics.parquet").exists());

    // A dataset: the two fixture files, a byte-identical copy of one (set aside), a
    // corrupt file among them (recorded, the rest processed and uploaded: exit 1).
    let data = dir.0.join("data");
    std::fs::create_dir_all(data.join("copy")).unwrap();
    for f in ["gm2dqc_sim_15921.00001.root", "gm2dqc_sim_15922.00001.root"] {
        std::fs::copy(fixture("sim-small").join(f), data.join(f)).unwrap();
    }
    std::fs::copy(fixture("sim-small").join("gm2dqc_sim_15921.00001.root"), data.join("copy/gm2dqc_sim_15921.00001.root")).unwrap();
    let bytes = std::fs::read(fixture("sim-small").join("gm2dqc_sim_15922.00001.root")).unwrap();
    std::fs::write(data.join("gm2dqc_sim_15922.00002.root"), &bytes[..bytes.len() / 3]).unwrap();
    let (code, text, err) = gm2dqc(&["run", "--input", data.to_str().unwrap(), "--out", o]);
    assert_eq!(code, 1, "{text}{err}");
    assert!(text.contains("gm2dqc_sim_15922.00002.root") && text.contains("FAILED"), "{text}");
    assert!(err.contains("byte-identical copy"), "{err}");
    let metrics = gm2dqc::tables::read_parquet(&out.join("subrun_metrics.parquet")).unwrap();
    assert_eq!(metrics.height(), 3, "two good subruns and the corrupt one's null row");
    let gains = gm2dqc::tables::read_parquet(&out.join("gain_constants.parquet")).unwrap();
    assert_eq!(gains.height(), 2 * 1296, "both runs have constants");
    assert!(text.contains("intervals written"), "the good results are uploaded: {text}");
    let (_, board, _) = gm2dqc(&["status", "--db", out.join("conditions.sqlite").to_str().unwrap(), "--json"]);
    assert!(board.contains("some inputs or fits failed") && board.contains("errors.txt"), "{board}");
    // Two different files for one subrun: ambiguous, both named, exit 2.
    std::fs::write(data.join("copy/gm2dqc_sim_15921.00001.root"), &bytes).unwrap();
    let (code, _, err) = gm2dqc(&["run", "--input", data.to_str().unwrap(), "--out", o]);
    assert_eq!(code, 2);
    assert!(err.contains("appears twice with different contents") && err.contains("copy/gm2dqc_sim_15921.00001.root"), "{err}");
}

/// Issue 18 part 3: `[gain] sum_subruns_passing = ["laser_ok"]` makes the gain sums
/// (and the reference run's) take only the subruns passing laser_ok: the constants
/// equal those of the same dataset with the failing files removed, bit for bit; the
/// merged files list only the subruns summed; the upload's provenance says which flags.
#[test]
fn gain_sums_of_only_the_subruns_passing_named_flags_equal_a_dataset_without_the_others() {
    let dir = TempDir::new("cli-sum-passing");
    let sim = dir.0.join("sim");
    let (code, _, err) = gm2dqc(&["simulate", "--out", sim.to_str().unwrap(), "--runs", "2", "--subruns", "6", "--seed", "41", "--faults", "laser_source_monitor", "--fault-rate", "0.4"]);
    assert_eq!(code, 0, "{err}");
    let truth: Value = serde_json::from_str(&std::fs::read_to_string(sim.join("truth.json")).unwrap()).unwrap();
    let failing: Vec<String> = truth["subruns"].as_array().unwrap().iter().filter(|s| s["expected"]["laser_ok"] == false).map(|s| s["file"].as_str().unwrap().to_string()).collect();
    assert!(!failing.is_empty() && failing.len() < 12, "the dataset has subruns failing laser_ok, and others: {failing:?}");
    let cuts = dir.0.join("laser-sums.toml");
    let text = gm2dqc::cuts::STANDARD_TOML.replace("[gain]\n", "[gain]\nsum_subruns_passing = [\"laser_ok\"]\n");
    assert_ne!(text, gm2dqc::cuts::STANDARD_TOML);
    std::fs::write(&cuts, text).unwrap();
    let filtered = dir.0.join("filtered");
    let (code, o, e) = gm2dqc(&["analyze", "--input", sim.to_str().unwrap(), "--out", filtered.to_str().unwrap(), "--cuts", cuts.to_str().unwrap()]);
    assert_eq!(code, 0, "{o}{e}");
    // The same dataset without the failing files, with the standard cut file.
    let fewer = dir.0.join("fewer");
    std::fs::create_dir(&fewer).unwrap();
    for e in std::fs::read_dir(&sim).unwrap() {
        let p = e.unwrap().path();
        let name = p.file_name().unwrap().to_str().unwrap().to_string();
        if name.ends_with(".root") && !failing.contains(&name) {
            std::fs::hard_link(&p, fewer.join(&name)).unwrap();
        }
    }
    let plain = dir.0.join("plain");
    let (code, o, e) = gm2dqc(&["analyze", "--input", fewer.to_str().unwrap(), "--out", plain.to_str().unwrap()]);
    assert_eq!(code, 0, "{o}{e}");
    for table in ["gain_constants", "calo_channel_status", "tracker_channel_status", "calo_quality"] {
        let a = gm2dqc::tables::read_parquet(&filtered.join(format!("{table}.parquet"))).unwrap();
        let b = gm2dqc::tables::read_parquet(&plain.join(format!("{table}.parquet"))).unwrap();
        assert!(a.equals_missing(&b), "{table}: the filtered sums differ from the sums of the dataset without the failing files");
    }
    // The metrics still have every subrun; the merged files list the summed ones.
    assert_eq!(gm2dqc::tables::read_parquet(&filtered.join("subrun_metrics.parquet")).unwrap().height(), 12);
    let mut summed = 0;
    for m in gm2dqc::merged::list(&filtered.join("merged")).unwrap() {
        summed += gm2dqc::merged::read(&m).unwrap().sums.subruns.len();
    }
    assert_eq!(summed, 12 - failing.len(), "the merged files hold only the subruns passing laser_ok");
    // And the standard cut file's analysis of the whole dataset differs (the test can fail).
    let all = dir.0.join("all");
    let (code, o, e) = gm2dqc(&["analyze", "--input", sim.to_str().unwrap(), "--out", all.to_str().unwrap()]);
    assert_eq!(code, 0, "{o}{e}");
    let a = gm2dqc::tables::read_parquet(&all.join("gain_constants.parquet")).unwrap();
    let b = gm2dqc::tables::read_parquet(&filtered.join("gain_constants.parquet")).unwrap();
    assert!(!a.equals_missing(&b), "summing every subrun gives other constants");
    // The provenance in the database says which subruns the sums took.
    let db = dir.0.join("c.sqlite");
    for (out, tag) in [(&filtered, "laser"), (&all, "every")] {
        let (code, o, e) = gm2dqc(&["db", "--db", db.to_str().unwrap(), "upload", "--from", out.to_str().unwrap(), "--tag", tag]);
        assert_eq!(code, 0, "{o}{e}");
    }
    let mut b = gm2dqc::db::open_existing(db.to_str().unwrap()).unwrap();
    assert_eq!(gm2dqc::db::history(b.as_mut(), "laser", "gain_constants").unwrap()[0].summed_passing, Some(vec!["laser_ok".to_string()]));
    assert_eq!(gm2dqc::db::history(b.as_mut(), "every", "gain_constants").unwrap()[0].summed_passing, Some(vec![]));
}
