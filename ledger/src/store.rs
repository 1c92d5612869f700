//! RocksDB storage: the log, the events as received, the key chains, the
//! registries and the equivocation evidence. One column family per concern;
//! everything a commit group changes goes into one `WriteBatch`, synced.

use std::io::BufReader;
use std::path::{Path, PathBuf};

use prost::Message;
use rocksdb::{ColumnFamilyDescriptor, IteratorMode, Options, WriteBatch, WriteOptions, DB};
use serde::{Deserialize, Serialize};
use tansiq_proto::v1 as pb;

use crate::ids::{EventId, HeadHash, LogPosition, PublicKeyBytes};

/// Column families. Names are part of the on-disk format.
pub mod cf {
    pub const META: &str = "meta";
    pub const LOG: &str = "log";
    pub const EVENTS: &str = "events";
    pub const KEYS: &str = "keys";
    pub const KEY_SEQUENCE: &str = "key_sequence";
    pub const ORGS: &str = "orgs";
    pub const MUNICIPALITIES: &str = "municipalities";
    pub const PROJECTS: &str = "projects";
    pub const EVIDENCE: &str = "evidence";
    pub const PROJECT_VERSIONS: &str = "project_versions";
    pub const PROJECT_EVENTS: &str = "project_events";
    pub const COVERAGE: &str = "coverage";
    pub const NEEDS: &str = "needs";
    pub const POLICIES: &str = "policies";
    pub const REVIEWS: &str = "reviews";
    /// Raft's log entries (index → entry) and its vote, committed and purged
    /// log ids, applied log id and membership (see `crate::raft`).
    pub const RAFT_LOG: &str = "raft_log";
    pub const RAFT_META: &str = "raft_meta";
    /// A donor site's outbox: requests accepted while the leader was out of
    /// reach (see `crate::outbox`). Local to the node, never replicated.
    pub const OUTBOX: &str = "outbox";
    /// The column families a Raft snapshot carries: the ledger's whole state.
    pub const STATE: &[&str] = &[
        META,
        LOG,
        EVENTS,
        KEYS,
        KEY_SEQUENCE,
        ORGS,
        MUNICIPALITIES,
        PROJECTS,
        EVIDENCE,
        PROJECT_VERSIONS,
        PROJECT_EVENTS,
        COVERAGE,
        NEEDS,
        POLICIES,
        REVIEWS,
    ];
    /// The column families that hold projections (rebuildable from the log).
    pub const PROJECTIONS: &[&str] = &[
        ORGS,
        MUNICIPALITIES,
        PROJECTS,
        PROJECT_VERSIONS,
        PROJECT_EVENTS,
        COVERAGE,
        NEEDS,
        POLICIES,
        REVIEWS,
    ];
    /// The node's own families: the Raft log and metadata, the outbox.
    pub const LOCAL: &[&str] = &[RAFT_LOG, RAFT_META, OUTBOX];

    /// Every column family: the state, then the node's own.
    pub fn all() -> impl Iterator<Item = &'static str> {
        STATE.iter().chain(LOCAL).copied()
    }
}

const META_GENESIS: &[u8] = b"genesis";
const META_TIP: &[u8] = b"tip";

/// RAFT_META key present while a snapshot replaces the state (see
/// [`Store::replace_state`]): its value is a [`Replacing`].
const STATE_REPLACING: &[u8] = b"state_replacing";

/// The state's column families are replaced in write batches of about this
/// size: installing a snapshot holds this much of it in memory, whatever the
/// size of the ledger.
const REPLACE_BATCH_BYTES: usize = 4 << 20;

/// An unfinished state replacement: the snapshot file it reads and the
/// RAFT_META pairs its last batch writes.
#[derive(Serialize, Deserialize)]
struct Replacing {
    file: PathBuf,
    finish: Vec<(Vec<u8>, Vec<u8>)>,
}

/// The state column family a snapshot file's family index names.
pub(crate) fn state_family(index: u8) -> std::io::Result<&'static str> {
    cf::STATE.get(usize::from(index)).copied().ok_or_else(|| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("snapshot names unknown column family {index}"),
        )
    })
}

/// Storage failures. These are the node's problem, not the client's.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("RocksDB: {0}")]
    Rocks(#[from] rocksdb::Error),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    #[error("data directory holds chain {found:?}, not {expected:?}")]
    WrongChain { expected: String, found: String },
    /// A read overlapped the installation of a snapshot (see `Ledger::read`).
    #[error("this node is installing a snapshot of the ledger from the leader")]
    StateBeingReplaced,
}

/// Whether a storage error's text says the file system is full (ENOSPC):
/// RocksDB reports it as an IO error carrying the operating system's text.
/// After a failed write RocksDB refuses writes until there is space again:
/// it then recovers by itself, or is reopened.
pub fn is_disk_full(message: &str) -> bool {
    message.contains("No space left on device")
}

/// Whether a storage error's text is one that reopening the store clears
/// once its cause is gone: an I/O error (RocksDB's "IO error", or the
/// operating system's text for a full disk, no file descriptor left, a
/// permission). After a failed write RocksDB refuses every later write until
/// it is reopened, and the `rocksdb` crate has no `DB::Resume`. Corruption
/// is not such an error: reopening finds it again.
pub fn reopen_clears(message: &str) -> bool {
    const CLEARED_BY_REOPENING: [&str; 4] = [
        "IO error",
        "No space left on device",
        "Too many open files",
        "Permission denied",
    ];
    CLEARED_BY_REOPENING
        .iter()
        .any(|text| message.contains(text))
        && !message.contains("Corruption")
        && !message.contains("corrupt")
}

