//! Opt-in capture of HTTP header fields (for the HAR export, docs/har.md): the names and
//! values of a request's and its response's headers, in wire order, bounded per message
//! (docs/limits.md, "HTTP: kept header fields").
//!
//! Off by default: a parser without [`HeaderLimits`] keeps no header and allocates nothing
//! for them. On, each message keeps at most [`HeaderLimits::max_fields`] fields, each name cut
//! at [`HeaderLimits::max_name_bytes`] and each value at [`HeaderLimits::max_value_bytes`], and
//! at most [`HeaderLimits::max_message_bytes`] of names and values in all; what is dropped or
//! cut is counted in the list itself and in the parser's counters. The fields of one message
//! are kept in one string (no allocation per field).

/// Bounds of the header capture, per message (request head or response head).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct HeaderLimits {
    /// Most fields kept per message; later fields are dropped (counted).
    pub max_fields: usize,
    /// Longest name kept (bytes, cut at a character boundary; counted).
    pub max_name_bytes: usize,
    /// Longest value kept (bytes, cut at a character boundary; counted).
    pub max_value_bytes: usize,
    /// Most bytes of names and values kept per message (after the cuts above); a field that
    /// does not fit in what is left is dropped (counted), a later smaller one may still fit.
    pub max_message_bytes: usize,
}

impl Default for HeaderLimits {
    fn default() -> Self {
        HeaderLimits {
            max_fields: DEFAULT_MAX_FIELDS,
            max_name_bytes: DEFAULT_MAX_NAME_BYTES,
            max_value_bytes: DEFAULT_MAX_VALUE_BYTES,
            max_message_bytes: DEFAULT_MAX_MESSAGE_BYTES,
        }
    }
}

impl HeaderLimits {
    /// Sets [`max_fields`](HeaderLimits::max_fields).
    pub fn with_max_fields(mut self, n: usize) -> Self {
        self.max_fields = n;
        self
    }
    /// Sets [`max_name_bytes`](HeaderLimits::max_name_bytes).
    pub fn with_max_name_bytes(mut self, n: usize) -> Self {
        self.max_name_bytes = n;
        self
    }
    /// Sets [`max_value_bytes`](HeaderLimits::max_value_bytes).
    pub fn with_max_value_bytes(mut self, n: usize) -> Self {
        self.max_value_bytes = n;
        self
    }
    /// Sets [`max_message_bytes`](HeaderLimits::max_message_bytes).
    pub fn with_max_message_bytes(mut self, n: usize) -> Self {
        self.max_message_bytes = n;
        self
    }
}

/// Default [`HeaderLimits::max_fields`]: 128 (the most an HTTP/1 head may have here).
pub const DEFAULT_MAX_FIELDS: usize = 128;
/// Default [`HeaderLimits::max_name_bytes`]: 256.
pub const DEFAULT_MAX_NAME_BYTES: usize = 256;
/// Default [`HeaderLimits::max_value_bytes`]: 8 KiB (a browser's longest cookie header).
pub const DEFAULT_MAX_VALUE_BYTES: usize = 8 * 1024;
/// Default [`HeaderLimits::max_message_bytes`]: 16 KiB.
pub const DEFAULT_MAX_MESSAGE_BYTES: usize = 16 * 1024;

/// The header fields kept of one message, in wire order. Names are as sent (HTTP/1: their
/// wire case; HTTP/2: lower case, pseudo-header fields such as `:method` included); bytes that
/// are not UTF-8 are replaced by U+FFFD.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HeaderList {
    /// Every kept name and value, one after the other.
    text: String,
    /// Per field: the end of its name and the end of its value in `text`.
    ends: Vec<(u32, u32)>,
    /// Fields not kept (past `max_fields` or `max_message_bytes`, or not read by the parser).
    pub dropped: u32,
    /// Fields kept with their name or value cut.
    pub truncated: u32,
}

/// What [`HeaderList::push`] did with a field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kept {
    Whole,
    Cut,
    Dropped,
}

