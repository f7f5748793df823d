#!/usr/bin/env python3
"""Normalise the Zeek logs and suricata-verify expectations stored with the shared captures.

    python3 scripts/gen-zeek-fixtures.py

Inputs ($PCAPSTAT_SHARED/captures, default <repo>/../shared/captures): every
`<capture>.expected.{ssl,http,dns,conn}.log` (Zeek btest baselines: tab-separated with a
`#fields` header), the `<capture>.expected.zeek-conn.log*.txt` files that are plain `zeek-cut`
output (a header line of column names, then rows), and every `<capture>.expected.test.yaml`
(suricata-verify checks; needs PyYAML).

Outputs (one TSV per table, one row per Zeek log row or per suricata-verify filter; `capture` is
the path relative to ../shared/captures; empty cell = not in the source):
  testdata/expected/zeek/{ssl,http,dns,conn}.tsv
  testdata/expected/suricata/{tls,http,dns,flow}.tsv
Values are normalised to what pcapstat records: TLS versions and cipher suites as wire values
(0x0303), booleans as true/false, durations and rtt as integer nanoseconds (Zeek prints
microseconds), Zeek's unset `-` as empty. Suricata checks on other event types (alert, fileinfo,
stats, ...) are left out; keys of a kept filter that pcapstat cannot evaluate are named in the
`unevaluated` column. Filters that only apply to Suricata < 8 (`lt-version`) are left out.
"""
import csv
import glob
import ipaddress
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
SHARED = os.environ.get("PCAPSTAT_SHARED", os.path.join(REPO, "..", "shared"))
CAPTURES = os.path.join(SHARED, "captures")
OUT_ZEEK = os.path.join(REPO, "testdata", "expected", "zeek")
OUT_SURI = os.path.join(REPO, "testdata", "expected", "suricata")

# Zeek's ssl.log version strings (base/protocols/ssl/consts.zeek) → wire values.
VERSIONS = {
    "SSLv2": 0x0002, "SSLv3": 0x0300, "TLSv10": 0x0301, "TLSv11": 0x0302, "TLSv12": 0x0303,
    "TLSv13": 0x0304, "DTLSv10": 0xFEFF, "DTLSv12": 0xFEFD, "DTLSv13": 0xFEFC,
}
# Suricata's tls.version strings → wire values.
SURI_VERSIONS = {"SSLv2": 0x0002, "SSLv3": 0x0300, "TLS 1.0": 0x0301, "TLS 1.1": 0x0302,
                 "TLS 1.2": 0x0303, "TLS 1.3": 0x0304}
# IANA names of the cipher suites that occur in the baselines (Zeek prints the IANA name).
CIPHERS = {
    "TLS_RSA_WITH_RC4_128_MD5": 0x0004,
    "TLS_RSA_WITH_RC4_128_SHA": 0x0005,
    "TLS_RSA_WITH_AES_128_CBC_SHA": 0x002F,
    "TLS_RSA_WITH_AES_256_CBC_SHA": 0x0035,
    "TLS_ECDHE_RSA_WITH_RC4_128_SHA": 0xC011,
    "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA": 0xC013,
    "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA": 0xC014,
    "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256": 0xC02F,
    "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384": 0xC030,
    "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256": 0xC02B,
    "TLS_AES_128_GCM_SHA256": 0x1301,
    "TLS_AES_256_GCM_SHA384": 0x1302,
    "TLS_CHACHA20_POLY1305_SHA256": 0x1303,
}


def die(msg):
    sys.exit(f"gen-zeek-fixtures: {msg}")


def rel(path):
    return os.path.relpath(path, CAPTURES)


def capture_of(expected):
    return expected.split(".expected.")[0]


def manifest():
    with open(os.path.join(CAPTURES, "MANIFEST.tsv"), newline="") as f:
        return {r["rel_path"]: r for r in csv.DictReader(f, delimiter="\t")}


