#![allow(clippy::unwrap_used)]

use super::*;
use crate::tcp::Direction::{ClientToServer as C2S, ServerToClient as S2C};
use crate::tcp::StreamSink;

fn ep(ip: &str, port: u16) -> Endpoint {
    Endpoint {
        ip: ip.parse().unwrap(),
        port,
    }
}

fn name(n: &str) -> Vec<u8> {
    let mut out = Vec::new();
    for l in n.split('.').filter(|l| !l.is_empty()) {
        out.push(l.len() as u8);
        out.extend_from_slice(l.as_bytes());
    }
    out.push(0);
    out
}

fn query(id: u16, qname: &str, qtype: u16) -> Vec<u8> {
    let mut m = id.to_be_bytes().to_vec();
    m.extend_from_slice(&[0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]);
    m.extend(name(qname));
    m.extend_from_slice(&qtype.to_be_bytes());
    m.extend_from_slice(&[0, 1]);
    m
}

/// A response to `query(id, qname, qtype)` with A answers (compressed names) and flags.
fn response(id: u16, qname: &str, qtype: u16, rcode: u8, tc: bool, addrs: &[[u8; 4]]) -> Vec<u8> {
    let mut m = query(id, qname, qtype);
    m[2] = 0x81 | if tc { 0x02 } else { 0 };
    m[3] = 0x80 | rcode;
    m[7] = addrs.len() as u8;
    for a in addrs {
        m.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4]);
        m.extend_from_slice(a);
    }
    m
}

#[test]
fn message_fields() {
    let m =
        DnsMessage::parse(&response(7, "WWW.Example.com", 1, 3, true, &[[1, 2, 3, 4]])).unwrap();
    assert_eq!(m.id, 7);
    assert!(m.response);
    assert!(m.truncated);
    assert_eq!(m.rcode, 3);
    assert_eq!(m.opcode, 0);
    assert_eq!(m.qname.as_deref(), Some("www.example.com"));
    assert_eq!(m.qtype, Some(1));
    assert_eq!(m.answer_count, 1);
    assert_eq!(m.addresses, vec!["1.2.3.4".parse::<IpAddr>().unwrap()]);
    assert!(m.records_decoded);

    let root = DnsMessage::parse(&query(1, "", 2)).unwrap();
    assert_eq!(root.qname.as_deref(), Some("."));
    assert!(matches!(
        DnsMessage::parse(b"\x00\x01\x02"),
        Err(DnsError::TooShort { len: 3 })
    ));
}

#[test]
fn a_cut_response_keeps_header_and_question() {
    let full = response(9, "a.test", 1, 0, false, &[[1, 1, 1, 1], [2, 2, 2, 2]]);
    let m = DnsMessage::parse(&full[..full.len() - 3]).unwrap();
    assert!(!m.records_decoded);
    assert_eq!(m.qname.as_deref(), Some("a.test"));
    assert_eq!(m.answer_count, 2);
    assert!(m.addresses.is_empty());
}

#[test]
fn every_prefix_and_random_bytes_never_panic() {
    let full = response(9, "a.b.c.test", 28, 0, false, &[[1, 1, 1, 1], [2, 2, 2, 2]]);
    for n in 0..=full.len() {
        let _ = DnsMessage::parse(&full[..n]);
    }
    let mut s = 0x2545_f491_4f6c_dd1du64;
    for _ in 0..20_000 {
        crate::testing::xorshift(&mut s);
        let len = (s % 80) as usize;
        let mut bytes: Vec<u8> = (0..len)
            .map(|k| (s.rotate_left(k as u32 * 7) ^ k as u64) as u8)
            .collect();
        if len > 12 && s & 1 == 0 {
            // Plausible header, random body: exercises name decoding.
            bytes[4..12].copy_from_slice(&[0, 1, 0, 2, 0, 0, 0, 1]);
        }
        let _ = DnsMessage::parse(&bytes);
        let mut t = DnsTcpParser::new();
        t.on_data(0, C2S, &bytes);
        let mut tr = DnsTracker::new(DnsConfig::default());
        tr.on_udp(0, 0, ep("1.1.1.1", 1), ep("2.2.2.2", 53), &bytes);
        let _ = tr.finish(1);
    }
}

