//! Applying a cut file to a `subrun_metrics` table (a polars DataFrame, from the
//! analysis or from its Parquet file): one boolean per flag, `ok`, and the reasons;
//! the per-run summary; and the difference between two cut files.
//!
//! Semantics: a null or NaN metric fails every cut on it (the reason says so). Run
//! medians are taken over the subruns of the run that have a finite value of the
//! metric. Each cut uses its run-period override when one covers the subrun's run.

use std::collections::BTreeMap;

use polars::prelude::*;

use super::{Bound, CutFile, Test};
use crate::analysis::channels::median;

/// Why a metrics table cannot be evaluated.
#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    #[error("the metrics table has no column `{0}` (is it a subrun_metrics table of this gm2dqc version?)")]
    MissingColumn(String),
    #[error("column `{column}`: {source}")]
    Column { column: String, source: PolarsError },
    #[error("column `{0}` has nulls; every row needs a run and a subrun")]
    NullKey(String),
}

/// The flags of every subrun under one cut file.
#[derive(Debug, Clone, PartialEq)]
pub struct Evaluation {
    pub sha256: String,
    pub cut_name: String,
    pub runs: Vec<u32>,
    pub subruns: Vec<u32>,
    /// Each flag of the cut file, in order, with one value per subrun.
    pub flags: Vec<(String, Vec<bool>)>,
    pub required: Vec<String>,
    pub ok: Vec<bool>,
    /// Failing cuts with value and bound, `; `-separated; empty when every cut passed.
    pub reasons: Vec<String>,
    /// CTAGs of each subrun (0 when null), for the summaries.
    pub ctags: Vec<f64>,
}

pub(crate) fn column_f64(df: &DataFrame, name: &str) -> Result<Vec<Option<f64>>, EvalError> {
    let c = df.column(name).map_err(|_| EvalError::MissingColumn(name.to_string()))?;
    let c = c.cast(&DataType::Float64).map_err(|source| EvalError::Column { column: name.into(), source })?;
    let ca = c.f64().map_err(|source| EvalError::Column { column: name.into(), source })?;
    Ok(ca.iter().collect())
}

pub(crate) fn column_key(df: &DataFrame, name: &str) -> Result<Vec<u32>, EvalError> {
    let c = df.column(name).map_err(|_| EvalError::MissingColumn(name.to_string()))?;
    let c = c.cast(&DataType::UInt32).map_err(|source| EvalError::Column { column: name.into(), source })?;
    let ca = c.u32().map_err(|source| EvalError::Column { column: name.into(), source })?;
    ca.iter().map(|v| v.ok_or_else(|| EvalError::NullKey(name.into()))).collect()
}

/// `x`, with negative zero made +0: every number this module gives for output goes
/// through it, so no table, reason or printout shows `-0`. (A sum of no values is
/// -0.0 in Rust, and -0.0 also comes from data and from a difference of equal values
/// negated.)
pub fn plus_zero(x: f64) -> f64 {
    if x == 0.0 {
        0.0
    } else {
        x
    }
}

