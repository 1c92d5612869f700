//! openraft's state machine: the ledger. Applying an entry re-verifies
//! every signature (but those this node, leading, verified before it
//! proposed them) and commits through the ledger; snapshots are the
//! ledger's state as files, checked by replaying their events before they
//! are installed.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use openraft::storage::{RaftStateMachine, Snapshot};
use openraft::{
    BasicNode, Entry, EntryPayload, LogId, OptionalSend, RaftSnapshotBuilder, SnapshotMeta,
    StorageError, StorageIOError, StoredMembership,
};
use rocksdb::WriteBatch;

use crate::append::{Durability, Ledger, Receipts};
use crate::event::{admit_verified_here, VerifiedHere};
use crate::store::{cf, SNAPSHOT_REFUSED};
use crate::sync::lock_whole;

use super::meta::{
    io_read, io_write, json, meta_get, off_the_runtime, META_APPLIED, META_INSTALLING,
    META_MEMBERSHIP,
};
use super::types::{Applied, AppliedOutcome, NodeId, TypeConfig};

pub(super) type DumpedAt = (Option<LogId<NodeId>>, StoredMembership<NodeId, BasicNode>);

/// A snapshot's metadata and file.
pub(super) type StoredSnapshot = (SnapshotMeta<NodeId, BasicNode>, PathBuf);

/// The ledger as openraft's state machine.
#[derive(Clone)]
pub struct StateMachine {
    ledger: Arc<Ledger>,
    /// Files snapshots are being received into, removed once installed.
    receiving: Arc<Mutex<Vec<PathBuf>>>,
    /// The last snapshot built or installed (its file is on disk; after a
    /// restart openraft builds a new one when it needs one).
    current: Arc<Mutex<Option<StoredSnapshot>>>,
    /// Called after every applied batch of entries and installed snapshot
    /// (e.g. to wake subscribers of the log).
    on_applied: Option<Arc<dyn Fn() + Send + Sync>>,
    /// What it did since start.
    counters: Arc<Counters>,
    /// Whether this node leads now (set once its Raft runs: see
    /// [`StateMachine::leader_test`]).
    leads: LeaderTest,
    /// Signatures this node verified before proposing their events.
    verified: Arc<VerifiedHere>,
}

/// What a state machine did since the process started (for `/metrics`).
#[derive(Debug, Default)]
pub struct Counters {
    /// Events applied (committed through the log; not duplicates).
    pub events_applied: AtomicU64,
    /// Requests refused while applying committed entries.
    pub refused_at_apply: AtomicU64,
    /// Snapshots built.
    pub snapshots_built: AtomicU64,
    /// Snapshots received and installed.
    pub snapshots_installed: AtomicU64,
}

/// Tells whether this node leads.
pub type LeaderTest = Arc<std::sync::OnceLock<Box<dyn Fn() -> bool + Send + Sync>>>;

impl StateMachine {
    /// The state machine of `ledger`. Removes the snapshot files a crash
    /// left half built or half received.
    pub fn new(ledger: Arc<Ledger>) -> Self {
        // Files of builds and transfers a crash interrupted.
        if let Ok(entries) = std::fs::read_dir(snapshot_dir_of(&ledger)) {
            for path in entries.flatten().map(|entry| entry.path()) {
                if path.extension().is_some_and(|ext| ext == "tmp") {
                    let _ = std::fs::remove_file(path);
                } else if path
                    .file_name()
                    .is_some_and(|name| name.to_string_lossy().starts_with("checking-"))
                {
                    // The scratch ledgers of a snapshot check.
                    let _ = std::fs::remove_dir_all(path);
                }
            }
        }
        StateMachine {
            ledger,
            receiving: Arc::default(),
            current: Arc::default(),
            on_applied: None,
            counters: Arc::default(),
            leads: Arc::default(),
            verified: Arc::default(),
        }
    }

    /// Where the node puts the test of whether it leads, once its Raft
    /// runs (shared: set it after the state machine moved into openraft).
    /// Only the leader's apply answers proposals, so only its receipts
    /// reach authors: the other members do not compute the overlap
    /// warnings, which change no state. Until it is set, every member does.
    pub fn leader_test(&self) -> LeaderTest {
        Arc::clone(&self.leads)
    }

