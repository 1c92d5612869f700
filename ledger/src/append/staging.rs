//! The staging of one commit group: reads through the overlays and caches,
//! each event's key chain, and the group's write batch.

use std::sync::Arc;

use tansiq_proto::v1 as pb;

use crate::coverage::{pair, policy_for};
use crate::date::Date;
use crate::event::Event;
use crate::ids::{EventId, PublicKeyBytes};
use crate::reject::{in_batch, Rejection};
use crate::store::ReviewRecord;
use crate::store::{
    cf, EncodedProject, KeyRecord, LogRecord, MunicipalityRecord, OrgRecord, ProjectRecord, Store,
    StoreError, Tip,
};
use crate::tree;

use super::memory::{CrossGroupCache, GroupWrites};
use super::overlay::{GroupCache, Overlay, StageError};
use super::receipt::stored_receipt;
use super::receipt::{Logged, Receipt, RequestOutcome};

/// Looks a value up in the request's overlay, then the group's, then the
/// group's read cache, then the store.
macro_rules! layered {
    ($self:ident, $field:ident, $key:expr, $load:expr) => {{
        let key = $key;
        if let Some(value) = $self.request.$field.get(key) {
            Ok(Some(value.clone()))
        } else if let Some(value) = $self.group.$field.get(key) {
            Ok(Some(value.clone()))
        } else {
            let cached = $self.cache.$field.borrow().get(key).cloned();
            match cached {
                Some(value) => Ok(value),
                None => $load.map(|loaded| {
                    $self
                        .cache
                        .$field
                        .borrow_mut()
                        .insert(key.to_owned(), loaded.clone());
                    loaded
                }),
            }
        }
    }};
}

pub(super) struct Staging<'a> {
    pub(super) store: &'a Store,
    pub(super) memory: &'a CrossGroupCache,
    pub(super) group: Overlay,
    pub(super) request: Overlay,
    pub(super) cache: GroupCache,
    pub(super) group_tip: Tip,
    pub(super) request_tip: Tip,
    pub(super) evidence: Vec<(PublicKeyBytes, u64, EventId, pb::SignedEvent)>,
    pub(super) committed_at_ms: i64,
    pub(super) receipts: Receipts,
}

/// Whether anybody reads the warnings of a group's receipts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Receipts {
    /// Yes (an author waits for them): each registration's overlap
    /// warnings are found and written.
    Told,
    /// No: a rebuild replays events whose authors were told at their first
    /// commit. Only what the state needs is computed (whether a `hold`
    /// sector holds a project); the state written is the same.
    Untold,
}

impl<'a> Staging<'a> {
    pub(super) fn new(
        store: &'a Store,
        memory: &'a CrossGroupCache,
        tip: Tip,
        committed_at_ms: i64,
    ) -> Self {
        Staging {
            store,
            memory,
            group: Overlay::default(),
            request: Overlay::default(),
            cache: GroupCache::default(),
            group_tip: tip,
            request_tip: tip,
            evidence: Vec::new(),
            committed_at_ms,
            receipts: Receipts::Told,
        }
    }

    pub(super) fn stage_request(&mut self, events: &[Event]) -> Result<RequestOutcome, StoreError> {
        let single = events.len() == 1;
        let mut receipts = Vec::with_capacity(events.len());
        for (index, event) in events.iter().enumerate() {
            match self.stage_event(event) {
                Ok(receipt) => receipts.push(receipt),
                Err(StageError::Store(error)) => return Err(error),
                Err(StageError::Rejected(rejection)) => {
                    self.request = Overlay::default();
                    self.request_tip = self.group_tip;
                    return Ok(Err(in_batch(single, index, rejection)));
                }
            }
        }
        let request = std::mem::take(&mut self.request);
        self.group.absorb(request);
        self.group_tip = self.request_tip;
        Ok(Ok(receipts))
    }

    pub(super) fn receipt_of(&self, id: &EventId) -> Result<Option<Receipt>, StoreError> {
        if let Some(logged) = self
            .request
            .logged
            .get(id)
            .or_else(|| self.group.logged.get(id))
        {
            return Ok(Some(logged.repeated(id)));
        }
        stored_receipt(self.store, id)
    }

