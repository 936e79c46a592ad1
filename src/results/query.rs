//! Paging, sorting and filtering the subruns of a [`Results`]: the JSON of
//! `GET /api/datasets/{d}/subruns`.
//!
//! Query string keys ([`SubrunQuery::from_pairs`]), each at most once:
//!
//! | key | value | default |
//! |---|---|---|
//! | `page` | page number, from 1 | 1 |
//! | `per_page` | rows per page, 1 to [`MAX_PER_PAGE`] | 100 |
//! | `sort` | `run_subrun`, `ok`, `reasons` (number of failing cuts) or a flag name | `run_subrun` |
//! | `desc` | `true`/`false` (also `1`/`0`, `yes`/`no`) | false |
//! | `failing_first` | subruns that are not ok before the others, whatever the sort | true |
//! | `run` | only this run | |
//! | `flag_failed` | only subruns failing this flag | |
//! | `only_bad` | only subruns that are not ok | false |
//! | `text` | only subruns whose reasons contain this text (case-insensitive) | |
//!
//! Ties are broken by (run, subrun) ascending, so a page is the same on every request.

use serde::{Serialize, Serializer};

use super::{parse_reasons, Reason, Results};

/// The most rows one page may have.
pub const MAX_PER_PAGE: usize = 1000;
/// Rows per page when the query does not say.
pub const DEFAULT_PER_PAGE: usize = 100;

/// What the subruns are sorted by.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum SortKey {
    /// (run, subrun).
    #[default]
    RunSubrun,
    /// `ok` (failing before passing when ascending).
    Ok,
    /// The number of failing cuts.
    Reasons,
    /// One flag: fail, pass, then missing (null) when ascending.
    Flag(String),
}

/// Which subruns a query keeps.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Filter {
    pub run: Option<u32>,
    pub flag_failed: Option<String>,
    pub only_bad: bool,
    pub text: Option<String>,
}

/// One request for a page of subruns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubrunQuery {
    /// From 1.
    pub page: usize,
    /// 1 to [`MAX_PER_PAGE`].
    pub per_page: usize,
    pub sort: SortKey,
    pub desc: bool,
    pub failing_first: bool,
    pub filter: Filter,
}

impl Default for SubrunQuery {
    fn default() -> Self {
        SubrunQuery { page: 1, per_page: DEFAULT_PER_PAGE, sort: SortKey::RunSubrun, desc: false, failing_first: true, filter: Filter::default() }
    }
}

/// A query that cannot be answered: a 400 with this message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("query parameter `{key}`: {message}")]
pub struct QueryError {
    pub key: String,
    pub message: String,
}

fn qerr(key: &str, message: impl Into<String>) -> QueryError {
    QueryError { key: key.to_string(), message: message.into() }
}

const KEYS: [&str; 9] = ["page", "per_page", "sort", "desc", "failing_first", "run", "flag_failed", "only_bad", "text"];

fn parse_bool(key: &str, v: &str) -> Result<bool, QueryError> {
    match v.to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" => Ok(true),
        "false" | "0" | "no" => Ok(false),
        _ => Err(qerr(key, format!("{v:?} is not true or false"))),
    }
}

fn parse_count(key: &str, v: &str) -> Result<usize, QueryError> {
    v.parse::<usize>().map_err(|_| qerr(key, format!("{v:?} is not a whole number")))
}

impl SubrunQuery {
    /// A query from decoded key=value pairs (a query string's). An unknown key, a key
    /// given twice or a bad value is an error naming the key. A flag name is checked
    /// against the dataset's flags by [`Results::subruns`].
    pub fn from_pairs<K: AsRef<str>, V: AsRef<str>>(pairs: &[(K, V)]) -> Result<SubrunQuery, QueryError> {
        let mut q = SubrunQuery::default();
        let mut seen: Vec<&str> = Vec::new();
        for (k, v) in pairs {
            let (k, v) = (k.as_ref(), v.as_ref());
            let Some(key) = KEYS.iter().find(|x| **x == k) else {
                return Err(qerr(k, format!("unknown; the keys are {}", KEYS.join(", "))));
            };
            if seen.contains(key) {
                return Err(qerr(k, "given twice"));
            }
            seen.push(key);
            match k {
                "page" => {
                    q.page = parse_count(k, v)?;
                    if q.page == 0 {
                        return Err(qerr(k, "pages count from 1"));
                    }
                }
                "per_page" => {
                    q.per_page = parse_count(k, v)?;
                    if !(1..=MAX_PER_PAGE).contains(&q.per_page) {
                        return Err(qerr(k, format!("{} is not between 1 and {MAX_PER_PAGE}", q.per_page)));
                    }
                }
                "sort" => {
                    q.sort = match v {
                        "run_subrun" => SortKey::RunSubrun,
                        "ok" => SortKey::Ok,
                        "reasons" => SortKey::Reasons,
                        "" => return Err(qerr(k, "empty; give run_subrun, ok, reasons or a flag name")),
                        f => SortKey::Flag(f.to_string()),
                    }
                }
                "desc" => q.desc = parse_bool(k, v)?,
                "failing_first" => q.failing_first = parse_bool(k, v)?,
                "only_bad" => q.filter.only_bad = parse_bool(k, v)?,
                "run" => q.filter.run = Some(v.parse::<u32>().map_err(|_| qerr(k, format!("{v:?} is not a run number")))?),
                "flag_failed" => {
                    if v.is_empty() {
                        return Err(qerr(k, "empty; give a flag name"));
                    }
                    q.filter.flag_failed = Some(v.to_string());
                }
                "text" => q.filter.text = (!v.is_empty()).then(|| v.to_string()),
                _ => unreachable!("every key of KEYS is handled"),
            }
        }
        Ok(q)
    }
}

