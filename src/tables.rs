//! The output tables of spec section 6 as polars DataFrames, and their Parquet files.
//!
//! Column names and order follow the spec; a metric that could not be computed is
//! null. Files are written atomically (a temporary file renamed into place), so a
//! reader never sees half a table.

use std::fs::File;
use std::path::{Path, PathBuf};

use polars::prelude::*;

use crate::analysis::interval::IntervalResult;
use crate::analysis::metrics::SubrunMetrics;
use crate::layout;

/// Why a table could not be written or read.
#[derive(Debug, thiserror::Error)]
pub enum TableError {
    #[error("{path}: {source}", path = path.display())]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{path}: {source}", path = path.display())]
    Polars { path: PathBuf, source: PolarsError },
}

fn f64_col(name: &str, v: impl Iterator<Item = Option<f64>>) -> Column {
    Column::new(name.into(), v.collect::<Vec<Option<f64>>>())
}

fn u32_col(name: &str, v: impl Iterator<Item = u32>) -> Column {
    Column::new(name.into(), v.collect::<Vec<u32>>())
}

fn bool_col(name: &str, v: impl Iterator<Item = bool>) -> Column {
    Column::new(name.into(), v.collect::<Vec<bool>>())
}

fn frame(columns: Vec<Column>) -> DataFrame {
    DataFrame::new_infer_height(columns).expect("every column is built from the same rows")
}

/// `subrun_metrics`: one row per subrun.
pub fn subrun_metrics(rows: &[SubrunMetrics]) -> DataFrame {
    let f = |name: &str, get: &dyn Fn(&SubrunMetrics) -> Option<f64>| f64_col(name, rows.iter().map(get));
    let count = |name: &str, get: &dyn Fn(&SubrunMetrics) -> Option<u32>| Column::new(name.into(), rows.iter().map(get).collect::<Vec<Option<u32>>>());
    let mut cols = vec![
        u32_col("run", rows.iter().map(|r| r.run)),
        u32_col("subrun", rows.iter().map(|r| r.subrun)),
        Column::new("file".into(), rows.iter().map(|r| r.file.as_str()).collect::<Vec<&str>>()),
        f("start_time", &|r| r.start_time),
        f("end_time", &|r| r.end_time),
        f("fills", &|r| r.fills),
        f("fills_nodqc", &|r| r.fills_nodqc),
        f("fill_fraction", &|r| r.fill_fraction),
        f("ctags", &|r| r.ctags),
        f("ctags_nodqc", &|r| r.ctags_nodqc),
        f("ctags_per_fill", &|r| r.ctags_per_fill),
        f("t0", &|r| r.t0),
    ];
    for (i, stem) in layout::paths::IBMS.iter().enumerate() {
        cols.push(f(&format!("{stem}_mean"), &|r| r.ibms_mean[i]));
    }
    for (i, stem) in layout::paths::IBMS.iter().enumerate() {
        cols.push(f(&format!("{stem}_rms"), &|r| r.ibms_rms[i]));
    }
    cols.push(f("quad_step1", &|r| r.quad_step1));
    cols.push(f("quad_step2", &|r| r.quad_step2));
    for (what, get) in [
        ("amplitude", (|r: &SubrunMetrics| r.kicker_amplitude) as fn(&SubrunMetrics) -> [Option<f64>; layout::N_KICKERS]),
        ("timing", |r| r.kicker_timing),
        ("fwhm", |r| r.kicker_fwhm),
    ] {
        for k in 0..layout::N_KICKERS {
            cols.push(f(&format!("kicker{}_{what}", k + 1), &|r| get(r)[k]));
        }
    }
    for l in 0..layout::N_LASERS {
        cols.push(f(&format!("laser{}_sm", l + 1), &|r| r.laser_sm[l]));
    }
    cols.extend([
        f("singles", &|r| r.singles),
        f("doubles", &|r| r.doubles),
        f("background", &|r| r.background),
        f("loss_ratio", &|r| r.loss_ratio),
        f("loss_ratio_err", &|r| r.loss_ratio_err),
        f("loss_ratio_ctags", &|r| r.loss_ratio_ctags),
        f("loss_ratio_ctags_err", &|r| r.loss_ratio_ctags_err),
        count("n_dead_xtals", &|r| r.n_dead_xtals),
        count("n_hot_xtals", &|r| r.n_hot_xtals),
        count("n_noisy_xtals", &|r| r.n_noisy_xtals),
        count("n_dead_straws", &|r| r.n_dead_straws),
        count("n_noisy_straws", &|r| r.n_noisy_straws),
        f("hv_trip_fills", &|r| r.hv_trip_fills),
    ]);
    frame(cols)
}

