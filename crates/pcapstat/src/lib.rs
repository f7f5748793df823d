//! pcapstat: network timing tables from packet captures.
//!
//! [`Analyzer`] reads a pcap or pcapng capture (plain, gzip or zstd), tracks every TCP
//! connection on all cores and returns an [`Analysis`]: a summary of the capture and one table
//! per kind of record, as [polars](https://docs.rs/polars) `DataFrame`s. [`write_parquet`]
//! writes the tables as Parquet files.
//!
//! ```
//! use pcapstat::Analyzer;
//!
//! # fn main() -> Result<(), pcapstat::Error> {
//! let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../testdata/lab/f_refused_syndrop/capture.pcapng");
//! let analysis = Analyzer::new().threads(2).analyze_path(path)?;
//! let connections = analysis.connections()?;
//! assert_eq!(connections.height(), analysis.connection_records().len());
//! println!("{connections}");
//! # Ok(())
//! # }
//! ```
//!
//! Every column is defined in `docs/metrics.md` (unit, definition, when null). Timestamps are
//! `Datetime(ns, UTC)` taken from the capture; durations are `Duration(ns)`; null means "not
//! observed", never 0 or "".
//!
//! Users who do not want polars can use the record-level API of [`core`] (`pcapstat-core`):
//! [`core::pipeline::run`] returns plain [`core::ConnectionRecord`]s.
#![deny(missing_docs)]

mod analyzer;
mod error;
pub mod figures;
pub mod filter;
pub mod tables;
mod write;

pub use analyzer::{Analysis, Analyzer};
pub use error::Error;
pub use figures::{Figure, Figures, Percentiles, Unit, Value};
pub use filter::Filter;
pub use pcapstat_core as core;
pub use polars;
pub use tables::{connections_frame, dns_frame, http_frame, tls_frame, type_name, SCHEMA_VERSION};
pub use write::{write_parquet, write_text, ParquetSource, TextFormat};
