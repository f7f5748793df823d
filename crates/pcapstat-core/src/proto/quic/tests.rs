//! QUIC packet protection against the test vectors of RFC 9001 Appendix A (v1) and RFC 9369
//! Appendix A (v2), and the tracker on packets built from them.

use super::packet::{self, InitialKeys, LongType, PacketKey, VERSION_1, VERSION_2};
use super::*;
use crate::proto::tls::Keys;
use std::net::{IpAddr, Ipv4Addr};

fn unhex(s: &str) -> Vec<u8> {
    let s: String = s.chars().filter(|c| !c.is_whitespace()).collect();
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
        .collect()
}

/// RFC 9001 A.1: the client's Destination Connection ID.
const DCID: &str = "8394c8f03e515708";

/// RFC 9001 A.2 / RFC 9369 A.2: the client Initial's CRYPTO frame (a ClientHello for
/// example.com offering ALPN "alpn"); the packet is padded to 1162 bytes of payload.
const CLIENT_CRYPTO: &str = "060040f1010000ed0303ebf8fa56f129 39b9584a3896472ec40bb863cfd3e868
 04fe3a47f06a2b69484c000004130113 02010000c000000010000e00000b6578 616d706c652e636f6dff01000100000a
 00080006001d00170018001000070005 04616c706e0005000501000000000033 00260024001d00209370b2c9caa47fba
 baf4559fedba753de171fa71f50f1ce1 5d43e994ec74d748002b000302030400 0d0010000e0403050306030203080408
 050806002d00020101001c0002400100 3900320408ffffffffffffffff050480 00ffff07048000ffff08011001048000
 75300901100f088394c8f03e51570806 048000ffff";

/// RFC 9001 A.3 / RFC 9369 A.3: the server Initial's frames (ACK, CRYPTO with a ServerHello).
const SERVER_FRAMES: &str = "02000000000600405a020000560303eefce7f7b37ba1d1632e96677825ddf739
 88cfc79825df566dc5430b9a045a1200130100002e00330024001d00209d3c940d89690b84d08a60993c144eca684d10
 81287c834d5311bcf32bb9da1a002b00020304";

/// RFC 9001 A.3: the protected server Initial (135 bytes).
const SERVER_V1: &str = "cf000000010008f067a5502a4262b5004075c0d95a482cd0991cd25b0aac406a
 5816b6394100f37a1c69797554780bb38cc5a99f5ede4cf73c3ec2493a1839b3dbcba3f6ea46c5b7684df3548e7ddeb9
 c3bf9c73cc3f3bded74b562bfb19fb84022f8ef4cdd93795d77d06edbb7aaf2f58891850abbdca3d20398c276456cbc4
 2158407dd074ee";

/// RFC 9369 A.3: the same for QUIC version 2.
const SERVER_V2: &str = "dc6b3343cf0008f067a5502a4262b5004075d92faaf16f05d8a4398c47089698
 baeea26b91eb761d9b89237bbf87263017915358230035f7fd3945d88965cf17f9af6e16886c61bfc703106fbaf3cb4c
 fa52382dd16a393e42757507698075b2c984c707f0a0812d8cd5a6881eaf21ceda98f4bd23f6fe1a3e2c43edd9ce7ca8
 4bed8521e2e140";

/// The client Initial of RFC 9001 A.2 (v1) / RFC 9369 A.2 (v2), sealed with our code, and the
/// RFC's first 38 bytes (protected header and sample) and last 16 (the AEAD tag).
fn client_initial(version: u32) -> (Vec<u8>, &'static str, &'static str) {
    let (header, start, tag) = if version == VERSION_1 {
        (
            "c300000001088394c8f03e5157080000449e00000002",
            "c000000001088394c8f03e5157080000449e7b9aec34d1b1c98dd7689fb8ec11d242b123dc9b",
            "e221af44860018ab0856972e194cd934",
        )
    } else {
        (
            "d36b3343cf088394c8f03e5157080000449e00000002",
            "d76b3343cf088394c8f03e5157080000449ea0c95e82ffe67b6abcdb4298b485dd04de806071",
            "a18b2faa745b6fe189cf772a9f84cbfc",
        )
    };
    let keys = InitialKeys::new(version, &unhex(DCID)).expect("keys");
    let mut payload = unhex(CLIENT_CRYPTO);
    payload.resize(1162, 0);
    let packet = keys
        .client
        .seal(&unhex(header), 2, &payload)
        .expect("sealed");
    (packet, start, tag)
}

