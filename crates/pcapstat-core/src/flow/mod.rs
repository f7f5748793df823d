//! Direction-symmetric connection keys, the deterministic shard function and the per-shard
//! flow table.
//!
//! Both directions of a connection map to the same [`FlowKey`] and to the same shard
//! ([`shard_of`]), so a shard can own its [`FlowTable`] without locks.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};

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
    #[inline]
    pub fn new(ip: &IpPair, sport: u16, dport: u16) -> FlowKey {
        if let (IpAddr::V4(s), IpAddr::V4(d)) = (ip.src, ip.dst) {
            // The common case, without comparing the enums field by field through the stack
            // (2 % of the request-heavy benchmark): `v4_ends`, tested by
            // `src_first_is_the_endpoints_order_and_shard_for_agrees`.
            let ((lo, lo_port), (hi, hi_port)) = v4_ends((s, sport), (d, dport));
            return FlowKey {
                lo: Endpoint {
                    ip: IpAddr::V4(lo),
                    port: lo_port,
                },
                hi: Endpoint {
                    ip: IpAddr::V4(hi),
                    port: hi_port,
                },
            };
        }
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
    /// The shard of the key of a packet (`FlowKey::new(ip, sport, dport).shard(nshards)`): for
    /// two IPv4 endpoints made from the addresses and ports as they are, not read back from a
    /// key just written (whose 17-byte `IpAddr`s made every read of it wait on the stores:
    /// `FlowKey::new` then `shard` took 3.8 % of request-heavy's samples with `--threads 2`).
    #[inline]
    pub(crate) fn shard_for(ip: &IpPair, sport: u16, dport: u16, nshards: usize) -> usize {
        if let (IpAddr::V4(s), IpAddr::V4(d)) = (ip.src, ip.dst) {
            let ((lo, lo_port), (hi, hi_port)) = v4_ends((s, sport), (d, dport));
            let h = finish(mix(
                mix(SEED, v4_word(u32::from(lo), lo_port)),
                v4_word(u32::from(hi), hi_port),
            ));
            return (h % nshards.max(1) as u64) as usize;
        }
        FlowKey::new(ip, sport, dport).shard(nshards)
    }
    /// The two endpoints, in canonical order (`lo`, `hi`).
    pub(crate) fn endpoints(&self) -> (Endpoint, Endpoint) {
        (self.lo, self.hi)
    }
    /// The shard of this key ([`shard_of`]). Inlined: the pipeline's shard count is a constant,
    /// so the remainder is a mask, not a 64-bit division a segment.
    #[inline]
    pub(crate) fn shard(&self, nshards: usize) -> usize {
        (self.stable_hash() % nshards.max(1) as u64) as usize
    }
    /// A stable 64-bit hash of the canonical endpoints, independent of the process, the platform
    /// and the direction of the packet: one multiply-xorshift round per 64-bit word (an IPv4
    /// endpoint is one word), then the splitmix64 finalizer. Made once per segment, by the
    /// reading thread (the shard); the worker's flow table has its own hasher.
    #[inline]
    pub fn stable_hash(&self) -> u64 {
        let mut h = SEED;
        for ep in [self.lo, self.hi] {
            let port = u64::from(ep.port);
            h = match ep.ip {
                IpAddr::V4(a) => mix(h, v4_word(u32::from(a), ep.port)),
                IpAddr::V6(a) => {
                    let v = u128::from(a);
                    let h = mix(h, v as u64);
                    let h = mix(h, (v >> 64) as u64);
                    mix(h, (6 << 56) | port)
                }
            };
        }
        finish(h)
    }
}

/// Two IPv4 endpoints in the key's order: as `Endpoint`'s `Ord` orders them (`Ipv4Addr`'s
/// `Ord` is on the octets in order, that is on the address as a number; then the port),
/// without comparing the `IpAddr` enums.
#[inline]
fn v4_ends(a: (Ipv4Addr, u16), b: (Ipv4Addr, u16)) -> ((Ipv4Addr, u16), (Ipv4Addr, u16)) {
    if (u32::from(a.0), a.1) <= (u32::from(b.0), b.1) {
        (a, b)
    } else {
        (b, a)
    }
}

