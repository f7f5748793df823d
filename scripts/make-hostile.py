#!/usr/bin/env python3
"""Hostile captures for the parser rows of issue #14 (stdlib only; deterministic).

    python3 scripts/make-hostile.py KIND SCALE OUT.pcap

KIND is one of:

* ``hpack``  -- one h2c connection: the client inserts a 65 000-byte ``:path`` into its HPACK
  dynamic table (after a table size update to 64 KiB the server allowed), then sends
  ``64 * SCALE`` HEADERS frames on new streams, each a block of 16 000 one-byte indexed
  references to that entry (about 1 MB of capture per SCALE).
* ``http1``  -- ``SCALE`` HTTP/1.1 connections, each sending a 65 000-byte request head one
  byte per TCP segment (about 3.6 MB per SCALE), then a small response.
* ``dns``    -- ``100 000 * SCALE`` DNS queries from one client port with one id (distinct
  names), every other one answered (about 8 MB per SCALE).
* ``tls``    -- ``200 * SCALE`` TLS connections whose ClientHello offers 32 000 cipher suites
  and 32 000 one-byte ALPN names (about 26 MB per SCALE).
* ``websocket`` -- one WebSocket connection (HTTP/1.1 upgrade, then ``400 000 * SCALE`` masked
  frames from the client, 7 bytes each, 200 per TCP segment: 1-byte text messages, every tenth
  frame a ping with a new payload that is never answered, every hundredth a fragment pair with
  a ping between its parts; the server answers each segment with a 126-byte-length binary frame
  and an unsolicited pong (about 3 MB per SCALE).
* ``tls-spread`` -- the same, a connection every 30 ms (6 s of capture time per SCALE): each
  connection is over (reset) well before the next ones, as when hellos come one after another
  rather than all at once (``tls`` puts them all within 30 ms, all held by the 3 s close grace).

Totals of all connections (docs/limits.md, "Application buffers of all connections together"
and "RTT unacknowledged segments of all connections together"); here SCALE is a count:

* ``http1-pending`` -- ``SCALE`` HTTP/1.1 connections, each sending 1 100 pipelined requests with
  a 30 000-byte target that get no response (about 33 MB per connection).
* ``http1-pipelined`` -- one connection sending ``SCALE`` pipelined requests with a 100-byte
  target that get no response (the first ones given up at ``max_pending``).
* ``h2-streams`` -- ``SCALE`` h2c connections (prior knowledge), each opening 1 100 streams
  with an 8 000-byte ``:path`` that get no response (about 9 MB per connection).
* ``hpack-fill`` -- ``SCALE`` h2c connections whose client and server each allow a 64 KiB
  HPACK table and fill it with 1 980 one-byte names (about 16 KB per connection).
* ``rtt-unacked`` -- ``SCALE`` TCP connections, each sending 4 096 one-byte segments that are
  never acknowledged (about 290 KB per connection).

The sizes in ``cargo test`` are small (Rust generators in crates/pcapstat-core/tests/hostile.rs);
this script makes the 1x / 10x inputs of docs/limits.md ("Measuring").
"""
import os
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from pktbuild import TcpConn, eth_udp  # noqa: E402

T0 = 1_700_000_000 * 1_000_000_000
US = 1_000


class Writer:
    """A streaming pcap writer (the inputs are too big to hold in memory)."""

    def __init__(self, path):
        self.f = open(path, "wb")
        self.f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, 1))

    def add(self, fr):
        ts, data = fr
        self.f.write(struct.pack("<IIII", ts // 1_000_000_000, (ts % 1_000_000_000) // 1000,
                                 len(data), len(data)))
        self.f.write(data)

    def close(self):
        self.f.close()


def h2frame(typ, flags, stream, payload):
    return struct.pack(">I", len(payload))[1:] + bytes([typ, flags]) + struct.pack(">I", stream) + payload