#[test]
fn client_initial_matches_rfc_9001_and_9369_appendix_a() {
    for version in [VERSION_1, VERSION_2] {
        let (packet, start, tag) = client_initial(version);
        assert_eq!(packet.len(), 1200);
        assert_eq!(
            packet[..38],
            unhex(start)[..],
            "{version:#x} header + sample"
        );
        assert_eq!(packet[1184..], unhex(tag)[..], "{version:#x} tag");
        // And back: header protection removed, packet number 2, the frames.
        let (p, rest) = packet::split_long(&packet).expect("long header");
        assert!(rest.is_empty());
        assert_eq!(p.ty, LongType::Initial);
        assert_eq!(p.dcid, unhex(DCID));
        let keys = InitialKeys::new(version, p.dcid).expect("keys");
        let o = keys
            .client
            .open(p.bytes, p.pn_offset, None)
            .expect("opened");
        assert_eq!(o.pn, 2);
        assert_eq!(o.payload[..245], unhex(CLIENT_CRYPTO)[..]);
    }
}

#[test]
fn server_initial_matches_rfc_9001_and_9369_appendix_a() {
    for (version, wire, header) in [
        (
            VERSION_1,
            SERVER_V1,
            "c1000000010008f067a5502a4262b50040750001",
        ),
        (
            VERSION_2,
            SERVER_V2,
            "d16b3343cf0008f067a5502a4262b50040750001",
        ),
    ] {
        let keys = InitialKeys::new(version, &unhex(DCID)).expect("keys");
        let sealed = keys
            .server
            .seal(&unhex(header), 1, &unhex(SERVER_FRAMES))
            .expect("sealed");
        assert_eq!(sealed, unhex(wire), "{version:#x}");
        let wire = unhex(wire);
        let (p, _) = packet::split_long(&wire).expect("long header");
        assert_eq!(p.ty, LongType::Initial);
        let o = keys
            .server
            .open(p.bytes, p.pn_offset, None)
            .expect("opened");
        assert_eq!(o.pn, 1);
        assert_eq!(o.payload, unhex(SERVER_FRAMES));
        // The client's keys do not open it.
        assert!(keys.client.open(p.bytes, p.pn_offset, None).is_none());
    }
}

#[test]
fn v1_keys_do_not_open_v2_packets() {
    let wire = unhex(SERVER_V2);
    let (p, _) = packet::split_long(&wire).expect("long header");
    let v1 = InitialKeys::new(VERSION_1, &unhex(DCID)).expect("keys");
    assert!(v1.server.open(p.bytes, p.pn_offset, None).is_none());
}

#[test]
fn packet_numbers_decode_as_rfc_9000_appendix_a3() {
    // RFC 9000 A.3 example: largest 0xa82f30ea, 16-bit 0x9b32 → 0xa82f9b32.
    assert_eq!(
        packet::decode_pn(Some(0xa82f_30ea), 0x9b32, 16),
        0xa82f_9b32
    );
    assert_eq!(packet::decode_pn(None, 0, 8), 0);
    assert_eq!(packet::decode_pn(Some(255), 1, 8), 257);
}

#[test]
fn varints_decode_as_rfc_9000_appendix_a1() {
    assert_eq!(
        packet::varint(&unhex("c2197c5eff14e88c")),
        Some((151_288_809_941_952_652, 8))
    );
    assert_eq!(packet::varint(&unhex("9d7f3e7d")), Some((494_878_333, 4)));
    assert_eq!(packet::varint(&unhex("7bbd")), Some((15_293, 2)));
    assert_eq!(packet::varint(&unhex("25")), Some((37, 1)));
    assert_eq!(packet::varint(&unhex("40")), None);
}

fn ep(last: u8, port: u16) -> Endpoint {
    Endpoint {
        ip: IpAddr::V4(Ipv4Addr::new(10, 0, 0, last)),
        port,
    }
}

