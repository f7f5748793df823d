#!/usr/bin/env python3
"""Record a small lab capture of WebSocket over HTTP/2 (RFC 8441 extended CONNECT).

Real implementations on both ends, on 127.0.0.1, TLS with ALPN h2:

  server    hypercorn (ASGI) with a tiny app: `GET /` serves a page whose JavaScript drives the
            browser's sockets, `POST /report` takes the page's own log; WebSocket endpoints
            /echo-* (echo every text and binary message, answer the client's close),
            /server-close-* (echo 3 messages, then close 1001 "server going away"),
            /push-* (send a 20 000-byte binary message and 2 text messages unprompted, then wait
            for the client's close). Hypercorn advertises SETTINGS_ENABLE_CONNECT_PROTOCOL=1
            and accepts `:method CONNECT` + `:protocol websocket` streams.
  client 1  headless Chromium loads https://127.0.0.1:PORT/ over HTTP/2; the page opens
            A wss://.../echo-a  (5 text messages of different sizes + 1 binary message of 5000
                                 bytes, one at a time, each echoed; client closes 1000 "bye"),
            B wss://.../server-close-b (opened while A is open: two tunnels share the
                                 connection; 3 echoes, then the server closes 1001),
            C wss://.../push-c  (after A and B: receives the 3 pushed messages, closes 1000).
            Chromium carries them as extended CONNECT streams on the page's HTTP/2 connection.
            The page records per socket what it sent and received (UTF-8 byte lengths for
            text), the close code/reason it got, who closed, and its open/close times, and POSTs
            that to /report. Chromium's net-log (--log-net-log) gives each socket's HTTP/2
            stream id and the connection's local port.
  client 2  Python h2 + wsproto doing extended CONNECT itself on a second TCP connection:
            D /echo-d  3 messages, 2 pings (distinct payloads, round trips timed), close 1000
                       "done", then END_STREAM;
            E /echo-e  (opened while D is open) 1 message, its echo, then RST_STREAM CANCEL
                       without a close frame. Then GOAWAY and TLS close_notify.

tcpdump records `tcp port PORT` on lo; both clients write a TLS key log (Chromium through
SSLKEYLOGFILE, Python through SSLContext.keylog_filename); the merged key log (only the lines
of connections in the capture) is embedded in the capture as a Decryption Secrets Block.

Outputs (testdata/lab/ws_h2/, relative to the repository root, or --out DIR):
  capture.pcapng   the capture, with the key log as a DSB (editcap --inject-secrets)
  sslkeylog.txt    the same key log, NSS format
  gt_ws.jsonl      ground truth, one JSON object per WebSocket, from the clients' own logs
                   (page JavaScript + Chromium net-log; the h2 client's log), plus `server`:
                   what the ASGI app saw of it
  tshark_ws.tsv    tshark's view with the key log (-T json): one row per HTTP/2 frame on stream 0
                   and on the extended CONNECT streams (SETTINGS, the CONNECT / :protocol /
                   :status headers, DATA lengths and END_STREAM, RST_STREAM, GOAWAY). tshark 4.0
                   does not dissect WebSocket inside HTTP/2 DATA (`-Y websocket` matches nothing)
  ws_frames.tsv    the WebSocket frames, parsed by this script (not by tshark) out of the
                   decrypted DATA payloads tshark gives: fin, rsv1, opcode, mask, wire length,
                   close code and reason
  README.md        not written by the script: kept by hand (what was run, versions, each file)

The script checks that every socket really went over HTTP/2: Chromium's net-log and the server
saw `:protocol websocket` / HTTP version 2, tshark shows the CONNECT HEADERS with that path on
that port and stream, and the capture holds no HTTP/1.x at all.

Requirements: python3 with `pip install hypercorn h2 wsproto` (hypercorn pulls h2, wsproto);
apt: chromium, tcpdump, tshark (+ editcap from wireshark-common), openssl. Run as root (tcpdump
on lo), from anywhere inside the repository (the output dir is found with git):

    python3 scripts/make-ws-h2.py [--out DIR] [--keep-tmp]

Everything else goes to a temporary directory that is removed at the end (--keep-tmp keeps
it: raw capture, Chromium profile and net-log, server log).
"""

import asyncio
import json
import os
import signal
import socket
import ssl
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import labkit  # noqa: E402

