#!/usr/bin/env python3
"""Time pcapstat against tshark, tcptrace and the floor on one capture (issue #3).

    python3 benches/compare.py FILE [--pcapstat BIN] [--floor BIN] [--head-percent 10]

Usually started through benches/compare.sh, which installs the tools and builds the release
binaries first. Each program runs once, one after the other, on the same file, after one read of
the file to warm the page cache, under `/usr/bin/time -v` (wall clock and peak RSS):

    pcapstat analyze FILE --format json [--threads N]   (--threads only if `analyze --help` lists it)
    tshark -r FILE -q -z conv,tcp
    tcptrace -l -r FILE                                  (output to /dev/null)
    pcapstat-floor FILE
    pcapstat-core-tcp FILE   (pcapstat-core's read → decode → TCP tracker loop on one thread;
                              shown beside the CLI, which may do less at the commit measured)

Then a memory check: pcapstat on the first --head-percent of the file's packets (cut with
editcap) and on the whole file, each read from its path (memory-mapped: the peak RSS counts the
mapped file pages too) and from standard input (streamed: the peak RSS is the heap plus a bounded
read buffer, so it is the figure to compare); pcapstat-core-tcp too, from standard input. Prints figures, ratios and whether the issue's
targets are met; --json writes them to a file too.
"""
import argparse
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# Where cargo put the release binaries: $CARGO_TARGET_DIR (as .ci/run sets it), else target/.
RELEASE = os.path.join(os.environ.get("CARGO_TARGET_DIR") or os.path.join(ROOT, "target"), "release")


def sh(cmd, **kw):
    return subprocess.run(cmd, check=True, capture_output=True, text=True, **kw).stdout


def timed(cmd, stdin_path=None, stdout_path=os.devnull, pipe=False):
    """Runs cmd under /usr/bin/time -v; returns wall seconds (measured here), peak RSS in KiB,
    exit code and what the command printed (when stdout_path is None). With `pipe`, stdin_path
    comes through a pipe from `cat` (a stream, as from tcpdump: pcapstat maps a file given as
    standard input) and the figures are the command's alone."""
    with tempfile.NamedTemporaryFile("r", suffix=".time") as tf:
        cat = None
        if stdin_path and pipe:
            cat = subprocess.Popen(["cat", stdin_path], stdout=subprocess.PIPE)
            stdin = cat.stdout
        else:
            stdin = open(stdin_path, "rb") if stdin_path else subprocess.DEVNULL
        out = subprocess.PIPE if stdout_path is None else open(stdout_path, "wb")
        start = time.monotonic()
        p = subprocess.run(
            ["/usr/bin/time", "-v", "-o", tf.name] + cmd,
            stdin=stdin,
            stdout=out,
            stderr=subprocess.PIPE,
        )
        wall = time.monotonic() - start
        if stdin_path:
            stdin.close()
        if cat:
            cat.wait()
        if stdout_path is not None:
            out.close()
        report = tf.read()
    m = re.search(r"Maximum resident set size \(kbytes\): (\d+)", report)
    rss = int(m.group(1)) if m else -1
    if p.returncode != 0:
        sys.stderr.write(p.stderr.decode(errors="replace")[-2000:])
    printed = p.stdout.decode(errors="replace") if stdout_path is None else ""
    return {"wall_s": wall, "rss_kib": rss, "rc": p.returncode, "stdout": printed}


def machine():
    model = ""
    try:
        for line in sh(["lscpu"]).splitlines():
            if line.startswith("Model name:"):
                model = line.split(":", 1)[1].strip()
    except (OSError, subprocess.CalledProcessError):
        model = platform.processor()
    mem_kib = 0
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                mem_kib = int(line.split()[1])
    return {
        "nproc": int(sh(["nproc"]).strip()),
        "cpu": model,
        "mem_gib": round(mem_kib / 2**20, 1),
        "kernel": platform.release(),
    }


def version(cmd):
    # Some tools (tcptrace -v) exit non-zero after printing their version.
    try:
        p = subprocess.run(cmd, capture_output=True, text=True)
        return (p.stdout or p.stderr).splitlines()[0].strip()
    except (OSError, IndexError):
        return "?"