#[test]
fn tracker_reads_the_rfc_handshake_for_both_versions() {
    for (version, server) in [(VERSION_1, SERVER_V1), (VERSION_2, SERVER_V2)] {
        let (c, s) = (ep(1, 50_000), ep(2, 443));
        let mut t = QuicTracker::new(Keys::default());
        let (client, _, _) = client_initial(version);
        t.on_datagram(1_000, 7, c, s, &client, 1200);
        let server = unhex(server);
        t.on_datagram(2_000, 8, s, c, &server, 135);
        // A 1-RTT packet from the server to the client's (empty) CID.
        t.on_datagram(3_000, 9, s, c, &[0x40, 1, 2, 3], 40);
        t.end(0);
        let out = t.take_records();
        assert_eq!(out.len(), 1);
        let (q, tls) = &out[0];
        assert_eq!(q.conn_id, 7);
        assert_eq!((q.client, q.server), (c, s));
        assert_eq!(q.version, Some(version));
        assert_eq!(q.original_dcid.as_deref(), Some(&unhex(DCID)[..]));
        assert_eq!(
            q.server_cid.as_deref(),
            Some(&unhex("f067a5502a4262b5")[..])
        );
        assert_eq!(q.outcome, QuicOutcome::Established);
        assert_eq!(q.server_1rtt_ts, Some(3_000));
        assert_eq!((q.datagrams_c2s, q.datagrams_s2c), (1, 2));
        assert_eq!((q.bytes_c2s, q.bytes_s2c), (1200, 175));
        let tls = tls.as_ref().expect("tls row");
        assert_eq!(tls.transport, TlsTransport::Quic);
        assert_eq!(tls.sni.as_deref(), Some("example.com"));
        assert_eq!(tls.alpn_offered, ["alpn"]);
        assert_eq!(tls.version, Some(crate::wire::TlsVersion(0x0304)));
        assert_eq!(tls.cipher, Some(crate::wire::CipherSuite(0x1301)));
        assert!(tls.ja4.as_deref().is_some_and(|j| j.starts_with("q13d")));
        assert_eq!(t.stats().initial_decrypted, 2);
    }
}

#[test]
fn crypto_frames_out_of_order_are_reassembled_and_retransmissions_counted() {
    let mut s = CryptoStream::default();
    let (mut budget, mut retrans, mut hit) = (100, 0, false);
    assert!(s
        .insert(5, b"fghij", &mut budget, &mut retrans, &mut hit)
        .is_empty());
    assert_eq!(budget, 95);
    assert_eq!(
        s.insert(0, b"abcdefg", &mut budget, &mut retrans, &mut hit),
        b"abcdefghij"
    );
    assert_eq!((budget, retrans), (100, 2));
    assert!(s
        .insert(3, b"def", &mut budget, &mut retrans, &mut hit)
        .is_empty());
    assert_eq!(retrans, 5);
    // Past the budget the stream stops, counted.
    assert!(s
        .insert(200, &[0; 101], &mut budget, &mut retrans, &mut hit)
        .is_empty());
    assert!(hit && s.stopped);
    assert!(s
        .insert(10, b"k", &mut budget, &mut retrans, &mut hit)
        .is_empty());
}

#[test]
fn the_oldest_connection_is_evicted_at_the_bound() {
    let mut t = QuicTracker::with_limit(Keys::default(), 2);
    let (client, _, _) = client_initial(VERSION_1);
    for i in 0..5u16 {
        t.on_datagram(
            i64::from(i),
            u64::from(i),
            ep(1, 1000 + i),
            ep(2, 443),
            &client,
            1200,
        );
    }
    assert_eq!(t.stats().evicted, 3);
    let evicted: Vec<u64> = t.take_records().iter().map(|(q, _)| q.conn_id).collect();
    assert_eq!(evicted, [0, 1, 2]);
    t.end(0);
    assert_eq!(t.take_records().len(), 2);
}

#[test]
fn every_prefix_and_bit_flip_of_a_datagram_is_handled() {
    let (client, _, _) = client_initial(VERSION_1);
    let server = unhex(SERVER_V1);
    for cut in 0..server.len() {
        let mut t = QuicTracker::new(Keys::default());
        t.on_datagram(0, 0, ep(1, 1), ep(2, 2), &client, 1200);
        t.on_datagram(1, 1, ep(2, 2), ep(1, 1), &server[..cut], 1);
        t.end(0);
        assert_eq!(t.take_records().len(), 1);
    }
    for i in 0..server.len() * 8 {
        let mut bad = server.clone();
        bad[i / 8] ^= 1 << (i % 8);
        let mut t = QuicTracker::new(Keys::default());
        t.on_datagram(0, 0, ep(1, 1), ep(2, 2), &client, 1200);
        t.on_datagram(1, 1, ep(2, 2), ep(1, 1), &bad, 1);
        t.end(0);
        let out = t.take_records();
        // A flipped bit never decrypts: no ServerHello is read.
        assert!(out[0].1.as_ref().is_some_and(|t| t.version.is_none()));
    }
}

