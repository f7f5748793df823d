//! Connection statistics for the report: counts by outcome, phase percentiles, the worst
//! connections. Computed from the records (no polars needed for a few numbers).

use std::collections::BTreeMap;

use pcapstat::core::{ConnectionRecord, Outcome, TcpStats};
use serde_json::{json, Value};

pub use pcapstat::Percentiles;

/// `{count, p50_ns, p90_ns, p95_ns, p99_ns, max_ns}`, all null (count 0) without values.
pub fn percentiles_json(this: Option<Percentiles>) -> Value {
    match this {
        None => {
            json!({"count": 0, "p50_ns": null, "p90_ns": null, "p95_ns": null, "p99_ns": null, "max_ns": null})
        }
        Some(p) => {
            json!({"count": p.count, "p50_ns": p.p50, "p90_ns": p.p90, "p95_ns": p.p95, "p99_ns": p.p99, "max_ns": p.max})
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
    /// Indices of the connections with the longest `connect`, longest first (at most `top`).
    pub slowest: Vec<usize>,
    /// Indices of the connections with the most retransmitted segments (at most `top`, > 0).
    pub most_retransmitted: Vec<usize>,
    /// Indices of failed connections (refused, timeout, reset), earliest first (at most `top`).
    pub failed: Vec<usize>,
    /// Failed connections in all.
    pub failed_total: usize,
    pub syn_retries: u64,
    /// Reset connections that did not fail (the reset came after a complete exchange).
    pub reset_after_exchange: usize,
    /// Failed connections (`ConnectionRecord::failure`) per server endpoint and failure.
    pub failures: BTreeMap<(String, &'static str), usize>,
    pub limits: TcpStats,
    /// Connections whose protocol probing buffer reached its limit
    /// (`AppStats::probe_limit_hits`; set by the caller, 0 from [`ConnReport::new`]).
    pub probe_limit_hits: u64,
    /// HTTP/1.x heads dropped at `max_head_bytes` (`HttpStats::heads_too_large`; set by the
    /// caller).
    pub http_heads_too_large: u64,
    /// HTTP/1.x requests given up at `max_pending` (`HttpStats::pending_dropped`; set by the
    /// caller).
    pub http_pending_dropped: u64,
}

const OUTCOMES: [Outcome; 8] = [
    Outcome::Closed,
    Outcome::Open,
    Outcome::Established,
    Outcome::Midstream,
    Outcome::OneDirection,
    Outcome::Reset,
    Outcome::Refused,
    Outcome::Timeout,
];

impl ConnReport {
    pub fn new(records: &[ConnectionRecord], stats: &TcpStats, top: usize) -> ConnReport {
        let mut outcomes: BTreeMap<&'static str, usize> =
            OUTCOMES.iter().map(|o| (o.as_str(), 0)).collect();
        let (mut c2s, mut s2c) = (Totals::default(), Totals::default());
        let mut failures = BTreeMap::new();
        for r in records {
            *outcomes.entry(r.outcome.as_str()).or_default() += 1;
            c2s.add(&r.c2s);
            s2c.add(&r.s2c);
            if let Some(f) = r.failure {
                let server = endpoint(&r.server_ip, r.server_port);
                *failures.entry((server, f.as_str())).or_default() += 1;
            }
        }
        let mut slowest: Vec<usize> = (0..records.len())
            .filter(|&i| records[i].connect_ns.is_some())
            .collect();
        slowest.sort_by_key(|&i| (std::cmp::Reverse(records[i].connect_ns), records[i].conn_id));
        slowest.truncate(top);
        let retx = |r: &ConnectionRecord| r.c2s.retransmissions + r.s2c.retransmissions;
        let mut most: Vec<usize> = (0..records.len())
            .filter(|&i| retx(&records[i]) > 0)
            .collect();
        most.sort_by_key(|&i| (std::cmp::Reverse(retx(&records[i])), records[i].conn_id));
        most.truncate(top);
        let is_failed = |r: &ConnectionRecord| r.failure.is_some();
        let mut failed: Vec<usize> = (0..records.len())
            .filter(|&i| is_failed(&records[i]))
            .collect();
        let failed_total = failed.len();
        failed.sort_by_key(|&i| (records[i].start_ts, records[i].conn_id));
        failed.truncate(top);
        ConnReport {
            failed,
            failed_total,
            reset_after_exchange: records
                .iter()
                .filter(|r| r.outcome == Outcome::Reset && r.failure.is_none())
                .count(),
            syn_retries: records.iter().map(|r| u64::from(r.syn_retries)).sum(),
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
            probe_limit_hits: 0,
            http_heads_too_large: 0,
            http_pending_dropped: 0,
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
                "failure": r.failure.map(|f| f.as_str()),
                "start_ts": r.start_ts,
                "connect_ns": r.connect_ns,
                "syn_retries": r.syn_retries,
                "retransmissions": r.c2s.retransmissions + r.s2c.retransmissions,
            })
        };
        let failures: Vec<Value> = self
            .failures
            .iter()
            .map(|((server, failure), n)| json!({"server": server, "failure": failure, "connections": n}))
            .collect();
        let l = &self.limits;
        json!({
            "connections": self.connections,
            "outcomes": self.outcomes,
            "connect": percentiles_json(self.connect),
            "initial_rtt": percentiles_json(self.initial_rtt),
            "c2s": self.c2s.json(),
            "s2c": self.s2c.json(),
            "slowest_connects": self.slowest.iter().map(conn).collect::<Vec<_>>(),
            "most_retransmissions": self.most_retransmitted.iter().map(conn).collect::<Vec<_>>(),
            "failed": self.failed_total,
            "reset_after_exchange": self.reset_after_exchange,
            "failed_connections": self.failed.iter().map(conn).collect::<Vec<_>>(),
            "syn_retries": self.syn_retries,
            "failures": failures,
            "tracking": {
                "midstream_connections": l.midstream_connections,
                "port_reuses": l.port_reuses,
                "reordered_handshakes": l.reordered_handshakes,
                "idle_timeouts": l.idle_timeouts,
                "closed_swept": l.closed_swept,
                "max_concurrent": l.max_concurrent,
                "evictions": l.evictions,
                "ooo_limit_hits": l.ooo_limit_hits,
                "rtt_sample_limit_hits": l.rtt_sample_limit_hits,
                "unacked_limit_hits": l.unacked_limit_hits,
                "probe_limit_hits": self.probe_limit_hits,
                "http_heads_too_large": self.http_heads_too_large,
                "http_pending_dropped": self.http_pending_dropped,
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

/// What the report says about TLS, HTTP and DNS.
#[derive(Debug, Clone)]
pub struct AppReport {
    pub tls_handshakes: usize,
    pub tls_versions: BTreeMap<String, usize>,
    pub tls_resumed: usize,
    pub tls_alerts: usize,
    /// Decryption counters (all zero without a key log).
    pub tls_decrypt: pcapstat::core::TlsDecryptStats,
    pub tls_handshake: Option<Percentiles>,
    /// Handshakes per SNI, most first (at most `top`; `(none)` without SNI).
    pub tls_top_snis: Vec<(String, usize)>,
    /// Alerts by description name and sender (`server: protocol_version`).
    pub tls_alert_names: BTreeMap<String, usize>,
    pub http_requests: usize,
    pub http_connections: usize,
    pub http_reused: usize,
    pub http_incomplete: usize,
    /// HTTP/1.x parser counters (bad heads, resynchronisation).
    pub http_parse: pcapstat::core::HttpStats,
    /// HTTP/2 parser counters (errors and the #14 header budgets).
    pub http2: pcapstat::core::Http2Stats,
    pub http_status: BTreeMap<String, usize>,
    /// Requests per HTTP version (`HTTP/1.1`, `HTTP/2`, ...).
    pub http_versions: BTreeMap<String, usize>,
    pub http_wait: Option<Percentiles>,
    pub http_total: Option<Percentiles>,
    /// Indices (into the http records) of the slowest requests by `total`, slowest first.
    pub slowest_requests: Vec<usize>,
    pub dns_queries: usize,
    pub dns_answered: usize,
    pub dns_retries: usize,
    pub dns_icmp: usize,
    pub dns_unanswered: usize,
    pub dns_tcp: usize,
    pub dns_truncated: usize,
    pub dns_rcodes: BTreeMap<String, usize>,
    pub dns_latency: Option<Percentiles>,
    /// New connections (request index 0) per server endpoint, most first (at most `top`).
    pub new_connections_per_server: Vec<(String, usize)>,
}

impl AppReport {
    pub fn new(a: &pcapstat::Analysis, top: usize) -> AppReport {
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
        new_connections_per_server.truncate(top);
        let mut snis: BTreeMap<String, usize> = BTreeMap::new();
        let mut tls_alert_names = BTreeMap::new();
        for t in tls {
            *snis
                .entry(t.sni.clone().unwrap_or_else(|| "(none)".to_string()))
                .or_default() += 1;
            if let Some((_, desc)) = t.alert {
                let by = match t.alert_by {
                    Some(pcapstat::core::Side::Client) => "client: ",
                    Some(pcapstat::core::Side::Server) => "server: ",
                    None => "",
                };
                let name = format!("{by}{}", pcapstat::tables::tls_alert_name(desc));
                *tls_alert_names.entry(name).or_default() += 1;
            }
        }
        let mut tls_top_snis: Vec<(String, usize)> = snis.into_iter().collect();
        tls_top_snis.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        tls_top_snis.truncate(top);
        let mut slowest_requests: Vec<usize> = (0..http.len())
            .filter(|&i| timings.get(i).is_some_and(|t| t.total_ns.is_some()))
            .collect();
        slowest_requests.sort_by_key(|&i| {
            (
                std::cmp::Reverse(timings.get(i).and_then(|t| t.total_ns)),
                http[i].conn_id,
                http[i].request_index,
            )
        });
        slowest_requests.truncate(top);
        AppReport {
            tls_handshakes: tls.len(),
            tls_versions,
            tls_resumed: tls.iter().filter(|t| t.resumed == Some(true)).count(),
            tls_alerts: tls.iter().filter(|t| t.alert.is_some()).count(),
            tls_decrypt: a.app_stats().tls_decrypt.clone(),
            tls_handshake: Percentiles::of(tls.iter().filter_map(|t| t.handshake_ns).collect()),
            tls_top_snis,
            tls_alert_names,
            slowest_requests,
            http_requests: http.len(),
            http_connections: http.iter().filter(|h| h.request_index == 0).count(),
            http_reused: http.iter().filter(|h| h.request_index > 0).count(),
            http_incomplete: http.iter().filter(|h| !h.complete).count(),
            http_parse: a.app_stats().http_stats.clone(),
            http2: a.app_stats().http2_stats.clone(),
            http_status,
            http_versions: http.iter().fold(BTreeMap::new(), |mut m, h| {
                *m.entry(h.version.as_str().to_string()).or_default() += 1;
                m
            }),
            http_wait: Percentiles::of(timings.iter().filter_map(|t| t.wait_ns).collect()),
            http_total: Percentiles::of(timings.iter().filter_map(|t| t.total_ns).collect()),
            dns_queries: dns.len(),
            dns_answered: dns.iter().filter(|d| d.answered()).count(),
            dns_retries: dns.iter().filter(|d| d.retry_of.is_some()).count(),
            dns_icmp: dns.iter().filter(|d| d.icmp_unreachable).count(),
            dns_unanswered: dns.iter().filter(|d| d.unanswered()).count(),
            dns_tcp: dns
                .iter()
                .filter(|d| d.transport == pcapstat::core::DnsTransport::Tcp)
                .count(),
            dns_truncated: dns.iter().filter(|d| d.truncated == Some(true)).count(),
            dns_rcodes,
            dns_latency: Percentiles::of(dns.iter().filter_map(|d| d.latency_ns).collect()),
            new_connections_per_server,
        }
    }

    pub fn json(&self, a: &pcapstat::Analysis) -> Value {
        let http = a.http_records();
        let timings = a.request_timings();
        let conns: std::collections::HashMap<u64, &ConnectionRecord> = a
            .connection_records()
            .iter()
            .map(|c| (c.conn_id, c))
            .collect();
        let slowest: Vec<Value> = self
            .slowest_requests
            .iter()
            .map(|&i| {
                let h = &http[i];
                let t = timings.get(i);
                let c = conns.get(&h.conn_id);
                json!({
                    "conn_id": h.conn_id,
                    "request_index": h.request_index,
                    "client": c.map(|c| endpoint(&c.client_ip, c.client_port)),
                    "server": c.map(|c| endpoint(&c.server_ip, c.server_port)),
                    "method": h.method,
                    "host": h.host,
                    "path": h.path,
                    "status": h.status,
                    "complete": h.complete,
                    "request_start_ts": h.request_start_ts,
                    "response_start_ts": h.response_start_ts,
                    "response_end_ts": h.response_end_ts,
                    "dns_ns": t.and_then(|t| t.dns_ns),
                    "connect_ns": t.and_then(|t| t.connect_ns),
                    "tls_ns": t.and_then(|t| t.tls_ns),
                    "send_ns": t.and_then(|t| t.send_ns),
                    "wait_ns": t.and_then(|t| t.wait_ns),
                    "receive_ns": t.and_then(|t| t.receive_ns),
                    "total_ns": t.and_then(|t| t.total_ns),
                })
            })
            .collect();
        json!({
            "tls": {
                "handshakes": self.tls_handshakes,
                "versions": self.tls_versions,
                "resumed": self.tls_resumed,
                "alerts": self.tls_alerts,
                "decryption": {
                    "sessions": self.tls_decrypt.sessions,
                    "no_key": self.tls_decrypt.no_key,
                    "unsupported_cipher": self.tls_decrypt.unsupported_cipher,
                    "auth_failures": self.tls_decrypt.auth_failures,
                    "records": self.tls_decrypt.records,
                },
                "handshake": percentiles_json(self.tls_handshake),
                "top_snis": self.tls_top_snis.iter()
                    .map(|(s, n)| json!({"sni": s, "handshakes": n})).collect::<Vec<_>>(),
                "alert_names": self.tls_alert_names,
            },
            "http": {
                "requests": self.http_requests,
                "connections": self.http_connections,
                "reused_requests": self.http_reused,
                "incomplete": self.http_incomplete,
                "parse": {
                    "bad_request_heads": self.http_parse.bad_request_heads,
                    "bad_response_heads": self.http_parse.bad_response_heads,
                    "unpaired_after_bad_head": self.http_parse.unpaired_after_bad_head,
                    "resyncs": self.http_parse.resyncs,
                    "skipped_bytes": self.http_parse.skipped_bytes,
                },
                "http2": {
                    "connections": self.http2.connections,
                    "frames": self.http2.frames,
                    "streams": self.http2.streams,
                    "bad_preface": self.http2.bad_preface,
                    "hpack_errors": self.http2.hpack_errors,
                    "header_blocks_too_large": self.http2.header_blocks_too_large,
                    "streams_over_limit": self.http2.streams_over_limit,
                    "resets": self.http2.resets,
                    "goaways": self.http2.goaways,
                    "pushes": self.http2.pushes,
                    "undecoded_streams": self.http2.undecoded_streams,
                    "unmatched_frames": self.http2.unmatched_frames,
                    "gaps": self.http2.gaps,
                    "directions_lost": self.http2.directions_lost,
                    "protocol_errors": self.http2.protocol_errors,
                    "truncated_frames": self.http2.truncated_frames,
                    "header_lists_truncated": self.http2.header_lists_truncated,
                    "header_budget_exhausted": self.http2.header_budget_exhausted,
                    "values_truncated": self.http2.values_truncated,
                    "decoded_header_bytes": self.http2.decoded_header_bytes,
                },
                "status": self.http_status,
                "versions": self.http_versions,
                "wait": percentiles_json(self.http_wait),
                "total": percentiles_json(self.http_total),
                "new_connections_per_server": self.new_connections_per_server.iter()
                    .map(|(s, n)| json!({"server": s, "connections": n})).collect::<Vec<_>>(),
                "slowest_requests": slowest,
            },
            "dns": {
                "queries": self.dns_queries,
                "answered": self.dns_answered,
                "retries": self.dns_retries,
                "icmp_unreachable": self.dns_icmp,
                "unanswered": self.dns_unanswered,
                "tcp_queries": self.dns_tcp,
                "truncated": self.dns_truncated,
                "rcodes": self.dns_rcodes,
                "latency": percentiles_json(self.dns_latency),
            },
        })
    }
}
