#!/usr/bin/env bash
# Side by side: gm2dqc and the same pipeline in Python (uproot, numpy, iminuit from PyPI)
# on one simulated dataset; checks both give the same numbers and prints the speed ratio.
# Then the scaling of the full pipeline (gm2dqc run) with the thread count.
#
#   bash benches/compare/run.sh [RUNS SUBRUNS]      (default 2 runs x 8 subruns)
#
# Environment: GM2DQC_PYENV (the venv, default target/pyenv, created from
# tests/crosscheck/requirements.txt), THREADS (thread counts for the scaling, default
# "1 2"; on a bigger machine e.g. "1 2 4 8 16"), PY_PROCESSES (also time the Python
# side with this many reader processes, default 2), KEEP=1 keeps the work directory.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
RUNS="${1:-2}"
SUBRUNS="${2:-8}"
PYENV="${GM2DQC_PYENV:-$REPO/target/pyenv}"
THREADS="${THREADS:-1 2}"
PY_PROCESSES="${PY_PROCESSES:-2}"
cd "$REPO"

if [ ! -x "$PYENV/bin/python" ]; then
    "${PYTHON:-python3}" -m venv "$PYENV"
fi
"$PYENV/bin/python" -m pip install -q -r tests/crosscheck/requirements.txt

cargo build --release --locked -q
BIN="${CARGO_TARGET_DIR:-$REPO/target}/release/gm2dqc"
case "$BIN" in /*) ;; *) BIN="$REPO/$BIN" ;; esac
WORK="$(mktemp -d "${TMPDIR:-/tmp}/gm2dqc-compare.XXXXXX")"
[[ "${KEEP:-0}" == 1 ]] || trap 'rm -rf "$WORK"' EXIT

"$BIN" -q simulate --out "$WORK/data" --runs "$RUNS" --subruns "$SUBRUNS" --seed 11
MB=$(du -sm "$WORK/data" | cut -f1)
FILES=$(ls "$WORK/data"/*.root | wc -l)
echo "dataset: $RUNS runs x $SUBRUNS subruns, $FILES files, $MB MB (zstd), standard faults"

# The median wall time of 3 runs of a command, in seconds.
median3() {
    local ts=()
    for _ in 1 2 3; do
        local t0 t1
        t0=$(date +%s.%N)
        "$@" >/dev/null
        t1=$(date +%s.%N)
        ts+=("$(echo "$t1 - $t0" | bc -l)")
    done
    printf '%s\n' "${ts[@]}" | sort -g | sed -n 2p
}

echo
echo "== gm2dqc analyze (metrics, merge, gains, fits, cuts; tables written)"
declare -A T
for n in $THREADS; do
    T[$n]=$(median3 "$BIN" -q analyze --input "$WORK/data" --out "$WORK/out-$n" --threads "$n")
    printf '  %2s threads: %7.2f s  (%.1f files/s, %.0f channels/s)\n' "$n" "${T[$n]}" "$(echo "$FILES / ${T[$n]}" | bc -l)" "$(echo "$FILES * 3344 / ${T[$n]}" | bc -l)"
done
first=$(echo "$THREADS" | awk '{print $1}')
for n in $THREADS; do
    printf '  speed-up %2s threads: %.2fx\n' "$n" "$(echo "${T[$first]} / ${T[$n]}" | bc -l)"
done

echo
echo "== the full job (gm2dqc run: analysis, plots, report, upload to SQLite)"
for n in $THREADS; do
    rm -rf "$WORK/run-$n"
    t0=$(date +%s.%N)
    "$BIN" -q run --input "$WORK/data" --out "$WORK/run-$n" --threads "$n"
    t1=$(date +%s.%N)
    printf '  %2s threads: %7.2f s\n' "$n" "$(echo "$t1 - $t0" | bc -l)"
done

echo
echo "== python, 1 process (same dataset; numbers checked against gm2dqc's tables)"
"$PYENV/bin/python" "$HERE/pipeline.py" --data "$WORK/data" --gm2dqc-out "$WORK/out-$first" --json "$WORK/py1.json"
PY1=$("$PYENV/bin/python" -c "import json;print(json.load(open('$WORK/py1.json'))['seconds'])")
if [[ "$PY_PROCESSES" -gt 1 ]]; then
    echo
    echo "== python, $PY_PROCESSES reader processes"
    "$PYENV/bin/python" "$HERE/pipeline.py" --data "$WORK/data" --gm2dqc-out "$WORK/out-$first" --processes "$PY_PROCESSES" --json "$WORK/pyN.json"
fi
echo
printf 'speed ratio, 1 thread vs 1 python process: %.0fx (gm2dqc %.2f s, python %.1f s)\n' "$(echo "$PY1 / ${T[$first]}" | bc -l)" "${T[$first]}" "$PY1"
