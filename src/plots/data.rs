//! What the plots and the report need, read back from an output directory: the
//! tables, the cut file's evaluation of the metrics, and from the merged files the
//! in-fill profiles of the channels shown and the drift-time distributions.
//!
//! Everything is read from files, never from memory of an earlier stage, so `gm2dqc
//! plots --out OUT` can run alone. A missing optional input (no merged files) only
//! leaves out the plots that need it, with a note saying so.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::analysis::fit::{fit_points, FitConfig};
use crate::merged;
use crate::cuts::eval::Evaluation;
use crate::cuts::{CutFile, Test};
use crate::hist::{Hist, Profile};
use crate::layout::{self, paths, N_MODULES, N_STRAWS, N_XTALS, STRAWS_PER_MODULE};
use crate::root::RootFile;
use crate::tables::{Table, TableError};

/// Who, what and with what: the second line of every plot title.
#[derive(Debug, Clone, PartialEq)]
pub struct Meta {
    pub dataset: String,
    pub run_first: u32,
    pub run_last: u32,
    pub subruns: usize,
    /// The cut file's name and the first 12 hex digits of its hash.
    pub cuts: String,
    pub cuts_sha256: String,
    pub cuts_source: String,
    pub tag: Option<String>,
}

impl Meta {
    pub fn subtitle(&self) -> String {
        let runs = if self.run_first == self.run_last { format!("run {}", self.run_first) } else { format!("runs {}-{}", self.run_first, self.run_last) };
        let tag = self.tag.as_deref().map(|t| format!(" | tag {t}")).unwrap_or_default();
        format!("dataset {} | {runs} ({} subruns) | cuts {}{tag}", self.dataset, self.subruns, self.cuts)
    }
}

/// One interval of validity: constants and channel status by channel id.
#[derive(Debug, Clone, Default)]
pub struct IntervalData {
    pub first: u32,
    pub last: u32,
    pub gain: Vec<Option<f64>>,
    pub gain_err: Vec<Option<f64>>,
    pub amp: Vec<Option<f64>>,
    pub tau: Vec<Option<f64>>,
    pub norm: Vec<Option<f64>>,
    pub chi2_ndf: Vec<Option<f64>>,
    pub ndf: Vec<Option<f64>>,
    pub status: Vec<String>,
    pub detail: Vec<String>,
    pub hits: Vec<Option<f64>>,
    pub pedestal_rms: Vec<Option<f64>>,
    pub dead: Vec<bool>,
    pub hot: Vec<bool>,
    pub noisy: Vec<bool>,
    pub straw_hits: Vec<Option<f64>>,
    pub straw_dead: Vec<bool>,
    pub straw_noisy: Vec<bool>,
}

impl IntervalData {
    pub fn label(&self) -> String {
        if self.first == self.last {
            format!("run {}", self.first)
        } else {
            format!("runs {}-{}", self.first, self.last)
        }
    }

    pub fn file_tag(&self) -> String {
        if self.first == self.last {
            format!("run{}", self.first)
        } else {
            format!("runs{}-{}", self.first, self.last)
        }
    }
}

/// One point of an in-fill profile: (t [us], mean, error, entries, used by the fit).
pub type ProfilePoint = (f64, f64, f64, f64, bool);

/// An in-fill fit to draw: the profile points and the fitted parameters.
#[derive(Debug, Clone)]
pub struct FitCurve {
    pub interval: usize,
    pub channel: usize,
    pub points: Vec<ProfilePoint>,
    pub norm: Option<f64>,
    pub amp: Option<f64>,
    pub tau: Option<f64>,
    pub chi2_ndf: Option<f64>,
    pub ndf: Option<f64>,
    pub status: String,
    /// Why it is shown: "chosen" or "worst chi2/ndf".
    pub why: &'static str,
}

/// Drift-time distribution per module (16), summed over the intervals, on the
/// drift-time axis of `bins` bins from `low` to `high` (ns).
#[derive(Debug, Clone)]
pub struct Drift {
    pub by_module: Vec<Vec<f64>>,
    pub bins: usize,
    pub low: f64,
    pub high: f64,
}

/// The per-subrun side: the metrics the cuts use, with a time axis.
#[derive(Debug, Clone, Default)]
pub struct SubrunData {
    pub runs: Vec<u32>,
    pub subruns: Vec<u32>,
    /// Time since the first subrun's start (in `x_label`'s unit: minutes, hours or
    /// days, whichever suits the span) when every subrun has a start time, else the
    /// subrun's position in the dataset.
    pub x: Vec<f64>,
    /// The x axis label, with its unit.
    pub x_label: String,
    pub columns: BTreeMap<String, Vec<Option<f64>>>,
    pub ctags: Vec<f64>,
}

