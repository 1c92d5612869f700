//! The one place where ledger errors become gRPC statuses.

use tansiq_ledger::coverage::SearchError;
use tansiq_ledger::store::{StorageFault, StoreError};
use tansiq_ledger::tree::TreeError;
use tansiq_ledger::Rejection;
use tonic::{Code, Status};

use crate::committer::SubmitError;

/// Metadata key carrying the machine-readable reason of a rejection.
pub const REASON_METADATA: &str = "tansiq-reason";

/// The gRPC code of each rejection.
pub fn rejection_code(rejection: &Rejection) -> Code {
    match rejection.root() {
        Rejection::Malformed { .. }
        | Rejection::TooLarge { .. }
        | Rejection::BatchTooLarge { .. }
        | Rejection::UnknownBodyType
        | Rejection::Field { .. } => Code::InvalidArgument,
        Rejection::BadSignature { .. } | Rejection::UnknownKey { .. } => Code::Unauthenticated,
        Rejection::RevokedKey { .. }
        | Rejection::AuthorMismatch { .. }
        | Rejection::NotAllowed { .. } => Code::PermissionDenied,
        Rejection::SequenceGap { .. }
        | Rejection::WrongPrevious { .. }
        | Rejection::UnknownReference { .. } => Code::FailedPrecondition,
        Rejection::Equivocation { .. }
        | Rejection::AlreadyRegistered { .. }
        | Rejection::IdentifierTaken { .. } => Code::AlreadyExists,
        Rejection::InBatch { .. } => unreachable!("root() strips batch indices"),
    }
}

/// A rejection as a status: its code, its message, and `tansiq-reason` metadata.
pub fn rejection_status(rejection: &Rejection) -> Status {
    let mut status = Status::new(rejection_code(rejection), rejection.to_string());
    if let Ok(value) = rejection.reason().parse() {
        status.metadata_mut().insert(REASON_METADATA, value);
    }
    status
}

/// Storage failures are the node's fault: the client may retry.
pub fn store_status(error: &StoreError) -> Status {
    if matches!(error, StoreError::StateBeingReplaced) {
        return Status::unavailable(
            "this node is installing a snapshot of the ledger from the leader; \
             retry in a moment, or ask another node",
        );
    }
    tracing::error!(%error, "storage failure");
    Status::unavailable(format!(
        "the node could not read or write its storage ({error}); retry later"
    ))
}

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

/// Why a donor site's outbox refused a request, as a status.
pub(crate) fn outbox_status(error: OutboxError) -> Status {
    match error {
        OutboxError::Invalid(rejection) => rejection_status(&rejection),
        OutboxError::Refused { rejection, position } => {
            let status = rejection_status(&rejection);
            Status::with_metadata(
                status.code(),
                format!(
                    "{} (as this donor-site node's replica stands, at log position {position}; it cannot reach the leader now: if the key was registered very recently, retry when it has caught up)",
                    status.message()
                ),
                status.metadata().clone(),
            )
        }
        OutboxError::ReplicaUnreadable(error) => Status::unavailable(format!(
            "this donor-site node cannot read its replica now ({error}); nothing was accepted, retry"
        )),
        OutboxError::Storage(error) => Status::unavailable(format!(
            "this node cannot use its outbox ({error}); nothing was accepted, retry"
        )),
        OutboxError::Full { reason } => Status::resource_exhausted(format!(
            "{reason}; nothing was accepted: retry when the leader is reachable again, or submit to a ministry node"
        )),
        OutboxError::TaskFailed(error) => {
            Status::internal(format!("outbox task failed: {error}"))
        }
    }
}

