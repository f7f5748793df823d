#!/usr/bin/env python3
"""Generate testdata/expected/tls/<name>.tsv: tshark's view of every TLS handshake, one row per
tcp.stream that carried a ClientHello, for tests/tls_oracle.rs.

Captures: the TLS lab scenarios (../shared/lab/*/capture.pcap) and every shared capture whose
MANIFEST.tsv row lists TLS (protocols column contains "tls"/"ssl", or feature group tls*).

Usage: scripts/gen-tls-fixtures.py [--shared DIR]   (default: $PCAPSTAT_SHARED or ../shared)
tshark is run without key logs: what it shows is what a passive observer sees in clear.
"""
import argparse
import csv
import os
import re
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
LAB = ["b_http_keepalive", "c_tls12_tls13", "d_tls_resumption", "f_refused_syndrop",
       "h_http2", "i_delay_rtt"]
# TLS on ports tshark does not decode as TLS by default.
DECODE_AS = {"ndpi/tests/cfgs/default/pcap/tls_port_80.pcapng": ["tcp.port==80,tls"]}
HRR_RANDOM = "cf21ad74e59a6111be1d8c021e65b891c2a211167abb8c5e079e09e2c8a8339c"
FIELDS = [
    "frame.time_epoch", "tcp.stream", "ip.src", "ipv6.src", "tcp.srcport", "ip.dst", "ipv6.dst",
    "tcp.dstport", "tls.handshake.type", "tls.handshake.version",
    "tls.handshake.extensions.supported_version", "tls.handshake.ciphersuite",
    "tls.handshake.extensions_server_name", "tls.handshake.extensions_alpn_str",
    "tls.handshake.ja3", "tls.handshake.ja3_full", "tls.alert_message.level",
    "tls.alert_message.desc", "tls.handshake.random", "tls.record.content_type",
]
AGG = "\x1f"


def is_grease(v):
    return v & 0x0F0F == 0x0A0A and (v >> 8) == (v & 0xFF)


def ns(t):
    return int(Decimal(t) * 1_000_000_000)


def tshark_has(field):
    out = subprocess.run(["tshark", "-G", "fields"], capture_output=True, text=True).stdout
    return any(line.split("\t")[2:3] == [field] for line in out.splitlines())


def run(path, decode_as):
    cmd = ["tshark", "-n", "-r", str(path), "-Y", "tls", "-T", "fields", "-E", "occurrence=a",
           "-E", f"aggregator={AGG}", "-E", "separator=\t"]
    for d in decode_as:
        cmd += ["-d", d]
    for f in FIELDS:
        cmd += ["-e", f]
    res = subprocess.run(cmd, capture_output=True, text=True)
    for line in res.stdout.splitlines():
        yield dict(zip(FIELDS, [v.split(AGG) if v else [] for v in line.split("\t")]))


def one(v):
    return v[0] if v else ""


