#!/usr/bin/env python3
"""Regenerate testdata/broken/ and testdata/broken/EXPECTED.tsv from files in testdata/.

Every broken file is built from a real capture by one precise edit, so the expectation
(how many complete frames precede the damage, and the byte offset of the first bad
record/block) follows from the construction. capinfos is run on each result as a cross-check
and its verdict is recorded beside ours. Deterministic; stdlib only (+ gzip/zstd/capinfos CLIs).

    python3 scripts/make-broken.py

Offsets: for compressed files, damage_offset is an offset into the decompressed stream.
For a truncation, damage_offset is where the incomplete header/record/block starts.
"""
import hashlib
import os
import re
import struct
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import capfile  # noqa: E402

ROOT = capfile.repo_root()
TD = os.path.join(ROOT, "testdata")
OUT = os.path.join(TD, "broken")

PCAP = "lab/f_refused_syndrop/capture.pcap"      # pcap us LE, Ethernet, 30 records
PCAPNG = "lab/f_refused_syndrop/capture.pcapng"  # pcapng LE: SHB IDB 30xEPB
PCAP_BE = "pcap-ns-be-eth.pcap"                  # pcap ns BE, 10 records
PCAPNG_BE = "pcapng-be-3sections.pcapng"         # pcapng BE, 3 sections, EPB/SPB/ISB/NRB/CB


def load(rel):
    with open(os.path.join(TD, rel), "rb") as f:
        return f.read()


def le32(v):
    return struct.pack("<I", v)


def packet_blocks_before(info, offset):
    """Complete packet-carrying pcapng blocks (EPB 6, SPB 3, OPB 2) that start before offset."""
    return sum(1 for off, t, _, _ in info["blocks"] if off < offset and t in (2, 3, 6))