impl StoreError {
    /// The file system is full (see [`is_disk_full`]).
    pub fn is_disk_full(&self) -> bool {
        matches!(self, StoreError::Rocks(_)) && is_disk_full(&self.to_string())
    }

    /// An I/O error that reopening the store clears (see [`reopen_clears`]).
    pub fn reopen_clears(&self) -> bool {
        matches!(self, StoreError::Rocks(_)) && reopen_clears(&self.to_string())
    }
}

/// The last committed position and the log head there.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tip {
    pub position: LogPosition,
    pub head: HeadHash,
}

/// One committed log position.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogRecord {
    pub position: LogPosition,
    pub event_id: EventId,
    pub head: HeadHash,
    pub committed_at_ms: i64,
}

/// A signing key: its organisation, chain head and revocation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyRecord {
    pub org_id: String,
    pub sequence: u64,
    pub last_event: Option<[u8; 32]>,
    /// Log position of the revoking event, if revoked.
    pub revoked_at: Option<u64>,
}

/// A registered organisation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrgRecord {
    pub role: i32,
    pub name_arabic: String,
    pub name_latin: String,
    pub iati_identifier: String,
    pub iati_org_type: u32,
    pub keys: Vec<[u8; 32]>,
}

/// A registered project: who may write it, and its state.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProjectRecord {
    pub owner: String,
    pub iati_identifier: String,
    pub status: u32,
    pub closed: bool,
    /// The end date of the closure or cancellation (YYYY-MM-DD), when closed.
    pub closed_on: String,
    /// The commit date of the registration.
    pub registered_on: String,
    /// Held under a `hold` policy until the ministry reviews its overlaps.
    pub pending_review: bool,
    pub summary: crate::coverage::ProjectSummary,
}

/// A registered municipality.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MunicipalityRecord {
    pub parent: String,
    pub admin_level: u32,
    pub name_arabic: String,
    pub name_latin: String,
}

/// One stored (key, value) pair.
pub type KeyValue = (Box<[u8]>, Box<[u8]>);

/// The RocksDB database of one node.
pub struct Store {
    db: DB,
}

