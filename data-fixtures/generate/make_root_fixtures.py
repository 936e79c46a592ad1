#!/usr/bin/env python3
"""Write the ROOT test fixtures of gm2dqc, with the numbers ROOT / uproot read from them.

    python3 data-fixtures/generate/make_root_fixtures.py

needs (pip):  root==0.1a12  (C++ ROOT 6.40.00 with PyROOT)   uproot==5.7.7   numpy

Writes
  data-fixtures/root640/        files written by C++ ROOT 6.40.00, JSON computed by ROOT itself
  data-fixtures/uproot-written/ files written by uproot 5.7.7, JSON computed by uproot
and then cross-checks: every ROOT-written file is re-read with uproot, every uproot-written file
with ROOT, and the numbers are compared.

Everything is seeded (TRandom3 / numpy default_rng with fixed seeds), so re-running regenerates
the same numbers (the .root bytes differ: ROOT and uproot stamp dates and UUIDs into them).
Nothing here uses gm2dqc's own code.
"""

import lzma
import json
import math
import os
import struct
import sys
import warnings

warnings.filterwarnings("ignore")  # the `root` wheel warns that it is an alpha release

import numpy as np  # noqa: E402
import ROOT  # noqa: E402
import uproot  # noqa: E402

ROOT.gROOT.SetBatch(True)
ROOT.gErrorIgnoreLevel = ROOT.kWarning
ROOT.TH1.AddDirectory(False)  # histograms belong to Python, written explicitly with WriteTObject

HERE = os.path.dirname(os.path.abspath(__file__))
BASE = os.path.dirname(HERE)
ROOT640 = os.path.join(BASE, "root640")
UPWRITTEN = os.path.join(BASE, "uproot-written")

ROOT_WRITER = "ROOT " + str(ROOT.gROOT.GetVersion())  # "ROOT 6.40.00"
UPROOT_WRITER = "uproot " + uproot.__version__

# name -> compression setting (100 * algorithm + level); 0 = uncompressed
ROOT_COMPRESSIONS = [("none", 0), ("zlib", 101), ("lz4", 404), ("zstd", 505), ("lzma", 207)]
UPROOT_COMPRESSIONS = [
    ("none", None),
    ("zlib", uproot.ZLIB(1)),
    ("lz4", uproot.LZ4(1)),
    ("zstd", uproot.ZSTD(1)),
    ("lzma", uproot.LZMA(1)),
]

SEED_CLASSES = 4242
SEED_MULTIBLOCK = 2718
SEED_UPROOT = 31415

LONG_TITLE = (
    "A deliberately long histogram title with spaces, longer than 255 characters, so that ROOT "
    "streams the TString with the long form (a 255 marker byte followed by a 4-byte big-endian "
    "length): calorimeter 1 to 24, crystal energy deposit in MeV, run 15922 subrun 42, fill "
    "structure by bunch, sigma-clipped, then rebinned by a factor of four. END"
)
assert len(LONG_TITLE) > 255, len(LONG_TITLE)
TITLE_255 = ("Exactly 255 characters long title " + "x" * 255)[:255]  # first length with long form
TITLE_254 = ("Exactly 254 characters long title " + "y" * 254)[:254]  # last length with short form


# --------------------------------------------------------------------------- ROOT writing


def _fill_1d(h, xs, ws=None):
    if ws is None:
        for x in xs:
            h.Fill(x)
    else:
        for x, w in zip(xs, ws):
            h.Fill(x, w)


