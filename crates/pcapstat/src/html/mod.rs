//! The self-contained HTML report (`pcapstat analyze capture.pcap --html report.html`,
//! docs/html.md): one file with its CSS, its JavaScript and its data inline, opened from disk
//! without any network access.
//!
//! [`HtmlBuilder`] is a [`RecordSink`]: while a capture is read it makes the page's own
//! [`Report`] (the JSON report's model, with lists of [`HTML_TOP`] entries) and keeps what the
//! charts need, bounded:
//!
//! - **Waterfall**: at most [`HtmlOptions::max_rows`] requests ([`MAX_ROWS`] by default): when
//!   there are more, the first half of the cap by start time and the slowest of the others (by
//!   `total`; a request without `total` counts as slowest) fill the cap; the requests left out
//!   are counted per time bucket, and the page says so.
//! - **Histograms** of connect (connections table), TLS handshake (tls table), DNS latency (dns
//!   table) and wait / TTFB (http table): a value store per figure, binned at the end on a log
//!   scale between the smallest and the largest value; the p50/p95/p99 marks are the report's
//!   (nearest rank).
//! - **Over time**: each connection's payload bytes, retransmissions and zero windows spread
//!   evenly over its payload interval, on a grid of at most [`MAX_BUCKETS`] buckets of 2^k ns
//!   (coarsened as the captured time grows), per server address and port (the first
//!   [`MAX_SERIES`]; later ones in one `(other)` series). The tables hold per-connection
//!   totals, not per-segment times: the charts show when connections ran, not each segment.
//!
//! The data goes into the page as one JSON blob in a `<script type="application/json">`
//! element, with `<`, `>`, `&`, U+2028 and U+2029 written as `\uXXXX` escapes: no string from a
//! capture (Host, path, SNI, DNS name) can close the element, and the page's script only ever
//! puts such strings into the document as text nodes.
//!
//! ```
//! let lab = concat!(env!("CARGO_MANIFEST_DIR"), "/../../testdata/lab");
//! let analysis = pcapstat::Analyzer::new()
//!     .analyze_path(format!("{lab}/d_tls_resumption/capture-with-keys.pcapng"))?;
//! let mut out = Vec::new();
//! pcapstat::html::write_html(&analysis, &pcapstat::html::HtmlOptions::default(), &mut out)?;
//! let page = String::from_utf8(out)?;
//! assert!(page.starts_with("<!DOCTYPE html>"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::collections::BTreeMap;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use serde::Serialize;

use pcapstat_core::{
    host_only, CaptureSummary, ConnectionRecord, DnsRecord, HttpRecord, QuicRecord, RecordSink,
    Records, RequestTiming, Stats, TlsRecord, ValueStore,
};

use crate::error::Error;
use crate::figures::Percentiles;
use crate::report::{endpoint, Report, ReportBuilder, ReportOptions, Top};
use crate::time::rfc3339;
use crate::write::write_file_atomically;
use crate::Analysis;

/// The default cap of waterfall rows.
pub const MAX_ROWS: usize = 2_000;

/// Entries in the page's lists (failed connections, DNS names, HTTP errors).
pub const HTML_TOP: usize = 50;

/// Time buckets of the over-time charts (at most).
pub const MAX_BUCKETS: usize = 200;

/// Servers (address and port) with a series of their own in the over-time charts; the
/// connections of later servers are summed in one `(other)` series.
pub const MAX_SERIES: usize = 100;

/// Series drawn in the over-time charts: the servers with the most payload bytes; the rest are
/// summed in one series.
pub const SHOWN_SERIES: usize = 8;

/// Bins of each histogram.
pub const HISTOGRAM_BINS: usize = 40;

/// Bytes kept of a string from the capture (Host, request target, method, server name) for the
/// page; a longer one is cut at a character boundary and ends with `…`.
pub const MAX_TEXT: usize = 1_024;

/// Server names kept to label the series (the names of the first requests to each address).
const MAX_NAMES: usize = 10_000;

/// The finest bucket: 2^20 ns (about 1 ms).
const MIN_SHIFT: u32 = 20;

const PAGE: &str = include_str!("page.html");
const CSS: &str = include_str!("page.css");
const JS: &str = include_str!("page.js");

/// How the page is made.
#[derive(Debug, Clone)]
pub struct HtmlOptions {
    /// Waterfall rows at most (see the module docs for which requests fill them).
    pub max_rows: usize,
    /// The page's title: the capture's name.
    pub title: String,
    /// The filter the records went through, as the report prints it (`None`: no filter).
    pub filter: Option<String>,
}

impl Default for HtmlOptions {
    fn default() -> Self {
        HtmlOptions {
            max_rows: MAX_ROWS,
            title: "capture".into(),
            filter: None,
        }
    }
}

