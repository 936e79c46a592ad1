//! `gm2dqc simulate`: realistic production DQC files with injected faults, and the
//! truth to test the analyses against.
//!
//! A dataset is planned first, on one thread, from the seed alone: per-crystal gain
//! truth, channel faults, per-run conditions, which subruns are bad and why. Then
//! every subrun file is generated from its own random stream (seed, run, subrun), in
//! parallel, and written atomically: the bytes of a file never depend on the thread
//! count or the order of work, and memory holds one file per thread. The truth
//! (`truth.json`) is written last, atomically.
//!
//! Realism (spec section 2 and issue 3): 80-130 fills per subrun, ~95 % passing the
//! fill-level DQC; CTAG 70-110 per fill; T0 stable to ~1 %; kickers ~135 kV, timing
//! within +-4 ns, FWHM ~150 ns; quads 18.2 / 23.2 kV; source monitors ~1000; singles
//! decaying with the dilated muon lifetime; doubles with a coincidence peak at 4 ns
//! over a flat accidental background; per-calorimeter energy spectra; triangular
//! drift times over 0-100 ns. In-fill gain follows N (1 - A exp(-t/tau)) with
//! A in [0.01, 0.05], tau in [6, 40] us; in-fill laser pulses at fixed 2 us delays,
//! ~0.5 per fill per delay per crystal (about 50 per bin per subrun).

mod rng;
mod subrun;
pub mod truth;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::dataset::SubrunId;
use crate::layout::{self, N_CALOS, N_LASERS, N_STRAWS, N_XTALS, STRAWS_PER_MODULE};
use crate::root::{Algorithm, Compression};

pub use rng::Rng;
pub use subrun::SubrunPlan;
pub use truth::{CrystalTruth, Quantities, SubrunTruth, Truth};

/// The injected cause of a bad subrun; each one fails exactly the flag named.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
#[value(rename_all = "snake_case")]
pub enum FaultKind {
    /// 30-40 fills (fills_ok).
    LowFills,
    /// 80 % of the fills pass the fill-level cuts (fills_ok).
    LowFillFraction,
    /// CTAG per fill 38-45: fails ctags_ok, passes ctags_loose_ok.
    LowCtags,
    /// CTAG per fill 15-25: fails ctags_ok and ctags_loose_ok.
    VeryLowCtags,
    /// T0 40 % above the run (t0_ok).
    T0Shift,
    /// Kicker 2 at 100 kV (kicker_ok).
    KickerAmplitude,
    /// Quad step 1 at 16.5 kV (quad_ok).
    QuadStep1,
    /// Three times the lost-muon rate (losses_ok).
    HighLosses,
    /// Laser 3 source monitor at 40 (laser_ok).
    LaserSourceMonitor,
    /// Ten more dead crystals (calo_ok).
    DeadCrystals,
    /// HV trips in one tracker module (tracker_ok).
    HvTrip,
    /// Eighty more dead straws, ten in each of eight modules (tracker_ok).
    DeadStraws,
}

impl FaultKind {
    pub const ALL: [FaultKind; 12] = [
        FaultKind::LowFills,
        FaultKind::LowFillFraction,
        FaultKind::LowCtags,
        FaultKind::VeryLowCtags,
        FaultKind::T0Shift,
        FaultKind::KickerAmplitude,
        FaultKind::QuadStep1,
        FaultKind::HighLosses,
        FaultKind::LaserSourceMonitor,
        FaultKind::DeadCrystals,
        FaultKind::HvTrip,
        FaultKind::DeadStraws,
    ];

    /// The flags this fault makes false (everything else stays true).
    pub fn failing_flags(self) -> &'static [&'static str] {
        match self {
            FaultKind::LowFills | FaultKind::LowFillFraction => &["fills_ok"],
            FaultKind::LowCtags => &["ctags_ok"],
            FaultKind::VeryLowCtags => &["ctags_ok", "ctags_loose_ok"],
            FaultKind::T0Shift => &["t0_ok"],
            FaultKind::KickerAmplitude => &["kicker_ok"],
            FaultKind::QuadStep1 => &["quad_ok"],
            FaultKind::HighLosses => &["losses_ok"],
            FaultKind::LaserSourceMonitor => &["laser_ok"],
            FaultKind::DeadCrystals => &["calo_ok"],
            FaultKind::HvTrip | FaultKind::DeadStraws => &["tracker_ok"],
        }
    }
}

