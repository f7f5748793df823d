//! Regression captures of HTTP pairing, mid-stream probing and connection roles
//! (`testdata/regress/http/`, made by `scripts/make-regress-http.py`) against tshark's view of
//! the same files (`<name>.tshark.tsv`, written by the same script).
//!
//! For each capture, the whole pipeline's HTTP records, with their connection's endpoints, must
//! equal tshark's requests: client and server endpoints, method, URI, Host, status, and
//! `http.time` (response start − request start) to the microsecond.
#![allow(clippy::unwrap_used)]

use std::path::PathBuf;

use pcapstat_core::RolesFrom;

mod common;

fn dir() -> PathBuf {
    common::testdata().join("regress/http")
}

fn endpoint(ip: std::net::IpAddr, port: u16) -> String {
    format!("{ip}:{port}")
}

/// Our rows, formatted like the fixture's, sorted by request time; and the analysis.
fn ours(name: &str) -> (Vec<Vec<String>>, common::Analysis) {
    let a = common::analyze(&dir().join(format!("{name}.pcap")));
    let mut rows: Vec<(i64, Vec<String>)> = a
        .http
        .iter()
        .map(|h| {
            let c = a.connection(h.conn_id);
            let time = h
                .response_start_ts
                .map(|t| format!("{:.6}", (t - h.request_start_ts) as f64 / 1e9))
                .unwrap_or_default();
            (
                h.request_start_ts,
                vec![
                    endpoint(c.client_ip, c.client_port),
                    endpoint(c.server_ip, c.server_port),
                    h.method.clone(),
                    h.path.clone(),
                    h.host.clone().unwrap_or_default(),
                    h.status.map(|s| s.to_string()).unwrap_or_default(),
                    time,
                ],
            )
        })
        .collect();
    rows.sort();
    (rows.into_iter().map(|(_, r)| r).collect(), a)
}

fn theirs(name: &str) -> Vec<Vec<String>> {
    common::tsv(&dir().join(format!("{name}.tshark.tsv")))
        .into_iter()
        .map(|r| {
            let time = if r["http_time"].is_empty() {
                String::new()
            } else {
                format!("{:.6}", r["http_time"].parse::<f64>().unwrap())
            };
            vec![
                r["client"].clone(),
                r["server"].clone(),
                r["method"].clone(),
                r["uri"].clone(),
                r["host"].clone(),
                r["status"].clone(),
                time,
            ]
        })
        .collect()
}

fn check(name: &str) -> common::Analysis {
    let (o, a) = ours(name);
    let t = theirs(name);
    assert_eq!(o, t, "{name}: ours (left) vs tshark (right)");
    a
}

/// Item 1: a space before a header's colon no longer fails the head; every response pairs with
/// its own request (wait 0.1 s).
#[test]
fn space_before_a_header_colon() {
    let a = check("http-space-before-colon");
    assert!(a.http.iter().all(|h| h.complete));
    assert_eq!(a.app.http_stats.parse_errors, 0);
}

/// Item 1: a head no parser accepts (NUL in a header name) is counted; its request gets the
/// status line's code but `complete = false`; later responses stay with their own requests.
#[test]
fn unparseable_response_head() {
    let a = check("http-bad-response-head");
    let complete: Vec<bool> = a.http.iter().map(|h| h.complete).collect();
    assert_eq!(complete, [true, false, true, true]);
    assert_eq!(a.app.http_stats.bad_response_heads, 1);
    assert_eq!(a.app.http_stats.unpaired_after_bad_head, 0);
}

/// Item 4: mid-stream connections whose first client bytes are a keep-alive byte or the tail
/// of a body still get their later requests.
#[test]
fn midstream_first_bytes_not_a_request() {
    let a = check("http-midstream-first-bytes");
    assert_eq!(a.app.midstream_reprobed, 2);
    assert_eq!(a.app.http, 2);
    assert_eq!(a.app.unrecognised, 0);
    assert!(a.http.iter().all(|h| h.complete));
    for c in &a.connections {
        assert_eq!(c.roles_from, RolesFrom::Payload);
        assert!(c.client_guessed);
    }
}

/// Item 5: the port rule guesses a server on a high port backwards; the request sender is the
/// client in the connection row too (endpoints, per-direction statistics), and `host` agrees
/// with `server_ip`.
#[test]
fn roles_follow_the_request_sender() {
    let a = check("http-roles-high-server-port");
    assert_eq!(a.connections.len(), 1);
    let c = &a.connections[0];
    assert_eq!((c.client_port, c.server_port), (8870, 31600));
    assert_eq!(c.roles_from, RolesFrom::Payload);
    assert!(c.client_guessed);
    // The client sent 3 requests and 3 ACKs; the server 3 responses.
    assert_eq!((c.c2s.packets, c.s2c.packets), (6, 3));
    assert!(c.c2s.payload_bytes < c.s2c.payload_bytes + 200);
    assert_eq!(a.app.roles_swapped, 1);
    for h in &a.http {
        assert_eq!(h.host.as_deref(), Some("10.1.0.6:31600"));
    }
}
