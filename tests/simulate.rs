//! `gm2dqc simulate`: determinism across thread counts, the contract's objects, and a
//! truth whose expected flags follow from the injected causes. (uproot's independent
//! reading of the files against truth.json is in tests/crosscheck/check_simulation.py.)

use std::collections::BTreeSet;
use std::path::Path;

use gm2dqc::hist::Histogram;
use gm2dqc::layout::{self, Class};
use gm2dqc::root::RootFile;
use gm2dqc::simulate::{simulate, CompressionChoice, FaultKind, SimConfig, Truth};

use crate::common::TempDir;

fn run(cfg: &SimConfig, threads: usize) -> Truth {
    let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
    pool.install(|| simulate(cfg, &|_| {})).unwrap();
    serde_json::from_slice(&std::fs::read(cfg.out.join("truth.json")).unwrap()).unwrap()
}

fn files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut v: Vec<(String, Vec<u8>)> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .map(|p| (p.file_name().unwrap().to_string_lossy().into_owned(), std::fs::read(&p).unwrap()))
        .collect();
    v.sort();
    v
}

#[test]
fn same_seed_gives_identical_bytes_on_one_and_two_threads() {
    let (a, b) = (TempDir::new("sim-a"), TempDir::new("sim-b"));
    let mut cfg = SimConfig::new(&a.0, 1, 3, 99);
    cfg.compression = CompressionChoice::Mixed;
    run(&cfg, 1);
    cfg.out = b.0.clone();
    run(&cfg, 2);
    let (fa, fb) = (files(&a.0), files(&b.0));
    assert_eq!(fa.len(), 4, "3 subrun files and truth.json");
    for ((na, ba), (nb, bb)) in fa.iter().zip(&fb) {
        assert_eq!(na, nb);
        assert!(ba == bb, "{na} differs between 1 and 2 threads");
    }
    // A different seed gives a different dataset.
    let c = TempDir::new("sim-c");
    let mut other = SimConfig::new(&c.0, 1, 3, 100);
    other.compression = CompressionChoice::Mixed;
    run(&other, 2);
    assert_ne!(files(&c.0)[0].1, fa[0].1);
}

#[test]
fn every_contract_object_has_its_class_and_binning() {
    let dir = TempDir::new("sim-layout");
    let cfg = SimConfig::new(&dir.0, 1, 1, 5);
    let truth = run(&cfg, 2);
    let f = RootFile::open(dir.0.join(&truth.subruns[0].file)).unwrap();
    assert_eq!(truth.subruns[0].file, "gm2dqc_sim_15921.00001.root");
    for spec in layout::contract_objects() {
        let h = Histogram::from_raw(f.hist(&spec.path).unwrap_or_else(|e| panic!("{e}"))).unwrap();
        assert_eq!(h.class_name(), spec.class.name(), "{}", spec.path);
        assert!(h.axes()[0].same_binning(&spec.x), "{}: x binning", spec.path);
        if let Some(y) = &spec.y {
            assert!(h.axes()[1].same_binning(y), "{}: y binning", spec.path);
        }
        if spec.class != Class::TProfile {
            assert!(h.entries() >= 0.0);
        }
    }
    // timeTree: a top-level TTree (read by uproot, ROOT and oxyroot in the cross-checks).
    let k = f.key("timeTree").unwrap();
    assert_eq!(k.class_name, "TTree");
    let q = &truth.subruns[0].quantities;
    let (start, end) = (q.start_time.unwrap(), q.end_time.unwrap());
    assert!(end > start && (end - start) < 12.0, "a subrun lasts about 10 s: {start} .. {end}");
}

