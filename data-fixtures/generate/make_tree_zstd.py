"""A TTree written by C++ ROOT 6.40 with ZSTD and several baskets, for gm2dqc's tree reader.
Entry i of unixTimeRecv is 1617000000 + 0.1 * i; 10000 entries fill three 32000-byte baskets."""
import array
import ROOT

f = ROOT.TFile("data-fixtures/trees/tree-zstd.root", "RECREATE", "", 505)
t = ROOT.TTree("timeTree", "timeTree")
x = array.array("d", [0.0])
t.Branch("unixTimeRecv", x, "unixTimeRecv/D")
for i in range(10000):
    x[0] = 1617000000.0 + 0.1 * i
    t.Fill()
t.Write()
f.Close()
