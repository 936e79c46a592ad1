//! Board layouts: which columns a board shows, in which order, and which gm2dqc
//! stages each column stands for. The stage list is data: two layouts are built in
//! (`gm2dqc`, one column per [`Stage`], and `g2`, the 18 columns of the g-2 offline
//! production spreadsheet, from `g2.toml`), and a site can write its own layout file.
//!
//! # Layout files
//!
//! ```toml
//! format = 1                      # required: the layout file format
//! name = "mysite"                 # required: lowercase letters, digits, _ and -
//! description = "..."             # optional
//!
//! [[column]]                      # one per column, in board order (at least one)
//! id = "ifg"                      # required, unique: lowercase letters, digits, _ and -
//! title = "IFG"                   # required: the heading shown
//! group = "Constants analysis"    # optional: a heading over several columns
//! stages = ["gain"]               # optional: the gm2dqc stages this column shows
//! signoff = ["dqc", "plots"]      # optional: Done by hand is a second person's sign-off
//! ```
//!
//! Every problem is reported with file:line:column before the file is refused.
//!
//! # What a column stores and shows
//!
//! A column with `stages` has no cells of its own: it shows its stages' state
//! (several stages: the rule of [`super::combine`]) and setting it sets each of its
//! stages. A stage shown by several columns (g2: gain in IFG, OOF and Channel status)
//! shows the same state in each, and setting any of them sets the stage. A column
//! without `stages` is set by hand and stored under its id, so its id may not be the
//! name of a stage; two layouts sharing an id share the cells. A stage's cells do not
//! depend on the layout: a layout that does not show a stage still has its entries.
//!
//! # Sign-off columns
//!
//! A column with `signoff` (stage names) needs a second person: its cell is Done only
//! when its own cells are and someone signed it off after the listed stages were last
//! set Done. The sign-off is stored under the key `<id>.signoff` ([`Column::signoff_key`];
//! a `.` is in no id, so no column or stage has that key). Setting such a column to
//! Done by hand ([`super::Target::Column`]) writes only the sign-off, and only when
//! every listed stage is Done and the setter is not the user of any of their latest
//! Done entries ([`super::BoardError::SignOff`]); setting it to another state sets its
//! own cells and the sign-off key (so TODO withdraws a sign-off). A stage's own
//! record, [`super::Target::Stage`] (what the upload job writes), never signs off.
//! Built in: the g2 layout's `delivered` and the gm2dqc layout's `upload` column,
//! both `signoff = ["dqc", "plots"]`.

use std::ops::Range;
use std::path::Path;

use toml::de::{DeTable, DeValue};
use toml::Spanned;

use crate::cuts::catalog::did_you_mean;
use crate::cuts::parse::{get, type_name};
use crate::cuts::Diagnostic;
use crate::job::Stage;

/// The g-2 production spreadsheet's layout, as shipped (an example for site files).
pub const G2_TOML: &str = include_str!("g2.toml");

/// The built-in layouts' names; the first is the default.
pub const BUILTIN: [&str; 2] = ["gm2dqc", "g2"];

/// A board layout: its name and its columns in order.
///
/// JSON (in [`super::BoardView`]): `{"name": "g2", "description": "...", "columns": [Column, ...]}`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Layout {
    pub name: String,
    pub description: String,
    pub columns: Vec<Column>,
}

/// One column of a layout.
///
/// JSON: `{"id": "ifg", "title": "IFG", "group": "Constants analysis (experts)" | null,
/// "stages": ["gain"], "signoff": []}` (`stages` empty for a column set by hand;
/// `signoff` the stages whose Done a second person must sign, empty for a column
/// without sign-off).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Column {
    pub id: String,
    pub title: String,
    pub group: Option<String>,
    pub stages: Vec<Stage>,
    /// Setting the column Done by hand is a sign-off of these stages by a second
    /// person (see the module's "Sign-off columns").
    pub signoff: Vec<Stage>,
}

/// The suffix of a sign-off key (`delivered.signoff`).
pub const SIGNOFF_SUFFIX: &str = ".signoff";

impl Column {
    /// The names this column's cells are stored under in `stage_log.stage`: its
    /// stages' names, or its own id when it is set by hand; then, for a sign-off
    /// column, its sign-off key.
    pub fn keys(&self) -> Vec<String> {
        let mut k = self.own_keys();
        k.extend(self.signoff_key());
        k
    }

