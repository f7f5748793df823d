//! Per-direction stream reassembly: in-order bytes to a [`StreamSink`], bounded out-of-order
//! buffering, explicit gaps for bytes the capture never saw.

use std::collections::BTreeMap;

use super::seq::SeqNum;
use super::Direction;

/// Consumer of one connection's reassembled byte streams (sans-IO; the TLS/HTTP/DNS parsers
/// implement it). Calls for one direction come in stream order; the two directions interleave in
/// capture order.
pub trait StreamSink {
    /// In-order bytes of direction `dir`, delivered when the segment at `ts_ns` made them
    /// contiguous.
    fn on_data(&mut self, ts_ns: i64, dir: Direction, bytes: &[u8]);
    /// `len` bytes of direction `dir` at this point of the stream will never be delivered (lost
    /// before the capture point, cut by the snap length, or given up on at a buffer limit or at
    /// the end of the connection).
    fn on_gap(&mut self, ts_ns: i64, dir: Direction, len: u64);
    /// Direction `dir` ended (FIN reached in order, RST, or end of tracking). Called at most once
    /// per direction.
    fn on_close(&mut self, ts_ns: i64, dir: Direction);
    /// Memory (the buffers' room, not only the bytes in them) the sink holds for messages not
    /// yet whole (an unfinished HTTP head, a TLS record or handshake message, a probing
    /// buffer) and for the records it keeps (requests waiting for their response, HTTP/2
    /// streams open, final ones not yet taken), counted against the tracker's total
    /// (`TcpConfig::app_total_limit_bytes`). None by default.
    fn held(&self) -> usize {
        0
    }
    /// Drops what [`held`](StreamSink::held) counts, as at the sink's own limits (the unfinished
    /// messages are given up and the parsing goes on, or stops, as after a gap; the records
    /// still waiting are given up, final and incomplete, and leave at the next
    /// [`SinkFactory::after_segment`](crate::tcp::SinkFactory::after_segment)): the
    /// connections of a tracker together held more than their total.
    fn shed(&mut self) {}
}

/// A sink that ignores everything.
impl StreamSink for () {
    fn on_data(&mut self, _: i64, _: Direction, _: &[u8]) {}
    fn on_gap(&mut self, _: i64, _: Direction, _: u64) {}
    fn on_close(&mut self, _: i64, _: Direction) {}
}

#[derive(Debug)]
enum Chunk {
    /// Captured bytes and the capture time of the segment that carried them.
    Data(Vec<u8>, i64),
    /// Bytes on the wire but not in the capture (cut by the snap length).
    Missing(u64),
}

impl Chunk {
    fn len(&self) -> u64 {
        match self {
            Chunk::Data(v, _) => v.len() as u64,
            Chunk::Missing(n) => *n,
        }
    }

    /// Memory this chunk costs while buffered (counted against the out-of-order limit).
    fn cost(&self) -> usize {
        match self {
            Chunk::Data(v, _) => DATA_CHUNK_COST + v.capacity(),
            Chunk::Missing(_) => CHUNK_COST,
        }
    }
}

/// Bytes one buffered chunk costs besides its payload: its share of the map node (key, value,
/// node slack) — about 65 bytes measured with millions of entries. Counted against
/// [`TcpConfig::ooo_limit_bytes`](super::TcpConfig) so that the limit bounds memory whatever
/// the segment sizes (docs/limits.md, "Out-of-order buffer").
pub(crate) const CHUNK_COST: usize = 64;

/// Cost of a chunk holding captured bytes: [`CHUNK_COST`] plus the allocator's header of its
/// heap block (the payload itself is counted at the block's capacity).
pub(crate) const DATA_CHUNK_COST: usize = CHUNK_COST + 16;

/// Spare buffers larger than this are not kept for reuse (they would hold memory the limit
/// does not see).
const MAX_SPARE_CAPACITY: usize = 4096;

