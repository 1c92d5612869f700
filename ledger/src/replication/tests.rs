//! Storage tests: state replacement, forged and failed snapshots, old log encodings.

use std::io::BufReader;
use std::path::Path;
use std::sync::Arc;

use openraft::storage::{RaftLogStorage, RaftStateMachine};
use openraft::{Entry, EntryPayload, LogId, RaftLogReader, StoredMembership};
use rocksdb::WriteBatch;
use tansiq_proto::v1 as pb;

use crate::append::Ledger;
use crate::store::{cf, StorageFault, StoreError, SNAPSHOT_REFUSED};

use super::log_store::{decode_entry, encode_entry};
use super::meta::{json, META_APPLIED, META_COMMITTED, META_INSTALLING};
use super::state_machine::snapshot_meta;
use super::types::{NodeId, Proposal, TypeConfig};
use super::*;

use openraft::testing::log_id;
use prost::Message;

fn request() -> pb::SubmitBatchRequest {
    pb::SubmitBatchRequest {
        events: vec![pb::SignedEvent {
            body: vec![1, 2, 3, 250, 0, 7],
            signature: vec![9; 64],
        }],
    }
}

fn normal_entry(index: u64) -> Entry<TypeConfig> {
    Entry {
        log_id: log_id(1, 1, index),
        payload: EntryPayload::Normal(Proposal {
            committed_at_ms: 1_767_225_600_000,
            requests: vec![request(), pb::SubmitBatchRequest::default()],
        }),
    }
}

fn ledger(dir: &Path) -> Arc<Ledger> {
    let genesis = crate::genesis::Genesis::new_chain(
        "tansiq-raft-encoding",
        &crate::ids::OrgId::parse("ministry").expect("org id"),
        pb::Names {
            latin: "Ministry".into(),
            arabic: String::new(),
        },
        &[crate::signing::KeyPair::from_seed([4; 32]).public()],
        0,
    )
    .expect("genesis");
    Arc::new(Ledger::open(dir, Some(&genesis)).expect("open ledger"))
}

#[test]
fn a_read_that_overlaps_a_state_replacement_is_refused() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let ledger = ledger(&dir.path().join("db"));
    let file = dir.path().join("own-state.snapshot");
    StateMachine::new(Arc::clone(&ledger))
        .dump_state(&file)
        .expect("dump the state");
    let before = ledger.read(Ledger::tip).expect("a read alone is answered");

    let overlapped = ledger.read(|ledger| {
        ledger.replace_state(&file, Vec::new())?;
        ledger.tip()
    });

    assert!(
        matches!(overlapped, Err(StoreError::StateBeingReplaced)),
        "{overlapped:?}"
    );
    assert_eq!(ledger.read(Ledger::tip).expect("answered again"), before);

    // A replacement that fails part way (the file damaged since it was
    // checked) leaves the state half replaced: reads stay refused.
    let mut bytes = std::fs::read(&file).expect("read the file");
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    std::fs::write(&file, bytes).expect("damage the file");
    assert!(ledger.replace_state(&file, Vec::new()).is_err());
    assert!(matches!(
        ledger.read(Ledger::tip),
        Err(StoreError::StateBeingReplaced)
    ));
}

/// Rewrites snapshot `from` into `to`, changing each pair `edit` changes.
fn forge(from: &Path, to: &Path, mut edit: impl FnMut(&str, &[u8], &mut Vec<u8>)) {
    let mut writer = crate::store::snapshot_file::Writer::create(to).expect("create");
    let file = std::fs::File::open(from).expect("open the snapshot");
    crate::store::snapshot_file::read_pairs(BufReader::new(file), |family, key, value| {
        let mut value = value.to_vec();
        edit(cf::STATE[family as usize], key, &mut value);
        writer.put(family, key, &value)
    })
    .expect("read the snapshot");
    writer.finish_file().expect("finish");
}

