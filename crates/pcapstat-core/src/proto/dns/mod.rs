//! DNS over UDP and TCP: message parsing, query/response matching, latency, retries,
//! unanswered queries and ICMP port-unreachable answers.
//!
//! Layers, frame first then decode:
//! * [`DnsMessage::parse`] decodes one message (the fixed 12-byte header is read directly; the
//!   question and answer records are decoded by the `simple-dns` crate; see `docs/dns.md` for
//!   why that crate).
//! * [`DnsTcpParser`] cuts DNS-over-TCP streams into messages (two-byte length prefix, several
//!   messages per connection, any split across segments).
//! * [`DnsTracker`] is fed UDP payloads, TCP messages and ICMP errors as the capture is read
//!   and matches them in capture-time order (within a reordering window), handing each
//!   query's record on once it is final.
//!
//! ```
//! use pcapstat_core::fuzzing::{DnsConfig, DnsTracker, Endpoint};
//!
//! let client = Endpoint { ip: "10.0.0.1".parse().unwrap(), port: 40000 };
//! let server = Endpoint { ip: "10.0.0.2".parse().unwrap(), port: 53 };
//! // Query id 0x1234 for "a.test" A, then its response.
//! let query = b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x01a\x04test\x00\x00\x01\x00\x01";
//! let mut response = query.to_vec();
//! response[2] = 0x81;
//! response[3] = 0x80;
//! let mut t = DnsTracker::new(DnsConfig::default());
//! t.on_udp(1_000, 0, client, server, query);
//! t.on_udp(3_000, 1, server, client, &response);
//! let (records, _stats) = t.finish(10_000);
//! assert_eq!(records[0].qname, "a.test");
//! assert_eq!(records[0].latency_ns, Some(2_000));
//! ```

mod tcp;
#[cfg(test)]
mod tests;

use crate::stats::counters;
use crate::wire::{DnsType, Rcode};
use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasher, Hash, Hasher};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

#[cfg_attr(not(any(test, feature = "fuzzing")), allow(unused_imports))] // used by tests
pub use tcp::{DnsTcpMessage, DnsTcpParser};

use crate::flow::Endpoint;
use crate::record::{DnsRecord, DnsTransport};
use crate::tcp::Direction;
use crate::timing::{DnsLookups, Lookup};

/// Why a byte string is not a DNS message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DnsError {
    /// Shorter than the 12-byte header.
    #[error("DNS message too short: {len} bytes, the header needs 12")]
    TooShort {
        /// Bytes available.
        len: usize,
    },
}

/// What pcapstat reads from one DNS message.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct DnsMessage {
    /// Transaction id.
    pub id: u16,
    /// QR bit: a response.
    pub response: bool,
    /// Opcode (0 = query).
    pub opcode: u8,
    /// The header's 4-bit RCODE (not extended by EDNS, as tshark's `dns.flags.rcode`).
    pub rcode: u8,
    /// TC bit.
    pub truncated: bool,
    /// QDCOUNT.
    pub question_count: u16,
    /// ANCOUNT (the header's count, whether or not the records could be decoded).
    pub answer_count: u16,
    /// First question's name: lower-case, no trailing dot, `.` for the root; `None` when the
    /// message has no question or it could not be decoded.
    pub qname: Option<String>,
    /// First question's type (wire value).
    pub qtype: Option<u16>,
    /// First question's class (wire value without the mDNS unicast-response bit; 1 = IN).
    pub qclass: Option<u16>,
    /// A and AAAA addresses of the answer section, in order.
    pub addresses: Vec<IpAddr>,
    /// Whether every record of the message could be decoded (false: a damaged or truncated
    /// message whose question alone was decoded, `addresses` then empty).
    pub records_decoded: bool,
}

/// A name as pcapstat writes it: labels lower-cased, joined by dots; `.` for the root.
fn name_text(name: &simple_dns::Name<'_>) -> String {
    let labels: Vec<String> = name
        .get_labels()
        .iter()
        .map(|l| l.to_string().to_ascii_lowercase())
        .collect();
    if labels.is_empty() {
        ".".to_string()
    } else {
        labels.join(".")
    }
}

