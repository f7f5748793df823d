//! Named figures of an [`Analysis`]: `connect.p95`, `tcp.retransmission_rate`,
//! `http.reuse_rate`, `dns.latency.p99`, `connections.refused`, ...
//!
//! One definition shared by the report's JSON and markdown, `pcapstat check` (rules over
//! figures), `pcapstat diff` (figures side by side) and Rust users. Every figure has a name, a
//! [`Unit`], which direction is [`Better`], and a definition; `docs/figures.md` lists them all
//! (a test checks that the document and [`definitions`] agree).
//!
//! Null ("no data", `None`) only when a figure cannot be computed: percentiles without a sample,
//! rates without a denominator, the duration of a capture without frames. Counts are never null:
//! no DNS in the capture is `dns.queries = 0`.
//!
//! ```
//! # fn main() -> Result<(), pcapstat::Error> {
//! use pcapstat::figures::{Figures, Value};
//! let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../testdata/lab/f_refused_syndrop/capture.pcap");
//! let figures = Figures::of(&pcapstat::Analyzer::new().analyze_path(path)?);
//! assert_eq!(figures.value("connections.refused"), Some(Some(Value::Count(3))));
//! assert_eq!(figures.value("dns.latency.p99"), Some(None)); // no DNS: no data
//! assert_eq!(figures.value("no.such.figure"), None);
//! # Ok(())
//! # }
//! ```

use std::cmp::Ordering;
use std::sync::OnceLock;

use pcapstat_core::{Outcome, QuicOutcome, ValueStore};
use serde::{Serialize, Serializer};

use crate::report::{Report, ReportOptions, Share};
use crate::Analysis;

pub use pcapstat_core::{format_duration, format_number, parse_duration, ParseDurationError};

/// Nearest-rank percentiles of a set of durations (ns).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Percentiles {
    /// Number of values.
    pub count: usize,
    /// Median (nearest rank).
    pub p50: i64,
    /// 90th percentile.
    pub p90: i64,
    /// 95th percentile.
    pub p95: i64,
    /// 99th percentile.
    pub p99: i64,
    /// Largest value.
    pub max: i64,
}

impl Percentiles {
    /// `None` for an empty set. Nearest rank: the smallest value with at least p % of the
    /// values at or below it (always an observed value).
    pub fn of(mut values: Vec<i64>) -> Option<Percentiles> {
        values.sort_unstable();
        let ranks = Self::positions(values.len())?.map(|k| values[k]);
        Some(Self::from_ranks(values.len(), ranks))
    }

    /// The same as [`Percentiles::of`], of the values of a store (read in one pass).
    pub(crate) fn of_store(values: &ValueStore) -> Option<Percentiles> {
        let ranks = values.select(Self::positions(values.len())?)?;
        Some(Self::from_ranks(values.len(), ranks))
    }

    /// The figures from the values at [`Percentiles::positions`].
    fn from_ranks(count: usize, [p50, p90, p95, p99, max]: [i64; 5]) -> Percentiles {
        Percentiles {
            count,
            p50,
            p90,
            p95,
            p99,
            max,
        }
    }

    /// The 0-based positions in `n` sorted values of p50, p90, p95, p99 and max; `None` for
    /// `n = 0`.
    fn positions(n: usize) -> Option<[usize; 5]> {
        let last = n.checked_sub(1)?;
        let rank = |p: usize| (n * p).div_ceil(100).clamp(1, n) - 1;
        Some([rank(50), rank(90), rank(95), rank(99), last])
    }

    /// `p50`, `p90`, `p95`, `p99` and `max`, in that order.
    pub fn ranks(&self) -> [i64; 5] {
        [self.p50, self.p90, self.p95, self.p99, self.max]
    }
}

/// The unit of a figure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    /// A number of things (frames, connections, segments, bytes).
    Count,
    /// A fraction between 0 and 1.
    Ratio,
    /// Another real number (requests per connection).
    Number,
    /// A duration, nanoseconds.
    Duration,
}

impl Unit {
    /// `count`, `ratio`, `number` or `duration`.
    pub fn as_str(self) -> &'static str {
        match self {
            Unit::Count => "count",
            Unit::Ratio => "ratio",
            Unit::Number => "number",
            Unit::Duration => "duration",
        }
    }
}

