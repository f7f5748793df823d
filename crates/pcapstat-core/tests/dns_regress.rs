//! DNS retries, `waited` and ICMP errors on the regression captures of `testdata/regress/dns/`
//! (made by `scripts/make-regress-dns.py`, which stores tshark's view of each file beside it as
//! `<name>.tshark.tsv`), through the whole pipeline as `pcapstat analyze` runs it.
//!
//! Oracle: tshark's `dns.response_in` / `dns.time` (which query each response answers, and the
//! latency) and `dns.retransmission` / `dns.retransmit_request_in` (a query resent on the same
//! socket with the same id). tshark links a retransmission only within one UDP conversation, so
//! a retry on a new socket (dig, glibc's next nameserver: same id, new port) is ours alone:
//! those are listed in `NEW_SOCKET_RETRIES` with the client behaviour they stand for.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;

use pcapstat_core::DnsRecord;

mod common;

/// Retries tshark does not link (a new socket with the same id): (capture, frame, frame it
/// retries), 1-based frame numbers as tshark prints them.
const NEW_SOCKET_RETRIES: &[(&str, u64, u64)] = &[
    // glibc: the same query (same id) from the socket of its second nameserver after 5 s
    ("retries", 7, 6),
    // dig: each try on a new socket, same id
    ("waited", 5, 4),
    // glibc after ECONNREFUSED (the ICMP error): the next nameserver, same id, new socket
    ("icmp-unreachable", 3, 1),
];

fn ns(s: &str) -> i64 {
    let (a, b) = s.split_once('.').unwrap_or((s, "0"));
    let frac = format!("{b:0<9}");
    a.parse::<i64>().unwrap() * 1_000_000_000 + frac[..9].parse::<i64>().unwrap()
}

fn records(name: &str) -> (Vec<DnsRecord>, Vec<BTreeMap<String, String>>) {
    let dir = common::testdata().join("regress/dns");
    let dns = common::analyze(&dir.join(format!("{name}.pcap"))).dns;
    let tshark = common::tsv(&dir.join(format!("{name}.tshark.tsv")));
    (dns, tshark)
}

fn by_frame(dns: &[DnsRecord], frame: u64) -> &DnsRecord {
    dns.iter()
        .find(|d| d.query_frame + 1 == frame)
        .unwrap_or_else(|| panic!("no record for frame {frame}"))
}

/// Every tshark query is ours (same frame, id); tshark's answers, latencies and same-socket
/// retransmissions are ours; our other retries are exactly the listed new-socket ones.
fn agrees_with_tshark(name: &str) {
    let (dns, tshark) = records(name);
    let time: BTreeMap<u64, i64> = tshark
        .iter()
        .map(|r| {
            (
                r["frame.number"].parse().unwrap(),
                ns(&r["frame.time_epoch"]),
            )
        })
        .collect();
    let mut tshark_retries = Vec::new();
    let mut queries = 0;
    for row in &tshark {
        // tshark dissects the datagram an ICMP error quotes as a query: not one.
        if !row["icmp.type"].is_empty() || row["dns.flags.response"] != "0" {
            continue;
        }
        queries += 1;
        let frame: u64 = row["frame.number"].parse().unwrap();
        let ours = by_frame(&dns, frame);
        assert_eq!(
            format!("{:#06x}", ours.id),
            row["dns.id"],
            "{name} frame {frame}"
        );
        if let Ok(resp) = row["dns.response_in"].parse::<u64>() {
            assert!(ours.answered(), "{name} frame {frame}: tshark answers it");
            assert_eq!(ours.response_ts, time.get(&resp).copied(), "{name} {frame}");
        }
        if row["dns.retransmission"] == "1" {
            let first: u64 = row["dns.retransmit_request_in"].parse().unwrap();
            tshark_retries.push((frame, first));
        }
    }
    assert_eq!(queries, dns.len(), "{name}: one record per query");
    // tshark's dns.time on each response = the latency of the earliest query it answered.
    for row in tshark.iter().filter(|r| !r["dns.time"].is_empty()) {
        let ts = ns(&row["frame.time_epoch"]);
        let first = dns
            .iter()
            .filter(|d| d.response_ts == Some(ts))
            .min_by_key(|d| d.query_ts)
            .unwrap();
        assert_eq!(first.latency_ns, Some(ns(&row["dns.time"])), "{name}");
    }
    // Ours: tshark's retransmissions plus the new-socket retries, nothing else.
    let mut expected: Vec<(u64, u64)> = tshark_retries;
    expected.extend(
        NEW_SOCKET_RETRIES
            .iter()
            .filter(|(n, _, _)| *n == name)
            .map(|&(_, f, of)| (f, of)),
    );
    expected.sort_unstable();
    let ours: Vec<(u64, u64)> = dns
        .iter()
        .filter_map(|d| d.retry_of.map(|of| (d.query_frame + 1, of + 1)))
        .collect();
    assert_eq!(ours, expected, "{name}: (retry, of) frames");
}

