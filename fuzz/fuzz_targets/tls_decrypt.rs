//! TLS 1.2/1.3 decryption with a matching key log, and the plaintext routed to HTTP/1 or HTTP/2
//! (input format: `pcapstat_core::fuzzing::tls_decrypt`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| pcapstat_core::fuzzing::tls_decrypt(data));
