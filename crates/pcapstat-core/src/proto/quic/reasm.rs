//! Reassembly by offset of one direction of a QUIC byte stream: the CRYPTO stream of a packet
//! number space (`mod.rs`) and an HTTP/3 STREAM (`h3.rs`) share it.
//!
//! Bytes at the next offset are delivered at once, with the pieces held out of order that they
//! reach (overlaps cut); bytes at offsets already delivered are cut and counted as
//! retransmitted; a piece out of order is held, charged to a byte budget, unless one at least
//! as long is already held at its offset.

use std::collections::BTreeMap;

/// Bytes a reassembly may still hold out of order.
pub(crate) trait HoldBudget {
    /// Takes `n` bytes; `false` (nothing taken) when there are not that many left.
    fn take(&mut self, n: usize) -> bool;
    /// Gives back `n` bytes taken before.
    fn give(&mut self, n: usize);
}

impl HoldBudget for usize {
    fn take(&mut self, n: usize) -> bool {
        if n > *self {
            return false;
        }
        *self -= n;
        true
    }

    fn give(&mut self, n: usize) {
        *self += n;
    }
}

/// One direction of a stream: what was delivered, and the pieces held beyond it.
#[derive(Debug, Default)]
pub(crate) struct OffsetReasm {
    /// Bytes delivered in order from offset 0.
    pub(crate) delivered: u64,
    pending: BTreeMap<u64, Vec<u8>>,
    /// Bytes of `pending`, taken from the budget.
    held: usize,
}

impl OffsetReasm {
    /// Adds `data` at `offset`; returns the bytes that became contiguous, or `Err` when a piece
    /// out of order did not fit in `budget` (nothing was taken: the caller stops the stream,
    /// [`OffsetReasm::release`]). Bytes already delivered or held are added to `retrans`.
    pub(crate) fn insert(
        &mut self,
        offset: u64,
        data: &[u8],
        budget: &mut impl HoldBudget,
        retrans: &mut u64,
    ) -> Result<Vec<u8>, ()> {
        let end = offset.saturating_add(data.len() as u64);
        let (mut data, mut offset) = (data, offset);
        if offset < self.delivered {
            let skip = (self.delivered - offset).min(data.len() as u64);
            *retrans += skip;
            data = data
                .get(usize::try_from(skip).unwrap_or(data.len())..)
                .unwrap_or_default();
            offset = self.delivered;
        }
        if data.is_empty() {
            return Ok(Vec::new());
        }
        if offset > self.delivered {
            if let Some(old) = self.pending.get(&offset) {
                if old.len() >= data.len() {
                    *retrans += data.len() as u64;
                    return Ok(Vec::new());
                }
            }
            if !budget.take(data.len()) {
                return Err(());
            }
            self.held += data.len();
            if let Some(old) = self.pending.insert(offset, data.to_vec()) {
                *retrans += old.len() as u64;
                self.held -= old.len();
                budget.give(old.len());
            }
            return Ok(Vec::new());
        }
        let mut out = data.to_vec();
        self.delivered = end;
        // Pieces now reached (overlaps cut).
        while let Some((&o, _)) = self.pending.first_key_value() {
            if o > self.delivered {
                break;
            }
            let Some((o, piece)) = self.pending.pop_first() else {
                break;
            };
            self.held -= piece.len();
            budget.give(piece.len());
            let piece_end = o + piece.len() as u64;
            if piece_end <= self.delivered {
                *retrans += piece.len() as u64;
                continue;
            }
            let skip = usize::try_from(self.delivered - o).unwrap_or(0);
            *retrans += skip as u64;
            out.extend_from_slice(piece.get(skip..).unwrap_or_default());
            self.delivered = piece_end;
        }
        Ok(out)
    }

    /// Drops the pieces held and gives their bytes back to `budget`.
    pub(crate) fn release(&mut self, budget: &mut impl HoldBudget) {
        budget.give(self.held);
        self.held = 0;
        self.pending = BTreeMap::new();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Out of order with overlaps, a retransmission, a budget refusal that takes nothing, and a
    /// release that gives every held byte back.
    #[test]
    fn pieces_overlaps_budget_and_release() {
        let (mut r, mut budget, mut retrans) = (OffsetReasm::default(), 10usize, 0u64);
        assert_eq!(
            r.insert(4, b"efgh", &mut budget, &mut retrans),
            Ok(Vec::new())
        );
        assert_eq!(budget, 6);
        // A shorter copy at the same offset is a retransmission; a longer one replaces it.
        assert_eq!(
            r.insert(4, b"ef", &mut budget, &mut retrans),
            Ok(Vec::new())
        );
        assert_eq!(retrans, 2);
        assert_eq!(
            r.insert(4, b"efghi", &mut budget, &mut retrans),
            Ok(Vec::new())
        );
        assert_eq!((budget, retrans), (5, 6));
        // Too long for what is left: refused, nothing taken.
        assert_eq!(r.insert(20, b"uvwxyz", &mut budget, &mut retrans), Err(()));
        assert_eq!(budget, 5);
        // The prefix arrives overlapping the held piece: delivered once, overlap counted.
        assert_eq!(
            r.insert(0, b"abcde", &mut budget, &mut retrans),
            Ok(b"abcdefghi".to_vec())
        );
        assert_eq!((r.delivered, budget, retrans), (9, 10, 7));
        // Already delivered: cut and counted.
        assert_eq!(
            r.insert(7, b"hij", &mut budget, &mut retrans),
            Ok(b"j".to_vec())
        );
        assert_eq!(retrans, 9);
        assert_eq!(
            r.insert(12, b"mn", &mut budget, &mut retrans),
            Ok(Vec::new())
        );
        assert_eq!(budget, 8);
        r.release(&mut budget);
        assert_eq!(budget, 10);
    }
}
