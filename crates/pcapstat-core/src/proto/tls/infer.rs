//! Request/response exchanges inferred from the sizes and order of encrypted TLS records, for
//! connections that are not decrypted (no key log, or no secrets for this session).
//!
//! After the handshake, each whole record of either side is one call of
//! [`Inference::on_record`] (type, length, capture time of the segment completing it): nothing
//! of its payload is read or kept. A burst of client application records followed by the
//! server's records is one exchange: the request starts at the first client record of the
//! burst, its first response byte is the first server record after it, its last byte the last
//! server record before the next client burst or the end of the connection. Records that are
//! not requests or responses are left out by size and position (docs/http.md, "HTTPS without
//! keys"):
//!
//! - any record that is not application data (TLS ≤ 1.2 alerts, renegotiation, CCS);
//! - records whose estimated plaintext ([`Inference::plaintext`]) is at most
//!   [`TLS_CONTROL_MAX`] bytes (TLS 1.3 alerts such as close_notify, KeyUpdate);
//! - HTTP/2: records whose estimated plaintext is at most [`H2_CONTROL_MAX`] bytes (SETTINGS
//!   ack, WINDOW_UPDATE, PING, RST_STREAM, or two of them), the client's first record when at
//!   most [`H2_PREFACE_MAX`] bytes (connection preface with SETTINGS and WINDOW_UPDATE) and the
//!   server's first one when as small (its SETTINGS);
//! - server records while no request is open (TLS 1.3 NewSessionTickets, the HTTP/2 server's
//!   SETTINGS, server push), and, in TLS 1.3 before the first response, server records of the
//!   same length as a NewSessionTicket seen before the request (OpenSSL sends two tickets; the
//!   second may leave after the request).
//!
//! HTTP/2 requests that overlap (multiplexed) cannot be told apart: they make one exchange
//! (docs/http.md measures it). State per connection is a fixed handful of integers besides the
//! finished rows; no record is buffered.

use crate::record::{HttpExchange, HttpVersion};
use crate::stats::counters;

/// Estimated plaintext bytes at most which a record is taken for a TLS control message (TLS
/// 1.3 alert: 2 bytes, KeyUpdate: 5), not HTTP data.
pub const TLS_CONTROL_MAX: u64 = 8;
/// HTTP/2: estimated plaintext bytes at most which a record is taken for control frames only:
/// SETTINGS ack (9 bytes with its frame header), WINDOW_UPDATE and RST_STREAM (13), PING (17),
/// or two of them (≤ 26). The smallest request HEADERS frame seen in the lab is 30 bytes.
pub const H2_CONTROL_MAX: u64 = 26;
/// HTTP/2: estimated plaintext bytes at most of the client's first record for it to be the
/// connection preface only (24-byte preface, SETTINGS with up to six settings, WINDOW_UPDATE:
/// 24 + 45 + 13); larger, it is taken to carry the first request too.
pub const H2_PREFACE_MAX: u64 = 82;
/// TLS 1.3: NewSessionTicket records skipped at most after the request (same length as one seen
/// before it).
const MAX_LATE_TICKETS: u8 = 4;
/// TLS 1.3: estimated plaintext bytes at most of a record taken for a NewSessionTicket when
/// it and the next server record, both after the request and before any response, have the
/// same length (OpenSSL sends two equal tickets).
pub const TICKET_MAX: u64 = 1024;

/// Which HTTP the application data is, from ALPN.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Proto {
    Http1,
    Http2,
    /// TLS 1.3 (the server's ALPN choice is encrypted) with both `h2` and `http/1.1` offered:
    /// HTTP/1.1 rules until the server's first record that is neither a TLS control record
    /// nor a session ticket tells: an HTTP/2 server's first frame is its SETTINGS (at most
    /// [`H2_PREFACE_MAX`] bytes), an HTTP/1.1 server sends nothing that small.
    Undecided,
}

counters! {
        /// What the inference of exchanges from encrypted records did (docs/http.md, "HTTPS
        /// without keys"). All zero when every TLS connection was decrypted.
        #[derive(Debug, Clone, Default, PartialEq, Eq)]
        #[non_exhaustive]
        pub struct InferStats {
            /// TLS connections whose exchanges were inferred (handshake done, not decrypted, ALPN
            /// `h2` or `http/1.1`, or none on port 443).
            pub connections: u64,
            /// Exchanges inferred (http rows with `inferred` true).
            pub exchanges: u64,
            /// Application-data records counted into an exchange.
            pub records: u64,
            /// Records left out as control records by their size (alerts, KeyUpdate, HTTP/2
            /// control frames and connection preface).
            pub control_records: u64,
            /// Server records left out because no request was open (session tickets, HTTP/2
            /// SETTINGS, server push) or taken for a late session ticket.
            pub unsolicited_records: u64,
            /// Connections whose inference stopped early (a gap, or bytes that are not TLS
            /// records): their last exchange is not complete.
            pub cut: u64,
        }
}