impl DnsMessage {
    /// Parses one message (a UDP payload, or a TCP message without its length prefix). Never
    /// panics; fails only when the header is incomplete.
    ///
    /// # Errors
    /// [`DnsError::TooShort`] when `bytes` is shorter than the 12-byte header; anything after
    /// the header that does not parse leaves the question and answers empty, with
    /// `records_decoded` false.
    pub fn parse(bytes: &[u8]) -> Result<DnsMessage, DnsError> {
        let Some(h) = bytes.get(..12) else {
            return Err(DnsError::TooShort { len: bytes.len() });
        };
        let be = |i: usize| u16::from_be_bytes([h[i], h[i + 1]]);
        let mut msg = DnsMessage {
            id: be(0),
            response: h[2] & 0x80 != 0,
            opcode: (h[2] >> 3) & 0x0f,
            rcode: h[3] & 0x0f,
            truncated: h[2] & 0x02 != 0,
            question_count: be(4),
            answer_count: be(6),
            qname: None,
            qtype: None,
            qclass: None,
            addresses: Vec::new(),
            records_decoded: false,
        };
        if let Ok(packet) = simple_dns::Packet::parse(bytes) {
            msg.records_decoded = true;
            if let Some(q) = packet.questions.first() {
                msg.qname = Some(name_text(&q.qname));
                msg.qtype = Some(u16::from(q.qtype));
                msg.qclass = Some(u16::from(q.qclass));
            }
            for rr in &packet.answers {
                match &rr.rdata {
                    simple_dns::rdata::RData::A(a) => {
                        msg.addresses.push(IpAddr::V4(Ipv4Addr::from(a.address)));
                    }
                    simple_dns::rdata::RData::AAAA(a) => {
                        msg.addresses.push(IpAddr::V6(Ipv6Addr::from(a.address)));
                    }
                    _ => {}
                }
            }
        } else if msg.question_count > 0 {
            // Damaged or cut after the question: decode the header and first question alone
            // (counts rewritten to one question, no records).
            let mut head = bytes.to_vec();
            head[4..12].copy_from_slice(&[0, 1, 0, 0, 0, 0, 0, 0]);
            if let Ok(packet) = simple_dns::Packet::parse(&head) {
                if let Some(q) = packet.questions.first() {
                    msg.qname = Some(name_text(&q.qname));
                    msg.qtype = Some(u16::from(q.qtype));
                    msg.qclass = Some(u16::from(q.qclass));
                }
            }
        }
        Ok(msg)
    }
}

/// Default [`DnsConfig::retry_window_ns`]: 10 s.
pub const DEFAULT_RETRY_WINDOW_NS: i64 = 10_000_000_000;

/// Default [`DnsConfig::reorder_window_ns`]: 2 s.
pub const DEFAULT_REORDER_WINDOW_NS: i64 = 2_000_000_000;

/// Most recent queries of one (client address, question) kept as retry candidates.
const RETRY_CANDIDATES: usize = 16;

/// Limits and windows of a [`DnsTracker`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct DnsConfig {
    /// Most messages (and ICMP errors) held back to be matched in time order (those of the
    /// last [`reorder_window_ns`](DnsConfig::reorder_window_ns)); past it the oldest is matched
    /// at once, counted in [`DnsStats::reorder_early`].
    pub max_reorder: usize,
    /// Most queries waiting for a response at one time; past it the oldest stops waiting
    /// (stays unanswered; counted in [`DnsStats::pending_evicted`]). Also the most queries
    /// remembered as retry candidates (those older than the retry window are forgotten
    /// anyway; within it, the oldest are, counted in [`DnsStats::retry_candidates_evicted`]).
    pub max_pending: usize,
    /// Retry window, ns: the longest time after an unanswered query that a related query of
    /// the same question can be its retry (`retry_of`), and the most an unanswered query that
    /// is not retried is said to have `waited`. Default 10 s: twice the 5 s per-attempt
    /// timeout of dig, glibc and systemd-resolved (see `docs/dns.md`).
    pub retry_window_ns: i64,
    /// How far back in capture time a message may come after later ones and still be matched
    /// in time order, ns (captures merged from several interfaces, DNS over TCP completed by
    /// a retransmission). Default 2 s. Older ones are matched as they come
    /// ([`DnsStats::late_messages`]).
    pub reorder_window_ns: i64,
    /// Most answered lookups remembered for the request join (the `dns` phase of a
    /// connection's first request); past it the oldest is forgotten, counted in
    /// [`DnsStats::lookups_forgotten`].
    pub max_lookups: usize,
}

#[cfg_attr(not(any(test, feature = "fuzzing")), allow(dead_code))] // used by tests and fuzzing
impl DnsConfig {
    /// Sets [`max_reorder`](DnsConfig::max_reorder) (at least 1).
    pub fn with_max_reorder(mut self, n: usize) -> Self {
        self.max_reorder = n.max(1);
        self
    }
    /// Sets [`max_pending`](DnsConfig::max_pending).
    pub fn with_max_pending(mut self, n: usize) -> Self {
        self.max_pending = n;
        self
    }
    /// Sets [`retry_window_ns`](DnsConfig::retry_window_ns) (negative values count as 0).
    pub fn with_retry_window_ns(mut self, ns: i64) -> Self {
        self.retry_window_ns = ns.max(0);
        self
    }
    /// Sets [`reorder_window_ns`](DnsConfig::reorder_window_ns) (negative values count as 0).
    pub fn with_reorder_window_ns(mut self, ns: i64) -> Self {
        self.reorder_window_ns = ns.max(0);
        self
    }
    /// Sets [`max_lookups`](DnsConfig::max_lookups).
    pub fn with_max_lookups(mut self, n: usize) -> Self {
        self.max_lookups = n;
        self
    }
}

