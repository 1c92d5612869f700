//! A full disk (a small tmpfs that the test fills with submissions):
//!
//! - one node: writes are refused with RESOURCE_EXHAUSTED and a message that
//!   says what to do, the refusal changes nothing, reads still work; after
//!   the disk grows and the node restarts, every acknowledged event is at its
//!   acknowledged position and head, and the refused request goes in;
//! - one node whose disk grows while it runs: it takes writes again by
//!   itself (same process), and the refused request goes in, once;
//! - a cluster whose member 1 fills its disk: that member stops replicating
//!   and says so, the others go on, the refused request resubmitted to them
//!   is committed exactly once, and after member 1 restarts with space every
//!   member has the same head and every acknowledged event;
//! - the same member, whose disk grows while it runs: it restarts itself in
//!   place (same process) and catches up;
//! - one node left without file descriptors (its open-file limit lowered
//!   while it runs, the error the connection flood caused): writes
//!   are refused, and once the limit is raised again it restarts itself in
//!   place and the refused request goes in.
// Test code: a panic with its location is the failure report.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use tansiq_ledger::author::{now_ms, Author, KeyFile};
use tansiq_ledger::ids::OrgId;
use tansiq_ledger::signing::KeyPair;
use tansiq_proto::v1 as pb;
use tansiq_proto::v1::ledger_client::LedgerClient;
use tansiq_tests::cluster::{self, Member};
use tansiq_tests::disk::SmallDisk;
use tansiq_tests::{
    assert_acknowledged_on, author, events, head, highest_position, Acknowledged, Node,
};
use tonic::transport::Channel;
use tonic::{Code, Status};

const DISK_MIB: u32 = 16;
const EVENTS_PER_REQUEST: usize = 200;
/// 100,000 events: many times what 16 MiB holds.
const REQUESTS_MAX: usize = 500;

/// The ministry registers a municipality and one donor; returns the donor's key file.
async fn register_donor(
    client: &mut LedgerClient<Channel>,
    ministry_key: &Path,
    dir: &Path,
) -> PathBuf {
    let mut ministry = author(client, ministry_key).await;
    let key = KeyPair::generate();
    let setup = vec![
        ministry
            .sign(events::municipality("LY01", "", 1), now_ms())
            .0,
        ministry
            .sign(events::municipality("LY0101", "LY01", 2), now_ms())
            .0,
        ministry
            .sign(events::register_donor("donor", &key), now_ms())
            .0,
    ];
    client
        .submit_batch(pb::SubmitBatchRequest { events: setup })
        .await
        .unwrap();
    let path = dir.join("donor.key");
    KeyFile::new(&OrgId::parse("donor").unwrap(), &key, "TEST KEY")
        .write(&path)
        .unwrap();
    path
}

/// The donor's next request: projects spread over the sectors.
fn next_request(donor: &mut Author, request: usize) -> Vec<pb::SignedEvent> {
    const SECTORS: [&str; 4] = ["14030", "12220", "11220", "16010"];
    (0..EVENTS_PER_REQUEST)
        .map(|n| {
            let details = events::details("LY0101", SECTORS[n % SECTORS.len()], "EUR", "1000");
            let project = format!("water-{request}-{n}");
            donor.sign(events::project(&project, details), now_ms()).0
        })
        .collect()
}

fn remember(acknowledged: &mut Acknowledged, receipts: Vec<pb::Receipt>) {
    for receipt in receipts {
        assert_eq!(receipt.state, pb::ReceiptState::Committed as i32);
        acknowledged.insert(receipt.event_id, (receipt.position, receipt.head));
    }
}

