//! `testdata/lab/quic_migration` (`scripts/make-quic-migration.py`): aioquic clients that move
//! their connection to a new UDP port (a NAT rebinding keeping its connection ID, a move after
//! a NEW_CONNECTION_ID switch, a move together with one) or only switch IDs, against the
//! client's own log (`gt.jsonl`: its paths and the requests sent on each) and tshark 4.0, which
//! with the key log keeps one `quic.connection.number` per connection across the moves
//! (`tshark_quic.tsv`): datagrams per connection and direction.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;

use pcapstat_core::{Analyzer, Capture, QuicEnd};
use serde_json::Value;

mod common;

#[test]
fn a_connection_that_moves_is_one_row_with_all_its_datagrams() {
    let dir = common::testdata().join("lab/quic_migration");
    let gt: Vec<Value> = common::jsonl(&dir.join("gt.jsonl"));
    assert_eq!(gt.len(), 4);
    let server_port = gt[0]["server_port"].as_u64().unwrap();
    // tshark: (connection number) -> [datagrams from the client, from the server], and the
    // client ports each connection used.
    let mut counts: BTreeMap<String, [u64; 2]> = BTreeMap::new();
    let mut ports: BTreeMap<String, Vec<u64>> = BTreeMap::new();
    for r in common::tsv(&dir.join("tshark_quic.tsv")) {
        let conn = r["quic.connection.number"]
            .split(',')
            .next()
            .unwrap()
            .to_string();
        let (src, dst): (u64, u64) = (
            r["udp.srcport"].parse().unwrap(),
            r["udp.dstport"].parse().unwrap(),
        );
        let from_client = dst == server_port;
        counts.entry(conn.clone()).or_default()[usize::from(!from_client)] += 1;
        let port = if from_client { src } else { dst };
        let p = ports.entry(conn).or_default();
        if !p.contains(&port) {
            p.push(port);
        }
    }
    for threads in [1, 2] {
        let a = Analyzer::new()
            .threads(threads)
            .analyze(Capture::open(dir.join("capture.pcapng")).unwrap())
            .unwrap();
        assert_eq!(
            a.quic.len(),
            gt.len(),
            "one row per connection, moves included"
        );
        assert_eq!(a.stats.quic.orphans, 0, "every datagram placed");
        assert_eq!(
            a.stats.quic.short_unknown_dcid, 0,
            "NEW_CONNECTION_ID IDs known"
        );
        assert_eq!(a.stats.quic.migrations, 3);
        for g in &gt {
            let label = g["label"].as_str().unwrap();
            let paths: Vec<u64> = g["paths"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| p["local_port"].as_u64().unwrap())
                .collect();
            let q = a
                .quic
                .iter()
                .find(|q| u64::from(q.client.port) == paths[0])
                .unwrap_or_else(|| panic!("{label}: no row"));
            assert_eq!(q.migrations, paths.len() as u64 - 1, "{label}");
            assert_eq!(
                q.migrated_client.map(|e| u64::from(e.port)),
                (paths.len() > 1).then(|| paths[paths.len() - 1]),
                "{label}"
            );
            // tshark's connection with the same client ports, in the same order.
            let (conn, _) = ports
                .iter()
                .find(|(_, p)| **p == paths)
                .unwrap_or_else(|| panic!("{label}: tshark has no connection on {paths:?}"));
            let [c2s, s2c] = counts[conn];
            assert_eq!((q.datagrams_c2s, q.datagrams_s2c), (c2s, s2c), "{label}");
            // Every request, on whichever path it was sent, is a complete row of this
            // connection; the close came from the client's last port.
            let requests = g["requests"].as_array().unwrap();
            let rows: Vec<_> = a.http.iter().filter(|h| h.conn_id == q.conn_id).collect();
            assert_eq!(rows.len(), requests.len(), "{label}");
            for r in requests {
                let id = u32::try_from(r["stream_id"].as_u64().unwrap()).unwrap();
                let h = rows
                    .iter()
                    .find(|h| h.stream_id == Some(id))
                    .unwrap_or_else(|| panic!("{label}: no stream {id}"));
                assert!(h.complete, "{label} {id}");
                assert_eq!(
                    h.response_body_bytes,
                    r["body_bytes"].as_u64(),
                    "{label} {id}"
                );
            }
            assert_eq!(q.ended_by, Some(QuicEnd::ConnectionClose), "{label}");
        }
    }
}
