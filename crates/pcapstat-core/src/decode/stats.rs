//! Counters kept by the [`Decoder`](super::Decoder): plain, mergeable data.

use std::collections::BTreeMap;

use super::DecodeProblem;

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
}

impl DecodeStats {
    /// Add `other`'s counters to these.
    pub fn merge(&mut self, other: &DecodeStats) {
        self.frames += other.frames;
        self.ipv4 += other.ipv4;
        self.ipv6 += other.ipv6;
        self.tcp += other.tcp;
        self.udp += other.udp;
        self.other += other.other;
        self.truncated += other.truncated;
        self.fragments += other.fragments;
        self.reassembled += other.reassembled;
        self.fragments_expired += other.fragments_expired;
        self.fragments_evicted += other.fragments_evicted;
        self.undecodable.merge(&other.undecodable);
        for (lt, n) in &other.unsupported_link_types {
            *self.unsupported_link_types.entry(*lt).or_insert(0) += n;
        }
    }
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

    /// Add `other`'s counts to these.
    pub fn merge(&mut self, other: &ProblemCounts) {
        for (a, b) in self.counts.iter_mut().zip(other.counts.iter()) {
            *a += b;
        }
    }

    pub(crate) fn add(&mut self, problem: DecodeProblem) {
        if let Some(c) = self.counts.get_mut(problem as usize) {
            *c += 1;
        }
    }
}
