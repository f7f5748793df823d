#!/usr/bin/env python3
"""A capture whose names are hostile HTML/JavaScript, for the HTML report (`--html`) tests
(issue #16): the page must show them as text, never run or parse them (stdlib only;
deterministic).

    python3 scripts/make-regress-html.py

Writes testdata/regress/html/hostile-names.pcap and prints the strings it put in. See
testdata/regress/html/README.md; crates/pcapstat/src/html/tests.rs and tests/html/check.js
(the browser check in .ci/run) read it.
"""
import os
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from pktbuild import TcpConn, eth_udp, write_pcap  # noqa: E402

OUT = os.path.join(os.path.dirname(HERE), "testdata", "regress", "html")
T0 = 1_700_000_000 * 1_000_000_000
MS = 1_000_000

HOST = '<script>document.title="pwned-host"</script>'
PATH = "/</script><script>document.title='pwned-path'</script><!--?q=<img/src=x/onerror=alert(1)>"
PATH2 = "/\u2028\u2029\"'&amp;<b>bold</b>"
QNAME = '<img src=x onerror=document.title="pwned-dns">.example.test'


def req(path, host):
    return (f"GET {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: regress\r\n\r\n").encode("utf-8")


def resp(code, body=b"x\n"):
    return (f"HTTP/1.1 {code} X\r\nContent-Length: {len(body)}\r\n\r\n").encode() + body


def dns_query(qid, name, qtype=1):
    q = b"".join(bytes([len(p)]) + p for p in (x.encode() for x in name.split("."))) + b"\0"
    return struct.pack("!HHHHHH", qid, 0x0100, 1, 0, 0, 0) + q + struct.pack("!HH", qtype, 1)


def dns_nxdomain(qid, name, qtype=1):
    q = b"".join(bytes([len(p)]) + p for p in (x.encode() for x in name.split("."))) + b"\0"
    return struct.pack("!HHHHHH", qid, 0x8183, 1, 0, 0, 0) + q + struct.pack("!HH", qtype, 1)


def frames():
    out = []
    # A DNS lookup of a hostile name, answered NXDOMAIN.
    out.append((T0, eth_udp("10.9.0.1", "10.9.0.53", 53000, 53, dns_query(0x4242, QNAME))))
    out.append((T0 + 3 * MS, eth_udp("10.9.0.53", "10.9.0.1", 53, 53000,
                                     dns_nxdomain(0x4242, QNAME))))
    # One keep-alive connection: a 404 and a 500, hostile Host and paths.
    c = TcpConn("10.9.0.1", "10.9.0.2", 41000, 80)
    t = T0 + 10 * MS
    out += [c.syn(t), c.synack(t + 1 * MS), c.ack(t + 2 * MS)]
    out.append(c.send(t + 3 * MS, "c", req(PATH, HOST)))
    out.append(c.send(t + 40 * MS, "s", resp(404)))
    out.append(c.ack(t + 41 * MS, "c"))
    out.append(c.send(t + 100 * MS, "c", req(PATH2, HOST)))
    out.append(c.send(t + 180 * MS, "s", resp(500)))
    out.append(c.ack(t + 181 * MS, "c"))
    out += [c.fin(t + 200 * MS, "c"), c.fin(t + 201 * MS, "s"), c.ack(t + 202 * MS, "c")]
    # A refused connection.
    r = TcpConn("10.9.0.1", "10.9.0.2", 41001, 81)
    out += [r.syn(t + 50 * MS), r.rst(t + 51 * MS, "s")]
    return sorted(out, key=lambda f: f[0])


def main():
    os.makedirs(OUT, exist_ok=True)
    path = os.path.join(OUT, "hostile-names.pcap")
    write_pcap(path, frames())
    print(f"wrote {path}")
    for name, value in [("Host", HOST), ("path 1", PATH), ("path 2", PATH2), ("DNS name", QNAME)]:
        print(f"{name}: {value!r}")


if __name__ == "__main__":
    main()
