#!/usr/bin/env python3
"""Record a small lab capture of QUIC 0-RTT (early data): HTTP/3 requests sent in 0-RTT
packets on resumed connections, accepted by one server and rejected by two others (the
client then sends them again in 1-RTT).

Real QUIC and HTTP/3 on both ends (aioquic, from PyPI) on 127.0.0.1, TLS 1.3 with ALPN h3 and a
self-signed certificate made by the script (the client verifies it, SNI localhost).

  server  one child process, three UDP ports on 127.0.0.1, aioquic `H3Connection` on
          `aioquic.asyncio.serve` on each (`GET /bytes/N` answers N bytes):
            accept    session_ticket_handler / session_ticket_fetcher on a ticket store shared
                      with `reject` (each ticket usable once: the fetcher pops it); aioquic
                      servers always allow early data in their tickets (max_early_data
                      0xffffffff) and accept it when the ticket is valid. Unmodified.
            reject    the same ticket store (the PSK is accepted: session resumed), but early
                      data is refused: aioquic has no setting for that, so for this port's
                      connections the script clears `early_data` in the parsed ClientHello
                      (a wrapper around aioquic.tls.pull_client_hello, switched on only while
                      this port's connection protocol handles a datagram). The server then
                      behaves like a TLS 1.3 server that ignores the early_data extension:
                      no early_data in EncryptedExtensions, no 0-RTT keys, the 0-RTT packets
                      are dropped (RFC 8446 section 4.2.10, RFC 9001 section 4.6.2).
            noticket  no ticket store at all (no session_ticket_fetcher): the ticket is
                      ignored, a full handshake, so early data is rejected too. Unmodified.
          It logs per connection: session_resumed / early_data_accepted (its
          HandshakeCompleted), whether the ClientHello offered early data, and per request
          whether it arrived before the server's handshake completed (i.e. in 0-RTT).
  client  aioquic `H3Connection` on `aioquic.asyncio.connect`, a new UDP source port per
          connection; each session ticket it gets (session_ticket_handler) is passed as
          `QuicConfiguration.session_ticket` to the next connection:
    1 first                 accept port, no ticket; waits for the handshake, GET /bytes/1000;
                            waits for the server's NewSessionTicket; close
    2 resume-0rtt           accept port, ticket of `first`; connect(wait_connected=False) and
                            at once GET /bytes/3000: the Initial (ClientHello with PSK and
                            early_data) and 0-RTT packets with the HTTP/3 control streams and
                            the request; the server accepts early data; after the handshake
                            GET /bytes/2000 in 1-RTT; close
    3 resume-0rtt-rejected  reject port, ticket of `resume-0rtt`; the same requests; the
                            server resumes the session but refuses early data, aioquic's client
                            gets the 0-RTT packets declared lost and sends their STREAM data
                            again in 1-RTT packets (loss recovery: aioquic has no explicit
                            0-RTT-rejected path); close
    4 resume-0rtt-noticket  noticket port, ticket of `resume-0rtt-rejected`; the same requests;
                            full handshake (session not resumed), early data rejected, resent
                            in 1-RTT; close
          Every connection ends with the client's CONNECTION_CLOSE (application, H3_NO_ERROR).
          A request's `sent_in` is the client's state when it was sent: "0rtt" when its
          handshake was not complete, 1-RTT keys not installed and 0-RTT keys installed (early
          data allowed by the ticket), else "1rtt".

tcpdump records the three server ports on lo; both ends write their QUIC secrets (NSS key-log
format, QuicConfiguration.secrets_log_file; the client writes CLIENT_EARLY_TRAFFIC_SECRET for
every connection with a ticket, the server only where it accepts early data); the merged key
log is embedded in the capture as a Decryption Secrets Block. The script checks that the key
log has a CLIENT_EARLY_TRAFFIC_SECRET for the three resumed connections, that tshark decrypts
every 0-RTT and 1-RTT packet from the DSB alone, and that the capture shows what the logs say
(0-RTT packets with the request's STREAM frames of stream 0; for the rejected ones, stream 0
again in 1-RTT packets; session resumption / early data as each end logged it).

Outputs (testdata/lab/quic_0rtt/, relative to the repository root, or --out DIR):
  capture.pcapng   the capture, key log as a DSB (editcap --inject-secrets tls,...)
  sslkeylog.txt    the same key log (client and server lines merged, duplicates dropped)
  gt.jsonl         ground truth, one JSON object per QUIC connection, from the client's own log
                   (time.time(), the capture's clock), plus `server`: the server's own log of it
                   and `tshark`: where the capture shows each request's STREAM frames
  tshark_quic.tsv  tshark's per-datagram QUIC / HTTP/3 fields with the key log (-2, -T fields)
  README.md        not written by the script: kept by hand

Requirements: python3 with `pip install aioquic` (it pulls pylsqpack, cryptography, pyopenssl,
service-identity); apt: tcpdump, tshark (+ editcap from wireshark-common), openssl. Run as root
(tcpdump on lo), from anywhere inside the repository (the output dir is found with git):

    python3 scripts/make-quic-0rtt.py [--out DIR] [--keep-tmp]

Everything else goes to a temporary directory that is removed at the end (--keep-tmp keeps it:
raw capture, both key logs, server log). Runs ~5 s.
"""