PAGE_JS = r"""
const PORT = location.port;
const now = () => (performance.timeOrigin + performance.now()) / 1000;
const enc = new TextEncoder();
const size = (d) => (typeof d === 'string') ? enc.encode(d).length : d.byteLength;
const log = [];

function openSock(label, path, script) {
  const url = 'wss://127.0.0.1:' + PORT + path;
  const rec = {label, client: 'chromium', url, path, script,
               sent: {messages: 0, bytes: 0}, received: {messages: 0, bytes: 0},
               received_sizes: [], sent_sizes: [],
               t_start: now(), t_open: null, t_closed: null,
               close_received: null, close_sent: null, close_initiator: null,
               close_rcvd_then_sent: null, was_clean: null, error: false};
  log.push(rec);
  const ws = new WebSocket(url);
  ws.binaryType = 'arraybuffer';
  const inbox = [];
  let waiter = null;
  let clientClosed = false;
  const opened = new Promise((res) => { ws.onopen = () => {
    rec.t_open = now(); rec.extensions = ws.extensions; rec.compression = ws.extensions !== '';
    res(); }; });
  const closed = new Promise((res) => { ws.onclose = (e) => {
    rec.t_closed = now();
    rec.close_received = {code: e.code, reason: e.reason};
    rec.was_clean = e.wasClean;
    rec.close_initiator = clientClosed ? 'client' : 'server';
    rec.close_rcvd_then_sent = !clientClosed;
    if (waiter) { const w = waiter; waiter = null; w(null); }
    res(); }; });
  ws.onerror = () => { rec.error = true; };
  ws.onmessage = (e) => {
    const n = size(e.data);
    rec.received.messages++; rec.received.bytes += n; rec.received_sizes.push(n);
    if (waiter) { const w = waiter; waiter = null; w(e.data); } else { inbox.push(e.data); }
  };
  const next = () => inbox.length ? Promise.resolve(inbox.shift())
                                  : new Promise((res) => { waiter = res; });
  const send = (d) => { const n = size(d); rec.sent.messages++; rec.sent.bytes += n;
                        rec.sent_sizes.push(n); ws.send(d); };
  const close = (code, reason) => { clientClosed = true; rec.close_sent = {code, reason};
                                    ws.close(code, reason); };
  return {ws, rec, opened, closed, next, send, close};
}

function binary(n, seed) {
  const b = new Uint8Array(n);
  let x = seed;
  for (let i = 0; i < n; i++) { x = (x * 1103515245 + 12345) >>> 0; b[i] = x >>> 24; }
  return b.buffer;
}

async function run() {
  const texts = ['hello',
                 'h\u00e9llo w\u00f6rld, \u00e7a va? '.repeat(4),
                 'x'.repeat(300),
                 '\u20ac'.repeat(400),
                 'abc'.repeat(1000)];
  const A = openSock('A-echo', '/echo-a', 'echo');
  await A.opened;
  const B = openSock('B-server-close', '/server-close-b', 'server-close');
  const aDone = (async () => {
    for (const t of texts) { A.send(t); await A.next(); }
    A.send(binary(5000, 7)); await A.next();
    A.close(1000, 'bye');
    await A.closed;
  })();
  const bDone = (async () => {
    await B.opened;
    for (let i = 1; i <= 3; i++) { B.send('message ' + i + ' for B'); await B.next(); }
    await B.closed;
  })();
  await Promise.all([aDone, bDone]);
  const C = openSock('C-push', '/push-c', 'push');
  await C.opened;
  for (let i = 0; i < 3; i++) { await C.next(); }
  C.close(1000, 'done reading');
  await C.closed;
  const report = {userAgent: navigator.userAgent, timeOrigin: performance.timeOrigin / 1000,
                  sockets: log};
  await fetch('/report', {method: 'POST', body: JSON.stringify(report),
                          headers: {'content-type': 'application/json'}});
  document.title = 'done';
}
run().catch(async (e) => {
  await fetch('/report', {method: 'POST', body: JSON.stringify({error: String(e), sockets: log})});
});
"""

PAGE = ("<!doctype html><html><head><meta charset='utf-8'><title>ws over h2</title>"
        "<link rel='icon' href='data:,'></head><body><p>WebSocket over HTTP/2 lab</p>"
        "<script>" + PAGE_JS + "</script></body></html>").encode()

