//! Operating a node: backups taken while it serves, restored into a new
//! data directory and checked; damaged and foreign backups refused by name;
//! the old store format upgraded (with or without a copy first); the
//! configuration checked; probes and metrics. Real `tansiq-node` and
//! `tansiq` processes.

// Test code: a panic with its location is the failure report.
#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::process::Command;

use serde_json::Value;
use tansiq_ledger::author::now_ms;
use tansiq_proto::v1 as pb;
use tansiq_tests::{binary, cli, events, probes, stderr, stdout, Node};

/// `tansiq-node ARGS` (a maintenance task); its output.
fn node_task(args: &[&str]) -> std::process::Output {
    Command::new(binary("tansiq-node"))
        .args(args)
        .output()
        .unwrap()
}

fn manifest(backup: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(backup.join("tansiq-backup.json")).unwrap()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_taken_under_write_load_restores_to_its_manifest_head() {
    let root = tempfile::tempdir().unwrap();
    let data = root.path().join("node");
    let node = Node::start(&data);
    let mut client = node.client().await;
    let mut ministry = tansiq_tests::author(&mut client, &node.ministry_key()).await;
    let region = ministry
        .sign(events::municipality("LY77", "", 1), now_ms())
        .0;
    client
        .submit(pb::SubmitRequest {
            event: Some(region),
        })
        .await
        .unwrap();

    // A writer submits one event at a time and keeps every receipt.
    let mut writer = node.client().await;
    let writing = tokio::spawn(async move {
        let mut receipts = Vec::new();
        for n in 0..300 {
            let pcode = format!("LY77{n:04}");
            let event = ministry
                .sign(events::municipality(&pcode, "LY77", 2), now_ms())
                .0;
            let receipt = writer
                .submit(pb::SubmitRequest { event: Some(event) })
                .await
                .unwrap()
                .into_inner();
            receipts.push((receipt.event_id, receipt.position));
        }
        receipts
    });
    // Meanwhile the ministry asks for a backup.
    while node_position(&node).await < 60 {
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let backup = root.path().join("backup");
    let key = node.ministry_key().display().to_string();
    let asked = cli(
        &node,
        &["backup", "--out", backup.to_str().unwrap(), "--key", &key],
    );
    assert!(asked.status.success(), "{}", stderr(&asked));
    let receipts = writing.await.unwrap();
    let written = manifest(&backup);
    let position = written["position"].as_u64().unwrap();
    assert!(
        position > 1 && position < receipts.last().unwrap().1,
        "taken while the writer wrote: position {position}, last receipt {:?}",
        receipts.last()
    );
    assert!(stdout(&asked).contains(&format!("at log position {position}")));

    // Restored into a new data directory, it holds exactly the manifest's log.
    let restored = root.path().join("restored");
    let genesis = data.join("genesis.json").display().to_string();
    let done = node_task(&[
        "restore",
        "--from",
        backup.to_str().unwrap(),
        "--data-dir",
        restored.to_str().unwrap(),
        "--genesis",
        &genesis,
    ]);
    assert!(
        done.status.success(),
        "{}",
        String::from_utf8_lossy(&done.stderr)
    );
    let genesis_copy = restored.join("genesis.json").display().to_string();
    let again = Node::start_args(
        &restored,
        &["--listen", "127.0.0.1:0", "--genesis", &genesis_copy],
    );
    let mut restored_client = again.client().await;
    let head = restored_client
        .get_head(pb::GetHeadRequest {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!(head.position, position);
    assert_eq!(hex::encode(&head.head), written["head"].as_str().unwrap());
    for (event_id, at) in &receipts {
        let found = restored_client
            .get_event(pb::GetEventRequest {
                event_id: event_id.clone(),
            })
            .await;
        match found {
            Ok(entry) => {
                assert!(
                    *at <= position,
                    "event at {at} is past the backup's {position}"
                );
                assert_eq!(entry.into_inner().position, *at);
            }
            Err(status) => {
                assert_eq!(status.code(), tonic::Code::NotFound);
                assert!(
                    *at > position,
                    "acknowledged event at {at} missing from the backup at {position}"
                );
            }
        }
    }

    // Only the ministry asks for a backup.
    let other = root.path().join("not-the-ministry.key");
    let keygen = cli(
        &node,
        &[
            "keygen",
            "--org",
            "someone",
            "--out",
            other.to_str().unwrap(),
        ],
    );
    assert!(keygen.status.success(), "{}", stderr(&keygen));
    let refused = cli(
        &node,
        &[
            "backup",
            "--out",
            root.path().join("b2").to_str().unwrap(),
            "--key",
            other.to_str().unwrap(),
        ],
    );
    assert!(!refused.status.success());
    assert!(
        stderr(&refused).contains("is not registered"),
        "{}",
        stderr(&refused)
    );
    assert!(!root.path().join("b2").exists());
}

async fn node_position(node: &Node) -> u64 {
    node.client()
        .await
        .get_head(pb::GetHeadRequest {})
        .await
        .unwrap()
        .into_inner()
        .position
}

#[test]
fn a_damaged_or_foreign_backup_is_refused_by_name_and_nothing_is_restored() {
    let root = tempfile::tempdir().unwrap();
    // Two dev chains, stopped, each backed up offline.
    let mut backups = Vec::new();
    for name in ["one", "two"] {
        let data = root.path().join(name);
        let node = Node::start_with(&data, &["--demo"]);
        drop(node);
        let out = root.path().join(format!("backup-{name}"));
        let done = node_task(&[
            "backup",
            "--data-dir",
            data.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ]);
        assert!(
            done.status.success(),
            "{}",
            String::from_utf8_lossy(&done.stderr)
        );
        backups.push((data, out));
    }
    let genesis_one = backups[0].0.join("genesis.json").display().to_string();

    // Another chain's backup.
    let target = root.path().join("restored");
    let foreign = node_task(&[
        "restore",
        "--from",
        backups[1].1.to_str().unwrap(),
        "--data-dir",
        target.to_str().unwrap(),
        "--genesis",
        &genesis_one,
    ]);
    let message = String::from_utf8_lossy(&foreign.stderr).into_owned();
    assert!(!foreign.status.success());
    let chain_two = manifest(&backups[1].1)["chain_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let chain_one = manifest(&backups[0].1)["chain_id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        message.contains(&format!("the backup is of chain {chain_two}"))
            && message.contains(&chain_one),
        "{message}"
    );
    assert!(!target.join("db").exists());

    // One flipped byte in one file of the first backup.
    let written = manifest(&backups[0].1);
    let largest = written["files"]
        .as_array()
        .unwrap()
        .iter()
        .max_by_key(|file| file["bytes"].as_u64().unwrap())
        .unwrap()["name"]
        .as_str()
        .unwrap()
        .to_owned();
    let path = backups[0].1.join("db").join(&largest);
    let mut bytes = std::fs::read(&path).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x01;
    std::fs::write(&path, &bytes).unwrap();
    let damaged = node_task(&[
        "restore",
        "--from",
        backups[0].1.to_str().unwrap(),
        "--data-dir",
        target.to_str().unwrap(),
        "--genesis",
        &genesis_one,
    ]);
    let message = String::from_utf8_lossy(&damaged.stderr).into_owned();
    assert!(!damaged.status.success());
    assert!(
        message.contains("the backup is damaged") && message.contains(&largest),
        "{message}"
    );
    assert!(!target.join("db").exists());
}

/// The example configuration file's settings are all accepted, and
/// `--check-config` says what is wrong (here: a genesis file that is not
/// there) with exit status 2.
#[test]
fn check_config_accepts_the_example_file_and_names_what_is_wrong() {
    let root = tempfile::tempdir().unwrap();
    let data = root.path().join("node");
    drop(Node::start(&data));
    let genesis = data.join("genesis.json").display().to_string();
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/node.toml");
    let base = [
        "--config",
        example,
        "--listen",
        "127.0.0.1:0",
        "--plaintext",
        "--check-config",
    ];
    let mut valid = base.to_vec();
    valid.extend(["--genesis", genesis.as_str()]);
    let checked = node_task(&valid);
    assert!(
        checked.status.success(),
        "{}",
        String::from_utf8_lossy(&checked.stderr)
    );
    assert!(String::from_utf8_lossy(&checked.stdout)
        .contains("configuration valid: data dir /var/lib/tansiq"));
    let missing = root
        .path()
        .join("no-such-genesis.json")
        .display()
        .to_string();
    let mut invalid = base.to_vec();
    invalid.extend(["--genesis", missing.as_str()]);
    let refused = node_task(&invalid);
    assert_eq!(refused.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("no-such-genesis.json"));
    // Served with the file's TLS settings, the files must be readable.
    let with_tls = node_task(&[
        "--config",
        example,
        "--listen",
        "127.0.0.1:0",
        "--genesis",
        genesis.as_str(),
        "--check-config",
    ]);
    assert_eq!(with_tls.status.code(), Some(2));
    let said = String::from_utf8_lossy(&with_tls.stderr);
    assert!(
        said.contains("--tls-cert /etc/tansiq/node.pem: cannot read it"),
        "{said}"
    );
}

/// The systemd unit passes `systemd-analyze verify` (where systemd is
/// installed), with its binary paths pointing at the built node.
#[test]
fn the_systemd_unit_verifies() {
    let Ok(found) = Command::new("systemd-analyze").arg("--version").output() else {
        eprintln!("SKIPPED: systemd-analyze is not installed");
        return;
    };
    assert!(found.status.success());
    let unit = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../examples/systemd/tansiq-node.service"
    ))
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tansiq-node.service");
    std::fs::write(
        &path,
        unit.replace(
            "/usr/local/bin/tansiq-node",
            binary("tansiq-node").to_str().unwrap(),
        ),
    )
    .unwrap();
    let verified = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&path)
        .output()
        .unwrap();
    assert!(
        verified.status.success() && verified.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&verified.stderr)
    );
}

