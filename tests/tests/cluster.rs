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
use tansiq_ledger::author::{now_ms, Author};
use tansiq_ledger::ids::OrgId;
use tansiq_ledger::signing::{ChainId, KeyPair};
use tansiq_proto::v1 as pb;
use tansiq_proto::v1::ledger_client::LedgerClient;
use tansiq_tests::{author, cli, events, stdout, Node};

fn node(members: &[Member], id: u64) -> &Node {
    members[id as usize - 1].node.as_ref().unwrap()
}

struct Member {
    id: u64,
    dir: std::path::PathBuf,
    address: String,
    node: Option<Node>,
}

fn start_member(
    dir: &std::path::Path,
    id: u64,
    genesis: Option<&std::path::Path>,
    listen: &str,
) -> Node {
    let id_text = id.to_string();
    let mut args = vec!["--node-id", id_text.as_str(), "--listen", listen];
    let genesis_text;
    match genesis {
        Some(path) => {
            genesis_text = path.display().to_string();
            args.extend(["--genesis", genesis_text.as_str()]);
        }
        None => args.push("--dev"),
    }
    Node::start_args(dir, &args)
}

fn status(node: &Node) -> Option<Value> {
    let output = cli(node, &["--output", "json", "cluster", "status"]);
    output
        .status
        .success()
        .then(|| serde_json::from_str(&stdout(&output)).unwrap())
}

/// Waits until `node` sees a leader; returns the leader's id.
fn wait_for_leader(node: &Node) -> u64 {
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if let Some(status) = status(node) {
            // A leader that has applied at least its first entry (the initial membership).
            let applied: u64 = status["appliedIndex"]
                .as_str()
                .map_or(0, |n| n.parse().unwrap());
            if status["hasLeader"] == true && applied >= 1 {
                return status["leaderId"].as_str().unwrap().parse().unwrap();
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("no leader elected within 60 s");
}

async fn submit_until_acknowledged(
    urls: &[String],
    start: usize,
    event: &pb::SignedEvent,
) -> pb::Receipt {
    let mut attempt = start;
    loop {
        let url = &urls[attempt % urls.len()];
        attempt += 1;
        let Ok(mut client) = LedgerClient::connect(url.clone()).await else {
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        };
        let mut request = tonic::Request::new(pb::SubmitRequest {
            event: Some(event.clone()),
        });
        request.set_timeout(Duration::from_secs(10));
        match client.submit(request).await {
            Ok(receipt) => return receipt.into_inner(),
            Err(status) => {
                assert!(
                    matches!(
                        status.code(),
                        tonic::Code::Unavailable
                            | tonic::Code::DeadlineExceeded
                            | tonic::Code::Unknown
                            | tonic::Code::Cancelled
                    ),
                    "a valid event was refused: {status:?}"
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_the_leader_loses_no_acknowledged_event_and_all_heads_agree() {
    let root = tempfile::tempdir().unwrap();
    let mut members: Vec<Member> = Vec::new();
    let first_dir = root.path().join("node-1");
    let first = start_member(&first_dir, 1, None, "127.0.0.1:0");
    let genesis = first_dir.join("genesis.json");
    members.push(Member {
        id: 1,
        dir: first_dir,
        address: first.url.clone(),
        node: Some(first),
    });
    for id in 2..=4 {
        let dir = root.path().join(format!("node-{id}"));
        let node = start_member(&dir, id, Some(&genesis), "127.0.0.1:0");
        members.push(Member {
            id,
            dir,
            address: node.url.clone(),
            node: Some(node),
        });
    }

    // Voters 1-3; node 4 joins as a learner (a donor site).
    let voters: Vec<String> = members[..3]
        .iter()
        .map(|m| format!("{}={}", m.id, m.address))
        .collect();
    let mut init = vec!["cluster", "init"];
    for voter in &voters {
        init.extend(["--member", voter.as_str()]);
    }
    let output = cli(node(&members, 1), &init);
    assert!(output.status.success(), "{}", tansiq_tests::stderr(&output));
    wait_for_leader(node(&members, 1));
    let learner = format!("4={}", members[3].address);
    let output = cli(node(&members, 2), &["cluster", "add-learner", &learner]);
    assert!(output.status.success(), "{}", tansiq_tests::stderr(&output));
    let roles = status(node(&members, 1)).unwrap();
    assert_eq!(roles["nodes"].as_array().unwrap().len(), 4, "{roles}");

    // The ministry registers a municipality and one donor per client.
    let urls: Vec<String> = members.iter().map(|m| m.address.clone()).collect();
    let mut client = node(&members, 1).client().await;
    let mut ministry = author(&mut client, &node(&members, 1).ministry_key()).await;
    let chain = ministry.chain.clone();
    let mut setup = vec![
        ministry
            .sign(events::municipality("LY0101", "", 2), now_ms())
            .0,
    ];
    let mut donors = Vec::new();
    for index in 0..4 {
        let key = KeyPair::generate();
        let name = format!("donor-{index}");
        setup.push(
            ministry
                .sign(events::register_donor(&name, &key), now_ms())
                .0,
        );
        donors.push(Author::new(
            ChainId::parse(chain.as_str()).unwrap(),
            OrgId::parse(&name).unwrap(),
            key,
            0,
            None,
        ));
    }
    for event in &setup {
        submit_until_acknowledged(&urls, 0, event).await;
    }

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
    let killed = &mut members[leader as usize - 1];
    let listen = killed.address.trim_start_matches("http://").to_owned();
    let restarted = start_member(
        &killed.dir,
        killed.id,
        if killed.id == 1 { None } else { Some(&genesis) },
        &listen,
    );
    killed.node = Some(restarted);
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
    let deadline = Instant::now() + Duration::from_secs(60);
    let heads = loop {
        let mut heads = Vec::new();
        for member in &members {
            let mut client = member.node.as_ref().unwrap().client().await;
            heads.push(tansiq_tests::head(&mut client).await);
        }
        if heads.windows(2).all(|pair| pair[0] == pair[1]) {
            break heads;
        }
        assert!(
            Instant::now() < deadline,
            "heads did not converge: {heads:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };

    eprintln!("cluster: heads converged at {:?}", started.elapsed());

    // Every acknowledged event exactly once, at its acknowledged position.
    let acknowledged = acknowledged.lock().unwrap().clone();
    assert_eq!(
        heads[0].position as usize,
        setup.len() + acknowledged.len(),
        "the log holds the setup and each acknowledged event once, nothing else"
    );
    for member in &members {
        let mut client = member.node.as_ref().unwrap().client().await;
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
        let verified = cli(
            member.node.as_ref().unwrap(),
            &["--output", "json", "verify"],
        );
        assert!(
            verified.status.success(),
            "{}",
            tansiq_tests::stderr(&verified)
        );
        let report: Value = serde_json::from_str(&stdout(&verified)).unwrap();
        assert_eq!(
            report["head"].as_str().unwrap(),
            hex::encode(&heads[0].head),
            "node {}",
            member.id
        );
    }
    eprintln!(
        "cluster: {} events acknowledged ({} before the kill of leader {leader}), new leader {new_leader}, head at position {}",
        acknowledged.len(),
        before_kill,
        heads[0].position
    );
}
