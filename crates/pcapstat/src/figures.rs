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

use pcapstat_core::Outcome;

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
        if values.is_empty() {
            return None;
        }
        values.sort_unstable();
        let n = values.len();
        let rank = |p: usize| values[(n * p).div_ceil(100).clamp(1, n) - 1];
        Some(Percentiles {
            count: n,
            p50: rank(50),
            p90: rank(90),
            p95: rank(95),
            p99: rank(99),
            max: values[n - 1],
        })
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

/// The percentile suffixes of a percentile family, in order.
pub const PERCENTILE_SUFFIXES: [&str; 6] = ["count", "p50", "p90", "p95", "p99", "max"];

// (name, unit, better, definition); a name ending in ".*" is a percentile family.
const TABLE: &[(&str, Unit, Better, &str)] = {
    use Better::{Higher, Lower, Neither};
    use Unit::{Count, Duration, Number, Ratio};
    &[
        ("capture.frames", Count, Neither, "frames read (the whole capture: filters do not apply to capture.*)"),
        ("capture.bytes", Count, Neither, "sum of the frames' on-the-wire lengths, bytes"),
        ("capture.duration", Duration, Neither, "last minus first frame timestamp; null without frames"),
        ("capture.undecodable", Count, Lower, "frames the decoder stopped on (any reason)"),
        ("capture.truncated", Count, Lower, "frames cut by the snap length"),
        ("capture.damaged", Count, Lower, "1 when the capture is damaged (read stopped early), else 0"),
        ("capture.limits_hit", Count, Lower, "connections evicted, out-of-order buffer overflows, RTT samples and segments not tracked, protocol probing buffers full, HTTP heads too large and requests given up, fragment datagrams evicted: anything a memory limit cut"),
        ("connections.count", Count, Neither, "TCP connections"),
        ("connections.closed", Count, Neither, "connections with outcome closed (FIN both ways)"),
        ("connections.open", Count, Neither, "connections with outcome open (live at the end of the capture)"),
        ("connections.established", Count, Neither, "connections with outcome established (handshake done, tracking ended without FIN or RST)"),
        ("connections.midstream", Count, Neither, "connections with outcome midstream (no SYN seen)"),
        ("connections.reset", Count, Lower, "connections with outcome reset (RST after the handshake)"),
        ("connections.refused", Count, Lower, "connections with outcome refused (RST answering the SYN)"),
        ("connections.timeout", Count, Lower, "connections with outcome timeout (SYNs without answer)"),
        ("connections.one_direction", Count, Neither, "connections with outcome one_direction (only one direction captured; never a failure)"),
        ("connections.failed", Count, Lower, "connections with a failure: refused, timeout, reset before the first response byte, reset with a request unanswered or cutting a response (the connections table's failure column; docs/tcp.md)"),
        ("connections.reset_after_exchange", Count, Neither, "connections with outcome reset that did not fail: the reset came after a complete exchange (e.g. nginx's FIN then RST)"),
        ("connections.failure_rate", Ratio, Lower, "connections.failed / connections.count; null without connections"),
        ("connect.*", Duration, Lower, "connect (first SYN to the client's handshake ACK, SYN retries included) of the connections where it was measured"),
        ("initial_rtt.*", Duration, Lower, "initial RTT (the last SYN before the handshake ACK to that ACK; tshark's tcp.analysis.initial_rtt)"),
        ("tcp.syn_retries", Count, Lower, "SYNs retransmitted by clients, summed over connections"),
        ("tcp.segments", Count, Neither, "TCP segments, both directions"),
        ("tcp.payload_bytes", Count, Neither, "unique payload bytes, both directions"),
        ("tcp.retransmissions", Count, Lower, "segments flagged as retransmissions (tshark tcp.analysis.retransmission, fast and spurious included), both directions"),
        ("tcp.retransmitted_bytes", Count, Lower, "payload bytes of those segments"),
        ("tcp.retransmission_rate", Ratio, Lower, "tcp.retransmissions / tcp.segments; null without segments"),
        ("tcp.retransmission_byte_rate", Ratio, Lower, "tcp.retransmitted_bytes / (tcp.payload_bytes + tcp.retransmitted_bytes): the share of payload bytes sent that were copies; null without payload"),
        ("tcp.fast_retransmissions", Count, Lower, "segments flagged tcp.analysis.fast_retransmission"),
        ("tcp.spurious_retransmissions", Count, Lower, "segments flagged tcp.analysis.spurious_retransmission"),
        ("tcp.out_of_order", Count, Lower, "segments flagged tcp.analysis.out_of_order"),
        ("tcp.dup_acks", Count, Lower, "segments flagged tcp.analysis.duplicate_ack"),
        ("tcp.zero_windows", Count, Lower, "segments flagged tcp.analysis.zero_window"),
        ("tcp.lost_segments", Count, Lower, "segments flagged tcp.analysis.lost_segment (a hole before them)"),
        ("tcp.missed_bytes", Count, Lower, "stream bytes the capture never saw (holes, snap-length cuts)"),
        ("tls.handshakes", Count, Neither, "TLS handshakes (connections with a ClientHello)"),
        ("tls.resumed", Count, Neither, "handshakes where the server accepted resumption"),
        ("tls.resumption_rate", Ratio, Higher, "tls.resumed / tls.handshakes; null without handshakes"),
        ("tls.alerts", Count, Lower, "handshakes with a clear-text alert"),
        ("tls.handshake.*", Duration, Lower, "TLS handshake (ClientHello to both Finished)"),
        ("http.requests", Count, Neither, "HTTP requests (HTTP/1.x requests and HTTP/2 streams)"),
        ("http.connections", Count, Neither, "connections that carried HTTP requests"),
        ("http.reused_requests", Count, Neither, "requests that were not the first on their connection"),
        ("http.reuse_rate", Ratio, Higher, "http.reused_requests / http.requests; null without requests"),
        ("http.requests_per_connection", Number, Higher, "http.requests / http.connections; null without connections"),
        ("http.status_1xx", Count, Neither, "requests whose final status is 1xx"),
        ("http.status_2xx", Count, Neither, "requests whose final status is 2xx"),
        ("http.status_3xx", Count, Neither, "requests whose final status is 3xx"),
        ("http.status_4xx", Count, Lower, "requests whose final status is 4xx"),
        ("http.status_5xx", Count, Lower, "requests whose final status is 5xx"),
        ("http.no_response", Count, Lower, "requests without a response in the capture"),
        ("http.incomplete", Count, Lower, "requests or responses not seen whole (reset, capture gap, or cut by the end of the capture); they have no receive or total"),
        ("http.wait.*", Duration, Lower, "wait (last request byte to first response byte: time to first byte)"),
        ("http.total.*", Duration, Lower, "total (DNS, else first SYN, for a connection's first request; else the first request byte; to the last response byte)"),
        ("dns.queries", Count, Neither, "DNS queries"),
        ("dns.answered", Count, Neither, "queries answered by a DNS response (the dns table's answered; an ICMP error is not an answer)"),
        ("dns.unanswered", Count, Lower, "queries with neither a DNS response nor an ICMP error"),
        ("dns.retries", Count, Lower, "queries that retry an unanswered one (retry_of: the same client re-asking, see dns.md)"),
        ("dns.icmp_unreachable", Count, Lower, "queries that failed with an ICMP destination unreachable (not answered)"),
        ("dns.errors", Count, Lower, "responses with an rcode other than NOERROR"),
        ("dns.nxdomain", Count, Neither, "responses with rcode NXDOMAIN"),
        ("dns.servfail", Count, Lower, "responses with rcode SERVFAIL"),
        ("dns.truncated", Count, Neither, "responses with the TC flag (the client should retry over TCP)"),
        ("dns.tcp_queries", Count, Neither, "queries over TCP (including fallbacks after a truncated UDP response)"),
        ("dns.latency.*", Duration, Lower, "DNS latency (query to DNS response) of the answered queries"),
    ]
};

