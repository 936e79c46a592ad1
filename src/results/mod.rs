//! The read model of one analysis output directory (what `gm2dqc run` writes), for
//! the faces that show results (the web application's `gm2dqc serve`): the manifest,
//! the per-run summary, every subrun's flags and reasons in columnar form, the bad
//! channels, the gain rows, the standard plots grouped as the checklist groups them,
//! the merged files and where objects are in them. No web code and no rendering.
//!
//! - [`Results::open`] reads everything once; [`Results::is_current`] tells a cache
//!   whether the directory changed since.
//! - [`query`]: paging, sorting and filtering the subruns ([`SubrunQuery`]).
//! - [`tune`]: the cut-tuning engine ([`Tuner`], [`save_cut_file`]), the same
//!   evaluation and diff as `gm2dqc cuts diff`.
//!
//! Every file is read back as untrusted input, our own included: bounded in size, each
//! column's type checked (a wrong type is an error, never nulls), key columns without
//! nulls and in range; an error names the file, the column and what to do. Nothing
//! here panics on a damaged directory.

pub mod query;
pub mod tune;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use polars::prelude::*;
use serde::Serialize;

use crate::job::manifest::{read_own_file, Manifest};
use crate::job::Stage;
use crate::layout::{self, paths};

pub use query::{Filter, QueryError, SortKey, SubrunPage, SubrunQuery, SubrunRow};
pub use tune::{save_cut_file, SaveError, SavedCut, TuneError, TuneResult, Tuner};

/// The largest table read back: far more than 20,000 subruns or 1296 crystals times
/// hundreds of intervals ever take.
pub const MAX_TABLE_BYTES: u64 = 2 << 30;
/// The largest `summary.json` read back.
const MAX_SUMMARY_BYTES: u64 = 64 << 20;
/// The largest `inputs.json` read back (a path, a size and a hash per subrun file).
const MAX_INPUTS_BYTES: u64 = 256 << 20;
/// The most entries of `OUT/plots` looked at.
const MAX_PLOT_ENTRIES: usize = 100_000;

/// Why an output directory cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum ResultsError {
    /// A file (or a column of it) that is missing or not what gm2dqc writes.
    #[error("{path}: {what}", path = path.display())]
    File { path: PathBuf, what: String },
    /// The manifest, as its validated reader reports it.
    /// (Boxed: a `JobError` is large and results are returned on every request.)
    #[error("{0}")]
    Manifest(Box<crate::job::JobError>),
}

impl From<crate::job::JobError> for ResultsError {
    fn from(e: crate::job::JobError) -> Self {
        ResultsError::Manifest(Box::new(e))
    }
}

impl ResultsError {
    fn file(path: &Path, what: impl Into<String>) -> ResultsError {
        ResultsError::File { path: path.to_path_buf(), what: what.into() }
    }
}

type Result<T> = std::result::Result<T, ResultsError>;

/// What to do about a damaged table: the stage that writes it.
fn rerun_hint(table: &str) -> &'static str {
    match table {
        "subrun_metrics.parquet" => "rerun `gm2dqc metrics` (or `gm2dqc run`) on this directory",
        "subrun_status.parquet" | "run_summary.parquet" => "rerun `gm2dqc dqc` (or `gm2dqc run`) on this directory",
        _ => "rerun `gm2dqc gain` (or `gm2dqc run`) on this directory",
    }
}

/// Reads a Parquet table gm2dqc wrote, as untrusted input: a regular file of bounded
/// size, decoded with polars (a panic inside polars on a damaged file is caught and
/// reported as damage). `columns`: read only these (`None`: all).
pub(crate) fn read_table(path: &Path, columns: Option<&[&str]>) -> Result<DataFrame> {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let hint = rerun_hint(&name);
    let meta = std::fs::metadata(path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            ResultsError::file(path, format!("is missing; {hint}"))
        } else {
            ResultsError::file(path, format!("cannot be read: {e}"))
        }
    })?;
    if !meta.is_file() {
        return Err(ResultsError::file(path, format!("is not a regular file; remove it and {hint}")));
    }
    if meta.len() > MAX_TABLE_BYTES {
        return Err(ResultsError::file(path, format!("is {} bytes, more than gm2dqc ever writes ({MAX_TABLE_BYTES}); {hint}", meta.len())));
    }
    let file = std::fs::File::open(path).map_err(|e| ResultsError::file(path, format!("cannot be read: {e}")))?;
    let cols = columns.map(|c| c.iter().map(|s| s.to_string()).collect::<Vec<String>>());
    let read = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| ParquetReader::new(file).with_columns(cols).finish()));
    let table = path.file_stem().and_then(|s| s.to_str()).unwrap_or_default();
    match read {
        Ok(Ok(df)) => crate::tables::from_file_types(df, table).map_err(|e| ResultsError::file(path, format!("not a table of this gm2dqc ({e}); {hint}"))),
        Ok(Err(e)) => Err(ResultsError::file(path, format!("not a readable Parquet table ({e}); {hint}"))),
        Err(_) => Err(ResultsError::file(path, format!("not a readable Parquet table (its decoder failed); {hint}"))),
    }
}

