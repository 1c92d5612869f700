//! RocksDB storage: the log, the events as received, the key chains, the
//! registries and the equivocation evidence. One column family per concern;
//! everything a commit group changes goes into one `WriteBatch`, synced.

use std::path::Path;

use prost::Message;
use rocksdb::{ColumnFamilyDescriptor, IteratorMode, Options, WriteBatch, WriteOptions, DB};
use serde::{Deserialize, Serialize};
use tansiq_proto::v1 as pb;

use crate::ids::{EventId, HeadHash, LogPosition, PublicKeyBytes};

/// Column families. Names are part of the on-disk format.
pub(crate) mod cf {
    pub const META: &str = "meta";
    pub const LOG: &str = "log";
    pub const EVENTS: &str = "events";
    pub const KEYS: &str = "keys";
    pub const KEY_SEQUENCE: &str = "key_sequence";
    pub const ORGS: &str = "orgs";
    pub const MUNICIPALITIES: &str = "municipalities";
    pub const PROJECTS: &str = "projects";
    pub const EVIDENCE: &str = "evidence";
    pub const ALL: &[&str] = &[
        META,
        LOG,
        EVENTS,
        KEYS,
        KEY_SEQUENCE,
        ORGS,
        MUNICIPALITIES,
        PROJECTS,
        EVIDENCE,
    ];
}

const META_GENESIS: &[u8] = b"genesis";
const META_TIP: &[u8] = b"tip";

/// Storage failures. These are the node's problem, not the client's.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("RocksDB: {0}")]
    Rocks(#[from] rocksdb::Error),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    #[error("data directory holds chain {found:?}, not {expected:?}")]
    WrongChain { expected: String, found: String },
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
}

/// A registered municipality.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MunicipalityRecord {
    pub parent: String,
    pub admin_level: u32,
    pub name_arabic: String,
    pub name_latin: String,
}

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
        // Most lookups on the append path are for keys that do not exist yet
        // (a new event id, a new project): bloom filters answer those
        // without reading table files.
        let mut table = rocksdb::BlockBasedOptions::default();
        table.set_bloom_filter(10.0, false);
        let mut family = Options::default();
        family.set_block_based_table_factory(&table);
        let families = cf::ALL
            .iter()
            .map(|name| ColumnFamilyDescriptor::new(*name, family.clone()));
        let db = DB::open_cf_descriptors(&options, path, families)?;
        Ok(Store { db })
    }

    fn cf(&self, name: &str) -> &rocksdb::ColumnFamily {
        self.db
            .cf_handle(name)
            .expect("invariant: every column family in cf::ALL is opened")
    }

    fn get_cf(&self, family: &str, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
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

    pub fn project(&self, project_id: &str) -> Result<Option<ProjectRecord>, StoreError> {
        self.get_json(cf::PROJECTS, project_id.as_bytes())
    }

    pub fn municipality(&self, pcode: &str) -> Result<Option<MunicipalityRecord>, StoreError> {
        self.get_json(cf::MUNICIPALITIES, pcode.as_bytes())
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
