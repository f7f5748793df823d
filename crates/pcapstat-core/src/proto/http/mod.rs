//! HTTP/1.x over one TCP connection: requests and responses matched in order (pipelining
//! included), with capture timestamps of their first and last bytes and their sizes.
//!
//! Frame first, then decode: a message head is cut at its blank line and parsed by
//! [`httparse`]; the body is then framed by `Content-Length`, by chunked encoding (decoded
//! incrementally, whatever the segment boundaries) or, for a response without either, by the
//! end of the server's stream. Nothing here reads a clock or does I/O.
//!
//! ```
//! use pcapstat_core::fuzzing::{HttpConfig, HttpParser, Probe, StreamSink};
//! use pcapstat_core::fuzzing::Direction::{ClientToServer as C2S, ServerToClient as S2C};
//!
//! assert_eq!(HttpParser::probe(b"GET / HTTP/1.1\r\n"), Probe::Yes);
//! let mut p = HttpParser::new(HttpConfig::default());
//! p.on_data(1_000, C2S, b"GET /a HTTP/1.1\r\nHost: x\r\n\r\n");
//! p.on_data(2_000, S2C, b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi");
//! let recs = p.into_records();
//! assert_eq!(recs[0].status, Some(200));
//! assert_eq!(recs[0].response_body_bytes, Some(2));
//! assert!(recs[0].complete);
//! ```
//!
//! See `docs/http.md` for every field, the timing definitions and the limits.

mod chunked;
#[cfg(test)]
mod tests;

use crate::stats::counters;
use std::collections::VecDeque;

use chunked::{Chunked, Step};

use super::headers::{self, HeaderLimits, HeaderList, HttpHeaders};
use super::http2::{Http2Config, Http2Parser, Http2Stats};
use super::websocket::{has_deflate, StreamWebSocket, WebSocketParser};
use super::Probe;
use crate::record::{HttpExchange, HttpVersion, Text};
use crate::tcp::{Direction, StreamSink};

/// Request methods recognised at the start of a request line (RFC 9110, WebDAV, PATCH).
const METHODS: &[&[u8]] = &[
    b"GET",
    b"HEAD",
    b"POST",
    b"PUT",
    b"DELETE",
    b"CONNECT",
    b"OPTIONS",
    b"TRACE",
    b"PATCH",
    b"PROPFIND",
    b"PROPPATCH",
    b"MKCOL",
    b"COPY",
    b"MOVE",
    b"LOCK",
    b"UNLOCK",
    b"REPORT",
    b"SEARCH",
    b"MKACTIVITY",
    b"CHECKOUT",
    b"MERGE",
    b"NOTIFY",
    b"SUBSCRIBE",
    b"UNSUBSCRIBE",
    b"PURGE",
];

/// Most headers accepted in one message head (more is a parse error, counted).
const MAX_HEADERS: usize = 128;

/// Limits of one [`HttpParser`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct HttpConfig {
    /// Largest message head (start line and headers, blank line included) buffered while it is
    /// incomplete; a longer head is dropped and counted in [`HttpStats::heads_too_large`].
    /// Also bounds the bytes kept while resynchronising and chunked trailer lines.
    pub max_head_bytes: usize,
    /// Most requests waiting for their response; past it the oldest is given up (counted in
    /// [`HttpStats::pending_dropped`], its record stays with `complete = false`).
    pub max_pending: usize,
    /// Keep the header fields of requests and responses within these bounds
    /// ([`HttpExchange::headers`]); `None` (the default): no header is kept.
    pub headers: Option<HeaderLimits>,
}

#[cfg_attr(not(any(test, feature = "fuzzing")), allow(dead_code))] // used by tests and fuzzing
impl HttpConfig {
    /// Sets [`max_head_bytes`](HttpConfig::max_head_bytes).
    pub fn with_max_head_bytes(mut self, n: usize) -> Self {
        self.max_head_bytes = n;
        self
    }
    /// Sets [`max_pending`](HttpConfig::max_pending).
    pub fn with_max_pending(mut self, n: usize) -> Self {
        self.max_pending = n;
        self
    }
}

impl HttpConfig {
    /// Sets [`headers`](HttpConfig::headers).
    pub fn with_headers(mut self, headers: Option<HeaderLimits>) -> Self {
        self.headers = headers;
        self
    }
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            max_head_bytes: 64 * 1024,
            max_pending: 1024,
            headers: None,
        }
    }
}

counters! {
    /// Counters of one `HttpParser` (sum them over connections for a capture).
    #[derive(Debug, Clone, Default, PartialEq, Eq)]
    #[non_exhaustive]
    pub struct HttpStats {
        /// Request heads parsed.
        pub requests: u64,
        /// Final (non-1xx) response heads parsed.
        pub responses: u64,
        /// 1xx interim responses skipped (not 101).
        pub interim_responses: u64,
        /// Responses with no request to pair with (none pending, or the request was lost in a gap).
        pub unmatched_responses: u64,
        /// Gap events (bytes the capture did not have).
        pub gaps: u64,
        /// Heads longer than `max_head_bytes`.
        pub heads_too_large: u64,
        /// Heads rejected by httparse, bad `Content-Length` in a request, broken chunk framing.
        pub parse_errors: u64,
        /// Times parsing found a message start again after a gap or an error.
        pub resyncs: u64,
        /// Bytes skipped while looking for a message start.
        pub skipped_bytes: u64,
        /// Requests given up at the `max_pending` limit.
        pub pending_dropped: u64,
        /// Message heads cut by the end of their direction.
        pub truncated_heads: u64,
        /// Request heads that could not be parsed even leniently (also in `parse_errors`); the
        /// client side resynchronises on the next request line.
        pub bad_request_heads: u64,
        /// Response heads that could not be parsed even leniently (also in `parse_errors`); the
        /// server side resynchronises on the next status line.
        pub bad_response_heads: u64,
        /// Requests left without a response because a response head before theirs could not be
        /// parsed: no later response is paired with a request sent before the failure.
        pub unpaired_after_bad_head: u64,
        /// Header fields not kept (header capture on: past `HeaderLimits::max_fields` or
        /// `max_message_bytes`).
        pub kept_headers_dropped: u64,
        /// Header fields kept with their name or value cut (header capture on:
        /// `HeaderLimits::max_name_bytes`, `max_value_bytes`; a reason phrase too).
        pub kept_headers_truncated: u64,
    }
}

