//! Replication's storage: openraft's log and state machine on the ledger's
//! own RocksDB.
//!
//! - The Raft log lives in the `raft_log` column family; vote, committed and
//!   purged log ids in `raft_meta`. An append is written **and synced**
//!   before openraft is told it is flushed.
//! - The state machine is the ledger: applying a normal entry decodes every
//!   request, **re-verifies every signature** (no node trusts the leader),
//!   and commits through [`Ledger::commit_group_with_meta`], which writes the
//!   applied log id and membership in the same synced batch as the effects —
//!   a crash never applies an entry twice or half.
//! - A snapshot is the ledger's whole state (every column family but the Raft
//!   log), read from one RocksDB snapshot and streamed to a file next to the
//!   database (`<db>.snapshots/`, format in `snapshot_file.rs`): building
//!   and sending one does not hold the ledger in memory. Installing one
//!   checks the file's hash while copying it, then replaces the state from
//!   the copy in batches of a few MiB, crash-safe (`Store::replace_state`).

// openraft's traits fix the error type (`StorageError`, large); helpers return it too.
#![allow(clippy::result_large_err)]

use std::fmt::Debug;
use std::io::{BufReader, Seek};
use std::ops::{Bound, RangeBounds};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use openraft::storage::{LogFlushed, LogState, RaftLogStorage, RaftStateMachine, Snapshot};
use openraft::{
    BasicNode, Entry, EntryPayload, LogId, OptionalSend, RaftLogReader, RaftSnapshotBuilder,
    SnapshotMeta, StorageError, StorageIOError, StoredMembership, Vote,
};
use rocksdb::{Direction, IteratorMode, WriteBatch};
use serde::{Deserialize, Serialize};
use tansiq_proto::v1 as pb;

use crate::append::{decode_request, verify_requests, Durability, Ledger, Receipt};
use crate::reject::Rejection;
use crate::store::{cf, StoreError};

pub type NodeId = u64;

openraft::declare_raft_types!(
    /// Tansiq's Raft types: entries carry client requests of signed events.
    pub TypeConfig:
        D = Proposal,
        R = Applied,
        NodeId = NodeId,
        Node = BasicNode,
        Entry = Entry<TypeConfig>,
        SnapshotData = tokio::fs::File,
        AsyncRuntime = openraft::TokioRuntime,
);

/// A Raft entry's payload: client requests (each atomic) and the commit time
/// the leader chose, so that every node stamps the events the same.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Proposal {
    pub committed_at_ms: i64,
    #[serde(with = "requests_as_protobuf")]
    pub requests: Vec<pb::SubmitBatchRequest>,
}

/// The requests of a proposal: in binary forms (the Raft log, node-to-node
/// messages) each is its protobuf bytes, as the client sent them; in JSON
/// (Raft log entries written before the binary form) the proto3 JSON
/// mapping, as before.
mod requests_as_protobuf {
    use prost::Message;
    use serde::de::Error;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};
    use tansiq_proto::v1 as pb;

    pub fn serialize<S: Serializer>(
        requests: &[pb::SubmitBatchRequest],
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        if serializer.is_human_readable() {
            return requests.serialize(serializer);
        }
        serializer.collect_seq(
            requests
                .iter()
                .map(|request| serde_bytes::ByteBuf::from(request.encode_to_vec())),
        )
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Vec<pb::SubmitBatchRequest>, D::Error> {
        if deserializer.is_human_readable() {
            return Vec::<pb::SubmitBatchRequest>::deserialize(deserializer);
        }
        Vec::<serde_bytes::ByteBuf>::deserialize(deserializer)?
            .iter()
            .map(|bytes| pb::SubmitBatchRequest::decode(bytes.as_slice()).map_err(D::Error::custom))
            .collect()
    }
}

/// Raft log entries and node-to-node Raft messages in binary: postcard (a
/// compact serde form). Messages are openraft's own request and result types.
pub fn encode_message<T: Serialize>(value: &T) -> Result<Vec<u8>, postcard::Error> {
    postcard::to_stdvec(value)
}

pub fn decode_message<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, postcard::Error> {
    postcard::from_bytes(bytes)
}

