//! Unit tests of the HTTP/2 parser: frames split at every boundary, HPACK against RFC 7541
//! Appendix C, multiplexing, resets, limits, gaps, the h2c upgrade.
#![allow(clippy::unwrap_used)]

use super::*;
use crate::proto::http::{HttpConfig, HttpParser};
use Direction::{ClientToServer as C2S, ServerToClient as S2C};

fn hex(s: &str) -> Vec<u8> {
    let s: String = s.chars().filter(|c| !c.is_whitespace()).collect();
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

fn frame(typ: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let len = u32::try_from(payload.len()).unwrap().to_be_bytes();
    let mut v = vec![len[1], len[2], len[3], typ, flags];
    v.extend_from_slice(&stream.to_be_bytes());
    v.extend_from_slice(payload);
    v
}

// RFC 7541 Appendix C.3: requests without Huffman coding (one connection, shared table).
const C31: &str = "8286 8441 0f77 7777 2e65 7861 6d70 6c65 2e63 6f6d";
const C32: &str = "8286 84be 5808 6e6f 2d63 6163 6865";
const C33: &str = "8287 85bf 400a 6375 7374 6f6d 2d6b 6579 0c63 7573 746f 6d2d 7661 6c75 65";
// C.4: the same requests with Huffman coding.
const C41: &str = "8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff";
const C42: &str = "8286 84be 5886 a8eb 1064 9cbf";
const C43: &str = "8287 85bf 4088 25a8 49e9 5ba9 7d7f 8925 a849 e95b b8e8 b4bf";
// C.5: responses without Huffman coding, dynamic table of 256 octets.
const C51: &str =
    "4803 3330 3258 0770 7269 7661 7465 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133 \
                   2032 303a 3133 3a32 3120 474d 546e 1768 7474 7073 3a2f 2f77 7777 2e65 7861 6d70 \
                   6c65 2e63 6f6d";
const C52: &str = "4803 3330 37c1 c0bf";
const C53: &str =
    "88c1 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133 2032 303a 3133 3a32 3220 474d \
                   54c0 5a04 677a 6970 7738 666f 6f3d 4153 444a 4b48 514b 425a 584f 5157 454f 5049 \
                   5541 5851 5745 4f49 553b 206d 6178 2d61 6765 3d33 3630 303b 2076 6572 7369 6f6e \
                   3d31";
// C.6: the same responses with Huffman coding.
const C61: &str =
    "4882 6402 5885 aec3 771a 4b61 96d0 7abe 9410 54d4 44a8 2005 9504 0b81 66e0 82a6 \
                   2d1b ff6e 919d 29ad 1718 63c7 8f0b 97c8 e9ae 82ae 43d3";
const C62: &str = "4883 640e ffc1 c0bf";
const C63: &str =
    "88c1 6196 d07a be94 1054 d444 a820 0595 040b 8166 e084 a62d 1bff c05a 839b d9ab \
                   77ad 94e7 821d d7f2 e6c7 b335 dfdf cd5b 3960 d5af 2708 7f36 72c1 ab27 0fb5 291f \
                   9587 3160 65c0 03ed 4ee5 b106 3d50 07";

/// A dynamic table size update to 256 (RFC 7541 §6.3): the Appendix C.5/C.6 encoder's size.
const SIZE_256: &str = "3fe1 01";

fn request_lists() -> Vec<Vec<(&'static str, &'static str)>> {
    let base = vec![
        (":method", "GET"),
        (":scheme", "http"),
        (":path", "/"),
        (":authority", "www.example.com"),
    ];
    let mut second = base.clone();
    second.push(("cache-control", "no-cache"));
    let third = vec![
        (":method", "GET"),
        (":scheme", "https"),
        (":path", "/index.html"),
        (":authority", "www.example.com"),
        ("custom-key", "custom-value"),
    ];
    vec![base, second, third]
}

fn response_lists() -> Vec<Vec<(&'static str, &'static str)>> {
    let loc = ("location", "https://www.example.com");
    vec![
        vec![
            (":status", "302"),
            ("cache-control", "private"),
            ("date", "Mon, 21 Oct 2013 20:13:21 GMT"),
            loc,
        ],
        vec![
            (":status", "307"),
            ("cache-control", "private"),
            ("date", "Mon, 21 Oct 2013 20:13:21 GMT"),
            loc,
        ],
        vec![
            (":status", "200"),
            ("cache-control", "private"),
            ("date", "Mon, 21 Oct 2013 20:13:22 GMT"),
            loc,
            ("content-encoding", "gzip"),
            (
                "set-cookie",
                "foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1",
            ),
        ],
    ]
}

fn decode_all(blocks: &[Vec<u8>]) -> Vec<Vec<(String, String)>> {
    let mut d = loona_hpack::Decoder::new();
    blocks
        .iter()
        .map(|b| {
            d.decode(b)
                .unwrap()
                .into_iter()
                .map(|(n, v)| (text(&n), text(&v)))
                .collect()
        })
        .collect()
}

fn decode_mine(blocks: &[Vec<u8>]) -> Vec<Vec<(String, String)>> {
    let mut d = hpack::Decoder::new(4096);
    blocks
        .iter()
        .map(|b| {
            let mut v = Vec::new();
            d.decode(b, |n, val| v.push((text(n), text(val)))).unwrap();
            v
        })
        .collect()
}

fn as_owned(l: &[Vec<(&str, &str)>]) -> Vec<Vec<(String, String)>> {
    l.iter()
        .map(|h| {
            h.iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect()
        })
        .collect()
}

#[test]
fn hpack_rfc7541_appendix_c() {
    for blocks in [[C31, C32, C33], [C41, C42, C43]] {
        let b: Vec<Vec<u8>> = blocks.iter().map(|s| hex(s)).collect();
        assert_eq!(decode_mine(&b), as_owned(&request_lists()));
        assert_eq!(decode_all(&b), as_owned(&request_lists()), "oracle");
    }
    for blocks in [[C51, C52, C53], [C61, C62, C63]] {
        let mut b: Vec<Vec<u8>> = blocks.iter().map(|s| hex(s)).collect();
        b[0].splice(0..0, hex(SIZE_256));
        assert_eq!(decode_mine(&b), as_owned(&response_lists()));
        assert_eq!(decode_all(&b), as_owned(&response_lists()), "oracle");
    }
    // C.1: integers on a 5-bit prefix (10, 1337) and on 8 bits (42).
    assert_eq!(hpack::integer(&[10], 5), Ok((10, 1)));
    assert_eq!(hpack::integer(&[31, 154, 10], 5), Ok((1337, 3)));
    assert_eq!(hpack::integer(&[42], 8), Ok((42, 1)));
}

#[test]
fn hpack_errors_never_panic() {
    use hpack::HpackError as E;
    let err = |b: &[u8]| hpack::Decoder::new(4096).decode(b, |_, _| {}).unwrap_err();
    assert_eq!(err(&[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]), E::Integer);
    assert_eq!(err(&[0xff, 0x80]), E::Truncated);
    assert_eq!(
        err(&[0x41]),
        E::Truncated,
        "literal cut after its name index"
    );
    assert_eq!(
        err(&[0x41, 0x05, b'a']),
        E::Truncated,
        "value shorter than its length"
    );
    assert_eq!(err(&[0xbf, 0x7f]), E::Index, "index past the tables");
    assert_eq!(err(&[0x80]), E::Index, "index 0");
    assert_eq!(
        err(&[0x82, 0x3f, 0xe1, 0x01]),
        E::TableSize,
        "size update after a field"
    );
    assert_eq!(
        err(&[0x3f, 0xe2, 0x1f]),
        E::TableSize,
        "above the allowed 4096"
    );
    // Huffman: EOS inside (30 ones), padding of 8 bits, padding not all ones.
    assert_eq!(
        err(&[0x00, 0x01, b'x', 0x84, 0xff, 0xff, 0xff, 0xfc]),
        E::Huffman
    );
    assert_eq!(err(&[0x00, 0x01, b'x', 0x82, 0x1f, 0xff]), E::Huffman);
    assert_eq!(err(&[0x00, 0x01, b'x', 0x81, 0x00]), E::Huffman);
    // random blocks
    let mut seed: u32 = 99;
    for _ in 0..20_000 {
        let mut b = Vec::new();
        for _ in 0..(seed % 40) {
            seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12_345);
            b.push((seed >> 16) as u8);
        }
        let _ = hpack::Decoder::new(4096).decode(&b, |_, _| {});
    }
}

/// Every symbol's Huffman code (the table in hpack/tables.rs) against loona-hpack's decoder.
#[test]
fn huffman_table_agrees_with_loona() {
    let mut strings: Vec<Vec<u8>> = (0..=255u8).map(|c| vec![c, b'a', c]).collect();
    strings.push((0..=255u8).collect());
    strings.push(Vec::new());
    for s in strings {
        let h = hpack::huffman_encode(&s);
        let mut block = vec![0x00, 0x01, b'x'];
        let mut len = loona_hpack::encoder::encode_integer(h.len(), 7);
        len[0] |= 0x80;
        block.extend(len);
        block.extend(&h);
        let oracle = loona_hpack::Decoder::new().decode(&block).unwrap();
        assert_eq!(oracle[0].1, s, "loona decodes our encoding");
        let mut mine = Vec::new();
        hpack::Decoder::new(4096)
            .decode(&block, |_, v| mine = v.to_vec())
            .unwrap();
        assert_eq!(mine, s);
    }
}

