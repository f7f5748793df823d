//! Fuzz harnesses, not part of the API (feature `fuzzing`, and `cargo test`).
//!
//! Each function is the whole body of one cargo-fuzz target in `fuzz/fuzz_targets/`; the same
//! functions replay the committed seeds of `fuzz/seeds/<target>/` in `cargo test`
//! (`seeds_replay_without_panic` below), so an input that once crashed a target is checked on
//! stable, without libFuzzer. The input formats are documented per function and in
//! `fuzz/seeds/README.md`. The harnesses may panic on a broken invariant (that is a finding);
//! the library must not, whatever the bytes.

use std::sync::{Arc, OnceLock};

use crate::analysis::Analyzer;
use crate::proto::tls::decrypt::{tls12_keys, RecordKey, Suite};

// The internals that the integration tests (`tests/`, which drive the parsers and the TCP
// tracker directly) and the benchmarks (`benches/`) use; not part of the API.
pub use crate::app::{AppFactory, MIDSTREAM_PROBE_LIMIT_BYTES};
pub use crate::decode::Decoder;
pub use crate::flow::{shard_of, Endpoint};
pub use crate::packet::{IpPair, TcpFlags, TcpSegment, Transport};
pub use crate::pipeline::{run_with_udp, PipelineConfig, PipelineOutput};
pub use crate::proto::dns::{DnsConfig, DnsTcpMessage, DnsTcpParser, DnsTracker};
pub use crate::proto::http::{HttpConfig, HttpParser};
pub use crate::proto::http2::{Http2Config, Http2Parser};
pub use crate::proto::tls::TlsParser;
pub use crate::proto::websocket::{FrameError, FrameHead, FrameReader, Piece, WebSocketParser};
pub use crate::proto::Probe;
pub use crate::tcp::{
    ConnMeta, Direction, NullSinkFactory, SinkFactory, StreamSink, TcpOutput, TcpTracker,
};
pub use crate::timing::request_timings;

use crate::app::AppConfig;
use crate::capture::Capture;
use crate::proto::tls::KeyLog;
use crate::record::{ConnectionRecord, HttpExchange, HttpRecord, Outcome, RolesFrom};

const C2S: Direction = Direction::ClientToServer;
const S2C: Direction = Direction::ServerToClient;

/// Target `decode_shortcut`: one frame decoded with the plain Ethernet/IPv4/TCP shortcut and
/// with the general walk only, which must give the same result and counters. Input: byte 0
/// picks the link type (Ethernet, raw IP, Ethernet with FCS flags in the high bits), bytes 1–2
/// (big-endian) are the bytes cut by the snap length (original length minus captured), the
/// rest is the frame.
pub fn decode_shortcut(data: &[u8]) {
    let (Some(&lt), Some(&[a, b])) = (data.first(), data.get(1..3)) else {
        return;
    };
    let linktype = [1u32, 101, 0x1000_0001][usize::from(lt % 3)];
    let bytes = data.get(3..).unwrap_or_default();
    let frame = crate::capture::Frame {
        index: 0,
        ts_ns: 1_000_000_000,
        linktype: crate::capture::LinkType(linktype),
        interface: 0,
        data: bytes,
        orig_len: u32::try_from(bytes.len())
            .unwrap_or(u32::MAX)
            .saturating_add(u32::from(u16::from_be_bytes([a, b]))),
    };
    crate::decode::compare_shortcut(&frame);
}

/// Target `h3`: HTTP/3 request and unidirectional streams from STREAM frames (reassembly,
/// HTTP/3 frames, QPACK with the encoder stream) and QPACK field sections alone; the input
/// format is `proto::quic::h3::fuzz`'s (`fuzz/seeds/README.md`). Checks that every buffer the
/// streams held is given back.
pub fn h3(data: &[u8]) {
    let _ = crate::proto::quic::fuzz_h3(data);
}

/// Target `quic`: QUIC datagrams of one UDP 4-tuple through the reading thread's QUIC test
/// (`app::looks_like_quic`) and the [`QuicTracker`], with Initial packets the harness protects
/// with the right keys (so that header protection, AEAD, CRYPTO reassembly and the ClientHello /
/// ServerHello parsing are reached) mixed with raw bytes.
///
/// `data[0]`: bit 0 = QUIC version 2 (else 1), bit 1 = small connection bound (2: evictions),
/// bit 2 = a key log holds the session of the RFC's ClientHello random (made-up secrets: the
/// Handshake and 1-RTT packets the harness seals are decrypted). Then operations, each an op byte `o` and a 2-byte big-endian length `len` (at most 1500)
/// followed by `len` bytes: bit 7 of `o` = from the server; bit 6 = the bytes are the frames
/// of an Initial packet the harness seals (client: to DCID `8394c8f03e515708`, packet number
/// `o & 0x3f`; server: from SCID `f067a5502a4262b5`), else they are a raw datagram; bit 5 =
/// the datagram comes from another client port (a second connection). With bit 2 of `data[0]`,
/// a sealed op with bit 4 set is a 1-RTT packet instead (to the server's or the client's CID,
/// 1-byte packet number `o & 0x07`; bit 3 = the key phase: sealed with the next phase's key).
/// With bits 2 and 3 of `data[0]`, such a packet from the client is a 0-RTT long-header packet
/// instead, sealed with the key log's `CLIENT_EARLY_TRAFFIC_SECRET`.
pub fn quic(data: &[u8]) {
    let _ = quic_run(data);
}

type QuicOut = (
    Vec<(crate::record::QuicRecord, Option<crate::record::TlsRecord>)>,
    crate::proto::quic::QuicStats,
);

