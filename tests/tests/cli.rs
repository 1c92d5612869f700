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
