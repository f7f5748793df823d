#![allow(clippy::unwrap_used)]

use super::*;
use crate::proto::headers::HeaderLimits;
use crate::tcp::Direction::{ClientToServer as C2S, ServerToClient as S2C};
use crate::testing::xorshift;

fn parser() -> HttpParser {
    HttpParser::new(HttpConfig::default())
}

const GET_A: &[u8] = b"GET /a HTTP/1.1\r\nHost: example.com\r\n\r\n";
const GET_B: &[u8] = b"GET /b HTTP/1.1\r\nHost: example.com\r\n\r\n";

#[test]
fn probe_needs_a_known_method_and_a_space() {
    assert_eq!(HttpParser::probe(b"GET / HTTP/1.1"), Probe::Yes);
    assert_eq!(HttpParser::probe(b"OPTIONS *"), Probe::Yes);
    assert_eq!(HttpParser::probe(b"GE"), Probe::NeedMore);
    assert_eq!(HttpParser::probe(b"GET"), Probe::NeedMore);
    assert_eq!(HttpParser::probe(b""), Probe::NeedMore);
    assert_eq!(HttpParser::probe(b"GETX /"), Probe::No);
    assert_eq!(HttpParser::probe(b"\x16\x03\x01"), Probe::No);
    assert_eq!(HttpParser::probe(b"HTTP/1.1 200"), Probe::No);
}

#[test]
fn one_request_with_timestamps_and_sizes() {
    let mut p = parser();
    p.on_data(
        10,
        C2S,
        b"POST /up HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nab",
    );
    p.on_data(11, C2S, b"cde");
    p.on_data(
        20,
        S2C,
        b"HTTP/1.1 201 Created\r\nContent-Length: 3\r\n\r\n",
    );
    p.on_data(21, S2C, b"x");
    p.on_data(22, S2C, b"yz");
    let r = &p.into_records()[0];
    assert_eq!(r.method.as_deref(), Some("POST"));
    assert_eq!(r.path.as_deref(), Some("/up"));
    assert_eq!(r.host.as_deref(), Some("h"));
    assert_eq!(r.version, crate::record::HttpVersion::Http11);
    assert_eq!(r.request_start_ts, 10);
    assert_eq!(r.request_end_ts, Some(11));
    assert_eq!(r.request_header_bytes, 49);
    assert_eq!(r.request_body_bytes, 5);
    assert_eq!(r.status, Some(201));
    assert_eq!(r.response_start_ts, Some(20));
    assert_eq!(r.response_end_ts, Some(22));
    assert_eq!(r.response_header_bytes, Some(43));
    assert_eq!(r.response_body_bytes, Some(3));
    assert!(r.complete);
    assert!(!r.upgraded);
}

#[test]
fn pipelined_requests_match_responses_in_order() {
    let mut p = parser();
    let mut reqs = GET_A.to_vec();
    reqs.extend_from_slice(GET_B);
    reqs.extend_from_slice(b"HEAD /c HTTP/1.1\r\nHost: example.com\r\n\r\n");
    p.on_data(1, C2S, &reqs);
    p.on_data(
        5,
        S2C,
        b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nAHTTP/1.1 404 Not Found\r\nContent-Length: 2\r\n\r\nB",
    );
    p.on_data(6, S2C, b"BHTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n");
    let r = p.into_records();
    assert_eq!(r.len(), 3);
    assert_eq!(
        r.iter()
            .map(|x| x.path.as_deref().unwrap_or(""))
            .collect::<Vec<_>>(),
        ["/a", "/b", "/c"]
    );
    assert_eq!(r[0].status, Some(200));
    assert_eq!(r[1].status, Some(404));
    assert_eq!(r[2].status, Some(200));
    assert_eq!(r[1].response_end_ts, Some(6));
    assert_eq!(r[1].response_body_bytes, Some(2));
    // HEAD: no body although Content-Length says 1000.
    assert_eq!(r[2].response_body_bytes, Some(0));
    assert_eq!(
        r.iter().map(|x| x.request_index).collect::<Vec<_>>(),
        [0, 1, 2]
    );
    assert!(r.iter().all(|x| x.complete));
}

const CHUNKED: &[u8] = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n1A\r\nabcdefghijklmnopqrstuvwxyz\r\n0\r\nX-Trailer: 1\r\n\r\n";

#[test]
fn chunked_split_at_every_byte_boundary() {
    let mut tail = CHUNKED.to_vec();
    tail.extend_from_slice(b"HTTP/1.1 204 No Content\r\n\r\n");
    for cut in 0..=tail.len() {
        for cut2 in [cut, (cut + 7).min(tail.len())] {
            let mut p = parser();
            p.on_data(1, C2S, GET_A);
            p.on_data(1, C2S, GET_B);
            p.on_data(10, S2C, &tail[..cut]);
            p.on_data(11, S2C, &tail[cut..cut2]);
            p.on_data(12, S2C, &tail[cut2..]);
            let r = p.into_records();
            assert_eq!(r[0].response_body_bytes, Some(31), "cut {cut}");
            assert_eq!(r[0].status, Some(200), "cut {cut}");
            assert!(r[0].complete, "cut {cut}");
            assert_eq!(r[1].status, Some(204), "cut {cut}");
            assert_eq!(r[1].response_body_bytes, Some(0), "cut {cut}");
            assert!(r[1].complete, "cut {cut}");
            let end = CHUNKED.len();
            let want_end = if end <= cut {
                10
            } else if end <= cut2 {
                11
            } else {
                12
            };
            assert_eq!(r[0].response_end_ts, Some(want_end), "cut {cut}/{cut2}");
        }
    }
}

