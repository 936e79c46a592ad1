//! Good-subrun lists: which subruns of a dataset an analysis may use, from the
//! `subrun_status` a tag holds, as subrun ranges per run (the shape of CMS's "golden
//! JSON", `{"15921": [[1, 17], [19, 40]]}`), with a header that says where the list
//! comes from (tag, dataset, cut files, as-of, the flags applied, what was kept and
//! lost, in subruns and CTAGs).
//!
//! The rules, written once for `gm2dqc db good-subruns` and `/condb/good-subruns`:
//! - The dataset's runs are those its uploads of `subrun_status` cover in the tag (up
//!   to the as-of time); each run's status is the tag's current one at that time
//!   ([`super::get`]: the latest insertion covering the run).
//! - By default a subrun is kept when it is `ok` as stored: the AND of its cut file's
//!   required flags. `--require F,...` keeps the subruns passing exactly these flags;
//!   `--ignore F,...` drops flags from the set (the cut file's required flags, or the
//!   `--require` list), which is what `cuts diff` shows for a cut file whose `required`
//!   list lacks them. Ignoring needs the required flags the upload recorded
//!   (`uploads.required_flags`, migration 5).
//! - Only the columns a list needs are read ([`super::get_columns`]): `subrun` and
//!   `ok` of `subrun_status` (and `flags_json` when flags are applied), `subrun` and
//!   `ctags` of `subrun_metrics`, each checked against its payload's row count and row
//!   order. The content hash needs every column: `db get` checks it. (A whole-row
//!   read costs about 5 us a subrun on SQLite, 0.5 s for 100,000.)
//! - A range is a run of consecutive subrun numbers that are all kept: a subrun that
//!   is missing from the status table ends a range, since nothing certifies it.
//! - Without an as-of time the list is read at the time of the latest insertion into
//!   `subrun_status` it saw, and says so (`latest_insertion`): reading the tag again
//!   with that as-of time gives the same list.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use super::payload::{Payload, Value};
use super::{time, Backend, DbError, IovRecord, Result};

/// What to list.
#[derive(Debug, Clone, Default)]
pub struct GoodQuery {
    pub tag: String,
    pub dataset: String,
    /// The flags a kept subrun must pass instead of its cut file's required ones.
    pub require: Option<Vec<String>>,
    /// Flags dropped from the set.
    pub ignore: Vec<String>,
    pub as_of_us: Option<i64>,
}

/// A text format of the list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GoodFormat {
    /// `{"header": {...}, "runs": {"15921": [[1, 17], ...]}}`.
    Json,
    /// The header as `# key: value` lines, then `run first last` per range.
    Txt,
    /// The runs object alone, as CMS's tools read a golden JSON.
    Golden,
}

impl GoodFormat {
    pub fn parse(s: &str) -> Option<GoodFormat> {
        match s {
            "json" => Some(GoodFormat::Json),
            "txt" => Some(GoodFormat::Txt),
            "golden" => Some(GoodFormat::Golden),
            _ => None,
        }
    }
}

/// A cut file that judged some of the runs, and the flags applied for it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CutFileUse {
    pub sha256: String,
    /// Its `required` list as the upload recorded it (`null` for uploads made before
    /// gm2dqc recorded it).
    pub required: Option<Vec<String>>,
    /// The flags a kept subrun passes; `null`: `ok` as stored (the cut file's required
    /// flags, not recorded).
    pub applied: Option<Vec<String>>,
    pub runs: Vec<u32>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Counts<T> {
    pub kept: T,
    pub lost: T,
}

/// Where a list comes from and what it holds.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Header {
    pub tag: String,
    pub dataset: String,
    /// The as-of time asked for (UTC), `null` for the tag as it is now.
    pub as_of: Option<String>,
    /// The latest insertion into the tag's `subrun_status` the list was read at.
    pub latest_insertion: String,
    pub require: Option<Vec<String>>,
    pub ignore: Vec<String>,
    pub cut_files: Vec<CutFileUse>,
    pub runs: usize,
    pub subruns: Counts<u64>,
    /// CTAGs (from `subrun_metrics`) of the kept and lost subruns.
    pub ctags: Counts<f64>,
    /// Subruns with no CTAG count in `subrun_metrics` (counted as 0 above).
    pub subruns_without_ctags: u64,
}