def build():
    """Yield (name, bytes, kind, frames_before_damage, damage_offset, what)."""
    p = load(PCAP)
    pi = capfile.pcap_records(p)
    recs = pi["records"]
    assert len(recs) == 30 and pi["endian"] == "le"

    def rec(k):  # 0-based record k: (offset, caplen, origlen)
        return recs[k]

    yield ("pcap-trunc-file-header.pcap", p[:12], "damaged", 0, 0,
           "pcap cut after 12 of the 24 file-header bytes")
    o = rec(10)[0]
    yield ("pcap-trunc-record-header.pcap", p[:o + 8], "damaged", 10, o,
           "pcap cut 8 bytes into the 11th record header")
    o, cl, _ = rec(20)
    yield ("pcap-trunc-packet-data.pcap", p[:o + 16 + cl // 2], "damaged", 20, o,
           "pcap cut in the middle of the 21st record's packet data")

    # snaplen lowered to 100: records longer than that have caplen > snaplen (data complete).
    snap = 100
    first_big = next(k for k, r in enumerate(recs) if r[1] > snap)
    b = bytearray(p)
    b[16:20] = le32(snap)
    yield ("pcap-caplen-gt-snaplen.pcap", bytes(b), "damaged", first_big, rec(first_big)[0],
           "file-header snaplen set to %d; record %d (0-based) is the first with caplen > snaplen; data intact, "
           "so lenient readers (tshark) read all 30" % (snap, first_big))

    o = rec(5)[0]
    b = bytearray(p)
    b[o + 8:o + 12] = le32(0x7FFFFFFF)
    yield ("pcap-caplen-absurd.pcap", bytes(b), "damaged", 5, o,
           "6th record header caplen = 0x7FFFFFFF")

    o = rec(3)[0]
    zero = p[o:o + 8] + le32(0) + le32(0)  # same timestamp as record 3, caplen 0, len 0
    yield ("pcap-zero-length-record.pcap", p[:o] + zero + p[o:], "damaged", 3, o,
           "a record with caplen 0 and len 0 inserted before the 4th record; the file is well-formed "
           "(tshark reads it as an empty frame: 31 frames) but the frame has no link header")

    b = bytearray(p)
    b[0:4] = le32(0xA1B2C3D5)
    yield ("pcap-wrong-magic.pcap", bytes(b), "not_capture", 0, 0,
           "first 4 bytes 0xa1b2c3d5 (one bit off the pcap magic), rest intact")

    pb = load(PCAP_BE)
    bi = capfile.pcap_records(pb)
    assert bi["endian"] == "be" and bi["res"] == "ns"
    o, cl, _ = bi["records"][7]
    yield ("pcap-ns-be-trunc-packet-data.pcap", pb[:o + 16 + cl - 1], "damaged", 7, o,
           "big-endian nanosecond pcap cut one byte short of the end of the 8th record")

    n = load(PCAPNG)
    ni = capfile.pcapng_blocks(n)
    blocks = ni["blocks"]
    assert [t for _, t, _, _ in blocks[:2]] == [0x0A0D0D0A, 1] and len(blocks) == 32

    def epb(k):  # 0-based packet k -> (offset, length)
        off, t, blen, _ = blocks[2 + k]
        assert t == 6
        return off, blen

    yield ("pcapng-trunc-shb.pcapng", n[:20], "damaged", 0, 0,
           "pcapng cut 20 bytes into the Section Header Block")
    o, _ = epb(12)
    yield ("pcapng-trunc-block-header.pcapng", n[:o + 6], "damaged", 12, o,
           "pcapng cut 6 bytes into the 13th EPB's block header")
    o, bl = epb(25)
    yield ("pcapng-trunc-packet-data.pcapng", n[:o + 28 + (bl - 32) // 2], "damaged", 25, o,
           "pcapng cut in the middle of the 26th EPB's packet data")
    o, bl = epb(29)
    yield ("pcapng-trunc-block-trailer.pcapng", n[:o + bl - 2], "damaged", 29, o,
           "pcapng cut 2 bytes before the end of the last EPB (inside the trailing block length)")

    def set_len(k, lead=None, trail=None):
        o, bl = epb(k)
        b = bytearray(n)
        if lead is not None:
            b[o + 4:o + 8] = le32(lead)
        if trail is not None:
            b[o + bl - 4:o + bl] = le32(trail)
        return bytes(b), o

    b, o = set_len(7, lead=8)
    yield ("pcapng-blocklen-8.pcapng", b, "damaged", 7, o,
           "8th EPB block total length = 8 (below the 12-byte minimum)")
    b, o = set_len(7, lead=epb(7)[1] + 2)
    yield ("pcapng-blocklen-unaligned.pcapng", b, "damaged", 7, o,
           "8th EPB block total length + 2 (not a multiple of 4)")
    b, o = set_len(7, lead=0xFFFFFFF0)
    yield ("pcapng-blocklen-4gib.pcapng", b, "damaged", 7, o,
           "8th EPB block total length = 0xFFFFFFF0 (~4 GiB, beyond end of file)")
    b, o = set_len(7, trail=epb(7)[1] + 4)
    yield ("pcapng-blocklen-trailer-mismatch.pcapng", b, "damaged", 7, o,
           "8th EPB trailing block length = leading + 4")
    o, bl = epb(7)
    b = bytearray(n)
    b[o + 20:o + 24] = le32(0x7FFFFFFF)
    yield ("pcapng-epb-caplen-absurd.pcapng", bytes(b), "damaged", 7, o,
           "8th EPB captured length = 0x7FFFFFFF (block length intact)")
    b = bytearray(n)
    b[o + 8:o + 12] = le32(5)
    yield ("pcapng-epb-unknown-interface.pcapng", bytes(b), "damaged", 7, o,
           "8th EPB refers to interface 5; the section has only interface 0")
    b = bytearray(n)
    b[8:12] = le32(0x1A2B3C4E)
    yield ("pcapng-bad-byte-order-magic.pcapng", bytes(b), "not_capture", 0, 0,
           "SHB byte-order magic 0x1a2b3c4e: byte order cannot be determined")

    m = load(PCAPNG_BE)
    mi = capfile.pcapng_blocks(m)
    shb = [off for off, t, _, _ in mi["blocks"] if t == 0x0A0D0D0A]
    assert mi["sections"] == ["be", "le", "be"]  # sections differ in byte order
    # first packet block of the third section
    o, t, bl, _ = next(x for x in mi["blocks"] if x[0] > shb[2] and x[1] in (2, 3, 6))
    yield ("pcapng-be-trunc-3rd-section.pcapng", m[:o + 10], "damaged", packet_blocks_before(mi, o), o,
           "3-section pcapng (BE, LE, BE) cut 10 bytes into the first packet block (type %d) of the 3rd section" % t)

    yield ("empty.pcap", b"", "not_capture", 0, 0, "empty file (0 bytes)")
    text = ("This is not a capture file.\n" * 8).encode()
    yield ("text-file.pcap", text, "not_capture", 0, 0, "ASCII text")
    rnd = b"".join(hashlib.sha256(b"pcapstat broken %d" % i).digest() for i in range(64))
    yield ("random-bytes.bin", rnd, "not_capture", 0, 0,
           "2048 pseudo-random bytes (SHA-256 counter stream, first bytes %s)" % rnd[:4].hex())

    gz = subprocess.run(["gzip", "-9nc"], input=p, capture_output=True, check=True).stdout
    cut = gz[:len(gz) // 2]
    _, payload = capfile.decompress(cut)
    gi = capfile.pcap_records(payload)
    yield ("gzip-truncated.pcap.gz", cut, "damaged", len(gi["records"]), gi["stop"][0],
           "gzip -9n of %s cut at half its compressed size (%d of %d bytes); offsets refer to the "
           "decompressed stream (%d bytes recoverable)" % (PCAP, len(cut), len(gz), len(payload)))
    zs = subprocess.run(["zstd", "-19cq"], input=n, capture_output=True, check=True).stdout
    cut = zs[:len(zs) // 2]
    _, payload = capfile.decompress(cut)
    # The whole input fits in one zstd block (<= 128 KiB), so nothing before the cut can be
    # recovered: the expectation is 0 frames, damage at offset 0 of the decompressed stream.
    zi = capfile.pcapng_blocks(payload)
    o = (zi["stop"][0] if zi["stop"] else len(payload)) if zi else 0
    yield ("zstd-truncated.pcapng.zst", cut, "damaged", packet_blocks_before(zi, o) if zi else 0, o,
           "zstd -19 of %s cut at half its compressed size (%d of %d bytes); offsets refer to the "
           "decompressed stream (%d bytes recoverable)" % (PCAPNG, len(cut), len(zs), len(payload)))


def capinfos(path):
    """(file type, frames or '', error text) as capinfos reports them. Note that wiretap's
    heuristics can take a damaged file for another format (e.g. a cut SHB is read as 'mime')."""
    d, base = os.path.split(path)
    r = subprocess.run(["capinfos", "-t", "-c", "-M", base], cwd=d, capture_output=True, text=True)
    err = " ".join(l.strip() for l in r.stderr.splitlines() if l.strip() and "Running as user" not in l)
    m = re.search(r"Number of packets:\s*(\d+)", r.stdout)
    frames = m.group(1) if m else ""
    if not frames:
        m = re.search(r"error occurred after reading (\d+) packets", err)
        frames = m.group(1) if m else ""
    m = re.search(r"File type:\s*(.*)", r.stdout)
    return (m.group(1).strip() if m else ""), frames, err


def tool_version():
    out = subprocess.run(["capinfos", "--version"], capture_output=True, text=True).stdout
    return out.splitlines()[0].strip()


def main():
    os.makedirs(OUT, exist_ok=True)
    items = sorted(build())
    names = {x[0] for x in items}
    for f in os.listdir(OUT):  # idempotent: drop files a previous version generated
        if f not in names and f != "EXPECTED.tsv":
            os.remove(os.path.join(OUT, f))
    rows = []
    disagree = []
    for name, data, kind, frames, offset, what in items:
        path = os.path.join(OUT, name)
        with open(path, "wb") as f:
            f.write(data)
        ctype, cf, cerr = capinfos(path)
        rows.append([name, kind, str(frames), str(offset), what, ctype, cf, cerr])
        if kind == "damaged" and cf != str(frames):
            disagree.append("%s: ours %d, capinfos %s (as %s)" % (name, frames, cf or "-", ctype or "-"))
    with open(os.path.join(OUT, "EXPECTED.tsv"), "w") as f:
        f.write("# generated by scripts/make-broken.py; capinfos_* columns from %s\n" % tool_version())
        f.write("file\tkind\tframes_before_damage\tdamage_offset\twhat\tcapinfos_type\tcapinfos_frames\tcapinfos_error\n")
        for r in rows:
            f.write("\t".join(r) + "\n")
    print("make-broken: %d files in testdata/broken/" % len(rows))
    for d in disagree:
        print("  capinfos disagrees (see EXPECTED.tsv):", d)


if __name__ == "__main__":
    main()