    pub(super) fn key(&self, key: &PublicKeyBytes) -> Result<Option<KeyRecord>, StoreError> {
        layered!(
            self,
            keys,
            key,
            self.memory.keys.get_or_load(key, || self.store.key(key))
        )
    }

    pub(super) fn key_event_at(
        &self,
        key: &PublicKeyBytes,
        sequence: u64,
    ) -> Result<Option<EventId>, StoreError> {
        layered!(
            self,
            key_events,
            &(*key, sequence),
            self.store.key_event_at(key, sequence)
        )
    }

    pub(super) fn org(&self, org_id: &str) -> Result<Option<OrgRecord>, StoreError> {
        layered!(
            self,
            orgs,
            org_id,
            self.memory
                .orgs
                .get_or_load(org_id, || self.store.org(org_id))
        )
    }

    pub(super) fn project(
        &self,
        project_id: &str,
    ) -> Result<Option<Arc<ProjectRecord>>, StoreError> {
        layered!(
            self,
            projects,
            project_id,
            self.memory.projects.get_or_load(project_id, || Ok(self
                .store
                .project(project_id)?
                .map(Arc::new)))
        )
    }

    pub(super) fn municipality(
        &self,
        pcode: &str,
    ) -> Result<Option<MunicipalityRecord>, StoreError> {
        layered!(
            self,
            municipalities,
            pcode,
            self.memory
                .municipalities
                .get_or_load(pcode, || self.store.municipality(pcode))
        )
    }

    pub(super) fn stage_event(&mut self, event: &Event) -> Result<Receipt, StageError> {
        let key = self.key(&event.signer)?;
        // An event that extends its key's chain (the next sequence, after
        // the key's last event) is on no log yet: a key's record moves past
        // each event it signs in the batch that logs it, and no key is
        // registered twice. Only another event may be a repeat, which
        // takes a read of the id index (on a new event, a read that finds
        // nothing: 9% of a trusting rebuild's apply thread).
        let extends = key.as_ref().is_some_and(|key| {
            event.sequence == key.sequence + 1 && event.previous == key.last_event
        });
        if !extends {
            if let Some(receipt) = self.receipt_of(&event.id)? {
                return Ok(receipt);
            }
        }
        let key = key.ok_or(Rejection::UnknownKey { key: event.signer })?;
        if let Some(revoked_at) = key.revoked_at {
            return Err(Rejection::RevokedKey {
                key: event.signer,
                org: key.org_id,
                revoked_at: revoked_at.0,
            }
            .into());
        }
        if key.org_id != event.author.as_str() {
            return Err(Rejection::AuthorMismatch {
                key: event.signer,
                key_org: key.org_id,
                claimed: event.author.to_string(),
            }
            .into());
        }
        self.check_chain(event, &key)?;
        let org = self.org(event.author.as_str())?.ok_or_else(|| {
            StoreError::Corrupt(format!(
                "key {} names unregistered org {}",
                event.signer, key.org_id
            ))
        })?;
        let position = self.request_tip.position.next();
        let effects = self.stage_kind(event, &org, position)?;

        let head = self.request_tip.head.next(&event.id);
        assert!(
            position > self.group_tip.position || self.request.appended.is_empty(),
            "invariant: a request appends after its group"
        );
        let record = LogRecord {
            position,
            event_id: event.id,
            head,
            committed_at_ms: self.committed_at_ms,
        };
        // The key record may have been changed by the event itself (a key revoking itself).
        let mut key = self.key(&event.signer)?.unwrap_or(key);
        key.sequence = event.sequence;
        key.last_event = Some(event.id);
        self.request.keys.insert(event.signer, key);
        self.request
            .key_events
            .insert((event.signer, event.sequence), event.id);
        self.request.logged.insert(
            event.id,
            Logged {
                position,
                head,
                committed_at_ms: self.committed_at_ms,
            },
        );
        let receipt = Receipt {
            event_id: event.id,
            position,
            head,
            committed_at_ms: self.committed_at_ms,
            duplicate: false,
            warnings: effects.warnings,
            pending_review: effects.pending_review,
        };
        self.request.appended.push((record, event.to_signed()));
        self.request_tip = Tip { position, head };
        Ok(receipt)
    }

