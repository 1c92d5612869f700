//! The Raft metadata kept beside the log (`raft_meta`): keys, and the
//! helpers that read and write it as openraft's storage errors.

use openraft::{StorageError, StorageIOError};
use serde::Serialize;

use crate::append::Ledger;
use crate::store::{cf, Store, StoreError};

use super::types::NodeId;

pub(super) const META_VOTE: &[u8] = b"vote";
pub(super) const META_COMMITTED: &[u8] = b"committed";
pub(super) const META_PURGED: &[u8] = b"last_purged";
/// The last log id of a snapshot whose installation began, until it ends
/// (JSON `null` then).
pub(super) const META_INSTALLING: &[u8] = b"installing_snapshot";
pub(super) const META_APPLIED: &[u8] = b"applied";
pub(super) const META_MEMBERSHIP: &[u8] = b"membership";

/// The membership a member's store holds (openraft's stored membership,
/// as the JSON text it is kept in), if it is a cluster member's.
pub(crate) fn stored_membership(
    store: &crate::store::Store,
) -> Result<Option<String>, crate::store::StoreError> {
    Ok(store
        .get_cf(crate::store::cf::RAFT_META, META_MEMBERSHIP)?
        .map(|bytes| String::from_utf8_lossy(&bytes).into_owned()))
}

pub(super) fn io_read(error: impl std::error::Error + 'static) -> StorageError<NodeId> {
    StorageIOError::read(&error).into()
}

pub(super) fn io_write(error: impl std::error::Error + 'static) -> StorageError<NodeId> {
    StorageIOError::write(&error).into()
}

/// Runs blocking storage work (a synced write, an apply that verifies every
/// signature of its entries, a snapshot's copy and replacement) on tokio's
/// blocking pool: openraft calls the storage from its core task, and work
/// done in place would hold one of the runtime's worker threads (two on a
/// 2-core machine) away from every client for its whole duration.
pub(super) async fn off_the_runtime<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, StorageError<NodeId>> + Send + 'static,
) -> Result<T, StorageError<NodeId>> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|error| io_write(std::io::Error::other(error)))?
}

pub(super) fn meta_get<T: serde::de::DeserializeOwned>(
    ledger: &Ledger,
    key: &[u8],
) -> Result<Option<T>, StorageError<NodeId>> {
    read_meta(ledger.store(), key).map_err(io_read)
}

/// A JSON value of the `raft_meta` family; a value that does not parse is
/// a damaged store.
pub(super) fn read_meta<T: serde::de::DeserializeOwned>(
    store: &Store,
    key: &[u8],
) -> Result<Option<T>, StoreError> {
    match store.get_cf(cf::RAFT_META, key)? {
        None => Ok(None),
        Some(bytes) => serde_json::from_slice(&bytes).map(Some).map_err(|error| {
            StoreError::Corrupt(format!(
                "raft_meta {}: {error}",
                String::from_utf8_lossy(key)
            ))
        }),
    }
}

pub(super) fn json<T: Serialize>(value: &T) -> Vec<u8> {
    serde_json::to_vec(value).expect("invariant: Raft metadata serialises to JSON")
}
