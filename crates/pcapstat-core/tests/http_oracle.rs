//! HTTP/1.x records against tshark (`testdata/expected/http/<name>.tsv`, made by
//! `scripts/gen-httpdns-fixtures.py`) on the lab captures and the shared captures with HTTP
//! (records from the whole pipeline, `app::AppFactory`), and against curl's own timings in the
//! lab (`gt_curl.jsonl`).
//!
//! Requests are paired per (client port, server port) in time order. Every disagreement on
//! method, host, path or status, and every request only one side has, must be listed in
//! `testdata/expected/http/KNOWN_DIFFERENCES.tsv` with its reason; the test fails when a listed
//! difference disappears or an unlisted one appears.
#![allow(clippy::unwrap_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use pcapstat_core::fuzzing::{
    ConnMeta, Decoder, Direction, Endpoint, HttpConfig, HttpParser, Probe, SinkFactory, StreamSink,
    TcpTracker, Transport,
};
use pcapstat_core::{Capture, ConnectionRecord, DecodeLimits, HttpExchange, TcpConfig};

mod common;

/// Runs an [`HttpParser`] on connections whose client's first bytes probe as HTTP.
#[derive(Debug)]
struct Sink {
    meta: ConnMeta,
    head: Vec<u8>,
    decided: Option<bool>,
    swapped: bool,
    parser: HttpParser,
}

impl Sink {
    fn dir(&self, d: Direction) -> Direction {
        match (self.swapped, d) {
            (false, d) => d,
            (true, Direction::ClientToServer) => Direction::ServerToClient,
            (true, Direction::ServerToClient) => Direction::ClientToServer,
        }
    }
}

impl StreamSink for Sink {
    fn on_data(&mut self, ts: i64, dir: Direction, bytes: &[u8]) {
        if self.decided.is_none() {
            // Whoever sends a request line first is the client: without a SYN the tracker
            // guesses the client from the ports, and may guess wrong (a server on a high port).
            self.head.extend_from_slice(&bytes[..bytes.len().min(16)]);
            match HttpParser::probe(&self.head) {
                Probe::Yes => {
                    self.decided = Some(true);
                    if dir == Direction::ServerToClient {
                        self.swapped = true;
                        std::mem::swap(&mut self.meta.client, &mut self.meta.server);
                    }
                }
                Probe::No => self.decided = Some(false),
                Probe::NeedMore => {}
            }
        }
        if self.decided == Some(true) {
            let dir = self.dir(dir);
            self.parser.on_data(ts, dir, bytes);
        }
    }
    fn on_gap(&mut self, ts: i64, dir: Direction, len: u64) {
        let dir = self.dir(dir);
        self.parser.on_gap(ts, dir, len);
    }
    fn on_close(&mut self, ts: i64, dir: Direction) {
        let dir = self.dir(dir);
        self.parser.on_close(ts, dir);
    }
}

#[derive(Debug, Default)]
struct Sinks(Vec<(ConnMeta, Vec<HttpExchange>)>);

impl SinkFactory for Sinks {
    type Sink = Sink;
    fn open(&mut self, conn: &ConnMeta) -> Sink {
        Sink {
            meta: *conn,
            head: Vec::new(),
            decided: None,
            swapped: false,
            parser: HttpParser::new(HttpConfig::default()),
        }
    }
    fn close(&mut self, sink: Sink, record: &mut ConnectionRecord) {
        if sink.decided == Some(true) {
            let _ = record;
            self.0.push((sink.meta, sink.parser.into_records()));
        }
    }
}

/// Every HTTP record of a capture with its connection.
fn run(path: &Path) -> Vec<(ConnMeta, HttpExchange)> {
    let mut capture = Capture::open(path).unwrap();
    let mut decoder = Decoder::new(DecodeLimits::default());
    let mut t = TcpTracker::with_sinks(TcpConfig::default(), Sinks::default());
    let mut end = i64::MIN;
    while let Ok(Some(frame)) = capture.next_frame() {
        end = end.max(frame.ts_ns);
        if let Some(Transport::Tcp(seg)) = decoder.decode(&frame).transport {
            t.on_segment(&seg);
        }
    }
    let out = t.finish(end);
    out.factory
        .0
        .into_iter()
        .flat_map(|(m, recs)| recs.into_iter().map(move |r| (m, r)))
        .collect()
}

