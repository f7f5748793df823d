#!/usr/bin/env python3
"""Record a small lab capture of QUIC / HTTP/3: WebSocket over HTTP/3 (RFC 9220), stream resets,
and an idle timeout next to a normal close.

Real QUIC and HTTP/3 on both ends (aioquic, from PyPI) on 127.0.0.1, one UDP server port, TLS 1.3
with ALPN h3 and a self-signed certificate made by the script (the client verifies it).

  server  aioquic `H3Connection` on `aioquic.asyncio.serve`, in a child process. It advertises
          SETTINGS_ENABLE_CONNECT_PROTOCOL = 1 (aioquic always does) and answers
          `:method CONNECT` + `:protocol websocket` on /echo and /server-close with `:status 200`;
          after that the stream's DATA frames carry RFC 6455 frames (wsproto, no extensions):
          /echo echoes every message and answers pings and the client's close; /server-close
          echoes 2 messages, then closes 1001 "going away". Once the close handshake is done and
          the client has ended its side of the stream, the server ends its own (FIN). `GET
          /bytes/N` answers N bytes. Idle timeout 30 s, except on a connection whose client asks
          for 2 s or less (its max_idle_timeout transport parameter): there the server's own
          QuicConfiguration gets idle_timeout 2 s too. Server qlogs (one file per connection).
  client  aioquic `H3Connection` on `aioquic.asyncio.connect`; each scenario is its own QUIC
          connection from a new UDP source port:
    1 ws-h3-echo          extended CONNECT /echo; 4 text messages (5, 92, 700 and 2400 UTF-8
                          bytes, the last one spans QUIC packets), 1 binary message of 3000 bytes,
                          each echoed before the next; 2 pings ("ping-one", "ping-two-longer"),
                          each pong awaited and timed; close 1000 "bye", the server's close reply;
                          the client ends the stream (empty DATA frame + FIN), the server does the
                          same; then CONNECTION_CLOSE (application, H3_NO_ERROR 0x100)
    2 ws-h3-server-close  extended CONNECT /server-close; 2 echoes; the server closes 1001 "going
                          away", the client replies with the same code and ends the stream, the
                          server ends its side; then CONNECTION_CLOSE H3_NO_ERROR
    3 ws-h3-reset         extended CONNECT /echo; 1 echo; then RESET_STREAM and STOP_SENDING,
                          both H3_REQUEST_CANCELLED (0x10c), no close frame (aioquic's server
                          answers the STOP_SENDING with its own RESET_STREAM 0x10c); then
                          CONNECTION_CLOSE H3_NO_ERROR
    4 idle-timeout        idle_timeout 2 s on both ends; one GET /bytes/1024, then nothing: both
                          ends drop the connection when their idle timer fires, and nothing is
                          sent (no CONNECTION_CLOSE: the script checks the capture)
    5 normal-close        GET /bytes/1024, then CONNECTION_CLOSE H3_NO_ERROR (the control for 4)

tcpdump records `udp port PORT` on lo; both ends write their QUIC secrets (NSS key-log format,
QuicConfiguration.secrets_log_file); the merged key log is embedded in the capture as a
Decryption Secrets Block, and the script checks that tshark decrypts every 1-RTT packet from the
DSB alone.

Outputs (testdata/lab/quic_ws_idle/, relative to the repository root, or --out DIR):
  capture.pcapng   the capture, key log as a DSB (editcap --inject-secrets tls,...)
  sslkeylog.txt    the same key log (client and server lines merged, duplicates dropped)
  gt.jsonl         ground truth, one JSON object per QUIC connection, from the client's own log
                   (time.time(), the capture's clock), plus `server`: the server's own log of it
  tshark_quic.tsv  tshark's per-packet QUIC / HTTP/3 fields with the key log (-2, -T fields)
  ws_frames.tsv    the WebSocket frames, parsed by this script (not by tshark) out of the QUIC
                   STREAM data tshark decrypts (reassembled by offset, then HTTP/3 DATA frames,
                   then RFC 6455 frames); checked against the frames each end logged as it sent
                   them
  qlog/            the server's qlog traces (one per connection, named by original DCID), only
                   when they total 100 000 bytes or less (re-serialized without blank space)
  README.md        not written by the script: kept by hand

Requirements: python3 with `pip install aioquic wsproto` (aioquic pulls pylsqpack, cryptography,
pyopenssl, service-identity); apt: tcpdump, tshark (+ editcap from wireshark-common), openssl.
Run as root (tcpdump on lo), from anywhere inside the repository (the output dir is found with
git):

    python3 scripts/make-quic-ws-idle.py [--out DIR] [--keep-tmp]

Everything else goes to a temporary directory that is removed at the end (--keep-tmp keeps it:
raw capture, both key logs, server log, all qlogs). Runs ~10 s.
"""

