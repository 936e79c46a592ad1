//! Datasets of subrun files: file naming (`<prefix>_<run>.<subrun>.root`).
//!
//! The run and subrun are the decimal numbers between the last `_` and `.root`
//! (leading zeros allowed). A dataset is a directory tree of such files or a text
//! file listing paths one per line ([`scan`]).
//!
//! A subrun entry that is not a regular file once symbolic links are followed (a
//! FIFO, a device such as a link to `/dev/zero`, a socket) stays in the dataset: it is
//! refused when the analysis reads it ([`regular_file_size`]), as an input error of
//! that subrun, without opening it (opening a FIFO blocks). Directories are scanned
//! once each, by (device, inode): a symbolic link back to a directory being scanned
//! (a loop), or to one already scanned, is listed in [`Dataset::repeated_dirs`] and
//! not followed.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// A subrun's identity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
pub struct SubrunId {
    pub run: u32,
    pub subrun: u32,
}

/// The file name of a subrun: `<prefix>_<run>.<subrun, 5 digits>.root`.
pub fn file_name(prefix: &str, id: SubrunId) -> String {
    format!("{prefix}_{}.{:05}.root", id.run, id.subrun)
}

/// Parses `<prefix>_<run>.<subrun>.root`; returns the prefix and the id, or `None`
/// for a name that is not a subrun file.
pub fn parse_file_name(name: &str) -> Option<(&str, SubrunId)> {
    let stem = name.strip_suffix(".root")?;
    let (prefix, numbers) = stem.rsplit_once('_')?;
    let (run, subrun) = numbers.split_once('.')?;
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(run) || !digits(subrun) {
        return None;
    }
    Some((prefix, SubrunId { run: run.parse().ok()?, subrun: subrun.parse().ok()? }))
}

/// One subrun file of a dataset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubrunFile {
    pub id: SubrunId,
    pub path: PathBuf,
    pub size: u64,
}

/// A scanned dataset: its subrun files sorted by (run, subrun), and what was set aside.
#[derive(Debug, Default)]
pub struct Dataset {
    pub files: Vec<SubrunFile>,
    /// Files not named like a subrun file (ignored, listed for the user).
    pub ignored: Vec<PathBuf>,
    /// Byte-identical second copies of a subrun file, set aside: (copy, file used).
    pub identical_copies: Vec<(PathBuf, PathBuf)>,
    /// Directories reached a second time through a symbolic link, not scanned again.
    pub repeated_dirs: Vec<RepeatedDir>,
}

/// A directory the scan reached again through a symbolic link and did not follow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepeatedDir {
    /// The path that leads to it again.
    pub path: PathBuf,
    /// The path it was scanned as.
    pub first: PathBuf,
    /// True when `first` contains `path` (following it would never end).
    pub is_loop: bool,
}

impl fmt::Display for RepeatedDir {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_loop {
            write!(f, "{}: a symbolic-link loop back to {}; not followed", self.path.display(), self.first.display())
        } else {
            write!(f, "{}: the same directory as {}, scanned once", self.path.display(), self.first.display())
        }
    }
}

/// The subrun numbers missing from one run: inclusive ranges, ascending.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RunGaps {
    pub run: u32,
    /// The run's highest subrun in the dataset.
    pub last: u32,
    pub missing: Vec<(u32, u32)>,
}

impl RunGaps {
    /// How many subrun numbers are missing.
    pub fn count(&self) -> u64 {
        self.missing.iter().map(|(a, b)| u64::from(b - a) + 1).sum()
    }
}

impl fmt::Display for RunGaps {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ranges: Vec<String> = self.missing.iter().map(|&(a, b)| if a == b { a.to_string() } else { format!("{a}-{b}") }).collect();
        let n = self.count();
        write!(f, "run {}: {n} subrun{} missing of 1-{}: {}", self.run, if n == 1 { "" } else { "s" }, self.last, ranges.join(", "))
    }
}

impl Dataset {
    /// The distinct runs, ascending.
    pub fn runs(&self) -> Vec<u32> {
        let mut r: Vec<u32> = self.files.iter().map(|f| f.id.run).collect();
        r.dedup();
        r
    }

    /// Total bytes of the subrun files.
    pub fn bytes(&self) -> u64 {
        self.files.iter().map(|f| f.size).sum()
    }

