//! TLS handshake parser: one [`TlsRecord`] per connection whose client opened with a ClientHello.
//!
//! Frame first, then decode: each direction is cut into TLS records (5-byte header, buffered
//! until the record is whole — records span TCP segments); clear-text handshake records are
//! concatenated and cut into handshake messages (4-byte header — messages span records), and
//! only whole messages are decoded, with tls-parser. Records that cannot be read in clear
//! (application data, anything after a side's ChangeCipherSpec) are skipped without buffering:
//! only their type, their sender and the time they completed matter.
//!
//! Times are the capture time of the segment that completed the record (or the message).
//! What ends the handshake in each case is in `docs/tls.md` and on
//! [`TlsRecord::handshake_done_ts`].
//!
//! A gap in a direction, or bytes that are not TLS records, before the handshake is done set
//! `incomplete` and stop parsing that direction; nothing is guessed past it. Once the handshake
//! is done nothing more can be learned in clear, and the parser ignores the rest of the stream.

mod fingerprint;
#[cfg(test)]
mod tests;

use tls_parser::{parse_tls_message_handshake, TlsMessage, TlsMessageHandshake};

use crate::proto::{Probe, StreamParser};
use crate::record::{Side, TlsRecord};
use crate::tcp::Direction;

use fingerprint::{is_grease, md5_hex, raw_extensions, ClientHelloInfo};

/// Largest record payload accepted (2^14 plus the 2048 bytes of expansion TLS 1.2 allows);
/// a header claiming more is not TLS.
const MAX_RECORD_LEN: usize = 16384 + 2048;
/// Largest handshake message buffered (certificate chains are the big ones). A longer message
/// stops parsing of that direction (`incomplete`), so memory per connection stays bounded.
const MAX_HANDSHAKE_MSG: usize = 1 << 20;
/// ServerHello.random of a HelloRetryRequest (RFC 8446 §4.1.3: SHA-256 of "HelloRetryRequest").
const HRR_RANDOM: [u8; 32] = [
    0xcf, 0x21, 0xad, 0x74, 0xe5, 0x9a, 0x61, 0x11, 0xbe, 0x1d, 0x8c, 0x02, 0x1e, 0x65, 0xb8, 0x91,
    0xc2, 0xa2, 0x11, 0x16, 0x7a, 0xbb, 0x8c, 0x5e, 0x07, 0x9e, 0x09, 0xe2, 0xc8, 0xa8, 0x33, 0x9c,
];

const CT_CCS: u8 = 20;
const CT_ALERT: u8 = 21;
const CT_HANDSHAKE: u8 = 22;
const CT_APPDATA: u8 = 23;
const CT_HEARTBEAT: u8 = 24;

/// Framing state of one direction.
#[derive(Debug, Default)]
struct DirState {
    /// Header of the record being read, then its payload when that payload is kept.
    buf: Vec<u8>,
    /// Payload bytes still to skip of a record that is not kept, and its content type.
    skip: usize,
    skip_type: u8,
    /// Clear-text handshake bytes not yet cut into whole messages.
    hs: Vec<u8>,
    /// This side sent ChangeCipherSpec: its later records are encrypted.
    ccs: bool,
    /// Parsing of this direction stopped (gap or not TLS).
    stopped: bool,
}

/// Sans-IO TLS handshake parser for one TCP connection.
///
/// Feed it with [`StreamParser::on_data`] / [`on_gap`](StreamParser::on_gap) /
/// [`on_close`](StreamParser::on_close) and read the result with [`TlsParser::record`] or
/// [`TlsParser::into_record`]. `conn_id` of the record is left 0 for the caller to set.
#[derive(Debug, Default)]
pub struct TlsParser {
    rec: TlsRecord,
    dirs: [DirState; 2],
    client_session_id: Vec<u8>,
    /// The final (non-HRR) ServerHello was seen.
    server_hello: bool,
    /// The ServerHello negotiated TLS 1.3 (or a draft of it).
    tls13: bool,
    /// The server sent a message of a full TLS ≤ 1.2 handshake (Certificate, ServerKeyExchange,
    /// CertificateRequest, ServerHelloDone).
    full_handshake: bool,
    /// Time of the last whole server record.
    last_server_record_ts: Option<i64>,
    /// The handshake is done: nothing more to learn.
    done: bool,
}

