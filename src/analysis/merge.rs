//! The merge ("hadd") stage: sums of the per-channel histograms of one interval of
//! validity, streamed file by file so memory is bounded by the channel count, never
//! by the number of files. Profiles are summed as ROOT's hadd does (sums of weights,
//! w*y and w*y^2), never as averages of means.
//!
//! Floating-point sums depend on their order: callers that want results independent
//! of the thread count add files in a fixed order (sorted by run and subrun) or merge
//! partial sums in a fixed order.

use crate::dataset::SubrunId;
use std::collections::BTreeMap;

use crate::hist::{Hist, HistError, Histogram, Profile};
use crate::root::bytes::ArrayElem;
use crate::layout::{paths, N_STRAWS, N_XTALS, XTALS_PER_CALO};
use crate::root::{ErrorKind, RootError, RootFile};

use super::metrics::SubrunResult;
use super::read::ObjectReader;

/// The summed inputs of the constants of one interval.
#[derive(Debug)]
pub struct IntervalSums {
    pub run_first: u32,
    pub run_last: u32,
    /// Subruns whose file was read (in the order added).
    pub subruns: Vec<SubrunId>,
    /// `laser/outOfFill` summed.
    pub out_of_fill: Option<Profile>,
    /// `calo/pedestalRMS` summed.
    pub pedestal: Option<Profile>,
    /// `laser/inFill/calo{c}/xtal{x}` summed, by crystal channel id.
    pub in_fill: Vec<Option<Profile>>,
    /// Crystal hits (energy spectrum Integral(0, 251)) summed, by channel id.
    pub xtal_hits: Vec<f64>,
    /// `tracker/strawHits` summed, by straw channel id.
    pub straw_hits: Vec<f64>,
    /// `tracker/driftTime` summed.
    pub drift_time: Option<Hist>,
    /// Every other histogram of the subrun files (energy spectra, `offNearline*`,
    /// losses, kickers, quadrupoles, the source monitor, straw hits, HV trips), summed
    /// by path; histograms in double precision, so a sum is never rounded to a float.
    pub others: BTreeMap<String, Histogram>,
    /// What could not be read or added; the rest of the interval is still summed.
    pub errors: Vec<RootError>,
}

/// Histograms that can be summed as hadd does.
pub(crate) trait Summable: Sized {
    fn add_to(&mut self, other: &Self) -> Result<(), HistError>;
}

impl Summable for Profile {
    fn add_to(&mut self, other: &Self) -> Result<(), HistError> {
        self.add(other)
    }
}

impl Summable for Hist {
    fn add_to(&mut self, other: &Self) -> Result<(), HistError> {
        self.add(other)
    }
}

impl Summable for Histogram {
    fn add_to(&mut self, other: &Self) -> Result<(), HistError> {
        match (self, other) {
            (Histogram::Hist(a), Histogram::Hist(b)) => a.add(b),
            (Histogram::Profile(a), Histogram::Profile(b)) => a.add(b),
            (a, b) => Err(HistError::Incompatible { left: a.class_name().into(), right: b.class_name().into(), detail: "a histogram and a profile".into() }),
        }
    }
}

/// Whether a subrun-file object is summed in [`IntervalSums::others`]: every one but
/// those with fields of their own (the laser profiles, the pedestal, the drift times).
pub fn is_other(path: &str) -> bool {
    ![paths::OUT_OF_FILL, paths::PEDESTAL_RMS, paths::DRIFT_TIME].contains(&path) && !path.starts_with("laser/inFill/")
}

/// The paths of [`is_other`] objects, in the catalogue's order (built once).
pub fn other_paths() -> &'static [String] {
    static PATHS: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();
    PATHS.get_or_init(|| crate::layout::contract_objects().into_iter().map(|o| o.path).filter(|p| is_other(p)).collect())
}

/// Adds `h` into the sum at `path` of `others`; the first becomes the sum, in double
/// precision.
fn accumulate_other(others: &mut BTreeMap<String, Histogram>, path: &str, h: &Histogram) -> Result<(), HistError> {
    match others.get_mut(path) {
        Some(s) => s.add_to(h),
        None => {
            let mut h = h.clone();
            if let Histogram::Hist(x) = &mut h {
                x.storage = ArrayElem::F64;
            }
            others.insert(path.to_string(), h);
            Ok(())
        }
    }
}

/// Adds `p` into `slot`, which becomes `p` when still empty.
pub(crate) fn accumulate<T: Summable>(slot: &mut Option<T>, p: T) -> Result<(), HistError> {
    match slot {
        None => {
            *slot = Some(p);
            Ok(())
        }
        Some(s) => s.add_to(&p),
    }
}

fn merge_error(e: HistError) -> RootError {
    RootError::new("<merge>", ErrorKind::Corrupt { what: "binning".into(), detail: e.to_string() })
}

