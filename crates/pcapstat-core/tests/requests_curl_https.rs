//! HTTPS through the whole pipeline with the lab's key logs (`sslkeylog.txt`, or the key log
//! embedded in `capture-with-keys.pcapng`), against what the clients, the server and tshark
//! logged (`../shared/lab/<scenario>/`):
//!
//! * every curl HTTPS HTTP/1.1 transfer (`gt_curl.jsonl`: b3, c, d's curl transfers, i's TLS
//!   ones; 34 in all) is exactly one http row, found by client port and in order on the
//!   connection, with the transfer's URL path;
//! * phases vs curl (lab README tolerances): connect (`time_connect - time_namelookup`, new
//!   connections, first TLS connection of each curl process: the README's quirk) median |diff|
//!   < 1 ms, each < 5 ms; connect+TLS (`time_appconnect - time_namelookup` vs `connect`-start →
//!   handshake done) median < 2 ms, each < 6 ms; connect+TLS+send+wait
//!   (`time_starttransfer - time_namelookup` vs first SYN → first response byte; on a reused
//!   connection `time_starttransfer - time_pretransfer` vs send+wait) and total
//!   (`time_total - time_namelookup` vs `total`; reused: `time_total - time_pretransfer`) with
//!   the connect+TLS tolerance, and the after-request figures (TTFB vs wait, total vs
//!   send+wait+receive) median < 1 ms;
//! * `reused` vs curl `num_connects`/`conn_reused`, `tls_resumed` vs curl `tls_session_reused`,
//!   nginx `$connection_requests` and `$ssl_session_reused` for every HTTPS request nginx
//!   logged, openssl `New`/`Reused` for the s_client handshakes;
//! * uri, status and request / first response / last response frame times vs tshark's
//!   `ts_http.tsv` (computed with the key log), to the microsecond.
#![allow(clippy::unwrap_used)]

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use pcapstat_core::{
    Analyzer, AppStats, Capture, ConnectionRecord, HttpRecord, KeyLog, RequestTiming, TlsRecord,
};
use serde_json::Value;

mod common;

const SCENARIOS: [&str; 4] = [
    "b_http_keepalive",
    "c_tls12_tls13",
    "d_tls_resumption",
    "i_delay_rtt",
];

struct Run {
    connections: Vec<ConnectionRecord>,
    http: Vec<HttpRecord>,
    timings: Vec<RequestTiming>,
    tls: Vec<TlsRecord>,
    stats: AppStats,
}

impl Run {
    fn conn(&self, id: u64) -> &ConnectionRecord {
        self.connections.iter().find(|c| c.conn_id == id).unwrap()
    }
    fn tls_of(&self, id: u64) -> Option<&TlsRecord> {
        self.tls.iter().find(|t| t.conn_id == id)
    }
    /// The http row (and its index) with this request target.
    fn by_path(&self, path: &str) -> Vec<(usize, &HttpRecord)> {
        self.http
            .iter()
            .enumerate()
            .filter(|(_, h)| h.path.as_deref() == Some(path))
            .collect()
    }
}

fn analyze(capture: Capture, keylog: Option<KeyLog>, threads: usize) -> Run {
    let mut analyzer = Analyzer::new().threads(threads).embedded_secrets(false);
    if let Some(keylog) = keylog {
        analyzer = analyzer.keylog(keylog);
    }
    let a = analyzer.analyze(capture).unwrap();
    Run {
        connections: a.connections,
        http: a.http,
        timings: a.timings,
        tls: a.tls,
        stats: a.stats.app,
    }
}

fn lab(scenario: &str) -> std::path::PathBuf {
    common::shared().join("lab").join(scenario)
}

fn with_keyfile(scenario: &str) -> Run {
    let keys = KeyLog::from_file(lab(scenario).join("sslkeylog.txt")).unwrap();
    assert!(keys.stats().malformed == 0 && !keys.is_empty());
    analyze(
        Capture::open(lab(scenario).join("capture.pcap")).unwrap(),
        Some(keys),
        2,
    )
}

