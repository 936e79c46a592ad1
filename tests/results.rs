//! The read model of an output directory (`gm2dqc::results`) on a simulated dataset:
//! subrun rows equal the Parquet tables and the simulator's truth; paging, sorting and
//! filtering equal a plain computation written here; the tuner lists exactly what
//! `gm2dqc cuts diff --json` lists; saved cut files are never replaced; a damaged
//! directory is an error naming the file, never a panic.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Instant;

use gm2dqc::results::{self, Results, SortKey, SubrunQuery, Tuner};
use gm2dqc::tables::Table;
use serde_json::Value;

use crate::cli::gm2dqc;
use crate::common::TempDir;

/// One simulated dataset with faults and its `gm2dqc run` output, made once for the
/// module (under the target directory's scratch space; read-only for the tests). A
/// statics' destructor never runs, so the datasets of earlier test processes that
/// have ended are removed here.
fn dataset() -> &'static (PathBuf, PathBuf) {
    static DS: OnceLock<(PathBuf, PathBuf)> = OnceLock::new();
    DS.get_or_init(|| {
        let scratch = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
        for e in std::fs::read_dir(&scratch).into_iter().flatten().flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if let Some(pid) = name.strip_prefix("results-").and_then(|p| p.parse::<u32>().ok()) {
                if !Path::new(&format!("/proc/{pid}")).exists() {
                    let _ = std::fs::remove_dir_all(e.path());
                }
            }
        }
        let root = scratch.join(format!("results-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        let (data, out) = (root.join("data"), root.join("out"));
        let (code, _, err) = gm2dqc(&["simulate", "--out", data.to_str().unwrap(), "--runs", "2", "--subruns", "6", "--seed", "21", "--faults", "standard"]);
        assert_eq!(code, 0, "{err}");
        let (code, text, err) = gm2dqc(&["--quiet", "run", "--input", data.to_str().unwrap(), "--out", out.to_str().unwrap(), "--channel", "3:10"]);
        assert_eq!(code, 0, "{text}{err}");
        (data, out)
    })
}

/// A copy of the output directory's files (not its plots or merged files) to damage.
fn copy_out(out: &Path, tag: &str) -> TempDir {
    let dir = TempDir::new(tag);
    for e in std::fs::read_dir(out).unwrap() {
        let p = e.unwrap().path();
        if p.is_file() {
            std::fs::copy(&p, dir.0.join(p.file_name().unwrap())).unwrap();
        }
    }
    dir
}

