//! The reduce side: constants and channel status of one interval of validity from its
//! summed histograms (spec section 4). Channels are independent, so the 1296 fits run
//! in parallel with rayon and the result does not depend on the thread count.

use rayon::prelude::*;

use crate::hist::{Hist, Profile};
use crate::layout::{N_STRAWS, N_XTALS};

use super::channels::{calo_quality, straw_status, xtal_status, CaloQuality, ChannelCuts, StrawStatus, XtalStatus};
use super::fit::{fit_in_fill, FitConfig, FitFailure, IfgFit};
use super::merge::IntervalSums;

/// Cuts on the constants themselves: a channel outside them is `out_of_range`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ConstantLimits {
    /// Maximum |gain - 1|.
    pub max_gain_deviation: f64,
    /// Allowed in-fill gain amplitude A.
    pub amp_min: f64,
    pub amp_max: f64,
}

impl ConstantLimits {
    /// The standard cut set (spec section 5).
    pub const STANDARD: ConstantLimits = ConstantLimits { max_gain_deviation: 0.05, amp_min: 0.0, amp_max: 0.2 };
}

/// Status of a crystal's gain constants.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum GainStatus {
    Ok,
    NoLaser,
    LowStats,
    FitFailed,
    OutOfRange,
}

impl GainStatus {
    pub const ALL: [GainStatus; 5] = [GainStatus::Ok, GainStatus::NoLaser, GainStatus::LowStats, GainStatus::FitFailed, GainStatus::OutOfRange];

    pub fn as_str(self) -> &'static str {
        match self {
            GainStatus::Ok => "ok",
            GainStatus::NoLaser => "no_laser",
            GainStatus::LowStats => "low_stats",
            GainStatus::FitFailed => "fit_failed",
            GainStatus::OutOfRange => "out_of_range",
        }
    }
}

/// The out-of-fill part of a crystal's gain.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Oof {
    /// Summed `laser/outOfFill` bin mean and its error (ROOT's error of the mean).
    pub ratio: Option<(f64, f64)>,
    /// ratio / reference ratio and its propagated error.
    pub gain: Option<(f64, f64)>,
}

/// One row of `gain_constants`.
#[derive(Debug, Clone, PartialEq)]
pub struct GainRow {
    pub channel: usize,
    pub oof: Oof,
    pub fit: Result<IfgFit, FitFailure>,
    pub status: GainStatus,
    /// Why the status is not `ok`, in words (empty when ok).
    pub detail: String,
}

/// A straw's interval status with its drift-time summary.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StrawRow {
    pub status: StrawStatus,
    /// Mean and RMS of the straw's drift-time distribution (bin centres, in-range
    /// bins), `None` without entries.
    pub drift_mean_ns: Option<f64>,
    pub drift_rms_ns: Option<f64>,
}

/// Everything the reduce stage computes for one interval.
#[derive(Debug, Clone)]
pub struct IntervalResult {
    pub run_first: u32,
    pub run_last: u32,
    pub subruns: usize,
    pub gains: Vec<GainRow>,
    /// Without a pedestal profile in the interval no crystal is judged noisy.
    pub xtals: Vec<XtalStatus>,
    pub straws: Vec<StrawRow>,
    /// The run the gains are against.
    pub reference_run: u32,
    /// Per calorimeter (1..24): its crystals' status counted and its quality bit.
    pub calos: Vec<CaloQuality>,
}

/// Out-of-fill ratio (bin mean, error) of channel `ch`, when it has entries.
pub fn oof_ratio(p: &Profile, ch: usize) -> Option<(f64, f64)> {
    let bin = ch + 1;
    (p.bin_entries(bin) > 0.0).then(|| (p.bin_content(bin), p.bin_error(bin)))
}

/// Gain against the reference: ratio r/r0 with errors of both added in quadrature.
/// When the interval's ratio is the reference itself (`same`), the gain is exactly 1
/// with no error.
pub fn gain_ratio(r: (f64, f64), r0: (f64, f64), same: bool) -> Option<(f64, f64)> {
    let ((r, e), (r0, e0)) = (r, r0);
    if r == 0.0 || r0 == 0.0 {
        return None;
    }
    if same {
        return Some((1.0, 0.0));
    }
    let g = r / r0;
    Some((g, g * ((e / r).powi(2) + (e0 / r0).powi(2)).sqrt()))
}

/// Per-straw drift-time mean and RMS from the summed `tracker/driftTime` (x = straw
/// channel id, y = drift time).
fn drift_summary(h: &Hist, straw: usize) -> (Option<f64>, Option<f64>) {
    let Some(y) = h.y() else { return (None, None) };
    let (mut s0, mut s1, mut s2) = (0.0, 0.0, 0.0);
    for j in 1..=y.nbins {
        let c = h.bin_content(j * (h.x().nbins + 2) + straw + 1);
        let t = y.center(j);
        s0 += c;
        s1 += c * t;
        s2 += c * t * t;
    }
    if s0 <= 0.0 {
        return (None, None);
    }
    let mean = s1 / s0;
    (Some(mean), Some((s2 / s0 - mean * mean).max(0.0).sqrt()))
}

