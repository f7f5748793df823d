//! Table files written while captures are read: [`TableStream`], a
//! [`RecordSink`](pcapstat_core::RecordSink) that turns each batch of records into rows of the
//! same tables as [`Analysis`](crate::Analysis) (the builders of [`crate::tables`]) a frame of
//! at most 4096 rows at a time, and writes each frame at once as CSV and NDJSON lines and as
//! compressed Parquet pages of the open row group ([`ROW_GROUP_ROWS`] rows), into the staging
//! directory of a [`TableSet`] committed at the end. What a table keeps is its compressed pages
//! until the row group ends, never its rows.

use std::collections::VecDeque;
use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use polars::prelude::{DataFrame, IntoColumn, IntoSeries, StringChunkedBuilder};

use pcapstat_core::{
    ConnectionRecord, DnsRecord, HttpRecord, QuicRecord, RecordSink, Records, RequestTiming,
    TlsRecord,
};

use crate::error::Error;
use crate::parquet_file::ParquetFile;
use crate::report::ReportBuilder;
use crate::tables::{
    connections_frame, dns_frame, http_frame, quic_frame, tls_frame, websocket_frame,
};
use crate::write::{
    disk_full, parquet_metadata, partition_value, write_error, write_text_rows, ParquetSource,
    TableSet, TextFormat,
};

/// Rows of a Parquet row group: each has exactly this many, but the file's last one (or one
/// ended by [`ROW_GROUP_BYTES`]).
pub const ROW_GROUP_ROWS: usize = 16_384;

/// Rows of one table gathered as records before they become one DataFrame: a batch of the
/// core is often a few rows (a connection, a live connection's finished requests), and a frame
/// per batch would cost more than the rows.
const FRAME_ROWS: usize = 4096;

/// Uncompressed size of a row group (its frames' estimated size): a row group ends at
/// [`ROW_GROUP_ROWS`] rows or this many bytes, whichever comes first, so that long paths, hosts
/// or TLS strings (up to the HTTP head limit, 64 KiB each) cannot make the pages kept grow with
/// the capture.
pub const ROW_GROUP_BYTES: usize = 16 << 20;

/// Memory of one table's records gathered before they become a frame (estimated: the record
/// and its strings); [`FRAME_ROWS`] bounds their number. 512 KiB: a frame of connection rows
/// (640 bytes each on x86_64) is 819 rows, one of HTTP rows with their timings (432 bytes)
/// 1 213.
const FRAME_BYTES: usize = 512 << 10;

/// The tables, in the order they are written.
const TABLES: [&str; 6] = ["connections", "tls", "http", "dns", "websocket", "quic"];

/// The first `k` values of `v` (all of them if fewer).
fn front<T>(v: &[T], k: usize) -> &[T] {
    &v[..k.min(v.len())]
}

/// Moves the records of `from` to the end of `to`, a row being `row_bytes` at least (0: a
/// `T`): `to` grows by doubling as a `Vec` does, but never past a frame's rows (the fewer of
/// [`FRAME_ROWS`] and [`FRAME_BYTES`] of rows), unless one batch is larger. A doubling `Vec` of
/// 819 connection rows holds 1 024 (640 KiB for 512 KiB).
fn append_capped<T>(to: &mut Vec<T>, from: &mut Vec<T>, row_bytes: usize) {
    let need = to.len().saturating_add(from.len());
    if need > to.capacity() {
        let row = row_bytes.max(std::mem::size_of::<T>()).max(1);
        let frame = FRAME_ROWS.min(FRAME_BYTES / row).max(1);
        let target = need.max(to.capacity().saturating_mul(2).max(8).min(frame));
        to.reserve_exact(target - to.len());
    }
    to.append(from);
}

/// Takes the runs of capture names covering the first `k` rows off `runs` (a run longer than
/// what is left keeps the rest); the rows' names, in order.
fn take_runs(
    runs: &mut VecDeque<(Option<Arc<str>>, usize)>,
    k: usize,
) -> Vec<(Option<Arc<str>>, usize)> {
    let mut out = Vec::new();
    let mut left = k;
    while left > 0 {
        let Some((name, n)) = runs.front_mut() else {
            break;
        };
        let take = (*n).min(left);
        out.push((name.clone(), take));
        *n -= take;
        left -= take;
        if *n == 0 {
            runs.pop_front();
        }
    }
    out
}

/// The `capture` column of `rows` rows named by `names` (runs of one name each; null for
/// rows of no capture); rows past the runs, if any, are null.
fn capture_column(names: &[(Option<Arc<str>>, usize)], rows: usize) -> polars::prelude::Series {
    let mut b = StringChunkedBuilder::new("capture".into(), rows);
    let mut done = 0;
    for (name, n) in names {
        for _ in 0..*n {
            match name {
                Some(v) => b.append_value(v.as_ref()),
                None => b.append_null(),
            }
        }
        done += n;
    }
    for _ in done..rows {
        b.append_null();
    }
    b.finish().into_series()
}

/// Removes the first `k` values of `v` (all of them if fewer); a whole buffer is given back.
fn drop_front<T>(v: &mut Vec<T>, k: usize) {
    if k >= v.len() {
        *v = Vec::new();
    } else {
        v.drain(..k);
    }
}

/// Estimated memory of records (their size and their strings' bytes), for [`FRAME_BYTES`].
fn connection_bytes(_: &ConnectionRecord) -> usize {
    std::mem::size_of::<ConnectionRecord>()
}

fn tls_bytes(r: &TlsRecord) -> usize {
    let h = &r.handshake;
    let strings = [&h.sni, &h.ja3, &h.ja3_hash, &h.ja4, &h.alpn]
        .into_iter()
        .map(|s| s.as_ref().map_or(0, String::len))
        .sum::<usize>();
    std::mem::size_of::<TlsRecord>()
        + strings
        + h.alpn_offered.iter().map(String::len).sum::<usize>()
}

fn http_bytes(r: &HttpRecord) -> usize {
    let x = &r.exchange;
    std::mem::size_of::<HttpRecord>()
        + [&x.method, &x.host, &x.path]
            .into_iter()
            .map(|s| {
                s.as_ref()
                    .filter(|s| s.is_heap_allocated())
                    .map_or(0, |s| s.len())
            })
            .sum::<usize>()
}

/// Memory of one websocket row, roughly (its strings are short: the host, path and close
/// reason are bounded by the HTTP head and the 123-byte reason).
const WEBSOCKET_ROW_BYTES: usize = 512;
fn quic_bytes(r: &QuicRecord) -> usize {
    std::mem::size_of::<QuicRecord>()
        + [&r.original_dcid, &r.client_cid, &r.server_cid]
            .into_iter()
            .map(|s| s.as_ref().map_or(0, Vec::len))
            .sum::<usize>()
        + 4 * r.vn_versions.len()
}

