//! Per-connection agreement with tshark for every capture that has a `tcp_conns` fixture.
//!
//! Expected values: `testdata/expected/tcp_conns/{lab,captures}/*.tsv`, one row per tshark
//! `tcp.stream`, written by `scripts/gen-fixtures.py` (TShark 4.0.17). Each capture (in
//! `../shared`, see tests/common) is run through the capture reader, the decoder and one
//! `TcpTracker`; each tshark stream is matched to the `ConnectionRecord` with the same endpoints
//! and the same first frame (`conn_id` is 0-based, tshark's frame numbers 1-based), and every
//! per-direction count, the iRTT and the outcome are compared.
//!
//! Where pcapstat deliberately or knowingly differs, the difference is listed in [`KNOWN`] with
//! its reason (docs/tcp.md explains each). The test fails on any difference not listed and on any
//! listed difference that no longer occurs, so the list cannot go stale.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use pcapstat_core::{ConnectionRecord, DirectionStats, Outcome, Side};

/// tshark reports `tcp.analysis.initial_rtt` (SYN → first ACK without SYN) also for a refused
/// connection (SYN → RST/ACK); pcapstat's `syn_to_ack_ns` needs a handshake and is `None`.
const REFUSED_IRTT: &str = "refused: tshark's iRTT is SYN→RST/ACK, syn_to_ack needs a handshake";
/// Only one direction captured: tshark measures SYN → the client's first ACK.
const NO_SYNACK_IRTT: &str = "SYN/ACK not captured: syn_to_ack needs it, tshark takes SYN→ACK";
/// Suricata's split handshake (the client answers the server's SYN with SYN/ACK).
const SPLIT_HANDSHAKE: &str = "split handshake: no client ACK after a server SYN/ACK; tshark \
                               counts both sides' SYNs";
/// Equal timestamps.
const ZERO_IRTT: &str = "tshark takes an iRTT of 0 as not measured and uses the next ACK";
/// A RST/ACK injected before the SYN/ACK.
const RST_BEFORE_SYNACK: &str = "tshark's first ACK after the SYN is the injected RST/ACK";
/// SYNs after the SYN/ACK.
const SYN_COUNT: &str = "syn_retries counts client SYNs before the first SYN/ACK; tshark every SYN";
/// Idle timeout (5 minutes of capture time) between two packets of the same ports.
const IDLE_SPLIT: &str = "a gap longer than the idle timeout starts a new connection";
/// The stream went on more than the close grace (3 s) after a reset: the connection is
/// finished then (as Zeek's `tcp_reset_delay`, 5 s), what follows within the linger time is
/// counted in `tcp.late_after_close`.
const RESET_GRACE: &str = "a reset connection is finished 3 s after its last packet";
/// Timestamps beyond what i64 nanoseconds hold (year 2262).
const TS_SATURATED: &str = "timestamp beyond i64 ns saturates; tshark prints it unsigned";
/// pcap record whose fraction field is 10^9 or more.
const BAD_FRACTION: &str =
    "invalid ns fraction (>= 1e9) added as read; tshark shows a negative time";
/// Timestamps going backwards.
const TS_BACKWARDS: &str = "end_ts is the latest time; tshark's the last frame's";
/// TCP header longer than the segment.
const SHORT_HEADER: &str = "segment shorter than its TCP header is not analysed (decode problem)";
/// SYN whose options are cut by the snap length.
const SNAP_CUT_HEADER: &str = "SYN with its TCP header cut by the snap length is not analysed";
/// zeek tcp/reassembly.pcap frames 8, 10, 12: the server repeats its FIN right after client data
/// segments; tshark calls them fast retransmissions although the capture shows no duplicate ACK
/// from the client (its condition needs two). Not understood yet; ours: plain retransmissions.
const FAST_UNEXPLAINED: &str =
    "tshark flags fast retransmission without 2 dup ACKs; not understood";