/// Which direction of change is an improvement (for `pcapstat diff`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Better {
    /// Smaller is better (durations, failures, retransmissions).
    Lower,
    /// Larger is better (reuse and resumption rates).
    Higher,
    /// Neither: a description of the traffic (requests, frames).
    Neither,
}

/// The value of a figure.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Value {
    /// A count.
    Count(u64),
    /// A ratio or another real number.
    Number(f64),
    /// A duration in nanoseconds.
    Duration(i64),
}

impl Value {
    /// The value as a real number (durations in nanoseconds).
    pub fn as_f64(self) -> f64 {
        match self {
            Value::Count(n) => n as f64,
            Value::Number(x) => x,
            Value::Duration(ns) => ns as f64,
        }
    }

    /// `after - self`: a duration between durations, a count when a count did not fall, else
    /// a number (a count that fell is negative).
    pub fn delta_to(self, after: Value) -> Value {
        match (self, after) {
            (Value::Duration(x), Value::Duration(y)) => Value::Duration(y.saturating_sub(x)),
            (Value::Count(x), Value::Count(y)) if y >= x => Value::Count(y - x),
            (b, a) => Value::Number(a.as_f64() - b.as_f64()),
        }
    }

    /// The change from `self` to `after` in percent of `self`: 0 from 0 to 0, `None` from 0
    /// to another value.
    pub fn relative_change_pct(self, after: Value) -> Option<f64> {
        let (x, y) = (self.as_f64(), after.as_f64());
        if x == 0.0 {
            (y == 0.0).then_some(0.0)
        } else {
            Some((y - x) / x.abs() * 100.0)
        }
    }

    /// Compares two values: exactly for two counts or two durations, as reals otherwise.
    /// `None` when a value is NaN.
    pub fn compare(self, other: Value) -> Option<Ordering> {
        match (self, other) {
            (Value::Count(a), Value::Count(b)) => Some(a.cmp(&b)),
            (Value::Duration(a), Value::Duration(b)) => Some(a.cmp(&b)),
            (a, b) => a.as_f64().partial_cmp(&b.as_f64()),
        }
    }
}

impl std::fmt::Display for Value {
    /// Counts as integers, durations as `12.3ms`, numbers with up to 4 decimals.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match *self {
            Value::Count(n) => write!(f, "{n}"),
            Value::Duration(ns) => f.write_str(&format_duration(ns)),
            Value::Number(x) => f.write_str(&format_number(x)),
        }
    }
}

/// A figure's definition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Definition {
    /// Dotted name, e.g. `connect.p95`.
    pub name: String,
    /// Unit of the value.
    pub unit: Unit,
    /// Which direction of change is an improvement.
    pub better: Better,
    /// What it measures, one sentence.
    pub definition: String,
}

/// One figure: its definition and its value (`None`: no data).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Figure<'a> {
    /// The definition.
    pub def: &'a Definition,
    /// The value, `None` when it cannot be computed (see the [module docs](self)).
    pub value: Option<Value>,
}

/// A figure of two analyses side by side (`pcapstat diff`; [`Figures::compare`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Comparison {
    /// The figure.
    pub def: &'static Definition,
    /// The value before (`None`: no data).
    pub before: Option<Value>,
    /// The value after.
    pub after: Option<Value>,
    /// [`Value::delta_to`], when both sides have data.
    pub delta: Option<Value>,
    /// [`Value::relative_change_pct`], when both sides have data.
    pub relative_pct: Option<f64>,
    /// How the change reads.
    pub assessment: Assessment,
}

/// How the change of a figure reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Assessment {
    /// Changed in the direction that is worse ([`Better`]).
    Worse,
    /// Changed in the direction that is better.
    Better,
    /// Equal.
    Same,
    /// Changed, neither better nor worse; or data on one side only.
    Changed,
    /// No data on either side.
    NoData,
}

impl Assessment {
    /// `worse`, `better`, `same`, `changed` or `no_data`.
    pub fn as_str(self) -> &'static str {
        match self {
            Assessment::Worse => "worse",
            Assessment::Better => "better",
            Assessment::Same => "same",
            Assessment::Changed => "changed",
            Assessment::NoData => "no_data",
        }
    }
}

