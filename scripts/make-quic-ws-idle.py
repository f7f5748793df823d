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

import argparse
import asyncio
import dataclasses
import hashlib
import json
import os
import random
import shutil
import signal
import ssl
import subprocess
import sys
import tempfile
import time

SHORT_IDLE = 2.0           # s: idle-timeout scenario, both ends
DEFAULT_IDLE = 30.0        # s: every other connection
H3_NO_ERROR = 0x100
H3_REQUEST_CANCELLED = 0x10C
SERVER_CLOSE_AFTER = 2
TEXTS = ["hello",
         "h\u00e9llo w\u00f6rld, \u00e7a va? " * 4,
         "x" * 700,
         "\u20ac" * 800]
BINARY = random.Random(9220).randbytes(3000)
PINGS = [b"ping-one", b"ping-two-longer"]
GET_PATH = "/bytes/1024"
OPCODES = {0: "cont", 1: "text", 2: "binary", 8: "close", 9: "ping", 10: "pong"}


def ws_frame_info(data):
    """(opcode name, payload length) of the one frame wsproto produced."""
    n = data[1] & 0x7F
    if n == 126:
        n = int.from_bytes(data[2:4], "big")
    elif n == 127:
        n = int.from_bytes(data[2:10], "big")
    return OPCODES.get(data[0] & 0x0F, str(data[0] & 0x0F)), n


# --------------------------------------------------------------------------------------------
# server (child process: `make-quic-ws-idle.py --serve READY LOG CERT KEY KEYLOG QLOGDIR`)

def serve(ready, log_path, cert, key, keylog, qlog_dir):
    import aioquic.asyncio.server as aq_server
    from aioquic import tls
    from aioquic.asyncio import QuicConnectionProtocol
    from aioquic.asyncio import serve as aq_serve
    from aioquic.h3.connection import H3_ALPN, H3Connection
    from aioquic.h3.events import DataReceived, HeadersReceived
    from aioquic.quic import events as qev
    from aioquic.quic.configuration import QuicConfiguration
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
            self.rec = {"event": "connection",
                        "original_dcid": self._quic.original_destination_connection_id.hex(),
                        "server_cid": self._quic.host_cid.hex(), "client_port": None,
                        "t_first": time.time(), "t_handshake_done": None, "alpn": None,
                        "idle_timeout_ms": None, "t_end": None, "end": None, "streams": []}

        def send_ws(self, st, event):
            data = st["ws"].send(event)
            op, n = ws_frame_info(data)
            st["frames_sent"].append({"opcode": op, "payload_length": n, "wire": len(data),
                                      "t": time.time()})
            self.h3.send_data(st["sid"], data, end_stream=False)

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
                                           (b"server", b"make-quic-ws-idle.py (aioquic)")])
                self.streams[sid] = {"sid": sid, "rec": r, "ws": Connection(ConnectionType.SERVER),
                                     "buf": b"", "fin_sent": False, "peer_fin": False,
                                     "frames_sent": []}
                r["frames_sent"] = self.streams[sid]["frames_sent"]
            elif hd.get(":method") == "GET" and path.startswith("/bytes/"):
                n = int(path.rsplit("/", 1)[1])
                body = random.Random(n).randbytes(n)
                r["status"] = 200
                r["body_bytes"] = n
                self.h3.send_headers(sid, [(b":status", b"200"),
                                           (b"content-type", b"application/octet-stream"),
                                           (b"content-length", str(n).encode()),
                                           (b"server", b"make-quic-ws-idle.py (aioquic)")])
                self.h3.send_data(sid, body, end_stream=True)
            else:
                r["status"] = 404
                self.h3.send_headers(sid, [(b":status", b"404")], end_stream=True)

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
            elif isinstance(event, qev.StreamReset):
                r = self.streams.get(event.stream_id, {}).get("rec")
                if r is not None:
                    r["reset_received"] = {"error_code": event.error_code, "t": time.time()}
            elif isinstance(event, qev.StopSendingReceived):
                r = self.streams.get(event.stream_id, {}).get("rec")
                if r is not None:
                    r["stop_sending_received"] = {"error_code": event.error_code,
                                                  "t": time.time()}
            elif isinstance(event, qev.ConnectionTerminated):
                self.rec["t_end"] = time.time()
                self.rec["end"] = {"error_code": event.error_code,
                                   "frame_type": event.frame_type,
                                   "reason_phrase": event.reason_phrase}
                # the server never closes a connection itself
                self.rec["end_reason"] = ("idle_timeout" if event.reason_phrase == "Idle timeout"
                                          else "close_received")
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

    cfg = QuicConfiguration(is_client=False, alpn_protocols=H3_ALPN, idle_timeout=DEFAULT_IDLE,
                            secrets_log_file=open(keylog, "a", buffering=1),
                            quic_logger=QuicFileLogger(qlog_dir))
    cfg.load_cert_chain(cert, key)

    async def main():
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGTERM, stop.set)
        loop.add_signal_handler(signal.SIGINT, stop.set)
        server = await aq_serve("127.0.0.1", 0, configuration=cfg, create_protocol=Server)
        port = server._transport.get_extra_info("sockname")[1]
        with open(ready + ".tmp", "w") as f:
            f.write(str(port))
        os.rename(ready + ".tmp", ready)
        await stop.wait()
        server.close()

    asyncio.run(main())


