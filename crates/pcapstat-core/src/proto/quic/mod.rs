//! QUIC (RFC 9000, RFC 9001; version 2, RFC 9369) over any UDP port: one [`QuicRecord`] per
//! connection and, when its ClientHello could be read, one [`TlsRecord`] with transport
//! `quic`.
//!
//! The reading thread picks out QUIC datagrams (`app::UdpDns`: a long header with the fixed
//! bit and a known version, or Version Negotiation, opens a flow; the flow's later datagrams
//! follow) and the collecting thread feeds them here in frame order, so the output is the same
//! for any thread count. A connection is keyed by its UDP 4-tuple; a client Initial on that
//! tuple whose Destination Connection ID is none of the connection's IDs starts a new one.
//! Short-header packets count for the connection of their tuple; their Destination
//! Connection ID is checked against the IDs the long headers announced
//! (`QuicStats::short_unknown_dcid` otherwise: a new ID from NEW_CONNECTION_ID, which is
//! encrypted).
//!
//! Initial packets are decrypted with the version's public keys (`packet.rs`); their CRYPTO
//! frames are reassembled by offset (bounded: [`MAX_CRYPTO_BUFFER`] per connection) and the
//! ClientHello and ServerHello go through the TLS parser of TCP (wrapped as TLS handshake
//! records), which gives SNI, ALPN offered, versions, cipher, JA3 and JA4 (with the QUIC
//! prefix `q`). With a key log holding the session's `CLIENT/SERVER_HANDSHAKE_TRAFFIC_SECRET`,
//! the Handshake packets are decrypted too: the server's EncryptedExtensions give the
//! selected ALPN and the client's Finished ends the handshake exactly.
//!
//! Nothing here panics on input: every read is checked, every malformed packet is counted in
//! [`QuicStats`].

mod h3;
#[cfg(test)]
mod h3_tests;
pub mod packet;
pub mod qpack;
mod reasm;
#[cfg(test)]
mod tests;

use std::collections::{HashMap, VecDeque};

use crate::flow::Endpoint;
use crate::proto::headers::HeaderLimits;
use crate::proto::tls::{Keys, TlsParser};
use crate::proto::websocket::WebSocketStats;
use crate::record::{
    HttpRecord, QuicEnd, QuicOutcome, QuicRecord, Side, TlsHandshake, TlsRecord, TlsTransport,
    WebSocketRecord,
};
use crate::stats::counters;
use crate::tcp::{Direction, StreamSink};
use reasm::OffsetReasm;

#[cfg(any(test, feature = "fuzzing"))]
pub(crate) use h3::fuzz as fuzz_h3;
pub use h3::{MAX_H3_BUFFER, MAX_H3_BUFFER_TOTAL, MAX_H3_FIELD_SECTION, MAX_H3_STREAMS};
pub use packet::version_name as quic_version_name;
use packet::{InitialKeys, LongType, Malformed, PacketKey};
pub use qpack::MAX_QPACK_CAPACITY;

/// Most QUIC connections tracked at once; past it the oldest is finished early
/// (`QuicStats::evicted`).
pub const MAX_QUIC_CONNECTIONS: usize = 16_384;
/// Most connection IDs remembered per connection (those of its long headers and of
/// NEW_CONNECTION_ID frames): the IDs a migrated path is matched by.
pub const MAX_QUIC_CIDS: usize = 16;
/// Most new paths (client address and port) followed per connection
/// (`QuicStats::paths_over_limit`).
pub const MAX_QUIC_PATHS: usize = 16;
/// Most CRYPTO bytes held out of order per connection (both directions and both packet number
/// spaces); past it the connection stops reassembling (`QuicStats::crypto_limit_hits`).
pub const MAX_CRYPTO_BUFFER: usize = 32 * 1024;
/// Most CRYPTO bytes read per direction and packet number space (a ClientHello or a server's
/// Handshake flight is far smaller); beyond it the stream is not read.
pub const MAX_CRYPTO_STREAM: u64 = 64 * 1024;
/// Most RTT samples kept per connection and direction for the median (more are counted and
/// taken into the minimum).
pub const MAX_RTT_SAMPLES: usize = 4096;
/// Most ack-eliciting 1-RTT packets remembered per direction for RTT samples (the oldest is
/// forgotten first: an ACK of it gives no sample).
const MAX_SENT_REMEMBERED: usize = 4096;
/// Most versions kept from a Version Negotiation packet.
const MAX_VN_VERSIONS: usize = 16;
/// Most Initial-key derivations per connection (one per version and client DCID: a Retry or
/// a Version Negotiation adds one); a hostile client changing its DCID on every packet costs no
/// more than this.
const MAX_KEY_DERIVATIONS: u32 = 8;

