#!/usr/bin/env python3
"""Record a small lab capture of QUIC connection migration: NAT rebinding (new client port, same
connection ID), connection ID changes on one path, and migration to a new port with a new CID.

Real QUIC and HTTP/3 on both ends (aioquic, from PyPI) on 127.0.0.1, one UDP server port, TLS 1.3
with ALPN h3 and a self-signed certificate made by the script (the client verifies it).

  server  aioquic `H3Connection` on `aioquic.asyncio.serve`, in a child process: `GET /bytes/N`
          answers N bytes. Unmodified aioquic: it follows a client to a new address (the path
          is promoted when a non-probing packet with a higher packet number arrives from it),
          validates the new path with PATH_CHALLENGE / PATH_RESPONSE (sending at most 3x what it
          received there until then), and when the client switches to another of the server's
          connection IDs it switches to another of the client's too. It logs, per connection,
          the client ports it saw and when each path was promoted and validated, and every
          change of the CID the client uses (its host_cid) and of the CID it sends to (its
          _peer_cid).
  client  aioquic `H3Connection` on `aioquic.asyncio.connect`; each scenario is its own QUIC
          connection from a new UDP source port, every request `GET /bytes/2000`:
    1 rebind           2 GETs; then the client moves to a new UDP socket (new source port) and
                       keeps its destination CID (NAT rebinding, passive migration); 2 GETs on
                       the new path; CONNECTION_CLOSE (application, H3_NO_ERROR 0x100)
    2 migrate-new-cid  change_connection_id() (the next CID the server issued in
                       NEW_CONNECTION_ID; the old one is retired with RETIRE_CONNECTION_ID); 1 GET;
                       then a new source port, keeping that CID; 1 GET; close
    3 cid-only         1 GET; change_connection_id() on the same path (same port); 1 GET; close
    4 migrate-active   1 GET; then a new source port and change_connection_id() at the same time
                       (the first packet on the new path carries a new CID: active migration as
                       RFC 9000 section 9.5 wants it); 1 GET; close

How the client moves: aioquic's client `QuicConnection` only knows the server's address, so a
move of the client's own port is invisible to it. The script opens a second dual-stack UDP
socket (as `aioquic.asyncio.connect` does), points the protocol's `_transport` at it (so
`transmit()` sends from the new port), feeds what arrives there into the protocol's
`datagram_received()`, and closes the old socket (like a NAT whose old mapping is gone). Before
each move the connection is left quiet for 0.3 s, so nothing is in flight on the old path.

tcpdump records `udp port PORT` on lo; both ends write their QUIC secrets (NSS key-log format,
QuicConfiguration.secrets_log_file); the merged key log is embedded in the capture as a
Decryption Secrets Block, and the script checks that tshark decrypts every 1-RTT packet from the
DSB alone, and that the capture shows what the logs say (ports, CIDs, PATH_CHALLENGE /
PATH_RESPONSE, NEW_CONNECTION_ID, RETIRE_CONNECTION_ID, CONNECTION_CLOSE).

Outputs (testdata/lab/quic_migration/, relative to the repository root, or --out DIR):
  capture.pcapng   the capture, key log as a DSB (editcap --inject-secrets tls,...)
  sslkeylog.txt    the same key log (client and server lines merged, duplicates dropped)
  gt.jsonl         ground truth, one JSON object per QUIC connection, from the client's own log
                   (time.time(), the capture's clock), plus `server`: the server's own log of it
  tshark_quic.tsv  tshark's per-datagram QUIC fields with the key log (-2, -T fields), including
                   quic.connection.number (does tshark follow the migration?); gt.jsonl's
                   `tshark` also says which connection numbers tshark gives without the key
                   log (the raw capture, no DSB)
  README.md        not written by the script: kept by hand

Requirements: python3 with `pip install aioquic` (it pulls pylsqpack, cryptography, pyopenssl,
service-identity); apt: tcpdump, tshark (+ editcap from wireshark-common), openssl. Run as root
(tcpdump on lo), from anywhere inside the repository (the output dir is found with git):

    python3 scripts/make-quic-migration.py [--out DIR] [--keep-tmp]

Everything else goes to a temporary directory that is removed at the end (--keep-tmp keeps it:
raw capture, both key logs, server log). Runs ~6 s.
"""

