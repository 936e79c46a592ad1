//! Reading ROOT files: header, keys, directories, object payloads.
//!
//! [`RootFile`] is `Send + Sync`: many threads may read objects of one file at once
//! (positioned reads, no shared cursor). Opening a file parses the header and the
//! top-level key list only; a subdirectory's key list is read the first time a path
//! goes through it and cached; an object's payload is read and decompressed only when
//! asked for, so opening one object by path decodes nothing else.

use std::borrow::Cow;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use super::bytes::{DecodeError, Reader};
use super::compression::{self, DecompressError};
use super::error::{ErrorKind, Result, RootError};
use super::model::RawHist;
use super::objects::decode_hist;

/// Limits that protect against corrupt or hostile files.
#[derive(Debug, Clone, Copy)]
pub struct ReadOptions {
    /// Largest uncompressed object accepted (a corrupt key could claim gigabytes).
    pub max_object_bytes: u64,
}

impl Default for ReadOptions {
    fn default() -> Self {
        ReadOptions { max_object_bytes: 1 << 30 }
    }
}

/// The fixed part of a ROOT file: where things are.
#[derive(Debug, Clone, PartialEq)]
pub struct FileHeader {
    /// fVersion without the large-file flag (e.g. 62810 for 6.28/10).
    pub version: i32,
    /// True when the header uses 64-bit seeks (fVersion >= 1000000).
    pub large: bool,
    pub begin: u64,
    pub end: u64,
    pub seek_free: u64,
    pub nbytes_free: i32,
    pub nbytes_name: i32,
    pub compress: i32,
    pub seek_info: u64,
    pub nbytes_info: i32,
}

/// A TKey header: what an object is and where its bytes are.
#[derive(Debug, Clone, PartialEq)]
pub struct Key {
    /// Bytes on disk, key header included.
    pub nbytes: u32,
    pub version: i16,
    /// Uncompressed size of the object (without the key header).
    pub objlen: u32,
    pub datime: u32,
    pub keylen: u16,
    pub cycle: i16,
    pub seek_key: u64,
    pub seek_pdir: u64,
    pub class_name: String,
    pub name: String,
    pub title: String,
}

impl Key {
    pub fn is_directory(&self) -> bool {
        matches!(self.class_name.as_str(), "TDirectory" | "TDirectoryFile")
    }

    /// ROOT stores an object compressed exactly when it is shorter on disk than in memory.
    pub fn is_compressed(&self) -> bool {
        u64::from(self.objlen) > u64::from(self.nbytes).saturating_sub(u64::from(self.keylen))
    }

    fn parse(r: &mut Reader) -> std::result::Result<Key, DecodeError> {
        let nbytes_raw = r.i32()?;
        let version = r.i16()?;
        let objlen_raw = r.i32()?;
        let datime = r.u32()?;
        let keylen_raw = r.i16()?;
        let cycle = r.i16()?;
        let large = version > 1000;
        let seek_key = r.seek_ptr(large)?;
        let seek_pdir = r.seek_ptr(large)?;
        let class_name = r.tstring()?;
        let name = r.tstring()?;
        let title = r.tstring()?;
        let nbytes = u32::try_from(nbytes_raw)
            .map_err(|_| DecodeError::new(0, format!("key {name:?} has a negative size {nbytes_raw}")))?;
        let objlen = u32::try_from(objlen_raw)
            .map_err(|_| DecodeError::new(0, format!("key {name:?} has a negative object length {objlen_raw}")))?;
        let keylen = u16::try_from(keylen_raw)
            .map_err(|_| DecodeError::new(0, format!("key {name:?} has a negative key length {keylen_raw}")))?;
        Ok(Key { nbytes, version, objlen, datime, keylen, cycle, seek_key, seek_pdir, class_name, name, title })
    }
}

/// One directory's key list.
#[derive(Debug, Clone)]
pub struct Directory {
    /// Path from the top ("" for the file itself, else "a/b").
    pub path: String,
    pub seek_dir: u64,
    pub keys: Vec<Key>,
}

impl Directory {
    /// The key with this name: the given cycle, or the highest one.
    pub fn key(&self, name: &str, cycle: Option<i16>) -> Option<&Key> {
        self.keys
            .iter()
            .filter(|k| k.name == name && cycle.is_none_or(|c| k.cycle == c))
            .max_by_key(|k| k.cycle)
    }