#[test]
fn query_and_response_with_latency() {
    let (c, s) = (ep("10.0.0.1", 4000), ep("10.0.0.2", 53));
    let mut t = DnsTracker::new(DnsConfig::default());
    t.on_udp(100, 0, c, s, &query(1, "a.test", 1));
    t.on_udp(
        350,
        1,
        s,
        c,
        &response(1, "a.test", 1, 0, false, &[[9, 9, 9, 9]]),
    );
    let (r, stats) = t.finish(1000);
    assert_eq!(r.len(), 1);
    let r = &r[0];
    assert_eq!((r.client_ip, r.client_port), (c.ip, c.port));
    assert_eq!((r.server_ip, r.server_port), (s.ip, s.port));
    assert_eq!(r.transport, DnsTransport::Udp);
    assert_eq!(r.latency_ns, Some(250));
    assert_eq!(r.response_ts, Some(350));
    assert_eq!(r.rcode, Some(crate::Rcode(0)));
    assert_eq!(r.answers, Some(1));
    assert_eq!(r.truncated, Some(false));
    assert_eq!(r.addresses, vec!["9.9.9.9".parse::<IpAddr>().unwrap()]);
    assert_eq!(r.waited_ns, None);
    assert_eq!(r.retry_of, None);
    assert_eq!(stats.messages, 2);
}

#[test]
fn response_must_match_endpoints_id_and_question() {
    let (c, s) = (ep("10.0.0.1", 4000), ep("10.0.0.2", 53));
    let mut t = DnsTracker::new(DnsConfig::default());
    t.on_udp(100, 0, c, s, &query(1, "a.test", 1));
    t.on_udp(200, 1, s, c, &response(2, "a.test", 1, 0, false, &[]));
    t.on_udp(210, 2, s, c, &response(1, "b.test", 1, 0, false, &[]));
    t.on_udp(
        220,
        3,
        ep("10.0.0.3", 53),
        c,
        &response(1, "a.test", 1, 0, false, &[]),
    );
    t.on_udp(
        230,
        4,
        s,
        ep("10.0.0.1", 4001),
        &response(1, "a.test", 1, 0, false, &[]),
    );
    let (r, stats) = t.finish(1000);
    assert_eq!(r[0].response_ts, None);
    assert_eq!(r[0].waited_ns, Some(900));
    assert_eq!(stats.unmatched_responses, 4);
}

#[test]
fn retries_to_same_and_other_server_then_answer() {
    let c1 = ep("10.0.0.1", 4000);
    let c2 = ep("10.0.0.1", 4001);
    let (s1, s2) = (ep("10.0.0.2", 53), ep("10.0.0.3", 53));
    let mut t = DnsTracker::new(DnsConfig::default());
    // Fed out of order on purpose: the tracker sorts by time.
    t.on_udp(
        5_000,
        12,
        s2,
        c2,
        &response(1, "a.test", 1, 0, false, &[[1, 2, 3, 4]]),
    );
    t.on_udp(1_000, 10, c1, s1, &query(1, "a.test", 1));
    t.on_udp(2_000, 11, c1, s1, &query(1, "a.test", 1)); // same socket, same id
    t.on_udp(3_000, 11, c2, s2, &query(1, "a.test", 1)); // next server: new socket, same id
    t.on_udp(3_500, 13, c1, s1, &query(3, "other.test", 1));
    let (r, _) = t.finish(10_000);
    assert_eq!(r.len(), 4);
    assert_eq!(r[0].retry_of, None);
    assert_eq!(r[0].waited_ns, Some(1_000));
    assert_eq!(r[1].retry_of, Some(10));
    assert_eq!(r[1].waited_ns, Some(1_000));
    assert_eq!(r[2].retry_of, Some(11));
    assert_eq!(r[2].latency_ns, Some(2_000));
    assert_eq!(r[2].server_ip, s2.ip);
    assert_eq!(r[3].qname, "other.test");
    assert_eq!(r[3].waited_ns, Some(6_500));
}

#[test]
fn another_process_is_not_a_retry() {
    let s = ep("10.0.0.2", 53);
    let mut t = DnsTracker::new(DnsConfig::default());
    t.on_udp(1_000, 0, ep("10.0.0.1", 4000), s, &query(1, "a.test", 1));
    // Another port and another id: another client process.
    t.on_udp(2_000, 1, ep("10.0.0.1", 4001), s, &query(2, "a.test", 1));
    // The same socket, a new id: the same process re-asking.
    t.on_udp(3_000, 2, ep("10.0.0.1", 4000), s, &query(3, "a.test", 1));
    // Another address with the same port and id: another client.
    t.on_udp(3_500, 3, ep("10.0.0.9", 4000), s, &query(3, "a.test", 1));
    // The same id from a new socket, but another question (type, then class).
    t.on_udp(3_600, 4, ep("10.0.0.1", 4002), s, &query(1, "a.test", 28));
    let mut chaos = query(1, "a.test", 1);
    let n = chaos.len();
    chaos[n - 1] = 3;
    t.on_udp(3_700, 5, ep("10.0.0.1", 4003), s, &chaos);
    let (r, _) = t.finish(10_000);
    let retries: Vec<_> = r.iter().map(|r| r.retry_of).collect();
    assert_eq!(retries, [None, None, Some(0), None, None, None]);
    // The first query waited until its retry, the second until the end (no retry of its own).
    assert_eq!(r[0].waited_ns, Some(2_000));
    assert_eq!(r[1].waited_ns, Some(8_000));
}