import asyncio
import json
import os
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import labkit  # noqa: E402

IDLE = 30.0                # s, both ends
H3_NO_ERROR = labkit.H3_NO_ERROR
GET_PATH = "/bytes/2000"
QUIET = 0.3                # s of silence before a move / change of CID
UA = b"make-quic-migration.py (aioquic)"
SCENARIOS = [("rebind", ["get", "get", "move", "get", "get"]),
             ("migrate-new-cid", ["cid", "get", "move", "get"]),
             ("cid-only", ["get", "cid", "get"]),
             ("migrate-active", ["get", "move+cid", "get"])]


# --------------------------------------------------------------------------------------------
# server (child process: `make-quic-migration.py --serve READY LOG CERT KEY KEYLOG`)

def serve(ready, log_path, cert, key, keylog):
    from aioquic.asyncio import QuicConnectionProtocol
    from aioquic.h3.connection import H3Connection
    from aioquic.h3.events import HeadersReceived
    from aioquic.quic import events as qev

    logf = open(log_path, "a", buffering=1)

    def log(obj):
        logf.write(json.dumps(obj) + "\n")

    class Server(QuicConnectionProtocol):
        def __init__(self, *a, **kw):
            super().__init__(*a, **kw)
            self.h3 = None
            self.last_port = None
            q = self._quic
            self.rec = labkit.server_record(q, t_first=time.time(), t_handshake_done=None,
                                            t_end=None, end=None, paths=[], cid_changes=[],
                                            streams=[], issued_cids=[])
            self.seen = {"host_cid": q.host_cid, "peer_cid": None}

        def path(self, port):
            for p in self.rec["paths"]:
                if p["port"] == port:
                    return p
            p = {"port": port, "t_first": time.time(), "t_promoted": None,
                 "t_validated": None, "dcid_at_promotion": None}
            self.rec["paths"].append(p)
            return p

        def note(self):
            """Log changes of the active path, its validation and both CIDs."""
            q, now = self._quic, time.time()
            if q._network_paths:
                active = q._network_paths[0]
                p = self.path(active.addr[1])
                if p["t_promoted"] is None:
                    p["t_promoted"] = now
                    p["dcid_at_promotion"] = q._peer_cid.cid.hex()
                if active.is_validated and p["t_validated"] is None:
                    p["t_validated"] = now
            for what, cur in (("host_cid", q.host_cid), ("peer_cid", q._peer_cid.cid)):
                if self.seen[what] is not None and cur != self.seen[what]:
                    self.rec["cid_changes"].append({"t": now, "which": what,
                                                    "old": self.seen[what].hex(),
                                                    "new": cur.hex()})
                self.seen[what] = cur

        def datagram_received(self, data, addr):
            self.last_port = addr[1]
            self.path(addr[1])
            super().datagram_received(data, addr)
            self.note()

        def _handle_timer(self):
            super()._handle_timer()
            self.note()

        def on_headers(self, ev):
            hd = {k.decode(): v.decode() for k, v in ev.headers}
            sid = ev.stream_id
            path = hd.get(":path", "")
            r = {"stream_id": sid, "method": hd.get(":method"), "path": path,
                 "client_port": self.last_port, "host_cid": self._quic.host_cid.hex(),
                 "t_headers": time.time(), "status": None}
            self.rec["streams"].append(r)
            labkit.h3_answer(self.h3, sid, hd.get(":method"), path, r, UA)

        def quic_event_received(self, event):
            if isinstance(event, qev.ProtocolNegotiated):
                self.h3 = H3Connection(self._quic)
            elif isinstance(event, qev.HandshakeCompleted):
                self.rec["t_handshake_done"] = time.time()
            elif isinstance(event, qev.ConnectionTerminated):
                self.note()
                labkit.note_end(self.rec, event, server=True)
                # the CIDs this server issued (sequence 0 is its handshake SCID)
                self.rec["issued_cids"] = [{"seq": c.sequence_number, "cid": c.cid.hex()}
                                           for c in self._quic._host_cids]
                log(self.rec)
            if self.h3 is not None:
                for hev in self.h3.handle_event(event):
                    if isinstance(hev, HeadersReceived):
                        self.on_headers(hev)

    labkit.h3_serve(ready, labkit.h3_server_config(cert, key, keylog, IDLE), Server)