impl TlsParser {
    /// A parser for a new connection.
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether the client's first bytes start a TLS handshake record holding a ClientHello
    /// (record type 22, version 3.x, a sane length, handshake type 1, client version 3.x).
    /// SSL 2.0-style ClientHellos are answered `No`.
    pub fn probe(head: &[u8]) -> Probe {
        type Check = (usize, fn(&[u8]) -> bool);
        let checks: [Check; 6] = [
            (0, |h| h[0] == CT_HANDSHAKE),
            (1, |h| h[1] == 3),
            (2, |h| h[2] <= 4),
            (4, |h| {
                let len = usize::from(u16::from_be_bytes([h[3], h[4]]));
                (1..=MAX_RECORD_LEN).contains(&len)
            }),
            (5, |h| h[5] == 1),
            (9, |h| h[9] == 3),
        ];
        for (idx, ok) in checks {
            if head.len() <= idx {
                return Probe::NeedMore;
            }
            if !ok(head) {
                return Probe::No;
            }
        }
        Probe::Yes
    }

    /// The record as far as the stream has been parsed.
    pub fn record(&self) -> &TlsRecord {
        &self.rec
    }

    /// The finished record (call after the connection ended).
    pub fn into_record(self) -> TlsRecord {
        self.rec
    }

    fn stop(&mut self, d: usize) {
        let st = &mut self.dirs[d];
        st.stopped = true;
        st.buf = Vec::new();
        st.hs = Vec::new();
        st.skip = 0;
        if !self.done {
            self.rec.incomplete = true;
        }
    }

    fn feed(&mut self, ts: i64, d: usize, mut bytes: &[u8]) {
        while !bytes.is_empty() && !self.done && !self.dirs[d].stopped {
            let (tls13, hrr) = (self.tls13, self.rec.hello_retry);
            let st = &mut self.dirs[d];
            if st.skip > 0 {
                let n = st.skip.min(bytes.len());
                st.skip -= n;
                bytes = &bytes[n..];
                if st.skip == 0 {
                    let ty = st.skip_type;
                    self.on_record(ts, d, ty, None);
                }
                continue;
            }
            if st.buf.len() < 5 {
                let n = (5 - st.buf.len()).min(bytes.len());
                st.buf.extend_from_slice(&bytes[..n]);
                bytes = &bytes[n..];
                if st.buf.len() < 5 {
                    return;
                }
                let ty = st.buf[0];
                let len = usize::from(u16::from_be_bytes([st.buf[3], st.buf[4]]));
                if !(CT_CCS..=CT_HEARTBEAT).contains(&ty) || st.buf[1] != 3 || len > MAX_RECORD_LEN
                {
                    self.stop(d);
                    return;
                }
                // Keep the payload only when it can be read in clear and is needed.
                // TLS 1.3 middlebox-compatibility CCS encrypts nothing (a ClientHello may follow it).
                let encrypted = st.ccs && !tls13 && !hrr;
                let keep = matches!(ty, CT_CCS | CT_ALERT) || (ty == CT_HANDSHAKE && !encrypted);
                if !keep {
                    st.buf.clear();
                    st.skip = len;
                    st.skip_type = ty;
                    if len == 0 {
                        self.on_record(ts, d, ty, None);
                    }
                    continue;
                }
                if len == 0 {
                    st.buf.clear();
                    self.on_record(ts, d, ty, Some(&[]));
                    continue;
                }
            }
            let len = usize::from(u16::from_be_bytes([st.buf[3], st.buf[4]]));
            let want = 5 + len - st.buf.len();
            let n = want.min(bytes.len());
            st.buf.extend_from_slice(&bytes[..n]);
            bytes = &bytes[n..];
            if st.buf.len() == 5 + len {
                let buf = std::mem::take(&mut self.dirs[d].buf);
                let ty = buf[0];
                self.on_record(ts, d, ty, buf.get(5..));
                let mut buf = buf;
                buf.clear();
                if !self.dirs[d].stopped {
                    self.dirs[d].buf = buf;
                }
            }
        }
    }

