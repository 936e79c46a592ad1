//! The pipeline stages as subcommands, each usable alone: `metrics` and `merge` read
//! the subrun files (map), `gain` fits the merged files (reduce), `dqc` applies a cut
//! file to the metrics, `plots` draws the standard set, `upload` stores the results.
//! Each turns its flags into a [`JobConfig`] and prints what the [`Job`] reports.

use std::io::Write;
use std::path::PathBuf;

use super::report::{self, Bars};
use super::AnalyzeArgs;
use crate::job::{Job, JobConfig, PlotOptions, Stage, Status, Work};
use crate::pipeline::Stages;

/// Where a stage records itself on the board.
#[derive(Debug, Clone, clap::Args)]
pub struct BoardArgs {
    /// The conditions database: the board, and for run and upload the constants and
    /// flags (default: $GM2DQC_DB, else OUT/conditions.sqlite). postgres://user@host/db
    /// for PostgreSQL, a path for SQLite.
    #[arg(long, value_name = "URL")]
    pub db: Option<String>,
    /// The dataset's name on the board (default: the name the directory's earlier
    /// stages used, else the input's file name).
    #[arg(long)]
    pub dataset: Option<String>,
}

#[derive(Debug, clap::Args)]
pub struct MetricsArgs {
    /// The dataset: a directory of subrun files (searched recursively) or a list file.
    #[arg(long, value_name = "DATASET")]
    pub input: PathBuf,
    /// Output directory: writes subrun_metrics.parquet, inputs.json, errors.txt.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// The cut file (its channel cuts judge the per-subrun channel status; default:
    /// the built-in standard set).
    #[arg(long, value_name = "FILE")]
    pub cuts: Option<PathBuf>,
    /// Worker threads (default: all cores). Results are identical for any count.
    #[arg(long)]
    pub threads: Option<usize>,
    /// Print the summary as JSON on stdout.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub board: BoardArgs,
}

#[derive(Debug, clap::Args)]
pub struct MergeArgs {
    #[command(flatten)]
    pub analyze: AnalyzeArgs,
    #[command(flatten)]
    pub board: BoardArgs,
}

#[derive(Debug, clap::Args)]
pub struct GainArgs {
    /// Output directory: reads OUT/merged/ (unless --merged), writes
    /// gain_constants.parquet, calo_channel_status.parquet, tracker_channel_status.parquet.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Directory of merged files (merged_FIRST-LAST.root) from `gm2dqc merge`.
    #[arg(long, value_name = "DIR")]
    pub merged: Option<PathBuf>,
    /// The cut file: fit range, minimum entries, constant limits, channel cuts
    /// (default: the built-in standard set).
    #[arg(long, value_name = "FILE")]
    pub cuts: Option<PathBuf>,
    /// Worker threads for the fits (default: all cores).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Print the summary as JSON on stdout.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub board: BoardArgs,
}

#[derive(Debug, clap::Args)]
pub struct DqcArgs {
    /// Output directory: reads OUT/subrun_metrics.parquet, writes
    /// subrun_status.parquet and run_summary.parquet.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// The cut file (default: the built-in standard set).
    #[arg(long, value_name = "FILE")]
    pub cuts: Option<PathBuf>,
    /// Print the per-run summary as JSON on stdout.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub board: BoardArgs,
}

#[derive(Debug, clap::Args)]
pub struct UploadArgs {
    /// Output directory of a finished analysis (gain and dqc stages done).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// The tag the constants and flags are uploaded to.
    #[arg(long, default_value = "dqc")]
    pub tag: String,
    /// Print what was written as JSON on stdout.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub board: BoardArgs,
}

impl BoardArgs {
    /// The job configuration of a stage writing into `out`.
    pub fn config(&self, out: &std::path::Path) -> JobConfig {
        JobConfig { out: out.to_path_buf(), db: self.db.clone(), dataset: self.dataset.clone(), board: true, ..JobConfig::default() }
    }
}

