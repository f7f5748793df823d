//! The analysis pipeline: frames decoded, TCP segments tracked in flow shards.
//!
//! ```text
//! capture → frame → decode ──► shard s = hash(flow) mod SHARDS: its own TcpTracker (flow
//!   → summary counters         table, reassembly, sinks) — no locks, no sharing
//!   → UDP / ICMP consumer
//! ```
//!
//! Both directions of a connection hash to the same shard. The number of shards is fixed
//! ([`SHARDS`]), whatever the thread count. With one thread everything runs on the calling
//! thread, frame by frame, without copies or channels. With several (`parallel`), every thread
//! scans, decodes and tracks: the capture is read in chunks, scanned and committed in order,
//! decoded on any thread, and thread `w` of `W` tracks the shards `w, w + W, w + 2W, …` (its
//! lane). Each tracker sees exactly the same segments in the same order for any number of
//! threads, so the output — records, counters, what the sinks produced — is identical for any
//! thread count, including when limits are hit.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc};

mod parallel;

use parallel::RELEASE_STEP;

use crate::capture::{
    prefetch, prefetch_write, Capture, CaptureError, CaptureItem, Frame, InPlace, SharedBytes,
};
use crate::decode::{DecodeLimits, Decoder, IcmpError};
use crate::flow::FlowKey;
use crate::packet::{IpPair, TcpFlags, TcpSegment, Transport, UdpDatagram};
use crate::proto::tls::{EmbeddedKeys, KeyLog, KeyLogStats};
use crate::record::ConnectionRecord;
use crate::summary::{CaptureSummary, SummaryBuilder};
use crate::tcp::{SinkFactory, TcpConfig, TcpOutput, TcpStats, TcpTracker};

/// Number of flow shards (independent of the thread count, see the module doc).
pub const SHARDS: usize = 64;

/// Configuration of [`run_with_udp`]. Start from `PipelineConfig::default()` and set fields.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct PipelineConfig {
    /// Threads to use in all; `0` means one per available core.
    /// With `1`, everything runs on the calling thread.
    pub threads: usize,
    /// TCP tracking options and limits. `max_connections` is for the whole capture; each shard
    /// gets its share.
    pub tcp: TcpConfig,
    /// Decoder limits.
    pub decode: DecodeLimits,
    /// Where to publish progress: the reading thread stores the bytes of the (uncompressed)
    /// capture consumed so far every [`PROGRESS_EVERY`] frames and at the end, with relaxed
    /// ordering (one store per batch of frames: no lock, no cost per packet). For progress bars.
    pub progress: Option<Arc<AtomicU64>>,
    /// Frames per chunk of the reading on several threads (`0`: 4096). Not a tuning knob:
    /// tests set it small so that chunk boundaries fall everywhere in small captures.
    #[doc(hidden)]
    pub chunk_frames: u64,
}

/// Frames between two progress updates ([`PipelineConfig::progress`]).
pub const PROGRESS_EVERY: u64 = 4096;

impl PipelineConfig {
    /// The thread count [`run_with_udp`] will use (resolving `0` to the number of cores).
    pub fn effective_threads(&self) -> usize {
        match self.threads {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
            n => n,
        }
    }
}

/// What [`run_with_udp`] returns.
#[derive(Debug)]
pub struct PipelineOutput<F> {
    /// What the capture holds, frame by frame (including damage, if any).
    pub summary: CaptureSummary,
    /// One record per TCP connection, sorted by `conn_id`.
    pub connections: Vec<ConnectionRecord>,
    /// TCP counters summed over the shards.
    pub tcp: TcpStats,
    /// The sink factory of every shard, in shard order, holding what its sinks produced.
    pub factories: Vec<F>,
}

/// Receives the UDP datagrams and ICMP errors of the capture, in capture order, on one thread
/// at a time (the reading thread, or with several threads the one committing a chunk; DNS over
/// UDP must be taken in capture order: a retry to another server must meet the first query).
pub trait UdpConsumer {
    /// One UDP datagram.
    fn on_udp(&mut self, datagram: &UdpDatagram);
    /// One ICMP error message (unreachable, time exceeded, …) with what it quotes.
    fn on_icmp_error(&mut self, error: &IcmpError);
    /// The secrets of a pcapng Decryption Secrets Block, in capture order among the datagrams
    /// (read only when the pipeline reads secrets); does nothing by default.
    fn on_secrets(&mut self, _secrets: &Arc<KeyLog>) {}
    /// With one thread, every TCP segment, before its shard tracks it; does nothing by
    /// default. (With several, the segments of a chunk are tracked after the chunk's
    /// [`flush`](UdpConsumer::flush).)
    fn on_tcp_segment(&mut self, _segment: &TcpSegment) {}
    /// What the consumer keeps to hand on in bulk must go now: before a tick and at the end of
    /// the capture (the ticks say that the frames below them were all read), and before a TCP
    /// segment read after the datagrams is tracked: with one thread, before each TCP segment
    /// ([`on_tcp_segment`](UdpConsumer::on_tcp_segment)); with several, at the end of each
    /// chunk.
    fn flush(&mut self) {}
}

