use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use serde_json::Value;

use super::*;
use crate::stream::tests::{shared, shared_lab_captures, testdata};
use crate::Analyzer;

/// The parsed http rows with their phases: rows inferred from encrypted records are not drawn.
fn parsed(a: &crate::Analysis) -> Vec<(&HttpRecord, &RequestTiming)> {
    a.http_records()
        .iter()
        .zip(a.request_timings())
        .filter(|(h, _)| !h.inferred)
        .collect()
}

/// The lab captures of the repository (with the embedded keys where there are some) and one
/// capture per scenario of the shared lab set (`$PCAPSTAT_SHARED/lab`, else `../shared/lab`
/// beside the repository), with keys if any. Without the shared set the shared part is skipped
/// (and said so), except with `CI=true`, where it fails.
fn lab_captures() -> Vec<String> {
    let mut all: Vec<String> = [
        "lab/d_tls_resumption/capture-with-keys.pcapng",
        "lab/d_tls_resumption/capture.pcap",
        "lab/e_dns/capture.pcap",
        "lab/f_refused_syndrop/capture.pcap",
        "link-null-http.pcap",
        "regress/html/hostile-names.pcap",
        "quic/j_quic-h3.pcapng",
    ]
    .into_iter()
    .map(testdata)
    .collect();
    all.extend(shared_lab_captures("html tests"));
    all
}

fn data_of(a: &Analysis, options: &HtmlOptions) -> Value {
    html_page(a, options)
        .data_json()
        .expect("the page's data is JSON")
}

/// Nearest rank, written out: the value at `ceil(p * n / 100)` (1-based) of the sorted values.
fn rank(values: &[i64], p: usize) -> Option<i64> {
    let mut v = values.to_vec();
    v.sort_unstable();
    let k = (p * v.len()).div_ceil(100).max(1);
    v.get(k - 1).copied()
}

fn ms(ns: i64) -> f64 {
    ms_of(ns)
}

fn f(v: &Value) -> f64 {
    v.as_f64().expect("a number")
}