fn dns_bytes(r: &DnsRecord) -> usize {
    std::mem::size_of::<DnsRecord>()
        + r.qname.len()
        + r.addresses.len() * std::mem::size_of::<std::net::IpAddr>()
}

/// What [`TableStream`] writes, and where.
#[derive(Debug, Clone, Default)]
pub struct TableOutputs {
    /// Directory of the Parquet files (`TABLE.parquet`).
    pub parquet: Option<PathBuf>,
    /// Directory of the CSV files (`TABLE.csv`).
    pub csv: Option<PathBuf>,
    /// Directory of the NDJSON files (`TABLE.ndjson`).
    pub ndjson: Option<PathBuf>,
    /// The Hive layout: `DIR/TABLE/capture=NAME/part.EXT`, one directory per capture, without
    /// the `capture` column ([`crate::write_parquet_partition`]).
    pub partition: bool,
    /// Parquet key-value pairs written after `pcapstat.sources` (for example the options).
    pub metadata: Vec<(String, String)>,
}

impl TableOutputs {
    /// Whether any format is asked for.
    pub fn any(&self) -> bool {
        self.parquet.is_some() || self.csv.is_some() || self.ndjson.is_some()
    }
}

/// Gives the memory the allocator holds free back to the system, once a row group is written
/// (its pages, the frames' buffers and the records gathered for them were just freed).
///
/// glibc keeps freed memory in each thread's arena for reuse; with records made on the reading
/// threads and freed on the collector's, and buffers of every size between, the free memory it
/// keeps grew with the capture (about 6 MiB of the peak RSS on the 2.4 GB bulk capture,
/// docs/performance.md). `malloc_trim(0)` returns every free page of every arena; it costs a
/// walk of the free lists, once per full row group (16 384 rows), not per row. Other allocators and
/// platforms: nothing.
fn release_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        extern "C" {
            fn malloc_trim(pad: usize) -> std::os::raw::c_int;
        }
        // SAFETY: `malloc_trim` is glibc's (this target links glibc); it takes a byte count,
        // touches only the allocator's own free memory under the allocator's locks, and is safe
        // to call from any thread at any time. Rust's global allocator on this target is glibc's
        // malloc unless a program sets another one, and then this only trims glibc's (unused)
        // arenas.
        #[allow(unsafe_code)]
        unsafe {
            malloc_trim(0);
        }
    }
}

/// One output file being written.
enum Out {
    Parquet {
        path: PathBuf,
        writer: Box<ParquetFile>,
    },
    Text {
        path: PathBuf,
        file: BufWriter<File>,
        format: TextFormat,
        header: bool,
    },
}

impl std::fmt::Debug for Out {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Out::Parquet { path, .. } | Out::Text { path, .. } => {
                f.debug_tuple("Out").field(path).finish()
            }
        }
    }
}

impl Out {
    fn path(&self) -> &Path {
        match self {
            Out::Parquet { path, .. } | Out::Text { path, .. } => path,
        }
    }

    /// Adds the rows of `df` to the open row group (Parquet: encoded and compressed now, the
    /// frame is not kept) or writes them (CSV, NDJSON).
    fn write(&mut self, df: &DataFrame) -> Result<(), Error> {
        match self {
            Out::Parquet { writer, .. } => writer.add_frame(df),
            Out::Text {
                file,
                format,
                header,
                ..
            } => {
                write_text_rows(file, df, *format, *header)?;
                *header = false;
                Ok(())
            }
        }
    }

    /// Ends the open row group (Parquet): writes its pages.
    fn end_row_group(&mut self) -> Result<(), Error> {
        match self {
            Out::Parquet { writer, .. } => writer.end_row_group(),
            Out::Text { .. } => Ok(()),
        }
    }

    /// Writes what is left (the footer, with `metadata`; a CSV header for a table without
    /// rows) and syncs the file.
    fn finish(self, empty: &DataFrame, metadata: Vec<(String, String)>) -> Result<(), Error> {
        match self {
            Out::Parquet { writer, .. } => writer.finish(metadata),
            Out::Text {
                path,
                mut file,
                format,
                header,
            } => {
                if header && format == TextFormat::Csv {
                    write_text_rows(&mut file, empty, format, true)?;
                }
                std::io::Write::flush(&mut file).map_err(write_error(&path))?;
                let file = file
                    .into_inner()
                    .map_err(|e| write_error(&path)(e.into_error()))?;
                file.sync_all().map_err(write_error(&path))
            }
        }
    }
}

/// The rows of one table not yet written, and its open files.
#[derive(Debug)]
struct Table {
    name: &'static str,
    /// Rows in the open row group.
    rows: usize,
    /// Estimated size of the open row group's frames ([`ROW_GROUP_BYTES`]).
    bytes: usize,
    outs: Vec<Out>,
}

/// Writes the tables of one or more captures while they are read (see the
/// [module docs](self)): feed it the records of
/// [`Analyzer::analyze_path_into`](crate::Analyzer::analyze_path_into) between
/// [`TableStream::start_capture`] and [`TableStream::end_capture`], then
/// [`TableStream::commit`]. The files have the columns of
/// [`Analysis::connections`](crate::Analysis::connections) and its siblings (docs/metrics.md);
/// their rows come in the order they became final (sort by `conn_id`, `request_index` or
/// `query_frame` for capture order). Until the commit, the files of an earlier run stay whole;
/// dropped without a commit, nothing is written.
///
/// ```
/// # fn main() -> Result<(), pcapstat::Error> {
/// # let out = std::env::temp_dir().join(format!("pcapstat-doc-stream-{}", std::process::id()));
/// use pcapstat::{Analyzer, TableOutputs, TableStream};
/// let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../testdata/lab/e_dns/capture.pcap");
/// let outputs = TableOutputs { parquet: Some(out.clone()), ..TableOutputs::default() };
/// let mut tables = TableStream::begin(&outputs)?;
/// tables.start_capture(path);
/// Analyzer::new().analyze_path_into(path, &Default::default(), &mut tables)?;
/// tables.end_capture(path)?;
/// tables.commit()?;
/// assert!(out.join("dns.parquet").exists());
/// # std::fs::remove_dir_all(&out).ok();
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct TableStream {
    tables: Vec<Table>,
    /// Empty frames with each table's columns (the schema of its files).
    empty: Vec<DataFrame>,
    formats: Vec<(PathBuf, Option<TextFormat>)>,
    partition: bool,
    metadata: Vec<(String, String)>,
    /// Rows kept per table before they are written ([`ROW_GROUP_ROWS`]; smaller in tests).
    row_group_rows: usize,
    /// The `capture` column of the rows to come.
    capture: Option<Arc<str>>,
    /// The `capture` column of each table's records not yet made into frames: runs of rows
    /// of one capture, in order. In one file per table a frame takes rows of several captures
    /// (a directory of small files would otherwise make a page per column per file: pages of
    /// a few rows, each kept in the page index until the footer).
    runs: [VecDeque<(Option<Arc<str>>, usize)>; TABLES.len()],
    /// Records not yet made into frames (at most [`FRAME_ROWS`] per table).
    raw: Records,
    /// Estimated memory of `raw`, per table ([`FRAME_BYTES`]).
    raw_bytes: [usize; TABLES.len()],
    /// Descriptions of the captures in the files being written (`pcapstat.sources`).
    sources: Vec<String>,
    /// The first error met while handling a batch (reported by the next call that returns).
    error: Option<Error>,
    sets: Vec<(PathBuf, TableSet)>,
}

