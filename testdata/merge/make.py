#!/usr/bin/env python3
"""Regenerates the fixtures of the merge tests (crates/pcapstat-core/tests/merge.rs):

- a.pcapng: testdata/lab/f_refused_syndrop/capture.pcap as pcapng (one Ethernet interface,
  microseconds), its frames 4 and 5 swapped, so that its own timestamps go backwards once;
- b.pcapng: testdata/lab/e_dns/capture.pcap shifted by +6.5 s into a.pcapng's time range, with
  another interface table: interface 0 is an unused NULL one, the frames are on interface 1
  (Ethernet, nanoseconds);
- mergecap.pcapng: `mergecap -w mergecap.pcapng a.pcapng b.pcapng` (Wireshark's mergecap, the
  oracle of the merged order).

Run from this directory: python3 make.py (needs mergecap, Debian's wireshark-common).
"""
import struct
import subprocess
from pathlib import Path

HERE = Path(__file__).resolve().parent
LAB = HERE.parent / "lab"


def pcap_records(path):
    data = path.read_bytes()
    magic = struct.unpack_from("<I", data, 0)[0]
    assert magic == 0xA1B2C3D4, "little-endian microsecond pcap expected"
    pos, out = 24, []
    while pos < len(data):
        sec, usec, caplen, orig = struct.unpack_from("<IIII", data, pos)
        out.append((sec * 1_000_000_000 + usec * 1000, data[pos + 16 : pos + 16 + caplen], orig))
        pos += 16 + caplen
    return out


def block(ty, body):
    body += b"\0" * (-len(body) % 4)
    n = 12 + len(body)
    return struct.pack("<II", ty, n) + body + struct.pack("<I", n)


def shb():
    return block(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1))


def idb(linktype, tsresol):
    opts = b""
    if tsresol is not None:
        opts = struct.pack("<HHB3x", 9, 1, tsresol) + struct.pack("<HH", 0, 0)
    return block(1, struct.pack("<HHI", linktype, 0, 262144) + opts)


def epb(if_id, ts_units, data, orig):
    return block(6, struct.pack("<IIIII", if_id, ts_units >> 32, ts_units & 0xFFFFFFFF, len(data), orig) + data)


def main():
    a = pcap_records(LAB / "f_refused_syndrop" / "capture.pcap")
    a[4], a[5] = a[5], a[4]
    out = shb() + idb(1, None)
    for ts, data, orig in a:
        out += epb(0, ts // 1000, data, orig)
    (HERE / "a.pcapng").write_bytes(out)

    b = pcap_records(LAB / "e_dns" / "capture.pcap")
    out = shb() + idb(0, None) + idb(1, 9)
    for ts, data, orig in b:
        out += epb(1, ts + 6_500_000_000, data, orig)
    (HERE / "b.pcapng").write_bytes(out)

    subprocess.run(
        ["mergecap", "-w", "mergecap.pcapng", "a.pcapng", "b.pcapng"], cwd=HERE, check=True
    )


if __name__ == "__main__":
    main()
