//! Inputs shared by pcapstat's criterion benches (`benches/decode.rs`, `benches/tcp.rs`).
//!
//! * [`bundled`]: the lab captures in `testdata/lab/*/capture.pcapng` (small, real traffic).
//! * [`synthetic_pcap`]: a larger legacy pcap built in memory: many interleaved HTTP-like TCP
//!   connections with handshakes, bulk responses, delayed ACKs, a retransmission now and then,
//!   and FIN closes. Deterministic, so runs compare.
//! * `PCAPSTAT_BENCH_FILE`: an extra capture named in the environment (for example the head of
//!   the capture from `benches/make-capture.sh`), added to both benches when set.
//! * [`OwnedSegments`]: TCP segments decoded once and kept, so the TCP bench times the tracker
//!   alone.
#![deny(missing_docs)]

use std::net::{IpAddr, Ipv4Addr};
use std::ops::Range;
use std::path::{Path, PathBuf};

use etherparse::{PacketBuilder, TcpOptionElement};
use pcapstat_core::fuzzing::{Decoder, IpPair, TcpFlags, TcpSegment, Transport};
use pcapstat_core::{Capture, DecodeLimits};

/// One benchmark input: a name and the capture's bytes.
#[derive(Debug, Clone)]
pub struct Input {
    /// Short name used in benchmark ids.
    pub name: String,
    /// The whole capture file.
    pub bytes: Vec<u8>,
    /// Frames in the capture.
    pub frames: u64,
}

impl Input {
    /// Wraps capture bytes, counting their frames.
    ///
    /// # Panics
    /// If the bytes are not a readable capture (a benchmark input must be).
    pub fn new(name: impl Into<String>, bytes: Vec<u8>) -> Input {
        let name = name.into();
        let mut capture = Capture::from_bytes(bytes.clone())
            .unwrap_or_else(|e| panic!("bench input {name}: {e}"));
        let mut frames = 0;
        while capture
            .next_frame()
            .unwrap_or_else(|e| panic!("bench input {name}: {e}"))
            .is_some()
        {
            frames += 1;
        }
        Input {
            name,
            bytes,
            frames,
        }
    }
}

/// The repository's `testdata/` directory.
pub fn testdata() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata")
}

