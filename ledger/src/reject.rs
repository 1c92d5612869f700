//! Every way a submitted event can be refused. Each variant carries what a
//! person needs to act on it; `node` maps each to one gRPC status.

use crate::ids::{EventId, PublicKeyBytes};

/// Why an event was refused. A refused event changes nothing on the ledger
/// (equivocation evidence, kept apart from the log, is the one exception).
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum Rejection {
    /// The envelope or body does not decode, or is not in canonical form.
    #[error("malformed event: {detail}")]
    Malformed {
        /// What is wrong.
        detail: String,
    },
    /// The event (body and signature) is too large.
    #[error("event is {size} bytes; the limit is {max} bytes")]
    TooLarge {
        /// Its size, in bytes.
        size: usize,
        /// The limit, in bytes.
        max: usize,
    },
    /// The request holds too many events.
    #[error("batch has {count} events; the limit is {max} per request")]
    BatchTooLarge {
        /// Events in the request.
        count: usize,
        /// The limit per request.
        max: usize,
    },
    /// The body's type is none this node knows.
    #[error("event body has no known type (field numbers 10-21 of EventBody); is the client newer than this node?")]
    UnknownBodyType,
    /// The signature does not verify.
    #[error("signature of event {event_id} does not verify for key {key} on chain {chain_id:?}")]
    BadSignature {
        /// The event.
        event_id: EventId,
        /// The key the body names as its signer.
        key: PublicKeyBytes,
        /// The chain it was checked for.
        chain_id: String,
    },
    /// The signing key is not registered.
    #[error("key {key} is not registered on this ledger; the ministry must register it (organisation registered or key rotated) first")]
    UnknownKey {
        /// The key.
        key: PublicKeyBytes,
    },
    /// The signing key was revoked.
    #[error("key {key} of organisation {org} was revoked at log position {revoked_at}; it can write nothing")]
    RevokedKey {
        /// The key.
        key: PublicKeyBytes,
        /// Its organisation.
        org: String,
        /// The log position of the revoking event.
        revoked_at: u64,
    },
    /// The event names another author than the key's organisation.
    #[error("key {key} belongs to organisation {key_org}, but the event names author {claimed:?}")]
    AuthorMismatch {
        /// The signing key.
        key: PublicKeyBytes,
        /// Its organisation.
        key_org: String,
        /// The author the event names.
        claimed: String,
    },
    /// The event's sequence number is not the key's next.
    #[error("sequence gap for key {key} (org {org}): expected sequence {expected}, got {got}")]
    SequenceGap {
        /// The signing key.
        key: PublicKeyBytes,
        /// Its organisation.
        org: String,
        /// The key's next sequence number.
        expected: u64,
        /// The event's.
        got: u64,
    },
    /// The event's previous id is not the key's last event.
    #[error(
        "wrong previous hash for key {key} at sequence {sequence}: expected {expected}, got {got}"
    )]
    WrongPrevious {
        /// The signing key.
        key: PublicKeyBytes,
        /// The event's sequence number.
        sequence: u64,
        /// The id of the key's last event, hex ("none" before its first).
        expected: String,
        /// The id the event names, hex ("none" when it names none).
        got: String,
    },
    /// The key signed another event at the same sequence number.
    #[error("equivocation: key {key} already signed event {existing} at sequence {sequence}; the different event {submitted} is refused and both are kept as evidence")]
    Equivocation {
        /// The signing key.
        key: PublicKeyBytes,
        /// The sequence number both events claim.
        sequence: u64,
        /// The event on the ledger.
        existing: EventId,
        /// The event refused.
        submitted: EventId,
    },
    /// The author's role may not do what the event does.
    #[error("organisation {org} (role {role}) may not {action}")]
    NotAllowed {
        /// The author.
        org: String,
        /// Its role's name.
        role: &'static str,
        /// What the event does.
        action: String,
    },
    /// A field breaks a rule of the body.
    #[error("{field}: {problem}")]
    Field {
        /// The field's path (e.g. `details.sectors.code`).
        field: String,
        /// What is wrong with it.
        problem: String,
    },
    /// The event names something the ledger does not hold.
    #[error("{what} {id:?} is not registered on this ledger")]
    UnknownReference {
        /// What kind of thing (e.g. "project").
        what: &'static str,
        /// Its id.
        id: String,
    },
    /// The event registers something the ledger holds already.
    #[error("{what} {id:?} is already registered")]
    AlreadyRegistered {
        /// What kind of thing (e.g. "project").
        what: &'static str,
        /// Its id.
        id: String,
    },
    /// The IATI activity identifier is another project's: an identifier
    /// names one activity on the ledger.
    #[error("IATI activity identifier {identifier:?} is the identifier of project {project:?} already: an identifier names one activity on the ledger (update that project, or correct the identifier)")]
    IdentifierTaken {
        /// The identifier.
        identifier: String,
        /// The project that has it.
        project: String,
    },
    /// An event of a request of several was refused, so the request is.
    #[error("event[{index}]: {rejection}")]
    InBatch {
        /// The event's index in the request, from 0.
        index: usize,
        /// Why it was refused.
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
            Rejection::IdentifierTaken { .. } => "identifier_taken",
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