def streams(path, decode_as):
    out = {}
    for f in run(path, decode_as):
        stream = int(one(f["tcp.stream"]))
        src = one(f["ip.src"]) or one(f["ipv6.src"])
        dst = one(f["ip.dst"]) or one(f["ipv6.dst"])
        sport, dport = one(f["tcp.srcport"]), one(f["tcp.dstport"])
        ts = ns(one(f["frame.time_epoch"]))
        types = f["tls.handshake.type"]
        s = out.get(stream)
        if "1" in types and s is None:
            ver = f["tls.handshake.version"]
            sv = [int(v, 16) for v in f["tls.handshake.extensions.supported_version"]]
            sv = [v for v in sv if not is_grease(v)]
            s = out[stream] = {
                "stream": stream, "client": f"{src}:{sport}", "server": f"{dst}:{dport}",
                "client_hello_ts": ts, "sni": one(f["tls.handshake.extensions_server_name"]),
                "versions_offered": ",".join(f"0x{v:04x}" for v in sv) or one(ver),
                "alpn_offered": ",".join(f["tls.handshake.extensions_alpn_str"]),
                "ja3": one(f["tls.handshake.ja3"]), "ja3_full": one(f["tls.handshake.ja3_full"]),
                "hello_retry": "false", "server_hello_ts": "", "version": "", "cipher": "",
                "alpn": "", "alert": "", "alert_by": "", "alert_ts": "",
            }
            continue
        if s is None:
            continue
        side = "client" if f"{src}:{sport}" == s["client"] else "server"
        if "2" in types and side == "server" and not s["server_hello_ts"]:
            i = types.index("2")
            randoms = f["tls.handshake.random"]
            random = randoms[i] if i < len(randoms) else one(randoms)
            sv = f["tls.handshake.extensions.supported_version"]
            s["version"] = one(sv) or one(f["tls.handshake.version"])
            s["cipher"] = one(f["tls.handshake.ciphersuite"])
            if random.replace(":", "") == HRR_RANDOM:
                s["hello_retry"] = "true"
            else:
                s["server_hello_ts"] = ts
                s["alpn"] = one(f["tls.handshake.extensions_alpn_str"])
        if f["tls.alert_message.desc"] and not s["alert"]:
            s["alert"] = f"{one(f['tls.alert_message.level'])}:{one(f['tls.alert_message.desc'])}"
            s["alert_by"] = side
            s["alert_ts"] = ts
    return out


def tls_captures(shared):
    caps = [(f"lab-{n}", shared / "lab" / n / "capture.pcap", []) for n in LAB]
    with open(shared / "captures" / "MANIFEST.tsv", newline="") as fh:
        for row in csv.DictReader(fh, delimiter="\t"):
            protos, group = row.get("protocols", ""), row.get("feature_group", "")
            if re.search(r"\b(tls|ssl)\b", protos) or group.startswith("tls"):
                rel = row["rel_path"]
                name = re.sub(r"[^A-Za-z0-9._-]+", "_", rel)
                caps.append((name, shared / "captures" / rel, DECODE_AS.get(rel, [])))
    return caps


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--shared", default=os.environ.get("PCAPSTAT_SHARED", REPO / ".." / "shared"))
    args = ap.parse_args()
    shared = Path(args.shared).resolve()
    outdir = REPO / "testdata" / "expected" / "tls"
    outdir.mkdir(parents=True, exist_ok=True)
    version = subprocess.run(["tshark", "--version"], capture_output=True, text=True).stdout
    version = version.splitlines()[0]
    cols = ["stream", "client", "server", "client_hello_ts", "sni", "versions_offered",
            "alpn_offered", "ja3", "ja3_full", "hello_retry", "server_hello_ts", "version",
            "cipher", "alpn", "alert", "alert_by", "alert_ts"]
    index = []
    for name, path, decode_as in tls_captures(shared):
        rows = streams(path, decode_as)
        rel = path.relative_to(shared)
        with open(outdir / f"{name}.tsv", "w") as fh:
            fh.write(f"# {rel}: tshark fields per tcp.stream with a ClientHello ({version})\n")
            if decode_as:
                fh.write(f"# decode as: {' '.join(decode_as)}\n")
            fh.write("\t".join(cols) + "\n")
            for s in sorted(rows.values(), key=lambda s: s["stream"]):
                fh.write("\t".join(str(s[c]) for c in cols) + "\n")
        index.append(f"{name}\t{rel}\t{len(rows)}")
        print(f"{name}: {len(rows)} TLS streams", file=sys.stderr)
    with open(outdir / "INDEX.tsv", "w") as fh:
        fh.write("name\tcapture\ttls_streams\n" + "\n".join(index) + "\n")
    if tshark_has("tls.handshake.ja4"):
        print("note: this tshark has tls.handshake.ja4 (not used yet)", file=sys.stderr)


if __name__ == "__main__":
    main()
