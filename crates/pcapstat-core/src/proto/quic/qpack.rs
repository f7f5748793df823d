//! QPACK (RFC 9204) decoding for HTTP/3: field sections to (name, value) pairs, with the
//! dynamic table fed by the peer's encoder stream.
//!
//! One [`Table`] per direction: the encoder stream sent by one side inserts into the table
//! that decodes the field sections that same side sends. Integers and Huffman strings are
//! HPACK's (`proto::http2::hpack`, RFC 9204 §4.1.1 and §4.1.2 reuse RFC 7541's). A field
//! section whose Required Insert Count is above the inserts seen so far is *blocked*
//! ([`QpackError::Blocked`]): the caller keeps it and tries again after more encoder-stream
//! bytes. The table is bounded by [`MAX_QPACK_CAPACITY`]; a larger capacity set by the
//! encoder stops the table ([`QpackError::TableTooLarge`]). Nothing here panics on input.

use std::collections::VecDeque;
use std::sync::Arc;

use crate::proto::http2::hpack::{entry_heap, huffman_decode, integer, HpackError};

/// Largest dynamic table capacity followed per direction (bytes, RFC 9204 §3.2.1 sizes);
/// an encoder setting more stops its table (`QuicStats::qpack_errors`).
pub const MAX_QPACK_CAPACITY: usize = 64 * 1024;
/// Largest encoder-stream instruction kept while incomplete (bytes); a longer one stops the
/// table.
pub const MAX_QPACK_INSTRUCTION: usize = 16 * 1024;

/// Per-entry overhead (RFC 9204 §3.2.1).
const ENTRY_OVERHEAD: usize = 32;

/// Why a field section or an encoder instruction could not be decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QpackError {
    /// Cut short inside a representation.
    Truncated,
    /// An integer above 2^32 or too long.
    Integer,
    /// An index outside the static table or the dynamic table's live entries.
    Index,
    /// Invalid Huffman code.
    Huffman,
    /// An encoded Required Insert Count that cannot be (RFC 9204 §4.5.1.1).
    InsertCount,
    /// The Required Insert Count is above the inserts seen so far: blocked on the encoder
    /// stream.
    Blocked,
    /// The encoder set a capacity above [`MAX_QPACK_CAPACITY`] (or an instruction was too
    /// long, or an earlier error stopped the table): dynamic references cannot be resolved.
    TableTooLarge,
}

impl From<HpackError> for QpackError {
    fn from(e: HpackError) -> Self {
        match e {
            HpackError::Truncated => QpackError::Truncated,
            HpackError::Huffman => QpackError::Huffman,
            HpackError::Index => QpackError::Index,
            HpackError::Integer | HpackError::TableSize => QpackError::Integer,
        }
    }
}

type Octets = Arc<[u8]>;

/// One direction's dynamic table (RFC 9204 §3.2) and its encoder stream.
#[derive(Debug, Default)]
pub struct Table {
    /// Live entries, oldest first; the first has absolute index `dropped`.
    entries: VecDeque<(Octets, Octets)>,
    dropped: u64,
    size: usize,
    capacity: usize,
    /// The decoding side's SETTINGS_QPACK_MAX_TABLE_CAPACITY (for the Required Insert Count's
    /// encoding), when its SETTINGS were read; 0 before.
    max_capacity: u64,
    /// Encoder-stream bytes of an instruction not complete yet.
    pending: Vec<u8>,
    /// Stopped by an error: nothing more is inserted.
    broken: bool,
    /// Memory the entries take on the heap (`entry_heap` each).
    heap: usize,
    /// Memory charged to the HTTP/3 budgets for this table (`held` when last charged).
    pub(crate) charged: usize,
}

impl Table {
    /// Inserts so far (the next entry's absolute index).
    pub fn inserts(&self) -> u64 {
        self.dropped + self.entries.len() as u64
    }

    /// Memory the table holds: its slots' room, its entries' strings and an unfinished
    /// instruction. Tiny entries take about three times their QPACK size.
    pub fn held(&self) -> usize {
        self.heap
            + self.entries.capacity() * std::mem::size_of::<(Octets, Octets)>()
            + self.pending.capacity()
    }