def write_classes_file(path, setting):
    """classes-<name>.root: every histogram class, nested dirs, cycles, long titles."""
    rng = ROOT.TRandom3(SEED_CLASSES)
    f = ROOT.TFile(path, "RECREATE", "", setting)
    assert f.GetCompressionSettings() == setting

    # --- TH1 of every storage type, same 1000 gaussian values (sigma 2 on [-5,5]: ~1% in flow)
    xs = [rng.Gaus(0.0, 2.0) for _ in range(1000)]
    for cls in ["TH1C", "TH1S", "TH1I", "TH1F", "TH1D"]:
        h = getattr(ROOT, cls)(
            "h1" + cls[3].lower(), cls + " of 1000 gaussian values with flow", 50, -5.0, 5.0
        )
        _fill_1d(h, xs)
        f.WriteTObject(h)

    # --- TH1D with variable edges, Sumw2 and weighted fills
    edges = [-5.0, -3.0, -2.0, -1.5, -1.0, -0.5, 0.0, 0.25, 0.5, 1.0, 2.0, 3.5, 5.0]
    h = ROOT.TH1D("h1d_var", "variable bins weighted Sumw2", len(edges) - 1, np.array(edges))
    h.Sumw2()
    xs_v = [rng.Gaus(0.0, 2.2) for _ in range(1000)]
    ws_v = [rng.Uniform(0.5, 2.0) for _ in range(1000)]
    _fill_1d(h, xs_v, ws_v)
    f.WriteTObject(h)

    # --- TH2 of every storage type, 20 x 15, same 1000 (x, y) pairs, some in flow
    pts = []
    for _ in range(1000):
        x = rng.Gaus(0.0, 2.0)
        y = 0.3 * x + rng.Gaus(0.5, 1.4)
        pts.append((x, y))
    for cls in ["TH2C", "TH2S", "TH2I", "TH2F", "TH2D"]:
        h = getattr(ROOT, cls)(
            "h2" + cls[3].lower(), cls + " correlated gaussian 20 x 15", 20, -5.0, 5.0, 15, -3.0, 3.0
        )
        for x, y in pts:
            h.Fill(x, y)
        f.WriteTObject(h)

    # --- TH2D with variable y edges, weighted with Sumw2
    yedges = [-3.0, -2.0, -1.2, -0.6, -0.2, 0.0, 0.1, 0.3, 0.7, 1.5, 3.0]
    h = ROOT.TH2D(
        "h2d_vary", "TH2D variable y edges weighted", 20, -5.0, 5.0, len(yedges) - 1, np.array(yedges)
    )
    h.Sumw2()
    for x, y in pts:
        h.Fill(x, y, rng.Uniform(0.2, 3.0))
    f.WriteTObject(h)

    # --- TProfile, default error option (error of the mean), unweighted
    p = ROOT.TProfile("prof", "profile default error option", 40, -4.0, 4.0)
    for _ in range(1000):
        x = rng.Gaus(0.0, 1.7)
        p.Fill(x, 0.5 * x * x + rng.Gaus(0.0, 1.0))
    f.WriteTObject(p)

    # --- TProfile option "s" (spread), weighted with Sumw2 (fBinSumw2 stored)
    p = ROOT.TProfile("prof_s", "profile option s weighted", 40, -4.0, 4.0, "s")
    p.Sumw2()
    for _ in range(1000):
        x = rng.Gaus(0.0, 1.7)
        p.Fill(x, 2.0 - x + rng.Gaus(0.0, 0.7), rng.Uniform(0.5, 1.5))
    f.WriteTObject(p)

    # --- TProfile option "i": y takes integer values, so some bins have zero spread and ROOT
    #     returns 1/sqrt(12 * N) there
    p = ROOT.TProfile("prof_i", "profile option i integer y", 20, -4.0, 4.0, "i")
    for _ in range(500):
        x = rng.Gaus(0.0, 1.7)
        p.Fill(x, float(round(x)) + (1.0 if rng.Uniform() < 0.05 else 0.0))
    f.WriteTObject(p)

    # --- TProfile option "g", weighted: error = 1/sqrt(sum of weights)
    p = ROOT.TProfile("prof_g", "profile option g weighted", 20, -4.0, 4.0, "g")
    p.Sumw2()
    for _ in range(500):
        x = rng.Gaus(0.0, 1.7)
        p.Fill(x, x + rng.Gaus(0.0, 1.0), rng.Uniform(0.5, 1.5))
    f.WriteTObject(p)

    # --- TProfile2D
    p = ROOT.TProfile2D("prof2d", "profile 2D of x plus y", 10, -3.0, 3.0, 8, -2.0, 2.0)
    for _ in range(1000):
        x = rng.Gaus(0.0, 1.5)
        y = rng.Gaus(0.0, 1.0)
        p.Fill(x, y, x + y + rng.Gaus(0.0, 0.5))
    f.WriteTObject(p)

    # --- empty TH1F
    h = ROOT.TH1F("h1f_empty", "empty histogram with no fills", 10, 0.0, 1.0)
    f.WriteTObject(h)

    # --- long titles: > 255, exactly 255 and 254 characters
    for name, title in [("long_title", LONG_TITLE), ("title255", TITLE_255), ("title254", TITLE_254)]:
        h = ROOT.TH1F(name, title, 8, 0.0, 8.0)
        _fill_1d(h, [rng.Uniform(-1.0, 9.0) for _ in range(40)])
        f.WriteTObject(h)

    # --- name cycles: cyc;1 (200 fills) and cyc;2 (the same plus 300 more)
    h = ROOT.TH1F("cyc", "cycle test histogram", 30, -3.0, 3.0)
    _fill_1d(h, [rng.Gaus(0.0, 1.0) for _ in range(200)])
    f.WriteTObject(h)
    _fill_1d(h, [rng.Gaus(0.5, 1.0) for _ in range(300)])
    f.WriteTObject(h)  # same name -> new key with cycle 2

    # --- nested directories 3 deep
    d1 = f.mkdir("dir1", "first level directory")
    d2 = d1.mkdir("dir2", "second level directory")
    d3 = d2.mkdir("dir3", "third level directory")
    h = ROOT.TH1D("h1", "exponential in dir1", 100, 0.0, 10.0)
    _fill_1d(h, [rng.Exp(2.0) for _ in range(500)])
    d1.WriteTObject(h)
    p = ROOT.TProfile("prof", "profile in dir1 dir2", 25, 0.0, 5.0)
    for _ in range(500):
        x = rng.Uniform(-0.5, 5.5)
        p.Fill(x, math.sqrt(abs(x)) + rng.Gaus(0.0, 0.3))
    d2.WriteTObject(p)
    h = ROOT.TH2F("h2", "TH2F in dir1 dir2 dir3", 12, 0.0, 6.0, 10, -1.0, 1.0)
    for _ in range(500):
        h.Fill(rng.Uniform(-0.5, 6.5), rng.Gaus(0.0, 0.5))
    d3.WriteTObject(h)

    f.Close()


