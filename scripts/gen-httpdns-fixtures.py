#!/usr/bin/env python3
"""Regenerate the HTTP and DNS oracle fixtures with tshark (stdlib only).

    python3 scripts/gen-httpdns-fixtures.py

Inputs: the lab captures ($PCAPSTAT_SHARED/lab/*/capture.pcap, default <repo>/../shared) and the
shared captures whose MANIFEST.tsv protocol column mentions http or dns.
Outputs, one file per capture that has any (name: lab_<scenario>, or the shared path with '/'
replaced by '__'):
  testdata/expected/http/<name>.tsv  one row per HTTP/1.x request tshark dissected
  testdata/expected/dns/<name>.tsv   one row per DNS message tshark dissected
Frame numbers are tshark's (1-based). Lab captures are read with UDP 5353/5354 decoded as DNS
(the lab's silent and closed DNS ports).
"""
import csv
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
SHARED = os.environ.get("PCAPSTAT_SHARED", os.path.join(REPO, "..", "shared"))

HTTP_REQ = ["frame.number", "frame.time_epoch", "tcp.stream", "tcp.srcport", "tcp.dstport",
            "http.request.method", "http.request.uri", "http.host"]
HTTP_RESP = ["frame.number", "http.request_in", "http.response.code", "http.content_length"]
DNS = ["frame.number", "frame.time_epoch", "ip.src", "ip.dst", "ipv6.src", "ipv6.dst",
       "udp.srcport", "udp.dstport", "tcp.srcport", "tcp.dstport", "dns.id",
       "dns.flags.response", "dns.qry.name", "dns.qry.type", "dns.flags.rcode",
       "dns.count.answers", "dns.a", "dns.aaaa", "dns.time", "dns.flags.truncated"]


def tshark(path, filt, fields, extra):
    cmd = ["tshark", "-n", "-r", path, *extra, "-Y", filt, "-T", "fields",
           "-E", "separator=\t", "-E", "occurrence=a", "-E", "aggregator=|"]
    for f in fields:
        cmd += ["-e", f]
    out = subprocess.run(cmd, capture_output=True, text=True)
    rows = []
    for line in out.stdout.splitlines():
        vals = line.split("\t")
        vals += [""] * (len(fields) - len(vals))
        rows.append(dict(zip(fields, vals)))
    return rows


def split(v):
    return v.split("|") if v else []


def at(lst, i):
    return lst[i] if i < len(lst) else ""


def http_rows(path, extra):
    # Responses name their request's frame (http.request_in, known in one pass).
    resp = {}
    for r in tshark(path, "http.response", HTTP_RESP, extra):
        codes = split(r["http.response.code"])
        req_in = split(r["http.request_in"])
        clens = split(r["http.content_length"])
        for i, code in enumerate(codes):
            rf = at(req_in, i) if len(req_in) == len(codes) else at(req_in, 0)
            clen = at(clens, i) if len(clens) == len(codes) else ""
            resp.setdefault(rf, []).append((r["frame.number"], code, clen))
    rows = []
    for r in tshark(path, "http.request", HTTP_REQ, extra):
        methods = split(r["http.request.method"])
        uris = split(r["http.request.uri"])
        hosts = split(r["http.host"])
        for i, m in enumerate(methods):
            answers = resp.get(r["frame.number"], [])
            rf, code, clen = answers.pop(0) if answers else ("", "", "")
            host = at(hosts, i) if len(hosts) == len(methods) else (hosts[0] if hosts and i == 0 else "")
            rows.append([r["frame.number"], r["frame.time_epoch"], r["tcp.stream"],
                         r["tcp.srcport"], r["tcp.dstport"], m, at(uris, i), host,
                         rf, code, clen])
    return ["frame", "time", "stream", "src_port", "dst_port", "method", "uri", "host",
            "response_frame", "status", "content_length"], rows


def dns_rows(path, extra):
    rows = []
    for r in tshark(path, "dns", DNS, extra):
        ids = split(r["dns.id"])
        for i, did in enumerate(ids):
            def f(name):
                return at(split(r[name]), i) if len(split(r[name])) == len(ids) else (r[name] if len(ids) == 1 else "")
            src = r["ip.src"] or r["ipv6.src"]
            dst = r["ip.dst"] or r["ipv6.dst"]
            transport = "udp" if r["udp.srcport"] else "tcp"
            sport = r["udp.srcport"] or r["tcp.srcport"]
            dport = r["udp.dstport"] or r["tcp.dstport"]
            # Addresses belong to the message as a whole: keep them for single-message frames.
            a = r["dns.a"] if len(ids) == 1 else ""
            aaaa = r["dns.aaaa"] if len(ids) == 1 else ""
            qname = f("dns.qry.name")
            rows.append([r["frame.number"], r["frame.time_epoch"], transport, src.split("|")[-1],
                         sport.split("|")[-1], dst.split("|")[-1], dport.split("|")[-1],
                         str(int(did, 16)) if did.startswith("0x") else did,
                         f("dns.flags.response"), qname, f("dns.qry.type"), f("dns.flags.rcode"),
                         f("dns.count.answers"), a, aaaa, f("dns.time"), f("dns.flags.truncated")])
    return ["frame", "time", "transport", "src", "src_port", "dst", "dst_port", "id", "response",
            "qname", "qtype", "rcode", "answers", "a", "aaaa", "dns_time", "truncated"], rows


def write(kind, name, header, rows, source):
    out_dir = os.path.join(REPO, "testdata", "expected", kind)
    os.makedirs(out_dir, exist_ok=True)
    path = os.path.join(out_dir, name + ".tsv")
    with open(path, "w", newline="") as fh:
        fh.write(f"# source: {source}\n# generated by scripts/gen-httpdns-fixtures.py with "
                 f"{tshark_version()}\n")
        w = csv.writer(fh, delimiter="\t", lineterminator="\n")
        w.writerow(header)
        w.writerows(rows)


_VERSION = None


def tshark_version():
    global _VERSION
    if _VERSION is None:
        out = subprocess.run(["tshark", "--version"], capture_output=True, text=True).stdout
        _VERSION = out.splitlines()[0].strip() if out else "tshark"
    return _VERSION


def main():
    inputs = []
    lab = os.path.join(SHARED, "lab")
    for scen in sorted(os.listdir(lab)):
        p = os.path.join(lab, scen, "capture.pcap")
        if os.path.isfile(p):
            inputs.append((f"lab_{scen}", p, f"lab/{scen}/capture.pcap",
                           ["-d", "udp.port==5354,dns", "-d", "udp.port==5353,dns"]))
    with open(os.path.join(SHARED, "captures", "MANIFEST.tsv")) as fh:
        for row in csv.DictReader(fh, delimiter="\t"):
            protos = row.get("protocols", "")
            if "http" in protos.split(":") or "dns" in protos.split(":"):
                rel = row["rel_path"]
                inputs.append((rel.replace("/", "__"), os.path.join(SHARED, "captures", rel),
                               f"captures/{rel}", []))
    for name, path, source, extra in inputs:
        h_header, h_rows = http_rows(path, extra)
        d_header, d_rows = dns_rows(path, extra)
        if h_rows:
            write("http", name, h_header, h_rows, source)
        if d_rows:
            write("dns", name, d_header, d_rows, source)
        print(f"{name}: {len(h_rows)} http, {len(d_rows)} dns", file=sys.stderr)


if __name__ == "__main__":
    main()