import asyncio
import dataclasses
import json
import os
import random
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import labkit  # noqa: E402

SHORT_IDLE = 2.0           # s: idle-timeout scenario, both ends
DEFAULT_IDLE = 30.0        # s: every other connection
H3_NO_ERROR = labkit.H3_NO_ERROR
H3_REQUEST_CANCELLED = 0x10C
SERVER_CLOSE_AFTER = 2
TEXTS = ["hello",
         "h\u00e9llo w\u00f6rld, \u00e7a va? " * 4,
         "x" * 700,
         "\u20ac" * 800]
BINARY = random.Random(9220).randbytes(3000)
PINGS = [b"ping-one", b"ping-two-longer"]
GET_PATH = "/bytes/1024"
UA = b"make-quic-ws-idle.py (aioquic)"


def ws_frame_info(data):
    """(opcode name, payload length) of the one frame wsproto produced."""
    n = data[1] & 0x7F
    if n == 126:
        n = int.from_bytes(data[2:4], "big")
    elif n == 127:
        n = int.from_bytes(data[2:10], "big")
    return labkit.OPCODES.get(data[0] & 0x0F, str(data[0] & 0x0F)), n


def send_ws(h3, st, event):
    """One WebSocket frame (a wsproto event) in a DATA frame on st's stream, logged in
    st["frames_sent"] as it is sent."""
    data = st["ws"].send(event)
    op, n = ws_frame_info(data)
    st["frames_sent"].append({"opcode": op, "payload_length": n, "wire": len(data),
                              "t": time.time()})
    h3.send_data(st["sid"], data, end_stream=False)


def note_stream_stop(streams, event):
    """RESET_STREAM / STOP_SENDING received on one of streams ({stream id: {"rec": log}})."""
    from aioquic.quic import events as qev
    what = {qev.StreamReset: "reset_received",
            qev.StopSendingReceived: "stop_sending_received"}.get(type(event))
    r = streams.get(event.stream_id, {}).get("rec") if what else None
    if r is not None:
        r[what] = {"error_code": event.error_code, "t": time.time()}


# --------------------------------------------------------------------------------------------
# server (child process: `make-quic-ws-idle.py --serve READY LOG CERT KEY KEYLOG QLOGDIR`)