/// The phases of a waterfall row, in the order the page colours them (HAR's names).
pub const PHASES: [&str; 7] = [
    "blocked", "dns", "connect", "ssl", "send", "wait", "receive",
];

/// One request as the waterfall needs it (absolute capture times, ns).
#[derive(Debug, Clone)]
struct RowAbs {
    h: HttpRecord,
    t: RequestTiming,
}

impl RowAbs {
    fn key(&self) -> (i64, u64, u32) {
        (self.t.start_ts, self.h.conn_id, self.h.request_index)
    }
}

/// The series of the over-time charts.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum SeriesKey {
    /// Requests started (all of them).
    Requests,
    /// A server's connections (`ip:port`).
    Server(String),
    /// The servers past [`MAX_SERIES`].
    Other,
}

const C2S: usize = 0;
const S2C: usize = 1;
const RETX: usize = 2;
const ZW: usize = 3;
const CONNS: usize = 4;
const METRICS: usize = 5;
/// Counts (retransmissions, zero windows, connections, requests) are spread in thousandths.
const MILLI: u64 = 1_000;

/// The sums of one series per bucket index.
type Buckets = BTreeMap<i64, [u64; METRICS]>;

/// Sums per bucket of 2^`shift` ns on the epoch grid, at most [`MAX_BUCKETS`] buckets from the
/// first to the last one used: a span that does not fit doubles the bucket width (buckets
/// merged two by two). An amount spread over a span goes to each bucket in proportion to its
/// overlap, rounded on cumulative sums, so that the buckets are the same whatever order the
/// spans come in.
#[derive(Debug, Clone)]
struct Timeline {
    shift: u32,
    range: Option<(i64, i64)>,
    series: BTreeMap<SeriesKey, Buckets>,
}

impl Default for Timeline {
    fn default() -> Self {
        Timeline {
            shift: MIN_SHIFT,
            range: None,
            series: BTreeMap::new(),
        }
    }
}

impl Timeline {
    fn fit(&mut self, a: i64, b: i64) {
        let (mut lo, mut hi) = match self.range {
            Some((lo, hi)) => (lo.min(a >> self.shift), hi.max(b >> self.shift)),
            None => (a >> self.shift, b >> self.shift),
        };
        while i128::from(hi) - i128::from(lo) + 1 > MAX_BUCKETS as i128 && self.shift < 62 {
            self.shift += 1;
            lo >>= 1;
            hi >>= 1;
            for buckets in self.series.values_mut() {
                let mut merged: Buckets = BTreeMap::new();
                for (i, v) in std::mem::take(buckets) {
                    let m = merged.entry(i >> 1).or_default();
                    for (x, y) in m.iter_mut().zip(v) {
                        *x = x.saturating_add(y);
                    }
                }
                *buckets = merged;
            }
        }
        self.range = Some((lo, hi));
    }

    /// Adds `amount` of metric `which` to `key`, spread evenly over `[a, b]`.
    fn spread(&mut self, key: SeriesKey, a: i64, b: i64, which: usize, amount: u64) {
        if amount == 0 {
            return;
        }
        let (a, b) = (a.min(b), a.max(b));
        self.fit(a, b);
        let s = self.shift;
        let buckets = self.series.entry(key).or_default();
        let span = i128::from(b) - i128::from(a);
        let mut add = |i: i64, n: u64| {
            if n > 0 {
                let v = &mut buckets.entry(i).or_default()[which];
                *v = v.saturating_add(n);
            }
        };
        if span == 0 {
            add(a >> s, amount);
            return;
        }
        let mut before: u128 = 0;
        for i in (a >> s)..=(b >> s) {
            let end = ((i128::from(i) + 1) << s).min(i128::from(b));
            let part = (end - i128::from(a)).max(0) as u128;
            let cum = u128::from(amount) * part / span as u128;
            add(i, u64::try_from(cum - before).unwrap_or(u64::MAX));
            before = cum;
        }
    }

    fn bucket_of(&self, ts: i64) -> i64 {
        ts >> self.shift
    }
}

/// Gathers what the page shows while a capture is read (see the module docs).
#[derive(Debug, Clone)]
pub struct HtmlBuilder {
    options: HtmlOptions,
    report: ReportBuilder,
    requests: u64,
    first: Top<(i64, u64, u32), RowAbs>,
    slowest: Top<(std::cmp::Reverse<i64>, i64, u64, u32), RowAbs>,
    timeline: Timeline,
    connect: ValueStore,
    tls: ValueStore,
    dns: ValueStore,
    wait: ValueStore,
    errors: Top<(i64, u64, u32), RowAbs>,
    errors_4xx: u64,
    errors_5xx: u64,
    names: BTreeMap<String, (i64, String)>,
    /// Servers with a series of their own.
    series_servers: usize,
}

