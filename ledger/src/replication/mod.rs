//! REPLICATE: openraft's log and state machine on the ledger's own RocksDB,
//! and a donor site's outbox. No transport: the node sends the messages.
//!
//! - The Raft log lives in the `raft_log` column family; vote, committed and
//!   purged log ids in `raft_meta`. An append is written **and synced**
//!   before openraft is told it is flushed.
//! - The state machine is the ledger: applying a normal entry decodes every
//!   request, **re-verifies every signature** (no node trusts the leader;
//!   a node skips only the exact events and signatures it verified itself
//!   before proposing them, `event::VerifiedHere`),
//!   and commits through `Ledger::commit_groups`, which writes the applied
//!   log id and membership in the same batch as the effects (unsynced: the
//!   entries are in the synced Raft log, so a crash replays them) — an entry
//!   is never applied twice or half.
//! - A snapshot is the ledger's whole state (every column family but the Raft
//!   log), read from one RocksDB snapshot and streamed to a file next to the
//!   database (`<db>.snapshots/`, format in `snapshot_file.rs`): building
//!   and sending one does not hold the ledger in memory. Installing one
//!   replays its signed events into a scratch ledger as the file is read
//!   (`Ledger::check_snapshot`; the file's hash checked at its end), then
//!   replaces the state from the state so rebuilt in batches of a few MiB,
//!   crash-safe (`Store::replace_state`).

// openraft's traits fix the error type (`StorageError`, large); helpers return it too.
#![allow(clippy::result_large_err)]

mod log_store;
pub mod member;
mod meta;
pub(crate) use meta::stored_membership;
pub mod outbox;
mod state_machine;
#[cfg(test)]
mod tests;
mod types;

pub use log_store::LogStore;
pub use outbox::{Outbox, PushOutcome};
pub use state_machine::{Counters, LeaderTest, StateMachine};
pub use types::{Applied, AppliedOutcome, NodeId, Proposal, TypeConfig};