/// Installs the snapshot file `file` into `ledger` as openraft does.
async fn install(
    ledger: &Arc<Ledger>,
    meta: &openraft::SnapshotMeta<NodeId, openraft::BasicNode>,
    file: &Path,
) -> Result<(), openraft::StorageError<NodeId>> {
    let file = tokio::fs::File::open(file)
        .await
        .expect("open the snapshot");
    StateMachine::new(Arc::clone(ledger))
        .install_snapshot(meta, Box::new(file))
        .await
}

/// A ledger at `dir` whose one event registers Tripoli (LY01).
fn tripoli_ledger(dir: &Path) -> Arc<Ledger> {
    places_ledger(dir, &[("LY01", "Tripoli")])
}

/// The Tripoli ledger under `dir` ("source") and its state dumped to a
/// snapshot file beside it ("honest.snapshot"), as a leader sends it.
fn tripoli_snapshot(dir: &Path) -> (Arc<Ledger>, std::path::PathBuf) {
    let source = tripoli_ledger(&dir.join("source"));
    let honest = dir.join("honest.snapshot");
    StateMachine::new(Arc::clone(&source))
        .dump_state(&honest)
        .expect("dump the state");
    (source, honest)
}

/// A ledger at `dir` whose events register `places` (P-code, name), one
/// event each, in one commit group.
fn places_ledger(dir: &Path, places: &[(&str, &str)]) -> Arc<Ledger> {
    let source = ledger(dir);
    let mut ministry = crate::author::Author::new(
        source.chain().clone(),
        crate::ids::OrgId::parse("ministry").expect("org id"),
        crate::signing::KeyPair::from_seed([4; 32]),
        0,
        None,
    );
    let events = places.iter().map(|(pcode, name)| {
        let (event, _) = ministry.sign(
            pb::event_body::Kind::MunicipalityRegistered(pb::MunicipalityRegistered {
                pcode: (*pcode).into(),
                admin_level: 1,
                country: "LY".into(),
                name: Some(pb::Names {
                    latin: (*name).into(),
                    arabic: String::new(),
                }),
                ..Default::default()
            }),
            0,
        );
        vec![event]
    });
    let requests = crate::event::admit(
        source.chain(),
        events.collect::<Vec<_>>(),
        crate::event::Signatures::Verify,
    );
    source
        .commit_group(requests, 1_767_225_600_000)
        .expect("commit");
    source
}

/// A leader (or anyone who can reach InstallSnapshot) sends a snapshot
/// whose file is whole (its BLAKE3 trailer recomputed) but forged: a
/// registry record changed, or an event's bytes changed. The node
/// installs only what the snapshot's signed events give: the forged
/// record never appears, and forged events are refused, changing nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forged_snapshot_installs_nothing_its_events_do_not_give() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let (source, honest) = tripoli_snapshot(dir.path());
    let meta = snapshot_meta(Some(log_id(1, 1, 5)), StoredMembership::default());

    // A forged registry record: installed as the events give it.
    let forged_record = dir.path().join("forged-record.snapshot");
    forge(&honest, &forged_record, |family, key, value| {
        if family == cf::MUNICIPALITIES && key == b"LY01" {
            let text = String::from_utf8(value.clone()).expect("JSON");
            *value = text.replace("Tripoli", "FORGED").into_bytes();
            assert_ne!(&text.into_bytes(), value, "the test forged the record");
        }
    });
    let follower = ledger(&dir.path().join("follower"));
    install(&follower, &meta, &forged_record)
        .await
        .expect("the events are honest");
    let installed = follower
        .store()
        .municipality("LY01")
        .expect("read")
        .expect("registered");
    assert_eq!(installed.name_latin, "Tripoli");
    assert_eq!(follower.tip().expect("tip"), source.tip().expect("tip"));

    // A forged event (its body changed, the signature kept): refused,
    // the follower's state as it was.
    // Events are kept in their log entries (store format 4).
    a_changed_tripoli_is_refused(dir.path(), &honest, &meta, cf::LOG).await;
}