/// Typed, checked column access to a table read back.
pub(crate) struct Checked<'a> {
    pub path: &'a Path,
    pub df: &'a DataFrame,
}

impl Checked<'_> {
    fn err(&self, column: &str, what: impl std::fmt::Display) -> ResultsError {
        let name = self.path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        ResultsError::file(self.path, format!("column `{column}`: {what}; {}", rerun_hint(&name)))
    }

    fn column(&self, name: &str) -> Result<&Column> {
        self.df.column(name).map_err(|_| self.err(name, "is missing (is it a table of this gm2dqc version?)"))
    }

    /// An integer column with its nulls; a value outside 0..=u32::MAX is an error.
    pub fn u32_opt(&self, name: &str) -> Result<Vec<Option<u32>>> {
        let c = self.column(name)?;
        if !c.dtype().is_integer() {
            return Err(self.err(name, format!("is {}, not integers", c.dtype())));
        }
        let c = c.strict_cast(&DataType::UInt32).map_err(|_| self.err(name, "has a value that is not a run, subrun or channel number (negative or too large)"))?;
        Ok(c.u32().map_err(|e| self.err(name, e))?.iter().collect())
    }

    /// A key column: integers, no nulls.
    pub fn u32(&self, name: &str) -> Result<Vec<u32>> {
        let v = self.u32_opt(name)?;
        if let Some(row) = v.iter().position(Option::is_none) {
            return Err(self.err(name, format!("is null in row {row}; every row needs it")));
        }
        Ok(v.into_iter().flatten().collect())
    }

    /// A number column (floats or integers) with its nulls.
    pub fn f64(&self, name: &str) -> Result<Vec<Option<f64>>> {
        let c = self.column(name)?;
        if !(c.dtype().is_float() || c.dtype().is_integer()) {
            return Err(self.err(name, format!("is {}, not numbers", c.dtype())));
        }
        let c = c.cast(&DataType::Float64).map_err(|e| self.err(name, e))?;
        Ok(c.f64().map_err(|e| self.err(name, e))?.iter().collect())
    }

    pub fn bool_opt(&self, name: &str) -> Result<Vec<Option<bool>>> {
        let c = self.column(name)?;
        if c.dtype() != &DataType::Boolean {
            return Err(self.err(name, format!("is {}, not booleans", c.dtype())));
        }
        Ok(c.bool().map_err(|e| self.err(name, e))?.iter().collect())
    }

    pub fn bool(&self, name: &str) -> Result<Vec<bool>> {
        let v = self.bool_opt(name)?;
        if let Some(row) = v.iter().position(Option::is_none) {
            return Err(self.err(name, format!("is null in row {row}")));
        }
        Ok(v.into_iter().flatten().collect())
    }

    /// A text column (null as empty).
    pub fn str(&self, name: &str) -> Result<Vec<String>> {
        let c = self.column(name)?;
        if c.dtype() != &DataType::String {
            return Err(self.err(name, format!("is {}, not text", c.dtype())));
        }
        Ok(c.str().map_err(|e| self.err(name, e))?.iter().map(|v| v.unwrap_or("").to_string()).collect())
    }
}

/// One run of `run_summary.parquet`. JSON: `{"run", "subruns", "good_subruns",
/// "pass_fraction": {"<flag>": fraction, ...}, "ctags", "ctags_good"}`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunRow {
    pub run: u32,
    pub subruns: u32,
    pub good_subruns: u32,
    /// Each flag's pass fraction, in the cut file's flag order.
    #[serde(serialize_with = "query::ordered_map")]
    pub pass_fraction: Vec<(String, Option<f64>)>,
    pub ctags: Option<f64>,
    pub ctags_good: Option<f64>,
}

/// One failing cut of a subrun, parsed from its reason text (the form
/// `cuts::eval::check` writes: `<flag>: <metric> = <value> [unit] <test>`, or
/// `<flag>: <metric> is null ...`). JSON: `{"flag", "metric", "value", "test", "text"}`;
/// `value` is null when the metric was null, NaN or not stated.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Reason {
    pub flag: String,
    /// The metric the reason names (for `within_errors_of_run_median` with a missing
    /// error: the error column).
    pub metric: String,
    pub value: Option<f64>,
    /// What failed, after the value and its unit: `< 120 kV`, `is 30 % from the run
    /// median 1000 a.u. (> 20 %)`, `is null (not in the subrun file)`.
    pub test: String,
    /// The reason as written.
    pub text: String,
}

