//! The log as a Merkle tree, asked over gRPC of a real node: its root
//! equals one this test computes on its own from the entries it reads with
//! `Subscribe` (RFC 6962 with the `sha2` crate, not the node's code);
//! inclusion proofs by event id and by position verify against it; a
//! consistency proof links a head before a submission to the head after;
//! a restarted node has the same tree; questions past the tree are
//! OUT_OF_RANGE, an unknown event NOT_FOUND.

// Test code: a panic with its location is the failure report.
#![allow(clippy::unwrap_used)]

use prost::Message;
use sha2::{Digest, Sha256};
use tansiq_ledger::tree::{check_consistency, check_inclusion, proof_hashes, Hash};
use tansiq_proto::v1 as pb;
use tansiq_proto::v1::get_inclusion_proof_request::Event as Which;
use tansiq_proto::v1::ledger_client::LedgerClient;
use tansiq_tests::Node;
use tokio_stream::StreamExt;
use tonic::transport::Channel;

/// MTH(D[n]) of RFC 6962, section 2.1, from the RFC.
fn mth(leaves: &[[u8; 32]]) -> [u8; 32] {
    match leaves.len() {
        0 => Sha256::digest([]).into(),
        1 => leaves[0],
        n => {
            let mut k = 1;
            while k * 2 < n {
                k *= 2;
            }
            let mut node = Sha256::new();
            node.update([1]);
            node.update(mth(&leaves[..k]));
            node.update(mth(&leaves[k..]));
            node.finalize().into()
        }
    }
}

fn leaf(entry: &[u8]) -> [u8; 32] {
    let mut hasher = Sha256::new();
    hasher.update([0]);
    hasher.update(entry);
    hasher.finalize().into()
}

