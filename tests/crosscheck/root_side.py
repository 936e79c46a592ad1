#!/usr/bin/env python3
"""The C++ ROOT side of the gm2dqc cross-check: everything that runs inside ROOT.

This file imports ROOT (PyROOT over C++ ROOT 6.40) and nothing else of the cross-check: not
uproot, not gm2dqc's binary, not crosscheck.py. crosscheck.py runs it as a subprocess, one
process per task, and captures its stdout and stderr: ROOT reports trouble by printing lines
that start with "Error" or "Warning", and crosscheck.py fails the check when it sees one. So
this file deliberately does NOT raise gErrorIgnoreLevel: every message ROOT prints must reach
the captured streams.

Each task writes its result as JSON to the path given by --out; the numbers in it come from
ROOT's own API on objects read back from disk in a fresh process (GetBinContent,
GetBinError, GetSumw2, GetBinEntries, GetBinLowEdge, GetEntries, ...).

Tasks:
  read FILE --out JSON        every key (recursively, every cycle) of FILE, described by ROOT,
                              plus file-level facts (zombie, recovered, version, compression,
                              streamer infos, key seeks)
  append FILE --out JSON      ROOT opens FILE in UPDATE mode and adds a histogram (two places)
  write-classes DIR --out JSON
                              ROOT writes crosscheck-root-<comp>.root for each compression setting
  write-large FILE --out JSON ROOT writes an uncompressed file just over 2 GiB of big TH1D
  read-large FILE --names A,B --out JSON
                              ROOT reads only the named big histograms: non-zero bins, entries,
                              edges, and every key's seek
"""

import argparse
import array
import json
import math
import sys
import warnings

# The PyPI `root` wheel warns once, on import, that it is an alpha release. That warning (and
# only that one) is expected; everything ROOT itself prints is kept.
warnings.filterwarnings("ignore", message=r"\s*This distribution of ROOT is in alpha", category=UserWarning)

import ROOT  # noqa: E402

ROOT.gROOT.SetBatch(True)
ROOT.TH1.AddDirectory(False)  # histograms belong to Python and are written explicitly

ERROR_OPTION_CODE = {"": 0, "s": 1, "i": 2, "g": 3}

# Classes whose TStreamerInfo ROOT itself never writes into a file (they have custom streamers:
# the TArray family). Everything else reachable from an object's class through base classes
# and object members must have a TStreamerInfo in the file.
NO_STREAMER_INFO_NEEDED = {"TArray", "TArrayC", "TArrayS", "TArrayI", "TArrayL", "TArrayL64", "TArrayF", "TArrayD"}


def _num(x):
    """A float for JSON; non-finite numbers become strings so that the comparison flags them."""
    x = float(x)
    return x if math.isfinite(x) else repr(x)


def describe_hist(h, full=True):
    """What ROOT's API says about one TH1-derived object (global bins 0 .. GetNcells()-1)."""
    dim = h.GetDimension()
    ncells = h.GetNcells()
    axes = []
    for ax in [h.GetXaxis(), h.GetYaxis(), h.GetZaxis()][:dim]:
        n = ax.GetNbins()
        axes.append({"nbins": n, "edges": [_num(ax.GetBinLowEdge(i)) for i in range(1, n + 2)]})
    is_profile = bool(h.InheritsFrom("TProfile") or h.InheritsFrom("TProfile2D"))
    d = {
        "class": str(h.ClassName()),
        "name": str(h.GetName()),
        "title": str(h.GetTitle()),
        "entries": _num(h.GetEntries()),
        "ncells": ncells,
        "axes": axes,
        "is_profile": is_profile,
        "sumw2n": int(h.GetSumw2N()),
    }
    if full:
        d["values"] = [_num(h.GetBinContent(i)) for i in range(ncells)]
        d["errors"] = [_num(h.GetBinError(i)) for i in range(ncells)]
        if is_profile:
            d["sumw2"] = None
            d["bin_entries"] = [_num(h.GetBinEntries(i)) for i in range(ncells)]
            d["error_option"] = str(h.GetErrorOption())
        else:
            s = h.GetSumw2()
            d["sumw2"] = [_num(s.At(i)) for i in range(s.GetSize())] if h.GetSumw2N() > 0 else None
            d["bin_entries"] = None
            d["error_option"] = None
    else:
        # big histograms: only the non-zero cells (by GetBinContent), contents and errors
        nz = []
        for i in range(ncells):
            v = h.GetBinContent(i)
            if v != 0.0:
                nz.append([i, _num(v), _num(h.GetBinError(i))])
        d["nonzero"] = nz
    return d