impl Default for DnsConfig {
    fn default() -> Self {
        DnsConfig {
            max_reorder: 16_384,
            max_pending: 100_000,
            retry_window_ns: DEFAULT_RETRY_WINDOW_NS,
            reorder_window_ns: DEFAULT_REORDER_WINDOW_NS,
            max_lookups: 100_000,
        }
    }
}

counters! {
    /// Counters of a `DnsTracker`.
    #[derive(Debug, Clone, Default, PartialEq, Eq)]
    #[non_exhaustive]
    pub struct DnsStats {
        /// Messages fed that parsed (queries and responses).
        pub messages: u64,
        /// Payloads shorter than a DNS header.
        pub unparsable: u64,
        /// Queries (QR = 0) without a decodable question (no record).
        pub queries_without_question: u64,
        /// Responses matching no waiting query (unsolicited, duplicate, late, or their query was
        /// not captured).
        pub unmatched_responses: u64,
        /// ICMP port-unreachable errors that answered a query.
        pub icmp_matched: u64,
        /// ICMP port-unreachable errors quoting no waiting query.
        pub icmp_unmatched: u64,
        /// Queries that stopped waiting at the `max_pending` limit.
        pub pending_evicted: u64,
        /// Queries forgotten as retry candidates at the `max_pending` limit while still
        /// within the retry window (a later try of them gets no `retry_of`).
        pub retry_candidates_evicted: u64,
        /// Messages (and ICMP errors) matched before their reordering window passed, at the
        /// `max_reorder` limit.
        pub reorder_early: u64,
        /// Messages (and ICMP errors) older than the reordering window when they came: matched
        /// as they came, not in time order.
        pub late_messages: u64,
        /// Answered lookups forgotten by the request join at the `max_lookups` limit.
        pub lookups_forgotten: u64,
    }
}

#[derive(Debug, Clone)]
enum What {
    Message(DnsTransport, DnsMessage),
    /// ICMP port unreachable quoting a UDP datagram `client → server`.
    Unreachable,
}

#[derive(Debug, Clone)]
struct Event {
    ts: i64,
    frame: u64,
    seq: u64,
    /// Source of the message (the quoted source for ICMP).
    src: Endpoint,
    /// Destination of the message (the quoted destination for ICMP).
    dst: Endpoint,
    what: What,
}

impl Event {
    fn key(&self) -> (i64, u64, u64) {
        (self.ts, self.frame, self.seq)
    }
}

/// An event in the reordering heap, ordered by (time, frame, arrival) alone. The event is
/// boxed: the heap moves its entries at every level of a push or pop, 32 bytes instead of
/// the whole event (a tenth of the matching's time went to those moves).
#[derive(Debug)]
struct Queued {
    key: (i64, u64, u64),
    event: Box<Event>,
}

impl Queued {
    fn new(event: Event) -> Queued {
        Queued {
            key: event.key(),
            event: Box::new(event),
        }
    }
}

impl PartialEq for Queued {
    fn eq(&self, other: &Queued) -> bool {
        self.key == other.key
    }
}
impl Eq for Queued {}
impl PartialOrd for Queued {
    fn partial_cmp(&self, other: &Queued) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Queued {
    fn cmp(&self, other: &Queued) -> std::cmp::Ordering {
        self.key.cmp(&other.key)
    }
}

/// Query/response matching key: the same client socket, server socket, transport and id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct MatchKey {
    udp: bool,
    client: Endpoint,
    server: Endpoint,
    id: u16,
}

/// Sans-IO DNS transaction tracker for one capture: fed UDP payloads, TCP messages and ICMP
/// errors as the capture is read, it matches them in capture-time order (messages are held
/// back for the reordering window, [`DnsConfig::reorder_window_ns`]) and hands each query's
/// record on as soon as it is final ([`take_records`](DnsTracker::take_records)): when it is
/// answered, or once it is neither waiting for a response nor a retry candidate. What it holds
/// is bounded by its limits, not by the capture. The answered lookups of the last
/// [`DnsConfig::max_lookups`] are kept for the request join ([`lookups`](DnsTracker::lookups)).
#[derive(Debug)]
pub struct DnsTracker {
    cfg: DnsConfig,
    /// Events waiting for their reordering window, earliest first.
    queue: std::collections::BinaryHeap<std::cmp::Reverse<Queued>>,
    /// Events fed (their arrival order breaks ties of time and frame).
    fed: u64,
    /// Latest capture time seen (events and [`advance`](DnsTracker::advance)).
    latest: Option<i64>,
    /// Every event at or before this time has been matched.
    released: Option<i64>,
    m: Matcher,
}

impl DnsTracker {
    /// An empty tracker.
    pub fn new(cfg: DnsConfig) -> Self {
        DnsTracker {
            cfg,
            queue: std::collections::BinaryHeap::new(),
            fed: 0,
            latest: None,
            released: None,
            m: Matcher::new(cfg),
        }
    }

