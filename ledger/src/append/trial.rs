//! Dry runs: requests checked by the staging a commit uses, nothing written.

use tansiq_proto::v1 as pb;

use crate::author::{event_body, now_ms};
use crate::event::{admit, Event, Kind, Signatures};
use crate::ids::PublicKeyBytes;
use crate::reject::in_batch;
use crate::store::{StoreError, Tip};

use super::ledger::Ledger;
use super::memory::CrossGroupCache;
use super::overlay::Overlay;
use super::receipt::RequestOutcome;
use super::staging::Staging;

/// A dry run: requests checked in order, each on top of the ones accepted
/// before it, by the same staging a commit uses, with nothing written. What
/// an import's dry run asks (`Ledger::try_kinds`). Keeps its own memory of
/// the records it read, so the writer's is never filled with what a trial
/// saw; the changes it accepted are kept here, not in the store.
pub struct Trial {
    pub(super) accepted: Overlay,
    pub(super) tip: Tip,
    pub(super) memory: CrossGroupCache,
}

impl Ledger {
    /// A dry run starting from the ledger as it is now.
    pub fn trial(&self) -> Result<Trial, StoreError> {
        Ok(Trial {
            accepted: Overlay::default(),
            tip: self.tip()?,
            memory: CrossGroupCache::default(),
        })
    }

    /// What the ledger would answer if `signer`, a key of `author`, signed
    /// `kinds` as its next events and submitted them as one request after
    /// the requests `trial` accepted so far. An accepted request stays in the
    /// trial. The signature is not what is tried (the trial has no secret
    /// key): every other check of a commit is.
    pub fn try_kinds(
        &self,
        trial: &mut Trial,
        signer: PublicKeyBytes,
        author: &crate::ids::OrgId,
        kinds: Vec<Kind>,
        created_at_ms: i64,
    ) -> Result<RequestOutcome, StoreError> {
        use prost::Message;
        let mut staging = Staging::new(&self.store, &trial.memory, trial.tip, created_at_ms);
        staging.group = std::mem::take(&mut trial.accepted);
        let (mut sequence, mut previous) = match staging.key(&signer)? {
            Some(key) => (key.sequence, key.last_event),
            None => (0, None),
        };
        let single = kinds.len() == 1;
        let mut events = Vec::with_capacity(kinds.len());
        for kind in kinds {
            sequence += 1;
            let body = event_body(&signer, author, sequence, previous, created_at_ms, kind);
            let signed = pb::SignedEvent {
                body: body.encode_to_vec(),
                signature: vec![0; 64],
            };
            match Event::decode(self.chain(), signed) {
                Ok(event) => {
                    previous = Some(event.id);
                    events.push(event);
                }
                Err(rejection) => {
                    trial.accepted = staging.group;
                    return Ok(Err(in_batch(single, events.len(), rejection)));
                }
            }
        }
        let outcome = staging.stage_request(&events)?;
        trial.tip = staging.group_tip;
        trial.accepted = staging.group;
        Ok(outcome)
    }

    /// What the ledger would answer to `request` (signed events, as a
    /// client sends them) if it were committed now: every check of a commit,
    /// signatures included, and nothing written. A node asks this before an
    /// action that must not happen unless the request would be accepted.
    pub fn try_request(&self, request: Vec<pb::SignedEvent>) -> Result<RequestOutcome, StoreError> {
        let checked = admit(self.chain(), [request], Signatures::Verify)
            .pop()
            .expect("invariant: admit answers each request it is given");
        let events = match checked {
            Ok(events) => events,
            Err(rejection) => return Ok(Err(rejection)),
        };
        let trial = self.trial()?;
        let mut staging = Staging::new(&self.store, &trial.memory, trial.tip, now_ms());
        staging.stage_request(&events)
    }
}
