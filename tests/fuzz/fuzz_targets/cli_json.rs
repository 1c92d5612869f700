//! Fuzz target `cli_json`: see `tansiq_fuzz::cli_json` (tests/fuzz/src/lib.rs).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| tansiq_fuzz::cli_json(data));