    fn push(&mut self, ts: i64, frame: u64, src: Endpoint, dst: Endpoint, what: What) {
        let seq = self.fed;
        self.fed += 1;
        let e = Event {
            ts,
            frame,
            seq,
            src,
            dst,
            what,
        };
        match self.released {
            // Everything up to `released` was matched: this one can only be matched now.
            Some(r) if ts <= r => {
                if ts < r {
                    self.m.stats.late_messages += 1;
                }
                self.m.event(e);
                return;
            }
            _ => {}
        }
        self.queue.push(std::cmp::Reverse(Queued::new(e)));
        if self.queue.len() > self.cfg.max_reorder {
            if let Some(std::cmp::Reverse(q)) = self.queue.pop() {
                self.m.stats.reorder_early += 1;
                let ts = q.key.0;
                self.released = Some(self.released.map_or(ts, |r| r.max(ts)));
                self.m.event(*q.event);
            }
        }
        self.advance(ts);
    }

    /// The capture has reached time `ts` (any frame, DNS or not): the messages more than the
    /// reordering window older are matched, and the records that became final wait in
    /// [`take_records`](DnsTracker::take_records).
    pub fn advance(&mut self, ts: i64) {
        let latest = self.latest.map_or(ts, |l| l.max(ts));
        self.latest = Some(latest);
        let upto = latest.saturating_sub(self.cfg.reorder_window_ns);
        if self.released.is_some_and(|r| r >= upto) {
            return;
        }
        self.release(upto);
    }

    /// Matches the events at or before `upto`, in time order.
    fn release(&mut self, upto: i64) {
        while let Some(std::cmp::Reverse(q)) = self.queue.peek() {
            if q.key.0 > upto {
                break;
            }
            if let Some(std::cmp::Reverse(q)) = self.queue.pop() {
                self.m.event(*q.event);
            }
        }
        self.released = Some(self.released.map_or(upto, |r| r.max(upto)));
        // No event of an earlier time will be matched in order: the retry candidates older
        // than the window can go.
        self.m.forget_questions(upto);
    }

    /// Whether a message (or ICMP error) was fed at all.
    pub fn fed_any(&self) -> bool {
        self.fed > 0
    }

    /// Every message at or before this capture time has been matched (`None`: none yet).
    /// The request join waits for it to pass a connection's start.
    pub fn matched_upto(&self) -> Option<i64> {
        self.released
    }

    fn message(
        &mut self,
        ts: i64,
        frame: u64,
        src: Endpoint,
        dst: Endpoint,
        t: DnsTransport,
        bytes: &[u8],
    ) {
        match DnsMessage::parse(bytes) {
            Ok(msg) => {
                self.m.stats.messages += 1;
                self.push(ts, frame, src, dst, What::Message(t, msg));
            }
            Err(DnsError::TooShort { .. }) => self.m.stats.unparsable += 1,
        }
    }

    /// A UDP datagram's payload from `src` to `dst`, captured at `ts_ns` in frame `frame`.
    pub fn on_udp(&mut self, ts_ns: i64, frame: u64, src: Endpoint, dst: Endpoint, payload: &[u8]) {
        self.message(ts_ns, frame, src, dst, DnsTransport::Udp, payload);
    }

    /// One DNS-over-TCP message (without its length prefix, as [`DnsTcpParser`] gives it) of
    /// the connection `client`–`server`, sent in direction `dir`, completed by the segment of
    /// frame `frame` at `ts_ns`.
    pub fn on_tcp_message(
        &mut self,
        ts_ns: i64,
        frame: u64,
        client: Endpoint,
        server: Endpoint,
        dir: Direction,
        message: &[u8],
    ) {
        let (src, dst) = match dir {
            Direction::ClientToServer => (client, server),
            Direction::ServerToClient => (server, client),
        };
        self.message(ts_ns, frame, src, dst, DnsTransport::Tcp, message);
    }

    /// An ICMP/ICMPv6 port unreachable (destination unreachable) at `ts_ns` quoting a UDP
    /// datagram sent from `quoted_src` to `quoted_dst`.
    pub fn on_icmp_unreachable(
        &mut self,
        ts_ns: i64,
        frame: u64,
        quoted_src: Endpoint,
        quoted_dst: Endpoint,
    ) {
        self.push(ts_ns, frame, quoted_src, quoted_dst, What::Unreachable);
    }

    /// The records that became final since the last call, in the order they did.
    pub fn take_records(&mut self) -> Vec<DnsRecord> {
        std::mem::take(&mut self.m.done)
    }

    /// The answered lookups remembered for the request join.
    pub fn lookups(&self) -> &DnsLookups {
        &self.m.lookups
    }

    /// The counters so far.
    pub fn stats(&self) -> &DnsStats {
        &self.m.stats
    }

