//! TLS handshake parser: one [`TlsHandshake`] per connection whose client opened with a ClientHello.
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
//! [`TlsHandshake::handshake_done_ts`].
//!
//! A gap in a direction, or bytes that are not TLS records, before the handshake is done set
//! `incomplete` and stop parsing that direction; nothing is guessed past it. Once the handshake
//! is done nothing more can be learned in clear, and the parser ignores the rest of the stream —
//! unless a [`KeyLog`] holds this session's secrets ([`TlsParser::with_keylog`]): then each
//! encrypted record is buffered whole (one record at most per direction), decrypted
//! (`decrypt.rs` has the suites and the key schedule), TLS 1.3 handshake messages are read from
//! the plaintext (the client's Finished ends the handshake exactly), and the application data
//! comes out as [`AppData`] for the caller to take with [`TlsParser::take_app_data`].

pub(crate) mod decrypt;
mod fingerprint;
pub(crate) mod infer;
pub mod keylog;
#[cfg(test)]
mod tests;

use crate::stats::counters;
use std::sync::Arc;

use tls_parser::{parse_tls_message_handshake, TlsMessage, TlsMessageHandshake};

use decrypt::{RecordKey, Suite};
pub use infer::InferStats;
pub use keylog::{EmbeddedKeys, KeyLog, KeyLogError, KeyLogStats, Keys, SessionSecrets};

use infer::{Inference, Proto};

use crate::proto::Probe;
use crate::record::{Alert, HttpExchange, Side, TlsHandshake};
use crate::tcp::{Direction, StreamSink};
use crate::wire::{AlertDescription, AlertLevel, CipherSuite, TlsVersion};

use fingerprint::{is_grease, md5_hex, raw_extensions, ClientHelloInfo};

/// Largest record payload accepted (2^14 plus the 2048 bytes of expansion TLS 1.2 allows);
/// a header claiming more is not TLS.
const MAX_RECORD_LEN: usize = 16384 + 2048;
/// The `quic_transport_parameters` extension (RFC 9001 §8.2).
const QUIC_TRANSPORT_PARAMETERS: u16 = 57;

/// Most entries kept in a record's ClientHello lists (`alpn_offered`, `versions_offered`);
/// more set [`TlsHandshake::client_hello_truncated`](crate::record::TlsHandshake).
pub const MAX_KEPT_LIST: usize = 64;
/// Longest name kept from a ClientHello (`sni`, each `alpn_offered` entry), in bytes (cut at
/// a character boundary).
pub const MAX_KEPT_NAME_BYTES: usize = 256;
/// Longest JA3 string kept (bytes); `ja3_hash` is the MD5 of the whole string.
pub const MAX_KEPT_JA3_BYTES: usize = 4096;

/// `s`, at most `max` bytes cut at a character boundary; sets `cut` when it was cut.
fn capped(s: &str, max: usize, cut: &mut bool) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    *cut = true;
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s.get(..end).unwrap_or_default().to_string()
}

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

/// Decrypted application data waiting in a parser beyond which more is dropped (counted in
/// [`TlsDecryptStats::app_bytes_dropped`]) until the caller takes it.
pub const MAX_PENDING_APP_DATA: usize = 4 << 20;

counters! {
    /// What decryption did (sum over connections for a capture). All zero without a key log.
    #[derive(Debug, Clone, Default, PartialEq, Eq)]
    #[non_exhaustive]
    pub struct TlsDecryptStats {
        /// Connections whose records could be decrypted (key found, suite supported).
        pub sessions: u64,
        /// ServerHellos whose client random has no usable secrets in the key log (or, TLS 1.3, whose
        /// application secrets are missing when the handshake ends).
        pub no_key: u64,
        /// ServerHellos with secrets but a cipher suite that is not decrypted (CBC, CCM, …).
        pub unsupported_cipher: u64,
        /// Records that failed authentication (wrong key, damaged bytes): that direction is not
        /// decrypted further.
        pub auth_failures: u64,
        /// Records decrypted.
        pub records: u64,
        /// Application-data plaintext bytes delivered.
        pub app_bytes: u64,
        /// Application-data plaintext bytes dropped at `MAX_PENDING_APP_DATA`.
        pub app_bytes_dropped: u64,
    }
}

