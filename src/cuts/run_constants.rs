//! The per-run DQC constants of the g-2 checklist (`kicker_dqc`, `t0_dqc`,
//! `laser_dqc`): for each run, the bounds that full production applies fill by fill,
//! from the run's own subruns. For each quantity: the median over the run's subruns
//! with a finite value, a robust width (1.4826 x the median absolute deviation, the
//! standard deviation for normal data; raised to `min_relative_width` x |median| so
//! that a quantity that never moved does not get a window of zero), and the window
//! median +- k widths. Fewer than `min_subruns` values give nulls (no bounds), never a
//! window from one subrun.
//!
//! Pure functions of a `subrun_metrics` table and the cut file's settings; the dqc
//! stage writes the tables and the upload stores them with run IOVs.

use std::collections::BTreeMap;

use polars::prelude::*;

use super::eval::{column_f64, column_key, plus_zero, EvalError};
use crate::analysis::channels::median;
use crate::layout::{N_KICKERS, N_LASERS};

/// The normal-consistency factor of the median absolute deviation.
pub const MAD_TO_SIGMA: f64 = 1.4826;

/// The `[run_constants]` settings of a cut file.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RunConstantsConfig {
    /// Half-width of the window in robust widths.
    pub k: f64,
    /// The smallest width, as a fraction of |median|.
    pub min_relative_width: f64,
    /// The fewest subruns with a value that give bounds.
    pub min_subruns: u32,
}

impl RunConstantsConfig {
    pub const STANDARD: RunConstantsConfig = RunConstantsConfig { k: 5.0, min_relative_width: 0.001, min_subruns: 3 };
}

/// One quantity's window for one run.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Window {
    pub median: f64,
    pub width: f64,
    pub low: f64,
    pub high: f64,
}

/// The window of `values` (finite ones only; the caller passes the run's subruns), or
/// `None` with fewer than `min_subruns` of them.
pub fn window(values: &[f64], cfg: &RunConstantsConfig) -> Option<Window> {
    let v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
    if v.is_empty() || v.len() < cfg.min_subruns as usize {
        return None;
    }
    let m = median(v.iter().copied());
    let mad = median(v.iter().map(|x| (x - m).abs()));
    let width = (MAD_TO_SIGMA * mad).max(cfg.min_relative_width * m.abs());
    Some(Window { median: plus_zero(m), width: plus_zero(width), low: plus_zero(m - cfg.k * width), high: plus_zero(m + cfg.k * width) })
}

/// The kicker quantities: metric stem, column stem, unit suffix.
pub const KICKER_QUANTITIES: [(&str, &str); 3] = [("amplitude", "kv"), ("timing", "ns"), ("fwhm", "ns")];

/// Row indices of each run, in run order (rows keep the table's order).
fn rows_by_run(runs: &[u32]) -> BTreeMap<u32, Vec<usize>> {
    let mut m: BTreeMap<u32, Vec<usize>> = BTreeMap::new();
    for (i, &r) in runs.iter().enumerate() {
        m.entry(r).or_default().push(i);
    }
    m
}

/// Columns of windows: `{stem}_median{sfx}`, `_width`, `_low`, `_high`.
fn window_columns(stem: &str, sfx: &str, names: [&str; 4], w: &[Option<Window>]) -> Vec<Column> {
    let get: [fn(&Window) -> f64; 4] = [|w| w.median, |w| w.width, |w| w.low, |w| w.high];
    names
        .iter()
        .zip(get)
        .map(|(n, g)| {
            let name = if sfx.is_empty() { format!("{stem}_{n}") } else { format!("{stem}_{n}_{sfx}") };
            Column::new(name.into(), w.iter().map(|x| x.as_ref().map(g)).collect::<Vec<Option<f64>>>())
        })
        .collect()
}

fn frame(cols: Vec<Column>) -> DataFrame {
    DataFrame::new_infer_height(cols).expect("every column is built from the same rows")
}

/// Values of `column` at `rows`, with the rows where every one of `all` is finite.
fn finite_rows(all: &[&Vec<Option<f64>>], rows: &[usize]) -> Vec<usize> {
    rows.iter().copied().filter(|&i| all.iter().all(|c| c[i].is_some_and(f64::is_finite))).collect()
}

