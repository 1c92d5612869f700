//! The state replaced by a snapshot file, in batches, crash-safe: a marker
//! names the file until the last batch, and an interrupted replacement is
//! finished when the store opens.

use crate::limits::REPLACE_BATCH_BYTES;
use std::io::BufReader;
use std::path::{Path, PathBuf};

use rocksdb::{IteratorMode, WriteBatch, DB};
use serde::{Deserialize, Serialize};

use super::cf;
use super::db::Store;
use super::error::StoreError;

/// RAFT_META key present while a snapshot replaces the state (see
/// [`Store::replace_state`]): its value is a [`Replacing`].
pub(crate) const STATE_REPLACING: &[u8] = b"state_replacing";

/// An unfinished state replacement: the snapshot file it reads and the
/// RAFT_META pairs its last batch writes.
#[derive(Serialize, Deserialize)]
pub(crate) struct Replacing {
    pub(crate) file: PathBuf,
    pub(crate) finish: Vec<(Vec<u8>, Vec<u8>)>,
}

/// A state column family's index in a snapshot file (see [`state_family`]).
pub(crate) fn state_index(family: &str) -> u8 {
    let index = cf::STATE
        .iter()
        .position(|name| *name == family)
        .expect("invariant: the family is a state family");
    u8::try_from(index).expect("invariant: fewer than 255 state families")
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

impl Store {
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
    ///
    /// A store that appends after this holds only state a replay of
    /// signed events wrote (a checked snapshot, a restore; a received file
    /// goes unchecked only into the scratch store a check reads the log
    /// of): staging relies on no key's record being behind the log (an
    /// event that extends its key's chain is not looked up as a repeat,
    /// `Staging::stage_event`).
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
        // A store of an earlier format, being finished by this version
        // before its upgrade, may lack a family added since.
        for handle in self.present(cf::STATE.iter().copied()) {
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
        crate::store::snapshot_file::read_pairs(BufReader::new(input), |family, key, value| {
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
        let mut writer = crate::store::snapshot_file::Writer::create(path)?;
        for (index, family) in (0u8..).zip(cf::STATE) {
            for item in view.iterator_cf(self.cf(family), IteratorMode::Start) {
                let (key, value) = item.map_err(std::io::Error::other)?;
                writer.put(index, &key, &value)?;
            }
        }
        writer.finish_file()
    }

    /// Finishes a state replacement a crash interrupted (see [`Store::replace_state`]).
    pub(crate) fn finish_interrupted_replacement(&self) -> Result<(), StoreError> {
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
}

#[cfg(test)]
mod replace_tests {
    use super::super::keys::META_TIP;
    use super::*;
    use crate::store::KeyValue;

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
