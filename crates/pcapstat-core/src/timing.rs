//! One row per HTTP request with the HAR timing model: DNS → connect → TLS → send → wait →
//! receive, joined from the connection, TLS, HTTP and DNS records of one capture.

use std::collections::{HashMap, HashSet, VecDeque};
use std::net::IpAddr;
use std::sync::Arc;

use crate::record::{ConnectionRecord, DnsRecord, HttpRecord, TlsRecord, TlsTransport};

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
    /// The connection's `connect`, on the request that opened the connection (index 0); never
    /// for HTTP/3 (QUIC has no TCP handshake).
    pub connect_ns: Option<i64>,
    /// The TLS handshake (`TlsRecord::handshake_ns`), on the request that opened the connection
    /// (HTTP/3: the QUIC handshake, its tls row with transport `quic`).
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
    /// Capture time where `total_ns` counts from: the start of the first phase this request
    /// includes (the first query of its DNS lookup, else the connection's first SYN, for the
    /// request that opened the connection; else the first request byte). Known even when
    /// `total_ns` is not (HAR's `startedDateTime`).
    pub start_ts: i64,
    /// The request was not the first on its connection.
    pub reused: bool,
    /// The connection's TLS session was resumed (`None` for plain HTTP or unknown).
    pub tls_resumed: Option<bool>,
    /// The connection's TLS server name (SNI), `None` for plain HTTP or a ClientHello without
    /// one: the report's per-server table names the request's server by it.
    pub sni: Option<String>,
}

fn host_only(host: &str) -> String {
    crate::filter::host_only(host).to_ascii_lowercase()
}

/// An answered DNS lookup, as the request join needs it ([`DnsLookups`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lookup {
    /// The client that asked.
    pub client_ip: IpAddr,
    /// The A and AAAA addresses of the answer.
    pub addresses: Vec<IpAddr>,
    /// Capture time of the answer.
    pub response_ts: i64,
    /// `query_frame` of the answered query.
    pub query_frame: u64,
    /// `query_ts` of the first query of its retry chain (the lookup's start).
    pub start_ts: i64,
}

/// The answered lookups (with addresses) the request join looks in, by question name: all of
/// them ([`DnsLookups::from_records`]), or the last `cap` answered while the capture is read
/// (`DnsTracker::lookups`).
#[derive(Debug, Clone, Default)]
pub struct DnsLookups {
    /// Names come from the capture: a seeded hasher (as the flow table's).
    by_name: HashMap<Arc<str>, VecDeque<Lookup>, foldhash::fast::RandomState>,
    /// Names in the order their lookups came, for the bound.
    order: VecDeque<Arc<str>>,
    cap: usize,
}

impl DnsLookups {
    /// Empty, keeping at most `cap` lookups.
    pub fn new(cap: usize) -> DnsLookups {
        DnsLookups {
            cap,
            ..DnsLookups::default()
        }
    }

    #[cfg_attr(not(any(test, feature = "fuzzing")), allow(dead_code))] // tests and fuzzing
    /// The answered lookups of `dns` (all of them) whose names are in `wanted` (all when
    /// `None`); a lookup starts with the first query of its retry chain.
    pub fn from_records(dns: &[DnsRecord], wanted: Option<&HashSet<String>>) -> DnsLookups {
        let mut all = DnsLookups::new(usize::MAX);
        let answered = |d: &&DnsRecord| {
            d.response_ts.is_some()
                && !d.addresses.is_empty()
                && wanted.is_none_or(|w| w.contains(d.qname.as_str()))
        };
        if !dns.iter().any(|d| answered(&d)) {
            return all;
        }
        let by_frame: HashMap<u64, &DnsRecord> = dns.iter().map(|d| (d.query_frame, d)).collect();
        for d in dns.iter().filter(answered) {
            let mut q = d;
            let mut hops = 0;
            while let Some(prev) = q.retry_of.and_then(|f| by_frame.get(&f)) {
                q = prev;
                hops += 1;
                if hops > 64 {
                    break;
                }
            }
            all.insert(
                &d.qname,
                Lookup {
                    client_ip: d.client_ip,
                    addresses: d.addresses.clone(),
                    response_ts: d.response_ts.unwrap_or(q.query_ts),
                    query_frame: d.query_frame,
                    start_ts: q.query_ts,
                },
            );
        }
        all
    }

    /// Adds the lookup of `name`; past the bound the oldest lookup is forgotten (returns
    /// `true` then).
    pub fn insert(&mut self, name: &str, lookup: Lookup) -> bool {
        if self.cap == 0 {
            return true;
        }
        let mut forgot = false;
        if self.order.len() >= self.cap {
            if let Some(old) = self.order.pop_front() {
                if let Some(list) = self.by_name.get_mut(&old) {
                    list.pop_front();
                    if list.is_empty() {
                        self.by_name.remove(&old);
                    }
                }
                forgot = true;
            }
        }
        let key = match self.by_name.get_key_value(name) {
            Some((k, _)) => k.clone(),
            None => Arc::from(name),
        };
        self.order.push_back(key.clone());
        // Most names have one lookup: room for one (a default deque would take four).
        self.by_name
            .entry(key)
            .or_insert_with(|| VecDeque::with_capacity(1))
            .push_back(lookup);
        forgot
    }

