//! The websocket rows of the lab's `k_websocket` capture (the `websockets` package's client and
//! server, ws and wss with the client's key log), against two independent oracles:
//!
//! * the client's own log (`gt_ws.jsonl`, one line per connection): messages and payload bytes
//!   sent and received (uncompressed: compared for the connections without
//!   `permessage-deflate`; with it, only the message counts), the close frames' code, reason
//!   and initiator, the abort without a close frame, the number of ping round trips and their
//!   size (the client times them around its own event loop, so the capture's are shorter, by
//!   less than a millisecond on this veth), the open time (`t_open`, after the client read the
//!   101) and the server's 1.5 s stalls;
//! * tshark 4.0 (`tshark_ws.tsv`, one line per TCP segment, comma lists when a segment holds
//!   several frames): frames per direction and per opcode, and the close frames' codes.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;

use pcapstat_core::{Analyzer, Capture, KeyLog, Side, WebSocketRecord};
use serde_json::Value;

mod common;
use common::ws;

fn analyze(
    path: &std::path::Path,
    keys: &std::path::Path,
    threads: usize,
) -> pcapstat_core::Analysis {
    Analyzer::new()
        .threads(threads)
        .keylog(KeyLog::from_file(keys).unwrap())
        .analyze(Capture::open(path).unwrap())
        .unwrap()
}

/// Frames per (client port, sent by the client, opcode).
type FrameCounts = BTreeMap<(u16, bool, u8), u64>;
/// Close codes per (client port, sent by the client).
type CloseCodes = BTreeMap<(u16, bool), u16>;

/// Frames per (client port, sent by the client, opcode), and the close codes, from tshark.
fn tshark_frames(dir: &std::path::Path) -> (FrameCounts, CloseCodes) {
    let mut frames = BTreeMap::new();
    let mut closes = BTreeMap::new();
    for r in common::tsv(&dir.join("tshark_ws.tsv")) {
        let src: u16 = r["tcp.srcport"].parse().unwrap();
        let dst: u16 = r["tcp.dstport"].parse().unwrap();
        let from_client = dst == 8765 || dst == 8766;
        let port = if from_client { src } else { dst };
        for op in r["websocket.opcode"].split(',') {
            *frames
                .entry((port, from_client, op.parse().unwrap()))
                .or_insert(0) += 1;
        }
        let code = &r["websocket.payload.close.status_code"];
        if !code.is_empty() {
            closes.insert((port, from_client), code.parse().unwrap());
        }
    }
    (frames, closes)
}

