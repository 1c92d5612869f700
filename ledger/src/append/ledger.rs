//! The `Ledger`: a node's genesis and storage, the reads it hands out (never
//! across a state replacement), and commit groups: requests checked by the
//! staging and written in one RocksDB batch.

use std::path::Path;

use tansiq_proto::v1 as pb;

use crate::coverage::{AsOf, Coverage, KeptCounts, PastTallies, Tally};
use crate::event::Event;
use crate::genesis::Genesis;
use crate::ids::{EventId, LogPosition};
use crate::reject::Rejection;
use crate::signing::ChainId;
use crate::store::{cf, KeyRecord, OrgRecord, Store, StoreError, Tip};

use super::memory::CrossGroupCache;
use super::receipt::stored_receipt;
use super::receipt::{Receipt, RequestOutcome};
use super::staging::{Receipts, Staging};
use crate::event::CheckedRequest;

/// Why a ledger could not be opened.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OpenError {
    /// The store could not be opened, read or initialised.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The directory is empty and no genesis was given.
    #[error("data directory has no genesis and none was given to create the chain")]
    NoGenesis,
    /// A new chain's id is not the one derived from its genesis.
    #[error("a new chain's id is its name and a hash of its genesis, so that no two ledgers share one and accept each other's events; {chain:?} is not (derived: {expected}). Make the genesis with `tansiq genesis` (docs/PROTOCOL.md, section 5)")]
    UnderivedChainId {
        /// The genesis' chain id.
        chain: String,
        /// The id derived from it (or why none can be).
        expected: String,
    },
    /// The stored genesis does not decode or is refused.
    #[error("stored genesis is invalid: {0}")]
    Genesis(#[from] crate::genesis::GenesisError),
    /// The store was written by a newer version of Tansiq.
    #[error("the data directory's store has format {found}, written by a newer Tansiq; this binary reads formats up to {supported}: run the newer binary (or restore a backup of this format)")]
    NewerFormat {
        /// The store's format.
        found: u32,
        /// The newest this binary reads.
        supported: u32,
    },
    /// The copy of a store kept before its upgrade could not be written.
    #[error("cannot keep a copy of the store before upgrading its format in {path}: {error}; nothing was upgraded")]
    UpgradeCopy {
        /// Where the copy was to go.
        path: std::path::PathBuf,
        /// Why not.
        error: std::io::Error,
    },
    /// The directory holds another chain than the genesis given.
    #[error("data directory holds chain {stored} (genesis {stored_hash}), but the configured genesis is chain {given} ({given_hash})")]
    GenesisMismatch {
        /// The stored chain id.
        stored: String,
        /// The stored genesis' hash, hex.
        stored_hash: String,
        /// The given chain id.
        given: String,
        /// The given genesis' hash, hex.
        given_hash: String,
    },
}

/// Whether [`Ledger::open_upgrading`] keeps a copy of a store of an older
/// format before upgrading it in place.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UpgradeCopy {
    /// A checkpoint in `DATA_DIR/backups/before-format-N-MS` first.
    Keep,
    /// No copy (the operator has a backup).
    Skip,
    /// No upgrade: the store is read in its own format, which this version
    /// reads, and left in it (`tansiq-node backup`: a backup taken with a
    /// new binary still restores into the version that wrote the store).
    /// Nothing is written to a ledger so opened: every write, a commit
    /// included, fails with `StoreError::LeftAsFound`.
    Leave,
}

/// Whether a new ledger's chain id must be derived from its genesis: yes
/// for a chain begun here, no for a copy of a chain that exists (it may
/// predate the rule).
#[derive(Clone, Copy)]
pub(super) enum NewChain {
    MustBeDerived,
    Copy,
}

/// A node's ledger: its genesis and storage. One writer calls [`Ledger::commit_group`].
pub struct Ledger {
    pub(super) store: Store,
    pub(super) genesis: Genesis,
    pub(super) memory: CrossGroupCache,
    pub(super) replacing: StateReplacement,
    /// Counts of now, kept up to date by the commits (see `coverage::Tally`).
    pub(super) tally: Tally,
    /// Counts of past days, counted once when asked (`coverage::PastTallies`).
    pub(super) past: PastTallies,
}

/// A snapshot replacing the state is written in several batches (see
/// `Store::replace_state`): nobody may read the state half replaced.
#[derive(Default)]
pub(super) struct StateReplacement {
    /// Held while a replacement is under way.
    pub(super) lock: std::sync::Mutex<()>,
    /// Replacements begun plus replacements ended: odd while one is under way.
    pub(super) count: std::sync::atomic::AtomicU64,
}

