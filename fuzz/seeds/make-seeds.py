#!/usr/bin/env python3
"""Writes the hand-made seeds of the fuzz targets http2, keylog and tls_decrypt (and the small
pcapng seeds of analyze) into fuzz/seeds/<target>/. The input formats are those of the harnesses
in crates/pcapstat-core/src/fuzzing.rs. Seeds that come from fuzzing (crashes, minimised
corpus entries) are committed as they are and are not made here. Run from the repository root:
python3 fuzz/seeds/make-seeds.py"""

import os
import struct

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)))
PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"


def write(target, name, data):
    d = os.path.join(ROOT, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def frame(ty, flags, stream, payload):
    return struct.pack(">I", len(payload))[1:] + bytes([ty, flags]) + struct.pack(">I", stream) + payload


def http2_input(mode, client, server, ctl=b""):
    total = len(client) + len(server)
    ratio = 255 if total == 0 else min(255, (len(client) * 255 + total - 1) // total)
    return bytes([mode, ratio, len(ctl)]) + ctl + client + server


# --- http2 -------------------------------------------------------------------------------
SETTINGS = frame(4, 0, 0, b"\x00\x01\x00\x00\x10\x00")  # HEADER_TABLE_SIZE 4096
SETTINGS_ACK = frame(4, 1, 0, b"")
GET = frame(1, 5, 1, b"\x82\x84\x86\x41\x8a\x08\x9d\x5c\x0b\x81\x70\xdc\x78\x0f\x03")  # GET / http :authority (huffman)
OK = frame(1, 4, 1, b"\x88")  # :status 200
DATA = frame(0, 1, 1, b"hello")
# Prior knowledge, preface sent by the harness, ctl: client chunks of 7, server chunks of 3.
write("http2", "prior-knowledge-get.bin",
      http2_input(4, SETTINGS + GET, SETTINGS + SETTINGS_ACK + OK + DATA, bytes([6, 0x82])))
# Preface in the input; padded HEADERS + CONTINUATION; interim 103; trailers; RST; GOAWAY; a gap.
hdr = b"\x82\x84\x86"
client = (PREFACE + SETTINGS
          + frame(1, 0x8 | 0x20, 3, b"\x02" + b"\x00\x00\x00\x00\x10" + hdr[:2] + b"\x00\x00")
          + frame(9, 4, 3, hdr[2:])
          + frame(0, 0, 3, b"body") + frame(1, 5, 3, b"\x40\x01x\x01y")  # trailers, END_STREAM
          + frame(1, 5, 5, b"\x83\x84\x86") + frame(3, 0, 5, b"\x00\x00\x00\x08")
          + frame(7, 0, 0, b"\x00\x00\x00\x05\x00\x00\x00\x00"))
server = (SETTINGS + frame(1, 4, 3, b"\x48\x03103") + frame(1, 4, 3, b"\x89")
          + frame(0, 8, 3, b"\x03abc\x00\x00\x00") + frame(6, 0, 0, b"\x00" * 8)
          + frame(0, 1, 3, b"x" * 40))
write("http2", "continuation-padding-trailers.bin",
      http2_input(0, client, server, bytes([0x3f, 0xbf, 0x10, 0x90])))
write("http2", "gap-in-data.bin",
      http2_input(4, SETTINGS + GET, OK + frame(0, 1, 1, b"y" * 200), bytes([0x3f, 0x8f, 0xfa, 0xbf])))
# Upgrade: stream 1 answered in HTTP/2; small limits.
write("http2", "upgraded-small-limits.bin",
      http2_input(2 | 8 | 16, PREFACE + SETTINGS, SETTINGS + OK + DATA))
# RFC 8441: an extended CONNECT (literal fields) answered 200, WebSocket frames in padded DATA,
# a close each way with END_STREAM, a second CONNECT reset.
def lit(name, value):
    return b"\x00" + bytes([len(name)]) + name + bytes([len(value)]) + value
def connect(stream, path):
    block = (lit(b":method", b"CONNECT") + lit(b":protocol", b"websocket") + lit(b":scheme", b"https")
             + lit(b":path", path) + lit(b":authority", b"ws.example"))
    return frame(1, 4, stream, block)
ws_hello = b"\x81\x85\x01\x02\x03\x04" + bytes(b ^ m for b, m in zip(b"hello", b"\x01\x02\x03\x04\x01"))
ws_close_c = b"\x88\x82\x00\x00\x00\x00\x03\xe8"
client = (PREFACE + SETTINGS + connect(1, b"/chat") + frame(0, 8, 1, b"\x02" + ws_hello + b"\x00\x00")
          + connect(3, b"/feed") + frame(3, 0, 3, b"\x00\x00\x00\x08") + frame(0, 1, 1, ws_close_c))
server = (frame(4, 0, 0, b"\x00\x08\x00\x00\x00\x01") + frame(1, 4, 1, b"\x88") + frame(0, 0, 1, b"\x81\x05hello")
          + frame(1, 4, 3, b"\x88") + frame(0, 1, 1, b"\x88\x02\x03\xe8"))
write("http2", "extended-connect-websocket.bin",
      http2_input(0, client, server, bytes([0x3f, 0xbf, 0x05, 0x87])))
# HPACK alone: RFC 7541 C.3 (no Huffman) then C.4 (Huffman) request blocks, a size update.
c3 = [bytes.fromhex(h) for h in [
    "828684410f7777772e6578616d706c652e636f6d",
    "828684be58086e6f2d6361636865",
    "828785bf400a637573746f6d2d6b65790c637573746f6d2d76616c7565"]]
c4 = [bytes.fromhex(h) for h in [
    "828684418cf1e3c2e5f23a6ba0ab90f4ff",
    "828684be5886a8eb10649cbf",
    "828785bf408825a849e95ba97d7f8925a849e95bb8e8b4bf"]]
def hpack_input(allowed, blocks):
    return bytes([1]) + struct.pack(">H", allowed) + b"".join(struct.pack(">H", len(b)) + b for b in blocks)
write("http2", "hpack-rfc7541-c3.bin", hpack_input(4096, c3))
write("http2", "hpack-rfc7541-c4-size-update.bin", hpack_input(256, c4 + [b"\x3f\xe1\x01" + c4[0]]))

# --- keylog ------------------------------------------------------------------------------
R = "cb34ecb1e78163ba1c38c6dacb196a6dffa21a8d9912ec18a2ef6283024dece7"
text = (f"# comment\nCLIENT_RANDOM {R} {'ab' * 48}\n"
        f"CLIENT_HANDSHAKE_TRAFFIC_SECRET {R} {'01' * 32}\n"
        f"SERVER_TRAFFIC_SECRET_0 {R} {'02' * 48}\nRSA 0011223344556677 {'00' * 48}\n"
        "EXPORTER_SECRET x y\nCLIENT_RANDOM zz\n\n")
write("keylog", "text.bin", b"\x00" + text.encode())
dsb_body = struct.pack("<II", 0x544C534B, len(text)) + text.encode()
write("keylog", "dsb-body-le.bin", b"\x01" + dsb_body)


def block(ty, body, be=False):
    e = ">" if be else "<"
    body += b"\x00" * (-len(body) % 4)
    n = 12 + len(body)
    return struct.pack(e + "II", ty, n) + body + struct.pack(e + "I", n)


def pcapng(be=False, packets=1, secrets=text.encode()):
    e = ">" if be else "<"
    shb = block(0x0A0D0D0A, struct.pack(e + "IHHq", 0x1A2B3C4D, 1, 0, -1), be)
    dsb = block(0x0000000A, struct.pack(e + "II", 0x544C534B, len(secrets)) + secrets, be)
    idb = block(1, struct.pack(e + "HHI", 1, 0, 65535), be)
    pkt = bytes(range(60))
    epbs = b"".join(block(6, struct.pack(e + "IIIII", 0, 0, 1000 + i, 60, 60) + pkt, be)
                    for i in range(packets))
    late = block(0x0000000A, struct.pack(e + "II", 0x57474B4C, 4) + b"wgkl", be)
    return shb + dsb + idb + epbs + late


write("keylog", "pcapng-dsb-whole.bin", b"\x02" + pcapng())
write("keylog", "pcapng-dsb-streamed-be.bin", b"\x03" + pcapng(be=True, packets=2))

# --- analyze -----------------------------------------------------------------------------
write("analyze", "pcapng-dsb-no-packets.pcapng", pcapng(packets=0))



def lab_tls_connection():
    """The smallest TLS connection of testdata/lab/d_tls_resumption/capture-with-keys.pcapng
    (a resumed TLS 1.2 one, no certificate) with only its own key line in the DSB."""
    import collections
    src = os.path.join(ROOT, "../../testdata/lab/d_tls_resumption/capture-with-keys.pcapng")
    data = open(src, "rb").read()
    pos, blocks = 0, []
    while pos + 12 <= len(data):
        ty, ln = struct.unpack_from("<II", data, pos)
        blocks.append((ty, data[pos:pos + ln]))
        pos += ln
    conns = collections.OrderedDict()
    for i, (t, b) in enumerate(blocks):
        if t != 6:
            continue
        pkt = b[28:28 + struct.unpack_from("<I", b, 20)[0]]
        if pkt[12:14] != b"\x08\x00" or pkt[23] != 6:
            continue
        ip = pkt[14:]
        ihl = (ip[0] & 15) * 4
        tcp = ip[ihl:]
        sp, dp = struct.unpack_from(">HH", tcp, 0)
        payload = tcp[(tcp[12] >> 4) * 4:struct.unpack_from(">H", ip, 2)[0] - ihl]
        c = conns.setdefault(tuple(sorted([(ip[12:16], sp), (ip[16:20], dp)])),
                             {"blocks": [], "bytes": 0, "cr": None})
        c["blocks"].append(i)
        c["bytes"] += len(b)
        if payload[:1] == b"\x16" and len(payload) > 43 and payload[5] == 1 and c["cr"] is None:
            c["cr"] = payload[11:43].hex()
    best = min((c for c in conns.values() if c["cr"]), key=lambda c: c["bytes"])
    keys = blocks[1][1]
    text = keys[16:16 + struct.unpack_from("<I", keys, 12)[0]].decode()
    sec = ("\n".join(l for l in text.splitlines() if best["cr"] in l) + "\n").encode()
    body = struct.pack("<II", 0x544C534B, len(sec)) + sec
    body += b"\0" * (-len(body) % 4)
    dsb = struct.pack("<II", 0xA, 12 + len(body)) + body + struct.pack("<I", 12 + len(body))
    return blocks[0][1] + dsb + blocks[2][1] + b"".join(blocks[i][1] for i in best["blocks"])


write("analyze", "tls12-resumed-conn-with-dsb.pcapng", lab_tls_connection())

# --- tls_decrypt -------------------------------------------------------------------------
def op_sealed(d, ty_idx, plain, split=False):
    o = d | (ty_idx << 3) | 0x20 | (0x40 if split else 0)
    return bytes([o]) + struct.pack(">H", len(plain)) + plain


def op_raw(d, raw):
    return bytes([2 + d | 0x20]) + struct.pack(">H", len(raw)) + raw


H1_REQ = b"GET /index.html HTTP/1.1\r\nHost: example.com\r\n\r\n"
H1_RESP = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"
H2_REQ = PREFACE + SETTINGS + GET
H2_RESP = SETTINGS + OK + DATA
# cfg: bits 0-2 suite (0x1301 0x1302 0x1303 0xc02f 0xc030 0xcca8), 3-4 ALPN, 5 full handshake.
write("tls_decrypt", "tls13-aes128-h2.bin",
      bytes([0x20 | (1 << 3) | 0]) + op_sealed(0, 0, H2_REQ) + op_sealed(1, 0, H2_RESP))
write("tls_decrypt", "tls12-gcm-http11.bin",
      bytes([0x20 | (2 << 3) | 3]) + op_sealed(0, 0, H1_REQ, split=True) + op_sealed(1, 0, H1_RESP))
# ChaCha20 TLS 1.3 with a client KeyUpdate (handshake record, then the harness's next key).
write("tls_decrypt", "tls13-chacha-keyupdate.bin",
      bytes([0x20 | 2]) + op_sealed(0, 1, b"\x18\x00\x00\x01\x00") + bytes([5])
      + op_sealed(0, 0, H1_REQ) + op_sealed(1, 0, H1_RESP) + op_sealed(0, 2, b"\x01\x00"))
# TLS 1.2 ChaCha20 handshake driven by the ops: CCS, encrypted Finished each side, then data.
fin12 = b"\x14\x00\x00\x0c" + b"\xf1" * 12
write("tls_decrypt", "tls12-chacha-ops-handshake.bin",
      bytes([(1 << 3) | 5]) + bytes([7]) + op_sealed(0, 1, fin12) + bytes([0x0f])
      + op_sealed(1, 1, fin12) + op_sealed(0, 0, H2_REQ) + op_sealed(1, 0, H2_RESP))
# TLS 1.3 AES-256 handshake driven by the ops (EncryptedExtensions with ALPN http/1.1), then a
# gap, garbage and a close.
alpn = b"\x00\x10\x00\x0b\x00\x09http/1.1"
ee = b"\x08\x00\x00" + bytes([len(alpn) + 2]) + struct.pack(">H", len(alpn)) + alpn
fin13 = b"\x14\x00\x00\x30" + b"\xf1" * 48
write("tls_decrypt", "tls13-aes256-ops-handshake-gap.bin",
      bytes([1]) + op_sealed(1, 1, ee + fin13) + bytes([5 | 8]) + op_sealed(0, 1, fin13) + bytes([5])
      + op_sealed(0, 0, H1_REQ) + bytes([4 | 8, 3]) + op_raw(1, b"\x17\x03\x03\x00\x05abcde")
      + bytes([6]))
# cfg bits 6 and 7 both set: no key log, so nothing is decrypted and the exchanges are inferred
# from the records' sizes and order (crates/pcapstat-core/src/proto/tls/infer.rs).
write("tls_decrypt", "nokey-tls13-aes128-h2.bin",
      bytes([0xc0 | 0x20 | (1 << 3) | 0]) + op_sealed(0, 0, H2_REQ) + op_sealed(1, 0, H2_RESP)
      + op_sealed(0, 0, GET) + op_sealed(1, 0, OK + DATA))
write("tls_decrypt", "nokey-tls12-gcm-http11.bin",
      bytes([0xc0 | 0x20 | (2 << 3) | 3]) + op_sealed(0, 0, H1_REQ, split=True)
      + op_sealed(1, 0, H1_RESP) + op_sealed(0, 0, H1_REQ) + op_sealed(1, 0, H1_RESP)
      + op_sealed(0, 2, b"\x01\x00"))


# --- websocket -----------------------------------------------------------------------------
# mode: bits 0-5 + 1 = chunk size, bit 6 = through an HTTP/1 101, bit 7 = every seventh chunk a
# gap; then frame bytes (RFC 6455 §5.2).
def ws_frame(fin, rsv, opcode, payload, mask=None, long=False):
    out = bytes([(fin << 7) | (rsv << 4) | opcode])
    m = 0x80 if mask else 0
    n = len(payload)
    if long or n > 0xFFFF:
        out += bytes([m | 127]) + struct.pack(">Q", n)
    elif n >= 126:
        out += bytes([m | 126]) + struct.pack(">H", n)
    else:
        out += bytes([m | n])
    if mask:
        out += mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    else:
        out += payload
    return out


K = b"\x12\x34\x56\x78"
echo = (ws_frame(1, 0, 1, b"hello", K) + ws_frame(1, 0, 1, b"hello")
        + ws_frame(1, 0, 9, b"ping", K) + ws_frame(1, 0, 10, b"ping")
        + ws_frame(1, 0, 8, b"\x03\xe8bye", K) + ws_frame(1, 0, 8, b"\x03\xe8bye"))
write("websocket", "echo-ping-close.bin", bytes([0]) + echo)
write("websocket", "echo-through-101-chunks-of-3.bin", bytes([0x40 | 2]) + echo)
frag = (ws_frame(0, 4, 1, b"abc", K) + ws_frame(1, 0, 9, b"x", K) + ws_frame(0, 0, 0, b"d" * 300, K)
        + ws_frame(1, 0, 0, b"end", None, long=True) + ws_frame(1, 0, 2, b"z" * 600, None, long=True))
write("websocket", "fragmented-16-64-bit-lengths-gaps.bin", bytes([0x80 | 0x3f]) + frag)
write("websocket", "reserved-opcode.bin", bytes([5]) + ws_frame(1, 0, 1, b"a") + b"\x83\x00")
write("websocket", "huge-64-bit-length.bin", bytes([0]) + b"\x82\x7f\x7f" + b"\xff" * 7 + b"x" * 64)
# quic: the ClientHello and ServerHello frames of RFC 9001 Appendix A (A.2 CRYPTO frame, A.3
# ACK + CRYPTO), sealed by the harness as Initial packets of v1 or v2, then a 1-RTT packet.
QUIC_CH = bytes.fromhex(
    "060040f1010000ed0303ebf8fa56f12939b9584a3896472ec40bb863cfd3e86804fe3a47f06a2b69484c"
    "00000413011302010000c000000010000e00000b6578616d706c652e636f6dff01000100000a00080006"
    "001d0017001800100007000504616c706e000500050100000000003300260024001d00209370b2c9caa4"
    "7fbabaf4559fedba753de171fa71f50f1ce15d43e994ec74d748002b0003020304000d0010000e040305"
    "0306030203080408050806002d00020101001c00024001003900320408ffffffffffffffff05048000ff"
    "ff07048000ffff0801100104800075300901100f088394c8f03e51570806048000ffff")
QUIC_SH = bytes.fromhex(
    "02000000000600405a020000560303eefce7f7b37ba1d1632e96677825ddf73988cfc79825df566dc543"
    "0b9a045a1200130100002e00330024001d00209d3c940d89690b84d08a60993c144eca684d1081287c83"
    "4d5311bcf32bb9da1a002b00020304")


def quic_op(o, data):
    return bytes([o]) + struct.pack(">H", len(data)) + data


def crypto(offset, data):
    # CRYPTO frame with 2-byte varints for offset and length.
    return b"\x06" + struct.pack(">HH", 0x4000 | offset, 0x4000 | len(data)) + data


short = quic_op(0x80, b"\x40\x01\x02\x03\x04")
for cfg, name in [(0, "v1-handshake.bin"), (1, "v2-handshake.bin")]:
    write("quic", name, bytes([cfg]) + quic_op(0x40 | 2, QUIC_CH) + quic_op(0xC0 | 1, QUIC_SH) + short)
# The ClientHello's CRYPTO data in two frames, the later half first, and one retransmitted.
ch = QUIC_CH[4:]
write("quic", "v1-crypto-out-of-order.bin",
      bytes([0]) + quic_op(0x40 | 0, crypto(100, ch[100:])) + quic_op(0x40 | 1, crypto(0, ch[:120]))
      + quic_op(0x40 | 2, crypto(0, ch[:50])) + quic_op(0xC0, QUIC_SH))
# Version Negotiation answering a v2 Initial, then the v1 attempt; a Retry; trailing padding.
vn = b"\x80\x00\x00\x00\x00\x00\x08" + bytes.fromhex("8394c8f03e515708") + b"\x00\x00\x00\x01"
retry = b"\xf0\x00\x00\x00\x01\x00\x08" + bytes.fromhex("f067a5502a4262b5") + b"token" + b"\x00" * 16
write("quic", "vn-retry-padding.bin",
      bytes([3]) + quic_op(0x40, QUIC_CH) + quic_op(0x80, vn) + quic_op(0x80, retry)
      + quic_op(0x20 | 0x40, QUIC_CH + b"\x00" * 30) + quic_op(0x00, b"\xc0\x00\x00\x00\x01\x15" + b"\x00" * 40))
# With the harness's key log: 1-RTT packets both ways (sealed ops with bit 4 set): the server's
# HANDSHAKE_DONE + PING (pn 0), its next packet under the next key phase (pn 2, one skipped),
# the client's ACK of pn 2.
ping_done = b"\x1e\x01"
ack2 = b"\x02\x02\x00\x00\x00"
write("quic", "v1-one-rtt-key-update.bin",
      bytes([4]) + quic_op(0x40 | 2, QUIC_CH) + quic_op(0xC0 | 1, QUIC_SH)
      + quic_op(0x80 | 0x50, ping_done) + quic_op(0x80 | 0x50 | 0x08 | 2, ping_done)
      + quic_op(0x50, ack2))
# 0-RTT (data[0] bits 2 and 3): the client's ClientHello, then a 0-RTT packet (pn 0) with a
# STREAM frame (type 0x0b: offset 0, length, FIN) on stream 0 holding an HTTP/3 HEADERS frame
# (GET https://a.test/x), then the ServerHello.
h3_get = bytes([0x01, 14, 0, 0, 0xd1, 0xd7, 0x50, 0x06]) + b"a.test" + b"\x51\x02/x"
write("quic", "v1-zero-rtt-request.bin",
      bytes([12]) + quic_op(0x40 | 2, QUIC_CH) + quic_op(0x50, bytes([0x0b, 0, len(h3_get)]) + h3_get)
      + quic_op(0xC0 | 1, QUIC_SH))

# --- h3 ----------------------------------------------------------------------------------
# Operations: flag byte (bits 0-2: stream [0, 4, 8, 2, 3, 6, 7, 1]; bit 7: from the server;
# bit 6: FIN; bit 5: RESET_STREAM), 2-byte offset, 1-byte length, bytes.


def h3_op(o, offset, data):
    return bytes([o]) + struct.pack(">H", offset) + bytes([len(data)]) + data


def h3_frame(ty, payload):
    return bytes([ty, len(payload)]) + payload


# GET https://a.test/x (static :method GET, :scheme https; :authority and :path literals with
# static names); response :status 200 and two DATA frames.
H3_REQ = h3_frame(1, b"\x00\x00\xd1\xd7\x50\x06a.test\x51\x02/x")
H3_RESP = h3_frame(1, b"\x00\x00\xd9") + h3_frame(0, b"hello") + h3_frame(0, b"world!")
write("h3", "request-out-of-order.bin",
      b"\x00" + h3_op(0x40, 0, H3_REQ) + h3_op(0xC0, 6, H3_RESP[6:]) + h3_op(0x80, 2, H3_RESP[2:9])
      + h3_op(0x80, 0, H3_RESP[:4]))
# Control stream SETTINGS (QPACK capacity 4096) from the client, a response blocked on the
# server's encoder stream (capacity 220, insert :status 204), a reset stream.
ctl = b"\x00" + h3_frame(4, b"\x01\x50\x00")
enc = b"\x02" + bytes.fromhex("3fbd01") + b"\xd8\x03204"
write("h3", "blocked-then-encoder.bin",
      b"\x00" + h3_op(0x03, 0, ctl) + h3_op(0x40, 0, H3_REQ) + h3_op(0xC0, 0, h3_frame(1, b"\x02\x00\x80") + h3_frame(0, b"ok"))
      + h3_op(0x84, 0, enc) + h3_op(0x41, 0, H3_REQ) + h3_op(0xA1, 0, b""))
# RFC 9220: CONNECT :protocol websocket on stream 0 answered 200 with a WebSocket message in the
# same STREAM frame; a masked client message, closes both ways with FIN; stream 4 the same
# CONNECT reset by the client after 200.
H3_WS = h3_frame(1, b"\x00\x00\xcf\xd7\x50\x06a.test\x51\x05/chat\x27\x02:protocol\x09websocket")
ws_hi = b"\x81\x82\x01\x02\x03\x04" + bytes(b ^ m for b, m in zip(b"hi", b"\x01\x02"))
write("h3", "websocket-extended-connect.bin",
      b"\x00" + h3_op(0x00, 0, H3_WS) + h3_op(0x80, 0, h3_frame(1, b"\x00\x00\xd9") + h3_frame(0, b"\x81\x02yo"))
      + h3_op(0x00, len(H3_WS), h3_frame(0, ws_hi))
      + h3_op(0x40, len(H3_WS) + 2 + len(ws_hi), h3_frame(0, b"\x88\x82\x00\x00\x00\x00\x03\xe8"))
      + h3_op(0xC0, 11, h3_frame(0, b"\x88\x02\x03\xe8"))
      + h3_op(0x01, 0, H3_WS) + h3_op(0x81, 0, h3_frame(1, b"\x00\x00\xd9")) + h3_op(0x21, 0, b""))
# QPACK alone: RFC 9204 B.2 (encoder bytes, then the section with post-base indices) and B.1.
b2_enc = bytes.fromhex("3fbd01c00f7777772e6578616d706c652e636f6dc10c2f73616d706c652f70617468")
write("h3", "qpack-rfc9204-b2.bin",
      b"\x01" + bytes([len(b2_enc)]) + b2_enc + b"\x04" + bytes.fromhex("03811011")
      + bytes([15]) + bytes.fromhex("0000510b2f696e6465782e68746d6c"))