/// Every HTTP record of a capture with its connection, from the whole pipeline (the
/// application layer's probing, re-probing mid-stream and roles). Rows inferred from encrypted
/// TLS records are not HTTP tshark sees (tests/https_inferred.rs): left out.
fn run_app(path: &Path) -> Vec<(ConnMeta, HttpExchange)> {
    let a = common::analyze(path);
    a.http
        .iter()
        .filter(|h| !h.inferred)
        .map(|h| {
            let c = a.connection(h.conn_id).unwrap();
            let meta = ConnMeta {
                conn_id: c.conn_id,
                client: Endpoint {
                    ip: c.client_ip,
                    port: c.client_port,
                },
                server: Endpoint {
                    ip: c.server_ip,
                    port: c.server_port,
                },
                client_guessed: c.client_guessed,
                start_ts: c.start_ts,
            };
            (meta, h.exchange.clone())
        })
        .collect()
}

fn capture_path(source: &str) -> std::path::PathBuf {
    common::shared().join(source)
}

fn source_of(fixture: &Path) -> String {
    let text = std::fs::read_to_string(fixture).unwrap();
    text.lines()
        .next()
        .and_then(|l| l.strip_prefix("# source: "))
        .unwrap()
        .to_string()
}

#[test]
fn http_records_match_tshark() {
    need_shared!();
    let dir = common::testdata().join("expected/http");
    let mut diffs = BTreeSet::new();
    let (mut files, mut compared, mut equal) = (0, 0, 0);
    for fixture in common::files_under(&dir) {
        let name = fixture.file_stem().unwrap().to_string_lossy().to_string();
        if !fixture.to_string_lossy().ends_with(".tsv") || name == "KNOWN_DIFFERENCES" {
            continue;
        }
        files += 1;
        let ours = run_app(&capture_path(&source_of(&fixture)));
        let mut by_conn: BTreeMap<(u16, u16), Vec<(u64, &HttpExchange)>> = BTreeMap::new();
        for (m, r) in &ours {
            by_conn
                .entry((m.client.port, m.server.port))
                .or_default()
                .push((m.conn_id, r));
        }
        for v in by_conn.values_mut() {
            v.sort_by_key(|(id, r)| (r.request_start_ts, *id, r.request_index));
        }
        let mut theirs: BTreeMap<(u16, u16), Vec<BTreeMap<String, String>>> = BTreeMap::new();
        for row in common::tsv(&fixture) {
            let key = (
                row["src_port"].parse().unwrap(),
                row["dst_port"].parse().unwrap(),
            );
            theirs.entry(key).or_default().push(row);
        }
        let keys: BTreeSet<(u16, u16)> = by_conn.keys().chain(theirs.keys()).copied().collect();
        for key in keys {
            let o = by_conn.get(&key).map(Vec::as_slice).unwrap_or(&[]);
            let t = theirs.get(&key).map(Vec::as_slice).unwrap_or(&[]);
            for i in 0..o.len().max(t.len()) {
                let at = format!("{name}\t{}:{}#{i}", key.0, key.1);
                match (o.get(i), t.get(i)) {
                    (Some((_, r)), Some(row)) => {
                        compared += 1;
                        let fields = [
                            (
                                "method",
                                r.method.as_deref().unwrap_or_default().to_string(),
                                row["method"].clone(),
                            ),
                            (
                                "path",
                                r.path.as_deref().unwrap_or_default().to_string(),
                                row["uri"].clone(),
                            ),
                            (
                                "host",
                                r.host.as_deref().unwrap_or_default().to_string(),
                                row["host"].clone(),
                            ),
                            (
                                "status",
                                r.status.map(|s| s.to_string()).unwrap_or_default(),
                                row["status"].clone(),
                            ),
                        ];
                        let mut same = true;
                        for (f, a, b) in fields {
                            if a != b {
                                same = false;
                                diffs.insert(format!("{at}\t{f}\t{a}\t{b}"));
                            }
                        }
                        equal += usize::from(same);
                    }
                    (Some((_, r)), None) => {
                        diffs.insert(format!(
                            "{at}\tonly_ours\t{} {}\t",
                            r.method.as_deref().unwrap_or(""),
                            r.path.as_deref().unwrap_or("")
                        ));
                    }
                    (None, Some(row)) => {
                        diffs.insert(format!(
                            "{at}\tonly_tshark\t\t{} {}",
                            row["method"], row["uri"]
                        ));
                    }
                    (None, None) => {}
                }
            }
        }
    }
    eprintln!(
        "{files} captures, {compared} requests paired, {equal} equal on all fields, {} differences",
        diffs.len()
    );
    common::check_known_differences(
        &dir.join("KNOWN_DIFFERENCES.tsv"),
        5,
        |_| true,
        &diffs,
        "capture, conn#i, field, ours, tshark",
    );
    assert!(
        files >= 40 && compared >= 1400,
        "{files} files, {compared} requests"
    );
}

