//! TCP connection tracking: handshake, tshark-compatible segment analysis, RTT, reassembly.
//!
//! Feed every [`TcpSegment`] of one shard (see [`crate::flow::shard_of`]) in capture order to a
//! [`TcpTracker`]; call [`TcpTracker::finish`] at the end to get one [`ConnectionRecord`] per
//! connection and the [`TcpStats`] counters. Reassembled bytes go to the [`StreamSink`] that
//! your [`SinkFactory`] opens for each connection.
//!
//! # Correspondence with tshark
//!
//! * Per-segment classification mirrors Wireshark's `tcp_analyze_sequence_number()`
//!   (epan/dissectors/packet-tcp.c), in its order of tests: zero-window probe, zero window,
//!   lost segment, keep-alive, window update, window full, keep-alive ACK, zero-window-probe ACK,
//!   duplicate ACK (no data, same window/seq/ack as the previous segment of that direction, not
//!   SYN/FIN/RST), ACKed-unseen-segment, then for segments with data or SYN/FIN that do not
//!   advance the sequence number (keep-alives excepted): spurious retransmission (entirely
//!   below the peer's last ACK), fast retransmission (≥ 2 dup ACKs from the peer, seq equal to
//!   their ack, within 20 ms of the peer's last ACK), out-of-order (within one iRTT — 3 ms if
//!   unknown — of the segment with the highest sequence number), else retransmission.
//!   `retransmissions` counts all three retransmission kinds, as tshark's display filter
//!   `tcp.analysis.retransmission` does. SACK is ignored, as in tshark.
//! * `syn_to_ack_ns` is tshark's `tcp.analysis.initial_rtt`: Wireshark stores the time of the
//!   *most recent* SYN (`ts_mru_syn`, i.e. the last retransmitted SYN, also one sent after the
//!   SYN/ACK) and measures up to the first segment with ACK and without SYN (a zero result counts
//!   as "not measured", and the next such segment is taken). We measure from the most recent SYN
//!   to the client's handshake ACK (its first ACK after the SYN/ACK), which is the same segment
//!   pair whenever the handshake completed and the iRTT is not zero. (tshark also reports an
//!   iRTT for a refused connection — SYN → RST/ACK — and for one whose SYN/ACK was not captured,
//!   where ours is `None`; the value tshark uses internally for its out-of-order threshold is
//!   mirrored exactly.) `syn_to_synack_ns` is measured from the last SYN before the SYN/ACK.
//! * Connection boundaries: a client SYN with the ISN already seen is a retransmission of the
//!   same attempt (also after a RST: Windows retries a refused connect that way, and tshark keeps
//!   it in one stream); a client SYN with another ISN starts a new connection (port reuse), as
//!   does any segment after the idle timeout. A server-side SYN during the handshake
//!   (simultaneous open, split handshake) stays in the connection.

mod analysis;
mod options;
mod reassembly;
mod rtt;
pub mod seq;

use crate::stats::counters;
use std::net::IpAddr;

pub use options::HandshakeOptions;
pub use reassembly::StreamSink;
pub use seq::SeqNum;

use crate::flow::{Endpoint, FlowEntry, FlowKey, FlowTable, DEFAULT_MAX_FLOWS};
use crate::packet::{IpPair, TcpFlags, TcpSegment};
use crate::record::{ConnectionRecord, DirectionStats, Failure, Outcome, RolesFrom, Side};
use analysis::FlowAnalysis;
use reassembly::Reassembler;
use rtt::RttTracker;

/// Direction of a segment within a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// From the client to the server.
    ClientToServer,
    /// From the server to the client.
    ServerToClient,
}

impl Direction {
    /// The direction whose sender is the client (`true`) or the server.
    pub(crate) fn from_client(client: bool) -> Direction {
        if client {
            Direction::ClientToServer
        } else {
            Direction::ServerToClient
        }
    }
    fn index(self) -> usize {
        match self {
            Direction::ClientToServer => 0,
            Direction::ServerToClient => 1,
        }
    }
    /// The other direction.
    pub fn reverse(self) -> Direction {
        match self {
            Direction::ClientToServer => Direction::ServerToClient,
            Direction::ServerToClient => Direction::ClientToServer,
        }
    }
    fn sender(self) -> Side {
        match self {
            Direction::ClientToServer => Side::Client,
            Direction::ServerToClient => Side::Server,
        }
    }
}

/// Default idle timeout: 5 minutes of capture time.
pub const DEFAULT_IDLE_TIMEOUT_NS: i64 = 300_000_000_000;
/// Default time a closed, reset or refused connection stays in the flow table after its last
/// packet, to collect late ACKs, retransmitted FINs/RSTs and keep-alives: 5 minutes of capture
/// time, as long as the idle timeout, so that late packets join their connection as in tshark
/// (which never ends a connection without a new SYN). Lower it to bound memory on captures with
/// very many short connections.
pub const DEFAULT_CLOSED_LINGER_NS: i64 = DEFAULT_IDLE_TIMEOUT_NS;
/// Default time a connection whose close completed stays whole after its last packet: 3 s of
/// capture time, beyond the retransmission timeouts of a FIN whose last ACK was lost (200 ms
/// to 1 s on common stacks), so that such late packets still join their connection as in
/// tshark.
pub const DEFAULT_CLOSE_GRACE_NS: i64 = 3_000_000_000;
/// A client SYN that comes after the SYN/ACK answering it (capture-point reordering, common on
/// mirrored ports) joins that connection when its sequence number is the one the SYN/ACK
/// acknowledged and it comes at most this long (capture time) after the connection's first
/// packet: 1 s, far above a reordering on a switch (microseconds). A retried SYN carries the
/// same ISN and would be answered by its own SYN/ACK, so the window only bounds how long an
/// unanswered-looking SYN/ACK waits for its SYN.
pub const REORDERED_HANDSHAKE_WINDOW_NS: i64 = 1_000_000_000;
/// How often (capture time) a tracker sweeps its table for idle and closed connections: 1 s.
pub const SWEEP_INTERVAL_NS: i64 = 1_000_000_000;
/// Default out-of-order buffer per direction: 1 MiB.
pub const DEFAULT_OOO_LIMIT_BYTES: usize = 1 << 20;
/// Default out-of-order buffers of all connections together: 512 MiB.
pub const DEFAULT_OOO_TOTAL_LIMIT_BYTES: usize = 512 << 20;
/// Default bytes the application parsers of all connections together hold of unfinished
/// messages: 512 MiB.
pub const DEFAULT_APP_TOTAL_LIMIT_BYTES: usize = 512 << 20;
/// Default number of RTT samples kept per direction for the median.
pub const DEFAULT_RTT_SAMPLE_LIMIT: usize = 4096;
/// Default number of unacknowledged data segments remembered per direction for RTT sampling.
pub const DEFAULT_UNACKED_LIMIT: usize = 4096;
/// Default memory of the unacknowledged lists of all connections together: 256 MiB.
pub const DEFAULT_UNACKED_TOTAL_LIMIT_BYTES: usize = 256 << 20;

