//! RTT samples: data segment → the first ACK covering it (Karn's rule: no sample from a segment
//! that was sent more than once or reordered).

use std::collections::VecDeque;

use super::seq::SeqNum;

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
    samples: Vec<i64>,
    pub count: u64,
    pub min: Option<i64>,
    pub max: Option<i64>,
    pub unacked_limit_hits: u64,
    pub sample_limit_hits: u64,
}

impl RttTracker {
    /// A data segment `[start, end)` of this direction was sent at `ts`.
    pub(crate) fn on_data(
        &mut self,
        start: SeqNum,
        end: SeqNum,
        ts: i64,
        resent: bool,
        limit: usize,
    ) {
        let old = resent || self.high.is_some_and(|h| start.lt(h));
        if old {
            for u in self.unacked.iter_mut() {
                if u.end.gt(start) && u.start.lt(end) {
                    u.ambiguous = true;
                }
            }
        } else if self.unacked.len() < limit {
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
                    } else {
                        self.sample_limit_hits += 1;
                    }
                }
            }
        }
    }

    /// Lower median of the kept samples.
    pub(crate) fn median(&mut self) -> Option<i64> {
        if self.samples.is_empty() {
            return None;
        }
        let mid = (self.samples.len() - 1) / 2;
        let (_, m, _) = self.samples.select_nth_unstable(mid);
        Some(*m)
    }
}
