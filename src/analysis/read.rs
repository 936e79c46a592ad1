//! Reading the histograms an analysis needs, recording failures instead of stopping:
//! a missing, unreadable or wrong-class object becomes a `RootError` naming the file
//! and the object, and the caller carries on with `None`.

use crate::hist::{Hist, Histogram, Profile};
use crate::root::{ErrorKind, RootError, RootFile};

pub(crate) struct ObjectReader<'a> {
    pub file: &'a RootFile,
    pub errors: Vec<RootError>,
}

impl<'a> ObjectReader<'a> {
    pub fn new(file: &'a RootFile) -> Self {
        ObjectReader { file, errors: Vec::new() }
    }

    pub fn error(&mut self, path: &str, what: &str, detail: String) {
        self.errors.push(RootError::new(self.file.path(), ErrorKind::Corrupt { what: what.into(), detail }).object(path.to_string()));
    }

    /// A TH1/TH2 at `path`.
    pub fn hist(&mut self, path: &str) -> Option<Hist> {
        match self.any(path)? {
            Histogram::Hist(h) => Some(h),
            Histogram::Profile(_) => {
                self.error(path, "object class", "expected a TH1/TH2".into());
                None
            }
        }
    }

    /// A TProfile/TProfile2D at `path`.
    pub fn profile(&mut self, path: &str) -> Option<Profile> {
        match self.any(path)? {
            Histogram::Profile(p) => Some(p),
            Histogram::Hist(_) => {
                self.error(path, "object class", "expected a TProfile".into());
                None
            }
        }
    }

    fn any(&mut self, path: &str) -> Option<Histogram> {
        let raw = match self.file.hist(path) {
            Ok(r) => r,
            Err(e) => {
                self.errors.push(e);
                return None;
            }
        };
        match Histogram::from_raw(raw) {
            Ok(h) => Some(h),
            Err(e) => {
                self.error(path, "histogram", e.to_string());
                None
            }
        }
    }
}
