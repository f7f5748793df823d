//! QUIC packets on the wire (RFC 8999 invariants, RFC 9000 §17, RFC 9369 §3) and their
//! protection (RFC 9001 §5): views over a datagram's bytes, checked once, never panicking.
//!
//! * [`split_long`] cuts one long-header packet off the front of a datagram (packets are
//!   coalesced, RFC 9000 §12.2: each long header but Retry and Version Negotiation carries its
//!   length);
//! * [`InitialKeys::new`] derives the Initial keys of a version from the client's first
//!   Destination Connection ID with the version's public salt and labels;
//! * [`PacketKey::open`] removes header protection (AES-ECB of a 16-byte sample, or ChaCha20
//!   keyed by it, RFC 9001 §5.4.3–5.4.4) and the AEAD protection (AES-GCM or
//!   ChaCha20-Poly1305) of one packet and returns its packet number and plaintext frames.

use aes::cipher::{BlockCipherEncrypt, KeyInit as _};
use aes_gcm::aead::AeadInOut;
use aes_gcm::{Aes128Gcm, Aes256Gcm};
use chacha20poly1305::ChaCha20Poly1305;
use sha2::Sha256;

use crate::proto::tls::decrypt::{expand_label, Hash};

/// Longest connection ID (RFC 9000 §17.2: at most 20 bytes in version 1 and 2).
pub const MAX_CID_LEN: usize = 20;

/// QUIC version 1 (RFC 9000).
pub const VERSION_1: u32 = 0x0000_0001;
/// QUIC version 2 (RFC 9369).
pub const VERSION_2: u32 = 0x6b33_43cf;

/// The versions whose Initial packets we can read: v1, v2 and IETF drafts 23–32.
pub fn known_version(v: u32) -> bool {
    v == VERSION_1 || v == VERSION_2 || draft(v).is_some()
}

/// The IETF draft number of a draft version (`0xff0000NN`).
fn draft(v: u32) -> Option<u32> {
    (v & 0xffff_ff00 == 0xff00_0000 && (23..=32).contains(&(v & 0xff))).then_some(v & 0xff)
}

/// A version's name for the tables: `v1`, `v2`, `draft-29`, else its hex value.
pub fn version_name(v: u32) -> String {
    match v {
        VERSION_1 => "v1".to_string(),
        VERSION_2 => "v2".to_string(),
        _ => match draft(v) {
            Some(n) => format!("draft-{n}"),
            None => format!("{v:#010x}"),
        },
    }
}

/// Long-header packet types (RFC 9000 §17.2; v2 numbers them differently, RFC 9369 §3.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LongType {
    /// Initial.
    Initial,
    /// 0-RTT.
    ZeroRtt,
    /// Handshake.
    Handshake,
    /// Retry.
    Retry,
}

impl LongType {
    fn of(version: u32, bits: u8) -> LongType {
        let v1 = [
            LongType::Initial,
            LongType::ZeroRtt,
            LongType::Handshake,
            LongType::Retry,
        ];
        let i = usize::from(bits & 3);
        if version == VERSION_2 {
            // v2: Retry 0b00, Initial 0b01, 0-RTT 0b10, Handshake 0b11.
            [
                LongType::Retry,
                LongType::Initial,
                LongType::ZeroRtt,
                LongType::Handshake,
            ][i]
        } else {
            v1[i]
        }
    }
}

/// One long-header packet, header fields read, payload still protected.
#[derive(Debug, Clone, Copy)]
pub struct LongPacket<'a> {
    /// Version (0: Version Negotiation).
    pub version: u32,
    /// Packet type (meaningless for Version Negotiation).
    pub ty: LongType,
    /// Destination Connection ID.
    pub dcid: &'a [u8],
    /// Source Connection ID.
    pub scid: &'a [u8],
    /// The whole packet (header and protected payload).
    pub bytes: &'a [u8],
    /// Offset of the packet number field in `bytes` (Initial, 0-RTT, Handshake).
    pub pn_offset: usize,
}

