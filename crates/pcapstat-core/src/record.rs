//! Plain output records. `Option` means "not observed" — never `0` or `""` for absent.
//! Times are `i64` nanoseconds (absolute times: since the Unix epoch, from the capture).

use std::net::IpAddr;

use crate::flow::Endpoint;

/// A short text of a record (an HTTP method, host or path): kept inline up to 24 bytes, so
/// the common request makes no allocation for them (records are made on the tracking threads
/// and freed on the collecting one). Reads as a `&str`.
pub type Text = compact_str::CompactString;
use crate::tcp::HandshakeOptions;
use crate::wire::{
    named_enum, AlertDescription, AlertLevel, CipherSuite, DnsType, Rcode, TlsVersion,
};

named_enum! {
    /// How a TCP connection ended, as far as the capture shows. Exactly one applies, tested in
    /// this order:
    ///
    /// 1. [`Refused`](Outcome::Refused): the server answered the client's SYN with RST (no SYN/ACK
    ///    was seen before it, nor after it in answer to a retried SYN).
    /// 2. [`Timeout`](Outcome::Timeout): the client sent SYN(s) and nothing at all came back from
    ///    the server before tracking ended.
    /// 3. [`Reset`](Outcome::Reset): a RST after the SYN/ACK (or on a mid-stream connection),
    ///    before FINs were seen in both directions; see `reset_by`.
    /// 4. [`Closed`](Outcome::Closed): FIN seen in both directions (a RST after both FINs does not
    ///    change this).
    /// 5. [`OneDirection`](Outcome::OneDirection): only one direction's packets were captured (an
    ///    asymmetric tap or a capture filter), yet they show the other side answered: the captured
    ///    side sent its SYN (or SYN/ACK) and then ACKs or data, which need the other side. No RST
    ///    was seen. What happened on the other side is unknown, so it is never a failure.
    /// 6. [`Midstream`](Outcome::Midstream): no SYN from the client was seen (picked up
    ///    mid-stream) and none of the above happened.
    /// 7. [`Open`](Outcome::Open): the server answered the SYN (normally with a SYN/ACK) and the
    ///    connection was still live at the end of the capture (its last packet within the idle
    ///    timeout of the end).
    /// 8. [`Established`](Outcome::Established): the server answered the SYN but tracking of the
    ///    connection stopped *before* the end of the capture without a FIN pair or RST: it went
    ///    idle past the idle timeout, was evicted by the flow-table bound, or its ports were reused
    ///    by a new SYN. The handshake completed; how it ended is unknown.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub enum Outcome: as_str {
        /// Handshake completed; tracking ended before the end of capture without FIN/RST.
        Established => "established",
        /// RST answering the SYN.
        Refused => "refused",
        /// SYN(s) without answer.
        Timeout => "timeout",
        /// RST after establishment (see `reset_by`).
        Reset => "reset",
        /// FIN from both sides.
        Closed => "closed",
        /// Handshake completed and still open at the end of the capture.
        Open => "open",
        /// No SYN seen: picked up mid-stream, not closed or reset.
        Midstream => "midstream",
        /// Only one direction was captured, and it shows the other side took part.
        OneDirection => "one_direction",
    }
}

named_enum! {
    /// Why a connection failed (`ConnectionRecord::failure`). A connection that ended with a reset
    /// after a complete exchange (nginx and many servers end with FIN then RST) did not fail: its
    /// outcome stays `reset` and its `failure` is `None`, as Zeek's `conn_state` keeps an orderly
    /// exchange (`RSTO`/`RSTR` with a full history) apart from a rejected one (`REJ`, `S0`). The
    /// rule is in docs/tcp.md ("Failed connections").
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub enum Failure: as_str {
        /// The server answered the SYN with RST.
        Refused => "refused",
        /// The SYN(s) got no answer.
        Timeout => "timeout",
        /// Reset before the server sent its first payload byte.
        ResetBeforeResponse => "reset_before_response",
        /// Reset while a request was unanswered: an application parser had a request without any
        /// response byte, or (no parser knew the requests) the client sent bytes after the
        /// server's last ones and no FIN preceded the reset.
        ResetUnanswered => "reset_unanswered",
        /// Reset while a response was being sent: every request had its response start, and one
        /// of them was cut (an aborted download, a load generator stopping mid-transfer).
        ResetMidResponse => "reset_mid_response",
    }
}

named_enum! {
    /// Which side of a connection.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub enum Side: as_str {
        /// The client (SYN sender, or the guessed client).
        Client => "client",
        /// The server.
        Server => "server",
    }
}

impl Side {
    /// The other side.
    pub fn other(self) -> Side {
        match self {
            Side::Client => Side::Server,
            Side::Server => Side::Client,
        }
    }
}

