//! Histograms with behaviour: values, variances, errors, integrals, statistics, sums.
//!
//! This module does no I/O and knows no bytes: [`Hist`] (TH1x/TH2x) and [`Profile`]
//! (TProfile/TProfile2D) are built from, and turned back into, the plain
//! [`RawHist`] that `crate::root` decodes and encodes. Bin arrays are `ndarray`
//! arrays in ROOT's global-bin order, flow bins included (x fastest:
//! `bin = ix + (nx+2)*iy`), so index arithmetic is ROOT's. Every formula here
//! (GetMean, GetStdDev, Integral, TProfile::GetBinError, Add, Fill) follows ROOT's
//! definition, and the tests check it against numbers ROOT computed.

mod axis;

pub use axis::Axis;

use ndarray::{s, Array1, ArrayView1, ArrayView2};

use crate::root::bytes::ArrayElem;
use crate::root::model::{class_name, HistKind, RawAxis, RawH2, RawHist, RawProfile};

/// Errors from histogram operations.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum HistError {
    /// `hadd` refuses to add histograms whose binning or kind differ.
    #[error("cannot add '{right}' to '{left}': {detail}")]
    Incompatible { left: String, right: String, detail: String },
    #[error("invalid histogram: {0}")]
    Invalid(String),
}

/// Sums kept for statistics (ROOT's fTsumw, fTsumw2, fTsumwx, ...).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Stats {
    pub entries: f64,
    pub tsumw: f64,
    pub tsumw2: f64,
    pub tsumwx: f64,
    pub tsumwx2: f64,
    pub tsumwy: f64,
    pub tsumwy2: f64,
    pub tsumwxy: f64,
}

impl Stats {
    fn add(&mut self, o: &Stats) {
        self.entries += o.entries;
        self.tsumw += o.tsumw;
        self.tsumw2 += o.tsumw2;
        self.tsumwx += o.tsumwx;
        self.tsumwx2 += o.tsumwx2;
        self.tsumwy += o.tsumwy;
        self.tsumwy2 += o.tsumwy2;
        self.tsumwxy += o.tsumwxy;
    }
}

/// Members carried through read and write but not used for computing.
#[derive(Debug, Clone, PartialEq)]
struct Carried {
    maximum: f64,
    minimum: f64,
    norm_factor: f64,
    option: String,
    bin_stat_err_opt: i32,
    stat_overflows: i32,
    scalefactor: f64,
}

impl Default for Carried {
    fn default() -> Self {
        Carried {
            maximum: -1111.0,
            minimum: -1111.0,
            norm_factor: 0.0,
            option: String::new(),
            bin_stat_err_opt: 0,
            stat_overflows: 2,
            scalefactor: 1.0,
        }
    }
}

/// Cells in ROOT's global-bin numbering for these axes.
fn ncells(axes: &[Axis]) -> usize {
    axes.iter().map(|a| a.nbins + 2).product()
}

fn to_raw_axis(a: &Axis, name: &str) -> RawAxis {
    RawAxis {
        name: name.into(),
        title: a.title.clone(),
        nbins: a.nbins as i32,
        xmin: a.min,
        xmax: a.max,
        xbins: a.variable.clone().unwrap_or_default(),
    }
}

/// The axes a decoded histogram uses (x, and y for 2D).
fn axes_of(raw: &RawHist) -> Vec<Axis> {
    let mut axes = vec![from_raw_axis(&raw.xaxis)];
    if raw.kind.dimension() == 2 {
        axes.push(from_raw_axis(&raw.yaxis));
    }
    axes
}

/// The statistics and the carried members of a decoded histogram (its option string
/// is moved out).
fn stats_and_carried(raw: &mut RawHist) -> (Stats, Carried) {
    let h2 = raw.h2.clone().unwrap_or_default();
    let stats = Stats {
        entries: raw.entries,
        tsumw: raw.tsumw,
        tsumw2: raw.tsumw2,
        tsumwx: raw.tsumwx,
        tsumwx2: raw.tsumwx2,
        tsumwy: h2.tsumwy,
        tsumwy2: h2.tsumwy2,
        tsumwxy: h2.tsumwxy,
    };
    let carried = Carried {
        maximum: raw.maximum,
        minimum: raw.minimum,
        norm_factor: raw.norm_factor,
        option: std::mem::take(&mut raw.option),
        bin_stat_err_opt: raw.bin_stat_err_opt,
        stat_overflows: raw.stat_overflows,
        scalefactor: raw.h2.as_ref().map_or(1.0, |h| h.scalefactor),
    };
    (stats, carried)
}