/// The reasons of a `reasons` cell, one per failing cut.
pub fn parse_reasons(text: &str) -> Vec<Reason> {
    if text.is_empty() {
        return Vec::new();
    }
    text.split("; ").map(parse_reason).collect()
}

fn parse_reason(text: &str) -> Reason {
    let (flag, why) = text.split_once(": ").unwrap_or(("", text));
    let end = why.find([' ', ':']).unwrap_or(why.len());
    let metric = &why[..end];
    let rest = why[end..].trim_start_matches(':').trim_start();
    let mut value = None;
    let mut test = rest.to_string();
    if let Some(after) = rest.strip_prefix("= ") {
        let (num, tail) = after.split_once(' ').unwrap_or((after, ""));
        if let Ok(v) = num.parse::<f64>() {
            value = Some(v);
            let unit = crate::cuts::catalog::METRICS.iter().find(|m| m.name == metric).map_or("1", |m| m.unit);
            let tail = if unit != "1" { tail.strip_prefix(unit).map_or(tail, str::trim_start) } else { tail };
            test = tail.to_string();
        }
    }
    Reason { flag: flag.to_string(), metric: metric.to_string(), value, test, text: text.to_string() }
}

/// Every subrun of `subrun_status.parquet`, column by column (20,000 subruns are a
/// few megabytes).
#[derive(Debug, Clone, Default)]
pub struct SubrunTable {
    pub runs: Vec<u32>,
    pub subruns: Vec<u32>,
    /// Each flag of the cut file, in its order, one value per subrun.
    pub flags: Vec<(String, Vec<Option<bool>>)>,
    pub ok: Vec<bool>,
    pub reasons: Vec<String>,
    /// The number of failing cuts of each subrun.
    pub reason_counts: Vec<u32>,
    /// The reasons in lower case, for the text filter.
    pub(crate) reasons_lower: Vec<String>,
}

impl SubrunTable {
    pub fn len(&self) -> usize {
        self.runs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.runs.is_empty()
    }

    pub fn flag_names(&self) -> impl Iterator<Item = &str> {
        self.flags.iter().map(|(f, _)| f.as_str())
    }
}

/// A crystal with bad status in one interval: dead, hot or noisy
/// (`calo_channel_status`), or a gain status other than `ok` (`gain_constants`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BadXtal {
    pub run_first: u32,
    pub run_last: u32,
    pub calo: u32,
    pub xtal: u32,
    pub channel: u32,
    pub dead: bool,
    pub hot: bool,
    pub noisy: bool,
    /// The gain status when it is not `ok`, with its detail.
    pub gain_status: Option<String>,
    pub gain_detail: String,
}

/// A dead or noisy straw in one interval (`tracker_channel_status`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BadStraw {
    pub run_first: u32,
    pub run_last: u32,
    pub station: u32,
    pub module: u32,
    pub straw: u32,
    pub channel: u32,
    pub dead: bool,
    pub noisy: bool,
}

/// One crystal's gain row in one interval (`gain_constants.parquet`): the in-fill fit
/// `N (1 - A exp(-t/tau))` (t and tau in microseconds) and the out-of-fill gain.
/// Fit parameters are null when the fit failed (`status` says why).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GainRow {
    pub run_first: u32,
    pub run_last: u32,
    pub calo: u32,
    pub xtal: u32,
    pub channel: u32,
    pub gain: Option<f64>,
    pub gain_err: Option<f64>,
    pub norm: Option<f64>,
    pub norm_err: Option<f64>,
    pub amp: Option<f64>,
    pub amp_err: Option<f64>,
    pub tau_us: Option<f64>,
    pub tau_err: Option<f64>,
    pub chi2_ndf: Option<f64>,
    pub ndf: Option<u32>,
    pub status: String,
    pub detail: String,
}

/// A standard plot in `OUT/plots`. JSON: `{"name", "title", "section", "png", "svg"}`,
/// paths relative to OUT (null when that file is not there).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Plot {
    pub name: String,
    pub title: String,
    /// The report's section (`plots::SECTIONS`).
    pub section: String,
    pub png: Option<String>,
    pub svg: Option<String>,
}

/// The plots of one checklist group. JSON: `{"group", "plots": [...]}`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PlotGroup {
    pub group: String,
    pub plots: Vec<Plot>,
}

/// The two checklist groups, in order; a plot the standard set never names goes to
/// a third, "Other".
pub const GROUPS: [&str; 2] = ["Data quality", "Gain calibration"];