    /// A whole record: `payload` is `Some` for the records kept in clear.
    fn on_record(&mut self, ts: i64, d: usize, ty: u8, payload: Option<&[u8]>) {
        let server = d == 1;
        match ty {
            CT_CCS => {
                self.dirs[d].ccs = true;
                // TLS ≤ 1.2 abbreviated handshake: the server's CCS follows its ServerHello
                // (and possibly a NewSessionTicket) with no Certificate / key exchange.
                if server && self.server_hello && !self.tls13 && !self.full_handshake {
                    self.rec.resumed = Some(true);
                }
            }
            CT_ALERT => {
                if let Some(&[level, desc]) = payload {
                    if self.rec.alert.is_none() {
                        self.rec.alert = Some((level, desc));
                        self.rec.alert_by = Some(if server { Side::Server } else { Side::Client });
                        self.rec.alert_ts = Some(ts);
                    }
                }
            }
            CT_HANDSHAKE => match payload {
                Some(p) => self.on_handshake_bytes(ts, d, p),
                None => {
                    // An encrypted handshake record after this side's CCS: its Finished.
                    if server {
                        self.rec.server_finished_ts.get_or_insert(ts);
                    } else {
                        self.rec.client_finished_ts.get_or_insert(ts);
                    }
                }
            },
            // TLS 1.3: the client's first encrypted record after the ServerHello carries
            // its Finished; the server's flight ended with the last server record before it.
            CT_APPDATA if !server && self.tls13 && self.rec.client_finished_ts.is_none() => {
                self.rec.client_finished_ts = Some(ts);
                self.rec.server_finished_ts = self.last_server_record_ts;
            }
            _ => {}
        }
        if server {
            self.last_server_record_ts = Some(ts);
        }
        self.check_done();
    }

    fn check_done(&mut self) {
        if self.done || !self.server_hello {
            return;
        }
        let done = if self.tls13 {
            self.rec.client_finished_ts
        } else {
            match (self.rec.client_finished_ts, self.rec.server_finished_ts) {
                (Some(c), Some(s)) => Some(c.max(s)),
                _ => None,
            }
        };
        if let Some(t) = done {
            self.done = true;
            self.rec.handshake_done_ts = Some(t);
            self.rec.handshake_ns = self.rec.client_hello_ts.and_then(|c| t.checked_sub(c));
            for st in &mut self.dirs {
                st.buf = Vec::new();
                st.hs = Vec::new();
            }
        }
    }

    fn on_handshake_bytes(&mut self, ts: i64, d: usize, payload: &[u8]) {
        self.dirs[d].hs.extend_from_slice(payload);
        loop {
            let hs = &self.dirs[d].hs;
            if hs.len() < 4 {
                return;
            }
            let len = (usize::from(hs[1]) << 16) | (usize::from(hs[2]) << 8) | usize::from(hs[3]);
            if len > MAX_HANDSHAKE_MSG {
                self.stop(d);
                return;
            }
            if hs.len() < 4 + len {
                return;
            }
            let msg: Vec<u8> = self.dirs[d].hs.drain(..4 + len).collect();
            if !self.on_message(ts, d, &msg) {
                self.stop(d);
                return;
            }
            if self.dirs[d].stopped {
                return;
            }
        }
    }

    /// One whole clear-text handshake message. Returns false when a message we need could
    /// not be decoded (the direction then stops).
    fn on_message(&mut self, ts: i64, d: usize, msg: &[u8]) -> bool {
        let server = d == 1;
        let ty = msg[0];
        match (server, ty) {
            (false, 1) => {
                if self.rec.client_hello_ts.is_some() {
                    return true; // second ClientHello (after a HelloRetryRequest)
                }
                let Ok((_, TlsMessage::Handshake(TlsMessageHandshake::ClientHello(ch)))) =
                    parse_tls_message_handshake(msg)
                else {
                    return false;
                };
                let info = ClientHelloInfo::from_hello(&ch);
                let r = &mut self.rec;
                r.client_hello_ts = Some(ts);
                r.sni.clone_from(&info.sni);
                r.alpn_offered = info
                    .alpn
                    .iter()
                    .map(|a| String::from_utf8_lossy(a).into_owned())
                    .collect();
                r.versions_offered = info.versions_offered();
                r.cipher_suites_offered = u32::try_from(info.ciphers.len()).unwrap_or(u32::MAX);
                r.session_id_len = u8::try_from(info.session_id.len()).unwrap_or(u8::MAX);
                r.session_ticket_offered = info.session_ticket_non_empty;
                r.psk_offered = info.psk;
                let ja3 = info.ja3();
                r.ja3_hash = Some(md5_hex(&ja3));
                r.ja3 = Some(ja3);
                r.ja4 = Some(info.ja4());
                self.client_session_id = info.session_id;
            }
            (true, 2) => return self.on_server_hello(ts, msg),
            (true, 11) if !self.tls13 => {
                self.full_handshake = true;
                self.rec.resumed.get_or_insert(false);
                if let Ok((_, TlsMessage::Handshake(TlsMessageHandshake::Certificate(c)))) =
                    parse_tls_message_handshake(msg)
                {
                    let n = c.cert_chain.len();
                    self.rec.cert_count = Some(u32::try_from(n).unwrap_or(u32::MAX));
                    self.rec.cert_chain_bytes =
                        Some(c.cert_chain.iter().map(|c| c.data.len() as u64).sum());
                }
            }
            (true, 12..=14) if !self.tls13 => {
                self.full_handshake = true;
                self.rec.resumed.get_or_insert(false);
            }
            _ => {}
        }
        true
    }