def read_zeek_log(path):
    """Rows of a Zeek ASCII log (`#fields` header) or of zeek-cut output (plain header)."""
    fields, rows = None, []
    with open(path) as f:
        for line in f:
            line = line.rstrip("\n")
            if line.startswith("#fields\t"):
                fields = line.split("\t")[1:]
            elif line.startswith("#") or not line:
                continue
            elif fields is None:
                fields = line.split("\t")  # zeek-cut output: the first line names the columns
            else:
                rows.append(dict(zip(fields, line.split("\t"))))
    return fields or [], rows


def unset(v):
    """Zeek's unset field `-` (and an absent column) → empty."""
    return "" if v is None or v == "-" else v


def zbool(v):
    return {"T": "true", "F": "false"}.get(unset(v), "")


def secs_ns(v):
    """Zeek interval/time text "0.000214" → integer ns, exactly (no float)."""
    v = unset(v)
    if not v:
        return ""
    whole, _, frac = v.partition(".")
    return str(int(whole) * 1_000_000_000 + int((frac + "000000000")[:9]))


def zeek_version(v):
    v = unset(v)
    if not v:
        return ""
    if v.startswith("TLSv13-draft"):
        return f"0x{0x7F00 + int(v[len('TLSv13-draft'):]):04x}"
    if v not in VERSIONS:
        die(f"unknown Zeek TLS version {v!r}: add it to VERSIONS")
    return f"0x{VERSIONS[v]:04x}"


def zeek_cipher(v):
    v = unset(v)
    if not v:
        return ""
    if v not in CIPHERS:
        die(f"unknown cipher suite {v!r}: add it to CIPHERS")
    return f"0x{CIPHERS[v]:04x}"


def ip(v):
    v = unset(v)
    return str(ipaddress.ip_address(v)) if v else ""


def is_ip(v):
    try:
        ipaddress.ip_address(v)
        return True
    except ValueError:
        return False


def tuple_cols(r):
    return [ip(r.get("id.orig_h")), unset(r.get("id.orig_p")), ip(r.get("id.resp_h")),
            unset(r.get("id.resp_p"))]


TUPLE = ["orig_h", "orig_p", "resp_h", "resp_p"]


def ssl_rows(path):
    _, rows = read_zeek_log(path)
    return [tuple_cols(r) + [zeek_version(r.get("version")), zeek_cipher(r.get("cipher")),
                             unset(r.get("server_name")), zbool(r.get("resumed")),
                             zbool(r.get("established")), unset(r.get("next_protocol")),
                             unset(r.get("last_alert")), unset(r.get("ssl_history"))]
            for r in rows]


SSL = TUPLE + ["version", "cipher", "server_name", "resumed", "established", "next_protocol",
               "last_alert", "ssl_history"]


def http_rows(path):
    _, rows = read_zeek_log(path)
    return [tuple_cols(r) + [unset(r.get("trans_depth")), unset(r.get("method")),
                             unset(r.get("host")), unset(r.get("uri")), unset(r.get("version")),
                             unset(r.get("request_body_len")), unset(r.get("response_body_len")),
                             unset(r.get("status_code")), unset(r.get("info_code"))]
            for r in rows]


HTTP = TUPLE + ["trans_depth", "method", "host", "uri", "version", "request_body_len",
                "response_body_len", "status_code", "info_code"]


def dns_rows(path):
    _, rows = read_zeek_log(path)
    out = []
    for r in rows:
        answers = unset(r.get("answers"))
        items = answers.split(",") if answers else []
        addrs = "|".join(str(ipaddress.ip_address(a)) for a in items if is_ip(a))
        out.append(tuple_cols(r) + [
            unset(r.get("proto")), unset(r.get("trans_id")), secs_ns(r.get("rtt")),
            unset(r.get("query")), unset(r.get("qtype")), unset(r.get("qtype_name")),
            unset(r.get("rcode")), unset(r.get("rcode_name")), zbool(r.get("TC")),
            zbool(r.get("rejected")), str(len(items)) if answers else "", addrs])
    return out