#[test]
fn rows_are_the_http_rows_with_their_phases_at_their_times() {
    let analyzer = Analyzer::new().threads(2);
    let mut with_rows = 0;
    for path in lab_captures() {
        let a = analyzer.analyze_path(&path).expect(&path);
        let d = data_of(&a, &HtmlOptions::default());
        let origin = a.summary().first_ts.expect("frames");
        assert_eq!(d["origin_ns"].as_i64(), Some(origin));
        let rows = d["waterfall"]["rows"].as_array().expect("rows");
        assert_eq!(rows.len(), parsed(&a).len(), "{path}");
        assert_eq!(d["waterfall"]["requests"].as_u64(), Some(rows.len() as u64));
        assert!(d["waterfall"]["hidden"].is_null());
        with_rows += usize::from(!rows.is_empty());
        let mut by_key = BTreeMap::new();
        for r in rows {
            let key = (r["conn_id"].as_u64(), r["request_index"].as_u64());
            assert!(
                by_key.insert(key, r).is_none(),
                "{path}: one row per request"
            );
        }
        // Grouped: a connection's rows are together.
        let order: Vec<u64> = rows.iter().filter_map(|r| r["conn_id"].as_u64()).collect();
        let mut seen = BTreeSet::new();
        for w in order.windows(2) {
            if w[0] != w[1] {
                assert!(seen.insert(w[0]), "{path}: connection {} split", w[0]);
            }
        }
        let at = |ts: i64| ms_between(origin, ts);
        for (h, t) in parsed(&a) {
            let r = by_key
                .get(&(Some(h.conn_id), Some(u64::from(h.request_index))))
                .expect("the row of a request");
            assert_eq!(f(&r["start_ms"]), at(t.start_ts), "{path}");
            let segs: Vec<(u64, f64, f64)> = r["segments"]
                .as_array()
                .expect("segments")
                .iter()
                .map(|s| (s[0].as_u64().expect("phase"), f(&s[1]), f(&s[2])))
                .collect();
            // In time order, not overlapping, inside the row.
            for s in &segs {
                assert!(s.1 <= s.2, "{path}: {s:?}");
                assert!(s.1 >= f(&r["start_ms"]) && s.2 <= f(&r["end_ms"]), "{path}");
            }
            for w in segs.windows(2) {
                assert!(w[0].2 <= w[1].1 + 1e-9, "{path}: {segs:?}");
            }
            let find = |p: u8| segs.iter().find(|s| s.0 == u64::from(p)).copied();
            // Send, wait and receive are at the record's own times.
            if let Some(e) = h.request_end_ts {
                assert_eq!(
                    find(SEND).map(|s| (s.1, s.2)),
                    Some((at(h.request_start_ts), at(e)))
                );
            }
            match (h.request_end_ts, h.response_start_ts, h.response_end_ts) {
                (Some(q), Some(s), Some(e)) => {
                    assert_eq!(find(WAIT).map(|x| (x.1, x.2)), Some((at(q), at(s))));
                    assert_eq!(find(RECEIVE).map(|x| (x.1, x.2)), Some((at(s), at(e))));
                    assert_eq!(f(&r["end_ms"]), at(e), "{path}");
                }
                (_, None, _) => assert!(find(WAIT).is_none() && find(RECEIVE).is_none()),
                _ => {}
            }
            // Each phase lasts what the http table says.
            for (p, v) in [(DNS, t.dns_ns), (CONNECT, t.connect_ns), (SSL, t.tls_ns)] {
                match v {
                    Some(ns) => {
                        let s = find(p).expect("the phase's segment");
                        assert!((s.2 - s.1 - ms(ns)).abs() < 0.002, "{path}: {p} {s:?} {ns}");
                    }
                    None => assert!(find(p).is_none(), "{path}"),
                }
            }
            if t.reused {
                assert!(find(DNS).is_none() && find(CONNECT).is_none() && find(SSL).is_none());
            }
            // Everything from the start to the last byte: the phases and the blocked gaps.
            if let Some(total) = t.total_ns {
                let covered: f64 = segs.iter().map(|s| s.2 - s.1).sum();
                assert!(
                    (covered - ms(total)).abs() < 0.01,
                    "{path}: {covered} vs {}",
                    ms(total)
                );
            }
            assert_eq!(r["status"].as_u64(), h.status.map(u64::from));
            assert_eq!(r["reused"], t.reused);
        }
    }
    assert!(with_rows >= 2, "captures with requests");
}

/// The histograms count the values of the tables, and their marks are the report's
/// percentiles, which are the nearest-rank percentiles of the same values taken apart.
#[test]
fn histograms_count_the_table_values_and_mark_the_percentiles() {
    let analyzer = Analyzer::new().threads(2);
    for path in lab_captures() {
        let a = analyzer.analyze_path(&path).expect(&path);
        let d = data_of(&a, &HtmlOptions::default());
        let values: BTreeMap<&str, Vec<i64>> = [
            (
                "connect",
                a.connection_records()
                    .iter()
                    .filter_map(|c| c.connect_ns)
                    .collect(),
            ),
            (
                "tls",
                a.tls_records()
                    .iter()
                    .filter_map(|t| t.handshake_ns)
                    .collect(),
            ),
            (
                "dns",
                a.dns_records()
                    .iter()
                    .filter_map(|q| q.latency_ns)
                    .collect(),
            ),
            (
                "wait",
                parsed(&a).iter().filter_map(|(_, t)| t.wait_ns).collect(),
            ),
        ]
        .into_iter()
        .collect();
        let hists = d["histograms"].as_array().expect("histograms");
        assert_eq!(hists.len(), 4);
        for h in hists {
            let name = h["name"].as_str().expect("name");
            let v = &values[name];
            assert_eq!(h["count"].as_u64(), Some(v.len() as u64), "{path} {name}");
            let counts: Vec<u64> = h["counts"]
                .as_array()
                .expect("counts")
                .iter()
                .filter_map(Value::as_u64)
                .collect();
            assert_eq!(counts.iter().sum::<u64>(), v.len() as u64, "{path} {name}");
            for (key, p) in [
                ("p50_ms", 50),
                ("p95_ms", 95),
                ("p99_ms", 99),
                ("max_ms", 100),
            ] {
                assert_eq!(h[key].as_f64(), rank(v, p).map(ms), "{path} {name} {key}");
            }
            if v.is_empty() {
                continue;
            }
            let edges: Vec<f64> = h["edges_ms"]
                .as_array()
                .expect("edges")
                .iter()
                .map(f)
                .collect();
            assert_eq!(edges.len(), counts.len() + 1);
            assert!(edges.windows(2).all(|w| w[0] < w[1]));
            // Each value in its bin (values under the first edge in the first bin).
            let mut want = vec![0u64; counts.len()];
            for &x in v {
                let x = ms(x);
                let bin = edges[1..]
                    .iter()
                    .position(|e| x < *e)
                    .unwrap_or(counts.len() - 1);
                want[bin] += 1;
            }
            let moved: u64 = want.iter().zip(&counts).map(|(a, b)| a.abs_diff(*b)).sum();
            // Floating edges: a value equal to an edge may fall either side (at most one bin).
            assert!(
                moved <= 2 * v.len() as u64 / 50 + 2,
                "{path} {name}: {want:?} {counts:?}"
            );
            let p99 = h["p99_ms"].as_f64().expect("p99");
            assert!(p99 <= edges[counts.len()] && h["max_ms"].as_f64() <= edges.last().copied());
        }
    }
}