/// Why a linearizable read was not served, as a status: UNAVAILABLE, with
/// what to do.
pub(crate) fn read_status(error: ReadError) -> Status {
    Status::unavailable(match error {
        ReadError::LeaderSilent {
            waited_s,
            applied_index,
        } => format!(
            "a linearizable read needs the leader to confirm it still leads, and it did not within {waited_s} s; ask without linearizable for this node's local answer (applied index {applied_index})"
        ),
        ReadError::NoLeader => "a linearizable read needs the leader, and this node knows of none (election under way or no quorum); retry, or ask without linearizable".to_owned(),
        ReadError::LeaderUnreachable { leader, detail } => format!(
            "a linearizable read needs the leader at {leader}, which did not answer ({detail}); retry, or ask without linearizable"
        ),
        ReadError::NoQuorum { detail } => format!(
            "this node cannot confirm its leadership with a quorum ({detail}); retry, or ask without linearizable"
        ),
        ReadError::NotApplied { index, detail } => format!(
            "this node has not applied up to index {index} yet ({detail}); retry, or ask without linearizable"
        ),
    })
}

/// Why a query (`Coverage`) has no answer.
#[derive(Debug)]
pub enum QueryError {
    /// The store failed.
    Store(StoreError),
    /// The query names something the ledger does not hold (a P-code, an
    /// organisation, a project); says what and how to find what is there.
    NotFound(String),
    /// The query cannot run as asked (a search with nothing to look for, a
    /// page token the node did not give); says what to change.
    Invalid(String),
    /// The answer would be larger than a node sends; says how to narrow
    /// the question or page through it.
    TooLarge(String),
}

impl From<SearchError> for QueryError {
    fn from(error: SearchError) -> Self {
        match error {
            SearchError::Store(error) => QueryError::Store(error),
            other => QueryError::Invalid(other.to_string()),
        }
    }
}

impl From<StoreError> for QueryError {
    fn from(error: StoreError) -> Self {
        QueryError::Store(error)
    }
}

/// A tree question's failure as a status: OUT_OF_RANGE for sizes and
/// positions past the tree, else as [`store_status`].
pub fn tree_status(error: &TreeError) -> Status {
    match error {
        TreeError::OutOfRange(message) => Status::out_of_range(message.clone()),
        TreeError::NotFound(message) => Status::not_found(message.clone()),
        TreeError::BadPath(message) => Status::invalid_argument(message.clone()),
        TreeError::TooLarge(message) => Status::failed_precondition(message.clone()),
        TreeError::Store(error) => store_status(error),
        other => Status::internal(other.to_string()),
    }
}

/// A query's failure as a status: NOT_FOUND for a reference the ledger
/// does not hold, INVALID_ARGUMENT for a question that cannot run as
/// asked, OUT_OF_RANGE for an answer larger than a node sends, else as
/// [`store_status`].
pub fn query_status(error: &QueryError) -> Status {
    match error {
        QueryError::Store(error) => store_status(error),
        QueryError::NotFound(message) => Status::not_found(message.clone()),
        QueryError::Invalid(message) => Status::invalid_argument(message.clone()),
        QueryError::TooLarge(message) => Status::out_of_range(message.clone()),
    }
}

