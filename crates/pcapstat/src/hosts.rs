//! The report's per-server table and DNS names (docs/summary.md, `hosts` and
//! `applications.dns.failed_names` / `slowest_names`), built batch by batch with bounded memory.
//!
//! **Which server.** A request's server is named by its connection's TLS SNI, else its HTTP
//! `Host` header (port and trailing dot removed), else the server's address; names are
//! lower-cased. The server port is a column of its own, so `example.com` on 443 and on 8443 are
//! two rows. A connection is named the same way: its TLS handshake's SNI, else the `Host` of its
//! first request seen (lowest request index), else its address. QUIC connections count as
//! connections of their server like TCP ones (failed: a handshake that did not complete).
//!
//! **Bounds.** At most [`MAX_HOSTS`] rows; the records of any further server are counted in one
//! `(other)` row and the report lists the limit [`HOSTS_LIMIT_NAME`]. Request columns are
//! counted as the requests come (each request carries its SNI in its
//! [`RequestTiming`](pcapstat_core::RequestTiming)). Connection columns (connections, failed
//! connections, retransmissions) need the connection's name, which may come in another batch
//! than the connection record: the builder keeps at most [`MAX_HOST_JOIN`] connections and
//! names waiting for their join (resolved when the report is finished); past that, a connection
//! is counted at once under the name known so far (else its address), and the report lists the
//! limit [`JOIN_LIMIT_NAME`]. Within the bounds the table is the same for any batch split and
//! order.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::net::IpAddr;

use serde::Serialize;

use pcapstat_core::ValueStore;
use pcapstat_core::{
    host_only, ConnectionRecord, DnsRecord, HttpRecord, QuicOutcome, QuicRecord, RequestTiming,
    TlsRecord,
};

use crate::figures::Percentiles;
use crate::report::Share;

/// Servers (name and port) the per-server table keeps apart; the records of any further
/// server are counted in the `(other)` row.
pub const MAX_HOSTS: usize = 1_000;

/// Connections (and connection names) kept waiting for the join of a connection record with
/// its TLS SNI or HTTP `Host`.
pub const MAX_HOST_JOIN: usize = 100_000;

/// The limit of [`MAX_HOSTS`]: records counted in the `(other)` row.
pub const HOSTS_LIMIT_NAME: &str = "report hosts";

/// The limit of [`MAX_HOST_JOIN`]: connections counted under the name known when they came.
pub const JOIN_LIMIT_NAME: &str = "report host join";

/// The name of the row that counts the servers past [`MAX_HOSTS`].
pub const OTHER_HOST: &str = "(other)";

/// Where a row's name comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum NameSource {
    /// The TLS server name indication.
    Sni,
    /// The HTTP `Host` header.
    Host,
    /// The server's IP address.
    Address,
    /// The `(other)` row.
    Other,
}

/// Requests per final status class.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct StatusClasses {
    /// 1xx.
    #[serde(rename = "1xx")]
    pub s1xx: u64,
    /// 2xx.
    #[serde(rename = "2xx")]
    pub s2xx: u64,
    /// 3xx.
    #[serde(rename = "3xx")]
    pub s3xx: u64,
    /// 4xx.
    #[serde(rename = "4xx")]
    pub s4xx: u64,
    /// 5xx.
    #[serde(rename = "5xx")]
    pub s5xx: u64,
    /// Any other status (600 and over).
    pub other: u64,
    /// A `101 Switching Protocols` that upgraded the connection (WebSocket): not 1xx.
    pub upgraded: u64,
    /// No response.
    pub none: u64,
}

impl StatusClasses {
    fn add(&mut self, status: Option<u16>, upgraded: bool) {
        if upgraded && status == Some(101) {
            self.upgraded += 1;
            return;
        }
        let n = match status.map(|s| s / 100) {
            None => &mut self.none,
            Some(1) => &mut self.s1xx,
            Some(2) => &mut self.s2xx,
            Some(3) => &mut self.s3xx,
            Some(4) => &mut self.s4xx,
            Some(5) => &mut self.s5xx,
            Some(_) => &mut self.other,
        };
        *n += 1;
    }
}

/// One server of the per-server table.
#[derive(Debug, Clone, Serialize)]
pub struct HostRow {
    /// The server's name (SNI, else `Host`, else address; lower case) or `(other)`.
    pub host: String,
    /// The server port (`None` for the `(other)` row).
    pub port: Option<u16>,
    /// Where `host` comes from.
    pub name_from: NameSource,
    /// HTTP requests.
    pub requests: u64,
    /// Requests that opened their connection (request index 0).
    pub new_connections: u64,
    /// Requests on a reused connection (not the first on it).
    pub reused_requests: u64,
    /// Its connections with a TLS handshake (a row of the tls table).
    pub tls_connections: u64,
    /// Of those, the handshakes that resumed a session (`resumed = true`).
    pub tls_resumed: u64,
    /// Requests per final status class.
    pub status: StatusClasses,
    /// Wait (time to first byte) of its requests.
    #[serde(serialize_with = "crate::report::percentiles")]
    pub wait: Option<Percentiles>,
    /// Total of its requests.
    #[serde(serialize_with = "crate::report::percentiles")]
    pub total: Option<Percentiles>,
    /// TCP and QUIC connections to it.
    pub connections: u64,
    /// Failed connections (TCP: `failure` set; QUIC: an outcome other than `established`).
    pub failed_connections: u64,
    /// TCP segments of its connections, both directions.
    pub segments: u64,
    /// Retransmitted segments of its connections.
    pub retransmissions: u64,
}