    /// The keys of the column's own cells, without the sign-off key.
    pub fn own_keys(&self) -> Vec<String> {
        if self.stages.is_empty() {
            vec![self.id.clone()]
        } else {
            self.stages.iter().map(|s| s.as_str().to_string()).collect()
        }
    }

    /// The key its sign-off is stored under (`<id>.signoff`), for a sign-off column.
    pub fn signoff_key(&self) -> Option<String> {
        (!self.signoff.is_empty()).then(|| format!("{}{SIGNOFF_SUFFIX}", self.id))
    }

    /// Whether setting the column Done by hand needs a second person's sign-off.
    pub fn needs_signoff(&self) -> bool {
        !self.signoff.is_empty()
    }
}

/// Why a layout could not be had.
#[derive(Debug, thiserror::Error)]
pub enum LayoutError {
    #[error("no built-in board layout `{0}`; built-in layouts: {list}; or give the path of a layout file (.toml, see the g2 layout for the form)", list = BUILTIN.join(", "))]
    Unknown(String),
    #[error("layout file {path}: {source}", path = path.display())]
    Io { path: std::path::PathBuf, source: std::io::Error },
    #[error("{} problem(s) in the board layout {file}:\n{}", diagnostics.len(), diagnostics.iter().map(|d| d.to_string()).collect::<Vec<_>>().join("\n"))]
    Invalid { file: String, diagnostics: Vec<Diagnostic> },
}

impl Layout {
    /// The default layout: one column per gm2dqc stage, in checklist order, each
    /// column's id and title the stage's name ([`Stage::ALL`]); the `upload` column
    /// needs a second person's sign-off of dqc and plots.
    pub fn gm2dqc() -> Layout {
        Layout {
            name: BUILTIN[0].to_string(),
            description: "gm2dqc's stages, one column each, in checklist order".to_string(),
            columns: Stage::ALL
                .iter()
                .map(|s| Column {
                    id: s.as_str().to_string(),
                    title: s.as_str().to_string(),
                    group: None,
                    stages: vec![*s],
                    // Delivering a dataset needs a second person's sign-off of its DQC.
                    signoff: if *s == Stage::Upload { vec![Stage::Dqc, Stage::Plots] } else { Vec::new() },
                })
                .collect(),
        }
    }

    /// The g-2 offline production spreadsheet's 18 columns (`g2.toml`).
    pub fn g2() -> Result<Layout, LayoutError> {
        Layout::from_toml(G2_TOML, "built-in g2 layout")
    }

    /// A built-in layout by name (`gm2dqc`, `g2`).
    pub fn builtin(name: &str) -> Result<Layout, LayoutError> {
        match name.trim().to_ascii_lowercase().as_str() {
            "gm2dqc" => Ok(Layout::gm2dqc()),
            "g2" => Layout::g2(),
            _ => Err(LayoutError::Unknown(name.to_string())),
        }
    }

    /// A built-in layout's name, or else the path of a layout file.
    pub fn named_or_file(s: &str) -> Result<Layout, LayoutError> {
        match Layout::builtin(s) {
            Err(LayoutError::Unknown(_)) if Path::new(s).exists() => Layout::load(Path::new(s)),
            r => r,
        }
    }

    /// Reads and validates a layout file.
    pub fn load(path: &Path) -> Result<Layout, LayoutError> {
        let text = std::fs::read_to_string(path).map_err(|source| LayoutError::Io { path: path.to_path_buf(), source })?;
        Layout::from_toml(&text, &path.display().to_string())
    }

    /// Parses and validates a layout; `source` names it in the diagnostics.
    pub fn from_toml(text: &str, source: &str) -> Result<Layout, LayoutError> {
        parse(text, source).map_err(|diagnostics| LayoutError::Invalid { file: source.to_string(), diagnostics })
    }

    /// The column with this id (ids compare case-insensitively).
    pub fn column(&self, id: &str) -> Option<&Column> {
        let id = id.trim();
        self.columns.iter().find(|c| c.id.eq_ignore_ascii_case(id))
    }

    /// The columns showing `stage`, in order.
    pub fn columns_of(&self, stage: Stage) -> Vec<&Column> {
        self.columns.iter().filter(|c| c.stages.contains(&stage)).collect()
    }

    /// The first column whose cells are stored under `key` (a stage name or the id of
    /// a column set by hand), for messages.
    pub fn column_for_key(&self, key: &str) -> Option<&Column> {
        self.columns.iter().find(|c| c.keys().iter().any(|k| k == key))
    }

