//! Datasets of subrun files: file naming (`<prefix>_<run>.<subrun>.root`).
//!
//! The run and subrun are the decimal numbers between the last `_` and `.root`
//! (leading zeros allowed). A dataset is a directory tree of such files or a text
//! file listing paths one per line ([`scan`]).

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
    if meta.is_dir() {
        walk(input, &mut candidates)?;
    } else {
        let text = std::fs::read_to_string(input).map_err(io(input))?;
        let base = input.parent().unwrap_or(Path::new("."));
        for line in text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')) {
            candidates.push(base.join(line));
        }
    }
    let mut ds = Dataset::default();
    for path in candidates {
        let parsed = path.file_name().and_then(|n| n.to_str()).and_then(parse_file_name).map(|(_, id)| id);
        match parsed {
            Some(id) => {
                let size = std::fs::metadata(&path).map_err(io(&path))?.len();
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
                let same = k.size == f.size && std::fs::read(&k.path).map_err(io(&k.path))? == std::fs::read(&f.path).map_err(io(&f.path))?;
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

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), ScanError> {
    let io = |source| ScanError::Io { path: dir.to_path_buf(), source };
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir).map_err(io)?.map(|e| e.map(|e| e.path())).collect::<Result<_, _>>().map_err(io)?;
    entries.sort();
    for p in entries {
        if p.is_dir() {
            walk(&p, out)?;
        } else {
            out.push(p);
        }
    }
    Ok(())
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
}