impl HostRow {
    /// Reused requests out of requests.
    pub fn reuse_rate(&self) -> Share {
        Share::new(self.reused_requests, self.requests)
    }

    /// Resumed TLS handshakes out of its connections with TLS.
    pub fn resumption_rate(&self) -> Share {
        Share::new(self.tls_resumed, self.tls_connections)
    }

    /// Retransmitted segments out of segments.
    pub fn retransmission_rate(&self) -> Share {
        Share::new(self.retransmissions, self.segments)
    }
}

/// Failed queries for one name.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct DnsNameFailures {
    /// The question name (lower case, no trailing dot).
    pub name: String,
    /// Queries that failed: the sum of the columns below.
    pub failures: u64,
    /// Answered NXDOMAIN.
    pub nxdomain: u64,
    /// Answered SERVFAIL.
    pub servfail: u64,
    /// Answered with another rcode than NOERROR, NXDOMAIN or SERVFAIL.
    pub other_rcode: u64,
    /// Neither answered nor failed by ICMP.
    pub unanswered: u64,
    /// Failed by an ICMP destination unreachable.
    pub icmp_unreachable: u64,
}

/// The answered queries of one name.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct DnsNameLatency {
    /// The question name (lower case, no trailing dot).
    pub name: String,
    /// Answered queries.
    pub answered: u64,
    /// Longest latency (query to response), ns.
    pub max_ns: i64,
}

#[derive(Debug, Clone, Default)]
struct HostAcc {
    from: Option<NameSource>,
    requests: u64,
    new_connections: u64,
    reused_requests: u64,
    tls_connections: u64,
    tls_resumed: u64,
    status: StatusClasses,
    wait: ValueStore,
    total: ValueStore,
    connections: u64,
    failed_connections: u64,
    segments: u64,
    retransmissions: u64,
}

/// What a connection record brings to its server's row.
#[derive(Debug, Clone)]
struct ConnPart {
    ip: IpAddr,
    port: u16,
    failed: bool,
    segments: u64,
    retransmissions: u64,
    /// `Some(resumed)` once its TLS record was seen.
    tls: Option<Option<bool>>,
}

/// A connection's name for the join: `(rank, source, request index, name)`, the smallest wins.
/// Rank 0 is final: the TLS SNI, or the name of the connection's first request (the row that
/// request is counted in); rank 1 is the `Host` of a later request (the first was not seen).
type ConnName = (u8, NameSource, u32, String);

/// What [`HostsBuilder::finish`] gives the report.
pub(crate) struct HostsDone {
    pub(crate) hosts: Vec<HostRow>,
    pub(crate) failed_names: Vec<DnsNameFailures>,
    pub(crate) slowest_names: Vec<DnsNameLatency>,
    /// Records counted in the `(other)` row.
    pub(crate) hosts_dropped: u64,
    /// Connections counted under the name known when they came (the join was full).
    pub(crate) join_dropped: u64,
}

/// Builds the per-server table and the DNS name lists (see the module docs).
#[derive(Debug, Clone, Default)]
pub(crate) struct HostsBuilder {
    rows: BTreeMap<(String, u16), HostAcc>,
    other: HostAcc,
    hosts_dropped: u64,
    conns: BTreeMap<u64, ConnPart>,
    names: BTreeMap<u64, ConnName>,
    /// Connections already counted under a final name, with their row (a later name for
    /// them is not kept; a later TLS record goes to that row).
    joined: BTreeMap<u64, (String, u16)>,
    /// TLS records (`resumed`) whose connection record did not come yet.
    tls_pending: BTreeMap<u64, Option<bool>>,
    join_dropped: u64,
    dns_failed: BTreeMap<String, DnsNameFailures>,
    dns_slow: BTreeMap<String, DnsNameLatency>,
}

/// A DNS name as the lists key it.
fn dns_name(qname: &str) -> String {
    qname.trim_end_matches('.').to_ascii_lowercase()
}

/// A `Host` header or SNI as a row name (`None` when empty).
fn server_name(name: &str) -> Option<String> {
    server_name_ref(name).map(Cow::into_owned)
}

/// [`server_name`], borrowed when the name is already in lower case (a copy per request
/// otherwise).
fn server_name_ref(name: &str) -> Option<Cow<'_, str>> {
    let n = host_only(name);
    if n.is_empty() {
        None
    } else if n.bytes().any(|b| b.is_ascii_uppercase()) {
        Some(Cow::Owned(n.to_ascii_lowercase()))
    } else {
        Some(Cow::Borrowed(n))
    }
}

/// A row's key, `(name, port)`, looked up by a borrowed name (see [`HostsBuilder::row`]).
trait RowKey {
    fn key(&self) -> (&str, u16);
}

impl RowKey for (String, u16) {
    fn key(&self) -> (&str, u16) {
        (&self.0, self.1)
    }
}

impl RowKey for (&str, u16) {
    fn key(&self) -> (&str, u16) {
        (self.0, self.1)
    }
}

impl<'a> std::borrow::Borrow<dyn RowKey + 'a> for (String, u16) {
    fn borrow(&self) -> &(dyn RowKey + 'a) {
        self
    }
}