SERVER_CLOSE_AFTER = 3
PUSH_MESSAGES = [("bytes", 20000), ("text", "pushed text one"), ("text", "pushed text two \u2713")]


# --------------------------------------------------------------------------------------------
# server (runs in a child process: `make-ws-h2.py --serve FD CERT KEY LOG REPORT`)

def serve(fd, cert, key, log_path, report_path):
    from hypercorn.asyncio import serve as hc_serve
    from hypercorn.config import Config

    logf = open(log_path, "a", buffering=1)

    def log(obj):
        logf.write(json.dumps(obj) + "\n")

    async def http(scope, receive, send):
        body = b""
        while True:
            m = await receive()
            body += m.get("body", b"")
            if not m.get("more_body"):
                break
        path = scope["path"]
        log({"event": "http", "method": scope["method"], "path": path,
             "http_version": scope["http_version"], "client_port": scope["client"][1]})
        if path == "/" and scope["method"] == "GET":
            status, ctype, out = 200, b"text/html; charset=utf-8", PAGE
        elif path == "/report" and scope["method"] == "POST":
            with open(report_path, "wb") as f:
                f.write(body)
            status, ctype, out = 200, b"text/plain", b"ok\n"
        else:
            status, ctype, out = 404, b"text/plain", b"not found\n"
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", ctype),
                                (b"content-length", str(len(out)).encode())]})
        await send({"type": "http.response.body", "body": out})

    async def websocket(scope, receive, send):
        path = scope["path"]
        hdrs = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        rec = {"event": "websocket", "path": path, "http_version": scope["http_version"],
               "client_port": scope["client"][1],
               "extensions_offered": hdrs.get("sec-websocket-extensions"),
               "received": {"messages": 0, "bytes": 0}, "sent": {"messages": 0, "bytes": 0},
               "close_sent": None, "disconnect_code": None, "t_accept": None, "t_end": None}
        m = await receive()
        assert m["type"] == "websocket.connect", m
        await send({"type": "websocket.accept"})
        rec["t_accept"] = time.time()

        async def send_msg(kind, data):
            await send({"type": "websocket.send", kind: data})
            rec["sent"]["messages"] += 1
            rec["sent"]["bytes"] += len(data.encode() if kind == "text" else data)

        try:
            if path.startswith("/push"):
                for kind, v in PUSH_MESSAGES:
                    await send_msg(kind, os.urandom(v) if kind == "bytes" else v)
            while True:
                m = await receive()
                if m["type"] == "websocket.disconnect":
                    rec["disconnect_code"] = m.get("code")
                    break
                kind = "text" if m.get("text") is not None else "bytes"
                data = m[kind]
                rec["received"]["messages"] += 1
                rec["received"]["bytes"] += len(data.encode() if kind == "text" else data)
                if path.startswith("/echo") or path.startswith("/server-close"):
                    await send_msg(kind, data)
                if (path.startswith("/server-close")
                        and rec["received"]["messages"] >= SERVER_CLOSE_AFTER):
                    await send({"type": "websocket.close", "code": 1001,
                                "reason": "server going away"})
                    rec["close_sent"] = {"code": 1001, "reason": "server going away"}
                    break
        finally:
            rec["t_end"] = time.time()
            log(rec)

    async def app(scope, receive, send):
        if scope["type"] == "lifespan":
            while True:
                m = await receive()
                if m["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif m["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        elif scope["type"] == "http":
            await http(scope, receive, send)
        elif scope["type"] == "websocket":
            await websocket(scope, receive, send)

    # hypercorn 0.18 forgets a WebSocket stream as soon as the close handshake is done on its
    # side, and a DATA frame that arrives on it afterwards (the client's close reply racing the
    # server's END_STREAM after a server close, or a separate END_STREAM frame) raises KeyError
    # in H2Protocol._handle_events, which drops the whole connection with every other stream.
    # Patch: such DATA is acknowledged (flow control) and dropped, as for any closed stream.
    import h2.events
    from hypercorn.protocol.h2 import H2Protocol
    orig_handle_events = H2Protocol._handle_events

    async def handle_events(self, events):
        for ev in events:  # one at a time: a stream is created by its RequestReceived event
            if isinstance(ev, h2.events.DataReceived) and ev.stream_id not in self.streams:
                self.connection.acknowledge_received_data(ev.flow_controlled_length,
                                                          ev.stream_id)
                log({"event": "late-data", "stream_id": ev.stream_id,
                     "bytes": ev.flow_controlled_length, "end_stream": ev.stream_ended is not None})
                continue
            await orig_handle_events(self, [ev])

    H2Protocol._handle_events = handle_events

    config = Config()
    config.bind = ["fd://%d" % fd]
    config.certfile = cert
    config.keyfile = key
    config.alpn_protocols = ["h2", "http/1.1"]
    config.accesslog = None
    config.graceful_timeout = 3

    async def main():
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGTERM, stop.set)
        loop.add_signal_handler(signal.SIGINT, stop.set)
        await hc_serve(app, config, shutdown_trigger=stop.wait)

    asyncio.run(main())


