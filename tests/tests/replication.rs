//! Replication under faults, with real `tansiq-node` processes on loopback:
//! a follower that comes back after the leader purged its log, a forged
//! entry from a malicious node, and a network partition made by proxies
//! between the nodes.

// Test code: a panic with its location is the failure report.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use openraft::raft::AppendEntriesRequest;
use openraft::{CommittedLeaderId, Entry, EntryPayload, LogId, Vote};
use tansiq_ledger::author::{now_ms, Author};
use tansiq_ledger::replication::{Proposal, TypeConfig};
use tansiq_ledger::signing::KeyPair;
use tansiq_proto::v1 as pb;
use tansiq_proto::v1::cluster_client::ClusterClient;
use tansiq_proto::v1::ledger_client::LedgerClient;
use tansiq_tests::cluster::{
    self, converged_head, number, poll, register_donors, status, submit_until_acknowledged,
    wait_for_leader, Links, Member,
};
use tansiq_tests::{cli, events, Node};

fn project_event(donor: &mut Author, name: &str) -> (pb::SignedEvent, Vec<u8>) {
    let (event, id) = donor.sign(
        events::project(name, events::details("LY0101", "14030", "EUR", "1000")),
        now_ms(),
    );
    (event, id.0.to_vec())
}

async fn position_of(node: &Node, event_id: &[u8]) -> Option<u64> {
    let mut client = node.client().await;
    match client
        .get_event(pb::GetEventRequest {
            event_id: event_id.to_vec(),
        })
        .await
    {
        Ok(entry) => Some(entry.into_inner().position),
        Err(status) if status.code() == tonic::Code::NotFound => None,
        Err(status) => panic!("get_event: {status:?}"),
    }
}

