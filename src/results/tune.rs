//! Cut tuning on one output directory: the metrics table read once, the base cut
//! file evaluated once, then any edited cut-file text evaluated and diffed against it
//! with `cuts::eval` — the engine of `gm2dqc cuts diff`, so the same subruns and flags
//! change. And [`save_cut_file`], which keeps an edited file without ever replacing one.
//!
//! The base cut file: the manifest's dqc stage records the cut file's path (or the
//! built-in standard set) and its SHA-256, not its text. [`Tuner::new`] takes the
//! built-in text when the hash is the standard set's, else reads the recorded path and
//! checks the hash; when that file is gone or changed, [`Tuner::with_base`] takes the
//! text from the caller.

use std::path::{Path, PathBuf};

use polars::prelude::DataFrame;
use serde::Serialize;

use super::{read_table, ResultsError};
use crate::cuts::eval::{self, Evaluation};
use crate::cuts::{self, CutFile, Diagnostic, Test};
use crate::job::manifest::{read_own_file, Manifest};
use crate::job::Stage;

fn stamp_of(p: &Path) -> Option<(u64, std::time::SystemTime)> {
    std::fs::metadata(p).ok().and_then(|m| Some((m.len(), m.modified().ok()?)))
}

/// The largest cut file read or saved.
pub const MAX_CUT_FILE_BYTES: u64 = 16 << 20;

/// Why a tuner cannot be made.
#[derive(Debug, thiserror::Error)]
pub enum TuneError {
    #[error("{0}")]
    Results(#[from] ResultsError),
    /// The base cut file text does not parse (every problem, located).
    #[error("the base cut file has {} problem(s):\n{}", .0.len(), .0.iter().map(|d| d.to_string()).collect::<Vec<_>>().join("\n"))]
    Invalid(Vec<Diagnostic>),
    /// The base cut file's text is not available: give it with `Tuner::with_base`.
    #[error("{0}")]
    NoBase(String),
}

/// The metrics and the base evaluation of one output directory.
pub struct Tuner {
    /// The base cut file's text (what a tuning starts from).
    base_text: String,
    metrics_path: PathBuf,
    /// The metrics table's size and time when read ([`Tuner::is_current`]).
    stamp: Option<(u64, std::time::SystemTime)>,
    metrics: DataFrame,
    base: CutFile,
    base_eval: Evaluation,
    dqc_sha256: Option<String>,
}

/// One cut of a changed flag, as the base and the new file test it.
/// JSON: `{"cut", "metric", "value", "old_test", "new_test", "old_reason", "new_reason"}`:
/// `value` the subrun's metric value (null when null), the tests as text (`min = 120
/// kV, max = 150 kV`; null where that file lacks the cut), the reasons null where the
/// cut passes.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CutChange {
    pub cut: String,
    pub metric: String,
    pub value: Option<f64>,
    pub old_test: Option<String>,
    pub new_test: Option<String>,
    pub old_reason: Option<String>,
    pub new_reason: Option<String>,
}

/// A flag whose value changed. JSON: `{"flag", "old", "new", "cuts": [CutChange, ...]}`;
/// `old`/`new` null where a file lacks the flag.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FlagChange {
    pub flag: String,
    pub old: Option<bool>,
    pub new: Option<bool>,
    pub cuts: Vec<CutChange>,
}

/// A subrun whose `ok` changes (as `gm2dqc cuts diff` lists it). JSON: `{"run",
/// "subrun", "old_ok", "new_ok", "ctags", "ctags_change", "flags": [FlagChange, ...],
/// "new_reasons"}`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SubrunChange {
    pub run: u32,
    pub subrun: u32,
    pub old_ok: bool,
    pub new_ok: bool,
    pub ctags: f64,
    /// + when gained, - when lost.
    pub ctags_change: f64,
    pub flags: Vec<FlagChange>,
    pub new_reasons: String,
}

/// How many subruns fail a flag under each file (over every subrun, not only those
/// whose `ok` changes). JSON: `{"flag", "old_failing", "new_failing"}`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FlagCount {
    pub flag: String,
    pub old_failing: Option<usize>,
    pub new_failing: Option<usize>,
}

/// The difference a new cut file makes. JSON: `{"old", "old_sha256", "new",
/// "new_sha256", "subruns", "old_good", "new_good", "gained", "lost", "ctags_gained",
/// "ctags_lost", "flag_counts": [FlagCount, ...], "changes": [SubrunChange, ...]}`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TuneResult {
    pub old: String,
    pub old_sha256: String,
    pub new: String,
    pub new_sha256: String,
    pub subruns: usize,
    pub old_good: usize,
    pub new_good: usize,
    /// Subruns that become good, and bad.
    pub gained: usize,
    pub lost: usize,
    pub ctags_gained: f64,
    pub ctags_lost: f64,
    pub flag_counts: Vec<FlagCount>,
    pub changes: Vec<SubrunChange>,
}