/// The over-time series add up to the connections table's totals (bytes exactly; counts in
/// thousandths; new connections with the quic table's), and the requests started to the http
/// rows.
#[test]
fn over_time_adds_up_to_the_tables() {
    let analyzer = Analyzer::new().threads(2);
    for path in lab_captures() {
        let a = analyzer.analyze_path(&path).expect(&path);
        let d = data_of(&a, &HtmlOptions::default());
        let ot = &d["over_time"];
        let n = ot["buckets"].as_u64().expect("buckets") as usize;
        assert!(n <= MAX_BUCKETS, "{path}");
        let sum = |key: &str| -> f64 {
            ot["series"]
                .as_array()
                .expect("series")
                .iter()
                .map(|s| {
                    let col = s[key].as_array().expect(key);
                    assert_eq!(col.len(), n);
                    col.iter().map(f).sum::<f64>()
                })
                .sum()
        };
        let conns = a.connection_records();
        let bytes = |d: fn(&ConnectionRecord) -> &pcapstat_core::DirectionStats| -> u64 {
            conns
                .iter()
                .map(d)
                .filter(|s| s.first_payload_ts.is_some() && s.last_payload_ts.is_some())
                .map(|s| s.payload_bytes)
                .sum()
        };
        assert_eq!(sum("c2s_bytes"), bytes(|c| &c.c2s) as f64, "{path}");
        assert_eq!(sum("s2c_bytes"), bytes(|c| &c.s2c) as f64, "{path}");
        let retx: u64 = conns
            .iter()
            .map(|c| c.c2s.retransmissions + c.s2c.retransmissions)
            .sum();
        assert!(
            (sum("retransmissions") - retx as f64).abs() < 1e-6,
            "{path}"
        );
        let zw: u64 = conns
            .iter()
            .map(|c| c.c2s.zero_windows + c.s2c.zero_windows)
            .sum();
        assert!((sum("zero_windows") - zw as f64).abs() < 1e-6, "{path}");
        // TCP and QUIC connections, each at its start.
        let opened = conns.len() + a.quic_records().len();
        assert!(
            (sum("connections") - opened as f64).abs() < 1e-6,
            "{path}: {} {opened}",
            sum("connections")
        );
        let started: f64 = ot["requests"]
            .as_array()
            .expect("requests")
            .iter()
            .map(f)
            .sum();
        assert_eq!(started, parsed(&a).len() as f64, "{path}");
        assert!(ot["series"].as_array().map_or(0, Vec::len) <= SHOWN_SERIES + 1);
    }
}