    /// The holes in each run's subrun numbering, for runs that have any.
    ///
    /// Production numbers a run's subruns 1, 2, 3, ... without holes, so every number
    /// from 1 to the run's highest subrun in the dataset should be there: a run whose
    /// first file is subrun 3 misses 1 and 2. Subruns after the highest one found
    /// cannot be known from the files and are not reported; subrun 0, if a file has
    /// it, is simply present. Relies on `files` being sorted by (run, subrun), as
    /// [`scan`] leaves them.
    pub fn gaps(&self) -> Vec<RunGaps> {
        let mut out = Vec::new();
        let mut i = 0;
        while i < self.files.len() {
            let run = self.files[i].id.run;
            let mut missing = Vec::new();
            let mut next = 1u32; // the lowest subrun number not yet accounted for
            let mut last = 0;
            while i < self.files.len() && self.files[i].id.run == run {
                let s = self.files[i].id.subrun;
                if s > next {
                    missing.push((next, s - 1));
                }
                next = next.max(s.saturating_add(1));
                last = last.max(s);
                i += 1;
            }
            if !missing.is_empty() {
                out.push(RunGaps { run, last, missing });
            }
        }
        out
    }
}

pub use crate::root::file::file_kind;

/// The size of `path` when it is a regular file once symbolic links are followed;
/// otherwise an `InvalidInput` error saying what it is (and where a link leads).
/// Only metadata is read: a FIFO is never opened, so this never blocks.
pub fn regular_file_size(path: &Path) -> std::io::Result<u64> {
    let meta = std::fs::metadata(path)?;
    if meta.is_file() {
        return Ok(meta.len());
    }
    Err(not_regular(path, meta.file_type()))
}

fn not_regular(path: &Path, t: std::fs::FileType) -> std::io::Error {
    let link = match std::fs::read_link(path) {
        Ok(target) => format!(" (a symbolic link to {})", target.display()),
        Err(_) => String::new(),
    };
    std::io::Error::new(
        std::io::ErrorKind::InvalidInput,
        format!("it is a {}{link}, not a regular file; only regular files are read: replace it with the subrun file or move it out of the dataset", file_kind(t)),
    )
}

/// Reads a regular file whole, never more than the size its metadata gives: refuses
/// anything else ([`regular_file_size`]) and a file whose length changes while it is
/// read (a copy still in progress).
pub fn read_regular(path: &Path) -> std::io::Result<Vec<u8>> {
    regular_file_size(path)?;
    let file = std::fs::File::open(path)?;
    // The object opened, not the name looked up before (it may have been replaced).
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Err(not_regular(path, meta.file_type()));
    }
    let size = meta.len();
    let cap = usize::try_from(size).map_err(|_| std::io::Error::new(std::io::ErrorKind::InvalidInput, format!("it has {size} bytes, more than this machine can address")))?;
    let mut bytes = Vec::new();
    bytes.try_reserve_exact(cap).map_err(|_| std::io::Error::new(std::io::ErrorKind::OutOfMemory, format!("cannot allocate {size} bytes to read it")))?;
    // One byte past the size: a file that grew is noticed without reading on.
    file.take(size.saturating_add(1)).read_to_end(&mut bytes)?;
    if bytes.len() as u64 != size {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("its size changed while it was read ({size} bytes at the start, {}{} read): it is still being written; wait for the copy to finish", bytes.len(), if bytes.len() as u64 > size { " or more" } else { "" }),
        ));
    }
    Ok(bytes)
}

/// Whether two regular files have the same bytes, read in blocks (never more than
/// their sizes); anything but two regular files of one size is "different".
fn same_contents(a: &Path, b: &Path) -> std::io::Result<bool> {
    let (Ok(sa), Ok(sb)) = (regular_file_size(a), regular_file_size(b)) else { return Ok(false) };
    if sa != sb {
        return Ok(false);
    }
    let (mut fa, mut fb) = (std::fs::File::open(a)?.take(sa), std::fs::File::open(b)?.take(sb));
    let (mut ba, mut bb) = (vec![0u8; 1 << 16], vec![0u8; 1 << 16]);
    loop {
        let n = read_full(&mut fa, &mut ba)?;
        let m = read_full(&mut fb, &mut bb)?;
        if n != m || ba[..n] != bb[..m] {
            return Ok(false);
        }
        if n == 0 {
            return Ok(true);
        }
    }
}

fn read_full(r: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..])? {
            0 => break,
            k => n += k,
        }
    }
    Ok(n)
}

