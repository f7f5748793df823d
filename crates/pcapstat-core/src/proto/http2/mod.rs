//! HTTP/2 (RFC 9113) over one connection: one record per request stream, with the capture
//! timestamps of its request and response frames, its pseudo-headers and sizes.
//!
//! Frame first, then decode: each direction is cut into frames (the 9-byte header, then the
//! payload by its length, whatever the segment boundaries); only then is a frame interpreted.
//! Header blocks (HEADERS + CONTINUATION, PUSH_PROMISE) are gathered whole and decoded with
//! HPACK (a small decoder in this module, checked against RFC 7541 Appendix C and the
//! `loona-hpack` crate), one decoder per direction, whose dynamic table is bounded by the
//! decoding side's `SETTINGS_HEADER_TABLE_SIZE` (and by [`Http2Config::max_table_bytes`]). DATA payloads
//! are counted, never buffered. Nothing here reads a clock or does I/O.
//!
//! The same parser serves the three ways HTTP/2 is reached: prior knowledge in clear text (the
//! client's first bytes are the preface `PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n`), the decrypted
//! bytes of a TLS connection whose ALPN is `h2` (both [`Http2Parser::new`]), and `Upgrade: h2c`
//! ([`Http2Parser::upgraded`], built by the HTTP/1 parser at the `101`).
//!
//! ```
//! use pcapstat_core::fuzzing::{Http2Config, Http2Parser, Probe, StreamSink};
//! use pcapstat_core::fuzzing::Direction::{ClientToServer as C2S, ServerToClient as S2C};
//!
//! assert_eq!(Http2Parser::probe(b"PRI * HTTP/2.0\r\n"), Probe::NeedMore);
//! let mut p = Http2Parser::new(Http2Config::default());
//! let mut c = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec();
//! c.extend_from_slice(&[0, 0, 0, 4, 0, 0, 0, 0, 0]); // SETTINGS
//! // HEADERS, stream 1, END_STREAM | END_HEADERS: :method GET, :path /, :scheme http
//! c.extend_from_slice(&[0, 0, 3, 1, 5, 0, 0, 0, 1, 0x82, 0x84, 0x86]);
//! p.on_data(1_000, C2S, &c);
//! // HEADERS (:status 200), then DATA "hi" with END_STREAM
//! p.on_data(2_000, S2C, &[0, 0, 1, 1, 4, 0, 0, 0, 1, 0x88]);
//! p.on_data(3_000, S2C, &[0, 0, 2, 0, 1, 0, 0, 0, 1, b'h', b'i']);
//! let recs = p.into_records();
//! assert_eq!((recs[0].method.as_deref().unwrap_or(""), recs[0].path.as_deref().unwrap_or("")), ("GET", "/"));
//! assert_eq!(recs[0].status, Some(200));
//! assert_eq!(recs[0].response_body_bytes, Some(2));
//! assert_eq!((recs[0].response_start_ts, recs[0].response_end_ts), (Some(2_000), Some(3_000)));
//! assert!(recs[0].complete);
//! ```
//!
//! See `docs/http.md` (section "HTTP/2") for the fields, timing points, limits and counters.

pub(crate) mod hpack;
#[cfg(test)]
mod tests;

/// Fuzzing entry point (fuzz target `http2`), not part of the API: HPACK-decodes the header
/// blocks framed in `data` on one decoder (format in `hpack.rs`, `fuzz_blocks`).
#[cfg(any(test, feature = "fuzzing"))]
#[doc(hidden)]
pub fn fuzz_hpack(data: &[u8]) -> usize {
    hpack::fuzz_blocks(data)
}

use crate::stats::counters;
use std::collections::HashMap;

use super::headers::{self, HeaderLimits, HeaderList, HttpHeaders};
use super::websocket::{has_deflate, StreamWebSocket, WebSocketParser, MAX_STREAM_WEBSOCKETS};
use super::Probe;
use crate::record::{HttpExchange, HttpVersion, Text};
use crate::tcp::{Direction, StreamSink};

/// The client connection preface (RFC 9113 §3.4).
pub const PREFACE: &[u8; 24] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

const FRAME_HEADER: usize = 9;

const DATA: u8 = 0;
const HEADERS: u8 = 1;
const PRIORITY: u8 = 2;
const RST_STREAM: u8 = 3;
const SETTINGS: u8 = 4;
const PUSH_PROMISE: u8 = 5;
const PING: u8 = 6;
const GOAWAY: u8 = 7;
const WINDOW_UPDATE: u8 = 8;
const CONTINUATION: u8 = 9;

const END_STREAM: u8 = 0x1;
const ACK: u8 = 0x1;
const END_HEADERS: u8 = 0x4;
const PADDED: u8 = 0x8;
const PRIORITY_FLAG: u8 = 0x20;

/// `SETTINGS_HEADER_TABLE_SIZE`.
const SETTINGS_HEADER_TABLE_SIZE: u16 = 1;
/// HPACK's initial dynamic table size (RFC 9113 §6.5.2).
const DEFAULT_TABLE_SIZE: usize = 4096;
/// SETTINGS entries read from one frame at most (6 bytes each); the rest is skipped.
const MAX_SETTINGS: usize = 64;

/// Limits of one [`Http2Parser`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Http2Config {
    /// Largest header block (HEADERS + CONTINUATION fragments, or PUSH_PROMISE) buffered for
    /// decoding; a larger one is skipped and counted in
    /// [`Http2Stats::header_blocks_too_large`]. Its direction's HPACK state is then lost: the
    /// direction's later header blocks are not decoded (their streams are incomplete).
    pub max_header_block_bytes: usize,
    /// Most streams open at once (request seen, not both ends closed nor reset); a new stream
    /// past it gets no record (counted in [`Http2Stats::streams_over_limit`]).
    pub max_open_streams: usize,
    /// Largest HPACK dynamic table a size update may set, whatever
    /// `SETTINGS_HEADER_TABLE_SIZE` allows (a larger update is an HPACK error). HPACK's initial
    /// 4096 octets always apply until an update.
    pub max_table_bytes: usize,
    /// Largest decoded header list kept from one header block: the sum, over its fields, of
    /// name + value + 32 octets (the accounting of `SETTINGS_MAX_HEADER_LIST_SIZE`, RFC 9113
    /// §6.5.2). The block is still decoded whole (the HPACK table stays in step) but the fields
    /// past the cap are not looked at; counted in [`Http2Stats::header_lists_truncated`].
    pub max_header_list_bytes: usize,
    /// Decoded header bytes (same accounting) looked at over the whole connection, both
    /// directions. An indexed reference is one octet on the wire but can name a 64 KiB table
    /// entry: this budget keeps the work linear in the capture. Past it, header blocks are
    /// still decoded (and streams still get rows, timings and sizes) but their fields are not
    /// read: counted in [`Http2Stats::header_budget_exhausted`] (once per connection) and
    /// [`Http2Stats::header_lists_truncated`] (per block).
    pub max_decoded_header_bytes: u64,
    /// Longest `:method`, `:path`, `:authority` / `host` value kept in a row (bytes, cut at a
    /// character boundary); longer values are counted in [`Http2Stats::values_truncated`].
    pub max_value_bytes: usize,
    /// Keep every header field of requests and final responses within these bounds
    /// ([`HttpExchange::headers`], pseudo-headers included); `None` (the default): only the
    /// values above are kept.
    pub headers: Option<HeaderLimits>,
}