/// Reassembly state of one direction. Stream positions are 64-bit offsets from the first
/// sequence number seen (`base`), so they never wrap.
#[derive(Debug)]
pub(crate) struct Reassembler {
    dir: Direction,
    /// Out-of-order buffer limit, in bytes of memory ([`Chunk::cost`]).
    limit: usize,
    /// Sequence number at offset `next_off` (None until the direction's start is known).
    next: Option<SeqNum>,
    next_off: u64,
    fin_off: Option<u64>,
    /// Highest stream offset seen (end of the furthest segment).
    high_off: u64,
    ooo: BTreeMap<u64, Chunk>,
    /// Memory cost of the chunks held in `ooo` ([`Chunk::cost`]): payload plus per-chunk
    /// overhead, never above `limit`.
    buffered: usize,
    closed: bool,
    /// The peer acknowledged the FIN.
    fin_acked: bool,
    spare: Vec<Vec<u8>>,
    /// Unique on-wire stream bytes seen.
    pub payload_bytes: u64,
    /// Bytes delivered as gaps.
    pub missed_bytes: u64,
    /// Segments whose bytes overlapped buffered bytes with different content.
    pub inconsistent_overlaps: u64,
    /// Times the out-of-order buffer limit forced holes to be given up.
    pub limit_hits: u64,
    /// Capture time of the last event given to the sink (data or gap): deliveries after a hole
    /// that was given up keep their own segment's time but never go back before it.
    delivered_ts: i64,
    /// Capture time of the first / last segment bringing new bytes.
    pub first_ts: Option<i64>,
    /// See `first_ts`.
    pub last_ts: Option<i64>,
}

const MAX_SPARE: usize = 8;

impl Reassembler {
    pub(crate) fn new(dir: Direction, limit: usize) -> Self {
        Reassembler {
            dir,
            limit,
            next: None,
            next_off: 0,
            fin_off: None,
            high_off: 0,
            ooo: BTreeMap::new(),
            buffered: 0,
            closed: false,
            fin_acked: false,
            spare: Vec::new(),
            payload_bytes: 0,
            missed_bytes: 0,
            inconsistent_overlaps: 0,
            limit_hits: 0,
            delivered_ts: i64::MIN,
            first_ts: None,
            last_ts: None,
        }
    }

    /// Sets the out-of-order limit for the next segments (the connection's share of its
    /// tracker's total, `TcpConfig::ooo_total_limit_bytes`, when that is less than its own).
    /// A limit below what is held gives up the holes at the next out-of-order piece.
    pub(crate) fn set_limit(&mut self, limit: usize) {
        self.limit = limit;
    }

    /// Memory cost of the buffered out-of-order chunks (payload plus per-chunk overhead); never
    /// above the limit in force when a chunk was added.
    pub(crate) fn buffered_cost(&self) -> usize {
        self.buffered
    }

    /// Out-of-order chunks buffered.
    #[cfg(test)]
    pub(crate) fn buffered_chunks(&self) -> usize {
        self.ooo.len()
    }

    /// Whether the start of the stream is known.
    /// The stream ended with its FIN, delivered in order (no hole left before it), and the
    /// peer acknowledged the FIN.
    pub(crate) fn closed_and_acked(&self) -> bool {
        self.closed && self.fin_acked && self.fin_off.is_some()
    }

    pub(crate) fn started(&self) -> bool {
        self.next.is_some()
    }

    /// Set the sequence number of the first stream byte (ISN + 1, or the first seq seen).
    pub(crate) fn start_at(&mut self, seq: SeqNum) {
        if self.next.is_none() {
            self.next = Some(seq);
        }
    }

    /// Stream offset of `seq` (may be negative: before the delivered point).
    fn off(&self, next: SeqNum, seq: SeqNum) -> i64 {
        self.next_off as i64 + i64::from(seq.diff(next))
    }

    fn set_next_off(&mut self, off: u64) {
        if let Some(n) = self.next {
            let delta = off.wrapping_sub(self.next_off) as u32;
            self.next = Some(n + delta);
        }
        self.next_off = off;
    }

    fn gap<S: StreamSink>(&mut self, ts: i64, len: u64, sink: &mut S) {
        if len > 0 {
            let ts = ts.max(self.delivered_ts);
            self.delivered_ts = ts;
            self.missed_bytes += len;
            sink.on_gap(ts, self.dir, len);
        }
    }

    fn data<S: StreamSink>(&mut self, ts: i64, bytes: &[u8], sink: &mut S) {
        if !bytes.is_empty() {
            let ts = ts.max(self.delivered_ts);
            self.delivered_ts = ts;
            sink.on_data(ts, self.dir, bytes);
        }
    }

    /// The time of a hole given up before the first buffered chunk: when the bytes after it
    /// arrived (the hole was evident then), else `now`.
    fn hole_ts(&self, now: i64) -> i64 {
        match self.ooo.first_key_value() {
            Some((_, Chunk::Data(_, t))) => (*t).min(now),
            _ => now,
        }
    }

    fn note_new(&mut self, ts: i64, n: u64) {
        if n > 0 {
            self.payload_bytes += n;
            self.first_ts.get_or_insert(ts);
            self.last_ts = Some(ts);
        }
    }

