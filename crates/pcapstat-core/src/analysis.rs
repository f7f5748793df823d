//! The entry point: [`Analyzer`] (options) → [`Analysis`] (summary, records, counters).
//!
//! This is the one place the whole analysis is assembled: the sharded TCP pipeline with the
//! application layer (TLS, HTTP/1.x, HTTP/2, DNS over TCP) in every shard, DNS over UDP on the
//! reading thread, DNS matching and the request join on the collecting thread, as the capture
//! is read.

use std::borrow::Cow;
use std::io::Read;
use std::path::Path;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;

use crate::app::{
    AppConfig, AppFactory, AppStats, DnsInput, DnsQueue, DnsTcpItem, OpenRows, UdpDns,
};
use crate::capture::{Capture, CaptureError, MmapChoice};
use crate::decode::DecodeLimits;
use crate::filter::{ConnNames, Filter, TimeBound};
use crate::pipeline::{self, Harvest, PipelineConfig};
use crate::proto::dns::{DnsConfig, DnsTracker};
use crate::proto::headers::HeaderLimits;
use crate::proto::quic::QuicTracker;
use crate::proto::tls::{EmbeddedKeys, KeyLog, KeyLogError};
use crate::record::{
    ConnectionRecord, DnsRecord, HttpRecord, QuicRecord, TlsRecord, WebSocketRecord,
};
use crate::stats::Stats;
use crate::summary::CaptureSummary;
use crate::tcp::TcpConfig;
use crate::timing::{request_timings_with, DnsLookups, RequestTiming};

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
    headers: Option<HeaderLimits>,
}