/// Known differences: (fixture, tshark stream (`ours@<frame>` for a connection tshark does not
/// have), field, ours, tshark, reason).
#[rustfmt::skip]
const KNOWN: &[(&str, &str, &str, &str, &str, &str)] = &[
    ("captures/ndpi/tests/cfgs/default/pcap/heuristic_tcp_ack_payload.pcap.tsv", "3", "syn_count", "1", "2", SYN_COUNT),
    ("captures/ndpi/tests/cfgs/default/pcap/heuristic_tcp_ack_payload.pcap.tsv", "5", "syn_count", "1", "2", SYN_COUNT),
    ("captures/ndpi/tests/cfgs/default/pcap/tls_1.2_unidirectional_client.pcapng.tsv", "0", "irtt_us", "", "8251", NO_SYNACK_IRTT),
    ("captures/ndpi/tests/cfgs/default/pcap/tls_port_80.pcapng.tsv", "0", "syn_count", "1", "4", SYN_COUNT),
    ("captures/pcapplusplus/Tests/Packet++Test/PacketExamples/dns_over_tcp.pcapng.tsv", "0", "frames_c2s", "1", "2", IDLE_SPLIT),
    ("captures/pcapplusplus/Tests/Packet++Test/PacketExamples/dns_over_tcp.pcapng.tsv", "0", "last_ts_ns", "0", "1614156838745364000", IDLE_SPLIT),
    ("captures/pcapplusplus/Tests/Packet++Test/PacketExamples/dns_over_tcp.pcapng.tsv", "0", "retransmission_c2s", "0", "1", IDLE_SPLIT),
    ("captures/pcapplusplus/Tests/Packet++Test/PacketExamples/dns_over_tcp.pcapng.tsv", "ours@4", "match", "2601:647:4b02:1d20:b1d3:e782:aec8:2511:56752 2001:558:feed::1:53", "-", IDLE_SPLIT),
    ("captures/pcapplusplus/Tests/Packet++Test/PacketExamples/tcp-malformed.pcap.tsv", "0", "match", "-", "first frame 1", SHORT_HEADER),
    ("captures/pcapplusplus/Tests/Pcap++Test/PcapExamples/one_tcp_rst.pcap.tsv", "0", "irtt_us", "", "349", REFUSED_IRTT),
    ("captures/pcapplusplus/Tests/Pcap++Test/PcapExamples/pcapng-example.pcapng.tsv", "0", "frames_c2s", "1", "29", IDLE_SPLIT),
    ("captures/pcapplusplus/Tests/Pcap++Test/PcapExamples/pcapng-example.pcapng.tsv", "0", "frames_s2c", "0", "30", IDLE_SPLIT),
    ("captures/pcapplusplus/Tests/Pcap++Test/PcapExamples/pcapng-example.pcapng.tsv", "0", "irtt_us", "", "54", IDLE_SPLIT),
    ("captures/pcapplusplus/Tests/Pcap++Test/PcapExamples/pcapng-example.pcapng.tsv", "0", "last_ts_ns", "1422527998578402281", "1422528033092194163", IDLE_SPLIT),
    ("captures/pcapplusplus/Tests/Pcap++Test/PcapExamples/pcapng-example.pcapng.tsv", "0", "outcome", "Timeout", "syn 1 synack 1 rst none fin 1/1", IDLE_SPLIT),
    ("captures/pcapplusplus/Tests/Pcap++Test/PcapExamples/pcapng-example.pcapng.tsv", "1", "last_ts_ns", "9223372036854775807", "18446744073204277451000", TS_SATURATED),
    ("captures/pcapplusplus/Tests/Pcap++Test/PcapExamples/pcapng-example.pcapng.tsv", "10", "last_ts_ns", "9223372036854775807", "18446744073204198290000", TS_SATURATED),
    ("captures/pcapplusplus/Tests/Pcap++Test/PcapExamples/pcapng-example.pcapng.tsv", "11", "irtt_us", "", "22", REFUSED_IRTT),
    ("captures/pcapplusplus/Tests/Pcap++Test/PcapExamples/pcapng-example.pcapng.tsv", "11", "last_ts_ns", "9223372036854775807", "18446744073204160216000", TS_SATURATED),
    ("captures/pcapplusplus/Tests/Pcap++Test/PcapExamples/pcapng-example.pcapng.tsv", "12", "last_ts_ns", "9223372036854775807", "18446744073204168562000", TS_SATURATED),
    ("captures/pcapplusplus/Tests/Pcap++Test/PcapExamples/pcapng-example.pcapng.tsv", "13", "last_ts_ns", "9223372036854775807", "18446744073204247803000", TS_SATURATED),
    ("captures/pcapplusplus/Tests/Pcap++Test/PcapExamples/pcapng-example.pcapng.tsv", "14", "last_ts_ns", "9223372036854775807", "18446744073204276043000", TS_SATURATED),
    ("captures/pcapplusplus/Tests/Pcap++Test/PcapExamples/pcapng-example.pcapng.tsv", "2", "last_ts_ns", "9223372036854775807", "18446744073204268524000", TS_SATURATED),
    ("captures/pcapplusplus/Tests/Pcap++Test/PcapExamples/pcapng-example.pcapng.tsv", "3", "last_ts_ns", "9223372036854775807", "18446744073204272416000", TS_SATURATED),
    ("captures/pcapplusplus/Tests/Pcap++Test/PcapExamples/pcapng-example.pcapng.tsv", "4", "last_ts_ns", "9223372036854775807", "18446744073204277068000", TS_SATURATED),
    ("captures/pcapplusplus/Tests/Pcap++Test/PcapExamples/pcapng-example.pcapng.tsv", "5", "last_ts_ns", "9223372036854775807", "18446744073204234426000", TS_SATURATED),
    ("captures/pcapplusplus/Tests/Pcap++Test/PcapExamples/pcapng-example.pcapng.tsv", "6", "last_ts_ns", "9223372036854775807", "18446744073204214291000", TS_SATURATED),
    ("captures/pcapplusplus/Tests/Pcap++Test/PcapExamples/pcapng-example.pcapng.tsv", "7", "last_ts_ns", "9223372036854775807", "18446744073204150271000", TS_SATURATED),
    ("captures/pcapplusplus/Tests/Pcap++Test/PcapExamples/pcapng-example.pcapng.tsv", "8", "last_ts_ns", "9223372036854775807", "18446744073204158382000", TS_SATURATED),
    ("captures/pcapplusplus/Tests/Pcap++Test/PcapExamples/pcapng-example.pcapng.tsv", "9", "last_ts_ns", "9223372036854775807", "18446744073204242085000", TS_SATURATED),
    ("captures/pcapplusplus/Tests/Pcap++Test/PcapExamples/pcapng-example.pcapng.tsv", "ours@2", "match", "127.0.0.1:40304 127.0.0.1:3306", "-", IDLE_SPLIT),
    ("captures/pcapplusplus/Tests/Pcap++Test/PcapExamples/raw_ip.pcap.tsv", "2", "irtt_us", "", "14503", NO_SYNACK_IRTT),
    ("captures/pcapplusplus/Tests/Pcap++Test/PcapExamples/raw_ip.pcap.tsv", "5", "irtt_us", "", "16001", NO_SYNACK_IRTT),
    ("captures/rusticata-pcap-analyzer/assets/frag_tcp_80_ipv4.pcap.tsv", "0", "irtt_us", "", "484", REFUSED_IRTT),
    ("captures/rusticata-pcap-analyzer/assets/frag_tcp_80_ipv4.pcap.tsv", "1", "irtt_us", "", "253", REFUSED_IRTT),
    ("captures/rusticata-pcap-analyzer/assets/nmap_tcp_22_ipv4.pcap.tsv", "1", "irtt_us", "", "270", REFUSED_IRTT),
    ("captures/rusticata-pcap-analyzer/assets/nmap_tcp_22_ipv4.pcap.tsv", "2", "irtt_us", "", "189", REFUSED_IRTT),
    ("captures/rusticata-pcap-analyzer/assets/nmap_tcp_22_ipv4.pcap.tsv", "3", "irtt_us", "", "323", REFUSED_IRTT),
    ("captures/rusticata-pcap-analyzer/assets/nmap_tcp_22_ipv4.pcap.tsv", "4", "irtt_us", "", "318", REFUSED_IRTT),
    ("captures/rusticata-pcap-analyzer/assets/nmap_tcp_22_ipv4.pcap.tsv", "5", "irtt_us", "", "278", REFUSED_IRTT),
    ("captures/rusticata-pcap-analyzer/assets/nmap_tcp_22_ipv6.pcap.tsv", "0", "irtt_us", "", "239", REFUSED_IRTT),
    ("captures/rusticata-pcap-analyzer/assets/nmap_tcp_22_ipv6.pcap.tsv", "1", "irtt_us", "", "161", REFUSED_IRTT),
    ("captures/rusticata-pcap-analyzer/assets/nmap_tcp_22_ipv6.pcap.tsv", "2", "irtt_us", "", "239", REFUSED_IRTT),
    ("captures/rusticata-pcap-analyzer/assets/nmap_tcp_22_ipv6.pcap.tsv", "3", "irtt_us", "", "330", REFUSED_IRTT),
    ("captures/rusticata-pcap-analyzer/assets/nmap_tcp_22_ipv6.pcap.tsv", "4", "irtt_us", "", "283", REFUSED_IRTT),
    ("captures/suricata-verify/tests/tcp-split-handshake-01-4whs/split-handshake-4whs.pcap.tsv", "0", "irtt_us", "", "1065", SPLIT_HANDSHAKE),
    ("captures/suricata-verify/tests/tcp-split-handshake-01-4whs/split-handshake-4whs.pcap.tsv", "0", "syn_count", "1", "2", SPLIT_HANDSHAKE),
    ("captures/tcpdump/tests/timestamp_invalid_nano.pcap.tsv", "0", "last_ts_ns", "1418145372147483648", "-1418145372147483648", BAD_FRACTION),
    ("captures/zeek/testing/btest/Traces/http/206_example_a.pcap.tsv", "1", "syn_count", "1", "2", SYN_COUNT),
    ("captures/zeek/testing/btest/Traces/http/261/variant-04-te_cl_desync.pcap.tsv", "0", "irtt_us", "0", "16", ZERO_IRTT),
    ("captures/zeek/testing/btest/Traces/http/261/variant-04-te_cl_desync.pcap.tsv", "0", "last_ts_ns", "1780352611276262000", "1780352611276246000", TS_BACKWARDS),
    ("captures/zeek/testing/btest/Traces/http/http-desync-request-response-5.pcap.tsv", "0", "irtt_us", "", "9", REFUSED_IRTT),
    ("captures/zeek/testing/btest/Traces/llc.pcap.tsv", "0", "frames_c2s", "1", "1333", RESET_GRACE),
    ("captures/zeek/testing/btest/Traces/llc.pcap.tsv", "0", "last_ts_ns", "826191058128321000", "826277399202051000", RESET_GRACE),
    ("captures/zeek/testing/btest/Traces/llc.pcap.tsv", "ours@1161", "match", "128.3.140.132:2035 194.140.136.34:80", "-", IDLE_SPLIT),
    ("captures/zeek/testing/btest/Traces/llc.pcap.tsv", "ours@141", "match", "128.3.140.132:2035 194.140.136.34:80", "-", IDLE_SPLIT),
    ("captures/zeek/testing/btest/Traces/llc.pcap.tsv", "ours@552", "match", "128.3.140.132:2035 194.140.136.34:80", "-", IDLE_SPLIT),
    ("captures/zeek/testing/btest/Traces/llc.pcap.tsv", "ours@724", "match", "128.3.140.132:2035 194.140.136.34:80", "-", IDLE_SPLIT),
    ("captures/zeek/testing/btest/Traces/llc.pcap.tsv", "ours@737", "match", "128.3.140.132:2035 194.140.136.34:80", "-", IDLE_SPLIT),
    ("captures/zeek/testing/btest/Traces/llc.pcap.tsv", "ours@850", "match", "128.3.140.132:2035 194.140.136.34:80", "-", IDLE_SPLIT),
    ("captures/zeek/testing/btest/Traces/mixed-vlan-mpls.pcap.tsv", "0", "irtt_us", "", "905", NO_SYNACK_IRTT),
    ("captures/zeek/testing/btest/Traces/nmap-vsn.pcap.tsv", "0", "irtt_us", "", "665", REFUSED_IRTT),
    ("captures/zeek/testing/btest/Traces/nmap-vsn.pcap.tsv", "1", "irtt_us", "", "155", REFUSED_IRTT),
    ("captures/zeek/testing/btest/Traces/nmap-vsn.pcap.tsv", "11", "irtt_us", "", "233626", REFUSED_IRTT),
    ("captures/zeek/testing/btest/Traces/nmap-vsn.pcap.tsv", "14", "irtt_us", "", "133346", REFUSED_IRTT),
    ("captures/zeek/testing/btest/Traces/nmap-vsn.pcap.tsv", "4", "irtt_us", "", "208337", REFUSED_IRTT),
    ("captures/zeek/testing/btest/Traces/nmap-vsn.pcap.tsv", "8", "irtt_us", "", "232841", REFUSED_IRTT),
    ("captures/zeek/testing/btest/Traces/pop3/pop3.pcap.tsv", "0", "irtt_us", "", "50692", REFUSED_IRTT),
    ("captures/zeek/testing/btest/Traces/pop3/pop3.pcap.tsv", "1", "irtt_us", "", "50705", REFUSED_IRTT),
    ("captures/zeek/testing/btest/Traces/tcp/reassembly.pcap.tsv", "0", "fast_retransmission_s2c", "0", "3", FAST_UNEXPLAINED),
    ("captures/zeek/testing/btest/Traces/tcp/rst-inject-rae.pcap.tsv", "0", "irtt_us", "1267865", "233736", RST_BEFORE_SYNACK),
    ("captures/zeek/testing/btest/Traces/tcp/truncated-header.pcap.tsv", "0", "match", "-", "first frame 1", SNAP_CUT_HEADER),
    ("captures/zeek/testing/btest/Traces/tcp/truncated-header.pcap.tsv", "ours@2", "match", "201.186.157.67:60827 128.3.26.249:25", "-", SNAP_CUT_HEADER),
    ("captures/zeek/testing/btest/Traces/tls/chrome-1250-tls-x25519-kyber.pcap.tsv", "0", "irtt_us", "0", "19605", ZERO_IRTT),
    ("lab/f_refused_syndrop.tsv", "0", "irtt_us", "", "88", REFUSED_IRTT),
    ("lab/f_refused_syndrop.tsv", "1", "irtt_us", "", "34", REFUSED_IRTT),
    ("lab/f_refused_syndrop.tsv", "2", "irtt_us", "", "80", REFUSED_IRTT),
    ("lab/i_delay_rtt.tsv", "13", "irtt_us", "", "23608", REFUSED_IRTT),
];