/// Why a packet could not be read (counted in `QuicStats`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Malformed {
    /// Shorter than its header says.
    Truncated,
    /// A connection ID longer than 20 bytes.
    CidTooLong,
    /// The fixed bit (0x40) is clear.
    FixedBitClear,
}

/// A variable-length integer (RFC 9000 §16) at the start of `b`: (value, its length).
pub fn varint(b: &[u8]) -> Option<(u64, usize)> {
    let first = *b.first()?;
    let len = 1usize << (first >> 6);
    let bytes = b.get(..len)?;
    let mut v = u64::from(first & 0x3f);
    for &x in bytes.get(1..)? {
        v = (v << 8) | u64::from(x);
    }
    Some((v, len))
}

/// Reads a varint at `*pos` and advances it.
pub fn read_varint(b: &[u8], pos: &mut usize) -> Option<u64> {
    let (v, n) = varint(b.get(*pos..)?)?;
    *pos += n;
    Some(v)
}

/// Whether `b` starts with a long header (form bit set).
pub fn is_long(b: &[u8]) -> bool {
    b.first().is_some_and(|&x| x & 0x80 != 0)
}

/// Version field of a long header.
pub fn long_version(b: &[u8]) -> Option<u32> {
    Some(u32::from_be_bytes(b.get(1..5)?.try_into().ok()?))
}

/// Cuts the first long-header packet off `b`: (the packet, the rest of the datagram).
/// Version Negotiation and Retry packets take the rest of the datagram; so does a packet of an
/// unknown version (its length field cannot be trusted).
pub fn split_long(b: &[u8]) -> Result<(LongPacket<'_>, &[u8]), Malformed> {
    let first = *b.first().ok_or(Malformed::Truncated)?;
    let version = long_version(b).ok_or(Malformed::Truncated)?;
    let mut pos = 5;
    let dlen = usize::from(*b.get(pos).ok_or(Malformed::Truncated)?);
    pos += 1;
    let dcid = b.get(pos..pos + dlen).ok_or(Malformed::Truncated)?;
    pos += dlen;
    let slen = usize::from(*b.get(pos).ok_or(Malformed::Truncated)?);
    pos += 1;
    let scid = b.get(pos..pos + slen).ok_or(Malformed::Truncated)?;
    pos += slen;
    let whole = |ty| {
        (
            LongPacket {
                version,
                ty,
                dcid,
                scid,
                bytes: b,
                pn_offset: b.len(),
            },
            &b[b.len()..],
        )
    };
    if version == 0 {
        // Version Negotiation: no fixed bit, no length; CIDs may be longer than 20 bytes.
        return Ok(whole(LongType::Retry));
    }
    if dlen > MAX_CID_LEN || slen > MAX_CID_LEN {
        return Err(Malformed::CidTooLong);
    }
    if first & 0x40 == 0 {
        return Err(Malformed::FixedBitClear);
    }
    let ty = LongType::of(version, first >> 4);
    if ty == LongType::Retry || !known_version(version) {
        return Ok(whole(ty));
    }
    if ty == LongType::Initial {
        let token_len = read_varint(b, &mut pos).ok_or(Malformed::Truncated)?;
        pos = usize::try_from(token_len)
            .ok()
            .and_then(|t| pos.checked_add(t))
            .filter(|&p| p <= b.len())
            .ok_or(Malformed::Truncated)?;
    }
    let len = read_varint(b, &mut pos).ok_or(Malformed::Truncated)?;
    let end = usize::try_from(len)
        .ok()
        .and_then(|l| pos.checked_add(l))
        .filter(|&e| e <= b.len())
        .ok_or(Malformed::Truncated)?;
    let (packet, rest) = b.split_at(end);
    Ok((
        LongPacket {
            version,
            ty,
            dcid,
            scid,
            bytes: packet,
            pn_offset: pos,
        },
        rest,
    ))
}

