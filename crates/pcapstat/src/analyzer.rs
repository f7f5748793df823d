//! The entry point: [`Analyzer`] (options) → [`Analysis`] (summary, records, tables).

use std::collections::HashMap;
use std::io::Read;
use std::path::Path;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;

use polars::prelude::DataFrame;

use pcapstat_core as core;
use pcapstat_core::{
    AppStats, Capture, CaptureSummary, ConnectionRecord, DecodeLimits, DnsRecord, DnsStats,
    HttpRecord, KeyLog, KeyLogStats, MmapChoice, RequestTiming, TcpConfig, TcpStats, TlsRecord,
};

use crate::error::Error;
use crate::filter::{host_only, name_matches, Filter, Host};
use crate::tables;

/// Analysis options: [`pcapstat_core::Analyzer`], whose results come with tables. Cheap to
/// clone and reusable for many captures.
///
/// ```
/// let analyzer = pcapstat::Analyzer::new()
///     .threads(4)
///     .idle_timeout_ns(60_000_000_000);
/// # let _ = analyzer;
/// ```
#[derive(Debug, Clone, Default)]
pub struct Analyzer(core::Analyzer);

/// The options of [`pcapstat_core::Analyzer`], forwarded.
macro_rules! options {
    ($($name:ident($arg:ident: $ty:ty);)*) => {$(
        #[doc = concat!("As [`pcapstat_core::Analyzer::", stringify!($name), "`].")]
        pub fn $name(self, $arg: $ty) -> Self {
            Analyzer(self.0.$name($arg))
        }
    )*};
}

impl Analyzer {
    /// Default options: all cores, the documented default limits.
    pub fn new() -> Self {
        Analyzer::default()
    }

    options! {
        threads(threads: usize);
        progress(bytes: Arc<AtomicU64>);
        idle_timeout_ns(ns: i64);
        tcp_config(tcp: TcpConfig);
        decode_limits(limits: DecodeLimits);
        keylog(keylog: KeyLog);
        embedded_secrets(yes: bool);
        memory_map(choice: MmapChoice);
    }

    /// Reads an NSS key log file (`SSLKEYLOGFILE`) for [`Analyzer::keylog`]. Malformed lines
    /// are skipped and counted ([`Analysis::keylog_stats`]), not an error.
    ///
    /// # Errors
    /// [`Error::KeyLog`] when the file cannot be read.
    pub fn keylog_file(self, path: impl AsRef<Path>) -> Result<Self, Error> {
        Ok(Analyzer(self.0.keylog_file(path)?))
    }

    /// Analyse a capture file (pcap or pcapng, optionally gzip or zstd compressed); its path
    /// names the capture ([`Analysis::source`]).
    ///
    /// A damaged or truncated capture is not an error: everything before the damage is
    /// analysed and the damage is reported in [`CaptureSummary::damaged`].
    ///
    /// # Errors
    /// [`Error::Capture`] when the file cannot be read or is not a capture.
    pub fn analyze_path(&self, path: impl AsRef<Path>) -> Result<Analysis, Error> {
        let path = path.as_ref();
        let mut analysis = Analysis::from(self.0.analyze_path(path)?);
        analysis.source = Some(path.display().to_string());
        Ok(analysis)
    }

    /// Analyse a capture read from a stream (standard input, a pipe, a socket).
    ///
    /// # Errors
    /// [`Error::Capture`] when the stream cannot be read or is not a capture.
    pub fn analyze_reader(&self, reader: impl Read + Send + 'static) -> Result<Analysis, Error> {
        Ok(self.0.analyze_reader(reader)?.into())
    }

    /// Analyse a capture held in memory.
    ///
    /// # Errors
    /// [`Error::Capture`] when the bytes are not a capture.
    pub fn analyze_bytes(&self, bytes: Vec<u8>) -> Result<Analysis, Error> {
        Ok(self.0.analyze_bytes(bytes)?.into())
    }

    /// Analyse an opened capture.
    ///
    /// # Errors
    /// [`Error::Capture`] when reading fails.
    pub fn analyze(&self, capture: Capture) -> Result<Analysis, Error> {
        Ok(self.0.analyze(capture)?.into())
    }
}

impl From<core::Analyzer> for Analyzer {
    fn from(options: core::Analyzer) -> Self {
        Analyzer(options)
    }
}

impl From<core::Analysis> for Analysis {
    /// The records and counters of `a`, without a name ([`Analysis::set_source`]).
    fn from(a: core::Analysis) -> Self {
        Analysis {
            summary: a.summary,
            connections: a.connections,
            tcp: a.tcp_stats,
            tls: a.tls,
            http: a.http,
            dns: a.dns,
            timings: a.timings,
            app: a.app_stats,
            dns_stats: a.dns_stats,
            keylog_stats: a.keylog_stats,
            source: None,
            join_connections: Vec::new(),
        }
    }
}