/// Reads one per-direction count.
type Count = fn(&DirectionStats) -> u64;

/// One difference between our record and tshark's stream.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Diff {
    file: String,
    stream: String,
    field: String,
    ours: String,
    tshark: String,
}

/// Fixtures: (fixture name relative to tcp_conns/, capture path).
fn fixtures() -> Vec<(String, PathBuf)> {
    let expected = common::testdata().join("expected/tcp_conns");
    let shared = common::shared();
    let mut out = Vec::new();
    for f in common::files_under(&expected) {
        let rel = f
            .strip_prefix(&expected)
            .unwrap()
            .to_string_lossy()
            .replace('\\', "/");
        let stem = rel.strip_suffix(".tsv").unwrap();
        let capture = match stem.strip_prefix("lab/") {
            Some(scenario) => shared.join("lab").join(scenario).join("capture.pcap"),
            None => shared.join(stem),
        };
        assert!(capture.is_file(), "capture for {rel} missing: {capture:?}");
        out.push((rel, capture));
    }
    assert!(out.len() > 100, "tcp_conns fixtures missing");
    out
}

fn us(ns: Option<i64>) -> String {
    ns.map(|n| (n + 500).div_euclid(1000).to_string())
        .unwrap_or_default()
}

fn side(s: Option<Side>) -> &'static str {
    match s {
        None => "none",
        Some(Side::Client) => "client",
        Some(Side::Server) => "server",
    }
}

