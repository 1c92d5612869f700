//! Fuzz target `snapshot_reader`: see `tansiq_fuzz::snapshot_reader` (tests/fuzz/src/lib.rs).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| tansiq_fuzz::snapshot_reader(data));