    fn names(&self) -> Vec<String> {
        let mut v: Vec<String> = self.keys.iter().map(|k| k.name.clone()).collect();
        v.sort();
        v.dedup();
        v
    }
}

/// One object found by [`RootFile::walk`].
#[derive(Debug, Clone)]
pub struct Entry {
    /// Directories joined by '/', no cycle.
    pub path: String,
    pub key: Key,
}

enum Source {
    Memory(Arc<Vec<u8>>),
    File(std::fs::File),
}

/// An open ROOT file.
pub struct RootFile {
    path: PathBuf,
    source: Source,
    len: u64,
    header: FileHeader,
    top: Arc<Directory>,
    dirs: RwLock<HashMap<u64, Arc<Directory>>>,
    opts: ReadOptions,
}

/// A path component: a name and an optional cycle.
type Part<'a> = (&'a str, Option<i16>);

/// Splits `a/b/name;3` into directory parts, the name and the cycle.
fn split_path(path: &str) -> (Vec<Part<'_>>, &str, Option<i16>) {
    let mut parts: Vec<Part<'_>> = path
        .split('/')
        .filter(|p| !p.is_empty())
        .map(|p| match p.rsplit_once(';') {
            Some((n, c)) => match c.parse::<i16>() {
                Ok(c) => (n, Some(c)),
                Err(_) => (p, None),
            },
            None => (p, None),
        })
        .collect();
    let (name, cycle) = parts.pop().unwrap_or(("", None));
    (parts, name, cycle)
}

/// Only regular files are read (after following links): a FIFO blocks, a device such
/// as `/dev/zero` never ends.
/// What kind of file system object this is, in words ("FIFO (named pipe)").
pub fn file_kind(t: std::fs::FileType) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    if t.is_file() {
        "regular file"
    } else if t.is_dir() {
        "directory"
    } else if t.is_fifo() {
        "FIFO (named pipe)"
    } else if t.is_char_device() {
        "character device"
    } else if t.is_block_device() {
        "block device"
    } else if t.is_socket() {
        "socket"
    } else if t.is_symlink() {
        "symbolic link"
    } else {
        "special file"
    }
}

fn check_regular(path: &Path, meta: std::fs::Metadata) -> Result<()> {
    let t = meta.file_type();
    if t.is_file() {
        return Ok(());
    }
    let kind = format!("a {}", file_kind(t));
    let msg = format!("it is {kind}, not a regular file; only regular files are read: replace it with the ROOT file");
    Err(RootError::new(path, ErrorKind::Io(std::io::Error::new(std::io::ErrorKind::InvalidInput, msg))))
}

impl RootFile {
    /// Opens a file for positioned reads (nothing but the header and top key list is read).
    pub fn open(path: impl AsRef<Path>) -> Result<RootFile> {
        Self::open_with(path, ReadOptions::default())
    }

    pub fn open_with(path: impl AsRef<Path>, opts: ReadOptions) -> Result<RootFile> {
        let path = path.as_ref().to_path_buf();
        let io = |e| RootError::new(&path, ErrorKind::Io(e));
        // Metadata first: opening a FIFO would block until a writer comes.
        check_regular(&path, std::fs::metadata(&path).map_err(io)?)?;
        let file = std::fs::File::open(&path).map_err(io)?;
        let meta = file.metadata().map_err(io)?;
        check_regular(&path, meta.clone())?;
        Self::init(path, Source::File(file), meta.len(), opts)
    }

    /// Reads the whole file into memory first: fastest when most objects will be read.
    pub fn open_in_memory(path: impl AsRef<Path>) -> Result<RootFile> {
        let path = path.as_ref().to_path_buf();
        check_regular(&path, std::fs::metadata(&path).map_err(|e| RootError::new(&path, ErrorKind::Io(e)))?)?;
        let bytes = std::fs::read(&path).map_err(|e| RootError::new(&path, ErrorKind::Io(e)))?;
        Self::from_bytes(path, bytes)
    }

