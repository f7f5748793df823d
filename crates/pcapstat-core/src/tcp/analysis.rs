//! A faithful mirror of Wireshark's `tcp_analyze_sequence_number()` (epan/dissectors/packet-tcp.c)
//! so that our per-segment flags equal tshark's `tcp.analysis.*` fields.
//!
//! Deliberate fidelity choices (keep them; they are what tshark does):
//! * `nextseq`, `lastack` and `maxseqtobeacked` use 0 as "unset", exactly like tshark (a real
//!   value 0 is treated as unset too). `lastack` is taken from every segment, even without the
//!   ACK flag (a SYN usually carries ack 0, so it stays "unset").
//! * SACK blocks are ignored: a retransmission of a segment the receiver already SACKed is
//!   still a plain retransmission, and a segment is spurious only when *cumulatively* acked.
//! * A fast retransmission needs ≥ 2 duplicate ACKs (not 3) and must come within 20 ms of the
//!   last ACK in the reverse direction; out-of-order needs the segment within one iRTT (3 ms
//!   when no iRTT is known) of the segment that set the highest sequence number.
//! * The comparison `maxseqtobeacked > nextseq` in the "ACKed unseen segment" test is a plain
//!   (non-modular) comparison in tshark, mirrored here.

use super::seq::SeqNum;

/// tshark `tcp.analysis.retransmission` (set alone: a generic retransmission).
pub(crate) const RETRANSMISSION: u32 = 1 << 0;
/// tshark `tcp.analysis.fast_retransmission`.
pub(crate) const FAST_RETRANSMISSION: u32 = 1 << 1;
/// tshark `tcp.analysis.spurious_retransmission`.
pub(crate) const SPURIOUS_RETRANSMISSION: u32 = 1 << 2;
/// tshark `tcp.analysis.out_of_order`.
pub(crate) const OUT_OF_ORDER: u32 = 1 << 3;
/// tshark `tcp.analysis.duplicate_ack`.
pub(crate) const DUPLICATE_ACK: u32 = 1 << 4;
/// tshark `tcp.analysis.zero_window`.
pub(crate) const ZERO_WINDOW: u32 = 1 << 5;
/// tshark `tcp.analysis.zero_window_probe`.
pub(crate) const ZERO_WINDOW_PROBE: u32 = 1 << 6;
/// tshark `tcp.analysis.zero_window_probe_ack`.
pub(crate) const ZERO_WINDOW_PROBE_ACK: u32 = 1 << 7;
/// tshark `tcp.analysis.keep_alive`.
pub(crate) const KEEP_ALIVE: u32 = 1 << 8;
/// tshark `tcp.analysis.keep_alive_ack`.
pub(crate) const KEEP_ALIVE_ACK: u32 = 1 << 9;
/// tshark `tcp.analysis.window_update`.
pub(crate) const WINDOW_UPDATE: u32 = 1 << 10;
/// tshark `tcp.analysis.window_full`.
pub(crate) const WINDOW_FULL: u32 = 1 << 11;
/// tshark `tcp.analysis.lost_segment`.
pub(crate) const LOST_SEGMENT: u32 = 1 << 12;
/// tshark `tcp.analysis.ack_lost_segment`.
pub(crate) const ACK_LOST_SEGMENT: u32 = 1 << 13;

/// Any flavour of retransmission (what `tcp.analysis.retransmission` matches as a filter).
pub(crate) const ANY_RETRANSMISSION: u32 =
    RETRANSMISSION | FAST_RETRANSMISSION | SPURIOUS_RETRANSMISSION;

const TH_FIN: u16 = 0x01;
const TH_SYN: u16 = 0x02;
const TH_RST: u16 = 0x04;
const TH_ACK: u16 = 0x10;

/// tshark's per-direction analysis state (`tcp_flow_t` + `tcp_analyze_seq_flow_info_t`).
#[derive(Debug, Clone, Copy)]
pub(crate) struct FlowAnalysis {
    nextseq: u32,
    nextseqtime: i64,
    lastack: u32,
    lastacktime: i64,
    dupacknum: i32,
    maxseqtobeacked: u32,
    /// Last (scaled) window; tshark initialises it to G_MAXUINT32.
    window: u32,
    lastsegmentflags: u32,
}

impl Default for FlowAnalysis {
    fn default() -> Self {
        FlowAnalysis {
            nextseq: 0,
            nextseqtime: 0,
            lastack: 0,
            lastacktime: 0,
            dupacknum: 0,
            maxseqtobeacked: 0,
            window: u32::MAX,
            lastsegmentflags: 0,
        }
    }
}

/// The fields of one segment the analysis looks at.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SegFacts {
    pub ts_ns: i64,
    pub seq: u32,
    pub ack: u32,
    /// On-wire payload length.
    pub seglen: u32,
    pub flags: u16,
    /// Window after scaling (tshark passes the scaled window).
    pub window: u32,
}

#[inline]
fn elapsed_below(now: i64, then: i64, thres: i64) -> bool {
    // tshark computes the difference as guint64: a negative one becomes huge.
    let t = now.wrapping_sub(then);
    (0..thres).contains(&t)
}