#[cfg_attr(not(any(test, feature = "fuzzing")), allow(dead_code))] // used by tests and fuzzing
impl Http2Config {
    /// Sets [`max_header_block_bytes`](Http2Config::max_header_block_bytes).
    pub fn with_max_header_block_bytes(mut self, n: usize) -> Self {
        self.max_header_block_bytes = n;
        self
    }
    /// Sets [`max_open_streams`](Http2Config::max_open_streams).
    pub fn with_max_open_streams(mut self, n: usize) -> Self {
        self.max_open_streams = n;
        self
    }
    /// Sets [`max_table_bytes`](Http2Config::max_table_bytes).
    pub fn with_max_table_bytes(mut self, n: usize) -> Self {
        self.max_table_bytes = n;
        self
    }
    /// Sets [`max_header_list_bytes`](Http2Config::max_header_list_bytes).
    pub fn with_max_header_list_bytes(mut self, n: usize) -> Self {
        self.max_header_list_bytes = n;
        self
    }
    /// Sets [`max_decoded_header_bytes`](Http2Config::max_decoded_header_bytes).
    pub fn with_max_decoded_header_bytes(mut self, n: u64) -> Self {
        self.max_decoded_header_bytes = n;
        self
    }
    /// Sets [`max_value_bytes`](Http2Config::max_value_bytes).
    pub fn with_max_value_bytes(mut self, n: usize) -> Self {
        self.max_value_bytes = n;
        self
    }
}

impl Http2Config {
    /// Sets [`headers`](Http2Config::headers).
    pub fn with_headers(mut self, headers: Option<HeaderLimits>) -> Self {
        self.headers = headers;
        self
    }
}

impl Default for Http2Config {
    fn default() -> Self {
        Http2Config {
            max_header_block_bytes: 64 * 1024,
            max_open_streams: 1024,
            max_table_bytes: 64 * 1024,
            max_header_list_bytes: 256 * 1024,
            max_decoded_header_bytes: 64 * 1024 * 1024,
            max_value_bytes: 8 * 1024,
            headers: None,
        }
    }
}

counters! {
    /// Counters of one `Http2Parser` (sum them over connections with [`Http2Stats::merge`]).
    #[derive(Debug, Clone, Default, PartialEq, Eq)]
    #[non_exhaustive]
    pub struct Http2Stats {
        /// Connections (parsers) counted here.
        pub connections: u64,
        /// Frames whose header was read.
        pub frames: u64,
        /// Request streams given a record.
        pub streams: u64,
        /// The client's first bytes were not the connection preface: its direction was not parsed.
        pub bad_preface: u64,
        /// Header blocks HPACK could not decode (the direction's later blocks are not decoded).
        pub hpack_errors: u64,
        /// Header blocks over `max_header_block_bytes`.
        pub header_blocks_too_large: u64,
        /// New streams refused a record at `max_open_streams`.
        pub streams_over_limit: u64,
        /// RST_STREAM frames.
        pub resets: u64,
        /// GOAWAY frames.
        pub goaways: u64,
        /// PUSH_PROMISE frames (pushed streams get no record; their header blocks are decoded to
        /// keep the HPACK state).
        pub pushes: u64,
        /// New request streams whose header block could not be decoded (HPACK state lost, block
        /// too large): no record.
        pub undecoded_streams: u64,
        /// Server HEADERS or DATA on a stream without a record.
        pub unmatched_frames: u64,
        /// Gap events.
        pub gaps: u64,
        /// Gaps that cut framing (outside a DATA or skipped payload) or a header block: the rest
        /// of that direction was not parsed and its open streams are incomplete.
        pub directions_lost: u64,
        /// Frames breaking the protocol in a way that matters here: CONTINUATION out of place,
        /// padding longer than the frame, a header block on stream 0.
        pub protocol_errors: u64,
        /// A direction ended inside a frame.
        pub truncated_frames: u64,
        /// Header blocks whose fields were read only in part (or not at all) because of
        /// `max_header_list_bytes` or `max_decoded_header_bytes`.
        pub header_lists_truncated: u64,
        /// Connections that used up `max_decoded_header_bytes`.
        pub header_budget_exhausted: u64,
        /// Kept values (`:method`, `:path`, `:authority`, `host`) cut at `max_value_bytes`.
        pub values_truncated: u64,
        /// Decoded header bytes read (name + value + 32 per field), the quantity the budgets
        /// bound.
        pub decoded_header_bytes: u64,
        /// Header fields not kept (header capture on: past `HeaderLimits::max_fields` or
        /// `max_message_bytes`; fields the budgets above left unread are not counted here).
        pub kept_headers_dropped: u64,
        /// Header fields kept with their name or value cut (header capture on:
        /// `HeaderLimits::max_name_bytes`, `max_value_bytes`).
        pub kept_headers_truncated: u64,
        /// WebSockets (extended CONNECT streams) that ended past
        /// `proto::websocket::MAX_STREAM_WEBSOCKETS` kept by the connection: no row.
        pub websockets_dropped: u64,
    }
}

/// A frame header.
#[derive(Debug, Clone, Copy, Default)]
struct FrameHead {
    len: u32,
    typ: u8,
    flags: u8,
    stream: u32,
}

