//! HTTP/3 over QUIC STREAM frames: reassembly, HTTP/3 frames, QPACK with its encoder stream,
//! and QPACK field sections alone (input format: `pcapstat_core::fuzzing::h3`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| pcapstat_core::fuzzing::h3(data));