/// A snapshot this node cannot check for want of room (its disk full) is
/// this node's storage failure, not a damaged or forged snapshot: a write
/// error whose text names the full disk (what tansiq-node's recovery reads
/// to restart once there is room), nothing installed; the same snapshot
/// installs once there is room again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_snapshot_not_checked_for_want_of_room_is_a_full_disk_and_installs_once_there_is_room() {
    use std::io::Write;
    let Some(disk) = crate::testing::disk::SmallDisk::mount(64) else {
        return;
    };
    let dir = tempfile::tempdir().expect("temporary directory");
    let (source, honest) = tripoli_snapshot(dir.path());
    let meta = snapshot_meta(Some(log_id(1, 1, 5)), StoredMembership::default());
    let follower = ledger(&disk.join("follower"));
    let before = follower.tip().expect("tip");
    // Where the check writes: made before the disk fills, so that what
    // fails is the check itself.
    std::fs::create_dir_all(super::state_machine::snapshot_dir_of(&follower))
        .expect("the snapshot directory");
    let filler = disk.join("filler");
    let mut file = std::fs::File::create(&filler).expect("the filler");
    let full = loop {
        if let Err(error) = file.write_all(&[0; 64 * 1024]) {
            break error;
        }
    };
    assert_eq!(full.kind(), std::io::ErrorKind::StorageFull, "{full}");
    drop(file);

    let error = install(&follower, &meta, &honest)
        .await
        .expect_err("no room to check the snapshot");
    let text = error.to_string();
    assert_eq!(
        StorageFault::of_openraft_text(&text),
        StorageFault::DiskFull,
        "{text}"
    );
    assert!(text.contains("when Write Snapshot"), "{text}");
    assert_eq!(follower.tip().expect("tip"), before, "nothing installed");

    std::fs::remove_file(&filler).expect("room again");
    install(&follower, &meta, &honest)
        .await
        .expect("the same snapshot, with room");
    assert_eq!(follower.tip().expect("tip"), source.tip().expect("tip"));
}

/// A snapshot's name becomes a file's name on the follower: a name other
/// than the one its last log id gives ("../" in it, or words that would
/// read as a storage fault) is refused before anything is written, and
/// its error reads as a refused snapshot, not as this node's storage.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_snapshot_named_otherwise_than_its_last_log_id_is_refused_before_anything_is_written() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let (source, honest) = tripoli_snapshot(dir.path());
    let follower = ledger(&dir.path().join("follower"));
    let before = follower.tip().expect("tip");
    for name in ["../escaped", "No space left on device", "1-6"] {
        let mut meta = snapshot_meta(Some(log_id(1, 1, 5)), StoredMembership::default());
        meta.snapshot_id = name.to_owned();
        let error = install(&follower, &meta, &honest)
            .await
            .expect_err("a snapshot named otherwise is refused");
        let text = error.to_string();
        assert!(text.contains(SNAPSHOT_REFUSED), "{text}");
        assert_eq!(
            StorageFault::of_openraft_text(&text),
            StorageFault::Other,
            "{text}"
        );
        assert_eq!(
            follower.tip().expect("tip"),
            before,
            "{name}: nothing installed"
        );
    }
    assert!(!dir.path().join("escaped.snapshot").exists());
    // Named as its last log id gives, the same file installs.
    let meta = snapshot_meta(Some(log_id(1, 1, 5)), StoredMembership::default());
    install(&follower, &meta, &honest)
        .await
        .expect("the same snapshot, named as it should be");
    assert_eq!(follower.tip().expect("tip"), source.tip().expect("tip"));
}