    /// The column ids, joined for messages.
    pub fn ids(&self) -> String {
        self.columns.iter().map(|c| c.id.as_str()).collect::<Vec<_>>().join(", ")
    }
}

const TOP_KEYS: &[&str] = &["format", "name", "description", "column"];
const COLUMN_KEYS: &[&str] = &["id", "title", "group", "stages", "signoff"];

type Table<'i> = DeTable<'i>;
type Value<'i> = Spanned<DeValue<'i>>;

struct Ctx<'a> {
    text: &'a str,
    source: &'a str,
    diags: Vec<Diagnostic>,
}

impl Ctx<'_> {
    fn line_of(&self, span: &Range<usize>) -> usize {
        self.text[..span.start.min(self.text.len())].matches('\n').count() + 1
    }

    fn at(&mut self, span: Range<usize>, message: impl Into<String>, hint: Option<String>) {
        // Spans are byte offsets into `text`; a span inside a character is moved back.
        let mut start = span.start.min(self.text.len());
        while !self.text.is_char_boundary(start) {
            start -= 1;
        }
        let before = &self.text[..start];
        let line = before.matches('\n').count() + 1;
        let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
        self.diags.push(Diagnostic { file: self.source.to_string(), line, column, message: message.into(), hint });
    }

    fn unknown_keys(&mut self, t: &Table, known: &[&str], what: &str) {
        for (k, _) in t.iter() {
            let name: &str = k.get_ref().as_ref();
            if !known.contains(&name) {
                let hint = match did_you_mean(name, known.iter().copied()) {
                    Some(s) => format!("did you mean `{s}`?"),
                    None => format!("the keys of {what}: {}", known.join(", ")),
                };
                self.at(k.span(), format!("unknown key `{name}` in {what}"), Some(hint));
            }
        }
    }

    fn string(&mut self, v: &Value, key: &str) -> Option<String> {
        match v.get_ref() {
            DeValue::String(s) => Some(s.to_string()),
            other => {
                self.at(v.span(), format!("`{key}` must be a string, not {}", type_name(other)), None);
                None
            }
        }
    }
}


/// The span of a key of `t` (for a missing sibling: point at the table's first key).
fn first_key_span(t: &Table) -> Option<Range<usize>> {
    t.iter().next().map(|(k, _)| k.span())
}

/// Lowercase ASCII letters, digits, `_` and `-`, starting with a letter or digit.
pub fn valid_id(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit()) && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-')
}

/// A column's list of stage names under `key` (`stages`, `signoff`): the stages, and
/// whether the list was valid (every problem located: not a list, not a string, an
/// unknown stage, a stage twice).
fn stage_list(ctx: &mut Ctx, t: &Table, key: &str, label: &str, example: &str) -> (Vec<Stage>, bool) {
    let mut stages: Vec<Stage> = Vec::new();
    let mut ok = true;
    let Some(v) = get(t, key) else { return (stages, ok) };
    match v.get_ref() {
        DeValue::Array(a) => {
            for e in a.iter() {
                let Some(s) = ctx.string(e, key) else {
                    ok = false;
                    continue;
                };
                match Stage::parse(&s) {
                    Some(st) if stages.contains(&st) => {
                        ctx.at(e.span(), format!("{label} names stage `{st}` twice in `{key}`"), None);
                        ok = false;
                    }
                    Some(st) => stages.push(st),
                    None => {
                        let hint = match did_you_mean(&s.to_ascii_lowercase(), Stage::ALL.iter().map(|x| x.as_str())) {
                            Some(m) => format!("did you mean `{m}`? stages: {}", Stage::names()),
                            None => format!("stages: {}", Stage::names()),
                        };
                        ctx.at(e.span(), format!("{label}: unknown stage `{s}` in `{key}`"), Some(hint));
                        ok = false;
                    }
                }
            }
        }
        other => {
            ctx.at(v.span(), format!("`{key}` must be a list of stage names, not {}", type_name(other)), Some(format!("for example `{key} = {example}`; stages: {}", Stage::names())));
            ok = false;
        }
    }
    (stages, ok)
}

