//! Reading a cut file: TOML parsed with spans, then every key checked, collecting
//! every problem with its location before giving up.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::ops::Range;

use toml::de::{DeTable, DeValue};
use toml::Spanned;

use super::catalog::{self, MetricKind};
use super::{Bound, Cut, CutFile, Diagnostic, Override, Test};
use crate::analysis::channels::ChannelCuts;
use crate::analysis::fit::FitConfig;
use crate::analysis::interval::ConstantLimits;
use super::run_constants::RunConstantsConfig;

type Table<'i> = DeTable<'i>;
type Value<'i> = Spanned<DeValue<'i>>;

const TOP_KEYS: &[&str] = &["format", "name", "description", "required", "cut", "override", "channels", "gain", "run_constants"];
const TEST_KEYS: &[&str] = &["min", "max", "above", "below", "equals", "within_fraction_of_run_median", "within_errors_of_run_median"];
const CUT_KEYS: &[&str] = &["flag", "name", "metric", "every", "unit", "min", "max", "above", "below", "equals", "within_fraction_of_run_median", "within_errors_of_run_median"];
const OVERRIDE_KEYS: &[&str] = &["runs", "cut", "reference_run", "unit", "min", "max", "above", "below", "equals", "within_fraction_of_run_median", "within_errors_of_run_median"];
const CHANNEL_KEYS: &[&str] = &["xtal_dead_below", "xtal_hot_above", "xtal_noisy_above", "straw_dead_below", "straw_noisy_above", "calo_max_bad_xtals"];
const RUN_CONSTANTS_KEYS: &[&str] = &["k", "min_relative_width", "min_subruns"];
const GAIN_KEYS: &[&str] = &["reference_run", "intervals", "ifg_fit_range_us", "ifg_min_entries", "ifg_min_points", "max_gain_deviation", "ifg_amp_range", "sum_subruns_passing"];
const RESERVED_FLAGS: &[&str] = &["ok", "run", "subrun", "reasons", "cuts_sha256"];

struct Ctx<'a> {
    text: &'a str,
    source: &'a str,
    /// Problems with their byte offsets; lines and columns are found once, at the end,
    /// in one pass over the text ([`locate`]): a file with many problems costs no more
    /// per problem than one with a few.
    diags: Vec<(usize, String, Option<String>)>,
    /// Byte offsets of the text's newlines, made on first use (line of a span).
    newlines: Option<Vec<usize>>,
}

