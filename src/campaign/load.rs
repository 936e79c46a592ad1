//! Reading `plan.json` and `partial.json` back. Both are files on shared storage that
//! anyone (or a crash, or another version) may have changed: every value is checked
//! before it is used, and a bad one is a [`LoadError`] naming the file and the field
//! (`shards[2].bytes`) and saying what to do, never a panic.

use std::path::{Path, PathBuf};

use super::{Partial, Plan, PARTIAL_FORMAT, PLAN_FORMAT};
use crate::checksum::is_sha256_hex;
use crate::pipeline::CHUNK_FILES;

/// Why `plan.json` or `partial.json` was refused.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("{}: cannot read it: {source}; {hint}", path.display())]
    Io { path: PathBuf, source: std::io::Error, hint: &'static str },
    #[error("{}: not valid JSON (line {line}, column {column}: {problem}); {hint}", path.display())]
    Syntax { path: PathBuf, line: usize, column: usize, problem: String, hint: &'static str },
    #[error("{}: field `{field}`: {problem}; {hint}", path.display())]
    Field { path: PathBuf, field: String, problem: String, hint: &'static str },
}

impl LoadError {
    /// The field refused, when the problem is one field's value.
    pub fn field(&self) -> Option<&str> {
        match self {
            LoadError::Field { field, .. } => Some(field),
            _ => None,
        }
    }
}

pub(super) const PLAN_HINT: &str = "plan.json is written by `gm2dqc plan`: make the plan again (`gm2dqc plan --force ...`)";
pub(super) const PARTIAL_HINT: &str = "partial.json is written by `gm2dqc shard`: remove this partial result and rerun its shard";

/// The file's bytes: a regular file only, never read past its size.
pub(super) fn read(path: &Path, hint: &'static str) -> Result<Vec<u8>, LoadError> {
    crate::dataset::read_regular(path).map_err(|source| LoadError::Io { path: path.to_path_buf(), source, hint })
}

/// Parses JSON into `T`; a value of the wrong type or a missing field is reported
/// with the path of the field in the document.
pub(super) fn parse<T: serde::de::DeserializeOwned>(path: &Path, bytes: &[u8], hint: &'static str) -> Result<T, LoadError> {
    serde_json::from_slice(bytes).map_err(|e| {
        let text = e.to_string();
        // serde_json appends " at line L column C"; the location is given apart.
        let problem = match text.rfind(" at line ") {
            Some(i) => text[..i].to_string(),
            None => text.clone(),
        };
        if !e.is_data() {
            return LoadError::Syntax { path: path.to_path_buf(), line: e.line(), column: e.column(), problem, hint };
        }
        let missing = problem.strip_prefix("missing field `").and_then(|r| r.strip_suffix('`'));
        let mut frames = frames_at(bytes, e.line(), e.column(), missing.is_some());
        let field = match missing {
            Some(missing) => {
                // The error comes at the end of the object that lacks the field.
                if let Some(Frame::Object(k)) = frames.last_mut() {
                    *k = Some(missing.to_string());
                } else {
                    frames.push(Frame::Object(Some(missing.to_string())));
                }
                join(&frames)
            }
            None => {
                // A sequence of the wrong length is reported at its end, inside it.
                if problem.starts_with("invalid length") && matches!(frames.last(), Some(Frame::Array(_))) {
                    frames.pop();
                }
                join(&frames)
            }
        };
        let field = if field.is_empty() { "(the whole document)".to_string() } else { field };
        LoadError::Field { path: path.to_path_buf(), field, problem, hint }
    })
}

/// Where a JSON reader is: one frame per open object (with the key being read) or
/// array (with the index of the element).
#[derive(Debug, Clone, PartialEq)]
enum Frame {
    Object(Option<String>),
    Array(usize),
}

fn join(frames: &[Frame]) -> String {
    let mut s = String::new();
    for f in frames {
        match f {
            Frame::Object(Some(k)) => {
                if !s.is_empty() {
                    s.push('.');
                }
                s.push_str(k);
            }
            Frame::Object(None) => {}
            Frame::Array(i) => s.push_str(&format!("[{i}]")),
        }
    }
    s
}

/// The open objects and arrays at serde_json's error position (1-based line and
/// byte column), by one pass over the bytes before it: linear, no allocation but the
/// keys on the path.
/// `inside`: an error just after a closing brace is taken as inside that object (a
/// missing field is reported once its object is read through).
fn frames_at(bytes: &[u8], line: usize, column: usize, inside: bool) -> Vec<Frame> {
    // The end: `column` bytes into line `line`.
    let mut end = 0;
    let mut l = 1;
    while l < line && end < bytes.len() {
        if bytes[end] == b'\n' {
            l += 1;
        }
        end += 1;
    }
    let mut end = (end + column).min(bytes.len());
    if inside && end > 0 && bytes[end - 1] == b'}' {
        end -= 1;
    }
    let mut frames: Vec<Frame> = Vec::new();
    let mut expect_key = false;
    let mut i = 0;
    while i < end {
        match bytes[i] {
            b'{' => {
                frames.push(Frame::Object(None));
                expect_key = true;
            }
            b'[' => frames.push(Frame::Array(0)),
            b'}' | b']' => {
                frames.pop();
                expect_key = false;
            }
            b',' => match frames.last_mut() {
                Some(Frame::Array(n)) => *n += 1,
                Some(Frame::Object(_)) => expect_key = true,
                None => {}
            },
            b'"' => {
                let start = i + 1;
                i += 1;
                while i < end && bytes[i] != b'"' {
                    if bytes[i] == b'\\' {
                        i += 1;
                    }
                    i += 1;
                }
                if expect_key {
                    if let Some(Frame::Object(k)) = frames.last_mut() {
                        *k = Some(String::from_utf8_lossy(&bytes[start..i.min(end)]).into_owned());
                    }
                    expect_key = false;
                }
            }
            _ => {}
        }
        i += 1;
    }
    frames
}

/// Collects the first problem of a document: `check(field, problem)`.
struct Checker<'a> {
    path: &'a Path,
    hint: &'static str,
    first: Option<LoadError>,
}

impl Checker<'_> {
    fn fail(&mut self, field: impl Into<String>, problem: impl Into<String>) {
        if self.first.is_none() {
            self.first = Some(LoadError::Field { path: self.path.to_path_buf(), field: field.into(), problem: problem.into(), hint: self.hint });
        }
    }

    fn sha256(&mut self, field: impl Into<String>, v: &str) {
        if !is_sha256_hex(v) {
            self.fail(field, format!("{v:?} is not a SHA-256 (64 lowercase hex digits)"));
        }
    }

    fn non_empty(&mut self, field: impl Into<String>, v: &str) {
        if v.is_empty() {
            self.fail(field, "is empty");
        } else if v.contains('\0') {
            self.fail(field, "contains a NUL character");
        }
    }

    /// Text that goes into job scripts: one line, no control characters.
    fn one_line(&mut self, field: impl Into<String>, v: &str) {
        if v.chars().any(char::is_control) {
            self.fail(field, format!("{v:?} contains control characters (a job script line cannot hold it)"));
        }
    }

    /// A file name inside the work or result directory: no directories, no `..`.
    fn plain_name(&mut self, field: impl Into<String>, v: &str) {
        let field = field.into();
        if v.is_empty() || v == "." || v == ".." || v.contains('/') || v.contains('\0') {
            self.fail(field, format!("{v:?} is not a plain file name (it must name a file in the same directory)"));
        }
    }

    fn finish(self) -> Result<(), LoadError> {
        self.first.map_or(Ok(()), Err)
    }
}

