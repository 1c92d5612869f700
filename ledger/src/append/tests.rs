//! The ledger's rule for chain ids, on real stores.

use tansiq_proto::v1 as pb;

use super::ledger::{Ledger, OpenError};
use super::rebuild::{rebuild, SnapshotCheckError};
use crate::event::Signatures;
use crate::genesis::Genesis;
use crate::signing::ChainId;

/// A ledger of its own (in `db` under the temporary directory returned
/// with it) on chain `chain`, and its ministry, whose key is `seed`'s.
fn test_ledger(chain: &str, seed: u8) -> (tempfile::TempDir, Ledger, crate::author::Author) {
    let dir = tempfile::tempdir().expect("temporary directory");
    let (ledger, ministry) =
        crate::testing::open_test_ledger(&dir.path().join("db"), chain, seed, 1_767_225_600_000);
    (dir, ledger, ministry)
}

/// `requests` decoded and verified for `ledger`, as a node admits them.
fn admitted(
    ledger: &Ledger,
    requests: impl IntoIterator<Item = Vec<pb::SignedEvent>>,
) -> Vec<crate::event::CheckedRequest> {
    crate::event::admit(ledger.chain(), requests, Signatures::Verify)
}

#[test]
fn a_chain_made_before_derived_ids_still_rebuilds_but_no_new_one_begins() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let legacy = Genesis::create(
        &ChainId::parse("tansiq-legacy").expect("chain id"),
        &crate::ids::OrgId::parse("ministry").expect("org id"),
        pb::Names::default(),
        &[crate::signing::KeyPair::from_seed([5; 32]).public()],
        0,
    )
    .expect("genesis");
    let refused = Ledger::open(&dir.path().join("new"), Some(&legacy));
    assert!(
        matches!(refused, Err(OpenError::UnderivedChainId { .. })),
        "a new chain needs a derived id"
    );
    // A ledger that exists with such an id (made before the rule) is
    // copied by a rebuild and a snapshot check all the same.
    let existing = Ledger::open_copy(&dir.path().join("old"), &legacy).expect("open");
    let rebuilt = rebuild(
        &existing,
        &dir.path().join("rebuilt"),
        i64::MAX,
        Signatures::Verify,
    )
    .expect("a rebuild of an existing chain");
    assert_eq!(rebuilt.tip().expect("tip"), existing.tip().expect("tip"));
    drop(existing);
    let reopened = Ledger::open(&dir.path().join("old"), Some(&legacy));
    assert!(reopened.is_ok(), "an existing ledger keeps its id");
}

#[test]
fn a_store_written_by_a_newer_format_is_refused_and_an_older_one_upgraded() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let genesis = crate::testing::bare_genesis("tansiq-format", 6);
    let path = dir.path().join("db");
    let ledger = Ledger::open(&path, Some(&genesis)).expect("a new ledger");
    assert_eq!(
        ledger.store().format_version().expect("read"),
        Some(crate::store::FORMAT_VERSION)
    );
    // Format 1: no version recorded.
    let mut batch = rocksdb::WriteBatch::default();
    batch.delete_cf(
        ledger.store().cf(crate::store::cf::META),
        crate::store::keys::META_FORMAT,
    );
    ledger.store().write_synced(batch).expect("write");
    assert_eq!(ledger.store().format_version().expect("read"), Some(1));
    drop(ledger);
    let upgraded = Ledger::open(&path, Some(&genesis)).expect("an older format opens");
    assert_eq!(
        upgraded.store().format_version().expect("read"),
        Some(crate::store::FORMAT_VERSION)
    );
    let kept: Vec<_> = std::fs::read_dir(dir.path().join("backups"))
        .expect("a copy kept before the upgrade")
        .collect();
    assert_eq!(kept.len(), 1);
    upgraded
        .store()
        .set_format_version(crate::store::FORMAT_VERSION + 1)
        .expect("write");
    drop(upgraded);
    match Ledger::open(&path, Some(&genesis)) {
        Err(error @ OpenError::NewerFormat { .. }) => {
            assert!(
                error.to_string().contains("written by a newer Tansiq"),
                "{error}"
            );
        }
        other => panic!("a newer format must be refused: {:?}", other.err()),
    }
}

