#!/usr/bin/env python3
"""Real-browser tests of `gm2dqc serve` (headless Chromium over WebDriver).

    eval "$(bash scripts/browser.sh)"
    python3 tests/browser/test_web.py --gm2dqc target/debug/gm2dqc --artefacts DIR [--keep]

Builds its own fixture: `gm2dqc demo --dir TMP` (the simulator's truth in
TMP/data/truth.json), five accounts (two shifters, two experts, a reader) and
`gm2dqc serve` on a free port. Then, in up to three browser instances signed in at
/login:

  board-live      two sessions edit the board; each sees the other's change in < 2 s
                  without reloading (the page polls /api/board/version)
  dialog-twice    a cell opened twice at once (a double click) shows its history once
  held-note       Held without a note is refused: the server's message in the dialog,
                  the cell unchanged
  signoff         g2 layout: `delivered` set Done by the expert who set dqc and plots
                  (Subrun DQC) Done is refused with the server's message; a shifter
                  cannot; a second expert can
  xss-note        a note with <script> and <img onerror> is shown as text (tooltip,
                  history); window.__pwned stays undefined in both sessions
  dataset-bad     "only bad subruns" lists exactly truth.json's bad subruns with every
                  reason text; without the filter the failing subruns come first
  crystal-click   a click on a hot crystal of merge/xtalHits opens its page, where
                  JSROOT draws the in-fill profile with the fit curve and the energy
                  spectrum with the reference overlay
  cuts-tune       a changed bound lists the subruns `gm2dqc cuts diff --json` lists;
                  saving shows the file's SHA-256; saving the same name is refused
  db-down         the SQLite file renamed away: the board shows the banner; renamed
                  back: the banner goes and the board updates
  console         no JS error on any page besides the refusals triggered on purpose

Screenshots of every page go to --artefacts. Exit status 1 when any check failed.
"""
import argparse
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
import urllib.error
import urllib.request

from selenium import webdriver
from selenium.common.exceptions import TimeoutException
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select, WebDriverWait

DATASET = "demo"
XSS = '<script>window.__pwned=1</script><img src=x onerror="window.__pwned=2">'


class Fail(AssertionError):
    pass


def need(cond, msg):
    if not cond:
        raise Fail(msg)


class Fixture:
    def __init__(self, args):
        self.bin = os.path.abspath(args.gm2dqc)
        self.art = os.path.abspath(args.artefacts)
        os.makedirs(self.art, exist_ok=True)
        self.tmp = tempfile.mkdtemp(prefix="gm2dqc-web-")
        self.demo = os.path.join(self.tmp, "demo")
        self.out = os.path.join(self.demo, "out")
        self.db = os.path.join(self.out, "conditions.sqlite")
        self.cut_dir = os.path.join(self.tmp, "cuts-saved")
        self.server = None
        self.tokens = {}

    def run(self, *a, **kw):
        return subprocess.run([self.bin, *a], check=True, capture_output=True, text=True, **kw)

    def build(self):
        t = time.time()
        self.run("demo", "--dir", self.demo)
        print(f"   fixture: gm2dqc demo in {time.time() - t:.1f} s ({self.demo})")
        for name, role in [("shifter1", "shifter"), ("shifter2", "shifter"), ("expert1", "expert"), ("expert2", "expert"), ("reader1", "reader")]:
            out = self.run("serve", "user", "add", name, "--role", role, "--db", self.db).stdout
            tok = [l.strip() for l in out.splitlines() if l.strip().startswith("gm2.")]
            need(len(tok) == 1, f"no token in the output of `serve user add {name}`: {out!r}")
            self.tokens[name] = tok[0]
        log = open(os.path.join(self.art, "serve.log"), "w")
        self.server = subprocess.Popen([self.bin, "serve", "--db", self.db, "--out", self.out, "--listen", "127.0.0.1:0", "--cut-dir", self.cut_dir],
                                       stdout=subprocess.PIPE, stderr=log, text=True)
        line = self.server.stdout.readline()
        m = re.search(r"(http://127\.0\.0\.1:\d+)/", line)
        need(m, f"gm2dqc serve printed no address: {line!r}")
        self.url = m.group(1)
        print(f"   fixture: gm2dqc serve at {self.url}")

    def api(self, path, body=None, user=None):
        """A JSON call as `user` (bearer token): (status, json)."""
        h = {"Accept": "application/json"}
        if user:
            h["Authorization"] = f"Bearer {self.tokens[user]}"
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            h["Content-Type"] = "application/json"
        r = urllib.request.Request(self.url + path, data=data, headers=h, method="POST" if body is not None else "GET")
        try:
            with urllib.request.urlopen(r, timeout=30) as resp:
                return resp.status, json.loads(resp.read() or b"null")
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read() or b"null")

    def close(self, keep):
        if self.server:
            self.server.terminate()
            try:
                self.server.wait(10)
            except subprocess.TimeoutExpired:
                self.server.kill()
        if not keep:
            shutil.rmtree(self.tmp, ignore_errors=True)


