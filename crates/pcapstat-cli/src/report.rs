//! Connection statistics for the report: counts by outcome, phase percentiles, the worst
//! connections. Computed from the records (no polars needed for a few numbers).

use std::collections::BTreeMap;

use pcapstat::core::{ConnectionRecord, Outcome, TcpStats};
use serde_json::{json, Value};

/// Nearest-rank percentiles of a set of durations (ns).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Percentiles {
    pub count: usize,
    pub p50: i64,
    pub p90: i64,
    pub p95: i64,
    pub p99: i64,
    pub max: i64,
}

impl Percentiles {
    /// `None` for an empty set. Nearest rank: the smallest value with at least p% of the values
    /// at or below it.
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

    pub fn json(this: Option<Percentiles>) -> Value {
        match this {
            None => {
                json!({"count": 0, "p50_ns": null, "p90_ns": null, "p95_ns": null, "p99_ns": null, "max_ns": null})
            }
            Some(p) => {
                json!({"count": p.count, "p50_ns": p.p50, "p90_ns": p.p90, "p95_ns": p.p95, "p99_ns": p.p99, "max_ns": p.max})
            }
        }
    }
}

/// Per-direction totals over all connections.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
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
    fn add(&mut self, d: &pcapstat::core::DirectionStats) {
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

    fn json(&self) -> Value {
        json!({
            "packets": self.packets,
            "payload_bytes": self.payload_bytes,
            "retransmissions": self.retransmissions,
            "retransmitted_bytes": self.retransmitted_bytes,
            "fast_retransmissions": self.fast_retransmissions,
            "spurious_retransmissions": self.spurious_retransmissions,
            "out_of_order": self.out_of_order,
            "dup_acks": self.dup_acks,
            "zero_windows": self.zero_windows,
            "lost_segments": self.lost_segments,
            "missed_bytes": self.missed_bytes,
        })
    }
}

/// What the report says about TCP connections.
#[derive(Debug, Clone)]
pub struct ConnReport {
    pub connections: usize,
    pub outcomes: BTreeMap<&'static str, usize>,
    pub connect: Option<Percentiles>,
    pub initial_rtt: Option<Percentiles>,
    pub c2s: Totals,
    pub s2c: Totals,
    /// Indices of the connections with the longest `connect`, longest first (at most 5).
    pub slowest: Vec<usize>,
    /// Indices of the connections with the most retransmitted segments (at most 5, > 0).
    pub most_retransmitted: Vec<usize>,
    /// Failed connections (refused, timeout, reset) per server endpoint and outcome.
    pub failures: BTreeMap<(String, &'static str), usize>,
    pub limits: TcpStats,
}

const OUTCOMES: [Outcome; 7] = [
    Outcome::Closed,
    Outcome::Open,
    Outcome::Established,
    Outcome::Midstream,
    Outcome::Reset,
    Outcome::Refused,
    Outcome::Timeout,
];

impl ConnReport {
    pub fn new(records: &[ConnectionRecord], stats: &TcpStats) -> ConnReport {
        let mut outcomes: BTreeMap<&'static str, usize> =
            OUTCOMES.iter().map(|o| (o.as_str(), 0)).collect();
        let (mut c2s, mut s2c) = (Totals::default(), Totals::default());
        let mut failures = BTreeMap::new();
        for r in records {
            *outcomes.entry(r.outcome.as_str()).or_default() += 1;
            c2s.add(&r.c2s);
            s2c.add(&r.s2c);
            if matches!(
                r.outcome,
                Outcome::Refused | Outcome::Timeout | Outcome::Reset
            ) {
                let server = endpoint(&r.server_ip, r.server_port);
                *failures.entry((server, r.outcome.as_str())).or_default() += 1;
            }
        }
        let mut slowest: Vec<usize> = (0..records.len())
            .filter(|&i| records[i].connect_ns.is_some())
            .collect();
        slowest.sort_by_key(|&i| (std::cmp::Reverse(records[i].connect_ns), records[i].conn_id));
        slowest.truncate(5);
        let retx = |r: &ConnectionRecord| r.c2s.retransmissions + r.s2c.retransmissions;
        let mut most: Vec<usize> = (0..records.len())
            .filter(|&i| retx(&records[i]) > 0)
            .collect();
        most.sort_by_key(|&i| (std::cmp::Reverse(retx(&records[i])), records[i].conn_id));
        most.truncate(5);
        ConnReport {
            connections: records.len(),
            outcomes,
            connect: Percentiles::of(records.iter().filter_map(|r| r.connect_ns).collect()),
            initial_rtt: Percentiles::of(records.iter().filter_map(|r| r.syn_to_ack_ns).collect()),
            c2s,
            s2c,
            slowest,
            most_retransmitted: most,
            failures,
            limits: stats.clone(),
        }
    }