#[test]
fn subrun_rows_equal_the_tables_and_the_truth() {
    let (data, out) = dataset();
    let r = Results::open(out).unwrap();
    let status = Table::read(&out.join("subrun_status.parquet")).unwrap();
    assert_eq!(r.subruns.runs, status.u32("run").unwrap());
    assert_eq!(r.subruns.subruns, status.u32("subrun").unwrap());
    assert_eq!(r.subruns.ok, status.bool("ok").unwrap());
    assert_eq!(r.subruns.reasons, status.str("reasons").unwrap());
    let standard = gm2dqc::cuts::standard();
    assert_eq!(r.subruns.flag_names().collect::<Vec<_>>(), standard.flags.iter().map(String::as_str).collect::<Vec<_>>());
    for (f, v) in &r.subruns.flags {
        assert_eq!(v.iter().map(|x| x.unwrap()).collect::<Vec<_>>(), status.bool(f).unwrap(), "flag {f}");
    }
    assert_eq!((r.cuts_sha256.as_str(), r.dataset.as_str()), (standard.sha256.as_str(), "data"));
    assert_eq!(r.intervals, [(15921, 15921), (15922, 15922)]);
    assert_eq!(r.reference_run, Some(15921));
    // The simulator's truth: every expected flag, and ok.
    let truth: Value = serde_json::from_slice(&std::fs::read(data.join("truth.json")).unwrap()).unwrap();
    let subruns = truth["subruns"].as_array().unwrap();
    assert_eq!(subruns.len(), r.subruns.len());
    let mut bad = 0;
    for (i, s) in subruns.iter().enumerate() {
        assert_eq!((s["run"].as_u64().unwrap() as u32, s["subrun"].as_u64().unwrap() as u32), (r.subruns.runs[i], r.subruns.subruns[i]));
        for (f, want) in s["expected"].as_object().unwrap() {
            let got = if f == "ok" { Some(r.subruns.ok[i]) } else { r.subruns.flags.iter().find(|(g, _)| g == f).unwrap().1[i] };
            assert_eq!(got, want.as_bool(), "run {} subrun {} flag {f}", s["run"], s["subrun"]);
        }
        bad += usize::from(s["expected"]["ok"] == false);
        // The file a viewer would open is the simulated one.
        let file = r.subrun_file(r.subruns.runs[i], r.subruns.subruns[i]).unwrap();
        assert_eq!(Path::new(&file.path).file_name().unwrap().to_str().unwrap(), Path::new(s["file"].as_str().unwrap()).file_name().unwrap().to_str().unwrap());
        assert_eq!(std::fs::metadata(&file.path).unwrap().len(), file.size, "{file:?}");
    }
    assert!(bad >= 2, "the dataset has bad subruns ({bad})");
    // Reasons parse into flag, metric, value and test, each naming a failing flag.
    for i in 0..r.subruns.len() {
        let row = r.subrun_row(i);
        assert_eq!(row.reason_list.len() as u32, r.subruns.reason_counts[i]);
        for reason in &row.reason_list {
            assert!(row.failed.contains(&reason.flag), "{reason:?} names a flag that passes: {:?}", row.failed);
            assert!(!reason.metric.is_empty() && !reason.test.is_empty(), "{reason:?}");
            assert!(row.reasons.contains(&reason.text));
        }
        assert_eq!(row.ok, row.reason_list.is_empty() || row.failed.iter().all(|f| !standard.required.contains(f)));
    }
    let parsed = results::parse_reasons("kicker_ok: kicker2_amplitude = 100 kV < 120 kV; t0_ok: t0 = 1300 a.u. is 30 % from the run median 1000 a.u. (> 20 %); quad_ok: quad_step2 is null (not in the subrun file)");
    let short: Vec<(&str, &str, Option<f64>, &str)> = parsed.iter().map(|x| (x.flag.as_str(), x.metric.as_str(), x.value, x.test.as_str())).collect();
    assert_eq!(short, [
        ("kicker_ok", "kicker2_amplitude", Some(100.0), "< 120 kV"),
        ("t0_ok", "t0", Some(1300.0), "is 30 % from the run median 1000 a.u. (> 20 %)"),
        ("quad_ok", "quad_step2", None, "is null (not in the subrun file)")
    ]);
    // Per-run summary rows as the table has them.
    let summary = Table::read(&out.join("run_summary.parquet")).unwrap();
    assert_eq!(r.runs.iter().map(|x| x.run).collect::<Vec<_>>(), summary.u32("run").unwrap());
    assert_eq!(r.runs.iter().map(|x| x.good_subruns).collect::<Vec<_>>(), summary.u32("good_subruns").unwrap());
    assert_eq!(r.runs[0].pass_fraction.iter().map(|(f, _)| f.as_str()).collect::<Vec<_>>(), standard.flags.iter().map(String::as_str).collect::<Vec<_>>());
    // Bad channels: the truth's dead and hot crystals are all there, with their flags.
    for c in truth["crystals"].as_array().unwrap() {
        let (calo, xtal) = (c["calo"].as_u64().unwrap() as u32, c["xtal"].as_u64().unwrap() as u32);
        for what in ["dead", "hot"] {
            if c[what] == true {
                let listed = r.bad_xtals.iter().filter(|b| b.calo == calo && b.xtal == xtal).any(|b| if what == "dead" { b.dead } else { b.hot });
                assert!(listed, "calo {calo} xtal {xtal} is {what} in truth.json and not listed");
            }
        }
    }
    let calo = Table::read(&out.join("calo_channel_status.parquet")).unwrap();
    let not_ok = calo.bool("ok").unwrap().iter().filter(|ok| !**ok).count();
    assert_eq!(r.bad_xtals.iter().filter(|b| b.dead || b.hot || b.noisy).count(), not_ok);
    let tracker = Table::read(&out.join("tracker_channel_status.parquet")).unwrap();
    assert_eq!(r.bad_straws.len(), tracker.bool("ok").unwrap().iter().filter(|ok| !**ok).count());
    // Gain rows: one per crystal per interval, with the fit parameters.
    assert_eq!(r.gains.len(), 2 * 1296);
    let g: Vec<_> = r.gain_rows(3, 10).collect();
    assert_eq!(g.len(), 2);
    assert!(g[0].status != "ok" || (g[0].norm.is_some() && g[0].amp.is_some() && g[0].tau_us.is_some()), "{:?}", g[0]);
    assert_eq!(results::infill_profile_path(3, 10).as_deref(), Some("laser/inFill/calo3/xtal10"));
    assert_eq!((results::infill_profile_path(25, 0), results::energy_path(1, 54)), (None, None));
    assert_eq!(results::energy_path(24, 53).as_deref(), Some("calo/calo24/xtal53Energy"));
    // Merged files: one per interval, and they hold the objects said to be there.
    assert_eq!(r.merged.iter().map(|m| (m.run_first, m.run_last, m.path.as_str())).collect::<Vec<_>>(), [(15921, 15921, "merged/merged_15921-15921.root"), (15922, 15922, "merged/merged_15922-15922.root")]);
    let merged = gm2dqc::root::RootFile::open(out.join(&r.merged_file_of_run(15922).unwrap().path)).unwrap();
    for p in [results::infill_profile_path(3, 10).unwrap(), results::drift_time_path().into(), results::calo_hits_path().into()] {
        merged.hist(&p).unwrap_or_else(|e| panic!("{p}: {e}"));
    }
    for o in results::object_paths().iter().filter(|o| o.in_merged && o.path != gm2dqc::merged::REFERENCE_OUT_OF_FILL) {
        merged.hist(&o.path).unwrap_or_else(|e| panic!("{}: {e}", o.path));
    }
    // Plots: every page in OUT/plots, in the two checklist groups, files present.
    let groups: Vec<&str> = r.plots.iter().map(|g| g.group.as_str()).collect();
    assert_eq!(groups, results::GROUPS);
    let listed: BTreeSet<String> = r.plots.iter().flat_map(|g| g.plots.iter().flat_map(|p| [p.png.clone().unwrap(), p.svg.clone().unwrap()])).collect();
    let on_disk: BTreeSet<String> = std::fs::read_dir(out.join("plots")).unwrap().map(|e| format!("plots/{}", e.unwrap().file_name().to_string_lossy())).collect();
    assert_eq!(listed, on_disk);
    let title = |n: &str| r.plots.iter().flat_map(|g| &g.plots).find(|p| p.name == n).map(|p| p.title.clone());
    assert_eq!(title("calo_map_gain_run15922").as_deref(), Some("Calorimeter map: out-of-fill gain (run 15922)"));
    assert_eq!(title("fit_run15922_calo3_xtal10").as_deref(), Some("In-fill gain fit: calo 3 xtal 10 (run 15922)"));
    // The names' sections are the standard set's (built here from the same directory).
    let inputs = gm2dqc::plots::load(out, standard.clone(), "data", None, &[(3, 10)], 4).unwrap();
    for spec in gm2dqc::plots::standard_set(&inputs, 6) {
        assert_eq!(gm2dqc::plots::section_of_name(&spec.name), Some(spec.section), "{}", spec.name);
        let t = gm2dqc::plots::title_of_name(&spec.name).unwrap();
        if !spec.name.starts_with("metric_") && !spec.name.starts_with("fit_") {
            assert_eq!(t, spec.title, "{}", spec.name);
        }
    }
    // The page JSON has the documented shape.
    let page = serde_json::to_value(r.subruns(&SubrunQuery::default()).unwrap()).unwrap();
    let keys: Vec<&str> = page.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(keys, ["matched", "page", "pages", "per_page", "rows", "total"]);
    let row0 = &page["rows"][0];
    assert_eq!(row0["flags"].as_object().unwrap().len(), standard.flags.len());
    assert!(row0["reason_list"].is_array() && row0["failed"].is_array());
    assert!(r.is_current());
}