named_enum! {
    /// How a connection's client and server were decided (docs/tcp.md, "Roles").
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub enum RolesFrom: as_str {
        /// The client's SYN was the connection's first packet.
        Syn => "syn",
        /// The connection's first packet was the server's SYN/ACK (the SYN was not captured).
        SynAck => "syn_ack",
        /// Picked up mid-stream; an application parser saw which side sent the request (or
        /// ClientHello, or HTTP/2 preface).
        Payload => "payload",
        /// Picked up mid-stream; only the port heuristic (the lower port, or a port ≤ 1024, is the
        /// server's).
        Ports => "ports",
    }
}

/// Statistics of one direction of a TCP connection.
///
/// The `tcp.analysis`-style counters follow tshark's definitions (see
/// docs/tcp.md): `retransmissions` counts every segment tshark would match
/// with the display filter `tcp.analysis.retransmission`, which *includes* fast and spurious
/// retransmissions; `fast_retransmissions` and `spurious_retransmissions` are subsets.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DirectionStats {
    /// Segments sent in this direction.
    pub packets: u64,
    /// Unique stream bytes seen in the capture (on-wire lengths, so a snap-length-cut tail
    /// counts; retransmitted copies excluded; bytes lost before the capture point are not
    /// included — they are in `missed_bytes`). Data after a RST is still counted here (but not
    /// delivered to the stream sink).
    pub payload_bytes: u64,
    /// Segments flagged as retransmission (tshark `tcp.analysis.retransmission`, incl. fast and spurious).
    pub retransmissions: u64,
    /// On-wire payload bytes of those segments.
    pub retransmitted_bytes: u64,
    /// Segments flagged `tcp.analysis.fast_retransmission`.
    pub fast_retransmissions: u64,
    /// Segments flagged `tcp.analysis.spurious_retransmission`.
    pub spurious_retransmissions: u64,
    /// Segments flagged `tcp.analysis.out_of_order`.
    pub out_of_order: u64,
    /// Segments flagged `tcp.analysis.duplicate_ack`.
    pub dup_acks: u64,
    /// Segments flagged `tcp.analysis.zero_window`.
    pub zero_windows: u64,
    /// Segments flagged `tcp.analysis.zero_window_probe`.
    pub zero_window_probes: u64,
    /// Segments flagged `tcp.analysis.keep_alive` (never counted as retransmissions).
    pub keep_alives: u64,
    /// Segments flagged `tcp.analysis.window_update`.
    pub window_updates: u64,
    /// Segments flagged `tcp.analysis.window_full`.
    pub window_full: u64,
    /// Segments flagged `tcp.analysis.lost_segment` (a hole before them in sequence space).
    pub lost_segments: u64,
    /// Segments flagged `tcp.analysis.ack_lost_segment` (ACK for data the capture did not see).
    pub ack_lost_segments: u64,
    /// Stream bytes never captured (holes never filled, snap-length-cut tails), delivered to the
    /// stream consumer as gaps.
    pub missed_bytes: u64,
    /// Retransmitted bytes overlapping buffered out-of-order bytes with different content (the
    /// first copy is kept); counted once per segment.
    pub inconsistent_overlaps: u64,
    /// Number of RTT samples (data segment → first ACK covering it; Karn: segments that were
    /// retransmitted or reordered give no sample). For `_c2s` this is client data acknowledged by the server.
    pub rtt_samples: u64,
    /// Smallest RTT sample (ns).
    pub rtt_min_ns: Option<i64>,
    /// Median RTT sample (ns, lower median); computed over the first `rtt_sample_limit` samples.
    pub rtt_median_ns: Option<i64>,
    /// Largest RTT sample (ns).
    pub rtt_max_ns: Option<i64>,
    /// Options of this side's SYN (or SYN/ACK); `None` when that segment was not seen.
    pub handshake_options: Option<HandshakeOptions>,
    /// Capture time of the first segment carrying new payload bytes in this direction.
    pub first_payload_ts: Option<i64>,
    /// Capture time of the last segment carrying new payload bytes in this direction.
    pub last_payload_ts: Option<i64>,
    /// Capture time of this direction's first FIN.
    pub fin_ts: Option<i64>,
}

/// `ip` and `port` as an [`Endpoint`].
pub(crate) fn endpoint(ip: IpAddr, port: u16) -> Endpoint {
    Endpoint { ip, port }
}

