//! `gm2dqc cuts`: check a cut file, apply one to a metrics table (what-if), compare two.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use clap::Subcommand;

use crate::cuts::{self, catalog, eval, CutFile, CutFileError};
use crate::job::Status;
use crate::tables;

#[derive(Debug, Subcommand)]
pub enum CutsCommand {
    /// Validate a cut file and report every problem at once (file:line:column, hint).
    ///
    /// Exit code 0 when the file is valid, 2 when it is not.
    ///
    /// Example: gm2dqc cuts check cuts/standard.toml
    Check {
        /// The cut file (TOML).
        file: PathBuf,
    },
    /// Re-evaluate the flags of every subrun from a metrics table, without reading any
    /// ROOT file: print the per-run summary, and with --out write subrun_status.parquet
    /// and run_summary.parquet there.
    ///
    /// Example: gm2dqc cuts apply --metrics out/subrun_metrics.parquet --cuts my.toml
    Apply {
        /// A subrun_metrics.parquet written by `gm2dqc analyze`.
        #[arg(long, value_name = "PARQUET")]
        metrics: PathBuf,
        /// The cut file (default: the built-in standard set).
        #[arg(long, value_name = "FILE")]
        cuts: Option<PathBuf>,
        /// Write subrun_status.parquet and run_summary.parquet into this directory.
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
        /// Print the per-run summary as JSON.
        #[arg(long)]
        json: bool,
    },
    /// What changes from one cut file to another: the subruns whose `ok` changes, the
    /// flags that changed them, and the CTAGs gained or lost, per run and in total.
    ///
    /// Example: gm2dqc cuts diff cuts/standard.toml tight.toml --metrics out/subrun_metrics.parquet
    Diff {
        old: PathBuf,
        new: PathBuf,
        #[arg(long, value_name = "PARQUET")]
        metrics: PathBuf,
        /// Print the changes as JSON.
        #[arg(long)]
        json: bool,
    },
    /// List the metrics and groups a cut can name, with their units.
    Metrics,
}

/// The evaluation as JSON: cut file, subrun counts and per-run pass fractions.
pub fn evaluation_json(cutfile: &CutFile, ev: &eval::Evaluation) -> serde_json::Value {
    let runs: Vec<serde_json::Value> = ev
        .run_summaries()
        .iter()
        .map(|r| {
            let pass: serde_json::Map<String, serde_json::Value> = ev.flags.iter().zip(&r.pass_fraction).map(|((f, _), p)| (f.clone(), (*p).into())).collect();
            serde_json::json!({"run": r.run, "subruns": r.subruns, "good_subruns": r.good_subruns, "pass_fraction": pass, "ctags": r.ctags, "ctags_good": r.ctags_good})
        })
        .collect();
    serde_json::json!({"cuts": cutfile.source, "cuts_sha256": cutfile.sha256, "subruns": ev.runs.len(), "good_subruns": ev.ok.iter().filter(|x| **x).count(), "runs": runs})
}

/// Loads a cut file, printing its diagnostics; `None` means exit code 2.
pub fn load_or_report(path: Option<&Path>) -> Option<CutFile> {
    let Some(path) = path else { return Some(cuts::standard()) };
    match cuts::load(path) {
        Ok(c) => Some(c),
        Err(CutFileError::Invalid(diags)) => {
            for d in &diags {
                eprintln!("{d}");
            }
            eprintln!("{}: {} problem(s); nothing was evaluated", path.display(), diags.len());
            None
        }
        Err(e) => {
            eprintln!("error: {e}");
            None
        }
    }
}

fn read_metrics(path: &Path) -> anyhow::Result<polars::prelude::DataFrame> {
    Ok(tables::read_parquet(path)?)
}

