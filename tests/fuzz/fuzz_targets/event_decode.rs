//! Fuzz target `event_decode`: see `tansiq_fuzz::event_decode` (tests/fuzz/src/lib.rs).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| tansiq_fuzz::event_decode(data));
