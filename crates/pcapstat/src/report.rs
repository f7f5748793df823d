//! The report of an [`Analysis`]: every number the text, markdown and JSON reports,
//! `pcapstat check`, `diff` and `figures` show, computed once from the records.
//!
//! [`Report::of`] counts, takes percentiles, picks the worst-N lists (copied rows) and lists the
//! limits hit; its [`Figures`] are read from those same values (never computed apart), so every
//! output agrees. A `Report` serialises (serde) to the JSON report's shape (docs/summary.md;
//! the CLI adds `file` and `filter`).
//!
//! ```
//! # fn main() -> Result<(), pcapstat::Error> {
//! use pcapstat::figures::Value;
//! use pcapstat::report::{Report, ReportOptions};
//! let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../testdata/lab/f_refused_syndrop/capture.pcap");
//! let analysis = pcapstat::Analyzer::new().analyze_path(path)?;
//! let report = Report::of(&analysis, &ReportOptions { top: 2 });
//! assert_eq!(report.connections.failed, 4); // 3 refused, 1 timed out
//! assert_eq!(report.figures.value("connections.failed"), Some(Some(Value::Count(4))));
//! assert_eq!(report.connections.failed_connections.len(), 2); // the first 2 of them
//! # Ok(())
//! # }
//! ```

use std::collections::BTreeMap;
use std::net::IpAddr;

use serde::ser::{SerializeMap, Serializer};
use serde::Serialize;

use pcapstat_core::Http2Stats;
use pcapstat_core::HttpStats;
use pcapstat_core::{
    CaptureFormat, CaptureSummary, ConnectionRecord, Counters, DirectionStats, DnsRecord,
    DnsTransport, Failure, HttpRecord, Outcome, QuicOutcome, QuicRecord, RecordSink, Records,
    RequestTiming, Side, Stats, TlsDecryptStats, TlsRecord, ValueStore, WebSocketRecord,
};

use crate::figures::{Figures, Percentiles};
use crate::hosts::HostsBuilder;
pub use crate::hosts::{
    DnsNameFailures, DnsNameLatency, HostRow, NameSource, StatusClasses, HOSTS_LIMIT_NAME,
    JOIN_LIMIT_NAME, MAX_HOSTS, MAX_HOST_JOIN, OTHER_HOST,
};
use crate::Analysis;

/// A serde map of `key => value` pairs.
macro_rules! ser_map {
    ($ser:expr, $($k:literal => $v:expr),* $(,)?) => {{
        let mut m = $ser.serialize_map(None)?;
        $(m.serialize_entry($k, &$v)?;)*
        m.end()
    }};
}

/// What a [`Report`] lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReportOptions {
    /// Entries in each list: slowest connects and requests, most retransmissions, failed
    /// connections, top SNIs, new connections per server (default 5).
    pub top: usize,
}

impl Default for ReportOptions {
    fn default() -> Self {
        ReportOptions { top: 5 }
    }
}

/// A count out of a count: the ratios of the figures and the percentages of the report.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Share {
    /// The part.
    pub part: u64,
    /// The whole.
    pub whole: u64,
}

impl Share {
    /// `part` out of `whole`.
    pub fn new(part: u64, whole: u64) -> Share {
        Share { part, whole }
    }

    /// `part / whole`; `None` when the whole is 0.
    pub fn ratio(self) -> Option<f64> {
        (self.whole > 0).then(|| self.part as f64 / self.whole as f64)
    }

    /// `part * 100 / whole`; `None` when the whole is 0.
    pub fn percent(self) -> Option<f64> {
        (self.whole > 0).then(|| self.part as f64 * 100.0 / self.whole as f64)
    }
}

/// A limit that was hit: its counter, the setting that bounds it and what a hit means
/// (docs/limits.md). The report's one list of limits: the text report's "Limits hit" lines, the
/// JSON `limits` list and the figure `capture.limits_hit` (their sum) are made from it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Limit {
    /// Short name of the limit (`out-of-order buffer`).
    pub name: &'static str,
    /// Dotted path of its counter in the JSON `stats` block (`tcp.ooo_limit_hits`).
    pub counter: &'static str,
    /// Times the limit was hit.
    pub count: u64,
    /// The setting that bounds it.
    pub setting: &'static str,
    /// What was cut, after the count: `connections evicted (flow table full)`.
    pub message: &'static str,
}

/// The report of one analysis (see the [module docs](self)).
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// What the capture holds: format, frames, time range, decoding counters, damage (the
    /// whole capture: filters do not apply).
    #[serde(flatten, serialize_with = "summary")]
    pub summary: CaptureSummary,
    /// TCP connections.
    #[serde(rename = "tcp_connections")]
    pub connections: ConnectionsReport,
    /// TLS, HTTP and DNS.
    pub applications: Applications,
    /// The per-server table: every server seen (at most [`MAX_HOSTS`], then one `(other)`
    /// row), most requests first (module [`crate::hosts`] names the rule).
    pub hosts: Vec<HostRow>,
    /// The limits that were hit, in the order of [`pcapstat_core::LIMITS`].
    pub limits: Vec<Limit>,
    /// Every counter of the analysis (the whole capture: filters do not apply).
    #[serde(serialize_with = "counters")]
    pub stats: Stats,
    /// The named figures, read from the values above.
    pub figures: Figures,
}

/// Per-direction totals over all connections.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[allow(missing_docs)] // the DirectionStats fields of the same names, summed
pub struct Totals {
    pub packets: u64,
    pub payload_bytes: u64,
    pub retransmissions: u64,
    pub retransmitted_bytes: u64,
    pub fast_retransmissions: u64,
    pub spurious_retransmissions: u64,
    pub out_of_order: u64,
    pub dup_acks: u64,
    pub zero_windows: u64,
    pub lost_segments: u64,
    pub missed_bytes: u64,
}

impl Totals {
    fn add(&mut self, d: &DirectionStats) {
        self.packets += d.packets;
        self.payload_bytes += d.payload_bytes;
        self.retransmissions += d.retransmissions;
        self.retransmitted_bytes += d.retransmitted_bytes;
        self.fast_retransmissions += d.fast_retransmissions;
        self.spurious_retransmissions += d.spurious_retransmissions;
        self.out_of_order += d.out_of_order;
        self.dup_acks += d.dup_acks;
        self.zero_windows += d.zero_windows;
        self.lost_segments += d.lost_segments;
        self.missed_bytes += d.missed_bytes;
    }

    /// Retransmitted segments out of all segments.
    pub fn retransmission_rate(&self) -> Share {
        Share::new(self.retransmissions, self.packets)
    }

    /// Retransmitted payload bytes out of all payload bytes sent (unique plus copies).
    pub fn retransmission_byte_rate(&self) -> Share {
        Share::new(
            self.retransmitted_bytes,
            self.payload_bytes + self.retransmitted_bytes,
        )
    }
}

/// One connection of a worst-N list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ConnRow {
    /// `conn_id` of the connection.
    pub conn_id: u64,
    /// Client `ip:port`.
    pub client: String,
    /// Server `ip:port`.
    pub server: String,
    /// How it ended.
    #[serde(serialize_with = "outcome_str")]
    pub outcome: Outcome,
    /// Why it failed, if it did.
    #[serde(serialize_with = "opt_failure_str")]
    pub failure: Option<Failure>,
    /// First packet, ns since the epoch.
    pub start_ts: i64,
    /// Connect time.
    pub connect_ns: Option<i64>,
    /// SYNs retransmitted by the client.
    pub syn_retries: u32,
    /// Retransmitted segments, both directions.
    pub retransmissions: u64,
}

/// Failed connections to one server for one failure.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FailureCount {
    /// Server `ip:port`.
    pub server: String,
    /// The failure.
    #[serde(serialize_with = "failure_str")]
    pub failure: Failure,
    /// Connections.
    pub connections: u64,
}

/// The JSON `tracking` block: each name with the counter of the [`Stats`] tree it reads.
const TRACKING: [(&str, &str); 16] = [
    ("midstream_connections", "tcp.midstream_connections"),
    ("port_reuses", "tcp.port_reuses"),
    ("reordered_handshakes", "tcp.reordered_handshakes"),
    ("idle_timeouts", "tcp.idle_timeouts"),
    ("closed_swept", "tcp.closed_swept"),
    ("finished_at_close", "tcp.finished_at_close"),
    ("late_after_close", "tcp.late_after_close"),
    ("max_concurrent", "tcp.max_concurrent"),
    ("evictions", "tcp.evictions"),
    ("ooo_limit_hits", "tcp.ooo_limit_hits"),
    ("app_total_limit_hits", "tcp.app_total_limit_hits"),
    ("rtt_sample_limit_hits", "tcp.rtt_sample_limit_hits"),
    ("unacked_limit_hits", "tcp.unacked_limit_hits"),
    ("probe_limit_hits", "app.probe_limit_hits"),
    ("http_heads_too_large", "app.http_stats.heads_too_large"),
    ("http_pending_dropped", "app.http_stats.pending_dropped"),
];

