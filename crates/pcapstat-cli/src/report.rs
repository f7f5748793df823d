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
