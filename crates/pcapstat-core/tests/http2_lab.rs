//! HTTP/2 through the whole pipeline on the lab's `h_http2` capture, against three independent
//! oracles:
//!
//! * tshark (`ts_http.tsv`, decoded with `-d tcp.port==8080,http2`): every clear-text h2c
//!   stream (curl `--http2-prior-knowledge` and `nghttp -ns` on :8080) is exactly one http row
//!   with tshark's path, status and body bytes, and request / first response / last response
//!   frame times equal to tshark's to the microsecond (the capture's resolution);
//! * nginx (`gt_nginx_access.jsonl`, joined by the unique `?req=` URI): method, status, body
//!   bytes sent, and `$request_length`, which nginx counts for HTTP/2 as the HPACK-encoded header
//!   block (our `request_header_bytes`);
//! * curl (`gt_curl.jsonl`): TTFB (`d_ttfb_after_request` vs `wait`) and total
//!   (`d_total_after_request` vs `send + wait + receive`) of the h2c transfers within the lab
//!   README tolerance (median |diff| < 1 ms; `--parallel` transfers are excluded there, and
//!   they are TLS here anyway).
//!
//! The TLS (ALPN h2) connections need the key log: they have no http rows yet.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;

use pcapstat_core::HttpVersion;

mod common;

/// Epoch seconds with a decimal fraction (`1795314490.698148`) as exact nanoseconds.
fn epoch_ns(s: &str) -> i64 {
    let (int, frac) = s.split_once('.').unwrap_or((s, ""));
    let frac = format!("{frac:0<9}");
    int.parse::<i64>().unwrap() * 1_000_000_000 + frac[..9].parse::<i64>().unwrap()
}

fn secs_ns(s: &str) -> i64 {
    (s.parse::<f64>().unwrap() * 1e9).round() as i64
}

/// A string or number field of a one-line JSON object, as text.
fn json_field<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    for pat in [format!("\"{key}\": "), format!("\"{key}\":")] {
        if let Some(start) = line.find(&pat) {
            let rest = &line[start + pat.len()..];
            return if let Some(s) = rest.strip_prefix('"') {
                s.split('"').next()
            } else {
                rest.split([',', '}']).next().map(str::trim)
            };
        }
    }
    None
}

