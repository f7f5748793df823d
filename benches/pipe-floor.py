#!/usr/bin/env python3
"""How long a pipe alone takes, beside pcapstat reading the same capture by path and through it.

    benches/pipe-floor.py ROUNDS CAPTURE PCAPSTAT

Runs, ROUNDS times in turn: `PCAPSTAT analyze CAPTURE --threads 2`; `cat CAPTURE | PCAPSTAT
analyze -`; `cat CAPTURE` into a 1 MiB pipe read 256 KiB at a time into one buffer and dropped
(the pipe with nothing analysed; pcapstat widens its standard input's pipe to 1 MiB too); `cat
CAPTURE > /dev/null`. Prints each one's median wall time and its ratio to the path's
(docs/performance.md, stops 33 and 37). Warm the page cache first (benches/suite.py does, for its
own runs).
"""
import fcntl
import os
import statistics
import subprocess
import sys
import time

F_SETPIPE_SZ = 1031


def through_pipe(capture, reader):
    r, w = os.pipe()
    try:
        fcntl.fcntl(w, F_SETPIPE_SZ, 1 << 20)
    except OSError:
        pass
    start = time.perf_counter()
    cat = subprocess.Popen(["cat", capture], stdout=w)
    os.close(w)
    if reader is None:
        # One buffer read into again and again (a fresh 1 MiB object a read, as `os.read`
        # makes, adds its page faults: about 0.2 s on 2.9 GB); 256 KiB a read was the fastest
        # of 64 KiB to 1 MiB on this machine (docs/performance.md, stop 37).
        buf = memoryview(bytearray(256 << 10))
        while os.readv(r, [buf]):
            pass
    else:
        subprocess.run(reader, stdin=r, stdout=subprocess.DEVNULL, check=True)
    os.close(r)
    cat.wait()
    return time.perf_counter() - start


def timed(cmd, **kw):
    start = time.perf_counter()
    subprocess.run(cmd, stdout=subprocess.DEVNULL, check=True, **kw)
    return time.perf_counter() - start


def main():
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    rounds, capture, pcapstat = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    analyze = [pcapstat, "analyze"]
    json2 = ["--format", "json", "--threads", "2"]
    runs = {
        "by path, --threads 2": lambda: timed(analyze + [capture] + json2),
        "cat | pcapstat analyze -": lambda: through_pipe(capture, analyze + ["-"] + json2),
        "cat into a 1 MiB pipe, dropped": lambda: through_pipe(capture, None),
        "cat > /dev/null": lambda: timed(["cat", capture]),
    }
    times = {name: [] for name in runs}
    for _ in range(rounds):
        for name, run in runs.items():
            times[name].append(run())
    path = statistics.median(times["by path, --threads 2"])
    for name, t in times.items():
        med = statistics.median(t)
        print(f"{name:32s} {med:.3f} s  {med / path:.2f}x the path   "
              + " ".join(f"{x:.2f}" for x in t))


if __name__ == "__main__":
    main()