/// A number for a reason string: integers as integers, others to 6 significant digits.
pub fn fmt_num(x: f64) -> String {
    let x = plus_zero(x);
    if x == x.trunc() && x.abs() < 1e15 {
        return format!("{x:.0}");
    }
    let mag = x.abs().log10().floor() as i32;
    let decimals = (5 - mag).clamp(0, 12) as usize;
    let s = format!("{x:.decimals$}");
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

fn with_unit(x: f64, unit: &str) -> String {
    if unit == "1" {
        fmt_num(x)
    } else {
        format!("{} {unit}", fmt_num(x))
    }
}

/// Whether one subrun passes every flag of `flags` (a cut file's `sum_subruns_passing`,
/// whose flags have absolute cuts only): the dqc stage's evaluation, of this subrun
/// alone. A subrun that cannot be evaluated does not pass.
pub fn subrun_passes(cuts: &CutFile, flags: &[String], m: &crate::analysis::metrics::SubrunMetrics) -> bool {
    let df = crate::tables::subrun_metrics(std::slice::from_ref(m));
    match evaluate(cuts, &df) {
        Ok(ev) => ev.flags.iter().filter(|(f, _)| flags.contains(f)).all(|(_, v)| v.first() == Some(&true)),
        Err(_) => false,
    }
}

/// The median of each run's finite values (the "run median" of relative cuts).
pub fn run_medians(values: &[Option<f64>], runs: &[u32]) -> BTreeMap<u32, f64> {
    let mut by_run: BTreeMap<u32, Vec<f64>> = BTreeMap::new();
    for (v, &run) in values.iter().zip(runs) {
        if let Some(v) = v.filter(|v| v.is_finite()) {
            by_run.entry(run).or_default().push(v);
        }
    }
    by_run.into_iter().map(|(run, vals)| (run, plus_zero(median(vals)))).collect()
}

/// Checks one value against a test; `Err(reason)` on failure (without the flag prefix).
/// `median` is the run median (relative tests), `error` the subrun's own error
/// (`within_errors_of_run_median`).
pub fn check(metric: &str, unit: &str, value: Option<f64>, test: &Test, median: Option<f64>, error: Option<f64>) -> Result<(), String> {
    let v = match value {
        None => return Err(format!("{metric} is null (not in the subrun file)")),
        Some(v) if v.is_nan() => return Err(format!("{metric} is NaN")),
        Some(v) => v,
    };
    match test {
        Test::Range { low, high } => {
            if let Some(Bound { value: b, strict }) = *low {
                if v < b || (strict && v == b) {
                    return Err(format!("{metric} = {} {} {}", with_unit(v, unit), if strict { "<=" } else { "<" }, with_unit(b, unit)));
                }
            }
            if let Some(Bound { value: b, strict }) = *high {
                if v > b || (strict && v == b) {
                    return Err(format!("{metric} = {} {} {}", with_unit(v, unit), if strict { ">=" } else { ">" }, with_unit(b, unit)));
                }
            }
            Ok(())
        }
        Test::Equals(b) => {
            if v == *b {
                Ok(())
            } else {
                Err(format!("{metric} = {} != {}", with_unit(v, unit), with_unit(*b, unit)))
            }
        }
        Test::FractionOfRunMedian(f) => {
            let Some(m) = median else { return Err(format!("{metric}: no run median (no subrun of the run has it)")) };
            if (v - m).abs() <= f * m.abs() {
                Ok(())
            } else {
                let pct = if m != 0.0 { format!("{} %", fmt_num(100.0 * (v - m).abs() / m.abs())) } else { "infinitely".into() };
                Err(format!("{metric} = {} is {pct} from the run median {} (> {} %)", with_unit(v, unit), with_unit(m, unit), fmt_num(100.0 * f)))
            }
        }
        Test::ErrorsOfRunMedian { k, error: name } => {
            let Some(m) = median else { return Err(format!("{metric}: no run median (no subrun of the run has it)")) };
            let e = match error {
                Some(e) if e.is_finite() => e,
                Some(_) => return Err(format!("{name} is NaN")),
                None => return Err(format!("{name} is null (not in the subrun file)")),
            };
            if (v - m).abs() <= k * e {
                Ok(())
            } else {
                let n = if e > 0.0 { fmt_num((v - m).abs() / e) } else { "infinitely many".into() };
                Err(format!("{metric} = {} is {n} errors ({}) from the run median {} (> {})", with_unit(v, unit), fmt_num(e), with_unit(m, unit), fmt_num(*k)))
            }
        }
    }
}

/// Evaluates every cut of `cuts` on every row of `metrics`.
pub fn evaluate(cuts: &CutFile, metrics: &DataFrame) -> Result<Evaluation, EvalError> {
    let runs = column_key(metrics, "run")?;
    let subruns = column_key(metrics, "subrun")?;
    let n = runs.len();
    // The columns the cuts need, each read once.
    let mut columns: BTreeMap<&str, Vec<Option<f64>>> = BTreeMap::new();
    for cut in &cuts.cuts {
        let mut names: Vec<&str> = cut.metrics.clone();
        let tests = std::iter::once(&cut.test).chain(cuts.overrides.iter().filter(|o| o.cut == cut.name).map(|o| &o.test));
        names.extend(tests.filter_map(|t| match t {
            Test::ErrorsOfRunMedian { error, .. } => Some(*error),
            _ => None,
        }));
        for m in names {
            if !columns.contains_key(m) {
                columns.insert(m, column_f64(metrics, m)?);
            }
        }
    }
    let ctags: Vec<f64> = column_f64(metrics, "ctags")?.into_iter().map(|c| plus_zero(c.unwrap_or(0.0))).collect();
    // Run medians of the metrics of relative cuts.
    let mut medians: BTreeMap<(&str, u32), f64> = BTreeMap::new();
    let relative = |t: &Test| matches!(t, Test::FractionOfRunMedian(_) | Test::ErrorsOfRunMedian { .. });
    for cut in &cuts.cuts {
        if !relative(&cut.test) && !cuts.overrides.iter().any(|o| o.cut == cut.name && relative(&o.test)) {
            continue;
        }
        for &m in &cut.metrics {
            for (run, med) in run_medians(&columns[m], &runs) {
                medians.insert((m, run), med);
            }
        }
    }

    let mut flag_values: Vec<(String, Vec<bool>)> = cuts.flags.iter().map(|f| (f.clone(), vec![true; n])).collect();
    let flag_index: BTreeMap<&str, usize> = cuts.flags.iter().enumerate().map(|(i, f)| (f.as_str(), i)).collect();
    let mut reasons: Vec<Vec<String>> = vec![Vec::new(); n];
    for (i, cut) in cuts.cuts.iter().enumerate() {
        let fi = flag_index[cut.flag.as_str()];
        for row in 0..n {
            let test = cuts.test_for(i, runs[row]);
            for &m in &cut.metrics {
                let err = match test {
                    Test::ErrorsOfRunMedian { error, .. } => columns[error][row],
                    _ => None,
                };
                if let Err(why) = check(m, cut.unit, columns[m][row], test, medians.get(&(m, runs[row])).copied(), err) {
                    flag_values[fi].1[row] = false;
                    reasons[row].push(format!("{}: {why}", cut.flag));
                }
            }
        }
    }
    let required: Vec<usize> = cuts.required.iter().map(|f| flag_index[f.as_str()]).collect();
    let ok: Vec<bool> = (0..n).map(|row| required.iter().all(|&fi| flag_values[fi].1[row])).collect();
    Ok(Evaluation {
        sha256: cuts.sha256.clone(),
        cut_name: cuts.name.clone(),
        runs,
        subruns,
        flags: flag_values,
        required: cuts.required.clone(),
        ok,
        reasons: reasons.into_iter().map(|r| r.join("; ")).collect(),
        ctags,
    })
}

/// One run's summary.
#[derive(Debug, Clone, PartialEq)]
pub struct RunSummary {
    pub run: u32,
    pub subruns: usize,
    pub good_subruns: usize,
    /// Pass fraction of each flag, in the cut file's order.
    pub pass_fraction: Vec<f64>,
    pub ctags: f64,
    pub ctags_good: f64,
}

impl Evaluation {
    /// Per-run summaries, by run.
    pub fn run_summaries(&self) -> Vec<RunSummary> {
        let mut rows: BTreeMap<u32, Vec<usize>> = BTreeMap::new();
        for (i, &r) in self.runs.iter().enumerate() {
            rows.entry(r).or_default().push(i);
        }
        rows.into_iter()
            .map(|(run, idx)| {
                let n = idx.len();
                RunSummary {
                    run,
                    subruns: n,
                    good_subruns: idx.iter().filter(|&&i| self.ok[i]).count(),
                    pass_fraction: self.flags.iter().map(|(_, v)| plus_zero(idx.iter().filter(|&&i| v[i]).count() as f64 / n as f64)).collect(),
                    // Summed from +0 (an empty f64 sum is -0.0).
                    ctags: plus_zero(idx.iter().fold(0.0, |t, &i| t + self.ctags[i])),
                    ctags_good: plus_zero(idx.iter().filter(|&&i| self.ok[i]).fold(0.0, |t, &i| t + self.ctags[i])),
                }
            })
            .collect()
    }

    /// `subrun_status`: run, subrun, one boolean per flag, ok, reasons, cuts_sha256.
    pub fn status_frame(&self) -> DataFrame {
        let mut cols = vec![Column::new("run".into(), &self.runs), Column::new("subrun".into(), &self.subruns)];
        for (f, v) in &self.flags {
            cols.push(Column::new(f.as_str().into(), v));
        }
        cols.push(Column::new("ok".into(), &self.ok));
        cols.push(Column::new("reasons".into(), &self.reasons));
        cols.push(Column::new("cuts_sha256".into(), vec![self.sha256.as_str(); self.runs.len()]));
        DataFrame::new_infer_height(cols).expect("columns of equal length")
    }

    /// `run_summary`: run, subruns, good_subruns, <flag>_pass_fraction..., ctags,
    /// ctags_good, cuts_sha256.
    pub fn summary_frame(&self) -> DataFrame {
        let s = self.run_summaries();
        let mut cols = vec![
            Column::new("run".into(), s.iter().map(|r| r.run).collect::<Vec<u32>>()),
            Column::new("subruns".into(), s.iter().map(|r| r.subruns as u32).collect::<Vec<u32>>()),
            Column::new("good_subruns".into(), s.iter().map(|r| r.good_subruns as u32).collect::<Vec<u32>>()),
        ];
        for (k, (f, _)) in self.flags.iter().enumerate() {
            cols.push(Column::new(format!("{f}_pass_fraction").into(), s.iter().map(|r| r.pass_fraction[k]).collect::<Vec<f64>>()));
        }
        cols.push(Column::new("ctags".into(), s.iter().map(|r| r.ctags).collect::<Vec<f64>>()));
        cols.push(Column::new("ctags_good".into(), s.iter().map(|r| r.ctags_good).collect::<Vec<f64>>()));
        cols.push(Column::new("cuts_sha256".into(), vec![self.sha256.as_str(); s.len()]));
        DataFrame::new_infer_height(cols).expect("columns of equal length")
    }
}

/// A subrun whose `ok` differs between two evaluations of the same metrics.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    pub run: u32,
    pub subrun: u32,
    pub old_ok: bool,
    pub new_ok: bool,
    /// Flags whose value changed: (flag, old, new); `None` where a file lacks the flag.
    pub flags: Vec<(String, Option<bool>, Option<bool>)>,
    pub ctags: f64,
    pub new_reasons: String,
}

