//! `gm2dqc export condb`: a tag's conditions as ConDB JSON files in a directory
//! ([`crate::db::condb_files`]). The directory is new or empty, checked before the
//! database is read, so an export never mixes with the files of another; every file
//! is written whole or not at all.

use std::path::{Path, PathBuf};

use super::outcome::{JobError, Result};
use super::outputs;
use crate::db::condb_files::{self, ExportQuery};

/// What an export wrote.
#[derive(Debug, Clone)]
pub struct ExportReport {
    pub dir: PathBuf,
    /// The file names, in interval order.
    pub files: Vec<String>,
    /// Each folder's number of files.
    pub folders: Vec<(String, usize)>,
}

/// Refuses an output directory that holds anything (or is not a directory).
fn check_dir(dir: &Path) -> Result<()> {
    match std::fs::read_dir(dir) {
        Ok(mut it) => match it.next() {
            None => Ok(()),
            Some(_) => Err(JobError::Usage(format!("--out {}: is not empty; give a new directory (an export never mixes with other files)", dir.display()))),
        },
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(JobError::Usage(format!("--out {}: {e}; give a new directory", dir.display()))),
    }
}

/// Exports `q` from the database at `url` into `dir`.
pub fn condb(url: &str, q: &ExportQuery, dir: &Path) -> Result<ExportReport> {
    check_dir(dir)?;
    let mut b = super::board::open_existing(url)?;
    let files = condb_files::export(b.as_mut(), q)?;
    outputs::create_dir(dir)?;
    let mut folders: std::collections::BTreeMap<String, usize> = std::collections::BTreeMap::new();
    for f in &files {
        outputs::write(&dir.join(&f.name), f.text.as_bytes())?;
        for k in &f.folders {
            *folders.entry(k.clone()).or_default() += 1;
        }
    }
    Ok(ExportReport { dir: dir.to_path_buf(), files: files.into_iter().map(|f| f.name).collect(), folders: folders.into_iter().collect() })
}
