//! The merge stage's files (file I/O, apart from `analysis`, which does none): its output: one ROOT file per interval of validity holding the
//! interval's summed histograms, which is everything the gain stage (the reduce)
//! needs, so `gm2dqc gain` can run later, elsewhere, without the subrun files.
//!
//! Layout of `merged_<first>-<last>.root` (readable by ROOT and uproot):
//!
//! | path | class | what |
//! |---|---|---|
//! | `laser/outOfFill`, `calo/pedestalRMS`, `laser/inFill/calo{c}/xtal{x}` | TProfile | as in a subrun file, summed as hadd sums them |
//! | `tracker/driftTime` | TH2D | summed (written in double precision, so nothing is rounded) |
//! | every other histogram of the subrun files, at its path (`calo/calo{c}/xtal{x}Energy`, `offNearline{WithDQC,NoDQC}/*`, `losses/*`, `kicker/*`, `quad/*`, `laser/sourceMonitor`, `tracker/strawHits`, `tracker/hvTrips`) | TH1D, TProfile | summed as hadd sums them (TH1F spectra in double precision) |
//! | `merge/xtalHits`, `merge/strawHits` | TH1D | hits per crystal (energy spectrum integral) and per straw, by channel id |
//! | `merge/referenceOutOfFill` | TProfile | the reference run's summed `laser/outOfFill` (absent when it had none) |
//! | `merge/interval` | TTree, branch `run` (`UInt_t`) | first and last run of the interval |
//! | `merge/referenceRun` | TTree, branch `run` (`UInt_t`) | the gain reference run |
//! | `merge/subrunRun`, `merge/subrunNumber` | TTrees, branches `run`, `subrun` (`UInt_t`) | the subruns summed, in order |
//!
//! Run and subrun numbers are `UInt_t` branches (TLeafI), laid out as C++ ROOT writes
//! them; merged files written before hold doubles, which `read` reads as well.
//!
//! Round trip: `read(write(sums))` gives the same sums bit for bit (the values are
//! stored as doubles), so the gain stage from merged files equals the one-pass analysis.

use std::path::{Path, PathBuf};

use crate::dataset::SubrunId;
use crate::hist::{Axis, Hist, Profile};
use crate::layout::{paths, N_STRAWS, N_XTALS, XTALS_PER_CALO};
use crate::root::bytes::ArrayElem;
use crate::root::tree::read_f64_branch;
use crate::root::{Compression, ErrorKind, RootError, RootFile, RootWriter, WriteOptions};

pub use crate::analysis::merge::Merged;
use crate::analysis::merge::{other_paths, IntervalSums};
use crate::analysis::read::ObjectReader;

pub const XTAL_HITS: &str = "merge/xtalHits";
pub const STRAW_HITS: &str = "merge/strawHits";
pub const REFERENCE_OUT_OF_FILL: &str = "merge/referenceOutOfFill";
pub const INTERVAL: &str = "merge/interval";
pub const REFERENCE_RUN: &str = "merge/referenceRun";
pub const SUBRUN_RUN: &str = "merge/subrunRun";
pub const SUBRUN_NUMBER: &str = "merge/subrunNumber";

/// Merged files carry a fixed timestamp (2020-01-01 UTC) so the same inputs give
/// byte-identical files.
const TIMESTAMP: i64 = 1_577_836_800;

/// The file name of an interval's merged file.
pub fn file_name(run_first: u32, run_last: u32) -> String {
    format!("merged_{run_first}-{run_last}.root")
}

/// The interval (first, last run) of a merged file, from its name ([`file_name`]).
pub fn interval_of(path: &Path) -> Option<(u32, u32)> {
    let name = path.file_name()?.to_str()?;
    let (a, b) = name.strip_prefix("merged_")?.strip_suffix(".root")?.split_once('-')?;
    Some((a.parse().ok()?, b.parse().ok()?))
}

/// The merged files in `dir`, sorted by interval.
pub fn list(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut v: Vec<((u32, u32), PathBuf)> = Vec::new();
    for e in std::fs::read_dir(dir)? {
        let p = e?.path();
        if let Some(iv) = interval_of(&p) {
            v.push((iv, p));
        }
    }
    v.sort();
    Ok(v.into_iter().map(|(_, p)| p).collect())
}

fn hits_hist(name: &str, title: &str, axis_title: &str, values: &[f64]) -> Hist {
    let n = values.len();
    let mut h = Hist::new_1d(name, title, Axis::fixed(n, -0.5, n as f64 - 0.5).with_title(axis_title), ArrayElem::F64);
    for (ch, &v) in values.iter().enumerate() {
        h.fill(ch as f64, v);
    }
    h
}