/// The Initial salt of a version (RFC 9001 §5.2, RFC 9369 §3.3.1, the drafts' own).
fn initial_salt(version: u32) -> Option<&'static [u8; 20]> {
    const V1: [u8; 20] = [
        0x38, 0x76, 0x2c, 0xf7, 0xf5, 0x59, 0x34, 0xb3, 0x4d, 0x17, 0x9a, 0xe6, 0xa4, 0xc8, 0x0c,
        0xad, 0xcc, 0xbb, 0x7f, 0x0a,
    ];
    const V2: [u8; 20] = [
        0x0d, 0xed, 0xe3, 0xde, 0xf7, 0x00, 0xa6, 0xdb, 0x81, 0x93, 0x81, 0xbe, 0x6e, 0x26, 0x9d,
        0xcb, 0xf9, 0xbd, 0x2e, 0xd9,
    ];
    // draft-ietf-quic-tls-29 (also 30–32).
    const D29: [u8; 20] = [
        0xaf, 0xbf, 0xec, 0x28, 0x99, 0x93, 0xd2, 0x4c, 0x9e, 0x97, 0x86, 0xf1, 0x9c, 0x61, 0x11,
        0xe0, 0x43, 0x90, 0xa8, 0x99,
    ];
    // draft-ietf-quic-tls-23 (also 24–28).
    const D23: [u8; 20] = [
        0xc3, 0xee, 0xf7, 0x12, 0xc7, 0x2e, 0xbb, 0x5a, 0x11, 0xa7, 0xd2, 0x43, 0x2b, 0xb4, 0x63,
        0x65, 0xbe, 0xf9, 0xf5, 0x02,
    ];
    match version {
        VERSION_1 => Some(&V1),
        VERSION_2 => Some(&V2),
        v => match draft(v)? {
            29..=32 => Some(&D29),
            _ => Some(&D23),
        },
    }
}

/// The packet protection labels of a version: v2 uses `quicv2 key` / `quicv2 iv` /
/// `quicv2 hp` (RFC 9369 §3.3.2), v1 and the drafts `quic key` / `quic iv` / `quic hp`.
fn labels(version: u32) -> [&'static str; 3] {
    if version == VERSION_2 {
        ["quicv2 key", "quicv2 iv", "quicv2 hp"]
    } else {
        ["quic key", "quic iv", "quic hp"]
    }
}

/// The AEAD of a packet protection key.
#[derive(Clone)]
enum Aead {
    Aes128(Box<Aes128Gcm>),
    Aes256(Box<Aes256Gcm>),
    ChaCha(Box<ChaCha20Poly1305>),
}

impl Aead {
    /// The AEAD of `suite` (TLS 1.3 cipher suite) with `key`.
    fn new(suite: u16, key: &[u8]) -> Option<Aead> {
        Some(match suite {
            0x1301 => Aead::Aes128(Box::new(Aes128Gcm::new_from_slice(key).ok()?)),
            0x1302 => Aead::Aes256(Box::new(Aes256Gcm::new_from_slice(key).ok()?)),
            0x1303 => Aead::ChaCha(Box::new(ChaCha20Poly1305::new_from_slice(key).ok()?)),
            _ => return None,
        })
    }

    fn suite(&self) -> u16 {
        match self {
            Aead::Aes128(_) => 0x1301,
            Aead::Aes256(_) => 0x1302,
            Aead::ChaCha(_) => 0x1303,
        }
    }
}

/// The header protection cipher.
#[derive(Clone)]
enum Hp {
    Aes128(Box<aes::Aes128>),
    Aes256(Box<aes::Aes256>),
    /// ChaCha20's 32-byte key (RFC 9001 §5.4.4).
    ChaCha(Box<[u8; 32]>),
}

