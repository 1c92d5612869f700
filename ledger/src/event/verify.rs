//! Signatures of decoded events, checked in batches (ed25519 batch
//! verification), split across cores for large batches.

use super::Event;
use crate::reject::Rejection;
use crate::signing::{self, ChainId, SignatureCheck};

/// Below this many events a batch is verified on the calling thread: for
/// fewer, starting threads costs more than it saves.
const PARALLEL_VERIFY_EVENTS_MIN: usize = 256;

/// Checks the signatures of `events` for `chain`; returns the verdict of each
/// (see `signing::verify_signatures` for the rule). A large batch is split
/// into one sub-batch per core, verified in parallel.
pub(crate) fn verify_events(chain: &ChainId, events: &[&Event]) -> Vec<bool> {
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    if cores == 1 || events.len() < 2 * PARALLEL_VERIFY_EVENTS_MIN {
        return verify_events_on_this_thread(chain, events);
    }
    let chunk = events.len().div_ceil(cores);
    std::thread::scope(|scope| {
        let handles: Vec<_> = events
            .chunks(chunk)
            .map(|part| scope.spawn(move || verify_events_on_this_thread(chain, part)))
            .collect();
        handles
            .into_iter()
            .flat_map(|handle| {
                handle
                    .join()
                    .expect("invariant: verification does not panic")
            })
            .collect()
    })
}

/// `verify_events` as one batch on the calling thread (see
/// `signing::verify_signatures` for the rule).
pub fn verify_events_on_this_thread(chain: &ChainId, events: &[&Event]) -> Vec<bool> {
    let messages: Vec<Vec<u8>> = events
        .iter()
        .map(|e| signing::signed_bytes(chain, &e.body))
        .collect();
    let checks: Vec<SignatureCheck<'_>> = events
        .iter()
        .zip(&messages)
        .map(|(event, message)| SignatureCheck {
            key: &event.signer,
            message,
            signature: &event.signature,
        })
        .collect();
    signing::verify_signatures(&checks)
}

/// The rejection for an event whose signature failed.
pub(crate) fn bad_signature(chain: &ChainId, event: &Event) -> Rejection {
    Rejection::BadSignature {
        event_id: event.id,
        key: event.signer,
        chain_id: chain.to_string(),
    }
}