/// A snapshot is replayed as its file is read, so the file's log must
/// be the log: a whole file (its BLAKE3 trailer recomputed) whose log
/// skips a position, comes out of order, repeats an entry, or that names
/// no tip, is refused, and the node's state stays as it was.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_snapshot_whose_log_is_not_in_order_from_one_or_names_no_tip_is_refused() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let source = places_ledger(
        &dir.path().join("source"),
        &[
            ("LY01", "Tripoli"),
            ("LY02", "Benghazi"),
            ("LY03", "Misrata"),
        ],
    );
    assert_eq!(source.tip().expect("tip").position.0, 3);
    let honest = dir.path().join("honest.snapshot");
    StateMachine::new(Arc::clone(&source))
        .dump_state(&honest)
        .expect("dump the state");
    let meta = snapshot_meta(Some(log_id(1, 1, 5)), StoredMembership::default());
    let log = crate::store::state_index(cf::LOG);
    let meta_family = crate::store::state_index(cf::META);
    let position = |key: &[u8]| u64::from_be_bytes(key.try_into().expect("8 bytes"));
    type Pair = (u8, Vec<u8>, Vec<u8>);
    type Change = Box<dyn Fn(Vec<Pair>) -> Vec<Pair>>;
    let cases: Vec<(&str, &str, Change)> = vec![
        (
            "skips position 2",
            "position 3 where 2 comes next",
            Box::new(move |pairs: Vec<Pair>| {
                pairs
                    .into_iter()
                    .filter(|(family, key, _)| *family != log || position(key) != 2)
                    .collect()
            }),
        ),
        (
            "has 3 before 2",
            "position 3 where 2 comes next",
            Box::new(move |mut pairs: Vec<Pair>| {
                let at = |pairs: &[Pair], p: u64| {
                    pairs
                        .iter()
                        .position(|(family, key, _)| *family == log && position(key) == p)
                        .expect("entry")
                };
                let (two, three) = (at(&pairs, 2), at(&pairs, 3));
                pairs.swap(two, three);
                pairs
            }),
        ),
        (
            "repeats position 1",
            "position 1 where 2 comes next",
            Box::new(move |mut pairs: Vec<Pair>| {
                let first = pairs
                    .iter()
                    .position(|(family, key, _)| *family == log && position(key) == 1)
                    .expect("entry");
                let repeated = pairs[first].clone();
                pairs.insert(first + 1, repeated);
                pairs
            }),
        ),
        (
            "names no tip",
            "names no tip",
            Box::new(move |pairs: Vec<Pair>| {
                pairs
                    .into_iter()
                    .filter(|(family, key, _)| {
                        *family != meta_family || key.as_slice() != crate::store::keys::META_TIP
                    })
                    .collect()
            }),
        ),
    ];
    for (case, why, change) in cases {
        let mut pairs = Vec::new();
        let file = std::fs::File::open(&honest).expect("open the snapshot");
        crate::store::snapshot_file::read_pairs(BufReader::new(file), |family, key, value| {
            pairs.push((family, key.to_vec(), value.to_vec()));
            Ok(())
        })
        .expect("read the snapshot");
        let changed = change(pairs);
        let forged = dir.path().join(format!("{case}.snapshot"));
        let mut writer = crate::store::snapshot_file::Writer::create(&forged).expect("create");
        for (family, key, value) in &changed {
            writer.put(*family, key, value).expect("write");
        }
        writer.finish_file().expect("finish");

        let other = ledger(&dir.path().join(format!("other {case}")));
        let before = other.tip().expect("tip");
        let refused = install(&other, &meta, &forged).await;
        let refused = refused.expect_err(&format!("a snapshot whose log {case} was installed"));
        assert!(refused.to_string().contains(why), "{case}: {refused}");
        assert_eq!(other.tip().expect("tip"), before, "{case}");
        assert!(
            other.store().municipality("LY01").expect("read").is_none(),
            "{case}"
        );
    }
    // The honest file itself installs: the cases above fail for what
    // they changed.
    let follower = ledger(&dir.path().join("follower"));
    install(&follower, &meta, &honest)
        .await
        .expect("the honest snapshot installs");
    assert_eq!(follower.tip().expect("tip"), source.tip().expect("tip"));
}

