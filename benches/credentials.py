#!/usr/bin/env python3
"""Benchmark: the whole `janus-audit credentials` process, as the AWS CLI runs it.

    python3 benches/credentials.py [--runs 50]

Builds the fetcher-only binary (`--profile fetcher --no-default-features --features credentials`, the one
that ships to VMs and pods) and the loopback fakes (examples/fake-peers.rs), then times, per run,
a fresh process from spawn to exit:
  - cold: --no-cache, so metadata token + STS call every time (targets: <= 50 ms median)
  - cached: a warm cache (target: <= 10 ms median)
and prints the medians and p90s. Then `credentials serve` from the same binary: a client's wait
for credentials (median and p99 of --requests GETs on one keep-alive loopback connection; target
under 1 ms median) and the server's idle RSS (target under 10 MiB).
"""
import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TARGET = os.environ.get("CARGO_TARGET_DIR", os.path.expanduser("~/.cache/janus-audit-target"))
AUD = "https://aws.example.com/janus"


def build():
    env = dict(os.environ, CARGO_TARGET_DIR=TARGET)
    # The fakes in the debug build CI already makes: a release build of the examples would
    # rebuild polars (the dev-dependencies' features) for half an hour.
    subprocess.run(["cargo", "build", "--example", "fake-peers"], cwd=ROOT, env=env, check=True)
    subprocess.run(["cargo", "build", "--profile", "fetcher", "--no-default-features", "--features",
                    "credentials", "--bin", "janus-audit"], cwd=ROOT, env=env, check=True)
    binary = os.path.join(tempfile.mkdtemp(), "janus-audit-credentials")
    shutil.copy(os.path.join(TARGET, "fetcher", "janus-audit"), binary)
    return binary, os.path.join(TARGET, "debug", "examples", "fake-peers")


def timed(cmd, env):
    start = time.perf_counter()
    p = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    elapsed = (time.perf_counter() - start) * 1000
    if p.returncode != 0 or not p.stdout.startswith(b'{"Version":1'):
        sys.exit(f"run failed ({p.returncode}): {p.stderr.decode()}")
    return elapsed


def report(name, samples, target):
    samples.sort()
    med = statistics.median(samples)
    p90 = samples[int(len(samples) * 0.9) - 1]
    verdict = "ok" if med <= target else "OVER TARGET"
    print(f"{name:>7}: median {med:6.1f} ms  p90 {p90:6.1f} ms  (target <= {target} ms: {verdict})")
    return med <= target


def serve(binary, addrs, env, requests):
    """`credentials serve`: a client's wait for credentials over loopback (one keep-alive
    connection, as an SDK holds one), and the server's resident memory once idle."""
    import http.client
    proc = subprocess.Popen([binary, "credentials", "--role-arn", "arn:aws:iam::123456789012:role/bench",
                             "--audience", AUD, "--token-source", "metadata", "--sts-endpoint", addrs["sts"],
                             "--no-cache", "serve", "--print-env"],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        lines = [proc.stdout.readline().strip() for _ in range(2)]
        uri = lines[0].split("=", 1)[1].strip("'")
        token = lines[1].split("=", 1)[1].strip("'")
        hostport, path = uri[len("http://"):].split("/", 1)
        host, port = hostport.split(":")
        conn = http.client.HTTPConnection(host, int(port))
        samples = []
        for _ in range(requests):
            start = time.perf_counter()
            conn.request("GET", "/" + path, headers={"Authorization": token})
            r = conn.getresponse()
            body = r.read()
            samples.append((time.perf_counter() - start) * 1000)
            if r.status != 200 or b"AccessKeyId" not in body:
                sys.exit(f"serve answered {r.status}")
        time.sleep(1)
        with open(f"/proc/{proc.pid}/status") as fh:
            status = {l.split(":")[0]: l.split()[1] for l in fh if l.startswith(("VmRSS:", "RssAnon:", "RssFile:"))}
        rss, anon, file = (int(status[k]) / 1024 for k in ("VmRSS", "RssAnon", "RssFile"))
    finally:
        proc.kill()
    samples.sort()
    med = statistics.median(samples)
    p99 = samples[int(len(samples) * 0.99) - 1]
    ok = med < 1.0 and rss < 10
    print(f"  serve: median {med:6.3f} ms  p99 {p99:6.3f} ms over {requests} requests (target < 1 ms median); "
          f"idle RSS {rss:.1f} MiB ({anon:.1f} anonymous, {file:.1f} file-backed; target < 10 MiB): "
          f"{'ok' if ok else 'OVER TARGET'}")
    return ok


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=50)
    ap.add_argument("--requests", type=int, default=1000)
    args = ap.parse_args()
    binary, peers_bin = build()
    size = os.path.getsize(binary)
    peers = subprocess.Popen([peers_bin, AUD], stdout=subprocess.PIPE, text=True)
    try:
        addrs = dict(peers.stdout.readline().strip().split("=", 1) for _ in range(2))
        cache = tempfile.mkdtemp()
        env = {"PATH": "/usr/bin:/bin", "HOME": cache, "GCE_METADATA_HOST": addrs["metadata"]}
        cmd = [binary, "credentials", "--role-arn", "arn:aws:iam::123456789012:role/bench",
               "--audience", AUD, "--token-source", "metadata", "--sts-endpoint", addrs["sts"],
               "--cache-dir", os.path.join(cache, "c")]
        print(f"fetcher-only binary: {size / 1e6:.1f} MB")
        timed(cmd + ["--no-cache"], env)  # warm the page cache for the binary
        cold = [timed(cmd + ["--no-cache"], env) for _ in range(args.runs)]
        timed(cmd, env)  # fill the credential cache
        warm = [timed(cmd, env) for _ in range(args.runs)]
        ok = report("cold", cold, 50) & report("cached", warm, 10)
        ok &= serve(binary, addrs, env, args.requests)
    finally:
        peers.kill()
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