impl FrameHead {
    fn parse(b: &[u8; FRAME_HEADER]) -> FrameHead {
        FrameHead {
            len: u32::from_be_bytes([0, b[0], b[1], b[2]]),
            typ: b[3],
            flags: b[4],
            stream: u32::from_be_bytes([b[5], b[6], b[7], b[8]]) & 0x7fff_ffff,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RState {
    /// Client: expecting the preface; bytes of it seen so far.
    Preface(usize),
    /// Reading a frame header (`hdr_n` bytes of it so far).
    Header,
    /// Inside a frame payload.
    Payload,
    /// Nothing more is parsed in this direction.
    Stopped,
}

/// A header block being gathered (HEADERS or PUSH_PROMISE, then CONTINUATION).
#[derive(Debug)]
struct Block {
    stream: u32,
    push: bool,
    end_stream: bool,
    start_ts: i64,
    bytes: Vec<u8>,
    /// Encoded bytes of the fragments (also counted when the block is too large).
    encoded: u64,
    too_large: bool,
}

/// One direction's framing state and HPACK decoder.
struct Reader {
    state: RState,
    hdr: [u8; FRAME_HEADER],
    hdr_n: usize,
    frame: FrameHead,
    /// Payload bytes still to come.
    left: u32,
    /// Payload bytes to keep (a prefix of the payload).
    keep: usize,
    buf: Vec<u8>,
    /// Payload bytes of this frame lost in gaps.
    gapped: u64,
    /// Capture time of the segment with the frame's first byte.
    frame_ts: i64,
    /// The frame is DATA of a tunnel ([`Tunnel`]): its data bytes go to the tunnel as they
    /// arrive.
    tunnel: bool,
    block: Option<Block>,
    hpack: hpack::Decoder,
    /// HPACK state lost: header blocks are no longer decoded.
    hpack_lost: bool,
}

impl std::fmt::Debug for Reader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reader")
            .field("state", &self.state)
            .field("frame", &self.frame)
            .field("left", &self.left)
            .field("buffered", &self.buf.len())
            .field("block", &self.block)
            .field("hpack_lost", &self.hpack_lost)
            .finish_non_exhaustive()
    }
}

impl Reader {
    fn new(state: RState, max_table: usize) -> Self {
        let mut hpack = hpack::Decoder::new(DEFAULT_TABLE_SIZE);
        hpack.set_allowed(DEFAULT_TABLE_SIZE.min(max_table));
        Reader {
            state,
            hdr: [0; FRAME_HEADER],
            hdr_n: 0,
            frame: FrameHead::default(),
            left: 0,
            keep: 0,
            buf: Vec::new(),
            gapped: 0,
            frame_ts: i64::MIN,
            tunnel: false,
            block: None,
            hpack,
            hpack_lost: false,
        }
    }
}

/// A stream's record with the parser's bookkeeping.
#[derive(Debug)]
struct Stream {
    r: HttpExchange,
    /// Position among the connection's request streams (the order they started).
    seq: u64,
    req_done: bool,
    resp_done: bool,
    got_final: bool,
    damaged: bool,
    /// The request is an extended CONNECT with `:protocol: websocket` (RFC 8441 §4).
    websocket: bool,
    /// Memory the stream holds, as counted in `Http2Parser::stream_bytes`.
    cost: usize,
}

/// A kept stream's memory besides its record (its own fields, and its slot in a map).
const STREAM_BOOKKEEPING: usize = std::mem::size_of::<Stream>()
    - std::mem::size_of::<HttpExchange>()
    + std::mem::size_of::<u32>();

impl Stream {
    fn new(r: HttpExchange, seq: u64, req_done: bool, damaged: bool, websocket: bool) -> Stream {
        let cost = r.held_bytes() + STREAM_BOOKKEEPING;
        Stream {
            r,
            seq,
            req_done,
            resp_done: false,
            got_final: false,
            damaged,
            websocket,
            cost,
        }
    }
}

/// A stream after a 2xx answered its `CONNECT` (RFC 9113 §8.5, RFC 8441): its DATA frames
/// carry another protocol, not a response body. Its row is final at the 2xx (as an HTTP/1
/// `101` is); the stream stays here until both ends closed or it was reset.
#[derive(Debug)]
struct Tunnel {
    /// The WebSocket inside (extended CONNECT with `:protocol: websocket`); `None`: a plain
    /// CONNECT tunnel, whose bytes are not looked at.
    ws: Option<Box<WebSocketParser>>,
    /// END_STREAM seen from the client, from the server.
    ended: [bool; 2],
    /// Memory counted for it in `Http2Parser::tunnel_bytes` while in `tunnels` (0 before).
    cost: usize,
}

impl Stream {
    /// The record, `complete` set: both directions ended, not reset, nothing lost.
    fn into_record(self) -> HttpExchange {
        let mut r = self.r;
        r.complete = self.req_done && self.resp_done && !self.damaged;
        r
    }
}

/// What a decoded header block said.
#[derive(Debug, Default)]
struct Fields {
    method: Option<String>,
    path: Option<String>,
    authority: Option<String>,
    host: Option<String>,
    status: Option<u16>,
    /// `:protocol` is `websocket` (extended CONNECT, RFC 8441 §4).
    ws_protocol: bool,
    /// A `sec-websocket-extensions` field accepts `permessage-deflate`.
    deflate: bool,
    /// Every field, when header capture is on.
    list: Option<HeaderList>,
}

#[cfg(test)]
fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// `b` as text (lossy UTF-8), at most `max` bytes cut at a character boundary; whether it
/// was cut.
fn text_capped(b: &[u8], max: usize) -> (String, bool) {
    let cut = b.len() > max;
    let mut s = String::from_utf8_lossy(b.get(..max).unwrap_or(b)).into_owned();
    if cut {
        // A multi-byte character cut at `max` became U+FFFD: drop it.
        if s.ends_with('\u{fffd}') && std::str::from_utf8(b).is_ok() {
            s.pop();
        }
    }
    (s, cut)
}

/// Sans-IO HTTP/2 parser of one connection (both directions). Feed it through
/// [`StreamSink`]; take the records with [`into_records`](Http2Parser::into_records).
#[derive(Debug)]
pub struct Http2Parser {
    cfg: Http2Config,
    c2s: Reader,
    s2c: Reader,
    /// Open streams (request seen, not both ends closed nor reset), by stream id. Only these
    /// can change: every frame reaches a record through this map.
    open: HashMap<u32, Stream>,
    /// Streams no longer open, in the order they left it: their records are final (taken by
    /// [`take_finished`](Http2Parser::take_finished)).
    done: Vec<Stream>,
    /// Streams whose `CONNECT` a 2xx answered, still open, by stream id (they count in
    /// `max_open_streams` with `open`).
    tunnels: HashMap<u32, Tunnel>,
    /// WebSockets whose stream ended, in the order they ended.
    ws_done: Vec<StreamWebSocket>,
    /// `seq` of the next stream.
    next_seq: u64,
    /// Highest client stream id seen in a HEADERS frame.
    last_client_stream: u32,
    /// `request_index` of the next stream.
    next_index: u32,
    stats: Http2Stats,
    /// `max_decoded_header_bytes` was reached (counted once).
    budget_exhausted: bool,
    /// Memory the streams kept (open and done) hold (each stream's `cost`), counted in
    /// [`StreamSink::held`]: up to `max_open_streams` open, each with its record.
    stream_bytes: usize,
    /// Memory the WebSockets in `ws_done` hold (`WebSocketParser::held_bytes` each), counted in
    /// [`StreamSink::held`].
    ws_bytes: usize,
    /// Memory the open tunnels hold (each its `cost`: its WebSocket's, as it opened), counted in
    /// [`StreamSink::held`].
    tunnel_bytes: usize,
}

impl Http2Parser {
    /// A parser for a connection whose client starts with the connection preface: clear-text
    /// h2c with prior knowledge, or the decrypted bytes of a TLS connection with ALPN `h2`.
    pub fn new(cfg: Http2Config) -> Self {
        Self::with_state(cfg, RState::Preface(0))
    }

