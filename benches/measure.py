"""What every benchmark here measures of a command: its wall time and its peak RSS, and for
janus-audit run with -vv, the most heap it held live."""
import os
import re
import subprocess
import sys
import tempfile
import time


def measured(cmd, env=None, out=None, ok=(0,)):
    """Wall seconds, peak RSS (MiB) and standard error of one child process, its stdout to
    `out` (or nowhere). Standard error goes to a file, not a pipe: a -vv run writes more than a
    pipe holds before it is read. An exit status not in `ok` ends the benchmark with it."""
    with tempfile.TemporaryFile() as err_file:
        start = time.perf_counter()
        p = subprocess.Popen(cmd, stdout=open(out, "w") if out else subprocess.DEVNULL,
                             stderr=err_file, env=env)
        _, status, usage = os.wait4(p.pid, 0)
        elapsed = time.perf_counter() - start
        err_file.seek(0)
        err = err_file.read().decode(errors="replace")
    code = os.waitstatus_to_exitcode(status)
    if code not in ok:
        sys.exit(f"{' '.join(cmd)} failed ({code}): {err[-2000:]}")
    return elapsed, usage.ru_maxrss / 1024, err


def timed(cmd, env=None, out=None, ok=(0,)):
    """Wall seconds and peak RSS (MiB) of one child process (see `measured`)."""
    elapsed, rss, _ = measured(cmd, env, out, ok)
    return elapsed, rss


def live_heap(err):
    """The most heap (MiB) a janus-audit run with -vv held live, from its last line; None when
    it did not say (a run without -vv, a build before it said so)."""
    found = re.findall(r"heap: at most ([0-9]+) MiB live", err)
    return int(found[-1]) if found else None
