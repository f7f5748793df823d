#!/usr/bin/env python3
"""Watch this machine's phases: how `--threads 2` and `--threads 1` move against each other.

    benches/phases.py SECONDS CAPTURE PCAPSTAT

Until SECONDS have passed, runs in turn: `--threads 1` pinned to CPU 0, the same pinned to CPU 1,
`--threads 2`, and two `--threads 1` runs at once pinned to CPUs 0 and 1 (a pair). Prints one
line a round: the wall times, `--threads 2` vs the faster one-thread run, and the pair's slower
run against the slower single run (about 1.0 when the machine gives two independent runs two
CPUs' worth). Then the same as medians and ranges (docs/performance.md, stop 33).
"""
import statistics
import subprocess
import sys
import time


def run(cmds):
    start = time.perf_counter()
    procs = [subprocess.Popen(c, stdout=subprocess.DEVNULL) for c in cmds]
    ends = []
    for p in procs:
        p.wait()
        ends.append(time.perf_counter() - start)
    return ends


def main():
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    seconds, capture, pcapstat = float(sys.argv[1]), sys.argv[2], sys.argv[3]
    a = [pcapstat, "analyze", capture, "--format", "json"]
    one = a + ["--threads", "1"]
    rows = []
    end = time.time() + seconds
    while time.time() < end:
        r0 = run([["taskset", "-c", "0"] + one])[0]
        r1 = run([["taskset", "-c", "1"] + one])[0]
        t2 = run([a + ["--threads", "2"]])[0]
        pair = run([["taskset", "-c", "0"] + one, ["taskset", "-c", "1"] + one])
        row = (r0, r1, t2, min(r0, r1) / t2, max(pair) / max(r0, r1))
        rows.append(row)
        print(f"{time.strftime('%H:%M:%S')} t1@0 {r0:.3f} t1@1 {r1:.3f} t2 {t2:.3f}"
              f" t2 vs t1 {row[3]:.2f} pair/alone {row[4]:.2f}", flush=True)
    names = ["t1@0", "t1@1", "t2", "t2 vs t1", "pair/alone"]
    for i, name in enumerate(names):
        col = [r[i] for r in rows]
        print(f"{name:10s} median {statistics.median(col):.3f}  range {min(col):.3f}-{max(col):.3f}"
              f"  ({len(col)} rounds)")


if __name__ == "__main__":
    main()
