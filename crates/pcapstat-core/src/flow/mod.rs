//! Direction-symmetric connection keys, the deterministic shard function and the per-shard
//! flow table.
//!
//! Both directions of a connection map to the same [`FlowKey`] and to the same shard
//! ([`shard_of`]), so a shard can own its [`FlowTable`] without locks.

use std::collections::HashMap;
use std::net::IpAddr;

use crate::packet::IpPair;

/// One side of a connection: address and port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Endpoint {
    /// IP address.
    pub ip: IpAddr,
    /// TCP/UDP port.
    pub port: u16,
}

/// A direction-symmetric 5-tuple key (the protocol is implied by the table that holds it).
///
/// The two endpoints are stored in a canonical order (`lo <= hi`), so `A→B` and `B→A` give
/// equal keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FlowKey {
    lo: Endpoint,
    hi: Endpoint,
}

impl FlowKey {
    /// The key of a packet from `ip.src:sport` to `ip.dst:dport`.
    pub fn new(ip: &IpPair, sport: u16, dport: u16) -> FlowKey {
        let a = Endpoint {
            ip: ip.src,
            port: sport,
        };
        let b = Endpoint {
            ip: ip.dst,
            port: dport,
        };
        if a <= b {
            FlowKey { lo: a, hi: b }
        } else {
            FlowKey { lo: b, hi: a }
        }
    }
    /// A stable 64-bit hash (FNV-1a over the canonical endpoints), independent of the process,
    /// the platform and the direction of the packet.
    pub fn stable_hash(&self) -> u64 {
        let mut h = Fnv1a::new();
        for ep in [self.lo, self.hi] {
            match ep.ip {
                IpAddr::V4(a) => {
                    h.write(&[4]);
                    h.write(&a.octets());
                }
                IpAddr::V6(a) => {
                    h.write(&[6]);
                    h.write(&a.octets());
                }
            }
            h.write(&ep.port.to_be_bytes());
        }
        h.0
    }
}

struct Fnv1a(u64);