impl Ctx<'_> {
    fn at(&mut self, span: Range<usize>, message: impl Into<String>, hint: Option<String>) {
        self.diags.push((span.start.min(self.text.len()), message.into(), hint));
    }

    /// The 1-based line of a byte offset (binary search in the newline table).
    fn line_of(&mut self, offset: usize) -> usize {
        let text = self.text;
        let nl = self.newlines.get_or_insert_with(|| text.bytes().enumerate().filter(|(_, b)| *b == b'\n').map(|(i, _)| i).collect());
        nl.partition_point(|&p| p < offset) + 1
    }

    /// The diagnostics with their locations, in the order given (`sorted`: by
    /// position in the file).
    fn finish(self, sorted: bool) -> Vec<Diagnostic> {
        let offsets: Vec<usize> = self.diags.iter().map(|d| d.0).collect();
        let places = locate(self.text, &offsets);
        let mut out: Vec<(usize, Diagnostic)> = self
            .diags
            .into_iter()
            .zip(places)
            .map(|((offset, message, hint), (line, column))| (offset, Diagnostic { file: self.source.to_string(), line, column, message, hint }))
            .collect();
        if sorted {
            out.sort_by_key(|(offset, _)| *offset);
        }
        out.into_iter().map(|(_, d)| d).collect()
    }

    fn err(&mut self, v: &Value, message: impl Into<String>) {
        self.at(v.span(), message, None);
    }

    fn err_hint(&mut self, v: &Value, message: impl Into<String>, hint: impl Into<String>) {
        self.at(v.span(), message, Some(hint.into()));
    }

    /// Unknown keys of a table, with "did you mean".
    fn unknown_keys(&mut self, t: &Table, known: &[&str], what: &str) {
        for (k, _) in t.iter() {
            if !known.contains(&k.get_ref().as_ref()) {
                let hint = match catalog::did_you_mean(k.get_ref(), known.iter().copied()) {
                    Some(s) => format!("did you mean `{s}`?"),
                    None => format!("known keys here: {}", known.join(", ")),
                };
                self.at(k.span(), format!("unknown key `{}` in {what}", k.get_ref()), Some(hint));
            }
        }
    }

    fn string(&mut self, v: &Value, key: &str) -> Option<String> {
        match v.get_ref() {
            DeValue::String(s) => Some(s.to_string()),
            other => {
                self.err(v, format!("`{key}` must be a string, not {}", type_name(other)));
                None
            }
        }
    }

    /// A number (integer or float), and whether it was written as an integer.
    fn number(&mut self, v: &Value, key: &str) -> Option<(f64, bool)> {
        match v.get_ref() {
            DeValue::Integer(i) => {
                let digits = i.as_str().replace('_', "");
                let digits = digits.trim_start_matches('+');
                let (neg, body) = match digits.strip_prefix('-') {
                    Some(b) => (true, b),
                    None => (false, digits),
                };
                let body = body.trim_start_matches("0x").trim_start_matches("0o").trim_start_matches("0b");
                match i64::from_str_radix(body, i.radix()) {
                    Ok(n) => Some((if neg { -(n as f64) } else { n as f64 }, true)),
                    Err(_) => {
                        self.err(v, format!("`{key}`: integer {} is out of range", i.as_str()));
                        None
                    }
                }
            }
            DeValue::Float(f) => {
                let s = f.as_str().replace('_', "");
                match s.parse::<f64>() {
                    Ok(x) if x.is_finite() => Some((x, false)),
                    _ => {
                        self.err(v, format!("`{key}` must be a finite number, not {}", f.as_str()));
                        None
                    }
                }
            }
            other => {
                self.err(v, format!("`{key}` must be a number, not {}", type_name(other)));
                None
            }
        }
    }

    fn run_number(&mut self, v: &Value, key: &str) -> Option<u32> {
        let (x, int) = self.number(v, key)?;
        if !int || x < 0.0 || x > u32::MAX as f64 {
            self.err(v, format!("`{key}` must be a run number (a non-negative integer), not {x}"));
            return None;
        }
        Some(x as u32)
    }

    /// `[a, b]` of numbers.
    fn pair(&mut self, v: &Value, key: &str) -> Option<[(f64, bool); 2]> {
        let DeValue::Array(a) = v.get_ref() else {
            self.err_hint(v, format!("`{key}` must be a pair of numbers"), format!("for example `{key} = [4.0, 400.0]`"));
            return None;
        };
        if a.len() != 2 {
            self.err_hint(v, format!("`{key}` must have exactly two elements, not {}", a.len()), format!("for example `{key} = [4.0, 400.0]`"));
            return None;
        }
        Some([self.number(&a[0], key)?, self.number(&a[1], key)?])
    }

    /// `[first, last]` run range.
    fn run_range(&mut self, v: &Value, key: &str) -> Option<(u32, u32)> {
        let [(a, ai), (b, bi)] = self.pair(v, key)?;
        if !ai || !bi || a < 0.0 || b < 0.0 {
            self.err(v, format!("`{key}` must be two run numbers (non-negative integers)"));
            return None;
        }
        if a > b {
            self.err_hint(v, format!("`{key}`: first run {a} is after last run {b}"), "write the range as [first, last], both included");
            return None;
        }
        Some((a as u32, b as u32))
    }
}

/// The (line, column) of each byte offset, both 1-based, the column counted in
/// characters: the offsets sorted, then one pass over the text. An offset inside a
/// character counts as that character's start.
pub(super) fn locate(text: &str, offsets: &[usize]) -> Vec<(usize, usize)> {
    let mut order: Vec<usize> = (0..offsets.len()).collect();
    order.sort_by_key(|&i| offsets[i]);
    let mut out = vec![(1, 1); offsets.len()];
    let (mut pos, mut line, mut column) = (0usize, 1usize, 1usize);
    for i in order {
        let mut target = offsets[i].min(text.len());
        while !text.is_char_boundary(target) {
            target -= 1;
        }
        if target > pos {
            for c in text[pos..target].chars() {
                if c == '\n' {
                    line += 1;
                    column = 1;
                } else {
                    column += 1;
                }
            }
            pos = target;
        }
        out[i] = (line, column);
    }
    out
}

/// Names for a hint: the first dozen, then how many in all (a hint stays short
/// whatever the file's size).
fn some_of(names: &[String]) -> String {
    const SHOWN: usize = 12;
    if names.len() <= SHOWN {
        return names.join(", ");
    }
    format!("{}, ... ({} in all)", names[..SHOWN].join(", "), names.len())
}

/// How a TOML value's type reads in a message ("an integer"); the board's layout
/// files use it too.
pub(crate) fn type_name(v: &DeValue) -> &'static str {
    match v {
        DeValue::String(_) => "a string",
        DeValue::Integer(_) => "an integer",
        DeValue::Float(_) => "a float",
        DeValue::Boolean(_) => "a boolean",
        DeValue::Datetime(_) => "a date",
        DeValue::Array(_) => "an array",
        DeValue::Table(_) => "a table",
    }
}

