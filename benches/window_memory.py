#!/usr/bin/env python3
"""Peak memory of every report as the window grows: the same trail shape at several sizes.

    python3 benches/window_memory.py                                  # 3M and 10M events
    python3 benches/window_memory.py --sizes 3000000,10000000,30000000 --no-json
    python3 benches/window_memory.py --compare /tmp/before/janus-audit   # another build beside

Each size is #35's trail: 1,500 instances, 700 of 1,000 non-refresh records federated, and 12
hours per million events (36 hours at 3M, 120 at 10M, 360 at 30M), so that a bigger trail is a
longer window of the same fleet, as an investigation over months is. It builds the release
binary and examples/gen-trail.rs, writes each trail once (kept under --work while it exists),
ingests it into a dataset, runs each report once to warm the page cache and the dataset's
cached answer about duplicates, then times each (best of --runs, wall clock) with its peak RSS
from wait4() and, as janus-audit -vv says last, the most heap it held live (RSS less what the
allocator holds free). Over the dataset the first run starts without that answer, as the first report
after an `ingest` does (it reads every eventID of the window's dates): its peak RSS is printed
too, as "first". Every build compared must print the same rows, or the benchmark fails.

The last column is the peak RSS at the largest size over that at the smallest: 1.00 is memory
that does not grow with the window.
"""
import argparse
import os
import subprocess
import sys

from measure import live_heap, measured, timed  # run as benches/window_memory.py: its folder is on the path

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TARGET = os.environ.get("CARGO_TARGET_DIR", os.path.expanduser("~/.cache/janus-audit-target"))


def sh(cmd):
    subprocess.run(cmd, check=True, cwd=ROOT)


def reports(instance):
    """Each report's arguments. `report` writes its window's files under --output-dir (added
    per run) and is compared by its CSVs; `sessions-table` is the default format, a table."""
    return {
        "by-instance": ["by-instance", "--format", "csv"],
        "sessions": ["sessions", "--format", "csv"],
        "sessions-table": ["sessions"],
        "findings": ["findings", "--format", "csv"],
        "timeline": ["timeline", "--instance", instance, "--format", "csv"],
        "report": ["report", "--formats", "csv", "--since", "2000-01-01", "--until", "2100-01-01"],
    }


def written(directory):
    """The CSVs a `report` wrote, one after the other (its manifest carries the time it ran)."""
    out = []
    for root, _, files in sorted(os.walk(directory)):
        for f in sorted(files):
            if f.endswith(".csv"):
                out.append(f + "\n" + open(os.path.join(root, f)).read())
    return "".join(out)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="3000000,10000000", help="events per trail, comma-separated")
    ap.add_argument("--work", default="/tmp/janus-window-memory", help="where trails and datasets go")
    ap.add_argument("--runs", type=int, default=1, help="timed runs of each report (best is shown)")
    ap.add_argument("--no-json", action="store_true", help="only the dataset (the JSON at 30M takes minutes a report)")
    ap.add_argument("--only", default=None, help="comma-separated reports to run (default: all)")
    ap.add_argument("--compare", default=None, help="another janus-audit binary, run beside this one")
    args = ap.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]

    sh(["cargo", "build", "--release", "--bin", "janus-audit", "--example", "gen-trail", "--quiet"])
    binaries = {"this": os.path.join(TARGET, "release", "janus-audit")}
    if args.compare:
        binaries["other"] = os.path.abspath(args.compare)
    os.makedirs(args.work, exist_ok=True)

    rows = {}  # (binary, report, source) -> {size: (seconds, MiB)}
    for size in sizes:
        trail = os.path.join(args.work, f"trail-{size}")
        if not os.path.isdir(trail):
            hours = max(1, round(12 * size / 1_000_000))
            sh([os.path.join(TARGET, "release", "examples", "gen-trail"), "--events", str(size),
                "--instances", "1500", "--hours", str(hours), "--federated", "700", trail])
        ds = os.path.join(args.work, f"ds-{size}")
        # Ingest even into a dataset that exists: a rerun adds only the files it lacks, so a
        # dataset an interrupted run left half-written is completed, never measured as it is.
        fresh = not os.path.isdir(ds)
        secs, mib = timed([binaries["this"], "ingest", trail, "--dataset", ds])
        what = "ingest" if fresh else "ingest (rerun over the existing dataset)"
        print(f"{size:>11,} events: {what} {secs:.2f} s, {mib:,.0f} MiB", flush=True)
        first = subprocess.run([binaries["this"], "by-instance", "--dataset", ds, "--format", "csv"],
                               check=True, capture_output=True, text=True).stdout.splitlines()
        instance = first[1].split(",")[1]
        chosen = reports(instance)
        if args.only:
            chosen = {k: v for k, v in chosen.items() if k in args.only.split(",")}
        sources = [("dataset", ["--dataset", ds])] + ([] if args.no_json else [("json", [trail])])
        for report, cmd in chosen.items():
            for source, where in sources:
                outputs = {}
                for name, binary in binaries.items():
                    full = [binary, *cmd, *where, "-vv"]
                    out = os.path.join(args.work, f"out-{name}-{report}-{source}-{size}.csv")
                    written_to = os.path.join(args.work, f"out-{name}-{report}-{source}-{size}")
                    if report == "report":
                        full += ["--output-dir", written_to]

                    def once():
                        subprocess.run(["rm", "-rf", written_to], check=True)
                        secs, rss, err = measured(full, out=out, ok=(0, 4))
                        return secs, rss, live_heap(err)
                    if source == "dataset":  # the first report after an ingest resolves every ID
                        subprocess.run(["rm", "-rf", os.path.join(ds, "_janus", "cache")], check=True)
                    first = once()  # warm: page cache, duplicates' answer
                    best = min((once() for _ in range(args.runs)),
                               key=lambda r: r[0])
                    rows.setdefault((name, report, source), {})[size] = best
                    outputs[name] = written(written_to) if report == "report" else open(out).read()
                    print(f"{size:>11,} events: {name:5} {report:11} {source:7} "
                          f"{best[0]:6.2f} s {best[1]:8,.0f} MiB{heap(best)} (first {first[1]:,.0f} MiB)",
                          flush=True)
                if len(set(outputs.values())) > 1:
                    sys.exit(f"{report} over the {source} at {size:,} events: the builds disagree")

    print()
    head = " | ".join(f"{s / 1e6:g}M events" for s in sizes)
    print(f"| build | report | from | {head} | RSS {sizes[-1] / 1e6:g}M / {sizes[0] / 1e6:g}M |")
    print("|---|---|---|" + "---|" * len(sizes) + "---|")
    for (name, report, source), by_size in rows.items():
        cells = " | ".join(f"{by_size[s][0]:.2f} s, {by_size[s][1]:,.0f} MiB{heap(by_size[s])}" if s in by_size else ""
                           for s in sizes)
        ratio = by_size[sizes[-1]][1] / by_size[sizes[0]][1] if len(by_size) == len(sizes) else float("nan")
        print(f"| {name} | {report} | {source} | {cells} | {ratio:.2f} |")


def heap(run):
    """The live heap beside the RSS, where the build said it."""
    return f" ({run[2]:,} live)" if run[2] is not None else ""


if __name__ == "__main__":
    main()