counters! {
    /// Counters of the QUIC tracker.
    #[derive(Debug, Clone, Default, PartialEq, Eq)]
    #[non_exhaustive]
    pub struct QuicStats {
        /// Datagrams fed (taken as QUIC by the reading thread).
        pub datagrams: u64,
        /// Connections seen.
        pub connections: u64,
        /// Long-header packets read.
        pub long_packets: u64,
        /// Short-header (1-RTT) packets counted to a connection.
        pub short_packets: u64,
        /// Datagrams on a tuple with no connection that cannot open one (a short header, a
        /// Handshake or 0-RTT packet, a malformed long header): counted to no connection (the
        /// capture began mid-connection, or its connection was evicted).
        pub orphans: u64,
        /// Short-header packets whose Destination Connection ID is none of the connection's
        /// known IDs (still counted to it).
        pub short_unknown_dcid: u64,
        /// Initial packets decrypted.
        pub initial_decrypted: u64,
        /// Initial packets that failed authentication (not our keys: a middlebox, a changed
        /// DCID we did not see, corruption).
        pub initial_auth_failed: u64,
        /// Handshake packets decrypted with key-log secrets.
        pub handshake_decrypted: u64,
        /// Handshake packets that failed authentication with key-log secrets.
        pub handshake_auth_failed: u64,
        /// 1-RTT packets decrypted with key-log secrets.
        pub one_rtt_decrypted: u64,
        /// 1-RTT packets that failed authentication with key-log secrets (with the current
        /// and the next key phase's keys).
        pub one_rtt_auth_failed: u64,
        /// Client 0-RTT packets decrypted with the key log's `CLIENT_EARLY_TRAFFIC_SECRET`.
        pub zero_rtt_decrypted: u64,
        /// Client 0-RTT packets that failed authentication with it.
        pub zero_rtt_auth_failed: u64,
        /// Version Negotiation packets.
        pub version_negotiation: u64,
        /// Retry packets.
        pub retry: u64,
        /// Packets cut short (header or length past the datagram's end).
        pub malformed_truncated: u64,
        /// Long headers with a connection ID over 20 bytes.
        pub malformed_cid_too_long: u64,
        /// Datagrams of a QUIC flow whose first byte has the fixed bit clear.
        pub malformed_fixed_bit: u64,
        /// Decrypted payloads with a frame that could not be read (the rest of the packet is
        /// skipped).
        pub malformed_frames: u64,
        /// Long-header packets of a version we cannot decrypt (counted, header read).
        pub unknown_version: u64,
        /// CRYPTO streams not read further at `MAX_CRYPTO_BUFFER` / `MAX_CRYPTO_STREAM`.
        pub crypto_limit_hits: u64,
        /// Connections finished early at `MAX_QUIC_CONNECTIONS`.
        pub evicted: u64,
        /// Connections that moved to a new client address or port (a short-header packet to
        /// one of their connection IDs on a new UDP 4-tuple; RFC 9000 §9).
        pub migrations: u64,
        /// New paths not followed: past `MAX_QUIC_PATHS` of one connection.
        pub paths_over_limit: u64,
        /// ICMP destination-unreachable errors quoting a QUIC client's datagram.
        pub icmp_unreachable: u64,
        /// HTTP/3 request streams given as http rows.
        pub h3_requests: u64,
        /// HTTP/3 streams that stopped being read at `MAX_H3_BUFFER` /
        /// `MAX_H3_BUFFER_TOTAL` (bytes held out of order, HEADERS frames, blocked field
        /// sections).
        pub h3_buffer_limit: u64,
        /// Connections whose HTTP/3 parsing stopped at `MAX_H3_STREAMS` open streams.
        pub h3_stream_limit: u64,
        /// WebSockets over HTTP/3 that ended past `proto::websocket::MAX_STREAM_WEBSOCKETS`
        /// kept by their connection: no row.
        pub h3_websockets_dropped: u64,
        /// HEADERS frames over `MAX_H3_FIELD_SECTION`, skipped (their fields not read).
        pub h3_field_section_too_large: u64,
        /// Field sections or QPACK encoder streams that could not be decoded (a bad index,
        /// Huffman code or insert count, a table over `MAX_QPACK_CAPACITY`).
        pub h3_qpack_errors: u64,
        /// Request streams whose field section was still blocked on the QPACK encoder stream
        /// when the connection ended (its fields not read).
        pub h3_qpack_blocked: u64,
        /// Request streams whose first bytes from the client were never seen (only the
        /// server's side): no row.
        pub h3_without_request: u64,
        /// HTTP/3 header fields not kept (header capture on, `--har`: past
        /// `HeaderLimits::max_fields` or `max_message_bytes`).
        pub h3_kept_headers_dropped: u64,
        /// HTTP/3 header fields kept cut (past `HeaderLimits::max_name_bytes` or
        /// `max_value_bytes`).
        pub h3_kept_headers_truncated: u64,
    }
}

/// One CRYPTO stream (one direction, one packet number space): the contiguous prefix is
/// delivered as it grows; later pieces wait, bounded by the connection's budget.
#[derive(Debug, Default)]
struct CryptoStream {
    reasm: OffsetReasm,
    stopped: bool,
}

impl CryptoStream {
    /// Adds `data` at `offset`; returns the bytes that became contiguous. `budget`: bytes the
    /// connection may still hold out of order; `retrans`: bytes already seen. Past
    /// `MAX_CRYPTO_STREAM` or the budget the stream stops (`limit_hit`).
    fn insert(
        &mut self,
        offset: u64,
        data: &[u8],
        budget: &mut usize,
        retrans: &mut u64,
        limit_hit: &mut bool,
    ) -> Vec<u8> {
        if self.stopped || data.is_empty() {
            return Vec::new();
        }
        if offset.saturating_add(data.len() as u64) > MAX_CRYPTO_STREAM {
            self.stop(budget);
            *limit_hit = true;
            return Vec::new();
        }
        match self.reasm.insert(offset, data, budget, retrans) {
            Ok(bytes) => bytes,
            Err(()) => {
                self.stop(budget);
                *limit_hit = true;
                Vec::new()
            }
        }
    }

    fn stop(&mut self, budget: &mut usize) {
        self.stopped = true;
        self.reasm.release(budget);
    }
}

/// Handshake messages of one direction's Handshake-space CRYPTO stream, cut by their 4-byte
/// header (bounded by `MAX_CRYPTO_STREAM`).
#[derive(Debug, Default)]
struct HsMessages {
    buf: Vec<u8>,
}

/// State of one QUIC connection.
#[derive(Debug)]
struct Conn {
    rec: QuicRecord,
    /// Connection IDs seen in long headers (both sides) and, with the key log, issued in
    /// NEW_CONNECTION_ID frames, for matching short headers (at most `MAX_QUIC_CIDS`).
    cids: Vec<Vec<u8>>,
    /// How many of `cids` the tracker's index holds.
    indexed: usize,
    /// The 4-tuples of its new paths, (client, server) (at most `MAX_QUIC_PATHS`).
    paths: Vec<(Endpoint, Endpoint)>,
    /// The Initial keys in use: (version, client DCID, keys).
    initial: Option<(u32, Vec<u8>, InitialKeys)>,
    /// The SCID of the server's Retry: the client's next Initial goes to it, with keys
    /// derived from it.
    retry_scid: Option<Vec<u8>>,
    derivations: u32,
    /// Largest packet number decrypted: [Initial, Handshake][client, server].
    largest: [[Option<u64>; 2]; 2],
    /// CRYPTO streams: [Initial, Handshake][client, server].
    crypto: [[CryptoStream; 2]; 2],
    budget: usize,
    limit_counted: bool,
    tls: TlsParser,
    client_random: Option<[u8; 32]>,
    /// Handshake keys from the key log: looked up once, after the ServerHello.
    hs_keys: Option<[Option<PacketKey>; 2]>,
    hs_looked_up: bool,
    /// Candidate keys of the client's 0-RTT packets (`CLIENT_EARLY_TRAFFIC_SECRET`), the one
    /// that opened a packet first; looked up once.
    early_keys: Vec<PacketKey>,
    early_looked_up: bool,
    hs_msgs: [HsMessages; 2],
    /// 1-RTT keys from the key log, per direction, and the next key phase's (derived when
    /// first needed).
    app_keys: [Option<PacketKey>; 2],
    app_next: [Option<PacketKey>; 2],
    largest_app: [Option<u64>; 2],
    /// Ack-eliciting 1-RTT packets (number, capture time) per direction, oldest first.
    sent: [VecDeque<(u64, i64)>; 2],
    /// Largest Acknowledged so far of the packets of each direction.
    acked: [Option<u64>; 2],
    rtt: [Vec<i64>; 2],
    server_handshake_seen: bool,
    /// The server's Finished: with keys, its packet; without, the server's last Handshake
    /// packet before the client's first.
    server_finished_ts: Option<i64>,
    server_finished_exact: bool,
    unreachable: bool,
    client_finished_exact: bool,
    /// HTTP/3 over the 1-RTT STREAM frames (with the key log's 1-RTT keys).
    h3: Option<Box<h3::H3Conn>>,
    /// Bounds of the HTTP/3 header capture (the tracker's).
    headers: Option<HeaderLimits>,
    /// WebSocket rows of its extended CONNECT streams that ended (RFC 9220), given out with
    /// the connection's own record (so that a filter decides on both at once).
    ws_rows: Vec<WebSocketRecord>,
    /// The server's `max_idle_timeout` (ms), from EncryptedExtensions (with the key log).
    server_idle_timeout_ms: Option<u64>,
    /// Whether EncryptedExtensions (with the key log) accepted early data.
    early_data_accepted: Option<bool>,
}