def streamer_info_report(f, classes):
    """Which TStreamerInfo the file holds, and which class needed by `classes` has none."""
    infos = {}
    for s in f.GetStreamerInfoList():
        if not s.InheritsFrom("TStreamerInfo"):
            continue  # the schema-evolution rules list
        deps = []
        for el in s.GetElements():
            k = el.ClassName()
            if k == "TStreamerBase":
                deps.append(str(el.GetName()))
            elif k in ("TStreamerObject", "TStreamerObjectAny", "TStreamerObjectPointer", "TStreamerObjectAnyPointer"):
                deps.append(str(el.GetTypeName()).rstrip("*"))
        infos[str(s.GetName())] = {"version": int(s.GetClassVersion()), "deps": deps}
    missing, seen, todo = set(), set(), list(classes)
    while todo:
        c = todo.pop()
        if c in seen or c in NO_STREAMER_INFO_NEEDED:
            continue
        seen.add(c)
        if c not in infos:
            missing.add(c)
            continue
        todo.extend(infos[c]["deps"])
    return {"classes": sorted(infos), "versions": {k: v["version"] for k, v in infos.items()}, "missing": sorted(missing)}


def walk_keys(d, prefix, out):
    """Every key below directory d, depth first: (path, TKey)."""
    for key in d.GetListOfKeys():
        name = str(key.GetName())
        out.append((prefix + name, key))
        if ROOT.TClass.GetClass(str(key.GetClassName())).InheritsFrom("TDirectory"):
            walk_keys(d.Get(name + ";" + str(key.GetCycle())), prefix + name + "/", out)
    return out


def file_facts(f):
    return {
        "zombie": bool(f.IsZombie()),
        "recovered": bool(f.TestBit(ROOT.TFile.kRecovered)),
        "version": int(f.GetVersion()),
        "compression": int(f.GetCompressionSettings()),
        "end": int(f.GetEND()),
    }


def task_read(path, out):
    f = ROOT.TFile.Open(path, "READ")
    if not f:
        json.dump({"open": False}, open(out, "w"))
        return
    res = {"open": True, **file_facts(f)}
    keys, objects, latest = [], [], {}
    for p, key in walk_keys(f, "", []):
        cls = str(key.GetClassName())
        cyc = int(key.GetCycle())
        keys.append({"path": p, "cycle": cyc, "class": cls, "title": str(key.GetTitle()), "seek": int(key.GetSeekKey())})
        if ROOT.TClass.GetClass(cls).InheritsFrom("TH1"):
            obj = key.ReadObj()  # exactly this key's cycle
            objects.append({"path": p, "cycle": cyc, **describe_hist(obj)})
            latest[p] = None
    # what ROOT's Get(path) without a cycle returns (the highest cycle)
    res["latest"] = {}
    for p in latest:
        obj = f.Get(p)
        res["latest"][p] = describe_hist(obj) if obj else None
    hist_classes = sorted({o["class"] for o in objects})
    res["keys"] = keys
    res["objects"] = objects
    res["streamer_info"] = streamer_info_report(f, hist_classes)
    f.Close()
    json.dump(res, open(out, "w"))


