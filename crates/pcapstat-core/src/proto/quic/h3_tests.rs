//! QPACK against the examples of RFC 9204 Appendix B, and HTTP/3 request streams built by
//! hand: reassembly out of order with overlaps, FIN, reset, blocked field sections.

use super::h3::H3Conn;
use super::qpack::{QpackError, Table};
use super::QuicStats;
use crate::proto::http2::hpack::huffman_encode;
use crate::record::HttpVersion;

fn unhex(s: &str) -> Vec<u8> {
    let s: String = s.chars().filter(|c| !c.is_whitespace()).collect();
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
        .collect()
}

fn fields(t: &Table, block: &[u8]) -> Result<Vec<(String, String)>, QpackError> {
    let mut out = Vec::new();
    t.decode(block, |n, v| {
        out.push((
            String::from_utf8_lossy(n).into_owned(),
            String::from_utf8_lossy(v).into_owned(),
        ))
    })?;
    Ok(out)
}

fn pairs(p: &[(&str, &str)]) -> Vec<(String, String)> {
    p.iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}

#[test]
fn rfc9204_appendix_b_examples() {
    let mut t = Table::default();
    t.set_max_capacity(220);
    // B.1: a literal with a static name reference, no dynamic table.
    let b1 = unhex("0000 510b 2f69 6e64 6578 2e68 746d 6c");
    assert_eq!(fields(&t, &b1), Ok(pairs(&[(":path", "/index.html")])));
    // B.2: capacity 220, two inserts; a section with post-base indices. Blocked before the
    // encoder stream's bytes, decoded after.
    let b2 = unhex("0381 10 11");
    assert_eq!(fields(&t, &b2), Err(QpackError::Blocked));
    let enc = unhex(
        "3fbd01 c00f 7777 772e 6578 616d 706c 652e 636f 6d c10c 2f73 616d 706c 652f 7061 7468",
    );
    // Split inside an instruction: the rest waits for the next bytes.
    assert_eq!(t.on_encoder_stream(&enc[..7]), Ok(0));
    assert_eq!(t.on_encoder_stream(&enc[7..]), Ok(2));
    assert_eq!(
        fields(&t, &b2),
        Ok(pairs(&[
            (":authority", "www.example.com"),
            (":path", "/sample/path")
        ]))
    );
    // B.3: an insert with a literal name.
    let enc = unhex("4a63 7573 746f 6d2d 6b65 790c 6375 7374 6f6d 2d76 616c 7565");
    assert_eq!(t.on_encoder_stream(&enc), Ok(1));
    // B.4: Duplicate, then a section with relative dynamic and static indices.
    assert_eq!(t.on_encoder_stream(&unhex("02")), Ok(1));
    let b4 = unhex("0500 80 c1 81");
    assert_eq!(
        fields(&t, &b4),
        Ok(pairs(&[
            (":authority", "www.example.com"),
            (":path", "/"),
            ("custom-key", "custom-value")
        ]))
    );
    // B.5: an insert with a dynamic name reference evicts the oldest entry (capacity 220).
    let enc = unhex("810d 6375 7374 6f6d 2d76 616c 7565 32");
    assert_eq!(t.on_encoder_stream(&enc), Ok(1));
    assert_eq!(t.inserts(), 5);
    // Entry 0 is gone: a section naming it (RIC 1, base 1, relative 0) fails.
    assert_eq!(fields(&t, &unhex("0200 80")), Err(QpackError::Index));
    // Entry 4 (relative 0 from base 5): RIC 5 encodes as 5 % 12 + 1 = 6.
    assert_eq!(
        fields(&t, &unhex("0600 80")),
        Ok(pairs(&[("custom-key", "custom-value2")]))
    );
}

