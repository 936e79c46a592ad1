//! The job: everything gm2dqc does to one output directory, owned by the library so
//! that every face (the command line, the web application, the HTTP service) applies
//! the same rules. A [`Job`] is built once from a resolved [`JobConfig`]: the cut file
//! read and parsed once, the dataset scanned once, one thread pool, the output
//! directory locked; every stage of the job then uses those.
//!
//! The rules it owns:
//! - **Nothing is written by a job that ends with a usage or configuration error**:
//!   [`Job::open`] checks the cut file, the dataset, the configuration against the
//!   dataset, the output directory, the stages' prerequisites and whether the dataset
//!   is held on the board before it creates or marks anything.
//! - **Stages chain through files** recorded in `OUT/manifest.json`
//!   ([`manifest`]): a stage refuses when the one it needs has not run, or when a file
//!   that stage wrote is missing.
//! - **An output that could not be written is a failure of the job** (exit code 3,
//!   [`outcome`]), never an input problem: nothing is marked done, `summary.json` is not
//!   written, and the next run redoes the work.
//! - **One job per output directory** ([`lock`]).

pub mod board;
pub mod export;
pub mod lock;
pub mod manifest;
pub mod outcome;
pub mod outputs;
pub mod stage;
pub mod upload;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use rayon::prelude::*;
use serde::Serialize;

pub use outcome::{JobError, Status};
pub use stage::Stage;

use crate::analysis::interval::GainStatus;
use crate::merged;
use crate::cuts::eval::Evaluation;
use crate::cuts::CutFile;
use crate::dataset::Dataset;
use crate::db::board::State;
use crate::pipeline::{self, Analysis, Stages};
use board::JobBoard;
use manifest::{Manifest, StageRecord};
use outcome::Result;

/// What the face asked for, resolved from its flags or its form.
#[derive(Debug, Clone, Default)]
pub struct JobConfig {
    /// The output directory.
    pub out: PathBuf,
    /// The dataset: a directory of subrun files or a list file (the stages that read
    /// subrun files).
    pub input: Option<PathBuf>,
    /// The cut file; `None`: the built-in standard set (for `plots` alone: the one
    /// the dqc stage recorded).
    pub cuts: Option<PathBuf>,
    /// A cut file already read and checked (a campaign's copy, checked against its
    /// plan); it wins over `cuts`.
    pub cut_file: Option<CutFile>,
    pub reference_run: Option<u32>,
    pub intervals: Vec<(u32, u32)>,
    /// Worker threads (`None`: all cores).
    pub threads: Option<usize>,
    /// The conditions database (`None`: `$GM2DQC_DB`, else `OUT/conditions.sqlite`).
    pub db: Option<String>,
    /// The dataset's name on the board (`None`: the directory's earlier name, else the
    /// input's file name).
    pub dataset: Option<String>,
    /// The conditions tag of `upload` and `run`.
    pub tag: String,
    /// The merged files' directory for `gain` (`None`: `OUT/merged`).
    pub merged: Option<PathBuf>,
    pub plots: PlotOptions,
    /// Whether the job marks the board (`analyze` does not).
    pub board: bool,
}

/// What the plots stage draws.
#[derive(Debug, Clone)]
pub struct PlotOptions {
    /// In-fill fits to draw besides the worst ones (calo, xtal).
    pub channels: Vec<crate::plots::Channel>,
    /// How many of the worst chi2/ndf fits to draw.
    pub worst: usize,
    /// Calorimeter maps for at most this many intervals (the last ones).
    pub max_map_intervals: usize,
}

impl Default for PlotOptions {
    fn default() -> Self {
        PlotOptions { channels: Vec::new(), worst: 4, max_map_intervals: 6 }
    }
}

/// What a job does: the unit a face asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Work {
    /// The metrics stage alone (reads the subrun files).
    Metrics,
    /// The metrics and merge stages (reads the subrun files).
    Merge,
    /// Metrics, merge, gain and dqc in one pass, no board (`gm2dqc analyze`).
    Analyze,
    Gain,
    Dqc,
    Plots,
    Upload,
    /// Everything: the pass (skipped when already done), plots, upload.
    Run,
    /// A campaign's reduce: the analysis comes from partial results.
    Reduce,
}

impl Work {
    /// The stages this work marks on the board, in order.
    pub fn stages(self) -> &'static [Stage] {
        match self {
            Work::Metrics => &[Stage::Scan, Stage::Metrics],
            Work::Merge => &[Stage::Scan, Stage::Metrics, Stage::Merge],
            Work::Analyze => &[],
            Work::Gain => &[Stage::Gain],
            Work::Dqc => &[Stage::Dqc],
            Work::Plots => &[Stage::Plots],
            Work::Upload => &[Stage::Upload],
            Work::Run | Work::Reduce => &Stage::ALL,
        }
    }

    fn reads_dataset(self) -> bool {
        matches!(self, Work::Metrics | Work::Merge | Work::Analyze | Work::Run)
    }
}

