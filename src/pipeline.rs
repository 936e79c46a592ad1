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
//! floating-point sum is the same whatever the thread count. The reference runs'
//! out-of-fill sums are grouped the same way (per chunk, then chunks in order). A
//! campaign ([`crate::campaign`]) runs [`map_chunk`] on other machines and feeds the
//! chunks to the same [`Reducer`] in the same order, so it gives the same bits too. Memory: at most a window
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
use crate::analysis::merge::Merged;
use crate::analysis::metrics::{subrun_metrics_keeping, SubrunMetrics};
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
    /// Sum only the subruns passing some flags (the cut file's `sum_subruns_passing`).
    pub sum_filter: Option<SumFilter>,
}

/// Which subruns the interval sums take: those passing `flags` of `cuts` (absolute
/// cuts only, so each subrun is judged alone as it is read).
#[derive(Debug, Clone, PartialEq)]
pub struct SumFilter {
    pub flags: Vec<String>,
    pub cuts: std::sync::Arc<crate::cuts::CutFile>,
}

impl SumFilter {
    pub fn passes(&self, m: &SubrunMetrics) -> bool {
        crate::cuts::eval::subrun_passes(&self.cuts, &self.flags, m)
    }
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
            sum_filter: None,
        }
    }

    /// The analysis configuration a cut file gives (`cuts` knows nothing of the
    /// pipeline; the pipeline reads what it needs from the cut file).
    pub fn from_cuts(c: &crate::cuts::CutFile) -> Self {
        Config {
            channel_cuts: c.channels,
            fit: c.fit,
            limits: c.limits,
            reference_run: c.reference_run,
            reference_overrides: c.reference_overrides.clone(),
            intervals: c.intervals.clone(),
            sum_filter: (!c.sum_flags.is_empty()).then(|| SumFilter { flags: c.sum_flags.clone(), cuts: std::sync::Arc::new(c.clone()) }),
        }
    }

    /// With the command line's overrides: a reference run, intervals (empty: none).
    pub fn with_overrides(mut self, reference_run: Option<u32>, intervals: &[(u32, u32)]) -> Self {
        if reference_run.is_some() {
            self.reference_run = reference_run;
        }
        if !intervals.is_empty() {
            self.intervals = intervals.to_vec();
        }
        self
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
    pub errors: Vec<String>,
    /// Files that could not be opened at all.
    pub files_failed: usize,
    /// Every input file read, with its size and SHA-256 (the provenance of uploads and
    /// the key of work already done), in file order.
    pub inputs: Vec<crate::db::InputFile>,
    /// Subruns left out because their partial result was missing (a sharded reduce
    /// told `--allow-partial`); they are in no table and no sum.
    pub missing: Vec<crate::dataset::SubrunId>,
}

impl Analysis {
    /// Gain rows with the given status, over all intervals.
    pub fn count_gain_status(&self, status: GainStatus) -> usize {
        self.intervals.iter().flat_map(|i| &i.gains).filter(|g| g.status == status).count()
    }

