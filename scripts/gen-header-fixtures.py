#!/usr/bin/env python3
"""Regenerate the HTTP header oracle fixtures with tshark (stdlib only).

    python3 scripts/gen-header-fixtures.py

For every HTTP/1.x request and response head and every HTTP/2 request and final response
HEADERS block that tshark dissects, one row per header field in wire order, for
crates/pcapstat-core/tests/header_oracle.rs (the header capture behind `--har`, docs/har.md).

Inputs: the bundled captures below (testdata/) and one capture per scenario of the lab set
($PCAPSTAT_SHARED/lab, default <repo>/../shared): capture-with-keys.pcapng when there is one
(tshark reads its Decryption Secrets Block), else capture.pcap with the scenario's
sslkeylog.txt (`-o tls.keylog_file:...`) when there is one.
Output: testdata/expected/headers/<name>.tsv (name: bundled_<file> or lab_<scenario>), columns:
  client_port, server_port  the TCP connection
  key        HTTP/1: r<N>, the N-th request tshark saw on the connection (0-based), and for
             a response the N-th final response on it (responses come in request order,
             RFC 9112 §9.3: tshark's own http.request_in is wrong under wrk's losses in
             g_load, see testdata/expected/http/KNOWN_DIFFERENCES.tsv); read with
             `-o http.desegment_body:FALSE`, so that lost body bytes hide no later head;
             HTTP/2: s<ID>, the stream id
  dir        request / response
  pos        the field's position in its head (0-based)
  name       as on the wire (HTTP/1: wire case; HTTP/2: pseudo-headers included)
  value      HTTP/1: the line after the first ':' without surrounding spaces and tabs
Names and values come from the bytes tshark shows (PDML `value` hex), decoded as UTF-8 with
U+FFFD for invalid bytes; `\\`, tab, CR and LF are written as `\\\\`, `\\t`, `\\r`, `\\n`.
Left out: 1xx interim responses (other than 101), HTTP/2 trailers (HEADERS without :method or
:status) and PUSH_PROMISE blocks; counted on the comment line. Several HTTP/1 heads in one
frame are separate PDML `http` elements, each counted in turn.
Tool: TShark 4.0.17 (Debian 4.0.17-0+deb12u3).
"""
import os
import subprocess
import sys
import xml.etree.ElementTree as ET

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
SHARED = os.environ.get("PCAPSTAT_SHARED", os.path.join(REPO, "..", "shared"))
OUT = os.path.join(REPO, "testdata", "expected", "headers")

BUNDLED = [
    ("testdata/lab/d_tls_resumption/capture-with-keys.pcapng", None),
    ("testdata/lab/h_http2/capture-h2c.pcap", None),
    ("testdata/lab/k_websocket/capture.pcap", "testdata/lab/k_websocket/sslkeylog.txt"),
]


def esc(s):
    return s.replace("\\", "\\\\").replace("\t", "\\t").replace("\r", "\\r").replace("\n", "\\n")


def text(hexbytes):
    return bytes.fromhex(hexbytes or "").decode("utf-8", errors="replace")


def fields(elem, name):
    return [f for f in elem.iter("field") if f.get("name") == name]


def first(elem, name):
    for f in elem.iter("field"):
        if f.get("name") == name:
            return f
    return None


def split_line(line):
    line = line.rstrip("\r\n")
    if ":" not in line:
        return None
    name, value = line.split(":", 1)
    return name, value.strip(" \t")


