//! The append path: decoded, signature-checked events are checked against the
//! ledger's state (duplicates, key chains, authorisation, references), then
//! every change of a commit group goes into one RocksDB write batch, synced.
//!
//! A commit group holds several requests; each request is atomic (all of its
//! events or none), and a refused request leaves no trace but its evidence.
//! The same function is what a replicated state machine calls when it applies
//! a committed entry, so a node's state depends only on the log.

use std::cell::RefCell;
use std::collections::{BTreeSet, HashMap, HashSet};
use std::path::Path;
use std::sync::Arc;

use crate::remembered::Remembered;

use tansiq_proto::v1 as pb;

use crate::coverage::{
    overlap_kind, pair, policy_for, NeedRecord, OverlapKind, PolicyRecord, ProjectSummary,
    ReviewRecord, STATUS_CANCELLED, STATUS_CLOSED,
};
use crate::date::Date;
use crate::event::{self, Event, Kind};
use crate::genesis::Genesis;
use crate::ids::{EventId, HeadHash, LogPosition, PublicKeyBytes};
use crate::limits::{RECEIPT_OVERLAP_WARNINGS_MAX, SUBMIT_BATCH_EVENTS_MAX};
use crate::reject::Rejection;
use crate::signing::ChainId;
use crate::store::{
    cf, KeyRecord, LogRecord, MunicipalityRecord, OrgRecord, ProjectRecord, ProjectVersion, Store,
    StoreError, Tip,
};

/// What a committed (or already present) event's author is told.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Receipt {
    pub event_id: EventId,
    pub position: LogPosition,
    pub head: HeadHash,
    pub committed_at_ms: i64,
    /// The event was already on the ledger; this is its first receipt.
    pub duplicate: bool,
    pub warnings: Vec<String>,
    /// The project this event registers or updates is held for the
    /// ministry's review (a `hold` sector policy and an overlap).
    pub pending_review: bool,
}

/// One request's outcome: a receipt per event, or the reason none was written.
pub type RequestOutcome = Result<Vec<Receipt>, Rejection>;

#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("data directory has no genesis and none was given to create the chain")]
    NoGenesis,
    #[error("a new chain's id is its name and a hash of its genesis, so that no two ledgers share one and accept each other's events; {chain:?} is not (derived: {expected}). Make the genesis with `tansiq genesis` (docs/PROTOCOL.md, section 5)")]
    UnderivedChainId { chain: String, expected: String },
    #[error("stored genesis is invalid: {0}")]
    Genesis(#[from] crate::genesis::GenesisError),
    #[error("data directory holds chain {stored} (genesis {stored_hash}), but the configured genesis is chain {given} ({given_hash})")]
    GenesisMismatch {
        stored: String,
        stored_hash: String,
        given: String,
        given_hash: String,
    },
}

/// Whether a new ledger's chain id must be derived from its genesis: yes
/// for a chain begun here, no for a copy of a chain that exists (it may
/// predate the rule).
#[derive(Clone, Copy)]
enum NewChain {
    MustBeDerived,
    Copy,
}

/// A node's ledger: its genesis and storage. One writer calls [`Ledger::commit_group`].
pub struct Ledger {
    store: Store,
    genesis: Genesis,
    memory: Memory,
    replacing: StateReplacement,
}

/// A snapshot replacing the state is written in several batches (see
/// `Store::replace_state`): nobody may read the state half replaced.
#[derive(Default)]
struct StateReplacement {
    /// Held while a replacement is under way.
    lock: std::sync::Mutex<()>,
    /// Replacements begun plus replacements ended: odd while one is under way.
    count: std::sync::atomic::AtomicU64,
}

/// Records as last written, kept between commit groups: every event reads
/// its key and organisation, and the overlap check reads the records of the
/// projects already in a place, again and again. Filled as records are read
/// and written by the one writer (after its write succeeded); emptied when
/// full and when the state is replaced (a snapshot).
#[derive(Default)]
struct Memory {
    keys: Remembered<PublicKeyBytes, KeyRecord>,
    orgs: Remembered<String, OrgRecord>,
    projects: Remembered<String, Arc<ProjectRecord>>,
    reviewed: ReviewedPairs,
    /// IATI organisation identifier → the organisation that registered it;
    /// loaded on first use, dropped when an organisation is written.
    iati_owners: std::sync::Mutex<Option<Arc<HashMap<String, String>>>>,
}

impl Memory {
    fn iati_owners(&self, store: &Store) -> Result<Arc<HashMap<String, String>>, StoreError> {
        let mut owners = self
            .iati_owners
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(known) = owners.as_ref() {
            return Ok(Arc::clone(known));
        }
        let loaded: HashMap<String, String> = store
            .org_iati_identifiers()?
            .into_iter()
            .map(|(org, identifier)| (identifier, org))
            .collect();
        let loaded = Arc::new(loaded);
        *owners = Some(Arc::clone(&loaded));
        Ok(loaded)
    }

    fn forget_iati_owners(&self) {
        *self
            .iati_owners
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = None;
    }
}

/// Which pairs of projects have a review. Nearly every pair the overlap
/// check meets has none, and asking the store costs an iterator each time
/// (~8% of a follower's time in a profile under the cluster bench). Loaded by one scan of
/// the reviews on first use, kept up to date by the one writer; beyond
/// `limits::REMEMBERED_RECORDS_MAX` pairs the store is asked every time.
#[derive(Default)]
struct ReviewedPairs {
    known: std::sync::Mutex<KnownPairs>,
}

#[derive(Default)]
enum KnownPairs {
    #[default]
    NotLoaded,
    /// Every reviewed pair, as `text_key([a, b])`.
    Pairs(HashSet<Vec<u8>>),
    TooMany,
}

impl ReviewedPairs {
    /// Whether the pair `text_key([a, b])` may have a review: false only
    /// when it surely has none.
    fn may_have(&self, store: &Store, pair: &[u8]) -> Result<bool, StoreError> {
        let mut known = self.known();
        if matches!(*known, KnownPairs::NotLoaded) {
            *known = match store.reviewed_pairs(crate::limits::REMEMBERED_RECORDS_MAX)? {
                Some(pairs) => KnownPairs::Pairs(pairs),
                None => KnownPairs::TooMany,
            };
        }
        Ok(match &*known {
            KnownPairs::Pairs(pairs) => pairs.contains(pair),
            KnownPairs::NotLoaded | KnownPairs::TooMany => true,
        })
    }

    /// Pairs a commit group wrote reviews for (after its write succeeded).
    fn add(&self, written: Vec<Vec<u8>>) {
        let mut known = self.known();
        if let KnownPairs::Pairs(pairs) = &mut *known {
            pairs.extend(written);
            if pairs.len() > crate::limits::REMEMBERED_RECORDS_MAX {
                *known = KnownPairs::TooMany;
            }
        }
    }

    fn forget(&self) {
        *self.known() = KnownPairs::NotLoaded;
    }