/// Everything the standard plots and the report read.
#[derive(Debug)]
pub struct PlotInputs {
    pub meta: Meta,
    pub cuts: CutFile,
    pub eval: Evaluation,
    pub subruns: SubrunData,
    pub intervals: Vec<IntervalData>,
    pub fits: Vec<FitCurve>,
    /// Drift-time distributions per module; `None` without merged files.
    pub drift: Option<Drift>,
    /// What could not be read (optional inputs): each a sentence naming the file.
    pub notes: Vec<String>,
}

/// A missing or unreadable required table.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("{0} (run the stage that writes it first; `gm2dqc run` runs them all)")]
    Table(#[from] TableError),
    #[error("{0}")]
    Eval(#[from] crate::cuts::eval::EvalError),
}

/// By channel, from rows of (run_first, channel) in a table of several intervals.
fn by_interval<T: Clone>(firsts: &[u32], channels: &[u32], values: Vec<T>, n: usize, default: T) -> BTreeMap<u32, Vec<T>> {
    let mut out: BTreeMap<u32, Vec<T>> = BTreeMap::new();
    for ((&first, &ch), v) in firsts.iter().zip(channels).zip(values) {
        let slot = out.entry(first).or_insert_with(|| vec![default.clone(); n]);
        if (ch as usize) < n {
            slot[ch as usize] = v;
        }
    }
    out
}

/// A fit chosen by the user: (calo 1..=24, xtal 0..=53).
pub type Channel = (usize, usize);

/// Reads the output directory `out` for the plots. `chosen` are fits to show besides
/// the `worst` worst chi2/ndf ones (in the last interval).
pub fn load(out: &Path, cuts: CutFile, meta_dataset: &str, tag: Option<String>, chosen: &[Channel], worst: usize) -> Result<PlotInputs, LoadError> {
    let metrics = Table::read(&out.join("subrun_metrics.parquet"))?;
    let eval = crate::cuts::eval::evaluate(&cuts, &metrics.df)?;
    let mut subruns = SubrunData { runs: metrics.u32("run")?, subruns: metrics.u32("subrun")?, ..SubrunData::default() };
    let start = metrics.f64("start_time")?;
    let is_time = !start.is_empty() && start.iter().all(|t| t.is_some_and(f64::is_finite));
    if is_time {
        let t0 = start.iter().flatten().copied().fold(f64::INFINITY, f64::min);
        let span = start.iter().flatten().copied().fold(f64::NEG_INFINITY, f64::max) - t0;
        let (unit, seconds) = if span < 2.0 * 3600.0 { ("min", 60.0) } else if span < 72.0 * 3600.0 { ("h", 3600.0) } else { ("days", 86400.0) };
        subruns.x = start.iter().map(|t| (t.unwrap_or(t0) - t0) / seconds).collect();
        subruns.x_label = format!("time since the first subrun [{unit}]");
    } else {
        subruns.x = (0..start.len()).map(|i| i as f64).collect();
        subruns.x_label = "subrun (position in the dataset; no start times)".into();
    }
    for cut in &cuts.cuts {
        let tests = std::iter::once(&cut.test).chain(cuts.overrides.iter().filter(|o| o.cut == cut.name).map(|o| &o.test));
        let errors: Vec<&str> = tests.filter_map(|t| if let Test::ErrorsOfRunMedian { error, .. } = t { Some(*error) } else { None }).collect();
        for m in cut.metrics.iter().copied().chain(errors) {
            if !subruns.columns.contains_key(m) {
                subruns.columns.insert(m.to_string(), metrics.f64(m)?);
            }
        }
    }
    subruns.ctags = metrics.f64("ctags")?.into_iter().map(|c| c.unwrap_or(0.0)).collect();

    let gains = Table::read(&out.join("gain_constants.parquet"))?;
    let calo = Table::read(&out.join("calo_channel_status.parquet"))?;
    let tracker = Table::read(&out.join("tracker_channel_status.parquet"))?;
    let (gf, gc) = (gains.u32("run_first")?, gains.u32("channel")?);
    let lasts = by_interval(&gf, &gc, gains.u32("run_last")?, N_XTALS, 0);
    let gcol = |name: &str| -> Result<BTreeMap<u32, Vec<Option<f64>>>, TableError> { Ok(by_interval(&gf, &gc, gains.f64(name)?, N_XTALS, None)) };
    let gain_err = gcol("gain_err")?;
    let (gain, amp, tau, norm, chi2, ndf) = (gcol("gain")?, gcol("ifg_amp")?, gcol("ifg_tau_us")?, gcol("ifg_norm")?, gcol("ifg_chi2_ndf")?, gcol("ifg_ndf")?);
    let status = by_interval(&gf, &gc, gains.str("status")?, N_XTALS, String::new());
    let detail = by_interval(&gf, &gc, gains.str("detail")?, N_XTALS, String::new());
    let (cf, cc) = (calo.u32("run_first")?, calo.u32("channel")?);
    let (hits, ped) = (by_interval(&cf, &cc, calo.f64("hits")?, N_XTALS, None), by_interval(&cf, &cc, calo.f64("pedestal_rms")?, N_XTALS, None));
    let cb = |name: &str| -> Result<BTreeMap<u32, Vec<bool>>, TableError> { Ok(by_interval(&cf, &cc, calo.bool(name)?, N_XTALS, false)) };
    let (dead, hot, noisy) = (cb("dead")?, cb("hot")?, cb("noisy")?);
    let (tf, tc) = (tracker.u32("run_first")?, tracker.u32("channel")?);
    let shits = by_interval(&tf, &tc, tracker.f64("hits")?, N_STRAWS, None);
    let (sdead, snoisy) = (by_interval(&tf, &tc, tracker.bool("dead")?, N_STRAWS, false), by_interval(&tf, &tc, tracker.bool("noisy")?, N_STRAWS, false));
    let take = |m: &BTreeMap<u32, Vec<Option<f64>>>, k: u32| m.get(&k).cloned().unwrap_or_else(|| vec![None; N_XTALS]);
    let takeb = |m: &BTreeMap<u32, Vec<bool>>, k: u32, n: usize| m.get(&k).cloned().unwrap_or_else(|| vec![false; n]);
    let mut intervals = Vec::new();
    for (&first, last) in &lasts {
        intervals.push(IntervalData {
            first,
            last: last.iter().copied().max().unwrap_or(first),
            gain: take(&gain, first),
            gain_err: take(&gain_err, first),
            amp: take(&amp, first),
            tau: take(&tau, first),
            norm: take(&norm, first),
            chi2_ndf: take(&chi2, first),
            ndf: take(&ndf, first),
            status: status.get(&first).cloned().unwrap_or_default(),
            detail: detail.get(&first).cloned().unwrap_or_default(),
            hits: take(&hits, first),
            pedestal_rms: take(&ped, first),
            dead: takeb(&dead, first, N_XTALS),
            hot: takeb(&hot, first, N_XTALS),
            noisy: takeb(&noisy, first, N_XTALS),
            straw_hits: shits.get(&first).cloned().unwrap_or_else(|| vec![None; N_STRAWS]),
            straw_dead: takeb(&sdead, first, N_STRAWS),
            straw_noisy: takeb(&snoisy, first, N_STRAWS),
        });
    }

    let (run_first, run_last) = (subruns.runs.iter().copied().min().unwrap_or(0), subruns.runs.iter().copied().max().unwrap_or(0));
    let meta = Meta {
        dataset: meta_dataset.to_string(),
        run_first,
        run_last,
        subruns: subruns.runs.len(),
        cuts: cuts.label(),
        cuts_sha256: cuts.sha256.clone(),
        cuts_source: cuts.source.clone(),
        tag,
    };
    let mut notes = Vec::new();
    let merged_dir = out.join("merged");
    let merged_files: BTreeMap<u32, PathBuf> = match merged::list(&merged_dir) {
        Ok(files) => files.into_iter().filter_map(|p| merged::interval_of(&p).map(|(first, _)| (first, p))).collect(),
        Err(e) => {
            notes.push(format!("{}: {e}: no in-fill fit or drift-time plots (run `gm2dqc merge`)", merged_dir.display()));
            BTreeMap::new()
        }
    };
    let fits = select_fits(&intervals, &merged_files, &cuts.fit, chosen, worst, &mut notes);
    let drift = drift_by_module(&merged_files, &mut notes);
    Ok(PlotInputs { meta, cuts, eval, subruns, intervals, fits, drift, notes })
}

/// The chosen fits (last interval) and the `worst` worst chi2/ndf over all intervals.
fn select_fits(intervals: &[IntervalData], merged: &BTreeMap<u32, PathBuf>, cfg: &FitConfig, chosen: &[Channel], worst: usize, notes: &mut Vec<String>) -> Vec<FitCurve> {
    let mut picks: Vec<(usize, usize, &'static str)> = Vec::new();
    if let Some(last) = intervals.len().checked_sub(1) {
        for &(calo, xtal) in chosen {
            picks.push((last, layout::xtal_channel(calo, xtal), "chosen"));
        }
    }
    let mut ranked: Vec<(f64, usize, usize)> =
        intervals.iter().enumerate().flat_map(|(k, iv)| iv.chi2_ndf.iter().enumerate().filter_map(move |(ch, c)| c.filter(|c| c.is_finite()).map(|c| (c, k, ch)))).collect();
    ranked.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)).then(a.2.cmp(&b.2)));
    for (_, k, ch) in ranked.into_iter().take(worst) {
        if !picks.iter().any(|p| p.0 == k && p.1 == ch) {
            picks.push((k, ch, "worst chi2/ndf"));
        }
    }
    let mut out = Vec::new();
    for (k, ch, why) in picks {
        let iv = &intervals[k];
        let Some(path) = merged.get(&iv.first) else {
            notes.push(format!("no merged file for {}: its in-fill fits are not drawn", iv.label()));
            continue;
        };
        let (calo, xtal) = layout::xtal_of(ch);
        let object = paths::in_fill(calo, xtal);
        let profile = RootFile::open(path).and_then(|f| f.hist(&object)).map_err(|e| e.to_string()).and_then(|raw| Profile::from_raw(raw).map_err(|e| e.to_string()));
        let p = match profile {
            Ok(p) => p,
            Err(e) => {
                notes.push(format!("{}: {object}: {e}: fit not drawn", path.display()));
                continue;
            }
        };
        let used: Vec<f64> = fit_points(&p, cfg).into_iter().map(|(t, _, _)| t).collect();
        let axis = p.x().clone();
        let points = (1..=axis.nbins)
            .filter(|&b| p.bin_entries(b) > 0.0)
            .map(|b| {
                let t = axis.center(b);
                (t, p.bin_content(b), p.bin_error(b), p.bin_entries(b), used.contains(&t))
            })
            .collect();
        out.push(FitCurve {
            interval: k,
            channel: ch,
            points,
            norm: iv.norm[ch],
            amp: iv.amp[ch],
            tau: iv.tau[ch],
            chi2_ndf: iv.chi2_ndf[ch],
            ndf: iv.ndf[ch],
            status: iv.status.get(ch).cloned().unwrap_or_default(),
            why,
        });
    }
    out
}