/// Every value of a plan checked, and the structure it describes: files in (run,
/// subrun) order, chunks that cover them in order, shards that cover the chunks, and
/// counts that add up (without overflow).
pub(super) fn validate_plan(plan: &Plan, path: &Path) -> Result<(), LoadError> {
    let mut c = Checker { path, hint: PLAN_HINT, first: None };
    if plan.format != PLAN_FORMAT {
        c.fail("format", format!("{:?}, this gm2dqc reads {PLAN_FORMAT:?}", plan.format));
    }
    c.sha256("analysis_id", &plan.analysis_id);
    c.sha256("cuts.sha256", &plan.cuts.sha256);
    c.non_empty("cuts.source", &plan.cuts.source);
    if let Some(copy) = &plan.cuts.copy {
        c.plain_name("cuts.copy", copy);
    }
    if plan.cwd.as_os_str().is_empty() || !plan.cwd.is_absolute() {
        c.fail("cwd", format!("{:?} is not an absolute directory", plan.cwd.display().to_string()));
    }
    c.non_empty("input", &plan.input);
    c.non_empty("dataset", &plan.dataset);
    for (i, &(a, b)) in plan.intervals.iter().enumerate() {
        if a > b {
            c.fail(format!("intervals[{i}]"), format!("first run {a} is after last run {b}"));
        }
    }
    let mut total: u64 = 0;
    for (i, f) in plan.files.iter().enumerate() {
        c.non_empty(format!("files[{i}].path"), &f.path);
        match total.checked_add(f.size) {
            Some(t) => total = t,
            None => c.fail(format!("files[{i}].size"), format!("{} makes the sizes add up to more than {} bytes", f.size, u64::MAX)),
        }
        if i > 0 && (plan.files[i - 1].run, plan.files[i - 1].subrun) >= (f.run, f.subrun) {
            c.fail(format!("files[{i}]"), format!("run {} subrun {} is not after the file before it (files are in (run, subrun) order, each once)", f.run, f.subrun));
        }
    }
    for (i, &(a, b)) in plan.plan_intervals.iter().enumerate() {
        if a > b || (i > 0 && plan.plan_intervals[i - 1].1 >= a) {
            c.fail(format!("plan_intervals[{i}]"), format!("{a}-{b} is empty or not after the interval before it"));
        }
    }
    if plan.references.len() != plan.plan_intervals.len() {
        c.fail("references", format!("{} reference runs for {} intervals", plan.references.len(), plan.plan_intervals.len()));
    }
    let mut next = 0usize;
    for (i, ch) in plan.chunks.iter().enumerate() {
        if ch.first != next {
            c.fail(format!("chunks[{i}].first"), format!("{} where the chunk before ends at file {next}", ch.first));
        }
        if ch.len == 0 || ch.len > CHUNK_FILES {
            c.fail(format!("chunks[{i}].len"), format!("{} is not between 1 and {CHUNK_FILES}", ch.len));
        }
        if ch.interval >= plan.plan_intervals.len() || (i > 0 && ch.interval < plan.chunks[i - 1].interval) {
            c.fail(format!("chunks[{i}].interval"), format!("{} is not an interval of the plan in order ({} intervals)", ch.interval, plan.plan_intervals.len()));
        }
        next = ch.first.saturating_add(ch.len);
    }
    if next != plan.files.len() && c.first.is_none() {
        c.fail("chunks", format!("cover {next} files, the plan has {}", plan.files.len()));
    }
    if plan.shards.is_empty() {
        c.fail("shards", "is empty");
    }
    let mut next = 0usize;
    for (i, s) in plan.shards.iter().enumerate() {
        if s.index != i {
            c.fail(format!("shards[{i}].index"), format!("{} at position {i}", s.index));
        }
        let (a, b) = s.chunks;
        if a != next || b <= a || b > plan.chunks.len() {
            c.fail(format!("shards[{i}].chunks"), format!("[{a}, {b}] is not the next nonempty range of the {} chunks (from {next})", plan.chunks.len()));
            next = b;
            continue;
        }
        next = b;
        if c.first.is_some() {
            continue; // the chunks themselves are wrong: the counts below mean nothing
        }
        let files: usize = plan.chunks[a..b].iter().map(|ch| ch.len).sum();
        if s.files != files {
            c.fail(format!("shards[{i}].files"), format!("{} but its chunks hold {files} files", s.files));
        }
        let first = plan.chunks[a].first;
        let bytes = plan.files[first..first + files].iter().try_fold(0u64, |t, f| t.checked_add(f.size));
        if bytes != Some(s.bytes) {
            c.fail(format!("shards[{i}].bytes"), format!("{} but its files hold {} bytes", s.bytes, bytes.map_or_else(|| "too many".to_string(), |b| b.to_string())));
        }
    }
    if next != plan.chunks.len() && c.first.is_none() {
        c.fail("shards", format!("cover {next} chunks, the plan has {}", plan.chunks.len()));
    }
    for (i, (copy, used)) in plan.identical_copies.iter().enumerate() {
        c.non_empty(format!("identical_copies[{i}][0]"), copy);
        c.non_empty(format!("identical_copies[{i}][1]"), used);
    }
    let j = &plan.jobs;
    c.non_empty("jobs.gm2dqc", &j.gm2dqc);
    c.one_line("jobs.gm2dqc", &j.gm2dqc);
    if j.threads == 0 || j.threads > MAX_THREADS {
        c.fail("jobs.threads", format!("{} is not between 1 and {MAX_THREADS}", j.threads));
    }
    c.one_line("jobs.tag", &j.tag);
    for (field, v) in [("jobs.db", &j.db), ("jobs.partition", &j.partition), ("jobs.time", &j.time), ("jobs.mem", &j.mem)] {
        if let Some(v) = v {
            c.non_empty(field, v);
            c.one_line(field, v);
        }
    }
    c.finish()
}

