//! Reading the histograms an analysis needs, recording failures instead of stopping:
//! a missing, unreadable or wrong-class object becomes a `RootError` naming the file
//! and the object, and the caller carries on with `None`.

use crate::hist::{Hist, Histogram, Profile};
use crate::root::{ErrorKind, RootError, RootFile};

pub(crate) struct ObjectReader<'a> {
    pub file: &'a RootFile,
    pub errors: Vec<RootError>,
    /// When keeping: a copy of every object read, by path, in reading order.
    pub kept: Option<Vec<(String, Histogram)>>,
}

impl<'a> ObjectReader<'a> {
    pub fn new(file: &'a RootFile) -> Self {
        ObjectReader { file, errors: Vec::new(), kept: None }
    }

    /// A reader that keeps a copy of every object it reads (the metrics' objects,
    /// which the interval sums add without decoding them again).
    pub fn keeping(file: &'a RootFile) -> Self {
        ObjectReader { file, errors: Vec::new(), kept: Some(Vec::new()) }
    }

    /// The object at `path`, whichever kind it is.
    pub fn histogram(&mut self, path: &str) -> Option<Histogram> {
        self.any(path)
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
            Ok(h) => {
                if let Some(k) = &mut self.kept {
                    k.push((path.to_string(), h.clone()));
                }
                Some(h)
            }
            Err(e) => {
                self.error(path, "histogram", e.to_string());
                None
            }
        }
    }
}
