//! The text answers of conditions reads, written once for `gm2dqc db get|tags|history`
//! and the read-only `/condb` routes of `gm2dqc serve`, so that the command line and
//! the web cannot disagree: the same bytes, byte for byte.

use polars::prelude::*;

use super::{schema, Backend, DbError, Iov, Result, TagInfo};

/// A text format of `db get`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TextFormat {
    Csv,
    Json,
}

impl TextFormat {
    /// `csv` or `json` (the `format` parameter of `/condb/get`).
    pub fn parse(s: &str) -> Option<TextFormat> {
        match s {
            "csv" => Some(TextFormat::Csv),
            "json" => Some(TextFormat::Json),
            _ => None,
        }
    }
}

/// What `db get` reads: the interval, the payload's content hash, and its rows
/// (only the subrun's when a subrun is given and the folder has a subrun column).
pub struct GetRows {
    pub iov: Iov,
    pub payload_hash: String,
    pub frame: DataFrame,
}

/// `db::get` at `(run, subrun or 0)`, keeping only the rows of `subrun` when it is
/// given and the folder has a `subrun` column. `None` when no interval covers the point.
pub fn get_rows(b: &mut dyn Backend, tag: &str, folder: &str, run: u32, subrun: Option<u32>, as_of_us: Option<i64>) -> Result<Option<GetRows>> {
    let Some((iov, payload)) = super::get(b, tag, folder, (run, subrun.unwrap_or(0)), as_of_us)? else {
        return Ok(None);
    };
    let payload_hash = payload.hash();
    let mut frame = payload.to_frame();
    if let (Some(s), true) = (subrun, frame.column("subrun").is_ok()) {
        let filtered = frame
            .column("subrun")
            .and_then(|c| c.as_materialized_series().equal(s))
            .and_then(|mask| frame.filter(&mask))
            .map_err(|e| DbError::Payload(format!("selecting subrun {s} of {folder}: {e}")))?;
        frame = filtered;
    }
    Ok(Some(GetRows { iov, payload_hash, frame }))
}

/// The text `db get --format csv|json` prints for these rows.
pub fn frame_text(df: &DataFrame, format: TextFormat) -> String {
    match format {
        TextFormat::Csv => frame_csv(df),
        TextFormat::Json => pretty(&frame_json(df)),
    }
}

/// Pretty JSON with a final newline (what `db tags --json` and `db history --json` print).
pub fn pretty<T: serde::Serialize + ?Sized>(v: &T) -> String {
    // Serializing these plain records cannot fail; say so rather than panic if it ever does.
    let mut s = serde_json::to_string_pretty(v).unwrap_or_else(|e| format!("{{\"error\": \"cannot write JSON: {e}\"}}"));
    s.push('\n');
    s
}

/// `db tags --json`.
pub fn tags_json(tags: &[TagInfo]) -> String {
    pretty(tags)
}

/// `db history FOLDER --tag T --json`.
pub fn history_json(h: &[super::IovRecord]) -> String {
    pretty(h)
}

/// The folders with their columns, types and units (null for identifiers, flags and
/// text), as JSON (`/condb/folders`).
pub fn folders_json() -> String {
    let v: Vec<serde_json::Value> = schema::folders()
        .iter()
        .map(|f| {
            let cols: Vec<serde_json::Value> = f
                .columns
                .iter()
                .map(|(n, t)| {
                    let t = match t {
                        schema::ColType::Int => "int",
                        schema::ColType::Real => "real",
                        schema::ColType::Bool => "bool",
                        schema::ColType::Text => "text",
                    };
                    serde_json::json!({"name": n, "type": t, "unit": crate::tables::unit(f.name, n)})
                })
                .collect();
            serde_json::json!({"name": f.name, "columns": cols})
        })
        .collect();
    pretty(&v)
}

fn cell(c: &Column, i: usize) -> AnyValue<'_> {
    c.get(i).unwrap_or(AnyValue::Null)
}

fn frame_csv(df: &DataFrame) -> String {
    let mut s = df.get_column_names().iter().map(|n| n.as_str()).collect::<Vec<_>>().join(",");
    s.push('\n');
    for i in 0..df.height() {
        let row: Vec<String> = df
            .columns()
            .iter()
            .map(|c| match cell(c, i) {
                AnyValue::Null => String::new(),
                AnyValue::String(t) => format!("\"{}\"", t.replace('"', "\"\"")),
                AnyValue::StringOwned(t) => format!("\"{}\"", t.replace('"', "\"\"")),
                AnyValue::Float64(x) => format!("{x:?}"),
                v => v.to_string(),
            })
            .collect();
        s.push_str(&row.join(","));
        s.push('\n');
    }
    s
}

fn frame_json(df: &DataFrame) -> serde_json::Value {
    let rows: Vec<serde_json::Value> = (0..df.height())
        .map(|i| {
            let m: serde_json::Map<String, serde_json::Value> = df
                .columns()
                .iter()
                .map(|c| {
                    let v = match cell(c, i) {
                        AnyValue::Null => serde_json::Value::Null,
                        AnyValue::Boolean(b) => b.into(),
                        AnyValue::Int64(x) => x.into(),
                        AnyValue::Float64(x) => serde_json::Number::from_f64(x).map_or(serde_json::Value::Null, serde_json::Value::Number),
                        AnyValue::String(t) => t.into(),
                        AnyValue::StringOwned(t) => t.as_str().into(),
                        v => v.to_string().into(),
                    };
                    (c.name().to_string(), v)
                })
                .collect();
            serde_json::Value::Object(m)
        })
        .collect();
    serde_json::Value::Array(rows)
}
