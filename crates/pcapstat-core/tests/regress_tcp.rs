//! Issue #11's TCP bugs on the captures of `scripts/make-regress-tcp.py` (testdata/regress/tcp),
//! each checked against tshark's view of the same file (`<capture>.tshark.tsv`, written by the
//! script): one connection per tshark stream, tshark's iRTT, the capture time of the last
//! segment carrying a message, and which requests tshark saw answered.

#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeMap;
use std::path::PathBuf;

use pcapstat_core::{Failure, Outcome};

fn capture(name: &str) -> PathBuf {
    common::testdata().join("regress/tcp").join(name)
}

/// tshark's rows of a capture: one per frame.
fn tshark(name: &str) -> Vec<BTreeMap<String, String>> {
    common::tsv(&capture(&format!("{name}.tshark.tsv")))
}

fn num(row: &BTreeMap<String, String>, k: &str) -> i64 {
    row[k]
        .parse()
        .unwrap_or_else(|_| panic!("{k} = {:?}", row[k]))
}

/// Client port of a tshark stream: the port that is not 80/81/82.
fn client_port(rows: &[&BTreeMap<String, String>]) -> u16 {
    let r = rows[0];
    let (s, d): (u16, u16) = (r["sport"].parse().unwrap(), r["dport"].parse().unwrap());
    if d < 1024 {
        s
    } else {
        d
    }
}

/// Our connection of a client port.
fn connection(a: &common::Analysis, port: u16) -> &pcapstat_core::ConnectionRecord {
    a.connections
        .iter()
        .find(|c| c.client_port == port)
        .unwrap_or_else(|| panic!("no connection for client port {port}"))
}

fn streams(t: &[BTreeMap<String, String>]) -> BTreeMap<String, Vec<&BTreeMap<String, String>>> {
    let mut m: BTreeMap<String, Vec<_>> = BTreeMap::new();
    for r in t {
        m.entry(r["stream"].clone()).or_default().push(r);
    }
    m
}

/// Bug 2: a SYN/ACK before its SYN in the file is one connection (as tshark's one stream) with
/// tshark's initial RTT.
#[test]
fn reordered_handshake_is_one_connection_with_tsharks_irtt() {
    let a = common::analyze(&capture("reordered-handshake.pcap"));
    let t = tshark("reordered-handshake.pcap");
    let st = streams(&t);
    assert_eq!(a.connections.len(), st.len(), "{:#?}", a.connections);
    for rows in st.values() {
        let port = client_port(rows);
        let c = connection(&a, port);
        assert!(c.handshake_seen, "{port}");
        assert!(!c.client_guessed, "{port}");
        assert_eq!(c.outcome, Outcome::Closed, "{port}");
        let irtt = rows.iter().find(|r| !r["irtt_ns"].is_empty());
        match irtt {
            Some(r) if num(r, "irtt_ns") > 0 => {
                assert_eq!(
                    c.syn_to_ack_ns,
                    Some(num(r, "irtt_ns")),
                    "{port}: tshark's iRTT"
                )
            }
            // tshark measures none without a SYN; nor do we.
            _ => assert_eq!(c.syn_to_ack_ns, None, "{port}"),
        }
    }
    // Every request has its row and its status, as in tshark.
    let requests = t.iter().filter(|r| !r["method"].is_empty()).count();
    assert_eq!(a.http.len(), requests);
    assert!(a.http.iter().all(|h| h.status == Some(200)));
}

/// Bug 3: bytes after a hole that is never filled keep their own capture time: the response's
/// last byte is the last segment tshark shows for it, not the client's later ACK; the POST's
/// last body byte is its own segment's time, not the server's later response.
#[test]
fn data_after_an_unfilled_gap_keeps_its_capture_time() {
    let a = common::analyze(&capture("gap-unfilled.pcap"));
    let t = tshark("gap-unfilled.pcap");
    let seg_time = |port: &str, from_server: bool| -> Vec<i64> {
        t.iter()
            .filter(|r| {
                let p = if from_server {
                    &r["dport"]
                } else {
                    &r["sport"]
                };
                p == port && num(r, "len") > 0
            })
            .map(|r| num(r, "ts_ns"))
            .collect()
    };
    // Connection 1: the first response's captured segments end at the second of them.
    let s1 = seg_time("41001", true);
    let first = a
        .http
        .iter()
        .find(|h| h.path.as_deref() == Some("/first"))
        .expect("row for /first");
    assert_eq!(first.response_start_ts, Some(s1[0]));
    assert_eq!(
        first.response_end_ts,
        Some(s1[1]),
        "the last response byte seen is frame 6's, not the client's ACK 300 ms later"
    );
    assert!(!first.complete, "a response with a hole is not complete");
    let second = a
        .http
        .iter()
        .find(|h| h.path.as_deref() == Some("/second"))
        .expect("row for /second");
    assert_eq!(second.status, Some(200));
    // Connection 2: the POST's body ends in its own (second) segment.
    let c2 = seg_time("41002", false);
    let post = a
        .http
        .iter()
        .find(|h| h.path.as_deref() == Some("/upload"))
        .expect("row for /upload");
    assert_eq!(post.request_start_ts, c2[0]);
    assert_eq!(
        post.request_end_ts,
        Some(c2[1]),
        "the body's last byte is frame 20's, not the server's response"
    );
    assert_eq!(post.status, Some(200));
    let resp = seg_time("41002", true);
    assert_eq!(post.response_start_ts, Some(resp[0]));
}