/// A family added by a later format (the IATI activities' index, format
/// 5) is added to a store of an earlier format only when it is upgraded,
/// after the copy of it as it was is kept: a store left as found (a
/// backup by this version) and the kept copy keep the families their
/// release opens, since RocksDB refuses to open a store without naming
/// every family it has.
#[test]
fn a_family_added_since_is_added_on_upgrade_only_and_not_to_the_copy_kept() {
    use crate::store::cf;
    let dir = tempfile::tempdir().expect("temporary directory");
    let genesis = crate::testing::bare_genesis("tansiq-families", 6);
    let path = dir.path().join("db");
    let families = |path: &std::path::Path| {
        rocksdb::DB::list_cf(&rocksdb::Options::default(), path).expect("list the families")
    };
    {
        let ledger = Ledger::open(&path, Some(&genesis)).expect("a new ledger");
        ledger.store().set_format_version(4).expect("write");
    }
    {
        let mut db = rocksdb::DB::open_cf(&rocksdb::Options::default(), &path, families(&path))
            .expect("open as RocksDB");
        db.drop_cf(cf::IATI_ACTIVITIES).expect("drop the family");
    }
    let before = families(&path);
    assert!(!before.iter().any(|name| name == cf::IATI_ACTIVITIES));

    let left = Ledger::open_upgrading(&path, Some(&genesis), super::UpgradeCopy::Leave)
        .expect("opens as it is");
    assert_eq!(
        left.store().format_version().expect("read"),
        Some(4),
        "read in the format it was found in"
    );
    drop(left);
    assert_eq!(families(&path), before, "left as found");

    let upgraded = Ledger::open(&path, Some(&genesis)).expect("upgraded");
    assert_eq!(
        upgraded.store().format_version().expect("read"),
        Some(crate::store::FORMAT_VERSION)
    );
    drop(upgraded);
    assert!(families(&path)
        .iter()
        .any(|name| name == cf::IATI_ACTIVITIES));
    let kept: Vec<_> = std::fs::read_dir(dir.path().join("backups"))
        .expect("a copy kept before the upgrade")
        .map(|entry| entry.expect("entry").path().join("db"))
        .collect();
    assert_eq!(kept.len(), 1);
    assert_eq!(families(&kept[0]), before, "the copy is as the store was");
}

#[test]
fn a_ledger_left_in_the_format_it_was_found_in_refuses_every_write() {
    let (dir, ledger, mut ministry) = test_ledger("tansiq-left", 8);
    let path = dir.path().join("db");
    let chain = ledger.chain().clone();
    let mut signed = |pcode: &str, at: i64| {
        ministry
            .sign(crate::testing::events::municipality(pcode, "", 1), at)
            .0
    };
    let (first, second) = (signed("LY01", 1), signed("LY02", 2));
    let request = |event: &pb::SignedEvent| {
        crate::event::admit(&chain, [vec![event.clone()]], Signatures::Verify)
    };
    let first = ledger
        .commit_group(request(&first), 1)
        .expect("a ledger opened to upgrade takes writes");
    assert!(first[0].is_ok(), "{first:?}");
    let tip = ledger.tip().expect("tip");
    drop(ledger);

    let left = Ledger::open_upgrading(&path, None, super::ledger::UpgradeCopy::Leave)
        .expect("opened as it is");
    let refused = left.commit_group(request(&second), 2);
    match refused {
        Err(error @ crate::store::StoreError::LeftAsFound { .. }) => assert!(
            error.to_string().contains(&format!(
                "in store format {}, and left unchanged",
                crate::store::FORMAT_VERSION
            )),
            "{error}"
        ),
        other => panic!("a commit to a ledger left as found must fail: {other:?}"),
    }
    assert!(matches!(
        left.store().accepts_writes(),
        Err(crate::store::StoreError::LeftAsFound { .. })
    ));
    assert_eq!(left.tip().expect("tip"), tip, "nothing was written");
    drop(left);

    // Opened again to write, it takes the event it refused.
    let reopened = Ledger::open(&path, None).expect("reopened");
    let next = reopened
        .commit_group(request(&second), 2)
        .expect("writes again");
    assert!(next[0].is_ok(), "{next:?}");
    assert_eq!(reopened.tip().expect("tip").position.0, tip.position.0 + 1);
}