def serve(ready, log_path, cert, key, keylog, qlog_dir):
    import aioquic.asyncio.server as aq_server
    from aioquic import tls
    from aioquic.asyncio import QuicConnectionProtocol
    from aioquic.h3.connection import H3Connection
    from aioquic.h3.events import DataReceived, HeadersReceived
    from aioquic.quic import events as qev
    from aioquic.quic.connection import QuicConnection
    from aioquic.quic.logger import QuicFileLogger
    from wsproto.connection import Connection, ConnectionType
    from wsproto.events import (BytesMessage, CloseConnection, Message, Ping, TextMessage)

    logf = open(log_path, "a", buffering=1)

    def log(obj):
        logf.write(json.dumps(obj) + "\n")

    class Conn(QuicConnection):
        """A server connection whose idle timeout follows a client that asks for <= 2 s."""

        def _parse_transport_parameters(self, data, from_session_ticket=False):
            super()._parse_transport_parameters(data, from_session_ticket)
            peer = self._remote_max_idle_timeout
            if (not self._is_client and peer is not None and peer <= SHORT_IDLE
                    and self._configuration.idle_timeout > SHORT_IDLE):
                self._configuration = dataclasses.replace(self._configuration,
                                                          idle_timeout=SHORT_IDLE)
                # called from the ALPN callback, before the server's EncryptedExtensions are
                # built: advertise the new max_idle_timeout (as aioquic itself does when it
                # changes version there)
                if self.tls is not None and not from_session_ticket:
                    self.tls.handshake_extensions = [
                        (tls.ExtensionType.QUIC_TRANSPORT_PARAMETERS,
                         self._serialize_transport_parameters())]

    aq_server.QuicConnection = Conn

    class Server(QuicConnectionProtocol):
        def __init__(self, *a, **kw):
            super().__init__(*a, **kw)
            self.h3 = None
            self.streams = {}
            self.rec = labkit.server_record(self._quic, client_port=None, t_first=time.time(),
                                            t_handshake_done=None, alpn=None,
                                            idle_timeout_ms=None, t_end=None, end=None,
                                            streams=[])

        def send_ws(self, st, event):
            send_ws(self.h3, st, event)

        def maybe_fin(self, st):
            r = st["rec"]
            if (not st["fin_sent"] and r["close_sent"] and r["close_received"]
                    and st["peer_fin"]):
                self.h3.send_data(st["sid"], b"", end_stream=True)
                st["fin_sent"] = True
                r["t_fin_sent"] = time.time()

        def on_headers(self, ev):
            hd = {k.decode(): v.decode() for k, v in ev.headers}
            sid = ev.stream_id
            r = {"stream_id": sid, "method": hd.get(":method"), "protocol": hd.get(":protocol"),
                 "path": hd.get(":path"), "scheme": hd.get(":scheme"),
                 "authority": hd.get(":authority"),
                 "sec_websocket_version": hd.get("sec-websocket-version"),
                 "t_headers": time.time(), "status": None}
            self.rec["streams"].append(r)
            path = hd.get(":path", "")
            if hd.get(":method") == "CONNECT" and hd.get(":protocol") == "websocket" and (
                    path in ("/echo", "/server-close")):
                r.update({"received": {"messages": 0, "bytes": 0},
                          "sent": {"messages": 0, "bytes": 0}, "close_sent": None,
                          "close_received": None, "reset_received": None,
                          "stop_sending_received": None, "t_fin_sent": None,
                          "t_fin_received": None, "status": 200})
                self.h3.send_headers(sid, [(b":status", b"200"),
                                           (b"server", UA)])
                self.streams[sid] = {"sid": sid, "rec": r, "ws": Connection(ConnectionType.SERVER),
                                     "buf": b"", "fin_sent": False, "peer_fin": False,
                                     "frames_sent": []}
                r["frames_sent"] = self.streams[sid]["frames_sent"]
            else:
                labkit.h3_answer(self.h3, sid, hd.get(":method"), path, r, UA)

        def on_data(self, ev):
            st = self.streams.get(ev.stream_id)
            if st is None:
                return
            r = st["rec"]
            if ev.data:
                st["ws"].receive_data(ev.data)
            for wev in st["ws"].events():
                if isinstance(wev, (TextMessage, BytesMessage)):
                    st["buf"] += wev.data.encode() if isinstance(wev, TextMessage) else wev.data
                    if wev.message_finished:
                        r["received"]["messages"] += 1
                        r["received"]["bytes"] += len(st["buf"])
                        data = (st["buf"].decode() if isinstance(wev, TextMessage)
                                else st["buf"])
                        st["buf"] = b""
                        self.send_ws(st, Message(data=data))
                        r["sent"]["messages"] += 1
                        r["sent"]["bytes"] += len(data.encode() if isinstance(data, str)
                                                  else data)
                        if (r["path"] == "/server-close"
                                and r["received"]["messages"] >= SERVER_CLOSE_AFTER):
                            self.send_ws(st, CloseConnection(code=1001, reason="going away"))
                            r["close_sent"] = {"code": 1001, "reason": "going away"}
                elif isinstance(wev, Ping):
                    self.send_ws(st, wev.response())
                elif isinstance(wev, CloseConnection):
                    r["close_received"] = {"code": wev.code, "reason": wev.reason}
                    r["t_close_received"] = time.time()
                    if r["close_sent"] is None:
                        self.send_ws(st, wev.response())
                        r["close_sent"] = {"code": wev.code, "reason": wev.reason}
            if ev.stream_ended:
                st["peer_fin"] = True
                r["t_fin_received"] = time.time()
            self.maybe_fin(st)

        def quic_event_received(self, event):
            if isinstance(event, qev.ProtocolNegotiated):
                self.h3 = H3Connection(self._quic)
                self.rec["alpn"] = event.alpn_protocol
            elif isinstance(event, qev.HandshakeCompleted):
                self.rec["t_handshake_done"] = time.time()
                self.rec["client_port"] = self._quic._network_paths[0].addr[1]
                self.rec["idle_timeout_ms"] = {
                    "local": int(self._quic._configuration.idle_timeout * 1000),
                    "peer": (None if self._quic._remote_max_idle_timeout is None
                             else int(self._quic._remote_max_idle_timeout * 1000))}
            elif isinstance(event, (qev.StreamReset, qev.StopSendingReceived)):
                note_stream_stop(self.streams, event)
            elif isinstance(event, qev.ConnectionTerminated):
                labkit.note_end(self.rec, event, server=True)
                log(self.rec)
            if self.h3 is not None:
                for hev in self.h3.handle_event(event):
                    if isinstance(hev, HeadersReceived):
                        self.on_headers(hev)
                    elif isinstance(hev, DataReceived):
                        self.on_data(hev)
                if self.h3.received_settings is not None and "peer_settings" not in self.rec:
                    self.rec["peer_settings"] = {str(k): v for k, v in
                                                 self.h3.received_settings.items()}
                    self.rec["sent_settings"] = {str(k): v for k, v in
                                                 (self.h3.sent_settings or {}).items()}

    labkit.h3_serve(ready, labkit.h3_server_config(cert, key, keylog, DEFAULT_IDLE,
                                                   quic_logger=QuicFileLogger(qlog_dir)),
                    Server)


# --------------------------------------------------------------------------------------------
# client

