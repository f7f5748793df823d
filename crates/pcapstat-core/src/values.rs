//! An exact store of `i64` values for order statistics, in 1–3 bytes per value on timing data
//! (about one once the store is large): the report's percentile figures
//! (`pcapstat::ReportBuilder`) and the RTT median of each TCP direction (`tcp::rtt`).
//!
//! Values come unsorted into a buffer. A full buffer is sorted and kept as a *run*: its first
//! value zigzag-LEB128 encoded, each next one as the LEB128 difference to the one before (never
//! negative, the run being sorted). Durations of one kind lie close together, so in a long run
//! most differences fit in one byte. The buffer holds up to a quarter as many values as the
//! runs (at least [`MIN_RUN`], at most [`MAX_RUN`]): a store of a few values stays a few words,
//! runs grow geometrically with the store, and each value is sorted and encoded once, about
//! what the final sort of a `Vec` cost. Runs are never merged while values come (merging cost
//! the reading thread more than the sort it replaces), so a store of n values has at most
//! n / [`MAX_RUN`] + 25 runs. Ranks are read in one k-way merge over the runs that decodes as
//! it goes (a store of up to 32 768 values), or, in a larger store, by counting the values in
//! log-linear buckets in two passes in storage order and sorting only the values of the buckets
//! that hold the ranks (each within about 3 % of the others): the store is never expanded to 8
//! bytes per value, and a bucket of over 2^20 values is left to the merge.

use std::collections::binary_heap::{BinaryHeap, PeekMut};

/// The smallest run made of a full buffer (2 KiB of buffer).
const MIN_RUN: usize = 256;
/// The largest run: the buffer holds at most this many values (64 KiB).
const MAX_RUN: usize = 1 << 13;
/// Stores of at most this many values answer [`ValueStore::select`] by the merge (cheap at
/// that size); larger ones by counting values in buckets ([`ValueStore::select_by_buckets`]).
const SELECT_BY_MERGE: usize = 4 * MAX_RUN;
/// Most values gathered and sorted for one wanted bucket (8 bytes each): a bucket holding more
/// (that many values within about 3 % of each other) leaves the ranks to the merge.
const BUCKET_LIMIT: usize = 1 << 20;
/// Buckets of [`bucket_of`]: 64 of width one, then 32 for each power of two up to 2^64.
const BUCKETS: usize = 64 + 58 * 32;

/// A multiset of `i64` values (any, duplicates kept) answering order statistics exactly:
/// [`ValueStore::nth`], [`ValueStore::select`] (several ranks in one pass) and
/// [`ValueStore::sorted`]. Memory: [`ValueStore::heap_bytes`]; see the module documentation.
#[derive(Debug, Clone, Default)]
pub struct ValueStore {
    /// Values not yet in a run, unsorted.
    buffer: Vec<i64>,
    /// Sorted runs; together with `buffer`, every value once.
    runs: Vec<Run>,
    len: usize,
}

/// A sorted run: the first value zigzag-LEB128, then LEB128 differences.
#[derive(Debug, Clone)]
struct Run {
    bytes: Box<[u8]>,
}

impl ValueStore {
    /// An empty store (allocates nothing).
    pub fn new() -> ValueStore {
        ValueStore::default()
    }

    /// Adds a value.
    pub fn push(&mut self, value: i64) {
        let full = ((self.len - self.buffer.len()) / 4).clamp(MIN_RUN, MAX_RUN);
        if self.buffer.len() == self.buffer.capacity() {
            // Doubling as a Vec does, but never past the size at which the buffer becomes a
            // run: no spare capacity beyond it.
            let room = full.saturating_sub(self.buffer.len());
            self.buffer
                .reserve_exact(self.buffer.len().max(4).min(room));
        }
        self.buffer.push(value);
        self.len += 1;
        if self.buffer.len() >= full {
            self.flush();
        }
    }