fn quic_run(data: &[u8]) -> Option<QuicOut> {
    use crate::proto::quic::packet::{InitialKeys, PacketKey, VERSION_1, VERSION_2};
    use crate::proto::quic::QuicTracker;
    let (&cfg, mut ops) = data.split_first()?;
    let version = if cfg & 1 != 0 { VERSION_2 } else { VERSION_1 };
    let bound = if cfg & 2 != 0 { 2 } else { 1024 };
    let dcid = [0x83, 0x94, 0xc8, 0xf0, 0x3e, 0x51, 0x57, 0x08];
    let scid = [0xf0, 0x67, 0xa5, 0x50, 0x2a, 0x42, 0x62, 0xb5];
    let keys = InitialKeys::new(version, &dcid)?;
    let one_rtt = cfg & 4 != 0;
    let app = if one_rtt {
        let random = "ebf8fa56f12939b9584a3896472ec40bb863cfd3e86804fe3a47f06a2b69484c";
        let text = format!(
            "CLIENT_TRAFFIC_SECRET_0 {random} {}\nSERVER_TRAFFIC_SECRET_0 {random} {}\n\
             CLIENT_EARLY_TRAFFIC_SECRET {random} {}\n",
            "11".repeat(32),
            "22".repeat(32),
            "33".repeat(32)
        );
        let keys = crate::proto::tls::Keys::new(Some(Arc::new(KeyLog::parse(&text))), None);
        let c = PacketKey::from_secret(version, 0x1301, &[0x11; 32])?;
        let s = PacketKey::from_secret(version, 0x1301, &[0x22; 32])?;
        let e = PacketKey::from_secret(version, 0x1301, &[0x33; 32])?;
        Some((keys, [c, s, e]))
    } else {
        None
    };
    let zero_rtt = one_rtt && cfg & 8 != 0;
    let keylog = app.as_ref().map(|(k, _)| k.clone()).unwrap_or_default();
    let mut t = QuicTracker::with_limit(keylog, bound);
    let ip = std::net::IpAddr::from([10, 0, 0, 1]);
    let server = Endpoint { ip, port: 443 };
    let mut fed = 0u64;
    let mut frame = 0u64;
    while let [o, a, b, rest @ ..] = ops {
        let len = usize::from(u16::from_be_bytes([*a, *b]))
            .min(1500)
            .min(rest.len());
        let (bytes, next) = rest.split_at(len);
        ops = next;
        let from_server = o & 0x80 != 0;
        let client = Endpoint {
            ip,
            port: if o & 0x20 != 0 { 40_001 } else { 40_000 },
        };
        let datagram = if let Some((_, keys)) = app
            .as_ref()
            .filter(|_| o & 0x50 == 0x50 && zero_rtt && !from_server)
        {
            // 0-RTT: long header (type 1 in v1, 2 in v2), the Initial's CIDs, no token.
            let pn = u64::from(o & 0x07);
            let ty = if version == VERSION_2 { 0x02 } else { 0x01 };
            let mut h = vec![0xc0 | (ty << 4), 0, 0, 0, 0];
            h[1..5].copy_from_slice(&version.to_be_bytes());
            h.push(u8::try_from(dcid.len()).unwrap_or(0));
            h.extend_from_slice(&dcid);
            h.push(0);
            let mut frames = bytes.to_vec();
            frames.resize(bytes.len().max(20), 0);
            let body = 1 + frames.len() + 16;
            h.extend_from_slice(&(0x4000u16 | u16::try_from(body).unwrap_or(0)).to_be_bytes());
            h.push(u8::try_from(pn).unwrap_or(0));
            match keys[2].seal(&h, pn, &frames) {
                Some(p) => p,
                None => continue,
            }
        } else if let Some((_, keys)) = app.as_ref().filter(|_| o & 0x50 == 0x50) {
            // 1-RTT: DCID of the receiver (the server's CID, or the client's empty one).
            let pn = u64::from(o & 0x07);
            let mut h = vec![0x40 | if o & 0x08 != 0 { 0x04 } else { 0 }];
            if !from_server {
                h.extend_from_slice(&scid);
            }
            h.push(u8::try_from(pn).unwrap_or(0));
            let key = &keys[usize::from(from_server)];
            let next;
            let key = if o & 0x08 != 0 {
                next = key.updated()?;
                &next
            } else {
                key
            };
            let mut frames = bytes.to_vec();
            frames.resize(bytes.len().max(20), 0);
            match key.seal(&h, pn, &frames) {
                Some(p) => p,
                None => continue,
            }
        } else if o & 0x40 != 0 {
            let pn = u64::from(o & 0x3f);
            // Long header, Initial, 1-byte packet number; length = pn + frames + tag.
            let ty = if version == VERSION_2 { 0x01 } else { 0x00 };
            let mut h = vec![0xc0 | (ty << 4), 0, 0, 0, 0];
            h[1..5].copy_from_slice(&version.to_be_bytes());
            let (d, sc): (&[u8], &[u8]) = if from_server {
                (&[], &scid)
            } else {
                (&dcid, &[])
            };
            h.push(u8::try_from(d.len()).unwrap_or(0));
            h.extend_from_slice(d);
            h.push(u8::try_from(sc.len()).unwrap_or(0));
            h.extend_from_slice(sc);
            h.push(0); // token length
            let body = 1 + bytes.len().max(20) + 16;
            h.extend_from_slice(&(0x4000u16 | u16::try_from(body).unwrap_or(0)).to_be_bytes());
            h.push(u8::try_from(pn).unwrap_or(0));
            let mut frames = bytes.to_vec();
            frames.resize(bytes.len().max(20), 0); // PADDING: room for the sample
            let key = if from_server {
                &keys.server
            } else {
                &keys.client
            };
            match key.seal(&h, pn, &frames) {
                Some(p) => p,
                None => continue,
            }
        } else {
            bytes.to_vec()
        };
        let _ = crate::app::looks_like_quic(&datagram);
        let (src, dst) = if from_server {
            (server, client)
        } else {
            (client, server)
        };
        let wire = u32::try_from(datagram.len()).unwrap_or(u32::MAX);
        t.on_datagram(
            i64::try_from(frame).unwrap_or(0),
            frame,
            src,
            dst,
            &datagram,
            wire,
        );
        fed += 1;
        frame += 1;
        if frame.is_multiple_of(7) {
            t.on_icmp_unreachable(0, client, server);
        }
    }
    // The capture's end: the last datagram's time, or much later (every established
    // connection with 1-RTT keys then ended by its idle timeout, if one was advertised).
    t.end(
        i64::try_from(frame)
            .unwrap_or(0)
            .saturating_add(i64::from(frame.is_multiple_of(3)) << 40),
    );
    let ws = t.take_websockets();
    let out = t.take_records();
    for w in &ws {
        assert!(
            out.iter().any(|(q, _)| q.conn_id == w.conn_id),
            "a WebSocket's connection"
        );
    }
    for (q, _) in &out {
        if q.ended_by
            .is_some_and(|e| e != crate::record::QuicEnd::ConnectionClose)
        {
            assert!(
                q.one_rtt_decrypted,
                "how it ended is told from 1-RTT packets only"
            );
        }
    }
    assert!(
        out.len() as u64 <= t.stats().connections,
        "a row per connection at most"
    );
    assert!(t.stats().datagrams == fed);
    let counted: u64 = out
        .iter()
        .map(|(q, _)| q.datagrams_c2s + q.datagrams_s2c)
        .sum();
    assert!(counted <= fed);
    for (q, tls) in &out {
        assert!(q.start_ts <= q.end_ts);
        if let (Some(d), Some(s)) = (q.handshake_done_ts, q.client_initial_ts) {
            assert_eq!(q.handshake_ns, d.checked_sub(s));
        }
        if let Some(t) = tls {
            assert_eq!(t.conn_id, q.conn_id);
            assert!(t.ja4.as_deref().is_none_or(|j| j.starts_with('q')));
        }
    }
    Some((out, t.stats().clone()))
}

