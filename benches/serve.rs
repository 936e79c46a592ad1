//! `gm2dqc serve` (the web application), server side:
//!
//! 1. The dataset page for 100 runs x 200 subruns (20,000 rows): every request a
//!    browser makes to show it (the shell, the three assets, whoami, the overview,
//!    the first page of subruns; then a page sorted by a flag, filtered by text, and
//!    the last page), through the router (no socket). Budget: under 300 ms of server
//!    time and under 2 MB transferred. Peers in the same run: reading
//!    `subrun_status.parquet` with polars alone (what any reader of the flags pays,
//!    against our cold first request), and the size of the static `report.html` the
//!    plots stage writes for the 16-subrun demo (what a shifter downloaded before).
//! 2. The board for 50 datasets x 18 columns (layout g2, several entries per cell,
//!    holds, notes, sign-offs): `GET /api/board?layout=g2` and `GET /`, SQLite and (with
//!    GM2DQC_TEST_PG_HOST/PORT) PostgreSQL. Budget: under 50 ms. Peer:
//!    `db::board::view` called directly, so the HTTP layer's cost shows.
//! 3. 200 concurrent keep-alive clients on a real server (127.0.0.1:0, the
//!    production `server::run`) cycling through /api/board, /api/board/version, the
//!    overview and pages of subruns for GM2DQC_BENCH_SECONDS (default 30): requests/s,
//!    p50/p99 latency, errors (any non-200 or IO error; the bench exits non-zero if
//!    there is one).
//!
//! The 20,000-subrun dataset: `gm2dqc demo` (2 runs x 8 subruns simulated with faults,
//! every stage run) gives a real output directory; its 16 rows of subrun metrics are
//! repeated, slightly perturbed, under 100 runs x 200 subruns, the standard cut file
//! is evaluated on them (`cuts::eval::evaluate`, run medians included) and the flag
//! tables written with the stage's own writer (`job::outputs::flag_tables`); the gain
//! tables, plots, summary and manifest (renamed dataset) are the demo's.
//!
//! Run: `cargo bench --bench serve` (release profile); `-- --quick` for fewer
//! repetitions (and 5 s of load unless GM2DQC_BENCH_SECONDS says otherwise).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Instant;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use polars::prelude::SerReader;
use tower::ServiceExt;

use gm2dqc::db::board::{self, Layout, SetRequest, State, Target, Who};
use gm2dqc::server::{auth::AuthConfig, router, App, ServeConfig};

mod http_load;
mod timing;

use http_load::p50_p99;

const DATASET: &str = "bench-20k";
const RUNS: usize = 100;
const SUBRUNS: usize = 200;
const BOARD_DATASETS: usize = 50;

fn gm2dqc(args: &[&str]) {
    let o = Command::new(env!("CARGO_BIN_EXE_gm2dqc")).args(args).output().expect("gm2dqc runs");
    assert!(o.status.success(), "gm2dqc {args:?}: {}", String::from_utf8_lossy(&o.stderr));
}

fn ms(s: f64) -> String {
    format!("{:.2} ms", s * 1e3)
}

// ---------------------------------------------------------------- the datasets

/// The demo's output directory (made once; not timed).
fn demo(dir: &Path) -> PathBuf {
    let out = dir.join("demo/out");
    if !out.join("summary.json").exists() {
        gm2dqc(&["demo", "--dir", dir.join("demo").to_str().unwrap(), "--threads", "2"]);
    }
    out
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let p = e.unwrap().path();
        if p.is_file() {
            std::fs::copy(&p, to.join(p.file_name().unwrap())).unwrap();
        }
    }
}

