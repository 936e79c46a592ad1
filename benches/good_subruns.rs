//! A good-subrun list of 100,000 subruns (100 runs of 1000, nine required flags and
//! one more, about 3% bad) from SQLite: `db::good::good_subruns` and its JSON, with
//! `ok` as stored and with `--ignore` (which reads every subrun's flags). Target:
//! under 200 ms. Peer in the same run: the reads alone (`db::get_columns` of the
//! columns a list needs: subrun and ok of the 100 subrun_status payloads, subrun and
//! ctags of the 100 subrun_metrics ones), the floor a list cannot go under; and, for
//! comparison, `db::get` of the whole statuses with their content-hash check.
//!
//! Run: `cargo bench --bench good_subruns` (release profile); `-- --quick` for 11
//! repetitions instead of 31.

use gm2dqc::db::good::{self, GoodFormat, GoodQuery};
use gm2dqc::db::payload::{Payload, Value};
use gm2dqc::db::schema::{self, ColType};
use gm2dqc::db::{self, Iov, Provenance};

mod timing;

const RUNS: u32 = 100;
const SUBRUNS: u32 = 1000;
const REQUIRED: [&str; 9] = ["fills_ok", "ctags_ok", "t0_ok", "kicker_ok", "quad_ok", "losses_ok", "laser_ok", "calo_ok", "tracker_ok"];

/// Whether subrun `s` of run `r` passes flag `f` (deterministic, about 0.3% fail each).
fn passes(r: u32, s: u32, f: usize) -> bool {
    let h = (r as u64 * 1_000_003 + s as u64 * 7919 + f as u64 * 104_729).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 40;
    h % 331 != 0
}

fn status(run: u32) -> Payload {
    let folder = schema::folder("subrun_status").unwrap();
    let rows = (1..=SUBRUNS)
        .map(|s| {
            let flags: Vec<bool> = (0..=REQUIRED.len()).map(|f| passes(run, s, f)).collect();
            let ok = flags[..REQUIRED.len()].iter().all(|x| *x);
            let mut json = serde_json::Map::new();
            for (i, f) in REQUIRED.iter().chain(["ctags_loose_ok"].iter()).enumerate() {
                json.insert(f.to_string(), flags[i].into());
            }
            vec![
                Value::Int(run.into()),
                Value::Int(s.into()),
                Value::Bool(ok),
                Value::Text(if ok { String::new() } else { "kicker_ok: kicker1_amplitude 2.3 kV below 2.5 kV".into() }),
                Value::Text(serde_json::Value::Object(json).to_string()),
                Value::Text("ab".repeat(32)),
            ]
        })
        .collect();
    Payload { folder, rows }
}

