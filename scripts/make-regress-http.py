#!/usr/bin/env python3
"""Regression captures for HTTP pairing, mid-stream probing and connection roles (issue #11,
items 1, 4, 5), and their tshark oracle (stdlib + tshark only; deterministic).

    python3 scripts/make-regress-http.py

Writes testdata/regress/http/<name>.pcap and testdata/regress/http/<name>.tshark.tsv: one row per
HTTP request tshark dissects, with its endpoints (tshark's view of who sent the request), method,
URI, Host, and the status and `http.time` of the response tshark pairs with it
(`http.request_in`). crates/pcapstat-core/tests/http_regress.rs compares the pipeline's
records with these rows. See testdata/regress/http/README.md.
"""
import csv
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from pktbuild import TcpConn, write_pcap  # noqa: E402

OUT = os.path.join(os.path.dirname(HERE), "testdata", "regress", "http")
T0 = 1_700_000_000 * 1_000_000_000
MS = 1_000_000


def req(path, host="example.test"):
    return f"GET {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: regress\r\n\r\n".encode()


def resp(code=200, body=b"ok\n", extra=b""):
    return (f"HTTP/1.1 {code} OK\r\nContent-Length: {len(body)}\r\n".encode() + extra
            + b"\r\n" + body)


def handshake(c, t):
    return [c.syn(t), c.synack(t + 1 * MS), c.ack(t + 2 * MS)]


def keepalive(c, t, responses, host="example.test"):
    """Requests /1../n on one connection, each answered 100 ms later by responses[i]."""
    frames = []
    for i, r in enumerate(responses):
        t0 = t + i * 1000 * MS
        frames.append(c.send(t0, "c", req(f"/{i + 1}", host)))
        frames.append(c.send(t0 + 100 * MS, "s", r))
        frames.append(c.ack(t0 + 101 * MS, "c"))
    return frames


def space_before_colon():
    """Item 1: response 2 of 4 has `Access-Control-Allow-Credentials : true`."""
    c = TcpConn("10.1.0.1", "10.1.0.2", 40001, 80)
    cors = b"Access-Control-Allow-Origin: https://app.example.test\r\n" \
           b"Access-Control-Allow-Credentials : true\r\n"
    frames = handshake(c, T0)
    frames += keepalive(c, T0 + 10 * MS, [resp(), resp(extra=cors), resp(), resp()])
    return frames


def bad_response_head():
    """Item 1: response 2 of 4 has a NUL in a header name (no parser accepts it), the others
    are valid."""
    c = TcpConn("10.1.0.1", "10.1.0.2", 40002, 80)
    bad = resp(extra=b"X-Tr\0ce: 1\r\n")
    frames = handshake(c, T0)
    frames += keepalive(c, T0 + 10 * MS, [resp(), bad, resp(body=b"three\n"), resp(body=b"4\n")])
    return frames


def midstream_first_bytes():
    """Item 4: two connections picked up mid-stream (no handshake). On port 40003 the client's
    first segment is a 1-byte TCP keep-alive (the last byte it sent before, one below the next
    sequence number); on 40004 it is the tail of an earlier request's body. Then 3 requests."""
    frames = []
    a = TcpConn("10.1.0.1", "10.1.0.2", 40003, 80, cisn=70000, sisn=90000)
    frames.append(a.seg(T0, "c", 0x10, b"\n", seq=a.nxt["c"] - 1))
    frames.append(a.ack(T0 + 1 * MS, "s"))
    frames += keepalive(a, T0 + 10 * MS, [resp(), resp(), resp()])
    b = TcpConn("10.1.0.1", "10.1.0.2", 40004, 80, cisn=170000, sisn=190000)
    frames.append(b.send(T0 + 5 * MS, "c", b'rest of an upload", "n": 42}\r\n'))
    frames.append(b.send(T0 + 6 * MS, "s", b"tail of an earlier response body\n"))
    frames += keepalive(b, T0 + 20 * MS, [resp(), resp(), resp()])
    return sorted(frames, key=lambda f: f[0])


def roles_high_server_port():
    """Item 5: picked up mid-stream, the client 10.1.0.5:8870 talks to a server on the higher
    port 10.1.0.6:31600; the port rule (the higher port is the client's when both are above
    1024) guesses it backwards. The first packet is the client's request."""
    c = TcpConn("10.1.0.5", "10.1.0.6", 8870, 31600, cisn=300000, sisn=400000)
    return keepalive(c, T0, [resp(), resp(), resp()], host="10.1.0.6:31600")


CAPTURES = {
    "http-space-before-colon": space_before_colon,
    "http-bad-response-head": bad_response_head,
    "http-midstream-first-bytes": midstream_first_bytes,
    "http-roles-high-server-port": roles_high_server_port,
}

REQ = ["frame.number", "frame.time_epoch", "ip.src", "tcp.srcport", "ip.dst", "tcp.dstport",
       "http.request.method", "http.request.uri", "http.host"]
RESP = ["frame.number", "http.request_in", "http.response.code", "http.time"]


def tshark(path, filt, fields):
    cmd = ["tshark", "-n", "-r", path, "-Y", filt, "-T", "fields", "-E", "separator=\t"]
    for f in fields:
        cmd += ["-e", f]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    return [dict(zip(fields, line.split("\t") + [""] * len(fields)))
            for line in out.splitlines()]


def oracle(path):
    answers = {r["http.request_in"]: r for r in tshark(path, "http.response", RESP)}
    rows = []
    for r in tshark(path, "http.request", REQ):
        a = answers.get(r["frame.number"], {})
        rows.append([r["frame.number"], r["frame.time_epoch"],
                     f"{r['ip.src']}:{r['tcp.srcport']}", f"{r['ip.dst']}:{r['tcp.dstport']}",
                     r["http.request.method"], r["http.request.uri"], r["http.host"],
                     a.get("http.response.code", ""), a.get("http.time", "")])
    return ["frame", "time", "client", "server", "method", "uri", "host", "status",
            "http_time"], rows


def main():
    os.makedirs(OUT, exist_ok=True)
    version = subprocess.run(["tshark", "--version"], capture_output=True,
                             text=True).stdout.splitlines()[0].strip()
    for name, build in CAPTURES.items():
        path = os.path.join(OUT, name + ".pcap")
        write_pcap(path, build())
        header, rows = oracle(path)
        with open(os.path.join(OUT, name + ".tshark.tsv"), "w", newline="") as fh:
            fh.write(f"# source: testdata/regress/http/{name}.pcap\n"
                     f"# generated by scripts/make-regress-http.py with {version}\n")
            w = csv.writer(fh, delimiter="\t", lineterminator="\n")
            w.writerow(header)
            w.writerows(rows)
        print(f"{name}: {len(rows)} requests")


if __name__ == "__main__":
    main()
