//! What `gm2dqc inspect` shows: a recursive listing of a file, and one object as JSON.
//!
//! The JSON form of one object is a stable interface that scripts depend on:
//! exactly the keys `path`, `class`, `title`, `entries`, `axes` (`[{"edges": [...]}]`),
//! `values` (flow bins included, ROOT global-bin order, x fastest), `variances`
//! (TH1/TH2: fSumw2 when stored, else the contents; profiles: null) and `errors`
//! (profiles: GetBinError with the object's error option; TH1/TH2: null).

use rayon::prelude::*;
use serde::Serialize;

use crate::hist::Histogram;
use crate::root::{RootError, RootFile};

/// One line of the listing.
#[derive(Debug, Clone, Serialize)]
pub struct Listing {
    pub path: String,
    pub cycle: i16,
    pub class: String,
    pub title: String,
    /// fEntries for histograms and profiles; null for other objects.
    pub entries: Option<f64>,
}

/// Lists every object in the file, directories included, depth first. Histograms are
/// decoded in parallel to report their entries; an object that fails to decode is
/// listed without entries and its error returned beside the listing.
pub fn list(file: &RootFile) -> (Vec<Listing>, Vec<RootError>) {
    let (entries, mut errors) = file.walk();
    let results: Vec<(Listing, Option<RootError>)> = entries
        .par_iter()
        .map(|e| {
            let mut l = Listing {
                path: e.path.clone(),
                cycle: e.key.cycle,
                class: e.key.class_name.clone(),
                title: e.key.title.clone(),
                entries: None,
            };
            let mut err = None;
            if crate::root::model::hist_class(&e.key.class_name).is_some() {
                match file.hist_from_key(&e.key, &e.path) {
                    Ok(h) => l.entries = Some(h.entries),
                    Err(x) => err = Some(x),
                }
            }
            (l, err)
        })
        .collect();
    let mut out = Vec::with_capacity(results.len());
    for (l, e) in results {
        out.push(l);
        errors.extend(e);
    }
    (out, errors)
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct AxisJson {
    pub edges: Vec<f64>,
}

/// The stable JSON form of one object (field order is the output order).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ObjectJson {
    pub path: String,
    pub class: String,
    pub title: String,
    pub entries: f64,
    pub axes: Vec<AxisJson>,
    pub values: Vec<f64>,
    pub variances: Option<Vec<f64>>,
    pub errors: Option<Vec<f64>>,
}

/// Builds the JSON form of a histogram read from `path`.
pub fn object_json(h: &Histogram, path: &str) -> ObjectJson {
    let axes = h.axes().iter().map(|a| AxisJson { edges: a.edges() }).collect();
    let (values, variances, errors) = match h {
        Histogram::Hist(x) => (x.values_flat().to_vec(), Some(x.variances_flat().to_vec()), None),
        Histogram::Profile(p) => (p.values_flat().to_vec(), None, Some(p.errors_flat().to_vec())),
    };
    ObjectJson {
        path: strip_cycle(path),
        class: h.class_name().to_string(),
        title: h.title().to_string(),
        entries: h.entries(),
        axes,
        values,
        variances,
        errors,
    }
}

/// `a/b;2/h;3` -> `a/b/h`, and no leading slash.
fn strip_cycle(path: &str) -> String {
    path.split('/')
        .filter(|p| !p.is_empty())
        .map(|p| match p.rsplit_once(';') {
            Some((n, c)) if c.parse::<i16>().is_ok() => n,
            _ => p,
        })
        .collect::<Vec<_>>()
        .join("/")
}

#[cfg(test)]
mod tests {
    #[test]
    fn cycles_are_stripped_from_paths() {
        assert_eq!(super::strip_cycle("/a/b;1/h;3"), "a/b/h");
        assert_eq!(super::strip_cycle("h"), "h");
    }
}
