//! The analysis pass over a dataset, as map and reduce:
//!
//! - **map** (per subrun file): open it once, compute the subrun metrics and channel
//!   status, and add its per-channel histograms to the partial sums of its interval.
//! - **reduce** (per interval of validity): merge the partial sums, fit the 1296
//!   in-fill profiles, judge the gains against the reference run and the channel status.
//!
//! Determinism: files are processed in (run, subrun) order in chunks of
//! [`CHUNK_FILES`] consecutive files of one interval. Chunks run in parallel, but each
//! chunk sums its files in order and chunks are merged in order, so every
//! floating-point sum is the same whatever the thread count. Memory: at most a window
//! of chunks (twice the thread count) holds partial sums at once, plus the running sum
//! of the current interval, so memory is bounded by the channel count and the thread
//! count, never by the number of files.
//!
//! Isolation: a file that cannot be opened still gets a metrics row (all metrics null)
//! and an error naming it; a missing object nulls what needs it; a channel whose fit
//! fails gets its status. Nothing stops the other files or channels.

use std::collections::BTreeMap;

use rayon::prelude::*;

use crate::analysis::channels::ChannelCuts;
use crate::analysis::fit::FitConfig;
use crate::analysis::interval::{interval_result, oof_ratio, ConstantLimits, GainStatus, IntervalResult};
use crate::analysis::merge::IntervalSums;
use crate::analysis::merged::Merged;
use crate::analysis::metrics::{subrun_metrics, SubrunMetrics};
use crate::dataset::{Dataset, SubrunFile};
use crate::hist::Profile;
use crate::layout::{paths, N_XTALS};
use crate::root::{RootError, RootFile};

/// Consecutive files of one interval summed by one task. Part of the definition of
/// the result (floating-point sums depend on grouping): do not make it depend on the
/// machine.
pub const CHUNK_FILES: usize = 8;

/// Out-of-fill (ratio, error) per crystal; `None` for a crystal without entries.
type OofRatios = Vec<Option<(f64, f64)>>;

/// What the analysis needs from the cut file.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub channel_cuts: ChannelCuts,
    pub fit: FitConfig,
    pub limits: ConstantLimits,
    /// The gain reference run; `None`: the first run of the dataset.
    pub reference_run: Option<u32>,
    /// Run periods with their own reference run: an interval inside the period uses it.
    pub reference_overrides: Vec<((u32, u32), u32)>,
    /// Intervals of validity as inclusive run ranges; empty: one interval per run.
    pub intervals: Vec<(u32, u32)>,
}

impl Config {
    /// The standard cut set of spec section 5, one interval per run.
    pub fn standard() -> Self {
        Config {
            channel_cuts: ChannelCuts::STANDARD,
            fit: FitConfig::STANDARD,
            limits: ConstantLimits::STANDARD,
            reference_run: None,
            reference_overrides: Vec::new(),
            intervals: Vec::new(),
        }
    }
}

/// A configuration that does not fit the dataset; found before any file is read.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ConfigError {
    #[error("reference run {run} is not in the dataset (runs {first}..={last}); choose one with --reference-run")]
    ReferenceRunMissing { run: u32, first: u32, last: u32 },
    #[error("run {run} is in no interval of validity (intervals: {intervals}); add a range that covers it")]
    RunOutsideIntervals { run: u32, intervals: String },
    #[error("intervals {a:?} and {b:?} overlap; each run belongs to one interval")]
    OverlappingIntervals { a: (u32, u32), b: (u32, u32) },
    #[error("interval {0:?} has its first run after its last")]
    EmptyInterval((u32, u32)),
    #[error("interval {}-{} is partly inside the reference-run period {}-{}; make the period cover whole intervals", interval.0, interval.1, period.0, period.1)]
    IntervalStraddlesReferencePeriod { interval: (u32, u32), period: (u32, u32) },
}

/// The result of the analysis of a dataset.
#[derive(Debug)]
pub struct Analysis {
    /// One row per subrun file, in (run, subrun) order.
    pub metrics: Vec<SubrunMetrics>,
    /// One result per interval, in run order.
    pub intervals: Vec<IntervalResult>,
    /// The default gain reference run (see also `Config::reference_overrides`).
    pub reference_run: u32,
    /// Everything that could not be read, in file order. Each names its file and object.
    pub errors: Vec<RootError>,
    /// Files that could not be opened at all.
    pub files_failed: usize,
    /// Every input file read, with its size and SHA-256 (the provenance of uploads and
    /// the key of work already done), in file order.
    pub inputs: Vec<crate::db::InputFile>,
}

impl Analysis {
    /// Gain rows with the given status, over all intervals.
    pub fn count_gain_status(&self, status: GainStatus) -> usize {
        self.intervals.iter().flat_map(|i| &i.gains).filter(|g| g.status == status).count()
    }

    /// True when something failed: an input error or a fit that did not converge.
    /// (A dead crystal's `no_laser` or a `low_stats` channel is a finding, not a failure.)
    pub fn has_failures(&self) -> bool {
        !self.errors.is_empty() || self.count_gain_status(GainStatus::FitFailed) > 0
    }
}

