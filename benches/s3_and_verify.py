#!/usr/bin/env python3
"""Benchmark: `by-instance` over the same trail from disk and from a local S3 server (moto), and
what log-file integrity validation costs beside it.

    python3 benches/s3_and_verify.py                       # 1,000,000 events, --s3-concurrency 16
    python3 benches/s3_and_verify.py --events 200000 --concurrency 32

It builds the release binary and examples/gen-trail.rs, writes the trail once (reused while it
exists), signs one chained digest per delivery hour with an RSA key it generates (the `cryptography`
package moto brings), starts moto's S3 server from the interop venv
(~/.cache/janus-audit-interop-venv, made by .ci/run or tests/s3.rs), uploads the trail with its
digests and signature metadata, then times (best of --runs, wall clock, peak RSS from wait4):

- `by-instance` from disk and from s3://, which must print the same CSV;
- `verify` of the disk copy made by `sync` (offline, every digest signature and every log file
  hash), and `by-instance --verify` (the report with validation riding on the bytes it reads).
"""
import argparse
import calendar
import gzip
import hashlib
import json
import os
import socket
import subprocess
import sys
import tempfile
import time

from measure import timed  # run as benches/s3_and_verify.py: its folder is on the path

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TARGET = os.environ.get("CARGO_TARGET_DIR", os.path.expanduser("~/.cache/janus-audit-target"))
VENV = os.environ.get("INTEROP_VENV", os.path.expanduser("~/.cache/janus-audit-interop-venv"))
FINGERPRINT = "b0e6f4cc0e1d2a3b4c5d6e7f8091a2b3"


def sh(cmd, **kw):
    print("+", " ".join(cmd), file=sys.stderr)
    subprocess.run(cmd, check=True, **kw)


def best(cmd, runs, env=None, out=None):
    results = [timed(cmd, env, out) for _ in range(runs)]
    return min(r[0] for r in results), max(r[1] for r in results)