impl Change {
    /// The CTAGs this change gains (+) or loses (-); +0 when the subrun has none
    /// (never -0).
    pub fn ctags_change(&self) -> f64 {
        plus_zero(if self.new_ok { self.ctags } else { -self.ctags })
    }
}

/// The subruns whose `ok` changes from `old` to `new` (same metrics, same row order).
pub fn diff(old: &Evaluation, new: &Evaluation) -> Vec<Change> {
    assert_eq!((&old.runs, &old.subruns), (&new.runs, &new.subruns), "diff compares two evaluations of the same metrics");
    let value = |e: &Evaluation, f: &str, row: usize| e.flags.iter().find(|(g, _)| g == f).map(|(_, v)| v[row]);
    let mut names: Vec<&str> = old.flags.iter().map(|(f, _)| f.as_str()).collect();
    for (f, _) in &new.flags {
        if !names.contains(&f.as_str()) {
            names.push(f);
        }
    }
    (0..old.runs.len())
        .filter(|&row| old.ok[row] != new.ok[row])
        .map(|row| Change {
            run: old.runs[row],
            subrun: old.subruns[row],
            old_ok: old.ok[row],
            new_ok: new.ok[row],
            flags: names
                .iter()
                .map(|f| (f.to_string(), value(old, f, row), value(new, f, row)))
                .filter(|(_, a, b)| a != b)
                .collect(),
            ctags: plus_zero(old.ctags[row]),
            new_reasons: new.reasons[row].clone(),
        })
        .collect()
}