/// Random header lists encoded by loona-hpack (literals with indexing, indexed names, indexed
/// fields; a 256-octet table so entries are evicted): both decoders give the same lists.
#[test]
fn random_blocks_agree_with_loona() {
    let names: [&[u8]; 6] = [
        b":path",
        b"x-a",
        b"x-long-header-name",
        b"cookie",
        b":method",
        b"y",
    ];
    let values: [&[u8]; 6] = [
        b"/",
        b"GET",
        b"v1",
        b"a-rather-long-value-0123456789",
        b"",
        b"z",
    ];
    let mut enc = loona_hpack::Encoder::new();
    enc.set_max_table_size(256);
    let mut oracle = loona_hpack::Decoder::new();
    let mut mine = hpack::Decoder::new(4096);
    let mut seed: u32 = 7;
    for block_no in 0..500 {
        let mut headers = Vec::new();
        for _ in 0..(1 + seed % 8) {
            seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12_345);
            let n = names[(seed >> 8) as usize % names.len()];
            let v = values[(seed >> 16) as usize % values.len()];
            headers.push((n, v));
        }
        let mut block = if block_no == 0 {
            hex(SIZE_256)
        } else {
            Vec::new()
        };
        block.extend(enc.encode(headers.iter().copied()));
        let want: Vec<(Vec<u8>, Vec<u8>)> = headers
            .iter()
            .map(|(n, v)| (n.to_vec(), v.to_vec()))
            .collect();
        assert_eq!(
            oracle.decode(&block).unwrap(),
            want,
            "oracle, block {block_no}"
        );
        let mut got = Vec::new();
        mine.decode(&block, |n, v| got.push((n.to_vec(), v.to_vec())))
            .unwrap();
        assert_eq!(got, want, "block {block_no}");
    }
}

/// The bytes of one conversation and what is expected of it.
struct Conv {
    client: Vec<u8>,
    server: Vec<u8>,
}

/// Three requests (C.3 blocks; stream 3's split into HEADERS + CONTINUATION, stream 5's padded
/// and with a priority, and with a body), three responses (C.5 blocks behind a size update to
/// 256; padded DATA; a 100 Continue before stream 5's final response), PING, WINDOW_UPDATE,
/// PRIORITY, SETTINGS and GOAWAY in between.
fn conversation(huffman: bool) -> Conv {
    let (r1, r2, r3) = if huffman {
        (hex(C41), hex(C42), hex(C43))
    } else {
        (hex(C31), hex(C32), hex(C33))
    };
    let (mut s1, s2, s3) = if huffman {
        (hex(C61), hex(C62), hex(C63))
    } else {
        (hex(C51), hex(C52), hex(C53))
    };
    s1.splice(0..0, hex(SIZE_256));
    let mut c = PREFACE.to_vec();
    c.extend(frame(SETTINGS, 0, 0, &[0, 1, 0, 0, 1, 0])); // header table 256
    c.extend(frame(WINDOW_UPDATE, 0, 0, &[0, 0, 0x10, 0]));
    c.extend(frame(HEADERS, END_STREAM | END_HEADERS, 1, &r1));
    c.extend(frame(HEADERS, END_STREAM, 3, &r2[..4]));
    c.extend(frame(CONTINUATION, END_HEADERS, 3, &r2[4..]));
    c.extend(frame(PRIORITY, 0, 3, &[0, 0, 0, 1, 16]));
    let mut p = vec![3u8, 0, 0, 0, 0, 200]; // pad length 3, priority (5 bytes)
    p.extend(&r3);
    p.extend([0, 0, 0]);
    c.extend(frame(HEADERS, END_HEADERS | PADDED | PRIORITY_FLAG, 5, &p));
    c.extend(frame(DATA, 0, 5, b"abc"));
    c.extend(frame(PING, 0, 0, &[0; 8]));
    c.extend(frame(DATA, END_STREAM | PADDED, 5, b"\x02de\0\0"));
    c.extend(frame(SETTINGS, ACK, 0, &[]));
    let mut s = frame(SETTINGS, 0, 0, &[0, 3, 0, 0, 0, 100]);
    s.extend(frame(SETTINGS, ACK, 0, &[]));
    s.extend(frame(HEADERS, END_HEADERS, 1, &s1));
    s.extend(frame(DATA, PADDED, 1, b"\x04hello\0\0\0\0"));
    s.extend(frame(HEADERS, END_HEADERS, 3, &s2));
    s.extend(frame(DATA, 0, 1, b" world"));
    s.extend(frame(DATA, END_STREAM, 3, b""));
    s.extend(frame(DATA, END_STREAM, 1, b"!"));
    s.extend(frame(
        HEADERS,
        END_HEADERS,
        5,
        &[0x08, 0x03, b'1', b'0', b'0'],
    )); // 100
    s.extend(frame(WINDOW_UPDATE, 0, 5, &[0, 0, 1, 0]));
    s.extend(frame(HEADERS, END_STREAM | END_HEADERS, 5, &s3));
    s.extend(frame(GOAWAY, 0, 0, &[0, 0, 0, 5, 0, 0, 0, 0]));
    Conv {
        client: c,
        server: s,
    }
}

/// Runs a parser on the client bytes then the server bytes, each cut into segments at `cuts`
/// (offsets), segment `i` of a direction captured at `ts(i, offset)`.
fn run_split(
    conv: &Conv,
    cuts_c: &[usize],
    cuts_s: &[usize],
    ts: impl Fn(bool, usize) -> i64,
) -> (Vec<HttpExchange>, Http2Stats) {
    run_split_with(Http2Config::default(), conv, cuts_c, cuts_s, ts)
}

fn run_split_with(
    cfg: Http2Config,
    conv: &Conv,
    cuts_c: &[usize],
    cuts_s: &[usize],
    ts: impl Fn(bool, usize) -> i64,
) -> (Vec<HttpExchange>, Http2Stats) {
    let mut p = Http2Parser::new(cfg);
    for (client, bytes, cuts) in [(true, &conv.client, cuts_c), (false, &conv.server, cuts_s)] {
        let mut at = 0;
        for &cut in cuts.iter().chain([bytes.len()].iter()) {
            if cut > at {
                let dir = if client { C2S } else { S2C };
                p.on_data(ts(client, at), dir, &bytes[at..cut]);
                at = cut;
            }
        }
    }
    p.on_close(1_000_000, C2S);
    p.on_close(1_000_000, S2C);
    p.finish()
}

/// Byte by byte, with each byte's offset as its capture time (server offsets + 10 000): every
/// timing point is the exact offset of its byte.
fn bytewise(conv: &Conv) -> Vec<HttpExchange> {
    let cuts_c: Vec<usize> = (1..conv.client.len()).collect();
    let cuts_s: Vec<usize> = (1..conv.server.len()).collect();
    let (recs, stats) = run_split(conv, &cuts_c, &cuts_s, |c, at| {
        at as i64 + if c { 0 } else { 10_000 }
    });
    assert_eq!(stats.hpack_errors + stats.protocol_errors, 0, "{stats:?}");
    recs
}

/// Where a frame starts in a byte string: offset of the `n`-th (0-based) frame of `typ` on
/// `stream`, and its end (offset of its last byte).
fn frame_at(bytes: &[u8], from: usize, typ: u8, stream: u32, n: usize) -> (usize, usize) {
    let mut i = from;
    let mut seen = 0;
    while i + 9 <= bytes.len() {
        let len = u32::from_be_bytes([0, bytes[i], bytes[i + 1], bytes[i + 2]]) as usize;
        let sid = u32::from_be_bytes([bytes[i + 5], bytes[i + 6], bytes[i + 7], bytes[i + 8]]);
        if bytes[i + 3] == typ && sid == stream {
            if seen == n {
                return (i, i + 9 + len - 1);
            }
            seen += 1;
        }
        i += 9 + len;
    }
    panic!("frame not found");
}

