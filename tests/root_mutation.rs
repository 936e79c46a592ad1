//! Bad input gives a typed error naming the file, the object and the byte offset,
//! never a panic: hand-made damage of each kind, then a time-bounded mutation run over
//! the fixtures (GM2DQC_FUZZ_SECONDS, 10 s by default).

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::{Duration, Instant};

use gm2dqc::hist::{Axis, Hist, Profile};
use gm2dqc::root::bytes::ArrayElem;
use gm2dqc::root::{ErrorKind, RootError, RootFile, RootWriter, WriteOptions};

use crate::common::{fixture, root_files};

/// A small file of our own: a profile in a directory and a histogram at the top.
fn sample_file(compression: &str) -> Vec<u8> {
    let mut w = RootWriter::new(WriteOptions { compression: compression.parse().unwrap(), timestamp: 0, title: String::new() });
    let mut p = Profile::new_1d("xtal0", "", Axis::fixed(100, 0.0, 400.0));
    let mut h = Hist::new_1d("bunch", "", Axis::fixed(16, 0.0, 16.0), ArrayElem::F64);
    for i in 0..2000 {
        p.fill((i % 400) as f64, 1.0 + (i % 7) as f64 * 0.01, 1.0);
        h.fill((i % 16) as f64, 1.0);
    }
    w.put_hist("laser/inFill/xtal0", &p.to_raw()).unwrap();
    w.put_hist("bunch", &h.to_raw()).unwrap();
    w.to_bytes("sample.root")
}

/// Offset of the key-list copy of the key header of `path` (the last occurrence of
/// the header's first 18 bytes: the copy the reader uses).
fn key_list_entry(bytes: &[u8], path: &str) -> usize {
    let f = RootFile::from_bytes("x.root", bytes.to_vec()).unwrap();
    let k = f.key(path).unwrap();
    let head = &bytes[k.seek_key as usize..k.seek_key as usize + 18];
    bytes.windows(18).rposition(|w| w == head).filter(|&p| p != k.seek_key as usize).expect("key list copy")
}

fn read_all(bytes: Vec<u8>) -> Result<usize, RootError> {
    let f = RootFile::from_bytes("damaged.root", bytes)?;
    let (entries, errors) = f.walk();
    if let Some(e) = errors.into_iter().next() {
        return Err(e);
    }
    let mut n = 0;
    for e in entries.iter().filter(|e| e.key.class_name == "TTree") {
        // Flat trees: every branch name is tried; unsupported layouts are typed errors.
        match gm2dqc::root::tree::read_f64_branch(&f, &e.path, "unixTimeRecv") {
            Ok(_) => n += 1,
            Err(x) if matches!(*x.kind, ErrorKind::UnsupportedClass { .. } | ErrorKind::NotFound { .. } | ErrorKind::Decode { .. }) => {}
            Err(x) => return Err(x),
        }
    }
    for e in entries.iter().filter(|e| !e.key.is_directory() && e.key.class_name != "TTree") {
        match f.hist_from_key(&e.key, &e.path) {
            Ok(_) => n += 1,
            Err(x) if matches!(*x.kind, ErrorKind::UnsupportedClass { .. }) => {}
            Err(x) => return Err(x),
        }
    }
    Ok(n)
}

fn expect_err(bytes: Vec<u8>, want: impl Fn(&ErrorKind) -> bool, object: Option<&str>) -> String {
    let e = read_all(bytes).expect_err("damage went unnoticed");
    assert!(want(&e.kind), "unexpected error kind: {e}");
    let msg = e.to_string();
    assert!(msg.starts_with("damaged.root"), "error does not name the file: {msg}");
    assert!(msg.contains("Hint:"), "error gives no hint: {msg}");
    if let Some(o) = object {
        assert_eq!(e.object.as_deref(), Some(o), "{msg}");
    }
    assert!(e.offset.is_some(), "no byte offset: {msg}");
    msg
}