/// The analysis stages of `run` and `reduce` (one pass).
pub const ANALYSIS_STAGES: [Stage; 5] = [Stage::Scan, Stage::Metrics, Stage::Merge, Stage::Gain, Stage::Dqc];

/// How a face shows progress (a terminal's bars, a web page's counters).
pub trait Progress: Sync {
    /// A new phase ("analysing", "fitting intervals", "plotting") of `total` units
    /// ("files", "pages").
    fn start(&self, what: &str, unit: &str, total: u64);
    /// `n` more units done.
    fn inc(&self, n: u64);
    /// The phase ended.
    fn finish(&self);
}

/// No progress shown.
pub struct Silent;

impl Progress for Silent {
    fn start(&self, _: &str, _: &str, _: u64) {}
    fn inc(&self, _: u64) {}
    fn finish(&self) {}
}

/// What `analyze` and `run` report at the end (and write to OUT/summary.json).
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct Summary {
    pub dataset: String,
    pub cuts: String,
    pub cuts_sha256: String,
    /// Subruns that pass every required flag.
    pub good_subruns: usize,
    pub out: String,
    pub files: usize,
    pub bytes: u64,
    pub runs: Vec<u32>,
    pub intervals: Vec<(u32, u32)>,
    pub reference_run: u32,
    pub files_failed: usize,
    pub input_errors: usize,
    /// Gain rows per status, over all intervals.
    pub gain_status: BTreeMap<String, usize>,
    /// Crystals and straws that are not ok in at least one interval (each channel
    /// counted once, whatever the number of intervals).
    pub bad_xtals: usize,
    pub bad_straws: usize,
    pub threads: usize,
    pub seconds: f64,
    pub files_per_second: f64,
    pub mb_per_second: f64,
    /// True when an input could not be read or a fit failed (exit code 1).
    pub failed: bool,
    /// Subruns left out of a sharded reduce told `--allow-partial`.
    pub missing_subruns: Vec<(u32, u32)>,
    /// What the results depend on: the inputs (paths, sizes, SHA-256), the cut file and
    /// the overrides. `run` skips an analysis whose key is unchanged.
    pub key: String,
}

/// What one pass over the files found and wrote.
pub struct PassReport {
    pub analysis: Analysis,
    /// With the fits: the flags and the summary written to summary.json.
    pub evaluation: Option<Evaluation>,
    pub summary: Option<Summary>,
    pub stages: Stages,
    pub files: usize,
    pub bytes: u64,
    pub seconds: f64,
    pub merged_dir: PathBuf,
    pub status: Status,
}

impl PassReport {
    /// The summary of a pass with the fits (`run`, `reduce`).
    fn summary(&self) -> Result<Summary> {
        self.summary.clone().ok_or_else(|| JobError::Usage("a pass without the fits made no summary".into()))
    }
}

/// What the gain stage found and wrote.
#[derive(Debug, Clone, Serialize)]
pub struct GainReport {
    pub merged_dir: PathBuf,
    pub intervals: Vec<(u32, u32)>,
    pub gain_status: BTreeMap<String, usize>,
    pub errors: Vec<String>,
    pub seconds: f64,
    pub failed: bool,
    pub status: Status,
}

/// What the dqc stage wrote.
pub struct DqcReport {
    pub evaluation: Evaluation,
    pub status: Status,
}

/// What the plots stage wrote.
pub struct PlotsReport {
    pub rendered: Vec<crate::plots::Rendered>,
    pub errors: Vec<String>,
    pub notes: Vec<String>,
    pub plots_dir: PathBuf,
    pub report: PathBuf,
    pub elog: PathBuf,
    pub elog_subject: String,
    pub seconds: f64,
    pub status: Status,
}

/// What an upload wrote.
pub struct UploadReport {
    pub database: String,
    pub tag: String,
    pub folders: upload::Reports,
    pub status: Status,
}

impl UploadReport {
    pub fn written(&self) -> usize {
        self.folders.iter().map(|(_, r)| r.written).sum()
    }
    pub fn unchanged(&self) -> usize {
        self.folders.iter().map(|(_, r)| r.unchanged).sum()
    }
    /// "tag T: N intervals written, M already current".
    pub fn counts(&self) -> String {
        format!("tag {}: {} intervals written, {} already current", self.tag, self.written(), self.unchanged())
    }
}

/// What `run` (and a campaign's reduce) did.
pub struct RunReport {
    /// `None` when the analysis was already done for these inputs and cuts.
    pub pass: Option<PassReport>,
    /// The analysis summary (read back from summary.json when skipped).
    pub summary: Summary,
    pub plots: PlotsReport,
    pub upload: UploadReport,
    pub status: Status,
}

/// A job on one output directory.
pub struct Job {
    cfg: JobConfig,
    work: Work,
    cuts: Arc<CutFile>,
    dataset: Option<Dataset>,
    pool: rayon::ThreadPool,
    board: Option<JobBoard>,
    name: String,
    /// What `upload` alone stores, read while the job was checked.
    upload_plan: Option<upload::UploadPlan>,
    _lock: lock::OutLock,
}