/// `s` cut to at most `max` bytes at a character boundary; whether it was cut.
fn cut(s: &str, max: usize) -> (&str, bool) {
    if s.len() <= max {
        return (s, false);
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    (s.get(..end).unwrap_or(""), true)
}

/// `b` as text (lossy UTF-8) of at most `max` bytes, cut at a character boundary, reading at
/// most `max` bytes of `b` (a huge value costs no more than a short one); whether it was cut.
fn lossy_capped(b: &[u8], max: usize) -> (std::borrow::Cow<'_, str>, bool) {
    let was_cut = b.len() > max;
    let head = b.get(..max).unwrap_or(b);
    let text = String::from_utf8_lossy(head);
    if let std::borrow::Cow::Borrowed(t) = text {
        if !was_cut {
            return (std::borrow::Cow::Borrowed(t), false);
        }
    }
    let mut text = text.into_owned();
    if was_cut && text.ends_with('\u{fffd}') && b.get(max).is_some_and(|&c| c & 0xc0 == 0x80) {
        // A character split at `max` became U+FFFD: drop it.
        text.pop();
    }
    // Replacement characters are longer than the bytes they replace.
    let (kept, also_cut) = cut(&text, max);
    let kept_len = kept.len();
    text.truncate(kept_len);
    (std::borrow::Cow::Owned(text), was_cut || also_cut)
}

impl HeaderList {
    /// An empty list with room for about `bytes` of text (capped by the message bound).
    pub(crate) fn with_capacity(limits: &HeaderLimits, fields: usize, bytes: usize) -> Self {
        HeaderList {
            text: String::with_capacity(bytes.min(limits.max_message_bytes)),
            ends: Vec::with_capacity(fields.min(limits.max_fields)),
            dropped: 0,
            truncated: 0,
        }
    }

    /// Keeps one field within `limits`.
    pub(crate) fn push(&mut self, limits: &HeaderLimits, name: &[u8], value: &[u8]) -> Kept {
        if self.ends.len() >= limits.max_fields {
            self.dropped = self.dropped.saturating_add(1);
            return Kept::Dropped;
        }
        let (name, name_cut) = lossy_capped(name, limits.max_name_bytes);
        let (value, value_cut) = lossy_capped(value, limits.max_value_bytes);
        let (name, value) = (name.as_ref(), value.as_ref());
        let room = limits.max_message_bytes.saturating_sub(self.text.len());
        let end_value = self.text.len() + name.len() + value.len();
        if name.len() + value.len() > room || u32::try_from(end_value).is_err() {
            self.dropped = self.dropped.saturating_add(1);
            return Kept::Dropped;
        }
        // Grow by doubling, but never past the bounds: a list's heap stays within
        // `max_message_bytes` + 8 bytes per field (`heap_bytes`).
        if end_value > self.text.capacity() {
            let target = (self.text.capacity() * 2)
                .max(end_value)
                .min(limits.max_message_bytes.max(end_value));
            self.text.reserve_exact(target - self.text.len());
        }
        if self.ends.len() == self.ends.capacity() {
            let target = (self.ends.capacity() * 2)
                .max(4)
                .min(limits.max_fields.max(1));
            self.ends
                .reserve_exact(target.saturating_sub(self.ends.len()).max(1));
        }
        self.text.push_str(name);
        let end_name = self.text.len() as u32;
        self.text.push_str(value);
        self.ends.push((end_name, self.text.len() as u32));
        if name_cut || value_cut {
            self.truncated = self.truncated.saturating_add(1);
            Kept::Cut
        } else {
            Kept::Whole
        }
    }

    /// Keeps one field within `limits`, counting in [`dropped`](HeaderList::dropped) /
    /// [`truncated`](HeaderList::truncated) what the bounds cut (for lists built outside the
    /// parsers, e.g. in tests).
    pub fn push_field(&mut self, limits: &HeaderLimits, name: &[u8], value: &[u8]) {
        self.push(limits, name, value);
    }

    /// Counts a field the parser did not read (past one of its own budgets).
    pub(crate) fn skip(&mut self) {
        self.dropped = self.dropped.saturating_add(1);
    }

    /// The kept fields, `(name, value)` in wire order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> + '_ {
        let mut start = 0usize;
        self.ends.iter().map(move |&(n, v)| {
            let (n, v) = (n as usize, v as usize);
            let name = self.text.get(start..n).unwrap_or("");
            let value = self.text.get(n..v).unwrap_or("");
            start = v;
            (name, value)
        })
    }

    /// Fields kept.
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    /// No field kept.
    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// The values of the fields named `name` (ASCII case-insensitive), in order.
    pub fn values<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.iter()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    }

    /// Bytes of memory this list holds on the heap.
    pub fn heap_bytes(&self) -> usize {
        self.text.capacity() + self.ends.capacity() * std::mem::size_of::<(u32, u32)>()
    }
}

