//! Routing of HTTP/2 in the application layer (`app::AppFactory`), with scripted streams: the
//! preface (even split before the probe can tell) selects HTTP/2; `Upgrade: h2c` answered by
//! 101 goes through the HTTP/1 parser into HTTP/2; both are counted in `AppStats`.
#![allow(clippy::unwrap_used)]

use std::net::IpAddr;

use pcapstat_core::fuzzing::{
    AppFactory, ConnMeta, Direction::ClientToServer as C2S, Direction::ServerToClient as S2C,
    Endpoint, SinkFactory, StreamSink,
};
use pcapstat_core::{ConnectionRecord, HttpVersion, Outcome, RolesFrom};

const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

fn frame(typ: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let len = u32::try_from(payload.len()).unwrap().to_be_bytes();
    let mut v = vec![len[1], len[2], len[3], typ, flags];
    v.extend_from_slice(&stream.to_be_bytes());
    v.extend_from_slice(payload);
    v
}

/// HEADERS, END_STREAM | END_HEADERS: GET http :path "/" (static table), :authority "h".
fn get(stream: u32) -> Vec<u8> {
    frame(1, 5, stream, &[0x82, 0x86, 0x84, 0x41, 0x01, b'h'])
}

fn meta() -> ConnMeta {
    let ip: IpAddr = "10.0.0.1".parse().unwrap();
    let sip: IpAddr = "10.0.0.2".parse().unwrap();
    ConnMeta {
        conn_id: 7,
        client: Endpoint { ip, port: 40_000 },
        server: Endpoint {
            ip: sip,
            port: 8080,
        },
        client_guessed: false,
        start_ts: 0,
    }
}

fn record() -> ConnectionRecord {
    let m = meta();
    ConnectionRecord {
        conn_id: m.conn_id,
        client_ip: m.client.ip,
        client_port: m.client.port,
        server_ip: m.server.ip,
        server_port: m.server.port,
        ip_version: 4,
        start_ts: 0,
        end_ts: 100,
        outcome: Outcome::Closed,
        reset_by: None,
        failure: None,
        handshake_seen: true,
        client_guessed: false,
        roles_from: RolesFrom::Syn,
        syn_retries: 0,
        connect_ns: None,
        syn_to_synack_ns: None,
        synack_to_ack_ns: None,
        syn_to_ack_ns: None,
        c2s: Default::default(),
        s2c: Default::default(),
    }
}

