//! How a job ends, and the one mapping from an outcome to an exit code.
//!
//! 0: all good. 1: some input (a file, an object, a fit) failed and everything else
//! was processed and written. 2: a usage or configuration problem, found before any
//! data was read or anything was written. 3: an output could not be written (disk
//! full, permissions); nothing that depends on it was marked done, and the next run
//! redoes it.

use std::path::{Path, PathBuf};

/// The four ways a command ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Ok,
    InputFailed,
    Usage,
    OutputFailed,
}

impl Status {
    /// The process exit code.
    pub fn code(self) -> u8 {
        match self {
            Status::Ok => 0,
            Status::InputFailed => 1,
            Status::Usage => 2,
            Status::OutputFailed => 3,
        }
    }

    /// `InputFailed` when `failed`, else `Ok`.
    pub fn from_failed(failed: bool) -> Status {
        if failed {
            Status::InputFailed
        } else {
            Status::Ok
        }
    }

    /// The worse of two outcomes (an output failure outranks an input failure).
    pub fn worst(self, other: Status) -> Status {
        self.max(other)
    }
}

/// Why a job stopped. The variants that wrap another error are `transparent`: the
/// message is the wrapped error's, said once (`{:#}` prints a chain, and a wrapper
/// whose text repeats its source printed every message twice).
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    /// A usage or configuration problem, found before anything was read or written.
    #[error("{0}")]
    Usage(String),
    /// A cut file that cannot be used: every problem, located.
    #[error(transparent)]
    Cuts(#[from] crate::cuts::CutFileError),
    /// The dataset cannot be scanned.
    #[error(transparent)]
    Scan(#[from] crate::dataset::ScanError),
    /// The configuration does not fit the dataset.
    #[error(transparent)]
    Config(#[from] crate::pipeline::ConfigError),
    /// A file gm2dqc wrote earlier and reads back (manifest.json, summary.json,
    /// inputs.json, a table) is not what it should be.
    #[error("{path}: {what}", path = path.display())]
    Damaged { path: PathBuf, what: String },
    /// The dataset is held on the board.
    #[error(
        "dataset {dataset} is held on the board ({column}, by {user}@{host} at {at}: {note}); \
         nothing was done. Release it with `gm2dqc status set {dataset} {column} todo --note \"...\"` once the reason is resolved"
    )]
    Held { dataset: String, column: String, user: String, host: String, at: String, note: String },
    /// Another job holds the output directory.
    #[error("{out} is in use by another gm2dqc job ({holder}); wait for it to finish, or use another --out", out = out.display())]
    Busy { out: PathBuf, holder: String },
    /// An output could not be written.
    #[error(
        "could not write {path}: {message}. Nothing that depends on it was marked done; \
         free space (or fix the permissions) and run the same command again: it redoes what is missing",
        path = path.display()
    )]
    Output { path: PathBuf, message: String },
    /// The conditions database refused or failed.
    #[error(transparent)]
    Db(#[from] crate::db::DbError),
    /// The board refused (an unknown dataset or column, a hold, a note missing).
    #[error(transparent)]
    Board(#[from] crate::db::board::BoardError),
}

impl JobError {
    /// The outcome this error stands for.
    pub fn status(&self) -> Status {
        match self {
            JobError::Usage(_) | JobError::Cuts(_) | JobError::Scan(_) | JobError::Config(_) | JobError::Damaged { .. } | JobError::Held { .. } | JobError::Busy { .. } => {
                Status::Usage
            }
            JobError::Output { .. } => Status::OutputFailed,
            JobError::Db(e) => db_status(e),
            JobError::Board(e) => board_status(e),
        }
    }

    /// An output error for `path`.
    pub fn output(path: &Path, e: impl std::fmt::Display) -> JobError {
        JobError::Output { path: path.to_path_buf(), message: e.to_string() }
    }

    /// A damaged-file error for `path`.
    pub fn damaged(path: &Path, what: impl Into<String>) -> JobError {
        JobError::Damaged { path: path.to_path_buf(), what: what.into() }
    }
}

/// Database errors that are the caller's to fix (a name, a URL, a missing database)
/// are usage errors; the rest are failures of the command.
fn db_status(e: &crate::db::DbError) -> Status {
    use crate::db::DbError;
    match e {
        DbError::NoTag { .. } | DbError::NoFolder { .. } | DbError::NoDatabase(_) | DbError::NoSchema(_) | DbError::Url(_) | DbError::TagLocked(_) | DbError::Schema { .. } | DbError::Migration { .. } | DbError::Query(_) => Status::Usage,
        _ => Status::InputFailed,
    }
}

/// The board's refusals are the caller's to fix; a failing database is not.
fn board_status(e: &crate::db::board::BoardError) -> Status {
    match e {
        crate::db::board::BoardError::Db(d) => db_status(d),
        _ => Status::Usage,
    }
}

/// The outcome of an error that reached the command line: the first [`JobError`] or
/// database error in its chain decides; anything else is a failure (1).
pub fn status_of(e: &anyhow::Error) -> Status {
    for cause in e.chain() {
        if let Some(j) = cause.downcast_ref::<JobError>() {
            return j.status();
        }
        if let Some(d) = cause.downcast_ref::<crate::db::DbError>() {
            return db_status(d);
        }
        if let Some(b) = cause.downcast_ref::<crate::db::board::BoardError>() {
            return board_status(b);
        }
    }
    Status::InputFailed
}

pub type Result<T> = std::result::Result<T, JobError>;
