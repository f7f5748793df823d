//! The pipeline on several threads: the capture read in chunks, every thread both decoding
//! chunks and tracking the connections of its own shards.
//!
//! ```text
//!            (one at a time, in order)   (any thread)     (one at a time, in order)  (thread w)
//! capture ──► scan chunk k ─────────────► decode chunk k ─► commit chunk k ─────────► lane w: track
//!             frames' places, summary,    frames → TCP      UDP/ICMP to the consumer,  the shards
//!             DSBs                        segments by lane  fragments reassembled      s ≡ w (mod T)
//! ```
//!
//! A chunk is at most [`CHUNK_FRAMES`] frames, and every multiple of it ends one, so the
//! pipeline's ticks fall between chunks. *Scanning* walks the container (the only part that
//! must be sequential: a record's place is known once the previous one is read) and counts
//! the frames in the summary; for a capture held in memory it only notes where each frame
//! is; for a stream, where it is in the reading window's buffer, which the chunk holds
//! (`Scanner::scan_stream`); for a merge it copies the frames. *Decoding* (the
//! link, IP and transport headers, the shard) is spread over all threads: each TCP
//! segment goes to the batch of the lane that owns its shard. *Committing*, in chunk order,
//! hands UDP and ICMP to the consumer and decodes the IP fragments, which need the one
//! reassembly pool in capture order (the decoding threads defer them,
//! [`Decoder::deferring`]); then each lane gets its batch. Each lane tracks its chunks in
//! order, so every tracker sees the same segments in the same order as with one thread, and
//! the output is the same for any thread count.
//!
//! Every thread runs the same loop: track the next chunk of its own lane if it is ready,
//! else scan and decode the next chunk (at most [`CHUNKS_AHEAD`] ahead of the slowest lane,
//! which bounds the memory in flight), else wait. No lock is held while a chunk is scanned,
//! decoded or tracked (the scanner and the committer have their own, taken by one thread at a
//! time).

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Condvar, Mutex, MutexGuard};

use super::{
    merged, next_general, progress_at_end, progress_in_place, Batch, Emit, General, Harvest,
    Outputs, Reader, UdpConsumer, HEARTBEAT_FRAMES, PROGRESS_EVERY, SHARDS,
};
use crate::capture::{
    prefetch, prefetch_write, Capture, CaptureError, Frame, InPlace, LinkType, Prescan, Prescans,
    SharedBytes, Walker,
};
use crate::decode::{DecodeLimits, DecodeProblem, DecodeStats, Decoder, Encapsulation, IcmpError};
use crate::flow::FlowKey;
use crate::packet::{IpPair, Transport, UdpDatagram};
use crate::proto::tls::{EmbeddedKeys, KeyLog};
use crate::summary::{CaptureSummary, SummaryBuilder};
use crate::tcp::{SinkFactory, TcpConfig, TcpTracker};

/// A lane hands what it finished to the collector every this many chunks (or sooner, at
/// [`EMIT_GROUPS`] groups): each emit wakes the collector, a third thread on two cores, which
/// then takes a core from a lane (a switch and its caches) once per emit.
const EMIT_CHUNKS: usize = 4;
/// ... or once it holds this many groups (a bound on what waits in the lane).
const EMIT_GROUPS: usize = 4096;

/// Most frames in a chunk; every multiple of it ends a chunk ([`HEARTBEAT_FRAMES`] is one).
pub(super) const CHUNK_FRAMES: u64 = 4096;
const _: () = assert!(HEARTBEAT_FRAMES.is_multiple_of(CHUNK_FRAMES));
/// Most bytes of frames copied into one chunk of a merge.
const CHUNK_BYTES: usize = 1 << 20;
/// Most bytes of frames in one chunk of a capture held in memory: the frames are not copied,
/// but the datagrams their IP fragments complete are (into the lanes' batches), so this bounds
/// those copies too (with the reassembly pool's own limits).
const CHUNK_BYTES_IN_PLACE: usize = 8 << 20;
/// Bytes of a mapped capture every lane is done with, unmapped at a time
/// ([`SharedBytes::release`]): the map's pages would otherwise stay in the process (its
/// resident memory grows with the file) until one thread unmaps them all at the end. The one
/// thread's reader (`read`) releases behind itself in the same steps.
pub(super) const RELEASE_STEP: usize = 32 << 20;
/// Chunks scanned ahead of the slowest lane. With the DNS queue's bound (three ticks of
/// inputs), committing never waits on a queue that only a waiting lane could drain: the
/// inputs queued span at most a tick plus `CHUNKS_AHEAD + 1` chunks.
const CHUNKS_AHEAD: u64 = 4;
/// Most bytes of a region a thread walks ahead of the scanner ([`Job::Prescan`]; about a
/// chunk's frames, at least `MIN_PRESCAN_REGION`): before tracking, up to the next chunk's
/// expected span past the chunk being scanned, and a span further when it would otherwise
/// wait (further ahead, the regions waiting for the scan held 50–70 MB more at the peak of a
/// SYN flood).
const PRESCAN_REGION: usize = 2 << 20;
/// The fewest bytes of a region, whatever the records' sizes.
const MIN_PRESCAN_REGION: usize = 64 << 10;

/// How many frames ahead decoding asks for a frame's headers.
const PREFETCH_FRAMES: usize = 8;

/// Where one frame of a chunk is, and what the container said about it.
#[derive(Debug, Clone, Copy)]
struct FrameRef {
    index: u64,
    ts_ns: i64,
    linktype: LinkType,
    interface: u32,
    orig_len: u32,
    /// Offset of its bytes in the chunk's bytes (the capture's, or the chunk's own copy).
    at: usize,
    len: usize,
}

impl FrameRef {
    /// `frame`, whose bytes are at `at` in the chunk's bytes.
    fn new(frame: &Frame<'_>, at: usize) -> FrameRef {
        FrameRef {
            index: frame.index,
            ts_ns: frame.ts_ns,
            linktype: frame.linktype,
            interface: frame.interface,
            orig_len: frame.orig_len,
            at,
            len: frame.data.len(),
        }
    }
}

/// A chunk's frames.
enum Frames {
    /// Noted one by one by the scan, numbered as in the capture.
    Noted(Vec<FrameRef>),
    /// A region walked ahead of the scan and taken whole: read from its records when asked
    /// (the walk writes no list of its frames: a frame is its record), numbered from `first`.
    Walked {
        pre: Prescan,
        first: u64,
        linktype: LinkType,
    },
}

impl Frames {
    fn len(&self) -> usize {
        match self {
            Frames::Noted(v) => v.len(),
            Frames::Walked { pre, .. } => pre.len(),
        }
    }

    /// The `pos`-th frame (`None` past the last).
    #[inline]
    fn get(&self, pos: usize) -> Option<FrameRef> {
        match self {
            Frames::Noted(v) => v.get(pos).copied(),
            Frames::Walked {
                pre,
                first,
                linktype,
            } => {
                let (at, caplen, orig_len, ts_ns) = pre.frame_at(pos)?;
                Some(FrameRef {
                    index: first.saturating_add(pos as u64),
                    ts_ns,
                    linktype: *linktype,
                    interface: 0,
                    orig_len,
                    at,
                    len: caplen as usize,
                })
            }
        }
    }

    /// The frames the scan noted (none for a walked region, which is never decoded again).
    fn noted(&self) -> &[FrameRef] {
        match self {
            Frames::Noted(v) => v,
            Frames::Walked { .. } => &[],
        }
    }

    /// The number of the last frame.
    fn last_index(&self) -> Option<u64> {
        self.get(self.len().checked_sub(1)?).map(|f| f.index)
    }
}

/// A chunk as the scanner read it.
struct Scanned {
    frames: Frames,
    /// The buffer its frames lie in, for a stream (the window's) or a merge (their copy); else
    /// they are in the capture's shared bytes.
    own: Option<Arc<Vec<u8>>>,
    /// Secrets of the DSBs met before its first frame (and after the previous chunk's last).
    secrets: Vec<Arc<KeyLog>>,
    /// Its frames decoded already: the chunk is a region walked ahead of the scan, taken whole
    /// (its frames are [`Frames::Walked`]; its segments and ICMP errors were numbered from 0
    /// and are renumbered by [`Decoding::finish`]).
    walked: Option<(Decoding, DecodeStats)>,
}