import asyncio
import json
import os
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import labkit  # noqa: E402

IDLE = 30.0                # s, both ends
H3_NO_ERROR = labkit.H3_NO_ERROR
UA = b"make-quic-0rtt.py (aioquic)"
PORT_KINDS = ["accept", "reject", "noticket"]
# label, server port kind, resume with the previous connection's ticket, requests
# ("early": sent right after connect starts, before waiting for the handshake)
SCENARIOS = [("first", "accept", False, [("after", "/bytes/1000")]),
             ("resume-0rtt", "accept", True, [("early", "/bytes/3000"),
                                              ("after", "/bytes/2000")]),
             ("resume-0rtt-rejected", "reject", True, [("early", "/bytes/3000"),
                                                       ("after", "/bytes/2000")]),
             ("resume-0rtt-noticket", "noticket", True, [("early", "/bytes/3000"),
                                                         ("after", "/bytes/2000")])]


# --------------------------------------------------------------------------------------------
# server (child process: `make-quic-0rtt.py --serve READY LOG CERT KEY KEYLOG`)

def serve(ready, log_path, cert, key, keylog):
    import aioquic.tls as aq_tls
    from aioquic.asyncio import QuicConnectionProtocol
    from aioquic.asyncio import serve as aq_serve
    from aioquic.h3.connection import H3Connection
    from aioquic.h3.events import HeadersReceived
    from aioquic.quic import events as qev

    logf = open(log_path, "a", buffering=1)

    def log(obj):
        logf.write(json.dumps(obj) + "\n")

    # early data refused on the `reject` port: the parsed ClientHello loses its early_data
    # extension while that port's connection protocol handles a datagram
    refuse = {"on": False, "offered": None}
    orig_pull = aq_tls.pull_client_hello

    def pull_client_hello(buf):
        hello = orig_pull(buf)
        refuse["offered"] = hello.early_data
        if refuse["on"]:
            hello.early_data = False
        return hello
    aq_tls.pull_client_hello = pull_client_hello

    tickets = {}               # the ticket store of `accept` and `reject`
    ticket_log = []

    def ticket_handler(ticket):
        tickets[ticket.ticket] = ticket
        ticket_log.append(ticket.ticket.hex()[:16])

    def ticket_fetcher(label):
        return tickets.pop(label, None)

    def make_protocol(kind):
        class Server(QuicConnectionProtocol):
            def __init__(self, *a, **kw):
                super().__init__(*a, **kw)
                self.h3 = None
                self.rec = labkit.server_record(
                    self._quic, port_kind=kind, t_first=time.time(), client_port=None,
                    early_data_offered=None, early_data_refused_by_script=(kind == "reject"),
                    session_resumed=None, early_data_accepted=None, t_handshake_done=None,
                    streams=[], t_end=None, end=None)

            def datagram_received(self, data, addr):
                if self.rec["client_port"] is None:
                    self.rec["client_port"] = addr[1]
                refuse["on"], refuse["offered"] = kind == "reject", None
                try:
                    super().datagram_received(data, addr)
                finally:
                    refuse["on"] = False
                    if refuse["offered"] is not None and self.rec["early_data_offered"] is None:
                        self.rec["early_data_offered"] = refuse["offered"]

            def on_headers(self, ev):
                hd = {k.decode(): v.decode() for k, v in ev.headers}
                sid = ev.stream_id
                r = {"stream_id": sid, "method": hd.get(":method"), "path": hd.get(":path"),
                     "t_headers": time.time(),
                     "before_handshake_done": not self._quic._handshake_complete,
                     "status": None}
                self.rec["streams"].append(r)
                labkit.h3_answer(self.h3, sid, hd.get(":method"), hd.get(":path", ""), r, UA)

            def quic_event_received(self, event):
                if isinstance(event, qev.ProtocolNegotiated):
                    self.h3 = H3Connection(self._quic)
                elif isinstance(event, qev.HandshakeCompleted):
                    self.rec["t_handshake_done"] = time.time()
                    self.rec["session_resumed"] = event.session_resumed
                    self.rec["early_data_accepted"] = event.early_data_accepted
                elif isinstance(event, qev.ConnectionTerminated):
                    labkit.note_end(self.rec, event, server=True)
                    log(self.rec)
                if self.h3 is not None:
                    for hev in self.h3.handle_event(event):
                        if isinstance(hev, HeadersReceived):
                            self.on_headers(hev)
        return Server

    async def main():
        stop_ev = asyncio.Event()
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGTERM, stop_ev.set)
        loop.add_signal_handler(signal.SIGINT, stop_ev.set)
        # one key-log file object for the three configurations
        cfg = labkit.h3_server_config(cert, key, keylog, IDLE)
        servers, ports = [], {}
        for kind in PORT_KINDS:
            kw = {}
            if kind != "noticket":
                kw = {"session_ticket_handler": ticket_handler,
                      "session_ticket_fetcher": ticket_fetcher}
            server = await aq_serve("127.0.0.1", 0, configuration=cfg,
                                    create_protocol=make_protocol(kind), **kw)
            servers.append(server)
            ports[kind] = server._transport.get_extra_info("sockname")[1]
        with open(ready + ".tmp", "w") as f:
            json.dump(ports, f)
        os.rename(ready + ".tmp", ready)
        await stop_ev.wait()
        for server in servers:
            server.close()

    asyncio.run(main())


