#!/usr/bin/env python3
"""Regression captures for issue #11's TCP bugs (testdata/regress/tcp/) and tshark's view of them.

Each capture scripts one bug class with pktbuild.py; tshark (the oracle) then reads the file and
its answers are stored beside it as `<capture>.tshark.tsv`, which
crates/pcapstat-core/tests/regress_tcp.rs compares with pcapstat's records.

  reordered-handshake.pcap  SYN/ACK recorded before its SYN (and once before SYN and ACK)
  gap-unfilled.pcap         a response / a request body with a segment the capture never saw
  one-direction.pcap        only the client's direction of two HTTP connections, and a real timeout
  resets.pcap               resets after a complete exchange and resets that are failures
                            (before the response, a request unanswered, a response cut)

Usage: python3 scripts/make-regress-tcp.py   (needs tshark on PATH; deterministic output)
"""
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pktbuild as pb  # noqa: E402
from capfile import repo_root  # noqa: E402

OUT = os.path.join(repo_root(), "testdata", "regress", "tcp")
T0 = 1_700_000_000_000_000_000
MS = 1_000_000
US = 1_000

CLIENT, SERVER = "192.0.2.10", "198.51.100.20"


def get(path, host="example.test"):
    return ("GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: curl/8.5.0\r\nAccept: */*\r\n\r\n"
            % (path, host)).encode()


def ok(body, extra=""):
    return ("HTTP/1.1 200 OK\r\nServer: nginx\r\nContent-Length: %d\r\n%s\r\n"
            % (len(body), extra)).encode() + body


