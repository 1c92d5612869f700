//! Every way a submitted event can be refused. Each variant carries what a
//! person needs to act on it; `node` maps each to one gRPC status.

use crate::ids::{EventId, PublicKeyBytes};

/// Why an event was refused. A refused event changes nothing on the ledger
/// (equivocation evidence, kept apart from the log, is the one exception).
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum Rejection {
    #[error("malformed event: {detail}")]
    Malformed { detail: String },
    #[error("event is {size} bytes; the limit is {max} bytes")]
    TooLarge { size: usize, max: usize },
    #[error("batch has {count} events; the limit is {max} per request")]
    BatchTooLarge { count: usize, max: usize },
    #[error("event body has no known type (field numbers 10-21 of EventBody); is the client newer than this node?")]
    UnknownBodyType,
    #[error("signature of event {event_id} does not verify for key {key} on chain {chain_id:?}")]
    BadSignature {
        event_id: EventId,
        key: PublicKeyBytes,
        chain_id: String,
    },
    #[error("key {key} is not registered on this ledger; the ministry must register it (organisation registered or key rotated) first")]
    UnknownKey { key: PublicKeyBytes },
    #[error("key {key} of organisation {org} was revoked at log position {revoked_at}; it can write nothing")]
    RevokedKey {
        key: PublicKeyBytes,
        org: String,
        revoked_at: u64,
    },
    #[error("key {key} belongs to organisation {key_org}, but the event names author {claimed:?}")]
    AuthorMismatch {
        key: PublicKeyBytes,
        key_org: String,
        claimed: String,
    },
    #[error("sequence gap for key {key} (org {org}): expected sequence {expected}, got {got}")]
    SequenceGap {
        key: PublicKeyBytes,
        org: String,
        expected: u64,
        got: u64,
    },
    #[error(
        "wrong previous hash for key {key} at sequence {sequence}: expected {expected}, got {got}"
    )]
    WrongPrevious {
        key: PublicKeyBytes,
        sequence: u64,
        expected: String,
        got: String,
    },
    #[error("equivocation: key {key} already signed event {existing} at sequence {sequence}; the different event {submitted} is refused and both are kept as evidence")]
    Equivocation {
        key: PublicKeyBytes,
        sequence: u64,
        existing: EventId,
        submitted: EventId,
    },
    #[error("organisation {org} (role {role}) may not {action}")]
    NotAllowed {
        org: String,
        role: &'static str,
        action: String,
    },
    #[error("{field}: {problem}")]
    Field { field: String, problem: String },
    #[error("{what} {id:?} is not registered on this ledger")]
    UnknownReference { what: &'static str, id: String },
    #[error("{what} {id:?} is already registered")]
    AlreadyRegistered { what: &'static str, id: String },
    #[error("event[{index}]: {rejection}")]
    InBatch {
        index: usize,
        rejection: Box<Rejection>,
    },
}

impl Rejection {
    /// A short, stable code for machines (sent as gRPC metadata `tansiq-reason`).
    pub fn reason(&self) -> &'static str {
        match self {
            Rejection::Malformed { .. } => "malformed",
            Rejection::TooLarge { .. } => "too_large",
            Rejection::BatchTooLarge { .. } => "batch_too_large",
            Rejection::UnknownBodyType => "unknown_body_type",
            Rejection::BadSignature { .. } => "bad_signature",
            Rejection::UnknownKey { .. } => "unknown_key",
            Rejection::RevokedKey { .. } => "revoked_key",
            Rejection::AuthorMismatch { .. } => "author_mismatch",
            Rejection::SequenceGap { .. } => "sequence_gap",
            Rejection::WrongPrevious { .. } => "wrong_previous",
            Rejection::Equivocation { .. } => "equivocation",
            Rejection::NotAllowed { .. } => "not_allowed",
            Rejection::Field { .. } => "invalid_field",
            Rejection::UnknownReference { .. } => "unknown_reference",
            Rejection::AlreadyRegistered { .. } => "already_registered",
            Rejection::InBatch { rejection, .. } => rejection.reason(),
        }
    }

    /// The rejection without its batch index.
    pub fn root(&self) -> &Rejection {
        match self {
            Rejection::InBatch { rejection, .. } => rejection.root(),
            other => other,
        }
    }

    pub(crate) fn field(field: impl Into<String>, problem: impl Into<String>) -> Self {
        Rejection::Field {
            field: field.into(),
            problem: problem.into(),
        }
    }
}

/// `rejection` of the event at `index` of a request: named by its index
/// unless the request has one event.
pub(crate) fn in_batch(single: bool, index: usize, rejection: Rejection) -> Rejection {
    if single {
        rejection
    } else {
        Rejection::InBatch {
            index,
            rejection: Box::new(rejection),
        }
    }
}
