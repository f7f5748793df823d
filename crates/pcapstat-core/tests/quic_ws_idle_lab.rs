//! `testdata/lab/quic_ws_idle` (`scripts/make-quic-ws-idle.py`): an aioquic HTTP/3 client and
//! server of the lab's own on aioquic's `H3Connection` (keys in the capture's Decryption
//! Secrets Block), against oracles made outside pcapstat:
//!
//! * the client's own log (`gt.jsonl`): how each connection ended (`close_sent`: its
//!   CONNECTION_CLOSE; `idle_timeout`: aioquic's idle timer fired, nothing on the wire), the
//!   negotiated idle timeout, and per WebSocket over HTTP/3 (RFC 9220) stream the messages and
//!   bytes each way, the close frames, the reset without a close, the ping round trips;
//! * `ws_frames.tsv`: the WebSocket frames the script cut (in Python) from the STREAM data
//!   tshark 4.0 decrypted (tshark dissects neither QPACK nor WebSocket inside HTTP/3): frames
//!   per opcode and direction, payload bytes.
#![allow(clippy::unwrap_used)]

use pcapstat_core::{Analyzer, Capture, QuicEnd, QuicOutcome, Side};
use serde_json::Value;

mod common;
use common::ws;

#[test]
fn websocket_over_http3_and_how_connections_ended_match_the_client() {
    let dir = common::testdata().join("lab/quic_ws_idle");
    let gt: Vec<Value> = common::jsonl(&dir.join("gt.jsonl"));
    assert_eq!(gt.len(), 5);
    let frames = ws::frames(&dir.join("ws_frames.tsv"), "udp", "quic.stream.stream_id");
    let mut runs = Vec::new();
    for threads in [1, 2] {
        let a = Analyzer::new()
            .threads(threads)
            .analyze(Capture::open(dir.join("capture.pcapng")).unwrap())
            .unwrap();
        assert_eq!(a.quic.len(), gt.len());
        let mut ws_rows = 0;
        for g in &gt {
            let label = g["label"].as_str().unwrap();
            let port = u16::try_from(g["local_port"].as_u64().unwrap()).unwrap();
            let q = a
                .quic
                .iter()
                .find(|q| q.client.port == port)
                .unwrap_or_else(|| panic!("{label}: no quic row"));
            assert_eq!(q.outcome, QuicOutcome::Established, "{label}");
            assert!(q.one_rtt_decrypted, "{label}");
            let idle_ms = g["idle_timeout_ms"].as_i64().unwrap();
            assert_eq!(q.idle_timeout_ns, Some(idle_ms * 1_000_000), "{label}");
            match g["end_reason"].as_str().unwrap() {
                "idle_timeout" => {
                    assert_eq!(q.ended_by, Some(QuicEnd::IdleTimeout), "{label}");
                    assert_eq!((q.close_ts, q.close_error), (None, None), "{label}");
                    // The client's idle timer fired one idle timeout after the last packet it
                    // heard of (aioquic: the last packet received or the first sent after it).
                    let t_end = (g["t_end"].as_f64().unwrap() * 1e9) as i64;
                    let after = t_end - q.end_ts;
                    assert!(
                        (idle_ms * 1_000_000..idle_ms * 1_000_000 + 50_000_000).contains(&after),
                        "{label}: idle timer {after} ns after the last packet"
                    );
                }
                "close_sent" => {
                    assert_eq!(q.ended_by, Some(QuicEnd::ConnectionClose), "{label}");
                    assert_eq!(q.close_initiator, Some(Side::Client), "{label}");
                    assert_eq!(q.close_error, g["end"]["error_code"].as_u64(), "{label}");
                    let t = (g["t_close_sent"].as_f64().unwrap() * 1e9) as i64;
                    let d = q.close_ts.unwrap() - t;
                    assert!((0..20_000_000).contains(&d), "{label}: close {d} ns");
                }
                other => panic!("{label}: {other}"),
            }
            for st in g["streams"].as_array().unwrap() {
                let stream = u32::try_from(st["stream_id"].as_u64().unwrap()).unwrap();
                let h = a
                    .http
                    .iter()
                    .find(|h| h.client.port == port && h.stream_id == Some(stream))
                    .unwrap_or_else(|| panic!("{label}: no http row"));
                assert_eq!(h.path.as_deref(), st["path"].as_str(), "{label}");
                assert_eq!(h.status.map(u64::from), st["status"].as_u64(), "{label}");
                assert!(h.complete, "{label}");
                if st["kind"] != "websocket" {
                    assert!(!h.upgraded, "{label}");
                    assert_eq!(h.response_body_bytes, st["body_bytes"].as_u64(), "{label}");
                    continue;
                }
                ws_rows += 1;
                assert_eq!(h.method.as_deref(), Some("CONNECT"), "{label}");
                assert!(h.upgraded, "{label}");
                assert_eq!(h.response_body_bytes, Some(0), "{label}: not a body");
                let w = a
                    .websocket
                    .iter()
                    .find(|w| w.client.port == port && w.stream_id == Some(stream))
                    .unwrap_or_else(|| panic!("{label}: no websocket row"));
                assert_eq!(w.conn_id, q.conn_id, "{label}");
                assert!(w.secure && !w.damaged && !w.deflate, "{label}");
                assert_eq!(w.path.as_deref(), st["path"].as_str(), "{label}");
                let (sent, recv) = (&st["sent"], &st["received"]);
                for (d, g_dir) in [(&w.from_client, sent), (&w.from_server, recv)] {
                    assert_eq!(d.messages, g_dir["messages"].as_u64().unwrap(), "{label}");
                    assert_eq!(d.payload_bytes, g_dir["bytes"].as_u64().unwrap(), "{label}");
                }
                ws::check_frames(w, &frames, port, stream, label);
                // The close the client received (its own echoed, or the server's); none on
                // the stream it reset.
                let initiator =
                    Some(st["close_initiator"].as_str().unwrap()).filter(|w| *w != "none");
                if initiator.is_none() {
                    assert!(st["reset_sent"].is_object(), "{label}");
                }
                ws::check_close(w, initiator, &st["close_received"], label);
                ws::check_pings(w, &st["pings_rtt_ms"], label);
                // Open: the 200 on the wire before the client's HEADERS event.
                let t_open = (st["t_open"].as_f64().unwrap() * 1e9) as i64;
                let d = t_open - w.open_ts;
                assert!((0..10_000_000).contains(&d), "{label}: open {d} ns");
                assert!(w.end_ts >= w.open_ts && w.end_ts <= q.end_ts, "{label}");
            }
        }
        assert_eq!(a.websocket.len(), ws_rows, "one row per WebSocket stream");
        assert_eq!(a.stats.app.websocket.connections, ws_rows as u64);
        runs.push(format!("{:?} {:?}", a.websocket, a.quic));
    }
    assert_eq!(runs[0], runs[1], "the same rows for any thread count");
}