#[test]
fn records_fields_and_timing_points() {
    for huffman in [false, true] {
        let conv = conversation(huffman);
        let recs = bytewise(&conv);
        assert_eq!(recs.len(), 3);
        let (c, s) = (&conv.client, &conv.server);
        let srv = |o: usize| Some(o as i64 + 10_000);
        let p = PREFACE.len();
        // stream 1
        let r = &recs[0];
        assert_eq!((r.stream_id, r.request_index), (Some(1), 0));
        assert_eq!(r.version, HttpVersion::Http2);
        assert_eq!(
            (
                r.method.as_deref().unwrap_or(""),
                r.path.as_deref().unwrap_or("")
            ),
            ("GET", "/")
        );
        assert_eq!(r.host.as_deref(), Some("www.example.com"));
        assert_eq!(r.status, Some(302));
        let h = frame_at(c, p, HEADERS, 1, 0);
        assert_eq!(
            (r.request_start_ts, r.request_end_ts),
            (h.0 as i64, Some(h.1 as i64))
        );
        let rh = frame_at(s, 0, HEADERS, 1, 0);
        assert_eq!(r.response_start_ts, srv(rh.0));
        assert_eq!(r.response_end_ts, srv(frame_at(s, 0, DATA, 1, 2).1));
        assert_eq!(
            r.response_body_bytes,
            Some(12),
            "hello + ' world' + '!', padding excluded"
        );
        let enc = |x: &str| hex(x).len() as u64;
        let (c1, c2, c3, s1) = if huffman {
            (enc(C41), enc(C42), enc(C43), enc(C61))
        } else {
            (enc(C31), enc(C32), enc(C33), enc(C51))
        };
        assert_eq!(r.request_header_bytes, c1);
        assert_eq!(
            r.response_header_bytes,
            Some(s1 + 3),
            "with the size update"
        );
        assert_eq!(r.request_body_bytes, 0);
        assert!(r.complete);
        // stream 3: HEADERS + CONTINUATION
        let r = &recs[1];
        assert_eq!(
            (r.stream_id, r.request_index, r.status),
            (Some(3), 1, Some(307))
        );
        assert_eq!(r.request_header_bytes, c2);
        assert_eq!(r.request_start_ts, frame_at(c, p, HEADERS, 3, 0).0 as i64);
        assert_eq!(
            r.request_end_ts,
            Some(frame_at(c, p, CONTINUATION, 3, 0).1 as i64)
        );
        assert_eq!(r.response_end_ts, srv(frame_at(s, 0, DATA, 3, 0).1));
        assert_eq!(r.response_body_bytes, Some(0));
        assert!(r.complete);
        // stream 5: padded + priority HEADERS, a body, a 100 before the final response
        let r = &recs[2];
        assert_eq!(
            (r.stream_id, r.request_index, r.status),
            (Some(5), 2, Some(200))
        );
        assert_eq!(
            (
                r.method.as_deref().unwrap_or(""),
                r.path.as_deref().unwrap_or("")
            ),
            ("GET", "/index.html")
        );
        assert_eq!(r.request_header_bytes, c3);
        assert_eq!(r.request_body_bytes, 5, "abc + de");
        assert_eq!(r.request_end_ts, Some(frame_at(c, p, DATA, 5, 1).1 as i64));
        assert_eq!(
            r.response_start_ts,
            srv(frame_at(s, 0, HEADERS, 5, 1).0),
            "final, not 100"
        );
        assert_eq!(r.response_end_ts, srv(frame_at(s, 0, HEADERS, 5, 1).1));
        assert_eq!(r.response_body_bytes, Some(0));
        assert!(r.complete);
    }
}

#[test]
fn same_records_whatever_the_segment_boundaries() {
    let conv = conversation(true);
    let reference = bytewise(&conv);
    // The time of a byte at `offset` when the direction is cut once at `cut`: 1 before, 2 after.
    let remap = |t: Option<i64>, client: bool, cut: usize| -> Option<i64> {
        t.map(|t| {
            let off = if client { t } else { t - 10_000 };
            let seg = if (off as usize) < cut { 1 } else { 2 };
            seg + if client { 0 } else { 10 }
        })
    };
    for client in [true, false] {
        let len = if client {
            conv.client.len()
        } else {
            conv.server.len()
        };
        for cut in 0..=len {
            let (cc, cs) = if client {
                (vec![cut], vec![])
            } else {
                (vec![], vec![cut])
            };
            let (recs, stats) = run_split(&conv, &cc, &cs, |c, at| {
                let seg = if at < cut || (c != client) { 1 } else { 2 };
                seg + if c { 0 } else { 10 }
            });
            assert_eq!(stats.frames, 23, "cut {cut}");
            let expected: Vec<HttpExchange> = reference
                .iter()
                .map(|r| {
                    let mut e = r.clone();
                    let (rc, sc) = if client {
                        (cut, usize::MAX)
                    } else {
                        (usize::MAX, cut)
                    };
                    let req = |t| remap(t, true, rc);
                    let resp = |t| remap(t, false, sc);
                    e.request_start_ts = req(Some(e.request_start_ts)).unwrap();
                    e.request_end_ts = req(e.request_end_ts);
                    e.response_start_ts = resp(e.response_start_ts);
                    e.response_end_ts = resp(e.response_end_ts);
                    e
                })
                .collect();
            assert_eq!(recs, expected, "client {client} cut {cut}");
        }
    }
}