/// What the report says about TCP connections.
#[derive(Debug, Clone, Serialize)]
pub struct ConnectionsReport {
    /// Connections.
    pub connections: u64,
    /// Connections per outcome name, every outcome (0 included).
    pub outcomes: BTreeMap<&'static str, u64>,
    /// Connect times.
    #[serde(serialize_with = "percentiles")]
    pub connect: Option<Percentiles>,
    /// Initial RTTs.
    #[serde(serialize_with = "percentiles")]
    pub initial_rtt: Option<Percentiles>,
    /// Client to server totals.
    pub c2s: Totals,
    /// Server to client totals.
    pub s2c: Totals,
    /// Both directions.
    #[serde(skip)]
    pub both: Totals,
    /// The longest connects, longest first.
    pub slowest_connects: Vec<ConnRow>,
    /// The most retransmitted segments (at least one), most first.
    pub most_retransmissions: Vec<ConnRow>,
    /// Failed connections (`failure` set).
    pub failed: u64,
    /// Reset connections that did not fail (the reset came after a complete exchange).
    pub reset_after_exchange: u64,
    /// The first failed connections, earliest first.
    pub failed_connections: Vec<ConnRow>,
    /// SYNs retransmitted by clients, summed.
    pub syn_retries: u64,
    /// Failed connections per server and failure, by server then failure.
    pub failures: Vec<FailureCount>,
    /// TCP tracking counters, and the application layer's that bound the connections' parsing:
    /// `midstream_connections`, `port_reuses`, ..., `http_pending_dropped` (the JSON
    /// `tracking` block; the same values are in [`Report::stats`]).
    pub tracking: BTreeMap<&'static str, u64>,
}

impl ConnectionsReport {
    /// Connections with outcome `o`.
    pub fn outcome(&self, o: Outcome) -> u64 {
        self.outcomes.get(o.as_str()).copied().unwrap_or(0)
    }

    /// Failed connections out of all.
    pub fn failure_rate(&self) -> Share {
        Share::new(self.failed, self.connections)
    }
}

/// TLS, HTTP and DNS.
#[derive(Debug, Clone, Serialize)]
pub struct Applications {
    /// TLS handshakes.
    pub tls: TlsReport,
    /// HTTP requests.
    pub http: HttpReport,
    /// DNS queries.
    pub dns: DnsReport,
    /// WebSocket connections (left out of the JSON report when there are none).
    #[serde(skip_serializing_if = "WebSocketReport::is_empty")]
    pub websocket: WebSocketReport,
    /// QUIC connections.
    pub quic: QuicReport,
}

/// What the report says about WebSocket connections (the websocket table; docs/websocket.md).
#[derive(Debug, Clone, Default, Serialize)]
pub struct WebSocketReport {
    /// Connections (rows of the websocket table).
    pub connections: u64,
    /// Of those, over decrypted TLS (`wss`).
    pub secure: u64,
    /// Connections ended without a close frame (the table's `abnormal`).
    pub abnormal_closes: u64,
    /// Connections whose first close frame was the client's.
    pub closed_by_client: u64,
    /// Connections whose first close frame was the server's.
    pub closed_by_server: u64,
    /// First close frames per status code (`none`: a close frame without a payload).
    pub close_codes: BTreeMap<String, u64>,
    /// Messages sent by clients.
    pub messages_c2s: u64,
    /// Messages sent by servers.
    pub messages_s2c: u64,
    /// Data payload bytes sent by clients (on the wire).
    pub payload_bytes_c2s: u64,
    /// Data payload bytes sent by servers (on the wire).
    pub payload_bytes_s2c: u64,
    /// Ping round trips matched with their pong.
    pub ping_rtts: u64,
    /// The connections' median ping round trip (one value per connection with a round trip).
    #[serde(serialize_with = "percentiles")]
    pub ping_rtt: Option<Percentiles>,
    /// The connections' longest silence in either direction (one value per connection).
    #[serde(serialize_with = "percentiles")]
    pub max_idle: Option<Percentiles>,
}

impl WebSocketReport {
    /// No WebSocket connection.
    pub fn is_empty(&self) -> bool {
        self.connections == 0
    }
}

/// What the report says about QUIC (docs/quic.md): connections by outcome and version, and
/// the handshake time (the quic table's `handshake`).
#[derive(Debug, Clone, Default, Serialize)]
pub struct QuicReport {
    /// Connections (rows of the quic table).
    pub connections: u64,
    /// Connections per outcome (`established`, `handshake_incomplete`, `version_negotiation`,
    /// `unreachable`, `no_response`).
    pub outcomes: BTreeMap<String, u64>,
    /// Connections per version in use (`v1`, `v2`, ...).
    pub versions: BTreeMap<String, u64>,
    /// Connections that got a Version Negotiation packet.
    pub version_negotiation: u64,
    /// Connections that got a Retry.
    pub retry: u64,
    /// Connections whose Handshake packets were decrypted with the key log.
    pub handshake_decrypted: u64,
    /// Connections whose 1-RTT packets were decrypted with the key log.
    pub one_rtt_decrypted: u64,
    /// 1-RTT packet numbers skipped (lost before the capture point), both directions, over
    /// the connections decrypted.
    pub pn_gaps: u64,
    /// Connections per `ended_by` (`connection_close`, `idle_timeout`, `open`; those that
    /// cannot tell are left out).
    pub ended: BTreeMap<String, u64>,
    /// Connections whose first CONNECTION_CLOSE read was the client's.
    pub closed_by_client: u64,
    /// Connections whose first CONNECTION_CLOSE read was the server's.
    pub closed_by_server: u64,
    /// Handshake time (first client Initial to the client's Finished).
    #[serde(serialize_with = "percentiles")]
    pub handshake: Option<Percentiles>,
}

impl QuicReport {
    /// Connections with `outcome`.
    pub fn outcome(&self, outcome: QuicOutcome) -> u64 {
        self.outcomes.get(outcome.as_str()).copied().unwrap_or(0)
    }

    /// Connections that did not establish: every outcome but `established`.
    pub fn failed(&self) -> u64 {
        self.connections - self.outcome(QuicOutcome::Established).min(self.connections)
    }
}

/// Handshakes with one SNI.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SniCount {
    /// The SNI, `(none)` for a ClientHello without.
    pub sni: String,
    /// Handshakes.
    pub handshakes: u64,
}

/// New connections to one server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ServerCount {
    /// Server `ip:port`.
    pub server: String,
    /// Connections.
    pub connections: u64,
}

/// What the report says about TLS.
#[derive(Debug, Clone, Serialize)]
pub struct TlsReport {
    /// Handshakes (rows of the tls table).
    pub handshakes: u64,
    /// Handshakes per negotiated version name (`unknown` without ServerHello).
    pub versions: BTreeMap<String, u64>,
    /// Handshakes resumed.
    pub resumed: u64,
    /// Handshakes with a clear-text alert.
    pub alerts: u64,
    /// Decryption counters (all zero without a key log).
    #[serde(serialize_with = "counters")]
    pub decryption: TlsDecryptStats,
    /// Handshake times.
    #[serde(serialize_with = "percentiles")]
    pub handshake: Option<Percentiles>,
    /// Handshakes per SNI (`(none)` without), most first.
    pub top_snis: Vec<SniCount>,
    /// Alerts by sender and description name (`server: protocol_version`).
    pub alert_names: BTreeMap<String, u64>,
}

impl TlsReport {
    /// Resumed handshakes out of all.
    pub fn resumption_rate(&self) -> Share {
        Share::new(self.resumed, self.handshakes)
    }
}

/// One request of the slowest list, with its phases.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[allow(missing_docs)] // the http table's columns of the same names (docs/metrics.md)
pub struct RequestRow {
    pub conn_id: u64,
    pub request_index: u32,
    /// Client `ip:port`.
    pub client: String,
    /// Server `ip:port`.
    pub server: String,
    pub method: Option<String>,
    pub host: Option<String>,
    pub path: Option<String>,
    pub status: Option<u16>,
    pub complete: bool,
    pub request_start_ts: i64,
    pub response_start_ts: Option<i64>,
    pub response_end_ts: Option<i64>,
    pub dns_ns: Option<i64>,
    pub connect_ns: Option<i64>,
    pub tls_ns: Option<i64>,
    pub send_ns: Option<i64>,
    pub wait_ns: Option<i64>,
    pub receive_ns: Option<i64>,
    pub total_ns: Option<i64>,
}

