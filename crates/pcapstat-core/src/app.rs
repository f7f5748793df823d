//! Application layer on top of TCP reassembly and UDP: picks the parser of each connection
//! (TLS, HTTP/1.x, HTTP/2 with prior knowledge, DNS over TCP) from its first client bytes, and
//! picks out DNS over UDP for the matcher. (HTTP/2 after `Upgrade: h2c` is taken over inside
//! the HTTP/1 parser.)
//!
//! [`AppFactory`] is the [`SinkFactory`] of one shard; [`UdpDns`] is the [`UdpConsumer`] of the
//! reading thread. Both only collect plain records.
//!
//! With a key log ([`AppConfig::keylog`]) a TLS connection whose session secrets are logged is
//! decrypted, and its application data goes to an HTTP/1.x parser when the server selected ALPN
//! `http/1.1` or none, to an HTTP/2 parser when it selected `h2` (other protocols are counted, not
//! parsed): HTTPS requests give [`HttpRecord`]s like clear-text ones. Each record's plaintext is
//! fed at the capture time of the segment that completed the record (docs/http.md).

use crate::stats::counters;
use std::sync::Arc;

use crate::decode::IcmpError;
use crate::flow::Endpoint;
use crate::packet::UdpDatagram;
use crate::pipeline::UdpConsumer;
use crate::proto::dns::{DnsTcpParser, DnsTracker};
use crate::proto::headers::HeaderLimits;
use crate::proto::http::{HttpConfig, HttpParser, HttpStats};
use crate::proto::http2::{Http2Config, Http2Parser, Http2Stats};
use crate::proto::quic::QuicTracker;
use crate::proto::tls::{
    AppData, EmbeddedKeys, InferStats, KeyLog, Keys, TlsDecryptStats, TlsParser,
};
use crate::proto::websocket::{StreamWebSocket, WebSocketParser, WebSocketStats};
use crate::proto::Probe;
use crate::record::{
    endpoint, ConnectionRecord, Failure, HttpExchange, HttpRecord, Outcome, RolesFrom, TlsRecord,
    WebSocketRecord,
};
use crate::tcp::{ConnMeta, Direction, SinkFactory, StreamSink};

/// Memory buffered at most (both directions, from the candidate start) before giving up
/// recognising a protocol at that start: payload bytes plus [`PROBE_EVENT_COST`] per buffered
/// event (data, gap or close), so that a flood of headers-only or one-byte segments before the
/// protocol is known is bounded too (`AppStats::probe_limit_hits`, docs/limits.md).
pub const PROBE_LIMIT_BYTES: usize = 4096;

/// Bytes one buffered probing event costs besides its payload (its slot in the event list with
/// the list's growth slack, and the heap block header of its bytes).
pub const PROBE_EVENT_COST: usize = 64;

/// On a connection picked up mid-stream, bytes (both directions) skipped at most while
/// looking for a segment that starts a request, ClientHello or HTTP/2 preface; past it the
/// connection is left unparsed (`AppStats::midstream_probe_gave_up`).
pub const MIDSTREAM_PROBE_LIMIT_BYTES: u64 = 1 << 20;

/// Bytes of a candidate start enough for every probe (the longest method plus a space, a TLS
/// record and handshake header, the 24-byte HTTP/2 preface).
const PROBE_HEAD_BYTES: usize = 32;

/// The well-known DNS port: TCP connections to or from it are parsed as DNS over TCP.
pub const DNS_PORT: u16 = 53;

counters! {
    /// How many connections each parser took.
    #[derive(Debug, Clone, Default, PartialEq, Eq)]
    pub struct AppStats {
        /// Connections parsed as TLS.
        pub tls: u64,
        /// Connections parsed as HTTP/1.x (including those upgraded to h2c).
        pub http: u64,
        /// Connections parsed as HTTP/2 from the client preface (h2c with prior knowledge).
        pub http2: u64,
        /// HTTP/1.1 connections upgraded to HTTP/2 (`Upgrade: h2c` answered by 101).
        pub h2c_upgrades: u64,
        /// Counters of the HTTP/2 parsers (prior knowledge and upgrades).
        pub http2_stats: Http2Stats,
        /// Connections parsed as DNS over TCP.
        pub dns_tcp: u64,
        /// DNS-over-TCP bytes that could not be framed: after a gap, or in a message cut by the
        /// end of its direction.
        pub dns_tcp_dropped_bytes: u64,
        /// Connections with payload that no parser recognised.
        pub unrecognised: u64,
        /// Connections whose protocol could not be told because the client's first bytes were lost.
        pub unknown_after_gap: u64,
        /// TLS connections whose decrypted application data was parsed as HTTP/1.x (ALPN
        /// `http/1.1` or none).
        pub https: u64,
        /// TLS connections whose decrypted application data was parsed as HTTP/2 (ALPN `h2`).
        pub https2: u64,
        /// Decrypted TLS connections with another ALPN protocol: not parsed.
        pub tls_other_alpn: u64,
        /// TLS decryption counters (all zero without a key log).
        pub tls_decrypt: TlsDecryptStats,
        /// Counters of the HTTP/1.x parsers (clear text and decrypted), summed.
        pub http_stats: HttpStats,
        /// Connections picked up mid-stream whose parser was found at a later segment boundary
        /// (their first bytes were not a message start: a keep-alive byte, the tail of a body).
        pub midstream_reprobed: u64,
        /// Bytes skipped on such connections before the segment where the parser started.
        pub midstream_probe_skipped_bytes: u64,
        /// Mid-stream connections given up after `MIDSTREAM_PROBE_LIMIT_BYTES` without a
        /// message start.
        pub midstream_probe_gave_up: u64,
        /// Connections whose probing buffer reached `PROBE_LIMIT_BYTES` (payload plus
        /// `PROBE_EVENT_COST` per event) before a parser was chosen: the candidate start was
        /// given up (mid-stream: the next segment is tried; otherwise the connection is left
        /// unparsed).
        pub probe_limit_hits: u64,
        /// Mid-stream connections whose roles were taken from the payload (`roles_from =
        /// payload`).
        pub roles_from_payload: u64,
        /// Of those, connections where the port guess was wrong and the roles were swapped.
        pub roles_swapped: u64,
        /// Counters of the WebSocket parsers (HTTP/1.1 connections upgraded by a `101`).
        pub websocket: WebSocketStats,
        /// Exchanges inferred from encrypted records (TLS connections not decrypted).
        pub inferred: InferStats,
    }
}

impl AppStats {
    /// Times a memory limit of the application layer was hit: probing buffers full
    /// ([`probe_limit_hits`](AppStats::probe_limit_hits)), HTTP/1.x heads too large and
    /// requests given up at the pending limit (docs/limits.md).
    pub fn limit_hits(&self) -> u64 {
        self.probe_limit_hits + self.http_stats.heads_too_large + self.http_stats.pending_dropped
    }
}