impl Comparison {
    fn new(def: &'static Definition, before: Option<Value>, after: Option<Value>) -> Self {
        let (delta, relative_pct, assessment) = match (before, after) {
            (Some(b), Some(a)) => {
                let assessment = match (a.compare(b), def.better) {
                    (Some(Ordering::Equal), _) => Assessment::Same,
                    (Some(Ordering::Greater), Better::Lower)
                    | (Some(Ordering::Less), Better::Higher) => Assessment::Worse,
                    (Some(_), Better::Lower | Better::Higher) => Assessment::Better,
                    _ => Assessment::Changed,
                };
                (Some(b.delta_to(a)), b.relative_change_pct(a), assessment)
            }
            (None, None) => (None, None, Assessment::NoData),
            _ => (None, None, Assessment::Changed),
        };
        Comparison {
            def,
            before,
            after,
            delta,
            relative_pct,
            assessment,
        }
    }
}

/// The percentile suffixes of a percentile family, in order.
pub const PERCENTILE_SUFFIXES: [&str; 6] = ["count", "p50", "p90", "p95", "p99", "max"];

/// How a figure is read from a [`Report`]: the figures compute nothing of their own.
#[derive(Clone, Copy)]
enum Get {
    /// A count.
    N(fn(&Report) -> u64),
    /// A ratio, or another quotient (requests per connection).
    R(fn(&Report) -> Share),
    /// A duration, `None` for no data.
    D(fn(&Report) -> Option<i64>),
    /// A percentile family: `.count`, `.p50`, ..., `.max`.
    P(fn(&Report) -> Option<Percentiles>),
}

