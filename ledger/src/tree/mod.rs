//! The log as a Merkle tree, so that anyone holding a tree head (its size
//! and root) can check that an event is in the log, and that a later head
//! extends an earlier one, from a proof of log₂(size) hashes — without
//! downloading the log or trusting the node that serves it.
//!
//! - **Hashing** is RFC 6962 / RFC 9162 with SHA-256: a leaf is
//!   `SHA-256(0x00 ‖ entry)`, a node `SHA-256(0x01 ‖ left ‖ right)`.
//! - **Entry *n*** (0-based) is the event at log position *n* + 1, as the
//!   log stores it: the protobuf encoding of its `SignedEvent` (the signed
//!   body bytes and the signature). A mirror of the tree's entries is a
//!   mirror of the ledger.
//! - **Storage** is the layout of Go's checksum database (`sumdb/tlog`),
//!   which the C2SP tiles are cut from: the hash of every complete subtree,
//!   at its *stored hash index*, in the `tree` column family. Appending
//!   entry *n* stores on average two hashes; the root of any size and any
//!   proof read at most a few dozen. The arithmetic is the `tlog_tiles`
//!   crate's (cloudflare/azul's port of `sumdb/tlog`); this module only
//!   reads and writes the store.
//! - The hashes are written in **the same write batch as the events**
//!   (`append::Staging::into_batch`), on a single node and in every Raft
//!   apply, so the tree is a function of the log, identical on every node;
//!   a snapshot carries it. A ledger written before the tree existed gets
//!   it built once from its log when it is opened (`catch_up`).

use std::cell::RefCell;
use std::collections::BTreeMap;

use prost::Message;
use tansiq_proto::v1 as pb;
use tlog_tiles::{HashReader, RecordProof, TreeProof};

use crate::ids::LogPosition;
use crate::store::{Store, StoreError};

pub mod checkpoint;
pub mod tiles;

pub use tlog_tiles::Hash;

/// Entries hashed per batch while a ledger catches up.
const CATCH_UP_BATCH: usize = 10_000;

/// Why a tree question has no answer.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TreeError {
    /// A size or index past the tree, or sizes in the wrong order.
    #[error("{0}")]
    OutOfRange(String),
    /// The event asked about is not on the ledger.
    #[error("{0}")]
    NotFound(String),
    /// Not a tile path.
    #[error("{0}")]
    BadPath(String),
    /// An entry too large for the format asked.
    #[error("{0}")]
    TooLarge(String),
    /// A proof does not verify.
    #[error("the proof does not verify: {0}")]
    Invalid(String),
    /// The store failed, or lacks a hash it should hold.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<TreeError> for StoreError {
    /// A tree failure while writing: the store's own error, or the tree
    /// not matching its log (corruption).
    fn from(error: TreeError) -> Self {
        match error {
            TreeError::Store(error) => error,
            other => StoreError::Corrupt(other.to_string()),
        }
    }
}

/// The hashes of a proof as the wire carries them (32 bytes each).
pub fn proof_hashes(proof: &[Vec<u8>]) -> Result<Vec<Hash>, TreeError> {
    proof
        .iter()
        .map(|bytes| {
            bytes.as_slice().try_into().map(Hash).map_err(|_| {
                TreeError::Invalid(format!("a proof hash is {} bytes, not 32", bytes.len()))
            })
        })
        .collect()
}

/// The leaf data of an event: its `SignedEvent` encoded as the log stores it.
pub fn entry(envelope: &pb::SignedEvent) -> Vec<u8> {
    envelope.encode_to_vec()
}

/// The RFC 6962 hash of a node with children `left` and `right`.
pub fn node_hash(left: Hash, right: Hash) -> Hash {
    tlog_tiles::node_hash(left, right)
}

/// The root of the empty tree: SHA-256 of nothing.
pub fn empty_root() -> Hash {
    tlog_tiles::EMPTY_HASH
}

/// The RFC 6962 leaf hash of `entry`.
pub fn leaf_hash(entry: &[u8]) -> Hash {
    tlog_tiles::record_hash(entry)
}

/// Reads stored hashes from the store, after those of `pending` (written
/// in the batch being built). A store error is kept aside: `tlog_tiles`'s
/// reader interface cannot carry it.
struct Reader<'a> {
    store: &'a Store,
    pending: &'a BTreeMap<u64, Hash>,
    failed: RefCell<Option<StoreError>>,
}

impl HashReader for Reader<'_> {
    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, tlog_tiles::Error> {
        let mut hashes = Vec::with_capacity(indexes.len());
        for index in indexes {
            if let Some(hash) = self.pending.get(index) {
                hashes.push(*hash);
                continue;
            }
            match self.store.tree_hash(*index) {
                Ok(Some(bytes)) => hashes.push(Hash(bytes)),
                Ok(None) => {
                    *self.failed.borrow_mut() = Some(StoreError::Corrupt(format!(
                        "the Merkle tree has no hash at stored index {index}"
                    )));
                    return Err(tlog_tiles::Error::IndexesNotInTree);
                }
                Err(error) => {
                    *self.failed.borrow_mut() = Some(error);
                    return Err(tlog_tiles::Error::IndexesNotInTree);
                }
            }
        }
        Ok(hashes)
    }
}

impl<'a> Reader<'a> {
    fn new(store: &'a Store, pending: &'a BTreeMap<u64, Hash>) -> Self {
        Reader {
            store,
            pending,
            failed: RefCell::new(None),
        }
    }

    /// The store's error if the failure was the store's, else `error`.
    fn error(&self, error: tlog_tiles::Error, what: &str) -> TreeError {
        match self.failed.borrow_mut().take() {
            Some(store) => TreeError::Store(store),
            None => TreeError::Store(StoreError::Corrupt(format!("{what}: {error}"))),
        }
    }
}