#[test]
fn chunked_request_body_is_dechunked() {
    let mut p = parser();
    p.on_data(
        1,
        C2S,
        b"PUT /x HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
    );
    p.on_data(2, S2C, b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
    let r = &p.into_records()[0];
    assert_eq!(r.request_body_bytes, 3);
    assert!(r.complete);
}

#[test]
fn interim_responses_are_skipped() {
    let mut p = parser();
    p.on_data(
        1,
        C2S,
        b"POST /p HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n",
    );
    p.on_data(2, S2C, b"HTTP/1.1 100 Continue\r\n\r\n");
    p.on_data(3, C2S, b"ok");
    p.on_data(
        4,
        S2C,
        b"HTTP/1.1 102 Processing\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\n!",
    );
    let stats = p.stats().clone();
    let r = &p.into_records()[0];
    assert_eq!(r.status, Some(200));
    assert_eq!(r.response_start_ts, Some(4));
    assert_eq!(r.request_end_ts, Some(3));
    assert_eq!(r.response_header_bytes, Some(38));
    assert_eq!(stats.interim_responses, 2);
    assert!(r.complete);
}

#[test]
fn no_body_statuses_and_upgrade() {
    for (code, body) in [(204u16, false), (304, false), (200, true)] {
        let mut p = parser();
        p.on_data(1, C2S, GET_A);
        p.on_data(1, C2S, GET_B);
        let head = format!("HTTP/1.1 {code} X\r\nContent-Length: 3\r\n\r\n");
        p.on_data(2, S2C, head.as_bytes());
        if body {
            p.on_data(3, S2C, b"abc");
        }
        p.on_data(4, S2C, b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
        let r = p.into_records();
        assert_eq!(r[0].status, Some(code));
        assert_eq!(r[0].response_body_bytes, Some(if body { 3 } else { 0 }));
        assert_eq!(r[1].status, Some(200), "{code}");
    }

    let mut p = parser();
    p.on_data(
        1,
        C2S,
        b"GET /ws HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
    );
    p.on_data(
        2,
        S2C,
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n\x81\x05hello",
    );
    p.on_data(3, C2S, b"GET /not-http HTTP/1.1\r\n\r\n");
    p.on_data(4, S2C, b"HTTP/1.1 200 OK\r\n\r\n");
    let r = p.into_records();
    assert_eq!(r.len(), 1);
    assert!(r[0].upgraded);
    assert_eq!(r[0].status, Some(101));
    assert_eq!(r[0].response_end_ts, Some(2));
    assert!(r[0].complete);
}

#[test]
fn body_until_close_with_connection_close() {
    let mut p = parser();
    p.on_data(1, C2S, b"GET / HTTP/1.0\r\n\r\n");
    p.on_data(2, S2C, b"HTTP/1.0 200 OK\r\nConnection: close\r\n\r\nabc");
    p.on_data(3, S2C, b"defg");
    p.on_close(9, S2C);
    p.on_close(9, C2S);
    let r = &p.into_records()[0];
    assert_eq!(r.version, crate::record::HttpVersion::Http10);
    assert_eq!(r.response_body_bytes, Some(7));
    assert_eq!(r.response_end_ts, Some(3));
    assert!(r.complete);
}

#[test]
fn response_cut_by_close_is_incomplete() {
    let mut p = parser();
    p.on_data(1, C2S, GET_A);
    p.on_data(2, S2C, b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc");
    p.on_close(3, S2C);
    let r = &p.into_records()[0];
    assert_eq!(r.response_body_bytes, Some(3));
    assert!(!r.complete);
}

#[test]
fn unanswered_request_is_incomplete() {
    let mut p = parser();
    p.on_data(1, C2S, GET_A);
    let r = &p.into_records()[0];
    assert_eq!(r.status, None);
    assert_eq!(r.response_start_ts, None);
    assert!(!r.complete);
}

#[test]
fn gap_in_length_body_keeps_framing() {
    let mut p = parser();
    p.on_data(1, C2S, GET_A);
    p.on_data(1, C2S, GET_B);
    p.on_data(2, S2C, b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nab");
    p.on_gap(3, S2C, 5);
    p.on_data(4, S2C, b"cde");
    p.on_data(5, S2C, b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nz");
    let r = p.into_records();
    assert!(!r[0].complete);
    assert_eq!(r[0].response_body_bytes, Some(5), "only the bytes seen");
    assert!(r[1].complete);
    assert_eq!(r[1].response_start_ts, Some(5));
}

#[test]
fn gap_in_chunked_body_resynchronises_on_status_line() {
    let mut p = parser();
    p.on_data(1, C2S, GET_A);
    p.on_data(1, C2S, GET_B);
    p.on_data(
        2,
        S2C,
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n100\r\nab",
    );
    p.on_gap(3, S2C, 300);
    p.on_data(4, S2C, b"junk\r\n0\r\n\r\nHTTP/1.1 20");
    p.on_data(5, S2C, b"0 OK\r\nContent-Length: 0\r\n\r\n");
    let stats = p.stats().clone();
    let r = p.into_records();
    assert!(!r[0].complete);
    assert_eq!(r[1].status, Some(200));
    assert_eq!(r[1].response_start_ts, Some(4));
    // Found after a resynchronisation: cannot be sure it answers this request.
    assert!(!r[1].complete);
    assert_eq!(stats.resyncs, 1);
}

#[test]
fn gap_in_request_head_resynchronises_on_request_line() {
    let mut p = parser();
    p.on_data(1, C2S, b"GET /lost HTTP/1.1\r\nHo");
    p.on_gap(2, C2S, 100);
    p.on_data(
        3,
        C2S,
        b"st: x\r\n\r\nPOST /next HTTP/1.1\r\nContent-Length: 0\r\n\r\n",
    );
    p.on_data(4, S2C, b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
    p.on_data(5, S2C, b"HTTP/1.1 201 OK\r\nContent-Length: 0\r\n\r\n");
    let stats = p.stats().clone();
    let r = p.into_records();
    assert_eq!(r.len(), 1);
    assert_eq!(r[0].path.as_deref(), Some("/next"));
    assert_eq!(r[0].request_start_ts, 3);
    // The first response answers the lost request.
    assert_eq!(r[0].status, Some(201));
    assert_eq!(stats.unmatched_responses, 1);
}

#[test]
fn resync_across_segments_keeps_the_start_timestamp() {
    let mut p = parser();
    p.on_gap(1, C2S, 10);
    p.on_data(2, C2S, b"xx\r\nGE");
    p.on_data(3, C2S, b"T /z HTTP/1.1\r\n\r\n");
    let r = p.into_records();
    assert_eq!(r.len(), 1);
    assert_eq!(r[0].request_start_ts, 2);
    assert_eq!(r[0].request_end_ts, Some(3));
}

#[test]
fn oversized_head_is_bounded_and_counted() {
    let mut p = HttpParser::new(HttpConfig {
        max_head_bytes: 100,
        max_pending: 4,
        headers: None,
    });
    p.on_data(1, C2S, b"GET / HTTP/1.1\r\nX: ");
    for _ in 0..10 {
        p.on_data(2, C2S, &[b'a'; 50]);
    }
    assert!(p.req.buf.len() <= 100);
    p.on_data(3, C2S, b"\r\n\r\nGET /ok HTTP/1.1\r\n\r\n");
    for _ in 0..10 {
        p.on_data(4, C2S, GET_A);
    }
    let stats = p.stats().clone();
    let r = p.into_records();
    assert_eq!(stats.heads_too_large, 1);
    assert_eq!(r[0].path.as_deref(), Some("/ok"));
    assert!(stats.pending_dropped > 0);
}

#[test]
fn bad_heads_do_not_stop_parsing() {
    let mut p = parser();
    p.on_data(
        1,
        C2S,
        b"GET / HTTP/1.1\r\nBad\0Header: x\r\n\r\nGET /good HTTP/1.1\r\n\r\n",
    );
    p.on_data(2, S2C, b"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\nrest");
    p.on_close(3, S2C);
    let stats = p.stats().clone();
    let r = p.into_records();
    assert_eq!(stats.parse_errors, 1);
    assert_eq!(stats.bad_request_heads, 1);
    // The request line of the broken head still makes a record, so the response pairs with it.
    assert_eq!(r.len(), 2);
    assert_eq!(
        (r[0].path.as_deref().unwrap_or(""), r[0].status),
        ("/", Some(200))
    );
    assert!(!r[0].complete);
    assert_eq!(r[0].response_body_bytes, Some(4));
    assert_eq!(
        (r[1].path.as_deref().unwrap_or(""), r[1].status),
        ("/good", None)
    );
}

/// Four requests on a keep-alive connection, one response each; `resp2` replaces the second.
fn keepalive_with(resp2: &[u8]) -> (Vec<HttpExchange>, HttpStats) {
    let mut p = parser();
    let ok = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
    for k in 0..4i64 {
        let req = format!("GET /{k} HTTP/1.1\r\nHost: h\r\n\r\n");
        p.on_data(k * 10, C2S, req.as_bytes());
        p.on_data(k * 10 + 1, S2C, if k == 1 { resp2 } else { ok });
    }
    p.finish()
}

#[test]
fn space_before_a_header_colon_is_accepted_in_responses() {
    let (r, stats) = keepalive_with(
        b"HTTP/1.1 204 No Content\r\nAccess-Control-Allow-Credentials : true\r\n\r\n",
    );
    assert_eq!(stats.parse_errors, 0);
    let st: Vec<_> = r.iter().map(|r| r.status).collect();
    assert_eq!(st, [Some(200), Some(204), Some(200), Some(200)]);
    assert!(r.iter().all(|r| r.complete));
    assert_eq!(r[2].response_start_ts, Some(21));
}

#[test]
fn other_lenient_heads_are_accepted() {
    for resp in [
        &b"HTTP/1.1 204 No Content\r\nX-Folded: a\r\n b\r\n\r\n"[..],
        b"HTTP/1.1  204  No Content\r\n\r\n",
        b"HTTP/1.1 204 No Content\r\nno colon here\r\nX: y\r\n\r\n",
        b"HTTP/1.1 204 No Content\r\nBad[Name]: v\r\n\r\n",
    ] {
        let (r, stats) = keepalive_with(resp);
        assert_eq!(stats.parse_errors, 0, "{}", String::from_utf8_lossy(resp));
        assert_eq!(r[1].status, Some(204));
        assert!(r.iter().all(|r| r.complete));
    }
    let mut p = parser();
    p.on_data(1, C2S, b"GET  /x  HTTP/1.1\r\nHost : h\r\n\r\n");
    p.on_data(2, S2C, b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
    let r = p.into_records();
    assert_eq!(
        (r[0].path.as_deref().unwrap_or(""), r[0].status),
        ("/x", Some(200))
    );
}

#[test]
fn an_unparseable_response_head_does_not_shift_later_responses() {
    let (r, stats) =
        keepalive_with(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-B\0d: 1\r\n\r\nHTTP/");
    assert_eq!((stats.bad_response_heads, stats.parse_errors), (1, 1));
    let st: Vec<_> = r.iter().map(|r| r.status).collect();
    assert_eq!(st, [Some(200), Some(200), Some(200), Some(200)]);
    let complete: Vec<_> = r.iter().map(|r| r.complete).collect();
    assert_eq!(complete, [true, false, true, true]);
    // Each later response is paired with its own request (0.001 s later, not earlier).
    for (k, rec) in r.iter().enumerate() {
        assert_eq!(rec.response_start_ts, Some(k as i64 * 10 + 1));
    }
    // Garbage that is not even a status line: the request gets no status, later ones are
    // still paired with their own responses.
    let (r, stats) = keepalive_with(b"\0\0garbage\r\n\r\n");
    assert_eq!(stats.bad_response_heads, 1);
    let st: Vec<_> = r.iter().map(|r| r.status).collect();
    assert_eq!(st, [Some(200), None, Some(200), Some(200)]);
    assert_eq!(stats.unpaired_after_bad_head, 1);
}

#[test]
fn no_response_pairs_across_a_bad_head_with_pipelined_requests() {
    let mut p = parser();
    p.on_data(
        1,
        C2S,
        b"GET /1 HTTP/1.1\r\n\r\nGET /2 HTTP/1.1\r\n\r\nGET /3 HTTP/1.1\r\n\r\n",
    );
    p.on_data(
        2,
        S2C,
        b"HTTP/1.1 200 OK\r\nX\0: 1\r\nContent-Length: 1\r\n\r\na",
    );
    p.on_data(3, S2C, b"HTTP/1.1 201 OK\r\nContent-Length: 1\r\n\r\nb");
    p.on_data(4, C2S, b"GET /4 HTTP/1.1\r\n\r\n");
    p.on_data(5, S2C, b"HTTP/1.1 202 OK\r\nContent-Length: 1\r\n\r\nc");
    let (r, stats) = p.finish();
    let st: Vec<_> = r.iter().map(|r| r.status).collect();
    // /2 and /3 were sent before the failure: their responses cannot be told apart from the
    // unparsed bytes, so none is paired with them; /4 gets the response sent after it.
    assert_eq!(st, [Some(200), None, None, Some(202)]);
    assert_eq!(stats.unpaired_after_bad_head, 2);
    assert_eq!(stats.unmatched_responses, 1);
}

#[test]
fn midstream_parser_skips_the_tail_of_an_earlier_response() {
    let mut p = HttpParser::midstream(HttpConfig::default());
    p.on_data(1, C2S, GET_A);
    p.on_data(2, S2C, b"ail of an earlier body\r\n");
    p.on_data(3, S2C, b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
    let (r, stats) = p.finish();
    assert_eq!(r[0].status, Some(200));
    assert!(r[0].complete);
    assert_eq!(stats.parse_errors, 0);
}

#[test]
fn random_bytes_and_splits_never_panic() {
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    let pieces: [&[u8]; 8] = [
        GET_A,
        CHUNKED,
        b"HTTP/1.1 101 S\r\n\r\n",
        b"HTTP/1.1 100 C\r\n\r\n",
        b"Content-Length: 99999999999999999999999\r\n",
        b"\r\n",
        b"ffffffffffffffffff\r\n",
        b"HEAD / HTTP/1.0\r\n\r\n",
    ];
    for _ in 0..3000 {
        let mut p = HttpParser::new(HttpConfig {
            max_head_bytes: 256,
            max_pending: 8,
            headers: Some(HeaderLimits::default().with_max_message_bytes(64)),
        });
        for _ in 0..(xorshift(&mut seed) % 20) {
            let r = xorshift(&mut seed);
            let dir = if r & 1 == 0 { C2S } else { S2C };
            let bytes: Vec<u8> = if r & 2 == 0 {
                (0..(r >> 8) % 64)
                    .map(|_| xorshift(&mut seed) as u8)
                    .collect()
            } else {
                let piece = pieces[((r >> 8) % 8) as usize];
                let cut = (xorshift(&mut seed) as usize) % (piece.len() + 1);
                piece[..cut].to_vec()
            };
            match (r >> 4) % 8 {
                0 => p.on_gap(r as i64, dir, (r >> 16) % 100),
                1 => p.on_close(r as i64, dir),
                _ => p.on_data(r as i64, dir, &bytes),
            }
        }
        let _ = p.into_records();
    }
}

/// One connection's exchange as a script of (timestamp, direction, bytes): pipelining, a
/// 100-continue upload, chunked with extensions and trailers, HEAD, 304, a body by length, and
/// a final response delimited by the close.
fn exchange() -> Vec<(i64, Direction, Vec<u8>)> {
    let s = |t, d, b: &[u8]| (t, d, b.to_vec());
    vec![
        s(1, C2S, b"GET /a HTTP/1.1\r\nHost: h\r\n\r\nHEAD /b HTTP/1.1\r\nHost: h\r\n\r\n"),
        s(2, S2C, b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nabcdHTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\n"),
        s(3, C2S, b"POST /up HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 6\r\n\r\n"),
        s(4, S2C, b"HTTP/1.1 100 Continue\r\n\r\n"),
        s(5, C2S, b"123456"),
        s(6, S2C, CHUNKED),
        s(7, C2S, b"GET /c HTTP/1.1\r\nIf-None-Match: \"x\"\r\n\r\nGET /d HTTP/1.0\r\n\r\n"),
        s(8, S2C, b"HTTP/1.1 304 Not Modified\r\nETag: \"x\"\r\n\r\nHTTP/1.0 200 OK\r\n\r\nuntil the close"),
    ]
}

fn run_script(
    script: &[(i64, Direction, Vec<u8>)],
    split: impl Fn(usize, &[u8]) -> Vec<&[u8]>,
) -> (Vec<HttpExchange>, HttpStats) {
    run_script_with(HttpConfig::default(), script, split)
}

fn run_script_with(
    cfg: HttpConfig,
    script: &[(i64, Direction, Vec<u8>)],
    split: impl Fn(usize, &[u8]) -> Vec<&[u8]>,
) -> (Vec<HttpExchange>, HttpStats) {
    let mut p = HttpParser::new(cfg);
    for (i, (ts, dir, bytes)) in script.iter().enumerate() {
        for piece in split(i, bytes) {
            p.on_data(*ts, *dir, piece);
        }
    }
    p.on_close(9, S2C);
    let stats = p.stats().clone();
    (p.into_records(), stats)
}

/// The requirement for every parser: the same bytes cut at any boundary give the same
/// records and counters as the bytes fed whole.
#[test]
fn whole_exchange_split_at_every_byte_boundary_gives_the_same_records() {
    let script = exchange();
    let (want, want_stats) = run_script(&script, |_, b| vec![b]);
    assert_eq!(want.len(), 5, "{want:#?}");
    assert!(want.iter().all(|r| r.complete), "{want:#?}");
    assert_eq!(want[1].response_body_bytes, Some(0), "HEAD has no body");
    assert_eq!(want[2].request_body_bytes, 6);
    assert_eq!(want[2].response_body_bytes, Some(31), "chunked, de-chunked");
    assert_eq!(want[3].status, Some(304));
    assert_eq!(
        want[4].response_body_bytes,
        Some(15),
        "body until the close"
    );
    for event in 0..script.len() {
        for cut in 0..=script[event].2.len() {
            let got = run_script(&script, |i, b| {
                if i == event {
                    vec![&b[..cut], &b[cut..]]
                } else {
                    vec![b]
                }
            });
            assert_eq!(
                got,
                (want.clone(), want_stats.clone()),
                "event {event} cut at {cut}"
            );
        }
    }
    // And every event byte by byte.
    let got = run_script(&script, |_, b| b.chunks(1).collect());
    assert_eq!(got, (want, want_stats), "byte by byte");
}

/// Issue #14: a 60 KB head arriving one byte per segment is searched once and parsed a few
/// times (O(log n) partial parses), not re-parsed from its start on every segment; the
/// request is the same as when the head comes in one segment.
#[test]
fn head_in_one_byte_segments_is_parsed_in_linear_work() {
    for client in [true, false] {
        let head = if client {
            format!(
                "GET /x HTTP/1.1\r\nHost: h\r\nX-A: {}\r\n\r\n",
                "a".repeat(60_000)
            )
        } else {
            format!(
                "HTTP/1.1 200 OK\r\nX-A: {}\r\nContent-Length: 0\r\n\r\n",
                "a".repeat(60_000)
            )
        };
        // Room for the head and its per-segment bookkeeping (16 bytes a segment, counted
        // against the limit since #14's bounded buffers).
        let mut p = HttpParser::new(HttpConfig::default().with_max_head_bytes(2 << 20));
        if !client {
            p.on_data(1, C2S, b"GET / HTTP/1.1\r\nHost: h\r\n\r\n");
        }
        let dir = if client { C2S } else { S2C };
        for (k, b) in head.as_bytes().iter().enumerate() {
            p.on_data(10 + k as i64, dir, std::slice::from_ref(b));
        }
        // Quadratic re-parsing would hand httparse 60 000² / 2 = 1.8e9 bytes.
        assert!(
            p.parsed_bytes <= 4 * head.len(),
            "{} parsed",
            p.parsed_bytes
        );
        let recs = p.into_records();
        assert_eq!(recs.len(), 1);
        if client {
            assert_eq!(
                (
                    recs[0].path.as_deref().unwrap_or(""),
                    recs[0].request_end_ts
                ),
                ("/x", Some(10 + head.len() as i64 - 1))
            );
        } else {
            assert_eq!(recs[0].status, Some(200));
            assert_eq!(recs[0].response_start_ts, Some(10));
        }
    }
    // A bad start line is still found early (the first parse is on the first segment).
    let mut p = parser();
    p.on_data(1, C2S, b"GET / HTTP/1.1\r\nHost: h\r\n\r\n");
    p.on_data(2, S2C, b"HTTP/1.1 2x0 OK\r\n");
    assert_eq!(p.stats().parse_errors, 1);
}

/// A head sent one byte per segment: the per-segment bookkeeping (16 bytes each) counts
/// against `max_head_bytes`, so memory stays bounded whatever the segment sizes (#14).
#[test]
fn one_byte_segments_count_their_bookkeeping_against_the_head_limit() {
    let max = 4096;
    let mut p = HttpParser::new(HttpConfig::default().with_max_head_bytes(max));
    let mut head = b"GET /a HTTP/1.1\r\nHost: h\r\nX-Pad: ".to_vec();
    head.resize(1000, b'a');
    for (i, b) in head.iter().enumerate() {
        p.on_data(i as i64, C2S, std::slice::from_ref(b));
        let cost = p.req.buf.len() + p.req.chunks.len() * 16;
        assert!(cost <= max + 16, "cost {cost}");
    }
    // 1000 bytes of head, 16 000 of bookkeeping: over the limit.
    assert_eq!(p.stats().heads_too_large, 1);
    // The same head in one segment fits.
    let mut p = HttpParser::new(HttpConfig::default().with_max_head_bytes(max));
    p.on_data(0, C2S, &head);
    assert_eq!(p.stats().heads_too_large, 0);
}

/// Feeds a long keep-alive connection (with pipelining, a chunked response, a close-delimited
/// last response and a gap) to two parsers; the second gives up its finished exchanges every
/// few segments. What it gave up plus its final records equal the first parser's records.
#[test]
fn taking_finished_exchanges_changes_no_record() {
    let mut events: Vec<(i64, Direction, Vec<u8>)> = Vec::new();
    let mut t = 0;
    for i in 0..200 {
        t += 10;
        let req = format!("GET /{i} HTTP/1.1\r\nHost: h\r\n\r\n").into_bytes();
        if i % 7 == 0 {
            // Three pipelined requests, answered in order.
            for _ in 0..3 {
                events.push((t, C2S, req.clone()));
            }
            for _ in 0..3 {
                t += 1;
                events.push((
                    t,
                    S2C,
                    b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok".to_vec(),
                ));
            }
        } else if i % 5 == 0 {
            events.push((t, C2S, req));
            events.push((
                t + 1,
                S2C,
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec(),
            ));
            events.push((t + 2, S2C, b"3\r\nabc\r\n0\r\n\r\n".to_vec()));
        } else {
            // The request in two segments, the response head and body apart.
            let (a, b) = req.split_at(7);
            events.push((t, C2S, a.to_vec()));
            events.push((t + 1, C2S, b.to_vec()));
            events.push((
                t + 2,
                S2C,
                b"HTTP/1.1 404 Not Found\r\nContent-Length: 4\r\n\r\n".to_vec(),
            ));
            events.push((t + 3, S2C, b"nope".to_vec()));
        }
    }
    events.push((
        t + 10,
        C2S,
        b"GET /last HTTP/1.1\r\nHost: h\r\n\r\n".to_vec(),
    ));
    events.push((t + 11, S2C, b"HTTP/1.0 200 OK\r\n\r\nuntil close".to_vec()));
    let (mut whole, mut taking) = (parser(), parser());
    let mut taken = Vec::new();
    for (n, (ts, dir, bytes)) in events.iter().enumerate() {
        whole.on_data(*ts, *dir, bytes);
        taking.on_data(*ts, *dir, bytes);
        if n % 3 == 0 {
            taken.extend(taking.take_finished(8));
            assert!(taking.recs.items.len() <= 16, "{}", taking.recs.items.len());
        }
    }
    for p in [&mut whole, &mut taking] {
        p.on_gap(t + 12, S2C, 100);
        p.on_close(t + 13, C2S);
        p.on_close(t + 13, S2C);
    }
    assert!(taken.len() > 240, "{}", taken.len());
    taken.extend(taking.into_records());
    assert_eq!(format!("{taken:?}"), format!("{:?}", whole.into_records()));
}

/// `taking_finished_exchanges_changes_no_record` on random conversations: pipelining, chunked
/// and sized bodies, heads and bodies cut at random points, gaps and garbage in either
/// direction (which make the parser resynchronise, damage records and give up requests).
#[test]
fn taking_finished_exchanges_changes_no_record_on_random_conversations() {
    struct Rng(u64);
    impl Rng {
        fn below(&mut self, n: u64) -> u64 {
            xorshift(&mut self.0) % n.max(1)
        }
    }
    type Events = Vec<(Direction, Option<Vec<u8>>)>;
    fn push(events: &mut Events, rng: &mut Rng, dir: Direction, bytes: &[u8], cuts: u64) {
        let mut rest = bytes;
        for _ in 0..cuts {
            let at = rng.below(rest.len() as u64 + 1) as usize;
            let (a, b) = rest.split_at(at);
            events.push((dir, Some(a.to_vec())));
            rest = b;
        }
        events.push((dir, Some(rest.to_vec())));
    }
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut early = 0;
    for round in 0..300 {
        let mut events: Events = Vec::new();
        let ev = &mut events;
        for i in 0..(20 + rng.below(60)) {
            let depth = 1 + rng.below(3);
            for k in 0..depth {
                let req = format!("GET /{i}/{k} HTTP/1.1\r\nHost: h\r\n\r\n").into_bytes();
                let cuts = rng.below(3);
                push(ev, &mut rng, C2S, &req, cuts);
            }
            for _ in 0..depth {
                let resp: &[u8] = match rng.below(3) {
                    0 => b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
                    1 => {
                        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab\r\n0\r\n\r\n"
                    }
                    _ => b"HTTP/1.1 304 Not Modified\r\n\r\n",
                };
                let cuts = rng.below(4);
                push(ev, &mut rng, S2C, resp, cuts);
            }
            match rng.below(40) {
                0 => ev.push((C2S, None)),
                1 => ev.push((S2C, None)),
                2 => push(ev, &mut rng, S2C, b"garbage\r\n", 0),
                _ => {}
            }
        }
        let min = 1 + rng.below(8) as usize;
        let (mut whole, mut taking) = (parser(), parser());
        let mut taken = Vec::new();
        for (n, (dir, bytes)) in events.iter().enumerate() {
            let ts = n as i64;
            for p in [&mut whole, &mut taking] {
                match bytes {
                    Some(b) => p.on_data(ts, *dir, b),
                    None => p.on_gap(ts, *dir, 7),
                }
            }
            taken.extend(taking.take_finished(min));
        }
        let end = events.len() as i64;
        for p in [&mut whole, &mut taking] {
            p.on_close(end, C2S);
            p.on_close(end, S2C);
        }
        early += taken.len();
        taken.extend(taking.into_records());
        let key = |r: &HttpExchange| r.request_index;
        taken.sort_by_key(key);
        let mut all = whole.into_records();
        all.sort_by_key(key);
        assert_eq!(format!("{taken:?}"), format!("{all:?}"), "round {round}");
    }
    assert!(
        early > 10_000,
        "only {early} exchanges taken before the end"
    );
}

/// A head's fields as `(name, value)` pairs.
type Fields<'a> = Vec<(&'a str, &'a str)>;

fn kept(r: &HttpExchange) -> (Fields<'_>, Fields<'_>, Option<&str>) {
    let h = r.headers.as_deref().expect("headers kept");
    (
        h.request.iter().collect(),
        h.response.iter().collect(),
        h.status_text.as_deref(),
    )
}

/// Header capture (for the HAR): the fields of each request and final response in wire order
/// and case, the reason phrase, nothing of the 100 Continue nor of the chunked trailer; the
/// same whatever the segment boundaries (every cut of every event, and byte by byte).
#[test]
fn kept_headers_split_at_every_byte_boundary_are_the_same() {
    let cfg = HttpConfig::default().with_headers(Some(HeaderLimits::default()));
    let script = exchange();
    let (want, want_stats) = run_script_with(cfg, &script, |_, b| vec![b]);
    assert_eq!(want.len(), 5);
    assert_eq!(
        kept(&want[0]),
        (
            vec![("Host", "h")],
            vec![("Content-Length", "4")],
            Some("OK")
        )
    );
    assert_eq!(
        kept(&want[2]),
        (
            vec![
                ("Host", "h"),
                ("Expect", "100-continue"),
                ("Content-Length", "6")
            ],
            vec![("Transfer-Encoding", "chunked")],
            Some("OK")
        )
    );
    assert_eq!(
        kept(&want[3]),
        (
            vec![("If-None-Match", "\"x\"")],
            vec![("ETag", "\"x\"")],
            Some("Not Modified")
        )
    );
    assert_eq!(kept(&want[4]), (vec![], vec![], Some("OK")));
    assert_eq!(
        (
            want_stats.kept_headers_dropped,
            want_stats.kept_headers_truncated
        ),
        (0, 0)
    );
    // Everything else as without the capture.
    let (plain, _) = run_script(&script, |_, b| vec![b]);
    let mut stripped = want.clone();
    stripped.iter_mut().for_each(|r| r.headers = None);
    assert_eq!(stripped, plain);
    assert!(plain.iter().all(|r| r.headers.is_none()), "off: none kept");
    for event in 0..script.len() {
        for cut in 0..=script[event].2.len() {
            let got = run_script_with(cfg, &script, |i, b| {
                if i == event {
                    vec![&b[..cut], &b[cut..]]
                } else {
                    vec![b]
                }
            });
            assert_eq!(
                got,
                (want.clone(), want_stats.clone()),
                "event {event} cut at {cut}"
            );
        }
    }
    let got = run_script_with(cfg, &script, |_, b| b.chunks(1).collect());
    assert_eq!(got, (want, want_stats), "byte by byte");
}

/// Hostile heads: many fields, huge names and values. The capture keeps at most its bounds per
/// message, counts what it cut or dropped, and its work stays linear (the heads are read
/// once; the kept bytes are bounded whatever the head's size).
#[test]
fn kept_headers_are_bounded_and_counted() {
    let lim = HeaderLimits::default()
        .with_max_fields(10)
        .with_max_name_bytes(16)
        .with_max_value_bytes(64)
        .with_max_message_bytes(400);
    let cfg = HttpConfig::default().with_headers(Some(lim));
    let mut head = b"GET / HTTP/1.1\r\n".to_vec();
    for i in 0..120 {
        head.extend_from_slice(format!("X-Many-{i}: v\r\n").as_bytes());
    }
    head.extend_from_slice(b"\r\n");
    let mut resp = b"HTTP/1.1 200 ".to_vec();
    resp.extend(std::iter::repeat_n(b'r', 200));
    resp.extend_from_slice(b"\r\n");
    resp.extend(std::iter::repeat_n(b'N', 1000));
    resp.extend_from_slice(b": ");
    resp.extend(std::iter::repeat_n(b'v', 30_000));
    resp.extend_from_slice(b"\r\nContent-Length: 0\r\n\r\n");
    let mut p = HttpParser::new(cfg);
    p.on_data(1, C2S, &head);
    p.on_data(2, S2C, &resp);
    let (recs, stats) = p.finish();
    let h = recs[0].headers.as_deref().unwrap();
    assert_eq!((h.request.len(), h.request.dropped), (10, 110));
    assert_eq!(h.request.iter().nth(9), Some(("X-Many-9", "v")));
    assert_eq!((h.response.len(), h.response.truncated), (2, 1));
    let first = h.response.iter().next().unwrap();
    assert_eq!((first.0.len(), first.1.len()), (16, 64));
    assert_eq!(h.status_text.as_deref().map(str::len), Some(64));
    assert_eq!(stats.kept_headers_dropped, 110);
    assert_eq!(
        stats.kept_headers_truncated, 2,
        "the long field and the reason"
    );
    assert!(h.request.heap_bytes() <= 400 + 10 * 8);
    assert!(h.response.heap_bytes() <= 400 + 10 * 8);
    assert!(recs[0].complete);
}

/// `Fields::of` reads in one pass what a pass per name read before: the first `Host`, the
/// last `Transfer-Encoding`, every `Content-Length` (equal repeats allowed), any `Upgrade`.
#[test]
fn fields_are_read_in_one_pass_as_one_pass_per_name_read_them() {
    fn read_fields(raw: &[(&'static str, &'static [u8])]) -> super::Fields<'static> {
        let headers: Vec<httparse::Header<'static>> = raw
            .iter()
            .map(|&(name, value)| httparse::Header { name, value })
            .collect();
        super::Fields::of(&headers)
    }
    let f = read_fields(&[
        ("HOST", b"a.example"),
        ("Content-Length", b" 12 "),
        ("host", b"b.example"),
        ("content-length", b"12"),
        ("Upgrade", b"foo, WebSocket"),
        ("Transfer-Encoding", b"chunked"),
        ("transfer-encoding", b"gzip"),
    ]);
    assert_eq!(f.host, Some(&b"a.example"[..]));
    assert_eq!(f.content_length, Ok(Some(12)));
    assert!(f.upgrade_websocket && !f.upgrade_h2c);
    assert!(!f.chunked(), "the last Transfer-Encoding decides");
    assert!(read_fields(&[("Transfer-Encoding", b"gzip, Chunked ")]).chunked());
    // Differing values, a bad one (even after a good one), past u64, empty: unusable.
    for bad in [
        &[("Content-Length", &b"1"[..]), ("Content-Length", b"2")][..],
        &[("Content-Length", b"1"), ("Content-Length", b"1x")],
        &[("Content-Length", b"18446744073709551616")],
        &[("Content-Length", b" ")],
        &[("Content-Length", b"-1")],
    ] {
        assert_eq!(read_fields(bad).content_length, Err(()), "{bad:?}");
    }
    assert_eq!(
        read_fields(&[("Content-Length", b"18446744073709551615")]).content_length,
        Ok(Some(u64::MAX))
    );
    // Whitespace `str::trim` removes and `trim_ascii` does not (a vertical tab, a no-break
    // space) is still removed, as before.
    assert_eq!(
        read_fields(&[("Content-Length", b"\x0b7")]).content_length,
        Ok(Some(7))
    );
    assert_eq!(
        read_fields(&[("Content-Length", "\u{a0}8\u{a0}".as_bytes())]).content_length,
        Ok(Some(8))
    );
    assert_eq!(read_fields(&[]).content_length, Ok(None));
    assert!(read_fields(&[("Upgrade", b"h2c")]).upgrade_h2c);
}

/// What the parser counts for its records equals what they hold, record by record.
fn assert_records_counted(p: &HttpParser) {
    let sum: usize = p
        .recs
        .items
        .iter()
        .map(|r| {
            assert_eq!(r.cost, r.r.held_bytes() + REC_BOOKKEEPING);
            r.cost
        })
        .sum();
    assert_eq!(p.rec_bytes, sum);
}

/// A request given up (past `max_pending`, or its response lost in a gap) never gets its
/// response: it is final, and must not keep every later exchange of the connection until the
/// connection ends (before, the take stopped at it: this test fails as soon as a ninth stays).
#[test]
fn given_up_requests_do_not_hold_the_later_exchanges() {
    for lost in ["pending", "gap"] {
        let mut p = HttpParser::new(HttpConfig::default().with_max_pending(4));
        let mut t = 0;
        match lost {
            // Six pipelined requests: the first two are given up at the bound.
            "pending" => {
                for _ in 0..6 {
                    p.on_data(t, C2S, GET_A);
                    t += 1;
                }
                for _ in 0..4 {
                    p.on_data(t, S2C, b"HTTP/1.1 204 No Content\r\n\r\n");
                    t += 1;
                }
            }
            // The first response falls in a gap.
            _ => {
                p.on_data(t, C2S, GET_A);
                p.on_gap(t + 1, S2C, 40);
                t += 2;
            }
        }
        assert_eq!(p.stats.pending_dropped, u64::from(lost == "pending") * 2);
        let mut taken = Vec::new();
        for _ in 0..200 {
            p.on_data(t, C2S, GET_B);
            p.on_data(
                t + 1,
                S2C,
                b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
            );
            t += 2;
            taken.extend(p.take_finished(8));
            assert!(
                p.recs.items.len() <= 8,
                "{lost}: {} kept",
                p.recs.items.len()
            );
            assert_records_counted(&p);
        }
        let first = taken.first().expect("taken");
        assert_eq!(first.path.as_deref(), Some("/a"));
        assert!(!first.complete);
        assert!(taken.iter().rev().take(100).all(|r| r.complete), "{lost}");
    }
}

/// Shed at the tracker's total: the requests waiting are given up (final, incomplete), so a
/// take (the application layer takes every one after a shed) takes them all; what the parser
/// holds falls to its buffers' room; the late responses pair with nothing.
#[test]
fn shedding_gives_up_the_waiting_requests() {
    let mut p = parser();
    for i in 0..10 {
        p.on_data(i, C2S, GET_A);
    }
    p.on_data(10, S2C, b"HTTP/1.1 204 No Content\r\n\r\n");
    assert_records_counted(&p);
    let before = p.held();
    assert!(p.rec_bytes >= 10 * std::mem::size_of::<HttpExchange>());
    assert!(p.take_finished(32).is_empty());
    p.shed();
    assert!(p.take_finished(32).is_empty(), "ten kept, all final now");
    let taken = p.take_finished(1);
    assert_eq!(taken.len(), 10);
    assert!(taken[0].complete);
    assert!(taken[1..].iter().all(|r| !r.complete && r.status.is_none()));
    assert_eq!(p.rec_bytes, 0);
    assert!(p.held() < before - 10 * std::mem::size_of::<HttpExchange>() + 16 * 10);
    p.on_data(11, S2C, b"HTTP/1.1 204 No Content\r\n\r\n");
    assert_eq!(p.stats.unmatched_responses, 1);
    p.on_data(12, C2S, GET_B);
    p.on_data(13, S2C, b"HTTP/1.1 204 No Content\r\n\r\n");
    assert_eq!(
        p.stats.unmatched_responses, 2,
        "the next ones still wait behind the given up"
    );
    assert_records_counted(&p);
}
