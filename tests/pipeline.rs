//! The analysis pass over whole datasets: constants against the simulator's truth,
//! thread-count invariance, isolation of bad inputs, and the `analyze` command.

use gm2dqc::analysis::interval::GainStatus;
use gm2dqc::dataset::{file_name, scan, SubrunId};
use gm2dqc::hist::{Axis, Profile};
use gm2dqc::layout::paths;
use gm2dqc::pipeline::{analyze, Analysis, Config, ConfigError};
use gm2dqc::root::{RootWriter, WriteOptions};
use gm2dqc::simulate::{simulate, SimConfig, Truth};

use crate::common::TempDir;

fn mean_and_std(v: &[f64]) -> (f64, f64) {
    let n = v.len() as f64;
    let m = v.iter().sum::<f64>() / n;
    (m, (v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (n - 1.0)).sqrt())
}

#[test]
fn constants_and_channel_status_match_the_truth() {
    let dir = TempDir::new("pipeline-truth");
    let cfg = SimConfig::new(&dir.0, 2, 12, 4242);
    simulate(&cfg, &|_| {}).unwrap();
    let truth: Truth = serde_json::from_slice(&std::fs::read(dir.0.join("truth.json")).unwrap()).unwrap();
    let ds = scan(&dir.0).unwrap();
    assert_eq!(ds.files.len(), 24);
    assert_eq!(ds.ignored.len(), 1, "truth.json is listed as ignored");
    let a = analyze(&ds, &Config::standard(), &|_| {}).unwrap();
    assert!(a.errors.is_empty(), "{:?}", a.errors);
    assert_eq!(a.metrics.len(), 24);
    assert_eq!(a.intervals.len(), 2);
    assert_eq!(a.reference_run, 15921);

    let (mut amp_pulls, mut tau_pulls) = (Vec::new(), Vec::new());
    for (ri, iv) in a.intervals.iter().enumerate() {
        assert_eq!((iv.run_first, iv.run_last, iv.subruns), (15921 + ri as u32, 15921 + ri as u32, 12));
        let (mut live, mut within) = (0, 0);
        for c in &truth.crystals {
            let g = &iv.gains[c.channel];
            if c.dead {
                assert_eq!(g.status, GainStatus::NoLaser, "run {ri} dead crystal {}: {}", c.channel, g.detail);
                continue;
            }
            assert_eq!(g.status, GainStatus::Ok, "run {ri} crystal {}: {}", c.channel, g.detail);
            let f = g.fit.as_ref().unwrap();
            amp_pulls.push((f.amp - c.ifg_amp) / f.amp_err);
            tau_pulls.push((f.tau_us - c.ifg_tau_us) / f.tau_err);
            let (gain, err) = g.oof.gain.unwrap();
            live += 1;
            if ri == 0 {
                assert_eq!((gain, err), (1.0, 0.0), "the reference run's gain is 1 by definition");
                within += 1;
            } else if ((gain - c.gain[ri]) / err).abs() <= 3.0 {
                within += 1;
            }
        }
        assert!(within as f64 >= 0.99 * live as f64, "run {ri}: {within} of {live} gains within 3 errors of the truth");
        // Interval channel status: exactly the injected channels (a fault that kills
        // channels for one subrun does not make them dead over the run).
        for c in &truth.crystals {
            let s = &iv.xtals[c.channel];
            assert_eq!((s.dead, s.hot, s.noisy), (c.dead, c.hot, c.noisy), "run {ri} crystal {}", c.channel);
        }
        for (w, s) in iv.straws.iter().enumerate() {
            assert_eq!(s.status.dead, truth.dead_straws.contains(&w), "run {ri} straw {w}");
            assert_eq!(s.status.noisy, truth.noisy_straws.contains(&w), "run {ri} straw {w}");
            assert!(s.drift_mean_ns.is_some_and(|m| m > 10.0 && m < 90.0) || s.status.dead, "run {ri} straw {w}: {s:?}");
        }
    }
    let (am, asd) = mean_and_std(&amp_pulls);
    let (tm, tsd) = mean_and_std(&tau_pulls);
    eprintln!("pulls over {} fits: A mean {am:.3} width {asd:.3}; tau mean {tm:.3} width {tsd:.3}", amp_pulls.len());
    assert!(am.abs() < 0.1 && (asd - 1.0).abs() < 0.1, "A pulls: mean {am}, width {asd}");
    assert!(tm.abs() < 0.1 && (tsd - 1.0).abs() < 0.1, "tau pulls: mean {tm}, width {tsd}");
}