/// Every entry of the log, in order, as `Subscribe` gives them.
async fn entries(client: &mut LedgerClient<Channel>, through: u64) -> Vec<pb::LogEntry> {
    let mut log = client
        .subscribe(pb::SubscribeRequest { from_position: 1 })
        .await
        .unwrap()
        .into_inner();
    let mut entries = Vec::new();
    while let Some(entry) = log.next().await {
        let entry = entry.unwrap();
        let done = entry.position >= through;
        entries.push(entry);
        if done {
            break;
        }
    }
    entries
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn anyone_can_check_an_event_is_in_the_log_and_the_log_only_grew() {
    let dir = tempfile::tempdir().unwrap();
    let node = Node::start_with(dir.path(), &["--demo"]);
    let mut client = node.client().await;
    let head = tansiq_tests::head(&mut client).await;
    let tree = client
        .get_tree_head(pb::GetTreeHeadRequest { size: 0 })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(tree.size, head.position, "the tree holds the whole log");

    // The root, computed here from the entries as the log serves them.
    let log = entries(&mut client, head.position).await;
    assert_eq!(log.len() as u64, head.position);
    let leaves: Vec<[u8; 32]> = log
        .iter()
        .map(|entry| leaf(&entry.event.as_ref().unwrap().encode_to_vec()))
        .collect();
    assert_eq!(tree.root, mth(&leaves).to_vec());
    let root = Hash(mth(&leaves));
    for size in [1, 2, 7, head.position / 2] {
        let earlier = client
            .get_tree_head(pb::GetTreeHeadRequest { size })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(
            earlier.root,
            mth(&leaves[..size as usize]).to_vec(),
            "size {size}"
        );
    }

    // Inclusion, by id and by position: the proof and the event it names.
    for position in [1, 2, head.position / 2, head.position] {
        let entry = &log[position as usize - 1];
        for which in [
            Which::EventId(entry.event_id.clone()),
            Which::Position(position),
        ] {
            let proof = client
                .get_inclusion_proof(pb::GetInclusionProofRequest {
                    event: Some(which),
                    tree_size: 0,
                })
                .await
                .unwrap()
                .into_inner();
            assert_eq!(proof.position, position);
            let event = proof.event.unwrap().encode_to_vec();
            assert_eq!(event, entry.event.as_ref().unwrap().encode_to_vec());
            check_inclusion(
                &proof_hashes(&proof.hashes).unwrap(),
                tree.size,
                root,
                position - 1,
                &event,
            )
            .unwrap();
            // Another event's bytes do not pass for it.
            let other = log[(position as usize) % log.len()].event.as_ref().unwrap();
            assert!(check_inclusion(
                &proof_hashes(&proof.hashes).unwrap(),
                tree.size,
                root,
                position - 1,
                &other.encode_to_vec()
            )
            .is_err());
        }
    }

    // A submission later, the new tree extends the one saved before.
    let key = node.data_dir.join("ministry.key");
    let mut ministry = tansiq_tests::author(&mut client, &key).await;
    let (event, _) = ministry.sign(
        tansiq_ledger::testing::events::municipality("LY0399", "LY03", 2),
        tansiq_ledger::author::now_ms(),
    );
    client
        .submit(pb::SubmitRequest { event: Some(event) })
        .await
        .unwrap();
    let after = client
        .get_tree_head(pb::GetTreeHeadRequest { size: 0 })
        .await
        .unwrap()
        .into_inner();
    let consistency = client
        .get_consistency_proof(pb::GetConsistencyProofRequest {
            old_size: tree.size,
            new_size: 0,
        })
        .await
        .unwrap()
        .into_inner();
    let new_root = Hash(after.root.as_slice().try_into().unwrap());
    check_consistency(
        &proof_hashes(&consistency.hashes).unwrap(),
        after.size,
        new_root,
        tree.size,
        root,
    )
    .unwrap();
    assert_eq!(after.size, tree.size + 1);
    {
        let mut forged = root.0;
        forged[0] ^= 1;
        assert!(check_consistency(
            &proof_hashes(&consistency.hashes).unwrap(),
            after.size,
            new_root,
            tree.size,
            Hash(forged)
        )
        .is_err());
    }

    // Past the tree, an unknown event, no event named.
    let past = client
        .get_tree_head(pb::GetTreeHeadRequest {
            size: after.size + 1,
        })
        .await
        .unwrap_err();
    assert_eq!(past.code(), tonic::Code::OutOfRange, "{past:?}");
    let past = client
        .get_inclusion_proof(pb::GetInclusionProofRequest {
            event: Some(Which::Position(after.size + 1)),
            tree_size: 0,
        })
        .await
        .unwrap_err();
    assert_eq!(past.code(), tonic::Code::OutOfRange, "{past:?}");
    let past = client
        .get_consistency_proof(pb::GetConsistencyProofRequest {
            old_size: after.size + 5,
            new_size: 0,
        })
        .await
        .unwrap_err();
    assert_eq!(past.code(), tonic::Code::OutOfRange, "{past:?}");
    let unknown = client
        .get_inclusion_proof(pb::GetInclusionProofRequest {
            event: Some(Which::EventId(vec![7; 32])),
            tree_size: 0,
        })
        .await
        .unwrap_err();
    assert_eq!(unknown.code(), tonic::Code::NotFound, "{unknown:?}");
    let unnamed = client
        .get_inclusion_proof(pb::GetInclusionProofRequest {
            event: None,
            tree_size: 0,
        })
        .await
        .unwrap_err();
    assert_eq!(unnamed.code(), tonic::Code::InvalidArgument, "{unnamed:?}");

    // A restarted node holds the same tree.
    let data = node.data_dir.clone();
    assert!(node.terminate());
    let node = Node::start_with(&data, &[]);
    let mut client = node.client().await;
    let again = client
        .get_tree_head(pb::GetTreeHeadRequest { size: 0 })
        .await
        .unwrap()
        .into_inner();
    assert_eq!((again.size, again.root), (after.size, after.root));
}

/// Registers municipality `pcode` on `node`, signed by its ministry key;
/// returns the event id (hex).
async fn register_municipality(node: &Node, pcode: &str) -> String {
    let mut client = node.client().await;
    let key = node.data_dir.join("ministry.key");
    let mut ministry = tansiq_tests::author(&mut client, &key).await;
    let (event, _) = ministry.sign(
        tansiq_ledger::testing::events::municipality(pcode, "LY03", 2),
        tansiq_ledger::author::now_ms(),
    );
    let receipt = client
        .submit(pb::SubmitRequest { event: Some(event) })
        .await
        .unwrap()
        .into_inner();
    hex::encode(receipt.event_id)
}

fn json(output: &std::process::Output) -> serde_json::Value {
    assert!(output.status.success(), "{}", tansiq_tests::stderr(output));
    serde_json::from_str(tansiq_tests::stdout(output).trim()).unwrap()
}

/// Two copies of one ledger that went different ways after position k: a
/// checkpoint saved from one fails `tansiq audit` against the other (a
/// fork), and against the other before it grew (a truncation); `prove`
/// checks an event against the node's checkpoint and a saved one; a pinned
/// key that did not sign is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_auditor_catches_a_forked_or_truncated_log() {
    let root = tempfile::tempdir().unwrap();
    let (dir_a, dir_b) = (root.path().join("a"), root.path().join("b"));
    let node = Node::start_with(&dir_a, &["--demo"]);
    assert!(node.terminate());
    let copied = std::process::Command::new("cp")
        .arg("-a")
        .arg(&dir_a)
        .arg(&dir_b)
        .status()
        .unwrap();
    assert!(copied.success());
    let a = Node::start_with(&dir_a, &[]);
    let b = Node::start_with(&dir_b, &[]);
    let cli = |node: &Node, args: &[&str]| {
        let mut all = vec!["--output", "json"];
        all.extend_from_slice(args);
        tansiq_tests::cli(node, &all)
    };

    let on_a = register_municipality(&a, "LY0398").await;
    let saved = root.path().join("a.checkpoint");
    let saved_arg = saved.display().to_string();
    let checkpoint = json(&cli(&a, &["checkpoint", "--save", &saved_arg]));
    let size = checkpoint["size"].as_u64().unwrap();
    let log_key = checkpoint["log_key"].as_str().unwrap().to_owned();
    // The node names its log key in its status, for an operator to publish.
    let status = json(&cli(&a, &["status"]));
    assert_eq!(status["log_key"].as_str(), Some(log_key.as_str()));
    let note = std::fs::read_to_string(&saved).unwrap();
    assert!(note.starts_with("tansiq.ledger/"), "{note}");
    assert!(note.contains(&format!("\n{size}\n")), "{note}");

    // The same log, grown: consistent; the event proven, now and as saved.
    register_municipality(&a, "LY0396").await;
    let audit = json(&cli(
        &a,
        &["audit", "--since", &saved_arg, "--log-key", &log_key],
    ));
    assert_eq!(audit["consistent"], true);
    let proof = json(&cli(&a, &["prove", &on_a, "--log-key", &log_key]));
    assert_eq!(proof["verified"], true);
    assert_eq!(proof["tree_size"].as_u64(), Some(size + 1));
    let proof = json(&cli(&a, &["prove", &on_a, "--checkpoint", &saved_arg]));
    assert_eq!(proof["tree_size"].as_u64(), Some(size));

    // The copy, one entry behind the saved checkpoint: truncated.
    let truncated = cli(&b, &["audit", "--since", &saved_arg, "--log-key", &log_key]);
    assert!(!truncated.status.success());
    let said = tansiq_tests::stderr(&truncated);
    assert!(
        said.contains("TRUNCATED") && said.contains(&saved_arg),
        "{said}"
    );
    // Nor is its checkpoint saved over the later one: the file is kept.
    let before = std::fs::read(&saved).unwrap();
    let over = cli(
        &b,
        &["checkpoint", "--save", &saved_arg, "--log-key", &log_key],
    );
    assert!(!over.status.success());
    assert!(
        tansiq_tests::stderr(&over).contains("TRUNCATED"),
        "{}",
        tansiq_tests::stderr(&over)
    );
    assert_eq!(std::fs::read(&saved).unwrap(), before);
    // Then grown another way: a fork.
    register_municipality(&b, "LY0397").await;
    register_municipality(&b, "LY0395").await;
    let forked = cli(&b, &["audit", "--since", &saved_arg, "--log-key", &log_key]);
    assert!(!forked.status.success());
    let said = tansiq_tests::stderr(&forked);
    assert!(
        said.contains("REWRITTEN") && said.contains(&saved_arg),
        "{said}"
    );
    // A's event is not in B's log.
    let missing = cli(&b, &["prove", &on_a]);
    assert!(!missing.status.success());

    // A key that did not sign the node's checkpoint is refused.
    let other = tempfile::tempdir().unwrap();
    let stranger = Node::start_with(other.path(), &[]);
    let strangers_key = json(&cli(&stranger, &["checkpoint"]))["log_key"]
        .as_str()
        .unwrap()
        .to_owned();
    let refused = cli(&a, &["checkpoint", "--log-key", &strangers_key]);
    assert!(!refused.status.success());
    assert!(
        tansiq_tests::stderr(&refused).contains("not signed by the trusted log key"),
        "{}",
        tansiq_tests::stderr(&refused)
    );
}