// (name, unit, better, definition, value); a name ending in ".*" is a percentile family.
#[rustfmt::skip]
const TABLE: &[(&str, Unit, Better, &str, Get)] = {
    use Better::{Higher, Lower, Neither};
    use Get::{D, N, P, R};
    use Unit::{Count, Duration, Number, Ratio};
    &[
        ("capture.frames", Count, Neither, "frames read (the whole capture: filters do not apply to capture.*)", N(|r| r.summary.frames)),
        ("capture.bytes", Count, Neither, "sum of the frames' on-the-wire lengths, bytes", N(|r| r.summary.bytes)),
        ("capture.duration", Duration, Neither, "last minus first frame timestamp; null without frames", D(|r| r.summary.duration_ns())),
        ("capture.undecodable", Count, Lower, "frames the decoder stopped on (any reason)", N(|r| r.summary.decode.undecodable.total())),
        ("capture.truncated", Count, Lower, "frames cut by the snap length", N(|r| r.summary.decode.truncated)),
        ("capture.damaged", Count, Lower, "1 when the capture is damaged (read stopped early), else 0", N(|r| u64::from(r.summary.damaged.is_some()))),
        ("capture.limits_hit", Count, Lower, "the counts of every limit that was hit (docs/limits.md: flow table, reassembly and probing buffers, RTT samples, fragment buffers, parser limits of HTTP/1.x, HTTP/2, TLS and DNS): anything a limit cut", N(Report::limits_hit)),
        ("connections.count", Count, Neither, "TCP connections", N(|r| r.connections.connections)),
        ("connections.closed", Count, Neither, "connections with outcome closed (FIN both ways)", N(|r| r.connections.outcome(Outcome::Closed))),
        ("connections.open", Count, Neither, "connections with outcome open (live at the end of the capture)", N(|r| r.connections.outcome(Outcome::Open))),
        ("connections.established", Count, Neither, "connections with outcome established (handshake done, tracking ended without FIN or RST)", N(|r| r.connections.outcome(Outcome::Established))),
        ("connections.midstream", Count, Neither, "connections with outcome midstream (no SYN seen)", N(|r| r.connections.outcome(Outcome::Midstream))),
        ("connections.reset", Count, Lower, "connections with outcome reset (RST after the handshake)", N(|r| r.connections.outcome(Outcome::Reset))),
        ("connections.refused", Count, Lower, "connections with outcome refused (RST answering the SYN)", N(|r| r.connections.outcome(Outcome::Refused))),
        ("connections.timeout", Count, Lower, "connections with outcome timeout (SYNs without answer)", N(|r| r.connections.outcome(Outcome::Timeout))),
        ("connections.one_direction", Count, Neither, "connections with outcome one_direction (only one direction captured; never a failure)", N(|r| r.connections.outcome(Outcome::OneDirection))),
        ("connections.failed", Count, Lower, "connections with a failure: refused, timeout, reset before the first response byte, reset with a request unanswered or cutting a response (the connections table's failure column; docs/tcp.md)", N(|r| r.connections.failed)),
        ("connections.reset_after_exchange", Count, Neither, "connections with outcome reset that did not fail: the reset came after a complete exchange (e.g. nginx's FIN then RST)", N(|r| r.connections.reset_after_exchange)),
        ("connections.failure_rate", Ratio, Lower, "connections.failed / connections.count; null without connections", R(|r| r.connections.failure_rate())),
        ("connect.*", Duration, Lower, "connect (first SYN to the client's handshake ACK, SYN retries included) of the connections where it was measured", P(|r| r.connections.connect)),
        ("initial_rtt.*", Duration, Lower, "initial RTT (the last SYN before the handshake ACK to that ACK; tshark's tcp.analysis.initial_rtt)", P(|r| r.connections.initial_rtt)),
        ("tcp.syn_retries", Count, Lower, "SYNs retransmitted by clients, summed over connections", N(|r| r.connections.syn_retries)),
        ("tcp.segments", Count, Neither, "TCP segments, both directions", N(|r| r.connections.both.packets)),
        ("tcp.payload_bytes", Count, Neither, "unique payload bytes, both directions", N(|r| r.connections.both.payload_bytes)),
        ("tcp.retransmissions", Count, Lower, "segments flagged as retransmissions (tshark tcp.analysis.retransmission, fast and spurious included), both directions", N(|r| r.connections.both.retransmissions)),
        ("tcp.retransmitted_bytes", Count, Lower, "payload bytes of those segments", N(|r| r.connections.both.retransmitted_bytes)),
        ("tcp.retransmission_rate", Ratio, Lower, "tcp.retransmissions / tcp.segments; null without segments", R(|r| r.connections.both.retransmission_rate())),
        ("tcp.retransmission_byte_rate", Ratio, Lower, "tcp.retransmitted_bytes / (tcp.payload_bytes + tcp.retransmitted_bytes): the share of payload bytes sent that were copies; null without payload", R(|r| r.connections.both.retransmission_byte_rate())),
        ("tcp.fast_retransmissions", Count, Lower, "segments flagged tcp.analysis.fast_retransmission", N(|r| r.connections.both.fast_retransmissions)),
        ("tcp.spurious_retransmissions", Count, Lower, "segments flagged tcp.analysis.spurious_retransmission", N(|r| r.connections.both.spurious_retransmissions)),
        ("tcp.out_of_order", Count, Lower, "segments flagged tcp.analysis.out_of_order", N(|r| r.connections.both.out_of_order)),
        ("tcp.dup_acks", Count, Lower, "segments flagged tcp.analysis.duplicate_ack", N(|r| r.connections.both.dup_acks)),
        ("tcp.zero_windows", Count, Lower, "segments flagged tcp.analysis.zero_window", N(|r| r.connections.both.zero_windows)),
        ("tcp.lost_segments", Count, Lower, "segments flagged tcp.analysis.lost_segment (a hole before them)", N(|r| r.connections.both.lost_segments)),
        ("tcp.missed_bytes", Count, Lower, "stream bytes the capture never saw (holes, snap-length cuts)", N(|r| r.connections.both.missed_bytes)),
        ("tls.handshakes", Count, Neither, "TLS handshakes (TCP and QUIC connections with a ClientHello)", N(|r| r.applications.tls.handshakes)),
        ("tls.resumed", Count, Neither, "handshakes where the server accepted resumption", N(|r| r.applications.tls.resumed)),
        ("tls.resumption_rate", Ratio, Higher, "tls.resumed / tls.handshakes; null without handshakes", R(|r| r.applications.tls.resumption_rate())),
        ("tls.alerts", Count, Lower, "handshakes with a clear-text alert", N(|r| r.applications.tls.alerts)),
        ("tls.handshake.*", Duration, Lower, "TLS handshake (ClientHello to both Finished)", P(|r| r.applications.tls.handshake)),
        ("http.requests", Count, Neither, "HTTP requests (HTTP/1.x requests, HTTP/2 streams and HTTP/3 request streams)", N(|r| r.applications.http.requests)),
        ("http.connections", Count, Neither, "connections that carried HTTP requests", N(|r| r.applications.http.connections)),
        ("http.reused_requests", Count, Neither, "requests that were not the first on their connection", N(|r| r.applications.http.reused_requests)),
        ("http.reuse_rate", Ratio, Higher, "http.reused_requests / http.requests; null without requests", R(|r| r.applications.http.reuse_rate())),
        ("http.requests_per_connection", Number, Higher, "http.requests / http.connections; null without connections", R(|r| r.applications.http.requests_per_connection())),
        ("http.status_1xx", Count, Neither, "requests whose final status is 1xx (a 101 that upgraded the connection is http.upgraded)", N(|r| r.applications.http.status("1xx"))),
        ("http.upgraded", Count, Neither, "requests answered by 101 Switching Protocols that upgraded the connection (WebSocket; not counted in http.status_1xx)", N(|r| r.applications.http.status("upgraded"))),
        ("http.status_2xx", Count, Neither, "requests whose final status is 2xx", N(|r| r.applications.http.status("2xx"))),
        ("http.status_3xx", Count, Neither, "requests whose final status is 3xx", N(|r| r.applications.http.status("3xx"))),
        ("http.status_4xx", Count, Lower, "requests whose final status is 4xx", N(|r| r.applications.http.status("4xx"))),
        ("http.status_5xx", Count, Lower, "requests whose final status is 5xx", N(|r| r.applications.http.status("5xx"))),
        ("http.no_response", Count, Lower, "requests without a response in the capture", N(|r| r.applications.http.status("none"))),
        ("http.incomplete", Count, Lower, "requests or responses not seen whole (reset, capture gap, or cut by the end of the capture); they have no receive or total", N(|r| r.applications.http.incomplete)),
        ("http.wait.*", Duration, Lower, "wait (last request byte to first response byte: time to first byte)", P(|r| r.applications.http.wait)),
        ("http.inferred.requests", Count, Neither, "HTTPS exchanges inferred from encrypted TLS records without keys (http rows with inferred true; counted in no other http figure)", N(|r| r.applications.http.inferred.requests)),
        ("http.inferred.wait.*", Duration, Lower, "estimated wait of the inferred exchanges (the request burst's last record to the server's first; docs/http.md, \"HTTPS without keys\")", P(|r| r.applications.http.inferred.wait)),
        ("http.inferred.total.*", Duration, Lower, "estimated total of the inferred exchanges (the request burst's first record to the response's last)", P(|r| r.applications.http.inferred.total)),
        ("http.total.*", Duration, Lower, "total (DNS, else first SYN, for a connection's first request; else the first request byte; to the last response byte)", P(|r| r.applications.http.total)),
        ("dns.queries", Count, Neither, "DNS queries", N(|r| r.applications.dns.queries)),
        ("dns.answered", Count, Neither, "queries answered by a DNS response (the dns table's answered; an ICMP error is not an answer)", N(|r| r.applications.dns.answered)),
        ("dns.unanswered", Count, Lower, "queries with neither a DNS response nor an ICMP error", N(|r| r.applications.dns.unanswered)),
        ("dns.retries", Count, Lower, "queries that retry an unanswered one (retry_of: the same client re-asking, see dns.md)", N(|r| r.applications.dns.retries)),
        ("dns.icmp_unreachable", Count, Lower, "queries that failed with an ICMP destination unreachable (not answered)", N(|r| r.applications.dns.icmp_unreachable)),
        ("dns.errors", Count, Lower, "responses with an rcode other than NOERROR", N(|r| r.applications.dns.errors)),
        ("dns.nxdomain", Count, Neither, "responses with rcode NXDOMAIN", N(|r| r.applications.dns.nxdomain)),
        ("dns.servfail", Count, Lower, "responses with rcode SERVFAIL", N(|r| r.applications.dns.servfail)),
        ("dns.truncated", Count, Neither, "responses with the TC flag (the client should retry over TCP)", N(|r| r.applications.dns.truncated)),
        ("dns.tcp_queries", Count, Neither, "queries over TCP (including fallbacks after a truncated UDP response)", N(|r| r.applications.dns.tcp_queries)),
        ("dns.latency.*", Duration, Lower, "DNS latency (query to DNS response) of the answered queries", P(|r| r.applications.dns.latency)),
        ("websocket.connections", Count, Neither, "WebSockets (rows of the websocket table: HTTP/1.1 upgrades, HTTP/2 and HTTP/3 extended CONNECT streams)", N(|r| r.applications.websocket.connections)),
        ("websocket.abnormal_closes", Count, Lower, "WebSockets ended without a close frame (FIN, RST, a reset stream or the end of the capture: the table's abnormal)", N(|r| r.applications.websocket.abnormal_closes)),
        ("websocket.closed_by_server", Count, Neither, "WebSockets whose first close frame was the server's", N(|r| r.applications.websocket.closed_by_server)),
        ("websocket.ping_rtts", Count, Neither, "WebSocket pings answered by a pong", N(|r| r.applications.websocket.ping_rtts)),
        ("websocket.ping_rtt.*", Duration, Lower, "WebSocket ping round trip: each connection's median", P(|r| r.applications.websocket.ping_rtt)),
        ("websocket.max_idle.*", Duration, Lower, "WebSocket stream stalls: each connection's longest silence in either direction", P(|r| r.applications.websocket.max_idle)),
        ("quic.connections", Count, Neither, "QUIC connections (rows of the quic table)", N(|r| r.applications.quic.connections)),
        ("quic.established", Count, Neither, "QUIC connections with outcome established (a server 1-RTT packet, or the client's Finished decrypted)", N(|r| r.applications.quic.outcome(QuicOutcome::Established))),
        ("quic.failed", Count, Lower, "QUIC connections that did not establish: handshake_incomplete, version_negotiation, unreachable or no_response", N(|r| r.applications.quic.failed())),
        ("quic.version_negotiation", Count, Neither, "QUIC connections that got a Version Negotiation packet", N(|r| r.applications.quic.version_negotiation)),
        ("quic.retry", Count, Neither, "QUIC connections that got a Retry packet", N(|r| r.applications.quic.retry)),
        ("quic.idle_timeouts", Count, Neither, "QUIC connections dropped silently at their idle timeout: ended_by idle_timeout (1-RTT packets decrypted both ways, no CONNECTION_CLOSE, the capture went on past the idle timeout)", N(|r| r.applications.quic.ended.get("idle_timeout").copied().unwrap_or(0))),
        ("quic.closed_by_server", Count, Neither, "QUIC connections whose first CONNECTION_CLOSE read was the server's", N(|r| r.applications.quic.closed_by_server)),
        ("quic.pn_gaps", Count, Lower, "1-RTT packet numbers skipped (packets lost before the capture point), both directions, of the QUIC connections decrypted with the key log (0 without one)", N(|r| r.applications.quic.pn_gaps)),
        ("quic.handshake.*", Duration, Lower, "QUIC handshake (the client's first Initial to its Finished; docs/quic.md)", P(|r| r.applications.quic.handshake)),
    ]
};