def write_multiblock_file(path, setting):
    """One TH2D of 1500 x 1500 bins: fArray is 1502*1502*8 = 18.05 MB > 16 MiB - 1 (kMAXZIPBUF),
    so ROOT compresses the object as several blocks, each with its own 9-byte header."""
    rng = ROOT.TRandom3(SEED_MULTIBLOCK)
    f = ROOT.TFile(path, "RECREATE", "", setting)
    h = ROOT.TH2D("big", "TH2D 1500 x 1500 sparsely filled", 1500, 0.0, 150.0, 1500, -75.0, 75.0)
    for _ in range(100000):
        h.Fill(rng.Gaus(75.0, 12.0), rng.Gaus(0.0, 9.0))
    f.WriteTObject(h)
    f.Close()


# --------------------------------------------------------------------------- ROOT -> JSON


def _f(x):
    x = float(x)
    if not math.isfinite(x):
        raise ValueError("non-finite number")
    return x


def describe_root(h, path, cycle, cls):
    dim = h.GetDimension()
    axes = []
    for ax in [h.GetXaxis(), h.GetYaxis(), h.GetZaxis()][:dim]:
        n = ax.GetNbins()
        axes.append({"edges": [_f(ax.GetBinLowEdge(i)) for i in range(1, n + 2)]})
    ncells = h.GetNcells()
    values = [_f(h.GetBinContent(i)) for i in range(ncells)]
    is_profile = h.InheritsFrom("TProfile") or h.InheritsFrom("TProfile2D")
    if is_profile:
        variances = None
        errors = [_f(h.GetBinError(i)) for i in range(ncells)]
        bin_entries = [_f(h.GetBinEntries(i)) for i in range(ncells)]
        error_option = str(h.GetErrorOption())
    else:
        if h.GetSumw2N() > 0:
            s = h.GetSumw2()
            assert s.GetSize() == ncells
            variances = [_f(s.At(i)) for i in range(ncells)]
        else:
            variances = list(values)
        errors = None
        bin_entries = None
        error_option = None
    stats = {
        "mean_x": _f(h.GetMean(1)),
        "rms_x": _f(h.GetRMS(1)),
        "mean_y": _f(h.GetMean(2)),
        "rms_y": _f(h.GetRMS(2)),
        "sumw": _f(h.GetSumOfWeights()),
        "integral": _f(h.Integral()),
    }
    if dim == 1:
        stats["integral_1_3"] = _f(h.Integral(1, 3))
    return {
        "path": path,
        "cycle": int(cycle),
        "class": cls,
        "title": str(h.GetTitle()),
        "entries": _f(h.GetEntries()),
        "axes": axes,
        "values": values,
        "variances": variances,
        "errors": errors,
        "bin_entries": bin_entries,
        "error_option": error_option,
        "stats": stats,
    }