    fn with_state(cfg: Http2Config, client: RState) -> Self {
        Http2Parser {
            cfg,
            c2s: Reader::new(client, cfg.max_table_bytes),
            s2c: Reader::new(RState::Header, cfg.max_table_bytes),
            open: HashMap::new(),
            done: Vec::new(),
            tunnels: HashMap::new(),
            ws_done: Vec::new(),
            next_seq: 0,
            last_client_stream: 0,
            next_index: 0,
            budget_exhausted: false,
            stream_bytes: 0,
            ws_bytes: 0,
            tunnel_bytes: 0,
            stats: Http2Stats {
                connections: 1,
                ..Http2Stats::default()
            },
        }
    }

    /// A parser taking over after `101 Switching Protocols` answered an HTTP/1.1 request with
    /// `Upgrade: h2c` (RFC 7540 §3.2): `request` (the HTTP/1 record of that request, with its
    /// `request_index`) becomes stream 1, whose response comes in HTTP/2 frames;
    /// `request_done` says whether the HTTP/1 request was seen whole. Later streams are
    /// numbered after it. The client's next bytes are the preface, the server's its SETTINGS.
    pub fn upgraded(cfg: Http2Config, request: HttpExchange, request_done: bool) -> Self {
        let mut p = Self::with_state(cfg, RState::Preface(0));
        let mut r = request;
        r.stream_id = Some(1);
        r.version = HttpVersion::Http2;
        r.upgraded = true;
        r.status = None;
        r.response_start_ts = None;
        r.response_end_ts = None;
        r.response_header_bytes = None;
        r.response_body_bytes = None;
        r.complete = false;
        p.next_index = r.request_index.saturating_add(1);
        p.next_seq = 1;
        let s = Stream::new(r, 0, request_done, false, false);
        p.stream_bytes += s.cost;
        p.open.insert(1, s);
        p.last_client_stream = 1;
        p.stats.streams += 1;
        p
    }

    /// Whether the client's first bytes are the HTTP/2 connection preface; `NeedMore` while
    /// they are a proper prefix of it.
    pub fn probe(head: &[u8]) -> Probe {
        let n = head.len().min(PREFACE.len());
        if head[..n] != PREFACE[..n] {
            Probe::No
        } else if n < PREFACE.len() {
            Probe::NeedMore
        } else {
            Probe::Yes
        }
    }

    /// Counters so far.
    pub fn stats(&self) -> &Http2Stats {
        &self.stats
    }

    /// The records, one per request stream in the order the streams started. Streams without
    /// both END_STREAMs, reset, or hit by a gap have `complete = false`.
    pub fn into_records(self) -> Vec<HttpExchange> {
        let mut v = self.done;
        v.extend(self.open.into_values());
        v.sort_unstable_by_key(|s| s.seq);
        v.into_iter().map(Stream::into_record).collect()
    }

    /// Takes the records of the streams that are over, once at least `min` of them are kept,
    /// so that a long-lived connection does not keep all its streams (a stream is over when
    /// both directions ended or it was reset; every frame reaches a record through the open
    /// streams, so its record can no longer change). `complete` is set as
    /// [`into_records`](Http2Parser::into_records) would, and `request_index` is unchanged.
    /// The taken records are in the order their streams started; streams still open are not
    /// taken, so a later call or `into_records` may return streams that started before them:
    /// all the records, taken or not, sorted by `request_index`, are those `into_records`
    /// would have returned without taking.
    pub fn take_finished(&mut self, min: usize) -> Vec<HttpExchange> {
        if self.done.len() < min.max(1) {
            return Vec::new();
        }
        let mut v = std::mem::take(&mut self.done);
        let taken: usize = v.iter().map(|s| s.cost).sum();
        self.stream_bytes = self.stream_bytes.saturating_sub(taken);
        v.sort_unstable_by_key(|s| s.seq);
        v.into_iter().map(Stream::into_record).collect()
    }

    /// Streams kept (open or over but not taken).
    #[cfg(test)]
    pub(crate) fn kept(&self) -> usize {
        self.open.len() + self.done.len()
    }

    /// Takes the WebSockets carried by extended CONNECT streams (RFC 8441): those whose
    /// stream ended, in the order they ended, then those still open (by stream id, `end_ts`
    /// `None`). Call it when the connection is over; the parsers are not finished, so that the
    /// caller finishes each at its stream's end or the connection's.
    pub fn take_websockets(&mut self) -> Vec<StreamWebSocket> {
        self.ws_bytes = 0;
        self.tunnel_bytes = 0;
        let mut v = std::mem::take(&mut self.ws_done);
        let mut open: Vec<(u32, Tunnel)> = self.tunnels.drain().collect();
        open.sort_unstable_by_key(|(id, _)| *id);
        v.extend(open.into_iter().filter_map(|(stream_id, t)| {
            t.ws.map(|ws| StreamWebSocket {
                stream_id: u64::from(stream_id),
                end_ts: None,
                parser: *ws,
            })
        }));
        v
    }

    #[cfg_attr(not(any(test, feature = "fuzzing")), allow(dead_code))] // used by tests and fuzzing
    /// Records and counters.
    pub fn finish(self) -> (Vec<HttpExchange>, Http2Stats) {
        let stats = self.stats.clone();
        (self.into_records(), stats)
    }