def make_client_protocol():
    from aioquic.h3.events import DataReceived, HeadersReceived
    from wsproto.connection import Connection, ConnectionType

    class Client(labkit.h3_client_base()):
        def on_quic_event(self, event):
            note_stream_stop(self.streams, event)

        def on_h3_event(self, st, hev, now):
            if st["kind"] != "websocket":
                return super().on_h3_event(st, hev, now)
            if isinstance(hev, HeadersReceived):
                hd = {k.decode(): v.decode() for k, v in hev.headers}
                st["rec"]["status"] = int(hd[":status"])
                st["rec"]["t_headers"] = st["rec"]["t_open"] = now
            elif isinstance(hev, DataReceived):
                if hev.data:
                    st["ws"].receive_data(hev.data)
                labkit.ws_client_events(st, lambda e: self.send_ws(st, e), now)
            if hev.stream_ended:
                st["peer_fin"] = True
                st["rec"]["t_fin_received"] = now

        def send_ws(self, st, event, count=None):
            send_ws(self.h3, st, event)
            if count is not None:
                st["rec"]["sent"]["messages"] += 1
                st["rec"]["sent"]["bytes"] += count
                st["rec"]["sent_sizes"].append(count)
            self.transmit()

        async def open_ws(self, path, authority):
            await self.until(lambda: self.h3.received_settings is not None, "server SETTINGS")
            if self.h3.received_settings.get(0x8) != 1:
                raise RuntimeError("server did not send SETTINGS_ENABLE_CONNECT_PROTOCOL=1")
            sid = self._quic.get_next_available_stream_id()
            rec = {"kind": "websocket", "stream_id": sid, "path": path, "status": None,
                   "sent": {"messages": 0, "bytes": 0}, "received": {"messages": 0, "bytes": 0},
                   "sent_sizes": [], "received_sizes": [], "pings_rtt_ms": [],
                   "close_sent": None, "close_received": None, "close_initiator": "none",
                   "t_start": time.time(), "t_open": None, "t_closed": None,
                   "t_fin_sent": None, "t_fin_received": None, "reset_sent": None,
                   "stop_sending_sent": None, "reset_received": None,
                   "stop_sending_received": None}
            st = {"sid": sid, "kind": "websocket", "rec": rec,
                  "ws": Connection(ConnectionType.CLIENT), "buf": b"", "inbox": [], "pings": {},
                  "peer_fin": False, "frames_sent": []}
            self.streams[sid] = st
            self.h3.send_headers(sid, [(b":method", b"CONNECT"), (b":protocol", b"websocket"),
                                       (b":scheme", b"https"), (b":path", path.encode()),
                                       (b":authority", authority.encode()),
                                       (b"sec-websocket-version", b"13"),
                                       (b"user-agent", UA)])
            self.transmit()
            await self.until(lambda: rec["status"] is not None, path + " response")
            if rec["status"] != 200:
                raise RuntimeError("extended CONNECT %s answered %s" % (path, rec["status"]))
            return st

    return Client