/// A snapshot from a member whose store is of a format before 4 (each
/// envelope in the events family, its log entry the record alone): the
/// honest one installs, with the same head and record; one whose event
/// was changed there (the file whole, the signature kept) is refused and
/// changes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_snapshot_in_the_layout_before_format_4_installs_honest_and_is_refused_forged() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let source = tripoli_ledger(&dir.path().join("source"));
    let store = source.store();
    assert_eq!(
        store
            .put_back_in_the_layout_before_format_4(1)
            .expect("write"),
        1
    );
    store.set_format_version(3).expect("write");
    let honest = dir.path().join("honest-format-3.snapshot");
    StateMachine::new(Arc::clone(&source))
        .dump_state(&honest)
        .expect("dump the state");
    let meta = snapshot_meta(Some(log_id(1, 1, 5)), StoredMembership::default());

    let follower = ledger(&dir.path().join("follower"));
    install(&follower, &meta, &honest)
        .await
        .expect("an honest snapshot of the earlier layout installs");
    assert_eq!(follower.tip().expect("tip"), source.tip().expect("tip"));
    let installed = follower
        .store()
        .municipality("LY01")
        .expect("read")
        .expect("registered");
    assert_eq!(installed.name_latin, "Tripoli");

    a_changed_tripoli_is_refused(dir.path(), &honest, &meta, cf::EVENTS).await;
}

/// The snapshot `honest` with the one event registering Tripoli changed
/// where `family` keeps it (the file whole, the signature kept): a new
/// ledger under `dir` refuses it, its state as it was.
async fn a_changed_tripoli_is_refused(
    dir: &Path,
    honest: &Path,
    meta: &openraft::SnapshotMeta<NodeId, openraft::BasicNode>,
    family: &str,
) {
    let forged_event = dir.join(format!("forged-event-in-{family}.snapshot"));
    let mut forged = 0;
    forge(honest, &forged_event, |in_family, _, value| {
        if in_family == family {
            if let Some(at) = value.windows(7).position(|window| window == b"Tripoli") {
                value[at..at + 7].copy_from_slice(b"Tripolx");
                forged += 1;
            }
        }
    });
    assert_eq!(forged, 1, "the event registering Tripoli, in {family}");
    let other = ledger(&dir.join(format!("other-{family}")));
    let before = other.tip().expect("tip");
    let refused = install(&other, meta, &forged_event).await;
    assert!(refused.is_err(), "a forged event was installed");
    assert_eq!(other.tip().expect("tip"), before);
    assert!(other.store().municipality("LY01").expect("read").is_none());
}

/// What a node restarting after a snapshot installation that failed
/// (refused, or a full disk) presents to openraft: openraft had purged
/// the log up to the snapshot, and the leader had sent entries after
/// it. The log goes back to the applied state, committed too; a
/// finished installation, or a purge behind the applied state, is left
/// as it is.
#[tokio::test]
async fn a_failed_snapshot_installation_leaves_a_log_openraft_can_start_from() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let ledger = ledger(dir.path());
    let store = ledger.store();
    let mut log = LogStore::new(Arc::clone(&ledger));
    let blank = |index: u64| Entry::<TypeConfig> {
        log_id: log_id(1, 1, index),
        payload: EntryPayload::Blank,
    };
    let write_entries = |indexes: std::ops::RangeInclusive<u64>| {
        let mut batch = WriteBatch::default();
        for index in indexes {
            batch.put_cf(
                store.cf(cf::RAFT_LOG),
                index.to_be_bytes(),
                encode_entry(&blank(index)).expect("encode"),
            );
        }
        store.write_synced(batch).expect("write");
    };
    let set_meta = |key: &[u8], value: Vec<u8>| {
        let mut batch = WriteBatch::default();
        batch.put_cf(store.cf(cf::RAFT_META), key, value);
        store.write_synced(batch).expect("write");
    };
    write_entries(1..=3);
    set_meta(META_APPLIED, json(&Some(log_id(1, 1, 3))));
    // A snapshot through index 10 arrives: its installation begins,
    // openraft purges, the leader sends what follows.
    set_meta(META_INSTALLING, json(&Some(log_id(1, 1, 10))));
    log.purge(log_id(1, 1, 10)).await.expect("purge");
    write_entries(11..=12);
    set_meta(META_COMMITTED, json(&Some(log_id(1, 1, 12))));
    // The installation failed; the node restarts.
    assert_eq!(
        log.read_committed().await.expect("committed"),
        Some(log_id(1, 1, 3))
    );
    let state = log.get_log_state().await.expect("log state");
    assert_eq!(state.last_purged_log_id, Some(log_id(1, 1, 3)));
    assert_eq!(state.last_log_id, Some(log_id(1, 1, 3)));

    // Installed this time (its last batch applies it and clears the
    // marker): the log goes on after the snapshot.
    set_meta(META_INSTALLING, json(&Some(log_id(1, 1, 10))));
    log.purge(log_id(1, 1, 10)).await.expect("purge");
    set_meta(META_APPLIED, json(&Some(log_id(1, 1, 10))));
    set_meta(META_INSTALLING, json(&None::<LogId<NodeId>>));
    write_entries(11..=12);
    set_meta(META_COMMITTED, json(&Some(log_id(1, 1, 12))));
    assert_eq!(
        log.read_committed().await.expect("committed"),
        Some(log_id(1, 1, 12))
    );
    let state = log.get_log_state().await.expect("log state");
    assert_eq!(state.last_purged_log_id, Some(log_id(1, 1, 10)));
    assert_eq!(state.last_log_id, Some(log_id(1, 1, 12)));
}