impl Store {
    /// Opens (creating if needed) the database at `path`.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        let mut options = Options::default();
        options.create_if_missing(true);
        options.create_missing_column_families(true);
        options.set_max_background_jobs(2);
        options.set_max_open_files(crate::limits::STORE_OPEN_FILES_MAX);
        // Most lookups on the append path are for keys that do not exist yet
        // (a new event id, a new project): bloom filters answer those
        // without reading table files.
        // Memory is bounded by these two budgets, shared by every column
        // family, whatever the size of the data.
        let cache = rocksdb::Cache::new_lru_cache(crate::limits::STORE_BLOCK_CACHE_BYTES);
        let write_buffers = rocksdb::WriteBufferManager::new_write_buffer_manager_with_cache(
            crate::limits::STORE_WRITE_BUFFER_BYTES,
            false,
            cache.clone(),
        );
        options.set_write_buffer_manager(&write_buffers);
        let mut table = rocksdb::BlockBasedOptions::default();
        table.set_block_cache(&cache);
        table.set_bloom_filter(10.0, false);
        let mut family = Options::default();
        family.set_block_based_table_factory(&table);
        // The same for the memtables: without a filter, looking up a key
        // that is not there walks the skip list (cache misses on every
        // level), and the append path does that for every new event and
        // project (a follower's profile showed it at 8% of its time).
        // The filter takes this share of a memtable's size, allocated with
        // it: 0.1 cost more than it saved (64 MiB memtables, 18 families;
        // 1,650 events/s against 2,400 in the cluster bench), 0.01 gains.
        family.set_memtable_prefix_bloom_ratio(0.01);
        family.set_memtable_whole_key_filtering(true);
        let families = cf::all().map(|name| ColumnFamilyDescriptor::new(name, family.clone()));
        let db = DB::open_cf_descriptors(&options, path, families)?;
        let store = Store { db };
        store.finish_interrupted_replacement()?;
        Ok(store)
    }

    /// Replaces every state column family (`cf::STATE`) with the pairs of
    /// the snapshot file `file`, checked beforehand, and writes `finish`
    /// (RAFT_META key-value pairs: the applied log id and membership the
    /// snapshot reflects) with the last pairs.
    ///
    /// Written in batches of [`REPLACE_BATCH_BYTES`], so that memory does not
    /// grow with the ledger. The first batch deletes the old state and
    /// writes a marker naming `file`; the last, synced, removes it. A crash
    /// in between leaves the marker, and opening the store replaces the
    /// state again from the same file: the replacement is never left half
    /// done, and `file` must stay until this returns.
    pub(crate) fn replace_state(
        &self,
        file: &Path,
        finish: Vec<(Vec<u8>, Vec<u8>)>,
    ) -> Result<(), StoreError> {
        let marker = Replacing {
            file: file.to_owned(),
            finish,
        };
        let meta = self.cf(cf::RAFT_META);
        let mut batch = WriteBatch::default();
        batch.put_cf(
            meta,
            STATE_REPLACING,
            serde_json::to_vec(&marker).expect("invariant: a path and bytes encode as JSON"),
        );
        for family in cf::STATE {
            let handle = self.cf(family);
            if let Some(item) = self.db.iterator_cf(handle, IteratorMode::End).next() {
                let (last, _) = item?;
                batch.delete_range_cf(handle, [].as_slice(), last.as_ref());
                batch.delete_cf(handle, last.as_ref());
            }
        }
        let damaged = |error: std::io::Error| {
            StoreError::Corrupt(format!(
                "snapshot file {} being installed: {error}",
                marker.file.display()
            ))
        };
        let input = std::fs::File::open(&marker.file).map_err(damaged)?;
        let mut failed = None;
        crate::snapshot_file::read_pairs(BufReader::new(input), |family, key, value| {
            batch.put_cf(self.cf(state_family(family)?), key, value);
            if batch.size_in_bytes() >= REPLACE_BATCH_BYTES {
                if let Err(error) = self.write_unsynced(std::mem::take(&mut batch)) {
                    let stop = std::io::Error::other(error.to_string());
                    failed = Some(error);
                    return Err(stop);
                }
            }
            Ok(())
        })
        .map_err(|error| failed.take().unwrap_or_else(|| damaged(error)))?;
        for (key, value) in &marker.finish {
            batch.put_cf(meta, key, value);
        }
        batch.delete_cf(meta, STATE_REPLACING);
        // Synced: and with it every batch before it in the write-ahead log.
        self.write_synced(batch)
    }

    /// Writes every state column family (`cf::STATE`), as `view` (a RocksDB
    /// snapshot) sees it, to the snapshot file `path`, synced.
    pub(crate) fn write_state(
        &self,
        view: &rocksdb::SnapshotWithThreadMode<'_, DB>,
        path: &Path,
    ) -> std::io::Result<()> {
        let mut writer = crate::snapshot_file::Writer::create(path)?;
        for (index, family) in (0u8..).zip(cf::STATE) {
            for item in view.iterator_cf(self.cf(family), IteratorMode::Start) {
                let (key, value) = item.map_err(std::io::Error::other)?;
                writer.put(index, &key, &value)?;
            }
        }
        writer.finish_file()
    }

    /// Finishes a state replacement a crash interrupted (see [`Store::replace_state`]).
    fn finish_interrupted_replacement(&self) -> Result<(), StoreError> {
        let Some(bytes) = self.get_cf(cf::RAFT_META, STATE_REPLACING)? else {
            return Ok(());
        };
        let marker: Replacing = serde_json::from_slice(&bytes)
            .map_err(|error| StoreError::Corrupt(format!("state replacement marker: {error}")))?;
        tracing::warn!(
            file = %marker.file.display(),
            "a crash interrupted the installation of a snapshot; installing it again"
        );
        let file = marker.file.clone();
        self.replace_state(&marker.file, marker.finish)
            .map_err(|error| {
                StoreError::Corrupt(format!(
                    "{error}; a crash interrupted the installation of snapshot {} and it \
                     cannot be finished: move this node's data directory away and add the \
                     node to the cluster again (it catches up from the leader)",
                    file.display()
                ))
            })
    }

    pub(crate) fn cf(&self, name: &str) -> &rocksdb::ColumnFamily {
        self.db
            .cf_handle(name)
            .expect("invariant: every column family of cf::all() is opened")
    }

    pub(crate) fn get_cf(&self, family: &str, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.db.get_cf(self.cf(family), key)?)
    }

    pub fn genesis_bytes(&self) -> Result<Option<Vec<u8>>, StoreError> {
        self.get_cf(cf::META, META_GENESIS)
    }

    pub fn tip(&self) -> Result<Option<Tip>, StoreError> {
        self.get_cf(cf::META, META_TIP)?
            .map(|bytes| decode_tip(&bytes))
            .transpose()
    }

    pub fn log_record(&self, position: LogPosition) -> Result<Option<LogRecord>, StoreError> {
        self.get_cf(cf::LOG, &position.0.to_be_bytes())?
            .map(|bytes| decode_log(position, &bytes))
            .transpose()
    }

    /// Log records from `from` (inclusive), at most `limit`.
    pub fn log_range(&self, from: LogPosition, limit: usize) -> Result<Vec<LogRecord>, StoreError> {
        let start = from.0.to_be_bytes();
        let mode = IteratorMode::From(&start, rocksdb::Direction::Forward);
        let mut records = Vec::with_capacity(limit.min(1024));
        for item in self.db.iterator_cf(self.cf(cf::LOG), mode).take(limit) {
            let (key, value) = item?;
            let position = u64::from_be_bytes(
                key.as_ref()
                    .try_into()
                    .map_err(|_| StoreError::Corrupt("log key is not 8 bytes".into()))?,
            );
            records.push(decode_log(LogPosition(position), &value)?);
        }
        Ok(records)
    }

    /// The stored envelope of an event and its log position.
    pub fn event(
        &self,
        id: &EventId,
    ) -> Result<Option<(LogPosition, pb::SignedEvent)>, StoreError> {
        let Some(bytes) = self.get_cf(cf::EVENTS, id.as_bytes())? else {
            return Ok(None);
        };
        if bytes.len() < 8 {
            return Err(StoreError::Corrupt(format!(
                "event {id} record is {} bytes",
                bytes.len()
            )));
        }
        let position = LogPosition(u64::from_be_bytes(
            bytes[..8].try_into().expect("invariant: sliced 8 bytes"),
        ));
        let envelope = pb::SignedEvent::decode(&bytes[8..])
            .map_err(|error| StoreError::Corrupt(format!("event {id} envelope: {error}")))?;
        Ok(Some((position, envelope)))
    }

    /// The log position of an event, without decoding its envelope.
    pub fn event_position(&self, id: &EventId) -> Result<Option<LogPosition>, StoreError> {
        let Some(bytes) = self.db.get_pinned_cf(self.cf(cf::EVENTS), id.as_bytes())? else {
            return Ok(None);
        };
        let position: [u8; 8] =
            bytes
                .get(..8)
                .and_then(|b| b.try_into().ok())
                .ok_or_else(|| {
                    StoreError::Corrupt(format!("event {id} record is {} bytes", bytes.len()))
                })?;
        Ok(Some(LogPosition(u64::from_be_bytes(position))))
    }

    pub fn key(&self, key: &PublicKeyBytes) -> Result<Option<KeyRecord>, StoreError> {
        self.get_json(cf::KEYS, key.as_bytes())
    }

    pub fn key_event_at(
        &self,
        key: &PublicKeyBytes,
        sequence: u64,
    ) -> Result<Option<EventId>, StoreError> {
        self.get_cf(cf::KEY_SEQUENCE, &key_sequence_key(key, sequence))?
            .map(|bytes| {
                EventId::from_slice(&bytes).map_err(|e| StoreError::Corrupt(e.to_string()))
            })
            .transpose()
    }

    pub fn org(&self, org_id: &str) -> Result<Option<OrgRecord>, StoreError> {
        self.get_json(cf::ORGS, org_id.as_bytes())
    }

    /// Every organisation that registered an IATI organisation identifier:
    /// (org id, IATI identifier).
    pub fn org_iati_identifiers(&self) -> Result<Vec<(String, String)>, StoreError> {
        let mut found = Vec::new();
        for item in self.db.iterator_cf(self.cf(cf::ORGS), IteratorMode::Start) {
            let (key, value) = item?;
            let record: OrgRecord = serde_json::from_slice(&value)
                .map_err(|error| StoreError::Corrupt(format!("orgs record: {error}")))?;
            if !record.iati_identifier.is_empty() {
                found.push((
                    String::from_utf8_lossy(&key).into_owned(),
                    record.iati_identifier,
                ));
            }
        }
        Ok(found)
    }

    pub fn project(&self, project_id: &str) -> Result<Option<ProjectRecord>, StoreError> {
        self.get_json(cf::PROJECTS, project_id.as_bytes())
    }

    pub fn municipality(&self, pcode: &str) -> Result<Option<MunicipalityRecord>, StoreError> {
        self.get_json(cf::MUNICIPALITIES, pcode.as_bytes())
    }

    /// Whether evidence of an equivocation by `key` at `sequence` is kept.
    pub fn has_evidence(&self, key: &PublicKeyBytes, sequence: u64) -> Result<bool, StoreError> {
        let prefix = key_sequence_key(key, sequence);
        let mut iter = self.db.iterator_cf(
            self.cf(cf::EVIDENCE),
            IteratorMode::From(&prefix, rocksdb::Direction::Forward),
        );
        match iter.next() {
            Some(item) => Ok(item?.0.starts_with(&prefix)),
            None => Ok(false),
        }
    }

    /// Equivocation evidence: (key, sequence, refused event id, refused envelope).
    pub fn evidence(
        &self,
    ) -> Result<Vec<(PublicKeyBytes, u64, EventId, pb::SignedEvent)>, StoreError> {
        let mut found = Vec::new();
        for item in self
            .db
            .iterator_cf(self.cf(cf::EVIDENCE), IteratorMode::Start)
        {
            let (key, value) = item?;
            if key.len() != 72 {
                return Err(StoreError::Corrupt("evidence key is not 72 bytes".into()));
            }
            let public = PublicKeyBytes::from_slice(&key[..32])
                .map_err(|e| StoreError::Corrupt(e.to_string()))?;
            let sequence =
                u64::from_be_bytes(key[32..40].try_into().expect("invariant: sliced 8 bytes"));
            let id =
                EventId::from_slice(&key[40..]).map_err(|e| StoreError::Corrupt(e.to_string()))?;
            let envelope = pb::SignedEvent::decode(value.as_ref())
                .map_err(|e| StoreError::Corrupt(e.to_string()))?;
            found.push((public, sequence, id, envelope));
        }
        Ok(found)
    }

    /// Writes a batch and syncs it to disk before returning.
    /// Every (key, value) of `family` whose key starts with `prefix`.
    pub fn scan_prefix(&self, family: &str, prefix: &[u8]) -> Result<Vec<KeyValue>, StoreError> {
        let mut found = Vec::new();
        let iter = self.db.iterator_cf(
            self.cf(family),
            IteratorMode::From(prefix, rocksdb::Direction::Forward),
        );
        for item in iter {
            let (key, value) = item?;
            if !key.starts_with(prefix) {
                break;
            }
            found.push((key, value));
        }
        Ok(found)
    }

    /// The last version of a JSON record list (keyed `prefix ‖ position`)
    /// committed at or before `cut_ms`.
    fn last_version_at<T: serde::de::DeserializeOwned>(
        &self,
        family: &str,
        prefix: &[u8],
        cut_ms: i64,
        committed_at: impl Fn(&T) -> i64,
    ) -> Result<Option<T>, StoreError> {
        let mut last = None;
        for (_, value) in self.scan_prefix(family, prefix)? {
            let record: T = decode_json(family, &value)?;
            if committed_at(&record) > cut_ms {
                break;
            }
            last = Some(record);
        }
        Ok(last)
    }

    /// A project's state as committed at or before `cut_ms`.
    pub fn project_at(
        &self,
        project_id: &str,
        cut_ms: i64,
    ) -> Result<Option<ProjectRecord>, StoreError> {
        let version: Option<ProjectVersion> = self.last_version_at(
            cf::PROJECT_VERSIONS,
            &text_key(&[project_id]),
            cut_ms,
            |v: &ProjectVersion| v.committed_at_ms,
        )?;
        Ok(version.map(|v| v.project))
    }

    /// (P-code, sector, project id) of every project ever located under
    /// `pcode` (exactly `pcode` when `exact`).
    pub fn coverage_entries(
        &self,
        pcode: &str,
        exact: bool,
    ) -> Result<Vec<(String, String, String)>, StoreError> {
        let prefix = if exact {
            text_key(&[pcode])
        } else {
            pcode.as_bytes().to_vec()
        };
        self.scan_prefix(cf::COVERAGE, &prefix)?
            .into_iter()
            .map(|(key, _)| match split_text_key(&key).as_slice() {
                [pcode, sector, project] => Ok((pcode.clone(), sector.clone(), project.clone())),
                _ => Err(StoreError::Corrupt("coverage key has not 3 parts".into())),
            })
            .collect()
    }

    /// Ids of every project ever located in `pcode` with `sector` (exactly),
    /// in id order, read as the caller goes (a caller may stop early).
    pub fn projects_in_place(
        &self,
        pcode: &str,
        sector: &str,
    ) -> impl Iterator<Item = Result<String, StoreError>> + '_ {
        let prefix = text_key(&[pcode, sector]);
        self.db
            .iterator_cf(
                self.cf(cf::COVERAGE),
                IteratorMode::From(&prefix, rocksdb::Direction::Forward),
            )
            .map_while(move |item| match item {
                Err(error) => Some(Err(error.into())),
                Ok((key, _)) => {
                    let id = key.strip_prefix(prefix.as_slice())?;
                    let id = id.strip_suffix(&[0]).unwrap_or(id);
                    Some(Ok(String::from_utf8_lossy(id).into_owned()))
                }
            })
    }

    /// The latest assessment of every need under `pcode`, as of `cut_ms`.
    pub fn needs_at(
        &self,
        pcode: &str,
        cut_ms: i64,
    ) -> Result<Vec<(String, String, crate::coverage::NeedRecord)>, StoreError> {
        let mut latest: std::collections::BTreeMap<(String, String), crate::coverage::NeedRecord> =
            Default::default();
        for (key, value) in self.scan_prefix(cf::NEEDS, pcode.as_bytes())? {
            let need: crate::coverage::NeedRecord = decode_json(cf::NEEDS, &value)?;
            if need.committed_at_ms > cut_ms {
                continue;
            }
            if let [pcode, sector, ..] = split_text_key(&key).as_slice() {
                latest.insert((pcode.clone(), sector.clone()), need);
            }
        }
        Ok(latest
            .into_iter()
            .map(|((pcode, sector), need)| (pcode, sector, need))
            .collect())
    }

    /// A sector's (or category's) coordination policy as of `cut_ms`.
    pub fn policy_at(
        &self,
        sector: &str,
        cut_ms: i64,
    ) -> Result<Option<crate::coverage::PolicyRecord>, StoreError> {
        self.last_version_at(
            cf::POLICIES,
            &text_key(&[sector]),
            cut_ms,
            |p: &crate::coverage::PolicyRecord| p.committed_at_ms,
        )
    }

    /// The ministry's latest review of a pair (ids in canonical order) as of `cut_ms`.
    pub fn review_at(
        &self,
        a: &str,
        b: &str,
        cut_ms: i64,
    ) -> Result<Option<crate::coverage::ReviewRecord>, StoreError> {
        self.last_version_at(
            cf::REVIEWS,
            &text_key(&[a, b]),
            cut_ms,
            |r: &crate::coverage::ReviewRecord| r.committed_at_ms,
        )
    }

    /// The pairs of projects with at least one review, as `text_key([a, b])`;
    /// None when there are more than `limit` (the caller then asks
    /// [`Store::review_at`] each time).
    pub fn reviewed_pairs(
        &self,
        limit: usize,
    ) -> Result<Option<std::collections::HashSet<Vec<u8>>>, StoreError> {
        let mut pairs = std::collections::HashSet::new();
        let mut iter = self.db.raw_iterator_cf(self.cf(cf::REVIEWS));
        iter.seek_to_first();
        while let Some(key) = iter.key() {
            let pair = key
                .len()
                .checked_sub(8)
                .map(|at| &key[..at])
                .ok_or_else(|| StoreError::Corrupt("review key shorter than a position".into()))?;
            if !pairs.contains(pair) {
                if pairs.len() == limit {
                    return Ok(None);
                }
                pairs.insert(pair.to_vec());
            }
            iter.next();
        }
        iter.status()?;
        Ok(Some(pairs))
    }

    /// Every event about a project: (position, event id), in log order.
    pub fn project_events(
        &self,
        project_id: &str,
    ) -> Result<Vec<(LogPosition, EventId)>, StoreError> {
        self.scan_prefix(cf::PROJECT_EVENTS, &text_key(&[project_id]))?
            .into_iter()
            .map(|(key, value)| {
                let position = key
                    .len()
                    .checked_sub(8)
                    .and_then(|at| key[at..].try_into().ok())
                    .map(u64::from_be_bytes)
                    .ok_or_else(|| StoreError::Corrupt("project event key".into()))?;
                let id = EventId::from_slice(&value)
                    .map_err(|error| StoreError::Corrupt(error.to_string()))?;
                Ok((LogPosition(position), id))
            })
            .collect()
    }

    /// Registered municipalities under `pcode` (itself included).
    pub fn municipalities_under(
        &self,
        pcode: &str,
    ) -> Result<Vec<(String, MunicipalityRecord)>, StoreError> {
        self.scan_prefix(cf::MUNICIPALITIES, pcode.as_bytes())?
            .into_iter()
            .map(|(key, value)| {
                Ok((
                    String::from_utf8_lossy(&key).into_owned(),
                    decode_json(cf::MUNICIPALITIES, &value)?,
                ))
            })
            .collect()
    }

    /// Every (key, value) of a column family, in key order (for comparing
    /// projections with a rebuild).
    pub fn dump(&self, family: &str) -> Result<Vec<KeyValue>, StoreError> {
        self.scan_prefix(family, b"")
    }

    pub(crate) fn db(&self) -> &DB {
        &self.db
    }

    /// Written to RocksDB's write-ahead log without waiting for the disk;
    /// survives a crash of the process, not of the machine, until the next
    /// synced write (which syncs the whole write-ahead log before it).
    pub fn write_unsynced(&self, batch: WriteBatch) -> Result<(), StoreError> {
        self.db.write(batch)?;
        Ok(())
    }

    /// Whether the store accepts writes: an empty synced write. After a
    /// failed write RocksDB refuses every write until it recovers by itself
    /// (it does from a full disk, once there is space) or is reopened (see
    /// [`reopen_clears`]).
    pub fn accepts_writes(&self) -> Result<(), StoreError> {
        self.write_synced(WriteBatch::default())
    }

    pub fn write_synced(&self, batch: WriteBatch) -> Result<(), StoreError> {
        let mut options = WriteOptions::default();
        options.set_sync(true);
        self.db.write_opt(batch, &options)?;
        Ok(())
    }

    fn get_json<T: serde::de::DeserializeOwned>(
        &self,
        family: &str,
        key: &[u8],
    ) -> Result<Option<T>, StoreError> {
        self.get_cf(family, key)?
            .map(|bytes| {
                serde_json::from_slice(&bytes)
                    .map_err(|error| StoreError::Corrupt(format!("{family} record: {error}")))
            })
            .transpose()
    }

    /// A batch writer bound to this store's column families.
    pub(crate) fn batch(&self) -> Batch<'_> {
        Batch {
            store: self,
            batch: WriteBatch::default(),
        }
    }
}