fn from_raw_axis(a: &RawAxis) -> Axis {
    Axis {
        nbins: a.nbins.max(1) as usize,
        min: a.xmin,
        max: a.xmax,
        variable: (!a.xbins.is_empty()).then(|| a.xbins.clone()),
        title: a.title.clone(),
    }
}

fn check_axes(left: &str, right: &str, a: &[Axis], b: &[Axis]) -> Result<(), HistError> {
    if a.len() != b.len() {
        return Err(HistError::Incompatible {
            left: left.into(),
            right: right.into(),
            detail: format!("{}D and {}D", a.len(), b.len()),
        });
    }
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        if !x.same_binning(y) {
            return Err(HistError::Incompatible {
                left: left.into(),
                right: right.into(),
                detail: format!("axis {} differs: {} versus {}", ["x", "y"][i.min(1)], x.describe(), y.describe()),
            });
        }
    }
    Ok(())
}

/// The global bin of (ix, iy).
#[inline]
fn global(axes: &[Axis], ix: usize, iy: usize) -> usize {
    ix + (axes[0].nbins + 2) * iy
}

/// ROOT's Integral bin-range clamp: negative first bin to 0; a last bin past the
/// overflow, or below the first, to the overflow.
fn clamp_range(first: i64, last: i64, nbins: usize) -> (usize, usize) {
    let n = nbins as i64 + 2;
    let first = first.max(0);
    let last = if last >= n || last < first { n - 1 } else { last };
    (first as usize, last as usize)
}

fn mean_and_std(sw: f64, swx: f64, swx2: f64) -> (f64, f64) {
    if sw == 0.0 {
        return (0.0, 0.0);
    }
    let mean = swx / sw;
    let var = (swx2 / sw - mean * mean).abs();
    (mean, var.sqrt())
}

// ---------------------------------------------------------------------------------

/// A TH1x or TH2x histogram.
#[derive(Debug, Clone, PartialEq)]
pub struct Hist {
    pub name: String,
    pub title: String,
    /// Storage type in the file (TH1F: F32, TH1D: F64, ...).
    pub storage: ArrayElem,
    axes: Vec<Axis>,
    values: Array1<f64>,
    sumw2: Option<Array1<f64>>,
    pub stats: Stats,
    carried: Carried,
}

impl Hist {
    /// An empty 1D histogram.
    pub fn new_1d(name: &str, title: &str, x: Axis, storage: ArrayElem) -> Self {
        Self::empty(name, title, vec![x], storage)
    }

    /// An empty 2D histogram.
    pub fn new_2d(name: &str, title: &str, x: Axis, y: Axis, storage: ArrayElem) -> Self {
        Self::empty(name, title, vec![x, y], storage)
    }

    fn empty(name: &str, title: &str, axes: Vec<Axis>, storage: ArrayElem) -> Self {
        let n = ncells(&axes);
        Hist {
            name: name.into(),
            title: title.into(),
            storage,
            axes,
            values: Array1::zeros(n),
            sumw2: None,
            stats: Stats::default(),
            carried: Carried::default(),
        }
    }

    pub fn dim(&self) -> usize {
        self.axes.len()
    }

    pub fn axes(&self) -> &[Axis] {
        &self.axes
    }

    pub fn x(&self) -> &Axis {
        &self.axes[0]
    }

    pub fn y(&self) -> Option<&Axis> {
        self.axes.get(1)
    }