/// Compression of the files: one for all, or a different one per file.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum CompressionChoice {
    Fixed(Compression),
    /// Chosen per file from none, zlib, LZ4, ZSTD and LZMA.
    Mixed,
}

impl std::str::FromStr for CompressionChoice {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        if s.eq_ignore_ascii_case("mixed") {
            Ok(CompressionChoice::Mixed)
        } else {
            s.parse().map(CompressionChoice::Fixed)
        }
    }
}

/// Everything `simulate` needs.
#[derive(Debug, Clone)]
pub struct SimConfig {
    pub out: PathBuf,
    pub runs: u32,
    pub subruns: u32,
    pub first_run: u32,
    pub seed: u64,
    pub compression: CompressionChoice,
    pub prefix: String,
    /// Fault kinds to inject into bad subruns; empty = a clean dataset (no bad subruns
    /// and no dead, hot or noisy channels).
    pub faults: Vec<FaultKind>,
    /// Fraction of subruns made bad (each with one cause).
    pub fault_rate: f64,
    /// Unix time of the first subrun.
    pub start_time: f64,
    /// Overwrite an existing dataset in `out`.
    pub force: bool,
}

impl SimConfig {
    pub fn new(out: impl Into<PathBuf>, runs: u32, subruns: u32, seed: u64) -> Self {
        SimConfig {
            out: out.into(),
            runs,
            subruns,
            first_run: 15921,
            seed,
            compression: CompressionChoice::Fixed(Compression::default()),
            prefix: "gm2dqc_sim".into(),
            faults: FaultKind::ALL.to_vec(),
            fault_rate: 0.3,
            start_time: 1_617_000_000.0,
            force: false,
        }
    }
}

/// Per-run conditions.
#[derive(Debug, Clone)]
pub(crate) struct RunParams {
    pub t0: f64,
    pub ibms_centre: [f64; 4],
    pub kicker_amplitude: [f64; 3],
    pub kicker_timing: [f64; 3],
    pub kicker_fwhm: [f64; 3],
}

/// The dataset, decided before any file is written.
pub struct Plan {
    pub(crate) seed: u64,
    pub(crate) prefix: String,
    pub(crate) runs: Vec<RunParams>,
    pub(crate) crystals: Vec<CrystalTruth>,
    pub(crate) xtal_rate: Vec<f64>,
    pub(crate) pedestal: Vec<f64>,
    /// Per calorimeter: probability of each of the 252 energy cells (flow included).
    pub(crate) calo_energy_shape: Vec<Vec<f64>>,
    pub(crate) calo_ctag_weight: Vec<f64>,
    pub(crate) laser_level: [f64; N_LASERS],
    pub(crate) straw_rate: Vec<f64>,
    pub(crate) straw_dead: Vec<bool>,
    pub(crate) straw_noisy: Vec<bool>,
    pub(crate) fault_dead_xtals: Vec<usize>,
    pub(crate) fault_dead_straws: Vec<usize>,
    pub subruns: Vec<SubrunPlan>,
}

fn energy_shape(calo: usize) -> Vec<f64> {
    // A falling spectrum (decay positrons above threshold) with a broad bump, its
    // scale changing smoothly around the ring.
    let lambda = 450.0 + 12.0 * calo as f64;
    let (mu, sigma) = (1400.0 + 20.0 * calo as f64, 350.0);
    let density = |e: f64| (-e / lambda).exp() + 0.25 * (-0.5 * ((e - mu) / sigma).powi(2)).exp();
    let mut p = vec![0.0; 252];
    for (b, cell) in p.iter_mut().enumerate().take(251).skip(1) {
        let lo = 16.0 * (b - 1) as f64;
        *cell = (0..8).map(|i| density(lo + 2.0 * (i as f64 + 0.5))).sum::<f64>() * 2.0;
    }
    // Overflow: the exponential tail above 4 GeV.
    p[251] = lambda * (-4000.0 / lambda).exp();
    let total: f64 = p.iter().sum();
    p.iter_mut().for_each(|x| *x /= total);
    p
}