# --------------------------------------------------------------------------------------------
# client

def make_client():
    import aioquic.asyncio.client as aq_client
    from aioquic.quic.connection import QuicConnection

    class ClientConn(QuicConnection):
        """Logs every destination CID the client retires (RETIRE_CONNECTION_ID)."""

        def _retire_peer_cid(self, connection_id):
            self.retired_log = getattr(self, "retired_log", [])
            self.retired_log.append({"t": time.time(), "seq": connection_id.sequence_number,
                                     "cid": connection_id.cid.hex()})
            super()._retire_peer_cid(connection_id)

    aq_client.QuicConnection = ClientConn

    class Forward(asyncio.DatagramProtocol):
        """The new socket's side: hands what arrives to the QUIC protocol."""

        def __init__(self, proto):
            self.proto = proto

        def datagram_received(self, data, addr):
            self.proto.datagram_received(data, addr)


    class Client(labkit.h3_client_base()):
        def __init__(self, *a, **kw):
            super().__init__(*a, **kw)
            self.peer_cids = {}          # seq -> cid hex: every server CID the client learned
            self.extra_transports = []

        def note_cids(self):
            q = self._quic
            for c in [q._peer_cid] + list(q._peer_cid_available):
                self.peer_cids.setdefault(c.sequence_number, c.cid.hex())

        def on_quic_event(self, event):
            if self._quic._peer_cid is not None:
                self.note_cids()

        def local_port(self):
            return self._transport.get_extra_info("sockname")[1]

        async def move(self):
            """Continue on a new UDP socket (new source port); the old one is closed."""
            loop = asyncio.get_running_loop()
            sock = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
            sock.bind(("::", 0, 0, 0))
            transport, _ = await loop.create_datagram_endpoint(lambda: Forward(self), sock=sock)
            old = self._transport
            self._transport = transport
            self.extra_transports.append(transport)
            old.close()
            return transport.get_extra_info("sockname")[1]

    return Client


