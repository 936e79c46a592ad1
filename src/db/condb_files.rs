//! `gm2dqc export condb`: a tag as it stands (now, or as of a time) written as one
//! JSON file per interval of validity in the ConDB layout, for a conditions service
//! or a production job that reads files:
//!
//! ```json
//! {"format": "gm2dqc-condb-1", "tag": "dqc-v1", "as_of": null,
//!  "interval_of_validity": {"first": {"run": 15921, "subrun": 0}, "end": {"run": 15922, "subrun": 0}},
//!  "folders": {"gain_constants": {"payload_sha256": "...", "inserted_at": "...", "upload_id": 3,
//!    "stored_interval": {...}, "columns": ["run_first", ...], "types": ["int", "real", ...],
//!    "values": [[15921, ...], ...]}, ...}}
//! ```
//!
//! The intervals are the pieces the tag's history makes visible: for every stretch
//! between two interval boundaries, the latest insertion covering it (the rule
//! [`super::get`] reads by), adjacent stretches of one insertion joined. So a later
//! upload over part of an interval splits the older one's file and the file of a
//! point is exactly what `db get` answers there. The folders of equal intervals share
//! a file (per-run folders: one file per run). `values` are rows in `columns` order;
//! null is a value that could not be computed; an infinite real is the string `inf`
//! or `-inf` (JSON has no such number). Each payload is read through [`super::get`],
//! so it is checked against its content hash before it is written out.

use std::collections::BTreeMap;

use serde_json::{json, Value as Json};

use super::payload::Value;
use super::schema::{self, ColType};
use super::{time, Backend, DbError, Iov, IovRecord, Point, Result};

/// What to export.
#[derive(Debug, Clone)]
pub struct ExportQuery {
    pub tag: String,
    /// The folders (empty: every folder).
    pub folders: Vec<String>,
    /// The tag as it stood at this time (`None`: now).
    pub as_of_us: Option<i64>,
}

/// One file of an export: its name in the directory and its text.
#[derive(Debug, Clone, PartialEq)]
pub struct ExportFile {
    pub name: String,
    /// The folders it holds.
    pub folders: Vec<String>,
    pub text: String,
}

/// The visible pieces of a folder's history: each with the record it shows.
pub fn visible(history: &[IovRecord], as_of_us: Option<i64>) -> Vec<(Iov, &IovRecord)> {
    let seen: Vec<&IovRecord> = history.iter().filter(|r| as_of_us.is_none_or(|t| r.inserted_at_us <= t)).collect();
    let mut bounds: Vec<Point> = seen.iter().flat_map(|r| std::iter::once(r.iov.first).chain(r.iov.end)).collect();
    bounds.sort();
    bounds.dedup();
    let mut out: Vec<(Iov, &IovRecord)> = Vec::new();
    for (i, &start) in bounds.iter().enumerate() {
        let end = bounds.get(i + 1).copied();
        let Some(best) = seen.iter().filter(|r| r.iov.contains(start)).max_by_key(|r| (r.inserted_at_us, r.id)) else { continue };
        // The stretch [start, end) ends at the next boundary, or never (only an
        // open-ended interval covers the last boundary).
        let piece = Iov { first: start, end: end.or(best.iov.end) };
        match out.last_mut() {
            Some((prev, rec)) if rec.id == best.id && prev.end == Some(start) => prev.end = piece.end,
            _ => out.push((piece, best)),
        }
    }
    out
}

fn point_json(p: Point) -> Json {
    json!({"run": p.0, "subrun": p.1})
}

fn iov_json(iov: &Iov) -> Json {
    json!({"first": point_json(iov.first), "end": iov.end.map(point_json)})
}

fn type_name(t: ColType) -> &'static str {
    match t {
        ColType::Int => "int",
        ColType::Real => "real",
        ColType::Bool => "bool",
        ColType::Text => "text",
    }
}

fn value_json(v: &Value) -> Json {
    match v {
        Value::Null(_) => Json::Null,
        Value::Int(i) => (*i).into(),
        Value::Real(x) if x.is_infinite() => (if *x > 0.0 { "inf" } else { "-inf" }).into(),
        Value::Real(x) => serde_json::Number::from_f64(*x).map_or(Json::Null, Json::Number),
        Value::Bool(b) => (*b).into(),
        Value::Text(s) => s.as_str().into(),
    }
}

/// The file name of an interval: `iov_RUN.SUBRUN-RUN.SUBRUN.json`, `...-open.json`
/// for an open-ended one (names sort by run within a width of digits).
pub fn file_name(iov: &Iov) -> String {
    match iov.end {
        Some(e) => format!("iov_{}.{}-{}.{}.json", iov.first.0, iov.first.1, e.0, e.1),
        None => format!("iov_{}.{}-open.json", iov.first.0, iov.first.1),
    }
}