/// The tracker of every QUIC connection of a capture (one, on the collecting thread).
#[derive(Debug)]
pub struct QuicTracker {
    /// Boxed: a connection's state is about 2.7 KB, and a map of them inline held twice its
    /// connections' worth of empty buckets and moved every connection at each growth (up to
    /// 266 MB at the 16 384-connection bound; docs/performance.md stop 37).
    conns: HashMap<(Endpoint, Endpoint), Box<Conn>>,
    /// The connection of each connection ID remembered (`Conn::cids`), for a short header on
    /// a new path (RFC 9000 §9), and the lengths of those IDs (a short header does not say).
    cid_index: HashMap<Vec<u8>, (Endpoint, Endpoint)>,
    cid_lens: Vec<usize>,
    /// New paths: (client, server) 4-tuple → the connection's key.
    paths: HashMap<(Endpoint, Endpoint), (Endpoint, Endpoint)>,
    /// (conn_id, key) in creation order, for evicting the oldest (entries of replaced
    /// connections are skipped).
    order: VecDeque<(u64, (Endpoint, Endpoint))>,
    keys: Keys,
    max_connections: usize,
    done: Vec<(QuicRecord, Option<TlsRecord>)>,
    /// HTTP/3 requests finished, with their connection's TLS record so far.
    http: Vec<(HttpRecord, Option<TlsRecord>)>,
    /// WebSocket rows (RFC 9220) of the connections in `done`.
    websocket: Vec<WebSocketRecord>,
    /// Counters of those WebSockets' parsers.
    ws_stats: WebSocketStats,
    /// Bytes all connections may still hold for HTTP/3 (`MAX_H3_BUFFER_TOTAL`).
    h3_total: usize,
    stats: QuicStats,
    /// Bounds of the HTTP/3 header capture; `None`: no field kept.
    headers: Option<HeaderLimits>,
}

/// Lower-case hex of a connection ID (the `quic` table's CID columns).
pub fn cid_hex(b: &[u8]) -> String {
    use std::fmt::Write;
    b.iter()
        .fold(String::with_capacity(2 * b.len()), |mut s, x| {
            let _ = write!(s, "{x:02x}");
            s
        })
}

impl QuicTracker {
    /// A tracker that decrypts Handshake packets with `keys` when they hold the session.
    pub fn new(keys: Keys) -> Self {
        Self::with_limit(keys, MAX_QUIC_CONNECTIONS)
    }

    /// [`QuicTracker::new`] with another connection bound (tests).
    pub fn with_limit(keys: Keys, max_connections: usize) -> Self {
        QuicTracker {
            conns: HashMap::new(),
            cid_index: HashMap::new(),
            cid_lens: Vec::new(),
            paths: HashMap::new(),
            order: VecDeque::new(),
            keys,
            max_connections: max_connections.max(1),
            done: Vec::new(),
            http: Vec::new(),
            websocket: Vec::new(),
            ws_stats: WebSocketStats::default(),
            h3_total: MAX_H3_BUFFER_TOTAL,
            stats: QuicStats::default(),
            headers: None,
        }
    }

    /// Keeps the header fields of every HTTP/3 request and its final response within
    /// `limits` (`Analyzer::capture_headers`: the HAR export); `None` (the default) keeps none.
    pub fn with_headers(mut self, limits: Option<HeaderLimits>) -> Self {
        self.headers = limits;
        self
    }

    /// Adds the secrets of a pcapng Decryption Secrets Block (in capture order).
    pub fn add_secrets(&mut self, dsb: &crate::proto::tls::KeyLog) {
        self.keys.add_embedded(dsb);
    }

    /// The counters so far.
    pub fn stats(&self) -> &QuicStats {
        &self.stats
    }

    /// Records of the connections finished since the last call (evicted or replaced), in the
    /// order they finished.
    pub fn take_records(&mut self) -> Vec<(QuicRecord, Option<TlsRecord>)> {
        std::mem::take(&mut self.done)
    }

    /// HTTP/3 requests finished since the last call, each with its connection's TLS record
    /// as it is when the request finished (for the request join: handshake time, SNI,
    /// resumption), in the order they finished.
    pub fn take_http(&mut self) -> Vec<(HttpRecord, Option<TlsRecord>)> {
        std::mem::take(&mut self.http)
    }

    /// WebSocket rows (RFC 9220: extended CONNECT over HTTP/3) of the connections whose
    /// records the last [`take_records`](QuicTracker::take_records) gave; take them with it.
    pub fn take_websockets(&mut self) -> Vec<WebSocketRecord> {
        std::mem::take(&mut self.websocket)
    }

    /// Counters of the WebSocket parsers of HTTP/3 streams so far.
    pub fn websocket_stats(&self) -> &WebSocketStats {
        &self.ws_stats
    }

    /// Finishes every connection at the end of a capture whose last packet was captured at
    /// `capture_end_ts` (it tells an idle timeout from a connection still open); their
    /// records come out sorted by `conn_id`.
    pub fn end(&mut self, capture_end_ts: i64) {
        let mut all: Vec<Box<Conn>> = self.conns.drain().map(|(_, c)| c).collect();
        self.order.clear();
        all.sort_by_key(|c| c.rec.conn_id);
        for c in all {
            self.finish_conn(*c, capture_end_ts);
        }
    }

    /// Finishes `c`, seen by the capture up to `now`: its open HTTP/3 requests, then its
    /// records.
    fn finish_conn(&mut self, mut c: Conn, now: i64) {
        let key = (c.rec.client, c.rec.server);
        for id in &c.cids[..c.indexed] {
            if self.cid_index.get(id) == Some(&key) {
                self.cid_index.remove(id);
            }
        }
        for p in &c.paths {
            self.paths.remove(p);
        }
        if let Some(h) = c.h3.as_mut() {
            h.end(&mut self.h3_total, &mut self.stats);
        }
        self.take_requests(&mut c);
        self.websocket.append(&mut c.ws_rows);
        let r = finish(c, now);
        self.done.push(r);
    }

    /// The HTTP/3 requests `c` finished, to `http`.
    fn take_requests(&mut self, c: &mut Conn) {
        let Some(h) = c.h3.as_mut() else {
            return;
        };
        self.stats.h3_without_request += std::mem::take(&mut h.without_request);
        for w in std::mem::take(&mut h.websockets) {
            if c.ws_rows.len() >= crate::proto::websocket::MAX_STREAM_WEBSOCKETS {
                self.stats.h3_websockets_dropped += 1;
                continue;
            }
            let end_ts = w.end_ts.unwrap_or(c.rec.end_ts);
            let (session, st) = w.parser.finish(end_ts);
            self.ws_stats.merge(&st);
            c.ws_rows.push(WebSocketRecord {
                conn_id: c.rec.conn_id,
                client: c.rec.client,
                server: c.rec.server,
                secure: true,
                stream_id: u32::try_from(w.stream_id).ok(),
                end_ts,
                session,
            });
        }
        if h.finished.is_empty() {
            return;
        }
        let tls = (c.tls.record().client_hello_ts.is_some())
            .then(|| tls_record(&c.rec, c.tls.record().clone(), c.server_finished_ts));
        for ex in std::mem::take(&mut h.finished) {
            self.stats.h3_requests += 1;
            self.http.push((
                HttpRecord {
                    conn_id: c.rec.conn_id,
                    client: c.rec.client,
                    server: c.rec.server,
                    exchange: ex,
                },
                tls.clone(),
            ));
        }
    }