    /// The number of values.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the store has no value.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The value at 0-based position `k` of the values sorted in ascending order; `None` when
    /// `k >= len()`.
    pub fn nth(&self, k: usize) -> Option<i64> {
        self.select([k]).map(|[v]| v)
    }

    /// The values at the 0-based positions `ranks` (in any order) of the values sorted in
    /// ascending order; `None` when a rank is `>= len()`. A small store merges its runs up to
    /// the largest rank; a large one counts its values in buckets, then sorts only the values
    /// of the buckets holding the ranks (two passes in storage order, no merge).
    pub fn select<const N: usize>(&self, ranks: [usize; N]) -> Option<[i64; N]> {
        if ranks.iter().any(|&k| k >= self.len) {
            return None;
        }
        if self.len > SELECT_BY_MERGE {
            if let Some(out) = self.select_by_buckets(ranks, BUCKET_LIMIT) {
                return Some(out);
            }
        }
        self.select_by_merge(ranks)
    }

    /// [`ValueStore::select`] by one k-way merge of the runs, up to the largest rank.
    pub(crate) fn select_by_merge<const N: usize>(&self, ranks: [usize; N]) -> Option<[i64; N]> {
        let mut order: [usize; N] = std::array::from_fn(|i| i);
        order.sort_unstable_by_key(|&i| ranks[i]);
        let mut out = [0; N];
        let mut wanted = order.iter().peekable();
        for (position, value) in self.sorted().enumerate() {
            while let Some(&&i) = wanted.peek() {
                if ranks[i] != position {
                    break;
                }
                out[i] = value;
                wanted.next();
            }
            if wanted.peek().is_none() {
                return Some(out);
            }
        }
        // Only reached with N = 0 or a store whose runs lost values (a bug): no answer.
        wanted.peek().is_none().then_some(out)
    }

    /// [`ValueStore::select`] by counting: the values (decoded in storage order, not sorted)
    /// are counted in log-linear buckets of their distance to the smallest one (`bucket_of`:
    /// exact below 64, then 32 buckets per power of two); the counts say which bucket holds
    /// each rank and where in it; a second pass gathers the values of those buckets, which
    /// are sorted. `None` (the caller merges instead) when a wanted bucket holds more than
    /// `limit` values, or when the counts do not add up to the store's length.
    fn select_by_buckets<const N: usize>(
        &self,
        ranks: [usize; N],
        limit: usize,
    ) -> Option<[i64; N]> {
        // The smallest value: a run's first is its smallest.
        let min = self
            .runs
            .iter()
            .filter_map(|r| r.values().next())
            .chain(self.buffer.iter().copied())
            .min()?;
        // `v >= min`: the difference modulo 2^64 is the exact distance.
        let bucket = |v: i64| bucket_of((v as u64).wrapping_sub(min as u64));
        let mut counts = vec![0usize; BUCKETS];
        self.each(|v| {
            if let Some(c) = counts.get_mut(bucket(v)) {
                *c += 1;
            }
        });
        // `before[b]`: the values in the buckets below `b`.
        let mut before = Vec::with_capacity(BUCKETS + 1);
        let mut sum = 0usize;
        for &c in &counts {
            before.push(sum);
            sum += c;
        }
        if sum != self.len {
            return None;
        }
        // Each rank's bucket: the last whose values start at or below it (a rank below
        // `len` lies in a bucket that holds values).
        let mut wanted = [0usize; N];
        let mut slot = vec![usize::MAX; BUCKETS];
        let mut gathered: Vec<Vec<i64>> = Vec::new();
        for (i, &k) in ranks.iter().enumerate() {
            let b = before.partition_point(|&s| s <= k).checked_sub(1)?;
            if counts.get(b).is_none_or(|&c| c > limit) {
                return None;
            }
            wanted[i] = b;
            if slot[b] == usize::MAX {
                slot[b] = gathered.len();
                gathered.push(Vec::with_capacity(counts[b]));
            }
        }
        self.each(|v| {
            if let Some(g) = slot.get(bucket(v)).and_then(|&s| gathered.get_mut(s)) {
                g.push(v);
            }
        });
        for g in &mut gathered {
            g.sort_unstable();
        }
        let mut out = [0; N];
        for (i, &k) in ranks.iter().enumerate() {
            let b = wanted[i];
            out[i] = *gathered.get(slot[b])?.get(k - before[b])?;
        }
        Some(out)
    }