impl IntervalSums {
    pub fn new(run_first: u32, run_last: u32) -> Self {
        IntervalSums {
            run_first,
            run_last,
            subruns: Vec::new(),
            out_of_fill: None,
            pedestal: None,
            in_fill: vec![None; N_XTALS],
            xtal_hits: vec![0.0; N_XTALS],
            straw_hits: vec![0.0; N_STRAWS],
            drift_time: None,
            others: BTreeMap::new(),
            errors: Vec::new(),
        }
    }

    /// Adds one subrun whose metrics were computed already: the hits, the pedestal
    /// profile and (when the metrics kept them) every object they read come from
    /// `result`, and only the objects the metrics do not need (laser profiles, drift
    /// times) are read here.
    pub fn add_subrun(&mut self, file: &RootFile, id: SubrunId, result: &SubrunResult) {
        self.subruns.push(id);
        for (sum, h) in self.xtal_hits.iter_mut().zip(&result.xtal_hits) {
            if h.is_finite() {
                *sum += h;
            }
        }
        if let Some(straws) = &result.straws {
            for (sum, s) in self.straw_hits.iter_mut().zip(straws) {
                *sum += s.hits;
            }
        }
        let mut r = ObjectReader::new(file);
        for (path, h) in result.kept.iter().filter(|(p, _)| is_other(p)) {
            if let Err(e) = accumulate_other(&mut self.others, path, h) {
                r.error(path, "binning", e.to_string());
            }
        }
        // The objects the metrics did not read (or did not keep) are read here; one the
        // metrics could not read is not tried again (its error is recorded once).
        let done: std::collections::HashSet<&str> = result.kept.iter().map(|(p, _)| p.as_str()).chain(result.errors.iter().filter_map(|e| e.object.as_deref())).collect();
        for path in other_paths().iter().filter(|p| !done.contains(p.as_str())) {
            if let Some(h) = r.histogram(path) {
                if let Err(e) = accumulate_other(&mut self.others, path, &h) {
                    r.error(path, "binning", e.to_string());
                }
            }
        }
        if let Some(p) = &result.pedestal {
            if let Err(e) = accumulate(&mut self.pedestal, p.clone()) {
                r.error(paths::PEDESTAL_RMS, "binning", e.to_string());
            }
        }
        let add = |r: &mut ObjectReader, slot: &mut Option<Profile>, path: &str| {
            if let Some(p) = r.profile(path) {
                if let Err(e) = accumulate(slot, p) {
                    r.error(path, "binning", e.to_string());
                }
            }
        };
        add(&mut r, &mut self.out_of_fill, paths::OUT_OF_FILL);
        for ch in 0..N_XTALS {
            let (calo, xtal) = (ch / XTALS_PER_CALO + 1, ch % XTALS_PER_CALO);
            add(&mut r, &mut self.in_fill[ch], &paths::in_fill(calo, xtal));
        }
        if let Some(h) = r.hist(paths::DRIFT_TIME) {
            if let Err(e) = accumulate(&mut self.drift_time, h) {
                r.error(paths::DRIFT_TIME, "binning", e.to_string());
            }
        }
        self.errors.extend(r.errors);
    }

    /// Adds the sums of another part of the same interval (for parallel partial sums,
    /// merged in a fixed order).
    pub fn merge(&mut self, other: IntervalSums) {
        self.run_first = self.run_first.min(other.run_first);
        self.run_last = self.run_last.max(other.run_last);
        self.subruns.extend(other.subruns);
        let mut errors = std::mem::take(&mut self.errors);
        let mut push = |r: Result<(), HistError>| {
            if let Err(e) = r {
                errors.push(merge_error(e));
            }
        };
        for (slot, p) in [(&mut self.out_of_fill, other.out_of_fill), (&mut self.pedestal, other.pedestal)] {
            if let Some(p) = p {
                push(accumulate(slot, p));
            }
        }
        for (slot, p) in self.in_fill.iter_mut().zip(other.in_fill) {
            if let Some(p) = p {
                push(accumulate(slot, p));
            }
        }
        if let Some(h) = other.drift_time {
            push(accumulate(&mut self.drift_time, h));
        }
        for (path, h) in other.others {
            push(accumulate_other(&mut self.others, &path, &h));
        }
        for (a, b) in self.xtal_hits.iter_mut().zip(other.xtal_hits) {
            *a += b;
        }
        for (a, b) in self.straw_hits.iter_mut().zip(other.straw_hits) {
            *a += b;
        }
        errors.extend(other.errors);
        self.errors = errors;
    }
}

/// The merged sums of one interval, with the reference they are judged against: what
/// the gain stage needs (written to and read from files outside `analysis`, by the
/// top-level `merged` module).
#[derive(Debug)]
pub struct Merged {
    pub sums: IntervalSums,
    pub reference_run: u32,
    /// The reference run's summed out-of-fill profile.
    pub reference_out_of_fill: Option<crate::hist::Profile>,
}