#[test]
fn huffman_literals_and_errors() {
    let t = Table::default();
    // A literal with a literal name, both Huffman-coded (H bits 0x08 and 0x80).
    let name = huffman_encode(b"x-trace");
    let value = huffman_encode(b"abc/def");
    let mut b = vec![0, 0, 0x28 | u8::try_from(name.len()).unwrap_or(0)];
    b.extend_from_slice(&name);
    b.push(0x80 | u8::try_from(value.len()).unwrap_or(0));
    b.extend_from_slice(&value);
    assert_eq!(fields(&t, &b), Ok(pairs(&[("x-trace", "abc/def")])));
    // Static index past the table; a dynamic index with no table; an insert larger than
    // the capacity stops the table.
    assert_eq!(fields(&t, &[0, 0, 0xff, 0x40]), Err(QpackError::Index));
    assert_eq!(fields(&t, &[0, 0, 0x80]), Err(QpackError::Index));
    let mut t = Table::default();
    assert_eq!(
        t.on_encoder_stream(&unhex("4a63 7573 746f 6d2d 6b65 7900")),
        Err(QpackError::TableTooLarge)
    );
    assert_eq!(t.on_encoder_stream(&unhex("3fbd01")), Ok(0));
    // A capacity above MAX_QPACK_CAPACITY.
    let mut t = Table::default();
    assert_eq!(
        t.on_encoder_stream(&unhex("3fe1ff07")),
        Err(QpackError::TableTooLarge)
    );
    // Every prefix of a section decodes or fails, never panics.
    let t = Table::default();
    let full = unhex("0000 d1 510b 2f69 6e64 6578 2e68 746d 6c");
    for n in 0..full.len() {
        let _ = fields(&t, &full[..n]);
    }
}

fn varint(v: u64) -> Vec<u8> {
    match v {
        0..=63 => vec![v as u8],
        64..=16383 => ((v as u16) | 0x4000).to_be_bytes().to_vec(),
        _ => ((v as u32) | 0x8000_0000).to_be_bytes().to_vec(),
    }
}

fn frame(ty: u64, payload: &[u8]) -> Vec<u8> {
    let mut f = varint(ty);
    f.extend(varint(payload.len() as u64));
    f.extend_from_slice(payload);
    f
}

/// GET https://a.test/x: :method GET (static 17), :scheme https (23), :authority literal
/// with static name 0, :path literal with static name 1.
fn request_headers() -> Vec<u8> {
    let mut b = vec![0, 0, 0xc0 | 17, 0xc0 | 23, 0x50, 6];
    b.extend_from_slice(b"a.test");
    b.extend_from_slice(&[0x51, 2]);
    b.extend_from_slice(b"/x");
    frame(1, &b)
}

struct Feed {
    h3: H3Conn,
    total: usize,
    retrans: u64,
    stats: QuicStats,
}

impl Feed {
    fn new() -> Feed {
        Feed {
            h3: H3Conn::default(),
            total: super::h3::MAX_H3_BUFFER_TOTAL,
            retrans: 0,
            stats: QuicStats::default(),
        }
    }
    fn stream(&mut self, ts: i64, dir: usize, id: u64, offset: u64, data: &[u8], fin: bool) {
        self.h3.on_stream(
            ts,
            dir,
            id,
            offset,
            data,
            fin,
            &mut self.total,
            &mut self.retrans,
            &mut self.stats,
        );
    }
}

#[test]
fn a_request_stream_out_of_order_with_overlaps_gives_one_row() {
    let mut f = Feed::new();
    let req = request_headers();
    f.stream(100, 0, 0, 0, &req, true);
    let mut resp = frame(1, &[0, 0, 0xc0 | 25]); // :status 200
    resp.extend(frame(0, b"hello"));
    resp.extend(frame(0, b"world!"));
    // The server's bytes: the tail first (with the FIN), then an overlapping middle, then the
    // head again twice (a retransmission).
    let n = resp.len();
    f.stream(300, 1, 0, 6, &resp[6..], true);
    f.stream(200, 1, 0, 2, &resp[2..9], false);
    assert!(f.h3.finished.is_empty(), "a hole at 0..2");
    f.stream(400, 1, 0, 0, &resp[..4], false);
    let rows = std::mem::take(&mut f.h3.finished);
    assert_eq!(rows.len(), 1);
    let r = &rows[0];
    assert_eq!(r.version, HttpVersion::Http3);
    assert_eq!(r.stream_id, Some(0));
    assert_eq!(r.method.as_deref(), Some("GET"));
    assert_eq!(r.path.as_deref(), Some("/x"));
    assert_eq!(r.host.as_deref(), Some("a.test"));
    assert_eq!(r.status, Some(200));
    assert_eq!(r.response_body_bytes, Some(11));
    assert_eq!(r.request_header_bytes, req.len() as u64 - 2);
    assert_eq!(r.response_header_bytes, Some(3));
    assert_eq!(
        (
            r.request_start_ts,
            r.request_end_ts,
            r.response_start_ts,
            r.response_end_ts
        ),
        (100, Some(100), Some(300), Some(400)),
        "response start: the first STREAM frame on the wire; end: the datagram that filled the hole"
    );
    assert!(r.complete);
    // Overlaps: 3 bytes of the middle piece (6..9), 2 of the head (2..4).
    assert_eq!(f.retrans, 5);
    assert!(n > 9);
    // A late copy of the finished stream opens nothing.
    f.stream(500, 1, 0, 0, &resp[..4], false);
    assert!(f.h3.finished.is_empty());
    assert_eq!(
        f.total,
        super::h3::MAX_H3_BUFFER_TOTAL,
        "all buffers given back"
    );
}