#[test]
fn probe_the_preface() {
    assert_eq!(Http2Parser::probe(b""), Probe::NeedMore);
    assert_eq!(Http2Parser::probe(b"PRI * HTTP/2"), Probe::NeedMore);
    assert_eq!(Http2Parser::probe(PREFACE), Probe::Yes);
    assert_eq!(
        Http2Parser::probe(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\0\0"),
        Probe::Yes
    );
    assert_eq!(Http2Parser::probe(b"POST / HTTP/1.1\r\n"), Probe::No);
    assert_eq!(Http2Parser::probe(b"\x16\x03\x01"), Probe::No);
}

fn get(stream: u32, flags: u8) -> Vec<u8> {
    // :method GET, :scheme http, :path /, :authority (literal "a")
    frame(
        HEADERS,
        flags,
        stream,
        &[0x82, 0x86, 0x84, 0x01, 0x01, b'a'],
    )
}

fn ok(stream: u32) -> Vec<u8> {
    frame(HEADERS, END_HEADERS, stream, &[0x88]) // :status 200
}

#[test]
fn multiplexed_streams_each_get_their_row() {
    let mut p = Http2Parser::new(Http2Config::default());
    let mut c = PREFACE.to_vec();
    c.extend(frame(SETTINGS, 0, 0, &[]));
    c.extend(get(1, END_STREAM | END_HEADERS));
    c.extend(get(3, END_STREAM | END_HEADERS));
    p.on_data(10, C2S, &c);
    p.on_data(20, S2C, &[ok(3), ok(1)].concat());
    p.on_data(30, S2C, &frame(DATA, 0, 1, &[0; 100]));
    p.on_data(40, S2C, &frame(DATA, END_STREAM, 3, &[0; 7]));
    p.on_data(50, S2C, &frame(DATA, END_STREAM, 1, &[0; 5]));
    let recs = p.into_records();
    assert_eq!(recs.len(), 2);
    assert_eq!(recs[0].host.as_deref(), Some("a"));
    let f = |r: &HttpExchange| {
        (
            r.stream_id,
            r.request_start_ts,
            r.response_start_ts,
            r.response_end_ts,
            r.response_body_bytes,
            r.complete,
        )
    };
    assert_eq!(
        f(&recs[0]),
        (Some(1), 10, Some(20), Some(50), Some(105), true)
    );
    assert_eq!(
        f(&recs[1]),
        (Some(3), 10, Some(20), Some(40), Some(7), true)
    );
}

#[test]
fn a_stream_without_method_and_path_has_none_not_empty_strings() {
    let mut p = Http2Parser::new(Http2Config::default());
    let mut c = PREFACE.to_vec();
    // Only :scheme http and :authority "a": no :method, no :path.
    c.extend(frame(
        HEADERS,
        END_STREAM | END_HEADERS,
        1,
        &[0x86, 0x01, 0x01, b'a'],
    ));
    p.on_data(1, C2S, &c);
    p.on_data(
        2,
        S2C,
        &frame(HEADERS, END_STREAM | END_HEADERS, 1, &[0x88]),
    );
    let recs = p.into_records();
    assert_eq!(recs.len(), 1);
    assert_eq!(
        (recs[0].method.as_deref(), recs[0].path.as_deref()),
        (None, None)
    );
    assert_eq!(recs[0].host.as_deref(), Some("a"));
    assert!(!recs[0].complete, "a request without :method is malformed");
}

#[test]
fn reset_streams_are_incomplete() {
    let mut p = Http2Parser::new(Http2Config::default());
    let mut c = PREFACE.to_vec();
    c.extend(get(1, END_STREAM | END_HEADERS));
    c.extend(get(3, END_STREAM | END_HEADERS));
    p.on_data(1, C2S, &c);
    p.on_data(2, S2C, &[ok(1), ok(3)].concat());
    p.on_data(3, C2S, &frame(RST_STREAM, 0, 3, &[0, 0, 0, 8]));
    p.on_data(4, S2C, &frame(DATA, END_STREAM, 3, b"late"));
    p.on_data(4, S2C, &frame(DATA, END_STREAM, 1, b"x"));
    let (recs, stats) = p.finish();
    assert!(recs[0].complete);
    assert!(!recs[1].complete);
    assert_eq!(
        recs[1].response_body_bytes,
        Some(0),
        "DATA after the reset is not counted"
    );
    assert_eq!((stats.resets, stats.unmatched_frames), (1, 1));
}

#[test]
fn gap_inside_data_keeps_framing_gap_elsewhere_loses_the_direction() {
    let mut p = Http2Parser::new(Http2Config::default());
    let mut c = PREFACE.to_vec();
    c.extend(get(1, END_STREAM | END_HEADERS));
    c.extend(get(3, END_STREAM | END_HEADERS));
    p.on_data(1, C2S, &c);
    let mut s = ok(1);
    s.extend(ok(3));
    let d = frame(DATA, END_STREAM, 1, &[7; 100]);
    s.extend(&d[..30]);
    p.on_data(2, S2C, &s);
    p.on_gap(3, S2C, 50); // inside stream 1's DATA payload
    p.on_data(4, S2C, &d[80..]);
    p.on_data(5, S2C, &frame(DATA, END_STREAM, 3, b"ok"));
    // a gap in the client's frame header: the client direction is lost
    p.on_data(6, C2S, &get(5, END_STREAM | END_HEADERS)[..4]);
    p.on_gap(7, C2S, 10);
    p.on_data(8, C2S, &get(7, END_STREAM | END_HEADERS));
    let (recs, stats) = p.finish();
    assert_eq!(recs.len(), 2, "nothing invented after the lost direction");
    assert_eq!(recs[0].response_body_bytes, Some(50), "seen bytes only");
    assert_eq!(recs[0].response_end_ts, Some(4));
    assert!(!recs[0].complete, "gap in its body");
    assert!(recs[1].complete);
    assert_eq!((stats.gaps, stats.directions_lost), (2, 1));
}

#[test]
fn gap_in_a_header_block_breaks_hpack_of_open_streams() {
    let mut p = Http2Parser::new(Http2Config::default());
    let mut c = PREFACE.to_vec();
    c.extend(get(1, END_STREAM | END_HEADERS));
    p.on_data(1, C2S, &c);
    let h = ok(1);
    p.on_data(2, S2C, &h[..9]);
    p.on_gap(3, S2C, 1);
    let (recs, stats) = p.finish();
    assert_eq!(recs.len(), 1);
    assert!(!recs[0].complete);
    assert_eq!(recs[0].status, None);
    assert_eq!(stats.directions_lost, 1);
}

#[test]
fn limits_are_counted() {
    // open streams
    let mut p = Http2Parser::new(Http2Config::default().with_max_open_streams(1));
    let mut c = PREFACE.to_vec();
    c.extend(get(1, END_STREAM | END_HEADERS));
    c.extend(get(3, END_STREAM | END_HEADERS));
    p.on_data(1, C2S, &c);
    p.on_data(2, S2C, &[ok(1), frame(DATA, END_STREAM, 1, b"")].concat());
    p.on_data(3, C2S, &get(5, END_STREAM | END_HEADERS));
    let (recs, stats) = p.finish();
    let ids: Vec<Option<u32>> = recs.iter().map(|r| r.stream_id).collect();
    assert_eq!(
        ids,
        [Some(1), Some(5)],
        "stream 3 was over the limit, 5 came after 1 closed"
    );
    assert_eq!(stats.streams_over_limit, 1);
    assert_eq!(recs[1].request_index, 1);

    // header block size: the block is skipped, HPACK of that direction is lost
    let mut p = Http2Parser::new(Http2Config::default().with_max_header_block_bytes(8));
    let mut c = PREFACE.to_vec();
    c.extend(get(1, END_STREAM | END_HEADERS));
    c.extend(frame(
        HEADERS,
        END_STREAM,
        3,
        &[0x82, 0x86, 0x84, 0x01, 0x01],
    ));
    c.extend(frame(
        CONTINUATION,
        END_HEADERS,
        3,
        &[b'a', 0x82, 0x82, 0x82],
    ));
    c.extend(get(5, END_STREAM | END_HEADERS));
    p.on_data(1, C2S, &c);
    let (recs, stats) = p.finish();
    assert_eq!(recs.len(), 1);
    assert!(!recs[0].complete);
    assert_eq!(stats.header_blocks_too_large, 1);
    assert_eq!(stats.undecoded_streams, 2);

    // a dynamic table larger than the peer allowed is an HPACK error
    let mut p = Http2Parser::new(Http2Config::default().with_max_table_bytes(1024));
    let mut c = PREFACE.to_vec();
    c.extend(frame(
        HEADERS,
        END_STREAM | END_HEADERS,
        1,
        &hex("3fe1 1f 82 86 84"),
    )); // 4096
    p.on_data(1, C2S, &c);
    let (recs, stats) = p.finish();
    assert!(recs.is_empty());
    assert_eq!(stats.hpack_errors, 1);
}

#[test]
fn bad_preface_and_truncation_and_protocol_errors() {
    let mut p = Http2Parser::new(Http2Config::default());
    p.on_data(1, C2S, b"PRI * HTTP/2.0\r\n\r\nXX");
    p.on_data(2, C2S, &get(1, END_STREAM | END_HEADERS));
    let (recs, stats) = p.finish();
    assert!(recs.is_empty());
    assert_eq!(stats.bad_preface, 1);

    let mut p = Http2Parser::new(Http2Config::default());
    let mut c = PREFACE.to_vec();
    c.extend(get(1, END_STREAM | END_HEADERS));
    c.extend(frame(CONTINUATION, END_HEADERS, 1, &[0x82])); // no block open
    p.on_data(1, C2S, &c);
    p.on_data(2, S2C, &ok(1)[..5]);
    p.on_close(3, S2C);
    let (recs, stats) = p.finish();
    assert_eq!((stats.protocol_errors, stats.truncated_frames), (1, 1));
    assert!(!recs[0].complete);
    // padding longer than the frame
    let mut p = Http2Parser::new(Http2Config::default());
    let mut c = PREFACE.to_vec();
    c.extend(frame(HEADERS, END_HEADERS | PADDED, 1, &[9, 0x82]));
    p.on_data(1, C2S, &c);
    assert_eq!(p.stats().protocol_errors, 1);
}

/// Feeds every prefix of arbitrary bytes after the preface: never panics.
#[test]
fn arbitrary_bytes_never_panic() {
    let conv = conversation(false);
    let mut seed: u32 = 12345;
    for round in 0..200 {
        let mut bytes = conv.server.clone();
        for _ in 0..(round % 7 + 1) {
            seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12_345);
            let i = (seed as usize >> 8) % bytes.len();
            bytes[i] = (seed >> 24) as u8;
        }
        let mut p = Http2Parser::new(Http2Config::default());
        p.on_data(1, C2S, &conv.client);
        for chunk in bytes.chunks(17) {
            p.on_data(2, S2C, chunk);
        }
        p.on_close(3, S2C);
        let _ = p.finish();
    }
}

/// HTTP/1.1 `Upgrade: h2c` answered by 101: the request is stream 1, the server's HTTP/2
/// bytes follow the 101 in the same segment.
#[test]
fn h2c_upgrade_through_the_http1_parser() {
    let req = b"GET /up HTTP/1.1\r\nHost: lab.test:8080\r\nConnection: Upgrade, HTTP2-Settings\r\n\
                Upgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n";
    let mut s =
        b"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n".to_vec();
    s.extend(frame(SETTINGS, 0, 0, &[]));
    s.extend(ok(1));
    s.extend(frame(DATA, END_STREAM, 1, b"body"));
    let mut c = PREFACE.to_vec();
    c.extend(frame(SETTINGS, 0, 0, &[]));
    c.extend(get(3, END_STREAM | END_HEADERS));
    let reference = {
        let mut p = HttpParser::new(HttpConfig::default());
        p.on_data(1, C2S, req);
        p.on_data(2, S2C, &s);
        p.on_data(3, C2S, &c);
        p.on_data(4, S2C, &[ok(3), frame(DATA, END_STREAM, 3, b"x")].concat());
        assert_eq!(p.http2_stats().map(|s| s.streams), Some(2));
        p.into_records()
    };
    assert_eq!(reference.len(), 2);
    let r = &reference[0];
    assert_eq!(
        (r.stream_id, r.request_index, r.version),
        (Some(1), 0, HttpVersion::Http2)
    );
    assert_eq!(
        (r.method.as_deref(), r.path.as_deref()),
        (Some("GET"), Some("/up"))
    );
    assert_eq!(r.host.as_deref(), Some("lab.test:8080"));
    assert_eq!((r.status, r.response_body_bytes), (Some(200), Some(4)));
    assert_eq!((r.response_start_ts, r.response_end_ts), (Some(2), Some(2)));
    assert_eq!(r.request_header_bytes, req.len() as u64, "the HTTP/1 head");
    assert!(r.upgraded && r.complete);
    let r = &reference[1];
    assert_eq!(
        (r.stream_id, r.request_index, r.status),
        (Some(3), 1, Some(200))
    );
    assert!(r.complete && !r.upgraded);
    // the 101 and the HTTP/2 bytes split anywhere
    for cut in 1..s.len() {
        let mut p = HttpParser::new(HttpConfig::default());
        p.on_data(1, C2S, req);
        p.on_data(2, S2C, &s[..cut]);
        p.on_data(2, S2C, &s[cut..]);
        p.on_data(3, C2S, &c);
        p.on_data(4, S2C, &[ok(3), frame(DATA, END_STREAM, 3, b"x")].concat());
        assert_eq!(p.into_records(), reference, "cut {cut}");
    }
    // a 101 to another protocol stays HTTP/1
    let mut p = HttpParser::new(HttpConfig::default());
    p.on_data(1, C2S, b"GET / HTTP/1.1\r\nUpgrade: websocket\r\n\r\n");
    p.on_data(2, S2C, b"HTTP/1.1 101 S\r\nUpgrade: websocket\r\n\r\n");
    assert!(p.http2_stats().is_none());
}

/// Found by the fuzz target `http2` (seed `data-before-response-headers-complete.bin`): server
/// DATA with END_STREAM before any response HEADERS made a `complete` row without a status or
/// response start.
#[test]
fn data_before_the_response_headers_is_not_a_complete_response() {
    for upgraded in [false, true] {
        let mut p = if upgraded {
            let req = HttpExchange {
                method: Some("GET".into()),
                ..HttpExchange::default()
            };
            Http2Parser::upgraded(Http2Config::default(), req, true)
        } else {
            Http2Parser::new(Http2Config::default())
        };
        let mut c = PREFACE.to_vec();
        if !upgraded {
            c.extend(get(1, END_STREAM | END_HEADERS));
        }
        p.on_data(1, C2S, &c);
        p.on_data(2, S2C, &frame(DATA, END_STREAM, 1, b"hello"));
        let (recs, stats) = p.finish();
        assert_eq!(recs.len(), 1);
        assert_eq!((recs[0].status, recs[0].response_start_ts), (None, None));
        assert_eq!(recs[0].response_body_bytes, Some(5));
        assert!(!recs[0].complete, "upgraded: {upgraded}");
        assert_eq!(stats.protocol_errors, 1);
    }
}