/// GET `url`: status, Cache-Control, body.
async fn fetch(url: &str) -> (u16, String, Vec<u8>) {
    use http_body_util::{BodyExt, Empty};
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build::<_, Empty<bytes::Bytes>>(
        hyper_util::client::legacy::connect::HttpConnector::new(),
    );
    let response = client.get(url.parse().unwrap()).await.unwrap();
    let status = response.status().as_u16();
    let cache = response
        .headers()
        .get("cache-control")
        .map(|value| value.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, cache, body.to_vec())
}

/// The node serves its tree as c2sp.org/tlog-tiles: the checkpoint verifies
/// with the node's log key, the level-0 tile holds the leaf hashes of the
/// entry bundle's entries, and they hash up to the checkpoint's root.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mirror_reads_the_checkpoint_tiles_and_entries_over_http() {
    let dir = tempfile::tempdir().unwrap();
    let node = Node::start_with(dir.path(), &["--demo", "--http", "127.0.0.1:0"]);
    let console = node.console_url.clone().unwrap();
    let console = console.trim_end_matches('/');
    let mut client = node.client().await;
    let signed = client
        .get_checkpoint(pb::GetCheckpointRequest::default())
        .await
        .unwrap()
        .into_inner();

    let (status, cache, note) = fetch(&format!("{console}/checkpoint")).await;
    assert_eq!(status, 200);
    assert_eq!(cache, "no-store");
    let checkpoint =
        tansiq_ledger::tree::checkpoint::verify(&note, &signed.verifier_key, &signed.origin)
            .unwrap();
    let size = checkpoint.size;
    assert!(
        size > 0 && size < 256,
        "the demo fits one partial tile: {size}"
    );
    // A member asked for its own checkpoint of an earlier size signs that
    // tree alone; a size it has not reached is refused after its wait.
    let earlier = client
        .get_checkpoint(pb::GetCheckpointRequest { size: size - 1 })
        .await
        .unwrap()
        .into_inner();
    assert_eq!((earlier.size, earlier.cosigner_keys.len()), (size - 1, 1));
    tansiq_ledger::tree::checkpoint::verify(&earlier.note, &signed.verifier_key, &signed.origin)
        .unwrap();
    let beyond = client
        .get_checkpoint(pb::GetCheckpointRequest { size: size + 100 })
        .await
        .unwrap_err();
    assert_eq!(beyond.code(), tonic::Code::FailedPrecondition, "{beyond:?}");

    let (status, cache, hashes) = fetch(&format!("{console}/tile/0/000.p/{size}")).await;
    assert_eq!(status, 200);
    assert_eq!(cache, "no-store", "a partial tile changes as the log grows");
    assert_eq!(hashes.len() as u64, 32 * size);
    let leaves: Vec<[u8; 32]> = hashes
        .chunks(32)
        .map(|chunk| chunk.try_into().unwrap())
        .collect();
    assert_eq!(mth(&leaves), checkpoint.root.0);

    let (status, _, bundle) = fetch(&format!("{console}/tile/entries/000.p/{size}")).await;
    assert_eq!(status, 200);
    let mut rest = bundle.as_slice();
    let mut entries = Vec::new();
    while !rest.is_empty() {
        let length = u16::from_be_bytes([rest[0], rest[1]]) as usize;
        entries.push(rest[2..2 + length].to_vec());
        rest = &rest[2 + length..];
    }
    assert_eq!(entries.len() as u64, size);
    for (entry, hash) in entries.iter().zip(&leaves) {
        assert_eq!(&leaf(entry), hash);
        // Each entry is a signed event as the log holds it.
        pb::SignedEvent::decode(entry.as_slice()).unwrap();
    }

    // Not a tile path: 400; a tile the tree does not hold yet: 404.
    for (path, status) in [
        ("tile/0/1".to_owned(), 400),
        ("tile/9/000".to_owned(), 400),
        ("tile/0/000".to_owned(), 404),
        (format!("tile/0/000.p/{}", size + 1), 404),
        ("tile/entries/x001/000".to_owned(), 404),
    ] {
        assert_eq!(
            fetch(&format!("{console}/{path}")).await.0,
            status,
            "{path}"
        );
    }
}

