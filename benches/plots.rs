//! The plots stage: the full standard set (PNG and SVG of every page), the report
//! and the e-log entry for a 24-subrun dataset, on 1 and 2 threads.
//!
//!     cargo bench --bench plots [-- --quick]
//!
//! The dataset is simulated and analysed with the gm2dqc binary first (not timed).

use std::path::Path;
use std::process::Command;

mod timing;
use timing::time;

fn gm2dqc(args: &[&str]) {
    let o = Command::new(env!("CARGO_BIN_EXE_gm2dqc")).args(args).output().expect("gm2dqc runs");
    assert!(o.status.success(), "gm2dqc {args:?}: {}", String::from_utf8_lossy(&o.stderr));
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let reps = if quick { 3 } else { 7 };
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bench-data/plots");
    let (data, out) = (dir.join("data"), dir.join("out"));
    if !out.join("subrun_metrics.parquet").exists() {
        gm2dqc(&["-q", "simulate", "--out", data.to_str().unwrap(), "--runs", "2", "--subruns", "12", "--seed", "3", "--force"]);
        gm2dqc(&["-q", "analyze", "--input", data.to_str().unwrap(), "--out", out.to_str().unwrap()]);
    }
    let plots_dir = out.join("plots");
    std::fs::create_dir_all(&plots_dir).unwrap();
    let load = || gm2dqc::plots::load(&out, gm2dqc::cuts::standard(), "bench", Some("bench".into()), &[], 4).unwrap();
    let inputs = load();
    let specs = gm2dqc::plots::standard_set(&inputs, 6);
    let t_load = time(reps, load);
    let mut per_threads = Vec::new();
    for threads in [1, 2] {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
        let t = time(reps, || {
            let (ok, errors) = pool.install(|| gm2dqc::plots::render_all(&inputs, &specs, &plots_dir, &|_| {}));
            assert!(errors.is_empty(), "{errors:?}");
            ok.len()
        });
        per_threads.push(t);
    }
    let (rendered, _) = gm2dqc::plots::render_all(&inputs, &specs, &plots_dir, &|_| {});
    let info = gm2dqc::plots::report::RunInfo { software: "bench".into(), ..Default::default() };
    let t_report = time(reps, || {
        gm2dqc::plots::report::write_html(&out, &inputs, &rendered, &info, "plots").unwrap();
        gm2dqc::plots::report::write_elog(&out, &inputs, &rendered, &info).unwrap().len()
    });
    let mb = std::fs::metadata(out.join("report.html")).unwrap().len() as f64 / 1e6;
    println!("dataset: 2 runs x 12 subruns; standard set: {} pages, each PNG + SVG", specs.len());
    println!("read the tables and merged files       {:>8.1} ms", t_load * 1e3);
    println!("render the standard set, 1 thread      {:>8.1} ms  ({:.1} ms per page)", per_threads[0] * 1e3, per_threads[0] * 1e3 / specs.len() as f64);
    println!("render the standard set, 2 threads     {:>8.1} ms  ({:.2}x)", per_threads[1] * 1e3, per_threads[0] / per_threads[1]);
    println!("report.html ({mb:.1} MB) + elog.txt      {:>8.1} ms", t_report * 1e3);
    println!("whole stage on 2 threads               {:>8.1} ms  (target: seconds)", (t_load + per_threads[1] + t_report) * 1e3);
}
