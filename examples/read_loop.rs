//! Profiling aid: reads every object of a file N times (`read_loop FILE N`).
use gm2dqc::hist::Histogram;
use gm2dqc::root::RootFile;

fn main() {
    let a: Vec<String> = std::env::args().collect();
    let bytes = std::fs::read(&a[1]).unwrap();
    let n: usize = a.get(2).and_then(|s| s.parse().ok()).unwrap_or(100);
    let t0 = std::time::Instant::now();
    let mut count = 0;
    for _ in 0..n {
        let f = RootFile::from_bytes(&a[1], bytes.clone()).unwrap();
        let (entries, _) = f.walk();
        for e in entries.iter().filter(|e| !e.key.is_directory()) {
            let h = Histogram::from_raw(f.hist_from_key(&e.key, &e.path).unwrap()).unwrap();
            count += h.axes().len();
        }
    }
    let dt = t0.elapsed().as_secs_f64();
    println!("{count} objects in {dt:.3} s: {:.0} obj/s", count as f64 / dt);
}
