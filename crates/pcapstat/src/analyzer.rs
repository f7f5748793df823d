//! The entry point: [`Analyzer`] (options) → [`Analysis`] (summary, records, tables).

use std::borrow::Cow;
use std::io::Read;
use std::path::Path;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;

use polars::prelude::DataFrame;

use pcapstat_core as core;
use pcapstat_core::{
    AppStats, Capture, CaptureSummary, ConnectionRecord, DecodeLimits, DnsRecord, DnsStats,
    HttpRecord, KeyLog, KeyLogStats, MmapChoice, RequestTiming, Stats, TcpConfig, TcpStats,
    TlsRecord,
};

use crate::error::Error;
use crate::filter::{ConnNames, Filter};
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
        }
    }
}

/// The items of `items` that `f` keeps, copied.
fn keep<T: Clone>(items: &[T], f: impl Fn(&T) -> bool) -> Vec<T> {
    items.iter().filter(|x| f(x)).cloned().collect()
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
    /// counters stay those of the whole capture. Without a condition this is the analysis
    /// itself (borrowed); otherwise only the kept records are copied.
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
    pub fn filtered(&self, filter: &Filter) -> Cow<'_, Analysis> {
        if filter.is_empty() {
            return Cow::Borrowed(self);
        }
        let first = self.summary.first_ts;
        let names = |id| ConnNames::of(id, &self.tls, &self.http);
        let conn = |id| {
            let i = self.connections.binary_search_by_key(&id, |c| c.conn_id);
            i.ok().and_then(|i| self.connections.get(i))
        };
        let (mut http, mut timings) = (Vec::new(), Vec::new());
        for (h, t) in self.http.iter().zip(&self.timings) {
            if filter.matches_http(h, &names(h.conn_id), first) {
                timings.push(RequestTiming {
                    http_index: http.len(),
                    ..t.clone()
                });
                http.push(h.clone());
            }
        }
        Cow::Owned(Analysis {
            connections: keep(&self.connections, |c| {
                filter.matches_connection(c, &names(c.conn_id))
                    && filter.in_window(first, c.start_ts)
            }),
            tls: keep(&self.tls, |t| {
                conn(t.conn_id).is_some_and(|c| filter.matches_tls(t, c, &names(t.conn_id), first))
            }),
            http,
            timings,
            dns: keep(&self.dns, |d| filter.matches_dns(d, first)),
            summary: self.summary.clone(),
            tcp: self.tcp.clone(),
            app: self.app.clone(),
            dns_stats: self.dns_stats.clone(),
            source: self.source.clone(),
            keylog_stats: self.keylog_stats.clone(),
        })
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
        tables::http_frame(self.source.as_deref(), &self.http, &self.timings)
    }

    /// The dns table: one row per query (`docs/metrics.md`, section "dns").
    ///
    /// # Errors
    /// [`Error::Table`] if polars fails to build the frame.
    pub fn dns(&self) -> Result<DataFrame, Error> {
        tables::dns_frame(self.source.as_deref(), &self.dns)
    }
}