    /// A file already in memory; `path` names it in errors.
    pub fn from_bytes(path: impl Into<PathBuf>, bytes: Vec<u8>) -> Result<RootFile> {
        Self::from_shared(path, Arc::new(bytes))
    }

    /// A file in memory shared with the caller (no copy).
    pub fn from_shared(path: impl Into<PathBuf>, bytes: Arc<Vec<u8>>) -> Result<RootFile> {
        let len = bytes.len() as u64;
        Self::init(path.into(), Source::Memory(bytes), len, ReadOptions::default())
    }

    fn init(path: PathBuf, source: Source, len: u64, opts: ReadOptions) -> Result<RootFile> {
        let mut f = RootFile {
            path,
            source,
            len,
            header: FileHeader {
                version: 0,
                large: false,
                begin: 0,
                end: 0,
                seek_free: 0,
                nbytes_free: 0,
                nbytes_name: 0,
                compress: 0,
                seek_info: 0,
                nbytes_info: 0,
            },
            top: Arc::new(Directory { path: String::new(), seek_dir: 0, keys: Vec::new() }),
            dirs: RwLock::new(HashMap::new()),
            opts,
        };
        f.header = f.read_header()?;
        let begin = f.header.begin;
        // The TFile key at fBEGIN is read only to check it is there and sound; the
        // directory record follows its name and title.
        f.read_key_at(begin, "the top directory")?;
        let record = begin + u64::try_from(f.header.nbytes_name).unwrap_or(0);
        f.top = Arc::new(f.read_directory(record, String::new())?);
        Ok(f)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn header(&self) -> &FileHeader {
        &self.header
    }

    pub fn len(&self) -> u64 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    fn err(&self, kind: ErrorKind) -> RootError {
        RootError::new(&self.path, kind)
    }

    fn corrupt(&self, what: impl Into<String>, e: DecodeError, base: u64) -> RootError {
        self.err(ErrorKind::Corrupt { what: what.into(), detail: e.what }).at(base + e.offset as u64)
    }

    /// Reads `n` bytes at `offset`, checking the file is long enough.
    fn read_at(&self, offset: u64, n: u64, what: &str) -> Result<Cow<'_, [u8]>> {
        let end = offset.saturating_add(n);
        if end > self.len {
            return Err(self
                .err(ErrorKind::Truncated { what: what.to_string(), start: offset, end, file_len: self.len })
                .at(offset));
        }
        match &self.source {
            Source::Memory(b) => Ok(Cow::Borrowed(&b[offset as usize..end as usize])),
            Source::File(file) => {
                use std::os::unix::fs::FileExt;
                let mut buf = vec![0u8; n as usize];
                file.read_exact_at(&mut buf, offset).map_err(|e| self.err(ErrorKind::Io(e)).at(offset))?;
                Ok(Cow::Owned(buf))
            }
        }
    }

    fn read_header(&self) -> Result<FileHeader> {
        let n = self.len.min(128);
        let b = self.read_at(0, n, "the file header")?;
        if b.len() < 4 || &b[..4] != b"root" {
            return Err(self.err(ErrorKind::NotRoot { found: b[..b.len().min(4)].to_vec() }).at(0));
        }
        let mut r = Reader::new(&b);
        let parse = |r: &mut Reader| -> std::result::Result<FileHeader, DecodeError> {
            r.skip(4)?;
            let raw_version = r.i32()?;
            let large = raw_version >= 1_000_000;
            let begin = r.i32()?;
            let end = r.seek_ptr(large)?;
            let seek_free = r.seek_ptr(large)?;
            let nbytes_free = r.i32()?;
            let _nfree = r.i32()?;
            let nbytes_name = r.i32()?;
            let _units = r.u8()?;
            let compress = r.i32()?;
            let seek_info = r.seek_ptr(large)?;
            let nbytes_info = r.i32()?;
            if begin < 0 || nbytes_name < 0 {
                return Err(DecodeError::new(8, format!("negative fBEGIN {begin} or fNbytesName {nbytes_name}")));
            }
            Ok(FileHeader {
                version: raw_version % 1_000_000,
                large,
                begin: begin as u64,
                end,
                seek_free,
                nbytes_free,
                nbytes_name,
                compress,
                seek_info,
                nbytes_info,
            })
        };
        let h = parse(&mut r).map_err(|e| {
            if (b.len() as u64) < n || self.len < 128 {
                // The header itself is cut short.
                self.err(ErrorKind::Truncated { what: "the file header".into(), start: 0, end: 100, file_len: self.len })
                    .at(self.len)
            } else {
                self.corrupt("file header", e, 0)
            }
        })?;
        if h.end > self.len {
            return Err(self
                .err(ErrorKind::Truncated { what: "the file (fEND)".into(), start: 0, end: h.end, file_len: self.len })
                .at(self.len));
        }
        Ok(h)
    }

