#!/usr/bin/env python3
"""Cross-check gm2dqc's ROOT writer and reader against two independent implementations:
uproot (pure Python) and C++ ROOT 6.40 (PyROOT, from the PyPI `root` wheel).

    python3 crosscheck.py --bin target/debug/gm2dqc --sample-dir DIR --work DIR [--skip-large]

(run.sh beside this file sets up the environment, builds, writes the sample files and calls this.)

Parts, and what each one is independent of:

  a. uproot reads the files gm2dqc WROTE (`cargo run --example write_sample`, in --sample-dir)
     and must find exactly the numbers gm2dqc meant to write (expected.json, produced by the
     example from its in-memory histograms, not by reading the files back). Nothing of gm2dqc
     reads anything here: uproot vs gm2dqc's writer.
  b. C++ ROOT reads the same files (in a subprocess, root_side.py): same comparison, plus ROOT must
     open them cleanly (no "Error"/"Warning" line, not a zombie, not recovered) and the file's
     TStreamerInfo list must describe every class an object needs. Then ROOT appends to a copy
     of each file (UPDATE mode) and must read the result cleanly, originals unchanged.
     ROOT vs gm2dqc's writer.
  c. uproot WRITES files (every compression), and gm2dqc's binary (`inspect --object P --json`)
     must read the same numbers as uproot reads back. uproot writer+reader vs gm2dqc's reader.
  d. C++ ROOT WRITES files (every compression, nested directories, two cycles of a name) in one
     subprocess and reads them back in another; gm2dqc's binary must read the same numbers as
     ROOT's GetBinContent/GetBinError/... ROOT vs gm2dqc's reader.
  e. (unless --skip-large) C++ ROOT writes an uncompressed file of just over 2 GiB (so ROOT
     switches to 64-bit seeks); gm2dqc's binary reads the last two histograms, whose keys ROOT
     places beyond 2^31, and must agree with ROOT. The file is deleted afterwards.

This script itself never imports ROOT (only root_side.py does, in subprocesses whose output is
scanned for ROOT's error and warning lines) and never links gm2dqc (only runs its binary).

Tolerances: relative 1e-6 for classes whose name ends in F (float32 storage), 1e-12 otherwise,
with an absolute floor of 1e-300 so that zeros compare equal to zeros. Axis edges are doubles
computed by different formulas (low + i*width vs linspace): relative 1e-12 with an absolute
floor of 1e-12 times the axis's largest |edge| (so 0 vs 1e-16 passes).

Output: one line per named check, PASS or FAIL with the file, object, bin and both values of
every difference (the first few of each kind), then `crosscheck: N passed, M failed`; exit 1
when anything failed.
"""

import argparse
import json
import os
import shutil
import struct
import subprocess
import sys
import time

import numpy as np
import uproot

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from report import Report  # noqa: E402  (shared PASS/FAIL reporting)

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT_SIDE = os.path.join(HERE, "root_side.py")

ERROR_MODE_NAMES = {0: "", 1: "s", 2: "i", 3: "g"}
ABS_FLOOR = 1e-300
EDGE_RTOL = 1e-12
MAX_LISTED = 5  # differences listed per array; the rest are counted
TWO_GIB = 2**31
BIG_FILE_VERSION = 1_000_000  # ROOT adds this to fVersion when the file uses 64-bit seeks

# compression name (as in expected.json and file names) -> ROOT algorithm (fCompress // 100)
ALGORITHMS = {"none": 0, "zlib": 1, "lzma": 2, "lz4": 4, "zstd": 5}
UPROOT_COMPRESSIONS = [
    ("none", None),
    ("zlib", uproot.ZLIB(1)),
    ("lz4", uproot.LZ4(1)),
    ("zstd", uproot.ZSTD(1)),
    ("lzma", uproot.LZMA(1)),
]
SEED_UPROOT = 8128


# --------------------------------------------------------------------------- reporting



# --------------------------------------------------------------------------- comparison


def rtol_for(cls):
    """float32 classes (TH1F, TH2F) hold 7 significant digits; everything else doubles."""
    return 1e-6 if cls.endswith("F") else 1e-12


def _arr(xs):
    """A float64 array; JSON nulls and strings like 'nan'/'inf' become their float values."""
    return np.array([np.nan if v is None else float(v) for v in xs], dtype=np.float64)