fn check(a: &pcapstat_core::Analysis, dir: &std::path::Path, what: &str) {
    let gt: Vec<Value> = common::jsonl(&dir.join("gt_ws.jsonl"));
    assert_eq!(
        a.websocket.len(),
        gt.len(),
        "{what}: one row per WebSocket connection"
    );
    let (frames, closes) = tshark_frames(dir);
    for g in &gt {
        let label = g["label"].as_str().unwrap();
        let port = u16::try_from(g["local_port"].as_u64().unwrap()).unwrap();
        let w: &WebSocketRecord = a
            .websocket
            .iter()
            .find(|w| w.client.port == port)
            .unwrap_or_else(|| panic!("{what} {label}: no row"));
        let ctx = format!("{what} {label}");
        assert_eq!(w.url(), g["url"].as_str().unwrap(), "{ctx}");
        assert_eq!(w.secure, label == "wss-echo", "{ctx}");
        assert_eq!(w.deflate, g["compression"].as_bool().unwrap(), "{ctx}");
        assert!(!w.damaged, "{ctx}");
        let (sent, recv) = (&g["sent"], &g["received"]);
        assert_eq!(
            w.from_client.messages,
            sent["messages"].as_u64().unwrap(),
            "{ctx}"
        );
        assert_eq!(
            w.from_server.messages,
            recv["messages"].as_u64().unwrap(),
            "{ctx}"
        );
        if w.deflate {
            // Every data message was compressed (RSV1), and its wire bytes are fewer.
            assert_eq!(
                w.from_client.compressed_messages, w.from_client.messages,
                "{ctx}"
            );
            assert!(
                w.from_client.payload_bytes < sent["bytes"].as_u64().unwrap(),
                "{ctx}"
            );
        } else {
            assert_eq!(w.from_client.compressed_messages, 0, "{ctx}");
            assert_eq!(
                w.from_client.payload_bytes,
                sent["bytes"].as_u64().unwrap(),
                "{ctx}"
            );
            assert_eq!(
                w.from_server.payload_bytes,
                recv["bytes"].as_u64().unwrap(),
                "{ctx}"
            );
        }
        // Close: the initiator's frame.
        let initiator = Some(g["close_initiator"].as_str().unwrap()).filter(|w| *w != "none");
        ws::check_close(w, initiator, &g["close_received"], &ctx);
        // Pings: every one answered; the capture sees the round trip without the client's
        // event loop, so it is shorter, never by a millisecond here.
        let pings = g["pings_rtt_ms"].as_array().unwrap().len() as u64;
        assert_eq!(w.from_client.pings, pings, "{ctx}");
        ws::check_pings(w, &g["pings_rtt_ms"], &ctx);
        // Open time: the client's t_open is taken after it read the 101 (same clock as the
        // capture's timestamps), within a few ms of the 101 on the wire.
        let t_open = (g["t_open"].as_f64().unwrap() * 1e9) as i64;
        let d = t_open - w.open_ts;
        assert!((-1_000_000..10_000_000).contains(&d), "{ctx}: open {d} ns");
        let t_closed = (g["t_closed"].as_f64().unwrap() * 1e9) as i64;
        assert!((w.end_ts - t_closed).abs() < 250_000_000, "{ctx}: end");
        // Stalls: the server answers after 1.5 s of silence in `stall` only.
        let stall = 1_500_000_000..1_600_000_000;
        assert_eq!(
            stall.contains(&w.from_server.max_idle_ns),
            label == "stall",
            "{ctx}"
        );
        if label != "stall" && label != "abort" {
            assert!(w.from_server.max_idle_ns < 100_000_000, "{ctx}");
        }
        // tshark: frames per direction and opcode, close codes.
        for (client, d) in [(true, &w.from_client), (false, &w.from_server)] {
            let n = |op: u8| frames.get(&(port, client, op)).copied().unwrap_or(0);
            let all: u64 = [0, 1, 2, 8, 9, 10].iter().map(|&op| n(op)).sum();
            assert_eq!(d.frames, all, "{ctx}: frames, client={client}");
            assert_eq!(d.pings, n(9), "{ctx}: pings, client={client}");
            assert_eq!(d.pongs, n(10), "{ctx}: pongs, client={client}");
        }
        let first_close = match w.close_initiator {
            Some(Side::Client) => closes.get(&(port, true)),
            Some(Side::Server) => closes.get(&(port, false)),
            None => None,
        };
        assert_eq!(
            w.close_code,
            first_close.copied(),
            "{ctx}: tshark close code"
        );
    }
    // The upgrade request is an http row answered by 101 (and nothing after it is HTTP).
    let upgraded: Vec<_> = a.http.iter().filter(|h| h.upgraded).collect();
    assert_eq!(upgraded.len(), gt.len(), "{what}");
    assert!(upgraded.iter().all(|h| h.status == Some(101)), "{what}");
    assert_eq!(a.http.len(), gt.len(), "{what}: no frame read as HTTP");
    assert_eq!(a.stats.app.websocket.connections, gt.len() as u64);
    assert_eq!(a.stats.app.websocket.protocol_errors, 0);
}