#[test]
fn retry_window_bounds_retries_and_waited() {
    let (c, s) = (ep("10.0.0.1", 4000), ep("10.0.0.2", 53));
    let mut t = DnsTracker::new(DnsConfig::default().with_retry_window_ns(1_000));
    t.on_udp(1_000, 0, c, s, &query(1, "a.test", 1));
    t.on_udp(2_000, 1, c, s, &query(1, "a.test", 1)); // 1 000 after: a retry
    t.on_udp(3_001, 2, c, s, &query(1, "a.test", 1)); // 1 001 after: not one
    t.on_udp(3_500, 3, s, c, &response(1, "a.test", 1, 0, false, &[]));
    t.on_udp(3_600, 4, c, s, &query(1, "a.test", 1)); // after the answer: not one
    let (r, _) = t.finish(100_000);
    let retries: Vec<_> = r.iter().map(|r| r.retry_of).collect();
    assert_eq!(retries, [None, Some(0), None, None]);
    assert_eq!(r[3].waited_ns, Some(1_000), "capped by the window");
    assert_eq!(DnsConfig::default().retry_window_ns, 10_000_000_000);
}

#[test]
fn a_chain_of_retries_links_each_to_the_previous_try() {
    let s = ep("10.0.0.2", 53);
    let mut t = DnsTracker::new(DnsConfig::default());
    // dig +tries=3: a new socket each try, the same id.
    for (k, port) in [4000u16, 4001, 4002].into_iter().enumerate() {
        let k = k as i64;
        t.on_udp(
            k * 1_000,
            k as u64,
            ep("10.0.0.1", port),
            s,
            &query(7, "a.test", 1),
        );
    }
    let (r, _) = t.finish(2_500);
    let retries: Vec<_> = r.iter().map(|r| r.retry_of).collect();
    assert_eq!(retries, [None, Some(0), Some(1)]);
    let waited: Vec<_> = r.iter().map(|r| r.waited_ns).collect();
    assert_eq!(waited, [Some(1_000), Some(1_000), Some(500)]);
}

#[test]
fn identical_resent_queries_are_all_answered() {
    let (c, s) = (ep("10.0.0.1", 4000), ep("10.0.0.2", 53));
    let mut t = DnsTracker::new(DnsConfig::default());
    t.on_udp(1_000, 0, c, s, &query(5, "a.test", 1));
    t.on_udp(2_000, 1, c, s, &query(5, "a.test", 1));
    t.on_udp(2_500, 2, s, c, &response(5, "a.test", 1, 0, false, &[]));
    let (r, stats) = t.finish(10_000);
    assert_eq!(
        r[0].latency_ns,
        Some(1_500),
        "first query, as tshark's dns.time"
    );
    assert_eq!(
        r[1].latency_ns,
        Some(500),
        "the last resend: tshark's dns.time"
    );
    assert_eq!(r[1].retry_of, Some(0));
    assert_eq!(r[0].waited_ns, None);
    assert_eq!(stats.unmatched_responses, 0);
}

#[test]
fn truncated_udp_then_tcp_is_not_a_retry() {
    let (c, s) = (ep("10.0.0.1", 4000), ep("10.0.0.2", 53));
    let ct = ep("10.0.0.1", 4002);
    let mut t = DnsTracker::new(DnsConfig::default());
    t.on_udp(1_000, 0, c, s, &query(5, "big.test", 16));
    t.on_udp(1_200, 1, s, c, &response(5, "big.test", 16, 0, true, &[]));
    t.on_tcp_message(2_000, 5, ct, s, C2S, &query(5, "big.test", 16));
    t.on_tcp_message(
        2_600,
        7,
        ct,
        s,
        S2C,
        &response(5, "big.test", 16, 0, false, &[[1, 1, 1, 1]]),
    );
    let (r, _) = t.finish(10_000);
    assert_eq!(r[0].truncated, Some(true));
    assert_eq!(r[0].latency_ns, Some(200));
    assert_eq!(r[1].transport, DnsTransport::Tcp);
    assert_eq!(r[1].retry_of, None);
    assert_eq!(r[1].truncated, Some(false));
    assert_eq!(r[1].latency_ns, Some(600));
    assert_eq!(r[1].query_frame, 5);
}

