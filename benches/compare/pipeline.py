#!/usr/bin/env python3
"""The DQC pipeline as a physicist would write it in Python, timed against gm2dqc.

    python3 pipeline.py --data DATASET --gm2dqc-out OUT [--processes N] [--json FILE]

Reads every subrun file of DATASET with uproot (every metric of spec section 3 and the
per-channel sums), sums them per run, computes the out-of-fill gains against the first run,
fits the in-fill gain sag N (1 - A exp(-t/tau)) of every crystal with iminuit (Migrad, then
Hesse), the channel status, and the standard cut set (cuts/standard.toml, read with tomllib)
with numpy. The helpers (reading a file, the fit, the channel cuts) are those of
tests/crosscheck/check_analysis.py and check_simulation.py: vectorised numpy where numpy
can, one uproot read per histogram and one iminuit fit per crystal where it cannot.

Then it checks that its numbers equal gm2dqc's tables in OUT (metrics to 1e-9, counts
exactly, gains to 1e-9, A and tau to 1e-3, every flag and `ok` exactly) and prints its
timings. benches/compare/run.sh runs both sides and prints the speed ratio.
"""

import argparse
import json
import os
import sys
import time
import tomllib
from concurrent.futures import ProcessPoolExecutor

import numpy as np
import pyarrow.parquet as pq

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(REPO, "tests", "crosscheck"))
from check_analysis import (  # noqa: E402  (helpers only)
    EXACT_METRICS, METRIC_COLUMNS, N_STRAWS, N_XTALS, STRAWS_PER_MODULE, XTALS_PER_CALO,
    fit_infill, fit_points, read_file,
)
from check_simulation import channel_flags, profile_errors, profile_means  # noqa: E402

GROUPS = {
    "kicker_amplitude": ["kicker%d_amplitude" % k for k in (1, 2, 3)],
    "kicker_timing": ["kicker%d_timing" % k for k in (1, 2, 3)],
    "kicker_fwhm": ["kicker%d_fwhm" % k for k in (1, 2, 3)],
    "laser_sm": ["laser%d_sm" % l for l in range(1, 7)],
}


def subrun_files(data):
    out = []
    for root, _, names in os.walk(data):
        for n in names:
            if n.endswith(".root") and "_" in n:
                run, sub = n[:-5].rsplit("_", 1)[1].split(".")
                out.append((int(run), int(sub), os.path.join(root, n)))
    return sorted(out)


def evaluate_cuts(cutfile, metrics, runs):
    """Every flag of the cut file per subrun (numpy over subruns), and ok."""
    flags = {}
    for cut in cutfile["cut"]:
        names = GROUPS.get(cut.get("every"), [cut.get("metric") or cut.get("every")])
        passed = np.ones(len(runs), dtype=bool)
        for m in names:
            v = np.array([np.nan if x is None else x for x in metrics[m]], dtype=np.float64)
            ok = np.isfinite(v)
            if "min" in cut:
                ok &= v >= cut["min"]
            if "above" in cut:
                ok &= v > cut["above"]
            if "max" in cut:
                ok &= v <= cut["max"]
            if "below" in cut:
                ok &= v < cut["below"]
            if "equals" in cut:
                ok &= v == cut["equals"]
            if "within_fraction_of_run_median" in cut or "within_errors_of_run_median" in cut:
                med = np.full(len(v), np.nan)
                for r in np.unique(runs):
                    sel = (runs == r) & np.isfinite(v)
                    if sel.any():
                        med[runs == r] = np.median(v[sel])
                if "within_fraction_of_run_median" in cut:
                    ok &= np.abs(v - med) <= cut["within_fraction_of_run_median"] * np.abs(med)
                else:
                    err = np.array([np.nan if x is None else x for x in metrics[cut.get("error", m + "_err")]], dtype=np.float64)
                    ok &= np.abs(v - med) <= cut["within_errors_of_run_median"] * err
            passed &= ok
        flags[cut["flag"]] = flags.get(cut["flag"], np.ones(len(runs), dtype=bool)) & passed
    ok = np.ones(len(runs), dtype=bool)
    for f in cutfile["required"]:
        ok &= flags[f]
    return flags, ok