# --------------------------------------------------------------------------------------------
# client

def make_client():
    from aioquic.quic import events as qev

    class Client(labkit.h3_client_base()):
        def __init__(self, *a, **kw):
            super().__init__(*a, **kw)
            self.rec["early_data_accepted"] = None
            self.tickets = []

        def on_quic_event(self, event):
            if isinstance(event, qev.HandshakeCompleted):
                self.rec["early_data_accepted"] = event.early_data_accepted

        def local_port(self):
            return self._transport.get_extra_info("sockname")[1]

        def sending_in(self):
            """How a request sent now goes out: "0rtt" (handshake not complete, no 1-RTT
            keys, 0-RTT keys installed), "1rtt", or "blocked" (neither)."""
            from aioquic import tls
            q = self._quic
            if q._cryptos[tls.Epoch.ONE_RTT].send.is_valid():
                return "1rtt"
            if not q._handshake_complete and q._cryptos[tls.Epoch.ZERO_RTT].send.is_valid():
                return "0rtt"
            return "blocked"

    return Client


async def client_main(ports, keylog, cafile):
    from aioquic.asyncio import connect
    from aioquic.h3.connection import H3_ALPN
    from aioquic.quic.configuration import QuicConfiguration
    Client = make_client()
    kl = open(keylog, "a", buffering=1)

    async def connection(label, kind, ticket, ticket_from, reqs):
        port = ports[kind]
        authority = "localhost:%d" % port
        cfg = QuicConfiguration(is_client=True, alpn_protocols=H3_ALPN, idle_timeout=IDLE,
                                secrets_log_file=kl, server_name="localhost",
                                session_ticket=ticket)
        cfg.load_verify_locations(cafile)
        got = []
        early = any(w == "early" for w, _ in reqs)
        t_start = time.time()
        async with connect("127.0.0.1", port, configuration=cfg, create_protocol=Client,
                           session_ticket_handler=got.append,
                           wait_connected=not early) as proto:
            from aioquic import tls
            q = proto._quic
            rec = {"label": label, "server_port_kind": kind, "server_port": port,
                   "local_port": proto.local_port(), "ticket_from": ticket_from,
                   "early_data_offered": bool(ticket is not None and
                                              ticket.max_early_data_size is not None),
                   "zero_rtt_keys": q._cryptos[tls.Epoch.ZERO_RTT].send.is_valid(),
                   "t_start": t_start}
            requests = []
            for when, path in reqs:
                if when == "after":
                    await proto.until(lambda: proto.rec["t_handshake_done"] is not None,
                                      "the handshake")
                sent_in = proto.sending_in()
                if sent_in == "blocked" or (when == "early") != (sent_in == "0rtt"):
                    raise RuntimeError("%s: %s request %s would go out as %s"
                                       % (label, when, path, sent_in))
                requests.append(await proto.get(path, authority, UA, sent_in=sent_in))
            await proto.until(lambda: proto.rec["t_handshake_done"] is not None, "handshake")
            # the server's NewSessionTicket follows the client's Finished
            if kind != "noticket":
                await proto.until(lambda: got, "a session ticket")
            await asyncio.sleep(0.1)
            rec.update({"original_dcid": q.original_destination_connection_id.hex(),
                        "client_cid": q.host_cid.hex(), "server_cid": q._peer_cid.cid.hex(),
                        "version": hex(q._version), "alpn": proto.rec["alpn"],
                        "client_random": q.tls.client_random.hex(),
                        "t_handshake_done": proto.rec["t_handshake_done"],
                        "session_resumed": proto.rec["session_resumed"],
                        "early_data_sent": any(r["sent_in"] == "0rtt" for r in requests),
                        "early_data_accepted": proto.rec["early_data_accepted"],
                        "peer_settings": labkit.peer_settings(proto.h3)})
            if not rec["early_data_sent"]:
                rec["early_data_accepted"] = None
            proto.close_h3()
            await proto.wait_closed()
        rec["requests"] = requests
        rec["tickets_received"] = len(got)
        labkit.client_end(rec, proto)
        rec["end_reason"] = "close_sent" if proto.closing else "close_received"
        print("%-22s port %-8s resumed %-5s early data sent %-5s accepted %-5s requests %s"
              % (label, kind, rec["session_resumed"], rec["early_data_sent"],
                 rec["early_data_accepted"],
                 ", ".join("%s %s:%s" % (r["path"], r["sent_in"], r["status"])
                           for r in requests)), file=sys.stderr)
        return rec, (got[-1] if got else None)

    results, ticket, ticket_from = [], None, None
    for label, kind, resume, reqs in SCENARIOS:
        if results:
            await asyncio.sleep(0.3)
        if resume and ticket is None:
            raise RuntimeError(label + ": no ticket to resume with")
        rec, new = await connection(label, kind, ticket if resume else None,
                                    ticket_from if resume else None, reqs)
        results.append(rec)
        if new is not None:
            ticket, ticket_from = new, label
    kl.close()
    return results


