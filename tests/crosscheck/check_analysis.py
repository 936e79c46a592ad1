#!/usr/bin/env python3
"""Independent check of `gm2dqc analyze` against the ROOT files it read.

    python3 check_analysis.py --bin target/debug/gm2dqc --work DIR [--keep] [--fit-per-run N]

(run.sh beside this file sets up the environment, builds and calls this after check_simulation.py.)

It simulates a dataset (`gm2dqc simulate --out WORK/sim --runs 2 --subruns 6 --seed 777
--compression mixed`, the standard faults: bad subruns, dead/hot/noisy crystals, dead/noisy
straws), runs `gm2dqc analyze` on it and recomputes every number of its Parquet tables from the
ROOT files with uproot, numpy and iminuit, from spec/production-data.md sections 2-6. Nothing of
gm2dqc is imported or ported: only its `simulate` and `analyze` commands are run. The histogram
helpers (ROOT's profile means and errors, GetMean, Integral, the section 5 channel cuts, the loss
ratio) are those of check_simulation.py.

Parts:

  0. simulate the dataset.
  1. analyze: `analyze --input WORK/sim --out WORK/out --threads 2 --json` exits 0, its stdout is
     JSON and equals OUT/summary.json (but for the timings), and the summary's counts (files, runs,
     reference run, gain statuses, channels not ok, failed) agree with the tables.
  2. schemas: the column names and order of the four spec tables are the spec's (section 3 for
     subrun_metrics, section 4 for the others); gain_constants may add exactly `ifg_norm_err` after
     `ifg_norm`, then `detail` and `reference_run` (issue 18); calo_quality, kicker_dqc, t0_dqc and
     laser_dqc have issue 18's columns, one row per calorimeter, kicker, run and laser.
  3. metrics: every section 3 metric of every subrun recomputed from its file (integrals with the
     flow-bin conventions, GetMean from the stored statistics, profile bin contents, the loss
     ratios with their zero cases, timeTree first/last entry, the dead/hot/noisy counts from the
     section 5 channel cuts against the calo/module median) equals the table: counts exactly,
     the rest to relative 1e-9, nulls exactly where a value is undefined.
  3c. per-run DQC constants: kicker_dqc, t0_dqc and laser_dqc recomputed in numpy from the part 3
     metrics (themselves recomputed from the files): per run the median over the subruns with the
     value (for a kicker: all three of its quantities), the width max(1.4826 x MAD, 0.001 |median|)
     and the window median +- 5 widths (cuts/standard.toml's [run_constants]).
  4m. merged files: every summed object of each run's merged file against the uproot sum of the
     run's subrun files: the laser profiles, hits, pedestal, drift time, and every other
     histogram of the subrun files at its own path (energy spectra, offNearline*, losses,
     kickers, quadrupoles, source monitor, straw hits, HV trips) with the statistics hadd adds; the
     bookkeeping trees' run and subrun numbers are UInt_t (uint32 in uproot).
  4. out-of-fill gains: `laser/outOfFill` summed per run (TProfile sums), its bin mean and ROOT
     error give oof_ratio(_err); gain = ratio / ratio(first run) with errors in quadrature (exactly
     1 +- 0 for the reference run), energy_scale = 1 / gain: relative 1e-9, nulls where no entries;
     every row's reference_run is the first run.
  5. in-fill fits: for 128 crystals per run (--fit-per-run; 0: all) picked with a fixed seed
     among those of status `ok`, the `laser/inFill` profiles summed over the run are fitted with
     G(t) = N (1 - A exp(-t/tau)) at the bin centres in [4, 400] us (bins with >= 10 entries and
     error > 0, ROOT's profile bin errors) by iminuit (LeastSquares, Migrad then Hesse): N, A, tau
     and chi2/ndf to relative 1e-3, ndf = points - 3 exactly. The errors of N, A, tau and the A-tau
     covariance: to 2 % against the weighted least-squares covariance (J^T W J)^-1 at iminuit's
     minimum (what a weighted least-squares fit reports; gm2dqc's Levenberg-Marquardt fit gives
     it), and to 25 % against Hesse's, which adds the residual-times-second-derivative terms of
     the chi2 Hessian (up to ~12 % for cov(A, tau) with ~200 points at chi2/ndf ~ 1). For
     every crystal, ifg_ndf is points - 3; statuses are consistent (no_laser exactly where the
     run or the reference run has no out-of-fill entries or there are no in-fill entries, fitted
     columns present for ok/out_of_range, out_of_range exactly where |gain - 1| > 0.05 or ifg_amp
     is outside [0, 0.2]); the crystals that are not ok are listed.
  6. channel status: calo_channel_status and tracker_channel_status recomputed from the run sums
     (crystal hits Integral(0, 251), summed pedestal profile bin mean, straw hits, drift-time mean
     and RMS over the in-range bin centres of the summed TH2F, dead/hot/noisy against the calo or
     module median): booleans exactly, floats to 1e-9; the flagged channels are truth.json's;
     calo_quality's counts per calorimeter and its bit (at most 6 bad crystals) from the same.
  7. determinism: the same analyze with `--threads 1` (run in the background during parts 3-6)
     writes tables equal to the 2-thread ones (pyarrow Table.equals, and every float column bit
     for bit), the same errors.txt and summary (but for timings and threads).
  9. ConDB export: the analysis uploaded to a SQLite file and written out with `gm2dqc export condb`;
     each file is read with Python's json and every value of every folder compared with the Parquet
     table it came from (pyarrow): floats exactly, nulls where null, flags_json against the flag
     columns of subrun_status. (Run after part 7, before part 8.)
  8. isolation: a copy of the dataset with one file of the second run truncated to half its size
     and another overwritten with 100 bytes of garbage: analyze exits 1, still writes the four
     tables, errors.txt names both files, subrun_metrics keeps a row per file (the broken ones
     null, or equal to the clean value where something could be read), and every row of the
     untouched first run (the gain reference) is identical to the clean analysis, bit for bit;
     where the broken files could not be opened at all, the second run's oof_ratio(_err) and
     crystal hits are the sums over its readable files.

Output: one line per named check, PASS or FAIL with the subrun or channel, column and both values
of every difference, then `check_analysis: N passed, M failed`; exit 1 when anything failed.
WORK is removed at the end unless --keep is given.
"""

import argparse
import json
import math
import os
import shutil
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import uproot
from iminuit import Minuit
from iminuit import __version__ as iminuit_version
from iminuit.cost import LeastSquares

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from check_simulation import (  # noqa: E402  (helpers only: importing runs nothing)
    channel_flags,
    finish_background,
    hist_mean,
    integral,
    loss_ratio,
    profile_errors,
    profile_means,
    profile_sums,
    raw_array,
)
from report import Report  # noqa: E402

SIM_ARGS = ["--runs", "2", "--subruns", "6", "--seed", "777", "--compression", "mixed", "--force"]
N_CALOS, XTALS_PER_CALO = 24, 54
N_XTALS = N_CALOS * XTALS_PER_CALO
N_STRAWS, STRAWS_PER_MODULE = 2048, 128
N_DRIFT_BINS = 60
MERGE_RTOL = 1e-12  # the same sums, added in another order
METRIC_RTOL = 1e-9
FIT_RTOL = 1e-3
FIT_ERR_RTOL = 0.02
# Hesse's covariance (the full second derivatives of chi2) differs from the linearised one by
# the residual-times-curvature terms, of relative order 1/sqrt(points): over all 2586 fitted
# crystals of this dataset, up to 5 % for ifg_amp_err, 6 % for ifg_tau_err and 12 % for
# ifg_cov_amp_tau (99 % within 2 %, 2.4 % and 4.8 %). A consistency bound only: the tight test
# is against (J^T W J)^-1.
HESSE_RTOL = 0.25
N_FIT_PER_RUN = 128
FIT_SEED = 20240917
FIT_T_MIN, FIT_T_MAX, FIT_MIN_ENTRIES = 4.0, 400.0, 10.0
GAIN_MAX_DEV, AMP_MIN, AMP_MAX = 0.05, 0.0, 0.2
READ_PROCESSES = 2

# Spec section 3, in order.
IBMS = ["ibms1x", "ibms1y", "ibms2x", "ibms2y"]
METRIC_COLUMNS = (
    ["run", "subrun", "file", "start_time", "end_time", "fills", "fills_nodqc", "fill_fraction", "ctags", "ctags_nodqc",
     "ctags_per_fill", "t0"]
    + ["%s_mean" % s for s in IBMS] + ["%s_rms" % s for s in IBMS]
    + ["quad_step1", "quad_step2"]
    + ["kicker%d_%s" % (k, w) for w in ("amplitude", "timing", "fwhm") for k in (1, 2, 3)]
    + ["laser%d_sm" % l for l in range(1, 7)]
    + ["singles", "doubles", "background", "loss_ratio", "loss_ratio_err", "loss_ratio_ctags", "loss_ratio_ctags_err",
       "n_dead_xtals", "n_hot_xtals", "n_noisy_xtals", "n_dead_straws", "n_noisy_straws", "hv_trip_fills"]
)
# The file holds UTC timestamps (microseconds) beside the seconds since the epoch (issue 18).
STAMPS = {"start_time": "start_utc", "end_time": "end_utc"}
METRIC_FILE_COLUMNS = [x for c in METRIC_COLUMNS for x in ([c, STAMPS[c]] if c in STAMPS else [c])]
# Compared exactly (counts and integrals of counts); the other metrics to METRIC_RTOL.
EXACT_METRICS = {"fills", "fills_nodqc", "ctags", "ctags_nodqc", "singles", "doubles", "background", "hv_trip_fills",
                 "n_dead_xtals", "n_hot_xtals", "n_noisy_xtals", "n_dead_straws", "n_noisy_straws"}