/// Target `http2`. `data[0]` is a mode: bit 0 = HPACK decoder alone on the rest
/// ([`crate::proto::http2::fuzz_hpack`]); otherwise bit 1 = [`Http2Parser::upgraded`] (else
/// prior knowledge), bit 2 = the harness sends the client preface itself, bit 3 = small limits,
/// bit 4 = the upgraded request was seen whole. `data[1]` splits the payload between client
/// (that share of it, out of 255) and server; `data[2]` is the length of a control string that
/// follows, whose bytes in turn say which direction gets the next chunk (bit 7: server) and how
/// long it is (bits 0–5, plus one), or, for low seven bits ≥ 0x78, a gap of 4^(bits 0–2) bytes
/// (those bytes are skipped). Then both directions close and the records are taken.
pub fn http2(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    if mode & 1 != 0 {
        crate::proto::http2::fuzz_hpack(rest);
        return;
    }
    let [ratio, ctl_len, rest @ ..] = rest else {
        return;
    };
    let (ctl, payload) = rest.split_at(usize::from(*ctl_len).min(rest.len()));
    let k = payload.len() * usize::from(*ratio) / 255;
    let (client, server) = payload.split_at(k);
    let mut cfg =
        Http2Config::default().with_headers(Some(fuzz_header_limits()).filter(|_| ratio & 1 == 1));
    if mode & 8 != 0 {
        cfg = cfg
            .with_max_header_block_bytes(256)
            .with_max_open_streams(4)
            .with_max_table_bytes(256);
    }
    let make = || {
        if mode & 2 != 0 {
            let request = HttpExchange {
                request_index: u32::from(*ratio),
                method: Some("GET".into()),
                path: Some("/".into()),
                ..HttpExchange::default()
            };
            Http2Parser::upgraded(cfg, request, mode & 16 != 0)
        } else {
            Http2Parser::new(cfg)
        }
    };
    // With bit 5, a second parser fed the same events gives up its finished streams as it goes
    // (`take_finished`, as a live connection does): what it gave up and kept must be the
    // first parser's records.
    let mut p = make();
    let mut q = (mode & 32 != 0).then(make);
    let min = usize::from(mode >> 6);
    let mut taken = Vec::new();
    let mut both = |f: &mut dyn FnMut(&mut Http2Parser)| {
        f(&mut p);
        if let Some(q) = &mut q {
            f(q);
            taken.extend(q.take_finished(min));
        }
    };
    let mut ts = 1_000i64;
    if mode & 4 != 0 {
        both(&mut |p| p.on_data(ts, C2S, crate::proto::http2::PREFACE));
    }
    let mut pos = [0usize; 2];
    let streams = [client, server];
    let mut step = 0usize;
    while pos[0] < client.len() || pos[1] < server.len() {
        let b = ctl.get(step % ctl.len().max(1)).copied().unwrap_or(0x3f);
        step += 1;
        ts += 1;
        let mut d = usize::from(b >> 7);
        if pos[d] >= streams[d].len() {
            d = 1 - d;
        }
        let dir = if d == 0 { C2S } else { S2C };
        let left = streams[d].len() - pos[d];
        if b & 0x7f >= 0x78 {
            let len = 1usize << (2 * (b & 7));
            both(&mut |p| p.on_gap(ts, dir, len as u64));
            pos[d] += len.min(left);
        } else {
            let n = (usize::from(b & 0x3f) + 1).min(left);
            let bytes = &streams[d][pos[d]..pos[d] + n];
            both(&mut |p| p.on_data(ts, dir, bytes));
            pos[d] += n;
        }
    }
    both(&mut |p| p.on_close(ts + 1, C2S));
    both(&mut |p| p.on_close(ts + 2, S2C));
    // The WebSockets of extended CONNECT streams (RFC 8441): one per CONNECT row at most,
    // each ended within the input's times.
    let ws = p.take_websockets();
    for w in ws.iter() {
        assert!(w.end_ts.is_none_or(|t| t <= ts + 2));
    }
    let n_ws = ws.len();
    for w in ws {
        let end = w.end_ts.unwrap_or(ts + 2);
        let (s, _) = w.parser.finish(end);
        assert!(s.open_ts <= end, "a WebSocket opens before it ends");
    }
    let (records, stats) = p.finish();
    assert!(records.len() as u64 <= stats.streams, "a record per stream");
    assert!(
        n_ws <= records.iter().filter(|r| r.upgraded).count(),
        "a WebSocket per upgraded CONNECT row"
    );
    check_http(records.iter(), Some(ts + 2));
    if let Some(q) = q {
        taken.extend(q.into_records());
        let key = |r: &HttpExchange| (r.request_index, r.stream_id);
        taken.sort_by_key(key);
        let mut whole = records;
        whole.sort_by_key(key);
        assert_eq!(
            format!("{taken:?}"),
            format!("{whole:?}"),
            "taking finished streams changed a record"
        );
    }
}

/// What every HTTP record must hold, whatever the input: a complete request has its response
/// head; with timestamps fed in order up to `last_ts` (`Some`), its times are in order and
/// within the input's.
/// The header capture's bounds in the fuzz targets: small, so that inputs reach them often.
fn fuzz_header_limits() -> crate::HeaderLimits {
    crate::HeaderLimits::default()
        .with_max_fields(12)
        .with_max_name_bytes(24)
        .with_max_value_bytes(48)
        .with_max_message_bytes(256)
}

/// Kept headers stay within [`fuzz_header_limits`].
fn check_headers(r: &HttpExchange) {
    let Some(h) = r.headers.as_deref() else {
        return;
    };
    let lim = fuzz_header_limits();
    for list in [&h.request, &h.response] {
        assert!(list.len() <= lim.max_fields, "{r:?}");
        let mut text = 0;
        for (n, v) in list.iter() {
            assert!(n.len() <= lim.max_name_bytes && v.len() <= lim.max_value_bytes);
            text += n.len() + v.len();
        }
        assert!(text <= lim.max_message_bytes, "{r:?}");
    }
    assert!(h
        .status_text
        .as_ref()
        .is_none_or(|t| t.len() <= lim.max_value_bytes));
}

fn check_http<'a>(records: impl IntoIterator<Item = &'a HttpExchange>, last_ts: Option<i64>) {
    for r in records {
        check_headers(r);
        if r.inferred {
            // Inferred from encrypted records (proto/tls/infer.rs): nothing read of HTTP, and
            // the response follows the request's last record.
            assert!(
                r.method.is_none() && r.path.is_none() && r.status.is_none(),
                "an inferred row with HTTP fields: {r:?}"
            );
            assert!(
                !r.complete || r.response_start_ts.is_some(),
                "complete without a response: {r:?}"
            );
        } else if r.complete {
            assert!(
                r.status.is_some() && r.response_start_ts.is_some(),
                "complete without a response head: {r:?}"
            );
        }
        let Some(last_ts) = last_ts else {
            continue;
        };
        let times = [
            Some(r.request_start_ts),
            r.request_end_ts,
            r.response_start_ts,
            r.response_end_ts,
        ];
        for t in times.into_iter().flatten() {
            assert!(t <= last_ts, "time after the input: {r:?}");
        }
        if let Some(e) = r.request_end_ts {
            assert!(
                r.request_start_ts <= e,
                "request ends before it starts: {r:?}"
            );
        }
        if let (Some(a), Some(b)) = (r.response_start_ts, r.response_end_ts) {
            assert!(a <= b, "response ends before it starts: {r:?}");
        }
        // Inferred: the response's records follow the request's (times in order only).
        if let (true, Some(e), Some(s)) = (r.inferred, r.request_end_ts, r.response_start_ts) {
            assert!(e <= s, "response before the request's end: {r:?}");
        }
    }
}

