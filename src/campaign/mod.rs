//! Campaigns: one dataset split into shards that batch jobs (Slurm job arrays,
//! HTCondor) run on many machines, then one reduce job, giving exactly what one
//! `gm2dqc run` gives.
//!
//! The work directory (on storage every job sees):
//!
//! | path | written by | what |
//! |---|---|---|
//! | `plan.json` | `gm2dqc plan` | the files, their chunks, the shards, the cut file's hash, the job parameters |
//! | `cuts.toml` | `gm2dqc plan` | a copy of the cut file (the shards and the reduce use it, checked by hash) |
//! | `submit/` | `gm2dqc plan` | `shards.slurm`, `reduce.slurm`, `shards.sub`, `reduce.sub`, `campaign.dag` |
//! | `shards/shard-NNNNN/` | `gm2dqc shard` | a partial result: `partial.json`, `metrics.parquet`, `chunk-NNNNNN.root` |
//! | `shards/shard-NNNNN.running.json`, `.failed.json` | `gm2dqc shard` | where and when it started; why it failed |
//! | `submissions.json` | `gm2dqc plan --submit` | the batch jobs submitted |
//! | `logs/` | the batch system | one log per job |
//! | `out/` | `gm2dqc reduce` | the analysis output, as `gm2dqc run` writes it |
//!
//! Exactness: the one-process pass sums files in chunks of
//! [`CHUNK_FILES`](crate::pipeline::CHUNK_FILES) and merges the chunks in order.
//! Shards are whole chunks; a partial result keeps one sum per chunk (not one per
//! shard), and the reduce merges the chunks in the same order through the same
//! [`Reducer`](crate::pipeline::Reducer), so every float is the same whatever the
//! sharding. The reference runs' out-of-fill sums are grouped by chunk in both.
//!
//! Integrity: a partial result is written to a temporary directory and renamed into
//! place when complete, so a killed shard leaves none. Each chunk file and the
//! metrics table carry their SHA-256 in `partial.json`; the reduce checks them all
//! before it merges anything, takes each chunk from exactly one partial result
//! (identical duplicates are set aside, different ones refused) and refuses a set
//! with chunks missing unless told `--allow-partial`.

pub mod load;
pub mod reduce;
pub mod scripts;
pub mod shard;

pub use load::{load_partial_json, LoadError};

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use serde::{Deserialize, Serialize};

use crate::checksum::short_hash;
use crate::dataset::{Dataset, SubrunFile, SubrunId};
use crate::db::InputFile;
use crate::pipeline::Chunk;

pub const PLAN_FORMAT: &str = "gm2dqc-plan-1";
pub const PARTIAL_FORMAT: &str = "gm2dqc-partial-1";

/// One subrun file of the plan. `path` is as the dataset scan found it (relative
/// paths are relative to [`Plan::cwd`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanFile {
    pub run: u32,
    pub subrun: u32,
    pub path: String,
    pub size: u64,
}

/// One shard: the chunks `chunks.0 .. chunks.1`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shard {
    pub index: usize,
    pub chunks: (usize, usize),
    pub files: usize,
    pub bytes: u64,
}

/// The cut file of a campaign.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanCuts {
    /// The cut file given to `plan` ("standard" for the built-in set), for messages.
    pub source: String,
    pub sha256: String,
    /// Its copy in the work directory (`cuts.toml`), none for the built-in set.
    pub copy: Option<String>,
}

/// What the generated job scripts run with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobOptions {
    /// The gm2dqc executable the jobs run.
    pub gm2dqc: String,
    /// Threads (CPUs asked for) per shard and for the reduce.
    pub threads: usize,
    /// The tag the reduce uploads to.
    pub tag: String,
    /// The conditions database the reduce uploads to (none: $GM2DQC_DB, else
    /// WORK/out/conditions.sqlite).
    pub db: Option<String>,
    /// Slurm partition, time limit and memory (HTCondor: request_memory).
    pub partition: Option<String>,
    pub time: Option<String>,
    pub mem: Option<String>,
}