    pub fn class_name(&self) -> &'static str {
        class_name(if self.dim() == 1 { HistKind::H1 } else { HistKind::H2 }, self.storage)
    }

    /// Bin contents in global-bin order, flow bins included.
    pub fn values_flat(&self) -> ArrayView1<'_, f64> {
        self.values.view()
    }

    /// 1D contents: bins 1..=n, or 0..=n+1 with `flow`.
    pub fn values(&self, flow: bool) -> ArrayView1<'_, f64> {
        let n = self.axes[0].nbins;
        if flow {
            self.values.slice(s![..n + 2])
        } else {
            self.values.slice(s![1..n + 1])
        }
    }

    /// 2D contents indexed [iy, ix] (x fastest in memory), optionally with flow.
    pub fn values_2d(&self, flow: bool) -> ArrayView2<'_, f64> {
        let (nx, ny) = (self.axes[0].nbins + 2, self.axes.get(1).map_or(1, |a| a.nbins + 2));
        let v = self.values.view().into_shape_with_order((ny, nx)).expect("cell count matches axes");
        if flow || self.dim() == 1 {
            v
        } else {
            v.slice_move(s![1..ny - 1, 1..nx - 1])
        }
    }

    /// Content of global bin `bin`.
    pub fn bin_content(&self, bin: usize) -> f64 {
        self.values[bin]
    }

    /// Sum of squared weights per cell when stored, else the contents (ROOT's convention:
    /// unweighted bins have variance = content). Global-bin order, flow included.
    pub fn variances_flat(&self) -> Array1<f64> {
        match &self.sumw2 {
            Some(s) => s.clone(),
            None => self.values.clone(),
        }
    }

    pub fn has_sumw2(&self) -> bool {
        self.sumw2.is_some()
    }

    /// ROOT's GetBinError: sqrt(sumw2) when stored, else sqrt(|content|).
    pub fn bin_error(&self, bin: usize) -> f64 {
        match &self.sumw2 {
            Some(s) => s[bin].sqrt(),
            None => self.values[bin].abs().sqrt(),
        }
    }

    /// ROOT's TH1::Integral(first, last): the sum of bins first..=last, 1-based, with
    /// ROOT's clamping (last past the overflow, or below first, means up to the overflow).
    pub fn integral(&self, first: i64, last: i64) -> f64 {
        let n = self.axes[0].nbins;
        let (a, b) = clamp_range(first, last, n);
        if self.dim() == 1 {
            self.values.slice(s![a..=b]).sum()
        } else {
            let ny = self.axes[1].nbins;
            (0..ny + 2).map(|iy| (a..=b).map(|ix| self.values[global(&self.axes, ix, iy)]).sum::<f64>()).sum()
        }
    }

    /// ROOT's TH2::Integral(x1, x2, y1, y2).
    pub fn integral_2d(&self, x1: i64, x2: i64, y1: i64, y2: i64) -> f64 {
        let (a, b) = clamp_range(x1, x2, self.axes[0].nbins);
        let (c, d) = clamp_range(y1, y2, self.axes.get(1).map_or(0, |a| a.nbins));
        (c..=d).map(|iy| (a..=b).map(|ix| self.values[global(&self.axes, ix, iy)]).sum::<f64>()).sum()
    }

    /// The statistics ROOT's GetStats uses: the stored sums, or, when fTsumw is 0 but
    /// there are entries (contents set bin by bin), sums over bin centres of the
    /// in-range bins.
    fn effective_stats(&self) -> Stats {
        if !(self.stats.tsumw == 0.0 && self.stats.entries > 0.0) {
            return self.stats;
        }
        self.stats_from_bins()
    }

    /// Sets fEntries and recomputes the fTsumw* sums from the in-range bins at their
    /// centres: for histograms whose bins were set directly (generators, merges).
    pub fn set_stats_from_bins(&mut self, entries: f64) {
        self.stats = Stats { entries, ..self.stats_from_bins() };
    }

    fn stats_from_bins(&self) -> Stats {
        let mut s = Stats { entries: self.stats.entries, ..Stats::default() };
        let nx = self.axes[0].nbins;
        let ny = self.axes.get(1).map_or(0, |a| a.nbins);
        let ys: Vec<(usize, f64)> = if self.dim() == 1 { vec![(0, 0.0)] } else { (1..=ny).map(|iy| (iy, self.axes[1].center(iy))).collect() };
        for (iy, y) in ys {
            for ix in 1..=nx {
                let bin = global(&self.axes, ix, iy);
                let w = self.values[bin];
                let x = self.axes[0].center(ix);
                s.tsumw += w;
                s.tsumw2 += self.bin_error(bin).powi(2);
                s.tsumwx += w * x;
                s.tsumwx2 += w * x * x;
                s.tsumwy += w * y;
                s.tsumwy2 += w * y * y;
                s.tsumwxy += w * x * y;
            }
        }
        s
    }

    /// ROOT's GetMean(axis) (axis 1 = x, 2 = y).
    pub fn mean(&self, axis: usize) -> f64 {
        let s = self.effective_stats();
        match axis {
            1 => mean_and_std(s.tsumw, s.tsumwx, s.tsumwx2).0,
            _ => mean_and_std(s.tsumw, s.tsumwy, s.tsumwy2).0,
        }
    }

    /// ROOT's GetStdDev(axis), which GetRMS also returns.
    pub fn std_dev(&self, axis: usize) -> f64 {
        let s = self.effective_stats();
        match axis {
            1 => mean_and_std(s.tsumw, s.tsumwx, s.tsumwx2).1,
            _ => mean_and_std(s.tsumw, s.tsumwy, s.tsumwy2).1,
        }
    }

    /// ROOT's GetEntries().
    pub fn entries(&self) -> f64 {
        self.stats.entries
    }

    /// Turns on per-bin sums of squared weights, starting from the contents (ROOT's Sumw2()).
    pub fn sumw2(&mut self) {
        if self.sumw2.is_none() {
            self.sumw2 = Some(self.values.clone());
        }
    }

    fn fill_bin(&mut self, bin: usize, w: f64) {
        if self.sumw2.is_none() && w != 1.0 {
            self.sumw2();
        }
        self.values[bin] += w;
        if let Some(s) = &mut self.sumw2 {
            s[bin] += w * w;
        }
        self.stats.entries += 1.0;
    }

    /// ROOT's TH1::Fill(x, w): flow fills count as entries but not in the statistics.
    pub fn fill(&mut self, x: f64, w: f64) {
        debug_assert_eq!(self.dim(), 1, "fill on a 2D histogram: use fill_2d");
        let ix = self.axes[0].find_bin(x);
        self.fill_bin(ix, w);
        if ix == 0 || ix > self.axes[0].nbins {
            return;
        }
        let s = &mut self.stats;
        s.tsumw += w;
        s.tsumw2 += w * w;
        s.tsumwx += w * x;
        s.tsumwx2 += w * x * x;
    }

    /// ROOT's TH2::Fill(x, y, w).
    pub fn fill_2d(&mut self, x: f64, y: f64, w: f64) {
        debug_assert_eq!(self.dim(), 2, "fill_2d on a 1D histogram");
        let ix = self.axes[0].find_bin(x);
        let iy = self.axes[1].find_bin(y);
        self.fill_bin(global(&self.axes, ix, iy), w);
        if ix == 0 || ix > self.axes[0].nbins || iy == 0 || iy > self.axes[1].nbins {
            return;
        }
        let s = &mut self.stats;
        s.tsumw += w;
        s.tsumw2 += w * w;
        s.tsumwx += w * x;
        s.tsumwx2 += w * x * x;
        s.tsumwy += w * y;
        s.tsumwy2 += w * y * y;
        s.tsumwxy += w * x * y;
    }

    /// Sets a bin's content (and its variance when sumw2 is stored), as SetBinContent,
    /// without touching the statistics. Used by generators that know the bin totals.
    pub fn set_bin(&mut self, bin: usize, content: f64, variance: Option<f64>) {
        self.values[bin] = content;
        if let Some(v) = variance {
            self.sumw2();
            self.sumw2.as_mut().expect("just enabled")[bin] = v;
        }
    }

    /// ROOT's `hadd` of one more histogram: same dimension and binning, else an error
    /// naming both. Sums contents, squared weights and statistics.
    pub fn add(&mut self, other: &Hist) -> Result<(), HistError> {
        check_axes(&self.name, &other.name, &self.axes, &other.axes)?;
        if self.sumw2.is_some() || other.sumw2.is_some() {
            self.sumw2();
            let o = other.variances_flat();
            *self.sumw2.as_mut().expect("just enabled") += &o;
        }
        self.values += &other.values;
        self.stats.add(&other.stats);
        Ok(())
    }

    /// Builds a histogram from decoded data (any TH1x/TH2x class).
    pub fn from_raw(mut raw: RawHist) -> Result<Self, HistError> {
        raw.check().map_err(HistError::Invalid)?;
        if !matches!(raw.kind, HistKind::H1 | HistKind::H2) {
            return Err(HistError::Invalid(format!("{} is a profile, not a TH1/TH2", raw.class_name())));
        }
        let axes = axes_of(&raw);
        let (stats, carried) = stats_and_carried(&mut raw);
        Ok(Hist {
            name: raw.name,
            title: raw.title,
            storage: raw.elem,
            axes,
            values: Array1::from(raw.contents),
            sumw2: (!raw.sumw2.is_empty()).then(|| Array1::from(raw.sumw2)),
            stats,
            carried,
        })
    }

    /// The plain data the ROOT writer encodes.
    pub fn to_raw(&self) -> RawHist {
        let kind = if self.dim() == 1 { HistKind::H1 } else { HistKind::H2 };
        raw_common(
            kind,
            self.storage,
            &self.name,
            &self.title,
            &self.axes,
            &self.stats,
            &self.carried,
            self.values.to_vec(),
            self.sumw2.as_ref().map(|s| s.to_vec()).unwrap_or_default(),
        )
    }
}

