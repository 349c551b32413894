#!/usr/bin/env python3
"""The HTML pages in a real browser: Debian's Chromium, driven over the W3C WebDriver protocol by
chromedriver (plain HTTP from the standard library, so no client package is needed).

    python3 tests/browser/check_pages.py PATH/TO/janus-audit [--out target/html-report]

Makes the pages from the bundled fixtures, then for each one, loaded from file:// with the
network switched off:
  - no console message at error level (a blocked request or a CSP violation is one), and no
    request made (Chromium's performance log: no Network.requestWillBeSent but the page itself);
  - the window pages' findings and instance counts equal the rows of their CSVs;
  - clicking a column header of the by-instance table reorders its rows;
  - on the hostile fixture's page: no dialog opened, the only <script> is the page's own, no <img>
    exists, and the markup from the log is on the page as text;
  - with JavaScript disabled, the tables and the chart are there all the same.
Keeps a screenshot of the findings fixture's window page in --out (a CI artifact), and prints each
page's size and load time.
"""
import argparse
import base64
import csv
import json
import os
import pathlib
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

ROOT = pathlib.Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("CHROMEDRIVER", "/usr/bin/chromedriver")


def fail(msg):
    sys.exit(f"check_pages: FAIL: {msg}")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Driver:
    def __init__(self, base):
        self.base = base

    def call(self, method, path, body=None):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.base + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=60) as r:
                return json.loads(r.read())["value"]
        except urllib.error.HTTPError as e:
            return {"__error__": json.loads(e.read())["value"]}

    def session(self, javascript=True):
        args = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--disable-dev-shm-usage", "--window-size=1400,1000",
                # Anything that tried to leave the machine would meet a closed port.
                "--proxy-server=127.0.0.1:9", "--proxy-bypass-list=<-loopback>",
                f"--user-data-dir={tempfile.mkdtemp(prefix='janus-chromium-')}"]
        opts = {"binary": CHROMIUM, "args": args}
        if not javascript:
            opts["prefs"] = {"profile.managed_default_content_settings.javascript": 2}
        caps = {"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": opts,
            "goog:loggingPrefs": {"browser": "ALL", "performance": "ALL"},
        }}}
        value = self.call("POST", "/session", caps)
        if "__error__" in value:
            fail(f"no browser session: {value['__error__']}")
        sid = value["sessionId"]
        offline = self.call("POST", f"/session/{sid}/chromium/network_conditions", {
            "network_conditions": {"offline": True, "latency": 0, "download_throughput": 0,
                                   "upload_throughput": 0}})
        if isinstance(offline, dict) and "__error__" in offline:
            fail(f"cannot switch the network off: {offline['__error__']}")
        return Session(self, sid)


class Session:
    def __init__(self, driver, sid):
        self.d, self.sid = driver, sid

    def call(self, method, path, body=None):
        return self.d.call(method, f"/session/{self.sid}{path}", body)

    def js(self, script, *args):
        v = self.call("POST", "/execute/sync", {"script": script, "args": list(args)})
        if isinstance(v, dict) and "__error__" in v:
            fail(f"script failed: {v['__error__']}")
        return v

    def logs(self, kind):
        return self.call("POST", "/se/log", {"type": kind}) or []

    def find_all(self, css):
        v = self.call("POST", "/elements", {"using": "css selector", "value": css})
        return v if isinstance(v, list) else []

    def open(self, path):
        self.logs("browser")
        self.logs("performance")
        url = path.resolve().as_uri()
        start = time.perf_counter()
        self.call("POST", "/url", {"url": url})
        wall = time.perf_counter() - start
        return url, wall

    def load_time(self):
        """The page's load event, in ms from navigation start (read once it has happened: the
        navigation can return just before it)."""
        for _ in range(100):
            t = self.js("var t = performance.getEntriesByType('navigation')[0];"
                        "return t ? t.loadEventEnd : 0;")
            if t > 0:
                return t
            time.sleep(0.02)
        fail("the page's load event never came")

    def close(self):
        self.call("DELETE", "")


