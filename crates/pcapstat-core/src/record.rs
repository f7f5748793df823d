//! Plain output records. `Option` means "not observed" — never `0` or `""` for absent.
//! Times are `i64` nanoseconds (absolute times: since the Unix epoch, from the capture).

use std::net::IpAddr;

use crate::tcp::HandshakeOptions;

/// How a TCP connection ended, as far as the capture shows. Exactly one applies, tested in
/// this order:
///
/// 1. [`Refused`](Outcome::Refused): the server answered the client's SYN with RST (no SYN/ACK
///    was seen before it, nor after it in answer to a retried SYN).
/// 2. [`Timeout`](Outcome::Timeout): the client sent SYN(s) and nothing at all came back from
///    the server before tracking ended.
/// 3. [`Reset`](Outcome::Reset): a RST after the SYN/ACK (or on a mid-stream connection),
///    before FINs were seen in both directions; see `reset_by`.
/// 4. [`Closed`](Outcome::Closed): FIN seen in both directions (a RST after both FINs does not
///    change this).
/// 5. [`Midstream`](Outcome::Midstream): no SYN from the client was seen (picked up
///    mid-stream) and none of the above happened.
/// 6. [`Open`](Outcome::Open): the server answered the SYN (normally with a SYN/ACK) and the
///    connection was still live at the end of the capture (its last packet within the idle
///    timeout of the end).
/// 7. [`Established`](Outcome::Established): the server answered the SYN but tracking of the
///    connection stopped *before* the end of the capture without a FIN pair or RST: it went
///    idle past the idle timeout, was evicted by the flow-table bound, or its ports were reused
///    by a new SYN. The handshake completed; how it ended is unknown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// Handshake completed; tracking ended before the end of capture without FIN/RST.
    Established,
    /// RST answering the SYN.
    Refused,
    /// SYN(s) without answer.
    Timeout,
    /// RST after establishment (see `reset_by`).
    Reset,
    /// FIN from both sides.
    Closed,
    /// Handshake completed and still open at the end of the capture.
    Open,
    /// No SYN seen: picked up mid-stream, not closed or reset.
    Midstream,
}

impl Outcome {
    /// Lower-case name used in tables.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Established => "established",
            Outcome::Refused => "refused",
            Outcome::Timeout => "timeout",
            Outcome::Reset => "reset",
            Outcome::Closed => "closed",
            Outcome::Open => "open",
            Outcome::Midstream => "midstream",
        }
    }
}

/// Which side of a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Side {
    /// The client (SYN sender, or the guessed client).
    Client,
    /// The server.
    Server,
}

