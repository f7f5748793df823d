//! Frame → decoded layers: link layer, IPv4/IPv6 (fragments reassembled, bounded), TCP/UDP.
//!
//! # Guarantees
//!
//! * **Never panics** on any input, and never returns an error: what cannot be decoded becomes
//!   a [`DecodeProblem`] on the frame and a counted reason in [`DecodeStats::undecodable`];
//!   an unsupported link type is counted by number in [`DecodeStats::unsupported_link_types`],
//!   and an encapsulation that carries packets but is not decoded (see below) by name in
//!   [`DecodeStats::undecoded_encapsulations`]. Non-IP traffic (ARP, LLDP, netlink, ...) is
//!   counted as [`DecodeStats::other`], not as a problem. Checksums are not verified (NICs
//!   offload them), so a bad checksum is not a reason.
//! * **No allocation per packet** on the common path: everything returned borrows the frame.
//!   Only fragment reassembly allocates, and its buffers are re-used and bounded by
//!   [`DecodeLimits`] (datagrams in progress, bytes buffered); datagrams expire after a
//!   timeout measured in *capture* time (`Frame::ts_ns`), never wall-clock time. Expired and
//!   evicted datagrams are counted.
//! * **Snap length**: a frame cut short (`data.len() < orig_len`) is decoded as far as its
//!   bytes go and flagged [`Decoded::truncated`]. `payload_len` of a [`TcpSegment`] or
//!   [`UdpDatagram`] is the on-the-wire length from the IP (and UDP) length fields, while
//!   `payload` holds only the captured bytes; Ethernet trailer padding is never payload. As in
//!   tshark, an IP length field larger than what the enclosing layer carried on the wire (the
//!   frame's original length less the link headers, or a PPPoE session's length field) is
//!   capped to it.
//!
//! # Link types
//!
//! Ethernet (802.1Q / 802.1ad / QinQ VLAN tags, MPLS, PPPoE session, and the 802.1ah PBB,
//! VN-tag, 802.1BR E-tag, Cisco MetaData and NSH headers), Linux cooked v1 (113) and v2 (276),
//! raw IP (12, 14, 101, 228, 229), BSD NULL (0, address family in either byte order) and LOOP
//! (108), Cisco HDLC (104), PPP (9, 50), FDDI with LLC/SNAP (10) and Linux NFLOG (239). The
//! upper 16 bits of the link-type number (FCS length flags) are ignored.
//!
//! # Tunnels
//!
//! IPv4/IPv6 in IP (protocols 4 and 41); GRE (protocol 47, versions 0 and 1) carrying IPv4,
//! IPv6, Ethernet (0x6558), PPP (0x880B), MPLS, VLAN-tagged frames, WCCP redirects (0x883E)
//! and ERSPAN (0x88BE and 0x22EB: as in tshark, type I when the GRE header has no flag set,
//! else the ERSPAN header's version tells type II from type III); VXLAN (UDP 4789), Geneve
//! (UDP 6081), Teredo (UDP 3544), GTP-U G-PDUs (UDP 2152) and L2TPv2 data messages (UDP
//! 1701), the last two only when their header's fixed bits and length field check out.
//!
//! # Undecoded encapsulations
//!
//! What is known to carry packets but is not decoded stops the frame with
//! [`DecodeProblem::UndecodedEncapsulation`] and is counted by name
//! ([`Encapsulation`]): a GRE or Geneve protocol type other than the above, with bytes
//! behind it (GRE keepalives carry none; ARP, RARP, NHRP and CDP over GRE are traffic, not
//! tunnels); MACsec (0x88E5); an NSH next protocol other than IPv4/IPv6/Ethernet; the IP
//! protocols ESP (50), EtherIP (97), IPComp (108), L2TPv3 (115) and MPLS in IP (137); an MPLS
//! payload that is not IP (pseudowires); an ERSPAN version other than 1 and 2; an NFLOG
//! packet of a family other than IPv4/IPv6 without hardware protocol. The map keeps at most
//! [`MAX_ENCAPSULATION_KINDS`] names. Other tunnels over UDP (VXLAN-GPE, MPLS over UDP,
//! L2TPv3 over UDP, ...) are not recognised: UDP ports alone do not tell them apart from
//! ordinary traffic.
//!
//! # Counting semantics (mirrors `tshark -z io,stat,0,ip,ipv6,tcp,udp`)
//!
//! A frame counts as IPv4 / IPv6 / TCP / UDP ([`Layers`]) when a header of that protocol is
//! *dissected* anywhere in it, as in tshark:
//!
//! * the IP header and the start of the TCP/UDP header quoted inside an ICMP or ICMPv6 error
//!   (destination unreachable, time exceeded, parameter problem, packet too big, source
//!   quench, redirect) count — even when only 8 bytes of the transport header are quoted;
//! * tunnelled IP counts: every tunnel listed above;
//! * a fragmented datagram counts TCP/UDP only on the frame that completes its reassembly;
//!   the other fragments (including the first one) count only as IP;
//! * a truncated TCP/UDP header still counts (tshark adds the protocol before it runs out of
//!   bytes), as does a truncated or malformed IP header once its version is known.
//!
//! Known, deliberate differences from tshark:
//!
//! * reassembly gives up on a datagram after [`DecodeLimits::fragment_timeout_ns`] of capture
//!   time and within [`DecodeLimits::max_fragment_datagrams`] / `max_fragment_bytes`;
//!   tshark keeps every fragment forever, so a datagram completed after the timeout counts
//!   as UDP/TCP in tshark but not here;
//! * fragments nested inside a reassembled datagram are not reassembled again;
//! * tunnels and protocols other than those listed above (GTP-C, L2TPv3, SCTP, ...) are not
//!   decoded; tshark counts IP/UDP/TCP found inside them;
//! * NFLOG attributes are in the capturing host's byte order, which tshark takes from the
//!   file; the decoder takes the order in which the first attribute type is below 256;
//! * UDP tunnels are recognised on either port; tshark tries the lower port's dissector
//!   first, so e.g. a VXLAN source port towards port 53 would be DNS in tshark;
//! * an IPv6 atomic fragment (offset 0, no more fragments) whose payload is a single byte
//!   of TCP counts as TCP here, like any truncated TCP header; tshark 4.0 does not count it
//!   in `ipv6-malformed-fragments-26/frag-26.pcap` (frame 6), though it does for a crafted
//!   packet of the same shape with another byte value.
//!
//! On the 151 shared test captures (`../shared/captures`), per-file IPv4/IPv6/TCP/UDP
//! frame counts equal tshark 4.0's on 148 of the 150 files the reader opens; the other
//! difference is `bug-6875-01/fuzz.pcap`, where tshark's pcap reader guesses a different
//! record layout for a corrupt file (a reader matter, not decoding).
//!
//! # What analysis receives
//!
//! [`Decoded::transport`] is the TCP segment or UDP datagram of the packet that is not
//! quoted in an ICMP error; for tunnels it is the innermost one (the tunnelled flow, not the
//! tunnel's own UDP). ICMP errors are exposed as [`Decoded::icmp_error`] with the quoted
//! addresses and ports, so that e.g. a DNS query answered by "port unreachable" can be matched.

mod defrag;
mod stats;

#[cfg(test)]
mod tests;

use etherparse::{IpNumber, LaxIpSlice, TcpHeaderSlice};

use crate::capture::{Frame, LinkType};
use crate::packet::{IpPair, TcpFlags, TcpSegment, Transport, UdpDatagram};
use crate::wire::named_enum;
use std::net::{IpAddr, Ipv4Addr};

use defrag::{FragKey, FragOutcome, FragPool};
pub(crate) use stats::add_encapsulation;
pub use stats::{DecodeStats, Encapsulation, ProblemCounts};

/// Limits on what the decoder buffers (all bounded; hitting them is counted, never an error).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DecodeLimits {
    /// Most IP datagrams reassembled at the same time; the oldest is evicted beyond it.
    /// Default 1024.
    pub max_fragment_datagrams: usize,
    /// Most bytes buffered over all datagrams being reassembled; the oldest datagrams are
    /// evicted beyond it. Default 8 MiB.
    pub max_fragment_bytes: usize,
    /// A datagram whose first fragment is older than this (capture time, nanoseconds) is
    /// dropped. Default 30 s (Linux's `ipfrag_time`).
    pub fragment_timeout_ns: i64,
    /// Most encapsulations followed in one frame (tunnels, ICMP quotes). Default 8.
    pub max_depth: u8,
}