def git_commit():
    try:
        rev = sh(["git", "-C", ROOT, "rev-parse", "--short=12", "HEAD"]).strip()
        dirty = sh(["git", "-C", ROOT, "status", "--porcelain", "--untracked-files=no"]).strip()
        return rev + ("+dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "?"


def frames_of(json_line):
    try:
        return int(json.loads(json_line.splitlines()[0])["frames"])
    except (ValueError, KeyError, IndexError):
        return None


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("file")
    ap.add_argument("--pcapstat", default=os.path.join(RELEASE, "pcapstat"))
    ap.add_argument("--floor", default=os.path.join(RELEASE, "pcapstat-floor"))
    ap.add_argument("--core-tcp", default=os.path.join(RELEASE, "pcapstat-core-tcp"))
    ap.add_argument("--repeat", type=int, default=1,
                    help="run each program this many times and keep the median wall clock")
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1,
                    help="passed as --threads when pcapstat supports it (default: all CPUs)")
    ap.add_argument("--head-percent", type=float, default=10.0,
                    help="share of the packets in the memory check's small file (default 10)")
    ap.add_argument("--skip", action="append", default=[], choices=["tshark", "tcptrace"],
                    help="leave a slow comparison out (repeatable)")
    ap.add_argument("--json", help="also write the figures to this file")
    args = ap.parse_args()

    path = args.file
    size = os.path.getsize(path)
    help_text = sh([args.pcapstat, "analyze", "--help"])
    threads = ["--threads", str(args.threads)] if "--threads" in help_text else []
    cmds = {
        "pcapstat": [args.pcapstat, "analyze", path, "--format", "json"] + threads,
        "tshark": ["tshark", "-r", path, "-q", "-z", "conv,tcp"],
        "tcptrace": ["tcptrace", "-l", "-r", path],
        "floor": [args.floor, path],
        "core-tcp": [args.core_tcp, path],
    }
    info = {
        "date": time.strftime("%Y-%m-%d"),
        "machine": machine(),
        "file": os.path.basename(path),
        "file_bytes": size,
        "pcapstat_commit": git_commit(),
        "pcapstat_version": version([args.pcapstat, "--version"]),
        "pcapstat_threads": threads[1] if threads else None,
        "tshark_version": version(["tshark", "--version"]),
        "tcptrace_version": version(["tcptrace", "-v"]),
        "commands": {k: " ".join(v).replace(ROOT + "/", "") for k, v in cmds.items()},
        "runs": {},
    }
    m = info["machine"]
    print(f"machine: {m['nproc']} CPUs, {m['cpu']}, {m['mem_gib']} GiB, Linux {m['kernel']}")
    print(f"file: {path} ({size / 1e6:.1f} MB)")
    print(f"pcapstat: {info['pcapstat_version']} at commit {info['pcapstat_commit']}"
          + (f", --threads {threads[1]}" if threads else " (no --threads option)"))

    # Warm the page cache so every program reads the file from memory alike.
    with open(path, "rb") as f:
        while f.read(1 << 24):
            pass

    runs = info["runs"]
    info["repeat"] = args.repeat
    names = ["pcapstat", "tshark", "tcptrace", "floor"]
    if os.path.exists(args.core_tcp):
        names.append("core-tcp")
    for name in names:
        if name in args.skip:
            continue
        print(f"running {name}: {info['commands'][name]}", flush=True)
        keep = name in ("pcapstat", "floor", "core-tcp")
        tries = []
        for _ in range(max(1, args.repeat)):
            r = timed(cmds[name], stdout_path=None if keep else os.devnull)
            print(f"  {r['wall_s']:8.2f} s  peak RSS {r['rss_kib'] / 1024:8.1f} MiB  exit {r['rc']}",
                  flush=True)
            tries.append(r)
        r = sorted(tries, key=lambda t: t["wall_s"])[len(tries) // 2]
        r["all_wall_s"] = [round(t["wall_s"], 3) for t in tries]
        r["rss_kib"] = max(t["rss_kib"] for t in tries)
        if name == "pcapstat":
            r["packets"] = frames_of(r["stdout"])
        if name in ("floor", "core-tcp"):
            kv = dict(line.split(" ", 1) for line in r["stdout"].splitlines() if " " in line)
            r["packets"] = int(kv.get("packets", 0))
            r["internal_elapsed_s"] = float(kv.get("elapsed_s", 0))
            if name == "core-tcp":
                r["connections"] = int(kv.get("connections", 0))
                r["retransmissions"] = int(kv.get("retransmissions", 0))
        r.pop("stdout")
        runs[name] = r

    # Memory: the head of the file and the whole file, by path and by standard input.
    packets = runs.get("floor", {}).get("packets") or runs["pcapstat"].get("packets")
    head_n = max(1, int(packets * args.head_percent / 100))
    mem = {"head_percent": args.head_percent, "head_packets": head_n, "whole_packets": packets}
    with tempfile.TemporaryDirectory() as tmp:
        head = os.path.join(tmp, "head" + os.path.splitext(path)[1])
        sh(["editcap", "-r", path, head, f"1-{head_n}"])
        mem["head_bytes"] = os.path.getsize(head)
        for label, p in [("head", head), ("whole", path)]:
            by_path = timed([args.pcapstat, "analyze", p, "--format", "json"] + threads)
            by_stdin = timed([args.pcapstat, "analyze", "-", "--format", "json"] + threads,
                             stdin_path=p, pipe=True)
            mem[label] = {"path_rss_kib": by_path["rss_kib"],
                          "stdin_rss_kib": by_stdin["rss_kib"],
                          "stdin_wall_s": by_stdin["wall_s"]}
            if "core-tcp" in runs:
                ct = timed([args.core_tcp, "-"], stdin_path=p, pipe=True)
                mem[label]["core_tcp_stdin_rss_kib"] = ct["rss_kib"]
    info["memory"] = mem

    # Figures and targets.
    ps = runs["pcapstat"]
    pps = ps["packets"] / ps["wall_s"] if ps.get("packets") else None
    mbps = size / 1e6 / ps["wall_s"]
    ratios = {}
    if "tshark" in runs:
        ratios["tshark/pcapstat"] = runs["tshark"]["wall_s"] / ps["wall_s"]
    if "tcptrace" in runs:
        ratios["tcptrace/pcapstat"] = runs["tcptrace"]["wall_s"] / ps["wall_s"]
    ratios["pcapstat/floor"] = ps["wall_s"] / runs["floor"]["wall_s"]
    if "core-tcp" in runs:
        ct = runs["core-tcp"]["wall_s"]
        if "tshark" in runs:
            ratios["tshark/core-tcp"] = runs["tshark"]["wall_s"] / ct
        if "tcptrace" in runs:
            ratios["tcptrace/core-tcp"] = runs["tcptrace"]["wall_s"] / ct
        ratios["core-tcp/floor"] = ct / runs["floor"]["wall_s"]
    info["ratios"] = ratios
    info["pcapstat_packets_per_s"] = pps
    info["pcapstat_mb_per_s"] = mbps
    head_heap, whole_heap = mem["head"]["stdin_rss_kib"], mem["whole"]["stdin_rss_kib"]
    targets = {
        ">= 30x faster than tshark": ratios.get("tshark/pcapstat", 0) >= 30
        if "tshark" in runs else None,
        "faster than tcptrace": ratios.get("tcptrace/pcapstat", 0) > 1
        if "tcptrace" in runs else None,
        "packets/s within 2x of the floor": ratios["pcapstat/floor"] <= 2,
        # "Flat": the whole file peaks within 10% (and 8 MiB) of its head.
        "memory flat (stdin peak RSS, whole vs head)":
            whole_heap <= max(head_heap * 1.10, head_heap + 8192),
    }
    info["targets"] = targets

    print()
    med = f" (median of {args.repeat})" if args.repeat > 1 else ""
    print(f"{'program':10} {'wall s':>9} {'peak RSS MiB':>13}{med}")
    for name, r in runs.items():
        print(f"{name:10} {r['wall_s']:9.2f} {r['rss_kib'] / 1024:13.1f}")
    print()
    for k, v in ratios.items():
        print(f"{k:20} {v:8.2f}")
    if pps:
        print(f"pcapstat: {ps['packets']} packets, {pps:,.0f} packets/s, {mbps:,.1f} MB/s")
    fl = runs["floor"]
    print(f"floor:    {fl['packets']} packets, {fl['packets'] / fl['wall_s']:,.0f} packets/s "
          f"(wall clock; {fl['packets'] / fl['internal_elapsed_s']:,.0f} counting only its loop)")
    if "core-tcp" in runs:
        c = runs["core-tcp"]
        print(f"core-tcp: {c['packets']} packets, {c['packets'] / c['wall_s']:,.0f} packets/s, "
              f"{c['connections']} connections, {c['retransmissions']} retransmissions")
    print()
    print(f"memory (pcapstat peak RSS, MiB)   head {args.head_percent:g}% "
          f"({head_n} packets)   whole ({packets} packets)")
    print(f"  file path (mmap, counts mapped pages) {mem['head']['path_rss_kib'] / 1024:10.1f}"
          f" {mem['whole']['path_rss_kib'] / 1024:10.1f}")
    print(f"  standard input (heap + read buffer)   {head_heap / 1024:10.1f}"
          f" {whole_heap / 1024:10.1f}")
    if "core_tcp_stdin_rss_kib" in mem["head"]:
        print(f"  core-tcp, standard input              "
              f"{mem['head']['core_tcp_stdin_rss_kib'] / 1024:10.1f}"
              f" {mem['whole']['core_tcp_stdin_rss_kib'] / 1024:10.1f}")
    print()
    for k, v in targets.items():
        print(f"target {k}: {'met' if v else ('not measured' if v is None else 'NOT met')}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(info, f, indent=2)
            f.write("\n")


if __name__ == "__main__":
    main()