    /// Every value, run by run then the buffer's (not in order).
    fn each(&self, mut f: impl FnMut(i64)) {
        for run in &self.runs {
            run.values().for_each(&mut f);
        }
        self.buffer.iter().copied().for_each(f);
    }

    /// Every value in ascending order, decoded as the iterator goes (a sorted copy of the
    /// buffer, at most [`MAX_RUN`] values, is the only allocation besides one cursor per run).
    pub fn sorted(&self) -> impl Iterator<Item = i64> + '_ {
        let mut buffer = self.buffer.clone();
        sort_values(&mut buffer);
        Merge::new(&self.runs, buffer)
    }

    /// The bytes this store holds on the heap: buffer and run list capacities, run bytes.
    pub fn heap_bytes(&self) -> usize {
        self.buffer.capacity() * size_of::<i64>()
            + self.runs.capacity() * size_of::<Run>()
            + self.runs.iter().map(|r| r.bytes.len()).sum::<usize>()
    }

    /// Releases spare capacity: the buffer becomes a run and the lists are shrunk to fit. More
    /// values may still be added (the buffer then grows again).
    pub fn compact(&mut self) {
        self.flush();
        self.buffer = Vec::new();
        self.runs.shrink_to_fit();
    }

    /// Turns the buffer into a run.
    fn flush(&mut self) {
        if self.buffer.is_empty() {
            return;
        }
        sort_values(&mut self.buffer);
        self.runs.push(Run::encode(&self.buffer));
        self.buffer.clear();
    }
}

impl Run {
    /// Encodes values given in ascending order.
    fn encode(sorted: &[i64]) -> Run {
        // One byte per difference is the common case; the Vec grows past it if need be.
        let mut bytes = Vec::with_capacity(sorted.len() + 8);
        let mut prev: Option<i64> = None;
        for &v in sorted {
            match prev {
                None => write_varint(&mut bytes, zigzag(v)),
                // Sorted, so v >= p: the difference modulo 2^64 is the exact difference, even
                // from i64::MIN to i64::MAX.
                Some(p) => write_varint(&mut bytes, (v as u64).wrapping_sub(p as u64)),
            }
            prev = Some(v);
        }
        Run {
            bytes: bytes.into_boxed_slice(),
        }
    }

    fn values(&self) -> Cursor<'_> {
        Cursor {
            bytes: &self.bytes,
            pos: 0,
            prev: None,
        }
    }
}

/// Decodes a run lazily.
#[derive(Debug)]
struct Cursor<'a> {
    bytes: &'a [u8],
    pos: usize,
    prev: Option<i64>,
}

impl Iterator for Cursor<'_> {
    type Item = i64;

    fn next(&mut self) -> Option<i64> {
        let v = match self.prev {
            // One byte: the common case.
            Some(p) if self.bytes.get(self.pos).is_some_and(|&b| b < 0x80) => {
                let d = self.bytes[self.pos];
                self.pos += 1;
                p.wrapping_add(i64::from(d))
            }
            Some(p) => p.wrapping_add(read_varint(self.bytes, &mut self.pos)? as i64),
            None => unzigzag(read_varint(self.bytes, &mut self.pos)?),
        };
        self.prev = Some(v);
        Some(v)
    }
}

/// A k-way merge of sorted runs and a sorted buffer.
#[derive(Debug)]
struct Merge<'a> {
    runs: Vec<Cursor<'a>>,
    buffer: std::vec::IntoIter<i64>,
    /// The next value of each source that has one.
    heads: BinaryHeap<Head>,
}