/// The intervals of validity for the dataset's runs (sorted, distinct), checked.
pub fn plan_intervals(runs: &[u32], cfg: &Config) -> Result<Vec<(u32, u32)>, ConfigError> {
    if cfg.intervals.is_empty() {
        return Ok(runs.iter().map(|&r| (r, r)).collect());
    }
    let mut iv = cfg.intervals.clone();
    iv.sort();
    if let Some(&bad) = iv.iter().find(|(a, b)| a > b) {
        return Err(ConfigError::EmptyInterval(bad));
    }
    if let Some(w) = iv.windows(2).find(|w| w[1].0 <= w[0].1) {
        return Err(ConfigError::OverlappingIntervals { a: w[0], b: w[1] });
    }
    if let Some(&run) = runs.iter().find(|&&r| !iv.iter().any(|&(a, b)| a <= r && r <= b)) {
        let intervals = iv.iter().map(|(a, b)| format!("{a}-{b}")).collect::<Vec<_>>().join(", ");
        return Err(ConfigError::RunOutsideIntervals { run, intervals });
    }
    // Only the intervals that hold data.
    iv.retain(|&(a, b)| runs.iter().any(|&r| a <= r && r <= b));
    Ok(iv)
}

/// A checked plan: the intervals with data, each with its reference run.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    pub intervals: Vec<(u32, u32)>,
    /// The reference run of each interval.
    pub references: Vec<u32>,
    /// The default reference run.
    pub reference_run: u32,
}

/// Checks the configuration against the dataset: the intervals and the reference runs.
pub fn check(ds: &Dataset, cfg: &Config) -> Result<Plan, ConfigError> {
    let runs = ds.runs();
    let intervals = plan_intervals(&runs, cfg)?;
    let (first, last) = (runs[0], runs[runs.len() - 1]);
    let missing = |run: u32| if runs.contains(&run) { Ok(run) } else { Err(ConfigError::ReferenceRunMissing { run, first, last }) };
    let reference_run = missing(cfg.reference_run.unwrap_or(first))?;
    let mut references = Vec::with_capacity(intervals.len());
    for &(a, b) in &intervals {
        let mut reference = reference_run;
        for &(period, run) in &cfg.reference_overrides {
            let inside = period.0 <= a && b <= period.1;
            let apart = b < period.0 || period.1 < a;
            if !inside && !apart {
                return Err(ConfigError::IntervalStraddlesReferencePeriod { interval: (a, b), period });
            }
            if inside {
                reference = missing(run)?;
            }
        }
        references.push(reference);
    }
    Ok(Plan { intervals, references, reference_run })
}

/// The reference run's summed out-of-fill profile, files in order. Errors are not
/// recorded here: the main pass reads the same object and records them.
fn reference_out_of_fill(ds: &Dataset, run: u32) -> Option<Profile> {
    let mut sum: Option<Profile> = None;
    for f in ds.files.iter().filter(|f| f.id.run == run) {
        let Ok(file) = RootFile::open(&f.path) else { continue };
        let Some(p) = file.hist(paths::OUT_OF_FILL).ok().and_then(|raw| Profile::from_raw(raw).ok()) else { continue };
        match &mut sum {
            None => sum = Some(p),
            Some(s) => {
                let _ = s.add(&p);
            }
        }
    }
    sum
}

struct ChunkOut {
    interval: usize,
    sums: IntervalSums,
    metrics: Vec<SubrunMetrics>,
    errors: Vec<RootError>,
    files_failed: usize,
    inputs: Vec<crate::db::InputFile>,
}

/// Reads a whole file once: its checksum, and the ROOT file parsed from memory.
fn open_with_checksum(f: &SubrunFile) -> (Option<crate::db::InputFile>, Result<RootFile, RootError>) {
    match crate::db::InputFile::read(&f.path) {
        Ok((input, bytes)) => (Some(input), RootFile::from_bytes(&f.path, bytes)),
        Err(e) => (None, Err(RootError::new(&f.path, crate::root::ErrorKind::Io(e)))),
    }
}

fn map_chunk(interval: usize, range: (u32, u32), files: &[SubrunFile], cfg: &Config, sums: bool, progress: &(dyn Fn(u64) + Sync)) -> ChunkOut {
    let mut out = ChunkOut { interval, sums: IntervalSums::new(range.0, range.1), metrics: Vec::with_capacity(files.len()), errors: Vec::new(), files_failed: 0, inputs: Vec::new() };
    for f in files {
        let (input, file) = open_with_checksum(f);
        out.inputs.extend(input);
        match file {
            Ok(file) => {
                let r = subrun_metrics(&file, f.id, &cfg.channel_cuts);
                if sums {
                    out.sums.add_subrun(&file, f.id, &r);
                }
                out.errors.extend(r.errors);
                out.errors.append(&mut out.sums.errors);
                out.metrics.push(r.metrics);
            }
            Err(e) => {
                tracing::warn!("{e}");
                out.errors.push(e);
                out.files_failed += 1;
                let file = f.path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
                out.metrics.push(SubrunMetrics { run: f.id.run, subrun: f.id.subrun, file, ..SubrunMetrics::default() });
            }
        }
        progress(1);
    }
    out
}

