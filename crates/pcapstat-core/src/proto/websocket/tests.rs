use super::*;
use crate::proto::http::{HttpConfig, HttpParser};
use Direction::{ClientToServer as C2S, ServerToClient as S2C};

/// A frame as a sender writes it (RFC 6455 §5.2), with the shortest length encoding unless
/// `long` forces the 64-bit one.
fn frame(
    fin: bool,
    rsv: u8,
    opcode: u8,
    mask: Option<[u8; 4]>,
    payload: &[u8],
    long: bool,
) -> Vec<u8> {
    let mut out = vec![(u8::from(fin) << 7) | (rsv << 4) | opcode];
    let m = if mask.is_some() { 0x80 } else { 0 };
    let n = payload.len();
    if long {
        out.push(m | 127);
        out.extend_from_slice(&(n as u64).to_be_bytes());
    } else if n < 126 {
        out.push(m | n as u8);
    } else if n <= 0xffff {
        out.push(m | 126);
        out.extend_from_slice(&(n as u16).to_be_bytes());
    } else {
        out.push(m | 127);
        out.extend_from_slice(&(n as u64).to_be_bytes());
    }
    if let Some(k) = mask {
        out.extend_from_slice(&k);
        out.extend(payload.iter().enumerate().map(|(i, b)| b ^ k[i % 4]));
    } else {
        out.extend_from_slice(payload);
    }
    out
}

/// A whole frame from the client (masked, mask `01 02 03 04`), as other protocols' tests carry
/// it (HTTP/2 and HTTP/3 extended CONNECT).
pub(crate) fn client_frame(opcode: u8, payload: &[u8]) -> Vec<u8> {
    frame(true, 0, opcode, Some([1, 2, 3, 4]), payload, false)
}

/// A whole frame from the server (unmasked).
pub(crate) fn server_frame(opcode: u8, payload: &[u8]) -> Vec<u8> {
    frame(true, 0, opcode, None, payload, false)
}

/// (opcode, fin, len, control payload) of every frame, and the payload bytes counted.
/// Frames (opcode, FIN, length, control payload), payload bytes, the end of the feeding.
type Cut = (Vec<(u8, bool, u64, Vec<u8>)>, u64, Result<(), FrameError>);

fn cut(chunks: &[&[u8]]) -> Cut {
    let mut r = FrameReader::default();
    let mut frames = Vec::new();
    let mut bytes = 0u64;
    let mut res = Ok(());
    for c in chunks {
        res = r.feed(c, &mut |p| match p {
            Piece::Payload(_, n) => bytes += n as u64,
            Piece::End(h, ctrl) => frames.push((h.opcode, h.fin, h.len, ctrl.to_vec())),
            Piece::Head(_) => {}
        });
        if res.is_err() {
            break;
        }
    }
    (frames, bytes, res)
}

fn sample_stream() -> Vec<u8> {
    let k = Some([0x12, 0x34, 0x56, 0x78]);
    let mut s = Vec::new();
    s.extend(frame(true, 0, 1, k, b"hello", false));
    s.extend(frame(false, 0, 1, k, b"frag", false));
    s.extend(frame(true, 0, 9, k, b"pingdata", false)); // control inside a fragmented message
    s.extend(frame(false, 0, 0, k, &[7u8; 300], false)); // 16-bit length
    s.extend(frame(true, 0, 0, None, b"end", true)); // 64-bit length for 3 bytes
    s.extend(frame(true, 4, 2, None, &[1u8; 70_000], false)); // 64-bit, RSV1
    s.extend(frame(true, 0, 10, None, b"", false));
    s.extend(frame(true, 0, 8, k, b"\x03\xe8bye", false));
    s
}

#[test]
fn split_at_every_byte_boundary_gives_the_same_frames() {
    let s = sample_stream();
    let (whole, bytes, res) = cut(&[&s]);
    res.unwrap();
    assert_eq!(
        whole.iter().map(|f| f.0).collect::<Vec<_>>(),
        [1, 1, 9, 0, 0, 2, 10, 8]
    );
    assert_eq!(whole[2].3, b"pingdata", "the control payload is unmasked");
    assert_eq!(whole[7].3, b"\x03\xe8bye");
    assert_eq!(whole[5].2, 70_000);
    assert_eq!(bytes, 5 + 4 + 8 + 300 + 3 + 70_000 + 5);
    for i in 0..=s.len() {
        let (a, b) = s.split_at(i);
        assert_eq!(cut(&[a, b]), (whole.clone(), bytes, Ok(())), "split at {i}");
    }
    // One byte per segment.
    let ones: Vec<&[u8]> = s.chunks(1).collect();
    assert_eq!(cut(&ones), (whole, bytes, Ok(())));
}

