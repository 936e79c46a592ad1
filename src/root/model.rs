//! Plain data decoded from (or encoded to) ROOT histogram objects.
//!
//! These structs mirror the streamed members of ROOT's TH1/TH2/TProfile family one to
//! one, with every bin array widened to `f64`. They have no behaviour beyond checking
//! their own consistency: `crate::hist` turns them into histograms that do things.

use super::bytes::ArrayElem;

/// Which family a histogram class belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HistKind {
    H1,
    H2,
    Profile,
    Profile2D,
}

impl HistKind {
    pub fn dimension(self) -> usize {
        match self {
            HistKind::H1 | HistKind::Profile => 1,
            HistKind::H2 | HistKind::Profile2D => 2,
        }
    }
}

/// Maps a ROOT class name to its family and bin storage type; `None` if unsupported.
pub fn hist_class(class: &str) -> Option<(HistKind, ArrayElem)> {
    use ArrayElem::*;
    use HistKind::*;
    Some(match class {
        "TH1C" => (H1, I8),
        "TH1S" => (H1, I16),
        "TH1I" => (H1, I32),
        "TH1L" => (H1, I64),
        "TH1F" => (H1, F32),
        "TH1D" => (H1, F64),
        "TH2C" => (H2, I8),
        "TH2S" => (H2, I16),
        "TH2I" => (H2, I32),
        "TH2L" => (H2, I64),
        "TH2F" => (H2, F32),
        "TH2D" => (H2, F64),
        "TProfile" => (Profile, F64),
        "TProfile2D" => (Profile2D, F64),
        _ => return None,
    })
}

/// The class name for a family and storage type (the inverse of [`hist_class`]).
pub fn class_name(kind: HistKind, elem: ArrayElem) -> &'static str {
    use ArrayElem::*;
    match (kind, elem) {
        (HistKind::Profile, _) => "TProfile",
        (HistKind::Profile2D, _) => "TProfile2D",
        (HistKind::H1, I8) => "TH1C",
        (HistKind::H1, I16) => "TH1S",
        (HistKind::H1, I32) => "TH1I",
        (HistKind::H1, I64) => "TH1L",
        (HistKind::H1, F32) => "TH1F",
        (HistKind::H1, F64) => "TH1D",
        (HistKind::H2, I8) => "TH2C",
        (HistKind::H2, I16) => "TH2S",
        (HistKind::H2, I32) => "TH2I",
        (HistKind::H2, I64) => "TH2L",
        (HistKind::H2, F32) => "TH2F",
        (HistKind::H2, F64) => "TH2D",
    }
}

/// A TAxis: fixed bins (`xbins` empty) or variable bins (`xbins` = the nbins+1 edges).
#[derive(Debug, Clone, PartialEq)]
pub struct RawAxis {
    pub name: String,
    pub title: String,
    pub nbins: i32,
    pub xmin: f64,
    pub xmax: f64,
    pub xbins: Vec<f64>,
}

impl RawAxis {
    /// An unused axis as ROOT makes it (1 bin on [0, 1]).
    pub fn unused(name: &str) -> Self {
        RawAxis { name: name.into(), title: String::new(), nbins: 1, xmin: 0.0, xmax: 1.0, xbins: Vec::new() }
    }
}

/// The TProfile/TProfile2D members beyond its TH1D/TH2D base.
#[derive(Debug, Clone, PartialEq)]
pub struct RawProfile {
    /// fBinEntries: sum of weights per bin.
    pub bin_entries: Vec<f64>,
    /// fBinSumw2: sum of squared weights per bin (empty when never weighted).
    pub bin_sumw2: Vec<f64>,
    /// fErrorMode: 0 mean (default), 1 spread ("s"), 2 "i", 3 "g".
    pub error_mode: i32,
    /// fYmin/fYmax (TProfile) or fZmin/fZmax (TProfile2D).
    pub vmin: f64,
    pub vmax: f64,
    /// fTsumwy/fTsumwy2 (TProfile) or fTsumwz/fTsumwz2 (TProfile2D).
    pub tsumwv: f64,
    pub tsumwv2: f64,
}

/// The TH2 members beyond TH1.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RawH2 {
    pub scalefactor: f64,
    pub tsumwy: f64,
    pub tsumwy2: f64,
    pub tsumwxy: f64,
}

