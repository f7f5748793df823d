#!/usr/bin/env python3
"""A SYN-flood capture: COUNT client SYNs to one server, none answered, plus a few normal
connections mixed in (one every 100 000 SYNs, at least one) so the output can be checked.

    scripts/make-synflood.py COUNT OUTPUT      # OUTPUT '-' writes the pcap to standard output

Deterministic (the same COUNT gives the same bytes) and streamed: frames are written as they are
made, memory does not grow with COUNT. SYN i comes from 100.64.0.0 + (i mod 4093), port
1024 + (i div 4093) mod 64000 (every 4-tuple distinct below 262 M SYNs), to 10.0.0.1:443, one
every 10 µs of capture time (100 k SYN/s, so no connection reaches the 5-minute idle timeout
before the end of a 5 M capture: only the flow-table bound finishes them early). Each normal
connection (from 192.168.0.x, port 50000 + x) is a handshake, an 18-byte request, a 40-byte
response and both FINs within 1 ms.

Uses scripts/pktbuild.py for the frames (Ethernet / IPv4 / TCP, checksums) and its pcap writer.
"""
import ipaddress
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pktbuild as pb  # noqa: E402

SERVER, SPORT = "10.0.0.1", 443
BASE = int(ipaddress.IPv4Address("100.64.0.0"))
NADDR = 4093
STEP_NS = 10_000
NORMAL_EVERY = 100_000
T0 = 1_700_000_000 * 1_000_000_000


def normal(k, t):
    """Frames of the k-th normal connection, starting at t."""
    c = pb.TcpConn("192.168.0.%d" % (k % 250 + 1), SERVER, 50000 + k % 15000, SPORT,
                   cisn=1000 + k, sisn=9000 + k)
    yield from c.handshake(t, 200_000)
    yield c.send(t + 300_000, "c", b"GET / HTTP/1.1\r\n\r\n")
    yield c.ack(t + 400_000, "s")
    yield c.send(t + 500_000, "s", b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
    yield c.ack(t + 600_000, "c")
    yield c.fin(t + 700_000, "c")
    yield c.fin(t + 800_000, "s")
    yield c.ack(t + 900_000, "c")


def frames(count):
    k = 0
    queue = []  # frames of normal connections not yet due
    for i in range(count):
        t = T0 + i * STEP_NS
        if i % NORMAL_EVERY == NORMAL_EVERY // 2:
            # Interleave the normal connection with the flood: its frames go out in time order
            # between the SYNs (all within 1 ms, i.e. the next 100 SYNs).
            pending = list(normal(k, t + STEP_NS // 2))
            k += 1
        else:
            pending = None
        src = str(ipaddress.IPv4Address(BASE + i % NADDR))
        sport = 1024 + (i // NADDR) % 64000
        isn = (i * 2654435761 + 12345) & 0xFFFFFFFF
        yield (t, pb.eth_tcp(src, SERVER, sport, SPORT, isn, 0, pb.SYN, win=64240,
                             options=bytes([2, 4, 0x05, 0xB4])))
        if pending:
            queue.extend(pending)
        while queue and queue[0][0] < t + STEP_NS:
            yield queue.pop(0)
    yield from queue
    if k == 0:
        yield from normal(0, T0 + count * STEP_NS)


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    count = int(sys.argv[1])
    out = "/dev/stdout" if sys.argv[2] == "-" else sys.argv[2]
    pb.write_pcap(out, frames(count))


if __name__ == "__main__":
    main()