/// The first byte of a Raft log entry stored in binary; entries written
/// before (JSON) start with `{` and are still read.
const ENTRY_BINARY: u8 = 0x01;

fn encode_entry(entry: &Entry<TypeConfig>) -> Result<Vec<u8>, StorageError<NodeId>> {
    postcard::to_extend(entry, vec![ENTRY_BINARY]).map_err(io_write)
}

fn decode_entry(bytes: &[u8]) -> Result<Entry<TypeConfig>, StorageError<NodeId>> {
    match bytes.split_first() {
        Some((&ENTRY_BINARY, rest)) => decode_message(rest).map_err(io_read),
        Some((b'{', _)) => serde_json::from_slice(bytes).map_err(io_read),
        _ => Err(io_read(StoreError::Corrupt(
            "a Raft log entry in no known encoding".into(),
        ))),
    }
}

/// What applying an entry produced: one outcome per request of the proposal.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Applied {
    pub outcomes: Vec<AppliedOutcome>,
}

/// One request's outcome.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub enum AppliedOutcome {
    Committed(Vec<Receipt>),
    Refused {
        reason: String,
        message: String,
        /// The typed rejection, on the node that applied it (not serialised).
        #[serde(skip)]
        rejection: Option<Box<Rejection>>,
    },
}

const META_VOTE: &[u8] = b"vote";
const META_COMMITTED: &[u8] = b"committed";
const META_PURGED: &[u8] = b"last_purged";
/// The last log id of a snapshot whose installation began, until it ends
/// (JSON `null` then).
const META_INSTALLING: &[u8] = b"installing_snapshot";
const META_APPLIED: &[u8] = b"applied";
const META_MEMBERSHIP: &[u8] = b"membership";

fn io_read(error: impl std::error::Error + 'static) -> StorageError<NodeId> {
    StorageIOError::read(&error).into()
}

fn io_write(error: impl std::error::Error + 'static) -> StorageError<NodeId> {
    StorageIOError::write(&error).into()
}

fn meta_get<T: serde::de::DeserializeOwned>(
    ledger: &Ledger,
    key: &[u8],
) -> Result<Option<T>, StorageError<NodeId>> {
    let Some(bytes) = ledger.store().get_cf(cf::RAFT_META, key).map_err(io_read)? else {
        return Ok(None);
    };
    serde_json::from_slice(&bytes).map(Some).map_err(io_read)
}

fn json<T: Serialize>(value: &T) -> Vec<u8> {
    serde_json::to_vec(value).expect("invariant: Raft metadata serialises to JSON")
}

/// The last purged log id and the last log id.
type PurgedAndLast = (Option<LogId<NodeId>>, Option<LogId<NodeId>>);

/// The Raft log of one node, in its ledger's RocksDB.
#[derive(Clone)]
pub struct LogStore {
    ledger: Arc<Ledger>,
}

impl LogStore {
    pub fn new(ledger: Arc<Ledger>) -> Self {
        LogStore { ledger }
    }

    fn write(&self, batch: WriteBatch) -> Result<(), StorageError<NodeId>> {
        self.ledger.store().write_synced(batch).map_err(io_write)
    }

    fn put_meta<T: Serialize>(&self, key: &[u8], value: &T) -> Result<(), StorageError<NodeId>> {
        let mut batch = WriteBatch::default();
        batch.put_cf(self.ledger.store().cf(cf::RAFT_META), key, json(value));
        self.write(batch)
    }

    /// The state machine's durably applied log id.
    fn applied(&self) -> Result<Option<LogId<NodeId>>, StorageError<NodeId>> {
        Ok(meta_get::<Option<LogId<NodeId>>>(&self.ledger, META_APPLIED)?.flatten())
    }

