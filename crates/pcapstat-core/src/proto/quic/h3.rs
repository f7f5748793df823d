//! HTTP/3 (RFC 9114) over a QUIC connection's decrypted 1-RTT STREAM frames: one
//! [`HttpExchange`] per client-initiated bidirectional (request) stream.
//!
//! STREAM frames are reassembled per stream and direction by offset (out of order,
//! retransmitted overlaps cut and counted, FIN), with the bytes held out of order bounded per
//! connection ([`MAX_H3_BUFFER`]) and for all connections ([`MAX_H3_BUFFER_TOTAL`]). In-order
//! bytes are cut into HTTP/3 frames: on request streams HEADERS (QPACK-decoded, `qpack.rs`)
//! and DATA (counted, never kept), other frames skipped; unidirectional streams by their type:
//! control (SETTINGS read for the QPACK table capacity), QPACK encoder (fed to the sender's
//! dynamic table), QPACK decoder, push and unknown ones skipped.
//!
//! Times (capture time of the datagram): request start = the first STREAM frame of the
//! request stream from the client (whatever its offset: the first byte on the wire); request
//! end = the datagram that made the client's side whole up to its FIN (the last byte needed);
//! response start = the first STREAM frame of the stream from the server; response end = the
//! datagram that made the server's side whole up to its FIN. Not whole: the last datagram
//! with bytes of the stream from that side (any offset).

use std::collections::{BTreeMap, BTreeSet, HashMap};

use super::packet::read_varint;
use super::qpack::{QpackError, Table};
use super::reasm::{HoldBudget, OffsetReasm};
use super::QuicStats;
use crate::proto::headers::{self, HeaderLimits, HeaderList, HttpHeaders};
use crate::proto::websocket::{has_deflate, StreamWebSocket, WebSocketParser};
use crate::record::{HttpExchange, HttpVersion, Text};
use crate::tcp::{Direction, StreamSink};

/// Most bytes one connection holds for HTTP/3: STREAM data out of order, incomplete HEADERS
/// frames and blocked field sections; past it the stream that needed more stops being read
/// (`QuicStats::h3_buffer_limit`).
pub const MAX_H3_BUFFER: usize = 1024 * 1024;
/// Most bytes all connections together hold for HTTP/3 (as [`MAX_H3_BUFFER`]).
pub const MAX_H3_BUFFER_TOTAL: usize = 64 * 1024 * 1024;
/// Most streams one connection tracks at once (request streams not finished and
/// unidirectional streams); past it HTTP/3 parsing of the connection stops
/// (`QuicStats::h3_stream_limit`).
pub const MAX_H3_STREAMS: usize = 1024;
/// Largest HEADERS frame read (its field section is kept until the frame is whole); a larger
/// one is skipped (`QuicStats::h3_field_section_too_large`).
pub const MAX_H3_FIELD_SECTION: usize = 64 * 1024;
/// Finished request stream IDs remembered so that a late retransmission does not open them
/// again (below the oldest forgotten one, an unknown request stream is taken as finished).
const DONE_REMEMBERED: usize = 1024;

/// Bytes held for HTTP/3: the connection's budget and the tracker's.
pub(crate) struct Budget<'a> {
    pub(crate) conn: &'a mut usize,
    pub(crate) total: &'a mut usize,
}

impl HoldBudget for Budget<'_> {
    fn take(&mut self, n: usize) -> bool {
        if n > *self.conn || n > *self.total {
            return false;
        }
        *self.conn -= n;
        *self.total -= n;
        true
    }
    fn give(&mut self, n: usize) {
        *self.conn += n;
        *self.total += n;
    }
}

/// One direction of one stream: reassembly by offset, and its FIN.
#[derive(Debug, Default)]
struct Reasm {
    bytes: OffsetReasm,
    fin: Option<u64>,
    stopped: bool,
}

impl Reasm {
    /// Adds a STREAM frame's data; returns the bytes that became contiguous (`Err` when the
    /// budget ran out: the stream stopped).
    fn insert(
        &mut self,
        offset: u64,
        data: &[u8],
        fin: bool,
        budget: &mut Budget<'_>,
        retrans: &mut u64,
    ) -> Result<Vec<u8>, ()> {
        if self.stopped {
            return Ok(Vec::new());
        }
        if fin {
            self.fin
                .get_or_insert(offset.saturating_add(data.len() as u64));
        }
        let bytes = self.bytes.insert(offset, data, budget, retrans);
        if bytes.is_err() {
            self.stop(budget);
        }
        bytes
    }