/// The bundled lab captures (`testdata/lab/*/capture.pcapng`), sorted by name.
///
/// # Panics
/// If `testdata/lab` cannot be read.
pub fn bundled() -> Vec<Input> {
    let lab = testdata().join("lab");
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(&lab)
        .unwrap_or_else(|e| panic!("{}: {e}", lab.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.join("capture.pcapng").is_file())
        .collect();
    dirs.sort();
    dirs.iter()
        .map(|d| {
            let name = d
                .file_name()
                .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
            let bytes = std::fs::read(d.join("capture.pcapng"))
                .unwrap_or_else(|e| panic!("{}: {e}", d.display()));
            Input::new(format!("lab-{name}"), bytes)
        })
        .collect()
}

/// The capture named by `PCAPSTAT_BENCH_FILE`, if set. It is read whole into memory (and copied
/// once per iteration), so point it at a capture of some tens of MB, for example the head of a
/// large one cut with `editcap -r big.pcap head.pcap 1-100000`.
///
/// # Panics
/// If the variable is set but the file cannot be read.
pub fn from_env() -> Option<Input> {
    let path = std::env::var_os("PCAPSTAT_BENCH_FILE")?;
    let bytes = std::fs::read(&path)
        .unwrap_or_else(|e| panic!("PCAPSTAT_BENCH_FILE {}: {e}", path.to_string_lossy()));
    Some(Input::new("env", bytes))
}

/// All inputs of the benches: the lab captures, the synthetic capture and `PCAPSTAT_BENCH_FILE`.
pub fn all_inputs() -> Vec<Input> {
    let mut inputs = bundled();
    inputs.push(Input::new(
        "synthetic-2000conn",
        synthetic_pcap(&SyntheticConfig::default()),
    ));
    inputs.extend(from_env());
    inputs
}

/// Shape of the synthetic capture.
#[derive(Debug, Clone)]
pub struct SyntheticConfig {
    /// Connections in the capture.
    pub connections: u32,
    /// Connections in flight at once (their packets interleave round-robin).
    pub concurrent: u32,
    /// Response bytes per connection (server → client).
    pub response_bytes: u32,
    /// Every `retransmit_every`-th data segment is sent again three packets later (0 = never).
    pub retransmit_every: u32,
}

impl Default for SyntheticConfig {
    fn default() -> Self {
        SyntheticConfig {
            connections: 2000,
            concurrent: 64,
            response_bytes: 32 * 1024,
            retransmit_every: 97,
        }
    }
}

const MSS: u32 = 1448;
const REQUEST: &[u8] = b"GET /object HTTP/1.1\r\nHost: bench.invalid\r\nUser-Agent: pcapstat-bench\r\nAccept: */*\r\n\r\n";

/// One packet of a synthetic connection, before it is written.
#[derive(Debug, Clone, Copy)]
struct Pkt {
    from_client: bool,
    flags: u16,
    seq: u32,
    ack: u32,
    len: u32,
}

/// The packets of one connection in order: handshake, request, response with an ACK every two
/// segments and the occasional retransmission, then FIN from the server, FIN/ACK, ACK.
fn connection(cfg: &SyntheticConfig, n: u32, data_counter: &mut u32) -> Vec<Pkt> {
    let (syn, fin, ack) = (TcpFlags::SYN, TcpFlags::FIN, TcpFlags::ACK);
    let psh = TcpFlags::PSH;
    let cisn = n.wrapping_mul(2_654_435_761);
    let sisn = n.wrapping_mul(40_503).wrapping_add(0x8000_0000);
    let req = REQUEST.len() as u32;
    let mut out = vec![
        Pkt {
            from_client: true,
            flags: syn,
            seq: cisn,
            ack: 0,
            len: 0,
        },
        Pkt {
            from_client: false,
            flags: syn | ack,
            seq: sisn,
            ack: cisn.wrapping_add(1),
            len: 0,
        },
        Pkt {
            from_client: true,
            flags: ack,
            seq: cisn.wrapping_add(1),
            ack: sisn.wrapping_add(1),
            len: 0,
        },
        Pkt {
            from_client: true,
            flags: ack | psh,
            seq: cisn.wrapping_add(1),
            ack: sisn.wrapping_add(1),
            len: req,
        },
    ];
    let cnext = cisn.wrapping_add(1 + req);
    let mut sent = 0u32;
    let mut pending_retx: Option<(Pkt, u32)> = None;
    let mut segs = 0u32;
    while sent < cfg.response_bytes {
        let len = (cfg.response_bytes - sent).min(MSS);
        let seg = Pkt {
            from_client: false,
            flags: ack,
            seq: sisn.wrapping_add(1 + sent),
            ack: cnext,
            len,
        };
        out.push(seg);
        sent += len;
        segs += 1;
        *data_counter += 1;
        if cfg.retransmit_every > 0 && (*data_counter).is_multiple_of(cfg.retransmit_every) {
            pending_retx = Some((seg, 3));
        }
        if let Some((p, left)) = pending_retx.take() {
            if left == 0 {
                out.push(p);
            } else {
                pending_retx = Some((p, left - 1));
            }
        }
        if segs.is_multiple_of(2) || sent == cfg.response_bytes {
            out.push(Pkt {
                from_client: true,
                flags: ack,
                seq: cnext,
                ack: sisn.wrapping_add(1 + sent),
                len: 0,
            });
        }
    }
    if let Some((p, _)) = pending_retx {
        out.push(p);
    }
    let snext = sisn.wrapping_add(1 + sent);
    out.push(Pkt {
        from_client: false,
        flags: fin | ack,
        seq: snext,
        ack: cnext,
        len: 0,
    });
    out.push(Pkt {
        from_client: true,
        flags: fin | ack,
        seq: cnext,
        ack: snext.wrapping_add(1),
        len: 0,
    });
    out.push(Pkt {
        from_client: false,
        flags: ack,
        seq: snext.wrapping_add(1),
        ack: cnext.wrapping_add(1),
        len: 0,
    });
    out
}

/// A legacy pcap (microseconds, Ethernet) of synthetic HTTP-like connections; see
/// [`SyntheticConfig`].
///
/// # Panics
/// Never for the configurations used here (etherparse only fails on impossible headers).
pub fn synthetic_pcap(cfg: &SyntheticConfig) -> Vec<u8> {
    let mut out = Vec::new();
    // Legacy pcap header: magic, v2.4, zone, sigfigs, snaplen, linktype Ethernet.
    out.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
    out.extend_from_slice(&2u16.to_le_bytes());
    out.extend_from_slice(&4u16.to_le_bytes());
    out.extend_from_slice(&0i32.to_le_bytes());
    out.extend_from_slice(&0u32.to_le_bytes());
    out.extend_from_slice(&262_144u32.to_le_bytes());
    out.extend_from_slice(&1u32.to_le_bytes());

    let payload = vec![0x5au8; MSS as usize];
    let server = Ipv4Addr::new(10, 99, 0, 1);
    let mut ts_us: u64 = 1_700_000_000_000_000;
    let mut data_counter = 0u32;
    let mut next_conn = 0u32;
    let mut active: Vec<(u32, std::vec::IntoIter<Pkt>)> = Vec::new();
    let mut frame = Vec::with_capacity(2048);
    loop {
        while active.len() < cfg.concurrent as usize && next_conn < cfg.connections {
            let pkts = connection(cfg, next_conn, &mut data_counter);
            active.push((next_conn, pkts.into_iter()));
            next_conn += 1;
        }
        if active.is_empty() {
            break;
        }
        let mut i = 0;
        while i < active.len() {
            let (n, pkts) = &mut active[i];
            let Some(p) = pkts.next() else {
                active.swap_remove(i);
                continue;
            };
            let client = Ipv4Addr::new(10, 98, (*n >> 8) as u8, *n as u8);
            let cport = 20_000 + (*n % 40_000) as u16;
            let (src, dst, sport, dport) = if p.from_client {
                (client, server, cport, 80)
            } else {
                (server, client, 80, cport)
            };
            let mut b = PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2])
                .ipv4(src.octets(), dst.octets(), 64)
                .tcp(sport, dport, p.seq, 502);
            if p.flags & TcpFlags::SYN != 0 {
                b = b
                    .options(&[
                        TcpOptionElement::MaximumSegmentSize(1460),
                        TcpOptionElement::Noop,
                        TcpOptionElement::WindowScale(7),
                        TcpOptionElement::SelectiveAcknowledgementPermitted,
                        TcpOptionElement::Noop,
                        TcpOptionElement::Noop,
                    ])
                    .expect("SYN options fit");
            }
            if p.flags & TcpFlags::SYN != 0 {
                b = b.syn();
            }
            if p.flags & TcpFlags::FIN != 0 {
                b = b.fin();
            }
            if p.flags & TcpFlags::PSH != 0 {
                b = b.psh();
            }
            if p.flags & TcpFlags::ACK != 0 {
                b = b.ack(p.ack);
            }
            let body: &[u8] = if p.from_client && p.len > 0 {
                REQUEST
            } else {
                &payload[..p.len as usize]
            };
            frame.clear();
            b.write(&mut frame, body).expect("synthetic packet builds");
            let len = frame.len() as u32;
            out.extend_from_slice(&((ts_us / 1_000_000) as u32).to_le_bytes());
            out.extend_from_slice(&((ts_us % 1_000_000) as u32).to_le_bytes());
            out.extend_from_slice(&len.to_le_bytes());
            out.extend_from_slice(&len.to_le_bytes());
            out.extend_from_slice(&frame);
            ts_us += 7;
            i += 1;
        }
    }
    out
}