/// Found by the fuzz target `http2` (seed `response-headers-without-status-complete.bin`): a
/// final response HEADERS without `:status` (or with one that is not a number) made a
/// `complete` row whose status is null.
#[test]
fn response_headers_without_status_are_not_a_complete_response() {
    // :scheme http (no :status); then a literal :status "2x0".
    for block in [&[0x86u8][..], &[0x08, 0x03, b'2', b'x', b'0'][..]] {
        let mut p = Http2Parser::new(Http2Config::default());
        let mut c = PREFACE.to_vec();
        c.extend(get(1, END_STREAM | END_HEADERS));
        p.on_data(1, C2S, &c);
        p.on_data(2, S2C, &frame(HEADERS, END_STREAM | END_HEADERS, 1, block));
        let recs = p.into_records();
        assert_eq!(recs.len(), 1);
        assert_eq!(recs[0].status, None);
        assert_eq!(recs[0].response_start_ts, Some(2));
        assert!(!recs[0].complete, "{block:?}");
    }
}

/// Issue #14: one-byte indexed references to a large table entry. The decoded header bytes
/// read stay under the per-block and per-connection budgets (work linear in the capture), the
/// kept values are capped, and every stream still gets its row.
#[test]
fn hpack_references_to_a_large_entry_cost_is_bounded() {
    let cfg = Http2Config::default()
        .with_max_header_list_bytes(16 * 1024)
        .with_max_decoded_header_bytes(256 * 1024)
        .with_max_value_bytes(1024);
    let mut p = Http2Parser::new(cfg);
    let mut c = PREFACE.to_vec();
    // :method GET, :scheme http, :path (literal, incremental indexing) of 3000 bytes.
    let mut block = vec![0x82, 0x86, 0x44, 0x7f];
    let len = 3000 - 127;
    block.extend([(len & 0x7f) as u8 | 0x80, (len >> 7) as u8]);
    block.push(b'/');
    block.extend(std::iter::repeat_n(b'a', 2999));
    c.extend(frame(HEADERS, END_STREAM | END_HEADERS, 1, &block));
    p.on_data(1, C2S, &c);
    let mut refs = vec![0x82, 0x86];
    refs.extend(std::iter::repeat_n(0xbe, 1000)); // 1000 references to the 3 KB :path
    for k in 0..200u32 {
        p.on_data(
            2 + i64::from(k),
            C2S,
            &frame(HEADERS, END_STREAM | END_HEADERS, 3 + 2 * k, &refs),
        );
    }
    let (recs, stats) = p.finish();
    assert_eq!(recs.len(), 201, "every stream keeps its row");
    assert!(recs
        .iter()
        .all(|r| r.path.as_ref().is_none_or(|p| p.len() <= 1024)));
    assert_eq!(recs[0].path.as_ref().map(|p| p.len()), Some(1024));
    assert!(stats.values_truncated >= 1);
    // Without the budgets: 200 × 1000 × 3 KB = 600 MB read.
    assert!(stats.decoded_header_bytes <= 256 * 1024, "{stats:?}");
    assert_eq!(stats.header_budget_exhausted, 1);
    assert_eq!(stats.header_lists_truncated, 200);
    // Fields read before the budget ran out: the first blocks still have their path.
    assert_eq!(recs[1].path.as_ref().map(|p| p.len()), Some(1024));
    assert!(recs[200].path.is_none() && !recs[200].complete);
}

/// A request HEADERS block: :method GET, :scheme http, :path `path` (literal without
/// indexing), :authority "a".
fn get_path(stream: u32, flags: u8, path: &str) -> Vec<u8> {
    let mut b = vec![0x82, 0x86, 0x04, u8::try_from(path.len()).unwrap()];
    b.extend_from_slice(path.as_bytes());
    b.extend_from_slice(&[0x01, 0x01, b'a']);
    frame(HEADERS, flags, stream, &b)
}

/// A trailer block (`grpc-status: 0`, literal with a new name) ending the stream.
fn trailers(stream: u32) -> Vec<u8> {
    let mut b = vec![0x00, 11];
    b.extend_from_slice(b"grpc-status");
    b.extend_from_slice(&[1, b'0']);
    frame(HEADERS, END_STREAM | END_HEADERS, stream, &b)
}

/// A long HTTP/2 connection, as (capture time, direction, bytes) events: stream 1 is a
/// long-lived call whose response never ends (when `upgraded`, the HTTP/1 request before it
/// is that stream), then 3 × `batches` request streams from 3 on, interleaved: simple GETs,
/// uploads with request and response trailers and an interim 100, streams reset mid-response
/// by either side, a reset after both END_STREAMs (changes nothing), DATA and HEADERS after
/// the end (unmatched), a GOAWAY near the end and a last stream never answered.
fn long_connection(batches: u32, upgraded: bool) -> Vec<(i64, Direction, Vec<u8>)> {
    let mut ev: Vec<(i64, Direction, Vec<u8>)> = Vec::new();
    let mut t = 100;
    let mut c = PREFACE.to_vec();
    c.extend(frame(SETTINGS, 0, 0, &[]));
    if !upgraded {
        c.extend(get_path(1, END_HEADERS, "/stream"));
    }
    ev.push((t, C2S, c));
    ev.push((t + 1, S2C, [frame(SETTINGS, 0, 0, &[]), ok(1)].concat()));
    let interim = frame(HEADERS, END_HEADERS, 0, &[0x08, 3, b'1', b'0', b'0']);
    for i in 0..batches {
        t += 10;
        let (a, b, x) = (3 + 6 * i, 5 + 6 * i, 7 + 6 * i);
        // Three requests in one segment; b's body and trailers follow.
        let c = [
            get_path(a, END_STREAM | END_HEADERS, &format!("/a{i}")),
            get_path(b, END_HEADERS, &format!("/b{i}")),
            get_path(x, END_STREAM | END_HEADERS, &format!("/x{i}")),
        ]
        .concat();
        ev.push((t, C2S, c));
        ev.push((t + 1, C2S, frame(DATA, 0, b, &[1; 30])));
        // Responses interleaved, with the long call's DATA among them.
        let mut interim_b = interim.clone();
        interim_b[5..9].copy_from_slice(&b.to_be_bytes());
        ev.push((t + 2, S2C, [ok(x), interim_b, ok(a)].concat()));
        ev.push((t + 3, S2C, frame(DATA, 0, 1, &[0; 5])));
        ev.push((t + 4, C2S, trailers(b)));
        ev.push((t + 5, S2C, [ok(b), frame(DATA, 0, x, &[0; 9])].concat()));
        match i % 4 {
            // x reset by the client mid-response; the server's late DATA is unmatched.
            0 => {
                ev.push((t + 6, C2S, frame(RST_STREAM, 0, x, &[0, 0, 0, 8])));
                ev.push((t + 7, S2C, frame(DATA, END_STREAM, x, &[0; 3])));
            }
            // x reset by the server.
            1 => ev.push((t + 6, S2C, frame(RST_STREAM, 0, x, &[0, 0, 0, 2]))),
            // x ends, then a reset, DATA and trailers after its end change nothing.
            2 => {
                ev.push((t + 6, S2C, frame(DATA, END_STREAM, x, &[0; 4])));
                ev.push((t + 7, C2S, frame(RST_STREAM, 0, x, &[0, 0, 0, 0])));
                ev.push((t + 7, S2C, frame(DATA, END_STREAM, x, &[0; 4])));
                ev.push((t + 8, S2C, trailers(x)));
                ev.push((t + 8, C2S, trailers(x)));
            }
            // x's response ends with trailers.
            _ => ev.push((t + 6, S2C, trailers(x))),
        }
        ev.push((t + 8, S2C, frame(DATA, END_STREAM, a, &[0; 2])));
        ev.push((
            t + 9,
            S2C,
            [frame(DATA, 0, b, &[0; 7]), trailers(b)].concat(),
        ));
        // A late RST on a finished stream.
        if i % 3 == 0 {
            ev.push((t + 9, C2S, frame(RST_STREAM, 0, a, &[0, 0, 0, 8])));
        }
    }
    // GOAWAY, then one more request never answered.
    let last = 3 + 6 * batches;
    ev.push((t + 20, S2C, frame(GOAWAY, 0, 0, &[0, 0, 0, 0, 0, 0, 0, 0])));
    ev.push((
        t + 21,
        C2S,
        get_path(last, END_STREAM | END_HEADERS, "/last"),
    ));
    ev.push((t + 22, S2C, frame(DATA, 0, 1, &[0; 5])));
    ev
}

/// Ends both directions as a capture that stops mid-connection would.
fn end_connection<P: StreamSink>(p: &mut P, t: i64) {
    p.on_gap(t, S2C, 100);
    p.on_close(t + 1, C2S);
    p.on_close(t + 1, S2C);
}

