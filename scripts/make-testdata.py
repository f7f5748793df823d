#!/usr/bin/env python3
"""Rebuild the bundled captures in testdata/ from the shared capture set ($PCAPSTAT_SHARED,
default <repo root>/../shared): byte-exact copies (sha256 checked against MANIFEST.tsv), a few
derived files that exercise container features absent from the shared set, and compressed copies.
Writes testdata/SOURCES.tsv (one row per file). Deterministic; stdlib only (+ gzip/zstd CLIs).

    python3 scripts/make-testdata.py
"""
import csv
import hashlib
import os
import struct
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import capfile  # noqa: E402

ROOT = capfile.repo_root()
SHARED = capfile.shared_root()
TD = os.path.join(ROOT, "testdata")

PP = "captures/pcapplusplus/Tests/Pcap++Test/PcapExamples/"
ZK = "captures/zeek/testing/btest/Traces/"
SV = "captures/suricata-verify/tests/"
GP = "captures/gopacket/pcapgo/tests/"

# (destination in testdata/, source relative to the shared root, what it exercises)
COPIES = [
    ("pcap-us-le-eth.pcap", PP + "microsecs.pcap", "legacy pcap, microsecond, little-endian; 2 packets"),
    ("pcap-ns-le-eth.pcap", PP + "nanosecs.pcap", "legacy pcap, nanosecond magic, little-endian; 2 packets"),
    ("pcap-us-be-eth-nfs.pcap", SV + "nfs3-01/input.pcap", "legacy pcap, microsecond, big-endian; Ethernet, TCP+UDP (NFS)"),
    ("pcap-ns-be-eth.pcap", PP + "nanosecs_big_endian.pcap", "legacy pcap, nanosecond, big-endian"),
    ("pcap-us-be-netlink.pcap", PP + "microsecs_big_endian.pcap", "legacy pcap, microsecond, big-endian; link type 253 (NETLINK): undecodable link, counted not fatal"),
    ("pcap-modified-kuznetzov.pcap", "captures/pcap-parser/assets/modified-format.pcap", "Kuznetzov 'modified' pcap magic 0xa1b2cd34 (24-byte record headers)"),
    ("pcap-empty.pcap", "captures/tcpdump/tests/empty.pcap", "pcap file header only, 0 packets"),
    ("pcap-linktype-upper-bits.pcap", "captures/tcpdump/tests/heap-overflow-1.pcap", "link type field 0x30000065: RAW (101) with FCS/reserved upper bits set"),
    ("pcap-ns-le-sll-invalid-nsec.pcap", "captures/tcpdump/tests/timestamp_invalid_nano.pcap", "nanosecond pcap (SLL) whose fractional timestamp field is >= 1e9"),
    ("pcap-caplen-4mb-after-6.pcap", SV + "bug-1450-04/tls_DER-incomplete-header.pcap", "real corrupt file: 7th record header claims a 4 MB caplen (readers stop after 6 packets)"),
    ("pcap-fuzz-after-2.pcap", SV + "bug-6875-01/fuzz.pcap", "fuzzer-made pcap: 2 packets then a bad record"),
    ("pcapng-le-spb.pcapng", GP + "le/test010.pcapng", "pcapng LE with Simple Packet Blocks only (snaplen 0)"),
    ("pcapng-le-null-eth-nrb-cb-spb-isb.pcapng", GP + "le/test102.pcapng", "pcapng LE: 3 interfaces (Ethernet + NULL), NRB, custom blocks (copyable and no-copy), ISB, SPB, EPB"),
    ("pcapng-le-3sections.pcapng", GP + "le/test202.pcapng", "pcapng: 3 sections of different byte order (LE, BE, LE; interface ids restart per section), Ethernet + NULL, NRB, custom blocks, ISB, SPB"),
    ("pcapng-be-3sections.pcapng", GP + "be/test202.pcapng", "pcapng: 3 sections (BE, LE, BE), otherwise like pcapng-le-3sections.pcapng"),
    ("pcapng-be-2if.pcapng", GP + "be/test005.pcapng", "pcapng BE: 2 Ethernet interfaces with different snaplen"),
    ("pcapng-le-no-packets.pcapng", GP + "le/test003.pcapng", "pcapng LE: SHB + IDB only, 0 packets"),
    ("pcapng-le-shb-v2-after-1.pcapng", GP + "le/test901.pcapng", "real corrupt file: second section has SHB version 2.0 (readers stop after 1 packet)"),
    ("pcapng-le-eth-sll-tsresol9.pcapng", PP + "pcapng-example.pcapng", "pcapng LE: 2 interfaces with different link types (Ethernet tsresol=9, SLL default us), ISB"),
    ("pcapng-le-2if-tsresol-ns-us.pcapng", ZK + "pcapng-multi-interface.pcapng", "pcapng LE: 2 Ethernet interfaces, if_tsresol 9 (ns) and 6 (us), interleaved packets"),
    ("pcapng-le-95-interfaces.pcapng", PP + "too_many_interfaces.pcapng", "pcapng LE: 95 IDBs (mixed tsresol), 1 packet"),
    ("pcapng-le-time-2106.pcapng", "captures/tcpdump/tests/time_2106_overflow.pcapng", "pcapng timestamp beyond 2106 (64-bit seconds)"),
    ("link-eth-vlan-qinq.pcap", PP + "VlanPackets.pcap", "802.1Q and stacked (QinQ) VLAN tags; ICMP, CDP"),
    ("link-eth-vlan0-http.pcap", ZK + "http-vlan-0.pcap", "HTTP over 802.1Q VLAN id 0"),
    ("link-sll2.pcap", PP + "sll2.pcap", "Linux cooked v2 (276)"),
    ("link-raw101-ipv6-http.pcap", PP + "one_ipv6_http_stream.pcap", "raw IP link type 101, IPv6 HTTP stream"),
    ("link-raw12-ipv6-http.pcap", PP + "four_ipv6_http_streams.pcap", "raw IP link type 12 (OpenBSD DLT_RAW), 4 IPv6 HTTP streams"),
    ("link-ipv4-228-http.pcap", ZK + "http/261/variant-04-te_cl_desync.pcap", "link type 228 (LINKTYPE_IPV4)"),
    ("link-ipv6-229.pcap", PP + "linktype_ipv6.pcap", "link type 229 (LINKTYPE_IPV6)"),
    ("link-null.pcap", PP + "null_loopback.pcap", "BSD NULL loopback (0), host-order address family"),
    ("link-null-http.pcap", SV + "http-event-chunk/input.pcap", "BSD NULL loopback, HTTP over TCP"),
    ("frag-ipv4-tcp80.pcap", "captures/rusticata-pcap-analyzer/assets/frag_tcp_80_ipv4.pcap", "IPv4 fragments carrying TCP (port 80)"),
    ("frag-ipv4-zeek.pcap", ZK + "ipv4/fragmented-1.pcap", "IPv4 fragments (small)"),
    ("frag-ipv6-vlan-tcp.pcap", SV + "defrag/bug-6887-defrag-eth-vlan-ipv6-tcp/frag-eth-vlan-ipv6-tcp.pcap", "IPv6 fragments carrying TCP over 802.1Q"),
    ("frag-ipv6-dns.pcap", ZK + "ipv6-fragmented-dns.pcap", "IPv6 fragments carrying DNS over UDP"),
    ("snaplen-truncated-http.pcap", ZK + "communityid/tcp.pcap", "HTTP session where 3 frames are snap-length truncated (caplen < len)"),
    ("lab/d_tls_resumption/capture.pcap", "lab/d_tls_resumption/capture.pcap", "project lab: TLS 1.2/1.3 full + resumed handshakes (pcap us LE)"),
    ("lab/d_tls_resumption/capture.pcapng", "lab/d_tls_resumption/capture.pcapng", "project lab: same packets as pcapng (tshark -F pcapng)"),
    ("lab/d_tls_resumption/capture-with-keys.pcapng", "lab/d_tls_resumption/capture-with-keys.pcapng", "project lab: pcapng with a Decryption Secrets Block (TLS key log)"),
    ("lab/d_tls_resumption/sslkeylog.txt", "lab/d_tls_resumption/sslkeylog.txt", "project lab: NSS key log of that scenario (curl SSLKEYLOGFILE + openssl -keylogfile), the same secrets as the DSB"),
    ("lab/e_dns/capture.pcap", "lab/e_dns/capture.pcap", "project lab: DNS over UDP/TCP, timeouts, ICMP port unreachable"),
    ("lab/k_websocket/sslkeylog.txt", "lab/k_websocket/sslkeylog.txt", "project lab: key log of the wss-echo connection (Python ssl, websockets client)"),
    ("lab/f_refused_syndrop/capture.pcap", "lab/f_refused_syndrop/capture.pcap", "project lab: refused connects (RST), dropped SYNs, TLS alert, HTTP 404"),
    ("lab/f_refused_syndrop/capture.pcapng", "lab/f_refused_syndrop/capture.pcapng", "project lab: same packets as pcapng"),
]