/// The value of `key` in a spanned TOML table.
pub(crate) fn get<'t, 'i>(t: &'t Table<'i>, key: &str) -> Option<&'t Value<'i>> {
    t.iter().find(|(k, _)| k.get_ref().as_ref() == key).map(|(_, v)| v)
}

/// The metric or group a cut names: (label, metrics, unit, kind).
fn target(ctx: &mut Ctx, t: &Table, whole: &Value) -> Option<(String, Vec<&'static str>, &'static str, MetricKind)> {
    let all_names = || catalog::METRICS.iter().map(|m| m.name).chain(catalog::GROUPS.iter().map(|(g, _)| *g));
    match (get(t, "metric"), get(t, "every")) {
        (Some(m), None) => {
            let name = ctx.string(m, "metric")?;
            if let Some(info) = catalog::metric(&name) {
                return Some((name, vec![info.name], info.unit, info.kind));
            }
            if catalog::group(&name).is_some() {
                ctx.err_hint(m, format!("`{name}` is a group of metrics, not one metric"), format!("write `every = \"{name}\"` to cut on each of them"));
            } else {
                let hint = catalog::did_you_mean(&name, all_names()).map_or_else(
                    || "`gm2dqc cuts metrics` lists every metric with its unit".to_string(),
                    |s| format!("did you mean `{s}`?"),
                );
                ctx.err_hint(m, format!("unknown metric `{name}`"), hint);
            }
            None
        }
        (None, Some(g)) => {
            let name = ctx.string(g, "every")?;
            if let Some(members) = catalog::group(&name) {
                let first = catalog::metric(members[0]).expect("group members are metrics");
                return Some((name, members.to_vec(), first.unit, first.kind));
            }
            if catalog::metric(&name).is_some() {
                ctx.err_hint(g, format!("`{name}` is one metric, not a group"), format!("write `metric = \"{name}\"`"));
            } else {
                let groups = catalog::GROUPS.iter().map(|(g, _)| *g);
                let hint = catalog::did_you_mean(&name, groups).map_or_else(
                    || format!("groups: {}", catalog::GROUPS.iter().map(|(g, _)| *g).collect::<Vec<_>>().join(", ")),
                    |s| format!("did you mean `{s}`?"),
                );
                ctx.err_hint(g, format!("unknown group `{name}`"), hint);
            }
            None
        }
        (Some(m), Some(_)) => {
            ctx.err_hint(m, "a cut has either `metric` or `every`, not both", "split it into two cuts");
            None
        }
        (None, None) => {
            ctx.err_hint(whole, "a cut needs `metric = \"...\"` or `every = \"...\"`", "`gm2dqc cuts metrics` lists the metrics and groups");
            None
        }
    }
}