    pub(super) fn check_chain(&mut self, event: &Event, key: &KeyRecord) -> Result<(), StageError> {
        let expected = key.sequence + 1;
        if event.sequence < expected {
            let existing = self
                .key_event_at(&event.signer, event.sequence)?
                .ok_or_else(|| {
                    StoreError::Corrupt(format!(
                        "key {} has no event at {}",
                        event.signer, event.sequence
                    ))
                })?;
            // The first conflicting event per key and sequence is proof
            // enough; more would let one key fill the disk with "evidence".
            let kept =
                self.evidence.iter().any(|(key, sequence, _, _)| {
                    *key == event.signer && *sequence == event.sequence
                }) || self.store.has_evidence(&event.signer, event.sequence)?;
            if !kept {
                self.evidence
                    .push((event.signer, event.sequence, event.id, event.to_signed()));
            }
            return Err(Rejection::Equivocation {
                key: event.signer,
                sequence: event.sequence,
                existing,
                submitted: event.id,
            }
            .into());
        }
        if event.sequence > expected {
            return Err(Rejection::SequenceGap {
                key: event.signer,
                org: key.org_id.clone(),
                expected,
                got: event.sequence,
            }
            .into());
        }
        let expected_previous = key.last_event;
        if event.previous != expected_previous {
            let show = |id: Option<EventId>| id.map_or_else(|| "none".to_owned(), |id| id.to_hex());
            return Err(Rejection::WrongPrevious {
                key: event.signer,
                sequence: event.sequence,
                expected: show(expected_previous),
                got: show(event.previous),
            }
            .into());
        }
        Ok(())
    }
}

impl<'a> Staging<'a> {
    pub(super) fn today(&self) -> Date {
        Date::from_unix_ms(self.committed_at_ms)
    }

    /// `date` if given (fields were checked), else the commit date.
    pub(super) fn date_or_today(&self, date: &str) -> String {
        if date.is_empty() {
            self.today().to_string()
        } else {
            date.to_owned()
        }
    }
}

impl<'a> Staging<'a> {
    pub(super) fn review(&self, a: &str, b: &str) -> Result<Option<ReviewRecord>, StoreError> {
        let (a, b) = pair(a, b);
        // Most groups stage no review, and every registration asks of
        // several pairs: no key is built for empty overlays.
        for staged in [&self.request.reviews, &self.group.reviews] {
            if !staged.is_empty() {
                if let Some(review) = staged.get(&(a.to_owned(), b.to_owned())) {
                    return Ok(Some(review.clone()));
                }
            }
        }
        if !self.memory.reviewed.may_have(self.store, a, b)? {
            return Ok(None);
        }
        self.store.review_at(a, b, i64::MAX)
    }

    /// The sector's policy, as staged in this group or else as stored.
    pub(super) fn policy(&self, sector: &str) -> Result<pb::CoordinationPolicy, StoreError> {
        policy_for(sector, |code| {
            layered!(self, policies, code, self.store.policy_at(code, i64::MAX))
        })
    }

    pub(super) fn require_municipality(&self, pcode: &str) -> Result<(), StageError> {
        match self.municipality(pcode)? {
            Some(_) => Ok(()),
            None => Err(Rejection::UnknownReference {
                what: "municipality (P-code)",
                id: pcode.to_owned(),
            }
            .into()),
        }
    }

    pub(super) fn require_locations(&self, details: &pb::ProjectDetails) -> Result<(), StageError> {
        details
            .locations
            .iter()
            .try_for_each(|location| self.require_municipality(&location.pcode))
    }