async def client_main(port, keylog, cafile):
    Client = make_client()
    authority = "localhost:%d" % port
    kl = open(keylog, "a", buffering=1)

    async def connection(label, steps):
        """steps: "get", "move", "cid" (change_connection_id), "move+cid"."""
        _, conn = labkit.h3_connect(port, Client, kl, cafile, IDLE)
        t_start = time.time()
        async with conn as proto:
            q = proto._quic
            rec = labkit.client_record(label, proto, port, t_start, steps=steps)
            paths = [{"local_port": proto.local_port(), "t_switch": t_start,
                      "dcid_used": q._peer_cid.cid.hex(), "dcids": [q._peer_cid.cid.hex()]}]
            cid_changes, requests = [], []
            # the server's NEW_CONNECTION_ID frames come right after the handshake
            await proto.until(lambda: q._peer_cid_available, "NEW_CONNECTION_ID")
            for step in steps:
                if step == "get":
                    r = await proto.get(GET_PATH, authority, UA, local_port=proto.local_port(),
                                        dcid=q._peer_cid.cid.hex())
                    r["path_index"] = len(paths) - 1
                    requests.append(r)
                    continue
                await asyncio.sleep(QUIET)
                if step in ("move", "move+cid"):
                    t = time.time()
                    new_port = await proto.move()
                    paths.append({"local_port": new_port, "t_switch": t,
                                  "dcid_used": q._peer_cid.cid.hex(),
                                  "dcids": [q._peer_cid.cid.hex()]})
                if step in ("cid", "move+cid"):
                    old, t = q._peer_cid.cid.hex(), time.time()
                    q.change_connection_id()
                    new = q._peer_cid.cid.hex()
                    if new == old:
                        raise RuntimeError(label + ": no spare connection ID")
                    cid_changes.append({"t": t, "old_dcid": old, "new_dcid": new,
                                        "local_port": proto.local_port()})
                    if step == "move+cid":
                        paths[-1]["dcid_used"] = new
                        paths[-1]["dcids"] = [new]
                    else:
                        paths[-1]["dcids"].append(new)
                proto.note_cids()
                # the path / CID switch only shows on the wire with the next packet: the GET
                # that follows (for "cid", the RETIRE_CONNECTION_ID goes out now)
                proto.transmit()
            await asyncio.sleep(0.2)
            rec["peer_settings"] = labkit.peer_settings(proto.h3)
            rec["client_cids_issued"] = [{"seq": c.sequence_number, "cid": c.cid.hex()}
                                         for c in q._host_cids]
            proto.close_h3()
            await proto.wait_closed()
        for t in proto.extra_transports:
            t.close()
        proto.note_cids()
        rec["paths"] = paths
        rec["cid_changes"] = cid_changes
        rec["requests"] = requests
        rec["server_cids_issued"] = [{"seq": s, "cid": c} for s, c in
                                     sorted(proto.peer_cids.items())]
        rec["server_cids_retired"] = getattr(q, "retired_log", [])
        labkit.client_end(rec, proto)
        rec["close_local_port"] = paths[-1]["local_port"]
        rec["end_reason"] = "close_sent" if proto.closing else "close_received"
        print("%-16s ports %-12s dcids %s" % (
            label, "/".join(str(p["local_port"]) for p in paths),
            " ".join(",".join(p["dcids"]) for p in paths)), file=sys.stderr)
        return rec

    results = []
    for label, steps in SCENARIOS:
        if results:
            await asyncio.sleep(0.3)
        results.append(await connection(label, steps))
    kl.close()
    return results


# --------------------------------------------------------------------------------------------

def hexcid(v):
    return (v or "").replace(":", "")


TSHARK_FIELDS = ["frame.number", "frame.time_epoch", "udp.srcport", "udp.dstport",
                 "quic.connection.number", "quic.header_form", "quic.long.packet_type",
                 "quic.dcid", "quic.scid", "quic.packet_number", "quic.frame_type",
                 "quic.nci.sequence", "quic.nci.retire_prior_to", "quic.nci.connection_id",
                 "quic.rci.sequence", "quic.path_challenge.data", "quic.path_response.data",
                 "quic.stream.stream_id", "quic.cc.error_code.app"]
NO_KEYLOG_PREF = ["-o", "tls.keylog_file:"]   # tshark's own key log file off: the DSB only


def conn_numbers_without_keys(raw):
    """{frame number: [quic.connection.number]} of tshark on the capture without the key log."""
    txt = labkit.run(["tshark", "-r", raw] + NO_KEYLOG_PREF
                     + ["-Y", "quic", "-T", "fields", "-E", "occurrence=a", "-E", "aggregator=,",
                        "-e", "frame.number", "-e", "quic.connection.number"])
    out = {}
    for line in txt.splitlines():
        f, _, n = line.partition("\t")
        out[int(f)] = sorted({int(x) for x in n.split(",") if x})
    return out