/// `kicker_dqc`: one row per run and kicker (1..3). A kicker's three windows come from
/// the same subruns: those where its amplitude, timing and FWHM are all finite
/// (`n_subruns`). Units: kV for the amplitude, ns for timing and FWHM.
pub fn kicker_dqc(metrics: &DataFrame, cfg: &RunConstantsConfig) -> Result<DataFrame, EvalError> {
    let runs = column_key(metrics, "run")?;
    let mut cols: Vec<Vec<Vec<Option<f64>>>> = Vec::new();
    for k in 1..=N_KICKERS {
        cols.push(KICKER_QUANTITIES.iter().map(|(q, _)| column_f64(metrics, &format!("kicker{k}_{q}"))).collect::<Result<_, _>>()?);
    }
    let (mut run_col, mut kicker_col, mut n_col) = (Vec::new(), Vec::new(), Vec::new());
    let mut windows: [Vec<Option<Window>>; 3] = Default::default();
    for (&run, rows) in &rows_by_run(&runs) {
        for (k, c) in cols.iter().enumerate() {
            let used = finite_rows(&c.iter().collect::<Vec<_>>(), rows);
            run_col.push(run);
            kicker_col.push(k as u32 + 1);
            n_col.push(used.len() as u32);
            for (q, w) in windows.iter_mut().enumerate() {
                let v: Vec<f64> = used.iter().map(|&i| c[q][i].expect("finite")).collect();
                w.push(window(&v, cfg));
            }
        }
    }
    let mut out = vec![Column::new("run".into(), &run_col), Column::new("kicker".into(), &kicker_col), Column::new("n_subruns".into(), &n_col)];
    for ((q, unit), w) in KICKER_QUANTITIES.iter().zip(&windows) {
        out.extend(window_columns(q, unit, ["median", "width", "low", "high"], w));
    }
    out.push(Column::new("k".into(), vec![cfg.k; run_col.len()]));
    Ok(frame(out))
}

/// `t0_dqc`: one row per run: the T0 reference (the run median of `t0`), its robust
/// width and window (arbitrary units, as `t0`).
pub fn t0_dqc(metrics: &DataFrame, cfg: &RunConstantsConfig) -> Result<DataFrame, EvalError> {
    let runs = column_key(metrics, "run")?;
    let t0 = column_f64(metrics, "t0")?;
    let (mut run_col, mut n_col, mut w) = (Vec::new(), Vec::new(), Vec::new());
    for (&run, rows) in &rows_by_run(&runs) {
        let used = finite_rows(&[&t0], rows);
        let v: Vec<f64> = used.iter().map(|&i| t0[i].expect("finite")).collect();
        run_col.push(run);
        n_col.push(used.len() as u32);
        w.push(window(&v, cfg));
    }
    let mut out = vec![Column::new("run".into(), &run_col), Column::new("n_subruns".into(), &n_col)];
    out.extend(window_columns("t0", "", ["reference", "width", "low", "high"], &w));
    out.push(Column::new("k".into(), vec![cfg.k; run_col.len()]));
    Ok(frame(out))
}

/// `laser_dqc`: one row per run and laser (1..6): the source-monitor reference (the
/// run median of `laserN_sm`), width and window (arbitrary units).
pub fn laser_dqc(metrics: &DataFrame, cfg: &RunConstantsConfig) -> Result<DataFrame, EvalError> {
    let runs = column_key(metrics, "run")?;
    let sm: Vec<Vec<Option<f64>>> = (1..=N_LASERS).map(|l| column_f64(metrics, &format!("laser{l}_sm"))).collect::<Result<_, _>>()?;
    let (mut run_col, mut laser_col, mut n_col, mut w) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for (&run, rows) in &rows_by_run(&runs) {
        for (l, c) in sm.iter().enumerate() {
            let used = finite_rows(&[c], rows);
            let v: Vec<f64> = used.iter().map(|&i| c[i].expect("finite")).collect();
            run_col.push(run);
            laser_col.push(l as u32 + 1);
            n_col.push(used.len() as u32);
            w.push(window(&v, cfg));
        }
    }
    let mut out = vec![Column::new("run".into(), &run_col), Column::new("laser".into(), &laser_col), Column::new("n_subruns".into(), &n_col)];
    out.extend(window_columns("sm", "", ["reference", "width", "low", "high"], &w));
    out.push(Column::new("k".into(), vec![cfg.k; run_col.len()]));
    Ok(frame(out))
}