/// The test keys of a cut or override, checked against the target's unit and kind.
fn test(ctx: &mut Ctx, t: &Table, whole: &Value, label: &str, unit: &'static str, kind: MetricKind) -> Option<Test> {
    let present: Vec<&str> = TEST_KEYS.iter().copied().filter(|k| get(t, k).is_some()).collect();
    let bounds = ["min", "max", "above", "below"];
    let is_bound = |k: &&str| bounds.contains(k);
    if present.is_empty() {
        ctx.err_hint(whole, format!("the cut on `{label}` has no test"), format!("give one of: {}", TEST_KEYS.join(", ")));
        return None;
    }
    if present.iter().any(is_bound) && present.iter().any(|k| !is_bound(k)) || present.iter().filter(|k| !is_bound(k)).count() > 1 {
        let v = get(t, present[1]).expect("present");
        ctx.err_hint(v, format!("the cut on `{label}` mixes tests: {}", present.join(", ")), "one cut has one kind of test: bounds (min/max/above/below), equals, or a run-median test; write several cuts for several tests");
        return None;
    }
    // The unit: required for absolute tests, checked whenever given.
    let relative = present.iter().any(|k| k.starts_with("within_"));
    match get(t, "unit") {
        Some(u) => {
            let given = ctx.string(u, "unit")?;
            if given != unit {
                ctx.err_hint(u, format!("unit `{given}` does not match `{label}`, which is in `{unit}`"), format!("write `unit = \"{unit}\"` and bounds in {unit}"));
                return None;
            }
        }
        None if !relative => {
            ctx.err_hint(whole, format!("the cut on `{label}` has no `unit`"), format!("write `unit = \"{unit}\"`: bounds are checked against the metric's unit"));
            return None;
        }
        None => {}
    }
    let value = |ctx: &mut Ctx, key: &str| -> Option<f64> {
        let v = get(t, key)?;
        let (x, int) = ctx.number(v, key)?;
        if kind == MetricKind::Count && !int && !key.starts_with("within_") {
            ctx.err_hint(v, format!("`{label}` is a count; `{key}` must be an integer, not {x}"), "counts are compared with whole numbers");
            return None;
        }
        Some(x)
    };
    if present.iter().all(is_bound) {
        if present.contains(&"min") && present.contains(&"above") || present.contains(&"max") && present.contains(&"below") {
            let v = get(t, if present.contains(&"above") { "above" } else { "below" }).expect("present");
            ctx.err_hint(v, format!("the cut on `{label}` has two lower or two upper bounds"), "use `min` (>=) or `above` (>), and `max` (<=) or `below` (<)");
            return None;
        }
        let n_ok = present.len();
        let low = ["min", "above"].iter().find(|k| present.contains(k)).and_then(|k| value(ctx, k).map(|x| Bound { value: x, strict: *k == "above" }));
        let high = ["max", "below"].iter().find(|k| present.contains(k)).and_then(|k| value(ctx, k).map(|x| Bound { value: x, strict: *k == "below" }));
        if low.is_some() as usize + high.is_some() as usize != n_ok {
            return None; // a bound was not a number: already reported
        }
        if let (Some(l), Some(h)) = (low, high) {
            if l.value > h.value || (l.value == h.value && (l.strict || h.strict)) {
                let lk = if l.strict { "above" } else { "min" };
                let v = get(t, lk).expect("present");
                ctx.err_hint(v, format!("the cut on `{label}` can never pass: lower bound {} > upper bound {}", l.value, h.value), "swap the bounds, or check their units");
                return None;
            }
        }
        return Some(Test::Range { low, high });
    }
    match present[0] {
        "equals" => value(ctx, "equals").map(Test::Equals),
        "within_fraction_of_run_median" => {
            let f = value(ctx, "within_fraction_of_run_median")?;
            if f <= 0.0 {
                ctx.err_hint(get(t, "within_fraction_of_run_median").expect("present"), format!("the fraction must be positive, not {f}"), "0.2 means within 20 % of the run median");
                return None;
            }
            Some(Test::FractionOfRunMedian(f))
        }
        "within_errors_of_run_median" => {
            let v = get(t, "within_errors_of_run_median").expect("present");
            let k = value(ctx, "within_errors_of_run_median")?;
            if k <= 0.0 {
                ctx.err(v, format!("the number of errors must be positive, not {k}"));
                return None;
            }
            let Some(err) = catalog::error_metric(label) else {
                let with: Vec<&str> = catalog::METRICS.iter().filter(|m| catalog::error_metric(m.name).is_some()).map(|m| m.name).collect();
                ctx.err_hint(v, format!("`{label}` has no error column, so it cannot be cut in errors"), format!("metrics with errors: {}", with.join(", ")));
                return None;
            };
            Some(Test::ErrorsOfRunMedian { k, error: err.name })
        }
        _ => unreachable!("test keys are listed in TEST_KEYS"),
    }
}

fn valid_flag_name(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_') && s.as_bytes()[0].is_ascii_lowercase()
}

fn tables<'a, 'i>(ctx: &mut Ctx, v: &'a Value<'i>, key: &str) -> Vec<(&'a Value<'i>, &'a Table<'i>)> {
    match v.get_ref() {
        DeValue::Array(a) => a
            .iter()
            .filter_map(|e| match e.get_ref() {
                DeValue::Table(t) => Some((e, t)),
                other => {
                    ctx.err_hint(e, format!("each `{key}` must be a table, not {}", type_name(other)), format!("write `[[{key}]]` sections"));
                    None
                }
            })
            .collect(),
        other => {
            ctx.err_hint(v, format!("`{key}` must be a list of tables, not {}", type_name(other)), format!("write `[[{key}]]` sections"));
            Vec::new()
        }
    }
}