/// TCP tracking options and limits ([`crate::Analyzer::tcp_config`]). Start from
/// `TcpConfig::default()` and set fields.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct TcpConfig {
    /// A connection without packets for longer than this (capture time, ns) is finished; a later
    /// packet on the same ports starts a new connection. Default 5 minutes.
    pub idle_timeout_ns: i64,
    /// A closed, reset or refused connection is finished this long (capture time, ns) after its
    /// last packet; a later packet on the same ports starts a new connection. Default
    /// 5 minutes. Together with the idle timeout this keeps memory bounded by
    /// the connections open at once, not by the file size.
    pub closed_linger_ns: i64,
    /// A connection whose close completed (FINs both ways, delivered in order and
    /// acknowledged), or that was reset, is finished once it has been quiet this long (capture
    /// time, ns), rather than after `closed_linger_ns`: memory stays bounded by the connections open, not by
    /// those closed in the last minutes. Its entry stays, without state, for the rest of the
    /// linger time: a later packet of it is counted ([`TcpStats::late_after_close`]), a new
    /// SYN starts a new connection. Default 3 s.
    pub close_grace_ns: i64,
    /// Bound on concurrently tracked connections per tracker (shard); beyond it the least recently
    /// active are finished early and counted in [`TcpStats::evictions`]. Default
    /// 262 144 ([`crate::Analyzer`] divides it among its 64 shards).
    pub max_connections: usize,
    /// Out-of-order bytes buffered per direction; beyond it the holes are given up (gap events)
    /// and [`TcpStats::ooo_limit_hits`] counts it. Default 1 MiB.
    pub ooo_limit_bytes: usize,
    /// Out-of-order bytes buffered by all the connections of a tracker (shard) together; a
    /// direction that would buffer past it gives up its holes as at its own limit, counted in
    /// [`TcpStats::ooo_limit_hits`] too. Without it memory would grow with the connections
    /// times `ooo_limit_bytes` (262 144 connections × 2 MiB). Default 512 MiB
    /// ([`crate::Analyzer`] divides it among its 64 shards: 8 MiB each).
    pub ooo_total_limit_bytes: usize,
    /// Memory for unfinished messages (an HTTP head, a TLS record or handshake message, an
    /// HTTP/2 frame or header block, a DNS-over-TCP message, a probing buffer) and for the
    /// request records kept (HTTP/1.x requests waiting for a response, HTTP/2 streams open,
    /// final ones not yet taken) held by the application parsers of all the connections of a
    /// tracker (shard) together ([`StreamSink::held`]); a connection whose parser would hold
    /// more past it gives them up ([`StreamSink::shed`]), counted in
    /// [`TcpStats::app_total_limit_hits`]. Each parser bounds its own per connection; without
    /// this their sum would grow with the connections holding some. Default 512 MiB
    /// ([`crate::Analyzer`] divides it among its 64 shards).
    pub app_total_limit_bytes: usize,
    /// RTT samples kept per direction for the median (min/max stay exact). Default
    /// 4096.
    pub rtt_sample_limit: usize,
    /// Unacknowledged segments remembered per direction for RTT sampling. Default
    /// 4096.
    pub unacked_limit: usize,
    /// Memory of the unacknowledged-segment lists of all the connections of a tracker (shard)
    /// together (24 bytes an entry, counted by the lists' room); a direction whose list would
    /// grow past it remembers no more segments, counted in [`TcpStats::unacked_limit_hits`]
    /// as at `unacked_limit`. Without it memory would grow with the connections times
    /// `unacked_limit` (96 KiB a direction). Default 256 MiB ([`crate::Analyzer`] divides it
    /// among its 64 shards: 4 MiB each).
    pub unacked_total_limit_bytes: usize,
}

impl Default for TcpConfig {
    fn default() -> Self {
        TcpConfig {
            idle_timeout_ns: DEFAULT_IDLE_TIMEOUT_NS,
            closed_linger_ns: DEFAULT_CLOSED_LINGER_NS,
            close_grace_ns: DEFAULT_CLOSE_GRACE_NS,
            max_connections: DEFAULT_MAX_FLOWS,
            ooo_limit_bytes: DEFAULT_OOO_LIMIT_BYTES,
            ooo_total_limit_bytes: DEFAULT_OOO_TOTAL_LIMIT_BYTES,
            app_total_limit_bytes: DEFAULT_APP_TOTAL_LIMIT_BYTES,
            rtt_sample_limit: DEFAULT_RTT_SAMPLE_LIMIT,
            unacked_limit: DEFAULT_UNACKED_LIMIT,
            unacked_total_limit_bytes: DEFAULT_UNACKED_TOTAL_LIMIT_BYTES,
        }
    }
}

counters! {
    /// Counters of one tracker; [`TcpStats::merge`] adds another shard's.
    #[derive(Debug, Clone, Default, PartialEq, Eq)]
    pub struct TcpStats {
        /// Segments processed.
        pub segments: u64,
        /// Connections created.
        pub connections: u64,
        /// Connections picked up without the client's SYN.
        pub midstream_connections: u64,
        /// Connections started by a new SYN on the ports of a previous one.
        pub port_reuses: u64,
        /// Handshakes whose SYN came after its SYN/ACK in the capture (kept as one connection, see
        /// `REORDERED_HANDSHAKE_WINDOW_NS`); not counted in `midstream_connections`.
        pub reordered_handshakes: u64,
        /// Connections finished by the idle timeout before the end of the capture (found idle by a
        /// sweep, or a later packet came on the same ports).
        pub idle_timeouts: u64,
        /// Closed, reset or refused connections finished by a sweep once their linger time passed.
        pub closed_swept: u64,
        /// Connections finished by a sweep once their close had completed (both FINs delivered
        /// in order and acknowledged) or they were reset, and they were quiet for
        /// `TcpConfig::close_grace_ns`, rather than after their linger time.
        pub finished_at_close: u64,
        /// Packets that came, within the linger time, for a connection finished at its close
        /// (counted only: its record had left).
        pub late_after_close: u64,
        /// Connections finished early because the flow table was full.
        pub evictions: u64,
        /// Times an out-of-order buffer reached its limit.
        pub ooo_limit_hits: u64,
        /// Times a connection's unfinished application messages and waiting requests were
        /// given up because the connections of its tracker together held
        /// `TcpConfig::app_total_limit_bytes`.
        pub app_total_limit_hits: u64,
        /// RTT samples not kept for the median because the per-direction limit was reached.
        pub rtt_sample_limit_hits: u64,
        /// Data segments not tracked for RTT because the per-direction limit was reached.
        pub unacked_limit_hits: u64,
        /// Largest number of connections tracked at once.
        pub max_concurrent: u64 [max],
    }
}