impl RecordSink for HtmlBuilder {
    fn records(&mut self, records: Records) {
        self.add(&records);
    }
}

impl HtmlBuilder {
    /// An empty page.
    pub fn new(options: &HtmlOptions) -> HtmlBuilder {
        let first = options.max_rows / 2;
        HtmlBuilder {
            options: options.clone(),
            report: ReportBuilder::new(&ReportOptions { top: HTML_TOP }),
            requests: 0,
            first: Top::new(first),
            slowest: Top::new(options.max_rows),
            timeline: Timeline::default(),
            connect: ValueStore::new(),
            tls: ValueStore::new(),
            dns: ValueStore::new(),
            wait: ValueStore::new(),
            errors: Top::new(HTML_TOP),
            errors_4xx: 0,
            errors_5xx: 0,
            names: BTreeMap::new(),
            series_servers: 0,
        }
    }

    /// Adds a batch of records.
    pub fn add(&mut self, records: &Records) {
        self.report.add(records);
        self.add_http(&records.http, &records.timings);
        self.add_connections(&records.connections);
        self.add_quic(&records.quic);
        self.add_tls(&records.tls);
        self.add_dns(&records.dns);
    }

    fn add_http(&mut self, http: &[HttpRecord], timings: &[RequestTiming]) {
        for t in timings {
            // Rows inferred from encrypted records are estimates: counted apart in the
            // page's report, not drawn (docs/html.md).
            let Some(h) = http.get(t.http_index).filter(|h| !h.inferred) else {
                continue;
            };
            self.requests += 1;
            let row = || RowAbs {
                h: trimmed(h),
                t: t.clone(),
            };
            let key = (t.start_ts, h.conn_id, h.request_index);
            self.first.offer(key, row);
            let slow = t.total_ns.unwrap_or(i64::MAX);
            self.slowest.offer(
                (
                    std::cmp::Reverse(slow),
                    t.start_ts,
                    h.conn_id,
                    h.request_index,
                ),
                row,
            );
            self.timeline
                .spread(SeriesKey::Requests, t.start_ts, t.start_ts, CONNS, MILLI);
            if let Some(ns) = t.wait_ns {
                self.wait.push(ns);
            }
            match h.status.map(|s| s / 100) {
                Some(4) => self.errors_4xx += 1,
                Some(5) => self.errors_5xx += 1,
                _ => {}
            }
            if matches!(h.status.map(|s| s / 100), Some(4 | 5)) {
                self.errors.offer(key, row);
            }
            let name = t
                .sni
                .as_deref()
                .or(h.host.as_deref())
                .map(|n| cut(&host_only(n).to_ascii_lowercase()))
                .filter(|n| !n.is_empty());
            if let Some(name) = name {
                let server = endpoint(&h.server.ip, h.server.port);
                let kept = self.names.get(&server);
                let better = kept.is_none_or(|(ts, n)| (t.start_ts, &name) < (*ts, n));
                if better && (kept.is_some() || self.names.len() < MAX_NAMES) {
                    self.names.insert(server, (t.start_ts, name));
                }
            }
        }
    }

    /// The over-time series of a server (its own, or `Other` past [`MAX_SERIES`]).
    fn series_key(&mut self, server: String) -> SeriesKey {
        let key = SeriesKey::Server(server);
        if self.timeline.series.contains_key(&key) {
            key
        } else if self.series_servers < MAX_SERIES {
            // (Its series is made by the caller's first spread.)
            self.series_servers += 1;
            key
        } else {
            SeriesKey::Other
        }
    }

    /// QUIC connections: a new connection of their server at their first packet (their
    /// payload is encrypted datagrams, not in the TCP series).
    fn add_quic(&mut self, quic: &[QuicRecord]) {
        for q in quic {
            let key = self.series_key(endpoint(&q.server.ip, q.server.port));
            self.timeline
                .spread(key, q.start_ts, q.start_ts, CONNS, MILLI);
        }
    }