class Browser:
    """One Chromium instance; collects the console's errors per page."""

    def __init__(self, fx, name):
        o = Options()
        o.binary_location = os.environ.get("GM2DQC_CHROMIUM", "/usr/bin/chromium")
        for a in ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1400,1000"]:
            o.add_argument(a)
        o.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        self.d = webdriver.Chrome(service=Service(os.environ.get("GM2DQC_CHROMEDRIVER", "/usr/bin/chromedriver")), options=o)
        self.d.set_script_timeout(30)
        self.fx, self.name = fx, name
        self.errors = []  # (page, message)
        self.expected = []  # regexes of console errors triggered on purpose

    def drain(self):
        try:
            logs = self.d.get_log("browser")
        except Exception:
            return
        page = self.d.current_url
        for e in logs:
            if e.get("level") != "SEVERE":
                continue
            msg = e.get("message", "")
            if any(re.search(p, msg) for p in self.expected):
                continue
            self.errors.append((page, msg))

    def get(self, path):
        self.drain()
        self.d.get(self.fx.url + path)

    def sign_in(self, user):
        self.get("/login")
        self.d.find_element(By.ID, "token").send_keys(self.fx.tokens[user])
        self.d.find_element(By.ID, "sign-in").click()
        self.wait(lambda d: d.find_elements(By.ID, "user") and user in d.find_element(By.ID, "user").text, 10, f"{user} signed in")

    def wait(self, cond, timeout, what):
        try:
            return WebDriverWait(self.d, timeout, poll_frequency=0.05).until(cond)
        except TimeoutException:
            raise Fail(f"[{self.name}] timed out after {timeout} s waiting for: {what}")

    def js(self, script, *a):
        return self.d.execute_script(script, *a)

    def shot(self, name, full=True, width=None):
        """A screenshot of the whole page (height grown to the content, at most 4000 px)."""
        time.sleep(0.3)
        w0, h0 = self.d.get_window_size()["width"], self.d.get_window_size()["height"]
        w = width or w0
        if width and not full:
            self.d.set_window_size(w, h0)
        if full:
            h = min(4000, self.js("return Math.max(document.body.scrollHeight, document.documentElement.scrollHeight)") + 140)
            self.d.set_window_size(w, max(h, 700))
            time.sleep(0.3)
        self.d.save_screenshot(os.path.join(self.fx.art, f"{name}.png"))
        if full or width:
            self.d.set_window_size(w0, h0)

    def quit(self):
        self.drain()
        self.d.quit()


# --- the board ----------------------------------------------------------------------

CELL = "document.querySelector(`#board tr[data-dataset=\"${arguments[0]}\"] td[data-column=\"${arguments[1]}\"]`)"


def cell_attr(b, column, attr):
    """An attribute of the cell (read in the page: the board is redrawn as it changes)."""
    return b.js(f"const c = {CELL}; return c ? c.getAttribute(arguments[2]) : null", DATASET, column, attr)


def cell_state(b, column):
    return cell_attr(b, column, "data-state")


def click_cell(b, column):
    need(b.js(f"const c = {CELL}; if (c) c.click(); return !!c", DATASET, column), f"no cell {column}")


def open_board(b, layout):
    b.get(f"/?layout={layout}")
    b.wait(lambda d: d.find_elements(By.CSS_SELECTOR, f'#board tr[data-dataset="{DATASET}"] td[data-column]'), 10, f"board ({layout}) drawn")
    b.wait(lambda d: "ok" in d.find_element(By.ID, "live").get_attribute("class"), 10, "board polling")


