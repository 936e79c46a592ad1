#!/usr/bin/env python3
"""Independent check that `gm2dqc simulate` writes what its truth.json says.

    python3 check_simulation.py --bin target/debug/gm2dqc --work DIR

(run.sh beside this file sets up the environment, builds and calls this after crosscheck.py.)

It runs `gm2dqc simulate --out WORK/sim --runs 2 --subruns 10 --seed 3 --compression mixed
--fault-rate 0.6 --force`, reads every file with uproot and recomputes everything with numpy.
Nothing of gm2dqc is imported or called except its `simulate` command: the object catalogue,
the metric definitions, the channel cuts and the standard flags are written here again, from
spec/production-data.md sections 1-5, not taken from layout.rs or truth.rs.

Parts:

  1. layout: every file opens in uproot and holds exactly the objects of spec section 2 (class
     from the key and from the object, number of bins and low/high edges of every axis, one
     cycle each), directories only where an object needs one, and at most an optional
     `timeTree`; file names parse as <prefix>_<run>.<subrun>.root and match truth's
     run/subrun/file; fCompress matches truth's compression; timeTree, if present, has one
     float64 branch `unixTimeRecv` with one entry per no-DQC fill and its first/last entry are
     truth's start_time/end_time (both null without one).
  2. quantities: the per-subrun quantities of spec section 3 recomputed from the histograms
     equal truth's `quantities` (counts exactly, means to relative 1e-12), including the
     dead/hot/noisy crystal and dead/noisy straw counts from the section 5 channel cuts.
  3. flags: every standard flag of spec section 5 recomputed from the quantities of part 2
     equals truth's `expected`; bad subruns fail a required flag and are not ok, good ones ok;
     each injected fault fails exactly the flags its kind is documented to fail.
  4. channel truth: truth's dead crystals have hits < 0.05 x calo median and no laser entries
     (out-of-fill or in-fill) in every subrun, hot ones > 5 x median, noisy ones a pedestal RMS
     > 3 x median; truth's dead/noisy straws are flagged in every subrun; and the flagged
     channels are exactly truth's (plus the extra dead ones of a dead_crystals/dead_straws
     fault, which must also see no laser light).
  5. gain truth: the out-of-fill profile summed over each run's subruns (TProfile sums) gives
     oof_base * gain[run] within 5 standard errors for >= 99 % of live crystals; for 20 live
     crystals picked with a fixed seed the in-fill profile summed over all subruns follows
     ifg_norm * (1 - ifg_amp * exp(-t / ifg_tau_us)) at the bin centres with 0.5 <= chi2/ndf
     <= 2 (bins with >= 10 entries, ROOT's default profile errors spread/sqrt(Neff)).
  6. determinism: the same command with `--threads 1` into WORK/sim2 (run in the background
     while parts 1-5 read the first dataset) gives byte-identical files, truth.json included.

Output: one line per named check, PASS or FAIL with the subrun, quantity and both values of
every difference, then `check_simulation: N passed, M failed`; exit 1 when anything failed.
WORK/sim and WORK/sim2 are removed at the end.
"""

import argparse
import filecmp
import json
import math
import os
import re
import shutil
import subprocess
import sys
import time

import numpy as np
import uproot

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from report import Report  # noqa: E402  (shared PASS/FAIL reporting)

SIM_ARGS = ["--runs", "2", "--subruns", "10", "--seed", "3", "--compression", "mixed", "--fault-rate", "0.6", "--force"]
MEAN_RTOL = 1e-12
MAX_LISTED = 8
N_CALOS, XTALS_PER_CALO = 24, 54
N_XTALS = N_CALOS * XTALS_PER_CALO
N_STRAWS, STRAWS_PER_MODULE = 2048, 128
N_INFILL_CRYSTALS = 20
INFILL_SEED = 20240611
ALGORITHMS = {"none": 0, "zlib": 1, "lzma": 2, "lz4": 4, "zstd": 5}

# Standard cut set (spec section 5).
REQUIRED = ["fills_ok", "ctags_ok", "t0_ok", "kicker_ok", "quad_ok", "losses_ok", "laser_ok", "calo_ok", "tracker_ok"]
ALL_FLAGS = sorted(REQUIRED + ["ctags_loose_ok", "ok"])
# The flags each fault kind is documented to fail (`gm2dqc simulate --help` / FaultKind docs).
FAULT_FLAGS = {
    "low_fills": {"fills_ok"},
    "low_fill_fraction": {"fills_ok"},
    "low_ctags": {"ctags_ok"},
    "very_low_ctags": {"ctags_ok", "ctags_loose_ok"},
    "t0_shift": {"t0_ok"},
    "kicker_amplitude": {"kicker_ok"},
    "quad_step1": {"quad_ok"},
    "high_losses": {"losses_ok"},
    "laser_source_monitor": {"laser_ok"},
    "dead_crystals": {"calo_ok"},
    "hv_trip": {"tracker_ok"},
    "dead_straws": {"tracker_ok"},
}

COUNT_KEYS = ["fills", "fills_nodqc", "ctags", "ctags_nodqc", "singles", "doubles", "background", "hv_trip_fills",
              "n_dead_xtals", "n_hot_xtals", "n_noisy_xtals", "n_dead_straws", "n_noisy_straws"]
MEAN_KEYS = ["t0", "quad_step1", "quad_step2"]
ARRAY_MEAN_KEYS = {"kicker_amplitude": 3, "kicker_timing": 3, "kicker_fwhm": 3, "laser_sm": 6}
TIME_KEYS = ["start_time", "end_time"]  # checked with timeTree in part 1


# --------------------------------------------------------------------------- the contract


