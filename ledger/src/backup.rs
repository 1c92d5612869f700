//! Backups of a ledger and their restoration: a consistent copy of the
//! store (a RocksDB checkpoint: hard links of its immutable files, taken
//! while the ledger keeps serving) with a manifest naming the chain, the
//! position and head it holds and a hash of every file; a restoration that
//! refuses a damaged or foreign backup by name, replays every signed
//! event of the restored log and installs only the state so replayed.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::append::{rebuild, Ledger, OpenError, UpgradeCopy};
use crate::event::Signatures;
use crate::genesis::Genesis;
use crate::store::{StoreError, Tip};

/// The manifest's file name, beside the copied store (`db/`).
pub const MANIFEST_FILE: &str = "tansiq-backup.json";
/// The copied store's folder in a backup (as in a data directory).
pub use crate::store::STORE_DIR;
/// The chain's genesis file in a backup (what `tansiq-node --genesis` reads).
pub const GENESIS_FILE: &str = "genesis.json";
/// What this version writes in [`Manifest::format`].
pub const BACKUP_FORMAT: u32 = 1;

/// What a backup holds, written beside it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// [`BACKUP_FORMAT`] when written.
    pub format: u32,
    /// The chain the ledger belongs to.
    pub chain_id: String,
    /// Its genesis' hash, hex.
    pub genesis_hash: String,
    /// The last log position in the copy.
    pub position: u64,
    /// The log head there, hex.
    pub head: String,
    /// When the backup was taken, ms since the Unix epoch.
    pub created_at_ms: i64,
    /// A cluster member's membership as its store held it (openraft's
    /// stored membership, JSON), or None outside a cluster.
    pub membership: Option<String>,
    /// The member whose store it is (a cluster member's that recorded its
    /// id), or None.
    #[serde(default)]
    pub member: Option<u64>,
    /// Every file of the copy, under `db/`.
    pub files: Vec<BackupFile>,
}

/// One file of a backup.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackupFile {
    /// Its path under `db/`.
    pub name: String,
    /// Its size in bytes.
    pub bytes: u64,
    /// Its BLAKE3 hash, hex.
    pub blake3: String,
}

/// Why a backup was not written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BackupError {
    /// The destination holds something already.
    #[error("{0} exists and is not empty: a backup goes into a new folder")]
    NotEmpty(PathBuf),
    /// Reading the ledger or writing the copy failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A file could not be written or read.
    #[error("{path}: {error}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        error: std::io::Error,
    },
}

/// Why a backup was not restored (nothing was written to the data directory).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RestoreError {
    /// No manifest, or one this version cannot read.
    #[error("{0}")]
    NotABackup(String),
    /// A file is missing, has another size or hash, or is not in the manifest.
    #[error("the backup is damaged: {file}: {why}; nothing was restored")]
    Damaged {
        /// The file, under `db/`.
        file: String,
        /// What is wrong with it.
        why: String,
    },
    /// The backup is of another chain than the node's genesis.
    #[error("the backup is of chain {backup} (genesis {backup_genesis}), not of this node's chain {expected} ({expected_genesis}); nothing was restored")]
    Foreign {
        /// The backup's chain.
        backup: String,
        /// Its genesis hash.
        backup_genesis: String,
        /// The node's chain.
        expected: String,
        /// The node's genesis hash.
        expected_genesis: String,
    },
    /// The data directory holds a store already.
    #[error("{0} holds a store already: restore into an empty data directory (move the old one aside first)")]
    TargetNotEmpty(PathBuf),
    /// The restored log does not replay to what the manifest says.
    #[error("the restored log does not check: {0}; nothing was restored")]
    Unverified(String),
    /// A file could not be read or written.
    #[error("{path}: {error}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        error: std::io::Error,
    },
}

fn backup_io(path: &Path) -> impl Fn(std::io::Error) -> BackupError + '_ {
    move |error| BackupError::Io {
        path: path.to_path_buf(),
        error,
    }
}

fn restore_io(path: &Path) -> impl Fn(std::io::Error) -> RestoreError + '_ {
    move |error| RestoreError::Io {
        path: path.to_path_buf(),
        error,
    }
}