def set_cell(b, column, state, note=""):
    """Opens the cell's dialog, sets state and note, clicks Set; returns the dialog's error text ('' on success)."""
    b.js("const d = document.getElementById('cell'); if (d.open) document.getElementById('cell-close').click();")
    click_cell(b, column)
    b.wait(lambda d: d.find_element(By.ID, "cell").get_attribute("open") is not None, 5, f"dialog of {column}")
    b.wait(lambda d: d.find_elements(By.CSS_SELECTOR, "#cell-history tr"), 5, f"history of {column}")
    Select(b.d.find_element(By.ID, "cell-state")).select_by_value(state)
    n = b.d.find_element(By.ID, "cell-note")
    n.clear()
    if note:
        b.js("arguments[0].value = arguments[1]", n, note)
    before = history_rows(b, state, note)
    b.js("document.getElementById('cell-error').textContent = '\\u2026pending'")
    b.d.find_element(By.ID, "cell-save").click()
    # the page clears the error at the click, then shows the refusal or redraws the history with
    # one more entry of this state and note (the history is redrawn by the poll too, so a count of
    # all rows could be taken mid-redraw)
    b.wait(lambda d: d.find_element(By.ID, "cell-error").text not in ("", "…pending") or history_rows(b, state, note) > before,
           10, f"the answer to setting {column}")
    return b.d.find_element(By.ID, "cell-error").text


def history_rows(b, state, note):
    """How many entries of the open dialog's history have this state and note."""
    return b.js("""return [...document.querySelectorAll('#cell-history tr')].filter((r) => {
        const td = r.querySelectorAll('td');
        return td.length === 4 && td[1].textContent === arguments[0] && td[3].textContent === arguments[1];
    }).length""", state, note)


def close_dialog(b):
    b.js("const d = document.getElementById('cell'); if (d.open) document.getElementById('cell-close').click();")


def check_board_live(fx, a, b):
    open_board(a, "g2")
    open_board(b, "g2")
    for (who, other, column, state) in [(a, b, "second_stages", "in_progress"), (b, a, "qmethod", "done"), (a, b, "laser_dqc", "in_progress")]:
        need(cell_state(other, column) != state, f"{column} already {state}")
        err = set_cell(who, column, state, note=f"set by {who.name} in the browser test")
        need(err == "", f"{who.name} could not set {column} {state}: {err}")
        who.wait(lambda d: cell_state(who, column) == state, 5, f"{column} {state} on {who.name}'s board")
        t = time.time()
        other.wait(lambda d: cell_state(other, column) == state, 2.0, f"{column} {state} (set by {who.name}) on {other.name}'s board without reloading")
        print(f"      {column} -> {state} by {who.name}: seen by {other.name} after {time.time() - t:.2f} s")
        close_dialog(who)
    need(a.js("return performance.getEntriesByType('navigation').length") == 1, "the page was reloaded")


def check_dialog_twice(fx, a):
    """A cell opened twice at once (a double click; Enter pressed twice) shows its history once.

    Each opening redraws the history; two redraws in flight used to both append their answer, so
    the table held every entry twice under two headers. The poll and a save overlap the same way."""
    column = "laser_dqc"
    open_board(a, "g2")
    close_dialog(a)
    need(a.js(f"const c = {CELL}; if (c) {{ c.click(); c.click(); }} return !!c", DATASET, column), f"no cell {column}")
    a.wait(lambda d: d.find_element(By.ID, "cell").get_attribute("open") is not None, 5, f"dialog of {column}")
    a.wait(lambda d: d.find_elements(By.CSS_SELECTOR, "#cell-history tr"), 5, f"history of {column}")
    st, hist = fx.api(f"/api/board/{DATASET}/{column}/history?layout=g2")
    need(st == 200 and hist, f"the history of {column}: {st} {hist}")
    time.sleep(1.5)  # both answers are in by now, and a poll has come and gone
    headers = a.js("return document.querySelectorAll('#cell-history tr th').length ? document.querySelectorAll('#cell-history tr:has(th)').length : 0")
    entries = len(a.d.find_elements(By.CSS_SELECTOR, "#cell-history tr td.note"))
    need(headers == 1 and entries == len(hist), f"the dialog shows {headers} header rows and {entries} entries; the server has {len(hist)} entries")
    print(f"      opened twice: 1 header, {entries} entries, as the server has")
    close_dialog(a)