    /// Stops the table (its memory is given back): its field sections' references to it
    /// fail from now on, as after an encoder error.
    pub fn stop(&mut self) {
        self.broken = true;
        self.entries = VecDeque::new();
        self.pending = Vec::new();
        self.heap = 0;
    }

    /// Sets the decoding side's SETTINGS_QPACK_MAX_TABLE_CAPACITY.
    pub fn set_max_capacity(&mut self, n: u64) {
        self.max_capacity = n;
    }

    fn entry(&self, absolute: u64) -> Result<(&[u8], &[u8]), QpackError> {
        if self.broken {
            return Err(QpackError::TableTooLarge);
        }
        let i = absolute
            .checked_sub(self.dropped)
            .and_then(|i| usize::try_from(i).ok())
            .ok_or(QpackError::Index)?;
        let (n, v) = self.entries.get(i).ok_or(QpackError::Index)?;
        Ok((n, v))
    }

    fn insert(&mut self, name: Octets, value: Octets) -> Result<(), QpackError> {
        let size = name.len() + value.len() + ENTRY_OVERHEAD;
        if size > self.capacity {
            // RFC 9204 §3.2.2: an entry larger than the capacity is an error.
            return Err(QpackError::TableTooLarge);
        }
        while self.size + size > self.capacity {
            let Some((n, v)) = self.entries.pop_front() else {
                break;
            };
            self.size -= n.len() + v.len() + ENTRY_OVERHEAD;
            self.heap -= entry_heap(&n, &v);
            self.dropped += 1;
        }
        self.size += size;
        self.heap += entry_heap(&name, &value);
        self.entries.push_back((name, value));
        Ok(())
    }

    fn set_capacity(&mut self, cap: usize) -> Result<(), QpackError> {
        if cap > MAX_QPACK_CAPACITY {
            return Err(QpackError::TableTooLarge);
        }
        self.capacity = cap;
        while self.size > self.capacity {
            let Some((n, v)) = self.entries.pop_front() else {
                break;
            };
            self.size -= n.len() + v.len() + ENTRY_OVERHEAD;
            self.heap -= entry_heap(&n, &v);
            self.dropped += 1;
        }
        Ok(())
    }

    /// Encoder-stream bytes in order (RFC 9204 §4.3): applies each complete instruction;
    /// returns the number of inserts made. On an error the table stops (`Err`, once).
    pub fn on_encoder_stream(&mut self, bytes: &[u8]) -> Result<u64, QpackError> {
        if self.broken {
            return Ok(0);
        }
        let mut pending = std::mem::take(&mut self.pending);
        pending.extend_from_slice(bytes);
        let before = self.inserts();
        let mut pos = 0;
        let result = loop {
            let rest = pending.get(pos..).unwrap_or_default();
            if rest.is_empty() {
                break Ok(());
            }
            match self.instruction(rest) {
                Ok(n) => pos += n,
                Err(QpackError::Truncated) => {
                    if rest.len() > MAX_QPACK_INSTRUCTION {
                        break Err(QpackError::TableTooLarge);
                    }
                    break Ok(());
                }
                Err(e) => break Err(e),
            }
        };
        pending.drain(..pos.min(pending.len()));
        self.pending = pending;
        match result {
            Ok(()) => Ok(self.inserts() - before),
            Err(e) => {
                self.broken = true;
                self.pending = Vec::new();
                Err(e)
            }
        }
    }

