//! Decoded transport-layer units, the interface between `decode` and the flow/TCP layers.
//!
//! These are borrowed views: payloads point into the frame (or into a reassembled IP datagram).

use std::net::IpAddr;

/// Source and destination IP addresses of a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct IpPair {
    /// Source address.
    pub src: IpAddr,
    /// Destination address.
    pub dst: IpAddr,
}

/// TCP header flags (the low 9 bits of the flags field: NS CWR ECE URG ACK PSH RST SYN FIN).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct TcpFlags(pub u16);

impl TcpFlags {
    /// FIN.
    pub const FIN: u16 = 0x001;
    /// SYN.
    pub const SYN: u16 = 0x002;
    /// RST.
    pub const RST: u16 = 0x004;
    /// PSH.
    pub const PSH: u16 = 0x008;
    /// ACK.
    pub const ACK: u16 = 0x010;
    /// URG.
    pub const URG: u16 = 0x020;
    /// ECE.
    pub const ECE: u16 = 0x040;
    /// CWR.
    pub const CWR: u16 = 0x080;

    /// Whether FIN is set.
    pub fn fin(self) -> bool {
        self.0 & Self::FIN != 0
    }
    /// Whether SYN is set.
    pub fn syn(self) -> bool {
        self.0 & Self::SYN != 0
    }
    /// Whether RST is set.
    pub fn rst(self) -> bool {
        self.0 & Self::RST != 0
    }
    /// Whether PSH is set.
    pub fn psh(self) -> bool {
        self.0 & Self::PSH != 0
    }
    /// Whether ACK is set.
    pub fn ack(self) -> bool {
        self.0 & Self::ACK != 0
    }
}

/// One TCP segment as seen on the wire.
#[derive(Debug, Clone, Copy)]
pub struct TcpSegment<'a> {
    /// Capture timestamp, nanoseconds since the Unix epoch.
    pub ts_ns: i64,
    /// Index of the frame this segment came from (0-based, in file order).
    pub frame: u64,
    /// IP addresses.
    pub ip: IpPair,
    /// Source port.
    pub src_port: u16,
    /// Destination port.
    pub dst_port: u16,
    /// Sequence number.
    pub seq: u32,
    /// Acknowledgement number (meaningful only with ACK).
    pub ack: u32,
    /// Flags.
    pub flags: TcpFlags,
    /// Raw (unscaled) receive window.
    pub window: u16,
    /// Raw TCP options bytes (after the fixed 20-byte header).
    pub options: &'a [u8],
    /// Payload bytes that were captured (may be shorter than `payload_len` when cut by the snap length).
    pub payload: &'a [u8],
    /// Payload length on the wire, from the IP total length (not cut by the snap length).
    pub payload_len: u32,
}

/// One UDP datagram.
#[derive(Debug, Clone, Copy)]
pub struct UdpDatagram<'a> {
    /// Capture timestamp, nanoseconds since the Unix epoch.
    pub ts_ns: i64,
    /// Index of the frame this datagram came from (for a reassembled datagram, the last fragment).
    pub frame: u64,
    /// IP addresses.
    pub ip: IpPair,
    /// Source port.
    pub src_port: u16,
    /// Destination port.
    pub dst_port: u16,
    /// Captured payload bytes.
    pub payload: &'a [u8],
    /// Payload length on the wire (from the UDP length field).
    pub payload_len: u32,
}

/// The transport-layer content of a decoded frame, when there is one pcapstat analyses.
#[derive(Debug, Clone, Copy)]
pub enum Transport<'a> {
    /// A TCP segment.
    Tcp(TcpSegment<'a>),
    /// A UDP datagram.
    Udp(UdpDatagram<'a>),
}