def expected_objects():
    """Spec section 2, written out: path -> (class, [(nbins, low, high) per axis])."""
    objs = {}
    for d in ("offNearlineWithDQC", "offNearlineNoDQC"):
        objs[d + "/bunch"] = ("TH1D", [(16, 0.0, 16.0)])
        objs[d + "/nearlineCTag"] = ("TH1D", [(24, 0.5, 24.5)])
        objs[d + "/t0"] = ("TH1D", [(1, 0.0, 1.0)])
    for m in ("ibms1x", "ibms1y", "ibms2x", "ibms2y"):
        objs["offNearlineWithDQC/%sMean" % m] = ("TH1D", [(100, -20.0, 20.0)])
        objs["offNearlineWithDQC/%sRMS" % m] = ("TH1D", [(100, 0.0, 40.0)])
    for c in range(1, N_CALOS + 1):
        for x in range(XTALS_PER_CALO):
            objs["calo/calo%d/xtal%dEnergy" % (c, x)] = ("TH1F", [(250, 0.0, 4000.0)])
            objs["laser/inFill/calo%d/xtal%d" % (c, x)] = ("TProfile", [(200, 0.0, 400.0)])
    objs["calo/pedestalRMS"] = ("TProfile", [(1296, -0.5, 1295.5)])
    objs["laser/sourceMonitor"] = ("TProfile", [(6, 0.5, 6.5)])
    objs["laser/outOfFill"] = ("TProfile", [(1296, -0.5, 1295.5)])
    for k in ("amplitude", "timing", "fwhm"):
        objs["kicker/" + k] = ("TProfile", [(3, 0.5, 3.5)])
    objs["quad/step1Voltage"] = ("TH1D", [(300, 0.0, 30.0)])
    objs["quad/step2Voltage"] = ("TH1D", [(300, 0.0, 30.0)])
    objs["losses/singles"] = ("TH1D", [(100, 30.0, 630.0)])
    objs["losses/doublesDeltaT"] = ("TH1D", [(100, 0.0, 20.0)])
    objs["tracker/strawHits"] = ("TH1D", [(2048, -0.5, 2047.5)])
    objs["tracker/driftTime"] = ("TH2F", [(2048, -0.5, 2047.5), (60, 0.0, 120.0)])
    objs["tracker/hvTrips"] = ("TH1D", [(16, -0.5, 15.5)])
    return objs


EXPECTED = expected_objects()
EXPECTED_DIRS = {p.rsplit("/", i)[0] for p in EXPECTED for i in range(1, p.count("/") + 1)}
FILE_RE = re.compile(r"^(.*)_(\d+)\.(\d+)\.root$")


def xtal_of(ch):
    return ch // XTALS_PER_CALO + 1, ch % XTALS_PER_CALO


# --------------------------------------------------------------------------- reporting



# --------------------------------------------------------------------------- histogram access


def raw_array(obj):
    """The TArray of sums (ROOT's fArray) of a TH1/TH2/TProfile, flow bins included, ROOT's
    global bin order. For a profile these are the sums of w*y, not the means."""
    stack = [obj]
    while stack:
        o = stack.pop()
        if type(o).__name__.startswith("Model_TArray"):
            return np.asarray(o, dtype=np.float64)
        stack.extend(getattr(o, "bases", []))
    raise ValueError("no TArray base in %s" % obj.classname)


def profile_sums(p):
    """(sum w*y, sum w*y^2, sum w, sum w^2) per bin, flow included. fBinSumw2 empty means unit
    weights (ROOT then takes the effective entries from fBinEntries)."""
    sumwy = raw_array(p)
    sumwy2 = np.asarray(p.member("fSumw2"), dtype=np.float64)
    sumw = np.asarray(p.member("fBinEntries"), dtype=np.float64)
    sumw2 = np.asarray(p.member("fBinSumw2"), dtype=np.float64)
    if sumw2.size == 0:
        sumw2 = sumw.copy()
    if sumwy2.size == 0:
        raise ValueError("%s: empty fSumw2" % p.member("fName"))
    return sumwy, sumwy2, sumw, sumw2


def profile_means(sumwy, sumw):
    """ROOT's TProfile::GetBinContent: sum w*y / sum w, 0 for an empty bin."""
    out = np.zeros_like(sumwy)
    nz = sumw != 0
    out[nz] = sumwy[nz] / sumw[nz]
    return out


def profile_errors(sumwy, sumwy2, sumw, sumw2):
    """ROOT's default TProfile::GetBinError (error option ""): spread / sqrt(Neff) with
    spread^2 = |sum wy^2 / sum w - mean^2| and Neff = (sum w)^2 / sum w^2; 0 for an empty bin."""
    err = np.zeros_like(sumwy)
    nz = sumw != 0
    mean = sumwy[nz] / sumw[nz]
    spread = np.sqrt(np.abs(sumwy2[nz] / sumw[nz] - mean * mean))
    neff = sumw[nz] ** 2 / sumw2[nz]
    err[nz] = spread / np.sqrt(neff)
    return err


def hist_mean(h):
    """ROOT's TH1::GetMean(): fTsumwx / fTsumw from the stored statistics; from the bin centres
    (in-range bins) only where the statistics are empty."""
    sw = float(h.member("fTsumw"))
    if sw != 0:
        return float(h.member("fTsumwx")) / sw
    v = raw_array(h)[1:-1]
    ax = h.member("fXaxis")
    n, lo, hi = int(ax.member("fNbins")), float(ax.member("fXmin")), float(ax.member("fXmax"))
    centres = lo + (np.arange(n) + 0.5) * (hi - lo) / n
    return float((v * centres).sum() / v.sum()) if v.sum() != 0 else 0.0


def integral(h, a, b):
    """ROOT's Integral(a, b): bin contents a..b inclusive (1-based, flow bins 0 and n+1)."""
    return float(raw_array(h)[a:b + 1].sum())


def median(v):
    return float(np.median(np.asarray(v, dtype=np.float64)))


def channel_flags(hits, groups, noise=None, dead=0.05, hot=5.0, noisy=3.0):
    """Spec section 5 channel cuts: dead/hot/noisy relative to the group's median."""
    hits = np.asarray(hits, dtype=np.float64)
    groups = np.asarray(groups)
    hmed = np.zeros_like(hits)
    nmed = np.zeros_like(hits)
    for g in np.unique(groups):
        sel = groups == g
        hmed[sel] = np.median(hits[sel])
        if noise is not None:
            nmed[sel] = np.median(np.asarray(noise)[sel])
    d = hits < dead * hmed
    h = hits > hot * hmed
    n = (np.asarray(noise) > noisy * nmed) if noise is not None else np.zeros(hits.size, dtype=bool)
    return d, h, n, hmed, nmed


