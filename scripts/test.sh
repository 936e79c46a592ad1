#!/usr/bin/env bash
# The project's test command (README "Run the tests"; .ci/run calls this too).
#
# 1. cargo test: unit tests, and the integration tests over the ROOT fixtures
#    (files written by C++ ROOT 5.28-6.40 and uproot, expected numbers computed by
#    them), damaged-file tests and a time-bounded mutation run (GM2DQC_FUZZ_SECONDS).
# 2. The benches and examples compile (they are not run: speed is measured by
#    `cargo bench`, never by tests), and the instruction counts of the three stages
#    under valgrind (scripts/bench-ci.sh, a release build) stay within 5 % of the
#    committed baseline. GM2DQC_SKIP_INSTRUCTIONS=1 skips that (no valgrind).
# 3. The cross-check with independent implementations: uproot and C++ ROOT (both
#    installed from PyPI into a virtual environment) read the files gm2dqc writes,
#    and gm2dqc reads the files they write, including a > 2 GiB file.
#    GM2DQC_SKIP_CROSSCHECK=1 skips it (no network); GM2DQC_SKIP_LARGE=1 skips the
#    2 GiB file.
# 4. The web application in a real browser (tests/browser/test_web.py: headless
#    Chromium over WebDriver, selenium in a venv at ${GM2DQC_PYENV:-target/pyenv}-browser)
#    with the debug binary; screenshots in ${GM2DQC_ARTEFACTS:-target/browser-artefacts}.
#    GM2DQC_SKIP_BROWSER=1 skips it; without Chromium it skips with a message, unless
#    CI=true, where that fails.
# The database tests run on SQLite and on a throwaway PostgreSQL server started here
# (scripts/pg.sh, Debian's postgresql-15) and stopped at exit. Without the server the
# PostgreSQL half is skipped with a message, unless CI=true (.ci/run), where it fails.
# The campaign tests submit job arrays to a throwaway single-node Slurm cluster
# started here (scripts/slurm.sh: Debian's slurm-wlm and munge, installed if missing;
# needs root) and stopped at exit; without it the Slurm tests skip with a message,
# unless CI=true. GM2DQC_SKIP_SLURM=1 does not start it. The disk-full tests get a
# 48 MB tmpfs mounted here (GM2DQC_TEST_SMALLFS; needs root, required with CI=true).
set -euo pipefail
cd "$(dirname "$0")/.."

cleanup=()
trap 'for c in "${cleanup[@]}"; do eval "$c"; done' EXIT
if [[ -z "${GM2DQC_TEST_PG_HOST:-}" ]]; then
    if pg_env="$(bash scripts/pg.sh start)"; then
        eval "$pg_env"
        cleanup+=('bash scripts/pg.sh stop "$GM2DQC_TEST_PG_DIR"')
        echo "== PostgreSQL test server at $GM2DQC_TEST_PG_HOST (port $GM2DQC_TEST_PG_PORT)"
    else
        echo "== no PostgreSQL test server (see above)"
    fi
fi
if [[ -z "${SLURM_CONF:-}" && "${GM2DQC_SKIP_SLURM:-0}" != 1 ]]; then
    if slurm_env="$(bash scripts/slurm.sh start)"; then
        eval "$slurm_env"
        cleanup+=('bash scripts/slurm.sh stop "$GM2DQC_TEST_SLURM_DIR"')
        echo "== Slurm test cluster: $SLURM_CONF"
    else
        echo "== no Slurm test cluster (see above)"
    fi
fi

# The disk-full tests write their output on a small filesystem of their own (a
# tmpfs, mounted here as root; without it they skip with a message, unless CI=true).
if [[ -z "${GM2DQC_TEST_SMALLFS:-}" ]]; then
    smallfs="$(mktemp -d /tmp/gm2dqc-smallfs.XXXXXX)"
    if mount -t tmpfs -o size=48m,mode=0777 gm2dqc-smallfs "$smallfs" 2>/dev/null; then
        export GM2DQC_TEST_SMALLFS="$smallfs"
        cleanup+=('umount "$GM2DQC_TEST_SMALLFS"; rmdir "$GM2DQC_TEST_SMALLFS"')
        echo "== small filesystem for the disk-full tests: $smallfs (tmpfs, 48 MB)"
    else
        rmdir "$smallfs"
        echo "== no small filesystem (mounting a tmpfs needs root); the disk-full tests skip"
    fi
fi

export GM2DQC_FUZZ_SECONDS="${GM2DQC_FUZZ_SECONDS:-20}"
echo "== cargo test"
cargo test --locked
echo "== benches and examples compile"
cargo build --locked --benches --examples
if [[ "${GM2DQC_SKIP_INSTRUCTIONS:-0}" != 1 ]]; then
    echo "== instruction counts against benches/instructions-baseline.json (scripts/bench-ci.sh)"
    bash scripts/bench-ci.sh
fi
if [[ "${GM2DQC_SKIP_CROSSCHECK:-0}" != 1 ]]; then
    echo "== cross-check with uproot and C++ ROOT"
    extra=()
    [[ "${GM2DQC_SKIP_LARGE:-0}" == 1 ]] && extra+=(--skip-large)
    bash tests/crosscheck/run.sh "${extra[@]}"
fi
if [[ "${GM2DQC_SKIP_BROWSER:-0}" != 1 ]]; then
    echo "== the web application in headless Chromium (tests/browser/test_web.py)"
    if browser_env="$(bash scripts/browser.sh)"; then
        eval "$browser_env"
        target="${CARGO_TARGET_DIR:-target}"
        case "$target" in /*) ;; *) target="$PWD/$target" ;; esac
        benv="${GM2DQC_PYENV:-$PWD/target/pyenv}-browser"
        [[ -x "$benv/bin/python" ]] || "${PYTHON:-python3}" -m venv "$benv"
        stamp="$benv/.gm2dqc-browser-requirements.sha256"
        hash="$(sha256sum tests/browser/requirements.txt | cut -d' ' -f1)"
        if [[ "$(cat "$stamp" 2>/dev/null || true)" != "$hash" ]]; then
            "$benv/bin/python" -m pip install --quiet --disable-pip-version-check -r tests/browser/requirements.txt
            echo "$hash" >"$stamp"
        fi
        cargo build --locked --bins
        "$benv/bin/python" tests/browser/test_web.py --gm2dqc "$target/debug/gm2dqc" --artefacts "${GM2DQC_ARTEFACTS:-target/browser-artefacts}"
    elif [[ "${CI:-}" == true ]]; then
        echo "== FAIL: no Chromium/chromedriver for the browser tests (see above); CI=true needs them" >&2
        exit 1
    else
        echo "== no Chromium/chromedriver (see above): the browser tests skip (GM2DQC_SKIP_BROWSER=1 silences this)"
    fi
fi