# Spec section 4.
GAIN_COLUMNS = ["run_first", "run_last", "calo", "xtal", "channel", "oof_ratio", "oof_ratio_err", "gain", "gain_err",
                "energy_scale", "ifg_norm", "ifg_amp", "ifg_amp_err", "ifg_tau_us", "ifg_tau_err", "ifg_cov_amp_tau",
                "ifg_chi2_ndf", "ifg_ndf", "status"]
# What gm2dqc's gain_constants adds (documented in its tables module): exactly these, here.
GAIN_COLUMNS_RUST = GAIN_COLUMNS[:11] + ["ifg_norm_err"] + GAIN_COLUMNS[11:] + ["detail", "reference_run"]
CALO_COLUMNS = ["run_first", "run_last", "channel", "calo", "xtal", "hits", "pedestal_rms", "dead", "hot", "noisy", "ok"]
TRACKER_COLUMNS = ["run_first", "run_last", "channel", "station", "module", "straw", "hits", "drift_mean_ns", "drift_rms_ns",
                   "dead", "noisy", "ok"]
# Issue 18: the calorimeters' quality bit and the per-run DQC constants of the g-2 checklist.
CALO_QUALITY_COLUMNS = ["run_first", "run_last", "calo", "n_dead", "n_hot", "n_noisy", "n_bad", "max_bad", "ok"]
WINDOW = ("median", "width", "low", "high")
KICKER_DQC_COLUMNS = (["run", "kicker", "n_subruns"]
                      + ["%s_%s_%s" % (q, w, u) for q, u in (("amplitude", "kv"), ("timing", "ns"), ("fwhm", "ns")) for w in WINDOW] + ["k"])
T0_DQC_COLUMNS = ["run", "n_subruns"] + ["t0_%s" % w for w in ("reference",) + WINDOW[1:]] + ["k"]
LASER_DQC_COLUMNS = ["run", "laser", "n_subruns"] + ["sm_%s" % w for w in ("reference",) + WINDOW[1:]] + ["k"]
# The standard cut file's [run_constants] and [channels] calo_max_bad_xtals (cuts/standard.toml).
RC_K, RC_MIN_REL_WIDTH, RC_MIN_SUBRUNS, CALO_MAX_BAD = 5.0, 0.001, 3, 6
MAD_TO_SIGMA = 1.4826
TABLES = {"subrun_metrics": METRIC_FILE_COLUMNS, "gain_constants": GAIN_COLUMNS_RUST,
          "calo_channel_status": CALO_COLUMNS, "tracker_channel_status": TRACKER_COLUMNS,
          "calo_quality": CALO_QUALITY_COLUMNS, "kicker_dqc": KICKER_DQC_COLUMNS, "t0_dqc": T0_DQC_COLUMNS,
          "laser_dqc": LASER_DQC_COLUMNS}
SPEC_TABLES = {"subrun_metrics", "gain_constants", "calo_channel_status", "tracker_channel_status"}
GAIN_STATUSES = {"ok", "no_laser", "low_stats", "fit_failed", "out_of_range"}
TIMING_KEYS = {"seconds", "files_per_second", "mb_per_second", "threads", "out"}


def xtal_of(ch):
    return ch // XTALS_PER_CALO + 1, ch % XTALS_PER_CALO


def straw_of(ch):
    """(station, module, straw) of a straw channel id (spec section 1)."""
    return (12 if ch < 1024 else 18), (ch % 1024) // 128, ch % 128


def rel(a, b):
    """Relative difference, 0 for equal values (zeros and infinities included)."""
    if a == b:
        return 0.0
    return abs(a - b) / max(abs(a), abs(b))


def fmt(v):
    return "null" if v is None else repr(v)


# --------------------------------------------------------------------------- reading one file (worker process)


def ratio_or_none(a, b):
    return a / b if b != 0 else None


def metrics_of(f):
    """Spec section 3 metrics of one open file, by table column (counts as ints)."""
    m = {}
    g = f.__getitem__
    if "timeTree" in f.keys(cycle=False, recursive=False):
        t = f["timeTree"]["unixTimeRecv"].array(library="np")
        m["start_time"], m["end_time"] = (float(t[0]), float(t[-1])) if t.size else (None, None)
    else:
        m["start_time"] = m["end_time"] = None
    m["fills"] = integral(g("offNearlineWithDQC/bunch"), 1, 16)
    m["fills_nodqc"] = integral(g("offNearlineNoDQC/bunch"), 1, 16)
    m["fill_fraction"] = ratio_or_none(m["fills"], m["fills_nodqc"])
    m["ctags"] = integral(g("offNearlineWithDQC/nearlineCTag"), 1, 24)
    m["ctags_nodqc"] = integral(g("offNearlineNoDQC/nearlineCTag"), 1, 24)
    m["ctags_per_fill"] = ratio_or_none(m["ctags"], m["fills"])
    m["t0"] = float(raw_array(g("offNearlineWithDQC/t0"))[1])
    for s in IBMS:
        m["%s_mean" % s] = hist_mean(g("offNearlineWithDQC/%sMean" % s))
        m["%s_rms" % s] = hist_mean(g("offNearlineWithDQC/%sRMS" % s))
    m["quad_step1"] = hist_mean(g("quad/step1Voltage"))
    m["quad_step2"] = hist_mean(g("quad/step2Voltage"))
    for w in ("amplitude", "timing", "fwhm"):
        s = profile_sums(g("kicker/" + w))
        for k, v in enumerate(profile_means(s[0], s[2])[1:4]):
            m["kicker%d_%s" % (k + 1, w)] = float(v)
    s = profile_sums(g("laser/sourceMonitor"))
    for l, v in enumerate(profile_means(s[0], s[2])[1:7]):
        m["laser%d_sm" % (l + 1)] = float(v)
    m["singles"] = integral(g("losses/singles"), 1, 100)
    m["doubles"] = integral(g("losses/doublesDeltaT"), 1, 50)
    m["background"] = integral(g("losses/doublesDeltaT"), 51, 100)
    m["loss_ratio"], m["loss_ratio_err"] = loss_ratio(m["doubles"], m["background"], m["singles"])
    m["loss_ratio_ctags"], m["loss_ratio_ctags_err"] = loss_ratio(m["doubles"], m["background"], m["ctags"])
    m["hv_trip_fills"] = integral(g("tracker/hvTrips"), 1, 16)
    return m


# The objects a merged file keeps in fields of their own; every other histogram of a subrun
# file is summed at its own path (issue 18: the merged file is the whole interval).
OWN_FIELDS = ("laser/outOfFill", "calo/pedestalRMS", "tracker/driftTime")
STAT_MEMBERS = ("fEntries", "fTsumw", "fTsumw2", "fTsumwx", "fTsumwx2")


def other_sums(f):
    """Every histogram of a file other than OWN_FIELDS and laser/inFill/*, by path: its
    arrays (a profile's four sums, a histogram's contents and fSumw2) and statistics."""
    out = {}
    for key, cls in f.classnames().items():
        path = key.rsplit(";", 1)[0]
        if not (cls.startswith("TH1") or cls.startswith("TH2") or cls.startswith("TProfile")):
            continue
        if path in OWN_FIELDS or path.startswith("laser/inFill/") or path.startswith("merge/"):
            continue
        o = f[path]
        if cls.startswith("TProfile"):
            arrays = list(profile_sums(o))
        else:
            sumw2 = np.asarray(o.member("fSumw2"), dtype=np.float64)
            arrays = [raw_array(o), sumw2 if sumw2.size else raw_array(o).copy()]
        stats = np.array([float(o.member(s)) for s in STAT_MEMBERS])
        out[path] = (cls.startswith("TProfile"), np.array(arrays), stats)
    return out


