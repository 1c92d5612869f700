//! Coverage queries against a real `tansiq-node --dev --demo`, through the
//! CLI: who supports, gaps, overlaps (with reviews), matrix, check (writes
//! nothing), history, HXL export, the warn and hold policies, and refusals.

// Test code: a panic with its location is the failure report.
#![allow(clippy::unwrap_used)]

use serde_json::Value;
use std::process::Stdio;
use tansiq_tests::{cli, cli_command, stderr, stdout, Node};

fn json_lines(output: &std::process::Output) -> Vec<Value> {
    assert!(output.status.success(), "{}", stderr(output));
    stdout(output)
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}

fn ids(rows: &[Value]) -> Vec<String> {
    rows.iter()
        .map(|row| row["projectId"].as_str().unwrap().to_owned())
        .collect()
}

fn write(dir: &std::path::Path, name: &str, json: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, json).unwrap();
    path.display().to_string()
}

/// `tansiq submit FILE --key KEY` as JSON: the (first) receipt.
fn submitted(node: &Node, file: &str, key: &str) -> Value {
    let receipt: Value = serde_json::from_str(&stdout(&cli(
        node,
        &["--output", "json", "submit", file, "--key", key],
    )))
    .unwrap();
    if receipt.is_array() {
        receipt[0].clone()
    } else {
        receipt
    }
}

/// A project of the demo's EU (or, for ids beginning with "wwf", of WWF):
/// an activity identifier begins with its reporting organisation's IATI
/// identifier, as IATI requires (the EU's is XI-IATI-EC_NEAR; WWF has none
/// registered in the demo).
fn project_json(id: &str, pcode: &str, sector: &str, currency: &str) -> String {
    let prefix = if id.starts_with("wwf") {
        "XM-TEST"
    } else {
        "XI-IATI-EC_NEAR"
    };
    format!(
        r#"{{"projectRegistered": {{"projectId": "{id}", "details": {{"iatiIdentifier": "{prefix}-{id}",
        "title": {{"latin": "Road works {id}"}}, "locations": [{{"pcode": "{pcode}"}}],
        "sectors": [{{"code": "{sector}"}}], "status": 1, "plannedStart": "2026-02-01",
        "plannedEnd": "2026-12-31", "budget": {{"value": "50000", "currency": "{currency}"}}}}}}}}"#
    )
}