/// Every figure's definition, in report order. Percentile families (`connect`, `initial_rtt`,
/// `tls.handshake`, `http.wait`, `http.total`, `dns.latency`) have `.count` (samples, a
/// count), `.p50`, `.p90`, `.p95`, `.p99` and `.max` (nearest rank, durations).
pub fn definitions() -> &'static [Definition] {
    static DEFS: OnceLock<Vec<Definition>> = OnceLock::new();
    DEFS.get_or_init(|| {
        let mut defs = Vec::new();
        for &(name, unit, better, definition, _) in TABLE {
            if let Some(family) = name.strip_suffix(".*") {
                for suffix in PERCENTILE_SUFFIXES {
                    let (unit, better, what) = if suffix == "count" {
                        (Unit::Count, Better::Neither, "samples of".to_string())
                    } else {
                        (unit, better, format!("nearest-rank {suffix} of"))
                    };
                    defs.push(Definition {
                        name: format!("{family}.{suffix}"),
                        unit,
                        better,
                        definition: format!("{what} {definition}"),
                    });
                }
            } else {
                defs.push(Definition {
                    name: name.to_string(),
                    unit,
                    better,
                    definition: definition.to_string(),
                });
            }
        }
        defs
    })
}

/// The definition of the figure called `name`.
pub fn definition(name: &str) -> Option<&'static Definition> {
    definitions().iter().find(|d| d.name == name)
}