impl TableStream {
    /// Starts a run: one [`TableSet`] per directory given (the same directory for two formats
    /// is one set).
    ///
    /// # Errors
    /// [`Error::Write`] when a directory cannot be created or cleaned.
    pub fn begin(outputs: &TableOutputs) -> Result<TableStream, Error> {
        let mut sets: Vec<(PathBuf, TableSet)> = Vec::new();
        let mut formats = Vec::new();
        for (dir, format) in [
            (&outputs.parquet, None),
            (&outputs.csv, Some(TextFormat::Csv)),
            (&outputs.ndjson, Some(TextFormat::Ndjson)),
        ] {
            let Some(dir) = dir else { continue };
            if !sets.iter().any(|(d, _)| d == dir) {
                sets.push((dir.clone(), TableSet::begin(dir)?));
            }
            let staging = sets
                .iter()
                .find(|(d, _)| d == dir)
                .map_or(dir.as_path(), |(_, s)| s.staging_dir());
            formats.push((staging.to_path_buf(), format));
        }
        let empty = vec![
            connections_frame(None, &[])?,
            tls_frame(None, &[])?,
            http_frame(None, &[], &[])?,
            dns_frame(None, &[])?,
            websocket_frame(None, &[])?,
            quic_frame(None, &[])?,
        ];
        let empty = if outputs.partition {
            empty
                .into_iter()
                .map(|df| df.drop("capture"))
                .collect::<Result<_, _>>()?
        } else {
            empty
        };
        Ok(TableStream {
            tables: TABLES
                .iter()
                .map(|&name| Table {
                    name,
                    rows: 0,
                    bytes: 0,
                    outs: Vec::new(),
                })
                .collect(),
            empty,
            formats,
            partition: outputs.partition,
            metadata: outputs.metadata.clone(),
            row_group_rows: ROW_GROUP_ROWS,
            capture: None,
            runs: Default::default(),
            sources: Vec::new(),
            error: None,
            raw: Records::default(),
            raw_bytes: [0; TABLES.len()],
            sets,
        })
    }

    /// The rows to come are those of the capture `name` (the `capture` column; in the Hive
    /// layout, the name of its partition directory).
    pub fn start_capture(&mut self, name: &str) {
        // Rows of an earlier capture not ended keep its name (its runs); in the Hive layout
        // they go to its own partition first.
        if self.partition {
            if let Err(e) = self.make_frames() {
                self.error.get_or_insert(e);
            }
        }
        self.capture = Some(Arc::from(name));
    }

    /// The capture's rows are all in: `description` joins `pcapstat.sources` in the Parquet
    /// metadata. In the Hive layout, its files are finished.
    ///
    /// # Errors
    /// The first error met while writing its rows ([`Error::Write`], [`Error::DiskFull`],
    /// [`Error::Table`]); the stream is then unusable (drop it: nothing is committed).
    pub fn end_capture(&mut self, description: &str) -> Result<(), Error> {
        self.take_error()?;
        self.sources.push(description.to_string());
        if self.partition {
            self.make_frames()?;
            self.finish_files()?;
            self.sources.clear();
        }
        self.capture = None;
        Ok(())
    }

    /// The capture could not be read: in the Hive layout its partition is removed. In one file
    /// per table, rows handed over before the error stay (reading fails before the first row
    /// unless I/O fails in the middle of a file).
    ///
    /// # Errors
    /// [`Error::Write`] when its partition cannot be removed.
    pub fn abort_capture(&mut self) -> Result<(), Error> {
        self.take_error()?;
        if self.partition {
            self.raw = Records::default();
            self.raw_bytes = [0; TABLES.len()];
            for r in &mut self.runs {
                r.clear();
            }
        }
        if self.partition {
            for t in &mut self.tables {
                t.rows = 0;
                t.bytes = 0;
                for out in t.outs.drain(..) {
                    let path = out.path().to_path_buf();
                    drop(out);
                    std::fs::remove_file(&path).map_err(write_error(&path))?;
                }
            }
        }
        self.capture = None;
        Ok(())
    }

    /// Writes what is left, finishes every file and moves the set into place; returns the
    /// final paths.
    ///
    /// # Errors
    /// The first error met while writing ([`Error::Write`], [`Error::DiskFull`],
    /// [`Error::Table`]); nothing is committed then.
    pub fn commit(mut self) -> Result<Vec<PathBuf>, Error> {
        self.take_error()?;
        if !self.partition {
            self.finish_files()?;
        }
        let mut paths = Vec::new();
        for (_, set) in std::mem::take(&mut self.sets) {
            paths.extend(set.commit()?);
        }
        Ok(paths)
    }

