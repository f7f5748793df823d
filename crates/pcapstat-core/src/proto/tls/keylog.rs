//! NSS key log files (`SSLKEYLOGFILE`, as written by curl, Firefox, Chrome, openssl
//! `-keylogfile`), keyed by the ClientHello's random.
//!
//! One line per secret: `LABEL <client_random hex> <secret hex>`. Read: `CLIENT_RANDOM` (the
//! TLS ≤ 1.2 master secret, 48 bytes), `CLIENT_HANDSHAKE_TRAFFIC_SECRET`,
//! `SERVER_HANDSHAKE_TRAFFIC_SECRET`, `CLIENT_TRAFFIC_SECRET_0`, `SERVER_TRAFFIC_SECRET_0`
//! (TLS 1.3), `CLIENT_EARLY_TRAFFIC_SECRET` (QUIC 0-RTT). Other labels (`EXPORTER_SECRET`,
//! `RSA`, …), blank
//! lines and `#` comments are ignored and counted; lines that do not have that shape (bad hex,
//! a client random that is not 32 bytes, a secret of the wrong length) are counted as malformed
//! and skipped — never an error: a key log is often appended to by several programs.
//!
//! A [`KeyLog`] is built once and shared read-only (`Arc<KeyLog>`) by every shard; the TLS
//! parser looks a connection up once, at its ServerHello.

use crate::stats::counters;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, PoisonError, RwLock};

/// Secrets of one TLS session (one ClientHello random). `None` = not in the key log.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct SessionSecrets {
    /// TLS ≤ 1.2 master secret (`CLIENT_RANDOM`, 48 bytes).
    pub master_secret: Option<Vec<u8>>,
    /// TLS 1.3 `CLIENT_HANDSHAKE_TRAFFIC_SECRET`.
    pub client_handshake: Option<Vec<u8>>,
    /// TLS 1.3 `SERVER_HANDSHAKE_TRAFFIC_SECRET`.
    pub server_handshake: Option<Vec<u8>>,
    /// TLS 1.3 `CLIENT_TRAFFIC_SECRET_0`.
    pub client_traffic: Option<Vec<u8>>,
    /// TLS 1.3 `SERVER_TRAFFIC_SECRET_0`.
    pub server_traffic: Option<Vec<u8>>,
    /// TLS 1.3 `CLIENT_EARLY_TRAFFIC_SECRET` (the client's early data: QUIC 0-RTT packets).
    pub client_early: Option<Vec<u8>>,
}

/// The key log labels of the secrets, in the order of [`SessionSecrets::slots`].
const LABELS: [&str; 6] = [
    "CLIENT_RANDOM",
    "CLIENT_HANDSHAKE_TRAFFIC_SECRET",
    "SERVER_HANDSHAKE_TRAFFIC_SECRET",
    "CLIENT_TRAFFIC_SECRET_0",
    "SERVER_TRAFFIC_SECRET_0",
    "CLIENT_EARLY_TRAFFIC_SECRET",
];

impl SessionSecrets {
    /// Every secret, in the order of [`LABELS`].
    fn slots(&mut self) -> [&mut Option<Vec<u8>>; 6] {
        [
            &mut self.master_secret,
            &mut self.client_handshake,
            &mut self.server_handshake,
            &mut self.client_traffic,
            &mut self.server_traffic,
            &mut self.client_early,
        ]
    }
}

impl std::fmt::Debug for SessionSecrets {
    // Secrets are not printed.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let has = |s: &Option<Vec<u8>>| s.is_some();
        f.debug_struct("SessionSecrets")
            .field("master_secret", &has(&self.master_secret))
            .field("client_handshake", &has(&self.client_handshake))
            .field("server_handshake", &has(&self.server_handshake))
            .field("client_traffic", &has(&self.client_traffic))
            .field("server_traffic", &has(&self.server_traffic))
            .field("client_early", &has(&self.client_early))
            .finish()
    }
}

