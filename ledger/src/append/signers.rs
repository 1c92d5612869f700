//! Who may sign and report, asked before a request enters a Raft log (the
//! leader, a donor site's outbox) and by import plans; applying checks again.

use std::collections::HashSet;

use crate::event::{Event, Kind};
use crate::ids::PublicKeyBytes;
use crate::reject::{in_batch, Rejection};
use crate::store::StoreError;

use super::authorise::{activity_reporter, Reporter};
use super::ledger::Ledger;

impl Ledger {
    /// Whether `author` may report the IATI activity `identifier` as the
    /// ledger stands ([`activity_reporter`], the rule a registration is
    /// checked by): the reason if not. For import plans and dry runs.
    pub fn may_report(
        &self,
        author: &str,
        identifier: &str,
    ) -> Result<Result<(), String>, StoreError> {
        self.read(|ledger| {
            let org = ledger.store.org(author)?.unwrap_or_default();
            let owners = ledger.memory.iati_owners(&ledger.store)?;
            let reporter = Reporter {
                org: author,
                own: &org.iati_identifier,
                reports_for: &org.reports_for,
            };
            Ok(activity_reporter(identifier, reporter, |prefix| {
                owners.get(prefix).cloned()
            }))
        })
    }

    /// Whether every event of a request may be signed by its key, judged
    /// on the applied state before the request goes to the log: the key is
    /// registered to the event's author and not revoked, or an earlier event
    /// of the request, or a request still on its way to the log
    /// (`introduced`), registers it. Nothing unauthorised enters a Raft log
    /// this way; writes nothing; applying the entry checks everything again,
    /// signatures aside when this node verified them itself (that is the
    /// rule every node follows). The first refusal.
    pub fn check_signers(
        &self,
        events: &[Event],
        introduced: &HashSet<PublicKeyBytes>,
    ) -> Result<(), SignerCheckError> {
        let single = events.len() == 1;
        let mut registered_here: HashSet<PublicKeyBytes> = HashSet::new();
        for (index, event) in events.iter().enumerate() {
            let known =
                registered_here.contains(&event.signer) || introduced.contains(&event.signer);
            if !known {
                let record = self
                    .read(|ledger| ledger.store.key(&event.signer))
                    .map_err(SignerCheckError::Unreadable)?;
                let refusal = match record {
                    None => Some(Rejection::UnknownKey { key: event.signer }),
                    Some(record) => match record.revoked_at {
                        Some(revoked_at) => Some(Rejection::RevokedKey {
                            key: event.signer,
                            org: record.org_id,
                            revoked_at: revoked_at.0,
                        }),
                        None if record.org_id != event.author.as_str() => {
                            Some(Rejection::AuthorMismatch {
                                key: event.signer,
                                key_org: record.org_id,
                                claimed: event.author.to_string(),
                            })
                        }
                        None => None,
                    },
                };
                let already_on_the_ledger = || {
                    self.receipt(&event.id)
                        .map(|receipt| receipt.is_some())
                        .unwrap_or(false)
                };
                // A retry of an event already on the ledger gets its receipt
                // at apply, even when its key was revoked since.
                if let Some(rejection) = refusal.filter(|_| !already_on_the_ledger()) {
                    return Err(SignerCheckError::Refused(in_batch(
                        single, index, rejection,
                    )));
                }
            }
            registered_here.extend(keys_introduced(&event.kind));
        }
        Ok(())
    }
}

/// The keys an event registers (an organisation's first keys, a rotation's
/// new key): they may sign from the next event on.
pub fn keys_introduced(kind: &Kind) -> Vec<PublicKeyBytes> {
    let bytes: Vec<&Vec<u8>> = match kind {
        Kind::OrganisationRegistered(body) => body.keys.iter().collect(),
        Kind::KeyRotated(body) => vec![&body.new_key],
        _ => Vec::new(),
    };
    bytes
        .into_iter()
        .filter_map(|key| PublicKeyBytes::from_slice(key).ok())
        .collect()
}

/// Why [`Ledger::check_signers`] did not pass a request.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SignerCheckError {
    /// A signer may not sign (unknown, revoked, another organisation's key).
    #[error(transparent)]
    Refused(Rejection),
    /// The state could not be read (e.g. a snapshot is being installed):
    /// nothing is known of the request; retry.
    #[error("cannot read the signer's key: {0}")]
    Unreadable(StoreError),
}
