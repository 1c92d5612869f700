//! The `tansiq` CLI against a real node: keygen, submit (single and array),
//! get, head, tail, verify, and errors that name the node's reason.
// Test code: a panic with its location is the failure report.
#![allow(clippy::unwrap_used)]

use tansiq_tests::{cli, stderr, stdout, Node};

#[test]
fn a_session_with_the_cli() {
    let dir = tempfile::tempdir().unwrap();
    let node = Node::start(&dir.path().join("node"));
    let ministry_key = node.ministry_key();
    let ministry_key = ministry_key.to_str().unwrap();

    let key_path = dir.path().join("undp.key");
    let output = cli(
        &node,
        &[
            "keygen",
            "--org",
            "undp-libya",
            "--out",
            key_path.to_str().unwrap(),
            "--output",
            "json",
        ],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    let keygen: serde_json::Value = serde_json::from_str(&stdout(&output)).unwrap();
    let public_base64 = keygen["public_key_base64"].as_str().unwrap().to_owned();

    let org = dir.path().join("org.json");
    std::fs::write(&org, format!(r#"{{"organisationRegistered": {{"orgId": "undp-libya", "role": "ORG_ROLE_DONOR", "name": {{"latin": "UNDP Libya", "arabic": "برنامج الأمم المتحدة الإنمائي"}}, "iatiOrgType": 40, "keys": ["{public_base64}"]}}}}"#)).unwrap();
    let output = cli(
        &node,
        &["submit", org.to_str().unwrap(), "--key", ministry_key],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(
        stdout(&output).contains("organisation_registered"),
        "{}",
        stdout(&output)
    );

    let municipalities = dir.path().join("municipalities.json");
    std::fs::write(&municipalities, r#"[{"municipalityRegistered": {"pcode": "LY01", "adminLevel": 1, "country": "LY", "name": {"latin": "Nalut"}}},
        {"municipalityRegistered": {"pcode": "LY0101", "adminLevel": 2, "parentPcode": "LY01", "country": "LY", "name": {"latin": "Ghadames", "arabic": "غدامس"}}}]"#).unwrap();
    let output = cli(
        &node,
        &[
            "submit",
            municipalities.to_str().unwrap(),
            "--key",
            ministry_key,
            "--output",
            "json",
        ],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    let receipts: Vec<serde_json::Value> = stdout(&output)
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_eq!(
        receipts
            .iter()
            .map(|r| r["position"].as_u64().unwrap())
            .collect::<Vec<_>>(),
        vec![2, 3]
    );

    let project = dir.path().join("project.json");
    std::fs::write(&project, r#"{"projectRegistered": {"projectId": "undp-ly-water-1", "details": {"iatiIdentifier": "XM-DAC-41114-LY-1", "title": {"latin": "Water"}, "locations": [{"pcode": "LY0101"}], "sectors": [{"code": "14030"}], "status": 2, "budget": {"value": "100000", "currency": "USD"}}}}"#).unwrap();
    let output = cli(
        &node,
        &[
            "submit",
            project.to_str().unwrap(),
            "--key",
            key_path.to_str().unwrap(),
            "--output",
            "json",
        ],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    let receipt: serde_json::Value = serde_json::from_str(stdout(&output).trim()).unwrap();
    let event_id = receipt["event_id"].as_str().unwrap().to_owned();

    // A second registration of the same project id is refused with the node's reason.
    let output = cli(
        &node,
        &[
            "submit",
            project.to_str().unwrap(),
            "--key",
            key_path.to_str().unwrap(),
        ],
    );
    assert!(!output.status.success());
    assert_eq!(
        stderr(&output).trim(),
        r#"error: AlreadyExists [already_registered]: project "undp-ly-water-1" is already registered"#
    );

    let output = cli(&node, &["get", &event_id, "--output", "json"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let entry: serde_json::Value = serde_json::from_str(&stdout(&output)).unwrap();
    assert_eq!(entry["author"], "undp-libya");
    assert_eq!(
        entry["body"]["projectRegistered"]["details"]["sectors"][0]["code"],
        "14030"
    );

    let output = cli(&node, &["tail", "--once"]);
    let text = stdout(&output);
    assert_eq!(text.lines().count(), 5, "header and four entries:\n{text}");
    assert!(
        text.lines().nth(4).unwrap().contains("project_registered"),
        "{text}"
    );

    let head_output = cli(&node, &["head", "--output", "json"]);
    let head: serde_json::Value = serde_json::from_str(&stdout(&head_output)).unwrap();
    let verify_output = cli(&node, &["verify", "--output", "json"]);
    assert!(verify_output.status.success(), "{}", stderr(&verify_output));
    let verify: serde_json::Value = serde_json::from_str(&stdout(&verify_output)).unwrap();
    assert_eq!(verify["events_verified"], 4);
    assert_eq!(verify["head"], head["head"]);

    // A node that is not there: a message that says what to do.
    let output = std::process::Command::new(tansiq_tests::binary("tansiq"))
        .args(["--node", "http://127.0.0.1:1", "head"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(
        stderr(&output).contains("is tansiq-node running?"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn sigterm_stops_the_node_cleanly_and_it_restarts_with_its_data() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("node");
    let node = Node::start(&data_dir);
    let genesis = std::fs::read_to_string(data_dir.join("genesis.json")).unwrap();
    let before = stdout(&cli(&node, &["head", "--output", "json"]));
    assert!(
        node.terminate(),
        "tansiq-node exited with failure after SIGTERM"
    );
    let node = Node::start(&data_dir);
    assert_eq!(
        std::fs::read_to_string(data_dir.join("genesis.json")).unwrap(),
        genesis,
        "restart made a new genesis"
    );
    assert_eq!(stdout(&cli(&node, &["head", "--output", "json"])), before);
}

/// `tansiq ARGS... --output json`, without a node; its JSON answer.
fn offline(args: &[&str]) -> serde_json::Value {
    let output = std::process::Command::new(tansiq_tests::binary("tansiq"))
        .args(args)
        .args(["--output", "json"])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    serde_json::from_str(&stdout(&output)).unwrap()
}

#[test]
fn a_new_chain_gets_an_id_no_other_ledger_has_and_a_node_refuses_one_that_does_not() {
    let dir = tempfile::tempdir().unwrap();
    let path = |name: &str| dir.path().join(name).display().to_string();
    let key = offline(&[
        "keygen",
        "--org",
        "ministry",
        "--out",
        &path("ministry.key"),
    ]);
    let public = key["public_key_hex"].as_str().unwrap();
    let genesis = |out: &str| {
        offline(&[
            "genesis",
            "--name",
            "ly-mlg",
            "--ministry-key",
            public,
            "--name-latin",
            "Ministry of Local Government",
            "--out",
            &path(out),
        ])
    };
    let first = genesis("genesis.json");
    let chain = first["chain_id"].as_str().unwrap().to_owned();
    assert!(
        chain.starts_with("ly-mlg-") && chain.len() == "ly-mlg-".len() + 24,
        "{first}"
    );
    // The same ministry key and name a moment later: another genesis, another id.
    std::thread::sleep(std::time::Duration::from_millis(5));
    let second = genesis("genesis-2.json");
    assert_ne!(second["chain_id"], first["chain_id"], "{first} {second}");
    // A genesis file is never overwritten.
    let again = std::process::Command::new(tansiq_tests::binary("tansiq"))
        .args(["genesis", "--name", "ly-mlg", "--ministry-key", public])
        .args(["--name-latin", "M", "--out", &path("genesis.json")])
        .output()
        .unwrap();
    assert!(!again.status.success());
    assert!(
        stderr(&again).contains("never overwritten"),
        "{}",
        stderr(&again)
    );

    // A node creates its ledger from it and serves that chain id.
    let node = tansiq_tests::Node::start_args(
        &dir.path().join("node"),
        &[
            "--genesis",
            &path("genesis.json"),
            "--listen",
            "127.0.0.1:0",
        ],
    );
    let output = cli(&node, &["--output", "json", "head"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let head: serde_json::Value = serde_json::from_str(&stdout(&output)).unwrap();
    assert_eq!(head["chain_id"], chain.as_str());
    drop(node);

    // A hand-made genesis whose id is not derived (every ledger made that
    // way could share it) creates no ledger, and says how to make one.
    let mut file: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path("genesis-2.json")).unwrap()).unwrap();
    file["chain_id"] = "ly-mlg".into();
    std::fs::write(path("hand-made.json"), file.to_string()).unwrap();
    let refused = std::process::Command::new(tansiq_tests::binary("tansiq-node"))
        .arg("--data-dir")
        .arg(path("other-node"))
        .args([
            "--genesis",
            &path("hand-made.json"),
            "--listen",
            "127.0.0.1:0",
        ])
        .arg("--plaintext")
        .output()
        .unwrap();
    assert!(!refused.status.success());
    let message = String::from_utf8_lossy(&refused.stderr);
    assert!(
        message.contains("\"ly-mlg\" is not")
            && message.contains(second["chain_id"].as_str().unwrap())
            && message.contains("tansiq genesis"),
        "{message}"
    );
}

#[test]
fn a_cluster_member_does_not_load_the_demo_outside_its_raft_log() {
    let dir = tempfile::tempdir().unwrap();
    let output = std::process::Command::new(tansiq_tests::binary("tansiq-node"))
        .arg("--data-dir")
        .arg(dir.path().join("node-1"))
        .args([
            "--dev",
            "--demo",
            "--node-id",
            "1",
            "--listen",
            "127.0.0.1:0",
        ])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let message = String::from_utf8_lossy(&output.stderr);
    assert!(
        message.contains("outside the Raft log")
            && message.contains("--dev --demo without --node-id"),
        "{message}"
    );
    assert!(
        !dir.path().join("node-1").join("db").exists(),
        "nothing was created"
    );
}
