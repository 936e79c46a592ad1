//! The pipeline stages as subcommands, each usable alone: `metrics` and `merge` read
//! the subrun files (map), `gain` fits the merged files (reduce), `dqc` applies a cut
//! file to the metrics, `upload` stores the results. Each records itself in
//! `OUT/manifest.json` and on the bookkeeping board.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::Context;

use super::analyze::{pass, Print};
use super::manifest::{Manifest, StageRecord};
use super::AnalyzeArgs;
use crate::analysis::interval::GainStatus;
use crate::analysis::merged;
use crate::db::board::{self, State};
use crate::pipeline::{self, Stages};
use crate::tables;

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

/// The board, open for one dataset.
pub(super) struct Board {
    b: Box<dyn crate::db::Backend>,
    pub dataset: String,
    pub url: String,
}

impl Board {
    pub fn open(args: &BoardArgs, out: &Path, fallback: &str) -> anyhow::Result<Board> {
        let url = super::db::resolve_url(args.db.as_deref(), &out.join("conditions.sqlite"));
        let manifest = Manifest::load(out).unwrap_or_default();
        let dataset = args.dataset.clone().unwrap_or_else(|| if manifest.dataset.is_empty() { fallback.to_string() } else { manifest.dataset });
        std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
        let b = crate::db::open(&url)?;
        Ok(Board { b, dataset, url })
    }

    pub fn set(&mut self, stages: &[&str], state: State, note: &str) -> anyhow::Result<()> {
        let layout = board::Layout::gm2dqc();
        for st in stages {
            let stage: crate::job::Stage = st.parse()?;
            board::set(self.b.as_mut(), &layout, &board::SetRequest::new(self.dataset.clone(), stage, state, note).new_dataset())?;
        }
        Ok(())
    }

    /// Marks `stages` by exit code: Done (with a note when something failed) or TODO
    /// after a configuration error.
    pub fn finish(&mut self, stages: &[&str], code: u8, out: &Path) -> anyhow::Result<()> {
        match code {
            0 => self.set(stages, State::Done, ""),
            1 => self.set(stages, State::Done, &format!("some inputs or fits failed: {}", out.join("errors.txt").display())),
            _ => self.set(stages, State::Todo, "configuration error: see the command's output"),
        }
    }