    fn reader(&mut self, client: bool) -> &mut Reader {
        if client {
            &mut self.c2s
        } else {
            &mut self.s2c
        }
    }

    fn feed(&mut self, ts: i64, client: bool, mut d: &[u8]) {
        while !d.is_empty() {
            let r = self.reader(client);
            match r.state {
                RState::Stopped => return,
                RState::Preface(got) => {
                    let n = d.len().min(PREFACE.len() - got);
                    if d[..n] != PREFACE[got..got + n] {
                        self.stats.bad_preface += 1;
                        self.stop(client);
                        return;
                    }
                    d = &d[n..];
                    let r = self.reader(client);
                    r.state = if got + n == PREFACE.len() {
                        RState::Header
                    } else {
                        RState::Preface(got + n)
                    };
                }
                RState::Header => {
                    if r.hdr_n == 0 {
                        r.frame_ts = ts;
                    }
                    let n = d.len().min(FRAME_HEADER - r.hdr_n);
                    r.hdr[r.hdr_n..r.hdr_n + n].copy_from_slice(&d[..n]);
                    r.hdr_n += n;
                    d = &d[n..];
                    if r.hdr_n == FRAME_HEADER {
                        r.hdr_n = 0;
                        self.start_frame(client, ts);
                    }
                }
                RState::Payload => {
                    let n = d.len().min(r.left as usize);
                    let keep = r.keep.saturating_sub(r.buf.len()).min(n);
                    r.buf.extend_from_slice(&d[..keep]);
                    // A tunnel's data bytes in this piece: the payload less the pad length
                    // byte and the padding (known once the pad length byte was read).
                    let tunnel = r.tunnel.then(|| {
                        let len = r.frame.len as usize;
                        let pos = len - r.left as usize;
                        let (lo, hi) = if r.frame.flags & PADDED != 0 {
                            let pad = r.buf.first().map_or(len, |&p| usize::from(p));
                            (1usize, len.saturating_sub(pad))
                        } else {
                            (0usize, len)
                        };
                        (
                            r.frame.stream,
                            lo.saturating_sub(pos),
                            hi.saturating_sub(pos).min(n),
                        )
                    });
                    r.left -= n as u32;
                    if let Some((stream, lo, hi)) = tunnel.filter(|(_, lo, hi)| lo < hi) {
                        let dir = Direction::from_client(client);
                        if let Some(ws) = self.tunnels.get_mut(&stream).and_then(|t| t.ws.as_mut())
                        {
                            ws.on_data(ts, dir, &d[lo..hi]);
                        }
                    }
                    d = &d[n..];
                    let r = self.reader(client);
                    if r.left == 0 {
                        self.end_frame(client, ts);
                    }
                }
            }
        }
    }

    /// A frame header was read: decide what of the payload to keep.
    fn start_frame(&mut self, client: bool, ts: i64) {
        self.stats.frames += 1;
        let max_block = self.cfg.max_header_block_bytes;
        let f = FrameHead::parse(&self.reader(client).hdr);
        let tunnel = f.typ == DATA && self.tunnels.contains_key(&f.stream);
        let r = self.reader(client);
        r.tunnel = tunnel;
        r.frame = f;
        r.left = f.len;
        r.buf.clear();
        r.gapped = 0;
        let len = f.len as usize;
        let so_far = r.block.as_ref().map_or(0, |b| b.bytes.len());
        r.keep = match f.typ {
            DATA => usize::from(f.flags & PADDED != 0),
            HEADERS | PUSH_PROMISE | CONTINUATION if so_far.saturating_add(len) <= max_block => len,
            HEADERS | PUSH_PROMISE | CONTINUATION => 0, // too large: skipped, counted at its end
            SETTINGS => len.min(6 * MAX_SETTINGS),
            RST_STREAM => len.min(4),
            GOAWAY => len.min(8),
            _ => 0, // PRIORITY, PING, WINDOW_UPDATE, unknown: skipped
        };
        r.state = RState::Payload;
        if f.len == 0 {
            self.end_frame(client, ts);
        }
    }

    /// A frame's payload ended (in the segment captured at `ts`).
    fn end_frame(&mut self, client: bool, ts: i64) {
        let r = self.reader(client);
        r.state = RState::Header;
        let f = r.frame;
        let payload = std::mem::take(&mut r.buf);
        let gapped = r.gapped;
        let start_ts = r.frame_ts;
        // A header block in progress must be continued by CONTINUATION on its stream.
        if r.block.is_some() && f.typ != CONTINUATION {
            r.block = None;
            self.stats.protocol_errors += 1;
            self.lose_hpack(client);
        }
        match f.typ {
            DATA => self.on_data_frame(client, f, &payload, gapped, ts),
            HEADERS | PUSH_PROMISE => {
                if f.stream == 0 {
                    self.stats.protocol_errors += 1;
                    self.lose_hpack(client);
                    return;
                }
                let push = f.typ == PUSH_PROMISE;
                if push {
                    self.stats.pushes += 1;
                }
                let too_large = payload.len() as u64 != u64::from(f.len);
                let frag = if too_large {
                    Some(&[][..])
                } else {
                    fragment(f, &payload)
                };
                let Some(frag) = frag else {
                    self.stats.protocol_errors += 1;
                    self.lose_hpack(client);
                    return;
                };
                let block = Block {
                    stream: f.stream,
                    push,
                    end_stream: !push && f.flags & END_STREAM != 0,
                    start_ts,
                    bytes: frag.to_vec(),
                    encoded: frag.len() as u64 + if too_large { u64::from(f.len) } else { 0 },
                    too_large,
                };
                self.reader(client).block = Some(block);
                if f.flags & END_HEADERS != 0 {
                    self.end_block(client, ts);
                }
            }
            CONTINUATION => {
                let r = self.reader(client);
                let Some(b) = r.block.as_mut().filter(|b| b.stream == f.stream) else {
                    r.block = None;
                    self.stats.protocol_errors += 1;
                    self.lose_hpack(client);
                    return;
                };
                if payload.len() as u64 == u64::from(f.len) && !b.too_large {
                    b.bytes.extend_from_slice(&payload);
                    b.encoded += payload.len() as u64;
                } else {
                    b.too_large = true;
                    b.bytes.clear();
                    b.encoded += u64::from(f.len);
                }
                if f.flags & END_HEADERS != 0 {
                    self.end_block(client, ts);
                }
            }
            SETTINGS if f.flags & ACK == 0 && f.stream == 0 => {
                for s in payload.chunks_exact(6) {
                    let id = u16::from_be_bytes([s[0], s[1]]);
                    let v = u32::from_be_bytes([s[2], s[3], s[4], s[5]]);
                    if id == SETTINGS_HEADER_TABLE_SIZE {
                        // The sender's decoding table: it bounds the peer's encoder.
                        let max = self.cfg.max_table_bytes;
                        let v = usize::try_from(v).unwrap_or(usize::MAX).min(max);
                        self.reader(!client).hpack.set_allowed(v);
                    }
                }
            }
            RST_STREAM => {
                self.stats.resets += 1;
                if let Some(mut s) = self.open.remove(&f.stream) {
                    s.damaged = true;
                    self.done.push(s);
                }
                // A tunnel's reset ends it (its row was final at the 2xx).
                if let Some(t) = self.tunnels.remove(&f.stream) {
                    self.end_tunnel(f.stream, t, ts);
                }
            }
            GOAWAY => self.stats.goaways += 1,
            PRIORITY | PING | WINDOW_UPDATE => {}
            _ => {}
        }
    }