    /// An ICMP destination unreachable quoting a datagram from `src` to `dst`.
    pub fn on_icmp_unreachable(&mut self, ts_ns: i64, src: Endpoint, dst: Endpoint) {
        if let Some(c) = self.conns.get_mut(&(src, dst)) {
            self.stats.icmp_unreachable += 1;
            c.unreachable = true;
            c.rec.end_ts = c.rec.end_ts.max(ts_ns);
        }
    }

    /// One UDP datagram taken as QUIC: `payload` as captured (it may be cut short for a
    /// short-header datagram: only its first bytes matter), `wire_len` its length on the wire.
    pub fn on_datagram(
        &mut self,
        ts_ns: i64,
        frame: u64,
        src: Endpoint,
        dst: Endpoint,
        payload: &[u8],
        wire_len: u32,
    ) {
        self.stats.datagrams += 1;
        let (key, dir) = if self.conns.contains_key(&(src, dst)) {
            ((src, dst), 0)
        } else if self.conns.contains_key(&(dst, src)) {
            ((dst, src), 1)
        } else if let Some(&k) = self.paths.get(&(src, dst)) {
            (k, 0)
        } else if let Some(&k) = self.paths.get(&(dst, src)) {
            (k, 1)
        } else if let Some(found) = self.migrated(ts_ns, src, dst, payload) {
            found
        } else {
            // Only a client's Initial, or a server's Version Negotiation or Retry, opens a
            // connection (the sender of a Handshake or 1-RTT packet could be either side).
            let from_server = match packet::split_long(payload) {
                Ok((p, _)) if p.version == 0 || p.ty == LongType::Retry => true,
                Ok((p, _)) if p.ty == LongType::Initial => false,
                _ => {
                    self.stats.orphans += 1;
                    return;
                }
            };
            let key = if from_server { (dst, src) } else { (src, dst) };
            self.open(key, frame, ts_ns);
            (key, usize::from(from_server))
        };
        // A new client Initial on a tuple whose connection has ended its handshake: a new
        // connection (same ports reused). On a connection's new path, the new connection is
        // the path's own tuple's (the moved connection ends there).
        let mut key = key;
        if dir == 0 && self.starts_new(&key, payload) {
            if let Some(old) = self.conns.remove(&key) {
                self.finish_conn(*old, ts_ns);
            }
            key = (src, dst);
            self.open(key, frame, ts_ns);
        }
        let keys = &self.keys;
        let stats = &mut self.stats;
        let h3_total = &mut self.h3_total;
        let Some(c) = self.conns.get_mut(&key) else {
            return;
        };
        c.rec.end_ts = c.rec.end_ts.max(ts_ns);
        if dir == 0 {
            c.rec.datagrams_c2s += 1;
            c.rec.bytes_c2s += u64::from(wire_len);
        } else {
            c.rec.datagrams_s2c += 1;
            c.rec.bytes_s2c += u64::from(wire_len);
        }
        c.on_datagram(ts_ns, dir, payload, keys, h3_total, stats);
        // Connection IDs learnt: into the index (a short header on a new path names one).
        while let Some(id) = c.cids.get(c.indexed) {
            if !self.cid_lens.contains(&id.len()) {
                self.cid_lens.push(id.len());
            }
            self.cid_index.entry(id.clone()).or_insert(key);
            c.indexed += 1;
        }
        if c.h3.as_ref().is_some_and(|h| {
            !h.finished.is_empty() || h.without_request > 0 || !h.websockets.is_empty()
        }) {
            if let Some(mut c) = self.conns.remove(&key) {
                self.take_requests(&mut c);
                self.conns.insert(key, c);
            }
        }
    }

    /// A short-header datagram on an unknown 4-tuple whose Destination Connection ID is one
    /// of a connection's, between that connection's server and a new client address or port:
    /// the connection moved (RFC 9000 §9: a client's migration or a NAT rebinding). Returns
    /// the connection's key and the datagram's direction; the new path is remembered.
    fn migrated(
        &mut self,
        ts_ns: i64,
        src: Endpoint,
        dst: Endpoint,
        payload: &[u8],
    ) -> Option<((Endpoint, Endpoint), usize)> {
        if payload.first().is_none_or(|&b| b & 0xc0 != 0x40) {
            return None;
        }
        let key = self.cid_lens.iter().find_map(|&n| {
            let id = payload.get(1..1 + n)?;
            self.cid_index.get(id).copied()
        })?;
        let (path, dir) = if dst == key.1 {
            ((src, dst), 0)
        } else if src == key.1 {
            ((dst, src), 1)
        } else {
            // The server's address changed (a preferred address): not followed.
            return None;
        };
        let c = self.conns.get_mut(&key)?;
        if c.paths.len() >= MAX_QUIC_PATHS {
            self.stats.paths_over_limit += 1;
            return None;
        }
        if c.paths.is_empty() {
            self.stats.migrations += 1;
        }
        c.paths.push(path);
        c.rec.migrations += 1;
        c.rec.migrated_client = Some(path.0);
        c.rec.end_ts = c.rec.end_ts.max(ts_ns);
        self.paths.insert(path, key);
        Some((key, dir))
    }

    fn open(&mut self, key: (Endpoint, Endpoint), frame: u64, ts_ns: i64) {
        while self.conns.len() >= self.max_connections {
            let Some((id, k)) = self.order.pop_front() else {
                break;
            };
            if self.conns.get(&k).is_some_and(|c| c.rec.conn_id == id) {
                if let Some(c) = self.conns.remove(&k) {
                    self.stats.evicted += 1;
                    self.finish_conn(*c, ts_ns);
                }
            }
        }
        if self.order.len() > 2 * self.max_connections {
            let conns = &self.conns;
            self.order
                .retain(|(id, k)| conns.get(k).is_some_and(|c| c.rec.conn_id == *id));
        }
        self.stats.connections += 1;
        self.order.push_back((frame, key));
        let mut conn = Conn::new(frame, key.0, key.1, ts_ns);
        conn.headers = self.headers;
        self.conns.insert(key, Box::new(conn));
    }

    /// Whether `payload` (from the client of `key`) is the Initial of a new connection: the
    /// connection has seen the server's 1-RTT packets and this Initial's DCID is none of its
    /// IDs.
    fn starts_new(&self, key: &(Endpoint, Endpoint), payload: &[u8]) -> bool {
        let Some(c) = self.conns.get(key) else {
            return false;
        };
        if c.rec.server_1rtt_ts.is_none() {
            return false;
        }
        match packet::split_long(payload) {
            Ok((p, _)) => {
                p.ty == LongType::Initial
                    && p.version != 0
                    && !c.cids.iter().any(|id| id.as_slice() == p.dcid)
                    && c.rec.original_dcid.as_deref() != Some(p.dcid)
            }
            Err(_) => false,
        }
    }
}

