#!/usr/bin/env bash
# Headless Chromium and its WebDriver for the browser tests.
#
#   eval "$(bash scripts/browser.sh)"   # prints the exports GM2DQC_CHROMIUM/GM2DQC_CHROMEDRIVER
#   python3 -m venv VENV && VENV/bin/pip install -r tests/browser/requirements.txt
#
# Uses `chromium` and `chromedriver` from PATH (or GM2DQC_CHROMIUM / GM2DQC_CHROMEDRIVER
# when already set). When either is missing it installs Debian's chromium and
# chromium-driver with apt-get, which needs root; without root it says so and exits 2.
set -euo pipefail
find_bin() { command -v "$1" 2>/dev/null || true; }
chromium="${GM2DQC_CHROMIUM:-$(find_bin chromium)}"
driver="${GM2DQC_CHROMEDRIVER:-$(find_bin chromedriver)}"
if [ ! -x "$chromium" ] || [ ! -x "$driver" ]; then
    if [ "$(id -u)" != 0 ]; then
        echo "browser.sh: chromium or chromedriver missing and not root: install Debian's chromium and chromium-driver (apt-get install -y chromium chromium-driver), or set GM2DQC_CHROMIUM and GM2DQC_CHROMEDRIVER" >&2
        exit 2
    fi
    echo "browser.sh: installing chromium and chromium-driver with apt-get" >&2
    { apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium chromium-driver; } >&2 \
        || { echo "browser.sh: apt-get could not install chromium chromium-driver" >&2; exit 2; }
    chromium="$(find_bin chromium)"
    driver="$(find_bin chromedriver)"
    [ -x "$chromium" ] && [ -x "$driver" ] || { echo "browser.sh: chromium or chromedriver still missing after apt-get" >&2; exit 2; }
fi
# Both must run (the Debian chromium wrapper prints a harmless shell warning on some hosts).
"$chromium" --version >/dev/null 2>&1 || { echo "browser.sh: $chromium --version failed" >&2; exit 2; }
"$driver" --version >/dev/null 2>&1 || { echo "browser.sh: $driver --version failed" >&2; exit 2; }
echo "export GM2DQC_CHROMIUM=$chromium GM2DQC_CHROMEDRIVER=$driver"