impl Default for Analyzer {
    fn default() -> Self {
        Analyzer {
            config: PipelineConfig::default(),
            keylog: None,
            embedded_secrets: true,
            mmap: MmapChoice::never(),
            headers: None,
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

    /// Frames per chunk of the reading on several threads (`0`, the default: 4096). For
    /// tests: small chunks put chunk boundaries everywhere in small captures.
    #[doc(hidden)]
    pub fn chunk_frames(mut self, frames: u64) -> Self {
        self.config.chunk_frames = frames;
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
    /// are skipped and counted (`stats.keylog`), not an error.
    ///
    /// # Errors
    /// [`KeyLogError`] when the file cannot be read.
    pub fn keylog_file(self, path: impl AsRef<Path>) -> Result<Self, KeyLogError> {
        Ok(self.keylog(KeyLog::from_file(path)?))
    }

    /// Whether TLS key logs embedded in a pcapng file (Decryption Secrets Blocks) are used, in
    /// addition to [`Analyzer::keylog`] (default `true`; the given key log's values win). They
    /// are read in the same pass as the frames ([`Capture::next_item`]), whatever the input
    /// (file, bytes, standard input, gzip, zstd): a DSB's secrets decrypt the TLS sessions
    /// whose ServerHello comes after it in the file, as in Wireshark (the pcapng specification
    /// puts a DSB before the packets that need it; `editcap --inject-secrets` puts it first).
    pub fn embedded_secrets(mut self, yes: bool) -> Self {
        self.embedded_secrets = yes;
        self
    }

    /// Keep the header fields of every HTTP request and response (HTTP/1.x in wire case,
    /// HTTP/2 and HTTP/3 with their pseudo-headers) within `limits`, in [`HttpExchange::headers`](crate::HttpExchange::headers)
    /// (what the HAR export writes; docs/har.md). `None` (the default) keeps none and costs
    /// nothing. Fields past the bounds are counted (`http_stats.kept_headers_dropped`, ...,
    /// docs/limits.md).
    pub fn capture_headers(mut self, limits: Option<HeaderLimits>) -> Self {
        self.headers = limits;
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

    /// Analyse the files of one capture point (tcpdump `-C`/`-G` rotation, a capture split in
    /// parts) as ONE capture: their frames in timestamp order ([`Capture::merge`] has the
    /// rule), so that a connection spanning files is one record. Frame numbers (`conn_id`,
    /// `query_frame`...) count the merged timeline; [`CaptureSummary::inputs`] lists the
    /// files. Damage in a file ends that file only.
    ///
    /// ```
    /// let lab = concat!(env!("CARGO_MANIFEST_DIR"), "/../../testdata/lab");
    /// let files = [format!("{lab}/f_refused_syndrop/capture.pcap"), format!("{lab}/e_dns/capture.pcap")];
    /// let merged = pcapstat_core::Analyzer::new().threads(2).analyze_paths_merged(&files)?;
    /// assert_eq!(merged.summary.inputs.len(), 2);
    /// # Ok::<(), pcapstat_core::CaptureError>(())
    /// ```
    ///
    /// # Errors
    /// [`CaptureError::Input`] when a file cannot be read or is not a capture;
    /// [`CaptureError::NoInput`] without a file.
    pub fn analyze_paths_merged<P: AsRef<Path>>(
        &self,
        paths: &[P],
    ) -> Result<Analysis, CaptureError> {
        self.analyze(Capture::open_merged(paths, self.mmap)?)
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

    /// Analyse an opened capture and hand its records to `sink` as they become final, keeping
    /// only those that pass `filter` (as [`Analysis::filtered`]). Memory then stays bounded by
    /// what is open at once, not by the number of records (docs/performance.md, "Streaming"):
    /// a connection's records leave when it is finished (closed and lingered, idle, or evicted
    /// at the flow-table bound), a DNS record once its query is answered or has stopped waiting
    /// and can no longer be retried. The first request of a connection that may have a DNS
    /// lookup in the capture (a DNS message came before the connection was finished) waits,
    /// if need be, until the DNS messages up to the connection's start are matched (its `dns`
    /// phase). With a `since`/`until` relative to the capture's start, everything is kept
    /// until the end (that start is the earliest timestamp of the whole capture).
    ///
    /// The batches come in the same order for any thread count. Concatenated, they hold the
    /// same records as [`Analyzer::analyze`] filtered, in another order: sort connections and
    /// TLS rows by `conn_id`, HTTP rows by (`conn_id`, `request_index`), DNS rows by
    /// `query_frame` to get the order of [`Analysis`].
    ///
    /// # Errors
    /// [`CaptureError::Io`] when reading fails.
    pub fn analyze_into<S: RecordSink + Send + ?Sized>(
        &self,
        capture: Capture,
        filter: &Filter,
        sink: &mut S,
    ) -> Result<StreamEnd, CaptureError> {
        let mut sink = sink;
        self.analyze_into_each(capture, &mut [(filter, &mut sink)])
    }

    /// [`Analyzer::analyze_into`] for several filters in one reading: each sink gets the
    /// batches of its filter (`check` with rules of different scopes).
    ///
    /// # Errors
    /// [`CaptureError::Io`] when reading fails.
    pub fn analyze_into_each(
        &self,
        capture: Capture,
        outs: &mut [(&Filter, &mut (dyn RecordSink + Send))],
    ) -> Result<StreamEnd, CaptureError> {
        let relative = |b: &Option<TimeBound>| matches!(b, Some(TimeBound::FromStart(_)));
        if outs
            .iter()
            .any(|(f, _)| relative(&f.since) || relative(&f.until))
        {
            let analysis = self.analyze(capture)?;
            for (filter, sink) in outs.iter_mut() {
                let kept = analysis.filtered(filter).into_owned();
                sink.records(Records {
                    connections: kept.connections,
                    tls: kept.tls,
                    http: kept.http,
                    timings: kept.timings,
                    dns: kept.dns,
                    websocket: kept.websocket,
                    quic: kept.quic,
                });
            }
            return Ok(StreamEnd {
                summary: analysis.summary,
                stats: analysis.stats,
            });
        }
        self.stream(capture, outs)
    }

    /// Analyse an opened capture: every frame, up to the end or the first damage.
    ///
    /// # Errors
    /// [`CaptureError::Io`] when reading fails.
    pub fn analyze(&self, capture: Capture) -> Result<Analysis, CaptureError> {
        let mut all = Collect::default();
        let end = self.stream(capture, &mut [(&Filter::default(), &mut all)])?;
        Ok(all.into_analysis(end))
    }

    fn stream(
        &self,
        mut capture: Capture,
        outs: &mut [(&Filter, &mut (dyn RecordSink + Send))],
    ) -> Result<StreamEnd, CaptureError> {
        let app_config = AppConfig::default()
            .with_keylog(self.keylog.clone())
            .with_headers(self.headers);
        let dns_queue = Arc::new(DnsQueue::default());
        let mut udp = UdpDns::new(dns_queue.clone()).with_whole_quic(self.keylog.is_some());
        let make = |_: usize, embedded: &EmbeddedKeys| {
            let embedded = Some(embedded.clone()).filter(|_| self.embedded_secrets);
            AppFactory::new(app_config.clone().with_embedded(embedded))
        };
        let mut emitter = Emitter {
            outs: outs
                .iter_mut()
                .map(|(filter, sink)| Out {
                    filter,
                    sink: &mut **sink,
                    held: std::collections::BinaryHeap::new(),
                })
                .collect(),
            dns: DnsTracker::new(DnsConfig::default()),
            quic: QuicTracker::new(crate::proto::tls::Keys::new(self.keylog.clone(), None))
                .with_headers(self.headers),
            dns_queue,
            dns_inputs: Vec::new(),
        };
        let (out, mut keylog_stats) = pipeline::run_streaming(
            &mut capture,
            &self.config,
            make,
            &mut udp,
            self.embedded_secrets,
            &AppHarvest,
            |frame, group| emitter.group(frame, group, None),
        )?;
        drop(udp);
        // The embedded secrets' counters and the given key log's (as merged, the given on top).
        if let Some(given) = &self.keylog {
            keylog_stats.merge(given.stats());
        }
        let mut app = AppStats::default();
        for f in &out.factories {
            app.merge(&f.stats);
        }
        let end = out.summary.last_ts.unwrap_or(0);
        let first = out.summary.first_ts;
        let mut last = Group {
            connections: out.connections,
            ..Group::default()
        };
        for f in out.factories {
            last.tls.extend(f.tls);
            last.websocket.extend(f.websocket);
            last.http.extend(f.http);
            last.dns_tcp.extend(f.dns_tcp);
        }
        emitter.group(u64::MAX, Some(last), first);
        emitter.finish(end, first);
        // WebSockets over HTTP/3 (RFC 9220) are the QUIC tracker's.
        app.websocket.merge(emitter.quic.websocket_stats());
        let stats = Stats {
            decode: out.summary.decode.clone(),
            tcp: out.tcp,
            app,
            dns: emitter.dns.stats().clone(),
            keylog: keylog_stats,
            quic: emitter.quic.stats().clone(),
        };
        Ok(StreamEnd {
            summary: out.summary,
            stats,
        })
    }
}

/// Records that became final during an analysis ([`Analyzer::analyze_into`]), a batch at a
/// time. Within a batch, `timings[i]` belongs to `http[i]` (`http_index` counts within the batch).
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct Records {
    /// Finished TCP connections.
    pub connections: Vec<ConnectionRecord>,
    /// Finished TLS handshakes.
    pub tls: Vec<TlsRecord>,
    /// Finished HTTP requests.
    pub http: Vec<HttpRecord>,
    /// The HAR phases of each HTTP request of this batch (same order as `http`).
    pub timings: Vec<RequestTiming>,
    /// Finished DNS queries.
    pub dns: Vec<DnsRecord>,
    /// Finished WebSocket connections.
    pub websocket: Vec<WebSocketRecord>,
    /// Finished QUIC connections (their TLS rows are in `tls`).
    pub quic: Vec<QuicRecord>,
}

impl Records {
    /// No record at all.
    pub fn is_empty(&self) -> bool {
        self.connections.is_empty()
            && self.tls.is_empty()
            && self.http.is_empty()
            && self.dns.is_empty()
            && self.websocket.is_empty()
            && self.quic.is_empty()
    }
}

/// Receives the records of an analysis while the capture is read ([`Analyzer::analyze_into`]):
/// a table writer that writes them out as they come, a report that keeps only its figures.
pub trait RecordSink {
    /// Records that became final. Called any number of times, always in the same order for the
    /// same capture and options, whatever the thread count.
    fn records(&mut self, records: Records);
}

impl<S: RecordSink + ?Sized> RecordSink for &mut S {
    fn records(&mut self, records: Records) {
        (**self).records(records);
    }
}

/// What [`Analyzer::analyze_into`] returns after the last batch of records.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct StreamEnd {
    /// What the capture holds: format, frames, time range, decoding counters, damage.
    pub summary: CaptureSummary,
    /// Every counter of every layer for the whole capture (as [`Analysis::stats`]).
    pub stats: Stats,
}

/// The result of analysing one capture: plain records (`Option` = not observed) and counters.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Analysis {
    /// What the capture holds: format, frames, time range, decoding counters, damage.
    pub summary: CaptureSummary,
    /// One record per TCP connection, sorted by `conn_id`.
    pub connections: Vec<ConnectionRecord>,
    /// One record per TLS handshake (over TCP or QUIC), sorted by `conn_id`.
    pub tls: Vec<TlsRecord>,
    /// One record per HTTP request, sorted by (`conn_id`, `request_index`).
    pub http: Vec<HttpRecord>,
    /// One record per DNS query, sorted by `query_frame`.
    pub dns: Vec<DnsRecord>,
    /// One record per WebSocket connection, sorted by `conn_id`.
    pub websocket: Vec<WebSocketRecord>,
    /// One record per QUIC connection, sorted by `conn_id`.
    pub quic: Vec<QuicRecord>,
    /// The HAR phases of each HTTP request (same order as `http`).
    pub timings: Vec<RequestTiming>,
    /// Every counter of every layer, for the whole capture (filters do not change them):
    /// decoding, TCP tracking, the application parsers, DNS matching, the key log (all zero
    /// without one). [`Stats::limits`] names the limits that were hit.
    pub stats: Stats,
}

impl Analysis {
    /// The connection of a `conn_id` (records are sorted by it).
    pub fn connection(&self, conn_id: u64) -> Option<&ConnectionRecord> {
        self.connections
            .binary_search_by_key(&conn_id, |c| c.conn_id)
            .ok()
            .and_then(|i| self.connections.get(i))
    }

    /// The records that pass `filter` (see [`Filter`]); the summary and the counters stay those
    /// of the whole capture. Without a condition this is the analysis itself (borrowed);
    /// otherwise only the kept records are copied.
    pub fn filtered(&self, filter: &Filter) -> Cow<'_, Analysis> {
        if filter.is_empty() {
            return Cow::Borrowed(self);
        }
        let first = self.summary.first_ts;
        let [keep_conn, mut keep_tls, keep_http] =
            keep_masks(filter, first, &self.connections, &self.tls, &self.http);
        let keep_quic = quic_mask(filter, first, &self.quic, &self.tls, &mut keep_tls);
        let (mut http, mut timings) = (Vec::new(), Vec::new());
        for ((h, t), _) in self
            .http
            .iter()
            .zip(&self.timings)
            .zip(&keep_http)
            .filter(|(_, &k)| k)
        {
            timings.push(RequestTiming {
                http_index: http.len(),
                ..t.clone()
            });
            http.push(h.clone());
        }
        let keep_dns: Vec<bool> = self
            .dns
            .iter()
            .map(|d| filter.matches_dns(d, first))
            .collect();
        let websocket = self
            .websocket
            .iter()
            .filter(|w| conn_kept(&self.connections, &keep_conn, w.conn_id))
            .cloned()
            .collect();
        Cow::Owned(Analysis {
            websocket,
            connections: keep(&self.connections, &keep_conn),
            tls: keep(&self.tls, &keep_tls),
            http,
            timings,
            dns: keep(&self.dns, &keep_dns),
            quic: keep(&self.quic, &keep_quic),
            summary: self.summary.clone(),
            stats: self.stats.clone(),
        })
    }
}

/// Whether the connection `id` of `connections` (sorted by `conn_id`) is kept by `mask`: a
/// WebSocket row follows its connection.
fn conn_kept(connections: &[ConnectionRecord], mask: &[bool], id: u64) -> bool {
    connections
        .binary_search_by_key(&id, |c| c.conn_id)
        .ok()
        .and_then(|i| mask.get(i))
        .copied()
        .unwrap_or(false)
}

/// Which QUIC records `filter` keeps (by their endpoints, SNI and start), and the same for
/// their TLS rows in `keep_tls` (whose entries for QUIC rows `keep_masks` cannot decide: they
/// have no TCP connection).
fn quic_mask(
    filter: &Filter,
    first: Option<i64>,
    quic: &[QuicRecord],
    tls: &[TlsRecord],
    keep_tls: &mut [bool],
) -> Vec<bool> {
    use crate::record::TlsTransport;
    if filter.is_empty() {
        return vec![true; quic.len()];
    }
    let sni = |id: u64| {
        tls.iter()
            .find(|t| t.conn_id == id && t.transport == TlsTransport::Quic)
            .and_then(|t| t.sni.as_deref())
    };
    let keep: Vec<bool> = quic
        .iter()
        .map(|q| filter.matches_quic(q, sni(q.conn_id), first))
        .collect();
    for (t, k) in tls.iter().zip(keep_tls.iter_mut()) {
        if t.transport == TlsTransport::Quic {
            *k = quic
                .iter()
                .position(|q| q.conn_id == t.conn_id)
                .is_some_and(|i| keep.get(i).copied().unwrap_or(false));
        }
    }
    keep
}

/// The items of `items` whose `mask` entry is true, moved.
fn kept<T>(items: Vec<T>, mask: &[bool]) -> Vec<T> {
    if mask.len() == items.len() && mask.iter().all(|&k| k) {
        // No filter (or one every item passes): not moved through a filtering collect.
        return items;
    }
    items
        .into_iter()
        .zip(mask)
        .filter(|(_, &k)| k)
        .map(|(x, _)| x)
        .collect()
}

/// The items of `items` whose `mask` entry is true, copied.
fn keep<T: Clone>(items: &[T], mask: &[bool]) -> Vec<T> {
    items
        .iter()
        .zip(mask)
        .filter(|(_, &k)| k)
        .map(|(x, _)| x.clone())
        .collect()
}

/// Which connection, TLS and HTTP records of `connections`, `tls` and `http` (each sorted by
/// `conn_id`, HTTP then by `request_index`) pass `filter`: the one definition of
/// [`Analysis::filtered`] and of the batches of [`Analyzer::analyze_into`]. A connection's
/// names (SNI, HTTP hosts) are those of its records here. `first`: the capture's first
/// timestamp, for time bounds relative to it.
fn keep_masks(
    filter: &Filter,
    first: Option<i64>,
    connections: &[ConnectionRecord],
    tls: &[TlsRecord],
    http: &[HttpRecord],
) -> [Vec<bool>; 3] {
    if filter.is_empty() {
        return [
            vec![true; connections.len()],
            vec![true; tls.len()],
            vec![true; http.len()],
        ];
    }
    let names = |id| ConnNames::of(id, tls, http);
    let conn = |id: u64| {
        connections
            .binary_search_by_key(&id, |c| c.conn_id)
            .ok()
            .and_then(|i| connections.get(i))
    };
    [
        connections
            .iter()
            .map(|c| {
                filter.matches_connection(c, &names(c.conn_id))
                    && filter.in_window(first, c.start_ts)
            })
            .collect(),
        tls.iter()
            .map(|t| {
                conn(t.conn_id).is_some_and(|c| filter.matches_tls(t, c, &names(t.conn_id), first))
            })
            .collect(),
        http.iter()
            .map(|h| filter.matches_http(h, &names(h.conn_id), first))
            .collect(),
    ]
}

/// The connections a shard finished at one segment (or at the end), with their TLS and HTTP
/// records, and the DNS over TCP messages its live connections completed.
#[derive(Debug, Clone, Default)]
struct Group {
    connections: Vec<ConnectionRecord>,
    tls: Vec<TlsRecord>,
    http: Vec<HttpRecord>,
    websocket: Vec<WebSocketRecord>,
    /// Finished requests of live connections.
    open: Vec<OpenRows>,
    dns_tcp: Vec<DnsTcpItem>,
}

/// Takes a [`Group`] from a shard's factory: the factory holds the records of the connections
/// it closed since the last harvest, which are exactly those just finished.
struct AppHarvest;

impl Harvest<AppFactory> for AppHarvest {
    type Group = Group;
    fn harvest(&self, closed: Vec<ConnectionRecord>, factory: &mut AppFactory) -> Group {
        Group {
            connections: closed,
            tls: std::mem::take(&mut factory.tls),
            http: std::mem::take(&mut factory.http),
            websocket: std::mem::take(&mut factory.websocket),
            open: std::mem::take(&mut factory.open),
            dns_tcp: std::mem::take(&mut factory.dns_tcp),
        }
    }
}

/// Turns groups into batches for the sink: sorted, filtered, joined, with the DNS records
/// that became final. DNS is matched here, on the collecting thread, in frame order: the UDP
/// messages of the frames below a group's frame (sent by the reading thread), then the TCP
/// ones of the group. The first request of a connection waits (with copies of its connection
/// and TLS records) until the DNS messages up to the connection's start are matched, since
/// its `dns` phase may need one.
struct Emitter<'a> {
    outs: Vec<Out<'a>>,
    dns: DnsTracker,
    /// QUIC, fed in frame order from the same queue as DNS over UDP.
    quic: QuicTracker,
    /// DNS over UDP from the reading thread, in frame order.
    dns_queue: Arc<DnsQueue>,
    /// The inputs taken from it (emptied at once; kept for its allocation).
    dns_inputs: Vec<DnsInput>,
}

/// One filter, its sink and the first requests it holds for the DNS join.
struct Out<'a> {
    filter: &'a Filter,
    sink: &'a mut (dyn RecordSink + Send),
    held: std::collections::BinaryHeap<std::cmp::Reverse<Held>>,
}

