//! The entry point: [`Analyzer`] (options) → [`Analysis`] (summary, records, tables).

use std::borrow::Cow;
use std::io::Read;
use std::path::Path;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;

use polars::prelude::DataFrame;

use pcapstat_core as core;
use pcapstat_core::{
    Capture, CaptureSummary, ConnectionRecord, DecodeLimits, DnsRecord, HttpRecord, KeyLog,
    MmapChoice, QuicRecord, RecordSink, RequestTiming, Stats, StreamEnd, TcpConfig, TlsRecord,
    WebSocketRecord,
};

use crate::error::Error;
use crate::filter::Filter;
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
pub struct Analyzer {
    core: core::Analyzer,
    /// The choice given to [`Analyzer::memory_map`], for the files the `_into` methods open.
    mmap: MmapChoice,
}

/// The options of [`pcapstat_core::Analyzer`], forwarded.
macro_rules! options {
    ($($name:ident($arg:ident: $ty:ty);)*) => {$(
        #[doc = concat!("As [`pcapstat_core::Analyzer::", stringify!($name), "`].")]
        pub fn $name(self, $arg: $ty) -> Self {
            Analyzer { core: self.core.$name($arg), ..self }
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
        capture_headers(limits: Option<pcapstat_core::HeaderLimits>);
    }

    /// As [`pcapstat_core::Analyzer::memory_map`].
    pub fn memory_map(self, choice: MmapChoice) -> Self {
        Analyzer {
            core: self.core.memory_map(choice),
            mmap: choice,
        }
    }

    /// Reads an NSS key log file (`SSLKEYLOGFILE`) for [`Analyzer::keylog`]. Malformed lines
    /// are skipped and counted (`stats().keylog`), not an error.
    ///
    /// # Errors
    /// [`Error::KeyLog`] when the file cannot be read.
    pub fn keylog_file(self, path: impl AsRef<Path>) -> Result<Self, Error> {
        Ok(Analyzer {
            core: self.core.keylog_file(path)?,
            ..self
        })
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
        let mut analysis = Analysis::from(self.core.analyze_path(path)?);
        analysis.source = Some(path.display().to_string());
        Ok(analysis)
    }

    /// Analyse the files of one capture point (rotated captures, a capture split in parts) as
    /// ONE capture, their frames in timestamp order
    /// ([`pcapstat_core::Analyzer::analyze_paths_merged`]); named by
    /// [`pcapstat_core::merged_name`] (the first path and how many more).
    ///
    /// # Errors
    /// [`Error::Capture`] when a file cannot be read or is not a capture, or without a file.
    pub fn analyze_paths_merged<P: AsRef<Path>>(&self, paths: &[P]) -> Result<Analysis, Error> {
        let mut analysis = Analysis::from(self.core.analyze_paths_merged(paths)?);
        analysis.source = Some(core::merged_name(paths));
        Ok(analysis)
    }

    /// Analyse a capture read from a stream (standard input, a pipe, a socket).
    ///
    /// # Errors
    /// [`Error::Capture`] when the stream cannot be read or is not a capture.
    pub fn analyze_reader(&self, reader: impl Read + Send + 'static) -> Result<Analysis, Error> {
        Ok(self.core.analyze_reader(reader)?.into())
    }

    /// Analyse a capture held in memory.
    ///
    /// # Errors
    /// [`Error::Capture`] when the bytes are not a capture.
    pub fn analyze_bytes(&self, bytes: Vec<u8>) -> Result<Analysis, Error> {
        Ok(self.core.analyze_bytes(bytes)?.into())
    }

    /// Analyse an opened capture.
    ///
    /// # Errors
    /// [`Error::Capture`] when reading fails.
    pub fn analyze(&self, capture: Capture) -> Result<Analysis, Error> {
        Ok(self.core.analyze(capture)?.into())
    }

    /// Analyse a capture file and hand the records that pass `filter` to `sink` as they become
    /// final ([`pcapstat_core::Analyzer::analyze_into`]): nothing keeps all records, so memory
    /// stays bounded on captures of any size. Feed a [`crate::ReportBuilder`] for the report,
    /// a [`crate::TableStream`] for the table files, or both ([`crate::ReportAndTables`]). Returns the
    /// capture's summary and counters.
    ///
    /// # Errors
    /// [`Error::Capture`] when the file cannot be read or is not a capture (records may have
    /// been handed over before an I/O error in the middle of the file).
    pub fn analyze_path_into<S: RecordSink + Send + ?Sized>(
        &self,
        path: impl AsRef<Path>,
        filter: &Filter,
        sink: &mut S,
    ) -> Result<StreamEnd, Error> {
        let capture = Capture::open_with(path, self.mmap)?;
        Ok(self.core.analyze_into(capture, filter, sink)?)
    }

    /// As [`Analyzer::analyze_path_into`], for a capture read from a stream (standard input,
    /// a pipe, a socket).
    ///
    /// # Errors
    /// [`Error::Capture`] when the stream cannot be read or is not a capture.
    pub fn analyze_reader_into<S: RecordSink + Send + ?Sized>(
        &self,
        reader: impl Read + Send + 'static,
        filter: &Filter,
        sink: &mut S,
    ) -> Result<StreamEnd, Error> {
        let capture = Capture::from_reader(reader)?;
        Ok(self.core.analyze_into(capture, filter, sink)?)
    }

    /// As [`Analyzer::analyze_path_into`] for several filters in one reading, each with its
    /// sink ([`pcapstat_core::Analyzer::analyze_into_each`]).
    ///
    /// # Errors
    /// As [`Analyzer::analyze_path_into`].
    pub fn analyze_path_into_each(
        &self,
        path: impl AsRef<Path>,
        outs: &mut [(&Filter, &mut (dyn RecordSink + Send))],
    ) -> Result<StreamEnd, Error> {
        let capture = Capture::open_with(path, self.mmap)?;
        Ok(self.core.analyze_into_each(capture, outs)?)
    }

    /// As [`Analyzer::analyze_path_into`], for the files of one capture point read as one
    /// capture ([`Analyzer::analyze_paths_merged`]).
    ///
    /// # Errors
    /// As [`Analyzer::analyze_paths_merged`].
    pub fn analyze_merged_into<P: AsRef<Path>, S: RecordSink + Send + ?Sized>(
        &self,
        paths: &[P],
        filter: &Filter,
        sink: &mut S,
    ) -> Result<StreamEnd, Error> {
        let capture = Capture::open_merged(paths, self.mmap)?;
        Ok(self.core.analyze_into(capture, filter, sink)?)
    }

    /// As [`Analyzer::analyze_merged_into`] for several filters in one reading.
    ///
    /// # Errors
    /// As [`Analyzer::analyze_paths_merged`].
    pub fn analyze_merged_into_each<P: AsRef<Path>>(
        &self,
        paths: &[P],
        outs: &mut [(&Filter, &mut (dyn RecordSink + Send))],
    ) -> Result<StreamEnd, Error> {
        let capture = Capture::open_merged(paths, self.mmap)?;
        Ok(self.core.analyze_into_each(capture, outs)?)
    }

    /// As [`Analyzer::analyze_path_into_each`] for a file already open, such as standard input
    /// ([`Capture::from_file`]: mapped when it is a regular file and the analyzer maps files,
    /// else read as a stream).
    ///
    /// # Errors
    /// As [`Analyzer::analyze_path_into`].
    pub fn analyze_file_into_each(
        &self,
        file: std::fs::File,
        outs: &mut [(&Filter, &mut (dyn RecordSink + Send))],
    ) -> Result<StreamEnd, Error> {
        let capture = Capture::from_file(file, self.mmap)?;
        Ok(self.core.analyze_into_each(capture, outs)?)
    }

    /// As [`Analyzer::analyze_reader_into`] for several filters in one reading.
    ///
    /// # Errors
    /// As [`Analyzer::analyze_reader_into`].
    pub fn analyze_reader_into_each(
        &self,
        reader: impl Read + Send + 'static,
        outs: &mut [(&Filter, &mut (dyn RecordSink + Send))],
    ) -> Result<StreamEnd, Error> {
        let capture = Capture::from_reader(reader)?;
        Ok(self.core.analyze_into_each(capture, outs)?)
    }

    /// As [`Analyzer::analyze_path_into`], for a capture held in memory.
    ///
    /// # Errors
    /// [`Error::Capture`] when the bytes are not a capture.
    pub fn analyze_bytes_into<S: RecordSink + Send + ?Sized>(
        &self,
        bytes: Vec<u8>,
        filter: &Filter,
        sink: &mut S,
    ) -> Result<StreamEnd, Error> {
        let capture = Capture::from_bytes(bytes)?;
        Ok(self.core.analyze_into(capture, filter, sink)?)
    }
}

impl From<core::Analyzer> for Analyzer {
    /// The options of `options`; the `_into` methods then read files without mapping them
    /// (core's choice is not readable: set it again with [`Analyzer::memory_map`]).
    fn from(options: core::Analyzer) -> Self {
        Analyzer {
            core: options,
            mmap: MmapChoice::never(),
        }
    }
}

impl From<core::Analysis> for Analysis {
    /// The records and counters of `a`, without a name ([`Analysis::set_source`]).
    fn from(a: core::Analysis) -> Self {
        Analysis {
            core: a,
            source: None,
        }
    }
}

/// The result of analysing one capture: the records and counters of
/// [`pcapstat_core::Analysis`], a name, and the tables.
#[derive(Debug, Clone)]
pub struct Analysis {
    core: core::Analysis,
    source: Option<String>,
}

impl Analysis {
    /// The records and counters, as plain Rust values.
    pub fn records(&self) -> &core::Analysis {
        &self.core
    }

    /// What the capture holds: format, frames, time range, decoding counters, damage.
    pub fn summary(&self) -> &CaptureSummary {
        &self.core.summary
    }

    /// One record per TCP connection, sorted by `conn_id`.
    pub fn connection_records(&self) -> &[ConnectionRecord] {
        &self.core.connections
    }

    /// One record per TLS handshake, sorted by `conn_id`.
    pub fn tls_records(&self) -> &[TlsRecord] {
        &self.core.tls
    }

    /// One record per HTTP request, sorted by (`conn_id`, `request_index`).
    pub fn http_records(&self) -> &[HttpRecord] {
        &self.core.http
    }

    /// The HAR phases of each HTTP request (same order as [`Analysis::http_records`]).
    pub fn request_timings(&self) -> &[RequestTiming] {
        &self.core.timings
    }

    /// One record per DNS query, sorted by `query_frame`.
    pub fn dns_records(&self) -> &[DnsRecord] {
        &self.core.dns
    }

    /// One record per WebSocket connection, sorted by `conn_id`.
    pub fn websocket_records(&self) -> &[WebSocketRecord] {
        &self.core.websocket
    }

    /// One record per QUIC connection, sorted by `conn_id`.
    pub fn quic_records(&self) -> &[QuicRecord] {
        &self.core.quic
    }

    /// Every counter of the analysis in one tree (decoding, TCP, application parsers, DNS,
    /// key log; docs/summary.md, "Counters"); [`Stats::limits`] gives the limits that were hit.
    /// Filters do not change them.
    pub fn stats(&self) -> &Stats {
        &self.core.stats
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

    /// The records that pass `filter` ([`pcapstat_core::Analysis::filtered`], semantics in
    /// [`crate::filter`]); the summary and the counters stay those of the whole capture.
    /// Without a condition this is the analysis itself (borrowed).
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
        match self.core.filtered(filter) {
            Cow::Borrowed(_) => Cow::Borrowed(self),
            Cow::Owned(core) => Cow::Owned(Analysis {
                core,
                source: self.source.clone(),
            }),
        }
    }

    /// The connections table: one row per TCP connection, sorted by `conn_id`, columns as in
    /// `docs/metrics.md`.
    ///
    /// # Errors
    /// [`Error::Table`] if polars fails to build the frame.
    pub fn connections(&self) -> Result<DataFrame, Error> {
        tables::connections_frame(self.source.as_deref(), &self.core.connections)
    }

    /// The tls table: one row per TLS handshake (`docs/metrics.md`, section "tls").
    ///
    /// # Errors
    /// [`Error::Table`] if polars fails to build the frame.
    pub fn tls(&self) -> Result<DataFrame, Error> {
        tables::tls_frame(self.source.as_deref(), &self.core.tls)
    }

    /// The http table: one row per request with its DNS, connect, TLS, send, wait and receive
    /// phases (`docs/metrics.md`, section "http").
    ///
    /// # Errors
    /// [`Error::Table`] if polars fails to build the frame.
    pub fn http(&self) -> Result<DataFrame, Error> {
        tables::http_frame(self.source.as_deref(), &self.core.http, &self.core.timings)
    }

    /// The websocket table: one row per WebSocket connection (`docs/metrics.md`, section
    /// "websocket").
    ///
    /// # Errors
    /// [`Error::Table`] if polars fails to build the frame.
    pub fn websocket(&self) -> Result<DataFrame, Error> {
        tables::websocket_frame(self.source.as_deref(), &self.core.websocket)
    }

    /// The dns table: one row per query (`docs/metrics.md`, section "dns").
    ///
    /// # Errors
    /// [`Error::Table`] if polars fails to build the frame.
    pub fn dns(&self) -> Result<DataFrame, Error> {
        tables::dns_frame(self.source.as_deref(), &self.core.dns)
    }

    /// The quic table: one row per QUIC connection (`docs/metrics.md`, section "quic"; its
    /// TLS handshake is a row of the tls table with `transport` `quic`).
    ///
    /// # Errors
    /// [`Error::Table`] if polars fails to build the frame.
    pub fn quic(&self) -> Result<DataFrame, Error> {
        tables::quic_frame(self.source.as_deref(), &self.core.quic)
    }
}