/// A copy of tests/fixtures/format-1 (a data directory of an earlier
/// store format) in `root/name`.
fn format_1_copy(root: &Path, name: &str) -> std::path::PathBuf {
    fixture_copy("format-1", root, name)
}

/// A copy of the data directory tests/fixtures/`fixture` in `root/name`.
fn fixture_copy(fixture: &str, root: &Path, name: &str) -> std::path::PathBuf {
    let data = root.join(name);
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(fixture);
    std::fs::create_dir_all(data.join("db")).unwrap();
    for entry in std::fs::read_dir(fixture.join("db")).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), data.join("db").join(entry.file_name())).unwrap();
    }
    std::fs::copy(fixture.join("genesis.json"), data.join("genesis.json")).unwrap();
    data
}

/// `--no-upgrade-backup`: the operator took a backup, so the upgrade keeps
/// no copy; the store still opens, upgraded, and answers.
#[test]
fn told_not_to_the_upgrade_keeps_no_copy() {
    let root = tempfile::tempdir().unwrap();
    let data = format_1_copy(root.path(), "node");
    let genesis = data.join("genesis.json").display().to_string();
    let node = Node::start_args(
        &data,
        &[
            "--listen",
            "127.0.0.1:0",
            "--genesis",
            &genesis,
            "--no-upgrade-backup",
        ],
    );
    let head: Value =
        serde_json::from_str(&stdout(&cli(&node, &["--output", "json", "head"]))).unwrap();
    assert_eq!(head["position"], 46, "{head}");
    drop(node);
    assert!(
        !data.join("backups").exists(),
        "no copy kept: {:?}",
        std::fs::read_dir(data.join("backups")).map(|dir| dir.count())
    );
    // Upgraded: a second start (with a copy allowed) has nothing to upgrade.
    let again = Node::start_args(&data, &["--listen", "127.0.0.1:0", "--genesis", &genesis]);
    drop(again);
    assert!(!data.join("backups").exists());
}