def check_held_note(fx, a):
    column = "kicker_dqc"
    before = cell_state(a, column)
    st, j = fx.api(f"/api/board/{DATASET}/{column}?layout=g2", {"state": "held", "note": ""}, user="shifter1")
    need(st >= 400, f"the API accepted Held without a note ({st})")
    a.expected.append(rf"/api/board/{DATASET}/{column}\b.*status of {st}")
    err = set_cell(a, column, "held", "")
    need(err == j["error"], f"the dialog shows {err!r}, the server says {j['error']!r}")
    need("note" in err, f"the message does not say a note is needed: {err!r}")
    time.sleep(1.2)
    need(cell_state(a, column) == before, f"the cell changed to {cell_state(a, column)} (was {before})")
    print(f"      shown: {err}")
    close_dialog(a)


def check_signoff(fx, e1, e2, s1):
    for b in (e1, e2, s1):
        open_board(b, "g2")
    err = set_cell(e1, "subrun_dqc", "done", "dqc and plots looked at")
    need(err == "", f"expert1 cannot set Subrun DQC Done: {err}")
    close_dialog(e1)
    st, j = fx.api(f"/api/board/{DATASET}/delivered?layout=g2", {"state": "done", "note": ""}, user="expert1")
    need(st >= 400, f"the API let expert1 sign off their own DQC ({st})")
    e1.expected.append(rf"/api/board/{DATASET}/delivered\b.*status of {st}")
    err = set_cell(e1, "delivered", "done", "")
    need(err == j["error"], f"expert1's dialog shows {err!r}, the server says {j['error']!r}")
    need("second person" in err, f"not the sign-off message: {err!r}")
    print(f"      expert1 refused: {err[:150]}…")
    need(cell_state(e1, "delivered") != "done", "delivered is Done after the refusal")
    close_dialog(e1)
    st, j = fx.api(f"/api/board/{DATASET}/delivered?layout=g2", {"state": "done", "note": ""}, user="shifter1")
    need(st == 403, f"the API answered a shifter's sign-off with {st}")
    s1.expected.append(rf"/api/board/{DATASET}/delivered\b.*status of 403")
    err = set_cell(s1, "delivered", "done", "")
    need(err == j["error"] and err, f"the shifter's dialog shows {err!r}, the server says {j['error']!r}")
    print(f"      shifter refused: {err}")
    close_dialog(s1)
    err = set_cell(e2, "delivered", "done", "signed off by the second expert")
    need(err == "", f"expert2 could not sign off: {err}")
    e2.wait(lambda d: cell_state(e2, "delivered") == "done", 3, "delivered Done on expert2's board")
    so = e2.d.find_element(By.ID, "cell-signoff").text
    need("Signed off by expert2" in so, f"the dialog does not say who signed off: {so!r}")
    e1.wait(lambda d: cell_state(e1, "delivered") == "done", 2.5, "delivered Done on expert1's board")
    close_dialog(e2)


def check_xss(fx, a, b):
    column = "t0_dqc"
    err = set_cell(a, column, "in_progress", XSS)
    need(err == "", f"cannot set a note: {err}")
    hist = [e.text for e in a.d.find_elements(By.CSS_SELECTOR, "#cell-history td.note")]
    need(XSS in hist, f"the history does not show the note as text: {hist}")
    need(XSS in a.d.find_element(By.ID, "cell-now").text, "the dialog's 'Now' does not show the note as text")
    close_dialog(a)
    b.wait(lambda d: XSS in (cell_attr(b, column, "title") or ""), 2.5, "the note in the other session's tooltip")
    need(XSS in (cell_attr(a, column, "title") or ""), "the note is not in the tooltip")
    for s in (a, b):
        need(s.js("return typeof window.__pwned") == "undefined", f"window.__pwned is set in {s.name}'s page")
        need(not s.js("return document.querySelector('main img[src=\"x\"], main script:not([src])')"), f"the note's markup became elements in {s.name}'s page")
    # the cell's history page for an anonymous reader too (another path that shows notes)
    st, h = fx.api(f"/api/board/{DATASET}/{column}/history?layout=g2")
    need(st == 200 and any(e["note"] == XSS for e in h), "the note is not stored exactly")


