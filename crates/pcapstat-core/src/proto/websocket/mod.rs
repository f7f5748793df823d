//! WebSocket (RFC 6455) on a connection after its HTTP/1.1 `101 Switching Protocols` to
//! `Upgrade: websocket`, or on an HTTP/2 stream after a 2xx to its extended CONNECT with
//! `:protocol: websocket` (RFC 8441; the HTTP/2 parser feeds it the stream's DATA payloads):
//! frames cut incrementally in each direction, whatever the segment
//! boundaries, and folded into one [`WebSocketSession`] per connection (messages, bytes,
//! frames, ping/pong round trips, the close handshake, the longest silence per direction).
//!
//! Frame first, then decode: [`FrameReader`] keeps at most one frame header (14 bytes) and the
//! payload of the control frame being read (at most 125 bytes) per direction; data payloads are
//! counted, never kept, and never unmasked (only control payloads are). Messages compressed with
//! `permessage-deflate` (RSV1 on their first frame) are counted with their wire bytes; nothing is
//! inflated. State per connection is constant: pending pings are capped at
//! [`MAX_PENDING_PINGS`], round trips kept for the median at [`MAX_RTT_SAMPLES`]
//! (docs/limits.md).
//!
//! ```
//! use pcapstat_core::fuzzing::{WebSocketParser, StreamSink};
//! use pcapstat_core::fuzzing::Direction::{ClientToServer as C2S, ServerToClient as S2C};
//!
//! let mut p = WebSocketParser::new(1_000, false);
//! // A masked "hi" from the client (mask 0), echoed unmasked by the server.
//! p.on_data(2_000, C2S, &[0x81, 0x82, 0, 0, 0, 0, b'h', b'i']);
//! p.on_data(3_000, S2C, &[0x81, 0x02, b'h', b'i']);
//! let (s, _) = p.finish(4_000);
//! assert_eq!((s.from_client.messages, s.from_server.payload_bytes), (1, 2));
//! assert_eq!(s.close_initiator, None); // no close frame: an abnormal end
//! ```
//!
//! See `docs/websocket.md` for every field and rule.

#[cfg(test)]
pub(crate) mod tests;

use crate::record::{Side, WebSocketSession, WsDirection};
use crate::stats::counters;
use crate::tcp::{Direction, StreamSink};

/// Pings waiting for their pong, per connection (both directions); past it the oldest is
/// forgotten (`WebSocketStats::pings_forgotten`).
pub const MAX_PENDING_PINGS: usize = 16;

/// Ping round trips kept per connection for its median; later ones still count in the maximum
/// and in `ping_rtts` (`WebSocketStats::rtt_samples_dropped`).
pub const MAX_RTT_SAMPLES: usize = 64;

/// WebSockets of one HTTP/2 or HTTP/3 connection (extended CONNECT streams) whose stream
/// ended, kept until the connection ends; past it the next ones get no row
/// (`Http2Stats::websockets_dropped`, `QuicStats::h3_websockets_dropped`).
pub const MAX_STREAM_WEBSOCKETS: usize = 1024;

/// A WebSocket carried by one stream of an HTTP/2 (RFC 8441) or HTTP/3 (RFC 9220)
/// connection, as its parser gives it when the stream or the connection ended.
#[derive(Debug)]
pub struct StreamWebSocket {
    /// The stream of the extended CONNECT.
    pub stream_id: u64,
    /// Capture time the stream ended (HTTP/2: both END_STREAMs or RST_STREAM; HTTP/3: both
    /// sides whole up to their FIN or reset); `None`: still open when the connection ended.
    pub end_ts: Option<i64>,
    /// The WebSocket parser, fed with the stream's DATA payloads.
    pub parser: WebSocketParser,
}

/// Largest control frame payload (RFC 6455 §5.5).
const MAX_CONTROL_PAYLOAD: usize = 125;