impl Default for DecodeLimits {
    fn default() -> Self {
        DecodeLimits {
            max_fragment_datagrams: 1024,
            max_fragment_bytes: 8 << 20,
            fragment_timeout_ns: 30_000_000_000,
            max_depth: 8,
        }
    }
}

/// Which protocol headers were dissected somewhere in a frame (tshark's per-frame
/// `ip` / `ipv6` / `tcp` / `udp` membership).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Layers(pub u8);

impl Layers {
    /// An IPv4 header.
    pub const IPV4: u8 = 0x01;
    /// An IPv6 header.
    pub const IPV6: u8 = 0x02;
    /// A TCP header.
    pub const TCP: u8 = 0x04;
    /// A UDP header.
    pub const UDP: u8 = 0x08;

    /// Whether an IPv4 header was found.
    pub fn ipv4(self) -> bool {
        self.0 & Self::IPV4 != 0
    }
    /// Whether an IPv6 header was found.
    pub fn ipv6(self) -> bool {
        self.0 & Self::IPV6 != 0
    }
    /// Whether a TCP header was found.
    pub fn tcp(self) -> bool {
        self.0 & Self::TCP != 0
    }
    /// Whether a UDP header was found.
    pub fn udp(self) -> bool {
        self.0 & Self::UDP != 0
    }
    /// Whether any IP header was found.
    pub fn ip(self) -> bool {
        self.0 & (Self::IPV4 | Self::IPV6) != 0
    }
}

named_enum! {
    /// Why decoding of a frame stopped early (counted per frame in [`DecodeStats::undecodable`]).
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
    #[non_exhaustive]
    pub enum DecodeProblem: name {
        /// The link type is not one the decoder knows.
        UnsupportedLinkType = 0 => "unsupported_link_type",
        /// The frame is shorter than its link-layer header (including VLAN, MPLS, PPPoE).
        TruncatedLinkHeader = 1 => "truncated_link_header",
        /// The frame ends inside an IP header (or its IPv4 options / IPv6 extension headers).
        TruncatedIpHeader = 2 => "truncated_ip_header",
        /// An IP header with an impossible version or header length, or a malformed extension.
        BadIpHeader = 3 => "bad_ip_header",
        /// The frame ends inside a TCP header.
        TruncatedTcpHeader = 4 => "truncated_tcp_header",
        /// A TCP header whose data offset is below 5.
        BadTcpHeader = 5 => "bad_tcp_header",
        /// The frame ends inside a UDP header.
        TruncatedUdpHeader = 6 => "truncated_udp_header",
        /// An IP fragment that conflicts with the other fragments of its datagram.
        BadFragment = 7 => "bad_fragment",
        /// An IP fragment cut by the snap length (cannot be reassembled).
        TruncatedFragment = 8 => "truncated_fragment",
        /// The frame ends inside a tunnel header (GRE, VXLAN, Geneve, Teredo).
        TruncatedTunnelHeader = 9 => "truncated_tunnel_header",
        /// More nested encapsulations than [`DecodeLimits::max_depth`].
        TooDeep = 10 => "too_deep",
        /// An encapsulation that carries packets but is not decoded (a GRE protocol type, an ether
        /// type such as MACsec, an IP protocol such as ESP, ...): counted by name in
        /// [`DecodeStats::undecoded_encapsulations`].
        UndecodedEncapsulation = 11 => "undecoded_encapsulation",
    }
}

impl std::fmt::Display for DecodeProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// An ICMP (v4) or ICMPv6 error message and what it quotes of the packet that caused it.
///
/// ICMPv4 errors: destination unreachable (3), source quench (4), redirect (5), time exceeded
/// (11), parameter problem (12). ICMPv6 errors: destination unreachable (1), packet too big
/// (2), time exceeded (3), parameter problem (4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IcmpError {
    /// Capture timestamp, nanoseconds since the Unix epoch.
    pub ts_ns: i64,
    /// Index of the frame (0-based).
    pub frame: u64,
    /// Addresses of the error message itself (source is the reporting host).
    pub ip: IpPair,
    /// Whether this is ICMPv6 (false: ICMPv4).
    pub v6: bool,
    /// ICMP type.
    pub icmp_type: u8,
    /// ICMP code.
    pub code: u8,
    /// Addresses of the quoted (offending) packet, if its IP header was quoted whole.
    pub quoted_ip: Option<IpPair>,
    /// IP protocol number of the quoted packet (6 TCP, 17 UDP, ...), if known.
    pub quoted_protocol: Option<u8>,
    /// Source port of the quoted TCP/UDP header, if quoted.
    pub quoted_src_port: Option<u16>,
    /// Destination port of the quoted TCP/UDP header, if quoted.
    pub quoted_dst_port: Option<u16>,
}

impl IcmpError {
    /// Whether this is a destination-unreachable message (ICMPv4 type 3 / ICMPv6 type 1).
    pub fn is_destination_unreachable(&self) -> bool {
        if self.v6 {
            self.icmp_type == 1
        } else {
            self.icmp_type == 3
        }
    }

    /// Whether this is "port unreachable" (ICMPv4 3/3, ICMPv6 1/4).
    pub fn is_port_unreachable(&self) -> bool {
        self.is_destination_unreachable() && self.code == if self.v6 { 4 } else { 3 }
    }
}

/// What the decoder found in one frame.
#[derive(Debug, Clone)]
pub struct Decoded<'a> {
    /// Protocol headers found anywhere in the frame (tshark-compatible counting).
    pub layers: Layers,
    /// The TCP segment or UDP datagram to analyse (not ICMP-quoted; innermost for tunnels).
    /// For a datagram completed by reassembly, it borrows the decoder's buffer.
    pub transport: Option<Transport<'a>>,
    /// The ICMP/ICMPv6 error carried by the frame, if any (boxed: rare, and 104 bytes that
    /// every decoded frame would otherwise carry and move).
    pub icmp_error: Option<Box<IcmpError>>,
    /// The frame was cut by the snap length, or an IP length field claims more bytes than
    /// were captured.
    pub truncated: bool,
    /// Whether the frame carried an IP fragment (not counted as TCP/UDP unless it completed
    /// its datagram).
    pub fragment: bool,
    /// Why decoding stopped early, if it did (the first problem met).
    pub problem: Option<DecodeProblem>,
    /// A decoder that defers fragments ([`Decoder::deferring`]) met an IP fragment that needs
    /// the reassembly pool: nothing else here is filled in, nothing was counted, and the frame
    /// must be decoded again, in capture order, by a decoder with a pool.
    pub(crate) deferred: bool,
}

impl Decoded<'_> {
    fn empty() -> Self {
        Decoded {
            layers: Layers::default(),
            transport: None,
            icmp_error: None,
            truncated: false,
            fragment: false,
            problem: None,
            deferred: false,
        }
    }
}

/// Decodes frames into [`Decoded`] views, reassembling IP fragments and keeping counters.
///
/// One decoder per capture (or per shard of frames in capture order): fragment reassembly
/// depends on seeing fragments in order of capture time.
#[derive(Debug, Default)]
pub struct Decoder {
    limits: DecodeLimits,
    pool: FragPool,
    stats: DecodeStats,
    /// Set by [`Decoder::deferring`]: outer IP fragments are handed back undecoded
    /// ([`Decoded::deferred`]) and an undecoded encapsulation is kept in `encapsulation`
    /// instead of counted, so that counting them stays in capture order.
    defer: bool,
    /// The encapsulation the last frame stopped on, when `defer` ([`Decoder::take_encapsulation`]).
    encapsulation: Option<Encapsulation>,
    /// Tests turn the plain Ethernet/IPv4/TCP shortcut off, to compare it with the general
    /// walk ([`Walk::plain_ipv4_tcp`]).
    #[cfg(any(test, feature = "fuzzing"))]
    general_only: bool,
}

impl Decoder {
    /// A decoder with the given limits.
    pub fn new(limits: DecodeLimits) -> Self {
        Decoder {
            limits,
            pool: FragPool::default(),
            stats: DecodeStats::default(),
            defer: false,
            encapsulation: None,
            #[cfg(any(test, feature = "fuzzing"))]
            general_only: false,
        }
    }