/// The 20,000-subrun output directory, made from the demo's (see the module doc).
fn big_dataset(demo_out: &Path, dir: &Path) -> PathBuf {
    let big = dir.join("big");
    let _ = std::fs::remove_dir_all(&big);
    copy_dir(demo_out, &big);
    copy_dir(&demo_out.join("plots"), &big.join("plots"));
    let _ = std::fs::remove_file(big.join("conditions.sqlite"));
    let rows = gm2dqc::tables::subrun_metrics_rows(&gm2dqc::tables::Table::read(&demo_out.join("subrun_metrics.parquet")).unwrap()).unwrap();
    let first_run = rows.iter().map(|r| r.run).min().unwrap();
    let n = RUNS * SUBRUNS;
    let metrics: Vec<_> = (0..n)
        .map(|i| {
            // Row i of the demo, under run (first + i / 200), subrun (i % 200 + 1);
            // its numbers scaled by a factor within 1 +- 2 % (a fixed sequence), so
            // that no two subruns are equal.
            let mut m = rows[(i * 7 + i / SUBRUNS) % rows.len()].clone();
            (m.run, m.subrun) = (first_run + (i / SUBRUNS) as u32, (i % SUBRUNS) as u32 + 1);
            let f = 1.0 + 0.02 * (((i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 40) as f64 / (1u64 << 24) as f64 * 2.0 - 1.0);
            perturb(&mut m, f);
            m
        })
        .collect();
    let mut df = gm2dqc::tables::subrun_metrics(&metrics);
    gm2dqc::tables::write_parquet(&mut df, &big.join("subrun_metrics.parquet")).unwrap();
    let cuts = gm2dqc::cuts::standard();
    let ev = gm2dqc::cuts::eval::evaluate(&cuts, &df).unwrap();
    gm2dqc::job::outputs::flag_tables(&big, &ev, &df, &big.join("subrun_metrics.parquet"), &cuts.run_constants).unwrap();
    let mut m = gm2dqc::job::manifest::Manifest::load(&big).unwrap();
    m.dataset = DATASET.to_string();
    m.save(&big).unwrap();
    big
}

/// Scales the counts, rates and monitor readings of a row by `f`.
fn perturb(m: &mut gm2dqc::analysis::metrics::SubrunMetrics, f: f64) {
    let s = |x: &mut Option<f64>| {
        if let Some(v) = x {
            *v *= f;
        }
    };
    for x in [&mut m.ctags, &mut m.ctags_nodqc, &mut m.ctags_per_fill, &mut m.singles, &mut m.doubles, &mut m.background] {
        s(x);
    }
    m.kicker_amplitude.iter_mut().chain(m.laser_sm.iter_mut()).for_each(s);
}

/// A board of 50 datasets on the g2 layout: each dataset part of the way along its
/// 18 columns; most cells went In progress then Done, every fifth was held on the
/// way (a note) and released (a note); every seventh dataset is held now; finished
/// datasets are signed off as delivered by a second person.
fn fill_board(url: &str) {
    let mut b = gm2dqc::db::open(url).unwrap();
    gm2dqc::db::migrate(b.as_mut()).unwrap();
    let layout = Layout::g2().unwrap();
    let users = ["alice", "bob", "carol", "dave", "erin"];
    let ncol = layout.columns.len();
    for i in 0..BOARD_DATASETS {
        let ds = format!("Run{}{}-{:02}", 2 + i / 26, (b'A' + (i % 26) as u8) as char, i);
        let reached = (i * 7) % (ncol + 1); // 0..=18 columns done
        let mut first = true;
        let mut set = |b: &mut dyn gm2dqc::db::Backend, col: &str, state: State, note: &str, who: &str| {
            let mut r = SetRequest::new(ds.clone(), Target::Column(col.to_string()), state, note).by(Who { user: who.to_string(), host: "gm2gpvm01.fnal.gov".into() });
            if first {
                r = r.new_dataset();
                first = false;
            }
            board::set(b, &layout, &r).unwrap_or_else(|e| panic!("{ds} {col} {state:?}: {e}"));
        };
        for (k, c) in layout.columns.iter().enumerate().take(reached + 1) {
            if k == ncol {
                break;
            }
            let who = users[(i + k) % users.len()];
            if c.needs_signoff() {
                if k < reached {
                    set(b.as_mut(), &c.id, State::Done, "checked the DQC plots and the run list; delivered", users[(i + k + 2) % users.len()]);
                }
                continue;
            }
            set(b.as_mut(), &c.id, State::InProgress, &format!("started {} on gm2gpvm0{}", c.title, k % 4 + 1), who);
            if (i + k) % 5 == 0 {
                set(b.as_mut(), &c.id, State::Held, "waiting for the laser group: calo 13 gains look off", who);
                set(b.as_mut(), &c.id, State::Todo, "released: the laser group confirmed the gains", users[(i + k + 1) % users.len()]);
            }
            if k < reached {
                set(b.as_mut(), &c.id, State::Done, &format!("{} done, see elog {}", c.title, 40_000 + i * 20 + k), who);
            } else if i % 7 == 3 {
                set(b.as_mut(), &c.id, State::Held, "held: subruns of run 15925 fail the kicker cut, asked the kicker expert", who);
            }
        }
    }
}

fn config(db: &str, outs: Vec<PathBuf>, dir: &Path) -> ServeConfig {
    ServeConfig {
        db: db.to_string(),
        outs,
        listen: "127.0.0.1:0".parse().unwrap(),
        layout: Layout::gm2dqc(),
        cut_dir: dir.join("cuts-saved"),
        auth: AuthConfig { anonymous_read: true, trust_header: None, secret: [7; 32] },
        condb_only: false,
    }
}

// ---------------------------------------------------------------- through the router

struct Answer {
    status: StatusCode,
    bytes: usize,
    body: Vec<u8>,
}

/// One GET through the router: seconds from the request to the last body byte.
async fn get(app: &Arc<App>, uri: &str) -> (f64, Answer) {
    let t0 = Instant::now();
    let r = router(app.clone()).oneshot(Request::get(uri).body(Body::empty()).unwrap()).await.unwrap();
    let status = r.status();
    // What goes over the wire besides the body: the status line, the headers (hyper
    // adds `date` and `content-length`), the blank line.
    let head = "HTTP/1.1 200 OK\r\n".len() + r.headers().iter().map(|(k, v)| k.as_str().len() + 2 + v.len() + 2).sum::<usize>() + "date: Thu, 01 Jan 2026 00:00:00 GMT\r\n".len() + 2;
    let body = r.into_body().collect().await.unwrap().to_bytes().to_vec();
    let t = t0.elapsed().as_secs_f64();
    let bytes = head + body.len() + if body.is_empty() { 0 } else { "content-length: 123456\r\n".len() };
    (t, Answer { status, bytes, body })
}

async fn get_ok(app: &Arc<App>, uri: &str) -> (f64, Answer) {
    let (t, a) = get(app, uri).await;
    assert_eq!(a.status, StatusCode::OK, "{uri}: {}", String::from_utf8_lossy(&a.body));
    (t, a)
}

/// Timings of `reps` GETs of `uri` (after one not counted).
async fn repeat(app: &Arc<App>, uri: &str, reps: usize) -> (Vec<f64>, usize) {
    let (_, a) = get_ok(app, uri).await;
    let mut v = Vec::with_capacity(reps);
    for _ in 0..reps {
        v.push(get_ok(app, uri).await.0);
    }
    (v, a.bytes)
}

fn dataset_page(rt: &tokio::runtime::Runtime, db: &str, big: &Path, demo_out: &Path, dir: &Path, reps: usize) -> bool {
    let app = App::new(config(db, vec![big.to_path_buf()], dir));
    let page = [
        format!("/datasets/{DATASET}"),
        "/assets/app.css".into(),
        "/assets/common.js".into(),
        "/assets/dataset.js".into(),
        "/api/whoami".into(),
        format!("/api/datasets/{DATASET}"),
        format!("/api/datasets/{DATASET}/subruns?page=1&per_page=100&sort=run_subrun&desc=false"),
    ];
    // The first visit after the server started: the results are read here.
    let cold: Vec<(f64, usize)> = rt.block_on(async {
        let mut v = Vec::new();
        for u in &page {
            let (t, a) = get_ok(&app, u).await;
            v.push((t, a.bytes));
        }
        v
    });
    let results = gm2dqc::results::Results::open(big).unwrap();
    assert_eq!(results.subruns.len(), RUNS * SUBRUNS);
    let flag = results.subruns.flags[0].0.clone();
    let bad = results.subruns.ok.iter().filter(|ok| !**ok).count();
    let more = [
        format!("/api/datasets/{DATASET}/subruns?page=1&per_page=100&sort={flag}&desc=false"),
        format!("/api/datasets/{DATASET}/subruns?page=1&per_page=100&sort=run_subrun&desc=false&text=kicker"),
        format!("/api/datasets/{DATASET}/subruns?page=200&per_page=100&sort=run_subrun&desc=false"),
        format!("/api/datasets/{DATASET}/subruns?page=1&per_page=100&sort=reasons&desc=true&only_bad=true"),
    ];
    let warm: Vec<(Vec<f64>, usize)> = rt.block_on(async {
        let mut v = Vec::new();
        for u in page.iter().chain(&more) {
            v.push(repeat(&app, u, reps).await);
        }
        v
    });
    // Peers: polars alone reading the flag table; Results::open (what the cold request adds).
    let t_polars = timing::time(reps.min(21), || {
        let f = std::fs::File::open(big.join("subrun_status.parquet")).unwrap();
        polars::prelude::ParquetReader::new(f).finish().unwrap().height()
    });
    let t_open = timing::time(reps.min(21), || gm2dqc::results::Results::open(big).unwrap().subruns.len());
    let report = std::fs::metadata(demo_out.join("report.html")).map(|m| m.len()).unwrap_or(0);

    println!("\n1. The dataset page, {RUNS} runs x {SUBRUNS} subruns ({} rows, {bad} not ok), through the router; {reps} repetitions, results cached", RUNS * SUBRUNS);
    println!("{:<92} {:>10} {:>10} {:>10} {:>10}", "request", "cold", "median", "p99", "bytes");
    let (mut cold_total, mut warm_total, mut p99_total, mut bytes) = (0.0, 0.0, 0.0, 0);
    for (i, u) in page.iter().enumerate() {
        let (m, p) = p50_p99(warm[i].0.clone());
        println!("{u:<92} {:>10} {:>10} {:>10} {:>10}", ms(cold[i].0), ms(m), ms(p), cold[i].1);
        cold_total += cold[i].0;
        warm_total += m;
        p99_total += p;
        bytes += cold[i].1;
    }
    println!("{:<92} {:>10} {:>10} {:>10} {:>10}", "the page (sum of the requests above)", ms(cold_total), ms(warm_total), ms(p99_total), bytes);
    for (j, u) in more.iter().enumerate() {
        let (m, p) = p50_p99(warm[page.len() + j].0.clone());
        println!("{u:<92} {:>10} {:>10} {:>10} {:>10}", "", ms(m), ms(p), warm[page.len() + j].1);
    }
    let ok_t = cold_total < 0.300 && p99_total < 0.300;
    let ok_b = bytes < 2_000_000;
    println!(
        "budget 300 ms: cold page {} ({:.2}x the budget), warm page median {} ({:.3}x); budget 2 MB: {:.3} MB ({:.3}x) -> {}",
        ms(cold_total),
        cold_total / 0.3,
        ms(warm_total),
        warm_total / 0.3,
        bytes as f64 / 1e6,
        bytes as f64 / 2e6,
        if ok_t && ok_b { "met" } else { "MISSED" }
    );
    println!(
        "peers: polars reading subrun_status.parquet alone {} (cold page {:.2}x it, warm page {:.2}x); Results::open {} ({:.2}x polars); \
         report.html of the 16-subrun demo {:.2} MB (this page for 20,000 subruns: {:.3}x its size)",
        ms(t_polars),
        cold_total / t_polars,
        warm_total / t_polars,
        ms(t_open),
        t_open / t_polars,
        report as f64 / 1e6,
        bytes as f64 / report.max(1) as f64
    );
    ok_t && ok_b
}

// ---------------------------------------------------------------- cut tuning

/// `POST /api/datasets/{d}/tune` with the kicker amplitude's minimum raised, on the
/// 20,000 subruns: the first call (the metrics read and the base evaluated once) and
/// the next ones, against `cuts::eval::evaluate` of the new file alone (what
/// `gm2dqc cuts apply` does) in the same run. Budget: 1 s.
fn tune_bench(rt: &tokio::runtime::Runtime, db: &str, big: &Path, dir: &Path, reps: usize) -> bool {
    let app = App::new(config(db, vec![big.to_path_buf()], dir));
    let base = gm2dqc::cuts::STANDARD_TOML;
    let new = base.replacen("min = 120\nmax = 150", "min = 133\nmax = 150", 1);
    assert_ne!(new, base, "the kicker amplitude cut of the standard file");
    let body = serde_json::json!({"text": new}).to_string();
    let post = |app: Arc<App>, body: String| async move {
        let t0 = Instant::now();
        let r = router(app).oneshot(Request::post(format!("/api/datasets/{DATASET}/tune")).header("content-type", "application/json").body(Body::from(body)).unwrap()).await.unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        let b = r.into_body().collect().await.unwrap().to_bytes();
        (t0.elapsed().as_secs_f64(), b.len(), b)
    };
    let (first, bytes, b) = rt.block_on(post(app.clone(), body.clone()));
    let v: serde_json::Value = serde_json::from_slice(&b).unwrap();
    assert_eq!(v["ok"], true, "{v}");
    let changes = v["result"]["changes"].as_array().map_or(0, |c| c.len());
    let times: Vec<f64> = (0..reps.min(21)).map(|_| rt.block_on(post(app.clone(), body.clone())).0).collect();
    let (m, p) = p50_p99(times);
    let metrics = gm2dqc::tables::read_parquet(&big.join("subrun_metrics.parquet")).unwrap();
    let cut = gm2dqc::cuts::parse(&new, "new").unwrap();
    let t_eval = timing::time(reps.min(11), || gm2dqc::cuts::eval::evaluate(&cut, &metrics).unwrap().ok.len());
    println!("\n3. Cut tuning on {} subruns: the kicker amplitude's minimum 120 -> 133 kV ({changes} subruns change ok; {} KB answered)", RUNS * SUBRUNS, bytes / 1000);
    println!("first call (metrics read, base evaluated) {}; then median {} (p99 {}); peer: evaluate the new file alone {} (the tuning {:.2}x it); budget 1 s: {}", ms(first), ms(m), ms(p), ms(t_eval), m / t_eval, if first < 1.0 && p < 1.0 { "met" } else { "MISSED" });
    first < 1.0 && p < 1.0
}

// ---------------------------------------------------------------- the board

fn board_bench(rt: &tokio::runtime::Runtime, label: &str, db: &str, dir: &Path, reps: usize) -> bool {
    let t_fill = Instant::now();
    fill_board(db);
    let t_fill = t_fill.elapsed().as_secs_f64();
    let app = App::new(config(db, Vec::new(), dir));
    let layout = Layout::g2().unwrap();
    let mut b = gm2dqc::db::open_existing(db).unwrap();
    let view = board::view(b.as_mut(), &layout).unwrap();
    assert_eq!(view.rows.len(), BOARD_DATASETS);
    let entries: i64 = board::version(b.as_mut()).unwrap();
    let direct: Vec<f64> = (0..reps)
        .map(|_| {
            let t0 = Instant::now();
            std::hint::black_box(board::view(b.as_mut(), &layout).unwrap());
            t0.elapsed().as_secs_f64()
        })
        .collect();
    let direct_json: Vec<f64> = (0..reps)
        .map(|_| {
            let t0 = Instant::now();
            let v = board::view(b.as_mut(), &layout).unwrap();
            std::hint::black_box(serde_json::to_string_pretty(&v).unwrap());
            t0.elapsed().as_secs_f64()
        })
        .collect();
    let (api, api_bytes) = rt.block_on(repeat(&app, "/api/board?layout=g2", reps));
    let (shell, shell_bytes) = rt.block_on(repeat(&app, "/", reps));
    let (ver, _) = rt.block_on(repeat(&app, "/api/board/version", reps));
    let (dm, dp) = p50_p99(direct);
    let (jm, jp) = p50_p99(direct_json);
    let (am, ap) = p50_p99(api);
    let (sm, sp) = p50_p99(shell);
    let (vm, vp) = p50_p99(ver);
    println!("\n2. The board, {label}: {BOARD_DATASETS} datasets x {} columns (g2), board version {entries} (filled in {:.1} s); {reps} repetitions", layout.columns.len(), t_fill);
    println!("{:<52} {:>10} {:>10} {:>10} {:>12}", "", "median", "p99", "bytes", "vs direct");
    println!("{:<52} {:>10} {:>10} {:>10} {:>12}", "board::view called directly (the peer)", ms(dm), ms(dp), "", "1");
    println!("{:<52} {:>10} {:>10} {:>10} {:>11.2}x", "board::view + pretty JSON, directly", ms(jm), ms(jp), "", jm / dm);
    println!("{:<52} {:>10} {:>10} {:>10} {:>11.2}x", "GET /api/board?layout=g2", ms(am), ms(ap), api_bytes, am / dm);
    println!("{:<52} {:>10} {:>10} {:>10} {:>12}", "GET / (the board's shell)", ms(sm), ms(sp), shell_bytes, "");
    println!("{:<52} {:>10} {:>10} {:>10} {:>12}", "GET /api/board/version", ms(vm), ms(vp), "", "");
    let ok = ap < 0.050 && sp < 0.050;
    println!("budget 50 ms: /api/board p99 {} ({:.2}x the budget) -> {}", ms(ap), ap / 0.05, if ok { "met" } else { "MISSED" });
    ok
}

// ---------------------------------------------------------------- load

fn load(db: &str, big: &Path, clients: usize, seconds: f64) -> bool {
    let (tx, rx) = std::sync::mpsc::channel();
    let cfg = config(db, vec![big.to_path_buf()], big.parent().unwrap());
    std::thread::spawn(move || gm2dqc::server::run(cfg, None, move |a| tx.send(a).unwrap()).unwrap());
    let addr = rx.recv().unwrap();
    let paths: Vec<String> = {
        let mut p = vec!["/api/board".to_string(), "/api/board/version".to_string(), format!("/api/datasets/{DATASET}")];
        for page in [1, 2, 17, 100, 200] {
            p.push(format!("/api/datasets/{DATASET}/subruns?page={page}&per_page=100&sort=run_subrun&desc=false"));
        }
        p.push(format!("/api/datasets/{DATASET}/subruns?page=3&per_page=100&sort=reasons&desc=true"));
        p
    };
    // The results read once before the clients start (a warm server).
    http_load::Client::connect(addr).unwrap().get(&paths[2]).unwrap();
    let l = http_load::run(addr, &paths, "", clients, seconds);
    println!("\n3. {clients} concurrent keep-alive clients on a real server (127.0.0.1, server::run, 2 worker threads) for {seconds:.0} s, cycling through {} routes", paths.len());
    println!("{}", l.line("requests"));
    l.errors == 0
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let reps = if quick { 21 } else { 101 };
    let seconds: f64 = match std::env::var("GM2DQC_BENCH_SECONDS") {
        Ok(s) => s.parse().expect("GM2DQC_BENCH_SECONDS: a number of seconds"),
        Err(_) => {
            if quick {
                5.0
            } else {
                30.0
            }
        }
    };
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bench-data/serve");
    std::fs::create_dir_all(&dir).unwrap();
    let demo_out = demo(&dir);
    let t = Instant::now();
    let big = big_dataset(&demo_out, &dir);
    println!("synthetic dataset `{DATASET}` ({RUNS} runs x {SUBRUNS} subruns) made in {:.1} s from the demo's {}", t.elapsed().as_secs_f64(), demo_out.display());
    let db_path = dir.join("board.sqlite");
    for ext in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{ext}", db_path.display()));
    }
    let db = db_path.display().to_string();
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();

    let mut ok = true;
    ok &= board_bench(&rt, "SQLite (file, WAL)", &db, &dir, reps);
    match (std::env::var("GM2DQC_TEST_PG_HOST"), std::env::var("GM2DQC_TEST_PG_PORT")) {
        (Ok(host), Ok(port)) => {
            let admin = format!("postgresql:///postgres?host={host}&port={port}&user=postgres");
            let mut c = postgres::Client::connect(&admin, postgres::NoTls).unwrap();
            c.batch_execute("DROP DATABASE IF EXISTS gm2dqc_bench_serve").unwrap();
            c.batch_execute("CREATE DATABASE gm2dqc_bench_serve").unwrap();
            ok &= board_bench(&rt, "PostgreSQL (local socket)", &format!("postgresql:///gm2dqc_bench_serve?host={host}&port={port}&user=postgres"), &dir, reps);
        }
        _ => println!("\n2'. the board on PostgreSQL: skipped (no GM2DQC_TEST_PG_HOST; eval \"$(bash scripts/pg.sh start)\" first)"),
    }
    ok &= dataset_page(&rt, &db, &big, &demo_out, &dir, reps);
    ok &= tune_bench(&rt, &db, &big, &dir, reps);
    drop(rt);
    let load_ok = load(&db, &big, 200, seconds);
    if !ok {
        println!("\nsome figure missed its budget (above)");
    }
    if !load_ok {
        eprintln!("serve bench: errors under load");
        std::process::exit(1);
    }
}
