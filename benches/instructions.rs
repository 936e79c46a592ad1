//! Instruction counts for CI (issue 9): one stage per run, measured under
//! `valgrind --tool=callgrind` by `scripts/bench-ci.sh`, which collects only inside
//! the `measured_*` functions (`--toggle-collect`), so setup and teardown do not
//! count. Counts do not depend on the machine's load, unlike wall-clock times.
//!
//!     target/release/deps/instructions-HASH read|subrun|interval
//!
//! Inputs: the committed subrun files of `data-fixtures/sim-small` (the production
//! layout, zstd). Everything runs on a one-thread rayon pool: with more threads the
//! count would depend on scheduling.
//!
//! - `read`: parse the file from memory and decode every histogram and profile.
//! - `subrun`: the map step: metrics, per-subrun channel status and the partial
//!   interval sums of one file.
//! - `interval`: the reduce of one interval: merging the partial sums of the two
//!   files, then the 1296 in-fill fits, gains and channel status.

use std::path::{Path, PathBuf};
use std::sync::Arc;

mod workload;
use workload::read_everything;

use gm2dqc::analysis::channels::ChannelCuts;
use gm2dqc::analysis::merge::IntervalSums;
use gm2dqc::merged::Merged;
use gm2dqc::analysis::metrics::subrun_metrics_keeping;
use gm2dqc::dataset::SubrunId;
use gm2dqc::pipeline::{reduce, Config};
use gm2dqc::root::RootFile;

fn fixture(name: &str) -> (PathBuf, Arc<Vec<u8>>, SubrunId) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("data-fixtures/sim-small").join(name);
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let id = gm2dqc::dataset::parse_file_name(name).expect("a subrun file name").1;
    (path, Arc::new(bytes), id)
}

#[inline(never)]
fn measured_read(path: &Path, bytes: &Arc<Vec<u8>>) -> usize {
    read_everything(&RootFile::from_shared(path, bytes.clone()).unwrap())
}

#[inline(never)]
fn measured_subrun(path: &Path, bytes: &Arc<Vec<u8>>, id: SubrunId) -> IntervalSums {
    let file = RootFile::from_shared(path, bytes.clone()).unwrap();
    // As the pipeline does when it sums: the metrics keep what they decode for the sums.
    let r = subrun_metrics_keeping(&file, id, &ChannelCuts::STANDARD, true);
    let mut sums = IntervalSums::new(id.run, id.run);
    sums.add_subrun(&file, id, &r);
    sums
}

#[inline(never)]
fn measured_interval(parts: Vec<IntervalSums>, cfg: &Config) -> usize {
    let mut it = parts.into_iter();
    let mut sums = it.next().unwrap();
    for s in it {
        sums.merge(s);
    }
    let merged = Merged { reference_run: sums.run_first, reference_out_of_fill: sums.out_of_fill.clone(), sums };
    let r = reduce(&merged, cfg);
    r.gains.iter().filter(|g| g.fit.is_ok()).count()
}

fn main() {
    let stage = std::env::args().nth(1).unwrap_or_default();
    let pool = rayon::ThreadPoolBuilder::new().num_threads(1).build().unwrap();
    let files = [fixture("gm2dqc_sim_15921.00001.root"), fixture("gm2dqc_sim_15922.00001.root")];
    let n = pool.install(|| match stage.as_str() {
        "read" => measured_read(&files[0].0, &files[0].1),
        "subrun" => measured_subrun(&files[0].0, &files[0].1, files[0].2).subruns.len(),
        "interval" => {
            // Both files as one interval (the reduce does not care about run numbers).
            let parts: Vec<IntervalSums> = files
                .iter()
                .map(|(p, b, id)| {
                    let mut s = measured_subrun(p, b, *id);
                    s.run_first = 15921;
                    s.run_last = 15922;
                    s
                })
                .collect();
            measured_interval(parts, &Config::standard())
        }
        other => {
            eprintln!("usage: instructions read|subrun|interval (got {other:?}); run it through scripts/bench-ci.sh");
            std::process::exit(2);
        }
    });
    println!("{stage}: {n}");
}
