//! Writes histograms of every class the writer supports, in nested directories, with
//! one file per compression, plus `expected.json` with the numbers this project
//! holds for them (in the `gm2dqc inspect --json` format). The cross-check
//! (tests/crosscheck/crosscheck.py) opens these files with uproot and with C++ ROOT,
//! which must read the same numbers.
//!
//! Usage: cargo run --example write_sample -- OUTDIR

use std::collections::BTreeMap;
use std::path::PathBuf;

use gm2dqc::hist::{Axis, ErrorMode, Hist, Histogram, Profile};
use gm2dqc::inspect::object_json;
use gm2dqc::root::bytes::ArrayElem;
use gm2dqc::root::{RootWriter, WriteOptions};

fn main() {
    let out = PathBuf::from(std::env::args().nth(1).expect("usage: write_sample OUTDIR"));
    std::fs::create_dir_all(&out).unwrap();
    let mut seed: u64 = 42;
    let mut rnd = move || {
        seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (seed >> 11) as f64 / (1u64 << 53) as f64
    };
    let gauss = move |r: &mut dyn FnMut() -> f64| {
        let (u, v) = (r().max(1e-300), r());
        (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()
    };
    let mut objects: Vec<(String, Histogram)> = Vec::new();
    for (elem, tag) in [(ArrayElem::F32, "F"), (ArrayElem::F64, "D"), (ArrayElem::I32, "I"), (ArrayElem::I16, "S"), (ArrayElem::I8, "C")] {
        let mut h = Hist::new_1d(&format!("h1{tag}"), &format!("TH1{tag} gaussian"), Axis::fixed(50, -5.0, 5.0).with_title("x [mm]"), elem);
        for _ in 0..2000 {
            h.fill(1.8 * gauss(&mut rnd), 1.0);
        }
        objects.push((format!("calo/calo1/h1{tag}"), Histogram::Hist(h)));
        let mut h2 = Hist::new_2d(&format!("h2{tag}"), &format!("TH2{tag}"), Axis::fixed(20, -3.0, 3.0), Axis::variable(vec![-3.0, -1.0, 0.0, 0.5, 3.0]), elem);
        for _ in 0..1000 {
            h2.fill_2d(1.2 * gauss(&mut rnd), gauss(&mut rnd), 1.0);
        }
        objects.push((format!("tracker/h2{tag}"), Histogram::Hist(h2)));
    }
    let mut w = Hist::new_1d("weighted", "weighted, variable bins", Axis::variable(vec![0.0, 1.0, 2.0, 4.0, 8.0, 16.0]), ArrayElem::F64);
    for _ in 0..500 {
        w.fill(20.0 * rnd(), 0.5 + rnd());
    }
    objects.push(("weighted".into(), Histogram::Hist(w)));
    for (mode, name) in [(ErrorMode::Mean, "xtal0"), (ErrorMode::Spread, "xtal1")] {
        let mut p = Profile::new_1d(name, "in-fill gain ratio", Axis::fixed(200, 0.0, 400.0).with_title("time in fill [us]"));
        p.error_mode = mode;
        for _ in 0..20000 {
            let t = 400.0 * rnd();
            p.fill(t, 1.0 - 0.02 * (-t / 15.0).exp() + 0.002 * gauss(&mut rnd), 1.0);
        }
        objects.push((format!("laser/inFill/calo1/{name}"), Histogram::Profile(p)));
    }
    let mut pw = Profile::new_1d("weighted_profile", "", Axis::fixed(10, 0.0, 1.0));
    for _ in 0..300 {
        pw.fill(rnd(), gauss(&mut rnd), 0.2 + rnd());
    }
    objects.push(("weighted_profile".into(), Histogram::Profile(pw)));
    let mut p2 = Profile::new_2d("prof2d", "TProfile2D", Axis::fixed(6, 0.0, 1.0), Axis::fixed(5, 0.0, 1.0));
    for _ in 0..800 {
        p2.fill_2d(rnd(), rnd(), 10.0 + gauss(&mut rnd), 1.0);
    }
    objects.push(("prof2d".into(), Histogram::Profile(p2)));
    let mut empty = Hist::new_1d("empty", "no entries", Axis::fixed(4, 0.0, 1.0), ArrayElem::F32);
    empty.title = "a title that is longer than two hundred and fifty five characters, ".repeat(5);
    objects.push(("empty".into(), Histogram::Hist(empty)));

    let mut expected = BTreeMap::new();
    for comp in ["none", "zlib", "lz4", "zstd", "lzma"] {
        let mut wr = RootWriter::new(WriteOptions { compression: comp.parse().unwrap(), timestamp: 1_750_000_000, title: format!("gm2dqc write_sample {comp}") });
        for (path, h) in &objects {
            wr.put_hist(path, &h.to_raw()).unwrap();
        }
        let file = out.join(format!("gm2dqc-{comp}.root"));
        wr.write(&file).unwrap();
        expected.insert(file.file_name().unwrap().to_string_lossy().into_owned(), comp);
    }
    let objs: Vec<_> = objects
        .iter()
        .map(|(p, h)| {
            let mut j = serde_json::to_value(object_json(h, p)).unwrap();
            // The key name is the object name, as ROOT's Write(name).
            j["name"] = p.rsplit('/').next().unwrap().into();
            if let Histogram::Profile(pr) = h {
                j["error_mode"] = pr.error_mode.code().into();
                j["bin_entries"] = (0..pr.ncells()).map(|b| pr.bin_entries(b)).collect::<Vec<_>>().into();
            }
            j
        })
        .collect();
    let doc = serde_json::json!({ "files": expected, "objects": objs });
    std::fs::write(out.join("expected.json"), serde_json::to_string(&doc).unwrap()).unwrap();
    println!("wrote {} files with {} objects each to {}", expected.len(), objects.len(), out.display());
}