/// A good-subrun list.
#[derive(Debug, Clone, PartialEq)]
pub struct GoodList {
    pub header: Header,
    /// Per run, the ranges `[first, last]` of kept subruns, in order.
    pub runs: BTreeMap<u32, Vec<(u32, u32)>>,
}

/// A usage error of a good-subrun query (an unknown dataset or flag).
fn refused(why: String) -> DbError {
    DbError::Query(why)
}

fn column(p: &Payload, name: &str) -> Result<usize> {
    p.folder.columns.iter().position(|(n, _)| n == name).ok_or_else(|| DbError::Payload(format!("folder {} has no column `{name}`", p.folder.name)))
}

/// The current record at `(run, 0)` among `history` (inserted up to `at`): the latest
/// insertion covering it, as [`super::get`] chooses.
fn current(history: &[IovRecord], run: u32, at: i64) -> Option<&IovRecord> {
    history.iter().filter(|r| r.inserted_at_us <= at && r.iov.contains((run, 0))).max_by_key(|r| (r.inserted_at_us, r.id))
}

/// The good-subrun list of a query ([`DbError::NoTag`], [`DbError::Query`] for an
/// unknown dataset or flag).
pub fn good_subruns(b: &mut dyn Backend, q: &GoodQuery) -> Result<GoodList> {
    let history = super::history(b, &q.tag, "subrun_status")?;
    let visible: Vec<&IovRecord> = history.iter().filter(|r| q.as_of_us.is_none_or(|t| r.inserted_at_us <= t)).collect();
    let Some(at) = visible.iter().map(|r| r.inserted_at_us).max() else {
        return Err(refused(format!("tag `{}` holds no subrun_status{}: upload an analysis into it (`gm2dqc upload`)", q.tag, as_of_text(q.as_of_us))));
    };
    let mut runs = BTreeSet::new();
    for r in visible.iter().filter(|r| r.dataset == q.dataset) {
        // Per-run intervals; an open-ended one (never written by an upload) is its first run.
        let last = r.iov.end.map_or(r.iov.first.0, |e| if e.1 == 0 { e.0.saturating_sub(1) } else { e.0 });
        runs.extend(r.iov.first.0..=last.max(r.iov.first.0));
    }
    if runs.is_empty() {
        let known: BTreeSet<&str> = visible.iter().map(|r| r.dataset.as_str()).collect();
        return Err(refused(format!(
            "no subrun_status of dataset `{}` in tag `{}`{}; datasets there: {}",
            q.dataset,
            q.tag,
            as_of_text(q.as_of_us),
            known.into_iter().collect::<Vec<_>>().join(", ")
        )));
    }
    let mut out = BTreeMap::new();
    let mut cut_files: Vec<CutFileUse> = Vec::new();
    let (mut subruns, mut ctags, mut without_ctags) = (Counts::<u64>::default(), Counts::<f64>::default(), 0u64);
    for run in runs {
        let Some(rec) = current(&history, run, at) else { continue };
        let applied = applied_flags(q, rec, run)?;
        // Without --require or --ignore the flags applied are the cut file's required
        // ones, whose AND is `ok` as stored: read that, not every subrun's flags.
        let by_flags = if q.require.is_none() && q.ignore.is_empty() { None } else { applied.as_deref() };
        let columns: &[&str] = if by_flags.is_some() { &["subrun", "ok", "flags_json"] } else { &["subrun", "ok"] };
        let Some((_, hash, status)) = super::get_columns(b, &q.tag, "subrun_status", (run, 0), Some(at), columns)? else { continue };
        if hash != rec.payload_hash {
            return Err(DbError::Backend(format!("subrun_status of run {run} in tag `{}` changed while it was read; read it again", q.tag)));
        }
        // The CTAG column alone: the metrics payload is wide (a column per metric).
        let metrics = super::get_columns(b, &q.tag, "subrun_metrics", (run, 0), Some(at), &["subrun", "ctags"])?.map(|(_, _, p)| p);
        let ctag_of = ctags_by_subrun(metrics.as_ref(), run)?;
        let kept = kept_subruns(&status, by_flags, run)?;
        let mut ranges: Vec<(u32, u32)> = Vec::new();
        let mut prev: Option<(u32, bool)> = None;
        for &(subrun, good) in &kept {
            let c = ctag_of.get(&subrun).copied().flatten();
            if c.is_none() {
                without_ctags += 1;
            }
            if good {
                subruns.kept += 1;
                ctags.kept += c.unwrap_or(0.0);
                match (prev, ranges.last_mut()) {
                    (Some((p, true)), Some(last)) if p + 1 == subrun => last.1 = subrun,
                    _ => ranges.push((subrun, subrun)),
                }
            } else {
                subruns.lost += 1;
                ctags.lost += c.unwrap_or(0.0);
            }
            prev = Some((subrun, good));
        }
        let sha = rec.cuts_sha256.clone().unwrap_or_default();
        match cut_files.iter_mut().find(|u| u.sha256 == sha && u.required == rec.required_flags && u.applied == applied) {
            Some(u) => u.runs.push(run),
            None => cut_files.push(CutFileUse { sha256: sha, required: rec.required_flags.clone(), applied, runs: vec![run] }),
        }
        out.insert(run, ranges);
    }
    let header = Header {
        tag: q.tag.clone(),
        dataset: q.dataset.clone(),
        as_of: q.as_of_us.map(time::format_us),
        latest_insertion: time::format_us(at),
        require: q.require.clone(),
        ignore: q.ignore.clone(),
        cut_files,
        runs: out.len(),
        subruns,
        ctags,
        subruns_without_ctags: without_ctags,
    };
    Ok(GoodList { header, runs: out })
}

