//! Gain calibration constants per crystal. Out-of-fill: the interval's summed laser
//! ratio against the reference interval's (spec section 4).

use crate::hist::Profile;
use crate::layout::N_XTALS;

/// The out-of-fill gain of one crystal in one interval.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct OofGain {
    pub channel: usize,
    /// Summed `laser/outOfFill` bin mean, and its error (ROOT's error of the mean).
    pub oof_ratio: f64,
    pub oof_ratio_err: f64,
    /// oof_ratio / reference oof_ratio, errors of the two intervals added in quadrature.
    pub gain: f64,
    pub gain_err: f64,
    /// 1 / gain.
    pub energy_scale: f64,
}

/// Out-of-fill gains of every crystal; `None` for a crystal without laser entries in
/// the interval or in the reference. When the interval is the reference itself
/// (`same = true`), the gain is exactly 1 with no error.
pub fn oof_gains(interval: &Profile, reference: &Profile, same: bool) -> Vec<Option<OofGain>> {
    (0..N_XTALS)
        .map(|ch| {
            let bin = ch + 1;
            if interval.bin_entries(bin) <= 0.0 || reference.bin_entries(bin) <= 0.0 {
                return None;
            }
            let (r, e) = (interval.bin_content(bin), interval.bin_error(bin));
            let (r0, e0) = (reference.bin_content(bin), reference.bin_error(bin));
            if r0 == 0.0 || r == 0.0 {
                return None;
            }
            let gain = if same { 1.0 } else { r / r0 };
            let gain_err = if same { 0.0 } else { gain * ((e / r).powi(2) + (e0 / r0).powi(2)).sqrt() };
            Some(OofGain { channel: ch, oof_ratio: r, oof_ratio_err: e, gain, gain_err, energy_scale: 1.0 / gain })
        })
        .collect()
}