/// A TCP segment copied out of the decoder, with its options and payload in an arena.
#[derive(Debug, Clone)]
struct Seg {
    ts_ns: i64,
    frame: u64,
    src: IpAddr,
    dst: IpAddr,
    src_port: u16,
    dst_port: u16,
    seq: u32,
    ack: u32,
    flags: TcpFlags,
    window: u16,
    options: Range<usize>,
    payload: Range<usize>,
    payload_len: u32,
}

/// The TCP segments of a capture, decoded once, to replay into a tracker.
#[derive(Debug, Clone, Default)]
pub struct OwnedSegments {
    segs: Vec<Seg>,
    arena: Vec<u8>,
}

impl OwnedSegments {
    /// Reads and decodes `bytes` (a capture), keeping every TCP segment.
    ///
    /// # Panics
    /// If the bytes are not a readable capture.
    pub fn from_capture(bytes: &[u8]) -> OwnedSegments {
        let mut capture = Capture::from_bytes(bytes.to_vec()).expect("readable capture");
        let mut decoder = Decoder::new(DecodeLimits::default());
        let mut out = OwnedSegments::default();
        while let Some(frame) = capture.next_frame().expect("readable capture") {
            if let Some(Transport::Tcp(s)) = decoder.decode(&frame).transport {
                let at = out.arena.len();
                out.arena.extend_from_slice(s.options);
                let mid = out.arena.len();
                out.arena.extend_from_slice(s.payload);
                out.segs.push(Seg {
                    ts_ns: s.ts_ns,
                    frame: s.frame,
                    src: s.ip.src,
                    dst: s.ip.dst,
                    src_port: s.src_port,
                    dst_port: s.dst_port,
                    seq: s.seq,
                    ack: s.ack,
                    flags: s.flags,
                    window: s.window,
                    options: at..mid,
                    payload: mid..out.arena.len(),
                    payload_len: s.payload_len,
                });
            }
        }
        out
    }