def root_json(path, compression):
    f = ROOT.TFile.Open(path, "READ")
    objects = []

    def walk(d, prefix):
        for key in d.GetListOfKeys():
            cls = str(key.GetClassName())
            tcl = ROOT.TClass.GetClass(cls)
            name = str(key.GetName())
            if tcl.InheritsFrom("TDirectory"):
                walk(d.Get(name), prefix + name + "/")
            elif tcl.InheritsFrom("TH1"):
                obj = key.ReadObj()  # exactly this key's cycle
                objects.append(describe_root(obj, prefix + name, key.GetCycle(), cls))

    walk(f, "")
    out = {
        "file": os.path.basename(path),
        "writer": ROOT_WRITER,
        "root_version": int(ROOT.gROOT.GetVersionInt()),
        "compression": int(f.GetCompressionSettings()),
        "objects": sorted(objects, key=lambda o: (o["path"], o["cycle"])),
    }
    assert out["compression"] == compression, (out["compression"], compression)
    f.Close()
    return out


def dump_json(obj, path, xz=False):
    if xz:
        # .json.xz (xz container, CRC64, preset 9e): same JSON, compressed; no timestamps inside
        with open(path, "wb") as fh:
            fh.write(lzma.compress(json.dumps(obj, allow_nan=False).encode(), preset=9 | lzma.PRESET_EXTREME))
    else:
        with open(path, "w") as fh:
            json.dump(obj, fh, allow_nan=False)


# --------------------------------------------------------------------------- uproot writing


def _bin_index(edges, x):
    """ROOT bin number of x: 0 underflow, 1..n in range, n+1 overflow."""
    return np.searchsorted(edges, x, side="right")