/// One direction's packet protection in one packet number space: AEAD key, IV, header
/// protection key.
#[derive(Clone)]
pub struct PacketKey {
    aead: Aead,
    iv: [u8; 12],
    hp: Hp,
    /// What a key update derives the next key from (RFC 9001 §6): the secret, its hash, the
    /// version's label.
    secret: Vec<u8>,
    hash: Hash,
    version: u32,
}

impl std::fmt::Debug for PacketKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PacketKey").finish_non_exhaustive()
    }
}

/// A decrypted packet: its full packet number and its frames.
#[derive(Debug)]
pub struct Opened {
    /// The packet number (decoded against the largest seen so far).
    pub pn: u64,
    /// The frames.
    pub payload: Vec<u8>,
}

/// The packet number whose low `bits` bits are `truncated`, closest to `largest + 1`
/// (RFC 9000 Appendix A.3).
pub fn decode_pn(largest: Option<u64>, truncated: u64, bits: u32) -> u64 {
    let expected = largest.map_or(0, |l| l.saturating_add(1));
    let win = 1u64 << bits;
    let hwin = win / 2;
    let mask = win - 1;
    let candidate = (expected & !mask) | truncated;
    if candidate.saturating_add(hwin) <= expected && candidate < (1u64 << 62) - win {
        candidate + win
    } else if candidate > expected.saturating_add(hwin) && candidate >= win {
        candidate - win
    } else {
        candidate
    }
}

impl PacketKey {
    /// The key of a TLS 1.3 secret for `version`: AES-128-GCM (32-byte secret, SHA-256),
    /// AES-256-GCM (48-byte secret, SHA-384) or ChaCha20-Poly1305 (32-byte secret, SHA-256).
    /// `None` for other suites or a secret of the wrong length.
    pub fn from_secret(version: u32, cipher_suite: u16, secret: &[u8]) -> Option<PacketKey> {
        let [lk, liv, lhp] = labels(version);
        let (hash, key_len) = match (cipher_suite, secret.len()) {
            (0x1301, 32) => (Hash::Sha256, 16),
            (0x1302, 48) => (Hash::Sha384, 32),
            (0x1303, 32) => (Hash::Sha256, 32),
            _ => return None,
        };
        let key = expand_label(hash, secret, lk, key_len)?;
        let iv: [u8; 12] = expand_label(hash, secret, liv, 12)?.try_into().ok()?;
        let hp = expand_label(hash, secret, lhp, key_len)?;
        let aead = Aead::new(cipher_suite, &key)?;
        let hp = match cipher_suite {
            0x1301 => Hp::Aes128(Box::new(aes::Aes128::new_from_slice(&hp).ok()?)),
            0x1302 => Hp::Aes256(Box::new(aes::Aes256::new_from_slice(&hp).ok()?)),
            _ => Hp::ChaCha(Box::new(hp.try_into().ok()?)),
        };
        Some(PacketKey {
            aead,
            iv,
            hp,
            secret: secret.to_vec(),
            hash,
            version,
        })
    }

    /// The key of the next key phase (RFC 9001 §6.1): `secret' = HKDF-Expand-Label(secret,
    /// "quic ku", "", Hash.length)` (v2: `quicv2 ku`), new AEAD key and IV from it; the header
    /// protection key does not change.
    pub fn updated(&self) -> Option<PacketKey> {
        let label = if self.version == VERSION_2 {
            "quicv2 ku"
        } else {
            "quic ku"
        };
        let next = expand_label(self.hash, &self.secret, label, self.secret.len())?;
        let [lk, liv, _] = labels(self.version);
        let suite = self.aead.suite();
        let key_len = if suite == 0x1301 { 16 } else { 32 };
        let key = expand_label(self.hash, &next, lk, key_len)?;
        let iv: [u8; 12] = expand_label(self.hash, &next, liv, 12)?.try_into().ok()?;
        let aead = Aead::new(suite, &key)?;
        Some(PacketKey {
            aead,
            iv,
            hp: self.hp.clone(),
            secret: next,
            hash: self.hash,
            version: self.version,
        })
    }