async def client_main(port, keylog, cafile):
    from wsproto.events import CloseConnection, Message, Ping

    Client = make_client_protocol()
    authority = "localhost:%d" % port
    kl = open(keylog, "a", buffering=1)

    async def connection(label, idle, body):
        cfg, conn = labkit.h3_connect(port, Client, kl, cafile, idle)
        t_start = time.time()
        async with conn as proto:
            q = proto._quic
            rec = labkit.client_record(
                label, proto, port, t_start,
                local_port=proto._transport.get_extra_info("sockname")[1])
            local = int(cfg.idle_timeout * 1000)
            peer = (None if q._remote_max_idle_timeout is None
                    else int(q._remote_max_idle_timeout * 1000))
            rec["idle_timeout_ms"] = local if peer is None else min(local, peer)
            rec["idle_timeout_local_ms"], rec["idle_timeout_peer_ms"] = local, peer
            rec["streams"] = await body(proto)
            rec["peer_settings"] = labkit.peer_settings(proto.h3)
            await proto.wait_closed()
        labkit.client_end(rec, proto)
        if proto.closing:
            rec["end_reason"] = "close_sent"
        elif proto.rec["end"]["reason_phrase"] == "Idle timeout":
            rec["end_reason"] = "idle_timeout"
        else:
            rec["end_reason"] = "close_received"
        for sid, st in proto.streams.items():
            if "frames_sent" in st:
                rec.setdefault("_frames_sent", {})[sid] = st["frames_sent"]
        print("%-20s port %-5s %s end %s" % (label, rec["local_port"], rec["client_cid"],
                                            rec["end_reason"]), file=sys.stderr)
        return rec

    async def next_msg(proto, st, what):
        await proto.until(lambda: st["inbox"], what)
        return st["inbox"].pop(0)

    async def finish_ws(proto, st):
        """Client ends its side of the stream (empty DATA frame + FIN), waits for the server's."""
        proto.h3.send_data(st["sid"], b"", end_stream=True)
        st["rec"]["t_fin_sent"] = time.time()
        proto.transmit()
        await proto.until(lambda: st["peer_fin"], "server FIN")

    async def ws_echo(proto):
        st = await proto.open_ws("/echo", authority)
        r = st["rec"]
        for i, m in enumerate(TEXTS + [BINARY]):
            proto.send_ws(st, Message(data=m), count=len(m.encode() if isinstance(m, str) else m))
            got = await next_msg(proto, st, "echo %d" % i)
            if got != (m.encode() if isinstance(m, str) else m):
                raise RuntimeError("echo %d differs" % i)
        for p in PINGS:
            st["pings"][p] = time.time()
            proto.send_ws(st, Ping(payload=p))
            await proto.until(lambda: p not in st["pings"], "pong " + p.decode())
        r["close_initiator"] = "client"
        r["close_sent"] = {"code": 1000, "reason": "bye"}
        proto.send_ws(st, CloseConnection(code=1000, reason="bye"))
        return await close_ws(proto, st, "close reply")

    async def close_ws(proto, st, what):
        """Waits for the close frame (what), ends the stream both ways, closes the connection."""
        await proto.until(lambda: st["rec"]["close_received"] is not None, what)
        await finish_ws(proto, st)
        proto.close_h3()
        return [st["rec"]]

    async def ws_server_close(proto):
        st = await proto.open_ws("/server-close", authority)
        for i in range(SERVER_CLOSE_AFTER):
            m = "message %d for the server-close socket" % (i + 1)
            proto.send_ws(st, Message(data=m), count=len(m.encode()))
            await next_msg(proto, st, "echo %d" % i)
        return await close_ws(proto, st, "server's close")

    async def ws_reset(proto):
        st = await proto.open_ws("/echo", authority)
        r = st["rec"]
        m = "the only message before the reset"
        proto.send_ws(st, Message(data=m), count=len(m.encode()))
        await next_msg(proto, st, "echo")
        proto._quic.reset_stream(st["sid"], H3_REQUEST_CANCELLED)
        proto._quic.stop_stream(st["sid"], H3_REQUEST_CANCELLED)
        r["reset_sent"] = r["stop_sending_sent"] = {"error_code": H3_REQUEST_CANCELLED}
        r["t_closed"] = time.time()
        proto.transmit()
        # the server answers STOP_SENDING with its own RESET_STREAM
        await proto.until(lambda: r["reset_received"] is not None, "server's RESET_STREAM", 3)
        await asyncio.sleep(0.2)
        proto.close_h3()
        return [r]

    async def idle(proto):
        r = await proto.get(GET_PATH, authority, UA)
        # nothing more: wait for the idle timer (aioquic sends nothing when it fires)
        await proto.until(lambda: proto.rec["t_end"] is not None, "idle timeout", 15)
        return [r]

    async def normal(proto):
        r = await proto.get(GET_PATH, authority, UA)
        await asyncio.sleep(0.2)
        proto.close_h3()
        return [r]

    results = []
    for label, idle_s, body, pause in [
            ("ws-h3-echo", DEFAULT_IDLE, ws_echo, 0.3),
            ("ws-h3-server-close", DEFAULT_IDLE, ws_server_close, 0.3),
            ("ws-h3-reset", DEFAULT_IDLE, ws_reset, 0.3),
            # the server's idle timer fires about when the client's does
            ("idle-timeout", SHORT_IDLE, idle, 1.2),
            ("normal-close", DEFAULT_IDLE, normal, 0)]:
        results.append(await connection(label, idle_s, body))
        if pause:
            await asyncio.sleep(pause)
    kl.close()
    return results


# --------------------------------------------------------------------------------------------

def read_varint(b, i):
    if i >= len(b):
        return None, i
    n = 1 << (b[i] >> 6)
    if i + n > len(b):
        return None, i
    v = b[i] & 0x3F
    for k in range(1, n):
        v = (v << 8) | b[i + k]
    return v, i + n


class StreamSide:
    """One direction of one QUIC bidirectional stream: reassembly, HTTP/3 frames."""

    def __init__(self):
        self.data = bytearray()
        self.pending = {}
        self.h3_pos = 0
        self.h3_frames = []      # (type, length)
        self.fin = False

    def add(self, off, chunk):
        """The payload bytes of the HTTP/3 DATA frames this chunk completes."""
        self.pending[off] = chunk
        progressed = True
        while progressed:
            progressed = False
            for o in sorted(self.pending):
                c = self.pending[o]
                end = o + len(c)
                if o <= len(self.data):
                    if end > len(self.data):
                        self.data += c[len(self.data) - o:]
                    del self.pending[o]
                    progressed = True
                    break
        out = b""
        while True:
            t, i = read_varint(self.data, self.h3_pos)
            if t is None:
                break
            n, i = read_varint(self.data, i)
            if n is None or i + n > len(self.data):
                break
            self.h3_frames.append((t, n))
            if t == 0:  # DATA
                out += bytes(self.data[i:i + n])
            self.h3_pos = i + n
        return out