/// The next value of a source (`runs.len()` is the buffer), smallest first out of the heap.
/// Ordered by the value alone: equal values are interchangeable, and one comparison per step
/// is what the merge costs.
#[derive(Debug, Clone, Copy)]
struct Head {
    value: i64,
    source: usize,
}

impl Ord for Head {
    fn cmp(&self, other: &Head) -> std::cmp::Ordering {
        other.value.cmp(&self.value)
    }
}

impl PartialOrd for Head {
    fn partial_cmp(&self, other: &Head) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Head {
    fn eq(&self, other: &Head) -> bool {
        self.value == other.value
    }
}

impl Eq for Head {}

impl<'a> Merge<'a> {
    fn new(runs: &'a [Run], sorted_buffer: Vec<i64>) -> Merge<'a> {
        let mut m = Merge {
            runs: runs.iter().map(Run::values).collect(),
            buffer: sorted_buffer.into_iter(),
            heads: BinaryHeap::with_capacity(runs.len() + 1),
        };
        for source in 0..=m.runs.len() {
            if let Some(value) = advance(&mut m.runs, &mut m.buffer, source) {
                m.heads.push(Head { value, source });
            }
        }
        m
    }
}

fn advance(
    runs: &mut [Cursor<'_>],
    buffer: &mut impl Iterator<Item = i64>,
    source: usize,
) -> Option<i64> {
    match runs.get_mut(source) {
        Some(cursor) => cursor.next(),
        None => buffer.next(),
    }
}

impl Iterator for Merge<'_> {
    type Item = i64;

    fn next(&mut self) -> Option<i64> {
        let mut head = self.heads.peek_mut()?;
        let Head { value, source } = *head;
        match advance(&mut self.runs, &mut self.buffer, source) {
            Some(next) => head.value = next,
            None => {
                PeekMut::pop(head);
            }
        }
        Some(value)
    }
}

/// The bucket of a distance `u` to the smallest value: `u` itself below 64; above, 32
/// buckets for each power of two (the five bits after the leading one), so a bucket spans at
/// most 1/32 of its values. Ascending with `u`; below [`BUCKETS`].
fn bucket_of(u: u64) -> usize {
    if u < 64 {
        return u as usize;
    }
    // 6..=63: the leading one's place.
    let e = 63 - u.leading_zeros() as usize;
    let sub = ((u >> (e - 5)) & 31) as usize;
    64 + (e - 6) * 32 + sub
}

fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

fn unzigzag(u: u64) -> i64 {
    ((u >> 1) as i64) ^ -((u & 1) as i64)
}

fn write_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push(v as u8 | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Fewest values [`sort_values`] sorts by radix (a pass's counters are as many); fewer are
/// left to `sort_unstable`.
const RADIX_FROM: usize = 2048;
/// Bits of the radix sort's digit: 2 048 counters a pass (8 bits took 4 passes over a
/// request-heavy run's range of 28 bits, and 28 % longer: 51 µs against 40 µs).
const DIGIT: u32 = 11;
/// Most passes of [`sort_values`]' radix sort ([`DIGIT`] bits of the values' range each); a
/// wider range is left to `sort_unstable`.
const RADIX_PASSES: u32 = 4;

/// Sorts `values` ascending. A buffer becoming a run holds durations of one kind, whose range
/// (largest minus smallest) spans a few tens of bits: a least-significant-digit radix sort of
/// their offsets from the smallest, [`DIGIT`] bits a pass, as many passes as the range needs
/// (a pass whose digit is the same in every value skipped), takes 60 % of the comparison sort
/// of such values (`cargo bench -p pcapstat-benches --bench values -- sort`: 8 192 durations,
/// 40 µs against 68 µs). Few values, or a range of more than [`RADIX_PASSES`] digits:
/// `sort_unstable`.
pub(crate) fn sort_values(values: &mut [i64]) {
    if values.len() < RADIX_FROM {
        values.sort_unstable();
        return;
    }
    let (mut lo, mut hi) = (i64::MAX, i64::MIN);
    for &v in values.iter() {
        lo = lo.min(v);
        hi = hi.max(v);
    }
    // hi >= lo: the difference modulo 2^64 is the exact range.
    let range = (hi as u64).wrapping_sub(lo as u64);
    let passes = (u64::BITS - range.leading_zeros()).div_ceil(DIGIT);
    if passes > RADIX_PASSES {
        values.sort_unstable();
        return;
    }
    let mut keys: Vec<u64> = values
        .iter()
        .map(|&v| (v as u64).wrapping_sub(lo as u64))
        .collect();
    let mut out = vec![0u64; keys.len()];
    for pass in 0..passes {
        let shift = pass * DIGIT;
        let mut at = [0usize; 1 << DIGIT];
        for &k in &keys {
            at[((k >> shift) & ((1 << DIGIT) - 1)) as usize] += 1;
        }
        if at.contains(&keys.len()) {
            continue;
        }
        let mut sum = 0;
        for slot in at.iter_mut() {
            let n = *slot;
            *slot = sum;
            sum += n;
        }
        for &k in &keys {
            let digit = ((k >> shift) & ((1 << DIGIT) - 1)) as usize;
            // `at[digit]` stays below the count of keys up to this digit: always in `out`.
            if let Some(o) = out.get_mut(at[digit]) {
                *o = k;
            }
            at[digit] += 1;
        }
        std::mem::swap(&mut keys, &mut out);
    }
    for (v, k) in values.iter_mut().zip(&keys) {
        *v = k.wrapping_add(lo as u64) as i64;
    }
}

/// `None` at the end of the bytes (or on a varint longer than 64 bits, which the encoder never
/// writes).
fn read_varint(bytes: &[u8], pos: &mut usize) -> Option<u64> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let b = *bytes.get(*pos)?;
        *pos += 1;
        v |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return Some(v);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    /// SplitMix64: deterministic pseudo-random values without a dependency.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^ (z >> 31)
        }

        /// Uniform in `[lo, lo + span)`.
        fn around(&mut self, lo: i64, span: u64) -> i64 {
            lo + (self.next() % span) as i64
        }
    }

