//! What the simulator injected, written to `truth.json`: per-crystal gain truth,
//! channel faults, and per subrun the quantities the files hold, the injected fault
//! and the expected value of every standard flag.
//!
//! The expected flags are computed here from the generated quantities with the
//! standard cut values of spec section 5, in plain Rust: an implementation of the
//! cuts independent of the pipeline's (cut files evaluated with polars), so the two
//! can check each other.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::FaultKind;

/// Per-crystal truth.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CrystalTruth {
    pub channel: usize,
    pub calo: usize,
    pub xtal: usize,
    /// In-fill gain: G(t) = ifg_norm * (1 - ifg_amp * exp(-t / ifg_tau_us)).
    pub ifg_norm: f64,
    pub ifg_amp: f64,
    pub ifg_tau_us: f64,
    /// Out-of-fill ratio of the reference (first) run; run r has oof_base * gain[r].
    pub oof_base: f64,
    /// Gain per run, in run order; the first run (the reference) is 1.
    pub gain: Vec<f64>,
    pub dead: bool,
    pub hot: bool,
    pub noisy: bool,
}

/// Quantities of one subrun as written in its file (what the metrics must find).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Quantities {
    pub fills: f64,
    pub fills_nodqc: f64,
    pub ctags: f64,
    pub ctags_nodqc: f64,
    pub t0: f64,
    pub kicker_amplitude: [f64; 3],
    pub kicker_timing: [f64; 3],
    pub kicker_fwhm: [f64; 3],
    pub quad_step1: f64,
    pub quad_step2: f64,
    pub laser_sm: [f64; 6],
    pub singles: f64,
    pub doubles: f64,
    pub background: f64,
    pub hv_trip_fills: f64,
    pub n_dead_xtals: usize,
    pub n_hot_xtals: usize,
    pub n_noisy_xtals: usize,
    pub n_dead_straws: usize,
    pub n_noisy_straws: usize,
    /// First and last `unixTimeRecv` of `timeTree`, when the file has one.
    pub start_time: Option<f64>,
    pub end_time: Option<f64>,
}

impl Quantities {
    /// `loss_ratio_ctags` and its error, by the g-2 nearline formula (spec section 3).
    pub fn loss_ratio_ctags(&self) -> (f64, f64) {
        loss_ratio(self.doubles, self.background, self.ctags)
    }
}

/// `(D - B) / den` and its error; both 0 where D - B = 0 or den = 0.
pub fn loss_ratio(d: f64, b: f64, den: f64) -> (f64, f64) {
    let signal = d - b;
    if signal == 0.0 || den == 0.0 {
        return (0.0, 0.0);
    }
    let r = signal / den;
    let err = (r * (((d + b).sqrt() / signal).powi(2) + 1.0 / den).sqrt()).abs();
    (r, err)
}

/// One subrun's truth.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SubrunTruth {
    pub run: u32,
    pub subrun: u32,
    pub file: String,
    /// Compression setting of the file (e.g. "zstd:5").
    pub compression: String,
    /// The one injected cause, or null for a good subrun.
    pub fault: Option<FaultKind>,
    pub quantities: Quantities,
    /// Every flag of the standard cut set (and `ctags_loose_ok`), then `ok`.
    pub expected: BTreeMap<String, bool>,
}

/// Flags of the standard cut set required for `ok` (spec section 5).
pub const REQUIRED_FLAGS: [&str; 9] =
    ["fills_ok", "ctags_ok", "t0_ok", "kicker_ok", "quad_ok", "losses_ok", "laser_ok", "calo_ok", "tracker_ok"];

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    let n = v.len();
    if n == 0 {
        return f64::NAN;
    }
    if n % 2 == 1 {
        v[n / 2]
    } else {
        0.5 * (v[n / 2 - 1] + v[n / 2])
    }
}

