//! One row per HTTP request with the HAR timing model: DNS → connect → TLS → send → wait →
//! receive, joined from the connection, TLS, HTTP and DNS records of one capture.

use std::collections::{HashMap, HashSet};

use crate::record::{ConnectionRecord, DnsRecord, HttpRecord, TlsRecord};

/// The phases of one HTTP request. Durations are ns; `None` = not observed or not applicable.
#[derive(Debug, Clone, PartialEq)]
pub struct RequestTiming {
    /// Index of the request in the HTTP records given to `request_timings`.
    pub http_index: usize,
    /// The DNS lookup that resolved this server's address for this host, finished before the
    /// connection started: from the first query of the lookup (retries included) to its answer.
    /// Only on the request that opened the connection.
    pub dns_ns: Option<i64>,
    /// `query_frame` of that lookup's answered query.
    pub dns_query_frame: Option<u64>,
    /// The connection's `connect`, on the request that opened the connection (index 0).
    pub connect_ns: Option<i64>,
    /// The TLS handshake (`TlsRecord::handshake_ns`), on the request that opened the connection.
    pub tls_ns: Option<i64>,
    /// First to last request byte.
    pub send_ns: Option<i64>,
    /// Last request byte to first response byte.
    pub wait_ns: Option<i64>,
    /// First to last response byte.
    pub receive_ns: Option<i64>,
    /// From the start of the first phase this request includes (the DNS query, else the first
    /// SYN, for the request that opened the connection; else the first request byte) to the last
    /// response byte.
    pub total_ns: Option<i64>,
    /// The request was not the first on its connection.
    pub reused: bool,
    /// The connection's TLS session was resumed (`None` for plain HTTP or unknown).
    pub tls_resumed: Option<bool>,
}

fn host_only(host: &str) -> String {
    crate::filter::host_only(host).to_ascii_lowercase()
}