    fn add_connections(&mut self, connections: &[ConnectionRecord]) {
        for c in connections {
            if let Some(ns) = c.connect_ns {
                self.connect.push(ns);
            }
            let key = self.series_key(endpoint(&c.server_ip, c.server_port));
            let tl = &mut self.timeline;
            tl.spread(key.clone(), c.start_ts, c.start_ts, CONNS, MILLI);
            for (d, which) in [(&c.c2s, C2S), (&c.s2c, S2C)] {
                if let (Some(a), Some(b)) = (d.first_payload_ts, d.last_payload_ts) {
                    tl.spread(key.clone(), a, b, which, d.payload_bytes);
                }
            }
            // Retransmissions and zero windows over the connection's data (else its life).
            let first = [c.c2s.first_payload_ts, c.s2c.first_payload_ts]
                .into_iter()
                .flatten()
                .min()
                .unwrap_or(c.start_ts);
            let last = [c.c2s.last_payload_ts, c.s2c.last_payload_ts]
                .into_iter()
                .flatten()
                .max()
                .unwrap_or(c.end_ts)
                .max(first);
            let retx = c.c2s.retransmissions + c.s2c.retransmissions;
            let zw = c.c2s.zero_windows + c.s2c.zero_windows;
            tl.spread(key.clone(), first, last, RETX, retx.saturating_mul(MILLI));
            tl.spread(key, first, last, ZW, zw.saturating_mul(MILLI));
        }
    }

    fn add_tls(&mut self, tls: &[TlsRecord]) {
        for t in tls {
            if let Some(ns) = t.handshake_ns {
                self.tls.push(ns);
            }
        }
    }

    fn add_dns(&mut self, dns: &[DnsRecord]) {
        for d in dns {
            if let Some(ns) = d.latency_ns {
                self.dns.push(ns);
            }
        }
    }

    /// The page's data: the records added, with the capture's `summary` and counters.
    pub fn finish(self, summary: CaptureSummary, stats: Stats) -> HtmlPage {
        let report = self.report.finish(summary, stats);
        let first = self.first.into_rows();
        let origin = report
            .summary
            .first_ts
            .or_else(|| first.first().map(|r| r.t.start_ts))
            .unwrap_or(0);
        let end = report.summary.last_ts.unwrap_or(origin).max(origin);
        let ms = |ts: i64| ms_between(origin, ts);

        // The waterfall rows: every request, or the first half of the cap by start and the
        // slowest of the others.
        let total = self.requests;
        let max_rows = self.options.max_rows;
        let capped = total > max_rows as u64;
        let mut rows: Vec<RowAbs> = if capped {
            let mut shown: std::collections::BTreeSet<(i64, u64, u32)> =
                first.iter().map(RowAbs::key).collect();
            let mut rows = first;
            for r in self.slowest.into_rows() {
                if rows.len() >= max_rows {
                    break;
                }
                if shown.insert(r.key()) {
                    rows.push(r);
                }
            }
            rows
        } else {
            // Every request is in the slowest list (it is as long as the cap).
            self.slowest.into_rows()
        };
        rows.truncate(self.options.max_rows);
        // Grouped by connection (in order of the connection's first shown request), then by
        // start within it.
        let mut conn_first: BTreeMap<u64, (i64, u64, u32)> = BTreeMap::new();
        for r in &rows {
            let k = r.key();
            conn_first
                .entry(r.h.conn_id)
                .and_modify(|f| *f = (*f).min(k))
                .or_insert(k);
        }
        rows.sort_by_key(|r| (conn_first.get(&r.h.conn_id).copied(), r.key()));
        let hidden = capped.then(|| {
            let mut counts = bucket_counts(&self.timeline, &SeriesKey::Requests);
            for r in &rows {
                let i = self.timeline.bucket_of(r.t.start_ts);
                if let Some(c) = counts.get_mut(&i) {
                    *c = c.saturating_sub(MILLI);
                }
            }
            Hidden {
                requests: total - rows.len() as u64,
                buckets: dense(&self.timeline, |i| {
                    counts.get(&i).map_or(0.0, |c| (*c / MILLI) as f64)
                }),
            }
        });
        let waterfall = Waterfall {
            phases: PHASES,
            requests: total,
            shown: rows.len() as u64,
            max_rows: self.options.max_rows as u64,
            rows: rows.iter().map(|r| row(r, &ms)).collect(),
            hidden,
        };

        let hist = |name: &'static str, label: &'static str, store: &ValueStore, p| {
            histogram(name, label, store, p)
        };
        let app = &report.applications;
        let histograms = vec![
            hist(
                "connect",
                "TCP connect",
                &self.connect,
                report.connections.connect,
            ),
            hist("tls", "TLS handshake", &self.tls, app.tls.handshake),
            hist("dns", "DNS latency", &self.dns, app.dns.latency),
            hist("wait", "Wait (TTFB)", &self.wait, app.http.wait),
        ];

        let over_time = over_time(&self.timeline, &self.names, origin);
        let errors = HttpErrors {
            count_4xx: self.errors_4xx,
            count_5xx: self.errors_5xx,
            first: self
                .errors
                .into_rows()
                .iter()
                .map(|r| row(r, &ms))
                .collect(),
        };
        HtmlPage {
            data: PageData {
                generator: concat!("pcapstat ", env!("CARGO_PKG_VERSION")),
                title: self.options.title,
                filter: self.options.filter,
                origin: rfc3339(origin),
                origin_ns: origin,
                end_ms: ms(end),
                waterfall,
                histograms,
                over_time,
                http_errors: errors,
                report,
            },
        }
    }
}