/// The most threads a job may ask for.
pub const MAX_THREADS: usize = 1 << 16;

/// Every value of a partial result checked on its own (the reduce then checks it
/// against the plan and the files against their checksums).
pub(super) fn validate_partial(p: &Partial, path: &Path) -> Result<(), LoadError> {
    let mut c = Checker { path, hint: PARTIAL_HINT, first: None };
    if p.format != PARTIAL_FORMAT {
        c.fail("format", format!("{:?}, this gm2dqc reads {PARTIAL_FORMAT:?}", p.format));
    }
    c.sha256("analysis_id", &p.analysis_id);
    c.sha256("plan_sha256", &p.plan_sha256);
    c.non_empty("host", &p.host);
    c.non_empty("started", &p.started);
    c.non_empty("finished", &p.finished);
    if !(p.seconds.is_finite() && p.seconds >= 0.0) {
        c.fail("seconds", format!("{} is not a duration in seconds", p.seconds));
    }
    if p.threads == 0 || p.threads > MAX_THREADS {
        c.fail("threads", format!("{} is not between 1 and {MAX_THREADS}", p.threads));
    }
    c.plain_name("metrics", &p.metrics);
    c.sha256("metrics_sha256", &p.metrics_sha256);
    if p.chunks.is_empty() {
        c.fail("chunks", "is empty: a shard has at least one chunk");
    }
    let (mut bytes, mut failed) = (0u64, 0usize);
    for (i, ch) in p.chunks.iter().enumerate() {
        let f = |name: &str| format!("chunks[{i}].{name}");
        if i > 0 && p.chunks[i - 1].index.checked_add(1) != Some(ch.index) {
            c.fail(f("index"), format!("{} does not follow chunk {} (a shard's chunks are consecutive)", ch.index, p.chunks[i - 1].index));
        }
        c.plain_name(f("file"), &ch.file);
        c.sha256(f("sha256"), &ch.sha256);
        if ch.chunk.len == 0 || ch.chunk.len > CHUNK_FILES {
            c.fail(f("chunk.len"), format!("{} is not between 1 and {CHUNK_FILES}", ch.chunk.len));
        }
        if ch.files_failed > ch.chunk.len {
            c.fail(f("files_failed"), format!("{} failed files in a chunk of {}", ch.files_failed, ch.chunk.len));
        }
        if ch.inputs.len() > ch.chunk.len {
            c.fail(f("inputs"), format!("{} inputs for a chunk of {} files", ch.inputs.len(), ch.chunk.len));
        }
        for (k, input) in ch.inputs.iter().enumerate() {
            c.non_empty(f(&format!("inputs[{k}].path")), &input.path);
            c.sha256(f(&format!("inputs[{k}].sha256")), &input.sha256);
        }
        match bytes.checked_add(ch.bytes) {
            Some(b) => bytes = b,
            None => c.fail(f("bytes"), format!("{} makes the chunk sizes add up to more than {} bytes", ch.bytes, u64::MAX)),
        }
        match failed.checked_add(ch.files_failed) {
            Some(n) => failed = n,
            None => c.fail(f("files_failed"), "the failed-file counts add up past the largest count"),
        }
    }
    c.finish()
}