/// Writes a consistent copy of `ledger` into `out` (new or empty) while it
/// keeps serving: a RocksDB checkpoint of its store in `out/db`, the
/// chain's genesis file, then the manifest. Returns the manifest.
pub fn backup(ledger: &Ledger, out: &Path) -> Result<Manifest, BackupError> {
    if fs::read_dir(out).is_ok_and(|mut entries| entries.next().is_some()) {
        return Err(BackupError::NotEmpty(out.to_path_buf()));
    }
    fs::create_dir_all(out).map_err(backup_io(out))?;
    let store_dir = out.join(STORE_DIR);
    {
        // No snapshot replaces the state meanwhile.
        let _held = ledger.hold_state();
        ledger.store().checkpoint(&store_dir)?;
    }
    // What the copy holds, read from the copy itself.
    let copy = crate::store::Store::open(&store_dir)?;
    let tip = copy
        .tip()?
        .ok_or_else(|| StoreError::Corrupt("the copied store has no tip".into()))?;
    let membership = crate::replication::stored_membership(&copy)?;
    let member = crate::replication::member::member_of(&copy)?.flatten();
    drop(copy);
    let manifest = Manifest {
        format: BACKUP_FORMAT,
        chain_id: ledger.chain().to_string(),
        genesis_hash: ledger.genesis().hash.to_hex(),
        position: tip.position.0,
        head: tip.head.to_hex(),
        created_at_ms: crate::author::now_ms(),
        membership,
        member,
        files: hash_files(&store_dir).map_err(|(path, error)| BackupError::Io { path, error })?,
    };
    let genesis = out.join(GENESIS_FILE);
    fs::write(
        &genesis,
        crate::genesis::GenesisFile::from_genesis(ledger.genesis()).to_json(),
    )
    .map_err(backup_io(&genesis))?;
    let path = out.join(MANIFEST_FILE);
    let text = serde_json::to_vec_pretty(&manifest)
        .map_err(|error| StoreError::Corrupt(format!("manifest: {error}")))?;
    let temporary = out.join(format!("{MANIFEST_FILE}.tmp"));
    let mut file = fs::File::create(&temporary).map_err(backup_io(&temporary))?;
    file.write_all(&text).map_err(backup_io(&temporary))?;
    file.sync_all().map_err(backup_io(&temporary))?;
    fs::rename(&temporary, &path).map_err(backup_io(&path))?;
    fs::File::open(out)
        .and_then(|dir| dir.sync_all())
        .map_err(backup_io(out))?;
    Ok(manifest)
}

/// Every file under `dir`, by name relative to it, in name order, with its size and hash.
fn hash_files(dir: &Path) -> Result<Vec<BackupFile>, (PathBuf, std::io::Error)> {
    let mut files = Vec::new();
    let mut entries: Vec<_> = fs::read_dir(dir)
        .map_err(|error| (dir.to_path_buf(), error))?
        .collect::<Result<_, _>>()
        .map_err(|error| (dir.to_path_buf(), error))?;
    entries.sort_by_key(fs::DirEntry::file_name);
    for entry in entries {
        let path = entry.path();
        if !path.is_file() {
            continue;
        }
        // Streamed: an SST file may be hundreds of MiB.
        let mut hasher = blake3::Hasher::new();
        let bytes = fs::File::open(&path)
            .and_then(|mut file| std::io::copy(&mut file, &mut hasher))
            .map_err(|error| (path.clone(), error))?;
        files.push(BackupFile {
            name: entry.file_name().to_string_lossy().into_owned(),
            bytes,
            blake3: hasher.finalize().to_hex().to_string(),
        });
    }
    Ok(files)
}