    /// Number of segments.
    pub fn len(&self) -> usize {
        self.segs.len()
    }

    /// Whether there are no segments.
    pub fn is_empty(&self) -> bool {
        self.segs.is_empty()
    }

    /// Timestamp of the last segment (0 when empty), for `TcpTracker::finish`.
    pub fn end_ts(&self) -> i64 {
        self.segs.last().map_or(0, |s| s.ts_ns)
    }

    /// The segments as the decoder produced them, in capture order.
    pub fn iter(&self) -> impl Iterator<Item = TcpSegment<'_>> + '_ {
        self.segs.iter().map(|s| TcpSegment {
            ts_ns: s.ts_ns,
            frame: s.frame,
            ip: IpPair {
                src: s.src,
                dst: s.dst,
            },
            src_port: s.src_port,
            dst_port: s.dst_port,
            seq: s.seq,
            ack: s.ack,
            flags: s.flags,
            window: s.window,
            options: &self.arena[s.options.clone()],
            payload: &self.arena[s.payload.clone()],
            payload_len: s.payload_len,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pcapstat_core::fuzzing::TcpTracker;
    use pcapstat_core::TcpConfig;

    #[test]
    fn synthetic_capture_is_tracked_as_its_connections() {
        let cfg = SyntheticConfig {
            connections: 50,
            concurrent: 8,
            ..SyntheticConfig::default()
        };
        let input = Input::new("small", synthetic_pcap(&cfg));
        let segs = OwnedSegments::from_capture(&input.bytes);
        assert_eq!(segs.len() as u64, input.frames);
        let mut t = TcpTracker::new(TcpConfig::default());
        for s in segs.iter() {
            t.on_segment(&s);
        }
        let out = t.finish(segs.end_ts());
        assert_eq!(out.records.len(), 50);
        let retrans: u64 = out
            .records
            .iter()
            .map(|r| r.c2s.retransmissions + r.s2c.retransmissions)
            .sum();
        assert!(retrans > 0, "some retransmissions");
        assert!(out.records.iter().all(|r| r.handshake_seen));
    }

    #[test]
    fn bundled_captures_are_found() {
        assert!(!bundled().is_empty());
    }
}