/// [`FlowKey::stable_hash`]'s start.
const SEED: u64 = 0x243f_6a88_85a3_08d3;

/// One multiply-xorshift round of [`FlowKey::stable_hash`].
#[inline]
fn mix(h: u64, word: u64) -> u64 {
    let x = (h ^ word).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    x ^ (x >> 32)
}

/// The word of an IPv4 endpoint in [`FlowKey::stable_hash`].
#[inline]
fn v4_word(addr: u32, port: u16) -> u64 {
    (4 << 56) | (u64::from(addr) << 16) | u64::from(port)
}

/// splitmix64's finalizer: every output bit depends on every input bit.
#[inline]
fn finish(mut h: u64) -> u64 {
    h = (h ^ (h >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h = (h ^ (h >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    h ^ (h >> 31)
}

/// The shard (in `0..nshards`) that owns the connection of this packet; both directions give
/// the same shard. Deterministic (not randomly seeded). `nshards == 0` is treated as 1.
#[cfg(any(test, feature = "fuzzing"))]
pub fn shard_of(ip: &IpPair, sport: u16, dport: u16, nshards: usize) -> usize {
    FlowKey::new(ip, sport, dport).shard(nshards)
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

/// "No slot": the end of the activity list.
const NIL: u32 = u32::MAX;

/// A slot of a [`FlowTable`]: one entry and its links in the activity list.
#[derive(Debug)]
struct Slot<V> {
    key: FlowKey,
    /// Previous (less recently active) and next (more recently active) slot, or [`NIL`].
    prev: u32,
    next: u32,
    /// `None` while the slot is free.
    entry: Option<FlowEntry<V>>,
}

/// A per-shard map from [`FlowKey`] to live state, with a bound on its size.
///
/// The entries live in a slab (a vector of slots, reused after removal) indexed by a hash map
/// from the key to the slot number, and form a doubly linked list in order of activity: an
/// entry moves to the back when [`FlowTable::touch`] says a packet came for it. When the table
/// is full, [`FlowTable::make_room`] evicts the front entry: the least recently active one
/// (the one whose last packet came first in capture order). Every operation is O(1) (amortised,
/// through the hash map) except the sweeps ([`FlowTable::drain_where`], once per second of
/// capture time) and the final [`FlowTable::drain_sorted`].
#[derive(Debug)]
pub struct FlowTable<V> {
    /// Keyed per process (not [`FlowKey::stable_hash`], which the shard takes): a fixed hash
    /// of addresses and ports a capture controls could be made to collide at will, and every
    /// lookup would then walk one chain (docs/performance.md, stop 35, "Two hashes a segment").
    index: HashMap<FlowKey, u32, foldhash::fast::RandomState>,
    slots: Vec<Slot<V>>,
    /// Free slot numbers.
    free: Vec<u32>,
    /// Least and most recently active slots, or [`NIL`] when empty.
    head: u32,
    tail: u32,
    max: usize,
}

impl<V> FlowTable<V> {
    /// An empty table holding at most `max` entries (at least 1, at most `u32::MAX - 1`).
    pub fn new(max: usize) -> Self {
        FlowTable {
            index: HashMap::default(),
            slots: Vec::new(),
            free: Vec::new(),
            head: NIL,
            tail: NIL,
            max: max.clamp(1, (NIL - 1) as usize),
        }
    }
    /// Number of live entries.
    pub fn len(&self) -> usize {
        self.index.len()
    }
    /// Whether inserting a new key would exceed the bound.
    pub fn is_full(&self) -> bool {
        self.index.len() >= self.max
    }
    fn slot(&self, i: u32) -> Option<&Slot<V>> {
        self.slots.get(i as usize)
    }
    fn slot_mut(&mut self, i: u32) -> Option<&mut Slot<V>> {
        self.slots.get_mut(i as usize)
    }
    /// Where the entry for `key` is, if live: the one hash lookup of a packet; then
    /// [`FlowTable::at_mut`] and [`FlowTable::touch_at`] reach it without hashing.
    pub fn find(&self, key: &FlowKey) -> Option<u32> {
        self.index.get(key).copied()
    }
    /// The live entry at `slot` (from [`FlowTable::find`] or [`FlowTable::insert`]).
    pub fn at_mut(&mut self, slot: u32) -> Option<&mut FlowEntry<V>> {
        self.slot_mut(slot)?.entry.as_mut()
    }
    /// A packet came for the entry at `slot`: it becomes the most recently active. O(1).
    pub fn touch_at(&mut self, slot: u32) {
        if slot != self.tail && self.at_mut(slot).is_some() {
            self.unlink(slot);
            self.push_back(slot);
        }
    }
    /// Take slot `i` out of the activity list.
    fn unlink(&mut self, i: u32) {
        let Some(s) = self.slot(i) else { return };
        let (p, n) = (s.prev, s.next);
        match self.slot_mut(p) {
            Some(ps) => ps.next = n,
            None => self.head = n,
        }
        match self.slot_mut(n) {
            Some(ns) => ns.prev = p,
            None => self.tail = p,
        }
    }
    /// Put slot `i` at the back (most recently active) of the activity list.
    fn push_back(&mut self, i: u32) {
        let t = self.tail;
        if let Some(s) = self.slot_mut(i) {
            s.prev = t;
            s.next = NIL;
        }
        match self.slot_mut(t) {
            Some(ts) => ts.next = i,
            None => self.head = i,
        }
        self.tail = i;
    }
    /// A packet came for `key`: its entry becomes the most recently active. O(1).
    #[cfg(test)]
    pub fn touch(&mut self, key: &FlowKey) {
        if let Some(i) = self.find(key) {
            self.touch_at(i);
        }
    }
    /// Remove and return the entry for `key`.
    pub fn remove(&mut self, key: &FlowKey) -> Option<FlowEntry<V>> {
        let i = self.index.remove(key)?;
        self.unlink(i);
        self.free.push(i);
        self.slot_mut(i)?.entry.take()
    }
    /// Insert (or replace) the entry for `key`, as the most recently active. Call
    /// [`FlowTable::make_room`] first when full.
    #[cfg(test)]
    pub fn insert(&mut self, key: FlowKey, entry: FlowEntry<V>) -> Option<FlowEntry<V>> {
        let old = self.remove(&key);
        self.insert_new(key, entry);
        old
    }
    /// Insert the entry for `key`, which is not in the table, as the most recently active;
    /// returns its slot. Call [`FlowTable::make_room`] first when full.
    pub fn insert_new(&mut self, key: FlowKey, entry: FlowEntry<V>) -> u32 {
        let slot = Slot {
            key,
            prev: NIL,
            next: NIL,
            entry: Some(entry),
        };
        let i = match self.free.pop() {
            Some(i) => {
                if let Some(s) = self.slot_mut(i) {
                    *s = slot;
                }
                i
            }
            None => {
                // `max` < NIL bounds the live entries, hence the slots.
                let i = u32::try_from(self.slots.len()).unwrap_or(NIL - 1);
                self.slots.push(slot);
                i
            }
        };
        self.index.insert(key, i);
        self.push_back(i);
        i
    }
    /// When the table is full, remove the least recently active entry and hand it to
    /// `evicted`. O(1).
    pub fn make_room(&mut self, mut evicted: impl FnMut(FlowKey, FlowEntry<V>)) {
        while self.is_full() {
            let Some(key) = self.slot(self.head).map(|s| s.key) else {
                return;
            };
            if let Some(e) = self.remove(&key) {
                evicted(key, e);
            }
        }
    }
    /// Memory of one live entry beside its value's own heap: its slot in the slab (key, links,
    /// entry) and its index entry (key, slot number, the hash map's control byte), at full
    /// occupancy (the slab and the map grow by doubling, so up to twice this is reserved).
    #[cfg(test)]
    pub(crate) const BYTES_PER_ENTRY: usize =
        std::mem::size_of::<Slot<V>>() + std::mem::size_of::<(FlowKey, u32)>() + 1;
    /// The live entries, in slot order (tests).
    #[cfg(test)]
    pub(crate) fn entries(&self) -> impl Iterator<Item = &FlowEntry<V>> {
        self.slots.iter().filter_map(|s| s.entry.as_ref())
    }
    /// The keys of the live entries, least recently active first (tests).
    #[cfg(test)]
    fn keys_by_activity(&self) -> Vec<FlowKey> {
        let mut out = Vec::new();
        let mut i = self.head;
        while let Some(s) = self.slot(i) {
            out.push(s.key);
            i = s.next;
        }
        out
    }
    /// Remove the entries for which `pred` holds, in a deterministic order (by id).
    pub fn drain_where(
        &mut self,
        mut pred: impl FnMut(&FlowEntry<V>) -> bool,
    ) -> Vec<(FlowKey, FlowEntry<V>)> {
        let mut hit: Vec<(u64, FlowKey)> = self
            .slots
            .iter()
            .filter_map(|s| s.entry.as_ref().filter(|e| pred(e)).map(|e| (e.id, s.key)))
            .collect();
        hit.sort_unstable_by_key(|&(id, _)| id);
        let mut out = Vec::with_capacity(hit.len());
        for (_, k) in hit {
            if let Some(e) = self.remove(&k) {
                out.push((k, e));
            }
        }
        out
    }
    /// Remove every entry, in a deterministic order (by id).
    pub fn drain_sorted(&mut self) -> Vec<(FlowKey, FlowEntry<V>)> {
        self.index.clear();
        self.free.clear();
        self.head = NIL;
        self.tail = NIL;
        let mut v: Vec<_> = std::mem::take(&mut self.slots)
            .into_iter()
            .filter_map(|s| s.entry.map(|e| (s.key, e)))
            .collect();
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
    fn src_first_is_the_endpoints_order_and_shard_for_agrees() {
        // Addresses that differ in each octet (the byte order of the fast comparison), equal
        // addresses with ports either way, and IPv4 beside IPv6 (the general comparison).
        let v4: Vec<IpAddr> = [
            [10, 0, 0, 1],
            [10, 0, 0, 2],
            [9, 255, 255, 255],
            [10, 0, 1, 0],
        ]
        .into_iter()
        .chain([
            [0, 0, 0, 0],
            [255, 255, 255, 255],
            [1, 0, 0, 0],
            [0, 0, 0, 1],
        ])
        .map(|a| IpAddr::V4(Ipv4Addr::from(a)))
        .collect();
        let v6 = [
            IpAddr::from([0u16; 8]),
            IpAddr::from([0xfe80, 0, 0, 0, 0, 0, 0, 1]),
        ];
        let ports = [0u16, 1, 80, 255, 256, 40000, u16::MAX];
        for &src in v4.iter().chain(&v6) {
            for &dst in v4.iter().chain(&v6) {
                for &sport in &ports {
                    for &dport in &ports {
                        let a = Endpoint {
                            ip: src,
                            port: sport,
                        };
                        let b = Endpoint {
                            ip: dst,
                            port: dport,
                        };
                        let want = if a <= b { (a, b) } else { (b, a) };
                        let key = FlowKey::new(&IpPair { src, dst }, sport, dport);
                        assert_eq!(key.endpoints(), want, "{a:?} {b:?}");
                        for n in [1, 7, 64] {
                            let shard = FlowKey::shard_for(&IpPair { src, dst }, sport, dport, n);
                            assert_eq!(shard, key.shard(n), "{a:?} {b:?}");
                        }
                    }
                }
            }
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
        // a fixed value, the same on every platform
        assert_eq!(h, 0x6704_8658_6856_5074, "{h:#x}");
        // spread: consecutive client ports to one server (the common case), over 64 shards;
        // and IPv6 clients differing in one address bit
        let mut seen = [0usize; 64];
        for p in 0..6400u16 {
            seen[shard_of(&ab, 30000 + p, 80, 64)] += 1;
        }
        assert!(seen.iter().all(|&c| (70..=130).contains(&c)), "{seen:?}");
        let mut seen = [0usize; 64];
        for i in 0..6400u32 {
            let ip = IpPair {
                src: IpAddr::V6(std::net::Ipv6Addr::from(
                    0x2001_0db8_u128 << 96 | u128::from(i),
                )),
                dst: IpAddr::V6(std::net::Ipv6Addr::from(0x2001_0db8_u128 << 96 | 1)),
            };
            seen[shard_of(&ip, 40000, 443, 64)] += 1;
        }
        assert!(seen.iter().all(|&c| (70..=130).contains(&c)), "{seen:?}");
    }

    fn entry(id: u64) -> FlowEntry<u32> {
        FlowEntry {
            last_seen: 0,
            id,
            value: 0,
        }
    }

    #[test]
    fn eviction_is_lru_and_bounded() {
        let mut t: FlowTable<u32> = FlowTable::new(16);
        let ip = pair([1, 1, 1, 1], [2, 2, 2, 2]);
        let key = |i: u16| FlowKey::new(&ip, 1000 + i, 80);
        for i in 0..16u16 {
            t.insert(key(i), entry(u64::from(i)));
        }
        assert!(t.is_full());
        // Activity: 0 and 5 get a packet; 1 is now the least recently active.
        t.touch(&key(0));
        t.touch(&key(5));
        let mut ev = Vec::new();
        t.make_room(|k, e| ev.push((k, e.id)));
        assert_eq!(ev, vec![(key(1), 1)]);
        assert_eq!(t.len(), 15);
        t.insert(key(100), entry(100));
        t.make_room(|k, e| ev.push((k, e.id)));
        assert_eq!(ev[1], (key(2), 2));
        let order: Vec<FlowKey> = t.keys_by_activity();
        let want: Vec<FlowKey> = (3..16)
            .filter(|&i| i != 5)
            .chain([0, 5, 100])
            .map(key)
            .collect();
        assert_eq!(order, want);
        // Removing from the middle, the front and the back keeps the list whole; slots are reused.
        assert!(t.remove(&key(7)).is_some());
        assert!(t.remove(&key(3)).is_some());
        assert!(t.remove(&key(100)).is_some());
        t.insert(key(200), entry(200));
        let order = t.keys_by_activity();
        assert_eq!(order.first(), Some(&key(4)));
        assert_eq!(order.last(), Some(&key(200)));
        assert_eq!(order.len(), t.len());
        assert_eq!(t.slots.len(), 16);
        let drained: Vec<u64> = t.drain_sorted().iter().map(|(_, e)| e.id).collect();
        assert_eq!(drained.len(), 13);
        assert!(drained.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(t.len(), 0);
        assert!(t.keys_by_activity().is_empty());
    }

    #[test]
    fn eviction_order_over_many_inserts() {
        // A bound of 8 and 1000 keys, every third one touched again: the table always holds the
        // 8 most recently active keys, evicting one per insertion.
        let mut t: FlowTable<u32> = FlowTable::new(8);
        let ip = pair([1, 1, 1, 1], [2, 2, 2, 2]);
        let key = |i: u16| FlowKey::new(&ip, 1000 + i, 80);
        let mut recent: Vec<u16> = Vec::new();
        let mut evicted = 0;
        for i in 0..1000u16 {
            t.make_room(|k, _| {
                assert_eq!(k, key(recent.remove(0)));
                evicted += 1;
            });
            t.insert(key(i), entry(u64::from(i)));
            recent.push(i);
            if i % 3 == 0 && i >= 4 {
                let j = i - 4;
                if let Some(p) = recent.iter().position(|&r| r == j) {
                    recent.remove(p);
                    recent.push(j);
                    t.touch(&key(j));
                }
            }
            assert!(t.len() <= 8);
        }
        assert_eq!(evicted, 992);
        assert_eq!(
            t.keys_by_activity(),
            recent.iter().map(|&i| key(i)).collect::<Vec<_>>()
        );
        assert!(t.slots.len() <= 8);
    }
}
