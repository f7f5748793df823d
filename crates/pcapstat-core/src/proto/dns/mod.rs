//! DNS over UDP and TCP: message parsing, query/response matching, latency, retries,
//! unanswered queries and ICMP port-unreachable answers.
//!
//! Layers, frame first then decode:
//! * [`DnsMessage::parse`] decodes one message (the fixed 12-byte header is read directly; the
//!   question and answer records are decoded by the `simple-dns` crate; see `docs/dns.md` for
//!   why that crate).
//! * [`DnsTcpParser`] cuts DNS-over-TCP streams into messages (two-byte length prefix, several
//!   messages per connection, any split across segments).
//! * [`DnsTracker`] is fed UDP payloads, TCP messages and ICMP errors — in any order — and
//!   matches them in capture-time order when [`finish`](DnsTracker::finish)ed.
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
use std::collections::HashMap;
use std::hash::{BuildHasher, Hash, Hasher};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::rc::Rc;

#[cfg_attr(not(any(test, feature = "fuzzing")), allow(unused_imports))] // used by tests
pub use tcp::{DnsTcpMessage, DnsTcpParser};

use crate::flow::Endpoint;
use crate::record::{DnsRecord, DnsTransport};
use crate::tcp::Direction;

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

/// Most recent queries of one (client address, question) kept as retry candidates.
const RETRY_CANDIDATES: usize = 16;

/// Limits and the retry window of a [`DnsTracker`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct DnsConfig {
    /// Most messages (and ICMP errors) kept until [`DnsTracker::finish`]; more are counted in
    /// [`DnsStats::messages_dropped`] and ignored.
    pub max_messages: usize,
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
}