    /// Whether a snapshot installation began and did not finish (the
    /// marker `install_snapshot` writes first and its last batch clears),
    /// leaving the log purged past the applied state.
    fn unfinished_install(&self) -> Result<Option<LogId<NodeId>>, StorageError<NodeId>> {
        let installing: Option<LogId<NodeId>> =
            meta_get::<Option<LogId<NodeId>>>(&self.ledger, META_INSTALLING)?.flatten();
        let purged: Option<LogId<NodeId>> = meta_get(&self.ledger, META_PURGED)?;
        let applied = self.applied()?;
        let past =
            purged.is_some_and(|purged| applied.is_none_or(|applied| purged.index > applied.index));
        Ok(installing.filter(|_| past))
    }

    /// The log as a restarting node must present it to openraft.
    ///
    /// openraft purges the log up to a received snapshot as soon as it
    /// starts installing it, before the state machine holds it. When the
    /// installation then fails (a snapshot refused by its check, a full
    /// disk), the node restarted with its log purged past its state, and
    /// openraft stopped it at every start (`purge_upto <=
    /// snapshot_last_log_id`; found by bench/soak.sh). Then the log is
    /// taken back to the applied state: purged there, without the entries
    /// after it (the leader sends the snapshot, and what follows, again).
    fn settled_log_state(&self) -> Result<PurgedAndLast, StorageError<NodeId>> {
        let mut purged: Option<LogId<NodeId>> = meta_get(&self.ledger, META_PURGED)?;
        if let Some(installing) = self.unfinished_install()? {
            let applied = self.applied()?;
            tracing::warn!(
                snapshot = %installing,
                purged = ?purged,
                applied = ?applied,
                "a snapshot installation did not finish: the Raft log goes back to the applied state (the leader sends the snapshot again)"
            );
            let store = self.ledger.store();
            let family = store.cf(cf::RAFT_META);
            let mut batch = WriteBatch::default();
            batch.delete_range_cf(
                store.cf(cf::RAFT_LOG),
                0u64.to_be_bytes(),
                u64::MAX.to_be_bytes(),
            );
            match applied {
                Some(applied) => batch.put_cf(family, META_PURGED, json(&applied)),
                None => batch.delete_cf(family, META_PURGED),
            }
            batch.put_cf(family, META_COMMITTED, json(&applied));
            batch.put_cf(family, META_INSTALLING, json(&None::<LogId<NodeId>>));
            self.write(batch)?;
            purged = applied;
        }
        let last = self.last_entry()?.map(|entry| entry.log_id).or(purged);
        Ok((purged, last))
    }

    fn last_entry(&self) -> Result<Option<Entry<TypeConfig>>, StorageError<NodeId>> {
        let store = self.ledger.store();
        let mut iter = store
            .db()
            .iterator_cf(store.cf(cf::RAFT_LOG), IteratorMode::End);
        match iter.next() {
            Some(item) => {
                let (_, value) = item.map_err(io_read)?;
                decode_entry(&value).map(Some)
            }
            None => Ok(None),
        }
    }
}

impl RaftLogReader<TypeConfig> for LogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Entry<TypeConfig>>, StorageError<NodeId>> {
        let start = match range.start_bound() {
            Bound::Included(n) => *n,
            Bound::Excluded(n) => n.saturating_add(1),
            Bound::Unbounded => 0,
        };
        let store = self.ledger.store();
        let iter = store.db().iterator_cf(
            store.cf(cf::RAFT_LOG),
            IteratorMode::From(&start.to_be_bytes(), Direction::Forward),
        );
        let mut entries = Vec::new();
        for item in iter {
            let (key, value) = item.map_err(io_read)?;
            let index = u64::from_be_bytes(
                key.as_ref()
                    .try_into()
                    .map_err(|_| io_read(StoreError::Corrupt("raft log key".into())))?,
            );
            if !range.contains(&index) {
                break;
            }
            entries.push(decode_entry(&value)?);
        }
        Ok(entries)
    }
}

impl RaftLogStorage<TypeConfig> for LogStore {
    type LogReader = LogStore;

    async fn get_log_state(&mut self) -> Result<LogState<TypeConfig>, StorageError<NodeId>> {
        let (last_purged_log_id, last_log_id) = self.settled_log_state()?;
        Ok(LogState {
            last_purged_log_id,
            last_log_id,
        })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &Vote<NodeId>) -> Result<(), StorageError<NodeId>> {
        self.put_meta(META_VOTE, vote)
    }

