//! pcapstat: network timing tables from packet captures.
#![deny(missing_docs)]

pub use pcapstat_core as core;