/// What a [`SinkFactory`] knows about a connection when it opens its sink.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnMeta {
    /// The future `ConnectionRecord::conn_id`.
    pub conn_id: u64,
    /// Client endpoint.
    pub client: Endpoint,
    /// Server endpoint.
    pub server: Endpoint,
    /// Whether client/server were guessed from the ports.
    pub client_guessed: bool,
    /// Capture time of the first packet.
    pub start_ts: i64,
}

/// Creates one [`StreamSink`] per connection and receives it back, with the finished record,
/// when the connection ends (this is where protocol parsers emit their records).
pub trait SinkFactory {
    /// The per-connection consumer.
    type Sink: StreamSink;
    /// A new connection starts.
    /// Opening must have no other effect than making the sink: a connection whose only packet is
    /// its client's SYN opens its sink only when a second packet comes or when it ends.
    fn open(&mut self, conn: &ConnMeta) -> Self::Sink;
    /// The connection ended; all its data, gap and close events were delivered. The factory may
    /// refine what only the application layer knows: the roles (`ConnectionRecord::swap_roles`,
    /// `roles_from`, when its parser learned who the client is) and whether a reset connection
    /// failed (a request was unanswered); the record is stored after.
    fn close(&mut self, sink: Self::Sink, record: &mut ConnectionRecord);
    /// After each segment of a live connection: the factory may take from the sink what is
    /// over (finished requests of a long keep-alive connection) and return `true`; the
    /// tracker then reports it with [`TcpTracker::has_finished`]. Nothing by default.
    fn after_segment(&mut self, _sink: &mut Self::Sink) -> bool {
        false
    }
}

/// A factory whose sinks ignore the streams (connection records only).
#[derive(Debug, Clone, Copy, Default)]
pub struct NullSinkFactory;

impl SinkFactory for NullSinkFactory {
    type Sink = ();
    fn open(&mut self, _: &ConnMeta) {}
    fn close(&mut self, _: (), _: &mut ConnectionRecord) {}
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Terminal {
    Refused,
    Reset,
    Closed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum EndReason {
    EndOfCapture,
    Idle,
    Reused,
}

#[derive(Debug)]
struct DirState {
    an: FlowAnalysis,
    reasm: Reassembler,
    rtt: RttTracker,
    st: DirectionStats,
}

impl DirState {
    fn new(dir: Direction, ooo_limit: usize) -> Self {
        DirState {
            an: FlowAnalysis::default(),
            reasm: Reassembler::new(dir, ooo_limit),
            rtt: RttTracker::default(),
            st: DirectionStats::default(),
        }
    }
}

#[derive(Debug)]
struct Connection<S> {
    id: u64,
    client: Endpoint,
    server: Endpoint,
    client_guessed: bool,
    roles_from: RolesFrom,
    start_ts: i64,
    last_ts: i64,
    syn_count: u32,
    first_syn_ts: Option<i64>,
    last_syn_ts: Option<i64>,
    client_isn: Option<SeqNum>,
    synack_ts: Option<i64>,
    answered_syn_ts: Option<i64>,
    hs_ack_ts: Option<i64>,
    /// The most recent SYN (tshark's `ts_mru_syn`) when the handshake ACK came.
    hs_syn_ts: Option<i64>,
    /// tshark's `ts_mru_syn` and `ts_first_rtt`.
    mru_syn_ts: Option<i64>,
    first_rtt: Option<i64>,
    reset_by: Option<Side>,
    terminal: Option<Terminal>,
    /// The ACK number of the first SYN/ACK (the client ISN + 1 it answers).
    synack_ack: Option<SeqNum>,
    /// The client SYN came after its SYN/ACK in the capture.
    reordered_handshake: bool,
    /// What was known when the first RST came (for [`Failure`]).
    rst: Option<RstFacts>,
    /// Per direction: a segment showed the peer took part (an ACK without SYN, or data).
    engaged: [bool; 2],
    dirs: [DirState; 2],
    sink: S,
}

/// A connection that has seen only its client's first SYN (no ACK, FIN, RST nor payload): the
/// few facts of that SYN, no heap, no sink. A SYN flood leaves millions of these; the full
/// [`Connection`] is built from them (by replaying the SYN, so the result is the same as if it
/// had been built at once) when a second segment comes or the connection ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct SynOnly {
    /// Frame index of the SYN (the connection id).
    frame: u64,
    ts_ns: i64,
    seq: u32,
    flags: TcpFlags,
    window: u16,
    /// The client is the key's `lo` endpoint (else `hi`).
    client_is_lo: bool,
    options: HandshakeOptions,
}

impl SynOnly {
    /// The SYN-only state of a connection whose first segment is `seg`, when `seg` is a pure
    /// client SYN.
    fn of(seg: &TcpSegment, key: &FlowKey) -> Option<SynOnly> {
        let f = seg.flags;
        if !f.syn() || f.ack() || f.fin() || f.rst() || seg.payload_len > 0 {
            return None;
        }
        let src = Endpoint {
            ip: seg.ip.src,
            port: seg.src_port,
        };
        Some(SynOnly {
            frame: seg.frame,
            ts_ns: seg.ts_ns,
            seq: seg.seq,
            flags: f,
            window: seg.window,
            client_is_lo: key.endpoints().0 == src,
            options: HandshakeOptions::parse(seg.options),
        })
    }

    /// The full connection: built and fed the SYN as [`TcpTracker::on_segment`] would have.
    fn expand<S: StreamSink, F: SinkFactory<Sink = S>>(
        &self,
        key: &FlowKey,
        cfg: &TcpConfig,
        factory: &mut F,
    ) -> Connection<S> {
        let (lo, hi) = key.endpoints();
        let (client, server) = if self.client_is_lo {
            (lo, hi)
        } else {
            (hi, lo)
        };
        let seg = TcpSegment {
            ts_ns: self.ts_ns,
            frame: self.frame,
            ip: IpPair {
                src: client.ip,
                dst: server.ip,
            },
            src_port: client.port,
            dst_port: server.port,
            seq: self.seq,
            ack: 0,
            flags: self.flags,
            window: self.window,
            options: &[],
            payload: &[],
            payload_len: 0,
        };
        let (mut c, _) = Connection::new(&seg, cfg, factory);
        // A SYN carries no data: no unacknowledged segment to count.
        c.on_segment_with(&seg, cfg, Some(self.options), &mut 0);
        c
    }
}

/// A tracked connection: SYN-only (a few bytes inline) or full (boxed).
#[derive(Debug)]
enum Conn<S> {
    SynOnly(SynOnly),
    Full(Box<Connection<S>>),
    /// A connection finished [`TcpConfig::close_grace_ns`] after its close completed
    /// ([`Connection::close_completed`]): its record has left; the entry stays for the rest of
    /// the linger time so that late packets of it (a FIN resent because the last ACK was lost
    /// past the capture point) are counted ([`TcpStats::late_after_close`]) instead of starting
    /// a mid-stream connection.
    Finished,
}

impl<S: StreamSink> Conn<S> {
    /// The full connection, expanding a SYN-only one first; `None` when finished.
    fn full<F: SinkFactory<Sink = S>>(
        &mut self,
        key: &FlowKey,
        cfg: &TcpConfig,
        factory: &mut F,
    ) -> Option<&mut Connection<S>> {
        if let Conn::SynOnly(so) = *self {
            *self = Conn::Full(Box::new(so.expand(key, cfg, factory)));
        }
        match self {
            Conn::Full(c) => Some(c),
            Conn::SynOnly(_) | Conn::Finished => None,
        }
    }

