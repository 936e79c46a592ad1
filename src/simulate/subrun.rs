//! One subrun file: every object of the contract with plausible contents, and the
//! quantities written (for the truth).

use crate::dataset::SubrunId;
use crate::hist::{Hist, Histogram, Profile};
use crate::layout::{self, paths, Class, N_CALOS, N_KICKERS, N_LASERS, N_STRAWS, N_XTALS, XTALS_PER_CALO};
use crate::root::bytes::ArrayElem;
use crate::root::{Compression, RootWriter, WriteOptions};

use super::rng::Rng;
use super::truth::{channel_status, Quantities};
use super::{FaultKind, Plan};

/// What one subrun is to be.
#[derive(Debug, Clone)]
pub struct SubrunPlan {
    pub id: SubrunId,
    pub run_index: usize,
    pub fault: Option<FaultKind>,
    pub compression: Compression,
    /// Unix time of the first fill.
    pub start_time: f64,
}

/// Quantises a measured ratio to 2^-13 (1.2e-4, well below the 4e-3 pulse-to-pulse
/// noise), as ratios of ADC integrals are quantised; keeps the sums of a profile exact
/// and compressible.
fn quantise(y: f64) -> f64 {
    (y * 8192.0).round() / 8192.0
}

/// Quantises a sum of squares of quantised values to 2^-26.
fn quantise2(y: f64) -> f64 {
    (y * 67_108_864.0).round() / 67_108_864.0
}

/// Mean in-fill laser pulses per fill in each 2 us delay bin of a crystal.
const IN_FILL_PULSES_PER_FILL_PER_BIN: f64 = 0.5;

fn new_object(spec: &layout::ObjectSpec) -> Histogram {
    let name = spec.path.rsplit('/').next().expect("paths are non-empty");
    match spec.class {
        Class::TH1F => Histogram::Hist(Hist::new_1d(name, spec.title, spec.x.clone(), ArrayElem::F32)),
        Class::TH1D => Histogram::Hist(Hist::new_1d(name, spec.title, spec.x.clone(), ArrayElem::F64)),
        Class::TH2F => Histogram::Hist(Hist::new_2d(name, spec.title, spec.x.clone(), spec.y.clone().expect("2D spec"), ArrayElem::F32)),
        Class::TProfile => Histogram::Profile(Profile::new_1d(name, spec.title, spec.x.clone())),
    }
}