    /// One segment of this direction: `seq` is the sequence number of its first data byte
    /// (after a SYN), `data` the captured payload, `wire_len` its on-wire length.
    pub(crate) fn on_segment<S: StreamSink>(
        &mut self,
        ts: i64,
        seq: SeqNum,
        data: &[u8],
        wire_len: u32,
        fin: bool,
        sink: &mut S,
    ) {
        self.start_at(seq);
        let Some(next) = self.next else { return };
        let s = self.off(next, seq);
        let e = s + i64::from(wire_len);
        if self.closed {
            // Nothing is delivered after the stream ended (RST, FIN), but bytes still on the
            // wire beyond everything seen are counted as payload.
            if wire_len > 0 && e > self.high_off as i64 {
                let n = (e as u64).saturating_sub(self.high_off.max(self.next_off));
                self.high_off = e as u64;
                self.note_new(ts, n);
            }
            return;
        }
        if e > self.high_off as i64 {
            self.high_off = e as u64;
        }
        if fin && self.fin_off.is_none() && e >= self.next_off as i64 {
            self.fin_off = Some(e as u64);
        }
        if wire_len > 0 && e > self.next_off as i64 {
            let cap = data.len().min(wire_len as usize);
            let data = data.get(..cap).unwrap_or(&[]);
            self.insert(ts, s, data, e as u64, sink);
        }
        self.drain(Some(ts), sink);
    }

    /// Insert the range `[s, e)` (offsets; `e > next_off`) of which `data` is the captured head.
    fn insert<S: StreamSink>(&mut self, ts: i64, s: i64, data: &[u8], e: u64, sink: &mut S) {
        let cap_end = s + data.len() as i64;
        let mut pos = s.max(self.next_off as i64) as u64;
        let mut inconsistent = false;
        while pos < e {
            // Already buffered at `pos`? Keep the first copy, compare the overlap.
            if let Some((&cs, chunk)) = self.ooo.range(..=pos).next_back() {
                let cend = cs + chunk.len();
                if cend > pos {
                    let end = cend.min(e);
                    if let Chunk::Data(old, _) = chunk {
                        let a = (pos as i64 - s).max(0) as usize;
                        let b = ((end as i64).min(cap_end) - s).max(0) as usize;
                        if a < b {
                            let new = data.get(a..b).unwrap_or(&[]);
                            let old = old
                                .get((pos - cs) as usize..(pos - cs) as usize + new.len())
                                .unwrap_or(&[]);
                            if old != new {
                                inconsistent = true;
                            }
                        }
                    }
                    pos = end;
                    continue;
                }
            }
            let next_start = self
                .ooo
                .range(pos + 1..)
                .next()
                .map_or(u64::MAX, |(&k, _)| k);
            let end = next_start.min(e);
            // Captured and missing parts of the new piece [pos, end).
            let piece = if (pos as i64) < cap_end {
                let d_end = (end as i64).min(cap_end);
                data.get((pos as i64 - s) as usize..(d_end - s) as usize)
                    .unwrap_or(&[])
            } else {
                &[][..]
            };
            let missing = (end - pos).saturating_sub(piece.len() as u64);
            self.note_new(ts, end - pos);
            // Would extending a `Missing` chunk that ends at `pos` take the missing part?
            let merge_missing = missing > 0
                && piece.is_empty()
                && matches!(
                    self.ooo.range(..pos).next_back(),
                    Some((&k, Chunk::Missing(n))) if k + n == pos
                );
            let cost = if piece.is_empty() {
                0
            } else {
                DATA_CHUNK_COST + piece.len()
            } + if missing > 0 && !merge_missing {
                CHUNK_COST
            } else {
                0
            };
            if pos != self.next_off && self.buffered + cost > self.limit {
                // Give up on every hole before `pos`.
                self.limit_hits += 1;
                self.skip_to(ts, pos, sink);
            }
            if pos == self.next_off {
                self.data(ts, piece, sink);
                self.gap(ts, missing, sink);
                self.set_next_off(end);
            } else {
                if !piece.is_empty() {
                    let mut v = match self.spare.pop() {
                        Some(v) if v.capacity() <= 2 * piece.len() + CHUNK_COST => v,
                        _ => Vec::with_capacity(piece.len()),
                    };
                    v.extend_from_slice(piece);
                    let chunk = Chunk::Data(v, ts);
                    self.buffered += chunk.cost();
                    self.ooo.insert(pos, chunk);
                }
                if missing > 0 {
                    let at = pos + piece.len() as u64;
                    let merged = match self.ooo.range_mut(..at).next_back() {
                        Some((&k, Chunk::Missing(n))) if k + *n == at => {
                            *n += missing;
                            true
                        }
                        _ => false,
                    };
                    if !merged {
                        let chunk = Chunk::Missing(missing);
                        self.buffered += chunk.cost();
                        self.ooo.insert(at, chunk);
                    }
                }
            }
            pos = end;
        }
        if inconsistent {
            self.inconsistent_overlaps += 1;
        }
    }

