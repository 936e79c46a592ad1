//! Reading one subrun file of the production layout (spec section 2, as `gm2dqc
//! simulate` writes it): every object,
//! on one thread and on two, against the floor of only decompressing the same
//! payloads. Prints objects/s and MB/s per compression; `--json FILE` also writes the
//! figures for benches/compare_uproot.py, which times uproot on the same files.
//!
//! Run: `cargo bench --bench root_read` (release profile).
//! The files are written to target/bench-data/subrun-<compression>.root.

use std::path::{Path, PathBuf};

mod timing;
mod workload;
use workload::{is_hist, read_everything};
use timing::time;

use gm2dqc::hist::Histogram;
use gm2dqc::root::RootFile;
use gm2dqc::simulate::{plan, subrun_file, CompressionChoice, SimConfig};
use rayon::prelude::*;

/// One subrun file of the production layout, as `gm2dqc simulate` writes it.
fn contract_subrun(compression: &str) -> Vec<u8> {
    let mut cfg = SimConfig::new("unused", 1, 1, 12345);
    cfg.compression = CompressionChoice::Fixed(compression.parse().unwrap());
    subrun_file(&plan(&cfg), 0)
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
        let objects: Vec<_> = entries.iter().filter(|e| is_hist(&e.key)).cloned().collect();
        let raw_mb: f64 = objects.iter().map(|e| e.key.objlen as f64).sum::<f64>() / 1e6;
        // Floor: only fetch and decompress every payload (what any reader must do).
        let t_floor = pool1.install(|| time(reps, || objects.iter().map(|e| file.object_bytes(&e.key, &e.path).unwrap().len()).sum::<usize>()));
        // Full: parse the file from its bytes in memory (as the floor has them), walk the
        // directories, decode every object, build histograms.
        let shared = std::sync::Arc::new(bytes.clone());
        let t_read = pool1.install(|| {
            time(reps, || {
                let f = RootFile::from_shared(&path, shared.clone()).unwrap();
                read_everything(&f)
            })
        });
        // From disk with positioned reads, objects decoded in parallel on 2 threads.
        let t_par = pool2.install(|| {
            time(reps, || {
                let f = RootFile::open(&path).unwrap();
                let (entries, _) = f.walk();
                entries
                    .par_iter()
                    .filter(|e| is_hist(&e.key))
                    .map(|e| Histogram::from_raw(f.hist_from_key(&e.key, &e.path).unwrap()).unwrap().axes().len())
                    .sum::<usize>()
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
