//! QUIC on the lab's `j_quic` scenario (aioquic 1.7.2 client and server) against two
//! independent oracles: the client's own per-connection log (`gt_quic.jsonl`: version, CIDs,
//! SNI, ALPN, outcome, resumption, the client's HandshakeCompleted time) and tshark 4.0's
//! per-packet QUIC fields (`tshark_quic.tsv`: datagrams per direction, CIDs, SNI).
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use pcapstat_core::{
    Analysis, Analyzer, KeyLog, QuicEnd, QuicOutcome, QuicRecord, Side, TlsRecord, TlsTransport,
};

mod common;

fn lab() -> Option<PathBuf> {
    Some(common::shared_opt("quic_lab")?.join("lab/j_quic"))
}

fn hex(b: &Option<Vec<u8>>) -> String {
    b.as_deref()
        .unwrap_or_default()
        .iter()
        .map(|x| format!("{x:02x}"))
        .collect()
}

fn analyze(dir: &Path, file: &str, keys: bool) -> Analysis {
    let mut a = Analyzer::new();
    if keys {
        a = a.keylog(KeyLog::from_file(dir.join("sslkeylog.txt")).unwrap());
    }
    a.analyze_path(dir.join(file)).unwrap()
}

/// The aioquic client's log, one JSON object per connection (`gt_quic.jsonl`).
fn client_log(dir: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(dir.join("gt_quic.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn tls_of<'a>(a: &'a Analysis, q: &QuicRecord) -> Option<&'a TlsRecord> {
    a.tls
        .iter()
        .find(|t| t.conn_id == q.conn_id && t.transport == TlsTransport::Quic)
}

/// Slack for comparing the capture's timestamps with the client's `time.time()` (same clock,
/// but tcpdump stamps a datagram when the kernel hands it over: a fraction of a millisecond).
const SLACK_NS: i64 = 500_000;

#[test]
fn every_connection_matches_the_client_log() {
    let Some(dir) = lab() else { return };
    let gt = client_log(&dir);
    for (file, keys) in [
        ("capture.pcap", true),
        ("capture.pcapng", true),
        ("capture.pcap", false),
    ] {
        let a = analyze(&dir, file, keys);
        assert_eq!(
            a.quic.len(),
            gt.len(),
            "{file}: one row per client connection"
        );
        for g in &gt {
            let label = g["label"].as_str().unwrap();
            let server_port: u16 = g["server"]
                .as_str()
                .unwrap()
                .rsplit(':')
                .next()
                .unwrap()
                .parse()
                .unwrap();
            let q = match g["local_port"].as_u64() {
                Some(p) => a.quic.iter().find(|q| u64::from(q.client.port) == p),
                // no-server: the only connection to its port.
                None => a.quic.iter().find(|q| q.server.port == server_port),
            };
            let q = q.unwrap_or_else(|| panic!("{label}: no QUIC row"));
            assert_eq!(q.server.port, server_port, "{label}");
            let tls = tls_of(&a, q).unwrap_or_else(|| panic!("{label}: no TLS row"));
            assert_eq!(tls.sni.as_deref(), g["sni"].as_str(), "{label}");
            assert!(tls.ja4.as_deref().unwrap().starts_with("q13d"), "{label}");
            if g["outcome"] == "ok" {
                assert_eq!(q.outcome, QuicOutcome::Established, "{label}");
                let v = u32::from_str_radix(
                    g["version"].as_str().unwrap().trim_start_matches("0x"),
                    16,
                )
                .unwrap();
                assert_eq!(q.version, Some(v), "{label}");
                assert_eq!(
                    hex(&q.client_cid),
                    g["client_cid"].as_str().unwrap(),
                    "{label}"
                );
                assert_eq!(
                    hex(&q.original_dcid),
                    g["original_dcid"].as_str().unwrap(),
                    "{label}"
                );
                assert_eq!(
                    tls.resumed,
                    Some(g["session_resumed"].as_bool().unwrap()),
                    "{label}"
                );
                let alpn = g["alpn"].as_str().unwrap();
                assert!(tls.alpn_offered.iter().any(|x| x == alpn), "{label}");
                assert_eq!(q.handshake_decrypted, keys, "{label}");
                if keys {
                    // The selection is in EncryptedExtensions (Handshake packets).
                    assert_eq!(tls.alpn.as_deref(), Some(alpn), "{label}");
                }
                // The client's HandshakeCompleted (its log) falls between the server's Finished
                // reaching it and its own Finished leaving: aioquic raises the event while
                // processing the server's flight and sends its Finished after that (the gap is
                // the client's Python work, up to 4.4 ms here), so the capture brackets it.
                let done = (g["t_handshake_done"].as_f64().unwrap() * 1e9) as i64;
                let ours = q.handshake_done_ts.unwrap();
                let server_fin = tls.server_finished_ts.unwrap();
                eprintln!(
                    "{file} keys={keys} {label}: server Finished {:+.3} ms, client Finished {:+.3} ms from the client's HandshakeCompleted; handshake {:.3} ms (client log {:.3} ms, from before its first Initial)",
                    (server_fin - done) as f64 / 1e6,
                    (ours - done) as f64 / 1e6,
                    q.handshake_ns.unwrap() as f64 / 1e6,
                    g["handshake_ms"].as_f64().unwrap()
                );
                assert!(
                    server_fin - SLACK_NS <= done && done <= ours + SLACK_NS,
                    "{label}"
                );
                // And the client log's start is before the first Initial.
                let start = (g["t_start"].as_f64().unwrap() * 1e9) as i64;
                assert!(start <= q.client_initial_ts.unwrap() + SLACK_NS, "{label}");
                assert_eq!(tls.handshake_done_ts, q.handshake_done_ts, "{label}");
                // With the 1-RTT keys: one client bidirectional stream per request, and the
                // server's STREAM bytes hold at least the response bodies.
                let requests = g["requests"].as_array().unwrap();
                if keys {
                    assert_eq!(
                        q.client_bidi_streams,
                        Some(requests.len() as u64),
                        "{label}"
                    );
                    let bodies: u64 = requests
                        .iter()
                        .map(|r| r["body_bytes"].as_u64().unwrap())
                        .sum();
                    assert!(q.stream_bytes[1] >= bodies, "{label}");
                } else {
                    assert_eq!(q.client_bidi_streams, None, "{label}");
                }
                // How it ended: the client closed it (aioquic's `close()`: its log's t_close,
                // taken just before the CONNECTION_CLOSE leaves). Without 1-RTT keys the close
                // is encrypted: not told.
                if keys {
                    assert_eq!(q.ended_by, Some(QuicEnd::ConnectionClose), "{label}");
                    assert_eq!(q.close_initiator, Some(Side::Client), "{label}");
                    let t_close = (g["t_close"].as_f64().unwrap() * 1e9) as i64;
                    let d = q.close_ts.unwrap() - t_close;
                    assert!((0..20_000_000).contains(&d), "{label}: close {d} ns");
                } else {
                    assert_eq!(q.ended_by, None, "{label}");
                }
                // The smaller of the two max_idle_timeout transport parameters; tshark 4.0 with
                // the key log reads 10 000 ms in every client's ClientHello and 60 000 ms in
                // the servers' EncryptedExtensions. Without keys only the client's is read: the
                // same value.
                assert_eq!(q.idle_timeout_ns, Some(10_000_000_000), "{label}");
            } else {
                assert_eq!(q.outcome, QuicOutcome::Unreachable, "{label}");
                assert_eq!(q.handshake_done_ts, None, "{label}");
                // Its client was run with a 3 s idle timeout (tshark: 3 000 ms in its
                // ClientHello); nothing came back, so how it ended is not told.
                assert_eq!(q.idle_timeout_ns, Some(3_000_000_000), "{label}");
                assert_eq!(q.ended_by, None, "{label}");
            }
            match label {
                "v2" => assert_eq!(q.first_version, Some(0x6b33_43cf)),
                "version-negotiation" => {
                    assert!(q.version_negotiation);
                    assert_eq!(q.first_version, Some(0x6b33_43cf));
                    assert!(q.vn_versions.contains(&1));
                }
                "retry" => assert!(q.retry),
                _ => {
                    assert!(!q.retry && !q.version_negotiation, "{label}");
                }
            }
        }
        assert_eq!(a.stats.quic.initial_auth_failed, 0, "{file}");
        assert_eq!(a.stats.quic.orphans, 0, "{file}");
        assert!(a.stats.quic.icmp_unreachable > 0, "{file}");
        assert_eq!(a.stats.quic.malformed_fixed_bit, 0, "{file}");
        if keys {
            assert_eq!(a.stats.quic.handshake_auth_failed, 0, "{file}");
        }
    }
}

#[test]
fn datagrams_and_connection_ids_match_tshark() {
    let Some(dir) = lab() else { return };
    let tsv = std::fs::read_to_string(dir.join("tshark_quic.tsv")).unwrap();
    let mut lines = tsv.lines();
    let head: Vec<&str> = lines.next().unwrap().split('\t').collect();
    let col = |n: &str| head.iter().position(|h| *h == n).unwrap();
    let (sport, dport, scid, sni) = (
        col("udp.srcport"),
        col("udp.dstport"),
        col("quic.scid"),
        col("tls.handshake.extensions_server_name"),
    );
    // (client port) → [datagrams c2s, s2c], client SCIDs, server SCIDs, SNI.
    #[derive(Default, Debug)]
    struct Conn {
        datagrams: [u64; 2],
        client_scids: Vec<String>,
        server_scids: Vec<String>,
        sni: Option<String>,
    }
    let mut by_port: BTreeMap<u16, Conn> = BTreeMap::new();
    for l in lines {
        let f: Vec<&str> = l.split('\t').collect();
        let (s, d): (u16, u16) = (f[sport].parse().unwrap(), f[dport].parse().unwrap());
        // Servers listen on 4433–4436 and 4499.
        let (client, dir) = if (4433..=4499).contains(&d) {
            (s, 0)
        } else {
            (d, 1)
        };
        let c = by_port.entry(client).or_default();
        c.datagrams[dir] += 1;
        for id in f[scid].split(',').filter(|x| !x.is_empty()) {
            let v = if dir == 0 {
                &mut c.client_scids
            } else {
                &mut c.server_scids
            };
            if !v.iter().any(|x| x == id) {
                v.push(id.to_string());
            }
        }
        if !f[sni].is_empty() {
            c.sni = Some(f[sni].to_string());
        }
    }
    let a = analyze(&dir, "capture.pcap", true);
    assert_eq!(a.quic.len(), by_port.len());
    for q in &a.quic {
        let t = &by_port[&q.client.port];
        let name = q.client.port;
        // tshark also dissects the datagram an ICMP error quotes (the no-server connection:
        // each Initial comes back quoted in a port unreachable).
        let quoted = if q.outcome == QuicOutcome::Unreachable {
            a.stats.quic.icmp_unreachable
        } else {
            0
        };
        assert_eq!(
            [q.datagrams_c2s + quoted, q.datagrams_s2c],
            t.datagrams,
            "{name}"
        );
        assert_eq!(t.client_scids, [hex(&q.client_cid)], "{name}");
        if q.outcome == QuicOutcome::Established {
            // The server's CID is the SCID of its last long headers (a Version Negotiation
            // packet echoes the client's DCID, a Retry brings its own CID, before it).
            assert_eq!(t.server_scids.last(), Some(&hex(&q.server_cid)), "{name}");
            let extra = usize::from(q.version_negotiation) + usize::from(q.retry);
            assert_eq!(t.server_scids.len(), 1 + extra, "{name}");
        }
        assert_eq!(tls_of(&a, q).and_then(|t| t.sni.clone()), t.sni, "{name}");
    }
}

/// With the key log the 1-RTT packets are decrypted: their packet numbers agree with tshark's
/// (which decrypts them with the same key log): per connection and direction, the packets
/// opened and the numbers skipped (the `loss` scenario's server drops 68 datagrams before
/// they reach the wire: 68 numbers missing, as its qlog's 68 `recovery:packet_lost`). Every
/// established connection gets the server's HANDSHAKE_DONE after the client's Finished, and
/// RTT samples in both directions.
#[test]
fn one_rtt_packet_numbers_match_tshark() {
    let Some(dir) = lab() else { return };
    let tsv = std::fs::read_to_string(dir.join("tshark_quic.tsv")).unwrap();
    let mut lines = tsv.lines();
    let head: Vec<&str> = lines.next().unwrap().split('\t').collect();
    let col = |n: &str| head.iter().position(|h| *h == n).unwrap();
    let (sport, dport, form, pn) = (
        col("udp.srcport"),
        col("udp.dstport"),
        col("quic.header_form"),
        col("quic.packet_number"),
    );
    // (client port, direction) → 1-RTT packet numbers.
    let mut pns: BTreeMap<(u16, usize), Vec<u64>> = BTreeMap::new();
    for l in lines {
        let f: Vec<&str> = l.split('\t').collect();
        let (s, d): (u16, u16) = (f[sport].parse().unwrap(), f[dport].parse().unwrap());
        let (client, dir) = if (4433..=4499).contains(&d) {
            (s, 0)
        } else {
            (d, 1)
        };
        for (form, n) in f[form].split(',').zip(f[pn].split(',')) {
            if form == "0" && !n.is_empty() {
                pns.entry((client, dir))
                    .or_default()
                    .push(n.parse().unwrap());
            }
        }
    }
    let a = analyze(&dir, "capture.pcap", true);
    let mut decrypted = 0;
    for q in &a.quic {
        let name = q.client.port;
        for d in 0..2 {
            let Some(v) = pns.get(&(q.client.port, d)) else {
                // tshark 4.0 decrypts no 1-RTT packet after a Version Negotiation (it even
                // reads the client's v1 Initial with wrong keys: packet number 139) or a Retry;
                // the AEAD tag authenticates what we decrypt.
                if q.pn_gaps[d].is_some() {
                    assert!(
                        q.version_negotiation || q.retry,
                        "{name} {d}: tshark has no 1-RTT numbers"
                    );
                    assert_eq!(q.pn_gaps[d], Some(0), "{name} {d}");
                }
                continue;
            };
            decrypted += v.len() as u64;
            let mut sorted = v.clone();
            sorted.sort_unstable();
            sorted.dedup();
            let gaps: u64 = sorted.windows(2).map(|w| w[1] - w[0] - 1).sum();
            assert_eq!(q.pn_gaps[d], Some(gaps), "{name} direction {d}");
            if q.client.port == 54177 && d == 1 {
                assert_eq!(gaps, 68, "the loss scenario");
            }
        }
        if q.outcome == QuicOutcome::Established {
            assert!(q.one_rtt_decrypted, "{name}");
            let hd = q.server_handshake_done_ts.unwrap();
            assert!(hd >= q.handshake_done_ts.unwrap(), "{name}");
            assert!(q.rtt_samples[0] > 0 && q.rtt_samples[1] > 0, "{name}");
            assert!(q.rtt_min[0] <= q.rtt_median[0], "{name}");
            eprintln!(
                "{name}: HANDSHAKE_DONE {:.3} ms after the client's Finished; RTT c2s min {:.3} ms median {:.3} ms ({} samples), s2c min {:.3} ms median {:.3} ms ({}); gaps {:?}; key updates {}",
                (hd - q.handshake_done_ts.unwrap()) as f64 / 1e6,
                q.rtt_min[0].unwrap() as f64 / 1e6,
                q.rtt_median[0].unwrap() as f64 / 1e6,
                q.rtt_samples[0],
                q.rtt_min[1].unwrap() as f64 / 1e6,
                q.rtt_median[1].unwrap() as f64 / 1e6,
                q.rtt_samples[1],
                q.pn_gaps,
                q.key_updates,
            );
        }
    }
    assert!(a.stats.quic.one_rtt_decrypted >= decrypted);
    assert_eq!(a.stats.quic.one_rtt_auth_failed, 0);
    // Without the key log nothing of this is known.
    let plain = analyze(&dir, "capture.pcap", false);
    assert!(plain
        .quic
        .iter()
        .all(|q| !q.one_rtt_decrypted && q.pn_gaps == [None, None]));
}

/// HTTP/3 with the key log: every request of the client's log (`gt_quic.jsonl`: stream ID,
/// path, status, body bytes, and its `time.time()` when it sent the request, got the first
/// response byte and the last) has one http row on its connection with the same stream, path,
/// status and body size, and the capture's times bracket the client's: the capture sees a
/// datagram after the client's send call and before the client reads it, so
/// `t_sent <= request_start`, `response_start <= t_first_byte`, `response_end <= t_done`
/// (within `SLACK_NS`, as above). Without the key log: no http row at all.
#[test]
fn http3_requests_match_the_client_log() {
    let Some(dir) = lab() else { return };
    let gt = client_log(&dir);
    let none = analyze(&dir, "capture.pcap", false);
    assert!(none.http.is_empty(), "no key, no row");
    for file in ["capture.pcap", "capture.pcapng"] {
        let a = analyze(&dir, file, true);
        let s = &a.stats.quic;
        assert_eq!(
            (
                s.h3_qpack_errors,
                s.h3_qpack_blocked,
                s.h3_buffer_limit,
                s.h3_stream_limit
            ),
            (0, 0, 0, 0),
            "{file}"
        );
        let mut matched = 0;
        // Most margin seen per phase (ms): capture time minus the client's, signed so that a
        // positive value is the expected side.
        let mut worst = [f64::MAX; 3];
        let mut widest = [0f64; 3];
        for g in &gt {
            let label = g["label"].as_str().unwrap();
            let Some(port) = g["local_port"].as_u64() else {
                continue;
            };
            let q = a
                .quic
                .iter()
                .find(|q| u64::from(q.client.port) == port)
                .unwrap();
            let rows: Vec<_> = a.http.iter().filter(|h| h.conn_id == q.conn_id).collect();
            let requests = g["requests"].as_array().unwrap();
            assert_eq!(rows.len(), requests.len(), "{file} {label}");
            for r in requests {
                let id = r["stream_id"].as_u64().unwrap();
                let h = rows
                    .iter()
                    .find(|h| h.stream_id.map(u64::from) == Some(id))
                    .unwrap_or_else(|| panic!("{label}: no row for stream {id}"));
                let at = format!("{file} {label} stream {id}");
                assert_eq!(h.version, pcapstat_core::HttpVersion::Http3, "{at}");
                assert_eq!(h.path.as_deref(), r["path"].as_str(), "{at}");
                assert_eq!(h.method.as_deref(), Some("GET"), "{at}");
                assert_eq!(h.host.as_deref(), g["sni"].as_str(), "{at}");
                assert_eq!(h.status.map(u64::from), r["status"].as_u64(), "{at}");
                assert_eq!(h.response_body_bytes, r["body_bytes"].as_u64(), "{at}");
                assert_eq!(h.request_body_bytes, 0, "{at}");
                assert!(h.complete, "{at}");
                let t = |k: &str| (r[k].as_f64().unwrap() * 1e9) as i64;
                let margins = [
                    h.request_start_ts - t("t_sent"),
                    t("t_first_byte") - h.response_start_ts.unwrap(),
                    t("t_done") - h.response_end_ts.unwrap(),
                ];
                for (k, m) in margins.into_iter().enumerate() {
                    assert!(m >= -SLACK_NS, "{at}: phase {k} margin {m} ns");
                    worst[k] = worst[k].min(m as f64 / 1e6);
                    widest[k] = widest[k].max(m as f64 / 1e6);
                }
                assert!(h.request_start_ts <= h.request_end_ts.unwrap(), "{at}");
                assert!(h.request_end_ts <= h.response_start_ts, "{at}");
                assert!(h.response_start_ts <= h.response_end_ts, "{at}");
                matched += 1;
            }
        }
        eprintln!(
            "{file}: {matched} requests matched; margins (ms, capture vs client log) min/max: \
             start-t_sent {:.3}/{:.3}, t_first_byte-response_start {:.3}/{:.3}, \
             t_done-response_end {:.3}/{:.3}",
            worst[0], widest[0], worst[1], widest[1], worst[2], widest[2]
        );
        assert_eq!(matched, 17, "{file}");
        assert_eq!(a.http.len(), 17, "{file}: no other row");
        // tshark 4.0 (with the key log) gives HTTP/3 frame lengths but no fields (it does not
        // decode QPACK): the first request and response HEADERS of the streams it dissects
        // (`scripts/make-quic-h3.py`) are the field section bytes we count.
        let tshark =
            common::tsv(&common::repo().join("testdata/expected/h3/j_quic-tshark-headers.tsv"));
        assert_eq!(tshark.len(), 10);
        for t in &tshark {
            let port: u16 = t["client_port"].parse().unwrap();
            let id: u32 = t["stream_id"].parse().unwrap();
            let q = a.quic.iter().find(|q| q.client.port == port).unwrap();
            let h = a
                .http
                .iter()
                .find(|h| h.conn_id == q.conn_id && h.stream_id == Some(id))
                .unwrap();
            assert_eq!(
                h.request_header_bytes.to_string(),
                t["tshark_req_headers"],
                "{port} {id}"
            );
            assert_eq!(
                h.response_header_bytes.unwrap().to_string(),
                t["tshark_resp_headers"],
                "{port} {id}"
            );
        }
        // Retransmitted STREAM data against the servers' qlogs: every byte of a 1-RTT packet
        // the server declared lost is sent again; when the lost packet did reach the wire (no
        // packet number missing: a spurious loss, v1-serial and v1-parallel) the capture holds
        // it twice, when it never did (the `loss` server drops them before the wire: as many
        // numbers missing as declared lost) it holds it once.
        let qlog = common::tsv(&common::repo().join("testdata/expected/h3/j_quic-qlog-lost.tsv"));
        assert_eq!(qlog.len(), 8);
        for row in &qlog {
            let port: u16 = row["client_port"].parse().unwrap();
            let lost: u64 = row["lost_packets"].parse().unwrap();
            let bytes: u64 = row["lost_stream_bytes"].parse().unwrap();
            let q = a.quic.iter().find(|q| q.client.port == port).unwrap();
            let expected = match q.pn_gaps[1] {
                Some(0) => bytes,
                Some(g) if g == lost => 0,
                other => panic!("{port}: {other:?} numbers missing, {lost} declared lost"),
            };
            assert_eq!(
                q.stream_retransmitted_bytes, expected,
                "{file} {}",
                row["label"]
            );
        }
        // The phases of the request join: no TCP connect; the QUIC handshake as `tls` on the
        // first request of each connection.
        for (h, t) in a.http.iter().zip(&a.timings) {
            assert_eq!(t.connect_ns, None);
            let tls = a.tls.iter().find(|x| x.conn_id == h.conn_id).unwrap();
            if h.request_index == 0 {
                assert_eq!(t.tls_ns, tls.handshake_ns);
                assert_eq!(t.start_ts, tls.client_hello_ts.unwrap());
            } else {
                assert_eq!(t.tls_ns, None);
                assert_eq!(t.start_ts, h.request_start_ts);
            }
            assert_eq!(t.sni.as_deref(), Some("lab.test"));
        }
    }
}

/// The header fields kept for `side` (`request`, `response`) of the row of stream `stream` on
/// the connection from client port `port`, with the list's dropped and truncated counts.
fn kept_fields(
    a: &Analysis,
    port: u16,
    stream: u32,
    side: &str,
) -> (Vec<(String, String)>, u32, u32) {
    let q = a.quic.iter().find(|q| q.client.port == port).unwrap();
    let h = a
        .http
        .iter()
        .find(|h| h.conn_id == q.conn_id && h.stream_id == Some(stream))
        .unwrap_or_else(|| panic!("no row for {port} stream {stream}"));
    let kept = h.headers.as_deref().expect("headers kept");
    assert_eq!(kept.status_text, None, "HTTP/3 has no reason phrase");
    let list = if side == "request" {
        &kept.request
    } else {
        &kept.response
    };
    let fields = list
        .iter()
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect();
    (fields, list.dropped, list.truncated)
}

/// HTTP/3 header capture (`Analyzer::capture_headers`, the HAR export) against the aioquic
/// servers' qlogs (`testdata/expected/h3/j_quic-qlog-headers.tsv`, made by
/// `scripts/make-quic-h3.py qlog-headers`): every request stream's kept request fields are
/// those the server parsed from its HEADERS frame and its kept response fields those the server
/// put in its final response's, names and values in order, pseudo-header fields included. With
/// a bound of 2 fields, the first two are kept and the rest counted. Without the capture:
/// nothing kept.
#[test]
fn http3_header_fields_match_the_server_qlog() {
    let Some(dir) = lab() else { return };
    let fixture = common::tsv(&common::repo().join("testdata/expected/h3/j_quic-qlog-headers.tsv"));
    // (port, stream, side) -> fields in order.
    let mut want: BTreeMap<(u16, u32, String), Vec<(String, String)>> = BTreeMap::new();
    for r in &fixture {
        want.entry((
            r["client_port"].parse().unwrap(),
            r["stream_id"].parse().unwrap(),
            r["side"].clone(),
        ))
        .or_default()
        .push((r["name"].clone(), r["value"].clone()));
    }
    assert_eq!(
        want.len(),
        34,
        "17 request streams, a request and a response each"
    );
    let keylog = || KeyLog::from_file(dir.join("sslkeylog.txt")).unwrap();
    for file in ["capture.pcap", "capture.pcapng"] {
        let a = Analyzer::new()
            .keylog(keylog())
            .capture_headers(Some(pcapstat_core::HeaderLimits::default()))
            .analyze_path(dir.join(file))
            .unwrap();
        assert_eq!(a.stats.quic.h3_kept_headers_dropped, 0, "{file}");
        assert_eq!(a.stats.quic.h3_kept_headers_truncated, 0, "{file}");
        let mut fields = 0;
        for ((port, stream, side), want) in &want {
            let (got, dropped, truncated) = kept_fields(&a, *port, *stream, side);
            assert_eq!(&got, want, "{file} {port} stream {stream} {side}");
            assert_eq!((dropped, truncated), (0, 0));
            fields += got.len();
        }
        assert_eq!(fields, fixture.len(), "{file}");
        eprintln!("{file}: {fields} HTTP/3 header fields equal to the servers' qlogs");
    }
    // Bounded: two fields a message, the rest counted.
    let a = Analyzer::new()
        .keylog(keylog())
        .capture_headers(Some(
            pcapstat_core::HeaderLimits::default().with_max_fields(2),
        ))
        .analyze_path(dir.join("capture.pcap"))
        .unwrap();
    let mut dropped = 0u64;
    for ((port, stream, side), want) in &want {
        let (got, n, _) = kept_fields(&a, *port, *stream, side);
        assert_eq!(got, want[..2.min(want.len())].to_vec());
        assert_eq!(u64::from(n), want.len().saturating_sub(2) as u64);
        dropped += u64::from(n);
    }
    assert!(dropped > 0);
    assert_eq!(a.stats.quic.h3_kept_headers_dropped, dropped);
    // Off by default.
    let a = analyze(&dir, "capture.pcap", true);
    assert_eq!(a.http.len(), 17);
    assert!(a.http.iter().all(|h| h.headers.is_none()));
}
