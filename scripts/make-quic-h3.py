#!/usr/bin/env python3
"""Make the bundled HTTP/3 capture and its oracle fixture (stdlib + tshark 4.0).

Input: $PCAPSTAT_SHARED/lab/j_quic (default <repo>/../shared): capture.pcapng, sslkeylog.txt,
gt_quic.jsonl (the aioquic client's own log).

Outputs:
  testdata/quic/j_quic-h3.pcapng   the datagrams of four of j_quic's connections (client ports
      56575 `retry`, 58426 `resume-first`, 38209 `resume-second`, 49835 `version-negotiation`),
      as they are in the lab's capture, with a Decryption Secrets Block holding the key log lines
      of the first three only: `version-negotiation` has no keys (its request must give no row).
  testdata/expected/h3/j_quic-h3.tsv   one row per request of the client's log on those
      connections: label, client_port, keys (1: its secrets are in the file), stream_id, path,
      status, body_bytes, t_sent_ns, t_first_byte_ns, t_done_ns (the client's time.time() in
      ns), and tshark's HTTP/3 frame lengths of the stream's first request and response HEADERS
      frames (tshark_req_headers, tshark_resp_headers: empty where tshark did not dissect them;
      tshark 4.0 does not decode QPACK, so it gives no method, path or status).
  testdata/expected/h3/j_quic-tshark-headers.tsv   the same HEADERS lengths for every request
      stream tshark dissects in the whole lab capture (with its key log).
  testdata/expected/h3/j_quic-qlog-lost.tsv   per connection of the client log, from the
      server's qlog (qlog/<original_dcid>.qlog): the 1-RTT packets it declared lost
      (recovery:packet_lost) and the STREAM frame bytes those packets carried (their
      transport:packet_sent); each such byte is sent again, so when the lost packet did reach
      the wire (a spurious loss) the capture holds it twice.
  testdata/expected/h3/j_quic-qlog-headers.tsv   per request stream of the client log's
      connections, from the server's qlog: the fields of the request's HEADERS frame as the
      server parsed it (http:frame_parsed) and of its final response's as the server made it
      (http:frame_created, the first with a :status of 200 or more), in order: label,
      client_port, stream_id, side (request, response), index, name, value.

Run from anywhere: python3 scripts/make-quic-h3.py (or `python3 scripts/make-quic-h3.py
qlog-headers` for that fixture alone: it needs neither tshark nor the capture).
"""

import json
import os
import struct
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import capfile  # noqa: E402

ROOT = capfile.repo_root()
LAB = os.path.join(capfile.shared_root(), "lab", "j_quic")
OUT = os.path.join(ROOT, "testdata", "quic", "j_quic-h3.pcapng")
FIXTURE = os.path.join(ROOT, "testdata", "expected", "h3", "j_quic-h3.tsv")
LAB_FIXTURE = os.path.join(ROOT, "testdata", "expected", "h3", "j_quic-tshark-headers.tsv")
QLOG_FIXTURE = os.path.join(ROOT, "testdata", "expected", "h3", "j_quic-qlog-lost.tsv")
QLOG_HEADERS = os.path.join(ROOT, "testdata", "expected", "h3", "j_quic-qlog-headers.tsv")
# client port -> whether its secrets go into the file.
PORTS = {56575: True, 58426: True, 38209: True, 49835: False}
SERVER_PORTS = range(4433, 4437)


def udp_ports(frame):
    """(src, dst) UDP ports of an Ethernet frame, or None."""
    if len(frame) < 14:
        return None
    ethertype = struct.unpack(">H", frame[12:14])[0]
    ip = frame[14:]
    if ethertype == 0x0800 and len(ip) >= 20 and ip[9] == 17:
        ihl = (ip[0] & 0x0F) * 4
        udp = ip[ihl:]
    elif ethertype == 0x86DD and len(ip) >= 40 and ip[6] == 17:
        udp = ip[40:]
    else:
        return None
    if len(udp) < 4:
        return None
    return struct.unpack(">HH", udp[:4])


def pad4(b):
    return b + b"\x00" * (-len(b) % 4)


def block(btype, body):
    body = pad4(body)
    n = 12 + len(body)
    return struct.pack("<II", btype, n) + body + struct.pack("<I", n)


def client_randoms():
    """client port -> ClientHello random (hex), from tshark on the lab capture."""
    out = subprocess.run(
        ["tshark", "-r", os.path.join(LAB, "capture.pcapng"), "-o",
         "tls.keylog_file:" + os.path.join(LAB, "sslkeylog.txt")]
        + sum([["-d", "udp.port==%d,quic" % p] for p in SERVER_PORTS], [])
        + ["-Y", "tls.handshake.type==1", "-T", "fields", "-e", "udp.srcport",
           "-e", "tls.handshake.random"],
        capture_output=True, text=True, check=True).stdout
    randoms = {}
    for line in out.splitlines():
        port, rnd = line.split("\t")
        randoms.setdefault(int(port), set()).add(rnd)
    return randoms