#[test]
fn icmp_unreachable_fails_the_latest_query_of_the_socket_pair() {
    let (c, s) = (ep("10.0.0.1", 4000), ep("10.0.0.2", 5354));
    let mut t = DnsTracker::new(DnsConfig::default());
    t.on_udp(1_000, 0, c, s, &query(5, "a.test", 1));
    t.on_icmp_unreachable(1_200, 1, c, s);
    t.on_icmp_unreachable(1_300, 2, c, s);
    // glibc: the next nameserver from a new socket, the same id.
    t.on_udp(1_400, 3, ep("10.0.0.1", 4001), s, &query(5, "a.test", 1));
    // Another tool: another socket and id.
    t.on_udp(1_500, 4, ep("10.0.0.1", 4002), s, &query(6, "a.test", 1));
    let (r, stats) = t.finish(10_000);
    assert!(r[0].icmp_unreachable);
    assert!(!r[0].answered() && !r[0].unanswered());
    assert_eq!(r[0].icmp_error_ns, Some(200));
    assert_eq!((r[0].response_ts, r[0].latency_ns), (None, None));
    assert_eq!(r[0].rcode, None);
    assert_eq!(r[0].waited_ns, None);
    assert_eq!(
        r[1].retry_of,
        Some(0),
        "the same query after an ICMP error is a retry"
    );
    assert_eq!(r[2].retry_of, None);
    assert_eq!(stats.icmp_matched, 1);
    assert_eq!(stats.icmp_unmatched, 1);
}

#[test]
fn pending_queries_are_bounded() {
    let (c, s) = (ep("10.0.0.1", 4000), ep("10.0.0.2", 53));
    let mut t = DnsTracker::new(DnsConfig::default().with_max_pending(3));
    for id in 0..10u16 {
        t.on_udp(i64::from(id), u64::from(id), c, s, &query(id, "a.test", 1));
    }
    t.on_udp(20, 20, s, c, &response(0, "a.test", 1, 0, false, &[]));
    t.on_udp(21, 21, s, c, &response(9, "a.test", 1, 0, false, &[]));
    let (r, stats) = t.finish(100);
    assert_eq!(stats.pending_evicted, 7);
    assert_eq!(r[0].response_ts, None);
    assert_eq!(r[9].response_ts, Some(21));
    assert_eq!(stats.unmatched_responses, 1);
}

#[test]
fn tcp_framing_split_at_every_byte() {
    let q1 = query(1, "a.test", 1);
    let q2 = query(2, "bb.test", 28);
    let mut stream = Vec::new();
    for q in [&q1, &q2] {
        stream.extend_from_slice(&(q.len() as u16).to_be_bytes());
        stream.extend_from_slice(q);
    }
    for cut in 0..=stream.len() {
        let mut p = DnsTcpParser::new();
        p.on_data(1, C2S, &stream[..cut]);
        p.on_data(2, C2S, &stream[cut..]);
        let msgs = p.take_messages();
        assert_eq!(msgs.len(), 2, "cut {cut}");
        assert_eq!(msgs[0].bytes, q1);
        assert_eq!(msgs[1].bytes, q2);
        assert_eq!(msgs[0].ts_ns, if cut >= q1.len() + 2 { 1 } else { 2 });
        assert_eq!(msgs[1].ts_ns, if cut == stream.len() { 1 } else { 2 });
        assert_eq!(p.dropped_bytes(), 0);
    }
    // One byte at a time.
    let mut p = DnsTcpParser::new();
    for (k, b) in stream.iter().enumerate() {
        p.on_data(k as i64, S2C, std::slice::from_ref(b));
    }
    assert_eq!(p.take_messages().len(), 2);
}

#[test]
fn tcp_gap_stops_framing_that_direction() {
    let q = query(1, "a.test", 1);
    let mut framed = (q.len() as u16).to_be_bytes().to_vec();
    framed.extend_from_slice(&q);
    let mut p = DnsTcpParser::new();
    p.on_data(1, C2S, &framed[..5]);
    p.on_gap(2, C2S, 3);
    p.on_data(3, C2S, &framed);
    p.on_data(3, S2C, &framed);
    let msgs = p.take_messages();
    assert_eq!(msgs.len(), 1);
    assert_eq!(msgs[0].dir, S2C);
    assert!(p.dropped_bytes() > 0);
}

