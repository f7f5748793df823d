//! The entry point: [`Analyzer`] (options) → [`Analysis`] (summary, records, tables).

use std::collections::HashMap;
use std::io::Read;
use std::path::Path;
use std::sync::Arc;

use polars::prelude::DataFrame;

use pcapstat_core::app::{AppConfig, AppFactory, AppStats, UdpDns};
use pcapstat_core::pipeline::{self, PipelineConfig};
use pcapstat_core::proto::dns::DnsStats;
use pcapstat_core::{
    request_timings, Capture, CaptureSummary, ConnectionRecord, DecodeLimits, DnsRecord,
    HttpRecord, KeyLog, KeyLogStats, RequestTiming, Stats, TcpConfig, TcpStats, TlsRecord,
};

use crate::error::Error;
use crate::filter::{host_only, name_matches, Filter, Host};
use crate::tables;

/// Analysis options; cheap to clone and reusable for many captures.
///
/// ```
/// let analyzer = pcapstat::Analyzer::new()
///     .threads(4)
///     .idle_timeout_ns(60_000_000_000);
/// # let _ = analyzer;
/// ```
#[derive(Debug, Clone)]
pub struct Analyzer {
    config: PipelineConfig,
    keylog: Option<Arc<KeyLog>>,
    embedded_secrets: bool,
}

impl Default for Analyzer {
    fn default() -> Self {
        Analyzer {
            config: PipelineConfig::default(),
            keylog: None,
            embedded_secrets: true,
        }
    }
}

impl Analyzer {
    /// Default options: all cores, the documented default limits.
    pub fn new() -> Self {
        Analyzer::default()
    }

    /// Threads to use in all (`0`, the default, means one per core). The output is identical
    /// for any thread count.
    pub fn threads(mut self, threads: usize) -> Self {
        self.config.threads = threads;
        self
    }

    /// Publish progress into `bytes`: while a capture is read, it holds the bytes of the
    /// (uncompressed) capture consumed so far, updated every few thousand frames and at the end
    /// ([`pcapstat_core::pipeline::PipelineConfig::progress`]). For a progress bar: compare it
    /// with the file's size (for uncompressed files; compressed input and streams have no known
    /// total).
    pub fn progress(mut self, bytes: std::sync::Arc<std::sync::atomic::AtomicU64>) -> Self {
        self.config.progress = Some(bytes);
        self
    }

    /// A TCP connection silent for longer than this (capture time, nanoseconds) is finished; a
    /// later packet on its ports starts a new connection. Default 5 minutes.
    pub fn idle_timeout_ns(mut self, ns: i64) -> Self {
        self.config.tcp.idle_timeout_ns = ns;
        self
    }

    /// All TCP tracking options and limits at once (see [`TcpConfig`]).
    pub fn tcp_config(mut self, tcp: TcpConfig) -> Self {
        self.config.tcp = tcp;
        self
    }

    /// Decoder limits (IP fragment reassembly buffers).
    pub fn decode_limits(mut self, limits: DecodeLimits) -> Self {
        self.config.decode = limits;
        self
    }

    /// The options in effect.
    pub fn config(&self) -> &PipelineConfig {
        &self.config
    }

    /// TLS secrets to decrypt with (NSS key log): TLS connections whose client random is in it
    /// are decrypted and their HTTP/1.x and HTTP/2 requests become http rows (docs/tls.md,
    /// docs/http.md).
    pub fn keylog(mut self, keylog: KeyLog) -> Self {
        self.keylog = Some(Arc::new(keylog));
        self
    }

    /// Reads an NSS key log file (`SSLKEYLOGFILE`) for [`Analyzer::keylog`]. Malformed lines
    /// are skipped and counted ([`Analysis::keylog_stats`]), not an error.
    ///
    /// # Errors
    /// [`Error::KeyLog`] when the file cannot be read.
    pub fn keylog_file(self, path: impl AsRef<Path>) -> Result<Self, Error> {
        Ok(self.keylog(KeyLog::from_file(path)?))
    }