/// Why a dataset could not be scanned.
#[derive(Debug, thiserror::Error)]
pub enum ScanError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("run {run} subrun {subrun} appears twice with different contents: {first} and {second} (keep the right one, move the other out of the dataset)", run = id.run, subrun = id.subrun, first = first.display(), second = second.display())]
    Duplicate { id: SubrunId, first: PathBuf, second: PathBuf },
    #[error("{path}: no subrun files found (names must look like <prefix>_<run>.<subrun>.root)", path = path.display())]
    Empty { path: PathBuf },
    #[error("{path}: a list of subrun files is at most {limit} bytes; this one is longer (is it the right file?)", path = path.display())]
    ListTooLarge { path: PathBuf, limit: u64 },
}

/// The longest list file read (a million paths of 256 bytes).
pub const MAX_LIST_BYTES: u64 = 256 << 20;

/// A list file's text, bounded by [`MAX_LIST_BYTES`].
fn read_list(input: &Path) -> Result<String, ScanError> {
    use std::io::Read;
    let io = |source| ScanError::Io { path: input.to_path_buf(), source };
    let f = std::fs::File::open(input).map_err(io)?;
    let mut bytes = Vec::new();
    f.take(MAX_LIST_BYTES + 1).read_to_end(&mut bytes).map_err(io)?;
    if bytes.len() as u64 > MAX_LIST_BYTES {
        return Err(ScanError::ListTooLarge { path: input.to_path_buf(), limit: MAX_LIST_BYTES });
    }
    String::from_utf8(bytes).map_err(|e| io(std::io::Error::new(std::io::ErrorKind::InvalidData, format!("not a text list of paths: {e}"))))
}

/// Scans a dataset: a directory (searched recursively, in sorted order) or a text file
/// with one path per line (blank lines and lines starting with `#` are skipped;
/// relative paths are relative to the list's directory).
pub fn scan(input: &Path) -> Result<Dataset, ScanError> {
    fn io(path: &Path) -> impl Fn(std::io::Error) -> ScanError + '_ {
        move |source| ScanError::Io { path: path.to_path_buf(), source }
    }
    let meta = std::fs::metadata(input).map_err(io(input))?;
    let mut candidates = Vec::new();
    let mut repeated_dirs = Vec::new();
    if meta.is_dir() {
        let mut walker = Walker { seen: BTreeMap::new(), ancestors: BTreeSet::new(), repeated: &mut repeated_dirs, out: &mut candidates };
        walker.walk(input, &meta)?;
    } else {
        // The list itself may be a pipe (`--input <(ls ...)`): read as text, but
        // never more than a list of paths can be (a link to /dev/zero must not grow
        // memory without bound).
        let text = read_list(input)?;
        let base = input.parent().unwrap_or(Path::new("."));
        for line in text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')) {
            candidates.push(base.join(line));
        }
    }
    let mut ds = Dataset { repeated_dirs, ..Dataset::default() };
    for path in candidates {
        let parsed = path.file_name().and_then(|n| n.to_str()).and_then(parse_file_name).map(|(_, id)| id);
        match parsed {
            Some(id) => {
                let size = match std::fs::metadata(&path) {
                    Ok(m) => m.len(),
                    // A dangling link named like a subrun file: an input error of its
                    // subrun when it is read, not the end of the whole scan.
                    Err(_) if std::fs::symlink_metadata(&path).is_ok_and(|m| m.file_type().is_symlink()) => 0,
                    Err(e) => return Err(io(&path)(e)),
                };
                ds.files.push(SubrunFile { id, path, size });
            }
            None => ds.ignored.push(path),
        }
    }
    ds.files.sort_by(|a, b| a.id.cmp(&b.id).then_with(|| a.path.cmp(&b.path)));
    // Two files for one subrun: byte-identical copies (a file copied twice) are
    // harmless, the first is used and the others listed; different contents are
    // ambiguous and only a person can say which is right.
    let mut kept: Vec<SubrunFile> = Vec::with_capacity(ds.files.len());
    for f in std::mem::take(&mut ds.files) {
        match kept.last() {
            Some(k) if k.id == f.id => {
                let same = k.size == f.size && same_contents(&k.path, &f.path).map_err(io(&f.path))?;
                if !same {
                    return Err(ScanError::Duplicate { id: f.id, first: k.path.clone(), second: f.path.clone() });
                }
                ds.identical_copies.push((f.path, k.path.clone()));
            }
            _ => kept.push(f),
        }
    }
    ds.files = kept;
    if ds.files.is_empty() {
        return Err(ScanError::Empty { path: input.to_path_buf() });
    }
    Ok(ds)
}