/// Options of the application parsers (shared read-only by every shard).
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct AppConfig {
    /// TLS secrets: connections whose client random is in it are decrypted.
    pub keylog: Option<Arc<KeyLog>>,
    /// The secrets embedded in the capture met so far by this shard's worker (under
    /// [`keylog`](AppConfig::keylog)'s).
    pub embedded: Option<EmbeddedKeys>,
    /// Keep the header fields of HTTP requests and responses within these bounds
    /// (`HttpExchange::headers`, for the HAR); `None` (the default): no header is kept.
    pub headers: Option<HeaderLimits>,
}

impl AppConfig {
    /// Sets [`keylog`](AppConfig::keylog).
    pub fn with_keylog(mut self, keylog: Option<Arc<KeyLog>>) -> Self {
        self.keylog = keylog;
        self
    }

    /// Sets [`headers`](AppConfig::headers).
    pub fn with_headers(mut self, headers: Option<HeaderLimits>) -> Self {
        self.headers = headers;
        self
    }

    /// Sets [`embedded`](AppConfig::embedded).
    pub fn with_embedded(mut self, embedded: Option<EmbeddedKeys>) -> Self {
        self.embedded = embedded;
        self
    }
}

/// What a TLS connection's plaintext goes to.
#[derive(Debug)]
enum Inner {
    /// No application data yet.
    Undecided,
    Http(Box<HttpParser>),
    Http2(Box<Http2Parser>),
    /// Another ALPN protocol: not parsed.
    NotParsed,
}

/// A TLS connection: the handshake parser and, with keys, the parser of its plaintext.
#[derive(Debug)]
pub struct TlsConn {
    tls: TlsParser,
    inner: Inner,
    /// Header capture of the plaintext's HTTP parser.
    headers: Option<HeaderLimits>,
}

/// The server port on which a TLS connection without ALPN is taken for HTTP/1.1 when its
/// exchanges are inferred from the records (docs/http.md, "HTTPS without keys").
pub const HTTPS_PORT: u16 = 443;

impl TlsConn {
    fn new(keys: Keys, headers: Option<HeaderLimits>, server_port: u16) -> Self {
        let mut tls = TlsParser::with_keys(keys);
        tls.infer_http(server_port == HTTPS_PORT);
        TlsConn {
            tls,
            inner: Inner::Undecided,
            headers,
        }
    }

    fn pump(&mut self) {
        for item in self.tls.take_app_data() {
            if matches!(self.inner, Inner::Undecided) {
                self.inner = match self.tls.record().alpn.as_deref() {
                    None | Some("http/1.1") => Inner::Http(Box::new(HttpParser::new(
                        HttpConfig::default().with_headers(self.headers),
                    ))),
                    Some("h2") => Inner::Http2(Box::new(Http2Parser::new(
                        Http2Config::default().with_headers(self.headers),
                    ))),
                    Some(_) => Inner::NotParsed,
                };
            }
            let http: &mut dyn StreamSink = match &mut self.inner {
                Inner::Http(p) => p.as_mut(),
                Inner::Http2(p) => p.as_mut(),
                Inner::Undecided | Inner::NotParsed => continue,
            };
            match item {
                AppData::Data {
                    dir,
                    last_ts,
                    bytes,
                    ..
                } => {
                    // Plaintext exists once its record is complete: every byte at the segment
                    // completing the record (docs/http.md, "Timing rule for decrypted bytes").
                    http.on_data(last_ts, dir, &bytes);
                }
                AppData::Lost { dir, ts } => http.on_gap(ts, dir, u64::MAX),
            }
        }
    }
}

impl StreamSink for TlsConn {
    fn on_data(&mut self, ts_ns: i64, dir: Direction, bytes: &[u8]) {
        self.tls.on_data(ts_ns, dir, bytes);
        self.pump();
    }

    fn held(&self) -> usize {
        self.tls.held()
            + match &self.inner {
                Inner::Http(http) => http.held(),
                Inner::Http2(http) => http.held(),
                Inner::Undecided | Inner::NotParsed => 0,
            }
    }

    fn shed(&mut self) {
        self.tls.shed();
        match &mut self.inner {
            Inner::Http(http) => http.shed(),
            Inner::Http2(http) => http.shed(),
            Inner::Undecided | Inner::NotParsed => {}
        }
    }

    fn on_gap(&mut self, ts_ns: i64, dir: Direction, len: u64) {
        self.tls.on_gap(ts_ns, dir, len);
        self.pump();
    }

    fn on_close(&mut self, ts_ns: i64, dir: Direction) {
        self.tls.on_close(ts_ns, dir);
        self.pump();
        match &mut self.inner {
            Inner::Http(http) => http.on_close(ts_ns, dir),
            Inner::Http2(http) => http.on_close(ts_ns, dir),
            Inner::Undecided | Inner::NotParsed => {}
        }
    }
}

/// Records produced by the application parsers of one shard.
#[derive(Debug, Default)]
pub struct AppFactory {
    /// One per TLS connection.
    pub tls: Vec<TlsRecord>,
    /// One per HTTP request.
    pub http: Vec<HttpRecord>,
    /// One per WebSocket connection.
    pub websocket: Vec<WebSocketRecord>,
    /// HTTP requests taken from live connections ([`SinkFactory::after_segment`]), not yet
    /// handed on.
    pub open: Vec<OpenRows>,
    /// DNS over TCP messages completed since the last harvest, to be matched with the UDP
    /// ones (`DnsTracker::on_tcp_message`).
    pub dns_tcp: Vec<DnsTcpItem>,
    /// Counters.
    pub stats: AppStats,
    /// Options.
    pub config: AppConfig,
}

impl AppFactory {
    /// A factory with these options (`AppFactory::default()` has no key log).
    pub fn new(config: AppConfig) -> Self {
        AppFactory {
            config,
            ..Self::default()
        }
    }
}

/// Finished requests of a live connection (not its first one, which waits for the connection
/// record: its phases need the connect and TLS times), with what their rows need from the rest
/// of the connection.
#[derive(Debug, Clone)]
pub struct OpenRows {
    /// The connection's TLS server name, for filters.
    pub sni: Option<String>,
    /// Whether its TLS session was resumed (`RequestTiming::tls_resumed`).
    pub tls_resumed: Option<bool>,
    /// The requests, in order.
    pub http: Vec<HttpRecord>,
}

/// A live connection's HTTP requests are taken from its parser once it keeps this many
/// (bounds the rows a keep-alive connection holds; docs/performance.md, "Streaming").
pub const TAKE_FINISHED_AT: usize = 32;

/// What was taken from a connection's parser before it ended.
#[derive(Debug, Default)]
struct Taken {
    /// Something was taken.
    any: bool,
    /// A taken request was not complete.
    incomplete: bool,
    /// A taken request had no response.
    unanswered: bool,
    /// The first request (index 0), kept for the end of the connection.
    first: Option<HttpExchange>,
}