/// A rebuild stages each commit time's events as one request; an event
/// that no longer applies is still named by its own position and id, not
/// its group's first. Here a group of three events by one key follows an
/// earlier group in the same chunk, and the group's second and third log
/// positions are swapped in the source's store: the second position then
/// holds the key's third event, refused as a gap in its chain (seen to
/// fail when the earlier group is not counted, or the refusal is pinned on
/// the group's first event).
#[test]
fn a_rebuild_names_the_event_that_no_longer_applies() {
    let (dir, source, mut ministry) = test_ledger("tansiq-rebuild-refused", 9);
    // An earlier group (another commit time) in the same chunk of the log.
    let (earlier, _) = ministry.sign(crate::testing::events::municipality("LY00", "", 1), 1);
    let earlier = admitted(&source, [vec![earlier]]);
    let committed = source
        .commit_group(earlier, 1_767_225_500_000)
        .expect("commit");
    assert!(committed[0].is_ok(), "{committed:?}");
    let events: Vec<pb::SignedEvent> = ["LY01", "LY02", "LY03"]
        .into_iter()
        .map(|pcode| {
            ministry
                .sign(crate::testing::events::municipality(pcode, "", 1), 1)
                .0
        })
        .collect();
    let requests = admitted(&source, [events]);
    let committed = source
        .commit_group(requests, 1_767_225_600_000)
        .expect("commit");
    assert!(committed[0].is_ok(), "{committed:?}");
    let start = source.tip().expect("tip").position.0 - 2;
    let [_, second, third] = <[_; 3]>::try_from(
        source
            .store()
            .log_range(crate::ids::LogPosition(start), 3)
            .expect("log"),
    )
    .expect("three records");
    let (_, envelopes) = source
        .store()
        .log_range_with_events(second.position, 2)
        .expect("events");
    let mut batch = source.store().batch();
    for ((record, takes), envelope) in [(&second, &third), (&third, &second)]
        .into_iter()
        .zip(envelopes.iter().rev())
    {
        batch.put_log(
            &crate::store::LogRecord {
                event_id: takes.event_id,
                ..record.clone()
            },
            envelope,
        );
        batch.put_event(&takes.event_id, record.position);
    }
    source.store().write_synced(batch.batch).expect("write");

    let refused = rebuild(
        &source,
        &dir.path().join("rebuilt"),
        i64::MAX,
        Signatures::Unchecked,
    );
    match refused {
        Err(super::rebuild::RebuildError::Refused {
            position,
            event_id,
            rejection,
        }) => {
            assert_eq!((position, event_id), (second.position, third.event_id));
            assert!(
                matches!(*rejection, crate::Rejection::SequenceGap { .. }),
                "{rejection}"
            );
        }
        other => panic!("the swapped log must be refused: {:?}", other.err()),
    }
}

/// Commit times never go back: a group is committed no earlier than the
/// last logged position. A group that logged nothing (here a request
/// refused on admission) is no logged position: staged in the same call as
/// the next group or apart (a cluster's nodes apply Raft entries in batches
/// of their own sizes), the next group gets the same time.
#[test]
fn a_group_that_logs_nothing_does_not_move_the_next_groups_time() {
    use super::ledger::Durability;
    use super::staging::Receipts;
    let refused = || {
        vec![Err(crate::Rejection::Malformed {
            detail: "refused on admission".into(),
        })]
    };
    let mut committed_at = Vec::new();
    for together in [true, false] {
        let (_dir, ledger, mut ministry) = test_ledger("tansiq-floor", 10);
        let mut place = |pcode: &str| {
            let (event, _) = ministry.sign(crate::testing::events::municipality(pcode, "", 1), 1);
            admitted(&ledger, [vec![event]])
        };
        let first = place("LY01");
        let second = place("LY02");
        ledger.commit_group(first, 100).expect("commit");
        let groups = vec![(refused(), 300), (second, 200)];
        let outcomes = if together {
            ledger
                .commit_groups(groups, Vec::new(), Durability::Synced, Receipts::Told)
                .expect("commit")
        } else {
            groups
                .into_iter()
                .map(|(requests, at)| ledger.commit_group(requests, at).expect("commit"))
                .collect()
        };
        let receipts = outcomes[1][0].as_ref().expect("accepted");
        committed_at.push(receipts[0].committed_at_ms);
    }
    assert_eq!(committed_at, [200, 200]);
}

