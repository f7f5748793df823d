//! End to end over the lab captures (`../shared/lab`, see tests/common): capture reader →
//! decoder → sharded `TcpTracker`s, compared per connection with tshark's `ts_tcp_streams.tsv`
//! (tcp.analysis counts, iRTT and SYN→SYN/ACK to the microsecond, outcome), for the pcap and
//! the pcapng copy, and for 1 and 3 shards (the merged output must be identical).
#![allow(clippy::unwrap_used)]

use std::path::Path;

use pcapstat_core::fuzzing::{shard_of, Decoder, TcpTracker, Transport};
use pcapstat_core::{
    Capture, ConnectionRecord, DecodeLimits, DirectionStats, Outcome, TcpConfig, TcpStats,
};

mod common;

fn lab() -> std::path::PathBuf {
    common::shared().join("lab")
}

fn track(path: &Path, nshards: usize) -> (Vec<ConnectionRecord>, TcpStats) {
    let mut capture = Capture::open(path).unwrap();
    let mut decoder = Decoder::new(DecodeLimits::default());
    let mut shards: Vec<TcpTracker> = (0..nshards)
        .map(|_| TcpTracker::new(TcpConfig::default()))
        .collect();
    let mut end = 0;
    while let Some(frame) = capture.next_frame().unwrap() {
        end = frame.ts_ns;
        let d = decoder.decode(&frame);
        if let Some(Transport::Tcp(seg)) = d.transport {
            let i = shard_of(&seg.ip, seg.src_port, seg.dst_port, nshards);
            shards[i].on_segment(&seg);
        }
    }
    let mut records = Vec::new();
    let mut stats = TcpStats::default();
    for t in shards {
        let out = t.finish(end);
        records.extend(out.records);
        stats.merge(&out.stats);
    }
    records.sort_by_key(|r| r.conn_id);
    (records, stats)
}

fn us(ns: Option<i64>) -> Option<i64> {
    ns.map(|n| (n + 500).div_euclid(1000))
}

fn parse_us(s: &str) -> Option<i64> {
    (!s.is_empty()).then(|| (s.parse::<f64>().unwrap() * 1e6).round() as i64)
}

fn compare(scenario: &str, records: &[ConnectionRecord]) {
    let streams = common::tsv(&lab().join(scenario).join("ts_tcp_streams.tsv"));
    assert_eq!(records.len(), streams.len(), "{scenario}: connection count");
    for s in &streams {
        let port: u16 = s["client_port"].parse().unwrap();
        let r = records.iter().find(|r| r.client_port == port).unwrap();
        let n = |k: &str| -> u64 { s[k].parse().unwrap() };
        let both = |f: fn(&DirectionStats) -> u64| f(&r.c2s) + f(&r.s2c);
        let ctx = format!("{scenario} client port {port}");
        assert_eq!(both(|d| d.retransmissions), n("n_retransmission"), "{ctx}");
        assert_eq!(
            both(|d| d.fast_retransmissions),
            n("n_fast_retransmission"),
            "{ctx}"
        );
        assert_eq!(
            both(|d| d.spurious_retransmissions),
            n("n_spurious_retransmission"),
            "{ctx}"
        );
        assert_eq!(both(|d| d.out_of_order), n("n_out_of_order"), "{ctx}");
        assert_eq!(both(|d| d.dup_acks), n("n_duplicate_ack"), "{ctx}");
        assert_eq!(both(|d| d.lost_segments), n("n_lost_segment"), "{ctx}");
        assert_eq!(
            both(|d| d.ack_lost_segments),
            n("n_ack_lost_segment"),
            "{ctx}"
        );
        assert_eq!(both(|d| d.zero_windows), n("n_zero_window"), "{ctx}");
        assert_eq!(both(|d| d.window_full), n("n_window_full"), "{ctx}");
        assert_eq!(both(|d| d.keep_alives), n("n_keep_alive"), "{ctx}");
        assert_eq!(r.c2s.packets + r.s2c.packets, n("packets"), "{ctx}");
        // The oracle's bytes columns: server→client is the sequence-space extent (= our unique
        // bytes when nothing was lost before the capture point); client→server sums tcp.len
        // over all segments, retransmissions included.
        assert_eq!(
            r.s2c.payload_bytes + r.s2c.missed_bytes,
            n("bytes_s2c"),
            "{ctx} bytes s2c"
        );
        assert_eq!(
            r.c2s.payload_bytes + r.c2s.retransmitted_bytes,
            n("bytes_c2s"),
            "{ctx} bytes c2s"
        );
        assert_eq!(u64::from(r.syn_retries) + 1, n("syn_count").max(1), "{ctx}");
        assert!(r.handshake_seen && !r.client_guessed, "{ctx}");
        match s["state"].as_str() {
            "refused" => {
                assert_eq!(r.outcome, Outcome::Refused, "{ctx}");
                assert_eq!(r.reset_by, Some(pcapstat_core::Side::Server), "{ctx}");
            }
            "no_synack" => assert_eq!(r.outcome, Outcome::Timeout, "{ctx}"),
            _ => {
                assert!(
                    matches!(r.outcome, Outcome::Closed | Outcome::Reset | Outcome::Open),
                    "{ctx}: {:?}",
                    r.outcome
                );
                assert_eq!(us(r.syn_to_ack_ns), parse_us(&s["irtt"]), "{ctx}: iRTT");
                assert_eq!(
                    us(r.syn_to_synack_ns),
                    parse_us(&s["syn_to_synack"]),
                    "{ctx}: SYN→SYN/ACK"
                );
            }
        }
    }
}

#[test]
fn lab_captures_match_tshark_per_connection() {
    need_shared!();
    let scenarios = [
        "a_http_newconn",
        "b_http_keepalive",
        "c_tls12_tls13",
        "d_tls_resumption",
        "e_dns",
        "f_refused_syndrop",
        "g_load_tbf_retrans",
        "h_http2",
        "i_delay_rtt",
    ];
    for scenario in scenarios {
        let dir = lab().join(scenario);
        assert!(dir.join("capture.pcap").exists(), "{dir:?} missing");
        let (one, stats) = track(&dir.join("capture.pcap"), 1);
        compare(scenario, &one);
        // The pcapng copy when present (g_load_tbf_retrans has none), else the pcap again.
        let other = Some(dir.join("capture.pcapng"))
            .filter(|p| p.exists())
            .unwrap_or_else(|| dir.join("capture.pcap"));
        let (three, stats3) = track(&other, 3);
        assert_eq!(one, three, "{scenario}: pcap/1 shard vs pcapng/3 shards");
        assert_eq!(stats.connections, stats3.connections);
        assert_eq!(stats.segments, stats3.segments);
        assert_eq!(stats.evictions + stats.ooo_limit_hits, 0);
    }
}
