//! The RocksDB database: opening it, the reads every part of the ledger
//! makes, and synced or unsynced writes of a batch.

use std::path::Path;

use prost::Message;
use rocksdb::{ColumnFamilyDescriptor, IteratorMode, Options, WriteBatch, WriteOptions, DB};
use tansiq_proto::v1 as pb;

use crate::ids::{EventId, LogPosition, PublicKeyBytes};

use super::cf;
use super::encoding::{decode_record, Decode};
use super::error::StoreError;
use super::keys::{
    decode_log, decode_tip, key_sequence_key, text_key, LOG_RECORD_BYTES, META_FORMAT,
    META_GENESIS, META_TIP, META_TREE_SIZE,
};
use super::records::{KeyRecord, LogRecord, MunicipalityRecord, OrgRecord, ProjectRecord, Tip};

/// One stored (key, value) pair.
pub type KeyValue = (Box<[u8]>, Box<[u8]>);

/// The RocksDB database of one node.
pub struct Store {
    pub(crate) db: DB,
    /// The format the store was found in when it was opened to be read as
    /// it is ([`Store::leave_as_found`]); 0 while it takes writes.
    left_in_format: std::sync::atomic::AtomicU32,
}

impl Store {
    /// Opens (creating if needed) the database at `path`. A store that
    /// exists opens with the families it has: one of an earlier format may
    /// lack a family added since, which [`Store::add_missing_families`]
    /// adds when the store is upgraded (and only then: a store left in its
    /// format keeps the families its release opens).
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        let (mut options, families) = Store::options();
        options.create_if_missing(true);
        let families = match Store::existing_families(path) {
            Some(existing) => Store::only(families, &existing),
            None => {
                options.create_missing_column_families(true);
                families
            }
        };
        let db = DB::open_cf_descriptors(&options, path, families)?;
        let store = Store {
            db,
            left_in_format: Default::default(),
        };
        store.finish_interrupted_replacement()?;
        Ok(store)
    }

    /// Opens the database at `path` to read it only, even while a node
    /// holds it (what the node had written when this opens). Every table
    /// file is opened at once, so that a compaction by the node meanwhile
    /// (which unlinks the files it merged) cannot cut a long read short;
    /// an open that races a compaction's change of the manifest is tried
    /// again, three times in all.
    pub fn open_read_only(path: &Path) -> Result<Store, StoreError> {
        let mut tries = 0;
        loop {
            let (mut options, families) = Store::options();
            let families = match Store::existing_families(path) {
                Some(existing) => Store::only(families, &existing),
                None => families,
            };
            options.set_max_open_files(-1);
            match DB::open_cf_descriptors_read_only(&options, path, families, false) {
                Ok(db) => {
                    return Ok(Store {
                        db,
                        left_in_format: Default::default(),
                    })
                }
                Err(error) if tries < 2 => {
                    tries += 1;
                    tracing::debug!(%error, "opening the store to read it; trying again");
                    std::thread::sleep(std::time::Duration::from_millis(200));
                }
                Err(error) => return Err(error.into()),
            }
        }
    }

    /// The column families of the store at `path`, if one is there.
    fn existing_families(path: &Path) -> Option<Vec<String>> {
        DB::list_cf(&Options::default(), path).ok()
    }

    /// `families` that are among `existing`, and the existing ones this
    /// version does not know (a newer format's: opened, so that the
    /// store's version is read and named).
    fn only(
        families: Vec<ColumnFamilyDescriptor>,
        existing: &[String],
    ) -> Vec<ColumnFamilyDescriptor> {
        let mut kept: Vec<_> = families
            .into_iter()
            .filter(|descriptor| existing.iter().any(|name| name == descriptor.name()))
            .collect();
        for name in existing {
            if name != "default" && !cf::all().any(|known| known == name) {
                kept.push(ColumnFamilyDescriptor::new(name, Options::default()));
            }
        }
        kept
    }

    /// Adds the column families this version has and the store lacks
    /// (empty), before a store of an earlier format is upgraded; returns
    /// how many. They are created with RocksDB's default options: open
    /// the store again to use them with this store's (its shared cache
    /// and memtable budget, its filters).
    pub(crate) fn add_missing_families(&mut self) -> Result<usize, StoreError> {
        let missing: Vec<_> = cf::all()
            .filter(|name| self.db.cf_handle(name).is_none())
            .collect();
        for name in &missing {
            self.db.create_cf(name, &Options::default())?;
        }
        Ok(missing.len())
    }
}

