//! Bad input: every file in `testdata/broken/` gives the result its construction says
//! (`testdata/broken/EXPECTED.tsv`, made by `scripts/make-broken.py` and cross-checked there with
//! capinfos), and every prefix of every bundled capture reads and decodes without a panic.

mod common;

use pcapstat_core::{Capture, CaptureError};

#[test]
fn broken_files_match_their_construction() {
    let rows = common::tsv(&common::testdata().join("broken/EXPECTED.tsv"));
    assert!(rows.len() >= 20, "expected the broken-file catalogue");
    for row in rows {
        let file = &row["file"];
        let path = common::testdata().join("broken").join(file);
        let result = common::scan(&path);
        match row["kind"].as_str() {
            "not_capture" => match result {
                Err(CaptureError::Empty) | Err(CaptureError::UnknownFormat { .. }) => {}
                other => panic!("{file}: expected 'not a capture', got {other:?}"),
            },
            "damaged" => {
                let frames: u64 = row["frames_before_damage"].parse().unwrap();
                let offset: u64 = row["damage_offset"].parse().unwrap();
                match result {
                    Ok(summary) => {
                        let damage = summary
                            .damaged
                            .as_ref()
                            .unwrap_or_else(|| panic!("{file}: damage not reported"));
                        assert_eq!(summary.frames, frames, "{file}: frames before damage");
                        assert_eq!(damage.frame, frames, "{file}: damage frame");
                        assert_eq!(damage.offset, offset, "{file}: damage offset ({damage})");
                    }
                    // Damage inside the file header leaves nothing to analyse: an error that
                    // still names the offset.
                    Err(CaptureError::Damaged(d)) => {
                        assert_eq!(frames, 0, "{file}");
                        assert_eq!(d.offset, offset, "{file}");
                    }
                    Err(e) => panic!("{file}: expected damage, got error {e}"),
                }
            }
            kind => panic!("{file}: unknown kind {kind}"),
        }
    }
}

/// Cut points for a file of `len` bytes: every byte of the first 200, then about 400 spread over the
/// rest, and the last 64.
fn cut_points(len: usize) -> Vec<usize> {
    let mut cuts: Vec<usize> = (0..len.min(200)).collect();
    let step = (len / 400).max(1);
    cuts.extend((200..len).step_by(step));
    cuts.extend(len.saturating_sub(64)..len);
    cuts.sort_unstable();
    cuts.dedup();
    cuts
}

#[test]
fn every_prefix_of_every_testdata_capture_reads_without_panic() {
    let files = common::files_under(&common::testdata());
    let mut checked = 0;
    for path in files {
        let name = path.display().to_string();
        if name.ends_with(".tsv") || name.ends_with(".md") || name.ends_with(".txt") {
            continue;
        }
        let bytes = std::fs::read(&path).unwrap();
        let Ok(full) = common::scan_bytes(bytes.clone()) else {
            continue;
        };
        for cut in cut_points(bytes.len()) {
            match common::scan_bytes(bytes[..cut].to_vec()) {
                Ok(s) => {
                    assert!(s.frames <= full.frames, "{name} cut at {cut}");
                    // A prefix that ends inside a record says so, with an offset inside the file.
                    if let Some(d) = &s.damaged {
                        assert!(d.frame == s.frames, "{name} cut at {cut}: {d}");
                    }
                }
                Err(CaptureError::Io(e)) => panic!("{name} cut at {cut}: I/O error {e}"),
                Err(_) => {}
            }
        }
        checked += 1;
    }
    assert!(checked >= 30, "only {checked} captures swept");
}

#[test]
fn truncated_plain_capture_reports_the_cut_record() {
    // The lab capture, cut in the middle of its 10th record: 9 frames, damage at that record.
    let path = common::testdata().join("lab/f_refused_syndrop/capture.pcap");
    let bytes = std::fs::read(path).unwrap();
    let mut capture = Capture::from_bytes(bytes.clone()).unwrap();
    let mut offsets = Vec::new();
    while capture.next_frame().unwrap().is_some() {
        offsets.push(capture.offset());
    }
    // offsets[i] is where record i+1 starts.
    let tenth = offsets[8] as usize;
    let summary = common::scan_bytes(bytes[..tenth + 20].to_vec()).unwrap();
    assert_eq!(summary.frames, 9);
    let damage = summary.damaged.unwrap();
    assert_eq!(damage.offset, tenth as u64);
    assert_eq!(damage.frame, 9);
}

/// The seeds of `capture_decode`; those of the other fuzz targets are replayed through their
/// harnesses by `fuzzing::tests::seeds_replay_without_panic` (src/fuzzing.rs), which needs the
/// crate's private items.
#[test]
fn fuzz_seeds_replay_without_panic() {
    let seeds = common::files_under(&common::repo().join("fuzz/seeds/capture_decode"));
    assert!(!seeds.is_empty(), "no fuzz seeds committed");
    for seed in seeds {
        let _ = common::scan_bytes(std::fs::read(&seed).unwrap());
    }
}