/// Appends the records of one connection's HTTP parser, with the connection's `conn_id` and
/// endpoints; a
/// reset connection whose requests the parser knows failed exactly when one of them has no
/// complete response (docs/tcp.md, "Failed connections").
fn push_http(
    out: &mut Vec<HttpRecord>,
    conn: &mut ConnectionRecord,
    mut records: Vec<HttpExchange>,
    taken: Taken,
) {
    if let Some(first) = taken.first {
        records.insert(0, first);
    }
    // Inferred rows (estimates) do not decide the failure.
    let exact = || records.iter().filter(|r| !r.inferred);
    if conn.outcome == Outcome::Reset && (taken.any || exact().next().is_some()) {
        let unanswered = taken.unanswered || exact().any(|r| r.response_start_ts.is_none());
        let cut = taken.incomplete || exact().any(|r| !r.complete);
        conn.failure = match conn.failure {
            Some(Failure::ResetBeforeResponse) => Some(Failure::ResetBeforeResponse),
            _ if unanswered => Some(Failure::ResetUnanswered),
            _ if cut => Some(Failure::ResetMidResponse),
            _ => None,
        };
    }
    out.extend(records.into_iter().map(|exchange| HttpRecord {
        conn_id: conn.conn_id,
        client: conn.client(),
        server: conn.server(),
        exchange,
    }));
}

/// One DNS message from a TCP connection.
#[derive(Debug, Clone)]
pub struct DnsTcpItem {
    /// Capture time of the segment completing the message.
    pub ts_ns: i64,
    /// The connection's `conn_id` (its first frame): DNS over TCP messages are not tied to a
    /// frame by the reassembly, so they carry the connection's first frame.
    pub frame: u64,
    /// Client endpoint of the connection.
    pub client: Endpoint,
    /// Server endpoint of the connection.
    pub server: Endpoint,
    /// Sender.
    pub dir: Direction,
    /// The message, without its length prefix.
    pub bytes: Vec<u8>,
}

#[derive(Debug)]
enum Event {
    Data(i64, Direction, Vec<u8>),
    Gap(i64, Direction, u64),
    Close(i64, Direction),
}

#[derive(Debug)]
enum State {
    /// Buffering until a parser accepts a candidate start: `events` from the first candidate
    /// not yet rejected (plus the close events before it); `buffered` = their memory cost
    /// (payload bytes plus [`PROBE_EVENT_COST`] each).
    Probing {
        events: Vec<Event>,
        buffered: usize,
    },
    Tls(Box<TlsConn>),
    Http(Box<HttpParser>),
    Http2(Box<Http2Parser>),
    Dns(Box<DnsTcpParser>, Endpoint, Endpoint),
    /// No parser; `after_gap`: the client's first bytes were lost.
    Other {
        after_gap: bool,
    },
}

/// The first `PROBE_HEAD_BYTES` bytes of direction `dir` in `events`, up to its first gap.
fn probe_head(events: &[Event], dir: Direction) -> Vec<u8> {
    let mut head = Vec::new();
    for e in events {
        match e {
            Event::Data(_, d, b) if *d == dir => {
                let n = b.len().min(PROBE_HEAD_BYTES - head.len());
                head.extend_from_slice(b.get(..n).unwrap_or(&[]));
                if head.len() >= PROBE_HEAD_BYTES {
                    break;
                }
            }
            Event::Gap(_, d, _) if *d == dir => break,
            _ => {}
        }
    }
    head
}

/// The per-connection sink: buffers until the protocol is known, then feeds its parser.
///
/// The first client bytes decide, except on a connection picked up mid-stream (no SYN nor
/// SYN/ACK: roles guessed from the ports), where each data segment of either side is a
/// candidate start in capture order: the first one where a parser accepts a request (HTTP/1.x
/// request line, TLS ClientHello, HTTP/2 preface) starts parsing and tells who the client is;
/// the segments before it are skipped (docs/http.md, "Connections picked up mid-stream").
#[derive(Debug)]
pub struct AppSink {
    state: State,
    /// Client and server were guessed from the ports (no SYN seen).
    guessed: bool,
    /// The guess was wrong (the "server" sent the request): directions are swapped for the
    /// parser, and the connection record is swapped at close.
    flip: bool,
    /// A parser accepted on a guessed connection: the roles come from the payload.
    roles_from_payload: bool,
    /// Data bytes skipped by re-probing (rejected candidates).
    skipped: u64,
    /// Client data was seen while probing.
    saw_data: bool,
    /// The client's first bytes were lost (a gap before any client data).
    lost_start: bool,
    /// Re-probing went past [`MIDSTREAM_PROBE_LIMIT_BYTES`].
    gave_up: bool,
    /// The probing buffer reached [`PROBE_LIMIT_BYTES`].
    probe_limit_hit: bool,
    /// Memory its parser holds for unfinished messages and kept records, as last measured
    /// ([`StreamSink::held`]).
    held: usize,
    /// Its parser gave up what it held ([`StreamSink::shed`]): the next
    /// [`SinkFactory::after_segment`] takes every final record, however few.
    flush: bool,
    keys: Keys,
    /// TLS: the client's last bytes were one record small enough to be only an alert (a
    /// close_notify: 19 bytes encrypted in TLS 1.3, 26 in TLS 1.2 AES-GCM), not a request.
    client_tls_close: bool,
    /// The connection's id and endpoints as opened (before `flip`).
    conn_id: u64,
    client: Endpoint,
    server: Endpoint,
    /// HTTP requests taken before the end ([`AppFactory::after_segment`]).
    taken: Taken,
    /// Header capture of the HTTP parsers ([`AppConfig::headers`]).
    headers: Option<HeaderLimits>,
}

/// Whether `b` is exactly one TLS alert record, or one encrypted record no longer than an
/// encrypted alert can be (TLS 1.3 hides alerts as application data).
fn is_tls_close(b: &[u8]) -> bool {
    match b {
        [ty @ (21 | 23), 3, _, hi, lo, rest @ ..] => {
            let len = usize::from(u16::from_be_bytes([*hi, *lo]));
            rest.len() == len && (*ty == 21 || len <= 32)
        }
        _ => false,
    }
}

impl AppSink {
    fn new(meta: &ConnMeta, keys: Keys, headers: Option<HeaderLimits>) -> AppSink {
        let state = if meta.server.port == DNS_PORT || meta.client.port == DNS_PORT {
            State::Dns(Box::default(), meta.client, meta.server)
        } else {
            State::Probing {
                events: Vec::new(),
                buffered: 0,
            }
        };
        AppSink {
            state,
            guessed: meta.client_guessed,
            flip: false,
            roles_from_payload: false,
            skipped: 0,
            saw_data: false,
            lost_start: false,
            gave_up: false,
            probe_limit_hit: false,
            held: 0,
            flush: false,
            keys,
            client_tls_close: false,
            conn_id: meta.conn_id,
            client: meta.client,
            server: meta.server,
            taken: Taken::default(),
            headers,
        }
    }

    /// (client, server) as the connection record will have them (swapped at close when the
    /// parser found the guess wrong).
    fn endpoints(&self) -> (Endpoint, Endpoint) {
        if self.roles_from_payload && self.flip {
            (self.server, self.client)
        } else {
            (self.client, self.server)
        }
    }

    fn parser(&mut self) -> Option<&mut dyn StreamSink> {
        match &mut self.state {
            State::Tls(p) => Some(p.as_mut()),
            State::Http(p) => Some(p.as_mut()),
            State::Http2(p) => Some(p.as_mut()),
            State::Dns(p, _, _) => Some(p.as_mut()),
            _ => None,
        }
    }

