//! The JSON a dataset's pages draw from, shaped from [`Results`]: the overview (runs,
//! flags, bad channels per channel, plots by checklist group), the intervals with
//! their merged files, one crystal (gain rows, fit curve, the files holding its
//! histograms), one subrun.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::{json, Value};

use crate::analysis::fit::FitConfig;
use crate::results::{self, Results};

use super::error::ApiError;

/// The input directory subrun files are served from (`/files/{d}/input/...`): the
/// dataset's input when it is a directory (a list file's files are not served).
pub fn input_dir(r: &Results) -> Option<PathBuf> {
    let p = Path::new(&r.input);
    p.is_dir().then(|| p.to_path_buf())
}

/// A subrun file's path relative to the input directory, when it lies under it.
fn rel_input(r: &Results, path: &str) -> Option<String> {
    let dir = input_dir(r)?.canonicalize().ok()?;
    let p = Path::new(path).canonicalize().ok()?;
    p.strip_prefix(&dir).ok().map(|rel| rel.to_string_lossy().into_owned())
}

/// A channel's problems, the intervals it had them in, and a detail.
#[derive(Default)]
struct Problems {
    what: Vec<String>,
    intervals: Vec<String>,
    detail: String,
}

impl Problems {
    fn add(&mut self, what: &str) {
        if !self.what.iter().any(|s| s == what) {
            self.what.push(what.to_string());
        }
    }
}

/// `GET /api/datasets/{d}`'s `results`.
pub fn overview(r: &Results) -> Value {
    let runs: Vec<Value> = r
        .runs
        .iter()
        .map(|row| {
            let mut m = serde_json::Map::new();
            m.insert("run".into(), json!(row.run));
            m.insert("subruns".into(), json!(row.subruns));
            m.insert("good_subruns".into(), json!(row.good_subruns));
            m.insert("ctags".into(), json!(row.ctags));
            m.insert("ctags_good".into(), json!(row.ctags_good));
            for (f, v) in &row.pass_fraction {
                m.insert(format!("{f} pass"), json!(v));
            }
            Value::Object(m)
        })
        .collect();
    // One line per channel: its problems, and the intervals each was seen in.
    let mut xtals: BTreeMap<(u32, u32), Problems> = BTreeMap::new();
    for x in &r.bad_xtals {
        let e = xtals.entry((x.calo, x.xtal)).or_default();
        for (on, what) in [(x.dead, "dead"), (x.hot, "hot"), (x.noisy, "noisy")] {
            if on {
                e.add(what);
            }
        }
        if let Some(g) = &x.gain_status {
            e.add(g);
            if e.detail.is_empty() {
                e.detail = x.gain_detail.clone();
            }
        }
        e.intervals.push(format!("{}-{}", x.run_first, x.run_last));
    }
    let calo: Vec<Value> = xtals.into_iter().map(|((calo, xtal), p)| json!({"calo": calo, "xtal": xtal, "status": p.what.join(", "), "intervals": dedup(p.intervals), "detail": p.detail})).collect();
    let mut straws: BTreeMap<(u32, u32, u32), Problems> = BTreeMap::new();
    for s in &r.bad_straws {
        let e = straws.entry((s.station, s.module, s.straw)).or_default();
        for (on, what) in [(s.dead, "dead"), (s.noisy, "noisy")] {
            if on {
                e.add(what);
            }
        }
        e.intervals.push(format!("{}-{}", s.run_first, s.run_last));
    }
    let tracker: Vec<Value> = straws.into_iter().map(|((station, module, straw), p)| json!({"station": station, "module": module, "straw": straw, "status": p.what.join(", "), "intervals": dedup(p.intervals)})).collect();
    json!({
        "dataset": r.dataset,
        "input": r.input,
        "cuts": r.cuts,
        "cuts_sha256": r.cuts_sha256,
        "reference_run": r.reference_run,
        "intervals": r.intervals,
        "stages": r.stages,
        "flags": r.subruns.flag_names().collect::<Vec<_>>(),
        "subruns": r.subruns.len(),
        "bad_subruns": r.subruns.ok.iter().filter(|o| !**o).count(),
        "runs": runs,
        "bad_channels": {"calo": calo, "tracker": tracker},
        "plots": r.plots,
        "merged": r.merged,
    })
}

