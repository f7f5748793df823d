"""Minimal pcap / pcapng structure walker shared by the fixture scripts (stdlib only).

It only looks at container structure (headers, block types and lengths, interface link types);
it never decodes packets. It is deliberately tolerant: on damage it stops and says where.
"""
import os
import shutil
import struct
import subprocess
import zlib

PCAP_MAGICS = {
    0xA1B2C3D4: "us",
    0xA1B23C4D: "ns",
    0xA1B2CD34: "us-modified",  # Alexey Kuznetzov's patched libpcap format (24-byte record headers)
}
PCAPNG_SHB = 0x0A0D0D0A
BOM = 0x1A2B3C4D
GZIP_MAGIC = b"\x1f\x8b"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"


def repo_root():
    here = os.path.dirname(os.path.abspath(__file__))
    try:
        out = subprocess.run(["git", "rev-parse", "--show-toplevel"], cwd=here,
                             capture_output=True, text=True, check=True).stdout.strip()
        if out:
            return out
    except (OSError, subprocess.CalledProcessError):
        pass
    return os.path.dirname(here)


def shared_root():
    env = os.environ.get("PCAPSTAT_SHARED")
    if env:
        return os.path.abspath(env)
    return os.path.normpath(os.path.join(repo_root(), os.pardir, "shared"))


def decompress(data):
    """Return (compression, payload). compression is '' / 'gzip' / 'zstd'.

    A damaged compressed stream yields the bytes that could be recovered."""
    if data[:2] == GZIP_MAGIC:
        # zlib (not gzip.GzipFile) so that a truncated stream still yields what it holds.
        out = bytearray()
        rest = data
        try:
            while rest[:2] == GZIP_MAGIC:  # concatenated members
                d = zlib.decompressobj(wbits=31)
                out += d.decompress(rest)
                if not d.eof:
                    break
                rest = d.unused_data
        except zlib.error:
            pass
        return "gzip", bytes(out)
    if data[:4] == ZSTD_MAGIC:
        if shutil.which("zstd") is None:
            return "zstd", b""
        p = subprocess.run(["zstd", "-dcq"], input=data, capture_output=True)
        return "zstd", p.stdout
    return "", data


def pcap_records(data):
    """Walk a legacy pcap file. Returns dict with header info and a list of
    (offset, caplen, origlen) for complete records, and 'stop' = (offset, reason) or None."""
    if len(data) < 4:
        return None
    for e in ("<", ">"):
        magic = struct.unpack(e + "I", data[:4])[0]
        if magic in PCAP_MAGICS:
            break
    else:
        return None
    info = {"endian": "le" if e == "<" else "be", "res": PCAP_MAGICS[magic], "records": [], "stop": None}
    if len(data) < 24:
        info["stop"] = (0, "truncated file header")
        return info
    _, vmaj, vmin, _, _, snap, lt = struct.unpack(e + "IHHiIII", data[:24])
    info.update(version=(vmaj, vmin), snaplen=snap, linktype=lt)
    rh = 24 if info["res"] == "us-modified" else 16
    off = 24
    while off < len(data):
        if off + rh > len(data):
            info["stop"] = (off, "truncated record header")
            break
        _, _, caplen, origlen = struct.unpack(e + "IIII", data[off:off + 16])
        if off + rh + caplen > len(data):
            info["stop"] = (off, "truncated packet data")
            break
        info["records"].append((off, caplen, origlen))
        off += rh + caplen
    return info


def pcapng_blocks(data):
    """Walk a pcapng file. Returns dict with 'sections' (list of endian strings), 'blocks' list of
    (offset, type, length, endian), 'linktypes' (per IDB, in order) and 'stop' = (offset, reason)."""
    if len(data) < 4 or struct.unpack("<I", data[:4])[0] != PCAPNG_SHB:
        return None
    info = {"sections": [], "blocks": [], "linktypes": [], "stop": None}
    off = 0
    e = "<"
    while off < len(data):
        if len(data) - off < 12:
            info["stop"] = (off, "truncated block header")
            break
        if struct.unpack("<I", data[off:off + 4])[0] == PCAPNG_SHB:
            bom = data[off + 8:off + 12]
            if bom == struct.pack("<I", BOM):
                e = "<"
            elif bom == struct.pack(">I", BOM):
                e = ">"
            else:
                info["stop"] = (off, "bad byte-order magic")
                break
            info["sections"].append("le" if e == "<" else "be")
        btype, blen = struct.unpack(e + "II", data[off:off + 8])
        if blen < 12 or blen % 4:
            info["stop"] = (off, "bad block length %d" % blen)
            break
        if off + blen > len(data):
            info["stop"] = (off, "truncated block")
            break
        (trail,) = struct.unpack(e + "I", data[off + blen - 4:off + blen])
        if trail != blen:
            info["stop"] = (off, "trailing length %d != %d" % (trail, blen))
            break
        if btype == 1 and blen >= 20:
            info["linktypes"].append(struct.unpack(e + "H", data[off + 8:off + 10])[0])
        info["blocks"].append((off, btype, blen, e))
        off += blen
    return info


def describe(data):
    """(format, linktypes) of a capture's bytes, from magic bytes and headers only."""
    comp, payload = decompress(data)
    prefix = comp + "+" if comp else ""
    p = pcap_records(payload)
    if p is not None:
        fmt = "pcap-%s-%s" % (p["res"], p["endian"])
        lt = p.get("linktype")
        if lt is None:
            lts = ""
        elif lt & ~0xFFFF:
            lts = "%d(raw=%#x)" % (lt & 0xFFFF, lt)
        else:
            lts = str(lt)
        return prefix + fmt, lts
    n = pcapng_blocks(payload)
    if n is not None:
        ends = sorted(set(n["sections"]))
        fmt = "pcapng-" + ("+".join(ends) if ends else "unknown")
        return prefix + fmt, ",".join(str(x) for x in sorted(set(n["linktypes"])))
    return prefix + "unknown", ""
