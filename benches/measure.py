"""What every benchmark here measures of a command: its wall time and its peak RSS."""
import os
import subprocess
import sys
import time


def timed(cmd, env=None, out=None, ok=(0,)):
    """Wall seconds and peak RSS (MiB) of one child process, its stdout to `out` (or nowhere).
    An exit status not in `ok` ends the benchmark with the command's stderr."""
    start = time.perf_counter()
    p = subprocess.Popen(cmd, stdout=open(out, "w") if out else subprocess.DEVNULL,
                         stderr=subprocess.PIPE, env=env)
    _, status, usage = os.wait4(p.pid, 0)
    elapsed = time.perf_counter() - start
    err = p.stderr.read().decode()
    code = os.waitstatus_to_exitcode(status)
    if code not in ok:
        sys.exit(f"{' '.join(cmd)} failed ({code}): {err[-2000:]}")
    return elapsed, usage.ru_maxrss / 1024
