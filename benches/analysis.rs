//! Channel throughput of the analysis stages (issue 4), on 1 and 2 threads:
//!
//! - (a) the per-subrun stage: read one subrun file + metrics + channel status
//!   (3344 channels: 1296 crystals and 2048 straws), against reading and decoding every
//!   object of the same file (the ROOT read time); target: within 1.5x.
//! - (a') the map step as the pipeline runs it: (a) plus the partial interval sums.
//! - (b) the interval stage: merging the partial sums of the subruns of an interval,
//!   then the 1296 in-fill fits, gains and channel status; target: the 1296 fits in
//!   under 0.5 s on one thread.
//! - (c) the whole pass (`pipeline::analyze`) over a dataset on disk.
//!
//! Every figure is the median of several repetitions; files are held in memory for
//! (a) and (b), so that disk speed does not enter. Thread scaling from 1 to 2 threads
//! is printed for each stage (target: 1.7x).
//!
//! Run: `cargo bench --bench analysis` (release profile); `-- --quick` for fewer
//! repetitions, `-- --json FILE` to write the figures.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

mod timing;
mod workload;
use workload::read_everything;
use timing::{median, time};

use gm2dqc::analysis::channels::ChannelCuts;
use gm2dqc::analysis::fit::{fit_in_fill, FitConfig};
use gm2dqc::analysis::interval::{interval_result, ConstantLimits};
use gm2dqc::analysis::merge::IntervalSums;
use gm2dqc::analysis::metrics::{subrun_metrics, subrun_metrics_keeping};
use gm2dqc::layout::{N_STRAWS, N_XTALS};
use gm2dqc::pipeline::{analyze, Config};
use gm2dqc::root::RootFile;
use gm2dqc::simulate::{plan, simulate, subrun_file, CompressionChoice, SimConfig};
use rayon::prelude::*;