/// Decrypted application data of one record, or the loss of a direction's plaintext.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AppData {
    /// The plaintext of one application_data record.
    Data {
        /// Sender.
        dir: Direction,
        /// Capture time of the segment holding the record's first byte (its header).
        first_ts: i64,
        /// Capture time of the segment that completed the record.
        last_ts: i64,
        /// The plaintext (TLS 1.3: without content type and padding).
        bytes: Vec<u8>,
    },
    /// From here on this direction's plaintext is missing (a gap, an authentication failure,
    /// the stream ended inside a record, or plaintext dropped at the limit).
    Lost {
        /// Sender.
        dir: Direction,
        /// Capture time of the event.
        ts: i64,
    },
}

/// Decryption state of one connection.
#[derive(Debug)]
struct Crypto {
    suite: Suite,
    secrets: SessionSecrets,
    /// Current key per direction (0 = client).
    keys: [Option<RecordKey>; 2],
    /// TLS ≤ 1.2: keys taking effect at each side's ChangeCipherSpec.
    pending: [Option<RecordKey>; 2],
    /// Direction no longer decrypted (authentication failure, missing secret, gap).
    failed: [bool; 2],
}

/// Capacity a record or handshake buffer keeps between uses; a larger one (a 16 KiB record, a
/// handshake message of up to `MAX_HANDSHAKE_MSG` that came in pieces) is given back once
/// read, so that a connection lingering in the flow table after its close holds little.
const KEPT_BUF_CAPACITY: usize = 4096;

/// Cuts the first `n` bytes (at most `buf.len()`) off `buf`. When they are all of it, the
/// buffer itself is handed over (no copy) and `buf` starts empty again; otherwise they are
/// copied out and `buf` keeps the rest, its capacity cut back when large.
fn take_front(buf: &mut Vec<u8>, n: usize) -> Vec<u8> {
    if n >= buf.len() {
        return std::mem::take(buf);
    }
    let msg = buf[..n].to_vec();
    buf.drain(..n);
    if buf.capacity() > KEPT_BUF_CAPACITY && buf.len() <= KEPT_BUF_CAPACITY / 2 {
        buf.shrink_to(KEPT_BUF_CAPACITY);
    }
    msg
}

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
    /// Capture time of the segment holding the first byte of the record being read.
    rec_start_ts: i64,
    /// Payload length of the record being read or skipped.
    rec_len: u16,
    /// Parsing of this direction stopped (gap or not TLS).
    stopped: bool,
}

/// Sans-IO TLS handshake parser for one TCP connection.
///
/// Feed it with [`StreamSink::on_data`] / [`on_gap`](StreamSink::on_gap) /
/// [`on_close`](StreamSink::on_close) and read the result with [`TlsParser::record`] or
/// [`TlsParser::into_record`]. `conn_id` of the record is left 0 for the caller to set.
#[derive(Debug, Default)]
pub struct TlsParser {
    rec: TlsHandshake,
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
    /// The handshake is done: nothing more to learn in clear.
    done: bool,
    keys: Keys,
    client_random: Option<[u8; 32]>,
    /// QUIC: the ClientHello's `max_idle_timeout` transport parameter (ms; RFC 9000 §18.2).
    client_quic_idle_timeout_ms: Option<u64>,
    crypto: Option<Box<Crypto>>,
    app_data: Vec<AppData>,
    app_data_bytes: usize,
    decrypt_stats: TlsDecryptStats,
    /// Infer exchanges from the records when not decrypted ([`TlsParser::infer_http`]): the
    /// protocol assumed without ALPN (`None`: no inference without ALPN).
    infer_default: Option<Option<Proto>>,
    /// The inference, from the end of the handshake of a connection that is not decrypted.
    infer: Option<Box<Inference>>,
}

impl TlsParser {
    #[cfg_attr(not(any(test, feature = "fuzzing")), allow(dead_code))] // used by tests and fuzzing
    /// A parser for a new connection.
    pub fn new() -> Self {
        Self::default()
    }