/// Takes the records of the connections a shard finished before the end of the capture, on
/// the worker's thread, so that they can leave memory while the capture is read
/// ([`run_streaming`]).
pub trait Harvest<F: SinkFactory>: Sync {
    /// What the connections finished at one segment become.
    type Group: Send;
    /// `closed`: the connections finished at one segment, in the order they ended; `factory`:
    /// their shard's factory, whose sinks were just closed for them.
    fn harvest(&self, closed: Vec<ConnectionRecord>, factory: &mut F) -> Self::Group;
}

/// No harvest: every record stays in its tracker until the end ([`run_with_udp`]).
#[derive(Debug, Clone, Copy, Default)]
pub struct NoHarvest;

impl<F: SinkFactory> Harvest<F> for NoHarvest {
    type Group = ();
    fn harvest(&self, _: Vec<ConnectionRecord>, _: &mut F) {}
}

/// Ignores UDP and ICMP.
impl UdpConsumer for () {
    fn on_udp(&mut self, _: &UdpDatagram) {}
    fn on_icmp_error(&mut self, _: &IcmpError) {}
}

/// Reads every frame of `capture`, decodes it and tracks TCP connections on
/// `config.threads` threads. `make_factory(shard)` creates the sink factory of each shard (on
/// the thread that will use it).
///
/// Damage ends the reading and is recorded in [`CaptureSummary::damaged`]; everything before it
/// is analysed.
///
/// # Errors
/// [`CaptureError::Io`] when reading fails; the work done so far is dropped.
#[cfg_attr(not(any(test, feature = "fuzzing")), allow(dead_code))] // used by tests and fuzzing
pub fn run_with_udp<F, M, U>(
    capture: &mut Capture,
    config: &PipelineConfig,
    make_factory: M,
    udp: &mut U,
) -> Result<PipelineOutput<F>, CaptureError>
where
    F: SinkFactory + Send,
    M: Fn(usize) -> F + Sync,
    U: UdpConsumer + Send,
{
    let make = |shard: usize, _: &EmbeddedKeys| make_factory(shard);
    run(
        capture,
        config,
        &make,
        udp,
        false,
        None::<(&NoHarvest, fn(u64, Option<()>))>,
    )
    .map(|(out, _)| out)
}

/// [`run_with_udp`], reading the secrets embedded in a pcapng capture (Decryption Secrets
/// Blocks) in the same pass as the frames when `secrets`, and handing on what each shard
/// finishes before the end of the capture: after every segment that finished connections, the
/// thread tracking the shard calls `harvest` and `collect(frame, Some(group))` receives the
/// group, on one thread, in increasing order of the frame that finished it (so in the same
/// order for any thread count; a thread's groups wait until every thread has tracked past
/// their frame). Every
/// 16 384 frames (`HEARTBEAT_FRAMES`) `collect(frame, None)` says that the frames below
/// `frame` were all read and their groups handed on (a tick, in the same place among the
/// groups for any thread count). The connections finished at the end are in the output, as
/// with [`run_with_udp`].
///
/// `make_factory(shard, keys)` gets the [`EmbeddedKeys`] of the thread that tracks the shard:
/// each DSB is added to it after the segments read before the DSB and before those read after
/// it (with one thread, when the reader meets it; with several, a DSB ends a chunk), so what a shard sees is the same for any
/// thread count. Also returns the counters of the DSBs read ([`KeyLog::add_capture_secrets`]).
///
/// # Errors
/// As [`run_with_udp`].
pub fn run_streaming<F, M, U, H, C>(
    capture: &mut Capture,
    config: &PipelineConfig,
    make_factory: M,
    udp: &mut U,
    secrets: bool,
    harvest: &H,
    collect: C,
) -> Result<(PipelineOutput<F>, KeyLogStats), CaptureError>
where
    F: SinkFactory + Send,
    M: Fn(usize, &EmbeddedKeys) -> F + Sync,
    U: UdpConsumer + Send,
    H: Harvest<F>,
    C: FnMut(u64, Option<H::Group>) + Send,
{
    run(
        capture,
        config,
        &make_factory,
        udp,
        secrets,
        Some((harvest, collect)),
    )
}

