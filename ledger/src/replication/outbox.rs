//! A donor site's durable outbox: signed requests its node accepted while it
//! could not reach the cluster's leader, kept in order until delivered.
//!
//! It lives in the node's own RocksDB, in the `outbox` column family, which
//! is local to the node (not part of the replicated state, never in a
//! snapshot). Keys: `q` + sequence (big-endian) → the request (protobuf
//! `SubmitBatchRequest`); `i` + event id → the sequence holding it, so that a
//! resubmitted event is found and never queued twice. Every change is a
//! synced write: an accepted event survives a crash of the node.
//!
//! Bounded: at most [`OUTBOX_BYTES_MAX`] bytes of signed events in all and
//! [`OUTBOX_BYTES_PER_KEY_MAX`] per signing key; a request past either is
//! refused ([`PushOutcome::Full`]) and nothing of it is queued.

use std::collections::HashMap;
use std::sync::Mutex;

use prost::Message;
use rocksdb::{Direction, IteratorMode, WriteBatch};
use tansiq_proto::v1 as pb;

use crate::ids::EventId;
use crate::limits::{OUTBOX_BYTES_MAX, OUTBOX_BYTES_PER_KEY_MAX};
use crate::store::{cf, Store, StoreError};

const QUEUE: u8 = b'q';
const INDEX: u8 = b'i';

/// The outbox of one node's store.
pub struct Outbox {
    /// Serialises appends (each takes the next sequence number), with what
    /// the queue holds (counted from the store on first use).
    append: Mutex<Option<Usage>>,
}

/// Bytes of signed events waiting, in all and by signing key, and the
/// requests and events that hold them.
#[derive(Default)]
struct Usage {
    total: u64,
    by_key: HashMap<Vec<u8>, u64>,
    requests: u64,
    events: u64,
}

/// What waits in an outbox.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Waiting {
    /// Requests queued.
    pub requests: u64,
    /// Their signed events.
    pub events: u64,
    /// Their bytes.
    pub bytes: u64,
}

impl Usage {
    fn add(&mut self, events: &[pb::SignedEvent]) {
        self.requests += 1;
        self.events += events.len() as u64;
        for (key, bytes) in shares(events) {
            self.total += bytes;
            *self.by_key.entry(key).or_default() += bytes;
        }
    }

    fn subtract(&mut self, events: &[pb::SignedEvent]) {
        self.requests = self.requests.saturating_sub(1);
        self.events = self.events.saturating_sub(events.len() as u64);
        for (key, bytes) in shares(events) {
            self.total = self.total.saturating_sub(bytes);
            if let Some(held) = self.by_key.get_mut(&key) {
                *held = held.saturating_sub(bytes);
                if *held == 0 {
                    self.by_key.remove(&key);
                }
            }
        }
    }
}

/// Each event's signing key (as the body names it) and size.
fn shares(events: &[pb::SignedEvent]) -> impl Iterator<Item = (Vec<u8>, u64)> + '_ {
    events.iter().map(|event| {
        let signer = pb::EventBody::decode(event.body.as_slice())
            .map(|body| body.signer_key)
            .unwrap_or_default();
        (signer, (event.body.len() + event.signature.len()) as u64)
    })
}

/// What [`Outbox::push`] did.
#[derive(Debug, PartialEq, Eq)]
pub enum PushOutcome {
    /// The request is queued.
    Queued,
    /// One of the events waits already (a resubmission): nothing queued.
    AlreadyWaiting,
    /// Queuing it would pass a bound: nothing queued.
    Full {
        /// Which bound, for the submitter.
        reason: String,
    },
}

fn hex_prefix(key: &[u8]) -> String {
    key.iter()
        .take(8)
        .map(|byte| format!("{byte:02x}"))
        .collect::<String>()
        + "…"
}

/// One queued request.
pub struct Queued {
    /// Its place in the queue.
    pub sequence: u64,
    /// Its signed events.
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
    /// An outbox; what its store's queue holds is counted on first use.
    pub fn new() -> Self {
        Outbox {
            append: Mutex::new(None),
        }
    }

