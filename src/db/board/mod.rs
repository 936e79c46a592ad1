//! The bookkeeping board: for every dataset, the state of each column of a board
//! [`Layout`] (the shared spreadsheet of the g-2 offline shifts, in the conditions
//! database so every shifter sees the same board), who set it, when, and why.
//!
//! # The log
//!
//! The table `stage_log` (migration 2) is append-only: every change is one entry
//! (dataset, key, state, user, host, time, note), nothing is ever updated or deleted,
//! so [`history`] shows every entry a cell ever had, a hold's note included. The
//! `key` (column `stage`) is a gm2dqc stage's name ([`Stage::as_str`]) for the stages'
//! cells, or the id of a layout column that is set by hand. A cell's state is its
//! key's latest entry (highest id).
//!
//! # The rules the board applies
//!
//! - **Known datasets.** A dataset is on the board when the log has any entry for it
//!   (a cell's or the mark [`add_dataset`] writes). [`set`] refuses a dataset that is
//!   not known, unless the request says it is new ([`SetRequest::new_dataset`]), so a
//!   misspelt name never makes a second row.
//! - **Not started.** A cell without any entry is [`State::NotStarted`], shown `-`
//!   (the spreadsheet's blank cell); it is never written, and cannot be set.
//! - **Held.** Setting Held needs a note (what is wrong, what it waits for). A held
//!   cell accepts only Held again (a new note) or TODO with a note (the release); any
//!   other state is refused ([`BoardError::StillHeld`]). [`held`] tells the stages,
//!   `run` and `upload` that a dataset is held, by whom, since when and why.
//! - **Next TODO.** The checklist's "when done, set the assigned cell to Done and the
//!   right adjacent cell to TODO": when a set makes a column Done, the next column of
//!   the layout becomes TODO if it is not started, in the same transaction, written
//!   by the board itself (user [`BOARD_USER`], note "next after TITLE done").
//! - **Sign-off.** A column with `signoff` ([`Column::signoff`]; the g2 layout's
//!   Dataset delivered, the gm2dqc layout's upload) is Done only when a second person
//!   signed it: setting it Done by hand writes its sign-off key (`<id>.signoff`), and
//!   only when the listed stages (dqc, plots) are Done and the setter is not who set
//!   any of them Done ([`BoardError::SignOff`]). A sign-off counts until one of those
//!   stages gets a new entry; until then (and before it) the column shows TODO at
//!   most, whatever its own stages show. See [`layout`]'s "Sign-off columns".
//! - **Audit.** A request may carry the web application's audit entry
//!   ([`SetRequest::audited`]); it is written in the same transaction as the cells.
//! - Names and notes are stored exactly as given, as bound values (never spliced into
//!   SQL); only a NUL character, which PostgreSQL cannot store, is refused.
//!
//! Writes take the database's write lock (SQLite) or a per-dataset advisory lock
//! (PostgreSQL), so the checks and the entries of one set are one atomic step.

pub mod layout;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::str::FromStr;

pub use layout::{Column, Layout, LayoutError};

use super::payload::Value;
use super::schema::{ColType, Dialect};
use super::users::{AuditEntry, UserError};
use super::{Backend, DbError, Tx};
use crate::job::Stage;

/// The user name of the entries the board writes itself (the next-TODO rule). Not a
/// possible login name, and refused as the user of a request.
pub const BOARD_USER: &str = "(board)";

/// The key of the mark [`add_dataset`] writes (not a cell).
pub const DATASET_KEY: &str = "(dataset)";

/// The state text of that mark.
const ADDED: &str = "added";

/// The version of the board's JSON form ([`BoardView`]).
pub const FORMAT: u32 = 1;

/// The names of gm2dqc's stages in checklist order (compatibility for code that
/// used `board::STAGES`; new code uses [`Stage::ALL`]).
pub fn stage_names() -> [&'static str; 7] {
    Stage::ALL.map(Stage::as_str)
}

/// The state of a cell. JSON: `"not_started"`, `"todo"`, `"in_progress"`, `"done"`,
/// `"held"`, `"skipped"`; shown (and stored) as `-`, `TODO`, `In progress`, `Done`,
/// `Held`, `Skipped`. Parsed case-insensitively, with `_`, `-` or spaces between
/// words: "in progress", "In_Progress", "IN-PROGRESS", "inprogress" are all InProgress.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    /// No entry yet (the spreadsheet's blank cell). Shown `-`; never written.
    NotStarted,
    Todo,
    InProgress,
    Done,
    Held,
    Skipped,
}

impl State {
    /// The states a cell can be set to.
    pub const SETTABLE: [State; 5] = [State::Todo, State::InProgress, State::Done, State::Held, State::Skipped];