def hpack_int(value, prefix, first):
    mask = (1 << prefix) - 1
    if value < mask:
        return bytes([first | value])
    out = [first | mask]
    value -= mask
    while value >= 128:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def make_hpack(w, scale):
    c = TcpConn("10.0.0.1", "10.0.0.2", 40000, 80)
    t = T0
    for fr in (c.syn(t), c.synack(t + US), c.ack(t + 2 * US)):
        w.add(fr)
    t += 10 * US
    pre = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + h2frame(4, 0, 0, b"")
    w.add(c.send(t, "c", pre))
    t += US
    # Server SETTINGS: HEADER_TABLE_SIZE = 65536.
    w.add(c.send(t, "s", h2frame(4, 0, 0, struct.pack(">HI", 1, 65536))))
    t += US
    value = b"/" + b"a" * 64999
    block = hpack_int(65536, 5, 0x20) + b"\x82\x86" + hpack_int(4, 6, 0x40)
    block += hpack_int(len(value), 7, 0) + value
    # One HEADERS + CONTINUATIONs carrying the 65 KB literal (frames of at most 16 KB).
    chunks = [block[i:i + 16000] for i in range(0, len(block), 16000)]
    for k, ch in enumerate(chunks):
        typ = 1 if k == 0 else 9
        flags = (0x1 if k == 0 else 0) | (0x4 if k == len(chunks) - 1 else 0)
        w.add(c.send(t, "c", h2frame(typ, flags, 1, ch)))
        t += US
    refs = b"\x82\x86" + b"\xbe" * 16000
    for k in range(64 * scale):
        w.add(c.send(t, "c", h2frame(1, 0x5, 3 + 2 * k, refs)))
        t += US