    /// A parser that decrypts the connection when `keylog` holds its secrets (looked up once,
    /// at the ServerHello). The caller must take the plaintext with
    /// [`take_app_data`](TlsParser::take_app_data) after each call (at most
    /// [`MAX_PENDING_APP_DATA`] bytes are kept).
    #[cfg_attr(not(any(test, feature = "fuzzing")), allow(dead_code))] // used by tests and fuzzing
    pub fn with_keylog(keylog: Option<Arc<KeyLog>>) -> Self {
        Self::with_keys(Keys::new(keylog, None))
    }

    /// [`TlsParser::with_keylog`] with a given key log and the secrets embedded in the capture.
    pub fn with_keys(keys: Keys) -> Self {
        TlsParser {
            keys,
            ..Self::default()
        }
    }

    /// The application data decrypted since the last call, in stream order per direction.
    pub fn take_app_data(&mut self) -> Vec<AppData> {
        self.app_data_bytes = 0;
        std::mem::take(&mut self.app_data)
    }

    /// Infer request/response exchanges from the encrypted records when this connection is not
    /// decrypted (`infer.rs`): with ALPN `h2` as HTTP/2, `http/1.1` as HTTP/1.1, and without ALPN
    /// as HTTP/1.1 when `no_alpn_is_http` (the server port is 443).
    pub fn infer_http(&mut self, no_alpn_is_http: bool) {
        self.infer_default = Some(no_alpn_is_http.then_some(Proto::Http1));
    }

    /// The inferred exchanges finished so far, when at least `min` are waiting.
    pub fn take_inferred(&mut self, min: usize) -> Vec<HttpExchange> {
        self.infer
            .as_mut()
            .map(|i| i.take_finished(min))
            .unwrap_or_default()
    }

    /// Every inferred exchange (the open one included) and the inference counters (the
    /// connection ended).
    pub fn take_all_inferred(&mut self) -> (Vec<HttpExchange>, InferStats) {
        self.infer
            .take()
            .map(|i| i.into_records())
            .unwrap_or_default()
    }

    /// Whether exchanges are being inferred (the handshake is done and not decrypted).
    pub fn inferring(&self) -> bool {
        self.infer.is_some()
    }

    /// At the end of the handshake: start inferring when asked and not decrypting.
    fn start_inference(&mut self) {
        let Some(default) = self.infer_default else {
            return;
        };
        if self.crypto.is_some() {
            return;
        }
        let offered = |p: &str| self.rec.alpn_offered.iter().any(|a| a == p);
        let proto = match self.rec.alpn.as_deref() {
            Some("h2") => Some(Proto::Http2),
            Some("http/1.1") => Some(Proto::Http1),
            Some(_) => None,
            // TLS 1.3: the server's choice is encrypted; the client's offer narrows it.
            None if self.tls13 && !self.rec.alpn_offered.is_empty() => {
                match (offered("h2"), offered("http/1.1")) {
                    (true, true) => Some(Proto::Undecided),
                    (true, false) => Some(Proto::Http2),
                    (false, true) => Some(Proto::Http1),
                    (false, false) => None,
                }
            }
            None => default,
        };
        let (Some(proto), Some(cipher)) = (proto, self.rec.cipher) else {
            return;
        };
        self.infer = Some(Box::new(Inference::new(
            proto,
            self.tls13,
            cipher.0,
            self.rec.sni.clone(),
        )));
    }

    /// The ClientHello's random, once read.
    pub(crate) fn client_random(&self) -> Option<[u8; 32]> {
        self.client_random
    }

    /// QUIC: the `max_idle_timeout` of the ClientHello's `quic_transport_parameters` (ms), once
    /// read.
    pub(crate) fn client_quic_idle_timeout_ms(&self) -> Option<u64> {
        self.client_quic_idle_timeout_ms
    }

    /// Sets the selected ALPN (QUIC: read from EncryptedExtensions outside TLS records).
    pub(crate) fn set_alpn(&mut self, alpn: String) {
        self.rec.alpn = Some(alpn);
    }