counters! {
    /// Line counts of what was read into a [`KeyLog`].
    #[derive(Debug, Clone, Default, PartialEq, Eq)]
    #[non_exhaustive]
    pub struct KeyLogStats {
        /// Lines read (all of them, blank and comment lines included).
        pub lines: u64,
        /// Secrets stored (one per used line; a repeated line replaces the earlier value).
        pub secrets: u64,
        /// Well-formed lines with a label that is not used (`EXPORTER_SECRET`, `RSA`…),
        /// blank lines and comments.
        pub ignored: u64,
        /// Lines that are not `LABEL <64 hex> <hex>` with the right lengths.
        pub malformed: u64,
        /// Decryption Secrets Blocks read from a pcapng file (any secrets type).
        pub dsb_blocks: u64,
        /// Of those, blocks whose secrets type is not TLS key log (`TLSK`): skipped.
        pub dsb_other: u64,
    }
}

/// Reading a key log file failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyLogError {
    /// The file could not be read.
    #[error("reading key log {}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The file is larger than `MAX_KEYLOG_FILE_BYTES` (a device like `/dev/zero`, or not a
    /// key log): nothing is read past the limit.
    #[error("key log {} is larger than {limit} bytes: not a key log? (nothing was used)", path.display())]
    TooLarge {
        /// The file.
        path: PathBuf,
        /// The limit, bytes.
        limit: u64,
    },
}

/// Largest key log file [`KeyLog::from_file`] reads: 256 MiB, about 1.4 million TLS 1.3
/// sessions (5 lines of ~180 bytes each per session would be 300 k sessions per 256 MiB with
/// every label; a TLS 1.2 session is one line). Past it the read stops with
/// [`KeyLogError::TooLarge`] instead of growing memory without bound.
pub const MAX_KEYLOG_FILE_BYTES: u64 = 256 << 20;

/// TLS secrets by ClientHello random (see the module docs).
#[derive(Clone, Default)]
pub struct KeyLog {
    by_random: HashMap<[u8; 32], SessionSecrets>,
    stats: KeyLogStats,
}

impl std::fmt::Debug for KeyLog {
    // Neither the secrets nor thousands of randoms: the size and the counters.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyLog")
            .field("sessions", &self.by_random.len())
            .field("stats", &self.stats)
            .finish()
    }
}

/// Sets the fields of `dst` that `src` has (its values win).
fn overlay(dst: &mut SessionSecrets, src: &SessionSecrets) {
    let take = |dst: &mut Option<Vec<u8>>, src: &Option<Vec<u8>>| {
        if src.is_some() {
            dst.clone_from(src);
        }
    };
    take(&mut dst.master_secret, &src.master_secret);
    take(&mut dst.client_handshake, &src.client_handshake);
    take(&mut dst.server_handshake, &src.server_handshake);
    take(&mut dst.client_traffic, &src.client_traffic);
    take(&mut dst.server_traffic, &src.server_traffic);
    take(&mut dst.client_early, &src.client_early);
}

/// The secrets embedded in a capture (pcapng Decryption Secrets Blocks) as one pipeline worker
/// has met them so far. The capture is read once: the reader parses each DSB as it meets it and
/// hands it to every worker between the segments read before it and those read after it, so a
/// TLS session is looked up (at its ServerHello) in the DSBs that precede it in the file,
/// whatever the thread count — as Wireshark reads them (a DSB after the packets decrypts none
/// of them). Cloned into every shard of the worker; only that worker locks it.
#[derive(Debug, Clone, Default)]
pub struct EmbeddedKeys(Arc<RwLock<Option<KeyLog>>>);

impl EmbeddedKeys {
    /// Adds the secrets of one DSB (parsed: [`KeyLog::add_capture_secrets`]).
    pub fn add(&self, dsb: &KeyLog) {
        let mut keys = self.0.write().unwrap_or_else(PoisonError::into_inner);
        keys.get_or_insert_with(KeyLog::new).merge_from(dsb);
    }
}

