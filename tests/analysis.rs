//! The analyses against a simulated dataset's truth (the truth itself is checked
//! independently with uproot in tests/crosscheck/check_simulation.py).

use gm2dqc::analysis::channels::ChannelCuts;
use gm2dqc::analysis::metrics::subrun_metrics;
use gm2dqc::dataset::{parse_file_name, SubrunId};
use gm2dqc::hist::{Axis, Hist};
use gm2dqc::root::bytes::ArrayElem;
use gm2dqc::root::{RootFile, RootWriter, WriteOptions};
use gm2dqc::simulate::{simulate, SimConfig, Truth};

use crate::common::TempDir;

#[test]
fn subrun_metrics_reproduce_the_injected_quantities() {
    let dir = TempDir::new("metrics");
    let mut cfg = SimConfig::new(&dir.0, 1, 4, 21);
    cfg.fault_rate = 1.0;
    simulate(&cfg, &|_| {}).unwrap();
    let truth: Truth = serde_json::from_slice(&std::fs::read(dir.0.join("truth.json")).unwrap()).unwrap();
    for s in &truth.subruns {
        let f = RootFile::open(dir.0.join(&s.file)).unwrap();
        let id = parse_file_name(&s.file).unwrap().1;
        let r = subrun_metrics(&f, id, &ChannelCuts::STANDARD);
        assert!(r.errors.is_empty(), "{:?}", r.errors);
        let (m, q) = (&r.metrics, &s.quantities);
        let what = format!("{} ({:?})", s.file, s.fault);
        assert_eq!((m.start_time, m.end_time), (q.start_time, q.end_time), "{what}");
        assert!(m.start_time.is_some(), "{what}: the simulator writes a timeTree");
        assert_eq!(m.fills, Some(q.fills), "{what}");
        assert_eq!(m.fills_nodqc, Some(q.fills_nodqc), "{what}");
        assert_eq!(m.fill_fraction, Some(q.fills / q.fills_nodqc), "{what}");
        assert_eq!(m.ctags, Some(q.ctags), "{what}");
        assert_eq!(m.ctags_nodqc, Some(q.ctags_nodqc), "{what}");
        assert_eq!(m.t0, Some(q.t0), "{what}");
        assert_eq!(m.quad_step1, Some(q.quad_step1), "{what}");
        assert_eq!(m.quad_step2, Some(q.quad_step2), "{what}");
        assert_eq!(m.kicker_amplitude, q.kicker_amplitude.map(Some), "{what}");
        assert_eq!(m.kicker_timing, q.kicker_timing.map(Some), "{what}");
        assert_eq!(m.kicker_fwhm, q.kicker_fwhm.map(Some), "{what}");
        assert_eq!(m.laser_sm, q.laser_sm.map(Some), "{what}");
        assert_eq!((m.singles, m.doubles, m.background), (Some(q.singles), Some(q.doubles), Some(q.background)), "{what}");
        assert_eq!(m.hv_trip_fills, Some(q.hv_trip_fills), "{what}");
        assert_eq!(m.n_dead_xtals, Some(q.n_dead_xtals as u32), "{what}");
        assert_eq!(m.n_hot_xtals, Some(q.n_hot_xtals as u32), "{what}");
        assert_eq!(m.n_noisy_xtals, Some(q.n_noisy_xtals as u32), "{what}");
        assert_eq!(m.n_dead_straws, Some(q.n_dead_straws as u32), "{what}");
        assert_eq!(m.n_noisy_straws, Some(q.n_noisy_straws as u32), "{what}");
        // The loss ratio by the g-2 formula, written out here by hand.
        let (d, b, c) = (q.doubles, q.background, q.ctags);
        let want = (d - b) / c;
        let err = want * (((d + b).sqrt() / (d - b)).powi(2) + 1.0 / c).sqrt();
        assert!((m.loss_ratio_ctags.unwrap() - want).abs() <= 1e-12 * want.abs(), "{what}");
        assert!((m.loss_ratio_ctags_err.unwrap() - err).abs() <= 1e-12 * err.abs(), "{what}");
        // The channel status names exactly the injected channels (plus the fault's).
        let xt = r.xtals.as_ref().unwrap();
        for c in &truth.crystals {
            assert_eq!(xt[c.channel].hot, c.hot, "{what}: crystal {}", c.channel);
            assert_eq!(xt[c.channel].noisy, c.noisy, "{what}: crystal {}", c.channel);
            if c.dead {
                assert!(xt[c.channel].dead, "{what}: crystal {}", c.channel);
            }
        }
        let st = r.straws.as_ref().unwrap();
        for &w in &truth.dead_straws {
            assert!(st[w].dead, "{what}: straw {w}");
        }
        for &w in &truth.noisy_straws {
            assert!(st[w].noisy, "{what}: straw {w}");
        }
    }
}