/// What must be handed on in capture order, once a chunk is decoded.
enum Event {
    /// A UDP datagram (its payload at `at..at + len` of the chunk's bytes; its time and frame
    /// number are its frame's).
    Udp {
        ip: IpPair,
        src_port: u16,
        dst_port: u16,
        at: usize,
        len: usize,
        payload_len: u32,
    },
    /// An ICMP error.
    Icmp(Box<IcmpError>),
    /// An encapsulation that stopped decoding (counted in order: the map keeps the first kinds).
    Encapsulation(Encapsulation),
    /// A frame holding an IP fragment, decoded at commit.
    Deferred,
}

/// A decoded chunk, waiting for its commit.
struct ChunkOut {
    scanned: Scanned,
    /// One batch per lane.
    batches: Vec<Batch>,
    /// (position in `scanned.frames`, event), in frame order.
    events: Vec<(usize, Event)>,
    /// Counters of the frames decoded (deferred ones excluded).
    stats: DecodeStats,
}

/// What a lane tracks for one chunk.
struct LaneItem {
    secrets: Vec<Arc<KeyLog>>,
    batch: Batch,
    /// Segments of reassembled fragments, copied (merged with `batch` by frame).
    extra: Batch,
}

/// The reading side, used by one thread at a time.
struct Scanner<'c, 'r, 'p> {
    capture: &'c mut Capture,
    reader: &'r mut Reader<'p>,
    summary: SummaryBuilder,
    whole: Option<SharedBytes>,
    /// DSBs read after the last frame of the previous chunk, for the next one.
    secrets: Vec<Arc<KeyLog>>,
    /// A stream's frame read into the next buffer, for the next chunk (which holds that buffer).
    carried: Option<(FrameRef, Arc<Vec<u8>>)>,
    /// Regions other threads walked ahead of the scan ([`Job::Prescan`]), not yet passed:
    /// their records (to take from wherever the scan stands at one), and the whole regions
    /// with their frames decoded (to take as a chunk when the scan stands at the first).
    prescans: Prescans,
    walked: VecDeque<Walked>,
    /// The batches of walked regions not taken whole (their decoding unused), for the spares.
    passed: Vec<Batch>,
    /// Frame lists for the spares: the empty ones a region taken whole replaced.
    passed_frames: Vec<Vec<FrameRef>>,
}

impl<'c, 'r, 'p> Scanner<'c, 'r, 'p> {
    fn new(
        capture: &'c mut Capture,
        reader: &'r mut Reader<'p>,
        whole: Option<SharedBytes>,
    ) -> Self {
        Scanner {
            capture,
            reader,
            summary: SummaryBuilder::default(),
            whole,
            secrets: Vec::new(),
            carried: None,
            prescans: Prescans::default(),
            walked: VecDeque::new(),
            passed: Vec::new(),
            passed_frames: Vec::new(),
        }
    }

    /// The next chunk; `None` at the end of the capture (or at damage).
    /// `frames`: an empty vector to fill; `buf`: one for a merge's bytes (both recycled, see
    /// [`Spares`]).
    fn scan(
        &mut self,
        mut frames: Vec<FrameRef>,
        buf: Vec<u8>,
    ) -> Result<Option<Scanned>, CaptureError> {
        if self.whole.is_none() && self.capture.stream_buffer().is_some() {
            return self.scan_stream(frames);
        }
        let progress = self.reader.config.progress.as_deref();
        // A merge's frames are copied into the chunk: room for the chunk's bytes and a frame
        // more from the start, so that the copy is not copied again as the vector grows.
        let mut own = self.whole.is_none().then(|| {
            let mut buf = buf;
            buf.clear();
            buf.reserve(SPARE_BUF);
            buf
        });
        let mut secrets = std::mem::take(&mut self.secrets);
        if secrets.is_empty() && frames.is_empty() {
            if let Some((dec, stats, walked)) = self.take_walked()? {
                self.passed_frames.push(frames);
                return Ok(Some(Scanned {
                    frames: walked,
                    own: None,
                    secrets,
                    walked: Some((dec, stats)),
                }));
            }
        }
        let mut in_chunk = frames.iter().map(|f| f.len).sum::<usize>();
        let per = self.chunk_frames();
        loop {
            // A capture in memory: its common records in a tight loop (the scan is the one
            // sequential part of the reading); any other record, the end and damage below.
            if let Some(whole) = &self.whole {
                let summary = &mut self.summary;
                let mut outside = false;
                // The chunk ends where a walked region starts, so that the next one is that
                // region, taken whole (`take_walked`).
                let walked_at = self.walked.front().map_or(usize::MAX, |w| w.pre.start());
                let read = self
                    .capture
                    .frames_in_place_with(Some(&mut self.prescans), |frame| {
                        let Some(at) = note_frame(progress, whole, summary, &mut frames, &frame)
                        else {
                            outside = true;
                            return false;
                        };
                        in_chunk += frame.data.len();
                        !((frame.index + 1).is_multiple_of(per)
                            || in_chunk >= CHUNK_BYTES_IN_PLACE
                            || at + frame.data.len() == walked_at)
                    });
                if outside {
                    return Err(outside_error());
                }
                if read == Some(InPlace::Stopped) {
                    break;
                }
            }
            let frame = match next_general(self.capture, self.reader)? {
                General::End => {
                    progress_at_end(self.capture, progress);
                    break;
                }
                General::Frame(frame) => frame,
                General::Keys(keys) => {
                    if self.place_keys(keys, frames.is_empty(), &mut secrets) {
                        continue;
                    }
                    break;
                }
            };
            self.summary.observe(&frame);
            let at = match (&mut own, &self.whole) {
                (Some(own), _) => {
                    own.extend_from_slice(frame.data);
                    own.len() - frame.data.len()
                }
                (None, Some(whole)) => whole.offset_of(frame.data).ok_or_else(outside_error)?,
                // Not met: `own` is made exactly when there are no shared bytes.
                (None, None) => 0,
            };
            frames.push(FrameRef::new(&frame, at));
            in_chunk += frame.data.len();
            let full = match &own {
                Some(own) => own.len() >= CHUNK_BYTES,
                None => in_chunk >= CHUNK_BYTES_IN_PLACE,
            };
            if (frame.index + 1).is_multiple_of(per) || full {
                break;
            }
        }
        Ok((!frames.is_empty()).then(|| Scanned {
            frames: Frames::Noted(frames),
            own: own.map(Arc::new),
            secrets,
            walked: None,
        }))
    }
}