#[test]
fn the_demo_answers_who_supports_gaps_overlaps_and_refuses_bad_projects() {
    let dir = tempfile::tempdir().unwrap();
    let node = Node::start_with(dir.path(), &["--demo"]);
    let keys = dir.path().join("demo-keys");

    // Who supports Ghadames: USAID's governance project, and UNDP's held for review.
    let ghadames = json_lines(&cli(&node, &["--output", "json", "who-supports", "LY0305"]));
    let found = ids(&ghadames);
    assert!(
        found.contains(&"usaid-ghadames-governance".to_owned()),
        "{found:?}"
    );
    assert!(
        !found.contains(&"usaid-ghadames-water-2024".to_owned()),
        "closed: {found:?}"
    );
    let held = ghadames
        .iter()
        .find(|row| row["projectId"] == "undp-ghadames-local-governance")
        .unwrap();
    assert_eq!(held["pendingReview"], true);
    assert_eq!(held["municipality"]["arabic"], "غدامس");

    // Gaps, ranked by people in need: Nalut's water first, Ghadames' clinic second.
    let gaps = json_lines(&cli(&node, &["--output", "json", "gaps"]));
    let ranked: Vec<(String, String)> = gaps
        .iter()
        .map(|g| {
            (
                g["pcode"].as_str().unwrap().into(),
                g["sector"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert_eq!(
        ranked,
        vec![
            ("LY0301".into(), "14030".into()),
            ("LY0305".into(), "12220".into())
        ]
    );

    // Overlaps: the unreviewed Ghadames pair; the complementary Aourir pair only with --all.
    let overlaps = json_lines(&cli(&node, &["--output", "json", "overlaps"]));
    assert_eq!(overlaps.len(), 1, "{overlaps:?}");
    assert_eq!(overlaps[0]["pcode"], "LY0305");
    let all = json_lines(&cli(&node, &["--output", "json", "overlaps", "--all"]));
    assert!(all
        .iter()
        .any(|o| o["pcode"] == "MA0901" && o["review"] == "OVERLAP_VERDICT_COMPLEMENTARY"));

    // Check writes nothing and reports what a new governance project would meet.
    let head_before = stdout(&cli(&node, &["--output", "json", "head"]));
    let proposal = write(
        dir.path(),
        "proposal.json",
        &project_json("eu-ghadames-gov", "LY0305", "15112", "EUR"),
    );
    let eu_key = keys.join("eu.key").display().to_string();
    let checked: Value = serde_json::from_str(&stdout(&cli(
        &node,
        &["--output", "json", "check", &proposal, "--key", &eu_key],
    )))
    .unwrap();
    assert_eq!(
        checked["overlaps"].as_array().unwrap().len(),
        2,
        "{checked}"
    );
    assert_eq!(checked["wouldBeHeld"], true);
    assert_eq!(
        stdout(&cli(&node, &["--output", "json", "head"])),
        head_before
    );

    // Warn policy (roads, 210): accepted with overlap warnings, not held.
    let wwf_key = keys.join("wwf.key").display().to_string();
    let roads = write(
        dir.path(),
        "roads.json",
        &project_json("wwf-aourir-trails", "MA0901", "21020", "EUR"),
    );
    let receipt = submitted(&node, &roads, &wwf_key);
    assert!(
        receipt["warnings"].as_array().unwrap().len() >= 2,
        "{receipt}"
    );
    assert_eq!(receipt["pending_review"], false, "{receipt}");

    // Hold policy (151): the submission itself is held.
    let governance = write(
        dir.path(),
        "gov.json",
        &project_json("eu-ghadames-gov", "LY0305", "15112", "EUR"),
    );
    let held = submitted(&node, &governance, &eu_key);
    assert_eq!(held["pending_review"], true, "{held}");

    // Naming another donor as funder does not avoid the overlap nor the
    // hold: the EU registers in the held sector next to USAID's governance
    // project, naming USAID as its funder (USAID signed nothing of it).
    let claimed = write(
        dir.path(),
        "claimed.json",
        &project_json("eu-ghadames-gov-2", "LY0305", "15112", "EUR").replace(
            r#""locations""#,
            r#""participants": [{"role": 1, "orgId": "usaid"}], "locations""#,
        ),
    );
    let held = submitted(&node, &claimed, &eu_key);
    assert_eq!(held["pending_review"], true, "{held}");
    let supports = json_lines(&cli(&node, &["--output", "json", "who-supports", "LY0305"]));
    let claimed_row = supports
        .iter()
        .find(|s| s["projectId"] == "eu-ghadames-gov-2")
        .unwrap_or_else(|| panic!("{supports:?}"))
        .clone();
    assert_eq!(claimed_row["donor"], "usaid");
    assert_eq!(claimed_row["donorClaimed"], true, "{claimed_row}");
    let table = stdout(&cli(&node, &["who-supports", "LY0305"]));
    assert!(table.contains("usaid (claimed by eu)"), "{table}");

    // The funder's own word ends the claim: only USAID may attest it (not
    // the EU that made it, not a third party), and its verdict shows.
    let usaid_key = keys.join("usaid.key").display().to_string();
    let wwf_key_path = keys.join("wwf.key").display().to_string();
    let attest = |verdict: &str, note: &str| {
        format!(
            r#"{{"attestationMade": {{"projectFunding": "eu-ghadames-gov-2", "verdict": "{verdict}", "note": "{note}"}}}}"#
        )
    };
    for (who, key, reason) in [
        ("the claim's author", &eu_key, "its own project"),
        (
            "a party the project does not name",
            &wwf_key_path,
            "does not name wwf",
        ),
    ] {
        let file = write(
            dir.path(),
            "attest-refused.json",
            &attest("ATTESTATION_VERDICT_CONFIRMED", ""),
        );
        let before = stdout(&cli(&node, &["--output", "json", "head"]));
        let refused = cli(&node, &["submit", &file, "--key", key]);
        assert!(!refused.status.success(), "{who}");
        assert!(
            stderr(&refused).contains("PermissionDenied") && stderr(&refused).contains(reason),
            "{who}: {}",
            stderr(&refused)
        );
        assert_eq!(
            stdout(&cli(&node, &["--output", "json", "head"])),
            before,
            "{who}"
        );
    }
    let no_note = write(
        dir.path(),
        "attest-bare.json",
        &attest("ATTESTATION_VERDICT_DISPUTED", ""),
    );
    let refused = cli(&node, &["submit", &no_note, "--key", &usaid_key]);
    assert!(
        stderr(&refused).contains("InvalidArgument"),
        "{}",
        stderr(&refused)
    );
    let donor_of = |node: &Node| {
        json_lines(&cli(node, &["--output", "json", "who-supports", "LY0305"]))
            .into_iter()
            .find(|s| s["projectId"] == "eu-ghadames-gov-2")
            .expect("the project")
    };
    let disputed = write(
        dir.path(),
        "attest-disputed.json",
        &attest(
            "ATTESTATION_VERDICT_DISPUTED",
            "USAID funds no governance project of the EU's",
        ),
    );
    submitted(&node, &disputed, &usaid_key);
    let row = donor_of(&node);
    assert_eq!(row["donorClaimed"], true, "{row}");
    assert_eq!(
        row["donorAttestation"], "ATTESTATION_VERDICT_DISPUTED",
        "{row}"
    );
    let table = stdout(&cli(&node, &["who-supports", "LY0305"]));
    assert!(table.contains("disputed by usaid"), "{table}");
    let confirmed = write(
        dir.path(),
        "attest-confirmed.json",
        &attest("ATTESTATION_VERDICT_CONFIRMED", ""),
    );
    submitted(&node, &confirmed, &usaid_key);
    let row = donor_of(&node);
    assert!(
        row["donorClaimed"].is_null() || row["donorClaimed"] == false,
        "{row}"
    );
    assert_eq!(
        row["donorAttestation"], "ATTESTATION_VERDICT_CONFIRMED",
        "{row}"
    );
    // Still held: the hold keys on the registering organisation, whatever
    // the funder says.
    assert_eq!(row["pendingReview"], true, "{row}");

    // Refusals: unknown sector, P-code, currency; a donor writing another's project.
    for (name, json, code) in [
        ("sector.json", project_json("x1", "LY0305", "99999", "EUR"), "InvalidArgument"),
        ("pcode.json", project_json("x2", "LY9999", "15112", "EUR"), "FailedPrecondition"),
        ("currency.json", project_json("x3", "LY0305", "15112", "XYZ"), "InvalidArgument"),
        (
            "foreign.json",
            r#"{"projectStatusChanged": {"projectId": "usaid-ghadames-governance", "status": 3, "effectiveDate": "2026-06-01"}}"#.to_owned(),
            "PermissionDenied",
        ),
    ] {
        let file = write(dir.path(), name, &json);
        let before = stdout(&cli(&node, &["--output", "json", "head"]));
        let refused = cli(&node, &["submit", &file, "--key", &eu_key]);
        assert!(!refused.status.success(), "{name} was accepted");
        assert!(stderr(&refused).contains(code), "{name}: {}", stderr(&refused));
        assert_eq!(stdout(&cli(&node, &["--output", "json", "head"])), before);
    }

    // Matrix: Aourir's roads category holds the EU's, UNDP's and WWF's projects.
    let matrix = json_lines(&cli(&node, &["--output", "json", "matrix", "MA"]));
    let roads = matrix
        .iter()
        .find(|cell| cell["pcode"] == "MA0901" && cell["category"] == "210")
        .unwrap();
    assert_eq!(roads["projects"], 3, "{roads}");
    assert_eq!(roads["donors"], serde_json::json!(["eu", "undp", "wwf"]));

    // History and HXL export.
    let history = json_lines(&cli(
        &node,
        &["--output", "json", "history", "usaid-ghadames-water-2024"],
    ));
    let kinds: Vec<&str> = history
        .iter()
        .map(|h| h["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, vec!["project_registered", "project_closed"]);
    let hxl = stdout(&cli(&node, &["export", "hxl", "MA"]));
    let mut lines = hxl.lines();
    assert!(lines.next().unwrap().starts_with("pcode,"));
    assert!(lines.next().unwrap().starts_with("#adm2+code,"));
    assert!(hxl.contains("MA0901,Aourir,أورير,21020"));

    // As of a day before the demo was loaded, nobody supported anything.
    let past = json_lines(&cli(
        &node,
        &[
            "--output",
            "json",
            "who-supports",
            "LY0305",
            "--as-of",
            "2020-01-01",
        ],
    ));
    assert!(past.is_empty(), "{past:?}");
}

/// `tansiq export hxl | head` and `tansiq export hxl > file` on a full disk:
/// a reader that went away ends the export quietly; a standard output that
/// cannot be written ends it with an error a person can read; no panic.
#[test]
fn exports_to_a_closed_pipe_or_a_full_disk_end_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let node = Node::start_with(dir.path(), &["--demo"]);
    for export in [&["export", "hxl"][..], &["export", "iati"][..]] {
        // The reader closes the pipe before the CLI has the node's answer.
        let mut child = cli_command(&node, export)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        drop(child.stdout.take());
        let closed = child.wait_with_output().unwrap();
        assert!(
            closed.status.success(),
            "{export:?} into a closed pipe: {:?} {}",
            closed.status,
            stderr(&closed)
        );
        assert_eq!(stderr(&closed), "", "{export:?} into a closed pipe");

        let full = cli_command(&node, export)
            .stdout(std::fs::File::create("/dev/full").unwrap())
            .output()
            .unwrap();
        assert_eq!(full.status.code(), Some(1), "{export:?} to /dev/full");
        let message = stderr(&full);
        assert!(
            message.starts_with("error: cannot write to standard output: ")
                && !message.contains("panicked"),
            "{export:?} to /dev/full: {message}"
        );
    }
}

/// Every page of a listing, `size` items at a time.
async fn all_projects(
    client: &mut tansiq_proto::v1::coverage_client::CoverageClient<tonic::transport::Channel>,
    request: &tansiq_proto::v1::ListProjectsRequest,
    size: u32,
) -> Vec<String> {
    let mut ids = Vec::new();
    let mut token = String::new();
    loop {
        let mut asked = request.clone();
        asked.page = Some(tansiq_proto::v1::PageRequest {
            page_size: size,
            page_token: token,
        });
        let page = client.list_projects(asked).await.unwrap().into_inner();
        assert!(page.projects.len() <= size as usize);
        ids.extend(page.projects.into_iter().map(|p| p.project_id));
        token = page.next_page_token;
        if token.is_empty() {
            return ids;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_integrator_lists_what_is_on_the_ledger_and_unknown_references_are_not_found() {
    use tansiq_proto::v1 as pb;
    let dir = tempfile::tempdir().unwrap();
    let node = Node::start_with(dir.path(), &["--demo"]);

    // Municipalities under a P-code, each with its children.
    let listed = json_lines(&cli(
        &node,
        &["--output", "json", "list", "municipalities", "LY"],
    ));
    let pcodes: Vec<&str> = listed
        .iter()
        .map(|m| m["pcode"].as_str().unwrap())
        .collect();
    assert_eq!(pcodes, ["LY", "LY03", "LY0301", "LY0305"], "{listed:?}");
    assert_eq!(listed[0]["children"], serde_json::json!(["LY03"]));
    assert_eq!(
        listed[1]["children"],
        serde_json::json!(["LY0301", "LY0305"])
    );
    assert_eq!(listed[2]["name"]["arabic"], "نالوت");

    // Organisations, with their keys.
    let orgs = json_lines(&cli(&node, &["--output", "json", "list", "orgs"]));
    let usaid = orgs.iter().find(|o| o["orgId"] == "usaid").expect("usaid");
    assert_eq!(usaid["role"], "ORG_ROLE_DONOR", "{usaid}");
    assert_eq!(usaid["keys"].as_array().map(Vec::len), Some(1), "{usaid}");
    let ministries = json_lines(&cli(
        &node,
        &["--output", "json", "list", "orgs", "--role", "ministry"],
    ));
    assert_eq!(ministries.len(), 1, "{ministries:?}");

    // Projects: under a P-code, those not closed are the ones who-supports
    // names there (a listing keeps closed ones, marked so), and a page size
    // of 2 walks the same list as one page of 1,000.
    let listed = json_lines(&cli(
        &node,
        &["--output", "json", "list", "projects", "LY0305"],
    ));
    let closed: Vec<&Value> = listed.iter().filter(|p| p["closed"] == true).collect();
    assert_eq!(
        closed.len(),
        1,
        "the demo's closed water project: {listed:?}"
    );
    let open: Vec<Value> = listed
        .iter()
        .filter(|p| p["closed"] != true)
        .cloned()
        .collect();
    let in_ghadames = ids(&open);
    let mut supporting = ids(&json_lines(&cli(
        &node,
        &["--output", "json", "who-supports", "LY0305"],
    )));
    supporting.sort();
    supporting.dedup();
    assert_eq!(in_ghadames, supporting);
    let mut client = tansiq_proto::v1::coverage_client::CoverageClient::new(node.channel().await);
    let everything = pb::ListProjectsRequest::default();
    let whole = all_projects(&mut client, &everything, 1000).await;
    let paged = all_projects(&mut client, &everything, 2).await;
    assert!(whole.len() > 2, "{whole:?}");
    assert_eq!(paged, whole, "pages of 2 walk the same list");
    let of_usaid = ids(&json_lines(&cli(
        &node,
        &["--output", "json", "list", "projects", "--org", "usaid"],
    )));
    assert!(
        !of_usaid.is_empty() && of_usaid.iter().all(|id| id.starts_with("usaid-")),
        "{of_usaid:?}"
    );
    // As of a day before the demo, nothing was registered.
    let before = json_lines(&cli(
        &node,
        &[
            "--output",
            "json",
            "list",
            "projects",
            "--as-of",
            "2000-01-01",
        ],
    ));
    assert!(before.is_empty(), "{before:?}");

    // References the ledger does not hold are NOT_FOUND, saying how to list
    // what is there; an empty answer means "nobody supports it", nothing else.
    for args in [
        vec!["who-supports", "LY9999"],
        vec!["matrix", "XK"],
        vec!["gaps", "LY9"],
        vec!["overlaps", "JO99"],
        vec!["list", "municipalities", "LY0399"],
        vec!["list", "projects", "--org", "nobody"],
        vec!["history", "no-such-project"],
    ] {
        let refused = cli(&node, &args);
        assert!(!refused.status.success(), "{args:?}");
        assert!(
            stderr(&refused).contains("NotFound") && stderr(&refused).contains("list"),
            "{args:?}: {}",
            stderr(&refused)
        );
    }
    // A registered municipality nobody supports: an empty answer.
    let nobody = json_lines(&cli(&node, &["--output", "json", "who-supports", "LY0301"]));
    assert!(nobody.is_empty(), "{nobody:?}");

    let refused = cli(&node, &["list", "projects", "--status", "9"]);
    assert!(
        stderr(&refused).contains("InvalidArgument"),
        "{}",
        stderr(&refused)
    );

    // Bad pages: too large, or a token the node did not give.
    for page in [
        pb::PageRequest {
            page_size: 1001,
            page_token: String::new(),
        },
        pb::PageRequest {
            page_size: 10,
            page_token: "x".repeat(300),
        },
    ] {
        let refused = client
            .list_organisations(pb::ListOrganisationsRequest {
                page: Some(page),
                ..Default::default()
            })
            .await
            .unwrap_err();
        assert_eq!(refused.code(), tonic::Code::InvalidArgument, "{refused:?}");
    }
    // One project, one organisation: what the listings give for it.
    let found = client
        .get_project(pb::GetProjectRequest {
            project_id: "usaid-ghadames-governance".into(),
            scope: None,
        })
        .await
        .unwrap()
        .into_inner();
    let project = found.project.expect("registered now");
    assert_eq!(project.project_id, "usaid-ghadames-governance");
    assert_eq!(project.owner, "usaid");
    assert!(found.info.is_some_and(|info| info.position > 0));
    let before = client
        .get_project(pb::GetProjectRequest {
            project_id: "usaid-ghadames-governance".into(),
            scope: Some(pb::Scope {
                as_of: "2000-01-01".into(),
                ..Default::default()
            }),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(before.project, None, "not registered yet in 2000");
    let unknown = client
        .get_project(pb::GetProjectRequest {
            project_id: "no-such-project".into(),
            scope: None,
        })
        .await
        .unwrap_err();
    assert_eq!(unknown.code(), tonic::Code::NotFound, "{unknown:?}");
    let usaid = client
        .get_organisation(pb::GetOrganisationRequest {
            org_id: "usaid".into(),
        })
        .await
        .unwrap()
        .into_inner()
        .organisation
        .expect("usaid");
    assert_eq!(usaid.role, pb::OrgRole::Donor as i32);
    assert_eq!(usaid.keys.len(), 1);
    let unknown = client
        .get_organisation(pb::GetOrganisationRequest {
            org_id: "nobody".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(unknown.code(), tonic::Code::NotFound, "{unknown:?}");

    // A role no organisation can have: refused, not an empty page.
    let refused = client
        .list_organisations(pb::ListOrganisationsRequest {
            role: 9,
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(refused.code(), tonic::Code::InvalidArgument, "{refused:?}");
    assert!(refused.message().contains("not an OrgRole"), "{refused:?}");
}

/// A crowded municipality: 210 projects of three donors in one sector,
/// every pair overlapping (more than an answer names). Asking Overlaps for
/// all of them is refused with how many match and what to ask instead; a
/// page of them answers, with the total; the matrix cell counts them all.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_answer_that_would_name_too_many_overlaps_says_how_many_and_what_to_ask() {
    use tansiq_ledger::author::now_ms;
    use tansiq_ledger::testing::registered_donors;
    use tansiq_proto::v1 as pb;
    use tansiq_proto::v1::coverage_client::CoverageClient;
    use tansiq_tests::{author, events};

    const PER_DONOR: usize = 70;
    let dir = tempfile::tempdir().unwrap();
    let node = Node::start(&dir.path().join("node"));
    let mut client = node.client().await;
    let mut ministry = author(&mut client, &node.ministry_key()).await;
    let mut setup = vec![
        ministry
            .sign(events::municipality("LY01", "", 1), now_ms())
            .0,
        ministry
            .sign(events::municipality("LY0101", "LY01", 2), now_ms())
            .0,
    ];
    let (registrations, mut donors) = registered_donors(
        &mut ministry,
        (0..3).map(|index| format!("donor-{index}")),
        now_ms(),
    );
    setup.extend(registrations);
    client
        .submit_batch(pb::SubmitBatchRequest { events: setup })
        .await
        .unwrap();
    let mut projects = Vec::new();
    for (index, donor) in donors.iter_mut().enumerate() {
        for n in 0..PER_DONOR {
            let details = events::details("LY0101", "14030", "EUR", "1000");
            let kind = events::project(&format!("d{index}-p{n}"), details);
            projects.push(donor.sign(kind, now_ms()).0);
        }
    }
    client
        .submit_batch(pb::SubmitBatchRequest { events: projects })
        .await
        .unwrap();

    let pairs = (3 * PER_DONOR) * (3 * PER_DONOR - 1) / 2;
    assert!(pairs > tansiq_ledger::limits::OVERLAPS_ANSWER_MAX);
    let mut coverage = CoverageClient::new(node.channel().await);
    let ask = |limit: u32| pb::OverlapsRequest {
        scope: scope_of("LY01"),
        limit,
        ..Default::default()
    };
    let refused = coverage.overlaps(ask(0)).await.unwrap_err();
    assert_eq!(refused.code(), tonic::Code::OutOfRange, "{refused:?}");
    assert!(
        refused
            .message()
            .starts_with(&format!("{pairs} pairs overlap under LY01, and one answer names at most 10000: ask for at most that many")),
        "{}",
        refused.message()
    );
    let page = coverage.overlaps(ask(25)).await.unwrap().into_inner();
    assert_eq!((page.overlaps.len(), page.total), (25, pairs as u64));
    let matrix = coverage
        .matrix(pb::MatrixRequest {
            scope: ask(0).scope,
            count: 0,
        })
        .await
        .unwrap()
        .into_inner();
    let cells: Vec<(String, String, u64)> = matrix
        .cells
        .iter()
        .map(|cell| {
            (
                cell.pcode.clone(),
                cell.category.clone(),
                cell.open_overlaps,
            )
        })
        .collect();
    assert_eq!(cells, [("LY0101".into(), "140".into(), pairs as u64)]);
}

/// PROTOCOL.md: a WhoSupports answer holds at most 40,000 supports (a
/// project in a municipality and sector); past that the node says so and
/// what to ask instead, and a narrower question still answers. 26 projects
/// of one donor, each in 200 municipalities and 8 sectors, make 41,600.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_who_supports_answer_past_its_bound_says_what_to_ask_instead() {
    use tansiq_ledger::author::now_ms;
    use tansiq_ledger::limits::WHO_SUPPORTS_MAX;
    use tansiq_proto::v1 as pb;
    use tansiq_proto::v1::coverage_client::CoverageClient;
    use tansiq_tests::{author, events};

    const PLACES: usize = 200;
    const SECTORS: [&str; 8] = [
        "14030", "12220", "11220", "16010", "15112", "21020", "23230", "25030",
    ];
    const PROJECTS: usize = 26;
    assert!(PROJECTS * PLACES * SECTORS.len() > WHO_SUPPORTS_MAX);
    let dir = tempfile::tempdir().unwrap();
    let node = Node::start(&dir.path().join("node"));
    let mut client = node.client().await;
    let mut ministry = author(&mut client, &node.ministry_key()).await;
    let pcode = |index: usize| format!("LY99{index:04}");
    let mut donor =
        region_with_a_donor(&mut client, &mut ministry, "LY99", PLACES, "donor-wide").await;
    let mut projects = Vec::new();
    for n in 0..PROJECTS {
        let mut details = events::details(&pcode(0), SECTORS[0], "EUR", "1000");
        details.title = Some(pb::Names {
            latin: format!("Programme {n} of many places"),
            arabic: String::new(),
        });
        details.locations = (0..PLACES)
            .map(|index| pb::ProjectLocation {
                pcode: pcode(index),
                percentage: 0,
            })
            .collect();
        details.sectors = SECTORS
            .iter()
            .map(|code| pb::ProjectSector {
                code: (*code).into(),
                percentage: 0,
            })
            .collect();
        projects.push(
            donor
                .sign(events::project(&format!("wide-{n}"), details), now_ms())
                .0,
        );
    }
    client
        .submit_batch(pb::SubmitBatchRequest { events: projects })
        .await
        .unwrap();

    let mut coverage = CoverageClient::new(node.channel().await);
    let ask = |pcode: &str| pb::WhoSupportsRequest {
        scope: scope_of(pcode),
        include_children: true,
        ..Default::default()
    };
    let refused = coverage.who_supports(ask("LY99")).await.unwrap_err();
    assert_eq!(refused.code(), tonic::Code::OutOfRange, "{refused:?}");
    let message = refused.message();
    assert!(
        message
            .starts_with("more than 40000 supports (a project in a municipality and sector) match")
            && message.contains("ask about one municipality or region (a longer P-code)")
            && message.contains("ListProjects"),
        "{message}"
    );
    let one_place = coverage
        .who_supports(ask(&pcode(7)))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(one_place.supports.len(), PROJECTS * SECTORS.len());
    assert!(one_place
        .supports
        .iter()
        .all(|support| support.pcode == pcode(7)));
}

/// PROTOCOL.md: a Matrix answer covers at most 2,000 registered places
/// under its P-code; past that the node says so before computing anything
/// and names what to ask instead, and one region within it still answers.
/// A region of 2,000 municipalities (2,001 places with the region itself).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_matrix_past_its_bound_says_to_ask_per_region() {
    use tansiq_ledger::author::now_ms;
    use tansiq_ledger::limits::MATRIX_PLACES_MAX;
    use tansiq_proto::v1 as pb;
    use tansiq_proto::v1::coverage_client::CoverageClient;
    use tansiq_tests::{author, events};

    const PLACES: usize = MATRIX_PLACES_MAX;
    let dir = tempfile::tempdir().unwrap();
    // The demo's node, for its console and map boundaries.
    let node = Node::start_with(
        &dir.path().join("node"),
        &["--demo", "--http", "127.0.0.1:0"],
    );
    let mut client = node.client().await;
    let mut ministry = author(&mut client, &node.ministry_key()).await;
    let pcode = |index: usize| format!("LY98{index:04}");
    let mut donor =
        region_with_a_donor(&mut client, &mut ministry, "LY98", PLACES, "donor-matrix").await;
    let mut details = events::details(&pcode(1), "14030", "EUR", "1000");
    details.locations = [1, 1_001]
        .iter()
        .map(|index| pb::ProjectLocation {
            pcode: pcode(*index),
            percentage: 0,
        })
        .collect();
    let (project, _) = donor.sign(events::project("water-two-places", details), now_ms());
    client
        .submit(pb::SubmitRequest {
            event: Some(project),
        })
        .await
        .unwrap();

    let mut coverage = CoverageClient::new(node.channel().await);
    let ask = |pcode: &str| pb::MatrixRequest {
        scope: scope_of(pcode),
        ..Default::default()
    };
    for (asked, under) in [("LY98", "under LY98"), ("", "on this ledger")] {
        let refused = coverage.matrix(ask(asked)).await.unwrap_err();
        assert_eq!(refused.code(), tonic::Code::OutOfRange, "{refused:?}");
        let message = refused.message();
        assert!(
            message.starts_with(&format!(
                "more than {MATRIX_PLACES_MAX} municipalities are registered {under}:"
            )) && message.contains("ask for one region at a time"),
            "{message}"
        );
    }
    // 1,000 places under LY980: within the bound, and the project's cell
    // there is in the answer (its other place is not under LY980).
    let cells = coverage
        .matrix(ask("LY980"))
        .await
        .unwrap()
        .into_inner()
        .cells;
    let found: Vec<(&str, &str, u32)> = cells
        .iter()
        .map(|cell| (cell.pcode.as_str(), cell.category.as_str(), cell.projects))
        .collect();
    assert_eq!(found, vec![(pcode(1).as_str(), "140", 1)]);

    // The console's download holds what the CLI's export would: refused
    // the same way. Its map, which sends no gRPC answer, still computes
    // the region from every place under it (none of them has a shape in
    // the demo's boundaries: the page counts them).
    let console = console_of(&node);
    let console = console.as_str();
    let (status, _, body) =
        tansiq_tests::probes::http_answer(&format!("{console}/download/matrix?pcode=LY98")).await;
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("ask for one region at a time"), "{body}");
    let (status, _, body) =
        tansiq_tests::probes::http_answer(&format!("{console}/map?pcode=LY98")).await;
    assert_eq!(status, 200, "{body}");
    let without_shape = format!("id=\"without-shape\" data-count=\"{}\"", PLACES + 1);
    assert!(body.contains(&without_shape), "{without_shape} in {body}");
}

/// PROTOCOL.md: an answer whose entries would not fit in one message
/// (16 MiB) is refused with OUT_OF_RANGE saying how many would fit, not
/// failed while being sent. 2,100 uncovered needs whose sources are 8 KiB
/// each (the field's limit) are more than one Gaps answer holds; a limit
/// that fits answers. The console's pages, which send no gRPC answer, still
/// show the region, its gaps and its map.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_answer_too_long_for_one_message_says_how_many_fit() {
    use tansiq_ledger::author::now_ms;
    use tansiq_ledger::limits::TEXT_FIELD_BYTES_MAX;
    use tansiq_proto::v1 as pb;
    use tansiq_proto::v1::event_body::Kind;
    use tansiq_tests::author;

    const NEEDS: usize = 2_100;
    let dir = tempfile::tempdir().unwrap();
    // The demo's node, for its console and map boundaries.
    let node = Node::start_with(
        &dir.path().join("node"),
        &["--demo", "--http", "127.0.0.1:0"],
    );
    let mut client = node.client().await;
    let mut ministry = author(&mut client, &node.ministry_key()).await;
    region_with_a_donor(&mut client, &mut ministry, "LY97", NEEDS, "donor-long").await;
    let sentence =
        "Joint assessment of the water network by the municipal council and the ministry. ";
    let source: String = sentence
        .repeat(TEXT_FIELD_BYTES_MAX / sentence.len())
        .trim_end()
        .to_owned();
    let needs: Vec<pb::SignedEvent> = (0..NEEDS)
        .map(|index| {
            let need = Kind::NeedAssessed(pb::NeedAssessed {
                pcode: format!("LY97{index:04}"),
                sector: "14030".into(),
                people_in_need: 1_000 + index as u64,
                severity: 3,
                period_start: "2024-01-01".into(),
                period_end: "2030-12-31".into(),
                source: source.clone(),
            });
            ministry.sign(need, now_ms()).0
        })
        .collect();
    for events in needs.chunks(1_000) {
        client
            .submit_batch(pb::SubmitBatchRequest {
                events: events.to_vec(),
            })
            .await
            .unwrap();
    }

    let mut coverage = large_answers(&node).await;
    let ask = |limit: u32| pb::GapsRequest {
        scope: scope_of("LY97"),
        limit,
        ..Default::default()
    };
    let refused = coverage.gaps(ask(0)).await.unwrap_err();
    let fit = how_many_fit(&too_long(refused, NEEDS, "uncovered needs"));
    assert!((1_000..NEEDS).contains(&fit), "{fit} of {NEEDS} fit");
    // That many fit, largest needs first; the total counts every one.
    let answer = coverage.gaps(ask(fit as u32)).await.unwrap().into_inner();
    assert_eq!((answer.gaps.len(), answer.total), (fit, NEEDS as u64));
    assert_eq!(answer.gaps[0].people_in_need, 1_000 + NEEDS as u64 - 1);
    // One more than fits is refused the same way.
    let refused = coverage.gaps(ask(fit as u32 + 1)).await.unwrap_err();
    too_long(refused, fit + 1, "uncovered needs");

    // The console's pages, which send no gRPC answer, read them all: the
    // region's page lists its gaps, the gaps page its largest, and its
    // map by uncovered needs counts its places (none has a shape in the
    // demo's boundaries).
    let console = console_of(&node);
    let console = console.as_str();
    for page in ["m/LY97", "gaps?pcode=LY97"] {
        let (status, _, body) =
            tansiq_tests::probes::http_answer(&format!("{console}/{page}")).await;
        assert_eq!(status, 200, "{page}: {body}");
        assert!(
            body.contains("LY972099"),
            "{page}: the largest need's place"
        );
    }
    let (status, _, body) =
        tansiq_tests::probes::http_answer(&format!("{console}/map?pcode=LY97&by=gaps")).await;
    assert_eq!(status, 200, "{body}");
    let without_shape = format!("id=\"without-shape\" data-count=\"{}\"", NEEDS + 1);
    assert!(body.contains(&without_shape), "{without_shape} in {body}");
}

/// WhoSupports and Overlaps hold to the same byte bound as Gaps (they
/// share `fitting`): two donors' projects in the same 256 places and
/// sector, each naming 96 implementers with 510-byte names (a field's
/// limit is 512), make 512 supports of about 50 KiB and 256 overlapping
/// pairs of twice that: more than one 16 MiB answer holds of either. Each
/// is refused with OUT_OF_RANGE saying what to ask instead, and that
/// question answers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn supports_and_overlaps_too_long_for_one_message_say_what_to_ask() {
    use tansiq_ledger::author::now_ms;
    use tansiq_ledger::testing::events;
    use tansiq_proto::v1 as pb;
    use tansiq_tests::author;

    const PLACES: usize = 256;
    const IMPLEMENTERS: usize = 96;
    let dir = tempfile::tempdir().unwrap();
    let node = Node::start(&dir.path().join("node"));
    let mut client = node.client().await;
    let mut ministry = author(&mut client, &node.ministry_key()).await;
    let mut first =
        region_with_a_donor(&mut client, &mut ministry, "LY96", PLACES, "donor-first").await;
    let (registration, mut second) = tansiq_ledger::testing::registered_donor(
        &mut ministry,
        "donor-second",
        tansiq_ledger::signing::KeyPair::generate(),
        now_ms(),
    );
    let long_project = |donor: &mut tansiq_ledger::author::Author, id: &str| {
        let details = spread_over("LY96", PLACES, &["14030"], 4, IMPLEMENTERS);
        donor.sign(events::project(id, details), now_ms()).0
    };
    let projects = vec![
        registration,
        long_project(&mut first, "first-long"),
        long_project(&mut second, "second-long"),
    ];
    for event in projects {
        client
            .submit(pb::SubmitRequest { event: Some(event) })
            .await
            .unwrap();
    }

    let mut coverage = large_answers(&node).await;
    let supports = |pcode: &str| pb::WhoSupportsRequest {
        scope: scope_of(pcode),
        include_children: true,
        ..Default::default()
    };
    let refused = coverage.who_supports(supports("LY96")).await.unwrap_err();
    let message = too_long(refused, 2 * PLACES, "supports");
    assert!(
        message.contains("ask about one municipality or region (a longer P-code)"),
        "{message}"
    );
    // One municipality, as the message says: both projects there.
    let answer = coverage
        .who_supports(supports("LY960007"))
        .await
        .unwrap()
        .into_inner();
    let mut found: Vec<&str> = answer
        .supports
        .iter()
        .map(|s| s.project_id.as_str())
        .collect();
    found.sort_unstable();
    assert_eq!(found, ["first-long", "second-long"]);
    assert_eq!(answer.supports[0].implementers.len(), IMPLEMENTERS);

    let overlaps = |limit: u32| pb::OverlapsRequest {
        scope: scope_of("LY96"),
        limit,
        ..Default::default()
    };
    let refused = coverage.overlaps(overlaps(0)).await.unwrap_err();
    let fit = how_many_fit(&too_long(refused, PLACES, "overlapping pairs"));
    assert!((100..PLACES).contains(&fit), "{fit} of {PLACES} fit");
    let answer = coverage
        .overlaps(overlaps(fit as u32))
        .await
        .unwrap()
        .into_inner();
    assert_eq!((answer.overlaps.len(), answer.total), (fit, PLACES as u64));
    let refused = coverage
        .overlaps(overlaps(fit as u32 + 1))
        .await
        .unwrap_err();
    too_long(refused, fit + 1, "overlapping pairs");
}

/// Matrix holds to the same byte bound: 16 projects, each in 256 places
/// and 10 sector categories and each naming another funder with a
/// 510-byte name (the donor a cell lists), make 2,560 cells of 16 donors,
/// more than one 16 MiB answer holds. Refused with OUT_OF_RANGE saying to
/// ask for one region at a time; a region of 100 of the places answers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_matrix_too_long_for_one_message_says_to_ask_for_a_region() {
    use tansiq_ledger::author::now_ms;
    use tansiq_ledger::testing::events;
    use tansiq_proto::v1 as pb;
    use tansiq_tests::author;

    const PLACES: usize = 256;
    const SECTORS: [&str; 10] = [
        "14030", "12220", "11220", "13020", "15110", "16010", "21020", "23210", "31120", "43010",
    ];
    const PROJECTS: usize = 16;
    let dir = tempfile::tempdir().unwrap();
    let node = Node::start(&dir.path().join("node"));
    let mut client = node.client().await;
    let mut ministry = author(&mut client, &node.ministry_key()).await;
    let mut donor =
        region_with_a_donor(&mut client, &mut ministry, "LY95", PLACES, "donor-wide").await;
    let projects: Vec<pb::SignedEvent> = (0..PROJECTS)
        .map(|index| {
            let details = spread_over("LY95", PLACES, &SECTORS, 1, 1);
            donor
                .sign(
                    events::project(&format!("wide-{index:02}"), details),
                    now_ms(),
                )
                .0
        })
        .collect();
    client
        .submit_batch(pb::SubmitBatchRequest { events: projects })
        .await
        .unwrap();

    let mut coverage = large_answers(&node).await;
    let ask = |pcode: &str| pb::MatrixRequest {
        scope: scope_of(pcode),
        ..Default::default()
    };
    let refused = coverage.matrix(ask("LY95")).await.unwrap_err();
    let message = too_long(refused, PLACES * SECTORS.len(), "cells");
    assert!(
        message.contains("ask for one region at a time"),
        "{message}"
    );
    let cells = coverage
        .matrix(ask("LY9500"))
        .await
        .unwrap()
        .into_inner()
        .cells;
    assert_eq!(cells.len(), 100 * SECTORS.len());
    assert!(
        cells.iter().all(|cell| cell.donors.len() == PROJECTS),
        "16 donors in each cell"
    );
}

/// The details of a project in the first `places` places of `region` (as
/// `region_with_a_donor` numbers them) and in `sectors`, naming `named`
/// participants in `role` (IATI organisation role: 1 funding, 4
/// implementing) with 510-byte names (a name's limit is 512), each its own.
fn spread_over(
    region: &str,
    places: usize,
    sectors: &[&str],
    role: u32,
    named: usize,
) -> tansiq_proto::v1::ProjectDetails {
    use tansiq_ledger::testing::events;
    use tansiq_proto::v1 as pb;
    static NAMED: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let mut details = events::details(&format!("{region}0000"), sectors[0], "EUR", "250000");
    details.locations = (0..places)
        .map(|index| pb::ProjectLocation {
            pcode: format!("{region}{index:04}"),
            percentage: 0,
        })
        .collect();
    details.sectors = sectors
        .iter()
        .map(|code| pb::ProjectSector {
            code: (*code).into(),
            percentage: 0,
        })
        .collect();
    details.participants = (0..named)
        .map(|_| {
            let number = NAMED.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            pb::ParticipatingOrg {
                role,
                name: events::names(
                    &format!("{number:03} {}", "Participant in project ".repeat(22)),
                    "",
                ),
                ..Default::default()
            }
        })
        .collect();
    details
}

/// A Coverage client that takes answers as large as the CLI does.
async fn large_answers(
    node: &Node,
) -> tansiq_proto::v1::coverage_client::CoverageClient<tonic::transport::Channel> {
    tansiq_proto::v1::coverage_client::CoverageClient::new(node.channel().await)
        .max_decoding_message_size(tansiq_ledger::limits::CLIENT_COVERAGE_ANSWER_BYTES_MAX)
}

/// `refused`'s message, after checking it is the byte bound's refusal of
/// `count` entries (`what`): OUT_OF_RANGE, "these COUNT WHAT take more than
/// fits in one answer (16 MiB; ...".
fn too_long(refused: tonic::Status, count: usize, what: &str) -> String {
    assert_eq!(refused.code(), tonic::Code::OutOfRange, "{refused:?}");
    let message = refused.message().to_owned();
    assert!(
        message.starts_with(&format!(
            "these {count} {what} take more than fits in one answer (16 MiB;"
        )),
        "{message}"
    );
    message
}

/// How many entries a byte-bound refusal says fit ("the first N fit: ask
/// for at most N (limit ...").
fn how_many_fit(message: &str) -> usize {
    let fit: usize = message
        .split("the first ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .and_then(|number| number.parse().ok())
        .unwrap_or_else(|| panic!("how many fit, in {message}"));
    assert!(
        message.contains(&format!("fit: ask for at most {fit} (limit")),
        "{message}"
    );
    fit
}

/// A Coverage query's scope: the places under `pcode`, now.
fn scope_of(pcode: &str) -> Option<tansiq_proto::v1::Scope> {
    Some(tansiq_proto::v1::Scope {
        pcode: pcode.into(),
        ..Default::default()
    })
}

/// The node's console address, without its final slash.
fn console_of(node: &Node) -> String {
    node.console_url
        .as_deref()
        .expect("the node names its console")
        .trim_end_matches('/')
        .to_owned()
}

/// The ministry registers region `region` (level 1), `places`
/// municipalities under it (P-codes `{region}0000` on) and a donor `org`,
/// in SubmitBatch requests of at most 1,000 events; returns the donor's
/// author.
async fn region_with_a_donor(
    client: &mut tansiq_proto::v1::ledger_client::LedgerClient<tonic::transport::Channel>,
    ministry: &mut tansiq_ledger::author::Author,
    region: &str,
    places: usize,
    org: &str,
) -> tansiq_ledger::author::Author {
    use tansiq_ledger::author::now_ms;
    use tansiq_proto::v1 as pb;
    use tansiq_tests::events;
    let mut setup = vec![
        ministry
            .sign(events::municipality(region, "", 1), now_ms())
            .0,
    ];
    for index in 0..places {
        let pcode = format!("{region}{index:04}");
        setup.push(
            ministry
                .sign(events::municipality(&pcode, region, 2), now_ms())
                .0,
        );
    }
    let (registration, donor) = tansiq_ledger::testing::registered_donor(
        ministry,
        org,
        tansiq_ledger::signing::KeyPair::generate(),
        now_ms(),
    );
    setup.push(registration);
    for events in setup.chunks(1_000) {
        client
            .submit_batch(pb::SubmitBatchRequest {
                events: events.to_vec(),
            })
            .await
            .unwrap();
    }
    donor
}
