#!/usr/bin/env python3
"""Opens check.html in headless Chromium and checks that every plot is drawn.

    eval "$(bash scripts/browser.sh)"
    python3 tests/browser/jsroot_check/run_check.py --data DIR [--jsroot DIR] [--shots DIR]

DIR holds gm2dqc-demo/ (from `gm2dqc demo`) and sim-{zlib,lz4,lzma,none}/ (from
`gm2dqc simulate --runs 1 --subruns 1 --compression C`). The page is served twice,
once by a server with multipart ranges and once by one that refuses them (416, as a
single-range server does), so JSROOT's fallback is exercised too. Checks: an <svg>
in each plot div, the expected errors shown as text, no JS error in the console, a
click on a calorimeter-map bin reports the right crystal. Writes screenshots and
the list of JSROOT files the browser fetched (jsroot_files.txt) to --shots.
"""
import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time

from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(os.path.dirname(HERE)))
PLOTS = ["infill", "energy", "drift", "projection", "calomap", "pedmap", "c-zstd", "c-zlib", "c-lz4", "c-lzma", "c-none"]
ERRORS = {"e-file": "cannot open", "e-object": "noSuchThing", "e-notroot": "cannot open"}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(args, log, single):
    port = free_port()
    cmd = [sys.executable, os.path.join(HERE, "range_server.py"), "--port", str(port), "--log", log,
           "--mount", f"/assets={os.path.join(REPO, 'assets')}", "--mount", f"/files/d={args.data}", "--mount", f"/check={HERE}"]
    if args.jsroot:
        cmd += ["--mount", f"/assets/jsroot={args.jsroot}"]
    if single:
        cmd.append("--single-range")
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    p.stdout.readline()  # "serving on ..."
    return p, port


def browser():
    o = Options()
    o.binary_location = os.environ.get("GM2DQC_CHROMIUM", "/usr/bin/chromium")
    for a in ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1400,2200"]:
        o.add_argument(a)
    o.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service(os.environ.get("GM2DQC_CHROMEDRIVER", "/usr/bin/chromedriver")), options=o)


def click_bin(d, div, binx, biny):
    """Clicks the centre of bin (binx, biny) of the TH2 drawn in `div`; returns what the page recorded."""
    pos = d.execute_script("""
        const p = window.__mapPainter, fp = p.getFramePainter(), h = p.getObject();
        const x = h.fXaxis.fXmin + (arguments[0] - 0.5) * (h.fXaxis.fXmax - h.fXaxis.fXmin) / h.fXaxis.fNbins;
        const y = h.fYaxis.fXmin + (arguments[1] - 0.5) * (h.fYaxis.fXmax - h.fYaxis.fXmin) / h.fYaxis.fNbins;
        const svg = document.getElementById(arguments[2]).querySelector('svg'), r = svg.getBoundingClientRect();
        return { dx: fp.getFrameX() + fp.grx(x) - r.width / 2, dy: fp.getFrameY() + fp.gry(y) - r.height / 2 };
    """, binx, biny, div)
    svg = d.find_element(By.CSS_SELECTOR, f"#{div} svg")
    n = d.execute_script("return window.__clicks.length")
    ActionChains(d).move_to_element_with_offset(svg, int(pos["dx"]), int(pos["dy"])).click().perform()
    for _ in range(50):
        if d.execute_script("return window.__clicks.length") > n:
            break
        time.sleep(0.1)
    return d.execute_script("return window.__clicks.slice(arguments[0])", n)


def run_page(args, port, tag, failures):
    d = browser()
    try:
        d.get(f"http://127.0.0.1:{port}/check/check.html")
        for _ in range(600):
            if d.execute_script("return window.__done === true"):
                break
            time.sleep(0.1)
        else:
            failures.append(f"{tag}: page did not finish")
        res = d.execute_script("return window.__results") or {}
        print(f"[{tag}] results:", json.dumps(res, indent=1))
        for name in PLOTS:
            r = res.get(name, {})
            if not (r.get("ok") and r.get("svg", 0) >= 1 and not r.get("error")):
                failures.append(f"{tag}: {name}: {r}")
        for name, text in ERRORS.items():
            r = res.get(name, {})
            shown = d.find_element(By.ID, name).text
            if r.get("ok") or text not in (r.get("error") or "") or text not in shown:
                failures.append(f"{tag}: {name}: expected an error with {text!r}, got {r}, text {shown!r}")
        # calo 1 (top left), crystal row 0 (top) column 0: bin (1, 24); calo 8 crystal 9*2+3 = 21: second row of calos, column 2
        for (bx, by), want in [((1, 24), (1, 0)), ((9 + 4, 24 - 6 - 2), (8, 21))]:
            got = click_bin(d, "calomap", bx, by)
            if not got or (got[-1].get("calo"), got[-1].get("xtal")) != want:
                failures.append(f"{tag}: click on bin {(bx, by)}: expected calo/xtal {want}, got {got}")
            else:
                print(f"[{tag}] click on bin {(bx, by)} -> {got[-1]}")
        os.makedirs(args.shots, exist_ok=True)
        d.save_screenshot(os.path.join(args.shots, f"page-{tag}.png"))
        for name in PLOTS[:6]:
            d.find_element(By.ID, name).screenshot(os.path.join(args.shots, f"{tag}-{name}.png"))
        logs = d.get_log("browser")
        for entry in logs:
            print(f"[{tag}] console {entry['level']}: {entry['message']}")
            msg = entry["message"]
            expected = any(s in msg for s in ["hist.js: e-", "nope.root", "tracker/noSuchThing", "check.html", "hist.js: tracker/noSuchThing", "hist.js: x:"])
            # A single-range server refuses JSROOT's first multi-range request per file (416); JSROOT then reads range by range.
            expected = expected or (tag == "singlerange" and "status of 416" in msg)
            if entry["level"] == "SEVERE" and not expected:
                failures.append(f"{tag}: console error: {msg}")
    finally:
        d.quit()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True)
    ap.add_argument("--jsroot", help="serve JSROOT from this directory instead of assets/jsroot")
    ap.add_argument("--shots", default="/var/tmp/jsroot-shots")
    args = ap.parse_args()
    args.data = os.path.abspath(args.data)
    os.makedirs(args.shots, exist_ok=True)
    failures, logs = [], []
    for tag, single in [("multirange", False), ("singlerange", True)]:
        log = os.path.join(tempfile.mkdtemp(), "requests.jsonl")
        logs.append(log)
        srv, port = start_server(args, log, single)
        try:
            run_page(args, port, tag, failures)
        finally:
            srv.terminate()
            srv.wait()
    fetched, missing = set(), set()
    for log in logs:
        for line in open(log):
            r = json.loads(line)
            path = r["path"].split("?")[0]
            if path.startswith("/assets/"):
                (fetched if r["status"] < 400 else missing).add(path)
            if r["status"] == 404 and not path.endswith("nope.root"):
                missing.add(path)
    with open(os.path.join(args.shots, "jsroot_files.txt"), "w") as f:
        f.write("\n".join(sorted(fetched)) + "\n")
    print("assets fetched:", len(fetched), "missing:", sorted(missing))
    if missing:
        failures.append(f"404s: {sorted(missing)}")
    if failures:
        print("FAILED:\n  " + "\n  ".join(failures))
        sys.exit(1)
    print("OK")


if __name__ == "__main__":
    main()
