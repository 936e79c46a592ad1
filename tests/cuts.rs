//! Cut files: golden diagnostics of broken files, the standard set against the
//! simulator's truth, edge cases of relative cuts and overrides, what-if diffs.
//!
//! The golden files are `tests/cuts-golden/*.toml` with the expected diagnostics in
//! `*.expected`; after an intended change of the messages, update them all with
//! `GM2DQC_BLESS=1 cargo test --test tests cuts::golden` and review the diff.

use std::path::Path;

use gm2dqc::analysis::metrics::SubrunMetrics;
use gm2dqc::cuts::{self, eval};
use gm2dqc::tables;

use crate::common::TempDir;

#[test]
fn golden_diagnostics_of_broken_cut_files() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/cuts-golden");
    let bless = std::env::var_os("GM2DQC_BLESS").is_some();
    let mut files: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).filter(|p| p.extension().is_some_and(|e| e == "toml")).collect();
    files.sort();
    assert!(files.len() >= 6, "the golden set is in {}", dir.display());
    let mut stale = Vec::new();
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap();
        let label = format!("tests/cuts-golden/{}", f.file_name().unwrap().to_string_lossy());
        let diags = cuts::parse(&text, &label).expect_err("every golden file is broken");
        let got: String = diags.iter().map(|d| format!("{d}\n")).collect();
        let expected = f.with_extension("expected");
        if bless {
            std::fs::write(&expected, &got).unwrap();
        } else if std::fs::read_to_string(&expected).ok().as_deref() != Some(got.as_str()) {
            stale.push(format!("{}:\n{got}", expected.display()));
        }
    }
    assert!(stale.is_empty(), "diagnostics differ from the golden files (GM2DQC_BLESS=1 to update, then review):\n{}", stale.join("\n"));
}

#[test]
fn every_problem_is_reported_at_once_with_its_location() {
    let text = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/cuts-golden/bounds.toml")).unwrap();
    let d = cuts::parse(&text, "bounds.toml").unwrap_err();
    assert_eq!(d.len(), 4, "{d:#?}");
    // Line and column of `min = 19.0` in the file, counted here by hand.
    let line = text.lines().position(|l| l == "min = 19.0").unwrap() + 1;
    assert_eq!((d[0].line, d[0].column), (line, 7), "{}", d[0]);
    assert!(d[0].message.contains("lower bound 19 > upper bound 17.5"), "{}", d[0]);
}

#[test]
fn the_standard_file_is_the_built_in_set_and_valid() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("cuts/standard.toml");
    let c = cuts::load(&path).unwrap();
    assert_eq!(c.required, ["fills_ok", "ctags_ok", "t0_ok", "kicker_ok", "quad_ok", "losses_ok", "laser_ok", "calo_ok", "tracker_ok"]);
    assert!(c.flags.contains(&"ctags_loose_ok".to_string()));
    assert_eq!(c.sha256, cuts::standard().sha256);
    // The hash is the file's SHA-256, as sha256sum computes it.
    let out = std::process::Command::new("sha256sum").arg(&path).output().unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout).split_whitespace().next().unwrap(), c.sha256);
    assert_eq!(gm2dqc::pipeline::Config::from_cuts(&c), gm2dqc::pipeline::Config::standard(), "the file's channel and gain settings are the spec's");
}

/// A metrics row with every standard cut passing, for hand-made edge cases.
fn good(run: u32, subrun: u32) -> SubrunMetrics {
    SubrunMetrics {
        run,
        subrun,
        file: format!("x_{run}.{subrun}.root"),
        fills: Some(100.0),
        fills_nodqc: Some(105.0),
        fill_fraction: Some(100.0 / 105.0),
        ctags: Some(8000.0),
        ctags_per_fill: Some(80.0),
        t0: Some(1000.0),
        quad_step1: Some(18.2),
        quad_step2: Some(23.2),
        kicker_amplitude: [Some(135.0); 3],
        kicker_timing: [Some(0.0); 3],
        kicker_fwhm: [Some(150.0); 3],
        laser_sm: [Some(1000.0); 6],
        loss_ratio_ctags: Some(0.01),
        loss_ratio_ctags_err: Some(0.001),
        n_dead_xtals: Some(0),
        n_hot_xtals: Some(0),
        n_dead_straws: Some(0),
        hv_trip_fills: Some(0.0),
        ..SubrunMetrics::default()
    }
}

