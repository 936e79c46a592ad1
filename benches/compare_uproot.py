"""Side-by-side read speed: gm2dqc against uproot and against the decompression floor.

Runs the Rust bench (benches/root_read.rs), which writes one subrun file of the
production layout per compression to target/bench-data/ and times, on one thread,
(a) only fetching and decompressing every payload (the floor) and (b) reading every
object into a histogram. Then times uproot reading the same files the way a
physicist would: open the file, and `values()` of every histogram and profile.

    python3 benches/compare_uproot.py            # needs uproot and numpy (pip)

Targets (issue 2): gm2dqc >= 20x uproot on one thread, and within 1.5x of the floor.
"""
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

import uproot

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CLASSES = ("TH1", "TH2", "TProfile")


def time_uproot(path, reps):
    times = []
    n = 0
    for _ in range(reps):
        t0 = time.perf_counter()
        with uproot.open(path) as f:
            n = 0
            for key, cls in f.classnames(cycle=False).items():
                if cls.startswith(CLASSES):
                    f[key].values()
                    n += 1
        times.append(time.perf_counter() - t0)
    return statistics.median(times), n


def main():
    reps = int(os.environ.get("REPS", "3"))
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "rust.json")
        subprocess.run(
            ["cargo", "bench", "--bench", "root_read", "--", "--json", out],
            cwd=REPO,
            check=True,
        )
        rust = json.load(open(out))
    print()
    print(f"{'comp':<6} {'objects':>8} {'uproot obj/s':>13} {'gm2dqc obj/s':>13} {'x uproot':>9} {'floor obj/s':>12} {'read/floor':>10}")
    ok = True
    for r in rust:
        t_up, n = time_uproot(r["file"], reps)
        assert n == r["objects"], f"uproot saw {n} histograms, gm2dqc {r['objects']}"
        up = n / t_up
        ours = r["objects"] / r["read_s"]
        floor = r["objects"] / r["floor_s"]
        ratio = r["read_s"] / r["floor_s"]
        print(f"{r['compression']:<6} {n:>8} {up:>13.0f} {ours:>13.0f} {ours / up:>9.1f} {floor:>12.0f} {ratio:>10.2f}")
        if ours / up < 20:
            ok = False
    print()
    print("uproot", uproot.__version__, "| python", sys.version.split()[0], "| one thread each")
    print("target >= 20x uproot:", "met" if ok else "NOT met")


if __name__ == "__main__":
    main()