fn run<F, M, U, H, C>(
    capture: &mut Capture,
    config: &PipelineConfig,
    make_factory: &M,
    udp: &mut U,
    secrets: bool,
    stream: Option<(&H, C)>,
) -> Result<(PipelineOutput<F>, KeyLogStats), CaptureError>
where
    F: SinkFactory + Send,
    M: Fn(usize, &EmbeddedKeys) -> F + Sync,
    U: UdpConsumer + Send,
    H: Harvest<F>,
    C: FnMut(u64, Option<H::Group>) + Send,
{
    let mut tcp_cfg = config.tcp.clone();
    tcp_cfg.max_connections = tcp_cfg.max_connections.div_ceil(SHARDS).max(1);
    tcp_cfg.ooo_total_limit_bytes = tcp_cfg.ooo_total_limit_bytes.div_ceil(SHARDS).max(1);
    tcp_cfg.unacked_total_limit_bytes = tcp_cfg.unacked_total_limit_bytes.div_ceil(SHARDS).max(1);
    tcp_cfg.app_total_limit_bytes = tcp_cfg.app_total_limit_bytes.div_ceil(SHARDS).max(1);
    let threads = config.effective_threads();
    let mut reader = Reader {
        config,
        secrets,
        keylog: KeyLogStats::default(),
    };
    let (summary, outputs) = if threads <= 1 {
        run_inline(capture, &mut reader, &tcp_cfg, make_factory, udp, stream)?
    } else {
        parallel::run_parallel(
            capture,
            &mut reader,
            &tcp_cfg,
            make_factory,
            udp,
            threads,
            stream,
        )?
    };
    Ok((merge(summary, outputs), reader.keylog))
}

/// The reading side's options and what it counted besides frames.
struct Reader<'a> {
    config: &'a PipelineConfig,
    /// Whether DSBs are read and handed on.
    secrets: bool,
    /// Counters of the DSBs read.
    keylog: KeyLogStats,
}

/// What the reading loop hands on, in capture order.
enum Out<'a, 's> {
    /// A TCP segment, its shard and its flow key.
    Segment(usize, FlowKey, &'a TcpSegment<'s>),
    /// The secrets of one DSB.
    Secrets(Arc<KeyLog>),
    /// Every [`HEARTBEAT_FRAMES`] frames, before that frame: the frames below it were read.
    Tick(u64),
}

fn merge<F>(summary: CaptureSummary, mut outputs: Vec<(usize, TcpOutput<F>)>) -> PipelineOutput<F> {
    outputs.sort_unstable_by_key(|(shard, _)| *shard);
    let mut connections = Vec::new();
    let mut tcp = TcpStats::default();
    let mut factories = Vec::with_capacity(outputs.len());
    for (_, out) in outputs {
        connections.extend(out.records);
        tcp.merge(&out.stats);
        factories.push(out.factory);
    }
    connections.sort_by_key(|r| r.conn_id);
    PipelineOutput {
        summary,
        connections,
        tcp,
        factories,
    }
}

type Outputs<F> = Vec<(usize, TcpOutput<F>)>;

fn run_inline<F, M, U, H, C>(
    capture: &mut Capture,
    reader: &mut Reader<'_>,
    tcp_cfg: &TcpConfig,
    make_factory: &M,
    udp: &mut U,
    mut stream: Option<(&H, C)>,
) -> Result<(CaptureSummary, Outputs<F>), CaptureError>
where
    F: SinkFactory,
    M: Fn(usize, &EmbeddedKeys) -> F,
    U: UdpConsumer,
    H: Harvest<F>,
    C: FnMut(u64, Option<H::Group>),
{
    let keys = EmbeddedKeys::default();
    let mut trackers: Vec<TcpTracker<F>> = (0..SHARDS)
        .map(|s| TcpTracker::with_sinks(tcp_cfg.clone(), make_factory(s, &keys)))
        .collect();
    let mut decoder = Decoder::new(reader.config.decode);
    let mut summary = SummaryBuilder::default();
    read(capture, reader, &mut decoder, &mut summary, udp, |out| {
        match out {
            Out::Segment(shard, key, seg) => {
                let t = &mut trackers[shard];
                t.on_segment_keyed(seg, key);
                if let Some((harvest, collect)) = stream.as_mut().filter(|_| t.has_finished()) {
                    let (closed, factory) = t.take_finished();
                    collect(seg.frame, Some(harvest.harvest(closed, factory)));
                }
            }
            Out::Secrets(dsb) => keys.add(&dsb),
            Out::Tick(frame) => {
                if let Some((_, collect)) = stream.as_mut() {
                    collect(frame, None);
                }
            }
        }
        true
    })?;
    let end = summary.last_ts().unwrap_or(0);
    let outputs = trackers
        .into_iter()
        .enumerate()
        .map(|(s, t)| (s, t.finish(end)))
        .collect();
    Ok((summary.finish(capture, decoder.stats().clone()), outputs))
}