pub(super) fn parse(text: &str, source: &str) -> Result<CutFile, Vec<Diagnostic>> {
    let mut ctx = Ctx { text, source, diags: Vec::new(), newlines: None };
    let (doc, errors) = DeTable::parse_recoverable(text);
    if !errors.is_empty() {
        for e in errors {
            let span = e.span().unwrap_or(0..0);
            ctx.at(span, format!("TOML syntax: {}", e.message().trim()), Some("see https://toml.io for the syntax".into()));
        }
        return Err(ctx.finish(false));
    }
    let root = doc.get_ref();
    ctx.unknown_keys(root, TOP_KEYS, "the cut file");

    match get(root, "format") {
        Some(v) => {
            if let Some((x, _)) = ctx.number(v, "format") {
                if x != 1.0 {
                    ctx.err_hint(v, format!("unknown format {x}"), "this gm2dqc reads `format = 1`");
                }
            }
        }
        None => ctx.at(0..0, "no `format`", Some("start the file with `format = 1`".into())),
    }
    let name = get(root, "name").and_then(|v| ctx.string(v, "name")).unwrap_or_else(|| "unnamed".into());
    let description = get(root, "description").and_then(|v| ctx.string(v, "description")).unwrap_or_default();

    // Cuts.
    let mut cuts: Vec<Cut> = Vec::new();
    let mut flags: Vec<String> = Vec::new();
    let mut cut_spans: BTreeMap<String, Range<usize>> = BTreeMap::new();
    let cut_list = get(root, "cut").map(|v| tables(&mut ctx, v, "cut")).unwrap_or_default();
    if cut_list.is_empty() && get(root, "cut").is_none() {
        ctx.at(0..0, "the file defines no cuts", Some("add `[[cut]]` sections; see cuts/standard.toml".into()));
    }
    // Flags named by any cut, valid or not: a required flag is "defined by no cut" only
    // when no cut names it at all (a broken cut is reported once, where it is).
    // (Sets beside the lists: membership is checked once per cut or per required flag.)
    let mut mentioned: Vec<String> = Vec::new();
    let mut mentioned_set: HashSet<String> = HashSet::new();
    let mut flag_set: HashSet<String> = HashSet::new();
    for (v, t) in cut_list {
        ctx.unknown_keys(t, CUT_KEYS, "a [[cut]]");
        if let Some(DeValue::String(f)) = get(t, "flag").map(|f| f.get_ref()) {
            if mentioned_set.insert(f.to_string()) {
                mentioned.push(f.to_string());
            }
        }
        let flag = match get(t, "flag") {
            Some(f) => ctx.string(f, "flag").filter(|s| {
                let ok = valid_flag_name(s) && !RESERVED_FLAGS.contains(&s.as_str());
                if !ok {
                    ctx.err_hint(f, format!("`{s}` cannot be a flag name"), format!("use lowercase letters, digits and _, not one of {}; by convention flags end in _ok", RESERVED_FLAGS.join(", ")));
                }
                ok
            }),
            None => {
                ctx.err_hint(v, "a cut needs a `flag`", "write `flag = \"..._ok\"`: the flag this cut feeds");
                None
            }
        };
        let target = target(&mut ctx, t, v);
        let test = target.as_ref().and_then(|(label, _, unit, kind)| test(&mut ctx, t, v, label, unit, *kind));
        let explicit = get(t, "name").and_then(|n| ctx.string(n, "name").map(|s| (s, n.span())));
        let (Some(flag), Some((label, metrics, unit, _)), Some(test)) = (flag, target, test) else { continue };
        let (cut_name, span) = explicit.unwrap_or_else(|| (format!("{flag}.{label}"), v.span()));
        if let Some(first) = cut_spans.get(&cut_name) {
            let first_line = ctx.line_of(first.start);
            ctx.at(span, format!("two cuts are named `{cut_name}` (the first at line {first_line})"), Some("give one of them a distinct `name = \"...\"` so overrides can tell them apart".into()));
            continue;
        }
        cut_spans.insert(cut_name.clone(), span);
        if flag_set.insert(flag.clone()) {
            flags.push(flag.clone());
        }
        cuts.push(Cut { name: cut_name, flag, target: label, metrics, unit, test });
    }

    // Required flags.
    let mut required = Vec::new();
    let mut required_set: HashSet<String> = HashSet::new();
    match get(root, "required") {
        Some(v) => match v.get_ref() {
            DeValue::Array(a) => {
                for e in a.iter() {
                    let Some(f) = ctx.string(e, "required") else { continue };
                    if required_set.contains(&f) {
                        ctx.err(e, format!("`{f}` is listed twice in `required`"));
                    } else if !mentioned_set.contains(&f) {
                        let hint = catalog::did_you_mean(&f, mentioned.iter().map(String::as_str)).map_or_else(
                            || if mentioned.is_empty() { "no cut names a flag yet: add [[cut]] sections with `flag = ...`".to_string() } else { format!("flags named by the cuts: {}", some_of(&mentioned)) },
                            |s| format!("did you mean `{s}`?"),
                        );
                        ctx.err_hint(e, format!("required flag `{f}` is defined by no cut"), hint);
                    } else if flag_set.contains(&f) {
                        required_set.insert(f.clone());
                        required.push(f);
                    }
                }
                if a.is_empty() {
                    ctx.err_hint(v, "`required` is empty: every subrun would be ok", "list the flags a good subrun must pass");
                }
            }
            other => ctx.err(v, format!("`required` must be a list of flag names, not {}", type_name(other))),
        },
        None => ctx.at(0..0, "no `required` list", Some("say which flags make a subrun ok: `required = [\"fills_ok\", ...]`".into())),
    }

    // Channels.
    let mut channels = ChannelCuts::STANDARD;
    if let Some(v) = get(root, "channels") {
        if let DeValue::Table(t) = v.get_ref() {
            ctx.unknown_keys(t, CHANNEL_KEYS, "[channels]");
            for (key, slot) in [
                ("xtal_dead_below", &mut channels.xtal_dead),
                ("xtal_hot_above", &mut channels.xtal_hot),
                ("xtal_noisy_above", &mut channels.xtal_noisy),
                ("straw_dead_below", &mut channels.straw_dead),
                ("straw_noisy_above", &mut channels.straw_noisy),
            ] {
                if let Some(x) = get(t, key) {
                    if let Some((f, _)) = ctx.number(x, key) {
                        if f <= 0.0 {
                            ctx.err_hint(x, format!("`{key}` must be a positive factor, not {f}"), "it multiplies the median of the channel's calorimeter or module");
                        } else {
                            *slot = f;
                        }
                    }
                }
            }
            if let Some(x) = get(t, "calo_max_bad_xtals") {
                if let Some((n, int)) = ctx.number(x, "calo_max_bad_xtals") {
                    if !int || n < 0.0 || n > crate::layout::XTALS_PER_CALO as f64 {
                        ctx.err_hint(x, format!("`calo_max_bad_xtals` must be an integer from 0 to {}, not {n}", crate::layout::XTALS_PER_CALO), "a calorimeter is good when at most this many of its crystals are dead, hot or noisy");
                    } else {
                        channels.calo_max_bad = n as u32;
                    }
                }
            }
            if channels.xtal_dead >= channels.xtal_hot {
                ctx.err_hint(v, format!("xtal_dead_below {} >= xtal_hot_above {}: a crystal could be dead and hot", channels.xtal_dead, channels.xtal_hot), "dead is below a small fraction of the median, hot above a multiple");
            }
            if channels.straw_dead >= channels.straw_noisy {
                ctx.err(v, format!("straw_dead_below {} >= straw_noisy_above {}", channels.straw_dead, channels.straw_noisy));
            }
        } else {
            ctx.err(v, "`channels` must be a table: write a [channels] section");
        }
    }

    // Gain.
    let (mut fit, mut limits) = (FitConfig::STANDARD, ConstantLimits::STANDARD);
    let (mut reference_run, mut intervals) = (None, Vec::new());
    // `sum_subruns_passing`, with where each flag was written (checked after the overrides).
    let mut sum_flags: Vec<(String, Range<usize>)> = Vec::new();
    if let Some(v) = get(root, "gain") {
        if let DeValue::Table(t) = v.get_ref() {
            ctx.unknown_keys(t, GAIN_KEYS, "[gain]");
            if let Some(x) = get(t, "reference_run") {
                reference_run = ctx.run_number(x, "reference_run");
            }
            if let Some(x) = get(t, "ifg_fit_range_us") {
                if let Some([(lo, _), (hi, _)]) = ctx.pair(x, "ifg_fit_range_us") {
                    if lo >= hi || lo < 0.0 {
                        ctx.err_hint(x, format!("fit range [{lo}, {hi}] us is empty or negative"), "write [start, end] in microseconds after injection, start < end");
                    } else {
                        (fit.t_min, fit.t_max) = (lo, hi);
                    }
                }
            }
            if let Some(x) = get(t, "ifg_min_entries") {
                if let Some((n, _)) = ctx.number(x, "ifg_min_entries") {
                    if n < 0.0 {
                        ctx.err(x, format!("`ifg_min_entries` must not be negative, not {n}"));
                    } else {
                        fit.min_entries = n;
                    }
                }
            }
            if let Some(x) = get(t, "ifg_min_points") {
                if let Some((n, int)) = ctx.number(x, "ifg_min_points") {
                    if !int || n < 4.0 {
                        ctx.err_hint(x, format!("`ifg_min_points` must be an integer >= 4, not {n}"), "the fit has three parameters and needs at least one degree of freedom");
                    } else {
                        fit.min_points = n as usize;
                    }
                }
            }
            if let Some(x) = get(t, "max_gain_deviation") {
                if let Some((d, _)) = ctx.number(x, "max_gain_deviation") {
                    if d <= 0.0 {
                        ctx.err(x, format!("`max_gain_deviation` must be positive, not {d}"));
                    } else {
                        limits.max_gain_deviation = d;
                    }
                }
            }
            if let Some(x) = get(t, "ifg_amp_range") {
                if let Some([(lo, _), (hi, _)]) = ctx.pair(x, "ifg_amp_range") {
                    if lo > hi {
                        ctx.err_hint(x, format!("`ifg_amp_range` [{lo}, {hi}] is empty"), "write [lowest, highest]");
                    } else {
                        (limits.amp_min, limits.amp_max) = (lo, hi);
                    }
                }
            }
            if let Some(x) = get(t, "sum_subruns_passing") {
                match x.get_ref() {
                    DeValue::Array(a) => {
                        for e in a.iter() {
                            let Some(f) = ctx.string(e, "sum_subruns_passing") else { continue };
                            if sum_flags.iter().any(|(g, _)| *g == f) {
                                ctx.err(e, format!("`{f}` is listed twice in `sum_subruns_passing`"));
                            } else if !flag_set.contains(&f) {
                                let hint = catalog::did_you_mean(&f, mentioned.iter().map(String::as_str)).map_or_else(|| format!("flags of this file: {}", some_of(&mentioned)), |s| format!("did you mean `{s}`?"));
                                ctx.err_hint(e, format!("`sum_subruns_passing` names `{f}`, which no cut defines"), hint);
                            } else {
                                sum_flags.push((f, e.span()));
                            }
                        }
                    }
                    other => ctx.err(x, format!("`sum_subruns_passing` must be a list of flag names, not {}", type_name(other))),
                }
            }
            if let Some(x) = get(t, "intervals") {
                match x.get_ref() {
                    DeValue::Array(a) => {
                        let mut seen: Vec<((u32, u32), Range<usize>)> = Vec::new();
                        for e in a.iter() {
                            let Some(r) = ctx.run_range(e, "intervals") else { continue };
                            if let Some((o, _)) = seen.iter().find(|(o, _)| o.0 <= r.1 && r.0 <= o.1) {
                                ctx.err_hint(e, format!("interval {}-{} overlaps interval {}-{}", r.0, r.1, o.0, o.1), "each run belongs to one interval of validity");
                                continue;
                            }
                            seen.push((r, e.span()));
                            intervals.push(r);
                        }
                    }
                    other => ctx.err(x, format!("`intervals` must be a list of [first, last] run ranges, not {}", type_name(other))),
                }
            }
        } else {
            ctx.err(v, "`gain` must be a table: write a [gain] section");
        }
    }

    // Per-run DQC constants.
    let mut run_constants = RunConstantsConfig::STANDARD;
    if let Some(v) = get(root, "run_constants") {
        if let DeValue::Table(t) = v.get_ref() {
            ctx.unknown_keys(t, RUN_CONSTANTS_KEYS, "[run_constants]");
            if let Some(x) = get(t, "k") {
                if let Some((k, _)) = ctx.number(x, "k") {
                    if k <= 0.0 || !k.is_finite() {
                        ctx.err_hint(x, format!("`k` must be a positive number, not {k}"), "the window is the run median +- k robust widths");
                    } else {
                        run_constants.k = k;
                    }
                }
            }
            if let Some(x) = get(t, "min_relative_width") {
                if let Some((f, _)) = ctx.number(x, "min_relative_width") {
                    if !(0.0..1.0).contains(&f) {
                        ctx.err_hint(x, format!("`min_relative_width` must be in [0, 1), not {f}"), "the smallest robust width as a fraction of |median|");
                    } else {
                        run_constants.min_relative_width = f;
                    }
                }
            }
            if let Some(x) = get(t, "min_subruns") {
                if let Some((n, int)) = ctx.number(x, "min_subruns") {
                    if !int || n < 1.0 || n > u32::MAX as f64 {
                        ctx.err_hint(x, format!("`min_subruns` must be a positive integer, not {n}"), "a run with fewer subruns with the quantity gets no bounds");
                    } else {
                        run_constants.min_subruns = n as u32;
                    }
                }
            }
        } else {
            ctx.err(v, "`run_constants` must be a table: write a [run_constants] section");
        }
    }

    // Overrides.
    let mut overrides: Vec<Override> = Vec::new();
    let mut reference_overrides: Vec<((u32, u32), u32)> = Vec::new();
    let override_list = get(root, "override").map(|v| tables(&mut ctx, v, "override")).unwrap_or_default();
    let cut_index: HashMap<&str, usize> = cuts.iter().enumerate().map(|(i, k)| (k.name.as_str(), i)).collect();
    let cut_names: Vec<String> = cuts.iter().map(|k| k.name.clone()).collect();
    // Each cut's override periods so far (overlaps are checked within one cut).
    let mut periods: HashMap<String, Vec<(u32, u32)>> = HashMap::new();
    for (v, t) in override_list {
        ctx.unknown_keys(t, OVERRIDE_KEYS, "an [[override]]");
        let runs = match get(t, "runs") {
            Some(r) => ctx.run_range(r, "runs"),
            None => {
                ctx.err_hint(v, "an override needs `runs = [first, last]`", "the run period it applies to, both ends included");
                None
            }
        };
        match (get(t, "cut"), get(t, "reference_run")) {
            (Some(c), None) => {
                let Some(name) = ctx.string(c, "cut") else { continue };
                let Some(base) = cut_index.get(name.as_str()).map(|&i| &cuts[i]) else {
                    let hint = catalog::did_you_mean(&name, cut_names.iter().map(String::as_str)).map_or_else(
                        || format!("cuts are named <flag>.<metric or group> unless they have a `name`: {}", some_of(&cut_names)),
                        |s| format!("did you mean `{s}`?"),
                    );
                    ctx.err_hint(c, format!("override of unknown cut `{name}`"), hint);
                    continue;
                };
                let kind = catalog::metric(base.metrics[0]).map_or(MetricKind::Real, |m| m.kind);
                let (label, unit) = (base.target.clone(), base.unit);
                let Some(test) = test(&mut ctx, t, v, &label, unit, kind) else { continue };
                let Some(runs) = runs else { continue };
                let seen = periods.entry(name.clone()).or_default();
                if let Some(o) = seen.iter().find(|o| o.0 <= runs.1 && runs.0 <= o.1) {
                    let r = get(t, "runs").expect("runs parsed");
                    ctx.err_hint(r, format!("overrides of `{name}` for runs {}-{} and {}-{} overlap", o.0, o.1, runs.0, runs.1), "a run may have one override per cut; split or merge the periods");
                    continue;
                }
                seen.push(runs);
                overrides.push(Override { runs, cut: name, test });
            }
            (None, Some(r)) => {
                let Some(run) = ctx.run_number(r, "reference_run") else { continue };
                for key in TEST_KEYS.iter().chain(&["unit"]) {
                    if let Some(x) = get(t, key) {
                        ctx.err_hint(x, format!("`{key}` in a reference-run override"), "an override changes either a cut (`cut = ...`) or the reference run, not both");
                    }
                }
                let Some(runs) = runs else { continue };
                if let Some(o) = reference_overrides.iter().find(|(o, _)| o.0 <= runs.1 && runs.0 <= o.1) {
                    let rr = get(t, "runs").expect("runs parsed");
                    ctx.err_hint(rr, format!("reference-run overrides for runs {}-{} and {}-{} overlap", o.0 .0, o.0 .1, runs.0, runs.1), "a run has one reference run");
                    continue;
                }
                reference_overrides.push((runs, run));
            }
            (Some(c), Some(_)) => ctx.err_hint(c, "an override has either `cut` or `reference_run`, not both", "write two overrides"),
            (None, None) => ctx.err_hint(v, "an override needs `cut = \"...\"` (with the new test) or `reference_run = ...`", "see cuts/README.md"),
        }
    }

    // A flag that decides which subruns the gain sums take is evaluated on each subrun
    // as it is read: its cuts (and their overrides) must not need the run's median.
    let relative = |t: &Test| matches!(t, Test::FractionOfRunMedian(_) | Test::ErrorsOfRunMedian { .. });
    for (f, span) in &sum_flags {
        let cut = cuts.iter().find(|c| c.flag == *f && (relative(&c.test) || overrides.iter().any(|o| o.cut == c.name && relative(&o.test))));
        if let Some(c) = cut {
            ctx.at(
                span.clone(),
                format!("`sum_subruns_passing` names `{f}`, whose cut `{}` is relative to the run median: a subrun's verdict needs the whole run before it can be summed", c.name),
                Some("name flags whose cuts are absolute bounds (laser_ok, kicker_ok, fills_ok, ...)".into()),
            );
        }
    }

    if !ctx.diags.is_empty() {
        return Err(ctx.finish(true));
    }
    Ok(CutFile {
        source: source.to_string(),
        sha256: crate::checksum::sha256_hex(text.as_bytes()),
        name,
        description,
        flags,
        required,
        cuts,
        overrides,
        channels,
        fit,
        limits,
        run_constants,
        sum_flags: sum_flags.into_iter().map(|(f, _)| f).collect(),
        reference_run,
        reference_overrides,
        intervals,
    })
}

