//! The entry point: [`Analyzer`] (options) → [`Analysis`] (summary, records, counters).
//!
//! This is the one place the whole analysis is assembled: the sharded TCP pipeline with the
//! application layer (TLS, HTTP/1.x, HTTP/2, DNS over TCP) in every shard, DNS over UDP on the
//! reading thread, then DNS matching, the request join and the final sort.

use std::io::Read;
use std::path::Path;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;

use crate::app::{AppConfig, AppFactory, AppStats, UdpDns};
use crate::capture::{Capture, CaptureError, MmapChoice};
use crate::decode::DecodeLimits;
use crate::pipeline::{self, PipelineConfig};
use crate::proto::dns::DnsStats;
use crate::proto::tls::{KeyLog, KeyLogError, KeyLogStats};
use crate::record::{ConnectionRecord, DnsRecord, HttpRecord, TlsRecord};
use crate::summary::CaptureSummary;
use crate::tcp::{TcpConfig, TcpStats};
use crate::timing::{request_timings, RequestTiming};

/// Analysis options; cheap to clone and reusable for many captures.
///
/// ```
/// let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../testdata/lab/f_refused_syndrop/capture.pcap");
/// let analysis = pcapstat_core::Analyzer::new().threads(2).analyze_path(path)?;
/// assert_eq!(analysis.connections.len(), 6);
/// # Ok::<(), pcapstat_core::CaptureError>(())
/// ```
#[derive(Debug, Clone)]
pub struct Analyzer {
    config: PipelineConfig,
    keylog: Option<Arc<KeyLog>>,
    embedded_secrets: bool,
    mmap: MmapChoice,
}

impl Default for Analyzer {
    fn default() -> Self {
        Analyzer {
            config: PipelineConfig::default(),
            keylog: None,
            embedded_secrets: true,
            mmap: MmapChoice::never(),
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
    /// (one relaxed store per batch of frames: no lock, no cost per packet). For a progress bar:
    /// compare it with the file's size (for uncompressed files; compressed input and streams
    /// have no known total).
    pub fn progress(mut self, bytes: Arc<AtomicU64>) -> Self {
        self.config.progress = Some(bytes);
        self
    }

    /// A TCP connection silent for longer than this (capture time, nanoseconds) is finished; a
    /// later packet on its ports starts a new connection. Default 5 minutes.
    pub fn idle_timeout_ns(mut self, ns: i64) -> Self {
        self.config.tcp.idle_timeout_ns = ns;
        self
    }

    /// All TCP tracking options and limits at once (see [`TcpConfig`]). `max_connections` is
    /// for the whole capture.
    pub fn tcp_config(mut self, tcp: TcpConfig) -> Self {
        self.config.tcp = tcp;
        self
    }

    /// Decoder limits (IP fragment reassembly buffers).
    pub fn decode_limits(mut self, limits: DecodeLimits) -> Self {
        self.config.decode = limits;
        self
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
    /// [`KeyLogError`] when the file cannot be read.
    pub fn keylog_file(self, path: impl AsRef<Path>) -> Result<Self, KeyLogError> {
        Ok(self.keylog(KeyLog::from_file(path)?))
    }

    /// Whether TLS key logs embedded in a pcapng file (Decryption Secrets Blocks) are used, in
    /// addition to [`Analyzer::keylog`] (default `true`). They are read ahead of the frames:
    /// every DSB of a file or bytes (a pass over the block headers), the DSBs before the first
    /// packet of streamed input (standard input, gzip, zstd); see
    /// [`Capture::decryption_secrets`].
    pub fn embedded_secrets(mut self, yes: bool) -> Self {
        self.embedded_secrets = yes;
        self
    }

    /// Whether [`Analyzer::analyze_path`] may memory-map plain capture files (default
    /// [`MmapChoice::never`]: files are read). Mapping is faster on large files; its safety
    /// contract is the caller's ([`MmapChoice::auto`]).
    pub fn memory_map(mut self, choice: MmapChoice) -> Self {
        self.mmap = choice;
        self
    }

    /// Analyse a capture file (pcap or pcapng, optionally gzip or zstd compressed).
    ///
    /// A damaged or truncated capture is not an error: everything before the damage is
    /// analysed and the damage is reported in [`CaptureSummary::damaged`].
    ///
    /// # Errors
    /// [`CaptureError`] when the file cannot be read or is not a capture.
    pub fn analyze_path(&self, path: impl AsRef<Path>) -> Result<Analysis, CaptureError> {
        self.analyze(Capture::open_with(path, self.mmap)?)
    }

    /// Analyse a capture read from a stream (standard input, a pipe, a socket).
    ///
    /// # Errors
    /// [`CaptureError`] when the stream cannot be read or is not a capture.
    pub fn analyze_reader(
        &self,
        reader: impl Read + Send + 'static,
    ) -> Result<Analysis, CaptureError> {
        self.analyze(Capture::from_reader(reader)?)
    }

    /// Analyse a capture held in memory.
    ///
    /// # Errors
    /// [`CaptureError`] when the bytes are not a capture.
    pub fn analyze_bytes(&self, bytes: Vec<u8>) -> Result<Analysis, CaptureError> {
        self.analyze(Capture::from_bytes(bytes)?)
    }

    /// Analyse an opened capture: every frame, up to the end or the first damage.
    ///
    /// # Errors
    /// [`CaptureError::Io`] when reading fails.
    pub fn analyze(&self, mut capture: Capture) -> Result<Analysis, CaptureError> {
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
            tls,
            http,
            dns,
            timings,
            tcp_stats: out.tcp,
            app_stats: app,
            dns_stats,
            keylog_stats,
        })
    }
}

/// The result of analysing one capture: plain records (`Option` = not observed) and counters.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Analysis {
    /// What the capture holds: format, frames, time range, decoding counters, damage.
    pub summary: CaptureSummary,
    /// One record per TCP connection, sorted by `conn_id`.
    pub connections: Vec<ConnectionRecord>,
    /// One record per TLS handshake, sorted by `conn_id`.
    pub tls: Vec<TlsRecord>,
    /// One record per HTTP request, sorted by (`conn_id`, `request_index`).
    pub http: Vec<HttpRecord>,
    /// One record per DNS query, sorted by `query_frame`.
    pub dns: Vec<DnsRecord>,
    /// The HAR phases of each HTTP request (same order as `http`).
    pub timings: Vec<RequestTiming>,
    /// TCP tracking counters (connections, limits hit, sweeps).
    pub tcp_stats: TcpStats,
    /// Connections per application parser (TLS, HTTP, DNS over TCP, unrecognised), parser and
    /// decryption counters.
    pub app_stats: AppStats,
    /// DNS matching counters (unparsable messages, limits hit).
    pub dns_stats: DnsStats,
    /// What the key log used for this capture held (lines, secrets, malformed lines, embedded
    /// Decryption Secrets Blocks); `None` without any key log.
    pub keylog_stats: Option<KeyLogStats>,
}

impl Analysis {
    /// The connection of a `conn_id` (records are sorted by it).
    pub fn connection(&self, conn_id: u64) -> Option<&ConnectionRecord> {
        self.connections
            .binary_search_by_key(&conn_id, |c| c.conn_id)
            .ok()
            .and_then(|i| self.connections.get(i))
    }
}