    /// Every change is one assignment or insert: a poisoned lock is whole.
    fn known(&self) -> std::sync::MutexGuard<'_, KnownPairs> {
        self.known
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// The registry records a commit group wrote, and the pairs it reviewed.
struct Written {
    keys: HashMap<PublicKeyBytes, KeyRecord>,
    orgs: HashMap<String, OrgRecord>,
    projects: HashMap<String, Arc<ProjectRecord>>,
    reviewed: Vec<Vec<u8>>,
}

impl Ledger {
    /// Opens the ledger at `path`. A new directory is initialised from `genesis`;
    /// an existing one must hold the same genesis when one is given.
    pub fn open(path: &Path, genesis: Option<&Genesis>) -> Result<Ledger, OpenError> {
        Ledger::open_as(path, genesis, NewChain::MustBeDerived)
    }

    /// A new ledger at `path` for the chain of `genesis`, whatever its id:
    /// a copy of a ledger that exists (a rebuild, a snapshot being checked).
    fn open_copy(path: &Path, genesis: &Genesis) -> Result<Ledger, OpenError> {
        Ledger::open_as(path, Some(genesis), NewChain::Copy)
    }

    fn open_as(
        path: &Path,
        genesis: Option<&Genesis>,
        new_chain: NewChain,
    ) -> Result<Ledger, OpenError> {
        let store = Store::open(path)?;
        let stored = match store.genesis_bytes()? {
            Some(bytes) => Genesis::decode(&bytes)?,
            None => {
                let genesis = genesis.ok_or(OpenError::NoGenesis)?;
                let underived = match new_chain {
                    NewChain::MustBeDerived => genesis.underived_chain_id(),
                    NewChain::Copy => None,
                };
                if let Some(expected) = underived {
                    return Err(OpenError::UnderivedChainId {
                        chain: genesis.chain.to_string(),
                        expected,
                    });
                }
                initialise(&store, genesis)?;
                genesis.clone()
            }
        };
        if let Some(given) = genesis {
            if given.hash != stored.hash {
                return Err(OpenError::GenesisMismatch {
                    stored: stored.chain.to_string(),
                    stored_hash: stored.hash.to_hex(),
                    given: given.chain.to_string(),
                    given_hash: given.hash.to_hex(),
                });
            }
        }
        Ok(Ledger {
            store,
            genesis: stored,
            memory: Memory::default(),
            replacing: StateReplacement::default(),
        })
    }

    pub fn genesis(&self) -> &Genesis {
        &self.genesis
    }

    pub fn chain(&self) -> &ChainId {
        &self.genesis.chain
    }

    /// Replaces the whole state with the snapshot file `file` (already
    /// checked) and writes `finish` into the Raft metadata with its last
    /// pairs (see `Store::replace_state`). Reads through [`Ledger::read`]
    /// are refused meanwhile, and [`Ledger::hold_state`] waits it out. If
    /// the replacement fails, the state may be half replaced until the node
    /// restarts and finishes it: reads stay refused.
    pub(crate) fn replace_state(
        &self,
        file: &Path,
        finish: Vec<(Vec<u8>, Vec<u8>)>,
    ) -> Result<(), StoreError> {
        use std::sync::atomic::Ordering::SeqCst;
        let _only = self.hold_state();
        self.replacing.count.fetch_add(1, SeqCst);
        let replaced = self.store.replace_state(file, finish);
        // What the ledger keeps in memory of its records is stale now.
        self.memory.keys.forget_all();
        self.memory.orgs.forget_all();
        self.memory.forget_iati_owners();
        self.memory.projects.forget_all();
        self.memory.reviewed.forget();
        if replaced.is_ok() {
            self.replacing.count.fetch_add(1, SeqCst);
        }
        replaced
    }

    /// Runs `read` against the state, unless a snapshot is replacing it
    /// when the read starts or before it ends: then the answer could mix
    /// the old state and the new, and the error is
    /// [`StoreError::StateBeingReplaced`] (retry).
    pub fn read<T>(
        &self,
        read: impl FnOnce(&Ledger) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        use std::sync::atomic::Ordering::SeqCst;
        let before = self.replacing.count.load(SeqCst);
        if before % 2 == 1 {
            return Err(StoreError::StateBeingReplaced);
        }
        let answer = read(self)?;
        if self.replacing.count.load(SeqCst) != before {
            return Err(StoreError::StateBeingReplaced);
        }
        Ok(answer)
    }

    /// Waits for a state replacement under way to end; none begins until
    /// the guard is dropped (e.g. while a RocksDB snapshot of the state is taken).
    pub(crate) fn hold_state(&self) -> std::sync::MutexGuard<'_, ()> {
        // The guarded value is (): a poisoned lock is whole.
        self.replacing
            .lock
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn tip(&self) -> Result<Tip, StoreError> {
        self.store
            .tip()?
            .ok_or_else(|| StoreError::Corrupt("ledger has a genesis but no tip".into()))
    }

    /// The receipt of a committed event.
    pub fn receipt(&self, id: &EventId) -> Result<Option<Receipt>, StoreError> {
        let Some(position) = self.store.event_position(id)? else {
            return Ok(None);
        };
        let record = self.store.log_record(position)?.ok_or_else(|| {
            StoreError::Corrupt(format!(
                "event {id} at position {position} has no log record"
            ))
        })?;
        Ok(Some(Receipt {
            event_id: *id,
            position,
            head: record.head,
            committed_at_ms: record.committed_at_ms,
            duplicate: true,
            warnings: Vec::new(),
            pending_review: false,
        }))
    }

    /// Whether `author` may report the IATI activity `identifier` as the
    /// ledger stands ([`activity_reporter`], the rule a registration is
    /// checked by): the reason if not. For import plans and dry runs.
    pub fn may_report(
        &self,
        author: &str,
        identifier: &str,
    ) -> Result<Result<(), String>, StoreError> {
        self.read(|ledger| {
            let own = ledger
                .store
                .org(author)?
                .map(|org| org.iati_identifier)
                .unwrap_or_default();
            let owners = ledger.memory.iati_owners(&ledger.store)?;
            Ok(activity_reporter(identifier, author, &own, |prefix| {
                owners.get(prefix).cloned()
            }))
        })
    }

    /// Whether every event of a request may be signed by its key, judged
    /// on the applied state before the request goes to the log: the key is
    /// registered to the event's author and not revoked, or an earlier event
    /// of the request, or a request still on its way to the log
    /// (`introduced`), registers it. Nothing unauthorised enters a Raft log
    /// this way; writes nothing; applying the entry checks everything again
    /// (that is the rule every node follows). The first refusal.
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
                            revoked_at,
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

    /// Checks each request against the state and commits the accepted ones in
    /// one synced write batch. `requests` hold decoded events whose signatures
    /// were verified (see [`decode_request`] and [`verify_requests`]).
    pub fn commit_group(
        &self,
        requests: Vec<Result<Vec<Event>, Rejection>>,
        committed_at_ms: i64,
    ) -> Result<Vec<RequestOutcome>, StoreError> {
        self.commit_group_with_meta(requests, committed_at_ms, Vec::new())
    }

