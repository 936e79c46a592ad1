//! The merge ("hadd") stage: sums of the per-channel histograms of one interval of
//! validity, streamed file by file so memory is bounded by the channel count, never
//! by the number of files. Profiles are summed as ROOT's hadd does (sums of weights,
//! w*y and w*y^2), never as averages of means.
//!
//! Floating-point sums depend on their order: callers that want results independent
//! of the thread count add files in a fixed order (sorted by run and subrun) or merge
//! partial sums in a fixed order.

use crate::dataset::SubrunId;
use crate::hist::{Hist, HistError, Profile};
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
            errors: Vec::new(),
        }
    }

    /// Adds one subrun whose metrics were computed already: the hits and the
    /// pedestal profile come from `result`, and only the objects the metrics do not
    /// need (laser profiles, drift times) are read here.
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