# --------------------------------------------------------------------------------------------
# client

def make_client_protocol():
    from aioquic.asyncio import QuicConnectionProtocol
    from aioquic.h3.connection import H3Connection
    from aioquic.h3.events import DataReceived, HeadersReceived
    from aioquic.quic import events as qev
    from wsproto.connection import Connection, ConnectionType
    from wsproto.events import (BytesMessage, CloseConnection, Ping, Pong, TextMessage)

    class Client(QuicConnectionProtocol):
        def __init__(self, *a, **kw):
            super().__init__(*a, **kw)
            self.h3 = H3Connection(self._quic)
            self.streams = {}
            self.tick = asyncio.Event()
            self.rec = {"t_handshake_done": None, "alpn": None, "t_end": None, "end": None}
            self.closing = False

        async def until(self, pred, what, timeout=10.0):
            deadline = time.monotonic() + timeout
            while not pred():
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError("client: waiting for " + what)
                self.tick.clear()
                try:
                    await asyncio.wait_for(self.tick.wait(), left)
                except asyncio.TimeoutError:
                    pass

        def quic_event_received(self, event):
            if isinstance(event, qev.HandshakeCompleted):
                self.rec["t_handshake_done"] = time.time()
                self.rec["alpn"] = event.alpn_protocol
                self.rec["session_resumed"] = event.session_resumed
            elif isinstance(event, qev.ConnectionTerminated):
                self.rec["t_end"] = time.time()
                self.rec["end"] = {"error_code": event.error_code,
                                   "frame_type": event.frame_type,
                                   "reason_phrase": event.reason_phrase}
            elif isinstance(event, qev.StreamReset):
                st = self.streams.get(event.stream_id)
                if st is not None:
                    st["rec"]["reset_received"] = {"error_code": event.error_code,
                                                   "t": time.time()}
            elif isinstance(event, qev.StopSendingReceived):
                st = self.streams.get(event.stream_id)
                if st is not None:
                    st["rec"]["stop_sending_received"] = {"error_code": event.error_code,
                                                          "t": time.time()}
            for hev in self.h3.handle_event(event):
                st = self.streams.get(hev.stream_id)
                if st is None:
                    continue
                now = time.time()
                if isinstance(hev, HeadersReceived):
                    hd = {k.decode(): v.decode() for k, v in hev.headers}
                    st["rec"]["status"] = int(hd[":status"])
                    st["rec"]["t_headers"] = now
                    if st["kind"] == "websocket":
                        st["rec"]["t_open"] = now
                elif isinstance(hev, DataReceived):
                    if st["kind"] == "websocket":
                        if hev.data:
                            st["ws"].receive_data(hev.data)
                        self.handle_ws(st, now)
                    elif hev.data:
                        if st["rec"]["t_first_byte"] is None:
                            st["rec"]["t_first_byte"] = now
                        st["rec"]["body_bytes"] += len(hev.data)
                if hev.stream_ended:
                    st["peer_fin"] = True
                    st["rec"]["t_fin_received" if st["kind"] == "websocket" else "t_done"] = now
            self.tick.set()

        def handle_ws(self, st, now):
            r = st["rec"]
            for ev in st["ws"].events():
                if isinstance(ev, (TextMessage, BytesMessage)):
                    st["buf"] += ev.data.encode() if isinstance(ev, TextMessage) else ev.data
                    if ev.message_finished:
                        r["received"]["messages"] += 1
                        r["received"]["bytes"] += len(st["buf"])
                        r["received_sizes"].append(len(st["buf"]))
                        st["inbox"].append(st["buf"])
                        st["buf"] = b""
                elif isinstance(ev, Pong):
                    sent = st["pings"].pop(bytes(ev.payload), None)
                    if sent is not None:
                        r["pings_rtt_ms"].append(round((now - sent) * 1000, 3))
                elif isinstance(ev, Ping):
                    self.send_ws(st, ev.response())
                elif isinstance(ev, CloseConnection):
                    r["close_received"] = {"code": ev.code, "reason": ev.reason}
                    if r["close_sent"] is None:
                        r["close_initiator"] = "server"
                        self.send_ws(st, ev.response())
                        r["close_sent"] = {"code": ev.code, "reason": ev.reason}
                    r["t_closed"] = now

        def send_ws(self, st, event, count=None):
            data = st["ws"].send(event)
            op, n = ws_frame_info(data)
            st["frames_sent"].append({"opcode": op, "payload_length": n, "wire": len(data),
                                      "t": time.time()})
            self.h3.send_data(st["sid"], data, end_stream=False)
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
                                       (b"user-agent", b"make-quic-ws-idle.py (aioquic)")])
            self.transmit()
            await self.until(lambda: rec["status"] is not None, path + " response")
            if rec["status"] != 200:
                raise RuntimeError("extended CONNECT %s answered %s" % (path, rec["status"]))
            return st

        async def get(self, path, authority):
            sid = self._quic.get_next_available_stream_id()
            rec = {"kind": "get", "stream_id": sid, "path": path, "status": None,
                   "body_bytes": 0, "t_sent": time.time(), "t_headers": None,
                   "t_first_byte": None, "t_done": None}
            st = {"sid": sid, "kind": "get", "rec": rec, "peer_fin": False}
            self.streams[sid] = st
            self.h3.send_headers(sid, [(b":method", b"GET"), (b":scheme", b"https"),
                                       (b":path", path.encode()),
                                       (b":authority", authority.encode()),
                                       (b"user-agent", b"make-quic-ws-idle.py (aioquic)")],
                                 end_stream=True)
            self.transmit()
            await self.until(lambda: st["peer_fin"], "GET " + path)
            return rec

        def close_h3(self):
            self.closing = True
            self.rec["t_close_sent"] = time.time()
            self.close(error_code=H3_NO_ERROR)

    return Client