/// The files of an export, in interval order. [`DbError::NoTag`] for an unknown tag,
/// [`DbError::NoFolder`] for an unknown folder, [`DbError::Query`] when the tag holds
/// nothing of the folders (as of the time).
pub fn export(b: &mut dyn Backend, q: &ExportQuery) -> Result<Vec<ExportFile>> {
    let names: Vec<&'static str> = if q.folders.is_empty() {
        schema::folders().iter().map(|f| f.name).collect()
    } else {
        q.folders
            .iter()
            .map(|n| schema::folder(n).map(|f| f.name).ok_or_else(|| DbError::NoFolder { folder: n.clone(), known: schema::folders().iter().map(|f| f.name.to_string()).collect() }))
            .collect::<Result<_>>()?
    };
    let mut by_iov: BTreeMap<Iov, serde_json::Map<String, Json>> = BTreeMap::new();
    for name in names {
        let history = super::history(b, &q.tag, name)?;
        for (piece, rec) in visible(&history, q.as_of_us) {
            let Some((stored, payload)) = super::get(b, &q.tag, name, piece.first, q.as_of_us)? else {
                return Err(DbError::Query(format!("{name} in tag `{}`: nothing at {}.{} though its history has {}; the tag changed while exporting? run it again", q.tag, piece.first.0, piece.first.1, rec.iov)));
            };
            let hash = payload.hash();
            if hash != rec.payload_hash {
                return Err(DbError::Query(format!("{name} in tag `{}` at {}.{}: read payload {hash}, the history says {}; the tag changed while exporting? run it again", q.tag, piece.first.0, piece.first.1, rec.payload_hash)));
            }
            let folder = &payload.folder;
            let entry = json!({
                "payload_sha256": hash,
                "inserted_at": time::format_us(rec.inserted_at_us),
                "upload_id": rec.upload_id,
                "dataset": rec.dataset,
                "stored_interval": iov_json(&stored),
                "columns": folder.columns.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>(),
                "types": folder.columns.iter().map(|(_, t)| type_name(*t)).collect::<Vec<_>>(),
                "values": payload.rows.iter().map(|r| r.iter().map(value_json).collect::<Vec<_>>()).collect::<Vec<_>>(),
            });
            by_iov.entry(piece).or_default().insert(name.to_string(), entry);
        }
    }
    if by_iov.is_empty() {
        let what = if q.folders.is_empty() { "anything".to_string() } else { q.folders.join(", ") };
        let when = q.as_of_us.map_or(String::new(), |t| format!(" as of {}", time::format_us(t)));
        return Err(DbError::Query(format!("tag `{}` holds no {what}{when}: nothing to export", q.tag)));
    }
    Ok(by_iov
        .into_iter()
        .map(|(iov, folders)| {
            let names = folders.keys().cloned().collect();
            let v = json!({
                "format": "gm2dqc-condb-1",
                "tag": q.tag,
                "as_of": q.as_of_us.map(time::format_us),
                "interval_of_validity": iov_json(&iov),
                "folders": Json::Object(folders),
            });
            // Compact: a file is for programs (a 1296-row folder pretty-printed is a
            // number per line); `python -m json.tool` shows it to a person.
            let mut text = v.to_string();
            text.push('\n');
            ExportFile { name: file_name(&iov), folders: names, text }
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(id: i64, iov: Iov, at: i64) -> IovRecord {
        IovRecord {
            id,
            iov,
            payload_hash: format!("h{id}"),
            upload_id: id,
            inserted_at_us: at,
            nrows: 1,
            user: String::new(),
            dataset: String::new(),
            git_commit: String::new(),
            cuts_sha256: None,
            out_dir: None,
            required_flags: None,
            summed_passing: None,
        }
    }

    #[test]
    fn later_insertions_split_earlier_intervals_and_as_of_undoes_them() {
        // Runs 10-19 uploaded, then 12-13 again, then an open-ended one from 30.
        let h = vec![rec(1, Iov::runs(10, 19), 100), rec(2, Iov::runs(12, 13), 200), rec(3, Iov { first: (30, 0), end: None }, 300)];
        let v: Vec<(Iov, i64)> = visible(&h, None).into_iter().map(|(i, r)| (i, r.id)).collect();
        assert_eq!(v, [(Iov::runs(10, 11), 1), (Iov::runs(12, 13), 2), (Iov::runs(14, 19), 1), (Iov { first: (30, 0), end: None }, 3)]);
        let v: Vec<(Iov, i64)> = visible(&h, Some(150)).into_iter().map(|(i, r)| (i, r.id)).collect();
        assert_eq!(v, [(Iov::runs(10, 19), 1)], "as of before the second upload: the first, whole");
        // Two records of equal time: the higher id wins, as get chooses.
        let h = vec![rec(1, Iov::runs(5, 5), 100), rec(2, Iov::runs(5, 5), 100)];
        assert_eq!(visible(&h, None).iter().map(|(_, r)| r.id).collect::<Vec<_>>(), [2]);
        assert_eq!(file_name(&Iov::runs(15921, 15921)), "iov_15921.0-15922.0.json");
        assert_eq!(file_name(&Iov { first: (7, 3), end: None }), "iov_7.3-open.json");
        assert_eq!(value_json(&Value::Real(f64::NEG_INFINITY)), Json::from("-inf"));
    }
}