def pipeline(data, cutfile, processes):
    t = {}
    files = subrun_files(data)
    t0 = time.perf_counter()
    if processes > 1:
        with ProcessPoolExecutor(processes) as ex:
            per_file = list(ex.map(read_file, [p for _, _, p in files]))
    else:
        per_file = [read_file(p) for _, _, p in files]
    t["read, metrics, channel sums"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    runs = sorted({r for r, _, _ in files})
    sums = {}
    for r in runs:
        keys = [i for i, (rr, _, _) in enumerate(files) if rr == r]
        sums[r] = {k: sum(per_file[i][k] for i in keys) for k in ("xtal_hits", "straw_hits", "ped", "oof", "infill")}
    ratio = {}
    for r in runs:
        o = sums[r]["oof"]
        ratio[r] = (profile_means(o[0], o[2])[1:N_XTALS + 1], profile_errors(*o)[1:N_XTALS + 1], o[2][1:N_XTALS + 1] > 0)
    ref = runs[0]
    gains = {}
    for r in runs:
        m, e, has = ratio[r]
        m0, e0, has0 = ratio[ref]
        with np.errstate(divide="ignore", invalid="ignore"):
            g = np.where(has & has0, m / m0, np.nan)
            ge = 0.0 * g if r == ref else g * np.sqrt((e / m) ** 2 + (e0 / m0) ** 2)
        gains[r] = (np.where(has & has0, 1.0, np.nan) if r == ref else g, ge)
    status = {}
    for r in runs:
        groups = np.arange(N_XTALS) // XTALS_PER_CALO
        ped = sums[r]["ped"]
        xd, xh, xn, _, _ = channel_flags(sums[r]["xtal_hits"], groups, profile_means(ped[0], ped[2])[1:N_XTALS + 1])
        sd, sn, _, _, _ = channel_flags(sums[r]["straw_hits"], np.arange(N_STRAWS) // STRAWS_PER_MODULE, None)
        status[r] = (xd, xh, xn, sd, sn)
    t["sums, gains, channel status"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    fits = {}
    for r in runs:
        for ch in range(N_XTALS):
            tt, y, e = fit_points(sums[r]["infill"][:, ch, :])
            if len(tt) >= 10:
                fits[(r, ch)] = fit_infill(tt, y, e)
    t["in-fill fits (iminuit)"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    metrics = {c: [pf["metrics"][c] for pf in per_file] for c in METRIC_COLUMNS[3:]}
    run_col = np.array([r for r, _, _ in files])
    flags, ok = evaluate_cuts(cutfile, metrics, run_col)
    t["cuts"] = time.perf_counter() - t0
    return {"files": files, "metrics": metrics, "gains": gains, "fits": fits, "status": status, "flags": flags, "ok": ok, "timings": t}


def rel(a, b):
    return abs(a - b) / max(abs(b), 1e-300)


def compare(res, out):
    problems = []
    m = pq.read_table(os.path.join(out, "subrun_metrics.parquet")).to_pylist()
    for i, row in enumerate(m):
        for c in METRIC_COLUMNS[3:]:
            a, b = row[c], res["metrics"][c][i]
            if (a is None) != (b is None) or (a is not None and (a != b if c in EXACT_METRICS else rel(a, b) > 1e-9)):
                problems.append("metric %s of %d.%d: gm2dqc %r, python %r" % (c, row["run"], row["subrun"], a, b))
    worst_fit = 0.0
    for row in pq.read_table(os.path.join(out, "gain_constants.parquet")).to_pylist():
        r, ch = row["run_first"], row["channel"]
        g = res["gains"][r][0][ch]
        if (row["gain"] is None) != bool(np.isnan(g)) or (row["gain"] is not None and rel(row["gain"], g) > 1e-9):
            problems.append("gain of run %d channel %d: gm2dqc %r, python %r" % (r, ch, row["gain"], g))
        f = res["fits"].get((r, ch))
        if row["status"] in ("ok", "out_of_range") and f is not None:
            d = max(rel(row["ifg_amp"], f["A"]), rel(row["ifg_tau_us"], f["tau"]))
            worst_fit = max(worst_fit, d)
            if d > 1e-3:
                problems.append("fit of run %d channel %d: A %r/%r tau %r/%r" % (r, ch, row["ifg_amp"], f["A"], row["ifg_tau_us"], f["tau"]))
    st = pq.read_table(os.path.join(out, "subrun_status.parquet")).to_pylist()
    for i, row in enumerate(st):
        for f, v in res["flags"].items():
            if bool(row[f]) != bool(v[i]):
                problems.append("flag %s of %d.%d: gm2dqc %r, python %r" % (f, row["run"], row["subrun"], row[f], bool(v[i])))
        if bool(row["ok"]) != bool(res["ok"][i]):
            problems.append("ok of %d.%d differs" % (row["run"], row["subrun"]))
    cs = pq.read_table(os.path.join(out, "calo_channel_status.parquet")).to_pylist()
    for row in cs:
        xd, xh, xn, _, _ = res["status"][row["run_first"]]
        ch = row["channel"]
        if (row["dead"], row["hot"], row["noisy"]) != (bool(xd[ch]), bool(xh[ch]), bool(xn[ch])):
            problems.append("crystal status of run %d channel %d differs" % (row["run_first"], ch))
    return problems, worst_fit


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", required=True)
    ap.add_argument("--gm2dqc-out", required=True)
    ap.add_argument("--processes", type=int, default=1)
    ap.add_argument("--json")
    a = ap.parse_args()
    cutfile = tomllib.load(open(os.path.join(REPO, "cuts", "standard.toml"), "rb"))
    t0 = time.perf_counter()
    res = pipeline(a.data, cutfile, a.processes)
    total = time.perf_counter() - t0
    problems, worst_fit = compare(res, a.gm2dqc_out)
    print("python (uproot + numpy + iminuit, %d process%s): %.1f s for %d files" % (a.processes, "es" if a.processes > 1 else "", total, len(res["files"])))
    for k, v in res["timings"].items():
        print("  %-32s %8.2f s" % (k, v))
    print("  %d in-fill fits; worst relative difference of A or tau to gm2dqc: %.2g" % (len(res["fits"]), worst_fit))
    if problems:
        print("DIFFERENT from gm2dqc (%d):" % len(problems))
        for p in problems[:20]:
            print("  " + p)
    else:
        print("same numbers as gm2dqc: every metric (1e-9, counts exactly), gain (1e-9), flag and ok (exactly), crystal status, A and tau (1e-3)")
    if a.json:
        json.dump({"seconds": total, "timings": res["timings"], "fits": len(res["fits"]), "files": len(res["files"]), "problems": problems, "worst_fit": worst_fit}, open(a.json, "w"), indent=2)
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