pub fn run(cmd: CutsCommand) -> anyhow::Result<Status> {
    let stdout = std::io::stdout();
    let mut o = stdout.lock();
    match cmd {
        CutsCommand::Check { file } => match load_or_report(Some(&file)) {
            Some(c) => {
                writeln!(o, "{}: ok: {} cuts on {} flags ({} required), {} overrides; sha256 {}", file.display(), c.cuts.len(), c.flags.len(), c.required.len(), c.overrides.len() + c.reference_overrides.len(), c.sha256)?;
                Ok(Status::Ok)
            }
            None => Ok(Status::Usage),
        },
        CutsCommand::Metrics => {
            writeln!(o, "{:<24} {:<12} kind", "metric", "unit")?;
            for m in catalog::METRICS {
                writeln!(o, "{:<24} {:<12} {:?}", m.name, m.unit, m.kind)?;
            }
            writeln!(o, "\ngroups (every = \"...\"):")?;
            for (g, members) in catalog::GROUPS {
                writeln!(o, "  {g:<18} {}", members.join(", "))?;
            }
            Ok(Status::Ok)
        }
        CutsCommand::Apply { metrics, cuts, out, json } => {
            let Some(cutfile) = load_or_report(cuts.as_deref()) else { return Ok(Status::Usage) };
            let t0 = Instant::now();
            let df = read_metrics(&metrics)?;
            let ev = eval::evaluate(&cutfile, &df)?;
            let seconds = t0.elapsed().as_secs_f64();
            if let Some(dir) = &out {
                crate::job::outputs::create_dir(dir)?;
                crate::job::outputs::flag_tables(dir, &ev, &df, &metrics, &cutfile.run_constants)?;
            }
            if json {
                serde_json::to_writer_pretty(&mut o, &evaluation_json(&cutfile, &ev))?;
                writeln!(o)?;
            } else if !super::quiet() {
                writeln!(o, "cuts {} from {}; {} subruns evaluated in {:.3} s", cutfile.label(), cutfile.source, ev.runs.len(), seconds)?;
                print_summary(&mut o, &ev)?;
                if let Some(dir) = &out {
                    writeln!(o, "wrote {}/subrun_status.parquet, run_summary.parquet, kicker_dqc.parquet, t0_dqc.parquet and laser_dqc.parquet", dir.display())?;
                }
            }
            Ok(Status::Ok)
        }
        CutsCommand::Diff { old, new, metrics, json } => {
            let (Some(a), Some(b)) = (load_or_report(Some(&old)), load_or_report(Some(&new))) else { return Ok(Status::Usage) };
            let df = read_metrics(&metrics)?;
            let (ea, eb) = (eval::evaluate(&a, &df)?, eval::evaluate(&b, &df)?);
            let changes = eval::diff(&ea, &eb);
            if json {
                let rows: Vec<serde_json::Value> = changes
                    .iter()
                    .map(|c| serde_json::json!({"run": c.run, "subrun": c.subrun, "old_ok": c.old_ok, "new_ok": c.new_ok, "ctags": c.ctags,
                        "flags": c.flags.iter().map(|(f, x, y)| serde_json::json!({"flag": f, "old": x, "new": y})).collect::<Vec<_>>(), "new_reasons": c.new_reasons}))
                    .collect();
                serde_json::to_writer_pretty(&mut o, &serde_json::json!({"old": a.source, "old_sha256": a.sha256, "new": b.source, "new_sha256": b.sha256, "changes": rows}))?;
                writeln!(o)?;
                return Ok(Status::Ok);
            }
            writeln!(o, "old: {} from {}\nnew: {} from {}", a.label(), a.source, b.label(), b.source)?;
            if changes.is_empty() {
                writeln!(o, "no subrun changes its ok flag ({} subruns)", ea.runs.len())?;
                return Ok(Status::Ok);
            }
            writeln!(o, "{:>7} {:>7}  {:<10} {:>10}  flags changed", "run", "subrun", "ok", "ctags")?;
            for c in &changes {
                let flags: Vec<String> = c.flags.iter().map(|(f, x, y)| format!("{f} {}->{}", tf(*x), tf(*y))).collect();
                writeln!(o, "{:>7} {:>7}  {:<10} {:>+10}  {}", c.run, c.subrun, format!("{}->{}", tf(Some(c.old_ok)), tf(Some(c.new_ok))), c.ctags_change(), flags.join(", "))?;
            }
            let mut per_run: std::collections::BTreeMap<u32, (usize, usize, f64)> = Default::default();
            for c in &changes {
                let e = per_run.entry(c.run).or_default();
                if c.new_ok {
                    e.0 += 1;
                } else {
                    e.1 += 1;
                }
                e.2 += c.ctags_change();
            }
            writeln!(o, "\n{:>7} {:>8} {:>8} {:>12}", "run", "gained", "lost", "ctags")?;
            for (run, (g, l, c)) in &per_run {
                writeln!(o, "{run:>7} {g:>8} {l:>8} {c:>+12}")?;
            }
            let (g, l, c) = per_run.values().fold((0, 0, 0.0), |t, v| (t.0 + v.0, t.1 + v.1, t.2 + v.2));
            writeln!(o, "{:>7} {g:>8} {l:>8} {c:>+12}", "total")?;
            Ok(Status::Ok)
        }
    }
}

fn tf(b: Option<bool>) -> &'static str {
    match b {
        Some(true) => "pass",
        Some(false) => "fail",
        None => "-",
    }
}

/// The per-run table of an evaluation.
pub fn print_summary(o: &mut impl Write, ev: &eval::Evaluation) -> std::io::Result<()> {
    let short: Vec<String> = ev.flags.iter().map(|(f, _)| f.trim_end_matches("_ok").to_string()).collect();
    write!(o, "{:>7} {:>8} {:>6}", "run", "subruns", "good")?;
    for s in &short {
        write!(o, " {:>w$}", s, w = s.len().max(5))?;
    }
    writeln!(o, " {:>12}", "ctags good")?;
    for r in ev.run_summaries() {
        write!(o, "{:>7} {:>8} {:>6}", r.run, r.subruns, r.good_subruns)?;
        for (s, p) in short.iter().zip(&r.pass_fraction) {
            write!(o, " {:>w$.2}", p, w = s.len().max(5))?;
        }
        writeln!(o, " {:>12.0}", r.ctags_good)?;
    }
    Ok(())
}