/// Past the cap: the first half of the cap by start, then the slowest of the others (no
/// `total` first), chosen apart here; the others counted per bucket.
#[test]
fn the_row_cap_keeps_the_first_and_the_slowest() {
    let path = testdata("lab/d_tls_resumption/capture-with-keys.pcapng");
    let a = Analyzer::new().analyze_path(&path).expect("analyse");
    let n = a.http_records().len();
    assert!(n > 6, "{n} requests");
    for cap in [2, 3, 6] {
        let d = data_of(
            &a,
            &HtmlOptions {
                max_rows: cap,
                ..Default::default()
            },
        );
        let w = &d["waterfall"];
        let shown: BTreeSet<(u64, u64)> = w["rows"]
            .as_array()
            .expect("rows")
            .iter()
            .filter_map(|r| Some((r["conn_id"].as_u64()?, r["request_index"].as_u64()?)))
            .collect();
        let mut all: Vec<(&HttpRecord, &RequestTiming)> = parsed(&a);
        all.sort_by_key(|(h, t)| (t.start_ts, h.conn_id, h.request_index));
        let key = |h: &HttpRecord| (h.conn_id, u64::from(h.request_index));
        let mut want: BTreeSet<(u64, u64)> =
            all.iter().take(cap / 2).map(|(h, _)| key(h)).collect();
        let mut rest: Vec<_> = all.iter().skip(cap / 2).collect();
        rest.sort_by_key(|(h, t)| {
            (
                std::cmp::Reverse(t.total_ns.unwrap_or(i64::MAX)),
                t.start_ts,
                h.conn_id,
                h.request_index,
            )
        });
        want.extend(rest.iter().take(cap - cap / 2).map(|(h, _)| key(h)));
        assert_eq!(shown, want, "cap {cap}");
        assert_eq!(w["shown"].as_u64(), Some(cap as u64));
        assert_eq!(w["requests"].as_u64(), Some(n as u64));
        let hidden = &w["hidden"];
        assert_eq!(hidden["requests"].as_u64(), Some((n - cap) as u64));
        let buckets: f64 = hidden["buckets"]
            .as_array()
            .expect("buckets")
            .iter()
            .map(f)
            .sum();
        assert_eq!(buckets, (n - cap) as f64, "cap {cap}");
    }
}

/// The page made from streamed batches is the page made from the whole analysis.
#[test]
fn streamed_batches_give_the_same_page() {
    for rel in [
        "lab/d_tls_resumption/capture-with-keys.pcapng",
        "lab/e_dns/capture.pcap",
        "lab/f_refused_syndrop/capture.pcap",
        "lab/k_websocket/capture.pcap",
        "quic/j_quic-h3.pcapng",
    ] {
        let path = testdata(rel);
        let analyzer = Analyzer::new().threads(2);
        let a = analyzer.analyze_path(&path).expect("analyse");
        let whole = data_of(&a, &HtmlOptions::default());
        let mut b = HtmlBuilder::new(&HtmlOptions::default());
        let end = analyzer
            .analyze_path_into(&path, &crate::Filter::default(), &mut b)
            .expect("analyse");
        let streamed = b.finish(end.summary, end.stats).data_json().expect("json");
        assert_eq!(streamed, whole, "{rel}");
        // Any batch split and order.
        for (size, seed) in [(1, Some(5)), (3, Some(11))] {
            let mut b = HtmlBuilder::new(&HtmlOptions::default());
            for batch in crate::stream::tests::batches(&a, size, seed) {
                b.add(&batch);
            }
            let page = b.finish(a.summary().clone(), a.stats().clone());
            assert_eq!(page.data_json().expect("json"), whole, "{rel} {size}");
        }
    }
}

/// The timeline's buckets do not depend on the order spans come in, and keep every amount.
#[test]
fn timeline_is_the_same_for_any_order() {
    let mut spans = Vec::new();
    let mut x: u64 = 42;
    let mut next = || {
        x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
        x >> 33
    };
    for _ in 0..300 {
        let a = 1_700_000_000_000_000_000 + (next() as i64 % 50_000_000_000);
        let len = (next() % 4) as i64 * (next() as i64 % 3_000_000_000);
        spans.push((a, a + len, next() % 100_000));
    }
    let build = |order: &[(i64, i64, u64)]| {
        let mut tl = Timeline::default();
        for &(a, b, n) in order {
            tl.spread(SeriesKey::Other, a, b, C2S, n);
        }
        (tl.shift, tl.range, tl.series)
    };
    let forward = build(&spans);
    let mut rev = spans.clone();
    rev.reverse();
    assert_eq!(build(&rev), forward);
    let total: u64 = spans.iter().map(|s| s.2).sum();
    let got: u64 = forward.2[&SeriesKey::Other].values().map(|v| v[C2S]).sum();
    assert_eq!(got, total);
    let (lo, hi) = forward.1.expect("range");
    assert!(hi - lo < MAX_BUCKETS as i64);
    // Extreme timestamps do not overflow.
    let mut tl = Timeline::default();
    tl.spread(SeriesKey::Other, i64::MIN, i64::MAX, S2C, u64::MAX);
    tl.spread(SeriesKey::Other, 0, 0, S2C, 1);
    assert!(tl.series[&SeriesKey::Other].len() <= MAX_BUCKETS);
}