    fn whole(&self) -> bool {
        self.fin.is_some_and(|f| self.bytes.delivered >= f)
    }

    fn stop(&mut self, budget: &mut Budget<'_>) {
        self.stopped = true;
        self.bytes.release(budget);
    }
}

/// What one direction of a stream carries (unidirectional streams by their type).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Request,
    Control,
    Encoder,
    /// QPACK decoder, push, reserved and unknown types, server-initiated bidirectional
    /// streams: not read.
    Skip,
}

/// One direction of a stream: reassembly, then HTTP/3 frames.
#[derive(Debug)]
struct Half {
    reasm: Reasm,
    kind: Option<Kind>,
    first_ts: Option<i64>,
    last_ts: Option<i64>,
    whole_ts: Option<i64>,
    reset: bool,
    /// Capture time of the RESET_STREAM that ended this side (a side made whole ends at
    /// `whole_ts`).
    reset_ts: Option<i64>,
    /// Bytes of a frame header (or a unidirectional stream type) not complete yet.
    head: Vec<u8>,
    /// The frame being read: type and bytes left.
    frame: Option<(u64, u64)>,
    /// A HEADERS or SETTINGS payload being collected (`None`: skipped), and the bytes of the
    /// budget reserved for it.
    payload: Option<Vec<u8>>,
    reserved: usize,
    /// The stream cannot be read further (a frame error or a limit).
    broken: bool,
}

impl Half {
    fn new(kind: Option<Kind>) -> Half {
        Half {
            reasm: Reasm::default(),
            kind,
            first_ts: None,
            last_ts: None,
            whole_ts: None,
            reset: false,
            reset_ts: None,
            head: Vec::new(),
            frame: None,
            payload: None,
            reserved: 0,
            broken: false,
        }
    }

    fn done(&self) -> bool {
        self.reset || self.reasm.stopped || self.broken || self.whole_ts.is_some()
    }

    /// Gives back every byte the half holds (its stream is finished).
    fn release(&mut self, budget: &mut Budget<'_>) {
        self.reasm.stop(budget);
        self.payload = None;
        budget.give(std::mem::take(&mut self.reserved));
    }
}

/// What the frames of a half gave.
#[derive(Debug)]
enum Item {
    Headers(Vec<u8>),
    /// DATA payload bytes: `n` bytes at `at` in the bytes given to [`cut`].
    Data {
        at: usize,
        n: usize,
    },
    Settings(Vec<u8>),
    Encoder(Vec<u8>),
}