/// `tansiq mirror` copies a demo node's log as tiles, checking them; with
/// the node stopped, `tansiq verify --mirror` re-checks every tile, the
/// signed checkpoint, every signature and both chains offline, and names
/// the file when one byte of an entry bundle or a hash tile is flipped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mirror_is_checked_offline_and_a_flipped_byte_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let node = Node::start_with(
        &dir.path().join("node"),
        &["--demo", "--http", "127.0.0.1:0"],
    );
    let console = node.console_url.clone().unwrap();
    let console = console.trim_end_matches('/').to_owned();
    let json_of = |output: std::process::Output| json(&output);
    let checkpoint = json_of(tansiq_tests::cli(
        &node,
        &["--output", "json", "checkpoint"],
    ));
    let log_key = checkpoint["log_key"].as_str().unwrap().to_owned();
    let size = checkpoint["size"].as_u64().unwrap();
    let mirror = dir.path().join("mirror");
    let mirror_arg = mirror.display().to_string();
    let args = [
        "--output",
        "json",
        "mirror",
        &mirror_arg,
        "--from",
        &console,
        "--log-key",
        &log_key,
    ];
    let copied = json_of(tansiq_tests::cli(&node, &args));
    assert_eq!(copied["entries"].as_u64(), Some(size));
    // Again: brought up to date, checked again.
    let again = json_of(tansiq_tests::cli(&node, &args));
    assert_eq!(again["size"].as_u64(), Some(size));
    assert!(node.terminate());

    // Offline: the node is gone (its address answers nothing).
    let offline = |extra: &[&str]| {
        let mut command = std::process::Command::new(tansiq_tests::binary("tansiq"));
        command
            .args(["--node", "http://127.0.0.1:9", "--output", "json", "verify"])
            .args(["--mirror", &mirror_arg, "--log-key", &log_key])
            .args(extra);
        command.output().unwrap()
    };
    let verified = json_of(offline(&[]));
    assert_eq!(verified["result"], "ok");
    assert_eq!(verified["events_verified"].as_u64(), Some(size));

    let bundle = mirror.join(format!("tile/entries/000.p/{size}"));
    let tile = mirror.join(format!("tile/0/000.p/{size}"));
    for (file, name) in [(&bundle, "tile/entries/000"), (&tile, "tile/0/000")] {
        let original = std::fs::read(file).unwrap();
        let mut flipped = original.clone();
        // A byte inside the data (past the first entry's length prefix).
        let at = original.len() / 2;
        flipped[at] ^= 0x01;
        std::fs::write(file, &flipped).unwrap();
        let refused = offline(&[]);
        assert!(!refused.status.success(), "{name} flipped");
        let said = tansiq_tests::stderr(&refused);
        assert!(said.contains("tile/"), "{name}: {said}");
        std::fs::write(file, &original).unwrap();
    }
    assert_eq!(json_of(offline(&[]))["result"], "ok");

    // A key that did not sign the checkpoint.
    let refused = {
        let mut command = std::process::Command::new(tansiq_tests::binary("tansiq"));
        command.args([
            "--node",
            "http://127.0.0.1:9",
            "verify",
            "--mirror",
            &mirror_arg,
        ]);
        command.args([
            "--log-key",
            "tansiq.ledger/x+01234567+AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA=",
        ]);
        command.output().unwrap()
    };
    assert!(!refused.status.success());
}