impl PartialEq for dyn RowKey + '_ {
    fn eq(&self, other: &Self) -> bool {
        self.key() == other.key()
    }
}

impl Eq for dyn RowKey + '_ {}

impl PartialOrd for dyn RowKey + '_ {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

// The order of `(String, u16)` itself: the map's order is unchanged.
impl Ord for dyn RowKey + '_ {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.key().cmp(&other.key())
    }
}

impl HostsBuilder {
    /// The row of `(name, port)`, or the `(other)` row past [`MAX_HOSTS`].
    /// The name is borrowed: a row's key is made once, when the row is.
    fn row(&mut self, name: &str, port: u16, from: NameSource) -> &mut HostAcc {
        let key: &dyn RowKey = &(name, port);
        if !self.rows.contains_key(key) {
            if self.rows.len() >= MAX_HOSTS {
                self.hosts_dropped += 1;
                return &mut self.other;
            }
            self.rows
                .insert((name.to_string(), port), HostAcc::default());
        }
        let Some(row) = self.rows.get_mut(key) else {
            // Not met: the row was just made.
            return &mut self.other;
        };
        // The same name from two sources (an SNI equal to another connection's Host): the
        // strongest source names the row.
        row.from = Some(row.from.map_or(from, |f| f.min(from)));
        row
    }

    pub(crate) fn add_http(&mut self, records: &[HttpRecord], timings: &[RequestTiming]) {
        for (i, h) in records.iter().enumerate() {
            let t = timings.get(i);
            let first = h.request_index == 0;
            let (name, from) = request_name(h, t);
            if first {
                self.name_connection(h.conn_id, (0, from, 0, name.clone().into_owned()));
            } else if !self.joined.contains_key(&h.conn_id)
                && !self.names.get(&h.conn_id).is_some_and(|kept| {
                    (kept.0, kept.1, kept.2) < (1, NameSource::Host, h.request_index)
                })
            {
                // (A joined connection keeps its name, and so does one whose kept name comes
                // first whatever this request's Host is (`name_connection` keeps the smallest):
                // no need to make this one.)
                if let Some(host) = h.host.as_deref().and_then(server_name) {
                    self.name_connection(h.conn_id, (1, NameSource::Host, h.request_index, host));
                }
            }
            let row = self.row(&name, h.server.port, from);
            row.requests += 1;
            row.new_connections += u64::from(first);
            row.reused_requests += u64::from(!first);
            row.status.add(h.status, h.upgraded);
            if let Some(ns) = t.and_then(|t| t.wait_ns) {
                row.wait.push(ns);
            }
            if let Some(ns) = t.and_then(|t| t.total_ns) {
                row.total.push(ns);
            }
        }
    }

    pub(crate) fn add_tls(&mut self, records: &[TlsRecord]) {
        for t in records {
            let id = t.conn_id;
            if let Some(key) = self.joined.get(&id) {
                let row = match self.rows.get_mut(key) {
                    Some(row) => row,
                    None => &mut self.other,
                };
                count_tls(row, t.resumed);
            } else if let Some(c) = self.conns.get_mut(&id) {
                c.tls = Some(t.resumed);
            } else {
                if self.tls_pending.len() >= MAX_HOST_JOIN {
                    self.tls_pending.pop_first();
                    self.join_dropped += 1;
                }
                self.tls_pending.insert(id, t.resumed);
            }
            if let Some(sni) = t.sni.as_deref().and_then(server_name) {
                self.name_connection(t.conn_id, (0, NameSource::Sni, 0, sni));
            }
        }
    }

    /// Keeps the name of connection `id` for the join, if it is better than the one kept; a
    /// final name joins a connection record waiting for it at once.
    fn name_connection(&mut self, id: u64, name: ConnName) {
        if self.joined.contains_key(&id) {
            return;
        }
        if name.0 == 0 {
            if let Some(c) = self.conns.remove(&id) {
                self.names.remove(&id);
                let key = self.count_connection(c, Some(name));
                self.joined_now(id, key);
                return;
            }
        }
        if let Some(kept) = self.names.get_mut(&id) {
            if name < *kept {
                *kept = name;
            }
            return;
        }
        if self.names.len() >= MAX_HOST_JOIN {
            // The oldest connection's name goes (or a name whose connection went before).
            self.names.pop_first();
            self.join_dropped += 1;
        }
        self.names.insert(id, name);
    }

    /// Remembers that connection `id` was counted under a final name (the oldest are
    /// forgotten past [`MAX_HOST_JOIN`]).
    fn joined_now(&mut self, id: u64, key: (String, u16)) {
        if self.joined.len() >= MAX_HOST_JOIN {
            self.joined.pop_first();
        }
        self.joined.insert(id, key);
    }

    pub(crate) fn add_connections(&mut self, records: &[ConnectionRecord]) {
        for c in records {
            let part = ConnPart {
                ip: c.server_ip,
                port: c.server_port,
                failed: c.failure.is_some(),
                segments: c.c2s.packets + c.s2c.packets,
                retransmissions: c.c2s.retransmissions + c.s2c.retransmissions,
                tls: self.tls_pending.remove(&c.conn_id),
            };
            self.add_connection(c.conn_id, part);
        }
    }