def _cell(i, shape):
    """' (ix=.., iy=..)' for 2D histograms: ROOT global bin = ix + (nx+2)*iy."""
    if shape is None or len(shape) < 2:
        return ""
    nx2 = shape[0] + 2
    return " (ix=%d, iy=%d)" % (i % nx2, i // nx2)


def compare_arrays(what, a, b, names, rtol, atol=ABS_FLOOR, shape=None, bins=None):
    """Differences between two arrays as messages: bin, both values (a from names[0]).
    `bins` maps positions to global bin numbers when a and b hold only some bins."""
    a, b = _arr(a), _arr(b)
    if a.shape != b.shape:
        return ["%s: %d values in %s, %d in %s" % (what, a.size, names[0], b.size, names[1])]
    with np.errstate(invalid="ignore"):
        tol = np.maximum(rtol * np.maximum(np.abs(a), np.abs(b)), atol)
        ok = (np.abs(a - b) <= tol) | (np.isnan(a) & np.isnan(b)) | (a == b)
    bad = np.flatnonzero(~ok)
    out = []
    for i in bad[:MAX_LISTED]:
        rel = abs(a[i] - b[i]) / max(abs(a[i]), abs(b[i]), ABS_FLOOR)
        gb = int(bins[i]) if bins is not None else int(i)
        out.append(
            "%s bin %d%s: %s %r vs %s %r (rel diff %.3g, tolerance %g)"
            % (what, gb, _cell(gb, shape), names[0], float(a[i]), names[1], float(b[i]), rel, rtol)
        )
    if bad.size > MAX_LISTED:
        out.append("%s: ... %d differing bins in all (of %d)" % (what, bad.size, a.size))
    return out


def compare_scalar(what, a, b, names, rtol=1e-12):
    if isinstance(a, str) or isinstance(b, str) or a is None or b is None:
        if a != b:
            shown = lambda s: repr(s) if s is None or len(str(s)) < 80 else repr(s[:60]) + "...(%d chars)" % len(s)
            return ["%s: %s %s vs %s %s" % (what, names[0], shown(a), names[1], shown(b))]
        return []
    fa, fb = float(a), float(b)
    if fa == fb or abs(fa - fb) <= rtol * max(abs(fa), abs(fb)):
        return []
    return ["%s: %s %r vs %s %r" % (what, names[0], a, names[1], b)]


# A "view" is one reader's account of one histogram, as a dict with some of these keys (None or
# absent = this reader does not report it): class, name, title, entries, error_mode, edges
# (list of arrays, one per axis), values, variances (TH1/TH2 only), errors (profiles only),
# hist_errors (TH1/TH2 GetBinError, compared with sqrt(variances)), bin_entries (profiles).
VIEW_KEYS = ["class", "name", "title", "entries", "error_mode", "edges", "values", "variances", "errors", "hist_errors", "bin_entries"]


def compare_views(tag, got, want, names):
    """All differences between two views of the same object; every message starts with `tag`
    (file and object). The tolerance follows the class of `want`."""
    cls = want.get("class") or got.get("class") or ""
    rtol = rtol_for(cls)
    out = []
    g = {k: got.get(k) for k in VIEW_KEYS}
    w = {k: want.get(k) for k in VIEW_KEYS}
    for k in ["class", "name", "title", "entries", "error_mode"]:
        if g[k] is not None and w[k] is not None:
            out += compare_scalar(k, g[k], w[k], names)
    shape = None
    if g["edges"] is not None and w["edges"] is not None:
        if len(g["edges"]) != len(w["edges"]):
            out.append("dimension: %d axes in %s, %d in %s" % (len(g["edges"]), names[0], len(w["edges"]), names[1]))
        else:
            for i, (ge, we) in enumerate(zip(g["edges"], w["edges"])):
                we = _arr(we)
                span = float(np.nanmax(np.abs(we))) if we.size else 1.0
                out += compare_arrays("axis %d edges" % i, ge, we, names, EDGE_RTOL, atol=max(EDGE_RTOL * span, ABS_FLOOR))
            shape = [len(e) - 1 for e in w["edges"]]
    for k in ["values", "variances", "errors", "bin_entries"]:
        if g[k] is not None and w[k] is not None:
            out += compare_arrays(k, g[k], w[k], names, rtol, shape=shape)
        elif k in ("values", "variances", "errors") and (g[k] is None) != (w[k] is None) and (k in got and k in want):
            out.append("%s: reported by %s only" % (k, names[0] if g[k] is not None else names[1]))
    # ROOT's GetBinError of a TH1/TH2 is sqrt(variance); compare with the other side's variances
    for side, other, nm in [(g, w, names), (w, g, names[::-1])]:
        if side["hist_errors"] is not None and other["variances"] is not None and other["hist_errors"] is None:
            sq = np.sqrt(np.abs(_arr(other["variances"])))
            out += compare_arrays("bin errors (GetBinError vs sqrt(variance))", side["hist_errors"], sq, nm, rtol, shape=shape)
    return ["%s: %s" % (tag, m) for m in out]


# --------------------------------------------------------------------------- the readers


def expected_view(o):
    """What gm2dqc's writer meant to write (expected.json from write_sample)."""
    return {
        "class": o["class"],
        "name": o["name"],
        "title": o["title"],
        "entries": o["entries"],
        "error_mode": o.get("error_mode"),
        "edges": [a["edges"] for a in o["axes"]],
        "values": o["values"],
        "variances": o["variances"],
        "errors": o["errors"],
        "bin_entries": o.get("bin_entries"),
    }


def ours_view(j):
    """What gm2dqc's binary read (`inspect --object P --json`)."""
    return {
        "class": j["class"],
        "title": j["title"],
        "entries": j["entries"],
        "edges": [a["edges"] for a in j["axes"]],
        "values": j["values"],
        "variances": j["variances"],
        "errors": j["errors"],
    }


def _flat_root_order(a):
    """uproot's values(flow=True) of a 2D histogram is indexed [ix, iy]; ROOT's global bin is
    ix + (nx+2)*iy, i.e. x fastest: Fortran order."""
    return np.asarray(a, dtype=np.float64).flatten(order="F")


def uproot_view(obj):
    """What uproot reads, through its own API (values/variances/errors with flow)."""
    cls = obj.classname
    v = {
        "class": cls,
        "name": str(obj.member("fName")),
        "title": str(obj.member("fTitle")),
        "entries": float(obj.member("fEntries")),
        "edges": [np.asarray(obj.axis(i).edges(flow=False), dtype=np.float64) for i in range(len(obj.axes))],
        "values": _flat_root_order(obj.values(flow=True)),
    }
    if cls.startswith("TProfile"):
        mode = int(obj.member("fErrorMode"))
        v["error_mode"] = mode
        # uproot's errors() defaults to error_mode "" whatever fErrorMode says: pass the stored one
        v["errors"] = _flat_root_order(obj.errors(flow=True, error_mode=ERROR_MODE_NAMES[mode]))
        v["bin_entries"] = np.asarray(obj.member("fBinEntries"), dtype=np.float64)
        v["variances"] = None
    else:
        v["variances"] = _flat_root_order(obj.variances(flow=True))
        v["errors"] = None
    return v


def root_view(d):
    """What C++ ROOT reads (root_side.py describe_hist: GetBinContent, GetBinError, ...)."""
    v = {
        "class": d["class"],
        "name": d["name"],
        "title": d["title"],
        "entries": d["entries"],
        "edges": [a["edges"] for a in d["axes"]],
        "values": d["values"],
    }
    if d["is_profile"]:
        v["errors"] = d["errors"]
        v["variances"] = None
        v["bin_entries"] = d["bin_entries"]
        v["error_mode"] = {"": 0, "s": 1, "i": 2, "g": 3}.get(d["error_option"], d["error_option"])
    else:
        v["variances"] = d["sumw2"] if d["sumw2"] is not None else d["values"]
        v["errors"] = None
        v["hist_errors"] = d["errors"]
    return v


def run_ours(binary, path, obj=None):
    """gm2dqc's binary: the listing (obj None) or one object as JSON. Returns (json, problem)."""
    cmd = [binary, "inspect", path, "--json"] + (["--object", obj] if obj is not None else [])
    p = subprocess.run(cmd, capture_output=True)
    if p.returncode != 0:
        return None, "gm2dqc %s exited %d: %s" % (" ".join(cmd[1:]), p.returncode, p.stderr.decode(errors="replace").strip()[-500:])
    try:
        return json.loads(p.stdout), None
    except ValueError as e:
        return None, "gm2dqc %s printed invalid JSON (%s): %r" % (" ".join(cmd[1:]), e, p.stdout[:200])


def run_root(task, path, out, extra=()):
    """Runs one root_side.py task in a fresh process. Returns (result or None, problems): a
    problem for a non-zero exit and for every line ROOT printed that starts with Error/Warning."""
    cmd = [sys.executable, ROOT_SIDE, task, path, "--out", out] + list(extra)
    p = subprocess.run(cmd, capture_output=True, text=True, errors="replace")
    text = p.stdout + p.stderr
    problems = ["ROOT printed: %s" % l.strip() for l in text.splitlines() if l.lstrip().startswith(("Error", "Warning"))]
    if p.returncode != 0:
        tail = " | ".join(text.strip().splitlines()[-8:])
        problems.append("root_side.py %s %s exited %d: %s" % (task, os.path.basename(path), p.returncode, tail))
        return None, problems
    with open(out) as fh:
        return json.load(fh), problems


def compression_problem(fcompress, comp):
    """None when the fCompress integer (100 * algorithm + level) means compression `comp`:
    for "none" any algorithm with level 0 (uproot writes 100, ROOT and gm2dqc 0)."""
    alg, level = divmod(int(fcompress), 100)
    if comp == "none":
        return None if level == 0 else "fCompress %d, expected level 0 (uncompressed)" % fcompress
    if alg == ALGORITHMS[comp] and level > 0:
        return None
    return "fCompress %d, expected algorithm %d (%s) with a level > 0" % (fcompress, ALGORITHMS[comp], comp)


def is_hist_class(cls):
    return cls.startswith(("TH1", "TH2", "TH3", "TProfile"))


# --------------------------------------------------------------------------- a


def part_a_uproot_reads_ours(report, sample_dir, expected):
    """uproot reads every object of every gm2dqc-*.root; compared with expected.json (what the
    writer meant). Independent of gm2dqc's reader: nothing here reads with gm2dqc."""
    objects = expected["objects"]
    want_paths = sorted(o["path"] for o in objects)
    for fname, comp in sorted(expected["files"].items()):
        path = os.path.join(sample_dir, fname)
        problems = []
        try:
            f = uproot.open(path)
        except Exception as e:  # noqa: BLE001 - any failure to open is the finding
            report.check("a uproot opens %s" % fname, ["%s: uproot.open failed: %r" % (fname, e)])
            continue
        with f:
            names = f.classnames(recursive=True, cycle=True)
            hists = sorted(k.rsplit(";", 1)[0] for k, c in names.items() if is_hist_class(c))
            if hists != want_paths:
                problems.append("%s: histogram keys %s, expected %s" % (fname, hists, want_paths))
            err = compression_problem(f.file.fCompress, comp)
            if err:
                problems.append("%s: uproot reads %s" % (fname, err))
            report.check("a uproot opens %s (keys, compression %s)" % (fname, comp), problems)
            for o in objects:
                tag = "%s %s" % (fname, o["path"])
                try:
                    got = uproot_view(f[o["path"] + ";1"])
                except Exception as e:  # noqa: BLE001
                    report.check("a uproot reads %s" % tag, ["%s: uproot failed: %r" % (tag, e)])
                    continue
                report.check("a uproot reads %s" % tag, compare_views(tag, got, expected_view(o), ("uproot", "gm2dqc-writer")))


# --------------------------------------------------------------------------- b


def part_b_root_reads_ours(report, sample_dir, expected, work):
    """C++ ROOT reads every object of every gm2dqc-*.root (one fresh ROOT process per file);
    compared with expected.json. Independent of gm2dqc's reader and of uproot."""
    objects = expected["objects"]
    want_paths = sorted(o["path"] for o in objects)
    for fname, comp in sorted(expected["files"].items()):
        path = os.path.join(sample_dir, fname)
        res, problems = run_root("read", path, os.path.join(work, "b-%s.json" % fname))
        problems = ["%s: %s" % (fname, p) for p in problems]
        if res is not None:
            problems += root_file_problems(fname, res, comp)
            hists = sorted(k["path"] for k in res["keys"] if is_hist_class(k["class"]))
            if hists != want_paths:
                problems.append("%s: ROOT lists histogram keys %s, expected %s" % (fname, hists, want_paths))
        report.check("b ROOT opens %s cleanly (no Error/Warning, not zombie/recovered, streamer infos, keys)" % fname, problems)
        if res is None:
            continue
        by_path = {(o["path"], o["cycle"]): o for o in res["objects"]}
        for o in objects:
            tag = "%s %s" % (fname, o["path"])
            d = by_path.get((o["path"], 1))
            if d is None:
                report.check("b ROOT reads %s" % tag, ["%s: ROOT did not read it" % tag])
                continue
            report.check("b ROOT reads %s" % tag, compare_views(tag, root_view(d), expected_view(o), ("ROOT", "gm2dqc-writer")))
        check_root_appends(report, fname, path, objects, work)


def check_root_appends(report, fname, path, objects, work):
    """ROOT opens a copy of a gm2dqc file in UPDATE mode, adds a histogram at the top and in a
    subdirectory, closes it; a fresh ROOT process must then read it cleanly, with the new
    objects and every original object unchanged. This exercises what the writer leaves for a
    later writer: the free-segments list, the directories' keys lists and the header."""
    copy = os.path.join(work, "appended-" + fname)
    shutil.copyfile(path, copy)
    try:
        added, problems = run_root("append", copy, os.path.join(work, "b-append-%s.json" % fname))
        problems = ["%s (UPDATE): %s" % (fname, p) for p in problems]
        if added is not None and not added.get("open"):
            problems.append("%s: TFile::Open(UPDATE) failed or zombie" % fname)
        elif added is not None:
            if added["recovered"]:
                problems.append("%s: ROOT had to recover the file when opening it for UPDATE" % fname)
            res, more = run_root("read", copy, os.path.join(work, "b-appended-%s.json" % fname))
            problems += ["%s (after UPDATE): %s" % (fname, p) for p in more]
            if res is not None:
                problems += root_file_problems(fname + " (after UPDATE)", res)
                hists = sorted(k["path"] for k in res["keys"] if is_hist_class(k["class"]))
                want = sorted([o["path"] for o in objects] + added["added"])
                if hists != want:
                    problems.append("%s (after UPDATE): histogram keys %s, expected %s" % (fname, hists, want))
                by_path = {(o["path"], o["cycle"]): o for o in res["objects"]}
                for o in objects:
                    d = by_path.get((o["path"], 1))
                    tag = "%s (after UPDATE) %s" % (fname, o["path"])
                    if d is None:
                        problems.append("%s: missing" % tag)
                    else:
                        problems += compare_views(tag, root_view(d), expected_view(o), ("ROOT", "gm2dqc-writer"))
        report.check("b ROOT appends to a copy of %s (UPDATE) and reads it back cleanly" % fname, problems)
    finally:
        os.remove(copy)


def root_file_problems(fname, res, comp=None):
    """File-level facts ROOT reported: opened, not a zombie, not recovered, the compression
    algorithm, and a TStreamerInfo for every class the objects need."""
    out = []
    if not res.get("open"):
        return ["%s: TFile::Open returned null" % fname]
    if res["zombie"]:
        out.append("%s: ROOT says IsZombie()" % fname)
    if res["recovered"]:
        out.append("%s: ROOT had to recover the file (kRecovered set): keys list or header not written properly" % fname)
    err = compression_problem(res["compression"], comp) if comp is not None else None
    if err:
        out.append("%s: ROOT GetCompressionSettings() says %s" % (fname, err))
    si = res["streamer_info"]
    if si["missing"]:
        out.append("%s: no TStreamerInfo for %s (needed by the objects' classes; file has %s)" % (fname, si["missing"], si["classes"]))
    return out


# --------------------------------------------------------------------------- c


def _bin_index(edges, x):
    """ROOT bin number of x: 0 underflow, 1..n in range, n+1 overflow."""
    return np.searchsorted(edges, x, side="right")


def write_uproot_file(path, compression):
    """uproot writes a TH1D (weighted, fSumw2), a TH2D 35 x 12 with variable x edges in `sub/`,
    a TProfile (default errors, unweighted) and a weighted TProfile with error mode 's' two
    directories down. Contents are random from a fixed numpy seed. Only uproot/numpy here."""
    rng = np.random.default_rng(SEED_UPROOT)
    ident = uproot.writing.identify
    with uproot.recreate(path, compression=compression) as f:
        n1, lo, hi = 300, -15.0, 15.0
        e1 = np.linspace(lo, hi, n1 + 1)
        x = rng.normal(1.0, 6.0, 20000)
        w = rng.uniform(0.5, 2.0, x.size)
        b = _bin_index(e1, x)
        inr = (b >= 1) & (b <= n1)
        f["h1d"] = ident.to_TH1x(
            fName=None,
            fTitle="uproot TH1D weighted",
            data=np.bincount(b, weights=w, minlength=n1 + 2).astype(np.float64),
            fEntries=float(x.size),
            fTsumw=float(w[inr].sum()),
            fTsumw2=float((w[inr] ** 2).sum()),
            fTsumwx=float((w * x)[inr].sum()),
            fTsumwx2=float((w * x * x)[inr].sum()),
            fSumw2=np.bincount(b, weights=w * w, minlength=n1 + 2).astype(np.float64),
            fXaxis=ident.to_TAxis("xaxis", "x", n1, lo, hi),
        )

        nx, ny = 35, 12
        ex = np.round(np.concatenate([[-4.0], -4.0 + np.cumsum(np.linspace(0.05, 0.4, nx))]), 10)
        ey = np.linspace(-3.0, 3.0, ny + 1)
        xs = rng.normal(2.0, 2.5, 15000)
        ys = rng.normal(0.0, 1.3, xs.size) + 0.2 * xs
        bx, by = _bin_index(ex, xs), _bin_index(ey, ys)
        cnt = np.zeros((nx + 2, ny + 2))
        np.add.at(cnt, (bx, by), 1.0)
        inr = (bx >= 1) & (bx <= nx) & (by >= 1) & (by <= ny)
        f["sub/h2d"] = ident.to_TH2x(
            fName=None,
            fTitle="uproot TH2D 35 x 12, variable x edges",
            data=cnt.flatten(order="F"),  # ROOT global order: x fastest
            fEntries=float(xs.size),
            fTsumw=float(inr.sum()),
            fTsumw2=float(inr.sum()),
            fTsumwx=float(xs[inr].sum()),
            fTsumwx2=float((xs[inr] ** 2).sum()),
            fTsumwy=float(ys[inr].sum()),
            fTsumwy2=float((ys[inr] ** 2).sum()),
            fTsumwxy=float((xs * ys)[inr].sum()),
            fSumw2=None,
            fXaxis=ident.to_TAxis("xaxis", "", nx, ex[0], ex[-1], fXbins=ex),
            fYaxis=ident.to_TAxis("yaxis", "", ny, -3.0, 3.0),
        )

        for name, mode, weighted, npb in [("prof", 0, False, 120), ("sub/deeper/prof_s", 1, True, 64)]:
            ep = np.linspace(0.0, 6.0, npb + 1)
            px = rng.uniform(-0.3, 6.3, 12000)
            py = np.cos(px) + 2.0 + rng.normal(0.0, 0.2, px.size)
            pw = rng.uniform(0.3, 1.7, px.size) if weighted else np.ones(px.size)
            bp = _bin_index(ep, px)
            inr = (bp >= 1) & (bp <= npb)
            f[name] = ident.to_TProfile(
                fName=None,
                fTitle="uproot TProfile error mode %d%s" % (mode, ", weighted" if weighted else ""),
                data=np.bincount(bp, weights=pw * py, minlength=npb + 2).astype(np.float64),
                fEntries=float(px.size),
                fTsumw=float(pw[inr].sum()),
                fTsumw2=float((pw[inr] ** 2).sum()),
                fTsumwx=float((pw * px)[inr].sum()),
                fTsumwx2=float((pw * px * px)[inr].sum()),
                fTsumwy=float((pw * py)[inr].sum()),
                fTsumwy2=float((pw * py * py)[inr].sum()),
                fSumw2=np.bincount(bp, weights=pw * py * py, minlength=npb + 2).astype(np.float64),
                fBinEntries=np.bincount(bp, weights=pw, minlength=npb + 2).astype(np.float64),
                fBinSumw2=np.bincount(bp, weights=pw * pw, minlength=npb + 2).astype(np.float64) if weighted else np.zeros(0),
                fXaxis=ident.to_TAxis("xaxis", "t", npb, 0.0, 6.0),
                fErrorMode=mode,
            )


def part_c_ours_reads_uproot(report, binary, work):
    """uproot writes files with every compression; gm2dqc's binary reads every object and must
    agree with uproot's own reading of them. Independent of gm2dqc's writer and of ROOT."""
    d = os.path.join(work, "uproot-written")
    os.makedirs(d, exist_ok=True)
    for comp, compression in UPROOT_COMPRESSIONS:
        fname = "uproot-%s.root" % comp
        path = os.path.join(d, fname)
        write_uproot_file(path, compression)
        with uproot.open(path) as f:
            names = {k: c for k, c in f.classnames(recursive=True, cycle=True).items()}
            hist_keys = sorted(k for k, c in names.items() if is_hist_class(c))
            problems = []
            err = compression_problem(f.file.fCompress, comp)
            if err:
                problems.append("%s: uproot wrote %s" % (fname, err))
            listing, err = run_ours(binary, path)
            if err:
                problems.append("%s: %s" % (fname, err))
            else:
                ours = sorted(("%s;%d" % (l["path"], l["cycle"]), l["class"]) for l in listing if is_hist_class(l["class"]))
                theirs = sorted((k, names[k]) for k in hist_keys)
                if ours != theirs:
                    problems.append("%s: gm2dqc lists %s, uproot %s" % (fname, ours, theirs))
                dirs_ours = sorted(l["path"] for l in listing if not is_hist_class(l["class"]))
                dirs_up = sorted(k.rsplit(";", 1)[0] for k, c in names.items() if not is_hist_class(c))
                if dirs_ours != dirs_up:
                    problems.append("%s: gm2dqc lists directories %s, uproot %s" % (fname, dirs_ours, dirs_up))
            report.check("c gm2dqc lists %s like uproot (compression %s)" % (fname, comp), problems)
            for key in hist_keys:
                p = key.rsplit(";", 1)[0]
                tag = "%s %s" % (fname, p)
                j, err = run_ours(binary, path, p)
                if err:
                    report.check("c gm2dqc reads %s" % tag, ["%s: %s" % (tag, err)])
                    continue
                problems = compare_views(tag, ours_view(j), uproot_view(f[key]), ("gm2dqc", "uproot"))
                if j["path"] != p:
                    problems.append("%s: gm2dqc JSON path %r" % (tag, j["path"]))
                report.check("c gm2dqc reads %s" % tag, problems)


# --------------------------------------------------------------------------- d


def part_d_ours_reads_root(report, binary, work):
    """C++ ROOT writes files (one process) and reads them back (a fresh process per file);
    gm2dqc's binary reads every key, by `path;cycle` and by `path` (highest cycle), and must
    agree with ROOT. Independent of gm2dqc's writer and of uproot."""
    d = os.path.join(work, "root-written")
    os.makedirs(d, exist_ok=True)
    written, problems = run_root("write-classes", d, os.path.join(work, "d-write.json"))
    report.check("d ROOT writes its files without Error/Warning", problems)
    if written is None:
        return
    for fname, info in sorted(written["files"].items()):
        path = os.path.join(d, fname)
        res, problems = run_root("read", path, os.path.join(work, "d-%s.json" % fname))
        problems = ["%s: %s" % (fname, p) for p in problems]
        if res is not None:
            # the same file-level rules as in part b, on ROOT's own files (validates the rules)
            problems += root_file_problems(fname, res, info["compression"])
            if res["compression"] != info["setting"]:
                problems.append("%s: compression %d, asked for %d" % (fname, res["compression"], info["setting"]))
            cycles = [k for k in res["keys"] if k["cycle"] == 2]
            if len(cycles) != 2:
                problems.append("%s: expected two names with cycle 2, ROOT has %s" % (fname, cycles))
        report.check("d ROOT reads its own %s cleanly (compression %d)" % (fname, info["setting"]), problems)
        if res is None:
            continue
        listing, err = run_ours(binary, path)
        problems = []
        if err:
            problems.append("%s: %s" % (fname, err))
        else:
            norm = lambda c: "TDirectory" if c in ("TDirectory", "TDirectoryFile") else c
            ours = sorted((l["path"], l["cycle"], norm(l["class"])) for l in listing)
            theirs = sorted((k["path"], k["cycle"], norm(k["class"])) for k in res["keys"])
            if ours != theirs:
                problems.append("%s: gm2dqc lists %s; ROOT %s" % (fname, ours, theirs))
        report.check("d gm2dqc lists %s like ROOT (paths, cycles, classes)" % fname, problems)
        for o in res["objects"]:
            obj = "%s;%d" % (o["path"], o["cycle"])
            tag = "%s %s" % (fname, obj)
            j, err = run_ours(binary, path, obj)
            problems = ["%s: %s" % (tag, err)] if err else compare_views(tag, ours_view(j), root_view(o), ("gm2dqc", "ROOT"))
            report.check("d gm2dqc reads %s" % tag, problems)
        for p, o in sorted(res["latest"].items()):
            tag = "%s %s (no cycle: highest)" % (fname, p)
            if o is None:
                report.check("d gm2dqc reads %s" % tag, ["%s: ROOT's Get(%r) returned null" % (tag, p)])
                continue
            j, err = run_ours(binary, path, p)
            problems = ["%s: %s" % (tag, err)] if err else compare_views(tag, ours_view(j), root_view(o), ("gm2dqc", "ROOT"))
            report.check("d gm2dqc reads %s" % tag, problems)


# --------------------------------------------------------------------------- e


def part_e_large_file(report, binary, work):
    """C++ ROOT writes an uncompressed file just over 2 GiB (TH1D of 2,000,000 bins, a few
    distinct non-zero cells each, until two histograms start beyond 2^31); gm2dqc's binary
    reads those two and must agree with ROOT (non-zero cells, errors, entries, edges).
    Independent of gm2dqc's writer and of uproot. The file is always deleted."""
    path = os.path.join(work, "large-root-written.root")
    free = shutil.disk_usage(work).free
    if free < 2.6e9:
        report.check("e large file", ["%s: only %.2f GB free, need 2.6 GB" % (work, free / 1e9)])
        return
    try:
        t0 = time.monotonic()
        written, problems = run_root("write-large", path, os.path.join(work, "e-write.json"))
        t_write = time.monotonic() - t0
        problems += large_header_problems(path)
        if written is not None:
            print("      ROOT wrote %d histograms, %d bytes, in %.1f s" % (len(written["names"]), os.path.getsize(path), t_write))
        report.check("e ROOT writes a large file (> 2^31 bytes, header fVersion >= 1000000)", problems)
        if written is None or problems:
            return

        names = written["names"][-2:]
        t0 = time.monotonic()
        res, problems = run_root("read-large", path, os.path.join(work, "e-read.json"), ["--names", ",".join(names)])
        t_root = time.monotonic() - t0
        seeks = {}
        if res is not None:
            if not res.get("open") or res["zombie"] or res["recovered"]:
                problems.append("%s: ROOT open=%s zombie=%s recovered=%s" % (path, res.get("open"), res.get("zombie"), res.get("recovered")))
            seeks = {k["path"]: k["seek"] for k in res.get("keys", [])}
            for n in names:
                if seeks.get(n, 0) <= TWO_GIB:
                    problems.append("%s: key %s starts at %s, not beyond 2^31" % (path, n, seeks.get(n)))
                if res["objects"].get(n) is None:
                    problems.append("%s: ROOT could not read %s" % (path, n))
                elif not res["objects"][n]["nonzero"]:
                    problems.append("%s: ROOT reads no non-zero bin in %s" % (path, n))
        where = ", ".join("%s at %s" % (n, seeks.get(n)) for n in names)
        report.check("e ROOT reads the large file; keys start beyond 2^31 (%s)" % where, problems)
        if res is None:
            return

        t0 = time.monotonic()
        for n in names:
            tag = "%s %s" % (os.path.basename(path), n)
            j, err = run_ours(binary, path, n)
            if err:
                report.check("e gm2dqc reads %s beyond 2^31" % tag, ["%s: %s" % (tag, err)])
            elif res["objects"].get(n) is not None:
                report.check("e gm2dqc reads %s beyond 2^31" % tag, compare_large(tag, j, res["objects"][n]))
        t_ours = time.monotonic() - t0
        print("      times: ROOT write %.1f s, ROOT read %.1f s, gm2dqc read %.1f s" % (t_write, t_root, t_ours))
    finally:
        if os.path.exists(path):
            os.remove(path)
            print("      deleted %s" % path)


def large_header_problems(path):
    """The file header, read directly: magic 'root', then fVersion (big-endian int32), which
    ROOT raises by 1000000 when the file needs 64-bit seeks."""
    if not os.path.exists(path):
        return ["%s: not written" % path]
    size = os.path.getsize(path)
    with open(path, "rb") as fh:
        head = fh.read(8)
    out = []
    if size <= TWO_GIB:
        out.append("%s: %d bytes, not beyond 2^31" % (path, size))
    if len(head) < 8 or head[:4] != b"root":
        out.append("%s: starts with %r, not b'root'" % (path, head[:4]))
        return out
    version = struct.unpack(">i", head[4:8])[0]
    print("      header: %r, fVersion %d" % (head[:4], version))
    if version < BIG_FILE_VERSION:
        out.append("%s: fVersion %d < %d: not a large (64-bit seek) file" % (path, version, BIG_FILE_VERSION))
    return out


def compare_large(tag, ours, r):
    """gm2dqc's JSON of a big TH1D vs ROOT's non-zero cells, entries and edges."""
    names = ("gm2dqc", "ROOT")
    rtol = rtol_for(r["class"])
    out = []
    for k in ["class", "title", "entries"]:
        out += compare_scalar(k, ours[k], r[k], names)
    if len(ours["axes"]) != 1:
        return ["%s: %d axes" % (tag, len(ours["axes"]))]
    out += compare_arrays("axis 0 edges", ours["axes"][0]["edges"], r["axes"][0]["edges"], names, EDGE_RTOL, atol=EDGE_RTOL * 2.0e6)
    values = _arr(ours["values"])
    if values.size != r["ncells"]:
        out.append("values: %d cells in gm2dqc, %d in ROOT" % (values.size, r["ncells"]))
    else:
        nz_ours = np.flatnonzero(values)
        nz_root = np.array([c[0] for c in r["nonzero"]], dtype=np.int64)
        if not np.array_equal(nz_ours, nz_root):
            out.append("non-zero bins: gm2dqc %s vs ROOT %s" % (nz_ours[:20].tolist(), nz_root[:20].tolist()))
        idx = nz_root
        out += compare_arrays("values", values[idx], [c[1] for c in r["nonzero"]], names, rtol, bins=idx)
        var = _arr(ours["variances"])
        out += compare_arrays("sqrt(variances) vs GetBinError", np.sqrt(np.abs(var[idx])), [c[2] for c in r["nonzero"]], names, rtol, bins=idx)
        nz_var = np.flatnonzero(var)
        if not np.array_equal(nz_var, nz_root):
            out.append("non-zero variances: gm2dqc %s vs ROOT non-zero bins %s" % (nz_var[:20].tolist(), nz_root[:20].tolist()))
    return ["%s: %s" % (tag, m) for m in out]


# --------------------------------------------------------------------------- main


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", required=True, help="path to the gm2dqc binary")
    ap.add_argument("--sample-dir", required=True, help="output directory of `cargo run --example write_sample`")
    ap.add_argument("--work", required=True, help="scratch directory (files written by uproot and ROOT)")
    ap.add_argument("--skip-large", action="store_true", help="skip part e (the > 2 GiB file)")
    a = ap.parse_args()

    binary = os.path.abspath(a.bin)
    os.makedirs(a.work, exist_ok=True)
    with open(os.path.join(a.sample_dir, "expected.json")) as fh:
        expected = json.load(fh)
    print("crosscheck: uproot %s, numpy %s, python %s; gm2dqc binary %s" % (uproot.__version__, np.__version__, sys.version.split()[0], binary))

    report = Report()
    t_all = time.monotonic()
    with report.part("a: uproot reads gm2dqc-written files"):
        part_a_uproot_reads_ours(report, a.sample_dir, expected)
    with report.part("b: C++ ROOT reads gm2dqc-written files"):
        part_b_root_reads_ours(report, a.sample_dir, expected, a.work)
    with report.part("c: gm2dqc reads uproot-written files"):
        part_c_ours_reads_uproot(report, binary, a.work)
    with report.part("d: gm2dqc reads ROOT-written files"):
        part_d_ours_reads_root(report, binary, a.work)
    if a.skip_large:
        print("\n=== e: large file skipped (--skip-large)")
    else:
        with report.part("e: gm2dqc reads a > 2 GiB ROOT-written file"):
            part_e_large_file(report, binary, a.work)

    print("\ntimings: " + ", ".join("%s %.1f s" % (l.split(":")[0], t) for l, t in report.timings) + ", total %.1f s" % (time.monotonic() - t_all))
    if report.failed:
        print("failed checks:")
        for n in report.failed:
            print("  %s" % n)
    print("crosscheck: %d passed, %d failed" % (report.passed, len(report.failed)))
    return 1 if report.failed else 0


if __name__ == "__main__":
    sys.exit(main())
