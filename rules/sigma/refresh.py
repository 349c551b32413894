#!/usr/bin/env python3
"""Refresh the vendored SigmaHQ CloudTrail rules and the list janus-audit embeds.

    python3 rules/sigma/refresh.py [SIGMA_CHECKOUT]

Copies rules/cloud/aws/cloudtrail/*.yml from a checkout of github.com/SigmaHQ/sigma (cloned
into a temporary directory when none is given; that needs the network) into
rules/sigma/cloudtrail/, records the commit in rules/sigma/SOURCE, and writes
src/analyzer/sigma/shipped.rs, which embeds every rule with include_str!. With --check it only
tells whether shipped.rs lists exactly the files under rules/sigma/cloudtrail (CI runs that).
"""
import os
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
RULES = os.path.join(HERE, "cloudtrail")
SHIPPED = os.path.join(ROOT, "src", "analyzer", "sigma", "shipped.rs")


def shipped_rs():
    names = sorted(n for n in os.listdir(RULES) if n.endswith((".yml", ".yaml")))
    lines = [
        "//! SigmaHQ's CloudTrail rules, vendored under rules/sigma/ (Detection Rule License 1.1;",
        "//! see rules/sigma/README.md). Written by rules/sigma/refresh.py: do not edit.",
        "",
        "#[rustfmt::skip]",
        "pub const RULES: &[(&str, &str)] = &[",
    ]
    for n in names:
        lines.append(f'    ("{n}", include_str!("../../../rules/sigma/cloudtrail/{n}")),')
    lines.append("];")
    return "\n".join(lines) + "\n"


def main():
    args = sys.argv[1:]
    if args == ["--check"]:
        with open(SHIPPED) as f:
            if f.read() != shipped_rs():
                sys.exit("src/analyzer/sigma/shipped.rs is out of date: run python3 rules/sigma/refresh.py")
        return
    tmp = None
    if args:
        checkout = args[0]
    else:
        tmp = tempfile.mkdtemp()
        checkout = os.path.join(tmp, "sigma")
        subprocess.run(["git", "clone", "--depth", "1", "https://github.com/SigmaHQ/sigma", checkout], check=True)
    commit = subprocess.run(["git", "-C", checkout, "rev-parse", "HEAD"], check=True,
                            capture_output=True, text=True).stdout.strip()
    src = os.path.join(checkout, "rules", "cloud", "aws", "cloudtrail")
    shutil.rmtree(RULES, ignore_errors=True)
    os.makedirs(RULES)
    for n in sorted(os.listdir(src)):
        if n.endswith((".yml", ".yaml")):
            shutil.copy(os.path.join(src, n), os.path.join(RULES, n))
    with open(os.path.join(HERE, "SOURCE"), "w") as f:
        f.write(f"github.com/SigmaHQ/sigma {commit} rules/cloud/aws/cloudtrail\n")
    with open(SHIPPED, "w") as f:
        f.write(shipped_rs())
    if tmp:
        shutil.rmtree(tmp)


if __name__ == "__main__":
    main()
