//! Which datasets the server shows, and where their results are: the output
//! directory each dataset's latest upload came from (recorded in the conditions
//! database at upload), and the directories given with `--out` (their manifests name
//! their datasets; they win over the uploads' record). The results of a directory
//! are read once and kept while the directory is unchanged.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use serde::Serialize;

use crate::db::{self, Backend};
use crate::job::manifest::Manifest;
use crate::results::{Results, Tuner};

use super::error::ApiError;

/// Where one dataset's results are.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct DatasetDirs {
    pub dataset: String,
    /// The output directory (`None`: the board knows the dataset, no results yet).
    pub out: Option<PathBuf>,
    /// Where it was found: `upload` (the database's record) or `--out`.
    pub source: &'static str,
    /// Why the directory cannot be read, when it cannot.
    pub problem: Option<String>,
}

/// The manifest of an analysis directory; a directory without one holds no analysis.
pub fn analysis_manifest(out: &Path) -> Result<Manifest, String> {
    if !Manifest::path(out).is_file() {
        return Err(format!("{} holds no analysis (no manifest.json): give the output directory of `gm2dqc run`", out.display()));
    }
    Manifest::load(out).map_err(|e| e.to_string())
}

pub struct Catalog {
    outs: Vec<PathBuf>,
    /// The dataset each `--out` directory held when last read: a directory that
    /// disappears later is still listed, with its problem, not silently replaced.
    names: Mutex<HashMap<PathBuf, String>>,
    results: Mutex<HashMap<PathBuf, Arc<Results>>>,
    tuners: Mutex<HashMap<PathBuf, Arc<Tuner>>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Catalog {
    pub fn new(outs: Vec<PathBuf>) -> Catalog {
        Catalog { outs, names: Mutex::new(HashMap::new()), results: Mutex::new(HashMap::new()), tuners: Mutex::new(HashMap::new()) }
    }

    /// Every dataset with results: the uploads' records, then `--out` (which wins).
    /// Runs on a blocking thread.
    pub fn list(&self, b: &mut dyn Backend) -> Result<BTreeMap<String, DatasetDirs>, ApiError> {
        let mut all = BTreeMap::new();
        for d in db::uploaded_datasets(b)? {
            let out = d.out_dir.map(PathBuf::from);
            all.insert(d.dataset.clone(), DatasetDirs { dataset: d.dataset, out, source: "upload", problem: None });
        }
        for o in &self.outs {
            match analysis_manifest(o) {
                Ok(m) => {
                    lock(&self.names).insert(o.clone(), m.dataset.clone());
                    all.insert(m.dataset.clone(), DatasetDirs { dataset: m.dataset, out: Some(o.clone()), source: "--out", problem: None });
                }
                Err(e) => match lock(&self.names).get(o) {
                    Some(name) => {
                        let problem = Some(format!("{} (given with --out) cannot be read now: {e}", o.display()));
                        all.insert(name.clone(), DatasetDirs { dataset: name.clone(), out: Some(o.clone()), source: "--out", problem });
                    }
                    None => tracing::warn!("--out {}: {e}", o.display()),
                },
            }
        }
        for d in all.values_mut() {
            if let (Some(o), None) = (&d.out, &d.problem) {
                if !o.join("manifest.json").is_file() {
                    d.problem = Some(format!("{} holds no analysis now (no manifest.json): was it moved or removed?", o.display()));
                }
            }
        }
        Ok(all)
    }

    /// One dataset's directories, or 404 naming the dataset.
    pub fn find(&self, b: &mut dyn Backend, dataset: &str) -> Result<DatasetDirs, ApiError> {
        self.list(b)?.remove(dataset).ok_or_else(|| ApiError::not_found(format!("no results for dataset `{dataset}`: it has no upload with a recorded output directory, and no --out directory holds it")))
    }

    /// The results of `out`, read again when the directory changed.
    pub fn results(&self, out: &Path) -> Result<Arc<Results>, ApiError> {
        if let Some(r) = lock(&self.results).get(out).filter(|r| r.is_current()) {
            return Ok(r.clone());
        }
        let r = Arc::new(Results::open(out).map_err(|e| ApiError::not_found(format!("{e}")))?);
        lock(&self.results).insert(out.to_path_buf(), r.clone());
        Ok(r)
    }

    /// The cut-tuning engine of `out` (its metrics read once).
    pub fn tuner(&self, out: &Path) -> Result<Arc<Tuner>, ApiError> {
        if let Some(t) = lock(&self.tuners).get(out).filter(|t| t.is_current()) {
            return Ok(t.clone());
        }
        let t = Arc::new(Tuner::new(out).map_err(|e| ApiError::not_found(format!("{e}")))?);
        lock(&self.tuners).insert(out.to_path_buf(), t.clone());
        Ok(t)
    }
}