/// Target `keylog`. `data[0] % 4` chooses: 0 = [`KeyLog::parse`] on the rest as text; 1 =
/// [`KeyLog::add_dsb_body`] on the rest (bit 2 of `data[0]`: big endian); 2 and 3 = the rest
/// as a capture, held whole (2) or streamed (3): [`Capture::decryption_secrets`] then
/// [`KeyLog::add_capture_secrets`], then every frame is read. The streamed reading must give
/// the frames and the damage of the whole one, and its (leading) secrets must be a prefix of
/// the whole file's.
pub fn keylog(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    match mode % 4 {
        0 => {
            let k = KeyLog::parse(&String::from_utf8_lossy(rest));
            assert!(k.stats().secrets as usize >= k.len());
        }
        1 => {
            let mut k = KeyLog::new();
            k.add_dsb_body(rest, mode & 4 != 0);
        }
        _ => {
            let whole = read_with_secrets(Capture::from_bytes(rest.to_vec()));
            if mode % 4 == 3 {
                let streamed =
                    read_with_secrets(Capture::from_reader(std::io::Cursor::new(rest.to_vec())));
                if let (Some(w), Some(s)) = (&whole, &streamed) {
                    assert_eq!(w.1, s.1, "frames and damage, whole vs streamed");
                    assert!(w.0.starts_with(&s.0), "streamed secrets not leading ones");
                }
            }
        }
    }
}

/// (secrets, (frames as (ts, length), damage)) of a capture; `None` when it is not one.
type Read = (
    Vec<crate::capture::DecryptionSecrets>,
    (Vec<(i64, usize)>, Option<String>),
);

fn read_with_secrets(capture: Result<Capture, crate::CaptureError>) -> Option<Read> {
    let mut capture = capture.ok()?;
    let secrets = capture.decryption_secrets().unwrap_or_default();
    let mut k = KeyLog::new();
    k.add_capture_secrets(&secrets);
    let mut frames = Vec::new();
    let end = loop {
        match capture.next_frame() {
            Ok(Some(f)) => frames.push((f.ts_ns, f.data.len())),
            Ok(None) => break capture.damage().map(|d| d.to_string()),
            Err(e) => break Some(e.to_string()),
        }
    };
    Some((secrets, (frames, end)))
}

/// The bundled lab key log (`testdata/lab/d_tls_resumption/sslkeylog.txt`).
const LAB_KEYLOG: &str = include_str!("../../../testdata/lab/d_tls_resumption/sslkeylog.txt");

/// Target `analyze`: the whole analysis of arbitrary bytes as the `pcapstat` library runs it —
/// capture reading, the secrets embedded in the capture (pcapng DSBs) merged with the bundled
/// lab key log (left out when `data.len() % 4 == 3`, to keep the path without a key log), the
/// sharded TCP pipeline on 2 threads (reading in chunks of 3 frames, so that chunk boundaries
/// fall everywhere in small inputs), reassembly, the TLS (with decryption), HTTP/1, HTTP/2 and
/// DNS parsers, DNS matching and the request join. For one input in eight, the same on one
/// thread must give the same analysis; for another in eight, the same bytes read as a stream in
/// small pieces.
pub fn analyze(data: &[u8]) {
    let _ = analyze_run(data);
}

/// [`analyze`], giving the application counters and the HTTP rows.
fn analyze_run(data: &[u8]) -> Option<(crate::AppStats, Vec<HttpRecord>)> {
    static WITH_LAB: OnceLock<Analyzer> = OnceLock::new();
    static WITHOUT: OnceLock<Analyzer> = OnceLock::new();
    static ONE_THREAD: OnceLock<Analyzer> = OnceLock::new();
    let analyzer = if data.len() % 4 != 3 {
        WITH_LAB.get_or_init(|| {
            Analyzer::new()
                .threads(2)
                .chunk_frames(3)
                .keylog(KeyLog::parse(LAB_KEYLOG))
                .capture_headers(Some(fuzz_header_limits()))
        })
    } else {
        // Totals of a few KiB per shard: the out-of-order and application buffers and the
        // unacknowledged lists of all connections reach them, so giving up holes, shedding
        // unfinished messages and refusing RTT entries run.
        WITHOUT.get_or_init(|| {
            Analyzer::new()
                .threads(2)
                .chunk_frames(3)
                .tcp_config(crate::tcp::TcpConfig {
                    ooo_total_limit_bytes: 64 * 4096,
                    app_total_limit_bytes: 64 * 4096,
                    unacked_total_limit_bytes: 64 * 4096,
                    ..crate::tcp::TcpConfig::default()
                })
        })
    };
    let a = analyzer.analyze_bytes(data.to_vec()).ok()?;
    if data.len() % 8 == 4 {
        // The same bytes as a stream read in small pieces: its frames stay in the reading
        // window's buffers, which the chunks hold while the stream reads on into others.
        let streamed = analyzer
            .analyze_reader(Pieces::new(data.to_vec(), 97))
            .ok()?;
        assert_eq!(
            format!("{:?}", (&a.summary, &a.connections, &a.http, &a.stats)),
            format!(
                "{:?}",
                (
                    &streamed.summary,
                    &streamed.connections,
                    &streamed.http,
                    &streamed.stats
                )
            ),
            "in memory and streamed disagree"
        );
    }
    if data.len().is_multiple_of(8) {
        let one = ONE_THREAD
            .get_or_init(|| {
                Analyzer::new()
                    .threads(1)
                    .keylog(KeyLog::parse(LAB_KEYLOG))
                    .capture_headers(Some(fuzz_header_limits()))
            })
            .analyze_bytes(data.to_vec())
            .ok()?;
        assert_eq!(
            format!(
                "{:?}",
                (
                    &one.summary,
                    &one.connections,
                    &one.tls,
                    &one.http,
                    &one.dns,
                    &one.timings,
                    &one.stats
                )
            ),
            format!(
                "{:?}",
                (
                    &a.summary,
                    &a.connections,
                    &a.tls,
                    &a.http,
                    &a.dns,
                    &a.timings,
                    &a.stats
                )
            ),
            "one thread and two threads disagree"
        );
    }
    // Capture timestamps need not be in order: only what holds whatever they are.
    check_http(a.http.iter().map(|r| &r.exchange), None);
    Some((a.stats.app, a.http))
}

/// A reader giving 1, 2, … up to `most` bytes a read in turn, and every 13th read all it is
/// asked for: a pipe, for the tests and targets that read a stream in pieces.
#[derive(Debug)]
pub struct Pieces {
    data: std::io::Cursor<Vec<u8>>,
    n: usize,
    most: usize,
}

impl Pieces {
    /// `bytes` read in pieces of at most `most` bytes (but for every 13th read).
    pub fn new(bytes: Vec<u8>, most: usize) -> Pieces {
        Pieces {
            data: std::io::Cursor::new(bytes),
            n: 0,
            most: most.max(1),
        }
    }
}

impl std::io::Read for Pieces {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.n = self.n % self.most + 1;
        let k = if self.n.is_multiple_of(13) {
            buf.len()
        } else {
            buf.len().min(self.n)
        };
        self.data.read(&mut buf[..k])
    }
}