# --------------------------------------------------------------------------------------------
# client 2: h2 + wsproto

def h2_client(port, keylog, timeout=20.0):
    import h2.config
    import h2.connection
    import h2.errors
    import h2.events
    import h2.settings
    from wsproto.connection import Connection, ConnectionType
    from wsproto.events import CloseConnection, Message, Ping


    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.set_alpn_protocols(["h2"])
    ctx.keylog_filename = keylog
    t_start = time.time()
    raw = socket.create_connection(("127.0.0.1", port))
    local_port = raw.getsockname()[1]
    tls = ctx.wrap_socket(raw, server_hostname="localhost")
    assert tls.selected_alpn_protocol() == "h2", tls.selected_alpn_protocol()
    tls.settimeout(0.2)
    conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True,
                                                                header_encoding="utf-8"))
    conn.initiate_connection()
    tls.sendall(conn.data_to_send())

    socks = {}      # stream id -> state dict
    state = {"remote_settings": False, "ended": False}

    def flush():
        data = conn.data_to_send()
        if data:
            tls.sendall(data)

    def handle_ws(st):
        labkit.ws_client_events(st, lambda ev: conn.send_data(st["sid"], st["ws"].send(ev)),
                                rcvd_then_sent=True)

    def pump(until, what, limit=timeout):
        deadline = time.time() + limit
        while not until():
            if time.time() > deadline:
                raise TimeoutError("h2 client: waiting for " + what)
            try:
                data = tls.recv(65536)
            except (socket.timeout, ssl.SSLWantReadError):
                continue
            if not data:
                raise ConnectionError("h2 client: connection closed while waiting for " + what)
            for ev in conn.receive_data(data):
                if isinstance(ev, h2.events.RemoteSettingsChanged):
                    state["remote_settings"] = True
                    setting = ev.changed_settings.get(
                        h2.settings.SettingCodes.ENABLE_CONNECT_PROTOCOL)
                    if setting is not None:
                        state["enable_connect_protocol"] = setting.new_value
                elif isinstance(ev, h2.events.ResponseReceived):
                    st = socks[ev.stream_id]
                    hd = dict(ev.headers)
                    st["rec"]["status"] = int(hd[":status"])
                    st["rec"]["extensions"] = hd.get("sec-websocket-extensions", "")
                    st["rec"]["t_open"] = time.time()
                elif isinstance(ev, h2.events.DataReceived):
                    conn.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
                    st = socks.get(ev.stream_id)
                    if st is not None:
                        st["ws"].receive_data(ev.data)
                        handle_ws(st)
                elif isinstance(ev, h2.events.StreamEnded):
                    st = socks[ev.stream_id]
                    st["remote_ended"] = True
                    st["rec"]["t_stream_end_received"] = time.time()
                elif isinstance(ev, h2.events.StreamReset):
                    st = socks[ev.stream_id]
                    st["rec"]["rst_stream_received"] = int(ev.error_code)
                    st["remote_ended"] = True
                elif isinstance(ev, h2.events.ConnectionTerminated):
                    state["ended"] = True
            flush()

    pump(lambda: state["remote_settings"], "server SETTINGS")
    if state.get("enable_connect_protocol") != 1:
        raise RuntimeError("server did not send SETTINGS_ENABLE_CONNECT_PROTOCOL=1")

    def open_ws(label, path, script):
        sid = conn.get_next_available_stream_id()
        rec = {"label": label, "client": "h2", "url": "wss://127.0.0.1:%d%s" % (port, path),
               "path": path, "script": script, "http_version": "2", "stream_id": sid,
               "local_port": local_port, "compression": False, "extensions": "",
               "sent": {"messages": 0, "bytes": 0}, "received": {"messages": 0, "bytes": 0},
               "pings_rtt_ms": [], "sent_sizes": [], "received_sizes": [],
               "t_start": time.time(), "t_open": None, "t_closed": None,
               "close_received": None, "close_sent": None, "close_rcvd_then_sent": None,
               "close_initiator": None}
        st = {"sid": sid, "rec": rec, "ws": Connection(ConnectionType.CLIENT), "buf": b"",
              "inbox": [], "pings": {}, "remote_ended": False}
        socks[sid] = st
        conn.send_headers(sid, [(":method", "CONNECT"), (":protocol", "websocket"),
                                (":scheme", "https"), (":path", path),
                                (":authority", "127.0.0.1:%d" % port),
                                ("sec-websocket-version", "13"),
                                ("origin", "https://127.0.0.1:%d" % port),
                                ("user-agent", "make-ws-h2.py (python h2)")])
        flush()
        pump(lambda: rec["t_open"] is not None, label + " response")
        if rec["status"] != 200:
            raise RuntimeError("%s: extended CONNECT answered %s" % (label, rec["status"]))
        return st

    def send_msg(st, text):
        data = text.encode()
        conn.send_data(st["sid"], st["ws"].send(Message(data=text)))
        st["rec"]["sent"]["messages"] += 1
        st["rec"]["sent"]["bytes"] += len(data)
        st["rec"]["sent_sizes"].append(len(data))
        flush()

    def next_msg(st, what):
        pump(lambda: st["inbox"], what)
        return st["inbox"].pop(0)

    d = open_ws("D-h2-echo-ping", "/echo-d", "echo-ping-close")
    e = open_ws("E-h2-reset", "/echo-e", "echo-rst")
    for i, text in enumerate(["first message from h2", "second, \u00fcml\u00e4uts",
                              "third " + "z" * 700]):
        send_msg(d, text)
        next_msg(d, "D echo %d" % i)
    for payload in (b"ping-one", b"ping-two-longer"):
        d["pings"][payload] = time.time()
        conn.send_data(d["sid"], d["ws"].send(Ping(payload=payload)))
        flush()
        pump(lambda: payload not in d["pings"], "pong " + payload.decode())
    d["rec"]["close_sent"] = {"code": 1000, "reason": "done"}
    d["rec"]["close_initiator"] = "client"
    # The close frame goes in a DATA frame with END_STREAM, as Chromium sends it. (hypercorn
    # 0.18 forgets the stream once it has answered the close, so a separate empty DATA frame
    # with END_STREAM after its reply makes it drop the whole connection: KeyError.)
    conn.send_data(d["sid"], d["ws"].send(CloseConnection(code=1000, reason="done")),
                   end_stream=True)
    flush()
    d["rec"]["end_stream_sent_with_close"] = True
    pump(lambda: d["rec"]["close_received"] is not None, "D close reply")
    try:  # hypercorn does not end its side of the stream after the close handshake
        pump(lambda: d["remote_ended"], "D END_STREAM", 0.5)
    except TimeoutError:
        pass
    d["rec"]["end_stream_received"] = d["remote_ended"]

    send_msg(e, "only message before the reset")
    next_msg(e, "E echo")
    conn.reset_stream(e["sid"], h2.errors.ErrorCodes.CANCEL)
    flush()
    e["rec"]["t_closed"] = time.time()
    e["rec"]["close_initiator"] = "client"
    e["rec"]["aborted"] = "RST_STREAM CANCEL"
    time.sleep(0.3)
    try:
        pump(lambda: False, "", 0.3)  # read whatever follows (WINDOW_UPDATE etc.) for a moment
    except TimeoutError:
        pass
    conn.close_connection()
    flush()
    time.sleep(0.2)
    try:
        tls.settimeout(2)
        tls.unwrap()
    except (OSError, ssl.SSLError):
        pass
    raw.close()
    d["rec"]["t_conn_start"] = e["rec"]["t_conn_start"] = t_start
    return [d["rec"], e["rec"]]