/// The checklist group of a report section: the DQC summary, the subrun metrics and
/// the tracker are data quality; the calorimeter maps, the gains and the fits are the
/// gain calibration.
pub fn group_of_section(section: &str) -> &'static str {
    match section {
        "Calorimeter maps" | "Gain calibration" | "In-fill gain fits" => GROUPS[1],
        "Data quality summary" | "Subrun metrics" | "Tracker" => GROUPS[0],
        _ => "Other",
    }
}

/// A subrun file as the metrics stage read it. JSON: `{"path", "size", "sha256"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SubrunFile {
    pub path: String,
    pub size: u64,
    pub sha256: String,
}

/// One interval's merged file. JSON: `{"run_first", "run_last", "path"}` (relative to OUT).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MergedFile {
    pub run_first: u32,
    pub run_last: u32,
    pub path: String,
}

/// One stage of the manifest. JSON: `{"stage", "finished", "failed", "errors", "cuts", "cuts_sha256"}`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StageInfo {
    pub stage: String,
    pub finished: String,
    pub failed: bool,
    /// How many problems it recorded (the lines are in `errors.txt`).
    pub errors: usize,
    pub cuts: String,
    pub cuts_sha256: String,
}

/// What identifies the directory's state: the manifest, summary and status table's
/// size and modification time (every stage rewrites the manifest, atomically).
#[derive(Debug, Clone, PartialEq)]
struct Stamp(Vec<Option<(u64, SystemTime)>>);

impl Stamp {
    fn of(out: &Path) -> Stamp {
        let files = ["manifest.json", "summary.json", "subrun_status.parquet"];
        Stamp(files.iter().map(|f| std::fs::metadata(out.join(f)).ok().and_then(|m| Some((m.len(), m.modified().ok()?)))).collect())
    }
}

/// One output directory, read once.
#[derive(Debug, Clone)]
pub struct Results {
    pub out: PathBuf,
    /// The dataset's name and input (directory or list file), from the manifest.
    pub dataset: String,
    pub input: String,
    /// The cut file the dqc stage used (path, or the built-in standard set's label) and
    /// its SHA-256.
    pub cuts: String,
    pub cuts_sha256: String,
    /// The intervals of validity (from the gain or merge stage).
    pub intervals: Vec<(u32, u32)>,
    /// The gain reference run, when `summary.json` (a complete `run`/`analyze`) has it.
    pub reference_run: Option<u32>,
    pub stages: Vec<StageInfo>,
    pub runs: Vec<RunRow>,
    pub subruns: SubrunTable,
    pub bad_xtals: Vec<BadXtal>,
    pub bad_straws: Vec<BadStraw>,
    pub gains: Vec<GainRow>,
    pub plots: Vec<PlotGroup>,
    pub merged: Vec<MergedFile>,
    /// (run, subrun) -> the subrun file the metrics stage read.
    files: HashMap<(u32, u32), SubrunFile>,
    stamp: Stamp,
}

impl Results {
    /// Reads the output directory `out`: the manifest (validated), the dqc tables
    /// (required), the gain tables (when the manifest records the gain stage), the
    /// subrun file names (when it records the metrics stage), the plots and merged
    /// files present.
    pub fn open(out: &Path) -> Result<Results> {
        let stamp = Stamp::of(out);
        let mpath = Manifest::path(out);
        if !mpath.is_file() {
            return Err(ResultsError::file(&mpath, format!("is missing: {} is not a gm2dqc output directory (run `gm2dqc run --out {}`)", out.display(), out.display())));
        }
        let manifest = Manifest::load(out)?;
        let dqc = manifest.stages.get(&Stage::Dqc).ok_or_else(|| ResultsError::file(&mpath, "records no dqc stage: there are no flags yet; run `gm2dqc dqc` (or `gm2dqc run`) first"))?;
        let stages = Stage::ALL
            .iter()
            .filter_map(|s| manifest.stages.get(s).map(|r| StageInfo { stage: s.to_string(), finished: r.finished.clone(), failed: r.failed, errors: r.errors.len(), cuts: r.cuts.clone(), cuts_sha256: r.cuts_sha256.clone() }))
            .collect();
        let intervals = [Stage::Gain, Stage::Merge].iter().find_map(|s| manifest.stages.get(s).filter(|r| !r.intervals.is_empty())).map(|r| r.intervals.clone()).unwrap_or_default();
        let reference_run = read_summary(out)?;
        let subruns = read_status(out, &dqc.cuts_sha256)?;
        let runs = read_run_summary(out, &subruns)?;
        let (bad_xtals, bad_straws, gains) = if manifest.stages.contains_key(&Stage::Gain) { read_gain_tables(out)? } else { Default::default() };
        let files = if manifest.stages.contains_key(&Stage::Metrics) { read_files(out)? } else { HashMap::new() };
        Ok(Results {
            out: out.to_path_buf(),
            dataset: manifest.dataset.clone(),
            input: manifest.input.clone(),
            cuts: dqc.cuts.clone(),
            cuts_sha256: dqc.cuts_sha256.clone(),
            intervals,
            reference_run,
            stages,
            runs,
            subruns,
            bad_xtals,
            bad_straws,
            gains,
            plots: list_plots(out)?,
            merged: list_merged(out),
            files,
            stamp,
        })
    }