/// `WORK/plan.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    pub format: String,
    pub created: String,
    pub software: String,
    /// Where `plan` ran: the shards run here too, so relative paths, error messages
    /// and provenance are those of a one-process run started here.
    pub cwd: PathBuf,
    /// The dataset as given (a directory or a list file).
    pub input: String,
    /// The dataset's name on the bookkeeping board.
    pub dataset: String,
    pub cuts: PlanCuts,
    /// The command-line overrides of the cut file.
    pub reference_run: Option<u32>,
    pub intervals: Vec<(u32, u32)>,
    /// SHA-256 over what the results depend on: the cut file, the overrides and the
    /// files (paths and sizes). Partial results of any plan with the same id can be
    /// merged, whatever its sharding.
    pub analysis_id: String,
    /// The intervals of validity with data, and the reference run of each.
    pub plan_intervals: Vec<(u32, u32)>,
    pub references: Vec<u32>,
    pub files: Vec<PlanFile>,
    pub chunks: Vec<Chunk>,
    pub shards: Vec<Shard>,
    /// Byte-identical second copies set aside by the scan: (copy, file used).
    pub identical_copies: Vec<(String, String)>,
    pub jobs: JobOptions,
}

/// One chunk of a partial result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartialChunk {
    /// The chunk's index in the plan.
    pub index: usize,
    pub chunk: Chunk,
    /// The chunk file (in the partial result's directory), its size and SHA-256.
    pub file: String,
    pub bytes: u64,
    pub sha256: String,
    /// Reference runs with a partial out-of-fill sum in the chunk file.
    pub references: Vec<u32>,
    pub files_failed: usize,
    /// Every input problem, naming its file and object, in file order.
    pub errors: Vec<String>,
    /// Every file read, with its size and SHA-256, in order.
    pub inputs: Vec<InputFile>,
}

/// `partial.json`: a shard's partial result, self-describing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Partial {
    pub format: String,
    pub analysis_id: String,
    /// SHA-256 of the plan.json it was made for.
    pub plan_sha256: String,
    pub shard: usize,
    pub host: String,
    pub started: String,
    pub finished: String,
    pub seconds: f64,
    pub threads: usize,
    pub chunks: Vec<PartialChunk>,
    /// The subrun metrics, one row per file of the chunks, in order.
    pub metrics: String,
    pub metrics_sha256: String,
}

/// `shards/shard-NNNNN.running.json`: a shard that started.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Marker {
    pub shard: usize,
    pub host: String,
    pub pid: u32,
    /// The batch job, when the shard runs in one: `slurm 1234_5` or `htcondor 77.5`.
    pub job: Option<String>,
    pub started: String,
    /// Why it failed (`.failed.json` only).
    pub error: Option<String>,
}

pub fn plan_path(work: &Path) -> PathBuf {
    work.join("plan.json")
}

pub fn shards_dir(work: &Path) -> PathBuf {
    work.join("shards")
}

pub fn shard_name(index: usize) -> String {
    format!("shard-{index:05}")
}

pub fn result_dir(work: &Path, index: usize) -> PathBuf {
    shards_dir(work).join(shard_name(index))
}

pub fn marker_path(work: &Path, index: usize, what: &str) -> PathBuf {
    shards_dir(work).join(format!("{}.{what}.json", shard_name(index)))
}

pub fn chunk_file_name(index: usize) -> String {
    format!("chunk-{index:06}.root")
}

/// The batch job this process runs in, if any.
pub fn batch_job() -> Option<String> {
    let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    if let (Some(j), Some(t)) = (var("SLURM_ARRAY_JOB_ID"), var("SLURM_ARRAY_TASK_ID")) {
        return Some(format!("slurm {j}_{t}"));
    }
    if let Some(j) = var("SLURM_JOB_ID") {
        return Some(format!("slurm {j}"));
    }
    // HTCondor gives a job the path of its job ad.
    Some(condor_job(&std::fs::read_to_string(var("_CONDOR_JOB_AD")?).unwrap_or_default()))
}

/// `htcondor CLUSTER.PROC` from a job ad's `ClusterId = 77` and `ProcId = 5` lines.
fn condor_job(ad: &str) -> String {
    let attr = |k: &str| ad.lines().find_map(|l| l.split_once('=').filter(|(a, _)| a.trim() == k).map(|(_, v)| v.trim().to_string()));
    match (attr("ClusterId"), attr("ProcId")) {
        (Some(c), Some(p)) => format!("htcondor {c}.{p}"),
        _ => "htcondor".into(),
    }
}

/// The key of what a campaign's results depend on (see [`Plan::analysis_id`]).
pub fn analysis_id(cuts_sha256: &str, reference_run: Option<u32>, intervals: &[(u32, u32)], files: &[PlanFile]) -> String {
    let mut text = format!("gm2dqc-campaign-1\ncuts {cuts_sha256}\nreference {reference_run:?}\nintervals {intervals:?}\n");
    for f in files {
        text.push_str(&format!("{}\0{}\0{}\0{}\n", f.run, f.subrun, f.path, f.size));
    }
    crate::checksum::sha256_hex(text.as_bytes())
}