def rows_of(path, keylog):
    # Heads only: without body reassembly tshark finds every response head of g_load (207 of
    # 207; with it, 139: the bodies cut by the losses hide the next heads).
    cmd = ["tshark", "-n", "-r", path, "-o", "http.desegment_body:FALSE", "-Y", "http || http2",
           "-T", "pdml"]
    if keylog:
        cmd[1:1] = ["-o", "tls.keylog_file:" + keylog]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    rows = []
    skipped = {"interim": 0, "trailers": 0, "push": 0}
    # HTTP/1: per connection (client port, server port) the requests and final responses
    # seen so far.
    ordinal = {}
    answered = {}
    for _, pkt in ET.iterparse(proc.stdout, events=("end",)):
        if pkt.tag != "packet":
            continue
        sport = int(first(pkt, "tcp.srcport").get("show"))
        dport = int(first(pkt, "tcp.dstport").get("show"))
        protos = [p for p in pkt.findall("proto")]
        http1 = [p for p in protos if p.get("name") == "http"]
        requests = [p for p in http1 if first(p, "http.request.method") is not None]
        responses = [p for p in http1 if first(p, "http.response.code") is not None]
        for p in requests:
            conn = (sport, dport)
            n = ordinal.get(conn, 0)
            ordinal[conn] = n + 1
            lines = [split_line(text(f.get("value"))) for f in fields(p, "http.request.line")]
            for pos, (name, value) in enumerate(x for x in lines if x):
                rows.append((conn[0], conn[1], "r%d" % n, "request", pos, name, value))
        for p in responses:
            code = int(first(p, "http.response.code").get("show"))
            if 100 <= code < 200 and code != 101:
                skipped["interim"] += 1
                continue
            conn = (dport, sport)
            n = answered.get(conn, 0)
            answered[conn] = n + 1
            lines = [split_line(text(f.get("value"))) for f in fields(p, "http.response.line")]
            for pos, (name, value) in enumerate(x for x in lines if x):
                rows.append((conn[0], conn[1], "r%d" % n, "response", pos, name, value))
        for p in protos:
            if p.get("name") != "http2":
                continue
            for st in fields(p, "http2.stream"):
                typ = first(st, "http2.type")
                if typ is None:
                    continue
                if typ.get("show") == "5":
                    skipped["push"] += 1
                    continue
                if typ.get("show") != "1":
                    continue
                sid = int(first(st, "http2.streamid").get("show"))
                hdrs = []
                for h in fields(st, "http2.header"):
                    n_ = first(h, "http2.header.name")
                    v_ = first(h, "http2.header.value")
                    hdrs.append((text(n_.get("value") if n_ is not None else ""),
                                 text(v_.get("value") if v_ is not None else "")))
                names = [n for n, _ in hdrs]
                if ":method" in names:
                    conn, d = (sport, dport), "request"
                elif ":status" in names:
                    status = dict(hdrs)[":status"]
                    if status.startswith("1") and len(status) == 3:
                        skipped["interim"] += 1
                        continue
                    conn, d = (dport, sport), "response"
                else:
                    skipped["trailers"] += 1
                    continue
                for pos, (name, value) in enumerate(hdrs):
                    rows.append((conn[0], conn[1], "s%d" % sid, d, pos, name, value))
        pkt.clear()
    proc.wait()
    if proc.returncode != 0:
        sys.exit("tshark failed on %s" % path)
    return rows, skipped


def write(name, src, keylog, rows, skipped):
    os.makedirs(OUT, exist_ok=True)
    with open(os.path.join(OUT, name + ".tsv"), "w", newline="") as f:
        f.write("# generated by scripts/gen-header-fixtures.py from %s%s (TShark 4.0.17); "
                "left out: %s\n" % (src, " with " + keylog if keylog else "",
                                   ", ".join("%s %d" % kv for kv in sorted(skipped.items()))))
        f.write("client_port\tserver_port\tkey\tdir\tpos\tname\tvalue\n")
        for r in sorted(rows, key=lambda r: (r[0], r[1], r[2][0], int(r[2][1:]), r[3], r[4])):
            f.write("\t".join([str(r[0]), str(r[1]), r[2], r[3], str(r[4]), esc(r[5]), esc(r[6])]) + "\n")
    heads = len({r[:4] for r in rows})
    print("%s: %d heads, %d fields" % (name, heads, len(rows)))


def main():
    for rel, keylog in BUNDLED:
        rows, skipped = rows_of(os.path.join(REPO, rel), keylog and os.path.join(REPO, keylog))
        write("bundled_" + os.path.basename(os.path.dirname(rel)) + "_" + os.path.basename(rel).split(".")[0],
              rel, keylog, rows, skipped)
    lab = os.path.join(SHARED, "lab")
    if not os.path.isdir(lab):
        print("no shared lab at %s: only the bundled captures" % lab)
        return
    for scen in sorted(os.listdir(lab)):
        d = os.path.join(lab, scen)
        if not os.path.isdir(d):
            continue
        keylog = None
        if os.path.exists(os.path.join(d, "capture-with-keys.pcapng")):
            cap = "capture-with-keys.pcapng"
        elif os.path.exists(os.path.join(d, "capture.pcap")):
            cap = "capture.pcap"
            if os.path.exists(os.path.join(d, "sslkeylog.txt")):
                keylog = "sslkeylog.txt"
        else:
            continue
        rows, skipped = rows_of(os.path.join(d, cap), keylog and os.path.join(d, keylog))
        if rows:
            write("lab_" + scen, "lab/%s/%s" % (scen, cap), keylog and "lab/%s/%s" % (scen, keylog),
                  rows, skipped)


if __name__ == "__main__":
    main()