/// The reading loop shared by both modes: every frame is counted and decoded; UDP and ICMP go
/// to `udp`, each TCP segment to `out` with its shard, and (when `reader.secrets`) each DSB's
/// secrets, parsed, to `out` too. Stops early when `out` returns `false`.
fn read<U: UdpConsumer>(
    capture: &mut Capture,
    reader: &mut Reader<'_>,
    decoder: &mut Decoder,
    summary: &mut SummaryBuilder,
    udp: &mut U,
    mut out: impl FnMut(Out<'_, '_>) -> bool,
) -> Result<(), CaptureError> {
    let progress = reader.config.progress.as_deref();
    let whole = capture.shared_bytes();
    let mut released = 0usize;
    loop {
        // A capture in memory: its common records in a loop of their own, as the parallel scan
        // reads them (`Capture::frames_in_place`); any other record, the end and damage below.
        if let Some(whole) = &whole {
            let read = capture.frames_in_place(|frame| {
                if let Some(at) = progress_in_place(progress, whole, &frame) {
                    release_behind(whole, &mut released, at);
                }
                read_frame(&frame, decoder, summary, udp, &mut out)
            });
            if read == Some(InPlace::Stopped) {
                break;
            }
        } else if let Some((buf, base)) = capture.stream_buffer() {
            // A stream: the common records already in its window, likewise.
            let (from, base) = (buf.as_ptr() as usize, base);
            let read = capture.frames_in_place(|frame| {
                if frame.index.is_multiple_of(PROGRESS_EVERY) {
                    if let Some(p) = progress {
                        let at = (frame.data.as_ptr() as usize).saturating_sub(from);
                        p.store(base.saturating_add(at as u64), Ordering::Relaxed);
                    }
                }
                read_frame(&frame, decoder, summary, udp, &mut out)
            });
            if read == Some(InPlace::Stopped) {
                break;
            }
        }
        let frame = match next_general(capture, reader)? {
            General::End => break,
            General::Frame(frame) => frame,
            General::Keys(keys) => {
                udp.on_secrets(&keys);
                if !out(Out::Secrets(keys)) {
                    break;
                }
                continue;
            }
        };
        if !read_frame(&frame, decoder, summary, udp, &mut out) {
            break;
        }
    }
    udp.flush();
    progress_at_end(capture, progress);
    Ok(())
}

/// How far behind the one reading thread its capture's pages are unmapped ([`release_behind`]).
const RELEASE_BEHIND: usize = 1 << 20;

/// The pages of a mapped capture [`RELEASE_BEHIND`] bytes or more behind `at`, where the one
/// reading thread is, past those `released` so far, unmapped once they make a
/// [`RELEASE_STEP`] (`SharedBytes::release`): else the whole file's pages stay in the process
/// until it unmaps them at the end (peak RSS the size of the file). Nothing reads them again
/// (what a connection keeps of a payload is copied), and a read would only fault them in
/// again from the file.
fn release_behind(whole: &SharedBytes, released: &mut usize, at: usize) {
    if !whole.is_mapped() {
        return;
    }
    if let Some((from, to)) = behind(released, at) {
        whole.release(from, to - from);
    }
}

/// The bytes to release when the reader is at `at` (`[from, to)`), past `released`, which
/// moves to `to`; `None` until they make a step.
fn behind(released: &mut usize, at: usize) -> Option<(usize, usize)> {
    let to = at.saturating_sub(RELEASE_BEHIND);
    (to >= released.saturating_add(RELEASE_STEP)).then(|| (std::mem::replace(released, to), to))
}

/// What the general step of a reading loop read.
enum General<'c> {
    Frame(Frame<'c>),
    /// A DSB's secrets, parsed (and counted in the key log's statistics).
    Keys(Arc<KeyLog>),
    /// The end of the capture, or damage.
    End,
}