    /// One encoder instruction at the start of `b`: bytes used.
    fn instruction(&mut self, b: &[u8]) -> Result<usize, QpackError> {
        let first = *b.first().ok_or(QpackError::Truncated)?;
        if first & 0x80 != 0 {
            // Insert with name reference: T bit, 6-bit index.
            let (idx, mut i) = integer(b, 6)?;
            let name: Octets = if first & 0x40 != 0 {
                Arc::from(static_entry(idx)?.0)
            } else {
                let abs = self
                    .inserts()
                    .checked_sub(1 + idx as u64)
                    .ok_or(QpackError::Index)?;
                let (n, _) = self.entry(abs)?;
                Arc::from(n)
            };
            let (value, n) = string(b.get(i..).unwrap_or_default(), 7)?;
            i += n;
            self.insert(name, Arc::from(value.as_ref()))?;
            Ok(i)
        } else if first & 0x40 != 0 {
            // Insert with literal name: H bit and 5-bit length, then the value.
            let (name, mut i) = string(b, 5)?;
            let (value, n) = string(b.get(i..).unwrap_or_default(), 7)?;
            i += n;
            self.insert(Arc::from(name.as_ref()), Arc::from(value.as_ref()))?;
            Ok(i)
        } else if first & 0x20 != 0 {
            // Set Dynamic Table Capacity.
            let (cap, i) = integer(b, 5)?;
            self.set_capacity(cap)?;
            Ok(i)
        } else {
            // Duplicate (relative index).
            let (idx, i) = integer(b, 5)?;
            let abs = self
                .inserts()
                .checked_sub(1 + idx as u64)
                .ok_or(QpackError::Index)?;
            let (n, v) = self.entry(abs)?;
            let (n, v) = (Arc::from(n), Arc::from(v));
            self.insert(n, v)?;
            Ok(i)
        }
    }

    /// Decodes one field section (a HEADERS frame's payload), calling `field(name, value)`
    /// for each field line in order. Nothing is called when an error is returned for the
    /// prefix ([`QpackError::Blocked`] included); a later error may follow some fields.
    pub fn decode(
        &self,
        block: &[u8],
        mut field: impl FnMut(&[u8], &[u8]),
    ) -> Result<(), QpackError> {
        let (enc, mut i) = integer(block, 8)?;
        let ric = self.required_insert_count(enc as u64)?;
        if ric > self.inserts() {
            return Err(QpackError::Blocked);
        }
        let sign = *block.get(i).ok_or(QpackError::Truncated)? & 0x80 != 0;
        let (delta, n) = integer(block.get(i..).unwrap_or_default(), 7)?;
        i += n;
        let base = if sign {
            ric.checked_sub(delta as u64 + 1)
                .ok_or(QpackError::InsertCount)?
        } else {
            ric + delta as u64
        };
        // Absolute index of a relative (`base - 1 - idx`) or post-base (`base + idx`) one,
        // which must be below the Required Insert Count (RFC 9204 §2.2.3).
        let relative = |idx: usize| -> Result<u64, QpackError> {
            let a = base.checked_sub(1 + idx as u64).ok_or(QpackError::Index)?;
            (a < ric).then_some(a).ok_or(QpackError::Index)
        };
        let post = |idx: usize| -> Result<u64, QpackError> {
            let a = base.checked_add(idx as u64).ok_or(QpackError::Index)?;
            (a < ric).then_some(a).ok_or(QpackError::Index)
        };
        while let Some(&b) = block.get(i) {
            let rest = block.get(i..).unwrap_or_default();
            if b & 0x80 != 0 {
                // Indexed field line.
                let (idx, n) = integer(rest, 6)?;
                i += n;
                let (name, value) = if b & 0x40 != 0 {
                    static_entry(idx)?
                } else {
                    self.entry(relative(idx)?)?
                };
                field(name, value);
            } else if b & 0x40 != 0 {
                // Literal with name reference: N, T, 4-bit index.
                let (idx, n) = integer(rest, 4)?;
                i += n;
                let (value, n) = string(block.get(i..).unwrap_or_default(), 7)?;
                i += n;
                let name = if b & 0x10 != 0 {
                    static_entry(idx)?.0
                } else {
                    self.entry(relative(idx)?)?.0
                };
                field(name, &value);
            } else if b & 0x20 != 0 {
                // Literal with literal name: N, H and a 3-bit length.
                let (name, n) = string(rest, 3)?;
                i += n;
                let (value, n) = string(block.get(i..).unwrap_or_default(), 7)?;
                i += n;
                field(&name, &value);
            } else if b & 0x10 != 0 {
                // Indexed field line with post-base index.
                let (idx, n) = integer(rest, 4)?;
                i += n;
                let (name, value) = self.entry(post(idx)?)?;
                field(name, value);
            } else {
                // Literal with post-base name reference: N and a 3-bit index.
                let (idx, n) = integer(rest, 3)?;
                i += n;
                let (value, n) = string(block.get(i..).unwrap_or_default(), 7)?;
                i += n;
                let name = self.entry(post(idx)?)?.0;
                field(name, &value);
            }
        }
        Ok(())
    }