/// Which stages a pass over the files runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stages {
    /// Sum the interval histograms (the merge stage). Without it only the metrics
    /// and per-subrun channel status are computed.
    pub sums: bool,
    /// Fit and judge each summed interval (the gain stage).
    pub fits: bool,
}

impl Stages {
    /// Metrics, merge and gain in one pass.
    pub const ALL: Stages = Stages { sums: true, fits: true };
    /// The metrics stage alone.
    pub const METRICS: Stages = Stages { sums: false, fits: false };
    /// Metrics and merge, no fits (the merge stage writes the sums for `gain`).
    pub const MERGE: Stages = Stages { sums: true, fits: false };
}

/// The reduce of one interval: its constants and channel status from its merged sums.
pub fn reduce(m: &Merged, cfg: &Config) -> IntervalResult {
    let ratio: Option<OofRatios> = m.reference_out_of_fill.as_ref().map(|p| (0..N_XTALS).map(|ch| oof_ratio(p, ch)).collect());
    let same = m.sums.run_first == m.reference_run && m.sums.run_last == m.reference_run;
    interval_result(&m.sums, ratio.as_deref(), same, &cfg.channel_cuts, &cfg.fit, &cfg.limits)
}

/// Runs the analysis over a dataset on the current rayon pool. `progress` is called
/// with the number of files done since the last call.
pub fn analyze(ds: &Dataset, cfg: &Config, progress: &(dyn Fn(u64) + Sync)) -> Result<Analysis, ConfigError> {
    analyze_with(ds, cfg, Stages::ALL, progress, &mut |_| Ok(()))
}

/// [`analyze`] running only `stages`, with `on_interval` called once per summed
/// interval, in run order, before its fits (the merge stage writes its file there;
/// an error it returns is recorded and the pass goes on).
pub fn analyze_with(
    ds: &Dataset,
    cfg: &Config,
    stages: Stages,
    progress: &(dyn Fn(u64) + Sync),
    on_interval: &mut dyn FnMut(&Merged) -> Result<(), RootError>,
) -> Result<Analysis, ConfigError> {
    let Plan { intervals, references, reference_run } = check(ds, cfg)?;
    tracing::info!(files = ds.files.len(), intervals = intervals.len(), reference_run, threads = rayon::current_num_threads(), ?stages, "analysis starts");
    // The reference runs' out-of-fill profiles, each summed once before the pass.
    let mut reference_oof: BTreeMap<u32, Option<Profile>> = BTreeMap::new();
    if stages.sums {
        for &run in &references {
            reference_oof.entry(run).or_insert_with(|| reference_out_of_fill(ds, run));
        }
    }

    // The chunks, in order: consecutive files of one interval.
    let mut chunks: Vec<(usize, &[SubrunFile])> = Vec::new();
    for (k, &(a, b)) in intervals.iter().enumerate() {
        let start = ds.files.partition_point(|f| f.id.run < a);
        let end = ds.files.partition_point(|f| f.id.run <= b);
        chunks.extend(ds.files[start..end].chunks(CHUNK_FILES).map(|c| (k, c)));
    }
    let mut remaining: Vec<usize> = vec![0; intervals.len()];
    for (k, _) in &chunks {
        remaining[*k] += 1;
    }

    let mut analysis = Analysis { metrics: Vec::with_capacity(ds.files.len()), intervals: Vec::new(), reference_run, errors: Vec::new(), files_failed: 0, inputs: Vec::new() };
    let mut current: Option<IntervalSums> = None;
    let window = 2 * rayon::current_num_threads().max(1);
    for batch in chunks.chunks(window) {
        let outs: Vec<ChunkOut> = batch.par_iter().map(|&(k, files)| map_chunk(k, intervals[k], files, cfg, stages.sums, progress)).collect();
        for out in outs {
            analysis.metrics.extend(out.metrics);
            analysis.errors.extend(out.errors);
            analysis.files_failed += out.files_failed;
            analysis.inputs.extend(out.inputs);
            if !stages.sums {
                continue;
            }
            match &mut current {
                Some(sums) => sums.merge(out.sums),
                None => current = Some(out.sums),
            }
            remaining[out.interval] -= 1;
            if remaining[out.interval] == 0 {
                let mut sums = current.take().expect("an interval with chunks has sums");
                analysis.errors.append(&mut sums.errors);
                tracing::info!(run_first = sums.run_first, run_last = sums.run_last, subruns = sums.subruns.len(), "interval summed");
                let reference = references[out.interval];
                let merged = Merged { sums, reference_run: reference, reference_out_of_fill: reference_oof[&reference].clone() };
                if let Err(e) = on_interval(&merged) {
                    tracing::warn!("{e}");
                    analysis.errors.push(e);
                }
                if stages.fits {
                    analysis.intervals.push(reduce(&merged, cfg));
                }
            }
        }
    }
    Ok(analysis)
}
