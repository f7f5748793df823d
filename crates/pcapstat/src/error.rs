//! The library's error type.

use std::path::PathBuf;

use pcapstat_core::{CaptureError, KeyLogError};

/// What can go wrong when analysing a capture or writing its tables.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The input is not a readable capture (unknown format, I/O error while reading).
    #[error(transparent)]
    Capture(#[from] CaptureError),
    /// One of several inputs ([`crate::Analyzer::analyze_paths`]) is not a readable capture.
    #[error("{}: {source}", path.display())]
    Input {
        /// The input that failed.
        path: PathBuf,
        /// The cause.
        source: CaptureError,
    },
    /// A TLS key log file could not be read.
    #[error(transparent)]
    KeyLog(#[from] KeyLogError),
    /// Building a table failed (a bug, or memory exhausted).
    #[error("building a table: {0}")]
    Table(#[from] polars::error::PolarsError),
    /// The device ran out of space while writing a table.
    #[error(
        "no space left on the device writing {}: the table needs up to {} ({}); free some space or write elsewhere",
        path.display(),
        pcapstat_core::format_bytes(*needed),
        available.map_or("free space unknown".to_string(), |a| format!("{} free", pcapstat_core::format_bytes(a)))
    )]
    DiskFull {
        /// The file being written.
        path: PathBuf,
        /// What the table takes in memory: at most what its file needs.
        needed: u64,
        /// Bytes free for this user on the device, when it could be read.
        available: Option<u64>,
    },
    /// Writing an output file failed.
    #[error("writing {}: {source}", path.display())]
    Write {
        /// The file or directory being written.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
}