    /// The 5-byte header protection mask of a 16-byte `sample`.
    fn mask(&self, sample: &[u8]) -> Option<[u8; 5]> {
        let mut block = aes::Block::try_from(sample).ok()?;
        match &self.hp {
            Hp::Aes128(c) => c.encrypt_block(&mut block),
            Hp::Aes256(c) => c.encrypt_block(&mut block),
            Hp::ChaCha(key) => {
                // RFC 9001 §5.4.4: counter = the sample's first 4 bytes (little-endian), nonce
                // the other 12; the mask is ChaCha20's keystream (of five zero bytes).
                let s: &[u8; 16] = sample.try_into().ok()?;
                let out = chacha20_block(key, s);
                return out.get(..5)?.try_into().ok();
            }
        }
        block.get(..5)?.try_into().ok()
    }

    /// Removes header and packet protection from `bytes` (one whole packet; its packet number
    /// at `pn_offset`, for a long header the length field ends there and the packet ends with
    /// `bytes`). `largest`: the largest packet number decrypted in this space and direction.
    /// `None`: too short for a sample, or authentication failed.
    pub fn open(&self, bytes: &[u8], pn_offset: usize, largest: Option<u64>) -> Option<Opened> {
        let sample = bytes.get(pn_offset.checked_add(4)?..pn_offset.checked_add(20)?)?;
        let mask = self.mask(sample)?;
        let mut header = bytes.get(..pn_offset.checked_add(4)?)?.to_vec();
        let first = header.first_mut()?;
        *first ^= mask[0] & if *first & 0x80 != 0 { 0x0f } else { 0x1f };
        let pn_len = usize::from(*first & 3) + 1;
        let mut truncated = 0u64;
        for i in 0..pn_len {
            let b = header.get_mut(pn_offset + i)?;
            *b ^= mask.get(1 + i)?;
            truncated = (truncated << 8) | u64::from(*b);
        }
        header.truncate(pn_offset + pn_len);
        let pn = decode_pn(largest, truncated, 8 * u32::try_from(pn_len).ok()?);
        let mut nonce = self.iv;
        for (n, p) in nonce.iter_mut().skip(4).zip(pn.to_be_bytes()) {
            *n ^= p;
        }
        let mut payload = bytes.get(pn_offset + pn_len..)?.to_vec();
        let ok = match &self.aead {
            Aead::Aes128(a) => open_with(a.as_ref(), &nonce, &header, &mut payload),
            Aead::Aes256(a) => open_with(a.as_ref(), &nonce, &header, &mut payload),
            Aead::ChaCha(a) => open_with(a.as_ref(), &nonce, &header, &mut payload),
        };
        ok.then_some(Opened { pn, payload })
    }

    /// Protects one packet (the inverse of [`open`](PacketKey::open)): `header` ends with the
    /// `pn_len`-byte packet number `pn` (its length field, for a long header, already counting
    /// the 16-byte tag). For tests and the fuzz harness.
    #[cfg(any(test, feature = "fuzzing"))]
    pub fn seal(&self, header: &[u8], pn: u64, payload: &[u8]) -> Option<Vec<u8>> {
        let first = *header.first()?;
        let pn_len = usize::from(first & 3) + 1;
        let pn_offset = header.len().checked_sub(pn_len)?;
        let mut nonce = self.iv;
        for (n, p) in nonce.iter_mut().skip(4).zip(pn.to_be_bytes()) {
            *n ^= p;
        }
        let mut body = payload.to_vec();
        let ok = match &self.aead {
            Aead::Aes128(a) => seal_with(a.as_ref(), &nonce, header, &mut body),
            Aead::Aes256(a) => seal_with(a.as_ref(), &nonce, header, &mut body),
            Aead::ChaCha(a) => seal_with(a.as_ref(), &nonce, header, &mut body),
        };
        if !ok {
            return None;
        }
        let mut out = header.to_vec();
        out.extend_from_slice(&body);
        let sample = out.get(pn_offset + 4..pn_offset + 20)?.to_vec();
        let mask = self.mask(&sample)?;
        let bits = if first & 0x80 != 0 { 0x0f } else { 0x1f };
        *out.first_mut()? ^= mask[0] & bits;
        for i in 0..pn_len {
            *out.get_mut(pn_offset + i)? ^= mask.get(1 + i)?;
        }
        Some(out)
    }
}