/// Where a TLS parser looks its session's secrets up: the key log given by the caller and the
/// secrets embedded in the capture so far (the given key log's values win, as
/// [`KeyLog::merge`]).
#[derive(Debug, Clone, Default)]
pub struct Keys {
    given: Option<Arc<KeyLog>>,
    embedded: Option<EmbeddedKeys>,
}

impl Keys {
    /// Both sources (either may be absent).
    pub fn new(given: Option<Arc<KeyLog>>, embedded: Option<EmbeddedKeys>) -> Self {
        Keys { given, embedded }
    }

    /// Adds the secrets of one DSB, in capture order (for a reader that does not share the
    /// pipeline's [`EmbeddedKeys`]: the QUIC tracker).
    pub fn add_embedded(&mut self, dsb: &KeyLog) {
        self.embedded
            .get_or_insert_with(EmbeddedKeys::default)
            .add(dsb);
    }

    /// `None` when there is no key log at all yet (no given one, no DSB met): nothing to look
    /// up, nothing counted. Otherwise the secrets of `random`, if any.
    pub fn lookup(&self, random: Option<&[u8; 32]>) -> Option<Option<SessionSecrets>> {
        let embedded = self
            .embedded
            .as_ref()
            .map(|e| e.0.read().unwrap_or_else(PoisonError::into_inner));
        let embedded = embedded.as_ref().and_then(|e| e.as_ref());
        if self.given.is_none() && embedded.is_none() {
            return None;
        }
        let Some(random) = random else {
            return Some(None);
        };
        let from_dsb = embedded.and_then(|k| k.get(random));
        let given = self.given.as_ref().and_then(|k| k.get(random));
        Some(match (from_dsb, given) {
            (None, None) => None,
            (Some(s), None) | (None, Some(s)) => Some(s.clone()),
            (Some(d), Some(g)) => {
                let mut s = d.clone();
                overlay(&mut s, g);
                Some(s)
            }
        })
    }
}

/// Secrets type of a TLS key log in a Decryption Secrets Block ("TLSK").
pub const DSB_TLS_KEY_LOG: u32 = 0x544c_534b;

fn hex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    let val = |c: u8| match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    };
    s.as_bytes()
        .chunks_exact(2)
        .map(|p| Some(val(p[0])? << 4 | val(p[1])?))
        .collect()
}

impl KeyLog {
    /// An empty key log.
    pub fn new() -> Self {
        KeyLog::default()
    }

    /// Parses key log text (see the module docs for what is read and counted).
    pub fn parse(text: &str) -> Self {
        let mut k = KeyLog::new();
        k.add_text(text);
        k
    }

    /// Reads a key log file (at most `MAX_KEYLOG_FILE_BYTES`).
    ///
    /// # Errors
    /// [`KeyLogError::Io`] when the file cannot be read, [`KeyLogError::TooLarge`] past the
    /// size limit. Its content never fails: bad lines are counted in
    /// [`KeyLogStats::malformed`].
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self, KeyLogError> {
        Self::from_file_limited(path, MAX_KEYLOG_FILE_BYTES)
    }

    /// [`KeyLog::from_file`] with another size limit, bytes.
    ///
    /// # Errors
    /// As [`KeyLog::from_file`].
    pub fn from_file_limited(path: impl AsRef<Path>, limit: u64) -> Result<Self, KeyLogError> {
        use std::io::Read;
        let path = path.as_ref();
        let io = |source| KeyLogError::Io {
            path: path.to_path_buf(),
            source,
        };
        let file = std::fs::File::open(path).map_err(io)?;
        let mut bytes = Vec::new();
        file.take(limit.saturating_add(1))
            .read_to_end(&mut bytes)
            .map_err(io)?;
        if bytes.len() as u64 > limit {
            return Err(KeyLogError::TooLarge {
                path: path.to_path_buf(),
                limit,
            });
        }
        Ok(KeyLog::parse(&String::from_utf8_lossy(&bytes)))
    }