/// A connection's first request waiting for the DNS matching to reach the connection's start.
#[derive(Debug)]
struct Held {
    conn: ConnectionRecord,
    tls: Option<TlsRecord>,
    http: HttpRecord,
}

impl Held {
    fn key(&self) -> (i64, u64) {
        (self.conn.start_ts, self.conn.conn_id)
    }
}

impl PartialEq for Held {
    fn eq(&self, other: &Held) -> bool {
        self.key() == other.key()
    }
}
impl Eq for Held {}
impl PartialOrd for Held {
    fn partial_cmp(&self, other: &Held) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Held {
    fn cmp(&self, other: &Held) -> std::cmp::Ordering {
        self.key().cmp(&other.key())
    }
}

impl Emitter<'_> {
    /// The group finished at `frame` (`u64::MAX`: at the end of the capture; `None`: a tick
    /// of the pipeline, no group), to every sink. `first` is the capture's first timestamp
    /// when known (only relative time bounds need it, and those do not stream).
    fn group(&mut self, frame: u64, g: Option<Group>, first: Option<i64>) {
        // DNS over UDP of the frames below `frame` (all read: the reading thread sent them
        // before the frames that finished this group), then over TCP, completed at `frame`.
        self.dns_queue.take_below(frame, &mut self.dns_inputs);
        for input in self.dns_inputs.drain(..) {
            input.feed(&mut self.dns, &mut self.quic);
        }
        let quic = self.quic.take_records();
        let h3 = self.quic.take_http();
        let ws = self.quic.take_websockets();
        let mut g = g.unwrap_or_default();
        for m in std::mem::take(&mut g.dns_tcp) {
            self.dns
                .on_tcp_message(m.ts_ns, m.frame, m.client, m.server, m.dir, &m.bytes);
        }
        // The capture reached the end of these connections.
        if let Some(t) = g.connections.iter().map(|c| c.end_ts).max() {
            self.dns.advance(t);
        }
        let mut dns = self.dns.take_records();
        dns.sort_by_key(|d| (d.query_frame, d.query_ts));
        g.connections.sort_by_key(|c| c.conn_id);
        g.tls.sort_by_key(|t| t.conn_id);
        g.websocket.sort_by_key(|w| (w.conn_id, w.stream_id));
        g.http.sort_by_key(|h| (h.conn_id, h.request_index));
        // Without a DNS message so far (all those of the frames below `frame` were fed) there
        // is no lookup to wait for.
        let may_have_dns = self.dns.fed_any();
        let upto = self.dns.matched_upto();
        let lookups = self.dns.lookups();
        if let Some((last, others)) = self.outs.split_last_mut() {
            for out in others {
                out.group(g.clone(), dns.clone(), may_have_dns, upto, lookups, first);
                out.quic(&quic, &h3, &ws, lookups, first);
            }
            last.group(g, dns, may_have_dns, upto, lookups, first);
            last.quic(&quic, &h3, &ws, lookups, first);
        }
    }

