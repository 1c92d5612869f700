//! The one place where ledger errors become gRPC statuses.

use tansiq_ledger::store::StoreError;
use tansiq_ledger::Rejection;
use tonic::{Code, Status};

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
        Rejection::Equivocation { .. } | Rejection::AlreadyRegistered { .. } => Code::AlreadyExists,
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

#[cfg(test)]
mod tests {
    use super::*;
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
}