/// The bundled copy (`testdata/lab/k_websocket`, without the `push` connection) against the
/// fixture made from the same two oracles (`scripts/gen-websocket-fixture.py`): runs without
/// `../shared`.
#[test]
fn bundled_k_websocket_matches_the_fixture() {
    let dir = common::testdata().join("lab/k_websocket");
    let a = analyze(&dir.join("capture.pcap"), &dir.join("sslkeylog.txt"), 2);
    let rows = common::tsv(&common::testdata().join("expected/websocket/k_websocket.tsv"));
    assert_eq!(rows.len(), 6);
    assert_eq!(
        a.websocket.len(),
        rows.len(),
        "one row per WebSocket connection"
    );
    let num = |s: &str| -> u64 { s.parse().unwrap() };
    for r in &rows {
        let ctx = &r["label"];
        let w = a
            .websocket
            .iter()
            .find(|w| w.client.port.to_string() == r["client_port"])
            .unwrap_or_else(|| panic!("{ctx}: no row"));
        assert_eq!(w.url(), r["url"], "{ctx}");
        assert_eq!(w.deflate, r["compression"] == "true", "{ctx}");
        assert_eq!(w.from_client.messages, num(&r["messages_c2s"]), "{ctx}");
        assert_eq!(w.from_server.messages, num(&r["messages_s2c"]), "{ctx}");
        if !w.deflate {
            assert_eq!(w.from_client.payload_bytes, num(&r["bytes_c2s"]), "{ctx}");
            assert_eq!(w.from_server.payload_bytes, num(&r["bytes_s2c"]), "{ctx}");
        }
        assert_eq!(w.from_client.frames, num(&r["frames_c2s"]), "{ctx}");
        assert_eq!(w.from_server.frames, num(&r["frames_s2c"]), "{ctx}");
        assert_eq!(w.from_client.pings, num(&r["pings_c2s"]), "{ctx}");
        assert_eq!(w.from_server.pongs, num(&r["pongs_s2c"]), "{ctx}");
        assert_eq!(w.ping_rtts, num(&r["pings"]), "{ctx}");
        let side = w.close_initiator.map_or("none", Side::as_str);
        assert_eq!(side, r["close_initiator"], "{ctx}");
        assert_eq!(w.abnormal(), side == "none", "{ctx}");
        let code = w.close_code.map(|c| c.to_string()).unwrap_or_default();
        assert_eq!(code, r["close_code"], "{ctx}: the client's log");
        assert_eq!(code, r["first_close_code"], "{ctx}: tshark");
        assert_eq!(
            w.close_reason.as_deref().unwrap_or(""),
            r["close_reason"],
            "{ctx}"
        );
        if let Some(max) = w.ping_rtt_max_ns {
            // The client times its pings around its event loop: longer than on the wire.
            assert!(
                max > 0 && max / 1000 <= num(&r["ping_rtt_max_us"]) as i64,
                "{ctx}"
            );
        }
        let stall = (1_500_000_000..1_600_000_000).contains(&w.from_server.max_idle_ns);
        assert_eq!(stall, *ctx == "stall", "{ctx}: the server's 1.5 s silences");
    }
}

#[test]
fn k_websocket_matches_the_client_log_and_tshark() {
    need_shared!();
    let dir = common::shared().join("lab/k_websocket");
    let keys = dir.join("sslkeylog.txt");
    let one = analyze(&dir.join("capture.pcap"), &keys, 1);
    check(&one, &dir, "pcap");
    let ng = analyze(&dir.join("capture.pcapng"), &keys, 2);
    check(&ng, &dir, "pcapng, 2 threads");
    assert_eq!(
        one.websocket, ng.websocket,
        "same rows from both files and thread counts"
    );
}

#[test]
fn wss_without_keys_has_no_row() {
    need_shared!();
    let dir = common::shared().join("lab/k_websocket");
    let a = Analyzer::new()
        .analyze(Capture::open(dir.join("capture.pcap")).unwrap())
        .unwrap();
    assert_eq!(a.websocket.len(), 6);
    assert!(a.websocket.iter().all(|w| !w.secure));
}