impl Scanner<'_, '_, '_> {
    /// Keeps a region walked ahead, in the order of the regions' places.
    fn add_walked(&mut self, w: Walked) {
        let at = self
            .walked
            .partition_point(|v| v.pre.start() < w.pre.start());
        self.walked.insert(at, w);
    }

    /// The chunk made of the walked region that starts where the scan stands: its decoding,
    /// and its frames (its records, numbered from the number of the first), taken at once
    /// (`Capture::take_region`, its summary merged), so that the scan's part of a walked region
    /// does not grow with its frames. Regions the scan stands past the start of give only
    /// their records.
    fn take_walked(&mut self) -> Result<Option<(Decoding, DecodeStats, Frames)>, CaptureError> {
        let Some(at) = self.capture.reading_at() else {
            return Ok(None);
        };
        while self.walked.front().is_some_and(|w| w.pre.start() < at) {
            if let Some(w) = self.walked.pop_front() {
                self.prescans.add(w.pre);
                self.passed.extend(w.dec.batches);
            }
        }
        if self.walked.front().is_none_or(|w| w.pre.start() != at) {
            return Ok(None);
        }
        let Some(w) = self.walked.pop_front() else {
            return Ok(None);
        };
        if let Some(first) = self.capture.take_region(&w.pre) {
            self.summary
                .merge(&w.summary, w.pre.frame_at(0).map(|(.., ts)| ts));
            if let Some(p) = self.reader.config.progress.as_deref() {
                p.store(w.pre.end() as u64, Ordering::Relaxed);
            }
            let frames = Frames::Walked {
                pre: w.pre,
                first,
                linktype: w.linktype,
            };
            return Ok(Some((w.dec, w.stats, frames)));
        }
        // Not met (the reader stands at its first record): its records stay for the scan to
        // take one by one, its decoding goes back.
        self.prescans.add(w.pre);
        self.passed.extend(w.dec.batches);
        Ok(None)
    }

    /// A DSB's keys met while scanning a chunk: the chunk's own (`secrets`) while it has no
    /// frame yet, and scanning goes on (`true`); else they are for the frames after it, the
    /// next chunk's, and the chunk ends here (`false`).
    fn place_keys(
        &mut self,
        keys: Arc<KeyLog>,
        chunk_empty: bool,
        secrets: &mut Vec<Arc<KeyLog>>,
    ) -> bool {
        if chunk_empty {
            secrets.push(keys);
        } else {
            self.secrets.push(keys);
        }
        chunk_empty
    }

    /// Most frames in a chunk: the configured number, else [`CHUNK_FRAMES`].
    fn chunk_frames(&self) -> u64 {
        match self.reader.config.chunk_frames {
            0 => CHUNK_FRAMES,
            n => n,
        }
    }

    /// The next chunk of a single stream (a pipe, a compressed file, a file read rather than
    /// mapped): its frames stay where the stream read them, in the buffer of its window, which
    /// the chunk holds ([`Capture::stream_buffer`]), so they are not copied. The chunk ends
    /// where the stream reads on into another buffer (the one frame read there already is
    /// carried to the next chunk), at a multiple of the chunk's frames, or at
    /// `CHUNK_BYTES_IN_PLACE`.
    fn scan_stream(&mut self, mut frames: Vec<FrameRef>) -> Result<Option<Scanned>, CaptureError> {
        let progress = self.reader.config.progress.as_deref();
        let per = self.chunk_frames();
        let mut secrets = std::mem::take(&mut self.secrets);
        let mut held: Option<Arc<Vec<u8>>> = None;
        let mut in_chunk = 0usize;
        let full = |f: &FrameRef, in_chunk: usize| {
            (f.index + 1).is_multiple_of(per) || in_chunk >= CHUNK_BYTES_IN_PLACE
        };
        if let Some((f, buf)) = self.carried.take() {
            in_chunk += f.len;
            frames.push(f);
            held = Some(buf);
            if full(&f, in_chunk) {
                return Ok(Some(Scanned {
                    frames: Frames::Noted(frames),
                    own: held,
                    secrets,
                    walked: None,
                }));
            }
        }
        loop {
            // The common records already in the window, in a loop of their own.
            let Some((buf, base)) = self.capture.stream_buffer() else {
                return Err(outside_error());
            };
            if held.as_ref().is_some_and(|h| !Arc::ptr_eq(h, buf)) {
                // The stream moved to another buffer: the next chunk holds that one.
                break;
            }
            let (from, size) = (buf.as_ptr() as usize, buf.len());
            let summary = &mut self.summary;
            let mut outside = false;
            let read = self.capture.frames_in_place(|frame| {
                let Some(at) = place_in(from, size, frame.data.as_ptr() as usize, frame.data.len())
                else {
                    outside = true;
                    return false;
                };
                if frame.index.is_multiple_of(PROGRESS_EVERY) {
                    if let Some(p) = progress {
                        p.store(base.saturating_add(at as u64), Ordering::Relaxed);
                    }
                }
                summary.observe(&frame);
                let f = FrameRef::new(&frame, at);
                frames.push(f);
                in_chunk += f.len;
                !full(&f, in_chunk)
            });
            if outside {
                return Err(outside_error());
            }
            if held.is_none() && !frames.is_empty() {
                // The loop reads no more bytes: still the buffer its frames lie in.
                held = self.capture.stream_buffer().map(|(b, _)| Arc::clone(b));
            }
            if read == Some(InPlace::Stopped) {
                break;
            }
            // Any other record, the end or damage (reading on when the window ends in a record).
            let (f, addr) = match next_general(self.capture, self.reader)? {
                General::End => {
                    progress_at_end(self.capture, progress);
                    break;
                }
                General::Frame(frame) => {
                    self.summary.observe(&frame);
                    (FrameRef::new(&frame, 0), frame.data.as_ptr() as usize)
                }
                General::Keys(keys) => {
                    if self.place_keys(keys, frames.is_empty(), &mut secrets) {
                        continue;
                    }
                    break;
                }
            };
            let Some((cur, _)) = self.capture.stream_buffer() else {
                return Err(outside_error());
            };
            let at = place_in(cur.as_ptr() as usize, cur.len(), addr, f.len)
                .ok_or_else(outside_error)?;
            let f = FrameRef { at, ..f };
            match &held {
                Some(h) if !Arc::ptr_eq(h, cur) => {
                    self.carried = Some((f, Arc::clone(cur)));
                    break;
                }
                Some(_) => {}
                None => held = Some(Arc::clone(cur)),
            }
            frames.push(f);
            in_chunk += f.len;
            if full(&f, in_chunk) {
                break;
            }
        }
        Ok((!frames.is_empty()).then_some(Scanned {
            frames: Frames::Noted(frames),
            own: held,
            secrets,
            walked: None,
        }))
    }
}

/// Where the `len` bytes at address `addr` start in the `size` bytes at address `from`, when
/// they lie in them (an empty frame: at 0).
fn place_in(from: usize, size: usize, addr: usize, len: usize) -> Option<usize> {
    if len == 0 {
        return Some(0);
    }
    let start = addr.checked_sub(from)?;
    (start.checked_add(len)? <= size).then_some(start)
}

/// A frame the scan read in place, or a walk ahead of it: the progress counter, the summary,
/// and the frame noted in `frames` at its place in the capture's bytes (returned; `None` when
/// it is not in them).
fn note_frame(
    progress: Option<&AtomicU64>,
    whole: &SharedBytes,
    summary: &mut SummaryBuilder,
    frames: &mut Vec<FrameRef>,
    frame: &Frame<'_>,
) -> Option<usize> {
    progress_in_place(progress, whole, frame);
    summary.observe(frame);
    let at = whole.offset_of(frame.data)?;
    // A used list, last read by the thread that committed its chunk.
    prefetch_write(frames.as_ptr().wrapping_add(frames.len() + 4));
    frames.push(FrameRef::new(frame, at));
    Some(at)
}

fn outside_error() -> CaptureError {
    CaptureError::Io(std::io::Error::other(
        "a frame lies outside the capture's bytes",
    ))
}

fn frame_of<'b>(f: &FrameRef, bytes: &'b [u8]) -> Frame<'b> {
    Frame {
        index: f.index,
        ts_ns: f.ts_ns,
        linktype: f.linktype,
        interface: f.interface,
        data: bytes
            .get(f.at..f.at.saturating_add(f.len))
            .unwrap_or_default(),
        orig_len: f.orig_len,
    }
}

/// Where `part` starts in `base`, when it is a slice of it (compared by address).
pub(super) fn offset_in(base: &[u8], part: &[u8]) -> Option<usize> {
    let start = (part.as_ptr() as usize).checked_sub(base.as_ptr() as usize)?;
    (start.checked_add(part.len())? <= base.len()).then_some(start)
}

/// A chunk's decoding: TCP segments into the batches of their lanes, the rest into events
/// for the commit; `done` frames so far (in order).
struct Decoding {
    batches: Vec<Batch>,
    /// (position in the chunk's frames, event), in frame order.
    events: Vec<(usize, Event)>,
    /// (lane, tracker within the lane) of each shard, without a division per segment.
    place: [(u8, u8); SHARDS],
    done: usize,
}

impl Decoding {
    fn new(batches: Vec<Batch>) -> Decoding {
        let lanes = batches.len().max(1);
        let mut place = [(0u8, 0u8); SHARDS];
        for (shard, p) in place.iter_mut().enumerate() {
            // Below SHARDS (64): fits in a byte.
            *p = ((shard % lanes) as u8, (shard / lanes) as u8);
        }
        Decoding {
            batches,
            events: Vec::new(),
            place,
            done: 0,
        }
    }

