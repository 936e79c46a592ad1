//! Conditions-database throughput (issue 6): upload 1000 intervals of 1296 crystal
//! rows (gain_constants) and 2048 straw rows (tracker_channel_status), then read the
//! gain constants valid at 10,000 random (run, subrun) points; rows/s and lookups/s.
//!
//! SQLite always (a file in target/bench-data); PostgreSQL when GM2DQC_TEST_PG_HOST
//! and GM2DQC_TEST_PG_PORT name a server (`eval "$(bash scripts/pg.sh start)"`).
//! Run: `cargo bench --bench db` (release profile); `-- --quick` for 100 intervals
//! and 1000 lookups.

use std::time::Instant;

use gm2dqc::db::payload::{Payload, Value};
use gm2dqc::db::schema::{self, ColType};
use gm2dqc::db::{self, Iov, Provenance};

/// Rows of `folder` for interval `k`, every column filled from k and the row index.
fn payload(folder: &str, n: usize, k: usize) -> Payload {
    let folder = schema::folder(folder).unwrap();
    let rows = (0..n)
        .map(|i| {
            folder
                .columns
                .iter()
                .map(|(_, t)| match t {
                    ColType::Int => Value::Int(i as i64),
                    ColType::Real => Value::Real(1.0 + (k * n + i) as f64 * 1e-7),
                    ColType::Bool => Value::Bool(i % 97 != 0),
                    ColType::Text => Value::Text("ok".into()),
                })
                .collect()
        })
        .collect();
    Payload { folder, rows }
}

fn bench(label: &str, url: &str, intervals: usize, lookups: usize) {
    let mut b = db::open(url).unwrap();
    let prov = Provenance::here("bench", None, Vec::new());
    let t0 = Instant::now();
    let mut rows = 0;
    // One upload per interval, as production would upload run by run.
    for k in 0..intervals {
        let run = 20_000 + k as u32;
        for (folder, n) in [("gain_constants", 1296), ("tracker_channel_status", 2048)] {
            let r = db::upload(b.as_mut(), "bench", &[(Iov::runs(run, run), payload(folder, n, k))], &prov).unwrap();
            rows += r.rows;
        }
    }
    let t_up = t0.elapsed().as_secs_f64();
    let mut state = 0x2545_F491_4F6C_DD1Du64;
    let t1 = Instant::now();
    let mut found = 0;
    for _ in 0..lookups {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let run = 20_000 + (state % intervals as u64) as u32;
        let subrun = (state >> 32) as u32 % 500;
        if let Some((_, p)) = db::get(b.as_mut(), "bench", "gain_constants", (run, subrun), None).unwrap() {
            found += p.rows.len();
        }
    }
    let t_get = t1.elapsed().as_secs_f64();
    assert_eq!(found, lookups * 1296);
    println!(
        "{label:<9} upload {intervals} intervals x (1296 + 2048) rows: {t_up:.2} s, {:.0} rows/s, {:.1} intervals/s | {lookups} lookups of 1296 rows: {t_get:.2} s, {:.0} lookups/s",
        rows as f64 / t_up,
        intervals as f64 / t_up,
        lookups as f64 / t_get
    );
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let (intervals, lookups) = if quick { (100, 1000) } else { (1000, 10_000) };
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bench-data");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("bench-conditions.sqlite");
    for ext in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{ext}", path.display()));
    }
    bench("sqlite", &path.display().to_string(), intervals, lookups);
    match (std::env::var("GM2DQC_TEST_PG_HOST"), std::env::var("GM2DQC_TEST_PG_PORT")) {
        (Ok(host), Ok(port)) => {
            let admin = format!("postgresql:///postgres?host={host}&port={port}&user=postgres");
            let mut c = postgres::Client::connect(&admin, postgres::NoTls).unwrap();
            c.batch_execute("DROP DATABASE IF EXISTS gm2dqc_bench").unwrap();
            c.batch_execute("CREATE DATABASE gm2dqc_bench").unwrap();
            bench("postgres", &format!("postgresql:///gm2dqc_bench?host={host}&port={port}&user=postgres"), intervals, lookups);
        }
        _ => println!("postgres: skipped (no GM2DQC_TEST_PG_HOST; eval \"$(bash scripts/pg.sh start)\" first)"),
    }
}