    /// Probe the current candidate start; accept, wait for more bytes, or (mid-stream only)
    /// reject it and try the next one.
    fn decide(&mut self) {
        loop {
            let guessed = self.guessed;
            let State::Probing { events, buffered } = &mut self.state else {
                return;
            };
            let cand = events.iter().position(|e| match e {
                Event::Data(_, d, _) => guessed || *d == Direction::ClientToServer,
                _ => false,
            });
            let Some(c) = cand else {
                return;
            };
            let Some(Event::Data(_, dir, _)) = events.get(c) else {
                return;
            };
            let dir = *dir;
            let head = probe_head(events.get(c..).unwrap_or(&[]), dir);
            let tls = TlsParser::probe(&head);
            let http = HttpParser::probe(&head);
            let h2 = Http2Parser::probe(&head);
            let next = if tls == Probe::Yes {
                let server_port = if guessed && dir == Direction::ServerToClient {
                    self.client.port
                } else {
                    self.server.port
                };
                Some(State::Tls(Box::new(TlsConn::new(
                    std::mem::take(&mut self.keys),
                    self.headers,
                    server_port,
                ))))
            } else if http == Probe::Yes {
                Some(State::Http(Box::new(if guessed {
                    HttpParser::midstream(HttpConfig::default().with_headers(self.headers))
                } else {
                    HttpParser::new(HttpConfig::default().with_headers(self.headers))
                })))
            } else if h2 == Probe::Yes {
                Some(State::Http2(Box::new(Http2Parser::new(
                    Http2Config::default().with_headers(self.headers),
                ))))
            } else {
                None
            };
            if let Some(next) = next {
                let mut events = std::mem::take(events);
                if guessed {
                    // Only close events precede the candidate: the bytes before it are not
                    // parsed.
                    let tail = events.split_off(c);
                    events.retain(|e| matches!(e, Event::Close(..)));
                    events.extend(tail);
                    self.roles_from_payload = true;
                    self.flip = dir == Direction::ServerToClient;
                }
                self.state = next;
                self.replay(events);
                return;
            }
            let all_no = tls == Probe::No && http == Probe::No && h2 == Probe::No;
            if !all_no && *buffered <= PROBE_LIMIT_BYTES {
                return;
            }
            if !all_no {
                self.probe_limit_hit = true;
            }
            if !guessed {
                self.state = State::Other { after_gap: false };
                return;
            }
            // Reject this candidate: drop its segment and the gaps up to the next segment.
            let mut k = c;
            let mut dropped = 0usize;
            let mut freed = PROBE_EVENT_COST;
            if let Some(Event::Data(_, _, b)) = events.get(c) {
                dropped = b.len();
                freed += b.len();
            }
            events.remove(c);
            while let Some(e) = events.get(k) {
                match e {
                    Event::Gap(..) => {
                        events.remove(k);
                        freed += PROBE_EVENT_COST;
                    }
                    Event::Close(..) => k += 1,
                    Event::Data(..) => break,
                }
            }
            *buffered = buffered.saturating_sub(freed);
            self.skipped = self.skipped.saturating_add(dropped as u64);
            if self.skipped > MIDSTREAM_PROBE_LIMIT_BYTES {
                self.gave_up = true;
                self.state = State::Other { after_gap: false };
                return;
            }
        }
    }

    /// Feeds the buffered events to the parser just chosen.
    fn replay(&mut self, events: Vec<Event>) {
        let flip = self.flip;
        let turn = |d: Direction| if flip { d.reverse() } else { d };
        if let Some(p) = self.parser() {
            for e in events {
                match e {
                    Event::Data(ts, d, b) => p.on_data(ts, turn(d), &b),
                    Event::Gap(ts, d, n) => p.on_gap(ts, turn(d), n),
                    Event::Close(ts, d) => p.on_close(ts, turn(d)),
                }
            }
        }
    }

    /// While probing, past [`PROBE_LIMIT_BYTES`]: give up the candidate start (mid-stream: try
    /// the next one; otherwise leave the connection unparsed).
    fn check_probe_limit(&mut self) {
        let State::Probing { buffered, .. } = &self.state else {
            return;
        };
        if *buffered <= PROBE_LIMIT_BYTES {
            return;
        }
        if self.guessed {
            // `decide` rejects candidates while over the limit (the limit hit is noted there).
            self.decide();
            if let State::Probing { events, buffered } = &mut self.state {
                if *buffered > PROBE_LIMIT_BYTES {
                    // No candidate left: only gaps and closes, which a start would drop.
                    self.probe_limit_hit = true;
                    events.retain(|e| matches!(e, Event::Close(..)));
                    *buffered = events.len() * PROBE_EVENT_COST;
                }
            }
        } else {
            self.probe_limit_hit = true;
            self.state = State::Other { after_gap: false };
        }
    }

    fn dir(&self, d: Direction) -> Direction {
        if self.flip {
            d.reverse()
        } else {
            d
        }
    }
}

impl AppSink {
    /// What [`StreamSink::held`] reports, measured (the parser's buffers' room and records).
    fn measure_held(&self) -> usize {
        match &self.state {
            State::Probing { buffered, .. } => *buffered,
            State::Tls(p) => p.held(),
            State::Http(p) => p.held(),
            State::Http2(p) => p.held(),
            State::Dns(p, _, _) => p.held(),
            State::Other { .. } => 0,
        }
    }

    fn shed_inner(&mut self) {
        if let State::Probing { buffered, .. } = &self.state {
            // As at the probing limit: the connection is left unparsed.
            if *buffered > 0 {
                self.probe_limit_hit = true;
                self.state = State::Other { after_gap: false };
            }
            return;
        }
        if let Some(p) = self.parser() {
            p.shed();
        }
    }

    fn on_data_inner(&mut self, ts_ns: i64, dir: Direction, bytes: &[u8]) {
        if let State::Probing { events, buffered } = &mut self.state {
            if bytes.is_empty() {
                return;
            }
            events.push(Event::Data(ts_ns, dir, bytes.to_vec()));
            *buffered += PROBE_EVENT_COST + bytes.len();
            self.saw_data |= dir == Direction::ClientToServer;
            if dir == Direction::ClientToServer || self.guessed {
                self.decide();
            }
            self.check_probe_limit();
            return;
        }
        let dir = self.dir(dir);
        if dir == Direction::ClientToServer && matches!(self.state, State::Tls(_)) {
            self.client_tls_close = is_tls_close(bytes);
        }
        if let Some(p) = self.parser() {
            p.on_data(ts_ns, dir, bytes);
        }
    }

