//! `pcapstat-core-tcp FILE [SHARDS]`: pcapstat-core's TCP pipeline on one thread, timed
//! (`FILE` may be `-` for standard input).
//!
//! The loop of `crates/pcapstat-core/tests/tcp_lab.rs`: `Capture::open_with` (memory map) →
//! `Decoder::decode` → `shard_of` → one `TcpTracker` per shard (default 1) → `finish`. It is
//! what the CLI's full TCP analysis does per shard, without threads, tables or output, so
//! `benches/compare.py` can show the cost of the TCP layer next to the floor and the CLI whatever
//! the CLI does at the commit measured.
//!
//! Output, one `key value` pair per line: `packets`, `tcp_segments`, `connections`,
//! `retransmissions`, `file_bytes`, `elapsed_s`, `packets_per_s`, `mb_per_s`.
//! Exit codes: 0 success (a damaged file is read up to the damage), 2 the file cannot be read.

use std::process::ExitCode;
use std::time::Instant;

use pcapstat_core::fuzzing::{shard_of, Decoder, TcpTracker, Transport};
use pcapstat_core::{Capture, DecodeLimits, MmapChoice, TcpConfig, TcpStats};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (path, shards) = match args.as_slice() {
        [p] => (p, 1),
        [p, n] => match n.parse::<usize>() {
            Ok(n) if n > 0 => (p, n),
            _ => {
                eprintln!("usage: pcapstat-core-tcp FILE [SHARDS]");
                return ExitCode::from(2);
            }
        },
        _ => {
            eprintln!("usage: pcapstat-core-tcp FILE [SHARDS]");
            return ExitCode::from(2);
        }
    };
    let start = Instant::now();
    // `-` streams standard input (bounded buffer, no memory map), for heap measurements.
    let opened = if path == "-" {
        Capture::from_reader(std::io::stdin())
    } else {
        // SAFETY: a benchmark tool run on files nobody is writing (a concurrent truncation
        // could fault); mapped as the CLI maps them, so the comparison measures the same I/O.
        #[allow(unsafe_code)]
        let mmap = unsafe { MmapChoice::auto() };
        Capture::open_with(path, mmap)
    };
    let mut capture = match opened {
        Ok(c) => c,
        Err(e) => {
            eprintln!("pcapstat-core-tcp: error: {path}: {e}");
            return ExitCode::from(2);
        }
    };
    let mut decoder = Decoder::new(DecodeLimits::default());
    let mut trackers: Vec<TcpTracker> = (0..shards)
        .map(|_| TcpTracker::new(TcpConfig::default()))
        .collect();
    let mut packets = 0u64;
    let mut end = 0;
    loop {
        match capture.next_frame() {
            Ok(Some(frame)) => {
                packets += 1;
                end = frame.ts_ns;
                if let Some(Transport::Tcp(seg)) = decoder.decode(&frame).transport {
                    let i = shard_of(&seg.ip, seg.src_port, seg.dst_port, shards);
                    trackers[i].on_segment(&seg);
                }
            }
            Ok(None) => break,
            Err(e) => {
                eprintln!("pcapstat-core-tcp: warning: {path}: {e}");
                break;
            }
        }
    }
    let mut stats = TcpStats::default();
    let mut connections = 0usize;
    let mut retransmissions = 0u64;
    for t in trackers {
        let out = t.finish(end);
        connections += out.records.len();
        retransmissions += out
            .records
            .iter()
            .map(|r| r.c2s.retransmissions + r.s2c.retransmissions)
            .sum::<u64>();
        stats.merge(&out.stats);
    }
    let elapsed = start.elapsed().as_secs_f64();
    let file_bytes = if path == "-" {
        capture.offset()
    } else {
        std::fs::metadata(path).map_or(0, |m| m.len())
    };
    println!("packets {packets}");
    println!("tcp_segments {}", stats.segments);
    println!("connections {connections}");
    println!("retransmissions {retransmissions}");
    println!("file_bytes {file_bytes}");
    println!("elapsed_s {elapsed:.6}");
    println!("packets_per_s {:.0}", packets as f64 / elapsed);
    println!("mb_per_s {:.1}", file_bytes as f64 / 1e6 / elapsed);
    ExitCode::SUCCESS
}
