"""Tiny packet builder for the regression captures in testdata/regress/ (stdlib only).

Builds Ethernet / IPv4 / IPv6 / TCP / UDP frames with correct checksums and writes classic pcap
files (microsecond or nanosecond resolution, any link type). Each `scripts/make-regress-*.py`
uses it to script one bug class as a small capture; tshark then serves as the oracle on the
file. Deterministic: the same script writes the same bytes.
"""
import ipaddress
import struct

ETH_IPV4 = 0x0800
ETH_IPV6 = 0x86DD

FIN, SYN, RST, PSH, ACK = 0x01, 0x02, 0x04, 0x08, 0x10


def _csum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return (~s) & 0xFFFF


def mac(n):
    """A locally administered MAC address numbered n."""
    return bytes([0x02, 0, 0, 0, (n >> 8) & 0xFF, n & 0xFF])


def ether(payload, ethertype=ETH_IPV4, src=1, dst=2):
    return mac(dst) + mac(src) + struct.pack("!H", ethertype) + payload


def ipv4(src, dst, proto, payload, ident=0, ttl=64):
    s, d = ipaddress.IPv4Address(src).packed, ipaddress.IPv4Address(dst).packed
    hdr = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(payload), ident, 0x4000, ttl, proto, 0, s, d)
    hdr = hdr[:10] + struct.pack("!H", _csum(hdr)) + hdr[12:]
    return hdr + payload


def ipv6(src, dst, nh, payload, hlim=64):
    s, d = ipaddress.IPv6Address(src).packed, ipaddress.IPv6Address(dst).packed
    return struct.pack("!IHBB16s16s", 6 << 28, len(payload), nh, hlim, s, d) + payload


def _pseudo(src, dst, proto, length):
    a, b = ipaddress.ip_address(src), ipaddress.ip_address(dst)
    if a.version == 4:
        return a.packed + b.packed + struct.pack("!BBH", 0, proto, length)
    return a.packed + b.packed + struct.pack("!IxxxB", length, proto)


def tcp(src, dst, sport, dport, seq, ack, flags, payload=b"", win=65535, options=b""):
    """A TCP segment (header + payload) with its checksum over the pseudo header."""
    options += b"\0" * (-len(options) % 4)
    off = (20 + len(options)) // 4
    hdr = struct.pack("!HHIIBBHHH", sport, dport, seq & 0xFFFFFFFF, ack & 0xFFFFFFFF,
                      off << 4, flags, win, 0, 0) + options
    c = _csum(_pseudo(src, dst, 6, len(hdr) + len(payload)) + hdr + payload)
    return hdr[:16] + struct.pack("!H", c) + hdr[18:] + payload


def udp(src, dst, sport, dport, payload):
    hdr = struct.pack("!HHHH", sport, dport, 8 + len(payload), 0)
    c = _csum(_pseudo(src, dst, 17, 8 + len(payload)) + hdr + payload) or 0xFFFF
    return hdr[:6] + struct.pack("!H", c) + payload


def ip(src, dst, proto, payload):
    """IPv4 or IPv6 by the address family."""
    if ipaddress.ip_address(src).version == 4:
        return ipv4(src, dst, proto, payload)
    return ipv6(src, dst, proto, payload)


def eth_tcp(src, dst, sport, dport, seq, ack, flags, payload=b"", **kw):
    """Ethernet frame carrying one TCP segment."""
    et = ETH_IPV4 if ipaddress.ip_address(src).version == 4 else ETH_IPV6
    return ether(ip(src, dst, 6, tcp(src, dst, sport, dport, seq, ack, flags, payload, **kw)), et)


def eth_udp(src, dst, sport, dport, payload):
    et = ETH_IPV4 if ipaddress.ip_address(src).version == 4 else ETH_IPV6
    return ether(ip(src, dst, 17, udp(src, dst, sport, dport, payload)), et)


def write_pcap(path, frames, linktype=1, nanos=False, snaplen=262144):
    """frames: iterable of (ts_ns, bytes[, orig_len])."""
    magic = 0xA1B23C4D if nanos else 0xA1B2C3D4
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", magic, 2, 4, 0, 0, snaplen, linktype))
        for fr in frames:
            ts, data = fr[0], fr[1]
            orig = fr[2] if len(fr) > 2 else len(data)
            sub = ts % 1_000_000_000 if nanos else (ts % 1_000_000_000) // 1000
            f.write(struct.pack("<IIII", ts // 1_000_000_000, sub, len(data), orig))
            f.write(data)


class TcpConn:
    """A scripted TCP connection: keeps both sequence numbers so scripts read like a trace.

    `c.syn(t)`, `c.synack(t)`, `c.ack(t)`, `c.send(t, 'c', b'GET / ...')`, `c.fin(t, 's')`, ...
    each return one Ethernet frame (ts_ns, bytes) and advance the sender's sequence number.
    """

    def __init__(self, client, server, cport, sport, cisn=1000, sisn=5000):
        self.ep = {"c": (client, cport), "s": (server, sport)}
        self.nxt = {"c": cisn, "s": sisn}

    def _other(self, who):
        return "s" if who == "c" else "c"

    def seg(self, t, who, flags, payload=b"", seq=None, ack=None, advance=True, **kw):
        (src, sp), (dst, dp) = self.ep[who], self.ep[self._other(who)]
        s = self.nxt[who] if seq is None else seq
        a = self.nxt[self._other(who)] if ack is None else ack
        frame = eth_tcp(src, dst, sp, dp, s, a, flags, payload, **kw)
        if advance and seq is None:
            self.nxt[who] = (s + len(payload) + (1 if flags & (SYN | FIN) else 0)) & 0xFFFFFFFF
        return (t, frame)

    def handshake(self, t, rtt):
        """SYN at t, SYN/ACK at t + rtt/2, the client's ACK at t + rtt: three frames."""
        return [self.syn(t), self.synack(t + rtt // 2), self.ack(t + rtt)]

    def syn(self, t):
        return self.seg(t, "c", SYN, ack=0)

    def synack(self, t):
        return self.seg(t, "s", SYN | ACK)

    def ack(self, t, who="c"):
        return self.seg(t, who, ACK)

    def send(self, t, who, payload, **kw):
        return self.seg(t, who, PSH | ACK, payload, **kw)

    def fin(self, t, who):
        return self.seg(t, who, FIN | ACK)

    def rst(self, t, who, with_ack=True):
        return self.seg(t, who, RST | (ACK if with_ack else 0), advance=False)