    /// Decryption counters of this connection.
    pub fn decrypt_stats(&self) -> &TlsDecryptStats {
        &self.decrypt_stats
    }

    /// Whether direction `d`'s records are being (or will be, TLS ≤ 1.2 before its CCS)
    /// decrypted.
    fn decrypting(&self, d: usize) -> bool {
        self.crypto
            .as_ref()
            .is_some_and(|c| !c.failed[d] && (c.keys[d].is_some() || c.pending[d].is_some()))
    }

    fn push_app(&mut self, item: AppData) {
        if let AppData::Data {
            bytes,
            dir,
            last_ts,
            ..
        } = &item
        {
            if self.app_data_bytes + bytes.len() > MAX_PENDING_APP_DATA {
                self.decrypt_stats.app_bytes_dropped += bytes.len() as u64;
                let lost = AppData::Lost {
                    dir: *dir,
                    ts: *last_ts,
                };
                if self.app_data.last() != Some(&lost) {
                    self.app_data.push(lost);
                }
                return;
            }
            self.app_data_bytes += bytes.len();
            self.decrypt_stats.app_bytes += bytes.len() as u64;
        }
        self.app_data.push(item);
    }

    /// Direction `d` is not decrypted any further.
    fn lose_plaintext(&mut self, ts: i64, d: usize) {
        if let Some(c) = self.crypto.as_mut() {
            if !c.failed[d] {
                c.failed[d] = true;
                c.keys[d] = None;
                c.pending[d] = None;
                self.app_data.push(AppData::Lost { dir: dir_of(d), ts });
            }
        }
    }

    /// At the final ServerHello: find the session's secrets and set up the keys.
    fn setup_keys(&mut self, cipher: u16, server_random: &[u8]) {
        let Some(secrets) = self.keys.lookup(self.client_random.as_ref()) else {
            return;
        };
        let usable = secrets.as_ref().is_some_and(|s| {
            if self.tls13 {
                s.client_handshake.is_some() && s.server_handshake.is_some()
            } else {
                s.master_secret.is_some()
            }
        });
        let Some(secrets) = secrets.filter(|_| usable) else {
            self.decrypt_stats.no_key += 1;
            return;
        };
        // TLS 1.3 drafts (0x7fxx) used other key-schedule labels: not decrypted.
        let draft = self.rec.version.is_some_and(|v| v.0 >> 8 == 0x7f);
        let Some(suite) = Suite::of(cipher).filter(|s| s.tls13 == self.tls13 && !draft) else {
            self.decrypt_stats.unsupported_cipher += 1;
            return;
        };
        let mut c = Crypto {
            suite,
            secrets,
            keys: [None, None],
            pending: [None, None],
            failed: [false, false],
        };
        if self.tls13 {
            let ch = c.secrets.client_handshake.as_deref().unwrap_or_default();
            let sh = c.secrets.server_handshake.as_deref().unwrap_or_default();
            c.keys = [RecordKey::tls13(suite, ch), RecordKey::tls13(suite, sh)];
        } else if let (Some(ms), Some(cr)) =
            (c.secrets.master_secret.as_deref(), self.client_random)
        {
            if let Some((ck, sk)) = decrypt::tls12_keys(suite, ms, &cr, server_random) {
                c.pending = [Some(ck), Some(sk)];
            }
        }
        if c.keys.iter().chain(&c.pending).all(Option::is_none) {
            self.decrypt_stats.no_key += 1;
            return;
        }
        self.decrypt_stats.sessions += 1;
        self.crypto = Some(Box::new(c));
    }

    /// Whether a record of type `ty` from direction `d` is encrypted.
    fn is_encrypted(&self, d: usize, ty: u8) -> bool {
        if self.tls13 {
            self.server_hello && ty == CT_APPDATA
        } else {
            self.dirs[d].ccs && ty != CT_CCS
        }
    }

