//! `gm2dqc analyze`: the metrics, merge and gain stages in one pass, with the tables
//! written to the output directory and a summary of what failed.

use std::collections::BTreeMap;
use std::io::Write;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::Context;
use serde::Serialize;

use super::{progress_bar, AnalyzeArgs};
use crate::analysis::interval::GainStatus;
use crate::cuts::eval::Evaluation;
use crate::cuts::CutFile;
use crate::dataset;
use crate::analysis::merged;
use crate::pipeline::{self, Analysis, Stages};
use super::manifest::{self, Manifest, StageRecord};
use crate::tables;

/// What `analyze` prints at the end (and writes to OUT/summary.json).
#[derive(Debug, Serialize)]
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
    pub gain_status: BTreeMap<&'static str, usize>,
    /// Interval channel status: crystals and straws that are not ok, over all intervals.
    pub bad_xtals: usize,
    pub bad_straws: usize,
    pub threads: usize,
    pub seconds: f64,
    pub files_per_second: f64,
    pub mb_per_second: f64,
    /// True when an input could not be read or a fit failed (exit code 1).
    pub failed: bool,
    /// Subruns left out of a sharded reduce told `--allow-partial` (their partial
    /// results were missing); empty otherwise.
    pub missing_subruns: Vec<(u32, u32)>,
    /// What the results depend on: the inputs (paths, sizes, SHA-256), the cut file and
    /// the command-line overrides. `gm2dqc run` skips an analysis whose key is unchanged.
    pub key: String,
}

/// The key of an analysis: SHA-256 over the inputs, the cut file's hash and the
/// reference-run and interval overrides.
pub fn analysis_key(inputs: &[crate::db::InputFile], cuts_sha256: &str, args: &AnalyzeArgs) -> String {
    let text = format!(
        "gm2dqc-analysis-2\ncuts {cuts_sha256}\nreference {:?}\nintervals {:?}\ninputs {}\n",
        args.reference_run,
        args.intervals,
        manifest::inputs_sha256(inputs)
    );
    crate::checksum::sha256_hex(text.as_bytes())
}

fn summarise(args: &AnalyzeArgs, ds: &dataset::Dataset, a: &Analysis, cuts: &CutFile, ev: &Evaluation, seconds: f64) -> Summary {
    Summary {
        key: analysis_key(&a.inputs, &cuts.sha256, args),
        cuts: cuts.source.clone(),
        cuts_sha256: cuts.sha256.clone(),
        good_subruns: ev.ok.iter().filter(|x| **x).count(),
        dataset: args.input.display().to_string(),
        out: args.out.display().to_string(),
        files: ds.files.len(),
        bytes: ds.bytes(),
        runs: ds.runs(),
        intervals: a.intervals.iter().map(|i| (i.run_first, i.run_last)).collect(),
        reference_run: a.reference_run,
        files_failed: a.files_failed,
        input_errors: a.errors.len(),
        gain_status: GainStatus::ALL.iter().map(|&s| (s.as_str(), a.count_gain_status(s))).collect(),
        bad_xtals: a.intervals.iter().flat_map(|i| &i.xtals).filter(|x| !x.ok()).count(),
        bad_straws: a.intervals.iter().flat_map(|i| &i.straws).filter(|x| !x.status.ok()).count(),
        threads: rayon::current_num_threads(),
        seconds,
        files_per_second: ds.files.len() as f64 / seconds,
        mb_per_second: ds.bytes() as f64 / 1e6 / seconds,
        failed: a.has_failures(),
        missing_subruns: a.missing.iter().map(|id| (id.run, id.subrun)).collect(),
    }
}

pub fn run(args: AnalyzeArgs) -> anyhow::Result<ExitCode> {
    Ok(ExitCode::from(pass(&args, Stages::ALL, Print::Summary)?))
}

/// What a pass prints on stdout when it ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Print {
    /// The summary as text (JSON with --json); nothing with --quiet.
    Summary,
    /// Nothing: the caller prints (`run --json`).
    Nothing,
}

