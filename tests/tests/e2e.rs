//! Every end-to-end test of the workspace in one test binary (one link of
//! RocksDB instead of one per file): each module is a file beside this one
//! and starts real `tansiq-node` and `tansiq` processes where a user would.
//! (The ledger's property tests in process are the ledger's own, in
//! `ledger/tests/`.) Run one file's tests with
//! `cargo test -p tansiq-tests --test e2e iati::`.

mod cli;
mod cluster;
mod console;
mod coverage;
mod crash;
mod full_disk;
mod iati;
mod member_trust;
mod operations;
mod rejections;
mod replication;
mod results;
mod tls;
mod tree;
