//! Filter values (`--server`, `--client`, `--sni`, `--since`) and name matching against any SNI
//! or Host text (input format: `pcapstat_core::fuzzing::filter`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| pcapstat_core::fuzzing::filter(data));
