//! The shifter's commands: `scan` a dataset, `run` the whole job, `demo`.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use rayon::prelude::*;

use super::analyze::{pass, Print};
use super::manifest::Manifest;
use super::stages::{plots_job, upload_job, Board, BoardArgs, PlotsArgs};
use super::{AnalyzeArgs, SimulateArgs};
use crate::db::board::State;
use crate::pipeline::Stages;
use crate::dataset;
use crate::root::RootFile;

#[derive(Debug, clap::Args)]
pub struct ScanArgs {
    /// A directory of subrun files (searched recursively) or a list file.
    #[arg(long, value_name = "DATASET")]
    pub input: PathBuf,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Worker threads for opening the files (default: all cores).
    #[arg(long)]
    pub threads: Option<usize>,
}

#[derive(Debug, clap::Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub analyze: AnalyzeArgs,
    /// The tag the constants and flags are uploaded to.
    #[arg(long, default_value = "dqc")]
    pub tag: String,
    /// An in-fill fit to draw besides the worst ones, as CALO:XTAL; repeatable.
    #[arg(long = "channel", value_name = "CALO:XTAL", value_parser = super::stages::parse_channel)]
    pub channels: Vec<crate::plots::Channel>,
    #[command(flatten)]
    pub board: BoardArgs,
}

#[derive(Debug, clap::Args)]
pub struct StatusArgs {
    /// The conditions database holding the board (default: $GM2DQC_DB, else
    /// conditions.sqlite here).
    #[arg(long, global = true, value_name = "URL")]
    pub db: Option<String>,
    /// Print the board as JSON.
    #[arg(long)]
    pub json: bool,
    /// Show a campaign's shards instead (done, running, killed, failed, pending):
    /// the work directory of `gm2dqc plan`.
    #[arg(long, value_name = "WORK")]
    pub campaign: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Option<StatusCommand>,
}

#[derive(Debug, clap::Subcommand)]
pub enum StatusCommand {
    /// Set a stage's state by hand, as the checklist asks (for example held).
    ///
    /// Example: gm2dqc status set run3B gain held --note "laser run missing, ask the calo expert"
    Set {
        dataset: String,
        /// scan, metrics, merge, gain, dqc, plots, upload
        stage: String,
        state: crate::db::board::State,
        #[arg(long, default_value = "")]
        note: String,
    },
}

#[derive(Debug, clap::Args)]
pub struct DemoArgs {
    /// Where the demo writes its dataset (DIR/data) and results (DIR/out).
    #[arg(long, default_value = "gm2dqc-demo")]
    pub dir: PathBuf,
    /// Worker threads (default: all cores).
    #[arg(long)]
    pub threads: Option<usize>,
}