/// One pass over the files running `stages`: the metrics stage alone, metrics and
/// merge (the merged files for `gain`), or everything (`analyze`, `run`). Returns the
/// exit code (0, 1 or 2).
pub fn pass(args: &AnalyzeArgs, stages: Stages, print: Print) -> anyhow::Result<u8> {
    let ds = match dataset::scan(&args.input) {
        Ok(ds) => ds,
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(2);
        }
    };
    for (copy, used) in &ds.identical_copies {
        if !super::quiet() {
            eprintln!("note: {} is a byte-identical copy of {}: set aside", copy.display(), used.display());
        }
    }
    // The cut file first: an invalid one stops everything before any data is read.
    let Some(cutfile) = super::cuts::load_or_report(args.cuts.as_deref()) else { return Ok(2) };
    let cfg = cutfile.config().with_overrides(args.reference_run, &args.intervals);
    // Configuration problems are found before any file is read.
    if let Err(e) = pipeline::check(&ds, &cfg) {
        eprintln!("error: {e}");
        return Ok(2);
    }
    let merged_dir = prepare_out(&args.out, stages.sums)?;
    let pool = rayon::ThreadPoolBuilder::new().num_threads(args.threads.unwrap_or(0)).build()?;
    let bar = progress_bar(ds.files.len() as u64, if stages.sums { "analysing" } else { "metrics" });
    let t0 = Instant::now();
    let mut write_merged = |m: &merged::Merged| merged::write(&merged_dir.join(merged::file_name(m.sums.run_first, m.sums.run_last)), m).map(|_| ());
    let analysis = pool.install(|| pipeline::analyze_with(&ds, &cfg, stages, &|n| bar.inc(n), &mut write_merged))?;
    bar.finish_and_clear();
    write_results(args, &ds, &analysis, &cutfile, stages, print, &pool, t0)
}

/// Makes the output directory ready for a pass: summary.json removed (it marks a
/// complete analysis: it goes first and comes back last, so a pass killed at any point
/// leaves none and is redone) and, when the pass sums, the merged files of an earlier
/// pass removed. Returns the merged files' directory.
pub(super) fn prepare_out(out: &std::path::Path, sums: bool) -> anyhow::Result<std::path::PathBuf> {
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    remove_if_present(&out.join("summary.json"))?;
    let merged_dir = out.join("merged");
    if sums {
        // Merged files of an earlier pass (other intervals, other inputs) must not
        // reach the gain stage.
        std::fs::create_dir_all(&merged_dir).with_context(|| format!("creating {}", merged_dir.display()))?;
        for p in merged::list(&merged_dir).with_context(|| format!("listing {}", merged_dir.display()))? {
            remove_if_present(&p)?;
        }
    }
    Ok(merged_dir)
}

/// Writes what a pass found: the tables, inputs.json, the manifest and errors.txt,
/// and (with the fits) summary.json; prints the summary. The one-process pass and
/// the sharded reduce both end here. Returns the exit code.
#[allow(clippy::too_many_arguments)]
pub(super) fn write_results(args: &AnalyzeArgs, ds: &dataset::Dataset, analysis: &Analysis, cutfile: &CutFile, stages: Stages, print: Print, pool: &rayon::ThreadPool, t0: Instant) -> anyhow::Result<u8> {
    let out = &args.out;
    let merged_dir = out.join("merged");
    let mut metrics = tables::subrun_metrics(&analysis.metrics);
    tables::write_parquet(&mut metrics, &out.join("subrun_metrics.parquet"))?;
    let evaluation = if stages.fits {
        let ev = crate::cuts::eval::evaluate(cutfile, &metrics)?;
        write_flag_tables(out, &ev)?;
        write_interval_tables(out, &analysis.intervals)?;
        Some(ev)
    } else {
        None
    };
    write_atomic(&out.join("inputs.json"), &serde_json::to_vec_pretty(&analysis.inputs)?)?;
    let mut manifest = Manifest::load(out)?;
    manifest.set_dataset(&args.input);
    let inputs_sha256 = manifest::inputs_sha256(&analysis.inputs);
    let ran: &[&str] = match (stages.sums, stages.fits) {
        (true, true) => &["metrics", "merge", "gain", "dqc"],
        (true, false) => &["metrics", "merge"],
        _ => &["metrics"],
    };
    for stage in ran {
        // The input problems belong to the stages that read the files.
        let stage_errors = if matches!(*stage, "metrics" | "merge") { analysis.errors.clone() } else { Vec::new() };
        manifest.record(stage, StageRecord::new(cutfile, &inputs_sha256, analysis.has_failures(), stage_errors));
    }
    manifest.save(out)?;
    let seconds = t0.elapsed().as_secs_f64();
    let Some(evaluation) = evaluation else {
        // The metrics or merge stage alone: a short summary.
        if print == Print::Summary {
            print_stage_summary(args, ds, analysis, stages, seconds, &merged_dir)?;
        }
        return Ok(u8::from(analysis.has_failures()));
    };
    let summary = pool.install(|| summarise(args, ds, analysis, cutfile, &evaluation, seconds));
    write_atomic(&out.join("summary.json"), &serde_json::to_vec_pretty(&summary)?)?;

    if print == Print::Nothing {
        return Ok(u8::from(summary.failed));
    }
    let stdout = std::io::stdout();
    let mut o = stdout.lock();
    if args.json {
        serde_json::to_writer_pretty(&mut o, &summary)?;
        writeln!(o)?;
    } else if !super::quiet() {
        print_summary(&mut o, &summary, analysis, cutfile, &evaluation)?;
    } else if summary.failed {
        eprintln!("gm2dqc: some inputs or fits failed: {}", out.join("errors.txt").display());
    }
    Ok(u8::from(summary.failed))
}