#[test]
fn version_negotiation_alone_is_its_outcome() {
    let mut t = QuicTracker::new(Keys::default());
    let (client, _, _) = client_initial(VERSION_2);
    t.on_datagram(0, 0, ep(1, 1), ep(2, 2), &client, 1200);
    // VN: form bit, version 0, DCID = client's SCID (empty), SCID = the DCID, versions.
    let mut vn = vec![0x80, 0, 0, 0, 0, 0, 8];
    vn.extend_from_slice(&unhex(DCID));
    vn.extend_from_slice(&1u32.to_be_bytes());
    t.on_datagram(1, 1, ep(2, 2), ep(1, 1), &vn, 1);
    t.end(0);
    let (q, _) = &t.take_records()[0];
    assert!(q.version_negotiation);
    assert_eq!(q.vn_versions, [1]);
    assert_eq!(q.outcome, QuicOutcome::VersionNegotiation);
}

/// 1-RTT with a key log (secrets made up for the RFC's ClientHello random): the server's
/// HANDSHAKE_DONE, a skipped packet number, a key update, and an RTT sample from the client's
/// ACK.
#[test]
fn one_rtt_packets_open_with_the_key_log_and_follow_a_key_update() {
    use crate::proto::tls::KeyLog;
    let random = "ebf8fa56f12939b9584a3896472ec40bb863cfd3e86804fe3a47f06a2b69484c";
    let (cs, ss) = ([0x11u8; 32], [0x22u8; 32]);
    let hexs = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
    let text = format!(
        "CLIENT_HANDSHAKE_TRAFFIC_SECRET {random} {}\nSERVER_HANDSHAKE_TRAFFIC_SECRET {random} {}\n\
         CLIENT_TRAFFIC_SECRET_0 {random} {}\nSERVER_TRAFFIC_SECRET_0 {random} {}\n",
        hexs(&[0x33; 32]),
        hexs(&[0x44; 32]),
        hexs(&cs),
        hexs(&ss)
    );
    let keys = Keys::new(Some(std::sync::Arc::new(KeyLog::parse(&text))), None);
    let server_key = PacketKey::from_secret(VERSION_1, 0x1301, &ss).expect("key");
    let client_key = PacketKey::from_secret(VERSION_1, 0x1301, &cs).expect("key");
    let (c, s) = (ep(1, 50_000), ep(2, 443));
    let mut t = QuicTracker::new(keys);
    let (client, _, _) = client_initial(VERSION_1);
    t.on_datagram(1_000, 0, c, s, &client, 1200);
    t.on_datagram(2_000, 1, s, c, &unhex(SERVER_V1), 135);
    // Server → client (empty client CID): pn 0 with HANDSHAKE_DONE and PING, then pn 2 (1
    // skipped) under the next key phase.
    let mut frames = vec![0x1e, 0x01];
    frames.resize(24, 0);
    let p0 = server_key.seal(&[0x40, 0], 0, &frames).expect("sealed");
    t.on_datagram(3_000, 2, s, c, &p0, 60);
    let p2 = server_key
        .updated()
        .expect("next phase")
        .seal(&[0x44, 2], 2, &frames)
        .expect("sealed");
    t.on_datagram(4_000, 3, s, c, &p2, 60);
    // Client → server (DCID = the server's CID): an ACK of pn 2, delay 0, no more ranges.
    let mut ack = vec![0x02, 0x02, 0x00, 0x00, 0x00];
    ack.resize(24, 0);
    let mut header = vec![0x40];
    header.extend_from_slice(&unhex("f067a5502a4262b5"));
    header.push(0);
    let a0 = client_key.seal(&header, 0, &ack).expect("sealed");
    t.on_datagram(4_500, 4, c, s, &a0, 60);
    t.end(0);
    let (q, _) = &t.take_records()[0];
    assert!(q.one_rtt_decrypted);
    assert_eq!(q.server_handshake_done_ts, Some(3_000));
    assert_eq!(q.key_updates, 1);
    assert_eq!(q.pn_gaps, [Some(0), Some(1)]);
    assert_eq!(q.rtt_samples, [0, 1]);
    assert_eq!(q.rtt_min[1], Some(500));
    assert_eq!(q.rtt_median[1], Some(500));
    assert_eq!(t.stats().one_rtt_decrypted, 3);
    assert_eq!(t.stats().one_rtt_auth_failed, 0);
}