    /// The capture ended at `end_ts`: everything is matched and every record is final (those
    /// still waiting stay unanswered; `end_ts` bounds `waited_ns` of queries neither answered
    /// nor retried). Their records wait in [`take_records`](DnsTracker::take_records).
    pub fn end(&mut self, end_ts: i64) {
        while let Some(std::cmp::Reverse(q)) = self.queue.pop() {
            self.m.event(*q.event);
        }
        let mut live: Vec<usize> = self.m.recs.keys().copied().collect();
        live.sort_unstable();
        for i in live {
            self.m.emit(i, Some(end_ts));
        }
    }

    /// [`end`](DnsTracker::end)s the capture at `end_ts` and returns the records not taken
    /// yet, sorted by `query_frame`, and the counters.
    #[cfg_attr(not(any(test, feature = "fuzzing")), allow(dead_code))] // tests and fuzzing
    pub fn finish(mut self, end_ts: i64) -> (Vec<DnsRecord>, DnsStats) {
        self.end(end_ts);
        let mut recs = self.take_records();
        recs.sort_by_key(|r| (r.query_frame, r.query_ts));
        (recs, self.m.stats)
    }
}

/// Appends `idx` to a list of record indices from which entries that stopped waiting are
/// dropped lazily: before the list would grow its allocation, they are pruned, and room for as
/// many again is reserved (amortised O(1) per push; the list holds O(live entries)).
fn push_pruned(list: &mut VecDeque<usize>, idx: usize, waiting: impl Fn(usize) -> bool) {
    if list.len() == list.capacity() && list.len() >= 16 {
        list.retain(|&i| waiting(i));
        list.reserve(list.len().max(16));
    }
    list.push_back(idx);
}

/// Drops from both ends of `list` (record indices in query order) the entries that no longer
/// wait; whether it is empty (its map entry can go). Amortised O(1): each entry is dropped
/// once. An entry between two waiting ones stays until the ends reach it or the list grows
/// ([`push_pruned`]), so a list holds O(its waiting entries) however many stopped.
fn trim_stopped(list: &mut VecDeque<usize>, waiting: impl Fn(usize) -> bool) -> bool {
    while list.front().is_some_and(|&i| !waiting(i)) {
        list.pop_front();
    }
    while list.back().is_some_and(|&i| !waiting(i)) {
        list.pop_back();
    }
    list.is_empty()
}

/// A question name with its hash computed once, from a keyed hasher. The matching maps hash
/// (and rehash, as they grow) the stored hash alone: with a million waiting names, re-reading
/// every name's text at each growth made the matching cost grow faster than the capture. One
/// shared copy of the text serves both maps.
#[derive(Debug, Clone)]
struct QName {
    hash: u64,
    text: Arc<str>,
}

impl QName {
    fn new(names: &std::hash::RandomState, text: &str) -> QName {
        QName {
            hash: names.hash_one(text),
            text: Arc::from(text),
        }
    }
}

impl Hash for QName {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u64(self.hash);
    }
}

impl PartialEq for QName {
    fn eq(&self, other: &QName) -> bool {
        self.hash == other.hash && self.text == other.text
    }
}

impl Eq for QName {}

/// The maps of the matcher: their keys hold no text to hash (names are [`QName`]s), so the
/// fast seeded hasher of the flow table serves.
type Map<K, V> = HashMap<K, V, foldhash::fast::RandomState>;

/// The same question from the same client address: (client, qname, qtype, qclass).
type QuestionKey = (IpAddr, QName, u16, Option<u16>);

/// An entry of `Matcher::question_order`. Queries are pushed in index order and only popped
/// from the front, so the entry of query `i` is at `i - front.idx`: a record that leaves is
/// marked `gone` there in O(1), and the front is judged without a look in the records.
#[derive(Debug)]
struct Candidate {
    idx: usize,
    query_ts: i64,
    /// Its record has left (answered, or final).
    gone: bool,
    key: QuestionKey,
}

/// A query whose record is not final yet.
#[derive(Debug)]
struct Live {
    rec: DnsRecord,
    /// Waiting for a response (in `pending`).
    waiting: bool,
    /// A retry candidate (in `question_order`): a later query may still set its `waited_ns`.
    candidate: bool,
    /// `query_ts` of the first query of its retry chain.
    chain_start: i64,
    /// Its question name, hashed once (for `unlist`).
    qname: QName,
}