/// A data directory written by the previous release of the store's format
/// (tests/fixtures/format-1: the demo at ae9814d) opens, answers as it did
/// then, and is upgraded in place once, with a copy of it kept first.
#[test]
fn a_store_of_the_previous_format_opens_answers_the_same_and_is_upgraded_with_a_copy_first() {
    let root = tempfile::tempdir().unwrap();
    let data = format_1_copy(root.path(), "node");
    let genesis = data.join("genesis.json").display().to_string();
    let args = ["--listen", "127.0.0.1:0", "--genesis", genesis.as_str()];
    for start in 0..2 {
        let node = Node::start_args(&data, &args);
        let head: Value =
            serde_json::from_str(&stdout(&cli(&node, &["--output", "json", "head"]))).unwrap();
        assert_eq!(head["position"], 46, "{head}");
        assert_eq!(
            head["head"],
            "b1b4f13986ed7bb91a32d66728dafadf21fb103167c9f5a1e10d1122907966fa"
        );
        let supports: Vec<String> =
            stdout(&cli(&node, &["--output", "json", "who-supports", "LY0305"]))
                .lines()
                .map(|line| {
                    serde_json::from_str::<Value>(line).unwrap()["projectId"]
                        .as_str()
                        .unwrap()
                        .to_owned()
                })
                .collect();
        assert_eq!(
            supports,
            [
                "undp-ghadames-local-governance",
                "usaid-ghadames-governance",
                "usaid-ghadames-preparedness"
            ],
            "start {start}"
        );
        let verified = cli(&node, &["verify"]);
        assert!(verified.status.success(), "{}", stderr(&verified));
        drop(node);
        // One copy, taken before the first start upgraded the store.
        let kept = kept_copies(&data);
        assert_eq!(kept.len(), 1, "{kept:?}");
        assert!(
            kept[0].starts_with(&format!(
                "before-format-{}-",
                tansiq_ledger::store::FORMAT_VERSION
            )),
            "{kept:?}"
        );
    }
}

