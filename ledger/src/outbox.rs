//! A donor site's durable outbox: signed requests its node accepted while it
//! could not reach the cluster's leader, kept in order until delivered.
//!
//! It lives in the node's own RocksDB, in the `outbox` column family, which
//! is local to the node (not part of the replicated state, never in a
//! snapshot). Keys: `q` + sequence (big-endian) → the request (protobuf
//! `SubmitBatchRequest`); `i` + event id → the sequence holding it, so that a
//! resubmitted event is found and never queued twice. Every change is a
//! synced write: an accepted event survives a crash of the node.

use std::sync::Mutex;

use prost::Message;
use rocksdb::{Direction, IteratorMode, WriteBatch};
use tansiq_proto::v1 as pb;

use crate::ids::EventId;
use crate::store::{cf, Store, StoreError};

const QUEUE: u8 = b'q';
const INDEX: u8 = b'i';

/// The outbox of one node's store.
pub struct Outbox {
    /// Serialises appends (each takes the next sequence number).
    append: Mutex<()>,
}

/// One queued request.
pub struct Queued {
    pub sequence: u64,
    pub events: Vec<pb::SignedEvent>,
}

fn queue_key(sequence: u64) -> [u8; 9] {
    let mut key = [QUEUE; 9];
    key[1..].copy_from_slice(&sequence.to_be_bytes());
    key
}

fn index_key(id: &EventId) -> Vec<u8> {
    let mut key = vec![INDEX];
    key.extend_from_slice(&id.0);
    key
}

fn corrupt(what: &str) -> StoreError {
    StoreError::Corrupt(format!("outbox: {what}"))
}

impl Default for Outbox {
    fn default() -> Self {
        Outbox::new()
    }
}

impl Outbox {
    pub fn new() -> Self {
        Outbox {
            append: Mutex::new(()),
        }
    }

    /// Queues a request whose events are identified by `ids` (same order).
    /// Returns false, and queues nothing, when one of them is queued already
    /// (a resubmission).
    pub fn push(
        &self,
        store: &Store,
        ids: &[EventId],
        events: Vec<pb::SignedEvent>,
    ) -> Result<bool, StoreError> {
        let _guard = self
            .append
            .lock()
            .map_err(|_| corrupt("append lock poisoned"))?;
        for id in ids {
            if store.get_cf(cf::OUTBOX, &index_key(id))?.is_some() {
                return Ok(false);
            }
        }
        let sequence = self.last_sequence(store)?.map_or(1, |last| last + 1);
        let family = store.cf(cf::OUTBOX);
        let mut batch = WriteBatch::default();
        batch.put_cf(
            family,
            queue_key(sequence),
            pb::SubmitBatchRequest { events }.encode_to_vec(),
        );
        for id in ids {
            batch.put_cf(family, index_key(id), sequence.to_be_bytes());
        }
        store.write_synced(batch)?;
        Ok(true)
    }

    fn last_sequence(&self, store: &Store) -> Result<Option<u64>, StoreError> {
        let family = store.cf(cf::OUTBOX);
        let end = queue_key(u64::MAX);
        let mut iter = store
            .db()
            .iterator_cf(family, IteratorMode::From(&end, Direction::Reverse));
        match iter.next() {
            Some(item) => {
                let (key, _) = item?;
                if key.first() != Some(&QUEUE) {
                    return Ok(None);
                }
                let bytes: [u8; 8] = key[1..]
                    .try_into()
                    .map_err(|_| corrupt("queue key length"))?;
                Ok(Some(u64::from_be_bytes(bytes)))
            }
            None => Ok(None),
        }
    }

    /// The oldest queued request.
    pub fn first(&self, store: &Store) -> Result<Option<Queued>, StoreError> {
        let family = store.cf(cf::OUTBOX);
        let mut iter = store
            .db()
            .iterator_cf(family, IteratorMode::From(&[QUEUE], Direction::Forward));
        let Some(item) = iter.next() else {
            return Ok(None);
        };
        let (key, value) = item?;
        if key.first() != Some(&QUEUE) {
            return Ok(None);
        }
        let bytes: [u8; 8] = key[1..]
            .try_into()
            .map_err(|_| corrupt("queue key length"))?;
        let request = pb::SubmitBatchRequest::decode(value.as_ref())
            .map_err(|error| corrupt(&format!("queued request does not decode: {error}")))?;
        Ok(Some(Queued {
            sequence: u64::from_be_bytes(bytes),
            events: request.events,
        }))
    }

    /// Removes a delivered (or refused) request and its index entries.
    pub fn remove(&self, store: &Store, sequence: u64, ids: &[EventId]) -> Result<(), StoreError> {
        let family = store.cf(cf::OUTBOX);
        let mut batch = WriteBatch::default();
        batch.delete_cf(family, queue_key(sequence));
        for id in ids {
            batch.delete_cf(family, index_key(id));
        }
        store.write_synced(batch)
    }

    /// Whether `id` waits in the outbox.
    pub fn contains(&self, store: &Store, id: &EventId) -> Result<bool, StoreError> {
        Ok(store.get_cf(cf::OUTBOX, &index_key(id))?.is_some())
    }

    /// Requests waiting.
    pub fn len(&self, store: &Store) -> Result<u64, StoreError> {
        let family = store.cf(cf::OUTBOX);
        let mut count = 0;
        for item in store
            .db()
            .iterator_cf(family, IteratorMode::From(&[QUEUE], Direction::Forward))
        {
            let (key, _) = item?;
            if key.first() != Some(&QUEUE) {
                break;
            }
            count += 1;
        }
        Ok(count)
    }

    /// Whether nothing waits (reads one key; decodes nothing).
    pub fn is_empty(&self, store: &Store) -> Result<bool, StoreError> {
        let family = store.cf(cf::OUTBOX);
        let mut iter = store
            .db()
            .iterator_cf(family, IteratorMode::From(&[QUEUE], Direction::Forward));
        match iter.next() {
            Some(item) => Ok(item?.0.first() != Some(&QUEUE)),
            None => Ok(true),
        }
    }
}
