//! Typed puts of a write batch: what a commit group writes, one method per
//! record.

use prost::Message;
use rocksdb::WriteBatch;
use tansiq_proto::v1 as pb;

use crate::ids::{EventId, LogPosition, PublicKeyBytes};

use super::cf;
use super::db::Store;
use super::encoding::{Encode, EncodedProject};
use super::keys::{
    key_sequence_key, text_key, versioned_key, LOG_RECORD_BYTES, META_GENESIS, META_TIP,
    META_TREE_SIZE,
};
use super::records::{KeyRecord, LogRecord, MunicipalityRecord, OrgRecord, Tip};

impl Store {
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
    pub(crate) store: &'a Store,
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
    /// A hash of the log's Merkle tree at its stored hash index.
    pub(crate) fn put_tree_hash(&mut self, index: u64, hash: &[u8; 32]) {
        self.batch
            .put_cf(self.store.cf(cf::TREE), index.to_be_bytes(), hash);
    }
    /// How many log entries the tree holds after this batch.
    pub(crate) fn put_tree_size(&mut self, size: u64) {
        self.batch
            .put_cf(self.store.cf(cf::META), META_TREE_SIZE, size.to_be_bytes());
    }
    /// A log entry: its record (event id, head, commit time: 72 bytes),
    /// then its event's envelope. Since store format 4 the log holds the
    /// events, under their positions, so that the log reads in order; the
    /// events family maps each id to its position ([`Batch::put_event`]).
    pub(crate) fn put_log(&mut self, record: &LogRecord, envelope: &pb::SignedEvent) {
        let mut value = Vec::with_capacity(LOG_RECORD_BYTES + envelope.encoded_len());
        value.extend_from_slice(record.event_id.as_bytes());
        value.extend_from_slice(record.head.as_bytes());
        value.extend_from_slice(&record.committed_at_ms.to_be_bytes());
        envelope
            .encode(&mut value)
            .expect("invariant: encoding into a Vec cannot fail");
        self.batch.put_cf(
            self.store.cf(cf::LOG),
            record.position.0.to_be_bytes(),
            value,
        );
    }
    /// An event's log position, under its id (its envelope is in the log).
    pub(crate) fn put_event(&mut self, id: &EventId, position: LogPosition) {
        self.batch.put_cf(
            self.store.cf(cf::EVENTS),
            id.as_bytes(),
            position.0.to_be_bytes(),
        );
    }
    pub(crate) fn put_key(&mut self, key: &PublicKeyBytes, record: &KeyRecord) {
        self.put_record(cf::KEYS, key.as_bytes(), record);
    }
    pub(crate) fn put_key_event(&mut self, key: &PublicKeyBytes, sequence: u64, id: &EventId) {
        self.batch.put_cf(
            self.store.cf(cf::KEY_SEQUENCE),
            key_sequence_key(key, sequence),
            id.as_bytes(),
        );
    }
    pub(crate) fn put_org(&mut self, org_id: &str, record: &OrgRecord) {
        self.put_record(cf::ORGS, org_id.as_bytes(), record);
    }
    /// The project last written with an IATI activity identifier.
    pub(crate) fn put_iati_activity(&mut self, identifier: &str, project_id: &str) {
        self.batch.put_cf(
            self.store.cf(cf::IATI_ACTIVITIES),
            identifier.as_bytes(),
            project_id.as_bytes(),
        );
    }
    pub(crate) fn put_project(&mut self, project_id: &str, encoded: &EncodedProject) {
        self.batch.put_cf(
            self.store.cf(cf::PROJECTS),
            project_id.as_bytes(),
            encoded.record(),
        );
    }
    pub(crate) fn put_municipality(&mut self, pcode: &str, record: &MunicipalityRecord) {
        self.put_record(cf::MUNICIPALITIES, pcode.as_bytes(), record);
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
    /// The project as `position` left it, committed at `committed_at_ms`
    /// (a [`super::ProjectVersion`]).
    pub(crate) fn put_project_version(
        &mut self,
        project_id: &str,
        position: LogPosition,
        committed_at_ms: i64,
        encoded: &EncodedProject,
    ) {
        self.batch.put_cf(
            self.store.cf(cf::PROJECT_VERSIONS),
            versioned_key(&[project_id], position),
            encoded.version(committed_at_ms),
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
    pub(crate) fn put_versioned<T: Encode>(
        &mut self,
        family: &str,
        parts: &[&str],
        position: LogPosition,
        value: &T,
    ) {
        self.put_record(family, &versioned_key(parts, position), value);
    }
    /// A record in its stored form (see `super::encoding`).
    pub(crate) fn put_record<T: Encode>(&mut self, family: &str, key: &[u8], value: &T) {
        self.batch
            .put_cf(self.store.cf(family), key, value.encode());
    }
}
