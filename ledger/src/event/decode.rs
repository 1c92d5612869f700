//! Decoding a submitted `SignedEvent` into an [`Event`]: everything that can be
//! checked without the ledger's state (size, encoding, header, fields). The
//! signature is checked in batches by `verify`; chains and authorisation by
//! `append`, which knows the state.

use prost::Message;
use tansiq_proto::v1 as pb;

use super::fields;
use crate::ids::{EventId, OrgId, PublicKeyBytes};
use crate::limits::EVENT_SIZE_MAX;
use crate::reject::Rejection;
use crate::signing::{self, ChainId};

use pb::event_body::Kind;

/// A structurally valid event whose signature is not yet checked.
#[derive(Clone, Debug)]
pub struct Event {
    /// The event's id: blake3 of its signed bytes.
    pub id: EventId,
    /// The key that signed it, as the body names it.
    pub signer: PublicKeyBytes,
    /// The organisation it is written for.
    pub author: OrgId,
    /// Its place in the signer's chain, from 1.
    pub sequence: u64,
    /// `None` exactly when `sequence == 1`.
    pub previous: Option<EventId>,
    /// When the author says it made the event, ms since the Unix epoch.
    pub created_at_ms: i64,
    /// What the event does.
    pub kind: Kind,
    /// The body bytes as received: what is signed, stored and served.
    pub body: Vec<u8>,
    /// The 64-byte ed25519 signature, as received.
    pub signature: Vec<u8>,
}

impl Event {
    /// Decodes and checks one signed event for `chain` (not its signature).
    pub fn decode(chain: &ChainId, signed: pb::SignedEvent) -> Result<Event, Rejection> {
        let size = signed.body.len() + signed.signature.len();
        if size > EVENT_SIZE_MAX {
            return Err(Rejection::TooLarge {
                size,
                max: EVENT_SIZE_MAX,
            });
        }
        if signed.signature.len() != 64 {
            return Err(Rejection::Malformed {
                detail: format!("signature must be 64 bytes, got {}", signed.signature.len()),
            });
        }
        let body = pb::EventBody::decode(signed.body.as_slice()).map_err(|error| {
            Rejection::Malformed {
                detail: format!("body is not a protobuf EventBody: {error}"),
            }
        })?;
        // One event, one id: the same content in another encoding (unknown
        // fields, a longer varint, fields out of order, repeated fields
        // unpacked) would be another event with another id, and unknown
        // fields would be stored unchecked.
        // (A body whose kind this node does not know says so first.)
        let canonical = body.kind.is_none()
            || (body.encoded_len() == signed.body.len() && body.encode_to_vec() == signed.body);
        if !canonical {
            return Err(Rejection::Malformed {
                detail: "body is not in canonical protobuf form: encode the EventBody with fields in field-number order, packed repeated numbers, shortest varints, no default values and no fields the schema does not define (docs/PROTOCOL.md, \"Canonical bodies\")".into(),
            });
        }
        let signer = PublicKeyBytes::from_slice(&body.signer_key)
            .map_err(|error| Rejection::field("signer_key", error.to_string()))?;
        let author = OrgId::parse(&body.author)
            .map_err(|error| Rejection::field("author", error.to_string()))?;
        if body.sequence == 0 {
            return Err(Rejection::field("sequence", "must start at 1"));
        }
        let previous = match (body.sequence, body.previous.is_empty()) {
            (1, true) => None,
            (1, false) => {
                return Err(Rejection::field(
                    "previous",
                    "must be empty for a key's first event (sequence 1)",
                ))
            }
            (_, true) => {
                return Err(Rejection::field(
                    "previous",
                    format!(
                        "must hold the id of the key's event {} (32 bytes)",
                        body.sequence - 1
                    ),
                ))
            }
            (_, false) => Some(
                EventId::from_slice(&body.previous)
                    .map_err(|error| Rejection::field("previous", error.to_string()))?,
            ),
        };
        let kind = body.kind.ok_or(Rejection::UnknownBodyType)?;
        fields::check(&kind)?;
        let id = signing::event_id(chain, &signed.body);
        Ok(Event {
            id,
            signer,
            author,
            sequence: body.sequence,
            previous,
            created_at_ms: body.created_at_ms,
            kind,
            body: signed.body,
            signature: signed.signature,
        })
    }

    /// The envelope as stored and served.
    pub fn to_signed(&self) -> pb::SignedEvent {
        pb::SignedEvent {
            body: self.body.clone(),
            signature: self.signature.clone(),
        }
    }

    /// A short name of the body type, for logs and tables.
    pub fn kind_name(&self) -> &'static str {
        kind_name(&self.kind)
    }
}

/// The snake_case name of a body type, as in the proto3 JSON form.
pub fn kind_name(kind: &Kind) -> &'static str {
    match kind {
        Kind::OrganisationRegistered(_) => "organisation_registered",
        Kind::KeyRotated(_) => "key_rotated",
        Kind::KeyRevoked(_) => "key_revoked",
        Kind::MunicipalityRegistered(_) => "municipality_registered",
        Kind::SectorPolicySet(_) => "sector_policy_set",
        Kind::NeedAssessed(_) => "need_assessed",
        Kind::ProjectRegistered(_) => "project_registered",
        Kind::ProjectUpdated(_) => "project_updated",
        Kind::ProjectStatusChanged(_) => "project_status_changed",
        Kind::TransactionRecorded(_) => "transaction_recorded",
        Kind::ProjectClosed(_) => "project_closed",
        Kind::OverlapReviewed(_) => "overlap_reviewed",
        Kind::MembershipChangeAuthorised(_) => "membership_change_authorised",
        Kind::SecondaryReportingConsented(_) => "secondary_reporting_consented",
        Kind::AttestationMade(_) => "attestation_made",
        Kind::ResultReported(_) => "result_reported",
        Kind::ResultUpdated(_) => "result_updated",
    }
}
