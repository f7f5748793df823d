//! pcapstat-core: capture reading, packet decoding, flow tracking and protocol parsing.
//!
//! This crate has no polars and prints nothing. It turns capture bytes into plain records.
//! Timestamps are `i64` nanoseconds since the Unix epoch, taken only from the capture.
#![deny(missing_docs)]

pub mod app;
pub mod capture;
pub mod decode;
pub mod expression;
pub mod filter;
pub mod flow;
#[cfg(any(test, feature = "fuzzing"))]
#[doc(hidden)]
pub mod fuzzing;
pub mod packet;
pub mod pipeline;
pub mod proto;
pub mod record;
pub mod stats;
pub mod summary;
pub mod tcp;
pub mod timing;
pub mod units;
pub mod wire;

pub use app::{AppConfig, AppFactory, AppStats};
pub use capture::{
    Capture, CaptureError, CaptureFormat, Compression, Damage, Damaged, DecryptionSecrets, Frame,
    Interface, LinkType,
};
pub use decode::{
    DecodeLimits, DecodeProblem, DecodeStats, Decoded, Decoder, Encapsulation, IcmpError, Layers,
    ProblemCounts, MAX_ENCAPSULATION_KINDS,
};
pub use filter::{ConnNames, Filter, FilterSpecError, Host, Server, TimeBound};
pub use flow::{shard_of, Endpoint, FlowKey, FlowTable};
pub use packet::{IpPair, TcpFlags, TcpSegment, Transport, UdpDatagram};
pub use pipeline::{PipelineConfig, PipelineOutput, UdpConsumer};
pub use proto::tls::{KeyLog, KeyLogError, KeyLogStats, TlsDecryptStats, MAX_KEYLOG_FILE_BYTES};
pub use record::{
    Alert, ConnectionRecord, DirectionStats, DnsRecord, DnsTransport, Failure, HttpExchange,
    HttpRecord, HttpVersion, Outcome, RolesFrom, Side, TlsHandshake, TlsRecord,
};
pub use stats::{Counters, Limit, LimitHit, Stats, LIMITS};
pub use summary::{CaptureSummary, SummaryBuilder};
pub use tcp::{
    ConnMeta, Direction, HandshakeOptions, NullSinkFactory, SeqNum, SinkFactory, StreamSink,
    TcpConfig, TcpOutput, TcpStats, TcpTracker,
};
pub use timing::{request_timings, RequestTiming};
pub use wire::{AlertDescription, AlertLevel, CipherSuite, DnsType, Rcode, TlsVersion};