    /// True when something failed: an input error or a fit that did not converge.
    /// (A dead crystal's `no_laser` or a `low_stats` channel is a finding, not a failure.)
    /// Missing subruns (a partial reduce) are a failure too.
    pub fn has_failures(&self) -> bool {
        !self.errors.is_empty() || !self.missing.is_empty() || self.count_gain_status(GainStatus::FitFailed) > 0
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

/// One chunk: `len` consecutive files of one interval, from file `first` (an index
/// into the dataset's files, which are in (run, subrun) order). The unit of work and
/// of summing: a chunk's files are summed in order, chunks are merged in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Chunk {
    pub interval: usize,
    pub first: usize,
    pub len: usize,
}

impl Chunk {
    pub fn files(self) -> std::ops::Range<usize> {
        self.first..self.first + self.len
    }
}

/// The chunks of a dataset's files for the given intervals, in order.
pub fn chunks(files: &[SubrunFile], intervals: &[(u32, u32)]) -> Vec<Chunk> {
    let mut out = Vec::new();
    for (interval, &(a, b)) in intervals.iter().enumerate() {
        let start = files.partition_point(|f| f.id.run < a);
        let end = files.partition_point(|f| f.id.run <= b);
        let mut first = start;
        while first < end {
            let len = CHUNK_FILES.min(end - first);
            out.push(Chunk { interval, first, len });
            first += len;
        }
    }
    out
}

/// A file's `laser/outOfFill` for a reference run's sum (unreadable: left out; the
/// main pass reads the same object and records the error).
fn out_of_fill(file: &RootFile) -> Option<Profile> {
    file.hist(paths::OUT_OF_FILL).ok().and_then(|raw| Profile::from_raw(raw).ok())
}

/// Adds `p` to a reference run's running sum (a binning mismatch leaves the sum as it
/// is; the interval sums record it).
pub fn add_reference(sum: &mut Option<Profile>, p: Profile) {
    let _ = crate::analysis::merge::accumulate(sum, p);
}

/// A reference run's summed out-of-fill profile, grouped as the chunks group files:
/// each chunk's files of `run` summed in order, then the chunks' sums in order. (The
/// sharded reduce sums the shards' per-chunk sums the same way, so both agree bit for
/// bit.)
fn reference_out_of_fill(files: &[SubrunFile], chunks: &[Chunk], run: u32, cfg: &Config) -> Option<Profile> {
    let mut sum: Option<Profile> = None;
    for c in chunks {
        let mut part: Option<Profile> = None;
        for f in files[c.files()].iter().filter(|f| f.id.run == run) {
            let Ok(file) = RootFile::open(&f.path) else { continue };
            // The reference run's sum takes the subruns its own intervals' sums take.
            if cfg.sum_filter.as_ref().is_some_and(|s| !s.passes(&subrun_metrics_keeping(&file, f.id, &cfg.channel_cuts, false).metrics)) {
                continue;
            }
            if let Some(p) = out_of_fill(&file) {
                add_reference(&mut part, p);
            }
        }
        if let Some(p) = part {
            add_reference(&mut sum, p);
        }
    }
    sum
}

/// What the map stage learns from one chunk of files.
#[derive(Debug)]
pub struct ChunkOut {
    pub interval: usize,
    /// The chunk's files summed in order (empty unless the sums were asked for).
    pub sums: IntervalSums,
    /// For each of `reference_runs` with files in the chunk: their `laser/outOfFill`
    /// summed in order.
    pub references: Vec<(u32, Profile)>,
    /// One row per file, in order.
    pub metrics: Vec<SubrunMetrics>,
    /// Every problem, naming its file and object, in file order.
    pub errors: Vec<String>,
    pub files_failed: usize,
    /// Every file read, with its size and SHA-256, in order.
    pub inputs: Vec<crate::db::InputFile>,
}

/// Reads a whole file once: its checksum, and the ROOT file parsed from memory.
fn open_with_checksum(f: &SubrunFile) -> (Option<crate::db::InputFile>, Result<RootFile, RootError>) {
    match crate::db::InputFile::read(&f.path) {
        Ok((input, bytes)) => (Some(input), RootFile::from_bytes(&f.path, bytes)),
        Err(e) => (None, Err(RootError::new(&f.path, crate::root::ErrorKind::Io(e)))),
    }
}

/// The map of one chunk: each file opened once, its metrics and channel status, and
/// (with `sums`) its histograms added to the chunk's sums. `reference_runs`: runs
/// whose out-of-fill profiles are summed apart (the sharded map; the one-process pass
/// sums the reference runs before it starts).
pub fn map_chunk(interval: usize, range: (u32, u32), files: &[SubrunFile], cfg: &Config, sums: bool, reference_runs: &[u32], progress: &(dyn Fn(u64) + Sync)) -> ChunkOut {
    let mut out = ChunkOut {
        interval,
        sums: IntervalSums::new(range.0, range.1),
        references: Vec::new(),
        metrics: Vec::with_capacity(files.len()),
        errors: Vec::new(),
        files_failed: 0,
        inputs: Vec::new(),
    };
    let mut references: BTreeMap<u32, Option<Profile>> = BTreeMap::new();
    for f in files {
        let (input, file) = open_with_checksum(f);
        out.inputs.extend(input);
        match file {
            Ok(file) => {
                // With sums, the metrics keep what they read: the interval sums add every
                // histogram of the file without decoding it twice.
                let r = subrun_metrics_keeping(&file, f.id, &cfg.channel_cuts, sums);
                // A subrun failing the cut file's `sum_subruns_passing` flags enters no sum.
                let summed = cfg.sum_filter.as_ref().is_none_or(|s| s.passes(&r.metrics));
                if sums && summed {
                    out.sums.add_subrun(&file, f.id, &r);
                }
                if summed && reference_runs.contains(&f.id.run) {
                    let slot = references.entry(f.id.run).or_default();
                    if let Some(p) = out_of_fill(&file) {
                        add_reference(slot, p);
                    }
                }
                out.errors.extend(r.errors.iter().map(ToString::to_string));
                out.errors.extend(out.sums.errors.drain(..).map(|e| e.to_string()));
                out.metrics.push(r.metrics);
            }
            Err(e) => {
                tracing::warn!("{e}");
                out.errors.push(e.to_string());
                out.files_failed += 1;
                let file = f.path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
                out.metrics.push(SubrunMetrics { run: f.id.run, subrun: f.id.subrun, file, ..SubrunMetrics::default() });
            }
        }
        progress(1);
    }
    out.references = references.into_iter().filter_map(|(run, p)| p.map(|p| (run, p))).collect();
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
    interval_result(&m.sums, ratio.as_deref(), m.reference_run, &cfg.channel_cuts, &cfg.fit, &cfg.limits)
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
    let plan = check(ds, cfg)?;
    tracing::info!(files = ds.files.len(), intervals = plan.intervals.len(), reference_run = plan.reference_run, threads = rayon::current_num_threads(), ?stages, "analysis starts");
    let chunks = chunks(&ds.files, &plan.intervals);
    // The reference runs' out-of-fill profiles, each summed once before the pass.
    let mut reference_oof: BTreeMap<u32, Option<Profile>> = BTreeMap::new();
    if stages.sums {
        for &run in &plan.references {
            reference_oof.entry(run).or_insert_with(|| reference_out_of_fill(&ds.files, &chunks, run, cfg));
        }
    }
    let mut reducer = Reducer::new(cfg, &plan, stages, chunks.iter().map(|c| c.interval), reference_oof, on_interval);
    let window = 2 * rayon::current_num_threads().max(1);
    for batch in chunks.chunks(window) {
        let outs: Vec<ChunkOut> = batch
            .par_iter()
            .map(|c| map_chunk(c.interval, plan.intervals[c.interval], &ds.files[c.files()], cfg, stages.sums, &[], progress))
            .collect();
        for out in outs {
            reducer.push(out);
        }
    }
    Ok(reducer.finish())
}

/// The reduce over chunks: takes the chunks' outputs in order, merges each interval's
/// chunk sums in that order and, when an interval's last chunk is in, hands its
/// merged sums to `on_interval` and (with `stages.fits`) fits them. The one-process
/// pass and the sharded reduce both feed it, which is what makes them agree.
pub struct Reducer<'a> {
    cfg: &'a Config,
    stages: Stages,
    intervals: Vec<(u32, u32)>,
    references: Vec<u32>,
    reference_oof: BTreeMap<u32, Option<Profile>>,
    /// Chunks still to come, per interval.
    remaining: Vec<usize>,
    current: Option<IntervalSums>,
    analysis: Analysis,
    on_interval: &'a mut dyn FnMut(&Merged) -> Result<(), RootError>,
}