/// (a) Two client processes asking the same name are not retries of each other (before: the
/// second process's query was `retry_of` the first's, and the first process's real retry on
/// its own socket was missed); glibc's retry on the socket of its second nameserver is one.
#[test]
fn retries_are_the_same_client_re_asking() {
    agrees_with_tshark("retries");
    let (dns, _) = records("retries");
    assert_eq!(by_frame(&dns, 2).retry_of, None, "another process");
    assert_eq!(by_frame(&dns, 4).retry_of, Some(0), "same socket, same id");
    assert_eq!(
        by_frame(&dns, 7).retry_of,
        Some(5),
        "glibc, next nameserver"
    );
    assert_eq!(dns.iter().filter(|d| d.retry_of.is_some()).count(), 2);
    // The unanswered first tries waited until their retries.
    assert_eq!(by_frame(&dns, 6).waited_ns, Some(5_000_000_000));
}

/// (b) `waited` of an unanswered query ends at its own retry, else at the retry window (10 s)
/// or the end of the capture; never at an unrelated query (before: 0.5 s, up to the next
/// query of another tool; and 20 s for the dig retry followed by unrelated traffic).
#[test]
fn waited_is_bounded_by_related_events() {
    agrees_with_tshark("waited");
    let (dns, _) = records("waited");
    let f1 = by_frame(&dns, 1);
    assert_eq!(f1.waited_ns, Some(10_000_000_000), "retry window");
    assert_eq!(by_frame(&dns, 2).retry_of, None, "another tool");
    assert_eq!(
        by_frame(&dns, 4).waited_ns,
        Some(2_000_000_000),
        "to its retry"
    );
    assert_eq!(by_frame(&dns, 5).waited_ns, Some(10_000_000_000));
    assert_eq!(by_frame(&dns, 6).retry_of, None, "20 s later: not a retry");
    assert_eq!(dns.iter().filter(|d| d.retry_of.is_some()).count(), 1);
}

/// (c) An ICMP port unreachable is not an answer: no response time, no latency, its own
/// column; glibc's next query (new socket, same id) is a retry.
#[test]
fn icmp_error_is_not_an_answer() {
    agrees_with_tshark("icmp-unreachable");
    let (dns, _) = records("icmp-unreachable");
    let q = by_frame(&dns, 1);
    assert!(q.icmp_unreachable);
    assert!(!q.answered() && !q.unanswered());
    assert_eq!((q.response_ts, q.latency_ns, q.rcode), (None, None, None));
    assert_eq!(q.icmp_error_ns, Some(200_000));
    assert_eq!(q.waited_ns, None);
    let retry = by_frame(&dns, 3);
    assert_eq!(retry.retry_of, Some(0));
    assert_eq!(retry.latency_ns, Some(230_000));
    assert_eq!(retry.icmp_error_ns, None);
}