TSHARK_FIELDS = ["frame.number", "frame.time_epoch", "udp.srcport", "udp.dstport",
                 "quic.version", "quic.header_form", "quic.long.packet_type",
                 "quic.packet_number", "quic.dcid", "quic.scid", "quic.frame_type",
                 "quic.stream.stream_id", "http3.frame_type",
                 "quic.stream.fin", "quic.rsts.stream_id", "quic.rsts.application_error_code",
                 "quic.ss.stream_id", "quic.ss.application_error_code", "quic.cc.error_code",
                 "quic.cc.error_code.app", "quic.cc.reason_phrase", "http3.frame_length",
                 "http3.settings.extended_connect"]
WS_COLS = ["frame.number", "frame.time_epoch", "udp.srcport", "udp.dstport",
           "quic.stream.stream_id", "ws_index"] + labkit.WS_FIELDS


def analyse_capture(cap, port, gt, ws_dest, tsv_dest):
    ver = labkit.tshark_version()
    # per-packet fields
    labkit.write_tshark_fields(
        tsv_dest, "generated by scripts/make-quic-ws-idle.py with %s, key log from the DSB (-2, "
        "-T fields, one row per UDP datagram; several values of one field in a row, "
        "one per QUIC packet or frame, are joined by ','; tshark 4.0 does not decode "
        "QPACK, so there are no HTTP/3 header fields, and it does not dissect "
        "WebSocket inside HTTP/3)" % ver, cap, "quic", TSHARK_FIELDS)

    # tshark 4.0 does not decode QPACK: which streams are extended CONNECT tunnels comes from
    # the client's log (the server's log agrees, checked in record())
    ws_streams = {(rec["local_port"], st["stream_id"]) for rec in gt for st in rec["streams"]
                  if st["kind"] == "websocket"}
    sides, ws_rows, cutter = {}, [], labkit.WsCutter()
    checks = {"short_packets": 0, "short_undecrypted": 0, "close_frames": {}, "resets": [],
              "stop_sending": [], "extended_connect": set()}
    for fno, t, sp, dp, qpkts in labkit.quic_packets(cap):
        client_port = dp if sp == port else sp
        for qp in qpkts:
            frames = labkit.quic_frames(qp)
            if "quic.short" in qp:
                checks["short_packets"] += 1
                if not frames:
                    checks["short_undecrypted"] += 1
            for fr in frames:
                ft = int(fr["quic.frame_type"])
                if ft in (0x1C, 0x1D):
                    checks["close_frames"].setdefault(client_port, []).append(
                        (fno, sp, ft, fr.get("quic.cc.error_code"),
                         fr.get("quic.cc.error_code.app")))
                elif ft == 0x04:
                    checks["resets"].append((client_port, sp, int(fr["quic.rsts.stream_id"]),
                                             int(fr["quic.rsts.application_error_code"])))
                elif ft == 0x05:
                    checks["stop_sending"].append((client_port, sp, int(fr["quic.ss.stream_id"]),
                                                   int(fr["quic.ss.application_error_code"])))
                if not 0x08 <= ft <= 0x0F or "quic.stream_data" not in fr:
                    continue
                sid = int(fr["quic.stream.stream_id"])
                if (client_port, sid) not in ws_streams:
                    continue  # request streams the client log says carry a WebSocket
                off = int(fr.get("quic.stream.offset", 0))
                chunk = bytes.fromhex(fr["quic.stream_data"].replace(":", ""))
                key = (client_port, sid, sp)
                side = sides.setdefault(key, StreamSide())
                for n, w in cutter.feed(key, side.add(off, chunk)):
                    ws_rows.append([fno, t, sp, dp, sid, n]
                                   + [w[c] for c in labkit.WS_FIELDS] + [w["wire"]])
    # SETTINGS with extended CONNECT = 1 from the server, per client port
    txt = labkit.run(["tshark", "-r", cap, "-2", "-Y", "http3.settings.extended_connect == 1",
                      "-T", "fields", "-e", "udp.srcport", "-e", "udp.dstport"])
    for line in txt.splitlines():
        a, b = line.split("\t")
        if int(a) == port:
            checks["extended_connect"].add(int(b))
    checks["http3_packets"] = labkit.tshark_count(cap, "http3")
    checks["websocket_packets"] = labkit.tshark_count(cap, "websocket")
    left = {"%s/%s/%s" % k: n for k, n in cutter.left().items()}
    labkit.write_tsv(
        ws_dest, "generated by scripts/make-quic-ws-idle.py: WebSocket frames parsed by the "
        "script (not by tshark) from the QUIC STREAM data tshark decrypts with the DSB "
        "(%s): the STREAM frames of the extended CONNECT streams (which streams they are "
        "comes from the client's log: tshark 4.0 does not decode QPACK) reassembled by "
        "offset per connection (udp port), stream and direction, cut into HTTP/3 frames, "
        "the DATA frame payloads parsed as RFC 6455 frames. frame.number = the packet "
        "where the WebSocket frame completes; ws_index counts frames per stream and "
        "direction; payload_length and wire_length (header + mask key + payload) as on "
        "the wire; matches the frames each endpoint logged as it sent them; bytes left "
        "unparsed: %s" % (ver, left or "none"), WS_COLS + ["wire_length"], ws_rows)
    return checks, sides, ws_rows