#[test]
fn hostile_frames_stop_the_direction() {
    let bad: &[(&[u8], FrameError)] = &[
        (&[0x83, 0x00], FrameError::ReservedOpcode(3)),
        (&[0x8b, 0x00], FrameError::ReservedOpcode(11)),
        (&[0x09, 0x00], FrameError::BadControl),
        (&[0x89, 0x7e, 0x00, 0x7e], FrameError::BadControl),
        (
            &[0x82, 0x7f, 0x80, 0, 0, 0, 0, 0, 0, 0],
            FrameError::LengthTooLarge,
        ),
        (&[0x80, 0x00], FrameError::UnexpectedContinuation),
        (&[0x01, 0x00, 0x81, 0x00], FrameError::MessageInFragment),
    ];
    for (bytes, err) in bad {
        let (_, _, res) = cut(&[bytes, b"\x81\x00"]);
        assert_eq!(res, Err(*err), "{bytes:?}");
    }
    // The largest legal length is announced and counted down without any allocation.
    let mut huge = vec![0x82, 0x7f];
    huge.extend_from_slice(&(u64::MAX >> 1).to_be_bytes());
    huge.extend_from_slice(&[0u8; 1000]);
    let (frames, bytes, res) = cut(&[&huge]);
    assert_eq!((frames.len(), bytes, res), (0, 1000, Ok(())));
}

#[test]
fn session_counts_messages_pings_close_and_silence() {
    let k = Some([1, 2, 3, 4]);
    let mut p = WebSocketParser::new(1_000, true);
    p.on_data(2_000, C2S, &frame(true, 4, 1, k, b"abc", false));
    p.on_data(3_000, S2C, &frame(true, 4, 1, None, b"abc", false));
    p.on_data(4_000, C2S, &frame(true, 0, 9, k, b"p1", false));
    p.on_data(4_500, C2S, &frame(true, 0, 9, k, b"p2", false));
    // Unsolicited pong: no round trip.
    p.on_data(4_600, S2C, &frame(true, 0, 10, None, b"zz", false));
    // The pong of the latest ping answers both.
    p.on_data(5_000, S2C, &frame(true, 0, 10, None, b"p2", false));
    p.on_data(5_500, S2C, &frame(true, 0, 10, None, b"p1", false));
    let f = frame(false, 0, 2, k, &[0; 10], false);
    p.on_data(6_000, C2S, &f);
    p.on_data(16_000, C2S, &frame(true, 0, 0, k, &[0; 5], false));
    p.on_data(
        17_000,
        S2C,
        &frame(true, 0, 8, None, b"\x03\xe9going", false),
    );
    p.on_data(18_000, C2S, &frame(true, 0, 8, k, b"\x03\xe9", false));
    let (s, st) = p.finish(100_000);
    assert_eq!(s.from_client.messages, 2);
    assert_eq!(s.from_client.compressed_messages, 1);
    assert_eq!(s.from_client.frames, 6);
    assert_eq!(s.from_client.payload_bytes, 3 + 15);
    assert_eq!((s.from_client.pings, s.from_server.pongs), (2, 3));
    assert_eq!(s.ping_rtts, 1);
    assert_eq!(
        (s.ping_rtt_median_ns, s.ping_rtt_max_ns),
        (Some(500), Some(500))
    );
    assert_eq!(s.close_initiator, Some(Side::Server));
    assert_eq!(
        (s.close_code, s.close_reason.as_deref()),
        (Some(1001), Some("going"))
    );
    assert_eq!(s.close_ts, Some(17_000));
    assert_eq!(s.from_client.max_idle_ns, 10_000, "6 000 → 16 000");
    // Server: the 101 → 3 000, … 5 500 → 17 000 (11 500); it closed, so no tail.
    assert_eq!(s.from_server.max_idle_ns, 11_500);
    assert!(!s.damaged);
    assert_eq!(st.frames, 11);
}