async def client_main(port, keylog, cafile):
    from aioquic.asyncio import connect
    from aioquic.h3.connection import H3_ALPN
    from aioquic.quic.configuration import QuicConfiguration
    from wsproto.events import CloseConnection, Message, Ping

    Client = make_client_protocol()
    authority = "localhost:%d" % port
    kl = open(keylog, "a", buffering=1)
    results = []

    async def connection(label, idle, body):
        cfg = QuicConfiguration(is_client=True, alpn_protocols=H3_ALPN, idle_timeout=idle,
                                secrets_log_file=kl, server_name="localhost")
        cfg.load_verify_locations(cafile)
        t_start = time.time()
        async with connect("127.0.0.1", port, configuration=cfg,
                           create_protocol=Client) as proto:
            q = proto._quic
            rec = {"label": label, "local_port": proto._transport.get_extra_info("sockname")[1],
                   "server_port": port, "original_dcid": q.original_destination_connection_id.hex(),
                   "client_cid": q.host_cid.hex(), "server_cid": q._peer_cid.cid.hex(),
                   "version": hex(q._version), "alpn": proto.rec["alpn"], "t_start": t_start,
                   "t_handshake_done": proto.rec["t_handshake_done"]}
            local = int(cfg.idle_timeout * 1000)
            peer = (None if q._remote_max_idle_timeout is None
                    else int(q._remote_max_idle_timeout * 1000))
            rec["idle_timeout_ms"] = local if peer is None else min(local, peer)
            rec["idle_timeout_local_ms"], rec["idle_timeout_peer_ms"] = local, peer
            rec["streams"] = await body(proto)
            rec["peer_settings"] = {str(k): v for k, v in proto.h3.received_settings.items()}
            await proto.wait_closed()
        rec["t_close_sent"] = proto.rec.get("t_close_sent")
        rec["t_end"] = proto.rec["t_end"]
        rec["end"] = proto.rec["end"]
        if proto.closing:
            rec["end_reason"] = "close_sent"
        elif proto.rec["end"]["reason_phrase"] == "Idle timeout":
            rec["end_reason"] = "idle_timeout"
        else:
            rec["end_reason"] = "close_received"
        for sid, st in proto.streams.items():
            if "frames_sent" in st:
                rec.setdefault("_frames_sent", {})[sid] = st["frames_sent"]
        results.append(rec)
        print("%-20s port %-5s %s end %s" % (label, rec["local_port"], rec["client_cid"],
                                            rec["end_reason"]), file=sys.stderr)

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
        await proto.until(lambda: r["close_received"] is not None, "close reply")
        await finish_ws(proto, st)
        proto.close_h3()
        return [r]

    async def ws_server_close(proto):
        st = await proto.open_ws("/server-close", authority)
        r = st["rec"]
        for i in range(SERVER_CLOSE_AFTER):
            m = "message %d for the server-close socket" % (i + 1)
            proto.send_ws(st, Message(data=m), count=len(m.encode()))
            await next_msg(proto, st, "echo %d" % i)
        await proto.until(lambda: r["close_received"] is not None, "server's close")
        await finish_ws(proto, st)
        proto.close_h3()
        return [r]

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
        r = await proto.get(GET_PATH, authority)
        # nothing more: wait for the idle timer (aioquic sends nothing when it fires)
        await proto.until(lambda: proto.rec["t_end"] is not None, "idle timeout", 15)
        return [r]

    async def normal(proto):
        r = await proto.get(GET_PATH, authority)
        await asyncio.sleep(0.2)
        proto.close_h3()
        return [r]

    await connection("ws-h3-echo", DEFAULT_IDLE, ws_echo)
    await asyncio.sleep(0.3)
    await connection("ws-h3-server-close", DEFAULT_IDLE, ws_server_close)
    await asyncio.sleep(0.3)
    await connection("ws-h3-reset", DEFAULT_IDLE, ws_reset)
    await asyncio.sleep(0.3)
    await connection("idle-timeout", SHORT_IDLE, idle)
    await asyncio.sleep(1.2)  # the server's idle timer fires about when the client's does
    await connection("normal-close", DEFAULT_IDLE, normal)
    kl.close()
    return results