/// One ChaCha20 block (RFC 8439 §2.3) of `key` with the 32-bit little-endian counter and the
/// 96-bit nonce of `counter_nonce` (a header protection sample): 64 keystream bytes.
fn chacha20_block(key: &[u8; 32], counter_nonce: &[u8; 16]) -> [u8; 64] {
    fn qr(s: &mut [u32; 16], a: usize, b: usize, c: usize, d: usize) {
        s[a] = s[a].wrapping_add(s[b]);
        s[d] = (s[d] ^ s[a]).rotate_left(16);
        s[c] = s[c].wrapping_add(s[d]);
        s[b] = (s[b] ^ s[c]).rotate_left(12);
        s[a] = s[a].wrapping_add(s[b]);
        s[d] = (s[d] ^ s[a]).rotate_left(8);
        s[c] = s[c].wrapping_add(s[d]);
        s[b] = (s[b] ^ s[c]).rotate_left(7);
    }
    let word = |b: &[u8]| u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
    let mut init = [0u32; 16];
    init[..4].copy_from_slice(&[0x6170_7865, 0x3320_646e, 0x7962_2d32, 0x6b20_6574]);
    for (i, c) in key.chunks_exact(4).enumerate() {
        init[4 + i] = word(c);
    }
    for (i, c) in counter_nonce.chunks_exact(4).enumerate() {
        init[12 + i] = word(c);
    }
    let mut s = init;
    for _ in 0..10 {
        qr(&mut s, 0, 4, 8, 12);
        qr(&mut s, 1, 5, 9, 13);
        qr(&mut s, 2, 6, 10, 14);
        qr(&mut s, 3, 7, 11, 15);
        qr(&mut s, 0, 5, 10, 15);
        qr(&mut s, 1, 6, 11, 12);
        qr(&mut s, 2, 7, 8, 13);
        qr(&mut s, 3, 4, 9, 14);
    }
    let mut out = [0u8; 64];
    for (i, chunk) in out.chunks_exact_mut(4).enumerate() {
        chunk.copy_from_slice(&s[i].wrapping_add(init[i]).to_le_bytes());
    }
    out
}

fn open_with<A: AeadInOut>(a: &A, nonce: &[u8; 12], aad: &[u8], buf: &mut Vec<u8>) -> bool {
    let Ok(n) = aes_gcm::aead::Nonce::<A>::try_from(&nonce[..]) else {
        return false;
    };
    a.decrypt_in_place(&n, aad, buf).is_ok()
}

#[cfg(any(test, feature = "fuzzing"))]
fn seal_with<A: AeadInOut>(a: &A, nonce: &[u8; 12], aad: &[u8], buf: &mut Vec<u8>) -> bool {
    let Ok(n) = aes_gcm::aead::Nonce::<A>::try_from(&nonce[..]) else {
        return false;
    };
    a.encrypt_in_place(&n, aad, buf).is_ok()
}

/// The Initial keys of one connection attempt (one version, one client DCID).
#[derive(Debug, Clone)]
pub struct InitialKeys {
    /// Protects the client's Initial packets.
    pub client: PacketKey,
    /// Protects the server's Initial packets.
    pub server: PacketKey,
}