#[test]
fn an_event_sent_again_is_told_where_it_was_logged_first() {
    let (_dir, ledger, mut ministry) = test_ledger("tansiq-again", 10);
    let (event, _) = ministry.sign(crate::testing::events::municipality("LY01", "", 1), 1);
    // Twice in one request, again in another request of the same group (a
    // retry before the first was written), then in a later group.
    let outcomes = ledger
        .commit_group(
            admitted(
                &ledger,
                [vec![event.clone(), event.clone()], vec![event.clone()]],
            ),
            100,
        )
        .expect("commit");
    let in_request = outcomes[0].as_ref().expect("accepted");
    let first = in_request[0].clone();
    let twice = in_request[1].clone();
    let again = outcomes[1].as_ref().expect("a repeat is answered")[0].clone();
    let later = ledger
        .commit_group(admitted(&ledger, [vec![event.clone()]]), 200)
        .expect("commit")[0]
        .as_ref()
        .expect("a repeat is answered")[0]
        .clone();
    assert!(!first.duplicate);
    for repeat in [twice, again, later] {
        assert!(repeat.duplicate);
        assert_eq!(
            (
                repeat.event_id,
                repeat.position,
                repeat.head,
                repeat.committed_at_ms
            ),
            (
                first.event_id,
                first.position,
                first.head,
                first.committed_at_ms
            )
        );
        assert!(repeat.warnings.is_empty() && !repeat.pending_review);
    }
    assert_eq!(ledger.tip().expect("tip").position, first.position);
}