DNS = TUPLE + ["proto", "trans_id", "rtt_ns", "query", "qtype", "qtype_name", "rcode",
               "rcode_name", "tc", "rejected", "answers", "addresses"]


def conn_rows(path, man):
    fields, rows = read_zeek_log(path)
    if not ({"history", "conn_state", "orig_bytes", "duration"} & set(fields)):
        return None  # e.g. the VLAN-only cut of http-vlan-0: nothing comparable
    out = []
    for r in rows:
        proto = unset(r.get("proto"))
        if not proto:
            # zeek-cut outputs without the proto column: the capture's single transport.
            protos = man[capture_of(rel(path))]["protocols"].split(":")
            proto = "tcp" if "tcp" in protos else ("udp" if "udp" in protos else "")
        out.append(tuple_cols(r) + [
            proto, secs_ns(r.get("duration")), unset(r.get("orig_bytes")),
            unset(r.get("resp_bytes")), unset(r.get("conn_state")), unset(r.get("missed_bytes")),
            unset(r.get("history")), unset(r.get("orig_pkts")), unset(r.get("resp_pkts")),
            "" if "id.orig_h" in fields else "first"])
    return out


CONN = TUPLE + ["proto", "duration_ns", "orig_bytes", "resp_bytes", "conn_state",
                "missed_bytes", "history", "orig_pkts", "resp_pkts", "which"]

# Suricata filters: event type → (column, eve key or key prefix, normaliser).
SURI = {
    "tls": [("sni", "tls.sni", str),
            ("version", "tls.version", lambda v: f"0x{SURI_VERSIONS[v]:04x}"),
            ("ja4", "tls.ja4", str),
            ("client_alpns", "tls.client_alpns[]", str),
            ("server_alpns", "tls.server_alpns[]", str)],
    "http": [("method", "http.http_method", str), ("hostname", "http.hostname", str),
             ("url", "http.url", str), ("status", "http.status", str),
             ("protocol", "http.protocol", str), ("length", "http.length", str)],
    "dns": [("type", "dns.type", lambda v: {"query": "request", "answer": "response"}.get(v, v)),
            ("id", "dns.id", str), ("rrname", "dns.rrname", str),
            ("rcode", "dns.rcode", str), ("answers_len", "dns.answers.__len", str)],
    "flow": [("app_proto", "app_proto", str), ("pkts_toserver", "flow.pkts_toserver", str),
             ("pkts_toclient", "flow.pkts_toclient", str), ("age", "flow.age", str)],
}
ENDPOINTS = [("src_ip", "src_ip"), ("src_port", "src_port"), ("dest_ip", "dest_ip"),
             ("dest_port", "dest_port")]
# Keys that do not narrow the match for pcapstat's records of that event type.
IMPLIED = {"event_type", "proto"}


def suricata_rows(path, yaml):
    with open(path) as f:
        doc = yaml.safe_load(f) or {}
    out = {k: [] for k in SURI}
    for check in doc.get("checks") or []:
        flt = check.get("filter") if isinstance(check, dict) else None
        if not flt or "lt-version" in (flt.get("requires") or {}):
            continue
        match = {str(k): v for k, v in (flt.get("match") or {}).items()}
        ev = match.get("event_type")
        if ev not in SURI:
            continue
        if ev == "flow" and str(match.get("proto", "TCP")).upper() != "TCP":
            continue  # pcapstat's connection records are TCP only
        cols, used = {}, set(IMPLIED)
        for col, key in ENDPOINTS:
            if key in match:
                cols[col] = ip(str(match[key])) if col.endswith("_ip") else str(match[key])
                used.add(key)
        for col, key, norm in SURI[ev]:
            if key.endswith("[]"):
                base = key[:-2]
                items = sorted((int(k[len(base) + 1:-1]), v) for k, v in match.items()
                               if k.startswith(base + "[") and k.endswith("]"))
                if items:
                    if [i for i, _ in items] != list(range(len(items))):
                        die(f"{path}: {base} indices are not 0..n")
                    cols[col] = "|".join(norm(str(v)) for _, v in items)
                    used.update(f"{base}[{i}]" for i, _ in items)
            elif key in match:
                cols[col] = norm(str(match[key]))
                used.add(key)
        if ev == "dns" and "type" not in cols and any(k.startswith("dns.answers") for k in match):
            cols["type"] = "response"  # a filter on the answers only matches responses
        rest = sorted(k for k in match if k not in used)
        count = flt.get("count")
        if count is None:
            continue
        if rest and count == 0:
            continue  # "none with <key we cannot see>": nothing to compare
        row = [rel(capture_of(path)), str(count)] + [cols.get(c, "") for c, _ in ENDPOINTS]
        row += [cols.get(c, "") for c, _, _ in SURI[ev]] + [",".join(rest)]
        out[ev].append(row)
    return out


