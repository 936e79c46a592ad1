//! The analyses: pure functions from histograms to metrics, status and constants.
//! No file discovery, no output: the pipeline stages call these.
//!
//! - [`metrics`]: per-subrun metrics of spec section 3 (the map stage).
//! - [`channels`]: dead, hot and noisy crystals and straws.
//! - [`merge`]: the interval sums (the hadd stage), streamed file by file.
//! - [`fit`]: the in-fill gain fit of one crystal.
//! - [`interval`]: gain constants and channel status of one interval (the reduce side).

pub mod channels;
pub mod fit;
pub mod interval;
pub mod merge;
pub mod metrics;
pub(crate) mod read;