/// The three tables by name, in upload order.
pub fn tables(metrics: &DataFrame, cfg: &RunConstantsConfig) -> Result<[(&'static str, DataFrame); 3], EvalError> {
    Ok([("kicker_dqc", kicker_dqc(metrics, cfg)?), ("t0_dqc", t0_dqc(metrics, cfg)?), ("laser_dqc", laser_dqc(metrics, cfg)?)])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_standard_cut_file_says_what_the_defaults_are() {
        let c = crate::cuts::standard();
        assert_eq!(c.run_constants, RunConstantsConfig::STANDARD);
        assert_eq!(c.channels, crate::analysis::channels::ChannelCuts::STANDARD);
        // A file without the sections gets the same.
        let bare = "format = 1\nname = \"bare\"\nrequired = [\"fills_ok\"]\n[[cut]]\nflag = \"fills_ok\"\nmetric = \"fills\"\nmin = 50\nunit = \"fills\"\n";
        let bare = crate::cuts::parse(bare, "bare").unwrap();
        assert_eq!((bare.run_constants, bare.channels), (c.run_constants, c.channels));
    }

    #[test]
    fn window_by_hand() {
        let cfg = RunConstantsConfig { k: 2.0, min_relative_width: 0.0, min_subruns: 3 };
        // Median 3; deviations 2 1 0 1 97 -> sorted 0 1 1 2 97, MAD 1.
        let w = window(&[1.0, 2.0, 3.0, 4.0, 100.0, f64::NAN], &cfg).unwrap();
        assert_eq!(w.median, 3.0);
        assert!((w.width - 1.4826).abs() < 1e-12);
        assert!((w.low - (3.0 - 2.0 * 1.4826)).abs() < 1e-12 && (w.high - (3.0 + 2.0 * 1.4826)).abs() < 1e-12);
        // Two finite values are fewer than three: no bounds.
        assert_eq!(window(&[1.0, 2.0, f64::INFINITY], &cfg), None);
        // A quantity that never moved gets the floor.
        let floor = RunConstantsConfig { min_relative_width: 0.01, ..cfg };
        let w = window(&[135.0; 4], &floor).unwrap();
        assert!((w.width - 1.35).abs() < 1e-12 && (w.low - 132.3).abs() < 1e-9 && (w.high - 137.7).abs() < 1e-9);
    }

    #[test]
    fn tables_group_by_run_and_skip_missing_values() {
        let n = 8;
        let runs: Vec<u32> = (0..n).map(|i| if i < 4 { 10 } else { 11 }).collect();
        let mut cols = vec![Column::new("run".into(), &runs), Column::new("subrun".into(), (0..n as u32).collect::<Vec<_>>())];
        for k in 1..=N_KICKERS {
            for (q, _) in KICKER_QUANTITIES {
                // Kicker 2's timing is missing in one subrun of run 10.
                let v: Vec<Option<f64>> = (0..n).map(|i| if k == 2 && q == "timing" && i == 1 { None } else { Some(100.0 * k as f64 + i as f64) }).collect();
                cols.push(Column::new(format!("kicker{k}_{q}").into(), v));
            }
        }
        cols.push(Column::new("t0".into(), (0..n).map(|i| i as f64).collect::<Vec<_>>()));
        for l in 1..=N_LASERS {
            cols.push(Column::new(format!("laser{l}_sm").into(), vec![500.0 + l as f64; n]));
        }
        let df = DataFrame::new_infer_height(cols).unwrap();
        let cfg = RunConstantsConfig { k: 3.0, min_relative_width: 0.0, min_subruns: 3 };
        let kd = kicker_dqc(&df, &cfg).unwrap();
        assert_eq!(kd.height(), 2 * N_KICKERS);
        let n_sub: Vec<Option<u32>> = kd.column("n_subruns").unwrap().u32().unwrap().iter().collect();
        assert_eq!(n_sub, [Some(4), Some(3), Some(4), Some(4), Some(4), Some(4)]);
        // Run 10, kicker 2: subruns 0, 2, 3 -> amplitudes 200, 202, 203: median 202, MAD 1.
        let med: Vec<Option<f64>> = kd.column("amplitude_median_kv").unwrap().f64().unwrap().iter().collect();
        assert_eq!(med[1], Some(202.0));
        let hi = kd.column("amplitude_high_kv").unwrap().f64().unwrap().get(1).unwrap();
        assert!((hi - (202.0 + 3.0 * 1.4826)).abs() < 1e-12);
        let t0 = t0_dqc(&df, &cfg).unwrap();
        assert_eq!(t0.column("t0_reference").unwrap().f64().unwrap().iter().collect::<Vec<_>>(), [Some(1.5), Some(5.5)]);
        let ld = laser_dqc(&df, &cfg).unwrap();
        assert_eq!(ld.height(), 2 * N_LASERS);
        // A constant source monitor with no floor: a window of zero width, not NaN.
        assert_eq!(ld.column("sm_width").unwrap().f64().unwrap().get(0), Some(0.0));
    }
}