    /// False when the directory changed since it was read (a stage ran again): the
    /// manifest's, summary's or status table's size or modification time differ.
    /// Three `stat` calls.
    pub fn is_current(&self) -> bool {
        Stamp::of(&self.out) == self.stamp
    }

    /// The subrun file of (run, subrun) as the metrics stage read it
    /// (`OUT/inputs.json`): its path as given to the job (absolute, or relative to the
    /// directory the job ran in), size and SHA-256. It names a file outside OUT: a
    /// server decides itself whether to serve it, and can check size and hash first.
    pub fn subrun_file(&self, run: u32, subrun: u32) -> Option<&SubrunFile> {
        self.files.get(&(run, subrun))
    }

    /// The merged file (relative to OUT) of the interval holding `run`.
    pub fn merged_file_of_run(&self, run: u32) -> Option<&MergedFile> {
        self.merged.iter().find(|m| m.run_first <= run && run <= m.run_last)
    }

    /// The gain rows of one crystal, one per interval.
    pub fn gain_rows(&self, calo: u32, xtal: u32) -> impl Iterator<Item = &GainRow> {
        self.gains.iter().filter(move |g| g.calo == calo && g.xtal == xtal)
    }
}

fn read_summary(out: &Path) -> Result<Option<u32>> {
    let path = out.join("summary.json");
    let Some(bytes) = read_own_file(&path, MAX_SUMMARY_BYTES)? else { return Ok(None) };
    let v: serde_json::Value = serde_json::from_slice(&bytes).map_err(|e| ResultsError::file(&path, format!("not a gm2dqc summary: {e}; rerun `gm2dqc run`")))?;
    match v.get("reference_run") {
        None | Some(serde_json::Value::Null) => Ok(None),
        Some(r) => r.as_u64().and_then(|r| u32::try_from(r).ok()).map(Some).ok_or_else(|| ResultsError::file(&path, format!("field reference_run: {r} is not a run number; rerun `gm2dqc run`"))),
    }
}

fn read_status(out: &Path, cuts_sha256: &str) -> Result<SubrunTable> {
    let path = out.join("subrun_status.parquet");
    let df = read_table(&path, None)?;
    let t = Checked { path: &path, df: &df };
    let names: Vec<String> = df.get_column_names().iter().map(|n| n.to_string()).collect();
    let pos = |n: &str| names.iter().position(|c| c == n);
    let (Some(sub), Some(ok)) = (pos("subrun"), pos("ok")) else {
        let missing = if pos("subrun").is_none() { "subrun" } else { "ok" };
        return Err(t.err(missing, "is missing (is it a table of this gm2dqc version?)"));
    };
    if ok < sub {
        return Err(t.err("ok", "comes before `subrun`: the flags are the columns between them"));
    }
    let (runs, subruns) = (t.u32("run")?, t.u32("subrun")?);
    let mut flags = Vec::new();
    for name in &names[sub + 1..ok] {
        flags.push((name.clone(), t.bool_opt(name)?));
    }
    let reasons = t.str("reasons")?;
    let hashes = t.str("cuts_sha256")?;
    if let Some(row) = hashes.iter().position(|h| h != cuts_sha256) {
        return Err(t.err(
            "cuts_sha256",
            format!("row {row} was made with cut file {}, the manifest's dqc stage with {}", crate::checksum::short_hash(&hashes[row]), crate::checksum::short_hash(cuts_sha256)),
        ));
    }
    let mut seen = std::collections::HashSet::with_capacity(runs.len());
    for (r, s) in runs.iter().zip(&subruns) {
        if !seen.insert((*r, *s)) {
            return Err(t.err("subrun", format!("run {r} subrun {s} appears twice")));
        }
    }
    let reason_counts = reasons.iter().map(|r| if r.is_empty() { 0 } else { r.matches("; ").count() as u32 + 1 }).collect();
    let reasons_lower = reasons.iter().map(|r| r.to_lowercase()).collect();
    Ok(SubrunTable { runs, subruns, flags, ok: t.bool("ok")?, reasons, reason_counts, reasons_lower })
}