#[test]
fn icmp_errors_take_the_latest_still_waiting_query_of_the_pair() {
    let (c, s) = (ep("10.0.0.1", 4000), ep("10.0.0.2", 53));
    let mut t = DnsTracker::new(DnsConfig::default());
    t.on_udp(1_000, 0, c, s, &query(1, "a.test", 1));
    t.on_udp(1_100, 1, c, s, &query(2, "b.test", 1));
    t.on_udp(1_200, 2, c, s, &query(3, "c.test", 1));
    t.on_udp(1_300, 3, s, c, &response(3, "c.test", 1, 0, false, &[]));
    t.on_icmp_unreachable(1_400, 4, c, s); // query 2: the latest still waiting
    t.on_icmp_unreachable(1_500, 5, c, s); // query 1
    t.on_icmp_unreachable(1_600, 6, c, s); // none left
    let (r, stats) = t.finish(10_000);
    assert_eq!(r[1].icmp_error_ns, Some(300));
    assert_eq!(r[0].icmp_error_ns, Some(500));
    assert!(r[2].answered() && r[2].icmp_error_ns.is_none());
    assert_eq!((stats.icmp_matched, stats.icmp_unmatched), (2, 1));
}

#[test]
fn many_icmp_errors_against_many_waiting_queries_stay_linear() {
    // Each ICMP error looks up its socket pair only (it used to scan every waiting query).
    let s = ep("10.0.0.2", 53);
    let mut t = DnsTracker::new(DnsConfig::default());
    let n = 30_000u16;
    for k in 0..n {
        let c = ep("10.0.0.1", 1024 + k);
        t.on_udp(i64::from(k), u64::from(k), c, s, &query(k, "a.test", 1));
    }
    for k in 0..n {
        let c = ep("10.0.0.9", 1024 + k); // quoting nothing that waits
        t.on_icmp_unreachable(100_000 + i64::from(k), 100_000 + u64::from(k), c, s);
    }
    t.on_icmp_unreachable(200_000, 200_000, ep("10.0.0.1", 1024), s);
    let (r, stats) = t.finish(300_000);
    assert_eq!(stats.icmp_unmatched, u64::from(n));
    assert_eq!(stats.icmp_matched, 1);
    assert!(r[0].icmp_unreachable);
}

/// Issue #14: many queries sharing one (client, server, id) are matched in O(1) each (keyed
/// down to the question): 100 000 queries with one id, every other answered, each answer
/// finds its own query. The old list scan did 2.5e9 comparisons here (minutes in a debug
/// build); a regression makes this test time out rather than pass slowly.
#[test]
fn shared_ids_match_in_constant_work() {
    let (c, s) = (ep("10.0.0.1", 40000), ep("10.0.0.53", 53));
    let mut t = DnsTracker::new(DnsConfig::default());
    let n = 100_000u64;
    for k in 0..n {
        let q = format!("q{k}.example");
        let ts = 1_000_000 * k as i64;
        t.on_udp(ts, 2 * k, c, s, &query(0x1234, &q, 1));
        if k % 2 == 0 {
            t.on_udp(
                ts + 500,
                2 * k + 1,
                s,
                c,
                &response(0x1234, &q, 1, 0, false, &[[192, 0, 2, 1]]),
            );
        }
    }
    let (recs, stats) = t.finish(1_000_000 * n as i64);
    assert_eq!(recs.len() as u64, n);
    assert_eq!(stats.unmatched_responses, 0);
    for (k, r) in recs.iter().enumerate() {
        assert_eq!(r.qname, format!("q{k}.example"));
        assert_eq!(r.latency_ns, (k % 2 == 0).then_some(500), "{k}");
    }
    // Evictions at max_pending and ICMP errors drop entries lazily, still O(1) each.
    let mut t = DnsTracker::new(DnsConfig::default().with_max_pending(10));
    for k in 0..50_000u64 {
        t.on_udp(k as i64, k, c, s, &query(7, "same.example", 1));
    }
    t.on_udp(
        60_000,
        60_000,
        s,
        c,
        &response(7, "same.example", 1, 0, false, &[]),
    );
    let (recs, stats) = t.finish(100_000);
    assert_eq!(stats.pending_evicted, 50_000 - 10);
    assert_eq!(recs.iter().filter(|r| r.response_ts.is_some()).count(), 10);
}