/// Constants and status of one interval. `reference` holds the reference run's summed
/// out-of-fill ratio per channel ([`oof_ratio`]; `None` when the reference run had no
/// readable laser data) of `reference_run`; when the interval is exactly the reference
/// run its gains are exactly 1 ([`gain_ratio`]).
pub fn interval_result(
    sums: &IntervalSums,
    reference: Option<&[Option<(f64, f64)>]>,
    reference_run: u32,
    channel_cuts: &ChannelCuts,
    fit_cfg: &FitConfig,
    limits: &ConstantLimits,
) -> IntervalResult {
    let same = sums.run_first == reference_run && sums.run_last == reference_run;
    let gains = (0..N_XTALS)
        .into_par_iter()
        .map(|ch| {
            let ratio = sums.out_of_fill.as_ref().and_then(|p| oof_ratio(p, ch));
            let r0 = reference.and_then(|r| r[ch]);
            let gain = ratio.zip(r0).and_then(|(r, r0)| gain_ratio(r, r0, same));
            let fit = match &sums.in_fill[ch] {
                Some(p) => fit_in_fill(p, fit_cfg),
                None => Err(FitFailure::NoLaser),
            };
            let (status, detail) = judge(ratio, r0, gain, &fit, limits);
            GainRow { channel: ch, oof: Oof { ratio, gain }, fit, status, detail }
        })
        .collect();
    let pedestal: Vec<f64> = match &sums.pedestal {
        Some(p) => (0..N_XTALS).map(|ch| p.bin_content(ch + 1)).collect(),
        None => vec![f64::NAN; N_XTALS],
    };
    let xtals = xtal_status(&sums.xtal_hits, &pedestal, channel_cuts);
    let straws = straw_status(&sums.straw_hits, channel_cuts)
        .into_iter()
        .enumerate()
        .map(|(w, status)| {
            let (drift_mean_ns, drift_rms_ns) = sums.drift_time.as_ref().map_or((None, None), |h| drift_summary(h, w));
            StrawRow { status, drift_mean_ns, drift_rms_ns }
        })
        .collect::<Vec<_>>();
    debug_assert_eq!(straws.len(), N_STRAWS);
    let calos = calo_quality(&xtals, channel_cuts);
    IntervalResult { run_first: sums.run_first, run_last: sums.run_last, subruns: sums.subruns.len(), gains, xtals, straws, reference_run, calos }
}

fn judge(
    ratio: Option<(f64, f64)>,
    r0: Option<(f64, f64)>,
    gain: Option<(f64, f64)>,
    fit: &Result<IfgFit, FitFailure>,
    limits: &ConstantLimits,
) -> (GainStatus, String) {
    if ratio.is_none() {
        return (GainStatus::NoLaser, "no out-of-fill laser entries".into());
    }
    if r0.is_none() {
        return (GainStatus::NoLaser, "no out-of-fill laser entries in the reference run".into());
    }
    let Some((g, _)) = gain else {
        return (GainStatus::NoLaser, "out-of-fill ratio is zero".into());
    };
    let f = match fit {
        Ok(f) => f,
        Err(e) => {
            let s = match e {
                FitFailure::NoLaser => GainStatus::NoLaser,
                FitFailure::LowStats { .. } => GainStatus::LowStats,
                FitFailure::Failed(_) => GainStatus::FitFailed,
            };
            return (s, format!("in-fill: {e}"));
        }
    };
    let mut why = Vec::new();
    if (g - 1.0).abs() > limits.max_gain_deviation {
        why.push(format!("|gain - 1| = {:.4} > {}", (g - 1.0).abs(), limits.max_gain_deviation));
    }
    if !(f.amp >= limits.amp_min && f.amp <= limits.amp_max) {
        why.push(format!("ifg_amp = {:.4} outside [{}, {}]", f.amp, limits.amp_min, limits.amp_max));
    }
    if why.is_empty() {
        (GainStatus::Ok, String::new())
    } else {
        (GainStatus::OutOfRange, why.join("; "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gain_ratio_propagates_errors_by_hand() {
        // r = 0.9 +- 0.009 (1 %), r0 = 0.8 +- 0.008 (1 %): g = 1.125, error 1.125 * sqrt(2) %.
        let (g, e) = gain_ratio((0.9, 0.009), (0.8, 0.008), false).unwrap();
        assert!((g - 1.125).abs() < 1e-15);
        assert!((e - 1.125 * 0.01 * 2f64.sqrt()).abs() < 1e-15);
        assert_eq!(gain_ratio((0.9, 0.009), (0.9, 0.009), true), Some((1.0, 0.0)));
        assert_eq!(gain_ratio((0.0, 0.0), (0.9, 0.009), false), None);
    }

    #[test]
    fn judging_orders_the_reasons() {
        let fit = Ok(IfgFit { norm: 1.0, norm_err: 0.0, amp: 0.3, amp_err: 0.01, tau_us: 10.0, tau_err: 1.0, cov_amp_tau: 0.0, chi2: 1.0, ndf: 1 });
        let l = ConstantLimits::STANDARD;
        let r = Some((0.8, 0.001));
        assert_eq!(judge(None, r, None, &fit, &l).0, GainStatus::NoLaser);
        let (s, why) = judge(r, r, Some((1.06, 0.001)), &fit, &l);
        assert_eq!(s, GainStatus::OutOfRange);
        assert!(why.contains("|gain - 1| = 0.0600 > 0.05") && why.contains("ifg_amp = 0.3000 outside [0, 0.2]"), "{why}");
        let failed = Err(FitFailure::Failed("x".into()));
        assert_eq!(judge(r, r, Some((1.0, 0.0)), &failed, &l).0, GainStatus::FitFailed);
    }
}