#[cfg(test)]
mod tests {
    use super::locate;

    /// Line and column by the definition: newlines before the offset, characters
    /// since the last one (rescanning from the start each time).
    fn by_definition(text: &str, offset: usize) -> (usize, usize) {
        let before = &text[..offset];
        (before.matches('\n').count() + 1, before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1)
    }

    #[test]
    fn locate_agrees_with_the_definition_in_any_order() {
        let text = "a = 1\n# größe µs\n\nkey = \"é\"\r\nlast line without newline";
        let bounds: Vec<usize> = (0..=text.len()).filter(|&i| text.is_char_boundary(i)).collect();
        // Every boundary, in a scrambled order with repeats.
        let offsets: Vec<usize> = (0..bounds.len() * 2).map(|k| bounds[(k * 7919) % bounds.len()]).collect();
        let got = locate(text, &offsets);
        for (o, g) in offsets.iter().zip(&got) {
            assert_eq!(*g, by_definition(text, *o), "offset {o}");
        }
        // Inside a character: that character's start. Past the end: the end.
        let e = text.find('é').unwrap();
        assert_eq!(locate(text, &[e + 1, text.len() + 5]), vec![by_definition(text, e), by_definition(text, text.len())]);
        assert_eq!(locate("", &[0, 3]), vec![(1, 1), (1, 1)]);
    }
}