#[derive(Debug)]
struct Matcher {
    cfg: DnsConfig,
    /// The queries whose records are not final, by index (the order queries came in).
    recs: Map<usize, Live>,
    /// Index of the next query.
    next: usize,
    /// Final records not taken yet.
    done: Vec<DnsRecord>,
    /// Answered lookups, for the request join.
    lookups: DnsLookups,
    /// The keyed hasher of question names ([`QName`]).
    names: std::hash::RandomState,
    /// Waiting queries by key, then by question (record indices, oldest first). Keyed down
    /// to the question so that a response finds its queries in O(1) however many queries
    /// share its (client, server, id). Entries that stopped waiting (evicted, ICMP error)
    /// leave from the lists' ends ([`Matcher::unlist`]); one between two waiting entries stays
    /// until then: `Live::waiting` is the truth.
    pending: Map<MatchKey, Map<(QName, u16), VecDeque<usize>>>,
    /// Waiting queries in arrival order, for the `max_pending` bound (lazily pruned).
    order: std::collections::VecDeque<usize>,
    pending_count: usize,
    /// Waiting UDP queries per (client, server) socket pair, oldest first, for ICMP errors
    /// (which quote no id). A query that stops waiting (answered, evicted, failed) leaves the
    /// ends of its pair's list, and an empty list its entry ([`trim_stopped`]): a resolver
    /// takes a new source port for every query, so a pair is usually seen once, and the map
    /// would otherwise hold every pair of the capture.
    udp_pairs: Map<(Endpoint, Endpoint), VecDeque<usize>>,
    /// The latest queries of each question (record indices, oldest first; at most
    /// `RETRY_CANDIDATES`): candidates for `retry_of` while `Live::candidate`.
    questions: Map<QuestionKey, std::collections::VecDeque<usize>>,
    /// Every retry candidate, oldest first (record index and question), to forget them once
    /// older than the retry window or beyond `max_pending` of them: the map holds the
    /// questions of the last seconds, not of the whole capture.
    question_order: std::collections::VecDeque<Candidate>,
    stats: DnsStats,
}

impl Matcher {
    fn new(cfg: DnsConfig) -> Matcher {
        Matcher {
            cfg,
            recs: Map::default(),
            next: 0,
            done: Vec::new(),
            lookups: DnsLookups::new(cfg.max_lookups),
            names: std::hash::RandomState::new(),
            pending: Map::default(),
            order: std::collections::VecDeque::new(),
            pending_count: 0,
            udp_pairs: Map::default(),
            questions: Map::default(),
            question_order: std::collections::VecDeque::new(),
            stats: DnsStats::default(),
        }
    }

    fn event(&mut self, mut e: Event) {
        match std::mem::replace(&mut e.what, What::Unreachable) {
            What::Message(t, msg) if !msg.response => self.query(&e, t, msg),
            What::Message(t, msg) => self.response(&e, t, &msg),
            What::Unreachable => self.unreachable(&e),
        }
    }

    fn is_waiting(recs: &Map<usize, Live>, i: usize) -> bool {
        recs.get(&i).is_some_and(|l| l.waiting)
    }

    /// Record `i` is final: it leaves for `done`. `end`: the capture ended there (else the
    /// record is older than the retry window, or no longer a candidate). A query neither
    /// answered, nor failed by ICMP, nor retried waited at most until the end of the capture,
    /// and no longer than the retry window as far as the capture can tell.
    fn emit(&mut self, i: usize, end: Option<i64>) {
        let Some(Live { mut rec, .. }) = self.recs.remove(&i) else {
            return;
        };
        let base = self.question_order.front().map_or(usize::MAX, |c| c.idx);
        if let Some(c) = i
            .checked_sub(base)
            .and_then(|k| self.question_order.get_mut(k))
            .filter(|c| c.idx == i)
        {
            c.gone = true;
        }
        if rec.unanswered() && rec.waited_ns.is_none() {
            let window_end = rec.query_ts.saturating_add(self.cfg.retry_window_ns);
            let until = end.map_or(window_end, |e| e.min(window_end));
            rec.waited_ns = Some(until.saturating_sub(rec.query_ts).max(0));
        }
        self.done.push(rec);
    }

    /// The earlier query that a query of `qkey` from `src` with `id` at `ts` retries: the
    /// latest query of the same question from the same client address, sent at most the retry
    /// window before, that had no DNS response yet, and came from the same port or (a new
    /// socket) carried the same id. Updates that query's `waited_ns`. Returns its frame and
    /// the start of its retry chain.
    fn retry_of(
        &mut self,
        qkey: &QuestionKey,
        src: Endpoint,
        id: u16,
        ts: i64,
    ) -> Option<(u64, i64)> {
        let window = self.cfg.retry_window_ns;
        let list = self.questions.get_mut(qkey)?;
        let recs = &mut self.recs;
        while list
            .front()
            .and_then(|k| recs.get(k))
            .is_some_and(|l| ts.saturating_sub(l.rec.query_ts) > window)
        {
            list.pop_front();
        }
        let prev = list.iter().rev().copied().find(|k| {
            recs.get(k).is_some_and(|l| {
                l.candidate
                    && l.rec.response_ts.is_none()
                    && (l.rec.client_port == src.port || l.rec.id == id)
            })
        })?;
        let prev = recs.get_mut(&prev)?;
        if prev.rec.unanswered() && prev.rec.waited_ns.is_none() {
            prev.rec.waited_ns = Some(ts.saturating_sub(prev.rec.query_ts));
        }
        Some((prev.rec.query_frame, prev.chain_start))
    }