/// Analyse one segment sent in direction `fwd`; returns the set of flags.
/// `first_rtt_ns` is tshark's `ts_first_rtt` (None while unknown).
/// `rev_scale_known` is tshark's `rev->win_scale != -1`.
pub(crate) fn analyze(
    fwd: &mut FlowAnalysis,
    rev: &mut FlowAnalysis,
    s: SegFacts,
    first_rtt_ns: Option<i64>,
    rev_scale_known: bool,
) -> u32 {
    let mut f = 0u32;
    let seq = s.seq;
    let ack = s.ack;
    let seglen = s.seglen;
    let sfr = s.flags & (TH_SYN | TH_FIN | TH_RST) != 0;

    'fwd: {
        // ZERO WINDOW PROBE
        if seglen == 1 && seq == fwd.nextseq && rev.window == 0 {
            f |= ZERO_WINDOW_PROBE;
            break 'fwd;
        }
        // ZERO WINDOW
        if s.window == 0 && !sfr {
            f |= ZERO_WINDOW;
        }
        // LOST PACKET
        if fwd.nextseq != 0 && SeqNum(seq).gt(SeqNum(fwd.nextseq)) && s.flags & TH_RST == 0 {
            f |= LOST_SEGMENT;
        }
        // KEEP ALIVE
        if seglen <= 1 && seq == fwd.nextseq.wrapping_sub(1) && !sfr {
            f |= KEEP_ALIVE;
        }
        // WINDOW UPDATE
        if seglen == 0
            && s.window != 0
            && s.window != fwd.window
            && seq == fwd.nextseq
            && ack == fwd.lastack
            && !sfr
        {
            f |= WINDOW_UPDATE;
        }
        // WINDOW FULL (our window values are already scaled)
        if seglen > 0
            && rev_scale_known
            && seq.wrapping_add(seglen) == rev.lastack.wrapping_add(rev.window)
            && !sfr
        {
            f |= WINDOW_FULL;
        }
        let same_as_last = seglen == 0
            && s.window == fwd.window
            && seq == fwd.nextseq
            && ack == fwd.lastack
            && !sfr;
        // KEEP ALIVE ACK
        if same_as_last && s.window != 0 && rev.lastsegmentflags & KEEP_ALIVE != 0 {
            f |= KEEP_ALIVE_ACK;
            break 'fwd;
        }
        // ZERO WINDOW PROBE ACK
        if same_as_last && s.window == 0 && rev.lastsegmentflags & ZERO_WINDOW_PROBE != 0 {
            f |= ZERO_WINDOW_PROBE_ACK;
            break 'fwd;
        }
        // DUPLICATE ACK
        if same_as_last && s.window != 0 {
            fwd.dupacknum = if fwd.dupacknum == -1 {
                1
            } else {
                fwd.dupacknum.saturating_add(1)
            };
            f |= DUPLICATE_ACK;
        }
    }
    // finished_fwd: the ack changed → reset the dup-ack counter
    if ack != fwd.lastack {
        fwd.dupacknum = 0;
    }

    // ACKED LOST PACKET
    if rev.maxseqtobeacked != 0
        && SeqNum(ack).gt(SeqNum(rev.maxseqtobeacked))
        && s.flags & TH_ACK != 0
    {
        if rev.maxseqtobeacked > rev.nextseq {
            rev.maxseqtobeacked = rev.nextseq;
            f |= ACK_LOST_SEGMENT;
        } else {
            if rev.dupacknum == 0 {
                f |= ACK_LOST_SEGMENT;
            }
            rev.dupacknum = -1;
        }
    }

    // RETRANSMISSION / FAST RETRANSMISSION / OUT-OF-ORDER / SPURIOUS
    let syn_fin = s.flags & (TH_SYN | TH_FIN) != 0;
    if (seglen > 0 || syn_fin) && f & KEEP_ALIVE == 0 {
        let mut seq_not_advanced = fwd.nextseq != 0 && SeqNum(seq).lt(SeqNum(fwd.nextseq));
        if seglen > 1 && fwd.nextseq.wrapping_sub(1) == seq {
            seq_not_advanced = false;
        }
        let end = seq.wrapping_add(seglen);
        let ooo_thres = first_rtt_ns.filter(|&r| r != 0).unwrap_or(3_000_000);
        if seglen > 0 && rev.lastack != 0 && SeqNum(end).le(SeqNum(rev.lastack)) {
            f |= SPURIOUS_RETRANSMISSION;
        } else if seq_not_advanced
            && rev.dupacknum >= 2
            && rev.lastack == seq
            && elapsed_below(s.ts_ns, rev.lastacktime, 20_000_000)
        {
            f |= FAST_RETRANSMISSION;
        } else if seq_not_advanced
            && elapsed_below(s.ts_ns, fwd.nextseqtime, ooo_thres)
            && fwd.nextseq != end.wrapping_add(u32::from(syn_fin))
        {
            f |= OUT_OF_ORDER;
        } else if seq_not_advanced {
            f |= RETRANSMISSION;
        }
    }

    // finished_checking_retransmission_type
    let mut nextseq = seq.wrapping_add(seglen);
    if syn_fin {
        nextseq = nextseq.wrapping_add(1);
    }
    if (SeqNum(nextseq).gt(SeqNum(fwd.nextseq)) || fwd.nextseq == 0) && f & ZERO_WINDOW_PROBE == 0 {
        fwd.nextseq = nextseq;
        fwd.nextseqtime = s.ts_ns;
    }
    if (seq == fwd.maxseqtobeacked || fwd.maxseqtobeacked == 0) && f & ZERO_WINDOW_PROBE == 0 {
        fwd.maxseqtobeacked = fwd.nextseq;
    }
    fwd.window = s.window;
    fwd.lastack = ack;
    fwd.lastacktime = s.ts_ns;
    fwd.lastsegmentflags = f;
    f
}