def keylog_randoms():
    """client port -> the client random of its key log lines. aioquic writes the key log in
    connection order, one ClientHello random per established connection, as its client log
    lists them; after a Retry or a Version Negotiation the client sends a new ClientHello
    (a new random) that tshark 4.0 does not decrypt, so tshark's randoms check the others."""
    order = []
    for line in open(os.path.join(LAB, "sslkeylog.txt")):
        f = line.split()
        if len(f) == 3 and f[1] not in order:
            order.append(f[1])
    ok = [json.loads(l) for l in open(os.path.join(LAB, "gt_quic.jsonl"))]
    ok = [g for g in ok if g["outcome"] == "ok"]
    assert len(ok) == len(order), (len(ok), len(order))
    by_port = {g["local_port"]: r for g, r in zip(ok, order)}
    seen = client_randoms()
    for g in ok:
        port = g["local_port"]
        if g["label"] in ("retry", "version-negotiation"):
            assert not seen[port] & set(order), port
        else:
            assert seen[port] == {by_port[port]}, port
    return by_port


def make_capture():
    data = open(os.path.join(LAB, "capture.pcapng"), "rb").read()
    info = capfile.pcapng_blocks(data)
    assert info["sections"] == ["le"] and info["stop"] is None, info["stop"]
    wanted = {r for port, r in keylog_randoms().items() if PORTS.get(port)}
    lines = [l for l in open(os.path.join(LAB, "sslkeylog.txt")).read().splitlines()
             if len(l.split()) == 3 and l.split()[1] in wanted]
    secrets = ("\n".join(lines) + "\n").encode()
    out = bytearray()
    kept = 0
    for off, btype, blen, _ in info["blocks"]:
        raw = data[off:off + blen]
        if btype == 6:
            caplen = struct.unpack("<I", raw[20:24])[0]
            ports = udp_ports(raw[28:28 + caplen])
            if not ports or not (ports[0] in PORTS or ports[1] in PORTS):
                continue
            kept += 1
        out += raw
        if btype == 1:
            # The Decryption Secrets Block after the interface: TLS key log ('TLSK').
            out += block(0x0A, struct.pack("<II", 0x544C534B, len(secrets)) + secrets)
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT, "wb") as f:
        f.write(out)
    print("%s: %d frames, %d bytes, %d key log lines" % (OUT, kept, len(out), len(lines)))


def tshark_headers(path, keylog=None, ports=None):
    """(client port, stream id) -> [first request HEADERS length, first response HEADERS
    length], from tshark's http3 fields on `path` (with `keylog`, else the file's DSB). Only
    packets whose STREAM frames are all of one stream are used (tshark's per-packet lists do
    not say which HTTP/3 frame is in which STREAM frame)."""
    keys = ["-o", "tls.keylog_file:" + keylog] if keylog else []
    out = subprocess.run(
        ["tshark", "-r", path] + keys
        + sum([["-d", "udp.port==%d,quic" % p] for p in SERVER_PORTS], [])
        + ["-Y", "http3.frame_type", "-T", "fields", "-e", "udp.srcport", "-e", "udp.dstport",
           "-e", "quic.stream.stream_id", "-e", "http3.frame_type", "-e", "http3.frame_length"],
        capture_output=True, text=True, check=True).stdout
    heads = {}
    for line in out.splitlines():
        src, dst, streams, types, lens = line.split("\t")
        streams = set(streams.split(","))
        if len(streams) != 1:
            continue
        stream = int(streams.pop())
        if stream % 4 != 0:
            continue
        client = int(src) not in SERVER_PORTS
        port = int(src) if client else int(dst)
        h = heads.setdefault((port, stream), [None, None])
        for t, n in zip(types.split(","), lens.split(",")):
            if t == "1" and h[0 if client else 1] is None:
                h[0 if client else 1] = int(n)
    return heads


def ns(t):
    return str(round(t * 1e9))


def make_fixture():
    heads = tshark_headers(OUT)
    rows = []
    for line in open(os.path.join(LAB, "gt_quic.jsonl")):
        g = json.loads(line)
        port = g.get("local_port")
        if port not in PORTS:
            continue
        for r in g["requests"]:
            th = heads.get((port, r["stream_id"]), [None, None])
            rows.append([g["label"], str(port), "1" if PORTS[port] else "0", str(r["stream_id"]),
                         r["path"], str(r["status"]), str(r["body_bytes"]), ns(r["t_sent"]),
                         ns(r["t_first_byte"]), ns(r["t_done"]),
                         "" if th[0] is None else str(th[0]), "" if th[1] is None else str(th[1])])
    os.makedirs(os.path.dirname(FIXTURE), exist_ok=True)
    version = subprocess.run(["tshark", "-v"], capture_output=True, text=True).stdout.splitlines()[0]
    with open(FIXTURE, "w") as f:
        f.write("# from lab/j_quic/gt_quic.jsonl and %s on testdata/quic/j_quic-h3.pcapng "
                "(python3 scripts/make-quic-h3.py)\n" % version)
        f.write("\t".join(["label", "client_port", "keys", "stream_id", "path", "status",
                           "body_bytes", "t_sent_ns", "t_first_byte_ns", "t_done_ns",
                           "tshark_req_headers", "tshark_resp_headers"]) + "\n")
        for r in rows:
            f.write("\t".join(r) + "\n")
    print("%s: %d requests" % (FIXTURE, len(rows)))


