"""Shared pieces of the lab-recording scripts (make-ws-h2.py, make-quic-ws-idle.py,
make-quic-migration.py): processes (tcpdump on lo, the script's own server child), a self-signed
certificate, NSS key logs and `editcap --inject-secrets`, tshark runs, TSV / JSONL output,
WebSocket frame cutting, and the aioquic HTTP/3 server / client parts both QUIC labs use.

Stdlib only at import time: aioquic and wsproto are imported inside the functions that need
them (the scripts import this module with the scripts directory on sys.path).
"""

import argparse
import asyncio
import hashlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time

H3_NO_ERROR = 0x100
OPCODES = {0: "cont", 1: "text", 2: "binary", 8: "close", 9: "ping", 10: "pong"}
# the columns of a WebSocket frame in ws_frames.tsv, after each lab's own leading columns
WS_FIELDS = ["fin", "rsv1", "opcode", "masked", "payload_length", "close_code", "close_reason"]


# --------------------------------------------------------------------------------------------
# processes, files

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


def make_cert(tmp, san):
    """A self-signed P-256 certificate for CN=localhost with subjectAltName `san`, in tmp:
    (cert.pem, key.pem)."""
    cert, key = os.path.join(tmp, "cert.pem"), os.path.join(tmp, "key.pem")
    run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
         "-nodes", "-keyout", key, "-out", cert, "-days", "30", "-subj", "/CN=localhost",
         "-addext", "subjectAltName=" + san])
    return cert, key


def start_server(script, tmp, args, **kw):
    """`script --serve ARGS...` in a child process, its output to tmp/server.out."""
    return subprocess.Popen(
        [sys.executable, os.path.abspath(script), "--serve"] + [str(a) for a in args],
        stdout=open(os.path.join(tmp, "server.out"), "w"), stderr=subprocess.STDOUT, **kw)


def check_server_output(tmp):
    srv_out = open(os.path.join(tmp, "server.out")).read()
    if "Traceback" in srv_out or "Error" in srv_out:
        raise RuntimeError("server errors:\n" + srv_out)


def start_tcpdump(tmp, raw, bpf):
    """tcpdump on lo writing `bpf`'s packets to raw; returns once it listens (+ 0.5 s)."""
    err = open(os.path.join(tmp, "tcpdump.err"), "w+")
    proc = subprocess.Popen(["tcpdump", "-i", "lo", "-s", "0", "-Z", "root", "-U", "-w", raw,
                             bpf], stdout=subprocess.DEVNULL, stderr=err)
    wait_for(lambda: "listening on" in open(err.name).read(), 10, "tcpdump")
    time.sleep(0.5)
    return proc


def read_jsonl(path, key, event=None):
    """{obj[key]: obj} of the JSON lines in path (the last one wins); with `event`, only the
    objects whose "event" is that."""
    out = {}
    with open(path) as f:
        for line in f:
            o = json.loads(line)
            if event is None or o["event"] == event:
                out[o[key]] = o
    return out


def ordered(rec, order, last=()):
    """rec with its keys in `order`, then the others sorted, then those in `last`."""
    keys = [k for k in order if k in rec]
    keys += sorted(k for k in rec if k not in order and k not in last)
    keys += [k for k in last if k in rec]
    return {k: rec[k] for k in keys}


def write_jsonl(path, recs, order, last=()):
    with open(path, "w") as f:
        for rec in recs:
            f.write(json.dumps(ordered(rec, order, last), ensure_ascii=False) + "\n")


def write_tsv(path, comment, cols, rows):
    """A `# comment` line, the column names, one line per row (tab-separated)."""
    with open(path, "w") as f:
        f.write("# " + comment + "\n")
        f.write("\t".join(cols) + "\n")
        for r in rows:
            f.write("\t".join(str(c) for c in r) + "\n")


def print_outputs(out, width=40):
    """Every file below out: name, size and SHA-256."""
    for dirpath, _, names in sorted(os.walk(out)):
        for name in sorted(names):
            p = os.path.join(dirpath, name)
            with open(p, "rb") as f:
                b = f.read()
            print("%-*s %7d %s" % (width, os.path.relpath(p, out), len(b),
                                   hashlib.sha256(b).hexdigest()))