# --------------------------------------------------------------------------- reading one file


def axis_problems(path, ax, want, label):
    nb, lo, hi = int(ax.member("fNbins")), float(ax.member("fXmin")), float(ax.member("fXmax"))
    out = []
    if (nb, lo, hi) != want:
        out.append("%s: %s axis %d bins [%r, %r], spec %d bins [%r, %r]" % (path, label, nb, lo, hi, want[0], want[1], want[2]))
    xbins = np.asarray(ax.member("fXbins"), dtype=np.float64)
    if xbins.size:
        uniform = np.linspace(want[1], want[2], want[0] + 1)
        if xbins.size != uniform.size or np.max(np.abs(xbins - uniform)) > 1e-12 * max(1.0, abs(want[1]), abs(want[2])):
            out.append("%s: %s axis has variable edges (%d) that are not the uniform ones" % (path, label, xbins.size))
    return out


def read_subrun(path, infill_pick):
    """Reads one file: layout problems and everything parts 2-5 need."""
    f = uproot.open(path)
    layout = []
    cn = f.classnames()
    seen = {}
    tree_present = False
    for key, cls in cn.items():
        name, _, cycle = key.rpartition(";")
        seen.setdefault(name, []).append(cycle)
        if cls == "TDirectory":
            if name not in EXPECTED_DIRS:
                layout.append("unexpected directory %s" % name)
        elif name == "timeTree" and cls == "TTree":
            tree_present = True
        elif name not in EXPECTED:
            layout.append("unexpected object %s (%s)" % (name, cls))
        elif cls != EXPECTED[name][0]:
            layout.append("%s: key class %s, spec %s" % (name, cls, EXPECTED[name][0]))
    for name, cycles in seen.items():
        if len(cycles) > 1:
            layout.append("%s: %d cycles (%s)" % (name, len(cycles), ",".join(cycles)))

    d = {"path": path, "layout": layout, "fCompress": int(f.file.fCompress), "tree": None}
    xtal_hits = np.zeros(N_XTALS)
    infill_entries = np.zeros(N_XTALS)
    infill = {}
    objs = {}
    for p, (cls, axes) in EXPECTED.items():
        if p not in seen:
            layout.append("missing %s (%s)" % (p, cls))
            continue
        try:
            o = f[p]
        except Exception as e:  # noqa: BLE001 - any failure is a finding
            layout.append("%s: uproot cannot read it: %r" % (p, e))
            continue
        if o.classname != cls:
            layout.append("%s: object class %s, spec %s" % (p, o.classname, cls))
            continue
        layout += axis_problems(p, o.member("fXaxis"), axes[0], "x")
        if len(axes) == 2:
            layout += axis_problems(p, o.member("fYaxis"), axes[1], "y")
        ncells = int(np.prod([a[0] + 2 for a in axes]))
        if raw_array(o).size != ncells:
            layout.append("%s: %d cells stored, expected %d" % (p, raw_array(o).size, ncells))
            continue
        if p.startswith("calo/calo"):
            c, x = re.match(r"calo/calo(\d+)/xtal(\d+)Energy", p).groups()
            xtal_hits[(int(c) - 1) * XTALS_PER_CALO + int(x)] = raw_array(o).sum()  # Integral(0, 251)
        elif p.startswith("laser/inFill/"):
            c, x = re.match(r"laser/inFill/calo(\d+)/xtal(\d+)", p).groups()
            ch = (int(c) - 1) * XTALS_PER_CALO + int(x)
            s = profile_sums(o)
            infill_entries[ch] = s[2].sum() + float(o.member("fEntries"))
            if ch in infill_pick:
                infill[ch] = s
        else:
            objs[p] = o
    for dname in sorted(EXPECTED_DIRS):
        if dname not in seen:
            layout.append("missing directory %s" % dname)
    if tree_present:
        d["tree"] = read_time_tree(f)
    d["xtal_hits"] = xtal_hits
    d["infill_entries"] = infill_entries
    d["infill"] = infill
    d["objs"] = objs
    return d


def read_time_tree(f):
    t = f["timeTree"]
    info = {"branches": [b.name for b in t.branches], "entries": int(t.num_entries), "problems": []}
    if info["branches"] != ["unixTimeRecv"]:
        info["problems"].append("timeTree branches %s, spec ['unixTimeRecv']" % info["branches"])
    if "unixTimeRecv" in t:
        arr = t["unixTimeRecv"].array(library="np")
        if arr.dtype != np.float64:
            info["problems"].append("timeTree/unixTimeRecv is %s, spec float64" % arr.dtype)
        info["first"] = float(arr[0]) if arr.size else None
        info["last"] = float(arr[-1]) if arr.size else None
    return info


# --------------------------------------------------------------------------- quantities and flags