/// Bug 10: a capture holding only the client's direction: `one_direction`, not `timeout`, and
/// not a failure; the real timeout beside it stays one.
#[test]
fn one_direction_capture_is_neither_timeout_nor_failure() {
    let a = common::analyze(&capture("one-direction.pcap"));
    let t = tshark("one-direction.pcap");
    let st = streams(&t);
    assert_eq!(a.connections.len(), st.len());
    for rows in st.values() {
        let port = client_port(rows);
        let c = connection(&a, port);
        // tshark: the client's ACKs acknowledge a server it never shows (ACK > 1 or data sent).
        let engaged = rows.iter().any(|r| r["ack"] == "1" || num(r, "len") > 0);
        if engaged {
            assert_eq!(c.outcome, Outcome::OneDirection, "{port}");
            assert_eq!(c.failure, None, "{port}");
        } else {
            assert_eq!(c.outcome, Outcome::Timeout, "{port}");
            assert_eq!(c.failure, Some(Failure::Timeout), "{port}");
        }
    }
    assert_eq!(a.http.len(), 2, "the requests are still rows");
}

/// Bug 9: a reset is a failure only before the first response byte or with a request that
/// tshark saw unanswered (`http.response_in` empty); a reset after a complete exchange is not.
#[test]
fn reset_fails_only_when_tshark_sees_a_request_unanswered_or_no_response() {
    let a = common::analyze(&capture("resets.pcap"));
    let t = tshark("resets.pcap");
    let st = streams(&t);
    assert_eq!(a.connections.len(), st.len());
    for rows in st.values() {
        let port = client_port(rows);
        let c = connection(&a, port);
        let server_rst_to_syn = rows
            .iter()
            .any(|r| r["rst"] == "1" && r["sport"].parse::<u16>().unwrap() < 1024)
            && !rows.iter().any(|r| r["syn"] == "1" && r["ack"] == "1");
        let requests: Vec<_> = rows.iter().filter(|r| !r["method"].is_empty()).collect();
        // tshark's request without `http.response_in`: unanswered when no server payload came
        // after it, a response cut by the reset when some did.
        let server_bytes_after = |req: &BTreeMap<String, String>| {
            rows.iter().any(|r| {
                num(r, "frame") > num(req, "frame")
                    && r["sport"].parse::<u16>().unwrap() < 1024
                    && num(r, "len") > 0
            })
        };
        let unanswered = requests
            .iter()
            .any(|r| r["response_in"].is_empty() && !server_bytes_after(r));
        let cut = requests
            .iter()
            .any(|r| r["response_in"].is_empty() && server_bytes_after(r));
        let responses = rows
            .iter()
            .filter(|r| r["sport"].parse::<u16>().unwrap() < 1024 && num(r, "len") > 0)
            .count();
        let want = if server_rst_to_syn {
            Some(Failure::Refused)
        } else if responses == 0 {
            Some(Failure::ResetBeforeResponse)
        } else if unanswered {
            Some(Failure::ResetUnanswered)
        } else if cut {
            Some(Failure::ResetMidResponse)
        } else {
            None
        };
        assert_eq!(c.failure, want, "client port {port}: {c:#?}");
        if !server_rst_to_syn {
            assert_eq!(c.outcome, Outcome::Reset, "{port}");
        }
    }
}

/// The README's first command: 12 HTTPS requests over TLS 1.2/1.3, all answered 200 (curl's own
/// log in ../shared/lab/d_tls_resumption), on connections nginx ends with FIN then RST: 11 resets,
/// none of them a failure.
#[test]
fn nginx_fin_then_rst_after_complete_exchanges_is_not_a_failure() {
    let a =
        common::analyze(&common::testdata().join("lab/d_tls_resumption/capture-with-keys.pcapng"));
    let resets = a
        .connections
        .iter()
        .filter(|c| c.outcome == Outcome::Reset)
        .count();
    assert_eq!(resets, 11);
    let failed: Vec<_> = a
        .connections
        .iter()
        .filter(|c| c.failure.is_some())
        .collect();
    assert!(failed.is_empty(), "{failed:#?}");
}