/// The exchange being built.
#[derive(Debug, Clone, Copy)]
struct Open {
    start: i64,
    req_end: i64,
    req_bytes: u64,
    resp_start: Option<i64>,
    resp_end: i64,
    resp_bytes: u64,
}

/// Inference state of one connection.
#[derive(Debug)]
pub(crate) struct Inference {
    proto: Proto,
    tls13: bool,
    /// Estimated bytes a record adds to its plaintext (tag, explicit nonce, inner type).
    overhead: u64,
    host: Option<String>,
    client_seen: bool,
    server_seen: bool,
    /// TLS 1.3: a response record was counted (no session ticket after it).
    response_seen: bool,
    ticket_len: Option<u64>,
    /// While [`Proto::Undecided`]: the first client record's length, and the second one's time.
    first_client_len: Option<u64>,
    second_client_ts: Option<i64>,
    late_tickets: u8,
    /// TLS 1.3: the first server record of the first response was counted but may be a ticket
    /// (its length, while the next server record may still show it).
    tentative: Option<u64>,
    cur: Option<Open>,
    next_index: u32,
    cut: bool,
    rows: Vec<HttpExchange>,
    stats: InferStats,
}

/// Bytes a record adds to its plaintext, estimated from the version and the cipher suite.
pub(crate) fn record_overhead(tls13: bool, cipher: u16) -> u64 {
    match (tls13, cipher) {
        // TLS 1.3: 16-byte tag and the inner content type (CCM_8: 8-byte tag).
        (true, 0x1305) => 9,
        (true, _) => 17,
        // TLS 1.2 ChaCha20-Poly1305: tag only.
        (false, 0xcca8..=0xccae) => 16,
        // TLS 1.2 AES-GCM / AES-CCM: 8-byte explicit nonce and 16-byte tag.
        (false, c) if super::decrypt::Suite::of(c).is_some() => 24,
        (false, 0xc09c..=0xc0a3 | 0xc0ac..=0xc0af) => 24,
        // CBC and others: IV, HMAC-SHA1 and one padding byte at least.
        _ => 37,
    }
}

impl Inference {
    pub fn new(proto: Proto, tls13: bool, cipher: u16, host: Option<String>) -> Self {
        Inference {
            proto,
            tls13,
            overhead: record_overhead(tls13, cipher),
            host,
            client_seen: false,
            server_seen: false,
            response_seen: false,
            ticket_len: None,
            first_client_len: None,
            second_client_ts: None,
            late_tickets: 0,
            tentative: None,
            cur: None,
            next_index: 0,
            cut: false,
            rows: Vec::new(),
            stats: InferStats {
                connections: 1,
                ..InferStats::default()
            },
        }
    }

    /// Estimated plaintext bytes of a record of `len` payload bytes.
    fn plaintext(&self, len: u64) -> u64 {
        len.saturating_sub(self.overhead)
    }

    /// Whether a record of `len` bytes from the client (`client`) carries no HTTP data.
    fn is_control(&self, client: bool, len: u64) -> bool {
        let p = self.plaintext(len);
        if p <= TLS_CONTROL_MAX {
            return true;
        }
        if self.proto == Proto::Http2 {
            if p <= H2_CONTROL_MAX {
                return true;
            }
            let first = if client {
                !self.client_seen
            } else {
                !self.server_seen
            };
            if first && p <= H2_PREFACE_MAX {
                return true;
            }
        }
        false
    }

    /// One whole record after the handshake: `d` 0 = client, 1 = server; `ty` its content
    /// type; `len` its payload length; `ts` capture time of the segment completing it.
    pub fn on_record(&mut self, ts: i64, d: usize, ty: u8, len: u64) {
        if self.cut || ty != super::CT_APPDATA {
            return;
        }
        let client = d == 0;
        if self.proto == Proto::Undecided {
            self.decide(ts, client, len);
        }
        let control = self.is_control(client, len);
        if client {
            self.client_seen = true;
        } else {
            self.server_seen = true;
        }
        if control {
            self.stats.control_records += 1;
            return;
        }
        if client {
            match &mut self.cur {
                Some(o) if o.resp_start.is_none() => {
                    o.req_end = ts;
                    o.req_bytes += len;
                }
                _ => {
                    self.finish();
                    self.cur = Some(Open {
                        start: ts,
                        req_end: ts,
                        req_bytes: len,
                        resp_start: None,
                        resp_end: ts,
                        resp_bytes: 0,
                    });
                }
            }
            self.stats.records += 1;
            return;
        }
        let plain = self.plaintext(len);
        let Some(o) = self.cur.as_mut() else {
            if self.tls13 && !self.response_seen && self.ticket_len.is_none() {
                self.ticket_len = Some(len);
            }
            self.stats.unsolicited_records += 1;
            return;
        };
        if self.tls13
            && !self.response_seen
            && self.ticket_len == Some(len)
            && self.late_tickets < MAX_LATE_TICKETS
        {
            self.late_tickets += 1;
            self.stats.unsolicited_records += 1;
            return;
        }
        if let Some(first) = self.tentative.take() {
            if first == len {
                // Two equal records before the response: session tickets.
                o.resp_start = None;
                o.resp_bytes = o.resp_bytes.saturating_sub(first);
                self.ticket_len = Some(len);
                self.late_tickets = 2;
                self.stats.records = self.stats.records.saturating_sub(1);
                self.stats.unsolicited_records += 2;
                return;
            }
        } else if self.tls13
            && !self.response_seen
            && self.ticket_len.is_none()
            && plain <= TICKET_MAX
        {
            self.tentative = Some(len);
        }
        self.response_seen = self.tentative.is_none();
        o.resp_start.get_or_insert(ts);
        o.resp_end = ts;
        o.resp_bytes += len;
        self.stats.records += 1;
    }