def write_uproot_file(path, compression):
    rng = np.random.default_rng(SEED_UPROOT)
    with uproot.recreate(path, compression=compression) as f:
        # TH1D, 2000 bins on [0, 40], weights 1 or 2 -> fSumw2 stored and != contents
        n1 = 2000
        e1 = np.linspace(0.0, 40.0, n1 + 1)
        x = rng.normal(20.0, 9.0, 30000)
        w = rng.integers(1, 3, size=x.size).astype(np.float64)
        b = _bin_index(e1, x)
        sumw = np.bincount(b, weights=w, minlength=n1 + 2).astype(np.float64)
        sumw2 = np.bincount(b, weights=w * w, minlength=n1 + 2).astype(np.float64)
        inr = (b >= 1) & (b <= n1)
        f["h1"] = uproot.writing.identify.to_TH1x(
            fName=None,
            fTitle="uproot TH1D 2000 bins weighted",
            data=sumw,
            fEntries=float(x.size),
            fTsumw=float(w[inr].sum()),
            fTsumw2=float((w[inr] ** 2).sum()),
            fTsumwx=float((w * x)[inr].sum()),
            fTsumwx2=float((w * x * x)[inr].sum()),
            fSumw2=sumw2,
            fXaxis=uproot.writing.identify.to_TAxis("xaxis", "", n1, 0.0, 40.0),
        )

        # TH2D in a subdirectory, 40 x 25 with variable y edges, unweighted, fSumw2 not stored
        nx, ny = 40, 25
        ex = np.linspace(-10.0, 10.0, nx + 1)
        ey = np.round(np.concatenate([[0.0], np.cumsum(np.linspace(0.05, 0.55, ny))]), 10)
        xs = rng.normal(0.0, 4.0, 20000)
        ys = np.abs(rng.normal(0.0, 4.0, xs.size)) - 0.2
        bx = _bin_index(ex, xs)
        by = _bin_index(ey, ys)
        cnt = np.zeros((nx + 2, ny + 2))
        np.add.at(cnt, (bx, by), 1.0)
        inr = (bx >= 1) & (bx <= nx) & (by >= 1) & (by <= ny)
        f["sub/h"] = uproot.writing.identify.to_TH2x(
            fName=None,
            fTitle="uproot TH2D in sub, variable y edges",
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
            fXaxis=uproot.writing.identify.to_TAxis("xaxis", "", nx, -10.0, 10.0),
            fYaxis=uproot.writing.identify.to_TAxis("yaxis", "", ny, ey[0], ey[-1], fXbins=ey),
        )

        # TProfile, 400 bins, unweighted, default error mode
        npb = 400
        ep = np.linspace(0.0, 10.0, npb + 1)
        px = rng.uniform(-0.2, 10.2, 20000)
        py = np.sin(px) + rng.normal(0.0, 0.3, px.size)
        bp = _bin_index(ep, px)
        f["prof"] = uproot.writing.identify.to_TProfile(
            fName=None,
            fTitle="uproot TProfile sin x",
            data=np.bincount(bp, weights=py, minlength=npb + 2).astype(np.float64),
            fEntries=float(px.size),
            fTsumw=float(((bp >= 1) & (bp <= npb)).sum()),
            fTsumw2=float(((bp >= 1) & (bp <= npb)).sum()),
            fTsumwx=float(px[(bp >= 1) & (bp <= npb)].sum()),
            fTsumwx2=float((px[(bp >= 1) & (bp <= npb)] ** 2).sum()),
            fTsumwy=float(py[(bp >= 1) & (bp <= npb)].sum()),
            fTsumwy2=float((py[(bp >= 1) & (bp <= npb)] ** 2).sum()),
            fSumw2=np.bincount(bp, weights=py * py, minlength=npb + 2).astype(np.float64),
            fBinEntries=np.bincount(bp, minlength=npb + 2).astype(np.float64),
            fBinSumw2=np.zeros(0),  # empty: unweighted profile
            fXaxis=uproot.writing.identify.to_TAxis("xaxis", "", npb, 0.0, 10.0),
            fErrorMode=0,
        )

        # a plain numpy (counts, edges) tuple: uproot's own conversion to TH1D
        f["np_hist"] = np.histogram(rng.exponential(3.0, 1000), bins=100, range=(0.0, 20.0))


# --------------------------------------------------------------------------- uproot -> JSON

ERROR_MODES = {0: "", 1: "s", 2: "i", 3: "g"}


def _flat_root_order(a):
    """uproot's values(flow=True) is indexed [ix, iy]; ROOT's global bin is ix + (nx+2)*iy."""
    return np.asarray(a, dtype=np.float64).flatten(order="F")


def describe_uproot(obj, path, cycle):
    cls = obj.classname
    axes = [{"edges": [_f(e) for e in obj.axis(i).edges()]} for i in range(len(obj.axes))]
    values = [_f(v) for v in _flat_root_order(obj.values(flow=True))]
    is_profile = cls.startswith("TProfile")
    if is_profile:
        variances = None
        error_option = ERROR_MODES[int(obj.member("fErrorMode"))]
        # uproot's errors() defaults to error_mode="" whatever fErrorMode says: pass it explicitly
        errors = [_f(v) for v in _flat_root_order(obj.errors(flow=True, error_mode=error_option))]
        bin_entries = [_f(v) for v in np.asarray(obj.member("fBinEntries"))]
    else:
        sumw2 = np.asarray(obj.member("fSumw2"))
        variances = [_f(v) for v in sumw2] if sumw2.size > 0 else list(values)
        # uproot's own variances(flow=True) must be the same thing
        assert np.array_equal(_flat_root_order(obj.variances(flow=True)), np.array(variances))
        errors = None
        bin_entries = None
        error_option = None
    return {
        "path": path,
        "cycle": int(cycle),
        "class": cls,
        "title": str(obj.member("fTitle")),
        "entries": _f(obj.member("fEntries")),
        "axes": axes,
        "values": values,
        "variances": variances,
        "errors": errors,
        "bin_entries": bin_entries,
        "error_option": error_option,
        "stats": None,
    }


