//! Rule and gate expressions of `pcapstat check` / `diff --fail-if`, durations and error
//! positions (input format: `pcapstat_core::fuzzing::rule_expression`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| pcapstat_core::fuzzing::rule_expression(data));