/// Cuts in-order bytes into frames (or passes an encoder stream on).
fn cut(
    h: &mut Half,
    mut bytes: &[u8],
    budget: &mut Budget<'_>,
    stats: &mut QuicStats,
) -> Vec<Item> {
    let mut items = Vec::new();
    if h.broken {
        return items;
    }
    let whole_len = bytes.len();
    if h.kind.is_none() {
        // A unidirectional stream's type: one varint.
        let need = 8usize.saturating_sub(h.head.len()).min(bytes.len());
        h.head
            .extend_from_slice(bytes.get(..need).unwrap_or_default());
        let mut pos = 0;
        let Some(ty) = read_varint(&h.head, &mut pos) else {
            return items;
        };
        let used = pos.saturating_sub(h.head.len() - need);
        bytes = bytes.get(used..).unwrap_or_default();
        h.head.clear();
        h.kind = Some(match ty {
            0x00 => Kind::Control,
            0x02 => Kind::Encoder,
            _ => Kind::Skip,
        });
    }
    match h.kind {
        Some(Kind::Skip) | None => return items,
        Some(Kind::Encoder) => {
            if !bytes.is_empty() {
                items.push(Item::Encoder(bytes.to_vec()));
            }
            return items;
        }
        _ => {}
    }
    while !bytes.is_empty() {
        match h.frame {
            None => {
                // A frame header: type and length, two varints of up to 8 bytes each.
                let before = h.head.len();
                let need = 16usize.saturating_sub(before).min(bytes.len());
                h.head
                    .extend_from_slice(bytes.get(..need).unwrap_or_default());
                let mut pos = 0;
                let (Some(ty), Some(len)) = (
                    read_varint(&h.head, &mut pos),
                    read_varint(&h.head, &mut pos),
                ) else {
                    // Not complete: all of `bytes` is in `head` (16 bytes always hold both).
                    bytes = &[];
                    continue;
                };
                let used = pos.saturating_sub(before);
                bytes = bytes.get(used..).unwrap_or_default();
                h.head.clear();
                h.frame = Some((ty, len));
                let collect = matches!(
                    (h.kind, ty),
                    (Some(Kind::Request), 0x01) | (Some(Kind::Control), 0x04)
                );
                h.payload = None;
                if collect {
                    let fits = usize::try_from(len)
                        .ok()
                        .filter(|&l| l <= MAX_H3_FIELD_SECTION);
                    match fits {
                        Some(l) if budget.take(l) => {
                            h.payload = Some(Vec::with_capacity(l));
                            h.reserved = l;
                        }
                        Some(_) => {
                            stats.h3_buffer_limit += 1;
                            h.broken = true;
                            return items;
                        }
                        None => stats.h3_field_section_too_large += 1,
                    }
                }
                if len == 0 {
                    finish_frame(h, ty, budget, &mut items);
                }
            }
            Some((ty, left)) => {
                let n = usize::try_from(left).unwrap_or(usize::MAX).min(bytes.len());
                let (now, rest) = bytes.split_at(n);
                if let Some(p) = h.payload.as_mut() {
                    p.extend_from_slice(now);
                }
                if ty == 0x00 && h.kind == Some(Kind::Request) {
                    items.push(Item::Data {
                        at: whole_len - bytes.len(),
                        n,
                    });
                }
                bytes = rest;
                let left = left - n as u64;
                if left == 0 {
                    finish_frame(h, ty, budget, &mut items);
                } else {
                    h.frame = Some((ty, left));
                }
            }
        }
    }
    items
}

fn finish_frame(h: &mut Half, ty: u64, budget: &mut Budget<'_>, items: &mut Vec<Item>) {
    h.frame = None;
    if let Some(p) = h.payload.take() {
        budget.give(std::mem::take(&mut h.reserved));
        match ty {
            0x01 => items.push(Item::Headers(p)),
            _ => items.push(Item::Settings(p)),
        }
    }
}

/// A request stream.
#[derive(Debug)]
struct Req {
    halves: [Half; 2],
    /// Field sections blocked on the encoder stream (direction, bytes), in order.
    blocked: Vec<(usize, Vec<u8>)>,
    ex: HttpExchange,
    /// Whether the request's and the final response's field sections were read.
    request_fields: bool,
    response_final: bool,
    qpack_failed: bool,
    /// The request is an extended CONNECT with `:protocol: websocket` (RFC 9220).
    websocket: bool,
    /// Capture time the request's field section was read.
    request_head_ts: Option<i64>,
    /// Capture time of the 2xx that answered a CONNECT: from then on the stream's DATA is a
    /// tunnel (RFC 9114 §4.4), its row final at the 2xx.
    tunnel_ts: Option<i64>,
    /// The WebSocket inside the tunnel (RFC 9220), fed the DATA payloads.
    ws: Option<Box<WebSocketParser>>,
}

/// The HTTP/3 state of one connection (after its 1-RTT keys were found).
#[derive(Debug)]
pub(crate) struct H3Conn {
    reqs: BTreeMap<u64, Req>,
    uni: HashMap<u64, Half>,
    tables: [Table; 2],
    done: BTreeSet<u64>,
    done_floor: Option<u64>,
    budget: usize,
    stopped: bool,
    /// Requests finished, in the order they finished (taken by the tracker).
    pub(crate) finished: Vec<HttpExchange>,
    /// Request streams finished without a byte from the client (taken by the tracker:
    /// `QuicStats::h3_without_request`).
    pub(crate) without_request: u64,
    /// WebSockets of extended CONNECT streams that ended (taken by the tracker).
    pub(crate) websockets: Vec<StreamWebSocket>,
    /// Bounds of the header capture (`Analyzer::capture_headers`); `None`: no field kept.
    headers: Option<HeaderLimits>,
}

