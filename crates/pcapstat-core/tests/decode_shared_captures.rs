//! Decodes every frame of every capture in the shared captures (see `common::shared`) through the
//! real reader without panicking, checking that every transport view is consistent with its
//! lengths. (The counts themselves are compared with tshark's in `oracle_counts.rs`.)

mod common;

use pcapstat_core::fuzzing::{Decoder, Transport};
use pcapstat_core::{Capture, DecodeLimits};

#[test]
fn decode_every_shared_capture_without_panicking() {
    need_shared!();
    let root = common::shared().join("captures");
    let mut files = 0;
    for path in common::files_under(&root) {
        let Ok(mut capture) = Capture::open(&path) else {
            continue;
        };
        let mut decoder = Decoder::new(DecodeLimits::default());
        while let Ok(Some(frame)) = capture.next_frame() {
            let d = decoder.decode(&frame);
            match d.transport {
                Some(Transport::Tcp(t)) => {
                    assert!(
                        t.payload.len() as u64 <= u64::from(t.payload_len),
                        "{path:?}"
                    )
                }
                Some(Transport::Udp(u)) => {
                    assert!(
                        u.payload.len() as u64 <= u64::from(u.payload_len),
                        "{path:?}"
                    )
                }
                None => {}
            }
        }
        files += 1;
    }
    assert!(files > 140, "only {files} shared captures opened");
}
