//! An analysis output directory as conditions-database payloads: which table goes to
//! which folder, split by interval of validity (constants, channel status) or by run
//! (metrics, flags), with the provenance of the analysis (the output directory
//! included, canonicalized). Every file is read back as untrusted input.

use std::path::Path;

use polars::prelude::*;

use super::manifest::{read_own_file, Manifest};
use super::outcome::{JobError, Result};
use super::Stage;
use crate::db::payload::Payload;
use crate::db::{self, schema, InputFile, Iov, Provenance};
use crate::tables;

/// The folders an upload writes, with whether their payloads are per interval of
/// validity (else per run), in upload order.
pub const FOLDERS: [(&str, bool); 9] = [
    ("gain_constants", true),
    ("calo_channel_status", true),
    ("tracker_channel_status", true),
    ("calo_quality", true),
    ("subrun_metrics", false),
    ("subrun_status", false),
    ("kicker_dqc", false),
    ("t0_dqc", false),
    ("laser_dqc", false),
];

/// The largest inputs.json read back.
const MAX_INPUTS_BYTES: u64 = 256 << 20;

fn damaged(path: &Path, e: impl std::fmt::Display) -> JobError {
    JobError::damaged(path, format!("{e}; rerun the stage that writes it"))
}

/// The per-interval or per-run payloads of one analysis table.
fn split(df: &DataFrame, folder: &schema::Folder, by_interval: bool, path: &Path) -> Result<Vec<(Iov, Payload)>> {
    let (a, z) = if by_interval { ("run_first", "run_last") } else { ("run", "run") };
    let col = |n: &str| -> Result<UInt32Chunked> {
        let c = df.column(n).map_err(|e| damaged(path, format!("column {n}: {e}")))?;
        let c = c.cast(&DataType::UInt32).map_err(|e| damaged(path, format!("column {n}: {e}")))?;
        Ok(c.u32().map_err(|e| damaged(path, format!("column {n}: {e}")))?.clone())
    };
    let (first, last) = (col(a)?, col(z)?);
    let mut keys: Vec<(u32, u32)> = first.iter().zip(last.iter()).filter_map(|(x, y)| x.zip(y)).collect();
    keys.sort();
    keys.dedup();
    let mut out = Vec::new();
    for (x, y) in keys {
        let mask = first.equal(x) & last.equal(y);
        let part = df.filter(&mask).map_err(|e| damaged(path, e))?;
        out.push((Iov::runs(x, y), Payload::from_frame(folder, &part).map_err(|e| damaged(path, e))?));
    }
    Ok(out)
}

/// The database form of subrun_status: the cut file's flags as one JSON column.
fn status_for_db(df: &DataFrame, path: &Path) -> Result<DataFrame> {
    let fixed = ["run", "subrun", "ok", "reasons", "cuts_sha256"];
    let flags: Vec<&Column> = df.columns().iter().filter(|c| !fixed.contains(&c.name().as_str())).collect();
    let json: Vec<String> = (0..df.height())
        .map(|i| {
            let m: serde_json::Map<String, serde_json::Value> =
                flags.iter().map(|c| (c.name().to_string(), matches!(c.get(i).unwrap_or(AnyValue::Null), AnyValue::Boolean(true)).into())).collect();
            serde_json::Value::Object(m).to_string()
        })
        .collect();
    let mut out = df.select(fixed).map_err(|e| damaged(path, e))?;
    out.with_column(Column::new("flags_json".into(), json)).map_err(|e| damaged(path, e))?;
    Ok(out)
}

/// What an upload is made of: the payloads of every folder and the provenance.
pub struct UploadPlan {
    pub groups: Vec<Vec<(Iov, Payload)>>,
    pub provenance: Provenance,
}

/// Reads an analysis output directory into payloads, after checking that its
/// constants and flags come from the same inputs and cut file and that the constants
/// cover every interval the gain stage fitted. Usage errors (2) before anything is
/// written when the directory is not a finished analysis.
pub fn plan(out: &Path) -> Result<UploadPlan> {
    let manifest = Manifest::load(out)?;
    let dqc = manifest.check_consistent(out)?;
    let gain = manifest.require(Stage::Gain, out)?;
    let inputs_path = out.join("inputs.json");
    let inputs: Vec<InputFile> = match read_own_file(&inputs_path, MAX_INPUTS_BYTES)? {
        Some(b) => serde_json::from_slice(&b).map_err(|e| damaged(&inputs_path, format!("not an input list: {e}")))?,
        None => Vec::new(),
    };
    for (i, f) in inputs.iter().enumerate() {
        if !crate::checksum::is_sha256_hex(&f.sha256) {
            return Err(damaged(&inputs_path, format!("entry {i}, field sha256: not a SHA-256")));
        }
    }
    // The directory as the database records it: absolute and canonical, so the web
    // application finds it whatever directory the upload was started from.
    let mut provenance = Provenance::here(&manifest.dataset, Some(dqc.cuts_sha256.clone()), inputs).with_out_dir(out);
    // What makes a subrun `ok`, for good-subrun lists that drop a flag (a directory
    // whose dqc stage ran before gm2dqc recorded it has none: NULL in the database).
    provenance.required_flags = Some(dqc.required.clone()).filter(|r| !r.is_empty());
    // Which subruns the gain sums took (the gain stage's cut file: the merge stage's, as
    // the manifest checks).
    provenance.summed_passing = Some(gain.summed_passing.clone());
    let mut groups = Vec::new();
    for (name, by_interval) in FOLDERS {
        let folder = schema::folder(name).ok_or_else(|| JobError::Usage(format!("no folder {name} in this build's schema")))?;
        let path = out.join(format!("{name}.parquet"));
        if !path.is_file() {
            // A directory analysed before a folder existed lacks its table: the stage
            // that writes it, rerun, adds it (and nothing else changes).
            let stage = if by_interval { Stage::Gain } else { Stage::Dqc };
            return Err(JobError::Usage(format!(
                "{}: not found; run `gm2dqc run` (or the stages one by one) on {} first; a directory analysed by an older gm2dqc needs `gm2dqc {stage} --out {}`",
                path.display(),
                out.display(),
                out.display()
            )));
        }
        let mut df = tables::read_parquet(&path).map_err(|e| damaged(&path, e))?;
        if name == "subrun_status" {
            df = status_for_db(&df, &path)?;
        }
        let items = split(&df, &folder, by_interval, &path)?;
        if name == "gain_constants" && !gain.intervals.is_empty() {
            let found: Vec<(u32, u32)> = items.iter().map(|(iov, _)| (iov.first.0, iov.end.map_or(u32::MAX, |e| e.0.saturating_sub(1)))).collect();
            if found != gain.intervals {
                return Err(JobError::damaged(
                    &path,
                    format!("holds the intervals {found:?}, but the gain stage fitted {:?}; rerun `gm2dqc gain --out {}`", gain.intervals, out.display()),
                ));
            }
        }
        groups.push(items);
    }
    Ok(UploadPlan { groups, provenance })
}

/// Per folder, what an upload wrote.
pub type Reports = Vec<(&'static str, db::UploadReport)>;

/// Stores an analysis read by [`plan`] into `tag`, all folders in one transaction:
/// the database never holds half an analysis.
pub fn store(b: &mut dyn db::Backend, tag: &str, p: &UploadPlan) -> Result<Reports> {
    let reports = db::upload_all(b, tag, &p.groups, &p.provenance)?;
    Ok(FOLDERS.iter().map(|(n, _)| *n).zip(reports).collect())
}
