//! WebSocket frame cutting (whole and in chunks must agree) and the per-connection session,
//! bare or after an HTTP/1 `101` (input format: `pcapstat_core::fuzzing::websocket`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| pcapstat_core::fuzzing::websocket(data));