fn as_of_text(as_of_us: Option<i64>) -> String {
    as_of_us.map(|t| format!(" as of {}", time::format_us(t))).unwrap_or_default()
}

/// The flags applied to a run's subruns; `None`: `ok` as stored.
fn applied_flags(q: &GoodQuery, rec: &IovRecord, run: u32) -> Result<Option<Vec<String>>> {
    let base = match (&q.require, &rec.required_flags) {
        (Some(r), _) => r.clone(),
        (None, _) if q.ignore.is_empty() => return Ok(rec.required_flags.clone()),
        (None, Some(r)) => r.clone(),
        (None, None) => {
            return Err(refused(format!(
                "--ignore needs the flags the cut file requires, and the subrun_status of run {run} (upload {}) was uploaded before gm2dqc recorded them: \
                 upload that output directory again (after rerunning `gm2dqc dqc` on it), or name the flags to keep with --require",
                rec.upload_id
            )))
        }
    };
    for f in &q.ignore {
        if !base.contains(f) {
            let what = if q.require.is_some() { "--require" } else { "the cut file's required flags" };
            return Err(refused(format!("--ignore {f}: not among {what} for run {run} ({}), so ignoring it changes nothing; check the name", base.join(", "))));
        }
    }
    let applied: Vec<String> = base.into_iter().filter(|f| !q.ignore.contains(f)).collect();
    if applied.is_empty() {
        return Err(refused("no flag is left to require after --ignore: every subrun would be kept; keep at least one flag".into()));
    }
    Ok(Some(applied))
}

/// Each subrun of a status payload with whether it is kept, in subrun order.
fn kept_subruns(status: &Payload, applied: Option<&[String]>, run: u32) -> Result<Vec<(u32, bool)>> {
    let (sc, oc) = (column(status, "subrun")?, column(status, "ok")?);
    let fc = if applied.is_some() { column(status, "flags_json")? } else { 0 };
    let damaged = |subrun: Option<i64>, what: String| DbError::Payload(format!("subrun_status of run {run}{}: {what}", subrun.map(|s| format!(" subrun {s}")).unwrap_or_default()));
    let mut kept = Vec::with_capacity(status.rows.len());
    for row in &status.rows {
        let s = row[sc].as_i64();
        let subrun = s.and_then(|s| u32::try_from(s).ok()).ok_or_else(|| damaged(s, "no subrun number".into()))?;
        let good = match applied {
            None => match row[oc] {
                Value::Bool(b) => b,
                _ => return Err(damaged(s, "`ok` is not a boolean".into())),
            },
            Some(flags) => {
                let text = row[fc].as_str().ok_or_else(|| damaged(s, "no flags_json".into()))?;
                // The object as gm2dqc writes it, scanned in place; anything else (an
                // escape in a name, a duplicate, damage) through serde_json, which reads
                // what JSON allows and names what it does not.
                let pairs: Vec<(std::borrow::Cow<'_, str>, bool)> = match flat_flags(text) {
                    Some(p) => p.into_iter().map(|(k, v)| (k.into(), v)).collect(),
                    None => serde_json::from_str::<BTreeMap<String, bool>>(text)
                        .map_err(|e| damaged(s, format!("flags_json is not an object of flags: {e}")))?
                        .into_iter()
                        .map(|(k, v)| (k.into(), v))
                        .collect(),
                };
                let mut all = true;
                for f in flags {
                    match pairs.iter().find(|(k, _)| k == f) {
                        Some((_, v)) => all &= *v,
                        None => {
                            return Err(refused(format!(
                                "flag `{f}` is not a flag of the cut file that judged run {run} (its flags: {})",
                                pairs.iter().map(|(k, _)| k.as_ref()).collect::<Vec<_>>().join(", ")
                            )))
                        }
                    }
                }
                all
            }
        };
        kept.push((subrun, good));
    }
    kept.sort_unstable();
    if let Some(w) = kept.windows(2).find(|w| w[0].0 == w[1].0) {
        return Err(damaged(Some(w[0].0.into()), "listed twice".into()));
    }
    Ok(kept)
}