    fn store_of(values: &[i64]) -> ValueStore {
        let mut s = ValueStore::new();
        for &v in values {
            s.push(v);
        }
        s
    }

    /// Every value in order, every nearest rank of the report and the lower median agree with
    /// a sorted Vec; also after `compact` and after more values.
    fn check(values: &[i64]) {
        let mut sorted = values.to_vec();
        sorted.sort_unstable();
        let mut store = store_of(values);
        for round in 0..2 {
            assert_eq!(store.len(), sorted.len());
            assert!(
                store.sorted().eq(sorted.iter().copied()),
                "n={}",
                sorted.len()
            );
            let n = sorted.len();
            if n == 0 {
                assert_eq!(store.nth(0), None);
                assert_eq!(store.select([0, 0]), None);
            } else {
                let rank = |p: usize| (n * p).div_ceil(100).clamp(1, n) - 1;
                let ranks = [
                    n - 1,
                    rank(50),
                    0,
                    rank(99),
                    rank(90),
                    rank(95),
                    (n - 1) / 2,
                ];
                let want = Some(ranks.map(|k| sorted[k]));
                assert_eq!(store.select(ranks), want);
                // Both ways, whichever `select` took.
                assert_eq!(store.select_by_merge(ranks), want);
                assert_eq!(store.select_by_buckets(ranks, BUCKET_LIMIT), want);
                // A wanted bucket over the limit: no answer (`select` merges).
                assert_eq!(store.select_by_buckets(ranks, 0), None);
                assert_eq!(store.nth((n - 1) / 2), Some(sorted[(n - 1) / 2]));
                assert_eq!(store.nth(n), None);
                assert_eq!(store.select([0, n]), None);
            }
            if round == 0 {
                store.compact();
            }
        }
        // Values added after a compaction join the others.
        let extra = [i64::MIN, 0, i64::MAX];
        for v in extra {
            store.push(v);
        }
        sorted.extend(extra);
        sorted.sort_unstable();
        assert!(store.sorted().eq(sorted.iter().copied()));
    }