    fn into_full<F: SinkFactory<Sink = S>>(
        self,
        key: &FlowKey,
        cfg: &TcpConfig,
        factory: &mut F,
    ) -> Option<Connection<S>> {
        match self {
            Conn::Full(c) => Some(*c),
            Conn::SynOnly(so) => Some(so.expand(key, cfg, factory)),
            Conn::Finished => None,
        }
    }

    /// Whether the connection is over ([`Connection::over`]).
    fn over(&self) -> bool {
        matches!(self, Conn::Full(c) if c.over())
    }

    /// Memory its out-of-order buffers hold ([`Connection::ooo_cost`]).
    fn ooo_cost(&self) -> usize {
        match self {
            Conn::Full(c) => c.ooo_cost(),
            _ => 0,
        }
    }

    /// Memory its unacknowledged-segment lists hold ([`Connection::rtt_cost`]).
    fn rtt_cost(&self) -> usize {
        match self {
            Conn::Full(c) => c.rtt_cost(),
            _ => 0,
        }
    }

    /// Memory its application parsers hold for unfinished messages and kept records
    /// ([`StreamSink::held`]).
    fn app_held(&self) -> usize {
        match self {
            Conn::Full(c) => c.sink.held(),
            _ => 0,
        }
    }

    /// Whether the connection was closed, reset or refused (a SYN-only one was not).
    fn ended(&self) -> bool {
        match self {
            Conn::Full(c) => c.terminal.is_some(),
            Conn::SynOnly(_) => false,
            Conn::Finished => true,
        }
    }
}

/// What was known when the first RST came.
#[derive(Debug, Clone, Copy)]
struct RstFacts {
    /// The server had sent payload.
    server_data: bool,
    /// The client's last payload came after the server's last payload.
    client_after_server: bool,
    /// A FIN had been seen (from either side).
    fin_before: bool,
}

fn guess_client(src: Endpoint, dst: Endpoint) -> bool {
    // true: the sender is the client.
    let (s, d) = (src.port, dst.port);
    match (s <= 1024, d <= 1024) {
        (true, false) => false,
        (false, true) => true,
        _ => s >= d,
    }
}

impl<S: StreamSink> Connection<S> {
    fn new<F: SinkFactory<Sink = S>>(
        seg: &TcpSegment,
        cfg: &TcpConfig,
        factory: &mut F,
    ) -> (Self, bool) {
        let src = Endpoint {
            ip: seg.ip.src,
            port: seg.src_port,
        };
        let dst = Endpoint {
            ip: seg.ip.dst,
            port: seg.dst_port,
        };
        let f = seg.flags;
        let (sender_is_client, roles_from) = match (f.syn(), f.ack()) {
            (true, false) => (true, RolesFrom::Syn),
            (true, true) => (false, RolesFrom::SynAck),
            _ => (guess_client(src, dst), RolesFrom::Ports),
        };
        let guessed = roles_from == RolesFrom::Ports;
        let (client, server) = if sender_is_client {
            (src, dst)
        } else {
            (dst, src)
        };
        let meta = ConnMeta {
            conn_id: seg.frame,
            client,
            server,
            client_guessed: guessed,
            start_ts: seg.ts_ns,
        };
        let sink = factory.open(&meta);
        let midstream = !f.syn() || f.ack();
        (
            Connection {
                id: seg.frame,
                client,
                server,
                client_guessed: guessed,
                roles_from,
                start_ts: seg.ts_ns,
                last_ts: seg.ts_ns,
                syn_count: 0,
                first_syn_ts: None,
                last_syn_ts: None,
                client_isn: None,
                synack_ts: None,
                answered_syn_ts: None,
                hs_ack_ts: None,
                hs_syn_ts: None,
                mru_syn_ts: None,
                first_rtt: None,
                reset_by: None,
                terminal: None,
                synack_ack: None,
                reordered_handshake: false,
                rst: None,
                engaged: [false; 2],
                dirs: [
                    DirState::new(Direction::ClientToServer, cfg.ooo_limit_bytes),
                    DirState::new(Direction::ServerToClient, cfg.ooo_limit_bytes),
                ],
                sink,
            },
            midstream,
        )
    }

    fn direction_of(&self, seg: &TcpSegment) -> Direction {
        if seg.ip.src == self.client.ip && seg.src_port == self.client.port {
            Direction::ClientToServer
        } else {
            Direction::ServerToClient
        }
    }

    /// Whether a SYN (without ACK) on these ports starts a new connection: a SYN with the
    /// client's ISN is a retransmission of the same attempt (also after a RST, as Windows
    /// retries a refused connect, and as tshark sees it); any other SYN after a close/RST, or
    /// with another ISN, or on a connection picked up mid-stream, starts a new one.
    /// A SYN from the server side during the handshake (simultaneous open, split handshake)
    /// belongs to the same connection.
    fn new_syn_starts_new(&self, seg: &TcpSegment) -> bool {
        if self.joins_reordered_handshake(seg) {
            return false;
        }
        match (self.client_isn, self.direction_of(seg)) {
            (Some(isn), Direction::ClientToServer) => isn != SeqNum(seg.seq),
            (Some(_), Direction::ServerToClient) => {
                self.terminal.is_some() || self.synack_ts.is_some() || self.hs_ack_ts.is_some()
            }
            (None, _) => self.terminal.is_some() || self.first_syn_ts.is_none(),
        }
    }

    /// A client SYN that the connection's SYN/ACK already answered (it came after it in the
    /// capture): same 4-tuple and direction, its ISN + 1 is the SYN/ACK's ACK number, within
    /// [`REORDERED_HANDSHAKE_WINDOW_NS`] of the first packet, no SYN seen yet, not ended.
    fn joins_reordered_handshake(&self, seg: &TcpSegment) -> bool {
        self.client_isn.is_none()
            && self.first_syn_ts.is_none()
            && self.terminal.is_none()
            && self.direction_of(seg) == Direction::ClientToServer
            && self.synack_ack == Some(SeqNum(seg.seq) + 1)
            && seg.ts_ns.saturating_sub(self.start_ts) <= REORDERED_HANDSHAKE_WINDOW_NS
    }