/// The cut file a job uses, read and parsed once.
fn resolve_cuts(cfg: &JobConfig, work: Work, manifest: &Manifest) -> Result<CutFile> {
    if let Some(c) = &cfg.cut_file {
        return Ok(c.clone());
    }
    if let Some(p) = &cfg.cuts {
        return Ok(crate::cuts::load(p)?);
    }
    let standard = crate::cuts::standard();
    // The plots alone draw the cuts the flags were made with.
    if work != Work::Plots {
        return Ok(standard);
    }
    let Some(dqc) = manifest.stages.get(&Stage::Dqc) else { return Ok(standard) };
    if dqc.cuts_sha256 == standard.sha256 {
        return Ok(standard);
    }
    match crate::cuts::load(Path::new(&dqc.cuts)) {
        Ok(c) if c.sha256 == dqc.cuts_sha256 => Ok(c),
        _ => Err(JobError::Usage(format!(
            "the dqc stage used cut file {} (sha256 {}), which is no longer there unchanged; give it with --cuts FILE",
            dqc.cuts,
            crate::checksum::short_hash(&dqc.cuts_sha256)
        ))),
    }
}

/// The analysis configuration of a job: its cut file with the face's overrides.
fn analysis_config(cuts: &CutFile, cfg: &JobConfig) -> pipeline::Config {
    pipeline::Config::from_cuts(cuts).with_overrides(cfg.reference_run, &cfg.intervals)
}

/// Refuses an output directory that names a file, or whose place cannot hold one.
fn check_out(out: &Path) -> Result<()> {
    if out.as_os_str().is_empty() {
        return Err(JobError::Usage("--out is empty; give the output directory".into()));
    }
    match std::fs::metadata(out) {
        Ok(m) if m.is_dir() => Ok(()),
        Ok(_) => Err(JobError::Usage(format!("--out {}: is a file, not a directory; give a directory (it is created if missing)", out.display()))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            // The nearest existing ancestor must be a directory.
            let mut p = out.parent();
            while let Some(a) = p {
                if a.as_os_str().is_empty() {
                    return Ok(());
                }
                match std::fs::metadata(a) {
                    Ok(m) if m.is_dir() => return Ok(()),
                    Ok(_) => return Err(JobError::Usage(format!("--out {}: {} is a file; give a directory", out.display(), a.display()))),
                    Err(_) => p = a.parent(),
                }
            }
            Ok(())
        }
        Err(e) => Err(JobError::Usage(format!("--out {}: {e}", out.display()))),
    }
}

impl Job {
    /// Resolves and checks everything `work` needs, in order, before anything is
    /// created or marked: the output directory, the cut file, the dataset and the
    /// configuration against it, the prerequisites in the manifest, the board (a held
    /// dataset refuses). Then creates and locks the output directory and opens the
    /// board. Every failure here is a usage error (exit code 2) and leaves no trace.
    pub fn open(cfg: JobConfig, work: Work) -> Result<Job> {
        check_out(&cfg.out)?;
        let out = cfg.out.clone();
        let manifest = Manifest::load(&out)?;
        let cuts = resolve_cuts(&cfg, work, &manifest)?;
        let dataset = if work.reads_dataset() {
            let input = cfg.input.as_deref().ok_or_else(|| JobError::Usage("--input DATASET is required".into()))?;
            let ds = crate::dataset::scan(input)?;
            pipeline::check(&ds, &analysis_config(&cuts, &cfg))?;
            Some(ds)
        } else {
            None
        };
        // Prerequisites, found before anything is written.
        let mut upload_plan = None;
        match work {
            Work::Gain => {
                let dir = cfg.merged.clone().unwrap_or_else(|| outputs::merged_dir(&out));
                if merged::list(&dir).map_or(true, |f| f.is_empty()) {
                    return Err(JobError::Usage(format!(
                        "{}: no merged files (merged_FIRST-LAST.root); run `gm2dqc merge --input DATASET --out {}` first",
                        dir.display(),
                        out.display()
                    )));
                }
                if cfg.merged.is_none() {
                    manifest.require(Stage::Merge, &out)?;
                }
            }
            Work::Dqc => {
                manifest.require(Stage::Metrics, &out)?;
                if !out.join("subrun_metrics.parquet").is_file() {
                    return Err(JobError::Usage(format!("{}: not found; run `gm2dqc metrics --input DATASET --out {}` first", out.join("subrun_metrics.parquet").display(), out.display())));
                }
            }
            Work::Plots if !out.join("subrun_metrics.parquet").is_file() => {
                return Err(JobError::Usage(format!("{}: not found; run `gm2dqc run --input DATASET --out OUT` (or the stages one by one) first", out.join("subrun_metrics.parquet").display())));
            }
            Work::Upload => {
                upload_plan = Some(upload::plan(&out)?);
            }
            _ => {}
        }
        let name = cfg.dataset.clone().unwrap_or_else(|| {
            if !manifest.dataset.is_empty() {
                manifest.dataset.clone()
            } else {
                cfg.input.as_deref().map_or_else(|| "unknown".to_string(), manifest::dataset_name)
            }
        });
        let url = board::resolve_url(cfg.db.as_deref(), &out.join("conditions.sqlite"));
        if cfg.board {
            board::check_not_held(&url, &name)?;
        }
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(cfg.threads.unwrap_or(0))
            .build()
            .map_err(|e| JobError::Usage(format!("cannot start {} worker threads: {e}", cfg.threads.unwrap_or(0))))?;
        // From here on the job writes.
        std::fs::create_dir_all(&out).map_err(|e| JobError::Usage(format!("cannot create the output directory {}: {e}", out.display())))?;
        let lock = lock::OutLock::acquire(&out)?;
        let board = if cfg.board { Some(JobBoard::open(&url, &name)?) } else { None };
        Ok(Job { cfg, work, cuts: Arc::new(cuts), dataset, pool, board, name, upload_plan, _lock: lock })
    }