    /// The last batch of every sink: the DNS records still open at the end, and the first
    /// requests held for the DNS join.
    fn finish(&mut self, end: i64, first: Option<i64>) {
        self.dns.end(end);
        self.quic.end(end);
        let quic = self.quic.take_records();
        let h3 = self.quic.take_http();
        let ws = self.quic.take_websockets();
        let mut dns = self.dns.take_records();
        dns.sort_by_key(|d| (d.query_frame, d.query_ts));
        let lookups = self.dns.lookups();
        if let Some((last, others)) = self.outs.split_last_mut() {
            for out in others {
                out.quic(&quic, &h3, &ws, lookups, first);
                out.finish(dns.clone(), lookups, first);
            }
            last.quic(&quic, &h3, &ws, lookups, first);
            last.finish(dns, lookups, first);
        }
    }
}

impl Out<'_> {
    /// Finished QUIC connections and their TLS rows that pass the filter, and finished
    /// HTTP/3 requests (joined with their connection's TLS record so far and the DNS lookups
    /// matched by now), to the sink.
    fn quic(
        &mut self,
        quic: &[(QuicRecord, Option<TlsRecord>)],
        h3: &[(HttpRecord, Option<TlsRecord>)],
        ws: &[WebSocketRecord],
        lookups: &DnsLookups,
        first: Option<i64>,
    ) {
        let mut out = Records::default();
        for (q, t) in quic {
            let sni = t.as_ref().and_then(|t| t.sni.as_deref());
            if self.filter.is_empty() || self.filter.matches_quic(q, sni, first) {
                out.quic.push(q.clone());
                out.tls.extend(t.clone());
            }
        }
        // The WebSockets (RFC 9220) of the connections kept.
        if !ws.is_empty() {
            let kept: std::collections::HashSet<u64> = out.quic.iter().map(|q| q.conn_id).collect();
            out.websocket
                .extend(ws.iter().filter(|w| kept.contains(&w.conn_id)).cloned());
        }
        let mut tls = Vec::new();
        for (h, t) in h3 {
            let names = ConnNames {
                sni: t.as_ref().and_then(|t| t.sni.as_deref()),
                http: std::slice::from_ref(h),
            };
            if self.filter.is_empty() || self.filter.matches_http(h, &names, first) {
                out.http.push(h.clone());
                tls.extend(t.clone());
            }
        }
        if !out.http.is_empty() {
            out.timings = request_timings_with(&[], &tls, &out.http, lookups);
        }
        if !out.is_empty() {
            self.sink.records(out);
        }
    }

    /// A sorted group: the records that pass the filter, joined, to the sink, with the DNS
    /// records that became final and the held first requests whose connection started by
    /// `upto` (the DNS matching's time).
    fn group(
        &mut self,
        mut g: Group,
        dns: Vec<DnsRecord>,
        may_have_dns: bool,
        upto: Option<i64>,
        lookups: &DnsLookups,
        first: Option<i64>,
    ) {
        let filter = self.filter;
        let all = filter.is_empty();
        let conn = |id: u64| {
            g.connections
                .binary_search_by_key(&id, |c| c.conn_id)
                .ok()
                .and_then(|i| g.connections.get(i))
        };
        // What the filter keeps, decided on the whole group before its records are moved on.
        let [keep_conn, keep_tls, keep_http] =
            keep_masks(filter, first, &g.connections, &g.tls, &g.http);
        let mut out = Records::default();
        for (h, keep) in std::mem::take(&mut g.http).into_iter().zip(keep_http) {
            if !keep {
                continue;
            }
            let c = conn(h.conn_id);
            let waits = may_have_dns
                && h.request_index == 0
                && h.host.is_some()
                && c.is_some_and(|c| upto.is_none_or(|u| u < c.start_ts));
            match c.filter(|_| waits) {
                Some(c) => {
                    let tls = g.tls.binary_search_by_key(&h.conn_id, |t| t.conn_id).ok();
                    self.held.push(std::cmp::Reverse(Held {
                        conn: c.clone(),
                        tls: tls.and_then(|i| g.tls.get(i)).cloned(),
                        http: h,
                    }));
                }
                None => out.http.push(h),
            }
        }
        out.timings = request_timings_with(&g.connections, &g.tls, &out.http, lookups);
        // Requests of live connections (never a first request): their phases need nothing
        // but the row and whether the TLS session was resumed.
        for o in std::mem::take(&mut g.open) {
            let names = ConnNames {
                sni: o.sni.as_deref(),
                http: &o.http,
            };
            let keep: Vec<bool> = o
                .http
                .iter()
                .map(|h| all || filter.matches_http(h, &names, first))
                .collect();
            let rows = kept(o.http, &keep);
            let base = out.http.len();
            out.timings.extend(
                request_timings_with(&[], &[], &rows, lookups)
                    .into_iter()
                    .map(|t| RequestTiming {
                        http_index: base + t.http_index,
                        tls_resumed: o.tls_resumed,
                        sni: o.sni.clone(),
                        ..t
                    }),
            );
            out.http.extend(rows);
        }
        // The held first requests whose connection started by `upto`.
        let mut ready = Vec::new();
        while let Some(std::cmp::Reverse(h)) = self.held.peek() {
            if upto.is_none_or(|u| u < h.conn.start_ts) {
                break;
            }
            if let Some(std::cmp::Reverse(h)) = self.held.pop() {
                ready.push(h);
            }
        }
        self.join_held(ready, lookups, &mut out);
        out.tls = kept(g.tls, &keep_tls);
        out.websocket = std::mem::take(&mut g.websocket)
            .into_iter()
            .filter(|w| all || conn_kept(&g.connections, &keep_conn, w.conn_id))
            .collect();
        out.connections = kept(g.connections, &keep_conn);
        out.dns = dns
            .into_iter()
            .filter(|d| filter.matches_dns(d, first))
            .collect();
        if !out.is_empty() {
            self.sink.records(out);
        }
    }

    /// Joins `held` first requests (the DNS matching has passed their connections' start)
    /// and appends them to `out`.
    fn join_held(&self, mut held: Vec<Held>, lookups: &DnsLookups, out: &mut Records) {
        if held.is_empty() {
            return;
        }
        held.sort_by_key(|h| h.conn.conn_id);
        let mut connections = Vec::with_capacity(held.len());
        let mut tls = Vec::new();
        let mut http = Vec::with_capacity(held.len());
        for h in held {
            connections.push(h.conn);
            tls.extend(h.tls);
            http.push(h.http);
        }
        let base = out.http.len();
        out.timings.extend(
            request_timings_with(&connections, &tls, &http, lookups)
                .into_iter()
                .map(|t| RequestTiming {
                    http_index: base + t.http_index,
                    ..t
                }),
        );
        out.http.extend(http);
    }

    /// The last batch: the DNS records still open at the end, and the first requests held for
    /// the DNS join.
    fn finish(&mut self, dns: Vec<DnsRecord>, lookups: &DnsLookups, first: Option<i64>) {
        let held: Vec<Held> = std::mem::take(&mut self.held)
            .into_iter()
            .map(|std::cmp::Reverse(h)| h)
            .collect();
        let mut out = Records::default();
        self.join_held(held, lookups, &mut out);
        out.dns = dns
            .into_iter()
            .filter(|d| self.filter.matches_dns(d, first))
            .collect();
        if !out.is_empty() {
            self.sink.records(out);
        }
    }
}