    /// The project's record, to change: a copy of the shared one.
    pub(super) fn require_project(&self, project_id: &str) -> Result<ProjectRecord, StageError> {
        self.project(project_id)?
            .map(Arc::unwrap_or_clone)
            .ok_or_else(|| {
                Rejection::UnknownReference {
                    what: "project",
                    id: project_id.to_owned(),
                }
                .into()
            })
    }
}

impl<'a> Staging<'a> {
    /// The group's writes — its events, the tree's hashes over them and
    /// the projections — and the project records it wrote.
    pub(super) fn into_batch(self) -> Result<(rocksdb::WriteBatch, GroupWrites), StoreError> {
        assert!(
            self.request.appended.is_empty(),
            "a request was left half-staged"
        );
        let mut batch = self.store.batch();
        let group = self.group;
        let mut expected = group.appended.first().map(|(record, _)| record.position);
        for (record, envelope) in &group.appended {
            assert_eq!(
                Some(record.position),
                expected,
                "invariant: a commit group is contiguous"
            );
            expected = Some(record.position.next());
            batch.put_log(record, envelope);
            batch.put_event(&record.event_id, record.position);
        }
        // The log's Merkle tree, in the same batch as its entries.
        if let Some((first, _)) = group.appended.first() {
            let entries: Vec<Vec<u8>> = group
                .appended
                .iter()
                .map(|(_, envelope)| tree::entry(envelope))
                .collect();
            let before = first.position.0 - 1;
            let hashes =
                tree::hashes_to_store(self.store, before, entries.iter().map(Vec::as_slice))
                    .map_err(StoreError::from)?;
            for (index, hash) in &hashes {
                batch.put_tree_hash(*index, &hash.0);
            }
            batch.put_tree_size(before + entries.len() as u64);
        }
        for ((key, sequence), id) in &group.key_events {
            batch.put_key_event(key, *sequence, id);
        }
        for (key, record) in &group.keys {
            batch.put_key(key, record);
        }
        for (org_id, record) in &group.orgs {
            batch.put_org(org_id, record);
        }
        // Each state of a project encoded once, for its version; the
        // group's last state (`stage_project` stages a project's record and
        // its version together, the same `Arc`) is also its record.
        let mut records = 0;
        for (project_id, position, project, committed_at_ms) in &group.project_versions {
            let encoded = EncodedProject::of(project);
            batch.put_project_version(project_id, *position, *committed_at_ms, &encoded);
            if group
                .projects
                .get(project_id)
                .is_some_and(|last| Arc::ptr_eq(last, project))
            {
                batch.put_project(project_id, &encoded);
                if !project.iati_identifier.is_empty() {
                    batch.put_iati_activity(&project.iati_identifier, project_id);
                }
                records += 1;
            }
        }
        assert_eq!(
            records,
            group.projects.len(),
            "invariant: every project record staged is its last version"
        );
        for (pcode, record) in &group.municipalities {
            batch.put_municipality(pcode, record);
        }
        for (project_id, position, id) in &group.project_events {
            batch.put_project_event(project_id, *position, id);
        }
        for (pcode, sector, project_id) in &group.coverage {
            batch.put_coverage(pcode, sector, project_id);
        }
        for (pcode, sector, position, need) in &group.needs {
            batch.put_versioned(cf::NEEDS, &[pcode, sector], *position, need);
        }
        for (sector, position, policy) in &group.policy_writes {
            batch.put_versioned(cf::POLICIES, &[sector], *position, policy);
        }
        for (a, b, position, review) in &group.review_writes {
            batch.put_versioned(cf::REVIEWS, &[a, b], *position, review);
        }
        for (key, sequence, id, envelope) in &self.evidence {
            batch.put_evidence(key, *sequence, id, envelope);
        }
        batch.put_tip(&self.group_tip);
        let written = GroupWrites {
            keys: group.keys,
            orgs: group.orgs,
            municipalities: group.municipalities,
            projects: group.projects,
            left: group.left,
            reviewed: group
                .review_writes
                .iter()
                .map(|(a, b, _, _)| crate::store::text_key(&[a, b]))
                .collect(),
            touched: group.touched,
        };
        Ok((batch.batch, written))
    }
}