/// Splits chunks (with their sizes in bytes) into at most `n` shards of consecutive
/// chunks, as equal in bytes as the chunk boundaries allow: shard k ends at the chunk
/// boundary nearest to k/n of the bytes. Returns each shard's chunk range.
pub fn balance(chunk_bytes: &[u64], n: usize) -> Vec<(usize, usize)> {
    let m = chunk_bytes.len();
    let n = n.clamp(1, m.max(1));
    let mut prefix = vec![0u64; m + 1];
    for (i, b) in chunk_bytes.iter().enumerate() {
        prefix[i + 1] = prefix[i] + b;
    }
    let total = prefix[m] as f64;
    let mut bounds = vec![0usize];
    for k in 1..n {
        let target = total * k as f64 / n as f64;
        let prev = *bounds.last().expect("starts with 0");
        // The first boundary at or past the target, or the one before it if nearer;
        // at least one chunk per shard, and enough left for the shards after.
        let mut b = prefix.partition_point(|&p| (p as f64) < target).clamp(1, m);
        if b > 1 && target - prefix[b - 1] as f64 <= prefix[b] as f64 - target {
            b -= 1;
        }
        bounds.push(b.max(prev + 1).min(m - (n - k)));
    }
    bounds.push(m);
    bounds.windows(2).map(|w| (w[0], w[1])).collect()
}

impl Plan {
    /// Reads `WORK/plan.json` and checks every value ([`LoadError`] names the field);
    /// returns the plan and the SHA-256 of its bytes.
    pub fn load(work: &Path) -> anyhow::Result<(Plan, String)> {
        let p = plan_path(work);
        let bytes = match load::read(&p, load::PLAN_HINT) {
            Ok(b) => b,
            Err(LoadError::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
                return Err(source).with_context(|| format!("{}: no campaign plan here; make one with `gm2dqc plan --input DATASET --shards N --out {}`", p.display(), work.display()));
            }
            Err(e) => return Err(e.into()),
        };
        let plan: Plan = load::parse(&p, &bytes, load::PLAN_HINT)?;
        load::validate_plan(&plan, &p)?;
        Ok((plan, crate::checksum::sha256_hex(&bytes)))
    }

    /// The dataset as the plan's files (paths relative to [`Plan::cwd`] as given).
    pub fn dataset(&self) -> Dataset {
        let files = self.files.iter().map(|f| SubrunFile { id: SubrunId { run: f.run, subrun: f.subrun }, path: PathBuf::from(&f.path), size: f.size }).collect();
        Dataset { files, ..Dataset::default() }
    }

    /// The campaign's cut file: the copy in `work`, checked against the plan's hash.
    pub fn cut_file(&self, work: &Path) -> anyhow::Result<crate::cuts::CutFile> {
        let mut c = match &self.cuts.copy {
            None => crate::cuts::standard(),
            Some(name) => crate::cuts::load(&work.join(name)).with_context(|| format!("the campaign's cut file {}", work.join(name).display()))?,
        };
        if c.sha256 != self.cuts.sha256 {
            bail!("{}: its SHA-256 is {} but the plan was made with {} ({}); it was edited after `gm2dqc plan`: make a new plan", work.join(self.cuts.copy.as_deref().unwrap_or("cuts.toml")).display(), short_hash(&c.sha256), short_hash(&self.cuts.sha256), self.cuts.source);
        }
        // Messages and records name the cut file the plan was given.
        c.source = self.cuts.source.clone();
        Ok(c)
    }

    /// The analysis configuration: the cut file with the plan's overrides.
    pub fn config(&self, cuts: &crate::cuts::CutFile) -> crate::pipeline::Config {
        crate::pipeline::Config::from_cuts(cuts).with_overrides(self.reference_run, &self.intervals)
    }

    /// The subruns of chunk `c`.
    pub fn subruns(&self, c: Chunk) -> impl Iterator<Item = SubrunId> + '_ {
        self.files[c.files()].iter().map(|f| SubrunId { run: f.run, subrun: f.subrun })
    }

    /// The shard that holds chunk `index`.
    pub fn shard_of(&self, index: usize) -> Option<usize> {
        self.shards.iter().position(|s| s.chunks.0 <= index && index < s.chunks.1)
    }

    /// The distinct reference runs.
    pub fn reference_runs(&self) -> Vec<u32> {
        let mut r = self.references.clone();
        r.sort_unstable();
        r.dedup();
        r
    }
}