/// The connection's record, the capture having reached `now`.
fn finish(c: Conn, now: i64) -> (QuicRecord, Option<TlsRecord>) {
    let mut rec = c.rec;
    rec.outcome = if rec.server_1rtt_ts.is_some() || c.client_finished_exact {
        QuicOutcome::Established
    } else if rec.server_initial_ts.is_some() || c.server_handshake_seen || rec.retry {
        QuicOutcome::HandshakeIncomplete
    } else if rec.version_negotiation {
        QuicOutcome::VersionNegotiation
    } else if c.unreachable {
        QuicOutcome::Unreachable
    } else {
        QuicOutcome::NoResponse
    };
    rec.zero_rtt_accepted = c.early_data_accepted.filter(|_| rec.zero_rtt_packets > 0);
    // RFC 9000 §10.1: the smaller of the advertised values; 0 (or absent) is none.
    let idle_ms = [
        c.tls.client_quic_idle_timeout_ms(),
        c.server_idle_timeout_ms,
    ]
    .into_iter()
    .flatten()
    .filter(|&ms| ms > 0)
    .min();
    rec.idle_timeout_ns = idle_ms.and_then(|ms| i64::try_from(ms.saturating_mul(1_000_000)).ok());
    // How it ended needs its 1-RTT packets read both ways: a CONNECTION_CLOSE after the
    // handshake is encrypted.
    // (`pn_gaps` is set for a direction by its first decrypted 1-RTT packet.)
    let read_both = rec.pn_gaps.iter().all(Option::is_some);
    rec.ended_by = if rec.close_ts.is_some() {
        Some(QuicEnd::ConnectionClose)
    } else if rec.outcome != QuicOutcome::Established || !read_both {
        None
    } else {
        match rec.idle_timeout_ns {
            Some(idle) if now.saturating_sub(rec.end_ts) >= idle => Some(QuicEnd::IdleTimeout),
            Some(_) => Some(QuicEnd::Open),
            // No idle timeout: it stays open until closed.
            None => Some(QuicEnd::Open),
        }
    };
    for (d, mut v) in c.rtt.into_iter().enumerate() {
        v.sort_unstable();
        rec.rtt_median[d] = v.get(v.len().saturating_sub(1) / 2).copied();
    }
    rec.handshake_ns = match (rec.handshake_done_ts, rec.client_initial_ts) {
        (Some(d), Some(s)) => d.checked_sub(s),
        _ => None,
    };
    let server_finished_ts = c.server_finished_ts;
    let tls = c
        .tls
        .record()
        .client_hello_ts
        .is_some()
        .then(|| tls_record(&rec, c.tls.into_record(), server_finished_ts));
    (rec, tls)
}

/// The TLS record of a QUIC connection from its ClientHello's parser record.
fn tls_record(rec: &QuicRecord, mut h: TlsHandshake, server_finished_ts: Option<i64>) -> TlsRecord {
    if let Some(j) = h.ja4.as_mut() {
        // JA4's first character is the transport: `q` for QUIC.
        if j.starts_with('t') {
            j.replace_range(..1, "q");
        }
    }
    h.client_finished_ts = rec.handshake_done_ts;
    h.server_finished_ts = server_finished_ts.filter(|_| rec.handshake_done_ts.is_some());
    h.handshake_done_ts = rec.handshake_done_ts;
    h.handshake_ns = match (h.handshake_done_ts, h.client_hello_ts) {
        (Some(d), Some(s)) => d.checked_sub(s),
        _ => None,
    };
    TlsRecord {
        conn_id: rec.conn_id,
        transport: TlsTransport::Quic,
        handshake: h,
    }
}

/// Index of a packet number space with CRYPTO frames.
const INITIAL: usize = 0;
const HANDSHAKE: usize = 1;

impl Conn {
    fn new(conn_id: u64, client: Endpoint, server: Endpoint, ts_ns: i64) -> Conn {
        Conn {
            rec: QuicRecord {
                conn_id,
                client,
                server,
                start_ts: ts_ns,
                end_ts: ts_ns,
                first_version: None,
                version: None,
                version_negotiation: false,
                vn_versions: Vec::new(),
                retry: false,
                original_dcid: None,
                client_cid: None,
                server_cid: None,
                outcome: QuicOutcome::NoResponse,
                client_initial_ts: None,
                server_initial_ts: None,
                server_1rtt_ts: None,
                handshake_done_ts: None,
                handshake_ns: None,
                handshake_decrypted: false,
                datagrams_c2s: 0,
                datagrams_s2c: 0,
                bytes_c2s: 0,
                bytes_s2c: 0,
                crypto_retransmitted_bytes: 0,
                close_error: None,
                migrations: 0,
                migrated_client: None,
                zero_rtt_packets: 0,
                zero_rtt_decrypted: false,
                zero_rtt_accepted: None,
                close_initiator: None,
                close_ts: None,
                idle_timeout_ns: None,
                ended_by: None,
                one_rtt_decrypted: false,
                server_handshake_done_ts: None,
                key_updates: 0,
                pn_gaps: [None; 2],
                rtt_samples: [0; 2],
                rtt_min: [None; 2],
                rtt_median: [None; 2],
                client_bidi_streams: None,
                stream_bytes: [0; 2],
                stream_retransmitted_bytes: 0,
            },
            cids: Vec::new(),
            indexed: 0,
            paths: Vec::new(),
            initial: None,
            retry_scid: None,
            derivations: 0,
            largest: [[None; 2]; 2],
            crypto: Default::default(),
            budget: MAX_CRYPTO_BUFFER,
            limit_counted: false,
            tls: TlsParser::new(),
            client_random: None,
            hs_keys: None,
            hs_looked_up: false,
            early_keys: Vec::new(),
            early_looked_up: false,
            hs_msgs: Default::default(),
            app_keys: [None, None],
            app_next: [None, None],
            largest_app: [None; 2],
            sent: Default::default(),
            acked: [None; 2],
            rtt: Default::default(),
            server_handshake_seen: false,
            server_finished_ts: None,
            server_finished_exact: false,
            unreachable: false,
            client_finished_exact: false,
            h3: None,
            headers: None,
            ws_rows: Vec::new(),
            server_idle_timeout_ms: None,
            early_data_accepted: None,
        }
    }

    fn remember_cid(&mut self, cid: &[u8]) {
        if !cid.is_empty() && self.cids.len() < MAX_QUIC_CIDS && !self.cids.iter().any(|c| c == cid)
        {
            self.cids.push(cid.to_vec());
        }
    }