fn parse(text: &str, source: &str) -> Result<Layout, Vec<Diagnostic>> {
    let mut ctx = Ctx { text, source, diags: Vec::new() };
    let (doc, errors) = DeTable::parse_recoverable(text);
    if !errors.is_empty() {
        for e in errors {
            ctx.at(e.span().unwrap_or(0..0), format!("TOML syntax: {}", e.message().trim()), Some("see https://toml.io for the syntax".into()));
        }
        return Err(ctx.diags);
    }
    let root = doc.get_ref();
    ctx.unknown_keys(root, TOP_KEYS, "a board layout");

    match get(root, "format") {
        Some(v) => match v.get_ref() {
            DeValue::Integer(i) if i.as_str() == "1" => {}
            DeValue::Integer(i) => {
                let msg = format!("unknown layout format {}", i.as_str());
                ctx.at(v.span(), msg, Some("this gm2dqc reads `format = 1`".into()));
            }
            other => {
                let msg = format!("`format` must be the integer 1, not {}", type_name(other));
                ctx.at(v.span(), msg, None);
            }
        },
        None => ctx.at(0..0, "a board layout needs `format = 1`", Some("write `format = 1` as the first line".into())),
    }
    let name = match get(root, "name") {
        Some(v) => ctx.string(v, "name").filter(|s| {
            let ok = valid_id(s);
            if !ok {
                ctx.at(v.span(), format!("`{s}` cannot be a layout name"), Some("use lowercase letters, digits, _ and -".into()));
            }
            ok
        }),
        None => {
            ctx.at(0..0, "a board layout needs a `name`", Some("for example `name = \"mysite\"`".into()));
            None
        }
    };
    let description = get(root, "description").and_then(|v| ctx.string(v, "description")).unwrap_or_default();

    let mut columns: Vec<Column> = Vec::new();
    // id -> line of its first definition, for duplicates.
    let mut seen: Vec<(String, usize)> = Vec::new();
    let mut bad_column = false;
    match get(root, "column") {
        None => ctx.at(0..0, "a board layout needs at least one column", Some("add `[[column]]` sections with `id` and `title`".into())),
        Some(v) => {
            let list: Vec<(&Value, &Table)> = match v.get_ref() {
                DeValue::Array(a) => a
                    .iter()
                    .filter_map(|e| match e.get_ref() {
                        DeValue::Table(t) => Some((e, t)),
                        other => {
                            ctx.at(e.span(), format!("each `column` must be a table, not {}", type_name(other)), Some("write `[[column]]` sections".into()));
                            bad_column = true;
                            None
                        }
                    })
                    .collect(),
                other => {
                    ctx.at(v.span(), format!("`column` must be a list of tables, not {}", type_name(other)), Some("write `[[column]]` sections".into()));
                    bad_column = true;
                    Vec::new()
                }
            };
            if list.is_empty() && !bad_column {
                ctx.at(v.span(), "a board layout needs at least one column", Some("add `[[column]]` sections with `id` and `title`".into()));
            }
            for (n, (cv, t)) in list.into_iter().enumerate() {
                let here = first_key_span(t).unwrap_or_else(|| cv.span());
                let what = format!("column {}", n + 1);
                ctx.unknown_keys(t, COLUMN_KEYS, "a [[column]]");
                let id = match get(t, "id") {
                    Some(v) => ctx.string(v, "id").and_then(|s| {
                        if !valid_id(&s) {
                            ctx.at(v.span(), format!("`{s}` cannot be a column id"), Some("use lowercase letters, digits, _ and -, starting with a letter or digit".into()));
                            return None;
                        }
                        let line = ctx.line_of(&v.span());
                        if let Some((_, first)) = seen.iter().find(|(i, _)| *i == s) {
                            ctx.at(v.span(), format!("column id `{s}` is used twice"), Some(format!("it is first used on line {first}; ids must differ even where titles repeat (e.g. `pre_staging` and `pre_staging_full`)")));
                            return None;
                        }
                        seen.push((s.clone(), line));
                        Some((s, v))
                    }),
                    None => {
                        ctx.at(here.clone(), format!("{what} has no `id`"), Some("write `id = \"...\"`: lowercase letters, digits, _ and -".into()));
                        None
                    }
                };
                let label = id.as_ref().map_or(what.clone(), |(s, _)| format!("column `{s}`"));
                let title = match get(t, "title") {
                    Some(v) => ctx.string(v, "title").filter(|s| {
                        let ok = !s.trim().is_empty();
                        if !ok {
                            ctx.at(v.span(), format!("{label} has an empty `title`"), Some("the title is the heading the board shows".into()));
                        }
                        ok
                    }),
                    None => {
                        ctx.at(here.clone(), format!("{label} has no `title`"), Some("write `title = \"...\"`: the heading the board shows".into()));
                        None
                    }
                };
                let group = get(t, "group").and_then(|v| ctx.string(v, "group"));
                let (stages, stages_ok) = stage_list(&mut ctx, t, "stages", &label, "[\"gain\"]");
                let (signoff, signoff_ok) = stage_list(&mut ctx, t, "signoff", &label, "[\"dqc\", \"plots\"]");
                if let Some((id, v)) = &id {
                    // A stage's name as a column id is only that stage's column.
                    if let Some(named) = Stage::ALL.into_iter().find(|s| s.as_str() == id) {
                        if stages_ok && stages != [named] {
                            let msg = if stages.is_empty() {
                                format!("column id `{id}` is the name of the gm2dqc stage {named} but the column maps no stage")
                            } else {
                                format!("column id `{id}` is the name of the gm2dqc stage {named} but the column maps {}", stages.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", "))
                            };
                            ctx.at(v.span(), msg, Some(format!("write `stages = [\"{named}\"]` or choose another id: a hand-set column is stored under its id")));
                        }
                    }
                }
                if let (Some((id, _)), Some(title), true, true) = (id, title, stages_ok, signoff_ok) {
                    columns.push(Column { id, title, group, stages, signoff });
                }
            }
        }
    }
    match (ctx.diags.is_empty(), name) {
        (true, Some(name)) => Ok(Layout { name, description, columns }),
        _ => {
            ctx.diags.sort_by_key(|d| (d.line, d.column));
            Err(ctx.diags)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_built_in_layouts() {
        let d = Layout::gm2dqc();
        assert_eq!(d.columns.iter().map(|c| c.stages.clone()).collect::<Vec<_>>(), Stage::ALL.map(|s| vec![s]).to_vec());
        let g2 = Layout::g2().unwrap();
        let titles: Vec<&str> = g2.columns.iter().map(|c| c.title.as_str()).collect();
        assert_eq!(
            titles,
            [
                "Pre-staging", "Pre-production", "2nd stages", "hadd stages", "IFG", "OOF", "QMethod", "Laser DQC", "Kicker DQC", "T0 DQC", "Channel status",
                "Pre-staging", "Full production (test)", "DQC (test)", "Full production", "Recovery", "Subrun DQC", "Dataset delivered"
            ]
        );
        // Every gm2dqc stage has a column on the g-2 board.
        for s in Stage::ALL {
            assert!(!g2.columns_of(s).is_empty(), "{s}");
        }
        assert_eq!(Layout::builtin("G2").unwrap(), g2);
        assert!(matches!(Layout::builtin("nosuch"), Err(LayoutError::Unknown(_))));
    }

    #[test]
    fn every_problem_is_located() {
        let text = "format = 2\nname = \"Bad Name\"\ncolour = 1\n\n[[column]]\nid = \"a\"\ntitle = \"A\"\nstages = [\"gian\"]\n\n[[column]]\nid = \"a\"\ntitle = \"\"\n\n[[column]]\ntitle = \"no id\"\n\n[[column]]\nid = \"gain\"\ntitle = \"Gain by hand\"\n";
        let Err(LayoutError::Invalid { diagnostics: d, .. }) = Layout::from_toml(text, "site.toml") else { panic!("accepted") };
        let got: Vec<(usize, &str)> = d.iter().map(|d| (d.line, d.message.as_str())).collect();
        let want_lines = [1, 2, 3, 8, 11, 12, 15, 18];
        assert_eq!(got.iter().map(|g| g.0).collect::<Vec<_>>(), want_lines, "{got:?}");
        assert!(d.iter().all(|d| d.file == "site.toml"));
        assert!(d[3].message.contains("unknown stage `gian`") && d[3].hint.as_deref().unwrap().contains("did you mean `gain`"), "{:?}", d[3]);
        assert!(d[4].hint.as_deref().unwrap().contains("line 6"), "{:?}", d[4]);
        assert!(d[6].message.contains("has no `id`"));
        assert!(d[7].message.contains("stage gain but the column maps no stage"), "{:?}", d[7]);
        let syntax = Layout::from_toml("format = 1\nname = \"x\"\n[[column]\n", "s.toml").unwrap_err().to_string();
        assert!(syntax.contains("s.toml:3:") && syntax.contains("TOML syntax"), "{syntax}");
    }
}
