//! Counters kept by the [`Decoder`](super::Decoder): plain, mergeable data.

use std::collections::BTreeMap;

use super::DecodeProblem;
use crate::stats::{counters, join, Counters};

counters! {
    /// Frame counts by what the decoder found, and counted reasons for what it could not decode.
    ///
    /// Every field is a plain counter; [`DecodeStats::merge`] adds another set of counters (for
    /// example from another shard or another file).
    #[derive(Debug, Clone, Default, PartialEq, Eq)]
    pub struct DecodeStats {
        /// Frames handed to the decoder.
        pub frames: u64,
        /// Frames in which at least one IPv4 header was decoded (tshark `ip`).
        pub ipv4: u64,
        /// Frames in which at least one IPv6 header was decoded (tshark `ipv6`).
        pub ipv6: u64,
        /// Frames in which at least one TCP header was decoded (tshark `tcp`).
        pub tcp: u64,
        /// Frames in which at least one UDP header was decoded (tshark `udp`).
        pub udp: u64,
        /// Frames without any IP layer that were not an error either (ARP, LLDP, STP, netlink, ...).
        pub other: u64,
        /// Frames cut by the snap length (`data.len() < orig_len`) or whose IP length says more
        /// bytes were on the wire than were captured.
        pub truncated: u64,
        /// Frames carrying an IP fragment (a datagram with MF set or a non-zero offset).
        pub fragments: u64,
        /// Datagrams completed by fragment reassembly.
        pub reassembled: u64,
        /// Incomplete datagrams dropped because their first fragment is older than the timeout
        /// (capture time).
        pub fragments_expired: u64,
        /// Incomplete datagrams dropped to stay within the fragment buffer limits.
        pub fragments_evicted: u64,
        /// Frames the decoder stopped on, by reason (see [`DecodeProblem`]).
        pub undecodable: ProblemCounts,
        /// Frames on link types the decoder does not support, by link-type number.
        pub unsupported_link_types: BTreeMap<u32, u64>,
        /// Frames that stopped on an encapsulation the decoder recognised but does not decode
        /// (the frames of [`DecodeProblem::UndecodedEncapsulation`]), by encapsulation. At most
        /// `MAX_ENCAPSULATION_KINDS` (32) keys: beyond them, frames count under
        /// [`Encapsulation::Other`].
        pub undecoded_encapsulations: BTreeMap<Encapsulation, u64>,
    }
}

/// Most distinct keys kept in [`DecodeStats::undecoded_encapsulations`] (plus
/// [`Encapsulation::Other`]), so hostile input cannot grow the map.
pub const MAX_ENCAPSULATION_KINDS: usize = 32;

/// An encapsulation that carries packets but that the decoder does not decode, named by the
/// number that identified it. Counted in [`DecodeStats::undecoded_encapsulations`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Encapsulation {
    /// GRE (or a Linux GRE device) carrying a protocol type the decoder does not follow.
    GreProtocol(u16),
    /// Geneve carrying a protocol type the decoder does not follow.
    GeneveProtocol(u16),
    /// An ether type known to carry other frames or packets (MACsec, PBB, NSH, ...) that the
    /// decoder does not decode.
    EtherType(u16),
    /// An IP protocol known to carry other packets (ESP, EtherIP, IPComp, L2TPv3, MPLS in IP)
    /// that the decoder does not decode.
    IpProtocol(u8),
    /// An ERSPAN header of a version other than 1 (type II) and 2 (type III).
    ErspanVersion(u8),
    /// An NFLOG packet of an address family other than IPv4 / IPv6 and without a hardware
    /// protocol.
    NflogFamily(u8),
    /// An MPLS label stack whose payload is not IP (an Ethernet pseudowire, for example).
    MplsNonIp,
    /// Any encapsulation beyond the first `MAX_ENCAPSULATION_KINDS` distinct ones.
    Other,
}