    /// The cut file of the job (read once).
    pub fn cuts(&self) -> &CutFile {
        &self.cuts
    }

    /// The dataset, scanned once (the work that reads subrun files).
    pub fn dataset(&self) -> Option<&Dataset> {
        self.dataset.as_ref()
    }

    /// The dataset's name on the board.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The board's database URL, when the job marks the board.
    pub fn board_url(&self) -> Option<&str> {
        self.board.as_ref().map(|b| b.url.as_str())
    }

    fn mark(&mut self, stages: &[Stage], state: State, note: &str) -> Result<()> {
        match &mut self.board {
            Some(b) => b.set(stages, state, note),
            None => Ok(()),
        }
    }

    fn finish_marks(&mut self, stages: &[Stage], r: &Result<Status>) -> Result<()> {
        let out = self.cfg.out.clone();
        match (&mut self.board, r) {
            (Some(b), Ok(s)) => b.finish(stages, *s, &out),
            (Some(b), Err(e)) => b.failed(stages, e),
            (None, _) => Ok(()),
        }
    }

    /// Runs `f` with `stages` In progress on the board, then Done, or TODO with the
    /// reason when it failed.
    fn staged<T>(&mut self, stages: &[Stage], note: &str, f: impl FnOnce(&mut Job) -> Result<T>, status: impl Fn(&T) -> Status) -> Result<T> {
        self.mark(stages, State::InProgress, note)?;
        let r = f(self);
        self.settle(stages, r, status)
    }

    /// Marks `stages` by how `r` ended (Done, or TODO with the reason) and returns it.
    fn settle<T>(&mut self, stages: &[Stage], r: Result<T>, status: impl Fn(&T) -> Status) -> Result<T> {
        let marks = r.as_ref().map(&status).map_err(clone_for_board);
        self.finish_marks(stages, &marks)?;
        r
    }

    /// The key of an analysis: SHA-256 over the inputs, the cut file's hash and the
    /// reference-run and interval overrides.
    pub fn analysis_key(&self, inputs: &[crate::db::InputFile]) -> String {
        let text = format!(
            "gm2dqc-analysis-2\ncuts {}\nreference {:?}\nintervals {:?}\ninputs {}\n",
            self.cuts.sha256,
            self.cfg.reference_run,
            self.cfg.intervals,
            manifest::inputs_sha256(inputs)
        );
        crate::checksum::sha256_hex(text.as_bytes())
    }

    /// The summary of a complete analysis of exactly these inputs (sizes and SHA-256
    /// read again now), cut file and overrides, when OUT holds one.
    fn already_done(&self) -> Option<Summary> {
        let path = self.cfg.out.join("summary.json");
        let bytes = manifest::read_own_file(&path, 64 << 20).ok()??;
        let summary: Summary = serde_json::from_slice(&bytes).ok()?;
        let ds = self.dataset.as_ref()?;
        let inputs: Vec<crate::db::InputFile> =
            self.pool.install(|| ds.files.par_iter().map(|f| crate::db::InputFile::read(&f.path).ok().map(|(input, _)| input)).collect::<Option<Vec<_>>>())?;
        (summary.key == self.analysis_key(&inputs)).then_some(summary)
    }

    /// One pass over the subrun files: the metrics stage alone, metrics and merge, or
    /// everything (`analyze`, `run`). Marks the stages it runs.
    pub fn pass(&mut self, stages: Stages, progress: &dyn Progress) -> Result<PassReport> {
        let marks: &[Stage] = if self.work == Work::Run { &[] } else { self.work.stages() };
        self.staged(marks, "", |job| job.pass_inner(stages, progress), |r| r.status)
    }

    fn pass_inner(&mut self, stages: Stages, progress: &dyn Progress) -> Result<PassReport> {
        let ds = self.dataset.take().ok_or_else(|| JobError::Usage("this job reads no dataset".into()))?;
        let r = self.pass_over(&ds, stages, progress);
        self.dataset = Some(ds);
        r
    }