    /// Window scale shift for segments of `dir`, when both sides announced one.
    fn scale(&self, dir: Direction) -> Option<u8> {
        let mine = self.dirs[dir.index()].st.handshake_options?.window_scale?;
        let _ = self.dirs[dir.reverse().index()]
            .st
            .handshake_options?
            .window_scale?;
        Some(mine.min(14))
    }

    /// Memory both directions' out-of-order buffers hold (`Reassembler::buffered_cost`).
    fn ooo_cost(&self) -> usize {
        self.dirs.iter().map(|d| d.reasm.buffered_cost()).sum()
    }

    /// Memory both directions' unacknowledged-segment lists hold (`RttTracker::cost`).
    fn rtt_cost(&self) -> usize {
        self.dirs.iter().map(|d| d.rtt.cost()).sum()
    }

    /// [`Connection::on_segment_with`] with at most `room` bytes of out-of-order buffers for both
    /// directions together (the tracker's total limit less what its other connections hold);
    /// `rtt_held`: the memory of the unacknowledged-segment lists of all the tracker's
    /// connections, kept up to date.
    fn on_segment_within(
        &mut self,
        seg: &TcpSegment,
        cfg: &TcpConfig,
        room: usize,
        rtt_held: &mut usize,
    ) -> u32 {
        let [c, s] = &mut self.dirs;
        let (cc, sc) = (c.reasm.buffered_cost(), s.reasm.buffered_cost());
        c.reasm
            .set_limit(cfg.ooo_limit_bytes.min(room.saturating_sub(sc)));
        s.reasm
            .set_limit(cfg.ooo_limit_bytes.min(room.saturating_sub(cc)));
        self.on_segment_with(seg, cfg, None, rtt_held)
    }

    /// One segment of the connection, with the handshake options of a SYN given already parsed
    /// (when replaying a [`SynOnly`]) rather than read from `seg.options`.
    fn on_segment_with(
        &mut self,
        seg: &TcpSegment,
        cfg: &TcpConfig,
        syn_options: Option<HandshakeOptions>,
        rtt_held: &mut usize,
    ) -> u32 {
        let dir = self.direction_of(seg);
        let d = dir.index();
        let f: TcpFlags = seg.flags;
        let (syn, ack, rst, fin) = (f.syn(), f.ack(), f.rst(), f.fin());
        let ts = seg.ts_ns;
        self.last_ts = self.last_ts.max(ts);

        if syn {
            self.dirs[d].st.handshake_options =
                Some(syn_options.unwrap_or_else(|| HandshakeOptions::parse(seg.options)));
        }
        let window = match (syn, self.scale(dir)) {
            (false, Some(s)) => u32::from(seg.window) << s,
            _ => u32::from(seg.window),
        };
        let rev_scale_known = self.dirs[dir.reverse().index()]
            .st
            .handshake_options
            .is_some();
        let facts = analysis::SegFacts {
            ts_ns: ts,
            seq: seg.seq,
            ack: seg.ack,
            seglen: seg.payload_len,
            flags: f.0,
            window,
        };
        let flags = {
            let [c, s] = &mut self.dirs;
            let (fwd, rev) = if d == 0 { (c, s) } else { (s, c) };
            analysis::analyze(
                &mut fwd.an,
                &mut rev.an,
                facts,
                self.first_rtt,
                rev_scale_known,
            )
        };
        count(&mut self.dirs[d].st, flags, seg.payload_len);
        if !syn && (ack || seg.payload_len > 0) {
            self.engaged[d] = true;
        }

        // Handshake.
        if syn && !ack {
            if dir == Direction::ClientToServer && self.joins_reordered_handshake(seg) {
                // The SYN/ACK came first in the capture: this is the SYN it answered.
                self.reordered_handshake = true;
                self.syn_count = 1;
                self.first_syn_ts = Some(ts);
                self.last_syn_ts = Some(ts);
                self.answered_syn_ts = Some(ts);
                // The client's ACK may also have come before it: as tshark, measure to the
                // client's next ACK after the SYN.
                self.hs_ack_ts = None;
                self.hs_syn_ts = None;
            }
            self.mru_syn_ts = Some(ts);
            if dir == Direction::ClientToServer {
                if self.synack_ts.is_none() {
                    self.syn_count += 1;
                    self.first_syn_ts.get_or_insert(ts);
                    self.last_syn_ts = Some(ts);
                }
                self.client_isn.get_or_insert(SeqNum(seg.seq));
            }
        }
        if syn && ack && dir == Direction::ServerToClient && self.synack_ts.is_none() {
            self.synack_ts = Some(ts);
            self.synack_ack = Some(SeqNum(seg.ack));
            self.answered_syn_ts = self.last_syn_ts;
            if self.terminal == Some(Terminal::Refused) {
                // A retried SYN got through after all.
                self.terminal = None;
                self.reset_by = None;
            }
        }
        if ack && !syn {
            // tshark keeps a zero iRTT as "not measured yet" and takes the next ACK.
            if matches!(self.first_rtt, None | Some(0)) {
                if let Some(t) = self.mru_syn_ts {
                    self.first_rtt = Some(ts - t);
                }
            }
            if dir == Direction::ClientToServer
                && !rst
                && self.synack_ts.is_some()
                && self.hs_ack_ts.is_none()
            {
                self.hs_ack_ts = Some(ts);
                self.hs_syn_ts = self.mru_syn_ts;
            }
        }
        if fin && self.dirs[d].st.fin_ts.is_none() {
            self.dirs[d].st.fin_ts = Some(ts);
            if self.terminal.is_none() && self.dirs[1 - d].st.fin_ts.is_some() {
                self.terminal = Some(Terminal::Closed);
            }
        }
        if rst {
            if self.rst.is_none() {
                let (c, s) = (&self.dirs[0].reasm, &self.dirs[1].reasm);
                self.rst = Some(RstFacts {
                    server_data: s.first_ts.is_some(),
                    client_after_server: matches!((c.last_ts, s.last_ts),
                        (Some(c), Some(s)) if c > s),
                    fin_before: self.dirs[0].st.fin_ts.is_some()
                        || self.dirs[1].st.fin_ts.is_some(),
                });
            }
            self.reset_by.get_or_insert(dir.sender());
            if self.terminal.is_none() {
                self.terminal = Some(
                    if dir == Direction::ServerToClient
                        && self.first_syn_ts.is_some()
                        && self.synack_ts.is_none()
                    {
                        Terminal::Refused
                    } else {
                        Terminal::Reset
                    },
                );
            }
            // The streams end here.
            let [c, s] = &mut self.dirs;
            c.reasm.finish(ts, &mut self.sink);
            s.reasm.finish(ts, &mut self.sink);
            return flags;
        }

        // Reassembly and RTT for this direction's data.
        let data_seq = SeqNum(seg.seq) + u32::from(syn);
        let cap = seg
            .payload
            .get(..(seg.payload_len as usize).min(seg.payload.len()))
            .unwrap_or(&[]);
        {
            let ds = &mut self.dirs[d];
            if flags & analysis::KEEP_ALIVE == 0 || ds.reasm.started() {
                ds.reasm
                    .on_segment(ts, data_seq, cap, seg.payload_len, fin, &mut self.sink);
            }
            if seg.payload_len > 0 {
                let resent = flags & (analysis::ANY_RETRANSMISSION | analysis::OUT_OF_ORDER) != 0;
                ds.rtt.on_data(
                    data_seq,
                    data_seq + seg.payload_len,
                    ts,
                    resent,
                    (cfg.unacked_limit, cfg.unacked_total_limit_bytes, rtt_held),
                );
            }
        }
        if ack {
            let o = &mut self.dirs[1 - d];
            o.reasm.on_peer_ack(ts, SeqNum(seg.ack), &mut self.sink);
            o.rtt.on_ack(SeqNum(seg.ack), ts, cfg.rtt_sample_limit);
        }
        flags
    }