def task_append(path, out):
    """Opens FILE in UPDATE mode and adds a TH1D at the top and in the first subdirectory: ROOT
    then relies on the file's free-segments list, keys lists and header as written."""
    f = ROOT.TFile.Open(path, "UPDATE")
    if not f or f.IsZombie():
        json.dump({"open": False}, open(out, "w"))
        return
    res = {"open": True, **file_facts(f)}
    h = ROOT.TH1D("crosscheck_added", "added by ROOT in UPDATE mode", 10, 0.0, 1.0)
    for i in range(10):
        h.Fill(0.1 * i + 0.05, i)
    f.WriteTObject(h)
    added = ["crosscheck_added"]
    for key in f.GetListOfKeys():
        if ROOT.TClass.GetClass(str(key.GetClassName())).InheritsFrom("TDirectory"):
            d = f.Get(str(key.GetName()))
            d.WriteTObject(h)
            added.append(str(key.GetName()) + "/crosscheck_added")
            break
    f.Close()
    res["added"] = added
    json.dump(res, open(out, "w"))


# --------------------------------------------------------------------------- writing

ROOT_COMPRESSIONS = [("none", 0), ("zlib", 101), ("lz4", 404), ("zstd", 505), ("lzma", 207)]
SEED = 20240611
LONG_TITLE = "nested TH1F with a title longer than 255 characters: " + "calo 1..24 crystal energy, " * 10


def write_classes_file(path, setting):
    """TH1F, TH1D, TH2F, TProfile ("" and "s"), TProfile2D in directories three deep, and two
    names written twice (cycles 1 and 2), one at the top and one three levels down."""
    rng = ROOT.TRandom3(SEED)
    f = ROOT.TFile(path, "RECREATE", "gm2dqc cross-check, written by ROOT", setting)
    if f.GetCompressionSettings() != setting:
        raise RuntimeError("compression setting %d, asked for %d" % (f.GetCompressionSettings(), setting))
    d1 = f.mkdir("det", "level 1")
    d2 = d1.mkdir("calo07", "level 2")
    d3 = d2.mkdir("xtal", "level 3")

    h = ROOT.TH1F("h1f", LONG_TITLE, 60, -3.0, 3.0)
    for _ in range(3000):
        h.Fill(rng.Gaus(0.2, 1.3))  # some under/overflow
    d3.WriteTObject(h)

    edges = [0.0, 0.5, 1.0, 1.5, 2.5, 4.0, 6.0, 9.0, 13.0, 20.0]
    h = ROOT.TH1D("h1d_var", "TH1D variable bins, Sumw2, weighted", len(edges) - 1, array.array("d", edges))
    h.Sumw2()
    for _ in range(2000):
        h.Fill(rng.Exp(4.0), rng.Uniform(0.3, 2.5))
    d3.WriteTObject(h)

    h = ROOT.TH1D("big1d", "TH1D 5000 bins", 5000, 0.0, 5000.0)
    for _ in range(20000):
        h.Fill(rng.Gaus(2500.0, 800.0))
    f.WriteTObject(h)

    yedges = [-2.0, -1.0, -0.5, -0.2, 0.0, 0.1, 0.3, 0.8, 2.0]
    h = ROOT.TH2F("h2f", "TH2F 30 x 8, variable y", 30, -3.0, 3.0, len(yedges) - 1, array.array("d", yedges))
    for _ in range(4000):
        x = rng.Gaus(0.0, 1.2)
        h.Fill(x, 0.4 * x + rng.Gaus(0.0, 0.7))
    d2.WriteTObject(h)

    p = ROOT.TProfile("prof", "TProfile default error option", 50, 0.0, 100.0)
    for _ in range(5000):
        t = rng.Uniform(-5.0, 105.0)
        p.Fill(t, 1.0 - 0.03 * math.exp(-t / 20.0) + rng.Gaus(0.0, 0.004))
    d1.WriteTObject(p)

    p = ROOT.TProfile("prof_s", "TProfile option s, weighted", 40, -4.0, 4.0, "s")
    p.Sumw2()
    for _ in range(3000):
        x = rng.Gaus(0.0, 1.5)
        p.Fill(x, x * x + rng.Gaus(0.0, 0.5), rng.Uniform(0.2, 1.8))
    d3.WriteTObject(p)

    p = ROOT.TProfile2D("prof2d", "TProfile2D 12 x 7", 12, 0.0, 6.0, 7, -1.0, 1.0)
    for _ in range(4000):
        x, y = rng.Uniform(-0.3, 6.3), rng.Gaus(0.0, 0.5)
        p.Fill(x, y, x - y + rng.Gaus(0.0, 0.3))
    d2.WriteTObject(p)

    # the same name written twice: cycle 1, then cycle 2 with more fills
    for directory, name in [(f, "cyc"), (d3, "cyc_nested")]:
        h = ROOT.TH1D(name, "written twice", 25, -2.5, 2.5)
        for _ in range(300):
            h.Fill(rng.Gaus(0.0, 1.0))
        directory.WriteTObject(h)
        for _ in range(500):
            h.Fill(rng.Gaus(0.7, 0.6))
        h.SetTitle("written twice, second cycle")
        directory.WriteTObject(h)
    f.Close()


