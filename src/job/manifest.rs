//! `OUT/manifest.json`: which stages produced the output directory's files, from
//! which inputs and with which cut file, and which files each wrote, so stages run
//! one at a time chain safely: a stage refuses when the one it needs has not run, or
//! when a file that stage wrote is missing; `upload` refuses constants and flags that
//! come from different inputs or cut files. `OUT/errors.txt` lists every stage's
//! problems. The manifest is read back as untrusted input: every field is checked and
//! a bad one is an error naming the file and the field, never a panic.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::outcome::{JobError, Result};
use super::Stage;
use crate::checksum::short_hash;
use crate::cuts::CutFile;
use crate::db::InputFile;

/// The largest manifest read back (it holds every error line of a dataset).
const MAX_MANIFEST_BYTES: u64 = 256 << 20;

/// One stage's record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StageRecord {
    /// The cut file (path or "standard") and its SHA-256.
    pub cuts: String,
    pub cuts_sha256: String,
    /// SHA-256 over the input files' paths, sizes and checksums the stage's results
    /// come from (for `gain` and `dqc`: those of the merge and metrics stages).
    pub inputs_sha256: String,
    pub failed: bool,
    /// When it finished (UTC).
    pub finished: String,
    /// Every problem, one line each, naming the file and object.
    pub errors: Vec<String>,
    /// The files it wrote, relative to the output directory (the merge stage: its
    /// merged files), so the next stage can tell a hole from a smaller dataset.
    #[serde(default)]
    pub outputs: Vec<String>,
    /// The intervals of validity its results cover (merge, gain).
    #[serde(default)]
    pub intervals: Vec<(u32, u32)>,
    /// The cut file's `required` flags (what makes a subrun `ok`); empty in manifests
    /// written before gm2dqc recorded them.
    #[serde(default)]
    pub required: Vec<String>,
    /// The cut file's `sum_subruns_passing` flags (the subruns the gain sums took);
    /// empty: every subrun (and in manifests written before gm2dqc had the setting).
    #[serde(default)]
    pub summed_passing: Vec<String>,
}

impl StageRecord {
    pub fn new(cuts: &CutFile, inputs_sha256: &str, failed: bool, errors: Vec<String>) -> Self {
        StageRecord {
            cuts: cuts.source.clone(),
            cuts_sha256: cuts.sha256.clone(),
            inputs_sha256: inputs_sha256.to_string(),
            failed,
            finished: crate::db::time::now_text(),
            errors,
            outputs: Vec::new(),
            intervals: Vec::new(),
            required: cuts.required.clone(),
            summed_passing: cuts.sum_flags.clone(),
        }
    }

    pub fn with_outputs(mut self, outputs: Vec<String>, intervals: Vec<(u32, u32)>) -> Self {
        self.outputs = outputs;
        self.intervals = intervals;
        self
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// The dataset's name on the bookkeeping board.
    pub dataset: String,
    /// The dataset directory or list file.
    pub input: String,
    pub stages: BTreeMap<Stage, StageRecord>,
}

/// The key of a list of inputs.
pub fn inputs_sha256(inputs: &[InputFile]) -> String {
    let mut text = String::from("gm2dqc-inputs-1\n");
    for f in inputs {
        text.push_str(&format!("{}\0{}\0{}\n", f.path, f.size, f.sha256));
    }
    crate::checksum::sha256_hex(text.as_bytes())
}

/// The dataset's default name: the input's file name.
pub fn dataset_name(input: &Path) -> String {
    let p = std::fs::canonicalize(input).unwrap_or_else(|_| input.to_path_buf());
    p.file_name().map_or_else(|| p.display().to_string(), |n| n.to_string_lossy().into_owned())
}

/// Reads a file gm2dqc wrote, bounded; `None` when it does not exist.
pub fn read_own_file(path: &Path, limit: u64) -> Result<Option<Vec<u8>>> {
    use std::io::Read;
    let f = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(JobError::damaged(path, format!("cannot be read: {e}"))),
    };
    let meta = f.metadata().map_err(|e| JobError::damaged(path, format!("cannot be read: {e}")))?;
    if !meta.is_file() {
        return Err(JobError::damaged(path, "is not a regular file; remove it"));
    }
    if meta.len() > limit {
        return Err(JobError::damaged(path, format!("is {} bytes, more than gm2dqc ever writes ({limit}); remove it", meta.len())));
    }
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    f.take(limit + 1).read_to_end(&mut bytes).map_err(|e| JobError::damaged(path, format!("cannot be read: {e}")))?;
    Ok(Some(bytes))
}

