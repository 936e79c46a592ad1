//! The ROOT file layer: bytes in, plain data out (and back).
//!
//! This module knows ROOT's on-disk format and nothing of g-2: the file header, keys,
//! directories, compression blocks, and the versioned streamers of the histogram
//! classes. Decoders return [`model::RawHist`] (plain data); behaviour lives in
//! [`crate::hist`]. The writer produces files that ROOT and uproot read.
//!
//! - [`bytes`]: big-endian cursors.
//! - [`compression`]: ROOT's block framing for zlib, LZMA, LZ4 and ZSTD.
//! - [`file`]: [`RootFile`], keys, directories, cycles, object payloads.
//! - [`objects`]: TH1/TH2/TProfile/TProfile2D decoders and encoders.
//! - [`streamers`]: the streamer-info records the writer stores.
//! - [`write`]: [`RootWriter`], nested directories, any compression.

pub mod bytes;
pub mod compression;
pub mod error;
pub mod file;
pub mod model;
pub mod objects;
pub mod streamers;
pub mod tree;
pub mod write;

pub use compression::{Algorithm, Compression};
pub use error::{ErrorKind, RootError};
pub use file::{Directory, Entry, FileHeader, Key, ReadOptions, RootFile};
pub use model::{HistKind, RawAxis, RawHist, RawProfile};
pub use write::{RootWriter, WriteOptions};