def lab_main(doc, lab, tmp_prefix, record):
    """The command line every lab script has (`[--out DIR] [--keep-tmp]`): record(tmp, out) in a
    temporary directory removed afterwards unless --keep-tmp; returns (out, its result)."""
    ap = argparse.ArgumentParser(description=doc.split("\n")[0])
    ap.add_argument("--out", default=None, help="output dir (default testdata/lab/%s)" % lab)
    ap.add_argument("--keep-tmp", action="store_true")
    a = ap.parse_args()
    out = a.out or os.path.join(repo_root(), "testdata", "lab", lab)
    tmp = tempfile.mkdtemp(prefix=tmp_prefix)
    try:
        return out, record(tmp, out)
    finally:
        if a.keep_tmp:
            print("kept", tmp, file=sys.stderr)
        else:
            shutil.rmtree(tmp, ignore_errors=True)


# --------------------------------------------------------------------------------------------
# key logs, the capture

def capture_client_randoms(cap):
    """The ClientHello randoms (lower-case hex) of the TLS connections in cap."""
    return set(run(["tshark", "-r", cap, "-Y", "tls.handshake.type == 1", "-T", "fields",
                    "-e", "tls.handshake.random"]).split())


def merge_keylogs(paths, randoms=None):
    """The NSS key-log lines of the files in `paths`, in order, each line once; with `randoms`,
    only the lines of those client randoms (and at least one)."""
    lines, seen = [], set()
    for kl in paths:
        with open(kl) as f:
            for line in f:
                line = line if line.endswith("\n") else line + "\n"
                parts = line.split()
                if not parts or line in seen:
                    continue
                if randoms is not None and (len(parts) != 3 or parts[1].lower() not in randoms):
                    continue
                seen.add(line)
                lines.append(line)
    if randoms is not None and not lines:
        raise RuntimeError("no key log lines match the capture")
    return lines


def expect_connections(lines, n):
    """The key log must hold the secrets of exactly n connections (client randoms)."""
    randoms = {line.split()[1] for line in lines}
    if len(randoms) != n:
        raise RuntimeError("key log has %d client randoms for %d connections"
                           % (len(randoms), n))


def write_capture(out, raw, lines, stale=()):
    """out/sslkeylog.txt from `lines`, and out/capture.pcapng: raw with that key log as a
    Decryption Secrets Block. `stale` outputs (files or directories) are removed first."""
    os.makedirs(out, exist_ok=True)
    for name in stale:
        p = os.path.join(out, name)
        if os.path.isdir(p):
            shutil.rmtree(p, ignore_errors=True)
        elif os.path.exists(p):
            os.remove(p)
    keylog_out = os.path.join(out, "sslkeylog.txt")
    with open(keylog_out, "w") as f:
        f.writelines(lines)
    cap = os.path.join(out, "capture.pcapng")
    run(["editcap", "-F", "pcapng", "--inject-secrets", "tls," + keylog_out, raw, cap])
    return cap


# --------------------------------------------------------------------------------------------
# tshark

def as_list(v):
    return v if isinstance(v, list) else [] if v is None else [v]


def tshark_version():
    return run(["tshark", "--version"]).splitlines()[0]


def tshark_count(cap, display_filter):
    """How many packets of cap (key log from the DSB) match display_filter."""
    return len(run(["tshark", "-r", cap, "-2", "-Y", display_filter]).splitlines())


def tshark_json(cap, display_filter, protocols, opts=()):
    """tshark -T json of cap (two passes), only the layers `protocols` (space-separated)."""
    return json.loads(run(["tshark", "-r", cap] + list(opts)
                          + ["-2", "-Y", display_filter, "-T", "json", "--no-duplicate-keys",
                             "-J", protocols]))


def write_tshark_fields(dest, comment, cap, display_filter, fields, opts=()):
    """A `# comment` line, then tshark -T fields (header line, tab-separated, every occurrence
    of a field joined by ',') of cap."""
    txt = run(["tshark", "-r", cap] + list(opts)
              + ["-2", "-Y", display_filter, "-T", "fields", "-E", "header=y",
                 "-E", "separator=/t", "-E", "occurrence=a", "-E", "aggregator=,"]
              + sum((["-e", f] for f in fields), []))
    with open(dest, "w") as f:
        f.write("# " + comment + "\n")
        f.write(txt)


def quic_packets(cap, opts=()):
    """[(frame no., time string, sport, dport, [quic packet dicts])] of the QUIC datagrams in
    cap, from tshark -T json with the DSB."""
    out = []
    for pkt in tshark_json(cap, "quic", "frame udp quic", opts):
        lay = pkt["_source"]["layers"]
        fr, udp = lay["frame"], lay["udp"]
        out.append((int(fr["frame.number"]), fr["frame.time_epoch"], int(udp["udp.srcport"]),
                    int(udp["udp.dstport"]), as_list(lay.get("quic"))))
    return out