    fn pass_over(&mut self, ds: &Dataset, stages: Stages, progress: &dyn Progress) -> Result<PassReport> {
        let out = self.cfg.out.clone();
        let merged_dir = outputs::prepare(&out, stages.sums)?;
        self.name_directory()?;
        let cfg = analysis_config(&self.cuts, &self.cfg);
        progress.start(if stages.sums { "analysing" } else { "metrics" }, "files", ds.files.len() as u64);
        let t0 = Instant::now();
        let mut writer = MergedWriter::new(merged_dir);
        let mut write_merged = |m: &merged::Merged| writer.write(m);
        let analysis = self.pool.install(|| pipeline::analyze_with(ds, &cfg, stages, &|n| progress.inc(n), &mut write_merged))?;
        progress.finish();
        let written = writer.finish()?;
        self.write_analysis(ds, analysis, stages, written, t0)
    }

    /// Gives the output directory its dataset name (the board's) and input.
    fn name_directory(&self) -> Result<()> {
        let out = &self.cfg.out;
        let mut m = Manifest::load(out)?;
        if let Some(input) = &self.cfg.input {
            m.set_dataset(input);
        }
        if m.dataset != self.name {
            m.dataset = self.name.clone();
        }
        m.save(out)
    }

    /// Writes what a pass found: the tables, inputs.json, the manifest and errors.txt,
    /// and (with the fits) summary.json, last. The one-process pass and a campaign's
    /// reduce both end here.
    pub fn write_analysis(&mut self, ds: &Dataset, analysis: Analysis, stages: Stages, merged_written: Vec<String>, t0: Instant) -> Result<PassReport> {
        let out = self.cfg.out.clone();
        let mut metrics = crate::tables::subrun_metrics(&analysis.metrics);
        outputs::parquet(&mut metrics, &out.join("subrun_metrics.parquet"))?;
        let evaluation = if stages.fits {
            let ev = crate::cuts::eval::evaluate(&self.cuts, &metrics).map_err(|e| JobError::damaged(&out.join("subrun_metrics.parquet"), e.to_string()))?;
            outputs::flag_tables(&out, &ev, &metrics, &out.join("subrun_metrics.parquet"), &self.cuts.run_constants)?;
            outputs::interval_tables(&out, &analysis.intervals)?;
            Some(ev)
        } else {
            None
        };
        let inputs_json = serde_json::to_vec_pretty(&analysis.inputs).map_err(|e| JobError::output(&out.join("inputs.json"), e))?;
        outputs::write(&out.join("inputs.json"), &inputs_json)?;
        let mut manifest = Manifest::load(&out)?;
        if let Some(input) = &self.cfg.input {
            manifest.set_dataset(input);
        }
        manifest.dataset = self.name.clone();
        let inputs_sha256 = manifest::inputs_sha256(&analysis.inputs);
        let intervals: Vec<(u32, u32)> = if stages.fits {
            analysis.intervals.iter().map(|i| (i.run_first, i.run_last)).collect()
        } else {
            pipeline::check(ds, &analysis_config(&self.cuts, &self.cfg))?.intervals
        };
        let ran: &[Stage] = match (stages.sums, stages.fits) {
            (true, true) => &[Stage::Metrics, Stage::Merge, Stage::Gain, Stage::Dqc],
            (true, false) => &[Stage::Metrics, Stage::Merge],
            _ => &[Stage::Metrics],
        };
        let failed = analysis.has_failures();
        for &stage in ran {
            // The input problems belong to the stages that read the files.
            let errors = if matches!(stage, Stage::Metrics | Stage::Merge) { analysis.errors.clone() } else { Vec::new() };
            let mut r = StageRecord::new(&self.cuts, &inputs_sha256, failed, errors);
            r = match stage {
                Stage::Merge => r.with_outputs(merged_written.clone(), intervals.clone()),
                Stage::Gain => r.with_outputs(Vec::new(), intervals.clone()),
                _ => r,
            };
            manifest.record(stage, r);
        }
        manifest.save(&out)?;
        let seconds = t0.elapsed().as_secs_f64();
        let status = Status::from_failed(failed);
        let summary = match &evaluation {
            Some(ev) => {
                let s = self.summarise(ds, &analysis, ev, seconds);
                let json = serde_json::to_vec_pretty(&s).map_err(|e| JobError::output(&out.join("summary.json"), e))?;
                // Last: it marks a complete analysis.
                outputs::write(&out.join("summary.json"), &json)?;
                Some(s)
            }
            None => None,
        };
        Ok(PassReport { files: ds.files.len(), bytes: ds.bytes(), analysis, evaluation, summary, stages, seconds, merged_dir: outputs::merged_dir(&out), status })
    }