const CHANNELS: f64 = (N_XTALS + N_STRAWS) as f64;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let quick = args.iter().any(|a| a == "--quick");
    let json_out = args.iter().position(|a| a == "--json").map(|i| PathBuf::from(&args[i + 1]));
    let reps = if quick { 3 } else { 7 };
    let pools: Vec<rayon::ThreadPool> = [1, 2].iter().map(|&n| rayon::ThreadPoolBuilder::new().num_threads(n).build().unwrap()).collect();
    let cuts = ChannelCuts::STANDARD;

    // Eight subrun files of one run, in memory (zstd, the production default).
    const FILES: usize = 8;
    let mut cfg = SimConfig::new("unused", 1, FILES as u32, 777);
    cfg.compression = CompressionChoice::Fixed("zstd".parse().unwrap());
    let p = plan(&cfg);
    let files: Vec<(PathBuf, Arc<Vec<u8>>)> =
        (0..FILES).map(|i| (PathBuf::from(gm2dqc::dataset::file_name("bench", p.subruns[i].id)), Arc::new(subrun_file(&p, i)))).collect();
    let id = |i: usize| p.subruns[i].id;
    let open = |i: usize| RootFile::from_shared(&files[i].0, files[i].1.clone()).unwrap();
    let mb = files[0].1.len() as f64 / 1e6;

    // (a) one file, one thread: read everything vs the per-subrun stage.
    let (t_read, t_stage, t_map) = pools[0].install(|| {
        (
            time(reps, || read_everything(&open(0))),
            time(reps, || subrun_metrics(&open(0), id(0), &cuts)),
            time(reps, || {
                let f = open(0);
                let r = subrun_metrics_keeping(&f, id(0), &cuts, true);
                let mut s = IntervalSums::new(0, 0);
                s.add_subrun(&f, id(0), &r);
                s.subruns.len()
            }),
        )
    });
    // ... and eight files on 1 and 2 threads.
    let stage_many = |pool: &rayon::ThreadPool| pool.install(|| time(reps, || (0..FILES).into_par_iter().map(|i| subrun_metrics(&open(i), id(i), &cuts).errors.len()).sum::<usize>()));
    let (s1, s2) = (stage_many(&pools[0]), stage_many(&pools[1]));

    // (b) the interval: partial sums of the eight files, merged; then the fits.
    let partials = || -> Vec<IntervalSums> {
        (0..FILES)
            .map(|i| {
                let f = open(i);
                let r = subrun_metrics_keeping(&f, id(i), &cuts, true);
                let mut s = IntervalSums::new(15921, 15921);
                s.add_subrun(&f, id(i), &r);
                s
            })
            .collect()
    };
    let merge = |parts: Vec<IntervalSums>| {
        let mut it = parts.into_iter();
        let mut total = it.next().unwrap();
        for s in it {
            total.merge(s);
        }
        total
    };
    let t_merge = median(
        (0..reps)
            .map(|_| {
                let parts = partials();
                let t0 = Instant::now();
                std::hint::black_box(merge(parts));
                t0.elapsed().as_secs_f64()
            })
            .collect(),
    );
    let sums = merge(partials());
    let reference: Vec<Option<(f64, f64)>> = (0..N_XTALS).map(|ch| gm2dqc::analysis::interval::oof_ratio(sums.out_of_fill.as_ref().unwrap(), ch)).collect();
    let fits_only = || sums.in_fill.iter().filter_map(|p| p.as_ref()).map(|p| fit_in_fill(p, &FitConfig::STANDARD).is_ok() as usize).sum::<usize>();
    let t_fits = pools[0].install(|| time(reps, fits_only));
    let fits_par = || sums.in_fill.par_iter().filter_map(|p| p.as_ref()).map(|p| fit_in_fill(p, &FitConfig::STANDARD).is_ok() as usize).sum::<usize>();
    let t_fits2 = pools[1].install(|| time(reps, fits_par));
    let n_ok = fits_only();
    let reduce = |pool: &rayon::ThreadPool| pool.install(|| time(reps, || interval_result(&sums, Some(&reference), sums.run_first, &cuts, &FitConfig::STANDARD, &ConstantLimits::STANDARD)));
    let (r1, r2) = (reduce(&pools[0]), reduce(&pools[1]));

    // (c) the whole pass over 16 files on disk (page cache warm after the first run).
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bench-data/analysis");
    let mut dcfg = SimConfig::new(&dir, 2, 8, 99);
    dcfg.force = true;
    simulate(&dcfg, &|_| {}).unwrap();
    let ds = gm2dqc::dataset::scan(&dir).unwrap();
    let pass = |pool: &rayon::ThreadPool| pool.install(|| time(reps.min(5), || analyze(&ds, &Config::standard(), &|_| {}).unwrap().metrics.len()));
    let (a1, a2) = (pass(&pools[0]), pass(&pools[1]));
    let dataset_mb = ds.bytes() as f64 / 1e6;

    println!("subrun file: {mb:.2} MB (zstd), {CHANNELS} channels");
    println!("(a)  read every object                 {:>8.2} ms   {:>9.0} channels/s  {:>7.1} MB/s", t_read * 1e3, CHANNELS / t_read, mb / t_read);
    println!("(a)  per-subrun stage (metrics+status) {:>8.2} ms   {:>9.0} channels/s  {:>7.1} MB/s   {:.2}x the read time (target <= 1.5x)", t_stage * 1e3, CHANNELS / t_stage, mb / t_stage, t_stage / t_read);
    println!("(a') map step (stage + partial sums)   {:>8.2} ms   {:>9.0} channels/s  {:>7.1} MB/s   {:.2}x the read time", t_map * 1e3, CHANNELS / t_map, mb / t_map, t_map / t_read);
    println!(
        "(a)  {FILES} files, 1 thread {:.1} ms, 2 threads {:.1} ms: {:>9.0} / {:.0} channels/s, {:.1} / {:.1} MB/s, speed-up {:.2}x",
        s1 * 1e3,
        s2 * 1e3,
        FILES as f64 * CHANNELS / s1,
        FILES as f64 * CHANNELS / s2,
        FILES as f64 * mb / s1,
        FILES as f64 * mb / s2,
        s1 / s2
    );
    println!("(b)  merge of {FILES} partial sums        {:>8.2} ms", t_merge * 1e3);
    println!("(b)  1296 in-fill fits, 1 thread       {:>8.2} ms   {:>9.0} fits/s ({n_ok} converged; target < 500 ms)", t_fits * 1e3, N_XTALS as f64 / t_fits);
    println!("(b)  1296 in-fill fits, 2 threads      {:>8.2} ms   speed-up {:.2}x", t_fits2 * 1e3, t_fits / t_fits2);
    println!("(b)  interval reduce (fits, gains, status) 1 thread {:.1} ms, 2 threads {:.1} ms: speed-up {:.2}x", r1 * 1e3, r2 * 1e3, r1 / r2);
    println!("(b)  interval stage (merge + reduce), 1 thread: {:.0} crystal channels/s", N_XTALS as f64 / (t_merge + r1));
    println!(
        "(c)  whole pass, {} files ({dataset_mb:.1} MB): 1 thread {:.2} s ({:.0} channels/s, {:.1} MB/s), 2 threads {:.2} s ({:.0} channels/s), speed-up {:.2}x",
        ds.files.len(),
        a1,
        ds.files.len() as f64 * CHANNELS / a1,
        dataset_mb / a1,
        a2,
        ds.files.len() as f64 * CHANNELS / a2,
        a1 / a2
    );
    if let Some(p) = json_out {
        let j = serde_json::json!({
            "file_mb": mb, "read_s": t_read, "stage_s": t_stage, "map_s": t_map,
            "stage_files": FILES, "stage_1thread_s": s1, "stage_2threads_s": s2,
            "merge_s": t_merge, "fits_1thread_s": t_fits, "fits_converged": n_ok,
            "reduce_1thread_s": r1, "reduce_2threads_s": r2,
            "pass_files": ds.files.len(), "pass_mb": dataset_mb, "pass_1thread_s": a1, "pass_2threads_s": a2,
        });
        std::fs::write(&p, serde_json::to_string_pretty(&j).unwrap()).unwrap();
        println!("figures written to {}", p.display());
    }
}