    /// Where the node's proposer notes the signatures it verified before
    /// proposing (shared, like [`StateMachine::leader_test`]): applying
    /// those entries, this node does not verify them again. Every other
    /// signature of an entry is verified at apply, on every member.
    pub fn verified_here(&self) -> Arc<VerifiedHere> {
        Arc::clone(&self.verified)
    }

    /// Calls `listener` after every applied batch of entries or installed snapshot.
    pub fn on_applied(mut self, listener: impl Fn() + Send + Sync + 'static) -> Self {
        self.on_applied = Some(Arc::new(listener));
        self
    }

    fn notify(&self) {
        if let Some(listener) = &self.on_applied {
            listener();
        }
    }

    /// What it did since start (shared: read it after the state machine
    /// moved into openraft).
    pub fn counters(&self) -> Arc<Counters> {
        Arc::clone(&self.counters)
    }

    /// Applies `entries` in one write batch: every request of every normal
    /// entry decoded and its signatures verified here (one batch
    /// verification for all, but for those this node verified before
    /// proposing: [`StateMachine::verified_here`]), effects staged in log order, and the last
    /// applied log id (and the newest membership) in the same batch. The
    /// batch is not synced: the entries are durable in the synced Raft log,
    /// and a crash that loses the write re-applies them from there.
    fn apply_entries(
        &self,
        entries: Vec<Entry<TypeConfig>>,
    ) -> Result<Vec<Applied>, StorageError<NodeId>> {
        let Some(last) = entries.last().map(|entry| entry.log_id) else {
            return Ok(Vec::new());
        };
        let chain = self.ledger.chain().clone();
        let mut meta: Vec<(&'static [u8], Vec<u8>)> = vec![(META_APPLIED, json(&Some(last)))];
        // Per entry: how many requests it carries (None: not a normal entry).
        let mut shape: Vec<Option<usize>> = Vec::with_capacity(entries.len());
        let mut envelopes = Vec::new();
        let mut times = Vec::new();
        for entry in entries {
            match entry.payload {
                EntryPayload::Blank => shape.push(None),
                EntryPayload::Membership(membership) => {
                    meta.retain(|(key, _)| *key != META_MEMBERSHIP);
                    meta.push((
                        META_MEMBERSHIP,
                        json(&StoredMembership::new(Some(entry.log_id), membership)),
                    ));
                    shape.push(None);
                }
                EntryPayload::Normal(proposal) => {
                    shape.push(Some(proposal.requests.len()));
                    times.push(proposal.committed_at_ms);
                    envelopes.extend(proposal.requests.into_iter().map(|request| request.events));
                }
            }
        }
        // Every node checks every signature itself: at apply, or (the
        // leader, for what it proposed) before proposing. The rule is
        // deterministic (see `signing::verify_signatures`): batch or one by
        // one, every node reaches the same verdict.
        let mut requests = admit_verified_here(&chain, envelopes, &self.verified).into_iter();
        let groups: Vec<_> = shape
            .iter()
            .flatten()
            .zip(times)
            .map(|(count, at)| (requests.by_ref().take(*count).collect(), at))
            .collect();
        let receipts = match self.leads.get() {
            Some(leads) if !leads() => Receipts::Untold,
            _ => Receipts::Told,
        };
        let mut outcomes = self
            .ledger
            .commit_groups(groups, meta, Durability::Unsynced, receipts)
            .map_err(|error| StorageIOError::apply(last, &error))?
            .into_iter();
        Ok(shape
            .into_iter()
            .map(|entry| match entry {
                None => Applied::default(),
                Some(_) => Applied {
                    outcomes: outcomes
                        .next()
                        .unwrap_or_default()
                        .into_iter()
                        .map(|outcome| match outcome {
                            Ok(receipts) => {
                                let new = receipts.iter().filter(|receipt| !receipt.duplicate).count();
                                self.counters
                                    .events_applied
                                    .fetch_add(new as u64, Ordering::Relaxed);
                                AppliedOutcome::Committed(receipts)
                            }
                            Err(rejection) => {
                                self.counters.refused_at_apply.fetch_add(1, Ordering::Relaxed);
                                tracing::warn!(
                                    applied_through = %last,
                                    reason = rejection.reason(),
                                    %rejection,
                                    "a request of a committed entry was refused at apply; nothing of it was written"
                                );
                                AppliedOutcome::Refused {
                                    reason: rejection.reason().to_owned(),
                                    message: rejection.to_string(),
                                    rejection: Some(Box::new(rejection)),
                                }
                            }
                        })
                        .collect(),
                },
            })
            .collect())
    }

    /// Where this node keeps snapshot files: next to its database.
    fn snapshot_dir(&self) -> Result<PathBuf, StorageError<NodeId>> {
        let dir = snapshot_dir_of(&self.ledger);
        std::fs::create_dir_all(&dir).map_err(io_write)?;
        Ok(dir)
    }

    /// The blocking part of installing a received snapshot `file` (see
    /// `install_snapshot`): rebuild it from its signed events as it is
    /// read (its hash checked at its end), replace the state from the
    /// checked state so written, publish that.
    fn install_from(
        &self,
        meta: &SnapshotMeta<NodeId, BasicNode>,
        mut file: std::fs::File,
    ) -> Result<(), StorageError<NodeId>> {
        let dir = self.snapshot_dir()?;
        // What is installed is rebuilt from the snapshot's signed events,
        // every signature and rule checked again: a leader cannot make this
        // node hold records its events do not give (a forged title, owner,
        // head).
        let checked = dir.join(format!("checked-{}.tmp", unique()));
        let scratch = dir.join(format!("checking-{}", unique()));
        match self.ledger.check_snapshot(&mut file, &scratch, &checked) {
            Ok(tip) => tracing::info!(
                position = tip.position.0,
                head = %tip.head,
                "a received snapshot was rebuilt from its signed events and checked"
            ),
            Err(error) => {
                if let Some(fault) = error.local_fault() {
                    // This node's own storage: the node's recovery
                    // (tansiq-node's `recovery`) reads the fault from the
                    // text (openraft keeps no more), so the text names it in
                    // the words that recovery reads, and carries nothing
                    // the leader chose (not the snapshot's name); the leader
                    // sends the snapshot again once the node is back.
                    tracing::error!(%error, ?fault, "could not check a received snapshot: this node's own storage failed, not the snapshot; nothing was installed");
                    let text = format!(
                        "this node's own storage failed ({}) while checking a received snapshot: {error}",
                        fault.words()
                    );
                    return Err(
                        StorageIOError::write_snapshot(None, &std::io::Error::other(text)).into(),
                    );
                }
                tracing::error!(%error, "refused a snapshot: it is damaged, or its events do not give the state it claims; nothing was installed");
                return Err(refused(meta, error));
            }
        }
        // The replacement names the checked file: it must outlive a power cut.
        std::fs::File::open(&dir)
            .and_then(|dir| dir.sync_all())
            .map_err(io_write)?;
        let finish = vec![
            (META_APPLIED.to_vec(), json(&meta.last_log_id)),
            (META_MEMBERSHIP.to_vec(), json(&meta.last_membership)),
            (META_INSTALLING.to_vec(), json(&None::<LogId<NodeId>>)),
        ];
        self.ledger
            .replace_state(&checked, finish)
            .map_err(io_write)?;
        self.publish(meta, &checked)?;
        Ok(())
    }

    /// Writes the ledger's state, every column family but the Raft log, from
    /// one consistent RocksDB snapshot, to `path` (synced); returns the
    /// applied log id and membership it reflects.
    pub(super) fn dump_state(&self, path: &Path) -> Result<DumpedAt, StorageError<NodeId>> {
        let store = self.ledger.store();
        // Never in the middle of a snapshot being installed.
        let snapshot = {
            let _whole = self.ledger.hold_state();
            store.db().snapshot()
        };
        let read = |key: &[u8]| -> Result<Option<Vec<u8>>, StorageError<NodeId>> {
            snapshot
                .get_cf(store.cf(cf::RAFT_META), key)
                .map_err(io_read)
        };
        let applied: Option<LogId<NodeId>> = match read(META_APPLIED)? {
            Some(bytes) => serde_json::from_slice(&bytes).map_err(io_read)?,
            None => None,
        };
        let membership: StoredMembership<NodeId, BasicNode> = match read(META_MEMBERSHIP)? {
            Some(bytes) => serde_json::from_slice(&bytes).map_err(io_read)?,
            None => StoredMembership::default(),
        };
        store.write_state(&snapshot, path).map_err(io_write)?;
        Ok((applied, membership))
    }

    /// Makes the finished file `written` the current snapshot: renamed to
    /// `<id>.snapshot`, opened, and every other finished snapshot removed.
    /// Returns it opened.
    ///
    /// All under the lock [`get_current_snapshot`] opens files with, so a
    /// file is never removed between choosing and opening it (an open
    /// handle, a snapshot being sent, still reads a removed file). Only
    /// finished snapshots are removed: a build or a transfer under way keeps
    /// its `.tmp` file (leftovers of a crash go when the node starts).
    ///
    /// [`get_current_snapshot`]: RaftStateMachine::get_current_snapshot
    fn publish(
        &self,
        meta: &SnapshotMeta<NodeId, BasicNode>,
        written: &Path,
    ) -> Result<std::fs::File, StorageError<NodeId>> {
        let dir = self.snapshot_dir()?;
        let keep = dir.join(format!("{}.snapshot", meta.snapshot_id));
        let mut current = self.current();
        std::fs::rename(written, &keep).map_err(io_write)?;
        let file = std::fs::File::open(&keep).map_err(io_read)?;
        for entry in std::fs::read_dir(&dir).map_err(io_read)?.flatten() {
            let path = entry.path();
            if path != keep && path.extension().is_some_and(|ext| ext == "snapshot") {
                let _ = std::fs::remove_file(path);
            }
        }
        *current = Some((meta.clone(), keep));
        Ok(file)
    }

    /// The current snapshot.
    fn current(&self) -> std::sync::MutexGuard<'_, Option<StoredSnapshot>> {
        lock_whole(&self.current)
    }
}

