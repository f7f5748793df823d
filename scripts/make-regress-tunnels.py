#!/usr/bin/env python3
"""Regression captures for tunnels and link types that used to be dropped silently (issue #11 item 6).

Writes testdata/regress/tunnels/*.pcap, each carrying short HTTP exchanges over TCP (handshake,
request, response, FIN from both sides), and the oracle fixture testdata/regress/tunnels/expected.tsv:
tshark's view of every file (frame counts of ip / ipv6 / tcp / udp, then one row per tcp.stream with
its client and server, packets per direction and HTTP status codes).

  erspan-type1.pcap            GRE 0x88BE, no GRE flags, no ERSPAN header (type I), IPv4 inside
  erspan-type2-vlan.pcap       GRE 0x88BE with sequence number, ERSPAN type II header, 802.1Q + IPv4
  erspan-type3-ipv6.pcap       GRE 0x22EB, ERSPAN type III header (12 bytes), IPv6 inside
  erspan-type3-subheader.pcap  ERSPAN type III with the O bit: 8-byte platform subheader, IPv4
  nflog.pcap                   LINKTYPE_NFLOG (239): IPv4 records with a packet-header attribute
                               (hw protocol 0x0800), IPv6 records without (family 10)
  ether-tags.pcap              802.1ah PBB, VN-tag, 802.1BR E-tag, Cisco MetaData and NSH, one
                               connection each
  gtpu.pcap                    GTP-U G-PDUs (UDP 2152): plain, with sequence number, with a PDU
                               session container extension header
  l2tp.pcap                    L2TPv2 data messages (UDP 1701), with and without length / Ns-Nr,
                               carrying PPP and IPv4
  gre-unknown.pcap             GRE protocol 0x1234 (not decoded: counted as undecodable), a GRE
                               keepalive (protocol 0, no payload: not a problem), ESP (IP protocol 50)

Deterministic: the same script writes the same bytes (tshark's version only matters for the
fixture). Run from anywhere: python3 scripts/make-regress-tunnels.py
"""
import os
import struct
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pktbuild as pb  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "testdata", "regress", "tunnels")
T0 = 1_767_225_600_000_000_000  # 2026-01-01T00:00:00Z


def http_exchange(client, server, cport, t0, path="/"):
    """Ethernet frames of one HTTP/1.1 GET over a fresh TCP connection (10 frames)."""
    c = pb.TcpConn(client, server, cport, 80, cisn=1000 + cport, sisn=9000 + cport)
    host = server if ":" not in server else "[%s]" % server
    req = ("GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: regress\r\n\r\n" % (path, host)).encode()
    body = b"hello from the mirror\n"
    resp = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\nContent-Type: text/plain\r\n\r\n" % len(body) + body
    ms = 1_000_000
    return [
        c.syn(t0),
        c.synack(t0 + 1 * ms),
        c.ack(t0 + 2 * ms),
        c.send(t0 + 3 * ms, "c", req),
        c.ack(t0 + 4 * ms, "s"),
        c.send(t0 + 10 * ms, "s", resp),
        c.ack(t0 + 11 * ms, "c"),
        c.fin(t0 + 12 * ms, "c"),
        c.fin(t0 + 13 * ms, "s"),
        c.ack(t0 + 14 * ms, "c"),
    ]


def outer_gre(gre, n):
    """Ethernet / IPv4 (monitor source -> collector) / the given GRE packet."""
    ip = pb.ipv4("192.0.2.1", "192.0.2.99", 47, gre, ident=n)
    return pb.ether(ip, src=0x10, dst=0x11)


def vlan_tag(frame, vid):
    """Insert an 802.1Q tag after the MAC addresses."""
    return frame[:12] + struct.pack("!HH", 0x8100, vid) + frame[12:]


def erspan_type1(frames):
    return [(t, outer_gre(struct.pack("!HH", 0x0000, 0x88BE) + f, i)) for i, (t, f) in enumerate(frames)]