fn sorted(mut v: Vec<HttpExchange>) -> Vec<HttpExchange> {
    v.sort_by_key(|r| r.request_index);
    v
}

#[test]
fn taking_finished_streams_changes_no_record() {
    let events = long_connection(100, false);
    let new = || Http2Parser::new(Http2Config::default());
    let (mut whole, mut taking) = (new(), new());
    let mut taken = Vec::new();
    let mut most = 0;
    for (n, (ts, dir, bytes)) in events.iter().enumerate() {
        whole.on_data(*ts, *dir, bytes);
        taking.on_data(*ts, *dir, bytes);
        if n % 3 == 0 {
            let batch = taking.take_finished(8);
            // In the order the streams started.
            assert!(batch
                .windows(2)
                .all(|w| w[0].request_index < w[1].request_index));
            assert!(batch.is_empty() || batch.len() >= 8);
            taken.extend(batch);
            // Stream 1 never ends: taking is not held up by it.
            most = most.max(taking.kept());
            assert!(taking.done.len() < 8 + 12, "{}", taking.done.len());
        }
    }
    assert!(most <= 30, "{most} streams kept at once");
    end_connection(&mut whole, 1 << 20);
    end_connection(&mut taking, 1 << 20);
    assert!(taken.len() > 280, "{}", taken.len());
    assert!(
        taken.iter().all(|r| r.request_index != 0),
        "stream 1 is open"
    );
    let rest = taking.into_records();
    let rest_ids: Vec<_> = rest.iter().map(|r| r.stream_id).collect();
    assert_eq!(rest_ids[0], Some(1));
    assert!(rest_ids.contains(&Some(603)));
    taken.extend(rest);
    let whole = whole.into_records();
    assert_eq!(whole.len(), 302);
    assert_eq!(format!("{:?}", sorted(taken)), format!("{whole:?}"));
    // The script exercises what it claims: resets, trailers, unfinished streams.
    let incomplete: Vec<_> = whole.iter().filter(|r| !r.complete).collect();
    assert_eq!(
        incomplete.len(),
        2 + 50,
        "stream 1, the last one, x reset in half the batches"
    );
    let b0 = whole
        .iter()
        .find(|r| r.path.as_deref() == Some("/b0"))
        .unwrap();
    assert!(b0.complete && b0.request_body_bytes == 30 && b0.response_body_bytes == Some(7));
    let x2 = whole
        .iter()
        .find(|r| r.path.as_deref() == Some("/x2"))
        .unwrap();
    assert!(x2.complete && x2.response_body_bytes == Some(13));
}

/// After `Upgrade: h2c`, the HTTP/1 parser hands on its HTTP/2 parser's finished streams; the
/// upgraded request (HTTP/1 record, then stream 1) keeps its index. Before it, a request
/// asking for h2c answered 200 does not stop HTTP/1 requests from being taken.
#[test]
fn taking_finished_streams_after_an_h2c_upgrade_changes_no_record() {
    let mut events: Vec<(i64, Direction, Vec<u8>)> = Vec::new();
    let up = "Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n";
    for i in 0..40 {
        let ask = if i == 0 { up } else { "" };
        let req = format!("GET /h1/{i} HTTP/1.1\r\nHost: h\r\n{ask}\r\n");
        events.push((i, C2S, req.into_bytes()));
        events.push((
            i,
            S2C,
            b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok".to_vec(),
        ));
    }
    events.push((
        50,
        C2S,
        format!("GET /up HTTP/1.1\r\nHost: h\r\n{up}\r\n").into_bytes(),
    ));
    events.push((
        51,
        S2C,
        b"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n".to_vec(),
    ));
    events.extend(long_connection(60, true));
    let new = || HttpParser::new(HttpConfig::default());
    let (mut whole, mut taking) = (new(), new());
    let mut taken = Vec::new();
    for (n, (ts, dir, bytes)) in events.iter().enumerate() {
        whole.on_data(*ts, *dir, bytes);
        taking.on_data(*ts, *dir, bytes);
        if n % 3 == 0 {
            taken.extend(taking.take_finished(8));
        }
    }
    assert_eq!(taking.http2_stats().map(|s| s.streams), Some(182));
    end_connection(&mut whole, 1 << 20);
    end_connection(&mut taking, 1 << 20);
    // HTTP/1 requests before the upgrade, then HTTP/2 streams.
    assert!(
        taken
            .iter()
            .filter(|r| r.version != HttpVersion::Http2)
            .count()
            >= 32
    );
    assert!(
        taken
            .iter()
            .filter(|r| r.version == HttpVersion::Http2)
            .count()
            >= 170
    );
    assert!(
        taken.iter().all(|r| r.request_index != 40),
        "the upgraded stream 1 is open"
    );
    taken.extend(taking.into_records());
    let whole = whole.into_records();
    assert_eq!(whole.len(), 40 + 182);
    let up = &whole[40];
    assert_eq!((up.stream_id, up.path.as_deref()), (Some(1), Some("/up")));
    assert_eq!(format!("{:?}", sorted(taken)), format!("{whole:?}"));
}

/// Header capture (for the HAR): every field of each request and final response block, pseudo-
/// headers included, in order (RFC 7541 C.3 / C.5 lists), nothing of the 100 nor of
/// pushes; the same for every cut of either direction.
#[test]
fn kept_headers_split_at_every_byte_boundary_are_the_same() {
    use crate::proto::headers::HeaderLimits;
    let cfg = Http2Config::default().with_headers(Some(HeaderLimits::default()));
    for huffman in [false, true] {
        let conv = conversation(huffman);
        let (want, stats) = run_split_with(cfg, &conv, &[], &[], |_, _| 1);
        assert_eq!(want.len(), 3);
        let owned = |l: &crate::proto::headers::HeaderList| -> Vec<(String, String)> {
            l.iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect()
        };
        for (k, r) in want.iter().enumerate() {
            let h = r.headers.as_deref().unwrap();
            assert_eq!(owned(&h.request), as_owned(&request_lists()[k..=k])[0]);
            assert_eq!(owned(&h.response), as_owned(&response_lists()[k..=k])[0]);
            assert_eq!(h.status_text, None);
        }
        assert_eq!(
            (stats.kept_headers_dropped, stats.kept_headers_truncated),
            (0, 0)
        );
        let (plain, _) = run_split(&conv, &[], &[], |_, _| 1);
        let mut stripped = want.clone();
        stripped.iter_mut().for_each(|r| r.headers = None);
        assert_eq!(stripped, plain, "everything else as without the capture");
        for client in [true, false] {
            let len = if client {
                conv.client.len()
            } else {
                conv.server.len()
            };
            for cut in 0..=len {
                let (cc, cs) = if client {
                    (vec![cut], vec![])
                } else {
                    (vec![], vec![cut])
                };
                let (got, _) = run_split_with(cfg, &conv, &cc, &cs, |_, _| 1);
                let heads = |v: &[HttpExchange]| -> Vec<_> {
                    v.iter().map(|r| r.headers.clone()).collect()
                };
                assert_eq!(heads(&got), heads(&want), "client {client} cut {cut}");
            }
        }
    }
}

/// Hostile header blocks: many fields, and indexed references to one large table entry (one
/// octet each on the wire). The kept fields stay within the bounds, what is dropped or cut is
/// counted, and no row keeps more than `max_message_bytes` of text per message.
#[test]
fn kept_headers_are_bounded_and_counted() {
    use crate::proto::headers::HeaderLimits;
    let lim = HeaderLimits::default()
        .with_max_fields(20)
        .with_max_value_bytes(100)
        .with_max_message_bytes(1000);
    let cfg = Http2Config::default().with_headers(Some(lim));
    let mut p = Http2Parser::new(cfg);
    let mut c = PREFACE.to_vec();
    c.extend(frame(SETTINGS, 0, 0, &[]));
    // :method GET, :path /, then a literal with incremental indexing of a 3000-byte value
    // (x-big), then 500 references to it (index 62).
    let mut block = vec![0x82, 0x84, 0x40, 5];
    block.extend_from_slice(b"x-big");
    block.extend([0x7f, 0xb9, 0x16]); // 3000 = 127 + 0x39 + 0x16 * 128 (HPACK integer, 7-bit prefix)
    block.extend(std::iter::repeat_n(b'v', 3000));
    block.extend(std::iter::repeat_n(0xbe, 500)); // indexed 62
    c.extend(frame(HEADERS, END_STREAM | END_HEADERS, 1, &block));
    p.on_data(1, C2S, &c);
    p.on_data(
        2,
        S2C,
        &frame(HEADERS, END_STREAM | END_HEADERS, 1, &[0x88]),
    );
    let (recs, stats) = p.finish();
    assert_eq!(stats.hpack_errors, 0, "{stats:?}");
    let h = recs[0].headers.as_deref().unwrap();
    // :method, :path, x-big (cut to 100), then references until 1000 bytes: 8 more.
    assert!(h.request.len() <= 20);
    let text: usize = h.request.iter().map(|(n, v)| n.len() + v.len()).sum();
    assert!(text <= 1000, "{text}");
    assert_eq!(h.request.len() as u32 + h.request.dropped, 503);
    assert!(h.request.iter().all(|(_, v)| v.len() <= 100));
    // The fields past `max_header_list_bytes` (256 KiB of 3 KB references) are not read: in
    // the list's `dropped`, counted by the parser as a truncated header list, not again here.
    assert_eq!(stats.header_lists_truncated, 1);
    assert!(stats.kept_headers_dropped > 0);
    assert!(stats.kept_headers_dropped < u64::from(h.request.dropped));
    assert_eq!(stats.kept_headers_truncated, h.request.len() as u64 - 2);
    assert!(h.request.heap_bytes() <= 1000 + 20 * 8);
    assert_eq!(h.response.iter().collect::<Vec<_>>(), [(":status", "200")]);
}