#[test]
fn wrong_magic() {
    let mut b = sample_file("zstd");
    b[..4].copy_from_slice(b"<htm");
    let msg = expect_err(b, |k| matches!(k, ErrorKind::NotRoot { .. }), None);
    assert!(msg.contains("at byte 0"), "{msg}");
}

#[test]
fn truncated_file() {
    let b = sample_file("zstd");
    for cut in [10, 90, b.len() / 2, b.len() - 1] {
        let msg = expect_err(b[..cut].to_vec(), |k| matches!(k, ErrorKind::Truncated { .. }), None);
        assert!(msg.contains("truncated") && msg.contains("copy it again"), "{msg}");
    }
}

#[test]
fn key_pointing_outside_the_file() {
    let mut b = sample_file("zlib");
    let at = key_list_entry(&b, "bunch");
    // fSeekKey (small key: after nbytes 4, version 2, objlen 4, datime 4, keylen 2, cycle 2)
    let outside = b.len() as i32 + 1000;
    b[at + 18..at + 22].copy_from_slice(&outside.to_be_bytes());
    expect_err(b, |k| matches!(k, ErrorKind::Truncated { .. }), Some("bunch"));
}

#[test]
fn decompressed_size_that_does_not_match() {
    for c in ["zlib", "lz4", "zstd", "lzma"] {
        let mut b = sample_file(c);
        let at = key_list_entry(&b, "laser/inFill/xtal0");
        let objlen = i32::from_be_bytes(b[at + 6..at + 10].try_into().unwrap());
        b[at + 6..at + 10].copy_from_slice(&(objlen + 100).to_be_bytes());
        let msg = expect_err(b, |k| matches!(k, ErrorKind::SizeMismatch { .. }), Some("laser/inFill/xtal0"));
        assert!(msg.contains("decompressed size mismatch"), "{c}: {msg}");
    }
}

#[test]
fn decompression_bomb_is_refused_before_allocating() {
    let mut b = sample_file("zstd");
    let at = key_list_entry(&b, "bunch");
    b[at + 6..at + 10].copy_from_slice(&i32::MAX.to_be_bytes());
    expect_err(b, |k| matches!(k, ErrorKind::TooLarge { .. }), Some("bunch"));
}

#[test]
fn corrupted_compressed_payload() {
    for c in ["zlib", "lz4", "zstd", "lzma"] {
        let mut b = sample_file(c);
        let f = RootFile::from_bytes("x", b.clone()).unwrap();
        let k = f.key("laser/inFill/xtal0").unwrap();
        let start = (k.seek_key + u64::from(k.keylen)) as usize + 9 + 12;
        for x in &mut b[start..start + 16] {
            *x ^= 0xA5;
        }
        expect_err(
            b,
            |k| matches!(k, ErrorKind::Decompress { .. } | ErrorKind::Decode { .. } | ErrorKind::SizeMismatch { .. }),
            Some("laser/inFill/xtal0"),
        );
    }
}

#[test]
fn unknown_class_is_a_typed_error() {
    let f = RootFile::open(fixture("root-written/uproot-hepdata-example.root")).unwrap();
    let e = f.hist("ntuple").unwrap_err();
    assert!(matches!(*e.kind, ErrorKind::UnsupportedClass { .. }), "{e}");
    assert!(e.to_string().contains("TNtuple"), "{e}");
}

#[test]
fn missing_object_lists_what_is_there() {
    let f = RootFile::from_bytes("s.root", sample_file("zstd")).unwrap();
    let e = f.hist("laser/inFill/xtal9").unwrap_err().to_string();
    assert!(e.contains("xtal9") && e.contains("xtal0") && e.contains("laser/inFill"), "{e}");
    let e = f.hist("bunch/x").unwrap_err().to_string();
    assert!(e.contains("not a directory"), "{e}");
}

