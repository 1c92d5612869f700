//! The ledger's integration tests in one test binary (one link of RocksDB
//! instead of one per file), a module per file beside this one: admission
//! rules on a real store, the protocol document's test vectors, Raft apply
//! and openraft's storage suite, and the public IATI fixtures. Run one
//! file's tests with `cargo test -p tansiq-ledger --test it admission::`.

mod admission;
mod common;
mod iati_fixtures;
mod protocol_vectors;
mod raft_apply;
mod raft_storage;
mod tidy;