/// Strings from a capture (Host, path, SNI) stay inside the JSON blob: the blob is JSON that
/// gives them back unchanged, and no `</script` or `<!--` can appear in it.
#[test]
fn hostile_strings_stay_in_the_data() {
    let hostile = "</script><script>alert(1)</script><!--\u{2028}&amp;</SCRIPT >";
    let client = pcapstat_core::Endpoint {
        ip: IpAddr::from([10, 0, 0, 1]),
        port: 40_000,
    };
    let server = pcapstat_core::Endpoint {
        ip: IpAddr::from([10, 0, 0, 2]),
        port: 80,
    };
    let h = HttpRecord {
        conn_id: 7,
        client,
        server,
        exchange: pcapstat_core::HttpExchange {
            request_start_ts: 1_000,
            request_end_ts: Some(2_000),
            response_start_ts: Some(5_000),
            response_end_ts: Some(9_000),
            method: Some(format!("GET{hostile}").into()),
            host: Some(hostile.into()),
            path: Some(format!("/{hostile}").into()),
            status: Some(404),
            ..Default::default()
        },
    };
    let t = RequestTiming {
        http_index: 0,
        dns_ns: None,
        dns_query_frame: None,
        connect_ns: None,
        tls_ns: None,
        send_ns: Some(1_000),
        wait_ns: Some(3_000),
        receive_ns: Some(4_000),
        total_ns: Some(8_000),
        start_ts: 1_000,
        reused: false,
        tls_resumed: None,
        sni: Some(hostile.into()),
    };
    let mut long = h.clone();
    long.request_index = 1;
    long.request_start_ts = 20_000;
    long.path = Some(format!("/{}", "é".repeat(100_000)).into());
    let mut t2 = t.clone();
    t2.http_index = 1;
    t2.start_ts = 20_000;
    let mut records = Records::default();
    records.http = vec![h, long];
    records.timings = vec![t, t2];
    let mut b = HtmlBuilder::new(&HtmlOptions {
        title: hostile.into(),
        filter: Some(hostile.into()),
        ..Default::default()
    });
    b.add(&records);
    let any = Analyzer::new()
        .analyze_path(testdata("lab/e_dns/capture.pcap"))
        .expect("a capture");
    let page = b.finish(any.summary().clone(), Stats::default());
    let mut out = Vec::new();
    page.write(&mut out).expect("write");
    let html = String::from_utf8(out).expect("UTF-8");
    let open = "<script type=\"application/json\" id=\"pcapstat-data\">";
    let start = html.find(open).expect("the data element") + open.len();
    let len = html[start..].find("</script>").expect("its end");
    let blob = &html[start..start + len];
    for bad in ["<", ">", "\u{2028}"] {
        assert!(!blob.contains(bad), "{bad:?} in the blob");
    }
    let data: Value = serde_json::from_str(blob).expect("the blob is JSON");
    assert_eq!(data["title"], hostile);
    // A long target is cut at a character boundary.
    let long = &data["waterfall"]["rows"][1]["path"];
    let long = long.as_str().expect("the long path");
    assert!(
        long.len() <= MAX_TEXT + "…".len() && long.ends_with('…'),
        "{}",
        long.len()
    );
    assert!(long.starts_with("/é"));
    assert_eq!(data["waterfall"]["rows"][0]["host"], hostile);
    assert_eq!(data["http_errors"]["first"][0]["server_name"], hostile);
    assert_eq!(
        data["report"]["hosts"][0]["host"]
            .as_str()
            .map(|s| s.contains("script")),
        Some(true)
    );
    // The page has exactly its own two scripts, and the title is text.
    assert_eq!(html.to_ascii_lowercase().matches("<script").count(), 2);
    assert_eq!(html.to_ascii_lowercase().matches("</script").count(), 2);
    assert!(html.contains("<title>&lt;/script&gt;&lt;script&gt;alert(1)"));
    assert!(!html.contains("<!--"));
}

