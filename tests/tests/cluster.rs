//! A replicated cluster of real `tansiq-node` processes: three voters and a
//! learner (a donor site) under a steady stream of submissions to every node.
//! `kill -9` of the leader: a new leader is elected, clients retry, and when
//! the old leader is back every node holds the same log head, every
//! acknowledged event exactly once at its acknowledged position, and
//! `tansiq verify` passes on each node.

// Test code: a panic with its location is the failure report.
#![allow(clippy::unwrap_used)]

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;
use tansiq_ledger::author::now_ms;
use tansiq_proto::v1 as pb;
use tansiq_tests::cluster::{
    self, register_donors, status, submit_until_acknowledged, wait_for_leader, Member,
};
use tansiq_tests::{binary, cli, events, probes, stderr, stdout, Node};

fn node(members: &[Member], id: u64) -> &Node {
    members[id as usize - 1].node()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_the_leader_loses_no_acknowledged_event_and_all_heads_agree() {
    let root = tempfile::tempdir().unwrap();
    // Voters 1-3; node 4 joins as a learner (a donor site).
    let mut members = cluster::members(root.path(), 4);
    cluster::form(&mut members, 3);
    let roles = status(node(&members, 1)).unwrap();
    assert_eq!(roles["nodes"].as_array().unwrap().len(), 4, "{roles}");
    let genesis = cluster::genesis_of(&members);

    // The ministry registers a municipality and one donor per client.
    let urls: Vec<String> = members.iter().map(Member::url).collect();
    let donors = register_donors(&members, &urls, 4).await;
    // The ledger starts with the ministry's authorisations of the init and
    // of the learner's addition, then the municipality and the donors.
    let membership_events = 2;
    let setup_events = membership_events + donors.len() + 1;

    // Clients stream submissions to every node, retrying until acknowledged.
    let acknowledged: Arc<Mutex<HashMap<Vec<u8>, u64>>> = Arc::default();
    let count = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::new();
    for (index, mut donor) in donors.into_iter().enumerate() {
        let (urls, acknowledged, count, stop) = (
            urls.clone(),
            Arc::clone(&acknowledged),
            Arc::clone(&count),
            Arc::clone(&stop),
        );
        tasks.push(tokio::spawn(async move {
            let mut n = 0;
            while !stop.load(Ordering::SeqCst) {
                let project = format!("donor-{index}-p{n}");
                n += 1;
                let (event, id) = donor.sign(
                    events::project(&project, events::details("LY0101", "14030", "EUR", "1000")),
                    now_ms(),
                );
                let receipt = submit_until_acknowledged(&urls, index + n, &event).await;
                assert_eq!(receipt.event_id, id.0.to_vec());
                acknowledged
                    .lock()
                    .unwrap()
                    .insert(receipt.event_id, receipt.position);
                count.fetch_add(1, Ordering::SeqCst);
            }
        }));
    }
    let wait_for = |target: usize| {
        let count = Arc::clone(&count);
        async move {
            let deadline = Instant::now() + Duration::from_secs(120);
            while count.load(Ordering::SeqCst) < target {
                assert!(Instant::now() < deadline, "submissions stalled");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    };
    let started = Instant::now();
    wait_for(150).await;
    eprintln!("cluster: 150 acknowledged after {:?}", started.elapsed());

    // kill -9 the leader while the clients keep going.
    let leader = wait_for_leader(node(&members, 4));
    members[leader as usize - 1].node.take().unwrap().kill_9();
    let before_kill = count.load(Ordering::SeqCst);
    wait_for(before_kill + 150).await;
    eprintln!(
        "cluster: 150 more after the kill at {:?}",
        started.elapsed()
    );
    let new_leader = wait_for_leader(node(&members, if leader == 4 { 1 } else { 4 }));
    assert_ne!(new_leader, leader, "a new leader was elected");

    // The old leader comes back on its address.
    members[leader as usize - 1].start(&genesis);
    let after_restart = count.load(Ordering::SeqCst);
    wait_for(after_restart + 50).await;
    eprintln!(
        "cluster: 50 more after the restart at {:?}",
        started.elapsed()
    );
    stop.store(true, Ordering::SeqCst);
    for task in tasks {
        task.await.unwrap();
    }
    eprintln!("cluster: clients stopped at {:?}", started.elapsed());

    // Every node converges to one head.
    let head = cluster::converged_head(&members).await;
    eprintln!("cluster: heads converged at {:?}", started.elapsed());

    // Every acknowledged event exactly once, at its acknowledged position.
    let acknowledged = acknowledged.lock().unwrap().clone();
    assert_eq!(
        head.position as usize,
        setup_events + acknowledged.len(),
        "the log holds the setup and each acknowledged event once, nothing else"
    );
    for member in &members {
        let mut client = member.node().client().await;
        for (id, position) in &acknowledged {
            let entry = client
                .get_event(pb::GetEventRequest {
                    event_id: id.clone(),
                })
                .await
                .unwrap()
                .into_inner();
            assert_eq!(entry.position, *position, "node {}", member.id);
        }
        let verified = cli(member.node(), &["--output", "json", "verify"]);
        assert!(
            verified.status.success(),
            "{}",
            tansiq_tests::stderr(&verified)
        );
        let report: Value = serde_json::from_str(&stdout(&verified)).unwrap();
        assert_eq!(
            report["head"].as_str().unwrap(),
            hex::encode(&head.head),
            "node {}",
            member.id
        );
    }
    eprintln!(
        "cluster: {} events acknowledged ({} before the kill of leader {leader}), new leader {new_leader}, head at position {}",
        acknowledged.len(),
        before_kill,
        head.position
    );
}

/// A cluster node whose address is taken stops at once, with its reason and
/// exit code 1, and writes nothing: it listens before it opens storage and
/// starts Raft (it used to start them first and could abort on its way out,
/// "pthread lock: Invalid argument", exit code 134, about one time in three).
#[test]
fn a_cluster_node_that_cannot_listen_exits_with_its_reason_and_writes_nothing() {
    let taken = tempfile::tempdir().unwrap();
    let holder = Node::start_args(taken.path(), &["--dev"]);
    let address = holder.url.strip_prefix("http://").unwrap().to_owned();
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("node");
    for _ in 0..6 {
        let output = std::process::Command::new(binary("tansiq-node"))
            .args([
                "--node-id",
                "1",
                "--dev",
                "--plaintext",
                "--listen",
                &address,
            ])
            .arg("--data-dir")
            .arg(&data_dir)
            .env("RUST_LOG", "warn")
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{stderr}");
        assert!(
            stderr.contains(&format!("cannot listen on {address}")),
            "{stderr}"
        );
        assert!(!data_dir.exists(), "nothing is written: {stderr}");
    }
}

/// At the node's default log level, a voter out of reach is logged once by
/// the leader, not at every retry (openraft retries every 500 ms), and once
/// more when it is back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_out_of_reach_is_logged_once_and_once_more_when_back() {
    let root = tempfile::tempdir().unwrap();
    let mut members = cluster::members(root.path(), 3);
    for member in &mut members {
        member.log_into(root.path());
    }
    let leader = cluster::form(&mut members, 3);
    let follower = (1..=3u64).find(|id| *id != leader).unwrap();
    let leader_log = members[leader as usize - 1].log.clone().unwrap();
    let read_log = || std::fs::read_to_string(&leader_log).unwrap();
    members[follower as usize - 1].node.take().unwrap().kill_9();

    cluster::poll("the leader to log the peer out of reach", || {
        read_log().contains("peer out of reach").then_some(())
    });
    // Ten of openraft's retry intervals.
    std::thread::sleep(Duration::from_secs(5));
    let down = read_log();
    assert_eq!(down.matches("peer out of reach").count(), 1, "{down}");
    assert!(!down.contains("openraft::replication"), "{down}");
    assert!(!down.contains("ERROR"), "{down}");

    let genesis = cluster::genesis_of(&members);
    members[follower as usize - 1].start(&genesis);
    let back = cluster::poll("the leader to log the peer back", || {
        let log = read_log();
        log.contains("peer reachable again").then_some(log)
    });
    assert_eq!(back.matches("peer reachable again").count(), 1, "{back}");
    assert!(back.contains(&format!("peer={follower}")), "{back}");
}

/// A member's backup, restored, rejoins as a new member: started under its
/// old id (or any id of the membership it was copied with) it is refused
/// with what to do instead, since its old vote and log must not come back;
/// under a new id, added as a learner, it catches up to the leader's head
/// and is promoted. Meanwhile `/metrics` shows the Raft gauges, commits,
/// snapshots and peers' lag, and `/readyz` follows the leader's commit
/// index: 200 on a caught-up member, 503 on one that knows no leader.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restored_member_rejoins_as_a_new_member_and_probes_follow_the_leader() {
    let root = tempfile::tempdir().unwrap();
    let mut members = cluster::members(root.path(), 3);
    for member in &mut members {
        member.flags = ["--http", "127.0.0.1:0", "--snapshot-every", "20"]
            .map(String::from)
            .to_vec();
    }
    let leader = cluster::form(&mut members, 3);
    let genesis = cluster::genesis_of(&members);
    let key = members[0].dir.join("ministry.key").display().to_string();
    let urls: Vec<String> = members.iter().map(Member::url).collect();
    let mut donor = register_donors(&members, &urls, 1).await.pop().unwrap();
    let mut submit = |count: usize, from: usize| {
        let events: Vec<pb::SignedEvent> = (from..from + count)
            .map(|n| {
                donor
                    .sign(
                        events::project(
                            &format!("p{n}"),
                            events::details("LY0101", "14030", "EUR", "1000"),
                        ),
                        now_ms(),
                    )
                    .0
            })
            .collect();
        events
    };
    let urls_now = urls.clone();
    for event in submit(30, 0) {
        submit_until_acknowledged(&urls_now, 0, &event).await;
    }

    // The leader's metrics: its role, commits with their latency, a
    // snapshot built (every 20 entries), and each peer's lag.
    let console = |id: u64| members[id as usize - 1].node().console_url.clone().unwrap();
    let scraped = probes::scrape(&console(leader)).await;
    assert_eq!(
        probes::sample(&scraped, "tansiq_raft_leader", None),
        Some(1.0)
    );
    assert!(probes::sample(&scraped, "tansiq_raft_term", None).unwrap() >= 1.0);
    assert!(probes::sample(&scraped, "tansiq_events_committed_total", None).unwrap() >= 30.0);
    assert!(probes::sample(&scraped, "tansiq_commit_latency_seconds_count", None).unwrap() >= 30.0);
    assert!(probes::sample(&scraped, "tansiq_raft_events_applied_total", None).unwrap() >= 30.0);
    assert!(probes::sample(&scraped, "tansiq_raft_snapshots_built_total", None).unwrap() >= 1.0);
    assert_eq!(
        probes::sample(&scraped, "tansiq_proposal_queue_requests", None),
        Some(0.0),
        "nothing waits once every submission was answered"
    );
    // Every entry so far is committed: the majority's index is the log's end.
    assert_eq!(
        probes::sample(&scraped, "tansiq_raft_commit_index", None),
        probes::sample(&scraped, "tansiq_raft_last_log_index", None),
    );
    assert!(probes::sample(&scraped, "tansiq_raft_commit_index", None).unwrap() >= 30.0);
    let peers: Vec<String> = probes::labelled(&scraped, "tansiq_raft_peer_lag_entries", "peer")
        .into_iter()
        .map(|(peer, _)| peer)
        .collect();
    for id in (1..=3u64).filter(|id| *id != leader) {
        assert!(peers.contains(&id.to_string()), "{peers:?}");
    }
    let follower = (1..=3u64).find(|id| *id != leader).unwrap();
    let followed = probes::scrape(&console(follower)).await;
    assert_eq!(
        probes::sample(&followed, "tansiq_raft_leader", None),
        Some(0.0)
    );
    assert!(probes::sample(&followed, "tansiq_raft_events_applied_total", None).unwrap() >= 30.0);
    let (status, body) = probes::readyz(&console(follower)).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("of the leader's commit index"), "{body}");

    // The ministry backs up member 3, which is then lost.
    let backup = root.path().join("backup-3");
    let asked = cli(
        members[2].node(),
        &["backup", "--out", backup.to_str().unwrap(), "--key", &key],
    );
    assert!(asked.status.success(), "{}", stderr(&asked));
    let manifest: Value =
        serde_json::from_slice(&std::fs::read(backup.join("tansiq-backup.json")).unwrap()).unwrap();
    assert_eq!(manifest["member"], 3, "{manifest}");
    assert!(manifest["membership"].is_string(), "{manifest}");
    members[2].node.take().unwrap().kill_9();
    let survivors = [urls[0].clone(), urls[1].clone()];
    for event in submit(30, 30) {
        submit_until_acknowledged(&survivors, 0, &event).await;
    }

    // Restored, it is told it rejoins as a new member.
    let restored = root.path().join("restored");
    let done = std::process::Command::new(binary("tansiq-node"))
        .args(["restore", "--from", backup.to_str().unwrap(), "--data-dir"])
        .arg(&restored)
        .arg("--genesis")
        .arg(&genesis)
        .output()
        .unwrap();
    assert!(
        done.status.success(),
        "{}",
        String::from_utf8_lossy(&done.stderr)
    );
    let said = String::from_utf8_lossy(&done.stdout);
    assert!(
        said.contains("rejoins the cluster as a new member"),
        "{said}"
    );
    // Under its old id (or another id of its membership) it does not start.
    for old in [3, 1] {
        let refused = std::process::Command::new(binary("tansiq-node"))
            .args([
                "--node-id",
                &old.to_string(),
                "--listen",
                "127.0.0.1:0",
                "--plaintext",
            ])
            .arg("--data-dir")
            .arg(&restored)
            .arg("--genesis")
            .arg(&genesis)
            .env("RUST_LOG", "warn")
            .output()
            .unwrap();
        let why = String::from_utf8_lossy(&refused.stderr);
        assert!(!refused.status.success(), "{why}");
        assert!(why.contains("restored from a backup of member 3"), "{why}");
        assert!(
            why.contains("a node id never used in this cluster (above 3"),
            "{why}"
        );
    }

    // Under a new id, started on the lost member's address before that
    // member is removed: the leader's messages for member 3 reach it, and it
    // refuses them (it would otherwise answer with member 3's identity and a
    // vote and log it never had): its head stays at the backup's.
    let mut newcomer = Member {
        id: 4,
        dir: restored.clone(),
        listen: members[2].listen.clone(),
        flags: ["--http", "127.0.0.1:0"].map(String::from).to_vec(),
        log: None,
        node: None,
    };
    newcomer.log_into(root.path());
    newcomer.start(&genesis);
    let newcomer_console = newcomer.node().console_url.clone().unwrap();
    let backed_up_at = manifest["position"].as_u64().unwrap();
    // The leader's messages for member 3 did reach it, and it refused them
    // (its own log says so), rather than no time having passed for any.
    let newcomer_log = newcomer.log.clone().unwrap();
    cluster::poll("the newcomer to refuse member 3's messages", || {
        std::fs::read_to_string(&newcomer_log)
            .ok()?
            .contains("refused Raft messages for another node")
            .then_some(())
    });
    let mut newcomer_client = newcomer.node().client().await;
    assert_eq!(
        tansiq_tests::head(&mut newcomer_client).await.position,
        backed_up_at,
        "it took nothing meant for member 3"
    );
    let (status, body) = probes::readyz(&newcomer_console).await;
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("knows no leader"), "{body}");
    // Then the ministry removes member 3 and adds it as a learner.
    for change in [
        vec!["remove".to_owned(), "3".to_owned()],
        vec!["add-learner".to_owned(), format!("4={}", newcomer.url())],
    ] {
        let mut args = vec!["cluster", "--key", key.as_str()];
        args.extend(change.iter().map(String::as_str));
        let output = cli(members[0].node(), &args);
        assert!(output.status.success(), "{}", stderr(&output));
    }
    members.push(newcomer);
    let head = cluster::converged_head(&members).await;
    assert!(head.position >= 60, "{head:?}");
    let output = cli(
        members[0].node(),
        &["cluster", "--key", &key, "promote", "4"],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    let caught_up = cluster::poll("the new member to be ready", || {
        let (status, body) = tokio::task::block_in_place(|| {
            tokio::runtime::Handle::current().block_on(probes::readyz(&newcomer_console))
        });
        (status == 200).then_some(body)
    });
    assert!(
        caught_up.contains("of the leader's commit index"),
        "{caught_up}"
    );
    let verified = cli(members[3].node(), &["verify"]);
    assert!(verified.status.success(), "{}", stderr(&verified));

    // Voters 1 and 2 gone, the new member knows no leader: unready.
    members[0].node.take().unwrap().kill_9();
    members[1].node.take().unwrap().kill_9();
    let why = cluster::poll("the new member to be unready", || {
        let (status, body) = tokio::task::block_in_place(|| {
            tokio::runtime::Handle::current().block_on(probes::readyz(&newcomer_console))
        });
        (status == 503).then_some(body)
    });
    assert!(why.starts_with("not ready: "), "{why}");
}