def quantities(d):
    """Spec section 3 quantities (and the section 5 channel counts) from one file's objects."""
    o = d["objs"]
    q = {}
    q["fills"] = integral(o["offNearlineWithDQC/bunch"], 1, 16)
    q["fills_nodqc"] = integral(o["offNearlineNoDQC/bunch"], 1, 16)
    q["ctags"] = integral(o["offNearlineWithDQC/nearlineCTag"], 1, 24)
    q["ctags_nodqc"] = integral(o["offNearlineNoDQC/nearlineCTag"], 1, 24)
    q["t0"] = float(raw_array(o["offNearlineWithDQC/t0"])[1])
    for k in ("amplitude", "timing", "fwhm"):
        s = profile_sums(o["kicker/" + k])
        q["kicker_" + k] = profile_means(s[0], s[2])[1:4].tolist()
    q["quad_step1"] = hist_mean(o["quad/step1Voltage"])
    q["quad_step2"] = hist_mean(o["quad/step2Voltage"])
    s = profile_sums(o["laser/sourceMonitor"])
    q["laser_sm"] = profile_means(s[0], s[2])[1:7].tolist()
    q["singles"] = integral(o["losses/singles"], 1, 100)
    q["doubles"] = integral(o["losses/doublesDeltaT"], 1, 50)
    q["background"] = integral(o["losses/doublesDeltaT"], 51, 100)
    q["hv_trip_fills"] = integral(o["tracker/hvTrips"], 1, 16)
    # crystals
    s = profile_sums(o["calo/pedestalRMS"])
    ped = profile_means(s[0], s[2])[1:N_XTALS + 1]
    groups = np.arange(N_XTALS) // XTALS_PER_CALO
    xd, xh, xn, xmed, pmed = channel_flags(d["xtal_hits"], groups, ped, 0.05, 5.0, 3.0)
    q["n_dead_xtals"], q["n_hot_xtals"], q["n_noisy_xtals"] = int(xd.sum()), int(xh.sum()), int(xn.sum())
    # straws
    straw_hits = raw_array(o["tracker/strawHits"])[1:N_STRAWS + 1]
    sd, sh, _, smed, _ = channel_flags(straw_hits, np.arange(N_STRAWS) // STRAWS_PER_MODULE, None, 0.05, 5.0)
    q["n_dead_straws"], q["n_noisy_straws"] = int(sd.sum()), int(sh.sum())
    chan = {"xtal_dead": xd, "xtal_hot": xh, "xtal_noisy": xn, "xtal_median": xmed, "ped": ped, "ped_median": pmed,
            "straw_dead": sd, "straw_noisy": sh, "straw_hits": straw_hits, "straw_median": smed}
    oof = profile_sums(o["laser/outOfFill"])
    chan["oof_entries"] = oof[2][1:N_XTALS + 1]
    return q, chan, oof


def loss_ratio(dd, bb, den):
    """Spec section 3: (D - B) / den and its error; both 0 where D - B = 0 or den = 0."""
    sig = dd - bb
    if sig == 0 or den == 0:
        return 0.0, 0.0
    r = sig / den
    err = abs(r * math.sqrt((math.sqrt(dd + bb) / sig) ** 2 + (1.0 / math.sqrt(den)) ** 2))
    return r, err


def flags_of_run(qs):
    """Spec section 5 standard flags for every subrun of one run (list of quantity dicts)."""
    t0_med = median([q["t0"] for q in qs])
    lrc = [loss_ratio(q["doubles"], q["background"], q["ctags"]) for q in qs]
    lrc_med = median([r for r, _ in lrc])
    out = []
    for q, (r, err) in zip(qs, lrc):
        inr = lambda v, lo, hi: lo <= v <= hi  # noqa: E731
        frac = q["fills"] / q["fills_nodqc"] if q["fills_nodqc"] != 0 else None
        cpf = q["ctags"] / q["fills"] if q["fills"] != 0 else None
        f = {
            "fills_ok": q["fills"] >= 50 and frac is not None and frac >= 0.90,
            "ctags_ok": cpf is not None and cpf >= 50,
            "ctags_loose_ok": cpf is not None and cpf >= 30,
            "t0_ok": abs(q["t0"] - t0_med) <= 0.2 * t0_med,
            "kicker_ok": all(inr(q["kicker_amplitude"][k], 120, 150) and inr(q["kicker_timing"][k], -20, 20)
                             and inr(q["kicker_fwhm"][k], 100, 200) for k in range(3)),
            "quad_ok": inr(q["quad_step1"], 17.5, 19.0) and inr(q["quad_step2"], 22.5, 24.0),
            "losses_ok": abs(r - lrc_med) <= 5 * err,
            "laser_ok": all(s > 100 for s in q["laser_sm"]),
            "calo_ok": q["n_dead_xtals"] <= 6 and q["n_hot_xtals"] <= 6,
            "tracker_ok": q["hv_trip_fills"] == 0 and q["n_dead_straws"] <= 64,
        }
        f["ok"] = all(f[k] for k in REQUIRED)
        detail = {"fill_fraction": frac, "ctags_per_fill": cpf, "t0_median": t0_med, "loss_ratio_ctags": r,
                  "loss_ratio_ctags_err": err, "loss_ratio_ctags_median": lrc_med}
        out.append((f, detail))
    return out


def compare_quantities(tag, mine, truth):
    out = []
    known = set(COUNT_KEYS) | set(MEAN_KEYS) | set(ARRAY_MEAN_KEYS) | set(TIME_KEYS)
    extra = sorted(set(truth) - known)
    if extra:
        out.append("%s: truth quantities has keys this check does not know: %s" % (tag, extra))
    missing = sorted(known - set(truth))
    if missing:
        out.append("%s: truth quantities lacks %s" % (tag, missing))
    for k in COUNT_KEYS:
        if k in truth and float(mine[k]) != float(truth[k]):
            out.append("%s %s: files %r, truth %r" % (tag, k, mine[k], truth[k]))
    close = lambda a, b: a == b or abs(a - b) <= MEAN_RTOL * max(abs(a), abs(b))  # noqa: E731
    for k in MEAN_KEYS:
        if k in truth and not close(float(mine[k]), float(truth[k])):
            out.append("%s %s: files %r, truth %r (rel diff %.3g)" % (tag, k, mine[k], truth[k], abs(mine[k] - truth[k]) / max(abs(truth[k]), 1e-300)))
    for k, n in ARRAY_MEAN_KEYS.items():
        if k not in truth:
            continue
        if len(truth[k]) != n:
            out.append("%s %s: truth has %d values, expected %d" % (tag, k, len(truth[k]), n))
            continue
        for i in range(n):
            if not close(float(mine[k][i]), float(truth[k][i])):
                out.append("%s %s[%d]: files %r, truth %r" % (tag, k, i, mine[k][i], truth[k][i]))
    return out


# --------------------------------------------------------------------------- main


def finish_background(proc, cmd, started, timeout=600):
    """Waits for a command started in the background (killed after `timeout` s) and
    prints how long after `started` it finished; returns (exit status, output)."""
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, _ = proc.communicate()
    print("      %s  (background, finished %.1f s after it started)" % (" ".join(cmd), time.monotonic() - started))
    return proc.returncode, out


def run_simulate(binary, out, extra=()):
    cmd = [binary, "simulate", "--out", out] + SIM_ARGS + list(extra)
    return cmd


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", required=True, help="path to the gm2dqc binary")
    ap.add_argument("--work", required=True, help="scratch directory (WORK/sim and WORK/sim2 are written and removed)")
    a = ap.parse_args()
    binary = os.path.abspath(a.bin)
    os.makedirs(a.work, exist_ok=True)
    sim = os.path.join(os.path.abspath(a.work), "sim")
    sim2 = os.path.join(os.path.abspath(a.work), "sim2")
    print("check_simulation: uproot %s, numpy %s, python %s; gm2dqc binary %s" % (uproot.__version__, np.__version__, sys.version.split()[0], binary))
    report = Report()
    t_all = time.monotonic()
    second = None
    try:
        second = body(report, binary, sim, sim2)
    finally:
        if second is not None and second.poll() is None:
            second.kill()
            second.wait()
        for dpath in (sim, sim2):
            shutil.rmtree(dpath, ignore_errors=True)
    print("\ntimings: " + ", ".join("%s %.1f s" % (l.split(":")[0], t) for l, t in report.timings) + ", total %.1f s" % (time.monotonic() - t_all))
    if report.failed:
        print("failed checks:")
        for n in report.failed:
            print("  %s" % n)
    print("check_simulation: %d passed, %d failed" % (report.passed, len(report.failed)))
    return 1 if report.failed else 0


def body(report, binary, sim, sim2):
    """Parts 0-6; returns the background process of part 6 (for cleanup)."""
    with report.part("0: gm2dqc simulate"):
        cmd = run_simulate(binary, sim)
        print("      " + " ".join(cmd))
        t0 = time.monotonic()
        p = subprocess.run(cmd, capture_output=True, text=True, errors="replace")
        print("      %.1f s: %s" % (time.monotonic() - t0, (p.stdout + p.stderr).strip().splitlines()[-1:] or ""))
        ok = report.check("0 simulate exits 0 and writes truth.json",
                          [] if p.returncode == 0 and os.path.exists(os.path.join(sim, "truth.json"))
                          else ["%s exited %d: %s" % (" ".join(cmd), p.returncode, (p.stdout + p.stderr).strip()[-800:])])
        if not ok:
            return None
    # The determinism run goes on in the background (one thread) while parts 1-5 read `sim`.
    cmd2 = run_simulate(binary, sim2, ["--threads", "1"])
    t_second = time.monotonic()
    second = subprocess.Popen(cmd2, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, errors="replace")

    with open(os.path.join(sim, "truth.json")) as fh:
        truth = json.load(fh)
    subs = truth["subruns"]
    crystals = truth["crystals"]
    runs = sorted({s["run"] for s in subs})
    run_index = {r: i for i, r in enumerate(range(truth["first_run"], truth["first_run"] + truth["runs"]))}
    truth_dead = {c["channel"] for c in crystals if c["dead"]}
    truth_hot = {c["channel"] for c in crystals if c["hot"]}
    truth_noisy = {c["channel"] for c in crystals if c["noisy"]}
    live = [c["channel"] for c in crystals if not c["dead"]]
    pick = sorted(int(x) for x in np.random.default_rng(INFILL_SEED).choice(live, N_INFILL_CRYSTALS, replace=False))

    # ------------------------------------------------------------------ part 1
    data = {}
    with report.part("1: layout, names, compression, timeTree"):
        problems = []
        if truth["runs"] != 2 or truth["subruns_per_run"] != 10 or truth["seed"] != 3:
            problems.append("truth runs/subruns_per_run/seed = %s/%s/%s, asked 2/10/3" % (truth["runs"], truth["subruns_per_run"], truth["seed"]))
        want_ids = [(truth["first_run"] + i, j) for i in range(truth["runs"]) for j in range(1, truth["subruns_per_run"] + 1)]
        got_ids = [(s["run"], s["subrun"]) for s in subs]
        if sorted(got_ids) != want_ids or len(set(got_ids)) != len(got_ids):
            problems.append("truth subruns %s, expected runs %d.. with subruns 1..%d once each" % (got_ids, truth["first_run"], truth["subruns_per_run"]))
        if len(crystals) != N_XTALS or [c["channel"] for c in crystals] != list(range(N_XTALS)):
            problems.append("truth crystals: %d entries, not channels 0..1295 in order" % len(crystals))
        for c in crystals:
            if (c["calo"], c["xtal"]) != xtal_of(c["channel"]):
                problems.append("truth crystal %d: calo/xtal %d/%d, spec %d/%d" % ((c["channel"], c["calo"], c["xtal"]) + xtal_of(c["channel"])))
            if len(c["gain"]) != truth["runs"] or c["gain"][0] != 1.0:
                problems.append("truth crystal %d: gain %s (one per run, the reference first run 1)" % (c["channel"], c["gain"]))
        files_on_disk = sorted(n for n in os.listdir(sim) if n != "truth.json")
        truth_files = sorted(s["file"] for s in subs)
        if files_on_disk != truth_files:
            problems.append("files in %s %s differ from truth's %s" % (sim, sorted(set(files_on_disk) ^ set(truth_files)), ""))
        for s in subs:
            m = FILE_RE.match(s["file"])
            if not m:
                problems.append("%s: not named <prefix>_<run>.<subrun>.root" % s["file"])
                continue
            prefix, run, subrun = m.group(1), m.group(2), m.group(3)
            if prefix != truth["prefix"] or int(run) != s["run"] or int(subrun) != s["subrun"] or len(subrun) != 5 or str(int(run)) != run:
                problems.append("%s: parses as prefix %r run %s subrun %s; truth says prefix %r run %d subrun %d (5-digit subrun)"
                                % (s["file"], prefix, run, subrun, truth["prefix"], s["run"], s["subrun"]))
        report.check("1 truth header and file names (<prefix>_<run>.<subrun 5 digits>.root, match truth run/subrun/file)", problems)

        comp_problems = []
        for s in subs:
            tag = "%d.%d" % (s["run"], s["subrun"])
            fpath = os.path.join(sim, s["file"])
            try:
                d = read_subrun(fpath, set(pick))
            except Exception as e:  # noqa: BLE001
                report.check("1 layout %s" % s["file"], ["%s: uproot cannot open/read it: %r" % (s["file"], e)])
                continue
            data[(s["run"], s["subrun"])] = d
            report.check("1 layout %s (%d objects of spec section 2, classes, binning, nothing else)" % (s["file"], len(EXPECTED)),
                         ["%s: %s" % (s["file"], m) for m in d["layout"]])
            comp = s["compression"]
            alg_name, _, level = comp.partition(":")
            alg, lvl = divmod(d["fCompress"], 100)
            if alg_name not in ALGORITHMS:
                comp_problems.append("%s: truth compression %r unknown" % (tag, comp))
            elif alg_name == "none":
                if lvl != 0:
                    comp_problems.append("%s: fCompress %d, truth %r (level 0)" % (tag, d["fCompress"], comp))
            elif alg != ALGORITHMS[alg_name] or lvl == 0 or (level and int(level) != lvl):
                comp_problems.append("%s: fCompress %d, truth %r" % (tag, d["fCompress"], comp))
            # timeTree
            q = s["quantities"]
            tp = []
            t = d["tree"]
            if t is None:
                if q.get("start_time") is not None or q.get("end_time") is not None:
                    tp.append("%s: no timeTree but truth start_time %r end_time %r (must be null)" % (tag, q.get("start_time"), q.get("end_time")))
            else:
                tp += ["%s: %s" % (tag, m) for m in t["problems"]]
                nodqc = integral(d["objs"]["offNearlineNoDQC/bunch"], 1, 16) if "offNearlineNoDQC/bunch" in d["objs"] else None
                if t["entries"] != nodqc:
                    tp.append("%s: timeTree has %d entries, no-DQC fills %r" % (tag, t["entries"], nodqc))
                if t.get("first") != q.get("start_time") or t.get("last") != q.get("end_time"):
                    tp.append("%s: timeTree first/last %r/%r, truth start_time/end_time %r/%r" % (tag, t.get("first"), t.get("last"), q.get("start_time"), q.get("end_time")))
            report.check("1 timeTree %s (%s)" % (tag, "absent: times null" if t is None else "present: entries, first/last"), tp)
        algs = sorted({s["compression"].partition(":")[0] for s in subs})
        if algs != sorted(ALGORITHMS):
            comp_problems.append("--compression mixed used %s, not all of %s" % (algs, sorted(ALGORITHMS)))
        report.check("1 compression of each file (fCompress) is truth's", comp_problems, note="algorithms used: %s" % ",".join(algs))

    complete = [s for s in subs if (s["run"], s["subrun"]) in data and not data[(s["run"], s["subrun"])]["layout"]]
    if len(complete) != len(subs):
        report.check("1 every file readable with a complete layout (needed by parts 2-5)", ["%d of %d files unusable" % (len(subs) - len(complete), len(subs))])

    # ------------------------------------------------------------------ part 2
    mine_q, chans, oofs = {}, {}, {}
    with report.part("2: per-subrun quantities (spec section 3) vs truth"):
        for s in complete:
            key = (s["run"], s["subrun"])
            tag = "%d.%d" % key
            q, chan, oof = quantities(data[key])
            mine_q[key], chans[key], oofs[key] = q, chan, oof
            report.check("2 quantities %s" % tag, compare_quantities(tag, q, s["quantities"]),
                         note="fills %d, ctags %d, dead/hot/noisy xtals %d/%d/%d, dead/noisy straws %d/%d"
                         % (q["fills"], q["ctags"], q["n_dead_xtals"], q["n_hot_xtals"], q["n_noisy_xtals"], q["n_dead_straws"], q["n_noisy_straws"]))

    # ------------------------------------------------------------------ part 3
    with report.part("3: standard flags (spec section 5) vs truth expected"):
        mine_flags = {}
        for r in runs:
            rs = [s for s in subs if s["run"] == r]
            if not all((s["run"], s["subrun"]) in mine_q for s in rs):
                report.check("3 flags of run %d" % r, ["run %d: not every subrun could be read; run medians undefined" % r])
                continue
            for s, (f, det) in zip(rs, flags_of_run([mine_q[(s["run"], s["subrun"])] for s in rs])):
                mine_flags[(s["run"], s["subrun"])] = (f, det)
        for s in subs:
            key = (s["run"], s["subrun"])
            if key not in mine_flags:
                continue
            tag = "%d.%d" % key
            f, det = mine_flags[key]
            exp = s["expected"]
            pr = []
            if sorted(exp) != ALL_FLAGS:
                pr.append("%s: truth expected has flags %s, spec %s" % (tag, sorted(exp), ALL_FLAGS))
            for k in ALL_FLAGS:
                if k in exp and exp[k] != f[k]:
                    pr.append("%s %s: recomputed %s, truth %s (fill_fraction %r, ctags_per_fill %r, t0 %r vs run median %r, "
                              "loss_ratio_ctags %r +- %r vs run median %r)"
                              % (tag, k, f[k], exp[k], det["fill_fraction"], det["ctags_per_fill"], mine_q[key]["t0"], det["t0_median"],
                                 det["loss_ratio_ctags"], det["loss_ratio_ctags_err"], det["loss_ratio_ctags_median"]))
            failing = sorted(k for k in REQUIRED if not f[k])
            report.check("3 flags %s (fault %s)" % (tag, s["fault"]), pr, note="failing: %s" % (",".join(failing) or "none"))

        bad_good = []
        doc = []
        for s in subs:
            key = (s["run"], s["subrun"])
            tag = "%d.%d" % key
            exp = s["expected"]
            mine = mine_flags.get(key, (None,))[0]
            for who, fl in (("truth", exp), ("recomputed", mine)):
                if fl is None:
                    continue
                failing = {k for k in REQUIRED if not fl.get(k, False)}
                if s["fault"] is not None and (not failing or fl.get("ok", True)):
                    bad_good.append("%s (fault %s): %s flags fail %s, ok %s" % (tag, s["fault"], who, sorted(failing), fl.get("ok")))
                if s["fault"] is None and (failing or not fl.get("ok", False)):
                    bad_good.append("%s (good): %s flags fail %s, ok %s" % (tag, who, sorted(failing), fl.get("ok")))
            if mine is not None:
                failing_all = {k for k in ALL_FLAGS if k != "ok" and not mine[k]}
                want = FAULT_FLAGS.get(s["fault"], set()) if s["fault"] is not None else set()
                if s["fault"] is not None and s["fault"] not in FAULT_FLAGS:
                    doc.append("%s: unknown fault kind %r" % (tag, s["fault"]))
                elif failing_all != want:
                    doc.append("%s (fault %s): recomputed failing flags %s, documented %s" % (tag, s["fault"], sorted(failing_all), sorted(want)))
        nbad = sum(1 for s in subs if s["fault"] is not None)
        report.check("3 bad subruns fail a required flag and are not ok; good subruns are ok", bad_good, note="%d bad, %d good" % (nbad, len(subs) - nbad))
        kinds = sorted({s["fault"] for s in subs if s["fault"]})
        want_nbad = int(round(len(subs) * truth["fault_rate"]))
        if nbad != want_nbad:
            doc.append("%d bad subruns, fault rate %r of %d asks %d" % (nbad, truth["fault_rate"], len(subs), want_nbad))
        report.check("3 each fault fails exactly its documented flags (and good subruns none)", doc, note="kinds present: %s" % ",".join(kinds))

    # ------------------------------------------------------------------ part 4
    with report.part("4: channel truth (dead/hot/noisy crystals and straws)"):
        xp, sp, exact = [], [], []
        td = sorted(truth_dead)
        for s in complete:
            key = (s["run"], s["subrun"])
            tag = "%d.%d" % key
            ch, d = chans[key], data[key]
            for c in td:
                cal, x = xtal_of(c)
                if not d["xtal_hits"][c] < 0.05 * ch["xtal_median"][c]:
                    xp.append("%s: dead crystal %d (calo %d xtal %d): hits %r, not < 0.05 x calo median %r" % (tag, c, cal, x, float(d["xtal_hits"][c]), float(ch["xtal_median"][c])))
                if ch["oof_entries"][c] != 0:
                    xp.append("%s: dead crystal %d: laser/outOfFill has %r entries in its bin" % (tag, c, float(ch["oof_entries"][c])))
                if d["infill_entries"][c] != 0:
                    xp.append("%s: dead crystal %d: laser/inFill/calo%d/xtal%d has entries (%r)" % (tag, c, cal, x, float(d["infill_entries"][c])))
            for c in sorted(truth_hot):
                if not d["xtal_hits"][c] > 5 * ch["xtal_median"][c]:
                    xp.append("%s: hot crystal %d: hits %r, not > 5 x calo median %r" % (tag, c, float(d["xtal_hits"][c]), float(ch["xtal_median"][c])))
            for c in sorted(truth_noisy):
                if not ch["ped"][c] > 3 * ch["ped_median"][c]:
                    xp.append("%s: noisy crystal %d: pedestal RMS %r, not > 3 x calo median %r" % (tag, c, float(ch["ped"][c]), float(ch["ped_median"][c])))
            for w in truth["dead_straws"]:
                if not ch["straw_dead"][w]:
                    sp.append("%s: dead straw %d: hits %r, not < 0.05 x module median %r" % (tag, w, float(ch["straw_hits"][w]), float(ch["straw_median"][w])))
            for w in truth["noisy_straws"]:
                if not ch["straw_noisy"][w]:
                    sp.append("%s: noisy straw %d: hits %r, not > 5 x module median %r" % (tag, w, float(ch["straw_hits"][w]), float(ch["straw_median"][w])))
            # exactness: flagged channels are truth's, plus the extra dead ones of a dead-channel fault
            fd = set(np.flatnonzero(ch["xtal_dead"]).tolist())
            if s["fault"] == "dead_crystals":
                if not fd > truth_dead:
                    exact.append("%s (dead_crystals): flagged dead %s, not a strict superset of truth's %s" % (tag, sorted(fd), td))
                for c in sorted(fd - truth_dead):
                    if ch["oof_entries"][c] != 0 or d["infill_entries"][c] != 0:
                        exact.append("%s: fault-dead crystal %d still has laser entries (oof %r, in-fill %r)" % (tag, c, float(ch["oof_entries"][c]), float(d["infill_entries"][c])))
            elif fd != truth_dead:
                exact.append("%s: flagged dead crystals %s, truth %s" % (tag, sorted(fd), td))
            for nm, got, want in (("hot crystals", ch["xtal_hot"], truth_hot), ("noisy crystals", ch["xtal_noisy"], truth_noisy),
                                  ("noisy straws", ch["straw_noisy"], set(truth["noisy_straws"]))):
                g = set(np.flatnonzero(got).tolist())
                if g != want:
                    exact.append("%s: flagged %s %s, truth %s" % (tag, nm, sorted(g), sorted(want)))
            gs = set(np.flatnonzero(ch["straw_dead"]).tolist())
            tds = set(truth["dead_straws"])
            if s["fault"] == "dead_straws":
                if not gs > tds:
                    exact.append("%s (dead_straws): flagged dead straws (%d) not a strict superset of truth's %s" % (tag, len(gs), sorted(tds)))
            elif gs != tds:
                exact.append("%s: flagged dead straws %s, truth %s" % (tag, sorted(gs), sorted(tds)))
        report.check("4 truth's dead crystals (hits < 0.05 x median, no out-of-fill or in-fill laser entries), hot (> 5 x), noisy (pedestal > 3 x) in every subrun",
                     xp, note="dead %s, hot %s, noisy %s" % (td, sorted(truth_hot), sorted(truth_noisy)))
        report.check("4 truth's dead and noisy straws are flagged in every subrun", sp,
                     note="dead %s, noisy %s" % (truth["dead_straws"], truth["noisy_straws"]))
        report.check("4 flagged channels are exactly truth's (plus the injected extra dead ones of dead_crystals/dead_straws faults)", exact)

    # ------------------------------------------------------------------ part 5
    with report.part("5: gain truth (out-of-fill per run, in-fill curve)"):
        for r in runs:
            rs = [s for s in complete if s["run"] == r]
            ri = run_index[r]
            if not rs:
                continue
            tot = [sum(oofs[(s["run"], s["subrun"])][i] for s in rs) for i in range(4)]
            mean = profile_means(tot[0], tot[2])[1:N_XTALS + 1]
            err = profile_errors(*tot)[1:N_XTALS + 1]
            entries = tot[2][1:N_XTALS + 1]
            pr = []
            pulls = []
            nlive = 0
            for c in crystals:
                ch = c["channel"]
                if c["dead"]:
                    continue
                if entries[ch] == 0:
                    pr.append("run %d crystal %d (not dead in truth): no out-of-fill entries summed over %d subruns" % (r, ch, len(rs)))
                    continue
                nlive += 1
                want = c["oof_base"] * c["gain"][ri]
                pull = (mean[ch] - want) / err[ch] if err[ch] > 0 else math.inf
                pulls.append((abs(float(pull)), ch, float(mean[ch]), want, float(err[ch]), float(entries[ch])))
            bad = sorted([p for p in pulls if not p[0] <= 5], reverse=True)
            frac = 1 - len(bad) / max(len(pulls), 1)
            if frac < 0.99:
                pr.append("run %d: only %.4f of %d live crystals within 5 standard errors (need 0.99)" % (r, frac, len(pulls)))
                for p in bad[:MAX_LISTED]:
                    pr.append("  crystal %d: summed mean %r, truth oof_base*gain %r, ratio %.6f, error %.3g, pull %.2f, entries %d" % (p[1], p[2], p[3], p[2] / p[3], p[4], p[0], p[5]))
            ap_ = np.array([p[0] for p in pulls])
            report.check("5 run %d: laser/outOfFill summed over %d subruns / (oof_base x gain[%d]) = 1 within 5 standard errors for >= 99 %% of live crystals" % (r, len(rs), ri),
                         pr, note="%d live crystals, %d beyond 5 sigma, rms pull %.3f, max |pull| %.2f" % (nlive, len(bad), float(np.sqrt((ap_ ** 2).mean())) if ap_.size else 0.0, float(ap_.max()) if ap_.size else 0.0))

        ifp = []
        lines = []
        edges = np.linspace(0.0, 400.0, 201)
        centres = 0.5 * (edges[:-1] + edges[1:])
        for ch in pick:
            have = [data[(s["run"], s["subrun"])]["infill"][ch] for s in complete if ch in data[(s["run"], s["subrun"])]["infill"]]
            if len(have) != len(complete):
                ifp.append("crystal %d: in-fill profile in %d of %d subruns" % (ch, len(have), len(complete)))
                continue
            tot = [sum(h[i] for h in have) for i in range(4)]
            mean = profile_means(tot[0], tot[2])[1:201]
            err = profile_errors(*tot)[1:201]
            n = tot[2][1:201]
            c = crystals[ch]
            g = c["ifg_norm"] * (1 - c["ifg_amp"] * np.exp(-centres / c["ifg_tau_us"]))
            use = n >= 10
            if not use.any() or np.any(err[use] <= 0):
                ifp.append("crystal %d: %d bins with >= 10 entries, %d of them with zero error" % (ch, int(use.sum()), int((err[use] <= 0).sum())))
                continue
            chi2 = float((((mean[use] - g[use]) / err[use]) ** 2).sum())
            ndf = int(use.sum())
            lines.append("%d:%.2f" % (ch, chi2 / ndf))
            if not 0.5 <= chi2 / ndf <= 2.0:
                ifp.append("crystal %d (calo %d xtal %d; norm %.5f amp %.4f tau %.2f us): chi2/ndf = %.1f/%d = %.3f outside [0.5, 2]"
                           % (ch, c["calo"], c["xtal"], c["ifg_norm"], c["ifg_amp"], c["ifg_tau_us"], chi2, ndf, chi2 / ndf))
        report.check("5 laser/inFill summed over all %d subruns follows truth's ifg curve, 0.5 <= chi2/ndf <= 2, for %d crystals (seed %d)" % (len(complete), len(pick), INFILL_SEED),
                     ifp, note="channel:chi2/ndf " + " ".join(lines))

    # ------------------------------------------------------------------ part 6
    with report.part("6: determinism (--threads 1 vs all threads)"):
        rc, out2 = finish_background(second, cmd2, t_second)
        pr = []
        if rc != 0:
            pr.append("%s exited %d: %s" % (" ".join(cmd2), rc, out2.strip()[-800:]))
        else:
            n1, n2 = sorted(os.listdir(sim)), sorted(os.listdir(sim2))
            if n1 != n2:
                pr.append("file lists differ: only in sim %s, only in sim2 %s" % (sorted(set(n1) - set(n2)), sorted(set(n2) - set(n1))))
            for n in sorted(set(n1) & set(n2)):
                p1, p2 = os.path.join(sim, n), os.path.join(sim2, n)
                if not filecmp.cmp(p1, p2, shallow=False):
                    with open(p1, "rb") as f1, open(p2, "rb") as f2:
                        b1, b2 = f1.read(), f2.read()
                    first = next((i for i in range(min(len(b1), len(b2))) if b1[i] != b2[i]), min(len(b1), len(b2)))
                    pr.append("%s: differs (sizes %d vs %d, first difference at byte %d)" % (n, len(b1), len(b2), first))
        report.check("6 the same command with --threads 1 writes byte-identical files and truth.json", pr,
                     note="%d files compared" % len(os.listdir(sim)) if not pr else None)
    return second


if __name__ == "__main__":
    sys.exit(main())