fn flag(ev: &eval::Evaluation, name: &str) -> Vec<bool> {
    ev.flags.iter().find(|(f, _)| f == name).unwrap().1.clone()
}

#[test]
fn reasons_nulls_nans_and_single_subrun_runs() {
    let mut rows = vec![good(1, 1), good(1, 2), good(1, 3), good(2, 1)];
    rows[1].kicker_amplitude[1] = Some(100.0);
    rows[1].t0 = Some(1300.0);
    rows[2].quad_step2 = None;
    rows[2].laser_sm[3] = Some(f64::NAN);
    rows[3].t0 = Some(5000.0); // alone in its run: its own median
    let ev = eval::evaluate(&cuts::standard(), &tables::subrun_metrics(&rows)).unwrap();
    assert_eq!(ev.ok, [true, false, false, true]);
    assert_eq!(ev.reasons[0], "");
    assert_eq!(ev.reasons[1], "t0_ok: t0 = 1300 a.u. is 30 % from the run median 1000 a.u. (> 20 %); kicker_ok: kicker2_amplitude = 100 kV < 120 kV");
    assert_eq!(ev.reasons[2], "quad_ok: quad_step2 is null (not in the subrun file); laser_ok: laser4_sm is NaN");
    assert_eq!(flag(&ev, "t0_ok"), [true, false, true, true]);
    assert_eq!(flag(&ev, "losses_ok"), [true, true, true, true]);
    let s = ev.run_summaries();
    assert_eq!((s[0].subruns, s[0].good_subruns, s[0].ctags_good), (3, 1, 8000.0));
    assert_eq!(s[0].pass_fraction[ev.flags.iter().position(|(f, _)| f == "kicker_ok").unwrap()], 2.0 / 3.0);
    // The status table records the cut file's hash on every row.
    let st = ev.status_frame();
    assert_eq!(st.column("cuts_sha256").unwrap().str().unwrap().get(3), Some(cuts::standard().sha256.as_str()));
}

#[test]
fn overrides_apply_to_their_run_period_only() {
    let text = cuts::STANDARD_TOML.to_string()
        + "\n[[override]]\nruns = [2, 3]\ncut = \"kicker_ok.kicker_amplitude\"\nmin = 95\nmax = 150\nunit = \"kV\"\n";
    let c = cuts::parse(&text, "with-override").unwrap();
    let rows: Vec<SubrunMetrics> = (1..=4)
        .map(|run| {
            let mut m = good(run, 1);
            m.kicker_amplitude[0] = Some(100.0);
            m
        })
        .collect();
    let ev = eval::evaluate(&c, &tables::subrun_metrics(&rows)).unwrap();
    assert_eq!(flag(&ev, "kicker_ok"), [false, true, true, false]);
    assert_ne!(c.sha256, cuts::standard().sha256);
}