    /// Deliver buffered chunks that became contiguous; close at the FIN. `filled`: the time of
    /// the segment that made them contiguous by filling a hole (they are delivered then); `None`
    /// when a hole was given up (lost for good): each chunk keeps the capture time of the
    /// segment that carried it, not the time of the ACK, limit or end of tracking that gave the
    /// hole up (docs/tcp.md, "Delivery times").
    fn drain<S: StreamSink>(&mut self, filled: Option<i64>, sink: &mut S) {
        while let Some(entry) = self.ooo.first_entry() {
            let k = *entry.key();
            if k > self.next_off {
                break;
            }
            let chunk = entry.remove();
            let len = chunk.len();
            self.buffered = self.buffered.saturating_sub(chunk.cost());
            let skip = self.next_off - k;
            match chunk {
                Chunk::Data(mut v, own) => {
                    if let Some(tail) = v.get(skip as usize..) {
                        self.data(filled.unwrap_or(own), tail, sink);
                    }
                    if self.spare.len() < MAX_SPARE && v.capacity() <= MAX_SPARE_CAPACITY {
                        v.clear();
                        self.spare.push(v);
                    }
                }
                Chunk::Missing(n) => {
                    let ts = filled.unwrap_or(self.delivered_ts);
                    self.gap(ts, n.saturating_sub(skip), sink);
                }
            }
            if k + len > self.next_off {
                self.set_next_off(k + len);
            }
        }
        if let Some(f) = self.fin_off {
            if self.next_off >= f && !self.closed {
                self.closed = true;
                // A closed connection may stay in the flow table for minutes (its linger
                // time): keep none of its spare buffers.
                self.spare = Vec::new();
                sink.on_close(filled.unwrap_or(self.delivered_ts), self.dir);
            }
        }
    }

    /// The peer acknowledged `ack`: bytes of this direction before it that were never seen are
    /// declared lost (gap), then what became contiguous is delivered.
    pub(crate) fn on_peer_ack<S: StreamSink>(&mut self, ts: i64, ack: SeqNum, sink: &mut S) {
        let Some(next) = self.next else { return };
        if let Some(f) = self.fin_off {
            // The FIN takes the sequence number after the last byte.
            self.fin_acked |= self.off(next, ack) > f as i64;
        }
        if self.closed {
            return;
        }
        let mut a = self.off(next, ack);
        if let Some(f) = self.fin_off {
            a = a.min(f as i64);
        }
        while a > self.next_off as i64 {
            let first = self.ooo.keys().next().copied().unwrap_or(u64::MAX);
            let target = (a as u64).min(first);
            let gap = target.saturating_sub(self.next_off);
            let hole_ts = self.hole_ts(ts);
            self.gap(hole_ts, gap, sink);
            self.set_next_off(target);
            self.drain(None, sink);
            if self.closed {
                break;
            }
        }
    }

    /// Give up on the holes before offset `to` (no buffered chunk may straddle `to`).
    fn skip_to<S: StreamSink>(&mut self, ts: i64, to: u64, sink: &mut S) {
        while let Some(&first) = self.ooo.keys().next() {
            if first >= to {
                break;
            }
            if first > self.next_off {
                let gap = first - self.next_off;
                let hole_ts = self.hole_ts(ts);
                self.gap(hole_ts, gap, sink);
                self.set_next_off(first);
            }
            self.drain(None, sink);
        }
        if to > self.next_off {
            let gap = to - self.next_off;
            self.gap(ts, gap, sink);
            self.set_next_off(to);
        }
    }

    /// Give up on every hole: deliver all buffered chunks with gaps between them.
    pub(crate) fn flush<S: StreamSink>(&mut self, ts: i64, sink: &mut S) {
        while let Some(&first) = self.ooo.keys().next() {
            if first > self.next_off {
                let gap = first - self.next_off;
                let hole_ts = self.hole_ts(ts);
                self.gap(hole_ts, gap, sink);
                self.set_next_off(first);
            }
            self.drain(None, sink);
            if self.closed {
                break;
            }
        }
        // Release memory held by a closed or flushed stream.
        self.ooo.clear();
        self.buffered = 0;
    }