impl AnalyzeArgs {
    /// The job configuration of a pass over the files.
    pub fn config(&self, board: Option<&BoardArgs>) -> JobConfig {
        let mut c = board.map_or_else(JobConfig::default, |b| b.config(&self.out));
        c.out = self.out.clone();
        c.input = Some(self.input.clone());
        c.cuts = self.cuts.clone();
        c.reference_run = self.reference_run;
        c.intervals = self.intervals.clone();
        c.threads = self.threads;
        c.board = board.is_some();
        c
    }
}

/// Prints the notes of a dataset scan (identical copies set aside).
pub(super) fn print_scan_notes(job: &Job) {
    if super::quiet() {
        return;
    }
    if let Some(ds) = job.dataset() {
        for (copy, used) in &ds.identical_copies {
            eprintln!("note: {} is a byte-identical copy of {}: set aside", copy.display(), used.display());
        }
    }
}

/// `gm2dqc metrics`: the map stage alone.
pub fn metrics(args: MetricsArgs) -> anyhow::Result<Status> {
    let a = AnalyzeArgs { input: args.input, out: args.out, cuts: args.cuts, reference_run: None, intervals: Vec::new(), threads: args.threads, json: args.json };
    run_pass(&a, Some(&args.board), Work::Metrics, Stages::METRICS)
}

/// `gm2dqc merge`: the metrics and the hadd stage (one merged file per interval).
pub fn merge(args: MergeArgs) -> anyhow::Result<Status> {
    run_pass(&args.analyze, Some(&args.board), Work::Merge, Stages::MERGE)
}

/// One pass over the files (`metrics`, `merge`, `analyze`).
pub(super) fn run_pass(a: &AnalyzeArgs, board: Option<&BoardArgs>, work: Work, stages: Stages) -> anyhow::Result<Status> {
    let mut job = Job::open(a.config(board), work)?;
    print_scan_notes(&job);
    let r = job.pass(stages, &Bars::new())?;
    report::print_pass(a, &job, &r)?;
    Ok(r.status)
}

/// `gm2dqc gain`: the reduce, from the merged files.
pub fn gain(args: GainArgs) -> anyhow::Result<Status> {
    let mut cfg = args.board.config(&args.out);
    cfg.cuts = args.cuts.clone();
    cfg.merged = args.merged.clone();
    cfg.threads = args.threads;
    let mut job = Job::open(cfg, Work::Gain)?;
    let r = job.gain(&Bars::new())?;
    let stdout = std::io::stdout();
    let mut o = stdout.lock();
    let out = &args.out;
    if args.json {
        let j = serde_json::json!({
            "stage": Stage::Gain, "out": out.display().to_string(), "intervals": r.intervals,
            "gain_status": r.gain_status, "errors": r.errors, "seconds": r.seconds, "failed": r.failed,
        });
        serde_json::to_writer_pretty(&mut o, &j)?;
        writeln!(o)?;
    } else if !super::quiet() {
        writeln!(o, "fitted {} intervals from {} in {:.2} s", r.intervals.len(), r.merged_dir.display(), r.seconds)?;
        writeln!(o, "gain constants: {}", r.gain_status.iter().map(|(k, v)| format!("{k} {v}")).collect::<Vec<_>>().join(", "))?;
        for e in r.errors.iter().take(10) {
            writeln!(o, "  {e}")?;
        }
        writeln!(o, "tables written to {}/", out.display())?;
        if r.failed {
            writeln!(o, "FAILED: some merged files or fits failed (see above and {}/errors.txt); everything else was written", out.display())?;
        }
    }
    Ok(r.status)
}

/// `gm2dqc dqc`: the cut file applied to the metrics.
pub fn dqc(args: DqcArgs) -> anyhow::Result<Status> {
    let mut cfg = args.board.config(&args.out);
    cfg.cuts = args.cuts.clone();
    let mut job = Job::open(cfg, Work::Dqc)?;
    let r = job.dqc()?;
    let stdout = std::io::stdout();
    let mut o = stdout.lock();
    let ev = &r.evaluation;
    if args.json {
        serde_json::to_writer_pretty(&mut o, &super::cuts::evaluation_json(job.cuts(), ev))?;
        writeln!(o)?;
    } else if !super::quiet() {
        writeln!(o, "subrun flags with cuts {}: {} of {} subruns ok", job.cuts().label(), ev.ok.iter().filter(|x| **x).count(), ev.ok.len())?;
        super::cuts::print_summary(&mut o, ev)?;
        writeln!(o, "tables written to {}/", args.out.display())?;
    }
    Ok(r.status)
}