    fn on_datagram(
        &mut self,
        ts: i64,
        dir: usize,
        payload: &[u8],
        keys: &Keys,
        h3_total: &mut usize,
        stats: &mut QuicStats,
    ) {
        let mut rest = payload;
        while !rest.is_empty() {
            if rest.len() < payload.len() && rest.iter().all(|&b| b == 0) {
                // Zero padding after the datagram's packets (RFC 9000 §14.1 lets a sender pad
                // datagrams): nothing to read.
                return;
            }
            if !packet::is_long(rest) {
                self.on_short(ts, dir, rest, h3_total, stats);
                return;
            }
            match packet::split_long(rest) {
                Ok((p, next)) => {
                    stats.long_packets += 1;
                    self.on_long(ts, dir, &p, keys, h3_total, stats);
                    rest = next;
                }
                Err(e) => {
                    match e {
                        Malformed::Truncated => stats.malformed_truncated += 1,
                        Malformed::CidTooLong => stats.malformed_cid_too_long += 1,
                        Malformed::FixedBitClear => stats.malformed_fixed_bit += 1,
                    }
                    return;
                }
            }
        }
    }

    fn on_short(
        &mut self,
        ts: i64,
        dir: usize,
        b: &[u8],
        h3_total: &mut usize,
        stats: &mut QuicStats,
    ) {
        if b.first().is_some_and(|&x| x & 0x40 == 0) {
            stats.malformed_fixed_bit += 1;
            return;
        }
        stats.short_packets += 1;
        let dcid = b.get(1..).unwrap_or_default();
        if !self.cids.iter().any(|c| dcid.starts_with(c)) && !self.cids.is_empty() {
            stats.short_unknown_dcid += 1;
        }
        if dir == 1 && self.rec.server_1rtt_ts.is_none() {
            self.rec.server_1rtt_ts = Some(ts);
        }
        if self.app_keys[dir].is_some() {
            self.open_one_rtt(ts, dir, b, h3_total, stats);
        }
    }

    /// Decrypts a 1-RTT packet with the key log's keys: the current key phase's, else the
    /// next one's (a key update: it becomes the current).
    fn open_one_rtt(
        &mut self,
        ts: i64,
        dir: usize,
        b: &[u8],
        h3_total: &mut usize,
        stats: &mut QuicStats,
    ) {
        // The Destination Connection ID is the receiver's: the server's for the client's
        // packets, the client's for the server's.
        let cid = if dir == 0 {
            &self.rec.server_cid
        } else {
            &self.rec.client_cid
        };
        let pn_offset = 1 + cid.as_ref().map_or(0, Vec::len);
        let largest = self.largest_app[dir];
        let Some(key) = &self.app_keys[dir] else {
            return;
        };
        let mut opened = key.open(b, pn_offset, largest);
        if opened.is_none() {
            if self.app_next[dir].is_none() {
                self.app_next[dir] = key.updated();
            }
            if let Some(next) = &self.app_next[dir] {
                opened = next.open(b, pn_offset, largest);
                if opened.is_some() {
                    self.app_keys[dir] = self.app_next[dir].take();
                    self.rec.key_updates += 1;
                }
            }
        }
        let Some(o) = opened else {
            stats.one_rtt_auth_failed += 1;
            return;
        };
        stats.one_rtt_decrypted += 1;
        self.rec.one_rtt_decrypted = true;
        let gaps = self.rec.pn_gaps[dir].get_or_insert(0);
        match largest {
            Some(l) if o.pn > l => *gaps += o.pn - l - 1,
            // A late packet fills a gap counted before.
            Some(l) if o.pn < l => *gaps = gaps.saturating_sub(1),
            _ => {}
        }
        self.largest_app[dir] = Some(largest.map_or(o.pn, |l| l.max(o.pn)));
        self.on_app_payload(ts, dir, o.pn, &o.payload, h3_total, stats);
    }

    /// A 0-RTT packet from the client (RFC 9001 §5.6): opened with the key log's
    /// `CLIENT_EARLY_TRAFFIC_SECRET` (looked up once, the ClientHello's random being known; its
    /// AEAD is the resumed session's, not yet told by a ServerHello: the secret's length
    /// says SHA-384 or SHA-256, and for SHA-256 the tag tells AES-128-GCM from
    /// ChaCha20-Poly1305). Its frames are application data, like 1-RTT ones.
    fn open_zero_rtt(
        &mut self,
        ts: i64,
        p: &packet::LongPacket<'_>,
        keys: &Keys,
        h3_total: &mut usize,
        stats: &mut QuicStats,
    ) {
        if !self.early_looked_up && self.client_random.is_some() {
            self.early_looked_up = true;
            if let (Some(Some(s)), Some(version)) =
                (keys.lookup(self.client_random.as_ref()), self.rec.version)
            {
                if let Some(secret) = s.client_early.as_deref() {
                    let suites: &[u16] = if secret.len() == 48 {
                        &[0x1302]
                    } else {
                        &[0x1301, 0x1303]
                    };
                    self.early_keys = suites
                        .iter()
                        .filter_map(|&c| PacketKey::from_secret(version, c, secret))
                        .collect();
                }
            }
        }
        if self.early_keys.is_empty() {
            return;
        }
        let largest = self.largest_app[0];
        let opened = self
            .early_keys
            .iter()
            .enumerate()
            .find_map(|(i, k)| k.open(p.bytes, p.pn_offset, largest).map(|o| (i, o)));
        let Some((i, o)) = opened else {
            stats.zero_rtt_auth_failed += 1;
            return;
        };
        // The suite that opened it is the one: keep only its key.
        if i > 0 {
            self.early_keys.swap(0, i);
        }
        self.early_keys.truncate(1);
        stats.zero_rtt_decrypted += 1;
        self.rec.zero_rtt_decrypted = true;
        self.largest_app[0] = Some(largest.map_or(o.pn, |l| l.max(o.pn)));
        self.on_app_payload(ts, 0, o.pn, &o.payload, h3_total, stats);
    }

    /// The frames of a decrypted application-data packet (1-RTT, or 0-RTT from the client)
    /// of direction `dir`, packet number `pn`.
    fn on_app_payload(
        &mut self,
        ts: i64,
        dir: usize,
        pn: u64,
        payload: &[u8],
        h3_total: &mut usize,
        stats: &mut QuicStats,
    ) {
        let frames = match packet::frames(payload) {
            Ok(f) => f,
            Err(f) => {
                stats.malformed_frames += 1;
                f
            }
        };
        if frames.iter().any(packet::Frame::ack_eliciting) {
            let sent = &mut self.sent[dir];
            if sent.len() >= MAX_SENT_REMEMBERED {
                sent.pop_front();
            }
            sent.push_back((pn, ts));
        }
        for f in frames {
            match f {
                packet::Frame::Ack { largest, .. } => self.on_ack(ts, 1 - dir, largest),
                packet::Frame::HandshakeDone if dir == 1 => {
                    self.rec.server_handshake_done_ts.get_or_insert(ts);
                }
                packet::Frame::Stream {
                    id,
                    offset,
                    data,
                    fin,
                } => {
                    self.rec.stream_bytes[dir] += data.len() as u64;
                    if id % 4 == 0 {
                        let n = id / 4 + 1;
                        let s = self.rec.client_bidi_streams.get_or_insert(n);
                        *s = (*s).max(n);
                    }
                    // HTTP/3 unless the server selected another protocol (DNS over QUIC,
                    // ...): ALPN `h3` (or a draft's `h3-NN`), or not known.
                    let alpn = self.tls.record().alpn.as_deref();
                    if !alpn.is_none_or(|a| a.starts_with("h3")) {
                        continue;
                    }
                    let headers = self.headers;
                    self.h3
                        .get_or_insert_with(|| Box::new(h3::H3Conn::new(headers)))
                        .on_stream(
                            ts,
                            dir,
                            id,
                            offset,
                            data,
                            fin,
                            h3_total,
                            &mut self.rec.stream_retransmitted_bytes,
                            stats,
                        );
                }
                packet::Frame::ResetStream { id } => {
                    if let Some(h) = self.h3.as_mut() {
                        h.on_reset(ts, dir, id, h3_total);
                    }
                }
                packet::Frame::Close { code } => self.on_close(ts, dir, code),
                packet::Frame::NewConnectionId { cid } => self.remember_cid(cid),
                _ => {}
            }
        }
    }