/// The hashes to store for `entries`, the tree's entries `first`,
/// `first + 1`, ... (the tree holds `first` entries before them), by
/// stored hash index.
pub(crate) fn hashes_to_store<'e>(
    store: &Store,
    first: u64,
    entries: impl IntoIterator<Item = &'e [u8]>,
) -> Result<BTreeMap<u64, Hash>, TreeError> {
    let mut pending = BTreeMap::new();
    for (offset, entry) in entries.into_iter().enumerate() {
        let n = first + offset as u64;
        let reader = Reader::new(store, &pending);
        let hashes = tlog_tiles::stored_hashes(n, entry, &reader)
            .map_err(|error| reader.error(error, "hashing a log entry into the tree"))?;
        let start = tlog_tiles::stored_hash_index(0, n);
        for (i, hash) in hashes.into_iter().enumerate() {
            pending.insert(start + i as u64, hash);
        }
    }
    Ok(pending)
}

/// Builds the tree of a ledger written before the tree existed (or whose
/// tree is behind its log) from the log, in batches; returns the entries
/// added. A no-op once the tree holds the whole log.
pub(crate) fn catch_up(store: &Store) -> Result<u64, TreeError> {
    let target = store.tip()?.map_or(0, |tip| tip.position.0);
    let start = store.tree_size()?;
    let mut size = start;
    while size < target {
        let (records, envelopes) =
            store.log_range_with_events(LogPosition(size + 1), CATCH_UP_BATCH)?;
        if records.is_empty() {
            return Err(TreeError::Store(StoreError::Corrupt(format!(
                "the log has no entry at position {} below its tip {target}",
                size + 1
            ))));
        }
        let entries: Vec<Vec<u8>> = envelopes.iter().map(entry).collect();
        let hashes = hashes_to_store(store, size, entries.iter().map(Vec::as_slice))?;
        size += entries.len() as u64;
        let mut batch = store.batch();
        for (index, hash) in &hashes {
            batch.put_tree_hash(*index, &hash.0);
        }
        batch.put_tree_size(size);
        store.write_synced(batch.batch)?;
    }
    Ok(size - start)
}

impl Store {
    /// The root of the tree of the first `size` entries.
    pub fn tree_root(&self, size: u64) -> Result<Hash, TreeError> {
        self.within_tree(size, "tree size")?;
        let none = BTreeMap::new();
        let reader = Reader::new(self, &none);
        tlog_tiles::tree_hash(size, &reader).map_err(|error| reader.error(error, "the tree root"))
    }

    /// The proof that entry `index` is in the tree of `size` entries.
    pub fn inclusion_proof(&self, index: u64, size: u64) -> Result<RecordProof, TreeError> {
        self.within_tree(size, "tree size")?;
        if index >= size {
            return Err(TreeError::OutOfRange(format!(
                "entry {index} (log position {}) is not in a tree of {size} entries",
                index + 1
            )));
        }
        let none = BTreeMap::new();
        let reader = Reader::new(self, &none);
        tlog_tiles::prove_record(size, index, &reader)
            .map_err(|error| reader.error(error, "an inclusion proof"))
    }

    /// The proof that the tree of `new` entries extends that of `old`.
    pub fn consistency_proof(&self, old: u64, new: u64) -> Result<TreeProof, TreeError> {
        self.within_tree(new, "tree size")?;
        if old > new {
            return Err(TreeError::OutOfRange(format!(
                "a tree of {old} entries cannot be extended by a smaller one of {new}"
            )));
        }
        if old == 0 {
            // Every tree extends the empty one: nothing to prove.
            return Ok(Vec::new());
        }
        let none = BTreeMap::new();
        let reader = Reader::new(self, &none);
        tlog_tiles::prove_tree(new, old, &reader)
            .map_err(|error| reader.error(error, "a consistency proof"))
    }

    fn within_tree(&self, size: u64, what: &str) -> Result<(), TreeError> {
        let held = self.tree_size()?;
        if size > held {
            return Err(TreeError::OutOfRange(format!(
                "{what} {size} is beyond the tree, which holds {held} entries"
            )));
        }
        Ok(())
    }
}

/// Checks that `entry` is entry `index` of the tree of `size` entries
/// whose root is `root`.
pub fn check_inclusion(
    proof: &[Hash],
    size: u64,
    root: Hash,
    index: u64,
    entry: &[u8],
) -> Result<(), TreeError> {
    tlog_tiles::check_record(&proof.to_vec(), size, root, index, leaf_hash(entry)).map_err(
        |error| {
            TreeError::Invalid(format!(
                "entry {index} is not in the tree of {size} entries with root {}: {error}",
                hex::encode(root.0)
            ))
        },
    )
}

/// Checks that the tree of `new` entries with root `new_root` extends the
/// tree of `old` entries with root `old_root`.
pub fn check_consistency(
    proof: &[Hash],
    new: u64,
    new_root: Hash,
    old: u64,
    old_root: Hash,
) -> Result<(), TreeError> {
    if old == 0 {
        // The empty tree is extended by every tree, if it is the empty one.
        return if old_root == empty_root() && proof.is_empty() {
            Ok(())
        } else {
            Err(TreeError::Invalid(
                "a tree of 0 entries has the empty root and an empty proof".into(),
            ))
        };
    }
    tlog_tiles::check_tree(&proof.to_vec(), new, new_root, old, old_root).map_err(|error| {
        TreeError::Invalid(format!(
            "the tree of {new} entries (root {}) does not extend the tree of {old} entries (root {}): {error}",
            hex::encode(new_root.0),
            hex::encode(old_root.0)
        ))
    })
}

#[cfg(test)]
mod tests;