    /// As shown on the board and stored in the log.
    pub fn as_str(self) -> &'static str {
        match self {
            State::NotStarted => "-",
            State::Todo => "TODO",
            State::InProgress => "In progress",
            State::Done => "Done",
            State::Held => "Held",
            State::Skipped => "Skipped",
        }
    }

    /// The JSON and command-line name (`in_progress`).
    pub fn key(self) -> &'static str {
        match self {
            State::NotStarted => "not_started",
            State::Todo => "todo",
            State::InProgress => "in_progress",
            State::Done => "done",
            State::Held => "held",
            State::Skipped => "skipped",
        }
    }

    /// The settable states' names, for messages.
    pub fn names() -> String {
        "todo, in progress (in_progress), done, held, skipped".to_string()
    }

    /// Reads a state case-insensitively: `TODO`, `to do`, `In progress`,
    /// `in_progress`, `done`, `held`, `skipped`, and `-` or `not started` for
    /// NotStarted (which can be read but not set).
    pub fn parse(s: &str) -> std::result::Result<State, UnknownState> {
        let t = s.trim();
        if t == "-" {
            return Ok(State::NotStarted);
        }
        let words: Vec<String> = t.split(|c: char| c == '_' || c == '-' || c.is_whitespace()).filter(|w| !w.is_empty()).map(|w| w.to_lowercase()).collect();
        match words.join(" ").as_str() {
            "todo" | "to do" => Ok(State::Todo),
            "in progress" | "inprogress" => Ok(State::InProgress),
            "done" => Ok(State::Done),
            "held" => Ok(State::Held),
            "skipped" => Ok(State::Skipped),
            "not started" | "notstarted" => Ok(State::NotStarted),
            _ => Err(UnknownState(s.to_string())),
        }
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for State {
    type Err = UnknownState;
    fn from_str(s: &str) -> std::result::Result<State, UnknownState> {
        State::parse(s)
    }
}

impl<'de> serde::Deserialize<'de> for State {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<State, D::Error> {
        let s = String::deserialize(d)?;
        State::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// A state name that is not one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown state `{0}`; states: {list}", list = State::names())]
pub struct UnknownState(pub String);

/// The state a column mapping several stages shows, from its stages' states:
/// Held if any is held; else In progress if any is; else not started if none has
/// started; else Skipped if all are skipped; else Done if all are done or skipped;
/// else (some TODO, or some done and some not started) TODO. One state: itself.
pub fn combine(states: &[State]) -> State {
    let any = |s: State| states.contains(&s);
    let all = |f: &dyn Fn(State) -> bool| states.iter().all(|s| f(*s));
    if any(State::Held) {
        State::Held
    } else if any(State::InProgress) {
        State::InProgress
    } else if all(&|s| s == State::NotStarted) {
        State::NotStarted
    } else if all(&|s| s == State::Skipped) {
        State::Skipped
    } else if all(&|s| s == State::Done || s == State::Skipped) {
        State::Done
    } else {
        State::Todo
    }
}

/// Who sets a cell. The command line uses this process's user and host
/// ([`Who::here`]); the web application passes its authenticated user.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Who {
    pub user: String,
    pub host: String,
}

impl Who {
    /// This process: $USER (or the login name) on this machine.
    pub fn here() -> Who {
        let p = super::Provenance::here("", None, Vec::new());
        Who { user: p.user, host: p.host }
    }
}

/// What a set names: a column of the layout (by id) or a gm2dqc stage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    Column(String),
    Stage(Stage),
}

impl From<Stage> for Target {
    fn from(s: Stage) -> Target {
        Target::Stage(s)
    }
}

impl Layout {
    /// What `s` names on this board, for the command line and the web application:
    /// a column id, else a gm2dqc stage's name, else the title of exactly one column
    /// (all case-insensitively).
    pub fn target(&self, s: &str) -> std::result::Result<Target, BoardError> {
        if let Some(c) = self.column(s) {
            return Ok(Target::Column(c.id.clone()));
        }
        if let Some(st) = Stage::parse(s) {
            return Ok(Target::Stage(st));
        }
        let by_title: Vec<&Column> = self.columns.iter().filter(|c| c.title.trim().eq_ignore_ascii_case(s.trim())).collect();
        match by_title.as_slice() {
            [c] => Ok(Target::Column(c.id.clone())),
            [] => Err(BoardError::UnknownColumn { given: s.to_string(), layout: self.name.clone(), ids: self.ids() }),
            many => Err(BoardError::AmbiguousColumn { given: s.to_string(), layout: self.name.clone(), ids: many.iter().map(|c| c.id.clone()).collect() }),
        }
    }

    /// The keys a target's cells are stored under, and its name for messages.
    fn keys_of(&self, t: &Target) -> std::result::Result<(Vec<String>, String), BoardError> {
        match t {
            Target::Stage(s) => Ok((vec![s.as_str().to_string()], s.as_str().to_string())),
            Target::Column(id) => {
                let c = self.column(id).ok_or_else(|| BoardError::UnknownColumn { given: id.clone(), layout: self.name.clone(), ids: self.ids() })?;
                Ok((c.keys(), c.id.clone()))
            }
        }
    }
}

/// One change of one cell.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetRequest {
    pub dataset: String,
    pub column: Target,
    pub state: State,
    /// Why; required for Held and for releasing a hold.
    pub note: String,
    /// The dataset is new to the board: accept it although it has no entry yet.
    pub new_dataset: bool,
    /// Who sets it; `None`: this process ([`Who::here`]).
    pub by: Option<Who>,
    /// The web application's record of the set, written in the set's transaction.
    pub audit: Option<AuditEntry>,
}