#[test]
fn retry_candidates_are_forgotten_past_the_window_or_the_bound() {
    let (c, s) = (ep("10.0.0.1", 4000), ep("10.0.0.2", 53));
    // Past the window: forgetting changes nothing (a try that old is no candidate anyway).
    let mut t = DnsTracker::new(DnsConfig::default().with_retry_window_ns(1_000));
    for k in 0..100u16 {
        let ts = i64::from(k) * 100;
        t.on_udp(ts, u64::from(k), c, s, &query(k, &format!("q{k}.test"), 1));
    }
    t.on_udp(10_000, 100, c, s, &query(99, "q99.test", 1)); // 100 after q99: its retry
    t.on_udp(10_001, 101, c, s, &query(0, "q0.test", 1)); // 10 001 after q0: not one
    let (r, stats) = t.finish(20_000);
    assert_eq!(r[100].retry_of, Some(99));
    assert_eq!(r[101].retry_of, None);
    assert_eq!(
        stats.retry_candidates_evicted, 0,
        "forgotten for their age: not a limit"
    );
    // Beyond `max_pending` questions within the window: the oldest are forgotten, counted.
    let mut t = DnsTracker::new(DnsConfig::default().with_max_pending(3));
    for k in 0..5u16 {
        t.on_udp(
            i64::from(k),
            u64::from(k),
            c,
            s,
            &query(k, &format!("q{k}.test"), 1),
        );
    }
    t.on_udp(10, 5, c, s, &query(0, "q0.test", 1));
    t.on_udp(11, 6, c, s, &query(4, "q4.test", 1));
    let (r, stats) = t.finish(100);
    assert_eq!(r[5].retry_of, None, "q0 was forgotten");
    assert_eq!(r[6].retry_of, Some(4));
    assert_eq!(
        stats.retry_candidates_evicted, 4,
        "q0, q1, q2 and q3, each as the bound passed"
    );
}

#[test]
fn events_fed_out_of_time_order_are_matched_in_time_order() {
    let (c, s) = (ep("10.0.0.1", 4000), ep("10.0.0.2", 53));
    let events = [
        (1_000, 0, c, s, query(1, "a.test", 1)),
        (1_500, 1, c, s, query(2, "b.test", 1)),
        (2_000, 2, c, s, query(1, "a.test", 1)),
        (
            2_500,
            3,
            s,
            c,
            response(1, "a.test", 1, 0, false, &[[10, 0, 0, 9]]),
        ),
        (3_000, 4, s, c, response(2, "b.test", 1, 3, false, &[])),
    ];
    let run = |order: &[usize]| {
        let mut t = DnsTracker::new(DnsConfig::default());
        for &k in order {
            let (ts, frame, src, dst, bytes) = &events[k];
            t.on_udp(*ts, *frame, *src, *dst, bytes);
        }
        format!("{:?}", t.finish(10_000))
    };
    let in_order = run(&[0, 1, 2, 3, 4]);
    assert!(in_order.contains("retry_of: Some(0)"), "{in_order}");
    assert_eq!(run(&[4, 2, 0, 3, 1]), in_order);
    assert_eq!(run(&[1, 0, 3, 2, 4]), in_order);
}

const SEC: i64 = 1_000_000_000;

#[test]
fn records_leave_once_final_while_the_capture_is_read() {
    let (c, s) = (ep("10.0.0.1", 4000), ep("10.0.0.2", 53));
    let cfg = DnsConfig::default().with_retry_window_ns(5 * SEC);
    let mut t = DnsTracker::new(cfg);
    t.on_udp(0, 0, c, s, &query(1, "a.test", 1));
    t.on_udp(SEC, 1, c, s, &query(2, "b.test", 1));
    t.on_udp(
        SEC / 2,
        2,
        s,
        c,
        &response(1, "a.test", 1, 0, false, &[[10, 0, 0, 9]]),
    );
    // Within the reordering window (2 s) nothing is matched yet.
    assert!(t.take_records().is_empty());
    assert_eq!(t.matched_upto(), Some(SEC - 2 * SEC));
    // The capture goes on: the answered query is final at once.
    t.advance(3 * SEC);
    let r = t.take_records();
    assert_eq!(r.len(), 1);
    assert_eq!(
        (r[0].qname.as_str(), r[0].latency_ns),
        ("a.test", Some(SEC / 2))
    );
    assert_eq!(t.matched_upto(), Some(SEC));
    // The unanswered one leaves once no retry can take it and it stopped waiting: not while
    // it waits for a response...
    t.advance(20 * SEC);
    assert!(t.take_records().is_empty());
    // ... but its answer, however late, still finds it.
    t.on_udp(19 * SEC, 3, s, c, &response(2, "b.test", 1, 3, false, &[]));
    t.advance(22 * SEC);
    let r = t.take_records();
    assert_eq!(r.len(), 1);
    assert_eq!(r[0].latency_ns, Some(18 * SEC));
    let (rest, stats) = t.finish(30 * SEC);
    assert!(rest.is_empty());
    assert_eq!(stats.late_messages, 0);
}