#[test]
fn a_missing_object_nulls_its_metrics_and_names_itself() {
    let dir = TempDir::new("metrics-missing");
    let mut w = RootWriter::new(WriteOptions::default());
    let mut bunch = Hist::new_1d("bunch", "", Axis::fixed(16, 0.0, 16.0), ArrayElem::F64);
    for i in 0..100 {
        bunch.fill((i % 16) as f64 + 0.5, 1.0);
    }
    w.put_hist("offNearlineWithDQC/bunch", &bunch.to_raw()).unwrap();
    w.put_hist("offNearlineNoDQC/bunch", &bunch.to_raw()).unwrap();
    let path = dir.0.join("partial_15921.00001.root");
    w.write(&path).unwrap();
    let f = RootFile::open(&path).unwrap();
    let r = subrun_metrics(&f, SubrunId { run: 15921, subrun: 1 }, &ChannelCuts::STANDARD);
    assert_eq!(r.metrics.fills, Some(100.0));
    assert_eq!(r.metrics.start_time, None, "no timeTree: no times, and no error for it");
    assert!(!r.errors.iter().any(|e| e.to_string().contains("timeTree")));
    assert_eq!(r.metrics.fill_fraction, Some(1.0));
    assert_eq!(r.metrics.ctags, None);
    assert_eq!(r.metrics.ctags_per_fill, None);
    assert_eq!(r.metrics.loss_ratio, None);
    assert!(r.xtals.is_none() && r.straws.is_none());
    let msgs: Vec<String> = r.errors.iter().map(|e| e.to_string()).collect();
    assert!(msgs.iter().any(|m| m.contains("partial_15921.00001.root") && m.contains("'offNearlineWithDQC/nearlineCTag'")), "{msgs:?}");
    assert!(msgs.iter().any(|m| m.contains("'calo/calo24/xtal53Energy'")), "{msgs:?}");
}

#[test]
fn interval_sums_merge_like_adding_files_one_by_one() {
    use gm2dqc::analysis::merge::IntervalSums;
    let dir = TempDir::new("merge");
    let cfg = SimConfig::new(&dir.0, 1, 3, 8);
    simulate(&cfg, &|_| {}).unwrap();
    let truth: Truth = serde_json::from_slice(&std::fs::read(dir.0.join("truth.json")).unwrap()).unwrap();
    let mut all = IntervalSums::new(15921, 15921);
    let (mut a, mut b) = (IntervalSums::new(15921, 15921), IntervalSums::new(15921, 15921));
    for (k, sub) in truth.subruns.iter().enumerate() {
        let f = RootFile::open(dir.0.join(&sub.file)).unwrap();
        let id = parse_file_name(&sub.file).unwrap().1;
        // The pipeline's path: hits and pedestal from the metrics, the rest read by the sums.
        let r = subrun_metrics(&f, id, &ChannelCuts::STANDARD);
        all.add_subrun(&f, id, &r);
        if k == 0 { a.add_subrun(&f, id, &r) } else { b.add_subrun(&f, id, &r) }
    }
    assert!(all.errors.is_empty(), "{:?}", all.errors);
    // A partial-sum merge equals adding the files one by one, bin for bin (exactly here:
    // the simulator's quantised values and integer counts sum without rounding).
    a.merge(b);
    assert_eq!(a.subruns, all.subruns);
    assert_eq!(a.out_of_fill, all.out_of_fill);
    assert_eq!(a.pedestal, all.pedestal);
    assert_eq!(a.in_fill, all.in_fill);
    assert_eq!(a.xtal_hits, all.xtal_hits);
    assert_eq!(a.straw_hits, all.straw_hits);
    assert_eq!(a.drift_time, all.drift_time);
    // Profile sums are sums of weights: the entries add up.
    let oof = all.out_of_fill.as_ref().unwrap();
    let per_file: f64 = truth.subruns.iter().map(|s| RootFile::open(dir.0.join(&s.file)).unwrap().hist("laser/outOfFill").unwrap().entries).sum();
    assert_eq!(oof.entries(), per_file);
    // Hits are the sums of each file's Integral(0, 251), read here directly.
    for ch in [0usize, 700, 1295] {
        let path = format!("calo/calo{}/xtal{}Energy", ch / 54 + 1, ch % 54);
        let want: f64 = truth.subruns.iter().map(|s| Hist::from_raw(RootFile::open(dir.0.join(&s.file)).unwrap().hist(&path).unwrap()).unwrap().integral(0, 251)).sum();
        assert_eq!(all.xtal_hits[ch], want, "{path}");
    }
    let ped: f64 = truth.subruns.iter().map(|s| RootFile::open(dir.0.join(&s.file)).unwrap().hist("calo/pedestalRMS").unwrap().entries).sum();
    assert_eq!(all.pedestal.as_ref().unwrap().entries(), ped, "the pedestal profile taken from the metrics is summed too");
}