/// A string or number field of a one-line JSON object (curl's `-w %{json}`), as text.
fn json_field<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    let pat = format!("\"{key}\": ");
    let start = line.find(&pat)? + pat.len();
    let rest = &line[start..];
    if let Some(s) = rest.strip_prefix('"') {
        s.split('"').next()
    } else {
        rest.split([',', '}']).next().map(str::trim)
    }
}

fn secs(s: &str) -> i64 {
    (s.parse::<f64>().unwrap() * 1e9).round() as i64
}

fn median(v: &mut [i64]) -> i64 {
    v.sort_unstable();
    v[v.len() / 2]
}

/// Each plain-HTTP/1.1 curl transfer of the lab gives one record (same client port and URL)
/// whose first-byte and total times agree with curl's (README tolerance: median |diff| < 1 ms).
#[test]
fn lab_http_matches_curl() {
    need_shared!();
    let lab = common::shared().join("lab");
    let (mut ttfb, mut total) = (Vec::new(), Vec::new());
    let mut n = 0;
    for scen in [
        "a_http_newconn",
        "b_http_keepalive",
        "f_refused_syndrop",
        "g_load_tbf_retrans",
        "i_delay_rtt",
    ] {
        let dir = lab.join(scen);
        let recs = run(&dir.join("capture.pcap"));
        let text = std::fs::read_to_string(dir.join("gt_curl.jsonl")).unwrap();
        for line in text.lines() {
            let url = json_field(line, "url_effective").unwrap_or("");
            if !url.starts_with("http://")
                || json_field(line, "http_version") != Some("1.1")
                || json_field(line, "exitcode") != Some("0")
            {
                continue;
            }
            let port: u16 = json_field(line, "local_port").unwrap().parse().unwrap();
            let path = &url[url[7..].find('/').unwrap() + 7..];
            let mine: Vec<_> = recs
                .iter()
                .filter(|(m, r)| m.client.port == port && r.path.as_deref() == Some(path))
                .collect();
            assert_eq!(mine.len(), 1, "{scen} {url} port {port}");
            let r = &mine[0].1;
            assert!(r.complete, "{scen} {url}");
            let pre = secs(json_field(line, "time_pretransfer").unwrap());
            let start = secs(json_field(line, "time_starttransfer").unwrap());
            let tot = secs(json_field(line, "time_total").unwrap());
            let ours_ttfb = r.response_start_ts.unwrap() - r.request_start_ts;
            let ours_total = r.response_end_ts.unwrap() - r.request_start_ts;
            ttfb.push((start - pre) - ours_ttfb);
            total.push((tot - pre) - ours_total);
            n += 1;
        }
    }
    let abs = |v: &[i64]| v.iter().map(|d| d.abs()).collect::<Vec<_>>();
    let (mut a, mut b) = (abs(&ttfb), abs(&total));
    let (ma, mb) = (median(&mut a), median(&mut b));
    let (xa, xb) = (a[a.len() - 1], b[b.len() - 1]);
    eprintln!(
        "{n} curl transfers: ttfb median |diff| {ma} ns (max {xa}), total median |diff| {mb} ns (max {xb})"
    );
    assert!(n >= 40, "{n} transfers");
    assert!(ma < 1_000_000 && mb < 1_000_000);
}
