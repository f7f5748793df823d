#!/usr/bin/env python3
"""Hostile captures for the buffer limits of issue #14 (docs/limits.md), at any size.

    scripts/make-hostile-buffers.py OUTDIR [SCALE]

writes, in OUTDIR, for SCALE (default 1; 10 for the 10x measurement):

  ooo-snap.pcap   one connection: SCALE x 300 000 client segments of 1400 bytes, each cut by the
                  snap length to its headers, each after a one-byte hole (the first byte of the
                  stream is never sent): nothing is ever in order. Before #14 every segment was
                  a `Missing` chunk never counted against the out-of-order limit (~65 B each).
  ooo-tiny.pcap   8 connections: SCALE x 150 000 one-byte client segments each, every other
                  byte missing (the out-of-order limit counted the 1-byte payloads, not the
                  ~100 B of bookkeeping per chunk).
  probe-gaps.pcap one connection: SCALE x 400 000 headers-only (snap-cut) server segments in
                  order before the client sends anything: gap events while the protocol is not
                  known (before #14 each cost ~39 B, never counted against PROBE_LIMIT_BYTES).

Frames come from scripts/pktbuild.py (checksums correct); each segment is the template with
its sequence number and TCP checksum patched (RFC 1624), so 10x sizes write in seconds.
Deterministic: the same arguments write the same bytes.
"""
import os
import struct
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pktbuild as pb  # noqa: E402

CLIENT, SERVER = "10.0.0.1", "10.0.0.2"
TCP_OFF = 14 + 20  # Ethernet + IPv4 without options


def _add(a, b):
    s = a + b
    return (s & 0xFFFF) + (s >> 16)


def patch_seq(frame, seq):
    """`frame` (a bytearray from pktbuild) with its TCP sequence number set to `seq`."""
    old_seq = frame[TCP_OFF + 4:TCP_OFF + 8]
    new_seq = struct.pack("!I", seq & 0xFFFFFFFF)
    (csum,) = struct.unpack_from("!H", frame, TCP_OFF + 16)
    # RFC 1624: HC' = ~(~HC + ~m + m')
    s = (~csum) & 0xFFFF
    for i in (0, 2):
        (m,) = struct.unpack_from("!H", old_seq, i)
        (m2,) = struct.unpack_from("!H", new_seq, i)
        s = _add(s, (~m) & 0xFFFF)
        s = _add(s, m2)
    frame[TCP_OFF + 4:TCP_OFF + 8] = new_seq
    struct.pack_into("!H", frame, TCP_OFF + 16, (~s) & 0xFFFF)
    return frame


class Writer:
    def __init__(self, path, snaplen=262144):
        self.f = open(path, "wb")
        self.f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, snaplen, 1))

    def frame(self, ts_us, data, orig=None):
        orig = len(data) if orig is None else orig
        self.f.write(struct.pack("<IIII", ts_us // 1_000_000, ts_us % 1_000_000, len(data), orig))
        self.f.write(data)

    def close(self):
        self.f.close()


def handshake(w, c, t):
    for fr in (c.syn(t), c.synack(t + 100), c.ack(t + 200)):
        w.frame(fr[0], fr[1])


def ooo_snap(path, n):
    w = Writer(path, snaplen=54)
    c = pb.TcpConn(CLIENT, SERVER, 40000, 443)
    handshake(w, c, 0)
    seg = 1400
    t, frame = c.seg(300, "c", pb.ACK, b"\0" * seg, advance=False)
    frame = bytearray(frame)
    start = c.nxt["c"] + 1  # byte 0 of the stream never comes
    for i in range(n):
        patch_seq(frame, start + i * (seg + 1))
        w.frame(300 + i, bytes(frame[:54]), len(frame))
    w.close()


def ooo_tiny(path, n, conns=8):
    w = Writer(path)
    tmpl = []
    for k in range(conns):
        c = pb.TcpConn(CLIENT, SERVER, 40000 + k, 80)
        handshake(w, c, k * 1000)
        _, frame = c.seg(0, "c", pb.ACK, b"x", advance=False)
        tmpl.append((bytearray(frame), c.nxt["c"] + 1))
    t = 10_000
    for i in range(n):
        for frame, start in tmpl:
            patch_seq(frame, start + 2 * i)
            w.frame(t, bytes(frame))
            t += 1
    w.close()


def probe_gaps(path, n):
    w = Writer(path, snaplen=54)
    c = pb.TcpConn(CLIENT, SERVER, 40000, 8080)
    handshake(w, c, 0)
    seg = 1400
    _, frame = c.seg(300, "s", pb.ACK, b"\0" * seg, advance=False)
    frame = bytearray(frame)
    start = c.nxt["s"]
    for i in range(n):
        patch_seq(frame, start + i * seg)
        w.frame(300 + i, bytes(frame[:54]), len(frame))
    w.close()


def main():
    out = sys.argv[1]
    scale = int(sys.argv[2]) if len(sys.argv) > 2 else 1
    os.makedirs(out, exist_ok=True)
    ooo_snap(os.path.join(out, "ooo-snap.pcap"), 300_000 * scale)
    ooo_tiny(os.path.join(out, "ooo-tiny.pcap"), 150_000 * scale)
    probe_gaps(os.path.join(out, "probe-gaps.pcap"), 400_000 * scale)


if __name__ == "__main__":
    main()
