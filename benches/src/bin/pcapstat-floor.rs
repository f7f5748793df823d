//! `pcapstat-floor FILE`: the reference loop for pcapstat's speed (issue #3).
//!
//! It does the least a capture analyzer must do: memory-map the file, parse its records with
//! pcap-parser (pcap or pcapng) and slice each packet with etherparse's lax slicing, counting TCP
//! and UDP. No flows, no timestamps, no reassembly, no output tables. pcapstat's packets per second
//! are compared with this program's (target: within a factor of 2).
//!
//! Output, one `key value` pair per line (read by `benches/compare.sh`):
//! `packets`, `captured_bytes`, `file_bytes`, `tcp`, `udp`, `other`, `elapsed_s`,
//! `packets_per_s`, `mb_per_s` (file bytes, 10^6).
//!
//! Exit codes: 0 success, 2 the file cannot be read or is not a capture.

use std::fs::File;
use std::process::ExitCode;
use std::time::Instant;

use etherparse::{EtherType, LaxSlicedPacket, TransportSlice};
use pcap_parser::nom;
use pcap_parser::pcapng::{parse_block_be, parse_block_le, Block};
use pcap_parser::{
    parse_pcap_frame, parse_pcap_frame_be, parse_pcap_frame_modified, parse_pcap_header, Linktype,
};

#[derive(Debug, Default)]
struct Counts {
    packets: u64,
    captured_bytes: u64,
    tcp: u64,
    udp: u64,
    other: u64,
    /// Sum of ports, so the slicing cannot be optimised away.
    port_sum: u64,
}

impl Counts {
    fn packet(&mut self, linktype: Linktype, data: &[u8]) {
        self.packets += 1;
        self.captured_bytes += data.len() as u64;
        let sliced = match linktype {
            Linktype::ETHERNET => LaxSlicedPacket::from_ethernet(data).ok(),
            Linktype::RAW | Linktype::IPV4 | Linktype::IPV6 => LaxSlicedPacket::from_ip(data).ok(),
            Linktype::NULL | Linktype::LOOP => {
                data.get(4..).and_then(|d| LaxSlicedPacket::from_ip(d).ok())
            }
            Linktype::LINUX_SLL => data.get(16..).map(|d| {
                LaxSlicedPacket::from_ether_type(
                    EtherType(u16::from_be_bytes([data[14], data[15]])),
                    d,
                )
            }),
            Linktype::LINUX_SLL2 => data.get(20..).map(|d| {
                LaxSlicedPacket::from_ether_type(
                    EtherType(u16::from_be_bytes([data[0], data[1]])),
                    d,
                )
            }),
            _ => None,
        };
        match sliced.and_then(|s| s.transport) {
            Some(TransportSlice::Tcp(t)) => {
                self.tcp += 1;
                self.port_sum += u64::from(t.source_port()) + u64::from(t.destination_port());
            }
            Some(TransportSlice::Udp(u)) => {
                self.udp += 1;
                self.port_sum += u64::from(u.source_port()) + u64::from(u.destination_port());
            }
            _ => self.other += 1,
        }
    }
}

/// Frames of a legacy pcap, after its 24-byte header.
fn legacy(counts: &mut Counts, bytes: &[u8]) -> Result<(), String> {
    let (mut rest, header) = parse_pcap_header(bytes).map_err(|e| format!("pcap header: {e:?}"))?;
    let parse = if header.is_modified_format() {
        parse_pcap_frame_modified
    } else if header.is_bigendian() {
        parse_pcap_frame_be
    } else {
        parse_pcap_frame
    };
    while !rest.is_empty() {
        match parse(rest) {
            Ok((r, frame)) => {
                counts.packet(header.network, frame.data);
                rest = r;
            }
            Err(nom::Err::Incomplete(_)) => return truncated(counts),
            Err(e) => return Err(format!("damaged after {} packets: {e:?}", counts.packets)),
        }
    }
    Ok(())
}

