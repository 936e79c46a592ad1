//! Every histogram in the fixture files reads back as ROOT (or uproot) says it should.
//!
//! The expected numbers in `X.root.json` were computed by C++ ROOT (root640/,
//! GetBinContent, GetBinError, GetMean, ...), by uproot (root-written/, uproot-written/),
//! never by this project. Values of float32 classes are compared to 1e-6 relative.

use std::io::Read;
use std::path::Path;

use gm2dqc::hist::Histogram;
use gm2dqc::inspect::object_json;
use gm2dqc::root::RootFile;
use serde_json::Value;

use crate::common::{assert_all_close, close, fixture, root_files};

fn load_json(root: &Path) -> Value {
    let plain = root.with_file_name(format!("{}.json", root.file_name().unwrap().to_string_lossy()));
    let xz = root.with_file_name(format!("{}.json.xz", root.file_name().unwrap().to_string_lossy()));
    let text = if plain.exists() {
        std::fs::read_to_string(&plain).unwrap()
    } else {
        let mut s = String::new();
        liblzma::read::XzDecoder::new(std::fs::File::open(&xz).unwrap_or_else(|_| panic!("no json for {}", root.display())))
            .read_to_string(&mut s)
            .unwrap();
        s
    };
    serde_json::from_str(&text).unwrap()
}

fn floats(v: &Value) -> Vec<f64> {
    v.as_array().expect("array").iter().map(|x| x.as_f64().expect("number")).collect()
}

/// Checks one file against its json; returns how many objects were compared.
fn check_file(root: &Path) -> usize {
    let expected = load_json(root);
    let file = RootFile::open(root).unwrap_or_else(|e| panic!("{e}"));
    let objects = expected["objects"].as_array().unwrap();
    assert!(!objects.is_empty());
    for o in objects {
        let path = o["path"].as_str().unwrap();
        let lookup = match o.get("cycle").and_then(Value::as_i64) {
            Some(c) => format!("{path};{c}"),
            None => path.to_string(),
        };
        let what = format!("{}:{lookup}", root.display());
        let raw = file.hist(&lookup).unwrap_or_else(|e| panic!("{e}"));
        let h = Histogram::from_raw(raw).unwrap();
        let got = object_json(&h, &lookup);
        let class = o["class"].as_str().unwrap();
        assert_eq!(got.path, path, "{what}");
        assert_eq!(got.class, class, "{what}");
        assert_eq!(got.title, o["title"].as_str().unwrap(), "{what}");
        assert!(close(got.entries, o["entries"].as_f64().unwrap(), 1e-12), "{what}: entries {}", got.entries);
        let rel = if class.ends_with('F') { 1e-6 } else { 1e-9 };
        let axes = o["axes"].as_array().unwrap();
        assert_eq!(got.axes.len(), axes.len(), "{what}: dimensions");
        for (a, e) in got.axes.iter().zip(axes) {
            assert_all_close(&format!("{what} edges"), &a.edges, &floats(&e["edges"]), 1e-12);
        }
        assert_all_close(&format!("{what} values"), &got.values, &floats(&o["values"]), rel);
        match (&got.variances, &o["variances"]) {
            (Some(g), e) if !e.is_null() => assert_all_close(&format!("{what} variances"), g, &floats(e), rel),
            (None, e) => assert!(e.is_null(), "{what}: expected variances"),
            (Some(_), _) => panic!("{what}: variances should be null"),
        }
        match (&got.errors, &o["errors"]) {
            (Some(g), e) if !e.is_null() => assert_all_close(&format!("{what} errors"), g, &floats(e), 1e-9),
            (None, e) => assert!(e.is_null(), "{what}: expected errors"),
            (Some(_), _) => panic!("{what}: errors should be null"),
        }
        if let Some(be) = o.get("bin_entries").filter(|v| !v.is_null()) {
            let p = h.as_profile().unwrap();
            let got: Vec<f64> = (0..p.ncells()).map(|b| p.bin_entries(b)).collect();
            assert_all_close(&format!("{what} bin entries"), &got, &floats(be), 1e-12);
        }
        if let Some(stats) = o.get("stats").filter(|v| !v.is_null()) {
            check_stats(&what, &h, stats);
        }
    }
    objects.len()
}

