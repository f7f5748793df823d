//! Sans-IO protocol parsers over reassembled TCP streams (and UDP payloads for DNS).
//!
//! Every parser has the same shape: it is fed in-order bytes of one connection (both directions,
//! with capture timestamps), gap events for bytes the capture lost, and close events; it never
//! does I/O and never reads a clock. What it recognised comes out as plain records
//! (`Option` = not observed). Each parser is testable with a byte string and a timestamp.

pub mod dns;
pub mod headers;
pub mod http;
pub mod http2;
pub mod quic;
pub mod tls;
pub mod websocket;

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