    fn on_data_frame(&mut self, client: bool, f: FrameHead, payload: &[u8], gapped: u64, ts: i64) {
        let mut n = u64::from(f.len);
        if f.flags & PADDED != 0 {
            match payload.first() {
                Some(&pad) if u64::from(pad) < n => n -= 1 + u64::from(pad),
                _ => {
                    self.stats.protocol_errors += 1;
                    n = 0;
                }
            }
        }
        let n = n.saturating_sub(gapped);
        if self.tunnels.contains_key(&f.stream) {
            // Its bytes went to the tunnel as they came (`feed`); only the end matters here.
            if f.flags & END_STREAM != 0 {
                self.tunnel_end_stream(f.stream, client, ts);
            }
            return;
        }
        let Some(s) = self.open.get_mut(&f.stream) else {
            if !client && f.stream != 0 {
                self.stats.unmatched_frames += 1;
            }
            return;
        };
        if gapped > 0 {
            s.damaged = true;
        }
        let end = f.flags & END_STREAM != 0;
        if client {
            s.r.request_body_bytes = s.r.request_body_bytes.saturating_add(n);
            s.r.request_end_ts = Some(ts);
            s.req_done |= end;
        } else {
            if !s.got_final {
                // DATA before the final response's HEADERS (a protocol error, RFC 9113 §8.1):
                // the response has no head, so the stream cannot be complete.
                self.stats.protocol_errors += 1;
                s.damaged = true;
            }
            let b = s.r.response_body_bytes.get_or_insert(0);
            *b = b.saturating_add(n);
            s.r.response_end_ts = Some(ts);
            s.resp_done |= end;
        }
        self.maybe_close(f.stream);
    }

    /// A header block ended (END_HEADERS in the segment captured at `ts`): decode it.
    fn end_block(&mut self, client: bool, ts: i64) {
        let Some(b) = self.reader(client).block.take() else {
            return;
        };
        let fields = if b.too_large {
            self.stats.header_blocks_too_large += 1;
            self.lose_hpack(client);
            None
        } else {
            self.decode(client, &b.bytes, !b.push)
        };
        if b.push {
            return; // pushed streams get no record (counted in `pushes`)
        }
        if client {
            self.client_block(b, fields, ts);
        } else {
            self.server_block(b, fields, ts);
        }
    }

    /// HPACK-decodes a block; `None` when this direction's HPACK state is (now) lost.
    fn decode(&mut self, client: bool, bytes: &[u8], capture: bool) -> Option<Fields> {
        let max_value = self.cfg.max_value_bytes;
        let lim = self.cfg.headers.filter(|_| capture);
        let list_cap = self.cfg.max_header_list_bytes as u64;
        // What the connection's budget still allows.
        let conn_left = self
            .cfg
            .max_decoded_header_bytes
            .saturating_sub(self.stats.decoded_header_bytes);
        let r = self.reader(client);
        if r.hpack_lost {
            return None;
        }
        let mut out = Fields {
            list: lim.map(|l| HeaderList::with_capacity(&l, 16, bytes.len().saturating_mul(2))),
            ..Fields::default()
        };
        let (mut read, mut cut, mut by_budget, mut values_cut) = (0u64, false, false, 0u64);
        let (mut kept_dropped, mut kept_cut) = (0u64, 0u64);
        let res = r.hpack.decode(bytes, |name, value| {
            // A field costs O(1) here unless it is read, and a read field costs at most its
            // decoded size, which the two budgets bound.
            let size = (name.len() + value.len()) as u64 + 32;
            if cut || read + size > list_cap.min(conn_left) {
                by_budget |= !cut && read + size > conn_left;
                cut = true;
                if let Some(list) = &mut out.list {
                    list.skip();
                }
                return;
            }
            read += size;
            if let (Some(list), Some(l)) = (&mut out.list, &lim) {
                headers::count(list.push(l, name, value), &mut kept_dropped, &mut kept_cut);
            }
            let mut keep = |v: &[u8]| {
                let (s, c) = text_capped(v, max_value);
                values_cut += u64::from(c);
                Some(s)
            };
            match name {
                b":method" => out.method = keep(value),
                b":path" => out.path = keep(value),
                b":authority" => out.authority = keep(value),
                b"host" => out.host = keep(value).map(|h| h.trim().to_string()),
                b":protocol" => out.ws_protocol = value.eq_ignore_ascii_case(b"websocket"),
                b"sec-websocket-extensions" => {
                    out.deflate |= std::str::from_utf8(value).is_ok_and(has_deflate);
                }
                b":status" => {
                    out.status = std::str::from_utf8(value).ok().and_then(|s| s.parse().ok());
                }
                _ => {}
            }
        });
        self.stats.decoded_header_bytes += read;
        self.stats.values_truncated += values_cut;
        self.stats.kept_headers_dropped += kept_dropped;
        self.stats.kept_headers_truncated += kept_cut;
        if cut {
            self.stats.header_lists_truncated += 1;
        }
        if by_budget && !self.budget_exhausted {
            self.budget_exhausted = true;
            self.stats.header_budget_exhausted += 1;
        }
        match res {
            Ok(()) => Some(out),
            Err(_) => {
                self.stats.hpack_errors += 1;
                self.lose_hpack(client);
                None
            }
        }
    }