/// One row per TCP connection.
#[derive(Debug, Clone, PartialEq)]
pub struct ConnectionRecord {
    /// Deterministic id: the frame index of the connection's first packet (unique in a capture,
    /// independent of the number of threads).
    pub conn_id: u64,
    /// Client address.
    pub client_ip: IpAddr,
    /// Client port.
    pub client_port: u16,
    /// Server address.
    pub server_ip: IpAddr,
    /// Server port.
    pub server_port: u16,
    /// 4 or 6.
    pub ip_version: u8,
    /// Capture time of the first packet (ns).
    pub start_ts: i64,
    /// Capture time of the last packet (ns).
    pub end_ts: i64,
    /// How the connection ended (see [`Outcome`]).
    pub outcome: Outcome,
    /// Who sent the first RST, if any RST was seen.
    pub reset_by: Option<Side>,
    /// Why the connection failed; `None` when it did not (see [`Failure`]).
    pub failure: Option<Failure>,
    /// Whether the client's SYN was seen.
    pub handshake_seen: bool,
    /// Whether client and server were decided without a handshake packet (no SYN nor SYN/ACK
    /// opened the connection): from the ports, or from the payload (see `roles_from`).
    pub client_guessed: bool,
    /// How client and server were decided.
    pub roles_from: RolesFrom,
    /// SYNs sent by the client before the SYN/ACK (or in total, if none came), minus one.
    pub syn_retries: u32,
    /// First SYN → the client's ACK completing the handshake (includes SYN retries), ns.
    pub connect_ns: Option<i64>,
    /// Answered SYN (the last SYN before the SYN/ACK) → SYN/ACK, ns.
    pub syn_to_synack_ns: Option<i64>,
    /// SYN/ACK → the client's handshake ACK, ns.
    pub synack_to_ack_ns: Option<i64>,
    /// The most recent SYN before the client's handshake ACK → that ACK, ns (a SYN retransmitted
    /// after the SYN/ACK counts, as in tshark). Equals tshark's `tcp.analysis.initial_rtt` for
    /// connections whose handshake completed (except a zero iRTT, which tshark skips).
    pub syn_to_ack_ns: Option<i64>,
    /// Client → server statistics.
    pub c2s: DirectionStats,
    /// Server → client statistics.
    pub s2c: DirectionStats,
}

impl ConnectionRecord {
    /// The client's address and port.
    pub fn client(&self) -> Endpoint {
        endpoint(self.client_ip, self.client_port)
    }

    /// The server's address and port.
    pub fn server(&self) -> Endpoint {
        endpoint(self.server_ip, self.server_port)
    }

    /// Swaps client and server: endpoints, per-direction statistics, `reset_by`. Used when an
    /// application parser found that the side guessed as server sent the request; such a
    /// connection had no handshake packet, so the handshake fields (`handshake_seen`,
    /// `syn_retries`, `connect_ns`, `syn_to_synack_ns`, `synack_to_ack_ns`, `syn_to_ack_ns`)
    /// are empty and direction-free, and `outcome` (`midstream`, `reset` or `closed` without a
    /// SYN) does not depend on the roles. `roles_from` is left for the caller to set.
    pub fn swap_roles(&mut self) {
        std::mem::swap(&mut self.client_ip, &mut self.server_ip);
        std::mem::swap(&mut self.client_port, &mut self.server_port);
        std::mem::swap(&mut self.c2s, &mut self.s2c);
        self.reset_by = self.reset_by.map(Side::other);
    }
}

/// One TLS handshake (one row per TCP connection that carried a TLS ClientHello).
///
/// Times are capture timestamps (ns) of the segment that completed the message (the segment
/// whose bytes made the message contiguous in the reassembled stream).
#[derive(Debug, Clone, PartialEq)]
pub struct TlsRecord {
    /// The connection (`ConnectionRecord::conn_id`, or `QuicRecord::conn_id` for QUIC).
    pub conn_id: u64,
    /// What carried the handshake: TLS records over TCP, or QUIC CRYPTO frames.
    pub transport: TlsTransport,
    /// What the TLS parser saw.
    pub handshake: TlsHandshake,
}

impl std::ops::Deref for TlsRecord {
    type Target = TlsHandshake;
    fn deref(&self) -> &TlsHandshake {
        &self.handshake
    }
}

impl std::ops::DerefMut for TlsRecord {
    fn deref_mut(&mut self) -> &mut TlsHandshake {
        &mut self.handshake
    }
}

/// A TLS alert seen in clear.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Alert {
    /// Level (wire value).
    pub level: AlertLevel,
    /// Description (wire value).
    pub description: AlertDescription,
    /// Who sent it.
    pub by: Side,
    /// Capture time of its record.
    pub ts: i64,
}