fn read_run_summary(out: &Path, status: &SubrunTable) -> Result<Vec<RunRow>> {
    let path = out.join("run_summary.parquet");
    let df = read_table(&path, None)?;
    let t = Checked { path: &path, df: &df };
    let (run, n, good) = (t.u32("run")?, t.u32("subruns")?, t.u32("good_subruns")?);
    let (ctags, ctags_good) = (t.f64("ctags")?, t.f64("ctags_good")?);
    let mut fractions = Vec::new();
    for (f, _) in &status.flags {
        fractions.push((f.clone(), t.f64(&format!("{f}_pass_fraction"))?));
    }
    Ok((0..run.len())
        .map(|i| RunRow {
            run: run[i],
            subruns: n[i],
            good_subruns: good[i],
            pass_fraction: fractions.iter().map(|(f, v)| (f.clone(), v[i])).collect(),
            ctags: ctags[i],
            ctags_good: ctags_good[i],
        })
        .collect())
}

type GainTables = (Vec<BadXtal>, Vec<BadStraw>, Vec<GainRow>);

fn read_gain_tables(out: &Path) -> Result<GainTables> {
    let path = out.join("gain_constants.parquet");
    let df = read_table(&path, None)?;
    let g = Checked { path: &path, df: &df };
    let (first, last, calo, xtal, channel) = (g.u32("run_first")?, g.u32("run_last")?, g.u32("calo")?, g.u32("xtal")?, g.u32("channel")?);
    check_xtals(&g, &calo, &xtal, &channel)?;
    let f = |n: &str| g.f64(n);
    let (gain, gain_err, norm, norm_err, amp, amp_err, tau, tau_err, chi2) =
        (f("gain")?, f("gain_err")?, f("ifg_norm")?, f("ifg_norm_err")?, f("ifg_amp")?, f("ifg_amp_err")?, f("ifg_tau_us")?, f("ifg_tau_err")?, f("ifg_chi2_ndf")?);
    let (ndf, status, detail) = (g.u32_opt("ifg_ndf")?, g.str("status")?, g.str("detail")?);
    let gains: Vec<GainRow> = (0..first.len())
        .map(|i| GainRow {
            run_first: first[i],
            run_last: last[i],
            calo: calo[i],
            xtal: xtal[i],
            channel: channel[i],
            gain: gain[i],
            gain_err: gain_err[i],
            norm: norm[i],
            norm_err: norm_err[i],
            amp: amp[i],
            amp_err: amp_err[i],
            tau_us: tau[i],
            tau_err: tau_err[i],
            chi2_ndf: chi2[i],
            ndf: ndf[i],
            status: status[i].clone(),
            detail: detail[i].clone(),
        })
        .collect();

    let path = out.join("calo_channel_status.parquet");
    let df = read_table(&path, None)?;
    let c = Checked { path: &path, df: &df };
    let (cf, cl, cc, cx, cch) = (c.u32("run_first")?, c.u32("run_last")?, c.u32("calo")?, c.u32("xtal")?, c.u32("channel")?);
    check_xtals(&c, &cc, &cx, &cch)?;
    let (dead, hot, noisy) = (c.bool("dead")?, c.bool("hot")?, c.bool("noisy")?);
    let bad_gain: BTreeMap<(u32, u32), &GainRow> = gains.iter().filter(|g| g.status != "ok").map(|g| ((g.run_first, g.channel), g)).collect();
    let mut xtals = Vec::new();
    for i in 0..cf.len() {
        let gs = bad_gain.get(&(cf[i], cch[i]));
        if dead[i] || hot[i] || noisy[i] || gs.is_some() {
            xtals.push(BadXtal {
                run_first: cf[i],
                run_last: cl[i],
                calo: cc[i],
                xtal: cx[i],
                channel: cch[i],
                dead: dead[i],
                hot: hot[i],
                noisy: noisy[i],
                gain_status: gs.map(|g| g.status.clone()),
                gain_detail: gs.map(|g| g.detail.clone()).unwrap_or_default(),
            });
        }
    }

    let path = out.join("tracker_channel_status.parquet");
    let df = read_table(&path, None)?;
    let s = Checked { path: &path, df: &df };
    let (sf, sl, st, sm, ss, sch) = (s.u32("run_first")?, s.u32("run_last")?, s.u32("station")?, s.u32("module")?, s.u32("straw")?, s.u32("channel")?);
    if let Some(i) = sch.iter().position(|&ch| ch as usize >= layout::N_STRAWS) {
        return Err(s.err("channel", format!("row {i}: {} is not a straw channel (0-{})", sch[i], layout::N_STRAWS - 1)));
    }
    if let Some(i) = (0..sch.len()).find(|&i| layout::straw_of(sch[i] as usize) != (st[i], sm[i] as usize, ss[i] as usize)) {
        return Err(s.err("channel", format!("row {i}: channel {} is not station {} module {} straw {}", sch[i], st[i], sm[i], ss[i])));
    }
    let (sdead, snoisy) = (s.bool("dead")?, s.bool("noisy")?);
    let straws = (0..sf.len())
        .filter(|&i| sdead[i] || snoisy[i])
        .map(|i| BadStraw { run_first: sf[i], run_last: sl[i], station: st[i], module: sm[i], straw: ss[i], channel: sch[i], dead: sdead[i], noisy: snoisy[i] })
        .collect();
    Ok((xtals, straws, gains))
}