/// A flat JSON object of booleans with plain names (`{"fills_ok":true,...}`, as
/// gm2dqc writes `flags_json`), scanned without allocating a map: the pairs in order.
/// `None` for anything else (an escape or a control character in a name, a duplicate
/// name, another value, trailing text): the caller reads such a text with serde_json.
pub(crate) fn flat_flags(text: &str) -> Option<Vec<(&str, bool)>> {
    let b = text.as_bytes();
    let ws = |i: &mut usize| {
        while *i < b.len() && matches!(b[*i], b' ' | b'\t' | b'\n' | b'\r') {
            *i += 1;
        }
    };
    let mut i = 0;
    let mut out: Vec<(&str, bool)> = Vec::with_capacity(12);
    ws(&mut i);
    if b.get(i) != Some(&b'{') {
        return None;
    }
    i += 1;
    ws(&mut i);
    if b.get(i) == Some(&b'}') {
        i += 1;
    } else {
        loop {
            if b.get(i) != Some(&b'"') {
                return None;
            }
            let start = i + 1;
            let len = b[start..].iter().position(|&c| c == b'"' || c == b'\\' || c < 0x20)?;
            if b[start + len] != b'"' {
                return None;
            }
            let name = &text[start..start + len];
            i = start + len + 1;
            ws(&mut i);
            if b.get(i) != Some(&b':') {
                return None;
            }
            i += 1;
            ws(&mut i);
            let value = if b[i..].starts_with(b"true") {
                i += 4;
                true
            } else if b[i..].starts_with(b"false") {
                i += 5;
                false
            } else {
                return None;
            };
            if out.iter().any(|(k, _)| *k == name) {
                return None;
            }
            out.push((name, value));
            ws(&mut i);
            match b.get(i) {
                Some(b',') => {
                    i += 1;
                    ws(&mut i);
                }
                Some(b'}') => {
                    i += 1;
                    break;
                }
                _ => return None,
            }
        }
    }
    ws(&mut i);
    (i == b.len()).then_some(out)
}

/// The CTAG count of each subrun of a run's `subrun_metrics` (empty without one).
fn ctags_by_subrun(metrics: Option<&Payload>, run: u32) -> Result<BTreeMap<u32, Option<f64>>> {
    let Some(m) = metrics else { return Ok(BTreeMap::new()) };
    let (sc, cc) = (column(m, "subrun")?, column(m, "ctags")?);
    let mut out = BTreeMap::new();
    for row in &m.rows {
        let s = row[sc].as_i64().and_then(|s| u32::try_from(s).ok()).ok_or_else(|| DbError::Payload(format!("subrun_metrics of run {run}: a row without a subrun number")))?;
        let c = match row[cc] {
            Value::Real(x) => Some(x),
            Value::Int(x) => Some(x as f64),
            _ => None,
        };
        out.insert(s, c);
    }
    Ok(out)
}

/// The runs object, one run per line: `{\n  "15921": [[1, 17], [19, 40]],\n ...}`.
fn runs_json(runs: &BTreeMap<u32, Vec<(u32, u32)>>, indent: &str) -> String {
    if runs.is_empty() {
        return "{}".into();
    }
    let lines: Vec<String> = runs
        .iter()
        .map(|(run, ranges)| format!("{indent}  \"{run}\": [{}]", ranges.iter().map(|(a, z)| format!("[{a}, {z}]")).collect::<Vec<_>>().join(", ")))
        .collect();
    format!("{{\n{}\n{indent}}}", lines.join(",\n"))
}

