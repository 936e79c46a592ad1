//! Per-subrun data-quality metrics (spec section 3) from one subrun file: the map
//! stage's main product. Pure computation over histograms read through `root`.
//!
//! A missing or unreadable object is recorded as an error naming the file and the
//! object; every metric that needs it is `None`, and everything else is computed.

use serde::Serialize;

use crate::dataset::SubrunId;
use crate::hist::Profile;
use crate::layout::{paths, N_KICKERS, N_LASERS, N_STRAWS, N_XTALS, XTALS_PER_CALO};
use crate::root::{RootError, RootFile};

use super::channels::{straw_status, xtal_status, ChannelCuts, StrawStatus, XtalStatus};
use super::read::ObjectReader;

/// The metrics of one subrun. `None` means the inputs were missing or undefined (a
/// ratio with a zero denominator).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct SubrunMetrics {
    pub run: u32,
    pub subrun: u32,
    pub file: String,
    /// First and last `unixTimeRecv` of the optional top-level `timeTree` (Unix seconds).
    pub start_time: Option<f64>,
    pub end_time: Option<f64>,
    pub fills: Option<f64>,
    pub fills_nodqc: Option<f64>,
    pub fill_fraction: Option<f64>,
    pub ctags: Option<f64>,
    pub ctags_nodqc: Option<f64>,
    pub ctags_per_fill: Option<f64>,
    pub t0: Option<f64>,
    /// ibms1x, ibms1y, ibms2x, ibms2y: histogram means of the centroids and widths.
    pub ibms_mean: [Option<f64>; 4],
    pub ibms_rms: [Option<f64>; 4],
    pub quad_step1: Option<f64>,
    pub quad_step2: Option<f64>,
    pub kicker_amplitude: [Option<f64>; N_KICKERS],
    pub kicker_timing: [Option<f64>; N_KICKERS],
    pub kicker_fwhm: [Option<f64>; N_KICKERS],
    pub laser_sm: [Option<f64>; N_LASERS],
    pub singles: Option<f64>,
    pub doubles: Option<f64>,
    pub background: Option<f64>,
    pub loss_ratio: Option<f64>,
    pub loss_ratio_err: Option<f64>,
    pub loss_ratio_ctags: Option<f64>,
    pub loss_ratio_ctags_err: Option<f64>,
    pub n_dead_xtals: Option<u32>,
    pub n_hot_xtals: Option<u32>,
    pub n_noisy_xtals: Option<u32>,
    pub n_dead_straws: Option<u32>,
    pub n_noisy_straws: Option<u32>,
    pub hv_trip_fills: Option<f64>,
}

/// Everything the map stage learns from one subrun file.
#[derive(Debug, Default)]
pub struct SubrunResult {
    pub metrics: SubrunMetrics,
    /// Per crystal (channel id order), when the energy and pedestal histograms were read.
    pub xtals: Option<Vec<XtalStatus>>,
    /// Per straw (channel id order), when `tracker/strawHits` was read.
    pub straws: Option<Vec<StrawStatus>>,
    /// Crystal hits by channel id; NaN where the energy histogram could not be read.
    pub xtal_hits: Vec<f64>,
    /// `calo/pedestalRMS` as read (the interval sums add it without reading it again).
    pub pedestal: Option<Profile>,
    /// With [`subrun_metrics_keeping`]: every object the metrics read, by path, for
    /// the interval sums (the merged file holds every histogram of the subrun files).
    pub kept: Vec<(String, crate::hist::Histogram)>,
    /// Objects that were missing or unreadable.
    pub errors: Vec<RootError>,
}

/// `(D - B) / den` and its error by the g-2 nearline formula; both 0 where D - B = 0
/// or the denominator is 0 (spec section 3).
pub fn loss_ratio(d: f64, b: f64, den: f64) -> (f64, f64) {
    let signal = d - b;
    if signal == 0.0 || den == 0.0 {
        return (0.0, 0.0);
    }
    let r = signal / den;
    let rel = ((d + b).sqrt() / signal).powi(2) + 1.0 / den;
    (r, (r * rel.sqrt()).abs())
}

fn ratio(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    match (a, b) {
        (Some(a), Some(b)) if b != 0.0 => Some(a / b),
        _ => None,
    }
}

/// Computes every metric of spec section 3 for one subrun file.
pub fn subrun_metrics(file: &RootFile, id: SubrunId, cuts: &ChannelCuts) -> SubrunResult {
    subrun_metrics_keeping(file, id, cuts, false)
}