/// What the report says about HTTP.
#[derive(Debug, Clone, Serialize)]
pub struct HttpReport {
    /// Requests (rows of the http table).
    pub requests: u64,
    /// Connections that carried requests (requests with index 0).
    pub connections: u64,
    /// Requests that were not the first on their connection.
    pub reused_requests: u64,
    /// Requests or responses not seen whole.
    pub incomplete: u64,
    /// HTTP/1.x parser counters.
    #[serde(serialize_with = "counters")]
    pub parse: HttpStats,
    /// HTTP/2 parser counters.
    #[serde(serialize_with = "counters")]
    pub http2: Http2Stats,
    /// Requests per final status class (`2xx`; `none` without response).
    pub status: BTreeMap<String, u64>,
    /// Requests per HTTP version (`HTTP/1.1`, `HTTP/2`).
    pub versions: BTreeMap<String, u64>,
    /// Wait (time to first byte).
    #[serde(serialize_with = "percentiles")]
    pub wait: Option<Percentiles>,
    /// Total.
    #[serde(serialize_with = "percentiles")]
    pub total: Option<Percentiles>,
    /// New connections (request index 0) per server, most first.
    pub new_connections_per_server: Vec<ServerCount>,
    /// The complete requests with the longest total, slowest first.
    pub slowest_requests: Vec<RequestRow>,
    /// Exchanges inferred from encrypted TLS records without keys (http rows with `inferred`
    /// true): estimates, kept apart from every figure above (docs/http.md, "HTTPS without
    /// keys").
    pub inferred: InferredReport,
}

/// The report's figures of the http rows inferred from encrypted records (estimates).
#[derive(Debug, Clone, Serialize)]
pub struct InferredReport {
    /// Inferred exchanges (rows).
    pub requests: u64,
    /// Connections they were inferred on.
    pub connections: u64,
    /// Estimated wait (first server record after the request burst's last record).
    #[serde(serialize_with = "percentiles")]
    pub wait: Option<Percentiles>,
    /// Estimated total.
    #[serde(serialize_with = "percentiles")]
    pub total: Option<Percentiles>,
    /// Counters of the inference.
    #[serde(serialize_with = "counters")]
    pub stats: pcapstat_core::InferStats,
}

impl HttpReport {
    /// Requests out of connections (`whole`: connections).
    pub fn requests_per_connection(&self) -> Share {
        Share::new(self.requests, self.connections)
    }

    /// Reused requests out of all.
    pub fn reuse_rate(&self) -> Share {
        Share::new(self.reused_requests, self.requests)
    }

    /// Requests whose status class is `class` (`2xx`), or `none`.
    pub fn status(&self, class: &str) -> u64 {
        self.status.get(class).copied().unwrap_or(0)
    }
}

/// What the report says about DNS. Every query is exactly one of answered, failed by ICMP and
/// unanswered (`DnsRecord::answered`, `unanswered`; docs/dns.md).
#[derive(Debug, Clone, Default, Serialize)]
pub struct DnsReport {
    /// Queries (rows of the dns table).
    pub queries: u64,
    /// Queries answered by a DNS response (the dns table's `answered`).
    pub answered: u64,
    /// Queries retrying an earlier one.
    pub retries: u64,
    /// Queries failed by an ICMP destination unreachable (not answered).
    pub icmp_unreachable: u64,
    /// Queries with neither a DNS response nor an ICMP error.
    pub unanswered: u64,
    /// Queries over TCP.
    pub tcp_queries: u64,
    /// Responses with the TC flag.
    pub truncated: u64,
    /// Responses per rcode name.
    pub rcodes: BTreeMap<String, u64>,
    /// Responses with an rcode other than NOERROR.
    #[serde(skip)]
    pub errors: u64,
    /// NXDOMAIN responses.
    #[serde(skip)]
    pub nxdomain: u64,
    /// SERVFAIL responses.
    #[serde(skip)]
    pub servfail: u64,
    /// Latency (query to DNS response) of the answered queries.
    #[serde(serialize_with = "percentiles")]
    pub latency: Option<Percentiles>,
    /// The names with the most failed queries (an error rcode, unanswered, ICMP), most first.
    pub failed_names: Vec<DnsNameFailures>,
    /// The names with the longest answered query, longest first.
    pub slowest_names: Vec<DnsNameLatency>,
}

impl Report {
    /// The report of `analysis` (filter it first with [`Analysis::filtered`] to scope it): its
    /// records fed to a [`ReportBuilder`] as one batch.
    pub fn of(analysis: &Analysis, options: &ReportOptions) -> Report {
        let mut b = ReportBuilder::new(options);
        b.add_connections(analysis.connection_records());
        b.add_tls(analysis.tls_records());
        b.add_http(analysis.http_records(), analysis.request_timings());
        b.add_dns(analysis.dns_records());
        b.add_websocket(analysis.websocket_records());
        b.add_quic(analysis.quic_records());
        b.finish(analysis.summary().clone(), analysis.stats().clone())
    }

    /// The limits hit, summed (figure `capture.limits_hit`).
    pub fn limits_hit(&self) -> u64 {
        self.limits.iter().map(|l| l.count).sum()
    }
}

/// Distinct names kept in each counting map of a report (failures per server, SNIs, TLS
/// versions, alert names, new connections per server, HTTP status classes and versions, DNS
/// rcodes): the names come from the capture, so an attacker could make them all different. A
/// record whose name would be one more is not counted in that map; [`ReportBuilder`] counts
/// it and the report lists the limit [`KEYS_LIMIT_NAME`] (docs/limits.md).
pub const MAX_REPORT_KEYS: usize = 10_000;

/// The name of the report's own limit: records left out of a per-name count because the map
/// already held [`MAX_REPORT_KEYS`] names. Listed after the limits of
/// [`pcapstat_core::LIMITS`]; its counter (`report.keys_dropped`) is not part of the `stats`
/// tree (which holds the analysis' counters).
pub const KEYS_LIMIT_NAME: &str = "report names";

/// The `count` of a name in a capped map: `false` (nothing counted) when `key` would be a new
/// name past [`MAX_REPORT_KEYS`].
/// A response's status class as the report counts it: `2xx`, …, `none` without a response
/// (made without a copy for the usual ones).
fn status_class(status: Option<u16>) -> std::borrow::Cow<'static, str> {
    const CLASSES: [&str; 6] = ["0xx", "1xx", "2xx", "3xx", "4xx", "5xx"];
    match status {
        None => "none".into(),
        Some(s) => match CLASSES.get(usize::from(s / 100)) {
            Some(c) => (*c).into(),
            None => format!("{}xx", s / 100).into(),
        },
    }
}

pub(crate) fn count_in<V: Default>(
    map: &mut BTreeMap<String, V>,
    key: &str,
    dropped: &mut u64,
    f: impl FnOnce(&mut V),
) {
    if let Some(v) = map.get_mut(key) {
        f(v);
    } else if map.len() < MAX_REPORT_KEYS {
        f(map.entry(key.to_string()).or_default());
    } else {
        *dropped += 1;
    }
}

/// The first `top` rows by a key (smallest first), whatever the order rows are offered in:
/// a sorted list of at most `top` entries. Keys hold a record id, so they are distinct and
/// the list is the same for any batch order; between equal keys the one offered first wins
/// (as a stable sort of all rows would).
#[derive(Debug, Clone)]
pub(crate) struct Top<K, R> {
    top: usize,
    rows: Vec<(K, R)>,
}

impl<K: Ord, R> Top<K, R> {
    pub(crate) fn new(top: usize) -> Self {
        Top {
            top,
            rows: Vec::new(),
        }
    }

    /// Offers the row of `key`; `row` is made only when it gets in.
    pub(crate) fn offer(&mut self, key: K, row: impl FnOnce() -> R) {
        let full = self.rows.len() >= self.top;
        if full && self.rows.last().is_none_or(|(last, _)| key >= *last) {
            return;
        }
        let at = self.rows.partition_point(|(k, _)| *k <= key);
        self.rows.insert(at, (key, row()));
        self.rows.truncate(self.top);
    }

    pub(crate) fn into_rows(self) -> Vec<R> {
        self.rows.into_iter().map(|(_, r)| r).collect()
    }
}

type ConnKey<T> = (T, u64);

