#!/usr/bin/env python3
"""Writes testdata/regress/filter/: a capture for the record filters (issue #11, item 8) and
tshark's view of it.

names-and-ipv6.pcap holds nine TCP connections, each a handshake, one request and its
answer, over IPv4 and IPv6, whose TLS SNIs and HTTP Host headers have multi-byte characters
where `*.example.com` cuts them (the old `name_matches` sliced the name as a `str` at
`len - len("example.com")` and panicked inside a character), and servers that only the IPv6
forms of `--server` select (`::1`, `[::1]:8080`, `::/0`, `2001:db8::/32`).

expected.tsv is the oracle: for each pcapstat filter (flag and value), a tshark display filter
selecting the same connections, and the number of TCP streams tshark finds with it (a stream
counts when one of its frames matches; the address filters look at the SYN, whose destination
is the server). Run from the repository root: python3 scripts/make-regress-filter.py
"""
import os
import struct
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pktbuild as pb  # noqa: E402

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "testdata", "regress", "filter")


def client_hello(sni: bytes) -> bytes:
    """A minimal TLS 1.2 ClientHello record with one SNI host name (any bytes)."""
    name = struct.pack("!BH", 0, len(sni)) + sni
    sni_ext = struct.pack("!HH", 0, len(name) + 2) + struct.pack("!H", len(name)) + name
    body = (
        b"\x03\x03" + bytes(range(32)) + b"\x00"  # version, random, no session id
        + struct.pack("!H", 2) + b"\x13\x01"  # one cipher suite
        + b"\x01\x00"  # null compression
        + struct.pack("!H", len(sni_ext)) + sni_ext
    )
    hs = b"\x01" + struct.pack("!I", len(body))[1:] + body
    return b"\x16\x03\x01" + struct.pack("!H", len(hs)) + hs


def server_hello() -> bytes:
    body = b"\x03\x03" + bytes(32) + b"\x00" + b"\x13\x01" + b"\x00"
    hs = b"\x02" + struct.pack("!I", len(body))[1:] + body
    return b"\x16\x03\x03" + struct.pack("!H", len(hs)) + hs


def http_get(host: bytes) -> bytes:
    return b"GET / HTTP/1.1\r\nHost: " + host + b"\r\nUser-Agent: regress\r\n\r\n"


HTTP_OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"

# (client, server, client port, server port, kind, name)
CONNS = [
    ("10.0.0.1", "10.0.0.2", 40001, 80, "http", "aaéxample.com".encode()),  # é straddles the cut
    ("10.0.0.1", "10.0.0.3", 40002, 443, "tls", "xx😀xample.com".encode()),  # 4-byte emoji at the cut
    ("10.0.0.1", "10.0.0.3", 40003, 443, "tls", "a.example.com".encode()),
    ("::1", "::1", 40004, 8080, "http", b"[::1]:8080"),
    ("2001:db8::10", "2001:db8::1", 40005, 443, "tls", "é.example.com".encode()),  # matches *.example.com
    ("2001:db8::10", "2001:db8:1::2", 40006, 80, "http", "www.example.com:80".encode()),
    ("fd00::10", "2001:db8::1", 40007, 80, "http", "xn--bcher-kva.example".encode()),
    ("fd00::10", "fd00::20", 40008, 443, "tls", "日本xample.com".encode()),  # 3-byte characters
    ("10.0.0.9", "10.0.0.2", 40009, 8080, "http", "bücher.example".encode()),
]

