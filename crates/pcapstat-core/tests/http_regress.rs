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
            let c = a.connection(h.conn_id).unwrap();
            let time = h
                .response_start_ts
                .map(|t| format!("{:.6}", (t - h.request_start_ts) as f64 / 1e9))
                .unwrap_or_default();
            (
                h.request_start_ts,
                vec![
                    endpoint(c.client_ip, c.client_port),
                    endpoint(c.server_ip, c.server_port),
                    h.method.as_deref().unwrap_or_default().to_string(),
                    h.path.as_deref().unwrap_or_default().to_string(),
                    h.host.as_deref().unwrap_or_default().to_string(),
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
    assert_eq!(a.stats.app.http_stats.parse_errors, 0);
}

/// Item 1: a head no parser accepts (NUL in a header name) is counted; its request gets the
/// status line's code but `complete = false`; later responses stay with their own requests.
#[test]
fn unparseable_response_head() {
    let a = check("http-bad-response-head");
    let complete: Vec<bool> = a.http.iter().map(|h| h.complete).collect();
    assert_eq!(complete, [true, false, true, true]);
    assert_eq!(a.stats.app.http_stats.bad_response_heads, 1);
    assert_eq!(a.stats.app.http_stats.unpaired_after_bad_head, 0);
}

/// Item 4: mid-stream connections whose first client bytes are a keep-alive byte or the tail
/// of a body still get their later requests.
#[test]
fn midstream_first_bytes_not_a_request() {
    let a = check("http-midstream-first-bytes");
    assert_eq!(a.stats.app.midstream_reprobed, 2);
    assert_eq!(a.stats.app.http, 2);
    assert_eq!(a.stats.app.unrecognised, 0);
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
    assert_eq!(a.stats.app.roles_swapped, 1);
    for h in &a.http {
        assert_eq!(h.host.as_deref(), Some("10.1.0.6:31600"));
    }
}

mod app_sink {
    use std::net::IpAddr;

    use pcapstat_core::fuzzing::Direction::{ClientToServer as C2S, ServerToClient as S2C};
    use pcapstat_core::fuzzing::{
        AppFactory, ConnMeta, Endpoint, SinkFactory, StreamSink, MIDSTREAM_PROBE_LIMIT_BYTES,
    };
    use pcapstat_core::{ConnectionRecord, Outcome, RolesFrom};

    const GET: &[u8] = b"GET /x HTTP/1.1\r\nHost: h\r\n\r\n";
    const OK: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";

    fn meta(guessed: bool) -> ConnMeta {
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        ConnMeta {
            conn_id: 1,
            client: Endpoint { ip, port: 40_000 },
            server: Endpoint { ip, port: 8080 },
            client_guessed: guessed,
            start_ts: 0,
        }
    }

    fn record(m: &ConnMeta, roles_from: RolesFrom) -> ConnectionRecord {
        ConnectionRecord {
            conn_id: m.conn_id,
            client_ip: m.client.ip,
            client_port: m.client.port,
            server_ip: m.server.ip,
            server_port: m.server.port,
            ip_version: 4,
            start_ts: 0,
            end_ts: 100,
            outcome: Outcome::Midstream,
            reset_by: None,
            failure: None,
            handshake_seen: false,
            client_guessed: m.client_guessed,
            roles_from,
            syn_retries: 0,
            connect_ns: None,
            syn_to_synack_ns: None,
            synack_to_ack_ns: None,
            syn_to_ack_ns: None,
            c2s: Default::default(),
            s2c: Default::default(),
        }
    }

    /// With a handshake the client's first bytes decide alone: no re-probing.
    #[test]
    fn first_bytes_decide_when_the_handshake_was_seen() {
        let mut f = AppFactory::default();
        let m = meta(false);
        let mut s = f.open(&m);
        s.on_data(1, C2S, b"\n");
        s.on_data(2, C2S, GET);
        s.on_data(3, S2C, OK);
        f.close(s, &mut record(&m, RolesFrom::Syn));
        assert_eq!((f.stats.http, f.stats.unrecognised), (0, 1));
        assert_eq!(f.stats.midstream_reprobed, 0);
    }

    /// Mid-stream: a 1-byte segment, then a request split over two segments, then its response.
    #[test]
    fn midstream_reprobes_at_segment_boundaries() {
        let mut f = AppFactory::default();
        let m = meta(true);
        let mut s = f.open(&m);
        s.on_data(1, C2S, b"\0");
        s.on_data(2, S2C, b"end of something\r\n");
        s.on_data(3, C2S, &GET[..2]);
        s.on_data(4, C2S, &GET[2..]);
        s.on_data(5, S2C, OK);
        let mut r = record(&m, RolesFrom::Ports);
        f.close(s, &mut r);
        assert_eq!((f.stats.http, f.stats.midstream_reprobed), (1, 1));
        assert_eq!(f.stats.midstream_probe_skipped_bytes, 19);
        assert_eq!(f.http.len(), 1);
        assert_eq!(f.http[0].status, Some(200));
        assert_eq!(f.http[0].request_start_ts, 3);
        assert!(f.http[0].complete);
        assert_eq!(r.roles_from, RolesFrom::Payload);
        assert_eq!(r.client_port, 40_000);
    }

    /// Mid-stream with a request from the guessed server: the record's roles are swapped.
    #[test]
    fn a_request_from_the_guessed_server_swaps_the_record() {
        let mut f = AppFactory::default();
        let m = meta(true);
        let mut s = f.open(&m);
        s.on_data(1, S2C, GET);
        s.on_data(2, C2S, OK);
        let mut r = record(&m, RolesFrom::Ports);
        r.c2s.packets = 7;
        r.reset_by = Some(pcapstat_core::Side::Client);
        f.close(s, &mut r);
        assert_eq!((r.client_port, r.server_port), (8080, 40_000));
        assert_eq!((r.c2s.packets, r.s2c.packets), (0, 7));
        assert_eq!(r.reset_by, Some(pcapstat_core::Side::Server));
        assert_eq!(r.roles_from, RolesFrom::Payload);
        assert_eq!((f.stats.roles_from_payload, f.stats.roles_swapped), (1, 1));
        assert_eq!(f.http[0].status, Some(200));
    }

    /// Mid-stream bytes that never start a request are given up after the documented limit.
    #[test]
    fn midstream_probing_gives_up_after_its_limit() {
        let mut f = AppFactory::default();
        let m = meta(true);
        let mut s = f.open(&m);
        let junk = vec![0x17u8; 1400];
        let mut sent = 0u64;
        let mut ts = 0;
        while sent <= MIDSTREAM_PROBE_LIMIT_BYTES + 2800 {
            ts += 1;
            s.on_data(ts, C2S, &junk);
            sent += 1400;
        }
        s.on_data(ts + 1, C2S, GET);
        f.close(s, &mut record(&m, RolesFrom::Ports));
        assert_eq!(f.stats.midstream_probe_gave_up, 1);
        assert_eq!((f.stats.http, f.stats.unrecognised), (0, 1));
        assert!(f.http.is_empty());
    }
}