def record_lab(tmp):
    """Server child, tcpdump on its three ports, the client here: (ports, raw capture, client
    records, {original DCID: server record}, merged key-log lines)."""
    cert, key = labkit.make_cert(tmp, "DNS:localhost,IP:127.0.0.1")
    raw = os.path.join(tmp, "raw.pcap")
    srv_log, ready = os.path.join(tmp, "server.jsonl"), os.path.join(tmp, "ports")
    kl_srv, kl_cli = os.path.join(tmp, "keylog-server.txt"), os.path.join(tmp, "keylog-client.txt")
    procs = {}
    try:
        procs["server"] = labkit.start_server(__file__, tmp, [ready, srv_log, cert, key, kl_srv])
        labkit.wait_for(lambda: os.path.exists(ready), 20, "the server's ports")
        ports = json.load(open(ready))
        procs["tcpdump"] = labkit.start_tcpdump(
            tmp, raw, " or ".join("udp port %d" % ports[k] for k in PORT_KINDS))
        gt = asyncio.run(client_main(ports, kl_cli, cert))
        labkit.wait_for(lambda: os.path.exists(srv_log) and
                        len(open(srv_log).read().splitlines()) >= len(gt), 10,
                        "the server's end of every connection")
        time.sleep(0.5)
        labkit.stop(procs["server"], signal.SIGTERM, 10)
        time.sleep(0.3)
        labkit.stop(procs["tcpdump"], signal.SIGINT, 10)
    finally:
        for p in procs.values():
            labkit.stop(p, signal.SIGKILL, 5)
    labkit.check_server_output(tmp)
    srv = labkit.read_jsonl(srv_log, "original_dcid")
    lines = labkit.merge_keylogs([kl_cli, kl_srv])
    labkit.expect_connections(lines, len(gt))
    return ports, raw, gt, srv, lines