/// [`crate::ValueStore::select`] by the k-way merge whatever the store's size (the benchmark
/// `values` compares it with the counting `select` takes for a large store).
pub fn select_by_merge<const N: usize>(
    store: &crate::ValueStore,
    ranks: [usize; N],
) -> Option<[i64; N]> {
    store.select_by_merge(ranks)
}

/// The sort a [`crate::ValueStore`]'s buffer takes when it becomes a run (the benchmark
/// `values` compares it with `sort_unstable`).
pub fn sort_values(values: &mut [i64]) {
    crate::values::sort_values(values);
}

/// Cipher suites of target `tls_decrypt` (TLS 1.3 ones first).
const SUITES: [u16; 6] = [0x1301, 0x1302, 0x1303, 0xc02f, 0xc030, 0xcca8];
/// ALPN values the harness's server picks from.
const ALPNS: [Option<&str>; 4] = [None, Some("h2"), Some("http/1.1"), Some("spdy/3.1")];
const FIXTURE: &str = include_str!("../../../testdata/rfc8448/simple-1rtt.txt");

fn vector(name: &str) -> Vec<u8> {
    let hex = FIXTURE
        .lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix('\t'))
        .unwrap_or_default();
    (0..hex.len() / 2)
        .filter_map(|i| u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok())
        .collect()
}

/// The secret of `label` for suite number `s` (made up: the parser does not check secrets
/// against the handshake).
fn secret(s: usize, label: u8) -> Vec<u8> {
    let len = if SUITES[s] == 0x1302 || SUITES[s] == 0xc030 {
        48
    } else if SUITES[s] >> 8 == 0x13 {
        32
    } else {
        48 // TLS 1.2 master secret
    };
    (0..len).map(|i| label.wrapping_mul(31) ^ i as u8).collect()
}

/// The client random of suite number `s`: the RFC 8448 one with its last byte changed.
fn client_random(s: usize) -> [u8; 32] {
    let mut r = [0u8; 32];
    if let Some(v) = vector("client_hello").get(6..38) {
        r.copy_from_slice(v);
    }
    r[31] = s as u8;
    r
}

fn harness_keylog() -> Arc<KeyLog> {
    static K: OnceLock<Arc<KeyLog>> = OnceLock::new();
    K.get_or_init(|| {
        let hx = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
        let mut text = String::new();
        for (s, &suite) in SUITES.iter().enumerate() {
            let r = hx(&client_random(s));
            if suite >> 8 == 0x13 {
                for (i, label) in [
                    "CLIENT_HANDSHAKE_TRAFFIC_SECRET",
                    "SERVER_HANDSHAKE_TRAFFIC_SECRET",
                    "CLIENT_TRAFFIC_SECRET_0",
                    "SERVER_TRAFFIC_SECRET_0",
                ]
                .iter()
                .enumerate()
                {
                    text += &format!("{label} {r} {}\n", hx(&secret(s, i as u8)));
                }
            } else {
                text += &format!("CLIENT_RANDOM {r} {}\n", hx(&secret(s, 9)));
            }
        }
        Arc::new(KeyLog::parse(&text))
    })
    .clone()
}

fn handshake_msg(ty: u8, body: &[u8]) -> Vec<u8> {
    let n = (body.len() as u32).to_be_bytes();
    let mut m = vec![ty, n[1], n[2], n[3]];
    m.extend_from_slice(body);
    m
}

fn alpn_ext(name: &str) -> Vec<u8> {
    let n = name.len();
    let mut e = vec![0, 16];
    e.extend_from_slice(&((n + 3) as u16).to_be_bytes());
    e.extend_from_slice(&((n + 1) as u16).to_be_bytes());
    e.push(n as u8);
    e.extend_from_slice(name.as_bytes());
    e
}

const SERVER_RANDOM: [u8; 32] = [0x5a; 32];

/// One direction's keys as the parser will hold them: the current one, then the next ones.
struct Keys {
    now: Option<RecordKey>,
    next: Vec<RecordKey>,
}

impl Keys {
    fn advance(&mut self) {
        if !self.next.is_empty() {
            self.now = Some(self.next.remove(0));
        } else if let Some(k) = self.now.as_ref().and_then(RecordKey::updated) {
            self.now = Some(k);
        }
    }
}

/// Target `tls_decrypt`: a TLS connection through the application layer ([`AppFactory`], as
/// in the pipeline) with a key log holding its secrets, so that records the harness encrypts
/// reach the decryption and the plaintext the HTTP/1 or HTTP/2 parser (by ALPN).
///
/// `data[0]`: bits 0–2 the cipher suite (`SUITES`, modulo 6), bits 3–4 the server's ALPN
/// (`ALPNS`), bit 5 = the harness completes the handshake (server flight with Finished, client
/// Finished; else only ClientHello and ServerHello are sent), bits 6 and 7 both set = no key
/// log: nothing is decrypted and the exchanges are inferred from the records (`infer.rs`). Then operations, each an op byte
/// `o` whose bits 0–2 say: 0/1 = a record from the client/server encrypted with its current key
/// (inner type `[23, 22, 21, 20]` by bits 3–4; bit 5: 2-byte length; bit 6: delivered in two
/// pieces), its plaintext the next `len` bytes; 2/3 = `len` raw bytes from the client/server;
/// 4 = a gap of the next byte's value plus one bytes (bit 3: server); 5 = that direction's next key (TLS 1.3 handshake →
/// traffic → KeyUpdate; TLS 1.2 no-op); 6 = close (bit 3: server); 7 = a ChangeCipherSpec
/// record (bit 3: server).
pub fn tls_decrypt(data: &[u8]) {
    if let Some(f) = tls_decrypt_run(data) {
        assert_eq!(f.tls.len(), 1, "one TLS record per connection");
        check_http(f.http.iter().map(|r| &r.exchange), Some(i64::MAX));
    }
}

