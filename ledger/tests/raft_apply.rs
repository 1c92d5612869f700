//! Applying Raft entries to the ledger: normal entries commit their requests
//! with the applied log id in the same batch; a forged event is refused at
//! apply (and a leader skips at apply only the signatures it verified
//! itself); a snapshot installed into an empty node reproduces the ledger, also
//! from a handle opened before a newer build removed its file; a damaged
//! snapshot is refused and changes nothing.

use crate::common::municipality;

use std::sync::Arc;

use openraft::storage::{RaftLogStorage, RaftSnapshotBuilder, RaftStateMachine};
use openraft::testing::log_id;
use openraft::{Entry, EntryPayload, Vote};
use tansiq_ledger::author::Author;
use tansiq_ledger::event::admit_noting;
use tansiq_ledger::genesis::Genesis;
use tansiq_ledger::ids::OrgId;
use tansiq_ledger::replication::{AppliedOutcome, LogStore, Proposal, StateMachine, TypeConfig};
use tansiq_ledger::signing::KeyPair;
use tansiq_ledger::Ledger;
use tansiq_proto::v1 as pb;

fn genesis(key: &KeyPair) -> Genesis {
    Genesis::new_chain(
        "tansiq-raft-apply",
        &OrgId::parse("ministry").expect("org id"),
        pb::Names {
            latin: "Ministry".into(),
            arabic: String::new(),
        },
        &[key.public()],
        0,
    )
    .expect("genesis")
}

fn entry(index: u64, requests: Vec<Vec<pb::SignedEvent>>) -> Entry<TypeConfig> {
    Entry {
        log_id: log_id(1, 0, index),
        payload: EntryPayload::Normal(Proposal {
            committed_at_ms: 1_767_225_600_000,
            requests: requests
                .into_iter()
                .map(|events| pb::SubmitBatchRequest { events })
                .collect(),
        }),
    }
}

