//! `testdata/lab/quic_0rtt` (`scripts/make-quic-0rtt.py`): aioquic HTTP/3 connections that
//! resume a session and send their first request in 0-RTT (accepted; refused by the server;
//! sent without a usable ticket), against the client's own log (`gt.jsonl`: which requests it
//! sent in 0-RTT, whether the server accepted early data, when the first 0-RTT STREAM frame of
//! each left) and tshark 4.0 with the key log (`tshark_quic.tsv`: 0-RTT packets per connection).
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;

use pcapstat_core::{Analyzer, Capture};
use serde_json::Value;

mod common;

#[test]
fn requests_sent_in_0rtt_are_rows_and_early_data_is_told() {
    let dir = common::testdata().join("lab/quic_0rtt");
    let gt: Vec<Value> = common::jsonl(&dir.join("gt.jsonl"));
    assert_eq!(gt.len(), 4);
    // tshark: 0-RTT packets (long packet type 1) per client port.
    let mut zero_rtt: BTreeMap<u64, u64> = BTreeMap::new();
    for r in common::tsv(&dir.join("tshark_quic.tsv")) {
        let n = r["quic.long.packet_type"]
            .split(',')
            .filter(|t| *t == "1")
            .count() as u64;
        *zero_rtt
            .entry(r["udp.srcport"].parse().unwrap())
            .or_default() += n;
    }
    let a = Analyzer::new()
        .analyze(Capture::open(dir.join("capture.pcapng")).unwrap())
        .unwrap();
    assert_eq!(a.quic.len(), gt.len());
    assert_eq!(a.stats.quic.zero_rtt_auth_failed, 0);
    for g in &gt {
        let label = g["label"].as_str().unwrap();
        let port = g["local_port"].as_u64().unwrap();
        let q = a
            .quic
            .iter()
            .find(|q| u64::from(q.client.port) == port)
            .unwrap_or_else(|| panic!("{label}: no row"));
        let sent = g["early_data_sent"].as_bool().unwrap();
        assert_eq!(
            q.zero_rtt_packets,
            zero_rtt.get(&port).copied().unwrap_or(0),
            "{label}"
        );
        assert_eq!(q.zero_rtt_packets > 0, sent, "{label}");
        assert_eq!(q.zero_rtt_decrypted, sent, "{label}");
        assert_eq!(
            q.zero_rtt_accepted,
            g["early_data_accepted"].as_bool(),
            "{label}"
        );
        let handshake_done = (g["t_handshake_done"].as_f64().unwrap() * 1e9) as i64;
        let requests = g["requests"].as_array().unwrap();
        let rows: Vec<_> = a.http.iter().filter(|h| h.conn_id == q.conn_id).collect();
        assert_eq!(rows.len(), requests.len(), "{label}");
        for r in requests {
            let id = u32::try_from(r["stream_id"].as_u64().unwrap()).unwrap();
            let h = rows
                .iter()
                .find(|h| h.stream_id == Some(id))
                .unwrap_or_else(|| panic!("{label}: no stream {id}"));
            let ctx = format!("{label} stream {id}");
            assert!(h.complete, "{ctx}");
            assert_eq!(h.path.as_deref(), r["path"].as_str(), "{ctx}");
            assert_eq!(h.response_body_bytes, r["body_bytes"].as_u64(), "{ctx}");
            if r["sent_in"] == "0rtt" {
                // Its first byte on the wire: the 0-RTT packet (tshark's time of it, in the
                // client's log), before the client's handshake was done.
                let first = (r["wire"]["0rtt"]["t_first"].as_f64().unwrap() * 1e9) as i64;
                assert!((h.request_start_ts - first).abs() < 2_000, "{ctx}");
                assert!(h.request_start_ts < handshake_done, "{ctx}");
            } else {
                assert!(h.request_start_ts > handshake_done, "{ctx}");
            }
        }
        // Refused early data: the request went again in 1-RTT.
        let refused = sent && g["early_data_accepted"] == false;
        assert_eq!(q.stream_retransmitted_bytes > 0, refused, "{label}");
    }
}