/// The interval columns shared by the per-channel tables: `n` rows per interval.
fn interval_cols(intervals: &[IntervalResult], n: usize) -> [Column; 2] {
    let rep = |get: fn(&IntervalResult) -> u32| u32_col("", intervals.iter().flat_map(|i| std::iter::repeat_n(get(i), n)));
    [rep(|i| i.run_first).with_name("run_first".into()), rep(|i| i.run_last).with_name("run_last".into())]
}

/// `gain_constants`: one row per crystal per interval. Beyond the spec's columns it
/// has `ifg_norm_err` and `detail` (why the status is not `ok`, in words).
pub fn gain_constants(intervals: &[IntervalResult]) -> DataFrame {
    let rows: Vec<_> = intervals.iter().flat_map(|i| &i.gains).collect();
    let fit = |name: &str, get: &dyn Fn(&crate::analysis::fit::IfgFit) -> f64| f64_col(name, rows.iter().map(|g| g.fit.as_ref().ok().map(get)));
    let mut cols: Vec<Column> = interval_cols(intervals, layout::N_XTALS).into();
    cols.extend([
        u32_col("calo", rows.iter().map(|g| layout::xtal_of(g.channel).0 as u32)),
        u32_col("xtal", rows.iter().map(|g| layout::xtal_of(g.channel).1 as u32)),
        u32_col("channel", rows.iter().map(|g| g.channel as u32)),
        f64_col("oof_ratio", rows.iter().map(|g| g.oof.ratio.map(|r| r.0))),
        f64_col("oof_ratio_err", rows.iter().map(|g| g.oof.ratio.map(|r| r.1))),
        f64_col("gain", rows.iter().map(|g| g.oof.gain.map(|r| r.0))),
        f64_col("gain_err", rows.iter().map(|g| g.oof.gain.map(|r| r.1))),
        f64_col("energy_scale", rows.iter().map(|g| g.oof.gain.map(|r| 1.0 / r.0))),
        fit("ifg_norm", &|f| f.norm),
        fit("ifg_norm_err", &|f| f.norm_err),
        fit("ifg_amp", &|f| f.amp),
        fit("ifg_amp_err", &|f| f.amp_err),
        fit("ifg_tau_us", &|f| f.tau_us),
        fit("ifg_tau_err", &|f| f.tau_err),
        fit("ifg_cov_amp_tau", &|f| f.cov_amp_tau),
        fit("ifg_chi2_ndf", &|f| f.chi2_ndf()),
        Column::new("ifg_ndf".into(), rows.iter().map(|g| g.fit.as_ref().ok().map(|f| f.ndf)).collect::<Vec<Option<u32>>>()),
        Column::new("status".into(), rows.iter().map(|g| g.status.as_str()).collect::<Vec<&str>>()),
        Column::new("detail".into(), rows.iter().map(|g| g.detail.as_str()).collect::<Vec<&str>>()),
    ]);
    frame(cols)
}

/// `calo_channel_status`: one row per crystal per interval.
pub fn calo_channel_status(intervals: &[IntervalResult]) -> DataFrame {
    let rows: Vec<(usize, _)> = intervals.iter().flat_map(|i| i.xtals.iter().enumerate()).collect();
    let mut cols: Vec<Column> = interval_cols(intervals, layout::N_XTALS).into();
    cols.extend([
        u32_col("channel", rows.iter().map(|(ch, _)| *ch as u32)),
        u32_col("calo", rows.iter().map(|(ch, _)| layout::xtal_of(*ch).0 as u32)),
        u32_col("xtal", rows.iter().map(|(ch, _)| layout::xtal_of(*ch).1 as u32)),
        f64_col("hits", rows.iter().map(|(_, s)| Some(s.hits))),
        f64_col("pedestal_rms", rows.iter().map(|(_, s)| Some(s.pedestal_rms).filter(|v| v.is_finite()))),
        bool_col("dead", rows.iter().map(|(_, s)| s.dead)),
        bool_col("hot", rows.iter().map(|(_, s)| s.hot)),
        bool_col("noisy", rows.iter().map(|(_, s)| s.noisy)),
        bool_col("ok", rows.iter().map(|(_, s)| s.ok())),
    ]);
    frame(cols)
}