    /// Decodes the chunk's next frame (the `done`-th), whose bytes lie in `bytes` (those its
    /// segments' payloads are read from in place).
    #[inline]
    fn frame(&mut self, frame: &Frame<'_>, bytes: &[u8], decoder: &mut Decoder) {
        let pos = self.done;
        self.done += 1;
        let decoded = decoder.decode(frame);
        if decoded.deferred {
            self.events.push((pos, Event::Deferred));
            return;
        }
        let encapsulation = decoded.problem == Some(DecodeProblem::UndecodedEncapsulation);
        if let Some(e) = decoded.icmp_error {
            self.events.push((pos, Event::Icmp(e)));
        }
        match decoded.transport {
            Some(Transport::Tcp(seg)) => {
                let shard = FlowKey::shard_for(&seg.ip, seg.src_port, seg.dst_port, SHARDS);
                let (lane, local) = self.place[shard];
                if let Some(batch) = self.batches.get_mut(usize::from(lane)) {
                    batch.push(&seg, usize::from(local), Some(bytes));
                }
            }
            Some(Transport::Udp(d)) => self.events.push((
                pos,
                Event::Udp {
                    ip: d.ip,
                    src_port: d.src_port,
                    dst_port: d.dst_port,
                    at: offset_in(bytes, d.payload).unwrap_or(0),
                    len: d.payload.len(),
                    payload_len: d.payload_len,
                },
            )),
            None => {}
        }
        if encapsulation {
            if let Some(e) = decoder.take_encapsulation() {
                self.events.push((pos, Event::Encapsulation(e)));
            }
        }
    }

    /// The chunk's output, its frames numbered by `scanned`'s (the batches' segments and the
    /// ICMP errors were numbered from 0 when the chunk was a region walked ahead of the scan).
    fn finish(
        mut self,
        scanned: Scanned,
        stats: DecodeStats,
        upto: u64,
        renumber: bool,
    ) -> ChunkOut {
        let base = scanned.frames.get(0).map_or(0, |f| f.index);
        for b in &mut self.batches {
            b.src = scanned.own.clone();
            b.upto = upto;
            if renumber {
                b.frame_base = base;
            }
        }
        if renumber {
            for (pos, e) in &mut self.events {
                if let (Event::Icmp(e), Some(f)) = (e, scanned.frames.get(*pos)) {
                    e.frame = f.index;
                }
            }
        }
        ChunkOut {
            scanned,
            batches: self.batches,
            events: self.events,
            stats,
        }
    }
}

/// Decodes a scanned chunk (any thread: the one that scanned it); its output for the commit.
fn decode_chunk(
    scanned: Scanned,
    whole: &[u8],
    decoder: &mut Decoder,
    batches: Vec<Batch>,
    upto: u64,
) -> ChunkOut {
    let bytes: &[u8] = scanned.own.as_deref().map_or(whole, Vec::as_slice);
    let mut dec = Decoding::new(batches);
    let frames = scanned.frames.noted();
    for (pos, f) in frames.iter().enumerate() {
        // The headers of a frame a few on: scanning touched its first cache line a while ago
        // (a chunk ago), the headers often run into the second.
        if let Some(ahead) = frames.get(pos + PREFETCH_FRAMES) {
            if let Some(head) = bytes.get(ahead.at..) {
                prefetch(head);
                if let Some(next) = head.get(64..) {
                    prefetch(next);
                }
            }
        }
        dec.frame(&frame_of(f, bytes), bytes, decoder);
    }
    let stats = decoder.take_stats();
    dec.finish(scanned, stats, upto, false)
}

/// A region walked ahead of the scan ([`Job::Prescan`]), its frames decoded as they were
/// walked (numbered from 0).
struct Walked {
    /// Its records: where its frames are.
    pre: Prescan,
    dec: Decoding,
    stats: DecodeStats,
    /// Its frames' link type (the capture's).
    linktype: LinkType,
    /// Its frames counted.
    summary: SummaryBuilder,
}

/// Walks the region `(from, to, most records)` of `bytes` ahead of the scan
/// ([`Job::Prescan`]): its frames decoded into `batches` as they are walked, while their
/// headers are in this core's cache, and counted, for the scan to take at once
/// (`Scanner::take_walked`; the frames are then read from the region's records).
fn walk_region(
    walker: &Walker,
    bytes: &SharedBytes,
    (from, to, most): (usize, usize, usize),
    batches: Vec<Batch>,
    decoder: &mut Decoder,
) -> Walked {
    let mut dec = Decoding::new(batches);
    let mut summary = SummaryBuilder::default();
    let pre = walker.prescan_with(bytes, from, to, most, |f| {
        summary.observe(&f);
        dec.frame(&f, bytes.as_slice(), decoder);
    });
    let stats = decoder.take_stats();
    Walked {
        pre,
        dec,
        stats,
        linktype: walker.linktype(),
        summary,
    }
}

/// The in-order side of the chunks, used by one thread at a time.
struct Committer<'u, U> {
    udp: &'u mut U,
    /// Decodes the deferred fragments in capture order; holds every chunk's counters.
    decoder: Decoder,
}

impl<U: UdpConsumer> Committer<'_, U> {
    /// Hands the chunk's events on in order; returns each lane's segments of reassembled
    /// datagrams.
    fn commit(&mut self, chunk: &ChunkOut, whole: &[u8], lanes: usize) -> Vec<Batch> {
        let bytes: &[u8] = chunk.scanned.own.as_deref().map_or(whole, Vec::as_slice);
        let frames = &chunk.scanned.frames;
        // The DSBs met before the chunk's first frame.
        for s in &chunk.scanned.secrets {
            self.udp.on_secrets(s);
        }
        let mut extra: Vec<Batch> = (0..lanes).map(|_| Batch::default()).collect();
        self.decoder.add_counts(&chunk.stats);
        // The frames before `next` were seen by the pool (see `Decoder::pass_time`).
        let mut next = 0usize;
        for (pos, event) in &chunk.events {
            let pos = *pos;
            // The pool sees the time of every frame up to this one (a deferred frame's own
            // decoding does it for that frame).
            let upto = if matches!(event, Event::Deferred) {
                pos
            } else {
                pos + 1
            };
            if upto > next {
                self.pass_time(frames, next..upto);
            }
            next = next.max(pos + 1);
            let Some(f) = frames.get(pos) else {
                continue;
            };
            match event {
                Event::Udp {
                    ip,
                    src_port,
                    dst_port,
                    at,
                    len,
                    payload_len,
                } => self.udp.on_udp(&UdpDatagram {
                    ts_ns: f.ts_ns,
                    frame: f.index,
                    ip: *ip,
                    src_port: *src_port,
                    dst_port: *dst_port,
                    payload: bytes.get(*at..at.saturating_add(*len)).unwrap_or_default(),
                    payload_len: *payload_len,
                }),
                Event::Icmp(e) => self.udp.on_icmp_error(e),
                Event::Encapsulation(e) => self.decoder.add_encapsulation(*e),
                Event::Deferred => {
                    let frame = frame_of(&f, bytes);
                    let decoded = self.decoder.decode(&frame);
                    if let Some(e) = &decoded.icmp_error {
                        self.udp.on_icmp_error(e);
                    }
                    match decoded.transport {
                        Some(Transport::Tcp(seg)) => {
                            let shard =
                                FlowKey::shard_for(&seg.ip, seg.src_port, seg.dst_port, SHARDS);
                            if let Some(batch) = extra.get_mut(shard % lanes) {
                                batch.push(&seg, shard / lanes, None);
                            }
                        }
                        Some(Transport::Udp(d)) => self.udp.on_udp(&d),
                        None => {}
                    }
                }
            }
        }
        self.pass_time(frames, next..frames.len());
        // The chunk's DNS goes before any of its segments is tracked.
        self.udp.flush();
        extra
    }

    fn pass_time(&mut self, frames: &Frames, range: std::ops::Range<usize>) {
        if self.decoder.pending_fragments() > 0 {
            for f in range.filter_map(|pos| frames.get(pos)) {
                self.decoder.pass_time(f.ts_ns);
            }
        }
    }
}