#[tokio::test]
async fn entries_apply_once_forgeries_are_refused_and_snapshots_reproduce_the_ledger() {
    let key = KeyPair::from_seed([5; 32]);
    let genesis = genesis(&key);
    let dir = tempfile::tempdir().expect("temporary directory");
    let dir_root = dir.path().to_path_buf();
    let ledger = Arc::new(Ledger::open(&dir.path().join("a"), Some(&genesis)).expect("open"));
    let mut machine = StateMachine::new(Arc::clone(&ledger));
    let mut ministry = Author::new(
        genesis.chain.clone(),
        genesis.ministry.clone(),
        KeyPair::from_seed([5; 32]),
        0,
        None,
    );

    let first = ministry.sign(municipality("LY01"), 0).0;
    let mut forged = ministry.sign(municipality("LY02"), 0).0;
    forged.signature[10] ^= 0x40;
    let applied = machine
        .apply([entry(1, vec![vec![first]]), entry(2, vec![vec![forged]])])
        .await
        .expect("apply");
    assert!(matches!(
        applied[0].outcomes[0],
        AppliedOutcome::Committed(_)
    ));
    match &applied[1].outcomes[0] {
        AppliedOutcome::Refused { reason, .. } => assert_eq!(reason, "bad_signature"),
        other => panic!("a forged event was applied: {other:?}"),
    }
    assert_eq!(ledger.tip().expect("tip").position.0, 1);
    let (applied_id, _) = machine.applied_state().await.expect("applied state");
    assert_eq!(applied_id, Some(log_id(1, 0, 2)));

    // A snapshot installed on an empty node gives the same ledger.
    let snapshot = machine
        .get_snapshot_builder()
        .await
        .build_snapshot()
        .await
        .expect("build snapshot");
    let other = Arc::new(Ledger::open(&dir.path().join("b"), Some(&genesis)).expect("open"));
    let mut follower = StateMachine::new(Arc::clone(&other));
    // The follower's own vote must survive the install (it is not state).
    let mut follower_log = LogStore::new(Arc::clone(&other));
    let vote = Vote::new(7, 2);
    follower_log.save_vote(&vote).await.expect("save vote");
    follower
        .install_snapshot(&snapshot.meta, snapshot.snapshot)
        .await
        .expect("install snapshot");
    assert_eq!(other.tip().expect("tip"), ledger.tip().expect("tip"));
    assert!(other.store().municipality("LY01").expect("read").is_some());
    assert_eq!(
        follower_log.read_vote().await.expect("read vote"),
        Some(vote)
    );
    let (installed, _) = follower.applied_state().await.expect("applied state");
    assert_eq!(installed, Some(log_id(1, 0, 2)));

    // A snapshot being sent (an open handle) survives a newer build, which
    // removes the older file; the newer one is then the current snapshot.
    let sending = machine
        .get_current_snapshot()
        .await
        .expect("current snapshot")
        .expect("one was built");
    let third = ministry.sign(municipality("LY03"), 0).0;
    machine
        .apply([entry(3, vec![vec![third]])])
        .await
        .expect("apply");
    let newer = machine
        .get_snapshot_builder()
        .await
        .build_snapshot()
        .await
        .expect("build snapshot");
    let files = |dir: &str| -> Vec<String> {
        std::fs::read_dir(dir_root.join(dir))
            .expect("snapshot directory")
            .map(|entry| {
                entry
                    .expect("entry")
                    .file_name()
                    .to_string_lossy()
                    .into_owned()
            })
            .collect()
    };
    assert_eq!(
        files("a.snapshots"),
        vec![format!("{}.snapshot", newer.meta.snapshot_id)]
    );
    let late = Arc::new(Ledger::open(&dir.path().join("c"), Some(&genesis)).expect("open"));
    StateMachine::new(Arc::clone(&late))
        .install_snapshot(&sending.meta, sending.snapshot)
        .await
        .expect("install the older snapshot from its open handle");
    assert_eq!(late.tip().expect("tip"), other.tip().expect("tip"));
    assert_eq!(
        machine
            .get_current_snapshot()
            .await
            .expect("current snapshot")
            .expect("one was built")
            .meta,
        newer.meta
    );
    // A damaged snapshot (one byte flipped in its file) is refused and
    // changes nothing: the follower keeps its state and its snapshot.
    let damaged_path = dir_root
        .join("a.snapshots")
        .join(format!("{}.snapshot", newer.meta.snapshot_id));
    let mut bytes = std::fs::read(&damaged_path).expect("read the snapshot file");
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x10;
    let copy = dir_root.join("damaged.snapshot");
    std::fs::write(&copy, &bytes).expect("write the damaged copy");
    let before = other.tip().expect("tip");
    let refused = follower
        .install_snapshot(
            &newer.meta,
            Box::new(tokio::fs::File::open(&copy).await.expect("open")),
        )
        .await;
    assert!(refused.is_err(), "a damaged snapshot was installed");
    assert_eq!(other.tip().expect("tip"), before);
    assert_eq!(
        follower.applied_state().await.expect("applied state").0,
        Some(log_id(1, 0, 2))
    );

    // The follower kept a copy of what it installed, and nothing else.
    assert_eq!(
        files("b.snapshots"),
        vec![format!("{}.snapshot", snapshot.meta.snapshot_id)]
    );
}