#[test]
fn a_blocked_response_waits_for_the_encoder_stream_and_a_reset_ends_the_stream() {
    let mut f = Feed::new();
    // The client's control stream (2) announces a QPACK table capacity of 4096 for the
    // server's encoder: SETTINGS (type 4) with id 1.
    let mut ctl = vec![0x00];
    ctl.extend(frame(4, &[0x01, 0x50, 0x00]));
    f.stream(10, 0, 2, 0, &ctl, false);
    f.stream(100, 0, 0, 0, &request_headers(), true);
    // The response names dynamic entry 0 (RIC 1 → encoded 2, base 1, relative 0) before the
    // server's encoder stream (3) inserted it.
    let mut resp = frame(1, &[0x02, 0x00, 0x80]);
    resp.extend(frame(0, b"ok"));
    f.stream(200, 1, 0, 0, &resp, true);
    assert!(f.h3.finished.is_empty(), "blocked: the row waits");
    // Encoder stream (type 2): capacity 220, insert :status=204 (static name 24 ":status").
    let mut enc = vec![0x02];
    enc.extend(unhex("3fbd01"));
    enc.extend_from_slice(&[0xc0 | 24, 3]);
    enc.extend_from_slice(b"204");
    f.stream(210, 1, 3, 0, &enc, false);
    let rows = std::mem::take(&mut f.h3.finished);
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].status, Some(204));
    assert_eq!(rows[0].response_body_bytes, Some(2));
    assert!(rows[0].complete);
    // Stream 4: the client's request, then the server resets its side.
    f.stream(300, 0, 4, 0, &request_headers(), true);
    f.h3.on_reset(0, 1, 4, &mut f.total);
    let rows = std::mem::take(&mut f.h3.finished);
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].request_index, 1);
    assert_eq!(rows[0].status, None);
    assert!(!rows[0].complete);
    // Stream 8 never gets an answer: at the connection's end it comes out incomplete; a
    // section still blocked is counted.
    f.stream(400, 0, 8, 0, &request_headers(), true);
    f.stream(410, 1, 8, 0, &frame(1, &[0x03, 0x00, 0x80]), false);
    f.h3.end(&mut f.total, &mut f.stats);
    let rows = std::mem::take(&mut f.h3.finished);
    assert_eq!(rows.len(), 1);
    assert!(!rows[0].complete);
    assert_eq!(f.stats.h3_qpack_blocked, 1);
    assert_eq!(
        f.total,
        super::h3::MAX_H3_BUFFER_TOTAL,
        "all buffers given back"
    );
}