/// The header fields kept for one exchange, when header capture is on
/// ([`HttpExchange::headers`](crate::HttpExchange::headers)).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HttpHeaders {
    /// The request head's fields (HTTP/2: the request's HEADERS block, pseudo-headers first
    /// as sent; trailers are not kept).
    pub request: HeaderList,
    /// The final response head's fields (not those of 1xx interim responses nor trailers).
    pub response: HeaderList,
    /// The reason phrase of an HTTP/1 status line (cut at `max_value_bytes`); `None` for
    /// HTTP/2 (which has none) or without a response.
    pub status_text: Option<String>,
}

/// Counters of kept header fields (summed in `HttpStats` and `Http2Stats`).
pub(crate) fn count(kept: Kept, dropped: &mut u64, truncated: &mut u64) {
    match kept {
        Kept::Whole => {}
        Kept::Cut => *truncated += 1,
        Kept::Dropped => *dropped += 1,
    }
}

/// A status line's reason phrase cut to the value bound.
pub(crate) fn status_text(limits: &HeaderLimits, reason: &str) -> (String, bool) {
    let (s, c) = cut(reason, limits.max_value_bytes);
    (s.to_string(), c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_keep_wire_order_and_case() {
        let l = HeaderLimits::default();
        let mut h = HeaderList::default();
        assert_eq!(h.push(&l, b"Host", b"x"), Kept::Whole);
        assert_eq!(h.push(&l, b"X-Empty", b""), Kept::Whole);
        assert_eq!(h.push(&l, b"set-cookie", b"a=1"), Kept::Whole);
        assert_eq!(h.push(&l, b"Set-Cookie", b"b=2"), Kept::Whole);
        let v: Vec<_> = h.iter().collect();
        assert_eq!(
            v,
            [
                ("Host", "x"),
                ("X-Empty", ""),
                ("set-cookie", "a=1"),
                ("Set-Cookie", "b=2")
            ]
        );
        assert_eq!(h.values("SET-COOKIE").collect::<Vec<_>>(), ["a=1", "b=2"]);
        assert_eq!((h.dropped, h.truncated), (0, 0));
    }

    #[test]
    fn bounds_cut_and_drop_and_count() {
        let l = HeaderLimits::default()
            .with_max_fields(3)
            .with_max_name_bytes(4)
            .with_max_value_bytes(5)
            .with_max_message_bytes(20);
        let mut h = HeaderList::default();
        assert_eq!(h.push(&l, b"Name-Long", b"v"), Kept::Cut); // "Name" + "v" = 5
        assert_eq!(h.push(&l, b"a", "ééé".as_bytes()), Kept::Cut); // 6 bytes -> "éé" (4)
        assert_eq!(h.push(&l, b"bb", b"0123456789"), Kept::Cut); // "bb" + "01234" -> 7, total 17
        assert_eq!(h.push(&l, b"c", b"d"), Kept::Dropped); // 4th field
        assert_eq!(h.len(), 3);
        assert_eq!((h.dropped, h.truncated), (1, 3));
        let v: Vec<_> = h.iter().collect();
        assert_eq!(v, [("Name", "v"), ("a", "éé"), ("bb", "01234")]);
        // The message bound: a field that does not fit is dropped.
        let l = HeaderLimits::default().with_max_message_bytes(6);
        let mut h = HeaderList::default();
        assert_eq!(h.push(&l, b"ab", b"cd"), Kept::Whole);
        assert_eq!(h.push(&l, b"ef", b"gh"), Kept::Dropped);
        assert_eq!(h.push(&l, b"e", b"f"), Kept::Whole);
        assert_eq!((h.len(), h.dropped), (2, 1));
        assert!(h.heap_bytes() >= 6);
    }

    #[test]
    fn heap_stays_within_the_bounds_whatever_the_fields() {
        let l = HeaderLimits::default()
            .with_max_fields(50)
            .with_max_message_bytes(3000);
        for size in [0usize, 1, 7, 100, 999, 5000] {
            let mut h = HeaderList::with_capacity(&l, 1, 1);
            for i in 0..200 {
                h.push(&l, format!("n{i}").as_bytes(), &vec![b'v'; size]);
            }
            assert!(
                h.heap_bytes() <= 3000 + 50 * 8,
                "{size}: {}",
                h.heap_bytes()
            );
            assert_eq!(h.len() as u32 + h.dropped, 200);
        }
    }

    #[test]
    fn invalid_utf8_is_replaced() {
        let l = HeaderLimits::default();
        let mut h = HeaderList::default();
        h.push(&l, b"X", b"a\xffb");
        assert_eq!(h.iter().next(), Some(("X", "a\u{fffd}b")));
    }
}