/// Reads and checks the backup in `from`: its manifest, every file's size
/// and hash, no file it does not name, and (with `expected`) its chain.
pub fn check(from: &Path, expected: Option<&Genesis>) -> Result<Manifest, RestoreError> {
    let path = from.join(MANIFEST_FILE);
    let text = fs::read(&path).map_err(|error| {
        RestoreError::NotABackup(format!(
            "{} is not a Tansiq backup: {}: {error}",
            from.display(),
            path.display()
        ))
    })?;
    let manifest: Manifest = serde_json::from_slice(&text).map_err(|error| {
        RestoreError::NotABackup(format!(
            "{}: not a backup manifest: {error}",
            path.display()
        ))
    })?;
    if manifest.format != BACKUP_FORMAT {
        return Err(RestoreError::NotABackup(format!(
            "{}: backup format {} (this version reads {BACKUP_FORMAT})",
            path.display(),
            manifest.format
        )));
    }
    if let Some(genesis) = expected {
        if genesis.chain.as_str() != manifest.chain_id
            || genesis.hash.to_hex() != manifest.genesis_hash
        {
            return Err(RestoreError::Foreign {
                backup: manifest.chain_id.clone(),
                backup_genesis: manifest.genesis_hash.clone(),
                expected: genesis.chain.to_string(),
                expected_genesis: genesis.hash.to_hex(),
            });
        }
    }
    let store_dir = from.join(STORE_DIR);
    let found = hash_files(&store_dir).map_err(|(path, error)| RestoreError::Damaged {
        file: path.display().to_string(),
        why: error.to_string(),
    })?;
    for expected in &manifest.files {
        let Some(file) = found.iter().find(|file| file.name == expected.name) else {
            return Err(RestoreError::Damaged {
                file: expected.name.clone(),
                why: "missing".into(),
            });
        };
        if file.bytes != expected.bytes {
            return Err(RestoreError::Damaged {
                file: expected.name.clone(),
                why: format!("{} bytes, the manifest says {}", file.bytes, expected.bytes),
            });
        }
        if file.blake3 != expected.blake3 {
            return Err(RestoreError::Damaged {
                file: expected.name.clone(),
                why: "its content is not what the manifest's hash says".into(),
            });
        }
    }
    if let Some(extra) = found
        .iter()
        .find(|file| !manifest.files.iter().any(|named| named.name == file.name))
    {
        return Err(RestoreError::Damaged {
            file: extra.name.clone(),
            why: "not in the manifest".into(),
        });
    }
    Ok(manifest)
}

/// What [`restore`] restored.
#[derive(Clone, Debug)]
pub struct Restored {
    /// The backup's manifest.
    pub manifest: Manifest,
    /// The restored log's tip (the manifest's position and head).
    pub tip: Tip,
    /// For a cluster member's backup: what it was a copy of. The restored
    /// store forgot its Raft state and rejoins as a new member (see
    /// `replication::member`).
    pub rejoins: Option<crate::replication::member::RestoredFrom>,
}