# (pcapstat flag, value, tshark display filter)
ORACLE = [
    ("--server", "::1", "tcp.flags.syn==1 && tcp.flags.ack==0 && ipv6.dst==::1"),
    ("--server", "[::1]:8080", "tcp.flags.syn==1 && tcp.flags.ack==0 && ipv6.dst==::1 && tcp.dstport==8080"),
    ("--server", "[::1]:443", "tcp.flags.syn==1 && tcp.flags.ack==0 && ipv6.dst==::1 && tcp.dstport==443"),
    ("--server", "::/0", "tcp.flags.syn==1 && tcp.flags.ack==0 && ipv6"),
    ("--server", "2001:db8::/32", "tcp.flags.syn==1 && tcp.flags.ack==0 && ipv6.dst==2001:db8::/32"),
    ("--server", "2001:db8::1", "tcp.flags.syn==1 && tcp.flags.ack==0 && ipv6.dst==2001:db8::1"),
    ("--server", "[2001:db8::1]:443", "tcp.flags.syn==1 && tcp.flags.ack==0 && ipv6.dst==2001:db8::1 && tcp.dstport==443"),
    ("--server", "fd00::/8", "tcp.flags.syn==1 && tcp.flags.ack==0 && ipv6.dst==fd00::/8"),
    ("--server", "10.0.0.0/8:443", "tcp.flags.syn==1 && tcp.flags.ack==0 && ip.dst==10.0.0.0/8 && tcp.dstport==443"),
    ("--server", "10.0.0.2", "tcp.flags.syn==1 && tcp.flags.ack==0 && ip.dst==10.0.0.2"),
    ("--client", "fd00::/8", "tcp.flags.syn==1 && tcp.flags.ack==0 && ipv6.src==fd00::/8"),
    ("--client", "::1", "tcp.flags.syn==1 && tcp.flags.ack==0 && ipv6.src==::1"),
    # Names: SNI or the Host header's host part, ASCII case-insensitive, sub-domains for `*.`.
    ("--server", "*.example.com",
     'tls.handshake.extensions_server_name matches "(?i)^.+\\\\.example\\\\.com$" || '
     'http.host matches "(?i)^.+\\\\.example\\\\.com(:[0-9]+)?$"'),
    ("--server", "example.com", 'tls.handshake.extensions_server_name matches "(?i)^example\\\\.com$"'),
    ("--server", "xn--bcher-kva.example", 'http.host matches "(?i)^xn--bcher-kva\\\\.example(:[0-9]+)?$"'),
    ("--sni", "*.example.com", 'tls.handshake.extensions_server_name matches "(?i)^.+\\\\.example\\\\.com$"'),
    ("--sni", "a.example.com", 'tls.handshake.extensions_server_name matches "(?i)^a\\\\.example\\\\.com$"'),
]


def main():
    os.makedirs(OUT, exist_ok=True)
    frames = []
    t = 1_700_000_000_000_000_000
    for i, (cli, srv, cport, sport, kind, name) in enumerate(CONNS):
        c = pb.TcpConn(cli, srv, cport, sport, cisn=1000 + i, sisn=9000 + i)
        t += 10_000_000
        frames += [c.syn(t), c.synack(t + 1_000_000), c.ack(t + 2_000_000)]
        if kind == "http":
            frames.append(c.send(t + 3_000_000, "c", http_get(name)))
            frames.append(c.send(t + 5_000_000, "s", HTTP_OK))
        else:
            frames.append(c.send(t + 3_000_000, "c", client_hello(name)))
            frames.append(c.send(t + 5_000_000, "s", server_hello()))
        frames.append(c.ack(t + 6_000_000))
        frames += [c.fin(t + 7_000_000, "c"), c.fin(t + 8_000_000, "s"), c.ack(t + 9_000_000)]
    pcap = os.path.join(OUT, "names-and-ipv6.pcap")
    pb.write_pcap(pcap, frames)
    rows = ["flag\tvalue\ttshark_filter\ttshark_streams"]
    for flag, value, dfilter in ORACLE:
        out = subprocess.run(
            ["tshark", "-r", pcap, "-Y", dfilter, "-T", "fields", "-e", "tcp.stream"],
            check=True, capture_output=True, text=True,
        ).stdout
        streams = {line for line in out.split() if line}
        rows.append(f"{flag}\t{value}\t{dfilter}\t{len(streams)}")
    with open(os.path.join(OUT, "expected.tsv"), "w") as f:
        f.write("\n".join(rows) + "\n")


if __name__ == "__main__":
    main()
