//! Dataset entries that are not subrun files: a FIFO, a link to /dev/zero, a
//! directory-link loop. Each is an input error of its subrun (a null metrics row, the
//! file named with what it is), the rest is analysed, and nothing hangs or grows
//! without bound: every step runs under a watchdog that fails the test instead of
//! hanging CI.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use gm2dqc::dataset::{file_name, scan, SubrunId};
use gm2dqc::pipeline::{analyze, Config};
use gm2dqc::simulate::{simulate, SimConfig};

use crate::common::TempDir;

/// Runs `f` on its own thread; fails the test if it takes longer than `limit` (the
/// thread is left behind, blocked, and dies with the test process).
fn within<T: Send + 'static>(what: &str, limit: Duration, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    match rx.recv_timeout(limit) {
        Ok(v) => v,
        Err(_) => panic!("{what} did not finish within {limit:?}: it hangs (a FIFO opened, /dev/zero read, or a directory loop followed)"),
    }
}

/// The `gm2dqc` binary with `args`, killed (and the test failed) after `limit`.
/// Returns the exit code, stdout and stderr.
pub fn gm2dqc_within(args: &[&str], limit: Duration) -> (i32, String, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_gm2dqc")).args(args).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("binary runs");
    // Drained on threads: a full pipe must not stall the child.
    let drain = |mut r: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut s = String::new();
            let _ = r.read_to_string(&mut s);
            s
        })
    };
    let out = drain(Box::new(child.stdout.take().unwrap()));
    let err = drain(Box::new(child.stderr.take().unwrap()));
    let t0 = Instant::now();
    let status = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st;
        }
        if t0.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("gm2dqc {args:?} did not finish within {limit:?}; killed: {}", err.join().unwrap_or_default());
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    (status.code().unwrap_or(-1), out.join().unwrap(), err.join().unwrap())
}

/// A clean simulated run of 6 subruns; subrun 2 replaced by a FIFO, subrun 4 by a
/// link to /dev/zero, and a directory link back to the dataset's top.
fn hostile_dataset(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    let sim = dir.join("sim");
    simulate(&SimConfig { faults: Vec::new(), ..SimConfig::new(&sim, 1, 6, 77) }, &|_| {}).unwrap();
    let name = |subrun| sim.join(file_name("gm2dqc_sim", SubrunId { run: 15921, subrun }));
    let (fifo, zero) = (name(2), name(4));
    std::fs::remove_file(&fifo).unwrap();
    assert!(Command::new("mkfifo").arg(&fifo).status().unwrap().success(), "mkfifo");
    std::fs::remove_file(&zero).unwrap();
    std::os::unix::fs::symlink("/dev/zero", &zero).unwrap();
    std::fs::create_dir_all(sim.join("nested")).unwrap();
    std::os::unix::fs::symlink(&sim, sim.join("nested/loop")).unwrap();
    (sim, fifo, zero)
}

#[test]
fn a_fifo_a_device_and_a_directory_loop_are_input_errors_not_hangs() {
    let dir = TempDir::new("inputs-hostile");
    let (sim, fifo, zero) = hostile_dataset(&dir.0);
    let top = sim.clone();
    let ds = within("scan", Duration::from_secs(30), move || scan(&top).unwrap());
    assert_eq!(ds.files.len(), 6, "the FIFO and the link are subruns of the dataset: {:?}", ds.files);
    assert_eq!(ds.repeated_dirs.len(), 1, "{:?}", ds.repeated_dirs);
    assert_eq!((ds.repeated_dirs[0].path.clone(), ds.repeated_dirs[0].first.clone(), ds.repeated_dirs[0].is_loop), (sim.join("nested/loop"), sim.clone(), true));

    let a = within("the analysis", Duration::from_secs(300), move || analyze(&ds, &Config::standard(), &|_| {}).unwrap());
    assert_eq!(a.metrics.len(), 6, "every subrun has its row");
    assert_eq!(a.files_failed, 2, "{:?}", a.errors);
    for (subrun, path, what) in [(2, &fifo, "FIFO (named pipe)"), (4, &zero, "character device")] {
        let m = a.metrics.iter().find(|m| m.subrun == subrun).unwrap();
        assert_eq!((m.fills, m.ctags), (None, None), "subrun {subrun}: null metrics");
        let e: Vec<&String> = a.errors.iter().filter(|e| e.contains(path.to_str().unwrap())).collect();
        assert_eq!(e.len(), 1, "one error names {}: {:?}", path.display(), a.errors);
        assert!(e[0].contains(what) && e[0].contains("not a regular file"), "{}", e[0]);
    }
    // The others are analysed; the failed files have no checksum record.
    assert!(a.metrics.iter().filter(|m| ![2, 4].contains(&m.subrun)).all(|m| m.fills.is_some()), "{:?}", a.metrics);
    assert_eq!(a.inputs.len(), 4);
    assert!(a.has_failures());
}