#[tokio::test]
async fn log_entries_written_as_json_before_the_binary_form_are_still_read() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let ledger = ledger(dir.path());
    let (old, new) = (normal_entry(1), normal_entry(2));
    let store = ledger.store();
    let mut batch = WriteBatch::default();
    let family = store.cf(cf::RAFT_LOG);
    let old_json = serde_json::to_vec(&old).expect("JSON");
    assert!(old_json.starts_with(b"{\"log_id\""), "the old form is JSON");
    batch.put_cf(family, 1u64.to_be_bytes(), old_json);
    batch.put_cf(
        family,
        2u64.to_be_bytes(),
        encode_entry(&new).expect("encode"),
    );
    store.write_synced(batch).expect("write");
    let read = LogStore::new(Arc::clone(&ledger))
        .try_get_log_entries(1..3)
        .await
        .expect("read both forms");
    assert_eq!(read, vec![old, new.clone()]);

    // The binary form carries each request as its protobuf bytes.
    let binary = encode_entry(&new).expect("encode");
    let protobuf = request().encode_to_vec();
    assert!(binary.windows(protobuf.len()).any(|w| w == protobuf));
    assert!(binary.len() < serde_json::to_vec(&new).expect("JSON").len() / 2);
    // Neither form: refused, not misread.
    assert!(decode_entry(b"\x07garbage").is_err());
    assert!(decode_entry(&binary[..binary.len() - 3]).is_err());
}