impl Store {
    /// The families of `names` this store has, with their handles: all of
    /// them but in a store of an earlier format, left as it was found or
    /// not upgraded yet, which may lack a family added since.
    pub(crate) fn present<'a>(
        &'a self,
        names: impl IntoIterator<Item = &'static str> + 'a,
    ) -> impl Iterator<Item = &'a rocksdb::ColumnFamily> + 'a {
        names.into_iter().filter_map(|name| self.db.cf_handle(name))
    }

    pub(crate) fn cf(&self, name: &str) -> &rocksdb::ColumnFamily {
        self.db
            .cf_handle(name)
            .expect("invariant: every column family of cf::all() is opened")
    }

    pub(crate) fn get_cf(&self, family: &str, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.db.get_cf(self.cf(family), key)?)
    }

    pub(crate) fn genesis_bytes(&self) -> Result<Option<Vec<u8>>, StoreError> {
        self.get_cf(cf::META, META_GENESIS)
    }

    /// The last committed position and head (`None` before the genesis is written).
    pub fn tip(&self) -> Result<Option<Tip>, StoreError> {
        self.get_cf(cf::META, META_TIP)?
            .map(|bytes| decode_tip(&bytes))
            .transpose()
    }

    /// How many log entries the Merkle tree holds (0 for a ledger written
    /// before the tree existed, until it catches up at open).
    pub fn tree_size(&self) -> Result<u64, StoreError> {
        match self.get_cf(cf::META, META_TREE_SIZE)? {
            None => Ok(0),
            Some(bytes) => Ok(u64::from_be_bytes(bytes.as_slice().try_into().map_err(
                |_| StoreError::Corrupt(format!("tree_size is {} bytes, expected 8", bytes.len())),
            )?)),
        }
    }

    /// The tree hash stored at `index`, if stored.
    pub fn tree_hash(&self, index: u64) -> Result<Option<[u8; 32]>, StoreError> {
        match self.get_cf(cf::TREE, &index.to_be_bytes())? {
            None => Ok(None),
            Some(bytes) => Ok(Some(bytes.as_slice().try_into().map_err(|_| {
                StoreError::Corrupt(format!(
                    "tree hash {index} is {} bytes, expected 32",
                    bytes.len()
                ))
            })?)),
        }
    }

    /// The log record at `position`, if committed.
    pub fn log_record(&self, position: LogPosition) -> Result<Option<LogRecord>, StoreError> {
        self.get_cf(cf::LOG, &position.0.to_be_bytes())?
            .map(|bytes| decode_log(position, &bytes))
            .transpose()
    }

    /// Log records from `from` (inclusive), at most `limit`.
    pub fn log_range(&self, from: LogPosition, limit: usize) -> Result<Vec<LogRecord>, StoreError> {
        let mut records = Vec::with_capacity(limit.min(1024));
        self.scan_log(from, limit, |record, _| {
            records.push(record);
            Ok(true)
        })?;
        Ok(records)
    }

    /// Log records from `from` (inclusive), at most `limit`, with their
    /// events' envelopes: one scan of the log in order (since store format
    /// 4 each entry holds its envelope; an entry written before holds its
    /// record alone, and its envelope is fetched from the events family).
    pub fn log_range_with_events(
        &self,
        from: LogPosition,
        limit: usize,
    ) -> Result<(Vec<LogRecord>, Vec<pb::SignedEvent>), StoreError> {
        self.log_range_with_events_until(from, limit, i64::MAX)
    }

    /// [`Store::log_range_with_events`], stopping before the first entry
    /// committed after `cut_ms` (a rebuild cut at a date reads no further).
    pub(crate) fn log_range_with_events_until(
        &self,
        from: LogPosition,
        limit: usize,
        cut_ms: i64,
    ) -> Result<(Vec<LogRecord>, Vec<pb::SignedEvent>), StoreError> {
        let mut records = Vec::with_capacity(limit.min(1024));
        let mut envelopes = Vec::with_capacity(limit.min(1024));
        self.scan_log(from, limit, |record, entry| {
            if record.committed_at_ms > cut_ms {
                return Ok(false);
            }
            envelopes.push(self.envelope_of(&record, entry)?);
            records.push(record);
            Ok(true)
        })?;
        Ok((records, envelopes))
    }

    /// Hands each log entry from `from` (at most `limit`), its record
    /// decoded and its whole value, to `each` until it says to stop.
    fn scan_log(
        &self,
        from: LogPosition,
        limit: usize,
        mut each: impl FnMut(LogRecord, &[u8]) -> Result<bool, StoreError>,
    ) -> Result<(), StoreError> {
        let start = from.0.to_be_bytes();
        let mode = IteratorMode::From(&start, rocksdb::Direction::Forward);
        for item in self.db.iterator_cf(self.cf(cf::LOG), mode).take(limit) {
            let (key, value) = item?;
            if !each(decode_log(log_position(&key)?, &value)?, &value)? {
                break;
            }
        }
        Ok(())
    }

    /// The log entry at `position` and its event, if committed.
    pub fn entry_at(
        &self,
        position: LogPosition,
    ) -> Result<Option<(LogRecord, pb::SignedEvent)>, StoreError> {
        let Some(entry) = self.get_cf(cf::LOG, &position.0.to_be_bytes())? else {
            return Ok(None);
        };
        let record = decode_log(position, &entry)?;
        let envelope = self.envelope_of(&record, &entry)?;
        Ok(Some((record, envelope)))
    }

    /// An event by its id: its log record and its envelope. Always read
    /// through the event's log entry, which must name it: the bytes served
    /// are those a rebuild reads from that entry (and a restore or a
    /// snapshot check verified), never an envelope the id index alone holds.
    pub fn event(&self, id: &EventId) -> Result<Option<(LogRecord, pb::SignedEvent)>, StoreError> {
        let Some(bytes) = self.db.get_pinned_cf(self.cf(cf::EVENTS), id.as_bytes())? else {
            return Ok(None);
        };
        let (position, under_id) = split_event(id, &bytes)?;
        let entry = self
            .get_cf(cf::LOG, &position.0.to_be_bytes())?
            .ok_or_else(|| {
                StoreError::Corrupt(format!(
                    "event {id} is indexed at log position {position}, which is not stored"
                ))
            })?;
        let record = decode_log(position, &entry)?;
        if record.event_id != *id {
            return Err(StoreError::Corrupt(format!(
                "event {id} is indexed at log position {position}, which holds event {}",
                record.event_id
            )));
        }
        let envelope = one_envelope(&record, &entry[LOG_RECORD_BYTES..], under_id)?;
        Ok(Some((record, envelope)))
    }

    /// The envelope of `record`'s event, given its log entry's value
    /// (`entry`): after the record's bytes since store format 4 (a scan
    /// takes it from there without reading the id index; a read by id
    /// checks both); for an entry written before, from the events family,
    /// where it must be stored at the record's position.
    fn envelope_of(&self, record: &LogRecord, entry: &[u8]) -> Result<pb::SignedEvent, StoreError> {
        let id = &record.event_id;
        let in_log = &entry[LOG_RECORD_BYTES..];
        if !in_log.is_empty() {
            return decode_envelope(id, in_log);
        }
        let bytes = self
            .db
            .get_pinned_cf(self.cf(cf::EVENTS), id.as_bytes())?
            .ok_or_else(|| {
                StoreError::Corrupt(format!(
                    "log position {} names event {id}, which is not stored",
                    record.position
                ))
            })?;
        let (position, under_id) = split_event(id, &bytes)?;
        if position != record.position {
            return Err(StoreError::Corrupt(format!(
                "event {id} is stored at log position {position}, but the log has it at {}",
                record.position
            )));
        }
        one_envelope(record, in_log, under_id)
    }

    /// The log position of an event, without reading its envelope.
    pub(crate) fn event_position(&self, id: &EventId) -> Result<Option<LogPosition>, StoreError> {
        let Some(bytes) = self.db.get_pinned_cf(self.cf(cf::EVENTS), id.as_bytes())? else {
            return Ok(None);
        };
        split_event(id, &bytes).map(|(position, _)| Some(position))
    }

    /// The record of a signing key, if registered.
    pub fn key(&self, key: &PublicKeyBytes) -> Result<Option<KeyRecord>, StoreError> {
        self.get_record(cf::KEYS, key.as_bytes())
    }

    pub(crate) fn key_event_at(
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

    /// The record of an organisation, if registered.
    pub fn org(&self, org_id: &str) -> Result<Option<OrgRecord>, StoreError> {
        self.get_record(cf::ORGS, org_id.as_bytes())
    }

    /// Every organisation that registered an IATI organisation identifier:
    /// (org id, IATI identifier).
    pub(crate) fn org_iati_identifiers(&self) -> Result<Vec<(String, String)>, StoreError> {
        let mut found = Vec::new();
        for item in self.db.iterator_cf(self.cf(cf::ORGS), IteratorMode::Start) {
            let (key, value) = item?;
            let record: OrgRecord = decode_record(cf::ORGS, &value)?;
            if !record.iati_identifier.is_empty() {
                found.push((
                    String::from_utf8_lossy(&key).into_owned(),
                    record.iati_identifier,
                ));
            }
        }
        Ok(found)
    }

    /// The current record of a project, if registered.
    pub fn project(&self, project_id: &str) -> Result<Option<ProjectRecord>, StoreError> {
        self.get_record(cf::PROJECTS, project_id.as_bytes())
    }

    /// The project last written with the IATI activity `identifier`, if
    /// any: a hint, which that project's record confirms or not.
    pub(crate) fn iati_activity(&self, identifier: &str) -> Result<Option<String>, StoreError> {
        Ok(self
            .db
            .get_pinned_cf(self.cf(cf::IATI_ACTIVITIES), identifier.as_bytes())?
            .map(|project| String::from_utf8_lossy(&project).into_owned()))
    }

    /// Writes the IATI activities' index (see [`cf::IATI_ACTIVITIES`]) of a
    /// store of a format before 5, from one scan of the projects: each
    /// identifier names the project whose record holds it. In batches of
    /// a few MiB, synced at the end. Returns how many it wrote.
    pub(crate) fn index_iati_activities(&self) -> Result<u64, StoreError> {
        let mut batch = WriteBatch::default();
        let mut written = 0;
        for item in self
            .db
            .iterator_cf(self.cf(cf::PROJECTS), IteratorMode::Start)
        {
            let (project_id, value) = item?;
            let record: ProjectRecord = decode_record(cf::PROJECTS, &value)?;
            if record.iati_identifier.is_empty() {
                continue;
            }
            batch.put_cf(
                self.cf(cf::IATI_ACTIVITIES),
                record.iati_identifier.as_bytes(),
                &project_id,
            );
            written += 1;
            if batch.size_in_bytes() >= crate::limits::REPLACE_BATCH_BYTES {
                self.write_unsynced(std::mem::take(&mut batch))?;
            }
        }
        self.write_synced(batch)?;
        Ok(written)
    }

    /// The record of a municipality (or region, or country) by P-code, if registered.
    pub fn municipality(&self, pcode: &str) -> Result<Option<MunicipalityRecord>, StoreError> {
        self.get_record(cf::MUNICIPALITIES, pcode.as_bytes())
    }

    /// Whether evidence of an equivocation by `key` at `sequence` is kept.
    pub(crate) fn has_evidence(
        &self,
        key: &PublicKeyBytes,
        sequence: u64,
    ) -> Result<bool, StoreError> {
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

    /// Every (key, value) of `family` whose key starts with `prefix`.
    pub(crate) fn scan_prefix(
        &self,
        family: &str,
        prefix: &[u8],
    ) -> Result<Vec<KeyValue>, StoreError> {
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
}

impl Store {
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

    /// Every (key, value) of a column family, in key order (for comparing
    /// projections with a rebuild).
    pub fn dump(&self, family: &str) -> Result<Vec<KeyValue>, StoreError> {
        self.scan_prefix(family, b"")
    }

    /// Every pair of `family` (one of [`cf::all`]) as a JSON object, in key
    /// order, to `each` until it returns false: records as their fields,
    /// whatever their stored form (`tansiq-node dump`). Returns how many.
    pub fn dump_readable(
        &self,
        family: &str,
        mut each: impl FnMut(serde_json::Value) -> bool,
    ) -> Result<u64, StoreError> {
        // A store of an earlier format may lack a family added since.
        if !cf::all().any(|name| name == family) || self.db.cf_handle(family).is_none() {
            return Err(StoreError::NoSuchFamily(family.to_owned()));
        }
        let mut pairs = 0;
        for item in self.db.iterator_cf(self.cf(family), IteratorMode::Start) {
            let (key, value) = item?;
            if !each(super::encoding::readable_pair(family, &key, &value)) {
                break;
            }
            pairs += 1;
        }
        Ok(pairs)
    }

    pub(crate) fn db(&self) -> &DB {
        &self.db
    }

    /// Written to RocksDB's write-ahead log without waiting for the disk;
    /// survives a crash of the process, not of the machine, until the next
    /// synced write (which syncs the whole write-ahead log before it).
    pub(crate) fn write_unsynced(&self, batch: WriteBatch) -> Result<(), StoreError> {
        self.write_with(batch, WriteOptions::default())
    }

    /// A write that skips the write-ahead log: it is in the memtables, and
    /// on disk only once they are flushed ([`Store::flush_all`]). For a
    /// store that is discarded if the process stops before that flush.
    pub(crate) fn write_unlogged(&self, batch: WriteBatch) -> Result<(), StoreError> {
        let mut options = WriteOptions::default();
        options.disable_wal(true);
        self.write_with(batch, options)
    }

    /// Writes every column family's memtable to a table file and waits for
    /// it: what [`Store::write_unlogged`] wrote is then on disk.
    pub(crate) fn flush_all(&self) -> Result<(), StoreError> {
        self.refuse_if_left()?;
        let families: Vec<_> = self.present(cf::all()).collect();
        let mut options = rocksdb::FlushOptions::default();
        options.set_wait(true);
        self.db.flush_cfs_opt(&families, &options)?;
        Ok(())
    }

    /// From now on every write is refused: the store is read in `format`,
    /// the format it was found in, and left in it (see
    /// `UpgradeCopy::Leave`: a backup keeps what the older binary wrote).
    pub(crate) fn leave_as_found(&self, format: u32) {
        self.left_in_format
            .store(format, std::sync::atomic::Ordering::SeqCst);
    }

    fn refuse_if_left(&self) -> Result<(), StoreError> {
        match self
            .left_in_format
            .load(std::sync::atomic::Ordering::SeqCst)
        {
            0 => Ok(()),
            format => Err(StoreError::LeftAsFound { format }),
        }
    }

    /// Whether the store accepts writes: an empty synced write. After a
    /// failed write RocksDB refuses every write until it recovers by itself
    /// (it does from a full disk, once there is space) or is reopened (see
    /// [`StorageFault::reopen_clears`](super::StorageFault::reopen_clears)).
    pub fn accepts_writes(&self) -> Result<(), StoreError> {
        self.write_synced(WriteBatch::default())
    }

    /// A consistent copy of the store in `dir` (which must not exist): a
    /// RocksDB checkpoint (hard links of the immutable files where the
    /// file system allows, copies otherwise), taken while writes go on.
    pub(crate) fn checkpoint(&self, dir: &Path) -> Result<(), StoreError> {
        rocksdb::checkpoint::Checkpoint::new(&self.db)?.create_checkpoint(dir)?;
        Ok(())
    }

    /// The store's format version: [`FORMAT_VERSION`] for a store this
    /// version wrote, 1 for one written before versions were recorded,
    /// None for a store that holds no ledger yet.
    pub fn format_version(&self) -> Result<Option<u32>, StoreError> {
        if let Some(bytes) = self.get_cf(cf::META, META_FORMAT)? {
            let bytes: [u8; 4] = bytes
                .try_into()
                .map_err(|_| StoreError::Corrupt("format version is not 4 bytes".into()))?;
            return Ok(Some(u32::from_be_bytes(bytes)));
        }
        Ok(self.genesis_bytes()?.map(|_| 1))
    }

    /// Records the format version (one synced write: the upgrade from
    /// format 1, whose records read unchanged, is this write alone).
    pub(crate) fn set_format_version(&self, version: u32) -> Result<(), StoreError> {
        let mut batch = WriteBatch::default();
        batch.put_cf(self.cf(cf::META), META_FORMAT, version.to_be_bytes());
        self.write_synced(batch)
    }

    pub(crate) fn write_synced(&self, batch: WriteBatch) -> Result<(), StoreError> {
        let mut options = WriteOptions::default();
        options.set_sync(true);
        self.write_with(batch, options)
    }

    /// Every write of the store: refused once it is left as found.
    fn write_with(&self, batch: WriteBatch, options: WriteOptions) -> Result<(), StoreError> {
        self.refuse_if_left()?;
        self.db.write_opt(batch, &options)?;
        Ok(())
    }

    pub(crate) fn get_record<T: Decode>(
        &self,
        family: &str,
        key: &[u8],
    ) -> Result<Option<T>, StoreError> {
        self.get_cf(family, key)?
            .map(|bytes| decode_record(family, &bytes))
            .transpose()
    }
}

/// The store format this version writes.
/// - 2: the version is recorded (the records of format 1 read unchanged;
///   fields added since are optional).
/// - 3: keys, projects and project versions are written in protobuf
///   (`proto/tansiq/store/v1/records.proto`); the JSON records of formats 1
///   and 2 read unchanged, and are not rewritten (see `super::encoding`).
/// - 4: an event's envelope is written in its log entry, after the log
///   record (the log reads in order, in one scan); the events family maps
///   an event's id to its position only. Events of earlier formats (the
///   envelope in the events family, the log entry the record alone) read
///   unchanged, and are not rewritten.
/// - 5: the IATI activities' index (`cf::IATI_ACTIVITIES`); a store of an
///   earlier format gets it, from one scan of its projects, when it is
///   upgraded.
pub const FORMAT_VERSION: u32 = 5;

/// A value of the events family: an event's log position (8 bytes,
/// big-endian), then, in stores written before format 4, its envelope's
/// bytes (empty since: the envelope is in the log).
fn split_event<'b>(id: &EventId, bytes: &'b [u8]) -> Result<(LogPosition, &'b [u8]), StoreError> {
    let (position, envelope) = bytes.split_first_chunk::<8>().ok_or_else(|| {
        StoreError::Corrupt(format!("event {id} record is {} bytes", bytes.len()))
    })?;
    Ok((LogPosition(u64::from_be_bytes(*position)), envelope))
}

/// The envelope of `record`'s event from the one place that holds it: its
/// log entry, after the record (`in_log`, store format 4), or, for an
/// entry written before, its events-family value, after the position
/// (`under_id`). Both, or neither, is corruption.
fn one_envelope(
    record: &LogRecord,
    in_log: &[u8],
    under_id: &[u8],
) -> Result<pb::SignedEvent, StoreError> {
    let (id, position) = (&record.event_id, record.position);
    match (in_log.is_empty(), under_id.is_empty()) {
        (false, true) => decode_envelope(id, in_log),
        (true, false) => decode_envelope(id, under_id),
        (false, false) => Err(StoreError::Corrupt(format!(
            "event {id} at log position {position} is stored twice: in its log entry and under its id"
        ))),
        (true, true) => Err(StoreError::Corrupt(format!(
            "event {id} at log position {position}: neither its log entry nor the events family holds its envelope"
        ))),
    }
}

/// A pair of the log family as a state file carries it: the entry's
/// record, and its event when the entry holds it (None in the layout
/// before store format 4, where the event is kept in the events family).
pub(crate) fn decode_log_pair(
    key: &[u8],
    value: &[u8],
) -> Result<(LogRecord, Option<pb::SignedEvent>), StoreError> {
    let record = decode_log(log_position(key)?, value)?;
    let in_log = &value[LOG_RECORD_BYTES..];
    if in_log.is_empty() {
        return Ok((record, None));
    }
    let envelope = decode_envelope(&record.event_id, in_log)?;
    Ok((record, Some(envelope)))
}

/// A key of the log family: its position, 8 bytes big-endian.
fn log_position(key: &[u8]) -> Result<LogPosition, StoreError> {
    key.try_into()
        .map(|key| LogPosition(u64::from_be_bytes(key)))
        .map_err(|_| StoreError::Corrupt("log key is not 8 bytes".into()))
}

/// An event's envelope, decoded from its stored bytes.
fn decode_envelope(id: &EventId, envelope: &[u8]) -> Result<pb::SignedEvent, StoreError> {
    pb::SignedEvent::decode(envelope)
        .map_err(|error| StoreError::Corrupt(format!("event {id} envelope: {error}")))
}

#[cfg(test)]
impl Store {
    /// Puts every `step`-th event of the log (from the first) back in the
    /// layout before store format 4: its log entry the 72-byte record
    /// alone, its envelope in the events family after its position. For
    /// the tests that stores (and snapshots) of earlier formats read as
    /// they did. Returns how many were put back.
    pub(crate) fn put_back_in_the_layout_before_format_4(
        &self,
        step: usize,
    ) -> Result<usize, StoreError> {
        let last = self.tip()?.map_or(0, |tip| tip.position.0);
        let (records, envelopes) = self.log_range_with_events(LogPosition(1), last as usize)?;
        let mut batch = WriteBatch::default();
        let mut moved = 0;
        for (record, envelope) in records.iter().zip(&envelopes).step_by(step) {
            let mut entry = Vec::with_capacity(super::keys::LOG_RECORD_BYTES);
            entry.extend_from_slice(record.event_id.as_bytes());
            entry.extend_from_slice(record.head.as_bytes());
            entry.extend_from_slice(&record.committed_at_ms.to_be_bytes());
            batch.put_cf(self.cf(cf::LOG), record.position.0.to_be_bytes(), entry);
            let mut value = record.position.0.to_be_bytes().to_vec();
            envelope
                .encode(&mut value)
                .expect("invariant: encoding into a Vec");
            batch.put_cf(self.cf(cf::EVENTS), record.event_id.as_bytes(), value);
            moved += 1;
        }
        self.write_synced(batch)?;
        Ok(moved)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The names of the files in a store's folder that `keep` keeps, sorted.
    fn files_named(dir: &Path, keep: impl Fn(&str) -> bool) -> Vec<String> {
        let mut files: Vec<String> = std::fs::read_dir(dir)
            .expect("the store's folder")
            .map(|entry| {
                entry
                    .expect("entry")
                    .file_name()
                    .to_string_lossy()
                    .into_owned()
            })
            .filter(|name| keep(name))
            .collect();
        files.sort();
        files
    }

    fn table_files(dir: &Path) -> Vec<String> {
        files_named(dir, |name| name.ends_with(".sst"))
    }

    /// Every family of a store is opened with the memtable size of
    /// `limits` (README: "16 MiB in one family"), as RocksDB records the
    /// options it opened with in the store's OPTIONS file.
    #[test]
    fn every_family_opens_with_the_memtable_size_of_the_limits() {
        let dir = tempfile::tempdir().expect("temporary directory");
        drop(Store::open(dir.path()).expect("a new store"));
        // OPTIONS-NNNNNN, numbered in the order written: the last is the latest.
        let options = files_named(dir.path(), |name| name.starts_with("OPTIONS-"))
            .pop()
            .expect("an OPTIONS file");
        let text = std::fs::read_to_string(dir.path().join(options)).expect("read it");
        let mut sizes = std::collections::HashMap::new();
        let mut family = None;
        for line in text.lines().map(str::trim) {
            if let Some(name) = line.strip_prefix("[CFOptions \"") {
                family = name.strip_suffix("\"]").map(str::to_owned);
            } else if line.starts_with('[') {
                family = None;
            } else if let (Some(name), Some(size)) =
                (&family, line.strip_prefix("write_buffer_size="))
            {
                sizes.insert(name.clone(), size.parse::<usize>().expect("a size"));
            }
        }
        for name in cf::all() {
            assert_eq!(
                sizes.get(name),
                Some(&crate::limits::STORE_MEMTABLE_BYTES),
                "family {name}"
            );
        }
    }

    /// `tansiq-node dump` on a running node: the reader opens every table
    /// file when it opens, so a compaction by the node afterwards, which
    /// writes new files and deletes the ones the reader would read, does
    /// not cut the dump short.
    #[test]
    fn a_read_only_dump_reads_every_pair_after_the_writer_compacts_its_files_away() {
        let dir = tempfile::tempdir().expect("temporary directory");
        let writer = Store::open(dir.path()).expect("open");
        let tree = writer.cf(cf::TREE);
        // More table files than a reader opening files lazily would open
        // at start (RocksDB loads a quarter of its table cache's capacity,
        // 1,024 files here), their keys interleaved so that compacting them
        // means merging them into a new file. The writer does not compact
        // them meanwhile, nor stall.
        writer
            .db
            .set_options_cf(
                tree,
                &[
                    ("disable_auto_compactions", "true"),
                    ("level0_slowdown_writes_trigger", "10000"),
                    ("level0_stop_writes_trigger", "10000"),
                ],
            )
            .expect("options");
        const FILES: u64 = 300;
        for file in 0..FILES {
            let mut batch = WriteBatch::default();
            for index in 0..10u64 {
                batch.put_cf(tree, (index * FILES + file).to_be_bytes(), [7u8; 32]);
            }
            writer.write_synced(batch).expect("write");
            writer.db.flush_cf(tree).expect("flush");
        }
        let before = table_files(dir.path());
        assert!(before.len() >= FILES as usize, "{}", before.len());

        let reader = Store::open_read_only(dir.path()).expect("open to read");
        writer
            .db
            .compact_range_cf(tree, None::<&[u8]>, None::<&[u8]>);
        let after = table_files(dir.path());
        assert!(
            before.iter().all(|file| !after.contains(file)),
            "the compaction replaced every file: after {after:?}"
        );

        let dumped = reader.dump_readable(cf::TREE, |_| true).expect("dump");
        assert_eq!(dumped, FILES * 10);
    }
}