    /// The connection is over: its close completed (FINs both ways, each delivered in order
    /// and acknowledged), or it was reset. Nothing but late retransmissions (or, after a
    /// reset, what the peer sent before the reset reached it) can follow: the connection can
    /// be finished once quiet for the close grace.
    fn over(&self) -> bool {
        match self.terminal {
            Some(Terminal::Reset) => true,
            Some(Terminal::Closed) => self.dirs.iter().all(|d| d.reasm.closed_and_acked()),
            _ => false,
        }
    }

    fn outcome(&self, live_at_end: bool) -> Outcome {
        match self.terminal {
            Some(Terminal::Refused) => return Outcome::Refused,
            Some(Terminal::Reset) => return Outcome::Reset,
            _ => {}
        }
        let [c, s] = [&self.dirs[0].st, &self.dirs[1].st];
        // A handshake packet of the captured side and then traffic that needs the other side
        // (an ACK of its SYN/ACK, data): only one direction was captured. Without a handshake
        // packet a lone segment stays `midstream`.
        if (s.packets == 0 && self.engaged[0] && self.first_syn_ts.is_some())
            || (c.packets == 0 && self.engaged[1] && self.synack_ts.is_some())
        {
            return Outcome::OneDirection;
        }
        if self.first_syn_ts.is_some() && s.packets == 0 {
            return Outcome::Timeout;
        }
        if self.terminal == Some(Terminal::Closed) {
            return Outcome::Closed;
        }
        if self.first_syn_ts.is_none() {
            return Outcome::Midstream;
        }
        if live_at_end {
            Outcome::Open
        } else {
            Outcome::Established
        }
    }

    fn finish(mut self, live_at_end: bool, stats: &mut TcpStats) -> (ConnectionRecord, S) {
        let ts = self.last_ts;
        {
            let [c, s] = &mut self.dirs;
            c.reasm.finish(ts, &mut self.sink);
            s.reasm.finish(ts, &mut self.sink);
        }
        let outcome = self.outcome(live_at_end);
        let handshake = self.first_syn_ts.is_some() || self.synack_ts.is_some();
        let failure = match outcome {
            Outcome::Refused => Some(Failure::Refused),
            Outcome::Timeout => Some(Failure::Timeout),
            Outcome::Reset => match self.rst {
                Some(r) if !r.server_data && handshake => Some(Failure::ResetBeforeResponse),
                Some(r) if r.client_after_server && !r.fin_before => Some(Failure::ResetUnanswered),
                _ => None,
            },
            _ => None,
        };
        let [c, s] = &mut self.dirs;
        let c2s = dir_stats(c, stats);
        let s2c = dir_stats(s, stats);
        let sub = |a: Option<i64>, b: Option<i64>| Some(a? - b?);
        let hs_ack = self.hs_ack_ts;
        let rec = ConnectionRecord {
            conn_id: self.id,
            client_ip: self.client.ip,
            client_port: self.client.port,
            server_ip: self.server.ip,
            server_port: self.server.port,
            ip_version: match self.client.ip {
                IpAddr::V4(_) => 4,
                IpAddr::V6(_) => 6,
            },
            start_ts: self.start_ts,
            end_ts: self.last_ts,
            outcome,
            reset_by: self.reset_by,
            failure,
            handshake_seen: self.first_syn_ts.is_some(),
            client_guessed: self.client_guessed,
            roles_from: self.roles_from,
            syn_retries: self.syn_count.saturating_sub(1),
            connect_ns: sub(hs_ack, self.first_syn_ts).filter(|d| *d >= 0),
            // A reordered handshake has its SYN after the SYN/ACK: that span is not measured.
            syn_to_synack_ns: sub(self.synack_ts, self.answered_syn_ts).filter(|d| *d >= 0),
            synack_to_ack_ns: sub(hs_ack, self.synack_ts),
            syn_to_ack_ns: sub(hs_ack, self.hs_syn_ts).filter(|d| *d >= 0),
            c2s,
            s2c,
        };
        (rec, self.sink)
    }
}

fn count(st: &mut DirectionStats, flags: u32, len: u32) {
    use analysis::*;
    let on = |b: u32| u64::from(flags & b != 0);
    st.packets += 1;
    let re = on(ANY_RETRANSMISSION);
    st.retransmissions += re;
    st.retransmitted_bytes += re * u64::from(len);
    st.fast_retransmissions += on(FAST_RETRANSMISSION);
    st.spurious_retransmissions += on(SPURIOUS_RETRANSMISSION);
    st.out_of_order += on(OUT_OF_ORDER);
    st.dup_acks += on(DUPLICATE_ACK);
    st.zero_windows += on(ZERO_WINDOW);
    st.zero_window_probes += on(ZERO_WINDOW_PROBE);
    st.keep_alives += on(KEEP_ALIVE);
    st.window_updates += on(WINDOW_UPDATE);
    st.window_full += on(WINDOW_FULL);
    st.lost_segments += on(LOST_SEGMENT);
    st.ack_lost_segments += on(ACK_LOST_SEGMENT);
}

fn dir_stats(ds: &mut DirState, stats: &mut TcpStats) -> DirectionStats {
    let mut st = std::mem::take(&mut ds.st);
    st.payload_bytes = ds.reasm.payload_bytes;
    st.missed_bytes = ds.reasm.missed_bytes;
    st.inconsistent_overlaps = ds.reasm.inconsistent_overlaps;
    st.first_payload_ts = ds.reasm.first_ts;
    st.last_payload_ts = ds.reasm.last_ts;
    st.rtt_samples = ds.rtt.count;
    st.rtt_min_ns = ds.rtt.min;
    st.rtt_max_ns = ds.rtt.max;
    st.rtt_median_ns = ds.rtt.median();
    stats.ooo_limit_hits += ds.reasm.limit_hits;
    stats.rtt_sample_limit_hits += ds.rtt.sample_limit_hits;
    stats.unacked_limit_hits += ds.rtt.unacked_limit_hits;
    st
}

/// Per-shard TCP driver: owns a flow table (no locks), turns segments into connection records.
#[derive(Debug)]
pub struct TcpTracker<F: SinkFactory = NullSinkFactory> {
    cfg: TcpConfig,
    table: FlowTable<Conn<F::Sink>>,
    factory: F,
    records: Vec<ConnectionRecord>,
    stats: TcpStats,
    /// Latest capture time seen (ns); the clock of the sweeps.
    now: i64,
    /// The factory took something from a live connection's sink since the last
    /// `take_finished`.
    taken: bool,
    /// Capture time of the next sweep.
    next_sweep: i64,
    /// Memory the out-of-order buffers of its connections hold together
    /// ([`TcpConfig::ooo_total_limit_bytes`]).
    ooo_held: usize,
    /// Memory the application parsers of its connections hold together
    /// ([`TcpConfig::app_total_limit_bytes`]).
    app_held: usize,
    /// Memory the unacknowledged-segment lists of its connections hold together
    /// ([`TcpConfig::unacked_total_limit_bytes`]).
    rtt_held: usize,
    /// Test hook: (frame, analysis flags) of every segment.
    #[cfg(test)]
    trace: Option<Vec<(u64, u32)>>,
}

/// What [`TcpTracker::finish`] returns.
#[derive(Debug)]
pub struct TcpOutput<F> {
    /// One record per connection, sorted by `conn_id`.
    pub records: Vec<ConnectionRecord>,
    /// Counters (merge shards with [`TcpStats::merge`]).
    pub stats: TcpStats,
    /// The sink factory, holding whatever the sinks produced.
    pub factory: F,
}

impl TcpTracker<NullSinkFactory> {
    #[cfg_attr(not(any(test, feature = "fuzzing")), allow(dead_code))] // used by tests and fuzzing
    /// A tracker that produces connection records only.
    pub fn new(cfg: TcpConfig) -> Self {
        TcpTracker::with_sinks(cfg, NullSinkFactory)
    }
}

impl<F: SinkFactory> TcpTracker<F> {
    /// A tracker that opens a stream sink per connection with `factory`.
    pub fn with_sinks(cfg: TcpConfig, factory: F) -> Self {
        TcpTracker {
            table: FlowTable::new(cfg.max_connections),
            cfg,
            factory,
            records: Vec::new(),
            taken: false,
            stats: TcpStats::default(),
            now: i64::MIN,
            next_sweep: i64::MIN,
            ooo_held: 0,
            app_held: 0,
            rtt_held: 0,
            #[cfg(test)]
            trace: None,
        }
    }