fn tls_decrypt_run(data: &[u8]) -> Option<AppFactory> {
    let (&cfg, mut ops) = data.split_first()?;
    let s = usize::from(cfg & 7) % SUITES.len();
    let suite_id = SUITES[s];
    let suite = Suite::of(suite_id)?;
    let alpn = ALPNS[usize::from(cfg >> 3) & 3];
    let full = cfg & 0x20 != 0;

    // Bit 6: header capture on; bits 6 and 7: no key log (the inference).
    let headers = Some(fuzz_header_limits()).filter(|_| cfg & 0x40 != 0);
    let keylog = (cfg & 0xc0 != 0xc0).then(harness_keylog);
    let mut factory = AppFactory::new(
        AppConfig::default()
            .with_keylog(keylog)
            .with_headers(headers),
    );
    let ip = std::net::IpAddr::from([10, 0, 0, 1]);
    let meta = ConnMeta {
        conn_id: 1,
        client: Endpoint { ip, port: 40_000 },
        server: Endpoint { ip, port: 443 },
        client_guessed: false,
        start_ts: 0,
    };
    let mut sink = factory.open(&meta);
    let mut ts = 10i64;

    // ClientHello: the RFC 8448 one with this suite's client random.
    let mut ch = vec![22, 3, 1, 0, 196];
    ch.extend_from_slice(&vector("client_hello"));
    if let Some(r) = ch.get_mut(11..43) {
        r.copy_from_slice(&client_random(s));
    }
    sink.on_data(ts, C2S, &ch);
    // ServerHello.
    let tls13 = suite_id >> 8 == 0x13;
    let mut body = vec![3, 3];
    body.extend_from_slice(&SERVER_RANDOM);
    body.push(0);
    body.extend_from_slice(&suite_id.to_be_bytes());
    body.push(0);
    let mut exts = Vec::new();
    if tls13 {
        exts.extend_from_slice(&[0, 43, 0, 2, 3, 4]);
    } else if let Some(a) = alpn {
        exts.extend_from_slice(&alpn_ext(a));
    }
    body.extend_from_slice(&(exts.len() as u16).to_be_bytes());
    body.extend_from_slice(&exts);
    let sh = handshake_msg(2, &body);
    let mut rec = vec![22, 3, 3];
    rec.extend_from_slice(&(sh.len() as u16).to_be_bytes());
    rec.extend_from_slice(&sh);
    ts += 1;
    sink.on_data(ts, S2C, &rec);

    // The keys the parser now expects, per direction.
    let mut keys: [Keys; 2] = if tls13 {
        let k = |label: u8| RecordKey::tls13(suite, &secret(s, label));
        [
            Keys {
                now: k(0),
                next: k(2).into_iter().collect(),
            },
            Keys {
                now: k(1),
                next: k(3).into_iter().collect(),
            },
        ]
    } else {
        match tls12_keys(suite, &secret(s, 9), &client_random(s), &SERVER_RANDOM) {
            Some((c, sk)) => [
                Keys {
                    now: Some(c),
                    next: Vec::new(),
                },
                Keys {
                    now: Some(sk),
                    next: Vec::new(),
                },
            ],
            None => return None,
        }
    };
    let seal = |keys: &mut [Keys; 2], d: usize, ty: u8, plain: &[u8]| -> Vec<u8> {
        keys[d]
            .now
            .as_mut()
            .and_then(|k| k.seal(ty, plain))
            .unwrap_or_default()
    };
    let ccs = [20u8, 3, 3, 0, 1, 1];
    if full {
        let finished = |n: usize| handshake_msg(20, &vec![0xf1; n]);
        ts += 1;
        if tls13 {
            let mut ee_ext = Vec::new();
            if let Some(a) = alpn {
                ee_ext = alpn_ext(a);
            }
            let mut ee_body = (ee_ext.len() as u16).to_be_bytes().to_vec();
            ee_body.extend_from_slice(&ee_ext);
            let mut flight = handshake_msg(8, &ee_body);
            flight.extend_from_slice(&finished(32));
            let r = seal(&mut keys, 1, 22, &flight);
            sink.on_data(ts, S2C, &r);
            keys[1].advance();
            ts += 1;
            let r = seal(&mut keys, 0, 22, &finished(32));
            sink.on_data(ts, C2S, &r);
            keys[0].advance();
        } else {
            let mut r = ccs.to_vec();
            r.extend(seal(&mut keys, 0, 22, &finished(12)));
            sink.on_data(ts, C2S, &r);
            ts += 1;
            let mut r = ccs.to_vec();
            r.extend(seal(&mut keys, 1, 22, &finished(12)));
            sink.on_data(ts, S2C, &r);
        }
    }

    let take = |ops: &mut &[u8], two: bool| -> Vec<u8> {
        let (len, rest) = match (two, *ops) {
            (true, [a, b, rest @ ..]) => (usize::from(u16::from_be_bytes([*a, *b])), rest),
            (_, [a, rest @ ..]) => (usize::from(*a), rest),
            _ => (0, &[][..]),
        };
        let (v, rest) = rest.split_at(len.min(rest.len()));
        *ops = rest;
        v.to_vec()
    };
    while let Some((&o, rest)) = ops.split_first() {
        ops = rest;
        ts += 1;
        let d = usize::from(o & 1);
        let bit3 = usize::from((o >> 3) & 1);
        let dir = |d: usize| if d == 0 { C2S } else { S2C };
        match o & 7 {
            0 | 1 => {
                let ty = [23, 22, 21, 20][usize::from(o >> 3) & 3];
                let plain = take(&mut ops, o & 0x20 != 0);
                let r = seal(&mut keys, d, ty, &plain);
                if o & 0x40 != 0 {
                    let (a, b) = r.split_at(r.len() / 2);
                    sink.on_data(ts, dir(d), a);
                    sink.on_data(ts + 1, dir(d), b);
                    ts += 1;
                } else {
                    sink.on_data(ts, dir(d), &r);
                }
            }
            2 | 3 => {
                let raw = take(&mut ops, o & 0x20 != 0);
                sink.on_data(ts, dir(d), &raw);
            }
            4 => {
                let n = ops.first().map_or(1, |&n| u64::from(n) + 1);
                ops = ops.get(1..).unwrap_or_default();
                sink.on_gap(ts, dir(bit3), n);
            }
            5 => {
                if tls13 {
                    keys[bit3].advance();
                }
            }
            6 => sink.on_close(ts, dir(bit3)),
            _ => sink.on_data(ts, dir(bit3), &ccs),
        }
    }
    sink.on_close(ts + 1, C2S);
    sink.on_close(ts + 2, S2C);
    let ip4 = std::net::IpAddr::from([10, 0, 0, 1]);
    let mut record = ConnectionRecord {
        conn_id: 1,
        client_ip: ip4,
        client_port: 40_000,
        server_ip: ip4,
        server_port: 443,
        ip_version: 4,
        start_ts: 0,
        end_ts: ts + 2,
        outcome: Outcome::Closed,
        reset_by: None,
        failure: None,
        handshake_seen: true,
        client_guessed: false,
        roles_from: RolesFrom::Syn,
        syn_retries: 0,
        connect_ns: None,
        syn_to_synack_ns: None,
        synack_to_ack_ns: None,
        syn_to_ack_ns: None,
        c2s: Default::default(),
        s2c: Default::default(),
    };
    factory.close(sink, &mut record);
    Some(factory)
}

