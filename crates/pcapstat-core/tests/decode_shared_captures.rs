//! Decodes every frame of every capture in `/work/shared/captures` (when present) without
//! panicking, and compares the per-file IPv4/IPv6/TCP/UDP frame counts with tshark's
//! (`tests/data/tshark-counts.tsv`, or the file named by `PCAPSTAT_TSHARK_REF`; lines
//! `path \t ip \t ipv6 \t tcp \t udp`). Only the documented differences are allowed.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use pcapstat_core::{Capture, DecodeLimits, DecodeStats, Decoder};

const SHARED: &str = "/work/shared/captures";

/// Files whose counts differ from tshark's on purpose (see the `decode` module docs).
const KNOWN_DIFFERENCES: &[&str] = &[
    // tshark's pcap reader guesses another record layout for this corrupt file.
    "suricata-verify/tests/bug-6875-01/fuzz.pcap",
    // IPv6 atomic fragment carrying one byte of TCP: tshark does not count TCP here.
    "suricata-verify/tests/ipv6-evasion/ipv6-malformed-fragments-26/frag-26.pcap",
];

fn captures(root: &Path) -> Vec<PathBuf> {
    let manifest = std::fs::read_to_string(root.join("MANIFEST.tsv")).unwrap_or_default();
    manifest
        .lines()
        .skip(1)
        .filter_map(|l| l.split('\t').next())
        .map(|p| root.join(p))
        .collect()
}

fn decode_file(path: &Path) -> Option<DecodeStats> {
    let mut capture = Capture::open(path).ok()?;
    let mut decoder = Decoder::new(DecodeLimits::default());
    while let Ok(Some(frame)) = capture.next_frame() {
        let d = decoder.decode(&frame);
        // Every view must be consistent with its lengths.
        if let Some(pcapstat_core::Transport::Tcp(t)) = d.transport {
            assert!(t.payload.len() as u64 <= u64::from(t.payload_len));
        }
        if let Some(pcapstat_core::Transport::Udp(u)) = d.transport {
            assert!(u.payload.len() as u64 <= u64::from(u.payload_len));
        }
    }
    Some(decoder.stats().clone())
}

#[test]
fn decode_every_shared_capture_without_panicking() {
    let root = Path::new(SHARED);
    if !root.exists() {
        eprintln!("{SHARED} not present; skipping");
        return;
    }
    let ref_path = std::env::var("PCAPSTAT_TSHARK_REF").unwrap_or_else(|_| {
        concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/tshark-counts.tsv").to_string()
    });
    let reference: BTreeMap<String, [u64; 4]> = std::fs::read_to_string(ref_path)
        .unwrap_or_default()
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let mut f = l.split('\t');
            let name = f.next()?.to_string();
            let mut n = [0u64; 4];
            for v in &mut n {
                *v = f.next()?.trim().parse().ok()?;
            }
            Some((name, n))
        })
        .collect();
    let mut total = DecodeStats::default();
    let (mut files, mut equal, mut compared) = (0, 0, 0);
    let mut unexpected = Vec::new();
    for path in captures(root) {
        let Some(stats) = decode_file(&path) else {
            continue;
        };
        files += 1;
        total.merge(&stats);
        let rel = path
            .strip_prefix(root)
            .map(|p| p.display().to_string())
            .unwrap_or_default();
        if let Some(want) = reference.get(&rel) {
            compared += 1;
            let got = [stats.ipv4, stats.ipv6, stats.tcp, stats.udp];
            if got == *want {
                equal += 1;
            } else {
                eprintln!("DIFF {rel}: ours ip/ipv6/tcp/udp {got:?} tshark {want:?}");
                if !KNOWN_DIFFERENCES.contains(&rel.as_str()) {
                    unexpected.push(rel);
                }
            }
        }
    }
    eprintln!("{files} captures decoded; {equal}/{compared} equal to tshark");
    eprintln!("totals: {total:?}");
    assert!(files > 100, "expected the shared captures to open");
    assert!(
        compared > 100,
        "expected a tshark reference for the shared captures"
    );
    assert!(
        unexpected.is_empty(),
        "counts differ from tshark: {unexpected:?}"
    );
}