/// The general step of the reading loops (`read`, the parallel scans): the record after those
/// the in-place loop read (any record, the end, damage), with the progress counter kept every
/// `PROGRESS_EVERY` frames.
fn next_general<'c>(
    capture: &'c mut Capture,
    reader: &mut Reader<'_>,
) -> Result<General<'c>, CaptureError> {
    let progress = reader.config.progress.as_deref();
    if capture.frames_read().is_multiple_of(PROGRESS_EVERY) {
        if let Some(p) = progress {
            p.store(capture.offset(), Ordering::Relaxed);
        }
    }
    let item = if reader.secrets {
        capture.next_item()?
    } else {
        capture.next_frame()?.map(CaptureItem::Frame)
    };
    Ok(match item {
        None => General::End,
        Some(CaptureItem::Frame(frame)) => General::Frame(frame),
        Some(CaptureItem::Secrets(dsb)) => {
            let mut keys = KeyLog::new();
            keys.add_capture_secrets(std::slice::from_ref(&dsb));
            reader.keylog.merge(keys.stats());
            General::Keys(Arc::new(keys))
        }
    })
}

/// At the end of the capture: the progress counter at the last offset read.
fn progress_at_end(capture: &Capture, progress: Option<&AtomicU64>) {
    if let Some(p) = progress {
        p.store(capture.offset(), Ordering::Relaxed);
    }
}

/// For the progress counter, every [`PROGRESS_EVERY`] frames: where a frame read in place
/// (`Capture::frames_in_place`) lies in the capture, past its record header; that offset then
/// (the one reader releases its map behind it), else `None`.
fn progress_in_place(
    progress: Option<&AtomicU64>,
    whole: &SharedBytes,
    frame: &Frame<'_>,
) -> Option<usize> {
    if !frame.index.is_multiple_of(PROGRESS_EVERY) {
        return None;
    }
    let at = whole.offset_of(frame.data).unwrap_or(0);
    if let Some(p) = progress {
        p.store(at as u64, Ordering::Relaxed);
    }
    Some(at)
}

/// One frame of [`read`]: the heartbeat tick due before it, the summary, decoding; UDP and ICMP
/// go to `udp`, a TCP segment to `out`. `false` when `out` says stop.
fn read_frame<U: UdpConsumer>(
    frame: &Frame<'_>,
    decoder: &mut Decoder,
    summary: &mut SummaryBuilder,
    udp: &mut U,
    out: &mut impl FnMut(Out<'_, '_>) -> bool,
) -> bool {
    if frame.index > 0 && frame.index.is_multiple_of(HEARTBEAT_FRAMES) {
        udp.flush();
        if !out(Out::Tick(frame.index)) {
            return false;
        }
    }
    summary.observe(frame);
    let decoded = decoder.decode(frame);
    if let Some(e) = &decoded.icmp_error {
        udp.on_icmp_error(e);
    }
    match decoded.transport {
        Some(Transport::Tcp(seg)) => {
            udp.on_tcp_segment(&seg);
            // The one key of the segment: its shard here, its flow-table entry in the worker.
            let shard = FlowKey::shard_for(&seg.ip, seg.src_port, seg.dst_port, SHARDS);
            let key = FlowKey::new(&seg.ip, seg.src_port, seg.dst_port);
            out(Out::Segment(shard, key, &seg))
        }
        Some(Transport::Udp(d)) => {
            udp.on_udp(&d);
            true
        }
        None => true,
    }
}

/// A TCP segment without its borrowed bytes, which are in the batch's byte buffer.
#[derive(Debug, Clone, Copy)]
///
/// Every segment crosses from the thread that decoded it to the one that tracks it in this
/// form, so it is kept small (96 bytes).
struct SegMeta {
    ts_ns: i64,
    frame: u64,
    /// The addresses and ports as the segment has them (sender first), copied as they are
    /// into the segment the lane rebuilds, which makes the key again from them (rebuilding the
    /// addresses from the key's endpoints made the lane wait on copies of 17-byte `IpAddr`s at
    /// odd offsets).
    ip: IpPair,
    src_port: u16,
    dst_port: u16,
    /// The payload is read in place in the capture's shared bytes at this offset, unless
    /// [`COPIED`].
    in_place: u64,
    seq: u32,
    ack: u32,
    payload_len: u32,
    /// Start of the options in `Batch::bytes` (the payload follows them when copied), or
    /// [`OPTIONS_IN_PLACE`].
    start: u32,
    captured_len: u32,
    window: u16,
    flags: TcpFlags,
    /// At most 40 (a TCP header's options).
    options_len: u16,
    /// Index of the tracker within the lane (below [`SHARDS`]).
    local: u8,
}

/// [`SegMeta::in_place`] of a payload copied into the batch.
const COPIED: u64 = u64::MAX;
/// [`SegMeta::start`] of options read in place, just before the payload read in place (as a
/// TCP header's options lie in the frame): nothing of the segment is copied.
const OPTIONS_IN_PLACE: u32 = u32::MAX;