/// A write batch with typed puts.
pub(crate) struct Batch<'a> {
    store: &'a Store,
    pub(crate) batch: WriteBatch,
}

impl Batch<'_> {
    pub(crate) fn put_genesis(&mut self, bytes: &[u8]) {
        self.batch
            .put_cf(self.store.cf(cf::META), META_GENESIS, bytes);
    }
    pub(crate) fn put_tip(&mut self, tip: &Tip) {
        let mut value = tip.position.0.to_be_bytes().to_vec();
        value.extend_from_slice(tip.head.as_bytes());
        self.batch.put_cf(self.store.cf(cf::META), META_TIP, value);
    }
    pub(crate) fn put_log(&mut self, record: &LogRecord) {
        let mut value = Vec::with_capacity(72);
        value.extend_from_slice(record.event_id.as_bytes());
        value.extend_from_slice(record.head.as_bytes());
        value.extend_from_slice(&record.committed_at_ms.to_be_bytes());
        self.batch.put_cf(
            self.store.cf(cf::LOG),
            record.position.0.to_be_bytes(),
            value,
        );
    }
    pub(crate) fn put_event(
        &mut self,
        id: &EventId,
        position: LogPosition,
        envelope: &pb::SignedEvent,
    ) {
        let mut value = position.0.to_be_bytes().to_vec();
        envelope
            .encode(&mut value)
            .expect("invariant: encoding into a Vec cannot fail");
        self.batch
            .put_cf(self.store.cf(cf::EVENTS), id.as_bytes(), value);
    }
    pub(crate) fn put_key(&mut self, key: &PublicKeyBytes, record: &KeyRecord) {
        self.put_json(cf::KEYS, key.as_bytes(), record);
    }
    pub(crate) fn put_key_event(&mut self, key: &PublicKeyBytes, sequence: u64, id: &EventId) {
        self.batch.put_cf(
            self.store.cf(cf::KEY_SEQUENCE),
            key_sequence_key(key, sequence),
            id.as_bytes(),
        );
    }
    pub(crate) fn put_org(&mut self, org_id: &str, record: &OrgRecord) {
        self.put_json(cf::ORGS, org_id.as_bytes(), record);
    }
    pub(crate) fn put_project(&mut self, project_id: &str, record: &ProjectRecord) {
        self.put_json(cf::PROJECTS, project_id.as_bytes(), record);
    }
    pub(crate) fn put_municipality(&mut self, pcode: &str, record: &MunicipalityRecord) {
        self.put_json(cf::MUNICIPALITIES, pcode.as_bytes(), record);
    }
    pub(crate) fn put_evidence(
        &mut self,
        key: &PublicKeyBytes,
        sequence: u64,
        id: &EventId,
        envelope: &pb::SignedEvent,
    ) {
        let mut db_key = key_sequence_key(key, sequence);
        db_key.extend_from_slice(id.as_bytes());
        self.batch.put_cf(
            self.store.cf(cf::EVIDENCE),
            db_key,
            envelope.encode_to_vec(),
        );
    }
    pub(crate) fn put_project_version(
        &mut self,
        project_id: &str,
        position: LogPosition,
        version: &ProjectVersion<&ProjectRecord>,
    ) {
        self.put_json(
            cf::PROJECT_VERSIONS,
            &versioned_key(&[project_id], position),
            version,
        );
    }
    pub(crate) fn put_project_event(
        &mut self,
        project_id: &str,
        position: LogPosition,
        id: &EventId,
    ) {
        self.batch.put_cf(
            self.store.cf(cf::PROJECT_EVENTS),
            versioned_key(&[project_id], position),
            id.as_bytes(),
        );
    }
    pub(crate) fn put_coverage(&mut self, pcode: &str, sector: &str, project_id: &str) {
        self.batch.put_cf(
            self.store.cf(cf::COVERAGE),
            text_key(&[pcode, sector, project_id]),
            b"",
        );
    }
    pub(crate) fn put_versioned<T: Serialize>(
        &mut self,
        family: &str,
        parts: &[&str],
        position: LogPosition,
        value: &T,
    ) {
        self.put_json(family, &versioned_key(parts, position), value);
    }
    fn put_json<T: Serialize>(&mut self, family: &str, key: &[u8], value: &T) {
        let bytes = serde_json::to_vec(value).expect("invariant: records serialise to JSON");
        self.batch.put_cf(self.store.cf(family), key, bytes);
    }
}

