//! The whole pipeline (TCP, TLS, HTTP, DNS, the request join) against curl's own timings on the
//! lab captures (`testdata/expected/lab_curl`, from `gt_curl.jsonl`), with the tolerances of
//! the lab README ("Tolerances for comparing pcapstat with the clients' own timings"):
//!
//! * every clear-text curl transfer (HTTP/1.1, and HTTP/2 h2c with prior knowledge) is exactly
//!   one http row, found by client port (in order on a kept-alive connection); `reused` agrees
//!   with curl's `num_connects` (HTTPS rows need the TLS key log: not compared yet);
//! * connect (new connections): `time_connect - time_namelookup` vs `connect`, median |diff| <
//!   1 ms, each < 5 ms;
//! * connect + TLS (HTTPS): `time_appconnect - time_namelookup` vs first SYN → TLS handshake done,
//!   median < 2 ms, each < 6 ms;
//! * time to first byte: `time_starttransfer - time_pretransfer` vs `wait`, median < 1 ms;
//! * total: `time_total - time_pretransfer` vs `send + wait + receive`, median < 1 ms.
#![allow(clippy::unwrap_used)]

use pcapstat_core::{ConnectionRecord, HttpRecord};
use std::collections::BTreeMap;

mod common;

fn secs_ns(s: &str) -> i64 {
    (s.parse::<f64>().unwrap() * 1e9).round() as i64
}

fn median_abs(v: &[i64]) -> i64 {
    let mut a: Vec<i64> = v.iter().map(|d| d.abs()).collect();
    a.sort_unstable();
    a.get(a.len() / 2).copied().unwrap_or(0)
}

#[derive(Default)]
struct Diffs {
    connect: Vec<i64>,
    connect_tls: Vec<i64>,
    ttfb: Vec<i64>,
    total: Vec<i64>,
}