/// What the threads share, under one lock held only to take or hand over work.
struct State {
    /// A thread is scanning.
    scanning: bool,
    /// Chunks scanned so far (the next chunk's number).
    scanned: u64,
    /// The scanner met the end (or damage, or an error).
    scan_done: bool,
    /// Capture time of the last frame, once `scan_done`.
    end_ts: i64,
    /// Decoded chunks waiting for their commit, by number.
    decoded: BTreeMap<u64, ChunkOut>,
    committing: bool,
    /// Chunks committed so far.
    committed: u64,
    /// Each lane's committed chunks, in order.
    queues: Vec<VecDeque<LaneItem>>,
    /// Chunks each lane has tracked.
    tracked: Vec<u64>,
    /// Reading failed or a thread panicked: every thread stops.
    failed: bool,
    error: Option<CaptureError>,
    /// Threads waiting for a change (notified only when some are).
    waiting: usize,
    /// Bytes of a mapped capture read by the scanner.
    scan_at: usize,
    /// Bytes the last chunk spanned in a capture in memory, and per record.
    chunk_span: usize,
    record_bytes: usize,
    /// Where the next region to walk ahead of the scanner starts, and the regions walked and
    /// not yet handed to it.
    prescan_next: usize,
    prescans: Vec<Walked>,
    /// (chunk, offset in a mapped capture where the scanner stood after it), for the chunks
    /// not yet tracked by every lane.
    chunk_ends: VecDeque<(u64, usize)>,
    /// Bytes of a mapped capture unmapped so far (every lane tracked their chunks).
    released: usize,
    /// Bytes released at a time: [`RELEASE_STEP`], or one byte (as often as can be) when
    /// tests read in tiny chunks (`chunk_frames`).
    release_step: usize,
    spares: Spares,
}

/// Emptied frame lists and batches, used again: a chunk's are a few hundred KB, and
/// allocating them afresh costs page faults and the allocator's consolidations.
#[derive(Default)]
struct Spares {
    frames: Vec<Vec<FrameRef>>,
    batches: Vec<Batch>,
    /// A merge's chunk buffers (a fresh one would be mapped and faulted in, 1 MiB a chunk).
    bufs: Vec<Vec<u8>>,
}

/// Most spare frame lists and batches kept (per lane for batches).
const SPARES: usize = CHUNKS_AHEAD as usize + 2;
/// The largest merge chunk buffer kept for reuse: the room a chunk reserves (`Scanner::scan`).
const SPARE_BUF: usize = CHUNK_BYTES + (64 << 10);

/// The bytes of a mapped capture every lane is done with (`tracked`: chunks each lane has
/// tracked; `chunk_ends`: where each chunk not yet tracked by all of them ends), past those
/// `released` so far, once they reach `step`; marked released.
fn releasable(
    tracked: &[u64],
    chunk_ends: &mut VecDeque<(u64, usize)>,
    released: &mut usize,
    step: usize,
) -> Option<(usize, usize)> {
    let slowest = tracked.iter().copied().min().unwrap_or(0);
    let mut done = None;
    while let Some(&(chunk, end)) = chunk_ends.front() {
        if chunk >= slowest {
            break;
        }
        done = Some((chunk, end));
        chunk_ends.pop_front();
    }
    let (chunk, to) = done?;
    if to < released.saturating_add(step) {
        // Not yet a step: kept for the next time.
        chunk_ends.push_front((chunk, to));
        return None;
    }
    let from = std::mem::replace(released, to);
    Some((from, to))
}

impl Spares {
    fn frames(&mut self) -> Vec<FrameRef> {
        self.frames
            .pop()
            .unwrap_or_else(|| Vec::with_capacity(CHUNK_FRAMES as usize))
    }

    fn batches(&mut self, lanes: usize) -> Vec<Batch> {
        (0..lanes)
            .map(|_| self.batches.pop().unwrap_or_default())
            .collect()
    }

    fn give_frames(&mut self, mut frames: Vec<FrameRef>) {
        // Besides the chunks', the lists of the regions walked ahead (a couple) and the empty
        // ones their chunks replaced.
        if self.frames.len() < SPARES + 4 {
            frames.clear();
            self.frames.push(frames);
        }
    }

    fn buf(&mut self) -> Vec<u8> {
        self.bufs.pop().unwrap_or_default()
    }

    fn give_batch(&mut self, mut batch: Batch, lanes: usize) {
        // The last lane done with a merge's chunk gets its buffer back, unless a large frame
        // grew it (a stream's buffers go back to the stream; here only one it did not keep,
        // a grown one among them, which is not kept here either).
        if let Some(buf) = batch.src.take().and_then(|b| Arc::try_unwrap(b).ok()) {
            if self.bufs.len() < SPARES && buf.capacity() <= SPARE_BUF {
                self.bufs.push(buf);
            }
        }
        // An `extra` batch is almost always empty, never allocated: not worth keeping.
        if batch.segs.capacity() > 0 && self.batches.len() < SPARES * lanes {
            batch.clear();
            self.batches.push(batch);
        }
    }
}

impl State {
    /// Wakes the waiting threads, if any, after a change (`st` is dropped first).
    fn changed(st: MutexGuard<'_, State>, cv: &Condvar) {
        let wake = st.waiting > 0;
        drop(st);
        if wake {
            cv.notify_all();
        }
    }
}

/// How regions are walked ahead of the scanner ([`Job::Prescan`]).
struct Walk {
    walker: Walker,
    bytes: SharedBytes,
    /// Most bytes of a region (all of them when `fixed`), and most records: a chunk's frames.
    region: usize,
    fixed: bool,
    frames: usize,
}

struct Shared<'a, 'c, 'r, 'p, U> {
    /// For walking regions ahead of the scanner: a legacy pcap capture in memory
    /// ([`Capture::walker`]).
    walk: Option<Walk>,
    state: Mutex<State>,
    changed: Condvar,
    scanner: Mutex<Scanner<'c, 'r, 'p>>,
    committer: Mutex<Committer<'a, U>>,
}

impl<U> Shared<'_, '_, '_, '_, U> {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A panicking thread marks the state failed ([`FailOnPanic`]); the others stop.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Marks the shared state failed when its thread unwinds, so that no other thread waits for
/// it forever (the scope then re-raises the panic).
struct FailOnPanic<'s> {
    state: &'s Mutex<State>,
    changed: &'s Condvar,
}

impl Drop for FailOnPanic<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let mut st = self
                .state
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            st.failed = true;
            drop(st);
            self.changed.notify_all();
        }
    }
}

/// The next thing a thread does.
enum Job {
    Track(LaneItem),
    /// With an empty frame list and a batch per lane to fill.
    /// ... and the regions walked ahead of it since the last scan.
    Scan(Vec<FrameRef>, Vec<Batch>, Vec<u8>, Vec<Walked>),
    /// Walk the region from this offset ahead of the scanner and decode its frames into these
    /// batches, while their headers are in this core's cache; the scanner then takes the region
    /// whole as a chunk, or its records from wherever it stands at one (the scan, one thread
    /// at a time, waits mostly on memory for each record's header; done this way the scan and
    /// the decoding run on every thread).
    Prescan(usize, usize, Vec<Batch>),
    Finish(i64),
    Stop,
}