impl Default for H3Conn {
    fn default() -> Self {
        H3Conn {
            reqs: BTreeMap::new(),
            uni: HashMap::new(),
            tables: Default::default(),
            done: BTreeSet::new(),
            done_floor: None,
            budget: MAX_H3_BUFFER,
            stopped: false,
            finished: Vec::new(),
            without_request: 0,
            websockets: Vec::new(),
            headers: None,
        }
    }
}

impl H3Conn {
    /// A connection's HTTP/3 state keeping the request's and the final response's header
    /// fields within `headers` (`None`: none kept).
    pub(crate) fn new(headers: Option<HeaderLimits>) -> H3Conn {
        H3Conn {
            headers,
            ..H3Conn::default()
        }
    }

    /// A STREAM frame in direction `dir` (0: from the client).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn on_stream(
        &mut self,
        ts: i64,
        dir: usize,
        id: u64,
        offset: u64,
        data: &[u8],
        fin: bool,
        total: &mut usize,
        retrans: &mut u64,
        stats: &mut QuicStats,
    ) {
        if self.stopped {
            return;
        }
        let request = id.is_multiple_of(4);
        if id % 4 >= 2 && usize::from(id % 2 == 1) != dir {
            // A unidirectional stream carries bytes from its initiator only (bit 0 of the
            // ID: 0 the client, 1 the server); the other way is not HTTP/3.
            return;
        }
        let known = if request {
            self.reqs.contains_key(&id)
        } else {
            self.uni.contains_key(&id)
        };
        if !known {
            if request && (self.done.contains(&id) || self.done_floor.is_some_and(|f| id <= f)) {
                *retrans += data.len() as u64;
                return;
            }
            if self.reqs.len() + self.uni.len() >= MAX_H3_STREAMS {
                stats.h3_stream_limit += 1;
                self.stop(total);
                return;
            }
            if request {
                let index = u32::try_from(id / 4).unwrap_or(u32::MAX);
                self.reqs.insert(
                    id,
                    Req {
                        halves: [
                            Half::new(Some(Kind::Request)),
                            Half::new(Some(Kind::Request)),
                        ],
                        blocked: Vec::new(),
                        ex: HttpExchange {
                            request_index: index,
                            stream_id: u32::try_from(id).ok(),
                            version: HttpVersion::Http3,
                            ..HttpExchange::default()
                        },
                        request_fields: false,
                        response_final: false,
                        qpack_failed: false,
                        websocket: false,
                        request_head_ts: None,
                        tunnel_ts: None,
                        ws: None,
                    },
                );
            } else {
                // Server-initiated bidirectional streams are not HTTP/3's: skipped.
                let kind = (id % 4 == 1).then_some(Kind::Skip);
                self.uni.insert(id, Half::new(kind));
            }
        }
        let mut budget = Budget {
            conn: &mut self.budget,
            total,
        };
        let half = if request {
            match self.reqs.get_mut(&id) {
                Some(r) => &mut r.halves[dir],
                None => return,
            }
        } else {
            match self.uni.get_mut(&id) {
                Some(h) => h,
                None => return,
            }
        };
        if !data.is_empty() || fin {
            // The first and the last datagram with bytes (or the FIN) of this side, at any
            // offset: a side never made whole ends at the last one seen.
            half.first_ts.get_or_insert(ts);
            half.last_ts = Some(ts);
        }
        let bytes = match half.reasm.insert(offset, data, fin, &mut budget, retrans) {
            Ok(b) => b,
            Err(()) => {
                stats.h3_buffer_limit += 1;
                Vec::new()
            }
        };
        let items = cut(half, &bytes, &mut budget, stats);
        let became_whole = half.reasm.whole() && half.whole_ts.is_none();
        if became_whole {
            half.whole_ts = Some(ts);
        }
        let kind = half.kind;
        let mut retry = [false; 2];
        for item in items {
            match item {
                Item::Encoder(b) => {
                    let t = &mut self.tables[dir];
                    match t.on_encoder_stream(&b) {
                        Ok(n) if n > 0 => retry[dir] = true,
                        Ok(_) => {}
                        Err(_) => stats.h3_qpack_errors += 1,
                    }
                    // The table's memory is held in the budgets as buffered bytes are (a tiny
                    // entry takes about three times its QPACK size, and a table lives as long
                    // as its connection): past either, the table stops.
                    let now = t.held();
                    if now <= t.charged {
                        budget.give(t.charged - now);
                        t.charged = now;
                    } else if budget.take(now - t.charged) {
                        t.charged = now;
                    } else {
                        t.stop();
                        budget.give(t.charged);
                        t.charged = 0;
                        stats.h3_buffer_limit += 1;
                    }
                }
                Item::Settings(p) if kind == Some(Kind::Control) => {
                    if let Some(cap) = qpack_capacity(&p) {
                        // The sender's decoder capacity: for the peer's encoder.
                        self.tables[1 - dir].set_max_capacity(cap);
                        retry[1 - dir] = true;
                    }
                }
                Item::Settings(_) => {}
                Item::Headers(p) => {
                    if let Some(r) = self.reqs.get_mut(&id) {
                        if dir == 0 {
                            r.ex.request_header_bytes += p.len() as u64;
                        } else {
                            *r.ex.response_header_bytes.get_or_insert(0) += p.len() as u64;
                        }
                        // A section after a blocked one of the same side waits behind it (the
                        // fields are taken in order).
                        let behind = r.blocked.iter().any(|(d, _)| *d == dir);
                        let reason = if behind {
                            Some(QpackError::Blocked)
                        } else {
                            decode_into(
                                r,
                                dir,
                                &p,
                                ts,
                                &self.tables[dir],
                                self.headers.as_ref(),
                                stats,
                            )
                        };
                        {
                            match reason {
                                Some(QpackError::Blocked) => {
                                    if budget.take(p.len()) {
                                        r.blocked.push((dir, p));
                                    } else {
                                        stats.h3_buffer_limit += 1;
                                        r.qpack_failed = true;
                                    }
                                }
                                Some(_) => {
                                    stats.h3_qpack_errors += 1;
                                    r.qpack_failed = true;
                                }
                                None => {}
                            }
                        }
                    }
                }
                Item::Data { at, n } => {
                    if let Some(r) = self.reqs.get_mut(&id) {
                        if r.tunnel_ts.is_some() {
                            // The tunnel's bytes: not a body (RFC 9114 §4.4).
                            if let (Some(ws), Some(b)) = (r.ws.as_mut(), bytes.get(at..at + n)) {
                                ws.on_data(ts, Direction::from_client(dir == 0), b);
                            }
                        } else if dir == 0 {
                            r.ex.request_body_bytes += n as u64;
                        } else {
                            *r.ex.response_body_bytes.get_or_insert(0) += n as u64;
                        }
                    }
                }
            }
        }
        if became_whole {
            // This side's FIN: the tunnel's bytes from it are over.
            if let Some(ws) = self.reqs.get_mut(&id).and_then(|r| r.ws.as_mut()) {
                ws.on_close(ts, Direction::from_client(dir == 0));
            }
        }
        for (d, again) in retry.into_iter().enumerate() {
            if again {
                self.unblock(d, ts, total, stats);
            }
        }
        if request {
            self.finish_if_done(id, total);
        }
    }

    /// RESET_STREAM from direction `dir`, in the datagram captured at `ts`.
    pub(crate) fn on_reset(&mut self, ts: i64, dir: usize, id: u64, total: &mut usize) {
        let mut budget = Budget {
            conn: &mut self.budget,
            total,
        };
        if let Some(r) = self.reqs.get_mut(&id) {
            if !r.halves[dir].done() {
                r.halves[dir].reset_ts = Some(ts);
            }
            r.halves[dir].reset = true;
            r.halves[dir].reasm.stop(&mut budget);
            self.finish_if_done(id, total);
        } else if let Some(h) = self.uni.get_mut(&id) {
            h.reset = true;
            h.reasm.stop(&mut budget);
        }
    }

    /// Decodes the blocked field sections of direction `dir` that can be now.
    fn unblock(&mut self, dir: usize, ts: i64, total: &mut usize, stats: &mut QuicStats) {
        let table = &self.tables[dir];
        let mut freed = 0;
        let mut ready = Vec::new();
        for (&id, r) in self.reqs.iter_mut() {
            while let Some(pos) = r.blocked.iter().position(|(d, _)| *d == dir) {
                let p = std::mem::take(&mut r.blocked[pos].1);
                match decode_into(r, dir, &p, ts, table, self.headers.as_ref(), stats) {
                    Some(QpackError::Blocked) => {
                        r.blocked[pos].1 = p;
                        break;
                    }
                    reason => {
                        if reason.is_some() {
                            stats.h3_qpack_errors += 1;
                            r.qpack_failed = true;
                        }
                        freed += p.len();
                        r.blocked.remove(pos);
                    }
                }
            }
            ready.push(id);
        }
        Budget {
            conn: &mut self.budget,
            total,
        }
        .give(freed);
        for id in ready {
            self.finish_if_done(id, total);
        }
    }

    /// Moves the request to `finished` when both halves ended and nothing is blocked (what
    /// its halves still hold is given back: bytes past a FIN, a HEADERS frame cut by a reset).
    fn finish_if_done(&mut self, id: u64, total: &mut usize) {
        let Some(r) = self.reqs.get(&id) else {
            return;
        };
        if !(r.halves[0].done() && r.halves[1].done() && r.blocked.is_empty()) {
            return;
        }
        if let Some(mut r) = self.reqs.remove(&id) {
            let mut budget = Budget {
                conn: &mut self.budget,
                total,
            };
            for h in &mut r.halves {
                h.release(&mut budget);
            }
            self.remember_done(id);
            if let Some(ws) = r.ws.take() {
                let end = r
                    .halves
                    .iter()
                    .filter_map(|h| h.whole_ts.or(h.reset_ts).or(h.last_ts))
                    .max();
                self.websockets.push(StreamWebSocket {
                    stream_id: id,
                    end_ts: end,
                    parser: *ws,
                });
            }
            match exchange(r) {
                Some(ex) => self.finished.push(ex),
                None => self.without_request += 1,
            }
        }
    }

    fn remember_done(&mut self, id: u64) {
        self.done.insert(id);
        if self.done.len() > DONE_REMEMBERED {
            if let Some(old) = self.done.pop_first() {
                self.done_floor = Some(self.done_floor.map_or(old, |f| f.max(old)));
            }
        }
    }

    /// Stops reading HTTP/3 on the connection (a limit): what is open is finished as it is.
    fn stop(&mut self, total: &mut usize) {
        self.stopped = true;
        self.end_streams(total, None);
    }

    /// The connection ended: every open request finishes as it is (counted by `stats`).
    pub(crate) fn end(&mut self, total: &mut usize, stats: &mut QuicStats) {
        self.end_streams(total, Some(stats));
        let mut budget = Budget {
            conn: &mut self.budget,
            total,
        };
        for t in &mut self.tables {
            budget.give(std::mem::take(&mut t.charged));
        }
    }

    fn end_streams(&mut self, total: &mut usize, mut stats: Option<&mut QuicStats>) {
        let mut budget = Budget {
            conn: &mut self.budget,
            total,
        };
        for (id, mut r) in std::mem::take(&mut self.reqs) {
            for h in &mut r.halves {
                h.release(&mut budget);
            }
            if let Some(ws) = r.ws.take() {
                // Still open: it ends with the connection.
                self.websockets.push(StreamWebSocket {
                    stream_id: id,
                    end_ts: None,
                    parser: *ws,
                });
            }
            if !r.blocked.is_empty() {
                if let Some(s) = stats.as_deref_mut() {
                    s.h3_qpack_blocked += 1;
                }
                for (_, p) in std::mem::take(&mut r.blocked) {
                    budget.give(p.len());
                }
                r.qpack_failed = true;
            }
            match exchange(r) {
                Some(ex) => self.finished.push(ex),
                None => self.without_request += 1,
            }
        }
        for (_, mut h) in std::mem::take(&mut self.uni) {
            h.release(&mut budget);
        }
    }
}