def analyse_capture(cap, raw, port, gt, tsv_dest):
    ver = labkit.tshark_version()
    nokeys = conn_numbers_without_keys(raw)
    labkit.write_tshark_fields(
        tsv_dest, "generated by scripts/make-quic-migration.py with %s, key log from the DSB "
        "(-2, -T fields, one row per UDP datagram; several values of one field in a "
        "row, one per QUIC packet or frame, are joined by ','; lists of different fields "
        "do not line up by position)" % ver, cap, "quic", TSHARK_FIELDS, NO_KEYLOG_PREF)

    conn_of_port = {}
    for i, rec in enumerate(gt):
        for p in rec["paths"]:
            conn_of_port[p["local_port"]] = i
    per = [{"datagrams": [], "short": 0, "undecrypted": 0, "conn_numbers": set(),
            "challenges": [], "responses": [], "nci": [], "rci": [], "close": [],
            "c2s_dcids": {}, "s2c_dcids": {}, "unknown": 0, "nokeys_numbers": set(),
            "nokeys_unmatched": []} for _ in gt]
    stray = []
    for fno, t, sp, dp, qpkts in labkit.quic_packets(cap, NO_KEYLOG_PREF):
        t = float(t)
        cport = dp if sp == port else sp
        i = conn_of_port.get(cport)
        if i is None:
            stray.append(fno)
            continue
        c = per[i]
        c["datagrams"].append((fno, t, sp, dp))
        c["nokeys_numbers"].update(nokeys.get(fno, []))
        if not nokeys.get(fno):
            c["nokeys_unmatched"].append(fno)
        to_server = dp == port
        for qp in qpkts:
            for n in labkit.find_key(qp, "quic.connection.number"):
                c["conn_numbers"].add(int(n))
            c["unknown"] += len(labkit.find_key(qp, "quic.connection.unknown"))
            frames = labkit.quic_frames(qp)
            dcids = [hexcid(d) for d in labkit.find_key(qp, "quic.dcid")]
            if "quic.short" in qp:
                c["short"] += 1
                if not frames:
                    c["undecrypted"] += 1
                for d in dcids:
                    key = (cport, d)
                    side = c["c2s_dcids"] if to_server else c["s2c_dcids"]
                    side.setdefault(key, [fno, 0])[1] += 1
            for fr in frames:
                ft = int(fr["quic.frame_type"])
                if ft == 0x1A:
                    c["challenges"].append((fno, t, sp, cport, fr["quic.path_challenge.data"]))
                elif ft == 0x1B:
                    c["responses"].append((fno, t, sp, cport, fr["quic.path_response.data"]))
                elif ft == 0x18:
                    c["nci"].append((fno, sp, int(fr["quic.nci.sequence"]),
                                     hexcid(fr["quic.nci.connection_id"])))
                elif ft == 0x19:
                    c["rci"].append((fno, t, sp, int(fr["quic.rci.sequence"])))
                elif ft in (0x1C, 0x1D):
                    c["close"].append((fno, sp, dp, ft, fr.get("quic.cc.error_code.app")))
    return ver, per, stray


