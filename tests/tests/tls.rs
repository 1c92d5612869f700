//! Transport security with real processes: a `--dev` node serves TLS with a
//! local CA it creates; a second node gets its certificate from that CA
//! (`--dev-ca`); the CLI trusts the CA; node-to-node and administration RPCs
//! need a client certificate (mutual TLS); plaintext is refused off loopback.

// Test code: a panic with its location is the failure report.
#![allow(clippy::unwrap_used)]

use std::process::Command;

use tansiq_ledger::author::now_ms;
use tansiq_proto::v1 as pb;
use tansiq_proto::v1::cluster_client::ClusterClient;
use tansiq_tests::cluster::{number, status, wait_for_leader};
use tansiq_tests::{author, binary, cli, cli_as_admin, events, stderr, stdout, Node};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_serve_tls_and_talk_to_each_other_with_mutual_tls() {
    let root = tempfile::tempdir().unwrap();
    let (dir_1, dir_2) = (root.path().join("node-1"), root.path().join("node-2"));
    let ca = dir_1.join("tls").join("ca.pem");
    let first = Node::start_tls(
        &dir_1,
        &["--dev", "--node-id", "1", "--listen", "127.0.0.1:0"],
        &ca,
    );
    let genesis = dir_1.join("genesis.json").display().to_string();
    let dev_ca = dir_1.join("tls").display().to_string();
    let second = Node::start_tls(
        &dir_2,
        &[
            "--node-id",
            "2",
            "--genesis",
            &genesis,
            "--dev-ca",
            &dev_ca,
            "--listen",
            "127.0.0.1:0",
        ],
        &ca,
    );
    assert!(first.url.starts_with("https://"), "{}", first.url);

    // The CLI over TLS, trusting the dev CA.
    let head = cli(&first, &["head"]);
    assert!(head.status.success(), "{}", stderr(&head));
    // Without the CA, the node's certificate is not trusted.
    let untrusted = Command::new(binary("tansiq"))
        .args(["--node", &first.url, "--ca", "/dev/null", "head"])
        .current_dir(root.path())
        .output()
        .unwrap();
    assert!(!untrusted.status.success());
    // A plaintext client gets no answer from a TLS port.
    let plaintext_url = first.url.replace("https://", "http://");
    let plaintext = Command::new(binary("tansiq"))
        .args(["--node", &plaintext_url, "head"])
        .output()
        .unwrap();
    assert!(!plaintext.status.success(), "{}", stdout(&plaintext));

    // Cluster administration needs the administrator's certificate: none,
    // or a node's, is refused.
    let members = [format!("1={}", first.url), format!("2={}", second.url)];
    let ministry_key = first.ministry_key().display().to_string();
    let init = [
        "cluster",
        "--key",
        &ministry_key,
        "init",
        "--member",
        &members[0],
        "--member",
        &members[1],
    ];
    let refused = cli(&first, &init);
    assert!(!refused.status.success());
    assert!(
        stderr(&refused).contains("Unauthenticated"),
        "{}",
        stderr(&refused)
    );
    let node_cert = dir_1.join("tls").join("node.pem").display().to_string();
    let node_key = dir_1.join("tls").join("node.key").display().to_string();
    let mut as_node = vec!["--tls-cert", &node_cert, "--tls-key", &node_key];
    as_node.extend(init);
    let refused = cli(&first, &as_node);
    assert!(
        stderr(&refused).contains("PermissionDenied"),
        "{}",
        stderr(&refused)
    );
    let formed = cli_as_admin(&first, &init);
    assert!(formed.status.success(), "{}", stderr(&formed));
    wait_for_leader(&first);

    // Raft messages from a caller without a certificate are refused.
    let mut anonymous = ClusterClient::new(first.channel().await);
    let denied = anonymous
        .vote(pb::RaftPayload::default())
        .await
        .unwrap_err();
    assert_eq!(denied.code(), tonic::Code::Unauthenticated);

    // Position 1 is the ministry's authorisation of the init; a submission
    // to either node is replicated between them over mutual TLS.
    let mut client = second.client().await;
    let mut ministry = author(&mut client, &first.ministry_key()).await;
    let (event, _) = ministry.sign(events::municipality("LY0101", "", 2), now_ms());
    client
        .submit(pb::SubmitRequest { event: Some(event) })
        .await
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let (one, two) = (status(&first).unwrap(), status(&second).unwrap());
        if number(&one, "position") == number(&two, "position") && number(&one, "position") >= 2 {
            assert_eq!(one["head"], two["head"]);
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{one} {two}");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

#[test]
fn plaintext_is_refused_off_loopback() {
    let root = tempfile::tempdir().unwrap();
    let output = Command::new(binary("tansiq-node"))
        .arg("--data-dir")
        .arg(root.path())
        .args(["--dev", "--plaintext", "--listen", "0.0.0.0:0"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(stderr(&output).contains("loopback"), "{}", stderr(&output));
}