    fn client_block(&mut self, b: Block, fields: Option<Fields>, ts: i64) {
        if self.tunnels.contains_key(&b.stream) {
            // Trailers on a tunnel: only its end matters.
            if b.end_stream {
                self.tunnel_end_stream(b.stream, true, ts);
            }
            return;
        }
        if let Some(s) = self.open.get_mut(&b.stream) {
            // Trailers (or a block after the upgrade's stream 1).
            s.r.request_header_bytes = s.r.request_header_bytes.saturating_add(b.encoded);
            s.r.request_end_ts = Some(ts);
            s.req_done |= b.end_stream;
            s.damaged |= fields.is_none();
            self.maybe_close(b.stream);
            return;
        }
        if b.stream.is_multiple_of(2) || b.stream <= self.last_client_stream {
            return; // a block on a closed (or server) stream: nothing to attach it to
        }
        self.last_client_stream = b.stream;
        if self.open.len() + self.tunnels.len() >= self.cfg.max_open_streams {
            self.stats.streams_over_limit += 1;
            return;
        }
        let Some(f) = fields else {
            // HPACK state lost: the request cannot be told; no record is invented.
            self.stats.undecoded_streams += 1;
            return;
        };
        let lost = f.method.is_none();
        let websocket = f.ws_protocol && f.method.as_deref() == Some("CONNECT");
        let r = HttpExchange {
            request_index: self.next_index,
            stream_id: Some(b.stream),
            request_start_ts: b.start_ts,
            request_end_ts: Some(ts),
            method: f.method.map(Text::from),
            host: f.authority.or(f.host).map(Text::from),
            path: f.path.map(Text::from),
            version: HttpVersion::Http2,
            request_header_bytes: b.encoded,
            headers: f.list.map(|request| {
                Box::new(HttpHeaders {
                    request,
                    ..HttpHeaders::default()
                })
            }),
            ..HttpExchange::default()
        };
        self.next_index = self.next_index.saturating_add(1);
        self.stats.streams += 1;
        let seq = self.next_seq;
        self.next_seq += 1;
        let s = Stream::new(r, seq, b.end_stream, lost, websocket);
        self.stream_bytes += s.cost;
        self.open.insert(b.stream, s);
    }

    fn server_block(&mut self, b: Block, fields: Option<Fields>, ts: i64) {
        if self.tunnels.contains_key(&b.stream) {
            if b.end_stream {
                self.tunnel_end_stream(b.stream, false, ts);
            }
            return;
        }
        let Some(s) = self.open.get_mut(&b.stream) else {
            self.stats.unmatched_frames += 1;
            return;
        };
        let status = fields.as_ref().and_then(|f| f.status);
        let mut fields = fields;
        if s.got_final {
            // Trailers.
            let h = s.r.response_header_bytes.get_or_insert(0);
            *h = h.saturating_add(b.encoded);
        } else if status.is_some_and(|c| (100..200).contains(&c)) && !b.end_stream {
            // An interim (1xx) response: the final one follows.
            return;
        } else {
            s.got_final = true;
            // A response head without a valid `:status` is malformed (RFC 9113 §8.3.2): like a
            // request without `:method`, its row cannot be complete.
            s.damaged |= status.is_none();
            s.r.status = status;
            s.r.response_start_ts = Some(b.start_ts);
            s.r.response_header_bytes = Some(b.encoded);
            s.r.response_body_bytes.get_or_insert(0);
            if let Some(list) = fields.as_mut().and_then(|f| f.list.take()) {
                let h = s.r.headers.get_or_insert_with(Box::default);
                h.response = list;
                // After `Upgrade: h2c`, the 101's reason phrase is not this response's.
                h.status_text = None;
                let now = s.r.held_bytes() + STREAM_BOOKKEEPING;
                self.stream_bytes = self.stream_bytes.saturating_sub(s.cost) + now;
                s.cost = now;
            }
        }
        s.r.response_end_ts = Some(ts);
        s.resp_done |= b.end_stream;
        s.damaged |= fields.is_none();
        // A 2xx to a CONNECT (RFC 9113 §8.5) makes the stream a tunnel.
        let tunnel = s.r.method.as_deref() == Some("CONNECT")
            && s.got_final
            && status.is_some_and(|c| (200..300).contains(&c));
        if tunnel {
            // RFC 9113 §8.5 / RFC 8441 §5: the stream now carries the tunnel's bytes. The row
            // is final here, as an HTTP/1 `101` row is: the request was its head, the
            // response its head.
            s.r.upgraded = true;
            s.req_done = true;
            let ended = [false, std::mem::replace(&mut s.resp_done, true)];
            let ws = s.websocket.then(|| {
                let deflate = fields.as_ref().is_some_and(|f| f.deflate);
                Box::new(
                    WebSocketParser::new(ts, deflate)
                        .with_request(s.r.host.as_deref(), s.r.path.as_deref()),
                )
            });
            self.maybe_close(b.stream);
            let mut t = Tunnel { ws, ended, cost: 0 };
            if ended[1] {
                self.end_tunnel(b.stream, t, ts);
            } else {
                t.cost =
                    std::mem::size_of::<Tunnel>() + t.ws.as_ref().map_or(0, |w| w.held_bytes());
                self.tunnel_bytes += t.cost;
                self.tunnels.insert(b.stream, t);
            }
            return;
        }
        self.maybe_close(b.stream);
    }

    /// END_STREAM on a tunnel from one side; the tunnel ends when both sides ended.
    fn tunnel_end_stream(&mut self, stream: u32, client: bool, ts: i64) {
        let Some(t) = self.tunnels.get_mut(&stream) else {
            return;
        };
        t.ended[usize::from(!client)] = true;
        if let Some(ws) = t.ws.as_mut() {
            ws.on_close(ts, Direction::from_client(client));
        }
        if t.ended == [true, true] {
            if let Some(t) = self.tunnels.remove(&stream) {
                self.end_tunnel(stream, t, ts);
            }
        }
    }

    /// A tunnel is over at `ts` (both ends closed, or reset).
    fn end_tunnel(&mut self, stream_id: u32, t: Tunnel, ts: i64) {
        self.tunnel_bytes = self.tunnel_bytes.saturating_sub(t.cost);
        if t.ws.is_some() && self.ws_done.len() >= MAX_STREAM_WEBSOCKETS {
            self.stats.websockets_dropped += 1;
            return;
        }
        if let Some(ws) = t.ws {
            self.ws_bytes += ws.held_bytes();
            self.ws_done.push(StreamWebSocket {
                stream_id: u64::from(stream_id),
                end_ts: Some(ts),
                parser: *ws,
            });
        }
    }