/// A test as text, as a cut file would say it.
pub fn describe_test(test: &Test, unit: &str) -> String {
    let u = |x: f64| if unit == "1" { eval::fmt_num(x) } else { format!("{} {unit}", eval::fmt_num(x)) };
    match test {
        Test::Range { low, high } => {
            let mut parts = Vec::new();
            if let Some(b) = low {
                parts.push(format!("{} = {}", if b.strict { "above" } else { "min" }, u(b.value)));
            }
            if let Some(b) = high {
                parts.push(format!("{} = {}", if b.strict { "below" } else { "max" }, u(b.value)));
            }
            parts.join(", ")
        }
        Test::Equals(x) => format!("equals = {}", u(*x)),
        Test::FractionOfRunMedian(f) => format!("within_fraction_of_run_median = {}", eval::fmt_num(*f)),
        Test::ErrorsOfRunMedian { k, error } => format!("within_errors_of_run_median = {} (error {error})", eval::fmt_num(*k)),
    }
}

impl Tuner {
    /// Reads `OUT/subrun_metrics.parquet` and the cut file the dqc stage used (see the
    /// module's documentation), and evaluates it once.
    pub fn new(out: &Path) -> Result<Tuner, TuneError> {
        let manifest = Manifest::load(out).map_err(ResultsError::from)?;
        let mpath = Manifest::path(out);
        let Some(dqc) = manifest.stages.get(&Stage::Dqc) else {
            return Err(TuneError::NoBase(format!("{}: records no dqc stage, so no base cut file; run `gm2dqc dqc`, or give the base text (Tuner::with_base)", mpath.display())));
        };
        let standard = cuts::standard();
        if dqc.cuts_sha256 == standard.sha256 {
            return Tuner::build(out, standard, cuts::STANDARD_TOML.to_string(), Some(dqc.cuts_sha256.clone()));
        }
        let path = Path::new(&dqc.cuts);
        let no_base = |why: String| TuneError::NoBase(format!("the dqc stage used cut file {} (sha256 {}), {why}; give its text (Tuner::with_base)", dqc.cuts, crate::checksum::short_hash(&dqc.cuts_sha256)));
        let bytes = read_own_file(path, MAX_CUT_FILE_BYTES).map_err(|e| no_base(format!("which cannot be read ({e})")))?.ok_or_else(|| no_base("which is no longer there".into()))?;
        if crate::checksum::sha256_hex(&bytes) != dqc.cuts_sha256 {
            return Err(no_base("which has changed since".into()));
        }
        let text = String::from_utf8(bytes).map_err(|_| no_base("which is no longer UTF-8 text".into()))?;
        let base = cuts::parse(&text, &dqc.cuts).map_err(TuneError::Invalid)?;
        Tuner::build(out, base, text, Some(dqc.cuts_sha256.clone()))
    }

    /// As [`Tuner::new`] with the base cut file's text given; `source` names it in
    /// diagnostics and results. Any valid text is accepted ([`Tuner::base_is_dqc`]
    /// says whether it is the one the dqc stage used).
    pub fn with_base(out: &Path, base_text: &str, source: &str) -> Result<Tuner, TuneError> {
        let base = cuts::parse(base_text, source).map_err(TuneError::Invalid)?;
        let dqc = Manifest::load(out).map_err(ResultsError::from)?.stages.get(&Stage::Dqc).map(|r| r.cuts_sha256.clone());
        Tuner::build(out, base, base_text.to_string(), dqc)
    }

    fn build(out: &Path, base: CutFile, base_text: String, dqc_sha256: Option<String>) -> Result<Tuner, TuneError> {
        let metrics_path = out.join("subrun_metrics.parquet");
        let stamp = stamp_of(&metrics_path);
        let metrics = read_table(&metrics_path, None)?;
        let base_eval = eval::evaluate(&base, &metrics).map_err(|e| ResultsError::file(&metrics_path, format!("{e}; rerun `gm2dqc metrics` (or `gm2dqc run`)")))?;
        Ok(Tuner { base_text, metrics_path, stamp, metrics, base, base_eval, dqc_sha256 })
    }

    /// The base cut file's text.
    pub fn base_text(&self) -> &str {
        &self.base_text
    }

    /// Whether the metrics table is still the one read (same size and time).
    pub fn is_current(&self) -> bool {
        self.stamp.is_some() && stamp_of(&self.metrics_path) == self.stamp
    }

    pub fn base(&self) -> &CutFile {
        &self.base
    }