impl Encapsulation {
    /// A stable lowercase name, e.g. `gre protocol 0x1234`, `ip protocol 50 (esp)` (report
    /// lines and JSON keys).
    pub fn name(self) -> String {
        match self {
            Encapsulation::GreProtocol(p) => format!("gre protocol {p:#06x}"),
            Encapsulation::GeneveProtocol(p) => format!("geneve protocol {p:#06x}"),
            Encapsulation::EtherType(t) => match ether_type_name(t) {
                Some(n) => format!("ether type {t:#06x} ({n})"),
                None => format!("ether type {t:#06x}"),
            },
            Encapsulation::IpProtocol(p) => match ip_protocol_name(p) {
                Some(n) => format!("ip protocol {p} ({n})"),
                None => format!("ip protocol {p}"),
            },
            Encapsulation::ErspanVersion(v) => format!("erspan version {v}"),
            Encapsulation::NflogFamily(f) => format!("nflog family {f}"),
            Encapsulation::MplsNonIp => "mpls payload not ip".to_string(),
            Encapsulation::Other => "other encapsulations".to_string(),
        }
    }
}

impl std::fmt::Display for Encapsulation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.name())
    }
}

/// Names of the ether types counted as undecoded encapsulations.
pub(super) fn ether_type_name(t: u16) -> Option<&'static str> {
    Some(match t {
        0x88E5 => "macsec",
        0x88E7 => "pbb",
        0x894F => "nsh",
        0x893F => "e-tag",
        0x8926 => "vn-tag",
        0x8909 => "cisco metadata",
        0x88BE | 0x22EB => "erspan",
        0x6558 => "transparent ethernet bridging",
        0x880B => "ppp",
        _ => return None,
    })
}

/// Names of the IP protocols counted as undecoded encapsulations.
pub(super) fn ip_protocol_name(p: u8) -> Option<&'static str> {
    Some(match p {
        50 => "esp",
        97 => "etherip",
        108 => "ipcomp",
        115 => "l2tp",
        137 => "mpls in ip",
        _ => return None,
    })
}

/// Count `n` frames under `e` in `map`, within [`MAX_ENCAPSULATION_KINDS`] keys.
pub(crate) fn add_encapsulation(map: &mut BTreeMap<Encapsulation, u64>, e: Encapsulation, n: u64) {
    let kinds = map.len() - usize::from(map.contains_key(&Encapsulation::Other));
    let key = if map.contains_key(&e) || kinds < MAX_ENCAPSULATION_KINDS {
        e
    } else {
        Encapsulation::Other
    };
    *map.entry(key).or_insert(0) += n;
}

/// How many frames stopped on each [`DecodeProblem`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProblemCounts {
    counts: [u64; DecodeProblem::ALL.len()],
}

impl ProblemCounts {
    /// Frames that stopped on `problem`.
    pub fn get(&self, problem: DecodeProblem) -> u64 {
        self.counts.get(problem as usize).copied().unwrap_or(0)
    }

    /// Frames that stopped on any problem.
    pub fn total(&self) -> u64 {
        self.counts.iter().sum()
    }

    /// Every problem with a non-zero count, in declaration order.
    pub fn iter(&self) -> impl Iterator<Item = (DecodeProblem, u64)> + '_ {
        DecodeProblem::ALL
            .iter()
            .zip(self.counts.iter())
            .filter(|(_, n)| **n > 0)
            .map(|(p, n)| (*p, *n))
    }

    pub(crate) fn add(&mut self, problem: DecodeProblem) {
        if let Some(c) = self.counts.get_mut(problem as usize) {
            *c += 1;
        }
    }
}

/// Every problem, zero or not, as `path.<problem name>`.
impl Counters for ProblemCounts {
    fn merge(&mut self, other: &Self) {
        for (a, b) in self.counts.iter_mut().zip(other.counts.iter()) {
            *a += b;
        }
    }
    fn visit(&self, path: &str, f: &mut dyn FnMut(&str, u64)) {
        for p in DecodeProblem::ALL {
            f(&join(path, p.name()), self.get(p));
        }
    }
    fn visit_mut(&mut self, path: &str, f: &mut dyn FnMut(&str, &mut u64)) {
        for (p, n) in DecodeProblem::ALL.iter().zip(self.counts.iter_mut()) {
            f(&join(path, p.name()), n);
        }
    }
}