    fn take_error(&mut self) -> Result<(), Error> {
        match self.error.take() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// Adds the rows of a batch; makes them frames [`FRAME_ROWS`] at a time, and writes a
    /// table's rows once it holds [`ROW_GROUP_ROWS`].
    fn add(&mut self, mut r: Records) -> Result<(), Error> {
        let b = &mut self.raw_bytes;
        b[0] += r.connections.iter().map(connection_bytes).sum::<usize>();
        b[1] += r.tls.iter().map(tls_bytes).sum::<usize>();
        b[2] += r.http.iter().map(http_bytes).sum::<usize>()
            + r.timings.len() * std::mem::size_of::<RequestTiming>();
        b[3] += r.dns.iter().map(dns_bytes).sum::<usize>();
        b[4] += r.websocket.len() * WEBSOCKET_ROW_BYTES;
        b[5] += r.quic.iter().map(quic_bytes).sum::<usize>();
        let rows = [
            r.connections.len(),
            r.tls.len(),
            r.http.len(),
            r.dns.len(),
            r.websocket.len(),
            r.quic.len(),
        ];
        for (runs, n) in self.runs.iter_mut().zip(rows) {
            match runs.back_mut() {
                _ if n == 0 => {}
                Some((name, k)) if *name == self.capture => *k += n,
                _ => runs.push_back((self.capture.clone(), n)),
            }
        }
        let raw = &mut self.raw;
        // An HTTP row is its record and its timing (the two are made frames together).
        let http_row = std::mem::size_of::<HttpRecord>() + std::mem::size_of::<RequestTiming>();
        append_capped(&mut raw.connections, &mut r.connections, 0);
        append_capped(&mut raw.tls, &mut r.tls, 0);
        append_capped(&mut raw.http, &mut r.http, http_row);
        append_capped(&mut raw.timings, &mut r.timings, http_row);
        append_capped(&mut raw.dns, &mut r.dns, 0);
        append_capped(&mut raw.websocket, &mut r.websocket, WEBSOCKET_ROW_BYTES);
        append_capped(&mut raw.quic, &mut r.quic, 0);
        for i in 0..TABLES.len() {
            if self.raw_rows(i) >= FRAME_ROWS.min(self.row_group_rows.max(1))
                || self.raw_bytes[i] >= FRAME_BYTES
            {
                self.make_frame(i)?;
            }
        }
        Ok(())
    }

    fn raw_rows(&self, i: usize) -> usize {
        match i {
            0 => self.raw.connections.len(),
            1 => self.raw.tls.len(),
            2 => self.raw.http.len(),
            3 => self.raw.dns.len(),
            4 => self.raw.websocket.len(),
            _ => self.raw.quic.len(),
        }
    }

    /// Makes the records of table `i` not yet in a frame frames (of the current capture) and
    /// hands them to the table's files; a row group ends at exactly [`ROW_GROUP_ROWS`] rows
    /// (or [`ROW_GROUP_BYTES`]), the records beyond it start the next one.
    fn make_frame(&mut self, i: usize) -> Result<(), Error> {
        loop {
            let raw_rows = self.raw_rows(i);
            if raw_rows == 0 {
                return Ok(());
            }
            let room = self
                .row_group_rows
                .max(1)
                .saturating_sub(self.tables[i].rows)
                .max(1);
            let k = raw_rows.min(room);
            // The `capture` column of these `k` rows: one name (the frame is built with it)
            // or several (the column is replaced).
            let names = take_runs(&mut self.runs[i], k);
            let capture = names.first().and_then(|(name, _)| name.as_deref());
            // What is left keeps its share of the estimate.
            self.raw_bytes[i] -= self.raw_bytes[i] / raw_rows * k;
            if k == raw_rows {
                self.raw_bytes[i] = 0;
            }
            let raw = &mut self.raw;
            let df = match i {
                0 => connections_frame(capture, front(&raw.connections, k))?,
                1 => tls_frame(capture, front(&raw.tls, k))?,
                2 => http_frame(capture, front(&raw.http, k), front(&raw.timings, k))?,
                3 => dns_frame(capture, front(&raw.dns, k))?,
                4 => websocket_frame(capture, front(&raw.websocket, k))?,
                _ => quic_frame(capture, front(&raw.quic, k))?,
            };
            // Taken out in place: the rest moves to the front of the same buffer.
            match i {
                0 => drop_front(&mut raw.connections, k),
                1 => drop_front(&mut raw.tls, k),
                2 => {
                    drop_front(&mut raw.http, k);
                    drop_front(&mut raw.timings, k);
                }
                3 => drop_front(&mut raw.dns, k),
                4 => drop_front(&mut raw.websocket, k),
                _ => drop_front(&mut raw.quic, k),
            }
            let df = if self.partition {
                df.drop("capture")?
            } else if names.len() > 1 {
                let mut df = df;
                df.with_column(capture_column(&names, k).into_column())?;
                df
            } else {
                df
            };
            if self.tables[i].outs.is_empty() {
                self.open(i)?;
            }
            let t = &mut self.tables[i];
            t.rows += df.height();
            t.bytes += df.estimated_size();
            for out in &mut t.outs {
                out.write(&df).map_err(|e| disk_full(e, out.path(), &df))?;
            }
            if t.rows >= self.row_group_rows || t.bytes >= ROW_GROUP_BYTES {
                self.end_row_group(i)?;
                // Only after a full row group: one trim per 16 384 rows, not one per table at
                // every capture of a directory read file by file.
                release_freed_memory();
            }
        }
    }

    /// Makes every table's records frames: in the Hive layout, before the capture (its
    /// partition) changes.
    fn make_frames(&mut self) -> Result<(), Error> {
        (0..TABLES.len()).try_for_each(|i| self.make_frame(i))
    }

    /// Writes every row of table `i` not yet written into each of its files (opened on first
    /// use).
    fn flush(&mut self, i: usize) -> Result<(), Error> {
        self.make_frame(i)?;
        if self.tables[i].outs.is_empty() {
            self.open(i)?;
        }
        self.end_row_group(i)
    }

    /// Ends the open row group of table `i` in each of its files.
    fn end_row_group(&mut self, i: usize) -> Result<(), Error> {
        let t = &mut self.tables[i];
        t.rows = 0;
        t.bytes = 0;
        for out in &mut t.outs {
            out.end_row_group()
                .map_err(|e| disk_full(e, out.path(), &self.empty[i]))?;
        }
        Ok(())
    }

    /// Creates the files of table `i` in the staging directories.
    fn open(&mut self, i: usize) -> Result<(), Error> {
        let name = self.tables[i].name;
        let mut outs = Vec::new();
        for (staging, format) in &self.formats {
            let (dir, file) = if self.partition {
                let capture = self.capture.as_deref().unwrap_or_default();
                let part = staging
                    .join(name)
                    .join(format!("capture={}", partition_value(capture)));
                (part, "part")
            } else {
                (staging.clone(), name)
            };
            std::fs::create_dir_all(&dir).map_err(write_error(&dir))?;
            let ext = format.map_or("parquet", TextFormat::extension);
            let path = dir.join(format!("{file}.{ext}"));
            let created = File::create(&path).map_err(write_error(&path))?;
            outs.push(match format {
                None => Out::Parquet {
                    writer: Box::new(ParquetFile::new(
                        path.clone(),
                        created,
                        self.empty[i].schema(),
                    )?),
                    path,
                },
                Some(format) => Out::Text {
                    path,
                    file: BufWriter::new(created),
                    format: *format,
                    header: true,
                },
            });
        }
        self.tables[i].outs = outs;
        Ok(())
    }

    /// Writes every table's pending rows and finishes its files (a table without rows gets
    /// files with its columns and no row).
    fn finish_files(&mut self) -> Result<(), Error> {
        let source = ParquetSource {
            metadata: std::iter::once(("pcapstat.sources".to_string(), self.sources.join("\n")))
                .chain(self.metadata.iter().cloned())
                .collect(),
        };
        for i in 0..self.tables.len() {
            self.flush(i)?;
            let name = self.tables[i].name;
            for out in std::mem::take(&mut self.tables[i].outs) {
                let path = out.path().to_path_buf();
                out.finish(&self.empty[i], parquet_metadata(name, &source))
                    .map_err(|e| disk_full(e, &path, &self.empty[i]))?;
            }
        }
        Ok(())
    }
}

impl RecordSink for TableStream {
    fn records(&mut self, records: Records) {
        if self.error.is_none() {
            if let Err(e) = self.add(records) {
                self.error = Some(e);
            }
        }
    }
}

/// Records to a report and, when tables are written, to a [`TableStream`], in one pass.
#[derive(Debug)]
pub struct ReportAndTables<'a> {
    /// The report being made.
    pub report: &'a mut ReportBuilder,
    /// The table files being written, if any.
    pub tables: Option<&'a mut TableStream>,
    /// The HAR being gathered, if any.
    pub har: Option<&'a mut crate::har::HarBuilder>,
    /// The HTML report being gathered, if any.
    pub html: Option<&'a mut crate::html::HtmlBuilder>,
}