#[test]
fn a_directory_changed_since_is_not_current() {
    let (_, out) = dataset();
    let dir = copy_out(out, "results-current");
    let r = Results::open(&dir.0).unwrap();
    assert!(r.is_current());
    let m = std::fs::read(dir.0.join("manifest.json")).unwrap();
    std::fs::write(dir.0.join("manifest.json"), [m.as_slice(), b"\n"].concat()).unwrap();
    assert!(!r.is_current(), "a rewritten manifest");
}

/// A subrun as the test reads it: run, subrun, ok, flags, reasons.
type Row = (u32, u32, bool, Vec<Option<bool>>, String);

/// The order and selection a query means, computed plainly on the table's rows.
fn expected(rows: &[Row], flags: &[String], q: &SubrunQuery) -> Vec<(u32, u32)> {
    let fi = |name: &str| flags.iter().position(|f| f == name).unwrap();
    let mut v: Vec<&Row> = rows
        .iter()
        .filter(|r| q.filter.run.is_none_or(|run| r.0 == run))
        .filter(|r| !q.filter.only_bad || !r.2)
        .filter(|r| q.filter.flag_failed.as_ref().is_none_or(|f| r.3[fi(f)] == Some(false)))
        .filter(|r| q.filter.text.as_ref().is_none_or(|t| r.4.to_lowercase().contains(&t.to_lowercase())))
        .collect();
    let count = |s: &str| if s.is_empty() { 0 } else { s.split("; ").count() };
    v.sort_by(|a, b| {
        let mut o = std::cmp::Ordering::Equal;
        if q.failing_first {
            o = a.2.cmp(&b.2);
        }
        let k = match &q.sort {
            SortKey::RunSubrun => (a.0, a.1).cmp(&(b.0, b.1)),
            SortKey::Ok => a.2.cmp(&b.2),
            SortKey::Reasons => count(&a.4).cmp(&count(&b.4)),
            SortKey::Flag(f) => {
                let rank = |x: Option<bool>| match x {
                    Some(false) => 0,
                    Some(true) => 1,
                    None => 2,
                };
                rank(a.3[fi(f)]).cmp(&rank(b.3[fi(f)]))
            }
        };
        o.then(if q.desc { k.reverse() } else { k }).then((a.0, a.1).cmp(&(b.0, b.1)))
    });
    v.into_iter().map(|r| (r.0, r.1)).collect()
}