fn jsonl(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn ns(v: &Value) -> i64 {
    (v.as_f64().unwrap() * 1e9).round() as i64
}

/// `/path?query` of a URL.
fn target(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    rest.find('/')
        .map_or("/".to_string(), |i| rest[i..].to_string())
}

fn median_abs(v: &[i64]) -> i64 {
    let mut a: Vec<i64> = v.iter().map(|d| d.abs()).collect();
    a.sort_unstable();
    a.get(a.len() / 2).copied().unwrap_or(0)
}

#[derive(Default)]
struct Diffs(BTreeMap<&'static str, Vec<i64>>);

impl Diffs {
    fn push(&mut self, name: &'static str, curl: i64, ours: i64) {
        self.0.entry(name).or_default().push(curl - ours);
    }
    fn check(&self, name: &str, n: usize, median: i64, each: Option<i64>) {
        let v = &self.0[name];
        let m = median_abs(v);
        let max = v.iter().map(|x| x.abs()).max().unwrap_or(0);
        let mut s = v.clone();
        s.sort_unstable();
        println!(
            "{name}: n={} median |diff| {:.3} ms, max |diff| {:.3} ms, median diff {:+.3} ms",
            v.len(),
            m as f64 / 1e6,
            max as f64 / 1e6,
            s[s.len() / 2] as f64 / 1e6
        );
        assert_eq!(v.len(), n, "{name}: comparisons");
        assert!(m < median, "{name}: median |diff| {m} ns");
        if let Some(each) = each {
            assert!(max < each, "{name}: max |diff| {max} ns");
        }
    }
}

#[test]
fn https_rows_and_phases_agree_with_curl() {
    need_shared!();
    let mut d = Diffs::default();
    let mut transfers = 0;
    // (transfers where curl says whether the session was resumed, of which resumed)
    let mut session_checks = (0, 0);
    for scenario in SCENARIOS {
        let run = with_keyfile(scenario);
        let curl = jsonl(&lab(scenario).join("gt_curl.jsonl"));
        let mut by_port: BTreeMap<u64, Vec<&Value>> = BTreeMap::new();
        for c in &curl {
            let https = c["url_effective"].as_str().unwrap().starts_with("https:");
            if https && c["http_version"] == "1.1" && c["exitcode"] == 0 {
                by_port
                    .entry(c["local_port"].as_u64().unwrap())
                    .or_default()
                    .push(c);
            }
        }
        // curl processes that already opened a TLS connection (README quirk).
        let mut seen_process: Vec<f64> = Vec::new();
        for (port, list) in by_port {
            let conns: Vec<&ConnectionRecord> = run
                .connections
                .iter()
                .filter(|c| u64::from(c.client_port) == port)
                .collect();
            assert_eq!(conns.len(), 1, "{scenario}: connections from port {port}");
            let conn = conns[0];
            let rows: Vec<usize> = (0..run.http.len())
                .filter(|&i| run.http[i].conn_id == conn.conn_id)
                .collect();
            assert_eq!(
                rows.len(),
                list.len(),
                "{scenario} port {port}: one http row per curl transfer"
            );
            for (k, c) in list.iter().enumerate() {
                transfers += 1;
                let i = rows[k];
                let (h, t) = (&run.http[i], &run.timings[i]);
                let url = c["url_effective"].as_str().unwrap();
                assert_eq!(
                    h.path.as_deref(),
                    Some(target(url).as_str()),
                    "{scenario} {port} #{k}"
                );
                assert_eq!(h.status, c["http_code"].as_u64().map(|s| s as u16));
                assert!(h.complete, "{scenario} {port} #{k}: incomplete");
                let new_conn = c["num_connects"] == 1;
                assert_eq!(t.reused, !new_conn, "{scenario} {port} #{k}: reused");
                assert_eq!(t.reused, c["conn_reused"] == true);
                if let Some(r) = c["tls_session_reused"].as_bool() {
                    assert_eq!(
                        t.tls_resumed,
                        Some(r),
                        "{scenario} {port} #{k}: tls_resumed"
                    );
                    session_checks.0 += 1;
                    session_checks.1 += usize::from(r);
                }
                let f = |name: &str| ns(&c[name]);
                if new_conn {
                    let process = c["cmd_start_epoch"].as_f64().unwrap();
                    let first_of_process = !seen_process.contains(&process);
                    seen_process.push(process);
                    let start = conn.start_ts;
                    if first_of_process {
                        d.push(
                            "connect",
                            f("time_connect") - f("time_namelookup"),
                            t.connect_ns.unwrap(),
                        );
                    }
                    let done = run.tls_of(conn.conn_id).unwrap().handshake_done_ts.unwrap();
                    assert_eq!(t.tls_ns.map(|x| x > 0), Some(true));
                    d.push(
                        "connect+tls",
                        f("time_appconnect") - f("time_namelookup"),
                        done - start,
                    );
                    d.push(
                        "connect+tls+send+wait",
                        f("time_starttransfer") - f("time_namelookup"),
                        h.response_start_ts.unwrap() - start,
                    );
                    assert_eq!(t.dns_ns, None, "curl --resolve: no lookup");
                    d.push(
                        "total",
                        f("time_total") - f("time_namelookup"),
                        t.total_ns.unwrap(),
                    );
                } else {
                    assert_eq!((t.connect_ns, t.tls_ns), (None, None));
                    d.push(
                        "connect+tls+send+wait",
                        f("time_starttransfer") - f("time_pretransfer"),
                        t.send_ns.unwrap() + t.wait_ns.unwrap(),
                    );
                    d.push(
                        "total",
                        f("time_total") - f("time_pretransfer"),
                        t.total_ns.unwrap(),
                    );
                }
                d.push(
                    "ttfb after request",
                    f("time_starttransfer") - f("time_pretransfer"),
                    t.wait_ns.unwrap(),
                );
                d.push(
                    "total after request",
                    f("time_total") - f("time_pretransfer"),
                    t.send_ns.unwrap() + t.wait_ns.unwrap() + t.receive_ns.unwrap(),
                );
            }
        }
    }
    assert_eq!(transfers, 34, "curl HTTPS HTTP/1.1 transfers");
    assert_eq!(
        session_checks,
        (29, 6),
        "curl tls_session_reused: d 4, i 2 resumed"
    );
    // d: the 2nd and 3rd connection of each of the two curl processes are left out (README).
    d.check("connect", 23, 1_000_000, Some(5_000_000));
    d.check("connect+tls", 29, 2_000_000, Some(6_000_000));
    d.check("connect+tls+send+wait", 34, 2_000_000, Some(6_000_000));
    d.check("total", 34, 2_000_000, Some(6_000_000));
    d.check("ttfb after request", 34, 1_000_000, None);
    d.check("total after request", 34, 1_000_000, None);
}

/// Every HTTPS request nginx logged in these scenarios is one http row on the connection from
/// that client port, with nginx's keep-alive and session-reuse view.
#[test]
fn https_rows_agree_with_nginx_and_openssl() {
    need_shared!();
    let (mut nginx, mut resumed) = (0, 0);
    for scenario in SCENARIOS {
        let run = with_keyfile(scenario);
        for l in jsonl(&lab(scenario).join("gt_nginx_access.jsonl")) {
            if l["server_port"] != 443 || l["server_protocol"] != "HTTP/1.1" {
                continue;
            }
            nginx += 1;
            let request = l["request"].as_str().unwrap();
            let uri = request.split(' ').nth(1).unwrap();
            let rows = run.by_path(uri);
            assert_eq!(rows.len(), 1, "{scenario} {uri}");
            let (i, h) = rows[0];
            let conn = run.conn(h.conn_id);
            assert_eq!(
                u64::from(conn.client_port),
                l["remote_port"].as_u64().unwrap()
            );
            assert_eq!(Some(u64::from(h.status.unwrap())), l["status"].as_u64());
            let t = &run.timings[i];
            let requests = l["connection_requests"].as_u64().unwrap();
            assert_eq!(t.reused, requests > 1, "{scenario} {uri}");
            assert_eq!(u64::from(h.request_index) + 1, requests, "{scenario} {uri}");
            let r = l["ssl_session_reused"] == "r";
            resumed += usize::from(r);
            assert_eq!(
                t.tls_resumed,
                Some(r),
                "{scenario} {uri}: ssl_session_reused"
            );
        }
    }
    // b3 6, c 14, d 12 (6 s_client + 6 curl), i 8.
    assert_eq!(nginx, 40, "nginx HTTPS HTTP/1.1 requests");
    assert_eq!(resumed, 9, "3 s_client + 4 curl in d, 2 in i");

    let run = with_keyfile("d_tls_resumption");
    let mut handshakes = 0;
    for o in jsonl(&lab("d_tls_resumption").join("gt_openssl.jsonl")) {
        let rows = run.by_path(o["request_path"].as_str().unwrap());
        assert_eq!(rows.len(), 1);
        let (i, h) = rows[0];
        let reused = o["session"] == "Reused";
        assert_eq!(reused, o["resumed"] == true);
        assert_eq!(run.timings[i].tls_resumed, Some(reused), "{}", o["label"]);
        assert_eq!(
            Some(u64::from(h.status.unwrap())),
            o["http_status"].as_u64()
        );
        handshakes += 1;
    }
    assert_eq!(handshakes, 6);
}

/// Decrypted fields vs tshark with the key log (`ts_http.tsv`): same requests, status and the
/// request / first response / last response frame times to the microsecond.
#[test]
fn https_rows_agree_with_tshark() {
    need_shared!();
    let mut compared = 0;
    let mut lines = String::new();
    for scenario in SCENARIOS {
        let run = with_keyfile(scenario);
        let streams: HashMap<String, String> =
            common::tsv(&lab(scenario).join("ts_tcp_streams.tsv"))
                .into_iter()
                .map(|r| (r["tcp_stream"].clone(), r["server_port"].clone()))
                .collect();
        for r in common::tsv(&lab(scenario).join("ts_http.tsv")) {
            if r["proto"] != "HTTP/1.1" || streams[&r["tcp_stream"]] != "443" {
                continue;
            }
            let rows = run.by_path(&r["uri"]);
            assert_eq!(rows.len(), 1, "{scenario} {}", r["uri"]);
            let h = rows[0].1;
            assert_eq!(h.status.map(|s| s.to_string()), Some(r["status"].clone()));
            let us = |v: i64| v.div_euclid(1_000);
            let ts = |k: &str| (r[k].parse::<f64>().unwrap() * 1e6).round() as i64;
            let ours = (
                us(h.request_start_ts),
                us(h.response_start_ts.unwrap()),
                us(h.response_end_ts.unwrap()),
            );
            let theirs = (ts("t_request"), ts("t_first"), ts("t_last"));
            lines.push_str(&format!(
                "{scenario} {} ours {ours:?} tshark {theirs:?}\n",
                r["uri"]
            ));
            // Every decrypted byte at the segment completing its record (docs/http.md), where
            // tshark puts the decrypted message too.
            assert_eq!(ours, theirs, "{scenario} {}", r["uri"]);
            compared += 1;
        }
    }
    println!("{lines}");
    assert_eq!(compared, 40);
}

/// The counters: with the key logs every TLS connection of these scenarios is decrypted and
/// nothing fails; without, nothing is decrypted and the TLS records are the same.
#[test]
fn decryption_counters_and_the_no_key_path() {
    need_shared!();
    for scenario in SCENARIOS {
        let with = with_keyfile(scenario);
        let without = analyze(
            Capture::open(lab(scenario).join("capture.pcap")).unwrap(),
            None,
            1,
        );
        let st = &with.stats.tls_decrypt;
        println!(
            "{scenario}: {:?} https {} h2 {}",
            st, with.stats.https, with.stats.https2
        );
        assert_eq!(st.auth_failures, 0, "{scenario}");
        assert_eq!(st.no_key + st.unsupported_cipher, 0, "{scenario}");
        assert_eq!(
            st.sessions, with.stats.tls,
            "{scenario}: every TLS connection"
        );
        assert!(st.records > 0 && st.app_bytes > 0);
        assert_eq!(st.app_bytes_dropped, 0);
        assert_eq!(without.stats.tls_decrypt, Default::default());
        // Without keys the TLS connections give inferred rows only (tests/https_inferred.rs).
        let parsed = |r: &Run| r.http.iter().filter(|h| !h.inferred).count();
        assert!(parsed(&without) < parsed(&with));
        assert!(
            with.http.iter().all(|h| !h.inferred),
            "{scenario}: all decrypted"
        );
        assert!(without.http.iter().any(|h| h.inferred), "{scenario}");
        // Handshake timing does not depend on the keys (TLS 1.3: the decrypted Finished is the
        // record the heuristic picks).
        let strip = |t: &TlsRecord| {
            let mut t = t.clone();
            t.server_finished_ts = None;
            t.alpn = None;
            t
        };
        // TLS 1.3 sends the ALPN choice in the encrypted EncryptedExtensions: read with the
        // keys only; tshark (with the key log) has it for every connection.
        let alpn = |r: &Run| r.tls.iter().filter(|t| t.alpn.is_some()).count();
        let ts_alpn = common::tsv(&lab(scenario).join("ts_tls.tsv"))
            .iter()
            .filter(|r| !r["alpn"].is_empty())
            .count();
        assert_eq!(alpn(&with), ts_alpn, "{scenario}");
        for (w, wo) in with.tls.iter().zip(&without.tls) {
            let clear = if w.version == Some(pcapstat_core::TlsVersion(0x0303)) {
                w.alpn.clone()
            } else {
                None
            };
            assert_eq!(
                wo.alpn, clear,
                "{scenario}: without keys only TLS 1.2's ALPN"
            );
        }
        assert!(alpn(&with) > alpn(&without), "{scenario}");
        let a: Vec<TlsRecord> = with.tls.iter().map(strip).collect();
        let b: Vec<TlsRecord> = without.tls.iter().map(strip).collect();
        assert_eq!(a, b, "{scenario}");
    }
    // i_delay_rtt's h2 connection is decrypted and parsed as HTTP/2.
    let i = with_keyfile("i_delay_rtt");
    assert_eq!(i.stats.https2, 1);
    // h_http2: curl's two h2 connections are decrypted and parsed; nghttp wrote no key log.
    let h = with_keyfile("h_http2");
    let st = &h.stats.tls_decrypt;
    assert_eq!(
        (h.stats.tls, st.sessions, st.no_key, st.auth_failures),
        (3, 2, 1, 0)
    );
    assert_eq!((h.stats.https2, h.stats.https), (2, 0));
    let alpn: Vec<Option<&str>> = h.tls.iter().map(|t| t.alpn.as_deref()).collect();
    assert_eq!(
        alpn,
        [Some("h2"), Some("h2"), None],
        "ts_tls.tsv: h2, h2, unknown(encrypted)"
    );
    let plain = analyze(
        Capture::open(lab("h_http2").join("capture.pcap")).unwrap(),
        None,
        1,
    );
    assert_eq!(plain.tls.len(), 3);
    for (w, wo) in h.tls.iter().zip(&plain.tls) {
        assert_eq!(w.handshake_done_ts, wo.handshake_done_ts);
        assert_eq!(w.client_finished_ts, wo.client_finished_ts);
    }
    let keys = KeyLog::parse("");
    let none = analyze(
        Capture::open(lab("c_tls12_tls13").join("capture.pcap")).unwrap(),
        Some(keys),
        1,
    );
    assert_eq!(none.stats.tls_decrypt.no_key, 14);
    assert_eq!(none.stats.https, 0);
}

/// On the four lab scenarios, the keys embedded in `capture-with-keys.pcapng` give the same
/// http and tls records as `sslkeylog.txt` on `capture.pcap`.
#[test]
fn embedded_secrets_equal_the_key_log_file_on_the_lab() {
    need_shared!();
    let mut rows = 0;
    for scenario in SCENARIOS {
        let from_file = with_keyfile(scenario);
        let mut capture = Capture::open(lab(scenario).join("capture-with-keys.pcapng")).unwrap();
        let mut keys = KeyLog::new();
        keys.add_capture_secrets(&capture.decryption_secrets().unwrap());
        assert_eq!(keys.stats().dsb_blocks, 1, "{scenario}");
        let from_dsb = analyze(capture, Some(keys), 2);
        assert_eq!(from_file.http, from_dsb.http, "{scenario}");
        assert_eq!(from_file.tls, from_dsb.tls, "{scenario}");
        rows += from_dsb
            .http
            .iter()
            .filter(|h| from_dsb.tls_of(h.conn_id).is_some())
            .count();
    }
    // nginx logged 40 HTTPS HTTP/1.1 requests and 2 HTTP/2 ones (i_delay_rtt).
    assert_eq!(rows, 42, "HTTPS rows (as nginx logged)");
}

/// The bundled d_tls_resumption files: the key log file on capture.pcap and the key log embedded
/// in capture-with-keys.pcapng (Decryption Secrets Block; memory-mapped, streamed, gzip-streamed)
/// give the same http rows: 12.
#[test]
fn bundled_keylog_file_and_embedded_secrets_agree() {
    let dir = common::testdata().join("lab/d_tls_resumption");
    let file_keys = KeyLog::from_file(dir.join("sslkeylog.txt")).unwrap();
    let from_file = analyze(
        Capture::open(dir.join("capture.pcap")).unwrap(),
        Some(file_keys.clone()),
        1,
    );

    let mut capture = Capture::open(dir.join("capture-with-keys.pcapng")).unwrap();
    let blocks = capture.decryption_secrets().unwrap();
    assert_eq!(blocks.len(), 1);
    let mut embedded = KeyLog::new();
    embedded.add_capture_secrets(&blocks);
    assert_eq!(embedded.len(), file_keys.len());
    assert_eq!(embedded.stats().secrets, file_keys.stats().secrets);
    let from_dsb = analyze(capture, Some(embedded), 2);

    assert_eq!(from_file.http.len(), 12);
    assert!(from_file
        .http
        .iter()
        .all(|h| h.complete && h.status == Some(200)));
    assert_eq!(from_file.http, from_dsb.http);
    assert_eq!(from_file.tls, from_dsb.tls);
    assert_eq!(from_file.stats.tls_decrypt, from_dsb.stats.tls_decrypt);
    // Without a DSB (classic pcap, or the pcapng without keys) there is nothing embedded.
    let mut plain = Capture::open(dir.join("capture.pcap")).unwrap();
    assert_eq!(plain.decryption_secrets(), Some(vec![]));
    let mut ng = Capture::open(dir.join("capture.pcapng")).unwrap();
    assert_eq!(ng.decryption_secrets(), Some(vec![]));
    // Streamed input, plain and gzip-compressed: the DSB before the first packet is found, and
    // the frames read afterwards are all there.
    let bytes = std::fs::read(dir.join("capture-with-keys.pcapng")).unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut gz, &bytes).unwrap();
    let gz = gz.finish().unwrap();
    for input in [bytes.clone(), gz] {
        let mut streamed = Capture::from_reader(std::io::Cursor::new(input)).unwrap();
        assert_eq!(streamed.decryption_secrets(), Some(blocks.clone()));
        let mut keys = KeyLog::new();
        keys.add_capture_secrets(&blocks);
        let run = analyze(streamed, Some(keys), 2);
        assert_eq!(run.http, from_file.http);
    }
    // Once frames were read from a stream, it is too late.
    let mut late = Capture::from_reader(std::io::Cursor::new(bytes.clone())).unwrap();
    assert!(late.next_frame().unwrap().is_some());
    assert_eq!(late.decryption_secrets(), None);
    // A damaged stream: with or without the look-ahead, the same frames, damage and sections
    // (a decompression error met while looking ahead is given again to the reading).
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut gz, &bytes).unwrap();
    let gz = gz.finish().unwrap();
    let (mut before_first_packet, mut later) = (0, 0);
    for at in (40..gz.len() / 2).step_by(211) {
        let mut bad = gz.clone();
        bad[at] ^= 0x55;
        let damage = |look_ahead: bool| {
            let mut c = Capture::from_reader(std::io::Cursor::new(bad.clone())).ok()?;
            if look_ahead {
                let _ = c.decryption_secrets();
            }
            let mut frames = 0;
            while let Ok(Some(_)) = c.next_frame() {
                frames += 1;
            }
            Some((frames, c.damage().cloned(), c.sections()))
        };
        let (plain, ahead) = (damage(false), damage(true));
        assert_eq!(plain, ahead, "byte {at}");
        match plain {
            Some((0, Some(_), _)) => before_first_packet += 1,
            Some((_, Some(_), _)) => later += 1,
            _ => {}
        }
    }
    assert!(
        before_first_packet > 0 && later > 0,
        "{before_first_packet} {later}"
    );
}