#[cfg_attr(not(any(test, feature = "fuzzing")), allow(dead_code))] // used by tests and fuzzing
impl DnsConfig {
    /// Sets [`max_messages`](DnsConfig::max_messages).
    pub fn with_max_messages(mut self, n: usize) -> Self {
        self.max_messages = n;
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
}

impl Default for DnsConfig {
    fn default() -> Self {
        DnsConfig {
            max_messages: 4_000_000,
            max_pending: 100_000,
            retry_window_ns: DEFAULT_RETRY_WINDOW_NS,
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
        /// Questions forgotten as retry candidates at the `max_pending` limit while still
        /// within the retry window (a later try of them gets no `retry_of`).
        pub retry_candidates_evicted: u64,
        /// Messages ignored at the `max_messages` limit.
        pub messages_dropped: u64,
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

/// Query/response matching key: the same client socket, server socket, transport and id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct MatchKey {
    udp: bool,
    client: Endpoint,
    server: Endpoint,
    id: u16,
}

/// Sans-IO DNS transaction tracker for one capture (or one shard of it: all messages between
/// one client address and its servers must reach the same tracker).
#[derive(Debug)]
pub struct DnsTracker {
    cfg: DnsConfig,
    /// The events fed, in chunks of [`EVENT_CHUNK`] (allocated once each: a growing `Vec`
    /// would hold its old and new buffers at once, three times the events, at each doubling).
    events: Vec<Vec<Event>>,
    /// Events fed (all chunks).
    fed: usize,
    stats: DnsStats,
}

/// Events per chunk of [`DnsTracker::events`].
const EVENT_CHUNK: usize = 1 << 14;

impl DnsTracker {
    /// An empty tracker.
    pub fn new(cfg: DnsConfig) -> Self {
        DnsTracker {
            cfg,
            events: Vec::new(),
            fed: 0,
            stats: DnsStats::default(),
        }
    }

    fn push(&mut self, ts: i64, frame: u64, src: Endpoint, dst: Endpoint, what: What) {
        if self.fed >= self.cfg.max_messages {
            self.stats.messages_dropped += 1;
            return;
        }
        let seq = self.fed as u64;
        self.fed += 1;
        if self.events.last().is_none_or(|c| c.len() == EVENT_CHUNK) {
            self.events.push(Vec::with_capacity(EVENT_CHUNK));
        }
        let Some(chunk) = self.events.last_mut() else {
            return;
        };
        chunk.push(Event {
            ts,
            frame,
            seq,
            src,
            dst,
            what,
        });
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
                self.stats.messages += 1;
                self.push(ts, frame, src, dst, What::Message(t, msg));
            }
            Err(DnsError::TooShort { .. }) => self.stats.unparsable += 1,
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

    /// Matches everything fed, in capture-time order, and returns one record per query
    /// (sorted by `query_frame`) and the counters. `end_ts` is the end of the capture (it
    /// bounds `waited_ns` of queries neither answered nor retried).
    pub fn finish(mut self, end_ts: i64) -> (Vec<DnsRecord>, DnsStats) {
        let chunks = std::mem::take(&mut self.events);
        let key = |e: &Event| (e.ts, e.frame, e.seq);
        let queries = chunks
            .iter()
            .flatten()
            .filter(|e| matches!(&e.what, What::Message(_, m) if !m.response))
            .count();
        // Usually the events came in time order: they are matched chunk by chunk, each freed
        // once read. Otherwise (timestamps out of order, DNS over TCP delivered at its
        // connection's pace) in one vector sorted by time.
        let chunks = if chunks.iter().flatten().map(key).is_sorted() {
            chunks
        } else {
            let mut all = Vec::with_capacity(self.fed);
            for chunk in chunks {
                all.extend(chunk);
            }
            all.sort_by_key(key);
            vec![all]
        };
        let mut m = Matcher {
            cfg: self.cfg,
            recs: Vec::with_capacity(queries),
            names: std::hash::RandomState::new(),
            pending: Map::default(),
            order: std::collections::VecDeque::new(),
            pending_count: 0,
            waiting: Vec::new(),
            udp_pairs: Map::default(),
            questions: Map::default(),
            question_order: std::collections::VecDeque::new(),
            stats: self.stats,
        };
        for e in chunks.into_iter().flatten() {
            m.event(e);
        }
        let window = self.cfg.retry_window_ns;
        let mut recs = m.recs;
        for r in &mut recs {
            // Neither answered, nor failed by ICMP, nor retried: the client waited at most
            // until the end of the capture, and no longer than the retry window as far as the
            // capture can tell.
            if r.unanswered() && r.waited_ns.is_none() {
                let end = end_ts.min(r.query_ts.saturating_add(window));
                r.waited_ns = Some(end.saturating_sub(r.query_ts).max(0));
            }
        }
        recs.sort_by_key(|r| (r.query_frame, r.query_ts));
        (recs, m.stats)
    }
}

/// Appends `idx` to a list of record indices from which entries that stopped waiting are
/// dropped lazily: before the list would grow its allocation, they are pruned, and room for as
/// many again is reserved (amortised O(1) per push; the list holds O(live entries)).
fn push_pruned(list: &mut Vec<usize>, idx: usize, waiting: &[bool]) {
    if list.len() == list.capacity() && list.len() >= 16 {
        list.retain(|&i| waiting.get(i).copied().unwrap_or(false));
        list.reserve(list.len().max(16));
    }
    list.push(idx);
}

/// A question name with its hash computed once, from a keyed hasher. The matching maps hash
/// (and rehash, as they grow) the stored hash alone: with a million waiting names, re-reading
/// every name's text at each growth made the matching cost grow faster than the capture. One
/// shared copy of the text serves both maps.
#[derive(Debug, Clone)]
struct QName {
    hash: u64,
    text: Rc<str>,
}

impl QName {
    fn new(names: &std::hash::RandomState, text: &str) -> QName {
        QName {
            hash: names.hash_one(text),
            text: Rc::from(text),
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

struct Matcher {
    cfg: DnsConfig,
    recs: Vec<DnsRecord>,
    /// The keyed hasher of question names ([`QName`]).
    names: std::hash::RandomState,
    /// Waiting queries by key, then by question (record indices, oldest first). Keyed down
    /// to the question so that a response finds its queries in O(1) however many queries
    /// share its (client, server, id). Entries that stopped waiting (evicted, ICMP error) are
    /// dropped lazily: `waiting` is the truth.
    pending: Map<MatchKey, Map<(QName, u16), Vec<usize>>>,
    /// Waiting queries in arrival order, for the `max_pending` bound (lazily pruned).
    order: std::collections::VecDeque<usize>,
    pending_count: usize,
    /// Per record: still waiting (in `pending`).
    waiting: Vec<bool>,
    /// Waiting UDP queries per (client, server) socket pair, oldest first, for ICMP errors
    /// (which quote no id); entries that stopped waiting are dropped lazily.
    udp_pairs: Map<(Endpoint, Endpoint), Vec<usize>>,
    /// The latest queries of each question (record indices, oldest first; at most
    /// `RETRY_CANDIDATES`, none older than the retry window): candidates for `retry_of`.
    questions: Map<QuestionKey, std::collections::VecDeque<usize>>,
    /// Every query in `questions`, oldest first (record index and question), to forget them
    /// once older than the retry window or beyond `max_pending` of them: the map holds the
    /// questions of the last seconds, not of the whole capture.
    question_order: std::collections::VecDeque<(usize, QuestionKey)>,
    stats: DnsStats,
}

impl Matcher {
    fn event(&mut self, mut e: Event) {
        match std::mem::replace(&mut e.what, What::Unreachable) {
            What::Message(t, msg) if !msg.response => self.query(&e, t, msg),
            What::Message(t, msg) => self.response(&e, t, &msg),
            What::Unreachable => self.unreachable(&e),
        }
    }

    /// The earlier query that a query of `qkey` from `src` with `id` at `ts` retries: the
    /// latest query of the same question from the same client address, sent at most the retry
    /// window before, that had no DNS response yet, and came from the same port or (a new
    /// socket) carried the same id. Updates that query's `waited_ns`.
    fn retry_of(&mut self, qkey: &QuestionKey, src: Endpoint, id: u16, ts: i64) -> Option<u64> {
        let window = self.cfg.retry_window_ns;
        let list = self.questions.get_mut(qkey)?;
        let recs = &mut self.recs;
        while list
            .front()
            .and_then(|&k| recs.get(k))
            .is_some_and(|r| ts.saturating_sub(r.query_ts) > window)
        {
            list.pop_front();
        }
        let prev = list.iter().rev().copied().find(|&k| {
            recs.get(k).is_some_and(|r| {
                r.response_ts.is_none() && (r.client_port == src.port || r.id == id)
            })
        })?;
        let prev = recs.get_mut(prev)?;
        if prev.unanswered() && prev.waited_ns.is_none() {
            prev.waited_ns = Some(ts.saturating_sub(prev.query_ts));
        }
        Some(prev.query_frame)
    }

    fn query(&mut self, e: &Event, t: DnsTransport, msg: DnsMessage) {
        let (Some(qname), Some(qtype)) = (msg.qname, msg.qtype) else {
            self.stats.queries_without_question += 1;
            return;
        };
        let idx = self.recs.len();
        let qkey_name = QName::new(&self.names, &qname);
        let qkey: QuestionKey = (e.src.ip, qkey_name.clone(), qtype, msg.qclass);
        let retry_of = self.retry_of(&qkey, e.src, msg.id, e.ts);
        let list = self.questions.entry(qkey.clone()).or_default();
        if list.len() >= RETRY_CANDIDATES {
            list.pop_front();
        }
        list.push_back(idx);
        self.question_order.push_back((idx, qkey));
        self.recs.push(DnsRecord {
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
            retry_of,
        });
        self.forget_questions(e.ts);
        let key = MatchKey {
            udp: t == DnsTransport::Udp,
            client: e.src,
            server: e.dst,
            id: msg.id,
        };
        let waiting = &self.waiting;
        let qlist = self
            .pending
            .entry(key)
            .or_default()
            .entry((qkey_name, qtype))
            .or_default();
        push_pruned(qlist, idx, waiting);
        if key.udp {
            let pair = self.udp_pairs.entry((key.client, key.server)).or_default();
            push_pruned(pair, idx, waiting);
        }
        self.waiting.push(true);
        self.order.push_back(idx);
        if self.order.len() > 2 * self.pending_count + 1024 {
            let waiting = &self.waiting;
            self.order
                .retain(|&i| waiting.get(i).copied().unwrap_or(false));
        }
        self.pending_count += 1;
        while self.pending_count > self.cfg.max_pending {
            let Some(i) = self.order.pop_front() else {
                break;
            };
            if self.remove_pending(i) {
                self.stats.pending_evicted += 1;
                self.unlist(i);
            }
        }
    }

    /// Forgets the retry candidates older than the retry window at `ts` (events come in time
    /// order, so no later query could take them: the records are unchanged) and, past
    /// `max_pending` candidates, the oldest ones. A question leaves the map with its latest
    /// query. Amortised O(1) per query.
    fn forget_questions(&mut self, ts: i64) {
        let window = self.cfg.retry_window_ns;
        while let Some((idx, _)) = self.question_order.front() {
            let old = self
                .recs
                .get(*idx)
                .is_none_or(|r| ts.saturating_sub(r.query_ts) > window);
            if !old && self.question_order.len() <= self.cfg.max_pending.max(1) {
                break;
            }
            let Some((idx, key)) = self.question_order.pop_front() else {
                break;
            };
            // The question's latest query: nothing newer keeps it.
            if self.questions.get(&key).and_then(|l| l.back()) == Some(&idx) {
                self.questions.remove(&key);
                self.stats.retry_candidates_evicted += u64::from(!old);
            }
        }
    }

    /// Drops the entry of record `i`, which stopped waiting without a response, from
    /// `pending` when no query of its list still waits and the list is short: otherwise the
    /// questions never answered (one each, as in a flood of distinct names) would stay in the
    /// map for the whole capture. Long lists (one question resent many times) are pruned as
    /// they grow ([`push_pruned`]). O(1).
    fn unlist(&mut self, i: usize) {
        const SHORT: usize = 16;
        let Some(r) = self.recs.get(i) else { return };
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
        let question = (QName::new(&self.names, &r.qname), r.qtype.0);
        let Some(by_question) = self.pending.get_mut(&key) else {
            return;
        };
        let waiting = &self.waiting;
        let stale = by_question.get(&question).is_some_and(|l| {
            l.len() <= SHORT && l.iter().all(|&k| !waiting.get(k).copied().unwrap_or(false))
        });
        if stale {
            by_question.remove(&question);
            if by_question.is_empty() {
                self.pending.remove(&key);
            }
        }
    }

    /// Record `i` stops waiting (O(1): its entry in `pending` is dropped lazily); false if
    /// it was not waiting.
    fn remove_pending(&mut self, i: usize) -> bool {
        match self.waiting.get_mut(i) {
            Some(w) if *w => {
                *w = false;
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
                .unwrap_or_default(),
            (Some(_), None) => Vec::new(),
        };
        if by_question.is_empty() {
            self.pending.remove(&key);
        }
        let waiting = &self.waiting;
        let mut matched: Vec<usize> = taken
            .into_iter()
            .filter(|&i| waiting.get(i).copied().unwrap_or(false))
            .collect();
        matched.sort_unstable();
        if matched.is_empty() {
            self.stats.unmatched_responses += 1;
            return;
        }
        for i in matched {
            self.remove_pending(i);
            if let Some(r) = self.recs.get_mut(i) {
                r.rcode = Some(Rcode(msg.rcode));
                r.answers = Some(u32::from(msg.answer_count));
                r.addresses = msg.addresses.clone();
                r.truncated = Some(msg.truncated);
                r.response_ts = Some(e.ts);
                r.latency_ns = Some(e.ts.saturating_sub(r.query_ts));
                r.waited_ns = None;
            }
        }
    }

    fn unreachable(&mut self, e: &Event) {
        // The latest waiting UDP query from the quoted source to the quoted destination.
        let pair = (e.src, e.dst);
        let mut latest = None;
        if let Some(list) = self.udp_pairs.get_mut(&pair) {
            while let Some(&i) = list.last() {
                if self.waiting.get(i).copied().unwrap_or(false) {
                    latest = Some(i);
                    break;
                }
                list.pop();
            }
            if list.is_empty() {
                self.udp_pairs.remove(&pair);
            }
        }
        let Some(i) = latest.filter(|&i| self.recs.get(i).is_some()) else {
            self.stats.icmp_unmatched += 1;
            return;
        };
        self.remove_pending(i);
        self.unlist(i);
        self.stats.icmp_matched += 1;
        if let Some(r) = self.recs.get_mut(i) {
            // Not an answer: the query failed; its time is kept apart from `latency_ns`.
            r.icmp_unreachable = true;
            r.icmp_error_ns = Some(e.ts.saturating_sub(r.query_ts));
            r.waited_ns = None;
        }
    }
}
