//! gm2dqc: data-quality control and gain calibration for a storage-ring muon
//! experiment, reading the per-subrun ROOT histogram files of production.
//!
//! Map of the crate:
//! - [`root`]: ROOT's file format, bytes only: read and write histogram files.
//! - [`hist`]: histograms with behaviour (values, variances, integral, mean, add).
//! - [`job`]: every rule of a DQC job on an output directory (stages, manifest,
//!   outcomes and exit codes, locking, the board, uploads): the core every face uses.
//! - [`cli`]: the command line, one thin face of [`job`].
//! - [`server`]: `gm2dqc serve`, the web application and JSON API, the other face
//!   of [`job`] and [`db`].
//! - [`inspect`]: the `gm2dqc inspect` listing and its stable JSON form.
//! - [`results`]: the read model of an output directory and the cut-tuning engine,
//!   for the faces that show results (the web application).
//!
//! See ARCHITECTURE.md for the invariants between modules.

pub mod analysis;
pub mod atomic;
pub mod calendar;
pub mod campaign;
pub mod checksum;
pub mod cli;
pub mod cuts;
pub mod dataset;
pub mod db;
pub mod hist;
pub mod inspect;
pub mod job;
pub mod layout;
pub mod merged;
pub mod pipeline;
pub mod plots;
pub mod results;
pub mod root;
pub mod server;
pub mod simulate;
pub mod tables;

/// This build, as records and reports name it: `gm2dqc VERSION (git COMMIT)`.
pub fn software() -> String {
    format!("gm2dqc {} (git {})", env!("CARGO_PKG_VERSION"), env!("GM2DQC_GIT_COMMIT"))
}
