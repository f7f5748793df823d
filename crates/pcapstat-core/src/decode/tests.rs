//! Byte fixtures per layer and link type, fragment reassembly, truncation sweeps.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};

use etherparse::PacketBuilder;

use super::stats::MAX_ENCAPSULATION_KINDS;
use super::*;

const MAC_A: [u8; 6] = [0x02, 0, 0, 0, 0, 1];
const MAC_B: [u8; 6] = [0x02, 0, 0, 0, 0, 2];
const V4_A: [u8; 4] = [10, 0, 0, 1];
const V4_B: [u8; 4] = [10, 0, 0, 2];
const V6_A: [u8; 16] = [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
const V6_B: [u8; 16] = [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2];

fn frame(linktype: u32, data: &[u8]) -> Frame<'_> {
    Frame {
        index: 7,
        ts_ns: 1_000_000_000,
        linktype: LinkType(linktype),
        interface: 0,
        data,
        orig_len: data.len() as u32,
    }
}

fn frame_at(linktype: u32, data: &[u8], index: u64, ts_ns: i64) -> Frame<'_> {
    Frame {
        index,
        ts_ns,
        ..frame(linktype, data)
    }
}

/// IPv4 TCP segment (raw IP) with `payload`.
fn ipv4_tcp(payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    PacketBuilder::ipv4(V4_A, V4_B, 64)
        .tcp(40000, 443, 1000, 512)
        .syn()
        .write(&mut out, payload)
        .unwrap();
    out
}

/// IPv4 UDP datagram (raw IP) with `payload`.
fn ipv4_udp(payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    PacketBuilder::ipv4(V4_A, V4_B, 64)
        .udp(5353, 53)
        .write(&mut out, payload)
        .unwrap();
    out
}

/// IPv6 UDP datagram (raw IP).
fn ipv6_udp(payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    PacketBuilder::ipv6(V6_A, V6_B, 64)
        .udp(5353, 53)
        .write(&mut out, payload)
        .unwrap();
    out
}

fn eth(ether_type: u16, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&MAC_B);
    out.extend_from_slice(&MAC_A);
    out.extend_from_slice(&ether_type.to_be_bytes());
    out.extend_from_slice(payload);
    out
}

/// A bare IPv4 header (no options unless given) in front of `payload`.
fn ipv4_hdr(proto: u8, id: u16, frag: u16, options: &[u8], payload: &[u8]) -> Vec<u8> {
    assert_eq!(options.len() % 4, 0);
    let ihl = 5 + options.len() / 4;
    let total = ihl * 4 + payload.len();
    let mut out = vec![0x40 | ihl as u8, 0];
    out.extend_from_slice(&(total as u16).to_be_bytes());
    out.extend_from_slice(&id.to_be_bytes());
    out.extend_from_slice(&frag.to_be_bytes());
    out.extend_from_slice(&[64, proto, 0, 0]);
    out.extend_from_slice(&V4_A);
    out.extend_from_slice(&V4_B);
    out.extend_from_slice(options);
    out.extend_from_slice(payload);
    out
}

fn ipv6_hdr(next: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = vec![0x60, 0, 0, 0];
    out.extend_from_slice(&(payload.len() as u16).to_be_bytes());
    out.extend_from_slice(&[next, 64]);
    out.extend_from_slice(&V6_A);
    out.extend_from_slice(&V6_B);
    out.extend_from_slice(payload);
    out
}

fn udp_hdr(sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&sport.to_be_bytes());
    out.extend_from_slice(&dport.to_be_bytes());
    out.extend_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
    out.extend_from_slice(&[0, 0]);
    out.extend_from_slice(payload);
    out
}

fn decode_one(linktype: u32, data: &[u8]) -> (Layers, Option<DecodeProblem>, bool) {
    let mut d = Decoder::default();
    let out = d.decode(&frame(linktype, data));
    (out.layers, out.problem, out.truncated)
}

fn udp_of<'a>(d: &Decoded<'a>) -> UdpDatagram<'a> {
    match d.transport {
        Some(Transport::Udp(u)) => u,
        other => panic!("expected UDP, got {other:?}"),
    }
}

fn tcp_of<'a>(d: &Decoded<'a>) -> TcpSegment<'a> {
    match d.transport {
        Some(Transport::Tcp(t)) => t,
        other => panic!("expected TCP, got {other:?}"),
    }
}

#[test]
fn ethernet_ipv4_tcp_fields_and_trailer_padding() {
    let ip = ipv4_tcp(b"hello");
    let mut data = eth(0x0800, &ip);
    data.extend_from_slice(&[0u8; 6]); // Ethernet trailer padding
    let mut dec = Decoder::default();
    let out = dec.decode(&frame(1, &data));
    assert!(out.layers.ipv4() && out.layers.tcp());
    assert!(!out.layers.udp() && !out.layers.ipv6());
    assert_eq!(out.problem, None);
    assert!(!out.truncated);
    let t = tcp_of(&out);
    assert_eq!(t.src_port, 40000);
    assert_eq!(t.dst_port, 443);
    assert_eq!(t.seq, 1000);
    assert_eq!(t.window, 512);
    assert!(t.flags.syn() && !t.flags.ack());
    assert_eq!(t.payload, b"hello");
    assert_eq!(t.payload_len, 5);
    assert_eq!(t.frame, 7);
    assert_eq!(t.ts_ns, 1_000_000_000);
    assert_eq!(t.ip.src, IpAddr::V4(Ipv4Addr::from(V4_A)));
    assert!(t.options.is_empty());
    let s = dec.stats();
    assert_eq!((s.frames, s.ipv4, s.tcp, s.udp, s.other), (1, 1, 1, 0, 0));
}

#[test]
fn vlan_and_qinq() {
    let ip = ipv4_udp(b"q");
    let mut single = eth(0x8100, &[0x00, 0x64]);
    single.extend_from_slice(&0x0800u16.to_be_bytes());
    single.extend_from_slice(&ip);
    let mut dec = Decoder::default();
    let out = dec.decode(&frame(1, &single));
    assert_eq!(udp_of(&out).payload, b"q");

    let mut qinq = eth(0x88A8, &[0x00, 0x0A, 0x81, 0x00, 0x00, 0x14]);
    qinq.extend_from_slice(&0x86DDu16.to_be_bytes());
    qinq.extend_from_slice(&ipv6_udp(b"qq"));
    let out = dec.decode(&frame(1, &qinq));
    assert!(out.layers.ipv6() && out.layers.udp());
    assert_eq!(udp_of(&out).payload, b"qq");
}