/// What the TLS parser gives for one connection, without the connection (the application
/// layer makes it a [`TlsRecord`]). Times are as in [`TlsRecord`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TlsHandshake {
    /// ClientHello time.
    pub client_hello_ts: Option<i64>,
    /// Server name indication (first host name).
    pub sni: Option<String>,
    /// ALPN protocols offered by the client, in order.
    pub alpn_offered: Vec<String>,
    /// Versions offered: the supported_versions extension if present (GREASE removed), else
    /// the ClientHello's legacy version.
    pub versions_offered: Vec<TlsVersion>,
    /// Number of cipher suites offered (GREASE included).
    pub cipher_suites_offered: u32,
    /// Length of the ClientHello's legacy session id.
    pub session_id_len: u8,
    /// The ClientHello carried a non-empty session_ticket extension.
    pub session_ticket_offered: bool,
    /// A kept ClientHello field was cut at its cap (`sni` and the `ja3` string at
    /// `MAX_KEPT_NAME_BYTES` /
    /// `MAX_KEPT_JA3_BYTES` bytes, `alpn_offered` /
    /// `versions_offered` at `MAX_KEPT_LIST` entries of
    /// at most `MAX_KEPT_NAME_BYTES`). JA3, JA4, `ja3_hash` and `cipher_suites_offered` are
    /// computed over the whole message all the same.
    pub client_hello_truncated: bool,
    /// The ClientHello carried a pre_shared_key extension.
    pub psk_offered: bool,
    /// JA3 fingerprint string (before hashing).
    pub ja3: Option<String>,
    /// MD5 of `ja3`, lower-case hex.
    pub ja3_hash: Option<String>,
    /// JA4 fingerprint (FoxIO), e.g. `t13d1516h2_8daaf6152771_02713d6af862`.
    pub ja4: Option<String>,
    /// ServerHello time (the final one after a HelloRetryRequest).
    pub server_hello_ts: Option<i64>,
    /// The server sent a HelloRetryRequest.
    pub hello_retry: bool,
    /// Negotiated version (supported_versions of the ServerHello when present, else its legacy
    /// version).
    pub version: Option<TlsVersion>,
    /// Negotiated cipher suite.
    pub cipher: Option<CipherSuite>,
    /// ALPN protocol selected by the server.
    pub alpn: Option<String>,
    /// The ServerHello echoed the client's non-empty session id.
    pub session_id_echoed: bool,
    /// Certificates in the server's Certificate message (TLS ≤ 1.2, in clear).
    pub cert_count: Option<u32>,
    /// Total bytes of those certificates.
    pub cert_chain_bytes: Option<u64>,
    /// The server accepted resumption: a session id echo or ticket (TLS ≤ 1.2, abbreviated
    /// handshake), or a pre_shared_key in the ServerHello (TLS 1.3).
    pub resumed: Option<bool>,
    /// When the client could send application data: both Finished messages seen. TLS ≤ 1.2:
    /// the later of `client_finished_ts` and `server_finished_ts` (full handshake: the
    /// server's Finished; abbreviated: the client's); TLS 1.3 (also after a HelloRetryRequest):
    /// `client_finished_ts`. `None` if the handshake did not finish in the capture. See
    /// docs/tls.md.
    pub handshake_done_ts: Option<i64>,
    /// `handshake_done_ts - client_hello_ts`.
    pub handshake_ns: Option<i64>,
    /// The client's Finished: TLS ≤ 1.2, the client's first handshake record after its
    /// ChangeCipherSpec; TLS 1.3, the client's first application_data (23) record after the
    /// ServerHello (without keys its Finished cannot be told apart from a client Certificate).
    pub client_finished_ts: Option<i64>,
    /// The server's Finished: TLS ≤ 1.2, the server's first handshake record after its
    /// ChangeCipherSpec; TLS 1.3, the last server record before `client_finished_ts` (the end of
    /// the server's first encrypted flight, which ends with its Finished).
    pub server_finished_ts: Option<i64>,
    /// The first alert seen in clear.
    pub alert: Option<Alert>,
    /// Before the handshake was done, a direction had a gap, bytes that are not TLS records,
    /// an undecodable ClientHello/ServerHello, or ended inside a record: parsing of that
    /// direction stopped there (later gaps change nothing: nothing more is read in clear).
    pub incomplete: bool,
}

named_enum! {
    /// The HTTP version of a request.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
    pub enum HttpVersion: as_str {
        /// HTTP/1.0.
        Http10 => "HTTP/1.0",
        /// HTTP/1.1.
        #[default]
        Http11 => "HTTP/1.1",
        /// HTTP/2 (one stream), prior knowledge, `Upgrade: h2c` or (decrypted) TLS with ALPN `h2`.
        Http2 => "HTTP/2",
        /// HTTP/3 (one request stream) over QUIC, decrypted with a key log.
        Http3 => "HTTP/3",
    }
}

/// One HTTP request and its response (one row per HTTP/1.x request or HTTP/2 stream): the
/// connection it was sent on and what an HTTP parser saw. The exchange's fields read through
/// the record (`record.method`).
#[derive(Debug, Clone, PartialEq)]
pub struct HttpRecord {
    /// The connection (`ConnectionRecord::conn_id`).
    pub conn_id: u64,
    /// The connection's client (after the application layer settled the roles).
    pub client: Endpoint,
    /// The connection's server.
    pub server: Endpoint,
    /// The request and its response.
    pub exchange: HttpExchange,
}

impl std::ops::Deref for HttpRecord {
    type Target = HttpExchange;
    fn deref(&self) -> &HttpExchange {
        &self.exchange
    }
}

impl std::ops::DerefMut for HttpRecord {
    fn deref_mut(&mut self) -> &mut HttpExchange {
        &mut self.exchange
    }
}