/// Every figure's definition, in report order. Percentile families (`connect`, `initial_rtt`,
/// `tls.handshake`, `http.wait`, `http.total`, `dns.latency`) have `.count` (samples, a
/// count), `.p50`, `.p90`, `.p95`, `.p99` and `.max` (nearest rank, durations).
pub fn definitions() -> &'static [Definition] {
    static DEFS: OnceLock<Vec<Definition>> = OnceLock::new();
    DEFS.get_or_init(|| {
        let mut defs = Vec::new();
        for &(name, unit, better, definition) in TABLE {
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

/// The figures of one analysis, in the order of [`definitions`].
#[derive(Debug, Clone, PartialEq)]
pub struct Figures {
    values: Vec<Option<Value>>,
}

fn ratio(part: u64, whole: u64) -> Option<Value> {
    (whole > 0).then(|| Value::Number(part as f64 / whole as f64))
}

impl Figures {
    /// Computes every figure of `analysis` (filter it first with [`Analysis::filtered`] to
    /// scope them).
    pub fn of(analysis: &Analysis) -> Figures {
        let mut v: Vec<(&str, Option<Value>)> = Vec::with_capacity(definitions().len());
        let count = |n: usize| Some(Value::Count(n as u64));
        let s = analysis.summary();
        let d = &s.decode;
        let l = analysis.tcp_stats();
        v.push(("capture.frames", Some(Value::Count(s.frames))));
        v.push(("capture.bytes", Some(Value::Count(s.bytes))));
        v.push(("capture.duration", s.duration_ns().map(Value::Duration)));
        v.push((
            "capture.undecodable",
            Some(Value::Count(d.undecodable.total())),
        ));
        v.push(("capture.truncated", Some(Value::Count(d.truncated))));
        v.push((
            "capture.damaged",
            Some(Value::Count(u64::from(s.damaged.is_some()))),
        ));
        v.push((
            "capture.limits_hit",
            Some(Value::Count(
                l.evictions
                    + l.ooo_limit_hits
                    + l.rtt_sample_limit_hits
                    + l.unacked_limit_hits
                    + analysis.app_stats().limit_hits()
                    + d.fragments_evicted,
            )),
        ));

        let conns = analysis.connection_records();
        let outcome = |o: Outcome| conns.iter().filter(|c| c.outcome == o).count();
        let failed = conns.iter().filter(|c| c.failure.is_some()).count();
        let reset_ok = conns
            .iter()
            .filter(|c| c.outcome == Outcome::Reset && c.failure.is_none())
            .count();
        v.push(("connections.count", count(conns.len())));
        for (name, o) in [
            ("connections.closed", Outcome::Closed),
            ("connections.open", Outcome::Open),
            ("connections.established", Outcome::Established),
            ("connections.midstream", Outcome::Midstream),
            ("connections.reset", Outcome::Reset),
            ("connections.refused", Outcome::Refused),
            ("connections.timeout", Outcome::Timeout),
            ("connections.one_direction", Outcome::OneDirection),
        ] {
            v.push((name, count(outcome(o))));
        }
        v.push(("connections.failed", count(failed)));
        v.push(("connections.reset_after_exchange", count(reset_ok)));
        v.push((
            "connections.failure_rate",
            ratio(failed as u64, conns.len() as u64),
        ));
        let mut pct: Vec<(&str, Option<Percentiles>)> = vec![
            (
                "connect",
                Percentiles::of(conns.iter().filter_map(|c| c.connect_ns).collect()),
            ),
            (
                "initial_rtt",
                Percentiles::of(conns.iter().filter_map(|c| c.syn_to_ack_ns).collect()),
            ),
        ];
        for (family, p) in pct.drain(..) {
            push_percentiles(&mut v, family, p);
        }
        let sum = |f: fn(&pcapstat_core::DirectionStats) -> u64| -> u64 {
            conns.iter().map(|c| f(&c.c2s) + f(&c.s2c)).sum()
        };
        let segments = sum(|d| d.packets);
        let payload = sum(|d| d.payload_bytes);
        let retx = sum(|d| d.retransmissions);
        let retx_bytes = sum(|d| d.retransmitted_bytes);
        v.push((
            "tcp.syn_retries",
            Some(Value::Count(
                conns.iter().map(|c| u64::from(c.syn_retries)).sum(),
            )),
        ));
        v.push(("tcp.segments", Some(Value::Count(segments))));
        v.push(("tcp.payload_bytes", Some(Value::Count(payload))));
        v.push(("tcp.retransmissions", Some(Value::Count(retx))));
        v.push(("tcp.retransmitted_bytes", Some(Value::Count(retx_bytes))));
        v.push(("tcp.retransmission_rate", ratio(retx, segments)));
        v.push((
            "tcp.retransmission_byte_rate",
            ratio(retx_bytes, payload + retx_bytes),
        ));
        v.push((
            "tcp.fast_retransmissions",
            Some(Value::Count(sum(|d| d.fast_retransmissions))),
        ));
        v.push((
            "tcp.spurious_retransmissions",
            Some(Value::Count(sum(|d| d.spurious_retransmissions))),
        ));
        v.push((
            "tcp.out_of_order",
            Some(Value::Count(sum(|d| d.out_of_order))),
        ));
        v.push(("tcp.dup_acks", Some(Value::Count(sum(|d| d.dup_acks)))));
        v.push((
            "tcp.zero_windows",
            Some(Value::Count(sum(|d| d.zero_windows))),
        ));
        v.push((
            "tcp.lost_segments",
            Some(Value::Count(sum(|d| d.lost_segments))),
        ));
        v.push((
            "tcp.missed_bytes",
            Some(Value::Count(sum(|d| d.missed_bytes))),
        ));

        let tls = analysis.tls_records();
        let resumed = tls.iter().filter(|t| t.resumed == Some(true)).count();
        v.push(("tls.handshakes", count(tls.len())));
        v.push(("tls.resumed", count(resumed)));
        v.push((
            "tls.resumption_rate",
            ratio(resumed as u64, tls.len() as u64),
        ));
        v.push((
            "tls.alerts",
            count(tls.iter().filter(|t| t.alert.is_some()).count()),
        ));
        push_percentiles(
            &mut v,
            "tls.handshake",
            Percentiles::of(tls.iter().filter_map(|t| t.handshake_ns).collect()),
        );

        let http = analysis.http_records();
        let timings = analysis.request_timings();
        let first = http.iter().filter(|h| h.request_index == 0).count();
        let reused = http.iter().filter(|h| h.request_index > 0).count();
        v.push(("http.requests", count(http.len())));
        v.push(("http.connections", count(first)));
        v.push(("http.reused_requests", count(reused)));
        v.push(("http.reuse_rate", ratio(reused as u64, http.len() as u64)));
        v.push((
            "http.requests_per_connection",
            ratio(http.len() as u64, first as u64),
        ));
        for (name, class) in [
            ("http.status_1xx", 1),
            ("http.status_2xx", 2),
            ("http.status_3xx", 3),
            ("http.status_4xx", 4),
            ("http.status_5xx", 5),
        ] {
            v.push((
                name,
                count(
                    http.iter()
                        .filter(|h| h.status.is_some_and(|s| s / 100 == class))
                        .count(),
                ),
            ));
        }
        v.push((
            "http.no_response",
            count(http.iter().filter(|h| h.status.is_none()).count()),
        ));
        v.push((
            "http.incomplete",
            count(http.iter().filter(|h| !h.complete).count()),
        ));
        push_percentiles(
            &mut v,
            "http.wait",
            Percentiles::of(timings.iter().filter_map(|t| t.wait_ns).collect()),
        );
        push_percentiles(
            &mut v,
            "http.total",
            Percentiles::of(timings.iter().filter_map(|t| t.total_ns).collect()),
        );

        let dns = analysis.dns_records();
        let answered = |d: &&pcapstat_core::DnsRecord| d.answered();
        v.push(("dns.queries", count(dns.len())));
        v.push(("dns.answered", count(dns.iter().filter(answered).count())));
        v.push((
            "dns.unanswered",
            count(dns.iter().filter(|d| d.unanswered()).count()),
        ));
        v.push((
            "dns.retries",
            count(dns.iter().filter(|d| d.retry_of.is_some()).count()),
        ));
        v.push((
            "dns.icmp_unreachable",
            count(dns.iter().filter(|d| d.icmp_unreachable).count()),
        ));
        let rcode = |f: fn(u8) -> bool| {
            count(
                dns.iter()
                    .filter(answered)
                    .filter(|d| d.rcode.is_some_and(f))
                    .count(),
            )
        };
        v.push(("dns.errors", rcode(|r| r != 0)));
        v.push(("dns.nxdomain", rcode(|r| r == 3)));
        v.push(("dns.servfail", rcode(|r| r == 2)));
        v.push((
            "dns.truncated",
            count(dns.iter().filter(|d| d.truncated == Some(true)).count()),
        ));
        v.push((
            "dns.tcp_queries",
            count(
                dns.iter()
                    .filter(|d| d.transport == pcapstat_core::DnsTransport::Tcp)
                    .count(),
            ),
        ));
        push_percentiles(
            &mut v,
            "dns.latency",
            Percentiles::of(dns.iter().filter_map(|d| d.latency_ns).collect()),
        );

        debug_assert_eq!(
            v.iter().map(|(n, _)| *n).collect::<Vec<_>>(),
            definitions()
                .iter()
                .map(|d| d.name.as_str())
                .collect::<Vec<_>>()
        );
        Figures {
            values: v.into_iter().map(|(_, x)| x).collect(),
        }
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

fn push_percentiles(v: &mut Vec<(&str, Option<Value>)>, family: &str, p: Option<Percentiles>) {
    // The names must be 'static for the debug check; look them up in the definitions.
    for (suffix, value) in PERCENTILE_SUFFIXES.iter().zip([
        p.map(|p| Value::Count(p.count as u64))
            .or(Some(Value::Count(0))),
        p.map(|p| Value::Duration(p.p50)),
        p.map(|p| Value::Duration(p.p90)),
        p.map(|p| Value::Duration(p.p95)),
        p.map(|p| Value::Duration(p.p99)),
        p.map(|p| Value::Duration(p.max)),
    ]) {
        let name = format!("{family}.{suffix}");
        if let Some(d) = definition(&name) {
            v.push((d.name.as_str(), value));
        }
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