    /// Reads the key header at `offset`.
    pub fn read_key_at(&self, offset: u64, what: &str) -> Result<Key> {
        // The fixed part is at most 34 bytes; the three strings follow. Read generously,
        // clipped to the file, then parse.
        let n = (self.len.saturating_sub(offset)).min(34 + 3 * 260);
        let b = self.read_at(offset, n, what)?;
        let mut r = Reader::new(&b);
        let key = Key::parse(&mut r).map_err(|e| self.corrupt(format!("key of {what}"), e, offset))?;
        if u64::from(key.nbytes) < u64::from(key.keylen) || offset + u64::from(key.nbytes) > self.len {
            return Err(self
                .err(ErrorKind::Truncated {
                    what: format!("key {:?} ({} bytes)", key.name, key.nbytes),
                    start: offset,
                    end: offset + u64::from(key.nbytes),
                    file_len: self.len,
                })
                .object(key.name.clone())
                .at(offset));
        }
        Ok(key)
    }

    /// Parses a TDirectory record at `offset` and its key list.
    fn read_directory(&self, offset: u64, path: String) -> Result<Directory> {
        let what = if path.is_empty() { "the top directory".to_string() } else { format!("directory '{path}'") };
        let b = self.read_at(offset, (self.len - offset.min(self.len)).min(64), &what)?;
        let mut r = Reader::new(&b);
        let rec = (|| -> std::result::Result<(u64, u64, i32), DecodeError> {
            let version = r.i16()?;
            r.skip(8)?; // fDatimeC, fDatimeM
            let nbytes_keys = r.i32()?;
            let _nbytes_name = r.i32()?;
            let large = version > 1000;
            let seek_dir = r.seek_ptr(large)?;
            let _seek_parent = r.seek_ptr(large)?;
            let seek_keys = r.seek_ptr(large)?;
            Ok((seek_dir, seek_keys, nbytes_keys))
        })()
        .map_err(|e| self.corrupt(format!("record of {what}"), e, offset).object(path.clone()))?;
        let (seek_dir, seek_keys, nbytes_keys) = rec;
        let mut keys = Vec::new();
        if seek_keys != 0 {
            let header = self.read_key_at(seek_keys, &format!("the key list of {what}"))?;
            let n = u64::try_from(nbytes_keys).unwrap_or(0).max(u64::from(header.nbytes));
            let b = self.read_at(seek_keys, n, &format!("the key list of {what}"))?;
            let mut r = Reader::new(&b);
            let parsed = (|| -> std::result::Result<Vec<Key>, DecodeError> {
                r.seek(usize::from(header.keylen))?;
                let nkeys = r.i32()?;
                if nkeys < 0 || nkeys as usize > r.remaining() / 26 + 1 {
                    return Err(DecodeError::new(r.pos() - 4, format!("implausible key count {nkeys}")));
                }
                let mut keys = Vec::with_capacity(nkeys as usize);
                for _ in 0..nkeys {
                    keys.push(Key::parse(&mut r)?);
                }
                Ok(keys)
            })();
            keys = parsed.map_err(|e| self.corrupt(format!("key list of {what}"), e, seek_keys).object(path.clone()))?;
            for k in &keys {
                if k.seek_key >= self.len || k.seek_key + u64::from(k.nbytes) > self.len {
                    let obj = if path.is_empty() { k.name.clone() } else { format!("{path}/{}", k.name) };
                    return Err(self
                        .err(ErrorKind::Truncated {
                            what: format!("key {:?} listed in {what}", k.name),
                            start: k.seek_key,
                            end: k.seek_key.saturating_add(u64::from(k.nbytes)),
                            file_len: self.len,
                        })
                        .object(obj)
                        .at(seek_keys));
                }
            }
        }
        Ok(Directory { path, seek_dir, keys })
    }