/// `<db>.snapshots`, beside the ledger's RocksDB directory.
pub(super) fn snapshot_dir_of(ledger: &Ledger) -> PathBuf {
    let mut dir = ledger.store().db().path().as_os_str().to_owned();
    dir.push(".snapshots");
    PathBuf::from(dir)
}

/// The error of a received snapshot refused for what is in it: its text
/// begins with [`SNAPSHOT_REFUSED`], so that nothing it quotes (the name
/// the leader gave it, its events' fields) reads as a fault of this node's
/// storage (`StorageFault::of_openraft_text`).
fn refused(
    meta: &SnapshotMeta<NodeId, BasicNode>,
    why: impl std::fmt::Display,
) -> StorageError<NodeId> {
    StorageIOError::read_snapshot(
        Some(meta.signature()),
        &std::io::Error::other(format!("{SNAPSHOT_REFUSED}: {why}")),
    )
    .into()
}

pub(super) fn snapshot_meta(
    applied: Option<LogId<NodeId>>,
    membership: StoredMembership<NodeId, BasicNode>,
) -> SnapshotMeta<NodeId, BasicNode> {
    SnapshotMeta {
        last_log_id: applied,
        last_membership: membership,
        snapshot_id: snapshot_id(applied),
    }
}

/// A snapshot's name, `{term}-{index}` of the last log id it holds: the
/// name of its file, and the only name a received snapshot may have.
fn snapshot_id(applied: Option<LogId<NodeId>>) -> String {
    format!(
        "{}-{}",
        applied.map_or(0, |id| id.leader_id.term),
        applied.map_or(0, |id| id.index)
    )
}