def write(path, header_comment, columns, rows):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    rows = sorted(rows, key=lambda r: r[0])  # stable: source order kept within a capture
    with open(path, "w", newline="") as f:
        f.write(f"# {header_comment}; generated by scripts/gen-zeek-fixtures.py\n")
        w = csv.writer(f, delimiter="\t", lineterminator="\n", quoting=csv.QUOTE_NONE,
                       escapechar="\\")
        w.writerow(columns)
        w.writerows(rows)
    print(f"{os.path.relpath(path, REPO)}: {len(rows)} rows")


def main():
    if not os.path.isdir(CAPTURES):
        die(f"shared captures not found at {CAPTURES} (set PCAPSTAT_SHARED)")
    man = manifest()
    tables = {"ssl": [], "http": [], "dns": [], "conn": []}
    sources = {k: 0 for k in tables}
    for kind, fn in [("ssl", ssl_rows), ("http", http_rows), ("dns", dns_rows)]:
        for p in sorted(glob.glob(os.path.join(CAPTURES, "**", f"*.expected.{kind}.log"),
                                  recursive=True)):
            sources[kind] += 1
            tables[kind] += [[rel(capture_of(p))] + r for r in fn(p)]
    conn_files = sorted(glob.glob(os.path.join(CAPTURES, "**", "*.expected.conn.log"),
                                  recursive=True)
                        + glob.glob(os.path.join(CAPTURES, "**", "*.expected.zeek-conn.log*.txt"),
                                    recursive=True))
    for p in conn_files:
        rows = conn_rows(p, man)
        if rows is None:
            print(f"skipped (no comparable column): {rel(p)}")
            continue
        sources["conn"] += 1
        tables["conn"] += [[rel(capture_of(p))] + r for r in rows]
    cols = {"ssl": SSL, "http": HTTP, "dns": DNS, "conn": CONN}
    for kind, rows in tables.items():
        write(os.path.join(OUT_ZEEK, f"{kind}.tsv"),
              f"source: the {sources[kind]} Zeek {kind}.log baselines stored beside the shared "
              f"captures (<capture>.expected.{kind}.log"
              + (", zeek-cut variants *.expected.zeek-conn.log*.txt" if kind == "conn" else "")
              + ")", ["capture"] + cols[kind], rows)

    try:
        import yaml
    except ImportError:
        die("PyYAML is needed to read suricata-verify test.yaml (apt install python3-yaml)")
    suri = {k: [] for k in SURI}
    n = 0
    for p in sorted(glob.glob(os.path.join(CAPTURES, "**", "*.expected.test.yaml"),
                              recursive=True)):
        n += 1
        for ev, rows in suricata_rows(p, yaml).items():
            suri[ev] += rows
    for ev, rows in suri.items():
        write(os.path.join(OUT_SURI, f"{ev}.tsv"),
              f"source: event_type {ev} filters of the {n} suricata-verify test.yaml files stored "
              "beside the shared captures (<capture>.expected.test.yaml)",
              ["capture", "count"] + [c for c, _ in ENDPOINTS] + [c for c, _, _ in SURI[ev]]
              + ["unevaluated"], rows)


if __name__ == "__main__":
    main()