    /// Adds the lines of `text` (later lines replace earlier values of the same secret).
    pub fn add_text(&mut self, text: &str) {
        for line in text.lines() {
            self.stats.lines += 1;
            self.add_line(line.trim());
        }
    }

    /// Adds every secret of `other` (its values win) and its counters.
    pub fn merge(&mut self, other: KeyLog) {
        self.merge_from(&other);
    }

    /// [`KeyLog::merge`] from a borrowed key log (its secrets are copied).
    pub fn merge_from(&mut self, other: &KeyLog) {
        self.stats.merge(&other.stats);
        for (random, secrets) in &other.by_random {
            overlay(self.by_random.entry(*random).or_default(), secrets);
        }
    }

    /// Adds the body of one pcapng Decryption Secrets Block (after the 8-byte block header, up to
    /// the trailing length): secrets type, secrets length, secrets. Blocks of another secrets
    /// type are counted in [`KeyLogStats::dsb_other`]; a body shorter than it claims counts as
    /// one malformed line.
    pub fn add_dsb_body(&mut self, body: &[u8], big_endian: bool) {
        self.stats.dsb_blocks += 1;
        let u32_at = |at: usize| -> Option<u32> {
            let b: [u8; 4] = body.get(at..at + 4)?.try_into().ok()?;
            Some(if big_endian {
                u32::from_be_bytes(b)
            } else {
                u32::from_le_bytes(b)
            })
        };
        let (Some(ty), Some(len)) = (u32_at(0), u32_at(4)) else {
            self.stats.malformed += 1;
            return;
        };
        if ty != DSB_TLS_KEY_LOG {
            self.stats.dsb_other += 1;
            return;
        }
        let Some(secrets) = usize::try_from(len)
            .ok()
            .and_then(|len| body.get(8..8usize.checked_add(len)?))
        else {
            self.stats.malformed += 1;
            return;
        };
        self.add_text(&String::from_utf8_lossy(secrets));
    }

    /// Adds the Decryption Secrets Blocks of a capture (see
    /// [`Capture::decryption_secrets`](crate::Capture::decryption_secrets)): TLS key logs are
    /// read, other secrets types counted in [`KeyLogStats::dsb_other`].
    pub fn add_capture_secrets(&mut self, blocks: &[crate::capture::DecryptionSecrets]) {
        for b in blocks {
            self.stats.dsb_blocks += 1;
            if b.secrets_type == DSB_TLS_KEY_LOG {
                self.add_text(&String::from_utf8_lossy(&b.data));
            } else {
                self.stats.dsb_other += 1;
            }
        }
    }

    fn add_line(&mut self, line: &str) {
        if line.is_empty() || line.starts_with('#') {
            self.stats.ignored += 1;
            return;
        }
        let mut parts = line.split_ascii_whitespace();
        let (Some(label), Some(random), Some(secret), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            self.stats.malformed += 1;
            return;
        };
        let random: Option<[u8; 32]> = hex(random).and_then(|r| r.try_into().ok());
        let secret = hex(secret);
        let (Some(random), Some(secret)) = (random, secret) else {
            // `RSA <encrypted pms prefix> <pms>` has a 16-hex first field: also not ours.
            if label == "RSA" {
                self.stats.ignored += 1;
            } else {
                self.stats.malformed += 1;
            }
            return;
        };
        let Some(i) = LABELS.iter().position(|l| *l == label) else {
            self.stats.ignored += 1;
            return;
        };
        // A master secret is 48 bytes; a TLS 1.3 secret 32 or 48 (SHA-256 or SHA-384).
        if !(secret.len() == 48 || (i > 0 && secret.len() == 32)) {
            self.stats.malformed += 1;
            return;
        }
        *self.by_random.entry(random).or_default().slots()[i] = Some(secret);
        self.stats.secrets += 1;
    }