/// Decodes one field section of direction `dir` into the request's fields; the reason when
/// it could not be. With `limits` (header capture on), the fields of the request's section
/// and of the final response's are kept in wire order, pseudo-header fields first as sent
/// (those of 1xx interim responses and trailers are not); a section QPACK could not decode
/// keeps none.
#[allow(clippy::too_many_arguments)]
fn decode_into(
    r: &mut Req,
    dir: usize,
    block: &[u8],
    ts: i64,
    table: &Table,
    limits: Option<&HeaderLimits>,
    stats: &mut QuicStats,
) -> Option<QpackError> {
    let mut method = None;
    let mut path = None;
    let mut authority = None;
    let mut host = None;
    let mut status = None;
    let mut websocket = false;
    let mut deflate = false;
    // Only a section whose fields can still be the row's: the request's first, the response's
    // until its final one.
    let wanted = if dir == 0 {
        !r.request_fields
    } else {
        !r.response_final
    };
    let limits = limits.filter(|_| wanted);
    let mut list = limits.map(|l| HeaderList::with_capacity(l, 16, block.len().saturating_mul(2)));
    let (mut dropped, mut cut) = (0u64, 0u64);
    let text = |v: &[u8]| String::from_utf8_lossy(v).into_owned();
    let res = table.decode(block, |name, value| {
        if let (Some(list), Some(l)) = (&mut list, limits) {
            headers::count(list.push(l, name, value), &mut dropped, &mut cut);
        }
        match name {
            b":method" => method = Some(text(value)),
            b":path" => path = Some(text(value)),
            b":authority" => authority = Some(text(value)),
            b"host" => host = Some(text(value)),
            b":status" => {
                status = std::str::from_utf8(value)
                    .ok()
                    .and_then(|s| s.parse::<u16>().ok())
            }
            b":protocol" => websocket = value.eq_ignore_ascii_case(b"websocket"),
            b"sec-websocket-extensions" => {
                deflate |= std::str::from_utf8(value).is_ok_and(has_deflate);
            }
            _ => {}
        }
    });
    if res == Err(QpackError::Blocked) {
        return Some(QpackError::Blocked);
    }
    // What was kept stays only when the whole section was read.
    let mut list = list.filter(|_| res.is_ok());
    let mut keep = |r: &mut Req, response: bool| {
        if let Some(list) = list.take() {
            stats.h3_kept_headers_dropped += dropped;
            stats.h3_kept_headers_truncated += cut;
            let h = r.ex.headers.get_or_insert_with(Box::<HttpHeaders>::default);
            if response {
                h.response = list;
            } else {
                h.request = list;
            }
        }
    };
    if dir == 0 {
        if !r.request_fields && res.is_ok() {
            r.request_head_ts = Some(ts);
            r.websocket = websocket && method.as_deref() == Some("CONNECT");
        }
        if !r.request_fields {
            r.request_fields = true;
            r.ex.method = method.map(Text::from);
            r.ex.path = path.map(Text::from);
            r.ex.host = authority.or(host).map(Text::from);
            keep(r, false);
        }
    } else if !r.response_final {
        // The first final (non-1xx) status; trailers have none.
        if let Some(s) = status.filter(|s| *s >= 200) {
            r.ex.status = Some(s);
            r.response_final = true;
            keep(r, true);
            if r.ex.method.as_deref() == Some("CONNECT") && (200..300).contains(&s) {
                // RFC 9114 §4.4, RFC 9220: the stream is now a tunnel.
                r.tunnel_ts = Some(ts);
                r.ex.upgraded = true;
                if r.websocket {
                    let p = WebSocketParser::new(ts, deflate)
                        .with_request(r.ex.host.as_deref(), r.ex.path.as_deref());
                    r.ws = Some(Box::new(p));
                }
            }
        }
    }
    res.err()
}

