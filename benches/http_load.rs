//! A load generator for the HTTP benches (`serve`, `condb`): `clients` keep-alive
//! HTTP/1.1 connections, one thread each, cycling through `paths` for `seconds`;
//! every answer but a 200 with a body, and every IO error, counts as an error.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A minimal keep-alive HTTP/1.1 client on one connection.
pub struct Client {
    r: BufReader<TcpStream>,
    w: TcpStream,
    /// Header lines sent with every request, each ending in CRLF.
    extra: String,
}

impl Client {
    pub fn connect(addr: SocketAddr) -> std::io::Result<Client> {
        let s = TcpStream::connect(addr)?;
        s.set_nodelay(true)?;
        s.set_read_timeout(Some(Duration::from_secs(30)))?;
        Ok(Client { r: BufReader::new(s.try_clone()?), w: s, extra: String::new() })
    }

    /// GET `path`: the status and the body's length.
    pub fn get(&mut self, path: &str) -> std::io::Result<(u16, usize)> {
        write!(self.w, "GET {path} HTTP/1.1\r\nHost: bench\r\nAccept: application/json\r\n{}\r\n", self.extra)?;
        let bad = |m: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, m.to_string());
        let mut line = String::new();
        if self.r.read_line(&mut line)? == 0 {
            return Err(bad("connection closed"));
        }
        let status: u16 = line.split_whitespace().nth(1).and_then(|s| s.parse().ok()).ok_or_else(|| bad("no status line"))?;
        let (mut len, mut chunked) = (None, false);
        loop {
            line.clear();
            self.r.read_line(&mut line)?;
            let l = line.trim_end();
            if l.is_empty() {
                break;
            }
            let (k, v) = l.split_once(':').ok_or_else(|| bad("a header without a colon"))?;
            let (k, v) = (k.trim(), v.trim());
            if k.eq_ignore_ascii_case("content-length") {
                len = Some(v.parse::<usize>().map_err(|_| bad("content-length"))?);
            } else if k.eq_ignore_ascii_case("transfer-encoding") && v.eq_ignore_ascii_case("chunked") {
                chunked = true;
            }
        }
        let mut body = Vec::new();
        if chunked {
            loop {
                line.clear();
                self.r.read_line(&mut line)?;
                let n = usize::from_str_radix(line.trim(), 16).map_err(|_| bad("chunk size"))?;
                let mut chunk = vec![0; n + 2];
                self.r.read_exact(&mut chunk)?;
                if n == 0 {
                    break;
                }
                body.extend_from_slice(&chunk[..n]);
            }
        } else {
            body.resize(len.unwrap_or(0), 0);
            self.r.read_exact(&mut body)?;
        }
        Ok((status, body.len()))
    }
}

/// What a load run measured.
pub struct Load {
    pub requests: u64,
    pub errors: u64,
    pub wall_s: f64,
    pub bytes: u64,
    pub p50_s: f64,
    pub p99_s: f64,
    pub first_error: Option<String>,
}

impl Load {
    /// "N requests in T s: R requests/s, M MB/s of bodies; latency p50 p99; errors E".
    pub fn line(&self, what: &str) -> String {
        format!(
            "{} {what} in {:.1} s: {:.0} {what}/s, {:.1} MB/s of bodies; latency p50 {:.2} ms p99 {:.2} ms; errors {}{}",
            self.requests,
            self.wall_s,
            self.requests as f64 / self.wall_s,
            self.bytes as f64 / self.wall_s / 1e6,
            self.p50_s * 1e3,
            self.p99_s * 1e3,
            self.errors,
            self.first_error.as_ref().map(|e| format!(" (first: {e})")).unwrap_or_default()
        )
    }
}

/// The median and the 99th percentile.
pub fn p50_p99(mut v: Vec<f64>) -> (f64, f64) {
    v.sort_by(f64::total_cmp);
    let p99 = v[((v.len() as f64 * 0.99).ceil() as usize).clamp(1, v.len()) - 1];
    (super::timing::median(v), p99)
}

/// `clients` connections on `addr`, each starting at its own place in `paths`, each
/// request with the header lines `extra` (`"Name: value\r\n"`, or empty).
pub fn run(addr: SocketAddr, paths: &[String], extra: &str, clients: usize, seconds: f64) -> Load {
    let extra = extra.to_string();
    let paths: Arc<Vec<String>> = Arc::new(paths.to_vec());
    let stop = Arc::new(AtomicBool::new(false));
    let (errors, requests, bytes) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let lat = Arc::new(Mutex::new(Vec::<f64>::new()));
    let first_error = Arc::new(Mutex::new(None::<String>));
    let barrier = Arc::new(std::sync::Barrier::new(clients + 1));
    let threads: Vec<_> = (0..clients)
        .map(|c| {
            let (stop, errors, requests, bytes, lat, first_error, barrier, paths, extra) = (stop.clone(), errors.clone(), requests.clone(), bytes.clone(), lat.clone(), first_error.clone(), barrier.clone(), paths.clone(), extra.clone());
            let connect = move || Client::connect(addr).map(|c| Client { extra: extra.clone(), ..c });
            std::thread::Builder::new()
                .stack_size(256 << 10)
                .spawn(move || {
                    let mut mine = Vec::with_capacity(4096);
                    let mut conn = connect();
                    barrier.wait();
                    let mut k = c;
                    while !stop.load(Ordering::Relaxed) {
                        let path = &paths[k % paths.len()];
                        k += 1;
                        let t0 = Instant::now();
                        let r = match &mut conn {
                            Ok(cl) => cl.get(path),
                            Err(e) => Err(std::io::Error::new(e.kind(), e.to_string())),
                        };
                        mine.push(t0.elapsed().as_secs_f64());
                        requests.fetch_add(1, Ordering::Relaxed);
                        match r {
                            Ok((200, n)) if n > 0 => {
                                bytes.fetch_add(n as u64, Ordering::Relaxed);
                            }
                            other => {
                                errors.fetch_add(1, Ordering::Relaxed);
                                first_error.lock().unwrap().get_or_insert_with(|| format!("{path}: {other:?}"));
                                conn = connect();
                            }
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
    let wall_s = t0.elapsed().as_secs_f64();
    let (p50_s, p99_s) = p50_p99(lat.lock().unwrap().clone());
    let first_error = first_error.lock().unwrap().take();
    Load { requests: requests.load(Ordering::Relaxed), errors: errors.load(Ordering::Relaxed), wall_s, bytes: bytes.load(Ordering::Relaxed), p50_s, p99_s, first_error }
}
