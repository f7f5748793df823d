//! RTT samples: data segment → the first ACK covering it (Karn's rule: no sample from a segment
//! that was sent more than once or reordered).
//!
//! The samples for the median go to a [`ValueStore`] (1–3 bytes per sample instead of 8): a
//! keep-alive connection at the sample limit holds about 6.5 KiB per direction, not 32 KiB.

use std::collections::VecDeque;

use super::seq::SeqNum;
use crate::values::ValueStore;

#[derive(Debug, Clone, Copy)]
struct Unacked {
    start: SeqNum,
    end: SeqNum,
    ts: i64,
    ambiguous: bool,
}

#[derive(Debug, Default)]
pub(crate) struct RttTracker {
    unacked: VecDeque<Unacked>,
    high: Option<SeqNum>,
    /// The first `limit` samples (the median's).
    samples: ValueStore,
    pub count: u64,
    pub min: Option<i64>,
    pub max: Option<i64>,
    pub unacked_limit_hits: u64,
    pub sample_limit_hits: u64,
}

impl RttTracker {
    /// Memory the unacknowledged list holds (its room, not only its entries).
    pub(crate) fn cost(&self) -> usize {
        self.unacked.capacity() * std::mem::size_of::<Unacked>()
    }

    /// Room for one more entry: within the list's capacity, or a larger capacity (twice, at
    /// most `limit` entries) whose growth keeps `held` (the memory of all the lists of the
    /// tracker, this one's included) within `total`; `held` counts the growth.
    fn make_room(&mut self, limit: usize, total: usize, held: &mut usize) -> bool {
        let (len, cap) = (self.unacked.len(), self.unacked.capacity());
        if len >= limit {
            return false;
        }
        if len < cap {
            return true;
        }
        let grown = (2 * cap).max(4).min(limit);
        let before = self.cost();
        if held.saturating_sub(before) + grown * std::mem::size_of::<Unacked>() > total {
            return false;
        }
        self.unacked.reserve_exact(grown - len);
        *held = held.saturating_sub(before) + self.cost();
        true
    }

    /// A data segment `[start, end)` of this direction was sent at `ts`. The list holds at most
    /// `limit` entries, and grows only while `held` (the memory of all the lists of the
    /// tracker, kept up to date here) stays within `total`.
    pub(crate) fn on_data(
        &mut self,
        start: SeqNum,
        end: SeqNum,
        ts: i64,
        resent: bool,
        (limit, total, held): (usize, usize, &mut usize),
    ) {
        let old = resent || self.high.is_some_and(|h| start.lt(h));
        if old {
            // The entries are sorted and disjoint (only data past `high` is pushed): those
            // overlapping [start, end) are one run, found by binary search. Scanning the whole
            // list (up to `limit` entries) for every retransmitted or out-of-order segment made
            // a flood of out-of-order new data (which overlaps nothing) `limit` times slower.
            let first = self.unacked.partition_point(|u| u.end.le(start));
            for u in self.unacked.range_mut(first..) {
                if !u.start.lt(end) {
                    break;
                }
                u.ambiguous = true;
            }
        } else if self.make_room(limit, total, held) {
            self.unacked.push_back(Unacked {
                start,
                end,
                ts,
                ambiguous: false,
            });
        } else {
            self.unacked_limit_hits += 1;
        }
        if self.high.is_none_or(|h| end.gt(h)) {
            self.high = Some(end);
        }
    }

    /// The peer acknowledged everything before `ack` at `ts`.
    pub(crate) fn on_ack(&mut self, ack: SeqNum, ts: i64, limit: usize) {
        let mut newest: Option<Unacked> = None;
        let mut ambiguous = false;
        while let Some(u) = self.unacked.front_mut() {
            if u.end.le(ack) {
                ambiguous |= u.ambiguous;
                newest = Some(*u);
                self.unacked.pop_front();
            } else {
                if u.start.lt(ack) {
                    u.start = ack;
                }
                break;
            }
        }
        if let Some(u) = newest {
            if !ambiguous {
                let rtt = ts - u.ts;
                if rtt >= 0 {
                    self.count += 1;
                    self.min = Some(self.min.map_or(rtt, |m| m.min(rtt)));
                    self.max = Some(self.max.map_or(rtt, |m| m.max(rtt)));
                    if self.samples.len() < limit {
                        self.samples.push(rtt);
                        if self.samples.len() == limit {
                            // No more samples will come: release the buffer.
                            self.samples.compact();
                        }
                    } else {
                        self.sample_limit_hits += 1;
                    }
                }
            }
        }
    }

    /// Lower median of the kept samples.
    pub(crate) fn median(&self) -> Option<i64> {
        let n = self.samples.len();
        self.samples.nth(n.checked_sub(1)? / 2)
    }