#[test]
fn every_frame_type_is_read_or_skipped_by_its_length() {
    // PING, MAX_DATA, NEW_CONNECTION_ID (len 8 + token), STREAM with offset and length,
    // PATH_CHALLENGE, DATAGRAM with length, HANDSHAKE_DONE, PADDING.
    let mut p = vec![0x01, 0x10, 0x05, 0x18, 0x01, 0x00, 0x08];
    p.extend_from_slice(&[7; 8 + 16]);
    p.extend_from_slice(&[0x0e, 0x04, 0x05, 0x03, b'a', b'b', b'c', 0x1a]);
    p.extend_from_slice(&[9; 8]);
    p.extend_from_slice(&[0x31, 0x01, 0xff, 0x1e, 0x00, 0x00]);
    let f = packet::frames(&p).expect("all read");
    assert_eq!(f.len(), 8);
    assert_eq!(
        f[3],
        packet::Frame::Stream {
            id: 4,
            offset: 5,
            data: b"abc",
            fin: false
        }
    );
    assert_eq!(f[6], packet::Frame::HandshakeDone);
    // An unknown type stops the reading with what came before.
    assert_eq!(packet::frames(&[0x01, 0x40, 0x25]).unwrap_err().len(), 1);
}

/// RFC 9001 Appendix A.5: a short-header packet protected with ChaCha20-Poly1305 (header
/// protection with ChaCha20 keyed by the sample). The AEAD tag only verifies with the right
/// header protection mask (it gives the packet number, hence the nonce).
#[test]
fn chacha20_poly1305_short_header_matches_rfc_9001_appendix_a5() {
    let secret = unhex("9ac312a7f877468ebe69422748ad00a15443f18203a07d6060f688f30f21632b");
    let key = PacketKey::from_secret(VERSION_1, 0x1303, &secret).expect("key");
    let packet = unhex("4cfe4189655e5cd55c41f69080575d7999c25a5bfb");
    // Empty Destination Connection ID: the packet number at offset 1; the previous packet
    // number makes the 3-byte truncated one decode to 654360564.
    let o = key.open(&packet, 1, Some(654_360_563)).expect("opens");
    assert_eq!(o.pn, 654_360_564);
    assert_eq!(o.payload, [0x01], "a PING frame");
    // Sealing it again gives the same bytes.
    let sealed = key.seal(&unhex("4200bff4"), o.pn, &[0x01]).expect("seal");
    assert_eq!(sealed, packet);
    // A key update's key does not open it; a wrong suite gives no key.
    assert!(key
        .updated()
        .expect("ku")
        .open(&packet, 1, Some(654_360_563))
        .is_none());
    assert!(PacketKey::from_secret(VERSION_1, 0x1303, &secret[..31]).is_none());
}

/// The idle timeout in force: RFC 9001 A.2's ClientHello carries `max_idle_timeout` 30 000 ms
/// (transport parameter 0x01, value `80 00 75 30`); the server's from EncryptedExtensions
/// lowers it; 0 is no idle timeout; malformed lists give none. Without 1-RTT keys how the
/// connection ended is not told.
#[test]
fn idle_timeout_from_the_transport_parameters() {
    let (c, s) = (ep(1, 50_000), ep(2, 443));
    let mut t = QuicTracker::new(Keys::default());
    let (client, _, _) = client_initial(VERSION_1);
    t.on_datagram(1_000, 7, c, s, &client, 1200);
    t.on_datagram(2_000, 8, s, c, &unhex(SERVER_V1), 135);
    t.on_datagram(3_000, 9, s, c, &[0x40, 1, 2, 3], 40);
    t.end(i64::MAX);
    let (q, _) = &t.take_records()[0];
    assert_eq!(q.idle_timeout_ns, Some(30_000_000_000));
    assert_eq!(q.outcome, QuicOutcome::Established);
    assert_eq!(
        q.ended_by, None,
        "no 1-RTT keys: a CONNECTION_CLOSE would be unseen"
    );
    // The parameters themselves: another parameter first, 2-byte varint values.
    assert_eq!(
        max_idle_timeout_ms(&[0x04, 0x02, 0x40, 0x10, 0x01, 0x02, 0x47, 0xd0]),
        Some(2000)
    );
    assert_eq!(max_idle_timeout_ms(&[0x01, 0x01, 0x00]), Some(0));
    assert_eq!(max_idle_timeout_ms(&[0x04, 0x01, 0x00]), None, "absent");
    assert_eq!(max_idle_timeout_ms(&[0x01, 0x08, 0x47]), None, "cut short");
    // EncryptedExtensions (type 8) with ALPN h3 and transport parameters (57).
    let mut ee = vec![8, 0, 0, 0];
    let exts: Vec<u8> = [
        &[0x00, 0x10, 0x00, 0x05, 0x00, 0x03, 0x02, b'h', b'3'][..],
        &[0x00, 0x39, 0x00, 0x04, 0x01, 0x02, 0x53, 0x88][..],
    ]
    .concat();
    ee.extend_from_slice(&u16::try_from(exts.len()).unwrap_or(0).to_be_bytes());
    ee.extend_from_slice(&exts);
    assert_eq!(alpn_of_encrypted_extensions(&ee).as_deref(), Some("h3"));
    assert_eq!(
        encrypted_extension(&ee, 57).and_then(max_idle_timeout_ms),
        Some(5000)
    );
}