    fn summarise(&self, ds: &Dataset, a: &Analysis, ev: &Evaluation, seconds: f64) -> Summary {
        use std::collections::BTreeSet;
        let bad_xtals: BTreeSet<usize> = a.intervals.iter().flat_map(|i| i.xtals.iter().enumerate()).filter(|(_, x)| !x.ok()).map(|(ch, _)| ch).collect();
        let bad_straws: BTreeSet<usize> = a.intervals.iter().flat_map(|i| i.straws.iter().enumerate()).filter(|(_, x)| !x.status.ok()).map(|(ch, _)| ch).collect();
        Summary {
            key: self.analysis_key(&a.inputs),
            cuts: self.cuts.source.clone(),
            cuts_sha256: self.cuts.sha256.clone(),
            good_subruns: ev.ok.iter().filter(|x| **x).count(),
            dataset: self.cfg.input.as_deref().map(|p| p.display().to_string()).unwrap_or_default(),
            out: self.cfg.out.display().to_string(),
            files: ds.files.len(),
            bytes: ds.bytes(),
            runs: ds.runs(),
            intervals: a.intervals.iter().map(|i| (i.run_first, i.run_last)).collect(),
            reference_run: a.reference_run,
            files_failed: a.files_failed,
            input_errors: a.errors.len(),
            gain_status: GainStatus::ALL.iter().map(|&s| (s.as_str().to_string(), a.count_gain_status(s))).collect(),
            bad_xtals: bad_xtals.len(),
            bad_straws: bad_straws.len(),
            threads: self.pool.current_num_threads(),
            seconds,
            files_per_second: ds.files.len() as f64 / seconds,
            mb_per_second: ds.bytes() as f64 / 1e6 / seconds,
            failed: a.has_failures(),
            missing_subruns: a.missing.iter().map(|id| (id.run, id.subrun)).collect(),
        }
    }

    /// The gain stage: the in-fill fits and gains from the merged files, one interval
    /// at a time (its 1296 fits in parallel). Refuses when a merged file the merge
    /// stage wrote is missing.
    pub fn gain(&mut self, progress: &dyn Progress) -> Result<GainReport> {
        self.staged(&[Stage::Gain], "", |job| job.gain_inner(progress), |r| r.status)
    }

