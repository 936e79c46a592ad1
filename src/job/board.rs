//! A job's cells on the bookkeeping board: the one dataset it works on, in the
//! conditions database. The board's own rules (states, layouts, Held, "when done,
//! the next cell becomes TODO") are in [`crate::db::board`]; this is what a job
//! marks and when.

use std::path::{Path, PathBuf};

use super::outcome::{JobError, Result, Status};
use super::Stage;
use crate::db::board::{self, State};

/// The database a job uses: `--db`, else `$GM2DQC_DB`, else the embedded SQLite file
/// `embedded` (one rule for every command that touches the database).
pub fn resolve_url(explicit: Option<&str>, embedded: &Path) -> String {
    explicit.map(str::to_string).or_else(|| std::env::var("GM2DQC_DB").ok()).unwrap_or_else(|| embedded.display().to_string())
}

/// The file of a SQLite database URL (`sqlite:PATH` or a path); `None` for PostgreSQL.
pub fn sqlite_path(url: &str) -> Option<PathBuf> {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        return None;
    }
    Some(PathBuf::from(url.strip_prefix("sqlite:").unwrap_or(url)))
}

/// Opens a database that must exist already (the read-only commands: they never
/// create one, nor migrate it).
pub fn open_existing(url: &str) -> Result<Box<dyn crate::db::Backend>> {
    Ok(crate::db::open_existing(url)?)
}

/// Refuses when `dataset` is held on the board at `url`. Creates nothing: a SQLite
/// file that does not exist holds no board.
pub fn check_not_held(url: &str, dataset: &str) -> Result<()> {
    if sqlite_path(url).is_some_and(|p| !p.exists()) {
        return Ok(());
    }
    let mut b = crate::db::open(url)?;
    if let Some(h) = board::held(b.as_mut(), dataset)? {
        return Err(JobError::Held { dataset: dataset.to_string(), column: h.key, user: h.user, host: h.host, at: h.at, note: h.note });
    }
    Ok(())
}

/// The board, open for one dataset.
pub struct JobBoard {
    b: Box<dyn crate::db::Backend>,
    pub dataset: String,
    pub url: String,
}

impl JobBoard {
    /// Opens (and creates, for SQLite) the database at `url`.
    pub fn open(url: &str, dataset: &str) -> Result<JobBoard> {
        let b = crate::db::open(url)?;
        Ok(JobBoard { b, dataset: dataset.to_string(), url: url.to_string() })
    }

    /// Sets the cells of `stages`; a job on a dataset puts it on the board.
    pub fn set(&mut self, stages: &[Stage], state: State, note: &str) -> Result<()> {
        let layout = board::Layout::gm2dqc();
        for st in stages {
            board::set(self.b.as_mut(), &layout, &board::SetRequest::new(self.dataset.clone(), *st, state, note).new_dataset())?;
        }
        Ok(())
    }

    /// Marks `stages` by outcome: Done (with a note when some input failed), or back
    /// to TODO with the reason when the stages could not finish.
    pub fn finish(&mut self, stages: &[Stage], status: Status, out: &Path) -> Result<()> {
        match status {
            Status::Ok => self.set(stages, State::Done, ""),
            Status::InputFailed => self.set(stages, State::Done, &format!("some inputs or fits failed: {}", out.join("errors.txt").display())),
            Status::Usage | Status::OutputFailed => self.set(stages, State::Todo, "did not finish: see the command's output"),
        }
    }

    /// Marks `stages` TODO with the error that stopped them.
    pub fn failed(&mut self, stages: &[Stage], e: &JobError) -> Result<()> {
        self.set(stages, State::Todo, &format!("did not finish: {e}"))
    }

    pub fn backend(&mut self) -> &mut dyn crate::db::Backend {
        self.b.as_mut()
    }
}
