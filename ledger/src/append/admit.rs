//! Requests decoded and their signatures verified in batches: what every
//! writer hands the staging.

use tansiq_proto::v1 as pb;

use crate::event::{self, Event};
use crate::limits::SUBMIT_BATCH_EVENTS_MAX;
use crate::reject::{in_batch, Rejection};
use crate::signing::ChainId;

/// A request's decoded, signature-checked events, or why it was refused.
pub type CheckedRequest = Result<Vec<Event>, Rejection>;

/// Decodes one request's envelopes (size, encoding, fields) for `chain`.
pub fn decode_request(
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

/// Verifies every signature of every request in one batch; a request with a
/// bad signature becomes that rejection.
pub fn verify_requests(chain: &ChainId, requests: &mut [Result<Vec<Event>, Rejection>]) {
    let all: Vec<&Event> = requests.iter().flatten().flatten().collect();
    if all.is_empty() {
        return;
    }
    let verdicts = event::verify_events(chain, &all);
    let mut verdicts = verdicts.into_iter();
    for request in requests.iter_mut() {
        let Ok(events) = request else { continue };
        let single = events.len() == 1;
        let mut failure = None;
        for (index, event) in events.iter().enumerate() {
            let valid = verdicts.next().expect("invariant: one verdict per event");
            if !valid && failure.is_none() {
                failure = Some(in_batch(single, index, event::bad_signature(chain, event)));
            }
        }
        if let Some(rejection) = failure {
            *request = Err(rejection);
        }
    }
}