/// xorshift64*: deterministic mutations for a reproducible failure report.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

fn mutate(b: &mut Vec<u8>, r: &mut Rng) -> String {
    // Half the mutations hit the header and the key lists near the end, where the
    // structure is; the rest anywhere.
    let len = b.len();
    let at = match r.below(4) {
        0 => r.below(120.min(len)),
        1 => len - 1 - r.below(len.min(4000)),
        _ => r.below(len),
    };
    match r.below(5) {
        0 => {
            let n = 1 + r.below(4);
            for x in &mut b[at..(at + n).min(len)] {
                *x ^= 1 << r.below(8);
            }
            format!("flip bits at {at}")
        }
        1 => {
            let v: u32 = [0, 0xFFFF_FFFF, 0x7FFF_FFFF, 0x8000_0000, 0x4000_0000, 1, r.next() as u32][r.below(7)];
            for (i, x) in v.to_be_bytes().iter().enumerate() {
                if at + i < len {
                    b[at + i] = *x;
                }
            }
            format!("write {v:#x} at {at}")
        }
        2 => {
            b.truncate(at.max(1));
            format!("truncate to {at}")
        }
        3 => {
            let n = 1 + r.below(64);
            for x in &mut b[at..(at + n).min(len)] {
                *x = 0;
            }
            format!("zero {n} bytes at {at}")
        }
        _ => {
            let n = 1 + r.below(16);
            let src = r.below(len);
            for i in 0..n {
                if at + i < len && src + i < len {
                    b[at + i] = b[src + i];
                }
            }
            format!("copy {n} bytes from {src} to {at}")
        }
    }
}

#[test]
fn mutated_fixtures_never_panic() {
    let seconds: u64 = std::env::var("GM2DQC_FUZZ_SECONDS").ok().and_then(|s| s.parse().ok()).unwrap_or(10);
    let mut inputs: Vec<(String, Vec<u8>)> = Vec::new();
    for sub in ["root640", "uproot-written", "root-written", "trees"] {
        for f in root_files(sub) {
            let b = std::fs::read(&f).unwrap();
            if b.len() < 300_000 {
                inputs.push((f.display().to_string(), b));
            }
        }
    }
    for c in ["zlib", "lz4", "zstd", "lzma", "none"] {
        inputs.push((format!("sample-{c}"), sample_file(c)));
    }
    // Silence the panic printer on this thread only (other tests run in parallel and
    // need theirs); panics here are collected and reported below.
    thread_local!(static QUIET: std::cell::Cell<bool> = const { std::cell::Cell::new(false) });
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if !QUIET.with(|q| q.get()) {
            previous(info);
        }
    }));
    QUIET.with(|q| q.set(true));
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let mut r = Rng(0x9E37_79B9_7F4A_7C15);
    let (mut runs, mut errors) = (0usize, 0usize);
    let mut panics = Vec::new();
    while Instant::now() < deadline {
        let (name, orig) = &inputs[r.below(inputs.len())];
        let mut b = orig.clone();
        let mut what = Vec::new();
        for _ in 0..1 + r.below(3) {
            what.push(mutate(&mut b, &mut r));
        }
        match catch_unwind(AssertUnwindSafe(|| read_all(b))) {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => {
                errors += 1;
                assert!(e.to_string().starts_with("damaged.root"), "{e}");
            }
            Err(p) => {
                let msg = p.downcast_ref::<String>().cloned().or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()));
                panics.push(format!("{name}: {} -> panic {msg:?}", what.join(", ")));
            }
        }
        runs += 1;
    }
    QUIET.with(|q| q.set(false));
    eprintln!("mutation run: {runs} mutated files, {errors} typed errors, {} panics", panics.len());
    assert!(runs > 50, "only {runs} mutations in {seconds} s");
    assert!(panics.is_empty(), "{} panics, first ones:\n{}", panics.len(), panics[..panics.len().min(10)].join("\n"));
}