/// Target `filter`. The input, read as UTF-8 (invalid bytes replaced), is a filter value, a
/// newline, then a name as a capture may hold it (SNI, `Host` header, DNS question: any text).
/// The value goes through every filter parser ([`filter::parse_server`] and the others); the
/// name through [`filter::host_only`] and [`filter::name_matches`] against the value and every
/// name parsed from it. Invariants checked: what parses prints back (`Display`) to text that
/// parses to the same value; a parsed name matches itself (a wildcard, a sub-domain of its
/// suffix); a parsed address or network contains itself.
pub fn filter(data: &[u8]) {
    use crate::filter::{self as f, Host};
    let text = String::from_utf8_lossy(data);
    let (spec, name) = text.split_once('\n').unwrap_or((&text, ""));
    let mut names = vec![spec.to_string()];
    let mut check_host = |h: &Host| match h {
        Host::Name(n) => {
            match n.strip_prefix("*.") {
                Some(suffix) => assert!(f::name_matches(n, &format!("a.{suffix}")), "{n}"),
                None => assert!(f::name_matches(n, n), "{n}"),
            }
            names.push(n.clone());
        }
        Host::Ip(ip) => assert!(h.contains(ip), "{h:?}"),
        Host::Net(ip, _) => assert!(h.contains(ip), "{h:?}"),
    };
    if let Ok(s) = f::parse_server(spec) {
        let back = f::parse_server(&s.to_string());
        assert_eq!(back.as_ref(), Ok(&s), "{spec:?} printed as {s}");
        if let Some(h) = &s.host {
            check_host(h);
        }
    }
    for parse in [f::parse_host, f::parse_client, f::parse_address] {
        if let Ok(h) = parse(spec) {
            assert_eq!(
                parse(&h.to_string()).as_ref(),
                Ok(&h),
                "{spec:?} printed as {h}"
            );
            check_host(&h);
        }
    }
    if let Ok(n) = f::parse_name(spec) {
        assert_eq!(f::parse_name(&n).as_ref(), Ok(&n), "{spec:?}");
        check_host(&Host::Name(n));
    }
    if let Ok(t) = f::parse_time(spec) {
        let _ = t.resolve(Some(i64::MAX));
        let _ = t.resolve(Some(i64::MIN));
        let filter = f::Filter {
            since: Some(t),
            until: Some(t),
            ..f::Filter::default()
        };
        let _ = filter.to_string();
        let _ = filter.window(None);
    }
    let host = f::host_only(name);
    for n in &names {
        let _ = f::name_matches(n, name);
        let _ = f::name_matches(n, host);
        let _ = f::name_matches(name, n);
    }
    let _ = f::name_matches(name, host);
}

/// Target `rule_expression`. The input, read as UTF-8 (invalid bytes replaced), is the
/// expression of a `pcapstat check` rule or a `diff --fail-if` gate (`connect.p95 < "100ms"`),
/// split by [`crate::expression::split_expression`]; the limit goes through
/// [`crate::units::parse_duration`] and the time and filter parsers, positions through
/// [`crate::expression::line_col`]. Invariants checked: every offset returned is a character
/// boundary where the token's text is found; the operator prints back to itself.
pub fn rule_expression(data: &[u8]) {
    use crate::expression::{line_col, split_expression, Op};
    let text = String::from_utf8_lossy(data);
    match split_expression(&text) {
        Ok((figure, op, limit)) => {
            assert_eq!(
                text.get(figure.offset..)
                    .map(|t| t.starts_with(&figure.text)),
                Some(true)
            );
            let at = limit.offset + usize::from(limit.quoted);
            assert_eq!(
                text.get(at..).map(|t| t.starts_with(&limit.text)),
                Some(true),
                "{text:?}"
            );
            assert_eq!(Op::parse(op.as_str()), Some(op));
            let _ = crate::units::parse_duration(&limit.text);
            let _ = crate::filter::parse_time(&limit.text);
            let _ = line_col(&text, limit.offset);
        }
        Err((offset, message)) => {
            assert!(
                text.is_char_boundary(offset),
                "{text:?}: {offset} ({message})"
            );
            let (line, col) = line_col(&text, offset);
            assert!(line >= 1 && col >= 1);
        }
    }
    for offset in [0, data.len() / 2, text.len(), text.len() + 1, usize::MAX] {
        let _ = line_col(&text, offset);
    }
    if let Ok(ns) = crate::units::parse_duration(&text) {
        let _ = crate::units::format_duration(ns);
    }
}

/// One direction's frames as [`FrameReader`] cuts `chunks`: (opcode, FIN, length, control
/// payload) of each whole frame, the payload bytes seen, and the error that stopped it.
type Cut = (
    Vec<(u8, bool, u64, Vec<u8>)>,
    u64,
    Option<crate::proto::websocket::FrameError>,
);

fn cut_frames(chunks: &[&[u8]]) -> Cut {
    let mut r = FrameReader::default();
    let (mut frames, mut bytes, mut err) = (Vec::new(), 0u64, None);
    for c in chunks {
        let res = r.feed(c, &mut |p| match p {
            Piece::Payload(_, n) => bytes += n as u64,
            Piece::End(h, ctrl) => frames.push((h.opcode, h.fin, h.len, ctrl.to_vec())),
            Piece::Head(_) => {}
        });
        if let Err(e) = res {
            err = Some(e);
            break;
        }
    }
    (frames, bytes, err)
}