    /// One whole encrypted record of a direction being decrypted.
    fn on_encrypted(&mut self, start_ts: i64, ts: i64, d: usize, record: &[u8]) {
        let Some((header, payload)) = record.split_first_chunk::<5>() else {
            return;
        };
        let ty = header[0];
        let opened = self
            .crypto
            .as_mut()
            .and_then(|c| c.keys[d].as_mut())
            .map(|k| k.open(header, payload));
        match opened {
            Some(Some((inner, plain))) => {
                self.decrypt_stats.records += 1;
                match inner {
                    CT_HANDSHAKE if self.tls13 => self.on_tls13_handshake(ts, d, &plain),
                    CT_HANDSHAKE => self.on_record(ts, d, CT_HANDSHAKE, None),
                    CT_APPDATA => {
                        self.push_app(AppData::Data {
                            dir: dir_of(d),
                            first_ts: start_ts,
                            last_ts: ts,
                            bytes: plain,
                        });
                        self.after_record(ts, d);
                    }
                    _ => self.after_record(ts, d),
                }
            }
            Some(None) => {
                self.decrypt_stats.auth_failures += 1;
                self.lose_plaintext(ts, d);
                self.on_record(ts, d, ty, None);
            }
            None => {
                // No key for this direction (TLS 1.2 record before its CCS cannot happen here).
                self.lose_plaintext(ts, d);
                self.on_record(ts, d, ty, None);
            }
        }
    }

    /// Decrypted TLS 1.3 handshake bytes (messages span records): Finished switches that
    /// direction to its application key, KeyUpdate to the next one.
    fn on_tls13_handshake(&mut self, ts: i64, d: usize, plain: &[u8]) {
        self.dirs[d].hs.extend_from_slice(plain);
        loop {
            let hs = &self.dirs[d].hs;
            if hs.len() < 4 {
                break;
            }
            let len = (usize::from(hs[1]) << 16) | (usize::from(hs[2]) << 8) | usize::from(hs[3]);
            if len > MAX_HANDSHAKE_MSG {
                self.dirs[d].hs = Vec::new();
                self.lose_plaintext(ts, d);
                break;
            }
            if hs.len() < 4 + len {
                break;
            }
            let ty = hs[0];
            let msg = take_front(&mut self.dirs[d].hs, 4 + len);
            match ty {
                // EncryptedExtensions: the TLS 1.3 server's ALPN choice.
                8 if d == 1 => {
                    let ext = msg
                        .get(4..6)
                        .map(|l| usize::from(u16::from_be_bytes([l[0], l[1]])))
                        .and_then(|n| msg.get(6..6 + n))
                        .unwrap_or_default();
                    for (ety, whole) in raw_extensions(ext) {
                        let data = whole.get(4..).unwrap_or_default();
                        if let (16, Some(&n)) = (ety, data.get(2)) {
                            if let Some(name) = data.get(3..3 + usize::from(n)) {
                                self.rec.alpn = Some(String::from_utf8_lossy(name).into_owned());
                            }
                        }
                    }
                }
                20 => {
                    let server = d == 1;
                    if server {
                        self.rec.server_finished_ts.get_or_insert(ts);
                    } else {
                        self.rec.client_finished_ts.get_or_insert(ts);
                    }
                    let next = self.crypto.as_ref().and_then(|c| {
                        let s = if server {
                            c.secrets.server_traffic.as_deref()
                        } else {
                            c.secrets.client_traffic.as_deref()
                        };
                        RecordKey::tls13(c.suite, s?)
                    });
                    match next {
                        Some(k) => {
                            if let Some(c) = self.crypto.as_mut() {
                                c.keys[d] = Some(k);
                            }
                        }
                        None => {
                            self.decrypt_stats.no_key += 1;
                            self.lose_plaintext(ts, d);
                        }
                    }
                }
                24 => {
                    let next = self
                        .crypto
                        .as_ref()
                        .and_then(|c| c.keys[d].as_ref())
                        .and_then(RecordKey::updated);
                    if let (Some(c), Some(k)) = (self.crypto.as_mut(), next) {
                        c.keys[d] = Some(k);
                    }
                }
                _ => {}
            }
        }
        self.after_record(ts, d);
    }