def json_walk(o, visit):
    """Call visit(d) on every dict below o (tshark JSON) until it returns True (then not below
    that dict)."""
    if isinstance(o, dict):
        if visit(o):
            return
        for v in o.values():
            json_walk(v, visit)
    elif isinstance(o, list):
        for v in o:
            json_walk(v, visit)


def quic_frames(qpkt):
    """The QUIC frames of one QUIC packet of tshark's JSON (they sit under a subtree)."""
    found = []

    def visit(d):
        if "quic.frame_type" in d:
            found.append(d)
            return True
        return False
    json_walk(qpkt, visit)
    return found


def find_key(o, key):
    """Every value of `key` anywhere below o (tshark JSON)."""
    found = []

    def visit(d):
        for k, v in d.items():
            if k == key:
                found.extend(as_list(v))
            else:
                json_walk(v, visit)
        return True
    json_walk(o, visit)
    return found


# --------------------------------------------------------------------------------------------
# WebSocket frames

def parse_ws(buf):
    """Complete WebSocket frames at the start of buf: ([fields], bytes used). fields: fin,
    rsv1, opcode (name), masked, payload_length, close_code, close_reason, wire (frame length
    with header and mask key)."""
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


class WsCutter:
    """WebSocket frames cut out of byte streams, one per key (a stream and direction), each fed
    in order."""

    def __init__(self):
        self.bufs = {}
        self.counts = {}

    def feed(self, key, data):
        """[(ws_index, fields)] of the frames `data` completes on `key` (index from 1)."""
        buf = self.bufs.get(key, b"") + data
        frames, used = parse_ws(buf)
        self.bufs[key] = buf[used:]
        out = []
        for f in frames:
            self.counts[key] = self.counts.get(key, 0) + 1
            out.append((self.counts[key], f))
        return out

    def left(self):
        """{key: bytes left unparsed} where any are."""
        return {k: len(v) for k, v in self.bufs.items() if v}


def ws_client_events(st, reply, now=None, rcvd_then_sent=False):
    """Handle the wsproto events of a client WebSocket. st: {"ws": wsproto Connection,
    "rec": its log, "buf": message so far, "inbox": messages, "pings": {payload: time sent}};
    reply(event) sends a frame (ping and close replies). now: the time of the events (default:
    each event's own); rcvd_then_sent: also log close_rcvd_then_sent."""
    from wsproto.events import BytesMessage, CloseConnection, Ping, Pong, TextMessage
    rec = st["rec"]
    for ev in st["ws"].events():
        tnow = time.time() if now is None else now
        if isinstance(ev, (TextMessage, BytesMessage)):
            st["buf"] += ev.data.encode() if isinstance(ev, TextMessage) else ev.data
            if ev.message_finished:
                rec["received"]["messages"] += 1
                rec["received"]["bytes"] += len(st["buf"])
                rec["received_sizes"].append(len(st["buf"]))
                st["inbox"].append(st["buf"])
                st["buf"] = b""
        elif isinstance(ev, Pong):
            sent = st["pings"].pop(bytes(ev.payload), None)
            if sent is not None:
                rec["pings_rtt_ms"].append(round((tnow - sent) * 1000, 3))
        elif isinstance(ev, Ping):
            reply(ev.response())
        elif isinstance(ev, CloseConnection):
            rec["close_received"] = {"code": ev.code, "reason": ev.reason}
            if rec["close_sent"] is None:
                rec["close_initiator"] = "server"
                if rcvd_then_sent:
                    rec["close_rcvd_then_sent"] = True
                rec["close_sent"] = {"code": ev.code, "reason": ev.reason}
                reply(ev.response())
            elif rcvd_then_sent:
                rec["close_rcvd_then_sent"] = False
            rec["t_closed"] = tnow


# --------------------------------------------------------------------------------------------
# aioquic HTTP/3 server and client (the QUIC labs)