fn key_sequence_key(key: &PublicKeyBytes, sequence: u64) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(72);
    bytes.extend_from_slice(key.as_bytes());
    bytes.extend_from_slice(&sequence.to_be_bytes());
    bytes
}

fn decode_tip(bytes: &[u8]) -> Result<Tip, StoreError> {
    if bytes.len() != 40 {
        return Err(StoreError::Corrupt(format!(
            "tip is {} bytes, expected 40",
            bytes.len()
        )));
    }
    Ok(Tip {
        position: LogPosition(u64::from_be_bytes(
            bytes[..8].try_into().expect("invariant: sliced 8 bytes"),
        )),
        head: HeadHash::from_slice(&bytes[8..]).map_err(|e| StoreError::Corrupt(e.to_string()))?,
    })
}

fn decode_log(position: LogPosition, bytes: &[u8]) -> Result<LogRecord, StoreError> {
    if bytes.len() != 72 {
        return Err(StoreError::Corrupt(format!(
            "log record {position} is {} bytes, expected 72",
            bytes.len()
        )));
    }
    Ok(LogRecord {
        position,
        event_id: EventId::from_slice(&bytes[..32])
            .map_err(|e| StoreError::Corrupt(e.to_string()))?,
        head: HeadHash::from_slice(&bytes[32..64])
            .map_err(|e| StoreError::Corrupt(e.to_string()))?,
        committed_at_ms: i64::from_be_bytes(
            bytes[64..72].try_into().expect("invariant: sliced 8 bytes"),
        ),
    })
}