/// The figures of one analysis, in the order of [`definitions`]: a view over its
/// [`Report`] (JSON: `{name: value}`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Figures {
    values: Vec<Option<Value>>,
}

impl Serialize for Figures {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(self.iter().map(|f| (&f.def.name, f.value)))
    }
}

impl Serialize for Value {
    /// Counts and durations (ns) as integers, other numbers as reals.
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match *self {
            Value::Count(n) => s.serialize_u64(n),
            Value::Duration(ns) => s.serialize_i64(ns),
            Value::Number(x) => s.serialize_f64(x),
        }
    }
}

impl Figures {
    /// Every figure of `analysis` (filter it first with [`Analysis::filtered`] to scope them):
    /// those of its [`Report`].
    pub fn of(analysis: &Analysis) -> Figures {
        Report::of(analysis, &ReportOptions { top: 0 }).figures
    }

    /// Reads every figure from the values of `r` (in the order of [`definitions`]).
    pub(crate) fn read(r: &Report) -> Figures {
        let mut values = Vec::with_capacity(definitions().len());
        for (.., get) in TABLE {
            match *get {
                Get::N(f) => values.push(Some(Value::Count(f(r)))),
                Get::R(f) => values.push(f(r).ratio().map(Value::Number)),
                Get::D(f) => values.push(f(r).map(Value::Duration)),
                Get::P(f) => {
                    let p = f(r);
                    values.push(Some(Value::Count(p.map_or(0, |p| p.count as u64))));
                    values.extend((0..5).map(|i| p.map(|p| Value::Duration(p.ranks()[i]))));
                }
            }
        }
        Figures { values }
    }

