//! Why the replication parts could not serve a client: plain values, which
//! `crate::status` turns into gRPC statuses (no status is built here).

use tansiq_ledger::store::StoreError;
use tansiq_ledger::Rejection;

/// A linearizable read this node could not serve.
#[derive(Debug)]
pub(crate) enum ReadError {
    /// The leader did not confirm it still leads within `waited_s`; this
    /// node has applied up to `applied_index`.
    LeaderSilent { waited_s: u64, applied_index: u64 },
    /// This node knows of no leader (an election, or no quorum).
    NoLeader,
    /// The leader, at `leader`, did not answer.
    LeaderUnreachable { leader: String, detail: String },
    /// This node leads but could not confirm it with a quorum.
    NoQuorum { detail: String },
    /// This node had not applied up to `index` in time.
    NotApplied { index: u64, detail: String },
}

/// Why a donor site's outbox did not take a request: nothing was accepted.
#[derive(Debug)]
pub(crate) enum OutboxError {
    /// The request itself is refused (encoding, fields, signatures).
    Invalid(Rejection),
    /// A signer is refused as this node's replica stands at `position`.
    Refused { rejection: Rejection, position: u64 },
    /// The replica cannot be read now (e.g. a snapshot being installed).
    ReplicaUnreadable(StoreError),
    /// The outbox's storage failed.
    Storage(StoreError),
    /// The outbox is full (in all, or for this signing key).
    Full { reason: String },
    /// The task doing the work stopped.
    TaskFailed(String),
}