    /// The lookup that resolved `server` for `host` (lower-case, without port) before a
    /// connection of `client` started at `start`: the latest answered by then, from the same
    /// client (or a loopback resolver client), whose answer holds the server's address.
    pub fn find(&self, host: &str, client: IpAddr, server: IpAddr, start: i64) -> Option<&Lookup> {
        self.by_name
            .get(host)?
            .iter()
            .filter(|d| d.client_ip == client || d.client_ip.is_loopback())
            .filter(|d| d.addresses.contains(&server))
            .filter(|d| d.response_ts <= start)
            .max_by_key(|d| (d.response_ts, d.query_frame))
    }
}

/// Joins the records of one capture into one [`RequestTiming`] per HTTP record (same order),
/// with every answered lookup of `dns`.
#[cfg_attr(not(any(test, feature = "fuzzing")), allow(dead_code))] // tests and fuzzing
pub fn request_timings(
    connections: &[ConnectionRecord],
    tls: &[TlsRecord],
    http: &[HttpRecord],
    dns: &[DnsRecord],
) -> Vec<RequestTiming> {
    // The DNS records are indexed only for the names that first requests look up (a capture
    // of a million queries and no HTTP builds nothing).
    let wanted: HashSet<String> = http
        .iter()
        .filter(|h| h.request_index == 0)
        .filter_map(|h| h.host.as_deref())
        .map(host_only)
        .collect();
    let lookups = if wanted.is_empty() {
        DnsLookups::default()
    } else {
        DnsLookups::from_records(dns, Some(&wanted))
    };
    request_timings_with(connections, tls, http, &lookups)
}

/// [`request_timings`] with the lookups given: the one definition of the join.
pub fn request_timings_with(
    connections: &[ConnectionRecord],
    tls: &[TlsRecord],
    http: &[HttpRecord],
    lookups: &DnsLookups,
) -> Vec<RequestTiming> {
    let conn_by_id: HashMap<u64, &ConnectionRecord> =
        connections.iter().map(|c| (c.conn_id, c)).collect();
    let tls_by_id: HashMap<u64, &TlsRecord> = tls.iter().map(|t| (t.conn_id, t)).collect();
    let sub = |a: Option<i64>, b: Option<i64>| a?.checked_sub(b?);
    http.iter()
        .enumerate()
        .map(|(http_index, h)| {
            let conn = conn_by_id.get(&h.conn_id).copied();
            let t = tls_by_id.get(&h.conn_id).copied();
            let first = h.request_index == 0;
            // An HTTP/3 request: its connection is QUIC (no TCP record, no connect phase); it
            // starts with the client's ClientHello (its first Initial).
            let quic_start = t
                .filter(|t| conn.is_none() && t.transport == TlsTransport::Quic)
                .and_then(|t| t.client_hello_ts);
            let mut lookup: Option<&Lookup> = None;
            if let (true, Some(host)) = (first, h.host.as_deref()) {
                if let Some(c) = conn {
                    lookup = lookups.find(&host_only(host), c.client_ip, c.server_ip, c.start_ts);
                } else if let Some(start) = quic_start {
                    lookup = lookups.find(&host_only(host), h.client.ip, h.server.ip, start);
                }
            }
            let lookup_start = lookup.map(|d| d.start_ts);
            let dns_ns = sub(lookup.map(|d| d.response_ts), lookup_start);
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
                lookup_start
                    .or_else(|| conn.filter(|c| c.handshake_seen).map(|c| c.start_ts))
                    .or(quic_start)
                    .unwrap_or(h.request_start_ts)
            } else {
                h.request_start_ts
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
                total_ns: sub(h.response_end_ts, Some(begin)).filter(|_| h.complete),
                start_ts: begin,
                reused: !first,
                tls_resumed: t.and_then(|t| t.resumed),
                sni: t.and_then(|t| t.sni.clone()),
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
            transport: crate::record::TlsTransport::Tcp,
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
        assert_eq!(t[0].start_ts, 400, "the lookup's first query");
        assert!(!t[0].reused);
        assert_eq!(t[0].tls_resumed, Some(false));
        assert_eq!(t[1].dns_ns, None);
        assert_eq!(t[1].connect_ns, None);
        assert_eq!(t[1].tls_ns, None);
        assert_eq!(t[1].total_ns, Some(150));
        assert_eq!(t[1].start_ts, 2_000, "its first request byte");
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
        assert_eq!(t[0].start_ts, 1_000, "the first SYN, even without a total");
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