/// `gm2dqc scan`: what a dataset holds, and what is wrong with it, before any analysis.
pub fn scan(args: ScanArgs) -> anyhow::Result<ExitCode> {
    let ds = match dataset::scan(&args.input) {
        Ok(ds) => ds,
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(ExitCode::from(2));
        }
    };
    let pool = rayon::ThreadPoolBuilder::new().num_threads(args.threads.unwrap_or(0)).build()?;
    // Unreadable: the file cannot be opened as ROOT (header, key list).
    let unreadable: Vec<(String, String)> = pool.install(|| {
        ds.files.par_iter().filter_map(|f| RootFile::open(&f.path).err().map(|e| (f.path.display().to_string(), e.to_string()))).collect()
    });
    let mut runs: std::collections::BTreeMap<u32, (usize, u64)> = Default::default();
    for f in &ds.files {
        let e = runs.entry(f.id.run).or_default();
        e.0 += 1;
        e.1 += f.size;
    }
    let stdout = std::io::stdout();
    let mut o = stdout.lock();
    if args.json {
        let j = serde_json::json!({
            "dataset": args.input.display().to_string(),
            "files": ds.files.len(),
            "bytes": ds.bytes(),
            "runs": runs.iter().map(|(r, (n, b))| serde_json::json!({"run": r, "subruns": n, "bytes": b})).collect::<Vec<_>>(),
            "ignored": ds.ignored.iter().map(|p| p.display().to_string()).collect::<Vec<_>>(),
            "identical_copies": ds.identical_copies.iter().map(|(c, u)| serde_json::json!({"copy": c.display().to_string(), "used": u.display().to_string()})).collect::<Vec<_>>(),
            "unreadable": unreadable.iter().map(|(p, e)| serde_json::json!({"file": p, "error": e})).collect::<Vec<_>>(),
        });
        serde_json::to_writer_pretty(&mut o, &j)?;
        writeln!(o)?;
    } else {
        writeln!(o, "{}: {} subrun files, {} runs, {:.1} MB", args.input.display(), ds.files.len(), runs.len(), ds.bytes() as f64 / 1e6)?;
        writeln!(o, "{:>8} {:>8} {:>10}", "run", "subruns", "MB")?;
        for (r, (n, b)) in &runs {
            writeln!(o, "{r:>8} {n:>8} {:>10.1}", *b as f64 / 1e6)?;
        }
        if !ds.ignored.is_empty() {
            writeln!(o, "{} files ignored (not named <prefix>_<run>.<subrun>.root):", ds.ignored.len())?;
            for p in &ds.ignored {
                writeln!(o, "  {}", p.display())?;
            }
        }
        for (c, u) in &ds.identical_copies {
            writeln!(o, "identical copy set aside: {} (same bytes as {})", c.display(), u.display())?;
        }
        for (p, e) in &unreadable {
            writeln!(o, "unreadable: {p}: {e}")?;
        }
    }
    Ok(if unreadable.is_empty() { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

/// `gm2dqc run`: analyze, then upload.
pub fn run(args: RunArgs) -> anyhow::Result<ExitCode> {
    Ok(ExitCode::from(run_job(&args)?))
}

fn run_job(args: &RunArgs) -> anyhow::Result<u8> {
    let out = &args.analyze.out;
    let mut b = Board::open(&args.board, out, &super::manifest::dataset_name(&args.analyze.input))?;
    let analysis_stages = ["scan", "metrics", "merge", "gain", "dqc"];
    b.set(&analysis_stages, State::InProgress, "gm2dqc run")?;
    let print = if args.analyze.json { Print::Nothing } else { Print::Summary };
    // Work already done for these inputs, cut file and overrides is not redone.
    let skipped = already_done(&args.analyze);
    let code = match skipped {
        Some(failed) => {
            tracing::info!(key_file = %out.join("summary.json").display(), "inputs, cuts and overrides unchanged: analysis skipped");
            if !super::quiet() && print == Print::Summary {
                println!("analysis already done for these inputs and cuts ({}): not redone", out.join("summary.json").display());
            }
            u8::from(failed)
        }
        None => {
            let mut m = Manifest::load(out)?;
            if m.dataset != b.dataset {
                m.dataset = b.dataset.clone();
                m.save(out)?;
            }
            pass(&args.analyze, Stages::ALL, print)?
        }
    };
    b.finish(&analysis_stages, code, out)?;
    if code == 2 {
        return Ok(2);
    }
    // The plots, the report and the e-log entry, with the cut file of the analysis.
    let Some(cutfile) = super::cuts::load_or_report(args.analyze.cuts.as_deref()) else { return Ok(2) };
    finish_run(args, cutfile, &mut b, code, skipped.is_some(), "gm2dqc run")
}

/// After the analysis of `run` (or of a campaign's `reduce`): the plots, the report
/// and the e-log entry, then the upload; prints the outcome. Returns the exit code.
pub(super) fn finish_run(args: &RunArgs, cutfile: crate::cuts::CutFile, b: &mut Board, code: u8, skipped: bool, note: &str) -> anyhow::Result<u8> {
    let out = &args.analyze.out;
    let print = if args.analyze.json { Print::Nothing } else { Print::Summary };
    let plot_args = PlotsArgs {
        out: out.clone(),
        cuts: args.analyze.cuts.clone(),
        tag: Some(args.tag.clone()),
        channels: args.channels.clone(),
        worst: 4,
        max_map_intervals: 6,
        threads: args.analyze.threads,
        json: false,
        board: args.board.clone(),
    };
    let (plots_code, plots_json) = plots_job(&plot_args, cutfile, b, print == Print::Summary)?;
    let code = code.max(plots_code.min(1));
    let up = upload_job(b, out, &args.tag, note)?;
    if args.analyze.json {
        let summary: serde_json::Value = serde_json::from_slice(&std::fs::read(out.join("summary.json"))?)?;
        let j = serde_json::json!({
            "dataset": b.dataset, "out": out.display().to_string(), "exit_code": code, "analysis_skipped": skipped,
            "analysis": summary, "plots": plots_json, "upload": up.json,
        });
        println!("{}", serde_json::to_string_pretty(&j)?);
    } else if !super::quiet() {
        println!("{}", up.line);
        println!("board: dataset {}; `gm2dqc status --db {}` shows it", b.dataset, b.url);
    }
    Ok(code)
}

/// `Some(failed)` when OUT holds a complete analysis of exactly these inputs (sizes and
/// SHA-256 read again now), cut file and overrides.
fn already_done(args: &AnalyzeArgs) -> Option<bool> {
    let summary: serde_json::Value = serde_json::from_slice(&std::fs::read(args.out.join("summary.json")).ok()?).ok()?;
    let ds = dataset::scan(&args.input).ok()?;
    let cuts = match &args.cuts {
        Some(p) => crate::cuts::load(p).ok()?,
        None => crate::cuts::standard(),
    };
    let inputs: Vec<crate::db::InputFile> = ds
        .files
        .par_iter()
        .map(|f| crate::db::InputFile::read(&f.path).ok().map(|(input, _)| input))
        .collect::<Option<Vec<_>>>()?;
    (summary["key"].as_str()? == super::analyze::analysis_key(&inputs, &cuts.sha256, args)).then(|| summary["failed"].as_bool().unwrap_or(false))
}

/// `gm2dqc status`: the bookkeeping board, or `status set` to change one cell.
pub fn status(args: StatusArgs) -> anyhow::Result<ExitCode> {
    use crate::db::board;
    if let (Some(work), None) = (&args.campaign, &args.command) {
        return super::campaign::status(work, args.json);
    }
    let url = super::db::resolve_url(args.db.as_deref(), std::path::Path::new("conditions.sqlite"));
    let mut b = crate::db::open(&url)?;
    let layout = board::Layout::gm2dqc();
    if let Some(StatusCommand::Set { dataset, stage, state, note }) = args.command {
        board::set(b.as_mut(), &layout, &board::SetRequest::new(dataset.clone(), layout.target(&stage)?, state, note))?;
        println!("{dataset} {stage}: {}", state.as_str());
        return Ok(ExitCode::SUCCESS);
    }
    let view = board::view(b.as_mut(), &layout)?;
    let stdout = std::io::stdout();
    let mut o = stdout.lock();
    if args.json {
        serde_json::to_writer_pretty(&mut o, &view)?;
        writeln!(o)?;
        return Ok(ExitCode::SUCCESS);
    }
    let w = view.rows.iter().map(|r| r.dataset.len()).max().unwrap_or(7).max(7);
    write!(o, "{:<w$}", "dataset")?;
    for c in &layout.columns {
        write!(o, "  {:<11}", c.title)?;
    }
    writeln!(o)?;
    for r in &view.rows {
        write!(o, "{:<w$}", r.dataset)?;
        for c in &r.cells {
            write!(o, "  {:<11}", c.shown)?;
        }
        writeln!(o)?;
        for c in &r.cells {
            if let Some(e) = &c.entry {
                let note = if e.note.is_empty() { String::new() } else { format!(": {}", e.note) };
                writeln!(o, "{:<w$}    {} {} by {}@{} at {}{note}", "", c.column, c.shown, e.user, e.host, e.at)?;
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `gm2dqc demo`: a small simulated dataset through every stage, into DIR.
pub fn demo(args: DemoArgs) -> anyhow::Result<ExitCode> {
    let data = args.dir.join("data");
    let out = args.dir.join("out");
    println!("gm2dqc demo: simulating 2 runs x 8 subruns into {}", data.display());
    super::run_simulate(SimulateArgs {
        out: data.clone(),
        runs: 2,
        subruns: 8,
        seed: 1,
        first_run: 15921,
        compression: crate::simulate::CompressionChoice::Fixed("zstd".parse().map_err(|e: String| anyhow::anyhow!(e))?),
        prefix: "gm2dqc_sim".into(),
        faults: super::FaultList(crate::simulate::FaultKind::ALL.to_vec()),
        fault_rate: 0.3,
        threads: args.threads,
        force: true,
    })?;
    println!("\ngm2dqc demo: running every stage on {} into {}", data.display(), out.display());
    let run = RunArgs {
        analyze: AnalyzeArgs { input: data.clone(), out: out.clone(), cuts: None, reference_run: None, intervals: Vec::new(), threads: args.threads, json: false },
        tag: "demo".into(),
        channels: vec![(1, 0)],
        board: BoardArgs { db: Some(out.join("conditions.sqlite").display().to_string()), dataset: Some("demo".into()) },
    };
    let code = run_job(&run)?;
    println!("\ndone. Results in {}:", out.display());
    println!("  report (open in a browser): {}", out.join("report.html").display());
    println!("  e-log entry:                {}", out.join("elog.txt").display());
    println!("  standard plots (PNG, SVG):  {}/", out.join("plots").display());
    for f in ["subrun_status.parquet", "run_summary.parquet", "gain_constants.parquet", "calo_channel_status.parquet", "tracker_channel_status.parquet", "subrun_metrics.parquet", "merged", "conditions.sqlite", "manifest.json", "errors.txt"] {
        println!("  {}", out.join(f).display());
    }
    println!("try:");
    println!("  gm2dqc db --db {} get gain_constants --tag demo --run 15922 --format csv", out.join("conditions.sqlite").display());
    println!("  gm2dqc cuts apply --metrics {}", out.join("subrun_metrics.parquet").display());
    println!("  gm2dqc status --db {}", out.join("conditions.sqlite").display());
    println!("(the demo injects bad subruns and dead, hot and noisy channels on purpose: the report shows them)");
    // The demo's faults are intended: only a failure to run is a failure here.
    Ok(ExitCode::from(if code == 2 { 2 } else { 0 }))
}