impl Ledger {
    /// Opens the ledger at `path`. A new directory is initialised from `genesis`;
    /// an existing one must hold the same genesis when one is given.
    pub fn open(path: &Path, genesis: Option<&Genesis>) -> Result<Ledger, OpenError> {
        Ledger::open_as(path, genesis, NewChain::MustBeDerived, UpgradeCopy::Keep)
    }

    /// [`Ledger::open`], saying whether a store of an older format keeps a
    /// copy of itself before it is upgraded in place (`tansiq-node
    /// --no-upgrade-backup` says not to: the operator took a backup).
    pub fn open_upgrading(
        path: &Path,
        genesis: Option<&Genesis>,
        copy: UpgradeCopy,
    ) -> Result<Ledger, OpenError> {
        Ledger::open_as(path, genesis, NewChain::MustBeDerived, copy)
    }

    /// A new ledger at `path` for the chain of `genesis`, whatever its id:
    /// a copy of a ledger that exists (a rebuild, a snapshot being checked).
    pub(super) fn open_copy(path: &Path, genesis: &Genesis) -> Result<Ledger, OpenError> {
        Ledger::open_as(path, Some(genesis), NewChain::Copy, UpgradeCopy::Keep)
    }

    pub(super) fn open_as(
        path: &Path,
        genesis: Option<&Genesis>,
        new_chain: NewChain,
        copy: UpgradeCopy,
    ) -> Result<Ledger, OpenError> {
        let mut store = Store::open(path)?;
        match store.format_version()? {
            Some(found) if found > crate::store::FORMAT_VERSION => {
                return Err(OpenError::NewerFormat {
                    found,
                    supported: crate::store::FORMAT_VERSION,
                })
            }
            // Format 1 reads as it is: the upgrade records the version,
            // after a copy of the store is kept (unless told not to).
            Some(found) if found < crate::store::FORMAT_VERSION => match copy {
                UpgradeCopy::Keep => {
                    let kept = copy_before_upgrade(&store, path)?;
                    store = with_every_family(store, path)?;
                    upgrade(&store, found)?;
                    tracing::info!(
                        from = found,
                        to = crate::store::FORMAT_VERSION,
                        copy = %kept.display(),
                        "upgraded the store's format in place; a copy of it as it was is kept"
                    );
                }
                UpgradeCopy::Leave => {
                    tracing::info!(
                        found,
                        this = crate::store::FORMAT_VERSION,
                        "reading a store of an older format as it is, without upgrading it"
                    );
                }
                UpgradeCopy::Skip => {
                    store = with_every_family(store, path)?;
                    upgrade(&store, found)?;
                    tracing::warn!(
                        from = found,
                        to = crate::store::FORMAT_VERSION,
                        "upgraded the store's format in place without keeping a copy (--no-upgrade-backup)"
                    );
                }
            },
            _ => {}
        }
        let left = copy == UpgradeCopy::Leave;
        if left {
            if let Some(found) = store.format_version()? {
                store.leave_as_found(found);
            }
        }
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
        // A ledger written before the log had its Merkle tree gets it now,
        // once, from its log (not one left as it was found: its tree is
        // built when it is upgraded, or restored from a backup).
        if !left {
            let added = crate::tree::catch_up(&store).map_err(StoreError::from)?;
            if added > 0 {
                tracing::info!(entries = added, "built the log's Merkle tree from the log");
            }
        }
        Ok(Ledger {
            store,
            genesis: stored,
            memory: CrossGroupCache::default(),
            replacing: StateReplacement::default(),
            tally: Tally::default(),
            past: PastTallies::default(),
        })
    }

    /// The ledger's genesis.
    pub fn genesis(&self) -> &Genesis {
        &self.genesis
    }