/// A project's state from one commit on (written from a borrowed record,
/// read into an owned one).
#[derive(Serialize, Deserialize)]
pub(crate) struct ProjectVersion<P = ProjectRecord> {
    pub committed_at_ms: i64,
    pub project: P,
}

fn decode_json<T: serde::de::DeserializeOwned>(
    family: &str,
    bytes: &[u8],
) -> Result<T, StoreError> {
    serde_json::from_slice(bytes)
        .map_err(|error| StoreError::Corrupt(format!("{family} record: {error}")))
}

/// A key of text parts, each followed by a 0 byte (P-codes, sector codes and
/// ids hold no 0 byte), so that a prefix of parts is a key prefix.
pub(crate) fn text_key(parts: &[&str]) -> Vec<u8> {
    let mut key = Vec::new();
    for part in parts {
        key.extend_from_slice(part.as_bytes());
        key.push(0);
    }
    key
}

/// `text_key` parts followed by a big-endian log position.
pub(crate) fn versioned_key(parts: &[&str], position: LogPosition) -> Vec<u8> {
    let mut key = text_key(parts);
    key.extend_from_slice(&position.0.to_be_bytes());
    key
}

fn split_text_key(key: &[u8]) -> Vec<String> {
    key.strip_suffix(&[0])
        .unwrap_or(key)
        .split(|byte| *byte == 0)
        .map(|part| String::from_utf8_lossy(part).into_owned())
        .collect()
}

