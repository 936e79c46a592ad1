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
fn interval_sums_give_out_of_fill_gains_within_errors_of_the_truth() {
    use gm2dqc::analysis::gain::oof_gains;
    use gm2dqc::analysis::merge::IntervalSums;
    let dir = TempDir::new("gain");
    let cfg = SimConfig::new(&dir.0, 2, 3, 8);
    simulate(&cfg, &|_| {}).unwrap();
    let truth: Truth = serde_json::from_slice(&std::fs::read(dir.0.join("truth.json")).unwrap()).unwrap();
    // One interval per run, files added in (run, subrun) order.
    let mut sums: Vec<IntervalSums> = Vec::new();
    for (i, run) in [15921u32, 15922].iter().enumerate() {
        let mut s = IntervalSums::new(*run, *run);
        for sub in truth.subruns.iter().filter(|x| x.run == *run) {
            let f = RootFile::open(dir.0.join(&sub.file)).unwrap();
            s.add_file(&f, parse_file_name(&sub.file).unwrap().1);
        }
        assert!(s.errors.is_empty(), "{:?}", s.errors);
        assert_eq!(s.subruns.len(), 3, "run {i}");
        sums.push(s);
    }
    // A partial-sum merge equals adding the files one by one, bin for bin (exactly here:
    // the simulator's quantised values and integer counts sum without rounding, so the
    // order of additions cannot show).
    let mut a = IntervalSums::new(15921, 15921);
    let mut b = IntervalSums::new(15921, 15921);
    for (k, sub) in truth.subruns.iter().filter(|x| x.run == 15921).enumerate() {
        let f = RootFile::open(dir.0.join(&sub.file)).unwrap();
        let id = parse_file_name(&sub.file).unwrap().1;
        if k == 0 {
            a.add_file(&f, id)
        } else {
            b.add_file(&f, id)
        }
    }
    a.merge(b);
    assert_eq!(a.out_of_fill, sums[0].out_of_fill);
    assert_eq!(a.xtal_hits, sums[0].xtal_hits);
    let reference = sums[0].out_of_fill.as_ref().unwrap();
    let same = oof_gains(reference, reference, true);
    let other = oof_gains(sums[1].out_of_fill.as_ref().unwrap(), reference, false);
    let (mut live, mut within) = (0, 0);
    for c in &truth.crystals {
        match (&same[c.channel], &other[c.channel]) {
            (None, None) => assert!(c.dead, "crystal {} has no laser entries but is not dead", c.channel),
            (Some(s), Some(o)) => {
                assert!(!c.dead);
                assert_eq!((s.gain, s.gain_err), (1.0, 0.0));
                live += 1;
                if ((o.gain - c.gain[1]) / o.gain_err).abs() <= 3.0 {
                    within += 1;
                }
            }
            _ => panic!("crystal {}: laser entries in one run only", c.channel),
        }
    }
    assert_eq!(live, 1296 - truth.crystals.iter().filter(|c| c.dead).count());
    assert!(within as f64 >= 0.99 * live as f64, "{within} of {live} gains within 3 errors of the truth");
}