impl RaftSnapshotBuilder<TypeConfig> for StateMachine {
    async fn build_snapshot(&mut self) -> Result<Snapshot<TypeConfig>, StorageError<NodeId>> {
        let dir = self.snapshot_dir()?;
        let building = dir.join(format!("building-{}.tmp", unique()));
        // Streaming the whole state to a file: off the runtime.
        let this = self.clone();
        let (meta, file) = off_the_runtime(move || {
            let (applied, membership) = this.dump_state(&building)?;
            let meta = snapshot_meta(applied, membership);
            let file = this.publish(&meta, &building)?;
            Ok((meta, file))
        })
        .await?;
        self.counters
            .snapshots_built
            .fetch_add(1, Ordering::Relaxed);
        Ok(Snapshot {
            meta,
            snapshot: Box::new(tokio::fs::File::from_std(file)),
        })
    }
}

impl RaftStateMachine<TypeConfig> for StateMachine {
    type SnapshotBuilder = StateMachine;

    async fn applied_state(
        &mut self,
    ) -> Result<(Option<LogId<NodeId>>, StoredMembership<NodeId, BasicNode>), StorageError<NodeId>>
    {
        let applied: Option<Option<LogId<NodeId>>> = meta_get(&self.ledger, META_APPLIED)?;
        let membership = meta_get(&self.ledger, META_MEMBERSHIP)?.unwrap_or_default();
        Ok((applied.flatten(), membership))
    }

