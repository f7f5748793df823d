//! pcapstat: network timing tables from packet captures.
#![deny(missing_docs)]

pub use pcapstat_core as core;

/// Probe (temporary).
pub fn probe() -> polars::prelude::DataType {
    polars::prelude::DataType::Datetime(
        polars::prelude::TimeUnit::Nanoseconds,
        Some(polars::prelude::TimeZone::UTC),
    )
}