/// The result of analysing one capture.
#[derive(Debug, Clone)]
pub struct Analysis {
    summary: CaptureSummary,
    connections: Vec<ConnectionRecord>,
    tcp: TcpStats,
    tls: Vec<TlsRecord>,
    http: Vec<HttpRecord>,
    dns: Vec<DnsRecord>,
    timings: Vec<RequestTiming>,
    app: AppStats,
    dns_stats: DnsStats,
    keylog_stats: Option<KeyLogStats>,
    source: Option<String>,
    /// Connections of kept HTTP requests that a filter removed from `connections` (their
    /// endpoints still fill the http table's columns).
    join_connections: Vec<ConnectionRecord>,
}

impl Analysis {
    /// What the capture holds: format, frames, time range, decoding counters, damage.
    pub fn summary(&self) -> &CaptureSummary {
        &self.summary
    }

    /// One record per TCP connection, sorted by `conn_id`.
    pub fn connection_records(&self) -> &[ConnectionRecord] {
        &self.connections
    }

    /// One record per TLS handshake, sorted by `conn_id`.
    pub fn tls_records(&self) -> &[TlsRecord] {
        &self.tls
    }

    /// One record per HTTP/1.x request, sorted by (`conn_id`, `request_index`).
    pub fn http_records(&self) -> &[HttpRecord] {
        &self.http
    }

    /// The HAR phases of each HTTP request (same order as [`Analysis::http_records`]).
    pub fn request_timings(&self) -> &[RequestTiming] {
        &self.timings
    }

    /// One record per DNS query, sorted by `query_frame`.
    pub fn dns_records(&self) -> &[DnsRecord] {
        &self.dns
    }

    /// Connections per application parser (TLS, HTTP, DNS over TCP, unrecognised).
    pub fn app_stats(&self) -> &AppStats {
        &self.app
    }

    /// What the key log used for this capture held (lines, secrets, malformed lines, embedded
    /// Decryption Secrets Blocks); `None` without any key log. Decryption counters are in
    /// [`AppStats::tls_decrypt`].
    pub fn keylog_stats(&self) -> Option<&KeyLogStats> {
        self.keylog_stats.as_ref()
    }

    /// DNS matching counters (unparsable messages, limits hit).
    pub fn dns_stats(&self) -> &DnsStats {
        &self.dns_stats
    }

    /// TCP tracking counters (connections, limits hit, sweeps).
    pub fn tcp_stats(&self) -> &TcpStats {
        &self.tcp
    }

    /// The name of the capture, filling the `capture` column: the path given to
    /// [`Analyzer::analyze_path`], else `None` (the column is null) until set.
    pub fn source(&self) -> Option<&str> {
        self.source.as_deref()
    }

    /// Set the name of the capture (for example `-` for standard input).
    pub fn set_source(&mut self, name: impl Into<String>) {
        self.source = Some(name.into());
    }