/// A QPACK table's memory (a tiny entry takes about three times its QPACK size, and the table
/// lives as long as its connection) is held in the HTTP/3 budgets as buffered bytes are: past
/// them the table stops (its later references fail) and the memory is given back.
#[test]
fn qpack_tables_are_held_in_the_budgets() {
    let run = |total: usize| {
        let mut f = Feed::new();
        f.total = total;
        // The client allows the server's encoder a 64 KiB table.
        let mut ctl = vec![0x00];
        ctl.extend(frame(4, &[0x01, 0x80, 0x01, 0x00, 0x00]));
        f.stream(10, 0, 2, 0, &ctl, false);
        // The server's encoder stream: capacity 64 KiB, then 1 000 entries of a one-byte name.
        let mut enc = vec![0x02, 0x3f, 0xe1, 0xff, 0x03];
        for _ in 0..1000 {
            enc.extend_from_slice(&[0x41, b'a', 0x00]);
        }
        f.stream(20, 1, 3, 0, &enc, false);
        let held = total - f.total;
        let limited = f.stats.h3_buffer_limit;
        f.h3.end(&mut f.total, &mut f.stats);
        assert_eq!(f.total, total, "all given back");
        (held, limited)
    };
    let (held, limited) = run(super::h3::MAX_H3_BUFFER_TOTAL);
    assert!(held >= 1000 * 97, "{held}");
    assert_eq!(limited, 0);
    let (held, limited) = run(50_000);
    assert!(held <= 50_000, "{held}");
    assert_eq!(limited, 1);
}

#[test]
fn limits_stop_reading_and_are_counted() {
    // Out-of-order bytes past the connection's budget.
    let mut f = Feed::new();
    f.stream(1, 0, 0, 0, &request_headers(), true);
    let big = vec![0u8; 600 * 1024];
    f.stream(2, 1, 0, 10, &big, false);
    f.stream(3, 1, 0, 10 + big.len() as u64, &big, false);
    assert_eq!(f.stats.h3_buffer_limit, 1);
    f.h3.end(&mut f.total, &mut f.stats);
    assert_eq!(f.total, super::h3::MAX_H3_BUFFER_TOTAL);
    // Too many streams.
    let mut f = Feed::new();
    for i in 0..=super::h3::MAX_H3_STREAMS as u64 {
        f.stream(1, 0, 4 * i, 0, &[1], false);
    }
    assert_eq!(f.stats.h3_stream_limit, 1);
    // A HEADERS frame over MAX_H3_FIELD_SECTION is skipped.
    let mut f = Feed::new();
    let mut head = varint(1);
    head.extend(varint(super::h3::MAX_H3_FIELD_SECTION as u64 + 1));
    f.stream(1, 0, 0, 0, &head, false);
    assert_eq!(f.stats.h3_field_section_too_large, 1);
}

#[test]
fn the_fuzz_seeds_give_their_rows() {
    let seed = |b: &[u8]| super::h3::fuzz(b);
    assert_eq!(
        seed(include_bytes!(
            "../../../../../fuzz/seeds/h3/request-out-of-order.bin"
        )),
        1
    );
    assert_eq!(
        seed(include_bytes!(
            "../../../../../fuzz/seeds/h3/blocked-then-encoder.bin"
        )),
        2
    );
    // RFC 9220: two CONNECT rows (one closed, one reset).
    assert_eq!(
        seed(include_bytes!(
            "../../../../../fuzz/seeds/h3/websocket-extended-connect.bin"
        )),
        2
    );
    // QPACK alone: B.2's two fields and B.1's one.
    assert_eq!(
        seed(include_bytes!(
            "../../../../../fuzz/seeds/h3/qpack-rfc9204-b2.bin"
        )),
        3
    );
}

#[test]
fn a_stream_finished_mid_frame_or_past_its_fin_gives_its_buffers_back() {
    let mut f = Feed::new();
    // The client starts a 100-byte HEADERS frame, sends 10 bytes of it, then resets; data
    // beyond the server's FIN waits out of order; the server's side ends.
    let mut head = varint(1);
    head.extend(varint(100));
    head.extend_from_slice(&[0; 10]);
    f.stream(1, 0, 0, 0, &head, false);
    f.h3.on_reset(0, 0, 0, &mut f.total);
    f.stream(2, 1, 0, 50, b"past the end", false);
    f.stream(3, 1, 0, 0, &frame(1, &[0, 0, 0xc0 | 25]), true);
    let rows = std::mem::take(&mut f.h3.finished);
    assert_eq!(rows.len(), 1);
    assert!(!rows[0].complete);
    assert_eq!(rows[0].status, Some(200));
    assert_eq!(
        f.total,
        super::h3::MAX_H3_BUFFER_TOTAL,
        "all buffers given back"
    );
}