/// A [`Report`] made a batch of records at a time, keeping only what it prints: counters, one
/// compact store of values per percentile figure (a `pcapstat_core::ValueStore`, 1–3 bytes per
/// value on timing data: connect and initial RTT per connection, handshake per TLS row, wait
/// and total per request, latency per DNS query), the
/// first `top` rows of each list and counting maps of at most [`MAX_REPORT_KEYS`] names. The
/// report is the same for any split of the records into batches and any batch order (as long as
/// no map reaches its cap); [`Report::of`] is this builder fed one batch.
///
/// ```
/// # fn main() -> Result<(), pcapstat::Error> {
/// use pcapstat::report::{ReportBuilder, ReportOptions};
/// let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../testdata/lab/f_refused_syndrop/capture.pcap");
/// let mut report = ReportBuilder::new(&ReportOptions::default());
/// let end = pcapstat::Analyzer::new().analyze_path_into(path, &Default::default(), &mut report)?;
/// let report = report.finish(end.summary, end.stats);
/// assert_eq!(report.connections.failed, 4);
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct ReportBuilder {
    top: usize,
    /// Threads [`ReportBuilder::finish`] may use (0: one per core), [`ReportBuilder::threads`].
    threads: usize,
    keys_dropped: u64,
    // connections
    connections: u64,
    outcomes: BTreeMap<&'static str, u64>,
    c2s: Totals,
    s2c: Totals,
    both: Totals,
    failures: BTreeMap<String, BTreeMap<&'static str, (Failure, u64)>>,
    failed: u64,
    reset_after_exchange: u64,
    syn_retries: u64,
    connect: ValueStore,
    initial_rtt: ValueStore,
    slowest_connects: Top<ConnKey<std::cmp::Reverse<Option<i64>>>, ConnRow>,
    most_retransmissions: Top<ConnKey<std::cmp::Reverse<u64>>, ConnRow>,
    failed_connections: Top<ConnKey<i64>, ConnRow>,
    // tls
    handshakes: u64,
    tls_versions: BTreeMap<String, u64>,
    snis: BTreeMap<String, u64>,
    alert_names: BTreeMap<String, u64>,
    resumed: u64,
    alerts: u64,
    handshake: ValueStore,
    // http
    requests: u64,
    http_connections: u64,
    incomplete: u64,
    status: BTreeMap<String, u64>,
    http_versions: BTreeMap<String, u64>,
    per_server: BTreeMap<String, u64>,
    wait: ValueStore,
    total: ValueStore,
    inferred_requests: u64,
    inferred_connections: u64,
    inferred_wait: ValueStore,
    inferred_total: ValueStore,
    slowest_requests: Top<(std::cmp::Reverse<Option<i64>>, u64, u32), RequestRow>,
    // dns
    dns: DnsReport,
    latency: ValueStore,
    // websocket
    websocket: WebSocketReport,
    ws_rtt: ValueStore,
    ws_idle: ValueStore,
    // quic
    quic: QuicReport,
    quic_handshake: ValueStore,
    // per server, DNS names
    hosts: HostsBuilder,
}

impl ReportBuilder {
    /// An empty report listing `options.top` rows per list.
    pub fn new(options: &ReportOptions) -> ReportBuilder {
        let top = options.top;
        ReportBuilder {
            top,
            threads: 1,
            keys_dropped: 0,
            connections: 0,
            outcomes: Outcome::ALL.iter().map(|o| (o.as_str(), 0)).collect(),
            c2s: Totals::default(),
            s2c: Totals::default(),
            both: Totals::default(),
            failures: BTreeMap::new(),
            failed: 0,
            reset_after_exchange: 0,
            syn_retries: 0,
            connect: ValueStore::new(),
            initial_rtt: ValueStore::new(),
            slowest_connects: Top::new(top),
            most_retransmissions: Top::new(top),
            failed_connections: Top::new(top),
            handshakes: 0,
            tls_versions: BTreeMap::new(),
            snis: BTreeMap::new(),
            alert_names: BTreeMap::new(),
            resumed: 0,
            alerts: 0,
            handshake: ValueStore::new(),
            requests: 0,
            http_connections: 0,
            incomplete: 0,
            status: BTreeMap::new(),
            http_versions: BTreeMap::new(),
            per_server: BTreeMap::new(),
            wait: ValueStore::new(),
            inferred_requests: 0,
            inferred_connections: 0,
            inferred_wait: ValueStore::new(),
            inferred_total: ValueStore::new(),
            total: ValueStore::new(),
            slowest_requests: Top::new(top),
            dns: DnsReport::default(),
            latency: ValueStore::new(),
            websocket: WebSocketReport::default(),
            ws_rtt: ValueStore::new(),
            ws_idle: ValueStore::new(),
            quic: QuicReport::default(),
            quic_handshake: ValueStore::new(),
            hosts: HostsBuilder::default(),
        }
    }

    /// Adds a batch of records of any kind ([`pcapstat_core::Analyzer::analyze_into`]).
    pub fn add(&mut self, records: &Records) {
        // Names before connections: a connection then usually finds its server's name.
        self.add_tls(&records.tls);
        self.add_http(&records.http, &records.timings);
        self.add_connections(&records.connections);
        self.add_dns(&records.dns);
        self.add_websocket(&records.websocket);
        self.add_quic(&records.quic);
    }

    /// Adds WebSocket connections.
    pub fn add_websocket(&mut self, records: &[WebSocketRecord]) {
        let r = &mut self.websocket;
        for w in records {
            r.connections += 1;
            r.secure += u64::from(w.secure);
            r.abnormal_closes += u64::from(w.abnormal());
            match w.close_initiator {
                Some(Side::Client) => r.closed_by_client += 1,
                Some(Side::Server) => r.closed_by_server += 1,
                None => {}
            }
            if w.close_initiator.is_some() {
                let code = w.close_code.map_or("none".to_string(), |c| c.to_string());
                count_in(&mut r.close_codes, &code, &mut self.keys_dropped, |n| {
                    *n += 1;
                });
            }
            r.messages_c2s += w.from_client.messages;
            r.messages_s2c += w.from_server.messages;
            r.payload_bytes_c2s += w.from_client.payload_bytes;
            r.payload_bytes_s2c += w.from_server.payload_bytes;
            r.ping_rtts += w.ping_rtts;
            if let Some(ns) = w.ping_rtt_median_ns {
                self.ws_rtt.push(ns);
            }
            self.ws_idle
                .push(w.from_client.max_idle_ns.max(w.from_server.max_idle_ns));
        }
    }

    /// Adds QUIC connections.
    pub fn add_quic(&mut self, records: &[QuicRecord]) {
        self.hosts.add_quic(records);
        let r = &mut self.quic;
        for q in records {
            r.connections += 1;
            count_in(
                &mut r.outcomes,
                q.outcome.as_str(),
                &mut self.keys_dropped,
                |n| {
                    *n += 1;
                },
            );
            if let Some(v) = q.version {
                let name = pcapstat_core::quic_version_name(v);
                count_in(&mut r.versions, &name, &mut self.keys_dropped, |n| *n += 1);
            }
            r.version_negotiation += u64::from(q.version_negotiation);
            r.retry += u64::from(q.retry);
            r.handshake_decrypted += u64::from(q.handshake_decrypted);
            r.one_rtt_decrypted += u64::from(q.one_rtt_decrypted);
            r.pn_gaps += q.pn_gaps.iter().flatten().sum::<u64>();
            if let Some(e) = q.ended_by {
                count_in(&mut r.ended, e.as_str(), &mut self.keys_dropped, |n| {
                    *n += 1
                });
            }
            r.closed_by_client += u64::from(q.close_initiator == Some(Side::Client));
            r.closed_by_server += u64::from(q.close_initiator == Some(Side::Server));
            if let Some(ns) = q.handshake_ns {
                self.quic_handshake.push(ns);
            }
        }
    }

    /// Adds TCP connections.
    pub fn add_connections(&mut self, records: &[ConnectionRecord]) {
        self.hosts.add_connections(records);
        for r in records {
            self.connections += 1;
            *self.outcomes.entry(r.outcome.as_str()).or_default() += 1;
            self.c2s.add(&r.c2s);
            self.s2c.add(&r.s2c);
            self.both.add(&r.c2s);
            self.both.add(&r.s2c);
            self.syn_retries += u64::from(r.syn_retries);
            match r.failure {
                Some(f) => {
                    self.failed += 1;
                    let server = endpoint(&r.server_ip, r.server_port);
                    count_in(&mut self.failures, &server, &mut self.keys_dropped, |m| {
                        m.entry(f.as_str()).or_insert((f, 0)).1 += 1;
                    });
                    self.failed_connections
                        .offer((r.start_ts, r.conn_id), || conn_row(r));
                }
                None if r.outcome == Outcome::Reset => self.reset_after_exchange += 1,
                None => {}
            }
            if let Some(ns) = r.connect_ns {
                self.connect.push(ns);
                self.slowest_connects
                    .offer((std::cmp::Reverse(Some(ns)), r.conn_id), || conn_row(r));
            }
            if let Some(ns) = r.syn_to_ack_ns {
                self.initial_rtt.push(ns);
            }
            let retx = r.c2s.retransmissions + r.s2c.retransmissions;
            if retx > 0 {
                self.most_retransmissions
                    .offer((std::cmp::Reverse(retx), r.conn_id), || conn_row(r));
            }
        }
    }

