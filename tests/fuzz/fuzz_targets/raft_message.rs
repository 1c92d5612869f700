//! Fuzz target `raft_message`: see `tansiq_fuzz::raft_message` (tests/fuzz/src/lib.rs).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| tansiq_fuzz::raft_message(data));
