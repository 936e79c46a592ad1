//! The metrics a cut can name: the columns of `subrun_metrics` (spec section 3) with
//! their units and whether they are counts, and the groups a cut can apply to every
//! element of.

/// What values a metric takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricKind {
    /// Integer counts: bounds must be integers.
    Count,
    /// Real values.
    Real,
}

/// One cuttable metric.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MetricInfo {
    pub name: &'static str,
    pub unit: &'static str,
    pub kind: MetricKind,
}

use MetricKind::{Count, Real};

const fn m(name: &'static str, unit: &'static str, kind: MetricKind) -> MetricInfo {
    MetricInfo { name, unit, kind }
}

/// Every metric of `subrun_metrics` a cut may use, in the table's order.
pub const METRICS: &[MetricInfo] = &[
    m("start_time", "s", Real),
    m("end_time", "s", Real),
    m("fills", "fills", Count),
    m("fills_nodqc", "fills", Count),
    m("fill_fraction", "1", Real),
    m("ctags", "ctags", Count),
    m("ctags_nodqc", "ctags", Count),
    m("ctags_per_fill", "ctags/fill", Real),
    m("t0", "a.u.", Real),
    m("ibms1x_mean", "mm", Real),
    m("ibms1y_mean", "mm", Real),
    m("ibms2x_mean", "mm", Real),
    m("ibms2y_mean", "mm", Real),
    m("ibms1x_rms", "mm", Real),
    m("ibms1y_rms", "mm", Real),
    m("ibms2x_rms", "mm", Real),
    m("ibms2y_rms", "mm", Real),
    m("quad_step1", "kV", Real),
    m("quad_step2", "kV", Real),
    m("kicker1_amplitude", "kV", Real),
    m("kicker2_amplitude", "kV", Real),
    m("kicker3_amplitude", "kV", Real),
    m("kicker1_timing", "ns", Real),
    m("kicker2_timing", "ns", Real),
    m("kicker3_timing", "ns", Real),
    m("kicker1_fwhm", "ns", Real),
    m("kicker2_fwhm", "ns", Real),
    m("kicker3_fwhm", "ns", Real),
    m("laser1_sm", "a.u.", Real),
    m("laser2_sm", "a.u.", Real),
    m("laser3_sm", "a.u.", Real),
    m("laser4_sm", "a.u.", Real),
    m("laser5_sm", "a.u.", Real),
    m("laser6_sm", "a.u.", Real),
    m("singles", "counts", Count),
    m("doubles", "counts", Count),
    m("background", "counts", Count),
    m("loss_ratio", "1", Real),
    m("loss_ratio_err", "1", Real),
    m("loss_ratio_ctags", "1", Real),
    m("loss_ratio_ctags_err", "1", Real),
    m("n_dead_xtals", "channels", Count),
    m("n_hot_xtals", "channels", Count),
    m("n_noisy_xtals", "channels", Count),
    m("n_dead_straws", "channels", Count),
    m("n_noisy_straws", "channels", Count),
    m("hv_trip_fills", "fills", Count),
];

/// Groups of metrics a cut applies to every element of (`every = "..."`).
pub const GROUPS: &[(&str, &[&str])] = &[
    ("kicker_amplitude", &["kicker1_amplitude", "kicker2_amplitude", "kicker3_amplitude"]),
    ("kicker_timing", &["kicker1_timing", "kicker2_timing", "kicker3_timing"]),
    ("kicker_fwhm", &["kicker1_fwhm", "kicker2_fwhm", "kicker3_fwhm"]),
    ("laser_sm", &["laser1_sm", "laser2_sm", "laser3_sm", "laser4_sm", "laser5_sm", "laser6_sm"]),
    ("ibms_mean", &["ibms1x_mean", "ibms1y_mean", "ibms2x_mean", "ibms2y_mean"]),
    ("ibms_rms", &["ibms1x_rms", "ibms1y_rms", "ibms2x_rms", "ibms2y_rms"]),
    ("quad_step", &["quad_step1", "quad_step2"]),
];

pub fn metric(name: &str) -> Option<&'static MetricInfo> {
    METRICS.iter().find(|m| m.name == name)
}

pub fn group(name: &str) -> Option<&'static [&'static str]> {
    GROUPS.iter().find(|(g, _)| *g == name).map(|(_, m)| *m)
}

/// The metric holding the error of `name` (`loss_ratio_ctags` -> `loss_ratio_ctags_err`).
pub fn error_metric(name: &str) -> Option<&'static MetricInfo> {
    metric(&format!("{name}_err"))
}

/// Edit distance with adjacent transpositions (optimal string alignment), for "did
/// you mean": `mni` is one edit from `min`.
fn distance(a: &str, b: &str) -> usize {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            d[i][j] = (d[i - 1][j] + 1).min(d[i][j - 1] + 1).min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                d[i][j] = d[i][j].min(d[i - 2][j - 2] + 1);
            }
        }
    }
    d[a.len()][b.len()]
}

/// The closest candidate to `word`, when close enough to be a likely typo.
pub fn did_you_mean<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let limit = (word.chars().count() / 3).max(2);
    candidates.into_iter().map(|c| (distance(word, c), c)).filter(|(d, _)| *d <= limit).min_by_key(|(d, _)| *d).map(|(_, c)| c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_catalogue_is_the_metrics_table() {
        // Every numeric column of subrun_metrics (spec section 3) is cuttable, in order.
        let df = crate::tables::subrun_metrics(&[]);
        let cols: Vec<&str> = df.get_column_names().iter().map(|s| s.as_str()).filter(|c| !["run", "subrun", "file"].contains(c)).collect();
        assert_eq!(cols, METRICS.iter().map(|m| m.name).collect::<Vec<_>>());
        for (_, members) in GROUPS {
            assert!(members.iter().all(|m| metric(m).is_some()));
        }
        assert_eq!(error_metric("loss_ratio_ctags").unwrap().name, "loss_ratio_ctags_err");
        assert_eq!(did_you_mean("kiker1_amplitude", METRICS.iter().map(|m| m.name)), Some("kicker1_amplitude"));
        assert_eq!(did_you_mean("banana", METRICS.iter().map(|m| m.name)), None);
        assert_eq!(did_you_mean("mni", ["unit", "min"]), Some("min"));
    }
}