/// Why our outcome does not fit what tshark saw in the stream, if it does not.
fn outcome_mismatch(r: &ConnectionRecord, s: &BTreeMap<String, String>) -> Option<String> {
    let n = |k: &str| -> u64 { s[k].parse().unwrap() };
    let rst = s["rst_from"].as_str();
    let synack = n("has_synack") == 1;
    let syns = n("syn_count");
    let (fin_c, fin_s) = (n("fin_c2s") > 0, n("fin_s2c") > 0);
    let ok = match r.outcome {
        Outcome::Refused => rst != "none" && !synack && syns > 0,
        Outcome::Timeout => n("frames_s2c") == 0 && syns > 0 && rst == "none",
        Outcome::Reset => rst != "none",
        Outcome::Closed => fin_c && fin_s,
        Outcome::Midstream => syns == 0 && rst == "none" && !(fin_c && fin_s),
        Outcome::OneDirection => {
            (n("frames_s2c") == 0 || n("frames_c2s") == 0) && rst == "none" && (syns > 0 || synack)
        }
        Outcome::Open | Outcome::Established => {
            (syns > 0 || synack) && rst == "none" && !(fin_c && fin_s)
        }
    };
    (!ok).then(|| format!("{:?}", r.outcome))
}

/// Compares one capture; returns the differences.
fn compare(file: &str, path: &Path) -> Vec<Diff> {
    let streams = common::tsv(&common::testdata().join("expected/tcp_conns").join(file));
    let records = common::track(path).records;
    let mut diffs = Vec::new();
    let mut used = BTreeSet::new();
    for s in &streams {
        let stream = s["stream"].clone();
        let mut diff = |field: &str, ours: String, tshark: &str| {
            if ours != tshark {
                diffs.push(Diff {
                    file: file.to_string(),
                    stream: stream.clone(),
                    field: field.to_string(),
                    ours,
                    tshark: tshark.to_string(),
                });
            }
        };
        let first: u64 = s["first_frame"].parse().unwrap();
        let c = (s["client_ip"].as_str(), s["client_port"].as_str());
        let v = (s["server_ip"].as_str(), s["server_port"].as_str());
        let found = records.iter().enumerate().find(|(_, r)| {
            let rc = (r.client_ip.to_string(), r.client_port.to_string());
            let rs = (r.server_ip.to_string(), r.server_port.to_string());
            let rc = (rc.0.as_str(), rc.1.as_str());
            let rs = (rs.0.as_str(), rs.1.as_str());
            r.conn_id + 1 == first && ((rc, rs) == (c, v) || (rc, rs) == (v, c))
        });
        let Some((i, r)) = found else {
            diff("match", "-".into(), &format!("first frame {first}"));
            continue;
        };
        used.insert(i);
        // tshark's client is the sender of the first SYN, else of the first frame; ours, without a
        // SYN, is guessed from the ports. Compare per tshark direction.
        let swapped = r.client_port.to_string() != c.1 || r.client_ip.to_string() != c.0;
        let (tc, ts) = if swapped {
            (&r.s2c, &r.c2s)
        } else {
            (&r.c2s, &r.s2c)
        };
        let counts: [(&str, Count); 9] = [
            ("frames", |d| d.packets),
            ("retransmission", |d| d.retransmissions),
            ("fast_retransmission", |d| d.fast_retransmissions),
            ("spurious_retransmission", |d| d.spurious_retransmissions),
            ("out_of_order", |d| d.out_of_order),
            ("duplicate_ack", |d| d.dup_acks),
            ("zero_window", |d| d.zero_windows),
            ("keep_alive", |d| d.keep_alives),
            ("lost_segment", |d| d.lost_segments),
        ];
        for (name, get) in counts {
            for (dir, d) in [("c2s", tc), ("s2c", ts)] {
                let col = format!("{name}_{dir}");
                diff(&col, get(d).to_string(), &s[&col]);
            }
        }
        diff("last_ts_ns", r.end_ts.to_string(), &s["last_ts_ns"]);
        let irtt = s["irtt_ns"].parse::<i64>().ok();
        diff("irtt_us", us(r.syn_to_ack_ns), &us(irtt));
        diff(
            "midstream",
            u8::from(!r.handshake_seen).to_string(),
            &s["midstream"],
        );
        let syns: u64 = s["syn_count"].parse().unwrap();
        let ours_syns = if r.handshake_seen {
            u64::from(r.syn_retries) + 1
        } else {
            0
        };
        diff("syn_count", ours_syns.to_string(), &syns.to_string());
        let reset_by = match (r.reset_by, swapped) {
            (Some(Side::Client), true) => Some(Side::Server),
            (Some(Side::Server), true) => Some(Side::Client),
            (x, _) => x,
        };
        // tshark lists every side that sent a RST; we keep the first.
        let rst = match s["rst_from"].as_str() {
            "both" => side(reset_by).to_string(),
            x => x.to_string(),
        };
        diff("rst_from", side(reset_by).to_string(), &rst);
        if let Some(o) = outcome_mismatch(r, s) {
            let t = format!(
                "syn {} synack {} rst {} fin {}/{}",
                s["syn_count"], s["has_synack"], s["rst_from"], s["fin_c2s"], s["fin_s2c"]
            );
            diff("outcome", o, &t);
        }
    }
    for (i, r) in records.iter().enumerate() {
        if !used.contains(&i) {
            diffs.push(Diff {
                file: file.to_string(),
                stream: format!("ours@{}", r.conn_id + 1),
                field: "match".into(),
                ours: format!(
                    "{}:{} {}:{}",
                    r.client_ip, r.client_port, r.server_ip, r.server_port
                ),
                tshark: "-".into(),
            });
        }
    }
    diffs
}