#[tokio::test]
async fn a_data_directory_serves_its_own_member_and_a_restored_one_rejoins_as_new() {
    use super::member::{claim, forget_for_rejoining, MemberError};
    let dir = tempfile::tempdir().expect("temporary directory");
    let ledger = ledger(dir.path());
    let store = ledger.store();
    claim(store, Some(3)).expect("first start as member 3");
    claim(store, Some(3)).expect("member 3 again");
    assert!(matches!(
        claim(store, Some(2)),
        Err(MemberError::OtherMember {
            stored: 3,
            asked: 2
        })
    ));
    assert!(matches!(
        claim(store, None),
        Err(MemberError::MemberAlone(3))
    ));

    // A member's state: a vote, a log, an applied entry in membership {1, 2, 3}.
    let mut log = LogStore::new(Arc::clone(&ledger));
    log.save_vote(&openraft::Vote::new_committed(2, 1))
        .await
        .expect("vote");
    let membership = openraft::Membership::new(
        vec![[1, 2, 3]
            .into_iter()
            .collect::<std::collections::BTreeSet<NodeId>>()],
        None,
    );
    let mut batch = WriteBatch::default();
    batch.put_cf(
        store.cf(cf::RAFT_META),
        super::meta::META_MEMBERSHIP,
        json(&StoredMembership::<NodeId, openraft::BasicNode>::new(
            Some(log_id(2, 1, 5)),
            membership,
        )),
    );
    batch.put_cf(
        store.cf(cf::RAFT_META),
        META_APPLIED,
        json(&Some(log_id(2, 1, 7))),
    );
    batch.put_cf(store.cf(cf::RAFT_LOG), 8u64.to_be_bytes(), b"entry 8");
    store.write_synced(batch).expect("write");

    let restored = forget_for_rejoining(store)
        .expect("forget")
        .expect("a member's store");
    assert_eq!(restored.member, Some(3));
    assert_eq!(restored.members, vec![1, 2, 3]);
    assert_eq!(
        log.read_vote().await.expect("read"),
        None,
        "the vote is forgotten"
    );
    let state = log.get_log_state().await.expect("log state");
    assert_eq!(state.last_purged_log_id, Some(log_id(2, 1, 7)));
    assert_eq!(
        state.last_log_id,
        Some(log_id(2, 1, 7)),
        "no entry after the applied one"
    );
    for old in [1, 2, 3] {
        let refused = claim(store, Some(old)).expect_err("an id of its membership");
        assert!(
            refused.to_string().contains("above 3, the highest"),
            "{refused}"
        );
    }
    claim(store, Some(4)).expect("a new id");
    assert!(matches!(
        claim(store, Some(3)),
        Err(MemberError::OtherMember { stored: 4, .. })
    ));

    // A member's store from before stores recorded their member does not
    // start alone; one that voted before it applied a membership is a
    // member's too.
    let old_dir = tempfile::tempdir().expect("temporary directory");
    let old = super::tests::ledger(old_dir.path());
    let mut old_log = LogStore::new(Arc::clone(&old));
    old_log
        .save_vote(&openraft::Vote::new(1, 2))
        .await
        .expect("vote");
    assert!(matches!(
        claim(old.store(), None),
        Err(MemberError::UnrecordedMemberAlone)
    ));
    let forgotten = forget_for_rejoining(old.store())
        .expect("forget")
        .expect("a member's store, though it holds no membership");
    assert_eq!(forgotten, super::member::RestoredFrom::default());
    assert_eq!(old_log.read_vote().await.expect("read"), None);

    // A single node's store is not a member's: nothing to forget, and it
    // does not start as one.
    let single_dir = tempfile::tempdir().expect("temporary directory");
    let single = super::tests::ledger(single_dir.path());
    claim(single.store(), None).expect("a single node");
    assert!(forget_for_rejoining(single.store())
        .expect("read")
        .is_none());
    assert!(matches!(
        claim(single.store(), Some(1)),
        Err(MemberError::SingleAsMember)
    ));
}

#[test]
fn an_outbox_counts_what_waits_as_requests_come_and_go_and_after_a_restart() {
    use super::outbox::{Outbox, Waiting};
    let dir = tempfile::tempdir().expect("temporary directory");
    let ledger = ledger(dir.path());
    let store = ledger.store();
    let outbox = Outbox::new();
    assert_eq!(outbox.waiting(store).expect("read"), Waiting::default());
    let event = |n: u8| pb::SignedEvent {
        body: vec![n; 10],
        signature: vec![n; 64],
    };
    let id = |n: u8| crate::ids::EventId([n; 32]);
    outbox
        .push(store, &[id(1), id(2)], vec![event(1), event(2)])
        .expect("push");
    outbox.push(store, &[id(3)], vec![event(3)]).expect("push");
    let expected = Waiting {
        requests: 2,
        events: 3,
        bytes: 3 * 74,
    };
    assert_eq!(outbox.waiting(store).expect("read"), expected);
    // Counted from the store by another instance (a restart).
    assert_eq!(Outbox::new().waiting(store).expect("read"), expected);
    let first = outbox.first(store).expect("read").expect("queued");
    outbox
        .remove(store, &first, &[id(1), id(2)])
        .expect("remove");
    assert_eq!(
        outbox.waiting(store).expect("read"),
        Waiting {
            requests: 1,
            events: 1,
            bytes: 74,
        }
    );
}
