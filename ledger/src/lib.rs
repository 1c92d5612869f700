//! Tansiq's core library: signed events, their validation, RocksDB storage,
//! the append path, replication's storage and IATI interchange. It has no
//! transport and no wire format: the node serves it over gRPC and carries
//! Raft's messages in its own wire form (`node/src/cluster/wire.rs`).
//!
//! The path of an event, folder by folder: [`event`] (validate without
//! state: [`event::admit`] decodes requests and verifies their signatures in
//! batches) → [`append`] (the one writer: [`Ledger::commit_group`] checks
//! duplicates, key chains, authorisation, what each body does, and writes
//! one RocksDB batch) → [`store`] (RocksDB and the records, no domain rule);
//! [`coverage`] reads the projections the append step wrote; [`replication`]
//! is openraft's storage over the same path (a committed entry is applied
//! through `Ledger::commit_groups`); [`iati`] reads, plans and writes IATI
//! files with the public API.

#![warn(missing_docs)]
#![warn(unreachable_pub)]

pub mod append;
pub mod author;
pub mod backup;
mod bounded_map;
pub mod coverage;
pub mod date;
pub mod event;
pub mod genesis;
pub mod iati;
pub mod ids;
pub mod limits;
pub mod reject;
pub mod replication;
pub mod signing;
pub mod store;
pub mod sync;
#[cfg(feature = "test-support")]
pub mod testing;
pub mod tree;

pub use append::{Ledger, Receipt, Warning};
pub use reject::Rejection;