    fn on_server_hello(&mut self, ts: i64, msg: &[u8]) -> bool {
        let parsed = parse_tls_message_handshake(msg);
        let (legacy, random, sid, cipher, ext) = match &parsed {
            Ok((_, TlsMessage::Handshake(hs))) => match hs {
                TlsMessageHandshake::ServerHello(sh) => (
                    sh.version.0,
                    sh.random,
                    sh.session_id.unwrap_or_default(),
                    sh.cipher.0,
                    sh.ext.unwrap_or_default(),
                ),
                TlsMessageHandshake::ServerHelloV13Draft18(sh) => (
                    sh.version.0,
                    sh.random,
                    &[][..],
                    sh.cipher.0,
                    sh.ext.unwrap_or_default(),
                ),
                _ => return false,
            },
            _ => match draft_server_hello(msg) {
                Some(sh) => sh,
                None => return false,
            },
        };
        let mut selected_version = None;
        let mut alpn = None;
        let mut psk = false;
        for (ty, whole) in raw_extensions(ext) {
            let data = whole.get(4..).unwrap_or_default();
            match ty {
                43 if data.len() == 2 => {
                    let v = u16::from_be_bytes([data[0], data[1]]);
                    if !is_grease(v) {
                        selected_version = Some(v);
                    }
                }
                16 => {
                    // protocol_name_list with exactly one name: len16, len8, name.
                    if let Some(&n) = data.get(2) {
                        if let Some(name) = data.get(3..3 + usize::from(n)) {
                            alpn = Some(String::from_utf8_lossy(name).into_owned());
                        }
                    }
                }
                41 => psk = true,
                _ => {}
            }
        }
        let version = selected_version.unwrap_or(legacy);
        let r = &mut self.rec;
        r.version = Some(version);
        r.cipher = Some(cipher);
        if random == HRR_RANDOM {
            r.hello_retry = true;
            return true;
        }
        if self.server_hello {
            return true; // a second ServerHello: renegotiation in clear, keep the first
        }
        self.server_hello = true;
        self.tls13 = version == 0x0304 || (version >> 8) == 0x7f;
        r.server_hello_ts = Some(ts);
        r.alpn = alpn;
        r.session_id_echoed = !sid.is_empty() && sid == self.client_session_id.as_slice();
        if self.tls13 {
            r.resumed = Some(psk);
        } else if r.session_id_echoed {
            r.resumed = Some(true);
        }
        true
    }
}

impl StreamParser for TlsParser {
    fn on_data(&mut self, ts_ns: i64, dir: Direction, bytes: &[u8]) {
        self.feed(ts_ns, dir_index(dir), bytes);
    }

    fn on_gap(&mut self, _ts_ns: i64, dir: Direction, _len: u64) {
        let d = dir_index(dir);
        if !self.done && !self.dirs[d].stopped {
            self.stop(d);
        }
    }

    fn on_close(&mut self, _ts_ns: i64, dir: Direction) {
        let d = dir_index(dir);
        let st = &self.dirs[d];
        // The direction ended inside a record: those bytes could not be parsed.
        if !self.done && !st.stopped && (!st.buf.is_empty() || st.skip > 0) {
            self.stop(d);
        }
    }
}

/// (version, random, session id, cipher, extensions) of a ServerHello.
type ServerHelloParts<'a> = (u16, &'a [u8], &'a [u8], u16, &'a [u8]);

/// A ServerHello of TLS 1.3 drafts 19–21 (version 0x7f13–0x7f15), which tls-parser does not
/// read: version, random, cipher suite, extensions — no session id, no compression method.
fn draft_server_hello(msg: &[u8]) -> Option<ServerHelloParts<'_>> {
    let body = msg.get(4..)?;
    let version = u16::from_be_bytes([*body.first()?, *body.get(1)?]);
    if version >> 8 != 0x7f {
        return None;
    }
    let random = body.get(2..34)?;
    let cipher = u16::from_be_bytes([*body.get(34)?, *body.get(35)?]);
    let ext_len = usize::from(u16::from_be_bytes([*body.get(36)?, *body.get(37)?]));
    let ext = body.get(38..38 + ext_len)?;
    Some((version, random, &[], cipher, ext))
}

fn dir_index(dir: Direction) -> usize {
    match dir {
        Direction::ClientToServer => 0,
        Direction::ServerToClient => 1,
    }
}
