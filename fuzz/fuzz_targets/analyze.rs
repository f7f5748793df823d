//! The whole analysis on arbitrary bytes, with the capture's embedded secrets and the bundled
//! lab key log (`pcapstat_core::fuzzing::analyze`): capture reading, decoding, the sharded TCP
//! pipeline (2 threads), reassembly, TLS (with decryption), HTTP/1, HTTP/2, DNS, the request join.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| pcapstat_core::fuzzing::analyze(data));
