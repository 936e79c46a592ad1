//! The bookkeeping board: for every dataset, the state of each DQC stage, who set it
//! and when (the shared spreadsheet of the g-2 offline shifts, in the database so
//! every shifter sees the same board). An append-only log; the board is the latest
//! entry per (dataset, stage).

use super::payload::Value;
use super::schema::ColType;
use super::{Backend, DbError, Result};

/// The stages of the checklist, in order.
pub const STAGES: [&str; 7] = ["scan", "metrics", "merge", "gain", "dqc", "plots", "upload"];

/// The states a stage can be in (the spreadsheet's cells).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
#[value(rename_all = "snake_case")]
pub enum State {
    Todo,
    InProgress,
    Done,
    Held,
    Skipped,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            State::Todo => "TODO",
            State::InProgress => "In progress",
            State::Done => "Done",
            State::Held => "Held",
            State::Skipped => "Skipped",
        }
    }

    fn parse(s: &str) -> State {
        match s {
            "In progress" => State::InProgress,
            "Done" => State::Done,
            "Held" => State::Held,
            "Skipped" => State::Skipped,
            _ => State::Todo,
        }
    }
}

/// One cell of the board.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Cell {
    pub stage: String,
    pub state: State,
    pub user: String,
    pub host: String,
    pub at_us: i64,
    pub note: String,
}

/// Sets the state of a stage of a dataset (one entry of the log).
pub fn set(b: &mut dyn Backend, dataset: &str, stage: &str, state: State, note: &str) -> Result<()> {
    if !STAGES.contains(&stage) {
        return Err(DbError::Payload(format!("unknown stage `{stage}`; stages: {}", STAGES.join(", "))));
    }
    let here = super::Provenance::here(dataset, None, Vec::new());
    let mut tx = b.begin(true)?;
    let now = tx.now_us()?;
    let t = |s: &str| Value::Text(s.to_string());
    tx.exec(
        "INSERT INTO stage_log (dataset, stage, state, user_name, host, at_us, note) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        &[t(dataset), t(stage), t(state.as_str()), t(&here.user), t(&here.host), Value::Int(now), t(note)],
    )?;
    tx.commit()
}

/// The board: every dataset the log knows, each with one cell per stage (TODO where
/// nothing was recorded), datasets sorted by name.
pub fn board(b: &mut dyn Backend) -> Result<Vec<(String, Vec<Cell>)>> {
    let mut tx = b.begin(false)?;
    let rows = tx.query(
        "SELECT l.dataset, l.stage, l.state, l.user_name, l.host, l.at_us, l.note FROM stage_log l \
         WHERE l.id = (SELECT MAX(m.id) FROM stage_log m WHERE m.dataset = l.dataset AND m.stage = l.stage) ORDER BY l.dataset",
        &[],
        &[ColType::Text, ColType::Text, ColType::Text, ColType::Text, ColType::Text, ColType::Int, ColType::Text],
    )?;
    let s = |v: &Value| v.as_str().unwrap_or_default().to_string();
    let mut out: Vec<(String, Vec<Cell>)> = Vec::new();
    for r in rows {
        let ds = s(&r[0]);
        if out.last().is_none_or(|(d, _)| *d != ds) {
            let empty = STAGES.iter().map(|st| Cell { stage: st.to_string(), state: State::Todo, user: String::new(), host: String::new(), at_us: 0, note: String::new() }).collect();
            out.push((ds.clone(), empty));
        }
        let cells = &mut out.last_mut().expect("pushed").1;
        if let Some(c) = cells.iter_mut().find(|c| c.stage == s(&r[1])) {
            *c = Cell { stage: s(&r[1]), state: State::parse(&s(&r[2])), user: s(&r[3]), host: s(&r[4]), at_us: r[5].as_i64().unwrap_or(0), note: s(&r[6]) };
        }
    }
    Ok(out)
}