/// Statistics of one direction of a TCP connection.
///
/// The `tcp.analysis`-style counters follow tshark's definitions (see
/// [`crate::tcp`] module docs): `retransmissions` counts every segment tshark would match
/// with the display filter `tcp.analysis.retransmission`, which *includes* fast and spurious
/// retransmissions; `fast_retransmissions` and `spurious_retransmissions` are subsets.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DirectionStats {
    /// Segments sent in this direction.
    pub packets: u64,
    /// Unique stream bytes seen in the capture (on-wire lengths, so a snap-length-cut tail
    /// counts; retransmitted copies excluded; bytes lost before the capture point are not
    /// included — they are in `missed_bytes`). Data after a RST is still counted here (but not
    /// delivered to the stream sink).
    pub payload_bytes: u64,
    /// Segments flagged as retransmission (tshark `tcp.analysis.retransmission`, incl. fast and spurious).
    pub retransmissions: u64,
    /// On-wire payload bytes of those segments.
    pub retransmitted_bytes: u64,
    /// Segments flagged `tcp.analysis.fast_retransmission`.
    pub fast_retransmissions: u64,
    /// Segments flagged `tcp.analysis.spurious_retransmission`.
    pub spurious_retransmissions: u64,
    /// Segments flagged `tcp.analysis.out_of_order`.
    pub out_of_order: u64,
    /// Segments flagged `tcp.analysis.duplicate_ack`.
    pub dup_acks: u64,
    /// Segments flagged `tcp.analysis.zero_window`.
    pub zero_windows: u64,
    /// Segments flagged `tcp.analysis.zero_window_probe`.
    pub zero_window_probes: u64,
    /// Segments flagged `tcp.analysis.keep_alive` (never counted as retransmissions).
    pub keep_alives: u64,
    /// Segments flagged `tcp.analysis.window_update`.
    pub window_updates: u64,
    /// Segments flagged `tcp.analysis.window_full`.
    pub window_full: u64,
    /// Segments flagged `tcp.analysis.lost_segment` (a hole before them in sequence space).
    pub lost_segments: u64,
    /// Segments flagged `tcp.analysis.ack_lost_segment` (ACK for data the capture did not see).
    pub ack_lost_segments: u64,
    /// Stream bytes never captured (holes never filled, snap-length-cut tails), delivered to the
    /// stream consumer as gaps.
    pub missed_bytes: u64,
    /// Retransmitted bytes overlapping buffered out-of-order bytes with different content (the
    /// first copy is kept); counted once per segment.
    pub inconsistent_overlaps: u64,
    /// Number of RTT samples (data segment → first ACK covering it; Karn: segments that were
    /// retransmitted or reordered give no sample). For `_c2s` this is client data acknowledged by the server.
    pub rtt_samples: u64,
    /// Smallest RTT sample (ns).
    pub rtt_min_ns: Option<i64>,
    /// Median RTT sample (ns, lower median); computed over the first `rtt_sample_limit` samples.
    pub rtt_median_ns: Option<i64>,
    /// Largest RTT sample (ns).
    pub rtt_max_ns: Option<i64>,
    /// Options of this side's SYN (or SYN/ACK); `None` when that segment was not seen.
    pub handshake_options: Option<HandshakeOptions>,
    /// Capture time of the first segment carrying new payload bytes in this direction.
    pub first_payload_ts: Option<i64>,
    /// Capture time of the last segment carrying new payload bytes in this direction.
    pub last_payload_ts: Option<i64>,
    /// Capture time of this direction's first FIN.
    pub fin_ts: Option<i64>,
}

/// One row per TCP connection.
#[derive(Debug, Clone, PartialEq)]
pub struct ConnectionRecord {
    /// Deterministic id: the frame index of the connection's first packet (unique in a capture,
    /// independent of the number of threads).
    pub conn_id: u64,
    /// Client address.
    pub client_ip: IpAddr,
    /// Client port.
    pub client_port: u16,
    /// Server address.
    pub server_ip: IpAddr,
    /// Server port.
    pub server_port: u16,
    /// 4 or 6.
    pub ip_version: u8,
    /// Capture time of the first packet (ns).
    pub start_ts: i64,
    /// Capture time of the last packet (ns).
    pub end_ts: i64,
    /// How the connection ended (see [`Outcome`]).
    pub outcome: Outcome,
    /// Who sent the first RST, if any RST was seen.
    pub reset_by: Option<Side>,
    /// Whether the client's SYN was seen.
    pub handshake_seen: bool,
    /// Whether client and server were guessed from the ports (no SYN nor SYN/ACK seen).
    pub client_guessed: bool,
    /// SYNs sent by the client before the SYN/ACK (or in total, if none came), minus one.
    pub syn_retries: u32,
    /// First SYN → the client's ACK completing the handshake (includes SYN retries), ns.
    pub connect_ns: Option<i64>,
    /// Answered SYN (the last SYN before the SYN/ACK) → SYN/ACK, ns.
    pub syn_to_synack_ns: Option<i64>,
    /// SYN/ACK → the client's handshake ACK, ns.
    pub synack_to_ack_ns: Option<i64>,
    /// The most recent SYN before the client's handshake ACK → that ACK, ns (a SYN retransmitted
    /// after the SYN/ACK counts, as in tshark). Equals tshark's `tcp.analysis.initial_rtt` for
    /// connections whose handshake completed (except a zero iRTT, which tshark skips).
    pub syn_to_ack_ns: Option<i64>,
    /// Client → server statistics.
    pub c2s: DirectionStats,
    /// Server → client statistics.
    pub s2c: DirectionStats,
}