    #[test]
    fn sort_values_matches_sort_unstable() {
        let mut rng = Rng(7);
        // Ranges of 0 to 64 bits (the radix's 1 to 4 passes and the comparison sort past
        // them), around zero, near the ends of i64, with duplicates; sizes either side of
        // RADIX_FROM.
        for n in [1000, RADIX_FROM - 1, RADIX_FROM, 8192] {
            for bits in [0u32, 1, 10, 11, 12, 22, 23, 33, 44, 45, 63, 64] {
                for base in [0i64, -1_000_000, i64::MIN, i64::MAX - (1 << 20)] {
                    let span = if bits == 64 {
                        u64::MAX
                    } else {
                        (1u64 << bits).max(1)
                    };
                    let mut values: Vec<i64> = (0..n)
                        .map(|_| base.wrapping_add((rng.next() % span) as i64))
                        .collect();
                    let mut want = values.clone();
                    want.sort_unstable();
                    sort_values(&mut values);
                    assert_eq!(values, want, "n={n} bits={bits} base={base}");
                }
            }
        }
    }

    #[test]
    fn small_and_boundary_sizes_match_a_sorted_vec() {
        // The sizes at which the buffer becomes a run, and one either side.
        let mut boundaries = Vec::new();
        let mut store = ValueStore::new();
        for n in 1..=20_000 {
            let runs = store.runs.len();
            store.push(0);
            if store.runs.len() > runs {
                boundaries.extend([n - 1, n, n + 1]);
            }
        }
        assert_eq!(&boundaries[..3], &[MIN_RUN - 1, MIN_RUN, MIN_RUN + 1]);
        assert!(boundaries.len() > 3 * 8, "{boundaries:?}");
        let mut rng = Rng(1);
        for n in [0, 1, 2, 3].into_iter().chain(boundaries) {
            let values: Vec<i64> = (0..n).map(|_| rng.around(50_000, 100_000)).collect();
            check(&values);
        }
    }

    #[test]
    fn shapes_match_a_sorted_vec() {
        let mut rng = Rng(2);
        for n in [1, 2, 5, 300, 5000, 70_000] {
            let random: Vec<i64> = (0..n).map(|_| rng.next() as i64).collect();
            check(&random);
            check(&vec![42; n]);
            check(&(0..n as i64).collect::<Vec<_>>());
            check(&(0..n as i64).rev().collect::<Vec<_>>());
            check(&(0..n).map(|_| -rng.around(0, 1 << 40)).collect::<Vec<_>>());
            // Extremes mixed with small values: the largest possible differences.
            let extremes: Vec<i64> = (0..n)
                .map(|_| match rng.next() % 4 {
                    0 => i64::MIN,
                    1 => i64::MAX,
                    2 => -1,
                    _ => rng.around(-5, 10),
                })
                .collect();
            check(&extremes);
        }
    }

    #[test]
    fn a_million_values_match_a_sorted_vec() {
        let mut rng = Rng(3);
        let values: Vec<i64> = (0..1_000_000)
            .map(|i| rng.around(0, 10_000_000) + i % 7)
            .collect();
        let store = store_of(&values);
        assert!(
            store.runs.len() <= values.len() / MAX_RUN + 25,
            "{}",
            store.runs.len()
        );
        check(&values);
    }

