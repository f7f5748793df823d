//! QUIC packet parsing, Initial decryption (v1 and v2), CRYPTO reassembly and the connection
//! tracker (input format: `pcapstat_core::fuzzing::quic`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| pcapstat_core::fuzzing::quic(data));