    /// A decoder for frames decoded out of capture order, on several threads (the pipeline's
    /// chunks): it has no fragment pool, so an outer IP fragment that would go to one is
    /// handed back with [`Decoded::deferred`] set and not counted (a decoder made by
    /// [`Decoder::new`] decodes it later, in order), and the encapsulations that stopped
    /// decoding are handed to the caller instead of counted ([`Decoder::take_encapsulation`]): their map is
    /// capped by first appearance, so they are counted in capture order too.
    pub(crate) fn deferring(limits: DecodeLimits) -> Self {
        Decoder {
            defer: true,
            ..Decoder::new(limits)
        }
    }

    /// The counters so far (reset).
    pub(crate) fn take_stats(&mut self) -> DecodeStats {
        std::mem::take(&mut self.stats)
    }

    /// For a [`Decoder::deferring`]: the encapsulation the last frame stopped on, which it
    /// kept instead of counting.
    pub(crate) fn take_encapsulation(&mut self) -> Option<Encapsulation> {
        self.encapsulation.take()
    }

    /// Adds counters taken from a [`Decoder::deferring`] ([`Decoder::take_stats`]).
    pub(crate) fn add_counts(&mut self, stats: &DecodeStats) {
        self.stats.merge(stats);
    }

    /// Counts one frame that stopped on `e`, listed by a [`Decoder::deferring`]
    /// ([`Decoder::take_encapsulation`]), in capture order.
    pub(crate) fn add_encapsulation(&mut self, e: Encapsulation) {
        stats::add_encapsulation(&mut self.stats.undecoded_encapsulations, e, 1);
    }

    /// What decoding a frame at `ts_ns` does before the frame itself: datagrams waiting for
    /// fragments longer than the timeout are dropped. For a decoder with a pool that does not
    /// see every frame (the others were decoded by [`Decoder::deferring`] ones), called for
    /// each of them in capture order, so that it drops what a decoder seeing every frame drops.
    pub(crate) fn pass_time(&mut self, ts_ns: i64) {
        self.pool.expire(ts_ns, &self.limits, &mut self.stats);
    }

    /// The limits this decoder was made with.
    pub fn limits(&self) -> &DecodeLimits {
        &self.limits
    }

    /// Counters over every frame decoded so far.
    pub fn stats(&self) -> &DecodeStats {
        &self.stats
    }

    /// IP datagrams currently waiting for more fragments.
    pub fn pending_fragments(&self) -> usize {
        self.pool.pending()
    }

    /// Bytes currently buffered for fragment reassembly.
    pub fn pending_fragment_bytes(&self) -> usize {
        self.pool.pending_bytes()
    }

    /// Decode one frame. Never fails and never panics; see [`Decoded::problem`].
    pub fn decode<'a>(&'a mut self, frame: &Frame<'a>) -> Decoded<'a> {
        let Decoder {
            limits,
            pool,
            stats,
            defer,
            ..
        } = self;
        let defer = *defer;
        stats.frames += 1;
        pool.expire(frame.ts_ns, limits, stats);
        let mut walk = Walk {
            defer,
            pool: Some(pool),
            stats,
            limits,
            frame: *frame,
            out: Decoded::empty(),
            encapsulation: None,
        };
        walk.out.truncated = frame.data.len() < frame.orig_len as usize;
        #[cfg(any(test, feature = "fuzzing"))]
        let shortcut = !self.general_only;
        #[cfg(not(any(test, feature = "fuzzing")))]
        let shortcut = true;
        if !(shortcut && walk.plain_ipv4_tcp()) {
            walk.link();
        }
        let out = walk.out;
        let encapsulation = walk.encapsulation;

        let st = &mut self.stats;
        if out.deferred {
            st.frames -= 1;
            return out;
        }
        if out.layers.ipv4() {
            st.ipv4 += 1;
        }
        if out.layers.ipv6() {
            st.ipv6 += 1;
        }
        if out.layers.tcp() {
            st.tcp += 1;
        }
        if out.layers.udp() {
            st.udp += 1;
        }
        if out.truncated {
            st.truncated += 1;
        }
        if out.fragment {
            st.fragments += 1;
        }
        match out.problem {
            Some(DecodeProblem::UnsupportedLinkType) => {
                st.undecodable.add(DecodeProblem::UnsupportedLinkType);
                *st.unsupported_link_types
                    .entry(frame.linktype.0)
                    .or_insert(0) += 1;
            }
            Some(DecodeProblem::UndecodedEncapsulation) => {
                st.undecodable.add(DecodeProblem::UndecodedEncapsulation);
                let e = encapsulation.unwrap_or(Encapsulation::Other);
                if self.defer {
                    self.encapsulation = Some(e);
                } else {
                    stats::add_encapsulation(&mut st.undecoded_encapsulations, e, 1);
                }
            }
            Some(p) => st.undecodable.add(p),
            None if !out.layers.ip() => st.other += 1,
            None => {}
        }
        out
    }
}

// Ether types and IP protocol numbers used below.
const ET_IPV4: u16 = 0x0800;
const ET_IPV6: u16 = 0x86DD;
const ET_VLAN: u16 = 0x8100;
const ET_QINQ: u16 = 0x88A8;
const ET_QINQ_OLD: u16 = 0x9100;
const ET_QINQ_OLD2: u16 = 0x9200;
const ET_MPLS: u16 = 0x8847;
const ET_MPLS_MC: u16 = 0x8848;
const ET_PPPOE_SESSION: u16 = 0x8864;
const ET_TEB: u16 = 0x6558;
const ET_PPP: u16 = 0x880B;
const ET_ERSPAN_2: u16 = 0x88BE;
const ET_ERSPAN_3: u16 = 0x22EB;
const ET_WCCP: u16 = 0x883E;
const ET_PBB: u16 = 0x88E7;
const ET_ETAG: u16 = 0x893F;
const ET_VNTAG: u16 = 0x8926;
const ET_CMD: u16 = 0x8909;
const ET_NSH: u16 = 0x894F;
const ET_MACSEC: u16 = 0x88E5;
/// Protocols seen over GRE that carry no packets (keepalives use protocol 0 with no payload).
const GRE_NOT_ENCAPSULATION: [u16; 4] = [0x0806, 0x8035, 0x2001, 0x2000];

const PROTO_ICMP: u8 = 1;
const PROTO_IPIP: u8 = 4;
const PROTO_TCP: u8 = 6;
const PROTO_UDP: u8 = 17;
const PROTO_IPV6: u8 = 41;
const PROTO_GRE: u8 = 47;
const PROTO_ICMPV6: u8 = 58;

const PORT_VXLAN: u16 = 4789;
const PORT_GENEVE: u16 = 6081;
const PORT_TEREDO: u16 = 3544;
const PORT_GTPU: u16 = 2152;
const PORT_L2TP: u16 = 1701;

fn be16(data: &[u8], at: usize) -> Option<u16> {
    let b: [u8; 2] = data.get(at..at.checked_add(2)?)?.try_into().ok()?;
    Some(u16::from_be_bytes(b))
}

fn be32(data: &[u8], at: usize) -> Option<u32> {
    let b: [u8; 4] = data.get(at..at.checked_add(4)?)?.try_into().ok()?;
    Some(u32::from_be_bytes(b))
}

fn tail(data: &[u8], from: usize) -> &[u8] {
    data.get(from..).unwrap_or(&[])
}

/// Where in the packet a layer sits: the packet itself, or a copy quoted by an ICMP error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ctx {
    Outer,
    Quoted,
}

/// Which IP version the enclosing layer announced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    V4,
    V6,
    Any,
}

/// What an IP layer found out, handed back to an ICMP error that quoted it.
#[derive(Debug, Default, Clone, Copy)]
struct IpSummary {
    ip: Option<IpPair>,
    protocol: Option<u8>,
    ports: Option<(u16, u16)>,
}

struct Walk<'a, 's> {
    /// The decoder defers outer fragments ([`Decoder::deferring`]).
    defer: bool,
    /// Taken when a reassembled datagram is handed out (at most one per frame).
    pool: Option<&'a mut FragPool>,
    stats: &'s mut DecodeStats,
    limits: &'s DecodeLimits,
    frame: Frame<'a>,
    out: Decoded<'a>,
    /// What [`DecodeProblem::UndecodedEncapsulation`] stopped on, when it did.
    encapsulation: Option<Encapsulation>,
}