impl SetRequest {
    pub fn new(dataset: impl Into<String>, column: impl Into<Target>, state: State, note: impl Into<String>) -> SetRequest {
        SetRequest { dataset: dataset.into(), column: column.into(), state, note: note.into(), new_dataset: false, by: None, audit: None }
    }

    /// Accept a dataset the board does not know yet.
    pub fn new_dataset(mut self) -> SetRequest {
        self.new_dataset = true;
        self
    }

    /// Set by `who` rather than this process's user.
    pub fn by(mut self, who: Who) -> SetRequest {
        self.by = Some(who);
        self
    }

    /// Record the set in the web application's audit record ([`super::users`]), in
    /// the same transaction: the cells and their record are written together or not.
    pub fn audited(mut self, entry: AuditEntry) -> SetRequest {
        self.audit = Some(entry);
        self
    }
}

/// One entry of the log.
///
/// JSON: `{"id": 12, "dataset": "3B", "key": "gain", "stage": "gain" | null,
/// "state": "held", "user": "alice", "host": "gm2gpvm01.fnal.gov",
/// "at_us": 1796083200000000, "at": "2026-12-01T00:00:00.000000Z",
/// "note": "laser run missing", "by_board": false}`. `key` is what the log stores
/// (a stage's name, or a hand-set column's id); `stage` the gm2dqc stage when it is
/// one; `at` the same instant as `at_us` in UTC ISO 8601; `by_board` is true for
/// the entries the board writes itself (user [`BOARD_USER`]).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Entry {
    pub id: i64,
    pub dataset: String,
    pub key: String,
    pub stage: Option<Stage>,
    pub state: State,
    pub user: String,
    pub host: String,
    pub at_us: i64,
    pub at: String,
    pub note: String,
    pub by_board: bool,
}

/// A mapped column's part: one of its stages.
///
/// JSON: `{"stage": "dqc", "state": "done", "entry": Entry | null}`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct StageCell {
    pub stage: Stage,
    pub state: State,
    pub entry: Option<Entry>,
}

/// The sign-off a sign-off column's cell counts: who signed, when.
///
/// JSON: `{"user": "bob", "host": "...", "at_us": ..., "at": "...", "note": "...",
/// "entry_id": 31}`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SignOff {
    pub user: String,
    pub host: String,
    pub at_us: i64,
    pub at: String,
    pub note: String,
    pub entry_id: i64,
}

/// One cell of the board: a column of one dataset.
///
/// JSON: `{"column": "subrun_dqc", "state": "todo", "shown": "TODO",
/// "entry": Entry | null, "stages": [StageCell, ...], "signoff": SignOff | null}`.
/// `state` is the column's state (its key's latest entry; for a column of several
/// stages, [`combine`]; for a sign-off column, combined with the sign-off's, which
/// is Done only for a sign-off later than the signed stages' latest entries, else
/// TODO, so the column shows TODO until signed); `shown` as the board prints it;
/// `entry` the entry the state comes from (for several stages: the latest of those in
/// that state, else the latest of them all; null when not started); `stages` one
/// part per stage of a mapped column, in the column's order, empty for a column set
/// by hand; `signoff` the sign-off that counts, null when there is none (or the
/// column needs none: see the layout's `signoff`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Cell {
    pub column: String,
    pub state: State,
    pub shown: &'static str,
    pub entry: Option<Entry>,
    pub stages: Vec<StageCell>,
    pub signoff: Option<SignOff>,
}

/// A held cell: which one, who held it, when, and why.
///
/// JSON: `{"dataset": "3B", "key": "gain", "stage": "gain" | null, "user": "alice",
/// "host": "...", "at_us": ..., "at": "...", "note": "...", "entry_id": 12}`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Hold {
    pub dataset: String,
    /// The held cell's key: a stage's name or a hand-set column's id.
    pub key: String,
    pub stage: Option<Stage>,
    pub user: String,
    pub host: String,
    pub at_us: i64,
    pub at: String,
    pub note: String,
    pub entry_id: i64,
}

impl Hold {
    fn of(e: &Entry) -> Hold {
        Hold { dataset: e.dataset.clone(), key: e.key.clone(), stage: e.stage, user: e.user.clone(), host: e.host.clone(), at_us: e.at_us, at: e.at.clone(), note: e.note.clone(), entry_id: e.id }
    }

    /// The columns of `layout` that show the held cell.
    pub fn columns<'l>(&self, layout: &'l Layout) -> Vec<&'l Column> {
        layout.columns.iter().filter(|c| c.keys().contains(&self.key)).collect()
    }
}

impl fmt::Display for Hold {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "dataset `{}` is held at {} by {}@{} since {}: {}", self.dataset, self.key, self.user, self.host, self.at, self.note)
    }
}

/// One dataset's row.
///
/// JSON: `{"dataset": "3B", "held": Hold | null, "cells": [Cell, ...]}`; `held` is
/// the dataset's oldest hold on any cell, shown on this layout or not ([`held`]).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Row {
    pub dataset: String,
    pub held: Option<Hold>,
    pub cells: Vec<Cell>,
}

