//! Command-line definitions and the code that runs each subcommand.
//!
//! The command line is one face of [`crate::job`]: each subcommand turns its flags
//! into a [`crate::job::JobConfig`], runs the job and prints its report. Flags are
//! documented where they are defined; `gm2dqc help <command>` prints them. The exit
//! code of every subcommand comes from [`crate::job::Status`] (0, 1, 2, 3).

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};

use crate::hist::Histogram;
use crate::inspect;
use crate::root::RootFile;

mod campaign;
mod cuts;
mod db;
mod export;
mod report;
mod serve;
mod stages;
mod shifter;

use crate::job::{Status, Work};

/// gm2dqc: data-quality control and gain calibration for g-2 style production files.
#[derive(Debug, Parser)]
#[command(name = "gm2dqc", version, about, long_about = None, propagate_version = true)]
pub struct Cli {
    /// No progress bars and no summaries: errors only (exit codes unchanged). Logs go
    /// to stderr as RUST_LOG says (e.g. RUST_LOG=info or RUST_LOG=gm2dqc=debug).
    #[arg(long, short, global = true)]
    pub quiet: bool,
    #[command(subcommand)]
    pub command: Command,
}

static QUIET: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Whether `--quiet` was given.
pub fn quiet() -> bool {
    QUIET.load(std::sync::atomic::Ordering::Relaxed)
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Simulate a small dataset and run every stage on it into ./gm2dqc-demo/ (the
    /// embedded SQLite database included), then print where the results are.
    ///
    /// Example: gm2dqc demo
    Demo(shifter::DemoArgs),
    /// The whole job on a dataset: the metrics, merge, gain and dqc stages in one pass
    /// over the files, then the standard plots, OUT/report.html and OUT/elog.txt, then
    /// the upload to the conditions database; every stage marked on the board.
    ///
    /// Resumable: killed at any point and started again, it finishes with the same
    /// results; an analysis already done for the same inputs and cut file is not redone.
    /// Exit code 0 when all went well, 1 when some input or fit failed (the rest is
    /// processed, written and uploaded), 2 for a usage or configuration error (or a
    /// held dataset, or another job on OUT), 3 when an output could not be written
    /// (nothing marked done; the same command redoes it).
    ///
    /// Example: gm2dqc run --input /data/run3B --cuts cuts/standard.toml --out out --tag run3B-v1
    Run(shifter::RunArgs),
    /// Discover a dataset: subrun files by run with sizes, files ignored, duplicates
    /// (an error naming both paths) and files that cannot be opened as ROOT.
    ///
    /// Example: gm2dqc scan --input /data/run3B
    Scan(shifter::ScanArgs),
    /// Stage: per-subrun metrics and channel status of a dataset (the map stage).
    ///
    /// Writes OUT/subrun_metrics.parquet, OUT/inputs.json (every file with its size and
    /// SHA-256) and OUT/errors.txt; marks scan and metrics on the board.
    ///
    /// Example: gm2dqc metrics --input /data/run3B --out out
    Metrics(stages::MetricsArgs),
    /// Stage: the hadd stage: one merged ROOT file per interval of validity
    /// (OUT/merged/merged_FIRST-LAST.root) holding everything the gain stage needs.
    /// Also writes the metrics, as the files are read anyway.
    ///
    /// Example: gm2dqc merge --input /data/run3B --out out --interval 15921-15930
    Merge(stages::MergeArgs),
    /// Stage: gain calibration from the merged files: in-fill fits, out-of-fill gains
    /// against the reference run, crystal and straw status per interval.
    ///
    /// Example: gm2dqc gain --out out --cuts cuts/standard.toml
    Gain(stages::GainArgs),
    /// Stage: apply a cut file to OUT/subrun_metrics.parquet: subrun flags and the
    /// per-run summary (OUT/subrun_status.parquet, OUT/run_summary.parquet).
    ///
    /// Example: gm2dqc dqc --out out --cuts cuts/standard.toml
    Dqc(stages::DqcArgs),
    /// Stage: the standard DQC and gain-calibration plots (PNG and SVG, in
    /// OUT/plots/), the self-contained report OUT/report.html and the e-log entry
    /// OUT/elog.txt, from an analysis output directory.
    ///
    /// Example: gm2dqc plots --out out --tag run3B-v1 --channel 5:17
    Plots(stages::PlotsArgs),
    /// Stage: upload the directory's constants, channel status, metrics and flags to
    /// the conditions database with their intervals of validity and provenance, in
    /// one transaction. Refuses results from different inputs or cut files.
    ///
    /// Example: gm2dqc upload --out out --db postgres://dqc@dbhost/conditions --tag run3B-v1
    Upload(stages::UploadArgs),
    /// Campaign: split a dataset into shards for a batch system (Slurm job array,
    /// HTCondor), write the job scripts into WORK, optionally submit them with the
    /// reduce after them. `--resubmit-failed` reruns only the shards without a result.
    ///
    /// Example: gm2dqc plan --input /data/run3B --shards 64 --out /scratch/run3B --cuts cuts/standard.toml --submit slurm
    ///
    /// Example: gm2dqc plan --out /scratch/run3B --resubmit-failed --submit slurm
    Plan(campaign::PlanArgs),
    /// Campaign: run one shard of a plan (the map stage over its files), writing its
    /// partial result into WORK/shards/. What the batch jobs run. Exit code 0 when the
    /// partial result was written (input problems are recorded in it for the reduce),
    /// 1 when it could not be, 2 for a usage error.
    ///
    /// Example: gm2dqc shard /scratch/run3B --index 17
    Shard(campaign::ShardArgs),
    /// Campaign: merge the shards' partial results (checked by checksum, each chunk
    /// once) into exactly what `gm2dqc run` gives, then the cuts, fits, plots, report
    /// and upload, into WORK/out. Refuses when shards are missing unless --allow-partial.
    ///
    /// Example: gm2dqc reduce /scratch/run3B --tag run3B-v1
    Reduce(campaign::ReduceArgs),
    /// The bookkeeping board: each dataset's stages (scan, metrics, merge, gain, dqc,
    /// plots, upload) as Done / TODO / In progress / Held / Skipped, who set them and
    /// when, from the conditions database, so every shifter sees the same board. With
    /// --campaign WORK: a campaign's shards (done, running, killed, failed, pending).
    ///
    /// Example: gm2dqc status --db out/conditions.sqlite
    ///
    /// Example: gm2dqc status --campaign /scratch/run3B
    ///
    /// Example: gm2dqc status set run3B gain held --note "waiting for the laser expert"
    Status(shifter::StatusArgs),
    /// List the objects in a ROOT file, or print one object's bins as JSON.
    ///
    /// Without --object: every object, recursively, with its path, class, title and
    /// entries. With --object PATH --json: one JSON object with the keys path, class,
    /// title, entries, axes, values, variances, errors (a stable format for scripts).
    Inspect(InspectArgs),
    /// Write a simulated dataset: one ROOT file per subrun in the production layout,
    /// with injected faults, and DIR/truth.json with what was injected.
    ///
    /// The same seed gives byte-identical files whatever the thread count.
    Simulate(SimulateArgs),
    /// Analyse a dataset: per-subrun metrics and channel status (the metrics stage),
    /// histogram sums per interval of validity (the merge stage), and the gain
    /// constants with the in-fill gain fits (the gain stage), in one pass over the files.
    ///
    /// Writes OUT/subrun_metrics.parquet, OUT/gain_constants.parquet,
    /// OUT/calo_channel_status.parquet, OUT/tracker_channel_status.parquet,
    /// OUT/subrun_status.parquet and OUT/run_summary.parquet (the cut file's flags),
    /// OUT/errors.txt (every input problem, one per line), OUT/inputs.json (every
    /// input file with its size and SHA-256) and OUT/summary.json.
    /// Exit code 0 when everything was read and every fit converged, 1 when some input
    /// or fit failed (everything else is still written), 2 for a configuration error
    /// (found before any file is read), 3 when an output could not be written.
    ///
    /// Example: gm2dqc analyze --input sim --out out --threads 2
    Analyze(AnalyzeArgs),
    /// Cut files: check one, apply one to a metrics table (what-if), compare two.
    #[command(subcommand)]
    Cuts(cuts::CutsCommand),
    /// The conditions database: upload an analysis, read constants for a run and
    /// subrun (as of any earlier time), list and lock tags, show history.
    ///
    /// The database is --db URL, else $GM2DQC_DB, else the embedded SQLite file
    /// (OUT/conditions.sqlite for `upload --from OUT`, conditions.sqlite here otherwise):
    /// postgres://user@host/db for PostgreSQL, a path (or sqlite:PATH) for SQLite.
    Db(db::DbArgs),
    /// Export the conditions database's contents for other systems: `export condb`
    /// writes a tag as ConDB JSON files, one per interval of validity.
    #[command(subcommand)]
    Export(export::ExportCommand),
    /// The web application: the board (set cells, sign off), every dataset's subruns,
    /// plots and histograms (drawn live with JSROOT), cut tuning, and the JSON API;
    /// `serve user add NAME --role ROLE` makes an account.
    ///
    /// Example: gm2dqc serve --db out/conditions.sqlite --listen 127.0.0.1:8080
    Serve(serve::ServeArgs),
    /// Print a shell completion script: `gm2dqc completions bash > ~/.local/share/bash-completion/completions/gm2dqc`.
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}

#[derive(Debug, clap::Args)]
pub struct AnalyzeArgs {
    /// The dataset: a directory of subrun files (searched recursively) or a text file
    /// listing one path per line.
    #[arg(long, value_name = "DATASET")]
    pub input: PathBuf,
    /// Output directory (created if missing; tables in it are replaced).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// The cut file: flags, channel cuts, fit range, reference run, intervals
    /// (default: the built-in cuts/standard.toml). Checked before any file is read.
    #[arg(long, value_name = "FILE")]
    pub cuts: Option<PathBuf>,
    /// Gain reference run (default: the cut file's, else the first run of the dataset).
    #[arg(long, value_name = "RUN")]
    pub reference_run: Option<u32>,
    /// An interval of validity as an inclusive run range FIRST-LAST; repeat for several.
    /// Default: the cut file's intervals, else one interval per run.
    #[arg(long = "interval", value_name = "FIRST-LAST", value_parser = parse_run_range)]
    pub intervals: Vec<(u32, u32)>,
    /// Worker threads (default: all cores). Results are identical for any count.
    #[arg(long)]
    pub threads: Option<usize>,
    /// Print the summary as JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

fn parse_run_range(s: &str) -> Result<(u32, u32), String> {
    let bad = || format!("expected FIRST-LAST (two run numbers), got {s:?}");
    let (a, b) = s.split_once('-').ok_or_else(bad)?;
    Ok((a.trim().parse().map_err(|_| bad())?, b.trim().parse().map_err(|_| bad())?))
}

#[derive(Debug, clap::Args)]
pub struct SimulateArgs {
    /// Output directory (created if missing).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Number of runs.
    #[arg(long, default_value_t = 2)]
    pub runs: u32,
    /// Subruns per run (numbered from 1).
    #[arg(long, default_value_t = 20)]
    pub subruns: u32,
    /// Random seed: the same seed gives the same dataset.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Number of the first run.
    #[arg(long, default_value_t = 15921)]
    pub first_run: u32,
    /// File compression: none, zlib, lz4, zstd, lzma (optionally ALG:LEVEL), or mixed
    /// (a different one per file).
    #[arg(long, default_value = "zstd", value_parser = parse_compression_choice)]
    pub compression: crate::simulate::CompressionChoice,
    /// File name prefix: files are named PREFIX_RUN.SUBRUN.root.
    #[arg(long, default_value = "gm2dqc_sim")]
    pub prefix: String,
    /// Faults to inject: "standard" (every kind), "none" (a clean dataset: no bad
    /// subruns, no dead, hot or noisy channels), or a comma-separated list of kinds
    /// (low_fills, low_fill_fraction, low_ctags, very_low_ctags, t0_shift,
    /// kicker_amplitude, quad_step1, high_losses, laser_source_monitor, dead_crystals,
    /// hv_trip, dead_straws).
    #[arg(long, default_value = "standard", value_parser = parse_faults)]
    pub faults: FaultList,
    /// Fraction of subruns made bad, each with one cause.
    #[arg(long, default_value_t = 0.3)]
    pub fault_rate: f64,
    /// Worker threads (default: all cores).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Overwrite a dataset already in --out.
    #[arg(long)]
    pub force: bool,
}

/// The parsed value of --faults.
#[derive(Debug, Clone)]
pub struct FaultList(pub Vec<crate::simulate::FaultKind>);

fn parse_faults(s: &str) -> Result<FaultList, String> {
    use clap::ValueEnum;
    use crate::simulate::FaultKind;
    match s {
        "standard" | "all" => return Ok(FaultList(FaultKind::ALL.to_vec())),
        "none" => return Ok(FaultList(Vec::new())),
        _ => {}
    }
    s.split(',')
        .map(|k| FaultKind::from_str(k.trim(), true).map_err(|_| format!("unknown fault kind {k:?}; see `gm2dqc help simulate`")))
        .collect::<Result<Vec<_>, _>>()
        .map(FaultList)
}

fn parse_compression_choice(s: &str) -> Result<crate::simulate::CompressionChoice, String> {
    s.parse()
}

#[derive(Debug, clap::Args)]
pub struct InspectArgs {
    /// The ROOT file to read.
    pub file: PathBuf,
    /// Path of one object inside the file, directories joined by '/', optionally with
    /// a cycle ("laser/inFill/calo1/xtal0", "h;2"). The highest cycle by default.
    #[arg(long, value_name = "PATH")]
    pub object: Option<String>,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// Runs the parsed command line.
pub fn run(cli: Cli) -> anyhow::Result<Status> {
    QUIET.store(cli.quiet, std::sync::atomic::Ordering::Relaxed);
    match cli.command {
        Command::Inspect(args) => run_inspect(args),
        Command::Simulate(args) => run_simulate(args),
        Command::Analyze(args) => stages::run_pass(&args, None, Work::Analyze, crate::pipeline::Stages::ALL),
        Command::Cuts(cmd) => cuts::run(cmd),
        Command::Db(args) => db::run(args),
        Command::Export(cmd) => export::run(cmd),
        Command::Serve(args) => serve::run(args),
        Command::Demo(args) => shifter::demo(args),
        Command::Run(args) => shifter::run(args),
        Command::Scan(args) => shifter::scan(args),
        Command::Status(args) => shifter::status(args),
        Command::Plan(args) => campaign::plan(args),
        Command::Shard(args) => campaign::shard(args),
        Command::Reduce(args) => campaign::reduce(args),
        Command::Metrics(args) => stages::metrics(args),
        Command::Merge(args) => stages::merge(args),
        Command::Gain(args) => stages::gain(args),
        Command::Dqc(args) => stages::dqc(args),
        Command::Upload(args) => stages::upload(args),
        Command::Plots(args) => stages::plots(args),
        Command::Completions { shell } => {
            use clap::CommandFactory;
            clap_complete::generate(shell, &mut Cli::command(), "gm2dqc", &mut std::io::stdout());
            Ok(Status::Ok)
        }
    }
}

fn run_simulate(args: SimulateArgs) -> anyhow::Result<Status> {
    use crate::simulate::{simulate, SimConfig};
    let mut cfg = SimConfig::new(&args.out, args.runs, args.subruns, args.seed);
    cfg.first_run = args.first_run;
    cfg.compression = args.compression;
    cfg.prefix = args.prefix;
    cfg.faults = args.faults.0;
    cfg.fault_rate = args.fault_rate;
    cfg.force = args.force;
    let total = u64::from(args.runs) * u64::from(args.subruns);
    let bar = progress_bar(total, "simulating");
    let pool = rayon::ThreadPoolBuilder::new().num_threads(args.threads.unwrap_or(0)).build()?;
    let summary = pool.install(|| simulate(&cfg, &|n| bar.inc(n)))?;
    bar.finish_and_clear();
    if quiet() {
        return Ok(Status::Ok);
    }
    println!(
        "wrote {} subrun files ({:.1} MB) and {} in {:.1} s; {} bad subruns injected",
        summary.files,
        summary.bytes as f64 / 1e6,
        summary.truth_path.display(),
        summary.seconds,
        summary.bad_subruns
    );
    Ok(Status::Ok)
}

/// Prints an error that ended a command: a cut file's diagnostics one per line, else
/// the error with its causes.
pub fn report_error(e: &anyhow::Error) {
    if let Some(crate::job::JobError::Cuts(crate::cuts::CutFileError::Invalid(diags))) = e.downcast_ref::<crate::job::JobError>() {
        for d in diags {
            eprintln!("{d}");
        }
        eprintln!("{} problem(s) in the cut file; nothing was evaluated", diags.len());
        return;
    }
    eprintln!("error: {e:#}");
}

/// A progress bar with rate and ETA on stderr; hidden when stderr is not a terminal.
pub fn progress_bar(len: u64, what: &str) -> indicatif::ProgressBar {
    progress_bar_of(len, what, "files")
}

/// A progress bar counting `unit`s.
pub fn progress_bar_of(len: u64, what: &str, unit: &str) -> indicatif::ProgressBar {
    if quiet() {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(len);
    bar.set_style(
        indicatif::ProgressStyle::with_template(&format!("{{msg}} [{{bar:40}}] {{pos}}/{{len}} {unit}, {{per_sec}}, ETA {{eta}}"))
            .expect("valid template")
            .progress_chars("=> "),
    );
    bar.set_message(what.to_string());
    bar
}

fn run_inspect(args: InspectArgs) -> anyhow::Result<Status> {
    let file = RootFile::open(&args.file)?;
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    if let Some(path) = &args.object {
        let raw = file.hist(path)?;
        let h = Histogram::from_raw(raw)
            .with_context(|| format!("{}: object '{path}'", args.file.display()))?;
        let j = inspect::object_json(&h, path);
        if args.json {
            serde_json::to_writer(&mut out, &j)?;
            writeln!(out)?;
        } else {
            writeln!(out, "path:    {}", j.path)?;
            writeln!(out, "class:   {}", j.class)?;
            writeln!(out, "title:   {}", j.title)?;
            writeln!(out, "entries: {}", j.entries)?;
            for (i, a) in h.axes().iter().enumerate() {
                writeln!(out, "axis {}:  {} ({})", ["x", "y"][i.min(1)], a.describe(), a.title)?;
            }
            writeln!(out, "cells:   {} (flow included; use --json for the values)", j.values.len())?;
        }
        return Ok(Status::Ok);
    }
    let (listing, errors) = inspect::list(&file);
    if args.json {
        serde_json::to_writer_pretty(&mut out, &listing)?;
        writeln!(out)?;
    } else {
        let h = file.header();
        writeln!(
            out,
            "{}: ROOT {} file, {} bytes, compression {}",
            args.file.display(),
            h.version,
            file.len(),
            crate::root::Compression::from_fcompress(h.compress).map_or_else(|| h.compress.to_string(), |c| c.to_string())
        )?;
        let w = listing.iter().map(|l| l.path.len() + 4).max().unwrap_or(0).clamp(10, 60);
        writeln!(out, "{:<w$}  {:<12}  {:>12}  title", "path;cycle", "class", "entries")?;
        for l in &listing {
            let p = format!("{};{}", l.path, l.cycle);
            let e = l.entries.map_or_else(|| "-".to_string(), |e| format!("{e}"));
            writeln!(out, "{p:<w$}  {:<12}  {e:>12}  {}", l.class, l.title)?;
        }
    }
    drop(out);
    for e in &errors {
        eprintln!("error: {e}");
    }
    Ok(Status::from_failed(!errors.is_empty()))
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_valid() {
        super::Cli::command().debug_assert();
    }
}