/// Restores the backup in `from` into `data_dir/db` (which must not hold a
/// store): checks it ([`check`]), copies it beside the target, replays
/// every signed event of the copy (signatures, key chains, rules) and
/// checks that it ends at the manifest's position and head; installs in
/// the copy the state so replayed, in place of the copy's own registries,
/// projections and indexes (with the copy's equivocation evidence, each
/// piece checked); a cluster member's copy then forgets its Raft state (it
/// rejoins as a new member); and only then is it moved into place.
pub fn restore(
    from: &Path,
    data_dir: &Path,
    expected: Option<&Genesis>,
) -> Result<Restored, RestoreError> {
    let manifest = check(from, expected)?;
    let target = data_dir.join(STORE_DIR);
    if fs::read_dir(&target).is_ok_and(|mut entries| entries.next().is_some()) {
        return Err(RestoreError::TargetNotEmpty(target));
    }
    fs::create_dir_all(data_dir).map_err(restore_io(data_dir))?;
    let staging = data_dir.join("db.restoring");
    let _ = fs::remove_dir_all(&staging);
    fs::create_dir_all(&staging).map_err(restore_io(&staging))?;
    for file in &manifest.files {
        let source = from.join(STORE_DIR).join(&file.name);
        let copy = staging.join(&file.name);
        fs::copy(&source, &copy).map_err(restore_io(&source))?;
        fs::File::open(&copy)
            .and_then(|copied| copied.sync_all())
            .map_err(restore_io(&copy))?;
    }
    let checked = (|| {
        // The backup is the copy: an older format is upgraded without
        // keeping another one.
        let ledger = Ledger::open_upgrading(&staging, None, UpgradeCopy::Skip).map_err(
            |error| match error {
                OpenError::NewerFormat { found, supported } => RestoreError::NotABackup(format!(
                    "the backup's store has format {found}, written by a newer Tansiq; this binary reads formats up to {supported}: restore it with the version that took it, or a newer one; nothing was restored"
                )),
                error => RestoreError::Unverified(error.to_string()),
            },
        )?;
        let tip = ledger
            .tip()
            .map_err(|error| RestoreError::Unverified(error.to_string()))?;
        let scratch = data_dir.join("db.replaying");
        let state = data_dir.join("db.replayed-state");
        let _ = fs::remove_dir_all(&scratch);
        let installed = (|| {
            let replayed = rebuild(&ledger, &scratch, i64::MAX, Signatures::Verify)
                .map_err(|error| RestoreError::Unverified(error.to_string()))?;
            let replayed_tip = replayed
                .tip()
                .map_err(|error| RestoreError::Unverified(error.to_string()))?;
            if replayed_tip != tip
                || tip.position.0 != manifest.position
                || tip.head.to_hex() != manifest.head
            {
                return Err(RestoreError::Unverified(format!(
                    "the manifest says position {} head {}, the copy holds position {} head {}, and its signed events replay to position {} head {}",
                    manifest.position,
                    manifest.head,
                    tip.position.0,
                    tip.head.to_hex(),
                    replayed_tip.position.0,
                    replayed_tip.head.to_hex()
                )));
            }
            carry_checked_evidence(&ledger, &replayed)?;
            // What is installed is the replay's state, a function of the
            // signed events (and the evidence just checked): the copy's
            // registries, projections and indexes are never trusted. The
            // copy keeps only what is the node's own (its Raft state,
            // forgotten below for a member, and a donor site's outbox).
            let replayed_store = replayed.store();
            replayed_store
                .write_state(&replayed_store.db().snapshot(), &state)
                .map_err(restore_io(&state))?;
            drop(replayed);
            ledger
                .store()
                .replace_state(&state, Vec::new())
                .map_err(|error| RestoreError::Unverified(error.to_string()))
        })();
        let _ = fs::remove_dir_all(&scratch);
        let _ = fs::remove_file(&state);
        installed?;
        let rejoins = crate::replication::member::forget_for_rejoining(ledger.store())
            .map_err(|error| RestoreError::Unverified(error.to_string()))?;
        Ok((tip, rejoins))
    })();
    let (tip, rejoins) = match checked {
        Ok(checked) => checked,
        Err(error) => {
            let _ = fs::remove_dir_all(&staging);
            return Err(error);
        }
    };
    let _ = fs::remove_dir(&target);
    fs::rename(&staging, &target).map_err(restore_io(&target))?;
    fs::File::open(data_dir)
        .and_then(|dir| dir.sync_all())
        .map_err(restore_io(data_dir))?;
    Ok(Restored {
        manifest,
        tip,
        rejoins,
    })
}

