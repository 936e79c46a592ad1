//! Command-line definitions and the code that runs each subcommand.
//!
//! Flags are documented where they are defined; `gm2dqc help <command>` prints them.
//! Subcommands return an exit code: 0 success, 1 when some input failed (after
//! processing everything else), 2 for usage errors (clap's own).

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};

use crate::hist::Histogram;
use crate::inspect;
use crate::root::RootFile;

/// gm2dqc: data-quality control and gain calibration for g-2 style production files.
#[derive(Debug, Parser)]
#[command(name = "gm2dqc", version, about, long_about = None, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// List the objects in a ROOT file, or print one object's bins as JSON.
    ///
    /// Without --object: every object, recursively, with its path, class, title and
    /// entries. With --object PATH --json: one JSON object with the keys path, class,
    /// title, entries, axes, values, variances, errors (a stable format for scripts).
    Inspect(InspectArgs),
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
pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Inspect(args) => run_inspect(args),
    }
}

fn run_inspect(args: InspectArgs) -> anyhow::Result<ExitCode> {
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
        return Ok(ExitCode::SUCCESS);
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
    Ok(if errors.is_empty() { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_valid() {
        super::Cli::command().debug_assert();
    }
}
