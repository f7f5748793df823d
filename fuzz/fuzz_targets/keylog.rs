//! Key log text, DSB bodies, and the pcapng DSB pre-scan of whole and streamed captures
//! (input format: `pcapstat_core::fuzzing::keylog`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| pcapstat_core::fuzzing::keylog(data));