counters! {
    /// Counters of the WebSocket parsers (sum them over connections for a capture).
    #[derive(Debug, Clone, Default, PartialEq, Eq)]
    #[non_exhaustive]
    pub struct WebSocketStats {
        /// WebSockets opened: HTTP/1.1 connections upgraded by a `101` to `Upgrade: websocket`,
        /// and HTTP/2 extended CONNECT streams (RFC 8441) answered 2xx.
        pub connections: u64,
        /// Frames read whole, both directions.
        pub frames: u64,
        /// Directions whose frame parsing stopped at a frame breaking RFC 6455 (reserved
        /// opcode, fragmented or oversized control frame, 64-bit length with its top bit set,
        /// continuation without a message, a new message inside a fragmented one).
        pub protocol_errors: u64,
        /// Directions whose frame parsing stopped at a gap in the capture (a gap inside a
        /// payload is skipped instead).
        pub gaps: u64,
        /// Pings forgotten at the `MAX_PENDING_PINGS` limit (their pong gives no round trip).
        pub pings_forgotten: u64,
        /// Round trips not kept for the median at the `MAX_RTT_SAMPLES` limit.
        pub rtt_samples_dropped: u64,
    }
}

/// Why a direction's frames stopped being parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum FrameError {
    /// Opcode 3–7 or 11–15.
    ReservedOpcode(u8),
    /// A control frame (close, ping, pong) without FIN or with a payload over 125 bytes.
    BadControl,
    /// A 64-bit payload length with its most significant bit set.
    LengthTooLarge,
    /// A continuation frame with no fragmented message in progress.
    UnexpectedContinuation,
    /// A text or binary frame while a fragmented message is in progress.
    MessageInFragment,
}

/// One frame header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameHead {
    /// FIN bit.
    pub fin: bool,
    /// RSV1..RSV3 as the low three bits (RSV1 = 4: a compressed message's first frame).
    pub rsv: u8,
    /// Opcode (0 continuation, 1 text, 2 binary, 8 close, 9 ping, 10 pong).
    pub opcode: u8,
    /// Masking key (client frames).
    pub mask: Option<[u8; 4]>,
    /// Payload length.
    pub len: u64,
}

impl FrameHead {
    /// Close, ping or pong.
    pub fn is_control(&self) -> bool {
        self.opcode >= 8
    }
}

/// What [`FrameReader::feed`] recognised, in stream order.
#[derive(Debug, PartialEq, Eq)]
pub enum Piece<'a> {
    /// A frame header was read.
    Head(FrameHead),
    /// This many payload bytes of the current frame arrived.
    Payload(FrameHead, usize),
    /// The frame ended; a control frame's payload, unmasked (empty for data frames).
    End(FrameHead, &'a [u8]),
}

/// Incremental frame cutting of one direction (constant memory).
#[derive(Debug, Clone)]
pub struct FrameReader {
    hdr: [u8; 14],
    have: usize,
    cur: Option<FrameHead>,
    left: u64,
    /// Payload bytes of the current frame read so far, modulo 4 (the mask index).
    pos: usize,
    ctrl: [u8; MAX_CONTROL_PAYLOAD],
    ctrl_len: usize,
    /// A fragmented message is in progress.
    fragmented: bool,
    /// Parsing stopped (error or unrecoverable gap).
    stopped: bool,
}

impl Default for FrameReader {
    fn default() -> Self {
        FrameReader {
            hdr: [0; 14],
            have: 0,
            cur: None,
            left: 0,
            pos: 0,
            ctrl: [0; MAX_CONTROL_PAYLOAD],
            ctrl_len: 0,
            fragmented: false,
            stopped: false,
        }
    }
}

/// Header length given its first two bytes.
fn head_len(b1: u8) -> usize {
    let ext = match b1 & 0x7f {
        126 => 2,
        127 => 8,
        _ => 0,
    };
    2 + ext + if b1 & 0x80 != 0 { 4 } else { 0 }
}

impl FrameReader {
    /// Whether parsing stopped.
    pub fn stopped(&self) -> bool {
        self.stopped
    }

    /// Stops parsing this direction.
    pub fn stop(&mut self) {
        self.stopped = true;
    }