fn dedup(mut v: Vec<String>) -> Vec<String> {
    v.dedup();
    v
}

/// `GET /api/datasets/{d}/intervals`: the merged file of each interval and the
/// object paths the histogram page draws.
pub fn intervals(r: &Results) -> Value {
    json!({
        "intervals": r.merged.iter().map(|m| json!({"first": m.run_first, "last": m.run_last, "merged": m.path})).collect::<Vec<_>>(),
        "paths": {
            "hits": results::calo_hits_path(),
            "pedestal": results::pedestal_path(),
            "out_of_fill": results::out_of_fill_path(),
            "drift_time": results::drift_time_path(),
            "straw_hits": results::straw_hits_path(),
        },
    })
}

/// The first or the last subrun file (by run, subrun) of the runs `first..=last`,
/// relative to the input directory, with its label.
fn file_in_runs(r: &Results, first: u32, last: u32, latest: bool) -> Option<(String, String)> {
    let ids = (0..r.subruns.len()).filter(|&i| (first..=last).contains(&r.subruns.runs[i])).map(|i| (r.subruns.runs[i], r.subruns.subruns[i]));
    let (run, sub) = if latest { ids.max()? } else { ids.min()? };
    let f = r.subrun_file(run, sub)?;
    Some((rel_input(r, &f.path)?, format!("run {run} subrun {sub}")))
}

/// `GET /api/datasets/{d}/crystals/{calo}/{xtal}`.
pub fn crystal(r: &Results, calo: u32, xtal: u32, fit: &FitConfig) -> Result<Value, ApiError> {
    let infill = results::infill_profile_path(calo, xtal).ok_or_else(|| ApiError::not_found(format!("no crystal {xtal} in calorimeter {calo} (calorimeters 1-24, crystals 0-53)")))?;
    let energy = results::energy_path(calo, xtal).unwrap_or_default();
    // The reference run's first subrun, against the interval's last: in the interval
    // of the reference run itself these are still two different subruns.
    let reference = r.reference_run.and_then(|run| file_in_runs(r, run, run, false));
    let mut intervals = Vec::new();
    for &(first, last) in &r.intervals {
        let gain = r.gain_rows(calo, xtal).find(|g| g.run_first == first && g.run_last == last);
        let merged = r.merged.iter().find(|m| m.run_first == first && m.run_last == last).map(|m| m.path.clone());
        let curve = gain.and_then(|g| Some(json!({"N": g.norm?, "A": g.amp?, "tau": g.tau_us?, "t_min": fit.t_min, "t_max": fit.t_max})));
        let energy_file = file_in_runs(r, first, last, true);
        let reference = reference.as_ref().filter(|(f, _)| energy_file.as_ref().is_none_or(|(e, _)| e != f));
        intervals.push(json!({
            "first": first, "last": last, "merged": merged, "gain": gain, "fit": curve,
            "status": gain.map(|g| g.status.clone()),
            "energy_file": energy_file.as_ref().map(|e| &e.0), "energy_label": energy_file.as_ref().map(|e| &e.1),
            "reference_file": reference.map(|e| &e.0), "reference_label": reference.map(|e| format!("reference {}", e.1)),
        }));
    }
    Ok(json!({"calo": calo, "xtal": xtal, "reference_run": r.reference_run, "intervals": intervals, "paths": {"infill": infill, "energy": energy}}))
}

/// `GET /api/datasets/{d}/subruns/{run}/{subrun}`.
pub fn subrun(r: &Results, run: u32, subrun: u32) -> Result<Value, ApiError> {
    let i = (0..r.subruns.len()).find(|&i| r.subruns.runs[i] == run && r.subruns.subruns[i] == subrun).ok_or_else(|| ApiError::not_found(format!("dataset `{}` has no subrun {run}.{subrun}", r.dataset)))?;
    let file = r.subrun_file(run, subrun).and_then(|f| rel_input(r, &f.path));
    Ok(json!({
        "row": r.subrun_row(i),
        "file": file,
        "paths": {
            "pedestal": results::pedestal_path(),
            "drift_time": results::drift_time_path(),
            "kicker_amplitude": crate::layout::paths::KICKER_AMPLITUDE,
            "singles": crate::layout::paths::SINGLES,
            "source_monitor": crate::layout::paths::SOURCE_MONITOR,
        },
    }))
}
