//! `kill -9` while clients stream submissions: after a restart every
//! acknowledged event is there at its acknowledged position and head, and
//! `tansiq verify` re-derives the same head over the whole log.
// Test code: a panic with its location is the failure report.
#![allow(clippy::unwrap_used)]

use tansiq_tests::{assert_acknowledged_on, events, highest_position, Acknowledged};

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tansiq_ledger::author::{now_ms, KeyFile};
use tansiq_ledger::ids::OrgId;
use tansiq_ledger::signing::KeyPair;
use tansiq_proto::v1 as pb;
use tansiq_tests::{author, cli, head, stdout, Node};

const CLIENTS: usize = 4;
const ACKS_BEFORE_KILL: usize = 400;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_events_survive_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("node");
    let node = Node::start(&data_dir);
    let mut client = node.client().await;
    let mut ministry = author(&mut client, &node.ministry_key()).await;
    let mut setup = Vec::new();
    setup.push(
        ministry
            .sign(events::municipality("LY01", "", 1), now_ms())
            .0,
    );
    setup.push(
        ministry
            .sign(events::municipality("LY0101", "LY01", 2), now_ms())
            .0,
    );
    let mut key_files = Vec::new();
    for index in 0..CLIENTS {
        let org = format!("donor-{index}");
        let key = KeyPair::generate();
        setup.push(
            ministry
                .sign(events::register_donor(&org, &key), now_ms())
                .0,
        );
        let path = dir.path().join(format!("{org}.key"));
        KeyFile::new(&OrgId::parse(&org).unwrap(), &key, "TEST KEY")
            .write(&path)
            .unwrap();
        key_files.push(path);
    }
    client
        .submit_batch(pb::SubmitBatchRequest { events: setup })
        .await
        .unwrap();

    // Acknowledged receipts: event id → (position, head).
    let acknowledged: Arc<Mutex<Acknowledged>> = Arc::default();
    let count = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for (index, key_file) in key_files.iter().enumerate() {
        let mut client = node.client().await;
        let mut donor = author(&mut client, key_file).await;
        let acknowledged = Arc::clone(&acknowledged);
        let count = Arc::clone(&count);
        tasks.push(tokio::spawn(async move {
            for n in 0..100_000 {
                let project = format!("donor-{index}-p{n}");
                let (event, _) = donor.sign(
                    events::project(&project, events::details("LY0101", "14030", "EUR", "1000")),
                    now_ms(),
                );
                match client
                    .submit(pb::SubmitRequest { event: Some(event) })
                    .await
                {
                    Ok(receipt) => {
                        let receipt = receipt.into_inner();
                        acknowledged
                            .lock()
                            .unwrap()
                            .insert(receipt.event_id, (receipt.position, receipt.head));
                        count.fetch_add(1, Ordering::SeqCst);
                    }
                    Err(_) => return, // the node is gone
                }
            }
        }));
    }
    let deadline = Instant::now() + Duration::from_secs(300);
    while count.load(Ordering::SeqCst) < ACKS_BEFORE_KILL {
        assert!(Instant::now() < deadline, "clients made no progress");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    node.kill_9();
    for task in tasks {
        task.await.unwrap();
    }
    let acknowledged = acknowledged.lock().unwrap().clone();
    assert!(acknowledged.len() >= ACKS_BEFORE_KILL);

    let node = Node::start(&data_dir);
    let mut client = node.client().await;
    let after = head(&mut client).await;
    let highest = highest_position(&acknowledged);
    assert!(
        after.position >= highest,
        "lost acknowledged positions: head {} < {highest}",
        after.position
    );
    assert_acknowledged_on(&node, &acknowledged).await;
    // Every key chain on the node is at least as long as what its client saw acknowledged.
    let output = cli(&node, &["verify", "--output", "json"]);
    assert!(
        output.status.success(),
        "verify failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report: serde_json::Value = serde_json::from_str(&stdout(&output)).unwrap();
    assert_eq!(report["result"], "ok");
    assert_eq!(report["events_verified"], after.position);
    assert_eq!(report["head"], hex::encode(&after.head));
    // The acknowledged prefix re-derives the same head the client was told.
    let highest_head = acknowledged
        .values()
        .find(|(position, _)| *position == highest)
        .unwrap()
        .1
        .clone();
    let entries = cli(
        &node,
        &[
            "tail",
            "--once",
            "--from",
            &highest.to_string(),
            "--output",
            "json",
        ],
    );
    let first_line = stdout(&entries)
        .lines()
        .next()
        .unwrap_or_default()
        .to_owned();
    let entry: serde_json::Value = serde_json::from_str(&first_line).unwrap();
    assert_eq!(entry["head"], hex::encode(highest_head));
}