    async fn apply<I>(&mut self, entries: I) -> Result<Vec<Applied>, StorageError<NodeId>>
    where
        I: IntoIterator<Item = Entry<TypeConfig>> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        // Decoding, verifying the signatures and committing: off the runtime.
        let this = self.clone();
        let entries: Vec<_> = entries.into_iter().collect();
        let applied = off_the_runtime(move || this.apply_entries(entries)).await;
        self.notify();
        applied
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        self.clone()
    }

    async fn begin_receiving_snapshot(
        &mut self,
    ) -> Result<Box<tokio::fs::File>, StorageError<NodeId>> {
        let path = self
            .snapshot_dir()?
            .join(format!("receiving-{}.tmp", unique()));
        let file = tokio::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&path)
            .await
            .map_err(io_write)?;
        lock_whole(&self.receiving).push(path);
        Ok(Box::new(file))
    }

    /// Checks the received snapshot by replaying its signed events into a
    /// new store as the file is read (`Ledger::check_snapshot`; nothing of
    /// this node's state is written before it passes), then replaces the
    /// state from the state so rebuilt, in batches of a few MiB
    /// (crash-safe: see `Store::replace_state`), so that memory does not
    /// grow with the ledger. The rebuilt state's file becomes this node's
    /// current snapshot.
    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta<NodeId, BasicNode>,
        snapshot: Box<tokio::fs::File>,
    ) -> Result<(), StorageError<NodeId>> {
        // Its name becomes a file's: only the name this node would give it.
        let named = snapshot_id(meta.last_log_id);
        if meta.snapshot_id != named {
            let why = format!(
                "it is named {:?}, not {named:?} as its last log id gives",
                meta.snapshot_id
            );
            tracing::error!(%why, "refused a snapshot; nothing was installed");
            return Err(refused(meta, why));
        }
        // openraft may purge the log up to this snapshot before it is
        // installed: a restart after a failed installation must know (see
        // LogStore::settled_log_state).
        {
            let store = self.ledger.store();
            let mut batch = WriteBatch::default();
            batch.put_cf(
                store.cf(cf::RAFT_META),
                META_INSTALLING,
                json(&meta.last_log_id),
            );
            store.write_synced(batch).map_err(io_write)?;
        }
        let file = snapshot.into_std().await;
        let this = self.clone();
        let meta = meta.clone();
        // Copying, checking and replacing hundreds of MiB: off the runtime.
        let installed = off_the_runtime(move || this.install_from(&meta, file)).await;
        // Installed or not, the received file (as large as the ledger) goes:
        // after a full disk, the room it takes is what recovery waits for.
        for received in lock_whole(&self.receiving).drain(..) {
            let _ = std::fs::remove_file(received);
        }
        installed?;
        self.counters
            .snapshots_installed
            .fetch_add(1, Ordering::Relaxed);
        self.notify();
        Ok(())
    }

    async fn get_current_snapshot(
        &mut self,
    ) -> Result<Option<Snapshot<TypeConfig>>, StorageError<NodeId>> {
        // Opened under the lock: see `publish`.
        let opened = {
            let current = self.current();
            match current.as_ref() {
                None => None,
                Some((meta, path)) => {
                    Some((meta.clone(), std::fs::File::open(path).map_err(io_read)?))
                }
            }
        };
        Ok(opened.map(|(meta, file)| Snapshot {
            meta,
            snapshot: Box::new(tokio::fs::File::from_std(file)),
        }))
    }
}

/// A name part no other file of this process or an earlier one has.
pub(super) fn unique() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |since| since.as_nanos());
    format!("{nanos}-{}", NEXT.fetch_add(1, Ordering::Relaxed))
}