    async fn read_vote(&mut self) -> Result<Option<Vote<NodeId>>, StorageError<NodeId>> {
        meta_get(&self.ledger, META_VOTE)
    }

    async fn save_committed(
        &mut self,
        committed: Option<LogId<NodeId>>,
    ) -> Result<(), StorageError<NodeId>> {
        self.put_meta(META_COMMITTED, &committed)
    }

    async fn read_committed(&mut self) -> Result<Option<LogId<NodeId>>, StorageError<NodeId>> {
        // An unfinished snapshot installation is settled first (it resets
        // committed to the applied state).
        self.settled_log_state()?;
        Ok(meta_get::<Option<LogId<NodeId>>>(&self.ledger, META_COMMITTED)?.flatten())
    }

    /// Writes the entries in one batch and syncs it before reporting them flushed.
    async fn append<I>(
        &mut self,
        entries: I,
        callback: LogFlushed<TypeConfig>,
    ) -> Result<(), StorageError<NodeId>>
    where
        I: IntoIterator<Item = Entry<TypeConfig>> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let family = self.ledger.store().cf(cf::RAFT_LOG);
        let mut batch = WriteBatch::default();
        for entry in entries {
            batch.put_cf(
                family,
                entry.log_id.index.to_be_bytes(),
                encode_entry(&entry)?,
            );
        }
        let result = self.write(batch);
        callback.log_io_completed(
            result
                .as_ref()
                .map(|_| ())
                .map_err(|error| std::io::Error::other(error.to_string())),
        );
        result
    }

    async fn truncate(&mut self, log_id: LogId<NodeId>) -> Result<(), StorageError<NodeId>> {
        let mut batch = WriteBatch::default();
        batch.delete_range_cf(
            self.ledger.store().cf(cf::RAFT_LOG),
            log_id.index.to_be_bytes(),
            u64::MAX.to_be_bytes(),
        );
        // delete_range's end is exclusive.
        batch.delete_cf(self.ledger.store().cf(cf::RAFT_LOG), u64::MAX.to_be_bytes());
        self.write(batch)
    }

    async fn purge(&mut self, log_id: LogId<NodeId>) -> Result<(), StorageError<NodeId>> {
        let store = self.ledger.store();
        let mut batch = WriteBatch::default();
        batch.put_cf(store.cf(cf::RAFT_META), META_PURGED, json(&log_id));
        batch.delete_range_cf(
            store.cf(cf::RAFT_LOG),
            0u64.to_be_bytes(),
            (log_id.index + 1).to_be_bytes(),
        );
        self.write(batch)
    }
}

/// What a state dump reflects: the applied log id and membership.
type DumpedAt = (Option<LogId<NodeId>>, StoredMembership<NodeId, BasicNode>);

/// A snapshot's metadata and file.
type StoredSnapshot = (SnapshotMeta<NodeId, BasicNode>, PathBuf);

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
    /// Requests refused while applying committed entries, since start.
    refused: Arc<AtomicU64>,
}

