//! TLS record decryption with secrets from a key log (sans-IO, no state beyond one direction's
//! key and sequence number).
//!
//! * TLS 1.3 (RFC 8446 §7.1, §5.2–5.3): `key = HKDF-Expand-Label(secret, "key", "", key_len)`,
//!   `iv = HKDF-Expand-Label(secret, "iv", "", 12)`; nonce = iv XOR the 64-bit record sequence
//!   number; additional data = the 5-byte record header; the plaintext ends with the real
//!   content type followed by zero padding. KeyUpdate: `HKDF-Expand-Label(secret, "traffic upd",
//!   "", Hash.length)`.
//! * TLS 1.2 AEAD suites (RFC 5246 §6.3, RFC 5288, RFC 7905): key block =
//!   `PRF(master_secret, "key expansion", server_random + client_random)` cut into client key,
//!   server key, client IV, server IV (no MAC keys). GCM: nonce = 4-byte IV ‖ the record's
//!   8-byte explicit nonce; ChaCha20-Poly1305: nonce = 12-byte IV XOR the sequence number;
//!   additional data = seq ‖ type ‖ version ‖ plaintext length.
//!
//! Other suites (CBC, RC4, CCM, …) are not decrypted: [`Suite::of`] returns `None`.

use aes_gcm::aead::AeadInOut;
use aes_gcm::{Aes128Gcm, Aes256Gcm, KeyInit};
use chacha20poly1305::ChaCha20Poly1305;
use hmac::{Hmac, Mac};
use sha2::{Sha256, Sha384};

/// The record cipher of a suite.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Cipher {
    Aes128Gcm,
    Aes256Gcm,
    ChaCha20Poly1305,
}

/// The hash of a suite (HKDF in TLS 1.3, PRF in TLS 1.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Hash {
    Sha256,
    Sha384,
}

/// A cipher suite we can decrypt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Suite {
    pub cipher: Cipher,
    pub hash: Hash,
    pub tls13: bool,
}

impl Suite {
    /// The suite of a ServerHello's cipher suite value, if supported.
    pub fn of(cipher_suite: u16) -> Option<Suite> {
        use Cipher::*;
        use Hash::*;
        let (cipher, hash, tls13) = match cipher_suite {
            0x1301 => (Aes128Gcm, Sha256, true),
            0x1302 => (Aes256Gcm, Sha384, true),
            0x1303 => (ChaCha20Poly1305, Sha256, true),
            // (EC)DHE / RSA key exchange with AES-GCM (RFC 5288, RFC 5289).
            0x009c | 0x009e | 0x00a2 | 0xc02b | 0xc02f => (Aes128Gcm, Sha256, false),
            0x009d | 0x009f | 0x00a3 | 0xc02c | 0xc030 => (Aes256Gcm, Sha384, false),
            // ChaCha20-Poly1305 (RFC 7905): ECDHE-RSA, ECDHE-ECDSA, DHE-RSA.
            0xcca8..=0xccaa => (ChaCha20Poly1305, Sha256, false),
            _ => return None,
        };
        Some(Suite {
            cipher,
            hash,
            tls13,
        })
    }

    fn key_len(self) -> usize {
        match self.cipher {
            Cipher::Aes128Gcm => 16,
            Cipher::Aes256Gcm | Cipher::ChaCha20Poly1305 => 32,
        }
    }

    fn hash_len(self) -> usize {
        match self.hash {
            Hash::Sha256 => 32,
            Hash::Sha384 => 48,
        }
    }
}

/// HKDF-Expand-Label (RFC 8446 §7.1) with an empty context.
pub(crate) fn expand_label(hash: Hash, secret: &[u8], label: &str, len: usize) -> Option<Vec<u8>> {
    let full = [b"tls13 ", label.as_bytes()].concat();
    let mut info = Vec::with_capacity(4 + full.len());
    info.extend_from_slice(&u16::try_from(len).ok()?.to_be_bytes());
    info.push(u8::try_from(full.len()).ok()?);
    info.extend_from_slice(&full);
    info.push(0);
    let mut out = vec![0u8; len];
    match hash {
        Hash::Sha256 => hkdf::Hkdf::<Sha256>::from_prk(secret)
            .ok()?
            .expand(&info, &mut out)
            .ok()?,
        Hash::Sha384 => hkdf::Hkdf::<Sha384>::from_prk(secret)
            .ok()?
            .expand(&info, &mut out)
            .ok()?,
    }
    Some(out)
}

fn hmac(hash: Hash, key: &[u8], parts: &[&[u8]]) -> Option<Vec<u8>> {
    match hash {
        Hash::Sha256 => {
            let mut m = <Hmac<Sha256> as hmac::KeyInit>::new_from_slice(key).ok()?;
            parts.iter().for_each(|p| m.update(p));
            Some(m.finalize().into_bytes().to_vec())
        }
        Hash::Sha384 => {
            let mut m = <Hmac<Sha384> as hmac::KeyInit>::new_from_slice(key).ok()?;
            parts.iter().for_each(|p| m.update(p));
            Some(m.finalize().into_bytes().to_vec())
        }
    }
}