#[test]
fn tcp_connections_match_tshark_per_stream() {
    need_shared!();
    let fixtures = fixtures();
    let next = AtomicUsize::new(0);
    let diffs = Mutex::new(Vec::new());
    let streams = AtomicUsize::new(0);
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get().min(8));
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some((file, path)) = fixtures.get(i) else {
                    break;
                };
                let d = compare(file, path);
                let n = common::tsv(&common::testdata().join("expected/tcp_conns").join(file));
                streams.fetch_add(n.len(), Ordering::Relaxed);
                diffs.lock().unwrap().extend(d);
            });
        }
    });
    let mut diffs = diffs.into_inner().unwrap();
    diffs.sort();
    let known: BTreeSet<(String, String, String, String, String)> = KNOWN
        .iter()
        .map(|k| {
            (
                k.0.to_string(),
                k.1.to_string(),
                k.2.to_string(),
                k.3.to_string(),
                k.4.to_string(),
            )
        })
        .collect();
    let seen: BTreeSet<(String, String, String, String, String)> = diffs
        .iter()
        .map(|d| {
            (
                d.file.clone(),
                d.stream.clone(),
                d.field.clone(),
                d.ours.clone(),
                d.tshark.clone(),
            )
        })
        .collect();
    let new: Vec<_> = seen.difference(&known).collect();
    let gone: Vec<_> = known.difference(&seen).collect();
    let streams = streams.into_inner();
    let bad_streams: BTreeSet<_> = seen
        .iter()
        .filter(|d| !d.1.starts_with("ours@"))
        .map(|d| (&d.0, &d.1))
        .collect();
    eprintln!(
        "{} fixtures, {} tshark streams: {} identical in every compared field, {} differ; {} \
         differences in all",
        fixtures.len(),
        streams,
        streams - bad_streams.len(),
        bad_streams.len(),
        seen.len()
    );
    for d in &new {
        eprintln!(
            "NEW  {}\t{}\t{}\tours {}\ttshark {}",
            d.0, d.1, d.2, d.3, d.4
        );
    }
    for d in &gone {
        eprintln!(
            "GONE {}\t{}\t{}\tours {}\ttshark {}",
            d.0, d.1, d.2, d.3, d.4
        );
    }
    assert!(
        new.is_empty() && gone.is_empty(),
        "{} new differences, {} known differences no longer occur (see above)",
        new.len(),
        gone.len()
    );
}