impl StateMachine {
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
            refused: Arc::default(),
        }
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

    pub fn ledger(&self) -> &Arc<Ledger> {
        &self.ledger
    }

    /// The count of requests refused at apply (shared: read it after the
    /// state machine moved into openraft).
    pub fn refused_counter(&self) -> Arc<AtomicU64> {
        Arc::clone(&self.refused)
    }

    /// Applies `entries` in one write batch: every request of every normal
    /// entry decoded and its signatures verified here (one batch
    /// verification for all), effects staged in log order, and the last
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
        let mut requests = Vec::new();
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
                    requests.extend(
                        proposal
                            .requests
                            .into_iter()
                            .map(|request| decode_request(&chain, request.events)),
                    );
                }
            }
        }
        // Every node checks every signature itself. The rule is
        // deterministic (see `signing::verify_signatures`): batch or one by
        // one, every node reaches the same verdict.
        verify_requests(&chain, &mut requests);
        let mut requests = requests.into_iter();
        let groups: Vec<_> = shape
            .iter()
            .flatten()
            .zip(times)
            .map(|(count, at)| (requests.by_ref().take(*count).collect(), at))
            .collect();
        let mut outcomes = self
            .ledger
            .commit_groups(groups, meta, Durability::Unsynced)
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
                            Ok(receipts) => AppliedOutcome::Committed(receipts),
                            Err(rejection) => {
                                self.refused.fetch_add(1, Ordering::Relaxed);
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

    /// Writes the ledger's state, every column family but the Raft log, from
    /// one consistent RocksDB snapshot, to `path` (synced); returns the
    /// applied log id and membership it reflects.
    fn dump_state(&self, path: &Path) -> Result<DumpedAt, StorageError<NodeId>> {
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

    /// The current snapshot; every change is one assignment, so a poisoned
    /// lock is whole.
    fn current(&self) -> std::sync::MutexGuard<'_, Option<StoredSnapshot>> {
        self.current
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// `<db>.snapshots`, beside the ledger's RocksDB directory.
fn snapshot_dir_of(ledger: &Ledger) -> PathBuf {
    let mut dir = ledger.store().db().path().as_os_str().to_owned();
    dir.push(".snapshots");
    PathBuf::from(dir)
}

fn snapshot_meta(
    applied: Option<LogId<NodeId>>,
    membership: StoredMembership<NodeId, BasicNode>,
) -> SnapshotMeta<NodeId, BasicNode> {
    SnapshotMeta {
        last_log_id: applied,
        last_membership: membership,
        snapshot_id: format!(
            "{}-{}",
            applied.map_or(0, |id| id.leader_id.term),
            applied.map_or(0, |id| id.index)
        ),
    }
}

impl RaftSnapshotBuilder<TypeConfig> for StateMachine {
    async fn build_snapshot(&mut self) -> Result<Snapshot<TypeConfig>, StorageError<NodeId>> {
        let dir = self.snapshot_dir()?;
        let building = dir.join(format!("building-{}.tmp", unique()));
        let (applied, membership) = self.dump_state(&building)?;
        let meta = snapshot_meta(applied, membership);
        let file = self.publish(&meta, &building)?;
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
        let applied = self.apply_entries(entries.into_iter().collect());
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
        if let Ok(mut receiving) = self.receiving.lock() {
            receiving.push(path);
        }
        Ok(Box::new(file))
    }

    /// Copies the received snapshot into this node's snapshot directory,
    /// checking its hash, before anything is written; then replaces the
    /// state from that copy in batches of a few MiB (crash-safe: see
    /// `Store::replace_state`), so that memory does not grow with the
    /// ledger. The copy becomes this node's current snapshot.
    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta<NodeId, BasicNode>,
        snapshot: Box<tokio::fs::File>,
    ) -> Result<(), StorageError<NodeId>> {
        let damaged = |error: std::io::Error| -> StorageError<NodeId> {
            StorageIOError::read_snapshot(Some(meta.signature()), &error).into()
        };
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
        let mut file = snapshot.into_std().await;
        file.rewind().map_err(damaged)?;
        let dir = self.snapshot_dir()?;
        let copying = dir.join(format!("installing-{}.tmp", unique()));
        let mut copy = crate::snapshot_file::Writer::create(&copying).map_err(io_write)?;
        crate::snapshot_file::read_pairs(BufReader::new(file), |family, key, value| {
            crate::store::state_family(family)?;
            copy.put(family, key, value)
        })
        .map_err(|error| {
            // Nothing was written; the partial copy goes.
            let _ = std::fs::remove_file(&copying);
            damaged(error)
        })?;
        copy.finish_file().map_err(io_write)?;
        // What is installed is rebuilt from the snapshot's signed events,
        // every signature and rule checked again: a leader cannot make this
        // node hold records its events do not give (a forged title, owner,
        // head). Off the async workers: a large ledger takes a while.
        let checked = dir.join(format!("checked-{}.tmp", unique()));
        let scratch = dir.join(format!("checking-{}", unique()));
        let (ledger, received, out) = (Arc::clone(&self.ledger), copying.clone(), checked.clone());
        let verdict =
            tokio::task::spawn_blocking(move || ledger.check_snapshot(&received, &scratch, &out))
                .await
                .map_err(|error| io_write(std::io::Error::other(error)))?;
        let _ = std::fs::remove_file(&copying);
        match verdict {
            Ok(tip) => tracing::info!(
                position = tip.position.0,
                head = %tip.head,
                "a received snapshot was rebuilt from its signed events and checked"
            ),
            Err(error) => {
                tracing::error!(%error, "refused a snapshot: its events do not give the state it claims; nothing was installed");
                return Err(damaged(std::io::Error::other(error.to_string())));
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
        if let Ok(mut receiving) = self.receiving.lock() {
            for received in receiving.drain(..) {
                let _ = std::fs::remove_file(received);
            }
        }
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
fn unique() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |since| since.as_nanos());
    format!("{nanos}-{}", NEXT.fetch_add(1, Ordering::Relaxed))
}

#[cfg(test)]
mod tests {
    use super::*;
    use openraft::testing::log_id;
    use prost::Message;

    fn request() -> pb::SubmitBatchRequest {
        pb::SubmitBatchRequest {
            events: vec![pb::SignedEvent {
                body: vec![1, 2, 3, 250, 0, 7],
                signature: vec![9; 64],
            }],
        }
    }

    fn normal_entry(index: u64) -> Entry<TypeConfig> {
        Entry {
            log_id: log_id(1, 1, index),
            payload: EntryPayload::Normal(Proposal {
                committed_at_ms: 1_767_225_600_000,
                requests: vec![request(), pb::SubmitBatchRequest::default()],
            }),
        }
    }

    fn ledger(dir: &Path) -> Arc<Ledger> {
        let genesis = crate::genesis::Genesis::new_chain(
            "tansiq-raft-encoding",
            &crate::ids::OrgId::parse("ministry").expect("org id"),
            pb::Names {
                latin: "Ministry".into(),
                arabic: String::new(),
            },
            &[crate::signing::KeyPair::from_seed([4; 32]).public()],
            0,
        )
        .expect("genesis");
        Arc::new(Ledger::open(dir, Some(&genesis)).expect("open ledger"))
    }

    #[test]
    fn a_read_that_overlaps_a_state_replacement_is_refused() {
        let dir = tempfile::tempdir().expect("temporary directory");
        let ledger = ledger(&dir.path().join("db"));
        let file = dir.path().join("own-state.snapshot");
        StateMachine::new(Arc::clone(&ledger))
            .dump_state(&file)
            .expect("dump the state");
        let before = ledger.read(Ledger::tip).expect("a read alone is answered");

        let overlapped = ledger.read(|ledger| {
            ledger.replace_state(&file, Vec::new())?;
            ledger.tip()
        });

        assert!(
            matches!(overlapped, Err(StoreError::StateBeingReplaced)),
            "{overlapped:?}"
        );
        assert_eq!(ledger.read(Ledger::tip).expect("answered again"), before);

        // A replacement that fails part way (the file damaged since it was
        // checked) leaves the state half replaced: reads stay refused.
        let mut bytes = std::fs::read(&file).expect("read the file");
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        std::fs::write(&file, bytes).expect("damage the file");
        assert!(ledger.replace_state(&file, Vec::new()).is_err());
        assert!(matches!(
            ledger.read(Ledger::tip),
            Err(StoreError::StateBeingReplaced)
        ));
    }

    /// Rewrites snapshot `from` into `to`, changing each pair `edit` changes.
    fn forge(from: &Path, to: &Path, mut edit: impl FnMut(&str, &[u8], &mut Vec<u8>)) {
        let mut writer = crate::snapshot_file::Writer::create(to).expect("create");
        let file = std::fs::File::open(from).expect("open the snapshot");
        crate::snapshot_file::read_pairs(BufReader::new(file), |family, key, value| {
            let mut value = value.to_vec();
            edit(cf::STATE[family as usize], key, &mut value);
            writer.put(family, key, &value)
        })
        .expect("read the snapshot");
        writer.finish_file().expect("finish");
    }

    /// A leader (or anyone who can reach InstallSnapshot) sends a snapshot
    /// whose file is whole (its BLAKE3 trailer recomputed) but forged: a
    /// registry record changed, or an event's bytes changed. The node
    /// installs only what the snapshot's signed events give: the forged
    /// record never appears, and forged events are refused, changing nothing.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_forged_snapshot_installs_nothing_its_events_do_not_give() {
        let dir = tempfile::tempdir().expect("temporary directory");
        let key = crate::signing::KeyPair::from_seed([4; 32]);
        let source = ledger(&dir.path().join("source"));
        let mut ministry = crate::author::Author::new(
            source.chain().clone(),
            crate::ids::OrgId::parse("ministry").expect("org id"),
            key,
            0,
            None,
        );
        let (event, _) = ministry.sign(
            pb::event_body::Kind::MunicipalityRegistered(pb::MunicipalityRegistered {
                pcode: "LY01".into(),
                admin_level: 1,
                country: "LY".into(),
                name: Some(pb::Names {
                    latin: "Tripoli".into(),
                    arabic: String::new(),
                }),
                ..Default::default()
            }),
            0,
        );
        let mut requests = vec![crate::append::decode_request(source.chain(), vec![event])];
        crate::append::verify_requests(source.chain(), &mut requests);
        source
            .commit_group(requests, 1_767_225_600_000)
            .expect("commit");
        let honest = dir.path().join("honest.snapshot");
        StateMachine::new(Arc::clone(&source))
            .dump_state(&honest)
            .expect("dump the state");
        let meta = snapshot_meta(Some(log_id(1, 1, 5)), StoredMembership::default());

        // A forged registry record: installed as the events give it.
        let forged_record = dir.path().join("forged-record.snapshot");
        forge(&honest, &forged_record, |family, key, value| {
            if family == cf::MUNICIPALITIES && key == b"LY01" {
                let text = String::from_utf8(value.clone()).expect("JSON");
                *value = text.replace("Tripoli", "FORGED").into_bytes();
                assert_ne!(&text.into_bytes(), value, "the test forged the record");
            }
        });
        let follower = ledger(&dir.path().join("follower"));
        let mut machine = StateMachine::new(Arc::clone(&follower));
        machine
            .install_snapshot(
                &meta,
                Box::new(tokio::fs::File::open(&forged_record).await.expect("open")),
            )
            .await
            .expect("the events are honest");
        let installed = follower
            .store()
            .municipality("LY01")
            .expect("read")
            .expect("registered");
        assert_eq!(installed.name_latin, "Tripoli");
        assert_eq!(follower.tip().expect("tip"), source.tip().expect("tip"));

        // A forged event (its body changed, the signature kept): refused,
        // the follower's state as it was.
        let forged_event = dir.path().join("forged-event.snapshot");
        forge(&honest, &forged_event, |family, _, value| {
            if family == cf::EVENTS {
                let at = value
                    .windows(7)
                    .position(|window| window == b"Tripoli")
                    .expect("the event holds the name");
                value[at..at + 7].copy_from_slice(b"Tripolx");
            }
        });
        let other = ledger(&dir.path().join("other"));
        let before = other.tip().expect("tip");
        let refused = StateMachine::new(Arc::clone(&other))
            .install_snapshot(
                &meta,
                Box::new(tokio::fs::File::open(&forged_event).await.expect("open")),
            )
            .await;
        assert!(refused.is_err(), "a forged event was installed");
        assert_eq!(other.tip().expect("tip"), before);
        assert!(other.store().municipality("LY01").expect("read").is_none());
    }

    /// What a node restarting after a snapshot installation that failed
    /// (refused, or a full disk) presents to openraft: openraft had purged
    /// the log up to the snapshot, and the leader had sent entries after
    /// it. The log goes back to the applied state, committed too; a
    /// finished installation, or a purge behind the applied state, is left
    /// as it is.
    #[tokio::test]
    async fn a_failed_snapshot_installation_leaves_a_log_openraft_can_start_from() {
        let dir = tempfile::tempdir().expect("temporary directory");
        let ledger = ledger(dir.path());
        let store = ledger.store();
        let mut log = LogStore::new(Arc::clone(&ledger));
        let blank = |index: u64| Entry::<TypeConfig> {
            log_id: log_id(1, 1, index),
            payload: EntryPayload::Blank,
        };
        let write_entries = |indexes: std::ops::RangeInclusive<u64>| {
            let mut batch = WriteBatch::default();
            for index in indexes {
                batch.put_cf(
                    store.cf(cf::RAFT_LOG),
                    index.to_be_bytes(),
                    encode_entry(&blank(index)).expect("encode"),
                );
            }
            store.write_synced(batch).expect("write");
        };
        let set_meta = |key: &[u8], value: Vec<u8>| {
            let mut batch = WriteBatch::default();
            batch.put_cf(store.cf(cf::RAFT_META), key, value);
            store.write_synced(batch).expect("write");
        };
        write_entries(1..=3);
        set_meta(META_APPLIED, json(&Some(log_id(1, 1, 3))));
        // A snapshot through index 10 arrives: its installation begins,
        // openraft purges, the leader sends what follows.
        set_meta(META_INSTALLING, json(&Some(log_id(1, 1, 10))));
        log.purge(log_id(1, 1, 10)).await.expect("purge");
        write_entries(11..=12);
        set_meta(META_COMMITTED, json(&Some(log_id(1, 1, 12))));
        // The installation failed; the node restarts.
        assert_eq!(
            log.read_committed().await.expect("committed"),
            Some(log_id(1, 1, 3))
        );
        let state = log.get_log_state().await.expect("log state");
        assert_eq!(state.last_purged_log_id, Some(log_id(1, 1, 3)));
        assert_eq!(state.last_log_id, Some(log_id(1, 1, 3)));

        // Installed this time (its last batch applies it and clears the
        // marker): the log goes on after the snapshot.
        set_meta(META_INSTALLING, json(&Some(log_id(1, 1, 10))));
        log.purge(log_id(1, 1, 10)).await.expect("purge");
        set_meta(META_APPLIED, json(&Some(log_id(1, 1, 10))));
        set_meta(META_INSTALLING, json(&None::<LogId<NodeId>>));
        write_entries(11..=12);
        set_meta(META_COMMITTED, json(&Some(log_id(1, 1, 12))));
        assert_eq!(
            log.read_committed().await.expect("committed"),
            Some(log_id(1, 1, 12))
        );
        let state = log.get_log_state().await.expect("log state");
        assert_eq!(state.last_purged_log_id, Some(log_id(1, 1, 10)));
        assert_eq!(state.last_log_id, Some(log_id(1, 1, 12)));
    }

    #[tokio::test]
    async fn log_entries_written_as_json_before_the_binary_form_are_still_read() {
        let dir = tempfile::tempdir().expect("temporary directory");
        let ledger = ledger(dir.path());
        let (old, new) = (normal_entry(1), normal_entry(2));
        let store = ledger.store();
        let mut batch = WriteBatch::default();
        let family = store.cf(cf::RAFT_LOG);
        let old_json = serde_json::to_vec(&old).expect("JSON");
        assert!(old_json.starts_with(b"{\"log_id\""), "the old form is JSON");
        batch.put_cf(family, 1u64.to_be_bytes(), old_json);
        batch.put_cf(
            family,
            2u64.to_be_bytes(),
            encode_entry(&new).expect("encode"),
        );
        store.write_synced(batch).expect("write");
        let read = LogStore::new(Arc::clone(&ledger))
            .try_get_log_entries(1..3)
            .await
            .expect("read both forms");
        assert_eq!(read, vec![old, new.clone()]);

        // The binary form carries each request as its protobuf bytes.
        let binary = encode_entry(&new).expect("encode");
        let protobuf = request().encode_to_vec();
        assert!(binary.windows(protobuf.len()).any(|w| w == protobuf));
        assert!(binary.len() < serde_json::to_vec(&new).expect("JSON").len() / 2);
        // Neither form: refused, not misread.
        assert!(decode_entry(b"\x07garbage").is_err());
        assert!(decode_entry(&binary[..binary.len() - 3]).is_err());
    }
}