/// The status a client gets for a submission that got no receipt.
pub fn submit_status(error: SubmitError) -> Status {
    match error {
        SubmitError::Rejected(rejection) => rejection_status(&rejection),
        // gRPC's code for "the entire file system is out of space".
        SubmitError::Storage(error) if error.fault == StorageFault::DiskFull => {
            Status::resource_exhausted(format!(
                "this node's disk is full ({error}); nothing was acknowledged. It still answers reads; to accept writes again it needs free disk space: once it can write again it reopens its storage by itself (restarting in place if need be); if it does not, restart tansiq-node. Resubmitting the same signed events then is safe (accepted once by event id)"
            ))
        }
        // After an I/O error (no file descriptor left, a permission, a
        // failing device) RocksDB refuses every later write until it is
        // reopened: "retry later" alone would not be true, the node reopens
        // its storage by itself only once the cause is gone
        // (crate::recovery).
        SubmitError::Storage(error) if error.fault.reopen_clears() => Status::unavailable(format!(
            "the node could not write to its storage ({error}); nothing was written. Its storage refuses writes until it is reopened: the node does that by itself (a restart in place) once its storage is usable again, after the cause is fixed (open-file limit, permissions, free space, the device); if it does not, restart tansiq-node. Resubmit the same signed events to another node, or here after the restart; they are accepted once by event id"
        )),
        SubmitError::Storage(error) => Status::unavailable(format!(
            "the node could not write to its storage ({error}); nothing was written, retry later"
        )),
        SubmitError::ReplicationStopped { failure, others } => {
            let remedy = match failure.fault {
                StorageFault::DiskFull => "its disk is full: free disk space; it restarts itself in place once it can write again (or restart tansiq-node), then catches up",
                fault if fault.reopen_clears() => "it restarts itself in place once its storage is usable again (after the cause is fixed: open-file limit, permissions, the device; or restart tansiq-node), then catches up",
                _ => "see its log, then restart tansiq-node",
            };
            Status::unavailable(format!(
                "this node stopped replicating after a storage failure ({failure}); the request was not acknowledged, and the other members may still commit it. They go on without this node: resubmit the same signed events to one of them ({others}); they are accepted once by event id. This node answers reads as of what it applied; {remedy}"
            ))
        }
        SubmitError::ShuttingDown => {
            Status::unavailable("the node is shutting down; retry on another node or later")
        }
        SubmitError::Forward(leader) => {
            Status::unavailable(format!("the leader moved to {leader}; retry"))
        }
        SubmitError::NotDecided(message) => Status::unavailable(message),
        SubmitError::NoLeader => Status::unavailable(
            "the cluster has no leader right now (election under way or no quorum); nothing was written, retry",
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::recovery::StorageFailure;
    use tansiq_ledger::ids::{EventId, PublicKeyBytes};

    fn key() -> PublicKeyBytes {
        PublicKeyBytes([1; 32])
    }

    #[test]
    fn every_rejection_has_its_code_and_reason() {
        let cases: Vec<(Rejection, Code, &str)> = vec![
            (
                Rejection::Malformed { detail: "x".into() },
                Code::InvalidArgument,
                "malformed",
            ),
            (
                Rejection::TooLarge { size: 2, max: 1 },
                Code::InvalidArgument,
                "too_large",
            ),
            (
                Rejection::BatchTooLarge { count: 2, max: 1 },
                Code::InvalidArgument,
                "batch_too_large",
            ),
            (
                Rejection::UnknownBodyType,
                Code::InvalidArgument,
                "unknown_body_type",
            ),
            (
                Rejection::Field {
                    field: "f".into(),
                    problem: "p".into(),
                },
                Code::InvalidArgument,
                "invalid_field",
            ),
            (
                Rejection::BadSignature {
                    event_id: EventId([0; 32]),
                    key: key(),
                    chain_id: "c".into(),
                },
                Code::Unauthenticated,
                "bad_signature",
            ),
            (
                Rejection::UnknownKey { key: key() },
                Code::Unauthenticated,
                "unknown_key",
            ),
            (
                Rejection::RevokedKey {
                    key: key(),
                    org: "o".into(),
                    revoked_at: 3,
                },
                Code::PermissionDenied,
                "revoked_key",
            ),
            (
                Rejection::AuthorMismatch {
                    key: key(),
                    key_org: "a".into(),
                    claimed: "b".into(),
                },
                Code::PermissionDenied,
                "author_mismatch",
            ),
            (
                Rejection::NotAllowed {
                    org: "o".into(),
                    role: "donor",
                    action: "a".into(),
                },
                Code::PermissionDenied,
                "not_allowed",
            ),
            (
                Rejection::SequenceGap {
                    key: key(),
                    org: "o".into(),
                    expected: 2,
                    got: 4,
                },
                Code::FailedPrecondition,
                "sequence_gap",
            ),
            (
                Rejection::WrongPrevious {
                    key: key(),
                    sequence: 2,
                    expected: "a".into(),
                    got: "b".into(),
                },
                Code::FailedPrecondition,
                "wrong_previous",
            ),
            (
                Rejection::UnknownReference {
                    what: "project",
                    id: "p".into(),
                },
                Code::FailedPrecondition,
                "unknown_reference",
            ),
            (
                Rejection::Equivocation {
                    key: key(),
                    sequence: 1,
                    existing: EventId([1; 32]),
                    submitted: EventId([2; 32]),
                },
                Code::AlreadyExists,
                "equivocation",
            ),
            (
                Rejection::AlreadyRegistered {
                    what: "project",
                    id: "p".into(),
                },
                Code::AlreadyExists,
                "already_registered",
            ),
        ];
        for (rejection, code, reason) in cases {
            let status = rejection_status(&rejection);
            assert_eq!(status.code(), code, "{rejection}");
            assert_eq!(status.message(), rejection.to_string());
            assert_eq!(
                status
                    .metadata()
                    .get(REASON_METADATA)
                    .and_then(|v| v.to_str().ok()),
                Some(reason)
            );
            let batched = Rejection::InBatch {
                index: 3,
                rejection: Box::new(rejection.clone()),
            };
            let status = rejection_status(&batched);
            assert_eq!(status.code(), code);
            assert!(
                status.message().starts_with("event[3]: "),
                "{}",
                status.message()
            );
        }
    }

    #[test]
    fn a_read_during_a_snapshot_install_is_unavailable_and_says_to_retry() {
        let status = store_status(&StoreError::StateBeingReplaced);
        assert_eq!(status.code(), Code::Unavailable);
        assert!(
            status.message().contains("installing a snapshot")
                && status.message().contains("retry"),
            "{}",
            status.message()
        );
    }

    #[test]
    fn a_storage_error_a_restart_clears_says_the_node_restarts_itself() {
        let message =
            "RocksDB: IO error: While open a file for appending: 000123.log: Too many open files";
        let io = submit_status(SubmitError::Storage(StorageFailure::new(
            StorageFault::Io,
            message,
        )));
        assert_eq!(io.code(), tonic::Code::Unavailable);
        for words in [
            message,
            "restart in place",
            "restart tansiq-node",
            "Resubmit",
        ] {
            assert!(io.message().contains(words), "{words:?}: {}", io.message());
        }
        for fault in [StorageFault::Corruption, StorageFault::Other] {
            let other = submit_status(SubmitError::Storage(StorageFailure::new(fault, "busy")));
            assert_eq!(other.code(), tonic::Code::Unavailable);
            assert_eq!(
                other.message(),
                "the node could not write to its storage (busy); nothing was written, retry later"
            );
        }
    }

    #[test]
    fn a_full_disk_says_what_to_free_and_that_the_node_reopens_its_storage() {
        let full = submit_status(SubmitError::Storage(StorageFailure::new(
            StorageFault::DiskFull,
            "RocksDB: IO error: No space left on device",
        )));
        assert_eq!(full.code(), tonic::Code::ResourceExhausted);
        for words in [
            "disk is full",
            "free disk space",
            "reopens its storage by itself",
            "restart",
            "Resubmitting",
        ] {
            assert!(
                full.message().contains(words),
                "{words:?}: {}",
                full.message()
            );
        }
    }

    #[test]
    fn a_stopped_member_says_whether_it_restarts_itself() {
        let stopped = |fault, failure: &str| {
            submit_status(SubmitError::ReplicationStopped {
                failure: StorageFailure::new(fault, failure),
                others: "2=http://127.0.0.1:2".into(),
            })
            .message()
            .to_owned()
        };
        let full = stopped(
            StorageFault::DiskFull,
            "storage error: RocksDB: IO error: No space left on device",
        );
        assert!(
            full.contains("No space left on device")
                && full.contains("free disk space")
                && full.contains("restarts itself"),
            "{full}"
        );
        let io = stopped(StorageFault::Io, "storage error: Too many open files");
        assert!(
            !io.contains("free disk space") && io.contains("restarts itself"),
            "{io}"
        );
        let corrupt = stopped(
            StorageFault::Corruption,
            "storage error: stored data is corrupt: raft log key",
        );
        assert!(
            !corrupt.contains("restarts itself") && corrupt.contains("restart tansiq-node"),
            "{corrupt}"
        );
    }
}
