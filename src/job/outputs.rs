//! Everything a job writes into its output directory goes through here: each file
//! whole or not at all (temporary file, rename), and a failure to write is an
//! output error (exit code 3), never an input problem.

use std::path::{Path, PathBuf};

use super::outcome::{JobError, Result};
use crate::analysis::interval::IntervalResult;
use crate::merged;
use crate::cuts::eval::Evaluation;
use crate::cuts::run_constants::{self, RunConstantsConfig};
use crate::tables;

/// Writes a file atomically.
pub fn write(path: &Path, bytes: &[u8]) -> Result<()> {
    crate::atomic::write(path, bytes).map_err(|e| JobError::output(path, e))
}

/// Writes a table atomically.
pub fn parquet(df: &mut polars::prelude::DataFrame, path: &Path) -> Result<()> {
    tables::write_parquet(df, path).map_err(|e| match e {
        tables::TableError::Io { source, .. } => JobError::output(path, source),
        tables::TableError::Polars { source, .. } => JobError::output(path, source),
    })
}

/// Creates a directory of the output.
pub fn create_dir(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| JobError::output(dir, e))
}

/// Removes a file when it is there.
pub fn remove(path: &Path) -> Result<()> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(JobError::output(path, e)),
        _ => Ok(()),
    }
}

/// The dqc stage's tables: OUT/subrun_status.parquet and OUT/run_summary.parquet, and
/// the per-run DQC constants (OUT/kicker_dqc.parquet, t0_dqc, laser_dqc) from the
/// metrics table `metrics` (read from `metrics_path`) with the cut file's settings.
pub fn flag_tables(out: &Path, ev: &Evaluation, metrics: &polars::prelude::DataFrame, metrics_path: &Path, cfg: &RunConstantsConfig) -> Result<()> {
    let constants = run_constants::tables(metrics, cfg).map_err(|e| JobError::damaged(metrics_path, format!("per-run DQC constants: {e}; rerun `gm2dqc metrics`")))?;
    parquet(&mut ev.status_frame(), &out.join("subrun_status.parquet"))?;
    parquet(&mut ev.summary_frame(), &out.join("run_summary.parquet"))?;
    for (name, mut df) in constants {
        parquet(&mut df, &out.join(format!("{name}.parquet")))?;
    }
    Ok(())
}

/// The gain stage's tables: OUT/gain_constants.parquet, the crystal and straw status and
/// the calorimeters' quality.
pub fn interval_tables(out: &Path, intervals: &[IntervalResult]) -> Result<()> {
    for (name, mut df) in [
        ("gain_constants", tables::gain_constants(intervals)),
        ("calo_channel_status", tables::calo_channel_status(intervals)),
        ("tracker_channel_status", tables::tracker_channel_status(intervals)),
        ("calo_quality", tables::calo_quality(intervals)),
    ] {
        parquet(&mut df, &out.join(format!("{name}.parquet")))?;
    }
    Ok(())
}

/// The merged files' directory of an output directory.
pub fn merged_dir(out: &Path) -> PathBuf {
    out.join("merged")
}

/// Makes the output directory ready for a pass: summary.json removed (it marks a
/// complete analysis: it goes first and comes back last, so a pass killed at any
/// point, or one that could not write an output, leaves none and is redone) and, when
/// the pass sums, the merged files of an earlier pass removed (other intervals, other
/// inputs must not reach the gain stage).
pub fn prepare(out: &Path, sums: bool) -> Result<PathBuf> {
    create_dir(out)?;
    remove(&out.join("summary.json"))?;
    let dir = merged_dir(out);
    if sums {
        create_dir(&dir)?;
        for p in merged::list(&dir).map_err(|e| JobError::output(&dir, e))? {
            remove(&p)?;
        }
    }
    Ok(dir)
}