pub(super) fn run_parallel<F, M, U, H, C>(
    capture: &mut Capture,
    reader: &mut Reader<'_>,
    tcp_cfg: &TcpConfig,
    make_factory: &M,
    udp: &mut U,
    threads: usize,
    stream: Option<(&H, C)>,
) -> Result<(CaptureSummary, Outputs<F>), CaptureError>
where
    F: SinkFactory + Send,
    M: Fn(usize, &EmbeddedKeys) -> F + Sync,
    U: UdpConsumer + Send,
    H: Harvest<F>,
    C: FnMut(u64, Option<H::Group>) + Send,
{
    let lanes = threads.clamp(1, SHARDS);
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(lanes - 1)
        .thread_name(|i| format!("pcapstat-lane-{}", i + 1))
        .build()
        .map_err(|e| CaptureError::Io(std::io::Error::other(e)))?;
    let (harvest, collect) = match stream {
        Some((h, c)) => (Some(h), Some(c)),
        None => (None, None),
    };
    let whole = capture.shared_bytes();
    let whole_bytes: &[u8] = whole.as_ref().map_or(&[], SharedBytes::as_slice);
    // A mapped file's pages are unmapped behind the lanes (`releasable`).
    let mapped = whole.as_ref().filter(|w| w.is_mapped());
    let decode_limits = reader.config.decode;
    let release_step = match reader.config.chunk_frames {
        0 => RELEASE_STEP,
        _ => 1,
    };
    let (out_tx, out_rx) = mpsc::channel::<Outputs<F>>();
    // Emits waiting for the collector: about 4 chunks a lane and 4 more, as when a lane sent
    // one a chunk (each now holds up to EMIT_CHUNKS chunks' groups: a SYN flood, whose
    // collector is the slowest part, kept 4 times as many records waiting).
    let (emit_tx, emit_rx) =
        mpsc::sync_channel::<Emit<H::Group>>(((4 * lanes + 4) / EMIT_CHUNKS).max(1));
    let per_chunk = match reader.config.chunk_frames {
        0 => CHUNK_FRAMES,
        n => n,
    };
    let walk = capture
        .walker()
        .zip(whole.clone())
        .map(|(walker, bytes)| Walk {
            walker,
            bytes,
            // Tests (a chunk size set): regions of 4 KiB, whatever their frames.
            region: match reader.config.chunk_frames {
                0 => PRESCAN_REGION,
                _ => 4096,
            },
            fixed: reader.config.chunk_frames != 0,
            frames: usize::try_from(per_chunk).unwrap_or(usize::MAX),
        });
    let shared = Shared {
        walk,
        state: Mutex::new(State {
            scanning: false,
            scanned: 0,
            scan_done: false,
            end_ts: 0,
            decoded: BTreeMap::new(),
            committing: false,
            committed: 0,
            queues: (0..lanes).map(|_| VecDeque::new()).collect(),
            tracked: vec![0; lanes],
            failed: false,
            error: None,
            waiting: 0,
            scan_at: 0,
            chunk_span: 0,
            record_bytes: 0,
            prescan_next: 0,
            prescans: Vec::new(),
            chunk_ends: VecDeque::new(),
            released: 0,
            release_step,
            spares: Spares::default(),
        }),
        changed: Condvar::new(),
        scanner: Mutex::new(Scanner::new(capture, reader, whole.clone())),
        committer: Mutex::new(Committer {
            udp,
            decoder: Decoder::new(decode_limits),
        }),
    };
    let done = AtomicBool::new(false);
    std::thread::scope(|threads| {
        let collector = collect
            .map(|collect| threads.spawn(move || super::collect_in_order(emit_rx, lanes, collect)));
        let shared = &shared;
        let run_lane = |w, out_tx: &mpsc::Sender<Outputs<F>>, emit_tx: &_| {
            lane(
                shared,
                w,
                lanes,
                whole_bytes,
                mapped,
                decode_limits,
                tcp_cfg,
                make_factory,
                harvest,
                out_tx,
                emit_tx,
            );
        };
        pool.in_place_scope(|scope| {
            for w in 1..lanes {
                let (out_tx, emit_tx) = (out_tx.clone(), emit_tx.clone());
                scope.spawn(move |_| run_lane(w, &out_tx, &emit_tx));
            }
            run_lane(0, &out_tx, &emit_tx);
            drop(emit_tx);
        });
        done.store(true, Ordering::Relaxed);
        if let Some(collector) = collector {
            if let Err(panic) = collector.join() {
                std::panic::resume_unwind(panic);
            }
        }
    });
    drop(out_tx);
    let state = shared
        .state
        .into_inner()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some(e) = state.error {
        return Err(e);
    }
    let scanner = shared
        .scanner
        .into_inner()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let committer = shared
        .committer
        .into_inner()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let summary = scanner
        .summary
        .finish(scanner.capture, committer.decoder.stats().clone());
    let outputs = out_rx.into_iter().flatten().collect();
    Ok((summary, outputs))
}

/// One thread's loop: lane `w`'s trackers, and whatever scanning, decoding and committing is
/// due.
#[allow(clippy::too_many_arguments)]
fn lane<F, M, U, H>(
    shared: &Shared<'_, '_, '_, '_, U>,
    w: usize,
    lanes: usize,
    whole: &[u8],
    mapped: Option<&SharedBytes>,
    limits: DecodeLimits,
    tcp_cfg: &TcpConfig,
    make_factory: &M,
    harvest: Option<&H>,
    out_tx: &mpsc::Sender<Outputs<F>>,
    emit_tx: &mpsc::SyncSender<Emit<H::Group>>,
) where
    F: SinkFactory,
    M: Fn(usize, &EmbeddedKeys) -> F,
    U: UdpConsumer,
    H: Harvest<F>,
{
    let _guard = FailOnPanic {
        state: &shared.state,
        changed: &shared.changed,
    };
    let shards: Vec<usize> = (w..SHARDS).step_by(lanes).collect();
    let keys = EmbeddedKeys::default();
    let mut trackers: Vec<TcpTracker<F>> = shards
        .iter()
        .map(|&s| TcpTracker::with_sinks(tcp_cfg.clone(), make_factory(s, &keys)))
        .collect();
    let mut decoder = Decoder::deferring(limits);
    let mut groups = Vec::new();
    // Chunks tracked since the last emit, and the frames they covered.
    let mut unsent = 0usize;
    let mut tracked_upto = 0u64;
    loop {
        let job = {
            let mut st = shared.lock();
            loop {
                if st.failed {
                    break Job::Stop;
                }
                // The regions of the next chunk's span are walked (and decoded) before a lane's
                // chunk is tracked, so that the scan finds them walked: it then only takes
                // them (docs/tcp.md, "Parallelism").
                let span = st.chunk_span;
                if let Some(from) = prescan_due(shared, &mut st, span) {
                    break Job::Prescan(from.0, from.1, st.spares.batches(lanes));
                }
                if let Some(item) = st.queues[w].pop_front() {
                    break Job::Track(item);
                }
                if st.scan_done && st.committed == st.scanned && st.decoded.is_empty() {
                    break Job::Finish(st.end_ts);
                }
                let slowest = st.tracked.iter().copied().min().unwrap_or(0);
                if !st.scanning && !st.scan_done && st.scanned < slowest + CHUNKS_AHEAD {
                    st.scanning = true;
                    let frames = st.spares.frames();
                    let batches = st.spares.batches(lanes);
                    let buf = st.spares.buf();
                    let pre = std::mem::take(&mut st.prescans);
                    break Job::Scan(frames, batches, buf, pre);
                }
                // A thread that would wait walks one chunk's span further.
                let span = st.chunk_span.saturating_mul(2);
                if let Some(from) = prescan_due(shared, &mut st, span) {
                    break Job::Prescan(from.0, from.1, st.spares.batches(lanes));
                }
                st.waiting += 1;
                st = shared
                    .changed
                    .wait(st)
                    .unwrap_or_else(|poisoned| poisoned.into_inner());
                st.waiting -= 1;
            }
        };
        match job {
            Job::Stop => return,
            Job::Prescan(from, to, batches) => {
                // Handed out only with a walk (`prescan_due`).
                if let Some(walk) = &shared.walk {
                    let walked = walk_region(
                        &walk.walker,
                        &walk.bytes,
                        (from, to, walk.frames),
                        batches,
                        &mut decoder,
                    );
                    let mut st = shared.lock();
                    if walked.pre.end() > st.scan_at {
                        st.prescans.push(walked);
                    } else {
                        // The scan passed it meanwhile: its batches back to the spares, as
                        // those of a region it passes later (`Scanner::passed`).
                        for b in walked.dec.batches {
                            st.spares.give_batch(b, lanes);
                        }
                    }
                }
            }
            Job::Finish(end) => {
                if harvest.is_some() && unsent > 0 {
                    // What the last chunks finished, before the lane's end.
                    let _ = emit_tx.send(Emit {
                        worker: w,
                        upto: tracked_upto,
                        groups: std::mem::take(&mut groups),
                    });
                }
                let out = shards
                    .into_iter()
                    .zip(trackers)
                    .map(|(s, t)| (s, t.finish(end)))
                    .collect();
                let _ = out_tx.send(out);
                return;
            }
            Job::Track(item) => {
                for dsb in &item.secrets {
                    keys.add(dsb);
                }
                let upto = item.batch.upto;
                let mut track =
                    |local: usize, key: FlowKey, seg: &crate::packet::TcpSegment<'_>| {
                        if let Some(t) = trackers.get_mut(local) {
                            t.on_segment_keyed(seg, key);
                            if let Some(h) = harvest.filter(|_| t.has_finished()) {
                                let (closed, factory) = t.take_finished();
                                groups.push((seg.frame, h.harvest(closed, factory)));
                            }
                        }
                    };
                if item.extra.segs.is_empty() {
                    // Almost always (no IP datagram reassembled): the batch alone, in a plain
                    // loop (the merge's chained iterators cost a few branches a segment).
                    for (local, key, seg) in item.batch.segments(whole) {
                        track(local, key, &seg);
                    }
                } else {
                    for (local, key, seg) in merged(&item.batch, &item.extra, whole) {
                        track(local, key, &seg);
                    }
                }
                let LaneItem { batch, extra, .. } = item;
                unsent += 1;
                if harvest.is_some() && (unsent >= EMIT_CHUNKS || groups.len() >= EMIT_GROUPS) {
                    unsent = 0;
                    let groups = std::mem::take(&mut groups);
                    let _ = emit_tx.send(Emit {
                        worker: w,
                        upto,
                        groups,
                    });
                }
                tracked_upto = upto;
                let mut st = shared.lock();
                st.tracked[w] += 1;
                st.spares.give_batch(batch, lanes);
                st.spares.give_batch(extra, lanes);
                let release = mapped.and_then(|_| {
                    let st = &mut *st;
                    releasable(
                        &st.tracked,
                        &mut st.chunk_ends,
                        &mut st.released,
                        st.release_step,
                    )
                });
                State::changed(st, &shared.changed);
                if let (Some(m), Some((from, to))) = (mapped, release) {
                    m.release(from, to - from);
                }
            }
            Job::Scan(frames, batches, buf, pre) => {
                let scanned = {
                    let mut scanner = shared
                        .scanner
                        .lock()
                        .unwrap_or_else(|poisoned| poisoned.into_inner());
                    for w in pre {
                        scanner.add_walked(w);
                    }
                    let scanned = scanner.scan(frames, buf);
                    let end_ts = scanner.summary.last_ts().unwrap_or(0);
                    let frames = scanner.capture.frames_read();
                    let at = usize::try_from(scanner.capture.offset()).unwrap_or(usize::MAX);
                    let passed = std::mem::take(&mut scanner.passed);
                    let passed_frames = std::mem::take(&mut scanner.passed_frames);
                    (scanned, end_ts, frames, at, (passed, passed_frames))
                };
                let (scanned, end_ts, frames_read, scan_at, (passed, passed_frames)) = scanned;
                let (seq, chunk) = {
                    let mut st = shared.lock();
                    st.scanning = false;
                    for b in passed {
                        st.spares.give_batch(b, lanes);
                    }
                    for f in passed_frames {
                        st.spares.give_frames(f);
                    }
                    st.chunk_span = scan_at.saturating_sub(st.scan_at);
                    if let Ok(Some(chunk)) = &scanned {
                        st.record_bytes = st.chunk_span / chunk.frames.len().max(1);
                    }
                    st.scan_at = scan_at;
                    let seq = st.scanned;
                    let chunk = match scanned {
                        Ok(Some(chunk)) => {
                            if mapped.is_some() {
                                st.chunk_ends.push_back((seq, scan_at));
                            }
                            st.scanned += 1;
                            Some(chunk)
                        }
                        Ok(None) => {
                            st.scan_done = true;
                            st.end_ts = end_ts;
                            None
                        }
                        Err(e) => {
                            st.scan_done = true;
                            st.failed = true;
                            st.error = Some(e);
                            None
                        }
                    };
                    State::changed(st, &shared.changed);
                    (seq, chunk)
                };
                let Some(mut chunk) = chunk else {
                    continue;
                };
                let walked = chunk.walked.take();
                // The frames below the chunk's end were all read.
                let upto = chunk
                    .frames
                    .last_index()
                    .map_or(frames_read, |i| i.saturating_add(1));
                let (out, unused) = match walked {
                    Some((dec, stats)) => (dec.finish(chunk, stats, upto, true), batches),
                    None => (
                        decode_chunk(chunk, whole, &mut decoder, batches, upto),
                        Vec::new(),
                    ),
                };
                let mut st = shared.lock();
                for b in unused {
                    st.spares.give_batch(b, lanes);
                }
                st.decoded.insert(seq, out);
                commit_ready(shared, st, whole, lanes);
            }
        }
    }
}

