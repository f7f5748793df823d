//! Capture reading plus decoding of every frame, on arbitrary bytes (plain, gzip or zstd).
#![no_main]

use libfuzzer_sys::fuzz_target;
use pcapstat_core::fuzzing::Decoder;
use pcapstat_core::{Capture, CaptureSummary, DecodeLimits};

fuzz_target!(|data: &[u8]| {
    if let Ok(mut capture) = Capture::from_bytes(data.to_vec()) {
        let _ = CaptureSummary::scan(&mut capture, &mut Decoder::new(DecodeLimits::default()));
    }
});