/// The whole board in one layout: what `gm2dqc status --json` and `GET /api/board`
/// print, exactly.
///
/// JSON: `{"format": 1, "layout": {"name": "g2", "description": "...", "columns":
/// [{"id": "ifg", "title": "IFG", "group": "..." | null, "stages": ["gain"],
/// "signoff": []}, ...]}, "rows": [Row, ...]}`; rows sorted by dataset name (byte order), cells in the
/// layout's column order. `format` changes if the form ever does.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct BoardView {
    pub format: u32,
    pub layout: Layout,
    pub rows: Vec<Row>,
}

/// Why the board refused or failed. Nothing is written when a set fails.
#[derive(Debug, thiserror::Error)]
pub enum BoardError {
    #[error(transparent)]
    UnknownState(#[from] UnknownState),
    #[error("a cell cannot be set to `not started` (-): that is what a cell shows before its first entry, and the log keeps every entry; set todo or skipped instead")]
    NotSettable,
    #[error("the dataset name is empty: give the dataset's name as the board shows it")]
    EmptyDataset,
    #[error("the {what} {text:?} contains a NUL character, which the database cannot store: remove it")]
    Nul { what: &'static str, text: String },
    #[error("dataset `{dataset}` is not on the board (no entry has it){}: check the name, or say that it is a new dataset (a set with new_dataset, or add_dataset)", if similar.is_empty() { String::new() } else { format!("; did you mean {}?", similar.iter().map(|s| format!("`{s}`")).collect::<Vec<_>>().join(" or ")) })]
    UnknownDataset { dataset: String, similar: Vec<String> },
    #[error("no column or stage `{given}` on the {layout} board; columns: {ids}; stages: {stages}", stages = Stage::names())]
    UnknownColumn { given: String, layout: String, ids: String },
    #[error("`{given}` is the title of several columns of the {layout} board ({}): name the column by its id", ids.join(", "))]
    AmbiguousColumn { given: String, layout: String, ids: Vec<String> },
    #[error("setting {column} of `{dataset}` to Held needs a note: what is wrong and what it waits for (everyone who runs a stage on the dataset is shown it)")]
    NoteRequired { dataset: String, column: String },
    #[error("{0}; releasing the hold (todo) needs a note saying what was done about it")]
    ReleaseNeedsNote(Hold),
    #[error("{hold}; it cannot become {wanted} while held: release it first by setting it to todo with a note")]
    StillHeld { hold: Hold, wanted: State },
    #[error("{0}: no stage runs on a held dataset; release the hold first (set that cell to todo with a note saying what was done)")]
    DatasetHeld(Hold),
    #[error("`{0}` is the name the board writes its own entries under: set cells as a person")]
    ReservedUser(String),
    #[error("a set needs the name of who sets it (the user is empty)")]
    EmptyUser,
    #[error("{}", signoff_message(.dataset, .column, .user, .not_done, .same_user))]
    SignOff {
        dataset: String,
        /// The column's title.
        column: String,
        /// Who tried to sign.
        user: String,
        /// The stages to sign that are not Done, with their state.
        not_done: Vec<(Stage, State)>,
        /// The stages to sign whose latest Done entry is the signer's, with when.
        same_user: Vec<(Stage, String)>,
    },
    #[error(transparent)]
    Audit(#[from] UserError),
    #[error("stage_log entry {id} has state `{state}`, which this gm2dqc does not know (states: {list}): was it written by hand or by a newer gm2dqc?", list = State::names())]
    BadEntry { id: i64, state: String },
    #[error(transparent)]
    Layout(#[from] LayoutError),
    #[error(transparent)]
    Db(#[from] DbError),
}

pub type Result<T> = std::result::Result<T, BoardError>;

fn signoff_message(dataset: &str, column: &str, user: &str, not_done: &[(Stage, State)], same_user: &[(Stage, String)]) -> String {
    let mut why = Vec::new();
    if !not_done.is_empty() {
        let list: Vec<String> = not_done.iter().map(|(s, st)| format!("{s} is {st}")).collect();
        why.push(format!("{}, not Done: a sign-off comes after them", list.join(" and ")));
    }
    if !same_user.is_empty() {
        let list: Vec<String> = same_user.iter().map(|(s, at)| format!("{s} Done at {at}")).collect();
        why.push(format!("{user} set {}; a second person, not the one who set the DQC stages Done, must sign", list.join(" and ")));
    }
    format!("{column} of `{dataset}` needs a second person's sign-off and {user} cannot sign it now: {}", why.join("; "))
}

const SELECT: &str = "SELECT l.id, l.dataset, l.stage, l.state, l.user_name, l.host, l.at_us, l.note FROM stage_log l";
const TYPES: [ColType; 8] = [ColType::Int, ColType::Text, ColType::Text, ColType::Text, ColType::Text, ColType::Text, ColType::Int, ColType::Text];
const LATEST: &str = "l.id = (SELECT MAX(m.id) FROM stage_log m WHERE m.dataset = l.dataset AND m.stage = l.stage)";

fn no_nul(what: &'static str, text: &str) -> Result<()> {
    if text.contains('\0') {
        return Err(BoardError::Nul { what, text: text.to_string() });
    }
    Ok(())
}

fn check_dataset(dataset: &str) -> Result<()> {
    if dataset.trim().is_empty() {
        return Err(BoardError::EmptyDataset);
    }
    no_nul("dataset name", dataset)
}

fn check_who(who: &Who) -> Result<()> {
    if who.user.trim().is_empty() {
        return Err(BoardError::EmptyUser);
    }
    if who.user == BOARD_USER {
        return Err(BoardError::ReservedUser(who.user.clone()));
    }
    no_nul("user name", &who.user)?;
    no_nul("host name", &who.host)
}

fn stage_of(key: &str) -> Option<Stage> {
    Stage::ALL.into_iter().find(|s| s.as_str() == key)
}

/// A log row: the dataset mark (`None`) or a cell's entry.
fn entry_of(r: &[Value]) -> Result<Option<Entry>> {
    let s = |i: usize| r[i].as_str().unwrap_or_default().to_string();
    let (id, key, state) = (r[0].as_i64().unwrap_or(0), s(2), s(3));
    if key == DATASET_KEY {
        return Ok(None);
    }
    let st = match State::parse(&state) {
        Ok(State::NotStarted) | Err(_) => return Err(BoardError::BadEntry { id, state }),
        Ok(st) => st,
    };
    let (user, at_us) = (s(4), r[6].as_i64().unwrap_or(0));
    Ok(Some(Entry { id, dataset: s(1), stage: stage_of(&key), key, state: st, by_board: user == BOARD_USER, user, host: s(5), at_us, at: super::time::format_us(at_us), note: s(7) }))
}

/// The latest entry of every key, per dataset (all datasets, or one); a dataset
/// with only its mark has an empty map.
fn latest(tx: &mut dyn Tx, dataset: Option<&str>) -> Result<BTreeMap<String, BTreeMap<String, Entry>>> {
    let rows = match dataset {
        Some(d) => tx.query(&format!("{SELECT} WHERE l.dataset = $1 AND {LATEST} ORDER BY l.id"), &[Value::Text(d.to_string())], &TYPES)?,
        None => tx.query(&format!("{SELECT} WHERE {LATEST} ORDER BY l.id"), &[], &TYPES)?,
    };
    let mut out: BTreeMap<String, BTreeMap<String, Entry>> = BTreeMap::new();
    for r in rows {
        let ds = r[1].as_str().unwrap_or_default().to_string();
        let cells = out.entry(ds).or_default();
        if let Some(e) = entry_of(&r)? {
            cells.insert(e.key.clone(), e);
        }
    }
    Ok(out)
}

/// Known datasets resembling `dataset` (same name but for case or surrounding
/// spaces, or a near spelling), for the refusal's "did you mean".
fn similar(tx: &mut dyn Tx, dataset: &str) -> Result<Vec<String>> {
    let names: Vec<String> = tx.query("SELECT DISTINCT dataset FROM stage_log", &[], &[ColType::Text])?.into_iter().filter_map(|r| r[0].as_str().map(str::to_string)).collect();
    let want = dataset.trim().to_lowercase();
    let mut out: Vec<String> = names.iter().filter(|n| n.trim().to_lowercase() == want).cloned().collect();
    if out.is_empty() {
        if let Some(n) = crate::cuts::catalog::did_you_mean(dataset, names.iter().map(String::as_str)) {
            out.push(n.to_string());
        }
    }
    out.sort();
    Ok(out)
}

/// Serialises the writers of one dataset on PostgreSQL (SQLite's write transaction
/// already holds the database's lock).
fn lock(tx: &mut dyn Tx, dataset: &str) -> Result<()> {
    if tx.dialect() == Dialect::Postgres {
        tx.query("SELECT pg_advisory_xact_lock(742002, hashtext($1))::text", &[Value::Text(dataset.to_string())], &[ColType::Text])?;
    }
    Ok(())
}

fn insert(tx: &mut dyn Tx, dataset: &str, key: &str, state: &str, who: &Who, at_us: i64, note: &str) -> Result<i64> {
    let t = |s: &str| Value::Text(s.to_string());
    let rows = tx.query(
        "INSERT INTO stage_log (dataset, stage, state, user_name, host, at_us, note) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
        &[t(dataset), t(key), t(state), t(&who.user), t(&who.host), Value::Int(at_us), t(note)],
        &[ColType::Int],
    )?;
    rows.first().and_then(|r| r[0].as_i64()).ok_or_else(|| BoardError::Db(DbError::Backend("INSERT INTO stage_log returned no id".into())))
}

fn write_entry(tx: &mut dyn Tx, dataset: &str, key: &str, state: State, who: &Who, at_us: i64, note: &str) -> Result<Entry> {
    let id = insert(tx, dataset, key, state.as_str(), who, at_us, note)?;
    let by_board = who.user == BOARD_USER;
    Ok(Entry { id, dataset: dataset.to_string(), key: key.to_string(), stage: stage_of(key), state, user: who.user.clone(), host: who.host.clone(), at_us, at: super::time::format_us(at_us), note: note.to_string(), by_board })
}

/// A sign-off column's sign-off part: its state (Done only for a Done sign-off later
/// than every signed stage's latest entry, else TODO; its own state when not Done)
/// and the sign-off that counts.
fn signoff_of(c: &Column, latest: &BTreeMap<String, Entry>) -> Option<(State, Option<SignOff>)> {
    let key = c.signoff_key()?;
    let Some(e) = latest.get(&key) else { return Some((State::NotStarted, None)) };
    if e.state != State::Done {
        return Some((e.state, None));
    }
    let after_signed = c.signoff.iter().all(|s| latest.get(s.as_str()).is_none_or(|x| x.id < e.id));
    if !after_signed {
        return Some((State::Todo, None));
    }
    Some((State::Done, Some(SignOff { user: e.user.clone(), host: e.host.clone(), at_us: e.at_us, at: e.at.clone(), note: e.note.clone(), entry_id: e.id })))
}

/// A column's cell from the latest entries of its dataset.
fn cell_of(c: &Column, latest: &BTreeMap<String, Entry>) -> Cell {
    let state_of = |k: &str| latest.get(k).map_or(State::NotStarted, |e| e.state);
    let signoff = signoff_of(c, latest);
    // The column's own state combined with its sign-off's.
    let with_signoff = |own: State| match &signoff {
        Some((st, _)) => combine(&[own, *st]),
        None => own,
    };
    let signed = signoff.as_ref().and_then(|(_, s)| s.clone());
    if c.stages.is_empty() {
        let entry = latest.get(&c.id).cloned();
        let state = with_signoff(state_of(&c.id));
        return Cell { column: c.id.clone(), state, shown: state.as_str(), entry, stages: Vec::new(), signoff: signed };
    }
    let stages: Vec<StageCell> = c.stages.iter().map(|s| StageCell { stage: *s, state: state_of(s.as_str()), entry: latest.get(s.as_str()).cloned() }).collect();
    let own = combine(&stages.iter().map(|p| p.state).collect::<Vec<_>>());
    let state = with_signoff(own);
    let latest_of = |f: &dyn Fn(&StageCell) -> bool| stages.iter().filter(|p| f(p)).filter_map(|p| p.entry.as_ref()).max_by_key(|e| e.id).cloned();
    let entry = latest_of(&|p| p.state == own).or_else(|| latest_of(&|_| true));
    Cell { column: c.id.clone(), state, shown: state.as_str(), entry, stages, signoff: signed }
}

/// The sign-off rule: every signed stage Done, none of them last set Done by `who`.
fn check_signoff(req: &SetRequest, c: &Column, who: &Who, cur: &BTreeMap<String, Entry>) -> Result<()> {
    let mut not_done = Vec::new();
    let mut same_user = Vec::new();
    for s in &c.signoff {
        match cur.get(s.as_str()) {
            Some(e) if e.state == State::Done => {
                if e.user == who.user {
                    same_user.push((*s, e.at.clone()));
                }
            }
            e => not_done.push((*s, e.map_or(State::NotStarted, |e| e.state))),
        }
    }
    if not_done.is_empty() && same_user.is_empty() {
        return Ok(());
    }
    Err(BoardError::SignOff { dataset: req.dataset.clone(), column: c.title.clone(), user: who.user.clone(), not_done, same_user })
}

fn holds_in(latest: &BTreeMap<String, Entry>) -> Vec<Hold> {
    let mut v: Vec<&Entry> = latest.values().filter(|e| e.state == State::Held).collect();
    v.sort_by_key(|e| e.id);
    v.into_iter().map(Hold::of).collect()
}

/// Sets a cell: one entry per key of the target (a column of several stages: one per
/// stage), then the next-TODO rule, in one transaction. Returns the entries written,
/// the request's first, then the board's own.
///
/// A sign-off column set to Done by hand ([`Target::Column`]) writes only its
/// sign-off key, after the sign-off rule ([`BoardError::SignOff`]); set to another
/// state, its own cells and its sign-off key.
///
/// Refuses, writing nothing: an empty dataset name; a dataset the board does not
/// know unless `new_dataset`; `not started`; Held without a note; a held cell set
/// to anything but Held or TODO, and TODO without a note (the release); a column the
/// layout does not have; a sign-off by who set a signed stage Done, or before the
/// signed stages are Done.
pub fn set(b: &mut dyn Backend, layout: &Layout, req: &SetRequest) -> Result<Vec<Entry>> {
    check_dataset(&req.dataset)?;
    no_nul("note", &req.note)?;
    if req.state == State::NotStarted {
        return Err(BoardError::NotSettable);
    }
    let who = req.by.clone().unwrap_or_else(Who::here);
    check_who(&who)?;
    let (keys, label) = layout.keys_of(&req.column)?;
    if req.state == State::Held && req.note.trim().is_empty() {
        return Err(BoardError::NoteRequired { dataset: req.dataset.clone(), column: label });
    }
    // Done by hand on a sign-off column: the sign-off, and only that is written.
    let signoff = match &req.column {
        Target::Column(id) => layout.column(id).filter(|c| c.needs_signoff() && req.state == State::Done),
        Target::Stage(_) => None,
    };
    let write: Vec<String> = match signoff.and_then(Column::signoff_key) {
        Some(k) => vec![k],
        None => keys.clone(),
    };
    let mut tx = b.begin(true)?;
    lock(tx.as_mut(), &req.dataset)?;
    let mut all = latest(tx.as_mut(), Some(&req.dataset))?;
    let Some(cur) = all.remove(&req.dataset) else {
        if !req.new_dataset {
            return Err(BoardError::UnknownDataset { dataset: req.dataset.clone(), similar: similar(tx.as_mut(), &req.dataset)? });
        }
        if let Some(c) = signoff {
            check_signoff(req, c, &who, &BTreeMap::new())?;
        }
        return finish_set(tx, layout, req, &who, &write, BTreeMap::new());
    };
    for k in &keys {
        if let Some(e) = cur.get(k).filter(|e| e.state == State::Held) {
            let hold = Hold::of(e);
            match req.state {
                State::Todo if req.note.trim().is_empty() => return Err(BoardError::ReleaseNeedsNote(hold)),
                State::Todo | State::Held => {}
                wanted => return Err(BoardError::StillHeld { hold, wanted }),
            }
        }
    }
    if let Some(c) = signoff {
        check_signoff(req, c, &who, &cur)?;
    }
    finish_set(tx, layout, req, &who, &write, cur)
}

fn finish_set(mut tx: Box<dyn Tx + '_>, layout: &Layout, req: &SetRequest, who: &Who, keys: &[String], mut cur: BTreeMap<String, Entry>) -> Result<Vec<Entry>> {
    let now = tx.now_us()?;
    let mut written = Vec::new();
    for k in keys {
        let e = write_entry(tx.as_mut(), &req.dataset, k, req.state, who, now, &req.note)?;
        cur.insert(k.clone(), e.clone());
        written.push(e);
    }
    if req.state == State::Done {
        let mine: BTreeSet<&String> = keys.iter().collect();
        let board = Who { user: BOARD_USER.to_string(), host: who.host.clone() };
        for (i, c) in layout.columns.iter().enumerate() {
            if !c.keys().iter().any(|k| mine.contains(k)) || cell_of(c, &cur).state != State::Done {
                continue;
            }
            let Some(next) = layout.columns.get(i + 1) else { continue };
            // The next column's own cells: a sign-off is never the board's to write.
            let nk = next.own_keys();
            if nk.iter().any(|k| mine.contains(k) || cur.contains_key(k)) {
                continue;
            }
            let note = format!("next after {} done", c.title);
            for k in nk {
                let e = write_entry(tx.as_mut(), &req.dataset, &k, State::Todo, &board, now, &note)?;
                cur.insert(k, e.clone());
                written.push(e);
            }
        }
    }
    if let Some(a) = &req.audit {
        super::users::audit_in(tx.as_mut(), a)?;
    }
    tx.commit()?;
    Ok(written)
}

/// Puts a dataset on the board with no cell started (the spreadsheet's new row of
/// blank cells): writes the mark that makes it known, with `note` (e.g. where the
/// dataset comes from). False, writing nothing, when the board knows it already.
pub fn add_dataset(b: &mut dyn Backend, dataset: &str, note: &str, by: Option<Who>) -> Result<bool> {
    check_dataset(dataset)?;
    no_nul("note", note)?;
    let who = by.unwrap_or_else(Who::here);
    check_who(&who)?;
    let mut tx = b.begin(true)?;
    lock(tx.as_mut(), dataset)?;
    let n = tx.query("SELECT COUNT(*) FROM stage_log WHERE dataset = $1", &[Value::Text(dataset.to_string())], &[ColType::Int])?;
    if n.first().and_then(|r| r[0].as_i64()).unwrap_or(0) > 0 {
        return Ok(false);
    }
    let now = tx.now_us()?;
    insert(tx.as_mut(), dataset, DATASET_KEY, ADDED, &who, now, note)?;
    tx.commit()?;
    Ok(true)
}

/// Every dataset the board knows, sorted by name (byte order).
pub fn datasets(b: &mut dyn Backend) -> Result<Vec<String>> {
    let mut tx = b.begin(false)?;
    let mut v: Vec<String> = tx.query("SELECT DISTINCT dataset FROM stage_log", &[], &[ColType::Text])?.into_iter().filter_map(|r| r[0].as_str().map(str::to_string)).collect();
    v.sort();
    Ok(v)
}

/// The board in `layout`: every known dataset (sorted by name), each with one cell
/// per column.
pub fn board(b: &mut dyn Backend, layout: &Layout) -> Result<Vec<Row>> {
    let mut tx = b.begin(false)?;
    let all = latest(tx.as_mut(), None)?;
    Ok(all
        .into_iter()
        .map(|(dataset, cur)| Row { held: holds_in(&cur).into_iter().next(), cells: layout.columns.iter().map(|c| cell_of(c, &cur)).collect(), dataset })
        .collect())
}

/// The board with its layout: the JSON form ([`BoardView`]).
pub fn view(b: &mut dyn Backend, layout: &Layout) -> Result<BoardView> {
    Ok(BoardView { format: FORMAT, layout: layout.clone(), rows: board(b, layout)? })
}

/// A number that grows whenever the board changes (the id of the log's latest
/// entry; 0 for an empty board): the web pages poll it to redraw within a second,
/// whichever `serve` process on the database the change came through.
pub fn version(b: &mut dyn Backend) -> Result<i64> {
    let mut tx = b.begin(false)?;
    let r = tx.query("SELECT COALESCE(MAX(id), 0) FROM stage_log", &[], &[ColType::Int])?;
    Ok(r.first().and_then(|r| r[0].as_i64()).unwrap_or(0))
}

/// One dataset's row in `layout` (`None` when the board does not know it).
pub fn row(b: &mut dyn Backend, layout: &Layout, dataset: &str) -> Result<Option<Row>> {
    let mut tx = b.begin(false)?;
    let mut all = latest(tx.as_mut(), Some(dataset))?;
    Ok(all.remove(dataset).map(|cur| Row { dataset: dataset.to_string(), held: holds_in(&cur).into_iter().next(), cells: layout.columns.iter().map(|c| cell_of(c, &cur)).collect() }))
}

/// Whether a dataset is held, on any cell (a stage's or a hand-set column's, in any
/// layout): its oldest hold, with who, when and the note. `None` for a dataset that
/// is not held (or not known). `run`, the stages and `upload` refuse a held dataset.
pub fn held(b: &mut dyn Backend, dataset: &str) -> Result<Option<Hold>> {
    Ok(holds(b, dataset)?.into_iter().next())
}

/// For `run`, the stages and `upload`: refuses ([`BoardError::DatasetHeld`], the
/// command line's exit 2) when the dataset is held, naming who held it, when and why.
pub fn ensure_not_held(b: &mut dyn Backend, dataset: &str) -> Result<()> {
    match held(b, dataset)? {
        Some(h) => Err(BoardError::DatasetHeld(h)),
        None => Ok(()),
    }
}

/// Every hold of a dataset, oldest first.
pub fn holds(b: &mut dyn Backend, dataset: &str) -> Result<Vec<Hold>> {
    let mut tx = b.begin(false)?;
    let all = latest(tx.as_mut(), Some(dataset))?;
    Ok(all.get(dataset).map(holds_in).unwrap_or_default())
}

/// Every entry of a cell, oldest first (for a column of several stages, all its
/// stages' entries, interleaved in the order they were written). Refuses a dataset
/// the board does not know.
pub fn history(b: &mut dyn Backend, layout: &Layout, dataset: &str, column: &Target) -> Result<Vec<Entry>> {
    let (keys, _) = layout.keys_of(column)?;
    let mut tx = b.begin(false)?;
    let n = tx.query("SELECT COUNT(*) FROM stage_log WHERE dataset = $1", &[Value::Text(dataset.to_string())], &[ColType::Int])?;
    if n.first().and_then(|r| r[0].as_i64()).unwrap_or(0) == 0 {
        return Err(BoardError::UnknownDataset { dataset: dataset.to_string(), similar: similar(tx.as_mut(), dataset)? });
    }
    // One placeholder per key: the keys are bound values like everything else.
    let marks: Vec<String> = (0..keys.len()).map(|i| format!("${}", i + 2)).collect();
    let mut params = vec![Value::Text(dataset.to_string())];
    params.extend(keys.iter().map(|k| Value::Text(k.clone())));
    let rows = tx.query(&format!("{SELECT} WHERE l.dataset = $1 AND l.stage IN ({}) ORDER BY l.id", marks.join(", ")), &params, &TYPES)?;
    let mut out = Vec::new();
    for r in rows {
        if let Some(e) = entry_of(&r)? {
            out.push(e);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_parse_case_insensitively() {
        for (s, want) in [
            ("held", State::Held),
            ("HELD", State::Held),
            (" Held ", State::Held),
            ("In progress", State::InProgress),
            ("in_progress", State::InProgress),
            ("IN-PROGRESS", State::InProgress),
            ("inprogress", State::InProgress),
            ("TODO", State::Todo),
            ("to do", State::Todo),
            ("done", State::Done),
            ("Skipped", State::Skipped),
            ("-", State::NotStarted),
            ("not started", State::NotStarted),
        ] {
            assert_eq!(State::parse(s), Ok(want), "{s}");
        }
        for st in State::SETTABLE.into_iter().chain([State::NotStarted]) {
            assert_eq!(State::parse(st.as_str()), Ok(st));
            assert_eq!(State::parse(st.key()), Ok(st));
            assert_eq!(serde_json::to_value(st).unwrap(), serde_json::Value::String(st.key().into()));
        }
        let e = State::parse("finished").unwrap_err().to_string();
        assert!(e.contains("unknown state `finished`") && e.contains("todo, in progress (in_progress), done, held, skipped"), "{e}");
        for bad in ["", "hel d", "in", "progress", "don e"] {
            assert_eq!(State::parse(bad), Err(UnknownState(bad.to_string())), "{bad:?}");
        }
    }

    #[test]
    fn the_combination_rule() {
        use State::*;
        assert_eq!(combine(&[Done]), Done);
        assert_eq!(combine(&[NotStarted, NotStarted]), NotStarted);
        assert_eq!(combine(&[Done, NotStarted]), Todo);
        assert_eq!(combine(&[Done, Skipped]), Done);
        assert_eq!(combine(&[Skipped, Skipped]), Skipped);
        assert_eq!(combine(&[Done, InProgress]), InProgress);
        assert_eq!(combine(&[InProgress, Held]), Held);
        assert_eq!(combine(&[Todo, Done]), Todo);
    }

    #[test]
    fn stage_names_are_the_stages() {
        assert_eq!(stage_names().to_vec(), Stage::ALL.iter().map(|s| s.as_str()).collect::<Vec<_>>());
    }
}