/// The page's own script and style can never end their element early.
#[test]
fn assets_do_not_close_their_elements() {
    for (name, text) in [("page.js", JS), ("page.css", CSS)] {
        let lower = text.to_ascii_lowercase();
        for bad in ["</script", "</style", "<!--"] {
            assert!(!lower.contains(bad), "{name} contains {bad}");
        }
    }
    for marker in ["/*CSS*/", "/*DATA*/", "/*SCRIPT*/", "{{TITLE}}"] {
        assert_eq!(PAGE.matches(marker).count(), 1, "{marker}");
    }
    assert!(!JS.contains("innerHTML") && !JS.contains("insertAdjacentHTML"));
    assert!(!JS.contains("http://") || JS.contains("'http://www.w3.org/2000/svg'"));
}

/// docs/html.md names the cap and the constants the code uses.
#[test]
fn docs_name_the_limits() {
    let doc = include_str!("../../../../docs/html.md");
    for (what, n) in [
        ("MAX_ROWS", MAX_ROWS),
        ("MAX_BUCKETS", MAX_BUCKETS),
        ("MAX_SERIES", MAX_SERIES),
        ("SHOWN_SERIES", SHOWN_SERIES),
        ("HTML_TOP", HTML_TOP),
        ("HISTOGRAM_BINS", HISTOGRAM_BINS),
        ("MAX_TEXT", MAX_TEXT),
    ] {
        let n = n.to_string();
        let with_sep = if n.len() > 3 {
            format!("{},{}", &n[..n.len() - 3], &n[n.len() - 3..])
        } else {
            n.clone()
        };
        assert!(
            doc.contains(&format!("`{what}` = {n}"))
                || doc.contains(&format!("`{what}` = {with_sep}")),
            "docs/html.md: `{what}` = {n}"
        );
    }
}

/// An oracle outside pcapstat: in the lab's load test the server's sending was shaped by a
/// token bucket (`gt_tc_config.txt`: `tbf rate 20Mbit`) and the link was kept busy, so the
/// over-time throughput, while the load ran, sits just under that rate (payload only: the
/// headers are part of the shaped rate).
#[test]
fn load_test_throughput_is_the_shaped_rate() {
    let dir = shared().join("lab/g_load_tbf_retrans");
    let Ok(tc) = std::fs::read_to_string(dir.join("gt_tc_config.txt")) else {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "{} missing; CI=true: not skipped",
            dir.display()
        );
        eprintln!(
            "skipped load_test_throughput_is_the_shaped_rate: no {}",
            dir.display()
        );
        return;
    };
    let rate = tc
        .split_whitespace()
        .skip_while(|w| *w != "rate")
        .nth(1)
        .and_then(|r| r.strip_suffix("Mbit"))
        .and_then(|r| r.parse::<f64>().ok())
        .expect("a tbf rate in Mbit")
        * 1e6;
    let a = Analyzer::new()
        .analyze_path(dir.join("capture.pcap"))
        .expect("the load capture");
    let d = data_of(&a, &HtmlOptions::default());
    let ot = &d["over_time"];
    let seconds = f(&ot["bucket_ms"]) / 1_000.0;
    let n = ot["buckets"].as_u64().expect("buckets") as usize;
    let mut bits: Vec<f64> = (0..n)
        .map(|i| {
            ot["series"]
                .as_array()
                .expect("series")
                .iter()
                .map(|s| f(&s["c2s_bytes"][i]) + f(&s["s2c_bytes"][i]))
                .sum::<f64>()
                * 8.0
                / seconds
        })
        .collect();
    bits.sort_by(f64::total_cmp);
    let median = bits[n / 2];
    assert!(
        median > 0.9 * rate && median <= rate * 1.02,
        "median bucket {median} bit/s, shaped at {rate}"
    );
}