/// SETTINGS_QPACK_MAX_TABLE_CAPACITY (0x01) of a SETTINGS payload.
fn qpack_capacity(p: &[u8]) -> Option<u64> {
    let mut pos = 0;
    let mut cap = Some(0);
    while pos < p.len() {
        let id = read_varint(p, &mut pos)?;
        let value = read_varint(p, &mut pos)?;
        if id == 0x01 {
            cap = Some(value);
        }
    }
    cap
}

/// The row of a finished request stream (`None` when no byte of the request was seen).
fn exchange(r: Req) -> Option<HttpExchange> {
    let [c, s] = &r.halves;
    let mut ex = r.ex;
    ex.request_start_ts = c.first_ts?;
    ex.request_end_ts = c.whole_ts.or(c.last_ts);
    ex.response_start_ts = s.first_ts;
    ex.response_end_ts = s.whole_ts.or(s.last_ts);
    if ex.response_start_ts.is_some() {
        ex.response_body_bytes.get_or_insert(0);
        ex.response_header_bytes.get_or_insert(0);
    }
    ex.complete = c.whole_ts.is_some()
        && s.whole_ts.is_some()
        && !c.broken
        && !s.broken
        && !r.qpack_failed
        && r.request_fields
        && r.response_final;
    if let Some(t) = r.tunnel_ts {
        // A CONNECT answered 2xx: final at the 2xx (as an HTTP/1 `101`); what followed on
        // the stream was the tunnel's.
        ex.request_end_ts = r.request_head_ts.or(ex.request_end_ts);
        ex.response_end_ts = Some(t);
        ex.complete = !r.qpack_failed && r.request_fields && r.response_final;
    }
    Some(ex)
}