/// The start of the next region to walk ahead of the scanner, if it starts less than `ahead`
/// bytes (at least a region, and the last chunk's span) past where the chunk being scanned
/// (or the next) is expected to end; marked handed out. Only a legacy pcap capture in memory.
fn prescan_due<U>(
    shared: &Shared<'_, '_, '_, '_, U>,
    st: &mut State,
    ahead: usize,
) -> Option<(usize, usize)> {
    let walk = shared.walk.as_ref()?;
    if st.scan_done {
        return None;
    }
    // About a chunk's frames (a region is a chunk when the scan takes it whole), at most
    // `walk.region` bytes.
    let region = match (walk.fixed, st.record_bytes) {
        (true, _) | (false, 0) => walk.region,
        (false, n) => walk
            .region
            .min(n.saturating_mul(walk.frames).max(MIN_PRESCAN_REGION)),
    };
    let next_chunk = st.scan_at.saturating_add(st.chunk_span);
    let from = st.prescan_next.max(next_chunk);
    let upto = walk
        .bytes
        .as_slice()
        .len()
        .min(next_chunk.saturating_add(ahead.max(region).max(st.chunk_span)));
    (from < upto).then(|| {
        st.prescan_next = from.saturating_add(region);
        (from, st.prescan_next)
    })
}