/// The leniency of browsers and tshark: a space before a header's colon
/// (`Access-Control-Allow-Credentials : true`), obsolete line folding, runs of spaces in the
/// start line, whitespace before the first header, and header lines that are not
/// `name: value` (skipped) are accepted. A NUL or a lone CR in a head, a bad start line or
/// too many headers still fail (docs/http.md, "Leniency").
fn lenient() -> httparse::ParserConfig {
    let mut c = httparse::ParserConfig::default();
    c.allow_spaces_after_header_name_in_responses(true)
        .allow_obsolete_multiline_headers_in_responses(true)
        .allow_multiple_spaces_in_response_status_delimiters(true)
        .allow_multiple_spaces_in_request_line_delimiters(true)
        .allow_space_before_first_header_name(true)
        .ignore_invalid_headers_in_responses(true)
        .ignore_invalid_headers_in_requests(true);
    c
}

/// How a message body is delimited.
#[derive(Debug, Clone)]
enum Body {
    Length(u64),
    Chunked(Chunked),
    UntilClose,
}

#[derive(Debug, Clone)]
enum State {
    /// Waiting for / accumulating a message head.
    Head,
    /// Inside a body.
    Body(Body),
    /// Framing lost: looking for a line that starts a message.
    Resync,
    /// Nothing more is parsed in this direction (closed, or upgraded to another protocol).
    Stopped,
}

/// Room a direction's buffer keeps once emptied (bytes), and its list of segment times
/// (entries): more is given back ([`Reader::reset_buffer`]).
const KEPT_BUFFER: usize = 4096;
const KEPT_CHUNKS: usize = 64;
/// A kept record's memory besides its exchange (`Rec`'s own fields, and its slot in the
/// parser's list).
const REC_BOOKKEEPING: usize = std::mem::size_of::<Rec>() - std::mem::size_of::<HttpExchange>()
    + std::mem::size_of::<Option<usize>>();

/// One direction's framing state and the bytes kept between segments (an incomplete head, or
/// an incomplete line while resynchronising).
#[derive(Debug)]
struct Reader {
    state: State,
    buf: Vec<u8>,
    /// Capture time of the segment that delivered `buf[start..]`, for each segment still in
    /// `buf`, by increasing `start`.
    chunks: Vec<(usize, i64)>,
    /// `buf[0]` (or the next byte, when `buf` is empty) starts a line.
    line_start: bool,
    /// Last capture time of any byte of this direction.
    last_ts: Option<i64>,
    /// Bytes of the head being buffered (from its first byte) already searched for the empty
    /// line that ends it, and the length at which it is next parsed while incomplete: a head
    /// arriving one byte per segment is searched once and parsed O(log n) times, not once per
    /// segment (linear, not quadratic).
    head_scan: HeadScan,
}

/// Progress on an incomplete head (see [`Reader::head_scan`]).
#[derive(Debug, Clone, Copy, Default)]
struct HeadScan {
    scanned: usize,
    next_parse: usize,
}

impl HeadScan {
    /// Whether the head `d` (from its first byte) must be parsed now: its end is in the bytes
    /// not yet searched, or it doubled since the last parse (which finds a bad start line or
    /// header early, as parsing on every segment did). Records the progress when not.
    fn due(&mut self, d: &[u8]) -> bool {
        if self.scanned == 0 {
            // The first bytes of a head: parse at once (most heads come whole in one segment;
            // scanning them for their end first would read them twice).
            self.scanned = d.len();
            self.next_parse = d.len().saturating_mul(2);
            return true;
        }
        let from = self.scanned.min(d.len()).saturating_sub(2);
        let end = d
            .get(from..)
            .unwrap_or(&[])
            .windows(2)
            .any(|w| w == b"\n\n" || w == b"\n\r");
        self.scanned = d.len();
        if end || d.len() >= self.next_parse {
            self.next_parse = d.len().saturating_mul(2);
            true
        } else {
            false
        }
    }
}

impl Reader {
    fn new() -> Self {
        Reader {
            state: State::Head,
            buf: Vec::new(),
            chunks: Vec::new(),
            line_start: true,
            last_ts: None,
            head_scan: HeadScan::default(),
        }
    }

    fn reset_buffer(&mut self) {
        self.buf.clear();
        self.chunks.clear();
        // A large head's room is not kept once parsed: a connection that sent one would hold
        // it, idle, until its end, against its tracker's total (`StreamSink::held`).
        if self.buf.capacity() > KEPT_BUFFER {
            self.buf.shrink_to(KEPT_BUFFER);
        }
        if self.chunks.capacity() > KEPT_CHUNKS {
            self.chunks.shrink_to(KEPT_CHUNKS);
        }
        self.head_scan = HeadScan::default();
    }

    /// Gives back the buffer's room (nothing in it is kept).
    fn release(&mut self) {
        self.buf = Vec::new();
        self.chunks = Vec::new();
    }
}

/// Capture time of byte `i` of the bytes being processed.
fn ts_at(chunks: &[(usize, i64)], i: usize) -> i64 {
    let k = chunks.partition_point(|&(start, _)| start <= i);
    chunks
        .get(k.saturating_sub(1))
        .map_or(i64::MIN, |&(_, ts)| ts)
}

/// The records of a connection in the order sent. Finished ones at the front may be taken
/// ([`HttpParser::take_finished`]); indices stay those of the whole connection.
#[derive(Debug, Default)]
struct Recs {
    items: VecDeque<Rec>,
    /// Records taken so far: `items[0]` is record `base`.
    base: usize,
}

impl Recs {
    /// Records of the connection so far, taken ones included.
    fn len(&self) -> usize {
        self.base + self.items.len()
    }

    fn get(&self, k: usize) -> Option<&Rec> {
        self.items.get(k.checked_sub(self.base)?)
    }

    fn get_mut(&mut self, k: usize) -> Option<&mut Rec> {
        self.items.get_mut(k.checked_sub(self.base)?)
    }

    fn push(&mut self, rec: Rec) {
        // Most connections carry one request: room for one, not the default four.
        if self.items.capacity() == 0 {
            self.items.reserve_exact(1);
        }
        self.items.push_back(rec);
    }
}

/// A record with the parser's bookkeeping.
#[derive(Debug)]
struct Rec {
    r: HttpExchange,
    /// Memory the record holds, as counted in `HttpParser::rec_bytes`.
    cost: usize,
    req_done: bool,
    resp_done: bool,
    damaged: bool,
    is_head: bool,
    is_connect: bool,
    /// The request asked for `Upgrade: h2c`.
    h2c: bool,
    /// The request asked for `Upgrade: websocket`.
    ws: bool,
}

/// Whether `d` starts with a known method and a space: `Some(true)`; `None` when `d` is a
/// proper prefix of such a start (need more bytes).
fn starts_request(d: &[u8]) -> Option<bool> {
    let mut need_more = false;
    for m in METHODS {
        let n = m.len();
        if d.len() > n {
            if &d[..n] == *m && d[n] == b' ' {
                return Some(true);
            }
        } else if m.starts_with(d) || (d.len() == n && d == *m) {
            need_more = true;
        }
    }
    if need_more {
        None
    } else {
        Some(false)
    }
}