    /// RFC 9204 §4.5.1.1.
    fn required_insert_count(&self, enc: u64) -> Result<u64, QpackError> {
        if enc == 0 {
            return Ok(0);
        }
        let max_entries = self.max_capacity / ENTRY_OVERHEAD as u64;
        if max_entries == 0 {
            // The decoding side's SETTINGS not read yet (or a capacity of 0, with which a
            // dynamic reference is an error): wait for them.
            return Err(QpackError::Blocked);
        }
        let full_range = 2 * max_entries;
        if enc > full_range {
            return Err(QpackError::InsertCount);
        }
        let max_value = self.inserts() + max_entries;
        let max_wrapped = (max_value / full_range) * full_range;
        let mut ric = max_wrapped + enc - 1;
        if ric > max_value {
            if ric <= full_range {
                return Err(QpackError::InsertCount);
            }
            ric -= full_range;
        }
        if ric == 0 {
            return Err(QpackError::InsertCount);
        }
        Ok(ric)
    }
}

/// A string literal whose H bit is just above an `prefix`-bit length (RFC 9204 §4.1.2).
fn string(b: &[u8], prefix: u8) -> Result<(std::borrow::Cow<'_, [u8]>, usize), QpackError> {
    let huffman = *b.first().ok_or(QpackError::Truncated)? & (1 << prefix) != 0;
    let (len, n) = integer(b, prefix)?;
    let end = n.checked_add(len).ok_or(QpackError::Truncated)?;
    let raw = b.get(n..end).ok_or(QpackError::Truncated)?;
    if huffman {
        Ok((std::borrow::Cow::Owned(huffman_decode(raw)?), end))
    } else {
        Ok((std::borrow::Cow::Borrowed(raw), end))
    }
}

fn static_entry(idx: usize) -> Result<(&'static [u8], &'static [u8]), QpackError> {
    STATIC_TABLE.get(idx).copied().ok_or(QpackError::Index)
}

