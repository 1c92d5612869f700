//! APPEND: the one writer. A [`Ledger`] hands out reads and commits groups
//! of requests: decoded, signature-checked events (`admit`) are checked
//! against the state — duplicates, key chains (`staging`), authorisation
//! (`authorise`, `signers`), what each body does (`kinds`, with the
//! registry's rules in `registry` and the coverage projection's writer in
//! `projection`) — read through overlays and caches (`overlay`, `memory`, and `places` for
//! the overlap check),
//! and every change of a group goes into one RocksDB write batch.
//!
//! A commit group holds several requests; each request is atomic (all of its
//! events or none), and a refused request leaves no trace but its evidence.
//! The same function is what a replicated state machine calls when it
//! applies a committed entry, so a node's state depends only on the log. A
//! rebuild (`rebuild`) and a snapshot check replay a log through the same
//! path; a dry run (`trial`) stages without writing.

mod attest;
mod authorise;
mod kinds;
mod ledger;
mod memory;
mod overlay;
mod places;
mod projection;
mod rebuild;
mod receipt;
mod registry;
mod signers;
mod staging;
#[cfg(test)]
mod tests;
mod trial;

pub use authorise::{activity_reporter, Reporter};
pub(crate) use ledger::Durability;
pub use ledger::{Ledger, OpenError, UpgradeCopy};
#[cfg(feature = "test-support")]
pub(crate) use rebuild::{read_chunk, REBUILD_CHUNK_EVENTS};
pub use rebuild::{rebuild, RebuildError};
pub use receipt::{Receipt, RequestOutcome, Warning};
pub use signers::{keys_introduced, SignerCheckError};
pub(crate) use staging::Receipts;
pub use trial::Trial;
