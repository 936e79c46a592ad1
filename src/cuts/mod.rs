//! Expert-edited cut files (TOML): the data-quality flags and their cuts, the channel
//! cuts, the gain-calibration settings, and run-period overrides.
//!
//! - [`load`] / [`parse`] read and validate a file, reporting every problem at once as
//!   [`Diagnostic`]s with file:line:column and a hint. A file with any problem is
//!   refused as a whole: the pipeline never runs half a cut file.
//! - [`eval`] applies a cut file to a `subrun_metrics` table.
//! - [`catalog`] lists the metrics a cut can name, with units.
//!
//! The format is documented in `cuts/README.md`; `cuts/standard.toml` is the standard
//! set of spec section 5 and is built into the binary ([`standard`]).

pub mod catalog;
pub mod eval;
pub mod run_constants;
pub(crate) mod parse;

use std::fmt;
use std::path::Path;

use crate::analysis::channels::ChannelCuts;
use crate::analysis::fit::FitConfig;
use crate::analysis::interval::ConstantLimits;

/// The text of `cuts/standard.toml`, built into the binary.
pub const STANDARD_TOML: &str = include_str!("../../cuts/standard.toml");

/// One side of a bound: the value and whether equality fails (`above`/`below`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bound {
    pub value: f64,
    pub strict: bool,
}

/// What a cut tests.
#[derive(Debug, Clone, PartialEq)]
pub enum Test {
    /// `min`/`above` and `max`/`below` (absolute bounds; either may be absent).
    Range { low: Option<Bound>, high: Option<Bound> },
    /// `equals`.
    Equals(f64),
    /// `within_fraction_of_run_median`: |v - median| <= f |median|.
    FractionOfRunMedian(f64),
    /// `within_errors_of_run_median`: |v - median| <= k x the subrun's own error.
    ErrorsOfRunMedian { k: f64, error: &'static str },
}

/// One cut: a test on a metric, or on every metric of a group.
#[derive(Debug, Clone, PartialEq)]
pub struct Cut {
    /// Unique name, `<flag>.<metric or group>` unless the file gives one.
    pub name: String,
    pub flag: String,
    /// The metric or group name as written.
    pub target: String,
    /// The metrics tested (one, or every member of the group).
    pub metrics: Vec<&'static str>,
    pub unit: &'static str,
    pub test: Test,
}

/// A run-period override: from `runs.0` to `runs.1` inclusive, `cut` uses `test`.
#[derive(Debug, Clone, PartialEq)]
pub struct Override {
    pub runs: (u32, u32),
    pub cut: String,
    pub test: Test,
}

/// A validated cut file.
#[derive(Debug, Clone, PartialEq)]
pub struct CutFile {
    /// Where it came from (for messages), and the SHA-256 of its bytes.
    pub source: String,
    pub sha256: String,
    pub name: String,
    pub description: String,
    /// Every flag, in the order of first definition.
    pub flags: Vec<String>,
    pub required: Vec<String>,
    pub cuts: Vec<Cut>,
    pub overrides: Vec<Override>,
    pub channels: ChannelCuts,
    pub fit: FitConfig,
    pub limits: ConstantLimits,
    /// The per-run DQC constants' settings (`[run_constants]`).
    pub run_constants: run_constants::RunConstantsConfig,
    pub reference_run: Option<u32>,
    /// `[gain] sum_subruns_passing`: the gain sums (and the reference run's) take only
    /// the subruns passing these flags (empty: every subrun whose file was read). Only
    /// flags with absolute cuts: each subrun is judged alone, as it is read.
    pub sum_flags: Vec<String>,
    /// Reference-run overrides: intervals within `runs` use `run` as reference.
    pub reference_overrides: Vec<((u32, u32), u32)>,
    pub intervals: Vec<(u32, u32)>,
}

impl CutFile {
    /// The test of cut `i` for `run`: an override's when one covers the run.
    pub fn test_for(&self, i: usize, run: u32) -> &Test {
        let cut = &self.cuts[i];
        self.overrides
            .iter()
            .find(|o| o.cut == cut.name && o.runs.0 <= run && run <= o.runs.1)
            .map_or(&cut.test, |o| &o.test)
    }

    /// A short label: the name and the first 12 hex digits of the hash.
    pub fn label(&self) -> String {
        format!("{} ({})", self.name, crate::checksum::short_hash(&self.sha256))
    }
}

/// One problem in a cut file, located in the file. Serialized (for the web
/// application's cut editor) as `{"file", "line", "column", "message", "hint"}`,
/// `hint` null when there is none; line and column count from 1.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Diagnostic {
    pub file: String,
    pub line: usize,
    pub column: usize,
    pub message: String,
    pub hint: Option<String>,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}: error: {}", self.file, self.line, self.column, self.message)?;
        if let Some(h) = &self.hint {
            write!(f, "\n  hint: {h}")?;
        }
        Ok(())
    }
}

/// Why a cut file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum CutFileError {
    #[error("{path}: {source}", path = path.display())]
    Io { path: std::path::PathBuf, source: std::io::Error },
    #[error("{} problem(s) in the cut file:\n{}", .0.len(), .0.iter().map(|d| d.to_string()).collect::<Vec<_>>().join("\n"))]
    Invalid(Vec<Diagnostic>),
}

/// Parses and validates cut-file text; `source` names it in diagnostics.
pub fn parse(text: &str, source: &str) -> Result<CutFile, Vec<Diagnostic>> {
    parse::parse(text, source)
}

/// Reads and validates a cut file. Text that is not UTF-8 is one diagnostic at the
/// first invalid byte.
pub fn load(path: &Path) -> Result<CutFile, CutFileError> {
    let bytes = std::fs::read(path).map_err(|source| CutFileError::Io { path: path.to_path_buf(), source })?;
    let source = path.display().to_string();
    let text = match String::from_utf8(bytes) {
        Ok(t) => t,
        Err(e) => return Err(CutFileError::Invalid(vec![not_utf8(e.as_bytes(), e.utf8_error(), &source)])),
    };
    parse(&text, &source).map_err(CutFileError::Invalid)
}

/// Where text stops being UTF-8: the line and column (in characters) of the first
/// invalid byte, and what to do.
fn not_utf8(bytes: &[u8], e: std::str::Utf8Error, source: &str) -> Diagnostic {
    let at = e.valid_up_to();
    let valid = std::str::from_utf8(&bytes[..at]).expect("valid up to here");
    let line = valid.matches('\n').count() + 1;
    let column = valid.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    let n = e.error_len().unwrap_or(bytes.len() - at);
    let shown: Vec<String> = bytes[at..at + n].iter().map(|b| format!("0x{b:02x}")).collect();
    Diagnostic {
        file: source.to_string(),
        line,
        column,
        message: format!("the file is not UTF-8 text: byte{} {} at byte offset {at} {} not valid UTF-8", if n == 1 { "" } else { "s" }, shown.join(" "), if n == 1 { "is" } else { "are" }),
        hint: Some("cut files are UTF-8 (plain ASCII is fine): save it as UTF-8, e.g. `iconv -f latin1 -t utf-8 FILE`, or remove the character".into()),
    }
}

/// The built-in standard cut set (`cuts/standard.toml`).
pub fn standard() -> CutFile {
    parse(STANDARD_TOML, "cuts/standard.toml (built in)").expect("the built-in standard cut file is valid")
}