# --------------------------------------------------------------------------------------------
# the capture

TSHARK_FIELDS = ["frame.number", "frame.time_epoch", "udp.srcport", "udp.dstport",
                 "quic.connection.number", "quic.header_form", "quic.long.packet_type",
                 "quic.packet_number", "quic.dcid", "quic.scid", "quic.frame_type",
                 "quic.stream.stream_id", "quic.stream.offset", "quic.stream.length",
                 "quic.stream.fin", "http3.frame_type"]
NO_KEYLOG_PREF = ["-o", "tls.keylog_file:"]   # tshark's own key log file off: the DSB only
PTYPE = {0: "initial", 1: "0rtt", 2: "handshake", 3: "retry"}


def analyse_capture(cap, ports, gt, tsv_dest):
    ver = labkit.tshark_version()
    labkit.write_tshark_fields(
        tsv_dest, "generated by scripts/make-quic-0rtt.py with %s, key log from the DSB "
        "(-2, -T fields, one row per UDP datagram; several values of one field in a "
        "row, one per QUIC packet or frame, are joined by ','; lists of different fields "
        "do not line up by position)" % ver, cap, "quic", TSHARK_FIELDS, NO_KEYLOG_PREF)
    server_ports = set(ports.values())
    conn_of_port = {rec["local_port"]: i for i, rec in enumerate(gt)}
    h3_0rtt = http3_in_0rtt(cap)
    per = [{"datagrams": 0, "packets": {}, "undecrypted": {}, "conn_numbers": set(),
            "stream_frames": {}, "close": [], "h3_in_0rtt": []} for _ in gt]
    stray = []
    for fno, t, sp, dp, qpkts in labkit.quic_packets(cap, NO_KEYLOG_PREF):
        cport = dp if sp in server_ports else sp
        i = conn_of_port.get(cport)
        if i is None:
            stray.append(fno)
            continue
        c = per[i]
        c["datagrams"] += 1
        side = "c2s" if dp in server_ports else "s2c"
        for qp in qpkts:
            for n in labkit.find_key(qp, "quic.connection.number"):
                c["conn_numbers"].add(int(n))
            if "quic.short" in qp:
                pt = "1rtt"
            elif labkit.find_key(qp, "quic.coalesced_padding_data"):
                pt = "padding"      # zeros after the last packet of a padded datagram
            else:
                lt = labkit.find_key(qp, "quic.long.packet_type")
                pt = PTYPE.get(int(lt[0]), "?") if lt else "?"
            key = "%s %s" % (side, pt)
            c["packets"][key] = c["packets"].get(key, 0) + 1
            frames = labkit.quic_frames(qp)
            if not frames and pt in ("0rtt", "1rtt", "handshake", "initial"):
                c["undecrypted"].setdefault(key, []).append(fno)
            for fr in frames:
                ft = int(fr["quic.frame_type"])
                if 0x08 <= ft <= 0x0F:
                    sid = int(fr["quic.stream.stream_id"])
                    c["stream_frames"].setdefault((side, sid), []).append(
                        {"frame": fno, "t": float(t), "packet_type": pt,
                         "offset": int(fr.get("quic.stream.offset", 0)),
                         "length": int(fr.get("quic.stream.length", 0)),
                         "fin": fr.get("quic.stream.fin") in ("1", "True", "true")})
                elif ft in (0x1C, 0x1D):
                    c["close"].append((fno, side, ft, fr.get("quic.cc.error_code.app")))
        if fno in h3_0rtt:
            c["h3_in_0rtt"] += h3_0rtt[fno]
    for c in per:
        c["streams_in_0rtt"] = sorted({sid for (side, sid), fs in c["stream_frames"].items()
                                       if side == "c2s" and
                                       any(f["packet_type"] == "0rtt" for f in fs)})
    return ver, per, stray