def task_write_classes(outdir, out):
    import os

    files = {}
    for comp, setting in ROOT_COMPRESSIONS:
        p = os.path.join(outdir, "crosscheck-root-%s.root" % comp)
        write_classes_file(p, setting)
        files[os.path.basename(p)] = {"compression": comp, "setting": setting}
    json.dump({"files": files}, open(out, "w"))


LARGE_NBINS = 2_000_000
TWO_GIB = 2**31


def large_bins(i):
    """The non-zero bins of big histogram i (distinct per histogram) and their contents."""
    bins = sorted({(i * 7919 + k * 400_009) % LARGE_NBINS + 1 for k in range(5)})
    cells = [(b, 1000.0 * i + k + 0.25) for k, b in enumerate(bins)]
    if i % 2:
        cells.append((0, -float(i)))  # underflow
        cells.append((LARGE_NBINS + 1, 0.5 * i))  # overflow
    return cells


def task_write_large(path, out):
    """Uncompressed TH1D of 2,000,000 bins (16 MB each), until two of them start beyond 2^31."""
    f = ROOT.TFile(path, "RECREATE", "gm2dqc large-file cross-check", 0)
    names, beyond, i = [], 0, 0
    while beyond < 2:
        start = f.GetEND()
        h = ROOT.TH1D("big%03d" % i, "large-file TH1D %d" % i, LARGE_NBINS, 0.0, 2.0e6)
        for b, v in large_bins(i):
            h.SetBinContent(b, v)
        f.WriteTObject(h)
        del h  # owned by Python (AddDirectory(False)): this frees its 16 MB now
        names.append("big%03d" % i)
        if start >= TWO_GIB:
            beyond += 1
        i += 1
    end = f.GetEND()
    f.Close()
    json.dump({"names": names, "end": int(end)}, open(out, "w"))


def task_read_large(path, names, out):
    f = ROOT.TFile.Open(path, "READ")
    if not f:
        json.dump({"open": False}, open(out, "w"))
        return
    res = {"open": True, **file_facts(f)}
    res["keys"] = [{"path": p, "cycle": int(k.GetCycle()), "class": str(k.GetClassName()), "seek": int(k.GetSeekKey())} for p, k in walk_keys(f, "", [])]
    res["objects"] = {}
    for n in names:
        h = f.Get(n)
        res["objects"][n] = describe_hist(h, full=False) if h else None
    f.Close()
    json.dump(res, open(out, "w"))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("task", choices=["read", "append", "write-classes", "write-large", "read-large"])
    ap.add_argument("path")
    ap.add_argument("--out", required=True)
    ap.add_argument("--names", default="")
    a = ap.parse_args()
    if a.task == "read":
        task_read(a.path, a.out)
    elif a.task == "append":
        task_append(a.path, a.out)
    elif a.task == "write-classes":
        task_write_classes(a.path, a.out)
    elif a.task == "write-large":
        task_write_large(a.path, a.out)
    else:
        task_read_large(a.path, [n for n in a.names.split(",") if n], a.out)


if __name__ == "__main__":
    sys.exit(main())