# --------------------------------------------------------------------------------------------

def run(cmd, **kw):
    return subprocess.run(cmd, check=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True, **kw).stdout


def repo_root():
    here = os.path.dirname(os.path.abspath(__file__))
    return run(["git", "-C", here, "rev-parse", "--show-toplevel"]).strip()


def wait_for(cond, timeout, what):
    deadline = time.time() + timeout
    while not cond():
        if time.time() > deadline:
            raise TimeoutError("waiting for " + what)
        time.sleep(0.05)


def stop(proc, sig=signal.SIGTERM, timeout=10):
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(sig)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def _list(v):
    return v if isinstance(v, list) else [] if v is None else [v]


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


def parse_ws(buf):
    """Complete WebSocket frames at the start of buf: ([fields], bytes used)."""
    out, i = [], 0
    while len(buf) - i >= 2:
        b0, b1 = buf[i], buf[i + 1]
        n, j = b1 & 0x7F, i + 2
        if n == 126:
            if len(buf) - j < 2:
                break
            n, j = int.from_bytes(buf[j:j + 2], "big"), j + 2
        elif n == 127:
            if len(buf) - j < 8:
                break
            n, j = int.from_bytes(buf[j:j + 8], "big"), j + 8
        masked = bool(b1 & 0x80)
        key = b""
        if masked:
            if len(buf) - j < 4:
                break
            key, j = buf[j:j + 4], j + 4
        if len(buf) - j < n:
            break
        payload = bytes(buf[j:j + n])
        if masked:
            payload = bytes(c ^ key[k % 4] for k, c in enumerate(payload))
        op = b0 & 0x0F
        f = {"fin": b0 >> 7, "rsv1": (b0 >> 6) & 1, "opcode": OPCODES.get(op, str(op)),
             "masked": int(masked), "payload_length": n, "close_code": "", "close_reason": "",
             "wire": j + n - i}
        if op == 8 and n >= 2:
            f["close_code"] = int.from_bytes(payload[:2], "big")
            f["close_reason"] = payload[2:].decode("utf-8", "replace")
        i = j + n
        out.append(f)
    return out, i