/// Reads and checks `partial.json` in `dir` (see [`validate_partial`]).
pub fn load_partial_json(dir: &Path) -> Result<Partial, LoadError> {
    let path = dir.join("partial.json");
    let bytes = read(&path, PARTIAL_HINT)?;
    let p: Partial = parse(&path, &bytes, PARTIAL_HINT)?;
    validate_partial(&p, &path)?;
    Ok(p)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_paths_name_the_field_at_an_error() {
        #[derive(Debug, serde::Deserialize)]
        #[allow(dead_code)]
        struct Inner {
            a: u64,
            b: String,
        }
        #[derive(Debug, serde::Deserialize)]
        #[allow(dead_code)]
        struct Outer {
            name: String,
            items: Vec<Inner>,
        }
        let p = Path::new("x.json");
        let field = |text: &str| match parse::<Outer>(p, text.as_bytes(), "hint") {
            Err(LoadError::Field { field, problem, .. }) => format!("{field}: {problem}"),
            other => format!("{other:?}"),
        };
        assert_eq!(field(r#"{"name": 5, "items": []}"#), "name: invalid type: integer `5`, expected a string");
        let pretty = "{\n  \"name\": \"n\",\n  \"items\": [\n    {\"a\": 1, \"b\": \"x\"},\n    {\"a\": \"1\", \"b\": \"y\"}\n  ]\n}";
        assert_eq!(field(pretty), "items[1].a: invalid type: string \"1\", expected u64");
        assert_eq!(field(r#"{"name": "n", "items": [{"a": 1, "b": "x"}, {"a": 2}]}"#), "items[1].b: missing field `b`");
        assert_eq!(field(r#"{"items": []}"#), "name: missing field `name`");
        // A nested object without a field, pretty-printed and compact.
        #[derive(Debug, serde::Deserialize)]
        #[allow(dead_code)]
        struct Nested {
            outer: Inner,
            after: u8,
        }
        for (text, missing) in [("{\n  \"outer\": {\n    \"a\": 1\n  },\n  \"after\": 1\n}", "outer.b"), (r#"{"outer":{"b":"x"},"after":1}"#, "outer.a")] {
            let e = parse::<Nested>(p, text.as_bytes(), "hint").unwrap_err();
            assert_eq!(e.field(), Some(missing), "{text}: {e}");
        }
        assert_eq!(field(r#"{"name": "a\"b", "items": [{"a": 18446744073709551616, "b": ""}]}"#).split(':').next().unwrap(), "items[0].a");
        assert!(matches!(parse::<Outer>(p, b"{\"name\": ", "hint"), Err(LoadError::Syntax { line: 1, .. })));
        assert_eq!(field("5"), "(the whole document): invalid type: integer `5`, expected struct Outer");
        #[derive(Debug, serde::Deserialize)]
        #[allow(dead_code)]
        struct Pair {
            p: (u32, u32),
        }
        let e = parse::<Pair>(p, br#"{"p": [1]}"#, "hint").unwrap_err();
        assert_eq!(e.field(), Some("p"), "{e}");
    }
}