    pub fn backend(&mut self) -> &mut dyn crate::db::Backend {
        self.b.as_mut()
    }
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

/// Whether a file a stage reads is there; if not, says what to run (exit code 2 for
/// the caller), before anything is created: a mistyped --out makes no directory.
fn present(path: &Path, run_first: &str) -> bool {
    if path.exists() {
        return true;
    }
    eprintln!("error: {}: not found; run `{run_first}` first", path.display());
    false
}

/// `gm2dqc metrics`: the map stage alone.
pub fn metrics(args: MetricsArgs) -> anyhow::Result<ExitCode> {
    let a = AnalyzeArgs { input: args.input, out: args.out, cuts: args.cuts, reference_run: None, intervals: Vec::new(), threads: args.threads, json: args.json };
    run_pass(&a, &args.board, Stages::METRICS, &["scan", "metrics"])
}

/// `gm2dqc merge`: the metrics and the hadd stage (one merged file per interval).
pub fn merge(args: MergeArgs) -> anyhow::Result<ExitCode> {
    run_pass(&args.analyze, &args.board, Stages::MERGE, &["scan", "metrics", "merge"])
}

fn run_pass(a: &AnalyzeArgs, board: &BoardArgs, stages: Stages, names: &[&str]) -> anyhow::Result<ExitCode> {
    let mut b = Board::open(board, &a.out, &super::manifest::dataset_name(&a.input))?;
    b.set(names, State::InProgress, "")?;
    let code = pass(a, stages, Print::Summary)?;
    b.finish(names, code, &a.out)?;
    Ok(ExitCode::from(code))
}

/// `gm2dqc gain`: the reduce, from the merged files.
pub fn gain(args: GainArgs) -> anyhow::Result<ExitCode> {
    let out = &args.out;
    let Some(cutfile) = super::cuts::load_or_report(args.cuts.as_deref()) else { return Ok(ExitCode::from(2)) };
    let merged_dir = args.merged.clone().unwrap_or_else(|| out.join("merged"));
    let files = match merged::list(&merged_dir) {
        Ok(f) if !f.is_empty() => f,
        Ok(_) => {
            eprintln!("error: {}: no merged files (merged_FIRST-LAST.root); run `gm2dqc merge --input DATASET --out {}` first", merged_dir.display(), out.display());
            return Ok(ExitCode::from(2));
        }
        Err(e) => {
            eprintln!("error: {}: no merged files ({e}); run `gm2dqc merge --input DATASET --out {}` first", merged_dir.display(), out.display());
            return Ok(ExitCode::from(2));
        }
    };
    let mut b = Board::open(&args.board, out, "unknown")?;
    b.set(&["gain"], State::InProgress, "")?;
    let cfg = cutfile.config();
    let pool = rayon::ThreadPoolBuilder::new().num_threads(args.threads.unwrap_or(0)).build()?;
    let t0 = Instant::now();
    let bar = super::progress_bar(files.len() as u64, "fitting intervals");
    let mut intervals = Vec::new();
    let mut errors = Vec::new();
    // One interval at a time (its 1296 fits in parallel): memory holds one interval.
    for f in &files {
        match merged::read(f) {
            Ok(m) => intervals.push(pool.install(|| pipeline::reduce(&m, &cfg))),
            Err(e) => {
                tracing::warn!("{e}");
                errors.push(e.to_string());
            }
        }
        bar.inc(1);
    }
    bar.finish_and_clear();
    super::analyze::write_interval_tables(out, &intervals)?;
    let fit_failed = intervals.iter().flat_map(|i| &i.gains).filter(|g| g.status == GainStatus::FitFailed).count();
    let failed = !errors.is_empty() || fit_failed > 0;
    let mut manifest = Manifest::load(out)?;
    // The constants come from the inputs the merge stage summed.
    let inputs = manifest.stages.get("merge").map(|r| r.inputs_sha256.clone()).unwrap_or_default();
    manifest.record("gain", StageRecord::new(&cutfile, &inputs, failed, errors.clone()));
    manifest.save(out)?;
    let code = u8::from(failed);
    b.finish(&["gain"], code, out)?;
    let counts: std::collections::BTreeMap<&str, usize> =
        GainStatus::ALL.iter().map(|&s| (s.as_str(), intervals.iter().flat_map(|i| &i.gains).filter(|g| g.status == s).count())).collect();
    let stdout = std::io::stdout();
    let mut o = stdout.lock();
    if args.json {
        let j = serde_json::json!({
            "stage": "gain", "out": out.display().to_string(), "intervals": intervals.iter().map(|i| (i.run_first, i.run_last)).collect::<Vec<_>>(),
            "gain_status": counts, "errors": errors, "seconds": t0.elapsed().as_secs_f64(), "failed": failed,
        });
        serde_json::to_writer_pretty(&mut o, &j)?;
        writeln!(o)?;
    } else if !super::quiet() {
        writeln!(o, "fitted {} intervals from {} in {:.2} s", intervals.len(), merged_dir.display(), t0.elapsed().as_secs_f64())?;
        writeln!(o, "gain constants: {}", counts.iter().map(|(k, v)| format!("{k} {v}")).collect::<Vec<_>>().join(", "))?;
        for e in errors.iter().take(10) {
            writeln!(o, "  {e}")?;
        }
        writeln!(o, "tables written to {}/", out.display())?;
        if failed {
            writeln!(o, "FAILED: some merged files or fits failed (see above and {}/errors.txt); everything else was written", out.display())?;
        }
    }
    Ok(ExitCode::from(code))
}

/// `gm2dqc dqc`: the cut file applied to the metrics.
pub fn dqc(args: DqcArgs) -> anyhow::Result<ExitCode> {
    let out = &args.out;
    let Some(cutfile) = super::cuts::load_or_report(args.cuts.as_deref()) else { return Ok(ExitCode::from(2)) };
    let metrics_path = out.join("subrun_metrics.parquet");
    let mut manifest = Manifest::load(out)?;
    let inputs = match (manifest.stages.get("metrics"), metrics_path.exists()) {
        (Some(r), true) => r.inputs_sha256.clone(),
        _ => {
            eprintln!("error: {}: no metrics; run `gm2dqc metrics --input DATASET --out {}` first", metrics_path.display(), out.display());
            return Ok(ExitCode::from(2));
        }
    };
    let mut b = Board::open(&args.board, out, "unknown")?;
    b.set(&["dqc"], State::InProgress, "")?;
    let df = tables::read_parquet(&metrics_path)?;
    let ev = crate::cuts::eval::evaluate(&cutfile, &df).with_context(|| format!("applying {} to {}", cutfile.label(), metrics_path.display()))?;
    super::analyze::write_flag_tables(out, &ev)?;
    manifest.record("dqc", StageRecord::new(&cutfile, &inputs, false, Vec::new()));
    manifest.save(out)?;
    b.finish(&["dqc"], 0, out)?;
    let stdout = std::io::stdout();
    let mut o = stdout.lock();
    let good = ev.ok.iter().filter(|x| **x).count();
    if args.json {
        serde_json::to_writer_pretty(&mut o, &super::cuts::evaluation_json(&cutfile, &ev))?;
        writeln!(o)?;
    } else if !super::quiet() {
        writeln!(o, "subrun flags with cuts {}: {good} of {} subruns ok", cutfile.label(), ev.ok.len())?;
        super::cuts::print_summary(&mut o, &ev)?;
        writeln!(o, "tables written to {}/", out.display())?;
    }
    Ok(ExitCode::SUCCESS)
}

/// `gm2dqc upload`: the directory's constants, channel status, metrics and flags to
/// the conditions database, in one transaction.
pub fn upload(args: UploadArgs) -> anyhow::Result<ExitCode> {
    let out = &args.out;
    if !present(&Manifest::path(out), "gm2dqc run --input DATASET --out OUT (or the stages one by one)") {
        return Ok(ExitCode::from(2));
    }
    let mut b = Board::open(&args.board, out, "unknown")?;
    let up = upload_job(&mut b, out, &args.tag, "")?;
    let stdout = std::io::stdout();
    let mut o = stdout.lock();
    if args.json {
        let mut j = up.json;
        j["stage"] = "upload".into();
        serde_json::to_writer_pretty(&mut o, &j)?;
        writeln!(o)?;
    } else if !super::quiet() {
        writeln!(o, "{}", up.line)?;
    }
    Ok(ExitCode::SUCCESS)
}

/// What an upload wrote.
pub(super) struct Uploaded {
    /// The database, the tag and per folder the intervals written and already current.
    pub json: serde_json::Value,
    /// The same in one line for the terminal.
    pub line: String,
}

/// The upload stage on an open board: In progress (with `note`), then Done with the
/// counts, or TODO with the error when the upload failed.
pub(super) fn upload_job(b: &mut Board, out: &Path, tag: &str, note: &str) -> anyhow::Result<Uploaded> {
    b.set(&["upload"], State::InProgress, note)?;
    let reports = match super::db::upload_outputs(b.backend(), out, tag) {
        Ok(r) => r,
        Err(e) => {
            b.set(&["upload"], State::Todo, &format!("upload failed: {e}"))?;
            return Err(e);
        }
    };
    let written: usize = reports.iter().map(|(_, r)| r.written).sum();
    let unchanged: usize = reports.iter().map(|(_, r)| r.unchanged).sum();
    let counts = format!("tag {tag}: {written} intervals written, {unchanged} already current");
    b.set(&["upload"], State::Done, &counts)?;
    let folders: serde_json::Map<String, serde_json::Value> =
        reports.iter().map(|(n, r)| (n.to_string(), serde_json::json!({"written": r.written, "unchanged": r.unchanged}))).collect();
    Ok(Uploaded { json: serde_json::json!({"database": b.url, "tag": tag, "folders": folders}), line: format!("conditions database {}: {counts}", b.url) })
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

/// The cut file for the plots: --cuts, else the one the dqc stage recorded (the
/// built-in standard set, or its file when it is still there, unchanged).
fn plot_cuts(args: &PlotsArgs, manifest: &Manifest) -> Option<crate::cuts::CutFile> {
    if args.cuts.is_some() {
        return super::cuts::load_or_report(args.cuts.as_deref());
    }
    let Some(dqc) = manifest.stages.get("dqc") else { return Some(crate::cuts::standard()) };
    let standard = crate::cuts::standard();
    if dqc.cuts_sha256 == standard.sha256 {
        return Some(standard);
    }
    match crate::cuts::load(Path::new(&dqc.cuts)) {
        Ok(c) if c.sha256 == dqc.cuts_sha256 => Some(c),
        _ => {
            eprintln!("error: the dqc stage used cut file {} (sha256 {}), which is no longer there unchanged; give it with --cuts FILE", dqc.cuts, &dqc.cuts_sha256[..12]);
            None
        }
    }
}

/// `gm2dqc plots`: the standard plots, the report and the e-log entry.
pub fn plots(args: PlotsArgs) -> anyhow::Result<ExitCode> {
    if !present(&args.out.join("subrun_metrics.parquet"), "gm2dqc run --input DATASET --out OUT (or the stages one by one)") {
        return Ok(ExitCode::from(2));
    }
    let manifest = Manifest::load(&args.out)?;
    let Some(cutfile) = plot_cuts(&args, &manifest) else { return Ok(ExitCode::from(2)) };
    let mut b = Board::open(&args.board, &args.out, "unknown")?;
    let (code, _) = plots_job(&args, cutfile, &mut b, true)?;
    Ok(ExitCode::from(code))
}

/// The plots stage on an open board; prints its summary when `print`. Returns the
/// exit code and the summary as JSON.
pub(super) fn plots_job(args: &PlotsArgs, cutfile: crate::cuts::CutFile, b: &mut Board, print: bool) -> anyhow::Result<(u8, serde_json::Value)> {
    let out = &args.out;
    let mut manifest = Manifest::load(out)?;
    b.set(&["plots"], State::InProgress, "")?;
    let t0 = Instant::now();
    let inputs = match crate::plots::load(out, cutfile.clone(), &b.dataset, args.tag.clone(), &args.channels, args.worst) {
        Ok(i) => i,
        Err(e) => {
            b.set(&["plots"], State::Todo, &format!("{e}"))?;
            eprintln!("error: {e}");
            return Ok((2, serde_json::Value::Null));
        }
    };
    let specs = crate::plots::standard_set(&inputs, args.max_map_intervals);
    let dir = out.join("plots");
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let pool = rayon::ThreadPoolBuilder::new().num_threads(args.threads.unwrap_or(0)).build()?;
    let bar = if print { super::progress_bar(specs.len() as u64, "plotting") } else { indicatif::ProgressBar::hidden() };
    let (rendered, plot_errors) = pool.install(|| crate::plots::render_all(&inputs, &specs, &dir, &|n| bar.inc(n)));
    bar.finish_and_clear();
    // The input problems of the stages before (an earlier plots run's are replaced).
    let errors: Vec<String> = manifest.errors(Some("plots")).into_iter().map(String::from).collect();
    let info = crate::plots::report::RunInfo {
        software: crate::software(),
        stages: crate::db::board::stage_names().into_iter().filter(|s| *s != "plots").filter_map(|s| manifest.stages.get(s).map(|r| (s.to_string(), r.finished.clone(), r.failed))).collect(),
        errors,
        plot_errors: plot_errors.clone(),
        generated: crate::db::time::now_text(),
    };
    crate::plots::report::write_html(out, &inputs, &rendered, &info, "plots").with_context(|| format!("writing {}", out.join("report.html").display()))?;
    let elog = crate::plots::report::write_elog(out, &inputs, &rendered, &info).with_context(|| format!("writing {}", out.join("elog.txt").display()))?;
    let failed = !plot_errors.is_empty();
    let inputs_key = manifest.stages.get("dqc").map(|r| r.inputs_sha256.clone()).unwrap_or_default();
    manifest.record("plots", StageRecord::new(&cutfile, &inputs_key, failed, plot_errors.clone()));
    manifest.save(out)?;
    let code = u8::from(failed);
    b.finish(&["plots"], code, out)?;
    let seconds = t0.elapsed().as_secs_f64();
    let j = serde_json::json!({
        "stage": "plots", "out": out.display().to_string(), "pages": rendered.len(), "seconds": seconds,
        "plots": rendered.iter().map(|r| serde_json::json!({"name": r.spec.name, "title": r.spec.title, "png": r.png.display().to_string(), "svg": r.svg.display().to_string()})).collect::<Vec<_>>(),
        "report": out.join("report.html").display().to_string(), "elog": out.join("elog.txt").display().to_string(),
        "errors": plot_errors, "notes": inputs.notes, "failed": failed,
    });
    if !print {
        return Ok((code, j));
    }
    let stdout = std::io::stdout();
    let mut o = stdout.lock();
    if args.json {
        serde_json::to_writer_pretty(&mut o, &j)?;
        writeln!(o)?;
    } else if !super::quiet() {
        writeln!(o, "rendered {} plots (PNG and SVG) in {:.2} s into {}/", rendered.len(), seconds, dir.display())?;
        for n in &inputs.notes {
            writeln!(o, "  note: {n}")?;
        }
        for e in &plot_errors {
            writeln!(o, "  {e}")?;
        }
        writeln!(o, "report: {}", out.join("report.html").display())?;
        writeln!(o, "e-log entry: {} ({})", out.join("elog.txt").display(), elog.lines().next().unwrap_or_default())?;
    }
    Ok((code, j))
}
