//! Bounded IPv4/IPv6 fragment reassembly on top of etherparse's [`IpDefragBuf`].
//!
//! etherparse's own `IpDefragPool` has no memory bound and keys on the outermost IP layer
//! only, so the pool is kept here: datagrams in progress are keyed by version, addresses,
//! identification, protocol and tunnel depth — not by VLAN or capture interface, as in
//! tshark, whose counts the decoder mirrors; their number and buffered
//! bytes are bounded (the oldest is evicted) and they expire after a timeout measured in
//! capture time, never wall-clock time.

use std::collections::HashMap;

use etherparse::defrag::{IpDefragBuf, IpFragRange};
use etherparse::{IpFragOffset, IpNumber};

use super::stats::DecodeStats;
use super::DecodeLimits;

/// Identifies one datagram being reassembled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct FragKey {
    pub v6: bool,
    pub src: [u8; 16],
    pub dst: [u8; 16],
    pub id: u32,
    pub proto: u8,
    pub depth: u8,
}

#[derive(Debug)]
struct Pending {
    buf: IpDefragBuf,
    first_ts: i64,
}

/// What adding one fragment did.
#[derive(Debug)]
pub(crate) enum FragOutcome {
    /// Stored; the datagram is not complete yet.
    Pending,
    /// The fragment conflicts with the others of its datagram (or is malformed); the
    /// datagram was dropped.
    Invalid,
}

/// Spare buffers kept for re-use, so steady-state reassembly does not allocate.
const MAX_SPARE_BUFS: usize = 32;

#[derive(Debug, Default)]
pub(crate) struct FragPool {
    active: HashMap<FragKey, Pending>,
    bytes: usize,
    spare_data: Vec<Vec<u8>>,
    spare_sections: Vec<Vec<IpFragRange>>,
    /// The last completed datagram (borrowed by the returned `Decoded`).
    done: Vec<u8>,
    last_sweep_ts: Option<i64>,
}

impl FragPool {
    /// The datagram completed by the last successful [`FragPool::add`].
    pub fn done(&self) -> &[u8] {
        &self.done
    }

    pub fn pending(&self) -> usize {
        self.active.len()
    }

    pub fn pending_bytes(&self) -> usize {
        self.bytes
    }

    /// Drop datagrams whose first fragment is older than the timeout. Cheap when the pool
    /// is empty; otherwise sweeps at most once per tenth of the timeout of capture time.
    pub fn expire(&mut self, now: i64, limits: &DecodeLimits, stats: &mut DecodeStats) {
        if self.active.is_empty() {
            return;
        }
        let step = (limits.fragment_timeout_ns / 10).max(1);
        if let Some(last) = self.last_sweep_ts {
            if now.saturating_sub(last) < step && now >= last {
                return;
            }
        }
        self.last_sweep_ts = Some(now);
        let timeout = limits.fragment_timeout_ns;
        let mut expired = 0u64;
        let mut freed = Vec::new();
        self.active.retain(|_, p| {
            if now.saturating_sub(p.first_ts) > timeout {
                expired += 1;
                freed.push(std::mem::replace(
                    &mut p.buf,
                    IpDefragBuf::new(IpNumber(0), Vec::new(), Vec::new()),
                ));
                false
            } else {
                true
            }
        });
        for buf in freed {
            self.recycle(buf);
        }
        stats.fragments_expired += expired;
    }

    fn recycle(&mut self, buf: IpDefragBuf) {
        let (data, sections) = buf.take_bufs();
        self.bytes = self.bytes.saturating_sub(data.len());
        if self.spare_data.len() < MAX_SPARE_BUFS {
            self.spare_data.push(data);
        }
        if self.spare_sections.len() < MAX_SPARE_BUFS {
            self.spare_sections.push(sections);
        }
    }

    fn evict_oldest(&mut self) -> bool {
        let oldest = self
            .active
            .iter()
            .min_by_key(|(_, p)| p.first_ts)
            .map(|(k, _)| *k);
        match oldest.and_then(|k| self.active.remove(&k)) {
            Some(p) => {
                self.recycle(p.buf);
                true
            }
            None => false,
        }
    }