    pub fn json(&self, records: &[ConnectionRecord]) -> Value {
        let conn = |&i: &usize| {
            let r = &records[i];
            json!({
                "conn_id": r.conn_id,
                "client": endpoint(&r.client_ip, r.client_port),
                "server": endpoint(&r.server_ip, r.server_port),
                "outcome": r.outcome.as_str(),
                "connect_ns": r.connect_ns,
                "syn_retries": r.syn_retries,
                "retransmissions": r.c2s.retransmissions + r.s2c.retransmissions,
            })
        };
        let failures: Vec<Value> = self
            .failures
            .iter()
            .map(|((server, outcome), n)| json!({"server": server, "outcome": outcome, "connections": n}))
            .collect();
        let l = &self.limits;
        json!({
            "connections": self.connections,
            "outcomes": self.outcomes,
            "connect": Percentiles::json(self.connect),
            "initial_rtt": Percentiles::json(self.initial_rtt),
            "c2s": self.c2s.json(),
            "s2c": self.s2c.json(),
            "slowest_connects": self.slowest.iter().map(conn).collect::<Vec<_>>(),
            "most_retransmissions": self.most_retransmitted.iter().map(conn).collect::<Vec<_>>(),
            "failures": failures,
            "tracking": {
                "midstream_connections": l.midstream_connections,
                "port_reuses": l.port_reuses,
                "idle_timeouts": l.idle_timeouts,
                "closed_swept": l.closed_swept,
                "max_concurrent": l.max_concurrent,
                "evictions": l.evictions,
                "ooo_limit_hits": l.ooo_limit_hits,
                "rtt_sample_limit_hits": l.rtt_sample_limit_hits,
                "unacked_limit_hits": l.unacked_limit_hits,
            },
        })
    }
}

/// `ip:port`, with brackets around IPv6 addresses.
pub fn endpoint(ip: &std::net::IpAddr, port: u16) -> String {
    match ip {
        std::net::IpAddr::V4(a) => format!("{a}:{port}"),
        std::net::IpAddr::V6(a) => format!("[{a}]:{port}"),
    }
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
}

/// What the report says about TLS, HTTP and DNS.
#[derive(Debug, Clone)]
pub struct AppReport {
    pub tls_handshakes: usize,
    pub tls_versions: BTreeMap<String, usize>,
    pub tls_resumed: usize,
    pub tls_alerts: usize,
    pub tls_handshake: Option<Percentiles>,
    pub http_requests: usize,
    pub http_connections: usize,
    pub http_reused: usize,
    pub http_incomplete: usize,
    pub http_status: BTreeMap<String, usize>,
    pub http_wait: Option<Percentiles>,
    pub http_total: Option<Percentiles>,
    pub dns_queries: usize,
    pub dns_answered: usize,
    pub dns_retries: usize,
    pub dns_icmp: usize,
    pub dns_rcodes: BTreeMap<String, usize>,
    pub dns_latency: Option<Percentiles>,
    /// New connections (request index 0) per server endpoint, most first (at most 5).
    pub new_connections_per_server: Vec<(String, usize)>,
}

impl AppReport {
    pub fn new(a: &pcapstat::Analysis) -> AppReport {
        let tls = a.tls_records();
        let http = a.http_records();
        let timings = a.request_timings();
        let dns = a.dns_records();
        let mut tls_versions = BTreeMap::new();
        for t in tls {
            let v = t.version.map_or("unknown".to_string(), |v| {
                pcapstat::tables::tls_version_name(v)
            });
            *tls_versions.entry(v).or_default() += 1;
        }
        let mut http_status = BTreeMap::new();
        for h in http {
            let k = h
                .status
                .map_or("none".to_string(), |s| format!("{}xx", s / 100));
            *http_status.entry(k).or_default() += 1;
        }
        let mut dns_rcodes = BTreeMap::new();
        for d in dns.iter().filter_map(|d| d.rcode) {
            *dns_rcodes
                .entry(pcapstat::tables::dns_rcode_name(d))
                .or_default() += 1;
        }
        let conns: std::collections::HashMap<u64, &ConnectionRecord> = a
            .connection_records()
            .iter()
            .map(|c| (c.conn_id, c))
            .collect();
        let mut per_server: BTreeMap<String, usize> = BTreeMap::new();
        for h in http.iter().filter(|h| h.request_index == 0) {
            if let Some(c) = conns.get(&h.conn_id) {
                *per_server
                    .entry(endpoint(&c.server_ip, c.server_port))
                    .or_default() += 1;
            }
        }
        let mut new_connections_per_server: Vec<(String, usize)> = per_server.into_iter().collect();
        new_connections_per_server.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        new_connections_per_server.truncate(5);
        AppReport {
            tls_handshakes: tls.len(),
            tls_versions,
            tls_resumed: tls.iter().filter(|t| t.resumed == Some(true)).count(),
            tls_alerts: tls.iter().filter(|t| t.alert.is_some()).count(),
            tls_handshake: Percentiles::of(tls.iter().filter_map(|t| t.handshake_ns).collect()),
            http_requests: http.len(),
            http_connections: http.iter().filter(|h| h.request_index == 0).count(),
            http_reused: http.iter().filter(|h| h.request_index > 0).count(),
            http_incomplete: http.iter().filter(|h| !h.complete).count(),
            http_status,
            http_wait: Percentiles::of(timings.iter().filter_map(|t| t.wait_ns).collect()),
            http_total: Percentiles::of(timings.iter().filter_map(|t| t.total_ns).collect()),
            dns_queries: dns.len(),
            dns_answered: dns
                .iter()
                .filter(|d| d.response_ts.is_some() && !d.icmp_unreachable)
                .count(),
            dns_retries: dns.iter().filter(|d| d.retry_of.is_some()).count(),
            dns_icmp: dns.iter().filter(|d| d.icmp_unreachable).count(),
            dns_rcodes,
            dns_latency: Percentiles::of(
                dns.iter()
                    .filter(|d| !d.icmp_unreachable)
                    .filter_map(|d| d.latency_ns)
                    .collect(),
            ),
            new_connections_per_server,
        }
    }

    pub fn json(&self) -> Value {
        json!({
            "tls": {
                "handshakes": self.tls_handshakes,
                "versions": self.tls_versions,
                "resumed": self.tls_resumed,
                "alerts": self.tls_alerts,
                "handshake": Percentiles::json(self.tls_handshake),
            },
            "http": {
                "requests": self.http_requests,
                "connections": self.http_connections,
                "reused_requests": self.http_reused,
                "incomplete": self.http_incomplete,
                "status": self.http_status,
                "wait": Percentiles::json(self.http_wait),
                "total": Percentiles::json(self.http_total),
                "new_connections_per_server": self.new_connections_per_server.iter()
                    .map(|(s, n)| json!({"server": s, "connections": n})).collect::<Vec<_>>(),
            },
            "dns": {
                "queries": self.dns_queries,
                "answered": self.dns_answered,
                "retries": self.dns_retries,
                "icmp_unreachable": self.dns_icmp,
                "rcodes": self.dns_rcodes,
                "latency": Percentiles::json(self.dns_latency),
            },
        })
    }
}