    /// A CONNECTION_CLOSE from direction `dir`: the first one read is kept.
    fn on_close(&mut self, ts: i64, dir: usize, code: u64) {
        if self.rec.close_ts.is_none() {
            self.rec.close_error = Some(code);
            self.rec.close_ts = Some(ts);
            self.rec.close_initiator = Some(if dir == 0 { Side::Client } else { Side::Server });
        }
    }

    /// An ACK of the packets of direction `of` with Largest Acknowledged `largest`: an RTT
    /// sample when it newly acknowledges an ack-eliciting packet we saw.
    fn on_ack(&mut self, ts: i64, of: usize, largest: u64) {
        if self.acked[of].is_some_and(|a| largest <= a) {
            return;
        }
        self.acked[of] = Some(largest);
        let sent = &self.sent[of];
        let Ok(i) = sent.binary_search_by_key(&largest, |&(pn, _)| pn) else {
            return;
        };
        let Some(&(_, at)) = sent.get(i) else {
            return;
        };
        let Some(sample) = ts.checked_sub(at).filter(|s| *s >= 0) else {
            return;
        };
        self.rec.rtt_samples[of] += 1;
        let min = &mut self.rec.rtt_min[of];
        *min = Some(min.map_or(sample, |m| m.min(sample)));
        if self.rtt[of].len() < MAX_RTT_SAMPLES {
            self.rtt[of].push(sample);
        }
    }

    fn on_long(
        &mut self,
        ts: i64,
        dir: usize,
        p: &packet::LongPacket<'_>,
        keys: &Keys,
        h3_total: &mut usize,
        stats: &mut QuicStats,
    ) {
        if p.version == 0 {
            stats.version_negotiation += 1;
            if dir == 1 {
                self.rec.version_negotiation = true;
                let list = p
                    .bytes
                    .get(7 + p.dcid.len() + p.scid.len()..)
                    .unwrap_or_default();
                for v in list.chunks_exact(4).take(MAX_VN_VERSIONS) {
                    let v = u32::from_be_bytes([v[0], v[1], v[2], v[3]]);
                    if !self.rec.vn_versions.contains(&v) {
                        self.rec.vn_versions.push(v);
                    }
                }
            }
            return;
        }
        if !packet::known_version(p.version) {
            stats.unknown_version += 1;
        }
        if dir == 0 {
            self.remember_cid(p.scid);
        } else {
            self.remember_cid(p.scid);
            self.rec.version = Some(p.version);
        }
        if self.rec.version.is_none() || (dir == 0 && self.rec.server_initial_ts.is_none()) {
            self.rec.version = Some(p.version);
        }
        match (p.ty, dir) {
            (LongType::Retry, 1) => {
                stats.retry += 1;
                self.rec.retry = true;
                self.retry_scid = Some(p.scid.to_vec());
                return;
            }
            (LongType::Retry, _) => return,
            (LongType::Initial, 0) => {
                self.rec.client_initial_ts.get_or_insert(ts);
                self.rec.first_version.get_or_insert(p.version);
                if self.rec.original_dcid.is_none() {
                    self.rec.original_dcid = Some(p.dcid.to_vec());
                }
                self.rec.client_cid.get_or_insert_with(|| p.scid.to_vec());
                self.use_initial_keys(p.version, p.dcid);
            }
            (LongType::Initial, _) => {
                self.rec.server_initial_ts.get_or_insert(ts);
                self.rec.server_cid.get_or_insert_with(|| p.scid.to_vec());
            }
            (LongType::Handshake, 1) => {
                self.rec.server_cid.get_or_insert_with(|| p.scid.to_vec());
                self.server_handshake_seen = true;
                if self.rec.handshake_done_ts.is_none() && !self.server_finished_exact {
                    self.server_finished_ts = Some(ts);
                }
            }
            (LongType::Handshake, _) => {
                if self.server_handshake_seen && self.rec.handshake_done_ts.is_none() {
                    // Without keys: the client's first Handshake packet after the server's.
                    self.rec.handshake_done_ts = Some(ts);
                }
            }
            (LongType::ZeroRtt, 0) => {
                self.rec.zero_rtt_packets += 1;
                if packet::known_version(p.version) {
                    self.open_zero_rtt(ts, p, keys, h3_total, stats);
                }
                return;
            }
            (LongType::ZeroRtt, _) => return,
        }
        if !packet::known_version(p.version) {
            return;
        }
        match p.ty {
            LongType::Initial => {
                let Some((v, _, k)) = &self.initial else {
                    return;
                };
                if *v != p.version {
                    return;
                }
                let key = if dir == 0 { &k.client } else { &k.server };
                match key.open(p.bytes, p.pn_offset, self.largest[INITIAL][dir]) {
                    Some(o) => {
                        stats.initial_decrypted += 1;
                        self.on_packet(ts, dir, INITIAL, o, keys, stats);
                    }
                    None => stats.initial_auth_failed += 1,
                }
            }
            LongType::Handshake => {
                self.lookup_handshake_keys(keys);
                let Some(key) = self.hs_keys.as_ref().and_then(|k| k[dir].as_ref()) else {
                    return;
                };
                match key.open(p.bytes, p.pn_offset, self.largest[HANDSHAKE][dir]) {
                    Some(o) => {
                        stats.handshake_decrypted += 1;
                        self.rec.handshake_decrypted = true;
                        self.on_packet(ts, dir, HANDSHAKE, o, keys, stats);
                    }
                    None => stats.handshake_auth_failed += 1,
                }
            }
            _ => {}
        }
    }

    /// Switches to the Initial keys of (`version`, client `dcid`) — the first Initial, or a
    /// new attempt after a Retry or a Version Negotiation, which restarts the handshake.
    fn use_initial_keys(&mut self, version: u32, dcid: &[u8]) {
        if let Some((v, d, _)) = &self.initial {
            // Once the server answered, the client sends its Initials to the server's CID
            // with the same keys (RFC 9001 §5.2); only a Retry (to the Retry's SCID) or a
            // Version Negotiation (another version) starts over.
            let after_retry = self.retry_scid.as_deref() == Some(dcid) && d.as_slice() != dcid;
            if *v == version && !after_retry {
                return;
            }
        }
        if self.derivations >= MAX_KEY_DERIVATIONS {
            return;
        }
        self.derivations += 1;
        let Some(k) = InitialKeys::new(version, dcid) else {
            return;
        };
        if self.initial.is_some() {
            // A new attempt: the client sends a new ClientHello from offset 0.
            let budget = &mut self.budget;
            for s in self.crypto.iter_mut().flatten() {
                s.stop(budget);
                *s = CryptoStream::default();
            }
            self.largest = [[None; 2]; 2];
            self.tls = TlsParser::new();
            self.client_random = None;
        }
        self.initial = Some((version, dcid.to_vec(), k));
    }