    /// The memory bounds stated in docs/performance.md, on durations of one kind (100 µs ±
    /// 50 µs in ns), buffer and bookkeeping included: from 10 000 values on, at most 3 bytes
    /// per value while the buffer grows with the store (up to a fifth of the values, just
    /// before it becomes a run) and 1.5 once the buffer is a run or small beside the runs;
    /// below, never more than a `Vec<i64>` plus the 2 KiB of the smallest buffer; a few
    /// values keep a few words.
    #[test]
    fn timing_values_take_about_a_byte_each() {
        let mut rng = Rng(4);
        let mut store = ValueStore::new();
        let mut worst: f64 = 0.0;
        for n in 1..=1_000_000 {
            store.push(rng.around(50_000, 100_000));
            if n >= 10_000 && n % 100 == 0 {
                worst = worst.max(store.heap_bytes() as f64 / n as f64);
            } else if n < 10_000 {
                assert!(store.heap_bytes() <= 8 * n + 8 * MIN_RUN + 64, "n={n}");
            }
            if n == 100_000 {
                let mut compacted = store.clone();
                compacted.compact();
                let per_value = compacted.heap_bytes() as f64 / n as f64;
                assert!(per_value <= 1.5, "{per_value:.2} B/value compacted");
            }
        }
        assert!(worst <= 3.0, "{worst:.2} B/value");
        let per_value = store.heap_bytes() as f64 / store.len() as f64;
        assert!(per_value <= 1.5, "{per_value:.2} B/value at 1e6");
        // An RTT direction at the sample limit (4096), compacted.
        let mut rtt = ValueStore::new();
        for _ in 0..4096 {
            rtt.push(rng.around(50_000, 100_000));
        }
        rtt.compact();
        assert!(rtt.heap_bytes() <= 2 * 4096, "{} B", rtt.heap_bytes());
        // A few samples keep a few words.
        let few = store_of(&[120_000, 80_000, 95_000]);
        assert!(few.heap_bytes() <= 64, "{} B", few.heap_bytes());
        assert_eq!(ValueStore::new().heap_bytes(), 0);
    }

    /// Buckets ascend with the distance, cover every `u64` below `BUCKETS`, and span at most
    /// 1/32 of their values above 64.
    #[test]
    fn buckets_ascend_and_stay_narrow() {
        let mut edges = vec![0u64, 1, 63, 64, 65, 127, 128, u64::MAX - 1, u64::MAX];
        for e in 6..64 {
            for sub in 0..32u64 {
                let start = (1u64 << e) + (sub << (e - 5));
                edges.extend([start - 1, start, start + 1]);
            }
        }
        edges.sort_unstable();
        edges.dedup();
        for w in edges.windows(2) {
            assert!(bucket_of(w[0]) <= bucket_of(w[1]), "{} {}", w[0], w[1]);
        }
        assert_eq!(bucket_of(u64::MAX), BUCKETS - 1);
        for e in 6..64 {
            for sub in 0..32u64 {
                let start = (1u64 << e) + (sub << (e - 5));
                let last = start + ((1u64 << (e - 5)) - 1);
                assert_eq!(bucket_of(start), bucket_of(last));
                assert_eq!(bucket_of(start), 64 + (e - 6) * 32 + sub as usize);
                assert!((last - start) as f64 / start as f64 <= 1.0 / 32.0);
            }
        }
    }

    #[test]
    fn varints_and_zigzag_round_trip() {
        for v in [0, 1, -1, 63, -64, 64, i64::MIN, i64::MAX, 1 << 40] {
            assert_eq!(unzigzag(zigzag(v)), v);
            let mut bytes = Vec::new();
            write_varint(&mut bytes, zigzag(v));
            write_varint(&mut bytes, v as u64);
            let mut pos = 0;
            assert_eq!(read_varint(&bytes, &mut pos), Some(zigzag(v)));
            assert_eq!(read_varint(&bytes, &mut pos), Some(v as u64));
            assert_eq!(read_varint(&bytes, &mut pos), None);
        }
        // Truncated or overlong: no value, no panic.
        assert_eq!(read_varint(&[0x80], &mut 0), None);
        assert_eq!(read_varint(&[0xff; 11], &mut 0), None);
    }
}
