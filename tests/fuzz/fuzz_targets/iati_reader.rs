//! Fuzz target `iati_reader`: see `tansiq_fuzz::iati_reader` (tests/fuzz/src/lib.rs).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| tansiq_fuzz::iati_reader(data));