fn metrics(run: u32) -> Payload {
    let folder = schema::folder("subrun_metrics").unwrap();
    let rows = (1..=SUBRUNS)
        .map(|s| {
            folder
                .columns
                .iter()
                .map(|(n, t)| match (n.as_str(), t) {
                    ("run", _) => Value::Int(run.into()),
                    ("subrun", _) => Value::Int(s.into()),
                    (_, ColType::Int) => Value::Int(3),
                    (_, ColType::Real) => Value::Real(60_000.0 + s as f64),
                    (_, ColType::Bool) => Value::Bool(true),
                    (_, ColType::Text) => Value::Text(format!("gm2offline_full_{run}.{s}.root")),
                })
                .collect()
        })
        .collect();
    Payload { folder, rows }
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let reps = if quick { 11 } else { 31 };
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bench-data");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("bench-good-subruns.sqlite");
    for ext in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{ext}", path.display()));
    }
    let url = path.display().to_string();
    let mut b = db::open(&url).unwrap();
    let mut prov = Provenance::here("run9Z", Some("ab".repeat(32)), Vec::new());
    prov.required_flags = Some(REQUIRED.iter().map(|f| f.to_string()).collect());
    let runs: Vec<u32> = (30_001..=30_000 + RUNS).collect();
    let status_items: Vec<(Iov, Payload)> = runs.iter().map(|&r| (Iov::runs(r, r), status(r))).collect();
    let metrics_items: Vec<(Iov, Payload)> = runs.iter().map(|&r| (Iov::runs(r, r), metrics(r))).collect();
    db::upload_all(b.as_mut(), "bench", &[metrics_items, status_items], &prov).unwrap();

    let q = GoodQuery { tag: "bench".into(), dataset: "run9Z".into(), ..Default::default() };
    let list = good::good_subruns(b.as_mut(), &q).unwrap();
    let n = list.header.subruns.kept + list.header.subruns.lost;
    assert_eq!(n, (RUNS * SUBRUNS) as u64);
    let bad = runs.iter().flat_map(|&r| (1..=SUBRUNS).map(move |s| (r, s))).filter(|&(r, s)| !(0..REQUIRED.len()).all(|f| passes(r, s, f))).count() as u64;
    assert_eq!(list.header.subruns.lost, bad, "the list loses exactly the subruns a flag fails");
    let qi = GoodQuery { ignore: vec!["kicker_ok".into()], ..q.clone() };
    assert!(good::good_subruns(b.as_mut(), &qi).unwrap().header.subruns.lost < bad);

    let t_ok = timing::time(reps, || good::text(&good::good_subruns(b.as_mut(), &q).unwrap(), GoodFormat::Json));
    let t_ignore = timing::time(reps, || good::text(&good::good_subruns(b.as_mut(), &qi).unwrap(), GoodFormat::Json));
    let t_reads = timing::time(reps, || {
        for &r in &runs {
            std::hint::black_box(db::get_columns(b.as_mut(), "bench", "subrun_status", (r, 0), None, &["subrun", "ok"]).unwrap());
            std::hint::black_box(db::get_columns(b.as_mut(), "bench", "subrun_metrics", (r, 0), None, &["subrun", "ctags"]).unwrap());
        }
    });
    // Where the time goes.
    let t_status = timing::time(reps, || runs.iter().map(|&r| db::get(b.as_mut(), "bench", "subrun_status", (r, 0), None).unwrap().unwrap().1.rows.len()).sum::<usize>());
    let t_ctags = timing::time(reps, || runs.iter().map(|&r| db::get_columns(b.as_mut(), "bench", "subrun_metrics", (r, 0), None, &["subrun", "ctags"]).unwrap().unwrap().2.rows.len()).sum::<usize>());
    let payloads: Vec<Payload> = runs.iter().map(|&r| db::get(b.as_mut(), "bench", "subrun_status", (r, 0), None).unwrap().unwrap().1).collect();
    let t_hash = timing::time(reps, || payloads.iter().map(|p| p.hash()).count());
    let t_history = timing::time(reps, || db::history(b.as_mut(), "bench", "subrun_status").unwrap().len());
    let size = good::text(&list, GoodFormat::Json).len();
    let ms = |s: f64| format!("{:.1} ms", s * 1e3);
    println!("good-subrun list of {n} subruns ({RUNS} runs x {SUBRUNS}; {bad} bad; {size} bytes of JSON), SQLite, median of {reps}:");
    println!("  ok as stored        {}  ({:.2}x the reads alone)", ms(t_ok), t_ok / t_reads);
    println!("  --ignore kicker_ok  {}  ({:.2}x the reads alone)", ms(t_ignore), t_ignore / t_reads);
    println!("  the reads alone (db::get_columns of subrun and ok of 100 subrun_status, and of subrun and ctags of 100 subrun_metrics)  {}", ms(t_reads));
    println!("    of which the CTAG columns {}; db::history {}", ms(t_ctags), ms(t_history));
    println!("  for comparison: db::get of the 100 whole statuses, checked against their content hashes, {} (the hashes alone {})", ms(t_status), ms(t_hash));
    let met = |t: f64| if t < 0.2 { "met" } else { "NOT met" };
    println!("  target under 200 ms: ok as stored {}, --ignore {}", met(t_ok), met(t_ignore));
}
