//! The writer: files read back identically, every class and compression, nested
//! directories and cycles, and byte-identical output for identical input.
//! (That uproot and C++ ROOT read these files is checked by tests/crosscheck/.)

use gm2dqc::hist::{Axis, Hist, Histogram, Profile};
use gm2dqc::root::bytes::ArrayElem;
use gm2dqc::root::{Compression, RootFile, RootWriter, WriteOptions};

use crate::common::TempDir;

fn filled_hists() -> Vec<(String, Histogram)> {
    let mut out = Vec::new();
    let mut x: u64 = 7;
    let mut rnd = move || {
        x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (x >> 11) as f64 / (1u64 << 53) as f64
    };
    for (elem, tag) in [(ArrayElem::F32, "f"), (ArrayElem::F64, "d"), (ArrayElem::I32, "i"), (ArrayElem::I16, "s"), (ArrayElem::I8, "c")] {
        let mut h = Hist::new_1d(&format!("h1{tag}"), &format!("TH1{tag} test"), Axis::fixed(40, -2.0, 2.0).with_title("x [mm]"), elem);
        for _ in 0..500 {
            h.fill(4.4 * rnd() - 2.2, 1.0);
        }
        out.push((format!("a/b/c/h1{tag}"), Histogram::Hist(h)));
        let mut h2 = Hist::new_2d(&format!("h2{tag}"), "2D", Axis::fixed(10, 0.0, 1.0), Axis::variable(vec![0.0, 0.1, 0.5, 1.0]), elem);
        for _ in 0..300 {
            h2.fill_2d(rnd(), rnd(), 1.0);
        }
        out.push((format!("two/h2{tag}"), Histogram::Hist(h2)));
    }
    let mut w = Hist::new_1d("weighted", "weighted fills", Axis::variable(vec![0.0, 1.0, 2.0, 4.0, 8.0]), ArrayElem::F64);
    for _ in 0..100 {
        w.fill(9.0 * rnd(), 0.5 + rnd());
    }
    out.push(("weighted".into(), Histogram::Hist(w)));
    let mut p = Profile::new_1d("prof", "in-fill gain", Axis::fixed(200, 0.0, 400.0).with_title("t [us]"));
    for _ in 0..5000 {
        let t = 400.0 * rnd();
        p.fill(t, 1.0 - 0.02 * (-t / 20.0).exp() + 0.001 * (rnd() - 0.5), 1.0);
    }
    out.push(("laser/inFill/calo1/xtal0".into(), Histogram::Profile(p)));
    let mut p2 = Profile::new_2d("prof2", "", Axis::fixed(5, 0.0, 1.0), Axis::fixed(4, 0.0, 1.0));
    for _ in 0..200 {
        p2.fill_2d(rnd(), rnd(), rnd(), 2.0);
    }
    out.push(("prof2".into(), Histogram::Profile(p2)));
    out
}

fn write_all(hists: &[(String, Histogram)], compression: Compression) -> RootWriter {
    let mut w = RootWriter::new(WriteOptions { compression, timestamp: 1_700_000_000, title: "test".into() });
    for (path, h) in hists {
        w.put_hist(path, &h.to_raw()).unwrap();
    }
    w
}

#[test]
fn every_class_and_compression_reads_back_identically() {
    let hists = filled_hists();
    let dir = TempDir::new("write");
    for c in ["none", "zlib", "lz4", "zstd", "lzma", "zstd:9", "zlib:9"] {
        let comp: Compression = c.parse().unwrap();
        let path = dir.0.join(format!("out-{}.root", c.replace(':', "")));
        write_all(&hists, comp).write(&path).unwrap();
        let f = RootFile::open(&path).unwrap();
        assert_eq!(f.header().compress, comp.fcompress());
        for (p, h) in &hists {
            let back = Histogram::from_raw(f.hist(p).unwrap()).unwrap();
            // The key name (last path component) is the object's name, as ROOT's Write(name).
            let mut want = h.clone();
            let name = p.rsplit('/').next().unwrap().to_string();
            match &mut want {
                Histogram::Hist(x) => x.name = name,
                Histogram::Profile(x) => x.name = name,
            }
            assert_eq!(back, want, "{c}: {p}");
        }
        // Directories appear as such in the listing.
        let (entries, errors) = f.walk();
        assert!(errors.is_empty());
        let dirs: Vec<&str> = entries.iter().filter(|e| e.key.is_directory()).map(|e| e.path.as_str()).collect();
        for d in ["a", "a/b", "a/b/c", "two", "laser", "laser/inFill", "laser/inFill/calo1"] {
            assert!(dirs.contains(&d), "{c}: directory {d} missing from {dirs:?}");
        }
    }
}

#[test]
fn output_is_deterministic() {
    let hists = filled_hists();
    let a = write_all(&hists, "zstd".parse().unwrap()).to_bytes("x.root");
    let b = write_all(&hists, "zstd".parse().unwrap()).to_bytes("x.root");
    assert_eq!(a, b);
}

#[test]
fn writing_a_name_twice_adds_a_cycle() {
    let mut h = Hist::new_1d("h", "", Axis::fixed(3, 0.0, 3.0), ArrayElem::F64);
    let mut w = RootWriter::new(WriteOptions { timestamp: 0, ..WriteOptions::default() });
    h.fill(0.5, 1.0);
    w.put_hist("d/h", &h.to_raw()).unwrap();
    h.fill(1.5, 1.0);
    w.put_hist("d/h", &h.to_raw()).unwrap();
    let f = RootFile::from_bytes("mem.root", w.to_bytes("mem.root")).unwrap();
    assert_eq!(f.hist("d/h;1").unwrap().entries, 1.0);
    assert_eq!(f.hist("d/h").unwrap().entries, 2.0);
    assert_eq!(f.key("d/h").unwrap().cycle, 2);
}

#[test]
fn a_large_object_is_split_into_blocks() {
    // 2.2 million cells of f64 = 17.6 MB uncompressed: two compression blocks.
    let mut h = Hist::new_2d("big", "", Axis::fixed(1500, 0.0, 1.0), Axis::fixed(1480, 0.0, 1.0), ArrayElem::F64);
    for i in 0..2000 {
        h.fill_2d((i as f64 * 0.618).fract(), (i as f64 * 0.414).fract(), 1.0);
    }
    for c in ["zlib", "zstd", "lz4"] {
        let mut w = RootWriter::new(WriteOptions { compression: c.parse().unwrap(), timestamp: 0, title: String::new() });
        w.put_hist("big", &h.to_raw()).unwrap();
        let f = RootFile::from_bytes("big.root", w.to_bytes("big.root")).unwrap();
        let k = f.key("big").unwrap();
        assert!(k.objlen > 0xff_ffff && k.is_compressed(), "{c}");
        assert_eq!(Histogram::from_raw(f.hist("big").unwrap()).unwrap(), Histogram::Hist(h.clone()), "{c}");
    }
}

#[test]
fn names_that_clash_are_refused() {
    let h = Hist::new_1d("h", "", Axis::fixed(3, 0.0, 3.0), ArrayElem::F64).to_raw();
    let mut w = RootWriter::new(WriteOptions::default());
    w.put_hist("d/h", &h).unwrap();
    let e = w.put_hist("d/h/x", &h).unwrap_err().to_string();
    assert!(e.contains("already names an object"), "{e}");
    let e = w.put_hist("d", &h).unwrap_err().to_string();
    assert!(e.contains("already names a directory"), "{e}");
}