    #[cfg_attr(not(any(test, feature = "fuzzing")), allow(dead_code))] // used by tests and fuzzing
    /// Counters so far.
    pub fn stats(&self) -> &TcpStats {
        &self.stats
    }

    /// Whether connections finished since the last [`take_finished`](Self::take_finished)
    /// (after a segment: idle, closed, reused or evicted ones), or the factory took something
    /// from a live connection's sink ([`SinkFactory::after_segment`]).
    pub fn has_finished(&self) -> bool {
        self.taken || !self.records.is_empty()
    }

    /// The records of the connections finished since the last call, in the order they ended,
    /// and the factory, whose sinks were closed for them ([`SinkFactory::close`]).
    pub fn take_finished(&mut self) -> (Vec<ConnectionRecord>, &mut F) {
        self.taken = false;
        (std::mem::take(&mut self.records), &mut self.factory)
    }

    /// (SYN-only, full) connections in the table (tests).
    #[cfg(test)]
    fn table_kinds(&self) -> (usize, usize) {
        let syn_only = self
            .table
            .entries()
            .filter(|e| matches!(e.value, Conn::SynOnly(_)))
            .count();
        (syn_only, self.table.len() - syn_only)
    }

    /// Process one segment (segments must come in capture order for their connection).
    #[cfg(any(test, feature = "fuzzing"))]
    pub fn on_segment(&mut self, seg: &TcpSegment) {
        self.on_segment_keyed(seg, FlowKey::new(&seg.ip, seg.src_port, seg.dst_port));
    }