#[allow(clippy::too_many_arguments)]
fn raw_common(
    kind: HistKind,
    elem: ArrayElem,
    name: &str,
    title: &str,
    axes: &[Axis],
    stats: &Stats,
    carried: &Carried,
    contents: Vec<f64>,
    sumw2: Vec<f64>,
) -> RawHist {
    RawHist {
        kind,
        elem,
        name: name.into(),
        title: title.into(),
        xaxis: to_raw_axis(&axes[0], "xaxis"),
        yaxis: axes.get(1).map_or_else(|| RawAxis::unused("yaxis"), |a| to_raw_axis(a, "yaxis")),
        zaxis: RawAxis::unused("zaxis"),
        entries: stats.entries,
        tsumw: stats.tsumw,
        tsumw2: stats.tsumw2,
        tsumwx: stats.tsumwx,
        tsumwx2: stats.tsumwx2,
        maximum: carried.maximum,
        minimum: carried.minimum,
        norm_factor: carried.norm_factor,
        sumw2,
        contents,
        option: carried.option.clone(),
        bin_stat_err_opt: carried.bin_stat_err_opt,
        stat_overflows: carried.stat_overflows,
        h2: (axes.len() == 2).then_some(RawH2 {
            scalefactor: carried.scalefactor,
            tsumwy: stats.tsumwy,
            tsumwy2: stats.tsumwy2,
            tsumwxy: stats.tsumwxy,
        }),
        profile: None,
    }
}