/// The TLS 1.2 PRF (RFC 5246 §5): P_hash(secret, label ‖ seed), `len` bytes.
pub(crate) fn prf12(
    hash: Hash,
    secret: &[u8],
    label: &[u8],
    seed: &[u8],
    len: usize,
) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(len + 48);
    let mut a = hmac(hash, secret, &[label, seed])?;
    while out.len() < len {
        out.extend_from_slice(&hmac(hash, secret, &[&a, label, seed])?);
        a = hmac(hash, secret, &[&a])?;
    }
    out.truncate(len);
    Some(out)
}

#[derive(Clone)]
enum Aead {
    Aes128(Box<Aes128Gcm>),
    Aes256(Box<Aes256Gcm>),
    ChaCha(Box<ChaCha20Poly1305>),
}

/// How the nonce and additional data of a record are formed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Framing {
    Tls13,
    /// TLS 1.2 GCM: 4-byte implicit salt, 8-byte explicit nonce at the start of each record.
    Tls12Explicit,
    /// TLS 1.2 ChaCha20-Poly1305: 12-byte IV XOR sequence number.
    Tls12Xor,
}

/// One direction's record protection: key, IV and the next sequence number.
#[derive(Clone)]
pub(crate) struct RecordKey {
    aead: Aead,
    iv: [u8; 12],
    framing: Framing,
    suite: Suite,
    /// TLS 1.3 traffic secret (for KeyUpdate); empty for TLS 1.2.
    secret: Vec<u8>,
    seq: u64,
}

impl std::fmt::Debug for RecordKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecordKey")
            .field("suite", &self.suite)
            .field("seq", &self.seq)
            .finish_non_exhaustive()
    }
}

fn aead(cipher: Cipher, key: &[u8]) -> Option<Aead> {
    Some(match cipher {
        Cipher::Aes128Gcm => Aead::Aes128(Box::new(Aes128Gcm::new_from_slice(key).ok()?)),
        Cipher::Aes256Gcm => Aead::Aes256(Box::new(Aes256Gcm::new_from_slice(key).ok()?)),
        Cipher::ChaCha20Poly1305 => {
            Aead::ChaCha(Box::new(ChaCha20Poly1305::new_from_slice(key).ok()?))
        }
    })
}

fn open_with<A: AeadInOut>(a: &A, nonce: &[u8; 12], aad: &[u8], buf: &mut Vec<u8>) -> bool {
    let Ok(n) = aes_gcm::aead::Nonce::<A>::try_from(&nonce[..]) else {
        return false;
    };
    a.decrypt_in_place(&n, aad, buf).is_ok()
}

/// The two directions' keys of a TLS 1.2 session: (client write, server write).
pub(crate) fn tls12_keys(
    suite: Suite,
    master_secret: &[u8],
    client_random: &[u8],
    server_random: &[u8],
) -> Option<(RecordKey, RecordKey)> {
    let k = suite.key_len();
    let iv_len = if suite.cipher == Cipher::ChaCha20Poly1305 {
        12
    } else {
        4
    };
    let seed = [server_random, client_random].concat();
    let block = prf12(
        suite.hash,
        master_secret,
        b"key expansion",
        &seed,
        2 * k + 2 * iv_len,
    )?;
    let (ck, rest) = block.split_at(k);
    let (sk, rest) = rest.split_at(k);
    let (civ, siv) = rest.split_at(iv_len);
    let framing = if iv_len == 12 {
        Framing::Tls12Xor
    } else {
        Framing::Tls12Explicit
    };
    let make = |key: &[u8], iv: &[u8]| -> Option<RecordKey> {
        let mut iv12 = [0u8; 12];
        iv12.get_mut(..iv.len())?.copy_from_slice(iv);
        Some(RecordKey {
            aead: aead(suite.cipher, key)?,
            iv: iv12,
            framing,
            suite,
            secret: Vec::new(),
            seq: 0,
        })
    };
    Some((make(ck, civ)?, make(sk, siv)?))
}

impl RecordKey {
    /// The key of a TLS 1.3 traffic secret.
    pub fn tls13(suite: Suite, secret: &[u8]) -> Option<RecordKey> {
        if secret.len() != suite.hash_len() {
            return None;
        }
        let key = expand_label(suite.hash, secret, "key", suite.key_len())?;
        let iv: [u8; 12] = expand_label(suite.hash, secret, "iv", 12)?
            .try_into()
            .ok()?;
        Some(RecordKey {
            aead: aead(suite.cipher, &key)?,
            iv,
            framing: Framing::Tls13,
            suite,
            secret: secret.to_vec(),
            seq: 0,
        })
    }

    /// The next TLS 1.3 application traffic key (after a KeyUpdate).
    pub fn updated(&self) -> Option<RecordKey> {
        let next = expand_label(
            self.suite.hash,
            &self.secret,
            "traffic upd",
            self.suite.hash_len(),
        )?;
        RecordKey::tls13(self.suite, &next)
    }