/// What an HTTP parser gives for one request and its response, without the connection (the
/// application layer makes it an [`HttpRecord`]).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct HttpExchange {
    /// 0 for the first request on the connection, then 1, 2, … (HTTP/2: in the order the
    /// streams' request HEADERS were sent).
    pub request_index: u32,
    /// HTTP/2 stream identifier, or HTTP/3's QUIC stream ID; `None` for HTTP/1.x (and an
    /// HTTP/3 stream ID above `u32::MAX`).
    pub stream_id: Option<u32>,
    /// Capture time of the first byte of the request.
    pub request_start_ts: i64,
    /// Capture time of the last byte of the request (head and body).
    pub request_end_ts: Option<i64>,
    /// Capture time of the first byte of the response.
    pub response_start_ts: Option<i64>,
    /// Capture time of the last byte of the response.
    pub response_end_ts: Option<i64>,
    /// Request method (HTTP/2: `:method`; `None` when a stream's `:method` was not read).
    pub method: Option<Text>,
    /// Host header (HTTP/2: `:authority`, else a `host` header).
    pub host: Option<Text>,
    /// Request target as sent (HTTP/2: `:path`; `None` when not read).
    pub path: Option<Text>,
    /// HTTP version.
    pub version: HttpVersion,
    /// Final response status (after any 1xx).
    pub status: Option<u16>,
    /// Request head bytes (request line and headers, with the blank line). HTTP/2: the
    /// HPACK-encoded header block bytes (HEADERS and CONTINUATION payloads without padding and
    /// priority fields, trailers included). HTTP/3: the QPACK-encoded field section bytes
    /// (HEADERS frame payloads, trailers included).
    pub request_header_bytes: u64,
    /// Request body bytes (by Content-Length or chunked, de-chunked size).
    pub request_body_bytes: u64,
    /// Response head bytes (of the final response). HTTP/2: HPACK-encoded bytes of the final
    /// response's header block (and of trailers), as for the request.
    pub response_header_bytes: Option<u64>,
    /// Response body bytes (HTTP/2: DATA payloads without padding).
    pub response_body_bytes: Option<u64>,
    /// The request and its response were both seen whole (no gap, no truncation; HTTP/2: both
    /// END_STREAM seen, no RST_STREAM).
    pub complete: bool,
    /// The response was `101 Switching Protocols`: HTTP/1 parsing stopped after it. On an
    /// `Upgrade: h2c` request answered by 101, the row is HTTP/2 stream 1 (the response fields
    /// are the HTTP/2 response's).
    pub upgraded: bool,
    /// The request's and response's header fields, only when header capture is on
    /// (`Analyzer::capture_headers`, the CLI's `--har`; docs/har.md); `None` otherwise (no
    /// allocation) and for a request whose head was not parsed.
    pub headers: Option<Box<crate::proto::headers::HttpHeaders>>,
    /// Inferred from the sizes and order of encrypted TLS records, without keys (docs/http.md,
    /// "HTTPS without keys"): `method`, `path` and `status` are `None`, `host` is the TLS
    /// server name, the times are estimates (each one the capture time of the segment
    /// completing a record), `request_body_bytes` / `response_body_bytes` hold the TLS record
    /// payload bytes of the request and the response (ciphertext with its overhead; the header
    /// sizes are 0 / `None`), and `complete` means a response was seen and the records could
    /// be framed to the end. False for rows parsed from HTTP bytes.
    pub inferred: bool,
}

impl HttpExchange {
    /// Bytes of memory the record holds, itself and on the heap (its texts and kept header
    /// fields): what a parser counts for the records it keeps ([`crate::tcp::StreamSink::held`]).
    pub(crate) fn held_bytes(&self) -> usize {
        fn text(t: &Option<Text>) -> usize {
            t.as_ref()
                .filter(|t| t.is_heap_allocated())
                .map_or(0, Text::capacity)
        }
        std::mem::size_of::<HttpExchange>()
            + text(&self.method)
            + text(&self.host)
            + text(&self.path)
            + self.headers.as_ref().map_or(0, |h| {
                std::mem::size_of::<crate::proto::headers::HttpHeaders>()
                    + h.request.heap_bytes()
                    + h.response.heap_bytes()
                    + h.status_text.as_ref().map_or(0, String::capacity)
            })
    }
}

named_enum! {
    /// Transport of a DNS message.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub enum DnsTransport: as_str {
        /// UDP.
        Udp => "udp",
        /// TCP (two-byte length framing).
        Tcp => "tcp",
    }
}