# --------------------------------------------------------------------------------------------
# Chromium net-log: stream id and local port per socket

def netlog_facts(path):
    """{ws path: {stream_id, local_port, method, protocol}} from Chromium's net-log."""
    with open(path) as f:
        text = f.read()
    try:
        nl = json.loads(text)
    except json.JSONDecodeError:  # not finalised: close the events list ourselves
        text = text.rstrip().rstrip(",")
        nl = json.loads(text + "]}")
    types = {v: k for k, v in nl["constants"]["logEventTypes"].items()}
    local = {}     # source id of the socket -> local port
    session_socket = {}  # http2 session source id -> socket source id
    out = {}
    for ev in nl["events"]:
        t = types.get(ev["type"])
        p = ev.get("params") or {}
        sid = ev["source"]["id"]
        if t == "TCP_CONNECT" and "local_address" in p:
            local[sid] = int(p["local_address"].rsplit(":", 1)[1])
        elif t == "HTTP2_SESSION_INITIALIZED":
            session_socket[sid] = p.get("source_dependency", {}).get("id")
        elif t == "HTTP2_SESSION_SEND_HEADERS":
            hd = {}
            for h in p.get("headers", []):
                k, _, v = h.partition(": ")
                hd[k] = v
            if hd.get(":protocol") == "websocket":
                out[hd[":path"]] = {"stream_id": p.get("stream_id"), "session": sid,
                                    "method": hd.get(":method"),
                                    "protocol": hd.get(":protocol")}
    for v in out.values():
        v["local_port"] = local.get(session_socket.get(v.pop("session")))
    return out