/// HTTP/2 over TLS (ALPN h2) decrypted with the key log: every h2 stream tshark decoded with the
/// same key log (h_http2: curl's 4 serial and 4 `--parallel` transfers; i_delay_rtt: 2) is one
/// http row with tshark's path, status, body bytes and request / first / last response frame
/// times to the microsecond; nginx logged the same
/// requests with the same `$request_length` (the HPACK-encoded header block); curl's TTFB and
/// total after the request agree within the lab README tolerance (median |diff| < 1 ms;
/// `--parallel` transfers are left out there), and `reused` is curl's.
#[test]
fn h2_over_tls_rows_agree_with_tshark_nginx_and_curl() {
    need_shared!();
    let mut compared = 0;
    let (mut ttfb, mut total) = (Vec::new(), Vec::new());
    for (scenario, want) in [("h_http2", 8), ("i_delay_rtt", 2)] {
        let run = with_keyfile(scenario);
        let streams: HashMap<String, (u16, u16)> =
            common::tsv(&lab(scenario).join("ts_tcp_streams.tsv"))
                .into_iter()
                .map(|r| {
                    let p = |k: &str| r[k].parse::<u16>().unwrap();
                    (
                        r["tcp_stream"].clone(),
                        (p("client_port"), p("server_port")),
                    )
                })
                .collect();
        let ts_rows: Vec<_> = common::tsv(&lab(scenario).join("ts_http.tsv"))
            .into_iter()
            .filter(|r| r["proto"] == "HTTP/2" && streams[&r["tcp_stream"]].1 == 443)
            .collect();
        assert_eq!(
            ts_rows.len(),
            want,
            "{scenario}: tshark's h2 streams over TLS"
        );
        let nginx: HashMap<String, Value> = jsonl(&lab(scenario).join("gt_nginx_access.jsonl"))
            .into_iter()
            .filter_map(|n| {
                let uri = n["request"].as_str()?.split(' ').nth(1)?.to_string();
                Some((uri, n))
            })
            .collect();
        for t in &ts_rows {
            let (port, _) = streams[&t["tcp_stream"]];
            let sid: u32 = t["h2_stream"].parse().unwrap();
            let ours: Vec<_> = run
                .http
                .iter()
                .filter(|h| run.conn(h.conn_id).client_port == port && h.stream_id == Some(sid))
                .collect();
            let at = format!("{scenario} port {port} stream {sid} {}", t["uri"]);
            assert_eq!(ours.len(), 1, "{at}: one row");
            let h = ours[0];
            assert!(run.tls_of(h.conn_id).is_some(), "{at}");
            assert_eq!(h.path.as_deref(), Some(t["uri"].as_str()), "{at}");
            assert_eq!(
                h.status.map(|s| s.to_string()),
                Some(t["status"].clone()),
                "{at}"
            );
            assert_eq!(
                h.response_body_bytes.map(|b| b.to_string()),
                Some(t["bytes"].clone())
            );
            assert!(h.complete, "{at}");
            let us = |v: i64| v.div_euclid(1_000);
            let ts = |k: &str| (t[k].parse::<f64>().unwrap() * 1e6).round() as i64;
            assert_eq!(
                us(h.request_start_ts),
                ts("t_request"),
                "{at}: request frame"
            );
            assert_eq!(
                us(h.response_end_ts.unwrap()),
                ts("t_last"),
                "{at}: last frame"
            );
            assert_eq!(
                us(h.response_start_ts.unwrap()),
                ts("t_first"),
                "{at}: first frame"
            );
            let n = &nginx[&t["uri"]];
            assert_eq!(n["status"].as_u64(), h.status.map(u64::from), "{at}");
            assert_eq!(
                n["request_length"].as_u64(),
                Some(h.request_header_bytes),
                "{at}"
            );
            compared += 1;
        }
        // curl: the non-parallel h2 transfers, TTFB and total after the request.
        for c in jsonl(&lab(scenario).join("gt_curl.jsonl")) {
            let url = c["url_effective"].as_str().unwrap_or("");
            if !url.starts_with("https:") || c["http_version"] != "2" || c["exitcode"] != 0 {
                continue;
            }
            let path = &url[url[8..].find('/').unwrap() + 8..];
            let rows = run.by_path(path);
            assert_eq!(rows.len(), 1, "{scenario} {url}");
            let tm = &run.timings[rows[0].0];
            assert_eq!(
                tm.reused,
                c["num_connects"] == 0,
                "{scenario} {url}: reused"
            );
            if c["parallel"] == true {
                continue;
            }
            let secs = |k: &str| (c[k].as_f64().unwrap() * 1e9).round() as i64;
            ttfb.push((secs("d_ttfb_after_request") - tm.wait_ns.unwrap()).abs());
            let ours = tm.send_ns.unwrap() + tm.wait_ns.unwrap() + tm.receive_ns.unwrap();
            total.push((secs("d_total_after_request") - ours).abs());
        }
    }
    assert_eq!(compared, 10);
    assert_eq!(ttfb.len(), 6, "curl's serial h2 transfers: 4 in h, 2 in i");
    for (name, v) in [("ttfb", &mut ttfb), ("total", &mut total)] {
        v.sort_unstable();
        let median = v[v.len() / 2];
        println!(
            "{name}: n={} median |diff| {median} ns, max {} ns",
            v.len(),
            v[v.len() - 1]
        );
        assert!(median < 1_000_000, "{name}: median |diff| {median} ns");
        assert!(
            v[v.len() - 1] < 5_000_000,
            "{name}: max |diff| {} ns",
            v[v.len() - 1]
        );
    }
}

