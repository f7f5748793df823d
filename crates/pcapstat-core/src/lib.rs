//! pcapstat-core: capture reading, packet decoding, flow tracking and protocol parsing.
//!
//! This crate has no polars and prints nothing. It turns capture bytes into plain records.
//! Timestamps are `i64` nanoseconds since the Unix epoch, taken only from the capture.
#![deny(missing_docs)]

mod analysis;
mod app;
mod capture;
mod decode;
mod expression;
mod filter;
mod flow;
#[cfg(any(test, feature = "fuzzing"))]
#[doc(hidden)]
pub mod fuzzing;
mod packet;
mod pipeline;
mod proto;
mod record;
mod summary;
mod tcp;
mod timing;
mod units;

pub use analysis::{Analysis, Analyzer};
pub use app::AppStats;
pub use capture::{
    Capture, CaptureError, CaptureFormat, Compression, Damage, Damaged, DecryptionSecrets, Frame,
    Interface, LinkType, MmapChoice,
};
pub use decode::{DecodeLimits, DecodeProblem, DecodeStats, Encapsulation, ProblemCounts};
pub use expression::{line_col, split_expression, Op, Token};
pub use filter::{
    host_only, name_matches, parse_address, parse_client, parse_host, parse_name, parse_server,
    parse_time, Filter, FilterSpecError, Host, Server, TimeBound,
};
pub use proto::dns::DnsStats;
pub use proto::http::HttpStats;
pub use proto::http2::Http2Stats;
pub use proto::tls::{KeyLog, KeyLogError, KeyLogStats, TlsDecryptStats};
pub use record::{
    ConnectionRecord, DirectionStats, DnsRecord, DnsTransport, Failure, HttpRecord, HttpVersion,
    Outcome, RolesFrom, Side, TlsRecord,
};
pub use summary::CaptureSummary;
pub use tcp::{HandshakeOptions, TcpConfig, TcpStats};
pub use timing::RequestTiming;
pub use units::{format_duration, format_number, parse_duration, ParseDurationError};
