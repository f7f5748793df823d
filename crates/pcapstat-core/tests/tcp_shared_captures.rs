//! Runs the TCP tracker over every capture in the shared captures (see tests/common): it must
//! never panic. When `PCAPSTAT_TCP_REF` names a reference table (lines `path \t tcp frames \t
//! retransmission \t fast \t spurious \t out_of_order \t duplicate_ack \t lost_segment \t
//! zero_window \t keep_alive`, counts of tshark's `tcp.analysis.*` fields), per-file
//! differences are reported, and `PCAPSTAT_TCP_REF_STRICT=1` turns them into a failure.

use std::collections::HashMap;
use std::path::Path;

use pcapstat_core::Capture;

mod common;

fn counts(path: &Path) -> Option<[u64; 9]> {
    Capture::open(path).ok()?;
    let out = common::track(path);
    let mut c = [0u64; 9];
    c[0] = out.stats.segments;
    for r in &out.records {
        for d in [&r.c2s, &r.s2c] {
            c[1] += d.retransmissions;
            c[2] += d.fast_retransmissions;
            c[3] += d.spurious_retransmissions;
            c[4] += d.out_of_order;
            c[5] += d.dup_acks;
            c[6] += d.lost_segments;
            c[7] += d.zero_windows;
            c[8] += d.keep_alives;
        }
    }
    Some(c)
}

#[test]
fn shared_captures_never_panic_and_match_tshark() {
    need_shared!();
    let root = common::shared().join("captures");
    let root = root.as_path();
    let manifest = std::fs::read_to_string(root.join("MANIFEST.tsv")).expect("MANIFEST.tsv");
    let reference: HashMap<String, Vec<u64>> = std::env::var("PCAPSTAT_TCP_REF")
        .ok()
        .and_then(|p| std::fs::read_to_string(p).ok())
        .unwrap_or_default()
        .lines()
        .filter_map(|l| {
            let mut it = l.split('\t');
            let name = it.next()?.to_string();
            Some((name, it.filter_map(|v| v.parse().ok()).collect()))
        })
        .collect();
    let (mut same, mut differ) = (0, 0);
    for rel in manifest
        .lines()
        .skip(1)
        .filter_map(|l| l.split('\t').next())
    {
        let Some(ours) = counts(&root.join(rel)) else {
            continue;
        };
        if let Some(theirs) = reference.get(rel) {
            if theirs.get(1..) == Some(&ours[1..]) {
                same += 1;
            } else {
                differ += 1;
                eprintln!("{rel}: ours {ours:?} tshark {theirs:?}");
            }
        }
    }
    if !reference.is_empty() {
        eprintln!("tcp.analysis totals: {same} captures identical, {differ} differ");
        if std::env::var("PCAPSTAT_TCP_REF_STRICT").is_ok_and(|v| v == "1") {
            assert_eq!(differ, 0);
        }
    }
}
