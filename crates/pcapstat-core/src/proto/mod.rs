//! Sans-IO protocol parsers over reassembled TCP streams (and UDP payloads for DNS).
//!
//! Every parser has the same shape: it is fed in-order bytes of one connection (both directions,
//! with capture timestamps), gap events for bytes the capture lost, and close events; it never
//! does I/O and never reads a clock. What it recognised comes out as plain records
//! (`Option` = not observed). Each parser is testable with a byte string and a timestamp.

use crate::tcp::Direction;

pub mod dns;
pub mod http;
pub mod http2;
pub mod tls;

/// What the first bytes of a stream say about a protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Probe {
    /// These bytes start this protocol.
    Yes,
    /// These bytes cannot start this protocol.
    No,
    /// Not enough bytes to decide.
    NeedMore,
}

/// A consumer of one TCP connection's reassembled streams.
pub trait StreamParser {
    /// In-order bytes of direction `dir`, made contiguous by the segment captured at `ts_ns`.
    fn on_data(&mut self, ts_ns: i64, dir: Direction, bytes: &[u8]);
    /// `len` bytes of `dir` at this point of the stream were not captured.
    fn on_gap(&mut self, ts_ns: i64, dir: Direction, len: u64);
    /// Direction `dir` ended (FIN, RST or end of tracking).
    fn on_close(&mut self, ts_ns: i64, dir: Direction);
}