    fn on_gap_inner(&mut self, ts_ns: i64, dir: Direction, len: u64) {
        if let State::Probing { events, buffered } = &mut self.state {
            let client_data = events
                .iter()
                .any(|e| matches!(e, Event::Data(_, Direction::ClientToServer, _)));
            if dir == Direction::ClientToServer && !client_data {
                // The client's first bytes were lost: the protocol cannot be told (except
                // mid-stream, where a later segment may still start a request).
                self.lost_start = true;
                if !self.guessed {
                    self.state = State::Other { after_gap: true };
                    return;
                }
            }
            if self.guessed && !events.iter().any(|e| matches!(e, Event::Data(..))) {
                // Mid-stream, before any candidate start: the gap would be dropped with the
                // events before the start a parser accepts.
                return;
            }
            events.push(Event::Gap(ts_ns, dir, len));
            *buffered += PROBE_EVENT_COST;
            self.check_probe_limit();
            return;
        }
        let dir = self.dir(dir);
        if let Some(p) = self.parser() {
            p.on_gap(ts_ns, dir, len);
        }
    }

    fn on_close_inner(&mut self, ts_ns: i64, dir: Direction) {
        if let State::Probing { events, buffered } = &mut self.state {
            events.push(Event::Close(ts_ns, dir));
            *buffered += PROBE_EVENT_COST;
            self.check_probe_limit();
            return;
        }
        let dir = self.dir(dir);
        if let Some(p) = self.parser() {
            p.on_close(ts_ns, dir);
        }
    }
}

/// The parser's buffers change only when the sink is fed: what they hold is measured then and
/// kept (`held`), so that the tracker's count after every segment (ACKs included) does not
/// reach into the parser's memory.
impl StreamSink for AppSink {
    fn held(&self) -> usize {
        self.held
    }

    fn shed(&mut self) {
        self.shed_inner();
        self.flush = true;
        self.held = self.measure_held();
    }

    fn on_data(&mut self, ts_ns: i64, dir: Direction, bytes: &[u8]) {
        self.on_data_inner(ts_ns, dir, bytes);
        self.held = self.measure_held();
    }

    fn on_gap(&mut self, ts_ns: i64, dir: Direction, len: u64) {
        self.on_gap_inner(ts_ns, dir, len);
        self.held = self.measure_held();
    }

    fn on_close(&mut self, ts_ns: i64, dir: Direction) {
        self.on_close_inner(ts_ns, dir);
        self.held = self.measure_held();
    }
}

impl AppFactory {
    /// The WebSocket row of a closed connection (`secure`: over decrypted TLS): the
    /// connection's own after an HTTP/1.1 `101`.
    fn push_websocket(&mut self, ws: WebSocketParser, conn: &ConnectionRecord, secure: bool) {
        self.push_ws_row(ws, conn, secure, None, conn.end_ts);
    }

    /// The WebSocket rows of an HTTP/2 connection's extended CONNECT streams (RFC 8441), each
    /// ended with its stream (or the connection).
    fn push_h2_websockets(
        &mut self,
        ws: Vec<StreamWebSocket>,
        conn: &ConnectionRecord,
        secure: bool,
    ) {
        for w in ws {
            let end = w.end_ts.unwrap_or(conn.end_ts);
            self.push_ws_row(w.parser, conn, secure, u32::try_from(w.stream_id).ok(), end);
        }
    }

    fn push_ws_row(
        &mut self,
        ws: WebSocketParser,
        conn: &ConnectionRecord,
        secure: bool,
        stream_id: Option<u32>,
        end_ts: i64,
    ) {
        let (session, stats) = ws.finish(end_ts);
        self.stats.websocket.merge(&stats);
        self.websocket.push(WebSocketRecord {
            conn_id: conn.conn_id,
            client: conn.client(),
            server: conn.server(),
            secure,
            stream_id,
            end_ts,
            session,
        });
    }
}

impl SinkFactory for AppFactory {
    type Sink = AppSink;

    fn open(&mut self, conn: &ConnMeta) -> AppSink {
        AppSink::new(
            conn,
            Keys::new(self.config.keylog.clone(), self.config.embedded.clone()),
            self.config.headers,
        )
    }

    fn after_segment(&mut self, sink: &mut AppSink) -> bool {
        // DNS over TCP: the messages leave as they are completed, to be matched while the
        // capture is read.
        if let State::Dns(p, client, server) = &mut sink.state {
            let messages = p.take_messages();
            if messages.is_empty() {
                return false;
            }
            let (client, server, conn_id) = (*client, *server, sink.conn_id);
            self.dns_tcp
                .extend(messages.into_iter().map(|m| DnsTcpItem {
                    ts_ns: m.ts_ns,
                    frame: conn_id,
                    client,
                    server,
                    dir: m.dir,
                    bytes: m.bytes,
                }));
            return true;
        }
        // HTTP/1 (and HTTP/2 after its `Upgrade: h2c`) or HTTP/2, in clear or decrypted. After
        // a shed every final record leaves at once.
        let min = if std::mem::take(&mut sink.flush) {
            1
        } else {
            TAKE_FINISHED_AT
        };
        let (mut taken, tls) = match &mut sink.state {
            State::Http(p) => (p.take_finished(min), None),
            State::Http2(p) => (p.take_finished(min), None),
            State::Tls(t) => match &mut t.inner {
                Inner::Http(p) => (p.take_finished(min), Some(t.tls.record())),
                Inner::Http2(p) => (p.take_finished(min), Some(t.tls.record())),
                _ if t.tls.inferring() => {
                    let rows = t.tls.take_inferred(min);
                    (rows, Some(t.tls.record()))
                }
                _ => return false,
            },
            _ => return false,
        };
        if taken.is_empty() {
            return false;
        }
        let (sni, tls_resumed) = tls.map_or((None, None), |h| (h.sni.clone(), h.resumed));
        // The parser's records count in what it holds: measured again without them.
        sink.held = sink.measure_held();
        let t = &mut sink.taken;
        // Inferred rows say nothing exact about a reset connection's failure (push_http).
        for x in taken.iter().filter(|x| !x.inferred) {
            t.any = true;
            t.incomplete |= !x.complete;
            t.unanswered |= x.response_start_ts.is_none();
        }
        if let Some(i) = taken.iter().position(|x| x.request_index == 0) {
            t.first = Some(taken.remove(i));
        }
        if taken.is_empty() {
            return false;
        }
        let (client, server) = sink.endpoints();
        let conn_id = sink.conn_id;
        self.open.push(OpenRows {
            sni,
            tls_resumed,
            http: taken
                .into_iter()
                .map(|exchange| HttpRecord {
                    conn_id,
                    client,
                    server,
                    exchange,
                })
                .collect(),
        });
        true
    }