/// Writes an interval's merged file (atomically). Returns its size in bytes.
pub fn write(path: &Path, m: &Merged) -> Result<u64, RootError> {
    let title = format!("gm2dqc merged runs {}-{}", m.sums.run_first, m.sums.run_last);
    writer(path, m, title, &[], Compression::default())?.write(path)
}

/// The profile path of a reference run's partial sum in a chunk file.
pub fn reference_partial_path(run: u32) -> String {
    format!("{REFERENCE_PARTIALS}/run{run}")
}

/// Where a chunk file keeps the reference runs' partial out-of-fill sums.
pub const REFERENCE_PARTIALS: &str = "merge/referencePartials";

/// Writes the partial sums of one chunk of a sharded map (atomically): the merged-file
/// layout for the chunk's files, plus `references`, each reference run's out-of-fill
/// profiles summed over the chunk's files of that run
/// (`merge/referencePartials/run<R>`). Returns its size in bytes and its SHA-256.
pub fn write_chunk(path: &Path, m: &Merged, index: usize, references: &[(u32, Profile)]) -> Result<(u64, String), RootError> {
    let title = format!("gm2dqc partial sums, chunk {index} of runs {}-{}", m.sums.run_first, m.sums.run_last);
    // Read once by the reduce: fast compression (ZSTD level 1).
    let w = writer(path, m, title, references, Compression::new(crate::root::Algorithm::Zstd, 1))?;
    let bytes = w.to_bytes(&path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default());
    crate::atomic::write(path, &bytes).map_err(|e| RootError::new(path, ErrorKind::Io(e)))?;
    Ok((bytes.len() as u64, crate::checksum::sha256_hex(&bytes)))
}

/// A reference run's partial sum in a chunk file ([`write_chunk`]), `None` when the
/// chunk had none.
pub fn read_reference_partial(path: &Path, run: u32) -> Result<Option<Profile>, RootError> {
    let file = RootFile::open(path)?;
    let p = reference_partial_path(run);
    if file.key(&p).is_err() {
        return Ok(None);
    }
    let mut r = ObjectReader::new(&file);
    match r.profile(&p) {
        Some(p) => Ok(Some(p)),
        None => Err(r.errors.pop().expect("a failed read records its error")),
    }
}

/// The writer holding a merged (or chunk) file's objects; `path` names it in errors.
fn writer(path: &Path, m: &Merged, title: String, references: &[(u32, Profile)], compression: Compression) -> Result<RootWriter, RootError> {
    let s = &m.sums;
    let mut w = RootWriter::new(WriteOptions { compression, timestamp: TIMESTAMP, title });
    let with_path = |mut e: RootError| {
        e.file = path.to_path_buf();
        e
    };
    let put = |w: &mut RootWriter, p: &str, raw: crate::root::RawHist| w.put_hist(p, &raw).map_err(with_path);
    if let Some(p) = &s.out_of_fill {
        put(&mut w, paths::OUT_OF_FILL, p.to_raw())?;
    }
    if let Some(p) = &s.pedestal {
        put(&mut w, paths::PEDESTAL_RMS, p.to_raw())?;
    }
    for (ch, p) in s.in_fill.iter().enumerate() {
        if let Some(p) = p {
            put(&mut w, &paths::in_fill(ch / XTALS_PER_CALO + 1, ch % XTALS_PER_CALO), p.to_raw())?;
        }
    }
    if let Some(h) = &s.drift_time {
        let mut h = h.clone();
        h.storage = ArrayElem::F64;
        put(&mut w, paths::DRIFT_TIME, h.to_raw())?;
    }
    // In the subrun files' order (the catalogue's), so the merged file lists as they do.
    debug_assert!(s.others.keys().all(|p| other_paths().contains(p)), "every object summed is one of the catalogue");
    for p in other_paths() {
        if let Some(h) = s.others.get(p) {
            put(&mut w, p, h.to_raw())?;
        }
    }
    put(&mut w, XTAL_HITS, hits_hist("xtalHits", "crystal hits summed over the interval", "crystal channel", &s.xtal_hits).to_raw())?;
    put(&mut w, STRAW_HITS, hits_hist("strawHits", "straw hits summed over the interval", "straw channel", &s.straw_hits).to_raw())?;
    if let Some(p) = &m.reference_out_of_fill {
        let mut p = p.clone();
        p.name = "referenceOutOfFill".into();
        p.title = format!("out-of-fill laser ratio of reference run {}", m.reference_run);
        put(&mut w, REFERENCE_OUT_OF_FILL, p.to_raw())?;
    }
    for (run, p) in references {
        let mut p = p.clone();
        p.name = format!("run{run}");
        p.title = format!("out-of-fill laser ratio of reference run {run}, this chunk's files");
        put(&mut w, &reference_partial_path(*run), p.to_raw())?;
    }
    // Run and subrun numbers as integers (`UInt_t` branches); files written before
    // hold doubles, which `read` takes too.
    let trees: [(&str, &str, Vec<u32>); 4] = [
        (INTERVAL, "run", vec![s.run_first, s.run_last]),
        (REFERENCE_RUN, "run", vec![m.reference_run]),
        (SUBRUN_RUN, "run", s.subruns.iter().map(|id| id.run).collect()),
        (SUBRUN_NUMBER, "subrun", s.subruns.iter().map(|id| id.subrun).collect()),
    ];
    for (p, branch, values) in trees {
        w.put_tree_u32(p, branch, &values).map_err(with_path)?;
    }
    Ok(w)
}