/// Store format 4 keeps each event's envelope in its log entry, and the
/// events family maps ids to positions. A store whose events were written
/// before (each envelope in the events family, each log entry its record
/// alone) is not rewritten: here every other event is put back in that
/// layout, and every event still reads the same by id and in a range of
/// the log, and the ledger rebuilds, every signature checked, to the same
/// head, in the new layout only.
#[test]
fn events_written_in_the_layout_before_format_4_read_and_rebuild_the_same() {
    use crate::ids::LogPosition;
    use crate::store::cf;
    use prost::Message;

    let (dir, ledger, mut ministry) = test_ledger("tansiq-layout", 8);
    let requests: Vec<Vec<pb::SignedEvent>> = (0..9)
        .map(|n| {
            let pcode = format!("LY{n:02}");
            let at = 1_767_225_600_000 + n;
            vec![
                ministry
                    .sign(crate::testing::events::municipality(&pcode, "", 1), at)
                    .0,
            ]
        })
        .collect();
    let committed = ledger
        .commit_group(admitted(&ledger, requests), 1_767_225_700_000)
        .expect("commit");
    assert!(committed.iter().all(Result::is_ok), "{committed:?}");
    let store = ledger.store();
    let tip = ledger.tip().expect("tip");
    let everything = tip.position.0 as usize;
    let (records, envelopes) = store
        .log_range_with_events(LogPosition(1), everything)
        .expect("read");
    assert_eq!(records.len(), everything);

    let entry_bytes = |position: LogPosition| {
        store
            .get_cf(cf::LOG, &position.0.to_be_bytes())
            .expect("read")
            .expect("stored")
            .len()
    };
    assert_eq!(
        store
            .put_back_in_the_layout_before_format_4(2)
            .expect("write"),
        everything.div_ceil(2)
    );
    let earlier = records
        .iter()
        .filter(|record| entry_bytes(record.position) == 72)
        .count();
    assert_eq!(
        (earlier, records.len() - earlier),
        (everything.div_ceil(2), everything / 2),
        "both layouts in one store"
    );

    // Every event, read in a range of the log, by its position and by its
    // id, is the one first written.
    let reads_every_event = |store: &crate::store::Store| {
        assert_eq!(
            store
                .log_range_with_events(LogPosition(1), everything)
                .expect("read"),
            (records.clone(), envelopes.clone())
        );
        for (record, envelope) in records.iter().zip(&envelopes) {
            let both = Some((record.clone(), envelope.clone()));
            assert_eq!(store.entry_at(record.position).expect("read"), both);
            assert_eq!(store.event(&record.event_id).expect("read"), both);
            assert_eq!(
                store.event_position(&record.event_id).expect("read"),
                Some(record.position)
            );
        }
    };
    reads_every_event(store);

    let rebuilt = rebuild(
        &ledger,
        &dir.path().join("rebuilt"),
        i64::MAX,
        Signatures::Verify,
    )
    .expect("rebuild");
    assert_eq!(rebuilt.tip().expect("tip"), tip);
    let rebuilt_store = rebuilt.store();
    reads_every_event(rebuilt_store);
    for record in &records {
        let entry = rebuilt_store
            .get_cf(cf::LOG, &record.position.0.to_be_bytes())
            .expect("read")
            .expect("stored");
        let indexed = rebuilt_store
            .get_cf(cf::EVENTS, record.event_id.as_bytes())
            .expect("read")
            .expect("stored");
        assert!(
            entry.len() > 72 && indexed.len() == 8,
            "a rebuild writes the new layout: entry {} bytes, index {} bytes",
            entry.len(),
            indexed.len()
        );
    }

    // Read by id, an event is read through its log entry, which must name
    // it, and from one place only: a damaged or forged index is refused,
    // never served as an event.
    let corrupt = |id: &crate::ids::EventId| match store.event(id) {
        Err(crate::store::StoreError::Corrupt(message)) => message,
        other => panic!("a damaged index must be refused: {other:?}"),
    };
    let (old, new) = (&records[0], &records[1]);
    let put_index = |id: &crate::ids::EventId, value: Vec<u8>| {
        let mut batch = store.batch();
        batch
            .batch
            .put_cf(store.cf(cf::EVENTS), id.as_bytes(), value);
        store.write_synced(batch.batch).expect("write");
    };
    // A second envelope under a format-4 event's id.
    let mut twice = new.position.0.to_be_bytes().to_vec();
    envelopes[0].encode(&mut twice).expect("encode");
    put_index(&new.event_id, twice);
    assert!(corrupt(&new.event_id).contains("stored twice"));
    // An id indexed at another event's position.
    put_index(&new.event_id, old.position.0.to_be_bytes().to_vec());
    assert!(corrupt(&new.event_id).contains(&format!("which holds event {}", old.event_id)));
    // An event of the earlier layout whose envelope is gone.
    put_index(&old.event_id, old.position.0.to_be_bytes().to_vec());
    assert!(corrupt(&old.event_id).contains("neither its log entry nor the events family"));
    // Sent again, an event whose index names another position is not
    // told that position: the commit fails, nothing is written.
    put_index(&new.event_id, old.position.0.to_be_bytes().to_vec());
    let again = ledger.commit_group(
        admitted(&ledger, [vec![envelopes[1].clone()]]),
        1_767_225_800_000,
    );
    assert!(
        matches!(&again, Err(crate::store::StoreError::Corrupt(message)) if message.contains("which holds event")),
        "{again:?}"
    );
    assert_eq!(ledger.tip().expect("tip"), tip);
}

/// A snapshot check that fails is blamed on the snapshot only for what is
/// in it (a damaged or short file, an event refused, a head its events do
/// not give); a full disk or another I/O error of this node is this
/// node's storage failure, which goes once its cause does.
#[test]
fn a_snapshot_check_blames_the_snapshot_only_for_what_is_in_it() {
    use crate::store::{StorageFault, StoreError};
    use std::io::{Error, ErrorKind};
    let the_snapshots = [
        SnapshotCheckError::Io(Error::new(ErrorKind::InvalidData, "snapshot damaged")),
        SnapshotCheckError::Io(ErrorKind::UnexpectedEof.into()),
        SnapshotCheckError::Store(StoreError::Corrupt("its log has position 3".into())),
        SnapshotCheckError::HeadMismatch {
            claimed_position: 2,
            claimed_head: crate::ids::HeadHash([0; 32]),
            rebuilt_position: 1,
            rebuilt_head: crate::ids::HeadHash([1; 32]),
        },
    ];
    for error in the_snapshots {
        assert_eq!(error.local_fault(), None, "{error}");
    }
    let this_nodes = [
        (Error::from_raw_os_error(28), StorageFault::DiskFull),
        (ErrorKind::PermissionDenied.into(), StorageFault::Io),
    ];
    for (error, fault) in this_nodes {
        let error = SnapshotCheckError::Io(error);
        assert_eq!(error.local_fault(), Some(fault), "{error}");
    }
}