#[test]
fn an_unanswered_query_leaves_when_it_stops_waiting_and_the_retry_window_passed() {
    let (c, s) = (ep("10.0.0.1", 4000), ep("10.0.0.2", 53));
    let cfg = DnsConfig::default().with_retry_window_ns(5 * SEC);
    let mut t = DnsTracker::new(cfg);
    t.on_udp(0, 0, c, s, &query(1, "a.test", 1));
    // An ICMP error makes it stop waiting; it is still a retry candidate for 5 s.
    t.on_icmp_unreachable(SEC / 10, 1, c, s);
    t.advance(4 * SEC);
    assert!(t.take_records().is_empty());
    t.advance(8 * SEC);
    let r = t.take_records();
    assert_eq!(r.len(), 1);
    assert!(r[0].icmp_unreachable);
    assert_eq!(r[0].icmp_error_ns, Some(SEC / 10));
    // A later try of it is no retry (the window passed).
    t.on_udp(9 * SEC, 2, c, s, &query(1, "a.test", 1));
    let (r, stats) = t.finish(10 * SEC);
    assert_eq!(r.len(), 1);
    assert_eq!(r[0].retry_of, None);
    assert_eq!(r[0].waited_ns, Some(SEC));
    assert_eq!(stats.icmp_matched, 1);
}

#[test]
fn messages_later_than_the_reordering_window_are_counted_and_still_matched() {
    let (c, s) = (ep("10.0.0.1", 4000), ep("10.0.0.2", 53));
    let mut t = DnsTracker::new(DnsConfig::default());
    t.on_udp(10 * SEC, 0, c, s, &query(1, "a.test", 1));
    t.advance(20 * SEC);
    // Ten seconds back in time: matched as it comes.
    t.on_udp(
        10 * SEC + 300,
        1,
        s,
        c,
        &response(1, "a.test", 1, 0, false, &[[10, 0, 0, 9]]),
    );
    let (r, stats) = t.finish(30 * SEC);
    assert_eq!(stats.late_messages, 1);
    assert_eq!(r[0].latency_ns, Some(300));
}

#[test]
fn the_reordering_bound_matches_the_oldest_early() {
    let (c, s) = (ep("10.0.0.1", 4000), ep("10.0.0.2", 53));
    let run = |cfg: DnsConfig| {
        let mut t = DnsTracker::new(cfg);
        for k in 0..100u16 {
            let ts = i64::from(k) * 1_000;
            let name = format!("n{k}.test");
            t.on_udp(ts, u64::from(k) * 2, c, s, &query(k, &name, 1));
            t.on_udp(
                ts + 500,
                u64::from(k) * 2 + 1,
                s,
                c,
                &response(k, &name, 1, 0, false, &[[10, 0, 0, 9]]),
            );
        }
        // The queue holds at most `max_reorder` events.
        assert!(t.queue.len() <= cfg.max_reorder);
        t.finish(1_000_000)
    };
    let (all, stats) = run(DnsConfig::default());
    assert_eq!(stats.reorder_early, 0);
    let (bounded, stats) = run(DnsConfig::default().with_max_reorder(4));
    assert_eq!(stats.reorder_early, 196);
    // In time order, matching early changes nothing.
    assert_eq!(bounded, all);
    assert!(all.iter().all(|r| r.latency_ns == Some(500)));
}

#[test]
fn lookups_keep_the_start_of_their_retry_chain_and_are_bounded() {
    let s = ep("10.0.0.2", 53);
    let cfg = DnsConfig::default().with_max_lookups(2);
    let mut t = DnsTracker::new(cfg);
    let client: IpAddr = "10.0.0.1".parse().unwrap();
    let addr: IpAddr = "10.0.0.9".parse().unwrap();
    // Two tries of a.test (the second answered), then b.test and c.test.
    t.on_udp(0, 0, ep("10.0.0.1", 4000), s, &query(7, "a.test", 1));
    t.on_udp(1_000, 1, ep("10.0.0.1", 4001), s, &query(7, "a.test", 1));
    let answer = response(7, "a.test", 1, 0, false, &[[10, 0, 0, 9]]);
    t.on_udp(1_500, 2, s, ep("10.0.0.1", 4001), &answer);
    t.advance(10 * SEC);
    let a = t.lookups().find("a.test", client, addr, 2_000).unwrap();
    assert_eq!((a.start_ts, a.response_ts, a.query_frame), (0, 1_500, 1));
    assert!(t.lookups().find("a.test", client, addr, 1_000).is_none());
    for (k, name) in ["b.test", "c.test"].into_iter().enumerate() {
        let ts = 11 * SEC + k as i64;
        let frame = 3 + 2 * k as u64;
        t.on_udp(ts, frame, ep("10.0.0.1", 4002), s, &query(8, name, 1));
        let answer = response(8, name, 1, 0, false, &[[10, 0, 0, 9]]);
        t.on_udp(ts, frame + 1, s, ep("10.0.0.1", 4002), &answer);
    }
    t.advance(20 * SEC);
    // Two kept: a.test, the oldest, was forgotten.
    assert!(t.lookups().find("a.test", client, addr, 20 * SEC).is_none());
    assert!(t.lookups().find("c.test", client, addr, 20 * SEC).is_some());
    assert_eq!(t.stats().lookups_forgotten, 1);
}