/// Where a shard stands.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum ShardState {
    /// Its partial result is complete.
    Done { finished: String, seconds: f64, host: String, input_errors: usize },
    /// It started and has no result yet: still running, or killed (`alive` says which
    /// when it can be known: same host, or a batch system that still lists it).
    Started { marker: Marker, alive: Option<bool> },
    /// It stopped with an error.
    Failed { marker: Marker },
    /// Not started; `queued` when the batch system still lists it.
    Pending { queued: bool },
}

impl ShardState {
    pub fn label(&self) -> &'static str {
        match self {
            ShardState::Done { .. } => "done",
            ShardState::Started { alive: Some(false), .. } => "killed",
            ShardState::Started { .. } => "running",
            ShardState::Failed { .. } => "failed",
            ShardState::Pending { .. } => "pending",
        }
    }

    /// Whether `plan --resubmit-failed` reruns it.
    pub fn needs_rerun(&self) -> bool {
        match self {
            ShardState::Done { .. } => false,
            // A shard the batch system still lists is alive (see `shard_states`).
            ShardState::Started { alive, .. } => *alive != Some(true),
            ShardState::Failed { .. } => true,
            ShardState::Pending { queued } => !queued,
        }
    }
}

fn read_json<T: serde::de::DeserializeOwned>(p: &Path) -> Option<T> {
    crate::dataset::read_regular(p).ok().and_then(|b| serde_json::from_slice(&b).ok())
}

/// Whether process `pid` runs here.
fn alive_here(pid: u32) -> bool {
    pid != 0 && Path::new(&format!("/proc/{pid}")).exists()
}

/// The partial result in `dir`, when it is shard `shard`'s complete result of this
/// plan, by what can be checked without reading the files through: every value of
/// partial.json, the plan it was made for, the shard's chunks, and each file present
/// with the size recorded (the checksums are the reduce's, [`reduce::collect`]).
pub fn check_result(dir: &Path, plan: &Plan, plan_sha256: &str, shard: &Shard) -> Result<Partial, String> {
    let p = load_partial_json(dir).map_err(|e| e.to_string())?;
    let pj = dir.join("partial.json");
    if p.plan_sha256 != plan_sha256 {
        return Err(format!("{}: made for another plan (plan_sha256 {} is not {}): it is in the way of this plan's shard", pj.display(), short_hash(&p.plan_sha256), short_hash(plan_sha256)));
    }
    if p.analysis_id != plan.analysis_id || p.shard != shard.index {
        return Err(format!("{}: field `{}` does not match the plan", pj.display(), if p.shard != shard.index { "shard" } else { "analysis_id" }));
    }
    let indices: Vec<usize> = p.chunks.iter().map(|c| c.index).collect();
    if !indices.iter().copied().eq(shard.chunks.0..shard.chunks.1) {
        return Err(format!("{}: field `chunks`: chunks {:?}, the plan's shard {} has {}..{}", pj.display(), indices, shard.index, shard.chunks.0, shard.chunks.1));
    }
    for (k, c) in p.chunks.iter().enumerate() {
        if plan.chunks.get(c.index) != Some(&c.chunk) {
            return Err(format!("{}: field `chunks[{k}].chunk` is not the plan's chunk {}", pj.display(), c.index));
        }
        let f = dir.join(&c.file);
        match crate::dataset::regular_file_size(&f) {
            Ok(n) if n == c.bytes => {}
            Ok(n) => return Err(format!("{}: {n} bytes, partial.json records {} (field `chunks[{k}].bytes`): the file changed after the shard wrote it", f.display(), c.bytes)),
            Err(e) => return Err(format!("{}: {e}", f.display())),
        }
    }
    let m = dir.join(&p.metrics);
    crate::dataset::regular_file_size(&m).map_err(|e| format!("{}: {e}", m.display()))?;
    Ok(p)
}

/// A shard whose result is there but refused, as a failure with the reason.
fn refused(shard: usize, dir: &Path, why: &str, host: Option<&str>, when: Option<&str>) -> ShardState {
    let marker = Marker {
        shard,
        host: host.unwrap_or("?").to_string(),
        pid: 0,
        job: None,
        started: when.unwrap_or("?").to_string(),
        error: Some(format!("its partial result {} is refused: {why}; remove it and rerun the shard", dir.display())),
    };
    ShardState::Failed { marker }
}

