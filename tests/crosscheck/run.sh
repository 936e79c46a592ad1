#!/usr/bin/env bash
# Cross-check gm2dqc's ROOT writer and reader against uproot and C++ ROOT (see crosscheck.py).
#
#   tests/crosscheck/run.sh [--skip-large]      (extra arguments go to crosscheck.py)
#
# Creates or reuses a venv at ${GM2DQC_PYENV:-<repo>/target/pyenv} with requirements.txt
# (re-installed only when requirements.txt changes: a stamp file in the venv holds its hash),
# builds gm2dqc (dev profile; CARGO_TARGET_DIR respected), writes the sample files with
# `cargo run --example write_sample` into a temporary directory, runs crosscheck.py and
# removes the temporary directory (which also holds the > 2 GiB file of part e: set TMPDIR
# to put it on a disk with ~2.5 GB free). PYTHON chooses the python3 that creates the venv.
# Then check_simulation.py checks `gm2dqc simulate` against its truth.json (~3 min, ~210 MB
# in the temporary directory), and check_analysis.py checks `gm2dqc analyze` against uproot,
# numpy and iminuit on a simulated dataset (~2 min, ~200 MB), and check_htcondor.py reads the
# HTCondor files of `gm2dqc plan` with HTCondor's own parser and runs them as expanded (~1 min).
# The exit status is non-zero when any of the four scripts failed.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
PYENV="${GM2DQC_PYENV:-$REPO/target/pyenv}"
TARGET="${CARGO_TARGET_DIR:-$REPO/target}"
case "$TARGET" in /*) ;; *) TARGET="$REPO/$TARGET" ;; esac
REQ="$HERE/requirements.txt"

# --- Python environment
if [ ! -x "$PYENV/bin/python" ]; then
    echo "run.sh: creating venv $PYENV"
    "${PYTHON:-python3}" -m venv "$PYENV"
fi
STAMP="$PYENV/.gm2dqc-crosscheck-requirements.sha256"
HASH="$(sha256sum "$REQ" | cut -d' ' -f1)"
if [ "$(cat "$STAMP" 2>/dev/null || true)" != "$HASH" ]; then
    echo "run.sh: installing $REQ into $PYENV"
    "$PYENV/bin/python" -m pip install --quiet --disable-pip-version-check -r "$REQ"
    echo "$HASH" >"$STAMP"
else
    echo "run.sh: reusing $PYENV (requirements unchanged)"
fi

# --- build
echo "run.sh: cargo build --examples --bins"
(cd "$REPO" && cargo build --quiet --examples --bins)
BIN="$TARGET/debug/gm2dqc"
[ -x "$BIN" ] || { echo "run.sh: no binary at $BIN" >&2; exit 2; }

# --- scratch space, removed on any exit
TMP="$(mktemp -d "${TMPDIR:-/tmp}/gm2dqc-crosscheck.XXXXXX")"
cleanup() { rm -rf "$TMP"; }
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

echo "run.sh: cargo run --example write_sample -- $TMP/sample"
(cd "$REPO" && cargo run --quiet --example write_sample -- "$TMP/sample")

status=0
"$PYENV/bin/python" "$HERE/crosscheck.py" --bin "$BIN" --sample-dir "$TMP/sample" --work "$TMP/work" "$@" || status=$?
echo
echo "run.sh: check_simulation.py (gm2dqc simulate vs its truth.json)"
"$PYENV/bin/python" "$HERE/check_simulation.py" --bin "$BIN" --work "$TMP/simcheck" || { rc=$?; [ "$status" -ne 0 ] || status=$rc; }
echo
echo "run.sh: check_analysis.py (gm2dqc analyze vs uproot, numpy and iminuit)"
"$PYENV/bin/python" "$HERE/check_analysis.py" --bin "$BIN" --work "$TMP/analysischeck" || { rc=$?; [ "$status" -ne 0 ] || status=$rc; }
echo
echo "run.sh: check_htcondor.py (the campaign's HTCondor files, parsed by HTCondor, run as expanded)"
"$PYENV/bin/python" "$HERE/check_htcondor.py" --bin "$BIN" --work "$TMP/htcondor" || { rc=$?; [ "$status" -ne 0 ] || status=$rc; }
if [ "$status" -eq 0 ]; then
    echo "run.sh: crosscheck.py, check_simulation.py, check_analysis.py and check_htcondor.py passed"
else
    echo "run.sh: FAILED (exit $status): see the FAIL lines above" >&2
fi
exit "$status"