def http3_in_0rtt(cap):
    """{frame number: [http3.frame_type]} of the datagrams with a 0-RTT packet (the HTTP/3
    layer is not per QUIC packet in tshark's output; a client datagram with a 0-RTT packet
    holds no 1-RTT packet, and Initial packets hold no STREAM frames, so its HTTP/3 frames are
    the 0-RTT packet's)."""
    txt = labkit.run(["tshark", "-r", cap] + NO_KEYLOG_PREF
                     + ["-2", "-Y", "quic.long.packet_type == 1", "-T", "fields",
                        "-E", "occurrence=a", "-E", "aggregator=,",
                        "-e", "frame.number", "-e", "http3.frame_type"])
    out = {}
    for line in txt.splitlines():
        f, _, types = line.partition("\t")
        out[int(f)] = [int(x) for x in types.split(",") if x]
    return out


def early_secrets(lines):
    """{client random: [labels]} of the key log."""
    out = {}
    for line in lines:
        label, cr, _ = line.split()
        out.setdefault(cr.lower(), []).append(label)
    return out


def check(gt, srv, per, stray, lines):
    problems = []
    if stray:
        problems.append("datagrams of no known client port: frames %r" % stray[:10])
    labels = early_secrets(lines)
    for rec, c in zip(gt, per):
        L = rec["label"]
        s = srv.get(rec["original_dcid"])
        if s is None:
            problems.append("%s: the server logged no connection with ODCID %s"
                            % (L, rec["original_dcid"]))
            continue
        resumed = rec["ticket_from"] is not None
        want = {"first": (False, False, None, True), "resume-0rtt": (True, True, True, True),
                "resume-0rtt-rejected": (True, True, False, True),
                "resume-0rtt-noticket": (False, True, False, False)}[L]
        got = (rec["session_resumed"], rec["early_data_sent"], rec["early_data_accepted"],
               rec["tickets_received"] > 0)
        if got != want:
            problems.append("%s: resumed / early data sent / accepted / ticket %r, want %r"
                            % (L, got, want))
        if (s["session_resumed"], bool(s["early_data_accepted"])) != (want[0], bool(want[2])):
            problems.append("%s: the server's resumed / accepted %r %r"
                            % (L, s["session_resumed"], s["early_data_accepted"]))
        if s["early_data_offered"] != resumed or s["client_port"] != rec["local_port"]:
            problems.append("%s: the server saw early data offered %r from port %r"
                            % (L, s["early_data_offered"], s["client_port"]))
        # key log: a CLIENT_EARLY_TRAFFIC_SECRET exactly for the connections with a ticket
        has_cets = "CLIENT_EARLY_TRAFFIC_SECRET" in labels.get(rec["client_random"], [])
        if has_cets != resumed:
            problems.append("%s: CLIENT_EARLY_TRAFFIC_SECRET in the key log: %r"
                            % (L, has_cets))
        if c["undecrypted"]:
            problems.append("%s: packets not decrypted from the DSB: %r" % (L, c["undecrypted"]))
        n0 = c["packets"].get("c2s 0rtt", 0)
        if (n0 > 0) != rec["early_data_sent"] or c["packets"].get("s2c 0rtt"):
            problems.append("%s: 0-RTT packets %r" % (L, c["packets"]))
        if rec["early_data_sent"] and 1 not in c["h3_in_0rtt"]:
            problems.append("%s: no HTTP/3 HEADERS in the 0-RTT packets (%r)"
                            % (L, c["h3_in_0rtt"]))
        for r in rec["requests"]:
            n = int(r["path"].rsplit("/", 1)[1])
            if r["status"] != 200 or r["body_bytes"] != n:
                problems.append("%s: request %r" % (L, r))
            sr = next((x for x in s["streams"] if x["stream_id"] == r["stream_id"]), None)
            if sr is None or sr["path"] != r["path"]:
                problems.append("%s stream %d: the server saw %r" % (L, r["stream_id"], sr))
            elif sr["before_handshake_done"] != (r["sent_in"] == "0rtt" and bool(want[2])):
                problems.append("%s stream %d: server got it before its handshake: %r"
                                % (L, r["stream_id"], sr["before_handshake_done"]))
            fr = c["stream_frames"].get(("c2s", r["stream_id"]), [])
            kinds = {f["packet_type"] for f in fr}
            if r["sent_in"] == "0rtt":
                # in 0-RTT; again in 1-RTT where early data was rejected, not where accepted
                want_kinds = {"0rtt"} if want[2] else {"0rtt", "1rtt"}
            else:
                want_kinds = {"1rtt"}
            if kinds != want_kinds:
                problems.append("%s stream %d: client STREAM frames in %r, want %r"
                                % (L, r["stream_id"], sorted(kinds), sorted(want_kinds)))
            if not c["stream_frames"].get(("s2c", r["stream_id"])):
                problems.append("%s stream %d: no response STREAM frames" % (L, r["stream_id"]))
        if [(x[1], x[2], x[3]) for x in c["close"]] != [("c2s", 0x1D, str(H3_NO_ERROR))]:
            problems.append("%s: close frames %r" % (L, c["close"]))
        if s["end_reason"] != "close_received":
            problems.append("%s: the server's end %r" % (L, s["end"]))
    return problems