#[cfg(test)]
mod family_tests {
    use super::cf;

    #[test]
    fn a_snapshot_carries_the_state_and_never_the_raft_log_vote_or_outbox() {
        assert!(cf::STATE.iter().all(|family| !cf::LOCAL.contains(family)));
        for family in [cf::RAFT_LOG, cf::RAFT_META, cf::OUTBOX] {
            assert!(
                !cf::STATE.contains(&family),
                "{family} is never in a snapshot"
            );
        }
        assert!(cf::PROJECTIONS
            .iter()
            .all(|family| cf::STATE.contains(family)));
    }
}

#[cfg(test)]
mod error_tests {
    use super::{is_disk_full, reopen_clears};

    #[test]
    fn io_errors_are_cleared_by_reopening_and_corruption_is_not() {
        let cleared = [
            "RocksDB: IO error: No space left on device: While appending to file: 000012.log: No space left on device",
            "RocksDB: IO error: While open a file for appending: 000123.log: Too many open files",
            "RocksDB: IO error: While opening a file for sequentially reading: CURRENT: Permission denied",
            "storage error: when Write Logs: No space left on device (os error 28)",
        ];
        for message in cleared {
            assert!(reopen_clears(message), "{message}");
        }
        assert!(is_disk_full(cleared[0]) && !is_disk_full(cleared[1]));
        let kept = [
            "RocksDB: Corruption: block checksum mismatch",
            "stored data is corrupt: raft log key",
            "RocksDB: Invalid argument: Column family not found",
            "this node is installing a snapshot of the ledger from the leader",
        ];
        for message in kept {
            assert!(!reopen_clears(message), "{message}");
        }
    }
}