    fn close(&mut self, mut sink: AppSink, record: &mut ConnectionRecord) {
        let id = record.conn_id;
        let taken = std::mem::take(&mut sink.taken);
        if sink.client_tls_close && record.failure == Some(Failure::ResetUnanswered) {
            // The client's last bytes after the server's were its close_notify, not a request
            // (nginx answers it with RST when it closed first without FIN).
            record.failure = None;
        }
        if sink.roles_from_payload {
            // The parser saw who sent the request: the connection row follows it.
            self.stats.roles_from_payload += 1;
            record.roles_from = RolesFrom::Payload;
            if sink.flip {
                self.stats.roles_swapped += 1;
                record.swap_roles();
            }
        }
        if sink.probe_limit_hit {
            self.stats.probe_limit_hits += 1;
        }
        if sink.skipped > 0 {
            self.stats.midstream_probe_skipped_bytes += sink.skipped;
            if sink.gave_up {
                self.stats.midstream_probe_gave_up += 1;
            } else if sink.roles_from_payload {
                self.stats.midstream_reprobed += 1;
            }
        }
        match sink.state {
            State::Tls(p) => {
                self.stats.tls += 1;
                let TlsConn { mut tls, inner, .. } = *p;
                self.stats.tls_decrypt.merge(tls.decrypt_stats());
                let (inferred, infer_stats) = tls.take_all_inferred();
                self.stats.inferred.merge(&infer_stats);
                match inner {
                    Inner::Http(mut http) => {
                        self.stats.https += 1;
                        self.stats.http_stats.merge(http.stats());
                        if let Some(ws) = http.take_websocket() {
                            self.push_websocket(ws, record, true);
                        }
                        let h2ws = http.take_h2_websockets();
                        self.push_h2_websockets(h2ws, record, true);
                        push_http(&mut self.http, record, http.into_records(), taken);
                    }
                    Inner::Http2(mut http) => {
                        self.stats.https2 += 1;
                        self.stats.http2_stats.merge(http.stats());
                        let h2ws = http.take_websockets();
                        self.push_h2_websockets(h2ws, record, true);
                        push_http(&mut self.http, record, http.into_records(), taken);
                    }
                    Inner::NotParsed => self.stats.tls_other_alpn += 1,
                    // Not decrypted: the rows inferred from the records, if any.
                    Inner::Undecided => push_http(&mut self.http, record, inferred, taken),
                }
                self.tls.push(TlsRecord {
                    conn_id: id,
                    transport: crate::record::TlsTransport::Tcp,
                    handshake: tls.into_record(),
                });
            }
            State::Http(mut p) => {
                self.stats.http += 1;
                if let Some(ws) = p.take_websocket() {
                    self.push_websocket(ws, record, false);
                }
                let h2ws = p.take_h2_websockets();
                self.push_h2_websockets(h2ws, record, false);
                if let Some(s) = p.http2_stats() {
                    self.stats.h2c_upgrades += 1;
                    self.stats.http2_stats.merge(s);
                }
                self.stats.http_stats.merge(p.stats());
                push_http(&mut self.http, record, p.into_records(), taken);
            }
            State::Http2(mut p) => {
                self.stats.http2 += 1;
                self.stats.http2_stats.merge(p.stats());
                let h2ws = p.take_websockets();
                self.push_h2_websockets(h2ws, record, false);
                push_http(&mut self.http, record, p.into_records(), taken);
            }
            State::Dns(mut p, client, server) => {
                self.stats.dns_tcp += 1;
                self.stats.dns_tcp_dropped_bytes += p.dropped_bytes();
                self.dns_tcp
                    .extend(p.take_messages().into_iter().map(|m| DnsTcpItem {
                        ts_ns: m.ts_ns,
                        frame: id,
                        client,
                        server,
                        dir: m.dir,
                        bytes: m.bytes,
                    }));
            }
            State::Probing { .. } => {
                if sink.lost_start {
                    self.stats.unknown_after_gap += 1;
                } else if sink.saw_data {
                    self.stats.unrecognised += 1;
                }
            }
            State::Other { after_gap: true } => self.stats.unknown_after_gap += 1,
            State::Other { after_gap: false } => self.stats.unrecognised += 1,
        }
    }
}

/// DNS flows learned on ports other than 53, at most (beyond, queries on other ports are not
/// followed).
pub const MAX_OTHER_PORT_FLOWS: usize = 65_536;

/// Most [`DnsInput`]s waiting in a [`DnsQueue`]: three ticks of frames (one input per frame
/// at most). The collecting thread takes the inputs of the frames below each tick
/// (`pipeline::HEARTBEAT_FRAMES`) and the reading thread is at most one tick ahead of the last
/// tick it sent, so past the bound it waits only for the collecting thread to catch up.
pub const DNS_QUEUE_INPUTS: usize = 3 * crate::pipeline::HEARTBEAT_FRAMES as usize;

/// Inputs kept by [`UdpDns`] before they are handed on in one go.
const DNS_BATCH: usize = 256;

/// The DNS inputs on their way from the reading thread to the collecting thread, in frame
/// order, bounded by [`DNS_QUEUE_INPUTS`]. Inputs go in and out in bulk, each side taking the
/// lock once per batch.
#[derive(Debug, Default)]
pub struct DnsQueue {
    items: std::sync::Mutex<std::collections::VecDeque<DnsInput>>,
    room: std::sync::Condvar,
}

impl DnsQueue {
    /// Appends `batch` (emptied), waiting while the queue is full.
    fn put(&self, batch: &mut Vec<DnsInput>) {
        let Ok(mut items) = self.items.lock() else {
            return;
        };
        while items.len() >= DNS_QUEUE_INPUTS {
            match self.room.wait(items) {
                Ok(i) => items = i,
                Err(_) => return,
            }
        }
        items.extend(batch.drain(..));
    }

    /// Moves the inputs of the frames below `frame` to `out`, in order.
    pub fn take_below(&self, frame: u64, out: &mut Vec<DnsInput>) {
        let Ok(mut items) = self.items.lock() else {
            return;
        };
        let full = items.len() >= DNS_QUEUE_INPUTS;
        while items.front().is_some_and(|i| i.frame() < frame) {
            out.extend(items.pop_front());
        }
        if full && items.len() < DNS_QUEUE_INPUTS {
            self.room.notify_all();
        }
    }
}

/// What [`UdpDns`] hands on from the reading thread to the DNS matcher, in frame order.
#[derive(Debug, Clone)]
pub enum DnsInput {
    /// A UDP datagram's payload from `src` to `dst`.
    Udp {
        /// Capture time.
        ts_ns: i64,
        /// Frame index.
        frame: u64,
        /// Sender.
        src: Endpoint,
        /// Receiver.
        dst: Endpoint,
        /// The DNS message.
        payload: Vec<u8>,
    },
    /// A QUIC datagram from `src` to `dst` (`proto::quic`): whole when it starts with a long
    /// header, else its first [`QUIC_SHORT_KEPT`] bytes (the header's connection ID).
    Quic {
        /// Capture time.
        ts_ns: i64,
        /// Frame index.
        frame: u64,
        /// Sender.
        src: Endpoint,
        /// Receiver.
        dst: Endpoint,
        /// The datagram's payload (see above).
        payload: Vec<u8>,
        /// Its length on the wire.
        wire_len: u32,
    },
    /// The secrets of a pcapng Decryption Secrets Block, for the QUIC tracker's key lookups
    /// (TCP's TLS parsers get them through the pipeline's `EmbeddedKeys`).
    Secrets {
        /// The frame after the last datagram read before the DSB (its place in frame order).
        frame: u64,
        /// The DSB's secrets.
        keys: Arc<crate::proto::tls::KeyLog>,
    },
    /// An ICMP destination unreachable quoting a QUIC datagram from `src` to `dst`.
    QuicUnreachable {
        /// Capture time.
        ts_ns: i64,
        /// Frame index.
        frame: u64,
        /// The quoted sender.
        src: Endpoint,
        /// The quoted receiver.
        dst: Endpoint,
    },
    /// An ICMP port unreachable quoting a UDP datagram from `src` to `dst`.
    Unreachable {
        /// Capture time.
        ts_ns: i64,
        /// Frame index.
        frame: u64,
        /// The quoted sender.
        src: Endpoint,
        /// The quoted receiver.
        dst: Endpoint,
    },
}