#[derive(Debug, Default)]
struct Batch {
    segs: Vec<SegMeta>,
    bytes: Vec<u8>,
    /// The bytes payloads are read in place from, when not the capture's own (a chunk of a
    /// stream: the reading window's buffer; of a merge: its frames' copy).
    src: Option<Arc<Vec<u8>>>,
    /// Every frame below this was read when the batch was made.
    upto: u64,
    /// Added to each segment's frame number: a region decoded as it was walked ahead of the
    /// scan numbers its frames from 0 (`pipeline::parallel`, `Job::Prescan`).
    frame_base: u64,
}

impl Batch {
    /// Adds `seg`; its payload is copied unless it lies in `base` (the bytes the lane reads
    /// in place: the capture's shared bytes, or `src`).
    fn push(&mut self, seg: &TcpSegment, local: usize, base: Option<&[u8]>) {
        prefetch_write(self.segs.as_ptr().wrapping_add(self.segs.len() + 4));
        let in_place = base
            .and_then(|b| parallel::offset_in(b, seg.payload))
            .map_or(COPIED, |at| at as u64);
        // The options end where the payload starts (compared by address, nothing read):
        // they are then the `options.len()` bytes before it in `base`.
        let options_end = seg.options.as_ptr().wrapping_add(seg.options.len());
        let start = if in_place != COPIED
            && options_end == seg.payload.as_ptr()
            && seg.options.len() as u64 <= in_place
        {
            OPTIONS_IN_PLACE
        } else {
            let start = self.bytes.len();
            prefetch_write(self.bytes.as_ptr().wrapping_add(start + 256));
            self.bytes.extend_from_slice(seg.options);
            if in_place == COPIED {
                self.bytes.extend_from_slice(seg.payload);
            }
            // A batch holds the options (at most 40 bytes each) of one chunk's frames and the
            // payloads of at most one chunk's reassembled datagrams: far below u32::MAX.
            start as u32
        };
        self.segs.push(SegMeta {
            ts_ns: seg.ts_ns,
            frame: seg.frame,
            ip: seg.ip,
            src_port: seg.src_port,
            dst_port: seg.dst_port,
            in_place,
            seq: seg.seq,
            ack: seg.ack,
            payload_len: seg.payload_len,
            start,
            captured_len: seg.payload.len() as u32,
            window: seg.window,
            flags: seg.flags,
            options_len: seg.options.len() as u16,
            // Below SHARDS (64).
            local: local as u8,
        });
    }

    /// Empties it, keeping its buffers.
    fn clear(&mut self) {
        self.segs.clear();
        self.bytes.clear();
        self.src = None;
        self.upto = 0;
        self.frame_base = 0;
    }

    /// The segments, with the payloads read in place from `src`, else from `whole` (the bytes
    /// given to `push`).
    fn segments<'b>(
        &'b self,
        whole: &'b [u8],
    ) -> impl Iterator<Item = (usize, FlowKey, TcpSegment<'b>)> + 'b {
        let whole: &'b [u8] = self.src.as_deref().map_or(whole, Vec::as_slice);
        // A segment's payload: in place in `whole`, or after its options in `bytes`.
        let payload = move |m: &SegMeta| -> &'b [u8] {
            let (from, start) = match m.in_place {
                COPIED => (
                    &self.bytes[..],
                    m.start as usize + usize::from(m.options_len),
                ),
                at => (whole, usize::try_from(at).unwrap_or(usize::MAX)),
            };
            from.get(start..start.saturating_add(m.captured_len as usize))
                .unwrap_or_default()
        };
        self.segs.iter().enumerate().map(move |(i, m)| {
            // The payloads read in place are in the mapped capture, not in a cache: ask for
            // the first lines (an HTTP head's start) of the one a few segments on while this one is
            // processed (without it the worker, which parses the heads, waits on memory).
            if let Some(next) = self.segs.get(i + PREFETCH_SEGMENTS) {
                if next.in_place != COPIED {
                    let head = payload(next);
                    for line in (0..head.len().min(PREFETCH_BYTES)).step_by(64) {
                        prefetch(&head[line..]);
                    }
                }
            }
            let options = match (m.start, usize::try_from(m.in_place)) {
                (OPTIONS_IN_PLACE, Ok(at)) => {
                    whole.get(at.saturating_sub(usize::from(m.options_len))..at)
                }
                (s, _) => {
                    let s = s as usize;
                    self.bytes.get(s..s + usize::from(m.options_len))
                }
            };
            let seg = TcpSegment {
                ts_ns: m.ts_ns,
                frame: m.frame.saturating_add(self.frame_base),
                ip: m.ip,
                src_port: m.src_port,
                dst_port: m.dst_port,
                seq: m.seq,
                ack: m.ack,
                flags: m.flags,
                window: m.window,
                options: options.unwrap_or_default(),
                payload: payload(m),
                payload_len: m.payload_len,
            };
            let key = FlowKey::new(&m.ip, m.src_port, m.dst_port);
            (m.local as usize, key, seg)
        })
    }
}