class StreamSide:
    """One direction of one QUIC bidirectional stream: reassembly, HTTP/3 frames, WebSocket."""

    def __init__(self):
        self.data = bytearray()
        self.pending = {}
        self.h3_pos = 0
        self.h3_frames = []      # (type, length)
        self.ws_buf = b""
        self.fin = False

    def add(self, off, chunk):
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
        out = []
        while True:
            t, i = read_varint(self.data, self.h3_pos)
            if t is None:
                break
            n, i = read_varint(self.data, i)
            if n is None or i + n > len(self.data):
                break
            self.h3_frames.append((t, n))
            if t == 0:  # DATA
                self.ws_buf += bytes(self.data[i:i + n])
            self.h3_pos = i + n
        frames, used = parse_ws(self.ws_buf)
        self.ws_buf = self.ws_buf[used:]
        out.extend(frames)
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
           "quic.stream.stream_id", "ws_index", "fin", "rsv1", "opcode", "masked",
           "payload_length", "close_code", "close_reason"]


def tshark_packets(cap):
    """[(frame no., time, sport, dport, [quic packet dicts])] from tshark -T json with the DSB."""
    txt = run(["tshark", "-r", cap, "-2", "-Y", "quic", "-T", "json", "--no-duplicate-keys",
               "-J", "frame udp quic"])
    out = []
    for pkt in json.loads(txt):
        lay = pkt["_source"]["layers"]
        fr, udp = lay["frame"], lay["udp"]
        out.append((int(fr["frame.number"]), fr["frame.time_epoch"], int(udp["udp.srcport"]),
                    int(udp["udp.dstport"]), _list(lay.get("quic"))))
    return out


def quic_frames(qpkt):
    """The QUIC frames of one QUIC packet of tshark's JSON (they sit under a subtree)."""
    found = []

    def walk(o):
        if isinstance(o, dict):
            if "quic.frame_type" in o:
                found.append(o)
                return
            for v in o.values():
                walk(v)
        elif isinstance(o, list):
            for v in o:
                walk(v)
    walk(qpkt)
    return found