def digests(trail, key, bucket):
    """One chained digest per delivery hour, per account and region folder: (key, bytes, signature)."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding
    groups = {}
    for d, _, fs in os.walk(trail):
        for f in fs:
            rel = os.path.relpath(os.path.join(d, f), trail)
            if "/CloudTrail/" in rel:
                scope, rest = rel.split("/CloudTrail/")
                groups.setdefault((scope, rest.split("/")[0]), []).append(rel)
    out = []
    for (scope, region), logs in sorted(groups.items()):
        account = scope.rsplit("/", 1)[-1]
        hours = {}
        for rel in logs:  # delivered in the hour of the stamp in its name (YYYYMMDDTHHMMZ)
            hours.setdefault(rel.rsplit("_", 2)[-2][:11], []).append(rel)
        prev, start = None, None
        for hour in sorted(hours):
            end_s = calendar.timegm(time.strptime(hour, "%Y%m%dT%H")) + 3600
            end = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(end_s))
            start = start or time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(end_s - 3600))
            dkey = (f"{scope}/CloudTrail-Digest/{region}/{time.strftime('%Y/%m/%d', time.gmtime(end_s))}/"
                    f"{account}_CloudTrail-Digest_{region}_bench_us-east-1_{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime(end_s))}.json.gz")
            listed = []
            for rel in sorted(hours[hour]):
                with open(os.path.join(trail, rel), "rb") as fh:
                    listed.append({"s3Bucket": bucket, "s3Object": rel, "hashAlgorithm": "SHA-256",
                                   "hashValue": hashlib.sha256(gzip.decompress(fh.read())).hexdigest()})
            body = json.dumps({
                "awsAccountId": account, "digestStartTime": start, "digestEndTime": end,
                "digestS3Bucket": bucket, "digestS3Object": dkey,
                "digestPublicKeyFingerprint": FINGERPRINT, "digestSignatureAlgorithm": "SHA256withRSA",
                "previousDigestS3Bucket": bucket if prev else None,
                "previousDigestS3Object": prev[0] if prev else None,
                "previousDigestHashValue": hashlib.sha256(prev[2]).hexdigest() if prev else None,
                "previousDigestHashAlgorithm": "SHA-256" if prev else None,
                "previousDigestSignature": prev[1] if prev else None,
                "logFiles": listed,
            }).encode()
            to_sign = (f"{end}\n{bucket}/{dkey}\n{hashlib.sha256(body).hexdigest()}\n"
                       f"{prev[1] if prev else 'null'}").encode()
            sig = key.sign(to_sign, padding.PKCS1v15(), hashes.SHA256()).hex()
            out.append((dkey, gzip.compress(body), sig))
            prev = (dkey, sig, body)
            start = end
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--concurrency", type=int, default=16)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    if sys.prefix != VENV:
        if not os.path.exists(os.path.join(VENV, "bin", "moto_server")):
            sh(["python3", "-m", "venv", VENV])
            sh([os.path.join(VENV, "bin", "pip"), "install", "--quiet", "awscli", "boto3", "moto[server]"])
        os.execv(os.path.join(VENV, "bin", "python"), [os.path.join(VENV, "bin", "python")] + sys.argv)
    import boto3
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    env = dict(os.environ, CARGO_TARGET_DIR=TARGET)
    sh(["cargo", "build", "--release", "--bin", "janus-audit", "--example", "gen-trail"], cwd=ROOT, env=env)
    janus = os.path.join(TARGET, "release", "janus-audit")
    trail = f"/tmp/janus-bench-trail-{args.events}"
    if not os.path.isdir(trail):
        sh([os.path.join(TARGET, "release", "examples", "gen-trail"), "--events", str(args.events), trail])

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    moto = subprocess.Popen([os.path.join(VENV, "bin", "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    # A fake ListPublicKeys is not needed: verify runs offline on the sync mirror, whose key
    # file this script writes.
    try:
        url = f"http://127.0.0.1:{port}"
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), 0.2).close()
                break
            except OSError:
                time.sleep(0.1)
        c = boto3.client("s3", endpoint_url=url, region_name="us-east-1",
                         aws_access_key_id="test", aws_secret_access_key="test")
        bucket = "bench"
        c.create_bucket(Bucket=bucket)
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        der = key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.PKCS1)
        files = [os.path.relpath(os.path.join(d, f), trail) for d, _, fs in os.walk(trail) for f in fs
                 if "/CloudTrail/" in os.path.join(d, f)]
        for rel in files:
            with open(os.path.join(trail, rel), "rb") as fh:
                c.put_object(Bucket=bucket, Key=rel, Body=fh.read())
        signed = digests(trail, key, bucket)
        for dkey, body, sig in signed:
            c.put_object(Bucket=bucket, Key=dkey, Body=body,
                         Metadata={"signature": sig, "signature-algorithm": "SHA256withRSA"})
        run_env = dict(os.environ, AWS_ACCESS_KEY_ID="test", AWS_SECRET_ACCESS_KEY="test",
                       AWS_REGION="us-east-1", AWS_ENDPOINT_URL_S3=url,
                       AWS_ENDPOINT_URL_CLOUDTRAIL="http://127.0.0.1:9")
        with tempfile.TemporaryDirectory() as tmp:
            disk_csv, s3_csv = os.path.join(tmp, "disk.csv"), os.path.join(tmp, "s3.csv")
            disk = best([janus, "by-instance", trail, "--format", "csv"], args.runs, run_env, disk_csv)
            s3 = best([janus, "by-instance", f"s3://{bucket}", "--format", "csv",
                       "--s3-concurrency", str(args.concurrency)], args.runs, run_env, s3_csv)
            if open(disk_csv).read() != open(s3_csv).read():
                sys.exit("s3:// and disk gave different reports")
            mirror = os.path.join(tmp, "mirror")
            subprocess.run([janus, "sync", f"s3://{bucket}", mirror, "-q"], env=run_env)
            os.makedirs(os.path.join(mirror, ".janus-sync"), exist_ok=True)
            with open(os.path.join(mirror, ".janus-sync", "public-keys.json"), "w") as fh:
                json.dump({"keys": {FINGERPRINT: der.hex()}}, fh)
            verify = best([janus, "verify", mirror, "--format", "csv"], args.runs, run_env)
            report_verify = best([janus, "by-instance", mirror, "--verify", "--format", "csv"], args.runs, run_env)
            report_mirror = best([janus, "by-instance", mirror, "--format", "csv"], args.runs, run_env)
        print(f"{args.events} events, {len(files)} log files, {len(signed)} digests")
        print(f"by-instance from disk:        {disk[0]:.2f} s, {disk[1]:.0f} MiB")
        print(f"by-instance from s3:// ({args.concurrency}): {s3[0]:.2f} s, {s3[1]:.0f} MiB")
        print(f"verify (sync mirror, offline): {verify[0]:.2f} s, {verify[1]:.0f} MiB")
        print(f"by-instance on the mirror:     {report_mirror[0]:.2f} s, {report_mirror[1]:.0f} MiB")
        print(f"by-instance --verify:          {report_verify[0]:.2f} s, {report_verify[1]:.0f} MiB")
    finally:
        moto.kill()


if __name__ == "__main__":
    main()