    fn query(&mut self, e: &Event, t: DnsTransport, msg: DnsMessage) {
        let (Some(qname), Some(qtype)) = (msg.qname, msg.qtype) else {
            self.stats.queries_without_question += 1;
            return;
        };
        let idx = self.next;
        self.next += 1;
        let qkey_name = QName::new(&self.names, &qname);
        let qkey: QuestionKey = (e.src.ip, qkey_name.clone(), qtype, msg.qclass);
        let retry = self.retry_of(&qkey, e.src, msg.id, e.ts);
        let list = self.questions.entry(qkey.clone()).or_default();
        if list.len() >= RETRY_CANDIDATES {
            list.pop_front();
        }
        list.push_back(idx);
        self.question_order.push_back(Candidate {
            idx,
            query_ts: e.ts,
            gone: false,
            key: qkey,
        });
        self.recs.insert(
            idx,
            Live {
                rec: DnsRecord {
                    query_ts: e.ts,
                    query_frame: e.frame,
                    client_ip: e.src.ip,
                    client_port: e.src.port,
                    server_ip: e.dst.ip,
                    server_port: e.dst.port,
                    transport: t,
                    id: msg.id,
                    qname,
                    qtype: DnsType(qtype),
                    rcode: None,
                    answers: None,
                    addresses: Vec::new(),
                    truncated: None,
                    response_ts: None,
                    latency_ns: None,
                    icmp_unreachable: false,
                    icmp_error_ns: None,
                    waited_ns: None,
                    retry_of: retry.map(|(frame, _)| frame),
                },
                waiting: true,
                candidate: true,
                chain_start: retry.map_or(e.ts, |(_, start)| start),
                qname: qkey_name.clone(),
            },
        );
        self.forget_questions(e.ts);
        let key = MatchKey {
            udp: t == DnsTransport::Udp,
            client: e.src,
            server: e.dst,
            id: msg.id,
        };
        let recs = &self.recs;
        let qlist = self
            .pending
            .entry(key)
            .or_default()
            .entry((qkey_name, qtype))
            .or_default();
        push_pruned(qlist, idx, |i| Self::is_waiting(recs, i));
        if key.udp {
            let pair = self.udp_pairs.entry((key.client, key.server)).or_default();
            push_pruned(pair, idx, |i| Self::is_waiting(recs, i));
        }
        self.order.push_back(idx);
        if self.order.len() > 2 * self.pending_count + 1024 {
            let recs = &self.recs;
            self.order.retain(|&i| Self::is_waiting(recs, i));
        }
        self.pending_count += 1;
        while self.pending_count > self.cfg.max_pending {
            let Some(i) = self.order.pop_front() else {
                break;
            };
            if self.remove_pending(i) {
                self.stats.pending_evicted += 1;
                self.unlist(i);
                self.stopped(i);
            }
        }
    }

    /// Forgets the retry candidates older than the retry window at `ts` (events come in time
    /// order, so no later query could take them) and, past `max_pending` candidates, the
    /// oldest ones. A question leaves the map with its latest query; a record that is no
    /// longer a candidate nor waiting is final. Amortised O(1) per query.
    fn forget_questions(&mut self, ts: i64) {
        let window = self.cfg.retry_window_ns;
        while let Some(c) = self.question_order.front() {
            let old = c.gone || ts.saturating_sub(c.query_ts) > window;
            if !old && self.question_order.len() <= self.cfg.max_pending.max(1) {
                break;
            }
            let Some(Candidate { idx, key, .. }) = self.question_order.pop_front() else {
                break;
            };
            // The question's latest query: nothing newer keeps it.
            if self.questions.get(&key).and_then(|l| l.back()) == Some(&idx) {
                self.questions.remove(&key);
            }
            if let Some(l) = self.recs.get_mut(&idx) {
                l.candidate = false;
                self.stats.retry_candidates_evicted += u64::from(!old);
                if !l.waiting {
                    self.emit(idx, None);
                }
            }
        }
    }

    /// Record `i` stopped waiting without a response: final unless still a retry candidate.
    fn stopped(&mut self, i: usize) {
        if self.recs.get(&i).is_some_and(|l| !l.candidate) {
            self.emit(i, None);
        }
    }

    /// Record `i` stopped waiting without a response: it leaves the ends of its lists in
    /// `pending` and `udp_pairs`, and an emptied list its map entry ([`trim_stopped`]):
    /// otherwise the questions never answered (one each, as in a flood of distinct names) and
    /// their socket pairs would stay in the maps for the whole capture. Amortised O(1).
    fn unlist(&mut self, i: usize) {
        let Some(live) = self.recs.get(&i) else {
            return;
        };
        let r = &live.rec;
        let key = MatchKey {
            udp: r.transport == DnsTransport::Udp,
            client: Endpoint {
                ip: r.client_ip,
                port: r.client_port,
            },
            server: Endpoint {
                ip: r.server_ip,
                port: r.server_port,
            },
            id: r.id,
        };
        let question = (live.qname.clone(), r.qtype.0);
        let recs = &self.recs;
        if let Some(by_question) = self.pending.get_mut(&key) {
            if by_question
                .get_mut(&question)
                .is_some_and(|l| trim_stopped(l, |k| Self::is_waiting(recs, k)))
            {
                by_question.remove(&question);
            }
            if by_question.is_empty() {
                self.pending.remove(&key);
            }
        }
        if key.udp {
            self.unlist_pair((key.client, key.server));
        }
    }