#[cfg(test)]
mod replace_tests {
    use super::*;

    /// Every state family's pairs, in order.
    fn state(store: &Store) -> Vec<(&'static str, Vec<KeyValue>)> {
        cf::STATE
            .iter()
            .map(|family| (*family, store.dump(family).expect("read a family")))
            .collect()
    }

    /// A store holding `pairs` in the state families named.
    fn store_with(path: &Path, pairs: &[(&str, Vec<u8>, Vec<u8>)]) -> Store {
        let store = Store::open(path).expect("open a store");
        let mut batch = WriteBatch::default();
        for (family, key, value) in pairs {
            batch.put_cf(store.cf(family), key, value);
        }
        store.write_synced(batch).expect("write");
        store
    }

    /// A state larger than one replacement batch: 600 events of 20 KB
    /// (12 MB, three batches), a tip and a coverage entry.
    fn new_state() -> Vec<(&'static str, Vec<u8>, Vec<u8>)> {
        let mut pairs: Vec<_> = (0u32..600)
            .map(|n| (cf::EVENTS, n.to_be_bytes().to_vec(), vec![n as u8; 20_000]))
            .collect();
        pairs.push((cf::META, META_TIP.to_vec(), vec![7; 40]));
        pairs.push((
            cf::COVERAGE,
            b"LY0301\x0014030\x00p\x00".to_vec(),
            Vec::new(),
        ));
        pairs
    }

    /// The old state: some keys the new one has, with other values, and
    /// keys it does not have, which must go.
    fn old_state() -> Vec<(&'static str, Vec<u8>, Vec<u8>)> {
        vec![
            (cf::EVENTS, 5u32.to_be_bytes().to_vec(), b"old".to_vec()),
            (cf::EVENTS, 9999u32.to_be_bytes().to_vec(), b"gone".to_vec()),
            (cf::PROJECTS, b"old-project".to_vec(), b"{}".to_vec()),
            (cf::META, META_TIP.to_vec(), vec![1; 40]),
        ]
    }

    fn finish() -> Vec<(Vec<u8>, Vec<u8>)> {
        vec![(b"applied".to_vec(), b"{\"index\":42}".to_vec())]
    }

    /// A store holding [`new_state`] and its snapshot file, in `dir`.
    fn source_and_snapshot(dir: &Path) -> (Store, PathBuf) {
        let source = store_with(&dir.join("source"), &new_state());
        let file = dir.join("state.snapshot");
        source
            .write_state(&source.db().snapshot(), &file)
            .expect("write the snapshot file");
        (source, file)
    }

    /// `target` holds `source`'s state, the pairs of [`finish`] and no marker.
    fn assert_replaced(target: &Store, source: &Store) {
        assert_eq!(state(target), state(source));
        assert_eq!(
            target.get_cf(cf::RAFT_META, b"applied").expect("read"),
            Some(b"{\"index\":42}".to_vec())
        );
        assert_eq!(
            target.get_cf(cf::RAFT_META, STATE_REPLACING).expect("read"),
            None,
            "the marker goes with the last batch"
        );
    }

    #[test]
    fn a_snapshot_replaces_the_whole_state_in_batches() {
        let dir = tempfile::tempdir().expect("temporary directory");
        let (source, file) = source_and_snapshot(dir.path());
        let target = store_with(&dir.path().join("target"), &old_state());

        target.replace_state(&file, finish()).expect("replace");

        assert_replaced(&target, &source);
    }

    #[test]
    fn a_replacement_a_crash_interrupted_is_finished_when_the_store_opens() {
        let dir = tempfile::tempdir().expect("temporary directory");
        let (source, file) = source_and_snapshot(dir.path());
        let target_path = dir.path().join("target");
        {
            // What a crash after the first batches leaves: the marker, the
            // old state partly deleted and the new one partly written.
            let target = store_with(&target_path, &old_state());
            let marker = Replacing {
                file: file.clone(),
                finish: finish(),
            };
            let mut batch = WriteBatch::default();
            batch.put_cf(
                target.cf(cf::RAFT_META),
                STATE_REPLACING,
                serde_json::to_vec(&marker).expect("JSON"),
            );
            batch.delete_cf(target.cf(cf::PROJECTS), b"old-project");
            for (family, key, value) in new_state().into_iter().take(100) {
                batch.put_cf(target.cf(family), key, value);
            }
            target.write_synced(batch).expect("write");
            assert_ne!(state(&target), state(&source));
        }

        let reopened = Store::open(&target_path).expect("reopen and finish");

        assert_replaced(&reopened, &source);
    }

    #[test]
    fn a_damaged_file_is_an_error_and_the_marker_stays_for_the_next_open() {
        let dir = tempfile::tempdir().expect("temporary directory");
        let (_source, file) = source_and_snapshot(dir.path());
        let mut bytes = std::fs::read(&file).expect("read");
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        std::fs::write(&file, bytes).expect("write");
        let target = store_with(&dir.path().join("target"), &old_state());

        let error = target
            .replace_state(&file, finish())
            .expect_err("a damaged file is refused");

        assert!(error.to_string().contains("snapshot damaged"), "{error}");
        assert!(target
            .get_cf(cf::RAFT_META, STATE_REPLACING)
            .expect("read")
            .is_some());
        assert_eq!(
            target.get_cf(cf::RAFT_META, b"applied").expect("read"),
            None,
            "the applied id is only written with the whole state"
        );
    }
}