# --------------------------------------------------------------------------------------------

def record(tmp, out):
    cert, key = labkit.make_cert(tmp, "IP:127.0.0.1,DNS:localhost")
    lsock = socket.socket()
    lsock.bind(("127.0.0.1", 0))
    lsock.listen(64)
    port = lsock.getsockname()[1]
    raw = os.path.join(tmp, "raw.pcap")
    srv_log, report = os.path.join(tmp, "server.jsonl"), os.path.join(tmp, "report.json")
    kl_chrome, kl_h2 = os.path.join(tmp, "keylog-chromium.txt"), os.path.join(tmp, "keylog-h2.txt")
    netlog = os.path.join(tmp, "netlog.json")
    profile = os.path.join(tmp, "profile")
    procs = {}
    try:
        procs["server"] = labkit.start_server(
            __file__, tmp, [lsock.fileno(), cert, key, srv_log, report],
            pass_fds=(lsock.fileno(),))
        procs["tcpdump"] = labkit.start_tcpdump(tmp, raw, "tcp port %d" % port)

        # client 1: Chromium
        env = dict(os.environ, SSLKEYLOGFILE=kl_chrome)
        procs["chromium"] = subprocess.Popen(
            ["/usr/bin/chromium", "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
             "--no-first-run", "--disable-background-networking", "--disable-component-update",
             "--disable-sync", "--user-data-dir=" + profile, "--ignore-certificate-errors",
             "--log-net-log=" + netlog, "--net-log-capture-mode=Default",
             "https://127.0.0.1:%d/" % port],
            env=env, stdout=open(os.path.join(tmp, "chromium.out"), "w"),
            stderr=subprocess.STDOUT)
        labkit.wait_for(lambda: os.path.exists(report) and os.path.getsize(report) > 0, 60,
                        "the page's report")
        time.sleep(0.5)
        labkit.stop(procs["chromium"], signal.SIGTERM, 20)
        time.sleep(0.5)

        # client 2: h2 + wsproto
        h2_recs = h2_client(port, kl_h2)
        time.sleep(0.5)
        labkit.stop(procs["server"], signal.SIGTERM, 15)
        time.sleep(1.0)
        labkit.stop(procs["tcpdump"], signal.SIGINT, 10)
    finally:
        for p in procs.values():
            labkit.stop(p, signal.SIGKILL, 5)
        lsock.close()

    with open(report) as f:
        page = json.load(f)
    if "error" in page:
        raise RuntimeError("page error: %s" % page["error"])
    nl = netlog_facts(netlog)
    srv = labkit.read_jsonl(srv_log, "path", event="websocket")
    gt = []
    for rec in page["sockets"]:
        facts = nl.get(rec["path"], {})
        rec["http_version"] = "2" if facts.get("protocol") == "websocket" else None
        rec["stream_id"] = facts.get("stream_id")
        rec["local_port"] = facts.get("local_port")
        rec["pings_rtt_ms"] = []
        gt.append(rec)
    gt.extend(h2_recs)
    for rec in gt:
        s = srv.get(rec["path"])
        if s:
            rec["server"] = {k: s[k] for k in ("http_version", "client_port", "extensions_offered",
                                               "received", "sent", "close_sent",
                                               "disconnect_code")}
    for rec in gt:
        if rec["http_version"] != "2" or rec.get("server", {}).get("http_version") != "2":
            raise RuntimeError("%s did not go over HTTP/2: %r" % (rec["label"], rec))
    order = ["label", "client", "url", "path", "script", "http_version", "stream_id",
             "local_port", "compression", "extensions", "sent", "received", "pings_rtt_ms",
             "t_start", "t_open", "t_closed", "close_received", "close_sent",
             "close_rcvd_then_sent", "close_initiator", "was_clean", "aborted", "sent_sizes",
             "received_sizes"]

    # key log: only the lines of client randoms in the capture
    lines = labkit.merge_keylogs([kl_chrome, kl_h2], labkit.capture_client_randoms(raw))
    cap = labkit.write_capture(out, raw, lines)
    labkit.write_jsonl(os.path.join(out, "gt_ws.jsonl"), gt, order, last=["server"])
    tunnels = write_tshark(cap, os.path.join(out, "tshark_ws.tsv"),
                           os.path.join(out, "ws_frames.tsv"))
    # the capture must show every socket as an extended CONNECT stream, and no HTTP/1.1 at all
    for rec in gt:
        got = tunnels.get((rec["local_port"], str(rec["stream_id"])))
        if got != ("CONNECT", "websocket", rec["path"]):
            raise RuntimeError("%s: capture shows %r on port %s stream %s"
                               % (rec["label"], got, rec["local_port"], rec["stream_id"]))
    h1 = labkit.run(["tshark", "-r", cap, "-2", "-Y", "http.request or http.response"]).strip()
    if h1:
        raise RuntimeError("HTTP/1.x in the capture:\n" + h1)
    return gt, page