    /// QUIC connections are connections of their server's row as TCP ones are (its TLS row,
    /// transport `quic`, gives the resumption): failed when the handshake did not complete
    /// (an outcome other than `established`); they have no TCP segments.
    pub(crate) fn add_quic(&mut self, records: &[QuicRecord]) {
        for q in records {
            let part = ConnPart {
                ip: q.server.ip,
                port: q.server.port,
                failed: q.outcome != QuicOutcome::Established,
                segments: 0,
                retransmissions: 0,
                tls: self.tls_pending.remove(&q.conn_id),
            };
            self.add_connection(q.conn_id, part);
        }
    }

    /// Counts connection `id` now if its final name is known, else keeps it for the join.
    fn add_connection(&mut self, id: u64, part: ConnPart) {
        if self.names.get(&id).is_some_and(|n| n.0 == 0) {
            let name = self.names.remove(&id);
            let key = self.count_connection(part, name);
            self.joined_now(id, key);
            return;
        }
        if self.conns.len() >= MAX_HOST_JOIN {
            // The oldest waiting connection is counted under the name known so far.
            if let Some((old_id, old)) = self.conns.pop_first() {
                let name = self.names.remove(&old_id);
                self.join_dropped += 1;
                let _ = self.count_connection(old, name);
            }
        }
        self.conns.insert(id, part);
    }

    /// Counts connection `c` in the row of `name` (else its address); returns the row's key.
    fn count_connection(&mut self, c: ConnPart, name: Option<ConnName>) -> (String, u16) {
        let (name, from) = match name {
            Some((_, from, _, name)) => (name, from),
            None => (c.ip.to_string(), NameSource::Address),
        };
        let key = (name, c.port);
        let row = self.row(&key.0, c.port, from);
        if let Some(resumed) = c.tls {
            count_tls(row, resumed);
        }
        row.connections += 1;
        row.failed_connections += u64::from(c.failed);
        row.segments += c.segments;
        row.retransmissions += c.retransmissions;
        key
    }

    pub(crate) fn add_dns(&mut self, records: &[DnsRecord], dropped: &mut u64) {
        for d in records {
            let rcode = d.rcode.filter(|_| d.answered()).map(|r| r.0);
            let failed = d.unanswered() || d.icmp_unreachable || rcode.is_some_and(|r| r != 0);
            if failed {
                let name = dns_name(&d.qname);
                crate::report::count_in(&mut self.dns_failed, &name, dropped, |f| {
                    f.failures += 1;
                    match rcode {
                        Some(3) => f.nxdomain += 1,
                        Some(2) => f.servfail += 1,
                        Some(_) => f.other_rcode += 1,
                        None if d.icmp_unreachable => f.icmp_unreachable += 1,
                        None => f.unanswered += 1,
                    }
                });
            }
            if let Some(ns) = d.latency_ns.filter(|_| d.answered()) {
                let name = dns_name(&d.qname);
                crate::report::count_in(&mut self.dns_slow, &name, dropped, |s| {
                    s.answered += 1;
                    s.max_ns = s.max_ns.max(ns);
                });
            }
        }
    }

    /// The per-server table, most requests first (then most connections, then by name and
    /// port), the `(other)` row last when it counts anything; and the DNS lists, `top` each.
    pub(crate) fn finish(mut self, top: usize) -> HostsDone {
        for (id, c) in std::mem::take(&mut self.conns) {
            let name = self.names.remove(&id);
            let _ = self.count_connection(c, name);
        }
        let mut rows: Vec<HostRow> = std::mem::take(&mut self.rows)
            .into_iter()
            .map(|((host, port), acc)| {
                let from = acc.from.unwrap_or(NameSource::Address);
                host_row(host, Some(port), from, acc)
            })
            .collect();
        rows.sort_by(|a, b| {
            b.requests
                .cmp(&a.requests)
                .then(b.connections.cmp(&a.connections))
                .then_with(|| a.host.cmp(&b.host))
                .then(a.port.cmp(&b.port))
        });
        if self.hosts_dropped > 0 {
            let other = std::mem::take(&mut self.other);
            rows.push(host_row(
                OTHER_HOST.to_string(),
                None,
                NameSource::Other,
                other,
            ));
        }
        let mut failed: Vec<DnsNameFailures> = std::mem::take(&mut self.dns_failed)
            .into_iter()
            .map(|(name, f)| DnsNameFailures { name, ..f })
            .collect();
        failed.sort_by(|a, b| {
            b.failures
                .cmp(&a.failures)
                .then_with(|| a.name.cmp(&b.name))
        });
        failed.truncate(top);
        let mut slow: Vec<DnsNameLatency> = std::mem::take(&mut self.dns_slow)
            .into_iter()
            .map(|(name, s)| DnsNameLatency { name, ..s })
            .collect();
        slow.sort_by(|a, b| b.max_ns.cmp(&a.max_ns).then_with(|| a.name.cmp(&b.name)));
        slow.truncate(top);
        HostsDone {
            hosts: rows,
            failed_names: failed,
            slowest_names: slow,
            hosts_dropped: self.hosts_dropped,
            join_dropped: self.join_dropped,
        }
    }
}

/// A TLS handshake of a row's connection.
fn count_tls(row: &mut HostAcc, resumed: Option<bool>) {
    row.tls_connections += 1;
    row.tls_resumed += u64::from(resumed == Some(true));
}