#[test]
fn standard_flags_equal_the_simulators_truth_and_diff_names_the_changes() {
    use gm2dqc::simulate::{simulate, FaultKind, SimConfig, Truth};
    let dir = TempDir::new("cuts-truth");
    let mut cfg = SimConfig::new(&dir.0, 3, 12, 31);
    cfg.fault_rate = 0.4;
    simulate(&cfg, &|_| {}).unwrap();
    let truth: Truth = serde_json::from_slice(&std::fs::read(dir.0.join("truth.json")).unwrap()).unwrap();
    let ds = gm2dqc::dataset::scan(&dir.0).unwrap();
    let a = gm2dqc::pipeline::analyze(&ds, &gm2dqc::pipeline::Config::standard(), &|_| {}).unwrap();
    let metrics = tables::subrun_metrics(&a.metrics);
    // Through Parquet, as `cuts apply` reads it.
    let path = dir.0.join("subrun_metrics.parquet");
    tables::write_parquet(&mut metrics.clone(), &path).unwrap();
    let ev = eval::evaluate(&cuts::standard(), &tables::read_parquet(&path).unwrap()).unwrap();
    let mut bad = 0;
    for (row, s) in truth.subruns.iter().enumerate() {
        assert_eq!((ev.runs[row], ev.subruns[row]), (s.run, s.subrun));
        for (f, want) in &s.expected {
            let got = if f == "ok" { ev.ok[row] } else { flag(&ev, f)[row] };
            assert_eq!(got, *want, "run {} subrun {} ({:?}): flag {f}; reasons: {}", s.run, s.subrun, s.fault, ev.reasons[row]);
        }
        bad += usize::from(s.fault.is_some());
        assert_eq!(ev.ok[row], s.fault.is_none(), "run {} subrun {}: {:?}", s.run, s.subrun, s.fault);
    }
    assert!(bad >= 6, "the dataset has bad subruns ({bad})");
    // What-if: loosening the kicker cut recovers exactly the kicker-amplitude subruns.
    let loose = cuts::parse(&cuts::STANDARD_TOML.replace("min = 120\nmax = 150", "min = 90\nmax = 150"), "loose").unwrap();
    let changes = eval::diff(&ev, &eval::evaluate(&loose, &metrics).unwrap());
    let want: Vec<(u32, u32)> = truth.subruns.iter().filter(|s| s.fault == Some(FaultKind::KickerAmplitude)).map(|s| (s.run, s.subrun)).collect();
    assert_eq!(changes.iter().map(|c| (c.run, c.subrun)).collect::<Vec<_>>(), want);
    for c in &changes {
        assert!(!c.old_ok && c.new_ok);
        assert_eq!(c.flags, [("kicker_ok".to_string(), Some(false), Some(true))]);
        assert!(c.ctags > 0.0);
    }
}

#[test]
fn a_cut_file_that_is_not_utf8_is_located_at_its_first_invalid_byte() {
    let dir = TempDir::new("cuts-utf8");
    let path = dir.0.join("latin1.toml");
    // Line 2 is `name = "é` (9 characters, 10 bytes: é is two) then a byte 0xff.
    let mut bytes = b"format = 1\nname = \"".to_vec();
    bytes.extend_from_slice("é".as_bytes());
    bytes.push(0xff);
    bytes.extend_from_slice(b"\"\n");
    std::fs::write(&path, &bytes).unwrap();
    let Err(cuts::CutFileError::Invalid(d)) = cuts::load(&path) else { panic!("a non-UTF-8 file is an invalid cut file") };
    assert_eq!(d.len(), 1, "{d:?}");
    assert_eq!((d[0].line, d[0].column), (2, 10), "{}", d[0]);
    assert_eq!(d[0].file, path.display().to_string());
    // 11 bytes of line 1, then 10 of line 2.
    assert!(d[0].message.contains("0xff") && d[0].message.contains("byte offset 21") && d[0].message.contains("not UTF-8"), "{}", d[0]);
    let text = d[0].to_string();
    assert!(text.starts_with(&format!("{}:2:10: error:", path.display())) && text.contains("hint:") && text.contains("UTF-8"), "{text}");
    // A truncated multi-byte character at the very end: still located.
    std::fs::write(&path, [b"format = 1\n#".as_slice(), &"é".as_bytes()[..1]].concat()).unwrap();
    let Err(cuts::CutFileError::Invalid(d)) = cuts::load(&path) else { panic!("invalid") };
    assert_eq!((d[0].line, d[0].column), (2, 2), "{}", d[0]);
}

#[test]
fn eight_thousand_problems_each_at_its_own_line_and_column() {
    // Lines 1-3 format, a description with non-ASCII text and `required`, then 4 lines
    // per cut from line 4: cut i's unknown metric is on line 6 + 4 i, its value at
    // column 10 (after `metric = `). The positions are computed here, not by the parser.
    let n = 8000;
    let mut text = String::from("format = 1\ndescription = \"größe, µs\"\nrequired = [\"f0_ok\"]\n");
    for i in 0..n {
        text.push_str(&format!("[[cut]]\nflag = \"f{i}_ok\"\nmetric = \"fils\"\nmin = {i}\n"));
    }
    let d = cuts::parse(&text, "many.toml").unwrap_err();
    assert_eq!(d.len(), n, "one problem per cut");
    for (i, x) in d.iter().enumerate() {
        assert_eq!((x.line, x.column), (6 + 4 * i, 10), "cut {i}: {x}");
        assert_eq!(x.message, "unknown metric `fils`");
        assert_eq!(x.hint.as_deref(), Some("did you mean `fills`?"));
    }
    // Two cuts of one name: the message gives the first one's line.
    let dup = "format = 1\nrequired = [\"fills_ok\"]\n".to_string() + &"[[cut]]\nflag = \"fills_ok\"\nmetric = \"fills\"\nmin = 1\nunit = \"fills\"\n".repeat(3);
    let d = cuts::parse(&dup, "dup.toml").unwrap_err();
    assert_eq!(d.len(), 2, "{d:?}");
    assert!(d.iter().all(|x| x.message == "two cuts are named `fills_ok.fills` (the first at line 3)"), "{d:?}");
    assert_eq!((d[0].line, d[1].line), (8, 13));
}