    /// Close a stream once both ends are closed: its record is final.
    fn maybe_close(&mut self, stream: u32) {
        if self
            .open
            .get(&stream)
            .is_some_and(|s| s.req_done && s.resp_done)
        {
            if let Some(s) = self.open.remove(&stream) {
                self.done.push(s);
            }
        }
    }

    /// This direction's HPACK state is lost: its later header blocks cannot be decoded, so the
    /// streams still open are incomplete.
    fn lose_hpack(&mut self, client: bool) {
        let r = self.reader(client);
        if r.hpack_lost {
            return;
        }
        r.hpack_lost = true;
        self.damage_open();
    }

    fn damage_open(&mut self) {
        for s in self.open.values_mut() {
            s.damaged = true;
        }
    }

    /// Stop parsing one direction.
    fn stop(&mut self, client: bool) {
        let r = self.reader(client);
        r.state = RState::Stopped;
        r.buf = Vec::new();
        r.block = None;
        r.hpack_lost = true;
        self.damage_open();
        // The tunnels' later bytes in this direction are lost: an unbounded gap in each.
        for t in self.tunnels.values_mut() {
            if let Some(ws) = t.ws.as_mut() {
                ws.on_gap(i64::MIN, Direction::from_client(client), u64::MAX);
            }
        }
    }
}

/// The header block fragment of a HEADERS or PUSH_PROMISE payload (padding, priority and the
/// promised stream id removed); `None` when the padding does not fit.
fn fragment(f: FrameHead, p: &[u8]) -> Option<&[u8]> {
    let mut start = 0usize;
    let mut end = p.len();
    if f.flags & PADDED != 0 {
        let pad = usize::from(*p.first()?);
        start += 1;
        end = end.checked_sub(pad)?;
    }
    if f.typ == HEADERS && f.flags & PRIORITY_FLAG != 0 {
        start += 5;
    }
    if f.typ == PUSH_PROMISE {
        start += 4;
    }
    p.get(start..end)
}

impl StreamSink for Http2Parser {
    fn on_data(&mut self, ts_ns: i64, dir: Direction, bytes: &[u8]) {
        self.feed(ts_ns, dir == Direction::ClientToServer, bytes);
    }

    fn held(&self) -> usize {
        [&self.c2s, &self.s2c]
            .iter()
            .map(|r| {
                r.buf.capacity()
                    + r.block.as_ref().map_or(0, |b| b.bytes.capacity())
                    + r.hpack.held()
            })
            .sum::<usize>()
            + self.stream_bytes
            + self.ws_bytes
            + self.tunnel_bytes
    }

    fn shed(&mut self) {
        // The open streams are given up: their records final, incomplete (later frames on
        // them are not matched, as after a reset).
        let mut open: Vec<Stream> = self.open.drain().map(|(_, s)| s).collect();
        open.sort_unstable_by_key(|s| s.seq);
        for mut s in open {
            s.damaged = true;
            self.done.push(s);
        }
        // The WebSockets that ended, kept until the connection ends for their rows: given up,
        // counted as past the ones a connection keeps.
        self.stats.websockets_dropped += self.ws_done.len() as u64;
        self.ws_done = Vec::new();
        self.ws_bytes = 0;
        // The open tunnels too (their rows were final at the 2xx; their later DATA frames are
        // not matched): a WebSocket among them gets no row.
        for (_, t) in self.tunnels.drain() {
            self.stats.websockets_dropped += u64::from(t.ws.is_some());
        }
        self.tunnel_bytes = 0;
        for client in [true, false] {
            // The HPACK table (each direction's lives as long as the connection; tiny entries
            // take about three times their HPACK size): given up, the direction's later header
            // blocks are not decoded, as after a block too large.
            if self.reader(client).hpack.held() > 0 {
                self.reader(client).hpack = hpack::Decoder::new(0);
                self.lose_hpack(client);
            }
            let r = self.reader(client);
            if r.state != RState::Stopped && (!r.buf.is_empty() || r.block.is_some()) {
                self.stats.directions_lost += 1;
                self.stop(client);
            } else if r.buf.is_empty() {
                // Room only: given back, nothing lost.
                r.buf = Vec::new();
            }
        }
    }

    fn on_gap(&mut self, ts_ns: i64, dir: Direction, len: u64) {
        if len == 0 {
            return;
        }
        self.stats.gaps += 1;
        let client = dir == Direction::ClientToServer;
        let r = self.reader(client);
        let survivable = r.state == RState::Payload
            && len <= u64::from(r.left)
            && !matches!(r.frame.typ, HEADERS | PUSH_PROMISE | CONTINUATION);
        match r.state {
            RState::Stopped => {}
            _ if survivable => {
                // Framing survives a gap inside a payload we do not need whole.
                r.left -= u32::try_from(len).unwrap_or(r.left);
                r.gapped += len;
                if r.tunnel {
                    let stream = r.frame.stream;
                    if let Some(ws) = self.tunnels.get_mut(&stream).and_then(|t| t.ws.as_mut()) {
                        ws.on_gap(ts_ns, dir, len);
                    }
                }
                let r = self.reader(client);
                if r.buf.len() < r.keep {
                    // What was to be read from it (SETTINGS, a DATA pad length) is lost.
                    r.keep = 0;
                    r.buf.clear();
                    r.frame.flags &= !PADDED;
                }
                if r.left == 0 {
                    self.end_frame(client, ts_ns);
                }
            }
            _ => {
                self.stats.directions_lost += 1;
                self.stop(client);
            }
        }
    }

    fn on_close(&mut self, ts_ns: i64, dir: Direction) {
        let client = dir == Direction::ClientToServer;
        let r = self.reader(client);
        let inside = match r.state {
            RState::Payload => true,
            RState::Header => r.hdr_n > 0,
            RState::Preface(n) => n > 0,
            RState::Stopped => false,
        };
        let open_block = r.block.is_some();
        r.state = RState::Stopped;
        r.buf = Vec::new();
        r.block = None;
        if inside || open_block {
            self.stats.truncated_frames += 1;
            self.damage_open();
        }
        // The tunnels' WebSocket frames cut by the end stay uncounted (as on HTTP/1).
        for t in self.tunnels.values_mut() {
            if let Some(ws) = t.ws.as_mut() {
                ws.on_close(ts_ns, dir);
            }
        }
    }
}