/// A leader does not verify again, when it applies an entry, the signatures
/// its proposer verified and noted (`event::admit_noting`); only exactly
/// those pairs of event and signature. The same event under another
/// signature (another leader's entry) is verified and refused, and so is a
/// bad event beside noted ones in one request.
#[tokio::test]
async fn a_leader_skips_at_apply_only_the_signatures_it_verified_itself() {
    let key = KeyPair::from_seed([5; 32]);
    let genesis = genesis(&key);
    let dir = tempfile::tempdir().expect("temporary directory");
    let ledger = Arc::new(Ledger::open(&dir.path().join("a"), Some(&genesis)).expect("open"));
    let mut machine = StateMachine::new(Arc::clone(&ledger));
    let verified = machine.verified_here();
    let mut ministry = Author::new(
        genesis.chain.clone(),
        genesis.ministry.clone(),
        KeyPair::from_seed([5; 32]),
        0,
        None,
    );
    // What the proposer does before proposing.
    let propose = |requests: Vec<Vec<pb::SignedEvent>>| {
        for outcome in admit_noting(&genesis.chain, requests, &verified) {
            outcome.expect("valid");
        }
    };

    // Proposed here: verified before proposing, and noted.
    let first = ministry.sign(municipality("LY01"), 0).0;
    let (second, second_id) = ministry.sign(municipality("LY02"), 0);
    propose(vec![vec![first.clone()], vec![second.clone()]]);
    assert_eq!(verified.len(), 2);
    assert_eq!(
        outcomes(&mut machine, 1, vec![vec![first]]).await,
        ["committed"]
    );
    assert_eq!(verified.len(), 1, "the applied event's pair is used once");

    // The second event under another signature is not what was verified.
    let mut tampered = second.clone();
    tampered.signature[10] ^= 0x40;
    assert_eq!(
        outcomes(&mut machine, 2, vec![vec![tampered]]).await,
        ["bad_signature"]
    );
    assert_eq!(verified.len(), 1, "the verified pair is still there");
    assert_eq!(
        outcomes(&mut machine, 3, vec![vec![second]]).await,
        ["committed"]
    );
    assert!(verified.is_empty());

    // One entry mixing noted and unnoted events: a request with a noted
    // event and a bad unnoted one, a request that does not decode, and a
    // request of an unnoted event and a noted one. Each is judged as if
    // nothing had been noted.
    let noted_a = ministry.sign(municipality("LY03"), 0).0;
    let mut bad = ministry.sign(municipality("LY04"), 0).0;
    bad.signature[3] ^= 0x01;
    // The key's chain as committed: its third event follows the second.
    let mut branch = Author::new(
        genesis.chain.clone(),
        genesis.ministry.clone(),
        KeyPair::from_seed([5; 32]),
        2,
        Some(second_id),
    );
    let unnoted = branch.sign(municipality("LY05"), 0).0;
    let noted_b = branch.sign(municipality("LY06"), 0).0;
    propose(vec![vec![noted_a.clone()], vec![noted_b.clone()]]);
    let malformed = pb::SignedEvent {
        body: vec![0xff; 8],
        ..noted_a.clone()
    };
    let judged = outcomes(
        &mut machine,
        4,
        vec![vec![noted_a, bad], vec![malformed], vec![unnoted, noted_b]],
    )
    .await;
    assert_eq!(judged.len(), 3);
    assert!(judged[0].contains("signature"), "{judged:?}");
    assert_ne!(judged[1], "committed", "{judged:?}");
    assert_eq!(judged[2], "committed", "{judged:?}");
    assert!(verified.is_empty(), "both noted pairs were used");
    assert_eq!(ledger.tip().expect("tip").position.0, 4);

    // A follower, which noted nothing, verifies what the leader sends.
    let mut forged = branch.sign(municipality("LY07"), 0).0;
    forged.signature[10] ^= 0x40;
    let follower_ledger =
        Arc::new(Ledger::open(&dir.path().join("b"), Some(&genesis)).expect("open"));
    let mut follower = StateMachine::new(follower_ledger);
    assert_eq!(
        outcomes(&mut follower, 1, vec![vec![forged]]).await,
        ["bad_signature"]
    );
}

/// Applies one entry of `requests` at `index`: each request's outcome,
/// "committed" or the reason it was refused.
async fn outcomes(
    machine: &mut StateMachine,
    index: u64,
    requests: Vec<Vec<pb::SignedEvent>>,
) -> Vec<String> {
    let applied = machine
        .apply([entry(index, requests)])
        .await
        .expect("apply");
    applied[0]
        .outcomes
        .iter()
        .map(|outcome| match outcome {
            AppliedOutcome::Committed(_) => "committed".to_owned(),
            AppliedOutcome::Refused { reason, .. } => reason.clone(),
        })
        .collect()
}