/// One DNS query and its response (one row per query message).
#[derive(Debug, Clone, PartialEq)]
pub struct DnsRecord {
    /// Capture time of the query.
    pub query_ts: i64,
    /// Frame index of the query.
    pub query_frame: u64,
    /// Client address and port.
    pub client_ip: std::net::IpAddr,
    /// Client port.
    pub client_port: u16,
    /// Server address.
    pub server_ip: std::net::IpAddr,
    /// Server port.
    pub server_port: u16,
    /// UDP or TCP.
    pub transport: DnsTransport,
    /// Transaction id.
    pub id: u16,
    /// Question name (lower-case, without the trailing dot; `.` for the root).
    pub qname: String,
    /// Question type.
    pub qtype: DnsType,
    /// Response code of the response.
    pub rcode: Option<Rcode>,
    /// Answer records in the response.
    pub answers: Option<u32>,
    /// A/AAAA addresses in the answer section.
    pub addresses: Vec<std::net::IpAddr>,
    /// The response had the TC (truncated) flag.
    pub truncated: Option<bool>,
    /// Capture time of the DNS response (an ICMP error is not a response: `None`).
    pub response_ts: Option<i64>,
    /// `response_ts - query_ts`: DNS responses only.
    pub latency_ns: Option<i64>,
    /// An ICMP/ICMPv6 destination unreachable quoting the query came back instead of a
    /// response: the query failed (it is not answered).
    pub icmp_unreachable: bool,
    /// Query → that ICMP error (the client's fail-fast time); `None` without one.
    pub icmp_error_ns: Option<i64>,
    /// A query with neither a DNS response nor an ICMP error: time until its first retry
    /// (a query with `retry_of` = this `query_frame`), else until the end of the capture or
    /// the retry window (`DnsConfig::retry_window_ns`, 10 s), whichever comes first.
    pub waited_ns: Option<i64>,
    /// `query_frame` of the earlier query this one retries: the latest query with the same
    /// question (name, type, class) from the same client address, with no DNS response yet,
    /// sent at most the retry window before, from the same port or with the same id (see
    /// `docs/dns.md`); to the same or another server.
    pub retry_of: Option<u64>,
}

impl DnsRecord {
    /// A DNS response matched the query (whatever its rcode). The one definition of
    /// "answered" used by the dns table, the figures and the report.
    pub fn answered(&self) -> bool {
        self.response_ts.is_some()
    }

    /// Neither a DNS response nor an ICMP error came back.
    pub fn unanswered(&self) -> bool {
        self.response_ts.is_none() && !self.icmp_unreachable
    }
}

/// One direction of a WebSocket connection (`WebSocketSession::from_client` / `from_server`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WsDirection {
    /// Frames read whole (data and control).
    pub frames: u64,
    /// Messages read whole (a text or binary frame with FIN, or the FIN continuation of a
    /// fragmented one).
    pub messages: u64,
    /// Of those, messages whose first frame had RSV1 set (`permessage-deflate`).
    pub compressed_messages: u64,
    /// Payload bytes of data frames (text, binary, continuation) as on the wire: compressed
    /// ones are not inflated; control frames are not counted.
    pub payload_bytes: u64,
    /// Ping frames.
    pub pings: u64,
    /// Pong frames.
    pub pongs: u64,
    /// The longest silence (ns): between the `101` and this direction's first bytes, between
    /// two of its segments, or, when it sent no close frame, from its last bytes to the
    /// connection's end.
    pub max_idle_ns: i64,
}

/// What the WebSocket parser saw on one connection, without the connection (the application
/// layer makes it a [`WebSocketRecord`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WebSocketSession {
    /// The upgrade request's `Host` header.
    pub host: Option<String>,
    /// The upgrade request's target.
    pub path: Option<String>,
    /// Capture time of the end of the `101 Switching Protocols` head.
    pub open_ts: i64,
    /// The server accepted `permessage-deflate` (`Sec-WebSocket-Extensions` of the `101`).
    pub deflate: bool,
    /// Frames sent by the client.
    pub from_client: WsDirection,
    /// Frames sent by the server.
    pub from_server: WsDirection,
    /// Pongs matched with a ping of the other side (same payload).
    pub ping_rtts: u64,
    /// Median round trip ping → pong over the first `MAX_RTT_SAMPLES` (lower median).
    pub ping_rtt_median_ns: Option<i64>,
    /// Longest round trip ping → pong.
    pub ping_rtt_max_ns: Option<i64>,
    /// Who sent the first close frame; `None`: no close frame (an abnormal end).
    pub close_initiator: Option<Side>,
    /// Status code of the first close frame (`None` when it had no payload).
    pub close_code: Option<u16>,
    /// Reason of the first close frame (invalid UTF-8 replaced).
    pub close_reason: Option<String>,
    /// Capture time of the first close frame.
    pub close_ts: Option<i64>,
    /// A gap in the capture or a frame breaking RFC 6455 affected the counts.
    pub damaged: bool,
}

/// One WebSocket connection (one row of the websocket table).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebSocketRecord {
    /// The connection (`ConnectionRecord::conn_id`).
    pub conn_id: u64,
    /// The connection's client.
    pub client: Endpoint,
    /// The connection's server.
    pub server: Endpoint,
    /// Over TLS (decrypted with a key log): `wss`.
    pub secure: bool,
    /// The HTTP/2 stream of the extended CONNECT that opened it (RFC 8441); `None`: the
    /// connection itself, after an HTTP/1.1 `101`.
    pub stream_id: Option<u32>,
    /// Capture time of the connection's last packet; over HTTP/2, of the stream's end (both
    /// END_STREAMs or RST_STREAM), or the connection's last packet when the stream was still
    /// open.
    pub end_ts: i64,
    /// What the parser saw.
    pub session: WebSocketSession,
}