#[test]
fn h2c_streams_match_tshark_nginx_and_curl() {
    need_shared!();
    let dir = common::shared().join("lab/h_http2");
    let a = common::analyze(&dir.join("capture.pcap"));
    let timings = &a.timings;
    let port_of = |conn_id: u64| a.connection(conn_id).unwrap().client_port;
    let server_port_of = |conn_id: u64| a.connection(conn_id).unwrap().server_port;

    // tshark: TCP streams → ports; HTTP/2 streams on :8080.
    let streams: BTreeMap<String, (u16, u16)> = common::tsv(&dir.join("ts_tcp_streams.tsv"))
        .into_iter()
        .map(|r| {
            let ports = (
                r["client_port"].parse().unwrap(),
                r["server_port"].parse().unwrap(),
            );
            (r["tcp_stream"].clone(), ports)
        })
        .collect();
    let ts_rows: Vec<_> = common::tsv(&dir.join("ts_http.tsv"))
        .into_iter()
        .filter(|r| r["proto"] == "HTTP/2" && streams[&r["tcp_stream"]].1 == 8080)
        .collect();
    assert_eq!(ts_rows.len(), 4, "h2c streams in tshark's table");

    // nginx: by URI.
    let nginx_text = std::fs::read_to_string(dir.join("gt_nginx_access.jsonl")).unwrap();
    let nginx: BTreeMap<String, &str> = nginx_text
        .lines()
        .filter_map(|l| {
            let req = json_field(l, "request")?;
            Some((req.split(' ').nth(1)?.to_string(), l))
        })
        .collect();

    let mut max_diff_us = 0;
    let mut compared = 0;
    for t in &ts_rows {
        let (port, _) = streams[&t["tcp_stream"]];
        let sid: u32 = t["h2_stream"].parse().unwrap();
        let ours: Vec<_> = a
            .http
            .iter()
            .filter(|r| port_of(r.conn_id) == port && r.stream_id == Some(sid))
            .collect();
        assert_eq!(ours.len(), 1, "port {port} stream {sid}: one row");
        let r = ours[0];
        let at = format!("port {port} stream {sid} {}", t["uri"]);
        assert_eq!(r.version, HttpVersion::Http2, "{at}");
        assert_eq!(r.path.as_deref(), Some(t["uri"].as_str()), "{at}");
        assert_eq!(
            r.status.map(|s| s.to_string()).as_deref(),
            Some(&*t["status"])
        );
        assert_eq!(
            r.response_body_bytes.unwrap().to_string(),
            t["bytes"],
            "{at}"
        );
        assert!(r.complete, "{at}");
        for (ours, theirs) in [
            (Some(r.request_start_ts), "t_request"),
            (r.response_start_ts, "t_first"),
            (r.response_end_ts, "t_last"),
        ] {
            let d = ours.unwrap() - epoch_ns(&t[theirs]);
            max_diff_us = max_diff_us.max(d.abs() / 1000);
            assert_eq!(d, 0, "{at}: {theirs} differs by {d} ns");
        }
        // nginx
        let n = nginx[&t["uri"]];
        let req = json_field(n, "request").unwrap();
        assert_eq!(
            req.split(' ').next(),
            Some(r.method.as_deref().unwrap_or("")),
            "{at}"
        );
        assert_eq!(json_field(n, "status"), Some(&*t["status"]));
        assert_eq!(
            json_field(n, "body_bytes_sent").unwrap(),
            r.response_body_bytes.unwrap().to_string()
        );
        let request_length: u64 = json_field(n, "request_length").unwrap().parse().unwrap();
        assert_eq!(
            r.request_header_bytes, request_length,
            "{at}: nginx $request_length"
        );
        eprintln!(
            "{at}: {} header bytes, {} body bytes, request/first/last equal to tshark",
            r.request_header_bytes,
            r.response_body_bytes.unwrap()
        );
        compared += 1;
    }
    eprintln!("{compared} h2c streams equal to tshark (max |diff| {max_diff_us} us)");

    // No row beyond tshark's streams on the h2c connections (nghttp's PRIORITY-only streams
    // 3..11 make none), and on the TLS connections (no key log applied) only rows inferred
    // from the encrypted records (tests/https_inferred.rs).
    let h2c_rows = a
        .http
        .iter()
        .filter(|r| server_port_of(r.conn_id) == 8080)
        .count();
    assert_eq!(h2c_rows, ts_rows.len());
    assert!(a
        .http
        .iter()
        .all(|r| server_port_of(r.conn_id) != 443 || r.inferred));

    // curl's own timings of the h2c transfers (README tolerance: median |diff| < 1 ms).
    let curl_text = std::fs::read_to_string(dir.join("gt_curl.jsonl")).unwrap();
    let (mut ttfb, mut total) = (Vec::new(), Vec::new());
    for line in curl_text.lines() {
        let url = json_field(line, "url_effective").unwrap_or("");
        if !url.starts_with("http://") || json_field(line, "parallel") == Some("true") {
            continue;
        }
        let port: u16 = json_field(line, "local_port").unwrap().parse().unwrap();
        let path = &url[url[7..].find('/').unwrap() + 7..];
        let (i, _) = a
            .http
            .iter()
            .enumerate()
            .find(|(_, r)| port_of(r.conn_id) == port && r.path.as_deref() == Some(path))
            .unwrap_or_else(|| panic!("{url}: no http row"));
        let t = &timings[i];
        let curl_ttfb = secs_ns(json_field(line, "d_ttfb_after_request").unwrap());
        let curl_total = secs_ns(json_field(line, "d_total_after_request").unwrap());
        let ours_total = t.send_ns.unwrap() + t.wait_ns.unwrap() + t.receive_ns.unwrap();
        eprintln!(
            "{url}: ttfb curl {curl_ttfb} ours {} ns, total curl {curl_total} ours {ours_total} ns",
            t.wait_ns.unwrap()
        );
        ttfb.push(curl_ttfb - t.wait_ns.unwrap());
        total.push(curl_total - ours_total);
    }
    assert_eq!(ttfb.len(), 2, "curl h2c transfers");
    for (name, v) in [("ttfb", &ttfb), ("total", &total)] {
        let mut abs: Vec<i64> = v.iter().map(|d| d.abs()).collect();
        abs.sort_unstable();
        let median = abs[abs.len() / 2];
        eprintln!(
            "{name}: n={} median |diff| {median} ns, max {} ns",
            abs.len(),
            abs[abs.len() - 1]
        );
        assert!(median < 1_000_000, "{name}: median |diff| {median} ns");
    }
}

/// The pcapng copy of the capture gives the same HTTP/2 rows.
#[test]
fn pcapng_copy_gives_the_same_http2_rows() {
    need_shared!();
    let dir = common::shared().join("lab/h_http2");
    let h2 = |name: &str| {
        let a = common::analyze(&dir.join(name));
        a.http
            .into_iter()
            .filter(|r| r.version == HttpVersion::Http2 && !r.inferred)
            .collect::<Vec<_>>()
    };
    let (pcap, pcapng) = (h2("capture.pcap"), h2("capture.pcapng"));
    assert_eq!(pcap.len(), 4);
    assert_eq!(pcap, pcapng);
}