    fn gain_inner(&mut self, progress: &dyn Progress) -> Result<GainReport> {
        let out = self.cfg.out.clone();
        let mut manifest = Manifest::load(&out)?;
        let merged_dir = self.cfg.merged.clone().unwrap_or_else(|| outputs::merged_dir(&out));
        let files = merged::list(&merged_dir).map_err(|e| JobError::Usage(format!("{}: no merged files ({e}); run `gm2dqc merge --input DATASET --out {}` first", merged_dir.display(), out.display())))?;
        if files.is_empty() {
            return Err(JobError::Usage(format!("{}: no merged files (merged_FIRST-LAST.root); run `gm2dqc merge --input DATASET --out {}` first", merged_dir.display(), out.display())));
        }
        let merge = manifest.stages.get(&Stage::Merge).cloned();
        if let (None, Some(m)) = (&self.cfg.merged, &merge) {
            let missing: Vec<&String> = m.outputs.iter().filter(|o| !out.join(o).is_file()).collect();
            if !missing.is_empty() {
                return Err(JobError::Usage(format!(
                    "{}: the merge stage wrote {} merged files but {} are missing ({}); rerun `gm2dqc merge --input DATASET --out {}`",
                    merged_dir.display(),
                    m.outputs.len(),
                    missing.len(),
                    missing.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", "),
                    out.display()
                )));
            }
        }
        let cfg = pipeline::Config::from_cuts(&self.cuts);
        let t0 = Instant::now();
        progress.start("fitting intervals", "files", files.len() as u64);
        let mut intervals = Vec::new();
        let mut errors = Vec::new();
        for f in &files {
            match merged::read(f) {
                Ok(m) => intervals.push(self.pool.install(|| pipeline::reduce(&m, &cfg))),
                Err(e) => {
                    tracing::warn!("{e}");
                    errors.push(e.to_string());
                }
            }
            progress.inc(1);
        }
        progress.finish();
        outputs::interval_tables(&out, &intervals)?;
        let fit_failed = intervals.iter().flat_map(|i| &i.gains).filter(|g| g.status == GainStatus::FitFailed).count();
        let failed = !errors.is_empty() || fit_failed > 0;
        let fitted: Vec<(u32, u32)> = intervals.iter().map(|i| (i.run_first, i.run_last)).collect();
        // The constants come from the inputs the merge stage summed.
        let inputs = merge.map(|r| r.inputs_sha256).unwrap_or_default();
        manifest.record(Stage::Gain, StageRecord::new(&self.cuts, &inputs, failed, errors.clone()).with_outputs(Vec::new(), fitted.clone()));
        manifest.save(&out)?;
        let gain_status = GainStatus::ALL.iter().map(|&s| (s.as_str().to_string(), intervals.iter().flat_map(|i| &i.gains).filter(|g| g.status == s).count())).collect();
        Ok(GainReport { merged_dir, intervals: fitted, gain_status, errors, seconds: t0.elapsed().as_secs_f64(), failed, status: Status::from_failed(failed) })
    }

    /// The dqc stage: the cut file applied to the metrics table.
    pub fn dqc(&mut self) -> Result<DqcReport> {
        self.staged(&[Stage::Dqc], "", |job| job.dqc_inner(), |r| r.status)
    }

    fn dqc_inner(&mut self) -> Result<DqcReport> {
        let out = self.cfg.out.clone();
        let mut manifest = Manifest::load(&out)?;
        let inputs = manifest.require(Stage::Metrics, &out)?.inputs_sha256.clone();
        let metrics_path = out.join("subrun_metrics.parquet");
        let df = crate::tables::read_parquet(&metrics_path).map_err(|e| JobError::damaged(&metrics_path, format!("{e}; rerun `gm2dqc metrics`")))?;
        let ev = crate::cuts::eval::evaluate(&self.cuts, &df).map_err(|e| JobError::damaged(&metrics_path, format!("applying {}: {e}", self.cuts.label())))?;
        outputs::flag_tables(&out, &ev, &df, &metrics_path, &self.cuts.run_constants)?;
        manifest.record(Stage::Dqc, StageRecord::new(&self.cuts, &inputs, false, Vec::new()));
        manifest.save(&out)?;
        Ok(DqcReport { evaluation: ev, status: Status::Ok })
    }

    /// The plots stage: the standard plots, the report and the e-log entry.
    pub fn plots(&mut self, progress: &dyn Progress) -> Result<PlotsReport> {
        self.staged(&[Stage::Plots], "", |job| job.plots_inner(progress), |r| r.status)
    }

    fn plots_inner(&mut self, progress: &dyn Progress) -> Result<PlotsReport> {
        let out = self.cfg.out.clone();
        let mut manifest = Manifest::load(&out)?;
        let t0 = Instant::now();
        let opts = self.cfg.plots.clone();
        let tag = if self.cfg.tag.is_empty() { None } else { Some(self.cfg.tag.clone()) };
        let inputs = crate::plots::load(&out, (*self.cuts).clone(), &self.name, tag, &opts.channels, opts.worst).map_err(|e| JobError::damaged(&out, e.to_string()))?;
        let specs = crate::plots::standard_set(&inputs, opts.max_map_intervals);
        let dir = out.join("plots");
        outputs::create_dir(&dir)?;
        progress.start("plotting", "pages", specs.len() as u64);
        let (rendered, page_errors) = self.pool.install(|| crate::plots::render_all(&inputs, &specs, &dir, &|n| progress.inc(n)));
        progress.finish();
        // A page that could not be written fails the stage; one that could not be
        // drawn is reported with the others.
        if let Some(e) = page_errors.iter().find(|e| e.write) {
            return Err(JobError::output(&e.path, &e.message));
        }
        let plot_errors: Vec<String> = page_errors.iter().map(|e| e.to_string()).collect();
        // The input problems of the stages before (an earlier plots run's are replaced).
        let errors: Vec<String> = manifest.errors(Some(Stage::Plots)).into_iter().map(String::from).collect();
        let info = crate::plots::report::RunInfo {
            software: crate::software(),
            stages: Stage::ALL.iter().filter(|s| **s != Stage::Plots).filter_map(|s| manifest.stages.get(s).map(|r| (s.to_string(), r.finished.clone(), r.failed))).collect(),
            errors,
            plot_errors: plot_errors.clone(),
            generated: crate::db::time::now_text(),
        };
        let report = out.join("report.html");
        crate::plots::report::write_html(&out, &inputs, &rendered, &info, "plots").map_err(|e| JobError::output(&report, e))?;
        let elog_path = out.join("elog.txt");
        let elog = crate::plots::report::write_elog(&out, &inputs, &rendered, &info).map_err(|e| JobError::output(&elog_path, e))?;
        let failed = !plot_errors.is_empty();
        let inputs_key = manifest.stages.get(&Stage::Dqc).map(|r| r.inputs_sha256.clone()).unwrap_or_default();
        manifest.record(Stage::Plots, StageRecord::new(&self.cuts, &inputs_key, failed, plot_errors.clone()));
        manifest.save(&out)?;
        Ok(PlotsReport {
            rendered,
            errors: plot_errors,
            notes: inputs.notes.clone(),
            plots_dir: dir,
            report,
            elog: elog_path,
            elog_subject: elog.lines().next().unwrap_or_default().to_string(),
            seconds: t0.elapsed().as_secs_f64(),
            status: Status::from_failed(failed),
        })
    }

    /// The upload stage: the directory's constants, channel status, metrics and flags
    /// into the conditions database, in one transaction.
    pub fn upload(&mut self, note: &str) -> Result<UploadReport> {
        self.mark(&[Stage::Upload], State::InProgress, note)?;
        let r = self.upload_inner();
        match &r {
            Ok(u) => {
                let counts = u.counts();
                self.mark(&[Stage::Upload], State::Done, &counts)?;
            }
            Err(e) => self.finish_marks(&[Stage::Upload], &Err(clone_for_board(e)))?,
        }
        r
    }

    fn upload_inner(&mut self) -> Result<UploadReport> {
        let out = self.cfg.out.clone();
        let tag = self.cfg.tag.clone();
        let plan = match self.upload_plan.take() {
            Some(p) => p,
            None => upload::plan(&out)?,
        };
        let b = self.board.as_mut().ok_or_else(|| JobError::Usage("upload needs the conditions database".into()))?;
        let folders = upload::store(b.backend(), &tag, &plan)?;
        Ok(UploadReport { database: b.url.clone(), tag, folders, status: Status::Ok })
    }

    /// The whole job: the analysis pass (not redone when OUT holds one for exactly
    /// these inputs, cut file and overrides), then the plots, the report and the e-log
    /// entry, then the upload.
    pub fn run(&mut self, progress: &dyn Progress) -> Result<RunReport> {
        self.mark(&ANALYSIS_STAGES, State::InProgress, "gm2dqc run")?;
        let (pass, summary) = match self.already_done() {
            Some(s) => {
                tracing::info!(key_file = %self.cfg.out.join("summary.json").display(), "inputs, cuts and overrides unchanged: analysis skipped");
                self.finish_marks(&ANALYSIS_STAGES, &Ok(Status::from_failed(s.failed)))?;
                (None, s)
            }
            None => {
                let r = self.pass_inner(Stages::ALL, progress);
                let p = self.settle(&ANALYSIS_STAGES, r, |p| p.status)?;
                let s = p.summary()?;
                (Some(p), s)
            }
        };
        self.finish(pass, summary, progress, "gm2dqc run")
    }

    /// After the analysis of `run` or of a campaign's reduce: the plots, the report
    /// and the e-log entry, then the upload.
    pub fn finish(&mut self, pass: Option<PassReport>, summary: Summary, progress: &dyn Progress, note: &str) -> Result<RunReport> {
        let analysis_status = pass.as_ref().map_or(Status::from_failed(summary.failed), |p| p.status);
        let plots = self.plots(progress)?;
        let upload = self.upload(note)?;
        let status = analysis_status.worst(if plots.status == Status::Ok { Status::Ok } else { Status::InputFailed });
        Ok(RunReport { pass, summary, plots, upload, status })
    }

    /// A campaign's reduce: marks the analysis stages and writes the analysis the
    /// reduce merged exactly as `run` does, then plots and uploads.
    pub fn reduce(&mut self, ds: &Dataset, analyse: impl FnOnce(&rayon::ThreadPool, &mut (dyn FnMut(&merged::Merged) -> std::result::Result<(), crate::root::RootError> + Send)) -> anyhow::Result<Analysis>, progress: &dyn Progress, note: &str) -> Result<RunReport> {
        let p = self.staged(&ANALYSIS_STAGES, note, |job| job.reduce_inner(ds, analyse), |p| p.status)?;
        let s = p.summary()?;
        self.finish(Some(p), s, progress, note)
    }

    fn reduce_inner(&mut self, ds: &Dataset, analyse: impl FnOnce(&rayon::ThreadPool, &mut (dyn FnMut(&merged::Merged) -> std::result::Result<(), crate::root::RootError> + Send)) -> anyhow::Result<Analysis>) -> Result<PassReport> {
        let out = self.cfg.out.clone();
        let merged_dir = outputs::prepare(&out, true)?;
        self.name_directory()?;
        let t0 = Instant::now();
        let mut writer = MergedWriter::new(merged_dir);
        let mut write_merged = |m: &merged::Merged| writer.write(m);
        let analysis = analyse(&self.pool, &mut write_merged).map_err(|e| JobError::Usage(format!("{e:#}")))?;
        let written = writer.finish()?;
        self.write_analysis(ds, analysis, Stages::ALL, written, t0)
    }
}

