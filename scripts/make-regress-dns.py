#!/usr/bin/env python3
"""Regression captures for DNS retries, `waited` and ICMP errors (testdata/regress/dns/).

Writes three small pcaps, each a scripted client trace (see testdata/regress/dns/README.md for
what every frame shows), and beside each `<name>.tshark.tsv`: tshark's view of the same file
(`dns.retransmission`, `dns.retransmit_request_in`, `dns.response_in`, `dns.time`, and the ICMP
type), the oracle `crates/pcapstat-core/tests/dns_regress.rs` reads. Deterministic: the same
script writes the same bytes (tshark's output is regenerated from them).

Usage: scripts/make-regress-dns.py [OUT_DIR]   (default testdata/regress/dns)
"""
import os
import struct
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pktbuild as pb  # noqa: E402

CLIENT = "10.0.0.1"
RESOLVER1 = "10.0.0.53"   # answers
RESOLVER2 = "10.0.0.54"   # answers (glibc's second nameserver)
SILENT = "10.0.0.55"      # never answers
CLOSED = "10.0.0.56"      # no DNS server: ICMP port unreachable
BASE = 1_800_000_000 * 1_000_000_000  # 2027-01-15T08:00:00Z
MS = 1_000_000
US = 1_000


def name(n):
    out = b""
    for label in n.split("."):
        out += bytes([len(label)]) + label.encode()
    return out + b"\0"


def query(qid, qname, qtype):
    """A standard recursive query, one question, class IN."""
    return struct.pack("!HHHHHH", qid, 0x0100, 1, 0, 0, 0) + name(qname) + struct.pack("!HH", qtype, 1)


def response(qid, qname, qtype, addrs=()):
    """The answer to `query(qid, qname, qtype)`: NOERROR, one A/AAAA record per address."""
    msg = struct.pack("!HHHHHH", qid, 0x8180, 1, len(addrs), 0, 0) + name(qname) + struct.pack("!HH", qtype, 1)
    for a in addrs:
        rdata = pb.ipaddress.ip_address(a).packed
        msg += struct.pack("!HHHIH", 0xC00C, qtype, 1, 60, len(rdata)) + rdata
    return msg


def udp(t, src, sport, dst, dport, payload):
    return (BASE + t, pb.eth_udp(src, dst, sport, dport, payload))


def icmp_port_unreachable(t, router, quoted_frame):
    """ICMP destination unreachable (port) from `router`, quoting the IPv4 datagram of an
    Ethernet frame (whole, as Linux does for small datagrams)."""
    quoted = quoted_frame[1][14:]
    dst = pb.ipaddress.IPv4Address(quoted[12:16]).exploded
    body = struct.pack("!BBHI", 3, 3, 0, 0) + quoted
    body = body[:2] + struct.pack("!H", pb._csum(body)) + body[4:]
    return (BASE + t, pb.ether(pb.ipv4(router, dst, 1, body), src=2, dst=1))


def retries():
    """(a) Two client processes asking the same name are not retries of each other; a client
    re-asking on its own socket, or glibc-style on a new socket with the same id, is."""
    www, api = "www.example.test", "api.example.test"
    return [
        # process 1 (port 40001, id 0x1111): no answer to its first query ...
        udp(0, CLIENT, 40001, RESOLVER1, 53, query(0x1111, www, 1)),
        # ... process 2 (another tool: port 40002, id 0x2222) asks the same name: answered
        udp(400 * MS, CLIENT, 40002, RESOLVER1, 53, query(0x2222, www, 1)),
        udp(400 * MS + 210 * US, RESOLVER1, 53, CLIENT, 40002, response(0x2222, www, 1, ["192.0.2.10"])),
        # process 1 retries once on the same socket, same id, after its 1 s timeout: answered
        udp(1000 * MS, CLIENT, 40001, RESOLVER1, 53, query(0x1111, www, 1)),
        udp(1000 * MS + 250 * US, RESOLVER1, 53, CLIENT, 40001, response(0x1111, www, 1, ["192.0.2.10"])),
        # glibc (timeout 5 s, 2 nameservers): first server silent, after 5 s the same query
        # (same id) from the socket of the second nameserver (new port): one retry
        udp(2000 * MS, CLIENT, 40010, SILENT, 53, query(0x4444, api, 28)),
        udp(7000 * MS, CLIENT, 40011, RESOLVER2, 53, query(0x4444, api, 28)),
        udp(7000 * MS + 300 * US, RESOLVER2, 53, CLIENT, 40011, response(0x4444, api, 28, ["2001:db8::10"])),
    ]