    /// [`Ledger::commit_group`], writing `raft_meta` (key, value) pairs in the
    /// same batch: a replicated state machine records the applied log id with
    /// the effects of the entry, so an entry is never applied twice or half.
    pub fn commit_group_with_meta(
        &self,
        requests: Vec<Result<Vec<Event>, Rejection>>,
        committed_at_ms: i64,
        raft_meta: Vec<(&'static [u8], Vec<u8>)>,
    ) -> Result<Vec<RequestOutcome>, StoreError> {
        let mut outcomes = self.commit_groups(
            vec![(requests, committed_at_ms)],
            raft_meta,
            Durability::Synced,
        )?;
        Ok(outcomes.pop().unwrap_or_default())
    }

    /// Several groups, each with its own commit time, checked in order and
    /// written in one batch with the `raft_meta` pairs.
    ///
    /// [`Durability::Unsynced`] is for a replicated state machine only: its input
    /// is already durable in the synced Raft log, so a crash that loses the
    /// write replays the same entries (the applied log id travels in the
    /// same atomic batch). Any later synced write of the database (the next
    /// Raft append) makes it durable too.
    pub fn commit_groups(
        &self,
        groups: Vec<(Vec<CheckedRequest>, i64)>,
        raft_meta: Vec<(&'static [u8], Vec<u8>)>,
        sync: Durability,
    ) -> Result<Vec<Vec<RequestOutcome>>, StoreError> {
        let tip = self.tip()?;
        // Commit times never go back along the log (as-of queries and the
        // rebuild cut by them): a group is committed no earlier than the
        // last position. Deterministic: a function of the log, so every
        // node of a cluster gets the same times whatever the clocks did.
        let mut floor = match tip.position.0 {
            0 => i64::MIN,
            _ => self
                .store
                .log_range(tip.position, 1)?
                .first()
                .map_or(i64::MIN, |record| record.committed_at_ms),
        };
        let mut staging = Staging::new(&self.store, &self.memory, tip, 0);
        let mut outcomes = Vec::with_capacity(groups.len());
        for (requests, committed_at_ms) in groups {
            let committed_at_ms = committed_at_ms.max(floor);
            floor = committed_at_ms;
            staging.committed_at_ms = committed_at_ms;
            let mut group = Vec::with_capacity(requests.len());
            for request in requests {
                group.push(match request {
                    Ok(events) => staging.stage_request(&events)?,
                    Err(rejection) => Err(rejection),
                });
            }
            outcomes.push(group);
        }
        let (mut batch, written) = staging.into_batch();
        for (key, value) in raft_meta {
            batch.put_cf(self.store.cf(cf::RAFT_META), key, value);
        }
        match sync {
            Durability::Synced => self.store.write_synced(batch)?,
            Durability::Unsynced => self.store.write_unsynced(batch)?,
        }
        self.memory.keys.remember(written.keys);
        if !written.orgs.is_empty() {
            self.memory.forget_iati_owners();
        }
        self.memory.orgs.remember(written.orgs);
        self.memory.projects.remember(written.projects);
        self.memory.reviewed.add(written.reviewed);
        Ok(outcomes)
    }
}

/// A dry run: requests checked in order, each on top of the ones accepted
/// before it, by the same staging a commit uses, with nothing written. What
/// an import's dry run asks (`Ledger::try_kinds`). Keeps its own memory of
/// the records it read, so the writer's is never filled with what a trial
/// saw; the changes it accepted are kept here, not in the store.
pub struct Trial {
    accepted: Overlay,
    tip: Tip,
    memory: Memory,
}

impl Ledger {
    /// A dry run starting from the ledger as it is now.
    pub fn trial(&self) -> Result<Trial, StoreError> {
        Ok(Trial {
            accepted: Overlay::default(),
            tip: self.tip()?,
            memory: Memory::default(),
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
            Some(key) => (key.sequence, key.last_event.map(EventId)),
            None => (0, None),
        };
        let single = kinds.len() == 1;
        let mut events = Vec::with_capacity(kinds.len());
        for kind in kinds {
            sequence += 1;
            let body = pb::EventBody {
                signer_key: signer.0.to_vec(),
                author: author.to_string(),
                sequence,
                previous: previous.map(|id| id.0.to_vec()).unwrap_or_default(),
                created_at_ms,
                kind: Some(kind),
            };
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
}

/// IATI's rule for activity identifiers, the ledger's too: an identifier
/// begins with its reporting organisation's IATI identifier and a hyphen.
/// `author` (whose own IATI identifier is `own`, empty if none) may report
/// `identifier` unless it begins with another organisation's identifier
/// (`owner_of` names the organisation that registered a prefix), or with
/// none of `author`'s own when `author` has one. The reason, if not.
pub fn activity_reporter(
    identifier: &str,
    author: &str,
    own: &str,
    owner_of: impl Fn(&str) -> Option<String>,
) -> Result<(), String> {
    let under = |prefix: &str| {
        identifier.len() > prefix.len() + 1
            && identifier.starts_with(prefix)
            && identifier.as_bytes()[prefix.len()] == b'-'
    };
    if !own.is_empty() {
        if under(own) {
            return Ok(());
        }
        return Err(format!(
            "its IATI identifier must begin with {author}'s own, {own}- (an activity another organisation publishes is registered by that organisation)"
        ));
    }
    let taken = identifier.match_indices('-').find_map(|(at, _)| {
        let prefix = &identifier[..at];
        owner_of(prefix)
            .filter(|owner| owner != author)
            .map(|owner| (owner, prefix))
    });
    match taken {
        Some((owner, prefix)) => Err(format!(
            "{prefix} is the IATI identifier of organisation {owner}, whose activities only it registers"
        )),
        None => Ok(()),
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

/// A request's decoded, signature-checked events, or why it was refused.
pub type CheckedRequest = Result<Vec<Event>, Rejection>;

/// Whether a write waits for the disk (fdatasync) before it returns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Durability {
    Synced,
    /// Only when what is written can be recomputed from a synced log.
    Unsynced,
}

#[derive(Debug, thiserror::Error)]
pub enum RebuildError {
    #[error(transparent)]
    Open(#[from] OpenError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("event {event_id} at position {position} no longer applies: {rejection}")]
    Refused {
        position: LogPosition,
        event_id: EventId,
        rejection: Box<Rejection>,
    },
}

/// Why [`Ledger::check_signers`] did not pass a request.
#[derive(Debug, thiserror::Error)]
pub enum SignerCheckError {
    /// A signer may not sign (unknown, revoked, another organisation's key).
    #[error(transparent)]
    Refused(Rejection),
    /// The state could not be read (e.g. a snapshot is being installed):
    /// nothing is known of the request; retry.
    #[error("cannot read the signer's key: {0}")]
    Unreadable(StoreError),
}

/// Why a received snapshot was not installed.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotCheckError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Rebuild(#[from] RebuildError),
    #[error("the snapshot's log ends at position {claimed_position} with head {claimed_head}, but its own signed events give position {rebuilt_position} and head {rebuilt_head}")]
    HeadMismatch {
        claimed_position: u64,
        claimed_head: HeadHash,
        rebuilt_position: u64,
        rebuilt_head: HeadHash,
    },
    #[error("cannot write the checked state: {0}")]
    Io(#[from] std::io::Error),
}

impl Ledger {
    /// A node never installs state it cannot check: from a received state
    /// file (a Raft snapshot), keeps only its signed events, replays them
    /// with every signature, key chain and rule checked again into a new
    /// ledger under `scratch`, checks that the head chain comes out as the
    /// file claims, and writes the state so rebuilt to `out`. Projections,
    /// registries and heads in the file are never trusted: what is
    /// installed is a function of signed events alone (equivocation
    /// evidence, which is not, is not carried over). `scratch` is removed.
    pub fn check_snapshot(
        &self,
        received: &Path,
        scratch: &Path,
        out: &Path,
    ) -> Result<Tip, SnapshotCheckError> {
        let checked = (|| {
            let claimed = Ledger::open_copy(&scratch.join("claimed"), &self.genesis)
                .map_err(RebuildError::from)?;
            claimed.replace_state(received, Vec::new())?;
            let claimed_tip = claimed.tip()?;
            let rebuilt = rebuild(&claimed, &scratch.join("rebuilt"), i64::MAX, true)?;
            let rebuilt_tip = rebuilt.tip()?;
            if claimed_tip != rebuilt_tip {
                return Err(SnapshotCheckError::HeadMismatch {
                    claimed_position: claimed_tip.position.0,
                    claimed_head: claimed_tip.head,
                    rebuilt_position: rebuilt_tip.position.0,
                    rebuilt_head: rebuilt_tip.head,
                });
            }
            // Its caches and memtables are not needed for the write.
            drop(claimed);
            let store = rebuilt.store();
            store.write_state(&store.db().snapshot(), out)?;
            Ok(rebuilt_tip)
        })();
        let _ = std::fs::remove_dir_all(scratch);
        if checked.is_err() {
            let _ = std::fs::remove_file(out);
        }
        checked
    }
}

/// Replays `source`'s log, up to `cut_ms` commit time, into a new ledger at
/// `target`: every event decoded and applied again, with its original commit
/// time. The projections of the result are those of the log alone.
/// `verify` re-checks every signature too; a node rebuilding from its own
/// store (whose events were verified when appended) may skip that.
pub fn rebuild(
    source: &Ledger,
    target: &Path,
    cut_ms: i64,
    verify: bool,
) -> Result<Ledger, RebuildError> {
    let rebuilt = Ledger::open_copy(target, source.genesis())?;
    let chain = source.chain().clone();
    let mut from = LogPosition(1);
    loop {
        let records = source.store.log_range(from, 1024)?;
        let Some(last) = records.last() else { break };
        from = last.position.next();
        let mut start = 0;
        while start < records.len() {
            let at = records[start].committed_at_ms;
            if at > cut_ms {
                return Ok(rebuilt);
            }
            let end = records[start..]
                .iter()
                .position(|r| r.committed_at_ms != at)
                .map_or(records.len(), |n| start + n);
            let mut requests = Vec::with_capacity(end - start);
            for record in &records[start..end] {
                let (_, envelope) = source.store.event(&record.event_id)?.ok_or_else(|| {
                    StoreError::Corrupt(format!("log names missing event {}", record.event_id))
                })?;
                requests.push(decode_request(&chain, vec![envelope]));
            }
            if verify {
                verify_requests(&chain, &mut requests);
            }
            let outcomes = rebuilt.commit_group(requests, at)?;
            for (record, outcome) in records[start..end].iter().zip(outcomes) {
                if let Err(rejection) = outcome {
                    return Err(RebuildError::Refused {
                        position: record.position,
                        event_id: record.event_id,
                        rejection: Box::new(rejection),
                    });
                }
            }
            start = end;
        }
    }
    Ok(rebuilt)
}

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

fn in_batch(single: bool, index: usize, rejection: Rejection) -> Rejection {
    if single {
        rejection
    } else {
        Rejection::InBatch {
            index,
            rejection: Box::new(rejection),
        }
    }
}

fn initialise(store: &Store, genesis: &Genesis) -> Result<(), StoreError> {
    let mut batch = store.batch();
    batch.put_genesis(&genesis.bytes);
    batch.put_tip(&Tip {
        position: LogPosition(0),
        head: genesis.hash,
    });
    let name = genesis.message.ministry_name.clone().unwrap_or_default();
    batch.put_org(
        genesis.ministry.as_str(),
        &OrgRecord {
            role: pb::OrgRole::Ministry as i32,
            name_arabic: name.arabic,
            name_latin: name.latin,
            iati_identifier: String::new(),
            iati_org_type: 10,
            keys: genesis.ministry_keys.iter().map(|key| key.0).collect(),
        },
    );
    for key in &genesis.ministry_keys {
        batch.put_key(
            key,
            &KeyRecord {
                org_id: genesis.ministry.to_string(),
                sequence: 0,
                last_event: None,
                revoked_at: None,
            },
        );
    }
    store.write_synced(batch.batch)
}

/// Changes staged by a request or a group, not yet written.
#[derive(Default)]
struct Overlay {
    keys: HashMap<PublicKeyBytes, KeyRecord>,
    key_events: HashMap<(PublicKeyBytes, u64), EventId>,
    receipts: HashMap<EventId, Receipt>,
    orgs: HashMap<String, OrgRecord>,
    projects: HashMap<String, Arc<ProjectRecord>>,
    municipalities: HashMap<String, MunicipalityRecord>,
    appended: Vec<(LogRecord, pb::SignedEvent)>,
    // Coverage projections: versions and index entries to write, and the
    // latest policies and reviews for reads within the group.
    project_versions: Vec<(String, LogPosition, Arc<ProjectRecord>)>,
    project_events: Vec<(String, LogPosition, EventId)>,
    coverage: BTreeSet<(String, String, String)>,
    needs: Vec<(String, String, LogPosition, NeedRecord)>,
    policies: HashMap<String, PolicyRecord>,
    policy_writes: Vec<(String, LogPosition, PolicyRecord)>,
    reviews: HashMap<(String, String), ReviewRecord>,
    review_writes: Vec<(String, String, LogPosition, ReviewRecord)>,
}

impl Overlay {
    fn absorb(&mut self, other: Overlay) {
        self.keys.extend(other.keys);
        self.key_events.extend(other.key_events);
        self.receipts.extend(other.receipts);
        self.orgs.extend(other.orgs);
        self.projects.extend(other.projects);
        self.municipalities.extend(other.municipalities);
        self.appended.extend(other.appended);
        self.project_versions.extend(other.project_versions);
        self.project_events.extend(other.project_events);
        self.coverage.extend(other.coverage);
        self.needs.extend(other.needs);
        self.policies.extend(other.policies);
        self.policy_writes.extend(other.policy_writes);
        self.reviews.extend(other.reviews);
        self.review_writes.extend(other.review_writes);
    }
}

/// What an accepted event's author is told besides its receipt.
#[derive(Default)]
struct Effects {
    warnings: Vec<String>,
    pending_review: bool,
}

enum StageError {
    Rejected(Rejection),
    Store(StoreError),
}

impl From<Rejection> for StageError {
    fn from(rejection: Rejection) -> Self {
        StageError::Rejected(rejection)
    }
}

impl From<StoreError> for StageError {
    fn from(error: StoreError) -> Self {
        StageError::Store(error)
    }
}

/// Records read from the store during one commit group. The store does not
/// change while a group is staged (one writer), so what was read stays true
/// unless the group itself changes it, and the overlays are looked at first.
#[derive(Default)]
struct ReadCache {
    keys: RefCell<HashMap<PublicKeyBytes, Option<KeyRecord>>>,
    key_events: RefCell<HashMap<(PublicKeyBytes, u64), Option<EventId>>>,
    orgs: RefCell<HashMap<String, Option<OrgRecord>>>,
    projects: RefCell<HashMap<String, Option<Arc<ProjectRecord>>>>,
    municipalities: RefCell<HashMap<String, Option<MunicipalityRecord>>>,
    /// Sector policies: looked up on every registration, rarely changed.
    policies: RefCell<HashMap<String, Option<PolicyRecord>>>,
}

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

struct Staging<'a> {
    store: &'a Store,
    memory: &'a Memory,
    group: Overlay,
    request: Overlay,
    cache: ReadCache,
    group_tip: Tip,
    request_tip: Tip,
    evidence: Vec<(PublicKeyBytes, u64, EventId, pb::SignedEvent)>,
    committed_at_ms: i64,
}

impl<'a> Staging<'a> {
    fn new(store: &'a Store, memory: &'a Memory, tip: Tip, committed_at_ms: i64) -> Self {
        Staging {
            store,
            memory,
            group: Overlay::default(),
            request: Overlay::default(),
            cache: ReadCache::default(),
            group_tip: tip,
            request_tip: tip,
            evidence: Vec::new(),
            committed_at_ms,
        }
    }

    fn stage_request(&mut self, events: &[Event]) -> Result<RequestOutcome, StoreError> {
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

    fn receipt_of(&self, id: &EventId) -> Result<Option<Receipt>, StoreError> {
        if let Some(receipt) = self
            .request
            .receipts
            .get(id)
            .or_else(|| self.group.receipts.get(id))
        {
            return Ok(Some(Receipt {
                duplicate: true,
                warnings: Vec::new(),
                pending_review: false,
                ..receipt.clone()
            }));
        }
        let Some(position) = self.store.event_position(id)? else {
            return Ok(None);
        };
        let record = self
            .store
            .log_record(position)?
            .ok_or_else(|| StoreError::Corrupt(format!("event {id} has no log record")))?;
        Ok(Some(Receipt {
            event_id: *id,
            position,
            head: record.head,
            committed_at_ms: record.committed_at_ms,
            duplicate: true,
            warnings: Vec::new(),
            pending_review: false,
        }))
    }

    fn key(&self, key: &PublicKeyBytes) -> Result<Option<KeyRecord>, StoreError> {
        layered!(
            self,
            keys,
            key,
            self.memory.keys.get_or_load(key, || self.store.key(key))
        )
    }

    fn key_event_at(
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

    fn org(&self, org_id: &str) -> Result<Option<OrgRecord>, StoreError> {
        layered!(
            self,
            orgs,
            org_id,
            self.memory
                .orgs
                .get_or_load(org_id, || self.store.org(org_id))
        )
    }

    fn project(&self, project_id: &str) -> Result<Option<Arc<ProjectRecord>>, StoreError> {
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

    fn municipality(&self, pcode: &str) -> Result<Option<MunicipalityRecord>, StoreError> {
        layered!(self, municipalities, pcode, self.store.municipality(pcode))
    }

    fn stage_event(&mut self, event: &Event) -> Result<Receipt, StageError> {
        if let Some(receipt) = self.receipt_of(&event.id)? {
            return Ok(receipt);
        }
        let key = self
            .key(&event.signer)?
            .ok_or(Rejection::UnknownKey { key: event.signer })?;
        if let Some(revoked_at) = key.revoked_at {
            return Err(Rejection::RevokedKey {
                key: event.signer,
                org: key.org_id,
                revoked_at,
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
        let effects = self.apply_kind(event, &org, position)?;

        let head = self.request_tip.head.next(&event.id);
        debug_assert!(position > self.group_tip.position || self.request.appended.is_empty());
        let record = LogRecord {
            position,
            event_id: event.id,
            head,
            committed_at_ms: self.committed_at_ms,
        };
        // The key record may have been changed by the event itself (a key revoking itself).
        let mut key = self.key(&event.signer)?.unwrap_or(key);
        key.sequence = event.sequence;
        key.last_event = Some(event.id.0);
        self.request.keys.insert(event.signer, key);
        self.request
            .key_events
            .insert((event.signer, event.sequence), event.id);
        let receipt = Receipt {
            event_id: event.id,
            position,
            head,
            committed_at_ms: self.committed_at_ms,
            duplicate: false,
            warnings: effects.warnings,
            pending_review: effects.pending_review,
        };
        self.request.receipts.insert(event.id, receipt.clone());
        self.request.appended.push((record, event.to_signed()));
        self.request_tip = Tip { position, head };
        Ok(receipt)
    }

    fn check_chain(&mut self, event: &Event, key: &KeyRecord) -> Result<(), StageError> {
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
        let expected_previous = key.last_event.map(EventId);
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

    /// Authorises the event for its author's role and stages its effect on the registries.
    fn apply_kind(
        &mut self,
        event: &Event,
        author: &OrgRecord,
        position: LogPosition,
    ) -> Result<Effects, StageError> {
        let author_id = event.author.as_str();
        let role = pb::OrgRole::try_from(author.role).unwrap_or_default();
        let ministry_only = |action: &str| -> Result<(), StageError> {
            if role == pb::OrgRole::Ministry {
                Ok(())
            } else {
                Err(not_allowed(author_id, role, action).into())
            }
        };
        match &event.kind {
            Kind::OrganisationRegistered(body) => {
                ministry_only("register organisations")?;
                if self.org(&body.org_id)?.is_some() {
                    return Err(Rejection::AlreadyRegistered {
                        what: "organisation",
                        id: body.org_id.clone(),
                    }
                    .into());
                }
                let mut keys = Vec::with_capacity(body.keys.len());
                for key in &body.keys {
                    let key = PublicKeyBytes::from_slice(key)
                        .map_err(|e| Rejection::field("keys", e.to_string()))?;
                    self.ensure_key_unused(&key, "keys")?;
                    self.request.keys.insert(
                        key,
                        KeyRecord {
                            org_id: body.org_id.clone(),
                            sequence: 0,
                            last_event: None,
                            revoked_at: None,
                        },
                    );
                    keys.push(key.0);
                }
                let name = body.name.clone().unwrap_or_default();
                self.request.orgs.insert(
                    body.org_id.clone(),
                    OrgRecord {
                        role: body.role,
                        name_arabic: name.arabic,
                        name_latin: name.latin,
                        iati_identifier: body.iati_identifier.clone(),
                        iati_org_type: body.iati_org_type,
                        keys,
                    },
                );
            }
            Kind::KeyRotated(body) => {
                self.own_org_or_ministry(author_id, role, &body.org_id, "rotate keys of")?;
                let mut org =
                    self.org(&body.org_id)?
                        .ok_or_else(|| Rejection::UnknownReference {
                            what: "organisation",
                            id: body.org_id.clone(),
                        })?;
                let new_key = PublicKeyBytes::from_slice(&body.new_key)
                    .map_err(|e| Rejection::field("new_key", e.to_string()))?;
                self.ensure_key_unused(&new_key, "new_key")?;
                if !body.retired_key.is_empty() {
                    let retired = PublicKeyBytes::from_slice(&body.retired_key)
                        .map_err(|e| Rejection::field("retired_key", e.to_string()))?;
                    self.revoke(&body.org_id, &retired, "retired_key", position)?;
                }
                self.request.keys.insert(
                    new_key,
                    KeyRecord {
                        org_id: body.org_id.clone(),
                        sequence: 0,
                        last_event: None,
                        revoked_at: None,
                    },
                );
                org.keys.push(new_key.0);
                self.request.orgs.insert(body.org_id.clone(), org);
            }
            Kind::KeyRevoked(body) => {
                self.own_org_or_ministry(author_id, role, &body.org_id, "revoke keys of")?;
                let key = PublicKeyBytes::from_slice(&body.key)
                    .map_err(|e| Rejection::field("key", e.to_string()))?;
                self.revoke(&body.org_id, &key, "key", position)?;
                self.keep_an_active_ministry_key(&body.org_id)?;
            }
            Kind::MunicipalityRegistered(body) => {
                ministry_only("register municipalities")?;
                if self.municipality(&body.pcode)?.is_some() {
                    return Err(Rejection::AlreadyRegistered {
                        what: "municipality",
                        id: body.pcode.clone(),
                    }
                    .into());
                }
                if !body.parent_pcode.is_empty() {
                    self.require_municipality(&body.parent_pcode)?;
                }
                let name = body.name.clone().unwrap_or_default();
                self.request.municipalities.insert(
                    body.pcode.clone(),
                    MunicipalityRecord {
                        parent: body.parent_pcode.clone(),
                        admin_level: body.admin_level,
                        name_arabic: name.arabic,
                        name_latin: name.latin,
                    },
                );
            }
            Kind::SectorPolicySet(body) => {
                ministry_only("set sector coordination policies")?;
                let record = PolicyRecord {
                    policy: body.policy,
                    committed_at_ms: self.committed_at_ms,
                };
                self.request
                    .policy_writes
                    .push((body.sector.clone(), position, record.clone()));
                self.request.policies.insert(body.sector.clone(), record);
            }
            Kind::NeedAssessed(body) => {
                ministry_only("record assessed needs")?;
                self.require_municipality(&body.pcode)?;
                self.request.needs.push((
                    body.pcode.clone(),
                    body.sector.clone(),
                    position,
                    NeedRecord {
                        people_in_need: body.people_in_need,
                        severity: body.severity,
                        period_start: body.period_start.clone(),
                        period_end: body.period_end.clone(),
                        source: body.source.clone(),
                        committed_at_ms: self.committed_at_ms,
                    },
                ));
            }
            Kind::OverlapReviewed(body) => {
                ministry_only("review overlaps")?;
                if body.project_a == body.project_b {
                    return Err(Rejection::field("project_b", "must differ from project_a").into());
                }
                let review = ReviewRecord {
                    verdict: body.verdict,
                    note: body.note.clone(),
                    committed_at_ms: self.committed_at_ms,
                };
                let (a, b) = pair(&body.project_a, &body.project_b);
                self.request.review_writes.push((
                    a.to_owned(),
                    b.to_owned(),
                    position,
                    review.clone(),
                ));
                self.request
                    .reviews
                    .insert((a.to_owned(), b.to_owned()), review);
                // A review releases a project held for it.
                for project_id in [&body.project_a, &body.project_b] {
                    let mut project = self.require_project(project_id)?;
                    project.pending_review = false;
                    self.stage_project(project_id, project, position, event.id);
                }
            }
            Kind::ProjectRegistered(body) => {
                project_writer(author_id, role)?;
                if self.project(&body.project_id)?.is_some() {
                    return Err(Rejection::AlreadyRegistered {
                        what: "project",
                        id: body.project_id.clone(),
                    }
                    .into());
                }
                let details = body
                    .details
                    .as_ref()
                    .ok_or_else(|| Rejection::field("details", "is required"))?;
                self.require_locations(details)?;
                self.own_activity_identifier(author_id, role, &details.iati_identifier)?;
                let project = ProjectRecord {
                    owner: author_id.to_owned(),
                    iati_identifier: details.iati_identifier.clone(),
                    status: details.status,
                    closed: false,
                    closed_on: String::new(),
                    registered_on: self.today().to_string(),
                    pending_review: false,
                    summary: ProjectSummary::from_details(details),
                };
                return self.stage_project_details(&body.project_id, project, position, event.id);
            }
            Kind::ProjectUpdated(body) => {
                let mut project = self.own_open_project(author_id, role, &body.project_id)?;
                let details = body
                    .details
                    .as_ref()
                    .ok_or_else(|| Rejection::field("details", "is required"))?;
                self.require_locations(details)?;
                self.own_activity_identifier(author_id, role, &details.iati_identifier)?;
                project.status = details.status;
                project.iati_identifier = details.iati_identifier.clone();
                project.summary = ProjectSummary::from_details(details);
                return self.stage_project_details(&body.project_id, project, position, event.id);
            }
            Kind::ProjectStatusChanged(body) => {
                let mut project = self.own_open_project(author_id, role, &body.project_id)?;
                project.status = body.status;
                if matches!(body.status, STATUS_CLOSED | STATUS_CANCELLED) {
                    project.closed = true;
                    project.closed_on = self.date_or_today(&body.effective_date);
                }
                self.stage_project(&body.project_id, project, position, event.id);
            }
            Kind::TransactionRecorded(body) => {
                self.own_project(author_id, role, &body.project_id)?;
                self.request
                    .project_events
                    .push((body.project_id.clone(), position, event.id));
            }
            Kind::ProjectClosed(body) => {
                let mut project = self.own_open_project(author_id, role, &body.project_id)?;
                project.closed = true;
                project.status = if body.cancelled {
                    STATUS_CANCELLED
                } else {
                    STATUS_CLOSED
                };
                project.closed_on = self.date_or_today(&body.end_date);
                self.stage_project(&body.project_id, project, position, event.id);
            }
        }
        Ok(Effects::default())
    }

    fn own_org_or_ministry(
        &self,
        author: &str,
        role: pb::OrgRole,
        org_id: &str,
        action: &str,
    ) -> Result<(), StageError> {
        if role == pb::OrgRole::Ministry || author == org_id {
            Ok(())
        } else {
            Err(not_allowed(author, role, &format!("{action} organisation {org_id}")).into())
        }
    }

    fn ensure_key_unused(&self, key: &PublicKeyBytes, field: &str) -> Result<(), StageError> {
        match self.key(key)? {
            Some(record) => Err(Rejection::field(
                field,
                format!(
                    "key {key} is already registered to organisation {}",
                    record.org_id
                ),
            )
            .into()),
            None => Ok(()),
        }
    }

    fn revoke(
        &mut self,
        org_id: &str,
        key: &PublicKeyBytes,
        field: &str,
        position: LogPosition,
    ) -> Result<(), StageError> {
        let mut record = self.key(key)?.ok_or(Rejection::UnknownKey { key: *key })?;
        if record.org_id != org_id {
            return Err(Rejection::field(
                field,
                format!(
                    "key {key} belongs to organisation {}, not {org_id}",
                    record.org_id
                ),
            )
            .into());
        }
        if let Some(at) = record.revoked_at {
            return Err(Rejection::field(
                field,
                format!("key {key} was already revoked at log position {at}"),
            )
            .into());
        }
        record.revoked_at = Some(position.0);
        self.request.keys.insert(*key, record);
        Ok(())
    }

    /// IATI's own rule: an activity identifier begins with its reporting
    /// organisation's identifier and a hyphen. An organisation that
    /// registered an IATI organisation identifier reports only activities
    /// under it; one without reports none under another's. So no
    /// organisation can take another's activities (and with them the
    /// right to report them).
    fn own_activity_identifier(
        &self,
        author_id: &str,
        role: pb::OrgRole,
        identifier: &str,
    ) -> Result<(), StageError> {
        let own = self
            .org(author_id)?
            .map(|org| org.iati_identifier)
            .unwrap_or_default();
        let owners = self.memory.iati_owners(self.store)?;
        let owner_of = |prefix: &str| {
            owners.get(prefix).cloned().or_else(|| {
                // An organisation registered earlier in this request.
                self.request
                    .orgs
                    .iter()
                    .find(|(_, org)| org.iati_identifier == prefix)
                    .map(|(org_id, _)| org_id.clone())
            })
        };
        activity_reporter(identifier, author_id, &own, owner_of).map_err(|reason| {
            not_allowed(
                author_id,
                role,
                &format!("report activity {identifier:?}: {reason}"),
            )
            .into()
        })
    }

    /// A ministry that revoked its last active key could never register,
    /// rotate or review anything again: refused (rotate first).
    fn keep_an_active_ministry_key(&self, org_id: &str) -> Result<(), StageError> {
        let Some(org) = self.org(org_id)? else {
            return Ok(());
        };
        if org.role != pb::OrgRole::Ministry as i32 {
            return Ok(());
        }
        for key in &org.keys {
            let record = self.key(&PublicKeyBytes(*key))?;
            if record.is_some_and(|record| record.revoked_at.is_none()) {
                return Ok(());
            }
        }
        Err(Rejection::field(
            "key",
            format!(
                "this is the last active key of ministry organisation {org_id}: without one nobody could administer the ledger again; add a key first (KeyRotated with a new_key), then revoke this one"
            ),
        )
        .into())
    }

    fn today(&self) -> Date {
        Date::from_unix_ms(self.committed_at_ms)
    }

    /// `date` if given (fields were checked), else the commit date.
    fn date_or_today(&self, date: &str) -> String {
        if date.is_empty() {
            self.today().to_string()
        } else {
            date.to_owned()
        }
    }

    /// Stages a project's new state: its record, a version, its history and
    /// its coverage index entries.
    fn stage_project(
        &mut self,
        project_id: &str,
        project: ProjectRecord,
        position: LogPosition,
        event: EventId,
    ) {
        for (pcode, sector) in project.places() {
            self.request.coverage.insert((
                pcode.to_owned(),
                sector.to_owned(),
                project_id.to_owned(),
            ));
        }
        self.request
            .project_events
            .push((project_id.to_owned(), position, event));
        let project = Arc::new(project);
        self.request
            .project_versions
            .push((project_id.to_owned(), position, Arc::clone(&project)));
        self.request.projects.insert(project_id.to_owned(), project);
    }

    /// Stages a registration or update, with the overlaps it creates as
    /// warnings; under a `hold` policy an overlapping project is held.
    fn stage_project_details(
        &mut self,
        project_id: &str,
        mut project: ProjectRecord,
        position: LogPosition,
        event: EventId,
    ) -> Result<Effects, StageError> {
        let mut effects = Effects::default();
        let mut held_sectors = BTreeSet::new();
        let overlaps = self.overlaps_of(project_id, &project)?;
        let total = overlaps.len();
        for (shown, (pcode, sector, other_id, other, kind)) in overlaps.into_iter().enumerate() {
            if self.policy(&sector)? == pb::CoordinationPolicy::Hold {
                held_sectors.insert(sector.clone());
            }
            if shown == RECEIPT_OVERLAP_WARNINGS_MAX {
                effects.warnings.push(format!(
                    "and at least {} more overlaps: see `tansiq check` or `tansiq overlaps`",
                    total - shown
                ));
            }
            if shown >= RECEIPT_OVERLAP_WARNINGS_MAX {
                continue;
            }
            let title = if other.summary.title_latin.is_empty() {
                &other.summary.title_arabic
            } else {
                &other.summary.title_latin
            };
            let why = match kind {
                OverlapKind::DifferentDonors => {
                    "another donor, same municipality, sector and period"
                }
                OverlapKind::SameDonorSimilarTitle => {
                    "same donor, a similar title: reported twice?"
                }
            };
            effects.warnings.push(format!(
                "overlap in {pcode}, sector {sector}: project {other_id} of {} (\"{title}\") — {why}",
                other.donor()
            ));
        }
        if !held_sectors.is_empty() {
            project.pending_review = true;
            effects.pending_review = true;
            effects.warnings.push(format!(
                "held pending the ministry's review: sector {} is under the hold policy",
                held_sectors.into_iter().collect::<Vec<_>>().join(", ")
            ));
        }
        self.stage_project(project_id, project, position, event);
        Ok(effects)
    }

    /// The projects `project` would overlap with now (unreviewed or not
    /// reviewed as complementary), one entry per other project.
    #[allow(clippy::type_complexity)]
    fn overlaps_of(
        &self,
        project_id: &str,
        project: &ProjectRecord,
    ) -> Result<Vec<(String, String, String, Arc<ProjectRecord>, OverlapKind)>, StageError> {
        let today = self.today();
        let mut found = Vec::new();
        let mut seen = BTreeSet::new();
        for (pcode, sector) in project.places() {
            // Enough to name RECEIPT_OVERLAP_WARNINGS_MAX and say there are
            // more, and to know whether this place's sector policy holds it:
            // a crowded sector does not make every registration slower.
            let mut in_place = 0;
            // Candidates: the store's and this group's, merged in id order
            // (the same on every node) and read lazily, so the loop's early
            // stop also stops the reading.
            let mut staged = BTreeSet::new();
            for overlay in [&self.group.coverage, &self.request.coverage] {
                // A range of the ordered set: a group of thousands of
                // registrations must not scan itself once per registration.
                let from = (pcode.to_owned(), sector.to_owned(), String::new());
                staged.extend(
                    overlay
                        .range(from..)
                        .take_while(|(p, s, _)| p == pcode && s == sector)
                        .map(|(_, _, id)| id.clone()),
                );
            }
            let candidates = MergedIds {
                stored: self.store.projects_in_place(pcode, sector).peekable(),
                staged: staged.into_iter().peekable(),
            };
            for other_id in candidates {
                let other_id = other_id?;
                if other_id == project_id || seen.contains(&other_id) {
                    continue;
                }
                let Some(other) = self.project(&other_id)? else {
                    continue;
                };
                let still_there = other.places().any(|(p, s)| p == pcode && s == sector);
                if !still_there || !other.counts_on(today) {
                    continue;
                }
                let Some(kind) = overlap_kind(project, &other) else {
                    continue;
                };
                if self
                    .review(project_id, &other_id)?
                    .is_some_and(|review| review.complementary())
                {
                    continue;
                }
                seen.insert(other_id.clone());
                found.push((pcode.to_owned(), sector.to_owned(), other_id, other, kind));
                in_place += 1;
                if in_place > RECEIPT_OVERLAP_WARNINGS_MAX {
                    break;
                }
            }
        }
        Ok(found)
    }

    fn review(&self, a: &str, b: &str) -> Result<Option<ReviewRecord>, StoreError> {
        let (a, b) = pair(a, b);
        let key = (a.to_owned(), b.to_owned());
        if let Some(review) = self
            .request
            .reviews
            .get(&key)
            .or_else(|| self.group.reviews.get(&key))
        {
            return Ok(Some(review.clone()));
        }
        if !self
            .memory
            .reviewed
            .may_have(self.store, &crate::store::text_key(&[a, b]))?
        {
            return Ok(None);
        }
        self.store.review_at(a, b, i64::MAX)
    }

    /// The sector's policy, as staged in this group or else as stored.
    fn policy(&self, sector: &str) -> Result<pb::CoordinationPolicy, StoreError> {
        policy_for(sector, |code| {
            layered!(self, policies, code, self.store.policy_at(code, i64::MAX))
        })
    }

    fn require_municipality(&self, pcode: &str) -> Result<(), StageError> {
        match self.municipality(pcode)? {
            Some(_) => Ok(()),
            None => Err(Rejection::UnknownReference {
                what: "municipality (P-code)",
                id: pcode.to_owned(),
            }
            .into()),
        }
    }

    fn require_locations(&self, details: &pb::ProjectDetails) -> Result<(), StageError> {
        details
            .locations
            .iter()
            .try_for_each(|location| self.require_municipality(&location.pcode))
    }

    /// The project's record, to change: a copy of the shared one.
    fn require_project(&self, project_id: &str) -> Result<ProjectRecord, StageError> {
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

    fn own_project(
        &self,
        author: &str,
        role: pb::OrgRole,
        project_id: &str,
    ) -> Result<ProjectRecord, StageError> {
        project_writer(author, role)?;
        let project = self.require_project(project_id)?;
        if project.owner != author {
            return Err(not_allowed(
                author,
                role,
                &format!(
                    "write project {project_id}, which belongs to {}",
                    project.owner
                ),
            )
            .into());
        }
        Ok(project)
    }

    fn own_open_project(
        &self,
        author: &str,
        role: pb::OrgRole,
        project_id: &str,
    ) -> Result<ProjectRecord, StageError> {
        let project = self.own_project(author, role, project_id)?;
        if project.closed {
            return Err(Rejection::field(
                "project_id",
                format!("project {project_id} is closed; it can only receive transactions"),
            )
            .into());
        }
        Ok(project)
    }

    /// The group's writes, and the project records it wrote.
    fn into_batch(self) -> (rocksdb::WriteBatch, Written) {
        debug_assert!(
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
            batch.put_log(record);
            batch.put_event(&record.event_id, record.position, envelope);
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
        for (project_id, record) in &group.projects {
            batch.put_project(project_id, record);
        }
        for (pcode, record) in &group.municipalities {
            batch.put_municipality(pcode, record);
        }
        for (project_id, position, project) in &group.project_versions {
            batch.put_project_version(
                project_id,
                *position,
                &ProjectVersion {
                    committed_at_ms: self.committed_at_ms,
                    project: project.as_ref(),
                },
            );
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
        let written = Written {
            keys: group.keys,
            orgs: group.orgs,
            projects: group.projects,
            reviewed: group
                .review_writes
                .iter()
                .map(|(a, b, _, _)| crate::store::text_key(&[a, b]))
                .collect(),
        };
        (batch.batch, written)
    }
}

/// Two ascending streams of project ids merged into one, without repeats:
/// ids read from the store and ids staged by the group.
struct MergedIds<I: Iterator<Item = Result<String, StoreError>>> {
    stored: std::iter::Peekable<I>,
    staged: std::iter::Peekable<std::collections::btree_set::IntoIter<String>>,
}

impl<I: Iterator<Item = Result<String, StoreError>>> Iterator for MergedIds<I> {
    type Item = Result<String, StoreError>;

    fn next(&mut self) -> Option<Self::Item> {
        let order = match (self.stored.peek(), self.staged.peek()) {
            (Some(Ok(stored)), Some(staged)) => stored.cmp(staged),
            (Some(_), _) => std::cmp::Ordering::Less,
            (None, _) => std::cmp::Ordering::Greater,
        };
        match order {
            std::cmp::Ordering::Less => self.stored.next(),
            std::cmp::Ordering::Greater => self.staged.next().map(Ok),
            std::cmp::Ordering::Equal => {
                self.staged.next();
                self.stored.next()
            }
        }
    }
}

fn project_writer(author: &str, role: pb::OrgRole) -> Result<(), StageError> {
    match role {
        pb::OrgRole::Donor | pb::OrgRole::Ministry => Ok(()),
        _ => Err(not_allowed(author, role, "write projects").into()),
    }
}

fn not_allowed(author: &str, role: pb::OrgRole, action: &str) -> Rejection {
    Rejection::NotAllowed {
        org: author.to_owned(),
        role: role_name(role),
        action: action.to_owned(),
    }
}

/// A role's name as people read it.
pub fn role_name(role: pb::OrgRole) -> &'static str {
    match role {
        pb::OrgRole::Ministry => "ministry",
        pb::OrgRole::Donor => "donor",
        pb::OrgRole::Observer => "observer",
        pb::OrgRole::Unspecified => "unspecified",
    }
}

/// Parses a role name ("ministry", "donor", "observer").
pub fn parse_role(text: &str) -> Option<pb::OrgRole> {
    match text {
        "ministry" => Some(pb::OrgRole::Ministry),
        "donor" => Some(pb::OrgRole::Donor),
        "observer" => Some(pb::OrgRole::Observer),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_chain_made_before_derived_ids_still_rebuilds_but_no_new_one_begins() {
        let dir = tempfile::tempdir().expect("temporary directory");
        let legacy = Genesis::create(
            &ChainId::parse("tansiq-legacy").expect("chain id"),
            &crate::ids::OrgId::parse("ministry").expect("org id"),
            pb::Names::default(),
            &[crate::signing::KeyPair::from_seed([5; 32]).public()],
            0,
        )
        .expect("genesis");
        let refused = Ledger::open(&dir.path().join("new"), Some(&legacy));
        assert!(
            matches!(refused, Err(OpenError::UnderivedChainId { .. })),
            "a new chain needs a derived id"
        );
        // A ledger that exists with such an id (made before the rule) is
        // copied by a rebuild and a snapshot check all the same.
        let existing = Ledger::open_copy(&dir.path().join("old"), &legacy).expect("open");
        let rebuilt = rebuild(&existing, &dir.path().join("rebuilt"), i64::MAX, true)
            .expect("a rebuild of an existing chain");
        assert_eq!(rebuilt.tip().expect("tip"), existing.tip().expect("tip"));
        drop(existing);
        let reopened = Ledger::open(&dir.path().join("old"), Some(&legacy));
        assert!(reopened.is_ok(), "an existing ledger keeps its id");
    }
}