/// The name of a request's server and where it comes from.
fn request_name<'a>(h: &'a HttpRecord, t: Option<&'a RequestTiming>) -> (Cow<'a, str>, NameSource) {
    if let Some(sni) = t.and_then(|t| t.sni.as_deref()).and_then(server_name_ref) {
        return (sni, NameSource::Sni);
    }
    if let Some(host) = h.host.as_deref().and_then(server_name_ref) {
        return (host, NameSource::Host);
    }
    (Cow::Owned(h.server.ip.to_string()), NameSource::Address)
}

fn host_row(host: String, port: Option<u16>, name_from: NameSource, a: HostAcc) -> HostRow {
    HostRow {
        host,
        port,
        name_from,
        requests: a.requests,
        new_connections: a.new_connections,
        reused_requests: a.reused_requests,
        tls_connections: a.tls_connections,
        tls_resumed: a.tls_resumed,
        status: a.status,
        wait: Percentiles::of_store(&a.wait),
        total: Percentiles::of_store(&a.total),
        connections: a.connections,
        failed_connections: a.failed_connections,
        segments: a.segments,
        retransmissions: a.retransmissions,
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    /// A row found by a borrowed name is the row of the owned key; the map's order is that of
    /// `(String, u16)`.
    #[test]
    fn rows_are_found_by_borrowed_names() {
        let mut b = HostsBuilder::default();
        for (name, port) in [("b", 80), ("a", 443), ("a", 80), ("ab", 1), ("", 0)] {
            b.row(name, port, NameSource::Host).requests += 1;
            b.row(name, port, NameSource::Host).requests += 1;
        }
        let keys: Vec<_> = b
            .rows
            .iter()
            .map(|(k, v)| (k.clone(), v.requests))
            .collect();
        let mut want: Vec<_> = [("b", 80), ("a", 443), ("a", 80), ("ab", 1), ("", 0)]
            .map(|(n, p)| ((n.to_string(), p), 2))
            .to_vec();
        want.sort();
        assert_eq!(keys, want);
        assert_eq!(
            server_name_ref("Example.COM:8080").as_deref(),
            Some("example.com")
        );
        assert!(matches!(
            server_name_ref("example.com:80"),
            Some(Cow::Borrowed("example.com"))
        ));
        assert_eq!(server_name_ref(" : "), None);
    }
    use crate::report::{Report, ReportBuilder, ReportOptions};
    use crate::{Analysis, Analyzer};

    fn path(rel: &str) -> String {
        format!("{}/../../testdata/{rel}", env!("CARGO_MANIFEST_DIR"))
    }

    /// The bundled lab captures, and the shared lab set when it is there
    /// (`$PCAPSTAT_SHARED/lab`).
    fn captures() -> Vec<String> {
        let mut v: Vec<String> = [
            "lab/d_tls_resumption/capture-with-keys.pcapng",
            "lab/d_tls_resumption/capture.pcapng",
            "lab/e_dns/capture.pcap",
            "lab/f_refused_syndrop/capture.pcap",
            "link-null-http.pcap",
            "snaplen-truncated-http.pcap",
            "quic/j_quic-h3.pcapng",
        ]
        .iter()
        .map(|r| path(r))
        .collect();
        if let Some(shared) = std::env::var_os("PCAPSTAT_SHARED") {
            let lab = std::path::Path::new(&shared).join("lab");
            for dir in std::fs::read_dir(&lab).into_iter().flatten().flatten() {
                let p = dir.path().join("capture.pcap");
                if p.is_file() {
                    v.push(p.to_string_lossy().into_owned());
                }
            }
        }
        v
    }

    /// Nearest rank, written out: the value at `ceil(p * n / 100)` (1-based) of the sorted
    /// values.
    fn rank(mut v: Vec<i64>, p: usize) -> Option<i64> {
        v.sort_unstable();
        let n = v.len();
        let k = (p * n).div_ceil(100).max(1);
        v.get(k - 1).copied()
    }

    #[derive(Default, Debug, PartialEq)]
    struct Want {
        requests: u64,
        new_connections: u64,
        reused: u64,
        tls: u64,
        resumed: u64,
        status: [u64; 8],
        wait: Vec<i64>,
        total: Vec<i64>,
        connections: u64,
        failed: u64,
        segments: u64,
        retx: u64,
    }

    /// The per-server table computed apart: the records grouped by the rule of the module
    /// docs, with a map per join and a sort per percentile.
    fn oracle(a: &Analysis) -> BTreeMap<(String, u16), Want> {
        let lower = |s: &str| host_only(s).to_ascii_lowercase();
        let sni: HashMap<u64, String> = a
            .tls_records()
            .iter()
            .filter_map(|t| Some((t.conn_id, lower(t.sni.as_deref()?))))
            .filter(|(_, s)| !s.is_empty())
            .collect();
        let resumed: HashMap<u64, Option<bool>> = a
            .tls_records()
            .iter()
            .map(|t| (t.conn_id, t.resumed))
            .collect();
        let http = a.http_records();
        let timings = a.request_timings();
        let name = |h: &HttpRecord| {
            sni.get(&h.conn_id)
                .cloned()
                .or_else(|| h.host.as_deref().map(lower).filter(|s| !s.is_empty()))
                .unwrap_or_else(|| h.server.ip.to_string())
        };
        let mut first_name: HashMap<u64, (u32, String)> = HashMap::new();
        let mut want: BTreeMap<(String, u16), Want> = BTreeMap::new();
        // The per-server table counts parsed rows only (inferred ones: report.http.inferred).
        for (h, t) in http.iter().zip(timings).filter(|(h, _)| !h.inferred) {
            let n = name(h);
            let e = first_name
                .entry(h.conn_id)
                .or_insert((h.request_index, n.clone()));
            if h.request_index < e.0 {
                *e = (h.request_index, n.clone());
            }
            let w = want.entry((n, h.server.port)).or_default();
            w.requests += 1;
            if h.request_index == 0 {
                w.new_connections += 1;
            } else {
                w.reused += 1;
            }
            let class = match h.status {
                None => 7,
                Some(101) if h.upgraded => 6,
                Some(s) if (100..600).contains(&s) => usize::from(s / 100 - 1),
                Some(_) => 5,
            };
            w.status[class] += 1;
            w.wait.extend(t.wait_ns);
            w.total.extend(t.total_ns);
        }
        for c in a.connection_records() {
            let n = sni
                .get(&c.conn_id)
                .cloned()
                .or_else(|| first_name.get(&c.conn_id).map(|(_, n)| n.clone()))
                .unwrap_or_else(|| c.server_ip.to_string());
            let w = want.entry((n, c.server_port)).or_default();
            w.connections += 1;
            if let Some(r) = resumed.get(&c.conn_id) {
                w.tls += 1;
                w.resumed += u64::from(*r == Some(true));
            }
            w.failed += u64::from(c.failure.is_some());
            w.segments += c.c2s.packets + c.s2c.packets;
            w.retx += c.c2s.retransmissions + c.s2c.retransmissions;
        }
        // QUIC connections: connections of their server too, failed when not established, no
        // TCP segments.
        for q in a.quic_records() {
            let n = sni
                .get(&q.conn_id)
                .cloned()
                .or_else(|| first_name.get(&q.conn_id).map(|(_, n)| n.clone()))
                .unwrap_or_else(|| q.server.ip.to_string());
            let w = want.entry((n, q.server.port)).or_default();
            w.connections += 1;
            if let Some(r) = resumed.get(&q.conn_id) {
                w.tls += 1;
                w.resumed += u64::from(*r == Some(true));
            }
            w.failed += u64::from(q.outcome != pcapstat_core::QuicOutcome::Established);
        }
        want
    }

    fn check(report: &Report, want: &BTreeMap<(String, u16), Want>, what: &str) {
        assert_eq!(report.hosts.len(), want.len(), "{what}: rows");
        for row in &report.hosts {
            let port = row.port.expect("no (other) row under the bound");
            let w = want
                .get(&(row.host.clone(), port))
                .unwrap_or_else(|| panic!("{what}: {} {port} not expected", row.host));
            let s = row.status;
            let got = (
                row.requests,
                row.new_connections,
                row.reused_requests,
                row.tls_connections,
                row.tls_resumed,
                [
                    s.s1xx, s.s2xx, s.s3xx, s.s4xx, s.s5xx, s.other, s.upgraded, s.none,
                ],
                (row.connections, row.failed_connections),
                (row.segments, row.retransmissions),
            );
            let exp = (
                w.requests,
                w.new_connections,
                w.reused,
                w.tls,
                w.resumed,
                w.status,
                (w.connections, w.failed),
                (w.segments, w.retx),
            );
            assert_eq!(got, exp, "{what}: {} {port}", row.host);
            for (p, values) in [(row.wait, &w.wait), (row.total, &w.total)] {
                assert_eq!(p.map_or(0, |p| p.count), values.len());
                assert_eq!(p.map(|p| p.p50), rank(values.clone(), 50), "{what}");
                assert_eq!(p.map(|p| p.p95), rank(values.clone(), 95), "{what}");
                assert_eq!(p.map(|p| p.max), rank(values.clone(), 100), "{what}");
            }
        }
        let order: Vec<u64> = report.hosts.iter().map(|r| r.requests).collect();
        assert!(order.windows(2).all(|w| w[0] >= w[1]), "{what}: most first");
    }

    /// The per-server table of every lab capture is the records grouped apart, for one batch
    /// and for many batches in a mixed order.
    #[test]
    fn per_server_table_is_the_records_grouped_by_server() {
        let mut with_requests = 0;
        for p in captures() {
            let a = Analyzer::new().threads(2).analyze_path(&p).expect(&p);
            let want = oracle(&a);
            let r = Report::of(&a, &ReportOptions::default());
            check(&r, &want, &p);
            with_requests += usize::from(r.hosts.iter().any(|h| h.requests > 0));
            for (size, seed) in [(1, Some(3)), (4, Some(17))] {
                let mut b = ReportBuilder::new(&ReportOptions::default());
                for batch in crate::stream::tests::batches(&a, size, seed) {
                    b.add(&batch);
                }
                let r = b.finish(a.summary().clone(), a.stats().clone());
                check(&r, &want, &format!("{p} batches of {size}"));
            }
        }
        assert!(with_requests >= 2, "captures with requests");
    }

    /// A named row is the report scoped by `--server NAME:PORT` (what `check --server`
    /// measures): requests, connections, failed connections and the total percentiles.
    #[test]
    fn a_row_is_the_report_scoped_by_server() {
        use crate::figures::Value;
        let mut named = 0;
        for p in captures() {
            let a = Analyzer::new().threads(2).analyze_path(&p).expect(&p);
            let r = Report::of(&a, &ReportOptions::default());
            // A `Host` that is an address selects by address in a filter: left out.
            let names = r.hosts.iter().filter(|h| {
                h.name_from != NameSource::Address && h.host.parse::<IpAddr>().is_err()
            });
            for row in names {
                let Some(port) = row.port else { continue };
                let server = crate::filter::parse_server(&format!("{}:{port}", row.host))
                    .expect("a row's name is a server");
                let filter = crate::Filter {
                    server: Some(server),
                    ..Default::default()
                };
                let scoped = Report::of(&a.filtered(&filter), &ReportOptions::default());
                let f = |name: &str| scoped.figures.value(name).flatten();
                let what = format!("{p}: {}:{port}", row.host);
                assert_eq!(
                    f("http.requests"),
                    Some(Value::Count(row.requests)),
                    "{what}"
                );
                // TCP and QUIC connections.
                let sum = |a: &str, b: &str| match (f(a), f(b)) {
                    (Some(Value::Count(x)), Some(Value::Count(y))) => Some(Value::Count(x + y)),
                    (Some(Value::Count(x)), None) => Some(Value::Count(x)),
                    other => panic!("{what}: {a}, {b}: {other:?}"),
                };
                assert_eq!(
                    sum("connections.count", "quic.connections"),
                    Some(Value::Count(row.connections)),
                    "{what}"
                );
                assert_eq!(
                    sum("connections.failed", "quic.failed"),
                    Some(Value::Count(row.failed_connections)),
                    "{what}"
                );
                assert_eq!(scoped.applications.http.total, row.total, "{what}");
                assert_eq!(scoped.applications.http.wait, row.wait, "{what}");
                named += 1;
            }
        }
        assert!(named >= 3, "named rows");
    }

    /// QUIC connections in the per-server table against the aioquic client's own log of the
    /// lab's `j_quic` scenario (`gt_quic.jsonl`, one line per connection: its outcome, `ok` or
    /// `failed`, and whether it resumed a session): as many connections, failed ones and
    /// resumed handshakes over the servers' rows.
    #[test]
    fn quic_connections_count_in_their_servers_rows() {
        let Some(shared) = std::env::var_os("PCAPSTAT_SHARED") else {
            eprintln!(
                "skipped quic_connections_count_in_their_servers_rows: PCAPSTAT_SHARED not set"
            );
            return;
        };
        let dir = std::path::Path::new(&shared).join("lab/j_quic");
        let Ok(log) = std::fs::read_to_string(dir.join("gt_quic.jsonl")) else {
            eprintln!("skipped quic_connections_count_in_their_servers_rows: no lab/j_quic");
            return;
        };
        let gt: Vec<serde_json::Value> = log
            .lines()
            .map(|l| serde_json::from_str(l).expect("a JSON line"))
            .collect();
        // Per server port: (connections, failed, resumed) of the client's log.
        let mut want: BTreeMap<u16, (u64, u64, u64)> = BTreeMap::new();
        for g in &gt {
            let server = g["server"].as_str().expect("server");
            let port: u16 = server
                .rsplit(':')
                .next()
                .and_then(|p| p.parse().ok())
                .expect("port");
            let w = want.entry(port).or_default();
            w.0 += 1;
            w.1 += u64::from(g["outcome"] == "failed");
            w.2 += u64::from(g["session_resumed"] == true);
        }
        let total = |i: usize| want.values().map(|w| [w.0, w.1, w.2][i]).sum::<u64>();
        assert!(total(1) >= 1 && total(2) >= 1, "the scenario has both");
        for keys in [false, true] {
            let mut an = Analyzer::new();
            if keys {
                let log = pcapstat_core::KeyLog::from_file(dir.join("sslkeylog.txt"));
                an = an.keylog(log.expect("key log"));
            }
            let a = an
                .analyze_path(dir.join("capture.pcapng"))
                .expect("capture");
            let r = Report::of(&a, &ReportOptions::default());
            let mut got: BTreeMap<u16, (u64, u64, u64)> = BTreeMap::new();
            for h in &r.hosts {
                let g = got.entry(h.port.expect("a port")).or_default();
                g.0 += h.connections;
                g.1 += h.failed_connections;
                g.2 += h.tls_resumed;
            }
            assert_eq!(got, want, "keys {keys}");
            let requests: u64 = r.hosts.iter().map(|h| h.requests).sum();
            assert_eq!(requests, if keys { 17 } else { 0 }, "keys {keys}");
        }
    }

    /// Every JSON key of a `hosts` row and of the DNS name lists is documented in
    /// docs/summary.md (the Servers section; the rows of `dns.failed_names` and
    /// `dns.slowest_names`), and the documented keys exist.
    #[test]
    fn json_keys_are_documented() {
        let doc = include_str!("../../../docs/summary.md");
        let servers = doc
            .split("## Servers (`hosts`)")
            .nth(1)
            .and_then(|s| s.split("\n## ").next())
            .expect("a Servers section");
        let a = Analyzer::new()
            .analyze_path(path("lab/e_dns/capture.pcap"))
            .expect("e_dns");
        let json = serde_json::to_value(Report::of(&a, &ReportOptions::default())).expect("json");
        let keys = |v: &serde_json::Value| -> Vec<String> {
            v.as_object().expect("an object").keys().cloned().collect()
        };
        let row = keys(&json["hosts"][0]);
        let documented: Vec<&str> = servers
            .lines()
            .filter_map(|l| l.strip_prefix("| `"))
            .flat_map(|l| l.split(" | ").next())
            .flat_map(|k| k.split(", "))
            .map(|k| k.trim_matches('`'))
            .collect();
        let mut sorted = documented.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, row, "docs/summary.md Servers table vs a hosts row");
        for list in ["failed_names", "slowest_names"] {
            let line = doc
                .lines()
                .find(|l| l.starts_with(&format!("| `dns.{list}`")))
                .expect(list);
            let entry = &json["applications"]["dns"][list][0];
            for k in keys(entry) {
                assert!(line.contains(&k), "{list}.{k} is not in docs/summary.md");
            }
        }
    }

    /// Past MAX_HOSTS servers, the records of new servers go to one `(other)` row, and the
    /// limit is listed.
    #[test]
    fn hosts_past_the_bound_are_counted_in_other() {
        let a = Analyzer::new()
            .analyze_path(path("lab/f_refused_syndrop/capture.pcap"))
            .expect("capture");
        let c = a
            .connection_records()
            .first()
            .expect("a connection")
            .clone();
        let extra = 5;
        let many: Vec<ConnectionRecord> = (0..MAX_HOSTS + extra)
            .map(|i| {
                let mut c = c.clone();
                c.conn_id = i as u64;
                c.server_port = (i % 60_000) as u16;
                c.server_ip = IpAddr::from([10, 1, (i / 60_000) as u8, 1]);
                c
            })
            .collect();
        let mut b = ReportBuilder::new(&ReportOptions::default());
        b.add_connections(&many);
        let r = b.finish(a.summary().clone(), a.stats().clone());
        assert_eq!(r.hosts.len(), MAX_HOSTS + 1);
        let other = r.hosts.last().expect("rows");
        assert_eq!((other.host.as_str(), other.port), (OTHER_HOST, None));
        assert_eq!(other.connections, extra as u64);
        let limit = r.limits.iter().find(|l| l.name == HOSTS_LIMIT_NAME);
        assert_eq!(limit.map(|l| l.count), Some(extra as u64));
        let total: u64 = r.hosts.iter().map(|h| h.connections).sum();
        assert_eq!(total, many.len() as u64);
    }

    /// The failed DNS names of e_dns: every failed query counted once under its name, by
    /// kind, and the slowest names' maxima are the records'.
    #[test]
    fn dns_failed_and_slowest_names() {
        let mut paths = vec![path("lab/e_dns/capture.pcap")];
        if let Some(shared) = std::env::var_os("PCAPSTAT_SHARED") {
            let p = std::path::Path::new(&shared).join("lab/e_dns/capture.pcap");
            if p.is_file() {
                paths.push(p.to_string_lossy().into_owned());
            }
        }
        for p in paths {
            let a = Analyzer::new().analyze_path(&p).expect(&p);
            let r = Report::of(&a, &ReportOptions { top: 1000 });
            let dns = &r.applications.dns;
            let mut failed: BTreeMap<String, [u64; 5]> = BTreeMap::new();
            let mut slow: BTreeMap<String, (u64, i64)> = BTreeMap::new();
            for d in a.dns_records() {
                let name = d.qname.trim_end_matches('.').to_ascii_lowercase();
                let kind = if d.answered() {
                    match d.rcode.map(|r| r.0) {
                        Some(0) | None => None,
                        Some(3) => Some(0),
                        Some(2) => Some(1),
                        Some(_) => Some(2),
                    }
                } else if d.icmp_unreachable {
                    Some(4)
                } else {
                    Some(3)
                };
                if let Some(k) = kind {
                    failed.entry(name.clone()).or_default()[k] += 1;
                }
                if let (true, Some(ns)) = (d.answered(), d.latency_ns) {
                    let e = slow.entry(name).or_insert((0, i64::MIN));
                    *e = (e.0 + 1, e.1.max(ns));
                }
            }
            assert!(!failed.is_empty(), "{p}: e_dns has failed queries");
            assert_eq!(dns.failed_names.len(), failed.len(), "{p}");
            for f in &dns.failed_names {
                let k = [
                    f.nxdomain,
                    f.servfail,
                    f.other_rcode,
                    f.unanswered,
                    f.icmp_unreachable,
                ];
                assert_eq!(Some(&k), failed.get(&f.name), "{p}: {}", f.name);
                assert_eq!(f.failures, k.iter().sum::<u64>());
            }
            let by_failures: Vec<u64> = dns.failed_names.iter().map(|f| f.failures).collect();
            assert!(by_failures.windows(2).all(|w| w[0] >= w[1]));
            assert_eq!(dns.slowest_names.len(), slow.len(), "{p}");
            for s in &dns.slowest_names {
                assert_eq!(slow.get(&s.name), Some(&(s.answered, s.max_ns)), "{p}");
            }
            let by_max: Vec<i64> = dns.slowest_names.iter().map(|s| s.max_ns).collect();
            assert!(by_max.windows(2).all(|w| w[0] >= w[1]));
            let top2 = Report::of(&a, &ReportOptions { top: 2 });
            assert_eq!(
                top2.applications.dns.failed_names,
                dns.failed_names[..2.min(dns.failed_names.len())]
            );
        }
    }
}