/// GetMean/GetRMS/Integral as ROOT computed them.
fn check_stats(what: &str, h: &Histogram, s: &Value) {
    let (mx, rx, my, ry) = match h {
        Histogram::Hist(x) => (x.mean(1), x.std_dev(1), x.mean(2), x.std_dev(2)),
        Histogram::Profile(p) => (p.mean(1), p.std_dev(1), p.mean(2), p.std_dev(2)),
    };
    for (name, got) in [("mean_x", mx), ("rms_x", rx), ("mean_y", my), ("rms_y", ry)] {
        if let Some(want) = s.get(name).and_then(Value::as_f64) {
            // 1D histograms: ROOT's GetMean(2) is the mean of the contents, not defined here.
            if let (Histogram::Hist(x), true) = (h, name.ends_with("_y")) {
                if x.dim() == 1 {
                    continue;
                }
            }
            assert!(close(got, want, 1e-9), "{what}: {name} = {got}, ROOT says {want}");
        }
    }
    if let Histogram::Hist(x) = h {
        if let Some(want) = s.get("integral").and_then(Value::as_f64) {
            let got = if x.dim() == 1 {
                x.integral(1, x.x().nbins as i64)
            } else {
                x.integral_2d(1, x.x().nbins as i64, 1, x.y().unwrap().nbins as i64)
            };
            assert!(close(got, want, 1e-9), "{what}: Integral() = {got}, ROOT says {want}");
        }
        if let Some(want) = s.get("integral_1_3").and_then(Value::as_f64) {
            if x.dim() == 1 {
                assert!(close(x.integral(1, 3), want, 1e-9), "{what}: Integral(1,3)");
            }
        }
    }
}

#[test]
fn files_written_by_root_5_28_to_6_28_and_g4tools_read_as_uproot_reads_them() {
    let files = root_files("root-written");
    // Geant4's g4tools writer: TH1D v1 / TH1 v3 without byte counts (issue 16, item 7).
    assert!(files.iter().any(|f| f.ends_with("uproot-issue-250.root")), "uproot-issue-250.root missing");
    let n: usize = files.iter().map(|f| check_file(f)).sum();
    assert!(n >= 20, "compared {n} objects");
}

#[test]
fn files_written_by_root_6_40_with_every_class_and_compression() {
    let files = root_files("root640");
    let n: usize = files.iter().map(|f| check_file(f)).sum();
    for c in ["none", "zlib", "lz4", "zstd", "lzma"] {
        assert!(files.iter().any(|f| f.ends_with(format!("classes-{c}.root"))), "classes-{c}.root missing");
    }
    assert!(n >= 5 * 26, "compared {n} objects");
}

#[test]
fn files_written_by_uproot_with_each_compression() {
    let n: usize = root_files("uproot-written").iter().map(|f| check_file(f)).sum();
    assert!(n >= 5 * 4, "compared {n} objects");
}

#[test]
fn multiblock_object_spans_several_compressed_blocks() {
    // The 18 MB TH2D is split by ROOT into blocks of at most 16 MiB.
    for f in ["root640/multiblock-zlib.root", "root640/multiblock-zstd.root"] {
        let file = RootFile::open(fixture(f)).unwrap();
        let key = file.key("big").unwrap();
        assert!(key.objlen > 0xff_ffff, "{f}: object is {} bytes, not multi-block", key.objlen);
        assert!(key.is_compressed());
    }
}

#[test]
fn cycles_pick_the_highest_by_default() {
    let file = RootFile::open(fixture("root640/classes-zstd.root")).unwrap();
    let newest = file.hist("cyc").unwrap();
    let second = file.hist("cyc;2").unwrap();
    let first = file.hist("cyc;1").unwrap();
    assert_eq!(newest, second);
    assert_ne!(first.entries, second.entries);
    let e = file.hist("cyc;7").unwrap_err().to_string();
    assert!(e.contains("cyc;7") && e.contains("inspect"), "{e}");
}

#[test]
fn objects_are_read_concurrently_from_one_file() {
    use rayon::prelude::*;
    let file = RootFile::open(fixture("root640/classes-lz4.root")).unwrap();
    let (entries, errors) = file.walk();
    assert!(errors.is_empty());
    let hists: Vec<_> = entries.iter().filter(|e| !e.key.is_directory()).collect();
    let serial: Vec<_> = hists.iter().map(|e| file.hist_from_key(&e.key, &e.path).unwrap()).collect();
    for _ in 0..4 {
        let parallel: Vec<_> = hists.par_iter().map(|e| file.hist_from_key(&e.key, &e.path).unwrap()).collect();
        assert_eq!(parallel, serial);
    }
}