def wire_summary(frames):
    by = {}
    for f in frames:
        by.setdefault(f["packet_type"], []).append(f)
    return {pt: {"frames": sorted({f["frame"] for f in fs}), "t_first": min(f["t"] for f in fs),
                 "bytes": sum(f["length"] for f in fs),
                 "fin": any(f["fin"] for f in fs)} for pt, fs in sorted(by.items())}


def record(tmp, out):
    ports, raw, gt, srv, lines = record_lab(tmp)
    cap = labkit.write_capture(out, raw, lines, stale=("capture.pcapng", "sslkeylog.txt",
                                                       "gt.jsonl", "tshark_quic.tsv"))
    ver, per, stray = analyse_capture(cap, ports, gt, os.path.join(out, "tshark_quic.tsv"))
    problems = check(gt, srv, per, stray, lines)
    if problems:
        raise RuntimeError("checks failed:\n  " + "\n  ".join(problems))

    order = ["label", "server_port_kind", "server_port", "local_port", "version", "alpn",
             "original_dcid", "client_cid", "server_cid", "client_random", "ticket_from",
             "session_resumed", "early_data_offered", "zero_rtt_keys", "early_data_sent",
             "early_data_accepted", "tickets_received", "requests", "t_start",
             "t_handshake_done", "t_close_sent", "t_end", "end_reason", "end", "peer_settings",
             "tshark", "server"]
    rorder = ["stream_id", "path", "status", "body_bytes", "sent_in", "t_sent", "t_headers",
              "t_first_byte", "t_done", "wire"]
    for rec, c in zip(gt, per):
        s = srv[rec["original_dcid"]]
        for r in rec["requests"]:
            r["wire"] = wire_summary(c["stream_frames"].get(("c2s", r["stream_id"]), []))
        rec["requests"] = [{k: r[k] for k in rorder} for r in rec["requests"]]
        rec["tshark"] = {"connection_numbers": sorted(c["conn_numbers"]),
                         "datagrams": c["datagrams"],
                         "packets": dict(sorted(c["packets"].items())),
                         "client_streams_in_0rtt": c["streams_in_0rtt"],
                         "http3_frame_types_in_0rtt": c["h3_in_0rtt"]}
        rec["server"] = {k: s.get(k) for k in (
            "port_kind", "server_cid", "client_port", "t_first", "early_data_offered",
            "early_data_refused_by_script", "session_resumed", "early_data_accepted",
            "t_handshake_done", "streams", "t_end", "end_reason", "end")}
    labkit.write_jsonl(os.path.join(out, "gt.jsonl"), gt, order)
    return gt, ver


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "--serve":
        serve(*sys.argv[2:7])
        return
    out, (gt, ver) = labkit.lab_main(__doc__, "quic_0rtt", "quic-0rtt-", record)
    for rec in gt:
        print("%-22s %-8s resumed %-5s early data accepted %-5s packets %s" % (
            rec["label"], rec["server_port_kind"], rec["session_resumed"],
            rec["early_data_accepted"], rec["tshark"]["packets"]))
        for r in rec["requests"]:
            print("    stream %-2d %-12s sent in %s; client STREAM frames on the wire: %s" % (
                r["stream_id"], r["path"], r["sent_in"],
                {pt: w["frames"] for pt, w in r["wire"].items()}))
    print(ver)
    labkit.print_outputs(out)


if __name__ == "__main__":
    main()