/// The RFC 9001 handshake between `c` and `s` (frames 7-9), then a short header from `moved`
/// to the server's connection ID (frame 10); the tracker and that short header.
fn moved_connection(c: Endpoint, s: Endpoint, moved: Endpoint) -> (QuicTracker, Vec<u8>) {
    let mut t = QuicTracker::new(Keys::default());
    let (client, _, _) = client_initial(VERSION_1);
    t.on_datagram(1_000, 7, c, s, &client, 1200);
    t.on_datagram(2_000, 8, s, c, &unhex(SERVER_V1), 135);
    t.on_datagram(3_000, 9, s, c, &[0x40, 1, 2, 3], 40);
    let mut short = vec![0x41];
    short.extend(unhex("f067a5502a4262b5"));
    short.extend([9; 20]);
    t.on_datagram(4_000, 10, moved, s, &short, 100);
    (t, short)
}

/// RFC 9000 §9: after the RFC 9001 handshake, the client sends a short header to the server's
/// connection ID (`f067a5502a4262b5`, its SCID) from a new port: the same connection, moved;
/// the server's answer to the new port follows it. A short header with an unknown ID from
/// another port, or one to another server, is not placed. The paths per connection are
/// bounded.
#[test]
fn a_connection_that_moves_to_a_new_port_stays_one_row() {
    let (c, s, moved) = (ep(1, 50_000), ep(2, 443), ep(1, 50_001));
    let (mut t, short) = moved_connection(c, s, moved);
    t.on_datagram(5_000, 11, s, moved, &[0x40, 7, 7, 7], 60);
    // Unknown ID from a third port; the known ID to another server.
    let mut unknown = vec![0x41];
    unknown.extend([0xee; 28]);
    t.on_datagram(6_000, 12, ep(1, 50_002), s, &unknown, 100);
    t.on_datagram(6_500, 13, ep(1, 50_003), ep(3, 443), &short, 100);
    t.end(10_000);
    let out = t.take_records();
    assert_eq!(out.len(), 1, "one connection");
    let (q, _) = &out[0];
    assert_eq!((q.migrations, q.migrated_client), (1, Some(moved)));
    assert_eq!((q.datagrams_c2s, q.datagrams_s2c), (2, 3));
    assert_eq!(q.end_ts, 5_000);
    assert_eq!(t.stats().migrations, 1);
    assert_eq!(t.stats().orphans, 2);
    // Paths past MAX_QUIC_PATHS are counted, not followed.
    let (mut t, _) = moved_connection(c, s, ep(1, 40_000));
    for i in 1..=MAX_QUIC_PATHS as u16 {
        t.on_datagram(5_000, 11, ep(1, 40_000 + i), s, &short, 100);
    }
    t.end(10_000);
    assert_eq!(t.take_records()[0].0.migrations, MAX_QUIC_PATHS as u64);
    assert_eq!(t.stats().paths_over_limit, 1);
}

/// A new connection's Initial from a port a connection had moved to (the port reused): the
/// moved connection ends, the new one is that port's own.
#[test]
fn a_new_initial_on_a_moved_path_is_a_new_connection_of_that_path() {
    let (c, s, moved) = (ep(1, 50_000), ep(2, 443), ep(1, 50_001));
    let (mut t, _) = moved_connection(c, s, moved);
    // The same client Initial bytes, but to another DCID: a new connection.
    let (client, _, _) = client_initial(VERSION_1);
    let mut other = client.clone();
    other[6] ^= 0xff; // first byte of the DCID
    t.on_datagram(5_000, 11, moved, s, &other, 1200);
    t.end(10_000);
    let out = t.take_records();
    assert_eq!(out.len(), 2);
    assert_eq!((out[0].0.client, out[0].0.migrations), (c, 1));
    assert_eq!((out[1].0.client, out[1].0.conn_id), (moved, 11));
}
