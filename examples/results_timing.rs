//! Times `results` on 20,000 subruns: `Results::open`, a filtered and sorted page,
//! `Tuner::new` and one `tune`. The subruns are an output directory's metrics rows
//! repeated under new (run, subrun) numbers.
//!
//! cargo run --release --example results_timing -- OUT   (OUT: a `gm2dqc run` output)

use std::path::PathBuf;
use std::time::Instant;

use gm2dqc::results::{Results, SubrunQuery, Tuner};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let out = PathBuf::from(std::env::args().nth(1).ok_or("give an output directory of `gm2dqc run`")?);
    let dir = std::env::temp_dir().join(format!("gm2dqc-results-timing-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    for e in std::fs::read_dir(&out)? {
        let p = e?.path();
        if p.is_file() {
            std::fs::copy(&p, dir.join(p.file_name().ok_or("a file name")?))?;
        }
    }
    let rows = gm2dqc::tables::subrun_metrics_rows(&gm2dqc::tables::Table::read(&out.join("subrun_metrics.parquet"))?)?;
    let big: Vec<_> = (0..20_000)
        .map(|i| {
            let mut m = rows[i % rows.len()].clone();
            (m.run, m.subrun) = (20_000 + (i / 200) as u32, (i % 200) as u32 + 1);
            m
        })
        .collect();
    let mut df = gm2dqc::tables::subrun_metrics(&big);
    gm2dqc::tables::write_parquet(&mut df, &dir.join("subrun_metrics.parquet"))?;
    let cuts = gm2dqc::cuts::standard();
    let ev = gm2dqc::cuts::eval::evaluate(&cuts, &df)?;
    gm2dqc::job::outputs::flag_tables(&dir, &ev, &df, &dir.join("subrun_metrics.parquet"), &cuts.run_constants)?;
    let ms = |t: Instant| t.elapsed().as_secs_f64() * 1e3;
    let t = Instant::now();
    let r = Results::open(&dir)?;
    println!("Results::open, {} subruns: {:.1} ms", r.subruns.len(), ms(t));
    for pairs in [vec![("sort", "reasons"), ("desc", "true"), ("text", "_OK: "), ("per_page", "1000")], vec![("sort", "ok"), ("page", "7"), ("per_page", "1000")], vec![("sort", "kicker_ok"), ("run", "20050")]] {
        let q = SubrunQuery::from_pairs(&pairs)?;
        let t = Instant::now();
        let page = r.subruns(&q)?;
        let took = ms(t);
        let t = Instant::now();
        let json = serde_json::to_vec(&page)?;
        println!("subruns {pairs:?}: {} matched, {} rows, {took:.2} ms; JSON {} bytes in {:.2} ms", page.matched, page.rows.len(), json.len(), ms(t));
    }
    let t = Instant::now();
    let tuner = Tuner::new(&dir)?;
    println!("Tuner::new: {:.1} ms", ms(t));
    for (what, from, to) in [("kicker min 120 -> 134 kV", "min = 120\nmax = 150", "min = 134\nmax = 150"), ("t0 within 20 % -> 0.1 %", "within_fraction_of_run_median = 0.20", "within_fraction_of_run_median = 0.001")] {
        let text = gm2dqc::cuts::STANDARD_TOML.replace(from, to);
        let t = Instant::now();
        let res = tuner.tune(&text).map_err(|d| format!("{d:?}"))?;
        let took = ms(t);
        println!("tune ({what}): {} changes, {took:.1} ms; JSON {} bytes", res.changes.len(), serde_json::to_vec(&res)?.len());
    }
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}