/// Drift-time distributions per module, summed over every merged file.
fn drift_by_module(merged: &BTreeMap<u32, PathBuf>, notes: &mut Vec<String>) -> Option<Drift> {
    let mut sum: Option<Drift> = None;
    for path in merged.values() {
        let h = RootFile::open(path).and_then(|f| f.hist(paths::DRIFT_TIME)).map_err(|e| e.to_string()).and_then(|raw| Hist::from_raw(raw).map_err(|e| e.to_string()));
        let h = match h {
            Ok(h) if h.dim() == 2 && h.x().nbins == N_STRAWS => h,
            Ok(_) => {
                notes.push(format!("{}: {}: not a straw x drift-time TH2: skipped", path.display(), paths::DRIFT_TIME));
                continue;
            }
            Err(e) => {
                notes.push(format!("{}: {}: {e}: skipped", path.display(), paths::DRIFT_TIME));
                continue;
            }
        };
        let y = h.y().expect("2D").clone();
        let v = h.values_2d(false);
        let d = sum.get_or_insert_with(|| Drift { by_module: vec![vec![0.0; y.nbins]; N_MODULES], bins: y.nbins, low: y.low_edge(1), high: y.low_edge(y.nbins + 1) });
        if d.bins != y.nbins {
            notes.push(format!("{}: {}: drift-time binning differs from the other intervals: skipped", path.display(), paths::DRIFT_TIME));
            continue;
        }
        for iy in 0..y.nbins {
            for straw in 0..N_STRAWS {
                d.by_module[straw / STRAWS_PER_MODULE][iy] += v[[iy, straw]];
            }
        }
    }
    sum
}