impl InitialKeys {
    /// RFC 9001 §5.2: `initial_secret = HKDF-Extract(salt, client_dcid)`, then
    /// `client in` / `server in` secrets (SHA-256, AES-128-GCM). `None` for a version without
    /// a known salt.
    pub fn new(version: u32, client_dcid: &[u8]) -> Option<InitialKeys> {
        let salt = initial_salt(version)?;
        let (prk, _) = hkdf::Hkdf::<Sha256>::extract(Some(salt), client_dcid);
        let c = expand_label(Hash::Sha256, &prk, "client in", 32)?;
        let s = expand_label(Hash::Sha256, &prk, "server in", 32)?;
        Some(InitialKeys {
            client: PacketKey::from_secret(version, 0x1301, &c)?,
            server: PacketKey::from_secret(version, 0x1301, &s)?,
        })
    }
}

/// One frame (RFC 9000 §19), as far as we read it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Frame<'a> {
    /// PADDING (not ack-eliciting).
    Padding,
    /// Any other ack-eliciting frame whose content we skip (PING, MAX_DATA, NEW_TOKEN, ...).
    Other,
    /// ACK (0x02/0x03): largest acknowledged and the ACK Delay field (unscaled).
    Ack {
        /// Largest Acknowledged.
        largest: u64,
        /// ACK Delay, in units of 2^ack_delay_exponent µs.
        delay: u64,
    },
    /// CRYPTO: offset and data.
    Crypto {
        /// Offset in the packet number space's crypto stream.
        offset: u64,
        /// The data.
        data: &'a [u8],
    },
    /// STREAM (0x08–0x0f).
    Stream {
        /// Stream ID.
        id: u64,
        /// Offset of `data` in the stream.
        offset: u64,
        /// The data.
        data: &'a [u8],
        /// FIN bit.
        fin: bool,
    },
    /// RESET_STREAM (0x04): the sender abandons its side of a stream.
    ResetStream {
        /// Stream ID.
        id: u64,
    },
    /// CONNECTION_CLOSE (0x1c transport, 0x1d application): error code.
    Close {
        /// Error code.
        code: u64,
    },
    /// HANDSHAKE_DONE (0x1e).
    HandshakeDone,
    /// NEW_CONNECTION_ID (0x18): a connection ID the sender issues for its peer to use as
    /// Destination Connection ID (on a new path, say).
    NewConnectionId {
        /// The connection ID.
        cid: &'a [u8],
    },
}

impl Frame<'_> {
    /// Whether the frame makes its packet ack-eliciting (all but PADDING, ACK and
    /// CONNECTION_CLOSE, RFC 9002 §2).
    pub fn ack_eliciting(&self) -> bool {
        !matches!(
            self,
            Frame::Padding | Frame::Ack { .. } | Frame::Close { .. }
        )
    }
}

/// Reads the frames of a decrypted payload, stopping at the first one that cannot be read
/// (returned as `Err(frames so far)`: an unknown frame type, or truncated). Runs of PADDING
/// come out as one.
pub fn frames(p: &[u8]) -> Result<Vec<Frame<'_>>, Vec<Frame<'_>>> {
    let mut out = Vec::new();
    let mut pos = 0;
    while pos < p.len() {
        match frame(p, &mut pos) {
            Some(f) => {
                if f != Frame::Padding || out.last() != Some(&Frame::Padding) {
                    out.push(f);
                }
            }
            None => return Err(out),
        }
    }
    Ok(out)
}

/// Skips `n` varints.
fn skip_varints(p: &[u8], pos: &mut usize, n: usize) -> Option<()> {
    for _ in 0..n {
        read_varint(p, pos)?;
    }
    Some(())
}

/// `len` bytes at `*pos` (advanced past them).
fn take<'a>(p: &'a [u8], pos: &mut usize, len: u64) -> Option<&'a [u8]> {
    let len = usize::try_from(len).ok()?;
    let data = p.get(*pos..pos.checked_add(len)?)?;
    *pos += len;
    Some(data)
}