#[test]
fn abnormal_end_and_tail_silence() {
    let mut p = WebSocketParser::new(0, false);
    p.on_data(10, C2S, &frame(true, 0, 1, Some([0; 4]), b"x", false));
    p.on_close(50, S2C);
    let (s, _) = p.finish(1_000);
    assert_eq!(s.close_initiator, None);
    assert_eq!(s.from_client.max_idle_ns, 990);
    assert_eq!(s.from_server.max_idle_ns, 1_000);
}

#[test]
fn pending_pings_and_rtt_samples_are_capped() {
    let mut p = WebSocketParser::new(0, false);
    let mut t = 0;
    for i in 0..(MAX_PENDING_PINGS as u32 + 5) {
        t += 10;
        p.on_data(t, C2S, &frame(true, 0, 9, None, &i.to_be_bytes(), false));
    }
    assert_eq!(p.stats().pings_forgotten, 5);
    assert!(p.pings.len() <= MAX_PENDING_PINGS);
    for i in 0..(MAX_RTT_SAMPLES as u32 + 10) {
        t += 10;
        p.on_data(t, S2C, &frame(true, 0, 9, None, &i.to_be_bytes(), false));
        t += 3;
        p.on_data(t, C2S, &frame(true, 0, 10, None, &i.to_be_bytes(), false));
    }
    let (s, st) = p.finish(t);
    assert_eq!(s.ping_rtts, MAX_RTT_SAMPLES as u64 + 10);
    assert_eq!(st.rtt_samples_dropped, 10);
    assert_eq!(s.ping_rtt_median_ns, Some(3));
}

#[test]
fn gap_inside_a_payload_is_skipped_elsewhere_it_stops() {
    let mut p = WebSocketParser::new(0, false);
    let f = frame(true, 0, 2, None, &[0; 1000], false);
    p.on_data(1, S2C, &f[..100]);
    p.on_gap(2, S2C, 500);
    p.on_data(3, S2C, &f[600..]);
    p.on_data(4, S2C, &frame(true, 0, 1, None, b"ok", false));
    p.on_gap(5, S2C, 10);
    p.on_data(6, S2C, &frame(true, 0, 1, None, b"lost", false));
    let (s, st) = p.finish(10);
    assert_eq!(
        (s.from_server.messages, s.from_server.payload_bytes),
        (2, 1002)
    );
    assert!(s.damaged);
    assert_eq!(st.gaps, 1);
}

#[test]
fn http_upgrade_hands_the_stream_over() {
    let mut h = HttpParser::new(HttpConfig::default());
    h.on_data(
        1_000,
        C2S,
        b"GET /chat HTTP/1.1\r\nHost: example.test\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
          Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
    );
    // The 101 and the server's first frame in one segment.
    let mut resp =
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
          Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\
          Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits=15\r\n\r\n"
            .to_vec();
    resp.extend(frame(true, 0, 1, None, b"GET / HTTP/1.1\r\n\r\n", false));
    h.on_data(2_000, S2C, &resp);
    h.on_data(
        3_000,
        C2S,
        &frame(true, 0, 1, Some([9; 4]), b"POST / HTTP/1.1", false),
    );
    assert_eq!(h.stats().requests, 1, "frames are not read as HTTP");
    let ws = h.take_websocket().expect("upgraded");
    let (s, _) = ws.finish(4_000);
    assert_eq!(s.open_ts, 2_000);
    assert!(s.deflate);
    assert_eq!(
        (s.host.as_deref(), s.path.as_deref()),
        (Some("example.test"), Some("/chat"))
    );
    assert_eq!((s.from_client.messages, s.from_server.messages), (1, 1));
    let recs = h.into_records();
    assert_eq!((recs[0].status, recs[0].upgraded), (Some(101), true));
}

#[test]
fn a_101_to_another_protocol_is_not_websocket() {
    let mut h = HttpParser::new(HttpConfig::default());
    h.on_data(1, C2S, b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: foo\r\n\r\n");
    h.on_data(
        2,
        S2C,
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: foo\r\n\r\n\x81\x00",
    );
    assert!(h.websocket().is_none());
}

#[test]
fn deflate_extension_names() {
    assert!(has_deflate("permessage-deflate"));
    assert!(has_deflate(
        "x-foo, permessage-deflate; server_no_context_takeover"
    ));
    assert!(!has_deflate("permessage-deflated"));
}
