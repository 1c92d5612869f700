//! The ledger's integration tests in one test binary (one link of RocksDB
//! instead of one per file), a module per file beside this one: admission
//! rules on a real store, the protocol document's test vectors, Raft apply
//! and openraft's storage suite, the public IATI fixtures, the layout rules
//! (`tidy`), and the property tests of the ledger in process
//! (`ledger_properties`, `coverage_properties`). They build events with
//! `tansiq_ledger::testing`, compiled for them by the `test-support` feature
//! (Cargo.toml's dev-dependency on this crate itself). Run one file's tests
//! with `cargo test -p tansiq-ledger --test it admission::`.

mod admission;
mod common;
mod coverage_properties;
mod iati_fixtures;
mod ledger_properties;
mod protocol_vectors;
mod raft_apply;
mod raft_storage;
mod tidy;