use crate::proto::websocket::tests::{client_frame as ws_masked, server_frame as ws_plain};

/// Two extended CONNECTs (RFC 8441) on one connection beside a GET: stream 1 a WebSocket
/// closed by the client with both END_STREAMs, stream 3 one reset without a close frame,
/// stream 5 a plain GET, stream 7 a CONNECT refused with 404; DATA padded and split at every
/// byte in one run.
fn extended_connect_conversation() -> (Vec<(i64, Direction, Vec<u8>)>, u64) {
    let mut enc = loona_hpack::Encoder::new();
    let mut senc = loona_hpack::Encoder::new();
    let connect = |enc: &mut loona_hpack::Encoder, path: &[u8]| {
        enc.encode([
            (&b":method"[..], &b"CONNECT"[..]),
            (b":protocol", b"websocket"),
            (b":scheme", b"https"),
            (b":path", path),
            (b":authority", b"ws.example"),
            (b"sec-websocket-version", b"13"),
            (b"sec-websocket-extensions", b"permessage-deflate"),
        ])
    };
    let mut ev: Vec<(i64, Direction, Vec<u8>)> = Vec::new();
    let mut c = PREFACE.to_vec();
    c.extend(frame(SETTINGS, 0, 0, &[]));
    c.extend(frame(HEADERS, END_HEADERS, 1, &connect(&mut enc, b"/chat")));
    ev.push((100, C2S, c));
    // SETTINGS_ENABLE_CONNECT_PROTOCOL = 1 (id 8), then 200 with permessage-deflate accepted.
    let mut s = frame(SETTINGS, 0, 0, &[0, 8, 0, 0, 0, 1]);
    let ok_deflate = senc.encode([
        (&b":status"[..], &b"200"[..]),
        (b"sec-websocket-extensions", b"permessage-deflate"),
    ]);
    s.extend(frame(HEADERS, END_HEADERS, 1, &ok_deflate));
    ev.push((200, S2C, s));
    // Two client messages in one padded DATA frame (3 bytes of padding), a ping.
    let mut m = vec![3u8];
    m.extend(ws_masked(1, b"hello"));
    m.extend(ws_masked(2, &[0xaa; 40]));
    m.extend([0, 0, 0]);
    ev.push((300, C2S, frame(DATA, PADDED, 1, &m)));
    ev.push((310, C2S, frame(DATA, 0, 1, &ws_masked(9, b"p1"))));
    // The second WebSocket and a GET, while the first is open.
    let mut c = frame(HEADERS, END_HEADERS, 3, &connect(&mut enc, b"/feed"));
    c.extend(frame(
        HEADERS,
        END_HEADERS | END_STREAM,
        5,
        &enc.encode([
            (&b":method"[..], &b"GET"[..]),
            (b":scheme", b"https"),
            (b":path", b"/index.html"),
            (b":authority", b"ws.example"),
        ]),
    ));
    ev.push((320, C2S, c));
    let mut s = ws_plain(1, b"hello");
    s.extend(ws_plain(10, b"p1"));
    let mut s = frame(DATA, 0, 1, &s);
    s.extend(frame(
        HEADERS,
        END_HEADERS,
        3,
        &senc.encode([(&b":status"[..], &b"200"[..])]),
    ));
    s.extend(frame(
        HEADERS,
        END_HEADERS,
        5,
        &senc.encode([(&b":status"[..], &b"200"[..])]),
    ));
    s.extend(frame(DATA, END_STREAM, 5, &[0; 1000]));
    s.extend(frame(DATA, 0, 3, &ws_plain(2, &[1; 100])));
    ev.push((400, S2C, s));
    ev.push((450, C2S, frame(DATA, 0, 3, &ws_masked(1, b"x"))));
    // Stream 3 reset by the client: no close frame.
    ev.push((500, C2S, frame(RST_STREAM, 0, 3, &[0, 0, 0, 8])));
    // A CONNECT refused.
    ev.push((
        510,
        C2S,
        frame(HEADERS, END_HEADERS, 7, &connect(&mut enc, b"/nope")),
    ));
    ev.push((
        520,
        S2C,
        frame(
            HEADERS,
            END_HEADERS | END_STREAM,
            7,
            &senc.encode([(&b":status"[..], &b"404"[..])]),
        ),
    ));
    // Stream 1: the client closes 1000 "bye", the server answers, both END_STREAM.
    let mut close = vec![0x03, 0xe8];
    close.extend_from_slice(b"bye");
    ev.push((600, C2S, frame(DATA, END_STREAM, 1, &ws_masked(8, &close))));
    ev.push((700, S2C, frame(DATA, END_STREAM, 1, &ws_plain(8, &close))));
    ev.push((900, C2S, frame(PING, 0, 0, &[0; 8])));
    (ev, 1000)
}

fn ws_rows(p: &mut Http2Parser) -> Vec<(u64, Option<i64>, crate::record::WebSocketSession)> {
    p.take_websockets()
        .into_iter()
        .map(|w| {
            let end = w.end_ts.unwrap_or(i64::MAX);
            (w.stream_id, w.end_ts, w.parser.finish(end).0)
        })
        .collect()
}

#[test]
fn websocket_over_extended_connect() {
    use crate::record::Side;
    let (ev, _) = extended_connect_conversation();
    let mut p = Http2Parser::new(Http2Config::default());
    for (t, d, b) in &ev {
        p.on_data(*t, *d, b);
    }
    let ws = ws_rows(&mut p);
    let (recs, stats) = p.finish();
    // The rows: the CONNECTs final at their heads, not counting tunnel bytes as bodies.
    let f = |r: &HttpExchange| {
        (
            r.stream_id,
            r.method.as_deref().unwrap_or_default().to_string(),
            r.path.as_deref().unwrap_or_default().to_string(),
            r.status,
            r.upgraded,
            r.response_end_ts,
            r.request_body_bytes,
            r.response_body_bytes,
            r.complete,
        )
    };
    let got: Vec<_> = recs.iter().map(f).collect();
    let c = |s: &str| s.to_string();
    assert_eq!(
        got,
        vec![
            (
                Some(1),
                c("CONNECT"),
                c("/chat"),
                Some(200),
                true,
                Some(200),
                0,
                Some(0),
                true
            ),
            (
                Some(3),
                c("CONNECT"),
                c("/feed"),
                Some(200),
                true,
                Some(400),
                0,
                Some(0),
                true
            ),
            (
                Some(5),
                c("GET"),
                c("/index.html"),
                Some(200),
                false,
                Some(400),
                0,
                Some(1000),
                true
            ),
            (
                Some(7),
                c("CONNECT"),
                c("/nope"),
                Some(404),
                false,
                Some(520),
                0,
                Some(0),
                false
            ),
        ]
    );
    assert_eq!((stats.unmatched_frames, stats.protocol_errors), (0, 0));
    // The WebSockets: stream 3 ended first (reset), then stream 1.
    assert_eq!(ws.len(), 2);
    let (id, end, s) = &ws[0];
    assert_eq!((*id, *end), (3, Some(500)));
    assert_eq!(
        (s.open_ts, s.deflate, s.close_initiator),
        (400, false, None)
    );
    assert_eq!(
        (s.from_server.messages, s.from_server.payload_bytes),
        (1, 100)
    );
    assert_eq!(
        (s.from_client.messages, s.from_client.payload_bytes),
        (1, 1)
    );
    assert_eq!(s.path.as_deref(), Some("/feed"));
    let (id, end, s) = &ws[1];
    assert_eq!((*id, *end), (1, Some(700)));
    assert_eq!((s.open_ts, s.deflate), (200, true));
    assert_eq!(s.host.as_deref(), Some("ws.example"));
    assert_eq!(
        (
            s.from_client.messages,
            s.from_client.payload_bytes,
            s.from_client.frames
        ),
        (2, 45, 4)
    );
    assert_eq!(
        (s.from_server.messages, s.from_server.payload_bytes),
        (1, 5)
    );
    assert_eq!((s.ping_rtts, s.ping_rtt_max_ns), (1, Some(90)));
    assert_eq!(
        (
            s.close_initiator,
            s.close_code,
            s.close_reason.as_deref(),
            s.close_ts
        ),
        (Some(Side::Client), Some(1000), Some("bye"), Some(600))
    );
    assert!(!s.damaged);
}

#[test]
fn websocket_over_http2_whatever_the_segment_boundaries() {
    let (ev, _) = extended_connect_conversation();
    let whole = {
        let mut p = Http2Parser::new(Http2Config::default());
        for (t, d, b) in &ev {
            p.on_data(*t, *d, b);
        }
        ws_rows(&mut p)
    };
    for cut in [1usize, 2, 3, 5, 7, 13] {
        let mut p = Http2Parser::new(Http2Config::default());
        for (t, d, b) in &ev {
            for piece in b.chunks(cut) {
                p.on_data(*t, *d, piece);
            }
        }
        assert_eq!(ws_rows(&mut p), whole, "pieces of {cut} bytes");
    }
}