H2_TYPES = {0: "DATA", 1: "HEADERS", 2: "PRIORITY", 3: "RST_STREAM", 4: "SETTINGS",
            5: "PUSH_PROMISE", 6: "PING", 7: "GOAWAY", 8: "WINDOW_UPDATE", 9: "CONTINUATION"}
TSHARK_COLS = ["frame.number", "frame.time_epoch", "tcp.stream", "tcp.srcport", "tcp.dstport",
               "http2.streamid", "http2.type", "http2.length", "http2.flags.end_stream",
               "detail"]
WS_COLS = ["frame.number", "frame.time_epoch", "tcp.stream", "tcp.srcport", "tcp.dstport",
           "http2.streamid", "ws_index"] + labkit.WS_FIELDS


def tshark_h2_frames(cap):
    """[(frame no., time, tcp.stream, sport, dport, {http2.stream fields})], tshark -T json."""
    rows = []
    for pkt in labkit.tshark_json(cap, "http2", "frame tcp http2"):
        lay = pkt["_source"]["layers"]
        fr, tcp = lay["frame"], lay["tcp"]
        for h2l in labkit.as_list(lay.get("http2")):
            for st in labkit.as_list(h2l.get("http2.stream")):
                if "http2.type" not in st:
                    continue  # the connection preface
                rows.append((int(fr["frame.number"]), fr["frame.time_epoch"], tcp["tcp.stream"],
                             int(tcp["tcp.srcport"]), int(tcp["tcp.dstport"]), st))
    return rows