def erspan_type2(frames):
    out = []
    for i, (t, f) in enumerate(frames):
        gre = struct.pack("!HHI", 0x1000, 0x88BE, i)  # S bit: sequence number
        # version 1, VLAN 100 | COS 0, En 3 (VLAN tag preserved), T 0, session 42 | index 7
        hdr = struct.pack("!HHI", (1 << 12) | 100, (3 << 11) | 42, 7)
        out.append((t, outer_gre(gre + hdr + f, i)))
    return out


def erspan_type3(frames, subheader):
    out = []
    for i, (t, f) in enumerate(frames):
        gre = struct.pack("!HHI", 0x1000, 0x22EB, i)
        # version 2, VLAN 0 | COS 0, BSO 0, T 0, session 5 | timestamp | SGT |
        # P 0, FT 0, HW 1, D 0, Gra 1 (100 ns), O
        hdr = struct.pack("!HHIHH", 2 << 12, 5, 123456 + i, 0, (1 << 4) | (1 << 1) | int(subheader))
        if subheader:
            # platform id 3: port index, upper 32 bits of the timestamp
            hdr += struct.pack("!II", (3 << 26) | 17, 0)
        out.append((t, outer_gre(gre + hdr + f, i)))
    return out


def tlv(ty, value):
    """One NFLOG attribute: length and type little-endian (x86 host), value padded to 4 bytes."""
    raw = struct.pack("<HH", 4 + len(value), ty) + value
    return raw + b"\0" * (-len(raw) % 4)


def nflog(frames, family, hw_protocol):
    out = []
    for t, f in frames:
        ip = f[14:]
        attrs = b""
        if hw_protocol:
            attrs += tlv(1, struct.pack("!HBx", hw_protocol, 1))  # NFULA_PACKET_HDR, hook 1
        attrs += tlv(10, b"regress\0")  # NFULA_PREFIX
        attrs += tlv(5, struct.pack("!I", 2))  # NFULA_IFINDEX_INDEV
        attrs += tlv(9, ip)  # NFULA_PAYLOAD
        out.append((t, struct.pack("!BBH", family, 0, 7) + attrs))
    return out


def retag(frames, build):
    """Replace each frame's Ethernet header by `build(ether_type, ip_packet)`."""
    out = []
    for t, f in frames:
        et = struct.unpack("!H", f[12:14])[0]
        out.append((t, pb.mac(2) + pb.mac(1) + build(et, f[14:], f)))
    return out


def pbb(et, ip, f):
    # I-TAG: PCP/DEI/UCA/res, I-SID 0x001234; then the customer's Ethernet frame.
    return struct.pack("!HI", 0x88E7, 0x00001234) + f


def vntag(et, ip, f):
    return struct.pack("!HIH", 0x8926, 0x80010002, et) + ip


def etag(et, ip, f):
    return struct.pack("!HHIH", 0x893F, 0, 0x00050000, et) + ip


def cmd(et, ip, f):
    # version 1, length 1, option (length 1, type SGT 1), SGT 100
    return struct.pack("!HBBHHH", 0x8909, 1, 1, 0x0001, 100, et) + ip


def nsh(et, ip, f):
    # version 0, TTL 63, length 2 words, MD type 2, next protocol 1 (IPv4) / 2 (IPv6); SPI 10, SI 255
    np = 1 if et == pb.ETH_IPV4 else 2
    return struct.pack("!HHHI", 0x894F, (63 << 6) | 2, (2 << 8) | np, (10 << 8) | 255) + ip


