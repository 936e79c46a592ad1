//! Errors of the ROOT file layer.
//!
//! Every error names the file, the object path (when there is one) and the byte
//! offset, and says what to do. A bad file never panics and never affects another
//! file: callers collect these per file and carry on.

use std::fmt;
use std::path::PathBuf;

/// What went wrong, without the location (see [`RootError`]).
#[derive(Debug, thiserror::Error)]
pub enum ErrorKind {
    #[error("cannot read the file: {0}")]
    Io(#[from] std::io::Error),
    #[error("not a ROOT file: it starts with {found:?} instead of \"root\"")]
    NotRoot { found: Vec<u8> },
    #[error("the file is truncated: {what} needs bytes {start}..{end} but the file has {file_len} bytes")]
    Truncated { what: String, start: u64, end: u64, file_len: u64 },
    #[error("corrupt {what}: {detail}")]
    Corrupt { what: String, detail: String },
    #[error("{algorithm} decompression failed: {detail}")]
    Decompress { algorithm: String, detail: String },
    #[error("unsupported compression algorithm {tag:?} (ROOT's old \"CS\" algorithm and unknown tags are not supported)")]
    UnknownCompression { tag: String },
    #[error("decompressed size mismatch: the key says {expected} bytes, the compressed blocks give {actual}")]
    SizeMismatch { expected: u64, actual: u64 },
    #[error("object too large: it declares {declared} bytes uncompressed, over the limit of {limit} bytes")]
    TooLarge { declared: u64, limit: u64 },
    #[error("no object named {name:?} in directory {dir:?}{}", hint_list(available))]
    NotFound { name: String, dir: String, available: Vec<String> },
    #[error("{path:?} is a {class}, not a directory")]
    NotADirectory { path: String, class: String },
    #[error("class {class} is not supported here (supported: TH1C/S/I/L/F/D, TH2C/S/I/L/F/D, TProfile, TProfile2D, TDirectory)")]
    UnsupportedClass { class: String },
    #[error("{class} version {version} cannot be decoded: {detail}")]
    Decode { class: String, version: i16, detail: String },
    #[error("cannot write: {0}")]
    Write(String),
}

fn hint_list(available: &[String]) -> String {
    if available.is_empty() {
        return " (the directory is empty)".to_string();
    }
    let mut shown: Vec<&str> = available.iter().take(8).map(String::as_str).collect();
    if available.len() > 8 {
        shown.push("...");
    }
    format!("; it holds: {}", shown.join(", "))
}

/// A ROOT-layer error with its location.
#[derive(Debug)]
pub struct RootError {
    pub file: PathBuf,
    /// Object path inside the file (`dir/sub/name`), when the error concerns one object.
    pub object: Option<String>,
    /// Absolute byte offset in the file, when known.
    pub offset: Option<u64>,
    /// Boxed so that `Result<_, RootError>` stays small on the success path.
    pub kind: Box<ErrorKind>,
}

impl RootError {
    pub fn new(file: impl Into<PathBuf>, kind: ErrorKind) -> Self {
        RootError { file: file.into(), object: None, offset: None, kind: Box::new(kind) }
    }

    pub fn object(mut self, path: impl Into<String>) -> Self {
        self.object = Some(path.into());
        self
    }

    pub fn at(mut self, offset: u64) -> Self {
        self.offset = Some(offset);
        self
    }

    /// What the user should do about it, in one sentence.
    pub fn hint(&self) -> &'static str {
        match &*self.kind {
            ErrorKind::Io(_) => "check that the path exists and is readable",
            ErrorKind::NotRoot { .. } => "check that this is a ROOT file and not, e.g., a log or an HTML error page",
            ErrorKind::Truncated { .. } => {
                "the file was probably cut short by an interrupted copy or job: copy it again or rerun its production job"
            }
            ErrorKind::Corrupt { .. } | ErrorKind::Decompress { .. } | ErrorKind::SizeMismatch { .. } => {
                "the file is damaged: compare its checksum with the catalogue and copy it again or rerun its production job"
            }
            ErrorKind::UnknownCompression { .. } => "rewrite the file with zlib, LZ4, ZSTD or LZMA (e.g. hadd -f505)",
            ErrorKind::TooLarge { .. } => {
                "if the object is genuine, raise the limit (ReadOptions::max_object_bytes); otherwise the key is corrupt"
            }
            ErrorKind::NotFound { .. } => "check the object path with `gm2dqc inspect FILE`",
            ErrorKind::NotADirectory { .. } => "check the object path with `gm2dqc inspect FILE`",
            ErrorKind::UnsupportedClass { .. } => "only histograms and profiles are read; use `gm2dqc inspect FILE` to see what the file holds",
            ErrorKind::Decode { .. } => "the object does not match its class layout: the file is damaged or was written by an unsupported ROOT version",
            ErrorKind::Write(_) => "check the output directory exists, is writable and has free space",
        }
    }
}

impl fmt::Display for RootError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(o) = &self.object {
            write!(f, ": object '{o}'")?;
        }
        if let Some(off) = self.offset {
            write!(f, " at byte {off}")?;
        }
        write!(f, ": {}. Hint: {}", self.kind, self.hint())
    }
}

impl std::error::Error for RootError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &*self.kind {
            ErrorKind::Io(e) => Some(e),
            _ => None,
        }
    }
}

pub type Result<T> = std::result::Result<T, RootError>;