    fn lookup_handshake_keys(&mut self, keys: &Keys) {
        if self.hs_looked_up {
            return;
        }
        let (Some(cipher), Some(version)) = (self.tls.record().cipher, self.rec.version) else {
            return;
        };
        self.hs_looked_up = true;
        let Some(Some(s)) = keys.lookup(self.client_random.as_ref()) else {
            return;
        };
        let key = |secret: &Option<Vec<u8>>| {
            secret
                .as_deref()
                .and_then(|s| PacketKey::from_secret(version, cipher.0, s))
        };
        self.hs_keys = Some([key(&s.client_handshake), key(&s.server_handshake)]);
        self.app_keys = [key(&s.client_traffic), key(&s.server_traffic)];
    }

    fn on_packet(
        &mut self,
        ts: i64,
        dir: usize,
        space: usize,
        o: packet::Opened,
        keys: &Keys,
        stats: &mut QuicStats,
    ) {
        let l = &mut self.largest[space][dir];
        *l = Some(l.map_or(o.pn, |x| x.max(o.pn)));
        let frames = match packet::frames(&o.payload) {
            Ok(f) => f,
            Err(f) => {
                stats.malformed_frames += 1;
                f
            }
        };
        for f in frames {
            match f {
                packet::Frame::Crypto { offset, data } => {
                    let mut hit = false;
                    let bytes = self.crypto[space][dir].insert(
                        offset,
                        data,
                        &mut self.budget,
                        &mut self.rec.crypto_retransmitted_bytes,
                        &mut hit,
                    );
                    if hit && !self.limit_counted {
                        self.limit_counted = true;
                        stats.crypto_limit_hits += 1;
                    }
                    if !bytes.is_empty() {
                        if space == INITIAL {
                            self.on_initial_crypto(ts, dir, &bytes);
                        } else {
                            self.on_handshake_crypto(ts, dir, &bytes);
                        }
                    }
                }
                packet::Frame::Close { code } => self.on_close(ts, dir, code),
                _ => {}
            }
        }
        if space == INITIAL && dir == 1 {
            self.lookup_handshake_keys(keys);
        }
    }

    /// Initial CRYPTO bytes in order: handed to the TLS parser as TLS handshake records.
    fn on_initial_crypto(&mut self, ts: i64, dir: usize, bytes: &[u8]) {
        let d = if dir == 0 {
            Direction::ClientToServer
        } else {
            Direction::ServerToClient
        };
        for chunk in bytes.chunks(16_384) {
            let mut record = Vec::with_capacity(5 + chunk.len());
            record.extend_from_slice(&[22, 3, 3]);
            record.extend_from_slice(&u16::try_from(chunk.len()).unwrap_or(0).to_be_bytes());
            record.extend_from_slice(chunk);
            self.tls.on_data(ts, d, &record);
        }
        if dir == 0 && self.client_random.is_none() {
            self.client_random = self.tls.client_random();
        }
    }

    /// Handshake CRYPTO bytes in order (decrypted with the key log): EncryptedExtensions (the
    /// selected ALPN) and the Finished messages.
    fn on_handshake_crypto(&mut self, ts: i64, dir: usize, bytes: &[u8]) {
        let buf = &mut self.hs_msgs[dir].buf;
        buf.extend_from_slice(bytes);
        loop {
            let buf = &mut self.hs_msgs[dir].buf;
            let Some(h) = buf.get(..4) else {
                return;
            };
            let len = (usize::from(h[1]) << 16) | (usize::from(h[2]) << 8) | usize::from(h[3]);
            if buf.len() < 4 + len {
                return;
            }
            let msg: Vec<u8> = buf.drain(..4 + len).collect();
            let ty = msg[0];
            if ty == 8 && dir == 1 {
                if let Some(alpn) = alpn_of_encrypted_extensions(&msg) {
                    self.tls_alpn(alpn);
                }
                self.server_idle_timeout_ms =
                    encrypted_extension(&msg, 57).and_then(max_idle_timeout_ms);
                // RFC 8446 §4.2.10: the server accepts early data with an empty `early_data`
                // extension in EncryptedExtensions.
                self.early_data_accepted = Some(encrypted_extension(&msg, 42).is_some());
            }
            if ty == 20 && dir == 1 && !self.server_finished_exact {
                self.server_finished_ts = Some(ts);
                self.server_finished_exact = true;
            }
            if ty == 20 && dir == 0 {
                self.rec.handshake_done_ts = Some(ts);
                self.client_finished_exact = true;
            }
        }
    }

    fn tls_alpn(&mut self, alpn: String) {
        // The TLS parser never reads EncryptedExtensions in QUIC (they are not in TLS records):
        // the selection is set on its record here.
        self.tls.set_alpn(alpn);
    }
}

/// `max_idle_timeout` (id 0x01, milliseconds) of a `quic_transport_parameters` extension's
/// data (RFC 9000 §18); `None` when absent or malformed. 0 means no idle timeout.
pub(crate) fn max_idle_timeout_ms(mut params: &[u8]) -> Option<u64> {
    while !params.is_empty() {
        let mut pos = 0usize;
        let id = packet::read_varint(params, &mut pos)?;
        let len = usize::try_from(packet::read_varint(params, &mut pos)?).ok()?;
        let value = params.get(pos..pos.checked_add(len)?)?;
        if id == 0x01 {
            let mut p = 0;
            return packet::read_varint(value, &mut p);
        }
        params = params.get(pos + len..)?;
    }
    None
}

/// The data of an EncryptedExtensions message's extension of type `want`.
fn encrypted_extension(msg: &[u8], want: u16) -> Option<&[u8]> {
    let n = usize::from(u16::from_be_bytes([*msg.get(4)?, *msg.get(5)?]));
    let mut ext = msg.get(6..6 + n)?;
    while ext.len() >= 4 {
        let ty = u16::from_be_bytes([ext[0], ext[1]]);
        let len = usize::from(u16::from_be_bytes([ext[2], ext[3]]));
        let data = ext.get(4..4 + len)?;
        if ty == want {
            return Some(data);
        }
        ext = ext.get(4 + len..)?;
    }
    None
}

/// The protocol of an EncryptedExtensions message's ALPN extension (RFC 7301).
fn alpn_of_encrypted_extensions(msg: &[u8]) -> Option<String> {
    let data = encrypted_extension(msg, 16)?;
    let l = usize::from(*data.get(2)?);
    Some(String::from_utf8_lossy(data.get(3..3 + l)?).into_owned())
}