/// The small dataset committed in data-fixtures/sim-small is what the command makes
/// today: regenerate it with the command in data-fixtures/README.md when the
/// simulator changes on purpose.
#[test]
fn committed_small_dataset_is_reproducible() {
    let committed = crate::common::fixture("sim-small");
    let dir = TempDir::new("sim-small");
    let mut cfg = SimConfig::new(&dir.0, 2, 1, 2026);
    cfg.compression = CompressionChoice::Fixed("lzma:9".parse().unwrap());
    run(&cfg, 2);
    let (ours, theirs) = (files(&dir.0), files(&committed));
    let names = |v: &[(String, Vec<u8>)]| v.iter().map(|f| f.0.clone()).filter(|n| n != "README.md").collect::<Vec<_>>();
    assert_eq!(names(&ours), names(&theirs));
    for (a, b) in ours.iter().zip(theirs.iter().filter(|f| f.0 != "README.md")) {
        assert!(a.1 == b.1, "{} differs from the committed data-fixtures/sim-small/{}: regenerate it (data-fixtures/README.md)", a.0, b.0);
    }
}

#[test]
fn bad_subruns_fail_exactly_their_flags_and_good_ones_pass_all() {
    let dir = TempDir::new("sim-truth");
    let mut cfg = SimConfig::new(&dir.0, 2, 8, 11);
    cfg.fault_rate = 0.75;
    let truth = run(&cfg, 2);
    let kinds: BTreeSet<FaultKind> = truth.subruns.iter().filter_map(|s| s.fault).collect();
    assert_eq!(kinds.len(), FaultKind::ALL.len(), "12 bad subruns cover every kind: {kinds:?}");
    for s in &truth.subruns {
        let failing: BTreeSet<&str> = s.expected.iter().filter(|(k, v)| !**v && k.as_str() != "ok").map(|(k, _)| k.as_str()).collect();
        let want: BTreeSet<&str> = s.fault.map(|f| f.failing_flags().iter().copied().collect()).unwrap_or_default();
        assert_eq!(failing, want, "run {} subrun {} ({:?}): {:?}", s.run, s.subrun, s.fault, s.quantities);
        assert_eq!(s.expected["ok"], s.fault.is_none());
    }
    // Gains: the reference run is 1, later runs drift by at most a few percent.
    for c in &truth.crystals {
        assert_eq!(c.gain[0], 1.0);
        assert!((c.gain[1] - 1.0).abs() < 0.05);
        assert!((0.002..=0.05).contains(&c.ifg_amp) && (3.0..=40.0).contains(&c.ifg_tau_us));
    }
    assert_eq!(truth.crystals.iter().filter(|c| c.dead).count(), 3);
}

#[test]
fn faults_none_gives_a_clean_dataset() {
    let dir = TempDir::new("sim-clean");
    let mut cfg = SimConfig::new(&dir.0, 1, 3, 3);
    cfg.faults = Vec::new();
    let truth = run(&cfg, 2);
    assert!(truth.subruns.iter().all(|s| s.fault.is_none() && s.expected.values().all(|v| *v)));
    assert!(truth.crystals.iter().all(|c| !c.dead && !c.hot && !c.noisy));
    assert!(truth.dead_straws.is_empty() && truth.noisy_straws.is_empty());
    assert!(truth.subruns.iter().all(|s| s.quantities.n_dead_xtals == 0 && s.quantities.n_dead_straws == 0));
}

#[test]
fn an_existing_dataset_is_not_overwritten_without_force() {
    let dir = TempDir::new("sim-force");
    let mut cfg = SimConfig::new(&dir.0, 1, 1, 1);
    run(&cfg, 1);
    let e = simulate(&cfg, &|_| {}).unwrap_err().to_string();
    assert!(e.contains("--force"), "{e}");
    // --force replaces the dataset: a smaller one leaves no stale subrun files behind.
    cfg.force = true;
    cfg.subruns = 2;
    simulate(&cfg, &|_| {}).unwrap();
    cfg.subruns = 1;
    simulate(&cfg, &|_| {}).unwrap();
    let names: Vec<String> = files(&dir.0).into_iter().map(|f| f.0).collect();
    assert_eq!(names, vec!["gm2dqc_sim_15921.00001.root".to_string(), "truth.json".to_string()]);
}