// ---------------------------------------------------------------------------------

/// How a profile reports bin errors (TProfile's error option).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorMode {
    /// "" (default): standard error of the mean, spread / sqrt(effective entries).
    Mean,
    /// "s": the spread (standard deviation) of y.
    Spread,
    /// "i": like Mean, but 1/sqrt(12 n) when the spread is zero (integer data).
    SpreadI,
    /// "g": 1/sqrt(sum of weights) (weights are 1/sigma^2).
    SpreadG,
}

impl ErrorMode {
    pub fn from_code(c: i32) -> Self {
        match c {
            1 => ErrorMode::Spread,
            2 => ErrorMode::SpreadI,
            3 => ErrorMode::SpreadG,
            _ => ErrorMode::Mean,
        }
    }

    pub fn code(self) -> i32 {
        match self {
            ErrorMode::Mean => 0,
            ErrorMode::Spread => 1,
            ErrorMode::SpreadI => 2,
            ErrorMode::SpreadG => 3,
        }
    }
}

/// A TProfile (1D) or TProfile2D: per bin, the sums of w, w*y, w*y^2 (and w^2).
#[derive(Debug, Clone, PartialEq)]
pub struct Profile {
    pub name: String,
    pub title: String,
    axes: Vec<Axis>,
    /// Sum of w*y per cell (fArray).
    sumwy: Array1<f64>,
    /// Sum of w*y^2 per cell (fSumw2).
    sumwy2: Array1<f64>,
    /// Sum of w per cell (fBinEntries).
    sumw: Array1<f64>,
    /// Sum of w^2 per cell (fBinSumw2), when weights other than 1 were used.
    sumw2: Option<Array1<f64>>,
    pub error_mode: ErrorMode,
    /// fYmin/fYmax: fills outside are rejected when they differ.
    pub vmin: f64,
    pub vmax: f64,
    pub stats: Stats,
    /// fTsumwy/fTsumwy2 of the profiled variable (z for a TProfile2D).
    pub tsumwv: f64,
    pub tsumwv2: f64,
    carried: Carried,
}

impl Profile {
    pub fn new_1d(name: &str, title: &str, x: Axis) -> Self {
        Self::empty(name, title, vec![x])
    }

    pub fn new_2d(name: &str, title: &str, x: Axis, y: Axis) -> Self {
        Self::empty(name, title, vec![x, y])
    }

    fn empty(name: &str, title: &str, axes: Vec<Axis>) -> Self {
        let n = ncells(&axes);
        Profile {
            name: name.into(),
            title: title.into(),
            axes,
            sumwy: Array1::zeros(n),
            sumwy2: Array1::zeros(n),
            sumw: Array1::zeros(n),
            sumw2: None,
            error_mode: ErrorMode::Mean,
            vmin: 0.0,
            vmax: 0.0,
            stats: Stats::default(),
            tsumwv: 0.0,
            tsumwv2: 0.0,
            carried: Carried::default(),
        }
    }

    pub fn dim(&self) -> usize {
        self.axes.len()
    }

    pub fn axes(&self) -> &[Axis] {
        &self.axes
    }

    pub fn x(&self) -> &Axis {
        &self.axes[0]
    }