def record_quic(script, tmp, client_main, extra_serve_args=(), settle=0.5):
    """Run a QUIC lab: `script --serve READY LOG CERT KEY KEYLOG [extra...]` (an aioquic server
    on a UDP port of 127.0.0.1 it writes to READY), tcpdump on that port, then
    client_main(port, client key log, cert) in this process (returns one record per
    connection). Returns (port, raw capture, client records, {original DCID: server record},
    merged key-log lines)."""
    cert, key = make_cert(tmp, "DNS:localhost,IP:127.0.0.1")
    raw = os.path.join(tmp, "raw.pcap")
    srv_log, ready = os.path.join(tmp, "server.jsonl"), os.path.join(tmp, "port")
    kl_srv, kl_cli = os.path.join(tmp, "keylog-server.txt"), os.path.join(tmp, "keylog-client.txt")
    procs = {}
    try:
        procs["server"] = start_server(script, tmp, [ready, srv_log, cert, key, kl_srv]
                                       + list(extra_serve_args))
        wait_for(lambda: os.path.exists(ready), 20, "the server's port")
        port = int(open(ready).read())
        procs["tcpdump"] = start_tcpdump(tmp, raw, "udp port %d" % port)
        gt = asyncio.run(client_main(port, kl_cli, cert))
        # every connection over on the server too
        wait_for(lambda: os.path.exists(srv_log) and
                 len(open(srv_log).read().splitlines()) >= len(gt), 10,
                 "the server's end of every connection")
        time.sleep(settle)
        stop(procs["server"], signal.SIGTERM, 10)
        time.sleep(0.3)
        stop(procs["tcpdump"], signal.SIGINT, 10)
    finally:
        for p in procs.values():
            stop(p, signal.SIGKILL, 5)
    check_server_output(tmp)
    srv = read_jsonl(srv_log, "original_dcid")
    # key log: the client's and the server's lines, merged (they are the same secrets)
    lines = merge_keylogs([kl_cli, kl_srv])
    expect_connections(lines, len(gt))
    return port, raw, gt, srv, lines


def h3_server_config(cert, key, keylog, idle_timeout, **kw):
    from aioquic.h3.connection import H3_ALPN
    from aioquic.quic.configuration import QuicConfiguration
    cfg = QuicConfiguration(is_client=False, alpn_protocols=H3_ALPN, idle_timeout=idle_timeout,
                            secrets_log_file=open(keylog, "a", buffering=1), **kw)
    cfg.load_cert_chain(cert, key)
    return cfg


def h3_serve(ready, cfg, protocol):
    """aioquic server on 127.0.0.1, a free UDP port (written to the file `ready`), until
    SIGTERM / SIGINT."""
    from aioquic.asyncio import serve as aq_serve

    async def main():
        stop_ev = asyncio.Event()
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGTERM, stop_ev.set)
        loop.add_signal_handler(signal.SIGINT, stop_ev.set)
        server = await aq_serve("127.0.0.1", 0, configuration=cfg, create_protocol=protocol)
        port = server._transport.get_extra_info("sockname")[1]
        with open(ready + ".tmp", "w") as f:
            f.write(str(port))
        os.rename(ready + ".tmp", ready)
        await stop_ev.wait()
        server.close()

    asyncio.run(main())


def server_record(quic, **extra):
    """The start of a server's log of one connection."""
    rec = {"event": "connection",
           "original_dcid": quic.original_destination_connection_id.hex(),
           "server_cid": quic.host_cid.hex()}
    rec.update(extra)
    return rec


def note_end(rec, event, server=False):
    """A ConnectionTerminated event in a connection's log (t_end, end; a server's, which never
    closes a connection itself, also end_reason)."""
    rec["t_end"] = time.time()
    rec["end"] = {"error_code": event.error_code, "frame_type": event.frame_type,
                  "reason_phrase": event.reason_phrase}
    if server:
        rec["end_reason"] = ("idle_timeout" if event.reason_phrase == "Idle timeout"
                             else "close_received")


def h3_answer(h3, sid, method, path, r, server_name):
    """A server's answer to a request other than an extended CONNECT: `GET /bytes/N` gets N
    bytes, anything else 404. r: the request's log (status, body_bytes)."""
    if method == "GET" and path.startswith("/bytes/"):
        n = int(path.rsplit("/", 1)[1])
        body = random.Random(n).randbytes(n)
        r["status"], r["body_bytes"] = 200, n
        h3.send_headers(sid, [(b":status", b"200"),
                              (b"content-type", b"application/octet-stream"),
                              (b"content-length", str(n).encode()),
                              (b"server", server_name)])
        h3.send_data(sid, body, end_stream=True)
    else:
        r["status"] = 404
        h3.send_headers(sid, [(b":status", b"404")], end_stream=True)


