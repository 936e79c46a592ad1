//! `OUT/manifest.json`: which stages produced the output directory's files, from
//! which inputs and with which cut file, so stages run one at a time chain safely
//! (`upload` refuses constants and flags that come from different inputs or cut
//! files) and `OUT/errors.txt` lists every stage's problems.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::Context;
use serde::{Deserialize, Serialize};

use crate::cuts::CutFile;
use crate::db::board::stage_names;
use crate::db::InputFile;

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
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// The dataset's name on the bookkeeping board.
    pub dataset: String,
    /// The dataset directory or list file.
    pub input: String,
    pub stages: BTreeMap<String, StageRecord>,
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

impl Manifest {
    pub fn path(out: &Path) -> std::path::PathBuf {
        out.join("manifest.json")
    }

    /// The directory's manifest; empty when there is none yet.
    pub fn load(out: &Path) -> anyhow::Result<Manifest> {
        let p = Self::path(out);
        match std::fs::read(&p) {
            Ok(b) => serde_json::from_slice(&b).with_context(|| format!("{}: not a gm2dqc manifest; remove it to start the directory afresh", p.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Manifest::default()),
            Err(e) => Err(e).with_context(|| format!("reading {}", p.display())),
        }
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
    pub fn record(&mut self, stage: &str, r: StageRecord) {
        let downstream: &[&str] = match stage {
            "metrics" => &["dqc", "plots"],
            "merge" => &["gain", "plots"],
            "gain" | "dqc" => &["plots"],
            _ => &[],
        };
        for d in downstream {
            self.stages.remove(*d);
        }
        self.stages.insert(stage.to_string(), r);
    }

    /// A stage's record, or an error saying which command produces it.
    pub fn require(&self, stage: &str, out: &Path) -> anyhow::Result<&StageRecord> {
        self.stages.get(stage).ok_or_else(|| {
            anyhow::anyhow!("{}: the {stage} stage has not run for this directory; run `gm2dqc {stage} --out {}` (or `gm2dqc run`) first", Self::path(out).display(), out.display())
        })
    }

    /// Writes the manifest (atomically) and `OUT/errors.txt`: every stage's problems,
    /// in stage order, each line once.
    pub fn save(&self, out: &Path) -> anyhow::Result<()> {
        super::analyze::write_atomic(&Self::path(out), &serde_json::to_vec_pretty(self)?)?;
        let mut text = String::new();
        for e in self.errors(None) {
            text.push_str(e);
            text.push('\n');
        }
        super::analyze::write_atomic(&out.join("errors.txt"), text.as_bytes())
    }

    /// Every stage's problems (but `except`'s), in stage order, each line once.
    pub fn errors(&self, except: Option<&str>) -> Vec<&str> {
        let mut seen = std::collections::HashSet::new();
        stage_names()
            .into_iter()
            .filter(|s| Some(*s) != except)
            .filter_map(|s| self.stages.get(s))
            .flat_map(|r| r.errors.iter().map(String::as_str))
            .filter(|e| seen.insert(*e))
            .collect()
    }

    /// Checks that the constants (gain) and the flags (dqc) come from the same inputs
    /// and cut file, and returns the dqc record for the provenance.
    pub fn check_consistent(&self, out: &Path) -> anyhow::Result<&StageRecord> {
        let gain = self.require("gain", out)?;
        let dqc = self.require("dqc", out)?;
        if gain.cuts_sha256 != dqc.cuts_sha256 {
            anyhow::bail!(
                "{}: the gain stage used cut file {} (sha256 {}) but the dqc stage used {} (sha256 {}); rerun one of them with the other's cut file",
                Self::path(out).display(),
                gain.cuts,
                &gain.cuts_sha256[..12],
                dqc.cuts,
                &dqc.cuts_sha256[..12]
            );
        }
        if gain.inputs_sha256 != dqc.inputs_sha256 {
            anyhow::bail!(
                "{}: the gain stage (via merge) and the dqc stage (via metrics) saw different input files; rerun metrics and merge on the same dataset",
                Self::path(out).display()
            );
        }
        Ok(dqc)
    }
}
