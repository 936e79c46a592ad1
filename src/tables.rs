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

type GetF64 = Box<dyn Fn(&SubrunMetrics) -> Option<f64>>;
type SetF64 = Box<dyn Fn(&mut SubrunMetrics, Option<f64>)>;

/// A metric column of `subrun_metrics`: its name and how a row's field is read and
/// set, so the table is written and read back ([`subrun_metrics_rows`]) from one list.
enum MetricColumn {
    F64(String, GetF64, SetF64),
    Count(&'static str, fn(&SubrunMetrics) -> Option<u32>, fn(&mut SubrunMetrics, Option<u32>)),
}

/// The metric columns after run, subrun and file, in table order.
fn metric_columns() -> Vec<MetricColumn> {
    use MetricColumn::{Count, F64};
    macro_rules! scalar {
        ($field:ident) => {
            F64(stringify!($field).to_string(), Box::new(|r| r.$field), Box::new(|r, v| r.$field = v))
        };
    }
    macro_rules! element {
        ($name:expr, $field:ident, $i:expr) => {{
            let i = $i;
            F64($name, Box::new(move |r| r.$field[i]), Box::new(move |r, v| r.$field[i] = v))
        }};
    }
    macro_rules! count {
        ($field:ident) => {
            Count(stringify!($field), |r| r.$field, |r, v| r.$field = v)
        };
    }
    let mut cols = vec![scalar!(start_time), scalar!(end_time), scalar!(fills), scalar!(fills_nodqc), scalar!(fill_fraction), scalar!(ctags), scalar!(ctags_nodqc), scalar!(ctags_per_fill), scalar!(t0)];
    for (i, stem) in layout::paths::IBMS.iter().enumerate() {
        cols.push(element!(format!("{stem}_mean"), ibms_mean, i));
    }
    for (i, stem) in layout::paths::IBMS.iter().enumerate() {
        cols.push(element!(format!("{stem}_rms"), ibms_rms, i));
    }
    cols.extend([scalar!(quad_step1), scalar!(quad_step2)]);
    for k in 0..layout::N_KICKERS {
        cols.push(element!(format!("kicker{}_amplitude", k + 1), kicker_amplitude, k));
    }
    for k in 0..layout::N_KICKERS {
        cols.push(element!(format!("kicker{}_timing", k + 1), kicker_timing, k));
    }
    for k in 0..layout::N_KICKERS {
        cols.push(element!(format!("kicker{}_fwhm", k + 1), kicker_fwhm, k));
    }
    for l in 0..layout::N_LASERS {
        cols.push(element!(format!("laser{}_sm", l + 1), laser_sm, l));
    }
    cols.extend([
        scalar!(singles),
        scalar!(doubles),
        scalar!(background),
        scalar!(loss_ratio),
        scalar!(loss_ratio_err),
        scalar!(loss_ratio_ctags),
        scalar!(loss_ratio_ctags_err),
        count!(n_dead_xtals),
        count!(n_hot_xtals),
        count!(n_noisy_xtals),
        count!(n_dead_straws),
        count!(n_noisy_straws),
        scalar!(hv_trip_fills),
    ]);
    cols
}

/// `subrun_metrics`: one row per subrun.
pub fn subrun_metrics(rows: &[SubrunMetrics]) -> DataFrame {
    let mut cols = vec![
        u32_col("run", rows.iter().map(|r| r.run)),
        u32_col("subrun", rows.iter().map(|r| r.subrun)),
        Column::new("file".into(), rows.iter().map(|r| r.file.as_str()).collect::<Vec<&str>>()),
    ];
    for c in metric_columns() {
        cols.push(match c {
            MetricColumn::F64(name, get, _) => f64_col(&name, rows.iter().map(get)),
            MetricColumn::Count(name, get, _) => Column::new(name.into(), rows.iter().map(get).collect::<Vec<Option<u32>>>()),
        });
    }
    frame(cols)
}

/// The rows of a `subrun_metrics` table read back: `subrun_metrics(&rows)` gives the
/// same table (values are stored as doubles, so nothing is rounded).
pub fn subrun_metrics_rows(t: &Table) -> Result<Vec<SubrunMetrics>, TableError> {
    let (run, subrun, file) = (t.u32("run")?, t.u32("subrun")?, t.str("file")?);
    let mut rows: Vec<SubrunMetrics> =
        run.into_iter().zip(subrun).zip(file).map(|((run, subrun), file)| SubrunMetrics { run, subrun, file, ..SubrunMetrics::default() }).collect();
    for c in metric_columns() {
        match c {
            MetricColumn::F64(name, _, set) => rows.iter_mut().zip(t.f64(&name)?).for_each(|(r, v)| set(r, v)),
            MetricColumn::Count(name, _, set) => rows.iter_mut().zip(t.u32_opt(name)?).for_each(|(r, v)| set(r, v)),
        }
    }
    Ok(rows)
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
    cols.push(u32_col("reference_run", intervals.iter().flat_map(|i| std::iter::repeat_n(i.reference_run, layout::N_XTALS))));
    frame(cols)
}

/// `calo_quality`: one row per calorimeter per interval: its crystals that are dead,
/// hot, noisy and not ok (`n_bad`, each crystal once), the cut-file limit
/// (`max_bad`) and the per-calorimeter bit `ok` (n_bad <= max_bad).
pub fn calo_quality(intervals: &[IntervalResult]) -> DataFrame {
    let rows: Vec<_> = intervals.iter().flat_map(|i| &i.calos).collect();
    let mut cols: Vec<Column> = interval_cols(intervals, layout::N_CALOS).into();
    cols.extend([
        u32_col("calo", rows.iter().map(|c| c.calo)),
        u32_col("n_dead", rows.iter().map(|c| c.dead)),
        u32_col("n_hot", rows.iter().map(|c| c.hot)),
        u32_col("n_noisy", rows.iter().map(|c| c.noisy)),
        u32_col("n_bad", rows.iter().map(|c| c.bad)),
        u32_col("max_bad", rows.iter().map(|c| c.max_bad)),
        bool_col("ok", rows.iter().map(|c| c.ok)),
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

/// Identifier columns: numbers that name things, not quantities (no unit).
const KEYS: [&str; 14] = ["run", "subrun", "run_first", "run_last", "reference_run", "channel", "calo", "xtal", "station", "module", "straw", "kicker", "laser", "file"];

/// The unit of a column of one of gm2dqc's tables (the name is its Parquet file's stem,
/// or its database folder), `None` for identifiers, flags and text. `"1"` is a pure
/// number; `"a.u."` arbitrary units, as the production histograms have them.
pub fn unit(table: &str, column: &str) -> Option<&'static str> {
    if KEYS.contains(&column) {
        return None;
    }
    if table == "subrun_metrics" {
        return crate::cuts::catalog::METRICS.iter().find(|m| m.name == column).map(|m| m.unit);
    }
    let by_suffix = [("_kv", "kV"), ("_ns", "ns"), ("_us", "us")];
    if let Some((_, u)) = by_suffix.iter().find(|(s, _)| column.ends_with(s)) {
        return Some(u);
    }
    Some(match (table, column) {
        ("gain_constants", "ifg_tau_err" | "ifg_cov_amp_tau") => "us",
        ("gain_constants", c) if c.starts_with("oof_") || c.starts_with("gain") || c.starts_with("ifg_") || c == "energy_scale" => "1",
        ("calo_channel_status" | "tracker_channel_status", "hits") => "hits",
        ("calo_channel_status", "pedestal_rms") => "ADC counts",
        ("calo_quality", _) if column.starts_with("n_") || column == "max_bad" => "crystals",
        ("kicker_dqc" | "t0_dqc" | "laser_dqc", "n_subruns") => "subruns",
        ("kicker_dqc" | "t0_dqc" | "laser_dqc", "k") => "robust widths",
        ("t0_dqc", c) if c.starts_with("t0_") => "a.u.",
        ("laser_dqc", c) if c.starts_with("sm_") => "a.u.",
        ("run_summary", "subruns" | "good_subruns") => "subruns",
        ("run_summary", "ctags" | "ctags_good") => "ctags",
        ("run_summary", c) if c.ends_with("_pass_fraction") => "1",
        _ => return None,
    })
}

/// The units of a table's columns, as the JSON object a Parquet file carries in its
/// key-value metadata (`gm2dqc.units`).
pub fn units_json(table: &str, df: &DataFrame) -> String {
    let m: serde_json::Map<String, serde_json::Value> = df.get_column_names().iter().filter_map(|c| unit(table, c).map(|u| (c.to_string(), u.into()))).collect();
    serde_json::Value::Object(m).to_string()
}

/// The count columns of a table: whole numbers held as floats in memory (they are
/// integrals of histograms), integers in the table's file.
pub fn count_columns(table: &str) -> &'static [&'static str] {
    match table {
        "subrun_metrics" => &["fills", "fills_nodqc", "ctags", "ctags_nodqc", "singles", "doubles", "background", "hv_trip_fills"],
        "calo_channel_status" | "tracker_channel_status" => &["hits"],
        "run_summary" => &["ctags", "ctags_good"],
        _ => &[],
    }
}

/// The time columns (seconds since the epoch) of `subrun_metrics` and the UTC timestamp
/// columns its file holds beside them.
pub const TIMESTAMPS: [(&str, &str); 2] = [("start_time", "start_utc"), ("end_time", "end_utc")];

/// The separator of the reasons of one subrun in memory (and in the database).
pub const REASON_SEPARATOR: &str = "; ";

/// A table as its file holds it, for an analyst reading it with any Parquet reader:
/// counts as 64-bit integers (a count column with a value that is not a whole number,
/// which a weighted histogram could give, stays a float column), and `reasons` of
/// `subrun_status` as a list of strings, one per failing cut. [`from_file_types`]
/// undoes it exactly. The times of `subrun_metrics` (`start_time`, `end_time`,
/// seconds since the epoch, exact) gain UTC timestamps beside them (`start_utc`,
/// `end_utc`, microseconds), which [`from_file_types`] drops again.
pub fn to_file_types(table: &str, df: &DataFrame) -> PolarsResult<DataFrame> {
    let mut out = df.clone();
    for &c in count_columns(table) {
        let Ok(col) = df.column(c) else { continue };
        let f = col.cast(&DataType::Float64)?;
        let whole = f.f64()?.iter().all(|v| v.is_none_or(|x| x.fract() == 0.0 && x.abs() < 9.0e15));
        if whole {
            out.with_column(f.cast(&DataType::Int64)?)?;
        }
    }
    for (seconds, stamp) in TIMESTAMPS.iter().filter(|_| table == "subrun_metrics") {
        let Ok(col) = df.column(seconds) else { continue };
        let micros: Int64Chunked = col.cast(&DataType::Float64)?.f64()?.iter().map(|v| v.filter(|x| x.is_finite() && x.abs() < 9.0e12).map(|x| (x * 1e6).round() as i64)).collect();
        // Not a cast: without polars' `timezones` feature a cast drops the zone.
        let stamps = micros.with_name((*stamp).into()).into_datetime(TimeUnit::Microseconds, Some(TimeZone::UTC)).into_column();
        let at = out.get_column_index(seconds).map_or(out.width(), |i| i + 1);
        out.insert_column(at, stamps)?;
    }
    if table == "subrun_status" {
        if let Ok(col) = df.column("reasons") {
            let lists: Vec<Series> = col.str()?.iter().map(|r| Series::new("".into(), r.filter(|s| !s.is_empty()).map_or(Vec::new(), |s| s.split(REASON_SEPARATOR).collect::<Vec<_>>()))).collect();
            let mut list = Series::new("reasons".into(), lists);
            if df.height() == 0 {
                list = list.cast(&DataType::List(Box::new(DataType::String)))?;
            }
            out.with_column(list.into_column())?;
        }
    }
    Ok(out)
}

/// A table read from its file as gm2dqc's code holds it: counts as floats, `reasons`
/// as one string (the inverse of [`to_file_types`]; a table written before it, with
/// floats and strings, is read as it is).
pub fn from_file_types(df: DataFrame, table: &str) -> PolarsResult<DataFrame> {
    let mut out = df;
    for (_, stamp) in TIMESTAMPS.iter().filter(|_| table == "subrun_metrics") {
        if out.get_column_index(stamp).is_some() {
            out = out.drop(stamp)?;
        }
    }
    for &c in count_columns(table) {
        let cast = match out.column(c) {
            Ok(col) if col.dtype().is_integer() => Some(col.cast(&DataType::Float64)?),
            _ => None,
        };
        if let Some(col) = cast {
            out.with_column(col)?;
        }
    }
    if table == "subrun_status" {
        let joined = match out.column("reasons") {
            Ok(col) if matches!(col.dtype(), DataType::List(_)) => {
                let rows: Vec<Option<String>> = col
                    .list()?
                    .series_iter()
                    .map(|l| l.map(|s| s.str().map(|t| t.iter().map(|x| x.unwrap_or("")).collect::<Vec<_>>().join(REASON_SEPARATOR))).transpose())
                    .collect::<PolarsResult<_>>()?;
                Some(Column::new("reasons".into(), rows))
            }
            _ => None,
        };
        if let Some(col) = joined {
            out.with_column(col)?;
        }
    }
    Ok(out)
}

/// The key-value metadata of a table's Parquet file: the Arrow schema (`ARROW:schema`,
/// the one polars would write) with each column's unit as its field metadata (`unit`),
/// which is where pyarrow, pandas and arrow-rs find it, and the same units as one JSON
/// object (`gm2dqc.units`) for readers that see only the Parquet footer.
fn file_metadata(table: &str, units: String, typed: &DataFrame) -> KeyValueMetadata {
    let mut schema = typed.schema().to_arrow(CompatLevel::newest());
    for (name, field) in schema.iter_mut() {
        if let Some(u) = unit(table, name) {
            let mut md = field.metadata.as_deref().cloned().unwrap_or_default();
            md.insert("unit".into(), u.into());
            field.metadata = Some(std::sync::Arc::new(md));
        }
    }
    let arrow = polars_parquet::write::schema_to_metadata_key(&schema);
    let mut pairs = vec![("gm2dqc.units".to_string(), units)];
    if let Some(value) = arrow.value {
        pairs.insert(0, (arrow.key, value));
    }
    KeyValueMetadata::from_static(pairs)
}

/// Writes `df` to `path` as Parquet (zstd), atomically, with the units of its columns
/// in the file's metadata ([`file_metadata`]) for the table named by the file's stem.
pub fn write_parquet(df: &mut DataFrame, path: &Path) -> Result<(), TableError> {
    let tmp = path.with_extension("parquet.tmp");
    let io = |source| TableError::Io { path: path.to_path_buf(), source };
    let table = path.file_stem().and_then(|s| s.to_str()).unwrap_or_default().to_string();
    let units = units_json(&table, df);
    let mut typed = to_file_types(&table, df).map_err(|source| TableError::Polars { path: path.to_path_buf(), source })?;
    let file = File::create(&tmp).map_err(io)?;
    let written = ParquetWriter::new(file)
        .with_key_value_metadata(Some(file_metadata(&table, units, &typed)))
        .with_compression(ParquetCompression::Zstd(None))
        .finish(&mut typed)
        .map_err(|source| TableError::Polars { path: path.to_path_buf(), source })
        .and_then(|_| std::fs::rename(&tmp, path).map_err(io));
    if written.is_err() {
        // A full disk must not keep half a table in its temporary file.
        let _ = std::fs::remove_file(&tmp);
    }
    written
}

/// Reads a Parquet table, as the code holds it ([`from_file_types`], for the table
/// named by the file's stem).
pub fn read_parquet(path: &Path) -> Result<DataFrame, TableError> {
    let file = File::open(path).map_err(|source| TableError::Io { path: path.to_path_buf(), source })?;
    let polars = |source| TableError::Polars { path: path.to_path_buf(), source };
    let df = ParquetReader::new(file).finish().map_err(polars)?;
    from_file_types(df, path.file_stem().and_then(|s| s.to_str()).unwrap_or_default()).map_err(polars)
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

    /// An integer column with its nulls.
    pub fn u32_opt(&self, name: &str) -> Result<Vec<Option<u32>>, TableError> {
        let c = self.column(name, &DataType::UInt32)?;
        Ok(c.u32().map_err(|e| TableError::Polars { path: self.path.clone(), source: e })?.iter().collect())
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Every number of every table (and database folder) that is not an identifier has
    /// a unit, and identifiers, flags and text have none.
    #[test]
    fn every_quantity_has_a_unit() {
        for f in crate::db::schema::folders() {
            for (c, t) in &f.columns {
                let u = unit(f.name, c);
                let numeric = matches!(t, crate::db::schema::ColType::Int | crate::db::schema::ColType::Real);
                assert_eq!(u.is_some(), numeric && !KEYS.contains(&c.as_str()), "{}.{c}: {u:?}", f.name);
            }
        }
        assert_eq!(unit("gain_constants", "ifg_tau_us"), Some("us"));
        assert_eq!(unit("kicker_dqc", "amplitude_low_kv"), Some("kV"));
        assert_eq!(unit("subrun_metrics", "quad_step1"), Some("kV"));
        assert_eq!(unit("run_summary", "kicker_ok_pass_fraction"), Some("1"));
        let json: serde_json::Value = serde_json::from_str(&units_json("tracker_channel_status", &tracker_channel_status(&[]))).unwrap();
        assert_eq!(json, serde_json::json!({"hits": "hits", "drift_mean_ns": "ns", "drift_rms_ns": "ns"}));
    }

    #[test]
    fn subrun_metrics_read_back_bit_for_bit() {
        let mut a = SubrunMetrics { run: 15921, subrun: 7, file: "x_15921.00007.root".into(), ..SubrunMetrics::default() };
        a.fills = Some(0.1 + 0.2);
        a.t0 = Some(f64::NAN);
        a.kicker_fwhm[2] = Some(f64::NEG_INFINITY);
        a.laser_sm[1] = Some(-0.0);
        a.n_hot_xtals = Some(3);
        a.hv_trip_fills = Some(f64::MIN_POSITIVE / 3.0);
        a.start_time = Some(1_617_000_000.0 + 1.0 / 12.0);
        a.end_time = Some(1_617_000_009.75);
        let b = SubrunMetrics { run: 15922, subrun: 1, file: "y".into(), n_dead_straws: Some(0), ..SubrunMetrics::default() };
        let path = std::env::temp_dir().join(format!("gm2dqc-metrics-rt-{}.parquet", std::process::id()));
        write_parquet(&mut subrun_metrics(&[a.clone(), b.clone()]), &path).unwrap();
        let rows = subrun_metrics_rows(&Table::read(&path).unwrap()).unwrap();
        std::fs::remove_file(&path).unwrap();
        // Compare bits: NaN != NaN, and -0.0 == 0.0 would hide a lost sign.
        let bits = |m: &SubrunMetrics| format!("{:?}", subrun_metrics(std::slice::from_ref(m)).columns().iter().map(|c| (0..c.len()).map(|i| match c.get(i).unwrap() {
            AnyValue::Float64(v) => format!("{:x}", v.to_bits()),
            v => format!("{v}"),
        }).collect::<Vec<_>>()).collect::<Vec<_>>());
        assert_eq!(rows.len(), 2);
        assert_eq!(bits(&rows[0]), bits(&a));
        assert_eq!(bits(&rows[1]), bits(&b));
        assert_eq!((rows[0].n_hot_xtals, rows[1].n_dead_straws, rows[1].n_hot_xtals), (Some(3), Some(0), None));
    }

    /// The file holds UTC timestamps beside the seconds, and each column's unit in the
    /// field metadata of its Arrow schema; read back, the table is the code's again.
    #[test]
    fn metrics_file_has_timestamps_and_field_units() {
        let a = SubrunMetrics { run: 1, subrun: 2, start_time: Some(1_617_000_000.0 + 1.0 / 12.0), end_time: Some(f64::NAN), fills: Some(5.0), ..SubrunMetrics::default() };
        let path = std::env::temp_dir().join(format!("gm2dqc-metrics-ts-{}", std::process::id())).join("subrun_metrics.parquet");
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        let mut df = subrun_metrics(&[a]);
        write_parquet(&mut df, &path).unwrap();
        let raw = ParquetReader::new(File::open(&path).unwrap()).finish().unwrap();
        let names: Vec<&str> = raw.get_column_names().iter().map(|c| c.as_str()).collect();
        let at = names.iter().position(|c| *c == "start_time").unwrap();
        assert_eq!(&names[at..at + 4], ["start_time", "start_utc", "end_time", "end_utc"]);
        assert_eq!(raw.column("start_utc").unwrap().dtype(), &DataType::Datetime(TimeUnit::Microseconds, Some(TimeZone::UTC)));
        // 1617000000 s and 1/12 s: 83333.33 us, rounded to 83333.
        let micros = raw.column("start_utc").unwrap().cast(&DataType::Int64).unwrap();
        assert_eq!(micros.i64().unwrap().get(0), Some(1_617_000_000_083_333));
        assert_eq!(raw.column("end_utc").unwrap().null_count(), 1, "a NaN time has no timestamp");
        assert_eq!(raw.column("fills").unwrap().dtype(), &DataType::Int64);
        let meta = polars_parquet::read::read_metadata(&mut File::open(&path).unwrap()).unwrap();
        let schema = polars_parquet::read::infer_schema(&meta).unwrap();
        let unit_of = |c: &str| schema.get(c).unwrap().metadata.as_ref().and_then(|m| m.get("unit").map(|u| u.to_string()));
        assert_eq!(unit_of("start_time").as_deref(), Some("s"));
        assert_eq!(unit_of("fills").as_deref(), Some("fills"));
        assert_eq!(unit_of("run"), None);
        let back = read_parquet(&path).unwrap();
        std::fs::remove_dir_all(path.parent().unwrap()).unwrap();
        assert_eq!(back.get_column_names(), df.get_column_names());
        assert_eq!(back.column("start_time").unwrap().f64().unwrap().get(0).map(f64::to_bits), Some((1_617_000_000.0f64 + 1.0 / 12.0).to_bits()));
    }
}