impl DnsInput {
    /// The frame it came in.
    pub fn frame(&self) -> u64 {
        match self {
            DnsInput::Udp { frame, .. }
            | DnsInput::Unreachable { frame, .. }
            | DnsInput::Quic { frame, .. }
            | DnsInput::QuicUnreachable { frame, .. }
            | DnsInput::Secrets { frame, .. } => *frame,
        }
    }

    /// Feeds it to `tracker` (DNS) or `quic`.
    pub fn feed(self, tracker: &mut DnsTracker, quic: &mut QuicTracker) {
        match self {
            DnsInput::Quic {
                ts_ns,
                frame,
                src,
                dst,
                payload,
                wire_len,
            } => quic.on_datagram(ts_ns, frame, src, dst, &payload, wire_len),
            DnsInput::QuicUnreachable {
                ts_ns, src, dst, ..
            } => quic.on_icmp_unreachable(ts_ns, src, dst),
            DnsInput::Secrets { keys, .. } => quic.add_secrets(&keys),
            DnsInput::Udp {
                ts_ns,
                frame,
                src,
                dst,
                payload,
            } => tracker.on_udp(ts_ns, frame, src, dst, &payload),
            DnsInput::Unreachable {
                ts_ns,
                frame,
                src,
                dst,
            } => tracker.on_icmp_unreachable(ts_ns, frame, src, dst),
        }
    }
}

/// DNS over UDP (and the ICMP errors answering it), picked out on the reading thread and sent
/// on, in frame order, to the thread that matches it ([`DnsInput`]).
///
/// Datagrams to or from port 53 are DNS. On other ports a datagram is taken as a DNS query only
/// when its header is a standard query with exactly one question and no answer or authority
/// records, and the whole message decodes; the replies (and ICMP errors) of such a flow then
/// count too. That finds resolvers on odd ports (the lab's dead servers on 5353 and 5354)
/// without mistaking other UDP traffic for DNS.
#[derive(Debug)]
pub struct UdpDns {
    out: Arc<DnsQueue>,
    /// Inputs not handed on yet (at most [`DNS_BATCH`]).
    batch: Vec<DnsInput>,
    /// (client, server) flows on other ports that carried a strict query.
    other_flows: std::collections::HashSet<(Endpoint, Endpoint)>,
    /// (sender, receiver) of the datagram that opened each QUIC flow, at most
    /// [`MAX_QUIC_FLOWS`]; `quic_order` holds them oldest first (the oldest is forgotten).
    quic_flows: std::collections::HashSet<(Endpoint, Endpoint)>,
    quic_order: std::collections::VecDeque<(Endpoint, Endpoint)>,
    /// The servers of those flows (the receiver of a client's Initial, the sender of a
    /// Version Negotiation or Retry), at most [`MAX_QUIC_FLOWS`]: a short-header datagram to
    /// or from one on a new 4-tuple may be a connection that moved (the tracker decides by
    /// its connection ID).
    quic_servers: std::collections::HashSet<Endpoint>,
    /// Short-header QUIC datagrams are sent on whole (a key log may open them), not cut to
    /// [`QUIC_SHORT_KEPT`] bytes; also from the first Decryption Secrets Block on.
    quic_whole: bool,
    /// The frame after the last datagram read (where a DSB's secrets go in frame order).
    next_frame: u64,
}

/// QUIC flows the reading thread follows at once (four times the tracker's connection bound,
/// `proto::quic::MAX_QUIC_CONNECTIONS`); past it the oldest is forgotten (its later
/// short-header datagrams are no longer sent on).
pub const MAX_QUIC_FLOWS: usize = 4 * crate::proto::quic::MAX_QUIC_CONNECTIONS;
/// Bytes of a short-header QUIC datagram sent on: the first byte and a connection ID of up to
/// 20 bytes (the rest is encrypted).
pub const QUIC_SHORT_KEPT: usize = 21;

/// A long header with the fixed bit and a version we can read, or a Version Negotiation
/// packet (version 0, with its two connection ID lengths within the datagram).
pub(crate) fn looks_like_quic(p: &[u8]) -> bool {
    use crate::proto::quic::packet;
    let Some(&first) = p.first() else {
        return false;
    };
    match packet::long_version(p) {
        Some(0) => first & 0x80 != 0 && packet::split_long(p).is_ok() && p.len() >= 11,
        Some(v) => {
            first & 0xc0 == 0xc0 && packet::known_version(v) && packet::split_long(p).is_ok()
        }
        None => false,
    }
}

/// A standard query with one question and nothing else but at most an OPT record.
fn looks_like_query(p: &[u8]) -> bool {
    let Some(h) = p.get(..12) else {
        return false;
    };
    let be = |i: usize| u16::from_be_bytes([h[i], h[i + 1]]);
    let flags_ok = h[2] & 0xf8 == 0; // QR = 0, opcode = 0, AA = 0
    let counts_ok = be(4) == 1 && be(6) == 0 && be(8) == 0 && be(10) <= 1;
    flags_ok
        && counts_ok
        && crate::proto::dns::DnsMessage::parse(p)
            .is_ok_and(|m| m.records_decoded && m.qname.is_some())
}

impl UdpDns {
    /// A consumer that hands what it picks out to `out`.
    pub fn new(out: Arc<DnsQueue>) -> Self {
        UdpDns {
            out,
            batch: Vec::new(),
            other_flows: std::collections::HashSet::new(),
            quic_flows: std::collections::HashSet::new(),
            quic_servers: std::collections::HashSet::new(),
            quic_order: std::collections::VecDeque::new(),
            quic_whole: false,
            next_frame: 0,
        }
    }

    /// Sends short-header QUIC datagrams on whole (when a key log is given: their 1-RTT
    /// packets may be decrypted).
    pub fn with_whole_quic(mut self, whole: bool) -> Self {
        self.quic_whole = whole;
        self
    }

    fn is_quic_flow(&self, src: Endpoint, dst: Endpoint) -> bool {
        !self.quic_flows.is_empty()
            && (self.quic_flows.contains(&(src, dst)) || self.quic_flows.contains(&(dst, src)))
    }