/// Plans a dataset from the configuration (single-threaded, from the seed alone).
pub fn plan(cfg: &SimConfig) -> Plan {
    let mut r = Rng::new(cfg.seed, &[0]);
    let nruns = cfg.runs as usize;
    let channel_faults = !cfg.faults.is_empty();
    let runs: Vec<RunParams> = (0..nruns)
        .map(|_| RunParams {
            t0: r.range(900.0, 1100.0),
            ibms_centre: std::array::from_fn(|_| r.gauss(0.0, 1.0)),
            kicker_amplitude: std::array::from_fn(|_| r.range(132.0, 138.0)),
            kicker_timing: std::array::from_fn(|_| r.range(-4.0, 4.0)),
            kicker_fwhm: std::array::from_fn(|_| r.range(145.0, 155.0)),
        })
        .collect();
    // Crystal faults: a few dead, hot and noisy crystals for the whole dataset.
    let picks = if channel_faults { r.choose(N_XTALS, 8 + 10) } else { Vec::new() };
    let (dead, hot, noisy, fault_dead_xtals) = if channel_faults {
        (picks[0..3].to_vec(), picks[3..5].to_vec(), picks[5..8].to_vec(), picks[8..18].to_vec())
    } else {
        (Vec::new(), Vec::new(), Vec::new(), Vec::new())
    };
    // Gain drift: a random walk per calorimeter plus a per-crystal wobble, the first
    // run being the reference (gain 1).
    let mut calo_drift = vec![vec![0.0; nruns]; N_CALOS];
    for drift in calo_drift.iter_mut() {
        for i in 1..nruns {
            drift[i] = (drift[i - 1] + r.gauss(0.0, 0.008)).clamp(-0.04, 0.04);
        }
    }
    let crystals: Vec<CrystalTruth> = (0..N_XTALS)
        .map(|ch| {
            let (calo, xtal) = layout::xtal_of(ch);
            let wobble = r.gauss(0.0, 0.002);
            CrystalTruth {
                channel: ch,
                calo,
                xtal,
                ifg_norm: 1.0 + r.gauss(0.0, 0.0005),
                ifg_amp: r.range(0.01, 0.05),
                ifg_tau_us: r.range(6.0, 40.0),
                oof_base: r.range(0.6, 1.0),
                gain: (0..nruns).map(|i| if i == 0 { 1.0 } else { 1.0 + calo_drift[calo - 1][i] + wobble }).collect(),
                dead: dead.contains(&ch),
                hot: hot.contains(&ch),
                noisy: noisy.contains(&ch),
            }
        })
        .collect();
    let xtal_rate = (0..N_XTALS).map(|_| 40.0 * r.range(0.85, 1.15)).collect();
    let pedestal = (0..N_XTALS).map(|_| 2.0 * r.range(0.9, 1.1)).collect();
    let calo_energy_shape = (1..=N_CALOS).map(energy_shape).collect();
    let w: Vec<f64> = (0..N_CALOS).map(|_| r.range(0.9, 1.1)).collect();
    let wsum: f64 = w.iter().sum();
    let calo_ctag_weight = w.iter().map(|x| x / wsum).collect();
    let laser_level = std::array::from_fn(|_| r.range(0.95, 1.05));
    let module_factor: Vec<f64> = (0..layout::N_MODULES).map(|_| r.range(0.8, 1.2)).collect();
    let straw_rate = (0..N_STRAWS).map(|w| 0.6 * module_factor[layout::module_index(w)] * r.range(0.9, 1.1)).collect();
    let straw_picks = if channel_faults { r.choose(N_STRAWS, 15) } else { Vec::new() };
    let mut straw_dead = vec![false; N_STRAWS];
    let mut straw_noisy = vec![false; N_STRAWS];
    for (i, &w) in straw_picks.iter().enumerate() {
        if i < 10 {
            straw_dead[w] = true;
        } else {
            straw_noisy[w] = true;
        }
    }
    // For a DeadStraws fault: ten more dead straws in each of eight modules.
    let fault_dead_straws: Vec<usize> = (0..8)
        .flat_map(|m| {
            let base = 2 * m * STRAWS_PER_MODULE;
            (0..10).map(move |i| base + 3 + 11 * i)
        })
        .filter(|w| !straw_dead[*w] && !straw_noisy[*w])
        .collect();

    // Bad subruns: a share of all subruns, causes dealt round-robin in a shuffled
    // order so that every kind appears once there are enough bad subruns.
    let total = nruns * cfg.subruns as usize;
    let nbad = if cfg.faults.is_empty() { 0 } else { ((total as f64) * cfg.fault_rate).round() as usize };
    let bad = r.choose(total, nbad);
    let mut kinds = cfg.faults.clone();
    for i in (1..kinds.len()).rev() {
        let j = r.below(i + 1);
        kinds.swap(i, j);
    }
    let mut fault_of = vec![None; total];
    for (i, &b) in bad.iter().enumerate() {
        fault_of[b] = Some(kinds[i % kinds.len()]);
    }
    let algorithms = [Compression::NONE, Compression::new(Algorithm::Zlib, 1), Compression::new(Algorithm::Lz4, 4), Compression::new(Algorithm::Zstd, 5), Compression::new(Algorithm::Lzma, 7)];
    let subruns = (0..total)
        .map(|i| {
            let run_index = i / cfg.subruns as usize;
            let id = SubrunId { run: cfg.first_run + run_index as u32, subrun: (i % cfg.subruns as usize) as u32 + 1 };
            let compression = match cfg.compression {
                CompressionChoice::Fixed(c) => c,
                CompressionChoice::Mixed => algorithms[r.below(algorithms.len())],
            };
            // ~10.5 s per subrun, a 5-minute gap between runs.
            let start_time = cfg.start_time + i as f64 * 10.5 + run_index as f64 * 300.0;
            SubrunPlan { id, run_index, fault: fault_of[i], compression, start_time }
        })
        .collect();
    Plan {
        seed: cfg.seed,
        prefix: cfg.prefix.clone(),
        runs,
        crystals,
        xtal_rate,
        pedestal,
        calo_energy_shape,
        calo_ctag_weight,
        laser_level,
        straw_rate,
        straw_dead,
        straw_noisy,
        fault_dead_xtals,
        fault_dead_straws,
        subruns,
    }
}