#[test]
fn what_the_matcher_holds_is_bounded_by_its_limits() {
    let s = ep("10.0.0.2", 53);
    let cfg = DnsConfig::default()
        .with_max_pending(100)
        .with_max_reorder(64);
    let mut t = DnsTracker::new(cfg);
    let mut taken = 0;
    for k in 0..20_000u64 {
        let name = format!("q{k}.test");
        t.on_udp(k as i64, k, ep("10.0.0.1", 4000), s, &query(1, &name, 1));
        taken += t.take_records().len();
        assert!(t.m.recs.len() <= 200, "{} live at {k}", t.m.recs.len());
        assert!(t.queue.len() <= 64);
    }
    let (rest, stats) = t.finish(30_000);
    assert_eq!(taken + rest.len(), 20_000);
    assert!(taken >= 19_700, "{taken}");
    assert_eq!(stats.pending_evicted, 20_000 - 100);
}

/// What the matching maps hold is the queries still waiting, not the capture's sockets or
/// questions: a resolver takes a new source port (a new socket pair) for every query, and a
/// question resent many times with one id leaves a long list. Answered, evicted and failed
/// queries leave their lists, and emptied lists their entries (a socket pair used to stay for
/// the whole capture: 1 M unanswered queries from distinct sockets, 204 MB of pairs).
#[test]
fn matching_maps_hold_only_what_still_waits() {
    fn small_maps(m: &super::Matcher, k: u64) {
        assert!(
            m.pending.len() <= 120,
            "{} keys pending at {k}",
            m.pending.len()
        );
        assert!(
            m.udp_pairs.len() <= 120,
            "{} socket pairs at {k}",
            m.udp_pairs.len()
        );
    }
    let s = ep("10.0.0.2", 53);
    let client = |k: u64| {
        ep(
            &format!("10.1.{}.{}", (k >> 8) & 255, k & 255),
            1024 + (k % 60_000) as u16,
        )
    };
    let cfg = DnsConfig::default()
        .with_max_pending(100)
        .with_max_reorder(16);
    let mut t = DnsTracker::new(cfg);
    let mut taken = 0;
    let n = 20_000u64;
    for k in 0..n {
        let name = format!("q{k}.test");
        let c = client(k);
        let id = (k & 0xffff) as u16;
        t.on_udp(2 * k as i64, 2 * k, c, s, &query(id, &name, 1));
        // Every other query answered; the rest evicted at max_pending.
        if k % 2 == 0 {
            t.on_udp(
                2 * k as i64 + 1,
                2 * k + 1,
                s,
                c,
                &response(id, &name, 1, 0, false, &[[1, 2, 3, 4]]),
            );
        }
        // ... and every 7th waiting one failed by ICMP.
        if k % 14 == 7 {
            t.on_icmp_unreachable(2 * k as i64 + 1, 2 * k + 1, c, s);
        }
        taken += t.take_records().len();
        small_maps(&t.m, k);
    }
    // One question resent 40 times on one socket with one id, for many sockets, never answered:
    // long lists, all evicted.
    for k in 0..2_000u64 {
        let c = client(n + k);
        for r in 0..40u64 {
            let at = (2 * n + 40 * k + r) as i64;
            t.on_udp(at, at as u64, c, s, &query(7, "resent.test", 1));
        }
        let m = &t.m;
        small_maps(m, k);
        let held: usize = m
            .pending
            .values()
            .flat_map(|q| q.values())
            .map(|l| l.len())
            .sum();
        assert!(held <= 400, "{held} entries in the pending lists at {k}");
    }
    let (rest, stats) = t.finish(10 * n as i64);
    assert_eq!(taken + rest.len(), n as usize + 80_000);
    assert!(stats.pending_evicted > 0 && stats.icmp_matched > 0);
}