    /// Sends `d` on to the QUIC tracker when its flow is QUIC or it opens one.
    fn quic(&mut self, d: &UdpDatagram, src: Endpoint, dst: Endpoint) {
        if !self.is_quic_flow(src, dst) {
            let short = d.payload.first().is_some_and(|&b| b & 0xc0 == 0x40);
            let to_known_server =
                || self.quic_servers.contains(&dst) || self.quic_servers.contains(&src);
            if short && to_known_server() {
                // Maybe a connection on a new path (RFC 9000 §9): the tracker looks its
                // connection ID up (a datagram it cannot place is an orphan there).
            } else if !looks_like_quic(d.payload) {
                return;
            } else {
                self.remember_server(d.payload, src, dst);
            }
            if self.quic_flows.len() >= MAX_QUIC_FLOWS {
                if let Some(old) = self.quic_order.pop_front() {
                    self.quic_flows.remove(&old);
                }
            }
            self.quic_flows.insert((src, dst));
            self.quic_order.push_back((src, dst));
        }
        let long = d.payload.first().is_some_and(|&b| b & 0x80 != 0);
        let kept = if long || self.quic_whole {
            d.payload
        } else {
            d.payload.get(..QUIC_SHORT_KEPT).unwrap_or(d.payload)
        };
        self.send(DnsInput::Quic {
            ts_ns: d.ts_ns,
            frame: d.frame,
            src,
            dst,
            payload: kept.to_vec(),
            wire_len: d.payload_len,
        });
    }

    /// The server of a flow opened by `payload` (a client's Initial: the receiver; a Version
    /// Negotiation or Retry: the sender).
    fn remember_server(&mut self, payload: &[u8], src: Endpoint, dst: Endpoint) {
        use crate::proto::quic::packet;
        if self.quic_servers.len() >= MAX_QUIC_FLOWS {
            return;
        }
        let server = match packet::split_long(payload) {
            Ok((p, _)) if p.version == 0 || p.ty == packet::LongType::Retry => src,
            _ => dst,
        };
        self.quic_servers.insert(server);
    }

    fn send(&mut self, input: DnsInput) {
        self.batch.push(input);
        if self.batch.len() >= DNS_BATCH {
            self.out.put(&mut self.batch);
        }
    }
}

impl UdpConsumer for UdpDns {
    fn on_secrets(&mut self, secrets: &Arc<crate::proto::tls::KeyLog>) {
        // Keys in the capture: short-header datagrams may now be decrypted, and go on whole.
        self.quic_whole = true;
        self.send(DnsInput::Secrets {
            frame: self.next_frame,
            keys: secrets.clone(),
        });
    }

    fn on_udp(&mut self, d: &UdpDatagram) {
        self.next_frame = d.frame + 1;
        let src = endpoint(d.ip.src, d.src_port);
        let dst = endpoint(d.ip.dst, d.dst_port);
        let dns = d.src_port == DNS_PORT
            || d.dst_port == DNS_PORT
            || self.other_flows.contains(&(src, dst))
            || self.other_flows.contains(&(dst, src))
            || (self.other_flows.len() < MAX_OTHER_PORT_FLOWS
                && looks_like_query(d.payload)
                && self.other_flows.insert((src, dst)));
        if dns {
            self.send(DnsInput::Udp {
                ts_ns: d.ts_ns,
                frame: d.frame,
                src,
                dst,
                payload: d.payload.to_vec(),
            });
        } else {
            self.quic(d, src, dst);
        }
    }

    fn on_tcp_segment(&mut self, _seg: &crate::packet::TcpSegment) {
        self.flush();
    }

    fn flush(&mut self) {
        if !self.batch.is_empty() {
            self.out.put(&mut self.batch);
        }
    }

    fn on_icmp_error(&mut self, e: &IcmpError) {
        if !e.is_destination_unreachable() || e.quoted_protocol != Some(17) {
            return;
        }
        if let (Some(ip), Some(sport), Some(dport)) =
            (e.quoted_ip, e.quoted_src_port, e.quoted_dst_port)
        {
            let (src, dst) = (endpoint(ip.src, sport), endpoint(ip.dst, dport));
            if self.is_quic_flow(src, dst) {
                self.send(DnsInput::QuicUnreachable {
                    ts_ns: e.ts_ns,
                    frame: e.frame,
                    src,
                    dst,
                });
                return;
            }
            if dport == DNS_PORT || self.other_flows.contains(&(src, dst)) {
                self.send(DnsInput::Unreachable {
                    ts_ns: e.ts_ns,
                    frame: e.frame,
                    src,
                    dst,
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{IpAddr, Ipv4Addr};

    const C2S: Direction = Direction::ClientToServer;
    const S2C: Direction = Direction::ServerToClient;

    fn sink(guessed: bool) -> AppSink {
        let ep = |port| Endpoint {
            ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
            port,
        };
        let meta = ConnMeta {
            conn_id: 1,
            client: ep(40_000),
            server: ep(8080),
            client_guessed: guessed,
            start_ts: 0,
        };
        AppSink::new(&meta, Keys::default(), None)
    }

    /// Memory cost of the probing buffer (0 once a decision was made).
    fn cost(s: &AppSink) -> usize {
        match &s.state {
            State::Probing { buffered, events } => {
                let real: usize = events
                    .iter()
                    .map(|e| match e {
                        Event::Data(_, _, b) => PROBE_EVENT_COST + b.len(),
                        _ => PROBE_EVENT_COST,
                    })
                    .sum();
                assert_eq!(*buffered, real, "accounting matches the events held");
                real
            }
            _ => 0,
        }
    }

    #[test]
    fn headers_only_server_segments_before_the_request_are_bounded() {
        // Snap-cut server segments (gaps) before the client's first bytes.
        let mut s = sink(false);
        for i in 0..100_000 {
            s.on_gap(i, S2C, 1_400);
            assert!(cost(&s) <= PROBE_LIMIT_BYTES);
        }
        assert!(s.probe_limit_hit);
        assert!(matches!(s.state, State::Other { after_gap: false }));
    }

    #[test]
    fn one_byte_server_segments_count_their_bookkeeping() {
        let mut s = sink(false);
        for i in 0..100_000 {
            s.on_data(i, S2C, b"x");
            assert!(cost(&s) <= PROBE_LIMIT_BYTES);
        }
        // Payload alone (100 000 bytes) would have passed the limit too, but much later.
        assert!(s.probe_limit_hit);
    }

    #[test]
    fn midstream_gaps_without_a_candidate_are_not_kept() {
        let mut s = sink(true);
        for i in 0..100_000 {
            s.on_gap(i, S2C, 1_400);
        }
        assert_eq!(cost(&s), 0);
        assert!(!s.probe_limit_hit);
    }

    #[test]
    fn midstream_candidate_waiting_for_bytes_is_given_up_at_the_limit() {
        // "GE" may start an HTTP request: more bytes are awaited while gaps pile up.
        let mut s = sink(true);
        s.on_data(0, C2S, b"GE");
        assert!(matches!(s.state, State::Probing { .. }));
        for i in 1..100_000 {
            s.on_gap(i, S2C, 1_400);
            assert!(cost(&s) <= PROBE_LIMIT_BYTES);
        }
        assert!(s.probe_limit_hit);
        // A real request later is still recognised.
        s.on_data(200_000, C2S, b"GET / HTTP/1.1\r\nHost: a\r\n\r\n");
        assert!(matches!(s.state, State::Http(_)));
    }

    #[test]
    fn limit_hits_are_counted_per_connection_and_merged() {
        let mut a = AppStats {
            probe_limit_hits: 2,
            ..AppStats::default()
        };
        a.merge(&AppStats {
            probe_limit_hits: 3,
            ..AppStats::default()
        });
        assert_eq!(a.probe_limit_hits, 5);
    }
}