/// Builds the file of one subrun in memory; returns its bytes and its quantities.
// Channel loops index several per-channel arrays at once: an index reads clearer.
#[allow(clippy::needless_range_loop)]
pub fn generate(plan: &Plan, sp: &SubrunPlan) -> (Vec<u8>, Quantities) {
    let mut r = Rng::new(plan.seed, &[u64::from(sp.id.run), u64::from(sp.id.subrun), 1]);
    let run = &plan.runs[sp.run_index];
    let fault = sp.fault;
    let mut q = Quantities::default();
    let mut objects: std::collections::HashMap<String, Histogram> =
        layout::contract_objects().iter().map(|s| (s.path.clone(), new_object(s))).collect();

    // Fills: no-DQC fills, and the fraction that passes the fill-level cuts.
    let nodqc = match fault {
        Some(FaultKind::LowFills) => 30 + r.below(11),
        _ => 80 + r.below(51),
    } as f64;
    let fraction = match fault {
        Some(FaultKind::LowFillFraction) => 0.80,
        _ => r.range(0.935, 0.965),
    };
    let fills = (nodqc * fraction).round();
    let ctags_per_fill = match fault {
        Some(FaultKind::LowCtags) => r.range(38.0, 45.0),
        Some(FaultKind::VeryLowCtags) => r.range(15.0, 25.0),
        _ => r.range(70.0, 110.0),
    };
    q.fills = fills;
    q.fills_nodqc = nodqc;
    let mut out: Vec<(String, Histogram)> = Vec::new();

    for (with, n) in [(true, fills), (false, nodqc)] {
        let mut b = take_hist(&mut objects, &paths::nearline(with, "bunch"));
        for bunch in 0..16usize {
            // Fills cycle through the 16 bunches.
            let count = ((n as usize) / 16 + usize::from(bunch < (n as usize) % 16)) as f64;
            b.set_bin(bunch + 1, count, None);
        }
        b.set_stats_from_bins(n);
        out.push((paths::nearline(with, "bunch"), Histogram::Hist(b)));
    }
    // CTAGs per calorimeter: with-DQC fills, plus the cut fills for no-DQC.
    let mut ctag = take_hist(&mut objects, &paths::nearline(true, "nearlineCTag"));
    let mut ctag_nodqc = take_hist(&mut objects, &paths::nearline(false, "nearlineCTag"));
    for calo in 1..=N_CALOS {
        let w = plan.calo_ctag_weight[calo - 1];
        let c = r.poisson(fills * ctags_per_fill * w) as f64;
        let extra = r.poisson((nodqc - fills) * ctags_per_fill * 0.7 * w) as f64;
        ctag.set_bin(calo, c, None);
        ctag_nodqc.set_bin(calo, c + extra, None);
    }
    q.ctags = ctag.integral(1, 24);
    q.ctags_nodqc = ctag_nodqc.integral(1, 24);
    ctag.set_stats_from_bins(q.ctags);
    ctag_nodqc.set_stats_from_bins(q.ctags_nodqc);
    out.push((paths::nearline(true, "nearlineCTag"), Histogram::Hist(ctag)));
    out.push((paths::nearline(false, "nearlineCTag"), Histogram::Hist(ctag_nodqc)));
    // T0: mean counter integral per fill, stable to ~1 % within a run.
    let t0 = run.t0 * (1.0 + 0.01 * r.normal()) * if fault == Some(FaultKind::T0Shift) { 1.4 } else { 1.0 };
    for (with, n, scale) in [(true, fills, 1.0), (false, nodqc, 1.01)] {
        let mut h = take_hist(&mut objects, &paths::nearline(with, "t0"));
        h.set_bin(1, t0 * scale, None);
        h.set_stats_from_bins(n);
        out.push((paths::nearline(with, "t0"), Histogram::Hist(h)));
    }
    q.t0 = t0;
    // IBMS: per-fill centroids and widths.
    for (i, m) in paths::IBMS.iter().enumerate() {
        let mut mean = take_hist(&mut objects, &format!("{}/{m}Mean", paths::WITH_DQC));
        let mut rms = take_hist(&mut objects, &format!("{}/{m}RMS", paths::WITH_DQC));
        let centre = run.ibms_centre[i] + 0.3 * r.normal();
        for _ in 0..fills as usize {
            mean.fill(r.gauss(centre, 0.8), 1.0);
            rms.fill(r.gauss(8.0, 0.3), 1.0);
        }
        out.push((format!("{}/{m}Mean", paths::WITH_DQC), Histogram::Hist(mean)));
        out.push((format!("{}/{m}RMS", paths::WITH_DQC), Histogram::Hist(rms)));
    }

    // Calorimeters: energy spectra (hits), pedestal noise.
    let mut hits = vec![0.0; N_XTALS];
    let extra_dead: Vec<usize> = if fault == Some(FaultKind::DeadCrystals) { plan.fault_dead_xtals.clone() } else { Vec::new() };
    for ch in 0..N_XTALS {
        let (calo, xtal) = layout::xtal_of(ch);
        let c = &plan.crystals[ch];
        let mut rate = plan.xtal_rate[ch] * fills;
        if c.dead || extra_dead.contains(&ch) {
            rate *= 0.005;
        } else if c.hot {
            rate *= 8.0;
        }
        let path = paths::xtal_energy(calo, xtal);
        let mut e = take_hist(&mut objects, &path);
        for (bin, p) in plan.calo_energy_shape[calo - 1].iter().enumerate() {
            e.set_bin(bin, r.poisson(rate * p) as f64, None);
        }
        hits[ch] = e.integral(0, 251);
        e.set_stats_from_bins(hits[ch]);
        out.push((path, Histogram::Hist(e)));
    }
    let mut ped = take_profile(&mut objects, paths::PEDESTAL_RMS);
    for ch in 0..N_XTALS {
        let sigma = plan.pedestal[ch] * if plan.crystals[ch].noisy { 5.0 } else { 1.0 };
        for _ in 0..20 {
            ped.fill(ch as f64, quantise(r.gauss(sigma, 0.05 * sigma)), 1.0);
        }
    }
    let pedestal: Vec<f64> = (0..N_XTALS).map(|ch| ped.bin_content(ch + 1)).collect();
    let groups: Vec<usize> = (0..N_XTALS).map(|ch| ch / XTALS_PER_CALO).collect();
    let status = channel_status(&hits, &groups, Some(&pedestal), 0.05, 5.0, 3.0);
    q.n_dead_xtals = status.iter().filter(|s| s.0).count();
    q.n_hot_xtals = status.iter().filter(|s| s.1).count();
    q.n_noisy_xtals = status.iter().filter(|s| s.2).count();
    out.push((paths::PEDESTAL_RMS.into(), Histogram::Profile(ped)));

    // Laser: source monitors, out-of-fill ratios, in-fill gain sag.
    let mut sm = take_profile(&mut objects, paths::SOURCE_MONITOR);
    for l in 1..=N_LASERS {
        let level = if fault == Some(FaultKind::LaserSourceMonitor) && l == 3 { 40.0 } else { 1000.0 * plan.laser_level[l - 1] };
        for _ in 0..fills as usize {
            sm.fill(l as f64, quantise(r.gauss(level, 10.0)), 1.0);
        }
    }
    q.laser_sm = std::array::from_fn(|l| sm.bin_content(l + 1));
    out.push((paths::SOURCE_MONITOR.into(), Histogram::Profile(sm)));
    let mut oof = take_profile(&mut objects, paths::OUT_OF_FILL);
    for ch in 0..N_XTALS {
        let c = &plan.crystals[ch];
        if c.dead || extra_dead.contains(&ch) {
            continue; // a dead crystal sees no laser light
        }
        let ratio = c.oof_base * c.gain[sp.run_index];
        for _ in 0..40 {
            oof.fill(ch as f64, quantise(ratio * (1.0 + 0.003 * r.normal())), 1.0);
        }
    }
    out.push((paths::OUT_OF_FILL.into(), Histogram::Profile(oof)));
    for ch in 0..N_XTALS {
        let (calo, xtal) = layout::xtal_of(ch);
        let c = &plan.crystals[ch];
        let path = paths::in_fill(calo, xtal);
        let mut p = take_profile(&mut objects, &path);
        if !(c.dead || extra_dead.contains(&ch)) {
            // The in-fill laser fires at fixed delays, one per 2 us bin centre, on about
            // half of the fills per delay. Only the profile's sums reach the file, so
            // they are drawn from their sampling distributions: n pulses with mean g and
            // spread 0.4 % give sum y = n g + sqrt(n) s Z and a spread sum with
            // (n - 1) s^2 chi2_{n-1}. Sums are quantised to 2^-13 and 2^-26 so that
            // they add exactly across subruns.
            let sigma = 0.004;
            for bin in 1..=200usize {
                let n = r.poisson(fills * IN_FILL_PULSES_PER_FILL_PER_BIN);
                if n == 0 {
                    continue;
                }
                let t = p.axes()[0].center(bin);
                let g = c.ifg_norm * (1.0 - c.ifg_amp * (-t / c.ifg_tau_us).exp());
                let nf = n as f64;
                let sum_y = quantise(nf * g + nf.sqrt() * sigma * r.normal());
                let sum_y2 = if n == 1 { sum_y * sum_y } else { quantise2(sum_y * sum_y / nf + sigma * sigma * r.chi_square(n - 1)) };
                p.set_cell(bin, nf, sum_y, sum_y2);
            }
            p.recompute_stats();
        }
        out.push((path, Histogram::Profile(p)));
    }

    // Kickers and quadrupoles, per fill.
    let mut amp = take_profile(&mut objects, paths::KICKER_AMPLITUDE);
    let mut timing = take_profile(&mut objects, paths::KICKER_TIMING);
    let mut fwhm = take_profile(&mut objects, paths::KICKER_FWHM);
    for _ in 0..fills as usize {
        for k in 1..=N_KICKERS {
            let a = if fault == Some(FaultKind::KickerAmplitude) && k == 2 { 100.0 } else { run.kicker_amplitude[k - 1] };
            amp.fill(k as f64, r.gauss(a, 1.0), 1.0);
            timing.fill(k as f64, r.gauss(run.kicker_timing[k - 1], 1.5), 1.0);
            fwhm.fill(k as f64, r.gauss(run.kicker_fwhm[k - 1], 3.0), 1.0);
        }
    }
    q.kicker_amplitude = std::array::from_fn(|k| amp.bin_content(k + 1));
    q.kicker_timing = std::array::from_fn(|k| timing.bin_content(k + 1));
    q.kicker_fwhm = std::array::from_fn(|k| fwhm.bin_content(k + 1));
    out.push((paths::KICKER_AMPLITUDE.into(), Histogram::Profile(amp)));
    out.push((paths::KICKER_TIMING.into(), Histogram::Profile(timing)));
    out.push((paths::KICKER_FWHM.into(), Histogram::Profile(fwhm)));
    let step1_mean = if fault == Some(FaultKind::QuadStep1) { 16.5 } else { 18.2 };
    for (path, mean) in [(paths::QUAD_STEP1, step1_mean), (paths::QUAD_STEP2, 23.2)] {
        let mut h = take_hist(&mut objects, path);
        for _ in 0..fills as usize {
            h.fill(r.gauss(mean, 0.05), 1.0);
        }
        if path == paths::QUAD_STEP1 {
            q.quad_step1 = h.mean(1);
        } else {
            q.quad_step2 = h.mean(1);
        }
        out.push((path.into(), Histogram::Hist(h)));
    }

    // Lost muons: singles decay with the dilated lifetime; doubles have a true
    // coincidence peak (proportional to the stored muons, like CTAGs) in the first
    // half of the window over a flat accidental background.
    let mut singles = take_hist(&mut objects, paths::SINGLES);
    let s_mean = fills * 200.0;
    let tau: f64 = 64.4;
    let norm = 1.0 - (-(630.0 - 30.0) / tau).exp();
    for bin in 1..=100usize {
        let (lo, hi) = (30.0 + 6.0 * (bin - 1) as f64, 30.0 + 6.0 * bin as f64);
        let p = ((-(lo - 30.0) / tau).exp() - (-(hi - 30.0) / tau).exp()) / norm;
        singles.set_bin(bin, r.poisson(s_mean * p) as f64, None);
    }
    q.singles = singles.integral(1, 100);
    singles.set_stats_from_bins(q.singles);
    let mut doubles = take_hist(&mut objects, paths::DOUBLES);
    let peak = q.ctags * 0.055 * if fault == Some(FaultKind::HighLosses) { 3.0 } else { 1.0 };
    let background_per_bin = fills * 8.0 / 100.0;
    for bin in 1..=100usize {
        let (lo, hi) = (0.2 * (bin - 1) as f64, 0.2 * bin as f64);
        let p = normal_cdf((hi - 4.0) / 1.2) - normal_cdf((lo - 4.0) / 1.2);
        doubles.set_bin(bin, r.poisson(peak * p + background_per_bin) as f64, None);
    }
    q.doubles = doubles.integral(1, 50);
    q.background = doubles.integral(51, 100);
    doubles.set_stats_from_bins(doubles.integral(0, 101));
    out.push((paths::SINGLES.into(), Histogram::Hist(singles)));
    out.push((paths::DOUBLES.into(), Histogram::Hist(doubles)));

    // Tracker: hits per straw with a triangular drift-time distribution over 0-100 ns.
    let mut straw_hits = take_hist(&mut objects, paths::STRAW_HITS);
    let mut drift = take_hist(&mut objects, paths::DRIFT_TIME);
    let extra_dead_straws: Vec<usize> = if fault == Some(FaultKind::DeadStraws) { plan.fault_dead_straws.clone() } else { Vec::new() };
    let drift_p: Vec<f64> = (1..=60usize)
        .map(|b| {
            let (lo, hi) = (2.0 * (b - 1) as f64, (2.0 * b as f64).min(100.0));
            if lo >= 100.0 {
                0.0
            } else {
                // Density 2(100 - t)/100^2 on [0, 100).
                ((100.0 - lo).powi(2) - (100.0 - hi).powi(2)) / 10_000.0
            }
        })
        .collect();
    let mut straw_counts = vec![0.0; N_STRAWS];
    for w in 0..N_STRAWS {
        let mut rate = plan.straw_rate[w] * fills;
        if plan.straw_dead[w] || extra_dead_straws.contains(&w) {
            rate *= 0.001;
        } else if plan.straw_noisy[w] {
            rate *= 8.0;
        }
        let mut total = 0.0;
        for (b, p) in drift_p.iter().enumerate() {
            if *p > 0.0 {
                let n = r.poisson(rate * p) as f64;
                drift.set_bin((w + 1) + (N_STRAWS + 2) * (b + 1), n, None);
                total += n;
            }
        }
        straw_hits.set_bin(w + 1, total, None);
        straw_counts[w] = total;
    }
    straw_hits.set_stats_from_bins(straw_counts.iter().sum());
    drift.set_stats_from_bins(straw_counts.iter().sum());
    let modules: Vec<usize> = (0..N_STRAWS).map(layout::module_index).collect();
    let straw_status = channel_status(&straw_counts, &modules, None, 0.05, 5.0, 0.0);
    q.n_dead_straws = straw_status.iter().filter(|s| s.0).count();
    q.n_noisy_straws = straw_status.iter().filter(|s| s.1).count();
    out.push((paths::STRAW_HITS.into(), Histogram::Hist(straw_hits)));
    out.push((paths::DRIFT_TIME.into(), Histogram::Hist(drift)));
    let mut hv = take_hist(&mut objects, paths::HV_TRIPS);
    if fault == Some(FaultKind::HvTrip) {
        let module = r.below(16);
        let tripped = 1 + r.below(5);
        hv.set_bin(module + 1, tripped as f64, None);
    }
    q.hv_trip_fills = hv.integral(1, 16);
    hv.set_stats_from_bins(q.hv_trip_fills);
    out.push((paths::HV_TRIPS.into(), Histogram::Hist(hv)));
    debug_assert!(objects.is_empty(), "objects not generated: {:?}", objects.keys().collect::<Vec<_>>());

    // Write in the catalogue's order.
    let order = layout::contract_objects();
    let mut by_path: std::collections::HashMap<String, Histogram> = out.into_iter().collect();
    let mut w = RootWriter::new(WriteOptions {
        compression: sp.compression,
        timestamp: sp.start_time as i64,
        title: format!("gm2dqc simulated subrun {}.{}", sp.id.run, sp.id.subrun),
    });
    for spec in &order {
        let h = by_path.remove(&spec.path).expect("every contract object generated");
        w.put_hist(&spec.path, &h.to_raw()).expect("generated histograms are consistent");
    }
    // timeTree: the receive time of every fill, ~12 fills a second.
    let times: Vec<f64> = (0..nodqc as usize).map(|i| sp.start_time + i as f64 / 12.0).collect();
    q.start_time = times.first().copied();
    q.end_time = times.last().copied();
    w.put_tree_f64(paths::TIME_TREE, "unixTimeRecv", &times).expect("timeTree is a new top-level name");
    let name = crate::dataset::file_name(&plan.prefix, sp.id);
    (w.to_bytes(&name), q)
}

fn take_hist(objects: &mut std::collections::HashMap<String, Histogram>, path: &str) -> Hist {
    match objects.remove(path) {
        Some(Histogram::Hist(h)) => h,
        _ => unreachable!("{path} is a TH1/TH2 of the contract"),
    }
}

fn take_profile(objects: &mut std::collections::HashMap<String, Histogram>, path: &str) -> Profile {
    match objects.remove(path) {
        Some(Histogram::Profile(p)) => p,
        _ => unreachable!("{path} is a TProfile of the contract"),
    }
}

/// Standard normal CDF (Abramowitz-Stegun 7.1.26 erf, |error| < 1.5e-7).
fn normal_cdf(x: f64) -> f64 {
    let z = x / std::f64::consts::SQRT_2;
    let t = 1.0 / (1.0 + 0.327_591_1 * z.abs());
    let poly = t * (0.254_829_592 + t * (-0.284_496_736 + t * (1.421_413_741 + t * (-1.453_152_027 + t * 1.061_405_429))));
    let erf = 1.0 - poly * (-z * z).exp();
    0.5 * (1.0 + if z >= 0.0 { erf } else { -erf })
}