/// Whether `d` starts a status line (`HTTP/1.`); `None` when `d` is a proper prefix.
fn starts_response(d: &[u8]) -> Option<bool> {
    const P: &[u8] = b"HTTP/1.";
    if d.len() >= P.len() {
        Some(&d[..P.len()] == P)
    } else if P.starts_with(d) {
        None
    } else {
        Some(false)
    }
}

/// What the parser reads of a head's fields, found in one pass over them (a head has a
/// few fields; a pass per name cost more than the rest of the head's handling).
#[derive(Debug)]
struct Fields<'h> {
    /// The value of the first `Host`.
    host: Option<&'h [u8]>,
    /// The value of the last `Transfer-Encoding` (its last coding says chunked).
    transfer_encoding: Option<&'h [u8]>,
    /// `Content-Length`: `Ok(None)` when absent, `Err` when a value is not one decimal number
    /// or two values differ.
    content_length: Result<Option<u64>, ()>,
    /// An `Upgrade` lists `h2c`.
    upgrade_h2c: bool,
    /// An `Upgrade` lists `websocket`.
    upgrade_websocket: bool,
}

impl<'h> Fields<'h> {
    fn of(headers: &[httparse::Header<'h>]) -> Fields<'h> {
        let mut f = Fields {
            host: None,
            transfer_encoding: None,
            content_length: Ok(None),
            upgrade_h2c: false,
            upgrade_websocket: false,
        };
        for h in headers {
            // The length first: most fields are none of these.
            match h.name.len() {
                4 if h.name.eq_ignore_ascii_case("host") => {
                    f.host.get_or_insert(h.value);
                }
                7 if h.name.eq_ignore_ascii_case("upgrade") => {
                    f.upgrade_h2c |= lists_token(h.value, "h2c");
                    f.upgrade_websocket |= lists_token(h.value, "websocket");
                }
                14 if h.name.eq_ignore_ascii_case("content-length") => {
                    if let Ok(found) = f.content_length {
                        f.content_length = match (decimal(h.value), found) {
                            (Some(v), Some(seen)) if v != seen => Err(()),
                            (Some(v), _) => Ok(Some(v)),
                            (None, _) => Err(()),
                        };
                    }
                }
                17 if h.name.eq_ignore_ascii_case("transfer-encoding") => {
                    f.transfer_encoding = Some(h.value);
                }
                _ => {}
            }
        }
        f
    }

    /// Whether the last transfer coding is `chunked`.
    fn chunked(&self) -> bool {
        self.transfer_encoding
            .and_then(|v| std::str::from_utf8(v).ok())
            .and_then(|v| v.rsplit(',').next())
            .is_some_and(|last| last.trim().eq_ignore_ascii_case("chunked"))
    }
}

/// Whether a comma-separated field value lists `token` (case-insensitive).
fn lists_token(value: &[u8], token: &str) -> bool {
    std::str::from_utf8(value)
        .is_ok_and(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
}

/// A `Content-Length` value: one decimal number, whitespace around it ignored.
fn decimal(value: &[u8]) -> Option<u64> {
    // The common value (ASCII digits, ASCII spaces around them) without `str::trim`; any
    // other value as `str::trim` reads it (which also removes Unicode whitespace).
    let ascii = value.trim_ascii();
    let digits = if !ascii.is_empty() && ascii.iter().all(u8::is_ascii_digit) {
        ascii
    } else {
        let s = std::str::from_utf8(value).ok()?.trim();
        if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        s.as_bytes()
    };
    // Digits only; past u64::MAX it fails.
    digits.iter().try_fold(0u64, |n, &d| {
        n.checked_mul(10)?.checked_add(u64::from(d - b'0'))
    })
}

/// Sans-IO HTTP/1.x parser of one TCP connection (both directions). Feed it through
/// [`StreamSink`]; take the records with [`into_records`](HttpParser::into_records).
#[derive(Debug)]
pub struct HttpParser {
    cfg: HttpConfig,
    req: Reader,
    resp: Reader,
    recs: Recs,
    /// Requests waiting for a response, oldest first; `None` stands for a request lost in a
    /// client-side gap (its response is consumed without a record).
    pending: VecDeque<Option<usize>>,
    /// The request whose body is being read.
    cur_req: Option<usize>,
    /// The record of the response whose body is being read (`None`: unmatched response).
    cur_resp: Option<usize>,
    /// The next response head follows a server-side resynchronisation.
    resp_after_resync: bool,
    stats: HttpStats,
    /// Bytes handed to httparse (a measure of the work, for the linearity test).
    #[cfg(test)]
    parsed_bytes: usize,
    /// After `101` to `Upgrade: h2c`: the HTTP/2 parser of the rest of the connection, and the
    /// record it took over (as its stream 1).
    h2: Option<(Box<Http2Parser>, usize)>,
    /// After `101` to `Upgrade: websocket`: the WebSocket parser of the rest of the connection
    /// (docs/websocket.md).
    ws: Option<Box<WebSocketParser>>,
    /// The lenient httparse configuration (see [`lenient`]).
    hp: httparse::ParserConfig,
    /// Memory the records kept hold (each record's `cost`), counted in
    /// [`StreamSink::held`]: up to `max_pending` requests wait for their response, each with
    /// its target and kept fields.
    rec_bytes: usize,
}

impl HttpParser {
    /// A parser for a new connection.
    pub fn new(cfg: HttpConfig) -> Self {
        HttpParser {
            cfg,
            req: Reader::new(),
            resp: Reader::new(),
            recs: Recs::default(),
            pending: VecDeque::new(),
            cur_req: None,
            cur_resp: None,
            resp_after_resync: false,
            stats: HttpStats::default(),
            #[cfg(test)]
            parsed_bytes: 0,
            h2: None,
            ws: None,
            hp: lenient(),
            rec_bytes: 0,
        }
    }

    /// A parser for a connection picked up mid-stream whose client bytes start at a request
    /// (found by the caller's probing): the server's bytes may start anywhere (the tail of an
    /// earlier response), so its side looks for the first status line at a line start instead
    /// of taking its first bytes for a head. Bytes skipped so are counted in `skipped_bytes`,
    /// not as errors.
    pub fn midstream(cfg: HttpConfig) -> Self {
        let mut p = HttpParser::new(cfg);
        p.resp.state = State::Resync;
        p.resp.line_start = true;
        p
    }

    /// Whether the client's first bytes start an HTTP/1.x request: a known method followed by a
    /// space. `NeedMore` while `head` is a prefix of such a start.
    pub fn probe(head: &[u8]) -> Probe {
        match starts_request(head) {
            Some(true) => Probe::Yes,
            Some(false) => Probe::No,
            None => Probe::NeedMore,
        }
    }

    /// Counters so far.
    pub fn stats(&self) -> &HttpStats {
        &self.stats
    }

    /// Counters of the HTTP/2 parser that took over after an `Upgrade: h2c`, if one did.
    pub fn http2_stats(&self) -> Option<&Http2Stats> {
        self.h2.as_ref().map(|(p, _)| p.stats())
    }

    #[cfg_attr(not(any(test, feature = "fuzzing")), allow(dead_code))] // tests and fuzzing
    /// The WebSocket parser that took over after a `101` to `Upgrade: websocket`, if one did.
    pub fn websocket(&self) -> Option<&WebSocketParser> {
        self.ws.as_deref()
    }

    /// Takes the WebSocket parser (see [`websocket`](HttpParser::websocket)).
    pub fn take_websocket(&mut self) -> Option<WebSocketParser> {
        self.ws.take().map(|p| *p)
    }

    /// After an `Upgrade: h2c`: takes the WebSockets of the HTTP/2 parser's extended CONNECT
    /// streams ([`Http2Parser::take_websockets`]).
    pub fn take_h2_websockets(&mut self) -> Vec<StreamWebSocket> {
        self.h2
            .as_mut()
            .map(|(p, _)| p.take_websockets())
            .unwrap_or_default()
    }

    /// The records, one per request in the order sent. Requests still waiting for their
    /// response (or cut by the end of the capture) have `complete = false`. After an
    /// `Upgrade: h2c`, the upgraded request is HTTP/2 stream 1 and the HTTP/2 streams follow.
    pub fn into_records(self) -> Vec<HttpExchange> {
        let (h2, moved) = match self.h2 {
            Some((p, k)) => (p.into_records(), Some(k)),
            None => (Vec::new(), None),
        };
        let base = self.recs.base;
        self.recs
            .items
            .into_iter()
            .enumerate()
            .filter(|(k, _)| Some(base + *k) != moved)
            .map(|(_, mut rec)| {
                rec.r.complete = rec.req_done && rec.resp_done && !rec.damaged;
                rec.r
            })
            .chain(h2)
            .collect()
    }

    /// Takes the exchanges at the front that are final (no later byte can change them: read to
    /// their end, or damaged and given up; nothing still open before them), once at least
    /// `min` records are kept, so that a long keep-alive connection does not keep all its
    /// requests; `complete` is set as
    /// [`into_records`](HttpParser::into_records) would. After an `Upgrade: h2c`, the HTTP/2
    /// parser's finished streams are taken ([`Http2Parser::take_finished`]; the upgraded
    /// request is its stream 1, with its HTTP/1 `request_index`): the HTTP/1 records left are
    /// final by then (no byte reaches them) and stay until the end, as few as they were.
    pub fn take_finished(&mut self, min: usize) -> Vec<HttpExchange> {
        if let Some((h2, _)) = &mut self.h2 {
            return h2.take_finished(min);
        }
        if self.recs.items.len() < min.max(1) {
            return Vec::new();
        }
        // At most every record kept: one allocation, not a growing one (large records: each
        // reallocation also made the allocator consolidate its free lists).
        let mut out = Vec::with_capacity(self.recs.items.len());
        while let Some(front) = self.recs.items.front() {
            let k = self.recs.base;
            // Only the request whose body is read, the response being read and the requests
            // waiting for a response can still change. Any other record is final, over or
            // not: one whose framing was lost, given up at `max_pending`, or whose response
            // fell in a gap would otherwise hold every later record of the connection until
            // it ends. A request asking for `Upgrade: h2c` whose response is over was not
            // upgraded: the 101 that upgrades sets `h2` as it ends the response.
            let busy = self.cur_req == Some(k)
                || self.cur_resp == Some(k)
                || (!front.resp_done && self.pending.contains(&Some(k)));
            if busy {
                break;
            }
            let Some(mut rec) = self.recs.items.pop_front() else {
                break;
            };
            self.recs.base += 1;
            self.rec_bytes = self.rec_bytes.saturating_sub(rec.cost);
            rec.r.complete = rec.req_done && rec.resp_done && !rec.damaged;
            out.push(rec.r);
        }
        out
    }

    #[cfg_attr(not(any(test, feature = "fuzzing")), allow(dead_code))] // used by tests and fuzzing
    /// Records and counters.
    pub fn finish(self) -> (Vec<HttpExchange>, HttpStats) {
        let stats = self.stats.clone();
        (self.into_records(), stats)
    }

    fn feed(&mut self, ts: i64, dir: Direction, bytes: &[u8]) {
        if let Some((h2, _)) = &mut self.h2 {
            h2.on_data(ts, dir, bytes);
            return;
        }
        if let Some(ws) = &mut self.ws {
            ws.on_data(ts, dir, bytes);
            return;
        }
        let client = dir == Direction::ClientToServer;
        let reader = if client {
            &mut self.req
        } else {
            &mut self.resp
        };
        if matches!(reader.state, State::Stopped) || bytes.is_empty() {
            return;
        }
        reader.last_ts = Some(ts);
        if matches!(reader.state, State::Resync) {
            // While resynchronising, a segment boundary is a candidate message start too: a
            // body need not end with a line end, and a new message usually starts a segment.
            let starts = if client {
                starts_request(bytes)
            } else {
                starts_response(bytes)
            };
            if starts != Some(false) {
                self.stats.skipped_bytes += reader.buf.len() as u64;
                reader.reset_buffer();
                reader.line_start = true;
            }
        }
        if reader.buf.is_empty() {
            let chunks = [(0usize, ts)];
            let used = self.process(client, bytes, &chunks);
            let reader = if client {
                &mut self.req
            } else {
                &mut self.resp
            };
            if let Some(rest) = bytes.get(used..).filter(|r| !r.is_empty()) {
                if !matches!(reader.state, State::Stopped) {
                    reader.buf.extend_from_slice(rest);
                    reader.chunks = vec![(0, ts)];
                }
            }
        } else {
            let mut buf = std::mem::take(&mut reader.buf);
            let mut chunks = std::mem::take(&mut reader.chunks);
            chunks.push((buf.len(), ts));
            buf.extend_from_slice(bytes);
            let used = self.process(client, &buf, &chunks).min(buf.len());
            let mut kept = chunks;
            if used > 0 {
                buf.drain(..used);
                // Re-base the segment starts on the kept bytes (only when bytes were used: a
                // head growing by tiny segments must not cost a pass over its segments each).
                let k = kept.partition_point(|&(start, _)| start <= used);
                kept.drain(..k.saturating_sub(1));
                for c in &mut kept {
                    c.0 = c.0.saturating_sub(used);
                }
            }
            if buf.is_empty() {
                kept.clear();
            }
            let reader = if client {
                &mut self.req
            } else {
                &mut self.resp
            };
            if matches!(reader.state, State::Stopped) {
                buf.clear();
                kept.clear();
            }
            reader.buf = buf;
            reader.chunks = kept;
        }
        self.enforce_buffer_limit(client);
    }

    /// An incomplete head or resync line may not grow past `max_head_bytes`, counting the
    /// bookkeeping of the segments it came in (one `(start, time)` entry each), so that a head
    /// sent one byte per segment costs at most `max_head_bytes` of memory too.
    fn enforce_buffer_limit(&mut self, client: bool) {
        let max = self.cfg.max_head_bytes;
        let reader = if client {
            &mut self.req
        } else {
            &mut self.resp
        };
        let cost = reader.buf.len() + reader.chunks.len() * std::mem::size_of::<(usize, i64)>();
        if reader.buf.len() <= max && cost <= max {
            return;
        }
        if matches!(reader.state, State::Head) {
            self.stats.heads_too_large += 1;
        }
        self.drop_buffer(client);
    }

    /// Drops the bytes one direction holds (an incomplete head, resync line or chunk trailer
    /// line): they are skipped and the direction resynchronises.
    fn drop_buffer(&mut self, client: bool) {
        let reader = if client {
            &mut self.req
        } else {
            &mut self.resp
        };
        self.stats.skipped_bytes += reader.buf.len() as u64;
        reader.reset_buffer();
        // Its room too (a head at the limit held 64 KiB).
        reader.release();
        reader.line_start = false;
        reader.state = State::Resync;
        if client {
            // A request was there and is lost: its response must not pair with the next one.
            self.push_pending(None);
        } else {
            self.resp_after_resync = true;
        }
    }

    /// The oldest waiting request's response fell in a gap: it gets none; the next response
    /// found is paired with the request after it (and marked incomplete).
    fn lose_front_response(&mut self) {
        if let Some(Some(k)) = self.pending.pop_front() {
            if let Some(rec) = self.recs.get_mut(k) {
                rec.damaged = true;
            }
        }
        self.resp_after_resync = true;
    }

    /// Counts record `k` again after it was made or changed (`rec_bytes`).
    fn recount(&mut self, k: usize) {
        if let Some(rec) = self.recs.get_mut(k) {
            let now = rec.r.held_bytes() + REC_BOOKKEEPING;
            self.rec_bytes = self.rec_bytes.saturating_sub(rec.cost) + now;
            rec.cost = now;
        }
    }

    fn push_pending(&mut self, idx: Option<usize>) {
        self.pending.push_back(idx);
        while self.pending.len() > self.cfg.max_pending {
            if let Some(Some(old)) = self.pending.pop_front() {
                if let Some(rec) = self.recs.get_mut(old) {
                    rec.damaged = true;
                }
            }
            self.stats.pending_dropped += 1;
        }
    }

    /// Processes `data` of one direction; returns how many bytes were used (the rest is kept
    /// for the next segment).
    fn process(&mut self, client: bool, data: &[u8], chunks: &[(usize, i64)]) -> usize {
        let mut i = 0;
        while i < data.len() {
            let reader = if client {
                &mut self.req
            } else {
                &mut self.resp
            };
            match &mut reader.state {
                State::Stopped => return data.len(),
                State::Head => {
                    let d = &data[i..];
                    if d[0] == b'\r' || d[0] == b'\n' {
                        // Stray line ends between messages (RFC 9112 §2.2 allows them).
                        reader.line_start = d[0] == b'\n';
                        i += 1;
                        continue;
                    }
                    if !reader.head_scan.due(d) {
                        return i;
                    }
                    #[cfg(test)]
                    {
                        self.parsed_bytes += d.len();
                    }
                    let step = if client {
                        self.request_head(d, chunks, i)
                    } else {
                        self.response_head(d, chunks, i)
                    };
                    if !matches!(step, HeadStep::NeedMore) {
                        let reader = if client {
                            &mut self.req
                        } else {
                            &mut self.resp
                        };
                        reader.head_scan = HeadScan::default();
                    }
                    match step {
                        HeadStep::Done(n) => i += n,
                        HeadStep::NeedMore => return i,
                        HeadStep::Error => {
                            self.stats.parse_errors += 1;
                            self.lose_framing(client);
                            if client {
                                self.bad_request_head(d, chunks, i);
                            } else {
                                self.bad_response_head(d, chunks, i);
                            }
                            // Do not find the same start again.
                            i += 1;
                            self.stats.skipped_bytes += 1;
                            let reader = if client {
                                &mut self.req
                            } else {
                                &mut self.resp
                            };
                            reader.line_start = false;
                        }
                    }
                }
                State::Body(body) => {
                    let d = &data[i..];
                    let (used, done, error, payload) = match body {
                        Body::Length(left) => {
                            let take = (*left).min(d.len() as u64);
                            *left -= take;
                            let used = usize::try_from(take).unwrap_or(d.len());
                            (used, *left == 0, false, take)
                        }
                        Body::UntilClose => (d.len(), false, false, d.len() as u64),
                        Body::Chunked(c) => {
                            let before = c.payload;
                            let step = c.feed(d);
                            let payload = c.payload.saturating_sub(before);
                            match step {
                                Step::More => (d.len(), false, false, payload),
                                Step::Done(n) => (n.min(d.len()), true, false, payload),
                                Step::Error => (0, false, true, payload),
                            }
                        }
                    };
                    self.add_body(client, payload);
                    if error {
                        self.stats.parse_errors += 1;
                        self.lose_framing(client);
                        continue;
                    }
                    if used > 0 {
                        self.set_end(client, ts_at(chunks, i + used - 1));
                    }
                    i += used;
                    if done {
                        self.end_body(client);
                    }
                }
                State::Resync => {
                    let line_start = reader.line_start;
                    match find_start(client, &data[i..], line_start) {
                        Search::At(p) => {
                            self.stats.skipped_bytes += p as u64;
                            self.stats.resyncs += 1;
                            i += p;
                            let reader = if client {
                                &mut self.req
                            } else {
                                &mut self.resp
                            };
                            reader.state = State::Head;
                            reader.head_scan = HeadScan::default();
                            reader.line_start = true;
                        }
                        Search::MaybeAt(p) => {
                            self.stats.skipped_bytes += p as u64;
                            let reader = if client {
                                &mut self.req
                            } else {
                                &mut self.resp
                            };
                            reader.line_start = true;
                            return i + p;
                        }
                        Search::Missing { ends_line } => {
                            self.stats.skipped_bytes += (data.len() - i) as u64;
                            let reader = if client {
                                &mut self.req
                            } else {
                                &mut self.resp
                            };
                            reader.line_start = ends_line;
                            return data.len();
                        }
                    }
                }
            }
        }
        data.len()
    }

    fn add_body(&mut self, client: bool, n: u64) {
        let idx = if client { self.cur_req } else { self.cur_resp };
        if let Some(rec) = idx.and_then(|k| self.recs.get_mut(k)) {
            if client {
                rec.r.request_body_bytes = rec.r.request_body_bytes.saturating_add(n);
            } else {
                let b = rec.r.response_body_bytes.get_or_insert(0);
                *b = b.saturating_add(n);
            }
        }
    }

    fn set_end(&mut self, client: bool, ts: i64) {
        let idx = if client { self.cur_req } else { self.cur_resp };
        if let Some(rec) = idx.and_then(|k| self.recs.get_mut(k)) {
            if client {
                rec.r.request_end_ts = Some(ts);
            } else {
                rec.r.response_end_ts = Some(ts);
            }
        }
    }

    /// The body of the current message ended.
    fn end_body(&mut self, client: bool) {
        if client {
            if let Some(rec) = self.cur_req.take().and_then(|k| self.recs.get_mut(k)) {
                rec.req_done = true;
            }
            self.req.state = State::Head;
        } else {
            if let Some(rec) = self.cur_resp.take().and_then(|k| self.recs.get_mut(k)) {
                rec.resp_done = true;
            }
            self.resp.state = State::Head;
        }
    }

    /// Framing of this direction is lost: the message in progress is damaged; look for the
    /// next start line.
    fn lose_framing(&mut self, client: bool) {
        let idx = if client {
            self.cur_req.take()
        } else {
            self.cur_resp.take()
        };
        if let Some(rec) = idx.and_then(|k| self.recs.get_mut(k)) {
            rec.damaged = true;
        }
        let reader = if client {
            &mut self.req
        } else {
            &mut self.resp
        };
        reader.state = State::Resync;
        if !client {
            self.resp_after_resync = true;
        }
    }

    /// A request head at `d` could not be parsed (the caller already lost framing). When its
    /// request line alone parses, the request gets a record (`complete = false`, its body
    /// unknown) so that its response pairs with it; when it at least starts with a method, a
    /// placeholder keeps its response from pairing with the next request; other bytes (not a
    /// request) leave the queue alone.
    fn bad_request_head(&mut self, d: &[u8], chunks: &[(usize, i64)], at: usize) {
        self.stats.bad_request_heads += 1;
        let Some(line) = start_line(d) else {
            if starts_request(d) == Some(true) {
                self.push_pending(None);
            }
            return;
        };
        let mut headers = [httparse::EMPTY_HEADER; 1];
        let mut req = httparse::Request::new(&mut headers);
        match self.hp.parse_request(&mut req, &line) {
            Ok(httparse::Status::Complete(_)) => {
                let version = req.version.unwrap_or_default();
                let method = req.method.unwrap_or_default();
                let ts = ts_at(chunks, at);
                let rec = Rec {
                    r: HttpExchange {
                        request_index: u32::try_from(self.recs.len()).unwrap_or(u32::MAX),
                        request_start_ts: ts,
                        request_end_ts: Some(ts),
                        method: Some(method.into()),
                        host: None,
                        path: Some(req.path.unwrap_or_default().into()),
                        version: if version == 0 {
                            HttpVersion::Http10
                        } else {
                            HttpVersion::Http11
                        },
                        request_header_bytes: 0,
                        ..HttpExchange::default()
                    },
                    req_done: false,
                    resp_done: false,
                    damaged: true,
                    is_head: method.eq_ignore_ascii_case("HEAD"),
                    is_connect: method.eq_ignore_ascii_case("CONNECT"),
                    h2c: false,
                    ws: false,
                    cost: 0,
                };
                self.stats.requests += 1;
                let idx = self.recs.len();
                self.recs.push(rec);
                self.recount(idx);
                self.push_pending(Some(idx));
            }
            _ => {
                if starts_request(d) == Some(true) {
                    self.push_pending(None);
                }
            }
        }
    }

    /// A response head at `d` could not be parsed (the caller already lost framing). When its
    /// status line alone parses, it answers the oldest waiting request (which gets the status
    /// and `complete = false`). Either way no later response may pair with a request sent
    /// before this failure: how many responses the unparsed bytes hold is unknown. Those
    /// requests stay without status (`unpaired_after_bad_head`); the next status line found
    /// pairs with the next request sent.
    fn bad_response_head(&mut self, d: &[u8], chunks: &[(usize, i64)], at: usize) {
        self.stats.bad_response_heads += 1;
        let code = start_line(d).and_then(|line| {
            let mut headers = [httparse::EMPTY_HEADER; 1];
            let mut resp = httparse::Response::new(&mut headers);
            match self.hp.parse_response(&mut resp, &line) {
                Ok(httparse::Status::Complete(_)) => resp.code,
                _ => None,
            }
        });
        if let Some(code) = code {
            if (100..200).contains(&code) && code != 101 {
                // An interim response: the final one is still to come.
                self.stats.interim_responses += 1;
                self.resp_after_resync = false;
                return;
            }
            self.stats.responses += 1;
            match self.pending.pop_front() {
                Some(Some(k)) => {
                    if let Some(rec) = self.recs.get_mut(k) {
                        let ts = ts_at(chunks, at);
                        rec.r.status = Some(code);
                        rec.r.response_start_ts = Some(ts);
                        rec.r.response_end_ts = Some(ts);
                        rec.damaged = true;
                    }
                }
                Some(None) | None => self.stats.unmatched_responses += 1,
            }
        }
        for k in std::mem::take(&mut self.pending).into_iter().flatten() {
            if let Some(rec) = self.recs.get_mut(k) {
                rec.damaged = true;
            }
            self.stats.unpaired_after_bad_head += 1;
        }
        // The next response found pairs with a request sent after this one: nothing of it
        // was lost.
        self.resp_after_resync = false;
    }

    /// The header fields of a parsed head (of `n` bytes) within `lim`, counted.
    fn keep_headers(
        &mut self,
        lim: &HeaderLimits,
        fields: &[httparse::Header<'_>],
        n: usize,
    ) -> HeaderList {
        let mut list = HeaderList::with_capacity(lim, fields.len(), n);
        for f in fields {
            let kept = list.push(lim, f.name.as_bytes(), f.value);
            headers::count(
                kept,
                &mut self.stats.kept_headers_dropped,
                &mut self.stats.kept_headers_truncated,
            );
        }
        list
    }

    fn request_head(&mut self, d: &[u8], chunks: &[(usize, i64)], at: usize) -> HeadStep {
        // Uninitialised slots: a head has a few headers, zeroing 128 would cost more.
        let mut headers = [const { std::mem::MaybeUninit::uninit() }; MAX_HEADERS];
        let mut req = httparse::Request::new(&mut []);
        let n = match self
            .hp
            .parse_request_with_uninit_headers(&mut req, d, &mut headers)
        {
            Ok(httparse::Status::Complete(n)) => n,
            Ok(httparse::Status::Partial) => return HeadStep::NeedMore,
            Err(_) => return HeadStep::Error,
        };
        let method = req.method.unwrap_or_default();
        let path = req.path.unwrap_or_default();
        let version = req.version.unwrap_or_default();
        let fields = Fields::of(req.headers);
        let body = if fields.chunked() {
            Body::Chunked(Chunked::new(self.cfg.max_head_bytes))
        } else {
            match fields.content_length {
                Ok(len) => Body::Length(len.unwrap_or(0)),
                Err(()) => return HeadStep::Error,
            }
        };
        // Borrowed when the header is UTF-8 (as it is), then kept inline when short.
        let host = fields
            .host
            .map(|v| Text::from(String::from_utf8_lossy(v).trim()));
        let (h2c, ws) = (fields.upgrade_h2c, fields.upgrade_websocket);
        let head_end = ts_at(chunks, at + n - 1);
        let kept = self.cfg.headers.map(|lim| {
            Box::new(HttpHeaders {
                request: self.keep_headers(&lim, req.headers, n),
                ..HttpHeaders::default()
            })
        });
        let rec = Rec {
            r: HttpExchange {
                request_index: u32::try_from(self.recs.len()).unwrap_or(u32::MAX),
                request_start_ts: ts_at(chunks, at),
                request_end_ts: Some(head_end),
                method: Some(method.into()),
                host,
                path: Some(path.into()),
                version: if version == 0 {
                    HttpVersion::Http10
                } else {
                    HttpVersion::Http11
                },
                request_header_bytes: n as u64,
                headers: kept,
                ..HttpExchange::default()
            },
            req_done: false,
            resp_done: false,
            damaged: false,
            is_head: method.eq_ignore_ascii_case("HEAD"),
            is_connect: method.eq_ignore_ascii_case("CONNECT"),
            h2c,
            ws,
            cost: 0,
        };
        self.stats.requests += 1;
        let idx = self.recs.len();
        self.recs.push(rec);
        self.recount(idx);
        self.push_pending(Some(idx));
        self.cur_req = Some(idx);
        if matches!(body, Body::Length(0)) {
            self.end_body(true);
        } else {
            self.req.state = State::Body(body);
        }
        HeadStep::Done(n)
    }

    fn response_head(&mut self, d: &[u8], chunks: &[(usize, i64)], at: usize) -> HeadStep {
        let mut headers = [const { std::mem::MaybeUninit::uninit() }; MAX_HEADERS];
        let mut resp = httparse::Response::new(&mut []);
        let n = match self
            .hp
            .parse_response_with_uninit_headers(&mut resp, d, &mut headers)
        {
            Ok(httparse::Status::Complete(n)) => n,
            Ok(httparse::Status::Partial) => return HeadStep::NeedMore,
            Err(_) => return HeadStep::Error,
        };
        let code = resp.code.unwrap_or_default();
        if (100..200).contains(&code) && code != 101 {
            self.stats.interim_responses += 1;
            return HeadStep::Done(n);
        }
        self.stats.responses += 1;
        let target = match self.pending.pop_front() {
            Some(Some(k)) => Some(k),
            Some(None) | None => {
                self.stats.unmatched_responses += 1;
                None
            }
        };
        let after_resync = std::mem::take(&mut self.resp_after_resync);
        let (is_head, is_connect) = target
            .and_then(|k| self.recs.get(k))
            .map_or((false, false), |r| (r.is_head, r.is_connect));
        let upgraded = code == 101 || (is_connect && (200..300).contains(&code));
        let head_end = ts_at(chunks, at + n - 1);
        if let Some(rec) = target.and_then(|k| self.recs.get_mut(k)) {
            rec.r.status = Some(code);
            rec.r.response_start_ts = Some(ts_at(chunks, at));
            rec.r.response_end_ts = Some(head_end);
            rec.r.response_header_bytes = Some(n as u64);
            rec.r.response_body_bytes = Some(0);
            rec.r.upgraded = upgraded;
            rec.damaged |= after_resync;
        }
        if let (Some(lim), Some(k)) = (self.cfg.headers, target) {
            let list = self.keep_headers(&lim, resp.headers, n);
            let (reason, cut) = headers::status_text(&lim, resp.reason.unwrap_or(""));
            self.stats.kept_headers_truncated += u64::from(cut);
            if let Some(rec) = self.recs.get_mut(k) {
                let h = rec.r.headers.get_or_insert_with(Box::default);
                h.response = list;
                h.status_text = Some(reason);
            }
            self.recount(k);
        }
        self.cur_resp = target;
        if upgraded {
            // The connection now carries another protocol: stop both directions.
            if let Some(rec) = target.and_then(|k| self.recs.get_mut(k)) {
                rec.resp_done = true;
            }
            self.cur_resp = None;
            self.resp.state = State::Stopped;
            self.req.state = State::Stopped;
            self.req.reset_buffer();
            let h2c = target
                .and_then(|k| self.recs.get(k))
                .is_some_and(|r| r.h2c && code == 101)
                && Fields::of(resp.headers).upgrade_h2c;
            if let (true, Some(k)) = (h2c, target) {
                // RFC 7540 §3.2: the rest of the connection is HTTP/2; the request becomes
                // stream 1. The server's HTTP/2 bytes may follow the 101 in this segment.
                if let Some(rec) = self.recs.get(k) {
                    let cfg = Http2Config::default().with_headers(self.cfg.headers);
                    let mut p = Http2Parser::upgraded(cfg, rec.r.clone(), rec.req_done);
                    if let Some(tail) = d.get(n..).filter(|t| !t.is_empty()) {
                        p.on_data(head_end, Direction::ServerToClient, tail);
                    }
                    self.h2 = Some((Box::new(p), k));
                }
                return HeadStep::Done(d.len());
            }
            let ws = code == 101
                && target.and_then(|k| self.recs.get(k)).is_some_and(|r| r.ws)
                && Fields::of(resp.headers).upgrade_websocket;
            if ws {
                // RFC 6455 §4.1: after the 101 both directions carry frames; the server's may
                // follow the 101 in this segment.
                let deflate = resp
                    .headers
                    .iter()
                    .filter(|h| h.name.eq_ignore_ascii_case("sec-websocket-extensions"))
                    .filter_map(|h| std::str::from_utf8(h.value).ok())
                    .any(has_deflate);
                let (host, path) = target
                    .and_then(|k| self.recs.get(k))
                    .map_or((None, None), |r| (r.r.host.as_deref(), r.r.path.as_deref()));
                let mut p = WebSocketParser::new(head_end, deflate).with_request(host, path);
                if let Some(tail) = d.get(n..).filter(|t| !t.is_empty()) {
                    p.on_data(head_end, Direction::ServerToClient, tail);
                }
                self.ws = Some(Box::new(p));
                return HeadStep::Done(d.len());
            }
            return HeadStep::Done(n);
        }
        let no_body = is_head || code == 204 || code == 304 || (100..200).contains(&code);
        let body = if no_body {
            Body::Length(0)
        } else {
            let fields = Fields::of(resp.headers);
            if fields.chunked() {
                Body::Chunked(Chunked::new(self.cfg.max_head_bytes))
            } else {
                match fields.content_length {
                    Ok(Some(len)) => Body::Length(len),
                    // No length (or an unusable one): the body runs to the end of the stream.
                    Ok(None) | Err(()) => Body::UntilClose,
                }
            }
        };
        if matches!(body, Body::Length(0)) {
            self.end_body(false);
        } else {
            self.resp.state = State::Body(body);
        }
        HeadStep::Done(n)
    }
}

/// The first line of `d` (up to and including its `\n`) followed by an empty line, so that
/// httparse can parse a start line alone; `None` when `d` holds no complete line.
fn start_line(d: &[u8]) -> Option<Vec<u8>> {
    let end = d.iter().position(|&b| b == b'\n')?;
    let mut line = d.get(..=end)?.to_vec();
    line.extend_from_slice(b"\r\n");
    Some(line)
}

enum HeadStep {
    Done(usize),
    NeedMore,
    Error,
}

enum Search {
    /// A message starts at this offset.
    At(usize),
    /// A message may start at this offset: need more bytes to tell.
    MaybeAt(usize),
    /// No start; `ends_line` = the bytes end with a line end.
    Missing { ends_line: bool },
}

/// Looks for a line starting a request (client) or a status line (server).
fn find_start(client: bool, d: &[u8], line_start: bool) -> Search {
    let check = |s: &[u8]| {
        if client {
            starts_request(s)
        } else {
            starts_response(s)
        }
    };
    let mut p = if line_start {
        0
    } else {
        match d.iter().position(|&b| b == b'\n') {
            Some(k) => k + 1,
            None => return Search::Missing { ends_line: false },
        }
    };
    loop {
        if p >= d.len() {
            return Search::Missing { ends_line: true };
        }
        match check(&d[p..]) {
            Some(true) => return Search::At(p),
            None => return Search::MaybeAt(p),
            Some(false) => {}
        }
        match d[p..].iter().position(|&b| b == b'\n') {
            Some(k) => p += k + 1,
            None => return Search::Missing { ends_line: false },
        }
    }
}

impl StreamSink for HttpParser {
    fn on_data(&mut self, ts_ns: i64, dir: Direction, bytes: &[u8]) {
        self.feed(ts_ns, dir, bytes);
    }

    fn held(&self) -> usize {
        let own: usize = [&self.req, &self.resp]
            .iter()
            .map(|r| r.buf.capacity() + r.chunks.capacity() * std::mem::size_of::<(usize, i64)>())
            .sum();
        own + self.rec_bytes + self.h2.as_ref().map_or(0, |(h2, _)| h2.held())
    }

    fn shed(&mut self) {
        if let Some((h2, _)) = &mut self.h2 {
            h2.shed();
        }
        // The requests waiting for a response are given up (their records final, incomplete;
        // their responses are read and dropped, as those of requests lost in a gap).
        for slot in &mut self.pending {
            if let Some(rec) = slot.take().and_then(|k| self.recs.get_mut(k)) {
                rec.damaged = true;
            }
        }
        for client in [true, false] {
            let reader = if client {
                &mut self.req
            } else {
                &mut self.resp
            };
            if reader.buf.is_empty() {
                // Room only: given back, nothing lost.
                reader.release();
            } else {
                self.drop_buffer(client);
            }
        }
    }

    fn on_gap(&mut self, ts_ns: i64, dir: Direction, len: u64) {
        if let Some((h2, _)) = &mut self.h2 {
            h2.on_gap(ts_ns, dir, len);
            return;
        }
        if let Some(ws) = &mut self.ws {
            ws.on_gap(ts_ns, dir, len);
            return;
        }
        if len == 0 {
            return;
        }
        self.stats.gaps += 1;
        let client = dir == Direction::ClientToServer;
        let reader = if client {
            &mut self.req
        } else {
            &mut self.resp
        };
        let kept = reader.buf.len();
        reader.reset_buffer();
        reader.line_start = false;
        let cur = if client { self.cur_req } else { self.cur_resp };
        match &mut reader.state {
            State::Stopped => {}
            State::Body(Body::Length(left)) if len <= *left => {
                // Length framing survives a gap: skip the missing bytes.
                *left -= len;
                let done = *left == 0;
                if let Some(rec) = cur.and_then(|k| self.recs.get_mut(k)) {
                    rec.damaged = true;
                }
                if done {
                    self.end_body(client);
                }
            }
            State::Body(Body::UntilClose) => {
                if let Some(rec) = cur.and_then(|k| self.recs.get_mut(k)) {
                    rec.damaged = true;
                }
            }
            State::Body(body) => {
                // Chunk framing lost, or the gap runs past the body into unknown messages.
                let past_length = matches!(body, Body::Length(_));
                self.lose_framing(client);
                if client {
                    self.push_pending(None);
                } else if past_length {
                    // The bytes after this body start the next response: it is lost.
                    self.lose_front_response();
                }
            }
            State::Head => {
                self.stats.skipped_bytes += kept as u64;
                reader.state = State::Resync;
                if client {
                    self.push_pending(None);
                } else {
                    // The gap starts at (or inside) the next response head: that response,
                    // the oldest request's, is lost.
                    self.lose_front_response();
                }
            }
            State::Resync => {
                self.stats.skipped_bytes += kept as u64;
            }
        }
    }

    fn on_close(&mut self, ts_ns: i64, dir: Direction) {
        if let Some((h2, _)) = &mut self.h2 {
            h2.on_close(ts_ns, dir);
            return;
        }
        if let Some(ws) = &mut self.ws {
            ws.on_close(ts_ns, dir);
            return;
        }
        let client = dir == Direction::ClientToServer;
        let reader = if client {
            &mut self.req
        } else {
            &mut self.resp
        };
        let state = std::mem::replace(&mut reader.state, State::Stopped);
        let partial_head = matches!(state, State::Head) && !reader.buf.is_empty();
        // Nothing more is read in this direction: release its buffers (a closed connection
        // may stay in the flow table for minutes).
        reader.buf = Vec::new();
        reader.chunks = Vec::new();
        reader.reset_buffer();
        if partial_head {
            self.stats.truncated_heads += 1;
        }
        match state {
            State::Body(Body::UntilClose) => {
                if let Some(rec) = self.cur_resp.take().and_then(|k| self.recs.get_mut(k)) {
                    rec.resp_done = true;
                }
            }
            State::Body(_) => {
                let cur = if client {
                    self.cur_req.take()
                } else {
                    self.cur_resp.take()
                };
                if let Some(rec) = cur.and_then(|k| self.recs.get_mut(k)) {
                    rec.damaged = true;
                }
            }
            State::Head | State::Resync | State::Stopped => {}
        }
    }
}