def analyse_capture(cap, port, gt, ws_dest, tsv_dest):
    ver = run(["tshark", "--version"]).splitlines()[0]
    # per-packet fields
    txt = run(["tshark", "-r", cap, "-2", "-Y", "quic", "-T", "fields", "-E", "header=y",
               "-E", "separator=/t", "-E", "occurrence=a", "-E", "aggregator=,"]
              + sum((["-e", f] for f in TSHARK_FIELDS), []))
    with open(tsv_dest, "w") as f:
        f.write("# generated by scripts/make-quic-ws-idle.py with %s, key log from the DSB (-2, "
                "-T fields, one row per UDP datagram; several values of one field in a row, "
                "one per QUIC packet or frame, are joined by ','; tshark 4.0 does not decode "
                "QPACK, so there are no HTTP/3 header fields, and it does not dissect "
                "WebSocket inside HTTP/3)\n" % ver)
        f.write(txt)

    # tshark 4.0 does not decode QPACK: which streams are extended CONNECT tunnels comes from
    # the client's log (the server's log agrees, checked in record())
    ws_streams = {(rec["local_port"], st["stream_id"]) for rec in gt for st in rec["streams"]
                  if st["kind"] == "websocket"}
    pkts = tshark_packets(cap)
    sides, ws_rows, counts = {}, [], {}
    checks = {"short_packets": 0, "short_undecrypted": 0, "close_frames": {}, "resets": [],
              "stop_sending": [], "extended_connect": set()}
    for fno, t, sp, dp, qpkts in pkts:
        client_port = dp if sp == port else sp
        for qp in qpkts:
            frames = quic_frames(qp)
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
                for w in side.add(off, chunk):
                    counts[key] = counts.get(key, 0) + 1
                    ws_rows.append([fno, t, sp, dp, sid, counts[key]]
                                   + [w[c] for c in WS_COLS[6:]] + [w["wire"]])
    # SETTINGS with extended CONNECT = 1 from the server, per client port
    txt = run(["tshark", "-r", cap, "-2", "-Y", "http3.settings.extended_connect == 1",
               "-T", "fields", "-e", "udp.srcport", "-e", "udp.dstport"])
    for line in txt.splitlines():
        a, b = line.split("\t")
        if int(a) == port:
            checks["extended_connect"].add(int(b))
    checks["http3_packets"] = len(run(["tshark", "-r", cap, "-2", "-Y", "http3"]).splitlines())
    checks["websocket_packets"] = len(run(["tshark", "-r", cap, "-2", "-Y",
                                           "websocket"]).splitlines())
    left = {"%s/%s/%s" % k: len(s.ws_buf) for k, s in sides.items() if s.ws_buf}
    with open(ws_dest, "w") as f:
        f.write("# generated by scripts/make-quic-ws-idle.py: WebSocket frames parsed by the "
                "script (not by tshark) from the QUIC STREAM data tshark decrypts with the DSB "
                "(%s): the STREAM frames of the extended CONNECT streams (which streams they are "
                "comes from the client's log: tshark 4.0 does not decode QPACK) reassembled by "
                "offset per connection (udp port), stream and direction, cut into HTTP/3 frames, "
                "the DATA frame payloads parsed as RFC 6455 frames. frame.number = the packet "
                "where the WebSocket frame completes; ws_index counts frames per stream and "
                "direction; payload_length and wire_length (header + mask key + payload) as on "
                "the wire; matches the frames each endpoint logged as it sent them; bytes left "
                "unparsed: %s\n" % (ver, left or "none"))
        f.write("\t".join(WS_COLS + ["wire_length"]) + "\n")
        for r in ws_rows:
            f.write("\t".join(str(c) for c in r) + "\n")
    return checks, sides, ws_rows