fn frame<'a>(p: &'a [u8], pos: &mut usize) -> Option<Frame<'a>> {
    let ty = read_varint(p, pos)?;
    Some(match ty {
        0x00 => Frame::Padding,
        0x01 | 0x1e => {
            if ty == 0x1e {
                Frame::HandshakeDone
            } else {
                Frame::Other
            }
        }
        0x02 | 0x03 => {
            let largest = read_varint(p, pos)?;
            let delay = read_varint(p, pos)?;
            let ranges = read_varint(p, pos)?;
            let _first = read_varint(p, pos)?;
            for _ in 0..ranges {
                // Each range is two varints of at least one byte: the loop ends with the bytes.
                skip_varints(p, pos, 2)?;
            }
            if ty == 0x03 {
                skip_varints(p, pos, 3)?;
            }
            Frame::Ack { largest, delay }
        }
        // RESET_STREAM: id, error, final size.
        0x04 => {
            let id = read_varint(p, pos)?;
            skip_varints(p, pos, 2)?;
            Frame::ResetStream { id }
        }
        // STOP_SENDING: id, error.
        0x05 => {
            skip_varints(p, pos, 2)?;
            Frame::Other
        }
        0x06 => {
            let offset = read_varint(p, pos)?;
            let len = read_varint(p, pos)?;
            let data = take(p, pos, len)?;
            Frame::Crypto { offset, data }
        }
        // NEW_TOKEN: length, token.
        0x07 => {
            let len = read_varint(p, pos)?;
            take(p, pos, len)?;
            Frame::Other
        }
        0x08..=0x0f => {
            let id = read_varint(p, pos)?;
            let offset = if ty & 0x04 != 0 {
                read_varint(p, pos)?
            } else {
                0
            };
            let data = if ty & 0x02 != 0 {
                let len = read_varint(p, pos)?;
                take(p, pos, len)?
            } else {
                let rest = p.get(*pos..)?;
                *pos = p.len();
                rest
            };
            Frame::Stream {
                id,
                offset,
                data,
                fin: ty & 0x01 != 0,
            }
        }
        // MAX_DATA, MAX_STREAMS (2), DATA_BLOCKED, STREAMS_BLOCKED (2), RETIRE_CONNECTION_ID:
        // one varint.
        0x10 | 0x12 | 0x13 | 0x14 | 0x16 | 0x17 | 0x19 => {
            skip_varints(p, pos, 1)?;
            Frame::Other
        }
        // MAX_STREAM_DATA, STREAM_DATA_BLOCKED: id and a value.
        0x11 | 0x15 => {
            skip_varints(p, pos, 2)?;
            Frame::Other
        }
        // NEW_CONNECTION_ID: sequence, retire prior to, length, ID, 16-byte reset token.
        0x18 => {
            skip_varints(p, pos, 2)?;
            let len = usize::from(*p.get(*pos)?);
            *pos += 1;
            let at = *pos;
            take(p, pos, u64::try_from(len).ok()?.checked_add(16)?)?;
            match p.get(at..at + len) {
                Some(cid) if (1..=MAX_CID_LEN).contains(&len) => Frame::NewConnectionId { cid },
                _ => Frame::Other,
            }
        }
        // PATH_CHALLENGE, PATH_RESPONSE: 8 bytes.
        0x1a | 0x1b => {
            take(p, pos, 8)?;
            Frame::Other
        }
        0x1c | 0x1d => {
            let code = read_varint(p, pos)?;
            if ty == 0x1c {
                read_varint(p, pos)?;
            }
            let len = read_varint(p, pos)?;
            take(p, pos, len)?;
            Frame::Close { code }
        }
        // DATAGRAM (RFC 9221): without / with a length.
        0x30 => {
            *pos = p.len();
            Frame::Other
        }
        0x31 => {
            let len = read_varint(p, pos)?;
            take(p, pos, len)?;
            Frame::Other
        }
        _ => return None,
    })
}