def read_file(path):
    """Everything parts 3-6 need from one subrun file: its metrics and the per-channel sums."""
    f = uproot.open(path)
    m = metrics_of(f)
    xtal_hits = np.zeros(N_XTALS)
    infill = np.zeros((4, N_XTALS, 202))
    for ch in range(N_XTALS):
        c, x = xtal_of(ch)
        xtal_hits[ch] = raw_array(f["calo/calo%d/xtal%dEnergy" % (c, x)]).sum()  # Integral(0, 251)
        infill[:, ch, :] = profile_sums(f["laser/inFill/calo%d/xtal%d" % (c, x)])
    ped = np.array(profile_sums(f["calo/pedestalRMS"]))
    ped_mean = profile_means(ped[0], ped[2])[1:N_XTALS + 1]
    straw_hits = raw_array(f["tracker/strawHits"])[1:N_STRAWS + 1]
    groups = np.arange(N_XTALS) // XTALS_PER_CALO
    xd, xh, xn, _, _ = channel_flags(xtal_hits, groups, ped_mean)
    sd, sn, _, _, _ = channel_flags(straw_hits, np.arange(N_STRAWS) // STRAWS_PER_MODULE, None)
    m["n_dead_xtals"], m["n_hot_xtals"], m["n_noisy_xtals"] = int(xd.sum()), int(xh.sum()), int(xn.sum())
    m["n_dead_straws"], m["n_noisy_straws"] = int(sd.sum()), int(sn.sum())
    drift = raw_array(f["tracker/driftTime"]).reshape(N_DRIFT_BINS + 2, N_STRAWS + 2)  # [iy, ix], ROOT's global order
    return {"metrics": m, "xtal_hits": xtal_hits, "straw_hits": straw_hits.astype(np.float64), "ped": ped,
            "oof": np.array(profile_sums(f["laser/outOfFill"])), "infill": infill, "drift": drift.astype(np.float64),
            "others": other_sums(f)}


# --------------------------------------------------------------------------- tables


def read_tables(out):
    return {n: pq.read_table(os.path.join(out, n + ".parquet")) for n in TABLES}


def run_rows(table, run):
    """The rows of one interval (run_first == run) as a slice; the rows of an interval are
    contiguous (tables are written interval by interval). None when not contiguous."""
    idx = np.flatnonzero(table.column("run_first").to_numpy() == run)
    if idx.size and idx[-1] - idx[0] + 1 != idx.size:
        return None
    return table.slice(int(idx[0]), int(idx.size)) if idx.size else table.slice(0, 0)


def worst_text(worst):
    d, where = worst
    return "all equal" if d == 0 else "worst rel diff %.2g (%s)" % (d, where)


def rows_by(table, *keys):
    return {tuple(r[k] for k in keys): r for r in table.to_pylist()}


def float_bits_differ(a, b):
    """Columns of two tables of the same schema that differ bit for bit (floats) or by value."""
    out = []
    for name in a.column_names:
        ca, cb = a.column(name).combine_chunks(), b.column(name).combine_chunks()
        if pa.types.is_floating(ca.type):
            va, vb = ca.is_valid().to_numpy(zero_copy_only=False), cb.is_valid().to_numpy(zero_copy_only=False)
            xa = ca.fill_null(0).to_numpy(zero_copy_only=False).view(np.uint64)
            xb = cb.fill_null(0).to_numpy(zero_copy_only=False).view(np.uint64)
            bad = np.flatnonzero((va != vb) | (va & (xa != xb)))
            if bad.size:
                i = int(bad[0])
                out.append("column %s: %d rows differ bit for bit, first row %d: %s vs %s"
                           % (name, bad.size, i, fmt(ca[i].as_py()), fmt(cb[i].as_py())))
        elif not ca.equals(cb):
            la, lb = ca.to_pylist(), cb.to_pylist()
            diff = [i for i in range(len(la)) if la[i] != lb[i]]
            out.append("column %s: %d rows differ, first row %d: %s vs %s" % (name, len(diff), diff[0], fmt(la[diff[0]]), fmt(lb[diff[0]])))
    return out


def compare_tables(label, a, b):
    if a.schema != b.schema:
        return ["%s: schemas differ: %s vs %s" % (label, a.schema, b.schema)]
    if a.num_rows != b.num_rows:
        return ["%s: %d rows vs %d" % (label, a.num_rows, b.num_rows)]
    out = ["%s: %s" % (label, p) for p in float_bits_differ(a, b)]
    if not a.equals(b) and not out:
        # Table.equals is false for NaN == NaN; bit-identical NaNs are equal content.
        nan_cols = [n for n in a.column_names if pa.types.is_floating(a.column(n).type)
                    and np.isnan(a.column(n).fill_null(0).to_numpy(zero_copy_only=False)).any()]
        if not nan_cols:
            out.append("%s: Table.equals is false" % label)
    return out


# --------------------------------------------------------------------------- in-fill fit


def model(t, N, A, tau):
    return N * (1.0 - A * np.exp(-t / tau))


def fit_points(sums):
    """Bins with centre in [4, 400] us, >= 10 entries and error > 0: (t, y, sigma)."""
    sumwy, sumwy2, sumw, sumw2 = sums
    centres = (np.arange(200) + 0.5) * 2.0
    mean = profile_means(sumwy, sumw)[1:201]
    err = profile_errors(sumwy, sumwy2, sumw, sumw2)[1:201]
    use = (centres >= FIT_T_MIN) & (centres <= FIT_T_MAX) & (sumw[1:201] >= FIT_MIN_ENTRIES) & (err > 0)
    return centres[use], mean[use], err[use]


def fit_infill(t, y, e):
    """G(t) = N (1 - A exp(-t/tau)) by iminuit's LeastSquares, Migrad then Hesse. Also the
    linearised weighted-least-squares covariance (J^T W J)^-1 at the minimum (`lin_*`)."""
    n0 = float(np.mean(y[-20:]))
    a0 = float(1.0 - y[0] / n0)
    cost = LeastSquares(t, y, e, model)
    m = Minuit(cost, N=n0, A=a0, tau=10.0)
    m.tol = 1e-6
    m.migrad()
    if not m.valid:
        m.migrad()
    m.hesse()
    cov = m.covariance
    n, a, tau = (float(m.values[k]) for k in ("N", "A", "tau"))
    x = np.exp(-t / tau)
    jac = np.stack([(1 - a * x) / e, -n * x / e, -n * a * x * t / tau ** 2 / e], axis=1)  # d model / d (N, A, tau), / sigma
    lin = np.linalg.inv(jac.T @ jac)
    return {"valid": bool(m.valid and m.accurate), "N": n, "A": a, "tau": tau,
            "N_err": float(m.errors["N"]), "A_err": float(m.errors["A"]), "tau_err": float(m.errors["tau"]),
            "cov_A_tau": float(cov["A", "tau"]),
            "lin_N_err": float(np.sqrt(lin[0, 0])), "lin_A_err": float(np.sqrt(lin[1, 1])), "lin_tau_err": float(np.sqrt(lin[2, 2])),
            "lin_cov_A_tau": float(lin[1, 2]), "chi2": float(m.fval), "ndf": len(t) - 3}


# --------------------------------------------------------------------------- running gm2dqc


def run(cmd, **kw):
    print("      " + " ".join(cmd))
    t0 = time.monotonic()
    p = subprocess.run(cmd, capture_output=True, text=True, errors="replace", **kw)
    print("      exit %d after %.1f s" % (p.returncode, time.monotonic() - t0))
    return p


def analyze_cmd(binary, dataset, out, threads):
    return [binary, "analyze", "--input", dataset, "--out", out, "--threads", str(threads), "--json"]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", required=True, help="path to the gm2dqc binary")
    ap.add_argument("--work", required=True, help="scratch directory (removed at the end unless --keep)")
    ap.add_argument("--keep", action="store_true", help="keep WORK (datasets and outputs) for inspection")
    ap.add_argument("--fit-per-run", type=int, default=N_FIT_PER_RUN, metavar="N",
                    help="crystals refitted per run (default %d; 0: every crystal of status ok, ~10 s more)" % N_FIT_PER_RUN)
    a = ap.parse_args()
    binary = os.path.abspath(a.bin)
    work = os.path.abspath(a.work)
    os.makedirs(work, exist_ok=True)
    print("check_analysis: uproot %s, numpy %s, pyarrow %s, iminuit %s, python %s; gm2dqc binary %s"
          % (uproot.__version__, np.__version__, pa.__version__, iminuit_version, sys.version.split()[0], binary))
    report = Report()
    t_all = time.monotonic()
    background = []
    try:
        body(report, binary, work, background, a.fit_per_run)
    finally:
        for p in background:
            if p.poll() is None:
                p.kill()
                p.wait()
        if not a.keep:
            shutil.rmtree(work, ignore_errors=True)
    print("\ntimings: " + ", ".join("%s %.1f s" % (l.split(":")[0], t) for l, t in report.timings) + ", total %.1f s" % (time.monotonic() - t_all))
    if report.failed:
        print("failed checks:")
        for n in report.failed:
            print("  %s" % n)
    print("check_analysis: %d passed, %d failed" % (report.passed, len(report.failed)))
    return 1 if report.failed else 0


def body(report, binary, work, background, fit_per_run):
    sim = os.path.join(work, "sim")
    out = os.path.join(work, "out")
    out1 = os.path.join(work, "out1")
    broken = os.path.join(work, "broken")
    out_broken = os.path.join(work, "out_broken")

    # ------------------------------------------------------------------ part 0
    with report.part("0: gm2dqc simulate"):
        p = run([binary, "simulate", "--out", sim] + SIM_ARGS)
        if not report.check("0 simulate exits 0 and writes truth.json",
                            [] if p.returncode == 0 and os.path.exists(os.path.join(sim, "truth.json"))
                            else ["exit %d: %s" % (p.returncode, (p.stdout + p.stderr).strip()[-800:])]):
            return
    with open(os.path.join(sim, "truth.json")) as fh:
        truth = json.load(fh)
    files = sorted((s["run"], s["subrun"], s["file"]) for s in truth["subruns"])
    runs = sorted({r for r, _, _ in files})
    ref_run = runs[0]

    # ------------------------------------------------------------------ part 1
    with report.part("1: gm2dqc analyze"):
        p = run(analyze_cmd(binary, sim, out, 2))
        pr = []
        summary = None
        if p.returncode != 0:
            pr.append("exit %d (want 0): %s" % (p.returncode, (p.stdout + p.stderr).strip()[-1500:]))
        try:
            summary = json.loads(p.stdout)
        except ValueError as e:
            pr.append("stdout is not JSON (%s): %r" % (e, p.stdout[:300]))
        missing = [n for n in list(TABLES) + ["errors.txt", "summary.json"]
                   if not os.path.exists(os.path.join(out, n if "." in n else n + ".parquet"))]
        if missing:
            pr.append("missing outputs: %s" % missing)
        report.check("1 analyze --threads 2 exits 0, prints its summary as JSON and writes every output", pr,
                     note="%s s on %s threads" % (summary.get("seconds"), summary.get("threads")) if summary else None)
        if pr:
            return
    # The determinism run goes on in the background while parts 2-6 read the files.
    cmd1 = analyze_cmd(binary, sim, out1, 1)
    t_second = time.monotonic()
    second = subprocess.Popen(cmd1, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, errors="replace")
    background.append(second)

    tables = read_tables(out)
    with report.part("1: summary vs tables"):
        pr = []
        with open(os.path.join(out, "summary.json")) as fh:
            on_disk = json.load(fh)
        if on_disk != summary:
            pr.append("OUT/summary.json differs from the JSON printed: %s vs %s" % (on_disk, summary))
        g = tables["gain_constants"].to_pylist()
        statuses = {}
        for r in g:
            statuses[r["status"]] = statuses.get(r["status"], 0) + 1
        want = {"files": len(files), "runs": runs, "intervals": [[r, r] for r in runs], "reference_run": ref_run,
                "files_failed": 0, "input_errors": 0, "failed": False,
                # Each channel once, however many intervals it is bad in.
                "bad_xtals": len({r["channel"] for r in tables["calo_channel_status"].to_pylist() if not r["ok"]}),
                "bad_straws": len({r["channel"] for r in tables["tracker_channel_status"].to_pylist() if not r["ok"]})}
        for k, v in want.items():
            if summary.get(k) != v:
                pr.append("summary %s = %s, expected %s" % (k, fmt(summary.get(k)), v))
        gs = {k: v for k, v in summary.get("gain_status", {}).items() if v}
        if gs != statuses:
            pr.append("summary gain_status %s, gain_constants has %s" % (summary.get("gain_status"), statuses))
        if set(summary.get("gain_status", {})) != GAIN_STATUSES:
            pr.append("summary gain_status keys %s, spec statuses %s" % (sorted(summary.get("gain_status", {})), sorted(GAIN_STATUSES)))
        nbytes = sum(os.path.getsize(os.path.join(sim, f)) for _, _, f in files)
        if summary.get("bytes") != nbytes:
            pr.append("summary bytes %s, the files hold %d" % (summary.get("bytes"), nbytes))
        report.check("1 summary (stdout = summary.json) agrees with the dataset and the tables", pr,
                     note="gain statuses %s, %d crystals and %d straws not ok" % (statuses, want["bad_xtals"], want["bad_straws"]))

    # ------------------------------------------------------------------ part 2
    with report.part("2: table schemas"):
        for name, cols in TABLES.items():
            got = tables[name].column_names
            pr = []
            if got != cols:
                pr.append("%s columns:\n          got  %s\n          want %s" % (name, got, cols))
                pr.append("missing %s, unexpected %s" % ([c for c in cols if c not in got], [c for c in got if c not in cols]))
            extra = " (spec section 4 plus ifg_norm_err after ifg_norm, then detail and reference_run)" if name == "gain_constants" else ""
            want_rows = {"subrun_metrics": len(files), "gain_constants": N_XTALS * len(runs),
                         "calo_channel_status": N_XTALS * len(runs), "tracker_channel_status": N_STRAWS * len(runs),
                         "calo_quality": N_CALOS * len(runs), "kicker_dqc": 3 * len(runs), "t0_dqc": len(runs),
                         "laser_dqc": 6 * len(runs)}[name]
            if tables[name].num_rows != want_rows:
                pr.append("%s: %d rows, expected %d" % (name, tables[name].num_rows, want_rows))
            what = "spec columns in spec order" if name in SPEC_TABLES else "the columns of issue 18 in order"
            report.check("2 %s: %s%s, %d rows" % (name, what, extra, want_rows), pr)

        # Units, in each file's key-value metadata (pyarrow, not gm2dqc, reads them).
        pr = []
        keys = {"run", "subrun", "run_first", "run_last", "reference_run", "channel", "calo", "xtal", "station", "module",
                "straw", "kicker", "laser", "file"}
        spot = {("gain_constants", "ifg_tau_us"): "us", ("gain_constants", "gain"): "1", ("kicker_dqc", "amplitude_high_kv"): "kV",
                ("kicker_dqc", "timing_low_ns"): "ns", ("subrun_metrics", "quad_step1"): "kV", ("subrun_metrics", "ctags"): "ctags",
                ("tracker_channel_status", "drift_mean_ns"): "ns", ("calo_channel_status", "pedestal_rms"): "ADC counts"}
        n_units = 0
        for name in list(TABLES) + ["subrun_status", "run_summary"]:
            path_ = os.path.join(out, name + ".parquet")
            schema = pq.read_schema(path_)
            meta = pq.read_metadata(path_).metadata or {}
            if b"gm2dqc.units" not in meta:
                pr.append("%s: no gm2dqc.units in the file's metadata" % name)
                continue
            units = json.loads(meta[b"gm2dqc.units"])
            for field in schema:
                numeric = pa.types.is_integer(field.type) or pa.types.is_floating(field.type)
                want = numeric and field.name not in keys
                if (field.name in units) != want:
                    pr.append("%s.%s (%s): unit %r" % (name, field.name, field.type, units.get(field.name)))
                # The same unit in the field's own metadata (from the file's Arrow schema).
                field_unit = (field.metadata or {}).get(b"unit")
                if field_unit != (units[field.name].encode() if field.name in units else None):
                    pr.append("%s.%s: field metadata unit %r, gm2dqc.units %r" % (name, field.name, field_unit, units.get(field.name)))
            n_units += len(units)
            for (t, c), u in spot.items():
                if t == name and units.get(c) != u:
                    pr.append("%s.%s: unit %r, expected %r" % (t, c, units.get(c), u))
        report.check("2 every quantity of every table has its unit in its field metadata and the file's gm2dqc.units (identifiers, flags, text and timestamps none)", pr,
                     note="%d columns with units" % n_units)
        # Counts are integers and a subrun's reasons a list of strings, in the files.
        pr = []
        counts = {"subrun_metrics": ["fills", "fills_nodqc", "ctags", "ctags_nodqc", "singles", "doubles", "background", "hv_trip_fills",
                                     "n_dead_xtals", "n_hot_xtals", "n_noisy_xtals", "n_dead_straws", "n_noisy_straws"],
                  "calo_channel_status": ["hits"], "tracker_channel_status": ["hits"], "run_summary": ["ctags", "ctags_good"],
                  "gain_constants": ["ifg_ndf"], "calo_quality": ["n_dead", "n_hot", "n_noisy", "n_bad"]}
        for name, cols in counts.items():
            schema = pq.read_schema(os.path.join(out, name + ".parquet"))
            for c in cols:
                if not pa.types.is_integer(schema.field(c).type):
                    pr.append("%s.%s is %s, not an integer type" % (name, c, schema.field(c).type))
        st = pq.read_table(os.path.join(out, "subrun_status.parquet"))
        rt = st.schema.field("reasons").type
        is_str = lambda t: pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t)  # noqa: E731
        if not ((pa.types.is_list(rt) or pa.types.is_large_list(rt)) and is_str(rt.value_type)):
            pr.append("subrun_status.reasons is %s, not a list of strings" % st.schema.field("reasons").type)
        else:
            for row in st.to_pylist():
                if (not row["ok"] and len(row["reasons"]) == 0) or any(not r or "; " in r for r in row["reasons"]):
                    pr.append("subrun %d.%d: ok %s, reasons %r" % (row["run"], row["subrun"], row["ok"], row["reasons"]))
        report.check("2 counts are integers and subrun_status.reasons a list of strings (one per failing cut, at least one for a subrun not ok)", pr)
        # Times: timestamp[us, tz=UTC] columns equal to the seconds, rounded to the microsecond.
        pr = []
        mt = tables["subrun_metrics"]
        for secs, stamp in STAMPS.items():
            ty = mt.schema.field(stamp).type
            if not (pa.types.is_timestamp(ty) and ty.unit == "us" and ty.tz == "UTC"):
                pr.append("subrun_metrics.%s is %s, not timestamp[us, tz=UTC]" % (stamp, ty))
                continue
            for x, t in zip(mt.column(secs).to_pylist(), mt.column(stamp).cast(pa.int64()).to_pylist()):
                # Half away from zero (Python's round() would take ties to even).
                want = None if x is None or math.isnan(x) else int(math.copysign(math.floor(abs(x * 1e6) + 0.5), x))
                if t != want:
                    pr.append("subrun_metrics %s %r: %s %r us, expected %r" % (secs, x, stamp, t, want))
        report.check("2 subrun_metrics.start_utc and end_utc are UTC timestamps equal to start_time and end_time (to the microsecond)", pr)

    # ------------------------------------------------------------------ read every file
    data = {}
    with report.part("3: reading %d files with uproot (%d processes)" % (len(files), READ_PROCESSES)):
        paths = [os.path.join(sim, f) for _, _, f in files]
        pr = []
        with ProcessPoolExecutor(READ_PROCESSES) as ex:
            futs = [ex.submit(read_file, p) for p in paths]
            for (r, s, f), fut in zip(files, futs):
                try:
                    data[(r, s)] = fut.result()
                except Exception as e:  # noqa: BLE001 - any failure is a finding
                    pr.append("%s: uproot cannot read it: %r" % (f, e))
        if not report.check("3 uproot reads every simulated file", pr):
            return

    # ------------------------------------------------------------------ part 3
    with report.part("3: per-subrun metrics (spec section 3)"):
        rows = rows_by(tables["subrun_metrics"], "run", "subrun")
        pr = []
        nulls_expected = 0
        worst = (0.0, None)
        if sorted(rows) != [(r, s) for r, s, _ in files]:
            pr.append("rows for %s, files %s" % (sorted(rows), [(r, s) for r, s, _ in files]))
        order = [(r["run"], r["subrun"]) for r in tables["subrun_metrics"].to_pylist()]
        if order != sorted(order):
            pr.append("rows are not in (run, subrun) order: %s" % order)
        for r, s, fname in files:
            row = rows.get((r, s))
            if row is None:
                continue
            tag = "%d.%d" % (r, s)
            if row["file"] != fname:
                pr.append("%s file: table %r, dataset %r" % (tag, row["file"], fname))
            mine = data[(r, s)]["metrics"]
            for col in METRIC_COLUMNS[3:]:
                want, got = mine[col], row[col]
                if want is None:
                    nulls_expected += 1
                if (want is None) != (got is None):
                    pr.append("%s %s: table %s, recomputed %s" % (tag, col, fmt(got), fmt(want)))
                elif want is None:
                    continue
                elif col in EXACT_METRICS:
                    if float(got) != float(want):
                        pr.append("%s %s: table %r, recomputed %r (exact)" % (tag, col, got, want))
                else:
                    d = rel(got, want)
                    if d > worst[0]:
                        worst = (d, "%s %s" % (tag, col))
                    if not d <= METRIC_RTOL:
                        pr.append("%s %s: table %r, recomputed %r (rel diff %.3g)" % (tag, col, got, want, d))
        report.check("3 every metric of every subrun equals the recomputed one (counts exactly, the rest to %g; nulls where undefined)" % METRIC_RTOL,
                     pr, note="%d subruns x %d metrics, %d nulls expected (no timeTree or zero denominators), %s"
                     % (len(files), len(METRIC_COLUMNS) - 3, nulls_expected, worst_text(worst)))

    # ------------------------------------------------------------------ part 3c
    with report.part("3c: per-run DQC constants (kicker_dqc, t0_dqc, laser_dqc) in numpy"):
        def window(vals):
            """median +- k robust widths (1.4826 MAD, at least min_relative_width |median|)."""
            v = np.array([x for x in vals if x is not None and math.isfinite(x)], dtype=np.float64)
            if v.size < RC_MIN_SUBRUNS:
                return v.size, None
            med = float(np.median(v))
            width = max(MAD_TO_SIGMA * float(np.median(np.abs(v - med))), RC_MIN_REL_WIDTH * abs(med))
            return v.size, (med, width, med - RC_K * width, med + RC_K * width)

        def cmp_window(tag, row, names, want, pr):
            n, w = want
            if row["n_subruns"] != n:
                pr.append("%s n_subruns: table %s, recomputed %d" % (tag, row["n_subruns"], n))
            if w is None:
                if any(row[c] is not None for c in names):
                    pr.append("%s: table has bounds from %d subruns (< %d): %s" % (tag, n, RC_MIN_SUBRUNS, [row[c] for c in names]))
                return 0.0
            # The metrics agree to METRIC_RTOL; the window's scale is its median and width.
            scale = abs(w[0]) + RC_K * w[1] + 1e-300
            worst_d = 0.0
            for c, x in zip(names, w):
                if row[c] is None or not abs(row[c] - x) <= 10 * METRIC_RTOL * scale:
                    pr.append("%s %s: table %s, recomputed %r" % (tag, c, fmt(row[c]), x))
                elif row[c] is not None:
                    worst_d = max(worst_d, abs(row[c] - x) / scale)
            if row["k"] != RC_K:
                pr.append("%s k: table %s, cut file %s" % (tag, row["k"], RC_K))
            return worst_d

        by_run = {r: [data[(rr, s)]["metrics"] for rr, s, _ in files if rr == r] for r in runs}
        pr, worst = [], 0.0
        kd = rows_by(tables["kicker_dqc"], "run", "kicker")
        t0d = rows_by(tables["t0_dqc"], "run")
        ld = rows_by(tables["laser_dqc"], "run", "laser")
        for r in runs:
            ms = by_run[r]
            for k in (1, 2, 3):
                row = kd.get((r, k))
                if row is None:
                    pr.append("run %d kicker %d: no kicker_dqc row" % (r, k))
                    continue
                qs = (("amplitude", "kv"), ("timing", "ns"), ("fwhm", "ns"))
                # A kicker's three windows come from the subruns where all three are finite.
                used = [m for m in ms if all(m["kicker%d_%s" % (k, q)] is not None and math.isfinite(m["kicker%d_%s" % (k, q)]) for q, _ in qs)]
                for q, u in qs:
                    want = window([m["kicker%d_%s" % (k, q)] for m in used])
                    worst = max(worst, cmp_window("run %d kicker %d %s" % (r, k, q), row, ["%s_%s_%s" % (q, w, u) for w in WINDOW], want, pr))
            row = t0d.get((r,))
            if row is None:
                pr.append("run %d: no t0_dqc row" % r)
            else:
                worst = max(worst, cmp_window("run %d t0" % r, row, ["t0_reference", "t0_width", "t0_low", "t0_high"], window([m["t0"] for m in ms]), pr))
            for l in range(1, 7):
                row = ld.get((r, l))
                if row is None:
                    pr.append("run %d laser %d: no laser_dqc row" % (r, l))
                    continue
                worst = max(worst, cmp_window("run %d laser %d" % (r, l), row, ["sm_reference", "sm_width", "sm_low", "sm_high"], window([m["laser%d_sm" % l] for m in ms]), pr))
        report.check("3c kicker_dqc, t0_dqc and laser_dqc equal the run median +- %g x 1.4826 MAD of the recomputed metrics (to %g of the window's scale)" % (RC_K, 10 * METRIC_RTOL),
                     pr, note="%d runs, %d kicker, %d t0 and %d laser windows, worst %.2g" % (len(runs), len(kd), len(t0d), len(ld), worst))

    # ------------------------------------------------------------------ run sums
    sums = {}
    for r in runs:
        keys = [(rr, s) for rr, s, _ in files if rr == r]
        tot = {k: sum(data[key][k] for key in keys) for k in ("xtal_hits", "straw_hits", "ped", "oof", "infill", "drift")}
        tot["subruns"] = len(keys)
        sums[r] = tot
    gain_rows = rows_by(tables["gain_constants"], "run_first", "channel")

    # ------------------------------------------------------------------ part 4m
    with report.part("4m: the merge stage's files (uproot against the subrun sums)"):
        for r in runs:
            pr = []
            worst = (0.0, None)
            path = os.path.join(out, "merged", "merged_%d-%d.root" % (r, r))
            try:
                f = uproot.open(path)
            except Exception as e:  # noqa: BLE001 - reported as a failed check
                report.check("4m run %d: %s opens with uproot" % (r, path), ["%s: %s" % (type(e).__name__, e)])
                continue

            def close(tag, got, want):
                nonlocal worst
                got, want = np.asarray(got, dtype=np.float64), np.asarray(want, dtype=np.float64)
                if got.shape != want.shape:
                    pr.append("%s: shape %s, recomputed %s" % (tag, got.shape, want.shape))
                    return
                d = float(np.max(np.abs(got - want) / np.maximum(np.abs(want), 1e-300), initial=0.0))
                if d > worst[0]:
                    worst = (d, tag)
                if not d <= MERGE_RTOL:
                    pr.append("%s: max rel diff %.3g" % (tag, d))

            t = sums[r]
            close("merge/xtalHits", raw_array(f["merge/xtalHits"])[1:N_XTALS + 1], t["xtal_hits"])
            close("merge/strawHits", raw_array(f["merge/strawHits"])[1:N_STRAWS + 1], t["straw_hits"])
            close("laser/outOfFill", profile_sums(f["laser/outOfFill"]), t["oof"])
            close("merge/referenceOutOfFill", profile_sums(f["merge/referenceOutOfFill"]), sums[ref_run]["oof"])
            close("calo/pedestalRMS", profile_sums(f["calo/pedestalRMS"]), t["ped"])
            close("tracker/driftTime", raw_array(f["tracker/driftTime"]).reshape(N_DRIFT_BINS + 2, N_STRAWS + 2), t["drift"])
            for ch in range(N_XTALS):
                c, x = xtal_of(ch)
                close("laser/inFill/calo%d/xtal%d" % (c, x), profile_sums(f["laser/inFill/calo%d/xtal%d" % (c, x)]), t["infill"][:, ch, :])
            # Every other histogram of the subrun files, summed at its path (arrays and the
            # statistics hadd adds).
            keys = [(rr, s) for rr, s, _ in files if rr == r]
            want_paths = sorted(set().union(*(data[k]["others"].keys() for k in keys)))
            merged_others = other_sums(f)
            if sorted(merged_others) != want_paths:
                pr.append("other histograms: merged file has %d (%s...), the subrun files %d; only merged %s, only subruns %s"
                          % (len(merged_others), sorted(merged_others)[:3], len(want_paths),
                             sorted(set(merged_others) - set(want_paths))[:5], sorted(set(want_paths) - set(merged_others))[:5]))
            for p_ in want_paths:
                if p_ not in merged_others:
                    continue
                parts = [data[k]["others"][p_] for k in keys if p_ in data[k]["others"]]
                close(p_, merged_others[p_][1], sum(a for _, a, _ in parts))
                close(p_ + " (statistics)", merged_others[p_][2], sum(s_ for _, _, s_ in parts))
            n_others = len(want_paths)
            interval = list(f["merge/interval"]["run"].array(library="np"))
            reference = list(f["merge/referenceRun"]["run"].array(library="np"))
            subruns = sorted(zip(f["merge/subrunRun"]["run"].array(library="np"), f["merge/subrunNumber"]["subrun"].array(library="np")))
            want_subruns = sorted((rr, s) for rr, s, _ in files if rr == r)
            kinds = {t: f[t][b].array(library="np").dtype for t, b in (("merge/interval", "run"), ("merge/referenceRun", "run"),
                                                                     ("merge/subrunRun", "run"), ("merge/subrunNumber", "subrun"))}
            if any(k.kind != "u" or k.itemsize != 4 for k in kinds.values()):
                pr.append("bookkeeping trees: run and subrun numbers are %s, not 32-bit unsigned integers" % {t: str(k) for t, k in kinds.items()})
            if interval != [r, r] or reference != [ref_run] or subruns != want_subruns:
                pr.append("bookkeeping trees: interval %s reference %s subruns %s; want [%d, %d], [%d], %s" % (interval, reference, subruns, r, r, ref_run, want_subruns))
            report.check("4m run %d: merged file = uproot sums of its %d subrun files (1296 in-fill profiles, hits, pedestal, out-of-fill, reference, drift time, and the %d other histograms with their statistics) to %g"
                         % (r, t["subruns"], n_others, MERGE_RTOL), pr, note=worst_text(worst))

    # ------------------------------------------------------------------ part 4
    ratio = {}
    with report.part("4: out-of-fill ratios and gains (spec section 4)"):
        for r in runs:
            o = sums[r]["oof"]
            mean = profile_means(o[0], o[2])[1:N_XTALS + 1]
            err = profile_errors(*o)[1:N_XTALS + 1]
            ent = o[2][1:N_XTALS + 1]
            ratio[r] = [(float(mean[c]), float(err[c])) if ent[c] > 0 else None for c in range(N_XTALS)]
        for r in runs:
            pr = []
            worst = {}
            nnull = 0
            for c in range(N_XTALS):
                row = gain_rows.get((r, c))
                cal, x = xtal_of(c)
                tag = "run %d channel %d (calo %d xtal %d)" % (r, c, cal, x)
                if row is None:
                    pr.append("%s: no gain_constants row" % tag)
                    continue
                if (row["run_last"], row["calo"], row["xtal"]) != (r, cal, x):
                    pr.append("%s: run_last/calo/xtal %s/%s/%s" % (tag, row["run_last"], row["calo"], row["xtal"]))
                if row["reference_run"] != ref_run:
                    pr.append("%s reference_run: table %s, the gains are against run %d" % (tag, row["reference_run"], ref_run))
                rr, r0 = ratio[r][c], ratio[ref_run][c]
                want = {"oof_ratio": None, "oof_ratio_err": None, "gain": None, "gain_err": None, "energy_scale": None}
                if rr is not None:
                    want["oof_ratio"], want["oof_ratio_err"] = rr
                if rr is not None and r0 is not None and rr[0] != 0 and r0[0] != 0:
                    if r == ref_run:
                        g, ge = 1.0, 0.0
                    else:
                        g = rr[0] / r0[0]
                        ge = g * math.sqrt((rr[1] / rr[0]) ** 2 + (r0[1] / r0[0]) ** 2)
                    want["gain"], want["gain_err"], want["energy_scale"] = g, ge, 1.0 / g
                else:
                    nnull += 1
                for k, v in want.items():
                    got = row[k]
                    if (v is None) != (got is None):
                        pr.append("%s %s: table %s, recomputed %s" % (tag, k, fmt(got), fmt(v)))
                    elif v is not None:
                        d = rel(got, v)
                        if d >= worst.get(k, (0.0,))[0]:
                            worst[k] = (d, c)
                        if r == ref_run and k in ("gain", "gain_err") and got != v:
                            pr.append("%s %s: table %r, reference run needs exactly %r" % (tag, k, got, v))
                        elif not d <= METRIC_RTOL:
                            pr.append("%s %s: table %r, recomputed %r (rel diff %.3g)" % (tag, k, got, v, d))
            note = "%d subruns summed; %d crystals without a gain (no entries); %s" % (
                sums[r]["subruns"], nnull, ", ".join("%s %s" % (k, worst_text((w[0], "ch %d" % w[1]))) for k, w in sorted(worst.items())))
            report.check("4 run %d%s: oof_ratio(_err), gain(_err), energy_scale from laser/outOfFill summed over the run (rel %g)"
                         % (r, " (reference)" if r == ref_run else "", METRIC_RTOL), pr, note=note)

    # ------------------------------------------------------------------ part 5
    with report.part("5: in-fill gain fits (iminuit) and gain status"):
        rng = np.random.default_rng(FIT_SEED)
        fit_cols = [("ifg_norm", "N"), ("ifg_amp", "A"), ("ifg_tau_us", "tau")]
        err_cols = [("ifg_amp_err", "A_err"), ("ifg_tau_err", "tau_err"), ("ifg_cov_amp_tau", "cov_A_tau"), ("ifg_norm_err", "N_err")]
        groups = {"par": ({}, []), "lin": ({}, []), "hesse": ({}, [])}  # worst rel diff by column, problems
        pr_ndf, pr_status = [], []
        not_ok = []
        nfit = 0
        for r in runs:
            infill = sums[r]["infill"]
            points = {}
            for c in range(N_XTALS):
                t, _, _ = fit_points(infill[:, c, :])
                points[c] = t.size
            okc = sorted(c for c in range(N_XTALS) if gain_rows[(r, c)]["status"] == "ok")
            npick = len(okc) if fit_per_run <= 0 else min(fit_per_run, len(okc))
            pick = set(int(c) for c in rng.choice(okc, npick, replace=False))
            for c in range(N_XTALS):
                row = gain_rows[(r, c)]
                cal, x = xtal_of(c)
                tag = "run %d channel %d (calo %d xtal %d)" % (r, c, cal, x)
                st = row["status"]
                if st != "ok":
                    not_ok.append("run %d calo %d xtal %d: %s (%s)" % (r, cal, x, st, row.get("detail", "")))
                if st not in GAIN_STATUSES:
                    pr_status.append("%s: status %r is not a spec status" % (tag, st))
                # status consistency
                in_entries = infill[2, c, :].sum()
                no_laser = ratio[r][c] is None or ratio[ref_run][c] is None or in_entries == 0
                if no_laser != (st == "no_laser"):
                    pr_status.append("%s: status %s, but out-of-fill entries %s, reference run's %s, in-fill entries %r"
                                     % (tag, st, "none" if ratio[r][c] is None else "some", "none" if ratio[ref_run][c] is None else "some", in_entries))
                fitted = st in ("ok", "out_of_range")
                if fitted:
                    nulls = [k for k, _ in fit_cols + err_cols + [("ifg_chi2_ndf", 0), ("ifg_ndf", 0)] if row.get(k) is None]
                    if nulls:
                        pr_status.append("%s: status %s but %s null" % (tag, st, nulls))
                        continue
                    g = row["gain"]
                    bad = g is None or abs(g - 1.0) > GAIN_MAX_DEV or not AMP_MIN <= row["ifg_amp"] <= AMP_MAX
                    if bad != (st == "out_of_range"):
                        pr_status.append("%s: status %s with gain %s and ifg_amp %r (cut |gain - 1| <= %g, amp in [%g, %g])"
                                         % (tag, st, fmt(g), row["ifg_amp"], GAIN_MAX_DEV, AMP_MIN, AMP_MAX))
                if row["ifg_ndf"] is not None and row["ifg_ndf"] != points[c] - 3:
                    pr_ndf.append("%s: ifg_ndf %d, %d usable bins - 3 = %d" % (tag, row["ifg_ndf"], points[c], points[c] - 3))
                if c not in pick:
                    continue
                t, y, e = fit_points(infill[:, c, :])
                fit = fit_infill(t, y, e)
                nfit += 1
                if not fit["valid"]:
                    groups["par"][1].append("%s: iminuit's fit is not valid (start N=%r)" % (tag, float(np.mean(y[-20:]))))
                    continue
                if row["ifg_ndf"] != fit["ndf"]:
                    groups["par"][1].append("%s ifg_ndf: table %s, points - 3 = %d" % (tag, row["ifg_ndf"], fit["ndf"]))
                if any(row.get(col) is None for col, _ in fit_cols + err_cols):
                    groups["par"][1].append("%s: fitted columns missing or null: %s" % (tag, [col for col, _ in fit_cols + err_cols if row.get(col) is None]))
                    continue
                diffs = [("par", col, row[col], fit[k], FIT_RTOL) for col, k in fit_cols]
                diffs.append(("par", "ifg_chi2_ndf", row["ifg_chi2_ndf"], fit["chi2"] / fit["ndf"], FIT_RTOL))
                diffs += [("lin", col, row[col], fit["lin_" + k], FIT_ERR_RTOL) for col, k in err_cols]
                diffs += [("hesse", col, row[col], fit[k], HESSE_RTOL) for col, k in err_cols]
                for grp, col, got, want, tol in diffs:
                    worst, pr = groups[grp]
                    d = rel(got, want)
                    if d >= worst.get(col, (0.0,))[0]:
                        worst[col] = (d, "run %d ch %d" % (r, c))
                    if not d <= tol:
                        pr.append("%s %s: table %r, iminuit %s %r (rel diff %.3g > %g)"
                                  % (tag, col, got, {"par": "Migrad", "lin": "(J^T W J)^-1", "hesse": "Hesse"}[grp], want, d, tol))

        def worst_note(grp):
            return "worst rel diff: " + ", ".join("%s %.2g (%s)" % (k, w[0], w[1]) for k, w in sorted(groups[grp][0].items()))

        report.check("5 in-fill fits: %d crystals (%s per run, seed %d, status ok) refitted with iminuit (LeastSquares, Migrad): N, A, tau and chi2/ndf to %g, ndf exactly"
                     % (nfit, fit_per_run if fit_per_run > 0 else "all", FIT_SEED, FIT_RTOL), groups["par"][1], note=worst_note("par"))
        report.check("5 in-fill fit errors of N, A, tau and cov(A, tau) = the weighted least-squares covariance (J^T W J)^-1 at iminuit's minimum, to %g" % FIT_ERR_RTOL,
                     groups["lin"][1], note=worst_note("lin"))
        report.check("5 in-fill fit errors of N, A, tau and cov(A, tau) agree with iminuit's Hesse (full second derivatives) to %g" % HESSE_RTOL,
                     groups["hesse"][1], note=worst_note("hesse"))
        report.check("5 ifg_ndf = usable bins (centre in [4, 400] us, >= 10 entries, error > 0) - 3 for every fitted crystal", pr_ndf)
        report.check("5 gain status: no_laser exactly without laser entries, fit columns present for ok/out_of_range, out_of_range exactly outside the constant cuts",
                     pr_status, note="not ok (not fitted here): " + ("; ".join(not_ok) or "none"))

    # ------------------------------------------------------------------ part 6
    with report.part("6: channel status per run (spec sections 4, 5)"):
        calo_rows = rows_by(tables["calo_channel_status"], "run_first", "channel")
        trk_rows = rows_by(tables["tracker_channel_status"], "run_first", "channel")
        truth_dead = {c["channel"] for c in truth["crystals"] if c["dead"]}
        truth_hot = {c["channel"] for c in truth["crystals"] if c["hot"]}
        truth_noisy = {c["channel"] for c in truth["crystals"] if c["noisy"]}
        tds, tns = set(truth["dead_straws"]), set(truth["noisy_straws"])
        ycent = (np.arange(N_DRIFT_BINS) + 0.5) * (120.0 / N_DRIFT_BINS)
        for r in runs:
            S = sums[r]
            ped = profile_means(S["ped"][0], S["ped"][2])[1:N_XTALS + 1]
            xd, xh, xn, _, _ = channel_flags(S["xtal_hits"], np.arange(N_XTALS) // XTALS_PER_CALO, ped)
            sd, sn, _, _, _ = channel_flags(S["straw_hits"], np.arange(N_STRAWS) // STRAWS_PER_MODULE, None)
            cnt = S["drift"][1:N_DRIFT_BINS + 1, 1:N_STRAWS + 1]  # [y bin, straw]
            s0 = cnt.sum(axis=0)
            s1 = (cnt * ycent[:, None]).sum(axis=0)
            s2 = (cnt * (ycent ** 2)[:, None]).sum(axis=0)
            pr, worst = [], (0.0, None)

            def cmp(tag, col, got, want):
                nonlocal worst
                if (want is None) != (got is None):
                    pr.append("%s %s: table %s, recomputed %s" % (tag, col, fmt(got), fmt(want)))
                elif isinstance(want, bool):
                    if got != want:
                        pr.append("%s %s: table %s, recomputed %s" % (tag, col, got, want))
                elif want is not None:
                    d = rel(got, want)
                    if d > worst[0]:
                        worst = (d, "%s %s" % (tag, col))
                    if not d <= METRIC_RTOL:
                        pr.append("%s %s: table %r, recomputed %r (rel diff %.3g)" % (tag, col, got, want, d))

            for c in range(N_XTALS):
                row = calo_rows.get((r, c))
                cal, x = xtal_of(c)
                tag = "run %d crystal %d (calo %d xtal %d)" % (r, c, cal, x)
                if row is None:
                    pr.append("%s: no calo_channel_status row" % tag)
                    continue
                want = {"run_last": r, "calo": cal, "xtal": x}
                for k, v in want.items():
                    if row[k] != v:
                        pr.append("%s %s: table %s, expected %s" % (tag, k, row[k], v))
                cmp(tag, "hits", row["hits"], float(S["xtal_hits"][c]))
                cmp(tag, "pedestal_rms", row["pedestal_rms"], float(ped[c]))
                for k, v in (("dead", xd[c]), ("hot", xh[c]), ("noisy", xn[c]), ("ok", not (xd[c] or xh[c] or xn[c]))):
                    cmp(tag, k, row[k], bool(v))
            for w in range(N_STRAWS):
                row = trk_rows.get((r, w))
                st, mo, sw = straw_of(w)
                tag = "run %d straw %d (station %d module %d straw %d)" % (r, w, st, mo, sw)
                if row is None:
                    pr.append("%s: no tracker_channel_status row" % tag)
                    continue
                for k, v in {"run_last": r, "station": st, "module": mo, "straw": sw}.items():
                    if row[k] != v:
                        pr.append("%s %s: table %s, expected %s" % (tag, k, row[k], v))
                cmp(tag, "hits", row["hits"], float(S["straw_hits"][w]))
                if s0[w] > 0:
                    mean = s1[w] / s0[w]
                    dm, drms = float(mean), float(math.sqrt(max(s2[w] / s0[w] - mean * mean, 0.0)))
                else:
                    dm = drms = None
                cmp(tag, "drift_mean_ns", row["drift_mean_ns"], dm)
                cmp(tag, "drift_rms_ns", row["drift_rms_ns"], drms)
                for k, v in (("dead", sd[w]), ("noisy", sn[w]), ("ok", not (sd[w] or sn[w]))):
                    cmp(tag, k, row[k], bool(v))
            qrows = rows_by(tables["calo_quality"], "run_first", "calo")
            not_ok = xd | xh | xn
            for cal in range(1, N_CALOS + 1):
                sl = slice((cal - 1) * XTALS_PER_CALO, cal * XTALS_PER_CALO)
                row = qrows.get((r, cal))
                tag = "run %d calo %d quality" % (r, cal)
                if row is None:
                    pr.append("%s: no calo_quality row" % tag)
                    continue
                n_bad = int(not_ok[sl].sum())
                want = {"run_last": r, "n_dead": int(xd[sl].sum()), "n_hot": int(xh[sl].sum()), "n_noisy": int(xn[sl].sum()),
                        "n_bad": n_bad, "max_bad": CALO_MAX_BAD, "ok": n_bad <= CALO_MAX_BAD}
                for k, v in want.items():
                    if row[k] != v:
                        pr.append("%s %s: table %s, recomputed %s" % (tag, k, row[k], v))
            report.check("6 run %d: calo and tracker channel status and the calorimeters' quality bit recomputed from the run sums (booleans exactly, floats to %g)" % (r, METRIC_RTOL),
                         pr, note="%d subruns summed, %s" % (S["subruns"], worst_text(worst)))
            # against truth.json
            pr = []
            got = {k: {ch for (rr, ch), row in calo_rows.items() if rr == r and row[k]} for k in ("dead", "hot", "noisy")}
            got_s = {k: {ch for (rr, ch), row in trk_rows.items() if rr == r and row[k]} for k in ("dead", "noisy")}
            for nm, g, want in (("dead crystals", got["dead"], truth_dead), ("hot crystals", got["hot"], truth_hot),
                                ("noisy crystals", got["noisy"], truth_noisy), ("dead straws", got_s["dead"], tds),
                                ("noisy straws", got_s["noisy"], tns)):
                if g != want:
                    pr.append("run %d %s: table %s, truth %s (only table %s, only truth %s)"
                              % (r, nm, sorted(g), sorted(want), sorted(g - want), sorted(want - g)))
            report.check("6 run %d: flagged channels are truth.json's injected ones" % r, pr,
                         note="dead/hot/noisy crystals %s/%s/%s, dead/noisy straws %s/%s"
                         % (sorted(truth_dead), sorted(truth_hot), sorted(truth_noisy), sorted(tds), sorted(tns)))

    # ------------------------------------------------------------------ part 7
    with report.part("7: determinism (--threads 1 vs --threads 2)"):
        rc, out2 = finish_background(second, cmd1, t_second)
        pr = []
        if rc != 0:
            pr.append("exit %d: %s" % (rc, out2.strip()[-800:]))
        else:
            t1 = read_tables(out1)
            for n in TABLES:
                pr += compare_tables(n, tables[n], t1[n])
            with open(os.path.join(out, "errors.txt")) as f2, open(os.path.join(out1, "errors.txt")) as f1:
                if f2.read() != f1.read():
                    pr.append("errors.txt differs")
            with open(os.path.join(out1, "summary.json")) as fh:
                s1 = json.load(fh)
            a_ = {k: v for k, v in summary.items() if k not in TIMING_KEYS}
            b_ = {k: v for k, v in s1.items() if k not in TIMING_KEYS}
            if a_ != b_:
                pr.append("summary.json differs beyond timings: %s vs %s" % (a_, b_))
            if s1.get("threads") != 1:
                pr.append("--threads 1 summary says threads %s" % s1.get("threads"))
        report.check("7 --threads 1 writes the same tables (Table.equals, floats bit for bit), errors.txt and summary", pr,
                     note="%d tables, %d rows" % (len(tables), sum(t.num_rows for t in tables.values())) if not pr else None)

    # ------------------------------------------------------------------ part 9
    with report.part("9: the ConDB export read back with Python's json against the Parquet tables"):
        check_condb_export(report, binary, work, out, runs, tables)

    # ------------------------------------------------------------------ part 8
    with report.part("8: isolation (a truncated and a garbage file in run %d)" % runs[-1]):
        shutil.copytree(sim, broken)
        late = [(r, s, f) for r, s, f in files if r == runs[-1]]
        trunc, garbage = late[1], late[-2]
        tp, gp = os.path.join(broken, trunc[2]), os.path.join(broken, garbage[2])
        size = os.path.getsize(tp)
        with open(tp, "r+b") as fh:
            fh.truncate(size // 2)
        with open(gp, "wb") as fh:
            fh.write(np.random.default_rng(8).bytes(100))
        print("      %s truncated to %d of %d bytes; %s overwritten with 100 bytes of garbage" % (trunc[2], size // 2, size, garbage[2]))
        p = run(analyze_cmd(binary, broken, out_broken, 2))
        pr = []
        if p.returncode != 1:
            pr.append("exit %d, want 1: %s" % (p.returncode, (p.stdout + p.stderr).strip()[-800:]))
        missing = [n for n in list(TABLES) + ["errors.txt", "summary.json"]
                   if not os.path.exists(os.path.join(out_broken, n if "." in n else n + ".parquet"))]
        if missing:
            pr.append("missing outputs: %s" % missing)
        report.check("8 analyze exits 1 and still writes the four tables, errors.txt and summary.json", pr)
        if missing:
            return
        tb = read_tables(out_broken)
        with open(os.path.join(out_broken, "errors.txt")) as fh:
            errors = fh.read()
        pr = []
        for _, _, f in (trunc, garbage):
            if f not in errors:
                pr.append("errors.txt does not name %s" % f)
        others = [ln for ln in errors.splitlines() if ln.strip() and trunc[2] not in ln and garbage[2] not in ln]
        if others:
            pr.append("errors.txt has %d lines naming neither broken file, e.g. %r" % (len(others), others[0]))
        report.check("8 errors.txt names both broken files (and nothing else)", pr,
                     note="%d lines" % len([ln for ln in errors.splitlines() if ln.strip()]))

        pr = []
        clean = rows_by(tables["subrun_metrics"], "run", "subrun")
        brows = rows_by(tb["subrun_metrics"], "run", "subrun")
        if sorted(brows) != sorted(clean):
            pr.append("rows for %s, expected one per file %s" % (sorted(brows), sorted(clean)))
        nulls = {}
        for key, row in sorted(brows.items()):
            tag = "%d.%d" % key
            ref = clean.get(key)
            if ref is None:
                continue
            if key in ((trunc[0], trunc[1]), (garbage[0], garbage[1])):
                nulls[tag] = [c for c in METRIC_COLUMNS[3:] if row[c] is None]
                for c in METRIC_COLUMNS[3:]:
                    if row[c] is not None and row[c] != ref[c]:
                        pr.append("%s (broken) %s: %r, neither null nor the clean value %r" % (tag, c, row[c], ref[c]))
                if row["file"] != ref["file"]:
                    pr.append("%s (broken) file %r, expected %r" % (tag, row["file"], ref["file"]))
            else:
                for c in METRIC_COLUMNS:
                    if row[c] != ref[c] and not (isinstance(ref[c], float) and math.isnan(ref[c]) and math.isnan(row[c])):
                        pr.append("%s %s: %s, clean analysis %s" % (tag, c, fmt(row[c]), fmt(ref[c])))
        gtag = "%d.%d" % garbage[:2]
        if nulls.get(gtag) is not None and len(nulls[gtag]) != len(METRIC_COLUMNS) - 3:
            pr.append("%s (garbage): metrics not null: %s" % (gtag, [c for c in METRIC_COLUMNS[3:] if c not in nulls[gtag]]))
        ttag = "%d.%d" % trunc[:2]
        if nulls.get(ttag) is not None and not nulls[ttag]:
            pr.append("%s (truncated to half): no metric is null" % ttag)
        report.check("8 subrun_metrics: a row per file; broken files null (or the clean value where readable), the others unchanged", pr,
                     note="null metrics: " + ", ".join("%s %d of %d" % (k, len(v), len(METRIC_COLUMNS) - 3) for k, v in nulls.items()))

        pr = []
        first = runs[0]
        for n in ("gain_constants", "calo_channel_status", "tracker_channel_status"):
            a_, b_ = run_rows(tables[n], first), run_rows(tb[n], first)
            if a_ is None or b_ is None:
                pr.append("%s: the rows of run %d are not contiguous" % (n, first))
                continue
            if a_.num_rows == 0:
                pr.append("%s: no rows for run %d in the clean analysis" % (n, first))
            pr += compare_tables("%s run %d" % (n, first), a_, b_)
            for r in runs[1:]:
                k = int((tb[n].column("run_first").to_numpy() == r).sum())
                want = N_STRAWS if n.startswith("tracker") else N_XTALS
                if k != want:
                    pr.append("%s run %d (with the broken files): %d rows, expected %d" % (n, r, k, want))
        report.check("8 run %d (untouched, the gain reference) is identical bit for bit in gain_constants and the channel status tables; run %d still has every row"
                     % (first, runs[-1]), pr)

        # Run 2's sums hold exactly the files that could be read (checked where the
        # truncated file could not be opened at all: then every metric of its row is null).
        if all(len(v) == len(METRIC_COLUMNS) - 3 for v in nulls.values()):
            pr = []
            r = runs[-1]
            keys = [(rr, s) for rr, s, _ in late if (rr, s) not in ((trunc[0], trunc[1]), (garbage[0], garbage[1]))]
            o = sum(data[k]["oof"] for k in keys)
            mean = profile_means(o[0], o[2])[1:N_XTALS + 1]
            err = profile_errors(*o)[1:N_XTALS + 1]
            hits = sum(data[k]["xtal_hits"] for k in keys)
            brows_g = rows_by(tb["gain_constants"], "run_first", "channel")
            brows_c = rows_by(tb["calo_channel_status"], "run_first", "channel")
            worst = 0.0
            for c in range(N_XTALS):
                row = brows_g[(r, c)]
                want = (float(mean[c]), float(err[c])) if o[2][c + 1] > 0 else (None, None)
                for col, v in zip(("oof_ratio", "oof_ratio_err"), want):
                    if (v is None) != (row[col] is None) or (v is not None and rel(row[col], v) > METRIC_RTOL):
                        pr.append("run %d channel %d %s: table %s, summed over the %d readable files %s" % (r, c, col, fmt(row[col]), len(keys), fmt(v)))
                    elif v is not None:
                        worst = max(worst, rel(row[col], v))
                if rel(brows_c[(r, c)]["hits"], float(hits[c])) > METRIC_RTOL:
                    pr.append("run %d crystal %d hits: table %r, summed over the %d readable files %r" % (r, c, brows_c[(r, c)]["hits"], len(keys), float(hits[c])))
            report.check("8 run %d: oof_ratio(_err) and crystal hits are the sums over its %d readable files" % (r, len(keys)), pr,
                         note="worst rel diff %.2g" % worst)


def check_condb_export(report, binary, work, out, runs, tables):
    """Part 9: `gm2dqc db upload` then `gm2dqc export condb`; every file read with json and
    every value compared with the Parquet table it came from (pyarrow), so neither gm2dqc's
    database reader nor its JSON writer is trusted."""
    dbfile = os.path.join(work, "condb.sqlite")
    files_dir = os.path.join(work, "condb")
    pr = []
    for cmd in ([binary, "db", "--db", dbfile, "upload", "--from", out, "--tag", "cx"],
                [binary, "export", "condb", "--db", dbfile, "--tag", "cx", "--out", files_dir]):
        p = run(cmd)
        if p.returncode != 0:
            pr.append("%s: exit %d: %s" % (" ".join(cmd[1:3]), p.returncode, (p.stdout + p.stderr)[-800:]))
    if not report.check("9 db upload and export condb exit 0", pr):
        return
    status = pq.read_table(os.path.join(out, "subrun_status.parquet"))
    per_run = {"subrun_metrics", "subrun_status", "kicker_dqc", "t0_dqc", "laser_dqc"}
    parquet = dict(tables, subrun_status=status)
    pr, compared = [], 0
    names = sorted(os.listdir(files_dir))
    want_names = ["iov_%d.0-%d.0.json" % (r, r + 1) for r in runs]
    if names != want_names:
        pr.append("files %s, expected one per run %s" % (names, want_names))
    for r in runs:
        path = os.path.join(files_dir, "iov_%d.0-%d.0.json" % (r, r + 1))
        if not os.path.exists(path):
            continue
        with open(path) as fh:
            doc = json.load(fh)
        iov = doc.get("interval_of_validity")
        if iov != {"first": {"run": r, "subrun": 0}, "end": {"run": r + 1, "subrun": 0}} or doc.get("tag") != "cx":
            pr.append("%s: interval_of_validity %s, tag %s" % (path, iov, doc.get("tag")))
        if sorted(doc["folders"]) != sorted(parquet):
            pr.append("run %d: folders %s, expected %s" % (r, sorted(doc["folders"]), sorted(parquet)))
        for folder, table in parquet.items():
            entry = doc["folders"].get(folder)
            if entry is None:
                continue
            key = "run" if folder in per_run else "run_first"
            rows = [row for row in table.to_pylist() if row[key] == r]
            cols, types, values = entry["columns"], entry["types"], entry["values"]
            flag_cols = [c for c in table.column_names if c not in ("run", "subrun", "ok", "reasons", "cuts_sha256")] if folder == "subrun_status" else []
            # The timestamps are the file's alone: the database keeps the seconds.
            want_cols = (["run", "subrun", "ok", "reasons", "flags_json", "cuts_sha256"] if folder == "subrun_status"
                         else [c for c in table.column_names if c not in STAMPS.values()])
            if cols != want_cols or len(types) != len(cols):
                pr.append("run %d %s: columns %s (types %s), the table's %s" % (r, folder, cols, types, want_cols))
                continue
            if len(values) != len(rows):
                pr.append("run %d %s: %d rows, the table has %d" % (r, folder, len(values), len(rows)))
                continue
            for i, (got_row, row) in enumerate(zip(values, rows)):
                for c, t, v in zip(cols, types, got_row):
                    if c == "flags_json":
                        want, got = {f: row[f] for f in flag_cols}, json.loads(v)
                    elif c == "reasons" and folder == "subrun_status":
                        # A list in the table, one text in the database (joined by "; ").
                        want, got = "; ".join(row[c]), v
                    else:
                        want, got = row[c], v
                        if t == "real" and isinstance(want, float) and math.isnan(want):
                            want = None
                        if t == "real" and isinstance(want, float) and math.isinf(want):
                            want = "inf" if want > 0 else "-inf"
                        ok_type = got is None or {"int": lambda x: isinstance(x, int) and not isinstance(x, bool),
                                                  "real": lambda x: isinstance(x, (int, float, str)) and not isinstance(x, bool),
                                                  "bool": lambda x: isinstance(x, bool), "text": lambda x: isinstance(x, str)}[t](got)
                        if not ok_type:
                            pr.append("run %d %s row %d %s: %r is not of type %s" % (r, folder, i, c, got, t))
                    compared += 1
                    if got != want:
                        pr.append("run %d %s row %d %s: file %r, table %r" % (r, folder, i, c, got, want))
                    if len(pr) > 20:
                        break
    report.check("9 one file per run, every folder, every value equal to its Parquet table (floats exactly, nulls where null)", pr,
                 note="%d files, %d values compared" % (len(names), compared))


if __name__ == "__main__":
    sys.exit(main())