def gtpu(frames, client):
    """GTP-U G-PDUs over UDP 2152 between a base station and a gateway; the client's packets go
    uplink. Frames alternate: no optional fields, a sequence number, a PDU session container
    extension header."""
    out = []
    for i, (t, f) in enumerate(frames):
        ip = f[14:]
        up = ipaddress_of(f) == client
        src, dst = ("172.16.0.1", "172.16.0.2") if up else ("172.16.0.2", "172.16.0.1")
        kind = i % 3
        if kind == 0:
            opt = b""
            flags = 0x30
        elif kind == 1:
            opt = struct.pack("!HBB", i, 0, 0)
            flags = 0x32
        else:
            # next extension 0x85 (PDU session container): 1 word, QFI 9, then no more
            opt = struct.pack("!HBB", 0, 0, 0x85) + bytes([1, 0x10 if up else 0x00, 9, 0])
            flags = 0x34
        gtp = struct.pack("!BBHI", flags, 0xFF, len(opt) + len(ip), 0x1000 + int(up)) + opt + ip
        out.append((t, pb.ether(pb.ipv4(src, dst, 17, pb.udp(src, dst, 2152, 2152, gtp)), src=0x20, dst=0x21)))
    return out


def l2tp(frames, client):
    """L2TPv2 data messages over UDP 1701 carrying PPP (address/control, protocol 0x0021)."""
    out = []
    for i, (t, f) in enumerate(frames):
        up = ipaddress_of(f) == client
        src, dst = ("203.0.113.1", "203.0.113.2") if up else ("203.0.113.2", "203.0.113.1")
        ppp = b"\xff\x03\x00\x21" + f[14:]
        if i % 2:
            # L and S bits: length, tunnel, session, Ns, Nr
            body = struct.pack("!HHHH", 7, 3, i, i) + ppp
            msg = struct.pack("!HH", 0x4802, 4 + len(body)) + body
        else:
            msg = struct.pack("!HHH", 0x0002, 7, 3) + ppp
        out.append((t, pb.ether(pb.ipv4(src, dst, 17, pb.udp(src, dst, 1701, 1701, msg)), src=0x30, dst=0x31)))
    return out


def ipaddress_of(frame):
    """The IPv4 source address of an Ethernet/IPv4 frame, dotted."""
    return ".".join(str(b) for b in frame[26:30])


def gre_unknown():
    frames = []
    inner = http_exchange("10.9.0.1", "10.9.0.2", 45000, T0)[:3]
    for i, (t, f) in enumerate(inner):
        frames.append((t, outer_gre(struct.pack("!HH", 0, 0x1234) + f[14:], i)))
    # A GRE keepalive: protocol 0, nothing carried.
    frames.append((T0 + 5_000_000, outer_gre(struct.pack("!HH", 0, 0), 9)))
    # ESP: SPI, sequence, 32 bytes of ciphertext.
    esp = struct.pack("!II", 0x1000, 1) + bytes(range(32))
    frames.append((T0 + 6_000_000, pb.ether(pb.ipv4("198.51.100.1", "198.51.100.2", 50, esp))))
    return frames


def files():
    ms = 1_000_000
    return {
        "erspan-type1.pcap": erspan_type1(
            http_exchange("10.1.0.1", "10.1.0.2", 40001, T0)
            + http_exchange("10.1.0.3", "10.1.0.2", 40002, T0 + 50 * ms, "/second")),
        "erspan-type2-vlan.pcap": erspan_type2(
            [(t, vlan_tag(f, 100)) for t, f in http_exchange("10.2.0.1", "10.2.0.2", 40003, T0)]),
        "erspan-type3-ipv6.pcap": erspan_type3(
            http_exchange("2001:db8::1", "2001:db8::2", 40004, T0), subheader=False),
        "erspan-type3-subheader.pcap": erspan_type3(
            http_exchange("10.3.0.1", "10.3.0.2", 40005, T0), subheader=True),
        "nflog.pcap": nflog(http_exchange("10.4.0.1", "10.4.0.2", 40006, T0), 2, 0x0800)
        + nflog(http_exchange("2001:db8::4:1", "2001:db8::4:2", 40007, T0 + 50 * ms), 10, 0),
        "ether-tags.pcap": retag(http_exchange("10.5.0.1", "10.5.0.2", 40010, T0), pbb)
        + retag(http_exchange("10.5.0.1", "10.5.0.2", 40011, T0 + 50 * ms), vntag)
        + retag(http_exchange("10.5.0.1", "10.5.0.2", 40012, T0 + 100 * ms), etag)
        + retag(http_exchange("10.5.0.1", "10.5.0.2", 40013, T0 + 150 * ms), cmd)
        + retag(http_exchange("2001:db8::5:1", "2001:db8::5:2", 40014, T0 + 200 * ms), nsh),
        "gtpu.pcap": gtpu(http_exchange("10.45.0.7", "93.184.216.34", 40020, T0), "10.45.0.7"),
        "l2tp.pcap": l2tp(http_exchange("10.6.0.1", "10.6.0.2", 40021, T0), "10.6.0.1"),
        "gre-unknown.pcap": gre_unknown(),
    }


