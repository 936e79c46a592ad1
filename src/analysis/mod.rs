//! The analyses: pure functions from histograms to metrics, status and constants.
//! No file discovery, no output: the pipeline stages call these.
//!
//! - [`metrics`]: per-subrun metrics of spec section 3 (the map stage).
//! - [`channels`]: dead, hot and noisy crystals and straws.

pub mod channels;
pub mod metrics;