#[test]
fn paging_sorting_and_filtering_equal_a_plain_computation() {
    let (_, out) = dataset();
    let r = Results::open(out).unwrap();
    let t = Table::read(&out.join("subrun_status.parquet")).unwrap();
    let flags: Vec<String> = r.subruns.flag_names().map(String::from).collect();
    let (run, sub, ok, reasons) = (t.u32("run").unwrap(), t.u32("subrun").unwrap(), t.bool("ok").unwrap(), t.str("reasons").unwrap());
    let fcols: Vec<Vec<bool>> = flags.iter().map(|f| t.bool(f).unwrap()).collect();
    let rows: Vec<_> = (0..run.len()).map(|i| (run[i], sub[i], ok[i], fcols.iter().map(|c| Some(c[i])).collect::<Vec<_>>(), reasons[i].clone())).collect();
    let failing_flag = flags.iter().find(|f| rows.iter().any(|r| r.3[flags.iter().position(|g| g == *f).unwrap()] == Some(false))).unwrap().clone();
    let word = rows.iter().find(|r| !r.4.is_empty()).unwrap().4.split(' ').nth(1).unwrap().to_uppercase();
    let mut queries = Vec::new();
    for sort in ["run_subrun", "ok", "reasons", failing_flag.as_str()] {
        for desc in ["true", "false"] {
            for ff in ["true", "false"] {
                queries.push(vec![("sort", sort.to_string()), ("desc", desc.into()), ("failing_first", ff.into())]);
            }
        }
    }
    queries.push(vec![("run", "15922".into()), ("per_page", "4".into()), ("page", "2".into())]);
    queries.push(vec![("only_bad", "1".into()), ("sort", "reasons".into()), ("desc", "yes".into())]);
    queries.push(vec![("flag_failed", failing_flag.clone()), ("failing_first", "false".into())]);
    queries.push(vec![("text", word.clone()), ("per_page", "1".into()), ("page", "1".into())]);
    queries.push(vec![("per_page", "5".into()), ("page", "3".into())]);
    queries.push(vec![("per_page", "5".into()), ("page", "9".into())]);
    queries.push(vec![("run", "1".into())]);
    for pairs in &queries {
        let q = SubrunQuery::from_pairs(pairs).unwrap();
        let want = expected(&rows, &flags, &q);
        let page = r.subruns(&q).unwrap();
        assert_eq!((page.total, page.matched, page.page, page.per_page), (rows.len(), want.len(), q.page, q.per_page), "{pairs:?}");
        assert_eq!(page.pages, want.len().div_ceil(q.per_page));
        let got: Vec<(u32, u32)> = page.rows.iter().map(|x| (x.run, x.subrun)).collect();
        let from = ((q.page - 1) * q.per_page).min(want.len());
        assert_eq!(got, want[from..(from + q.per_page).min(want.len())], "{pairs:?}");
        // The whole order too, not only one page.
        let all: Vec<(u32, u32)> = r.matching(&q).unwrap().into_iter().map(|i| (r.subruns.runs[i], r.subruns.subruns[i])).collect();
        assert_eq!(all, want, "{pairs:?}");
    }
    let d = SubrunQuery::default();
    assert_eq!((d.page, d.per_page, d.failing_first, d.desc, &d.sort), (1, 100, true, false, &SortKey::RunSubrun));
    // Bad queries: errors naming the key, a 400's message.
    for (pairs, key, says) in [
        (vec![("page", "two")], "page", "not a whole number"),
        (vec![("page", "0")], "page", "from 1"),
        (vec![("per_page", "100000")], "per_page", "between 1 and 1000"),
        (vec![("per_page", "-1")], "per_page", "not a whole number"),
        (vec![("desc", "maybe")], "desc", "not true or false"),
        (vec![("run", "15921x")], "run", "not a run number"),
        (vec![("colour", "red")], "colour", "unknown"),
        (vec![("page", "1"), ("page", "2")], "page", "twice"),
        (vec![("sort", "")], "sort", "empty"),
    ] {
        let e = SubrunQuery::from_pairs(&pairs).unwrap_err();
        assert_eq!(e.key, key, "{pairs:?}");
        assert!(e.to_string().contains(says) && e.to_string().contains(key), "{pairs:?}: {e}");
    }
    for pairs in [vec![("sort", "no_such_ok")], vec![("flag_failed", "no_such_ok")]] {
        let e = r.subruns(&SubrunQuery::from_pairs(&pairs).unwrap()).unwrap_err();
        assert!(e.to_string().contains("no_such_ok") && e.to_string().contains("kicker_ok"), "{e}");
    }
}