/// `capture.pcapng` of the bundled d_tls_resumption with its key log in one DSB inserted after
/// block `at` (of 198: at 0 it comes before the section header, which is not a place for it).
fn with_dsb_after_block(at: usize) -> Vec<u8> {
    let dir = common::testdata().join("lab/d_tls_resumption");
    let bytes = std::fs::read(dir.join("capture.pcapng")).unwrap();
    let keys = std::fs::read(dir.join("sslkeylog.txt")).unwrap();
    let mut body = 0x544c_534bu32.to_le_bytes().to_vec();
    body.extend_from_slice(&(keys.len() as u32).to_le_bytes());
    body.extend_from_slice(&keys);
    while !body.len().is_multiple_of(4) {
        body.push(0);
    }
    let len = (12 + body.len()) as u32;
    let mut dsb = 0x0000_000Au32.to_le_bytes().to_vec();
    dsb.extend_from_slice(&len.to_le_bytes());
    dsb.extend_from_slice(&body);
    dsb.extend_from_slice(&len.to_le_bytes());
    let (mut pos, mut n, mut out) = (0, 0, Vec::new());
    while pos < bytes.len() {
        if n == at {
            out.extend_from_slice(&dsb);
        }
        let l = u32::from_le_bytes(bytes[pos + 4..pos + 8].try_into().unwrap()) as usize;
        out.extend_from_slice(&bytes[pos..pos + l]);
        pos += l;
        n += 1;
    }
    if n == at {
        out.extend_from_slice(&dsb);
    }
    out
}