/// `s`, or its first [`MAX_TEXT`] bytes (at a character boundary) and `…`.
fn cut(s: &str) -> String {
    if s.len() <= MAX_TEXT {
        return s.to_string();
    }
    let mut end = MAX_TEXT;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

/// A copy of a request for the page, its strings cut to [`MAX_TEXT`] bytes.
fn trimmed(h: &HttpRecord) -> HttpRecord {
    let mut h = h.clone();
    for field in [
        &mut h.exchange.method,
        &mut h.exchange.host,
        &mut h.exchange.path,
    ] {
        if let Some(v) = field.as_mut() {
            if v.len() > MAX_TEXT {
                *v = cut(v).into();
            }
        }
    }
    h
}

/// Milliseconds from `origin` to `ts`, to the microsecond.
fn ms_between(origin: i64, ts: i64) -> f64 {
    let ns = i128::from(ts) - i128::from(origin);
    ((ns as f64) / 1_000.0).round() / 1_000.0
}

fn ms_of(ns: i64) -> f64 {
    ms_between(0, ns)
}

fn bucket_counts(tl: &Timeline, key: &SeriesKey) -> BTreeMap<i64, u64> {
    tl.series
        .get(key)
        .map(|b| b.iter().map(|(i, v)| (*i, v[CONNS])).collect())
        .unwrap_or_default()
}

/// One value per bucket of the timeline's range.
fn dense(tl: &Timeline, f: impl Fn(i64) -> f64) -> Vec<f64> {
    match tl.range {
        Some((lo, hi)) => (lo..=hi).map(f).collect(),
        None => Vec::new(),
    }
}

/// The page: its data, written with the page's HTML, CSS and script.
#[derive(Debug, Clone)]
pub struct HtmlPage {
    data: PageData,
}

impl HtmlPage {
    /// The report the page shows.
    pub fn report(&self) -> &Report {
        &self.data.report
    }

    /// The page's data as the JSON value the page's script reads.
    ///
    /// # Errors
    /// A serialisation error (none is expected).
    pub fn data_json(&self) -> serde_json::Result<serde_json::Value> {
        serde_json::to_value(&self.data)
    }

    /// Writes the page to `out`.
    ///
    /// # Errors
    /// The writer's I/O errors.
    pub fn write(&self, out: impl Write) -> std::io::Result<()> {
        let mut out = BufWriter::new(out);
        let json = serde_json::to_string(&self.data)?;
        let (head, rest) = PAGE.split_once("/*DATA*/").unwrap_or((PAGE, ""));
        let (mid, tail) = rest.split_once("/*SCRIPT*/").unwrap_or((rest, ""));
        let (head_a, head_b) = head.split_once("/*CSS*/").unwrap_or((head, ""));
        out.write_all(
            head_a
                .replace("{{TITLE}}", &escape_text(&self.data.title))
                .as_bytes(),
        )?;
        out.write_all(CSS.as_bytes())?;
        out.write_all(head_b.as_bytes())?;
        out.write_all(script_safe(&json).as_bytes())?;
        out.write_all(mid.as_bytes())?;
        out.write_all(JS.as_bytes())?;
        out.write_all(tail.as_bytes())?;
        out.flush()
    }

    /// Writes the page to `path` atomically: under a temporary name in the same directory,
    /// synced, then renamed (an interrupted run leaves no partial file at `path`).
    ///
    /// # Errors
    /// [`Error::Write`] for I/O errors.
    pub fn write_file(&self, path: &Path) -> Result<(), Error> {
        write_file_atomically(path, "html", |file| self.write(file))
    }
}

/// Writes the HTML report of `analysis` to `out`.
///
/// # Errors
/// The writer's I/O errors, as [`Error::Write`] naming `<writer>`.
pub fn write_html(
    analysis: &Analysis,
    options: &HtmlOptions,
    out: impl Write,
) -> Result<(), Error> {
    html_page(analysis, options)
        .write(out)
        .map_err(|source| Error::Write {
            path: PathBuf::from("<writer>"),
            source,
        })
}

/// The page of `analysis`.
pub fn html_page(analysis: &Analysis, options: &HtmlOptions) -> HtmlPage {
    let mut b = HtmlBuilder::new(options);
    let records = analysis.records();
    // Every kind of record, as `HtmlBuilder::add` feeds a streamed page (the report's
    // WebSocket and QUIC sections and the per-server rows of QUIC connections included).
    b.report.add_connections(&records.connections);
    b.report.add_tls(&records.tls);
    b.report.add_http(&records.http, &records.timings);
    b.report.add_dns(&records.dns);
    b.report.add_websocket(&records.websocket);
    b.report.add_quic(&records.quic);
    b.add_http(&records.http, &records.timings);
    b.add_connections(&records.connections);
    b.add_quic(&records.quic);
    b.add_tls(&records.tls);
    b.add_dns(&records.dns);
    b.finish(analysis.summary().clone(), analysis.stats().clone())
}

/// JSON made safe inside a `<script>` element: `<`, `>` and `&` (which JSON has only inside
/// strings) and the two line separators JavaScript once refused, as `\u` escapes.
pub fn script_safe(json: &str) -> String {
    let mut out = String::with_capacity(json.len());
    for c in json.chars() {
        match c {
            '<' => out.push_str("\\u003c"),
            '>' => out.push_str("\\u003e"),
            '&' => out.push_str("\\u0026"),
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            c => out.push(c),
        }
    }
    out
}

/// Text for an HTML text node (the `<title>`).
fn escape_text(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[derive(Debug, Clone, Serialize)]
struct PageData {
    generator: &'static str,
    title: String,
    filter: Option<String>,
    /// The time axis' zero: the capture's first frame (RFC 3339).
    origin: String,
    origin_ns: i64,
    /// The capture's last frame, ms after the origin.
    end_ms: f64,
    waterfall: Waterfall,
    histograms: Vec<Histogram>,
    over_time: OverTime,
    http_errors: HttpErrors,
    /// The JSON report (docs/summary.md), lists of [`HTML_TOP`].
    report: Report,
}

#[derive(Debug, Clone, Serialize)]
struct Waterfall {
    phases: [&'static str; 7],
    /// Requests (rows of the http table).
    requests: u64,
    /// Rows drawn.
    shown: u64,
    max_rows: u64,
    rows: Vec<Row>,
    /// The requests not drawn, when there are more than `max_rows`.
    hidden: Option<Hidden>,
}

#[derive(Debug, Clone, Serialize)]
struct Hidden {
    requests: u64,
    /// Requests not drawn that started in each bucket of `over_time`.
    buckets: Vec<f64>,
}

/// A waterfall row: one request. Times in ms after the page's origin.
#[derive(Debug, Clone, Serialize)]
struct Row {
    conn_id: u64,
    request_index: u32,
    stream_id: Option<u32>,
    start_ms: f64,
    end_ms: f64,
    /// `[phase index, start ms, end ms]`, in time order.
    segments: Vec<(u8, f64, f64)>,
    method: Option<String>,
    url: String,
    host: Option<String>,
    /// The request target as sent.
    path: Option<String>,
    status: Option<u16>,
    version: &'static str,
    client: String,
    server: String,
    server_name: Option<String>,
    reused: bool,
    tls_resumed: Option<bool>,
    complete: bool,
    request_bytes: u64,
    response_bytes: Option<u64>,
    dns_ms: Option<f64>,
    connect_ms: Option<f64>,
    tls_ms: Option<f64>,
    send_ms: Option<f64>,
    wait_ms: Option<f64>,
    receive_ms: Option<f64>,
    total_ms: Option<f64>,
}

/// Phase indices of [`PHASES`].
const BLOCKED: u8 = 0;
const DNS: u8 = 1;
const CONNECT: u8 = 2;
const SSL: u8 = 3;
const SEND: u8 = 4;
const WAIT: u8 = 5;
const RECEIVE: u8 = 6;

/// The phases of a request on the absolute time axis (ns): DNS from the request's start; the
/// TCP connect from the SYN (the start, without DNS) and TLS after it; else (with DNS, where
/// the SYN time is not in the row) connect and TLS end at the first request byte; send, wait
/// and receive at their own times; the time between phases is `blocked`.
fn segments(h: &HttpRecord, t: &RequestTiming) -> Vec<(u8, i64, i64)> {
    let mut out = Vec::new();
    let mut push = |p: u8, a: i64, b: i64| {
        if b >= a {
            out.push((p, a, b));
        }
    };
    let start = t.start_ts;
    let req = h.request_start_ts;
    let mut at = start;
    if let Some(d) = t.dns_ns {
        push(DNS, start, start.saturating_add(d));
        at = start.saturating_add(d);
    }
    let hs = t
        .connect_ns
        .unwrap_or(0)
        .saturating_add(t.tls_ns.unwrap_or(0));
    if t.connect_ns.is_some() || t.tls_ns.is_some() {
        let from = if t.dns_ns.is_none() && t.connect_ns.is_some() {
            start
        } else {
            req.saturating_sub(hs).max(at)
        };
        if from > at {
            push(BLOCKED, at, from);
        }
        let mut c = from;
        if let Some(n) = t.connect_ns {
            push(CONNECT, c, c.saturating_add(n));
            c = c.saturating_add(n);
        }
        if let Some(n) = t.tls_ns {
            push(SSL, c, c.saturating_add(n));
            c = c.saturating_add(n);
        }
        at = c;
    }
    if req > at {
        push(BLOCKED, at, req);
    }
    let mut last = req;
    if let Some(e) = h.request_end_ts {
        push(SEND, req, e);
        last = e;
    }
    if let Some(r) = h.response_start_ts {
        push(WAIT, last, r);
        if let Some(e) = h.response_end_ts {
            push(RECEIVE, r, e);
        }
    }
    out
}

fn row(r: &RowAbs, ms: &impl Fn(i64) -> f64) -> Row {
    let (h, t) = (&r.h, &r.t);
    let tls = t.sni.is_some() || t.tls_resumed.is_some() || t.tls_ns.is_some();
    let segs = segments(h, t);
    let end = segs
        .iter()
        .map(|s| s.2)
        .max()
        .unwrap_or(h.request_start_ts)
        .max(t.start_ts);
    Row {
        conn_id: h.conn_id,
        request_index: h.request_index,
        stream_id: h.stream_id,
        start_ms: ms(t.start_ts),
        end_ms: ms(end),
        segments: segs.iter().map(|&(p, a, b)| (p, ms(a), ms(b))).collect(),
        method: h.method.as_deref().map(str::to_owned),
        url: crate::har::url(h, tls),
        host: h.host.as_deref().map(str::to_owned),
        path: h.path.as_deref().map(str::to_owned),
        status: h.status,
        version: h.version.as_str(),
        client: endpoint(&h.client.ip, h.client.port),
        server: endpoint(&h.server.ip, h.server.port),
        server_name: t.sni.clone(),
        reused: t.reused,
        tls_resumed: t.tls_resumed,
        complete: h.complete,
        request_bytes: h.request_header_bytes + h.request_body_bytes,
        response_bytes: h
            .response_header_bytes
            .map(|hd| hd + h.response_body_bytes.unwrap_or(0)),
        dns_ms: t.dns_ns.map(ms_of),
        connect_ms: t.connect_ns.map(ms_of),
        tls_ms: t.tls_ns.map(ms_of),
        send_ms: t.send_ns.map(ms_of),
        wait_ms: t.wait_ns.map(ms_of),
        receive_ms: t.receive_ns.map(ms_of),
        total_ms: t.total_ns.map(ms_of),
    }
}

/// A histogram of one figure with the report's marks.
#[derive(Debug, Clone, Serialize)]
struct Histogram {
    name: &'static str,
    label: &'static str,
    /// Values (the report's `count`).
    count: usize,
    /// Bin edges, ms (`counts.len() + 1` of them; log-spaced).
    edges_ms: Vec<f64>,
    counts: Vec<u64>,
    p50_ms: Option<f64>,
    p95_ms: Option<f64>,
    p99_ms: Option<f64>,
    max_ms: Option<f64>,
}

/// The bins of the values of `store`: [`HISTOGRAM_BINS`] log-spaced between the smallest and
/// the largest value (at least 1 µs; a range narrower than ×1.5 widened around them).
fn histogram(
    name: &'static str,
    label: &'static str,
    store: &ValueStore,
    p: Option<Percentiles>,
) -> Histogram {
    let mut h = Histogram {
        name,
        label,
        count: store.len(),
        edges_ms: Vec::new(),
        counts: Vec::new(),
        p50_ms: p.map(|p| ms_of(p.p50)),
        p95_ms: p.map(|p| ms_of(p.p95)),
        p99_ms: p.map(|p| ms_of(p.p99)),
        max_ms: p.map(|p| ms_of(p.max)),
    };
    let (Some(min), Some(max)) = (
        store.nth(0),
        store.len().checked_sub(1).and_then(|k| store.nth(k)),
    ) else {
        return h;
    };
    let mut lo = (min.max(1_000)) as f64;
    let mut hi = (max.max(1_000)) as f64;
    if hi / lo < 1.5 {
        let mid = (hi * lo).sqrt();
        lo = mid / 1.25;
        hi = mid * 1.25;
    }
    // A little room so that the largest value is inside the last bin.
    hi *= 1.0001;
    let span = (hi / lo).ln();
    let n = HISTOGRAM_BINS;
    h.edges_ms = (0..=n)
        .map(|k| lo * (span * k as f64 / n as f64).exp() / 1e6)
        .collect();
    h.counts = vec![0; n];
    for v in store.sorted() {
        let x = (v.max(1) as f64 / lo).ln() / span * n as f64;
        let bin = if x.is_finite() && x > 0.0 {
            (x.floor() as usize).min(n - 1)
        } else {
            0
        };
        if let Some(c) = h.counts.get_mut(bin) {
            *c += 1;
        }
    }
    h
}

#[derive(Debug, Clone, Serialize)]
struct OverTime {
    /// The first bucket's start, ms after the origin (may be before 0: the grid is the epoch's).
    start_ms: f64,
    bucket_ms: f64,
    buckets: usize,
    /// Requests started per bucket (all requests).
    requests: Vec<f64>,
    /// The [`SHOWN_SERIES`] servers with the most payload bytes, then `others` (the rest).
    series: Vec<Series>,
}

#[derive(Debug, Clone, Serialize)]
struct Series {
    /// `ip:port`, `(other)` or `others`.
    server: String,
    /// A name of the server (the SNI or Host of its first request), if one was seen.
    name: Option<String>,
    c2s_bytes: Vec<f64>,
    s2c_bytes: Vec<f64>,
    retransmissions: Vec<f64>,
    zero_windows: Vec<f64>,
    connections: Vec<f64>,
    total_bytes: u64,
}

fn over_time(tl: &Timeline, names: &BTreeMap<String, (i64, String)>, origin: i64) -> OverTime {
    let width: i128 = 1 << tl.shift;
    let (lo, hi) = tl.range.unwrap_or((origin >> tl.shift, origin >> tl.shift));
    let buckets = (i128::from(hi) - i128::from(lo) + 1).max(0) as usize;
    let start = i128::from(lo) * width - i128::from(origin);
    let series_of = |server: String, name: Option<String>, parts: &[&Buckets]| {
        let col = |m: usize, scale: f64| -> Vec<f64> {
            (lo..=hi)
                .map(|i| {
                    let sum: u64 = parts
                        .iter()
                        .filter_map(|p| p.get(&i))
                        .map(|v| v[m])
                        .fold(0, u64::saturating_add);
                    sum as f64 / scale
                })
                .collect()
        };
        let total_bytes = parts
            .iter()
            .flat_map(|p| p.values())
            .map(|v| v[C2S].saturating_add(v[S2C]))
            .fold(0, u64::saturating_add);
        Series {
            server,
            name,
            c2s_bytes: col(C2S, 1.0),
            s2c_bytes: col(S2C, 1.0),
            retransmissions: col(RETX, MILLI as f64),
            zero_windows: col(ZW, MILLI as f64),
            connections: col(CONNS, MILLI as f64),
            total_bytes,
        }
    };
    let mut servers: Vec<(&SeriesKey, &Buckets, u64)> = tl
        .series
        .iter()
        .filter(|(k, _)| **k != SeriesKey::Requests)
        .map(|(k, b)| {
            let bytes = b
                .values()
                .map(|v| v[C2S].saturating_add(v[S2C]))
                .fold(0, u64::saturating_add);
            (k, b, bytes)
        })
        .collect();
    servers.sort_by(|a, b| b.2.cmp(&a.2).then_with(|| a.0.cmp(b.0)));
    let mut series = Vec::new();
    let mut rest = Vec::new();
    for (k, b, _) in servers {
        match k {
            SeriesKey::Server(s) if series.len() < SHOWN_SERIES => {
                let name = names.get(s).map(|(_, n)| n.clone());
                series.push(series_of(s.clone(), name, &[b]));
            }
            _ => rest.push(b),
        }
    }
    if !rest.is_empty() {
        series.push(series_of("others".into(), None, &rest));
    }
    let requests = tl.series.get(&SeriesKey::Requests);
    OverTime {
        start_ms: ms_between(0, i64::try_from(start).unwrap_or(0)),
        bucket_ms: ms_of(i64::try_from(width).unwrap_or(i64::MAX)),
        buckets,
        requests: (lo..=hi)
            .map(|i| {
                requests
                    .and_then(|r| r.get(&i))
                    .map_or(0.0, |v| (v[CONNS] / MILLI) as f64)
            })
            .collect(),
        series,
    }
}

/// HTTP responses with a 4xx or 5xx status.
#[derive(Debug, Clone, Serialize)]
struct HttpErrors {
    count_4xx: u64,
    count_5xx: u64,
    /// The first [`HTML_TOP`] of them, by start.
    first: Vec<Row>,
}

#[cfg(test)]
mod tests;