/// Joins the records of one capture into one [`RequestTiming`] per HTTP record (same order).
pub fn request_timings(
    connections: &[ConnectionRecord],
    tls: &[TlsRecord],
    http: &[HttpRecord],
    dns: &[DnsRecord],
) -> Vec<RequestTiming> {
    let conn_by_id: HashMap<u64, &ConnectionRecord> =
        connections.iter().map(|c| (c.conn_id, c)).collect();
    let tls_by_id: HashMap<u64, &TlsRecord> = tls.iter().map(|t| (t.conn_id, t)).collect();
    // The DNS records are indexed only for the names that first requests look up (a capture
    // of a million queries and no HTTP builds nothing).
    let wanted: HashSet<String> = http
        .iter()
        .filter(|h| h.request_index == 0)
        .filter_map(|h| h.host.as_deref())
        .map(host_only)
        .collect();
    // Answered lookups by name: record indices.
    let mut answered: HashMap<&str, Vec<usize>> = HashMap::new();
    if !wanted.is_empty() {
        for (i, d) in dns.iter().enumerate() {
            if d.response_ts.is_some()
                && !d.addresses.is_empty()
                && wanted.contains(d.qname.as_str())
            {
                answered.entry(d.qname.as_str()).or_default().push(i);
            }
        }
    }
    let dns_by_frame: HashMap<u64, &DnsRecord> = if answered.is_empty() {
        HashMap::new()
    } else {
        dns.iter().map(|d| (d.query_frame, d)).collect()
    };
    let sub = |a: Option<i64>, b: Option<i64>| a?.checked_sub(b?);
    http.iter()
        .enumerate()
        .map(|(http_index, h)| {
            let conn = conn_by_id.get(&h.conn_id).copied();
            let t = tls_by_id.get(&h.conn_id).copied();
            let first = h.request_index == 0;
            let mut lookup: Option<&DnsRecord> = None;
            if let (true, Some(c), Some(host)) = (first, conn, h.host.as_deref()) {
                let start = c.start_ts;
                lookup = answered
                    .get(host_only(host).as_str())
                    .into_iter()
                    .flatten()
                    .map(|&i| &dns[i])
                    .filter(|d| d.client_ip == c.client_ip || d.client_ip.is_loopback())
                    .filter(|d| d.addresses.contains(&c.server_ip))
                    .filter(|d| d.response_ts.is_some_and(|r| r <= start))
                    .max_by_key(|d| (d.response_ts, d.query_frame));
            }
            // The lookup began with the first query of its retry chain.
            let lookup_start = lookup.map(|d| {
                let mut q = d;
                let mut hops = 0;
                while let Some(prev) = q.retry_of.and_then(|f| dns_by_frame.get(&f)) {
                    q = prev;
                    hops += 1;
                    if hops > 64 {
                        break;
                    }
                }
                q.query_ts
            });
            let dns_ns = sub(lookup.and_then(|d| d.response_ts), lookup_start);
            let connect_ns = if first {
                conn.and_then(|c| c.connect_ns)
            } else {
                None
            };
            let tls_ns = if first {
                t.and_then(|t| t.handshake_ns)
            } else {
                None
            };
            let begin = if first {
                lookup_start.or_else(|| {
                    conn.filter(|c| c.handshake_seen)
                        .map(|c| c.start_ts)
                        .or(Some(h.request_start_ts))
                })
            } else {
                Some(h.request_start_ts)
            };
            RequestTiming {
                http_index,
                dns_ns,
                dns_query_frame: lookup.map(|d| d.query_frame),
                connect_ns,
                tls_ns,
                send_ns: sub(h.request_end_ts, Some(h.request_start_ts)),
                wait_ns: sub(h.response_start_ts, h.request_end_ts),
                // A response not seen whole (reset, cut by the end of the capture, a gap) has
                // a last byte *so far*, not a last byte: no receive, no total (the row keeps
                // `response_end` and `complete = false`).
                receive_ns: sub(h.response_end_ts, h.response_start_ts).filter(|_| h.complete),
                total_ns: sub(h.response_end_ts, begin).filter(|_| h.complete),
                reused: !first,
                tls_resumed: t.and_then(|t| t.resumed),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{DnsTransport, Outcome, RolesFrom};
    use std::net::IpAddr;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap_or(IpAddr::from([0, 0, 0, 0]))
    }

    fn conn(id: u64, start: i64, connect: Option<i64>) -> ConnectionRecord {
        ConnectionRecord {
            conn_id: id,
            client_ip: ip("10.0.0.1"),
            client_port: 40_000,
            server_ip: ip("10.0.0.2"),
            server_port: 443,
            ip_version: 4,
            start_ts: start,
            end_ts: start + 10_000,
            outcome: Outcome::Closed,
            reset_by: None,
            failure: None,
            handshake_seen: true,
            client_guessed: false,
            roles_from: RolesFrom::Syn,
            syn_retries: 0,
            connect_ns: connect,
            syn_to_synack_ns: None,
            synack_to_ack_ns: None,
            syn_to_ack_ns: None,
            c2s: Default::default(),
            s2c: Default::default(),
        }
    }

    fn req(conn: u64, index: u32, start: i64) -> HttpRecord {
        let ep = |port| crate::Endpoint {
            ip: std::net::Ipv4Addr::LOCALHOST.into(),
            port,
        };
        HttpRecord {
            conn_id: conn,
            client: ep(40_000),
            server: ep(443),
            exchange: crate::HttpExchange {
                request_index: index,
                request_start_ts: start,
                request_end_ts: Some(start + 10),
                response_start_ts: Some(start + 110),
                response_end_ts: Some(start + 150),
                method: Some("GET".into()),
                host: Some("Lab.Test:443".into()),
                path: Some("/".into()),
                version: crate::record::HttpVersion::Http11,
                status: Some(200),
                complete: true,
                ..Default::default()
            },
        }
    }

    fn query(frame: u64, ts: i64, answer: Option<i64>, retry_of: Option<u64>) -> DnsRecord {
        DnsRecord {
            query_ts: ts,
            query_frame: frame,
            client_ip: ip("10.0.0.1"),
            client_port: 5000,
            server_ip: ip("10.0.0.53"),
            server_port: 53,
            transport: DnsTransport::Udp,
            id: 1,
            qname: "lab.test".into(),
            qtype: crate::DnsType(1),
            rcode: answer.map(|_| crate::Rcode(0)),
            answers: answer.map(|_| 1),
            addresses: if answer.is_some() {
                vec![ip("10.0.0.2")]
            } else {
                vec![]
            },
            truncated: answer.map(|_| false),
            response_ts: answer,
            latency_ns: answer.map(|a| a - ts),
            icmp_unreachable: false,
            icmp_error_ns: None,
            waited_ns: None,
            retry_of,
        }
    }

    #[test]
    fn phases_of_a_new_and_a_reused_request() {
        let conns = [conn(5, 1_000, Some(100))];
        let tls = [TlsRecord {
            conn_id: 5,
            handshake: crate::TlsHandshake {
                handshake_ns: Some(300),
                resumed: Some(false),
                ..Default::default()
            },
        }];
        let http = [req(5, 0, 1_500), req(5, 1, 2_000)];
        // a retried lookup: first query at 400, retry at 600, answered at 700
        let dns = [query(1, 400, None, None), query(2, 600, Some(700), Some(1))];
        let t = request_timings(&conns, &tls, &http, &dns);
        assert_eq!(t[0].dns_ns, Some(300));
        assert_eq!(t[0].dns_query_frame, Some(2));
        assert_eq!(t[0].connect_ns, Some(100));
        assert_eq!(t[0].tls_ns, Some(300));
        assert_eq!(
            (t[0].send_ns, t[0].wait_ns, t[0].receive_ns),
            (Some(10), Some(100), Some(40))
        );
        assert_eq!(t[0].total_ns, Some(1_650 - 400));
        assert!(!t[0].reused);
        assert_eq!(t[0].tls_resumed, Some(false));
        assert_eq!(t[1].dns_ns, None);
        assert_eq!(t[1].connect_ns, None);
        assert_eq!(t[1].tls_ns, None);
        assert_eq!(t[1].total_ns, Some(150));
        assert!(t[1].reused);
    }

    #[test]
    fn lookups_after_the_connection_or_for_other_addresses_do_not_count() {
        let conns = [conn(5, 1_000, Some(100))];
        let http = [req(5, 0, 1_500)];
        let mut other = query(3, 100, Some(200), None);
        other.addresses = vec![ip("192.0.2.9")];
        let late = query(4, 1_200, Some(1_300), None);
        let t = request_timings(&conns, &[], &http, &[other, late]);
        assert_eq!(t[0].dns_ns, None);
        assert_eq!(t[0].total_ns, Some(1_650 - 1_000), "from the first SYN");
        assert_eq!(t[0].tls_resumed, None);
    }

    #[test]
    fn a_response_not_seen_whole_has_no_receive_and_no_total() {
        let conns = [conn(5, 1_000, Some(100))];
        let mut cut = req(5, 0, 1_500);
        cut.complete = false; // reset mid-body: response_end is the last byte seen so far
        let t = request_timings(&conns, &[], &[cut], &[]);
        assert_eq!((t[0].send_ns, t[0].wait_ns), (Some(10), Some(100)));
        assert_eq!((t[0].receive_ns, t[0].total_ns), (None, None));
        assert_eq!(t[0].connect_ns, Some(100));
    }

    #[test]
    fn host_header_forms() {
        assert_eq!(host_only("Example.COM:8080"), "example.com");
        assert_eq!(host_only("[2001:db8::1]:443"), "2001:db8::1");
        assert_eq!(host_only("2001:db8::1"), "2001:db8::1");
        assert_eq!(host_only("example.com."), "example.com");
    }
}