impl Manifest {
    pub fn path(out: &Path) -> PathBuf {
        out.join("manifest.json")
    }

    /// The directory's manifest; empty when there is none yet. A manifest that is not
    /// what gm2dqc writes is refused, naming the field.
    pub fn load(out: &Path) -> Result<Manifest> {
        let p = Self::path(out);
        let Some(bytes) = read_own_file(&p, MAX_MANIFEST_BYTES)? else { return Ok(Manifest::default()) };
        let hint = "remove it (and rerun the stages) to start the directory afresh";
        let v: serde_json::Value = serde_json::from_slice(&bytes).map_err(|e| JobError::damaged(&p, format!("not a gm2dqc manifest: {e}; {hint}")))?;
        let m = Self::from_value(&v).map_err(|what| JobError::damaged(&p, format!("not a gm2dqc manifest: {what}; {hint}")))?;
        for (stage, r) in &m.stages {
            let field = |f: &str| format!("stages.{stage}.{f}");
            if !crate::checksum::is_sha256_hex(&r.cuts_sha256) {
                return Err(JobError::damaged(&p, format!("field {}: {:?} is not a SHA-256; {hint}", field("cuts_sha256"), crate::checksum::short_hash(&r.cuts_sha256))));
            }
            if !r.inputs_sha256.is_empty() && !crate::checksum::is_sha256_hex(&r.inputs_sha256) {
                return Err(JobError::damaged(&p, format!("field {}: {:?} is not a SHA-256; {hint}", field("inputs_sha256"), crate::checksum::short_hash(&r.inputs_sha256))));
            }
            for o in &r.outputs {
                let rel = Path::new(o);
                if o.is_empty() || rel.is_absolute() || rel.components().any(|c| !matches!(c, std::path::Component::Normal(_))) {
                    return Err(JobError::damaged(&p, format!("field {}: {o:?} is not a file inside the output directory; {hint}", field("outputs"))));
                }
            }
            if let Some((a, b)) = r.intervals.iter().find(|(a, b)| a > b) {
                return Err(JobError::damaged(&p, format!("field {}: interval {a}-{b} ends before it starts; {hint}", field("intervals"))));
            }
        }
        Ok(m)
    }

    /// The manifest in a JSON value, field by field, so that an error names the field
    /// ("stages.gain.failed: invalid type ...").
    fn from_value(v: &serde_json::Value) -> std::result::Result<Manifest, String> {
        use serde::de::DeserializeOwned;
        fn field<T: DeserializeOwned>(obj: &serde_json::Map<String, serde_json::Value>, path: &str, name: &str, default: Option<T>) -> std::result::Result<T, String> {
            match (obj.get(name), default) {
                (None, Some(d)) => Ok(d),
                (None, None) => Err(format!("field {path}{name} is missing")),
                (Some(x), _) => serde_json::from_value(x.clone()).map_err(|e| format!("field {path}{name}: {e}")),
            }
        }
        let top = v.as_object().ok_or("not a JSON object")?;
        let mut m = Manifest { dataset: field(top, "", "dataset", None)?, input: field(top, "", "input", None)?, stages: BTreeMap::new() };
        let stages = top.get("stages").ok_or("field stages is missing")?.as_object().ok_or("field stages: not an object")?;
        for (name, rec) in stages {
            let stage = Stage::parse(name).ok_or_else(|| format!("field stages.{name}: not a stage ({})", Stage::names()))?;
            let path = format!("stages.{name}.");
            let r = rec.as_object().ok_or_else(|| format!("field stages.{name}: not an object"))?;
            m.stages.insert(
                stage,
                StageRecord {
                    cuts: field(r, &path, "cuts", None)?,
                    cuts_sha256: field(r, &path, "cuts_sha256", None)?,
                    inputs_sha256: field(r, &path, "inputs_sha256", None)?,
                    failed: field(r, &path, "failed", None)?,
                    finished: field(r, &path, "finished", None)?,
                    errors: field(r, &path, "errors", None)?,
                    outputs: field(r, &path, "outputs", Some(Vec::new()))?,
                    intervals: field(r, &path, "intervals", Some(Vec::new()))?,
                    required: field(r, &path, "required", Some(Vec::new()))?,
                    summed_passing: field(r, &path, "summed_passing", Some(Vec::new()))?,
                },
            );
        }
        Ok(m)
    }