    /// The secrets logged for this ClientHello random.
    pub fn get(&self, client_random: &[u8; 32]) -> Option<&SessionSecrets> {
        self.by_random.get(client_random)
    }

    /// Number of sessions (distinct client randoms) with at least one secret.
    pub fn len(&self) -> usize {
        self.by_random.len()
    }

    /// No secret at all.
    pub fn is_empty(&self) -> bool {
        self.by_random.is_empty()
    }

    /// What was read.
    pub fn stats(&self) -> &KeyLogStats {
        &self.stats
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const R: &str = "f63e1ca7bf54ceb5d7863fd56f5955e5bdb45b9798d49c9c6870d7432f06a5fc";

    /// Issue #14: `--keylog /dev/zero` grew ~1.2 GB/s until killed; the read now stops at the
    /// limit with an error naming it.
    #[cfg(unix)]
    #[test]
    fn an_endless_file_is_an_error_at_the_limit() {
        let e = KeyLog::from_file_limited("/dev/zero", 1 << 20).map(|_| ());
        assert!(
            matches!(e, Err(KeyLogError::TooLarge { limit, .. }) if limit == 1 << 20),
            "{e:?}"
        );
        let msg = e.err().map(|e| e.to_string()).unwrap_or_default();
        assert!(msg.contains("larger than 1048576 bytes"), "{msg}");
    }

    #[test]
    fn reads_labels_and_counts_the_rest() {
        let ms = "9c".repeat(48);
        let s32 = "ab".repeat(32);
        let text = format!(
            "# comment\n\nCLIENT_RANDOM {R} {ms}\nSERVER_HANDSHAKE_TRAFFIC_SECRET {R} {s32}\n\
             EXPORTER_SECRET {R} {s32}\nCLIENT_RANDOM {R} 9c9c\nCLIENT_RANDOM zz {ms}\n\
             CLIENT_TRAFFIC_SECRET_0 {R}\nSERVER_TRAFFIC_SECRET_0 {R} {s32} extra\n\
             client_traffic_secret_0 {R} {s32}\nCLIENT_EARLY_TRAFFIC_SECRET {R} {s32}\n"
        );
        let k = KeyLog::parse(&text);
        let st = k.stats();
        assert_eq!(st.lines, 11);
        assert_eq!(st.secrets, 3);
        assert_eq!(
            st.ignored, 4,
            "comment, blank, EXPORTER_SECRET, unknown lower-case label"
        );
        assert_eq!(st.malformed, 4);
        let r: [u8; 32] = hex(R).unwrap_or_default().try_into().unwrap_or([0; 32]);
        let s = k.get(&r).cloned().unwrap_or_default();
        assert_eq!(s.master_secret, Some(vec![0x9c; 48]));
        assert_eq!(s.server_handshake, Some(vec![0xab; 32]));
        assert_eq!(s.client_traffic, None);
        assert_eq!(s.client_early, Some(vec![0xab; 32]), "QUIC 0-RTT");
        assert!(k.get(&[0; 32]).is_none());
        assert_eq!(k.len(), 1);
    }

    #[test]
    fn decryption_secrets_block_body() {
        let text = format!("CLIENT_RANDOM {R} {}\n", "01".repeat(48));
        let mut body = Vec::new();
        body.extend_from_slice(&DSB_TLS_KEY_LOG.to_le_bytes());
        body.extend_from_slice(&(text.len() as u32).to_le_bytes());
        body.extend_from_slice(text.as_bytes());
        body.extend_from_slice(&[0, 0, 0]);
        let mut k = KeyLog::new();
        k.add_dsb_body(&body, false);
        k.add_dsb_body(&[0x57, 0x47, 0x4b, 0x53, 0, 0, 0, 0], false); // WireGuard keys
        k.add_dsb_body(&body[..20], false); // cut short
        assert_eq!(k.len(), 1);
        assert_eq!(k.stats().dsb_blocks, 3);
        assert_eq!(k.stats().dsb_other, 1);
        assert_eq!(k.stats().malformed, 1);
    }
}
