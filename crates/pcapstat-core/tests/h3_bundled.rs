//! HTTP/3 on the bundled slice of the lab's `j_quic` scenario (`testdata/quic/j_quic-h3.pcapng`:
//! four aioquic connections, the key log of three of them in the file's Decryption Secrets
//! Block), against `testdata/expected/h3/j_quic-h3.tsv`: the aioquic client's own log of each
//! request and tshark 4.0's HTTP/3 HEADERS frame lengths, both written by
//! `scripts/make-quic-h3.py`. Runs without ../shared.
#![allow(clippy::unwrap_used)]

use pcapstat_core::{Analyzer, HttpVersion};

mod common;

/// Slack for the client's `time.time()` against the capture's timestamps (same clock; the
/// fixture's nanoseconds are rounded from a double, a few hundred ns).
const SLACK_NS: i64 = 1_000;

#[test]
fn bundled_http3_requests_match_the_client_log_and_tshark() {
    let repo = common::repo();
    let rows = common::tsv(&repo.join("testdata/expected/h3/j_quic-h3.tsv"));
    assert_eq!(rows.len(), 5);
    let a = Analyzer::new()
        .analyze_path(repo.join("testdata/quic/j_quic-h3.pcapng"))
        .unwrap();
    assert_eq!(a.quic.len(), 4);
    let n =
        |r: &std::collections::BTreeMap<String, String>, k: &str| -> i64 { r[k].parse().unwrap() };
    let mut with_keys = 0;
    for r in &rows {
        let port = n(r, "client_port");
        let q = a
            .quic
            .iter()
            .find(|q| i64::from(q.client.port) == port)
            .unwrap();
        let at = format!("{} stream {}", r["label"], r["stream_id"]);
        let h = a.http.iter().find(|h| {
            h.conn_id == q.conn_id && h.stream_id.map(i64::from) == Some(n(r, "stream_id"))
        });
        if r["keys"] == "0" {
            assert!(h.is_none(), "{at}: no key, no row");
            assert!(!q.one_rtt_decrypted, "{at}");
            continue;
        }
        with_keys += 1;
        let h = h.unwrap_or_else(|| panic!("{at}: no row"));
        assert_eq!(h.version, HttpVersion::Http3, "{at}");
        assert_eq!(h.version.as_str(), "HTTP/3");
        assert_eq!(h.method.as_deref(), Some("GET"), "{at}");
        assert_eq!(h.host.as_deref(), Some("lab.test"), "{at}");
        assert_eq!(h.path.as_deref(), Some(r["path"].as_str()), "{at}");
        assert_eq!(h.status.map(i64::from), Some(n(r, "status")), "{at}");
        assert_eq!(
            h.response_body_bytes.map(|b| b as i64),
            Some(n(r, "body_bytes")),
            "{at}"
        );
        assert!(h.complete, "{at}");
        // The capture sees the request after the client's send call, and the response before
        // the client reads it.
        assert!(h.request_start_ts >= n(r, "t_sent_ns") - SLACK_NS, "{at}");
        assert!(
            h.response_start_ts.unwrap() <= n(r, "t_first_byte_ns") + SLACK_NS,
            "{at}"
        );
        assert!(
            h.response_end_ts.unwrap() <= n(r, "t_done_ns") + SLACK_NS,
            "{at}"
        );
        assert!(
            h.request_end_ts.unwrap() <= h.response_start_ts.unwrap(),
            "{at}"
        );
        // tshark's HEADERS frame lengths, where it dissected them: the field section bytes.
        if !r["tshark_req_headers"].is_empty() {
            assert_eq!(
                h.request_header_bytes as i64,
                n(r, "tshark_req_headers"),
                "{at}"
            );
        }
        if !r["tshark_resp_headers"].is_empty() {
            assert_eq!(
                h.response_header_bytes.map(|b| b as i64),
                Some(n(r, "tshark_resp_headers")),
                "{at}"
            );
        }
    }
    assert_eq!(with_keys, 4);
    assert_eq!(
        a.http.len(),
        4,
        "one row per request with keys, nothing else"
    );
    // The resumed connection's request says so; no TCP connect phase on any.
    for (h, t) in a.http.iter().zip(&a.timings) {
        assert_eq!(t.connect_ns, None);
        let q = a.quic.iter().find(|q| q.conn_id == h.conn_id).unwrap();
        let port = q.client.port;
        assert_eq!(t.tls_resumed, Some(port == 38209), "{port}");
    }
    assert_eq!(a.stats.quic.h3_requests, 4);
}

/// The keys come from the file's Decryption Secrets Block, in capture order with the datagrams:
/// the same rows for any thread count and chunking; none when embedded secrets are not used.
#[test]
fn bundled_http3_rows_are_the_same_for_any_thread_count_and_need_the_embedded_keys() {
    let path = common::repo().join("testdata/quic/j_quic-h3.pcapng");
    let one = Analyzer::new().threads(1).analyze_path(&path).unwrap();
    assert_eq!(one.http.len(), 4);
    for (threads, chunk) in [(2, 1), (3, 5), (2, 0)] {
        let a = Analyzer::new()
            .threads(threads)
            .chunk_frames(chunk)
            .analyze_path(&path)
            .unwrap();
        assert_eq!(
            format!("{:?}", a.http),
            format!("{:?}", one.http),
            "{threads} {chunk}"
        );
        assert_eq!(format!("{:?}", a.timings), format!("{:?}", one.timings));
        assert_eq!(format!("{:?}", a.quic), format!("{:?}", one.quic));
    }
    let without = Analyzer::new()
        .embedded_secrets(false)
        .analyze_path(&path)
        .unwrap();
    assert!(without.http.is_empty());
    assert!(without.quic.iter().all(|q| !q.one_rtt_decrypted));
}

/// With the header capture on (`--har`), the bundled requests keep the fields the aioquic
/// servers logged (`testdata/expected/h3/j_quic-qlog-headers.tsv`, from their qlogs, made by
/// `scripts/make-quic-h3.py qlog-headers`): request and final response, in order.
#[test]
fn bundled_http3_header_fields_match_the_server_qlog() {
    let repo = common::repo();
    let fixture = common::tsv(&repo.join("testdata/expected/h3/j_quic-qlog-headers.tsv"));
    let a = Analyzer::new()
        .capture_headers(Some(pcapstat_core::HeaderLimits::default()))
        .analyze_path(repo.join("testdata/quic/j_quic-h3.pcapng"))
        .unwrap();
    assert_eq!(a.http.len(), 4);
    let mut lists = 0;
    for h in &a.http {
        let q = a.quic.iter().find(|q| q.conn_id == h.conn_id).unwrap();
        let kept = h.headers.as_deref().expect("headers kept");
        for (side, list) in [("request", &kept.request), ("response", &kept.response)] {
            let want: Vec<(String, String)> = fixture
                .iter()
                .filter(|r| {
                    r["client_port"] == q.client.port.to_string()
                        && Some(r["stream_id"].parse::<u32>().unwrap()) == h.stream_id
                        && r["side"] == side
                })
                .map(|r| (r["name"].clone(), r["value"].clone()))
                .collect();
            assert!(!want.is_empty(), "{} {side}: in the fixture", q.client.port);
            let got: Vec<(String, String)> = list
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect();
            assert_eq!(got, want, "{} {side}", q.client.port);
            lists += 1;
        }
    }
    assert_eq!(lists, 8);
    assert_eq!(a.stats.quic.h3_kept_headers_dropped, 0);
}
