//! Signatures this node has already found valid, so that a leader does not
//! verify again, when it applies an entry, the events it verified itself
//! before proposing them.
//!
//! A verdict is a function of the signed bytes and the signature alone
//! (`signing::verify_signatures`: batch or one by one, the same), and an
//! event's id is the blake3 of its signed bytes (chain included), so the
//! pair (event id, signature) names one verdict. An entry can only skip
//! verification for exactly the bytes and signature checked here: the same
//! body with another signature, or another body, is verified as before.
//! Only a node's own proposer adds to it ([`super::admit_noting`]), so a
//! follower verifies what a leader sends it, but for pairs it verified
//! itself while it led (whose entries may still come back from another
//! leader): never a signature this node did not find valid.

use std::collections::HashSet;
use std::sync::Mutex;

use super::Event;
use crate::ids::EventId;
use crate::limits::VERIFIED_HERE_MAX;

/// (event id, signature) pairs verified valid on this node, applied or not
/// (a proposal may never commit); bounded by [`VERIFIED_HERE_MAX`]
/// (emptied when full: what is forgotten is verified again, nothing else
/// changes).
#[derive(Default)]
pub struct VerifiedHere {
    pairs: Mutex<HashSet<(EventId, [u8; 64])>>,
}

impl VerifiedHere {
    /// Remembers `events`, whose signatures the caller verified valid.
    pub(crate) fn note<'e>(&self, events: impl IntoIterator<Item = &'e Event>) {
        let mut pairs = self.pairs.lock().unwrap_or_else(|e| e.into_inner());
        for pair in events.into_iter().filter_map(pair) {
            if pairs.len() >= VERIFIED_HERE_MAX {
                pairs.clear();
            }
            pairs.insert(pair);
        }
    }

    /// Whether `event`'s signature was verified valid here; it is forgotten
    /// then (an event is applied once).
    pub(crate) fn take(&self, event: &Event) -> bool {
        pair(event).is_some_and(|pair| {
            self.pairs
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .remove(&pair)
        })
    }

    /// How many it holds.
    pub fn len(&self) -> usize {
        self.pairs.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// Whether it holds none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// An event's (id, signature); None for a signature that is not 64 bytes
/// (decoding refuses those).
fn pair(event: &Event) -> Option<(EventId, [u8; 64])> {
    let signature = <[u8; 64]>::try_from(event.signature.as_slice()).ok()?;
    Some((event.id, signature))
}