    /// Every figure of `self` (before) beside the same of `after`, with the change.
    pub fn compare(&self, after: &Figures) -> Vec<Comparison> {
        self.iter()
            .zip(after.iter())
            .map(|(b, a)| Comparison::new(b.def, b.value, a.value))
            .collect()
    }

    /// The figure called `name`; `None` for an unknown name.
    pub fn get(&self, name: &str) -> Option<Figure<'static>> {
        let i = definitions().iter().position(|d| d.name == name)?;
        Some(Figure {
            def: &definitions()[i],
            value: self.values.get(i).copied().flatten(),
        })
    }

    /// The value of the figure called `name`: `None` for an unknown name, `Some(None)` for no
    /// data.
    pub fn value(&self, name: &str) -> Option<Option<Value>> {
        self.get(name).map(|f| f.value)
    }

    /// Every figure, in the order of [`definitions`].
    pub fn iter(&self) -> impl Iterator<Item = Figure<'static>> + '_ {
        definitions()
            .iter()
            .zip(&self.values)
            .map(|(def, value)| Figure { def, value: *value })
    }
}

/// A suggestion for a misspelt figure name: the known name closest in edit distance (at most
/// a third of the name's length away).
pub fn suggest(name: &str) -> Option<&'static str> {
    definitions()
        .iter()
        .map(|d| (edit_distance(name, &d.name), d.name.as_str()))
        .filter(|(dist, _)| *dist * 3 <= name.len().max(3))
        .min_by_key(|(dist, _)| *dist)
        .map(|(_, n)| n)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            cur[j + 1] = (prev[j] + usize::from(ca != *cb))
                .min(prev[j + 1] + 1)
                .min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        assert_eq!(Percentiles::of(vec![]), None);
        let p = Percentiles::of((1..=100).rev().collect()).unwrap();
        assert_eq!(
            (p.count, p.p50, p.p90, p.p95, p.p99, p.max),
            (100, 50, 90, 95, 99, 100)
        );
        let one = Percentiles::of(vec![7]).unwrap();
        assert_eq!((one.p50, one.p99, one.max), (7, 7, 7));
        let p = Percentiles::of(vec![10, 20, 30]).unwrap();
        assert_eq!((p.p50, p.p90), (20, 30));
    }

    /// The report's percentiles (of a store) are those of the sorted values, for every count
    /// around the ranks' rounding and the store's buffer size.
    #[test]
    fn percentiles_of_a_store_are_those_of_the_values() {
        let mut x = 1u64;
        let mut store = ValueStore::new();
        let mut values = Vec::new();
        assert_eq!(Percentiles::of_store(&store), None);
        for n in 1..=1200 {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let v = (x >> 40) as i64 - (1 << 22);
            store.push(v);
            values.push(v);
            if n <= 300 || n % 97 == 0 {
                assert_eq!(
                    Percentiles::of_store(&store),
                    Percentiles::of(values.clone()),
                    "n={n}"
                );
            }
        }
    }

    #[test]
    fn durations_format_with_three_digits() {
        assert_eq!(format_duration(0), "0ns");
        assert_eq!(format_duration(999), "999ns");
        assert_eq!(format_duration(1_000), "1µs");
        assert_eq!(format_duration(250_000), "250µs");
        assert_eq!(format_duration(12_345_678), "12.3ms");
        assert_eq!(format_duration(1_500_000_000), "1.5s");
        assert_eq!(format_duration(999_700), "1ms");
        assert_eq!(format_duration(-2_000_000), "-2ms");
        assert_eq!(format_duration(123_456_789_000), "123s");
    }

    #[test]
    fn durations_parse_exactly() {
        assert_eq!(parse_duration("100ms"), Ok(100_000_000));
        assert_eq!(parse_duration("1.5s"), Ok(1_500_000_000));
        assert_eq!(parse_duration("250us"), Ok(250_000));
        assert_eq!(parse_duration("250 µs"), Ok(250_000));
        assert_eq!(parse_duration("-2ms"), Ok(-2_000_000));
        assert_eq!(parse_duration("+.5ms"), Ok(500_000));
        assert_eq!(parse_duration("1.0000000001s"), Ok(1_000_000_000));
        assert_eq!(parse_duration("2m"), Ok(120_000_000_000));
        assert_eq!(parse_duration("7ns"), Ok(7));
        for bad in ["100", "ms", "1.2.3s", "10 parsecs", "", "99999999999999h"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
        let e = parse_duration("100").unwrap_err();
        assert!(e.to_string().contains("no unit"), "{e}");
    }

    #[test]
    fn definitions_are_unique_and_complete() {
        let defs = definitions();
        let mut names: Vec<&str> = defs.iter().map(|d| d.name.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), defs.len());
        for n in [
            "connect.p95",
            "dns.latency.p99",
            "http.reuse_rate",
            "tcp.retransmission_rate",
        ] {
            assert!(definition(n).is_some(), "{n}");
        }
        assert_eq!(
            definition("connect.count").map(|d| d.unit),
            Some(Unit::Count)
        );
        assert_eq!(suggest("conect.p95"), Some("connect.p95"));
        assert_eq!(suggest("zzzzzzzzzzzz"), None);
    }

    #[test]
    fn changes() {
        let rel = |b, a| Value::relative_change_pct(Value::Count(b), Value::Count(a));
        assert_eq!(
            (rel(10, 11), rel(0, 0), rel(0, 3)),
            (Some(10.0), Some(0.0), None)
        );
        assert_eq!(
            Value::Duration(5).delta_to(Value::Duration(2)),
            Value::Duration(-3)
        );
        assert_eq!(
            Value::Count(5).delta_to(Value::Count(2)),
            Value::Number(-3.0)
        );
    }

    #[test]
    fn values_compare() {
        assert_eq!(
            Value::Count(3).compare(Value::Count(3)),
            Some(Ordering::Equal)
        );
        assert_eq!(
            Value::Duration(5).compare(Value::Duration(7)),
            Some(Ordering::Less)
        );
        assert_eq!(
            Value::Number(0.5).compare(Value::Count(1)),
            Some(Ordering::Less)
        );
        assert_eq!(Value::Number(0.0123).to_string(), "0.0123");
        assert_eq!(Value::Number(2.0).to_string(), "2");
        assert_eq!(Value::Number(0.00001).to_string(), "1.0e-5");
    }
}