    /// Decrypts one record (`header` = its 5-byte header, `payload` = its body) and advances the
    /// sequence number. TLS 1.3: returns (inner content type, content) with the padding
    /// removed; TLS 1.2: (the header's type, plaintext). `None`: authentication failed or the
    /// record is too short (the sequence number still advances).
    pub fn open(&mut self, header: &[u8; 5], payload: &[u8]) -> Option<(u8, Vec<u8>)> {
        let seq = self.seq;
        self.seq = self.seq.wrapping_add(1);
        let mut nonce = self.iv;
        let (mut buf, aad): (Vec<u8>, Vec<u8>) = match self.framing {
            Framing::Tls13 => {
                xor_seq(&mut nonce, seq);
                (payload.to_vec(), header.to_vec())
            }
            Framing::Tls12Explicit | Framing::Tls12Xor => {
                let body = if self.framing == Framing::Tls12Explicit {
                    let explicit = payload.get(..8)?;
                    nonce.get_mut(4..)?.copy_from_slice(explicit);
                    payload.get(8..)?
                } else {
                    xor_seq(&mut nonce, seq);
                    payload
                };
                let pt_len = u16::try_from(body.len().checked_sub(16)?).ok()?;
                let mut aad = Vec::with_capacity(13);
                aad.extend_from_slice(&seq.to_be_bytes());
                aad.extend_from_slice(&header[..3]);
                aad.extend_from_slice(&pt_len.to_be_bytes());
                (body.to_vec(), aad)
            }
        };
        let ok = match &self.aead {
            Aead::Aes128(a) => open_with(a.as_ref(), &nonce, &aad, &mut buf),
            Aead::Aes256(a) => open_with(a.as_ref(), &nonce, &aad, &mut buf),
            Aead::ChaCha(a) => open_with(a.as_ref(), &nonce, &aad, &mut buf),
        };
        if !ok {
            return None;
        }
        if self.framing == Framing::Tls13 {
            let end = buf.iter().rposition(|&b| b != 0)?;
            let ty = buf[end];
            buf.truncate(end);
            Some((ty, buf))
        } else {
            Some((header[0], buf))
        }
    }
}

#[cfg(any(test, feature = "fuzzing"))]
impl RecordKey {
    /// Protects one record of content type `ty` (the inverse of [`open`](RecordKey::open), at
    /// the same sequence number), for the fuzz harness: the whole record, header included. TLS
    /// 1.3 records go out as application_data with `ty` as the inner type; TLS 1.2 GCM records
    /// carry the sequence number as explicit nonce. `None` when `plain` does not fit a record.
    pub fn seal(&mut self, ty: u8, plain: &[u8]) -> Option<Vec<u8>> {
        use aes_gcm::aead::AeadInOut;
        fn seal_with<A: AeadInOut>(a: &A, nonce: &[u8; 12], aad: &[u8], buf: &mut Vec<u8>) -> bool {
            let Ok(n) = aes_gcm::aead::Nonce::<A>::try_from(&nonce[..]) else {
                return false;
            };
            a.encrypt_in_place(&n, aad, buf).is_ok()
        }
        let seq = self.seq;
        self.seq = self.seq.wrapping_add(1);
        let mut nonce = self.iv;
        let mut buf = plain.to_vec();
        let (outer, explicit, aad) = match self.framing {
            Framing::Tls13 => {
                xor_seq(&mut nonce, seq);
                buf.push(ty);
                let len = u16::try_from(buf.len() + 16).ok()?.to_be_bytes();
                (23, Vec::new(), vec![23, 3, 3, len[0], len[1]])
            }
            Framing::Tls12Explicit | Framing::Tls12Xor => {
                let explicit = if self.framing == Framing::Tls12Explicit {
                    nonce.get_mut(4..)?.copy_from_slice(&seq.to_be_bytes());
                    seq.to_be_bytes().to_vec()
                } else {
                    xor_seq(&mut nonce, seq);
                    Vec::new()
                };
                let mut aad = seq.to_be_bytes().to_vec();
                aad.extend_from_slice(&[ty, 3, 3]);
                aad.extend_from_slice(&u16::try_from(plain.len()).ok()?.to_be_bytes());
                (ty, explicit, aad)
            }
        };
        let ok = match &self.aead {
            Aead::Aes128(a) => seal_with(a.as_ref(), &nonce, &aad, &mut buf),
            Aead::Aes256(a) => seal_with(a.as_ref(), &nonce, &aad, &mut buf),
            Aead::ChaCha(a) => seal_with(a.as_ref(), &nonce, &aad, &mut buf),
        };
        if !ok {
            return None;
        }
        let body = explicit.len() + buf.len();
        let mut out = vec![outer, 3, 3];
        out.extend_from_slice(&u16::try_from(body).ok()?.to_be_bytes());
        out.extend_from_slice(&explicit);
        out.extend_from_slice(&buf);
        Some(out)
    }
}

fn xor_seq(nonce: &mut [u8; 12], seq: u64) {
    for (n, s) in nonce[4..].iter_mut().zip(seq.to_be_bytes()) {
        *n ^= s;
    }
}