/// Every shard's state, from the work directory; `queued`: the shards the batch system
/// still lists (see [`scripts::queued`]). A result that fails [`check_result`] is
/// reported as a failure with the reason, not as done.
pub fn shard_states(work: &Path, plan: &Plan, plan_sha256: &str, queued: &std::collections::BTreeSet<usize>) -> Vec<ShardState> {
    shard_states_checked(work, plan, plan_sha256, queued, &[])
}

/// [`shard_states`] knowing which partial results the reduce refused (`rejected`
/// from [`reduce::collect`], checksums included): those shards are failures with the
/// reduce's reason. The reduce's "not done" list should come from this.
pub fn shard_states_checked(work: &Path, plan: &Plan, plan_sha256: &str, queued: &std::collections::BTreeSet<usize>, rejected: &[(PathBuf, String)]) -> Vec<ShardState> {
    let host = crate::db::host_name();
    plan.shards
        .iter()
        .map(|s| {
            let dir = result_dir(work, s.index);
            if std::fs::symlink_metadata(dir.join("partial.json")).is_ok() {
                return match check_result(&dir, plan, plan_sha256, s) {
                    Ok(p) => match rejected.iter().find(|(d, _)| d == &dir) {
                        Some((_, why)) => refused(s.index, &dir, why, Some(&p.host), Some(&p.finished)),
                        None => {
                            let input_errors = p.chunks.iter().map(|c| c.errors.len()).sum();
                            ShardState::Done { finished: p.finished, seconds: p.seconds, host: p.host, input_errors }
                        }
                    },
                    Err(why) => refused(s.index, &dir, &why, None, None),
                };
            }
            if let Some(marker) = read_json::<Marker>(&marker_path(work, s.index, "failed")) {
                return ShardState::Failed { marker };
            }
            if let Some(marker) = read_json::<Marker>(&marker_path(work, s.index, "running")) {
                let alive = if queued.contains(&s.index) {
                    Some(true)
                } else if marker.host == host {
                    Some(alive_here(marker.pid))
                } else {
                    None
                };
                return ShardState::Started { marker, alive };
            }
            ShardState::Pending { queued: queued.contains(&s.index) }
        })
        .collect()
}

/// The partial results found in `dirs` (each a directory of `shard-*` results), in
/// name order; hidden entries (temporary directories of shards) are skipped.
pub fn find_partials(dirs: &[PathBuf]) -> anyhow::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for d in dirs {
        let entries = match std::fs::read_dir(d) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e).with_context(|| format!("listing {}", d.display())),
        };
        // Hidden entries are shards' temporary directories: not published, not used.
        let mut found: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| !p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with('.')))
            .filter(|p| p.join("partial.json").is_file())
            .collect();
        found.sort();
        out.extend(found);
    }
    Ok(out)
}

/// Counts per state label, for one-line summaries.
pub fn count_states(states: &[ShardState]) -> BTreeMap<&'static str, usize> {
    let mut m = BTreeMap::new();
    for s in states {
        *m.entry(s.label()).or_insert(0) += 1;
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn condor_job_ids_come_from_the_job_ad() {
        assert_eq!(condor_job("Owner = \"dqc\"\nProcId = 5\nClusterId = 77\n"), "htcondor 77.5");
        assert_eq!(condor_job(""), "htcondor");
    }

    #[test]
    fn balance_cuts_at_the_nearest_chunk_boundary_and_keeps_every_shard_nonempty() {
        assert_eq!(balance(&[10; 8], 4), [(0, 2), (2, 4), (4, 6), (6, 8)]);
        // 100 bytes in all: thirds at 33.3 and 66.7.
        assert_eq!(balance(&[30, 10, 10, 10, 40], 3), [(0, 1), (1, 4), (4, 5)]);
        // More shards than chunks: one chunk each.
        assert_eq!(balance(&[5, 5, 5], 10), [(0, 1), (1, 2), (2, 3)]);
        // A huge first chunk cannot starve the others.
        assert_eq!(balance(&[1000, 1, 1, 1], 4), [(0, 1), (1, 2), (2, 3), (3, 4)]);
        assert_eq!(balance(&[7], 1), [(0, 1)]);
        for n in 1..12 {
            let b = balance(&[3, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5], n);
            assert_eq!(b.len(), n);
            assert!(b.windows(2).all(|w| w[0].1 == w[1].0) && b[0].0 == 0 && b[n - 1].1 == 11 && b.iter().all(|(a, e)| a < e), "{n}: {b:?}");
        }
    }
}