    /// Reads `data`, calling `f` for each [`Piece`]. After an error nothing more is read.
    ///
    /// # Errors
    /// The first frame breaking RFC 6455 framing.
    pub fn feed(
        &mut self,
        mut data: &[u8],
        f: &mut impl FnMut(Piece<'_>),
    ) -> Result<(), FrameError> {
        while !self.stopped {
            match self.cur {
                None => {
                    let need = if self.have < 2 {
                        2
                    } else {
                        head_len(self.hdr[1])
                    };
                    if self.have < need {
                        if data.is_empty() {
                            return Ok(());
                        }
                        let take = (need - self.have).min(data.len());
                        let (now, rest) = data.split_at(take);
                        if let Some(dst) = self.hdr.get_mut(self.have..self.have + take) {
                            dst.copy_from_slice(now);
                        }
                        self.have += take;
                        data = rest;
                        continue;
                    }
                    let head = match self.parse_head() {
                        Ok(h) => h,
                        Err(e) => {
                            self.stopped = true;
                            return Err(e);
                        }
                    };
                    self.cur = Some(head);
                    self.left = head.len;
                    self.pos = 0;
                    self.ctrl_len = 0;
                    f(Piece::Head(head));
                    if head.len == 0 {
                        self.end_frame(f);
                    }
                }
                Some(head) => {
                    if data.is_empty() {
                        return Ok(());
                    }
                    let take = usize::try_from(self.left.min(data.len() as u64))
                        .unwrap_or(data.len())
                        .min(data.len());
                    let (now, rest) = data.split_at(take);
                    if head.is_control() {
                        for &b in now {
                            let k = head.mask.map_or(0, |m| m[self.pos & 3]);
                            if let Some(slot) = self.ctrl.get_mut(self.ctrl_len) {
                                *slot = b ^ k;
                                self.ctrl_len += 1;
                            }
                            self.pos = (self.pos + 1) & 3;
                        }
                    }
                    self.left -= take as u64;
                    data = rest;
                    f(Piece::Payload(head, take));
                    if self.left == 0 {
                        self.end_frame(f);
                    }
                }
            }
        }
        Ok(())
    }

    fn end_frame(&mut self, f: &mut impl FnMut(Piece<'_>)) {
        if let Some(head) = self.cur.take() {
            let n = self.ctrl_len.min(MAX_CONTROL_PAYLOAD);
            f(Piece::End(head, self.ctrl.get(..n).unwrap_or(&[])));
        }
        self.have = 0;
        self.ctrl_len = 0;
        self.pos = 0;
    }

    /// The complete header in `hdr[..have]`, checked (RFC 6455 §5.2, §5.4, §5.5).
    fn parse_head(&mut self) -> Result<FrameHead, FrameError> {
        let b0 = self.hdr[0];
        let b1 = self.hdr[1];
        let opcode = b0 & 0x0f;
        let (len, mut at) = match b1 & 0x7f {
            126 => (u64::from(u16::from_be_bytes([self.hdr[2], self.hdr[3]])), 4),
            127 => {
                let mut b = [0u8; 8];
                b.copy_from_slice(self.hdr.get(2..10).unwrap_or(&[0; 8]));
                let len = u64::from_be_bytes(b);
                if len >> 63 != 0 {
                    return Err(FrameError::LengthTooLarge);
                }
                (len, 10)
            }
            n => (u64::from(n), 2),
        };
        let mask = (b1 & 0x80 != 0).then(|| {
            let mut m = [0u8; 4];
            m.copy_from_slice(self.hdr.get(at..at + 4).unwrap_or(&[0; 4]));
            at += 4;
            m
        });
        debug_assert_eq!(at, self.have);
        let head = FrameHead {
            fin: b0 & 0x80 != 0,
            rsv: (b0 >> 4) & 7,
            opcode,
            mask,
            len,
        };
        match opcode {
            0 => {
                if !self.fragmented {
                    return Err(FrameError::UnexpectedContinuation);
                }
                self.fragmented = !head.fin;
            }
            1 | 2 => {
                if self.fragmented {
                    return Err(FrameError::MessageInFragment);
                }
                self.fragmented = !head.fin;
            }
            8..=10 => {
                if !head.fin || len > MAX_CONTROL_PAYLOAD as u64 {
                    return Err(FrameError::BadControl);
                }
            }
            _ => return Err(FrameError::ReservedOpcode(opcode)),
        }
        Ok(head)
    }

    /// A gap of `len` bytes: skipped when it falls inside the current data payload (framing
    /// survives, as a length-framed HTTP body does); otherwise parsing stops. Returns whether
    /// parsing goes on.
    pub fn skip(&mut self, len: u64) -> bool {
        match self.cur {
            Some(head) if !head.is_control() && len < self.left => {
                self.left -= len;
                self.pos = 0;
                true
            }
            _ => {
                self.stopped = true;
                false
            }
        }
    }
}

/// FNV-1a of a ping's payload (a pong echoes it: RFC 6455 §5.5.3).
fn fnv(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// A ping waiting for its pong.
#[derive(Debug, Clone, Copy)]
struct Ping {
    /// Sent by the client.
    client: bool,
    ts: i64,
    /// Payload length and hash.
    len: usize,
    hash: u64,
}

/// One direction's counters and message state.
#[derive(Debug, Clone, Default)]
struct Dir {
    out: WsDirection,
    /// Last capture time of this direction's bytes (starts at the 101).
    last_ts: i64,
    /// The message in progress started with RSV1 (permessage-deflate).
    msg_compressed: bool,
    /// This direction sent a close frame.
    closed: bool,
}

/// The WebSocket side of one connection (both directions), from the `101` on. Feed it through
/// [`StreamSink`]; take the result with [`finish`](WebSocketParser::finish).
#[derive(Debug, Clone)]
pub struct WebSocketParser {
    readers: [FrameReader; 2],
    dirs: [Dir; 2],
    pings: Vec<Ping>,
    rtts: Vec<i64>,
    session: WebSocketSession,
    stats: WebSocketStats,
}

impl WebSocketParser {
    /// A connection upgraded at capture time `open_ts` (the end of the `101` head);
    /// `deflate`: the server accepted `permessage-deflate`.
    pub fn new(open_ts: i64, deflate: bool) -> Self {
        let dir = Dir {
            last_ts: open_ts,
            ..Dir::default()
        };
        WebSocketParser {
            readers: [FrameReader::default(), FrameReader::default()],
            dirs: [dir.clone(), dir],
            pings: Vec::new(),
            rtts: Vec::new(),
            session: WebSocketSession {
                open_ts,
                deflate,
                ..WebSocketSession::default()
            },
            stats: WebSocketStats {
                connections: 1,
                ..WebSocketStats::default()
            },
        }
    }

    /// Bytes of memory the parser holds, itself and on the heap (its session's texts, the pings
    /// waiting and the round trips kept): what an HTTP/2 connection counts for a WebSocket it
    /// keeps until it ends (`StreamSink::held`).
    pub(crate) fn held_bytes(&self) -> usize {
        let text = |t: &Option<String>| t.as_ref().map_or(0, String::capacity);
        std::mem::size_of::<Self>()
            + text(&self.session.host)
            + text(&self.session.path)
            + text(&self.session.close_reason)
            + self.pings.capacity() * std::mem::size_of::<Ping>()
            + self.rtts.capacity() * std::mem::size_of::<i64>()
    }

    /// Sets the request's `Host` and target.
    pub fn with_request(mut self, host: Option<&str>, path: Option<&str>) -> Self {
        self.session.host = host.map(str::to_owned);
        self.session.path = path.map(str::to_owned);
        self
    }

    #[cfg_attr(not(any(test, feature = "fuzzing")), allow(dead_code))] // tests and fuzzing
    /// Counters so far.
    pub fn stats(&self) -> &WebSocketStats {
        &self.stats
    }

    /// The session as seen up to `end_ts` (the connection's last packet, or the end of the
    /// capture), with the counters.
    pub fn finish(mut self, end_ts: i64) -> (WebSocketSession, WebSocketStats) {
        for d in &mut self.dirs {
            if !d.closed {
                // The silence from this direction's last bytes to the end counts: a stall
                // that the close (or the capture's end) cut.
                let tail = end_ts.saturating_sub(d.last_ts).max(0);
                d.out.max_idle_ns = d.out.max_idle_ns.max(tail);
            }
        }
        let [c, s] = self.dirs;
        self.session.from_client = c.out;
        self.session.from_server = s.out;
        let mut rtts = self.rtts;
        rtts.sort_unstable();
        if !rtts.is_empty() {
            // The lower median for an even count (a measured value, as the project's other
            // medians are).
            self.session.ping_rtt_median_ns = rtts.get((rtts.len() - 1) / 2).copied();
        }
        (self.session, self.stats)
    }

    fn on_piece(&mut self, client: bool, ts: i64, piece: &Piece<'_>) {
        let k = usize::from(!client);
        match *piece {
            Piece::Head(h) => {
                if matches!(h.opcode, 1 | 2) {
                    if let Some(d) = self.dirs.get_mut(k) {
                        d.msg_compressed = h.rsv & 4 != 0;
                    }
                }
            }
            Piece::Payload(h, n) => {
                if !h.is_control() {
                    if let Some(d) = self.dirs.get_mut(k) {
                        d.out.payload_bytes = d.out.payload_bytes.saturating_add(n as u64);
                    }
                }
            }
            Piece::End(h, payload) => {
                self.stats.frames += 1;
                let Some(d) = self.dirs.get_mut(k) else {
                    return;
                };
                d.out.frames += 1;
                match h.opcode {
                    0..=2 if h.fin => {
                        d.out.messages += 1;
                        d.out.compressed_messages += u64::from(d.msg_compressed);
                    }
                    8 => {
                        d.closed = true;
                        if self.session.close_initiator.is_none() {
                            self.session.close_initiator =
                                Some(if client { Side::Client } else { Side::Server });
                            self.session.close_ts = Some(ts);
                            if let [hi, lo, reason @ ..] = payload {
                                self.session.close_code = Some(u16::from_be_bytes([*hi, *lo]));
                                self.session.close_reason =
                                    Some(String::from_utf8_lossy(reason).into_owned());
                            }
                        }
                    }
                    9 => {
                        d.out.pings += 1;
                        if self.pings.len() >= MAX_PENDING_PINGS {
                            self.pings.remove(0);
                            self.stats.pings_forgotten += 1;
                        }
                        self.pings.push(Ping {
                            client,
                            ts,
                            len: payload.len(),
                            hash: fnv(payload),
                        });
                    }
                    10 => {
                        d.out.pongs += 1;
                        let (len, hash) = (payload.len(), fnv(payload));
                        // The other side's ping with this payload; older pings of that side
                        // are answered by it too (RFC 6455 §5.5.3: a pong may answer only the
                        // latest ping).
                        if let Some(i) = self
                            .pings
                            .iter()
                            .rposition(|p| p.client != client && p.len == len && p.hash == hash)
                        {
                            let rtt = ts.saturating_sub(self.pings[i].ts).max(0);
                            let mut j = 0;
                            self.pings.retain(|p| {
                                let drop = j <= i && p.client != client;
                                j += 1;
                                !drop
                            });
                            self.session.ping_rtts += 1;
                            self.session.ping_rtt_max_ns =
                                Some(self.session.ping_rtt_max_ns.map_or(rtt, |m| m.max(rtt)));
                            if self.rtts.len() < MAX_RTT_SAMPLES {
                                self.rtts.push(rtt);
                            } else {
                                self.stats.rtt_samples_dropped += 1;
                            }
                        }
                    }
                    _ => {}
                }
            }
        }
    }
}

impl StreamSink for WebSocketParser {
    fn on_data(&mut self, ts_ns: i64, dir: Direction, bytes: &[u8]) {
        let client = dir == Direction::ClientToServer;
        let k = usize::from(!client);
        if bytes.is_empty() {
            return;
        }
        let stopped = self.readers.get(k).is_none_or(FrameReader::stopped);
        if let Some(d) = self.dirs.get_mut(k) {
            if !d.closed && !stopped {
                let idle = ts_ns.saturating_sub(d.last_ts).max(0);
                d.out.max_idle_ns = d.out.max_idle_ns.max(idle);
                d.last_ts = ts_ns;
            }
        }
        if stopped {
            return;
        }
        let mut reader = std::mem::take(&mut self.readers[k]);
        let res = reader.feed(bytes, &mut |p| self.on_piece(client, ts_ns, &p));
        self.readers[k] = reader;
        if res.is_err() {
            self.stats.protocol_errors += 1;
            self.session.damaged = true;
        }
    }

    fn on_gap(&mut self, _ts_ns: i64, dir: Direction, len: u64) {
        if len == 0 {
            return;
        }
        let k = usize::from(dir != Direction::ClientToServer);
        let Some(r) = self.readers.get_mut(k) else {
            return;
        };
        if r.stopped() {
            return;
        }
        self.session.damaged = true;
        if !r.skip(len) {
            self.stats.gaps += 1;
        } else if let Some(d) = self.dirs.get_mut(k) {
            d.out.payload_bytes = d.out.payload_bytes.saturating_add(len);
        }
    }

    fn on_close(&mut self, _ts_ns: i64, dir: Direction) {
        let k = usize::from(dir != Direction::ClientToServer);
        if let Some(r) = self.readers.get_mut(k) {
            // A frame cut by the end of its direction stays uncounted.
            r.stop();
        }
    }
}

/// Whether a `Sec-WebSocket-Extensions` value accepts `permessage-deflate` (RFC 7692).
pub(crate) fn has_deflate(value: &str) -> bool {
    value
        .split(',')
        .filter_map(|ext| ext.split(';').next())
        .any(|name| name.trim().eq_ignore_ascii_case("permessage-deflate"))
}