/// `gm2dqc upload`: the directory's constants, channel status, metrics and flags to
/// the conditions database, in one transaction.
pub fn upload(args: UploadArgs) -> anyhow::Result<Status> {
    let mut cfg = args.board.config(&args.out);
    cfg.tag = args.tag.clone();
    let mut job = Job::open(cfg, Work::Upload)?;
    let up = job.upload("")?;
    let stdout = std::io::stdout();
    let mut o = stdout.lock();
    if args.json {
        let mut j = report::upload_json(&up);
        j["stage"] = Stage::Upload.as_str().into();
        serde_json::to_writer_pretty(&mut o, &j)?;
        writeln!(o)?;
    } else if !super::quiet() {
        writeln!(o, "conditions database {}: {}", up.database, up.counts())?;
    }
    Ok(up.status)
}

#[derive(Debug, clap::Args)]
pub struct PlotsArgs {
    /// Output directory of an analysis: reads its tables and merged files, writes
    /// OUT/plots/ (PNG and SVG), OUT/report.html and OUT/elog.txt.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// The cut file whose cuts are drawn (default: the one the dqc stage used).
    #[arg(long, value_name = "FILE")]
    pub cuts: Option<PathBuf>,
    /// The conditions tag named in the titles and the report.
    #[arg(long)]
    pub tag: Option<String>,
    /// An in-fill fit to draw (in the last interval), as CALO:XTAL (calo 1-24, xtal
    /// 0-53); repeat for several. The worst chi2/ndf fits are drawn anyway.
    #[arg(long = "channel", value_name = "CALO:XTAL", value_parser = parse_channel)]
    pub channels: Vec<crate::plots::Channel>,
    /// How many of the worst chi2/ndf in-fill fits to draw.
    #[arg(long, default_value_t = 4)]
    pub worst: usize,
    /// Calorimeter maps for at most this many intervals (the last ones).
    #[arg(long, default_value_t = 6)]
    pub max_map_intervals: usize,
    /// Worker threads (default: all cores).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Print what was written as JSON on stdout.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub board: BoardArgs,
}

pub(super) fn parse_channel(s: &str) -> Result<crate::plots::Channel, String> {
    let bad = || format!("expected CALO:XTAL with calo 1-24 and xtal 0-53, got {s:?}");
    let (c, x) = s.split_once(':').ok_or_else(bad)?;
    let (c, x): (usize, usize) = (c.trim().parse().map_err(|_| bad())?, x.trim().parse().map_err(|_| bad())?);
    if (1..=crate::layout::N_CALOS).contains(&c) && x < crate::layout::XTALS_PER_CALO {
        Ok((c, x))
    } else {
        Err(bad())
    }
}

impl PlotsArgs {
    pub fn options(&self) -> PlotOptions {
        PlotOptions { channels: self.channels.clone(), worst: self.worst, max_map_intervals: self.max_map_intervals }
    }
}

/// `gm2dqc plots`: the standard plots, the report and the e-log entry.
pub fn plots(args: PlotsArgs) -> anyhow::Result<Status> {
    let mut cfg = args.board.config(&args.out);
    cfg.cuts = args.cuts.clone();
    cfg.tag = args.tag.clone().unwrap_or_default();
    cfg.threads = args.threads;
    cfg.plots = args.options();
    let mut job = Job::open(cfg, Work::Plots)?;
    let r = job.plots(&Bars::new())?;
    if args.json {
        let stdout = std::io::stdout();
        let mut o = stdout.lock();
        serde_json::to_writer_pretty(&mut o, &report::plots_json(&args.out, &r))?;
        writeln!(o)?;
    } else {
        report::print_plots(&r)?;
    }
    Ok(r.status)
}