/// The standard flags of every subrun of one run (run medians over the run's subruns).
pub fn expected_flags(run: &[&Quantities]) -> Vec<BTreeMap<String, bool>> {
    let t0_median = median(run.iter().map(|q| q.t0).collect());
    let lrc_median = median(run.iter().map(|q| q.loss_ratio_ctags().0).collect());
    run.iter()
        .map(|q| {
            let cpf = if q.fills > 0.0 { q.ctags / q.fills } else { 0.0 };
            let (lrc, lrc_err) = q.loss_ratio_ctags();
            let in_range = |v: f64, lo: f64, hi: f64| v >= lo && v <= hi;
            let mut f = BTreeMap::new();
            f.insert("fills_ok".into(), q.fills >= 50.0 && q.fills_nodqc > 0.0 && q.fills / q.fills_nodqc >= 0.90);
            f.insert("ctags_ok".into(), cpf >= 50.0);
            f.insert("ctags_loose_ok".into(), cpf >= 30.0);
            f.insert("t0_ok".into(), (q.t0 - t0_median).abs() <= 0.2 * t0_median);
            f.insert(
                "kicker_ok".into(),
                (0..3).all(|k| {
                    in_range(q.kicker_amplitude[k], 120.0, 150.0)
                        && in_range(q.kicker_timing[k], -20.0, 20.0)
                        && in_range(q.kicker_fwhm[k], 100.0, 200.0)
                }),
            );
            f.insert("quad_ok".into(), in_range(q.quad_step1, 17.5, 19.0) && in_range(q.quad_step2, 22.5, 24.0));
            f.insert("losses_ok".into(), (lrc - lrc_median).abs() <= 5.0 * lrc_err);
            f.insert("laser_ok".into(), q.laser_sm.iter().all(|&s| s > 100.0));
            f.insert("calo_ok".into(), q.n_dead_xtals <= 6 && q.n_hot_xtals <= 6);
            f.insert("tracker_ok".into(), q.hv_trip_fills == 0.0 && q.n_dead_straws <= 64);
            let ok = REQUIRED_FLAGS.iter().all(|k| f[*k]);
            f.insert("ok".into(), ok);
            f
        })
        .collect()
}

/// Dead/hot/noisy channels relative to their group's median (spec section 5 channel
/// cuts): returns (dead, hot, noisy) flags per channel. `groups` gives each channel's
/// group (calorimeter or tracker module); `noise` is the pedestal RMS (crystals) or
/// `None` (straws, where noisy means hits above `hot_factor` x median).
pub fn channel_status(hits: &[f64], groups: &[usize], noise: Option<&[f64]>, dead_factor: f64, hot_factor: f64, noisy_factor: f64) -> Vec<(bool, bool, bool)> {
    let ngroups = groups.iter().max().map_or(0, |g| g + 1);
    let group_median = |values: &[f64]| -> Vec<f64> {
        (0..ngroups)
            .map(|g| median(values.iter().zip(groups).filter(|(_, gg)| **gg == g).map(|(v, _)| *v).collect()))
            .collect()
    };
    let hit_median = group_median(hits);
    let noise_median = noise.map(group_median);
    (0..hits.len())
        .map(|i| {
            let m = hit_median[groups[i]];
            let dead = hits[i] < dead_factor * m;
            let hot = hits[i] > hot_factor * m;
            let noisy = match (noise, &noise_median) {
                (Some(n), Some(nm)) => n[i] > noisy_factor * nm[groups[i]],
                _ => false,
            };
            (dead, hot, noisy)
        })
        .collect()
}

/// The whole truth file.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Truth {
    pub generator: String,
    pub seed: u64,
    pub first_run: u32,
    pub runs: u32,
    pub subruns_per_run: u32,
    pub prefix: String,
    /// The reference run of the gain (the first run): its gains are 1.
    pub reference_run: u32,
    pub fault_kinds: Vec<FaultKind>,
    pub fault_rate: f64,
    pub crystals: Vec<CrystalTruth>,
    /// Straw channel ids that are dead (no hits) or noisy (many hits) in every subrun.
    pub dead_straws: Vec<usize>,
    pub noisy_straws: Vec<usize>,
    pub subruns: Vec<SubrunTruth>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loss_ratio_by_hand() {
        // D = 600, B = 100, S = 10000: r = 0.05, err = 0.05 * sqrt((sqrt(700)/500)^2 + 1/10000)
        let (r, e) = loss_ratio(600.0, 100.0, 10_000.0);
        assert!((r - 0.05).abs() < 1e-15);
        let want = 0.05 * ((700f64.sqrt() / 500.0).powi(2) + 1e-4).sqrt();
        assert!((e - want).abs() < 1e-15);
        assert_eq!(loss_ratio(100.0, 100.0, 5.0), (0.0, 0.0));
        assert_eq!(loss_ratio(100.0, 10.0, 0.0), (0.0, 0.0));
        // Errors are non-negative even for a negative ratio.
        assert!(loss_ratio(10.0, 100.0, 1000.0).1 > 0.0);
    }

    #[test]
    fn medians_and_channel_cuts() {
        assert_eq!(median(vec![3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(vec![4.0, 1.0, 2.0, 3.0]), 2.5);
        let hits = [100.0, 110.0, 90.0, 2.0, 900.0, 100.0];
        let groups = [0, 0, 0, 0, 0, 1];
        let noise = [1.0, 1.0, 5.0, 1.0, 1.0, 1.0];
        let s = channel_status(&hits, &groups, Some(&noise), 0.05, 5.0, 3.0);
        // group 0 median hits = 100, median noise = 1
        assert_eq!(s[3], (true, false, false));
        assert_eq!(s[4], (false, true, false));
        assert_eq!(s[2], (false, false, true));
        assert_eq!(s[5], (false, false, false));
    }
}