/// A recursive directory scan that enters each directory once, by (device, inode).
struct Walker<'a> {
    /// Every directory scanned so far: its identity and the path it was scanned as.
    seen: BTreeMap<(u64, u64), PathBuf>,
    /// The directories being scanned now (the current one and those above it).
    ancestors: BTreeSet<(u64, u64)>,
    repeated: &'a mut Vec<RepeatedDir>,
    out: &'a mut Vec<PathBuf>,
}

impl Walker<'_> {
    fn walk(&mut self, dir: &Path, meta: &std::fs::Metadata) -> Result<(), ScanError> {
        let id = (meta.dev(), meta.ino());
        if let Some(first) = self.seen.get(&id) {
            self.repeated.push(RepeatedDir { path: dir.to_path_buf(), first: first.clone(), is_loop: self.ancestors.contains(&id) });
            return Ok(());
        }
        self.seen.insert(id, dir.to_path_buf());
        self.ancestors.insert(id);
        let io = |source| ScanError::Io { path: dir.to_path_buf(), source };
        let mut entries: Vec<PathBuf> = std::fs::read_dir(dir).map_err(io)?.map(|e| e.map(|e| e.path())).collect::<Result<_, _>>().map_err(io)?;
        entries.sort();
        for p in entries {
            // Following links; an entry whose target cannot be read is a candidate
            // like any file (the scan below reports it).
            match std::fs::metadata(&p) {
                Ok(m) if m.is_dir() => self.walk(&p, &m)?,
                _ => self.out.push(p),
            }
        }
        self.ancestors.remove(&id);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_follow_the_contract_example() {
        let (p, id) = parse_file_name("gm2offline_dqc_run3B_15921.00042.root").unwrap();
        assert_eq!((p, id), ("gm2offline_dqc_run3B", SubrunId { run: 15921, subrun: 42 }));
        assert_eq!(file_name(p, id), "gm2offline_dqc_run3B_15921.00042.root");
        assert_eq!(parse_file_name("x_7.3.root").unwrap().1, SubrunId { run: 7, subrun: 3 });
        for bad in ["x_15921.root", "x_a.1.root", "15921.00042.root", "x_1.2.root.bak", "x_1.-2.root", "x_1..root"] {
            assert!(parse_file_name(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn scan_sorts_ignores_sets_copies_aside_and_refuses_conflicts() {
        let dir = std::env::temp_dir().join(format!("gm2dqc-scan-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("b")).unwrap();
        for name in ["a_2.00001.root", "b/a_1.00007.root", "notes.txt", "a_1.00002.root"] {
            std::fs::write(dir.join(name), b"x").unwrap();
        }
        let ds = scan(&dir).unwrap();
        let ids: Vec<(u32, u32)> = ds.files.iter().map(|f| (f.id.run, f.id.subrun)).collect();
        assert_eq!(ids, [(1, 2), (1, 7), (2, 1)]);
        assert_eq!(ds.ignored, [dir.join("notes.txt")]);
        assert_eq!(ds.runs(), [1, 2]);
        // A list file with a relative path and a comment.
        std::fs::write(dir.join("list.txt"), "# two files\na_2.00001.root\n\nb/a_1.00007.root\n").unwrap();
        assert_eq!(scan(&dir.join("list.txt")).unwrap().files.len(), 2);
        // A byte-identical second copy is set aside; a different one is refused.
        std::fs::write(dir.join("b/other_2.1.root"), b"x").unwrap();
        let ds = scan(&dir).unwrap();
        assert_eq!(ds.files.len(), 3);
        assert_eq!(ds.identical_copies, [(dir.join("b/other_2.1.root"), dir.join("a_2.00001.root"))]);
        std::fs::write(dir.join("b/other_2.1.root"), b"y").unwrap();
        let e = scan(&dir).unwrap_err().to_string();
        assert!(e.contains("run 2 subrun 1 appears twice with different contents") && e.contains("other_2.1.root"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    fn ids(ds: &Dataset) -> Vec<(u32, u32)> {
        ds.files.iter().map(|f| (f.id.run, f.id.subrun)).collect()
    }

    #[test]
    fn directory_links_are_followed_once_and_loops_reported() {
        let dir = std::env::temp_dir().join(format!("gm2dqc-scan-loop-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("a/b")).unwrap();
        std::fs::create_dir_all(dir.join("c")).unwrap();
        std::fs::write(dir.join("a/x_1.00001.root"), b"1").unwrap();
        std::fs::write(dir.join("a/b/x_1.00002.root"), b"2").unwrap();
        std::fs::write(dir.join("c/x_2.00001.root"), b"3").unwrap();
        // A loop (a/b/up -> a), a link to a directory scanned elsewhere (alias -> c),
        // and a link to itself (self -> self: unreadable, a candidate like any file).
        std::os::unix::fs::symlink(dir.join("a"), dir.join("a/b/up")).unwrap();
        std::os::unix::fs::symlink(dir.join("c"), dir.join("alias")).unwrap();
        std::os::unix::fs::symlink("self", dir.join("c/self")).unwrap();
        let ds = scan(&dir).unwrap();
        assert_eq!(ids(&ds), [(1, 1), (1, 2), (2, 1)], "each file once");
        // c is scanned as alias (sorted first): its link to itself is found there.
        assert_eq!(ds.ignored, [dir.join("alias/self")]);
        assert_eq!(ds.files[2].path, dir.join("alias/x_2.00001.root"));
        // Sorted order: a/ (with its loop) first, then alias (c's second name) before c.
        assert_eq!(
            ds.repeated_dirs,
            [
                RepeatedDir { path: dir.join("a/b/up"), first: dir.join("a"), is_loop: true },
                RepeatedDir { path: dir.join("c"), first: dir.join("alias"), is_loop: false },
            ]
        );
        let text = ds.repeated_dirs[0].to_string();
        assert!(text.contains("a/b/up") && text.contains("loop") && text.contains("not followed"), "{text}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn only_regular_files_are_read_and_never_past_their_size() {
        let dir = std::env::temp_dir().join(format!("gm2dqc-regular-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let fifo = dir.join("x_1.00001.root");
        assert!(std::process::Command::new("mkfifo").arg(&fifo).status().unwrap().success());
        let zero = dir.join("x_1.00002.root");
        std::os::unix::fs::symlink("/dev/zero", &zero).unwrap();
        let good = dir.join("x_1.00003.root");
        std::fs::write(&good, b"abc").unwrap();
        // Nothing here opens the FIFO (it would block) or reads /dev/zero (it never ends).
        let e = regular_file_size(&fifo).unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::InvalidInput);
        assert!(e.to_string().contains("it is a FIFO (named pipe), not a regular file"), "{e}");
        let e = read_regular(&zero).unwrap_err().to_string();
        assert!(e.contains("character device") && e.contains("symbolic link to /dev/zero"), "{e}");
        assert_eq!(read_regular(&good).unwrap(), b"abc");
        // The scan keeps them as subruns (the analysis reports them); an identical-copy
        // check never reads a FIFO either: a FIFO and a file for one subrun differ.
        let ds = scan(&dir).unwrap();
        assert_eq!(ids(&ds), [(1, 1), (1, 2), (1, 3)]);
        assert!(ds.files.iter().all(|f| f.size == if f.path == good { 3 } else { 0 }), "{:?}", ds.files);
        std::fs::write(dir.join("copy_1.00001.root"), b"").unwrap();
        let e = scan(&dir).unwrap_err().to_string();
        assert!(e.contains("run 1 subrun 1 appears twice with different contents"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn gaps_are_the_missing_numbers_from_1_to_each_runs_last_subrun() {
        let file = |run, subrun| SubrunFile { id: SubrunId { run, subrun }, path: PathBuf::new(), size: 0 };
        let ds = Dataset {
            files: vec![file(5, 1), file(5, 2), file(5, 3), file(7, 3), file(7, 4), file(7, 9), file(7, 11), file(8, 0), file(8, 1)],
            ..Dataset::default()
        };
        // Run 5 complete; run 7 misses 1-2, 5-8 and 10; run 8 (with a subrun 0) complete.
        assert_eq!(ds.gaps(), [RunGaps { run: 7, last: 11, missing: vec![(1, 2), (5, 8), (10, 10)] }]);
        assert_eq!(ds.gaps()[0].count(), 2 + 4 + 1);
        assert_eq!(ds.gaps()[0].to_string(), "run 7: 7 subruns missing of 1-11: 1-2, 5-8, 10");
        let one = Dataset { files: vec![file(3, 2)], ..Dataset::default() };
        assert_eq!(one.gaps()[0].to_string(), "run 3: 1 subrun missing of 1-2: 1");
        assert_eq!(Dataset::default().gaps(), []);
        // The top of the numbering: no overflow.
        let top = Dataset { files: vec![file(1, u32::MAX - 1), file(1, u32::MAX)], ..Dataset::default() };
        assert_eq!(top.gaps()[0].missing, [(1, u32::MAX - 2)]);
    }
}
