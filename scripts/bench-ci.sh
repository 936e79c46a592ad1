#!/usr/bin/env bash
# Instruction counts of the three stages (benches/instructions.rs) under valgrind's
# callgrind, compared with the committed baseline benches/instructions-baseline.json.
#
#   bash scripts/bench-ci.sh            # measure, print counts and ratios; exit 1 when
#                                       # a count grew by more than 5 % over the baseline
#   bash scripts/bench-ci.sh --bless    # measure and write the baseline (commit it with
#                                       # the change that explains the new counts)
#
# Counts are instructions executed inside the stage's `measured_*` function
# (--toggle-collect), in the bench (release) profile on one thread: the same binary
# and inputs give the same count whatever else the machine is doing, so CI can gate
# on them where wall-clock times on a shared 2-core machine cannot. A count that
# fell by more than 5 % is reported too (bless it to keep the gain).
set -euo pipefail
cd "$(dirname "$0")/.."
BASELINE=benches/instructions-baseline.json
TOLERANCE=0.05
bless=0
[[ "${1:-}" == "--bless" ]] && bless=1

command -v valgrind >/dev/null || { echo "bench-ci: valgrind is not installed (Debian: apt-get install valgrind)" >&2; exit 2; }
echo "== building benches/instructions.rs (bench profile)"
bin="$(cargo bench --locked --bench instructions --no-run --message-format=json \
    | python3 -c 'import json,sys
for l in sys.stdin:
    m = json.loads(l)
    if m.get("reason") == "compiler-artifact" and m["target"]["name"] == "instructions" and m.get("executable"):
        print(m["executable"])')"
[[ -x "$bin" ]] || { echo "bench-ci: could not build the instructions bench" >&2; exit 2; }

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
declare -A counts
for stage in read subrun interval; do
    valgrind --tool=callgrind --callgrind-out-file="$tmp/cg.$stage" --collect-atstart=no \
        --toggle-collect="*measured_${stage}*" "$bin" "$stage" >"$tmp/out.$stage" 2>"$tmp/err.$stage" \
        || { cat "$tmp/err.$stage" >&2; echo "bench-ci: $stage failed under valgrind" >&2; exit 2; }
    n="$(grep -E '^==[0-9]+== Collected : [0-9]+' "$tmp/err.$stage" | awk '{print $4}')"
    [[ -n "$n" && "$n" -gt 0 ]] || { cat "$tmp/err.$stage" >&2; echo "bench-ci: no count for $stage (is the symbol measured_$stage in the binary?)" >&2; exit 2; }
    counts[$stage]=$n
done

python3 - "$BASELINE" "$TOLERANCE" "$bless" "${counts[read]}" "${counts[subrun]}" "${counts[interval]}" <<'PY'
import json, sys
path, tol, bless = sys.argv[1], float(sys.argv[2]), sys.argv[3] == "1"
now = dict(zip(["read", "subrun", "interval"], map(int, sys.argv[4:7])))
what = {"read": "read one subrun file (every object)", "subrun": "per-subrun stage (metrics, status, partial sums)", "interval": "interval stage (merge + 1296 fits)"}
if bless:
    json.dump({"note": "instructions inside measured_<stage> (scripts/bench-ci.sh); update with --bless", "counts": now}, open(path, "w"), indent=2)
    open(path, "a").write("\n")
    for k, v in now.items():
        print(f"{what[k]:<52} {v:>15,d} instructions (baseline written)")
    sys.exit(0)
try:
    base = json.load(open(path))["counts"]
except FileNotFoundError:
    print(f"bench-ci: no baseline {path}; run with --bless and commit it", file=sys.stderr)
    sys.exit(1)
bad = []
for k, v in now.items():
    b = base.get(k)
    ratio = v / b if b else float("inf")
    flag = ""
    if ratio > 1 + tol:
        flag = f"  REGRESSION (> +{tol:.0%})"
        bad.append(k)
    elif ratio < 1 - tol:
        flag = f"  faster (< -{tol:.0%}): bless to keep it"
    print(f"{what[k]:<52} {v:>15,d} instructions, baseline {b:>15,d}: {ratio:.4f}x{flag}")
if bad:
    print(f"bench-ci: {', '.join(bad)} grew by more than {tol:.0%}; if intended, run `bash scripts/bench-ci.sh --bless` and commit {path}", file=sys.stderr)
    sys.exit(1)
PY