PERMISSIVE = ("BSD-3-Clause", "MIT", "MIT OR Apache-2.0", "Unlicense (public domain)")


def sha256(b):
    return hashlib.sha256(b).hexdigest()


def write(rel, data):
    path = os.path.join(TD, rel)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)


def read_shared(rel):
    with open(os.path.join(SHARED, rel), "rb") as f:
        return f.read()


def manifest():
    rows = {}
    with open(os.path.join(SHARED, "captures", "MANIFEST.tsv"), newline="") as f:
        for r in csv.DictReader(f, delimiter="\t"):
            rows["captures/" + r["rel_path"]] = r
    return rows


# ---------------------------------------------------------------- derived files

def first_records(data, n):
    """Legacy pcap: the file header and the first n records, byte for byte."""
    info = capfile.pcap_records(data)
    off, caplen, _ = info["records"][n - 1]
    return data[:off + 16 + caplen]


def null_to_loop(data):
    """NULL (0, address family in the writer's byte order) -> LOOP (108, network byte order)."""
    info = capfile.pcap_records(data)
    e = "<" if info["endian"] == "le" else ">"
    out = bytearray(data)
    out[20:24] = struct.pack(e + "I", 108)
    for off, caplen, _ in info["records"]:
        p = off + 16
        (af,) = struct.unpack(e + "I", data[p:p + 4])
        out[p:p + 4] = struct.pack(">I", af)
    return bytes(out)


