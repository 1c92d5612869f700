//! Tansiq's core library: signed events, their validation, RocksDB storage and
//! the append path. It knows nothing of gRPC transport.
//!
//! The path of an event: [`event::Event::decode`] (size, encoding, fields) →
//! [`append::verify_requests`] (signatures, in batches) →
//! [`append::Ledger::commit_group`] (duplicates, key chains, authorisation,
//! registries, one synced write batch).

pub mod append;
pub mod author;
pub mod coverage;
pub mod date;
pub mod event;
pub mod genesis;
pub mod iati;
pub mod ids;
pub mod limits;

pub mod reject;
mod remembered;
pub mod replication;
pub mod signing;

pub mod store;

pub use append::{Ledger, Receipt};
pub use reject::Rejection;
