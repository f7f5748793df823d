//! pcapstat: network timing tables from packet captures.
//!
//! [`Analyzer`] reads a pcap or pcapng capture (plain, gzip or zstd; from a path, a reader or
//! bytes in memory), tracks every TCP connection on all cores, parses TLS, HTTP/1.x and DNS, and
//! returns an [`Analysis`]: a summary of the capture and one table per kind of record
//! (connections, tls, http, dns, quic) as [polars](https://docs.rs/polars) `DataFrame`s.
//! [`Analyzer::analyze_paths`] does the same for several captures at once ([`Analyses`]).
//! [`write_parquet`] writes a table as a Parquet file, [`write_parquet_partition`] in the Hive
//! layout, [`write_text`] as CSV or NDJSON. For captures of any size, the `_into` methods
//! ([`Analyzer::analyze_path_into`]) hand the records over as they become final, to a
//! [`ReportBuilder`] and a [`TableStream`] (tables written in row groups while the capture is
//! read): memory stays bounded (docs/performance.md, "Streaming"). [`Report`] is everything a report of an analysis
//! shows (counts, percentiles, the worst connections and requests, the limits hit), computed
//! once; its [`Figures`] are the named figures (`connect.p95`, `tcp.retransmission_rate`, …;
//! `docs/figures.md`) that `pcapstat check` and `pcapstat diff` gate on. [`Filter`] selects
//! the records of some servers, clients, SNIs, ports or a time window.
//!
//! ```
//! use pcapstat::polars::prelude::ChunkCompareEq; // `equal` on a column
//! use pcapstat::Analyzer;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let lab = concat!(env!("CARGO_MANIFEST_DIR"), "/../../testdata/lab");
//! let analyzer = Analyzer::new().threads(2); // the output is the same for any thread count
//! let analysis = analyzer.analyze_path(format!("{lab}/f_refused_syndrop/capture.pcapng"))?;
//! assert!(analysis.summary().damaged.is_none()); // frames, time range, decode counters, damage
//!
//! let conns = analysis.connections()?; // one row per TCP connection
//! let outcome = conns.column("outcome")?.as_materialized_series().str()?.clone();
//! assert_eq!(outcome.equal("refused").sum(), Some(3)); // three connects to a closed port
//!
//! let http = analysis.http()?; // one row per request: dns, connect, tls, send, wait, receive
//! assert_eq!(http.height(), analysis.http_records().len());
//!
//! // Several captures: the rows of all of them, told apart by the `capture` column.
//! let both = analyzer.analyze_paths([
//!     format!("{lab}/f_refused_syndrop/capture.pcap"),
//!     format!("{lab}/e_dns/capture.pcap"),
//! ])?;
//! println!("{}", both.dns()?); // every DNS query: latency, rcode, retries
//! # Ok(())
//! # }
//! ```
//!
//! Every column is defined in `docs/metrics.md` (unit, definition, when null). Timestamps are
//! `Datetime(ns, UTC)` taken from the capture; durations are `Duration(ns)`; null means "not
//! observed", never 0 or "".
//!
//! Users who do not want polars can use [`core`] (`pcapstat-core`) alone: its
//! [`core::Analyzer`] does the same analysis and returns plain records ([`core::Analysis`]);
//! [`Analysis`] wraps that result and adds the tables.
#![deny(missing_docs)]

mod analyzer;
mod error;
pub mod figures;
pub mod filter;
pub mod har;
pub mod hosts;
pub mod html;
mod multi;
mod parquet_file;
pub mod report;
mod stream;
pub mod tables;
pub mod time;
mod write;

pub use analyzer::{Analysis, Analyzer};
pub use error::Error;
pub use figures::{Figure, Figures, Percentiles, Unit, Value};
pub use filter::Filter;
pub use har::{write_har, HarBuilder, HarOptions};
pub use html::{write_html, HtmlBuilder, HtmlOptions};
pub use multi::Analyses;
pub use pcapstat_core as core;
pub use polars;
pub use report::{Report, ReportBuilder, ReportOptions};
pub use stream::{ReportAndTables, TableOutputs, TableStream, ROW_GROUP_BYTES, ROW_GROUP_ROWS};
pub use tables::{
    connections_frame, dns_frame, http_frame, quic_frame, tls_frame, type_name, websocket_frame,
    SCHEMA_VERSION,
};
pub use write::{
    partition_value, write_parquet, write_parquet_partition, write_text, write_text_partition,
    ParquetSource, TableSet, TextFormat,
};