    /// Bookkeeping after any whole record.
    fn after_record(&mut self, ts: i64, d: usize) {
        if d == 1 {
            self.last_server_record_ts = Some(ts);
        }
        self.check_done();
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
    pub fn record(&self) -> &TlsHandshake {
        &self.rec
    }

    /// The finished record (call after the connection ended).
    pub fn into_record(self) -> TlsHandshake {
        self.rec
    }

    fn stop(&mut self, d: usize) {
        if let Some(i) = self.infer.as_mut() {
            i.cut();
        }
        let ts = self.dirs[d].rec_start_ts;
        self.lose_plaintext(ts, d);
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
        while !bytes.is_empty()
            && !self.dirs[d].stopped
            && (!self.done || self.decrypting(d) || self.infer.is_some())
        {
            let (tls13, hrr) = (self.tls13, self.rec.hello_retry);
            let decrypting = self.decrypting(d);
            // Inferring: after the handshake every record is only counted, never kept.
            let counted = self.done && self.infer.is_some();
            let ccs = self.dirs[d].ccs;
            let server_hello = self.server_hello;
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
                if st.buf.is_empty() {
                    st.rec_start_ts = ts;
                }
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
                st.rec_len = u16::try_from(len).unwrap_or(u16::MAX);
                // Keep the payload only when it can be read in clear and is needed.
                // TLS 1.3 middlebox-compatibility CCS encrypts nothing (a ClientHello may follow it).
                let encrypted = st.ccs && !tls13 && !hrr;
                // With keys, encrypted records are kept whole to be decrypted.
                let decrypt = decrypting
                    && if tls13 {
                        server_hello && ty == CT_APPDATA
                    } else {
                        ccs && ty != CT_CCS
                    };
                let keep = !counted
                    && (decrypt
                        || matches!(ty, CT_CCS | CT_ALERT)
                        || (ty == CT_HANDSHAKE && !encrypted));
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
                let start_ts = st.rec_start_ts;
                let buf = std::mem::take(&mut self.dirs[d].buf);
                let ty = buf[0];
                if self.decrypting(d) && self.is_encrypted(d, ty) {
                    self.on_encrypted(start_ts, ts, d, &buf);
                } else {
                    self.on_record(ts, d, ty, buf.get(5..));
                }
                let mut buf = buf;
                buf.clear();
                if !self.dirs[d].stopped && buf.capacity() <= KEPT_BUF_CAPACITY {
                    self.dirs[d].buf = buf;
                }
            }
        }
    }

