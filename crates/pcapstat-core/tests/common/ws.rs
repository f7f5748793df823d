//! WebSocket rows against the labs' oracles: the frames a lab script cut from the decrypted
//! stream (`ws_frames.tsv`) and the client's own log (close frames, ping round trips).
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::Path;

use pcapstat_core::{Side, WebSocketRecord};
use serde_json::Value;

/// Frames and payload bytes per (client port, stream, sent by the client, opcode name).
pub type Frames = BTreeMap<(u16, u32, bool, String), (u64, u64)>;

/// The frames of a `ws_frames.tsv` whose ports are in columns `<proto>.srcport` /
/// `<proto>.dstport` and stream IDs in `stream_col`; masked frames are the client's.
pub fn frames(path: &Path, proto: &str, stream_col: &str) -> Frames {
    let mut out = Frames::new();
    for r in super::tsv(path) {
        let from_client = r["masked"] == "1";
        let col = if from_client { "srcport" } else { "dstport" };
        let port = r[&format!("{proto}.{col}")].parse().expect("port");
        let stream = r[stream_col].parse().expect("stream id");
        let e = out
            .entry((port, stream, from_client, r["opcode"].clone()))
            .or_default();
        e.0 += 1;
        e.1 += r["payload_length"].parse::<u64>().expect("length");
    }
    out
}

/// Each direction of `w` against the cut frames of its (port, stream): frames of every
/// opcode, pings, pongs, and data payload bytes as on the wire.
pub fn check_frames(w: &WebSocketRecord, frames: &Frames, port: u16, stream: u32, ctx: &str) {
    for (client, d) in [(true, &w.from_client), (false, &w.from_server)] {
        let f = |op: &str| {
            frames
                .get(&(port, stream, client, op.to_string()))
                .copied()
                .unwrap_or_default()
        };
        let c = format!("{ctx}, client={client}");
        let all = ["text", "binary", "continuation", "close", "ping", "pong"];
        assert_eq!(
            d.frames,
            all.iter().map(|o| f(o).0).sum::<u64>(),
            "{c}: frames"
        );
        assert_eq!((d.pings, d.pongs), (f("ping").0, f("pong").0), "{c}");
        let data: u64 = ["text", "binary", "continuation"]
            .iter()
            .map(|o| f(o).1)
            .sum();
        assert_eq!(d.payload_bytes, data, "{c}: wire payload bytes");
    }
}

/// The close against the client's log: `initiator` (`client` / `server`; `None`: no close
/// frame, an abnormal end) and the close frame the client received (`code`, `reason`).
pub fn check_close(w: &WebSocketRecord, initiator: Option<&str>, received: &Value, ctx: &str) {
    match initiator {
        None => {
            assert!(w.abnormal(), "{ctx}");
            assert_eq!((w.close_code, &w.close_reason), (None, &None), "{ctx}");
        }
        Some(who) => {
            let side = if who == "client" {
                Side::Client
            } else {
                Side::Server
            };
            assert_eq!(w.close_initiator, Some(side), "{ctx}");
            assert_eq!(
                w.close_code.map(u64::from),
                received["code"].as_u64(),
                "{ctx}"
            );
            assert_eq!(
                w.close_reason.as_deref(),
                received["reason"].as_str(),
                "{ctx}"
            );
        }
    }
}

/// Ping round trips against the client's (`pings_rtt_ms`): as many; the client times them
/// around its event loop, so the capture's longest is shorter (50 µs of slack).
pub fn check_pings(w: &WebSocketRecord, pings_rtt_ms: &Value, ctx: &str) {
    let rtts: Vec<f64> = pings_rtt_ms
        .as_array()
        .expect("pings_rtt_ms")
        .iter()
        .map(|v| v.as_f64().expect("ms") * 1e6)
        .collect();
    assert_eq!(w.ping_rtts, rtts.len() as u64, "{ctx}");
    match w.ping_rtt_max_ns {
        Some(max) => {
            let gt_max = rtts.iter().copied().fold(0.0, f64::max);
            assert!(
                max > 0 && (max as f64) <= gt_max + 50_000.0,
                "{ctx}: {max} vs {gt_max}"
            );
            let median = w.ping_rtt_median_ns.expect("median");
            assert!(median > 0 && median <= max, "{ctx}");
        }
        None => assert!(rtts.is_empty(), "{ctx}"),
    }
}