    /// Adds TLS handshakes.
    pub fn add_tls(&mut self, records: &[TlsRecord]) {
        self.hosts.add_tls(records);
        let dropped = &mut self.keys_dropped;
        for t in records {
            self.handshakes += 1;
            let version = t.version.map(|v| v.to_string());
            let version = version.as_deref().unwrap_or("unknown");
            count_in(&mut self.tls_versions, version, dropped, |n| *n += 1);
            let sni = t.sni.as_deref().unwrap_or("(none)");
            count_in(&mut self.snis, sni, dropped, |n| *n += 1);
            self.resumed += u64::from(t.resumed == Some(true));
            if let Some(alert) = t.alert {
                self.alerts += 1;
                let name = format!("{}: {}", alert.by.as_str(), alert.description);
                count_in(&mut self.alert_names, &name, dropped, |n| *n += 1);
            }
            if let Some(ns) = t.handshake_ns {
                self.handshake.push(ns);
            }
        }
    }

    /// Adds HTTP requests with their phases (`timings[i]` belongs to `records[i]`). Rows
    /// inferred from encrypted records are counted apart ([`InferredReport`]).
    pub fn add_http(&mut self, records: &[HttpRecord], timings: &[RequestTiming]) {
        if !records.iter().any(|h| h.inferred) {
            return self.add_exact_http(records, timings);
        }
        let (mut exact, mut exact_timings) = (Vec::new(), Vec::new());
        for (i, h) in records.iter().enumerate() {
            let t = timings.get(i);
            if h.inferred {
                self.inferred_requests += 1;
                self.inferred_connections += u64::from(h.request_index == 0);
                if let Some(ns) = t.and_then(|t| t.wait_ns) {
                    self.inferred_wait.push(ns);
                }
                if let Some(ns) = t.and_then(|t| t.total_ns) {
                    self.inferred_total.push(ns);
                }
            } else if let Some(t) = t {
                let mut t = t.clone();
                t.http_index = exact.len();
                exact.push(h.clone());
                exact_timings.push(t);
            }
        }
        self.add_exact_http(&exact, &exact_timings);
    }

    fn add_exact_http(&mut self, records: &[HttpRecord], timings: &[RequestTiming]) {
        self.hosts.add_http(records, timings);
        let dropped = &mut self.keys_dropped;
        for (i, h) in records.iter().enumerate() {
            let t = timings.get(i);
            self.requests += 1;
            // A 101 that upgraded the connection ends HTTP on it (WebSocket): not an interim
            // 1xx response, its own class.
            let class = if h.upgraded && h.status == Some(101) {
                "upgraded".into()
            } else {
                status_class(h.status)
            };
            count_in(&mut self.status, &class, dropped, |n| *n += 1);
            count_in(&mut self.http_versions, h.version.as_str(), dropped, |n| {
                *n += 1;
            });
            self.incomplete += u64::from(!h.complete);
            if h.request_index == 0 {
                self.http_connections += 1;
                let server = endpoint(&h.server.ip, h.server.port);
                count_in(&mut self.per_server, &server, dropped, |n| *n += 1);
            }
            if let Some(ns) = t.and_then(|t| t.wait_ns) {
                self.wait.push(ns);
            }
            if let Some(ns) = t.and_then(|t| t.total_ns) {
                self.total.push(ns);
                self.slowest_requests.offer(
                    (std::cmp::Reverse(Some(ns)), h.conn_id, h.request_index),
                    || request_row(h, t),
                );
            }
        }
    }

    /// Adds DNS queries.
    pub fn add_dns(&mut self, records: &[DnsRecord]) {
        self.hosts.add_dns(records, &mut self.keys_dropped);
        let r = &mut self.dns;
        for d in records {
            r.queries += 1;
            if let Some(ns) = d.latency_ns {
                self.latency.push(ns);
            }
            r.answered += u64::from(d.answered());
            r.unanswered += u64::from(d.unanswered());
            r.icmp_unreachable += u64::from(d.icmp_unreachable);
            r.retries += u64::from(d.retry_of.is_some());
            r.tcp_queries += u64::from(d.transport == DnsTransport::Tcp);
            r.truncated += u64::from(d.truncated == Some(true));
            // An rcode comes with a DNS response: only answered queries have one.
            if let Some(code) = d.rcode.filter(|_| d.answered()) {
                let name = code.to_string();
                count_in(&mut r.rcodes, &name, &mut self.keys_dropped, |n| *n += 1);
                r.errors += u64::from(code.0 != 0);
                r.nxdomain += u64::from(code.0 == 3);
                r.servfail += u64::from(code.0 == 2);
            }
        }
    }

    /// Lets [`ReportBuilder::finish`] use up to `threads` threads (0: one per core; the
    /// default is 1): the per-server table's percentiles are then read beside the report's.
    /// What is reported is the same for any number.
    pub fn threads(mut self, threads: usize) -> ReportBuilder {
        self.threads = threads;
        self
    }

    /// The report: the records added, with the capture's `summary` and counters (`stats`, of
    /// the whole capture: [`pcapstat_core::StreamEnd`] or [`Analysis`]).
    pub fn finish(mut self, summary: CaptureSummary, stats: Stats) -> Report {
        let top = self.top;
        // The percentiles are the one serial part left after the capture (every value of
        // every store decoded in one merge): on request-heavy traffic, with two threads, about
        // 5 % of the run. The per-server table's stores and the report's are independent:
        // with more than one thread the table's are read on a thread of their own while the
        // report's are read below.
        let hosts = std::mem::take(&mut self.hosts);
        let threads = match self.threads {
            0 => std::thread::available_parallelism().map_or(1, std::num::NonZero::get),
            n => n,
        };
        let hosts_done: Box<dyn FnOnce() -> crate::hosts::HostsDone> = if threads > 1 {
            let h = std::thread::spawn(move || hosts.finish(top));
            Box::new(move || {
                h.join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
            })
        } else {
            Box::new(move || hosts.finish(top))
        };
        let connections = ConnectionsReport {
            connections: self.connections,
            outcomes: self.outcomes,
            connect: Percentiles::of_store(&self.connect),
            initial_rtt: Percentiles::of_store(&self.initial_rtt),
            c2s: self.c2s,
            s2c: self.s2c,
            both: self.both,
            slowest_connects: self.slowest_connects.into_rows(),
            most_retransmissions: self.most_retransmissions.into_rows(),
            failed: self.failed,
            reset_after_exchange: self.reset_after_exchange,
            failed_connections: self.failed_connections.into_rows(),
            syn_retries: self.syn_retries,
            failures: self
                .failures
                .into_iter()
                .flat_map(|(server, by)| {
                    by.into_values()
                        .map(move |(failure, connections)| FailureCount {
                            server: server.clone(),
                            failure,
                            connections,
                        })
                })
                .collect(),
            tracking: TRACKING
                .iter()
                .map(|&(name, path)| (name, stats.get(path).unwrap_or(0)))
                .collect(),
        };
        let tls = TlsReport {
            handshakes: self.handshakes,
            versions: self.tls_versions,
            resumed: self.resumed,
            alerts: self.alerts,
            decryption: stats.app.tls_decrypt.clone(),
            handshake: Percentiles::of_store(&self.handshake),
            top_snis: most(self.snis, top, |sni, handshakes| SniCount {
                sni,
                handshakes,
            }),
            alert_names: self.alert_names,
        };
        let http = HttpReport {
            requests: self.requests,
            connections: self.http_connections,
            reused_requests: self.requests - self.http_connections,
            incomplete: self.incomplete,
            parse: stats.app.http_stats.clone(),
            http2: stats.app.http2_stats.clone(),
            status: self.status,
            versions: self.http_versions,
            wait: Percentiles::of_store(&self.wait),
            total: Percentiles::of_store(&self.total),
            new_connections_per_server: most(self.per_server, top, |server, connections| {
                ServerCount {
                    server,
                    connections,
                }
            }),
            slowest_requests: self.slowest_requests.into_rows(),
            inferred: InferredReport {
                requests: self.inferred_requests,
                connections: self.inferred_connections,
                wait: Percentiles::of_store(&self.inferred_wait),
                total: Percentiles::of_store(&self.inferred_total),
                stats: stats.app.inferred.clone(),
            },
        };
        let crate::hosts::HostsDone {
            hosts,
            failed_names,
            slowest_names,
            hosts_dropped,
            join_dropped,
        } = hosts_done();
        let dns = DnsReport {
            latency: Percentiles::of_store(&self.latency),
            failed_names,
            slowest_names,
            ..self.dns
        };
        let websocket = WebSocketReport {
            ping_rtt: Percentiles::of_store(&self.ws_rtt),
            max_idle: Percentiles::of_store(&self.ws_idle),
            ..self.websocket
        };
        let mut limits = limits(&stats);
        if self.keys_dropped > 0 {
            limits.push(Limit {
                name: KEYS_LIMIT_NAME,
                counter: "report.keys_dropped",
                count: self.keys_dropped,
                setting: "report::MAX_REPORT_KEYS",
                message: "records left out of a per-name count (servers, SNIs, versions, alerts, rcodes, DNS names)",
            });
        }
        if hosts_dropped > 0 {
            limits.push(Limit {
                name: HOSTS_LIMIT_NAME,
                counter: "report.hosts_dropped",
                count: hosts_dropped,
                setting: "report::MAX_HOSTS",
                message:
                    "requests and connections counted in the (other) row of the per-server table",
            });
        }
        if join_dropped > 0 {
            limits.push(Limit {
                name: JOIN_LIMIT_NAME,
                counter: "report.host_join_dropped",
                count: join_dropped,
                setting: "report::MAX_HOST_JOIN",
                message: "connections counted under the server name known when they came (else their address)",
            });
        }
        let mut report = Report {
            summary,
            connections,
            applications: Applications {
                tls,
                http,
                dns,
                websocket,
                quic: QuicReport {
                    handshake: Percentiles::of_store(&self.quic_handshake),
                    ..self.quic
                },
            },
            hosts,
            limits,
            stats,
            figures: Figures::default(),
        };
        report.figures = Figures::read(&report);
        report
    }
}