    /// The ledger's chain id.
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
        self.memory.municipalities.forget_all();
        self.memory.forget_iati_owners();
        self.memory.projects.forget_all();
        self.memory.places.forget_all();
        self.memory.reviewed.forget();
        self.tally.forget();
        self.past.forget();
        if replaced.is_ok() {
            self.replacing.count.fetch_add(1, SeqCst);
        }
        replaced
    }

    /// How many lists of projects by place the writer holds (`places.rs`),
    /// and those that differ from the store's: none, whatever was written.
    #[cfg(feature = "test-support")]
    pub(crate) fn place_index_differences(&self) -> Result<(usize, Vec<String>), StoreError> {
        self.memory.places.differences(&self.store)
    }

    /// See `testing::past_days_counted`.
    #[cfg(feature = "test-support")]
    pub(crate) fn past_days_counted(&self) -> Vec<i64> {
        self.past.days()
    }

    /// See `testing::place_remembered_through`.
    #[cfg(feature = "test-support")]
    pub(crate) fn place_remembered_through(
        &self,
        pcode: &str,
        sector: &str,
    ) -> Option<Option<String>> {
        let listed = self.memory.places.get(pcode, sector)?;
        Some(listed.through.as_deref().map(str::to_owned))
    }

    /// Runs `read` against the state, unless a snapshot is replacing it
    /// when the read starts or before it ends: then the answer could mix
    /// the old state and the new, and the error is
    /// [`StoreError::StateBeingReplaced`] (retry).
    pub fn read<T, E: From<StoreError>>(
        &self,
        read: impl FnOnce(&Ledger) -> Result<T, E>,
    ) -> Result<T, E> {
        use std::sync::atomic::Ordering::SeqCst;
        let before = self.replacing.count.load(SeqCst);
        if before % 2 == 1 {
            return Err(StoreError::StateBeingReplaced.into());
        }
        let answer = read(self)?;
        if self.replacing.count.load(SeqCst) != before {
            return Err(StoreError::StateBeingReplaced.into());
        }
        Ok(answer)
    }

    /// Waits for a state replacement under way to end; none begins until
    /// the guard is dropped (e.g. while a RocksDB snapshot of the state is taken).
    pub(crate) fn hold_state(&self) -> std::sync::MutexGuard<'_, ()> {
        // The guarded value is (): a poisoned lock is whole.
        crate::sync::lock_whole(&self.replacing.lock)
    }

    /// Coverage queries as of `as_of`; those of now answer their totals and
    /// gaps from the counts the ledger keeps up to date.
    pub fn coverage(&self, as_of: AsOf) -> Coverage<'_> {
        let kept: Option<&dyn KeptCounts> = if as_of.cut_ms == i64::MAX {
            Some(&self.tally)
        } else if self.has_ended(as_of)
            // A past day takes about what now takes (fewer projects);
            // unknown before the first count of now.
            && (self.tally.counted_bytes()).is_some_and(PastTallies::would_keep)
        {
            Some(&self.past)
        } else {
            None
        };
        Coverage::of_ledger(&self.store, as_of, kept, &self.memory.reviewed)
    }

    /// Whether `as_of` is over on this ledger: its last commit is later.
    /// Commit times never go back along the log (`commit_groups`), so
    /// nothing committed from now on counts as of it. (Unknown, on a read
    /// error: then not; the query reads what it needs.)
    fn has_ended(&self, as_of: AsOf) -> bool {
        (self.tip().and_then(|tip| self.committed_at(&tip))).is_ok_and(|last| last > as_of.cut_ms)
    }

    /// When the position `tip` was committed (`i64::MIN` when nothing is
    /// logged there): no later commit is earlier.
    fn committed_at(&self, tip: &Tip) -> Result<i64, StoreError> {
        let record = self.store.log_record(tip.position)?;
        Ok(record.map_or(i64::MIN, |record| record.committed_at_ms))
    }

    /// Counts what was written since the last count of now (see
    /// `coverage::Tally`), off the path of a query: the first count, at a
    /// million events, takes seconds.
    pub fn count_now(&self, now_ms: i64) -> Result<(), StoreError> {
        self.tally
            .count(&self.coverage(AsOf::now(now_ms)).untallied())
    }

    /// The ledger's store, for reads (only the ledger writes it).
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The last committed position and head; errs (corrupt) when the store has none.
    pub fn tip(&self) -> Result<Tip, StoreError> {
        self.store
            .tip()?
            .ok_or_else(|| StoreError::Corrupt("ledger has a genesis but no tip".into()))
    }

    /// The receipt of a committed event.
    pub fn receipt(&self, id: &EventId) -> Result<Option<Receipt>, StoreError> {
        stored_receipt(&self.store, id)
    }
}