def uproot_json(path):
    objects = []
    with uproot.open(path) as f:
        for key, cls in f.classnames(recursive=True, cycle=True).items():
            if not (cls.startswith("TH1") or cls.startswith("TH2") or cls.startswith("TProfile")):
                continue
            parts = [p.rsplit(";", 1)[0] for p in key.split("/")]
            cycle = int(key.rsplit(";", 1)[1])
            objects.append(describe_uproot(f[key], "/".join(parts), cycle))
        out = {
            "file": os.path.basename(path),
            "writer": UPROOT_WRITER,
            "root_version": int(f.file.fVersion),
            "compression": int(f.file.fCompress),
            "objects": sorted(objects, key=lambda o: (o["path"], o["cycle"])),
        }
    return out


# --------------------------------------------------------------------------- raw key inspection


def key_blocks(path):
    """For every key (recursively): (path;cycle, fObjlen, [(algorithm, compressed, uncompressed)])
    read from the raw bytes; [] means the object is stored uncompressed."""
    res = []
    with open(path, "rb") as raw:
        data = raw.read()
    with uproot.open(path) as f:
        for name in f.keys(recursive=True, cycle=True):
            k = f.key(name)
            start = k.fSeekKey + k.fKeylen
            stored = k.fNbytes - k.fKeylen
            blocks = []
            if stored != k.fObjlen:
                pos, end = start, start + stored
                while pos < end:
                    alg = data[pos : pos + 2].decode("latin1")
                    c = int.from_bytes(data[pos + 3 : pos + 6], "little")
                    u = int.from_bytes(data[pos + 6 : pos + 9], "little")
                    blocks.append((alg, c, u))
                    pos += 9 + c
                assert pos == end and sum(b[2] for b in blocks) == k.fObjlen
            res.append((name, k.fObjlen, blocks))
    return res


# --------------------------------------------------------------------------- cross-checks


def _cmp(a, b, rtol=1e-12, atol=0.0):
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        return "shape %s vs %s" % (a.shape, b.shape)
    bad = ~np.isclose(a, b, rtol=rtol, atol=atol)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        return "%d differ, first at %d: %r vs %r" % (bad.sum(), i, a[i], b[i])
    return None


def check_root_file_with_uproot(path, js):
    problems, notes = [], []
    with uproot.open(path) as f:
        for o in js["objects"]:
            h = f["%s;%d" % (o["path"], o["cycle"])]
            tag = "%s;%d" % (o["path"], o["cycle"])
            if h.classname != o["class"]:
                problems.append("%s class %s" % (tag, h.classname))
            if h.member("fTitle") != o["title"]:
                problems.append("%s title" % tag)
            if float(h.member("fEntries")) != o["entries"]:
                problems.append("%s entries" % tag)
            for i, ax in enumerate(o["axes"]):
                r = _cmp(h.axis(i).edges(), ax["edges"], rtol=0)
                if r:
                    problems.append("%s axis %d: %s" % (tag, i, r))
            exact = not o["class"].startswith("TProfile")
            r = _cmp(_flat_root_order(h.values(flow=True)), o["values"], rtol=0 if exact else 1e-12)
            if r:
                problems.append("%s values: %s" % (tag, r))
            if o["variances"] is not None:
                r = _cmp(_flat_root_order(h.variances(flow=True)), o["variances"], rtol=0)
                if r:
                    problems.append("%s variances: %s" % (tag, r))
            if o["errors"] is not None:
                mode = ERROR_MODES[int(h.member("fErrorMode"))]
                if mode != o["error_option"]:
                    problems.append("%s error mode %r" % (tag, mode))
                e = _flat_root_order(h.errors(flow=True, error_mode=mode))
                r = _cmp(e, o["errors"], rtol=1e-10)
                if r:
                    problems.append("%s profile errors (uproot vs ROOT): %s" % (tag, r))
                r = _cmp(_flat_root_order(h.errors(flow=True)), o["errors"], rtol=1e-10)
                if r:
                    notes.append(
                        "%s: uproot errors() without error_mode=%r (uses ''): %s" % (tag, mode, r)
                    )
                r = _cmp(h.member("fBinEntries"), o["bin_entries"], rtol=0)
                if r:
                    problems.append("%s bin entries: %s" % (tag, r))
    return problems, notes


