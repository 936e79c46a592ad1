import ROOT, array, sys
f = ROOT.TFile("data-fixtures/trees/tree-ref.root", "RECREATE", "", 0)
t = ROOT.TTree("timeTree", "timeTree")
x = array.array('d', [0.0])
t.Branch("unixTimeRecv", x, "unixTimeRecv/D")
for i in range(5):
    x[0] = 1617000000.0 + 0.1 * i
    t.Fill()
t.Write()
f.Close()
