"""TTrees written by C++ ROOT 6.40 (PyPI `root` 0.1a12) for gm2dqc's tree writer and reader.

Run from the repository root: python3 data-fixtures/generate/make_trees.py
Entry i of the branch unixTimeRecv/D is 1617000000 + 0.1 * i.
- trees/tree-ref.root: 5 entries, uncompressed (one basket): the layout the writer copies.
- trees/tree-zstd.root: 10000 entries, ZSTD (505): three 32000-byte baskets.
- trees/tree-u32-ref.root: `interval` with one branch run/i (UInt_t) of 2 entries, 15921
  and 15922, uncompressed: the layout of the merged files' run-number trees.
"""
import array

import ROOT


def write(path, entries, compression):
    f = ROOT.TFile(path, "RECREATE", "", compression)
    t = ROOT.TTree("timeTree", "timeTree")
    x = array.array("d", [0.0])
    t.Branch("unixTimeRecv", x, "unixTimeRecv/D")
    for i in range(entries):
        x[0] = 1617000000.0 + 0.1 * i
        t.Fill()
    t.Write()
    f.Close()


write("data-fixtures/trees/tree-ref.root", 5, 0)
write("data-fixtures/trees/tree-zstd.root", 10000, 505)


def write_u32(path):
    f = ROOT.TFile(path, "RECREATE", "", 0)
    t = ROOT.TTree("interval", "interval")
    v = array.array("I", [0])
    t.Branch("run", v, "run/i")
    for x in [15921, 15922]:
        v[0] = x
        t.Fill()
    t.Write()
    f.Close()


write_u32("data-fixtures/trees/tree-u32-ref.root")