/// Keeps every batch, for [`Analyzer::analyze`].
#[derive(Debug, Default)]
struct Collect(Records);

impl RecordSink for Collect {
    fn records(&mut self, mut r: Records) {
        let base = self.0.http.len();
        for t in &mut r.timings {
            t.http_index += base;
        }
        self.0.connections.append(&mut r.connections);
        self.0.tls.append(&mut r.tls);
        self.0.http.append(&mut r.http);
        self.0.timings.append(&mut r.timings);
        self.0.dns.append(&mut r.dns);
        self.0.websocket.append(&mut r.websocket);
        self.0.quic.append(&mut r.quic);
    }
}

impl Collect {
    /// The records in the order of [`Analysis`].
    fn into_analysis(self, end: StreamEnd) -> Analysis {
        let Records {
            mut connections,
            mut tls,
            http,
            timings,
            mut dns,
            mut websocket,
            mut quic,
        } = self.0;
        websocket.sort_by_key(|w| (w.conn_id, w.stream_id));
        quic.sort_by_key(|q| q.conn_id);
        connections.sort_by_key(|c| c.conn_id);
        tls.sort_by_key(|t| t.conn_id);
        dns.sort_by_key(|d| d.query_frame);
        let mut rows: Vec<(HttpRecord, RequestTiming)> = http.into_iter().zip(timings).collect();
        rows.sort_by_key(|(h, _)| (h.conn_id, h.request_index));
        let (http, timings) = rows
            .into_iter()
            .enumerate()
            .map(|(i, (h, t))| (h, RequestTiming { http_index: i, ..t }))
            .unzip();
        Analysis {
            summary: end.summary,
            connections,
            tls,
            http,
            dns,
            websocket,
            quic,
            timings,
            stats: end.stats,
        }
    }
}