def check(gt, srv, per, stray, port):
    problems = []
    if stray:
        problems.append("datagrams of no known client port: frames %r" % stray[:10])
    for rec, c in zip(gt, per):
        L = rec["label"]
        s = srv.get(rec["original_dcid"])
        if s is None:
            problems.append("%s: the server logged no connection with ODCID %s"
                            % (L, rec["original_dcid"]))
            continue
        if c["short"] == 0 or c["undecrypted"]:
            problems.append("%s: 1-RTT packets not decrypted from the DSB: %d of %d"
                            % (L, c["undecrypted"], c["short"]))
        ports = [p["local_port"] for p in rec["paths"]]
        if len(set(ports)) != len(ports):
            problems.append("%s: a port was reused %r" % (L, ports))
        # requests: 200, full body, on the path logged, and the server saw them on that port
        for r in rec["requests"]:
            sr = next((x for x in s["streams"] if x["stream_id"] == r["stream_id"]), None)
            if r["status"] != 200 or r["body_bytes"] != 2000:
                problems.append("%s: request %r" % (L, r))
            if sr is None or sr["client_port"] != r["local_port"] or sr["host_cid"] != r["dcid"]:
                problems.append("%s stream %s: server saw %r, client %s/%s"
                                % (L, r["stream_id"], sr, r["local_port"], r["dcid"]))
        # the server promoted and validated every client path, in order
        sports = [p["port"] for p in s["paths"]]
        if sports != ports:
            problems.append("%s: server paths %r != client %r" % (L, sports, ports))
        for p in s["paths"]:
            if p["t_promoted"] is None or p["t_validated"] is None:
                problems.append("%s: server path %r not promoted / validated" % (L, p))
        # client -> server short-header DCIDs on each port: exactly the ones logged
        want = {(p["local_port"], d) for p in rec["paths"] for d in p["dcids"]}
        got = set(c["c2s_dcids"])
        if got != want:
            problems.append("%s: client->server DCIDs on the wire %r != logged %r"
                            % (L, sorted(got), sorted(want)))
        # server -> client DCIDs: client CIDs (seq 0 or ones the client issued)
        mine = {x["cid"] for x in rec["client_cids_issued"]} | {rec["client_cid"]}
        for (cp, d) in c["s2c_dcids"]:
            if d not in mine:
                problems.append("%s: server->client DCID %s on port %s is no client CID"
                                % (L, d, cp))
        # one PATH_CHALLENGE from the server on each new path, answered on the same port
        for p in rec["paths"][1:]:
            ch = [x for x in c["challenges"] if x[2] == port and x[3] == p["local_port"]]
            rs = [x for x in c["responses"] if x[2] == p["local_port"]]
            if not ch or not rs or not {x[4] for x in ch} & {x[4] for x in rs}:
                problems.append("%s: no PATH_CHALLENGE / PATH_RESPONSE on port %s: %r %r"
                                % (L, p["local_port"], ch, rs))
        if len(rec["paths"]) == 1 and (c["challenges"] or c["responses"]):
            problems.append("%s: path validation without a move: %r %r"
                            % (L, c["challenges"], c["responses"]))
        # NEW_CONNECTION_ID from the server = the CIDs the client learned (seq >= 1)
        nci_srv = {(seq, cid) for (_, sp, seq, cid) in c["nci"] if sp == port}
        learned = {(x["seq"], x["cid"]) for x in rec["server_cids_issued"] if x["seq"] > 0}
        if nci_srv != learned:
            problems.append("%s: server NEW_CONNECTION_ID %r != client's %r"
                            % (L, sorted(nci_srv), sorted(learned)))
        nci_cli = {(seq, cid) for (_, sp, seq, cid) in c["nci"] if sp != port}
        if nci_cli != {(x["seq"], x["cid"]) for x in rec["client_cids_issued"] if x["seq"] > 0}:
            problems.append("%s: client NEW_CONNECTION_ID %r != its log %r"
                            % (L, sorted(nci_cli), rec["client_cids_issued"]))
        # RETIRE_CONNECTION_ID from the client for every CID it retired
        rci_cli = sorted({seq for (_, _, sp, seq) in c["rci"] if sp != port})
        if rci_cli != sorted(x["seq"] for x in rec["server_cids_retired"]):
            problems.append("%s: client RETIRE_CONNECTION_ID %r != retired %r"
                            % (L, rci_cli, rec["server_cids_retired"]))
        # one CONNECTION_CLOSE, application H3_NO_ERROR, from the last port
        if [(x[1], x[3], x[4]) for x in c["close"]] != [(rec["close_local_port"], 0x1D,
                                                          str(H3_NO_ERROR))]:
            problems.append("%s: close frames %r" % (L, c["close"]))
        if s["end_reason"] != "close_received":
            problems.append("%s: the server's end %r" % (L, s["end"]))
        # datagrams on a path only after the client switched to it (and none on the old
        # port after)
        for k, p in enumerate(rec["paths"]):
            ts = [t for (_, t, sp, dp) in c["datagrams"] if p["local_port"] in (sp, dp)]
            nxt = rec["paths"][k + 1]["t_switch"] if k + 1 < len(rec["paths"]) else None
            if not ts or ts[0] < p["t_switch"] - 0.001 or (nxt and ts[-1] > nxt + 0.001):
                problems.append("%s: datagrams on port %s outside its time (%s..%s)"
                                % (L, p["local_port"], ts[:1], ts[-1:]))
    return problems