    fn usage<'a>(
        &self,
        guard: &'a mut Option<Usage>,
        store: &Store,
    ) -> Result<&'a mut Usage, StoreError> {
        if guard.is_none() {
            let mut usage = Usage::default();
            self.each(store, |queued| usage.add(&queued.events))?;
            *guard = Some(usage);
        }
        Ok(guard.get_or_insert_with(Usage::default))
    }

    /// Queues a request whose events are identified by `ids` (same order),
    /// unless one of them waits already (a resubmission) or the request
    /// would pass the outbox's bounds.
    pub fn push(
        &self,
        store: &Store,
        ids: &[EventId],
        events: Vec<pb::SignedEvent>,
    ) -> Result<PushOutcome, StoreError> {
        let mut guard = self
            .append
            .lock()
            .map_err(|_| corrupt("append lock poisoned"))?;
        for id in ids {
            if store.get_cf(cf::OUTBOX, &index_key(id))?.is_some() {
                return Ok(PushOutcome::AlreadyWaiting);
            }
        }
        let usage = self.usage(&mut guard, store)?;
        let mut wanted = Usage::default();
        wanted.add(&events);
        if usage.total + wanted.total > OUTBOX_BYTES_MAX {
            return Ok(PushOutcome::Full {
                reason: format!(
                    "this donor-site node's outbox holds {} MiB waiting for the leader, its limit is {} MiB",
                    usage.total / (1024 * 1024),
                    OUTBOX_BYTES_MAX / (1024 * 1024)
                ),
            });
        }
        for (key, bytes) in &wanted.by_key {
            let held = usage.by_key.get(key).copied().unwrap_or_default();
            if held + bytes > OUTBOX_BYTES_PER_KEY_MAX {
                return Ok(PushOutcome::Full {
                    reason: format!(
                        "signing key {} has {} MiB waiting in this node's outbox already, the limit per key is {} MiB",
                        hex_prefix(key),
                        held / (1024 * 1024),
                        OUTBOX_BYTES_PER_KEY_MAX / (1024 * 1024)
                    ),
                });
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
        usage.total += wanted.total;
        usage.requests += wanted.requests;
        usage.events += wanted.events;
        for (key, bytes) in wanted.by_key {
            *usage.by_key.entry(key).or_default() += bytes;
        }
        Ok(PushOutcome::Queued)
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
    pub fn remove(
        &self,
        store: &Store,
        queued: &Queued,
        ids: &[EventId],
    ) -> Result<(), StoreError> {
        let mut guard = self
            .append
            .lock()
            .map_err(|_| corrupt("append lock poisoned"))?;
        let family = store.cf(cf::OUTBOX);
        let mut batch = WriteBatch::default();
        batch.delete_cf(family, queue_key(queued.sequence));
        for id in ids {
            batch.delete_cf(family, index_key(id));
        }
        store.write_synced(batch)?;
        if let Some(usage) = guard.as_mut() {
            usage.subtract(&queued.events);
        }
        Ok(())
    }

    /// Calls `visit` with every queued request, oldest first.
    fn each(&self, store: &Store, mut visit: impl FnMut(Queued)) -> Result<(), StoreError> {
        let family = store.cf(cf::OUTBOX);
        for item in store
            .db()
            .iterator_cf(family, IteratorMode::From(&[QUEUE], Direction::Forward))
        {
            let (key, value) = item?;
            if key.first() != Some(&QUEUE) {
                break;
            }
            let bytes: [u8; 8] = key[1..]
                .try_into()
                .map_err(|_| corrupt("queue key length"))?;
            let request = pb::SubmitBatchRequest::decode(value.as_ref())
                .map_err(|error| corrupt(&format!("queued request does not decode: {error}")))?;
            visit(Queued {
                sequence: u64::from_be_bytes(bytes),
                events: request.events,
            });
        }
        Ok(())
    }

    /// What waits: counted from the store on first use, then kept as
    /// requests are queued and removed.
    pub fn waiting(&self, store: &Store) -> Result<Waiting, StoreError> {
        let mut guard = self
            .append
            .lock()
            .map_err(|_| corrupt("append lock poisoned"))?;
        let usage = self.usage(&mut guard, store)?;
        Ok(Waiting {
            requests: usage.requests,
            events: usage.events,
            bytes: usage.total,
        })
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