/// The copies an upgrade kept in `data/backups`, by folder name.
fn kept_copies(data: &Path) -> Vec<String> {
    std::fs::read_dir(data.join("backups"))
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect()
}

/// `tansiq-node dump FAMILY`: the pairs of one column family as JSON lines,
/// and how many (on stderr).
fn dump(data: &Path, family: &str) -> Vec<Value> {
    let dumped = node_task(&["dump", family, "--data-dir", &data.display().to_string()]);
    assert!(dumped.status.success(), "{}", stderr(&dumped));
    assert!(stderr(&dumped).contains(&format!(" pairs of {family} in ")));
    stdout(&dumped)
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}

/// The format version a data directory's store records (`tansiq-node dump
/// meta`).
fn format_version(data: &Path) -> u32 {
    let key = hex::encode("format_version");
    let pair = dump(data, "meta")
        .into_iter()
        .find(|pair| pair["key"] == key.as_str())
        .expect("a format version is recorded");
    u32::from_str_radix(pair["value"].as_str().unwrap(), 16).unwrap()
}

/// `tansiq-node backup` with this version's binary does not upgrade a store
/// of the previous format (nor keep a copy of it): the backup and the data
/// directory can both go back to the version that wrote them.
#[test]
fn a_backup_leaves_a_store_of_the_previous_format_as_it_is() {
    let root = tempfile::tempdir().unwrap();
    let data = fixture_copy("format-2", root.path(), "node");
    assert_eq!(format_version(&data), 2);
    let out = root.path().join("backup");
    let backed_up = node_task(&[
        "backup",
        "--data-dir",
        data.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(backed_up.status.success(), "{}", stderr(&backed_up));
    assert_eq!(format_version(&data), 2);
    assert!(!data.join("backups").exists());
    assert_eq!(manifest(&out)["position"], 58, "{}", manifest(&out));
}

/// A matrix answer as the previous version's CLI printed it: without the
/// field added since (a cell's `open_overlaps`, printed last in its object
/// when not zero). Everything else is compared byte for byte.
fn without_fields_added_since_format_2(answer: &str) -> String {
    const ADDED: &str = ",\"openOverlaps\":\"";
    let mut kept = String::with_capacity(answer.len());
    let mut rest = answer;
    while let Some(at) = rest.find(ADDED) {
        kept.push_str(&rest[..at]);
        let value = &rest[at + ADDED.len()..];
        let end = value.find('"').expect("a quoted count");
        assert!(
            value[..end].bytes().all(|b| b.is_ascii_digit()) && value[end + 1..].starts_with('}'),
            "openOverlaps is a count, last in its cell: {answer}"
        );
        rest = &value[end + 1..];
    }
    kept.push_str(rest);
    kept
}

/// The store of the previous format (tests/fixtures/format-2: the demo at
/// 4aa45a8, every record in JSON) opens in this version, which writes keys,
/// projects and their versions in protobuf, and answers every question of
/// tests/fixtures/format-2/answers.json with the very bytes the previous
/// version's CLI printed: reading both forms (dual read), not rewriting.
#[test]
fn a_store_of_format_2_answers_byte_for_byte_as_the_previous_version_did() {
    let root = tempfile::tempdir().unwrap();
    let data = fixture_copy("format-2", root.path(), "node");
    let answers: serde_json::Map<String, Value> = serde_json::from_slice(
        &std::fs::read(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/format-2/answers.json"),
        )
        .unwrap(),
    )
    .unwrap();
    assert!(answers.len() > 40, "{} questions", answers.len());
    // Before: every record of the hot families is in JSON; the dump reads them.
    let projects = dump(&data, "projects");
    assert_eq!(projects.len(), 15);
    assert!(
        projects.iter().all(|pair| pair["form"] == "json"),
        "{projects:?}"
    );
    let genesis = data.join("genesis.json").display().to_string();
    let args = ["--listen", "127.0.0.1:0", "--genesis", genesis.as_str()];
    for start in 0..2 {
        let node = Node::start_args(&data, &args);
        for (question, expected) in &answers {
            let mut asked = vec!["--output", "json"];
            asked.extend(question.split(' '));
            let answered = cli(&node, &asked);
            assert!(
                answered.status.success(),
                "{question}: {}",
                stderr(&answered)
            );
            let mut printed = stdout(&answered);
            if question.starts_with("matrix") {
                printed = without_fields_added_since_format_2(&printed);
            }
            assert_eq!(
                printed,
                expected.as_str().unwrap(),
                "start {start}: {question}"
            );
        }
        let verified = cli(&node, &["verify"]);
        assert!(verified.status.success(), "{}", stderr(&verified));
        drop(node);
    }
    let kept = kept_copies(&data);
    assert_eq!(kept.len(), 1, "{kept:?}");
    let current = tansiq_ledger::store::FORMAT_VERSION;
    assert!(
        kept[0].starts_with(&format!("before-format-{current}-")),
        "{kept:?}"
    );
    assert_eq!(format_version(&data), current);
    // Not rewritten: the records are as the previous version wrote them,
    // and read as the same records.
    assert_eq!(dump(&data, "projects"), projects);

    // One more event: the project it changes is written in protobuf, the
    // others stay in JSON, and both read.
    let node = Node::start_args(&data, &args);
    let event = root.path().join("status.json");
    std::fs::write(
        &event,
        r#"{"projectStatusChanged":{"projectId":"usaid-ghadames-preparedness","status":3,"effectiveDate":"2026-11-30"}}"#,
    )
    .unwrap();
    let key = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/format-2-usaid.key");
    let changed = cli(
        &node,
        &[
            "submit",
            event.to_str().unwrap(),
            "--key",
            key.to_str().unwrap(),
        ],
    );
    assert!(changed.status.success(), "{}", stderr(&changed));
    let supports = |node: &Node| {
        let answered = cli(node, &["--output", "json", "who-supports", "LY0305"]);
        assert!(answered.status.success(), "{}", stderr(&answered));
        stdout(&answered)
            .lines()
            .map(|line| serde_json::from_str::<Value>(line).unwrap())
            .map(|project| {
                (
                    project["projectId"].as_str().unwrap().to_owned(),
                    project["status"].clone(),
                )
            })
            .collect::<Vec<_>>()
    };
    let now = supports(&node);
    assert!(
        now.contains(&("usaid-ghadames-preparedness".to_owned(), 3.into())),
        "{now:?}"
    );
    drop(node);
    let after = dump(&data, "projects");
    let forms: Vec<(&str, &str)> = after
        .iter()
        .map(|pair| {
            (
                pair["key"][0].as_str().unwrap(),
                pair["form"].as_str().unwrap(),
            )
        })
        .collect();
    for (project, form) in &forms {
        let expected = if *project == "usaid-ghadames-preparedness" {
            "protobuf"
        } else {
            "json"
        };
        assert_eq!(*form, expected, "{forms:?}");
    }
    let node = Node::start_args(&data, &args);
    assert_eq!(supports(&node), now, "after a restart");
    let verified = cli(&node, &["verify"]);
    assert!(verified.status.success(), "{}", stderr(&verified));
}

/// A store this version wrote keeps its hot records in protobuf, and the
/// dump shows them as fields; an unknown family is refused with the list.
#[test]
fn the_dump_shows_protobuf_records_as_fields_and_refuses_an_unknown_family() {
    let dir = tempfile::tempdir().unwrap();
    let node = Node::start_with(dir.path(), &[]);
    let event = dir.path().join("municipality.json");
    std::fs::write(
        &event,
        r#"{"municipalityRegistered":{"pcode":"LY03","adminLevel":1,"country":"LY","name":{"latin":"Nalut","arabic":"نالوت"}}}"#,
    )
    .unwrap();
    let register = cli(
        &node,
        &[
            "submit",
            event.to_str().unwrap(),
            "--key",
            node.ministry_key().to_str().unwrap(),
        ],
    );
    assert!(register.status.success(), "{}", stderr(&register));
    // While the node runs.
    let live = dump(dir.path(), "municipalities");
    assert_eq!(live.len(), 1, "{live:?}");
    drop(node);
    let keys = dump(dir.path(), "keys");
    assert!(!keys.is_empty());
    assert!(
        keys.iter().all(|pair| pair["form"] == "protobuf"),
        "{keys:?}"
    );
    assert!(
        keys.iter().any(|pair| pair["record"]["sequence"] == 1),
        "{keys:?}"
    );
    let municipalities = dump(dir.path(), "municipalities");
    assert_eq!(municipalities.len(), 1);
    assert_eq!(municipalities[0]["key"], serde_json::json!(["LY03"]));
    assert_eq!(municipalities[0]["record"]["name_arabic"], "نالوت");
    assert_eq!(municipalities[0]["form"], "json");
    let unknown = node_task(&[
        "dump",
        "nothing",
        "--data-dir",
        &dir.path().display().to_string(),
    ]);
    assert!(!unknown.status.success());
    assert!(
        stderr(&unknown).contains("there are: meta, log,"),
        "{}",
        stderr(&unknown)
    );
}

/// A load balancer's or systemd's probes on the node's HTTP listener:
/// `/healthz` while the process answers; `/readyz` 200 once the node should
/// take clients, 503 with the reason while it should not (here: a cluster
/// member not yet formed knows no leader), both outside the access rule.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthz_and_readyz_say_whether_to_send_clients() {
    let dir = tempfile::tempdir().unwrap();
    let node = Node::start_with(dir.path(), &["--http", "127.0.0.1:0"]);
    let console = node.console_url.clone().expect("--http was given");
    let console = console.trim_end_matches('/');
    let alive = probes::http_get(&format!("{console}/healthz")).await;
    assert_eq!((alive.0, alive.1.as_str()), (200, "alive\n"));
    let (status, body) = probes::readyz(console).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.starts_with("ready: storage writable"), "{body}");

    let root = tempfile::tempdir().unwrap();
    let mut members = tansiq_tests::cluster::members(root.path(), 1);
    members[0].flags = vec!["--http".into(), "127.0.0.1:0".into()];
    let genesis = tansiq_tests::cluster::genesis_of(&members);
    members[0].start(&genesis);
    let console = members[0].node().console_url.clone().unwrap();
    let (status, body) = probes::readyz(&console).await;
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("knows no leader"), "{body}");
    let alive = probes::http_get(&format!("{}/healthz", console.trim_end_matches('/'))).await;
    assert_eq!(alive.0, 200);
}

