//! Admission: requests decoded and their signatures verified in batches,
//! the one way into the staging. Every place that takes requests in calls
//! [`admit`]: the committer, a donor site's outbox and a rebuild; the
//! leader before it proposes calls [`admit_noting`], every node applying a
//! Raft entry [`admit_verified_here`].

use tansiq_proto::v1 as pb;

use super::{bad_signature, verify_events, Event, VerifiedHere};
use crate::limits::SUBMIT_BATCH_EVENTS_MAX;
use crate::reject::{in_batch, Rejection};
use crate::signing::ChainId;

/// A request's decoded, signature-checked events, or why it was refused.
pub type CheckedRequest = Result<Vec<Event>, Rejection>;

/// Whether [`admit`] verifies the signatures.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Signatures {
    /// Every signature, in one batch across the requests.
    Verify,
    /// None: the caller has them checked already (a rebuild of the node's
    /// own store, whose events were verified when they were appended) or
    /// checks them itself.
    Unchecked,
}

/// Decodes each request's envelopes (size, encoding, fields) for `chain`
/// and, with [`Signatures::Verify`], checks every signature of every request
/// in one batch (split across cores when large): one outcome per request,
/// in order. A request is refused whole, at its first bad event.
pub fn admit(
    chain: &ChainId,
    requests: impl IntoIterator<Item = Vec<pb::SignedEvent>>,
    signatures: Signatures,
) -> Vec<CheckedRequest> {
    let mut checked = decode_requests(chain, requests);
    if signatures == Signatures::Verify {
        verify_requests(chain, &mut checked, |_| false);
    }
    checked
}

/// [`admit`] with [`Signatures::Verify`], for a leader about to propose:
/// the events of every request found valid are noted in `verified`, so
/// that applying them on this node does not verify them again
/// ([`admit_verified_here`]). A request refused later (by its signers'
/// registration) leaves its pairs behind: they are still valid signatures.
pub fn admit_noting(
    chain: &ChainId,
    requests: impl IntoIterator<Item = Vec<pb::SignedEvent>>,
    verified: &VerifiedHere,
) -> Vec<CheckedRequest> {
    let checked = admit(chain, requests, Signatures::Verify);
    verified.note(checked.iter().flatten().flatten());
    checked
}

/// [`admit`] with [`Signatures::Verify`], except for the events whose
/// signatures this node already found valid (`verified`, which forgets
/// them): a leader applying the entries it proposed.
pub fn admit_verified_here(
    chain: &ChainId,
    requests: impl IntoIterator<Item = Vec<pb::SignedEvent>>,
    verified: &VerifiedHere,
) -> Vec<CheckedRequest> {
    let mut checked = decode_requests(chain, requests);
    verify_requests(chain, &mut checked, |event| verified.take(event));
    checked
}

fn decode_requests(
    chain: &ChainId,
    requests: impl IntoIterator<Item = Vec<pb::SignedEvent>>,
) -> Vec<CheckedRequest> {
    requests
        .into_iter()
        .map(|envelopes| decode_request(chain, envelopes))
        .collect()
}

/// Decodes one request's envelopes (size, encoding, fields) for `chain`.
fn decode_request(
    chain: &ChainId,
    envelopes: Vec<pb::SignedEvent>,
) -> Result<Vec<Event>, Rejection> {
    if envelopes.len() > SUBMIT_BATCH_EVENTS_MAX {
        return Err(Rejection::BatchTooLarge {
            count: envelopes.len(),
            max: SUBMIT_BATCH_EVENTS_MAX,
        });
    }
    if envelopes.is_empty() {
        return Err(Rejection::Malformed {
            detail: "request holds no event".into(),
        });
    }
    let single = envelopes.len() == 1;
    envelopes
        .into_iter()
        .enumerate()
        .map(|(index, envelope)| {
            Event::decode(chain, envelope).map_err(|rejection| in_batch(single, index, rejection))
        })
        .collect()
}

/// Verifies every signature of every request in one batch, but those
/// `known_valid` says were verified already; a request with a bad
/// signature becomes that rejection.
fn verify_requests(
    chain: &ChainId,
    requests: &mut [Result<Vec<Event>, Rejection>],
    known_valid: impl Fn(&Event) -> bool,
) {
    let known: Vec<bool> = requests
        .iter()
        .flatten()
        .flatten()
        .map(&known_valid)
        .collect();
    let unknown: Vec<&Event> = requests
        .iter()
        .flatten()
        .flatten()
        .zip(&known)
        .filter(|(_, known)| !**known)
        .map(|(event, _)| event)
        .collect();
    if unknown.is_empty() {
        return;
    }
    let mut verdicts = verify_events(chain, &unknown).into_iter();
    let mut known = known.into_iter();
    for request in requests.iter_mut() {
        let Ok(events) = request else { continue };
        let single = events.len() == 1;
        let mut failure = None;
        for (index, event) in events.iter().enumerate() {
            let valid = known.next().expect("invariant: one flag per event")
                || verdicts.next().expect("invariant: one verdict per event");
            if !valid && failure.is_none() {
                failure = Some(in_batch(single, index, bad_signature(chain, event)));
            }
        }
        if let Some(rejection) = failure {
            *request = Err(rejection);
        }
    }
}