/// Blocks of a pcapng file, each section in its own byte order.
fn pcapng(counts: &mut Counts, bytes: &[u8]) -> Result<(), String> {
    let mut rest = bytes;
    let mut big_endian = false;
    let mut if_linktypes: Vec<Linktype> = Vec::new();
    while !rest.is_empty() {
        // A section header starts with the same 4 bytes in both orders; its byte-order magic
        // says how to read it and the blocks after it.
        if rest.len() >= 12 && rest[..4] == [0x0a, 0x0d, 0x0d, 0x0a] {
            big_endian = rest[8..12] == [0x1a, 0x2b, 0x3c, 0x4d];
        }
        let parsed = if big_endian {
            parse_block_be(rest)
        } else {
            parse_block_le(rest)
        };
        match parsed {
            Ok((r, block)) => {
                match block {
                    Block::SectionHeader(_) => if_linktypes.clear(),
                    Block::InterfaceDescription(idb) => if_linktypes.push(idb.linktype),
                    Block::EnhancedPacket(epb) => {
                        let lt = if_linktypes
                            .get(epb.if_id as usize)
                            .copied()
                            .unwrap_or(Linktype::ETHERNET);
                        let len = (epb.caplen as usize).min(epb.data.len());
                        counts.packet(lt, &epb.data[..len]);
                    }
                    Block::SimplePacket(spb) => {
                        let lt = if_linktypes.first().copied().unwrap_or(Linktype::ETHERNET);
                        counts.packet(lt, spb.data);
                    }
                    _ => {}
                }
                rest = r;
            }
            Err(nom::Err::Incomplete(_)) => return truncated(counts),
            Err(e) => return Err(format!("damaged after {} packets: {e:?}", counts.packets)),
        }
    }
    Ok(())
}

/// A file cut in the middle of its last record: keep what was read, as pcapstat does.
fn truncated(counts: &Counts) -> Result<(), String> {
    eprintln!(
        "pcapstat-floor: warning: truncated after {} packets",
        counts.packets
    );
    Ok(())
}

fn run(path: &str) -> Result<(Counts, u64), String> {
    let file = File::open(path).map_err(|e| format!("{path}: {e}"))?;
    // SAFETY: read-only private map, as pcapstat's reader does for plain files (the same I/O path,
    // so the comparison measures parsing, not read() copies). A concurrent truncation of the file
    // could fault; this is a benchmark tool run on files nobody is writing.
    #[allow(unsafe_code)]
    let map = unsafe { memmap2::Mmap::map(&file) }.map_err(|e| format!("{path}: {e}"))?;
    let bytes: &[u8] = &map;
    let mut counts = Counts::default();
    let result = match bytes.get(..4) {
        Some([0x0a, 0x0d, 0x0d, 0x0a]) => pcapng(&mut counts, bytes),
        Some(_) => legacy(&mut counts, bytes),
        None => Err("shorter than a capture header".to_string()),
    };
    result.map_err(|e| format!("{path}: {e}"))?;
    Ok((counts, bytes.len() as u64))
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [path] = args.as_slice() else {
        eprintln!("usage: pcapstat-floor FILE");
        return ExitCode::from(2);
    };
    let start = Instant::now();
    let (counts, file_bytes) = match run(path) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("pcapstat-floor: error: {e}");
            return ExitCode::from(2);
        }
    };
    let elapsed = start.elapsed().as_secs_f64();
    println!("packets {}", counts.packets);
    println!("captured_bytes {}", counts.captured_bytes);
    println!("file_bytes {file_bytes}");
    println!("tcp {}", counts.tcp);
    println!("udp {}", counts.udp);
    println!("other {}", counts.other);
    println!("port_sum {}", counts.port_sum);
    println!("elapsed_s {elapsed:.6}");
    println!("packets_per_s {:.0}", counts.packets as f64 / elapsed);
    println!("mb_per_s {:.1}", file_bytes as f64 / 1e6 / elapsed);
    ExitCode::SUCCESS
}