/// Files whose sums do not add exactly in floating point (unlike the simulator's
/// quantised values), so that the grouping of additions would show in the result.
pub fn write_inexact_dataset(dir: &std::path::Path, runs: u32, subruns: u32) {
    for run in 0..runs {
        for sub in 1..=subruns {
            let id = SubrunId { run: 100 + run, subrun: sub };
            let mut w = RootWriter::new(WriteOptions::default());
            let mut oof = Profile::new_1d("outOfFill", "", Axis::fixed(1296, -0.5, 1295.5));
            for ch in 0..1296 {
                for k in 0..3 {
                    oof.fill(ch as f64, 0.7 + 0.1 * ((ch * 7 + k * 13 + sub as usize * 31) as f64).sin() / 3.0, 1.0);
                }
            }
            w.put_hist(paths::OUT_OF_FILL, &oof.to_raw()).unwrap();
            for xtal in 0..3 {
                let mut p = Profile::new_1d(&format!("xtal{xtal}"), "", Axis::fixed(200, 0.0, 400.0));
                for bin in 0..200 {
                    let t = bin as f64 * 2.0 + 1.0;
                    for k in 0..12 {
                        let y = 1.0 - 0.03 * (-t / 9.0).exp() + 0.004 * ((bin * 12 + k + sub as usize * 977 + xtal * 5) as f64).sin() / 0.7;
                        p.fill(t, y, 1.0);
                    }
                }
                w.put_hist(&paths::in_fill(1, xtal), &p.to_raw()).unwrap();
            }
            w.write(&dir.join(file_name("inexact", id))).unwrap();
        }
    }
}

fn fingerprint(a: &Analysis) -> String {
    format!("{:?}\n{:?}\n{:?}", a.metrics, a.intervals, a.errors.iter().map(|e| e.to_string()).collect::<Vec<_>>())
}

#[test]
fn results_are_bit_identical_for_any_thread_count_and_bad_inputs_are_isolated() {
    let dir = TempDir::new("pipeline-threads");
    write_inexact_dataset(&dir.0, 2, 19);
    // One file is not ROOT at all.
    std::fs::write(dir.0.join("inexact_101.00007.root"), b"this is not a ROOT file").unwrap();
    let ds = scan(&dir.0).unwrap();
    let run = |threads: usize| {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
        pool.install(|| analyze(&ds, &Config::standard(), &|_| {}).unwrap())
    };
    let one = run(1);
    let want = fingerprint(&one);
    for threads in [2, 3, 5] {
        assert!(fingerprint(&run(threads)) == want, "{threads} threads give a different result than 1");
    }
    // The broken file: a metrics row with nulls, one error naming it, everything else done.
    assert_eq!(one.metrics.len(), 38);
    assert_eq!(one.files_failed, 1);
    let bad = one.metrics.iter().find(|m| m.run == 101 && m.subrun == 7).unwrap();
    assert_eq!((bad.fills, bad.file.as_str()), (None, "inexact_101.00007.root"));
    assert!(one.errors.iter().any(|e| e.to_string().contains("inexact_101.00007.root")));
    // Missing objects are errors naming file and object, and the fits still ran on the
    // crystals that have data.
    assert!(one.errors.iter().any(|e| e.to_string().contains("'laser/inFill/calo1/xtal3'")));
    for iv in &one.intervals {
        for ch in 0..3 {
            assert_eq!(iv.gains[ch].status, GainStatus::Ok, "{}: {}", iv.run_first, iv.gains[ch].detail);
        }
        assert_eq!(iv.gains[3].status, GainStatus::NoLaser);
    }
    assert!(one.has_failures());
}

#[test]
fn configuration_errors_are_found_before_reading() {
    let dir = TempDir::new("pipeline-config");
    for (run, sub) in [(10, 1), (11, 1), (12, 1)] {
        // Not ROOT files: a configuration check must not open them.
        std::fs::write(dir.0.join(file_name("c", SubrunId { run, subrun: sub })), b"x").unwrap();
    }
    let ds = scan(&dir.0).unwrap();
    let cfg = |reference_run, intervals: Vec<(u32, u32)>| Config { reference_run, intervals, ..Config::standard() };
    let err = |c: Config| gm2dqc::pipeline::check(&ds, &c).unwrap_err();
    assert_eq!(err(cfg(Some(9), vec![])), ConfigError::ReferenceRunMissing { run: 9, first: 10, last: 12 });
    assert!(matches!(err(cfg(None, vec![(10, 11)])), ConfigError::RunOutsideIntervals { run: 12, .. }));
    assert_eq!(err(cfg(None, vec![(10, 11), (11, 12)])), ConfigError::OverlappingIntervals { a: (10, 11), b: (11, 12) });
    let plan = gm2dqc::pipeline::check(&ds, &cfg(Some(11), vec![(12, 20), (1, 11)])).unwrap();
    assert_eq!((plan.intervals, plan.references, plan.reference_run), (vec![(1, 11), (12, 20)], vec![11, 11], 11));
    // A reference-run period: the intervals inside it use its reference run.
    let periods = Config { reference_overrides: vec![((11, 12), 12)], ..cfg(None, vec![]) };
    assert_eq!(gm2dqc::pipeline::check(&ds, &periods).unwrap().references, vec![10, 12, 12]);
    let straddle = Config { reference_overrides: vec![((11, 12), 12)], ..cfg(None, vec![(10, 11), (12, 12)]) };
    assert_eq!(err(straddle), ConfigError::IntervalStraddlesReferencePeriod { interval: (10, 11), period: (11, 12) });
    let absent = Config { reference_overrides: vec![((12, 12), 30)], ..cfg(None, vec![]) };
    assert_eq!(err(absent), ConfigError::ReferenceRunMissing { run: 30, first: 10, last: 12 });
}