/// Issue #13: a pcapng is read once, its DSBs taken as the reader meets them. A DSB decrypts
/// the sessions whose ServerHello comes after it, as tshark reads it (`tshark -r` and
/// `tshark -2 -r` alike: 12 HTTPS requests with the DSB first, 6 with it after block 99 of
/// 198, none with it at the end); the same for any thread count and for a file, bytes, or a
/// stream read to its last byte exactly once.
#[test]
fn embedded_secrets_apply_from_where_they_are() {
    use std::io::Read;
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::Arc;
    struct Counting(std::io::Cursor<Vec<u8>>, Arc<AtomicU64>);
    impl Read for Counting {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            // Odd-sized reads, as a pipe gives them.
            let max = buf.len().min(4099);
            let n = self.0.read(&mut buf[..max])?;
            self.1.fetch_add(n as u64, Ordering::Relaxed);
            Ok(n)
        }
    }
    for (at, want) in [(1, 12), (99, 6), (198, 0)] {
        let bytes = with_dsb_after_block(at);
        let mut runs = Vec::new();
        for threads in [1, 2, 3] {
            let analyzer = Analyzer::new().threads(threads);
            let read = Arc::new(AtomicU64::new(0));
            let streamed = analyzer
                .analyze_reader(Counting(std::io::Cursor::new(bytes.clone()), read.clone()))
                .unwrap();
            assert_eq!(read.load(Ordering::Relaxed), bytes.len() as u64, "one pass");
            let whole = analyzer.analyze_bytes(bytes.clone()).unwrap();
            for a in [streamed, whole] {
                let decrypted = a.http.iter().filter(|h| h.method.is_some()).count();
                assert_eq!(decrypted, want, "DSB after block {at}, {threads} threads");
                assert_eq!(a.stats.keylog.dsb_blocks, 1);
                runs.push((a.http, a.tls, a.stats.app));
            }
        }
        assert!(
            runs.windows(2).all(|w| w[0] == w[1]),
            "DSB after block {at}"
        );
    }
}
