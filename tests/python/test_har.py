"""`pcapstat analyze --har`: every lab capture's HAR is valid against the HAR 1.2 JSON schema
(the vendored har-schema 2.0.0, testdata/har/README.md) and agrees with the http table the same
run writes (one entry per row; `wait` is the row's wait in ms; -1 where HAR says so).

Run: `python3 -m pytest tests/python/test_har.py` after building the CLI (`cargo build -p
pcapstat-cli`, or set PCAPSTAT_BIN). Needs `jsonschema` (PyPI). The full lab set is used when
`$PCAPSTAT_SHARED/lab` (else ../shared/lab) is there.
"""

import json
import os
import subprocess
from pathlib import Path

import pytest

jsonschema = pytest.importorskip("jsonschema")
referencing = pytest.importorskip("referencing")

REPO = Path(__file__).resolve().parents[2]
SCHEMA_DIR = REPO / "testdata" / "har" / "har-schema"
BUNDLED = [
    ("testdata/lab/d_tls_resumption/capture-with-keys.pcapng", []),
    ("testdata/lab/d_tls_resumption/capture.pcapng", ["--keylog", "testdata/lab/d_tls_resumption/sslkeylog.txt"]),
    ("testdata/lab/d_tls_resumption/capture.pcap", []),
    ("testdata/lab/e_dns/capture.pcap", []),
    ("testdata/lab/f_refused_syndrop/capture.pcap", []),
    ("testdata/lab/h_http2/capture-h2c.pcap", []),
    # HTTP/3 (httpVersion "HTTP/3"), keys in the file's DSB.
    ("testdata/quic/j_quic-h3.pcapng", []),
]


def shared_lab():
    shared = Path(os.environ.get("PCAPSTAT_SHARED", REPO.parent / "shared")) / "lab"
    found = []
    for d in sorted(shared.glob("*/")):
        for name in ("capture-with-keys.pcapng", "capture.pcapng", "capture.pcap"):
            if (d / name).exists():
                found.append((str(d / name), []))
                break
    return found


CAPTURES = BUNDLED + shared_lab()


def binary() -> Path:
    if os.environ.get("PCAPSTAT_BIN"):
        return Path(os.environ["PCAPSTAT_BIN"])
    target = Path(os.environ.get("CARGO_TARGET_DIR", REPO / "target"))
    return target / "debug" / "pcapstat"


def validator():
    resources = []
    for f in SCHEMA_DIR.glob("*.json"):
        schema = json.loads(f.read_text())
        resources.append(
            (f.name, referencing.Resource.from_contents(schema, default_specification=referencing.jsonschema.DRAFT6))
        )
    registry = referencing.Registry().with_resources(resources)
    root = json.loads((SCHEMA_DIR / "har.json").read_text())
    cls = jsonschema.Draft6Validator
    return cls(root, registry=registry, format_checker=cls.FORMAT_CHECKER)


def ms(ns):
    return -1.0 if ns is None else round(ns / 1000) / 1000


@pytest.mark.parametrize("capture,flags", CAPTURES, ids=[c for c, _ in CAPTURES])
def test_har_is_valid_and_matches_the_http_table(tmp_path, capture, flags):
    har_path = tmp_path / "out.har"
    res = subprocess.run(
        [str(binary()), "analyze", capture, *flags, "--har", har_path, "--ndjson", tmp_path / "t"],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert res.returncode == 0, res.stderr
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == [], "no temp file left"
    har = json.loads(har_path.read_text())
    errors = sorted(validator().iter_errors(har), key=lambda e: list(e.path))
    assert not errors, "\n".join(f"{list(e.path)}: {e.message}" for e in errors[:10])

    rows = [json.loads(line) for line in (tmp_path / "t" / "http.ndjson").read_text().splitlines() if line]
    # Rows inferred from encrypted records (no keys) are left out of the HAR (docs/har.md).
    rows = [row for row in rows if not row["inferred"]]
    log = har["log"]
    assert log["version"] == "1.2"
    entries = log["entries"]
    assert len(entries) == len(rows)
    by_key = {(e["_pcapstat"]["conn_id"], e["_pcapstat"]["request_index"]): e for e in entries}
    assert len(by_key) == len(entries)
    pages = {p["id"] for p in log["pages"]}
    for row in rows:
        e = by_key[(row["conn_id"], row["request_index"])]
        t = e["timings"]
        assert e["pageref"] in pages
        assert e["connection"] == str(row["conn_id"])
        assert e["serverIPAddress"] == row["server_ip"]
        assert e["request"]["method"] == (row["method"] or "")
        assert e["request"]["httpVersion"] == row["version"]
        assert e["response"]["status"] == (row["status"] or 0)
        assert t["dns"] == ms(row["dns"])
        assert t["ssl"] == ms(row["tls"])
        if row["connect"] is not None:
            assert t["connect"] == ms(row["connect"] + (row["tls"] or 0)), "HAR's connect includes ssl"
        for phase in ("send", "wait", "receive"):
            # required and non-negative in HAR: 0, and named in `_pcapstat.unobserved`
            expected = 0.0 if row[phase] is None else ms(row[phase])
            assert t[phase] == expected, phase
            assert (phase in e["_pcapstat"]["unobserved"]) == (row[phase] is None)
        if row["reused"]:
            assert (t["dns"], t["connect"], t["ssl"]) == (-1, -1, -1)
        if row["total"] is not None:
            assert e["time"] == ms(row["total"])
        # --har keeps the headers: HTTP/1 heads in wire case with their size, HTTP/2 blocks
        # and HTTP/3 field sections with their pseudo-headers first and no headersSize (-1).
        names = [h["name"] for h in e["request"]["headers"]]
        if row["version"] in ("HTTP/2", "HTTP/3"):
            assert names[0] == ":method" and e["request"]["headersSize"] == -1
            assert e["response"]["headersSize"] == -1
            assert {"name": ":authority", "value": row["host"]} in e["request"]["headers"]
            if row["status"]:
                assert e["response"]["headers"][0] == {"name": ":status", "value": str(row["status"])}
        else:
            assert e["request"]["headersSize"] == row["request_header_bytes"]
            if row["method"]:
                assert any(n.lower() == "host" for n in names), names
        assert e["_pcapstat"]["headers_dropped"] == 0
        assert e["_pcapstat"]["reused"] == row["reused"]
        assert e["_pcapstat"]["tls_resumed"] == row["tls_resumed"]
        assert e["request"]["url"].startswith("https://" if row["tls_resumed"] is not None else "http")