/// A listed change: run, subrun, new ok, and each changed flag with old and new value.
type Listed = (u64, u64, bool, Vec<(String, Value, Value)>);

#[test]
fn tuning_lists_exactly_what_cuts_diff_lists() {
    let (_, out) = dataset();
    let dir = TempDir::new("results-tune");
    let tuner = Tuner::new(out).unwrap();
    assert!(tuner.base_is_dqc());
    let base = gm2dqc::cuts::STANDARD_TOML;
    for (what, new) in [("tighter kicker", base.replace("min = 120\nmax = 150", "min = 134\nmax = 150")), ("tighter t0", base.replace("within_fraction_of_run_median = 0.20", "within_fraction_of_run_median = 0.001"))] {
        assert_ne!(new, base, "{what}: the bound is in the standard file");
        let t0 = Instant::now();
        let got = tuner.tune(&new).unwrap();
        eprintln!("{what}: tune on {} subruns in {:.1} ms", got.subruns, t0.elapsed().as_secs_f64() * 1e3);
        let (a, b) = (dir.0.join("base.toml"), dir.0.join("new.toml"));
        std::fs::write(&a, base).unwrap();
        std::fs::write(&b, &new).unwrap();
        let (code, text, err) = gm2dqc(&["cuts", "diff", a.to_str().unwrap(), b.to_str().unwrap(), "--metrics", out.join("subrun_metrics.parquet").to_str().unwrap(), "--json"]);
        assert_eq!(code, 0, "{err}");
        let j: Value = serde_json::from_str(&text).unwrap();
        let want: Vec<Listed> = j["changes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| (c["run"].as_u64().unwrap(), c["subrun"].as_u64().unwrap(), c["new_ok"].as_bool().unwrap(), c["flags"].as_array().unwrap().iter().map(|f| (f["flag"].as_str().unwrap().to_string(), f["old"].clone(), f["new"].clone())).collect()))
            .collect();
        let mine: Vec<Listed> = got
            .changes
            .iter()
            .map(|c| (c.run as u64, c.subrun as u64, c.new_ok, c.flags.iter().map(|f| (f.flag.clone(), serde_json::json!(f.old), serde_json::json!(f.new))).collect()))
            .collect();
        assert_eq!(mine, want, "{what}");
        assert!(!want.is_empty(), "{what}: the change moves some subrun");
        assert_eq!(j["new_sha256"], got.new_sha256.as_str());
        assert_eq!((got.gained, got.lost), (want.iter().filter(|c| c.2).count(), want.iter().filter(|c| !c.2).count()));
        for c in &got.changes {
            for f in &c.flags {
                // The edited cut explains the change, with its value and both tests.
                let cut = f.cuts.iter().find(|x| x.old_test != x.new_test).unwrap_or_else(|| panic!("{what}: {f:?}"));
                assert!(cut.value.is_some() && cut.new_reason.is_some(), "{cut:?}");
                let old_test = cut.old_test.as_deref().unwrap();
                assert!(old_test.contains("min = 120 kV") || old_test.contains("within_fraction_of_run_median = 0.2"), "{cut:?}");
            }
            assert!(c.ctags_change.abs() == c.ctags);
        }
        let json = serde_json::to_value(&got).unwrap();
        for k in ["old", "old_sha256", "new", "new_sha256", "subruns", "old_good", "new_good", "gained", "lost", "ctags_gained", "ctags_lost", "flag_counts", "changes"] {
            assert!(json.get(k).is_some(), "TuneResult JSON has {k}");
        }
    }
    // The same text as the base changes nothing.
    let same = tuner.tune(base).unwrap();
    assert!(same.changes.is_empty() && same.old_sha256 == same.new_sha256);
    // A broken text: located diagnostics, serializable.
    let broken = base.replace("min = 120\nmax = 150", "min = 150\nmax = 120");
    let d = tuner.tune_named(&broken, "edited.toml").unwrap_err();
    let line = broken.lines().position(|l| l == "min = 150").unwrap() + 1;
    assert!(d.iter().any(|x| x.line == line && x.file == "edited.toml"), "{d:?}");
    let j = serde_json::to_value(&d).unwrap();
    assert!(j[0]["line"].is_u64() && j[0]["column"].is_u64() && j[0]["message"].is_string(), "{j}");
    // A base given as text, not the dqc stage's.
    let other = Tuner::with_base(out, &broken.replace("min = 150\nmax = 120", "min = 60\nmax = 150"), "loose.toml").unwrap();
    assert!(!other.base_is_dqc());
    assert!(matches!(Tuner::with_base(out, "format = 1\nnonsense = [", "x.toml"), Err(results::TuneError::Invalid(_))));
}

#[test]
fn a_tuner_whose_cut_file_is_gone_asks_for_its_text() {
    let (data, _) = dataset();
    let dir = TempDir::new("results-tune-gone");
    let (cuts, out) = (dir.0.join("mine.toml"), dir.0.join("out"));
    std::fs::write(&cuts, gm2dqc::cuts::STANDARD_TOML.replace("min = 120\nmax = 150", "min = 110\nmax = 150")).unwrap();
    let (code, text, err) = gm2dqc(&["--quiet", "analyze", "--input", data.to_str().unwrap(), "--out", out.to_str().unwrap(), "--cuts", cuts.to_str().unwrap()]);
    assert_eq!(code, 0, "{text}{err}");
    let t = Tuner::new(&out).unwrap();
    assert!(t.base_is_dqc() && t.base().sha256 != gm2dqc::cuts::standard().sha256);
    std::fs::write(&cuts, "changed").unwrap();
    let e = Tuner::new(&out).err().unwrap().to_string();
    assert!(e.contains("mine.toml") && e.contains("changed") && e.contains("with_base"), "{e}");
    std::fs::remove_file(&cuts).unwrap();
    let e = Tuner::new(&out).err().unwrap().to_string();
    assert!(e.contains("no longer there"), "{e}");
}

#[test]
fn saved_cut_files_are_checked_hashed_and_never_replaced() {
    let dir = TempDir::new("results-save");
    let text = gm2dqc::cuts::STANDARD_TOML.replace("min = 120\nmax = 150", "min = 125\nmax = 150");
    let saved = results::save_cut_file(&dir.0, "tight_kicker", &text).unwrap();
    assert_eq!(saved.path, dir.0.join("tight_kicker.toml"));
    assert_eq!(std::fs::read_to_string(&saved.path).unwrap(), text);
    // The hash `dqc --cuts FILE` records: the loaded file's, and sha256sum's.
    assert_eq!(saved.sha256, gm2dqc::cuts::load(&saved.path).unwrap().sha256);
    let o = std::process::Command::new("sha256sum").arg(&saved.path).output().unwrap();
    assert_eq!(String::from_utf8_lossy(&o.stdout).split_whitespace().next().unwrap(), saved.sha256);
    let again = results::save_cut_file(&dir.0, "tight_kicker.toml", gm2dqc::cuts::STANDARD_TOML).unwrap_err();
    assert!(matches!(again, results::SaveError::Exists(_)) && again.to_string().contains("never replaced"), "{again}");
    assert_eq!(std::fs::read_to_string(&saved.path).unwrap(), text, "the first file is unchanged");
    for bad in ["", "../x.toml", "a/b", ".hidden", "x y", "é.toml", ".toml", "-x", "dir\\x"] {
        let e = results::save_cut_file(&dir.0, bad, &text).unwrap_err();
        assert!(matches!(e, results::SaveError::BadName(..)), "{bad:?}: {e}");
    }
    let e = results::save_cut_file(&dir.0, "broken", "format = 1\n[[flag]]\n").unwrap_err();
    let results::SaveError::Invalid(d) = &e else { panic!("{e}") };
    assert!(!d.is_empty() && d[0].line >= 1);
    let left: Vec<String> = std::fs::read_dir(&dir.0).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    assert_eq!(left, ["tight_kicker.toml"], "no temporary or refused file is left");
}

#[test]
fn a_damaged_directory_is_an_error_naming_the_file() {
    use polars::prelude::*;
    let (_, out) = dataset();
    let check = |tag: &str, damage: &dyn Fn(&Path), file: &str, says: &[&str]| {
        let dir = copy_out(out, &format!("results-bad-{tag}"));
        damage(&dir.0);
        let Err(e) = Results::open(&dir.0) else { panic!("{tag}: a damaged directory opened") };
        let e = e.to_string();
        assert!(e.contains(&dir.0.join(file).display().to_string()), "{tag}: {e}");
        for s in says {
            assert!(e.contains(s), "{tag}: {s:?} not in {e}");
        }
    };
    check("missing", &|d| std::fs::remove_file(d.join("subrun_status.parquet")).unwrap(), "subrun_status.parquet", &["missing", "gm2dqc dqc"]);
    check("no-manifest", &|d| std::fs::remove_file(d.join("manifest.json")).unwrap(), "manifest.json", &["not a gm2dqc output directory"]);
    check("garbage-manifest", &|d| std::fs::write(d.join("manifest.json"), b"{\"dataset\": 3, ").unwrap(), "manifest.json", &["manifest"]);
    check("wrong-field", &|d| std::fs::write(d.join("manifest.json"), br#"{"dataset": 3, "input": "x", "stages": {}}"#).unwrap(), "manifest.json", &["dataset"]);
    let truncate = |name: &'static str| move |d: &Path| {
        let p = d.join(name);
        let b = std::fs::read(&p).unwrap();
        std::fs::write(&p, &b[..b.len() / 2]).unwrap();
    };
    for name in ["subrun_status.parquet", "run_summary.parquet", "gain_constants.parquet", "calo_channel_status.parquet", "tracker_channel_status.parquet"] {
        check(&format!("truncated-{name}"), &truncate(name), name, &["Parquet"]);
    }
    check("garbage-parquet", &|d| std::fs::write(d.join("run_summary.parquet"), vec![0x50u8; 4096]).unwrap(), "run_summary.parquet", &["Parquet"]);
    // A column of the wrong type: `ok` as text, `run` as floats, `calo` out of range.
    let rewrite = |name: &'static str, f: fn(&mut DataFrame)| move |d: &Path| {
        let p = d.join(name);
        let mut df = gm2dqc::tables::read_parquet(&p).unwrap();
        f(&mut df);
        gm2dqc::tables::write_parquet(&mut df, &p).unwrap();
    };
    check("ok-text", &rewrite("subrun_status.parquet", |df| {
        let n = df.height();
        df.with_column(Column::new("ok".into(), vec!["yes"; n])).unwrap();
    }), "subrun_status.parquet", &["column `ok`", "not booleans"]);
    check("run-float", &rewrite("run_summary.parquet", |df| {
        let n = df.height();
        df.with_column(Column::new("run".into(), vec![1.5f64; n])).unwrap();
    }), "run_summary.parquet", &["column `run`", "not integers"]);
    check("negative-subrun", &rewrite("subrun_status.parquet", |df| {
        let n = df.height();
        df.with_column(Column::new("subrun".into(), vec![-3i64; n])).unwrap();
    }), "subrun_status.parquet", &["column `subrun`"]);
    check("calo-range", &rewrite("gain_constants.parquet", |df| {
        let n = df.height();
        df.with_column(Column::new("calo".into(), vec![99u32; n])).unwrap();
    }), "gain_constants.parquet", &["calo 99"]);
    check("no-column", &rewrite("calo_channel_status.parquet", |df| {
        let _ = df.drop_in_place("hot").unwrap();
    }), "calo_channel_status.parquet", &["column `hot`", "missing"]);
    check("other-cuts", &rewrite("subrun_status.parquet", |df| {
        let n = df.height();
        df.with_column(Column::new("cuts_sha256".into(), vec!["ab".repeat(32); n])).unwrap();
    }), "subrun_status.parquet", &["cuts_sha256", "abababababab"]);
    check("summary", &|d| std::fs::write(d.join("summary.json"), b"[1,").unwrap(), "summary.json", &["summary"]);
    check("inputs", &|d| std::fs::write(d.join("inputs.json"), br#"[{"path": "x.root", "size": 1, "sha256": "00"}]"#).unwrap(), "inputs.json", &["entry 0", "not a subrun file name"]);
    check("inputs-garbage", &|d| std::fs::write(d.join("inputs.json"), b"{").unwrap(), "inputs.json", &["input list"]);
    // The tuner reads the metrics table: damaged, it names it.
    let dir = copy_out(out, "results-bad-metrics");
    truncate("subrun_metrics.parquet")(&dir.0);
    let Err(e) = Tuner::new(&dir.0) else { panic!("a truncated metrics table loaded") };
    assert!(e.to_string().contains(&dir.0.join("subrun_metrics.parquet").display().to_string()) && e.to_string().contains("Parquet"), "{e}");
}

#[test]
fn twenty_thousand_subruns_page_and_tune_in_milliseconds() {
    let (_, out) = dataset();
    let dir = copy_out(out, "results-20k");
    let rows = gm2dqc::tables::subrun_metrics_rows(&Table::read(&out.join("subrun_metrics.parquet")).unwrap()).unwrap();
    let big: Vec<_> = (0..20_000)
        .map(|i| {
            let mut m = rows[i % rows.len()].clone();
            (m.run, m.subrun) = (20_000 + (i / 200) as u32, (i % 200) as u32 + 1);
            m
        })
        .collect();
    let mut df = gm2dqc::tables::subrun_metrics(&big);
    gm2dqc::tables::write_parquet(&mut df, &dir.0.join("subrun_metrics.parquet")).unwrap();
    let cuts = gm2dqc::cuts::standard();
    let ev = gm2dqc::cuts::eval::evaluate(&cuts, &df).unwrap();
    gm2dqc::job::outputs::flag_tables(&dir.0, &ev, &df, &dir.0.join("subrun_metrics.parquet"), &cuts.run_constants).unwrap();
    let t0 = Instant::now();
    let r = Results::open(&dir.0).unwrap();
    let open = t0.elapsed();
    assert_eq!(r.subruns.len(), 20_000);
    let q = SubrunQuery::from_pairs(&[("sort", "reasons"), ("desc", "true"), ("text", "_OK: "), ("only_bad", "true"), ("per_page", "1000")]).unwrap();
    let t0 = Instant::now();
    let page = r.subruns(&q).unwrap();
    let query = t0.elapsed();
    let t0 = Instant::now();
    let all = r.subruns(&SubrunQuery::from_pairs(&[("sort", "ok"), ("per_page", "1000"), ("page", "7")]).unwrap()).unwrap();
    let query_all = t0.elapsed();
    assert_eq!((all.matched, all.rows.len()), (20_000, 1000));
    assert!(page.matched > 0);
    let t0 = Instant::now();
    let tuner = Tuner::new(&dir.0).unwrap();
    let load = t0.elapsed();
    let t0 = Instant::now();
    let tuned = tuner.tune(&gm2dqc::cuts::STANDARD_TOML.replace("min = 120\nmax = 150", "min = 134\nmax = 150")).unwrap();
    let tune = t0.elapsed();
    assert!(!tuned.changes.is_empty());
    eprintln!(
        "20,000 subruns ({} build): open {:.1} ms; filtered+sorted page {:.2} ms ({} matched); sorted page 7 {:.2} ms; tuner load {:.1} ms; tune {:.1} ms ({} changes)",
        if cfg!(debug_assertions) { "debug" } else { "release" },
        open.as_secs_f64() * 1e3,
        query.as_secs_f64() * 1e3,
        page.matched,
        query_all.as_secs_f64() * 1e3,
        load.as_secs_f64() * 1e3,
        tune.as_secs_f64() * 1e3,
        tuned.changes.len()
    );
}
