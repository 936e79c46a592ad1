//! The merge ("hadd") stage: sums of the per-channel histograms of one interval of
//! validity, streamed file by file so memory is bounded by the channel count, never
//! by the number of files. Profiles are summed as ROOT's hadd does (sums of weights,
//! w*y and w*y^2), never as averages of means.
//!
//! Floating-point sums depend on their order: callers that want results independent
//! of the thread count add files in a fixed order (sorted by run and subrun) or merge
//! partial sums in a fixed order.

use crate::dataset::SubrunId;
use crate::hist::{HistError, Profile};
use crate::layout::{paths, N_STRAWS, N_XTALS, XTALS_PER_CALO};
use crate::root::{ErrorKind, RootError, RootFile};

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
    /// What could not be read or added; the rest of the interval is still summed.
    pub errors: Vec<RootError>,
}

/// Adds `p` into `slot`, which becomes `p` when still empty.
fn accumulate(slot: &mut Option<Profile>, p: Profile) -> Result<(), HistError> {
    match slot {
        None => {
            *slot = Some(p);
            Ok(())
        }
        Some(s) => s.add(&p),
    }
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
            errors: Vec::new(),
        }
    }

    /// Adds one subrun file. Objects that are missing or do not match the binning of
    /// the sums so far are recorded as errors and skipped; the file's other objects
    /// are still added.
    pub fn add_file(&mut self, file: &RootFile, id: SubrunId) {
        self.subruns.push(id);
        let mut r = ObjectReader::new(file);
        let add = |r: &mut ObjectReader, slot: &mut Option<Profile>, path: &str| {
            if let Some(p) = r.profile(path) {
                if let Err(e) = accumulate(slot, p) {
                    r.error(path, "binning", e.to_string());
                }
            }
        };
        add(&mut r, &mut self.out_of_fill, paths::OUT_OF_FILL);
        add(&mut r, &mut self.pedestal, paths::PEDESTAL_RMS);
        for ch in 0..N_XTALS {
            let (calo, xtal) = (ch / XTALS_PER_CALO + 1, ch % XTALS_PER_CALO);
            add(&mut r, &mut self.in_fill[ch], &paths::in_fill(calo, xtal));
            if let Some(h) = r.hist(&paths::xtal_energy(calo, xtal)) {
                self.xtal_hits[ch] += h.integral(0, 251);
            }
        }
        if let Some(h) = r.hist(paths::STRAW_HITS) {
            for (w, s) in self.straw_hits.iter_mut().enumerate() {
                *s += h.bin_content(w + 1);
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
        for (slot, p) in [(&mut self.out_of_fill, other.out_of_fill), (&mut self.pedestal, other.pedestal)] {
            if let Some(p) = p {
                if let Err(e) = accumulate(slot, p) {
                    errors.push(RootError::new("<merge>", ErrorKind::Corrupt { what: "binning".into(), detail: e.to_string() }));
                }
            }
        }
        for (slot, p) in self.in_fill.iter_mut().zip(other.in_fill) {
            if let Some(p) = p {
                if let Err(e) = accumulate(slot, p) {
                    errors.push(RootError::new("<merge>", ErrorKind::Corrupt { what: "binning".into(), detail: e.to_string() }));
                }
            }
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