impl<'a> Walk<'a, '_> {
    /// Bytes `data` spanned on the wire: its captured bytes, plus the bytes the snap length cut
    /// off when `data` runs to the end of the captured frame. This is tshark's "reported
    /// length" of a layer: an IP length field beyond it is not believed.
    fn reported_len(&self, data: &[u8]) -> usize {
        let frame_end = self.frame.data.as_ptr_range().end;
        let cut = (self.frame.orig_len as usize).saturating_sub(self.frame.data.len());
        if data.as_ptr_range().end == frame_end {
            data.len().saturating_add(cut)
        } else {
            data.len()
        }
    }

    fn problem(&mut self, ctx: Ctx, p: DecodeProblem) {
        if ctx == Ctx::Outer && self.out.problem.is_none() {
            self.out.problem = Some(p);
        }
    }

    /// Decoding stops on an encapsulation that is recognised but not decoded.
    fn undecoded(&mut self, ctx: Ctx, e: Encapsulation) {
        if ctx == Ctx::Outer && self.out.problem.is_none() {
            self.out.problem = Some(DecodeProblem::UndecodedEncapsulation);
            self.encapsulation = Some(e);
        }
    }

    /// The common frame, Ethernet II / IPv4 without options, not a fragment / TCP with its
    /// header captured whole, decoded without the general walk; what the walk would make of it,
    /// field for field (`plain_ipv4_tcp_is_what_the_general_walk_makes`). `false`, with nothing
    /// done, for any other frame (a VLAN tag, IP options, a fragment, a length field of 0 or
    /// shorter than the headers, a header cut by the snap length, ...).
    fn plain_ipv4_tcp(&mut self) -> bool {
        let d = self.frame.data;
        if LinkType(self.frame.linktype.0 & 0xFFFF) != LinkType::ETHERNET
            || be16(d, 12) != Some(ET_IPV4)
            || d.get(14) != Some(&0x45)
            || d.get(23) != Some(&(PROTO_TCP))
            || be16(d, 20).is_none_or(|f| f & 0x3FFF != 0)
        {
            return false;
        }
        let rest = tail(d, 14);
        let Some(total) = be16(rest, 2).map(usize::from) else {
            return false;
        };
        let Some(&offset) = rest.get(32) else {
            return false;
        };
        let hlen = usize::from(offset >> 4) * 4;
        // The IP payload as captured, cut to the length field (Ethernet padding after it).
        let ip_end = total.min(rest.len());
        if hlen < 20 || 20 + hlen > ip_end {
            return false;
        }
        let (Some(src), Some(dst)) = (rest.get(12..16), rest.get(16..20)) else {
            return false;
        };
        let (Ok(src), Ok(dst)) = (<[u8; 4]>::try_from(src), <[u8; 4]>::try_from(dst)) else {
            return false;
        };
        let data = rest.get(20..ip_end).unwrap_or(&[]);
        // On the wire: the length field's, bounded by the frame's original length.
        let wire_len = total.min(self.reported_len(rest)) - 20;
        let payload_len = wire_len.saturating_sub(hlen);
        let payload = tail(data, hlen);
        let payload = payload.get(..payload_len).unwrap_or(payload);
        let (Some(src_port), Some(dst_port), Some(seq), Some(ack), Some(flags), Some(window)) = (
            be16(data, 0),
            be16(data, 2),
            be32(data, 4),
            be32(data, 8),
            be16(data, 12),
            be16(data, 14),
        ) else {
            return false;
        };
        self.out.layers.0 |= Layers::IPV4 | Layers::TCP;
        if total > rest.len() {
            self.out.truncated = true;
        }
        self.out.transport = Some(Transport::Tcp(TcpSegment {
            ts_ns: self.frame.ts_ns,
            frame: self.frame.index,
            ip: IpPair {
                src: IpAddr::V4(Ipv4Addr::from(src)),
                dst: IpAddr::V4(Ipv4Addr::from(dst)),
            },
            src_port,
            dst_port,
            seq,
            ack,
            flags: TcpFlags(flags & 0x01FF),
            window,
            options: data.get(20..hlen).unwrap_or(&[]),
            payload,
            payload_len: u32::try_from(payload_len).unwrap_or(u32::MAX),
        }));
        true
    }

    fn link(&mut self) {
        let data = self.frame.data;
        // Bits 16..32 of a pcap link type carry FCS length flags, not the type.
        let lt = LinkType(self.frame.linktype.0 & 0xFFFF);
        match lt {
            LinkType::ETHERNET => self.ethernet(data, 0),
            LinkType::NULL => self.null(data),
            LinkType::LOOP => match be32(data, 0) {
                Some(af) => self.address_family(af, tail(data, 4)),
                None => self.problem(Ctx::Outer, DecodeProblem::TruncatedLinkHeader),
            },
            LinkType::RAW | LinkType::RAW_12 | LinkType::RAW_14 => {
                self.ip(data, Expect::Any, 0, Ctx::Outer);
            }
            LinkType::IPV4 => {
                self.ip(data, Expect::V4, 0, Ctx::Outer);
            }
            LinkType::IPV6 => {
                self.ip(data, Expect::V6, 0, Ctx::Outer);
            }
            LinkType::NFLOG => self.nflog(data),
            LinkType::LINUX_SLL => {
                let (Some(hatype), Some(proto)) = (be16(data, 2), be16(data, 14)) else {
                    return self.problem(Ctx::Outer, DecodeProblem::TruncatedLinkHeader);
                };
                self.cooked(hatype, proto, tail(data, 16));
            }
            LinkType::LINUX_SLL2 => {
                let (Some(proto), Some(hatype)) = (be16(data, 0), be16(data, 8)) else {
                    return self.problem(Ctx::Outer, DecodeProblem::TruncatedLinkHeader);
                };
                if data.len() < 20 {
                    return self.problem(Ctx::Outer, DecodeProblem::TruncatedLinkHeader);
                }
                self.cooked(hatype, proto, tail(data, 20));
            }
            // Cisco HDLC: address, control, ether type.
            LinkType(104) => match be16(data, 2) {
                Some(et) => {
                    self.ether_type(et, tail(data, 4), 0);
                }
                None => self.problem(Ctx::Outer, DecodeProblem::TruncatedLinkHeader),
            },
            // PPP and PPP in HDLC-like framing.
            LinkType(9) | LinkType(50) => self.ppp(data, 0),
            // FDDI: frame control, two addresses, then 802.2 LLC (SNAP carries an ether type).
            LinkType(10) => {
                if data.len() < 16 {
                    return self.problem(Ctx::Outer, DecodeProblem::TruncatedLinkHeader);
                }
                self.llc(tail(data, 13), 0);
            }
            _ => self.problem(Ctx::Outer, DecodeProblem::UnsupportedLinkType),
        }
    }

    /// BSD NULL: a 4-byte address family in the capturing host's byte order. Mirrors
    /// Wireshark: 0xFF03 is PPP; a value with the upper 16 bits set is byte-swapped (or an
    /// ether type in the wrong half); a value above 1500 is an ether type.
    fn null(&mut self, data: &'a [u8]) {
        if be16(data, 0) == Some(0xFF03) {
            return self.ppp(data, 0);
        }
        let Some(raw) = be32(data, 0) else {
            return self.problem(Ctx::Outer, DecodeProblem::TruncatedLinkHeader);
        };
        // Read as a little-endian host would (tshark's reference behaviour on x86).
        let mut v = raw.swap_bytes();
        if v & 0xFFFF_0000 != 0 {
            if v & 0xFF00_0000 == 0 && v & 0x00FF_0000 < 0x0006_0000 {
                v >>= 16;
            } else {
                v = v.swap_bytes();
            }
        } else if v & 0xFF == 0 && v & 0xFF00 < 0x0600 {
            v >>= 8;
        }
        let rest = tail(data, 4);
        if v > 1500 {
            self.ether_type((v & 0xFFFF) as u16, rest, 0);
        } else {
            self.address_family(v, rest);
        }
    }

    /// LINKTYPE_NFLOG: family (u8), version (u8), resource id (u16), then attributes (TLVs:
    /// length and type as u16 in the capturing host's byte order, value padded to 4 bytes).
    /// Attribute 9 holds the packet. As tshark, the packet's protocol is the ether type in
    /// attribute 1 (packet header) when that is present and non-zero, else the family (2
    /// IPv4, 10 IPv6). tshark reads the byte order from the file; the decoder, which sees only
    /// the frame, takes the order in which the first attribute's type is small (types are
    /// below 256), little-endian by default.
    fn nflog(&mut self, data: &'a [u8]) {
        const NFULA_PACKET_HDR: u16 = 1;
        const NFULA_PAYLOAD: u16 = 9;
        let Some(&family) = data.first() else {
            return self.problem(Ctx::Outer, DecodeProblem::TruncatedLinkHeader);
        };
        if data.len() < 4 {
            return self.problem(Ctx::Outer, DecodeProblem::TruncatedLinkHeader);
        }
        let u16_at = |at: usize, big: bool| -> Option<u16> {
            let b: [u8; 2] = data.get(at..at.checked_add(2)?)?.try_into().ok()?;
            Some(if big {
                u16::from_be_bytes(b)
            } else {
                u16::from_le_bytes(b)
            })
        };
        let big = u16_at(6, false).is_some_and(|t| t & 0x7FFF >= 0x100)
            && u16_at(6, true).is_some_and(|t| t & 0x7FFF < 0x100);
        let mut at = 4usize;
        let mut hw_protocol = 0u16;
        let mut payload = None;
        let mut cut = false;
        while let (Some(len), Some(ty)) = (u16_at(at, big), u16_at(at + 2, big)) {
            let len = usize::from(len);
            if len < 4 {
                // A broken attribute chain: what follows cannot be framed.
                cut = true;
                break;
            }
            let value = tail(data, at + 4);
            cut |= value.len() < len - 4;
            let value = value.get(..len - 4).unwrap_or(value);
            match ty & 0x7FFF {
                NFULA_PACKET_HDR if len == 8 => hw_protocol = be16(value, 0).unwrap_or(0),
                NFULA_PAYLOAD => payload = Some(value),
                _ => {}
            }
            at = at.saturating_add((len + 3) & !3);
        }
        let Some(payload) = payload else {
            // No packet attribute: cut short, or a log entry without the packet (nothing to
            // decode, counted as non-IP).
            if cut || self.out.truncated || (at < data.len() && data.len() - at < 4) {
                self.problem(Ctx::Outer, DecodeProblem::TruncatedLinkHeader);
            }
            return;
        };
        if hw_protocol != 0 {
            self.ether_type(hw_protocol, payload, 0);
            return;
        }
        match family {
            2 => {
                self.ip(payload, Expect::V4, 0, Ctx::Outer);
            }
            10 => {
                self.ip(payload, Expect::V6, 0, Ctx::Outer);
            }
            f => self.undecoded(Ctx::Outer, Encapsulation::NflogFamily(f)),
        }
    }

    /// BSD address families used by NULL and LOOP.
    fn address_family(&mut self, af: u32, rest: &'a [u8]) {
        match af {
            2 => {
                self.ip(rest, Expect::V4, 0, Ctx::Outer);
            }
            10 | 24 | 28 | 30 => {
                self.ip(rest, Expect::V6, 0, Ctx::Outer);
            }
            _ => {}
        }
    }

    /// Linux cooked capture (v1 and v2) after its header.
    fn cooked(&mut self, hatype: u16, proto: u16, rest: &'a [u8]) {
        const ARPHRD_NETLINK: u16 = 824;
        const ARPHRD_IPGRE: u16 = 778;
        match (hatype, proto) {
            (ARPHRD_NETLINK, _) => {}
            // GRE devices report the GRE protocol type (the GRE header itself is gone).
            (ARPHRD_IPGRE, et) => self.gre_payload(None, et, rest, 0, Ctx::Outer),
            (_, et) if et >= 0x0600 => {
                self.ether_type(et, rest, 0);
            }
            // 0x0004: 802.2 LLC frames.
            (_, 0x0004) => self.llc(rest, 0),
            _ => {}
        }
    }

    fn ethernet(&mut self, data: &'a [u8], depth: u8) {
        let Some(et) = be16(data, 12) else {
            return self.problem(Ctx::Outer, DecodeProblem::TruncatedLinkHeader);
        };
        let rest = tail(data, 14);
        if et >= 0x0600 {
            self.ether_type(et, rest, depth);
        } else {
            // 802.3 length field: LLC follows (bounded by the length, trailer excluded).
            let len = usize::from(et).min(rest.len());
            self.llc(rest.get(..len).unwrap_or(rest), depth);
        }
    }

    /// 802.2 LLC; only SNAP with an ether type leads anywhere.
    fn llc(&mut self, data: &'a [u8], depth: u8) {
        if data.get(..3) == Some(&[0xAA, 0xAA, 0x03][..]) {
            match be16(data, 6) {
                Some(et) => {
                    self.ether_type(et, tail(data, 8), depth);
                }
                None => self.problem(Ctx::Outer, DecodeProblem::TruncatedLinkHeader),
            }
        }
    }

    /// What an ether type carries. Returns whether the ether type is known: decoded, or
    /// counted as an undecoded encapsulation. Unknown ones (ARP, LLDP, ...) are left to the
    /// caller: non-IP traffic on a link, an undecoded protocol type in a tunnel.
    fn ether_type(&mut self, et: u16, data: &'a [u8], depth: u8) -> bool {
        let mut et = et;
        let mut data = data;
        // VLAN tags (any depth), each 4 bytes: TCI then the next ether type.
        while matches!(et, ET_VLAN | ET_QINQ | ET_QINQ_OLD | ET_QINQ_OLD2) {
            let Some(next) = be16(data, 2) else {
                self.problem(Ctx::Outer, DecodeProblem::TruncatedLinkHeader);
                return true;
            };
            data = tail(data, 4);
            if next < 0x0600 {
                let len = usize::from(next).min(data.len());
                self.llc(data.get(..len).unwrap_or(data), depth);
                return true;
            }
            et = next;
        }
        match et {
            ET_IPV4 => {
                self.ip(data, Expect::V4, depth, Ctx::Outer);
            }
            ET_IPV6 => {
                self.ip(data, Expect::V6, depth, Ctx::Outer);
            }
            ET_MPLS | ET_MPLS_MC => {
                // Pop labels down to the bottom of the stack, then guess IP by version.
                let mut rest = data;
                loop {
                    let Some(label) = be32(rest, 0) else {
                        self.problem(Ctx::Outer, DecodeProblem::TruncatedLinkHeader);
                        return true;
                    };
                    rest = tail(rest, 4);
                    if label & 0x100 != 0 {
                        break;
                    }
                }
                match rest.first().map(|b| b >> 4) {
                    Some(4) | Some(6) => {
                        self.ip(rest, Expect::Any, depth, Ctx::Outer);
                    }
                    None => self.problem(Ctx::Outer, DecodeProblem::TruncatedIpHeader),
                    // A pseudowire (Ethernet, with or without control word) or other payload.
                    _ => self.undecoded(Ctx::Outer, Encapsulation::MplsNonIp),
                }
            }
            ET_PPPOE_SESSION => {
                let Some(len) = be16(data, 4) else {
                    self.problem(Ctx::Outer, DecodeProblem::TruncatedLinkHeader);
                    return true;
                };
                let rest = tail(data, 6);
                let rest = rest.get(..usize::from(len)).unwrap_or(rest);
                self.ppp(rest, depth);
            }
            // Tags that put an ether type (or a whole Ethernet header) after a fixed header.
            ET_PBB | ET_ETAG | ET_VNTAG | ET_CMD | ET_NSH => self.tag(et, data, depth),
            ET_MACSEC => self.undecoded(Ctx::Outer, Encapsulation::EtherType(et)),
            _ => return false,
        }
        true
    }

    /// Fixed-size tags after an ether type, as tshark dissects them: 802.1ah PBB (I-TAG, then
    /// the customer's Ethernet header), 802.1BR E-tag (6 bytes, then an ether type), VN-tag (4
    /// bytes, then an ether type), Cisco MetaData (6 bytes, then an ether type) and NSH
    /// (length in its header; next protocol IPv4, IPv6 or Ethernet).
    fn tag(&mut self, et: u16, data: &'a [u8], depth: u8) {
        // Tags may nest; each one counts towards the depth limit.
        let depth = depth.saturating_add(1);
        if depth > self.limits.max_depth {
            return self.problem(Ctx::Outer, DecodeProblem::TooDeep);
        }
        let next = |at: usize| be16(data, at).map(|et| (et, tail(data, at + 2)));
        let inner = match et {
            ET_PBB => {
                if data.len() < 4 {
                    return self.problem(Ctx::Outer, DecodeProblem::TruncatedLinkHeader);
                }
                return self.ethernet(tail(data, 4), depth);
            }
            ET_ETAG => next(6),
            ET_VNTAG => next(4),
            ET_CMD => next(6),
            _ => {
                // NSH: length (6 bits, 4-byte words) in byte 1, next protocol in byte 3.
                let (Some(&b1), Some(&np)) = (data.get(1), data.get(3)) else {
                    return self.problem(Ctx::Outer, DecodeProblem::TruncatedTunnelHeader);
                };
                let hlen = usize::from(b1 & 0x3F) * 4;
                if hlen < 8 || data.len() < hlen {
                    return self.problem(Ctx::Outer, DecodeProblem::TruncatedTunnelHeader);
                }
                let rest = tail(data, hlen);
                return match np {
                    1 => {
                        self.ip(rest, Expect::V4, depth, Ctx::Outer);
                    }
                    2 => {
                        self.ip(rest, Expect::V6, depth, Ctx::Outer);
                    }
                    3 => self.ethernet(rest, depth),
                    _ => self.undecoded(Ctx::Outer, Encapsulation::EtherType(ET_NSH)),
                };
            }
        };
        let Some((et, rest)) = inner else {
            return self.problem(Ctx::Outer, DecodeProblem::TruncatedLinkHeader);
        };
        if et < 0x0600 {
            let len = usize::from(et).min(rest.len());
            self.llc(rest.get(..len).unwrap_or(rest), depth);
        } else {
            self.ether_type(et, rest, depth);
        }
    }

    /// PPP: optional address/control (0xFF 0x03), then a 1- or 2-byte protocol.
    fn ppp(&mut self, data: &'a [u8], depth: u8) {
        let data = if data.get(..2) == Some(&[0xFF, 0x03][..]) {
            tail(data, 2)
        } else {
            data
        };
        let Some(&first) = data.first() else {
            return self.problem(Ctx::Outer, DecodeProblem::TruncatedLinkHeader);
        };
        let (proto, rest) = if first & 1 == 1 {
            (u16::from(first), tail(data, 1))
        } else {
            match be16(data, 0) {
                Some(p) => (p, tail(data, 2)),
                None => return self.problem(Ctx::Outer, DecodeProblem::TruncatedLinkHeader),
            }
        };
        match proto {
            0x0021 => {
                self.ip(rest, Expect::V4, depth, Ctx::Outer);
            }
            0x0057 => {
                self.ip(rest, Expect::V6, depth, Ctx::Outer);
            }
            _ => {}
        }
    }

    /// One IP layer (IPv4 or IPv6, chosen by the version nibble) and what it carries.
    ///
    /// `expect` is the version the enclosing layer announced. Like tshark, an announced IPv4
    /// header counts as IPv4 even when it turns out bogus (and as IPv6 too when its version
    /// nibble is 6), an announced IPv6 header counts as IPv6; without announcement (raw IP,
    /// MPLS) the version nibble decides.
    fn ip(&mut self, data: &'a [u8], expect: Expect, depth: u8, ctx: Ctx) -> IpSummary {
        let mut summary = IpSummary::default();
        if depth > self.limits.max_depth {
            self.problem(ctx, DecodeProblem::TooDeep);
            return summary;
        }
        let version = data.first().map(|b| b >> 4);
        match expect {
            Expect::V4 => self.out.layers.0 |= Layers::IPV4,
            Expect::V6 => self.out.layers.0 |= Layers::IPV6,
            Expect::Any => {}
        }
        match (expect, version) {
            (_, None) => {
                self.problem(ctx, DecodeProblem::TruncatedIpHeader);
                return summary;
            }
            (Expect::V4 | Expect::Any, Some(4)) => self.out.layers.0 |= Layers::IPV4,
            (Expect::V4 | Expect::Any, Some(6)) | (Expect::V6, Some(6)) => {
                self.out.layers.0 |= Layers::IPV6
            }
            _ => {
                self.problem(ctx, DecodeProblem::BadIpHeader);
                return summary;
            }
        }
        let (slice, ext_err) = match LaxIpSlice::from_slice(data) {
            Ok(v) => v,
            Err(etherparse::err::ip::LaxHeaderSliceError::Len(_)) => {
                self.problem(ctx, DecodeProblem::TruncatedIpHeader);
                return summary;
            }
            Err(etherparse::err::ip::LaxHeaderSliceError::Content(_)) => {
                self.problem(ctx, DecodeProblem::BadIpHeader);
                return summary;
            }
        };
        // As tshark: the IP payload's length is the length field's, but never more than what
        // the enclosing layer had on the wire (Ethernet frame, PPPoE length, ...): a length
        // field larger than that is an error, and the bytes it claims do not exist.
        let reported = self.reported_len(data);
        let pair = IpPair {
            src: slice.source_addr(),
            dst: slice.destination_addr(),
        };
        summary.ip = Some(pair);
        let payload = slice.payload();
        summary.protocol = Some(payload.ip_number.0);

        // On-the-wire length of the IP payload, from the header's length field.
        let (wire_len, frag) = match &slice {
            LaxIpSlice::Ipv4(v4) => {
                let h = v4.header();
                let hdr = h.slice().len() + v4.extensions().auth.map_or(0, |a| a.slice().len());
                let total = usize::from(h.total_len()).min(reported);
                let wire = if total == 0 {
                    // TCP segmentation offload: the length is filled in later by the NIC.
                    payload.payload.len()
                } else if total >= hdr {
                    total - hdr
                } else {
                    // Shorter than its own header: tshark stops here, so do we.
                    self.problem(ctx, DecodeProblem::BadIpHeader);
                    return summary;
                };
                let frag = h.is_fragmenting_payload().then(|| {
                    let mut src = [0u8; 16];
                    let mut dst = [0u8; 16];
                    src[..4].copy_from_slice(&h.source());
                    dst[..4].copy_from_slice(&h.destination());
                    (
                        false,
                        src,
                        dst,
                        u32::from(h.identification()),
                        h.fragments_offset(),
                        h.more_fragments(),
                    )
                });
                (wire, frag)
            }
            LaxIpSlice::Ipv6(v6) => {
                let h = v6.header();
                let plen = usize::from(h.payload_length());
                let wire = if plen == 0 {
                    payload.payload.len()
                } else {
                    plen.min(reported.saturating_sub(h.slice().len()))
                        .saturating_sub(v6.extensions().slice().len())
                };
                let mut frag = None;
                if v6.is_payload_fragmented() {
                    for ext in v6.extensions().clone() {
                        if let etherparse::Ipv6ExtensionSlice::Fragment(f) = ext {
                            if f.is_fragmenting_payload() {
                                frag = Some((
                                    true,
                                    h.source(),
                                    h.destination(),
                                    f.identification(),
                                    f.fragment_offset(),
                                    f.more_fragments(),
                                ));
                                break;
                            }
                        }
                    }
                }
                (wire, frag)
            }
        };
        if payload.incomplete && ctx == Ctx::Outer {
            self.out.truncated = true;
        }
        if ext_err.is_some() {
            // An IPv6 extension header that could not be read: stop here.
            let p = match ext_err {
                Some((etherparse::err::ipv6_exts::HeaderSliceError::Len(_), _)) => {
                    DecodeProblem::TruncatedIpHeader
                }
                _ => DecodeProblem::BadIpHeader,
            };
            self.problem(ctx, p);
            return summary;
        }

        if let Some((v6, src, dst, id, offset, more)) = frag {
            let first = offset.value() == 0;
            if ctx == Ctx::Outer {
                self.out.fragment = true;
                if payload.incomplete {
                    self.problem(ctx, DecodeProblem::TruncatedFragment);
                }
            }
            if self.defer && ctx == Ctx::Outer && !payload.incomplete {
                // The first fragment of the frame that would go to the pool (a decoder with a
                // pool always has it here: it is taken only below).
                self.out.deferred = true;
                return summary;
            }
            // A fragment that cannot be reassembled (quoted in an ICMP error, cut short, or
            // inside an already reassembled datagram) is dissected as it is when it is the
            // first one, as tshark does; later fragments are opaque.
            let pool = match self.pool.take() {
                Some(pool) if ctx == Ctx::Outer && !payload.incomplete => pool,
                other => {
                    self.pool = other;
                    if first {
                        summary.ports = self.transport(
                            payload.ip_number,
                            payload.payload,
                            wire_len,
                            pair,
                            depth,
                            ctx,
                        );
                    }
                    return summary;
                }
            };
            let key = FragKey {
                v6,
                src,
                dst,
                id,
                proto: payload.ip_number.0,
                depth,
            };
            let res = pool.add(
                key,
                offset,
                more,
                payload.payload,
                self.frame.ts_ns,
                self.limits,
                self.stats,
            );
            match res {
                Ok(()) => {
                    // Re-borrow for the frame's lifetime: the pool stays untouched until the
                    // returned `Decoded` is dropped.
                    let pool: &'a FragPool = pool;
                    let data = pool.done();
                    summary.ports =
                        self.transport(payload.ip_number, data, data.len(), pair, depth, ctx);
                }
                Err(FragOutcome::Pending) => self.pool = Some(pool),
                Err(FragOutcome::Invalid) => {
                    self.pool = Some(pool);
                    self.problem(ctx, DecodeProblem::BadFragment);
                }
            }
            return summary;
        }
        summary.ports = self.transport(
            payload.ip_number,
            payload.payload,
            wire_len,
            pair,
            depth,
            ctx,
        );
        summary
    }

    /// The IP payload: TCP, UDP, ICMP errors and tunnels. Returns the ports of a TCP/UDP
    /// header.
    fn transport(
        &mut self,
        proto: IpNumber,
        data: &'a [u8],
        wire_len: usize,
        ip: IpPair,
        depth: u8,
        ctx: Ctx,
    ) -> Option<(u16, u16)> {
        match proto.0 {
            PROTO_TCP => self.tcp(data, wire_len, ip, ctx),
            PROTO_UDP => self.udp(data, wire_len, ip, depth, ctx),
            PROTO_ICMP | PROTO_ICMPV6 => {
                if ctx == Ctx::Outer {
                    self.icmp(proto.0 == PROTO_ICMPV6, data, ip, depth);
                }
                None
            }
            PROTO_IPIP => {
                self.ip(data, Expect::V4, depth.saturating_add(1), ctx);
                None
            }
            PROTO_IPV6 => {
                self.ip(data, Expect::V6, depth.saturating_add(1), ctx);
                None
            }
            PROTO_GRE => {
                self.gre(data, depth.saturating_add(1), ctx);
                None
            }
            p if stats::ip_protocol_name(p).is_some() => {
                // Carries packets we do not decode (encrypted, compressed, or not supported).
                self.undecoded(ctx, Encapsulation::IpProtocol(p));
                None
            }
            _ => None,
        }
    }

    fn tcp(&mut self, data: &'a [u8], wire_len: usize, ip: IpPair, ctx: Ctx) -> Option<(u16, u16)> {
        if data.is_empty() {
            // tshark does not call a dissector on zero captured bytes.
            self.problem(ctx, DecodeProblem::TruncatedTcpHeader);
            return None;
        }
        self.out.layers.0 |= Layers::TCP;
        let ports = be16(data, 0).zip(be16(data, 2));
        let hdr = match TcpHeaderSlice::from_slice(data) {
            Ok(h) => h,
            Err(etherparse::err::tcp::HeaderSliceError::Len(_)) => {
                self.problem(ctx, DecodeProblem::TruncatedTcpHeader);
                return ports;
            }
            Err(etherparse::err::tcp::HeaderSliceError::Content(_)) => {
                self.problem(ctx, DecodeProblem::BadTcpHeader);
                return ports;
            }
        };
        if ctx == Ctx::Quoted {
            return ports;
        }
        let hlen = hdr.slice().len();
        let payload_len = wire_len.saturating_sub(hlen);
        let payload = tail(data, hlen);
        let payload = payload.get(..payload_len).unwrap_or(payload);
        let flags = be16(data, 12).unwrap_or(0) & 0x01FF;
        self.out.transport = Some(Transport::Tcp(TcpSegment {
            ts_ns: self.frame.ts_ns,
            frame: self.frame.index,
            ip,
            src_port: hdr.source_port(),
            dst_port: hdr.destination_port(),
            seq: hdr.sequence_number(),
            ack: hdr.acknowledgment_number(),
            flags: TcpFlags(flags),
            window: hdr.window_size(),
            options: data.get(20..hlen).unwrap_or(&[]),
            payload,
            payload_len: u32::try_from(payload_len).unwrap_or(u32::MAX),
        }));
        ports
    }

    fn udp(
        &mut self,
        data: &'a [u8],
        wire_len: usize,
        ip: IpPair,
        depth: u8,
        ctx: Ctx,
    ) -> Option<(u16, u16)> {
        if data.is_empty() {
            self.problem(ctx, DecodeProblem::TruncatedUdpHeader);
            return None;
        }
        self.out.layers.0 |= Layers::UDP;
        let ports = be16(data, 0).zip(be16(data, 2));
        let Some(udp_len) = be16(data, 4) else {
            self.problem(ctx, DecodeProblem::TruncatedUdpHeader);
            return ports;
        };
        if data.len() < 8 {
            self.problem(ctx, DecodeProblem::TruncatedUdpHeader);
            return ports;
        }
        if ctx == Ctx::Quoted {
            return ports;
        }
        let (src_port, dst_port) = ports?;
        // The UDP length bounds the payload; 0 (jumbogram) or nonsense falls back to IP's.
        let udp_len = usize::from(udp_len);
        let total = if udp_len >= 8 && udp_len <= wire_len {
            udp_len
        } else {
            wire_len
        };
        let payload_len = total.saturating_sub(8);
        let payload = tail(data, 8);
        let payload = payload.get(..payload_len).unwrap_or(payload);
        self.out.transport = Some(Transport::Udp(UdpDatagram {
            ts_ns: self.frame.ts_ns,
            frame: self.frame.index,
            ip,
            src_port,
            dst_port,
            payload,
            payload_len: u32::try_from(payload_len).unwrap_or(u32::MAX),
        }));
        // Tunnels carried over UDP (the inner transport replaces the outer one).
        let port = |p: u16| src_port == p || dst_port == p;
        let depth = depth.saturating_add(1);
        if port(PORT_VXLAN) {
            if payload.len() < 8 {
                self.problem(ctx, DecodeProblem::TruncatedTunnelHeader);
            } else {
                self.ethernet(tail(payload, 8), depth);
            }
        } else if port(PORT_GENEVE) {
            let (Some(&b0), Some(et)) = (payload.first(), be16(payload, 2)) else {
                self.problem(ctx, DecodeProblem::TruncatedTunnelHeader);
                return ports;
            };
            let hlen = 8 + usize::from(b0 & 0x3F) * 4;
            if payload.len() < hlen {
                self.problem(ctx, DecodeProblem::TruncatedTunnelHeader);
            } else if et == ET_TEB {
                self.ethernet(tail(payload, hlen), depth);
            } else {
                let inner = tail(payload, hlen);
                if !self.ether_type(et, inner, depth) && !inner.is_empty() {
                    self.undecoded(ctx, Encapsulation::GeneveProtocol(et));
                }
            }
        } else if port(PORT_TEREDO) {
            self.teredo(payload, depth);
        } else if port(PORT_GTPU) {
            self.gtpu(payload, payload_len, depth);
        } else if port(PORT_L2TP) {
            self.l2tp(payload, payload_len, depth);
        }
        ports
    }

    /// GTP-U (3GPP TS 29.281) G-PDUs: the user's IP packet after the 8-byte header, the
    /// optional sequence / N-PDU / next-extension word and the extension headers. Recognised
    /// only with version 1, protocol type GTP, message type 255 and a length field that
    /// matches the UDP payload, so other traffic on port 2152 is left alone.
    fn gtpu(&mut self, data: &'a [u8], wire_len: usize, depth: u8) {
        let (Some(&flags), Some(&msg), Some(len)) = (data.first(), data.get(1), be16(data, 2))
        else {
            return;
        };
        if flags & 0xF0 != 0x30 || msg != 0xFF || usize::from(len) + 8 != wire_len {
            return;
        }
        let mut at = 8usize;
        if flags & 0x07 != 0 {
            // Sequence number, N-PDU number, next extension header type.
            let Some(&next) = data.get(11) else {
                return self.problem(Ctx::Outer, DecodeProblem::TruncatedTunnelHeader);
            };
            at = 12;
            let mut next = next;
            while next != 0 {
                // Extension header: length in 4-byte units, content, next type in its last byte.
                let Some(&units) = data.get(at) else {
                    return self.problem(Ctx::Outer, DecodeProblem::TruncatedTunnelHeader);
                };
                if units == 0 {
                    return self.problem(Ctx::Outer, DecodeProblem::TruncatedTunnelHeader);
                }
                at += usize::from(units) * 4;
                let Some(&n) = data.get(at - 1) else {
                    return self.problem(Ctx::Outer, DecodeProblem::TruncatedTunnelHeader);
                };
                next = n;
            }
        }
        let inner = tail(data, at);
        match inner.first().map(|b| b >> 4) {
            Some(4) | Some(6) => {
                self.ip(inner, Expect::Any, depth, Ctx::Outer);
            }
            None if data.len() < at => {
                self.problem(Ctx::Outer, DecodeProblem::TruncatedTunnelHeader)
            }
            _ => {}
        }
    }

    /// L2TPv2 (RFC 2661) data messages: flags and version 2, optional length, tunnel and
    /// session ids, optional Ns/Nr and offset, then a PPP frame. Recognised only with the
    /// reserved bits clear and, when present, a length field that matches the UDP payload.
    fn l2tp(&mut self, data: &'a [u8], wire_len: usize, depth: u8) {
        let Some(word) = be16(data, 0) else { return };
        // T (control message) clear, reserved bits clear, version 2.
        if word & 0x8000 != 0 || word & 0x34F0 != 0 || word & 0x000F != 2 {
            return;
        }
        let mut at = 2usize;
        if word & 0x4000 != 0 {
            match be16(data, 2) {
                Some(len) if usize::from(len) == wire_len => at += 2,
                Some(_) => return,
                None => return self.problem(Ctx::Outer, DecodeProblem::TruncatedTunnelHeader),
            }
        }
        at += 4; // tunnel id, session id
        if word & 0x0800 != 0 {
            at += 4; // Ns, Nr
        }
        if word & 0x0200 != 0 {
            let Some(offset) = be16(data, at) else {
                return self.problem(Ctx::Outer, DecodeProblem::TruncatedTunnelHeader);
            };
            at += 2 + usize::from(offset);
        }
        if data.len() < at {
            return self.problem(Ctx::Outer, DecodeProblem::TruncatedTunnelHeader);
        }
        self.ppp(tail(data, at), depth);
    }

    /// Teredo: optional authentication and origin indicators, then IPv6.
    fn teredo(&mut self, data: &'a [u8], depth: u8) {
        let mut rest = data;
        if be16(rest, 0) == Some(0x0001) {
            let (Some(&id_len), Some(&au_len)) = (rest.get(2), rest.get(3)) else {
                return;
            };
            rest = tail(rest, 4 + usize::from(id_len) + usize::from(au_len) + 9);
        }
        if be16(rest, 0) == Some(0x0000) {
            rest = tail(rest, 8);
        }
        // Only IPv6 with a plausible header is Teredo (tshark uses the same heuristic).
        if rest.len() >= 40 && rest.first().map(|b| b >> 4) == Some(6) {
            self.ip(rest, Expect::V6, depth, Ctx::Outer);
        }
    }

    fn gre(&mut self, data: &'a [u8], depth: u8, ctx: Ctx) {
        let (Some(flags), Some(proto)) = (be16(data, 0), be16(data, 2)) else {
            self.problem(ctx, DecodeProblem::TruncatedTunnelHeader);
            return;
        };
        let version = flags & 0x7;
        let mut hlen = 4usize;
        if flags & 0x8000 != 0 || (version == 0 && flags & 0x4000 != 0) {
            hlen += 4; // checksum (+ reserved or offset)
        }
        if flags & 0x2000 != 0 {
            hlen += 4; // key
        }
        if flags & 0x1000 != 0 {
            hlen += 4; // sequence number
        }
        if version == 1 && flags & 0x0080 != 0 {
            hlen += 4; // acknowledgment number (enhanced GRE)
        }
        if data.len() < hlen {
            self.problem(ctx, DecodeProblem::TruncatedTunnelHeader);
            return;
        }
        self.gre_payload(Some(flags), proto, tail(data, hlen), depth, ctx);
    }

    /// What GRE carries, by protocol type. `flags` are the GRE header's first 16 bits (flags
    /// and version), `None` on a Linux GRE device, which strips the header.
    fn gre_payload(&mut self, flags: Option<u16>, proto: u16, data: &'a [u8], depth: u8, ctx: Ctx) {
        match proto {
            ET_TEB => self.ethernet(data, depth),
            ET_PPP => self.ppp(data, depth),
            ET_ERSPAN_2 | ET_ERSPAN_3 => self.erspan(flags, data, depth),
            ET_WCCP => {
                // As tshark: WCCPv2 adds a 4-byte redirect header before the IPv4 packet,
                // recognised by the first byte not looking like IPv4.
                let ip = if data.first().map(|b| b >> 4) == Some(4) {
                    data
                } else {
                    tail(data, 4)
                };
                self.ip(ip, Expect::V4, depth, Ctx::Outer);
            }
            et => {
                if !self.ether_type(et, data, depth)
                    && !data.is_empty()
                    && !GRE_NOT_ENCAPSULATION.contains(&et)
                {
                    self.undecoded(ctx, Encapsulation::GreProtocol(et));
                }
            }
        }
    }

    /// ERSPAN, Cisco's mirrored frames over GRE (0x88BE, 0x22EB), as tshark tells its types
    /// apart: a GRE header with no flag and version 0 (or none, on a Linux GRE device) is type
    /// I, with no ERSPAN header; otherwise the ERSPAN header's version field says type II (1:
    /// 8 bytes) or type III (2: 12 bytes, plus an 8-byte platform-specific subheader when its O
    /// bit is set). The mirrored Ethernet frame follows.
    fn erspan(&mut self, gre_flags: Option<u16>, data: &'a [u8], depth: u8) {
        let hlen = if gre_flags.unwrap_or(0) == 0 {
            0
        } else {
            let Some(word) = be16(data, 0) else {
                return self.problem(Ctx::Outer, DecodeProblem::TruncatedTunnelHeader);
            };
            match word >> 12 {
                1 => 8,
                2 => match be16(data, 10) {
                    Some(w) if w & 1 != 0 => 20,
                    Some(_) => 12,
                    None => return self.problem(Ctx::Outer, DecodeProblem::TruncatedTunnelHeader),
                },
                v => {
                    let v = (v & 0xF) as u8;
                    return self.undecoded(Ctx::Outer, Encapsulation::ErspanVersion(v));
                }
            }
        };
        if data.len() < hlen {
            return self.problem(Ctx::Outer, DecodeProblem::TruncatedTunnelHeader);
        }
        self.ethernet(tail(data, hlen), depth);
    }

    fn icmp(&mut self, v6: bool, data: &'a [u8], ip: IpPair, depth: u8) {
        let (Some(&icmp_type), Some(&code)) = (data.first(), data.get(1)) else {
            return;
        };
        let is_error = if v6 {
            matches!(icmp_type, 1..=4)
        } else {
            matches!(icmp_type, 3 | 4 | 5 | 11 | 12)
        };
        if !is_error {
            return;
        }
        let quoted = tail(data, 8);
        let summary = if quoted.is_empty() {
            IpSummary::default()
        } else {
            let expect = if v6 { Expect::V6 } else { Expect::V4 };
            self.ip(quoted, expect, depth.saturating_add(1), Ctx::Quoted)
        };
        self.out.icmp_error = Some(Box::new(IcmpError {
            ts_ns: self.frame.ts_ns,
            frame: self.frame.index,
            ip,
            v6,
            icmp_type,
            code,
            quoted_ip: summary.ip,
            quoted_protocol: summary.protocol,
            quoted_src_port: summary.ports.map(|p| p.0),
            quoted_dst_port: summary.ports.map(|p| p.1),
        }));
    }
}

/// Decodes `frame` with the plain Ethernet/IPv4/TCP shortcut and with the general walk only,
/// and panics unless both give the same result (compared through `Debug`) and counters: the
/// `decode_shortcut` fuzz target and the tests.
#[cfg(any(test, feature = "fuzzing"))]
pub(crate) fn compare_shortcut(frame: &Frame<'_>) -> bool {
    let mut fast = Decoder::new(DecodeLimits::default());
    let mut general = Decoder::new(DecodeLimits::default());
    general.general_only = true;
    let a = format!("{:?}", fast.decode(frame));
    let b = format!("{:?}", general.decode(frame));
    assert_eq!(a, b, "{frame:?}");
    assert_eq!(fast.stats(), general.stats(), "{frame:?}");
    let mut stats = DecodeStats::default();
    let limits = DecodeLimits::default();
    let mut probe = Walk {
        defer: false,
        pool: None,
        stats: &mut stats,
        limits: &limits,
        frame: *frame,
        out: Decoded::empty(),
        encapsulation: None,
    };
    probe.plain_ipv4_tcp()
}