    /// The top directory.
    pub fn top(&self) -> &Directory {
        &self.top
    }

    /// The directory at `path` ("" or "/" for the top).
    pub fn directory(&self, path: &str) -> Result<Arc<Directory>> {
        let mut dir = self.top.clone();
        for part in path.split('/').filter(|p| !p.is_empty()) {
            let (name, cycle) = match part.rsplit_once(';') {
                Some((n, c)) if c.parse::<i16>().is_ok() => (n, c.parse().ok()),
                _ => (part, None),
            };
            let key = dir.key(name, cycle).cloned().ok_or_else(|| {
                self.err(ErrorKind::NotFound { name: name.into(), dir: dir.path.clone(), available: dir.names() })
                    .object(path.to_string())
            })?;
            dir = self.subdirectory(&dir, &key)?;
        }
        Ok(dir)
    }

    /// Opens the subdirectory that `key` (a key of `parent`) points to, with caching.
    pub fn subdirectory(&self, parent: &Directory, key: &Key) -> Result<Arc<Directory>> {
        let path = if parent.path.is_empty() { key.name.clone() } else { format!("{}/{}", parent.path, key.name) };
        if !key.is_directory() {
            return Err(self.err(ErrorKind::NotADirectory { path: path.clone(), class: key.class_name.clone() }).object(path));
        }
        if let Some(d) = self.dirs.read().expect("directory cache poisoned").get(&key.seek_key) {
            return Ok(d.clone());
        }
        let d = Arc::new(self.read_directory(key.seek_key + u64::from(key.keylen), path)?);
        self.dirs.write().expect("directory cache poisoned").insert(key.seek_key, d.clone());
        Ok(d)
    }

    /// Finds the key of `path` (`dir/sub/name`, optionally `;cycle`; highest cycle by default).
    pub fn key(&self, path: &str) -> Result<Key> {
        let (dirs, name, cycle) = split_path(path);
        let mut dir = self.top.clone();
        for (d, c) in dirs {
            let key = dir.key(d, c).cloned().ok_or_else(|| {
                self.err(ErrorKind::NotFound { name: d.into(), dir: dir.path.clone(), available: dir.names() })
                    .object(path.to_string())
            })?;
            dir = self.subdirectory(&dir, &key)?;
        }
        dir.key(name, cycle).cloned().ok_or_else(|| {
            self.err(ErrorKind::NotFound {
                name: match cycle {
                    Some(c) => format!("{name};{c}"),
                    None => name.into(),
                },
                dir: dir.path.clone(),
                available: dir.names(),
            })
            .object(path.to_string())
        })
    }