    /// Whether TLS key logs embedded in a pcapng file (Decryption Secrets Blocks) are used, in
    /// addition to [`Analyzer::keylog`] (default `true`). They are read ahead of the frames:
    /// every DSB of a plain file or bytes (a pass over the block headers), the DSBs before the
    /// first packet of streamed input (standard input, gzip, zstd); see
    /// `pcapstat_core::Capture::decryption_secrets`.
    pub fn embedded_secrets(mut self, yes: bool) -> Self {
        self.embedded_secrets = yes;
        self
    }

    /// Analyse a capture file (pcap or pcapng, optionally gzip or zstd compressed).
    ///
    /// A damaged or truncated capture is not an error: everything before the damage is
    /// analysed and the damage is reported in [`CaptureSummary::damaged`].
    ///
    /// # Errors
    /// [`Error::Capture`] when the file cannot be read or is not a capture.
    pub fn analyze_path(&self, path: impl AsRef<Path>) -> Result<Analysis, Error> {
        let path = path.as_ref();
        let mut analysis = self.analyze(Capture::open(path)?)?;
        analysis.source = Some(path.display().to_string());
        Ok(analysis)
    }

    /// Analyse a capture read from a stream (standard input, a pipe, a socket).
    ///
    /// # Errors
    /// [`Error::Capture`] when the stream cannot be read or is not a capture.
    pub fn analyze_reader(&self, reader: impl Read + Send + 'static) -> Result<Analysis, Error> {
        self.analyze(Capture::from_reader(reader)?)
    }

    /// Analyse a capture held in memory.
    ///
    /// # Errors
    /// [`Error::Capture`] when the bytes are not a capture.
    pub fn analyze_bytes(&self, bytes: Vec<u8>) -> Result<Analysis, Error> {
        self.analyze(Capture::from_bytes(bytes)?)
    }

    fn analyze(&self, mut capture: Capture) -> Result<Analysis, Error> {
        let embedded = if self.embedded_secrets {
            capture.decryption_secrets().unwrap_or_default()
        } else {
            Vec::new()
        };
        let keylog = if embedded.is_empty() {
            self.keylog.clone()
        } else {
            // The embedded secrets, then the given key log's on top.
            let mut k = KeyLog::new();
            k.add_capture_secrets(&embedded);
            if let Some(given) = &self.keylog {
                k.merge(given.as_ref().clone());
            }
            Some(Arc::new(k))
        };
        let keylog_stats = keylog.as_ref().map(|k| k.stats().clone());
        let app_config = AppConfig::default().with_keylog(keylog);
        let mut udp = UdpDns::default();
        let out = pipeline::run_with_udp(
            &mut capture,
            &self.config,
            |_| AppFactory::new(app_config.clone()),
            &mut udp,
        )?;
        let (mut tls, mut http) = (Vec::new(), Vec::new());
        let mut app = AppStats::default();
        for f in &out.factories {
            app.merge(&f.stats);
        }
        let end = out.summary.last_ts.unwrap_or(0);
        let (dns, dns_stats) = udp.finish(out.factories.iter().flat_map(|f| &f.dns_tcp), end);
        for f in out.factories {
            tls.extend(f.tls);
            http.extend(f.http);
        }
        tls.sort_by_key(|t| t.conn_id);
        http.sort_by_key(|h| (h.conn_id, h.request_index));
        let timings = request_timings(&out.connections, &tls, &http, &dns);
        Ok(Analysis {
            summary: out.summary,
            connections: out.connections,
            tcp: out.tcp,
            tls,
            http,
            dns,
            timings,
            app,
            dns_stats,
            keylog_stats,
            source: None,
            join_connections: Vec::new(),
        })
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

    /// Every counter of the analysis in one tree (decoding, TCP, application parsers, DNS,
    /// key log; docs/summary.md, "Counters"), with [`Stats::limits`] the limits that were hit.
    /// Built on each call.
    pub fn stats(&self) -> Stats {
        Stats {
            decode: self.summary.decode.clone(),
            tcp: self.tcp.clone(),
            app: self.app.clone(),
            dns: self.dns_stats.clone(),
            keylog: self.keylog_stats.clone().unwrap_or_default(),
        }
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