    /// [`TcpTracker::on_segment`] with the segment's key, already made by the reader.
    pub(crate) fn on_segment_keyed(&mut self, seg: &TcpSegment, key: FlowKey) {
        debug_assert_eq!(key, FlowKey::new(&seg.ip, seg.src_port, seg.dst_port));
        self.stats.segments += 1;
        if seg.ts_ns > self.now {
            self.now = seg.ts_ns;
            if self.now >= self.next_sweep {
                if self.next_sweep != i64::MIN {
                    self.sweep();
                }
                self.next_sweep = self.now.saturating_add(SWEEP_INTERVAL_NS);
            }
        }
        let mut end: Option<EndReason> = None;
        // The one hash lookup of this segment; the rest goes by slot.
        let mut slot = self.table.find(&key);
        if let Some(e) = slot.and_then(|i| self.table.at_mut(i)) {
            let new_syn = seg.flags.syn() && !seg.flags.ack();
            if matches!(e.value, Conn::Finished) {
                if !new_syn && seg.ts_ns.saturating_sub(e.last_seen) <= self.cfg.closed_linger_ns {
                    self.stats.late_after_close += 1;
                    e.last_seen = e.last_seen.max(seg.ts_ns);
                    return;
                }
                // A new connection on the same ports, or a packet after the linger time (which
                // starts a mid-stream connection, as after a sweep).
                self.stats.port_reuses += u64::from(new_syn);
                self.table.remove(&key);
                slot = None;
            } else if seg.ts_ns.saturating_sub(e.last_seen) > self.cfg.idle_timeout_ns {
                end = Some(EndReason::Idle);
            } else if new_syn
                && e.value
                    .full(&key, &self.cfg, &mut self.factory)
                    .is_some_and(|c| c.new_syn_starts_new(seg))
            {
                end = Some(EndReason::Reused);
            }
        }
        if let Some(reason) = end {
            slot = None;
            if let Some(e) = self.table.remove(&key) {
                match reason {
                    EndReason::Idle => self.stats.idle_timeouts += 1,
                    _ => self.stats.port_reuses += 1,
                }
                self.end(key, e, reason);
            }
        }
        let slot = match slot {
            Some(i) => {
                self.table.touch_at(i);
                i
            }
            None => {
                if self.table.is_full() {
                    let (factory, records, stats, cfg, held, app_held, rtt_held) = (
                        &mut self.factory,
                        &mut self.records,
                        &mut self.stats,
                        &self.cfg,
                        &mut self.ooo_held,
                        &mut self.app_held,
                        &mut self.rtt_held,
                    );
                    self.table.make_room(|k, e| {
                        *held = held.saturating_sub(e.value.ooo_cost());
                        *app_held = app_held.saturating_sub(e.value.app_held());
                        *rtt_held = rtt_held.saturating_sub(e.value.rtt_cost());
                        if !matches!(e.value, Conn::Finished) {
                            stats.evictions += 1;
                            end_into(factory, records, stats, cfg, k, e, false);
                        }
                    });
                }
                self.stats.connections += 1;
                if let Some(so) = SynOnly::of(seg, &key) {
                    // Nothing more to do for a lone SYN until a second segment comes.
                    self.table.insert_new(
                        key,
                        FlowEntry {
                            last_seen: seg.ts_ns,
                            id: seg.frame,
                            value: Conn::SynOnly(so),
                        },
                    );
                    self.stats.max_concurrent =
                        self.stats.max_concurrent.max(self.table.len() as u64);
                    #[cfg(test)]
                    if let Some(t) = &mut self.trace {
                        // A lone first SYN has no analysis flags.
                        t.push((seg.frame, 0));
                    }
                    return;
                }
                let (conn, midstream) = Connection::new(seg, &self.cfg, &mut self.factory);
                self.stats.midstream_connections += u64::from(midstream);
                let i = self.table.insert_new(
                    key,
                    FlowEntry {
                        last_seen: seg.ts_ns,
                        id: conn.id,
                        value: Conn::Full(Box::new(conn)),
                    },
                );
                self.stats.max_concurrent = self.stats.max_concurrent.max(self.table.len() as u64);
                i
            }
        };
        let Some(e) = self.table.at_mut(slot) else {
            return;
        };
        e.last_seen = e.last_seen.max(seg.ts_ns);
        let Some(conn) = e.value.full(&key, &self.cfg, &mut self.factory) else {
            return;
        };
        let was_ended = conn.terminal.is_some();
        let before = conn.ooo_cost();
        let others = self.ooo_held.saturating_sub(before);
        let room = self.cfg.ooo_total_limit_bytes.saturating_sub(others);
        let app_before = conn.sink.held();
        let app_others = self.app_held.saturating_sub(app_before);
        let _flags = conn.on_segment_within(seg, &self.cfg, room, &mut self.rtt_held);
        self.ooo_held = others + conn.ooo_cost();
        if !was_ended && conn.terminal.is_some() {
            // Closed, reset or refused: it may stay for the linger time; keep it small.
            for d in &mut conn.dirs {
                self.rtt_held = self.rtt_held.saturating_sub(d.rtt.compact());
            }
        }
        self.taken |= self.factory.after_segment(&mut conn.sink);
        let mut app_after = conn.sink.held();
        if app_after > app_before
            && app_others.saturating_add(app_after) > self.cfg.app_total_limit_bytes
        {
            conn.sink.shed();
            self.stats.app_total_limit_hits += 1;
            // What was given up is final: it leaves now.
            self.taken |= self.factory.after_segment(&mut conn.sink);
            app_after = conn.sink.held();
        }
        self.app_held = app_others + app_after;
        #[cfg(test)]
        if let Some(t) = &mut self.trace {
            t.push((seg.frame, _flags));
        }
    }

    /// Finish the connections idle for longer than the idle timeout, and the closed ones whose
    /// linger time passed. Depends only on this tracker's segments, so the output does not
    /// depend on how trackers are spread over threads.
    fn sweep(&mut self) {
        let (now, idle, linger) = (
            self.now,
            self.cfg.idle_timeout_ns,
            self.cfg.closed_linger_ns,
        );
        let grace = self.cfg.close_grace_ns;
        let done = self.table.drain_where(|e| {
            let quiet = now.saturating_sub(e.last_seen);
            quiet > idle || (e.value.ended() && quiet > linger) || (e.value.over() && quiet > grace)
        });
        for (k, e) in done {
            if matches!(e.value, Conn::Finished) {
                continue;
            }
            let quiet = now.saturating_sub(e.last_seen);
            if e.value.over() && quiet <= linger {
                // Finished now, not after the linger time: memory stays bounded by the open
                // connections. A light entry stays for the rest of the linger time.
                self.stats.finished_at_close += 1;
                let tombstone = FlowEntry {
                    last_seen: e.last_seen,
                    id: e.id,
                    value: Conn::Finished,
                };
                self.end(k, e, EndReason::Idle);
                self.table.insert_new(k, tombstone);
                continue;
            }
            if e.value.ended() {
                self.stats.closed_swept += 1;
            } else {
                self.stats.idle_timeouts += 1;
            }
            self.end(k, e, EndReason::Idle);
        }
    }

    fn end(&mut self, key: FlowKey, e: FlowEntry<Conn<F::Sink>>, reason: EndReason) {
        self.ooo_held = self.ooo_held.saturating_sub(e.value.ooo_cost());
        self.app_held = self.app_held.saturating_sub(e.value.app_held());
        self.rtt_held = self.rtt_held.saturating_sub(e.value.rtt_cost());
        let live = reason == EndReason::EndOfCapture;
        end_into(
            &mut self.factory,
            &mut self.records,
            &mut self.stats,
            &self.cfg,
            key,
            e,
            live,
        );
    }

    /// End of the capture at `end_ts` (capture time of the last packet): finish every
    /// connection. A connection whose last packet is within the idle timeout of `end_ts` is
    /// "live at the end" (outcome `Open` rather than `Established`).
    pub fn finish(mut self, end_ts: i64) -> TcpOutput<F> {
        for (k, e) in self.table.drain_sorted() {
            let live = end_ts.saturating_sub(e.last_seen) <= self.cfg.idle_timeout_ns;
            end_into(
                &mut self.factory,
                &mut self.records,
                &mut self.stats,
                &self.cfg,
                k,
                e,
                live,
            );
        }
        self.records.sort_unstable_by_key(|r| r.conn_id);
        TcpOutput {
            records: self.records,
            stats: self.stats,
            factory: self.factory,
        }
    }
}

fn end_into<F: SinkFactory>(
    factory: &mut F,
    records: &mut Vec<ConnectionRecord>,
    stats: &mut TcpStats,
    cfg: &TcpConfig,
    key: FlowKey,
    e: FlowEntry<Conn<F::Sink>>,
    live: bool,
) {
    let Some(conn) = e.value.into_full(&key, cfg, factory) else {
        // Finished at its close: its record has left.
        return;
    };
    if conn.reordered_handshake {
        stats.reordered_handshakes += 1;
        stats.midstream_connections = stats.midstream_connections.saturating_sub(1);
    }
    let (mut rec, sink) = conn.finish(live, stats);
    factory.close(sink, &mut rec);
    records.push(rec);
}

#[cfg(test)]
mod tests;