/// [`subrun_metrics`], keeping every object read in [`SubrunResult::kept`] when `keep`.
pub fn subrun_metrics_keeping(file: &RootFile, id: SubrunId, cuts: &ChannelCuts, keep: bool) -> SubrunResult {
    let mut r = if keep { ObjectReader::keeping(file) } else { ObjectReader::new(file) };
    let mut m = SubrunMetrics {
        run: id.run,
        subrun: id.subrun,
        file: file.path().file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default(),
        ..SubrunMetrics::default()
    };
    // timeTree is optional: absent means no times, unreadable is an error.
    if file.top().key(paths::TIME_TREE, None).is_some() {
        match crate::root::tree::read_f64_branch(file, paths::TIME_TREE, "unixTimeRecv") {
            Ok(t) => (m.start_time, m.end_time) = (t.first().copied(), t.last().copied()),
            Err(e) => r.errors.push(e),
        }
    }
    m.fills = r.hist(&paths::nearline(true, "bunch")).map(|h| h.integral(1, 16));
    m.fills_nodqc = r.hist(&paths::nearline(false, "bunch")).map(|h| h.integral(1, 16));
    m.fill_fraction = ratio(m.fills, m.fills_nodqc);
    m.ctags = r.hist(&paths::nearline(true, "nearlineCTag")).map(|h| h.integral(1, 24));
    m.ctags_nodqc = r.hist(&paths::nearline(false, "nearlineCTag")).map(|h| h.integral(1, 24));
    m.ctags_per_fill = ratio(m.ctags, m.fills);
    m.t0 = r.hist(&paths::nearline(true, "t0")).map(|h| h.bin_content(1));
    for (i, stem) in paths::IBMS.iter().enumerate() {
        m.ibms_mean[i] = r.hist(&format!("{}/{stem}Mean", paths::WITH_DQC)).map(|h| h.mean(1));
        m.ibms_rms[i] = r.hist(&format!("{}/{stem}RMS", paths::WITH_DQC)).map(|h| h.mean(1));
    }
    m.quad_step1 = r.hist(paths::QUAD_STEP1).map(|h| h.mean(1));
    m.quad_step2 = r.hist(paths::QUAD_STEP2).map(|h| h.mean(1));
    for (path, out) in [
        (paths::KICKER_AMPLITUDE, &mut m.kicker_amplitude),
        (paths::KICKER_TIMING, &mut m.kicker_timing),
        (paths::KICKER_FWHM, &mut m.kicker_fwhm),
    ] {
        if let Some(p) = r.profile(path) {
            *out = std::array::from_fn(|k| Some(p.bin_content(k + 1)));
        }
    }
    if let Some(p) = r.profile(paths::SOURCE_MONITOR) {
        m.laser_sm = std::array::from_fn(|l| Some(p.bin_content(l + 1)));
    }
    m.singles = r.hist(paths::SINGLES).map(|h| h.integral(1, 100));
    if let Some(h) = r.hist(paths::DOUBLES) {
        m.doubles = Some(h.integral(1, 50));
        m.background = Some(h.integral(51, 100));
    }
    if let (Some(d), Some(b)) = (m.doubles, m.background) {
        if let Some(s) = m.singles {
            let (x, e) = loss_ratio(d, b, s);
            (m.loss_ratio, m.loss_ratio_err) = (Some(x), Some(e));
        }
        if let Some(c) = m.ctags {
            let (x, e) = loss_ratio(d, b, c);
            (m.loss_ratio_ctags, m.loss_ratio_ctags_err) = (Some(x), Some(e));
        }
    }
    m.hv_trip_fills = r.hist(paths::HV_TRIPS).map(|h| h.integral(1, 16));

    // Crystals: hits are Integral(0, 251) of the energy spectrum (flow included).
    let mut hits = vec![f64::NAN; N_XTALS];
    let mut all_read = true;
    for (ch, slot) in hits.iter_mut().enumerate() {
        let (calo, xtal) = (ch / XTALS_PER_CALO + 1, ch % XTALS_PER_CALO);
        match r.hist(&paths::xtal_energy(calo, xtal)) {
            Some(h) => *slot = h.integral(0, 251),
            None => all_read = false,
        }
    }
    let pedestal = r.profile(paths::PEDESTAL_RMS);
    let xtals = match (all_read, &pedestal) {
        (true, Some(p)) => Some(xtal_status(&hits, &(0..N_XTALS).map(|ch| p.bin_content(ch + 1)).collect::<Vec<_>>(), cuts)),
        _ => None,
    };
    if let Some(x) = &xtals {
        m.n_dead_xtals = Some(x.iter().filter(|s| s.dead).count() as u32);
        m.n_hot_xtals = Some(x.iter().filter(|s| s.hot).count() as u32);
        m.n_noisy_xtals = Some(x.iter().filter(|s| s.noisy).count() as u32);
    }
    let straws = r.hist(paths::STRAW_HITS).map(|h| {
        let hits: Vec<f64> = (0..N_STRAWS).map(|w| h.bin_content(w + 1)).collect();
        straw_status(&hits, cuts)
    });
    if let Some(s) = &straws {
        m.n_dead_straws = Some(s.iter().filter(|x| x.dead).count() as u32);
        m.n_noisy_straws = Some(s.iter().filter(|x| x.noisy).count() as u32);
    }
    SubrunResult { metrics: m, xtals, straws, xtal_hits: hits, pedestal, kept: r.kept.unwrap_or_default(), errors: r.errors }
}

#[cfg(test)]
mod tests {
    use super::loss_ratio;

    #[test]
    fn loss_ratio_zero_cases_and_formula() {
        assert_eq!(loss_ratio(50.0, 50.0, 1000.0), (0.0, 0.0));
        assert_eq!(loss_ratio(60.0, 50.0, 0.0), (0.0, 0.0));
        // D = 1100, B = 100, S = 4e4: r = 0.025, rel^2 = 1200/1e6 + 1/4e4
        let (r, e) = loss_ratio(1100.0, 100.0, 40_000.0);
        assert_eq!(r, 0.025);
        assert!((e - 0.025 * (0.0012f64 + 0.000025).sqrt()).abs() < 1e-15);
    }
}
