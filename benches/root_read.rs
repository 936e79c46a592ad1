//! Reading one subrun file of the production layout (spec section 2): every object,
//! on one thread and on two, against the floor of only decompressing the same
//! payloads. Prints objects/s and MB/s per compression; `--json FILE` also writes the
//! figures for benches/compare_uproot.py, which times uproot on the same files.
//!
//! Run: `cargo bench --bench root_read` (release profile).
//! The files are written to target/bench-data/subrun-<compression>.root.

use std::path::{Path, PathBuf};
use std::time::Instant;

use gm2dqc::hist::{Axis, Hist, Histogram, Profile};
use gm2dqc::root::bytes::ArrayElem;
use gm2dqc::root::{RootFile, RootWriter, WriteOptions};
use rayon::prelude::*;

struct Rng(u64);
impl Rng {
    fn uniform(&mut self) -> f64 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
    fn gauss(&mut self) -> f64 {
        let (u, v) = (self.uniform().max(1e-300), self.uniform());
        (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()
    }
}

fn h1(name: &str, n: usize, lo: f64, hi: f64, elem: ArrayElem) -> Hist {
    Hist::new_1d(name, name, Axis::fixed(n, lo, hi), elem)
}

/// One subrun file with every object of the contract layout and plausible contents.
fn contract_subrun(compression: &str) -> Vec<u8> {
    let mut r = Rng(12345);
    let mut w = RootWriter::new(WriteOptions { compression: compression.parse().unwrap(), timestamp: 1_700_000_000, title: String::new() });
    let mut put = |path: &str, h: &Histogram| w.put_hist(path, &h.to_raw()).unwrap();
    for dir in ["offNearlineWithDQC", "offNearlineNoDQC"] {
        let mut b = h1("bunch", 16, 0.0, 16.0, ArrayElem::F64);
        let mut c = h1("nearlineCTag", 24, 0.5, 24.5, ArrayElem::F64);
        let mut t = h1("t0", 1, 0.0, 1.0, ArrayElem::F64);
        for i in 0..100 {
            b.fill((i % 16) as f64 + 0.5, 1.0);
            t.fill(0.5, 1.0);
        }
        for cal in 1..=24 {
            for _ in 0..300 {
                c.fill(cal as f64, 1.0);
            }
        }
        put(&format!("{dir}/bunch"), &Histogram::Hist(b));
        put(&format!("{dir}/nearlineCTag"), &Histogram::Hist(c));
        put(&format!("{dir}/t0"), &Histogram::Hist(t));
    }
    for m in ["ibms1x", "ibms1y", "ibms2x", "ibms2y"] {
        let mut mean = h1(&format!("{m}Mean"), 100, -20.0, 20.0, ArrayElem::F64);
        let mut rms = h1(&format!("{m}RMS"), 100, 0.0, 40.0, ArrayElem::F64);
        for _ in 0..100 {
            mean.fill(2.0 * r.gauss(), 1.0);
            rms.fill(10.0 + r.gauss(), 1.0);
        }
        put(&format!("offNearlineWithDQC/{m}Mean"), &Histogram::Hist(mean));
        put(&format!("offNearlineWithDQC/{m}RMS"), &Histogram::Hist(rms));
    }
    let mut ped = Profile::new_1d("pedestalRMS", "", Axis::fixed(1296, -0.5, 1295.5));
    let mut oof = Profile::new_1d("outOfFill", "", Axis::fixed(1296, -0.5, 1295.5));
    for calo in 1..=24 {
        for x in 0..54 {
            let ch = (calo - 1) * 54 + x;
            let mut e = h1(&format!("xtal{x}Energy"), 250, 0.0, 4000.0, ArrayElem::F32);
            for _ in 0..4000 {
                // A falling spectrum with a bump, different per calorimeter.
                let v = -(r.uniform().max(1e-12)).ln() * (400.0 + 10.0 * calo as f64);
                e.fill(v, 1.0);
            }
            put(&format!("calo/calo{calo}/xtal{x}Energy"), &Histogram::Hist(e));
            let mut p = Profile::new_1d(&format!("xtal{x}"), "", Axis::fixed(200, 0.0, 400.0));
            let (a, tau) = (0.002 + 0.03 * r.uniform(), 3.0 + 30.0 * r.uniform());
            for _ in 0..6000 {
                let t = 400.0 * r.uniform();
                p.fill(t, 1.0 - a * (-t / tau).exp() + 0.003 * r.gauss(), 1.0);
            }
            put(&format!("laser/inFill/calo{calo}/xtal{x}"), &Histogram::Profile(p));
            for _ in 0..20 {
                ped.fill(ch as f64, 2.0 + 0.2 * r.gauss(), 1.0);
                oof.fill(ch as f64, 0.8 + 0.01 * r.gauss(), 1.0);
            }
        }
    }
    put("calo/pedestalRMS", &Histogram::Profile(ped));
    put("laser/outOfFill", &Histogram::Profile(oof));
    let mut sm = Profile::new_1d("sourceMonitor", "", Axis::fixed(6, 0.5, 6.5));
    for l in 1..=6 {
        for _ in 0..50 {
            sm.fill(l as f64, 1000.0 + 20.0 * r.gauss(), 1.0);
        }
    }
    put("laser/sourceMonitor", &Histogram::Profile(sm));
    for (name, mean, sd) in [("amplitude", 135.0, 2.0), ("timing", 0.0, 5.0), ("fwhm", 150.0, 5.0)] {
        let mut k = Profile::new_1d(name, "", Axis::fixed(3, 0.5, 3.5));
        for kk in 1..=3 {
            for _ in 0..100 {
                k.fill(kk as f64, mean + sd * r.gauss(), 1.0);
            }
        }
        put(&format!("kicker/{name}"), &Histogram::Profile(k));
    }
    for (name, v) in [("step1Voltage", 18.2), ("step2Voltage", 23.2)] {
        let mut q = h1(name, 300, 0.0, 30.0, ArrayElem::F64);
        for _ in 0..100 {
            q.fill(v + 0.05 * r.gauss(), 1.0);
        }
        put(&format!("quad/{name}"), &Histogram::Hist(q));
    }
    let mut s = h1("singles", 100, 30.0, 630.0, ArrayElem::F64);
    let mut d = h1("doublesDeltaT", 100, 0.0, 20.0, ArrayElem::F64);
    for _ in 0..20000 {
        s.fill(30.0 + 600.0 * r.uniform(), 1.0);
    }
    for _ in 0..2000 {
        d.fill(20.0 * r.uniform(), 1.0);
        d.fill(5.0 + r.gauss(), 1.0);
    }
    put("losses/singles", &Histogram::Hist(s));
    put("losses/doublesDeltaT", &Histogram::Hist(d));
    let mut hits = h1("strawHits", 2048, -0.5, 2047.5, ArrayElem::F64);
    let mut drift = Hist::new_2d("driftTime", "", Axis::fixed(2048, -0.5, 2047.5), Axis::fixed(60, 0.0, 120.0), ArrayElem::F32);
    for straw in 0..2048 {
        for _ in 0..60 {
            hits.fill(straw as f64, 1.0);
            drift.fill_2d(straw as f64, 100.0 * (r.uniform() + r.uniform()) / 2.0, 1.0);
        }
    }
    put("tracker/strawHits", &Histogram::Hist(hits));
    put("tracker/driftTime", &Histogram::Hist(drift));
    put("tracker/hvTrips", &Histogram::Hist(h1("hvTrips", 16, -0.5, 15.5, ArrayElem::F64)));
    w.to_bytes("gm2offline_dqc_bench_15921.00042.root")
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

/// Median seconds of `reps` runs of `f`.
fn time(reps: usize, mut f: impl FnMut() -> usize) -> (f64, usize) {
    let mut n = 0;
    let t: Vec<f64> = (0..reps)
        .map(|_| {
            let t0 = Instant::now();
            n = std::hint::black_box(f());
            t0.elapsed().as_secs_f64()
        })
        .collect();
    (median(t), n)
}

fn read_everything(file: &RootFile) -> usize {
    let (entries, errors) = file.walk();
    assert!(errors.is_empty());
    let mut n = 0;
    for e in entries.iter().filter(|e| !e.key.is_directory()) {
        let h = Histogram::from_raw(file.hist_from_key(&e.key, &e.path).unwrap()).unwrap();
        n += h.axes().len();
    }
    n
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let json_out = args.iter().position(|a| a == "--json").map(|i| PathBuf::from(&args[i + 1]));
    let quick = args.iter().any(|a| a == "--quick");
    let reps = if quick { 3 } else { 9 };
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bench-data");
    std::fs::create_dir_all(&dir).unwrap();
    let pool1 = rayon::ThreadPoolBuilder::new().num_threads(1).build().unwrap();
    let pool2 = rayon::ThreadPoolBuilder::new().num_threads(2).build().unwrap();
    let mut results = Vec::new();
    println!("{:<6} {:>9} {:>8} {:>13} {:>13} {:>13} {:>13} {:>10}", "comp", "file MB", "objects", "floor obj/s", "read obj/s", "read MB/s", "2 thr obj/s", "read/floor");
    let only = args.iter().position(|a| a == "--only").map(|i| args[i + 1].clone());
    for comp in ["zstd", "zlib", "lz4", "lzma", "none"] {
        if only.as_deref().is_some_and(|o| o != comp) {
            continue;
        }
        let path = dir.join(format!("subrun-{comp}.root"));
        let bytes = contract_subrun(comp);
        std::fs::write(&path, &bytes).unwrap();
        let file_mb = bytes.len() as f64 / 1e6;
        let file = RootFile::from_bytes(&path, bytes.clone()).unwrap();
        let (entries, _) = file.walk();
        let objects: Vec<_> = entries.iter().filter(|e| !e.key.is_directory()).cloned().collect();
        let raw_mb: f64 = objects.iter().map(|e| e.key.objlen as f64).sum::<f64>() / 1e6;
        // Floor: only fetch and decompress every payload (what any reader must do).
        let (t_floor, _) = pool1.install(|| time(reps, || objects.iter().map(|e| file.object_bytes(&e.key, &e.path).unwrap().len()).sum()));
        // Full: parse the file from its bytes in memory (as the floor has them), walk the
        // directories, decode every object, build histograms.
        let shared = std::sync::Arc::new(bytes.clone());
        let (t_read, _) = pool1.install(|| {
            time(reps, || {
                let f = RootFile::from_shared(&path, shared.clone()).unwrap();
                read_everything(&f)
            })
        });
        // From disk with positioned reads, objects decoded in parallel on 2 threads.
        let (t_par, _) = pool2.install(|| {
            time(reps, || {
                let f = RootFile::open(&path).unwrap();
                let (entries, _) = f.walk();
                entries
                    .par_iter()
                    .filter(|e| !e.key.is_directory())
                    .map(|e| Histogram::from_raw(f.hist_from_key(&e.key, &e.path).unwrap()).unwrap().axes().len())
                    .sum()
            })
        });
        let n = objects.len() as f64;
        println!(
            "{comp:<6} {file_mb:>9.2} {:>8} {:>13.0} {:>13.0} {:>13.1} {:>13.0} {:>10.2}",
            objects.len(),
            n / t_floor,
            n / t_read,
            file_mb / t_read,
            n / t_par,
            t_read / t_floor
        );
        results.push(serde_json::json!({
            "compression": comp, "file": path, "file_mb": file_mb, "uncompressed_mb": raw_mb, "objects": objects.len(),
            "floor_s": t_floor, "read_s": t_read, "read_2threads_s": t_par,
        }));
    }
    if let Some(p) = json_out {
        std::fs::write(&p, serde_json::to_string_pretty(&results).unwrap()).unwrap();
        println!("figures written to {}", p.display());
    }
}
