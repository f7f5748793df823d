//! HPACK (RFC 7541) decoding: header blocks to (name, value) pairs, with the dynamic table
//! bounded by the size the decoding side allowed.
//!
//! Hand-written because the maintained crate that fits otherwise (`loona-hpack`) rebuilds a
//! Huffman lookup map for every Huffman-coded string (about 19 µs each in a release build,
//! i.e. 0.1–0.2 ms per request): here the Huffman tree is built once and walked bit by bit.
//! `loona-hpack` stays as the test oracle, beside RFC 7541 Appendix C. No panics on any
//! input: every length and index is checked, integers are bounded.

use std::collections::VecDeque;
use std::sync::{Arc, OnceLock};

mod tables;

use tables::{HUFFMAN_CODES, STATIC_TABLE};

/// Why a header block could not be decoded (the decoder's table is then out of step with the
/// encoder's: nothing more can be decoded in that direction).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum HpackError {
    /// The block ended inside a representation.
    Truncated,
    /// An integer longer than 5 continuation bytes or above 2^32.
    Integer,
    /// Index 0, or past the static and dynamic tables.
    Index,
    /// Invalid Huffman code: EOS inside a string, or padding longer than 7 bits or not all ones.
    Huffman,
    /// A dynamic table size update above the allowed size, or after a header field.
    TableSize,
}

/// A shared octet string (a dynamic table entry's name or value).
type Octets = Arc<[u8]>;

/// Per-entry overhead in the table size (RFC 7541 §4.1).
const ENTRY_OVERHEAD: usize = 32;
/// Memory an entry's two shared strings take besides their octets: each a heap block with its
/// reference counts (16 bytes) and the allocator's header and rounding (about 16).
const ENTRY_HEAP_OVERHEAD: usize = 2 * 32;

/// Memory an entry takes on the heap besides its slot in the table (QPACK's tables are made
/// of the same shared strings).
pub(crate) fn entry_heap(name: &[u8], value: &[u8]) -> usize {
    name.len() + value.len() + ENTRY_HEAP_OVERHEAD
}

/// One direction's HPACK decoding state.
#[derive(Debug)]
pub(crate) struct Decoder {
    /// Newest entry first. Shared (`Arc`) so that a literal naming an entry by index shares
    /// the name instead of copying it: decoding never copies a table entry.
    table: VecDeque<(Octets, Octets)>,
    /// Sum of entry sizes.
    size: usize,
    /// Current maximum table size (set by size updates).
    max_size: usize,
    /// Largest size an update may set (the decoding side's SETTINGS_HEADER_TABLE_SIZE, capped).
    allowed: usize,
    /// Memory the entries take on the heap (`entry_heap` each; a name shared with another
    /// entry counts in both).
    heap: usize,
}

impl Decoder {
    /// A decoder with HPACK's initial table size `initial` (4096 in HTTP/2), which is also the
    /// allowed maximum until [`set_allowed`](Decoder::set_allowed).
    pub(crate) fn new(initial: usize) -> Self {
        Decoder {
            table: VecDeque::new(),
            size: 0,
            max_size: initial,
            allowed: initial,
            heap: 0,
        }
    }

    /// Memory the table holds: its slots' room and its entries' strings. Tiny entries take
    /// about three times their HPACK size (`name + value + 32`): a 64 KiB table of one-byte
    /// names about 190 KB.
    pub(crate) fn held(&self) -> usize {
        self.heap + self.table.capacity() * std::mem::size_of::<(Octets, Octets)>()
    }

    /// The largest table size a size update may set from now on.
    pub(crate) fn set_allowed(&mut self, n: usize) {
        self.allowed = n;
    }