impl<'a> Reducer<'a> {
    /// `chunk_intervals`: the interval of each chunk that will be pushed, in order.
    /// `reference_oof`: each reference run's summed out-of-fill profile.
    pub fn new(
        cfg: &'a Config,
        plan: &Plan,
        stages: Stages,
        chunk_intervals: impl Iterator<Item = usize>,
        reference_oof: BTreeMap<u32, Option<Profile>>,
        on_interval: &'a mut dyn FnMut(&Merged) -> Result<(), RootError>,
    ) -> Self {
        let mut remaining = vec![0; plan.intervals.len()];
        let mut chunks = 0;
        for k in chunk_intervals {
            remaining[k] += 1;
            chunks += 1;
        }
        let analysis = Analysis {
            metrics: Vec::with_capacity(chunks * CHUNK_FILES),
            intervals: Vec::new(),
            reference_run: plan.reference_run,
            errors: Vec::new(),
            files_failed: 0,
            inputs: Vec::new(),
            missing: Vec::new(),
        };
        Reducer { cfg, stages, intervals: plan.intervals.clone(), references: plan.references.clone(), reference_oof, remaining, current: None, analysis, on_interval }
    }

    /// Takes the next chunk's output (chunks must come in order).
    pub fn push(&mut self, out: ChunkOut) {
        let a = &mut self.analysis;
        a.metrics.extend(out.metrics);
        a.errors.extend(out.errors);
        a.files_failed += out.files_failed;
        a.inputs.extend(out.inputs);
        if !self.stages.sums {
            return;
        }
        match &mut self.current {
            Some(sums) => sums.merge(out.sums),
            None => self.current = Some(out.sums),
        }
        self.remaining[out.interval] -= 1;
        if self.remaining[out.interval] > 0 {
            return;
        }
        let mut sums = self.current.take().expect("an interval with chunks has sums");
        a.errors.extend(sums.errors.drain(..).map(|e| e.to_string()));
        tracing::info!(run_first = sums.run_first, run_last = sums.run_last, subruns = sums.subruns.len(), "interval summed");
        debug_assert_eq!((sums.run_first, sums.run_last), self.intervals[out.interval]);
        let reference = self.references[out.interval];
        let merged = Merged { sums, reference_run: reference, reference_out_of_fill: self.reference_oof.get(&reference).cloned().flatten() };
        if let Err(e) = (self.on_interval)(&merged) {
            tracing::warn!("{e}");
            a.errors.push(e.to_string());
        }
        if self.stages.fits {
            a.intervals.push(reduce(&merged, self.cfg));
        }
    }

    /// The analysis of every chunk pushed.
    pub fn finish(self) -> Analysis {
        self.analysis
    }
}
