//! ClientHello fields and the JA3 / JA4 fingerprints.
//!
//! The extension block is framed here (type, length, data) so that the order and the raw type
//! values of every extension are kept even when one of them is malformed; the contents of the
//! extensions we need are then decoded with tls-parser, one extension at a time.

use std::fmt::Write as _;

use md5::{Digest as _, Md5};
use sha2::Sha256;
use tls_parser::{parse_tls_client_hello_extension, SNIType, TlsClientHelloContents, TlsExtension};

/// A GREASE value (RFC 8701): `0x?a?a` with both bytes equal.
pub(crate) fn is_grease(v: u16) -> bool {
    v & 0x0f0f == 0x0a0a && (v >> 8) == (v & 0xff)
}

/// Most ALPN names copied out of a ClientHello: one more than the row keeps.
pub(crate) const MAX_ALPN_COPIED: usize = super::MAX_KEPT_LIST + 1;

/// What the ClientHello says, in the form the record and the fingerprints need.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct ClientHelloInfo {
    pub legacy_version: u16,
    pub ciphers: Vec<u16>,
    pub session_id: Vec<u8>,
    /// Extension types in wire order (GREASE included).
    pub ext_types: Vec<u16>,
    pub sni: Option<String>,
    /// The first ALPN names offered: at most [`MAX_ALPN_COPIED`], enough for the kept list
    /// and to tell that it was cut (a hostile hello can offer 32 k names; JA4 reads the first).
    pub alpn: Vec<Vec<u8>>,
    /// supported_versions as sent (GREASE included); `None` without the extension.
    pub supported_versions: Option<Vec<u16>>,
    pub groups: Vec<u16>,
    pub point_formats: Vec<u8>,
    pub sig_algs: Vec<u16>,
    pub session_ticket_non_empty: bool,
    pub psk: bool,
}

/// Splits an extension block into (type, whole extension bytes) without interpreting it; stops
/// at the first extension that does not fit (lax, like the rest of the decoder).
pub(crate) fn raw_extensions(mut ext: &[u8]) -> Vec<(u16, &[u8])> {
    let mut out = Vec::new();
    while ext.len() >= 4 {
        let ty = u16::from_be_bytes([ext[0], ext[1]]);
        let len = usize::from(u16::from_be_bytes([ext[2], ext[3]]));
        let Some(whole) = ext.get(..4 + len) else {
            break;
        };
        out.push((ty, whole));
        ext = &ext[4 + len..];
    }
    out
}

impl ClientHelloInfo {
    pub(crate) fn from_hello(ch: &TlsClientHelloContents<'_>) -> Self {
        let mut info = ClientHelloInfo {
            legacy_version: ch.version.0,
            ciphers: ch.ciphers.iter().map(|c| c.0).collect(),
            session_id: ch.session_id.map(<[u8]>::to_vec).unwrap_or_default(),
            ..Default::default()
        };
        for (ty, whole) in raw_extensions(ch.ext.unwrap_or_default()) {
            info.ext_types.push(ty);
            let Ok((_, ext)) = parse_tls_client_hello_extension(whole) else {
                continue;
            };
            match ext {
                TlsExtension::SNI(names) if info.sni.is_none() => {
                    info.sni = names
                        .iter()
                        .find(|(t, _)| *t == SNIType::HostName)
                        .map(|(_, n)| String::from_utf8_lossy(n).into_owned());
                }
                TlsExtension::ALPN(protos) => {
                    info.alpn = protos
                        .iter()
                        .take(MAX_ALPN_COPIED)
                        .map(|p| p.to_vec())
                        .collect();
                }
                TlsExtension::SupportedVersions(v) => {
                    info.supported_versions = Some(v.iter().map(|v| v.0).collect());
                }
                TlsExtension::EllipticCurves(g) => info.groups = g.iter().map(|g| g.0).collect(),
                TlsExtension::EcPointFormats(f) => info.point_formats = f.to_vec(),
                TlsExtension::SignatureAlgorithms(s) => info.sig_algs = s,
                TlsExtension::SessionTicket(t) => info.session_ticket_non_empty = !t.is_empty(),
                TlsExtension::PreSharedKey(_) => info.psk = true,
                _ => {}
            }
        }
        // A pre_shared_key that tls-parser could not decode is still offered.
        if info.ext_types.contains(&41) {
            info.psk = true;
        }
        info
    }