    /// Decodes one whole header block, calling `field(name, value)` for each header field in
    /// order.
    pub(crate) fn decode(
        &mut self,
        block: &[u8],
        mut field: impl FnMut(&[u8], &[u8]),
    ) -> Result<(), HpackError> {
        let mut i = 0;
        let mut fields = 0usize;
        while let Some(&b) = block.get(i) {
            if b & 0x80 != 0 {
                // Indexed header field.
                let (idx, n) = integer(&block[i..], 7)?;
                i += n;
                let (name, value) = self.entry(idx)?;
                field(name, value);
                fields += 1;
            } else if b & 0xe0 == 0x20 {
                // Dynamic table size update: only before the first field of a block.
                let (size, n) = integer(&block[i..], 5)?;
                i += n;
                if fields > 0 || size > self.allowed {
                    return Err(HpackError::TableSize);
                }
                self.max_size = size;
                self.evict(0);
            } else {
                // Literal: with incremental indexing (01), without (0000) or never (0001).
                let indexing = b & 0x40 != 0;
                let (idx, n) = integer(&block[i..], if indexing { 6 } else { 4 })?;
                i += n;
                let name = if idx == 0 {
                    let (s, n) = string(block.get(i..).unwrap_or(&[]))?;
                    i += n;
                    Name::Literal(s)
                } else {
                    Name::Indexed(idx)
                };
                let (value, n) = string(block.get(i..).unwrap_or(&[]))?;
                i += n;
                let name_arc = match name {
                    Name::Literal(s) => {
                        field(&s, &value);
                        indexing.then(|| Arc::from(s.as_ref()))
                    }
                    Name::Indexed(idx) => {
                        let (n, shared) = self.entry_shared(idx)?;
                        field(n, &value);
                        // Only an indexed name kept in the table is shared; a static name is
                        // short.
                        indexing.then(|| shared.unwrap_or_else(|| Arc::from(n)))
                    }
                };
                fields += 1;
                if let Some(name) = name_arc {
                    self.insert(name, Arc::from(value.as_ref()));
                }
            }
        }
        Ok(())
    }

    fn entry(&self, idx: usize) -> Result<(&[u8], &[u8]), HpackError> {
        if let Some(&(n, v)) = idx.checked_sub(1).and_then(|k| STATIC_TABLE.get(k)) {
            return Ok((n, v));
        }
        idx.checked_sub(STATIC_TABLE.len() + 1)
            .and_then(|k| self.table.get(k))
            .map(|(n, v)| (&n[..], &v[..]))
            .ok_or(HpackError::Index)
    }

    /// The name of entry `idx`, with its shared copy when it is in the dynamic table.
    fn entry_shared(&self, idx: usize) -> Result<(&[u8], Option<Octets>), HpackError> {
        if let Some(&(n, _)) = idx.checked_sub(1).and_then(|k| STATIC_TABLE.get(k)) {
            return Ok((n, None));
        }
        idx.checked_sub(STATIC_TABLE.len() + 1)
            .and_then(|k| self.table.get(k))
            .map(|(n, _)| (&n[..], Some(Arc::clone(n))))
            .ok_or(HpackError::Index)
    }

    /// Evicts the oldest entries until `extra` more octets fit.
    fn evict(&mut self, extra: usize) {
        while self.size + extra > self.max_size {
            match self.table.pop_back() {
                Some((n, v)) => {
                    self.size -= n.len() + v.len() + ENTRY_OVERHEAD;
                    self.heap -= entry_heap(&n, &v);
                }
                None => break,
            }
        }
    }

    fn insert(&mut self, name: Octets, value: Octets) {
        let size = name.len() + value.len() + ENTRY_OVERHEAD;
        if size > self.max_size {
            // Not an error: the table is emptied (RFC 7541 §4.4).
            self.table.clear();
            self.size = 0;
            self.heap = 0;
            return;
        }
        self.evict(size);
        self.size += size;
        self.heap += entry_heap(&name, &value);
        self.table.push_front((name, value));
    }
}

/// The fuzzing entry of the decoder (fuzz target `http2`, and the seed replay in `cargo test`):
/// `data` is the allowed table size (2 bytes, big endian), then header blocks, each behind a
/// 2-byte big-endian length (a length past the end takes what is left). The blocks are decoded
/// in order on one decoder until the first error, as the HTTP/2 parser does; the table's
/// bookkeeping is checked after each block. Returns the number of fields decoded.
#[cfg(any(test, feature = "fuzzing"))]
pub(crate) fn fuzz_blocks(data: &[u8]) -> usize {
    let Some((head, mut rest)) = data.split_first_chunk::<2>() else {
        return 0;
    };
    let allowed = usize::from(u16::from_be_bytes(*head));
    let mut dec = Decoder::new(4096);
    dec.set_allowed(allowed);
    let mut fields = 0usize;
    while !rest.is_empty() {
        let (block, next) = match rest.split_first_chunk::<2>() {
            Some((len, tail)) => {
                tail.split_at(usize::from(u16::from_be_bytes(*len)).min(tail.len()))
            }
            None => (rest, &[][..]),
        };
        rest = next;
        if dec.decode(block, |_, _| fields += 1).is_err() {
            break;
        }
        let size: usize = dec
            .table
            .iter()
            .map(|(n, v)| n.len() + v.len() + ENTRY_OVERHEAD)
            .sum();
        assert_eq!(size, dec.size, "table size bookkeeping");
        let heap: usize = dec.table.iter().map(|(n, v)| entry_heap(n, v)).sum();
        assert_eq!(heap, dec.heap, "table memory bookkeeping");
        assert!(dec.size <= dec.max_size, "table over its maximum size");
    }
    fields
}

