//! Capture reading: pcap and pcapng (via pcap-parser), optionally gzip/zstd compressed.
//! (Stub; the real reader is being written.)

use std::fmt;

/// A link-layer header type number (LINKTYPE_* from tcpdump.org), open so unknown values stay representable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LinkType(pub u32);

impl LinkType {
    /// BSD loopback (4-byte address family in host byte order).
    pub const NULL: LinkType = LinkType(0);
    /// Ethernet.
    pub const ETHERNET: LinkType = LinkType(1);
    /// Raw IP (OpenBSD value 12; also 14 on some platforms).
    pub const RAW_12: LinkType = LinkType(12);
    /// Raw IP alias used on some BSDs.
    pub const RAW_14: LinkType = LinkType(14);
    /// Raw IP.
    pub const RAW: LinkType = LinkType(101);
    /// Linux cooked capture v1.
    pub const LINUX_SLL: LinkType = LinkType(113);
    /// OpenBSD loopback (4-byte address family in network byte order).
    pub const LOOP: LinkType = LinkType(108);
    /// Raw IPv4.
    pub const IPV4: LinkType = LinkType(228);
    /// Raw IPv6.
    pub const IPV6: LinkType = LinkType(229);
    /// Linux cooked capture v2.
    pub const LINUX_SLL2: LinkType = LinkType(276);
}

impl fmt::Display for LinkType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match *self {
            LinkType::NULL => "NULL",
            LinkType::ETHERNET => "Ethernet",
            LinkType::RAW | LinkType::RAW_12 | LinkType::RAW_14 => "Raw IP",
            LinkType::LINUX_SLL => "Linux cooked v1",
            LinkType::LOOP => "LOOP",
            LinkType::IPV4 => "Raw IPv4",
            LinkType::IPV6 => "Raw IPv6",
            LinkType::LINUX_SLL2 => "Linux cooked v2",
            _ => return write!(f, "linktype {}", self.0),
        };
        write!(f, "{name} ({})", self.0)
    }
}

/// One captured frame, borrowed from the capture's buffer.
#[derive(Debug, Clone, Copy)]
pub struct Frame<'a> {
    /// 0-based index of the frame in the file.
    pub index: u64,
    /// Capture timestamp, nanoseconds since the Unix epoch.
    pub ts_ns: i64,
    /// Link-layer type of the interface the frame was captured on.
    pub linktype: LinkType,
    /// pcapng interface id (0 for legacy pcap).
    pub interface: u32,
    /// Captured bytes.
    pub data: &'a [u8],
    /// Length of the packet on the wire (may exceed `data.len()` when cut by the snap length).
    pub orig_len: u32,
}