    pub fn base_evaluation(&self) -> &Evaluation {
        &self.base_eval
    }

    /// Whether the base is the cut file the dqc stage used (same SHA-256).
    pub fn base_is_dqc(&self) -> bool {
        self.dqc_sha256.as_deref() == Some(self.base.sha256.as_str())
    }

    /// Evaluates `new_text` (named `source` in diagnostics) on the metrics and diffs it
    /// with the base. A text that does not parse gives its located diagnostics; a valid
    /// file naming a metric the table lacks gives one diagnostic saying so (line 1).
    pub fn tune_named(&self, new_text: &str, source: &str) -> Result<TuneResult, Vec<Diagnostic>> {
        let new = cuts::parse(new_text, source)?;
        let new_eval = eval::evaluate(&new, &self.metrics).map_err(|e| {
            vec![Diagnostic {
                file: source.to_string(),
                line: 1,
                column: 1,
                message: format!("{}: {e}", self.metrics_path.display()),
                hint: Some("the metrics table is older than this cut file: rerun `gm2dqc metrics` on the directory".into()),
            }]
        })?;
        Ok(self.result(&new, &new_eval))
    }

    /// [`Tuner::tune_named`] with the text named "new cut file".
    pub fn tune(&self, new_text: &str) -> Result<TuneResult, Vec<Diagnostic>> {
        self.tune_named(new_text, "new cut file")
    }

    fn result(&self, new: &CutFile, new_eval: &Evaluation) -> TuneResult {
        let (old, old_eval) = (&self.base, &self.base_eval);
        let diff = eval::diff(old_eval, new_eval);
        // Metric values for the cuts shown, each column read once.
        let mut columns: std::collections::HashMap<&str, Vec<Option<f64>>> = Default::default();
        let mut value = |m: &'static str, row: usize| -> Option<f64> {
            let c = columns.entry(m).or_insert_with(|| {
                self.metrics.column(m).ok().and_then(|c| c.cast(&polars::prelude::DataType::Float64).ok()).and_then(|c| c.f64().ok().map(|ca| ca.iter().collect())).unwrap_or_default()
            });
            c.get(row).copied().flatten()
        };
        let row_of: std::collections::HashMap<(u32, u32), usize> = old_eval.runs.iter().zip(&old_eval.subruns).enumerate().map(|(i, (r, s))| ((*r, *s), i)).collect();
        let mut changes = Vec::with_capacity(diff.len());
        for c in &diff {
            let row = row_of[&(c.run, c.subrun)];
            let old_reasons = super::parse_reasons(&old_eval.reasons[row]);
            let new_reasons = super::parse_reasons(&new_eval.reasons[row]);
            let mut flags = Vec::new();
            for (flag, was, now) in &c.flags {
                let mut cuts_shown: Vec<CutChange> = Vec::new();
                for file in [old, new] {
                    for cut in file.cuts.iter().filter(|k| &k.flag == flag) {
                        for &m in &cut.metrics {
                            if cuts_shown.iter().any(|x| x.cut == cut.name && x.metric == m) {
                                continue;
                            }
                            let test_in = |f: &CutFile| f.cuts.iter().position(|k| k.name == cut.name && k.flag == cut.flag).map(|j| describe_test(f.test_for(j, c.run), f.cuts[j].unit));
                            let reason_in = |rs: &[super::Reason]| rs.iter().find(|r| &r.flag == flag && (r.metric == m || r.text.contains(&format!(" {m} ")))).map(|r| r.text.clone());
                            cuts_shown.push(CutChange {
                                cut: cut.name.clone(),
                                metric: m.to_string(),
                                value: value(m, row),
                                old_test: test_in(old),
                                new_test: test_in(new),
                                old_reason: reason_in(&old_reasons),
                                new_reason: reason_in(&new_reasons),
                            });
                        }
                    }
                }
                // The cuts that explain the change: those failing under either file.
                cuts_shown.retain(|x| x.old_reason.is_some() || x.new_reason.is_some());
                flags.push(FlagChange { flag: flag.clone(), old: *was, new: *now, cuts: cuts_shown });
            }
            changes.push(SubrunChange {
                run: c.run,
                subrun: c.subrun,
                old_ok: c.old_ok,
                new_ok: c.new_ok,
                ctags: c.ctags,
                ctags_change: c.ctags_change(),
                flags,
                new_reasons: c.new_reasons.clone(),
            });
        }
        let failing = |e: &Evaluation, f: &str| e.flags.iter().find(|(g, _)| g == f).map(|(_, v)| v.iter().filter(|x| !**x).count());
        let mut names: Vec<&str> = old_eval.flags.iter().map(|(f, _)| f.as_str()).collect();
        for (f, _) in &new_eval.flags {
            if !names.contains(&f.as_str()) {
                names.push(f);
            }
        }
        let flag_counts = names.iter().map(|f| FlagCount { flag: f.to_string(), old_failing: failing(old_eval, f), new_failing: failing(new_eval, f) }).collect();
        let good = |e: &Evaluation| e.ok.iter().filter(|x| **x).count();
        TuneResult {
            old: old.source.clone(),
            old_sha256: old.sha256.clone(),
            new: new.source.clone(),
            new_sha256: new.sha256.clone(),
            subruns: old_eval.runs.len(),
            old_good: good(old_eval),
            new_good: good(new_eval),
            gained: diff.iter().filter(|c| c.new_ok).count(),
            lost: diff.iter().filter(|c| !c.new_ok).count(),
            ctags_gained: eval::plus_zero(diff.iter().filter(|c| c.new_ok).fold(0.0, |t, c| t + c.ctags)),
            ctags_lost: eval::plus_zero(diff.iter().filter(|c| !c.new_ok).fold(0.0, |t, c| t + c.ctags)),
            flag_counts,
            changes,
        }
    }
}