/// A literal's name: in the block, or an index into the tables.
enum Name<'a> {
    Literal(std::borrow::Cow<'a, [u8]>),
    Indexed(usize),
}

/// An integer with an `prefix`-bit prefix (RFC 7541 §5.1): (value, bytes used).
pub(crate) fn integer(b: &[u8], prefix: u8) -> Result<(usize, usize), HpackError> {
    let mask = u8::try_from((1u16 << prefix.min(8)) - 1).unwrap_or(u8::MAX);
    let first = *b.first().ok_or(HpackError::Truncated)? & mask;
    if first < mask {
        return Ok((usize::from(first), 1));
    }
    let mut value = u64::from(mask);
    for (k, &c) in b.iter().enumerate().skip(1).take(5) {
        value += u64::from(c & 0x7f) << (7 * (k - 1));
        if value > u64::from(u32::MAX) {
            return Err(HpackError::Integer);
        }
        if c & 0x80 == 0 {
            return usize::try_from(value)
                .map(|v| (v, k + 1))
                .map_err(|_| HpackError::Integer);
        }
    }
    if b.len() <= 6 {
        Err(HpackError::Truncated)
    } else {
        Err(HpackError::Integer)
    }
}

/// A string literal (RFC 7541 §5.2): (octets, bytes used).
fn string(b: &[u8]) -> Result<(std::borrow::Cow<'_, [u8]>, usize), HpackError> {
    let huffman = b.first().ok_or(HpackError::Truncated)? & 0x80 != 0;
    let (len, n) = integer(b, 7)?;
    let end = n.checked_add(len).ok_or(HpackError::Truncated)?;
    let raw = b.get(n..end).ok_or(HpackError::Truncated)?;
    if huffman {
        Ok((std::borrow::Cow::Owned(huffman_decode(raw)?), end))
    } else {
        Ok((std::borrow::Cow::Borrowed(raw), end))
    }
}

/// A child in the Huffman tree: a node index, or a symbol with this bit set.
const LEAF: u16 = 0x8000;

/// The Huffman code as a binary tree: `tree[node][bit]`, built once from Appendix B.
fn tree() -> &'static [[u16; 2]] {
    static TREE: OnceLock<Vec<[u16; 2]>> = OnceLock::new();
    TREE.get_or_init(|| {
        let mut t: Vec<[u16; 2]> = vec![[0, 0]];
        for (sym, &(code, len)) in HUFFMAN_CODES.iter().enumerate() {
            let mut node = 0usize;
            for k in (0..len).rev() {
                let bit = usize::from((code >> k) & 1 == 1);
                if k == 0 {
                    t[node][bit] = LEAF | sym as u16;
                } else {
                    if t[node][bit] == 0 {
                        t.push([0, 0]);
                        t[node][bit] = (t.len() - 1) as u16;
                    }
                    node = usize::from(t[node][bit]);
                }
            }
        }
        t
    })
}

/// Decodes a Huffman-coded string (RFC 7541 §5.2, Appendix B).
pub(crate) fn huffman_decode(raw: &[u8]) -> Result<Vec<u8>, HpackError> {
    let t = tree();
    let mut out = Vec::with_capacity(raw.len() * 8 / 5);
    let mut node = 0usize;
    // Bits since the last symbol, and whether they were all ones (valid EOS padding).
    let (mut pad, mut ones) = (0u32, true);
    for &byte in raw {
        for k in (0..8).rev() {
            let bit = (byte >> k) & 1;
            let c = t[node][usize::from(bit)];
            pad += 1;
            ones &= bit == 1;
            if c & LEAF != 0 {
                let sym = c & !LEAF;
                let sym = u8::try_from(sym).map_err(|_| HpackError::Huffman)?; // 256 = EOS
                out.push(sym);
                node = 0;
                (pad, ones) = (0, true);
            } else if c == 0 {
                return Err(HpackError::Huffman);
            } else {
                node = usize::from(c);
            }
        }
    }
    if pad > 7 || !ones {
        return Err(HpackError::Huffman);
    }
    Ok(out)
}

#[cfg(test)]
pub(crate) fn huffman_encode(s: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let (mut acc, mut bits) = (0u64, 0u32);
    for &c in s {
        let (code, len) = HUFFMAN_CODES[usize::from(c)];
        acc = (acc << len) | u64::from(code);
        bits += u32::from(len);
        while bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    if bits > 0 {
        out.push(((acc << (8 - bits)) | (0xff >> bits)) as u8);
    }
    out
}