#[test]
fn linux_cooked_v1_and_v2() {
    let ip = ipv4_udp(b"sll");
    let mut sll = vec![0, 0, 0, 1, 0, 6, 1, 2, 3, 4, 5, 6, 0, 0];
    sll.extend_from_slice(&0x0800u16.to_be_bytes());
    sll.extend_from_slice(&ip);
    let mut dec = Decoder::default();
    assert_eq!(udp_of(&dec.decode(&frame(113, &sll))).payload, b"sll");

    let mut sll2 = Vec::new();
    sll2.extend_from_slice(&0x0800u16.to_be_bytes());
    // reserved, interface index, ARPHRD_ETHER, packet type, address length, address.
    sll2.extend_from_slice(&[0, 0, 0, 0, 0, 2, 0, 1, 0, 6]);
    sll2.extend_from_slice(&[1, 2, 3, 4, 5, 6, 0, 0]);
    assert_eq!(sll2.len(), 20);
    sll2.extend_from_slice(&ip);
    assert_eq!(udp_of(&dec.decode(&frame(276, &sll2))).payload, b"sll");

    // Netlink over SLL is "other", not an error.
    let mut nl = vec![0, 4, 0x03, 0x38, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
    nl.extend_from_slice(&[1, 2, 3, 4]);
    let out = dec.decode(&frame(113, &nl));
    assert_eq!(out.layers, Layers::default());
    assert_eq!(out.problem, None);
    assert_eq!(dec.stats().other, 1);
}

#[test]
fn null_loop_and_raw_link_types() {
    let v4 = ipv4_udp(b"x");
    let v6 = ipv6_udp(b"y");
    for (lt, hdr, ip, is_v6) in [
        (0u32, 2u32.to_le_bytes(), &v4, false),
        (0, 2u32.to_be_bytes(), &v4, false),
        (0, 24u32.to_le_bytes(), &v6, true),
        (0, 28u32.to_be_bytes(), &v6, true),
        (0, 30u32.to_le_bytes(), &v6, true),
        (0, 10u32.to_le_bytes(), &v6, true),
        (108, 2u32.to_be_bytes(), &v4, false),
        (108, 24u32.to_be_bytes(), &v6, true),
    ] {
        let mut data = hdr.to_vec();
        data.extend_from_slice(ip);
        let (layers, problem, _) = decode_one(lt, &data);
        assert_eq!(problem, None, "linktype {lt} header {hdr:?}");
        assert_eq!(layers.ipv6(), is_v6, "linktype {lt} header {hdr:?}");
        assert_eq!(layers.ipv4(), !is_v6, "linktype {lt} header {hdr:?}");
        assert!(layers.udp());
    }
    for lt in [12u32, 14, 101, 228] {
        let (layers, problem, _) = decode_one(lt, &v4);
        assert!(
            layers.ipv4() && layers.udp() && problem.is_none(),
            "linktype {lt}"
        );
    }
    for lt in [12u32, 14, 101, 229] {
        let (layers, problem, _) = decode_one(lt, &v6);
        assert!(
            layers.ipv6() && layers.udp() && problem.is_none(),
            "linktype {lt}"
        );
    }
    // Link-type FCS bits in the upper half are ignored.
    let (layers, _, _) = decode_one(0x3000_0065, &v4);
    assert!(layers.ipv4());
}

#[test]
fn unsupported_link_type_and_arp_are_counted_not_errors() {
    let mut dec = Decoder::default();
    let out = dec.decode(&frame(253, &[1, 2, 3, 4]));
    assert_eq!(out.problem, Some(DecodeProblem::UnsupportedLinkType));
    let arp = eth(0x0806, &[0u8; 28]);
    let out = dec.decode(&frame(1, &arp));
    assert_eq!(out.problem, None);
    let s = dec.stats();
    assert_eq!(s.unsupported_link_types.get(&253), Some(&1));
    assert_eq!(s.undecodable.get(DecodeProblem::UnsupportedLinkType), 1);
    assert_eq!(s.other, 1);
    assert_eq!(s.frames, 2);
}

#[test]
fn ipv4_options_are_skipped() {
    let udp = udp_hdr(1000, 53, b"opt");
    // Record-route-ish option padded to 8 bytes.
    let ip = ipv4_hdr(17, 1, 0, &[0x07, 0x07, 0x04, 0, 0, 0, 0, 0x01], &udp);
    let mut dec = Decoder::default();
    let out = dec.decode(&frame(101, &ip));
    let u = udp_of(&out);
    assert_eq!((u.src_port, u.dst_port, u.payload), (1000, 53, &b"opt"[..]));
    assert_eq!(u.payload_len, 3);
}

#[test]
fn ipv6_extension_headers_are_walked() {
    let udp = udp_hdr(1000, 53, b"ext");
    // Hop-by-hop (8 bytes, PadN) then destination options (8 bytes) then UDP.
    let mut exts = vec![60, 0, 1, 4, 0, 0, 0, 0];
    exts.extend_from_slice(&[17, 0, 1, 4, 0, 0, 0, 0]);
    exts.extend_from_slice(&udp);
    let ip = ipv6_hdr(0, &exts);
    let mut dec = Decoder::default();
    let out = dec.decode(&frame(229, &ip));
    assert_eq!(out.problem, None);
    let u = udp_of(&out);
    assert_eq!(u.payload, b"ext");
    assert_eq!(u.payload_len, 3);
}

/// The UDP datagram (header + 32 payload bytes) split into IPv4 fragments of 16, 16, 8 bytes.
fn v4_fragments(id: u16) -> (Vec<u8>, [Vec<u8>; 3]) {
    let payload: Vec<u8> = (0u8..32).collect();
    let dgram = udp_hdr(4000, 53, &payload);
    let f0 = ipv4_hdr(17, id, 0x2000, &[], &dgram[0..16]);
    let f1 = ipv4_hdr(17, id, 0x2000 | 2, &[], &dgram[16..32]);
    let f2 = ipv4_hdr(17, id, 4, &[], &dgram[32..40]);
    (payload, [f0, f1, f2])
}

#[test]
fn ipv4_fragments_in_order_count_udp_only_on_completion() {
    let (payload, frags) = v4_fragments(0x42);
    let mut dec = Decoder::default();
    for (i, f) in frags.iter().enumerate() {
        let out = dec.decode(&frame_at(101, f, i as u64, i as i64));
        assert!(out.layers.ipv4() && out.fragment);
        if i < 2 {
            assert!(!out.layers.udp(), "fragment {i}");
            assert!(out.transport.is_none());
        } else {
            let u = udp_of(&out);
            assert_eq!(u.payload, &payload[..]);
            assert_eq!(u.payload_len, 32);
            assert_eq!(u.frame, 2);
        }
    }
    let s = dec.stats();
    assert_eq!((s.fragments, s.reassembled, s.udp, s.ipv4), (3, 1, 1, 3));
    assert_eq!(dec.pending_fragments(), 0);
    assert_eq!(dec.pending_fragment_bytes(), 0);
}

#[test]
fn ipv4_fragments_out_of_order_and_overlapping() {
    let (payload, [f0, f1, f2]) = v4_fragments(0x43);
    let mut dec = Decoder::default();
    for f in [&f2, &f0] {
        assert!(dec.decode(&frame(101, f)).transport.is_none());
    }
    // A duplicate (overlapping) fragment does not complete or break anything.
    assert!(dec.decode(&frame(101, &f0)).transport.is_none());
    let out = dec.decode(&frame(101, &f1));
    assert_eq!(udp_of(&out).payload, &payload[..]);

    // Overlap running past the known end (tshark keeps the datagram).
    let dgram = udp_hdr(4000, 53, &payload);
    let mut long = dgram.clone();
    long.extend_from_slice(&[0xEE; 24]);
    let last = ipv4_hdr(17, 0x44, 4, &[], &dgram[32..40]);
    let first_long = ipv4_hdr(17, 0x44, 0x2000, &[], &long[..56]);
    let mut dec = Decoder::default();
    assert!(dec.decode(&frame(101, &last)).transport.is_none());
    let out = dec.decode(&frame(101, &first_long));
    assert_eq!(udp_of(&out).payload, &payload[..]);
    assert_eq!(dec.stats().undecodable.total(), 0);
}

#[test]
fn ipv6_fragments_reassemble() {
    let payload: Vec<u8> = (0u8..32).collect();
    let dgram = udp_hdr(4000, 53, &payload);
    let frag = |off: u16, more: bool, part: &[u8]| {
        let mut p = vec![17, 0];
        p.extend_from_slice(&((off << 3) | u16::from(more)).to_be_bytes());
        p.extend_from_slice(&0xdead_beefu32.to_be_bytes());
        p.extend_from_slice(part);
        ipv6_hdr(44, &p)
    };
    let a = frag(0, true, &dgram[..24]);
    let b = frag(3, false, &dgram[24..]);
    let mut dec = Decoder::default();
    let out = dec.decode(&frame(229, &b));
    assert!(out.layers.ipv6() && !out.layers.udp() && out.fragment);
    let out = dec.decode(&frame(229, &a));
    assert_eq!(udp_of(&out).payload, &payload[..]);
    assert_eq!(dec.stats().reassembled, 1);
}

#[test]
fn fragments_expire_by_capture_time() {
    let (_, [f0, f1, f2]) = v4_fragments(0x50);
    let limits = DecodeLimits {
        fragment_timeout_ns: 1_000,
        ..DecodeLimits::default()
    };
    let mut dec = Decoder::new(limits);
    dec.decode(&frame_at(101, &f0, 0, 0));
    dec.decode(&frame_at(101, &f1, 1, 10));
    // Much later (capture time): the datagram is gone; the last fragment starts a new one.
    let out = dec.decode(&frame_at(101, &f2, 2, 1_000_000));
    assert!(out.transport.is_none());
    assert_eq!(dec.stats().fragments_expired, 1);
    assert_eq!(dec.pending_fragments(), 1);
}

#[test]
fn fragment_limits_evict_oldest() {
    let limits = DecodeLimits {
        max_fragment_datagrams: 2,
        ..DecodeLimits::default()
    };
    let mut dec = Decoder::new(limits);
    for id in 0..5u16 {
        let (_, [f0, _, _]) = v4_fragments(id);
        dec.decode(&frame_at(101, &f0, u64::from(id), i64::from(id)));
    }
    assert_eq!(dec.pending_fragments(), 2);
    assert_eq!(dec.stats().fragments_evicted, 3);
    // The newest datagrams can still complete.
    let (payload, [_, f1, f2]) = v4_fragments(4);
    dec.decode(&frame_at(101, &f1, 10, 10));
    let out = dec.decode(&frame_at(101, &f2, 11, 11));
    assert_eq!(udp_of(&out).payload, &payload[..]);

    // Byte budget.
    let limits = DecodeLimits {
        max_fragment_bytes: 40,
        ..DecodeLimits::default()
    };
    let mut dec = Decoder::new(limits);
    for id in 0..4u16 {
        let (_, [f0, f1, _]) = v4_fragments(id);
        dec.decode(&frame_at(101, &f0, 0, 0));
        dec.decode(&frame_at(101, &f1, 0, 0));
        assert!(dec.pending_fragment_bytes() <= 40);
    }
    assert!(dec.stats().fragments_evicted >= 2);
}

#[test]
fn snap_length_truncation() {
    let ip = ipv4_tcp(&[0xAB; 100]);
    let data = eth(0x0800, &ip);
    let cut = &data[..14 + 20 + 20 + 10];
    let f = Frame {
        orig_len: data.len() as u32,
        ..frame(1, cut)
    };
    let mut dec = Decoder::default();
    let out = dec.decode(&f);
    assert!(out.truncated);
    assert_eq!(out.problem, None);
    let t = tcp_of(&out);
    assert_eq!(t.payload.len(), 10);
    assert_eq!(t.payload_len, 100);
    assert_eq!(dec.stats().truncated, 1);

    // Cut inside the TCP header: still counted as TCP (as tshark does), with a reason.
    let cut = &data[..14 + 20 + 6];
    let f = Frame {
        orig_len: data.len() as u32,
        ..frame(1, cut)
    };
    let out = dec.decode(&f);
    assert!(out.layers.tcp() && out.truncated);
    assert!(out.transport.is_none());
    assert_eq!(out.problem, Some(DecodeProblem::TruncatedTcpHeader));

    // UDP payload_len comes from the UDP length field.
    let ip = ipv4_udp(&[1; 50]);
    let cut = &ip[..20 + 8 + 5];
    let f = Frame {
        orig_len: ip.len() as u32,
        ..frame(101, cut)
    };
    let out = dec.decode(&f);
    let u = udp_of(&out);
    assert_eq!((u.payload.len(), u.payload_len), (5, 50));
}

/// Sets the IPv4 total length of a raw IPv4 packet (header checksum not fixed: not verified).
fn set_ipv4_total_len(ip: &mut [u8], total: u16) {
    ip[2..4].copy_from_slice(&total.to_be_bytes());
}

/// zeek `tcp/reassembly.pcap` frame 7: IPv4 total length 1500 in a 1506-byte Ethernet frame (1492
/// bytes of IP on the wire). tshark: "IPv4 total length exceeds packet length (1492 bytes)", TCP
/// segment length 1492 - 20 - 32 = 1440 (not 1448).
#[test]
fn ipv4_length_beyond_the_frame_is_capped_as_tshark() {
    let mut ip = ipv4_tcp(&[0x55; 1440 + 12]);
    set_ipv4_total_len(&mut ip, 20 + 20 + 1440 + 12 + 8);
    let data = eth(0x0800, &ip);
    let mut dec = Decoder::default();
    let out = dec.decode(&frame(1, &data));
    let t = tcp_of(&out);
    assert_eq!(t.payload_len, 1440 + 12);
    assert_eq!(t.payload.len(), 1440 + 12);

    // Cut by the snap length: the bytes beyond the capture still existed on the wire.
    let f = Frame {
        orig_len: data.len() as u32,
        ..frame(1, &data[..14 + 40 + 100])
    };
    let out = dec.decode(&f);
    let t = tcp_of(&out);
    assert!(out.truncated);
    assert_eq!((t.payload.len(), t.payload_len), (100, 1440 + 12));

    // Same for IPv6: payload length beyond the frame.
    let mut ip6 = Vec::new();
    PacketBuilder::ipv6(V6_A, V6_B, 64)
        .tcp(40000, 443, 1000, 512)
        .write(&mut ip6, &[7; 30])
        .unwrap();
    ip6[4..6].copy_from_slice(&(20u16 + 30 + 10).to_be_bytes());
    let out = dec.decode(&frame(101, &ip6));
    assert_eq!(tcp_of(&out).payload_len, 30);
}

/// zeek `pppoe-over-qinq.pcap` frame 19: PPPoE length 42 (PPP protocol + 40 bytes of IPv4), IPv4
/// total length 46, then 6 bytes of Ethernet padding. tshark: TCP segment length 0 — the IP
/// length is capped by the PPPoE length, so the padding is not payload.
#[test]
fn pppoe_length_caps_ip_length_so_padding_is_not_payload() {
    let mut inner = ipv4_tcp(b"");
    set_ipv4_total_len(&mut inner, 46);
    let mut pppoe = vec![0x11, 0x00, 0x0f, 0x07];
    pppoe.extend_from_slice(&((inner.len() + 2) as u16).to_be_bytes());
    pppoe.extend_from_slice(&[0x00, 0x21]);
    pppoe.extend_from_slice(&inner);
    let mut tagged = vec![0x09, 0xaa, 0x88, 0x64];
    tagged.extend_from_slice(&pppoe);
    let mut data = eth(0x8100, &tagged);
    data.extend_from_slice(&[0; 6]);
    let mut dec = Decoder::default();
    let out = dec.decode(&frame(1, &data));
    let t = tcp_of(&out);
    assert_eq!((t.payload_len, t.payload.len()), (0, 0));
}

#[test]
fn icmp_port_unreachable_exposes_quoted_udp() {
    let query = ipv4_udp(b"dns query bytes");
    let mut icmp = vec![3, 3, 0, 0, 0, 0, 0, 0];
    icmp.extend_from_slice(&query[..28]);
    // The error goes from B back to A.
    let mut err = ipv4_hdr(1, 9, 0, &[], &icmp);
    err[12..16].copy_from_slice(&V4_B);
    err[16..20].copy_from_slice(&V4_A);
    let mut dec = Decoder::default();
    let out = dec.decode(&frame(101, &err));
    assert!(out.layers.ipv4() && out.layers.udp());
    assert!(out.transport.is_none());
    let e = out.icmp_error.unwrap();
    assert!(e.is_destination_unreachable() && e.is_port_unreachable());
    assert_eq!((e.icmp_type, e.code, e.v6), (3, 3, false));
    assert_eq!(e.quoted_protocol, Some(17));
    assert_eq!(
        (e.quoted_src_port, e.quoted_dst_port),
        (Some(5353), Some(53))
    );
    let q = e.quoted_ip.unwrap();
    assert_eq!(q.src, IpAddr::V4(Ipv4Addr::from(V4_A)));
    assert_eq!(e.ip.src, IpAddr::V4(Ipv4Addr::from(V4_B)));
    assert_eq!(e.frame, 7);
    assert_eq!(out.problem, None);

    // ICMPv6 port unreachable.
    let q6 = ipv6_udp(b"x");
    let mut icmp6 = vec![1, 4, 0, 0, 0, 0, 0, 0];
    icmp6.extend_from_slice(&q6);
    let err6 = ipv6_hdr(58, &icmp6);
    let out = dec.decode(&frame(229, &err6));
    let e = out.icmp_error.unwrap();
    assert!(e.v6 && e.is_port_unreachable());
    assert_eq!(e.quoted_dst_port, Some(53));
    assert!(out.layers.udp());

    // An echo request is not an error.
    let mut echo = vec![8, 0, 0, 0, 0, 1, 0, 1];
    echo.extend_from_slice(b"ping");
    let pkt = ipv4_hdr(1, 1, 0, &[], &echo);
    let out = dec.decode(&frame(101, &pkt));
    assert!(out.icmp_error.is_none() && !out.layers.udp());
}

#[test]
fn tunnels_pppoe_mpls_vxlan_gre_6in4() {
    let inner = ipv4_tcp(b"in");
    let mut dec = Decoder::default();

    // PPPoE session.
    let mut pppoe = vec![0x11, 0x00, 0x00, 0x01];
    pppoe.extend_from_slice(&((inner.len() + 2) as u16).to_be_bytes());
    pppoe.extend_from_slice(&[0x00, 0x21]);
    pppoe.extend_from_slice(&inner);
    let pkt = eth(0x8864, &pppoe);
    let out = dec.decode(&frame(1, &pkt));
    assert_eq!(tcp_of(&out).payload, b"in");

    // MPLS, two labels.
    let mut mpls = vec![0x00, 0x01, 0x00, 0x40, 0x00, 0x02, 0x01, 0x40];
    mpls.extend_from_slice(&inner);
    let pkt = eth(0x8847, &mpls);
    let out = dec.decode(&frame(1, &pkt));
    assert_eq!(tcp_of(&out).payload, b"in");

    // VXLAN: the inner TCP is the transport; both UDP and TCP count.
    let mut vx = vec![0x08, 0, 0, 0, 0, 0, 1, 0];
    vx.extend_from_slice(&eth(0x0800, &inner));
    let outer = ipv4_hdr(17, 1, 0, &[], &udp_hdr(50000, 4789, &vx));
    let out = dec.decode(&frame(101, &outer));
    assert!(out.layers.udp() && out.layers.tcp());
    assert_eq!(tcp_of(&out).payload, b"in");

    // GRE carrying IPv6.
    let mut gre = vec![0x00, 0x00, 0x86, 0xDD];
    gre.extend_from_slice(&ipv6_udp(b"g"));
    let pkt = ipv4_hdr(47, 1, 0, &[], &gre);
    let out = dec.decode(&frame(101, &pkt));
    assert!(out.layers.ipv4() && out.layers.ipv6() && out.layers.udp());
    assert_eq!(udp_of(&out).payload, b"g");

    // 6in4.
    let pkt = ipv4_hdr(41, 1, 0, &[], &ipv6_udp(b"6"));
    let out = dec.decode(&frame(101, &pkt));
    assert!(out.layers.ipv4() && out.layers.ipv6());
    assert_eq!(udp_of(&out).payload, b"6");

    // Cisco HDLC and FDDI/SNAP.
    let mut chdlc = vec![0x0F, 0x00, 0x08, 0x00];
    chdlc.extend_from_slice(&inner);
    assert!(dec.decode(&frame(104, &chdlc)).layers.tcp());
    let mut fddi = vec![0x50];
    fddi.extend_from_slice(&[0u8; 12]);
    fddi.extend_from_slice(&[0xAA, 0xAA, 0x03, 0, 0, 0, 0x08, 0x00]);
    fddi.extend_from_slice(&inner);
    assert!(dec.decode(&frame(10, &fddi)).layers.tcp());
}

#[test]
fn tshark_counting_quirks() {
    // Ether type IPv4 with a bogus version still counts as IPv4, with a reason.
    let mut bad = ipv4_tcp(b"");
    bad[0] = 0x35;
    let (layers, problem, _) = decode_one(1, &eth(0x0800, &bad));
    assert!(layers.ipv4() && !layers.tcp());
    assert_eq!(problem, Some(DecodeProblem::BadIpHeader));
    // Ether type IPv6 with a bogus version counts as IPv6.
    let (layers, _, _) = decode_one(1, &eth(0x86DD, &bad));
    assert!(layers.ipv6() && !layers.ipv4());
    // IP with an empty payload does not count the transport.
    let (layers, _, _) = decode_one(101, &ipv4_hdr(6, 1, 0, &[], &[]));
    assert!(layers.ipv4() && !layers.tcp());
    // A truncated TCP header within IP's length counts as TCP.
    let (layers, problem, _) = decode_one(101, &ipv4_hdr(6, 1, 0, &[], &[0, 80, 1]));
    assert!(layers.tcp());
    assert_eq!(problem, Some(DecodeProblem::TruncatedTcpHeader));
    // Total length shorter than the header: IPv4, nothing more.
    let mut short = ipv4_udp(b"abc");
    short[2..4].copy_from_slice(&10u16.to_be_bytes());
    let (layers, problem, _) = decode_one(101, &short);
    assert!(layers.ipv4() && !layers.udp());
    assert_eq!(problem, Some(DecodeProblem::BadIpHeader));
    // Total length 0 (segmentation offload): the captured length is used.
    let mut tso = ipv4_udp(b"abc");
    tso[2..4].copy_from_slice(&0u16.to_be_bytes());
    let mut dec = Decoder::default();
    let out = dec.decode(&frame(101, &tso));
    assert_eq!(udp_of(&out).payload, b"abc");
}

#[test]
fn stats_merge_adds_everything() {
    let mut a = Decoder::default();
    a.decode(&frame(101, &ipv4_udp(b"a")));
    a.decode(&frame(253, &[0]));
    let mut b = Decoder::default();
    b.decode(&frame(101, &ipv4_tcp(b"b")));
    b.decode(&frame(253, &[0]));
    let mut total = a.stats().clone();
    total.merge(b.stats());
    assert_eq!(total.frames, 4);
    assert_eq!((total.ipv4, total.tcp, total.udp), (2, 1, 1));
    assert_eq!(total.unsupported_link_types.get(&253), Some(&2));
    assert_eq!(
        total.undecodable.iter().collect::<Vec<_>>(),
        vec![(DecodeProblem::UnsupportedLinkType, 2)]
    );
}

/// GRE (flags, protocol, optional sequence number) over raw IPv4, carrying `inner`.
fn gre_over_ipv4(flags: u16, proto: u16, inner: &[u8]) -> Vec<u8> {
    let mut gre = flags.to_be_bytes().to_vec();
    gre.extend_from_slice(&proto.to_be_bytes());
    if flags & 0x1000 != 0 {
        gre.extend_from_slice(&[0, 0, 0, 9]);
    }
    gre.extend_from_slice(inner);
    ipv4_hdr(47, 1, 0, &[], &gre)
}

/// An ERSPAN header of type II (version 1, 8 bytes) or III (version 2, 12 bytes, plus 8 with
/// the O bit), then `frame`.
fn erspan(version: u16, o_bit: bool, frame: &[u8]) -> Vec<u8> {
    let mut out = ((version << 12) | 10).to_be_bytes().to_vec();
    out.extend_from_slice(&[0x18, 0x2A]);
    out.extend_from_slice(&[0, 0, 0, 7]);
    if version == 2 {
        out.extend_from_slice(&[0, 0, 0, 0x12 | u8::from(o_bit)]);
        if o_bit {
            out.extend_from_slice(&[0x0C, 0, 0, 0x11, 0, 0, 0, 0]);
        }
    }
    out.extend_from_slice(frame);
    out
}

/// An NFLOG record: header, optional packet-header attribute with `hw`, a prefix, then the
/// packet attribute (when given), lengths and types in little or big endian.
fn nflog(family: u8, hw: Option<u16>, packet: Option<&[u8]>, big: bool) -> Vec<u8> {
    let u16b = |v: u16| {
        if big {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        }
    };
    let mut out = vec![family, 0, 0, 3];
    let mut attr = |ty: u16, value: &[u8]| {
        out.extend_from_slice(&u16b(4 + value.len() as u16));
        out.extend_from_slice(&u16b(ty));
        out.extend_from_slice(value);
        out.resize(out.len() + (4 - value.len() % 4) % 4, 0);
    };
    if let Some(hw) = hw {
        let mut v = hw.to_be_bytes().to_vec();
        v.extend_from_slice(&[1, 0]);
        attr(1, &v);
    }
    attr(10, b"pfx\0");
    if let Some(p) = packet {
        attr(9, p);
    }
    out
}

#[test]
fn erspan_types_i_ii_iii() {
    let inner = eth(0x0800, &ipv4_tcp(b"mirrored"));
    let vlan_inner = {
        let mut v = eth(0x8100, &[0x00, 0x64, 0x08, 0x00]);
        v.extend_from_slice(&ipv4_tcp(b"mirrored"));
        v
    };
    let cases = [
        // Type I: no GRE flag, Ethernet right after the GRE header.
        gre_over_ipv4(0x0000, 0x88BE, &inner),
        // Type II: sequence number, 8-byte ERSPAN header; a VLAN-tagged frame inside.
        gre_over_ipv4(0x1000, 0x88BE, &erspan(1, false, &vlan_inner)),
        // Type III, without and with the platform-specific subheader.
        gre_over_ipv4(0x1000, 0x22EB, &erspan(2, false, &inner)),
        gre_over_ipv4(0x1000, 0x22EB, &erspan(2, true, &inner)),
        // tshark goes by the ERSPAN version, not the protocol type.
        gre_over_ipv4(0x1000, 0x22EB, &erspan(1, false, &inner)),
    ];
    let mut dec = Decoder::default();
    for pkt in &cases {
        let out = dec.decode(&frame(101, pkt));
        assert_eq!(out.problem, None, "{pkt:02x?}");
        assert_eq!(tcp_of(&out).payload, b"mirrored");
    }
    // An ERSPAN version tshark does not know: counted by name.
    let pkt = gre_over_ipv4(0x1000, 0x88BE, &erspan(3, false, &inner));
    let out = dec.decode(&frame(101, &pkt));
    assert_eq!(out.problem, Some(DecodeProblem::UndecodedEncapsulation));
    assert!(out.transport.is_none());
    // A Linux GRE device (cooked capture, ARPHRD_IPGRE) strips the GRE header: type I.
    let mut sll = vec![0, 0, 0x03, 0x0A, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0x88, 0xBE];
    sll.extend_from_slice(&inner);
    let out = dec.decode(&frame(113, &sll));
    assert_eq!(tcp_of(&out).payload, b"mirrored");
    assert_eq!(
        dec.stats().undecoded_encapsulations,
        BTreeMap::from([(Encapsulation::ErspanVersion(3), 1)])
    );
}

#[test]
fn gre_wccp_redirect_with_and_without_its_header() {
    // As tshark: a first byte that does not look like IPv4 is the 4-byte WCCPv2 header.
    let inner = ipv4_tcp(b"redirected");
    let mut with_hdr = vec![0, 0, 0, 1];
    with_hdr.extend_from_slice(&inner);
    let mut dec = Decoder::default();
    for body in [inner.clone(), with_hdr] {
        let pkt = gre_over_ipv4(0, 0x883E, &body);
        let out = dec.decode(&frame(101, &pkt));
        assert_eq!(tcp_of(&out).payload, b"redirected");
    }
}

#[test]
fn nflog_by_hw_protocol_or_family_in_either_byte_order() {
    let v4 = ipv4_tcp(b"logged");
    let mut v6 = Vec::new();
    PacketBuilder::ipv6(V6_A, V6_B, 64)
        .tcp(40000, 80, 1, 512)
        .write(&mut v6, b"logged6")
        .unwrap();
    let mut dec = Decoder::default();
    for big in [false, true] {
        let pkt = nflog(2, Some(0x0800), Some(&v4), big);
        let out = dec.decode(&frame(239, &pkt));
        assert_eq!(tcp_of(&out).payload, b"logged", "big endian {big}");
        let pkt = nflog(10, None, Some(&v6), big);
        let out = dec.decode(&frame(239, &pkt));
        assert_eq!(tcp_of(&out).payload, b"logged6", "big endian {big}");
        assert!(out.layers.ipv6() && !out.layers.ipv4());
    }
    // The hardware protocol wins over the family (bridge family 7 logging IPv4).
    let pkt = nflog(7, Some(0x0800), Some(&v4), false);
    let out = dec.decode(&frame(239, &pkt));
    assert_eq!(tcp_of(&out).payload, b"logged");
    // ARP logged by arptables: non-IP, not a problem.
    let pkt = nflog(3, Some(0x0806), Some(&[0; 28]), false);
    let out = dec.decode(&frame(239, &pkt));
    assert_eq!(out.problem, None);
    // A family without hardware protocol: counted by name.
    let pkt = nflog(7, None, Some(&v4), false);
    let out = dec.decode(&frame(239, &pkt));
    assert_eq!(out.problem, Some(DecodeProblem::UndecodedEncapsulation));
    // No packet attribute: a log entry without packet, non-IP.
    let pkt = nflog(2, Some(0x0800), None, false);
    let out = dec.decode(&frame(239, &pkt));
    assert_eq!(out.problem, None);
    let st = dec.stats();
    assert_eq!(st.other, 2);
    assert_eq!(
        st.undecoded_encapsulations,
        BTreeMap::from([(Encapsulation::NflogFamily(7), 1)])
    );
}

#[test]
fn undecoded_encapsulations_are_named_and_bounded() {
    let inner = ipv4_tcp(b"x");
    let mut dec = Decoder::default();
    // GRE protocols not decoded, with something inside: counted by protocol.
    for proto in 0..40u16 {
        let pkt = gre_over_ipv4(0, 0x1000 + proto, &inner);
        let out = dec.decode(&frame(101, &pkt));
        assert_eq!(out.problem, Some(DecodeProblem::UndecodedEncapsulation));
    }
    // GRE keepalive (nothing inside) and ARP over GRE: not problems.
    assert_eq!(
        dec.decode(&frame(101, &gre_over_ipv4(0, 0, &[]))).problem,
        None
    );
    let arp = gre_over_ipv4(0, 0x0806, &[0; 28]);
    assert_eq!(dec.decode(&frame(101, &arp)).problem, None);
    let st = dec.stats();
    assert_eq!(
        st.undecoded_encapsulations.len(),
        MAX_ENCAPSULATION_KINDS + 1
    );
    assert_eq!(
        st.undecoded_encapsulations.get(&Encapsulation::Other),
        Some(&8)
    );
    assert_eq!(
        st.undecoded_encapsulations
            .get(&Encapsulation::GreProtocol(0x1000)),
        Some(&1)
    );
    assert_eq!(
        st.undecodable.get(DecodeProblem::UndecodedEncapsulation),
        40
    );
    // Merging keeps the bound.
    let mut total = st.clone();
    total.merge(st);
    assert_eq!(
        total.undecoded_encapsulations.len(),
        MAX_ENCAPSULATION_KINDS + 1
    );
    assert_eq!(
        total.undecoded_encapsulations.get(&Encapsulation::Other),
        Some(&16)
    );

    let mut dec = Decoder::default();
    // ESP, MACsec, Geneve with an unknown protocol, an MPLS pseudowire.
    let esp = ipv4_hdr(50, 1, 0, &[], &[0, 0, 0x10, 0, 0, 0, 0, 1, 0xAB]);
    let macsec = eth(0x88E5, &[0x2C, 0, 0, 0, 0, 1, 0xAB, 0xCD]);
    let mut gen = vec![0x00, 0x00, 0x12, 0x34, 0, 0, 1, 0];
    gen.extend_from_slice(&inner);
    let geneve = ipv4_hdr(17, 1, 0, &[], &udp_hdr(50000, 6081, &gen));
    let mut pw = vec![0x00, 0x01, 0x01, 0x40, 0, 0, 0, 0];
    pw.extend_from_slice(&eth(0x0800, &inner));
    let mpls = eth(0x8847, &pw);
    for (lt, pkt) in [(101, &esp), (1, &macsec), (101, &geneve), (1, &mpls)] {
        let out = dec.decode(&frame(lt, pkt));
        assert_eq!(out.problem, Some(DecodeProblem::UndecodedEncapsulation));
    }
    let names: Vec<String> = dec
        .stats()
        .undecoded_encapsulations
        .keys()
        .map(|e| e.to_string())
        .collect();
    assert_eq!(
        names,
        [
            "geneve protocol 0x1234",
            "ether type 0x88e5 (macsec)",
            "ip protocol 50 (esp)",
            "mpls payload not ip"
        ]
    );
}

#[test]
fn tags_before_the_ether_type() {
    let inner = ipv4_tcp(b"tagged");
    let mut pbb = vec![0, 0, 0x12, 0x34];
    pbb.extend_from_slice(&eth(0x0800, &inner));
    let mut vntag = vec![0x80, 0x01, 0x00, 0x02, 0x08, 0x00];
    vntag.extend_from_slice(&inner);
    let mut etag = vec![0, 0, 0, 5, 0, 0, 0x08, 0x00];
    etag.extend_from_slice(&inner);
    let mut cmd = vec![1, 1, 0, 1, 0, 100, 0x08, 0x00];
    cmd.extend_from_slice(&inner);
    let mut nsh = vec![0x0F, 0xC2, 0x02, 0x01, 0, 0, 0x0A, 0xFF];
    nsh.extend_from_slice(&inner);
    let mut dec = Decoder::default();
    for (et, body) in [
        (0x88E7, pbb),
        (0x8926, vntag),
        (0x893F, etag),
        (0x8909, cmd),
        (0x894F, nsh),
    ] {
        let pkt = eth(et, &body);
        let out = dec.decode(&frame(1, &pkt));
        assert_eq!(out.problem, None, "{et:#x}");
        assert_eq!(tcp_of(&out).payload, b"tagged", "{et:#x}");
    }
    // PBB in PBB in ...: bounded by the depth limit.
    let mut nested = eth(0x0800, &inner);
    for _ in 0..20 {
        let mut outer = vec![0, 0, 0x12, 0x34];
        outer.extend_from_slice(&nested);
        nested = eth(0x88E7, &outer);
    }
    let out = dec.decode(&frame(1, &nested));
    assert_eq!(out.problem, Some(DecodeProblem::TooDeep));
}

/// Every fixture packet used in the sweep, with its link type.
fn sweep_fixtures() -> Vec<(u32, Vec<u8>)> {
    let inner = ipv4_tcp(b"payload");
    let mut out = vec![
        (1, eth(0x0800, &ipv4_tcp(b"abc"))),
        (1, eth(0x86DD, &ipv6_udp(b"abc"))),
        (101, ipv4_hdr(17, 1, 0, &[1, 1, 1, 0], &udp_hdr(1, 2, b"x"))),
        (229, {
            let mut exts = vec![60, 0, 1, 4, 0, 0, 0, 0];
            exts.extend_from_slice(&[17, 0, 1, 4, 0, 0, 0, 0]);
            exts.extend_from_slice(&udp_hdr(1, 2, b"ext"));
            ipv6_hdr(0, &exts)
        }),
    ];
    let mut vlan = eth(0x88A8, &[0x00, 0x0A, 0x81, 0x00, 0x00, 0x14, 0x08, 0x00]);
    vlan.extend_from_slice(&inner);
    out.push((1, vlan));
    let mut sll = vec![0, 0, 0, 1, 0, 6, 1, 2, 3, 4, 5, 6, 0, 0, 0x08, 0x00];
    sll.extend_from_slice(&inner);
    out.push((113, sll));
    let mut sll2 = vec![0x86, 0xDD];
    sll2.extend_from_slice(&[0u8; 18]);
    sll2.extend_from_slice(&ipv6_udp(b"s"));
    out.push((276, sll2));
    let mut null = 2u32.to_le_bytes().to_vec();
    null.extend_from_slice(&inner);
    out.push((0, null));
    let mut lp = 24u32.to_be_bytes().to_vec();
    lp.extend_from_slice(&ipv6_udp(b"l"));
    out.push((108, lp));
    let mut pppoe = vec![0x11, 0x00, 0x00, 0x01];
    pppoe.extend_from_slice(&((inner.len() + 2) as u16).to_be_bytes());
    pppoe.extend_from_slice(&[0x00, 0x21]);
    pppoe.extend_from_slice(&inner);
    out.push((1, eth(0x8864, &pppoe)));
    let mut mpls = vec![0x00, 0x01, 0x01, 0x40];
    mpls.extend_from_slice(&inner);
    out.push((1, eth(0x8847, &mpls)));
    let mut vx = vec![0x08, 0, 0, 0, 0, 0, 1, 0];
    vx.extend_from_slice(&eth(0x0800, &inner));
    out.push((101, ipv4_hdr(17, 1, 0, &[], &udp_hdr(50000, 4789, &vx))));
    let mut gre = vec![0xB0, 0x00, 0x65, 0x58, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 2];
    gre.extend_from_slice(&eth(0x0800, &inner));
    out.push((101, ipv4_hdr(47, 1, 0, &[], &gre)));
    let mut icmp = vec![3, 3, 0, 0, 0, 0, 0, 0];
    icmp.extend_from_slice(&ipv4_udp(b"q")[..28]);
    out.push((101, ipv4_hdr(1, 1, 0, &[], &icmp)));
    let mut icmp6 = vec![1, 4, 0, 0, 0, 0, 0, 0];
    icmp6.extend_from_slice(&ipv6_udp(b"q"));
    out.push((229, ipv6_hdr(58, &icmp6)));
    let (_, frags) = v4_fragments(3);
    for f in frags {
        out.push((101, f));
    }
    let mut teredo = vec![0x00, 0x00, 0, 0, 0, 0, 0, 0];
    teredo.extend_from_slice(&ipv6_udp(b"t"));
    out.push((101, ipv4_hdr(17, 1, 0, &[], &udp_hdr(3544, 40000, &teredo))));
    let mut chdlc = vec![0x0F, 0x00, 0x08, 0x00];
    chdlc.extend_from_slice(&inner);
    out.push((104, chdlc));
    let mirrored = eth(0x0800, &inner);
    out.push((101, gre_over_ipv4(0, 0x88BE, &mirrored)));
    out.push((
        101,
        gre_over_ipv4(0x1000, 0x88BE, &erspan(1, false, &mirrored)),
    ));
    out.push((
        101,
        gre_over_ipv4(0x1000, 0x22EB, &erspan(2, true, &mirrored)),
    ));
    out.push((239, nflog(2, Some(0x0800), Some(&inner), false)));
    out.push((239, nflog(10, None, Some(&ipv6_udp(b"n")), true)));
    let mut nsh = vec![0x0F, 0xC2, 0x02, 0x03, 0, 0, 0x0A, 0xFF];
    nsh.extend_from_slice(&mirrored);
    out.push((1, eth(0x894F, &nsh)));
    out.push((
        101,
        ipv4_hdr(17, 1, 0, &[], &udp_hdr(2152, 2152, &gtpu(&inner, true))),
    ));
    out.push((
        101,
        ipv4_hdr(17, 1, 0, &[], &udp_hdr(1701, 1701, &l2tp(&inner))),
    ));
    out
}

/// A GTP-U G-PDU carrying `ip`, optionally with a sequence number and one extension header.
fn gtpu(ip: &[u8], ext: bool) -> Vec<u8> {
    let opt: &[u8] = if ext {
        &[0, 1, 0, 0x85, 1, 0x10, 9, 0]
    } else {
        &[]
    };
    let mut out = vec![if ext { 0x34 } else { 0x30 }, 0xFF];
    out.extend_from_slice(&((opt.len() + ip.len()) as u16).to_be_bytes());
    out.extend_from_slice(&[0, 0, 0x10, 0x01]);
    out.extend_from_slice(opt);
    out.extend_from_slice(ip);
    out
}

/// An L2TPv2 data message with length and Ns/Nr, carrying PPP with `ip`.
fn l2tp(ip: &[u8]) -> Vec<u8> {
    let mut out = vec![0x48, 0x02];
    out.extend_from_slice(&((16 + ip.len()) as u16).to_be_bytes());
    out.extend_from_slice(&[0, 7, 0, 3, 0, 1, 0, 1, 0xFF, 0x03, 0x00, 0x21]);
    out.extend_from_slice(ip);
    out
}

#[test]
fn gtpu_and_l2tp_only_when_their_headers_check_out() {
    let inner = ipv4_tcp(b"mobile");
    let mut dec = Decoder::default();
    for data in [gtpu(&inner, false), gtpu(&inner, true)] {
        let pkt = ipv4_hdr(17, 1, 0, &[], &udp_hdr(40000, 2152, &data));
        let out = dec.decode(&frame(101, &pkt));
        assert_eq!(tcp_of(&out).payload, b"mobile");
    }
    let pkt = ipv4_hdr(17, 1, 0, &[], &udp_hdr(1701, 1701, &l2tp(&inner)));
    let out = dec.decode(&frame(101, &pkt));
    assert_eq!(tcp_of(&out).payload, b"mobile");
    // A wrong length field, another message type, a control message: plain UDP.
    let mut bad_len = gtpu(&inner, false);
    bad_len[3] ^= 1;
    let mut echo = gtpu(&inner, false);
    echo[1] = 1;
    let mut control = l2tp(&inner);
    control[0] |= 0x80;
    for (port, data) in [(2152, bad_len), (2152, echo), (1701, control)] {
        let pkt = ipv4_hdr(17, 1, 0, &[], &udp_hdr(port, 53, &data));
        let out = dec.decode(&frame(101, &pkt));
        assert_eq!(out.problem, None);
        assert_eq!(udp_of(&out).dst_port, 53);
        assert!(!out.layers.tcp());
    }
}

#[test]
fn truncation_sweep_every_prefix_decodes_or_gives_a_reason() {
    let mut dec = Decoder::default();
    for (lt, pkt) in sweep_fixtures() {
        // The whole packet decodes without a problem.
        let full = dec.decode(&frame(lt, &pkt));
        assert_eq!(full.problem, None, "linktype {lt} packet {pkt:02x?}");
        assert!(full.layers.ip(), "linktype {lt} packet {pkt:02x?}");
        for n in 0..pkt.len() {
            let cut = &pkt[..n];
            // Both as a snap-length cut and as a frame that simply is that short.
            for orig_len in [pkt.len() as u32, n as u32] {
                let f = Frame {
                    orig_len,
                    ..frame(lt, cut)
                };
                let out = dec.decode(&f);
                // An NFLOG record that ends between attributes is a log entry without packet.
                let nflog_entry = lt == 239 && orig_len as usize == n;
                assert!(
                    out.problem.is_some() || out.layers.ip() || nflog_entry,
                    "linktype {lt} prefix {n} of {pkt:02x?}: neither decoded nor a reason"
                );
                if orig_len as usize > n {
                    assert!(out.truncated);
                }
                if let Some(Transport::Tcp(t)) = out.transport {
                    assert!(t.payload.len() <= t.payload_len as usize);
                }
                if let Some(Transport::Udp(u)) = out.transport {
                    assert!(u.payload.len() <= u.payload_len as usize);
                }
            }
        }
    }
    // Every prefix also with every byte flipped at a few positions: no panics.
    for (lt, pkt) in sweep_fixtures() {
        for pos in 0..pkt.len() {
            for v in [0x00u8, 0xFF, 0x45, 0x60, 0x0F] {
                let mut p = pkt.clone();
                p[pos] = v;
                dec.decode(&frame(lt, &p));
            }
        }
    }
    assert!(dec.stats().frames > 1000);
}

#[test]
fn every_link_type_number_is_safe() {
    let mut dec = Decoder::default();
    let pkt = eth(0x0800, &ipv4_tcp(b"abc"));
    for lt in 0..300u32 {
        for n in [0, 1, 3, 4, 13, 14, 16, 20, pkt.len()] {
            dec.decode(&frame(lt, &pkt[..n]));
        }
    }
}

/// Each of `frames` through [`compare_shortcut`]; how many took the shortcut.
fn shortcut_matches(frames: &[(u32, Vec<u8>, u32)]) -> usize {
    let mut shortcut = 0;
    for (i, (linktype, data, orig_len)) in frames.iter().enumerate() {
        let f = Frame {
            orig_len: *orig_len,
            ..frame_at(*linktype, data, i as u64, 1_000 * i as i64)
        };
        shortcut += usize::from(compare_shortcut(&f));
    }
    shortcut
}

/// The plain Ethernet/IPv4/TCP shortcut gives what the general walk gives, on frames made
/// around each of its conditions (lengths, header lengths, flags, fragments, protocol, link
/// type, snap length, original length) and on every frame of the bundled captures.
#[test]
fn plain_ipv4_tcp_is_what_the_general_walk_makes() {
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move || crate::testing::xorshift(&mut state);
    let mut base = Vec::new();
    PacketBuilder::ethernet2(MAC_A, MAC_B)
        .ipv4(V4_A, V4_B, 64)
        .tcp(40000, 80, 1000, 512)
        .ack(7)
        .psh()
        .options(&[const { etherparse::TcpOptionElement::Noop }; 4])
        .unwrap()
        .write(&mut base, &[0x41; 100])
        .unwrap();
    let mut frames = vec![(1, base.clone(), base.len() as u32)];
    for _ in 0..20_000 {
        let mut d = base.clone();
        let r = next();
        // A few fields at a time, often near their boundaries.
        if r & 1 != 0 {
            let total: u16 = match (r >> 8) % 6 {
                0 => 0,
                1 => ((r >> 16) % 64) as u16,
                2 => (base.len() - 14) as u16 + ((r >> 16) % 5) as u16 - 2,
                3 => ((r >> 16) % 200) as u16,
                _ => (r >> 16) as u16,
            };
            d[16..18].copy_from_slice(&total.to_be_bytes());
        }
        if r & 2 != 0 {
            d[14] = [0x45, 0x46, 0x44, 0x65, 0x4f, 0x40][((r >> 24) % 6) as usize];
        }
        if r & 4 != 0 {
            let frag: u16 = [0x4000, 0x2000, 0x0001, 0x8000, 0x0000][((r >> 28) % 5) as usize];
            d[20..22].copy_from_slice(&frag.to_be_bytes());
        }
        if r & 8 != 0 {
            d[23] = [6, 17, 1, 6, 4][((r >> 32) % 5) as usize];
        }
        if r & 16 != 0 {
            d[14 + 20 + 12] = ((((r >> 36) % 16) as u8) << 4) | (d[14 + 20 + 12] & 0x0f);
        }
        if r & 32 != 0 {
            d[12..14].copy_from_slice(
                &[[0x08, 0x00], [0x81, 0x00], [0x86, 0xdd]][((r >> 40) % 3) as usize],
            );
        }
        if r & 64 != 0 {
            d.truncate(((r >> 44) as usize) % (d.len() + 1));
        }
        let orig_len = d.len() as u32
            + if r & 128 != 0 {
                ((r >> 52) % 3000) as u32
            } else {
                0
            };
        let linktype = if r & 256 != 0 {
            [1, 101, 0x1000_0001][((r >> 56) % 3) as usize]
        } else {
            1
        };
        frames.push((linktype, d, orig_len));
    }
    let taken = shortcut_matches(&frames);
    // Both kinds were met: frames the shortcut takes and frames it leaves to the walk.
    assert!(
        taken > 1000 && taken < frames.len() - 1000,
        "{taken} of {}",
        frames.len()
    );

    // Every frame of the bundled captures.
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata");
    let mut files = vec![root.clone()];
    let mut bundled = Vec::new();
    while let Some(p) = files.pop() {
        if p.is_dir() {
            files.extend(std::fs::read_dir(&p).unwrap().map(|e| e.unwrap().path()));
        } else if p.extension().is_some_and(|e| e == "pcap" || e == "pcapng") {
            bundled.push(p);
        }
    }
    let mut taken = 0;
    for p in &bundled {
        let Ok(mut capture) = crate::capture::Capture::open(p) else {
            continue;
        };
        let mut frames = Vec::new();
        while let Ok(Some(f)) = capture.next_frame() {
            frames.push((f.linktype.0, f.data.to_vec(), f.orig_len));
        }
        taken += shortcut_matches(&frames);
    }
    assert!(
        taken > 1000,
        "{taken} frames took the shortcut in {} captures",
        bundled.len()
    );
}

/// A TCP header's checks come in etherparse's order: fewer than 20 bytes is a truncated
/// header whatever its data offset says, then an offset below 5 words is a bad header, then
/// a header cut before its offset's end is truncated.
#[test]
fn tcp_header_checks_keep_their_order() {
    let cases = [
        (18, 0x40, DecodeProblem::TruncatedTcpHeader),
        (20, 0x40, DecodeProblem::BadTcpHeader),
        (20, 0x60, DecodeProblem::TruncatedTcpHeader),
    ];
    for (len, offset, problem) in cases {
        let mut pkt = ipv4_tcp(b"");
        pkt[20 + 12] = offset;
        pkt.truncate(20 + len);
        let mut d = Decoder::new(DecodeLimits::default());
        let out = d.decode(&frame(101, &pkt));
        assert_eq!(
            out.problem,
            Some(problem),
            "{len} bytes, offset {offset:#x}"
        );
        assert!(out.transport.is_none());
    }
}