#[test]
fn the_commands_finish_on_a_hostile_dataset_with_exit_1() {
    let dir = TempDir::new("inputs-cli");
    let (sim, fifo, zero) = hostile_dataset(&dir.0);
    // scan opens every file as ROOT: the two are unreadable, an input problem (exit 1).
    let (code, stdout, err) = gm2dqc_within(&["scan", "--input", sim.to_str().unwrap(), "--json"], Duration::from_secs(60));
    assert_eq!(code, 1, "{stdout}{err}");
    let j: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(j["files"], 6, "{j}");
    let unreadable: Vec<(String, String)> = j["unreadable"].as_array().unwrap().iter().map(|u| (u["file"].as_str().unwrap().to_string(), u["error"].as_str().unwrap().to_string())).collect();
    assert_eq!(unreadable.len(), 2, "{j}");
    assert!(unreadable.iter().any(|(f, e)| f == fifo.to_str().unwrap() && e.contains("FIFO")), "{j}");
    assert!(unreadable.iter().any(|(f, e)| f == zero.to_str().unwrap() && e.contains("character device")), "{j}");
    let out = dir.0.join("out");
    let (code, stdout, err) = gm2dqc_within(&["analyze", "--input", sim.to_str().unwrap(), "--out", out.to_str().unwrap(), "--threads", "2"], Duration::from_secs(300));
    assert_eq!(code, 1, "input errors exit 1: {stdout}{err}");
    let errors = std::fs::read_to_string(out.join("errors.txt")).unwrap();
    assert!(errors.contains(fifo.to_str().unwrap()) && errors.contains("FIFO"), "{errors}");
    assert!(errors.contains(zero.to_str().unwrap()) && errors.contains("character device") && errors.contains("/dev/zero"), "{errors}");
    let df = gm2dqc::tables::read_parquet(&out.join("subrun_metrics.parquet")).unwrap();
    assert_eq!(df.height(), 6);
}

#[test]
fn a_dangling_link_is_an_input_error_of_its_subrun_and_a_list_file_is_bounded() {
    let dir = TempDir::new("inputs-dangling");
    let sim = dir.0.join("sim");
    simulate(&SimConfig { faults: Vec::new(), ..SimConfig::new(&sim, 1, 2, 78) }, &|_| {}).unwrap();
    let dangling = sim.join(file_name("gm2dqc_sim", SubrunId { run: 15921, subrun: 3 }));
    std::os::unix::fs::symlink(dir.0.join("gone.root"), &dangling).unwrap();
    let ds = within("scan with a dangling link", Duration::from_secs(30), {
        let sim = sim.clone();
        move || scan(&sim)
    })
    .expect("one dangling link does not stop the scan");
    assert_eq!(ds.files.len(), 3);
    let out = dir.0.join("out");
    let (code, stdout, err) = gm2dqc_within(&["analyze", "--input", sim.to_str().unwrap(), "--out", out.to_str().unwrap()], Duration::from_secs(300));
    assert_eq!(code, 1, "an input error of that subrun: {stdout}{err}");
    let errors = std::fs::read_to_string(out.join("errors.txt")).unwrap();
    assert!(errors.contains(dangling.to_str().unwrap()), "{errors}");
    // A list file that never ends (a link to /dev/zero) is refused, bounded.
    let list = dir.0.join("list.txt");
    std::os::unix::fs::symlink("/dev/zero", &list).unwrap();
    let (code, _, err) = gm2dqc_within(&["scan", "--input", list.to_str().unwrap()], Duration::from_secs(60));
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("list.txt") && err.contains("at most"), "{err}");
}