impl WebSocketRecord {
    /// `ws://host/path` (`wss` over TLS); the server's address stands for a missing `Host`.
    pub fn url(&self) -> String {
        let scheme = if self.secure { "wss" } else { "ws" };
        let host = self
            .session
            .host
            .clone()
            .unwrap_or_else(|| match self.server.ip {
                IpAddr::V6(ip) => format!("[{ip}]:{}", self.server.port),
                IpAddr::V4(ip) => format!("{ip}:{}", self.server.port),
            });
        format!(
            "{scheme}://{host}{}",
            self.session.path.as_deref().unwrap_or("")
        )
    }

    /// From the `101` to the connection's last packet (ns).
    pub fn duration_ns(&self) -> i64 {
        self.end_ts.saturating_sub(self.session.open_ts).max(0)
    }

    /// Ended without a close frame from either side (FIN, RST or the end of the capture).
    pub fn abnormal(&self) -> bool {
        self.session.close_initiator.is_none()
    }
}

impl std::ops::Deref for WebSocketRecord {
    type Target = WebSocketSession;
    fn deref(&self) -> &WebSocketSession {
        &self.session
    }
}

named_enum! {
    /// What carried a TLS handshake (`TlsRecord::transport`).
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
    pub enum TlsTransport: as_str {
        /// TLS records over a TCP connection.
        #[default]
        Tcp => "tcp",
        /// CRYPTO frames of a QUIC connection (RFC 9001).
        Quic => "quic",
    }
}

named_enum! {
    /// How an established QUIC connection ended (`QuicRecord::ended_by`), told only when its
    /// 1-RTT packets were decrypted (a CONNECTION_CLOSE is encrypted).
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub enum QuicEnd: as_str {
        /// A CONNECTION_CLOSE frame was read (`close_initiator` says whose).
        ConnectionClose => "connection_close",
        /// No CONNECTION_CLOSE, and the capture went on for at least the idle timeout after the
        /// connection's last packet: both ends dropped it silently (RFC 9000 §10.1).
        IdleTimeout => "idle_timeout",
        /// No CONNECTION_CLOSE, and the capture ended (or the connection was evicted) less than
        /// an idle timeout after its last packet: it may still have been open.
        Open => "open",
    }
}

named_enum! {
    /// How a QUIC connection attempt went, as far as the capture shows (`QuicRecord::outcome`).
    /// Exactly one applies, tested in this order.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub enum QuicOutcome: as_str {
        /// The server sent a 1-RTT (short-header) packet, or the client finished its handshake
        /// (its Finished, read with a key log).
        Established => "established",
        /// The server answered with long-header packets (Initial, Handshake, Retry) but no
        /// 1-RTT packet was seen.
        HandshakeIncomplete => "handshake_incomplete",
        /// The server's only answer was a Version Negotiation packet.
        VersionNegotiation => "version_negotiation",
        /// An ICMP destination unreachable quoting the client's datagrams, nothing from the
        /// server.
        Unreachable => "unreachable",
        /// Nothing came back from the server.
        NoResponse => "no_response",
    }
}