/// CONNECT https://a.test/chat with `:protocol websocket` (RFC 9220): :method CONNECT (static
/// 15), :scheme https (23), :authority and :path with static names, `:protocol` a literal
/// name.
fn connect_websocket(path: &[u8]) -> Vec<u8> {
    let mut b = vec![0, 0, 0xc0 | 15, 0xc0 | 23, 0x50, 6];
    b.extend_from_slice(b"a.test");
    b.extend_from_slice(&[0x51, path.len() as u8]);
    b.extend_from_slice(path);
    b.extend_from_slice(&[0x27, 2]);
    b.extend_from_slice(b":protocol");
    b.push(9);
    b.extend_from_slice(b"websocket");
    frame(1, &b)
}

/// `:status 200` and `sec-websocket-extensions: permessage-deflate`.
fn ok_deflate() -> Vec<u8> {
    let mut b = vec![0, 0, 0xc0 | 25, 0x27, 17];
    b.extend_from_slice(b"sec-websocket-extensions");
    b.push(18);
    b.extend_from_slice(b"permessage-deflate");
    frame(1, &b)
}

/// A WebSocket frame: the client's masked, the server's not.
fn ws_frame(opcode: u8, masked: bool, payload: &[u8]) -> Vec<u8> {
    use crate::proto::websocket::tests::{client_frame, server_frame};
    if masked {
        client_frame(opcode, payload)
    } else {
        server_frame(opcode, payload)
    }
}

/// Stream 0: a WebSocket over HTTP/3 whose 200 and first server message share a STREAM frame;
/// two client messages in one DATA frame, a ping answered, the client's close 1000 "bye"
/// answered, FIN both ways. Stream 4: a WebSocket the client resets without a close frame.
/// Stream 8: a CONNECT refused with 403. Events: (ts, dir, stream, bytes, fin).
fn websocket_h3_events() -> Vec<(i64, usize, u64, Vec<u8>, bool)> {
    let mut ev = vec![(100, 0, 0u64, connect_websocket(b"/chat"), false)];
    let mut s = ok_deflate();
    s.extend(frame(0, &ws_frame(1, false, b"welcome")));
    ev.push((200, 1, 0, s, false));
    let mut two = ws_frame(1, true, b"hi");
    two.extend(ws_frame(2, true, &[7; 60]));
    ev.push((300, 0, 0, frame(0, &two), false));
    ev.push((310, 0, 0, frame(0, &ws_frame(9, true, b"p")), false));
    ev.push((320, 1, 0, frame(0, &ws_frame(10, false, b"p")), false));
    ev.push((330, 0, 4, connect_websocket(b"/feed"), false));
    ev.push((340, 1, 4, frame(1, &[0, 0, 0xc0 | 25]), false));
    ev.push((350, 0, 4, frame(0, &ws_frame(1, true, b"x")), false));
    ev.push((360, 0, 8, connect_websocket(b"/nope"), false));
    ev.push((
        370,
        1,
        8,
        frame(1, &[0, 0, 0x5f, 0x09, 3, b'4', b'0', b'3']),
        true,
    ));
    let mut close = vec![0x03, 0xe8];
    close.extend_from_slice(b"bye");
    ev.push((400, 0, 0, frame(0, &ws_frame(8, true, &close)), true));
    ev.push((500, 1, 0, frame(0, &ws_frame(8, false, &close)), true));
    ev
}

/// Feeds `ev` with each stream's bytes cut in pieces of `cut` (sent in order, each piece at
/// its offset; the FIN on the last), the client's reset of stream 4 at 450; then ends.
fn run_websocket_h3(ev: &[(i64, usize, u64, Vec<u8>, bool)], cut: usize) -> Feed {
    let mut f = Feed::new();
    let mut off = std::collections::HashMap::new();
    for (ts, dir, id, bytes, fin) in ev {
        if *ts == 400 {
            f.h3.on_reset(450, 0, 4, &mut f.total);
        }
        let pieces: Vec<&[u8]> = bytes.chunks(cut).collect();
        for (i, p) in pieces.iter().enumerate() {
            let o = off.entry((*id, *dir)).or_insert(0u64);
            let last = i + 1 == pieces.len();
            f.stream(*ts, *dir, *id, *o, p, *fin && last);
            *o += p.len() as u64;
        }
    }
    f
}