    /// [`Proto::Undecided`]: note the first client records; decide at the server's first
    /// record that is not a TLS control record nor (TLS 1.3) a session ticket.
    fn decide(&mut self, ts: i64, client: bool, len: u64) {
        let p = self.plaintext(len);
        if client {
            if p > TLS_CONTROL_MAX {
                if self.first_client_len.is_none() {
                    self.first_client_len = Some(len);
                } else if self.second_client_ts.is_none() {
                    self.second_client_ts = Some(ts);
                }
            }
            return;
        }
        // Decided by the first exchange only (a small HTTP/1.1 chunk later is no SETTINGS).
        if self.next_index > 0 {
            self.proto = Proto::Http1;
            return;
        }
        // A session ticket, or a small HTTP/1.1 response: no decision yet (HTTP/1.1 rules).
        let ambiguous = self.ticket_len == Some(len) || (H2_PREFACE_MAX < p && p <= TICKET_MAX);
        if p <= TLS_CONTROL_MAX || ambiguous {
            return;
        }
        if p > H2_PREFACE_MAX {
            self.proto = Proto::Http1;
            return;
        }
        self.proto = Proto::Http2;
        // The server's SETTINGS comes before any response: what was counted as one was tickets.
        self.tentative = None;
        if let Some(o) = self.cur.as_mut() {
            if o.resp_start.take().is_some() {
                o.resp_bytes = 0;
            }
        }
        // The exchange opened by the client's preface starts at its next record.
        let preface = self
            .first_client_len
            .is_some_and(|l| self.plaintext(l) <= H2_PREFACE_MAX);
        if let (true, Some(o)) = (preface, self.cur.as_mut()) {
            if o.resp_start.is_none() {
                match self.second_client_ts {
                    Some(t) => {
                        o.start = t;
                        o.req_bytes = o.req_bytes.saturating_sub(self.first_client_len.unwrap_or(0));
                    }
                    None => self.cur = None,
                }
                self.stats.records = self.stats.records.saturating_sub(1);
                self.stats.control_records += 1;
            }
        }
    }

    /// The records can no longer be framed (a gap, bytes that are not TLS): the exchange being
    /// built ends incomplete and nothing more is inferred.
    pub fn cut(&mut self) {
        if !self.cut {
            self.cut = true;
            self.stats.cut += 1;
            self.finish();
        }
    }

    fn finish(&mut self) {
        self.tentative = None;
        self.response_seen |= self.cur.is_some_and(|o| o.resp_start.is_some());
        let Some(o) = self.cur.take() else {
            return;
        };
        let answered = o.resp_start.is_some();
        self.rows.push(HttpExchange {
            request_index: self.next_index,
            stream_id: None,
            request_start_ts: o.start,
            request_end_ts: Some(o.req_end),
            response_start_ts: o.resp_start,
            response_end_ts: answered.then_some(o.resp_end),
            method: None,
            host: self.host.clone(),
            path: None,
            version: match self.proto {
                Proto::Http1 | Proto::Undecided => HttpVersion::Http11,
                Proto::Http2 => HttpVersion::Http2,
            },
            status: None,
            request_header_bytes: 0,
            request_body_bytes: o.req_bytes,
            response_header_bytes: None,
            response_body_bytes: answered.then_some(o.resp_bytes),
            complete: answered && !self.cut,
            upgraded: false,
            inferred: true,
        });
        self.next_index = self.next_index.saturating_add(1);
        self.stats.exchanges += 1;
    }

    /// The finished exchanges, when at least `min` (at least one) are waiting.
    pub fn take_finished(&mut self, min: usize) -> Vec<HttpExchange> {
        if self.rows.len() < min.max(1) {
            return Vec::new();
        }
        std::mem::take(&mut self.rows)
    }

    /// The connection ended: every exchange, the open one included, and the counters.
    pub fn into_records(mut self) -> (Vec<HttpExchange>, InferStats) {
        self.finish();
        (self.rows, self.stats)
    }
}