impl RecordSink for ReportAndTables<'_> {
    fn records(&mut self, records: Records) {
        self.report.add(&records);
        if let Some(h) = self.har.as_deref_mut() {
            h.add(&records);
        }
        if let Some(h) = self.html.as_deref_mut() {
            h.add(&records);
        }
        if let Some(t) = self.tables.as_deref_mut() {
            t.records(records);
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::{Analysis, Analyzer};
    use polars::prelude::{
        ChunkCompareEq, ChunkFull, IntoColumn, ParquetReader, SerReader, SortMultipleOptions,
        StringChunked,
    };

    pub(crate) fn testdata(rel: &str) -> String {
        format!("{}/../../testdata/{rel}", env!("CARGO_MANIFEST_DIR"))
    }

    /// The shared captures' directory: `$PCAPSTAT_SHARED`, else `../shared` beside the
    /// repository.
    pub(crate) fn shared() -> std::path::PathBuf {
        std::env::var_os("PCAPSTAT_SHARED")
            .map(std::path::PathBuf::from)
            .unwrap_or_else(|| {
                std::path::PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared"))
            })
    }

    /// One capture per scenario of the shared lab set (`shared()/lab`), with the key log
    /// embedded where there is one, sorted. Without the set: none, said so for `what`, except
    /// with `CI=true`, where it fails.
    pub(crate) fn shared_lab_captures(what: &str) -> Vec<String> {
        let lab = shared().join("lab");
        if !lab.is_dir() {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "shared lab captures not found at {} (set PCAPSTAT_SHARED); CI=true: not skipped",
                lab.display()
            );
            eprintln!(
                "skipped the shared lab captures in {what}: not found at {}",
                lab.display()
            );
            return Vec::new();
        }
        let mut found: Vec<String> = std::fs::read_dir(&lab)
            .into_iter()
            .flatten()
            .flatten()
            .flat_map(|d| {
                ["capture-with-keys.pcapng", "capture.pcapng", "capture.pcap"]
                    .map(|f| d.path().join(f))
                    .into_iter()
                    .find(|p| p.exists())
            })
            .map(|p| p.display().to_string())
            .collect();
        found.sort();
        assert!(found.len() >= 5, "{found:?}");
        found
    }

    /// TLS with HTTP (decrypted with the embedded keys), DNS, failed connections, HTTP.
    pub(crate) const CAPTURES: [&str; 4] = [
        "lab/d_tls_resumption/capture-with-keys.pcapng",
        "lab/e_dns/capture.pcap",
        "lab/f_refused_syndrop/capture.pcap",
        "link-null-http.pcap",
    ];

    /// The records of `a` cut into batches of 1 to `size` records of each kind, in an order
    /// mixed by `seed` (deterministic; `None`: in order): batch `k` holds the `k`-th piece of
    /// each kind.
    pub(crate) fn batches(a: &Analysis, size: usize, seed: Option<u64>) -> Vec<Records> {
        fn cut<T: Clone>(items: &[T], size: usize) -> Vec<Vec<T>> {
            let mut out = Vec::new();
            let mut at = 0;
            while at < items.len() {
                let n = (1 + (out.len() * 7) % size).min(items.len() - at);
                out.push(items[at..at + n].to_vec());
                at += n;
            }
            out
        }
        let c = cut(a.connection_records(), size);
        let t = cut(a.tls_records(), size);
        let h = cut(a.http_records(), size);
        let tm = cut(a.request_timings(), size);
        let d = cut(a.dns_records(), size);
        let w = cut(a.websocket_records(), size);
        let q = cut(a.quic_records(), size);
        let n = [c.len(), t.len(), h.len(), d.len(), w.len(), q.len()]
            .into_iter()
            .max()
            .unwrap_or(0);
        let mut out: Vec<(u64, Records)> = (0..n)
            .map(|k| {
                let mut r = Records::default();
                r.connections = c.get(k).cloned().unwrap_or_default();
                r.tls = t.get(k).cloned().unwrap_or_default();
                r.http = h.get(k).cloned().unwrap_or_default();
                r.timings = tm.get(k).cloned().unwrap_or_default();
                for (i, timing) in r.timings.iter_mut().enumerate() {
                    timing.http_index = i;
                }
                r.dns = d.get(k).cloned().unwrap_or_default();
                r.websocket = w.get(k).cloned().unwrap_or_default();
                r.quic = q.get(k).cloned().unwrap_or_default();
                let mix = seed.map_or(k as u64, |seed| {
                    (k as u64 ^ seed).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 17
                });
                (mix, r)
            })
            .collect();
        out.sort_by_key(|(mix, _)| *mix);
        out.into_iter().map(|(_, r)| r).collect()
    }

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("pcapstat-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    fn outputs(dir: &Path, partition: bool) -> TableOutputs {
        TableOutputs {
            parquet: Some(dir.join("pq")),
            csv: Some(dir.join("csv")),
            ndjson: Some(dir.join("nd")),
            partition,
            metadata: vec![("pcapstat.options".to_string(), "test".to_string())],
        }
    }

    /// Checks, from the file's bytes, that each column chunk's page index (written at the end
    /// by [`ParquetFile`], moved from where polars put it) describes the pages where they are:
    /// each offset index entry points at a page header whose page has that size, the entries
    /// cover the chunk's bytes and rows, and the column index has an entry per page. Returns
    /// each column chunk's number of pages.
    fn check_page_index(path: &Path) -> Vec<usize> {
        use polars_parquet_format::thrift::protocol::TCompactInputProtocol;
        use polars_parquet_format::{ColumnIndex, FileMetaData, OffsetIndex, PageHeader};
        let bytes = std::fs::read(path).expect("parquet file");
        let name = path.display();
        assert!(
            bytes.starts_with(b"PAR1") && bytes.ends_with(b"PAR1"),
            "{name}"
        );
        let n = bytes.len();
        let len = u32::from_le_bytes(bytes[n - 8..n - 4].try_into().expect("4")) as usize;
        let footer = &bytes[n - 8 - len..n - 8];
        let meta = FileMetaData::read_from_in_protocol(&mut TCompactInputProtocol::new(
            footer,
            usize::MAX,
        ))
        .expect("footer");
        let at = |offset: Option<i64>, length: Option<i32>| {
            let (o, l) = (
                offset.expect("offset") as usize,
                length.expect("length") as usize,
            );
            &bytes[o..o + l]
        };
        assert_eq!(
            meta.num_rows,
            meta.row_groups.iter().map(|g| g.num_rows).sum::<i64>(),
            "{name}"
        );
        let mut page_counts = Vec::new();
        for (g, group) in meta.row_groups.iter().enumerate() {
            assert_eq!(group.ordinal, Some(g as i16), "{name}");
            let first = group.columns.first().and_then(|c| c.meta_data.as_ref());
            assert_eq!(
                group.file_offset,
                first.map(|m| m.data_page_offset),
                "{name}"
            );
            for chunk in &group.columns {
                let m = chunk.meta_data.as_ref().expect("column metadata");
                let raw = at(chunk.offset_index_offset, chunk.offset_index_length);
                let index = OffsetIndex::read_from_in_protocol(&mut TCompactInputProtocol::new(
                    raw,
                    usize::MAX,
                ))
                .expect("offset index");
                let pages = &index.page_locations;
                page_counts.push(pages.len());
                assert!(!pages.is_empty(), "{name}");
                assert_eq!(pages[0].offset, m.data_page_offset, "{name}");
                let (mut size, mut values) = (0i64, 0i64);
                for (i, page) in pages.iter().enumerate() {
                    let at_page = &bytes[page.offset as usize..];
                    let mut input = TCompactInputProtocol::new(at_page, usize::MAX);
                    let header =
                        PageHeader::read_from_in_protocol(&mut input).expect("page header");
                    let header_len = {
                        // The header's length: parse it again from a counting reader.
                        let mut cursor = std::io::Cursor::new(at_page);
                        PageHeader::read_from_in_protocol(&mut TCompactInputProtocol::new(
                            &mut cursor,
                            usize::MAX,
                        ))
                        .expect("page header");
                        cursor.position() as i64
                    };
                    assert_eq!(
                        header_len + i64::from(header.compressed_page_size),
                        i64::from(page.compressed_page_size),
                        "{name}: page {i}"
                    );
                    if i > 0 {
                        assert_eq!(
                            page.offset,
                            pages[i - 1].offset + i64::from(pages[i - 1].compressed_page_size),
                            "{name}: pages one after the other"
                        );
                        assert!(
                            page.first_row_index > pages[i - 1].first_row_index,
                            "{name}"
                        );
                    } else {
                        assert_eq!(page.first_row_index, 0, "{name}");
                    }
                    assert!(page.first_row_index < group.num_rows, "{name}");
                    size += i64::from(page.compressed_page_size);
                    values += i64::from(header.data_page_header.expect("a data page").num_values);
                }
                assert_eq!(size, m.total_compressed_size, "{name}");
                assert_eq!(values, m.num_values, "{name}");
                if chunk.column_index_offset.is_some() {
                    let raw = at(chunk.column_index_offset, chunk.column_index_length);
                    let index = ColumnIndex::read_from_in_protocol(
                        &mut TCompactInputProtocol::new(raw, usize::MAX),
                    )
                    .expect("column index");
                    assert_eq!(index.null_pages.len(), pages.len(), "{name}");
                }
            }
        }
        page_counts
    }

    fn read_parquet(path: &Path) -> DataFrame {
        let file = File::open(path).expect("parquet file");
        ParquetReader::new(file).finish().expect("parquet")
    }

    /// The rows in capture order (as the tables of an [`Analysis`]).
    fn sorted(table: &str, df: &DataFrame) -> DataFrame {
        let by: &[&str] = match table {
            "http" => &["conn_id", "request_index"],
            "dns" => &["query_frame"],
            _ => &["conn_id"],
        };
        df.sort(by, SortMultipleOptions::default().with_maintain_order(true))
            .expect("sort")
    }

    fn in_memory(a: &Analysis, table: &str) -> DataFrame {
        match table {
            "connections" => a.connections(),
            "tls" => a.tls(),
            "http" => a.http(),
            "websocket" => a.websocket(),
            "quic" => a.quic(),
            _ => a.dns(),
        }
        .expect("table")
    }

    fn same(table: &str, got: &DataFrame, want: &DataFrame, what: &str) {
        assert_eq!(got.schema(), want.schema(), "{what} {table}");
        assert!(got.equals_missing(want), "{what} {table}:\n{got}\n{want}");
    }

    /// A stream writing Parquet into a fresh scratch directory `name`, capture `capture` begun.
    fn parquet_stream(name: &str, capture: &str) -> (PathBuf, TableStream) {
        let dir = scratch(name);
        let out = TableOutputs {
            parquet: Some(dir.join("pq")),
            ..TableOutputs::default()
        };
        let mut tables = TableStream::begin(&out).expect("begin");
        tables.start_capture(capture);
        (dir, tables)
    }

    /// Tables written while the capture is read hold the rows of the in-memory tables (sorted
    /// back into capture order), with their columns and types, for 1 and 2 threads.
    /// Rows with long strings (paths at the HTTP head limit) are written out by bytes, not
    /// only every ROW_GROUP_ROWS rows: what is kept stays bounded however many come.
    #[test]
    fn long_rows_are_written_out_by_bytes() {
        let a = Analyzer::new()
            .analyze_path(testdata("link-null-http.pcap"))
            .expect("capture");
        let mut r = a.http_records().first().expect("an http row").clone();
        let (dir, mut tables) = parquet_stream("long-rows", "long");
        let n = 2000;
        for k in 0..n {
            r.exchange.path = Some(format!("/{k}/{}", "x".repeat(60_000)).into());
            let mut batch = Records::default();
            batch.http.push(r.clone());
            tables.records(batch);
            let kept = tables.raw_bytes[2] + tables.tables[2].bytes;
            // 120 MB in all; at most a frame's and a row group's worth kept (plus one row).
            assert!(
                kept <= FRAME_BYTES + ROW_GROUP_BYTES + 2 * 61_000,
                "row {k}: {kept}"
            );
        }
        tables.end_capture("long").expect("end");
        tables.commit().expect("commit");
        let got = read_parquet(&dir.join("pq/http.parquet"));
        assert_eq!(got.height(), n);
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn records_waiting_for_a_frame_hold_at_most_a_frame() {
        let a = Analyzer::new()
            .analyze_path(testdata("link-null-http.pcap"))
            .expect("capture");
        let conn = a
            .connection_records()
            .first()
            .expect("a connection")
            .clone();
        let http = a.http_records().first().expect("an http row").clone();
        let timing = a.request_timings().first().expect("a timing").clone();
        let (dir, mut tables) = parquet_stream("frame-capacity", "c");
        let http_row = std::mem::size_of::<HttpRecord>() + std::mem::size_of::<RequestTiming>();
        // A frame's rows, and the rest of the batch that completed it (at most two more).
        let most = |row: usize| FRAME_ROWS.min(FRAME_BYTES / row) + 2;
        let n = 5000;
        for k in 0..n {
            // Batches of one to three rows, as a live connection's finished requests come.
            let mut batch = Records::default();
            for _ in 0..1 + k % 3 {
                batch.connections.push(conn.clone());
                batch.http.push(http.clone());
                batch.timings.push(timing.clone());
            }
            tables.records(batch);
            let raw = &tables.raw;
            // A doubling vector would reach the next power of two (1 024 connection rows for
            // 819, 2 048 HTTP rows for 1 213).
            assert!(
                raw.connections.capacity() <= most(std::mem::size_of::<ConnectionRecord>()),
                "batch {k}: {} connection rows",
                raw.connections.capacity()
            );
            assert!(
                raw.http.capacity() <= most(http_row) && raw.timings.capacity() <= most(http_row),
                "batch {k}: {} http rows, {} timings",
                raw.http.capacity(),
                raw.timings.capacity()
            );
        }
        tables.end_capture("c").expect("end");
        tables.commit().expect("commit");
        let rows = (0..n).map(|k| 1 + k % 3).sum::<usize>();
        assert_eq!(
            read_parquet(&dir.join("pq/connections.parquet")).height(),
            rows
        );
        assert_eq!(read_parquet(&dir.join("pq/http.parquet")).height(), rows);
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn streamed_tables_equal_the_in_memory_tables() {
        for threads in [1, 2] {
            let analyzer = Analyzer::new().threads(threads);
            for rel in CAPTURES {
                let path = testdata(rel);
                let a = analyzer.analyze_path(&path).expect(rel);
                assert!(a.connection_records().len() + a.dns_records().len() > 0);
                let dir = scratch(&format!("stream-{threads}"));
                let mut tables = TableStream::begin(&outputs(&dir, false)).expect("begin");
                tables.row_group_rows = 3;
                tables.start_capture(&path);
                let mut report = ReportBuilder::new(&crate::ReportOptions::default());
                let mut both = ReportAndTables {
                    report: &mut report,
                    tables: Some(&mut tables),
                    har: None,
                    html: None,
                };
                let end = analyzer
                    .analyze_path_into(&path, &Default::default(), &mut both)
                    .expect(rel);
                tables.end_capture("described").expect("end");
                tables.commit().expect("commit");
                // The report made on the way is the report of the analysis.
                let streamed = report.finish(end.summary, end.stats);
                let whole = crate::Report::of(&a, &crate::ReportOptions::default());
                assert_eq!(format!("{streamed:?}"), format!("{whole:?}"), "{rel}");
                for table in TABLES {
                    let want = in_memory(&a, table);
                    let got = read_parquet(&dir.join(format!("pq/{table}.parquet")));
                    same(table, &sorted(table, &got), &want, rel);
                    let lines = std::fs::read_to_string(dir.join(format!("nd/{table}.ndjson")))
                        .expect("ndjson");
                    assert_eq!(lines.lines().count(), want.height(), "{rel} {table}");
                    let csv =
                        std::fs::read_to_string(dir.join(format!("csv/{table}.csv"))).expect("csv");
                    assert_eq!(csv.lines().count(), want.height() + 1, "{rel} {table}");
                }
                std::fs::remove_dir_all(&dir).ok();
            }
        }
    }

    /// Many small batches in a mixed order give the rows of one batch; in the order given, the
    /// same bytes in the text files and the same frames in Parquet (several row groups).
    #[test]
    fn small_batches_write_what_one_batch_writes() {
        let analyzer = Analyzer::new().threads(2);
        let path = testdata(CAPTURES[0]);
        let second = testdata(CAPTURES[1]);
        let a = analyzer.analyze_path(&path).expect("a");
        let b = analyzer.analyze_path(&second).expect("b");
        let write = |name: &str, parts: &[(&str, Vec<Records>)], partition: bool| {
            let dir = scratch(name);
            let mut t = TableStream::begin(&outputs(&dir, partition)).expect("begin");
            t.row_group_rows = 5;
            for (capture, batches) in parts {
                t.start_capture(capture);
                for r in batches {
                    t.records(r.clone());
                }
                t.end_capture(capture).expect("end");
            }
            t.commit().expect("commit");
            dir
        };
        let one = |x: &Analysis| batches(x, usize::MAX / 8, None);
        for partition in [false, true] {
            let whole = write(
                &format!("whole-{partition}"),
                &[(&path, one(&a)), (&second, one(&b))],
                partition,
            );
            let ordered = [
                (path.as_str(), batches(&a, 3, None)),
                (second.as_str(), batches(&b, 3, None)),
            ];
            let mixed = [
                (path.as_str(), batches(&a, 4, Some(7))),
                (second.as_str(), batches(&b, 4, Some(7))),
            ];
            let small = write(&format!("mixed-{partition}"), &mixed, partition);
            let files = |root: &Path| {
                let mut v = Vec::new();
                let mut todo = vec![root.to_path_buf()];
                while let Some(d) = todo.pop() {
                    for e in std::fs::read_dir(&d).expect("dir").flatten() {
                        if e.path().is_dir() {
                            todo.push(e.path());
                        } else {
                            v.push(e.path().strip_prefix(root).expect("under").to_path_buf());
                        }
                    }
                }
                v.sort();
                v
            };
            assert_eq!(files(&whole), files(&small), "partition {partition}");
            for rel in files(&whole) {
                let name = rel.to_string_lossy().into_owned();
                let inner: PathBuf = rel.components().skip(1).collect();
                let table = TABLES
                    .iter()
                    .find(|t| inner.to_string_lossy().starts_with(*t))
                    .expect("a table's file");
                if name.ends_with(".parquet") {
                    let (w, s) = (
                        read_parquet(&whole.join(&rel)),
                        read_parquet(&small.join(&rel)),
                    );
                    let by_capture = |df: &DataFrame| match df.get_column_index("capture") {
                        Some(_) => df
                            .sort(
                                ["capture"],
                                SortMultipleOptions::default().with_maintain_order(true),
                            )
                            .expect("sort"),
                        None => df.clone(),
                    };
                    let w = by_capture(&sorted(table, &w));
                    let s = by_capture(&sorted(table, &s));
                    same(table, &s, &w, &name);
                    // Row groups of exactly `row_group_rows` rows, however the rows came,
                    // the file's last one excepted.
                    for dir in [&whole, &small] {
                        check_page_index(&dir.join(&rel));
                        let mut file = File::open(dir.join(&rel)).expect("parquet file");
                        let meta = polars_parquet::read::read_metadata(&mut file).expect("footer");
                        let rows: Vec<usize> =
                            meta.row_groups.iter().map(|g| g.num_rows()).collect();
                        let n = rows.len();
                        assert!(
                            rows.iter().take(n.saturating_sub(1)).all(|&r| r == 5)
                                && rows.last().is_none_or(|&r| (1..=5).contains(&r)),
                            "{name}: row groups of {rows:?}"
                        );
                    }
                } else {
                    let mut w: Vec<String> = std::fs::read_to_string(whole.join(&rel))
                        .expect("text")
                        .lines()
                        .map(String::from)
                        .collect();
                    let mut s: Vec<String> = std::fs::read_to_string(small.join(&rel))
                        .expect("text")
                        .lines()
                        .map(String::from)
                        .collect();
                    if name.ends_with(".csv") {
                        assert_eq!(w.first(), s.first(), "{name}: header");
                    }
                    w.sort();
                    s.sort();
                    assert_eq!(w, s, "{name}");
                }
            }
            std::fs::remove_dir_all(&small).ok();
            // In capture order, batch by batch: the same bytes as one batch.
            let small = write(&format!("ordered-{partition}"), &ordered, partition);
            for rel in files(&whole) {
                if !rel.to_string_lossy().ends_with(".parquet") {
                    assert_eq!(
                        std::fs::read(whole.join(&rel)).expect("whole"),
                        std::fs::read(small.join(&rel)).expect("small"),
                        "{}",
                        rel.display()
                    );
                }
            }
            std::fs::remove_dir_all(&small).ok();
            std::fs::remove_dir_all(&whole).ok();
        }
    }

    /// Many small captures into one file per table (a directory of tcpdump rotations, read
    /// file by file): a frame takes the rows of several captures, each row keeping its own
    /// `capture` name, so the pages hold many rows, not a capture's few (a page per column
    /// per capture grew the page index kept until the footer and the file with the number of
    /// files: 3 000 files of 20 packets, 273 MB peak RSS and a 21 MB connections file).
    #[test]
    fn many_small_captures_share_pages_and_keep_their_names() {
        let path = testdata(CAPTURES[0]);
        let a = Analyzer::new().analyze_path(&path).expect("a");
        let dir = scratch("stream-many");
        let mut t = TableStream::begin(&outputs(&dir, false)).expect("begin");
        let captures = 60;
        for k in 0..captures {
            let name = format!("part{k:03}.pcap");
            t.start_capture(&name);
            for r in batches(&a, 2, None) {
                t.records(r);
            }
            if k == 7 {
                // Rows handed over before a failure stay, under their capture's name.
                t.abort_capture().expect("abort");
            } else {
                t.end_capture(&name).expect("end");
            }
        }
        t.commit().expect("commit");
        for table in ["connections", "tls", "http"] {
            let file = dir.join(format!("pq/{table}.parquet"));
            let got = read_parquet(&file);
            let want = in_memory(&a, table);
            assert!(want.height() >= 1, "{table}");
            assert_eq!(got.height(), want.height() * captures, "{table}");
            for k in 0..captures {
                let name = format!("part{k:03}.pcap");
                let mask = got
                    .column("capture")
                    .and_then(|c| c.str())
                    .expect("capture")
                    .equal(name.as_str());
                let mine = got.filter(&mask).expect("filter");
                let mut want = want.clone();
                want.with_column(
                    StringChunked::full("capture".into(), &name, want.height()).into_column(),
                )
                .expect("capture");
                same(table, &sorted(table, &mine), &want, &name);
            }
            // One frame for all of them (fewer rows than a frame): one page per column,
            // where a page per capture made 60.
            let pages = check_page_index(&file);
            assert!(
                !pages.is_empty() && pages.iter().all(|&p| p == 1),
                "{table}: {pages:?}"
            );
            let csv = std::fs::read_to_string(dir.join(format!("csv/{table}.csv"))).expect("csv");
            assert_eq!(csv.lines().count(), want.height() * captures + 1, "{table}");
        }
        std::fs::remove_dir_all(&dir).ok();
    }

    /// A table without rows still gets its files, with its columns; an aborted capture leaves
    /// no partition; a stream dropped without commit leaves nothing.
    #[test]
    fn empty_tables_aborted_captures_and_dropped_streams() {
        let dir = scratch("stream-empty");
        let mut t = TableStream::begin(&outputs(&dir, true)).expect("begin");
        t.row_group_rows = 1;
        t.start_capture("bad.pcap");
        let path = testdata("lab/f_refused_syndrop/capture.pcap");
        let a = Analyzer::new().analyze_path(&path).expect("a");
        t.records(batches(&a, 2, Some(1)).remove(0));
        t.abort_capture().expect("abort");
        t.start_capture("empty");
        t.end_capture("empty").expect("end");
        t.commit().expect("commit");
        assert!(!dir
            .join("pq/connections/capture=bad.pcap/part.parquet")
            .exists());
        let df = read_parquet(&dir.join("pq/dns/capture=empty/part.parquet"));
        assert_eq!(df.height(), 0);
        let want = dns_frame(None, &[])
            .expect("empty")
            .drop("capture")
            .expect("drop");
        assert_eq!(df.schema(), want.schema());
        let csv = std::fs::read_to_string(dir.join("csv/dns/capture=empty/part.csv")).expect("csv");
        assert_eq!(csv.lines().count(), 1, "{csv}");
        std::fs::remove_dir_all(&dir).ok();

        let dir = scratch("stream-dropped");
        let mut t = TableStream::begin(&outputs(&dir, false)).expect("begin");
        t.start_capture("x");
        t.records(batches(&a, 2, Some(1)).remove(0));
        drop(t);
        let left: Vec<_> = std::fs::read_dir(dir.join("pq"))
            .expect("dir")
            .flatten()
            .collect();
        assert!(left.is_empty(), "{left:?}");
        std::fs::remove_dir_all(&dir).ok();
    }
}