impl RecordSink for ReportBuilder {
    fn records(&mut self, records: Records) {
        self.add(&records);
    }
}

/// `ip:port`, with brackets around IPv6 addresses.
pub(crate) fn endpoint(ip: &IpAddr, port: u16) -> String {
    match ip {
        IpAddr::V4(a) => format!("{a}:{port}"),
        IpAddr::V6(a) => format!("[{a}]:{port}"),
    }
}

/// `(name, count)` pairs, most first then by name, at most `top`, as `T`s.
fn most<T>(counts: BTreeMap<String, u64>, top: usize, row: fn(String, u64) -> T) -> Vec<T> {
    let mut v: Vec<(String, u64)> = counts.into_iter().collect();
    v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    v.into_iter().take(top).map(|(n, c)| row(n, c)).collect()
}

fn conn_row(r: &ConnectionRecord) -> ConnRow {
    ConnRow {
        conn_id: r.conn_id,
        client: endpoint(&r.client_ip, r.client_port),
        server: endpoint(&r.server_ip, r.server_port),
        outcome: r.outcome,
        failure: r.failure,
        start_ts: r.start_ts,
        connect_ns: r.connect_ns,
        syn_retries: r.syn_retries,
        retransmissions: r.c2s.retransmissions + r.s2c.retransmissions,
    }
}

fn request_row(h: &HttpRecord, t: Option<&RequestTiming>) -> RequestRow {
    let phase = |f: fn(&RequestTiming) -> Option<i64>| t.and_then(f);
    RequestRow {
        conn_id: h.conn_id,
        request_index: h.request_index,
        client: endpoint(&h.client.ip, h.client.port),
        server: endpoint(&h.server.ip, h.server.port),
        method: text(&h.method),
        host: text(&h.host),
        path: text(&h.path),
        status: h.status,
        complete: h.complete,
        request_start_ts: h.request_start_ts,
        response_start_ts: h.response_start_ts,
        response_end_ts: h.response_end_ts,
        dns_ns: phase(|t| t.dns_ns),
        connect_ns: phase(|t| t.connect_ns),
        tls_ns: phase(|t| t.tls_ns),
        send_ns: phase(|t| t.send_ns),
        wait_ns: phase(|t| t.wait_ns),
        receive_ns: phase(|t| t.receive_ns),
        total_ns: phase(|t| t.total_ns),
    }
}

/// The limits that were hit, from the counters ([`Stats::limits`], one table in core).
pub fn limits(stats: &Stats) -> Vec<Limit> {
    stats
        .limits()
        .into_iter()
        .map(|hit| Limit {
            name: hit.limit.name,
            counter: hit.limit.counter,
            count: hit.count,
            setting: hit.limit.setting,
            message: hit.limit.meaning,
        })
        .collect()
}

/// Every counter of a counter struct (the [`Stats`] tree or one of its parts) as nested JSON
/// objects, keyed by the parts of its dotted path (docs/summary.md, "Counters").
fn counters<S: Serializer, C: Counters>(counters: &C, s: S) -> Result<S::Ok, S::Error> {
    #[derive(Default, Serialize)]
    struct Tree(BTreeMap<String, Node>);
    #[derive(Serialize)]
    #[serde(untagged)]
    enum Node {
        Value(u64),
        Tree(Tree),
    }
    fn insert(node: &mut Tree, path: &str, value: u64) {
        match path.split_once('.') {
            None => {
                node.0.insert(path.to_string(), Node::Value(value));
            }
            Some((head, rest)) => {
                let child = node
                    .0
                    .entry(head.to_string())
                    .or_insert_with(|| Node::Tree(Tree::default()));
                if let Node::Tree(t) = child {
                    insert(t, rest, value);
                }
            }
        }
    }
    let mut root = Tree::default();
    counters.visit("", &mut |path, value| insert(&mut root, path, value));
    root.serialize(s)
}

// Serialisation into the JSON report's shape (docs/summary.md).

fn outcome_str<S: Serializer>(o: &Outcome, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(o.as_str())
}

fn failure_str<S: Serializer>(f: &Failure, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(f.as_str())
}

fn opt_failure_str<S: Serializer>(f: &Option<Failure>, s: S) -> Result<S::Ok, S::Error> {
    f.map(Failure::as_str).serialize(s)
}

/// `{count, p50_ns, p90_ns, p95_ns, p99_ns, max_ns}`, all null (count 0) without values.
pub(crate) fn percentiles<S: Serializer>(p: &Option<Percentiles>, s: S) -> Result<S::Ok, S::Error> {
    let mut m = s.serialize_map(None)?;
    m.serialize_entry("count", &p.map_or(0, |p| p.count))?;
    for (i, key) in ["p50_ns", "p90_ns", "p95_ns", "p99_ns", "max_ns"]
        .iter()
        .enumerate()
    {
        m.serialize_entry(key, &p.map(|p| p.ranks()[i]))?;
    }
    m.end()
}

/// The capture keys at the top of the JSON report.
fn summary<S: Serializer>(s: &CaptureSummary, ser: S) -> Result<S::Ok, S::Error> {
    #[derive(Serialize)]
    struct Link {
        linktype: u32,
        name: Option<&'static str>,
        frames: u64,
    }
    #[derive(Serialize)]
    struct Damage {
        offset: u64,
        frame: u64,
        reason: String,
        /// Only for a merge: the input the damage is in.
        #[serde(skip_serializing_if = "Option::is_none")]
        file: Option<String>,
    }
    let damage = |dm: &pcapstat_core::Damaged| Damage {
        offset: dm.offset,
        frame: dm.frame,
        reason: dm.reason.to_string(),
        file: dm.file.clone(),
    };
    #[derive(Serialize)]
    struct Input {
        file: String,
        format: &'static str,
        format_description: String,
        compression: String,
        sections: u64,
        frames: u64,
        first_ts: Option<i64>,
        last_ts: Option<i64>,
        damaged: Option<Damage>,
    }
    let format_name = |f: CaptureFormat| match f {
        CaptureFormat::PcapNg { .. } => "pcapng",
        _ => "pcap",
    };
    let d = &s.decode;
    let names = |m: &mut dyn Iterator<Item = (String, u64)>| m.collect::<BTreeMap<_, _>>();
    ser_map!(ser,
        "format" => format_name(s.format),
        "format_description" => s.format.to_string(),
        "compression" => s.compression.to_string(),
        "sections" => s.sections,
        "link_types" => s.link_types.iter().map(|(lt, n)| Link {
            linktype: lt.0,
            name: lt.name(),
            frames: *n,
        }).collect::<Vec<_>>(),
        "frames" => s.frames,
        "bytes" => s.bytes,
        "captured_bytes" => s.captured_bytes,
        "first_ts" => s.first_ts,
        "last_ts" => s.last_ts,
        "duration_ns" => s.duration_ns(),
        "out_of_order_timestamps" => s.out_of_order_timestamps,
        "ipv4" => d.ipv4,
        "ipv6" => d.ipv6,
        "tcp" => d.tcp,
        "udp" => d.udp,
        "other" => d.other,
        "truncated" => d.truncated,
        "fragments" => d.fragments,
        "reassembled" => d.reassembled,
        "fragments_expired" => d.fragments_expired,
        "fragments_evicted" => d.fragments_evicted,
        "undecodable" => names(&mut d.undecodable.iter().map(|(p, n)| (p.to_string(), n))),
        "unsupported_link_types" => names(&mut d.unsupported_link_types.iter().map(|(lt, n)| (lt.to_string(), *n))),
        "undecoded_encapsulations" => names(&mut d.undecoded_encapsulations.iter().map(|(e, n)| (e.to_string(), *n))),
        "damaged" => s.damaged.as_ref().map(damage),
        "inputs" => (!s.inputs.is_empty()).then(|| s.inputs.iter().map(|i| Input {
            file: i.file.clone(),
            format: format_name(i.format),
            format_description: i.format.to_string(),
            compression: i.compression.to_string(),
            sections: i.sections,
            frames: i.frames,
            first_ts: i.first_ts,
            last_ts: i.last_ts,
            damaged: i.damaged.as_ref().map(damage),
        }).collect::<Vec<_>>()),
    )
}