/// WebSocket over HTTP/2 (RFC 8441), `testdata/lab/ws_h2` (`scripts/make-ws-h2.py`): headless
/// Chromium and a client on the `h2` + `wsproto` libraries, both against hypercorn over TLS
/// (keys in the capture's Decryption Secrets Block), against two oracles made outside pcapstat:
///
/// * each client's own log (`gt_ws.jsonl`: stream id, messages and bytes each way before
///   compression, the close it received, ping round trips, open time);
/// * `ws_frames.tsv`: the WebSocket frames the generating script cut (in Python) from the
///   decrypted DATA payloads tshark 4.0 gives (tshark itself does not dissect WebSocket inside
///   HTTP/2): frames per opcode and direction, and wire payload bytes (compressed).
#[test]
fn websocket_over_http2_matches_the_clients_and_the_frames() {
    let dir = common::testdata().join("lab/ws_h2");
    let gt: Vec<Value> = common::jsonl(&dir.join("gt_ws.jsonl"));
    assert_eq!(gt.len(), 5);
    let frames = ws::frames(&dir.join("ws_frames.tsv"), "tcp", "http2.streamid");
    let mut results = Vec::new();
    for threads in [1, 2] {
        let a = Analyzer::new()
            .threads(threads)
            .analyze(Capture::open(dir.join("capture.pcapng")).unwrap())
            .unwrap();
        assert_eq!(a.websocket.len(), gt.len(), "one row per WebSocket");
        for g in &gt {
            let label = g["label"].as_str().unwrap();
            let port = u16::try_from(g["local_port"].as_u64().unwrap()).unwrap();
            let stream = u32::try_from(g["stream_id"].as_u64().unwrap()).unwrap();
            let w = a
                .websocket
                .iter()
                .find(|w| w.client.port == port && w.stream_id == Some(stream))
                .unwrap_or_else(|| panic!("{label}: no row"));
            let ctx = label;
            assert_eq!(w.url(), g["url"].as_str().unwrap(), "{ctx}");
            assert!(w.secure && !w.damaged, "{ctx}");
            assert_eq!(w.deflate, g["compression"].as_bool().unwrap(), "{ctx}");
            let (sent, recv) = (&g["sent"], &g["received"]);
            let n = |v: &Value| v["messages"].as_u64().unwrap();
            assert_eq!(w.from_client.messages, n(sent), "{ctx}");
            assert_eq!(w.from_server.messages, n(recv), "{ctx}");
            ws::check_frames(w, &frames, port, stream, ctx);
            for (d, gt_dir) in [(&w.from_client, sent), (&w.from_server, recv)] {
                if w.deflate {
                    assert_eq!(d.compressed_messages, d.messages, "{ctx}");
                } else {
                    assert_eq!(d.payload_bytes, gt_dir["bytes"].as_u64().unwrap(), "{ctx}");
                }
            }
            // The close: the one the client received (from the server, or its own echoed);
            // none for the stream the client reset.
            let initiator = g["close_received"]
                .is_object()
                .then(|| g["close_initiator"].as_str().unwrap());
            ws::check_close(w, initiator, &g["close_received"], ctx);
            ws::check_pings(w, &g["pings_rtt_ms"], ctx);
            // Open: the 200 HEADERS on the wire, before the client's open event (Chromium's
            // JavaScript clock: 0.1 ms; its first socket's event came 16 ms late).
            let t_open = (g["t_open"].as_f64().unwrap() * 1e9) as i64;
            let d = t_open - w.open_ts;
            assert!((-1_000_000..30_000_000).contains(&d), "{ctx}: open {d} ns");
            assert!(w.end_ts >= w.open_ts, "{ctx}");
            // Its CONNECT is an http row on the same stream, final at the 200.
            let h = a
                .http
                .iter()
                .find(|h| h.client.port == port && h.stream_id == Some(stream))
                .unwrap_or_else(|| panic!("{ctx}: no http row"));
            assert_eq!(h.method.as_deref(), Some("CONNECT"), "{ctx}");
            assert_eq!(h.path.as_deref(), g["path"].as_str(), "{ctx}");
            assert_eq!(
                (h.status, h.upgraded, h.complete),
                (Some(200), true, true),
                "{ctx}"
            );
            assert_eq!(
                h.response_body_bytes,
                Some(0),
                "{ctx}: tunnel bytes are not a body"
            );
        }
        assert_eq!(a.stats.app.websocket.connections, 5);
        assert_eq!(a.stats.app.websocket.protocol_errors, 0);
        results.push(format!("{:?}", a.websocket));
    }
    assert_eq!(results[0], results[1], "the same rows for any thread count");
}