#[test]
fn http_rows_and_phases_agree_with_curl() {
    need_shared!();
    let mut d = Diffs::default();
    let mut transfers = 0;
    let mut table = String::new();
    for fixture in common::files_under(&common::testdata().join("expected/lab_curl")) {
        let scenario = fixture.file_stem().unwrap().to_string_lossy().into_owned();
        let run = common::analyze(
            &common::shared()
                .join("lab")
                .join(&scenario)
                .join("capture.pcap"),
        );
        let rows = common::tsv(&fixture);
        // curl transfers per local port, in order
        let mut by_port: BTreeMap<u16, Vec<&BTreeMap<String, String>>> = BTreeMap::new();
        for r in &rows {
            let port: u16 = r["local_port"].parse().unwrap();
            if port != 0 && r["exitcode"] == "0" {
                by_port.entry(port).or_default().push(r);
            }
        }
        for (port, curl) in by_port {
            let conns: Vec<&ConnectionRecord> = run
                .connections
                .iter()
                .filter(|c| c.client_port == port)
                .collect();
            assert!(
                !conns.is_empty(),
                "{scenario}: no connection from port {port}"
            );
            let mut reqs: Vec<(usize, &HttpRecord)> = run
                .http
                .iter()
                .enumerate()
                .filter(|(_, h)| conns.iter().any(|c| c.conn_id == h.conn_id))
                .collect();
            reqs.sort_by_key(|(_, h)| (h.request_start_ts, h.request_index));
            for (k, c) in curl.iter().enumerate() {
                let t = |name: &str| secs_ns(&c[name]);
                let https = c["url_effective"].starts_with("https:");
                let new_conn = c["num_connects"] == "1";
                let conn = conns.iter().find(|x| x.handshake_seen).copied();
                if new_conn {
                    if let Some(conn) = conn {
                        let curl_connect = t("time_connect") - t("time_namelookup");
                        if let Some(ours) = conn.connect_ns {
                            d.connect.push(curl_connect - ours);
                        }
                        if https {
                            let tls = run.tls.iter().find(|x| x.conn_id == conn.conn_id);
                            if let Some(done) = tls.and_then(|x| x.handshake_done_ts) {
                                let curl_ct = t("time_appconnect") - t("time_namelookup");
                                let ours = done - conn.start_ts;
                                d.connect_tls.push(curl_ct - ours);
                                table.push_str(&format!(
                                    "{scenario} {port} connect+tls curl {curl_ct} ours {ours}\n"
                                ));
                            }
                        }
                    }
                }
                if https || !["1.1", "2"].contains(&c["http_version"].as_str()) {
                    continue; // encrypted (no key log applied yet): no row to compare
                }
                transfers += 1;
                let Some(&(i, h)) = reqs.get(k) else {
                    panic!(
                        "{scenario}: curl transfer {} (port {port}) has no http row",
                        c["seq"]
                    );
                };
                let timing = &run.timings[i];
                assert_eq!(timing.http_index, i);
                assert!(h.status.is_some(), "{scenario} {port}: no response");
                assert!(h.complete, "{scenario} {port}: incomplete");
                assert_eq!(timing.reused, !new_conn, "{scenario} {port} #{k}: reused");
                let ttfb = t("time_starttransfer") - t("time_pretransfer");
                let total = t("time_total") - t("time_pretransfer");
                let ours_total =
                    timing.send_ns.unwrap() + timing.wait_ns.unwrap() + timing.receive_ns.unwrap();
                d.ttfb.push(ttfb - timing.wait_ns.unwrap());
                d.total.push(total - ours_total);
                table.push_str(&format!(
                    "{scenario} {port} #{k} ttfb curl {ttfb} ours {} total curl {total} ours {ours_total}\n",
                    timing.wait_ns.unwrap()
                ));
            }
            let extra = reqs.len().saturating_sub(curl.len());
            assert_eq!(
                extra, 0,
                "{scenario} port {port}: more http rows than curl transfers"
            );
        }
    }
    println!("{table}");
    assert_eq!(
        transfers, 49,
        "clear-text curl transfers compared (47 HTTP/1.1, 2 h2c)"
    );
    let check = |name: &str, v: &[i64], median: i64, each: Option<i64>| {
        assert!(v.len() > 10, "{name}: only {} comparisons", v.len());
        let m = median_abs(v);
        let max = v.iter().map(|x| x.abs()).max().unwrap_or(0);
        println!("{name}: n={} median |diff| {m} ns, max {max} ns", v.len());
        assert!(m < median, "{name}: median |diff| {m} ns");
        if let Some(each) = each {
            assert!(max < each, "{name}: max |diff| {max} ns");
        }
    };
    check("connect", &d.connect, 1_000_000, Some(5_000_000));
    check("connect+tls", &d.connect_tls, 2_000_000, Some(6_000_000));
    check("ttfb", &d.ttfb, 1_000_000, None);
    check("total", &d.total, 1_000_000, None);
}

/// DNS through the pipeline (UDP on the reading thread, TCP from the shards) on the lab's
/// e_dns scenario, against tshark's queries (`-d udp.port==5353,dns -d udp.port==5354,dns`):
/// 20 query messages (frame 54 is the ICMP error quoting frame 53, not a query).
#[test]
fn dns_through_the_pipeline_on_odd_ports() {
    need_shared!();
    let dns = common::analyze(&common::shared().join("lab/e_dns/capture.pcap")).dns;
    let frames: Vec<u64> = dns.iter().map(|d| d.query_frame + 1).collect();
    assert_eq!(dns.len(), 20, "{frames:?}");
    let tcp = dns
        .iter()
        .filter(|d| d.transport == pcapstat_core::DnsTransport::Tcp)
        .count();
    assert_eq!(tcp, 3, "queries 1010, 1011 and 1012 over TCP");
    // tshark frames 51, 52 (port 5353, no response; 52 retries 51) and 53 (port 5354, ICMP).
    let by_frame = |f: u64| dns.iter().find(|d| d.query_frame + 1 == f).unwrap();
    assert!(by_frame(51).response_ts.is_none() && by_frame(51).waited_ns.is_some());
    assert_eq!(by_frame(52).retry_of, Some(50));
    assert!(by_frame(53).icmp_unreachable);
    let answered = dns.iter().filter(|d| d.rcode.is_some()).count();
    assert_eq!(answered, 17);
}
