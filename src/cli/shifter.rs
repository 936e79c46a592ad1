//! The shifter's commands: `scan` a dataset, `run` the whole job, `demo`.

use std::io::Write;
use std::path::PathBuf;

use rayon::prelude::*;

use super::report::{self, Bars};
use super::stages::BoardArgs;
use super::{AnalyzeArgs, SimulateArgs};
use crate::dataset;
use crate::job::{Job, JobError, PlotOptions, Status, Work};
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
    /// Print the board as JSON (the same document `GET /api/board` serves).
    #[arg(long)]
    pub json: bool,
    /// The board's layout: gm2dqc (its seven stages), g2 (the 18 columns of the g-2
    /// production spreadsheet, gm2dqc's stages mapped onto them), or a layout file.
    #[arg(long, global = true, default_value = "gm2dqc", value_name = "NAME|FILE")]
    pub layout: String,
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
        /// A stage (scan, metrics, merge, gain, dqc, plots, upload) or a column of the
        /// layout (its id, or a title only one column has).
        stage: String,
        /// todo, in_progress, done, held, skipped (any case; held needs --note, and so
        /// does releasing a hold with todo)
        state: crate::db::board::State,
        #[arg(long, default_value = "")]
        note: String,
        /// The dataset is new: put it on the board (a set on a dataset the board does
        /// not know is refused otherwise, so a typo makes no row).
        #[arg(long)]
        new: bool,
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
pub fn scan(args: ScanArgs) -> anyhow::Result<Status> {
    let ds = dataset::scan(&args.input).map_err(JobError::from)?;
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
            "missing_subruns": ds.gaps(),
            "repeated_dirs": ds.repeated_dirs.iter().map(|r| r.to_string()).collect::<Vec<_>>(),
        });
        serde_json::to_writer_pretty(&mut o, &j)?;
        writeln!(o)?;
    } else if !super::quiet() {
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
        for g in ds.gaps() {
            writeln!(o, "missing subruns: {g}")?;
        }
        for r in &ds.repeated_dirs {
            writeln!(o, "not followed: {r}")?;
        }
    }
    if super::quiet() {
        for (p, e) in &unreadable {
            eprintln!("unreadable: {p}: {e}");
        }
    }
    Ok(Status::from_failed(!unreadable.is_empty()))
}

impl RunArgs {
    /// The job configuration of `run`.
    pub fn config(&self) -> crate::job::JobConfig {
        let mut c = self.analyze.config(Some(&self.board));
        c.tag = self.tag.clone();
        c.plots = PlotOptions { channels: self.channels.clone(), ..PlotOptions::default() };
        c
    }
}

/// `gm2dqc run`: the whole job.
pub fn run(args: RunArgs) -> anyhow::Result<Status> {
    let mut job = Job::open(args.config(), Work::Run)?;
    super::stages::print_scan_notes(&job);
    let r = job.run(&Bars::new())?;
    report::print_run(&args.analyze, &job, &r)?;
    Ok(r.status)
}

/// `gm2dqc status`: the bookkeeping board, or `status set` to change one cell.
pub fn status(args: StatusArgs) -> anyhow::Result<Status> {
    use crate::db::board;
    if let (Some(work), None) = (&args.campaign, &args.command) {
        return super::campaign::status(work, args.json);
    }
    let layout = board::Layout::named_or_file(&args.layout).map_err(board::BoardError::from)?;
    let url = crate::job::board::resolve_url(args.db.as_deref(), std::path::Path::new("conditions.sqlite"));
    if let Some(StatusCommand::Set { dataset, stage, state, note, new }) = args.command {
        let target = layout.target(&stage)?;
        // A new dataset may start a new board; a set on a known one needs its database.
        let mut b = if new { crate::db::open(&url)? } else { crate::job::board::open_existing(&url)? };
        let mut req = board::SetRequest::new(dataset.clone(), target, state, note);
        if new {
            req = req.new_dataset();
        }
        let entries = board::set(b.as_mut(), &layout, &req)?;
        let stdout = std::io::stdout();
        let mut o = stdout.lock();
        for e in entries {
            let by = if e.by_board { " (by the board)" } else { "" };
            writeln!(o, "{} {}: {}{by}", e.dataset, e.key, e.state.as_str())?;
        }
        return Ok(Status::Ok);
    }
    let mut b = crate::job::board::open_existing(&url)?;
    let view = board::view(b.as_mut(), &layout)?;
    let stdout = std::io::stdout();
    let mut o = stdout.lock();
    if args.json {
        serde_json::to_writer_pretty(&mut o, &view)?;
        writeln!(o)?;
        return Ok(Status::Ok);
    }
    let w = view.rows.iter().map(|r| r.dataset.chars().count()).max().unwrap_or(7).max(7);
    let widths: Vec<usize> = layout.columns.iter().map(|c| c.title.chars().count().max(11)).collect();
    write!(o, "{:<w$}", "dataset")?;
    for (c, cw) in layout.columns.iter().zip(&widths) {
        write!(o, "  {:<cw$}", c.title)?;
    }
    writeln!(o)?;
    for r in &view.rows {
        write!(o, "{:<w$}", r.dataset)?;
        for (c, cw) in r.cells.iter().zip(&widths) {
            write!(o, "  {:<cw$}", c.shown)?;
        }
        writeln!(o)?;
        for c in &r.cells {
            if let Some(e) = &c.entry {
                let note = if e.note.is_empty() { String::new() } else { format!(": {}", e.note) };
                writeln!(o, "{:<w$}    {} {} by {}@{} at {}{note}", "", c.column, c.shown, e.user, e.host, e.at)?;
            }
        }
    }
    Ok(Status::Ok)
}

/// `gm2dqc demo`: a small simulated dataset through every stage, into DIR.
pub fn demo(args: DemoArgs) -> anyhow::Result<Status> {
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
    let mut job = Job::open(run.config(), Work::Run)?;
    let r = job.run(&Bars::new())?;
    report::print_run(&run.analyze, &job, &r)?;
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
    println!("open the results in a browser (the board, the subruns, the plots, the histograms drawn by JSROOT):");
    // The upload recorded where its results are: the database alone finds them.
    println!("  gm2dqc serve --db {}", out.join("conditions.sqlite").display());
    println!("  then http://127.0.0.1:8080/");
    println!("(the demo injects bad subruns and dead, hot and noisy channels on purpose: the report shows them)");
    // The demo's faults are intended: only a failure to run is a failure here.
    Ok(if r.status == Status::InputFailed { Status::Ok } else { r.status })
}
