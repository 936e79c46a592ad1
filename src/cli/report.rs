//! What the commands print: the job's reports as text for a terminal (or JSON for
//! scripts), and the progress bars. Printing only: every rule is in [`crate::job`].

use std::io::Write;
use std::path::Path;
use std::sync::Mutex;

use super::AnalyzeArgs;
use crate::analysis::interval::GainStatus;
use crate::job::{Job, PassReport, PlotsReport, Progress, RunReport, Stage, Summary, UploadReport};

/// Progress bars with rate and ETA on stderr (hidden off a terminal and with -q).
pub struct Bars {
    bar: Mutex<Option<indicatif::ProgressBar>>,
}

impl Bars {
    pub fn new() -> Bars {
        Bars { bar: Mutex::new(None) }
    }
}

impl Progress for Bars {
    fn start(&self, what: &str, unit: &str, total: u64) {
        *self.bar.lock().unwrap_or_else(|p| p.into_inner()) = Some(super::progress_bar_of(total, what, unit));
    }
    fn inc(&self, n: u64) {
        if let Some(b) = &*self.bar.lock().unwrap_or_else(|p| p.into_inner()) {
            b.inc(n);
        }
    }
    fn finish(&self) {
        if let Some(b) = self.bar.lock().unwrap_or_else(|p| p.into_inner()).take() {
            b.finish_and_clear();
        }
    }
}

/// Prints what a pass wrote: a short summary for the metrics or merge stage alone,
/// the full one with the fits.
pub fn print_pass(args: &AnalyzeArgs, job: &Job, r: &PassReport) -> anyhow::Result<()> {
    let stdout = std::io::stdout();
    let mut o = stdout.lock();
    let a = &r.analysis;
    if let (Some(summary), Some(ev)) = (&r.summary, &r.evaluation) {
        if args.json {
            serde_json::to_writer_pretty(&mut o, summary)?;
            writeln!(o)?;
        } else if !super::quiet() {
            print_summary(&mut o, summary, a, job.cuts(), ev)?;
        } else if summary.failed {
            eprintln!("gm2dqc: some inputs or fits failed: {}", args.out.join("errors.txt").display());
        }
        return Ok(());
    }
    if args.json {
        let j = serde_json::json!({
            "stage": if r.stages.sums { Stage::Merge } else { Stage::Metrics },
            "dataset": args.input.display().to_string(),
            "out": args.out.display().to_string(),
            "files": r.files,
            "files_failed": a.files_failed,
            "input_errors": a.errors.len(),
            "seconds": r.seconds,
            "merged": if r.stages.sums { Some(r.merged_dir.display().to_string()) } else { None },
            "failed": a.has_failures(),
        });
        serde_json::to_writer_pretty(&mut o, &j)?;
        writeln!(o)?;
        return Ok(());
    }
    if super::quiet() {
        if a.has_failures() {
            eprintln!("gm2dqc: some inputs failed: {}", args.out.join("errors.txt").display());
        }
        return Ok(());
    }
    writeln!(o, "read {} files ({:.1} MB) in {:.2} s: {}/subrun_metrics.parquet", r.files, r.bytes as f64 / 1e6, r.seconds, args.out.display())?;
    if r.stages.sums {
        writeln!(o, "merged files (one per interval of validity) in {}/", r.merged_dir.display())?;
    }
    if !a.errors.is_empty() {
        writeln!(o, "{} input problems ({} files could not be opened); all in {}/errors.txt; the first:", a.errors.len(), a.files_failed, args.out.display())?;
        for e in a.errors.iter().take(10) {
            writeln!(o, "  {e}")?;
        }
        writeln!(o, "FAILED: some inputs failed (see above); everything else was processed")?;
    }
    Ok(())
}