/// Submits the donor's next requests through `client`, remembering what is
/// acknowledged, until one is refused (returned with its events) or
/// `stopped()` says to stop (checked every 5 requests).
async fn submit_until_refused(
    client: &mut LedgerClient<Channel>,
    donor: &mut Author,
    acknowledged: &mut Acknowledged,
    mut stopped: impl FnMut() -> bool,
) -> Option<(Status, Vec<pb::SignedEvent>)> {
    for request in 0..REQUESTS_MAX {
        let events = next_request(donor, request);
        match client
            .submit_batch(pb::SubmitBatchRequest {
                events: events.clone(),
            })
            .await
        {
            Ok(reply) => remember(acknowledged, reply.into_inner().receipts),
            Err(status) => return Some((status, events)),
        }
        if request % 5 == 4 && stopped() {
            return None;
        }
    }
    panic!("the disk never filled");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_refuses_writes_clearly_keeps_reads_and_loses_no_acknowledged_event() {
    let Some(disk) = SmallDisk::mount(DISK_MIB) else {
        return;
    };
    let keys = tempfile::tempdir().unwrap();
    let data_dir = disk.join("node");
    let node = Node::start(&data_dir);
    let mut client = node.client().await;
    let key_file = register_donor(&mut client, &node.ministry_key(), keys.path()).await;
    let mut donor = author(&mut client, &key_file).await;

    let mut acknowledged = Acknowledged::new();
    let (status, refused_events) =
        submit_until_refused(&mut client, &mut donor, &mut acknowledged, || false)
            .await
            .expect("only a refusal stops it");
    assert!(
        !acknowledged.is_empty(),
        "nothing went in before the disk filled"
    );
    assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
    for words in ["disk is full", "free disk space", "restart", "Resubmitting"] {
        assert!(
            status.message().contains(words),
            "{words:?} not in {status:?}"
        );
    }

    // The refusal changed nothing, a second attempt is refused the same way,
    // and reads still answer.
    let before = head(&mut client).await;
    let again = client
        .submit_batch(pb::SubmitBatchRequest {
            events: refused_events.clone(),
        })
        .await
        .unwrap_err();
    assert_eq!(again.code(), Code::ResourceExhausted, "{again:?}");
    assert_eq!(head(&mut client).await, before);
    assert_eq!(
        before.position,
        highest_position(&acknowledged),
        "the head is the last acknowledged event"
    );
    assert_acknowledged_on(&node, &acknowledged).await;

    node.kill_9();
    disk.grow(DISK_MIB * 16);
    let node = Node::start(&data_dir);
    assert_acknowledged_on(&node, &acknowledged).await;
    let mut client = node.client().await;
    let receipts = client
        .submit_batch(pb::SubmitBatchRequest {
            events: refused_events,
        })
        .await
        .expect("the refused request goes in once the disk has space")
        .into_inner()
        .receipts;
    assert_eq!(receipts.len(), EVENTS_PER_REQUEST);
    assert!(
        receipts.iter().all(|receipt| !receipt.duplicate),
        "{receipts:?}"
    );
}

/// How long a node whose disk grew may take to reopen its storage by itself:
/// a bound on waiting for the outcome, far above what it needs (it probes
/// every 2 s and restarts no sooner than 5 s after the failure).
const RECOVERY_WAIT: Duration = Duration::from_secs(120);

/// Submits `events` (once refused) again until the node, still running and
/// not restarted by anyone, accepts them, within [`RECOVERY_WAIT`] of
/// `cause`; their receipts, each for an event written now.
async fn resubmit_until_accepted(
    node: &mut Node,
    client: &mut LedgerClient<tonic::transport::Channel>,
    events: &[pb::SignedEvent],
    cause: &str,
) -> Vec<pb::Receipt> {
    let deadline = Instant::now() + RECOVERY_WAIT;
    let receipts = loop {
        let attempt = client
            .submit_batch(pb::SubmitBatchRequest {
                events: events.to_vec(),
            })
            .await;
        match attempt {
            Ok(reply) => break reply.into_inner().receipts,
            Err(status) => {
                assert_eq!(node.exit_status(), None, "the node exited");
                assert!(
                    Instant::now() < deadline,
                    "no write went in within {RECOVERY_WAIT:?} of {cause}: {status:?}"
                );
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }
    };
    assert_eq!(receipts.len(), EVENTS_PER_REQUEST);
    assert!(
        receipts.iter().all(|receipt| !receipt.duplicate),
        "{receipts:?}"
    );
    receipts
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_reopens_its_storage_by_itself_once_its_full_disk_has_space_again() {
    let Some(disk) = SmallDisk::mount(DISK_MIB) else {
        return;
    };
    let keys = tempfile::tempdir().unwrap();
    let mut node = Node::start(&disk.join("node"));
    let pid = node.pid();
    let mut client = node.client().await;
    let key_file = register_donor(&mut client, &node.ministry_key(), keys.path()).await;
    let mut donor = author(&mut client, &key_file).await;

    let mut acknowledged = Acknowledged::new();
    let (status, refused_events) =
        submit_until_refused(&mut client, &mut donor, &mut acknowledged, || false)
            .await
            .expect("only a refusal stops it");
    assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
    assert!(
        status.message().contains("reopens its storage by itself"),
        "{status:?}"
    );
    let committed_before = client
        .get_status(pb::GetStatusRequest {})
        .await
        .unwrap()
        .into_inner()
        .events_committed;
    assert!(
        committed_before > 0,
        "nothing went in before the disk filled"
    );

    // The operator frees space; nobody restarts the node. The same channel
    // reconnects to the node once it listens again (on the same port).
    disk.grow(DISK_MIB * 16);
    let receipts =
        resubmit_until_accepted(&mut node, &mut client, &refused_events, "the disk growing").await;

    // The same process: RocksDB recovered by itself from the full disk, or
    // the node restarted in place (its counters then began again).
    assert_eq!(node.exit_status(), None, "the node still runs");
    assert_eq!(node.pid(), pid);
    let committed_after = client
        .get_status(pb::GetStatusRequest {})
        .await
        .unwrap()
        .into_inner()
        .events_committed;
    eprintln!(
        "writes went in again {}",
        if committed_after < committed_before {
            "after a restart in place"
        } else {
            "after RocksDB recovered by itself"
        }
    );
    assert_acknowledged_on(&node, &acknowledged).await;
    remember(&mut acknowledged, receipts);
    assert_eq!(
        head(&mut client).await.position,
        highest_position(&acknowledged),
        "the head is the last acknowledged event"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_whose_disk_fills_stops_the_others_go_on_and_nothing_acknowledged_is_lost() {
    let Some(disk) = SmallDisk::mount(DISK_MIB) else {
        return;
    };
    let root = tempfile::tempdir().unwrap();
    let mut members = cluster::members(root.path(), 3);
    members[0].dir = disk.join("node-1");
    cluster::form(&mut members, 3);
    let mut client = members[0].node().client().await;
    let key_file =
        register_donor(&mut client, &members[0].node().ministry_key(), root.path()).await;
    let mut donor = author(&mut client, &key_file).await;

    // Through member 1 (the leader, or forwarding to it) until member 1
    // refuses or stops replicating.
    let mut acknowledged = Acknowledged::new();
    let refused = submit_until_refused(&mut client, &mut donor, &mut acknowledged, || {
        cluster::status(members[0].node()).is_some_and(|status| status["state"] == "Shutdown")
    })
    .await;
    let mut unacknowledged: Vec<pb::SignedEvent> = Vec::new();
    if let Some((status, events)) = refused {
        assert_eq!(status.code(), Code::Unavailable, "{status:?}");
        for words in [
            "stopped replicating",
            "No space left on device",
            "free disk space",
            "resubmit",
        ] {
            assert!(
                status.message().contains(words),
                "{words:?} not in {status:?}"
            );
        }
        unacknowledged = events;
    }
    assert!(
        !acknowledged.is_empty(),
        "nothing went in before the disk filled"
    );
    // Which way member 1 ended: with a refusal (it led) or quietly (it
    // followed, and forwarded to the leader).
    eprintln!(
        "member 1 stopped after {} acknowledged events; refused request: {} events",
        acknowledged.len(),
        unacknowledged.len()
    );
    cluster::poll("member 1 to report its Raft stopped", || {
        cluster::status(members[0].node())
            .is_some_and(|status| status["state"] == "Shutdown")
            .then_some(())
    });
    // It tells load balancers and supervisors: gRPC health NOT_SERVING.
    let mut health =
        tonic_health::pb::health_client::HealthClient::new(members[0].node().channel().await);
    let not_serving = tonic_health::pb::health_check_response::ServingStatus::NotServing as i32;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let status = health
            .check(tonic_health::pb::HealthCheckRequest {
                service: "tansiq.v1.Ledger".into(),
            })
            .await
            .expect("health answers")
            .into_inner()
            .status;
        if status == not_serving {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "health still {status}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    // Its reads still answer, as of what it applied.
    let stopped_head = head(&mut members[0].node().client().await).await;
    assert!(stopped_head.position <= highest_position(&acknowledged));

    // The others go on: the unacknowledged request, resubmitted to them,
    // is committed once (new, or a duplicate if it had been committed).
    let others: Vec<String> = members[1..].iter().map(Member::url).collect();
    for event in &unacknowledged {
        let receipt = cluster::submit_until_acknowledged(&others, 0, event).await;
        remember(&mut acknowledged, vec![receipt]);
    }
    for event in next_request(&mut donor, REQUESTS_MAX) {
        let receipt = cluster::submit_until_acknowledged(&others, 0, &event).await;
        remember(&mut acknowledged, vec![receipt]);
    }

    members[0].node.take().unwrap().kill_9();
    disk.grow(DISK_MIB * 16);
    let genesis = cluster::genesis_of(&members);
    members[0].start(&genesis);
    let converged = cluster::converged_head(&members).await;
    assert_eq!(
        converged.position,
        highest_position(&acknowledged),
        "the head is the last acknowledged event"
    );
    for member in &members {
        assert_acknowledged_on(member.node(), &acknowledged).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_whose_disk_fills_restarts_itself_in_place_once_it_has_space_and_catches_up() {
    let Some(disk) = SmallDisk::mount(DISK_MIB) else {
        return;
    };
    let root = tempfile::tempdir().unwrap();
    let mut members = cluster::members(root.path(), 3);
    members[0].dir = disk.join("node-1");
    cluster::form(&mut members, 3);
    let pid = members[0].node().pid();
    let mut client = members[0].node().client().await;
    let key_file =
        register_donor(&mut client, &members[0].node().ministry_key(), root.path()).await;
    let mut donor = author(&mut client, &key_file).await;

    let mut acknowledged = Acknowledged::new();
    let refused = submit_until_refused(&mut client, &mut donor, &mut acknowledged, || {
        cluster::status(members[0].node()).is_some_and(|status| status["state"] == "Shutdown")
    })
    .await;
    cluster::poll("member 1 to report its Raft stopped", || {
        cluster::status(members[0].node())
            .is_some_and(|status| status["state"] == "Shutdown")
            .then_some(())
    });
    // The others go on meanwhile: the refused request, and one more.
    let others: Vec<String> = members[1..].iter().map(Member::url).collect();
    let mut events = refused.map(|(_, events)| events).unwrap_or_default();
    events.extend(next_request(&mut donor, REQUESTS_MAX));
    for event in &events {
        let receipt = cluster::submit_until_acknowledged(&others, 0, event).await;
        remember(&mut acknowledged, vec![receipt]);
    }

    // The operator frees space; nobody restarts member 1.
    disk.grow(DISK_MIB * 16);
    let deadline = Instant::now() + RECOVERY_WAIT;
    loop {
        let member = members[0].node.as_mut().unwrap();
        assert_eq!(member.exit_status(), None, "member 1 exited");
        let running = cluster::status(member)
            .is_some_and(|status| status["state"] != "Shutdown" && status["hasLeader"] == true);
        if running {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "member 1's Raft did not run again within {RECOVERY_WAIT:?} of the disk growing"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert_eq!(members[0].node().pid(), pid, "restarted in place");
    let converged = cluster::converged_head(&members).await;
    assert_eq!(
        converged.position,
        highest_position(&acknowledged),
        "the head is the last acknowledged event"
    );
    for member in &members {
        assert_acknowledged_on(member.node(), &acknowledged).await;
    }
}

/// Sets the soft open-file limit of process `pid` (`prlimit`, util-linux);
/// None when that cannot be done here, with the reason on stderr.
fn set_open_file_limit(pid: u32, soft: &str) -> Option<()> {
    let output = std::process::Command::new("prlimit")
        .args(["--pid", &pid.to_string(), &format!("--nofile={soft}:")])
        .output();
    match output {
        Ok(output) if output.status.success() => Some(()),
        Ok(output) => {
            eprintln!(
                "SKIPPED: cannot set the node's open-file limit: {}",
                String::from_utf8_lossy(&output.stderr).trim()
            );
            None
        }
        Err(error) => {
            eprintln!("SKIPPED: cannot run prlimit: {error}");
            None
        }
    }
}

/// The hard open-file limit of process `pid`.
fn hard_open_file_limit(pid: u32) -> String {
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).unwrap();
    let line = limits
        .lines()
        .find(|line| line.starts_with("Max open files"))
        .unwrap();
    line.split_whitespace().nth(4).unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_out_of_file_descriptors_restarts_itself_in_place_once_it_has_some_again() {
    let dir = tempfile::tempdir().unwrap();
    let mut node = Node::start(&dir.path().join("node"));
    let pid = node.pid();
    let hard = hard_open_file_limit(pid);
    let mut client = node.client().await;
    let key_file = register_donor(&mut client, &node.ministry_key(), dir.path()).await;
    let mut donor = author(&mut client, &key_file).await;

    // No new file descriptor for the node: the connection it has goes on,
    // and its store fails at the next file it opens (the next write-ahead
    // log, when the memtables fill).
    if set_open_file_limit(pid, "1").is_none() {
        return;
    }
    let mut acknowledged = Acknowledged::new();
    let (status, refused_events) =
        submit_until_refused(&mut client, &mut donor, &mut acknowledged, || false)
            .await
            .expect("only a refusal stops it");
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
    for words in ["Too many open files", "restart in place", "Resubmit"] {
        assert!(
            status.message().contains(words),
            "{words:?} not in {status:?}"
        );
    }

    // The operator raises the limit again; nobody restarts the node.
    set_open_file_limit(pid, &hard).expect("the limit was set before");
    let receipts =
        resubmit_until_accepted(&mut node, &mut client, &refused_events, "the limit rising").await;
    // RocksDB does not recover from this by itself: the node restarted in
    // place (same process, its counters began again).
    assert_eq!(node.exit_status(), None, "the node still runs");
    assert_eq!(node.pid(), pid);
    let committed = client
        .get_status(pb::GetStatusRequest {})
        .await
        .unwrap()
        .into_inner()
        .events_committed;
    assert_eq!(committed, EVENTS_PER_REQUEST as u64, "restarted in place");
    assert_acknowledged_on(&node, &acknowledged).await;
    remember(&mut acknowledged, receipts);
    assert_eq!(
        head(&mut client).await.position,
        highest_position(&acknowledged),
        "the head is the last acknowledged event"
    );
}