/// Reads a merged file back. A missing sum is `None` (as when no subrun had it); a
/// missing bookkeeping tree or hits histogram is an error naming the file and object.
pub fn read(path: &Path) -> Result<Merged, RootError> {
    let file = RootFile::open(path)?;
    let runs = |tree: &str, branch: &str| -> Result<Vec<u32>, RootError> {
        read_f64_branch(&file, tree, branch)?
            .into_iter()
            .map(|v| {
                if v >= 0.0 && v <= f64::from(u32::MAX) && v.fract() == 0.0 {
                    Ok(v as u32)
                } else {
                    Err(RootError::new(path, ErrorKind::Corrupt { what: "run number".into(), detail: format!("{v} is not a run or subrun number") }).object(tree.to_string()))
                }
            })
            .collect()
    };
    let bad = |object: &str, detail: String| RootError::new(path, ErrorKind::Corrupt { what: "merged file".into(), detail }).object(object.to_string());
    let interval = runs(INTERVAL, "run")?;
    let [run_first, run_last] = interval[..] else { return Err(bad(INTERVAL, format!("expected 2 entries, found {}", interval.len()))) };
    let reference = runs(REFERENCE_RUN, "run")?;
    let [reference_run] = reference[..] else { return Err(bad(REFERENCE_RUN, format!("expected 1 entry, found {}", reference.len()))) };
    let (sr, sn) = (runs(SUBRUN_RUN, "run")?, runs(SUBRUN_NUMBER, "subrun")?);
    if sr.len() != sn.len() {
        return Err(bad(SUBRUN_NUMBER, format!("{} subrun numbers for {} runs", sn.len(), sr.len())));
    }
    let mut sums = IntervalSums::new(run_first, run_last);
    sums.subruns = sr.into_iter().zip(sn).map(|(run, subrun)| SubrunId { run, subrun }).collect();
    let present = |p: &str| file.key(p).is_ok();
    let mut r = ObjectReader::new(&file);
    let hits = |r: &mut ObjectReader, p: &str, n: usize| -> Result<Vec<f64>, RootError> {
        let h = r.hist(p).ok_or_else(|| r.errors.pop().unwrap_or_else(|| bad(p, "missing".into())))?;
        let v = h.values(false).to_vec();
        if v.len() != n {
            return Err(bad(p, format!("{} bins, expected {n}", v.len())));
        }
        Ok(v)
    };
    sums.xtal_hits = hits(&mut r, XTAL_HITS, N_XTALS)?;
    sums.straw_hits = hits(&mut r, STRAW_HITS, N_STRAWS)?;
    let profile = |r: &mut ObjectReader, p: &str| if present(p) { r.profile(p) } else { None };
    sums.out_of_fill = profile(&mut r, paths::OUT_OF_FILL);
    sums.pedestal = profile(&mut r, paths::PEDESTAL_RMS);
    for ch in 0..N_XTALS {
        sums.in_fill[ch] = profile(&mut r, &paths::in_fill(ch / XTALS_PER_CALO + 1, ch % XTALS_PER_CALO));
    }
    let reference_out_of_fill = profile(&mut r, REFERENCE_OUT_OF_FILL);
    sums.drift_time = if present(paths::DRIFT_TIME) { r.hist(paths::DRIFT_TIME) } else { None };
    // The other histograms (merged files written before gm2dqc summed them have none).
    for p in other_paths() {
        if present(p) {
            if let Some(h) = r.histogram(p) {
                sums.others.insert(p.clone(), h);
            }
        }
    }
    if let Some(e) = r.errors.into_iter().next() {
        return Err(e);
    }
    Ok(Merged { sums, reference_run, reference_out_of_fill })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_give_back_their_interval() {
        assert_eq!(file_name(15921, 15930), "merged_15921-15930.root");
        assert_eq!(interval_of(Path::new("out/merged/merged_15921-15930.root")), Some((15921, 15930)));
        for other in ["merged_15921.root", "merged_a-b.root", "merged_1-2.root.tmp", "x_1-2.root"] {
            assert_eq!(interval_of(Path::new(other)), None, "{other}");
        }
    }
}