/// Whether any value of a Float64 column is -0.0.
fn negative_zeros(df: &polars::prelude::DataFrame) -> Vec<String> {
    let mut bad = Vec::new();
    for c in df.columns() {
        if let Ok(v) = c.f64() {
            for (i, x) in v.iter().enumerate() {
                if x.is_some_and(|x| x == 0.0 && x.is_sign_negative()) {
                    bad.push(format!("{}[{i}]", c.name()));
                }
            }
        }
    }
    bad
}

#[test]
fn no_negative_zero_is_written_or_printed() {
    // Run 1: its only subrun fails (no good subrun: the CTAGs of good subruns are a sum
    // of nothing) and has -0 fills and -0 CTAGs; run 2 is good with -0 kicker timings.
    let mut rows = vec![good(1, 1), good(2, 1), good(2, 2)];
    rows[0].fills = Some(-0.0);
    rows[0].ctags = Some(-0.0);
    rows[1].kicker_timing = [Some(-0.0); 3];
    let ev = eval::evaluate(&cuts::standard(), &tables::subrun_metrics(&rows)).unwrap();
    assert_eq!(ev.ok, [false, true, true]);
    assert!(ev.reasons[0].contains("fills_ok: fills = 0 fills < 50 fills"), "{}", ev.reasons[0]);
    assert!(!ev.reasons.iter().any(|r| r.contains("-0")), "{:?}", ev.reasons);
    let s = ev.run_summaries();
    for r in &s {
        for x in [r.ctags, r.ctags_good].iter().chain(&r.pass_fraction) {
            assert!(!(*x == 0.0 && x.is_sign_negative()), "run {}: -0 in {r:?}", r.run);
        }
    }
    assert_eq!((s[0].ctags, s[0].ctags_good), (0.0, 0.0));
    // run_summary.parquet as written and read back.
    let dir = TempDir::new("cuts-negzero");
    let path = dir.0.join("run_summary.parquet");
    tables::write_parquet(&mut ev.summary_frame(), &path).unwrap();
    let back = tables::read_parquet(&path).unwrap();
    assert_eq!(back.height(), 2);
    assert_eq!(negative_zeros(&back), Vec::<String>::new());
    // Run medians (shown in reasons and on the plots): the median of -0s is +0.
    let m = eval::run_medians(&[Some(-0.0), Some(-0.0), Some(1.0)], &[1, 1, 2]);
    assert!(m[&1] == 0.0 && !m[&1].is_sign_negative(), "{m:?}");
    // A diff that loses a subrun without CTAGs: a change of 0, not -0.
    let strict = cuts::parse(&cuts::STANDARD_TOML.replace("min = 50\nunit = \"fills\"", "min = 50\nmax = 60\nunit = \"fills\""), "strict").unwrap();
    assert_ne!(strict.sha256, cuts::standard().sha256);
    let mut rows2 = rows.clone();
    rows2[1].ctags = Some(0.0);
    let df = tables::subrun_metrics(&rows2);
    let changes = eval::diff(&eval::evaluate(&cuts::standard(), &df).unwrap(), &eval::evaluate(&strict, &df).unwrap());
    assert_eq!(changes.len(), 2, "{changes:?}");
    for c in &changes {
        assert!(!c.new_ok);
        assert!(c.ctags_change() == 0.0 || c.ctags_change() == -8000.0, "{c:?}");
        assert!(!(c.ctags_change() == 0.0 && c.ctags_change().is_sign_negative()), "{c:?}");
    }
}