# --- the dataset ---------------------------------------------------------------------

def subrun_rows(b):
    return b.js("""return [...document.querySelectorAll('#subruns tr[data-run]')].map(tr => ({
        run: +tr.dataset.run, subrun: +tr.dataset.subrun, ok: tr.dataset.ok,
        reasons: [...tr.querySelectorAll('li')].map(li => li.textContent),
        flags: [...tr.querySelectorAll('li[data-flag]')].map(li => li.dataset.flag)}))""")


def check_dataset(fx, b):
    truth = json.load(open(os.path.join(fx.demo, "data", "truth.json")))
    bad = {(s["run"], s["subrun"]): s for s in truth["subruns"] if not s["expected"]["ok"]}
    need(bad, "the demo has no bad subrun")
    b.get(f"/datasets/{DATASET}")
    b.wait(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#subruns tr[data-run]")) > 0, 10, "the subruns table")
    rows = subrun_rows(b)
    n_bad = sum(1 for r in rows if r["ok"] == "false")
    need(n_bad == len(bad), f"{n_bad} failing rows on the page, truth has {len(bad)}")
    need(all(r["ok"] == "false" for r in rows[:n_bad]), f"the failing subruns are not first: {[(r['run'], r['subrun'], r['ok']) for r in rows]}")
    b.shot("dataset")
    b.shot("dataset-top", full=False)  # the first screen: runs, subruns failing first (docs/screenshots/dataset.png)
    b.d.find_element(By.ID, "f-bad").click()
    b.wait(lambda d: all(r["ok"] == "false" for r in subrun_rows(b)), 5, "the only-bad filter")
    rows = subrun_rows(b)
    got = {(r["run"], r["subrun"]) for r in rows}
    need(got == set(bad), f"only bad subruns lists {sorted(got)}, truth.json's bad ones are {sorted(bad)}")
    need(b.d.find_element(By.ID, "count").text.startswith(f"{len(bad)} of "), f"count says {b.d.find_element(By.ID, 'count').text!r}")
    api_rows = {(r["run"], r["subrun"]): r for r in fx.api(f"/api/datasets/{DATASET}/subruns?only_bad=true&per_page=1000")[1]["rows"]}
    for r in rows:
        key = (r["run"], r["subrun"])
        want = [x["text"] for x in api_rows[key]["reason_list"]]
        need(want and r["reasons"] == want, f"{key}: the page shows reasons {r['reasons']}, the server has {want}")
        truth_failed = {f for f, v in bad[key]["expected"].items() if f != "ok" and not v}
        need(set(r["flags"]) <= truth_failed and r["flags"], f"{key}: reasons for {r['flags']}, truth.json's failing flags {sorted(truth_failed)}")
    print(f"      bad subruns {sorted(got)}")
    # a subrun page
    r0 = rows[0]
    b.get(f"/datasets/{DATASET}/subruns/{r0['run']}/{r0['subrun']}")
    b.wait(lambda d: d.find_elements(By.CSS_SELECTOR, "#flags tr.bad"), 10, "the subrun's flags")
    wait_drawn(b, "#hists .draw", 20)
    b.shot("subrun")


def wait_drawn(b, sel, timeout):
    def done(d):
        divs = d.find_elements(By.CSS_SELECTOR, sel)
        return divs and all(x.find_elements(By.CSS_SELECTOR, "svg") or "hist-error" in x.get_attribute("class") for x in divs)
    b.wait(done, timeout, f"JSROOT drawings in {sel}")
    errs = [(x.get_attribute("id"), x.text) for x in b.d.find_elements(By.CSS_SELECTOR, sel) if "hist-error" in x.get_attribute("class")]
    need(not errs, f"drawing errors: {errs}")


PAINTERS = """
const [el, done] = [document.getElementById(arguments[0]), arguments[arguments.length - 1]];
import('/assets/jsroot/modules/base/ObjectPainter.mjs').then(m => {
  const pp = m.getElementCanvPainter(el);
  const out = [];
  pp.forEachPainterInPad(p => { const o = p.getObject?.(); if (o && o._typename) out.push(o._typename); }, 'objects');
  done(out);
}, e => done('error: ' + e));
"""


def check_crystal(fx, b):
    bc = fx.api(f"/api/datasets/{DATASET}")[1]["results"]["bad_channels"]["calo"]
    hot = [c for c in bc if "hot" in c["status"]]
    need(hot, "no hot crystal in the demo's bad channels")
    calo, xtal = hot[0]["calo"], hot[0]["xtal"]
    b.get(f"/datasets/{DATASET}/histograms")
    wait_drawn(b, "#hists .draw", 30)
    b.shot("histograms")
    # the centre of the crystal's bin on the all-calorimeter map (hist.js's layout)
    ix, iy = xtal % 9, xtal // 9
    binx = ((calo - 1) % 6) * 9 + ix + 1
    biny = 24 - (((calo - 1) // 6) * 6 + iy)
    pos = b.d.execute_async_script("""
        const [binx, biny, done] = arguments;
        import('/assets/jsroot/modules/base/ObjectPainter.mjs').then(m => {
          const el = document.getElementById('map-hits'), pp = m.getElementCanvPainter(el);
          let p = null;
          pp.forEachPainterInPad(q => { if (!p && String(q.getObject?.()?._typename).startsWith('TH2')) p = q; }, 'objects');
          const fp = p.getFramePainter(), h = p.getObject();
          const x = h.fXaxis.fXmin + (binx - 0.5) * (h.fXaxis.fXmax - h.fXaxis.fXmin) / h.fXaxis.fNbins;
          const y = h.fYaxis.fXmin + (biny - 0.5) * (h.fYaxis.fXmax - h.fYaxis.fXmin) / h.fYaxis.fNbins;
          const r = el.querySelector('svg').getBoundingClientRect();
          done({ dx: fp.getFrameX() + fp.grx(x) - r.width / 2, dy: fp.getFrameY() + fp.gry(y) - r.height / 2 });
        }, e => done({ error: String(e) }));""", binx, biny)
    need("error" not in pos, f"cannot locate the bin: {pos}")
    svg = b.d.find_element(By.CSS_SELECTOR, "#map-hits svg")
    ActionChains(b.d).move_to_element_with_offset(svg, int(pos["dx"]), int(pos["dy"])).click().perform()
    b.wait(lambda d: f"/crystals/{calo}/{xtal}" in d.current_url, 10, f"the page of calo {calo} xtal {xtal} after the click")
    wait_drawn(b, "#hists .draw", 30)
    # the in-fill profile with the fit curve (a TGraph); the spectrum and the reference (two TH1s) with their legend
    for div, want in [("infill", ["TProfile", "TGraph", "TLegend"]), ("energy", ["TH1", "TH1", "TLegend"])]:
        need(b.d.find_elements(By.CSS_SELECTOR, f"#{div} svg"), f"no svg in #{div}")
        types = b.d.execute_async_script(PAINTERS, div)
        need(isinstance(types, list), f"painters of #{div}: {types}")
        for t in set(want):
            n = sum(1 for x in types if x == t or (t == "TH1" and re.match(r"^TH1[DFIS]$", x)))
            need(n >= want.count(t), f"#{div} draws {types}, wants {want}")
        print(f"      #{div}: {types}")
    b.shot("crystal")


# --- cut tuning ----------------------------------------------------------------------

def check_cuts(fx, b):
    b.get(f"/cuts?dataset={DATASET}")
    b.wait(lambda d: "min = 120" in d.find_element(By.ID, "text").get_attribute("value"), 10, "the base cut file")
    b.wait(lambda d: d.find_element(By.ID, "summary").text, 10, "the first tuning")
    base = b.d.find_element(By.ID, "text").get_attribute("value")
    new = base.replace("min = 120\nmax = 150", "min = 133\nmax = 150", 1)
    need(new != base, "the kicker amplitude cut is not in the base file")
    with open(os.path.join(fx.tmp, "base.toml"), "w") as f:
        f.write(base)
    with open(os.path.join(fx.tmp, "new.toml"), "w") as f:
        f.write(new)
    diff = json.loads(fx.run("cuts", "diff", os.path.join(fx.tmp, "base.toml"), os.path.join(fx.tmp, "new.toml"), "--metrics", os.path.join(fx.out, "subrun_metrics.parquet"), "--json").stdout)
    want = sorted((c["run"], c["subrun"]) for c in diff["changes"])
    want_flags = sorted((c["run"], c["subrun"], f["flag"]) for c in diff["changes"] for f in c["flags"])
    need(want, "cuts diff lists no change: the test's edit is no test")
    t = b.d.find_element(By.ID, "text")
    b.js("arguments[0].value = arguments[1]; arguments[0].dispatchEvent(new Event('input'))", t, new)
    b.wait(lambda d: d.find_elements(By.CSS_SELECTOR, "#changes tr.change"), 10, "the changes table")
    rows = b.js("""return [...document.querySelectorAll('#changes tr.change')].map(tr => ({run: +tr.dataset.run, subrun: +tr.dataset.subrun, flag: tr.dataset.flag,
                   cells: [...tr.children].map(td => td.textContent)}))""")
    got = sorted({(r["run"], r["subrun"]) for r in rows})
    need(got == want, f"the page lists {got}, `cuts diff` lists {want}")
    need(sorted((r["run"], r["subrun"], r["flag"]) for r in rows) == want_flags, "the (subrun, flag) rows differ from cuts diff's")
    for r in rows:
        need("min = 120 kV" in r["cells"][7] and "min = 133 kV" in r["cells"][8], f"old/new bound not shown: {r['cells']}")
        need(re.match(r"^1[0-9]{2}\.", r["cells"][6]), f"no value: {r['cells']}")
        need(r["cells"][10].strip(), f"no CTAGs lost: {r['cells']}")
    counts = b.js("return [...document.querySelectorAll('#flag-counts tr[data-flag]')].map(tr => [tr.dataset.flag, ...[...tr.children].slice(1, 3).map(td => +td.textContent)])")
    st, tr = fx.api(f"/api/datasets/{DATASET}/tune", {"text": new})
    want_counts = [[f["flag"], f["old_failing"], f["new_failing"]] for f in tr["result"]["flag_counts"]]
    need(counts == want_counts, f"the page's failing-per-flag table {counts}, the server's {want_counts}")
    kick = [c for c in counts if c[0] == "kicker_ok"]
    need(kick and kick[0][2] > kick[0][1], f"kicker_ok fails no more often: {counts}")
    b.shot("cuts")
    name = "tight-kicker-browser.toml"
    b.d.find_element(By.ID, "name").send_keys(name)
    b.d.find_element(By.ID, "save").click()
    b.wait(lambda d: d.find_element(By.ID, "saved").text or d.find_element(By.ID, "save-error").text, 10, "the save")
    saved = b.d.find_element(By.ID, "saved").text
    need(saved, f"not saved: {b.d.find_element(By.ID, 'save-error').text}")
    path = os.path.join(fx.cut_dir, name)
    need(os.path.exists(path), f"no file {path}")
    sha = subprocess.run(["sha256sum", path], capture_output=True, text=True, check=True).stdout.split()[0]
    need(sha in saved, f"the page says {saved!r}; sha256sum says {sha}")
    need(open(path).read() == new, "the saved file is not the text edited")
    b.expected.append(r"/api/cuts\b.*status of 409")
    b.d.find_element(By.ID, "save").click()
    b.wait(lambda d: d.find_element(By.ID, "save-error").text, 10, "the second save's refusal")
    err = b.d.find_element(By.ID, "save-error").text
    need(not b.d.find_element(By.ID, "saved").text, "a second save with the same name succeeded")
    need(sha256(path) == sha, "the saved file changed")
    print(f"      saved with SHA-256 {sha[:16]}…; again: {err}")
    b.shot("cuts-saved")


def sha256(p):
    return hashlib.sha256(open(p, "rb").read()).hexdigest()


# --- the database down ---------------------------------------------------------------

def check_db_down(fx, b, a):
    open_board(b, "g2")
    b.expected.append(r"status of 503")
    away = fx.db + ".away"
    os.rename(fx.db, away)
    try:
        b.wait(lambda d: d.find_element(By.ID, "banner").is_displayed() and "database" in d.find_element(By.ID, "banner").text, 12, "the banner with the database renamed away")
        print(f"      banner: {b.d.find_element(By.ID, 'banner').text}")
        b.shot("board-db-down", full=False)
    finally:
        os.rename(away, fx.db)
    b.wait(lambda d: not d.find_element(By.ID, "banner").is_displayed(), 12, "the banner gone with the database back")
    st, j = fx.api(f"/api/board/{DATASET}/dqc_test?layout=g2", {"state": "in_progress", "note": "after the outage"}, user="shifter2")
    need(st == 200, f"cannot set a cell after the outage: {st} {j}")
    b.wait(lambda d: cell_state(b, "dqc_test") == "in_progress", 3, "the board updates after the outage")


# --- main ----------------------------------------------------------------------------

def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--gm2dqc", required=True)
    ap.add_argument("--artefacts", required=True)
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = ap.parse_args()
    t0 = time.time()
    fx = Fixture(args)
    results = []
    browsers = []
    retired = []  # quit early: their console errors still count

    def check(name, fn, *a):
        t = time.time()
        try:
            fn(*a)
            results.append((name, True))
            print(f"PASS {name} ({time.time() - t:.1f} s)", flush=True)
        except Exception as e:
            results.append((name, False))
            print(f"FAIL {name}: {e}", flush=True)
            if not isinstance(e, Fail):
                traceback.print_exc()
            for b in browsers:
                try:
                    b.shot(f"fail-{name}-{b.name}", full=False)
                except Exception:
                    pass

    try:
        fx.build()
        s1, s2 = Browser(fx, "shifter1"), Browser(fx, "shifter2")
        browsers += [s1, s2]
        s1.get("/login")
        s1.shot("sign-in", full=False)
        check("sign-in", lambda: (s1.sign_in("shifter1"), s2.sign_in("shifter2")))
        check("board-live", check_board_live, fx, s1, s2)
        check("dialog-twice", check_dialog_twice, fx, s1)
        check("held-note", check_held_note, fx, s1)
        check("xss-note", check_xss, fx, s1, s2)
        s2.quit()
        browsers.remove(s2)
        retired.append(s2)
        e1, e2 = Browser(fx, "expert1"), Browser(fx, "expert2")
        browsers += [e1, e2]
        check("sign-in-experts", lambda: (e1.sign_in("expert1"), e2.sign_in("expert2")))
        check("signoff", check_signoff, fx, e1, e2, s1)
        fx.api(f"/api/board/{DATASET}/recovery?layout=g2", {"state": "skipped", "note": "nothing to recover"}, user="shifter2")
        open_board(e2, "g2")
        e2.shot("board-g2", full=False, width=2200)
        open_board(e2, "gm2dqc")
        e2.shot("board-gm2dqc")
        e2.get("/audit")
        e2.wait(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#audit tr")) > 3, 10, "the audit log")
        e2.shot("audit")
        check("dataset-bad", check_dataset, fx, e2)
        check("crystal-click", check_crystal, fx, e2)
        check("cuts-tune", check_cuts, fx, e1)
        check("db-down", check_db_down, fx, s1, e1)

        def console():
            for b in browsers:
                b.drain()
            errs = [(b.name, p, m) for b in browsers + retired for (p, m) in b.errors]
            need(not errs, "console errors:\n" + "\n".join(f"  [{n}] {p}: {m}" for n, p, m in errs))
        check("console", console)
    except Exception as e:
        results.append(("fixture", False))
        print(f"FAIL fixture: {e}")
        traceback.print_exc()
    finally:
        for b in browsers:
            try:
                b.quit()
            except Exception:
                pass
        fx.close(args.keep)
    bad = [n for n, ok in results if not ok]
    print(f"test_web.py: {len(results) - len(bad)} of {len(results)} checks passed in {time.time() - t0:.0f} s; screenshots in {fx.art}")
    if bad:
        print(f"test_web.py: FAILED: {', '.join(bad)}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