    /// The queries of a socket pair that stopped waiting leave the ends of its list
    /// ([`trim_stopped`]); an emptied list leaves the map.
    fn unlist_pair(&mut self, pair: (Endpoint, Endpoint)) {
        let recs = &self.recs;
        if self
            .udp_pairs
            .get_mut(&pair)
            .is_some_and(|l| trim_stopped(l, |k| Self::is_waiting(recs, k)))
        {
            self.udp_pairs.remove(&pair);
        }
    }

    /// Record `i` stops waiting (O(1): its entries in the lists are left to the caller,
    /// [`Matcher::unlist`], or to a response, which takes its list); false if it was not
    /// waiting.
    fn remove_pending(&mut self, i: usize) -> bool {
        match self.recs.get_mut(&i) {
            Some(l) if l.waiting => {
                l.waiting = false;
                self.pending_count = self.pending_count.saturating_sub(1);
                true
            }
            _ => false,
        }
    }

    fn response(&mut self, e: &Event, t: DnsTransport, msg: &DnsMessage) {
        let key = MatchKey {
            udp: t == DnsTransport::Udp,
            client: e.dst,
            server: e.src,
            id: msg.id,
        };
        let Some(by_question) = self.pending.get_mut(&key) else {
            self.stats.unmatched_responses += 1;
            return;
        };
        // Same question (a response without a question matches on the id alone). Identical
        // waiting queries (a client resending on the same socket with the same id) are all
        // answered by this response. Each query is taken out once: O(1) per message.
        let taken: Vec<usize> = match (&msg.qname, msg.qtype) {
            (None, _) => by_question.drain().flat_map(|(_, l)| l).collect(),
            (Some(q), Some(t)) => by_question
                .remove(&(QName::new(&self.names, q), t))
                .map(Vec::from)
                .unwrap_or_default(),
            (Some(_), None) => Vec::new(),
        };
        if by_question.is_empty() {
            self.pending.remove(&key);
        }
        let recs = &self.recs;
        let mut matched: Vec<usize> = taken
            .into_iter()
            .filter(|&i| Self::is_waiting(recs, i))
            .collect();
        matched.sort_unstable();
        if matched.is_empty() {
            self.stats.unmatched_responses += 1;
            return;
        }
        for &i in &matched {
            self.remove_pending(i);
            let Some(l) = self.recs.get_mut(&i) else {
                continue;
            };
            let r = &mut l.rec;
            r.rcode = Some(Rcode(msg.rcode));
            r.answers = Some(u32::from(msg.answer_count));
            r.addresses = msg.addresses.clone();
            r.truncated = Some(msg.truncated);
            r.response_ts = Some(e.ts);
            r.latency_ns = Some(e.ts.saturating_sub(r.query_ts));
            r.waited_ns = None;
            // Answered: no later query takes it as a retry, so it is final.
            if !r.addresses.is_empty() {
                let lookup = Lookup {
                    client_ip: r.client_ip,
                    addresses: r.addresses.clone(),
                    response_ts: e.ts,
                    query_frame: r.query_frame,
                    start_ts: l.chain_start,
                };
                if self.lookups.insert(&r.qname, lookup) {
                    self.stats.lookups_forgotten += 1;
                }
            }
        }
        // Answered: the queries leave their socket pair's list, and are final.
        if key.udp {
            self.unlist_pair((key.client, key.server));
        }
        for i in matched {
            self.emit(i, None);
        }
    }

    fn unreachable(&mut self, e: &Event) {
        // The latest waiting UDP query from the quoted source to the quoted destination.
        let pair = (e.src, e.dst);
        let mut latest = None;
        if let Some(list) = self.udp_pairs.get_mut(&pair) {
            while let Some(&i) = list.back() {
                if Self::is_waiting(&self.recs, i) {
                    latest = Some(i);
                    break;
                }
                list.pop_back();
            }
            if list.is_empty() {
                self.udp_pairs.remove(&pair);
            }
        }
        let Some(i) = latest.filter(|i| self.recs.contains_key(i)) else {
            self.stats.icmp_unmatched += 1;
            return;
        };
        self.remove_pending(i);
        self.unlist(i);
        self.stats.icmp_matched += 1;
        if let Some(l) = self.recs.get_mut(&i) {
            // Not an answer: the query failed; its time is kept apart from `latency_ns`.
            l.rec.icmp_unreachable = true;
            l.rec.icmp_error_ns = Some(e.ts.saturating_sub(l.rec.query_ts));
            l.rec.waited_ns = None;
        }
        self.stopped(i);
    }
}