fn verify_passes(node: &Node) {
    let verified = cli(node, &["verify"]);
    assert!(
        verified.status.success(),
        "{}",
        tansiq_tests::stderr(&verified)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_follower_back_after_the_leader_purged_its_log_catches_up_from_a_snapshot() {
    let root = tempfile::tempdir().unwrap();
    let mut members = cluster::members(root.path(), 3);
    for member in &mut members {
        // Chunks of 4 KiB: the snapshot travels in many (checked below, in
        // the follower's log).
        member.log_into(root.path());
        member.flags = vec![
            "--snapshot-every".into(),
            "40".into(),
            "--snapshot-chunk-bytes".into(),
            "4096".into(),
        ];
    }
    let leader = cluster::form(&mut members, 3);
    let urls: Vec<String> = members.iter().map(Member::url).collect();
    let mut donors = register_donors(&members, &urls, 1).await;
    let follower = (1..=3u64).find(|id| *id != leader).unwrap();
    let behind = &mut members[follower as usize - 1];
    let last_seen = number(&status(behind.node()).unwrap(), "lastLogIndex");
    behind.node.take().unwrap().kill_9();

    // 150 entries while the follower is down: the leader snapshots every 40
    // and purges its log behind the snapshot.
    let leader_url = vec![members[leader as usize - 1].url()];
    let mut acknowledged = Vec::new();
    for n in 0..150 {
        let (event, id) = project_event(&mut donors[0], &format!("p{n}"));
        let receipt = submit_until_acknowledged(&leader_url, 0, &event).await;
        acknowledged.push((id, receipt.position));
    }
    let purged = poll("the leader to purge its log", || {
        let purged = number(&status(members[leader as usize - 1].node())?, "purgedIndex");
        (purged > last_seen).then_some(purged)
    });

    // The follower returns: the entries it lacks are gone from every log,
    // so only a snapshot can bring it up to date.
    let genesis = cluster::genesis_of(&members);
    members[follower as usize - 1].start(&genesis);
    let head = converged_head(&members).await;
    let caught_up = status(members[follower as usize - 1].node()).unwrap();
    assert!(
        number(&caught_up, "snapshotIndex") > last_seen,
        "the follower installed a snapshot past what it had: {caught_up}"
    );
    // The snapshot came in chunks of at most 4 KiB: openraft logs each
    // chunk it received (at info, the node's default level). With the
    // default chunk size (3 MiB) this snapshot would come in one.
    let follower_log =
        std::fs::read_to_string(members[follower as usize - 1].log.as_ref().unwrap()).unwrap();
    let chunks = follower_log.matches("Done received snapshot chunk").count();
    assert!(chunks > 8, "{chunks} snapshot chunks received");
    // The follower's current snapshot (the one it installed, or its own of
    // the same state) is larger than 8 chunks.
    let snapshots = members[follower as usize - 1].dir.join("db.snapshots");
    let installed: u64 = std::fs::read_dir(&snapshots)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "snapshot"))
        .map(|path| std::fs::metadata(path).unwrap().len())
        .sum();
    assert!(installed > 8 * 4096, "snapshot of {installed} bytes");
    for member in &members {
        for (id, position) in &acknowledged {
            assert_eq!(position_of(member.node(), id).await, Some(*position));
        }
        verify_passes(member.node());
    }
    eprintln!(
        "snapshot catch-up: follower {follower} had log index {last_seen}, leader purged through {purged}, all at position {}; snapshot {installed} bytes, {chunks} chunks of at most 4096 received",
        head.position
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forged_event_from_a_malicious_node_is_refused_at_apply_on_every_honest_node() {
    let root = tempfile::tempdir().unwrap();
    let mut members = cluster::members(root.path(), 3);
    cluster::form(&mut members, 3);
    let urls: Vec<String> = members.iter().map(Member::url).collect();
    let mut donors = register_donors(&members, &urls, 1).await;
    let (event, _) = project_event(&mut donors[0], "honest");
    submit_until_acknowledged(&urls, 0, &event).await;
    let before = converged_head(&members).await;

    // The donor's next event, its body altered after signing.
    let (mut forged, forged_id) = project_event(&mut donors[0], "forged");
    let last = forged.body.len() - 1;
    forged.body[last] ^= 1;

    // Through the front door, a follower forwards an event with a bad
    // signature to the leader, which refuses it as a single node would.
    let mut bad_signature = forged.clone();
    bad_signature.body[last] ^= 1;
    bad_signature.signature[0] ^= 1;
    let follower = members
        .iter()
        .find(|m| m.id != number(&status(m.node()).unwrap(), "leaderId"))
        .unwrap();
    let refused = follower
        .node()
        .client()
        .await
        .submit(pb::SubmitRequest {
            event: Some(bad_signature),
        })
        .await
        .unwrap_err();
    assert_eq!(refused.code(), tonic::Code::Unauthenticated, "{refused:?}");
    assert_eq!(
        refused.metadata().get("tansiq-reason").unwrap(),
        "bad_signature"
    );

    // A malicious node (id 9, not a member) claims a newer term and sends
    // the honest followers an entry holding the forged event, marked committed.
    let quiet = poll("every node to apply the same index", || {
        let all: Vec<_> = members.iter().map(|m| status(m.node())).collect();
        let all: Vec<_> = all.into_iter().collect::<Option<_>>()?;
        let applied: Vec<u64> = all.iter().map(|s| number(s, "appliedIndex")).collect();
        applied
            .windows(2)
            .all(|w| w[0] == w[1])
            .then(|| all[0].clone())
    });
    let term = number(&quiet, "term") + 1;
    let prev = LogId::new(
        CommittedLeaderId::new(
            number(&quiet, "appliedTerm"),
            number(&quiet, "appliedLeader"),
        ),
        number(&quiet, "appliedIndex"),
    );
    let forged_log_id = LogId::new(CommittedLeaderId::new(term, 9), prev.index + 1);
    let request = AppendEntriesRequest::<TypeConfig> {
        vote: Vote::new_committed(term, 9),
        prev_log_id: Some(prev),
        entries: vec![Entry {
            log_id: forged_log_id,
            payload: EntryPayload::Normal(Proposal {
                committed_at_ms: now_ms(),
                requests: vec![pb::SubmitBatchRequest {
                    events: vec![forged.clone()],
                }],
            }),
        }],
        leader_commit: Some(forged_log_id),
    };
    let message = tansiq_node::cluster::wire::encode_message(&request).unwrap();
    let leader = number(&quiet, "leaderId");
    // A peer that sends JSON (a tansiq-node before the binary form) is
    // refused, saying why.
    let old_peer = ClusterClient::connect(members[0].url())
        .await
        .unwrap()
        .append_entries(pb::RaftPayload {
            json: serde_json::to_vec(&request).unwrap(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(
        old_peer.code(),
        tonic::Code::FailedPrecondition,
        "{old_peer:?}"
    );
    assert!(
        old_peer.message().contains("older tansiq-node"),
        "{old_peer:?}"
    );
    let mut accepted = 0;
    for member in members.iter().filter(|m| m.id != leader) {
        let mut client = ClusterClient::connect(member.url()).await.unwrap();
        let reply = client
            .append_entries(pb::RaftPayload {
                message: message.clone(),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        let reply: Result<
            openraft::raft::AppendEntriesResponse<u64>,
            openraft::error::RaftError<u64>,
        > = tansiq_node::cluster::wire::decode_message(&reply.message).unwrap();
        if matches!(reply, Ok(openraft::raft::AppendEntriesResponse::Success)) {
            accepted += 1;
        }
    }
    assert_eq!(accepted, 2, "both followers took the entry into their log");

    // The forged entry is in the Raft log of the followers, and reaches the
    // old leader when a follower takes over; every node refuses it at apply.
    poll("every node to refuse the forged entry", || {
        members
            .iter()
            .all(|m| status(m.node()).is_some_and(|s| number(&s, "refusedAtApply") >= 1))
            .then_some(())
    });
    for member in &members {
        assert_eq!(position_of(member.node(), &forged_id).await, None);
    }
    // The cluster goes on: the donor's real next event commits everywhere.
    let new_leader = wait_for_leader(members[0].node());
    // The forged event used the donor's next sequence number, which is
    // still free: sign it again from the node's key head.
    let mut client = members[0].node().client().await;
    let mut donor = author_for(&mut client, &donors[0]).await;
    let (event, id) = project_event(&mut donor, "after");
    submit_until_acknowledged(&urls, 0, &event).await;
    let after = converged_head(&members).await;
    assert_eq!(
        after.position,
        before.position + 1,
        "only the valid event was added"
    );
    for member in &members {
        assert!(position_of(member.node(), &id).await.is_some());
        verify_passes(member.node());
    }
    eprintln!("forged entry: refused at apply on all 3 nodes; leader {leader} then {new_leader}");
}

/// The donor's author positioned at its key head on the node (its local
/// sequence ran ahead when it signed events that were not committed).
async fn author_for(
    client: &mut LedgerClient<tonic::transport::Channel>,
    donor: &Author,
) -> Author {
    let key_head = client
        .get_key_head(pb::GetKeyHeadRequest {
            public_key: donor.key.public().0.to_vec(),
        })
        .await
        .unwrap()
        .into_inner();
    let last = (!key_head.last_event_id.is_empty())
        .then(|| tansiq_ledger::ids::EventId::from_slice(&key_head.last_event_id).unwrap());
    Author::new(
        donor.chain.clone(),
        donor.org.clone(),
        KeyPair::from_seed(donor.key.seed()),
        key_head.sequence,
        last,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partitioned_leader_cannot_commit_and_the_majority_goes_on() {
    let root = tempfile::tempdir().unwrap();
    let mut members = cluster::members(root.path(), 3);
    let links = Links::between(&mut members).await;
    let leader = cluster::form(&mut members, 3);
    let urls: Vec<String> = members.iter().map(Member::url).collect();
    let mut donors = register_donors(&members, &urls, 2).await;
    converged_head(&members).await;

    links.isolate(leader);
    let minority = &members[leader as usize - 1];
    let (cut_off, cut_off_id) = project_event(&mut donors[0], "minority");
    let mut client = minority.node().client().await;
    let mut request = tonic::Request::new(pb::SubmitRequest {
        event: Some(cut_off.clone()),
    });
    request.set_timeout(Duration::from_secs(60));
    let refused = client.submit(request).await.unwrap_err();
    assert_eq!(refused.code(), tonic::Code::Unavailable, "{refused:?}");
    assert!(
        refused.message().contains("majority"),
        "the minority says why: {}",
        refused.message()
    );

    // The majority elects a leader of its own and commits.
    let majority: Vec<String> = members
        .iter()
        .filter(|m| m.id != leader)
        .map(Member::url)
        .collect();
    let new_leader = poll("the majority to elect a new leader", || {
        let seen = wait_for_leader(members.iter().find(|m| m.id != leader).unwrap().node());
        (seen != leader).then_some(seen)
    });
    let (majority_event, majority_id) = project_event(&mut donors[1], "majority");
    let receipt = submit_until_acknowledged(&majority, 0, &majority_event).await;

    // Heal: the old leader steps down and takes the majority's log; the
    // event it could not commit is resubmitted and lands exactly once.
    links.heal_all();
    converged_head(&members).await;
    let resubmitted = submit_until_acknowledged(&urls, 0, &cut_off).await;
    // Only the leader computes receipts' warnings (the followers skip
    // them): the first receipt of the resubmission names its overlap
    // with the majority's project, in the same place and sector.
    assert!(!resubmitted.duplicate);
    assert!(
        resubmitted
            .warnings
            .iter()
            .any(|warning| warning.contains("overlap in LY0101, sector 14030")),
        "{:?}",
        resubmitted.warnings
    );
    let again = submit_until_acknowledged(&urls, 1, &cut_off).await;
    assert!(again.duplicate, "a second resubmission is a duplicate");
    assert_eq!(again.position, resubmitted.position);
    let head = converged_head(&members).await;
    for member in &members {
        assert_eq!(
            position_of(member.node(), &majority_id).await,
            Some(receipt.position)
        );
        assert_eq!(
            position_of(member.node(), &cut_off_id).await,
            Some(resubmitted.position)
        );
        verify_passes(member.node());
    }
    eprintln!(
        "partition: leader {leader} isolated and refused to commit; majority leader {new_leader}; healed at position {}",
        head.position
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cut_off_donor_site_keeps_submissions_in_its_outbox_across_a_restart_and_delivers_each_once(
) {
    let root = tempfile::tempdir().unwrap();
    let mut members = cluster::members(root.path(), 4);
    let links = Links::between(&mut members).await;
    let leader = cluster::form(&mut members, 3);
    let voters: Vec<String> = members[..3].iter().map(Member::url).collect();
    let mut donors = register_donors(&members, &voters, 1).await;
    let before = converged_head(&members).await;

    // The donor site (learner 4) loses its links; the donor keeps submitting to it.
    links.isolate(4);
    let mut pending = Vec::new();
    let submit_to_site = |event: pb::SignedEvent, url: String| async move {
        let mut client = LedgerClient::connect(url).await.unwrap();
        client
            .submit(pb::SubmitRequest { event: Some(event) })
            .await
            .unwrap()
            .into_inner()
    };
    for n in 0..3 {
        let (event, id) = project_event(&mut donors[0], &format!("site-{n}"));
        let receipt = submit_to_site(event.clone(), members[3].url()).await;
        assert_eq!(
            receipt.state,
            pb::ReceiptState::AcceptedPending as i32,
            "{receipt:?}"
        );
        assert_eq!(receipt.event_id, id);
        assert_eq!(receipt.position, 0, "not on the log yet");
        pending.push((event, id));
    }
    // A key nobody registered is refused by the cut-off site, as the leader
    // would refuse it: nothing of it waits in the outbox.
    let mut stranger = Author::new(
        donors[0].chain.clone(),
        tansiq_ledger::ids::OrgId::parse("stranger").unwrap(),
        KeyPair::generate(),
        0,
        None,
    );
    let (junk, _) = project_event(&mut stranger, "junk");
    let refused = LedgerClient::connect(members[3].url())
        .await
        .unwrap()
        .submit(pb::SubmitRequest { event: Some(junk) })
        .await
        .unwrap_err();
    assert_eq!(refused.code(), tonic::Code::Unauthenticated, "{refused:?}");
    // A resubmission while cut off is not queued twice.
    let again = submit_to_site(pending[0].0.clone(), members[3].url()).await;
    assert_eq!(again.state, pb::ReceiptState::AcceptedPending as i32);
    assert_eq!(
        number(&status(members[3].node()).unwrap(), "outboxPending"),
        3
    );

    // kill -9 and restart of the donor site, still cut off: the outbox survives.
    members[3].node.take().unwrap().kill_9();
    let genesis = cluster::genesis_of(&members);
    members[3].start(&genesis);
    assert_eq!(
        number(&status(members[3].node()).unwrap(), "outboxPending"),
        3
    );
    for n in 3..5 {
        let (event, id) = project_event(&mut donors[0], &format!("site-{n}"));
        let receipt = submit_to_site(event.clone(), members[3].url()).await;
        assert_eq!(receipt.state, pb::ReceiptState::AcceptedPending as i32);
        pending.push((event, id));
    }
    assert_eq!(
        number(&status(members[3].node()).unwrap(), "outboxPending"),
        5
    );
    for (_, id) in &pending {
        assert_eq!(
            position_of(members[leader as usize - 1].node(), id).await,
            None
        );
    }

    // Reconnected: the outbox drains, each event committed once, in order.
    links.heal_all();
    poll("the donor site's outbox to drain", || {
        let site = status(members[3].node())?;
        (number(&site, "outboxPending") == 0).then_some(())
    });
    let head = converged_head(&members).await;
    assert_eq!(
        head.position,
        before.position + pending.len() as u64,
        "each pending event once, nothing else"
    );
    let mut positions = Vec::new();
    for member in &members {
        let mut on_member = Vec::new();
        for (_, id) in &pending {
            on_member.push(position_of(member.node(), id).await.unwrap());
        }
        assert!(
            on_member.windows(2).all(|w| w[0] < w[1]),
            "in submission order"
        );
        positions.push(on_member);
        verify_passes(member.node());
    }
    assert!(positions.windows(2).all(|w| w[0] == w[1]));
    // Linearizable again: the site's answer reflects everything committed.
    let read = cli(
        members[3].node(),
        &["who-supports", "LY0101", "--linearizable"],
    );
    assert!(read.status.success(), "{}", tansiq_tests::stderr(&read));
    let read = tansiq_tests::stdout(&read);
    assert!(
        read.contains(&format!("log position {}", head.position))
            && read.contains("; linearizable)"),
        "{read}"
    );
    // A resubmission after delivery is a duplicate with the committed position.
    let late = submit_to_site(pending[0].0.clone(), members[3].url()).await;
    assert_eq!(late.state, pb::ReceiptState::Committed as i32);
    assert!(late.duplicate);
    assert_eq!(late.position, positions[0][0]);
    eprintln!(
        "outbox: 5 events accepted pending by the cut-off donor site (restarted in between), delivered at positions {:?}",
        positions[0]
    );
}

/// `tansiq --output json ARGS` against `node`, which must succeed.
fn json_of(node: &Node, args: &[&str]) -> serde_json::Value {
    let mut all = vec!["--output", "json"];
    all.extend_from_slice(args);
    let output = cli(node, &all);
    assert!(
        output.status.success(),
        "{args:?}: {}",
        tansiq_tests::stderr(&output)
    );
    serde_json::from_str(tansiq_tests::stdout(&output).trim()).unwrap()
}

/// A cluster's checkpoint is the voters' joint statement: each of the 3
/// voters signs the same tree (a checkpoint carries all three signatures,
/// checked against the keys the nodes publish), a donor site (learner)
/// verifies it with the voters' keys and adds its witness cosignature
/// (c2sp.org/tlog-cosignature), `tansiq cluster
/// status` names each member's key, and a checkpoint saved before the
/// leader is killed (kill -9) is extended by every one after it, on every
/// node.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn voters_cosign_checkpoints_and_they_stay_consistent_across_a_leader_kill() {
    let root = tempfile::tempdir().unwrap();
    let mut members = cluster::members(root.path(), 4);
    let leader = cluster::form(&mut members, 3);
    let urls: Vec<String> = members.iter().map(Member::url).collect();
    let mut donors = register_donors(&members, &urls, 1).await;
    converged_head(&members).await;

    // Each node names its own log key (GetStatus); the voters' three.
    let keys: Vec<String> = members
        .iter()
        .map(|member| {
            json_of(member.node(), &["status"])["log_key"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    let voters = keys[..3].join(",");
    let learner_key = keys[3].clone();
    // The learner's key as a witness's (c2sp.org/tlog-cosignature).
    let learner_witness = json_of(members[3].node(), &["status"])["witness_key"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        learner_witness.starts_with("tansiq.witness/"),
        "{learner_witness}"
    );

    // Every voter's checkpoint carries all three voters' signatures (the
    // first made may lack a voter still catching up: a new one is made
    // every few seconds).
    let saved = root.path().join("before-kill.checkpoint");
    let saved_arg = saved.display().to_string();
    for member in &members[..3] {
        poll("a checkpoint with the three voters' signatures", || {
            let output = cli(
                member.node(),
                &["--output", "json", "checkpoint", "--log-key", &voters],
            );
            output.status.success().then_some(())
        });
    }
    let first = json_of(
        members[0].node(),
        &["checkpoint", "--log-key", &voters, "--save", &saved_arg],
    );
    assert_eq!(first["signed_by"].as_array().unwrap().len(), 3, "{first}");
    let note = std::fs::read_to_string(&saved).unwrap();
    assert_eq!(note.matches("\n\u{2014} ").count(), 3, "{note}");
    // Every node's checkpoint, saved before the kill.
    let mut before = Vec::new();
    for member in &members {
        let path = root.path().join(format!("before-{}.checkpoint", member.id));
        let path = path.display().to_string();
        json_of(
            member.node(),
            &[
                "checkpoint",
                "--log-key",
                &voters,
                "--quorum",
                "2",
                "--save",
                &path,
            ],
        );
        before.push(path);
    }

    // The donor site's node: the voters' majority, and its own signature.
    let on_learner = poll(
        "the learner's checkpoint with the voters' signatures",
        || {
            let output = cli(
                members[3].node(),
                &[
                    "--output",
                    "json",
                    "checkpoint",
                    "--log-key",
                    &voters,
                    "--quorum",
                    "2",
                ],
            );
            output.status.success().then(|| {
                serde_json::from_str::<serde_json::Value>(tansiq_tests::stdout(&output).trim())
                    .unwrap()
            })
        },
    );
    let learner_note = on_learner["checkpoint"].as_str().unwrap().to_owned();
    let witnessed = json_of(
        members[3].node(),
        &[
            "checkpoint",
            "--log-key",
            &format!("{voters},{learner_witness}"),
            "--quorum",
            "3",
        ],
    );
    assert!(
        witnessed["signed_by"]
            .as_array()
            .unwrap()
            .iter()
            .any(|key| key.as_str() == Some(learner_witness.as_str())),
        "the learner cosigns what it holds: {witnessed} ({learner_note})"
    );
    assert!(
        learner_note.contains("\n\u{2014} tansiq.witness/"),
        "a cosignature line: {learner_note}"
    );
    // A quorum the keys cannot meet is refused, saying so.
    let lone = cli(
        members[0].node(),
        &[
            "checkpoint",
            "--log-key",
            &format!("{},{learner_key}", keys[0]),
            "--quorum",
            "2",
        ],
    );
    assert!(!lone.status.success());
    assert!(
        tansiq_tests::stderr(&lone).contains("trusted log keys"),
        "{}",
        tansiq_tests::stderr(&lone)
    );

    // `tansiq cluster status` names each member's key.
    let cluster_status = status(members[0].node()).unwrap();
    for (member, key) in members.iter().zip(&keys).take(3) {
        let named = cluster_status["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|node| number(node, "nodeId") == member.id)
            .and_then(|node| node["logKey"].as_str())
            .unwrap_or_default()
            .to_owned();
        assert_eq!(&named, key, "{cluster_status}");
    }

    // The leader dies; the others go on; it comes back.
    members[leader as usize - 1].node.take().unwrap().kill_9();
    let alive: Vec<String> = members
        .iter()
        .filter(|m| m.id != leader)
        .map(Member::url)
        .collect();
    for n in 0..3 {
        let (event, _) = project_event(&mut donors[0], &format!("after-kill-{n}"));
        submit_until_acknowledged(&alive, 0, &event).await;
    }
    let genesis = cluster::genesis_of(&members);
    members[leader as usize - 1].start(&genesis);
    let head = converged_head(&members).await;

    // Every node's checkpoint now, signed by a majority of the voters,
    // extends every checkpoint saved before the kill.
    for member in &members {
        for since in before.iter().chain([&saved_arg]) {
            let audit = json_of(
                member.node(),
                &[
                    "audit",
                    "--since",
                    since,
                    "--log-key",
                    &voters,
                    "--quorum",
                    "2",
                ],
            );
            assert_eq!(
                audit["consistent"], true,
                "node {}, since {since}: {audit}",
                member.id
            );
            assert_eq!(
                audit["now"]
                    .as_str()
                    .map(|now| now.starts_with(&format!("size {} ", head.position))),
                Some(true),
                "{audit}"
            );
        }
    }
    // Saving over the checkpoint saved before the kill moves it forward
    // (the new one is checked to extend it first).
    let now = json_of(
        members[1].node(),
        &[
            "checkpoint",
            "--log-key",
            &voters,
            "--quorum",
            "2",
            "--save",
            &saved_arg,
        ],
    );
    assert_eq!(now["size"].as_u64(), Some(head.position), "{now}");
    assert_ne!(std::fs::read_to_string(&saved).unwrap(), note);
    eprintln!(
        "cosigned checkpoints: 3 voters signed size {}, leader {leader} killed and back, every node consistent at position {}",
        first["size"], head.position
    );
}