def _opt(code, value):
    pad = (-len(value)) % 4
    return struct.pack("<HH", code, len(value)) + value + b"\0" * pad


def _block(btype, body):
    blen = 12 + len(body)
    return struct.pack("<II", btype, blen) + body + struct.pack("<I", blen)


def rewrite_pcapng(data, idb_opts, ts_map, opb_every=0):
    """Rewrite a single-section LE pcapng whose IDBs have no options and default (us) resolution:
    replace the IDB options with idb_opts and every EPB timestamp t_us by ts_map(t_us);
    with opb_every=k convert every k-th EPB (1-based) into an obsolete Packet Block (type 2)."""
    info = capfile.pcapng_blocks(data)
    assert info["stop"] is None and info["sections"] == ["le"]
    out = bytearray()
    n_epb = 0
    for off, btype, blen, _ in info["blocks"]:
        blk = data[off:off + blen]
        if btype == 1:
            lt, res, snap = struct.unpack("<HHI", blk[8:16])
            assert blen == 20, "IDB with options not supported here"
            body = struct.pack("<HHI", lt, res, snap)
            if idb_opts:
                body += b"".join(_opt(c, v) for c, v in idb_opts) + _opt(0, b"")
            out += _block(1, body)
        elif btype == 6:
            n_epb += 1
            ifid, hi, lo, caplen, plen = struct.unpack("<IIIII", blk[8:28])
            pkt = blk[28:28 + caplen + ((-caplen) % 4)]
            assert len(blk) == 28 + len(pkt) + 4, "EPB with options not supported here"
            ts = ts_map((hi << 32) | lo)
            hi, lo = ts >> 32, ts & 0xFFFFFFFF
            if opb_every and n_epb % opb_every == 0:
                out += _block(2, struct.pack("<HHIIII", ifid, 0xFFFF, hi, lo, caplen, plen) + pkt)
            else:
                out += _block(6, struct.pack("<IIIII", ifid, hi, lo, caplen, plen) + pkt)
        else:
            out += blk
    return bytes(out)


TSOFFSET = 1795314400  # seconds; lab f_refused_syndrop starts at 1795314473