def record(tmp, out):
    cert, key = os.path.join(tmp, "cert.pem"), os.path.join(tmp, "key.pem")
    run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
         "-nodes", "-keyout", key, "-out", cert, "-days", "30", "-subj", "/CN=localhost",
         "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"])
    raw = os.path.join(tmp, "raw.pcap")
    srv_log, ready = os.path.join(tmp, "server.jsonl"), os.path.join(tmp, "port")
    kl_srv, kl_cli = os.path.join(tmp, "keylog-server.txt"), os.path.join(tmp, "keylog-client.txt")
    qlog_dir = os.path.join(tmp, "qlog")
    os.makedirs(qlog_dir)
    procs = {}
    try:
        procs["server"] = subprocess.Popen(
            [sys.executable, os.path.abspath(__file__), "--serve", ready, srv_log, cert, key,
             kl_srv, qlog_dir],
            stdout=open(os.path.join(tmp, "server.out"), "w"), stderr=subprocess.STDOUT)
        wait_for(lambda: os.path.exists(ready), 20, "the server's port")
        port = int(open(ready).read())
        tcpdump_err = open(os.path.join(tmp, "tcpdump.err"), "w+")
        procs["tcpdump"] = subprocess.Popen(
            ["tcpdump", "-i", "lo", "-s", "0", "-Z", "root", "-U", "-w", raw,
             "udp port %d" % port], stdout=subprocess.DEVNULL, stderr=tcpdump_err)
        wait_for(lambda: "listening on" in open(tcpdump_err.name).read(), 10, "tcpdump")
        time.sleep(0.5)
        gt = asyncio.run(client_main(port, kl_cli, cert))
        # every connection over on the server too (qlogs are written then)
        wait_for(lambda: os.path.exists(srv_log) and
                 len(open(srv_log).read().splitlines()) >= len(gt), 10,
                 "the server's end of every connection")
        time.sleep(1.0)
        stop(procs["server"], signal.SIGTERM, 10)
        time.sleep(0.3)
        stop(procs["tcpdump"], signal.SIGINT, 10)
    finally:
        for p in procs.values():
            stop(p, signal.SIGKILL, 5)
    srv_out = open(os.path.join(tmp, "server.out")).read()
    if "Traceback" in srv_out or "Error" in srv_out:
        raise RuntimeError("server errors:\n" + srv_out)

    srv = {}
    with open(srv_log) as f:
        for line in f:
            o = json.loads(line)
            srv[o["original_dcid"]] = o

    # key log: the client's and the server's lines, merged (they are the same secrets)
    lines, seen = [], set()
    for kl in (kl_cli, kl_srv):
        with open(kl) as f:
            for line in f:
                line = line if line.endswith("\n") else line + "\n"
                if line.strip() and line not in seen:
                    seen.add(line)
                    lines.append(line)
    randoms = {line.split()[1] for line in lines}
    if len(randoms) != len(gt):
        raise RuntimeError("key log has %d client randoms for %d connections"
                           % (len(randoms), len(gt)))

    os.makedirs(out, exist_ok=True)
    for name in ("capture.pcapng", "sslkeylog.txt", "gt.jsonl", "tshark_quic.tsv",
                 "ws_frames.tsv"):
        p = os.path.join(out, name)
        if os.path.exists(p):
            os.remove(p)
    shutil.rmtree(os.path.join(out, "qlog"), ignore_errors=True)
    keylog_out = os.path.join(out, "sslkeylog.txt")
    with open(keylog_out, "w") as f:
        f.writelines(lines)
    cap = os.path.join(out, "capture.pcapng")
    run(["editcap", "-F", "pcapng", "--inject-secrets", "tls," + keylog_out, raw, cap])

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

    with open(os.path.join(out, "gt.jsonl"), "w") as f:
        for rec in gt:
            keys = [k for k in order if k in rec] + sorted(k for k in rec if k not in order)
            f.write(json.dumps({k: rec[k] for k in keys}, ensure_ascii=False) + "\n")

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
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=None, help="output dir (default testdata/lab/quic_ws_idle)")
    ap.add_argument("--keep-tmp", action="store_true")
    a = ap.parse_args()
    out = a.out or os.path.join(repo_root(), "testdata", "lab", "quic_ws_idle")
    tmp = tempfile.mkdtemp(prefix="quic-ws-idle-")
    try:
        gt, checks = record(tmp, out)
    finally:
        if a.keep_tmp:
            print("kept", tmp, file=sys.stderr)
        else:
            shutil.rmtree(tmp, ignore_errors=True)
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
    for dirpath, _, names in sorted(os.walk(out)):
        for name in sorted(names):
            p = os.path.join(dirpath, name)
            with open(p, "rb") as f:
                b = f.read()
            print("%-40s %7d %s" % (os.path.relpath(p, out), len(b),
                                    hashlib.sha256(b).hexdigest()))


if __name__ == "__main__":
    main()