def check_uproot_file_with_root(path, js):
    problems, notes = [], []
    f = ROOT.TFile.Open(path, "READ")
    for o in js["objects"]:
        tag = "%s;%d" % (o["path"], o["cycle"])
        h = f.Get(tag)
        if not h:
            problems.append("%s: ROOT cannot read it" % tag)
            continue
        ref = describe_root(h, o["path"], o["cycle"], h.ClassName())
        for k in ["class", "title", "entries", "error_option"]:
            if ref[k] != o[k]:
                problems.append("%s %s: %r vs %r" % (tag, k, ref[k], o[k]))
        for i, ax in enumerate(o["axes"]):
            r = _cmp(ref["axes"][i]["edges"], ax["edges"], rtol=0)
            if r:
                problems.append("%s axis %d: %s" % (tag, i, r))
        exact = not o["class"].startswith("TProfile")
        r = _cmp(ref["values"], o["values"], rtol=0 if exact else 1e-12)
        if r:
            problems.append("%s values: %s" % (tag, r))
        if o["variances"] is not None:
            r = _cmp(ref["variances"], o["variances"], rtol=0)
            if r:
                problems.append("%s variances: %s" % (tag, r))
        if o["errors"] is not None:
            r = _cmp(ref["errors"], o["errors"], rtol=1e-10)
            if r:
                problems.append("%s profile errors (ROOT vs uproot): %s" % (tag, r))
            r = _cmp(ref["bin_entries"], o["bin_entries"], rtol=0)
            if r:
                problems.append("%s bin entries: %s" % (tag, r))
    f.Close()
    return problems, notes


# --------------------------------------------------------------------------- main


def main():
    os.makedirs(ROOT640, exist_ok=True)
    os.makedirs(UPWRITTEN, exist_ok=True)
    written = []  # (path, json, kind)

    for name, setting in ROOT_COMPRESSIONS:
        p = os.path.join(ROOT640, "classes-%s.root" % name)
        write_classes_file(p, setting)
        js = root_json(p, setting)
        dump_json(js, p + ".json")
        written.append((p, js, "root"))

    for name, setting in [("zlib", 101), ("zstd", 505)]:
        p = os.path.join(ROOT640, "multiblock-%s.root" % name)
        write_multiblock_file(p, setting)
        js = root_json(p, setting)
        # 2.26 million bins: the plain JSON would be 22.6 MB, xz-compressed it is ~110 kB
        dump_json(js, p + ".json.xz", xz=True)
        written.append((p, js, "root"))

    for name, comp in UPROOT_COMPRESSIONS:
        p = os.path.join(UPWRITTEN, "uproot-%s.root" % name)
        write_uproot_file(p, comp)
        js = uproot_json(p)
        dump_json(js, p + ".json")
        written.append((p, js, "uproot"))

    # ---- cross-checks and summary
    nproblems = 0
    print("%-40s %9s %6s %5s  %s" % ("file", "bytes", "fComp", "objs", "compressed keys (blocks)"))
    for p, js, kind in written:
        blocks = key_blocks(p)
        ncomp = sum(1 for _, _, b in blocks if b)
        multi = ["%s:%d" % (n, len(b)) for n, _, b in blocks if len(b) > 1]
        algs = sorted({a for _, _, b in blocks for a, _, _ in b})
        print(
            "%-40s %9d %6d %5d  %d/%d %s %s"
            % (
                os.path.relpath(p, BASE),
                os.path.getsize(p),
                js["compression"],
                len(js["objects"]),
                ncomp,
                len(blocks),
                ",".join(algs),
                " multi-block: " + " ".join(multi) if multi else "",
            )
        )
        if kind == "root":
            problems, notes = check_root_file_with_uproot(p, js)
        else:
            problems, notes = check_uproot_file_with_root(p, js)
        for n in notes:
            print("    note:", n)
        for pr in problems:
            print("    PROBLEM:", pr)
        nproblems += len(problems)
    if nproblems:
        print("%d disagreements between ROOT and uproot" % nproblems)
        return 1
    print("all files: ROOT and uproot agree on values, variances, bin entries, axes, titles, entries")
    return 0


if __name__ == "__main__":
    sys.exit(main())