    /// Sets the input and, unless one was given before, the dataset name.
    pub fn set_dataset(&mut self, input: &Path) {
        self.input = input.display().to_string();
        if self.dataset.is_empty() {
            self.dataset = dataset_name(input);
        }
    }

    /// Records a stage; the records of the stages that used its earlier output are
    /// dropped (their files are stale now), so `upload` and `plots` ask for them again.
    pub fn record(&mut self, stage: Stage, r: StageRecord) {
        for d in stage.downstream() {
            self.stages.remove(d);
        }
        self.stages.insert(stage, r);
    }

    /// A stage's record, or a usage error saying which command produces it.
    pub fn require(&self, stage: Stage, out: &Path) -> Result<&StageRecord> {
        self.stages.get(&stage).ok_or_else(|| {
            JobError::Usage(format!(
                "{}: the {stage} stage has not run for this directory; run `gm2dqc {stage} --out {}` (or `gm2dqc run`) first",
                Self::path(out).display(),
                out.display()
            ))
        })
    }

    /// Writes the manifest (atomically) and `OUT/errors.txt`: every stage's problems,
    /// in stage order, each line once.
    pub fn save(&self, out: &Path) -> Result<()> {
        let p = Self::path(out);
        let json = serde_json::to_vec_pretty(self).map_err(|e| JobError::output(&p, e))?;
        super::outputs::write(&p, &json)?;
        let mut text = String::new();
        for e in self.errors(None) {
            text.push_str(e);
            text.push('\n');
        }
        super::outputs::write(&out.join("errors.txt"), text.as_bytes())
    }

    /// Every stage's problems (but `except`'s), in stage order, each line once.
    pub fn errors(&self, except: Option<Stage>) -> Vec<&str> {
        let mut seen = std::collections::HashSet::new();
        Stage::ALL
            .iter()
            .filter(|s| Some(**s) != except)
            .filter_map(|s| self.stages.get(s))
            .flat_map(|r| r.errors.iter().map(String::as_str))
            .filter(|e| seen.insert(*e))
            .collect()
    }

    /// Checks that the constants (gain) and the flags (dqc) come from the same inputs
    /// and cut file, and returns the dqc record for the provenance.
    pub fn check_consistent(&self, out: &Path) -> Result<&StageRecord> {
        let gain = self.require(Stage::Gain, out)?;
        let dqc = self.require(Stage::Dqc, out)?;
        if gain.cuts_sha256 != dqc.cuts_sha256 {
            return Err(JobError::Usage(format!(
                "{}: the gain stage used cut file {} (sha256 {}) but the dqc stage used {} (sha256 {}); rerun one of them with the other's cut file",
                Self::path(out).display(),
                gain.cuts,
                short_hash(&gain.cuts_sha256),
                dqc.cuts,
                short_hash(&dqc.cuts_sha256)
            )));
        }
        if gain.inputs_sha256 != dqc.inputs_sha256 {
            return Err(JobError::Usage(format!(
                "{}: the gain stage (via merge) and the dqc stage (via metrics) saw different input files; rerun metrics and merge on the same dataset",
                Self::path(out).display()
            )));
        }
        Ok(dqc)
    }
}
