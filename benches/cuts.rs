//! What-if speed (issue 5): re-evaluating the standard cut set over a metrics table of
//! 100,000 subruns (1,000 runs of 100), from its Parquet file, as `gm2dqc cuts apply`
//! does; target under 1 s. Also the evaluation alone and a diff of two cut files.
//!
//! The table is synthetic but shaped like production: values scattered around the
//! standard working points, about 5 % of subruns pushed outside one cut, a few
//! nulls. Run: `cargo bench --bench cuts` (release profile); `-- --quick` for fewer
//! repetitions. Also: locating the diagnostics of a cut file with 8000 problems.

use std::path::Path;

mod timing;
use timing::time;

use gm2dqc::analysis::metrics::SubrunMetrics;
use gm2dqc::cuts::{self, eval};
use gm2dqc::tables;

/// A small deterministic generator (SplitMix64), so the table is the same every run.
struct Gen(u64);

impl Gen {
    fn next(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 53) as f64
    }

    fn around(&mut self, x: f64, spread: f64) -> f64 {
        x * (1.0 + spread * (2.0 * self.next() - 1.0))
    }
}

fn table(runs: u32, subruns: u32) -> Vec<SubrunMetrics> {
    let mut g = Gen(2026);
    let mut rows = Vec::with_capacity((runs * subruns) as usize);
    for run in 0..runs {
        for sub in 1..=subruns {
            let fills = (100.0 * g.around(1.0, 0.2)).round();
            let ctags = (fills * 80.0 * g.around(1.0, 0.2)).round();
            let mut m = SubrunMetrics {
                run: 20000 + run,
                subrun: sub,
                file: format!("gm2_{}.{sub:05}.root", 20000 + run),
                fills: Some(fills),
                fills_nodqc: Some((fills / 0.95).round()),
                fill_fraction: Some(fills / (fills / 0.95).round()),
                ctags: Some(ctags),
                ctags_per_fill: Some(ctags / fills),
                t0: Some(g.around(1000.0, 0.05)),
                quad_step1: Some(g.around(18.2, 0.01)),
                quad_step2: Some(g.around(23.2, 0.01)),
                kicker_amplitude: std::array::from_fn(|_| Some(g.around(135.0, 0.03))),
                kicker_timing: std::array::from_fn(|_| Some(4.0 * (2.0 * g.next() - 1.0))),
                kicker_fwhm: std::array::from_fn(|_| Some(g.around(150.0, 0.05))),
                laser_sm: std::array::from_fn(|_| Some(g.around(1000.0, 0.02))),
                loss_ratio_ctags: Some(g.around(0.01, 0.02)),
                loss_ratio_ctags_err: Some(0.0005),
                n_dead_xtals: Some(3),
                n_hot_xtals: Some(2),
                n_noisy_xtals: Some(3),
                n_dead_straws: Some(10),
                n_noisy_straws: Some(5),
                hv_trip_fills: Some(0.0),
                ..SubrunMetrics::default()
            };
            // About 5 % bad, each with one cause; a few nulls.
            match (g.next() * 100.0) as u32 {
                0 => m.kicker_amplitude[1] = Some(100.0),
                1 => m.t0 = Some(1500.0),
                2 => m.ctags_per_fill = Some(40.0),
                3 => m.hv_trip_fills = Some(3.0),
                4 => m.quad_step2 = None,
                _ => {}
            }
            rows.push(m);
        }
    }
    rows
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let reps = if quick { 3 } else { 9 };
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bench-data");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("subrun_metrics-100k.parquet");
    let rows = table(1000, 100);
    tables::write_parquet(&mut tables::subrun_metrics(&rows), &path).unwrap();
    let mb = std::fs::metadata(&path).unwrap().len() as f64 / 1e6;
    let standard = cuts::standard();
    let loose = cuts::parse(&cuts::STANDARD_TOML.replace("min = 120\nmax = 150", "min = 90\nmax = 150"), "loose").unwrap();

    let apply = || {
        let df = tables::read_parquet(&path).unwrap();
        let ev = eval::evaluate(&standard, &df).unwrap();
        (ev.summary_frame().height(), ev.ok.iter().filter(|x| **x).count())
    };
    let (_, good) = apply();
    let t_apply = time(reps, apply);
    let df = tables::read_parquet(&path).unwrap();
    let t_read = time(reps, || tables::read_parquet(&path).unwrap().height());
    let t_eval = time(reps, || eval::evaluate(&standard, &df).unwrap().ok.len());
    let t_status = time(reps, || eval::evaluate(&standard, &df).unwrap().status_frame().height());
    let t_diff = time(reps, || eval::diff(&eval::evaluate(&standard, &df).unwrap(), &eval::evaluate(&loose, &df).unwrap()).len());
    // A broken cut file with 8000 problems (one unknown metric per cut): the
    // diagnostics are located in one pass over the text, so this grows linearly.
    // Its peer in the same run: the same file with half the problems (linear: ratio 2).
    let broken = |n: usize| {
        let mut many = String::from("format = 1\nrequired = [\"f0_ok\"]\n");
        for i in 0..n {
            many.push_str(&format!("[[cut]]\nflag = \"f{i}_ok\"\nmetric = \"fils\"\nmin = {i}\n"));
        }
        many
    };
    let (half, many) = (broken(4000), broken(8000));
    let t_half = time(reps, || cuts::parse(&half, "half.toml").unwrap_err().len());
    let t_diag = time(reps, || cuts::parse(&many, "many.toml").unwrap_err().len());
    let n = rows.len();
    println!("metrics table: {n} subruns in 1000 runs, {mb:.1} MB Parquet; {good} ok under the standard cuts");
    println!("cuts apply (read Parquet + evaluate + summary)  {:>8.1} ms  ({:.0} subruns/s; target < 1000 ms)", t_apply * 1e3, n as f64 / t_apply);
    println!("  read Parquet                                  {:>8.1} ms", t_read * 1e3);
    println!("  evaluate 16 cuts, 10 flags                    {:>8.1} ms", t_eval * 1e3);
    println!("  evaluate + subrun_status frame                {:>8.1} ms", t_status * 1e3);
    println!("cuts diff (two evaluations + diff)              {:>8.1} ms", t_diff * 1e3);
    println!("cuts check, 8000 problems located               {:>8.1} ms  ({:.2}x the time of 4000 problems, {:.1} ms: linear is 2)", t_diag * 1e3, t_diag / t_half, t_half * 1e3);
}