/// Crystal rows: calo 1..=24, xtal 0..=53, and the channel id that goes with them.
fn check_xtals(t: &Checked, calo: &[u32], xtal: &[u32], channel: &[u32]) -> Result<()> {
    for i in 0..calo.len() {
        let (c, x) = (calo[i] as usize, xtal[i] as usize);
        if !(1..=layout::N_CALOS).contains(&c) || x >= layout::XTALS_PER_CALO {
            return Err(t.err("calo", format!("row {i}: calo {c} xtal {x} is not a crystal (calo 1-{}, xtal 0-{})", layout::N_CALOS, layout::XTALS_PER_CALO - 1)));
        }
        if layout::xtal_channel(c, x) != channel[i] as usize {
            return Err(t.err("channel", format!("row {i}: channel {} is not calo {c} xtal {x}", channel[i])));
        }
    }
    Ok(())
}

/// `OUT/inputs.json` (what the metrics stage read: path as given, size, SHA-256),
/// by (run, subrun) from each file's name.
fn read_files(out: &Path) -> Result<HashMap<(u32, u32), SubrunFile>> {
    let path = out.join("inputs.json");
    let hint = "rerun `gm2dqc metrics` (or `gm2dqc run`) on this directory";
    let Some(bytes) = read_own_file(&path, MAX_INPUTS_BYTES)? else { return Ok(HashMap::new()) };
    let files: Vec<crate::db::InputFile> = serde_json::from_slice(&bytes).map_err(|e| ResultsError::file(&path, format!("not a gm2dqc input list: {e}; {hint}")))?;
    let mut by_id = HashMap::with_capacity(files.len());
    for (i, f) in files.into_iter().enumerate() {
        let name = Path::new(&f.path).file_name().and_then(|n| n.to_str()).unwrap_or("");
        let Some((_, id)) = crate::dataset::parse_file_name(name) else {
            return Err(ResultsError::file(&path, format!("entry {i}: {:?} is not a subrun file name (<prefix>_<run>.<subrun>.root); {hint}", f.path)));
        };
        by_id.insert((id.run, id.subrun), SubrunFile { path: f.path, size: f.size, sha256: f.sha256 });
    }
    Ok(by_id)
}

/// The standard plots in `OUT/plots`, grouped; each page's PNG and SVG paired.
fn list_plots(out: &Path) -> Result<Vec<PlotGroup>> {
    let dir = out.join("plots");
    let entries = match std::fs::read_dir(&dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(ResultsError::file(&dir, format!("cannot be listed: {e}"))),
    };
    let mut pages: BTreeMap<String, (bool, bool)> = BTreeMap::new();
    for e in entries.take(MAX_PLOT_ENTRIES) {
        let Ok(e) = e else { continue };
        let name = e.file_name();
        let Some(name) = name.to_str() else { continue };
        // Temporary files of a plots stage in progress are hidden.
        if name.starts_with('.') || !e.file_type().is_ok_and(|t| t.is_file()) {
            continue;
        }
        if let Some(stem) = name.strip_suffix(".png") {
            pages.entry(stem.to_string()).or_default().0 = true;
        } else if let Some(stem) = name.strip_suffix(".svg") {
            pages.entry(stem.to_string()).or_default().1 = true;
        }
    }
    let mut groups: Vec<PlotGroup> = GROUPS.iter().chain(&["Other"]).map(|g| PlotGroup { group: g.to_string(), plots: Vec::new() }).collect();
    let rank = |s: &str| crate::plots::SECTIONS.iter().position(|x| *x == s).unwrap_or(crate::plots::SECTIONS.len());
    let mut plots: Vec<Plot> = pages
        .into_iter()
        .map(|(name, (png, svg))| {
            let section = crate::plots::section_of_name(&name).unwrap_or("Other").to_string();
            Plot {
                title: crate::plots::title_of_name(&name).unwrap_or_else(|| name.clone()),
                section,
                png: png.then(|| format!("plots/{name}.png")),
                svg: svg.then(|| format!("plots/{name}.svg")),
                name,
            }
        })
        .collect();
    plots.sort_by(|a, b| rank(&a.section).cmp(&rank(&b.section)).then_with(|| a.name.cmp(&b.name)));
    for p in plots {
        let g = group_of_section(&p.section);
        let k = groups.iter().position(|x| x.group == g).unwrap_or(2);
        groups[k].plots.push(p);
    }
    groups.retain(|g| !g.plots.is_empty() || g.group != "Other");
    Ok(groups)
}