/// The segments of `batch` and of `extra` (reassembled datagrams), merged by frame.
fn merged<'b>(
    batch: &'b Batch,
    extra: &'b Batch,
    whole: &'b [u8],
) -> impl Iterator<Item = (usize, FlowKey, TcpSegment<'b>)> + 'b {
    let mut a = batch.segments(whole).peekable();
    let mut b = extra.segments(whole).peekable();
    std::iter::from_fn(move || match (a.peek(), b.peek()) {
        (Some(x), Some(y)) if y.2.frame < x.2.frame => b.next(),
        (Some(_), _) => a.next(),
        (None, _) => b.next(),
    })
}

/// The collector's loop: hands on the lanes' groups in frame order, each once every lane has
/// tracked past its frame, and a tick every [`HEARTBEAT_FRAMES`] frames (after the groups of
/// the frames below it, before the others, once every lane tracked the frames below it).
fn collect_in_order<G>(
    emits: mpsc::Receiver<Emit<G>>,
    lanes: usize,
    mut collect: impl FnMut(u64, Option<G>),
) {
    let mut marks = vec![0u64; lanes];
    let mut pending: BTreeMap<(u64, usize), G> = BTreeMap::new();
    let mut tick = HEARTBEAT_FRAMES;
    for emit in emits {
        if let Some(m) = marks.get_mut(emit.worker) {
            *m = (*m).max(emit.upto);
        }
        for (frame, group) in emit.groups {
            pending.insert((frame, emit.worker), group);
        }
        let low = marks.iter().copied().min().unwrap_or(0);
        loop {
            let below = low.min(tick);
            while let Some(entry) = pending.first_entry() {
                if entry.key().0 >= below {
                    break;
                }
                let ((frame, _), group) = entry.remove_entry();
                collect(frame, Some(group));
            }
            if tick > low {
                break;
            }
            collect(tick, None);
            tick = tick.saturating_add(HEARTBEAT_FRAMES);
        }
    }
    // Every lane is done: the rest is final.
    for ((frame, _), group) in pending {
        collect(frame, Some(group));
    }
}

/// What a lane hands to the collector after each chunk when streaming.
struct Emit<G> {
    worker: usize,
    /// The lane tracked every segment of its shards in frames below this.
    upto: u64,
    /// (frame, group) of what its shards finished in this batch, in frame order.
    groups: Vec<(u64, G)>,
}

/// How many segments ahead a worker asks for a payload read in place, and how many of its
/// bytes ([`Batch::segments`]; 8 segments the best of 4 to 16 on the request-heavy benchmark
/// capture). 256 bytes (4 cache lines), not 1 KiB: most payloads of a bulk transfer are body
/// bytes nobody reads, and asking for 16 lines of each cost bulk 9 % of its time (interleaved
/// runs of 64, 128, 256, 512 and 1024 bytes: 256 the fastest on both benchmark captures).
const PREFETCH_SEGMENTS: usize = 8;
const PREFETCH_BYTES: usize = 256;

/// Frames between two ticks ([`Out::Tick`]: the collector's `None` groups, and a flush of every
/// lane when streaming, [`run_streaming`]).
pub(crate) const HEARTBEAT_FRAMES: u64 = 1 << 14;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_reader_releases_behind_itself_in_steps() {
        let mut released = 0;
        // Less than a step behind the reader: nothing yet.
        assert_eq!(behind(&mut released, RELEASE_BEHIND), None);
        assert_eq!(
            behind(&mut released, RELEASE_STEP + RELEASE_BEHIND - 1),
            None
        );
        // A step: from the start to `RELEASE_BEHIND` short of the reader.
        let at = RELEASE_STEP + RELEASE_BEHIND + 5;
        assert_eq!(behind(&mut released, at), Some((0, RELEASE_STEP + 5)));
        assert_eq!(released, RELEASE_STEP + 5);
        // The next step starts where the last one ended; never backwards.
        assert_eq!(behind(&mut released, at + RELEASE_STEP - 1), None);
        assert_eq!(behind(&mut released, 0), None);
        let at = at + 3 * RELEASE_STEP;
        assert_eq!(
            behind(&mut released, at),
            Some((RELEASE_STEP + 5, at - RELEASE_BEHIND))
        );
    }

    fn seg<'a>(frame: u64, options: &'a [u8], payload: &'a [u8]) -> TcpSegment<'a> {
        TcpSegment {
            ts_ns: 1_000 + frame as i64,
            frame,
            ip: IpPair {
                src: [10, 0, 0, 1].into(),
                dst: [10, 0, 0, 2].into(),
            },
            src_port: 40_000,
            dst_port: 80,
            seq: 7,
            ack: 9,
            flags: TcpFlags(TcpFlags::ACK | TcpFlags::PSH),
            window: 512,
            options,
            payload,
            payload_len: payload.len() as u32 + 3,
        }
    }

    fn key() -> FlowKey {
        let s = seg(0, &[], &[]);
        FlowKey::new(&s.ip, s.src_port, s.dst_port)
    }

    /// What crosses between threads for every segment stays small.
    #[test]
    fn a_segment_in_a_batch_is_96_bytes() {
        assert!(std::mem::size_of::<SegMeta>() <= 96);
    }

    #[test]
    fn batch_round_trips_segments() {
        // Payloads copied (a stream), and read in place (a capture held in memory) except the
        // one that is not in the capture's bytes (as a reassembled IP datagram).
        let whole = crate::capture::SharedBytes::owned(b"..hello..world!".to_vec());
        let (hello, world) = (&whole.as_slice()[2..7], &whole.as_slice()[9..15]);
        for shared in [None, Some(whole.as_slice())] {
            let mut b = Batch::default();
            b.push(&seg(1, &[1, 1, 8, 10], hello), 3, shared);
            b.push(&seg(2, &[], b""), 0, shared);
            b.push(&seg(3, &[2, 4, 5, 180], world), 1, shared);
            b.push(&seg(4, &[], b"elsewhere"), 2, shared);
            let in_place = b.segs.iter().filter(|m| m.in_place != COPIED).count();
            assert_eq!(in_place, if shared.is_some() { 2 } else { 0 });
            let got: Vec<_> = b.segments(whole.as_slice()).collect();
            assert_eq!(got.len(), 4);
            assert_eq!(got[0].0, 3);
            assert!(got.iter().all(|g| g.1 == key()));
            assert_eq!(got[0].2.options, &[1, 1, 8, 10]);
            assert_eq!(got[0].2.payload, b"hello");
            assert_eq!(got[0].2.payload_len, 8);
            assert_eq!(got[1].2.options, &[] as &[u8]);
            assert_eq!(got[1].2.payload, b"");
            assert_eq!(got[2].2.options, &[2, 4, 5, 180]);
            assert_eq!(got[2].2.payload, b"world!");
            assert_eq!(got[2].2.frame, 3);
            assert_eq!(got[2].2.ts_ns, 1_003);
            assert_eq!(got[3].2.payload, b"elsewhere");
        }
    }

    /// Options that end where a payload read in place starts (as in a frame) are read in place
    /// too, and nothing of the segment is copied; options elsewhere are copied.
    #[test]
    fn options_before_a_payload_in_place_are_read_in_place() {
        let whole = crate::capture::SharedBytes::owned(b"..hello..world!".to_vec());
        let w = whole.as_slice();
        for shared in [None, Some(w)] {
            let mut b = Batch::default();
            // Adjacent: "..", then "hello"; ".." then "world!"; ".." then an empty payload.
            b.push(&seg(1, &w[0..2], &w[2..7]), 0, shared);
            b.push(&seg(2, &w[7..9], &w[9..15]), 1, shared);
            b.push(&seg(3, &w[7..9], &w[9..9]), 2, shared);
            // Not adjacent: options elsewhere, before a payload in place.
            b.push(&seg(4, &[1, 1, 8, 10], &w[2..7]), 3, shared);
            // Options in place but not before their payload.
            b.push(&seg(5, &w[0..2], &w[9..15]), 4, shared);
            let in_place = b
                .segs
                .iter()
                .filter(|m| m.start == OPTIONS_IN_PLACE)
                .count();
            assert_eq!(in_place, if shared.is_some() { 3 } else { 0 });
            if shared.is_some() {
                // Only the options of the last two were copied.
                assert_eq!(b.bytes.len(), 4 + 2);
            }
            let got: Vec<_> = b
                .segments(w)
                .map(|(_, _, s)| (s.options, s.payload))
                .collect();
            let want: [(&[u8], &[u8]); 5] = [
                (b"..", b"hello"),
                (b"..", b"world!"),
                (b"..", b""),
                (&[1, 1, 8, 10], b"hello"),
                (b"..", b"world!"),
            ];
            assert_eq!(got, want);
        }
    }
}