    /// Releases spare capacity (for a connection that is closed but not yet reported): the
    /// samples' buffer becomes a compressed run, an empty unacknowledged list frees its memory.
    /// Samples and segments may still come afterwards.
    /// Returns the memory the unacknowledged list gave back.
    pub(crate) fn compact(&mut self) -> usize {
        self.samples.compact();
        if self.unacked.is_empty() {
            let freed = self.cost();
            self.unacked = VecDeque::new();
            return freed;
        }
        0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Data segments of 100 bytes, each acknowledged `rtts[i]` ns after it was sent.
    fn tracker(rtts: &[i64], limit: usize) -> RttTracker {
        let mut t = RttTracker::default();
        let mut ts = 0;
        for (i, &rtt) in rtts.iter().enumerate() {
            let start = SeqNum(i as u32 * 100);
            let end = SeqNum((i as u32 + 1) * 100);
            t.on_data(start, end, ts, false, (limit, usize::MAX, &mut 0));
            t.on_ack(end, ts + rtt, limit);
            ts += 1_000_000;
            if i == rtts.len() / 3 {
                t.compact();
            }
        }
        t
    }

    #[test]
    fn median_is_the_lower_median_of_the_first_limit_samples() {
        let mut x = 7u64;
        let mut rng = || (crate::testing::xorshift(&mut x) % 200_000) as i64;
        for (n, limit) in [
            (0, 16),
            (1, 16),
            (2, 16),
            (3, 2),
            (600, 4096),
            (5000, 4096),
            (9000, 300),
        ] {
            let rtts: Vec<i64> = (0..n).map(|_| rng()).collect();
            let t = tracker(&rtts, limit);
            let mut kept = rtts[..n.min(limit)].to_vec();
            kept.sort_unstable();
            let expected = (!kept.is_empty()).then(|| kept[(kept.len() - 1) / 2]);
            assert_eq!(t.median(), expected, "n={n} limit={limit}");
            assert_eq!(t.count, n as u64);
            assert_eq!(t.sample_limit_hits, n.saturating_sub(limit) as u64);
            assert_eq!(t.max, rtts.iter().copied().max());
        }
    }

    /// The samples an unacknowledged list gives when every retransmitted or out-of-order
    /// segment marks the entries it overlaps by a scan of the whole list (the rule before
    /// the overlapping run was found by binary search).
    fn scanned_samples(ops: &[(bool, u32, u32, bool)], limit: usize) -> Vec<i64> {
        let mut unacked: VecDeque<Unacked> = VecDeque::new();
        let mut high: Option<SeqNum> = None;
        let mut samples = Vec::new();
        for (k, &(ack, a, b, resent)) in ops.iter().enumerate() {
            let ts = k as i64 * 1000;
            if ack {
                let ack = SeqNum(a);
                let (mut newest, mut ambiguous) = (None, false);
                while let Some(u) = unacked.front_mut() {
                    if u.end.le(ack) {
                        ambiguous |= u.ambiguous;
                        newest = Some(*u);
                        unacked.pop_front();
                    } else {
                        if u.start.lt(ack) {
                            u.start = ack;
                        }
                        break;
                    }
                }
                if let (Some(u), false) = (newest, ambiguous) {
                    samples.push(ts - u.ts);
                }
                continue;
            }
            let (start, end) = (SeqNum(a), SeqNum(b));
            if resent || high.is_some_and(|h| start.lt(h)) {
                for u in unacked.iter_mut() {
                    if u.end.gt(start) && u.start.lt(end) {
                        u.ambiguous = true;
                    }
                }
            } else if unacked.len() < limit {
                unacked.push_back(Unacked {
                    start,
                    end,
                    ts,
                    ambiguous: false,
                });
            }
            if high.is_none_or(|h| end.gt(h)) {
                high = Some(end);
            }
        }
        samples
    }

    #[test]
    fn marking_the_overlapping_run_gives_the_samples_of_a_full_scan() {
        let mut x = 0x9e37_79b9u64;
        let mut rng = move |n: u64| crate::testing::xorshift(&mut x) % n;
        for round in 0..200 {
            let base = if round % 2 == 0 { 0 } else { u32::MAX - 40_000 };
            let (mut next, mut acked) = (base, base);
            let mut ops = Vec::new();
            for _ in 0..400 {
                match rng(10) {
                    // New data, sometimes flagged out of order anyway.
                    0..=4 => {
                        let len = 1 + rng(1500) as u32;
                        ops.push((false, next, next.wrapping_add(len), rng(8) == 0));
                        next = next.wrapping_add(len);
                    }
                    // A retransmission of some range already sent.
                    5..=7 => {
                        let sent = next.wrapping_sub(acked).max(1);
                        let from = acked.wrapping_add(rng(u64::from(sent)) as u32);
                        let len = 1 + rng(6000) as u32;
                        ops.push((false, from, from.wrapping_add(len), true));
                    }
                    // An ACK of part of what was sent.
                    _ => {
                        let sent = next.wrapping_sub(acked);
                        acked = acked.wrapping_add(rng(u64::from(sent) + 1) as u32);
                        ops.push((true, acked, 0, false));
                    }
                }
            }
            let limit = [4096, 8][round % 2];
            let mut t = RttTracker::default();
            for (k, &(ack, a, b, resent)) in ops.iter().enumerate() {
                let ts = k as i64 * 1000;
                if ack {
                    t.on_ack(SeqNum(a), ts, usize::MAX);
                } else {
                    t.on_data(
                        SeqNum(a),
                        SeqNum(b),
                        ts,
                        resent,
                        (limit, usize::MAX, &mut 0),
                    );
                }
            }
            let expected = scanned_samples(&ops, limit);
            assert_eq!(t.count, expected.len() as u64, "round {round}");
            assert_eq!(t.min, expected.iter().copied().min(), "round {round}");
            assert_eq!(t.max, expected.iter().copied().max(), "round {round}");
        }
    }

    #[test]
    fn compact_frees_the_empty_unacked_list() {
        let mut t = tracker(&[5; 100], 4096);
        assert!(t.unacked.is_empty() && t.unacked.capacity() > 0);
        t.compact();
        assert_eq!(t.unacked.capacity(), 0);
        assert_eq!(t.median(), Some(5));
    }
}
