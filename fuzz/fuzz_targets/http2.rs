//! HTTP/2 framing and HPACK on arbitrary bytes split into a client and a server stream
//! (input format: `pcapstat_core::fuzzing::http2`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| pcapstat_core::fuzzing::http2(data));