def waited():
    """(b) `waited` of an unanswered query is bounded by related events only."""
    gone, other = "gone.example.test", "other.example.test"
    return [
        # a client asks a silent server and gives up (no retry) ...
        udp(0, CLIENT, 41001, SILENT, 53, query(0x6666, gone, 1)),
        # ... 0.5 s later another tool asks the same name elsewhere: unrelated, answered
        udp(500 * MS, CLIENT, 41002, RESOLVER1, 53, query(0x7777, gone, 1)),
        udp(500 * MS + 200 * US, RESOLVER1, 53, CLIENT, 41002, response(0x7777, gone, 1, ["192.0.2.20"])),
        # dig-style retry (new socket, same id) after 2 s: the first query waited 2 s
        udp(3000 * MS, CLIENT, 41010, SILENT, 53, query(0x8181, other, 1)),
        udp(5000 * MS, CLIENT, 41011, SILENT, 53, query(0x8181, other, 1)),
        # unrelated traffic 20 s later: the capture goes on past the 10 s retry window
        udp(25000 * MS, CLIENT, 41020, RESOLVER1, 53, query(0x9999, other, 1)),
        udp(25000 * MS + 180 * US, RESOLVER1, 53, CLIENT, 41020, response(0x9999, other, 1, ["192.0.2.30"])),
    ]


def icmp():
    """(c) An ICMP port unreachable is not an answer; glibc then asks its next nameserver
    (same id, new socket): a retry."""
    www = "www.example.test"
    q = udp(0, CLIENT, 42001, CLOSED, 53, query(0x5151, www, 1))
    return [
        q,
        icmp_port_unreachable(200 * US, CLOSED, q),
        udp(1 * MS, CLIENT, 42002, RESOLVER1, 53, query(0x5151, www, 1)),
        udp(1 * MS + 230 * US, RESOLVER1, 53, CLIENT, 42002, response(0x5151, www, 1, ["192.0.2.10"])),
    ]


TSHARK_FIELDS = [
    "frame.number", "frame.time_epoch", "ip.src", "udp.srcport", "ip.dst", "udp.dstport", "icmp.type",
    "dns.id", "dns.flags.response", "dns.qry.name", "dns.qry.type", "dns.retransmission",
    "dns.retransmit_request_in", "dns.response_in", "dns.time",
]


def tshark_view(pcap, out):
    cmd = ["tshark", "-2", "-r", pcap, "-T", "fields", "-E", "header=y", "-E", "separator=/t",
           "-E", "occurrence=f"]
    for f in TSHARK_FIELDS:
        cmd += ["-e", f]
    text = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    version = subprocess.run(["tshark", "--version"], check=True, capture_output=True,
                             text=True).stdout.splitlines()[0].rstrip(".")
    with open(out, "w") as f:
        f.write(f"# generated by scripts/make-regress-dns.py with {version}: tshark -2 -r {os.path.basename(pcap)} -T fields\n")
        f.write(text)


def main():
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(root, "testdata", "regress", "dns")
    os.makedirs(out, exist_ok=True)
    for fname, frames in [("retries", retries()), ("waited", waited()), ("icmp-unreachable", icmp())]:
        path = os.path.join(out, fname + ".pcap")
        pb.write_pcap(path, frames)
        tshark_view(path, os.path.join(out, fname + ".tshark.tsv"))
        print(path, len(frames), "frames")


if __name__ == "__main__":
    main()
