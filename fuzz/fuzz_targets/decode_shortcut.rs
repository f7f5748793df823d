//! The plain Ethernet/IPv4/TCP decoding shortcut against the general walk, on arbitrary frames.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| pcapstat_core::fuzzing::decode_shortcut(data));