    /// The uncompressed payload of an object (the bytes after its key header).
    pub fn object_bytes(&self, key: &Key, path: &str) -> Result<Cow<'_, [u8]>> {
        let data_start = key.seek_key + u64::from(key.keylen);
        let stored = u64::from(key.nbytes).checked_sub(u64::from(key.keylen)).ok_or_else(|| {
            self.err(ErrorKind::Corrupt {
                what: format!("key of '{path}'"),
                detail: format!("its size {} is smaller than its header {}", key.nbytes, key.keylen),
            })
            .object(path.to_string())
            .at(key.seek_key)
        })?;
        let raw = self
            .read_at(data_start, stored, &format!("object '{path}'"))
            .map_err(|e| e.object(path.to_string()))?;
        if !key.is_compressed() {
            return Ok(raw);
        }
        let objlen = u64::from(key.objlen);
        if objlen > self.opts.max_object_bytes {
            return Err(self
                .err(ErrorKind::TooLarge { declared: objlen, limit: self.opts.max_object_bytes })
                .object(path.to_string())
                .at(key.seek_key));
        }
        let mut out = vec![0u8; objlen as usize];
        compression::decompress_into(&raw, &mut out).map_err(|e| {
            let (kind, at) = match e {
                DecompressError::Truncated { block, offset } => (
                    ErrorKind::Corrupt {
                        what: "compressed payload".into(),
                        detail: format!("block {block} header or data runs past the end of the key"),
                    },
                    offset,
                ),
                DecompressError::UnknownAlgorithm { tag, offset } => (ErrorKind::UnknownCompression { tag }, offset),
                DecompressError::Failed { algorithm, block, offset, detail } => (
                    ErrorKind::Decompress { algorithm: algorithm.into(), detail: format!("block {block}: {detail}") },
                    offset,
                ),
                DecompressError::SizeMismatch { expected, actual } => {
                    (ErrorKind::SizeMismatch { expected: expected as u64, actual: actual as u64 }, 0)
                }
            };
            self.err(kind).object(path.to_string()).at(data_start + at as u64)
        })?;
        Ok(Cow::Owned(out))
    }

    /// Reads and decodes a histogram or profile by path.
    pub fn hist(&self, path: &str) -> Result<RawHist> {
        let key = self.key(path)?;
        self.hist_from_key(&key, path)
    }

    /// Decodes the histogram a known key points to (`path` names it in errors).
    pub fn hist_from_key(&self, key: &Key, path: &str) -> Result<RawHist> {
        if super::model::hist_class(&key.class_name).is_none() {
            return Err(self
                .err(ErrorKind::UnsupportedClass { class: key.class_name.clone() })
                .object(path.to_string())
                .at(key.seek_key));
        }
        let bytes = self.object_bytes(key, path)?;
        match decode_hist(&key.class_name, &bytes) {
            Ok(Some(h)) => Ok(h),
            Ok(None) => unreachable!("class checked above"),
            Err(e) => {
                let base = key.seek_key + u64::from(key.keylen);
                let detail = if key.is_compressed() {
                    format!("{} (byte {} of the decompressed object)", e.what, e.offset)
                } else {
                    e.what.clone()
                };
                let at = if key.is_compressed() { key.seek_key } else { base + e.offset as u64 };
                Err(self
                    .err(ErrorKind::Decode { class: key.class_name.clone(), version: peek_version(&bytes), detail })
                    .object(path.to_string())
                    .at(at))
            }
        }
    }

    /// Every key below the top directory, depth first, directories included, all cycles.
    /// A subdirectory that cannot be read is reported in the second list, not fatal.
    pub fn walk(&self) -> (Vec<Entry>, Vec<RootError>) {
        let mut out = Vec::new();
        let mut errors = Vec::new();
        self.walk_dir(self.top.clone(), &mut out, &mut errors);
        (out, errors)
    }

    fn walk_dir(&self, dir: Arc<Directory>, out: &mut Vec<Entry>, errors: &mut Vec<RootError>) {
        for key in &dir.keys {
            let path = if dir.path.is_empty() { key.name.clone() } else { format!("{}/{}", dir.path, key.name) };
            out.push(Entry { path, key: key.clone() });
            if key.is_directory() {
                match self.subdirectory(&dir, key) {
                    Ok(sub) => self.walk_dir(sub, out, errors),
                    Err(e) => errors.push(e),
                }
            }
        }
    }
}

/// The outer class version: after the byte count when there is one (ROOT), else the
/// first two bytes (g4tools writes some sections without a byte count).
fn peek_version(bytes: &[u8]) -> i16 {
    match bytes {
        [b0, _, _, _, v0, v1, ..] if b0 & 0x40 != 0 => i16::from_be_bytes([*v0, *v1]),
        [v0, v1, ..] => i16::from_be_bytes([*v0, *v1]),
        _ => -1,
    }
}

#[cfg(test)]
mod tests {
    use super::{peek_version, split_path};

    #[test]
    fn version_is_read_with_or_without_a_byte_count() {
        assert_eq!(peek_version(&[0x40, 0, 0, 0x10, 0, 3]), 3); // ROOT: byte count, version
        assert_eq!(peek_version(&[0, 1, 0, 3, 0x40, 0]), 1); // g4tools TH1D: bare version
        assert_eq!(peek_version(&[0]), -1);
    }

    #[test]
    fn paths_split_into_dirs_name_and_cycle() {
        assert_eq!(split_path("a/b/h;2"), (vec![("a", None), ("b", None)], "h", Some(2)));
        assert_eq!(split_path("/h"), (vec![], "h", None));
        assert_eq!(split_path("h;x"), (vec![], "h;x", None));
    }
}