/// A saved cut file. JSON: `{"path", "sha256"}`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SavedCut {
    pub path: PathBuf,
    /// The SHA-256 of the text: what `gm2dqc dqc --cuts FILE` records for it.
    pub sha256: String,
}

/// Why a cut file was not saved.
#[derive(Debug, thiserror::Error)]
pub enum SaveError {
    #[error("cut file name {0:?}: {1}")]
    BadName(String, String),
    #[error("{} problem(s) in the cut file; nothing was saved:\n{}", .0.len(), .0.iter().map(|d| d.to_string()).collect::<Vec<_>>().join("\n"))]
    Invalid(Vec<Diagnostic>),
    #[error("{}: exists already; cut files are never replaced: choose another name", .0.display())]
    Exists(PathBuf),
    #[error("{}: {source}", path.display())]
    Io { path: PathBuf, source: std::io::Error },
}

/// The file name a cut file is saved under: `[A-Za-z0-9_.-]+`, not hidden, `.toml`
/// added when missing.
pub fn cut_file_name(name: &str) -> Result<String, SaveError> {
    let bad = |why: &str| SaveError::BadName(name.to_string(), why.to_string());
    if name.is_empty() {
        return Err(bad("empty; give a file name such as tight_kicker.toml"));
    }
    if name.len() > 200 {
        return Err(bad("longer than 200 characters"));
    }
    if let Some(c) = name.chars().find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))) {
        return Err(bad(&format!("{c:?} is not allowed: a plain file name has only letters, digits, `_`, `.` and `-` (no directories)")));
    }
    if name.starts_with('.') {
        return Err(bad("starts with `.` (a hidden file)"));
    }
    let name = if name.ends_with(".toml") { name.to_string() } else { format!("{name}.toml") };
    if name == ".toml" || name.starts_with('-') {
        return Err(bad("needs a letter or digit first"));
    }
    Ok(name)
}

/// Saves `text` as cut file `name` in `dir`: the name checked ([`cut_file_name`]), the
/// text parsed as a cut file (a file with any problem is refused, located), written to
/// a temporary file and linked into place, which fails when the name exists: an
/// existing file is never replaced, and a reader never sees half a file.
pub fn save_cut_file(dir: &Path, name: &str, text: &str) -> Result<SavedCut, SaveError> {
    let name = cut_file_name(name)?;
    if text.len() as u64 > MAX_CUT_FILE_BYTES {
        return Err(SaveError::BadName(name, format!("the text is {} bytes, more than a cut file may be ({MAX_CUT_FILE_BYTES})", text.len())));
    }
    let path = dir.join(&name);
    let parsed = cuts::parse(text, &path.display().to_string()).map_err(SaveError::Invalid)?;
    if path.symlink_metadata().is_ok() {
        return Err(SaveError::Exists(path));
    }
    static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let tmp = dir.join(format!(".{name}.tmp{}-{}", std::process::id(), N.fetch_add(1, std::sync::atomic::Ordering::Relaxed)));
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| SaveError::Io { path, source }
    };
    let written = (|| {
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new().write(true).create_new(true).open(&tmp)?;
        f.write_all(text.as_bytes())?;
        f.sync_all()
    })();
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(io(&tmp)(e));
    }
    // link(2) refuses an existing target: no check-then-write race.
    let linked = std::fs::hard_link(&tmp, &path);
    let _ = std::fs::remove_file(&tmp);
    match linked {
        Ok(()) => Ok(SavedCut { path, sha256: parsed.sha256 }),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Err(SaveError::Exists(path)),
        Err(e) => Err(io(&path)(e)),
    }
}
