#!/usr/bin/env python3
"""Generate testdata/expected/inferred/<scenario>.tsv: tshark's view, with the key log, of every
HTTP request of a bundled lab TLS capture, for the HTTPS-without-keys test
(crates/pcapstat-core/tests/https_inferred.rs, `inferred_bundled_capture_against_tshark`).

One row per request, in capture order: `client_port`, `uri`, `status`, and the times (ns since the
epoch) of the frame tshark shows the request on (`request_ns`: the frame completing the TLS record
holding its head), of the response head (`response_start_ns`, run with `http.desegment_body`
off) and of the whole response (`response_end_ns`, body reassembly on: the frame completing the
record of the body's last byte). pcapstat, run WITHOUT the key log, must find each as one
inferred exchange of that connection at these times (docs/http.md, "HTTPS without keys").

Usage: scripts/gen-inferred-fixture.py   (tshark on PATH; reads testdata/lab/<scenario>/)
"""
import csv
import subprocess
from decimal import Decimal
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SCENARIOS = ["d_tls_resumption"]
FIELDS = ["frame.time_epoch", "tcp.srcport", "tcp.dstport", "http.request.uri",
          "http.response.code", "http.response_for.uri"]


def ns(t):
    return int(Decimal(t) * 1_000_000_000)


def run(capture, keylog, desegment_body):
    cmd = ["tshark", "-n", "-r", str(capture), "-o", f"tls.keylog_file:{keylog}",
           "-o", f"http.desegment_body:{'TRUE' if desegment_body else 'FALSE'}",
           "-Y", "http", "-T", "fields", "-E", "separator=\t"]
    for f in FIELDS:
        cmd += ["-e", f]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    return [dict(zip(FIELDS, line.split("\t"))) for line in out.splitlines()]


def main():
    for scenario in SCENARIOS:
        d = REPO / "testdata" / "lab" / scenario
        rows = {}
        order = []
        for desegment in (False, True):
            for r in run(d / "capture.pcap", d / "sslkeylog.txt", desegment):
                if r["http.request.uri"]:
                    key = (r["tcp.srcport"], r["http.request.uri"])
                    if key not in rows:
                        order.append(key)
                        rows[key] = {"client_port": r["tcp.srcport"],
                                     "uri": r["http.request.uri"],
                                     "request_ns": ns(r["frame.time_epoch"])}
                elif r["http.response.code"]:
                    uri = r["http.response_for.uri"].split("lab.test", 1)[-1]
                    row = rows[(r["tcp.dstport"], uri)]
                    row["status"] = r["http.response.code"]
                    col = "response_end_ns" if desegment else "response_start_ns"
                    row[col] = ns(r["frame.time_epoch"])
        out = REPO / "testdata" / "expected" / "inferred" / f"{scenario}.tsv"
        cols = ["client_port", "uri", "status", "request_ns", "response_start_ns",
                "response_end_ns"]
        with open(out, "w", newline="") as f:
            w = csv.DictWriter(f, cols, delimiter="\t", lineterminator="\n")
            w.writeheader()
            for key in order:
                w.writerow(rows[key])
        print(f"{out.relative_to(REPO)}: {len(order)} requests")


if __name__ == "__main__":
    main()