/// The text of a list in a format: the same bytes for the command line and HTTP.
pub fn text(list: &GoodList, format: GoodFormat) -> String {
    match format {
        GoodFormat::Golden => format!("{}\n", runs_json(&list.runs, "")),
        GoodFormat::Json => {
            let header = serde_json::to_string_pretty(&list.header).unwrap_or_else(|e| format!("{{\"error\": \"cannot write JSON: {e}\"}}")).replace('\n', "\n  ");
            format!("{{\n  \"header\": {header},\n  \"runs\": {}\n}}\n", runs_json(&list.runs, "  "))
        }
        GoodFormat::Txt => {
            let h = &list.header;
            let list_or = |v: &[String], none: &str| if v.is_empty() { none.to_string() } else { v.join(",") };
            let mut s = format!("# good subruns of dataset {} in tag {}\n", h.dataset, h.tag);
            s.push_str(&format!("# as of: {} (latest insertion read: {})\n", h.as_of.as_deref().unwrap_or("now"), h.latest_insertion));
            s.push_str(&format!("# require: {}\n", h.require.as_deref().map_or("the cut file's required flags".into(), |r| list_or(r, "-"))));
            s.push_str(&format!("# ignore: {}\n", list_or(&h.ignore, "-")));
            for u in &h.cut_files {
                let runs: Vec<String> = u.runs.iter().map(u32::to_string).collect();
                let applied = u.applied.as_deref().map_or("ok as stored".into(), |a| list_or(a, "-"));
                s.push_str(&format!("# cut file {}: applied {applied}; runs {}\n", u.sha256, runs.join(",")));
            }
            s.push_str(&format!(
                "# runs: {}; subruns kept {}, lost {}; ctags kept {}, lost {} ({} subruns without a ctag count)\n",
                h.runs, h.subruns.kept, h.subruns.lost, h.ctags.kept, h.ctags.lost, h.subruns_without_ctags
            ));
            s.push_str("# run first_subrun last_subrun\n");
            for (run, ranges) in &list.runs {
                for (a, z) in ranges {
                    s.push_str(&format!("{run} {a} {z}\n"));
                }
            }
            s
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Whatever the text, the scanner either declines or reads what serde_json reads.
    #[test]
    fn the_flags_scanner_reads_what_serde_json_reads_or_declines() {
        let valid = r#"{"fills_ok":true,"ctags_ok":false,"t0_ok":true}"#;
        assert_eq!(flat_flags(valid), Some(vec![("fills_ok", true), ("ctags_ok", false), ("t0_ok", true)]));
        assert_eq!(flat_flags(" { } "), Some(vec![]));
        assert_eq!(flat_flags(r#"{ "a" : true , "b":false }"#), Some(vec![("a", true), ("b", false)]));
        for declined in [r#"{"a":true,"a":false}"#, r#"{"a\u0062":true}"#, r#"{"a":1}"#, r#"{"a":true,}"#, r#"{"a":true} x"#, "", "[]", r#"{"a":truex}"#] {
            assert_eq!(flat_flags(declined), None, "{declined}");
        }
        // Every single-byte deletion, insertion and replacement of a valid text.
        let alphabet = [b'{', b'}', b'"', b':', b',', b' ', b'\\', b't', b'f', b'a', b'1', b'\n', 0x01];
        let mut cases: Vec<Vec<u8>> = Vec::new();
        let v = valid.as_bytes();
        for i in 0..=v.len() {
            if i < v.len() {
                cases.push([&v[..i], &v[i + 1..]].concat());
            }
            for &c in &alphabet {
                cases.push([&v[..i], &[c], &v[i..]].concat());
                if i < v.len() {
                    cases.push([&v[..i], &[c], &v[i + 1..]].concat());
                }
            }
        }
        let mut read = 0;
        for c in &cases {
            let Ok(text) = std::str::from_utf8(c) else { continue };
            let serde = serde_json::from_str::<BTreeMap<String, bool>>(text);
            match flat_flags(text) {
                Some(pairs) => {
                    read += 1;
                    let mine: BTreeMap<String, bool> = pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect();
                    assert_eq!(mine.len(), pairs.len(), "{text}: no duplicates read");
                    assert_eq!(serde.as_ref().ok(), Some(&mine), "{text}");
                }
                None => {}
            }
        }
        assert!(read > 50 && read < cases.len() / 2, "{read} of {} mutated texts read", cases.len());
    }
}