/// Writes into `replayed` the equivocation evidence of `copy`, each piece
/// checked first: the refused envelope decodes for the chain, names the
/// key, sequence and id the evidence is kept under, and is signed by that
/// key (signature checked). Evidence is not in the log, so the replay
/// cannot give it; a piece that does not check refuses the restore, naming
/// it. What the log holds at that sequence is not asked: an honest store
/// keeps evidence of an event refused against another of the same request
/// (both at one sequence), and that request logged neither, so the log may
/// hold no event there, or later the refused one itself. A piece whose
/// signature checks was signed by its key, whatever the log says, and is
/// what the node that took the backup kept.
fn carry_checked_evidence(copy: &Ledger, replayed: &Ledger) -> Result<usize, RestoreError> {
    let unverified = |error: StoreError| RestoreError::Unverified(error.to_string());
    let evidence = copy.store().evidence().map_err(unverified)?;
    let mut batch = replayed.store().batch();
    for (key, sequence, id, envelope) in &evidence {
        let refuse = |why: &str| {
            RestoreError::Unverified(format!(
                "the backup's evidence of an equivocation by key {key} at sequence {sequence} (event {id}) {why}"
            ))
        };
        let event = crate::event::Event::decode(copy.chain(), envelope.clone())
            .map_err(|rejection| refuse(&format!("does not decode: {rejection}")))?;
        if event.signer != *key || event.sequence != *sequence || event.id != *id {
            return Err(refuse(&format!(
                "holds another event: key {}, sequence {}, id {}",
                event.signer, event.sequence, event.id
            )));
        }
        if !crate::event::verify_events_on_this_thread(copy.chain(), &[&event])[0] {
            return Err(refuse("is not signed by that key"));
        }
        batch.put_evidence(key, *sequence, id, envelope);
    }
    replayed
        .store()
        .write_synced(batch.batch)
        .map_err(unverified)?;
    Ok(evidence.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A backup taken by a newer Tansiq (a newer store format) is refused
    /// before anything is restored, saying what to do.
    #[test]
    fn a_backup_of_a_newer_store_format_is_refused_saying_what_to_do() {
        let dir = tempfile::tempdir().expect("temporary directory");
        let genesis = crate::testing::bare_genesis("tansiq-newer", 8);
        let ledger = Ledger::open(&dir.path().join("node/db"), Some(&genesis)).expect("a ledger");
        ledger
            .store()
            .set_format_version(crate::store::FORMAT_VERSION + 1)
            .expect("write");
        let out = dir.path().join("backup");
        backup(&ledger, &out).expect("a backup");
        drop(ledger);
        let target = dir.path().join("restored");
        match restore(&out, &target, Some(&genesis)) {
            Err(RestoreError::NotABackup(why)) => {
                assert!(why.contains("written by a newer Tansiq"), "{why}");
                assert!(
                    why.contains("restore it with the version that took it"),
                    "{why}"
                );
            }
            other => panic!("a newer format must be refused: {:?}", other.map(|_| ())),
        }
        assert!(!target.join(STORE_DIR).exists());
    }
    /// What a restore installs is what the backup's signed events give,
    /// never the copy's own registries, projections or indexes: a backup
    /// whose municipality record and coverage index were rewritten, its
    /// manifest's hashes recomputed (as whoever forged the files would),
    /// restores to the honest record without the forged entry, and keeps
    /// its equivocation evidence, checked (also a piece refused against an
    /// event of its own request, which the log does not hold). Evidence that
    /// does not check (a signature changed) refuses the restore, naming it.
    #[test]
    fn a_restore_installs_what_the_signed_events_give_not_the_copys_own_state() {
        use crate::author::Author;
        use crate::signing::KeyPair;
        use crate::testing::events::municipality;
        use crate::testing::{commit_group, open_test_ledger};

        let dir = tempfile::tempdir().expect("temporary directory");
        let at = 1_767_225_600_000;
        let (ledger, mut ministry) =
            open_test_ledger(&dir.path().join("node/db"), "tansiq-restore", 3, at);
        let genesis = ledger.genesis().clone();
        let (tripoli, _) = ministry.sign(municipality("LY01", "", 1), at);
        assert!(commit_group(&ledger, vec![vec![tripoli]], at)[0].is_ok());
        // The same key signs another event at sequence 1: refused, kept as evidence.
        let mut twin = Author::new(
            ledger.chain().clone(),
            ministry.org.clone(),
            KeyPair::from_seed([3; 32]),
            0,
            None,
        );
        let (equivocation, _) = twin.sign(municipality("LY09", "", 1), at);
        assert!(commit_group(&ledger, vec![vec![equivocation.clone()]], at)[0].is_err());
        let (benghazi, benghazi_id) = ministry.sign(municipality("LY02", "", 1), at);
        assert!(commit_group(&ledger, vec![vec![benghazi]], at)[0].is_ok());
        // One request holding two events at sequence 3: the second is
        // refused against the first, the request logs neither, and the
        // second is kept as evidence though the log has no event there.
        let (sirte, _) = ministry.sign(municipality("LY03", "", 1), at);
        let (sirte_twin, _) = Author::new(
            ledger.chain().clone(),
            ministry.org.clone(),
            KeyPair::from_seed([3; 32]),
            2,
            Some(benghazi_id),
        )
        .sign(municipality("LY04", "", 1), at);
        assert!(commit_group(&ledger, vec![vec![sirte, sirte_twin]], at)[0].is_err());
        let honest = ledger.store().municipality("LY01").expect("read");
        assert!(honest.is_some());
        assert_eq!(ledger.store().evidence().expect("evidence").len(), 2);
        let forged_state = dir.path().join("backup-forged-state");
        let forged_evidence = dir.path().join("backup-forged-evidence");
        backup(&ledger, &forged_state).expect("a backup");
        backup(&ledger, &forged_evidence).expect("a backup");
        let forged_event = dir.path().join("backup-forged-event");
        backup(&ledger, &forged_event).expect("a backup");
        let first = ledger
            .store()
            .log_record(crate::ids::LogPosition(1))
            .expect("read")
            .expect("logged");
        drop(ledger);

        // Rewrites `backup`'s store with `forge`, then its manifest's hashes.
        let forge = |backup: &Path, forge: &dyn Fn(&crate::store::Store)| {
            let store = crate::store::Store::open(&backup.join(STORE_DIR)).expect("open the copy");
            forge(&store);
            drop(store);
            let path = backup.join(MANIFEST_FILE);
            let mut manifest: Manifest =
                serde_json::from_slice(&fs::read(&path).expect("manifest")).expect("json");
            manifest.files = hash_files(&backup.join(STORE_DIR)).expect("hashes");
            fs::write(&path, serde_json::to_vec(&manifest).expect("json")).expect("write");
        };
        forge(&forged_state, &|store| {
            let mut batch = store.batch();
            batch.put_municipality(
                "LY01",
                &crate::store::MunicipalityRecord {
                    parent: String::new(),
                    admin_level: 1,
                    name_arabic: String::new(),
                    name_latin: "Forged".into(),
                },
            );
            batch.put_coverage("LY01", "WASH", "ghost-project");
            store.write_synced(batch.batch).expect("write");
        });
        let target = dir.path().join("restored");
        let restored = restore(&forged_state, &target, Some(&genesis)).expect("restored");
        assert_eq!(restored.tip.position.0, 2);
        let ledger = Ledger::open(&target.join(STORE_DIR), Some(&genesis)).expect("open");
        assert_eq!(ledger.store().municipality("LY01").expect("read"), honest);
        assert_eq!(
            ledger.store().coverage_entries("LY01", true).expect("read"),
            Vec::new(),
            "the forged coverage entry is not installed"
        );
        let evidence = ledger.store().evidence().expect("evidence");
        assert_eq!(evidence.len(), 2, "the checked evidence is kept");
        assert!(evidence.iter().any(|(_, _, _, kept)| *kept == equivocation));
        drop(ledger);

        forge(&forged_evidence, &|store| {
            let mut changed = equivocation.clone();
            changed.signature[5] ^= 1;
            let id = crate::event::Event::decode(&genesis.chain, changed.clone())
                .expect("decodes")
                .id;
            let mut batch = store.batch();
            batch.put_evidence(&twin.key.public(), 1, &id, &changed);
            store.write_synced(batch.batch).expect("write");
        });
        let target = dir.path().join("refused");
        match restore(&forged_evidence, &target, Some(&genesis)) {
            Err(RestoreError::Unverified(why)) => {
                assert!(why.contains("is not signed by that key"), "{why}")
            }
            other => panic!("forged evidence was restored: {:?}", other.map(|_| ())),
        }
        assert!(!target.join(STORE_DIR).exists());

        // An event of the log changed (its signature kept): the restore
        // says which event no longer applies, and restores nothing.
        forge(&forged_event, &|store| {
            let key = 1u64.to_be_bytes();
            let mut entry = store
                .get_cf(crate::store::cf::LOG, &key)
                .expect("read")
                .expect("logged");
            let at = entry
                .windows(4)
                .position(|window| window == b"LY01")
                .expect("the event names LY01");
            entry[at + 3] = b'9';
            let mut batch = store.batch();
            batch
                .batch
                .put_cf(store.cf(crate::store::cf::LOG), key, entry);
            store.write_synced(batch.batch).expect("write");
        });
        let target = dir.path().join("refused-event");
        match restore(&forged_event, &target, Some(&genesis)) {
            Err(RestoreError::Unverified(why)) => assert!(
                why.contains(&format!(
                    "event {} at position 1 no longer applies",
                    first.event_id
                )),
                "{why}"
            ),
            other => panic!("a forged event was restored: {:?}", other.map(|_| ())),
        }
        assert!(!target.join(STORE_DIR).exists());
    }
}