    /// End of the stream (RST or end of tracking): flush and close.
    pub(crate) fn finish<S: StreamSink>(&mut self, ts: i64, sink: &mut S) {
        if self.closed {
            return;
        }
        self.flush(ts, sink);
        if !self.closed {
            self.closed = true;
            sink.on_close(ts, self.dir);
        }
        self.spare = Vec::new();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Counts what the sink is given.
    #[derive(Default)]
    struct Count {
        data: u64,
        gaps: u64,
    }

    impl StreamSink for Count {
        fn on_data(&mut self, _: i64, _: Direction, b: &[u8]) {
            self.data += b.len() as u64;
        }
        fn on_gap(&mut self, _: i64, _: Direction, n: u64) {
            self.gaps += n;
        }
        fn on_close(&mut self, _: i64, _: Direction) {}
    }

    const LIMIT: usize = 64 * 1024;

    /// Segments every other `stride` bytes from `start` (a hole before each), `cap` bytes of
    /// each captured; returns the highest cost seen.
    fn flood(r: &mut Reassembler, sink: &mut Count, n: u32, len: u32, cap: usize) -> usize {
        let payload = vec![b'x'; len as usize];
        let mut peak = 0;
        for i in 0..n {
            // Out of order: a one-byte hole before each segment.
            let seq = SeqNum(1_001 + 1 + i * (len + 1));
            r.on_segment(i64::from(i), seq, &payload[..cap], len, false, sink);
            peak = peak.max(r.buffered_cost());
        }
        peak
    }

    fn started() -> Reassembler {
        let mut r = Reassembler::new(Direction::ClientToServer, LIMIT);
        r.start_at(SeqNum(1_001));
        r
    }

    #[test]
    fn snap_cut_segments_count_against_the_limit() {
        // Headers only (cut by the snap length): nothing captured, every chunk `Missing`.
        let mut r = started();
        let mut sink = Count::default();
        let peak = flood(&mut r, &mut sink, 20_000, 1_400, 0);
        assert!(peak <= LIMIT, "cost {peak} > limit {LIMIT}");
        assert!(r.buffered_chunks() <= LIMIT / CHUNK_COST);
        assert!(r.limit_hits > 0);
    }

    #[test]
    fn tiny_segments_count_their_bookkeeping() {
        let mut r = started();
        let mut sink = Count::default();
        let peak = flood(&mut r, &mut sink, 20_000, 1, 1);
        assert!(peak <= LIMIT, "cost {peak} > limit {LIMIT}");
        // Before, the limit counted payload bytes only: 20 000 one-byte chunks all stayed.
        assert!(r.buffered_chunks() <= LIMIT / DATA_CHUNK_COST);
        assert!(r.limit_hits > 0);
        r.finish(30_000, &mut sink);
        assert_eq!(sink.data, 20_000, "every byte delivered once");
        assert_eq!(r.buffered_cost(), 0);
    }

    #[test]
    fn adjacent_missing_chunks_merge() {
        // Contiguous snap-cut segments after one hole: one `Missing` chunk, not thousands.
        let mut r = started();
        let mut sink = Count::default();
        for i in 0..10_000u32 {
            r.on_segment(
                i64::from(i),
                SeqNum(1_002 + i * 1_400),
                &[],
                1_400,
                false,
                &mut sink,
            );
        }
        assert_eq!(r.buffered_chunks(), 1);
        assert_eq!(r.buffered_cost(), CHUNK_COST);
        assert_eq!(r.limit_hits, 0);
        // The hole filled: one gap for all of them.
        r.on_segment(20_000, SeqNum(1_001), b"a", 1, false, &mut sink);
        assert_eq!(sink.data, 1);
        assert_eq!(sink.gaps, 14_000_000);
        assert_eq!(r.buffered_cost(), 0);
    }

    #[test]
    fn cost_returns_to_zero_when_drained() {
        let mut r = started();
        let mut sink = Count::default();
        let peak = flood(&mut r, &mut sink, 100, 100, 60);
        assert!(peak > 0 && peak <= LIMIT);
        r.on_peer_ack(1_000, SeqNum(1_001 + 100 * 101), &mut sink);
        assert_eq!(r.buffered_cost(), 0);
        assert_eq!(sink.data, 100 * 60);
        assert_eq!(sink.gaps, 100 + 100 * 40);
    }
}