/// One QUIC connection (RFC 9000): keyed by its UDP 4-tuple and connection IDs. Read from the
/// long headers in clear, the Initial packets (decrypted with the version's public keys) and,
/// with a key log, the Handshake packets. See docs/quic.md.
#[derive(Debug, Clone, PartialEq)]
pub struct QuicRecord {
    /// Frame index of the connection's first packet: unique among TCP and QUIC connections
    /// (a frame holds one or the other), and the `conn_id` of its TLS row.
    pub conn_id: u64,
    /// The client (sender of the first Initial).
    pub client: Endpoint,
    /// The server.
    pub server: Endpoint,
    /// Time of the first packet.
    pub start_ts: i64,
    /// Time of the last packet.
    pub end_ts: i64,
    /// Version of the client's first Initial.
    pub first_version: Option<u32>,
    /// Version of the connection: of the server's last long-header packet (other than Version
    /// Negotiation), else of the client's last one.
    pub version: Option<u32>,
    /// A Version Negotiation packet came from the server.
    pub version_negotiation: bool,
    /// The versions the server listed in its Version Negotiation packet.
    pub vn_versions: Vec<u32>,
    /// The server sent a Retry packet.
    pub retry: bool,
    /// Destination Connection ID of the client's first Initial (the original DCID).
    pub original_dcid: Option<Vec<u8>>,
    /// Source Connection ID of the client's first Initial.
    pub client_cid: Option<Vec<u8>>,
    /// Source Connection ID of the server's first Initial or Handshake packet (after a Retry
    /// the Retry's SCID is the one the client then uses: the same in practice).
    pub server_cid: Option<Vec<u8>>,
    /// How it went.
    pub outcome: QuicOutcome,
    /// First client Initial.
    pub client_initial_ts: Option<i64>,
    /// First server Initial.
    pub server_initial_ts: Option<i64>,
    /// First server 1-RTT (short-header) packet; it may carry 0.5-RTT data before the
    /// handshake is done.
    pub server_1rtt_ts: Option<i64>,
    /// When the client finished its handshake: with the Handshake keys (key log), the packet
    /// with the client's Finished; without, the client's first Handshake packet after the
    /// server's first Handshake packet (its Finished, or an ACK just before it).
    pub handshake_done_ts: Option<i64>,
    /// `handshake_done_ts - client_initial_ts`.
    pub handshake_ns: Option<i64>,
    /// The Handshake packets were decrypted with secrets from the key log.
    pub handshake_decrypted: bool,
    /// UDP datagrams client → server.
    pub datagrams_c2s: u64,
    /// UDP datagrams server → client.
    pub datagrams_s2c: u64,
    /// UDP payload bytes client → server (length on the wire).
    pub bytes_c2s: u64,
    /// UDP payload bytes server → client.
    pub bytes_s2c: u64,
    /// CRYPTO bytes received again at offsets already seen (Initial and, when decrypted,
    /// Handshake packets): retransmissions of the handshake.
    pub crypto_retransmitted_bytes: u64,
    /// Error code of a CONNECTION_CLOSE read in a decrypted packet (Initial, Handshake, or
    /// 1-RTT with the key log).
    pub close_error: Option<u64>,
    /// Who sent the first CONNECTION_CLOSE read (any packet number space).
    pub close_initiator: Option<Side>,
    /// Capture time of the first CONNECTION_CLOSE read.
    pub close_ts: Option<i64>,
    /// The idle timeout in force (ns): the smaller of the two sides' non-zero
    /// `max_idle_timeout` transport parameters (RFC 9000 §10.1); the client's alone when the
    /// server's (in EncryptedExtensions, encrypted) was not read. `None`: none advertised.
    pub idle_timeout_ns: Option<i64>,
    /// How the connection ended; `None` when the capture cannot tell: not established, or its
    /// 1-RTT packets were not decrypted (docs/quic.md, "Times and outcome").
    pub ended_by: Option<QuicEnd>,
    /// 1-RTT packets were decrypted with `CLIENT/SERVER_TRAFFIC_SECRET_0` from the key log
    /// (the fields below need it).
    pub one_rtt_decrypted: bool,
    /// The server's HANDSHAKE_DONE frame (1-RTT, with the key log).
    pub server_handshake_done_ts: Option<i64>,
    /// Key updates seen (a 1-RTT packet opened with the next key phase's key).
    pub key_updates: u64,
    /// 1-RTT packet numbers the client skipped: lost before the capture point (or never
    /// sent); [client, server].
    pub pn_gaps: [Option<u64>; 2],
    /// RTT samples from ACK frames, per direction of the acknowledged packets ([client's
    /// packets acknowledged by the server, server's packets acknowledged by the client]): an
    /// ACK whose Largest Acknowledged newly acknowledges an ack-eliciting 1-RTT packet, minus
    /// that packet's capture time (ACK delay included).
    pub rtt_samples: [u64; 2],
    /// The smallest of those samples.
    pub rtt_min: [Option<i64>; 2],
    /// Their median (of at most `MAX_RTT_SAMPLES` kept).
    pub rtt_median: [Option<i64>; 2],
    /// Client-initiated bidirectional streams (HTTP/3: one per request): the highest such
    /// stream ID seen in a STREAM frame, divided by 4, plus one (streams of a type open in
    /// order, RFC 9000 §2.1). `None` without 1-RTT decryption or such a stream.
    pub client_bidi_streams: Option<u64>,
    /// 0-RTT packets the client sent (early data on a resumed session, RFC 9001 §4.6.1;
    /// counted from their long headers, readable without keys).
    pub zero_rtt_packets: u64,
    /// Some of them were decrypted with the key log's `CLIENT_EARLY_TRAFFIC_SECRET`: their
    /// STREAM frames (requests sent before the handshake ended) are read as HTTP/3.
    pub zero_rtt_decrypted: bool,
    /// Whether the server accepted the 0-RTT data: an `early_data` extension in its
    /// EncryptedExtensions (read with the key log's Handshake keys). `None`: no 0-RTT packet,
    /// or EncryptedExtensions not read.
    pub zero_rtt_accepted: Option<bool>,
    /// New paths the connection moved to after it started (RFC 9000 §9): a client address or
    /// port not the first one, carrying short-header packets to one of the connection's IDs
    /// (those of the handshake, and with the key log those issued in NEW_CONNECTION_ID).
    pub migrations: u64,
    /// The client's address and port on the last new path (`None`: it never moved).
    pub migrated_client: Option<Endpoint>,
    /// STREAM frame data bytes [client → server, server → client] (copies sent again
    /// included).
    pub stream_bytes: [u64; 2],
    /// STREAM data bytes received again at offsets of their stream already seen (both
    /// directions; with the key log): retransmissions, and copies of data of a request
    /// stream already finished. Counted only while the connection's HTTP/3 streams are read
    /// (`QuicStats::h3_stream_limit` stops it).
    pub stream_retransmitted_bytes: u64,
}
