//! The reference workload shared by the benches (`mod workload;` in each that uses it).

use gm2dqc::hist::Histogram;
use gm2dqc::root::RootFile;

/// Histograms and profiles: what is decoded (the timeTree is not a histogram).
pub fn is_hist(key: &gm2dqc::root::Key) -> bool {
    gm2dqc::root::model::hist_class(&key.class_name).is_some()
}

/// Reads everything a subrun file holds: walks every directory and decodes every
/// histogram and profile into the histogram types (the "read time" the analysis
/// stages are compared with). Returns the number of axes decoded.
pub fn read_everything(file: &RootFile) -> usize {
    let (entries, errors) = file.walk();
    assert!(errors.is_empty(), "{errors:?}");
    entries
        .iter()
        .filter(|e| is_hist(&e.key))
        .map(|e| Histogram::from_raw(file.hist_from_key(&e.key, &e.path).unwrap()).unwrap().axes().len())
        .sum()
}