/// The bytes of the `i`-th subrun file of a plan (what `simulate` writes), for
/// benchmarks and tests that want one realistic file without a dataset on disk.
pub fn subrun_file(plan: &Plan, i: usize) -> Vec<u8> {
    subrun::generate(plan, &plan.subruns[i]).0
}

/// Summary of a simulation.
#[derive(Debug)]
pub struct SimSummary {
    pub files: usize,
    pub bytes: u64,
    pub seconds: f64,
    pub truth_path: PathBuf,
    pub bad_subruns: usize,
}

/// Errors of `simulate`.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    #[error("{0} already holds a simulated dataset (truth.json); use --force to overwrite it or choose another --out")]
    Exists(PathBuf),
    #[error("cannot write {path}: {source}. Hint: check the directory exists, is writable and has free space")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("invalid configuration: {0}")]
    Config(String),
}

fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), SimError> {
    crate::atomic::write(path, bytes).map_err(|source| SimError::Io { path: path.to_path_buf(), source })
}

/// Generates the dataset described by `cfg`; `progress` is called after each file.
pub fn simulate(cfg: &SimConfig, progress: &(dyn Fn(u64) + Sync)) -> Result<SimSummary, SimError> {
    if cfg.runs == 0 || cfg.subruns == 0 {
        return Err(SimError::Config("--runs and --subruns must be at least 1".into()));
    }
    if cfg.subruns > 99_999 {
        return Err(SimError::Config("--subruns must be at most 99999 (five-digit subrun numbers)".into()));
    }
    if !(0.0..=1.0).contains(&cfg.fault_rate) {
        return Err(SimError::Config(format!("--fault-rate must be in [0, 1], got {}", cfg.fault_rate)));
    }
    std::fs::create_dir_all(&cfg.out).map_err(|source| SimError::Io { path: cfg.out.clone(), source })?;
    let truth_path = cfg.out.join("truth.json");
    if truth_path.exists() {
        if !cfg.force {
            return Err(SimError::Exists(cfg.out.clone()));
        }
        // Remove the old dataset's subrun files, so none outlives its truth.
        let entries = std::fs::read_dir(&cfg.out).map_err(|source| SimError::Io { path: cfg.out.clone(), source })?;
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if crate::dataset::parse_file_name(&name).is_some_and(|(p, _)| p == cfg.prefix) {
                std::fs::remove_file(e.path()).map_err(|source| SimError::Io { path: e.path(), source })?;
            }
        }
    }
    let t0 = Instant::now();
    let plan = plan(cfg);
    let bytes = AtomicU64::new(0);
    let results: Vec<Result<(usize, Quantities), SimError>> = plan
        .subruns
        .par_iter()
        .enumerate()
        .map(|(i, sp)| {
            let (file, q) = subrun::generate(&plan, sp);
            let path = cfg.out.join(crate::dataset::file_name(&plan.prefix, sp.id));
            write_atomic(&path, &file)?;
            bytes.fetch_add(file.len() as u64, Ordering::Relaxed);
            progress(1);
            Ok((i, q))
        })
        .collect();
    let mut quantities: Vec<Option<Quantities>> = vec![None; plan.subruns.len()];
    for r in results {
        let (i, q) = r?;
        quantities[i] = Some(q);
    }
    let quantities: Vec<Quantities> = quantities.into_iter().map(|q| q.expect("every subrun generated")).collect();
    let mut subruns = Vec::with_capacity(plan.subruns.len());
    for run_index in 0..cfg.runs as usize {
        let idx: Vec<usize> = (0..plan.subruns.len()).filter(|&i| plan.subruns[i].run_index == run_index).collect();
        let qs: Vec<&Quantities> = idx.iter().map(|&i| &quantities[i]).collect();
        for (&i, expected) in idx.iter().zip(truth::expected_flags(&qs)) {
            let sp = &plan.subruns[i];
            subruns.push(SubrunTruth {
                run: sp.id.run,
                subrun: sp.id.subrun,
                file: crate::dataset::file_name(&plan.prefix, sp.id),
                compression: sp.compression.to_string(),
                fault: sp.fault,
                quantities: quantities[i].clone(),
                expected,
            });
        }
    }
    let bad_subruns = subruns.iter().filter(|s| s.fault.is_some()).count();
    let truth = Truth {
        generator: format!("gm2dqc {} simulate", env!("CARGO_PKG_VERSION")),
        seed: cfg.seed,
        first_run: cfg.first_run,
        runs: cfg.runs,
        subruns_per_run: cfg.subruns,
        prefix: cfg.prefix.clone(),
        reference_run: cfg.first_run,
        fault_kinds: cfg.faults.clone(),
        fault_rate: if cfg.faults.is_empty() { 0.0 } else { cfg.fault_rate },
        crystals: plan.crystals.clone(),
        dead_straws: (0..N_STRAWS).filter(|&w| plan.straw_dead[w]).collect(),
        noisy_straws: (0..N_STRAWS).filter(|&w| plan.straw_noisy[w]).collect(),
        subruns,
    };
    let json = serde_json::to_vec_pretty(&truth).expect("truth serialises");
    write_atomic(&truth_path, &json)?;
    Ok(SimSummary { files: plan.subruns.len(), bytes: bytes.into_inner(), seconds: t0.elapsed().as_secs_f64(), truth_path, bad_subruns })
}