def make_lab_fixture():
    """The same tshark view of the whole lab capture, with its key log."""
    heads = tshark_headers(os.path.join(LAB, "capture.pcap"), os.path.join(LAB, "sslkeylog.txt"))
    version = subprocess.run(["tshark", "-v"], capture_output=True, text=True).stdout.splitlines()[0]
    with open(LAB_FIXTURE, "w") as f:
        f.write("# %s on lab/j_quic/capture.pcap with its sslkeylog.txt: the first request and "
                "response HEADERS frame lengths per request stream (python3 scripts/make-quic-h3.py)\n"
                % version)
        f.write("client_port\tstream_id\ttshark_req_headers\ttshark_resp_headers\n")
        for (port, stream), (rq, rs) in sorted(heads.items()):
            f.write("%d\t%d\t%s\t%s\n" % (port, stream, "" if rq is None else rq,
                                             "" if rs is None else rs))
    print("%s: %d streams" % (LAB_FIXTURE, len(heads)))


def server_qlogs():
    """(client log entry, the server's qlog events) of each connection of the client log."""
    for line in open(os.path.join(LAB, "gt_quic.jsonl")):
        g = json.loads(line)
        if not g.get("original_dcid"):
            continue
        qlog = json.load(open(os.path.join(LAB, "qlog", g["original_dcid"] + ".qlog")))
        yield g, qlog["traces"][0]["events"]


def make_qlog_fixture():
    rows = []
    for g, events in server_qlogs():
        sent = {}
        for e in events:
            if e["name"] == "transport:packet_sent" and e["data"]["header"].get("packet_type") == "1RTT":
                sent[e["data"]["header"]["packet_number"]] = sum(
                    f.get("length", 0) for f in e["data"].get("frames", []) if f.get("frame_type") == "stream")
        lost = [e["data"]["packet_number"] for e in events
                if e["name"] == "recovery:packet_lost" and e["data"].get("type") == "1RTT"]
        rows.append((g["label"], g["local_port"], len(lost), sum(sent.get(p, 0) for p in lost)))
    with open(QLOG_FIXTURE, "w") as f:
        f.write("# from lab/j_quic/qlog/*.qlog (the aioquic servers' own logs): 1-RTT packets declared "
                "lost and their STREAM bytes (python3 scripts/make-quic-h3.py)\n")
        f.write("label\tclient_port\tlost_packets\tlost_stream_bytes\n")
        for r in rows:
            f.write("%s\t%d\t%d\t%d\n" % r)
    print("%s: %d connections" % (QLOG_FIXTURE, len(rows)))


def make_qlog_headers():
    rows = []
    for g, events in server_qlogs():
        seen = set()
        for e in events:
            side = {"http:frame_parsed": "request", "http:frame_created": "response"}.get(e["name"])
            frame = e.get("data", {}).get("frame", {})
            if side is None or frame.get("frame_type") != "headers":
                continue
            stream = e["data"]["stream_id"]
            fields = [(h["name"], h["value"]) for h in frame["headers"]]
            if side == "response":
                status = dict(fields).get(":status", "")
                if not (status.isdigit() and int(status) >= 200):
                    continue  # interim responses and trailers are not the row's
            if (stream, side) in seen:
                continue
            seen.add((stream, side))
            for i, (name, value) in enumerate(fields):
                rows.append((g["label"], g["local_port"], stream, side, i, name, value))
    with open(QLOG_HEADERS, "w") as f:
        f.write("# from lab/j_quic/qlog/*.qlog (the aioquic servers' own logs): the fields of each request "
                "stream's request HEADERS (parsed) and final response HEADERS (created) "
                "(python3 scripts/make-quic-h3.py qlog-headers)\n")
        f.write("label\tclient_port\tstream_id\tside\tindex\tname\tvalue\n")
        for r in rows:
            f.write("%s\t%d\t%d\t%s\t%d\t%s\t%s\n" % r)
    print("%s: %d fields" % (QLOG_HEADERS, len(rows)))


if __name__ == "__main__":
    if sys.argv[1:] == ["qlog-headers"]:
        make_qlog_headers()
        sys.exit(0)
    make_qlog_headers()
    make_qlog_fixture()
    make_capture()
    make_fixture()
    make_lab_fixture()