    /// A whole record: `payload` is `Some` for the records kept in clear.
    fn on_record(&mut self, ts: i64, d: usize, ty: u8, payload: Option<&[u8]>) {
        if self.done {
            if let Some(i) = self.infer.as_mut() {
                i.on_record(ts, d, ty, u64::from(self.dirs[d].rec_len));
                return;
            }
        }
        let server = d == 1;
        match ty {
            CT_CCS => {
                self.dirs[d].ccs = true;
                if !self.tls13 {
                    if let Some(c) = self.crypto.as_mut() {
                        if let Some(k) = c.pending[d].take() {
                            c.keys[d] = Some(k);
                        }
                    }
                }
                // TLS ≤ 1.2 abbreviated handshake: the server's CCS follows its ServerHello
                // (and possibly a NewSessionTicket) with no Certificate / key exchange.
                if server && self.server_hello && !self.tls13 && !self.full_handshake {
                    self.rec.resumed = Some(true);
                }
            }
            CT_ALERT => {
                if let Some(&[level, desc]) = payload {
                    self.rec.alert.get_or_insert(Alert {
                        level: AlertLevel(level),
                        description: AlertDescription(desc),
                        by: if server { Side::Server } else { Side::Client },
                        ts,
                    });
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
        self.after_record(ts, d);
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
            self.start_inference();
            for d in 0..2 {
                if !self.decrypting(d) {
                    // While inferring, a direction may be inside a record: its framing goes on.
                    if self.infer.is_none() {
                        self.dirs[d].buf = Vec::new();
                    }
                    self.dirs[d].hs = Vec::new();
                }
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
            let msg = take_front(&mut self.dirs[d].hs, 4 + len);
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
                // Kept fields are capped (a hostile ClientHello can offer 32 k names); the
                // fingerprints below use the whole lists of `info`, which is dropped here.
                let mut cut = false;
                r.sni = info
                    .sni
                    .as_deref()
                    .map(|s| capped(s, MAX_KEPT_NAME_BYTES, &mut cut));
                cut |= info.alpn.len() > MAX_KEPT_LIST;
                r.alpn_offered = info
                    .alpn
                    .iter()
                    .take(MAX_KEPT_LIST)
                    .map(|a| capped(&String::from_utf8_lossy(a), MAX_KEPT_NAME_BYTES, &mut cut))
                    .collect();
                let mut versions = info.versions_offered();
                cut |= versions.len() > MAX_KEPT_LIST;
                versions.truncate(MAX_KEPT_LIST);
                r.versions_offered = versions.into_iter().map(TlsVersion).collect();
                r.cipher_suites_offered = u32::try_from(info.ciphers.len()).unwrap_or(u32::MAX);
                r.session_id_len = u8::try_from(info.session_id.len()).unwrap_or(u8::MAX);
                r.session_ticket_offered = info.session_ticket_non_empty;
                r.psk_offered = info.psk;
                let ja3 = info.ja3();
                r.ja3_hash = Some(md5_hex(&ja3));
                r.ja3 = Some(capped(&ja3, MAX_KEPT_JA3_BYTES, &mut cut));
                r.ja4 = Some(info.ja4());
                r.client_hello_truncated = cut;
                self.client_session_id = info.session_id;
                self.client_random = ch.random.try_into().ok();
                self.client_quic_idle_timeout_ms = raw_extensions(ch.ext.unwrap_or_default())
                    .into_iter()
                    .find(|(ty, _)| *ty == QUIC_TRANSPORT_PARAMETERS)
                    .and_then(|(_, whole)| {
                        crate::proto::quic::max_idle_timeout_ms(whole.get(4..)?)
                    });
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
        r.version = Some(TlsVersion(version));
        r.cipher = Some(CipherSuite(cipher));
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
        let server_random = random.to_vec();
        self.setup_keys(cipher, &server_random);
        true
    }
}

impl StreamSink for TlsParser {
    fn on_data(&mut self, ts_ns: i64, dir: Direction, bytes: &[u8]) {
        self.feed(ts_ns, dir_index(dir), bytes);
    }

    fn held(&self) -> usize {
        self.dirs
            .iter()
            .map(|d| d.buf.capacity() + d.hs.capacity())
            .sum::<usize>()
            + self.infer.as_ref().map_or(0, |i| i.held())
    }

    fn shed(&mut self) {
        for d in 0..2 {
            let st = &mut self.dirs[d];
            if !st.stopped && (!st.buf.is_empty() || !st.hs.is_empty()) {
                self.stop(d);
            } else {
                // Room only: given back, nothing lost.
                st.buf = Vec::new();
                st.hs = Vec::new();
            }
        }
    }

    fn on_gap(&mut self, ts_ns: i64, dir: Direction, _len: u64) {
        let d = dir_index(dir);
        if (!self.done || self.decrypting(d) || self.infer.is_some()) && !self.dirs[d].stopped {
            self.dirs[d].rec_start_ts = ts_ns;
            self.stop(d);
        }
    }

    fn on_close(&mut self, ts_ns: i64, dir: Direction) {
        let d = dir_index(dir);
        let st = &self.dirs[d];
        // The direction ended inside a record: those bytes could not be parsed.
        if (!self.done || self.decrypting(d) || self.infer.is_some())
            && !st.stopped
            && (!st.buf.is_empty() || st.skip > 0)
        {
            self.dirs[d].rec_start_ts = ts_ns;
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

fn dir_of(d: usize) -> Direction {
    if d == 0 {
        Direction::ClientToServer
    } else {
        Direction::ServerToClient
    }
}

fn dir_index(dir: Direction) -> usize {
    match dir {
        Direction::ClientToServer => 0,
        Direction::ServerToClient => 1,
    }
}