def derived(lab_f_pcapng, sll, null):
    """(dest, bytes, source, what) of every derived file."""
    f_src = "lab/f_refused_syndrop/capture.pcapng"
    return [
        ("link-sll-first30.pcap", first_records(sll, 30), PP + "sll.pcap",
         "Linux cooked v1 (113): first 30 records of sll.pcap, header and records byte-identical"),
        ("link-loop-from-null.pcap", null_to_loop(null), PP + "null_loopback.pcap",
         "LOOP (108, OpenBSD loopback): null_loopback.pcap with link type 108 and the 4-byte address family rewritten big-endian (no LOOP capture in the shared set)"),
        ("pcapng-le-tsresol-pow2.pcapng",
         rewrite_pcapng(lab_f_pcapng, [(9, bytes([0x94]))], lambda us: (us << 20) // 1_000_000),
         f_src, "if_tsresol = 0x94 (2^-20 s units); timestamps = floor(t_us * 2^20 / 1e6), i.e. each frame is "
                "0..1 us earlier than in the source; expected ns = floor(units * 1e9 / 2^20) (what tshark shows)"),
        ("pcapng-le-tsoffset.pcapng",
         rewrite_pcapng(lab_f_pcapng, [(14, struct.pack("<q", TSOFFSET))], lambda us: us - TSOFFSET * 1_000_000),
         f_src, "if_tsoffset = %d s; EPB timestamps (us) relative to it, absolute times equal to the source" % TSOFFSET),
        ("pcapng-le-opb.pcapng", rewrite_pcapng(lab_f_pcapng, [], lambda us: us, opb_every=2),
         f_src, "every 2nd EPB replaced by an obsolete Packet Block (type 2, drops_count 0xFFFF); same packets and times"),
    ]


def drop_tcp_port(pcap, port):
    """A classic pcap (Ethernet, IPv4) without the TCP segments to or from `port`; the header and
    every other record byte-identical."""
    out = bytearray(pcap[:24])
    endian = "<" if pcap[:4] == b"\xd4\xc3\xb2\xa1" else ">"
    at = 24
    while at + 16 <= len(pcap):
        caplen = struct.unpack(endian + "I", pcap[at + 8:at + 12])[0]
        rec = pcap[at:at + 16 + caplen]
        frame = rec[16:]
        at += 16 + caplen
        if len(frame) >= 34 and frame[12:14] == b"\x08\x00" and frame[23] == 6:
            ihl = (frame[14] & 0x0F) * 4
            sport, dport = struct.unpack(">HH", frame[14 + ihl:18 + ihl])
            if port in (sport, dport):
                continue
        out += rec
    return bytes(out)


def keep_tcp_ports(pcap, ports):
    """A classic pcap (Ethernet, IPv4) with only the TCP segments to or from one of `ports`; the
    header and every kept record byte-identical."""
    out = bytearray(pcap[:24])
    endian = "<" if pcap[:4] == b"\xd4\xc3\xb2\xa1" else ">"
    at = 24
    while at + 16 <= len(pcap):
        caplen = struct.unpack(endian + "I", pcap[at + 8:at + 12])[0]
        rec = pcap[at:at + 16 + caplen]
        frame = rec[16:]
        at += 16 + caplen
        if len(frame) >= 34 and frame[12:14] == b"\x08\x00" and frame[23] == 6:
            ihl = (frame[14] & 0x0F) * 4
            sport, dport = struct.unpack(">HH", frame[14 + ihl:18 + ihl])
            if sport in ports or dport in ports:
                out += rec
    return bytes(out)


def run(cmd, data):
    return subprocess.run(cmd, input=data, capture_output=True, check=True).stdout


def tool_version(cmd):
    p = subprocess.run(cmd, capture_output=True, text=True)
    return (p.stdout or p.stderr).strip().splitlines()[0]


def main():
    man = manifest()
    rows = []
    for dest, src, what in COPIES:
        data = read_shared(src)
        if src.startswith("captures/"):
            m = man[src]
            assert m["license"] in PERMISSIVE, (src, m["license"])
            assert sha256(data) == m["sha256"], src
            origin, lic = "%s %s@%s" % (m["source_repo"], m["orig_path"], m["commit"][:12]), m["license"]
        else:
            origin, lic = "pcapstat capture lab (shared/%s)" % src, "project's own"
        write(dest, data)
        rows.append((dest, "copy", src, origin, lic, what))

    lab_f_pcapng = read_shared("lab/f_refused_syndrop/capture.pcapng")
    ws = ("lab/k_websocket/capture.pcap",
          drop_tcp_port(read_shared("lab/k_websocket/capture.pcap"), 33182),
          "lab/k_websocket/capture.pcap",
          "project lab: websockets client and server (ws echo, permessage-deflate, server close, abort, "
          "1.5 s stalls, wss with the key log beside it), without the `push` connection (TCP port "
          "33182: its 300 000-byte message is 5/6 of the file); expectations in "
          "expected/websocket/ (scripts/gen-websocket-fixture.py)")
    h2c = ("lab/h_http2/capture-h2c.pcap",
           keep_tcp_ports(read_shared("lab/h_http2/capture.pcap"), (55252, 36390)),
           "lab/h_http2/capture.pcap",
           "project lab: the two small HTTP/2 cleartext (prior knowledge) connections of h_http2 "
           "(client ports 55252: curl, one 1 KB GET; 36390: nghttp, two GETs), for the header "
           "capture tests; expectations in expected/headers/ (scripts/gen-header-fixtures.py)")
    for dest, data, src, what in derived(lab_f_pcapng, read_shared(PP + "sll.pcap"),
                                         read_shared(PP + "null_loopback.pcap")) + [ws, h2c]:
        write(dest, data)
        m = man.get(src)
        origin = "%s %s@%s" % (m["source_repo"], m["orig_path"], m["commit"][:12]) if m else "pcapstat capture lab (shared/%s)" % src
        rows.append((dest, "derived", src, origin, m["license"] if m else "project's own", what))

    # Compressed copies. gzip -n: no name/mtime in the header, so the bytes are reproducible.
    comp = [
        ("compressed/f_refused_syndrop.pcap.gz", "lab/f_refused_syndrop/capture.pcap", ["gzip", "-9nc"], "gzip -9n of testdata/lab/f_refused_syndrop/capture.pcap"),
        ("compressed/f_refused_syndrop.pcap.zst", "lab/f_refused_syndrop/capture.pcap", ["zstd", "-19cq"], "zstd -19 of testdata/lab/f_refused_syndrop/capture.pcap"),
        ("compressed/f_refused_syndrop.pcapng.gz", "lab/f_refused_syndrop/capture.pcapng", ["gzip", "-9nc"], "gzip -9n of testdata/lab/f_refused_syndrop/capture.pcapng"),
        ("compressed/f_refused_syndrop.pcapng.zst", "lab/f_refused_syndrop/capture.pcapng", ["zstd", "-19cq"], "zstd -19 of testdata/lab/f_refused_syndrop/capture.pcapng"),
        ("compressed/compressed-gzip.bin", "lab/f_refused_syndrop/capture.pcapng", ["gzip", "-9nc"], "gzip'd pcapng under a misleading name: format must be detected by magic bytes"),
        ("compressed/compressed-zstd.bin", "lab/f_refused_syndrop/capture.pcap", ["zstd", "-19cq"], "zstd'd pcap under a misleading name: format must be detected by magic bytes"),
    ]
    for dest, src, cmd, what in comp:
        with open(os.path.join(TD, src), "rb") as f:
            write(dest, run(cmd, f.read()))
        rows.append((dest, "derived", "lab/" + src[len("lab/"):], "testdata/" + src, "project's own", what))

    # Rows of files other scripts make (kind `generated`, e.g. scripts/make-ws-h2.py's lab
    # capture): kept from the current SOURCES.tsv, hashed again below.
    try:
        with open(os.path.join(TD, "SOURCES.tsv")) as f:
            for line in f:
                c = line.rstrip("\n").split("\t")
                if len(c) == 8 and c[1] == "generated" and os.path.exists(os.path.join(TD, c[0])):
                    rows.append((c[0], c[1], c[2], c[3], c[4], c[7]))
    except FileNotFoundError:
        pass
    rows.sort()
    with open(os.path.join(TD, "SOURCES.tsv"), "w", newline="") as f:
        f.write("# generated by scripts/make-testdata.py; compressors: %s; %s\n"
                % (tool_version(["gzip", "--version"]), tool_version(["zstd", "--version"])))
        f.write("file\tkind\tshared_path\torigin\tlicense\tsha256\tsize\twhat\n")
        for dest, kind, src, origin, lic, what in rows:
            with open(os.path.join(TD, dest), "rb") as g:
                b = g.read()
            f.write("\t".join([dest, kind, src, origin, lic, sha256(b), str(len(b)), what]) + "\n")
    total = sum(int(os.path.getsize(os.path.join(TD, r[0]))) for r in rows)
    print("make-testdata: %d files (%d copied, %d derived), %d bytes" % (
        len(rows), sum(r[1] == "copy" for r in rows), sum(r[1] == "derived" for r in rows), total))


if __name__ == "__main__":
    main()