def tshark(path, *args):
    return subprocess.run(["tshark", "-n", "-r", path] + list(args), check=True,
                          capture_output=True, text=True).stdout


def oracle(name, path):
    """tshark's counts and per-stream view of one file, as TSV rows."""
    rows = []
    counts = {"frames": 0, "ipv4": 0, "ipv6": 0, "tcp": 0, "udp": 0}
    streams = {}
    fields = ["frame.protocols", "tcp.stream", "ip.src", "ipv6.src", "tcp.srcport", "ip.dst",
              "ipv6.dst", "tcp.dstport", "http.response.code"]
    out = tshark(path, "-o", "tcp.desegment_tcp_streams:TRUE", "-T", "fields",
                 "-E", "separator=\t", *sum((["-e", f] for f in fields), []))
    for line in out.splitlines():
        protos, stream, ip4s, ip6s, sport, ip4d, ip6d, dport, code = (line.split("\t") + [""] * 9)[:9]
        layers = protos.split(":")
        counts["frames"] += 1
        for key, proto in (("ipv4", "ip"), ("ipv6", "ipv6"), ("tcp", "tcp"), ("udp", "udp")):
            counts[key] += proto in layers
        if stream == "":
            continue
        # The innermost addresses are the last ones tshark lists.
        src = (ip6s or ip4s).split(",")[-1] if ip6s else ip4s.split(",")[-1]
        dst = (ip6d or ip4d).split(",")[-1] if ip6d else ip4d.split(",")[-1]
        s = streams.setdefault(int(stream), {"client": (src, sport), "server": (dst, dport),
                                             "c2s": 0, "s2c": 0, "status": []})
        s["c2s" if (src, sport) == s["client"] else "s2c"] += 1
        if code:
            s["status"].append(code)
    rows.append([name, "counts", str(counts["frames"]), str(counts["ipv4"]), str(counts["ipv6"]),
                 str(counts["tcp"]), str(counts["udp"])])
    for n in sorted(streams):
        s = streams[n]
        rows.append([name, "stream", str(n), "%s:%s" % (s["client"][0], s["client"][1]),
                     "%s:%s" % (s["server"][0], s["server"][1]), str(s["c2s"]), str(s["s2c"]),
                     ",".join(s["status"]) or "-"])
    return rows


def main():
    os.makedirs(OUT, exist_ok=True)
    rows = []
    for name, frames in files().items():
        path = os.path.join(OUT, name)
        linktype = 239 if name.startswith("nflog") else 1
        pb.write_pcap(path, frames, linktype=linktype)
        rows += oracle(name, path)
    version = subprocess.run(["tshark", "--version"], capture_output=True, text=True).stdout.splitlines()[0]
    with open(os.path.join(OUT, "expected.tsv"), "w") as f:
        f.write("# tshark's view of each capture (scripts/make-regress-tunnels.py, %s)\n" % version)
        f.write("# counts rows: file counts frames ipv4 ipv6 tcp udp (frames containing each layer)\n")
        f.write("# stream rows: file stream tcp.stream client server c2s_packets s2c_packets http_status\n")
        for r in rows:
            f.write("\t".join(r) + "\n")
    print("wrote %d files, %d oracle rows to %s" % (len(files()), len(rows), OUT))


if __name__ == "__main__":
    main()