/// Writes the merge stage's files as the pass completes each interval. A file that
/// cannot be written is the job's failure, not an input problem: the first one is
/// kept (nothing more is written) and returned by `finish`.
struct MergedWriter {
    dir: PathBuf,
    written: Vec<String>,
    failure: Option<JobError>,
}

impl MergedWriter {
    fn new(dir: PathBuf) -> Self {
        MergedWriter { dir, written: Vec::new(), failure: None }
    }

    fn write(&mut self, m: &merged::Merged) -> std::result::Result<(), crate::root::RootError> {
        if self.failure.is_none() {
            let name = merged::file_name(m.sums.run_first, m.sums.run_last);
            let path = self.dir.join(&name);
            match merged::write(&path, m) {
                Ok(_) => self.written.push(format!("merged/{name}")),
                Err(e) => self.failure = Some(JobError::output(&path, e)),
            }
        }
        Ok(())
    }

    /// The files written, relative to OUT, or the write that failed.
    fn finish(self) -> Result<Vec<String>> {
        match self.failure {
            Some(e) => Err(e),
            None => Ok(self.written),
        }
    }
}

/// The board note of an error (the error itself goes to the caller).
fn clone_for_board(e: &JobError) -> JobError {
    match e {
        JobError::Output { path, message } => JobError::Output { path: path.clone(), message: message.clone() },
        other => JobError::Usage(other.to_string()),
    }
}
