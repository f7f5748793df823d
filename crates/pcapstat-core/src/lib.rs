//! pcapstat-core: capture reading, packet decoding, flow tracking and protocol parsing.
//!
//! This crate has no polars and prints nothing. It turns capture bytes into plain records.
//! Timestamps are `i64` nanoseconds since the Unix epoch, taken only from the capture.
//!
//! [`Analyzer`] is the entry point: it reads a [`Capture`] (pcap or pcapng, plain, gzip or zstd),
//! tracks every TCP connection on all cores, parses TLS (decrypting with a [`KeyLog`]), HTTP/1.x,
//! HTTP/2 and DNS, and returns an [`Analysis`]: the [`CaptureSummary`], one record per
//! connection, TLS handshake, HTTP request ([`RequestTiming`] gives its phases) and DNS query,
//! and the counters of every layer. The output is the same for any thread count. A [`Filter`]
//! selects records; the text helpers ([`parse_duration`], [`split_expression`], ...) are the
//! ones the `pcapstat` CLI parses its arguments with.
//!
//! ```
//! let lab = concat!(env!("CARGO_MANIFEST_DIR"), "/../../testdata/lab");
//! let a = pcapstat_core::Analyzer::new().analyze_path(format!("{lab}/e_dns/capture.pcap"))?;
//! assert!(a.summary.damaged.is_none());
//! for q in &a.dns {
//!     println!("{} {:?} ns", q.qname, q.latency_ns);
//! }
//! # Ok::<(), pcapstat_core::CaptureError>(())
//! ```
//!
//! The map of the crates and modules is `docs/architecture.md`.
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
mod stats;
mod summary;
mod tcp;
mod timing;
mod units;
mod values;
mod wire;

pub use analysis::{Analysis, Analyzer, RecordSink, Records, StreamEnd};
pub use app::AppStats;
pub use capture::{
    capture_files, looks_like_capture, merged_name, widen_pipe, Capture, CaptureError,
    CaptureFormat, CaptureItem, Compression, Damage, Damaged, DecryptionSecrets, Frame, Interface,
    LinkType, MmapChoice,
};
pub use decode::{DecodeLimits, DecodeProblem, DecodeStats, Encapsulation, ProblemCounts};
pub use expression::{line_col, split_expression, Op, Token};
pub use filter::{
    host_only, name_matches, parse_address, parse_client, parse_host, parse_name, parse_server,
    parse_time, ConnNames, Filter, FilterSpecError, Host, Server, TimeBound,
};
pub use flow::Endpoint;
pub use proto::dns::DnsStats;
pub use proto::headers::{HeaderLimits, HeaderList, HttpHeaders};
pub use proto::http::HttpStats;
pub use proto::http2::Http2Stats;
pub use proto::quic::{
    cid_hex, quic_version_name, QuicStats, MAX_CRYPTO_BUFFER, MAX_CRYPTO_STREAM, MAX_H3_BUFFER,
    MAX_H3_BUFFER_TOTAL, MAX_H3_FIELD_SECTION, MAX_H3_STREAMS, MAX_QPACK_CAPACITY,
    MAX_QUIC_CONNECTIONS,
};
pub use proto::tls::{InferStats, KeyLog, KeyLogError, KeyLogStats, TlsDecryptStats};
pub use proto::websocket::WebSocketStats;
pub use record::{
    Alert, ConnectionRecord, DirectionStats, DnsRecord, DnsTransport, Failure, HttpExchange,
    HttpRecord, HttpVersion, Outcome, QuicEnd, QuicOutcome, QuicRecord, RolesFrom, Side, Text,
    TlsHandshake, TlsRecord, TlsTransport, WebSocketRecord, WebSocketSession, WsDirection,
};
pub use stats::{Counters, Limit, LimitHit, Stats, LIMITS};
pub use summary::{CaptureSummary, InputSummary};
pub use tcp::{HandshakeOptions, TcpConfig, TcpStats};
pub use timing::RequestTiming;
pub use units::{format_bytes, format_duration, format_number, parse_duration, ParseDurationError};
// The report's percentile figures (crate pcapstat) keep their values in it; not an API of its own.
#[doc(hidden)]
pub use values::ValueStore;
pub use wire::{AlertDescription, AlertLevel, CipherSuite, DnsType, Rcode, TlsVersion};

#[cfg(test)]
mod testing {
    /// The tests' deterministic generator (xorshift64): no dependency, the same numbers on
    /// every machine. `state` must not be 0.
    pub(crate) fn xorshift(state: &mut u64) -> u64 {
        *state ^= *state << 13;
        *state ^= *state >> 7;
        *state ^= *state << 17;
        *state
    }
}
