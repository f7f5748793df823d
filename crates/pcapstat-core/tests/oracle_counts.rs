//! Frame counts and IPv4/IPv6/TCP/UDP frame counts equal capinfos' and tshark's, for every shared
//! capture, every lab capture and every bundled capture.
//!
//! Expected values: `testdata/expected/capture_counts.tsv`, written by `scripts/gen-fixtures.py`
//! from `capinfos -c -M` and `tshark -q -z io,stat,0,ip,ipv6,tcp,udp`. The few files where pcapstat
//! deliberately differs are listed in `KNOWN` with the reason (also in docs/summary.md); the test
//! checks that they still differ exactly as listed, so the list cannot go stale.

mod common;

use pcapstat_core::CaptureError;

/// (path, field, pcapstat's value, reason).
const KNOWN: &[(&str, &str, &str, &str)] = &[];

#[test]
fn counts_equal_capinfos_and_tshark() {
    let rows = common::tsv(&common::repo().join("testdata/expected/capture_counts.tsv"));
    assert!(rows.len() > 150, "fixture has {} rows", rows.len());
    let mut mismatches = Vec::new();
    let mut compared = 0;
    for row in &rows {
        let path = &row["path"];
        let ours: Vec<(&str, String)> = match common::scan(&common::resolve(path)) {
            Ok(s) => {
                // With a read error, the tools report the frames before it.
                let frames = if row["frames"].is_empty() {
                    s.damaged.as_ref().map_or(s.frames, |d| d.frame)
                } else {
                    s.frames
                };
                vec![
                    ("frames", frames.to_string()),
                    ("ipv4", s.decode.ipv4.to_string()),
                    ("ipv6", s.decode.ipv6.to_string()),
                    ("tcp", s.decode.tcp.to_string()),
                    ("udp", s.decode.udp.to_string()),
                ]
            }
            Err(CaptureError::Io(e)) => panic!("{path}: {e}"),
            Err(e) => vec![("frames", format!("error: {e}"))],
        };
        for (field, value) in ours {
            let expected = if field == "frames" && row["frames"].is_empty() {
                row["frames_before_error"].clone()
            } else {
                row[field].clone()
            };
            if expected.is_empty() && value.starts_with("error") {
                continue; // neither tool reads it
            }
            compared += 1;
            let known = KNOWN
                .iter()
                .find(|(p, f, _, _)| *p == path.as_str() && *f == field);
            match known {
                Some((_, _, ours_known, _)) => assert_eq!(
                    &value, ours_known,
                    "{path} {field}: the known difference changed (tshark {expected})"
                ),
                None if value != expected => {
                    mismatches.push(format!("{path}\t{field}\tours {value}\ttshark {expected}"))
                }
                None => {}
            }
        }
    }
    assert!(compared > 600, "only {compared} values compared");
    assert!(
        mismatches.is_empty(),
        "{} mismatches:\n{}",
        mismatches.len(),
        mismatches.join("\n")
    );
}