    /// Add one fragment. Returns the reassembled IP payload when this fragment completes
    /// its datagram, otherwise what happened to it.
    #[allow(clippy::too_many_arguments)]
    pub fn add(
        &mut self,
        key: FragKey,
        offset: IpFragOffset,
        more: bool,
        payload: &[u8],
        ts: i64,
        limits: &DecodeLimits,
        stats: &mut DecodeStats,
    ) -> Result<(), FragOutcome> {
        let end = usize::from(offset.byte_offset()).saturating_add(payload.len());
        if !self.active.contains_key(&key) {
            // Make room for a new datagram.
            while self.active.len() >= limits.max_fragment_datagrams.max(1) {
                if !self.evict_oldest() {
                    break;
                }
                stats.fragments_evicted += 1;
            }
            let data = self.spare_data.pop().unwrap_or_default();
            let sections = self.spare_sections.pop().unwrap_or_default();
            self.active.insert(
                key,
                Pending {
                    buf: IpDefragBuf::new(IpNumber(key.proto), data, sections),
                    first_ts: ts,
                },
            );
        }
        // Bound the bytes buffered over all datagrams (a datagram grows to its furthest end).
        loop {
            let cur = self
                .active
                .get(&key)
                .map(|p| p.buf.data().len())
                .unwrap_or(0);
            let growth = end.saturating_sub(cur);
            if self.bytes.saturating_add(growth) <= limits.max_fragment_bytes
                || self.active.len() <= 1
            {
                break;
            }
            // Evict the oldest datagram other than this one.
            let oldest = self
                .active
                .iter()
                .filter(|(k, _)| **k != key)
                .min_by_key(|(_, p)| p.first_ts)
                .map(|(k, _)| *k);
            match oldest.and_then(|k| self.active.remove(&k)) {
                Some(p) => {
                    self.recycle(p.buf);
                    stats.fragments_evicted += 1;
                }
                None => break,
            }
        }
        let Some(pending) = self.active.get_mut(&key) else {
            return Err(FragOutcome::Invalid);
        };
        // Like tshark, data past a known end of the datagram is ignored rather than
        // invalidating it (overlapping fragments that run past the last one).
        let (more, payload) = match pending.buf.end().map(usize::from) {
            Some(known_end) if end >= known_end => {
                let keep = known_end.saturating_sub(usize::from(offset.byte_offset()));
                if keep == 0 {
                    return Err(FragOutcome::Pending);
                }
                (false, payload.get(..keep).unwrap_or(payload))
            }
            _ => (more, payload),
        };
        let before = pending.buf.data().len();
        let res = pending.buf.add(offset, more, payload);
        let after = pending.buf.data().len();
        self.bytes = self.bytes.saturating_add(after).saturating_sub(before);
        let complete = res.is_ok() && pending.buf.is_complete();
        if res.is_err() {
            if let Some(p) = self.active.remove(&key) {
                self.recycle(p.buf);
            }
            return Err(FragOutcome::Invalid);
        }
        if self.bytes > limits.max_fragment_bytes {
            // A single datagram larger than the whole budget: give it up.
            if let Some(p) = self.active.remove(&key) {
                self.recycle(p.buf);
            }
            stats.fragments_evicted += 1;
            return Err(FragOutcome::Pending);
        }
        if !complete {
            return Err(FragOutcome::Pending);
        }
        match self.active.remove(&key) {
            Some(p) => {
                let (data, sections) = p.buf.take_bufs();
                self.bytes = self.bytes.saturating_sub(data.len());
                let old = std::mem::replace(&mut self.done, data);
                if self.spare_data.len() < MAX_SPARE_BUFS {
                    self.spare_data.push(old);
                }
                if self.spare_sections.len() < MAX_SPARE_BUFS {
                    self.spare_sections.push(sections);
                }
                stats.reassembled += 1;
                Ok(())
            }
            None => Err(FragOutcome::Invalid),
        }
    }
}