/// `/metrics` parses as Prometheus text exposition, and its counters move
/// under load: events committed, requests refused by reason, commit
/// latency, RocksDB's memory; connections refused by the per-address limit, and the
/// connections open.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_parse_as_prometheus_exposition_and_move_under_load() {
    let dir = tempfile::tempdir().unwrap();
    // 16 connections in all, so at most 8 from one address.
    let node = Node::start_with(
        dir.path(),
        &["--http", "127.0.0.1:0", "--max-connections", "16"],
    );
    let console = node.console_url.clone().unwrap();
    let before = probes::scrape(&console).await;
    let committed = probes::sample(&before, "tansiq_events_committed_total", None).unwrap();
    // Load: 20 municipalities, and one request refused (a sequence gap).
    let mut client = node.client().await;
    let mut ministry = tansiq_tests::author(&mut client, &node.ministry_key()).await;
    for n in 0..20 {
        let event = ministry
            .sign(
                events::municipality(&format!("LY{:02}", 10 + n), "", 1),
                now_ms(),
            )
            .0;
        client
            .submit(pb::SubmitRequest { event: Some(event) })
            .await
            .unwrap();
    }
    let mut ahead = tansiq_tests::author(&mut client, &node.ministry_key()).await;
    ahead.sign(events::municipality("LY99", "", 1), 0);
    let gap = ahead.sign(events::municipality("LY98", "", 1), 0).0;
    assert!(client
        .submit(pb::SubmitRequest { event: Some(gap) })
        .await
        .is_err());
    let after = probes::scrape(&console).await;
    assert_eq!(
        probes::sample(&after, "tansiq_events_committed_total", None).unwrap(),
        committed + 20.0
    );
    assert_eq!(
        probes::sample(
            &after,
            "tansiq_requests_refused_total",
            Some(("reason", "sequence_gap"))
        ),
        Some(1.0)
    );
    assert!(probes::sample(&after, "tansiq_log_position", None).unwrap() >= 20.0);
    assert!(probes::sample(&after, "tansiq_commit_latency_seconds_count", None).unwrap() >= 21.0);
    assert!(probes::sample(&after, "tansiq_open_files", None).unwrap() > 0.0);
    // RocksDB's memory: the events just written are in memtables, whose
    // size is charged to the block cache (read from a family that uses it:
    // RocksDB's default family has no cache and would say 0).
    let memtables = probes::sample(&after, "tansiq_store_memtable_bytes", None).unwrap();
    assert!(memtables > 0.0);
    assert!(probes::sample(&after, "tansiq_store_block_cache_bytes", None).unwrap() >= memtables);
    // Only that it is exported: a new store may have no table file open yet.
    assert!(probes::sample(&after, "tansiq_store_table_readers_bytes", None).is_some());
    assert_eq!(
        probes::sample(
            &after,
            "tansiq_limit_refusals_total",
            Some(("limit", "connections_per_address"))
        ),
        None,
        "nothing refused yet"
    );

    // Ten more connections from this address: the ones past 8 are closed.
    let address = node.url.trim_start_matches("http://").to_owned();
    let mut held = Vec::new();
    for _ in 0..10 {
        held.push(tokio::net::TcpStream::connect(&address).await.unwrap());
    }
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let full = loop {
        let now = probes::scrape(&console).await;
        let refused = probes::sample(
            &now,
            "tansiq_limit_refusals_total",
            Some(("limit", "connections_per_address")),
        );
        if refused.is_some_and(|refused| refused >= 1.0) {
            break now;
        }
        assert!(std::time::Instant::now() < deadline, "no refusal counted");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    assert_eq!(
        probes::sample(&full, "tansiq_connections_open", None),
        Some(8.0),
        "every slot of the address is held"
    );
    drop(held);
    drop(client);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let now = probes::scrape(&console).await;
        if probes::sample(&now, "tansiq_connections_open", None).is_some_and(|open| open < 8.0) {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the slots were not given back"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// A nightly backup job holds an administrator's certificate, not a
/// ministry signing key: over mutual TLS that certificate asks for a
/// backup, into the node's backup folder only. An unsigned request without
/// it, or with a node's certificate, or into another folder, is refused and
/// writes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_administrators_certificate_asks_for_a_backup_without_a_ministry_key() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("node");
    let tls = dir.join("tls");
    let backups = root.path().join("backups");
    let node = Node::start_tls(
        &dir,
        &[
            "--dev",
            "--listen",
            "127.0.0.1:0",
            "--backup-dir",
            backups.to_str().unwrap(),
        ],
        &tls.join("ca.pem"),
    );

    let unsigned = root.path().join("unsigned");
    let refused = node
        .client()
        .await
        .backup(pb::BackupRequest {
            out_dir: unsigned.display().to_string(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(refused.code(), tonic::Code::Unauthenticated, "{refused:?}");
    assert!(
        refused.message().contains("administrator's certificate"),
        "{refused:?}"
    );
    let (node_cert, node_key) = (tls.join("node.pem"), tls.join("node.key"));
    let as_node = cli(
        &node,
        &[
            "--tls-cert",
            node_cert.to_str().unwrap(),
            "--tls-key",
            node_key.to_str().unwrap(),
            "backup",
            "--out",
            unsigned.to_str().unwrap(),
        ],
    );
    assert!(!as_node.status.success());
    assert!(
        stderr(&as_node).contains("Unauthenticated"),
        "{}",
        stderr(&as_node)
    );
    assert!(!unsigned.exists());

    let elsewhere = root.path().join("elsewhere");
    let refused =
        tansiq_tests::cli_as_admin(&node, &["backup", "--out", elsewhere.to_str().unwrap()]);
    assert!(!refused.status.success());
    assert!(
        stderr(&refused).contains("not a folder inside this node's backup folder"),
        "{}",
        stderr(&refused)
    );
    assert!(!elsewhere.exists());
    let backup = backups.join("nightly");
    let asked = tansiq_tests::cli_as_admin(&node, &["backup", "--out", backup.to_str().unwrap()]);
    assert!(asked.status.success(), "{}", stderr(&asked));
    let written = manifest(&backup);
    assert_eq!(
        written["position"].as_u64(),
        Some(node_position(&node).await),
        "{written}"
    );
    let checked = node_task(&[
        "restore",
        "--from",
        backup.to_str().unwrap(),
        "--data-dir",
        root.path().join("restored").to_str().unwrap(),
    ]);
    assert!(
        checked.status.success(),
        "{}",
        String::from_utf8_lossy(&checked.stderr)
    );
}