def record(tmp, out):
    port, raw, gt, srv, lines = labkit.record_quic(__file__, tmp, client_main)
    cap = labkit.write_capture(out, raw, lines, stale=("capture.pcapng", "sslkeylog.txt",
                                                       "gt.jsonl", "tshark_quic.tsv"))

    ver, per, stray = analyse_capture(cap, raw, port, gt, os.path.join(out, "tshark_quic.tsv"))
    problems = check(gt, srv, per, stray, port)
    if problems:
        raise RuntimeError("checks failed:\n  " + "\n  ".join(problems))

    order = ["label", "server_port", "version", "alpn", "original_dcid", "client_cid",
             "server_cid", "steps", "paths", "cid_changes", "requests", "server_cids_issued",
             "server_cids_retired", "client_cids_issued", "t_start", "t_handshake_done",
             "t_close_sent", "close_local_port", "t_end", "end_reason", "end", "peer_settings",
             "tshark", "server"]
    rorder = ["stream_id", "path", "status", "body_bytes", "path_index", "local_port", "dcid",
              "t_sent", "t_headers", "t_first_byte", "t_done"]
    for rec, c in zip(gt, per):
        s = srv[rec["original_dcid"]]
        rec["requests"] = [{k: r[k] for k in rorder} for r in rec["requests"]]
        rec["tshark"] = {"connection_numbers": sorted(c["conn_numbers"]),
                         "datagrams": len(c["datagrams"]),
                         "unknown_connection_packets": c["unknown"],
                         "without_keys": {
                             "connection_numbers": sorted(c["nokeys_numbers"]),
                             "datagrams_without_connection": len(c["nokeys_unmatched"]),
                             "first_frame_without_connection": (c["nokeys_unmatched"] or
                                                                [None])[0]},
                         "path_challenge_frames": [x[0] for x in c["challenges"]],
                         "path_response_frames": [x[0] for x in c["responses"]]}
        rec["server"] = {k: s.get(k) for k in (
            "server_cid", "t_first", "t_handshake_done", "paths", "cid_changes",
            "issued_cids", "streams", "t_end", "end_reason", "end")}
    labkit.write_jsonl(os.path.join(out, "gt.jsonl"), gt, order)
    return gt, per, ver


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "--serve":
        serve(*sys.argv[2:7])
        return
    out, (gt, per, ver) = labkit.lab_main(__doc__, "quic_migration", "quic-migration-", record)
    for rec, c in zip(gt, per):
        print("%-16s %s; cid changes %d; requests per port %s; tshark connection numbers %s; "
              "PATH_CHALLENGE frames %s" % (
                  rec["label"], " -> ".join("%s[%s]" % (p["local_port"], ",".join(p["dcids"]))
                                            for p in rec["paths"]),
                  len(rec["cid_changes"]),
                  {p["local_port"]: sum(1 for r in rec["requests"]
                                        if r["local_port"] == p["local_port"])
                   for p in rec["paths"]},
                  rec["tshark"]["connection_numbers"], rec["tshark"]["path_challenge_frames"]))
        print("%-16s without the key log: tshark connection numbers %s, %d datagrams in no "
              "connection (from frame %s)" % (
                  rec["label"], rec["tshark"]["without_keys"]["connection_numbers"],
                  rec["tshark"]["without_keys"]["datagrams_without_connection"],
                  rec["tshark"]["without_keys"]["first_frame_without_connection"]))
    print(ver)
    labkit.print_outputs(out)


if __name__ == "__main__":
    main()
