#!/usr/bin/env python3
"""A capture for the streaming tests (issue #13): many short HTTP/1.1 connections spread over a
minute, two keep-alive connections of 84 requests running through it (more than the 32 a live
connection keeps before its finished requests leave), and one DNS lookup in the middle, so
that connections finish all along the capture (with a short linger) and the first requests
after the DNS lookup wait for the DNS join (stdlib only; deterministic).

    python3 scripts/make-stream.py

Writes testdata/stream/connections.pcap. crates/pcapstat-core/tests/streaming.rs reads it.
"""
import os
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import pktbuild as pb  # noqa: E402
from pktbuild import TcpConn, write_pcap  # noqa: E402

OUT = os.path.join(os.path.dirname(HERE), "testdata", "stream", "connections.pcap")
T0 = 1_800_000_000 * 1_000_000_000
MS = 1_000_000
SERVERS = {"a.test": "10.2.0.1", "b.test": "10.2.0.2"}
RESOLVER = "10.2.0.53"


def name(n):
    return b"".join(bytes([len(x)]) + x.encode() for x in n.split(".")) + b"\0"


def query(qid, qname):
    return struct.pack("!HHHHHH", qid, 0x0100, 1, 0, 0, 0) + name(qname) + struct.pack("!HH", 1, 1)


def answer(qid, qname, addr):
    msg = struct.pack("!HHHHHH", qid, 0x8180, 1, 1, 0, 0) + name(qname) + struct.pack("!HH", 1, 1)
    rdata = pb.ipaddress.ip_address(addr).packed
    return msg + struct.pack("!HHHIH", 0xC00C, 1, 1, 60, len(rdata)) + rdata


def req(path, host):
    return f"GET {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: stream-test\r\n\r\n".encode()


def resp(body=b"hello\n"):
    return b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body) + body


def short(n, t):
    """Connection n: handshake, one request, its response, FINs: 8 frames over ~6 ms."""
    host = "a.test" if n % 3 else "b.test"
    client = f"10.2.1.{1 + n % 8}"
    c = TcpConn(client, SERVERS[host], 30000 + n, 80, cisn=1000 + n * 7919, sisn=9000 + n * 104729)
    return [
        c.syn(t), c.synack(t + 1 * MS), c.ack(t + 2 * MS),
        c.send(t + 2 * MS, "c", req(f"/short/{n}", host)),
        c.send(t + 4 * MS, "s", resp()),
        c.fin(t + 5 * MS, "c"), c.fin(t + 5 * MS + 100_000, "s"), c.ack(t + 6 * MS, "c"),
    ]


def keepalive(k, t, count):
    """A keep-alive connection with `count` requests, one every 700 ms."""
    c = TcpConn(f"10.2.2.{k}", SERVERS["a.test"], 40000 + k, 80, cisn=77 * k, sisn=88 * k)
    frames = c.handshake(t, 2 * MS)
    for i in range(count):
        t0 = t + 10 * MS + i * 700 * MS
        frames += [c.send(t0, "c", req(f"/ka/{k}/{i}", "a.test")),
                   c.send(t0 + 3 * MS, "s", resp(b"x" * 100)),
                   c.ack(t0 + 4 * MS, "c")]
    return frames


def main():
    frames = []
    for n in range(120):
        frames += short(n, T0 + n * 500 * MS)
    frames += keepalive(1, T0 + 100 * MS, 84)
    frames += keepalive(2, T0 + 1100 * MS, 84)
    # One lookup of b.test by 10.2.1.1 at 30 s (between two short connections).
    t = T0 + 30_250 * MS
    frames.append((t, pb.eth_udp("10.2.1.1", RESOLVER, 53001, 53, query(0x1234, "b.test"))))
    frames.append((t + 3 * MS, pb.eth_udp(RESOLVER, "10.2.1.1", 53, 53001,
                                          answer(0x1234, "b.test", SERVERS["b.test"]))))
    frames.sort(key=lambda f: f[0])
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    write_pcap(OUT, frames)
    print(f"{OUT}: {len(frames)} frames")


if __name__ == "__main__":
    main()