    pub fn class_name(&self) -> &'static str {
        if self.dim() == 1 {
            "TProfile"
        } else {
            "TProfile2D"
        }
    }

    pub fn ncells(&self) -> usize {
        self.sumw.len()
    }

    /// fBinEntries: the sum of weights in the cell.
    pub fn bin_entries(&self, bin: usize) -> f64 {
        self.sumw[bin]
    }

    /// Sum of w*y in the cell.
    pub fn bin_sum(&self, bin: usize) -> f64 {
        self.sumwy[bin]
    }

    /// ROOT's GetBinEffectiveEntries: (sum w)^2 / sum w^2, or sum w when unweighted.
    pub fn effective_entries(&self, bin: usize) -> f64 {
        let sw = self.sumw[bin];
        match &self.sumw2 {
            None => sw,
            Some(s) if s[bin] > 0.0 => sw * sw / s[bin],
            Some(_) => 0.0,
        }
    }

    /// ROOT's GetBinContent: the mean of y in the cell, 0 when empty.
    pub fn bin_content(&self, bin: usize) -> f64 {
        if self.sumw[bin] == 0.0 {
            0.0
        } else {
            self.sumwy[bin] / self.sumw[bin]
        }
    }

    /// ROOT's TProfile::GetBinError for this profile's error mode (TProfileHelper::GetBinError,
    /// without the optional global approximation, which ROOT leaves off by default).
    pub fn bin_error(&self, bin: usize) -> f64 {
        let cont = self.sumwy[bin];
        let sum = self.sumw[bin];
        let err2 = self.sumwy2[bin];
        let neff = self.effective_entries(bin);
        if sum == 0.0 {
            return 0.0;
        }
        if self.error_mode == ErrorMode::SpreadG {
            return 1.0 / sum.sqrt();
        }
        let contsum = cont / sum;
        let eprim2 = (err2 / sum - contsum * contsum).abs();
        let eprim = eprim2.sqrt();
        match self.error_mode {
            ErrorMode::SpreadI => {
                if eprim != 0.0 {
                    eprim / neff.sqrt()
                } else {
                    1.0 / (12.0 * neff).sqrt()
                }
            }
            ErrorMode::Spread => eprim,
            _ => eprim / neff.sqrt(),
        }
    }

    /// Bin means for every cell (global order, flow included).
    pub fn values_flat(&self) -> Array1<f64> {
        (0..self.ncells()).map(|b| self.bin_content(b)).collect()
    }

    /// Bin errors for every cell (global order, flow included).
    pub fn errors_flat(&self) -> Array1<f64> {
        (0..self.ncells()).map(|b| self.bin_error(b)).collect()
    }

    /// 1D bin means, bins 1..=n (or with flow).
    pub fn values(&self, flow: bool) -> Array1<f64> {
        let n = self.axes[0].nbins;
        let r = if flow { 0..n + 2 } else { 1..n + 1 };
        r.map(|b| self.bin_content(b)).collect()
    }

    /// 1D bin errors, bins 1..=n (or with flow).
    pub fn errors(&self, flow: bool) -> Array1<f64> {
        let n = self.axes[0].nbins;
        let r = if flow { 0..n + 2 } else { 1..n + 1 };
        r.map(|b| self.bin_error(b)).collect()
    }

    /// Per-cell sums of weights, global order (a view, for fast loops).
    pub fn sumw_flat(&self) -> ArrayView1<'_, f64> {
        self.sumw.view()
    }

    /// The statistics TProfile::GetStats uses: stored, or from the bins when fTsumw is 0.
    fn effective_stats(&self) -> (Stats, f64, f64) {
        if self.stats.tsumw != 0.0 {
            return (self.stats, self.tsumwv, self.tsumwv2);
        }
        let mut s = Stats { entries: self.stats.entries, ..Stats::default() };
        let (mut v, mut v2) = (0.0, 0.0);
        let nx = self.axes[0].nbins;
        let ys: Vec<(usize, f64)> = if self.dim() == 1 { vec![(0, 0.0)] } else { (1..=self.axes[1].nbins).map(|iy| (iy, self.axes[1].center(iy))).collect() };
        for (iy, y) in ys {
            for ix in 1..=nx {
                let bin = global(&self.axes, ix, iy);
                let w = self.sumw[bin];
                let x = self.axes[0].center(ix);
                s.tsumw += w;
                s.tsumw2 += self.sumw2.as_ref().map_or(w, |a| a[bin]);
                s.tsumwx += w * x;
                s.tsumwx2 += w * x * x;
                s.tsumwy += w * y;
                s.tsumwy2 += w * y * y;
                s.tsumwxy += w * x * y;
                v += self.sumwy[bin];
                v2 += self.sumwy2[bin];
            }
        }
        (s, v, v2)
    }

    /// ROOT's GetMean(axis): 1 = x; 2 = y (for a TProfile, the profiled y; for a
    /// TProfile2D, the y axis; 3 = the profiled z of a TProfile2D).
    pub fn mean(&self, axis: usize) -> f64 {
        self.moment(axis).0
    }

    /// ROOT's GetStdDev(axis).
    pub fn std_dev(&self, axis: usize) -> f64 {
        self.moment(axis).1
    }

    fn moment(&self, axis: usize) -> (f64, f64) {
        let (s, v, v2) = self.effective_stats();
        match (self.dim(), axis) {
            (_, 1) => mean_and_std(s.tsumw, s.tsumwx, s.tsumwx2),
            (1, _) | (2, 3) => mean_and_std(s.tsumw, v, v2),
            _ => mean_and_std(s.tsumw, s.tsumwy, s.tsumwy2),
        }
    }

    pub fn entries(&self) -> f64 {
        self.stats.entries
    }

    /// ROOT's TProfile::Fill(x, y, w). Returns false when y is outside [vmin, vmax].
    pub fn fill(&mut self, x: f64, y: f64, w: f64) -> bool {
        debug_assert_eq!(self.dim(), 1);
        if self.vmin != self.vmax && (y < self.vmin || y > self.vmax || y.is_nan()) {
            return false;
        }
        let ix = self.axes[0].find_bin(x);
        self.fill_cell(ix, y, w);
        if ix == 0 || ix > self.axes[0].nbins {
            return true;
        }
        let s = &mut self.stats;
        s.tsumw += w;
        s.tsumw2 += w * w;
        s.tsumwx += w * x;
        s.tsumwx2 += w * x * x;
        self.tsumwv += w * y;
        self.tsumwv2 += w * y * y;
        true
    }

    /// ROOT's TProfile2D::Fill(x, y, z, w).
    pub fn fill_2d(&mut self, x: f64, y: f64, z: f64, w: f64) -> bool {
        debug_assert_eq!(self.dim(), 2);
        if self.vmin != self.vmax && (z < self.vmin || z > self.vmax || z.is_nan()) {
            return false;
        }
        let ix = self.axes[0].find_bin(x);
        let iy = self.axes[1].find_bin(y);
        self.fill_cell(global(&self.axes, ix, iy), z, w);
        if ix == 0 || ix > self.axes[0].nbins || iy == 0 || iy > self.axes[1].nbins {
            return true;
        }
        let s = &mut self.stats;
        s.tsumw += w;
        s.tsumw2 += w * w;
        s.tsumwx += w * x;
        s.tsumwx2 += w * x * x;
        s.tsumwy += w * y;
        s.tsumwy2 += w * y * y;
        s.tsumwxy += w * x * y;
        self.tsumwv += w * z;
        self.tsumwv2 += w * z * z;
        true
    }

    fn fill_cell(&mut self, bin: usize, v: f64, w: f64) {
        if self.sumw2.is_none() && w != 1.0 {
            self.sumw2 = Some(self.sumw.clone());
        }
        self.sumwy[bin] += w * v;
        self.sumwy2[bin] += w * v * v;
        self.sumw[bin] += w;
        if let Some(s) = &mut self.sumw2 {
            s[bin] += w * w;
        }
        self.stats.entries += 1.0;
    }

    /// Sets one cell's sums directly: n entries of weight 1 with the given sums of y and
    /// y^2. For generators that draw a bin's total instead of filling entry by entry.
    pub fn set_cell(&mut self, bin: usize, n: f64, sum_y: f64, sum_y2: f64) {
        self.sumw[bin] = n;
        self.sumwy[bin] = sum_y;
        self.sumwy2[bin] = sum_y2;
        if let Some(s) = &mut self.sumw2 {
            s[bin] = n;
        }
    }

    /// Recomputes fEntries and the fTsumw* statistics from the cells (in-range bins
    /// only), as if every entry had been filled at its bin centre.
    pub fn recompute_stats(&mut self) {
        let entries: f64 = self.sumw.sum();
        self.stats = Stats::default();
        self.tsumwv = 0.0;
        self.tsumwv2 = 0.0;
        let (s, v, v2) = self.effective_stats();
        self.stats = Stats { entries, ..s };
        self.tsumwv = v;
        self.tsumwv2 = v2;
    }

    /// `hadd` of one more profile: sums of w, w*y, w*y^2, w^2 and the statistics,
    /// never averages of means.
    pub fn add(&mut self, other: &Profile) -> Result<(), HistError> {
        check_axes(&self.name, &other.name, &self.axes, &other.axes)?;
        if self.sumw2.is_some() || other.sumw2.is_some() {
            let mine = self.sumw2.take().unwrap_or_else(|| self.sumw.clone());
            let theirs = other.sumw2.as_ref().unwrap_or(&other.sumw);
            self.sumw2 = Some(mine + theirs);
        }
        self.sumwy += &other.sumwy;
        self.sumwy2 += &other.sumwy2;
        self.sumw += &other.sumw;
        self.stats.add(&other.stats);
        self.tsumwv += other.tsumwv;
        self.tsumwv2 += other.tsumwv2;
        Ok(())
    }

    pub fn from_raw(mut raw: RawHist) -> Result<Self, HistError> {
        raw.check().map_err(HistError::Invalid)?;
        let Some(p) = raw.profile.take() else {
            return Err(HistError::Invalid(format!("{} is not a profile", raw.class_name())));
        };
        let axes = axes_of(&raw);
        let n = raw.contents.len();
        let (stats, carried) = stats_and_carried(&mut raw);
        Ok(Profile {
            name: raw.name,
            title: raw.title,
            axes,
            sumwy: Array1::from(raw.contents),
            sumwy2: if raw.sumw2.is_empty() { Array1::zeros(n) } else { Array1::from(raw.sumw2) },
            sumw: Array1::from(p.bin_entries),
            sumw2: (!p.bin_sumw2.is_empty()).then(|| Array1::from(p.bin_sumw2)),
            error_mode: ErrorMode::from_code(p.error_mode),
            vmin: p.vmin,
            vmax: p.vmax,
            stats,
            tsumwv: p.tsumwv,
            tsumwv2: p.tsumwv2,
            carried,
        })
    }

    pub fn to_raw(&self) -> RawHist {
        let kind = if self.dim() == 1 { HistKind::Profile } else { HistKind::Profile2D };
        let mut raw = raw_common(
            kind,
            ArrayElem::F64,
            &self.name,
            &self.title,
            &self.axes,
            &self.stats,
            &self.carried,
            self.sumwy.to_vec(),
            self.sumwy2.to_vec(),
        );
        raw.profile = Some(RawProfile {
            bin_entries: self.sumw.to_vec(),
            bin_sumw2: self.sumw2.as_ref().map(|s| s.to_vec()).unwrap_or_default(),
            error_mode: self.error_mode.code(),
            vmin: self.vmin,
            vmax: self.vmax,
            tsumwv: self.tsumwv,
            tsumwv2: self.tsumwv2,
        });
        raw
    }
}