fn print_summary(o: &mut impl Write, s: &Summary, a: &crate::pipeline::Analysis, cuts: &crate::cuts::CutFile, ev: &crate::cuts::eval::Evaluation) -> std::io::Result<()> {
    writeln!(
        o,
        "analysed {} files ({:.1} MB, {} runs, {} intervals) in {:.2} s on {} threads: {:.1} files/s, {:.1} MB/s",
        s.files,
        s.bytes as f64 / 1e6,
        s.runs.len(),
        s.intervals.len(),
        s.seconds,
        s.threads,
        s.files_per_second,
        s.mb_per_second
    )?;
    writeln!(o, "gain reference run {}", s.reference_run)?;
    let statuses: Vec<String> = s.gain_status.iter().map(|(k, v)| format!("{k} {v}")).collect();
    writeln!(o, "gain constants: {}", statuses.join(", "))?;
    writeln!(o, "channels not ok in at least one interval: {} crystals, {} straws", s.bad_xtals, s.bad_straws)?;
    for g in a.intervals.iter().flat_map(|i| i.gains.iter().map(move |g| (i, g))).filter(|(_, g)| g.status == GainStatus::FitFailed).take(10) {
        let (calo, xtal) = crate::layout::xtal_of(g.1.channel);
        writeln!(o, "  fit failed: runs {}-{} calo {calo} xtal {xtal}: {}", g.0.run_first, g.0.run_last, g.1.detail)?;
    }
    if !a.errors.is_empty() {
        writeln!(o, "{} input problems ({} files could not be opened); all in {}/errors.txt; the first:", a.errors.len(), s.files_failed, s.out)?;
        for e in a.errors.iter().take(10) {
            writeln!(o, "  {e}")?;
        }
    }
    writeln!(o, "subrun flags with cuts {}: {} of {} subruns ok", cuts.label(), s.good_subruns, s.files)?;
    super::cuts::print_summary(o, ev)?;
    writeln!(o, "tables written to {}/", s.out)?;
    if s.failed {
        writeln!(o, "FAILED: some inputs or fits failed (see above); everything else was processed")?;
    }
    Ok(())
}

/// An upload as JSON: the database, the tag and per folder the intervals written and
/// already current.
pub fn upload_json(up: &UploadReport) -> serde_json::Value {
    let folders: serde_json::Map<String, serde_json::Value> =
        up.folders.iter().map(|(n, r)| (n.to_string(), serde_json::json!({"written": r.written, "unchanged": r.unchanged}))).collect();
    serde_json::json!({"database": up.database, "tag": up.tag, "folders": folders})
}

/// The plots stage as JSON.
pub fn plots_json(out: &Path, r: &PlotsReport) -> serde_json::Value {
    serde_json::json!({
        "stage": Stage::Plots, "out": out.display().to_string(), "pages": r.rendered.len(), "seconds": r.seconds,
        "plots": r.rendered.iter().map(|p| serde_json::json!({"name": p.spec.name, "title": p.spec.title, "png": p.png.display().to_string(), "svg": p.svg.display().to_string()})).collect::<Vec<_>>(),
        "report": r.report.display().to_string(), "elog": r.elog.display().to_string(),
        "errors": r.errors, "notes": r.notes, "failed": !r.errors.is_empty(),
    })
}

/// The plots stage as text.
pub fn print_plots(r: &PlotsReport) -> anyhow::Result<()> {
    if super::quiet() {
        return Ok(());
    }
    let stdout = std::io::stdout();
    let mut o = stdout.lock();
    writeln!(o, "rendered {} plots (PNG and SVG) in {:.2} s into {}/", r.rendered.len(), r.seconds, r.plots_dir.display())?;
    for n in &r.notes {
        writeln!(o, "  note: {n}")?;
    }
    for e in &r.errors {
        writeln!(o, "  {e}")?;
    }
    writeln!(o, "report: {}", r.report.display())?;
    writeln!(o, "e-log entry: {} ({})", r.elog.display(), r.elog_subject)?;
    Ok(())
}

/// What `run` and `reduce` print at the end.
pub fn print_run(args: &AnalyzeArgs, job: &Job, r: &RunReport) -> anyhow::Result<()> {
    if args.json {
        let plots = plots_json(&args.out, &r.plots);
        let j = serde_json::json!({
            "dataset": job.name(), "out": args.out.display().to_string(), "exit_code": r.status.code(), "analysis_skipped": r.pass.is_none(),
            "analysis": r.summary, "plots": plots, "upload": upload_json(&r.upload),
        });
        let stdout = std::io::stdout();
        let mut o = stdout.lock();
        serde_json::to_writer_pretty(&mut o, &j)?;
        writeln!(o)?;
        return Ok(());
    }
    if super::quiet() {
        if r.status != crate::job::Status::Ok {
            eprintln!("gm2dqc: some inputs or fits failed: {}", args.out.join("errors.txt").display());
        }
        return Ok(());
    }
    match &r.pass {
        Some(p) => print_pass(args, job, p)?,
        None => println!("analysis already done for these inputs and cuts ({}): not redone", args.out.join("summary.json").display()),
    }
    print_plots(&r.plots)?;
    println!("conditions database {}: {}", r.upload.database, r.upload.counts());
    if let Some(url) = job.board_url() {
        println!("board: dataset {}; `gm2dqc status --db {url}` shows it", job.name());
    }
    Ok(())
}