def make_http1(w, scale):
    head = b"GET / HTTP/1.1\r\nHost: x\r\nX-A: " + b"a" * (65000 - 32) + b"\r\n\r\n"
    t = T0
    for n in range(scale):
        c = TcpConn("10.0.0.1", "10.0.0.2", 40000 + n, 80)
        for fr in (c.syn(t), c.synack(t + US), c.ack(t + 2 * US)):
            w.add(fr)
        t += 10 * US
        for i in range(len(head)):
            w.add(c.send(t, "c", head[i:i + 1]))
            t += US
        w.add(c.send(t, "s", b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"))
        t += US


def dns_msg(ident, flags, name, answer=False):
    q = b"".join(bytes([len(p)]) + p for p in name.split(b".")) + b"\0" + struct.pack(">HH", 1, 1)
    msg = struct.pack(">HHHHHH", ident, flags, 1, 1 if answer else 0, 0, 0) + q
    if answer:
        msg += b"\xc0\x0c" + struct.pack(">HHIH", 1, 1, 60, 4) + bytes([192, 0, 2, 1])
    return msg


def make_dns(w, scale):
    t = T0
    for i in range(100_000 * scale):
        name = b"q%d.example" % i
        w.add((t, eth_udp("10.0.0.1", "10.0.0.53", 40000, 53, dns_msg(0x1234, 0x0100, name))))
        t += US
        if i % 2 == 0:
            w.add((t, eth_udp("10.0.0.53", "10.0.0.1", 53, 40000,
                              dns_msg(0x1234, 0x8180, name, answer=True))))
            t += US


def client_hello():
    suites = b"".join(struct.pack(">H", 0x0a0a + i) for i in range(32000))
    alpn_list = b"".join(b"\x01" + bytes([0x61 + i % 26]) for i in range(32000))
    alpn = struct.pack(">HH", 16, len(alpn_list) + 2) + struct.pack(">H", len(alpn_list)) + alpn_list
    body = b"\x03\x03" + b"\x11" * 32 + b"\x00"
    body += struct.pack(">H", len(suites)) + suites + b"\x01\x00"
    body += struct.pack(">H", len(alpn)) + alpn
    hs = b"\x01" + struct.pack(">I", len(body))[1:] + body
    recs = b""
    for i in range(0, len(hs), 16000):
        part = hs[i:i + 16000]
        recs += b"\x16\x03\x01" + struct.pack(">H", len(part)) + part
    return recs


def make_tls(w, scale, gap_us=0):
    hello = client_hello()
    t = T0
    for n in range(200 * scale):
        t += gap_us * US
        c = TcpConn("10.0.%d.%d" % (n // 250, n % 250 + 1), "10.1.0.2", 40000 + n % 20000, 443)
        for fr in (c.syn(t), c.synack(t + US), c.ack(t + 2 * US)):
            w.add(fr)
        t += 10 * US
        for i in range(0, len(hello), 32000):
            w.add(c.send(t, "c", hello[i:i + 32000]))
            t += US
        w.add(c.rst(t, "s"))
        t += US


def ws_frame(fin, opcode, payload, mask):
    n = len(payload)
    head = bytes([(0x80 if fin else 0) | opcode])
    m = 0x80 if mask else 0
    if n < 126:
        head += bytes([m | n])
    else:
        head += bytes([m | 126]) + struct.pack(">H", n)
    if mask:
        return head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return head + payload


def make_websocket(w, scale):
    c = TcpConn("10.0.0.1", "10.0.0.2", 40000, 8765)
    t = T0
    for fr in (c.syn(t), c.synack(t + US), c.ack(t + 2 * US)):
        w.add(fr)
    t += 10 * US
    w.add(c.send(t, "c", b"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
                            b"Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n\r\n"))
    t += US
    w.add(c.send(t, "s", b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                            b"Connection: Upgrade\r\n\r\n"))
    t += US
    k = b"\x01\x02\x03\x04"
    reply = ws_frame(True, 2, b"r" * 200, None) + ws_frame(True, 10, b"hb", None)
    n = 0
    for _ in range(2000 * scale):
        seg = bytearray()
        for _ in range(200):
            if n % 100 == 99:
                seg += ws_frame(False, 1, b"a", k) + ws_frame(True, 9, b"p", k)
                seg += ws_frame(True, 0, b"b", k)
            elif n % 10 == 9:
                seg += ws_frame(True, 9, struct.pack(">I", n)[1:], k)
            else:
                seg += ws_frame(True, 1, b"m", k)
            n += 1
        w.add(c.send(t, "c", bytes(seg)))
        t += US
        w.add(c.send(t, "s", reply))
        t += US


def _clients(w, n, t, sport):
    """`n` connections after their handshakes, from distinct client addresses."""
    cs = []
    for i in range(n):
        c = TcpConn("10.%d.%d.%d" % (i // 62500, (i // 250) % 250, i % 250 + 1), "10.250.0.2",
                    40000 + i % 20000, sport)
        for fr in c.handshake(t, 2 * US):
            w.add(fr)
        t += 10 * US
        cs.append(c)
    return cs, t


def make_http1_pending(w, conns, reqs=1100, plen=30000):
    cs, t = _clients(w, conns, T0, 80)
    for i in range(reqs):
        for c in cs:
            w.add(c.send(t, "c", b"GET /" + b"%06d" % i + b"a" * plen + b" HTTP/1.1\r\nHost: x\r\n\r\n"))
            t += US


def make_http1_pipelined(w, reqs):
    make_http1_pending(w, 1, reqs=reqs, plen=100)


def h2_settings_table(size):
    return h2frame(4, 0, 0, struct.pack(">HI", 1, size))


def _h2_clients(w, conns, table=None):
    cs, t = _clients(w, conns, T0, 80)
    settings = h2frame(4, 0, 0, b"") if table is None else h2_settings_table(table)
    for c in cs:
        w.add(c.send(t, "c", b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + settings))
        w.add(c.send(t + US, "s", settings))
        t += 2 * US
    return cs, t


def make_h2_streams(w, conns, streams=1100, plen=8000):
    cs, t = _h2_clients(w, conns)
    for i in range(streams):
        for c in cs:
            path = b"/" + b"%06d" % i + b"a" * plen
            block = (bytes([0x82]) + hpack_int(4, 4, 0) + hpack_int(len(path), 7, 0) + path
                     + bytes([0x86]) + hpack_int(1, 4, 0) + b"\x01x")
            w.add(c.send(t, "c", h2frame(1, 4, 2 * i + 1, block)))
            t += US


def make_hpack_fill(w, conns, entries=1980):
    cs, t = _h2_clients(w, conns, table=65536)
    for c in cs:
        fill = lambda name: b"".join(bytes([0x40, 0x01, name, 0x00]) for _ in range(entries))
        block = hpack_int(65536, 5, 0x20) + bytes([0x82, 0x86, 0x84]) + fill(0x61)
        w.add(c.send(t, "c", h2frame(1, 5, 1, block)))
        block = hpack_int(65536, 5, 0x20) + bytes([0x88]) + fill(0x62)
        w.add(c.send(t + US, "s", h2frame(1, 5, 1, block)))
        t += 2 * US


def make_rtt_unacked(w, conns, segs=4096):
    cs, t = _clients(w, conns, T0, 443)
    for _ in range(segs):
        for c in cs:
            w.add(c.send(t, "c", b"x"))
            t += 1


def main():
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    kind, scale, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    gen = {"hpack": make_hpack, "http1": make_http1, "dns": make_dns, "tls": make_tls,
           "tls-spread": lambda w, scale: make_tls(w, scale, gap_us=30_000),
           "websocket": make_websocket, "http1-pending": make_http1_pending,
           "http1-pipelined": make_http1_pipelined, "h2-streams": make_h2_streams,
           "hpack-fill": make_hpack_fill, "rtt-unacked": make_rtt_unacked}[kind]
    w = Writer(out)
    gen(w, scale)
    w.close()


if __name__ == "__main__":
    main()