fn list_merged(out: &Path) -> Vec<MergedFile> {
    let dir = crate::job::outputs::merged_dir(out);
    let Ok(files) = crate::merged::list(&dir) else { return Vec::new() };
    files
        .iter()
        .filter_map(|p| {
            let (run_first, run_last) = crate::merged::interval_of(p)?;
            let name = p.file_name()?.to_str()?;
            Some(MergedFile { run_first, run_last, path: format!("merged/{name}") })
        })
        .collect()
}

/// Where an object is, for a histogram viewer. JSON: `{"path", "class", "in_merged",
/// "in_subrun", "what"}`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ObjectPath {
    pub path: String,
    /// The class in a subrun file (a merged file's TH2 is a TH2D, its profiles TProfile).
    pub class: &'static str,
    /// Present in a merged file (`merged/merged_A-B.root`: sums over the interval).
    pub in_merged: bool,
    /// Present in a subrun file.
    pub in_subrun: bool,
    pub what: &'static str,
}

fn crystal(calo: u32, xtal: u32) -> Option<(usize, usize)> {
    let (c, x) = (calo as usize, xtal as usize);
    ((1..=layout::N_CALOS).contains(&c) && x < layout::XTALS_PER_CALO).then_some((c, x))
}

/// A crystal's in-fill laser profile (TProfile, time in fill [us]): in subrun files
/// and summed in the merged files; the gain fit `N (1 - A exp(-t/tau))` is fitted to
/// the merged one. `None` for a crystal that does not exist (calo 1-24, xtal 0-53).
pub fn infill_profile_path(calo: u32, xtal: u32) -> Option<String> {
    crystal(calo, xtal).map(|(c, x)| paths::in_fill(c, x))
}

/// A crystal's energy spectrum (TH1F, MeV): in subrun files only (a merged file keeps
/// only its integral, in [`calo_hits_path`]).
pub fn energy_path(calo: u32, xtal: u32) -> Option<String> {
    crystal(calo, xtal).map(|(c, x)| paths::xtal_energy(c, x))
}

/// The drift time per straw (TH2: straw channel x drift time [ns]): in subrun files
/// (TH2F) and summed in merged files (TH2D).
pub fn drift_time_path() -> &'static str {
    paths::DRIFT_TIME
}

/// Hits per crystal by channel id (TH1D; the calorimeter map's hits): merged files.
pub fn calo_hits_path() -> &'static str {
    crate::merged::XTAL_HITS
}

/// Hits per straw by channel id (TH1D): merged files (`merge/strawHits`).
pub fn straw_hits_path() -> &'static str {
    crate::merged::STRAW_HITS
}

/// The per-crystal out-of-fill laser ratio (TProfile by channel id, the map of the
/// out-of-fill gain): subrun and merged files.
pub fn out_of_fill_path() -> &'static str {
    paths::OUT_OF_FILL
}

/// The per-crystal pedestal RMS (TProfile by channel id, the pedestal map): subrun and
/// merged files.
pub fn pedestal_path() -> &'static str {
    paths::PEDESTAL_RMS
}

/// The objects a viewer of one interval or subrun offers besides the per-crystal ones.
pub fn object_paths() -> Vec<ObjectPath> {
    let o = |path: &str, class, in_merged, in_subrun, what| ObjectPath { path: path.to_string(), class, in_merged, in_subrun, what };
    vec![
        o(paths::OUT_OF_FILL, "TProfile", true, true, "out-of-fill laser ratio per crystal channel"),
        o(paths::PEDESTAL_RMS, "TProfile", true, true, "pedestal RMS per crystal channel [ADC counts]"),
        o(paths::DRIFT_TIME, "TH2F", true, true, "drift time per straw [ns] (TH2D in merged files)"),
        o(crate::merged::XTAL_HITS, "TH1D", true, false, "hits per crystal channel"),
        o(crate::merged::STRAW_HITS, "TH1D", true, false, "hits per straw channel"),
        o(crate::merged::REFERENCE_OUT_OF_FILL, "TProfile", true, false, "the reference run's summed out-of-fill ratio"),
        o(paths::STRAW_HITS, "TH1D", false, true, "hits per straw channel"),
        o(paths::HV_TRIPS, "TH1D", false, true, "fills with HV tripped per tracker module"),
        o(paths::SOURCE_MONITOR, "TProfile", false, true, "laser source monitor per laser"),
        o(paths::KICKER_AMPLITUDE, "TProfile", false, true, "kicker amplitude [kV]"),
        o(paths::SINGLES, "TH1D", false, true, "coincidence level 1 clusters"),
        o(paths::DOUBLES, "TH1D", false, true, "coincidence level 2 time differences"),
    ]
}
