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

use crate::record::{HttpExchange, HttpVersion, Text};
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
    /// Memory the rows waiting to be taken hold (`HttpExchange::held_bytes` each).
    rows_bytes: usize,
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
            rows_bytes: 0,
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
        // The server's first HTTP/2 frame is its SETTINGS; session tickets (larger, TLS
        // records) may come before it.
        let plain = self.plaintext(len);
        if client {
            self.client_seen = true;
        } else if plain <= H2_PREFACE_MAX {
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
        self.server_seen = true;
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
        self.server_seen = false;
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
                        o.req_bytes = o
                            .req_bytes
                            .saturating_sub(self.first_client_len.unwrap_or(0));
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
            host: self.host.as_deref().map(Text::from),
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
            headers: None,
        });
        self.rows_bytes += self.rows.last().map_or(0, HttpExchange::held_bytes);
        self.next_index = self.next_index.saturating_add(1);
        self.stats.exchanges += 1;
    }

    /// Memory the rows waiting to be taken hold (counted in `StreamSink::held`).
    pub fn held(&self) -> usize {
        self.rows_bytes
    }

    /// The finished exchanges, when at least `min` (at least one) are waiting.
    pub fn take_finished(&mut self, min: usize) -> Vec<HttpExchange> {
        if self.rows.len() < min.max(1) {
            return Vec::new();
        }
        self.rows_bytes = 0;
        std::mem::take(&mut self.rows)
    }

    /// The connection ended: every exchange, the open one included, and the counters.
    pub fn into_records(mut self) -> (Vec<HttpExchange>, InferStats) {
        self.finish();
        (self.rows, self.stats)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const C: usize = 0;
    const S: usize = 1;
    const AD: u8 = super::super::CT_APPDATA;

    /// Runs records `(ts, dir, length)` of application data through an inference; the rows as
    /// (start, request end, response start, response end, request bytes, response bytes).
    fn run(proto: Proto, tls13: bool, recs: &[(i64, usize, u64)]) -> Vec<[Option<i64>; 6]> {
        let mut i = Inference::new(proto, tls13, if tls13 { 0x1301 } else { 0xc02f }, None);
        for &(ts, d, len) in recs {
            i.on_record(ts, d, AD, len);
        }
        let (rows, stats) = i.into_records();
        assert_eq!(stats.exchanges, rows.len() as u64);
        rows.iter()
            .map(|r| {
                [
                    Some(r.request_start_ts),
                    r.request_end_ts,
                    r.response_start_ts,
                    r.response_end_ts,
                    Some(r.request_body_bytes as i64),
                    r.response_body_bytes.map(|b| b as i64),
                ]
            })
            .collect()
    }

    #[test]
    fn a_client_burst_then_the_servers_is_one_exchange() {
        let rows = run(
            Proto::Http1,
            false,
            &[
                (10, C, 200),
                (11, C, 300),
                (20, S, 1000),
                (25, S, 16408),
                (30, C, 200),
                (40, S, 500),
            ],
        );
        assert_eq!(
            rows,
            [
                [
                    Some(10),
                    Some(11),
                    Some(20),
                    Some(25),
                    Some(500),
                    Some(17408)
                ],
                [Some(30), Some(30), Some(40), Some(40), Some(200), Some(500)],
            ]
        );
    }

    /// The rows waiting to be taken count in what the parser holds, until taken.
    #[test]
    fn rows_waiting_are_counted() {
        let mut i = Inference::new(Proto::Http1, false, 0xc02f, Some("a.example".repeat(9)));
        for k in 0..5 {
            i.on_record(10 * k, C, AD, 200);
            i.on_record(10 * k + 5, S, AD, 1000);
        }
        assert_eq!(i.rows.len(), 4, "the fifth is still open");
        let sum: usize = i.rows.iter().map(HttpExchange::held_bytes).sum();
        assert_eq!(i.held(), sum);
        assert!(
            sum > 4 * std::mem::size_of::<HttpExchange>(),
            "the host is on the heap"
        );
        assert!(i.take_finished(32).is_empty());
        assert_eq!(i.held(), sum, "nothing taken");
        assert_eq!(i.take_finished(1).len(), 4);
        assert_eq!(i.held(), 0);
    }

    #[test]
    fn alerts_and_other_record_types_are_no_exchange() {
        let mut i = Inference::new(Proto::Http1, true, 0x1301, None);
        i.on_record(1, C, AD, 200);
        i.on_record(2, S, AD, 600);
        // TLS 1.3 close_notify (2 + 1 + 16 bytes) from the client, a TLS 1.2-style alert.
        i.on_record(3, C, AD, 19);
        i.on_record(4, C, super::super::CT_ALERT, 26);
        let (rows, stats) = i.into_records();
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].response_end_ts, Some(2));
        assert_eq!(stats.control_records, 1);
    }

    #[test]
    fn http2_control_frames_and_prefaces_are_left_out() {
        // TLS 1.3: 17 bytes of overhead. Server SETTINGS (57), client preface (81), SETTINGS
        // ack (26) both ways, HEADERS (66), response; a client WINDOW_UPDATE (30) in the middle
        // of the download and a PING ack (34) do not split it.
        let recs = [
            (1, S, 57),
            (2, C, 81),
            (3, S, 26),
            (4, C, 66),
            (5, C, 26),
            (6, S, 139),
            (7, S, 16401),
            (8, C, 30),
            (9, S, 16401),
            (10, C, 34),
            (11, S, 4000),
            (20, C, 47),
            (21, S, 1176),
        ];
        let rows = run(Proto::Http2, true, &recs);
        assert_eq!(rows.len(), 2, "{rows:?}");
        assert_eq!(rows[0][0..4], [Some(4), Some(4), Some(6), Some(11)]);
        assert_eq!(rows[1][0..4], [Some(20), Some(20), Some(21), Some(21)]);
        // The same records read as HTTP/1.1 split at every client record.
        assert!(run(Proto::Http1, true, &recs).len() > 2);
    }

    #[test]
    fn undecided_alpn_becomes_http2_at_the_servers_settings() {
        // Client Finished + preface + HEADERS leave together; tickets, then SETTINGS.
        let recs = [
            (1, C, 81),
            (1, C, 66),
            (5, S, 282),
            (5, S, 282),
            (5, S, 57),
            (6, S, 26),
            (7, C, 26),
            (8, S, 139),
        ];
        let rows = run(Proto::Undecided, true, &recs);
        assert_eq!(rows.len(), 1, "{rows:?}");
        assert_eq!(rows[0][0..4], [Some(1), Some(1), Some(8), Some(8)]);
        assert_eq!(rows[0][4], Some(66), "the preface is not request bytes");
        // One ticket only before the SETTINGS: still not the response.
        let rows = run(
            Proto::Undecided,
            true,
            &[(1, C, 81), (2, C, 66), (5, S, 282), (5, S, 57), (8, S, 139)],
        );
        assert_eq!(rows[0][0..4], [Some(2), Some(2), Some(8), Some(8)]);
        // An HTTP/1.1 server's first large record decides HTTP/1.1.
        let rows = run(
            Proto::Undecided,
            true,
            &[(1, C, 120), (5, S, 1300), (9, C, 30), (10, S, 500)],
        );
        assert_eq!(rows.len(), 2, "{rows:?}");
    }

    #[test]
    fn tls13_session_tickets_are_not_the_response() {
        // A ticket before the request, its twin after it.
        let rows = run(
            Proto::Http1,
            true,
            &[(1, S, 282), (2, C, 113), (3, S, 282), (4, S, 1295)],
        );
        assert_eq!(rows[0][2..], [Some(4), Some(4), Some(113), Some(1295)]);
        // Both after the request (client Finished and request left together).
        let rows = run(
            Proto::Http1,
            true,
            &[(2, C, 113), (3, S, 282), (3, S, 282), (4, S, 1295)],
        );
        assert_eq!(rows[0][2..4], [Some(4), Some(4)]);
        // TLS 1.2 has its tickets in clear: equal records are response.
        let rows = run(
            Proto::Http1,
            false,
            &[(2, C, 113), (3, S, 282), (3, S, 282), (4, S, 1295)],
        );
        assert_eq!(rows[0][2], Some(3));
    }

    #[test]
    fn a_cut_ends_the_inference_and_the_open_exchange_is_incomplete() {
        let mut i = Inference::new(Proto::Http1, false, 0xc02f, Some("x.test".into()));
        i.on_record(1, C, AD, 200);
        i.on_record(2, S, AD, 600);
        i.on_record(3, C, AD, 200);
        i.on_record(4, S, AD, 600);
        i.cut();
        i.on_record(5, C, AD, 200);
        assert!(i.take_finished(3).is_empty());
        let (rows, stats) = i.into_records();
        assert_eq!(rows.len(), 2);
        assert!(rows[0].complete && !rows[1].complete);
        assert!(rows
            .iter()
            .all(|r| r.inferred && r.host.as_deref() == Some("x.test")));
        assert_eq!(stats.cut, 1);
    }

    #[test]
    fn overhead_by_suite() {
        assert_eq!(record_overhead(true, 0x1302), 17);
        assert_eq!(record_overhead(false, 0xc030), 24);
        assert_eq!(record_overhead(false, 0xcca9), 16);
        assert_eq!(record_overhead(false, 0x002f), 37);
    }
}