def h3_client_base():
    """An aioquic client protocol class with an H3Connection: until(pred) waits on events,
    get() makes a GET request, close_h3() closes with H3_NO_ERROR; handshake and end go to
    self.rec. self.streams: {stream id: {"sid", "kind", "rec": the stream's log, "peer_fin"}}.
    Subclasses may handle on_quic_event(event) (before HTTP/3 sees it) and other kinds of
    streams in on_h3_event(stream state, event, time)."""
    from aioquic.asyncio import QuicConnectionProtocol
    from aioquic.h3.connection import H3Connection
    from aioquic.h3.events import DataReceived, HeadersReceived
    from aioquic.quic import events as qev

    class H3Client(QuicConnectionProtocol):
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

        def on_quic_event(self, event):
            pass

        def on_h3_event(self, st, hev, now):
            """A GET's response."""
            r = st["rec"]
            if isinstance(hev, HeadersReceived):
                hd = {k.decode(): v.decode() for k, v in hev.headers}
                r["status"] = int(hd[":status"])
                r["t_headers"] = now
            elif isinstance(hev, DataReceived) and hev.data:
                if r["t_first_byte"] is None:
                    r["t_first_byte"] = now
                r["body_bytes"] += len(hev.data)
            if getattr(hev, "stream_ended", False):
                st["peer_fin"] = True
                r["t_done"] = now

        def quic_event_received(self, event):
            if isinstance(event, qev.HandshakeCompleted):
                self.rec["t_handshake_done"] = time.time()
                self.rec["alpn"] = event.alpn_protocol
                self.rec["session_resumed"] = event.session_resumed
            elif isinstance(event, qev.ConnectionTerminated):
                note_end(self.rec, event)
            self.on_quic_event(event)
            for hev in self.h3.handle_event(event):
                st = self.streams.get(hev.stream_id)
                if st is not None:
                    self.on_h3_event(st, hev, time.time())
            self.tick.set()

        async def get(self, path, authority, user_agent, **fields):
            """GET path on a new stream, until the response's end; returns the stream's log
            (with `fields`)."""
            sid = self._quic.get_next_available_stream_id()
            rec = {"kind": "get", "stream_id": sid, "path": path, "status": None,
                   "body_bytes": 0}
            rec.update(fields)
            rec.update({"t_sent": time.time(), "t_headers": None, "t_first_byte": None,
                        "t_done": None})
            st = {"sid": sid, "kind": "get", "rec": rec, "peer_fin": False}
            self.streams[sid] = st
            self.h3.send_headers(sid, [(b":method", b"GET"), (b":scheme", b"https"),
                                       (b":path", path.encode()),
                                       (b":authority", authority.encode()),
                                       (b"user-agent", user_agent)], end_stream=True)
            self.transmit()
            await self.until(lambda: st["peer_fin"], "GET " + path)
            return rec

        def close_h3(self):
            self.closing = True
            self.rec["t_close_sent"] = time.time()
            self.close(error_code=H3_NO_ERROR)

    return H3Client


def h3_connect(port, protocol, keylog, cafile, idle_timeout):
    """(configuration, `async with` connection) of an aioquic client to 127.0.0.1:port that
    verifies the server's certificate (cafile) for localhost; keylog: an open file."""
    from aioquic.asyncio import connect
    from aioquic.h3.connection import H3_ALPN
    from aioquic.quic.configuration import QuicConfiguration
    cfg = QuicConfiguration(is_client=True, alpn_protocols=H3_ALPN, idle_timeout=idle_timeout,
                            secrets_log_file=keylog, server_name="localhost")
    cfg.load_verify_locations(cafile)
    return cfg, connect("127.0.0.1", port, configuration=cfg, create_protocol=protocol)


def client_record(label, proto, port, t_start, **extra):
    """The start of the client's log of one connection (after the handshake)."""
    q = proto._quic
    rec = {"label": label, "server_port": port,
           "original_dcid": q.original_destination_connection_id.hex(),
           "client_cid": q.host_cid.hex(), "server_cid": q._peer_cid.cid.hex(),
           "version": hex(q._version), "alpn": proto.rec["alpn"], "t_start": t_start,
           "t_handshake_done": proto.rec["t_handshake_done"]}
    rec.update(extra)
    return rec


def client_end(rec, proto):
    """How the connection ended, from the client protocol's log."""
    rec["t_close_sent"] = proto.rec.get("t_close_sent")
    rec["t_end"] = proto.rec["t_end"]
    rec["end"] = proto.rec["end"]


def peer_settings(h3):
    return {str(k): v for k, v in h3.received_settings.items()}