    /// Versions offered: supported_versions without GREASE, else the legacy version.
    pub(crate) fn versions_offered(&self) -> Vec<u16> {
        match &self.supported_versions {
            Some(v) => no_grease(v),
            None => vec![self.legacy_version],
        }
    }

    /// JA3 string: `SSLVersion,Ciphers,Extensions,EllipticCurves,EllipticCurvePointFormats`,
    /// decimal values joined by `-`, GREASE removed from every list.
    pub(crate) fn ja3(&self) -> String {
        // Written into one string (no string per value: a hostile hello offers 32 k suites).
        fn join<T: std::fmt::Display>(out: &mut String, it: impl Iterator<Item = T>) {
            for (i, v) in it.enumerate() {
                if i > 0 {
                    out.push('-');
                }
                let _ = write!(out, "{v}");
            }
        }
        let ng = |v: &&u16| !is_grease(**v);
        let mut out = self.legacy_version.to_string();
        out.push(',');
        join(&mut out, self.ciphers.iter().filter(ng));
        out.push(',');
        join(&mut out, self.ext_types.iter().filter(ng));
        out.push(',');
        join(&mut out, self.groups.iter().filter(ng));
        out.push(',');
        join(&mut out, self.point_formats.iter());
        out
    }

    /// JA4 (FoxIO, TCP): `t{version}{d|i}{ciphers:02}{extensions:02}{alpn}_{b}_{c}`.
    pub(crate) fn ja4(&self) -> String {
        let version = self
            .versions_offered()
            .into_iter()
            .max()
            .unwrap_or(self.legacy_version);
        let version = match version {
            0x0304 => "13",
            0x0303 => "12",
            0x0302 => "11",
            0x0301 => "10",
            0x0300 => "s3",
            0x0002 => "s2",
            0xfeff => "d1",
            0xfefd => "d2",
            0xfefc => "d3",
            _ => "00",
        };
        let sni = if self.ext_types.contains(&0) {
            'd'
        } else {
            'i'
        };
        let (ciphers, exts) = (no_grease(&self.ciphers), no_grease(&self.ext_types));
        let alpn = match self.alpn.first() {
            Some(a) if !a.is_empty() => {
                let (f, l) = (a[0], a[a.len() - 1]);
                if f.is_ascii_alphanumeric() && l.is_ascii_alphanumeric() {
                    format!("{}{}", char::from(f), char::from(l))
                } else {
                    let hex_first = format!("{f:02x}");
                    let hex_last = format!("{l:02x}");
                    format!("{}{}", &hex_first[..1], &hex_last[1..])
                }
            }
            _ => "00".to_string(),
        };
        let a = format!(
            "t{version}{sni}{:02}{:02}{alpn}",
            ciphers.len().min(99),
            exts.len().min(99)
        );
        let mut sorted_ciphers = ciphers;
        sorted_ciphers.sort_unstable();
        let b = sha256_12(&hex_list(&sorted_ciphers));
        let mut sorted_exts: Vec<u16> = exts.into_iter().filter(|e| *e != 0 && *e != 16).collect();
        sorted_exts.sort_unstable();
        let c = if sorted_exts.is_empty() {
            "000000000000".to_string()
        } else {
            let mut s = hex_list(&sorted_exts);
            if !self.sig_algs.is_empty() {
                s.push('_');
                s.push_str(&hex_list(&self.sig_algs));
            }
            sha256_12(&s)
        };
        format!("{a}_{b}_{c}")
    }
}

/// `v` without its GREASE values.
fn no_grease(v: &[u16]) -> Vec<u16> {
    v.iter().copied().filter(|v| !is_grease(*v)).collect()
}

fn hex_list(v: &[u16]) -> String {
    let mut out = String::with_capacity(v.len() * 5);
    for (i, x) in v.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        let _ = write!(out, "{x:04x}");
    }
    out
}

fn sha256_12(s: &str) -> String {
    if s.is_empty() {
        return "000000000000".to_string();
    }
    let mut h = hex(&Sha256::digest(s.as_bytes()));
    h.truncate(12);
    h
}

fn hex(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(2 * bytes.len());
    for b in bytes {
        let _ = write!(out, "{b:02x}");
    }
    out
}

/// MD5 of a string, lower-case hex.
pub(crate) fn md5_hex(s: &str) -> String {
    hex(&Md5::digest(s.as_bytes()))
}
