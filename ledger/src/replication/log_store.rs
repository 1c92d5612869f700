//! openraft's log storage on the ledger's RocksDB (`raft_log`): an append
//! is written and synced before openraft is told it is flushed.

use std::fmt::Debug;
use std::ops::{Bound, RangeBounds};
use std::sync::Arc;

use openraft::storage::{LogFlushed, LogState, RaftLogStorage};
use openraft::{Entry, LogId, OptionalSend, RaftLogReader, StorageError, Vote};
use rocksdb::{Direction, IteratorMode, WriteBatch};
use serde::Serialize;

use crate::append::Ledger;

use super::meta::{
    io_read, io_write, json, meta_get, off_the_runtime, META_APPLIED, META_COMMITTED,
    META_INSTALLING, META_PURGED, META_VOTE,
};
use super::types::{NodeId, TypeConfig};
use crate::store::{cf, StoreError};

pub(super) type PurgedAndLast = (Option<LogId<NodeId>>, Option<LogId<NodeId>>);

/// The Raft log of one node, in its ledger's RocksDB.
#[derive(Clone)]
pub struct LogStore {
    ledger: Arc<Ledger>,
}

impl LogStore {
    /// The Raft log in `ledger`'s store.
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
        // The synced write waits for the disk: off the runtime.
        let this = self.clone();
        let result = off_the_runtime(move || this.write(batch)).await;
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

/// The first byte of a Raft log entry stored in binary; entries written
/// before (JSON) start with `{` and are still read.
const ENTRY_BINARY: u8 = 0x01;

pub(super) fn encode_entry(entry: &Entry<TypeConfig>) -> Result<Vec<u8>, StorageError<NodeId>> {
    postcard::to_extend(entry, vec![ENTRY_BINARY]).map_err(io_write)
}

pub(super) fn decode_entry(bytes: &[u8]) -> Result<Entry<TypeConfig>, StorageError<NodeId>> {
    match bytes.split_first() {
        Some((&ENTRY_BINARY, rest)) => postcard::from_bytes(rest).map_err(io_read),
        Some((b'{', _)) => serde_json::from_slice(bytes).map_err(io_read),
        _ => Err(io_read(StoreError::Corrupt(
            "a Raft log entry in no known encoding".into(),
        ))),
    }
}