/// Target `websocket`. `data[0]` is a mode: bits 0–5 + 1 = the chunk size; bit 6 = the
/// session goes through an HTTP/1 `101` upgrade (the harness writes the handshake, with
/// `permessage-deflate`) instead of a bare [`WebSocketParser`]; bit 7 = every seventh chunk is
/// a gap. The rest is frame bytes. [`FrameReader`] must cut them into the same frames whole and
/// in chunks; the session gets the chunks alternately as client and server bytes, then both
/// directions close, and its counts must be consistent (messages and pings within frames,
/// round trips within pongs).
pub fn websocket(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let step = 1 + usize::from(mode & 0x3f);
    let chunks: Vec<&[u8]> = rest.chunks(step).collect();
    let whole = cut_frames(&[rest]);
    assert_eq!(
        cut_frames(&chunks),
        whole,
        "frames depend on segment boundaries"
    );
    let total: u64 = whole.0.iter().map(|f| f.2).sum();
    assert!(
        whole.1 >= total,
        "the payload of every whole frame is counted"
    );

    let mut http = None;
    let mut bare = None;
    let sink: &mut dyn StreamSink = if mode & 0x40 != 0 {
        let mut h = HttpParser::new(HttpConfig::default());
        h.on_data(
            1,
            C2S,
            b"GET /ws HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
        );
        h.on_data(
            2,
            S2C,
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\
              Sec-WebSocket-Extensions: permessage-deflate\r\n\r\n",
        );
        http.insert(h)
    } else {
        bare.insert(WebSocketParser::new(2, false))
    };
    for (i, c) in chunks.iter().enumerate() {
        let dir = if i % 2 == 0 { C2S } else { S2C };
        let ts = 3 + i as i64;
        if mode & 0x80 != 0 && i % 7 == 6 {
            sink.on_gap(ts, dir, c.len() as u64);
        } else {
            sink.on_data(ts, dir, c);
        }
    }
    let end = 3 + chunks.len() as i64;
    sink.on_close(end, C2S);
    sink.on_close(end, S2C);
    let ws = match (http, bare) {
        (Some(mut h), _) => {
            let ws = h.take_websocket();
            assert!(ws.is_some(), "the 101 upgrades");
            assert_eq!(h.into_records().len(), 1, "no frame read as HTTP");
            ws
        }
        (None, b) => b,
    };
    let Some(ws) = ws else {
        return;
    };
    let (s, st) = ws.finish(end);
    for d in [&s.from_client, &s.from_server] {
        assert!(d.messages + d.pings + d.pongs <= d.frames);
        assert!(d.compressed_messages <= d.messages);
        assert!((0..=end).contains(&d.max_idle_ns));
    }
    assert_eq!(st.frames, s.from_client.frames + s.from_server.frames);
    assert!(s.ping_rtts <= s.from_client.pongs + s.from_server.pongs);
    assert!(s.ping_rtt_median_ns <= s.ping_rtt_max_ns);
    assert_eq!(s.close_initiator.is_some(), s.close_ts.is_some());
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seeds(target: &str) -> Vec<Vec<u8>> {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../fuzz/seeds")
            .join(target);
        let mut out: Vec<_> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .map(|e| e.unwrap().path())
            .collect();
        out.sort();
        out.iter().map(|p| std::fs::read(p).unwrap()).collect()
    }

    /// The hand-made seeds of `tls_decrypt` (fuzz/seeds/make-seeds.py) reach what the target is
    /// for: records the harness encrypts are decrypted, and their plaintext makes HTTP rows.
    #[test]
    fn tls_decrypt_seeds_decrypt_and_route() {
        let dir =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/seeds/tls_decrypt");
        for (name, h2) in [
            ("tls13-aes128-h2.bin", true),
            ("tls12-gcm-http11.bin", false),
            ("tls13-chacha-keyupdate.bin", false),
            ("tls12-chacha-ops-handshake.bin", true),
            ("tls13-aes256-ops-handshake-gap.bin", false),
        ] {
            let f = tls_decrypt_run(&std::fs::read(dir.join(name)).unwrap()).unwrap();
            let st = &f.stats.tls_decrypt;
            assert_eq!((st.sessions, st.auth_failures), (1, 0), "{name}: {st:?}");
            assert!(st.app_bytes > 0, "{name}: {st:?}");
            assert_eq!(
                (f.stats.https2, f.stats.https),
                (u64::from(h2), u64::from(!h2)),
                "{name}"
            );
            assert!(!f.http.is_empty(), "{name}: no HTTP rows");
            assert!(f.tls[0].handshake_done_ts.is_some(), "{name}");
        }
    }

    /// The `nokey-*` seeds of `tls_decrypt` (no key log) reach the inference from encrypted
    /// records (proto/tls/infer.rs): two exchanges each, nothing decrypted.
    #[test]
    fn tls_decrypt_nokey_seeds_infer_exchanges() {
        let dir =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/seeds/tls_decrypt");
        for (name, version) in [
            // RFC 8448's ClientHello offers no ALPN and TLS 1.3 encrypts the server's choice:
            // HTTP/1.1 rules on port 443.
            ("nokey-tls13-aes128-h2.bin", crate::HttpVersion::Http11),
            ("nokey-tls12-gcm-http11.bin", crate::HttpVersion::Http11),
        ] {
            let f = tls_decrypt_run(&std::fs::read(dir.join(name)).unwrap()).unwrap();
            assert_eq!(f.stats.tls_decrypt.sessions, 0, "{name}");
            assert_eq!(f.stats.inferred.connections, 1, "{name}");
            assert_eq!(f.http.len(), 2, "{name}: {:?}", f.http);
            for r in &f.http {
                assert!(
                    r.inferred && r.complete && r.version == version,
                    "{name}: {r:?}"
                );
            }
        }
    }

    /// The hand-made seeds of `quic` (fuzz/seeds/make-seeds.py) reach what the target is for:
    /// the Initial packets the harness seals are decrypted and the ClientHello / ServerHello
    /// read (RFC 9001 Appendix A's), also from CRYPTO frames out of order.
    #[test]
    fn quic_seeds_decrypt_and_read_the_hellos() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/seeds/quic");
        for name in [
            "v1-handshake.bin",
            "v2-handshake.bin",
            "v1-crypto-out-of-order.bin",
        ] {
            let (out, stats) = quic_run(&std::fs::read(dir.join(name)).unwrap()).unwrap();
            assert_eq!(stats.initial_auth_failed, 0, "{name}: {stats:?}");
            assert!(stats.initial_decrypted >= 2, "{name}: {stats:?}");
            let tls = out[0].1.as_ref().unwrap();
            assert_eq!(tls.sni.as_deref(), Some("example.com"), "{name}");
            assert!(tls.version.is_some(), "{name}: ServerHello read");
        }
        let (out, stats) =
            quic_run(&std::fs::read(dir.join("v1-one-rtt-key-update.bin")).unwrap()).unwrap();
        assert_eq!(
            (stats.one_rtt_decrypted, stats.one_rtt_auth_failed),
            (3, 0),
            "{stats:?} {out:?}"
        );
        let q = &out[0].0;
        assert_eq!(
            (q.key_updates, q.pn_gaps, q.rtt_samples),
            (1, [Some(0), Some(1)], [0, 1])
        );
        assert!(q.server_handshake_done_ts.is_some());
        let (out, stats) =
            quic_run(&std::fs::read(dir.join("vn-retry-padding.bin")).unwrap()).unwrap();
        assert_eq!(
            (stats.version_negotiation, stats.retry),
            (1, 1),
            "{stats:?}"
        );
        assert!(out.iter().any(|(q, _)| q.version_negotiation && q.retry));
        let (out, stats) =
            quic_run(&std::fs::read(dir.join("v1-zero-rtt-request.bin")).unwrap()).unwrap();
        assert_eq!(
            (stats.zero_rtt_decrypted, stats.zero_rtt_auth_failed),
            (1, 0),
            "{stats:?}"
        );
        let q = &out[0].0;
        assert!(q.zero_rtt_decrypted && q.zero_rtt_packets == 1);
        assert_eq!(q.client_bidi_streams, Some(1), "its STREAM frame read");
    }

    /// The small `analyze` seed cut from the lab capture (one resumed TLS 1.2 connection and
    /// its key in a DSB) is decrypted through the whole pipeline, with or without the bundled
    /// key log.
    #[test]
    fn analyze_seed_decrypts_with_its_embedded_key() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../fuzz/seeds/analyze/tls12-resumed-conn-with-dsb.pcapng");
        let mut bytes = std::fs::read(path).unwrap();
        for pad in 0..4 {
            // Trailing bytes change `len % 4` (the bundled key log is left out at 3).
            bytes.truncate(3880);
            bytes.extend(std::iter::repeat_n(0u8, pad));
            let (stats, http) = analyze_run(&bytes).unwrap();
            assert_eq!(
                stats.tls_decrypt.sessions, 1,
                "pad {pad}: {:?}",
                stats.tls_decrypt
            );
            assert_eq!(stats.tls_decrypt.auth_failures, 0);
            assert!(!http.is_empty(), "pad {pad}: no HTTPS rows");
        }
    }

    /// The committed seeds of the targets whose harness is here run through it on stable
    /// (`fuzz_seeds_replay_without_panic` in `tests/damaged_input.rs` does `capture_decode`).
    #[test]
    fn seeds_replay_without_panic() {
        type Harness = fn(&[u8]);
        let targets: [(&str, Harness); 10] = [
            ("decode_shortcut", decode_shortcut),
            ("http2", http2),
            ("h3", h3),
            ("websocket", websocket),
            ("quic", quic),
            ("keylog", keylog),
            ("tls_decrypt", tls_decrypt),
            ("analyze", analyze),
            ("filter", filter),
            ("rule_expression", rule_expression),
        ];
        for (name, run) in targets {
            let seeds = seeds(name);
            assert!(!seeds.is_empty(), "no seeds for {name}");
            for s in seeds {
                run(&s);
            }
        }
    }
}