/// RFC 9204 Appendix A: the static table (index 0 first).
const STATIC_TABLE: [(&[u8], &[u8]); 99] = [
    (b":authority", b""),
    (b":path", b"/"),
    (b"age", b"0"),
    (b"content-disposition", b""),
    (b"content-length", b"0"),
    (b"cookie", b""),
    (b"date", b""),
    (b"etag", b""),
    (b"if-modified-since", b""),
    (b"if-none-match", b""),
    (b"last-modified", b""),
    (b"link", b""),
    (b"location", b""),
    (b"referer", b""),
    (b"set-cookie", b""),
    (b":method", b"CONNECT"),
    (b":method", b"DELETE"),
    (b":method", b"GET"),
    (b":method", b"HEAD"),
    (b":method", b"OPTIONS"),
    (b":method", b"POST"),
    (b":method", b"PUT"),
    (b":scheme", b"http"),
    (b":scheme", b"https"),
    (b":status", b"103"),
    (b":status", b"200"),
    (b":status", b"304"),
    (b":status", b"404"),
    (b":status", b"503"),
    (b"accept", b"*/*"),
    (b"accept", b"application/dns-message"),
    (b"accept-encoding", b"gzip, deflate, br"),
    (b"accept-ranges", b"bytes"),
    (b"access-control-allow-headers", b"cache-control"),
    (b"access-control-allow-headers", b"content-type"),
    (b"access-control-allow-origin", b"*"),
    (b"cache-control", b"max-age=0"),
    (b"cache-control", b"max-age=2592000"),
    (b"cache-control", b"max-age=604800"),
    (b"cache-control", b"no-cache"),
    (b"cache-control", b"no-store"),
    (b"cache-control", b"public, max-age=31536000"),
    (b"content-encoding", b"br"),
    (b"content-encoding", b"gzip"),
    (b"content-type", b"application/dns-message"),
    (b"content-type", b"application/javascript"),
    (b"content-type", b"application/json"),
    (b"content-type", b"application/x-www-form-urlencoded"),
    (b"content-type", b"image/gif"),
    (b"content-type", b"image/jpeg"),
    (b"content-type", b"image/png"),
    (b"content-type", b"text/css"),
    (b"content-type", b"text/html; charset=utf-8"),
    (b"content-type", b"text/plain"),
    (b"content-type", b"text/plain;charset=utf-8"),
    (b"range", b"bytes=0-"),
    (b"strict-transport-security", b"max-age=31536000"),
    (
        b"strict-transport-security",
        b"max-age=31536000; includesubdomains",
    ),
    (
        b"strict-transport-security",
        b"max-age=31536000; includesubdomains; preload",
    ),
    (b"vary", b"accept-encoding"),
    (b"vary", b"origin"),
    (b"x-content-type-options", b"nosniff"),
    (b"x-xss-protection", b"1; mode=block"),
    (b":status", b"100"),
    (b":status", b"204"),
    (b":status", b"206"),
    (b":status", b"302"),
    (b":status", b"400"),
    (b":status", b"403"),
    (b":status", b"421"),
    (b":status", b"425"),
    (b":status", b"500"),
    (b"accept-language", b""),
    (b"access-control-allow-credentials", b"FALSE"),
    (b"access-control-allow-credentials", b"TRUE"),
    (b"access-control-allow-headers", b"*"),
    (b"access-control-allow-methods", b"get"),
    (b"access-control-allow-methods", b"get, post, options"),
    (b"access-control-allow-methods", b"options"),
    (b"access-control-expose-headers", b"content-length"),
    (b"access-control-request-headers", b"content-type"),
    (b"access-control-request-method", b"get"),
    (b"access-control-request-method", b"post"),
    (b"alt-svc", b"clear"),
    (b"authorization", b""),
    (
        b"content-security-policy",
        b"script-src 'none'; object-src 'none'; base-uri 'none'",
    ),
    (b"early-data", b"1"),
    (b"expect-ct", b""),
    (b"forwarded", b""),
    (b"if-range", b""),
    (b"origin", b""),
    (b"purpose", b"prefetch"),
    (b"server", b""),
    (b"timing-allow-origin", b"*"),
    (b"upgrade-insecure-requests", b"1"),
    (b"user-agent", b""),
    (b"x-forwarded-for", b""),
    (b"x-frame-options", b"deny"),
    (b"x-frame-options", b"sameorigin"),
];

/// Fuzzing: `data` split at its first byte into encoder-stream bytes and field sections
/// (each prefixed by a one-byte length); returns the fields decoded.
#[cfg(any(test, feature = "fuzzing"))]
pub(crate) fn fuzz(data: &[u8]) -> usize {
    let Some((&split, rest)) = data.split_first() else {
        return 0;
    };
    let split = usize::from(split).min(rest.len());
    let (enc, mut blocks) = rest.split_at(split);
    let mut t = Table::default();
    t.set_max_capacity(4096);
    let _ = t.on_encoder_stream(enc);
    let heap: usize = t.entries.iter().map(|(n, v)| entry_heap(n, v)).sum();
    assert_eq!(heap, t.heap, "table memory bookkeeping");
    let mut n = 0;
    while let Some((&len, more)) = blocks.split_first() {
        let len = usize::from(len).min(more.len());
        let (block, next) = more.split_at(len);
        let _ = t.decode(block, |_, _| n += 1);
        blocks = next;
    }
    n
}