/// Fuzzing (target `h3`, `fuzzing::h3`): `data[0]` bit 0 = QPACK alone (the rest as
/// `qpack::fuzz`); bit 1 = header capture on, with small bounds (3 fields, 8-byte names,
/// 16-byte values, 40 bytes a message: the bounds are checked on every kept list); then
/// operations, each a flag byte `o`, a 2-byte big-endian offset, a
/// 1-byte length and that many bytes: a STREAM frame on stream `[0, 4, 8, 2, 3, 6, 7, 1][o &
/// 7]` from the server when bit 7 is set, with FIN when bit 6 is set, a RESET_STREAM instead
/// when bit 5 is set. Returns the rows given; checks that every buffer is given back at the end.
#[cfg(any(test, feature = "fuzzing"))]
pub(crate) fn fuzz(data: &[u8]) -> usize {
    let Some((&mode, mut rest)) = data.split_first() else {
        return 0;
    };
    if mode & 1 == 1 {
        return super::qpack::fuzz(rest);
    }
    let limits = HeaderLimits::default()
        .with_max_fields(3)
        .with_max_name_bytes(8)
        .with_max_value_bytes(16)
        .with_max_message_bytes(40);
    let mut h = H3Conn::new((mode & 2 != 0).then_some(limits));
    let mut total = MAX_H3_BUFFER_TOTAL;
    let mut retrans = 0;
    let mut stats = QuicStats::default();
    let mut ts = 0;
    while let [o, a, b, len, more @ ..] = rest {
        let len = usize::from(*len).min(more.len());
        let (bytes, next) = more.split_at(len);
        rest = next;
        ts += 1;
        let id = [0u64, 4, 8, 2, 3, 6, 7, 1][usize::from(o & 7)];
        let dir = usize::from(o & 0x80 != 0);
        if o & 0x20 != 0 {
            h.on_reset(ts, dir, id, &mut total);
        } else {
            let offset = u64::from(u16::from_be_bytes([*a, *b]));
            h.on_stream(
                ts,
                dir,
                id,
                offset,
                bytes,
                o & 0x40 != 0,
                &mut total,
                &mut retrans,
                &mut stats,
            );
        }
    }
    h.end(&mut total, &mut stats);
    assert_eq!(total, MAX_H3_BUFFER_TOTAL, "every HTTP/3 buffer given back");
    assert_eq!(h.budget, MAX_H3_BUFFER, "every HTTP/3 buffer given back");
    for r in &h.finished {
        // Each side's end is there with its start, and not before it (times only grow here).
        assert_eq!(r.response_end_ts.is_some(), r.response_start_ts.is_some());
        assert!(r.response_end_ts >= r.response_start_ts);
        assert!(r.request_end_ts.is_some_and(|e| e >= r.request_start_ts));
        if let Some(k) = r.headers.as_deref() {
            assert!(mode & 2 != 0, "no field kept without the capture");
            for list in [&k.request, &k.response] {
                assert!(list.len() <= limits.max_fields);
                let bytes: usize = list.iter().map(|(n, v)| n.len() + v.len()).sum();
                assert!(bytes <= limits.max_message_bytes);
                assert!(list
                    .iter()
                    .all(|(n, v)| n.len() <= limits.max_name_bytes
                        && v.len() <= limits.max_value_bytes));
            }
        }
    }
    // A WebSocket per upgraded CONNECT row (RFC 9220), opened before it ends.
    let upgraded = h.finished.iter().filter(|r| r.upgraded).count();
    assert!(h.websockets.len() <= upgraded);
    for w in std::mem::take(&mut h.websockets) {
        let end = w.end_ts.unwrap_or(ts);
        let (s, _) = w.parser.finish(end);
        assert!(s.open_ts <= end);
    }
    h.finished.len()
}