impl Ledger {
    /// Checks each request against the state and commits the accepted ones in
    /// one synced write batch. `requests` hold decoded events whose signatures
    /// were verified (see [`crate::event::admit`]).
    pub fn commit_group(
        &self,
        requests: Vec<Result<Vec<Event>, Rejection>>,
        committed_at_ms: i64,
    ) -> Result<Vec<RequestOutcome>, StoreError> {
        let mut outcomes = self.commit_groups(
            vec![(requests, committed_at_ms)],
            Vec::new(),
            Durability::Synced,
            Receipts::Told,
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
    pub(crate) fn commit_groups(
        &self,
        groups: Vec<(Vec<CheckedRequest>, i64)>,
        raft_meta: Vec<(&'static [u8], Vec<u8>)>,
        sync: Durability,
        receipts: Receipts,
    ) -> Result<Vec<Vec<RequestOutcome>>, StoreError> {
        let tip = self.tip()?;
        // Commit times never go back along the log (as-of queries and the
        // rebuild cut by them): a group is committed no earlier than the
        // last position. Deterministic: a function of the log, so every
        // node of a cluster gets the same times whatever the clocks did.
        let mut floor = self.committed_at(&tip)?;
        let mut staging = Staging::new(&self.store, &self.memory, tip, 0);
        staging.receipts = receipts;
        let mut outcomes = Vec::with_capacity(groups.len());
        for (requests, committed_at_ms) in groups {
            let committed_at_ms = committed_at_ms.max(floor);
            staging.committed_at_ms = committed_at_ms;
            let before = staging.group_tip.position;
            let mut group = Vec::with_capacity(requests.len());
            for request in requests {
                group.push(match request {
                    Ok(events) => staging.stage_request(&events)?,
                    Err(rejection) => Err(rejection),
                });
            }
            outcomes.push(group);
            // The floor is the last logged position's time, within a call
            // as across calls: a group that logged nothing (every request
            // refused, or duplicates) does not raise it, or a node applying
            // it with the next group would commit that one later than a
            // node applying them apart.
            if staging.group_tip.position > before {
                floor = committed_at_ms;
            }
        }
        let (mut batch, written) = staging.into_batch()?;
        for (key, value) in raft_meta {
            batch.put_cf(self.store.cf(cf::RAFT_META), key, value);
        }
        match sync {
            Durability::Synced => self.store.write_synced(batch)?,
            Durability::Unsynced => self.store.write_unsynced(batch)?,
            Durability::Unlogged => self.store.write_unlogged(batch)?,
        }
        self.memory.keys.remember(written.keys);
        if !written.orgs.is_empty() {
            self.memory.forget_iati_owners();
        }
        self.memory.orgs.remember(written.orgs);
        self.memory.municipalities.remember(written.municipalities);
        self.memory
            .places
            .note_written(&written.projects, &written.left);
        self.memory.projects.remember(written.projects);
        self.memory.reviewed.add(written.reviewed);
        self.tally.touch(written.touched);
        Ok(outcomes)
    }
}

/// Whether a write waits for the disk (fdatasync) before it returns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Durability {
    Synced,
    /// Only when what is written can be recomputed from a synced log.
    Unsynced,
    /// Not even into RocksDB's write-ahead log: only into a store that is
    /// thrown away unless every write into it finishes and its memtables
    /// are then flushed ([`crate::store::Store::flush_all`]): a rebuild's
    /// target. A crash loses what no flush has written yet, and not
    /// the same amount in every column family.
    Unlogged,
}

/// A store of an earlier format may lack families added since: added
/// (empty, after any copy of it as it was is kept), and the store opened
/// again so that they share its budgets.
fn with_every_family(mut store: Store, path: &Path) -> Result<Store, StoreError> {
    if store.add_missing_families()? == 0 {
        return Ok(store);
    }
    drop(store);
    Store::open(path)
}

/// Brings a store of format `found` (before this one) to this format:
/// what the formats since need written, then the version. The records of
/// earlier formats read as they are (see `store::FORMAT_VERSION`).
fn upgrade(store: &Store, found: u32) -> Result<(), StoreError> {
    if found < 5 {
        let indexed = store.index_iati_activities()?;
        tracing::info!(
            indexed,
            "indexed the projects' IATI activity identifiers (store format 5)"
        );
    }
    store.set_format_version(crate::store::FORMAT_VERSION)
}

pub(super) fn initialise(store: &Store, genesis: &Genesis) -> Result<(), StoreError> {
    store.set_format_version(crate::store::FORMAT_VERSION)?;
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
            role: pb::OrgRole::Ministry,
            name_arabic: name.arabic,
            name_latin: name.latin,
            iati_identifier: String::new(),
            iati_org_type: 10,
            keys: genesis.ministry_keys.clone(),
            reports_for: Vec::new(),
            pcode: String::new(),
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

/// The copy of a store of an older format that [`Ledger::open`] keeps
/// before it upgrades the store in place: a checkpoint in
/// `DATA_DIR/backups/before-format-N-MS/db`, where `DATA_DIR` holds the
/// store. Returns where.
fn copy_before_upgrade(store: &Store, store_dir: &Path) -> Result<std::path::PathBuf, OpenError> {
    let data_dir = store_dir.parent().unwrap_or(store_dir);
    let out = data_dir.join("backups").join(format!(
        "before-format-{}-{}",
        crate::store::FORMAT_VERSION,
        crate::author::now_ms()
    ));
    std::fs::create_dir_all(&out).map_err(|error| OpenError::UpgradeCopy {
        path: out.clone(),
        error,
    })?;
    store.checkpoint(&out.join(crate::store::STORE_DIR))?;
    Ok(out)
}