impl Fnv1a {
    fn new() -> Self {
        Fnv1a(0xcbf2_9ce4_8422_2325)
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 ^= u64::from(b);
            self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
}

/// The shard (in `0..nshards`) that owns the connection of this packet; both directions give
/// the same shard. Deterministic (not randomly seeded). `nshards == 0` is treated as 1.
pub fn shard_of(ip: &IpPair, sport: u16, dport: u16, nshards: usize) -> usize {
    let n = nshards.max(1) as u64;
    // Fold the high bits in: FNV's low bits are weaker.
    let h = FlowKey::new(ip, sport, dport).stable_hash();
    ((h ^ (h >> 32)) % n) as usize
}

/// Default bound on concurrently tracked connections per flow table.
pub const DEFAULT_MAX_FLOWS: usize = 262_144;

/// One live entry of a [`FlowTable`].
#[derive(Debug)]
pub struct FlowEntry<V> {
    /// Capture time of the last packet seen on this entry (ns).
    pub last_seen: i64,
    /// Deterministic id of the entry (used to break ties when evicting).
    pub id: u64,
    /// The tracked state.
    pub value: V,
}

/// A per-shard map from [`FlowKey`] to live state, with a bound on its size.
///
/// When the table is full, [`FlowTable::make_room`] evicts the least recently active
/// eighth of the entries (ties broken by id, so the choice is deterministic).
#[derive(Debug)]
pub struct FlowTable<V> {
    map: HashMap<FlowKey, FlowEntry<V>>,
    max: usize,
    scratch: Vec<(i64, u64, FlowKey)>,
}

impl<V> FlowTable<V> {
    /// An empty table holding at most `max` entries (at least 1).
    pub fn new(max: usize) -> Self {
        FlowTable {
            map: HashMap::new(),
            max: max.max(1),
            scratch: Vec::new(),
        }
    }
    /// Number of live entries.
    pub fn len(&self) -> usize {
        self.map.len()
    }
    /// Whether inserting a new key would exceed the bound.
    pub fn is_full(&self) -> bool {
        self.map.len() >= self.max
    }
    /// The entry for `key`, if live.
    pub fn get_mut(&mut self, key: &FlowKey) -> Option<&mut FlowEntry<V>> {
        self.map.get_mut(key)
    }
    /// Remove and return the entry for `key`.
    pub fn remove(&mut self, key: &FlowKey) -> Option<FlowEntry<V>> {
        self.map.remove(key)
    }
    /// Insert (or replace) the entry for `key`. Call [`FlowTable::make_room`] first when full.
    pub fn insert(&mut self, key: FlowKey, entry: FlowEntry<V>) -> Option<FlowEntry<V>> {
        self.map.insert(key, entry)
    }
    /// When the table is full, remove the least recently active entries (about one eighth of
    /// the table, at least one) and hand each to `evicted`. Amortised O(1) per insertion.
    pub fn make_room(&mut self, mut evicted: impl FnMut(FlowKey, FlowEntry<V>)) {
        if !self.is_full() {
            return;
        }
        self.scratch.clear();
        self.scratch
            .extend(self.map.iter().map(|(k, e)| (e.last_seen, e.id, *k)));
        let n = (self.max / 8).max(1).min(self.scratch.len());
        if n < self.scratch.len() {
            self.scratch.select_nth_unstable(n);
            self.scratch.truncate(n);
        }
        self.scratch.sort_unstable();
        for (_, _, k) in self.scratch.drain(..) {
            if let Some(e) = self.map.remove(&k) {
                evicted(k, e);
            }
        }
    }
    /// Remove the entries for which `pred` holds, in a deterministic order (by id).
    pub fn drain_where(
        &mut self,
        mut pred: impl FnMut(&FlowEntry<V>) -> bool,
    ) -> Vec<(FlowKey, FlowEntry<V>)> {
        self.scratch.clear();
        self.scratch.extend(
            self.map
                .iter()
                .filter(|(_, e)| pred(e))
                .map(|(k, e)| (e.last_seen, e.id, *k)),
        );
        self.scratch.sort_unstable_by_key(|&(_, id, _)| id);
        let mut out = Vec::with_capacity(self.scratch.len());
        for (_, _, k) in self.scratch.drain(..) {
            if let Some(e) = self.map.remove(&k) {
                out.push((k, e));
            }
        }
        out
    }
    /// Remove every entry, in a deterministic order (by id).
    pub fn drain_sorted(&mut self) -> Vec<(FlowKey, FlowEntry<V>)> {
        let mut v: Vec<_> = self.map.drain().collect();
        v.sort_unstable_by_key(|(_, e)| e.id);
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    fn pair(a: [u8; 4], b: [u8; 4]) -> IpPair {
        IpPair {
            src: IpAddr::V4(Ipv4Addr::from(a)),
            dst: IpAddr::V4(Ipv4Addr::from(b)),
        }
    }

    #[test]
    fn symmetric_key_and_shard() {
        let ab = pair([10, 0, 0, 1], [10, 0, 0, 2]);
        let ba = pair([10, 0, 0, 2], [10, 0, 0, 1]);
        assert_eq!(FlowKey::new(&ab, 40000, 80), FlowKey::new(&ba, 80, 40000));
        assert_ne!(FlowKey::new(&ab, 40000, 80), FlowKey::new(&ab, 80, 40000));
        for n in 1..17 {
            assert_eq!(shard_of(&ab, 40000, 80, n), shard_of(&ba, 80, 40000, n));
        }
        // stable across runs: a fixed value
        let h = FlowKey::new(&ab, 40000, 80).stable_hash();
        assert_eq!(h, FlowKey::new(&ba, 80, 40000).stable_hash());
        assert_eq!(shard_of(&ab, 1, 2, 0), 0);
        // spread
        let mut seen = [0usize; 4];
        for p in 0..1000u16 {
            seen[shard_of(&ab, 30000 + p, 80, 4)] += 1;
        }
        assert!(seen.iter().all(|&c| c > 150), "{seen:?}");
    }

    #[test]
    fn eviction_is_lru_and_bounded() {
        let mut t: FlowTable<u32> = FlowTable::new(16);
        let ip = pair([1, 1, 1, 1], [2, 2, 2, 2]);
        for i in 0..16u16 {
            let k = FlowKey::new(&ip, 1000 + i, 80);
            t.insert(
                k,
                FlowEntry {
                    last_seen: i64::from(100 - i),
                    id: u64::from(i),
                    value: 0,
                },
            );
        }
        assert!(t.is_full());
        let mut ev = Vec::new();
        t.make_room(|k, e| ev.push((k.lo.port.min(k.hi.port), k.hi.port, e.id)));
        assert_eq!(ev.len(), 2);
        assert_eq!(ev[0].2, 15);
        assert_eq!(ev[1].2, 14);
        assert_eq!(t.len(), 14);
    }
}
