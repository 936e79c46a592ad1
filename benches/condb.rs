//! `/condb/get` under load (`gm2dqc serve --condb-only`, the production `server::run`
//! on 127.0.0.1): 200 concurrent keep-alive clients reading the 1296-row
//! gain_constants payload of the demo (CSV, the two runs in turn) for
//! GM2DQC_BENCH_SECONDS (default 30; 5 with `-- --quick`), plain and then gzip-encoded: requests/s, p50/p99
//! latency, errors (any non-200 or IO error; the bench exits non-zero if there is
//! one). Peers in the same run: `db::get` in-process, and `db::get` with the
//! formatting (`db::export`), what each answer costs before HTTP. Target: 5000
//! answers/s on 2 cores with SQLite.
//!
//! Run: `cargo bench --bench condb` (release profile).

use std::path::{Path, PathBuf};
use std::process::Command;

use gm2dqc::db::board::Layout;
use gm2dqc::db::export;
use gm2dqc::server::{auth::AuthConfig, ServeConfig};

mod http_load;
mod timing;

fn gm2dqc(args: &[&str]) {
    let o = Command::new(env!("CARGO_BIN_EXE_gm2dqc")).args(args).output().expect("gm2dqc runs");
    assert!(o.status.success(), "gm2dqc {args:?}: {}", String::from_utf8_lossy(&o.stderr));
}

fn ms(s: f64) -> String {
    format!("{:.2} ms", s * 1e3)
}

/// The demo's conditions database (made once; not timed).
fn demo_db(dir: &Path) -> PathBuf {
    let out = dir.join("demo/out");
    if !out.join("summary.json").exists() {
        gm2dqc(&["demo", "--dir", dir.join("demo").to_str().unwrap(), "--threads", "2"]);
    }
    out.join("conditions.sqlite")
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let seconds: f64 = match std::env::var("GM2DQC_BENCH_SECONDS") {
        Ok(s) => s.parse().expect("GM2DQC_BENCH_SECONDS: a number of seconds"),
        Err(_) => if quick { 5.0 } else { 30.0 },
    };
    let reps = if quick { 21 } else { 101 };
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bench-data/condb");
    std::fs::create_dir_all(&dir).unwrap();
    let db = demo_db(&dir).display().to_string();

    let mut b = gm2dqc::db::open_existing(&db).unwrap();
    let rows = export::get_rows(b.as_mut(), "demo", "gain_constants", 15921, None, None).unwrap().expect("the demo has gain constants for run 15921");
    assert_eq!(rows.frame.height(), 1296);
    let t_get = timing::time(reps, || gm2dqc::db::get(b.as_mut(), "demo", "gain_constants", (15921, 0), None).unwrap());
    let t_fmt = timing::time(reps, || {
        let r = export::get_rows(b.as_mut(), "demo", "gain_constants", 15921, None, None).unwrap().unwrap();
        export::frame_text(&r.frame, export::TextFormat::Csv)
    });
    // What an answer kept in the server's cache costs before HTTP: the tag's lock and
    // which payload the tag gives at the point (two indexed queries).
    let t_resolve = timing::time(reps * 10, || {
        gm2dqc::db::tag_locked(b.as_mut(), "demo").unwrap();
        gm2dqc::db::resolve(b.as_mut(), "demo", "gain_constants", (15921, 0), None).unwrap().unwrap()
    });
    let size = export::frame_text(&rows.frame, export::TextFormat::Csv).len();
    drop(b);
    println!("gain_constants, 1296 rows, {size} bytes of CSV (SQLite {db})");
    println!(
        "in-process: db::get {} ({:.0}/s on one core); db::get + CSV (db::export) {} ({:.0}/s); tag_locked + resolve (a cached answer's queries) {} ({:.0}/s)",
        ms(t_get),
        1.0 / t_get,
        ms(t_fmt),
        1.0 / t_fmt,
        ms(t_resolve),
        1.0 / t_resolve
    );

    let cfg = ServeConfig {
        db: db.clone(),
        outs: vec![],
        listen: "127.0.0.1:0".parse().unwrap(),
        layout: Layout::gm2dqc(),
        cut_dir: dir.join("cuts-saved"),
        auth: AuthConfig { anonymous_read: true, trust_header: None, secret: [7; 32] },
        condb_only: true,
    };
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || gm2dqc::server::run(cfg, Some(2), move |a| tx.send(a).unwrap()).unwrap());
    let addr = rx.recv().unwrap();
    let paths = ["/condb/get?folder=gain_constants&tag=demo&run=15921", "/condb/get?folder=gain_constants&tag=demo&run=15922"].map(String::from);
    let clients = 200;
    let mut errs = 0;
    for (what, extra) in [("plain", ""), ("gzip (Accept-Encoding: gzip, as proxies and curl --compressed ask)", "Accept-Encoding: gzip\r\n")] {
        let l = http_load::run(addr, &paths, extra, clients, seconds);
        println!("{clients} concurrent keep-alive clients on /condb/get (serve --condb-only, 2 worker threads) for {seconds:.0} s, {what}: {:.0} bytes each", l.bytes as f64 / l.requests.max(1) as f64);
        println!("{}", l.line("answers"));
        errs += l.errors;
    }
    if errs > 0 {
        eprintln!("condb bench: errors under load");
        std::process::exit(1);
    }
}