#[test]
fn websocket_over_http2_gaps_and_open_streams() {
    let (ev, _) = extended_connect_conversation();
    // Cut the capture before stream 1's close: its WebSocket is still open at the end.
    let mut p = Http2Parser::new(Http2Config::default());
    for (t, d, b) in ev.iter().filter(|(t, _, _)| *t < 600) {
        p.on_data(*t, *d, b);
    }
    // A gap inside a tunnel's DATA payload: counted by the WebSocket, framing survives.
    let mut big = vec![0x82u8, 126, 0, 200];
    big.extend([5u8; 200]);
    let d = frame(DATA, 0, 1, &big);
    p.on_data(610, S2C, &d[..20]);
    p.on_gap(620, S2C, 100);
    p.on_data(630, S2C, &d[120..]);
    p.on_data(640, S2C, &frame(DATA, 0, 1, &ws_plain(1, b"after")));
    let ws = ws_rows(&mut p);
    assert_eq!(ws.len(), 2);
    assert_eq!((ws[0].0, ws[0].1), (3, Some(500)));
    let (id, end, s) = &ws[1];
    assert_eq!((*id, *end), (1, None), "open at the end");
    assert_eq!(s.close_initiator, None);
    assert!(s.damaged);
    assert_eq!(
        s.from_server.messages, 3,
        "hello, the gapped message, after"
    );
    assert_eq!(s.from_server.payload_bytes, 5 + 200 + 5);
    // A gap that loses the server's framing damages every open tunnel.
    let mut p = Http2Parser::new(Http2Config::default());
    for (t, d, b) in ev.iter().filter(|(t, _, _)| *t < 350) {
        p.on_data(*t, *d, b);
    }
    p.on_data(360, S2C, &[0, 0]);
    p.on_gap(370, S2C, 5);
    let ws = ws_rows(&mut p);
    assert_eq!(ws.len(), 1);
    assert!(ws[0].2.damaged);
}

#[test]
fn tunnels_count_toward_max_open_streams() {
    // max_open_streams counts tunnels: a second CONNECT past the limit gets no row.
    let (ev, _) = extended_connect_conversation();
    let mut p = Http2Parser::new(Http2Config::default().with_max_open_streams(1));
    for (t, d, b) in &ev {
        p.on_data(*t, *d, b);
    }
    let ws = ws_rows(&mut p);
    let (recs, stats) = p.finish();
    assert_eq!(ws.len(), 1);
    assert_eq!(ws[0].0, 1);
    assert!(recs.iter().all(|r| r.stream_id != Some(3)));
    assert!(stats.streams_over_limit >= 1);
}

/// A connection whose client opens `n` WebSockets (extended CONNECTs to `path`, each answered
/// 200); the first `reset` of them are then reset (ended), the others stay open.
fn websockets(n: u32, reset: u32, path: &[u8]) -> Http2Parser {
    let mut enc = loona_hpack::Encoder::new();
    let mut p = Http2Parser::new(Http2Config::default());
    p.on_data(
        1,
        C2S,
        &[PREFACE.to_vec(), frame(SETTINGS, 0, 0, &[])].concat(),
    );
    for i in 0..n {
        let id = 1 + 2 * i;
        let block = enc.encode([
            (&b":method"[..], &b"CONNECT"[..]),
            (b":protocol", b"websocket"),
            (b":scheme", b"https"),
            (b":path", path),
            (b":authority", b"a"),
        ]);
        let t = i64::from(i) * 10;
        p.on_data(t + 2, C2S, &frame(HEADERS, END_HEADERS, id, &block));
        p.on_data(t + 3, S2C, &ok(id));
        if i < reset {
            p.on_data(t + 4, C2S, &frame(RST_STREAM, 0, id, &[0, 0, 0, 8]));
        }
    }
    p
}

#[test]
fn websockets_kept_by_a_connection_are_bounded() {
    // MAX_STREAM_WEBSOCKETS + 2 extended CONNECTs, each answered 200 and reset: the rows past
    // the bound are counted, not kept.
    let n = MAX_STREAM_WEBSOCKETS as u32 + 2;
    let mut p = websockets(n, n, b"/w");
    assert_eq!(p.take_websockets().len(), MAX_STREAM_WEBSOCKETS);
    assert_eq!(p.stats().websockets_dropped, 2);
    assert_eq!(
        p.into_records().len(),
        n as usize,
        "every CONNECT keeps its http row"
    );
}

/// Open streams count in what the parser holds (each its record and bookkeeping); shed at the
/// tracker's total, they are closed as incomplete (final: a take takes them all); their later
/// frames are not matched.
#[test]
fn shedding_gives_up_the_open_streams() {
    let mut p = Http2Parser::new(Http2Config::default());
    let mut c = PREFACE.to_vec();
    for s in 0..10 {
        c.extend(get(2 * s + 1, END_STREAM | END_HEADERS));
    }
    p.on_data(1, C2S, &c);
    p.on_data(
        2,
        S2C,
        &frame(HEADERS, END_STREAM | END_HEADERS, 1, &[0x88]),
    );
    let counted = |p: &Http2Parser| {
        p.open
            .values()
            .chain(&p.done)
            .map(|s| {
                assert_eq!(s.cost, s.r.held_bytes() + STREAM_BOOKKEEPING);
                s.cost
            })
            .sum::<usize>()
    };
    assert_eq!(p.stream_bytes, counted(&p));
    assert!(p.held() >= 10 * std::mem::size_of::<HttpExchange>());
    assert!(p.take_finished(32).is_empty());
    p.shed();
    let taken = p.take_finished(1);
    assert_eq!(taken.len(), 10);
    assert!(taken[0].complete);
    assert!(taken[1..].iter().all(|r| !r.complete));
    assert_eq!((p.stream_bytes, p.open.len()), (0, 0));
    p.on_data(3, S2C, &ok(3));
    assert_eq!(p.stats.unmatched_frames, 1);
    // New streams still get rows.
    p.on_data(4, C2S, &get(21, END_STREAM | END_HEADERS));
    p.on_data(
        5,
        S2C,
        &frame(HEADERS, END_STREAM | END_HEADERS, 21, &[0x88]),
    );
    let (recs, _) = p.finish();
    assert_eq!(recs.len(), 1);
    assert!(recs[0].complete);
}

/// Each direction's HPACK table lives as long as the connection and counts in what the parser
/// holds: 1 000 one-byte names take about 97 KB (three times their HPACK size), so many
/// connections filling theirs grew memory 23 times faster than the capture. Shed at the
/// tracker's total, the table is given up: the direction's later blocks are not decoded
/// (counted in `undecoded_streams`, as after a block too large).
#[test]
fn hpack_tables_count_and_are_given_up_when_shed() {
    let mut p = Http2Parser::new(Http2Config::default());
    // The server allows a 64 KiB table; the client sets it and inserts 1 000 entries.
    p.on_data(1, S2C, &frame(SETTINGS, 0, 0, &[0, 1, 0, 1, 0, 0]));
    let mut block = vec![0x3f, 0xe1, 0xff, 0x03, 0x82, 0x86, 0x84];
    for _ in 0..1000 {
        block.extend([0x40, 0x01, b'a', 0x00]);
    }
    let mut c = PREFACE.to_vec();
    c.extend(frame(HEADERS, END_STREAM | END_HEADERS, 1, &block));
    p.on_data(2, C2S, &c);
    p.on_data(3, S2C, &ok(1));
    let table = p.c2s.hpack.held();
    assert!(table >= 1000 * 97, "{table}");
    assert!(p.held() >= table);
    p.shed();
    assert!(p.held() < 1000, "{}", p.held());
    p.on_data(4, C2S, &get(3, END_STREAM | END_HEADERS));
    p.on_data(5, S2C, &ok(3));
    let (recs, stats) = p.finish();
    assert_eq!(recs.len(), 1);
    assert_eq!(recs[0].method.as_deref(), Some("GET"));
    assert!(!recs[0].complete, "open when shed: given up");
    assert_eq!(
        stats.undecoded_streams, 1,
        "the client's later block is not decoded"
    );
}

/// The WebSockets that ended are kept until the connection ends (for their rows), up to
/// `MAX_STREAM_WEBSOCKETS`, and the open ones up to `max_open_streams`: they count in what the
/// parser holds, and a shed at the tracker's total gives them up, counted as past the bound.
#[test]
fn ended_websockets_count_and_are_given_up_when_shed() {
    let mut p = websockets(25, 20, &[b'w'; 4000]);
    let kept: usize = p.ws_done.iter().map(|w| w.parser.held_bytes()).sum();
    assert_eq!((p.ws_done.len(), p.ws_bytes), (20, kept));
    assert!(kept > 20 * 4000, "{kept}");
    let open: usize = p.tunnels.values().map(|t| t.cost).sum();
    assert_eq!((p.tunnels.len(), p.tunnel_bytes), (5, open));
    assert!(open > 5 * 4000, "{open}");
    assert!(p.held() >= kept + open);
    p.shed();
    assert_eq!((p.ws_bytes, p.tunnel_bytes, p.tunnels.len()), (0, 0, 0));
    assert_eq!(p.take_finished(1).len(), 25, "the CONNECT rows are final");
    assert!(p.held() < 20 * 4000, "{}", p.held());
    assert!(p.take_websockets().is_empty());
    assert_eq!(p.stats().websockets_dropped, 25);
}