/// Serializes pairs as a JSON object in their order (the cut file's flag order).
pub(crate) fn ordered_map<S: Serializer, V: Serialize>(v: &[(String, V)], s: S) -> Result<S::Ok, S::Error> {
    use serde::ser::SerializeMap;
    let mut m = s.serialize_map(Some(v.len()))?;
    for (k, x) in v {
        m.serialize_entry(k, x)?;
    }
    m.end()
}

/// One subrun of a page. JSON:
/// `{"run", "subrun", "ok", "flags": {"<flag>": true|false|null, ...}, "failed": ["<flag>", ...],
/// "reasons": "<text>", "reason_list": [Reason, ...]}` (see [`Reason`]).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SubrunRow {
    pub run: u32,
    pub subrun: u32,
    pub ok: bool,
    /// Every flag, in the cut file's order.
    #[serde(serialize_with = "ordered_map")]
    pub flags: Vec<(String, Option<bool>)>,
    /// The flags that fail.
    pub failed: Vec<String>,
    pub reasons: String,
    pub reason_list: Vec<Reason>,
}

/// A page of subruns. JSON: `{"total", "matched", "page", "per_page", "pages", "rows": [SubrunRow, ...]}`:
/// `total` subruns in the dataset, `matched` by the filter, `pages` of `matched`; a
/// page past the last has no rows.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SubrunPage {
    pub total: usize,
    pub matched: usize,
    pub page: usize,
    pub per_page: usize,
    pub pages: usize,
    pub rows: Vec<SubrunRow>,
}

impl Results {
    /// The rows of subrun-table index `i`.
    pub fn subrun_row(&self, i: usize) -> SubrunRow {
        let t = &self.subruns;
        let flags: Vec<(String, Option<bool>)> = t.flags.iter().map(|(f, v)| (f.clone(), v[i])).collect();
        SubrunRow {
            run: t.runs[i],
            subrun: t.subruns[i],
            ok: t.ok[i],
            failed: flags.iter().filter(|(_, v)| *v == Some(false)).map(|(f, _)| f.clone()).collect(),
            flags,
            reasons: t.reasons[i].clone(),
            reason_list: parse_reasons(&t.reasons[i]),
        }
    }

    /// The table indices a query matches, in its order.
    pub fn matching(&self, q: &SubrunQuery) -> Result<Vec<usize>, QueryError> {
        let t = &self.subruns;
        let flag = |key: &str, name: &str| -> Result<&Vec<Option<bool>>, QueryError> {
            t.flags.iter().find(|(f, _)| f == name).map(|(_, v)| v).ok_or_else(|| qerr(key, format!("{name:?} is not a flag of this dataset ({})", t.flag_names().collect::<Vec<_>>().join(", "))))
        };
        let failed = q.filter.flag_failed.as_deref().map(|f| flag("flag_failed", f)).transpose()?;
        let sort_flag = match &q.sort {
            SortKey::Flag(f) => Some(flag("sort", f)?),
            _ => None,
        };
        let text = q.filter.text.as_ref().map(|s| s.to_lowercase());
        let mut idx: Vec<usize> = (0..t.len())
            .filter(|&i| q.filter.run.is_none_or(|r| t.runs[i] == r))
            .filter(|&i| !q.filter.only_bad || !t.ok[i])
            .filter(|&i| failed.is_none_or(|v| v[i] == Some(false)))
            .filter(|&i| text.as_ref().is_none_or(|s| t.reasons_lower[i].contains(s.as_str())))
            .collect();
        let key = |i: usize| -> u64 {
            match &q.sort {
                SortKey::RunSubrun => 0,
                SortKey::Ok => u64::from(t.ok[i]),
                SortKey::Reasons => u64::from(t.reason_counts[i]),
                SortKey::Flag(_) => match sort_flag.map(|v| v[i]) {
                    Some(Some(false)) => 0,
                    Some(Some(true)) => 1,
                    _ => 2,
                },
            }
        };
        let by_id = |i: usize| (u64::from(t.runs[i]) << 32) | u64::from(t.subruns[i]);
        idx.sort_unstable_by(|&a, &b| {
            let first = if q.failing_first { t.ok[a].cmp(&t.ok[b]) } else { std::cmp::Ordering::Equal };
            let (ka, kb) = match q.sort {
                SortKey::RunSubrun => (by_id(a), by_id(b)),
                _ => (key(a), key(b)),
            };
            let k = if q.desc { kb.cmp(&ka) } else { ka.cmp(&kb) };
            first.then(k).then(by_id(a).cmp(&by_id(b)))
        });
        Ok(idx)
    }

    /// One page of subruns; an error (a 400) when the query names a flag the dataset
    /// does not have.
    pub fn subruns(&self, q: &SubrunQuery) -> Result<SubrunPage, QueryError> {
        let per_page = q.per_page.clamp(1, MAX_PER_PAGE);
        let page = q.page.max(1);
        let idx = self.matching(q)?;
        let start = (page - 1).saturating_mul(per_page);
        let rows = idx.iter().skip(start).take(per_page).map(|&i| self.subrun_row(i)).collect();
        Ok(SubrunPage { total: self.subruns.len(), matched: idx.len(), page, per_page, pages: idx.len().div_ceil(per_page), rows })
    }
}