#[test]
fn websocket_over_http3_extended_connect() {
    let ev = websocket_h3_events();
    let mut f = run_websocket_h3(&ev, usize::MAX);
    // Stream 4 was reset by the client only: it ends with the connection.
    f.h3.end(&mut f.total, &mut f.stats);
    let mut rows = std::mem::take(&mut f.h3.finished);
    rows.sort_by_key(|r| r.stream_id);
    let got: Vec<_> = rows
        .iter()
        .map(|r| {
            (
                r.stream_id,
                r.method.as_deref().unwrap_or_default().to_string(),
                r.status,
                r.upgraded,
                r.request_end_ts,
                r.response_end_ts,
                r.request_body_bytes,
                r.response_body_bytes,
                r.complete,
            )
        })
        .collect();
    let c = String::from("CONNECT");
    assert_eq!(
        got,
        vec![
            (
                Some(0),
                c.clone(),
                Some(200),
                true,
                Some(100),
                Some(200),
                0,
                Some(0),
                true
            ),
            (
                Some(4),
                c.clone(),
                Some(200),
                true,
                Some(330),
                Some(340),
                0,
                Some(0),
                true
            ),
            (
                Some(8),
                c,
                Some(403),
                false,
                Some(360),
                Some(370),
                0,
                Some(0),
                false
            ),
        ]
    );
    let ws = std::mem::take(&mut f.h3.websockets);
    assert_eq!(ws.len(), 2);
    let (w0, w4) = (&ws[0], &ws[1]);
    assert_eq!((w0.stream_id, w0.end_ts), (0, Some(500)));
    assert_eq!(
        (w4.stream_id, w4.end_ts),
        (4, None),
        "open at the connection's end"
    );
    let mut out = Vec::new();
    for w in ws {
        out.push(w.parser.finish(w.end_ts.unwrap_or(600)).0);
    }
    let s = &out[0];
    assert_eq!((s.open_ts, s.deflate), (200, true));
    assert_eq!(
        (s.host.as_deref(), s.path.as_deref()),
        (Some("a.test"), Some("/chat"))
    );
    assert_eq!(
        (
            s.from_client.messages,
            s.from_client.payload_bytes,
            s.from_client.frames
        ),
        (2, 62, 4)
    );
    assert_eq!(
        (s.from_server.messages, s.from_server.payload_bytes),
        (1, 7)
    );
    assert_eq!((s.ping_rtts, s.ping_rtt_max_ns), (1, Some(10)));
    assert_eq!(
        (s.close_code, s.close_reason.as_deref(), s.close_ts),
        (Some(1000), Some("bye"), Some(400))
    );
    assert_eq!(s.close_initiator, Some(crate::record::Side::Client));
    let s = &out[1];
    assert_eq!((s.from_client.messages, s.close_initiator), (1, None));
    assert_eq!(
        f.total,
        super::h3::MAX_H3_BUFFER_TOTAL,
        "all buffers given back"
    );
}

#[test]
fn websocket_over_http3_whatever_the_stream_frame_boundaries() {
    let ev = websocket_h3_events();
    let rows = |cut: usize| {
        let mut f = run_websocket_h3(&ev, cut);
        f.h3.end(&mut f.total, &mut f.stats);
        let mut v: Vec<_> = std::mem::take(&mut f.h3.websockets)
            .into_iter()
            .map(|w| {
                (
                    w.stream_id,
                    w.end_ts,
                    w.parser.finish(w.end_ts.unwrap_or(600)).0,
                )
            })
            .collect();
        v.sort_by_key(|w| w.0);
        v
    };
    let whole = rows(usize::MAX);
    for cut in [1, 2, 3, 5, 8] {
        assert_eq!(rows(cut), whole, "pieces of {cut}");
    }
}