/// An owned copy of a record's text, for the report's own rows.
fn text(t: &Option<pcapstat_core::Text>) -> Option<String> {
    t.as_deref().map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::figures::Value;
    use crate::Analyzer;

    #[test]
    fn status_classes_are_the_hundreds() {
        assert_eq!(status_class(None), "none");
        for s in 0..=u16::MAX {
            assert_eq!(status_class(Some(s)), format!("{}xx", s / 100), "{s}");
        }
    }
    use pcapstat_core::LIMITS;

    fn analyze(rel: &str) -> Analysis {
        let path = format!("{}/../../testdata/{rel}", env!("CARGO_MANIFEST_DIR"));
        Analyzer::new().threads(2).analyze_path(&path).expect(rel)
    }

    const CAPTURES: [&str; 8] = [
        "lab/f_refused_syndrop/capture.pcap",
        "lab/d_tls_resumption/capture.pcapng",
        "lab/e_dns/capture.pcap",
        "link-null-http.pcap",
        "snaplen-truncated-http.pcap",
        "regress/dns/icmp-unreachable.pcap",
        "regress/dns/retries.pcap",
        "broken/pcap-trunc-packet-data.pcap",
    ];

    fn fig(r: &Report, name: &str) -> Option<Value> {
        r.figures.value(name).expect(name)
    }

    fn pct_figures(r: &Report, family: &str, p: Option<Percentiles>) {
        let count = p.map_or(0, |p| p.count as u64);
        assert_eq!(
            fig(r, &format!("{family}.count")),
            Some(Value::Count(count))
        );
        for (suffix, get) in [
            ("p50", (|p: Percentiles| p.p50) as fn(Percentiles) -> i64),
            ("p90", |p| p.p90),
            ("p95", |p| p.p95),
            ("p99", |p| p.p99),
            ("max", |p| p.max),
        ] {
            let want = p.map(|p| Value::Duration(get(p)));
            assert_eq!(
                fig(r, &format!("{family}.{suffix}")),
                want,
                "{family}.{suffix}"
            );
        }
    }

    /// Every figure is a value of the report, and the report's values are the records'.
    #[test]
    fn figures_are_the_report_values() {
        for rel in CAPTURES {
            let a = analyze(rel);
            let r = Report::of(&a, &ReportOptions::default());
            let count = |n: u64| Some(Value::Count(n));
            let conns = a.connection_records();
            let c = &r.connections;
            assert_eq!(c.connections, conns.len() as u64, "{rel}");
            assert_eq!(fig(&r, "connections.count"), count(c.connections));
            let failed = conns.iter().filter(|c| c.failure.is_some()).count() as u64;
            assert_eq!(c.failed, failed, "{rel}");
            assert_eq!(fig(&r, "connections.failed"), count(c.failed));
            assert_eq!(
                fig(&r, "connections.failure_rate"),
                c.failure_rate().ratio().map(Value::Number)
            );
            assert_eq!(c.outcomes.values().sum::<u64>(), c.connections);
            for o in Outcome::ALL {
                let name = format!("connections.{}", o.as_str());
                assert_eq!(fig(&r, &name), count(c.outcome(o)), "{rel} {name}");
            }
            pct_figures(&r, "connect", c.connect);
            pct_figures(&r, "initial_rtt", c.initial_rtt);
            let t = &c.both;
            assert_eq!(t.packets, c.c2s.packets + c.s2c.packets);
            assert_eq!(fig(&r, "tcp.segments"), count(t.packets));
            assert_eq!(fig(&r, "tcp.retransmissions"), count(t.retransmissions));
            assert_eq!(fig(&r, "tcp.syn_retries"), count(c.syn_retries));
            assert_eq!(
                fig(&r, "tcp.retransmission_rate"),
                t.retransmission_rate().ratio().map(Value::Number)
            );
            assert_eq!(fig(&r, "capture.limits_hit"), count(r.limits_hit()));
            assert_eq!(fig(&r, "capture.frames"), count(r.summary.frames));

            let (tls, http, dns) = (
                &r.applications.tls,
                &r.applications.http,
                &r.applications.dns,
            );
            assert_eq!(tls.handshakes, a.tls_records().len() as u64);
            assert_eq!(fig(&r, "tls.handshakes"), count(tls.handshakes));
            assert_eq!(fig(&r, "tls.resumed"), count(tls.resumed));
            assert_eq!(fig(&r, "tls.alerts"), count(tls.alerts));
            pct_figures(&r, "tls.handshake", tls.handshake);
            let inferred = a.http_records().iter().filter(|h| h.inferred).count() as u64;
            assert_eq!(
                http.requests + http.inferred.requests,
                a.http_records().len() as u64
            );
            assert_eq!(http.inferred.requests, inferred);
            assert_eq!(http.inferred.stats.exchanges, inferred);
            assert_eq!(fig(&r, "http.requests"), count(http.requests));
            assert_eq!(fig(&r, "http.connections"), count(http.connections));
            assert_eq!(fig(&r, "http.incomplete"), count(http.incomplete));
            assert_eq!(fig(&r, "http.no_response"), count(http.status("none")));
            assert_eq!(http.status.values().sum::<u64>(), http.requests);
            pct_figures(&r, "http.wait", http.wait);
            pct_figures(&r, "http.total", http.total);
            assert_eq!(dns.queries, a.dns_records().len() as u64);
            for (name, n) in [
                ("dns.queries", dns.queries),
                ("dns.answered", dns.answered),
                ("dns.unanswered", dns.unanswered),
                ("dns.icmp_unreachable", dns.icmp_unreachable),
                ("dns.retries", dns.retries),
                ("dns.errors", dns.errors),
                ("dns.truncated", dns.truncated),
                ("dns.tcp_queries", dns.tcp_queries),
            ] {
                assert_eq!(fig(&r, name), count(n), "{rel} {name}");
            }
            pct_figures(&r, "dns.latency", dns.latency);
            // The figures of an analysis are those of its report, whatever the list lengths.
            assert_eq!(crate::Figures::of(&a), r.figures, "{rel}");
        }
    }

    /// The websocket table, the report's section and the figures say the same of the bundled
    /// WebSocket capture (its values are checked against the client's log and tshark in
    /// pcapstat-core's tests/websocket_lab.rs); without rows the JSON report has no section.
    #[test]
    fn websocket_table_report_and_figures_agree() {
        let dir = format!(
            "{}/../../testdata/lab/k_websocket",
            env!("CARGO_MANIFEST_DIR")
        );
        let a = Analyzer::new()
            .keylog_file(format!("{dir}/sslkeylog.txt"))
            .expect("key log")
            .analyze_path(format!("{dir}/capture.pcap"))
            .expect("capture");
        let df = a.websocket().expect("websocket table");
        assert_eq!(df.height(), 6);
        let abnormal = df
            .column("abnormal")
            .expect("abnormal")
            .bool()
            .expect("bool")
            .sum();
        let secure = df
            .column("secure")
            .expect("secure")
            .bool()
            .expect("bool")
            .sum();
        let r = Report::of(&a, &ReportOptions::default());
        let ws = &r.applications.websocket;
        assert_eq!((ws.connections, ws.secure), (6, 1));
        assert_eq!(Some(ws.abnormal_closes), abnormal.map(u64::from));
        assert_eq!(Some(ws.secure), secure.map(u64::from));
        assert_eq!((ws.closed_by_client, ws.closed_by_server), (4, 1));
        assert_eq!(ws.close_codes.get("1000"), Some(&4));
        assert_eq!(ws.ping_rtt.map(|p| p.count), Some(3));
        let f = |name: &str| r.figures.value(name).flatten();
        assert_eq!(f("websocket.abnormal_closes"), Some(Value::Count(1)));
        assert_eq!(f("websocket.connections"), Some(Value::Count(6)));
        // The 101 of each upgrade is its own status class, not 1xx.
        assert_eq!(f("http.upgraded"), Some(Value::Count(6)));
        assert_eq!(f("http.status_1xx"), Some(Value::Count(0)));
        assert!(
            matches!(f("websocket.max_idle.max"), Some(Value::Duration(ns)) if ns >= 1_500_000_000)
        );
        let json = serde_json::to_value(&r).expect("json");
        assert_eq!(json["applications"]["websocket"]["abnormal_closes"], 1);
        let none = Report::of(
            &analyze("lab/e_dns/capture.pcap"),
            &ReportOptions::default(),
        );
        let json = serde_json::to_value(&none).expect("json");
        assert!(json["applications"].get("websocket").is_none());
        assert_eq!(
            none.figures.value("websocket.abnormal_closes").flatten(),
            Some(Value::Count(0))
        );
    }

    /// The dns table, the report and the figures count the same rows as answered, failed by
    /// ICMP and unanswered (docs/dns.md): every query is exactly one of them, an ICMP error
    /// has no latency and no rcode.
    #[test]
    fn dns_icmp_counts_agree_between_table_report_and_figures() {
        let mut icmp_seen = 0;
        for rel in [
            "regress/dns/icmp-unreachable.pcap",
            "regress/dns/retries.pcap",
            "regress/dns/waited.pcap",
            "lab/e_dns/capture.pcap",
        ] {
            let a = analyze(rel);
            let df = a.dns().expect("dns table");
            let col = |name: &str| {
                let c = df.column(name).expect(name).bool().expect(name).clone();
                (0..c.len())
                    .map(|i| c.get(i) == Some(true))
                    .collect::<Vec<_>>()
            };
            let (answered, icmp) = (col("answered"), col("icmp_unreachable"));
            let n = |v: &[bool]| v.iter().filter(|&&b| b).count() as u64;
            let neither = answered.iter().zip(&icmp).filter(|(a, i)| !**a && !**i);
            let r = Report::of(&a, &ReportOptions::default());
            let dns = &r.applications.dns;
            assert_eq!(dns.answered, n(&answered), "{rel}");
            assert_eq!(dns.icmp_unreachable, n(&icmp), "{rel}");
            assert_eq!(dns.unanswered, neither.count() as u64, "{rel}");
            assert_eq!(
                dns.answered + dns.icmp_unreachable + dns.unanswered,
                dns.queries,
                "{rel}: answered, ICMP and unanswered overlap"
            );
            assert_eq!(dns.latency.map_or(0, |p| p.count as u64), dns.answered);
            assert_eq!(dns.rcodes.values().sum::<u64>(), dns.answered, "{rel}");
            let f = |name: &str| r.figures.value(name).flatten();
            assert_eq!(f("dns.answered"), Some(Value::Count(dns.answered)));
            assert_eq!(
                f("dns.icmp_unreachable"),
                Some(Value::Count(dns.icmp_unreachable))
            );
            assert_eq!(f("dns.unanswered"), Some(Value::Count(dns.unanswered)));
            icmp_seen += dns.icmp_unreachable;
        }
        assert!(icmp_seen >= 2, "the captures have ICMP-failed queries");
    }

    #[test]
    fn shares_and_limits() {
        let s = Share { part: 1, whole: 8 };
        assert_eq!((s.ratio(), s.percent()), (Some(0.125), Some(12.5)));
        assert_eq!(Share::default().ratio(), None);
        let r = Report::of(
            &analyze("lab/f_refused_syndrop/capture.pcap"),
            &ReportOptions { top: 2 },
        );
        assert!(r.limits.is_empty());
        assert_eq!(r.limits_hit(), 0);
        assert_eq!(
            serde_json::to_value(&r).unwrap()["stats"]["tcp"]["connections"],
            serde_json::json!(r.stats.tcp.connections)
        );
        assert_eq!(r.connections.failed_connections.len(), 2);
        assert!(r.connections.failed > 2);
    }

    /// Each limit, when hit, is in the report's list (named, with its setting and count),
    /// summed by `capture.limits_hit`, and its counter is in the JSON `stats` block.
    #[test]
    fn every_limit_hit_is_named() {
        for limit in LIMITS {
            let mut stats = Stats::default();
            assert!(stats.set(limit.counter, 3), "{}", limit.counter);
            let listed = limits(&stats);
            assert_eq!(listed.len(), 1, "{}", limit.counter);
            let l = &listed[0];
            assert_eq!((l.name, l.counter, l.count), (limit.name, limit.counter, 3));
            assert_eq!((l.setting, l.message), (limit.setting, limit.meaning));
            let json = serde_json::to_string(&Wrap(&stats)).unwrap();
            let leaf = limit.counter.rsplit('.').next().unwrap();
            assert!(json.contains(&format!("\"{leaf}\":3")), "{json}");
        }
    }

    /// The report of records fed in many batches, in a mixed order, is the report of the
    /// analysis: counts, percentiles, every top-N list (ties included) and the limits; and so
    /// it is whatever threads `finish` may use (the per-server table read beside the report).
    #[test]
    fn a_report_built_batch_by_batch_in_any_order_is_the_same() {
        use crate::stream::tests::{batches, testdata, CAPTURES as STREAMED};
        let mut rels: Vec<&str> = CAPTURES.to_vec();
        rels.extend(STREAMED);
        for rel in rels {
            let a = Analyzer::new()
                .threads(1)
                .analyze_path(testdata(rel))
                .expect(rel);
            for top in [0, 1, 2, 5, 1000] {
                let options = ReportOptions { top };
                let want = format!("{:?}", Report::of(&a, &options));
                for (size, seed, threads) in [
                    (1, Some(3), 1),
                    (2, Some(11), 2),
                    (5, None, 0),
                    (3, Some(u64::MAX), 3),
                ] {
                    let mut b = ReportBuilder::new(&options).threads(threads);
                    for r in batches(&a, size, seed) {
                        b.add(&r);
                    }
                    let got = format!("{:?}", b.finish(a.summary().clone(), a.stats().clone()));
                    assert_eq!(
                        got, want,
                        "{rel} top {top} size {size} seed {seed:?} threads {threads}"
                    );
                }
            }
        }
    }

    /// Past MAX_REPORT_KEYS names, a counting map counts no new name; what it left out is a
    /// limit of the report, summed by `capture.limits_hit`.
    #[test]
    fn name_maps_are_capped_and_the_cap_is_a_limit() {
        let a = analyze("lab/f_refused_syndrop/capture.pcap");
        let failed = a
            .connection_records()
            .iter()
            .find(|c| c.failure.is_some())
            .expect("a failed connection")
            .clone();
        let extra = 7;
        let many: Vec<ConnectionRecord> = (0..MAX_REPORT_KEYS + extra)
            .map(|i| {
                let mut c = failed.clone();
                c.conn_id = i as u64;
                c.server_port = (i % 60_000) as u16;
                c.server_ip = IpAddr::from([10, 0, (i / 60_000) as u8, 1]);
                c
            })
            .collect();
        let mut b = ReportBuilder::new(&ReportOptions::default());
        b.add_connections(&many);
        let r = b.finish(a.summary().clone(), a.stats().clone());
        assert_eq!(r.connections.failed, many.len() as u64);
        assert_eq!(r.connections.failures.len(), MAX_REPORT_KEYS);
        let limit = r
            .limits
            .iter()
            .find(|l| l.name == KEYS_LIMIT_NAME)
            .expect("the cap is listed");
        assert_eq!(limit.count, extra as u64);
        // The per-server table's own bound: the servers past MAX_HOSTS in its (other) row.
        let hosts = r.limits.iter().find(|l| l.name == HOSTS_LIMIT_NAME);
        let past_hosts = (many.len() - MAX_HOSTS) as u64;
        assert_eq!(hosts.map(|l| l.count), Some(past_hosts));
        assert_eq!(r.limits_hit(), extra as u64 + past_hosts);
        assert_eq!(
            r.figures.value("capture.limits_hit"),
            Some(Some(Value::Count(extra as u64 + past_hosts)))
        );
    }

    struct Wrap<'a>(&'a Stats);
    impl Serialize for Wrap<'_> {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            counters(self.0, s)
        }
    }
}