def exchange(c, t, path, body, rtt=20 * MS, close=True):
    """A request, its response, ACKs; returns (frames, end time)."""
    f = [c.send(t, "c", get(path)), c.ack(t + rtt // 2, "s"),
         c.send(t + rtt // 2 + 300 * US, "s", ok(body)), c.ack(t + rtt + 400 * US, "c")]
    t += rtt + 400 * US
    if close:
        f += [c.fin(t + 1 * MS, "c"), c.fin(t + 1 * MS + rtt // 2, "s"), c.ack(t + 1 * MS + rtt, "c")]
        t += 1 * MS + rtt
    return f, t


def reordered_handshake():
    frames = []
    # 1. The mirror port recorded the SYN/ACK 30 µs before the SYN it answers.
    c = pb.TcpConn(CLIENT, SERVER, 40001, 80, cisn=1000, sisn=5000)
    syn = c.syn(T0 + 80 * US)
    synack = c.synack(T0 + 50 * US)
    frames += [(T0 + 50 * US, synack[1]), syn, c.ack(T0 + 20 * MS + 100 * US)]
    f, _ = exchange(c, T0 + 21 * MS, "/reordered", b"a" * 100)
    frames += f
    # 2. A normal handshake beside it.
    c = pb.TcpConn(CLIENT, SERVER, 40002, 80, cisn=2000, sisn=6000)
    t = T0 + 100 * MS
    frames += c.handshake(t, 20 * MS)
    f, _ = exchange(c, t + 21 * MS, "/normal", b"b" * 100)
    frames += f
    # 3. SYN/ACK, then the client's ACK, then the SYN.
    c = pb.TcpConn(CLIENT, SERVER, 40003, 80, cisn=3000, sisn=7000)
    t = T0 + 200 * MS
    syn = c.syn(t + 90 * US)
    synack = c.synack(t + 40 * US)
    ack = c.ack(t + 60 * US)
    frames += [synack, ack, syn]
    f, _ = exchange(c, t + 1 * MS, "/twice-reordered", b"c" * 100)
    frames += f
    return frames


def gap_unfilled():
    frames = []
    # 1. Keep-alive: response 1 in three segments, the middle one never captured; the client's
    # cumulative ACK comes 300 ms later (after a retransmission the capture also missed).
    c = pb.TcpConn(CLIENT, SERVER, 41001, 80, cisn=1000, sisn=5000)
    t = T0
    frames += c.handshake(t, 20 * MS)
    t += 21 * MS
    frames.append(c.send(t, "c", get("/first")))
    body = b"x" * 3000
    resp = ok(body)
    parts = [resp[:1200], resp[1200:2400], resp[2400:]]
    s0 = c.nxt["s"]
    frames.append(c.seg(t + 10 * MS, "s", pb.ACK, parts[0], seq=s0))
    # parts[1] lost at the capture point
    frames.append(c.seg(t + 10 * MS + 50 * US, "s", pb.PSH | pb.ACK, parts[2],
                        seq=s0 + len(parts[0]) + len(parts[1])))
    frames.append(c.seg(t + 10 * MS + 100 * US, "c", pb.ACK, ack=s0 + len(parts[0])))
    c.nxt["s"] = s0 + len(resp)
    frames.append(c.ack(t + 310 * MS, "c"))  # cumulative ACK after the unseen retransmission
    t += 500 * MS
    f, t = exchange(c, t, "/second", b"y" * 50, close=False)
    frames += f
    frames += [c.fin(t + 1 * MS, "c"), c.fin(t + 2 * MS, "s"), c.ack(t + 3 * MS, "c")]
    # 2. A POST whose body's middle segment the capture missed; the server's ACK of the whole
    # body comes 200 ms after its last segment, with the response.
    c = pb.TcpConn(CLIENT, SERVER, 41002, 80, cisn=9000, sisn=9900)
    t = T0 + 2000 * MS
    frames += c.handshake(t, 20 * MS)
    t += 21 * MS
    body = b"p" * 2400
    head = ("POST /upload HTTP/1.1\r\nHost: example.test\r\nContent-Length: %d\r\n\r\n"
            % len(body)).encode()
    c0 = c.nxt["c"]
    frames.append(c.seg(t, "c", pb.ACK, head + body[:800], seq=c0))
    frames.append(c.seg(t + 1 * MS, "c", pb.PSH | pb.ACK, body[1600:],
                        seq=c0 + len(head) + 1600))
    c.nxt["c"] = c0 + len(head) + len(body)
    frames.append(c.send(t + 201 * MS, "s", ok(b"stored")))
    frames.append(c.ack(t + 202 * MS, "c"))
    t += 203 * MS
    frames += [c.fin(t, "c"), c.fin(t + 1 * MS, "s"), c.ack(t + 2 * MS, "c")]
    return frames


def one_direction():
    frames = []
    # Two HTTP connections of which the capture holds only the client's packets.
    for i, port in enumerate((42001, 42002)):
        c = pb.TcpConn(CLIENT, SERVER, port, 80, cisn=1000 + i, sisn=5000 + i)
        t = T0 + i * 100 * MS
        both = c.handshake(t, 20 * MS)
        f, _ = exchange(c, t + 21 * MS, "/one-way-%d" % i, b"z" * 100)
        both += f
        src = pb.eth_tcp(CLIENT, SERVER, port, 80, 0, 0, 0)[26:30]  # client address bytes
        frames += [fr for fr in both if fr[1][26:30] == src]
    # A real timeout: three SYNs to a port that never answers.
    c = pb.TcpConn(CLIENT, SERVER, 42003, 81, cisn=777)
    t = T0 + 300 * MS
    frames += [c.syn(t), c.seg(t + 1000 * MS, "c", pb.SYN, seq=777, ack=0),
               c.seg(t + 3000 * MS, "c", pb.SYN, seq=777, ack=0)]
    return frames


def resets():
    frames = []
    # 1. Request, complete response, then the client aborts with RST (not a failure).
    c = pb.TcpConn(CLIENT, SERVER, 43001, 80, cisn=1000, sisn=5000)
    t = T0
    frames += c.handshake(t, 20 * MS)
    f, t = exchange(c, t + 21 * MS, "/done-then-rst", b"d" * 100, close=False)
    frames += f + [c.rst(t + 5 * MS, "c")]
    # 2. nginx: response, server FIN, the client's late bytes, server RST (not a failure).
    c = pb.TcpConn(CLIENT, SERVER, 43002, 80, cisn=2000, sisn=6000)
    t = T0 + 100 * MS
    frames += c.handshake(t, 20 * MS)
    f, t = exchange(c, t + 21 * MS, "/nginx-close", b"e" * 100, close=False)
    frames += f + [c.fin(t + 1 * MS, "s"), c.send(t + 2 * MS, "c", b"\x15\x03\x03\x00\x02\x01\x00"),
                   c.rst(t + 3 * MS, "s", with_ack=False)]
    # 3. Request, then the server resets before any response byte (failure).
    c = pb.TcpConn(CLIENT, SERVER, 43003, 80, cisn=3000, sisn=7000)
    t = T0 + 200 * MS
    frames += c.handshake(t, 20 * MS) + [
               c.send(t + 21 * MS, "c", get("/reset-before-response")), c.rst(t + 40 * MS, "s")]
    # 4. Request 1 answered, request 2 reset without an answer (failure).
    c = pb.TcpConn(CLIENT, SERVER, 43004, 80, cisn=4000, sisn=8000)
    t = T0 + 300 * MS
    frames += c.handshake(t, 20 * MS)
    f, t = exchange(c, t + 21 * MS, "/answered", b"f" * 100, close=False)
    frames += f + [c.send(t + 10 * MS, "c", get("/unanswered")), c.ack(t + 20 * MS, "s"),
                   c.rst(t + 900 * MS, "s")]
    # 5. A download cut by the client's RST mid-response (a load generator stopping).
    c = pb.TcpConn(CLIENT, SERVER, 43006, 80, cisn=6000, sisn=9000)
    t = T0 + 400 * MS
    frames += c.handshake(t, 20 * MS) + [
               c.send(t + 21 * MS, "c", get("/cut-download")), c.ack(t + 31 * MS, "s")]
    head = b"HTTP/1.1 200 OK\r\nServer: nginx\r\nContent-Length: 100000\r\n\r\n"
    frames += [c.send(t + 32 * MS, "s", head + b"g" * 1000), c.ack(t + 42 * MS, "c"),
               c.rst(t + 50 * MS, "c")]
    # 6. Refused.
    c = pb.TcpConn(CLIENT, SERVER, 43005, 82, cisn=5000, sisn=0)
    t = T0 + 1500 * MS
    frames += [c.syn(t), c.seg(t + 1 * MS, "s", pb.RST | pb.ACK, seq=0, ack=5001)]
    return frames


TSHARK_FIELDS = ["frame.number", "frame.time_epoch", "tcp.stream", "ip.src", "tcp.srcport",
                 "ip.dst", "tcp.dstport", "tcp.flags.syn", "tcp.flags.ack", "tcp.flags.reset",
                 "tcp.flags.fin", "tcp.seq_raw", "tcp.len", "tcp.analysis.initial_rtt",
                 "http.request.method", "http.request.uri", "http.response.code",
                 "http.response_in", "http.request_in"]


def tshark_tsv(path):
    out = subprocess.run(
        ["tshark", "-2", "-n", "-r", path, "-o", "tcp.desegment_tcp_streams:TRUE",
         "-o", "tcp.analyze_sequence_numbers:TRUE", "-T", "fields", "-E", "separator=/t",
         "-E", "occurrence=f"] + sum((["-e", f] for f in TSHARK_FIELDS), []),
        capture_output=True, text=True, check=True).stdout
    ver = subprocess.run(["tshark", "--version"], capture_output=True, text=True).stdout.split("\n")[0]
    rows = []
    for line in out.splitlines():
        cells = line.split("\t")
        # integer ns from tshark's decimal epoch (no float rounding)
        sec, _, frac = cells[1].partition(".")
        cells[1] = str(int(sec) * 1_000_000_000 + int((frac + "000000000")[:9]))
        if cells[13]:
            s, _, fr = cells[13].partition(".")
            cells[13] = str(int(s) * 1_000_000_000 + int((fr + "000000000")[:9]))
        rows.append(cells)
    header = ["frame", "ts_ns", "stream", "src", "sport", "dst", "dport", "syn", "ack", "rst",
              "fin", "seq_raw", "len", "irtt_ns", "method", "uri", "status", "response_in",
              "request_in"]
    with open(path + ".tshark.tsv", "w") as f:
        f.write("# generated by scripts/make-regress-tcp.py from %s\n" % ver.strip())
        f.write("\t".join(header) + "\n")
        for r in rows:
            f.write("\t".join(r) + "\n")


def main():
    os.makedirs(OUT, exist_ok=True)
    for name, frames in [("reordered-handshake.pcap", reordered_handshake()),
                         ("gap-unfilled.pcap", gap_unfilled()),
                         ("one-direction.pcap", one_direction()),
                         ("resets.pcap", resets())]:
        path = os.path.join(OUT, name)
        pb.write_pcap(path, frames, nanos=True)
        tshark_tsv(path)
        print("wrote", os.path.relpath(path, repo_root()), len(frames), "frames")


if __name__ == "__main__":
    main()