/// Commits the decoded chunks that are next in order, unless another thread is committing
/// (it will take them).
fn commit_ready<'s, U: UdpConsumer>(
    shared: &'s Shared<'_, '_, '_, '_, U>,
    mut st: MutexGuard<'s, State>,
    whole: &[u8],
    lanes: usize,
) {
    while !st.committing {
        let next = st.committed;
        let Some(chunk) = st.decoded.remove(&next) else {
            break;
        };
        st.committing = true;
        drop(st);
        let extra = shared
            .committer
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .commit(&chunk, whole, lanes);
        st = shared.lock();
        let ChunkOut {
            scanned, batches, ..
        } = chunk;
        for ((queue, batch), extra) in st.queues.iter_mut().zip(batches).zip(extra) {
            queue.push_back(LaneItem {
                secrets: scanned.secrets.clone(),
                batch,
                extra,
            });
        }
        if let Frames::Noted(frames) = scanned.frames {
            st.spares.give_frames(frames);
        }
        st.committed += 1;
        st.committing = false;
        if st.waiting > 0 {
            shared.changed.notify_all();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What a chunk's output holds, frame numbers included, as text.
    fn show(out: &ChunkOut, whole: &[u8]) -> String {
        let mut s = String::new();
        for (lane, b) in out.batches.iter().enumerate() {
            for (local, key, seg) in b.segments(whole) {
                s += &format!("{lane} {local} {key:?} {seg:?}\n");
            }
            s += &format!("upto {}\n", b.upto);
        }
        for (pos, e) in &out.events {
            s += &match e {
                Event::Udp { at, len, .. } => format!("{pos} udp {at} {len}\n"),
                Event::Icmp(e) => format!("{pos} icmp {e:?}\n"),
                Event::Encapsulation(e) => format!("{pos} encapsulation {e:?}\n"),
                Event::Deferred => format!("{pos} deferred\n"),
            };
        }
        s + &format!("{:?}", out.stats)
    }

    /// A region walked ahead of the scan and decoded as it is walked, its frames numbered from
    /// 0, gives once renumbered the output of the scan's own chunk of the same frames: TCP
    /// segments (frame numbers included), UDP datagrams, ICMP errors (whose frame numbers are
    /// the renumbered ones) and counters; for a region starting at every frame of three captures
    /// (DNS with ICMP port unreachable, the lab's DNS run, a refused connection).
    #[test]
    fn a_walked_region_decodes_as_the_scan_would() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata");
        let mut regions = 0;
        for name in [
            "regress/dns/icmp-unreachable.pcap",
            "lab/e_dns/capture.pcap",
            "lab/f_refused_syndrop/capture.pcap",
        ] {
            let bytes = std::fs::read(root.join(name)).unwrap();
            let mut capture = Capture::from_bytes(bytes).unwrap();
            let walker = capture.walker().unwrap();
            let shared = capture.shared_bytes().unwrap();
            let whole = shared.as_slice();
            let mut all = Vec::new();
            while let Some(f) = capture.next_frame().unwrap() {
                let at = shared.offset_of(f.data).unwrap();
                all.push(FrameRef::new(&f, at));
            }
            for k in 0..all.len() {
                let mut decoder = Decoder::deferring(DecodeLimits::default());
                let batches = vec![Batch::default(), Batch::default()];
                let region = (all[k].at - 16, whole.len(), usize::MAX);
                let Walked {
                    pre,
                    dec,
                    stats,
                    linktype,
                    ..
                } = walk_region(&walker, &shared, region, batches, &mut decoder);
                if pre.len() == 0 {
                    // Fewer than 8 records left: no boundary found.
                    continue;
                }
                assert_eq!(pre.start(), all[k].at - 16, "{name}: frame {k}");
                let frames = all[k..k + pre.len()].to_vec();
                let upto = k as u64 + pre.len() as u64;
                // The region's frames as read from its records, numbered from the first's.
                let walked_frames = Frames::Walked {
                    pre,
                    first: k as u64,
                    linktype,
                };
                let read: Vec<_> = (0..=walked_frames.len())
                    .map_while(|i| walked_frames.get(i))
                    .collect();
                assert_eq!(format!("{read:?}"), format!("{frames:?}"), "{name}: {k}");
                assert_eq!(walked_frames.last_index(), Some(upto - 1));
                let scanned = |frames: Frames| Scanned {
                    frames,
                    own: None,
                    secrets: Vec::new(),
                    walked: None,
                };
                let walked = dec.finish(scanned(walked_frames), stats, upto, true);
                let mut decoder = Decoder::deferring(DecodeLimits::default());
                let batches = vec![Batch::default(), Batch::default()];
                let scan = decode_chunk(
                    scanned(Frames::Noted(frames)),
                    whole,
                    &mut decoder,
                    batches,
                    upto,
                );
                assert_eq!(
                    show(&walked, whole),
                    show(&scan, whole),
                    "{name}: from frame {k}"
                );
                regions += 1;
            }
        }
        assert!(regions > 40, "{regions} regions compared");
    }

    /// A walked region the scan stands past the start of gives back its batches (its
    /// decoding unused, `Scanner::passed`, for the spares); the one it stands at is taken
    /// whole with its decoding, and keeps its batches.
    #[test]
    fn passed_walked_regions_give_their_batches_back() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata");
        let bytes = std::fs::read(root.join("lab/e_dns/capture.pcap")).unwrap();
        // Where each record starts.
        let mut probe = Capture::from_bytes(bytes.clone()).unwrap();
        let probe_bytes = probe.shared_bytes().unwrap();
        let mut recs = Vec::new();
        while let Some(f) = probe.next_frame().unwrap() {
            recs.push(probe_bytes.offset_of(f.data).unwrap() - 16);
        }
        assert!(recs.len() > 20, "{} frames", recs.len());
        let mut capture = Capture::from_bytes(bytes).unwrap();
        let walker = capture.walker().unwrap();
        let shared = capture.shared_bytes().unwrap();
        let walked = |from: usize, to: usize, marks: Vec<u8>| {
            let mut decoder = Decoder::deferring(DecodeLimits::default());
            // A segment-less batch is told by its spare capacity.
            let batches = marks
                .into_iter()
                .map(|m| {
                    let mut b = Batch::default();
                    b.bytes.push(m);
                    b
                })
                .collect();
            let region = (from, to, usize::MAX);
            walk_region(&walker, &shared, region, batches, &mut decoder)
        };
        // The scan stands at the third record.
        for _ in 0..2 {
            capture.next_frame().unwrap().unwrap();
        }
        let config = super::super::PipelineConfig::default();
        let mut reader = Reader {
            config: &config,
            secrets: false,
            keylog: Default::default(),
        };
        let mut scanner = Scanner::new(&mut capture, &mut reader, Some(shared.clone()));
        assert_eq!(scanner.capture.reading_at(), Some(recs[2]));
        scanner.add_walked(walked(recs[2], recs[5], vec![2, 3]));
        scanner.add_walked(walked(recs[1], recs[2], vec![0, 1]));
        let taken = scanner.take_walked().unwrap();
        let (_, _, frames) = taken.expect("the region at the scan is taken whole");
        // Its frames, numbered from the third frame's number.
        let got: Vec<_> = (0..frames.len())
            .filter_map(|i| frames.get(i))
            .map(|f| (f.index, f.at - 16))
            .collect();
        assert_eq!(got, [(2, recs[2]), (3, recs[3]), (4, recs[4])]);
        // The scan stands after them, with them counted.
        assert_eq!(scanner.capture.reading_at(), Some(recs[5]));
        assert_eq!(scanner.capture.frames_read(), 5);
        let mut counted = SummaryBuilder::default();
        let mut probe =
            Capture::from_bytes(std::fs::read(root.join("lab/e_dns/capture.pcap")).unwrap())
                .unwrap();
        for k in 0..5 {
            let f = probe.next_frame().unwrap().unwrap();
            if k >= 2 {
                counted.observe(&f);
            }
        }
        assert_eq!(format!("{:?}", scanner.summary), format!("{counted:?}"));
        let marks: Vec<_> = scanner.passed.iter().map(|b| b.bytes.clone()).collect();
        assert_eq!(
            marks,
            [[0], [1]],
            "the passed region's batches, not the taken one's"
        );
    }

    /// A chunk buffer comes back for reuse when a merge's chunk is done, but not one a large
    /// frame grew, nor one still held.
    #[test]
    fn only_usual_chunk_buffers_are_kept_for_reuse() {
        let mut spares = Spares::default();
        let batch = |buf: Vec<u8>| Batch {
            src: Some(Arc::new(buf)),
            ..Batch::default()
        };
        spares.give_batch(batch(Vec::with_capacity(SPARE_BUF)), 2);
        assert_eq!(spares.bufs.len(), 1);
        spares.give_batch(batch(Vec::with_capacity(4 * SPARE_BUF)), 2);
        assert_eq!(spares.bufs.len(), 1);
        let held = Arc::new(Vec::with_capacity(SPARE_BUF));
        spares.give_batch(
            Batch {
                src: Some(Arc::clone(&held)),
                ..Batch::default()
            },
            2,
        );
        assert_eq!(spares.bufs.len(), 1);
        assert_eq!(spares.buf().capacity(), SPARE_BUF);
    }

    /// Pages are released only behind the slowest lane, in contiguous steps of at least
    /// `step` bytes, each chunk's bytes once.
    #[test]
    fn releases_follow_the_slowest_lane_in_steps() {
        let mut ends: VecDeque<(u64, usize)> = [(0, 100), (1, 200), (2, 300), (3, 320)].into();
        let mut released = 0;
        let mut step =
            |tracked: &[u64], ends: &mut VecDeque<_>| releasable(tracked, ends, &mut released, 150);
        // Lane 1 has tracked nothing: nothing is done.
        assert_eq!(step(&[2, 0], &mut ends), None);
        // Chunk 0 is done by both, but 100 bytes are less than a step: kept for later.
        assert_eq!(step(&[2, 1], &mut ends), None);
        assert_eq!(ends.front(), Some(&(0, 100)));
        // Chunks 0 and 1: 200 bytes.
        assert_eq!(step(&[3, 2], &mut ends), Some((0, 200)));
        assert_eq!(ends, VecDeque::from([(2, 300), (3, 320)]));
        // Chunk 2 alone is 100 bytes past what was released: not yet.
        assert_eq!(step(&[3, 3], &mut ends), None);
        // Chunk 3 too: 120 bytes, still less than a step.
        assert_eq!(step(&[4, 4], &mut ends), None);
        assert_eq!(ends, VecDeque::from([(3, 320)]));
        // Nothing more to release when nothing more is done.
        assert_eq!(step(&[4, 4], &mut ends), None);
        let mut ends: VecDeque<(u64, usize)> = [(0, 100), (1, 400)].into();
        let mut released = 0;
        assert_eq!(
            releasable(&[2, 2], &mut ends, &mut released, 1),
            Some((0, 400))
        );
        assert_eq!((ends.len(), released), (0, 400));
    }
}