    /// The records that pass `filter` (see [`crate::filter`]); the summary and the tracking
    /// counters stay those of the whole capture.
    ///
    /// ```
    /// # fn main() -> Result<(), pcapstat::Error> {
    /// use pcapstat::filter::{Filter, Server};
    /// let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../testdata/lab/f_refused_syndrop/capture.pcap");
    /// let all = pcapstat::Analyzer::new().analyze_path(path)?;
    /// let port81 = Filter { server: Some(Server { host: None, port: Some(81) }), ..Filter::default() };
    /// let some = all.filtered(&port81);
    /// assert_eq!(some.connection_records().len(), 3);
    /// # Ok(())
    /// # }
    /// ```
    pub fn filtered(&self, filter: &Filter) -> Analysis {
        if filter.is_empty() {
            return self.clone();
        }
        let (lo, hi) = filter.window(self.summary.first_ts);
        let in_window = |ts: i64| lo.is_none_or(|l| ts >= l) && hi.is_none_or(|h| ts < h);
        let sni: HashMap<u64, &str> = self
            .tls
            .iter()
            .filter_map(|t| t.sni.as_deref().map(|s| (t.conn_id, s)))
            .collect();
        let mut hosts: HashMap<u64, Vec<&str>> = HashMap::new();
        for h in &self.http {
            if let Some(host) = &h.host {
                hosts.entry(h.conn_id).or_default().push(host_only(host));
            }
        }
        let conn_matches = |c: &ConnectionRecord| {
            let names = || {
                sni.get(&c.conn_id)
                    .into_iter()
                    .copied()
                    .chain(hosts.get(&c.conn_id).into_iter().flatten().copied())
            };
            if let Some(s) = &filter.server {
                if s.port.is_some_and(|p| p != c.server_port) {
                    return false;
                }
                let host_ok = match &s.host {
                    None => true,
                    Some(Host::Name(n)) => names().any(|x| name_matches(n, x)),
                    Some(h) => h.contains(&c.server_ip),
                };
                if !host_ok {
                    return false;
                }
            }
            if let Some(h) = &filter.client {
                if !h.contains(&c.client_ip) {
                    return false;
                }
            }
            if let Some(p) = filter.port {
                if c.client_port != p && c.server_port != p {
                    return false;
                }
            }
            if let Some(n) = &filter.sni {
                if !sni.get(&c.conn_id).is_some_and(|x| name_matches(n, x)) {
                    return false;
                }
            }
            true
        };
        let matching: HashMap<u64, &ConnectionRecord> = self
            .connections
            .iter()
            .filter(|c| conn_matches(c))
            .map(|c| (c.conn_id, c))
            .collect();
        let connections: Vec<ConnectionRecord> = self
            .connections
            .iter()
            .filter(|c| matching.contains_key(&c.conn_id) && in_window(c.start_ts))
            .cloned()
            .collect();
        let tls: Vec<TlsRecord> = self
            .tls
            .iter()
            .filter(|t| {
                matching
                    .get(&t.conn_id)
                    .is_some_and(|c| in_window(t.client_hello_ts.unwrap_or(c.start_ts)))
            })
            .cloned()
            .collect();
        let mut http = Vec::new();
        let mut timings = Vec::new();
        for (i, h) in self.http.iter().enumerate() {
            if matching.contains_key(&h.conn_id) && in_window(h.request_start_ts) {
                if let Some(t) = self.timings.get(i) {
                    let mut t = t.clone();
                    t.http_index = http.len();
                    timings.push(t);
                }
                http.push(h.clone());
            }
        }
        let kept: std::collections::HashSet<u64> = connections.iter().map(|c| c.conn_id).collect();
        let mut join_connections: Vec<ConnectionRecord> = http
            .iter()
            .filter(|h| !kept.contains(&h.conn_id))
            .filter_map(|h| matching.get(&h.conn_id).map(|c| (*c).clone()))
            .collect();
        join_connections.dedup_by_key(|c| c.conn_id);
        let dns: Vec<DnsRecord> = self
            .dns
            .iter()
            .filter(|d| {
                if let Some(s) = &filter.server {
                    if s.port.is_some_and(|p| p != d.server_port) {
                        return false;
                    }
                    // A name matches the queries for it (not a DNS server on the port).
                    let host_ok = match &s.host {
                        None => true,
                        Some(Host::Name(n)) => s.port.is_none() && name_matches(n, &d.qname),
                        Some(h) => h.contains(&d.server_ip),
                    };
                    if !host_ok {
                        return false;
                    }
                }
                filter
                    .client
                    .as_ref()
                    .is_none_or(|h| h.contains(&d.client_ip))
                    && filter
                        .port
                        .is_none_or(|p| d.client_port == p || d.server_port == p)
                    && filter
                        .sni
                        .as_ref()
                        .is_none_or(|n| name_matches(n, &d.qname))
                    && in_window(d.query_ts)
            })
            .cloned()
            .collect();
        Analysis {
            summary: self.summary.clone(),
            connections,
            tcp: self.tcp.clone(),
            tls,
            http,
            dns,
            timings,
            app: self.app.clone(),
            dns_stats: self.dns_stats.clone(),
            source: self.source.clone(),
            join_connections,
            keylog_stats: self.keylog_stats.clone(),
        }
    }

    /// The connections table: one row per TCP connection, sorted by `conn_id`, columns as in
    /// `docs/metrics.md`.
    ///
    /// # Errors
    /// [`Error::Table`] if polars fails to build the frame.
    pub fn connections(&self) -> Result<DataFrame, Error> {
        tables::connections_frame(self.source.as_deref(), &self.connections)
    }

    /// The tls table: one row per TLS handshake (`docs/metrics.md`, section "tls").
    ///
    /// # Errors
    /// [`Error::Table`] if polars fails to build the frame.
    pub fn tls(&self) -> Result<DataFrame, Error> {
        tables::tls_frame(self.source.as_deref(), &self.tls)
    }

    /// The http table: one row per request with its DNS, connect, TLS, send, wait and receive
    /// phases (`docs/metrics.md`, section "http").
    ///
    /// # Errors
    /// [`Error::Table`] if polars fails to build the frame.
    pub fn http(&self) -> Result<DataFrame, Error> {
        if self.join_connections.is_empty() {
            tables::http_frame(
                self.source.as_deref(),
                &self.http,
                &self.timings,
                &self.connections,
            )
        } else {
            let mut all = self.connections.clone();
            all.extend(self.join_connections.iter().cloned());
            tables::http_frame(self.source.as_deref(), &self.http, &self.timings, &all)
        }
    }

    /// The dns table: one row per query (`docs/metrics.md`, section "dns").
    ///
    /// # Errors
    /// [`Error::Table`] if polars fails to build the frame.
    pub fn dns(&self) -> Result<DataFrame, Error> {
        tables::dns_frame(self.source.as_deref(), &self.dns)
    }
}