def frame_detail(st):
    t = int(st["http2.type"])
    if t == 1:
        return " | ".join("%s: %s" % (h.get("http2.header.name", ""),
                                       h.get("http2.header.value", ""))
                          for h in labkit.as_list(st.get("http2.header")))
    if t == 3:
        return "error=%s" % st.get("http2.rst_stream.error")
    if t == 7:
        return "last_stream=%s error=%s" % (st.get("http2.goaway.last_stream_id"),
                                             st.get("http2.goaway.error"))
    if t == 4:
        out = []
        for item in labkit.as_list(st.get("http2.settings")):
            vals = [v for k, v in item.items() if k != "http2.settings.id"]
            out.append("%s=%s" % (item.get("http2.settings.id"), vals[0] if vals else ""))
        ack = st.get("http2.flags_tree", {}).get("http2.flags.ack.settings") == "1"
        return "ACK" if ack else " ".join(out)
    if t == 8:
        return "increment=%s" % st.get("http2.window_update.window_size_increment")
    if t == 6:
        ack = st.get("http2.flags_tree", {}).get("http2.flags.ack.ping") == "1"
        return "ACK" if ack else ""
    return ""


def write_tshark(cap, dest, ws_dest):
    """tshark's HTTP/2 frames on the WebSocket streams (and stream 0), and the WebSocket frames
    the script parses out of tshark's decrypted DATA payloads."""
    ver = labkit.tshark_version()
    n_ws = labkit.tshark_count(cap, "websocket")
    frames = tshark_h2_frames(cap)
    ws_streams, tunnels = set(), {}
    for fno, _, tcps, sp, _, st in frames:
        hd = {h.get("http2.header.name"): h.get("http2.header.value")
              for h in labkit.as_list(st.get("http2.header"))}
        if st["http2.type"] == "1" and ":protocol" in hd:
            ws_streams.add((tcps, st["http2.streamid"]))
            tunnels[(sp, st["http2.streamid"])] = (hd.get(":method"), hd[":protocol"],
                                                   hd.get(":path"))
    rows, ws_rows, cutter = [], [], labkit.WsCutter()
    for fno, t, tcps, sp, dp, st in frames:
        sid = st["http2.streamid"]
        if sid != "0" and (tcps, sid) not in ws_streams:
            continue
        typ = int(st["http2.type"])
        es = st.get("http2.flags_tree", {}).get("http2.flags.end_stream", "")
        rows.append([fno, t, tcps, sp, dp, sid, H2_TYPES.get(typ, str(typ)), st["http2.length"],
                     es if typ in (0, 1) else "", frame_detail(st)])
        if typ == 0 and sid != "0":
            key = (tcps, sid, sp)
            data = st.get("http2.data.data", "")
            chunk = bytes.fromhex(data.replace(":", "")) if data else b""
            for n, f in cutter.feed(key, chunk):
                ws_rows.append([fno, t, tcps, sp, dp, sid, n]
                               + [f[c] for c in labkit.WS_FIELDS])
    labkit.write_tsv(
        dest, "generated by scripts/make-ws-h2.py with %s, key log from the DSB (-2): one "
        "row per HTTP/2 frame on stream 0 and on the extended CONNECT streams; "
        "`-Y websocket` matches %d frames (tshark 4.0 does not dissect WebSocket "
        "inside HTTP/2 DATA)" % (ver, n_ws), TSHARK_COLS, rows)
    labkit.write_tsv(
        ws_dest, "generated by scripts/make-ws-h2.py: WebSocket frames parsed by the script "
        "(not by tshark) from the decrypted HTTP/2 DATA payloads tshark gives (%s), per "
        "stream and direction; frame.number = the packet where the frame completes; "
        "ws_index counts frames per stream and direction; payload_length is on the wire "
        "(compressed when rsv1=1); bytes left unparsed: %s" % (ver, cutter.left() or "none"),
        WS_COLS, ws_rows)
    return tunnels


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "--serve":
        fd, cert, key, log_path, report = sys.argv[2:7]
        serve(int(fd), cert, key, log_path, report)
        return
    out, (gt, page) = labkit.lab_main(__doc__, "ws_h2", "ws-h2-", record)
    print("browser:", page.get("userAgent"))
    for rec in gt:
        print("%-16s %-8s %-17s stream %-3s port %-5s sent %d/%d recv %d/%d close %s by %s "
              "ext %r" % (rec["label"], rec["client"], rec["path"], rec.get("stream_id"),
                          rec.get("local_port"), rec["sent"]["messages"], rec["sent"]["bytes"],
                          rec["received"]["messages"], rec["received"]["bytes"],
                          (rec["close_received"] or {}).get("code"), rec["close_initiator"],
                          rec.get("extensions")))
    labkit.print_outputs(out, 16)


if __name__ == "__main__":
    main()
