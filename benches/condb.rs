//! `/condb/get` under load (`gm2dqc serve --condb-only`, the production `server::run`
//! on 127.0.0.1): 200 concurrent keep-alive clients reading the 1296-row
//! gain_constants payload of the demo (CSV, the two runs in turn) for
//! GM2DQC_BENCH_SECONDS (default 30; 5 with `-- --quick`): requests/s, p50/p99
//! latency, errors (any non-200 or IO error; the bench exits non-zero if there is
//! one). Peers in the same run: `db::get` in-process, and `db::get` with the
//! formatting (`db::export`), what each answer costs before HTTP. Target: 5000
//! answers/s on 2 cores with SQLite.
//!
//! Run: `cargo bench --bench condb` (release profile).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use gm2dqc::db::board::Layout;
use gm2dqc::db::export;
use gm2dqc::server::{auth::AuthConfig, ServeConfig};

mod timing;

fn gm2dqc(args: &[&str]) {
    let o = Command::new(env!("CARGO_BIN_EXE_gm2dqc")).args(args).output().expect("gm2dqc runs");
    assert!(o.status.success(), "gm2dqc {args:?}: {}", String::from_utf8_lossy(&o.stderr));
}

fn ms(s: f64) -> String {
    format!("{:.2} ms", s * 1e3)
}

fn p50_p99(mut v: Vec<f64>) -> (f64, f64) {
    v.sort_by(f64::total_cmp);
    let p99 = v[((v.len() as f64 * 0.99).ceil() as usize).clamp(1, v.len()) - 1];
    (timing::median(v), p99)
}

/// The demo's conditions database (made once; not timed).
fn demo_db(dir: &Path) -> PathBuf {
    let out = dir.join("demo/out");
    if !out.join("summary.json").exists() {
        gm2dqc(&["demo", "--dir", dir.join("demo").to_str().unwrap(), "--threads", "2"]);
    }
    out.join("conditions.sqlite")
}

/// A minimal keep-alive HTTP/1.1 client on one connection.
struct Client {
    r: BufReader<TcpStream>,
    w: TcpStream,
}

impl Client {
    fn connect(addr: SocketAddr) -> std::io::Result<Client> {
        let s = TcpStream::connect(addr)?;
        s.set_nodelay(true)?;
        s.set_read_timeout(Some(Duration::from_secs(30)))?;
        Ok(Client { r: BufReader::new(s.try_clone()?), w: s })
    }

    /// GET `path`: the status and the body's length (Content-Length answers only).
    fn get(&mut self, path: &str) -> std::io::Result<(u16, usize)> {
        write!(self.w, "GET {path} HTTP/1.1\r\nHost: bench\r\n\r\n")?;
        let bad = |m: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, m.to_string());
        let mut line = String::new();
        if self.r.read_line(&mut line)? == 0 {
            return Err(bad("connection closed"));
        }
        let status: u16 = line.split_whitespace().nth(1).and_then(|s| s.parse().ok()).ok_or_else(|| bad("no status line"))?;
        let mut len = 0;
        loop {
            line.clear();
            self.r.read_line(&mut line)?;
            let l = line.trim_end();
            if l.is_empty() {
                break;
            }
            if let Some((k, v)) = l.split_once(':') {
                if k.trim().eq_ignore_ascii_case("content-length") {
                    len = v.trim().parse::<usize>().map_err(|_| bad("content-length"))?;
                }
            }
        }
        let mut body = vec![0; len];
        self.r.read_exact(&mut body)?;
        Ok((status, body.len()))
    }
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
    let paths = ["/condb/get?folder=gain_constants&tag=demo&run=15921", "/condb/get?folder=gain_constants&tag=demo&run=15922"];
    let clients = 200;
    let stop = Arc::new(AtomicBool::new(false));
    let (errors, requests) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let lat = Arc::new(Mutex::new(Vec::<f64>::new()));
    let first_error = Arc::new(Mutex::new(None::<String>));
    let barrier = Arc::new(std::sync::Barrier::new(clients + 1));
    let threads: Vec<_> = (0..clients)
        .map(|c| {
            let (stop, errors, requests, lat, first_error, barrier) = (stop.clone(), errors.clone(), requests.clone(), lat.clone(), first_error.clone(), barrier.clone());
            std::thread::Builder::new()
                .stack_size(256 << 10)
                .spawn(move || {
                    let mut mine = Vec::with_capacity(4096);
                    let mut conn = Client::connect(addr);
                    barrier.wait();
                    let mut k = c;
                    while !stop.load(Ordering::Relaxed) {
                        let path = paths[k % paths.len()];
                        k += 1;
                        let t0 = Instant::now();
                        let r = match &mut conn {
                            Ok(cl) => cl.get(path),
                            Err(e) => Err(std::io::Error::new(e.kind(), e.to_string())),
                        };
                        mine.push(t0.elapsed().as_secs_f64());
                        requests.fetch_add(1, Ordering::Relaxed);
                        if !matches!(r, Ok((200, n)) if n > 0) {
                            errors.fetch_add(1, Ordering::Relaxed);
                            first_error.lock().unwrap().get_or_insert_with(|| format!("{path}: {r:?}"));
                            conn = Client::connect(addr);
                        }
                    }
                    lat.lock().unwrap().extend(mine);
                })
                .unwrap()
        })
        .collect();
    barrier.wait();
    let t0 = Instant::now();
    std::thread::sleep(Duration::from_secs_f64(seconds));
    stop.store(true, Ordering::Relaxed);
    for t in threads {
        t.join().unwrap();
    }
    let wall = t0.elapsed().as_secs_f64();
    let (n, errs) = (requests.load(Ordering::Relaxed), errors.load(Ordering::Relaxed));
    let (p50, p99) = p50_p99(lat.lock().unwrap().clone());
    println!("{clients} concurrent keep-alive clients on /condb/get (serve --condb-only, 2 worker threads) for {seconds:.0} s, {size} bytes each");
    println!(
        "{n} answers in {wall:.1} s: {:.0} answers/s; latency p50 {} p99 {}; errors {errs}{}",
        n as f64 / wall,
        ms(p50),
        ms(p99),
        first_error.lock().unwrap().as_ref().map(|e| format!(" (first: {e})")).unwrap_or_default()
    );
    if errs > 0 {
        eprintln!("condb bench: errors under load");
        std::process::exit(1);
    }
}