#[cfg(test)]
mod doc_tests {
    use super::*;

    const BEGIN: &str = "<!-- figures: generated from crates/pcapstat/src/figures.rs -->";
    const END: &str = "<!-- end of figures -->";

    fn table() -> String {
        let mut s = String::from("| figure | unit | better | definition |\n|---|---|---|---|\n");
        for d in definitions() {
            let better = match d.better {
                Better::Lower => "lower",
                Better::Higher => "higher",
                Better::Neither => "",
            };
            s.push_str(&format!(
                "| `{}` | {} | {better} | {} |\n",
                d.name,
                d.unit.as_str(),
                d.definition.replace('|', "\\|")
            ));
        }
        s
    }

    /// docs/figures.md lists every figure as the code defines it; `UPDATE_DOCS=1` rewrites the
    /// generated table.
    #[test]
    fn figures_doc_matches_the_definitions() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/figures.md");
        let doc = std::fs::read_to_string(path).expect("docs/figures.md");
        let (head, rest) = doc.split_once(BEGIN).expect("begin marker");
        let (current, tail) = rest.split_once(END).expect("end marker");
        let expected = format!("\n{}", table());
        if current != expected {
            if std::env::var_os("UPDATE_DOCS").is_some() {
                std::fs::write(path, format!("{head}{BEGIN}{expected}{END}{tail}")).unwrap();
            } else {
                panic!("docs/figures.md is out of date: run with UPDATE_DOCS=1");
            }
        }
    }
}