#[test]
fn the_preface_selects_http2_even_split() {
    let mut f = AppFactory::default();
    let mut s = f.open(&meta());
    s.on_data(1, C2S, &PREFACE[..5]); // "PRI *": neither HTTP/1 nor TLS, maybe HTTP/2
    let mut c = PREFACE[5..].to_vec();
    c.extend(frame(4, 0, 0, &[]));
    c.extend(get(1));
    c.extend(get(3));
    s.on_data(2, C2S, &c);
    let mut r = frame(4, 0, 0, &[]);
    r.extend(frame(1, 4, 3, &[0x88])); // :status 200
    r.extend(frame(1, 4, 1, &[0x8d])); // :status 404
    r.extend(frame(0, 1, 1, b"nope"));
    r.extend(frame(0, 1, 3, b"yes"));
    s.on_data(3, S2C, &r);
    s.on_close(4, C2S);
    s.on_close(4, S2C);
    f.close(s, &mut record());
    assert_eq!(
        (f.stats.http2, f.stats.http, f.stats.unrecognised),
        (1, 0, 0)
    );
    assert_eq!(f.stats.http2_stats.streams, 2);
    let got: Vec<_> = f
        .http
        .iter()
        .map(|h| {
            (
                h.conn_id,
                h.request_index,
                h.stream_id,
                h.status,
                h.complete,
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            (7, 0, Some(1), Some(404), true),
            (7, 1, Some(3), Some(200), true)
        ]
    );
    assert_eq!(
        f.http[0].request_start_ts, 2,
        "the segment with the HEADERS frame"
    );
    assert_eq!(f.http[0].host.as_deref(), Some("h"));
}

#[test]
fn upgrade_h2c_goes_through_http1_into_http2() {
    let mut f = AppFactory::default();
    let mut s = f.open(&meta());
    s.on_data(
        1,
        C2S,
        b"GET /a HTTP/1.1\r\nHost: h\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\n\
          HTTP2-Settings: AAMAAABkAAQAoAAAAAIAAAAA\r\n\r\n",
    );
    let mut r =
        b"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n".to_vec();
    r.extend(frame(4, 0, 0, &[]));
    s.on_data(2, S2C, &r);
    let mut c = PREFACE.to_vec();
    c.extend(frame(4, 0, 0, &[]));
    c.extend(frame(4, 1, 0, &[]));
    s.on_data(3, C2S, &c);
    let mut r = frame(4, 1, 0, &[]);
    r.extend(frame(1, 4, 1, &[0x88]));
    r.extend(frame(0, 1, 1, b"body"));
    s.on_data(4, S2C, &r);
    s.on_data(5, C2S, &get(3));
    s.on_data(6, S2C, &frame(1, 5, 3, &[0x88]));
    f.close(s, &mut record());
    assert_eq!(
        (f.stats.http, f.stats.h2c_upgrades, f.stats.http2),
        (1, 1, 0)
    );
    assert_eq!(f.http.len(), 2);
    let a = &f.http[0];
    assert_eq!(
        (a.path.as_deref().unwrap_or(""), a.stream_id, a.status),
        ("/a", Some(1), Some(200))
    );
    assert_eq!(a.version, HttpVersion::Http2);
    assert_eq!(
        (a.request_start_ts, a.response_start_ts, a.response_end_ts),
        (1, Some(4), Some(4))
    );
    assert!(a.upgraded && a.complete);
    let b = &f.http[1];
    assert_eq!(
        (b.request_index, b.stream_id, b.status, b.complete),
        (1, Some(3), Some(200), true)
    );
}

/// A long HTTP/2 connection hands on its finished streams while it is open
/// (`AppFactory::after_segment`), 32 at a time, whatever stream is still open before them;
/// stream 1 (request 0) waits for the connection's row. The rows taken and those at the close
/// are the rows of a factory that takes nothing, and the connection's failure is the same.
#[test]
fn a_long_http2_connection_hands_on_its_finished_streams() {
    let run = |take: bool| {
        let mut f = AppFactory::default();
        let mut s = f.open(&meta());
        let mut taken_while_open = 0;
        let mut step = |f: &mut AppFactory, s: &mut _, ts, dir, bytes: &[u8]| {
            StreamSink::on_data(s, ts, dir, bytes);
            if take && f.after_segment(s) {
                taken_while_open += 1;
            }
        };
        let mut c = PREFACE.to_vec();
        c.extend(frame(4, 0, 0, &[]));
        c.extend(get(1));
        // Stream 3 stays open to the end (request without END_STREAM, no response).
        c.extend(frame(1, 4, 3, &[0x82, 0x86, 0x84, 0x41, 0x01, b'h']));
        step(&mut f, &mut s, 1, C2S, &c);
        step(&mut f, &mut s, 2, S2C, &frame(1, 5, 1, &[0x88]));
        // Stream 5: reset by the client before any response (unanswered).
        step(&mut f, &mut s, 3, C2S, &get(5));
        step(&mut f, &mut s, 4, C2S, &frame(3, 0, 5, &[0, 0, 0, 8]));
        for i in 0..200u32 {
            let (a, b) = (7 + 4 * i, 9 + 4 * i);
            let ts = 10 + 10 * i64::from(i);
            step(&mut f, &mut s, ts, C2S, &[get(a), get(b)].concat());
            step(&mut f, &mut s, ts + 1, S2C, &frame(1, 4, b, &[0x88]));
            step(&mut f, &mut s, ts + 2, S2C, &frame(1, 5, a, &[0x8d]));
            step(&mut f, &mut s, ts + 3, S2C, &frame(0, 1, b, b"yes"));
        }
        let mut rec = record();
        rec.outcome = Outcome::Reset;
        s.on_close(5_000, C2S);
        s.on_close(5_000, S2C);
        let open: Vec<_> = f.open.drain(..).flat_map(|o| o.http).collect();
        f.close(s, &mut rec);
        (taken_while_open, open, f.http, rec.failure)
    };
    let (n, open, closed, failure) = run(true);
    let (zero, none, mut whole, failure_whole) = run(false);
    assert_eq!((zero, none.len()), (0, 0));
    assert_eq!(whole.len(), 403);
    assert!(n >= 12, "{n} batches taken while open");
    assert!(open.len() >= 350, "{}", open.len());
    assert!(open
        .iter()
        .all(|h| h.request_index != 0 && h.stream_id != Some(3)));
    assert_eq!(closed[0].request_index, 0, "request 0 waits for the close");
    let mut all: Vec<_> = open.into_iter().chain(closed).collect();
    all.sort_by_key(|h| h.request_index);
    whole.sort_by_key(|h| h.request_index);
    assert_eq!(format!("{all:?}"), format!("{whole:?}"));
    assert_eq!(failure, failure_whole);
    assert!(failure.is_some(), "a stream reset before its response");
}
