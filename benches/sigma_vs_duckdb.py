#!/usr/bin/env python3
"""Benchmark: `janus-audit sigma shipped` (SigmaHQ's 57 CloudTrail rules, evaluated on every
record as it is read, each hit attributed) on N events, beside `by-instance` on the same files
(what the rules add to reading them) and beside pySigma's DuckDB backend running the same rules
over the same records (read_json, every field the rules name extracted, the backend's queries
run; the backend mended as tests/interop/sigma_check.py does).

    python3 benches/sigma_vs_duckdb.py                    # 1,000,000 events
    python3 benches/sigma_vs_duckdb.py --events 200000 --runs 1

The trail is the one benches/by_instance_vs_duckdb.py writes (examples/gen-trail, reused while
it exists). Each side's hits per rule must be equal, or the benchmark fails: a fast wrong answer
is not a result. Wall clock, best of --runs; peak RSS from wait4().
"""
import argparse
import csv
import json
import os
import subprocess
import sys

from measure import timed  # run as benches/sigma_vs_duckdb.py: its folder is on the path

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TARGET = os.environ.get("CARGO_TARGET_DIR", os.path.expanduser("~/.cache/janus-audit-target"))
VENV = os.environ.get("SIGMA_VENV", os.path.expanduser("~/.cache/janus-audit-sigma-venv"))

# Runs in the venv: builds the logs table from the files and runs every rule's query.
PEER = r"""
import json, sys, time, glob
sys.path.insert(0, sys.argv[1])
import duckdb
from sigma.collection import SigmaCollection
from sigma.processing.pipeline import ProcessingPipeline
from sigma_check import Backend, fields_of
rules_dir, trail, out = sys.argv[2], sys.argv[3], sys.argv[4]
rules = [r for f in sorted(glob.glob(rules_dir + "/*.yml"))
         for r in SigmaCollection.from_yaml(open(f).read()).rules]
fields = sorted(set().union(*(fields_of(r) for r in rules)) | {"eventID"})
def path(f):
    # r->'a'->'b'->>'c': the text of a string, the JSON of anything else.
    parts = f.split(".")
    head = "".join(f"->'{p}'" for p in parts[:-1])
    return f"r{head}->>'{parts[-1]}'"
started = time.monotonic()
con = duckdb.connect()
con.execute("SET threads TO 2")
cols = ", ".join(f'{path(f)} AS "{f}"' for f in fields)
con.execute(f"CREATE TABLE logs AS SELECT {cols} FROM (SELECT unnest(Records) AS r FROM "
            f"read_json('{trail}/**/*.json.gz', columns = {{'Records': 'JSON[]'}}, "
            f"maximum_object_size = 134217728)) QUALIFY row_number() OVER (PARTITION BY r->>'eventID') = 1")
backend = Backend(processing_pipeline=ProcessingPipeline())
hits = {}
for rule in rules:
    n = 0
    for q in backend.convert_rule(rule):
        n += con.execute(f'SELECT count(*) FROM ({q}) t').fetchone()[0]
    hits[str(rule.id)] = n
json.dump(hits, open(out, "w"))
print(f"{time.monotonic() - started:.2f}")
"""


def sh(cmd, **kw):
    print("+", " ".join(cmd), file=sys.stderr)
    subprocess.run(cmd, check=True, **kw)


def venv_python():
    py = os.path.join(VENV, "bin", "python")
    if not os.path.exists(py):
        sh([sys.executable, "-m", "venv", VENV])
    if subprocess.run([py, "-c", "import sigma_backend_duckdb, duckdb"]).returncode != 0:
        sh([os.path.join(VENV, "bin", "pip"), "install", "--quiet", "pysigma>=1.0,<2",
            "pysigma-backend-duckdb>=0.1.4,<0.2", "duckdb>=1.1"])
    return py


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    env = dict(os.environ, CARGO_TARGET_DIR=TARGET)
    sh(["cargo", "build", "--release", "--bin", "janus-audit", "--example", "gen-trail"],
       cwd=ROOT, env=env)
    janus = os.path.join(TARGET, "release", "janus-audit")
    trail = f"/tmp/janus-bench-trail-{args.events}"
    if not os.path.isdir(trail):
        sh([os.path.join(TARGET, "release", "examples", "gen-trail"), "--events", str(args.events),
            "--instances", "200", "--federated", "150", trail])
    for d, _, fs in os.walk(trail):  # warm the page cache for every side alike
        for f in fs:
            with open(os.path.join(d, f), "rb") as fh:
                fh.read()
    rules = os.path.join(ROOT, "rules", "sigma", "cloudtrail")
    out = "/tmp/janus-bench-sigma.csv"
    sigma = [janus, "sigma", rules, trail, "--format", "csv", "--output", out, "--quiet"]
    plain = [janus, "by-instance", trail, "--format", "csv", "--output", "/dev/null", "--quiet"]
    runs = {"sigma": [], "by-instance": []}
    for _ in range(args.runs):  # alternated, so that a drift of the machine hits both alike
        runs["sigma"].append(timed(sigma))
        runs["by-instance"].append(timed(plain))
    (s_sec, s_rss), (p_sec, p_rss) = [(min(r[0] for r in x), max(r[1] for r in x))
                                      for x in runs.values()]
    with open(out) as f:
        ours = {}
        for row in csv.DictReader(f):
            ours[row["rule_id"]] = ours.get(row["rule_id"], 0) + 1
    py = venv_python()
    peer_out = "/tmp/janus-bench-sigma-peer.json"
    best = None
    for _ in range(args.runs):
        secs, rss = timed([py, "-c", PEER, os.path.join(ROOT, "tests", "interop"), rules, trail,
                           peer_out])
        best = (secs, rss) if best is None or secs < best[0] else (best[0], max(best[1], rss))
    theirs = {k: v for k, v in json.load(open(peer_out)).items() if v}
    if ours != theirs:
        sys.exit(f"the two sides disagree: janus-audit {ours}, pySigma/DuckDB {theirs}")
    hits = sum(ours.values())
    print(f"{args.events:,} events, 57 rules, {hits:,} hits of {len(ours)} rules (equal on both sides)")
    print(f"janus-audit sigma:        {s_sec:.2f} s, peak RSS {s_rss:.0f} MiB")
    print(f"janus-audit by-instance:  {p_sec:.2f} s, peak RSS {p_rss:.0f} MiB (the same read, no rules)")
    print(f"pySigma + DuckDB:         {best[0]:.2f} s, peak RSS {best[1]:.0f} MiB "
          f"({best[0] / s_sec:.1f}x janus-audit sigma)")


if __name__ == "__main__":
    main()