/// One histogram or profile as streamed. Bin arrays are in ROOT global-bin order,
/// flow bins included (x fastest: bin = ix + (nx+2)*iy).
#[derive(Debug, Clone, PartialEq)]
pub struct RawHist {
    pub kind: HistKind,
    /// Storage of `contents` in the file (TH1F: F32, TH1D and profiles: F64, ...).
    pub elem: ArrayElem,
    pub name: String,
    pub title: String,
    pub xaxis: RawAxis,
    pub yaxis: RawAxis,
    pub zaxis: RawAxis,
    pub entries: f64,
    pub tsumw: f64,
    pub tsumw2: f64,
    pub tsumwx: f64,
    pub tsumwx2: f64,
    pub maximum: f64,
    pub minimum: f64,
    pub norm_factor: f64,
    /// fSumw2: sum of squared weights per bin (empty when not stored).
    /// For a profile: sum of w*y^2 per bin.
    pub sumw2: Vec<f64>,
    /// fArray: bin contents. For a profile: sum of w*y per bin.
    pub contents: Vec<f64>,
    pub option: String,
    /// fBinStatErrOpt (TH1 v7+), fStatOverflows (TH1 v8+).
    pub bin_stat_err_opt: i32,
    pub stat_overflows: i32,
    pub h2: Option<RawH2>,
    pub profile: Option<RawProfile>,
}

impl RawHist {
    /// An empty histogram of this family and storage, with ROOT's default members
    /// (unused 1-bin axes, fMaximum/fMinimum -1111).
    pub fn empty(kind: HistKind, elem: ArrayElem) -> Self {
        RawHist {
            kind,
            elem,
            name: String::new(),
            title: String::new(),
            xaxis: RawAxis::unused("xaxis"),
            yaxis: RawAxis::unused("yaxis"),
            zaxis: RawAxis::unused("zaxis"),
            entries: 0.0,
            tsumw: 0.0,
            tsumw2: 0.0,
            tsumwx: 0.0,
            tsumwx2: 0.0,
            maximum: -1111.0,
            minimum: -1111.0,
            norm_factor: 0.0,
            sumw2: Vec::new(),
            contents: Vec::new(),
            option: String::new(),
            bin_stat_err_opt: 0,
            stat_overflows: 0,
            h2: None,
            profile: None,
        }
    }

    pub fn class_name(&self) -> &'static str {
        class_name(self.kind, self.elem)
    }

    /// Number of cells ROOT allocates: (nx+2)(ny+2) for 2D.
    pub fn ncells(&self) -> usize {
        let nx = self.xaxis.nbins.max(0) as usize + 2;
        match self.kind.dimension() {
            1 => nx,
            _ => nx * (self.yaxis.nbins.max(0) as usize + 2),
        }
    }

    /// Checks that every array has the length the axes imply. Returns the first problem.
    pub fn check(&self) -> Result<(), String> {
        let axes: &[&RawAxis] = if self.kind.dimension() == 1 { &[&self.xaxis] } else { &[&self.xaxis, &self.yaxis] };
        for a in axes {
            if a.nbins < 1 {
                return Err(format!("axis {:?} has {} bins", a.name, a.nbins));
            }
            if !a.xbins.is_empty() && a.xbins.len() != a.nbins as usize + 1 {
                return Err(format!(
                    "axis {:?} has {} bins but {} variable edges",
                    a.name,
                    a.nbins,
                    a.xbins.len()
                ));
            }
            if a.xbins.is_empty() && !(a.xmin.is_finite() && a.xmax.is_finite()) {
                return Err(format!("axis {:?} has a non-finite range", a.name));
            }
        }
        let n = self.ncells();
        let check_len = |what: &str, len: usize, optional: bool| {
            if len == n || (optional && len == 0) {
                Ok(())
            } else {
                Err(format!("{what} has {len} cells, the axes need {n}"))
            }
        };
        check_len("fArray", self.contents.len(), false)?;
        check_len("fSumw2", self.sumw2.len(), true)?;
        if let Some(p) = &self.profile {
            check_len("fBinEntries", p.bin_entries.len(), false)?;
            check_len("fBinSumw2", p.bin_sumw2.len(), true)?;
        }
        Ok(())
    }
}