/// `tracker_channel_status`: one row per straw per interval.
pub fn tracker_channel_status(intervals: &[IntervalResult]) -> DataFrame {
    let rows: Vec<(usize, _)> = intervals.iter().flat_map(|i| i.straws.iter().enumerate()).collect();
    let mut cols: Vec<Column> = interval_cols(intervals, layout::N_STRAWS).into();
    cols.extend([
        u32_col("channel", rows.iter().map(|(ch, _)| *ch as u32)),
        u32_col("station", rows.iter().map(|(ch, _)| layout::straw_of(*ch).0)),
        u32_col("module", rows.iter().map(|(ch, _)| layout::straw_of(*ch).1 as u32)),
        u32_col("straw", rows.iter().map(|(ch, _)| layout::straw_of(*ch).2 as u32)),
        f64_col("hits", rows.iter().map(|(_, s)| Some(s.status.hits))),
        f64_col("drift_mean_ns", rows.iter().map(|(_, s)| s.drift_mean_ns)),
        f64_col("drift_rms_ns", rows.iter().map(|(_, s)| s.drift_rms_ns)),
        bool_col("dead", rows.iter().map(|(_, s)| s.status.dead)),
        bool_col("noisy", rows.iter().map(|(_, s)| s.status.noisy)),
        bool_col("ok", rows.iter().map(|(_, s)| s.status.ok())),
    ]);
    frame(cols)
}

/// Writes `df` to `path` as Parquet (zstd), atomically.
pub fn write_parquet(df: &mut DataFrame, path: &Path) -> Result<(), TableError> {
    let tmp = path.with_extension("parquet.tmp");
    let io = |source| TableError::Io { path: path.to_path_buf(), source };
    let file = File::create(&tmp).map_err(io)?;
    ParquetWriter::new(file)
        .with_compression(ParquetCompression::Zstd(None))
        .finish(df)
        .map_err(|source| TableError::Polars { path: path.to_path_buf(), source })?;
    std::fs::rename(&tmp, path).map_err(io)
}

/// Reads a Parquet table.
pub fn read_parquet(path: &Path) -> Result<DataFrame, TableError> {
    let file = File::open(path).map_err(|source| TableError::Io { path: path.to_path_buf(), source })?;
    ParquetReader::new(file).finish().map_err(|source| TableError::Polars { path: path.to_path_buf(), source })
}

/// A table read back, with its path for messages: typed column access for the
/// consumers of the tables (plots, report).
pub struct Table {
    pub path: PathBuf,
    pub df: DataFrame,
}

impl Table {
    pub fn read(path: &Path) -> Result<Table, TableError> {
        Ok(Table { path: path.to_path_buf(), df: read_parquet(path)? })
    }

    pub fn height(&self) -> usize {
        self.df.height()
    }

    fn column(&self, name: &str, to: &DataType) -> Result<Column, TableError> {
        let bad = |e: PolarsError| TableError::Polars { path: self.path.clone(), source: e };
        self.df.column(name).map_err(bad)?.cast(to).map_err(bad)
    }

    pub fn f64(&self, name: &str) -> Result<Vec<Option<f64>>, TableError> {
        let c = self.column(name, &DataType::Float64)?;
        Ok(c.f64().map_err(|e| TableError::Polars { path: self.path.clone(), source: e })?.iter().collect())
    }

    /// An integer column (null as 0: key columns have no nulls).
    pub fn u32(&self, name: &str) -> Result<Vec<u32>, TableError> {
        let c = self.column(name, &DataType::UInt32)?;
        Ok(c.u32().map_err(|e| TableError::Polars { path: self.path.clone(), source: e })?.iter().map(|v| v.unwrap_or(0)).collect())
    }

    /// A boolean column (null as false).
    pub fn bool(&self, name: &str) -> Result<Vec<bool>, TableError> {
        let c = self.column(name, &DataType::Boolean)?;
        Ok(c.bool().map_err(|e| TableError::Polars { path: self.path.clone(), source: e })?.iter().map(|v| v.unwrap_or(false)).collect())
    }

    pub fn str(&self, name: &str) -> Result<Vec<String>, TableError> {
        let c = self.column(name, &DataType::String)?;
        Ok(c.str().map_err(|e| TableError::Polars { path: self.path.clone(), source: e })?.iter().map(|v| v.unwrap_or("").to_string()).collect())
    }
}
