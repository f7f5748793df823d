//! Hostile captures against the buffer limits of issue #14 (docs/limits.md), end to end through
//! the pipeline at small sizes: the limits are hit and counted. The full-size generator is
//! `scripts/make-hostile-buffers.py` (the same shapes); the memory bound itself is checked by
//! the accounting unit tests (`tcp::reassembly::tests`, `app::tests`).
#![allow(clippy::unwrap_used)]

use std::path::PathBuf;

use pcapstat_core::{Analyzer, AppStats, TcpStats};

mod common;

const CLIENT: [u8; 4] = [10, 0, 0, 1];
const SERVER: [u8; 4] = [10, 0, 0, 2];
const SYN: u8 = 0x02;
const ACK: u8 = 0x10;

/// One Ethernet/IPv4/TCP frame of `wire_payload` on-wire payload bytes, of which `payload` is
/// captured (checksums zero: the pipeline does not verify them).
#[allow(clippy::too_many_arguments)]
fn frame(
    from_client: bool,
    sport: u16,
    dport: u16,
    seq: u32,
    ack: u32,
    flags: u8,
    payload: &[u8],
    wire_payload: usize,
) -> (Vec<u8>, usize) {
    let (src, dst) = if from_client {
        (CLIENT, SERVER)
    } else {
        (SERVER, CLIENT)
    };
    let mut f = vec![2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x08, 0x00];
    let total = (20 + 20 + wire_payload) as u16;
    f.extend_from_slice(&[
        0x45,
        0,
        (total >> 8) as u8,
        total as u8,
        0,
        0,
        0x40,
        0,
        64,
        6,
        0,
        0,
    ]);
    f.extend_from_slice(&src);
    f.extend_from_slice(&dst);
    f.extend_from_slice(&sport.to_be_bytes());
    f.extend_from_slice(&dport.to_be_bytes());
    f.extend_from_slice(&seq.to_be_bytes());
    f.extend_from_slice(&ack.to_be_bytes());
    f.extend_from_slice(&[0x50, flags, 0xff, 0xff, 0, 0, 0, 0]);
    let wire = f.len() + wire_payload;
    f.extend_from_slice(payload);
    (f, wire)
}

struct Pcap(Vec<u8>);

impl Pcap {
    fn new() -> Pcap {
        Pcap(common::pcap_header())
    }

    fn push(&mut self, us: u32, (f, wire): (Vec<u8>, usize)) {
        for x in [us / 1_000_000, us % 1_000_000, f.len() as u32, wire as u32] {
            self.0.extend_from_slice(&x.to_le_bytes());
        }
        self.0.extend_from_slice(&f);
    }

    fn handshake(&mut self, cport: u16, sport: u16) {
        self.push(0, frame(true, cport, sport, 1000, 0, SYN, &[], 0));
        self.push(
            100,
            frame(false, sport, cport, 5000, 1001, SYN | ACK, &[], 0),
        );
        self.push(200, frame(true, cport, sport, 1001, 5001, ACK, &[], 0));
    }

    fn run(self, name: &str) -> (TcpStats, AppStats) {
        let path = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(name);
        std::fs::write(&path, &self.0).unwrap();
        let a = Analyzer::new().threads(1).analyze_path(&path).unwrap();
        (a.stats.tcp, a.stats.app)
    }
}

/// Out-of-order segments cut by the snap length (one-byte hole before each): ~64 B of
/// bookkeeping each, counted against the 1 MiB out-of-order limit. Before #14 they were never
/// counted: 20 000 segments (1.3 MB of map entries) hit no limit.
#[test]
fn snap_cut_out_of_order_segments_hit_the_ooo_limit() {
    let mut p = Pcap::new();
    p.handshake(40_000, 443);
    for i in 0..20_000u32 {
        let seq = 1002 + i * 1401;
        p.push(300 + i, frame(true, 40_000, 443, seq, 5001, ACK, &[], 1400));
    }
    let (tcp, _) = p.run("hostile-ooo-snap.pcap");
    assert!(tcp.ooo_limit_hits >= 1, "{tcp:?}");
}

/// Headers-only server segments before the client's first bytes: gap events while the
/// protocol is unknown, counted against the 4 KiB probing buffer (64 B each).
#[test]
fn headers_only_server_segments_hit_the_probe_limit() {
    let mut p = Pcap::new();
    p.handshake(40_000, 8080);
    for i in 0..1_000u32 {
        let seq = 5001 + i * 1400;
        p.push(
            300 + i,
            frame(false, 8080, 40_000, seq, 1001, ACK, &[], 1400),
        );
    }
    let (_, app) = p.run("hostile-probe-gaps.pcap");
    assert_eq!(app.probe_limit_hits, 1, "{app:?}");
    assert_eq!(app.unrecognised, 1);
    assert_eq!(app.limit_hits(), 1);
}