// ---------------------------------------------------------------------------------

/// Any supported object read from a file.
#[derive(Debug, Clone, PartialEq)]
pub enum Histogram {
    Hist(Hist),
    Profile(Profile),
}

impl Histogram {
    pub fn from_raw(raw: RawHist) -> Result<Self, HistError> {
        match raw.kind {
            HistKind::H1 | HistKind::H2 => Hist::from_raw(raw).map(Histogram::Hist),
            HistKind::Profile | HistKind::Profile2D => Profile::from_raw(raw).map(Histogram::Profile),
        }
    }

    pub fn to_raw(&self) -> RawHist {
        match self {
            Histogram::Hist(h) => h.to_raw(),
            Histogram::Profile(p) => p.to_raw(),
        }
    }

    pub fn class_name(&self) -> &'static str {
        match self {
            Histogram::Hist(h) => h.class_name(),
            Histogram::Profile(p) => p.class_name(),
        }
    }

    pub fn title(&self) -> &str {
        match self {
            Histogram::Hist(h) => &h.title,
            Histogram::Profile(p) => &p.title,
        }
    }

    pub fn entries(&self) -> f64 {
        match self {
            Histogram::Hist(h) => h.entries(),
            Histogram::Profile(p) => p.entries(),
        }
    }

    pub fn axes(&self) -> &[Axis] {
        match self {
            Histogram::Hist(h) => h.axes(),
            Histogram::Profile(p) => p.axes(),
        }
    }

    pub fn as_hist(&self) -> Option<&Hist> {
        match self {
            Histogram::Hist(h) => Some(h),
            Histogram::Profile(_) => None,
        }
    }

    pub fn as_profile(&self) -> Option<&Profile> {
        match self {
            Histogram::Profile(p) => Some(p),
            Histogram::Hist(_) => None,
        }
    }

    pub fn add(&mut self, other: &Histogram) -> Result<(), HistError> {
        match (self, other) {
            (Histogram::Hist(a), Histogram::Hist(b)) => a.add(b),
            (Histogram::Profile(a), Histogram::Profile(b)) => a.add(b),
            (a, b) => Err(HistError::Incompatible {
                left: a.name().to_string(),
                right: b.name().to_string(),
                detail: format!("a {} and a {}", a.class_name(), b.class_name()),
            }),
        }
    }

    pub fn name(&self) -> &str {
        match self {
            Histogram::Hist(h) => &h.name,
            Histogram::Profile(p) => &p.name,
        }
    }
}

#[cfg(test)]
mod tests;