def record(tmp, out):
    qlog_dir = os.path.join(tmp, "qlog")
    os.makedirs(qlog_dir)
    port, raw, gt, srv, lines = labkit.record_quic(__file__, tmp, client_main, [qlog_dir],
                                                   settle=1.0)
    cap = labkit.write_capture(out, raw, lines, stale=("capture.pcapng", "sslkeylog.txt",
                                                       "gt.jsonl", "tshark_quic.tsv",
                                                       "ws_frames.tsv", "qlog"))

    checks, sides, ws_rows = analyse_capture(cap, port, gt, os.path.join(out, "ws_frames.tsv"),
                                             os.path.join(out, "tshark_quic.tsv"))
    problems = []
    if checks["short_packets"] == 0 or checks["short_undecrypted"]:
        problems.append("1-RTT packets not decrypted from the DSB: %d of %d"
                        % (checks["short_undecrypted"], checks["short_packets"]))

    # ground truth: client record + the server's view
    order = ["label", "local_port", "server_port", "version", "alpn", "original_dcid",
             "client_cid", "server_cid", "t_start", "t_handshake_done", "t_close_sent", "t_end",
             "end_reason", "end", "idle_timeout_ms", "idle_timeout_local_ms",
             "idle_timeout_peer_ms", "peer_settings", "streams", "server"]
    sorder = ["kind", "stream_id", "path", "status", "sent", "received", "sent_sizes",
              "received_sizes", "pings_rtt_ms", "close_sent", "close_received",
              "close_initiator", "t_start", "t_open", "t_closed", "t_fin_sent",
              "t_fin_received", "reset_sent", "stop_sending_sent", "reset_received",
              "stop_sending_received", "body_bytes", "t_sent", "t_headers", "t_first_byte",
              "t_done"]
    for rec in gt:
        s = srv.get(rec["original_dcid"])
        if s is None:
            problems.append("%s: the server logged no connection with ODCID %s"
                            % (rec["label"], rec["original_dcid"]))
            continue
        if s["client_port"] != rec["local_port"]:
            problems.append("%s: server saw client port %s" % (rec["label"], s["client_port"]))
        sent_frames = rec.pop("_frames_sent", {})
        # the capture's WebSocket frames against what each end logged as it sent them
        for st in rec["streams"]:
            if st["kind"] != "websocket":
                continue
            sid = st["stream_id"]
            sstream = next((x for x in s["streams"] if x["stream_id"] == sid), None)
            if (sstream is None or sstream["method"] != "CONNECT"
                    or sstream["protocol"] != "websocket" or sstream["path"] != st["path"]):
                problems.append("%s: server saw %r on stream %s" % (rec["label"], sstream, sid))
                continue
            for who, sender_port, logged in (
                    ("client", rec["local_port"], sent_frames.get(sid, [])),
                    ("server", rec["server_port"], sstream.get("frames_sent", []))):
                wire = [(r[8], r[10], r[13]) for r in ws_rows
                        if r[2] == sender_port and r[4] == sid
                        and (r[3] == rec["local_port"] or r[2] == rec["local_port"])]
                mine = [(x["opcode"], x["payload_length"], x["wire"]) for x in logged]
                if wire != mine:
                    problems.append("%s stream %s: %s frames on the wire %r != logged %r"
                                    % (rec["label"], sid, who, wire, mine))
            st["frames_sent_by_client"] = len(sent_frames.get(sid, []))
            st["frames_sent_by_server"] = len(sstream.get("frames_sent", []))
        if rec["local_port"] not in checks["extended_connect"]:
            problems.append("%s: no server SETTINGS with extended CONNECT = 1 in the capture"
                            % rec["label"])
        closes = checks["close_frames"].get(rec["local_port"], [])
        if rec["end_reason"] == "idle_timeout":
            if closes:
                problems.append("%s: CONNECTION_CLOSE in the capture: %r" % (rec["label"], closes))
            if s["end_reason"] != "idle_timeout":
                problems.append("%s: the server's end was %r" % (rec["label"], s["end"]))
            if (rec["idle_timeout_ms"], rec["idle_timeout_peer_ms"],
                    s["idle_timeout_ms"]["local"]) != (2000, 2000, 2000):
                problems.append("%s: idle timeouts %r / server %r" % (
                    rec["label"], (rec["idle_timeout_ms"], rec["idle_timeout_peer_ms"]),
                    s["idle_timeout_ms"]))
        else:
            if s["end_reason"] != "close_received":
                problems.append("%s: the server's end was %r" % (rec["label"], s["end"]))
            if [(c[1], c[2], c[4]) for c in closes] != [(rec["local_port"], 0x1D,
                                                          str(H3_NO_ERROR))]:
                problems.append("%s: close frames %r" % (rec["label"], closes))
        want = "idle_timeout" if rec["label"] == "idle-timeout" else "close_sent"
        if rec["end_reason"] != want:
            problems.append("%s: end_reason %s" % (rec["label"], rec["end_reason"]))
        for st in s["streams"]:
            for k in ("frames_sent",):
                st.pop(k, None)
        server = {k: s.get(k) for k in ("client_port", "server_cid", "alpn", "t_first",
                                        "t_handshake_done", "t_end", "end_reason", "end", "idle_timeout_ms",
                                        "sent_settings", "peer_settings", "streams")}
        rec["server"] = server
        rec["streams"] = [{k: st[k] for k in sorder + sorted(set(st) - set(sorder)) if k in st}
                          for st in rec["streams"]]
    resets = sorted(set(checks["resets"]))
    reset_rec = next(r for r in gt if r["label"] == "ws-h3-reset")
    rsid = reset_rec["streams"][0]["stream_id"]
    for who in (reset_rec["local_port"], reset_rec["server_port"]):
        if (reset_rec["local_port"], who, rsid, H3_REQUEST_CANCELLED) not in resets:
            problems.append("ws-h3-reset: no RESET_STREAM 0x10c from port %s: %r" % (who, resets))
    if (reset_rec["local_port"], reset_rec["local_port"], rsid,
            H3_REQUEST_CANCELLED) not in checks["stop_sending"]:
        problems.append("ws-h3-reset: no STOP_SENDING 0x10c from the client: %r"
                        % checks["stop_sending"])
    if problems:
        raise RuntimeError("checks failed:\n  " + "\n  ".join(problems))

    labkit.write_jsonl(os.path.join(out, "gt.jsonl"), gt, order)

    # server qlogs, re-serialized without the spaces aioquic's json.dump puts after ',' and
    # ':' (same JSON): only when they total 100 000 bytes or less
    qlogs = {}
    for q in sorted(os.listdir(qlog_dir)):
        with open(os.path.join(qlog_dir, q)) as f:
            qlogs[q] = json.dumps(json.load(f), separators=(",", ":")) + "\n"
    qsize = sum(len(v.encode()) for v in qlogs.values())
    keep = len(qlogs) == len(gt) and qsize <= 100000
    if keep:
        os.makedirs(os.path.join(out, "qlog"))
        for q, text in qlogs.items():
            with open(os.path.join(out, "qlog", q), "w") as f:
                f.write(text)
    print("server qlogs: %d files, %d bytes: %s" % (len(qlogs), qsize,
          "kept" if keep else "skipped"), file=sys.stderr)
    return gt, checks


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "--serve":
        serve(*sys.argv[2:8])
        return
    out, (gt, checks) = labkit.lab_main(__doc__, "quic_ws_idle", "quic-ws-idle-", record)
    for rec in gt:
        for st in rec["streams"]:
            print("%-19s port %-5s stream %-2s %-13s %s end %s idle %s ms" % (
                rec["label"], rec["local_port"], st["stream_id"], st["path"],
                ("sent %d/%d recv %d/%d close %s/%s by %s" % (
                    st["sent"]["messages"], st["sent"]["bytes"], st["received"]["messages"],
                    st["received"]["bytes"], (st["close_sent"] or {}).get("code"),
                    (st["close_received"] or {}).get("code"), st["close_initiator"])
                 if st["kind"] == "websocket" else "GET %s %d B" % (st["status"],
                                                                     st["body_bytes"])),
                rec["end_reason"], rec["idle_timeout_ms"]))
    print("1-RTT packets decrypted from the DSB: %d of %d; http3 packets %d; websocket %d"
          % (checks["short_packets"] - checks["short_undecrypted"], checks["short_packets"],
             checks["http3_packets"], checks["websocket_packets"]))
    labkit.print_outputs(out)


if __name__ == "__main__":
    main()