fn print_stage_summary(args: &AnalyzeArgs, ds: &dataset::Dataset, a: &Analysis, stages: Stages, seconds: f64, merged_dir: &std::path::Path) -> anyhow::Result<()> {
    let stdout = std::io::stdout();
    let mut o = stdout.lock();
    if args.json {
        let j = serde_json::json!({
            "stage": if stages.sums { "merge" } else { "metrics" },
            "dataset": args.input.display().to_string(),
            "out": args.out.display().to_string(),
            "files": ds.files.len(),
            "files_failed": a.files_failed,
            "input_errors": a.errors.len(),
            "seconds": seconds,
            "merged": if stages.sums { Some(merged_dir.display().to_string()) } else { None },
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
    writeln!(o, "read {} files ({:.1} MB) in {:.2} s: {}/subrun_metrics.parquet", ds.files.len(), ds.bytes() as f64 / 1e6, seconds, args.out.display())?;
    if stages.sums {
        writeln!(o, "merged files (one per interval of validity) in {}/", merged_dir.display())?;
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

fn remove_if_present(path: &std::path::Path) -> anyhow::Result<()> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e).with_context(|| format!("removing {}", path.display())),
        _ => Ok(()),
    }
}

/// The dqc stage's tables: OUT/subrun_status.parquet and OUT/run_summary.parquet.
pub(super) fn write_flag_tables(out: &std::path::Path, ev: &crate::cuts::eval::Evaluation) -> anyhow::Result<()> {
    tables::write_parquet(&mut ev.status_frame(), &out.join("subrun_status.parquet"))?;
    tables::write_parquet(&mut ev.summary_frame(), &out.join("run_summary.parquet"))?;
    Ok(())
}

/// The gain stage's tables: OUT/gain_constants.parquet and the crystal and straw status.
pub(super) fn write_interval_tables(out: &std::path::Path, intervals: &[crate::analysis::interval::IntervalResult]) -> anyhow::Result<()> {
    for (name, mut df) in [
        ("gain_constants", tables::gain_constants(intervals)),
        ("calo_channel_status", tables::calo_channel_status(intervals)),
        ("tracker_channel_status", tables::tracker_channel_status(intervals)),
    ] {
        tables::write_parquet(&mut df, &out.join(format!("{name}.parquet")))?;
    }
    Ok(())
}

/// Writes a file whole or not at all (a temporary file renamed into place).
pub(super) fn write_atomic(path: &std::path::Path, bytes: &[u8]) -> anyhow::Result<()> {
    crate::atomic::write(path, bytes).with_context(|| format!("writing {}", path.display()))
}

fn print_summary(o: &mut impl Write, s: &Summary, a: &Analysis, cuts: &CutFile, ev: &Evaluation) -> std::io::Result<()> {
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
    writeln!(o, "channels not ok (all intervals): {} crystals, {} straws", s.bad_xtals, s.bad_straws)?;
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