def start_driver():
    """chromedriver on a free loopback port, once it says it is ready: (process, Driver)."""
    port = free_port()
    proc = subprocess.Popen([CHROMEDRIVER, f"--port={port}"], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    d = Driver(f"http://127.0.0.1:{port}")
    for _ in range(100):
        try:
            if d.call("GET", "/status").get("ready"):
                return proc, d
        except OSError:
            pass
        time.sleep(0.1)
    proc.kill()
    fail("chromedriver did not start")


def csv_rows(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def run(binary, args):
    p = subprocess.run([binary, *args], capture_output=True, text=True)
    if p.returncode not in (0, 3):
        fail(f"janus-audit {' '.join(args)} exited {p.returncode}: {p.stderr}")


def check_clean(s, url, name):
    """No error in the console, and no request but the page itself."""
    errors = [e for e in s.logs("browser") if e.get("level") == "SEVERE"]
    if errors:
        fail(f"{name}: console errors: {errors[:3]}")
    requests = []
    for entry in s.logs("performance"):
        msg = json.loads(entry["message"])["message"]
        if msg.get("method") == "Network.requestWillBeSent":
            # Made by the page (its document is the file): anything but the page itself. The
            # browser's own chrome:// pages are not the page's doing.
            p = msg["params"]
            u = p["request"]["url"]
            if p.get("documentURL") == url and u != url and not u.startswith("data:"):
                requests.append(u)
    if requests:
        fail(f"{name}: the page made requests: {requests[:3]}")


def make_pages(binary, work):
    pages = {}
    windows = {
        "findings": ("fixtures/findings", "2026-10-08T00:00:00Z", "2026-10-09T00:00:00Z"),
        "hostile": ("fixtures/hostile", "2026-10-10T00:00:00Z", "2026-10-11T00:00:00Z"),
        "chains": ("fixtures/chains", "2026-10-09T00:00:00Z", "2026-10-10T00:00:00Z"),
        "cloudtrail": ("fixtures/cloudtrail", "2026-10-04T00:00:00Z", "2026-10-07T00:00:00Z"),
    }
    for name, (trail, since, until) in windows.items():
        out = work / name
        run(binary, ["report", "--output-dir", str(out), str(ROOT / trail), "--since", since,
                     "--until", until, "--formats", "csv,html"])
        [window] = [d for d in out.iterdir() if d.is_dir()]
        pages[f"window:{name}"] = window
    for cmd in ("by-instance", "sessions", "findings"):
        out = work / f"{cmd}.html"
        run(binary, [cmd, str(ROOT / "fixtures/cloudtrail"), "--format", "html", "--output", str(out)])
        pages[cmd] = out
    out = work / "timeline.html"
    run(binary, ["timeline", str(ROOT / "fixtures/cloudtrail"), "--instance", "etl-1", "--format", "html",
                 "--output", str(out)])
    pages["timeline"] = out
    return pages


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("binary")
    ap.add_argument("--out", default=str(ROOT / "target" / "html-report"))
    a = ap.parse_args()
    binary = os.path.abspath(a.binary)
    out = pathlib.Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    work = pathlib.Path(tempfile.mkdtemp(prefix="janus-pages-"))
    pages = make_pages(binary, work)

    drv_proc, d = start_driver()
    try:
        s = d.session()
        for name, page in pages.items():
            path = page / "index.html" if page.is_dir() else page
            url, wall = s.open(path)
            load_ms = s.load_time()
            check_clean(s, url, name)
            check_fits(s, name)
            print(f"{name}: {path.stat().st_size / 1e3:.1f} kB, loaded in {load_ms:.0f} ms "
                  f"(WebDriver navigation {wall * 1e3:.0f} ms): no console error, no request")
            if not page.is_dir():
                continue
            want_f = len(csv_rows(page / "findings.csv"))
            want_i = len(csv_rows(page / "by_instance.csv"))
            got_f = s.js("return document.getElementById('findings-count').textContent")
            got_i = s.js("return document.getElementById('instance-count').textContent")
            rows_i = s.js("return document.querySelectorAll('#by-instance tbody tr').length")
            blocks = s.js("return document.querySelectorAll('#findings .finding').length")
            if (int(got_f), blocks) != (want_f, want_f):
                fail(f"{name}: {got_f} findings counted, {blocks} shown; findings.csv has {want_f}")
            if (int(got_i), rows_i) != (want_i, want_i):
                fail(f"{name}: {got_i} instances counted, {rows_i} rows; by_instance.csv has {want_i}")
            print(f"  findings {want_f} and instances {want_i}, as in the CSVs")
            check_sorting(s, name)
        check_hostile(s, pages["window:hostile"] / "index.html")
        s.call("POST", "/window/rect", {"width": 1280, "height": 1900})
        s.open(pages["window:findings"] / "index.html")
        shot = s.call("GET", "/screenshot")
        (out / "findings-window.png").write_bytes(base64.b64decode(shot))
        print(f"screenshot: {out / 'findings-window.png'}")
        s.close()
        check_without_javascript(d, pages["window:findings"])
    finally:
        drv_proc.kill()
        shutil.rmtree(work, ignore_errors=True)
    print("check_pages: every page passed in Chromium")


def check_fits(s, name):
    """Nothing reaches past the window's right edge: a wide table scrolls inside its own box."""
    over = s.js("var w = document.documentElement.clientWidth; var out = [];"
                "document.querySelectorAll('body *').forEach(function (e) {"
                "  var r = e.getBoundingClientRect();"
                "  if (r.right > w + 1 && !e.closest('.scroll')) out.push(e.tagName + '#' + e.id);"
                "}); return [document.documentElement.scrollWidth, w, out.slice(0, 5)];")
    if over[0] > over[1] + 1 or over[2]:
        fail(f"{name}: the page is {over[0]} px wide in a {over[1]} px window: {over[2]}")


def check_sorting(s, name):
    """A click on api_calls sorts ascending, a second descending; other columns follow the rows."""
    col = s.js("var h = document.querySelectorAll('#by-instance thead th');"
               "for (var i = 0; i < h.length; i++) if (h[i].textContent === 'api_calls') return i;"
               "return -1;")
    if col < 0:
        fail(f"{name}: no api_calls column")
    read = ("return Array.prototype.map.call(document.querySelectorAll('#by-instance tbody tr'),"
            " function (r) { return [r.cells[%d].textContent, r.cells[2].textContent]; });" % col)
    before = s.js(read)
    header = s.find_all(f"#by-instance thead th:nth-child({col + 1})")[0]
    s.call("POST", f"/element/{list(header.values())[0]}/click", {})
    up = s.js(read)
    s.call("POST", f"/element/{list(header.values())[0]}/click", {})
    down = s.js(read)
    nums = lambda rows: [int(r[0]) for r in rows]
    if nums(up) != sorted(nums(before)) or nums(down) != sorted(nums(before), reverse=True):
        fail(f"{name}: sorting by api_calls gave {nums(up)} then {nums(down)}")
    if sorted(map(tuple, up)) != sorted(map(tuple, before)):
        fail(f"{name}: sorting changed the rows themselves")
    if len(set(nums(before))) > 1 and up == before and down == before:
        fail(f"{name}: sorting did not reorder the rows")
    print(f"  sorting by api_calls: {nums(up)} then {nums(down)}")
    # An instance's link opens its section.
    link = s.find_all("#by-instance tbody tr a")[0]
    s.call("POST", f"/element/{list(link.values())[0]}/click", {})
    # hashchange is dispatched after the click returns.
    for _ in range(20):
        opened = s.js("var d = document.getElementById(location.hash.slice(1));"
                      "return [location.hash, d ? d.tagName : null, d ? d.open : null];")
        if opened[2]:
            break
        time.sleep(0.05)
    if not (opened[0].startswith("#i-") and opened[1] == "DETAILS" and opened[2] is True):
        fail(f"{name}: an instance's link left its section closed: {opened}")
    print(f"  the link to {opened[0]} opened its section")


def check_hostile(s, page):
    s.open(page)
    alert = s.call("GET", "/alert/text")
    if not (isinstance(alert, dict) and "__error__" in alert):
        fail(f"hostile: a dialog opened: {alert!r}")
    scripts = s.js("return document.scripts.length")
    imgs = s.js("return document.images.length")
    handlers = s.js("return document.querySelectorAll('[onerror],[onload],[onclick]').length")
    text = s.js("return document.body.textContent")
    if (scripts, imgs, handlers) != (1, 0, 0):
        fail(f"hostile: {scripts} script(s), {imgs} image(s), {handlers} handler attribute(s)")
    for needle in ("<script>alert(1)</script>", '"><img src=x onerror=alert(2)>'):
        if needle not in text:
            fail(f"hostile: {needle!r} is not on the page as text")
    print("hostile: nothing executed (no dialog, one script: the page's own, no image); "
          "the markup from the log shows as text")


def check_without_javascript(d, window):
    s = d.session(javascript=False)
    s.open(window / "index.html")
    rows = len(s.find_all("#by-instance tbody tr"))
    cells = len(s.find_all("#activity-chart rect"))
    findings = len(s.find_all("#findings .finding"))
    sections = len(s.find_all("details.instance"))
    want = len(csv_rows(window / "by_instance.csv"))
    if rows != want or sections != want or cells == 0 or findings != len(csv_rows(window / "findings.csv")):
        fail(f"without JavaScript: {rows} rows, {sections} sections, {cells} chart cells, "
             f"{findings} findings")
    print(f"without JavaScript: {rows} instance rows, {sections} sections, {cells} chart cells, "
          f"{findings} findings")
    s.close()


if __name__ == "__main__":
    main()
