#!/usr/bin/env python3
"""Benchmark: the HTML window page of a large window, and a browser opening it.

    python3 benches/html_page.py [--events 1000000]

Builds the release binary and examples/gen-trail.rs, writes a one-day trail once (1,500 instances;
reused while /tmp/janus-bench-html-trail-N-I exists), then over that day:
  - `report --formats csv` and `report --formats csv,html`: wall time and peak RSS of each, so the
    page's own cost shows;
  - the page's size (target: under 10 MB);
  - Debian's Chromium, headless and offline through chromedriver (as tests/browser/check_pages.py
    drives it), opening the page from file://: the load event's time, median of 3 (target: under
    2 s), with no console error.
"""
import argparse
import datetime
import os
import pathlib
import statistics
import subprocess
import sys
import tempfile

ROOT = pathlib.Path(__file__).resolve().parents[1]
TARGET = os.environ.get("CARGO_TARGET_DIR", os.path.expanduser("~/.cache/janus-audit-target"))
sys.path.insert(0, str(ROOT / "tests" / "browser"))
import check_pages  # noqa: E402  (the WebDriver client the browser test uses)
from measure import timed  # noqa: E402


def span(trail):
    """The trail's whole days, from its S3-layout directories."""
    days = sorted({"-".join(p.parts[-4:-1]) for p in pathlib.Path(trail).rglob("*.json.gz")})
    until = datetime.date.fromisoformat(days[-1]) + datetime.timedelta(days=1)
    return f"{days[0]}T00:00:00Z", f"{until}T00:00:00Z"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--instances", type=int, default=1500)
    ap.add_argument("--loads", type=int, default=3)
    args = ap.parse_args()
    env = dict(os.environ, CARGO_TARGET_DIR=TARGET)
    subprocess.run(["cargo", "build", "--release", "--bin", "janus-audit", "--example", "gen-trail"],
                   cwd=ROOT, env=env, check=True)
    janus = os.path.join(TARGET, "release", "janus-audit")
    trail = f"/tmp/janus-bench-html-trail-{args.events}-{args.instances}"
    if not os.path.isdir(trail):
        subprocess.run([os.path.join(TARGET, "release", "examples", "gen-trail"), "--events",
                        str(args.events), "--instances", str(args.instances), "--days", "1", trail],
                       check=True)
    since, until = span(trail)
    print(f"trail: {trail}, window {since} to {until}")
    out = tempfile.mkdtemp(prefix="janus-html-bench-")
    for formats in ("csv", "csv,html"):
        d = os.path.join(out, formats.replace(",", "-"))
        # 3: a window with skipped input is still written.
        wall, rss = timed([janus, "report", "--output-dir", d, trail, "--since", since, "--until", until,
                           "--formats", formats, "--quiet"], ok=(0, 3))
        print(f"report --formats {formats}: {wall:.2f} s, peak RSS {rss:.0f} MiB")
    [window] = [p for p in pathlib.Path(out, "csv-html").iterdir() if p.is_dir()]
    page = window / "index.html"
    with open(window / "by_instance.csv") as f:
        instances = sum(1 for _ in f) - 1
    size = page.stat().st_size
    print(f"page: {size / 1e6:.2f} MB for {instances} instances (target < 10 MB)")

    drv, d = check_pages.start_driver()
    try:
        s = d.session()
        loads = []
        for _ in range(args.loads):
            url, _ = s.open(page)
            loads.append(s.load_time())
            check_pages.check_clean(s, url, "large page")
        rows = s.js("return document.querySelectorAll('#by-instance tbody tr').length")
        if rows != instances:
            sys.exit(f"the page shows {rows} instances; by_instance.csv has {instances}")
        s.close()
    finally:
        drv.kill()
    med = statistics.median(loads)
    print(f"Chromium load event: median {med:.0f} ms of {args.loads} ({', '.join(f'{x:.0f}' for x in loads)}) "
          f"(target < 2000 ms); {rows} instance rows, no console error")
    ok = size < 10e6 and med < 2000
    print("targets:", "met" if ok else "NOT MET")


if __name__ == "__main__":
    main()
