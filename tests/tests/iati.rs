//! `tansiq import iati` end to end: a real `--dev --demo` node, the real CLI,
//! the project's own IATI fixtures (tests/fixtures/iati/, written for these
//! tests) and, when `../shared/` is beside the clone, the public files there.

// Test code: a panic with its location is the failure report.
#![allow(clippy::unwrap_used)]

use std::path::PathBuf;

use serde_json::Value;
use tansiq_tests::{cli, stderr, stdout, Node};

fn fixture(name: &str) -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/iati")
        .join(name)
        .display()
        .to_string()
}

fn shared_fixture(name: &str) -> Option<String> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/fixtures/iati")
        .join(name);
    if path.exists() {
        Some(path.display().to_string())
    } else {
        eprintln!(
            "SKIPPED: {} is not there (no shared/ beside the clone)",
            path.display()
        );
        None
    }
}

fn key(node: &Node, org: &str) -> String {
    node.data_dir
        .join("demo-keys")
        .join(format!("{org}.key"))
        .display()
        .to_string()
}

/// Runs an import with JSON output; returns the report.
fn import(node: &Node, args: &[&str]) -> Value {
    let mut all = vec!["--output", "json", "import", "iati"];
    all.extend_from_slice(args);
    let output = cli(node, &all);
    assert!(output.status.success(), "{}", stderr(&output));
    serde_json::from_str(&stdout(&output)).unwrap()
}

fn head_position(node: &Node) -> u64 {
    let output = cli(node, &["--output", "json", "head"]);
    let head: Value = serde_json::from_str(&stdout(&output)).unwrap();
    head["position"].as_u64().unwrap_or_else(|| {
        head["position"]
            .as_str()
            .map(|p| p.parse().unwrap())
            .unwrap()
    })
}

fn table(node: &Node, args: &[&str]) -> String {
    let output = cli(node, args);
    assert!(output.status.success(), "{}", stderr(&output));
    stdout(&output)
}

#[test]
fn a_donor_file_imports_once_updates_only_what_changed_and_bad_files_change_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let node = Node::start_with(dir.path(), &["--demo"]);
    let undp = key(&node, "undp");
    let file = fixture("undp-libya-v2.03.xml");
    let map = fixture("pcode-map.csv");
    let start = head_position(&node);

    // A dry run reports and writes nothing.
    let dry = import(
        &node,
        &[&file, "--key", &undp, "--pcode-map", &map, "--dry-run"],
    );
    assert_eq!(dry["activities"], 5);
    assert_eq!(dry["imported"], 4);
    assert_eq!(dry["wouldWrite"]["project_registered"], 4);
    assert_eq!(dry["wouldWrite"]["transaction_recorded"], 2);
    assert_eq!(dry["eventsWritten"], 0);
    assert_eq!(head_position(&node), start);

    // The import: four projects (one at country level), the valid
    // transactions, the skipped activity with its reason, the overlap it made.
    let report = import(&node, &[&file, "--key", &undp, "--pcode-map", &map]);
    assert_eq!(report["eventsWritten"], 6, "{report:#}");
    assert_eq!(report["countryLevel"], 1);
    let skipped = &report["skippedByReason"]["no_location"];
    assert_eq!(
        skipped[0]["activity"], "XM-DAC-41114-REG-TQ-005",
        "{report:#}"
    );
    assert_eq!(report["heldForReview"][0], "XM-DAC-41114-LBY-TQ-003");
    assert!(report["overlaps"]
        .as_array()
        .unwrap()
        .iter()
        .any(|o| o["warning"]
            .as_str()
            .unwrap()
            .contains("usaid-ghadames-governance")));
    let notes = report["notes"].to_string();
    assert!(
        notes.contains("-500"),
        "the negative expenditure is left out: {notes}"
    );
    assert!(
        !notes.contains("151"),
        "the vocabulary-2 category is used, not left out: {notes}"
    );
    assert_eq!(head_position(&node), start + 6);

    // Coverage shows them, in both scripts; the gaps they cover are gone.
    let ghadames = table(&node, &["who-supports", "LY0305"]);
    assert!(ghadames.contains("xm-dac-41114-lby-tq-001"), "{ghadames}");
    assert!(
        ghadames.contains("الرعاية الصحية الأولية في غدامس"),
        "{ghadames}"
    );
    assert!(
        ghadames.contains("750000.50 USD"),
        "revised budget replaces the original: {ghadames}"
    );
    let nalut = table(&node, &["who-supports", "LY0301"]);
    assert!(
        nalut.contains("xm-dac-41114-lby-tq-002"),
        "mapped gazetteer code: {nalut}"
    );
    let country = table(&node, &["who-supports", "LY"]);
    assert!(country.contains("xm-dac-41114-lby-tq-004"), "{country}");
    let category = table(&node, &["who-supports", "LY", "--sector", "151"]);
    assert!(
        category.contains("LY        151 "),
        "a DAC 3-digit category counts for queries by category: {category}"
    );
    let gaps = table(&node, &["gaps"]);
    assert!(!gaps.contains("LY0305    12220"), "{gaps}");

    // The same file again: nothing.
    let again = import(&node, &[&file, "--key", &undp, "--pcode-map", &map]);
    assert_eq!(again["eventsWritten"], 0, "{again:#}");
    assert_eq!(again["unchanged"], 4);
    assert_eq!(head_position(&node), start + 6);

    // A later version: only the changed title and the new disbursement.
    let later = fixture("undp-libya-v2.03-later.xml");
    let update = import(&node, &[&later, "--key", &undp, "--pcode-map", &map]);
    assert_eq!(update["events"]["project_updated"], 1, "{update:#}");
    assert_eq!(update["events"]["transaction_recorded"], 1, "{update:#}");
    assert_eq!(update["eventsWritten"], 2);
    assert_eq!(head_position(&node), start + 8);

    // An IATI 1.05 file of another donor.
    let care = key(&node, "care");
    let old = import(&node, &[&fixture("care-syria-v1.05.xml"), "--key", &care]);
    assert_eq!(old["events"]["project_registered"], 1, "{old:#}");
    let deir = table(&node, &["who-supports", "SY0901"]);
    assert!(deir.contains("gb-chc-292506-syr-tq-1"), "{deir}");
    assert!(deir.contains("سبل العيش في دير الزور"), "{deir}");
    let written = head_position(&node);

    // Another donor cannot report UNDP's activities through an import:
    // their identifiers begin with UNDP's IATI identifier, XM-DAC-41114.
    let theft = import(&node, &[&file, "--key", &care, "--pcode-map", &map]);
    assert_eq!(
        theft["skippedByReason"]["reported_by_another_organisation"]
            .as_array()
            .unwrap()
            .len(),
        5,
        "{theft:#}"
    );
    assert_eq!(head_position(&node), written);

    // Garbage, a web page and a truncated file: a clear error, nothing written.
    let garbage = dir.path().join("garbage.bin");
    let bytes: Vec<u8> = (0..3_000_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8 | 0x80)
        .collect();
    std::fs::write(&garbage, bytes).unwrap();
    let page = dir.path().join("page.xml");
    std::fs::write(&page, "<html>\n<body>hello</body></html>").unwrap();
    let truncated = dir.path().join("truncated.xml");
    let text = std::fs::read_to_string(&file).unwrap();
    std::fs::write(&truncated, &text[..text.len() * 2 / 3]).unwrap();
    for (path, expected) in [
        (&garbage, "line 1: not an IATI activity file"),
        (&page, "the root element is <html>"),
        (&truncated, "line "),
    ] {
        let path = path.display().to_string();
        let output = cli(&node, &["import", "iati", &path, "--key", &undp]);
        assert!(!output.status.success());
        let message = stderr(&output);
        assert!(message.contains(expected), "{path}: {message}");
        assert!(message.contains("nothing was imported"), "{message}");
    }
    assert_eq!(head_position(&node), written);
}

#[test]
fn the_public_fixtures_import_through_a_node() {
    let Some(largest) = shared_fixture("example-v2.03-locations.xml") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let node = Node::start_with(dir.path(), &["--demo"]);
    // The file is the Netherlands' (reporting-org XM-DAC-7): UNDP, whose
    // own IATI identifier is XM-DAC-41114, may register none of it.
    let undp = key(&node, "undp");
    let before = head_position(&node);
    let refused = import(&node, &[&largest, "--key", &undp]);
    assert_eq!(
        refused["skippedByReason"]["reported_by_another_organisation"]
            .as_array()
            .map(Vec::len),
        Some(13),
        "{refused:#}"
    );
    assert_eq!(head_position(&node), before, "nothing of it was written");
    // CARE has no IATI identifier on this ledger and XM-DAC-7 is nobody's
    // here: the file imports under CARE's key.
    let care = key(&node, "care");
    let report = import(&node, &[&largest, "--key", &care]);
    assert_eq!(report["activities"], 13, "{report:#}");
    let accounted = report["imported"].as_u64().unwrap()
        + report["unchanged"].as_u64().unwrap()
        + report["skipped"].as_u64().unwrap();
    assert_eq!(
        accounted, 13,
        "every activity is imported or skipped with a reason"
    );
    eprintln!(
        "example-v2.03-locations.xml: {} activities in {:.3} s = {:.0} activities/s ({} imported, {} skipped)",
        report["activities"],
        report["seconds"].as_f64().unwrap(),
        report["activitiesPerSecond"].as_f64().unwrap(),
        report["imported"],
        report["skipped"]
    );
    if let Some(dfid) = shared_fixture("dfid-albania-v2.01.xml") {
        let report = import(&node, &[&dfid, "--key", &care, "--dry-run"]);
        assert_eq!(report["activities"], 8, "{report:#}");
        assert_eq!(
            report["countryLevel"], 8,
            "Albania, by country only: {report:#}"
        );
    }
    if let Some(example) = shared_fixture("standard-example-annotated-v2.03.xml") {
        let report = import(&node, &[&example, "--key", &care, "--dry-run"]);
        assert_eq!(report["activities"], 1, "{report:#}");
    }
}

#[test]
fn a_secondary_reporter_imports_another_publishers_file_with_the_ministrys_consent() {
    let Some(file) = shared_fixture("example-v2.03-locations.xml") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let node = Node::start_with(dir.path(), &["--demo"]);
    // The Netherlands' file (XM-DAC-7): refused under UNDP's key ...
    let undp = key(&node, "undp");
    let refused = import(&node, &[&file, "--key", &undp, "--dry-run"]);
    assert_eq!(
        refused["skippedByReason"]["reported_by_another_organisation"]
            .as_array()
            .map(Vec::len),
        Some(13),
        "{refused:#}"
    );
    // ... until the ministry consents that UNDP reports for the
    // Netherlands' two publisher identifiers in it (XM-DAC-7 and NL-1).
    let consent = dir.path().join("consent.json");
    std::fs::write(
        &consent,
        r#"[{"secondaryReportingConsented": {"orgId": "undp", "iatiOrgIdentifier": "XM-DAC-7",
             "note": "UNDP reports the Netherlands-funded activities it implements"}},
            {"secondaryReportingConsented": {"orgId": "undp", "iatiOrgIdentifier": "NL-1",
             "note": "UNDP reports the Netherlands-funded activities it implements"}}]"#,
    )
    .unwrap();
    let ministry = node.ministry_key().display().to_string();
    let submitted = cli(
        &node,
        &["submit", &consent.display().to_string(), "--key", &ministry],
    );
    assert!(submitted.status.success(), "{}", stderr(&submitted));
    let before = head_position(&node);
    let report = import(&node, &[&file, "--key", &undp]);
    assert!(
        report["skippedByReason"]["reported_by_another_organisation"].is_null(),
        "{report:#}"
    );
    let imported = report["imported"].as_u64().unwrap();
    assert!(imported > 0, "{report:#}");
    assert!(head_position(&node) > before, "{report:#}");
    // The identifiers are UNDP's projects now: another organisation's key
    // (CARE, which has no IATI identifier) cannot take them.
    let care = key(&node, "care");
    let again = import(&node, &[&file, "--key", &care, "--dry-run"]);
    assert_eq!(again["imported"].as_u64(), Some(0), "{again:#}");
}

/// What a report says the ledger answered, without timings and counts of
/// what was (or would be) written.
fn answers(report: &Value) -> Value {
    serde_json::json!({
        "activities": report["activities"],
        "imported": report["imported"],
        "unchanged": report["unchanged"],
        "skippedByReason": report["skippedByReason"],
        "overlaps": report["overlaps"],
        "heldForReview": report["heldForReview"],
    })
}

#[test]
fn a_dry_run_gets_the_answers_the_real_run_gets_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let node = Node::start_with(dir.path(), &["--demo"]);
    let care = key(&node, "care");
    let undp = key(&node, "undp");
    let map = fixture("pcode-map.csv");
    let undp_file = fixture("undp-libya-v2.03.xml");
    let mut runs: Vec<(String, Vec<&str>)> =
        vec![(undp_file.clone(), vec!["--key", &undp, "--pcode-map", &map])];
    // Albania is not a country of this ledger: the real run is refused for
    // every activity, and the dry run must say so (it once said "8 imported").
    let dfid = shared_fixture("dfid-albania-v2.01.xml");
    if let Some(dfid) = &dfid {
        runs.push((dfid.clone(), vec!["--key", &care]));
    }
    runs.push((
        fixture("undp-libya-v2.03.xml"),
        vec!["--key", &undp, "--pcode-map", &map],
    ));
    for (file, args) in runs {
        let mut dry_args = vec![file.as_str()];
        dry_args.extend(&args);
        dry_args.push("--dry-run");
        let before = head_position(&node);
        let dry = import(&node, &dry_args);
        assert_eq!(head_position(&node), before, "a dry run writes nothing");
        let mut real_args = vec![file.as_str()];
        real_args.extend(&args);
        let real = import(&node, &real_args);
        assert_eq!(
            answers(&dry),
            answers(&real),
            "{file}: dry run {dry:#}\nreal run {real:#}"
        );
        if Some(&file) == dfid.as_ref() {
            let refused = real["skippedByReason"]["refused_by_the_ledger"]
                .as_array()
                .map(Vec::len);
            assert_eq!(refused, Some(8), "{real:#}");
            assert!(
                real["skippedByReason"].to_string().contains("AL"),
                "the refusal names the unknown country: {real:#}"
            );
        }
    }
}

/// An IATI 2.03 activity of CARE's (reporting-org GB-CHC-292506) in
/// `country`, at the P-code `pcode` when given (else by country only).
fn care_activity(n: u32, country: &str, pcode: Option<&str>) -> String {
    let location = pcode.map_or_else(String::new, |pcode| {
        format!(
            r#"<location><administrative vocabulary="G1" level="2" code="{pcode}"/></location>"#
        )
    });
    format!(
        r#"<iati-activity default-currency="EUR"><iati-identifier>GB-CHC-292506-MIX-{n}</iati-identifier><reporting-org ref="GB-CHC-292506" type="21"><narrative>CARE</narrative></reporting-org><title><narrative>Mixed file activity {n}</narrative></title><activity-status code="2"/><activity-date type="start-planned" iso-date="2026-02-01"/><recipient-country code="{country}" percentage="100"/>{location}<sector vocabulary="1" code="16020" percentage="100"/></iati-activity>"#
    )
}

#[test]
fn activities_the_ledger_refuses_are_skipped_and_the_others_between_them_imported() {
    let dir = tempfile::tempdir().unwrap();
    let node = Node::start_with(dir.path(), &["--demo"]);
    let care = key(&node, "care");
    // The CLI sends several activities per request; Albania is no country
    // of this ledger, so the request holding 2 and 4 is refused whole and
    // each of its activities must then be tried alone.
    let activities = [
        care_activity(1, "SY", Some("SY0901")),
        care_activity(2, "AL", None),
        care_activity(3, "LY", Some("LY0305")),
        care_activity(4, "AL", None),
        care_activity(5, "MA", Some("MA0901")),
    ];
    let file = dir.path().join("mixed.xml");
    std::fs::write(
        &file,
        format!(
            r#"<?xml version="1.0" encoding="UTF-8"?><iati-activities version="2.03">{}</iati-activities>"#,
            activities.concat()
        ),
    )
    .unwrap();
    let file = file.display().to_string();
    let before = head_position(&node);
    let dry = import(&node, &[&file, "--key", &care, "--dry-run"]);
    let real = import(&node, &[&file, "--key", &care]);
    assert_eq!(answers(&dry), answers(&real), "dry {dry:#}\nreal {real:#}");
    assert_eq!(real["imported"], 3, "{real:#}");
    let refused: Vec<&str> = real["skippedByReason"]["refused_by_the_ledger"]
        .as_array()
        .unwrap()
        .iter()
        .map(|skipped| skipped["activity"].as_str().unwrap())
        .collect();
    assert_eq!(
        refused,
        ["GB-CHC-292506-MIX-2", "GB-CHC-292506-MIX-4"],
        "{real:#}"
    );
    assert_eq!(
        head_position(&node),
        before + 3,
        "one registration per imported activity, nothing of the refused ones"
    );
    for pcode in ["SY0901", "LY0305", "MA0901"] {
        let supports = table(&node, &["who-supports", pcode]);
        assert!(
            supports.contains("Mixed file activity"),
            "{pcode}: {supports}"
        );
    }
    // Importing it again writes nothing and refuses the same two.
    let again = import(&node, &[&file, "--key", &care]);
    assert_eq!(again["unchanged"], 3, "{again:#}");
    assert_eq!(head_position(&node), before + 3);
}

#[test]
fn exporting_iati_and_importing_it_into_a_fresh_ledger_gives_the_same_coverage() {
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let a = Node::start_with(dir_a.path(), &["--demo"]);
    let b = Node::start_with(dir_b.path(), &["--demo"]);
    // Ledger A: the demo and UNDP's file.
    let file = fixture("undp-libya-v2.03.xml");
    let map = fixture("pcode-map.csv");
    import(&a, &[&file, "--key", &key(&a, "undp"), "--pcode-map", &map]);
    // UNDP reports results of one of them: a count with a baseline and two
    // periods, and a qualitative indicator.
    let results = dir_a.path().join("results.json");
    std::fs::write(
        &results,
        r#"[{"resultReported": {"projectId": "xm-dac-41114-lby-tq-001", "resultId": "wells",
            "resultType": "RESULT_TYPE_OUTPUT", "title": {"latin": "Wells rehabilitated", "arabic": "آبار مؤهلة"},
            "indicator": {"title": {"latin": "Wells"}, "measure": "INDICATOR_MEASURE_UNIT", "ascending": true,
              "vocabulary": "1", "code": "WASH-1",
              "baseline": {"value": "2", "comment": "before the project"}, "baselineYear": 2025,
              "periods": [{"start": "2026-01-01", "end": "2026-06-30", "target": {"value": "10"}, "actual": {"value": "7", "comment": "3 delayed"}},
                          {"start": "2026-07-01", "end": "2026-12-31", "target": {"value": "20"}}]}}},
          {"resultReported": {"projectId": "xm-dac-41114-lby-tq-001", "resultId": "satisfaction",
            "resultType": "RESULT_TYPE_OUTCOME", "title": {"latin": "Users satisfied"},
            "indicator": {"title": {"latin": "Satisfaction"}, "measure": "INDICATOR_MEASURE_QUALITATIVE",
              "periods": [{"start": "2026-01-01", "end": "2026-12-31", "target": {"comment": "most users satisfied"}}]}}}]"#,
    )
    .unwrap();
    let submitted = cli(
        &a,
        &[
            "submit",
            results.to_str().unwrap(),
            "--key",
            &key(&a, "undp"),
        ],
    );
    assert!(submitted.status.success(), "{}", stderr(&submitted));

    // UNDP's projects leave A as IATI 2.03 and enter B (which has the demo only).
    let exported = cli(&a, &["export", "iati", "--org", "undp"]);
    assert!(exported.status.success(), "{}", stderr(&exported));
    let xml = stdout(&exported);
    assert!(xml.contains("<iati-activities version=\"2.03\""), "{xml}");
    let path = dir_a.path().join("undp-export.xml");
    std::fs::write(&path, &xml).unwrap();
    assert_valid_iati_203(&path);
    let path = path.display().to_string();
    let report = import(&b, &[&path, "--key", &key(&b, "undp")]);
    // The demo's UNDP projects were already in B: the export carried them
    // exactly (details and transactions), so nothing changes for them.
    assert_eq!(report["activities"], 8, "{report:#}");
    assert_eq!(report["unchanged"], 4, "{report:#}");
    assert_eq!(report["imported"], 4, "{report:#}");
    assert_eq!(report["skipped"], 0, "{report:#}");

    // The whole ledger's export (the demo's donors too) is valid IATI 2.03.
    let everything = cli(&a, &["export", "iati"]);
    assert!(everything.status.success(), "{}", stderr(&everything));
    let all_path = dir_a.path().join("all-export.xml");
    std::fs::write(&all_path, stdout(&everything)).unwrap();
    assert_valid_iati_203(&all_path);

    // The results came over as they were reported.
    let results_of = |node: &Node| {
        let answer: Value = serde_json::from_str(&stdout(&cli(
            node,
            &["--output", "json", "results", "xm-dac-41114-lby-tq-001"],
        )))
        .unwrap();
        answer["results"].clone()
    };
    let (in_a, in_b) = (results_of(&a), results_of(&b));
    assert_eq!(in_a.as_array().map(Vec::len), Some(2), "{in_a:#}");
    assert_eq!(in_a, in_b);
    // Importing the same file again writes nothing.
    let again = import(&b, &[&path, "--key", &key(&b, "undp")]);
    assert_eq!(again["unchanged"], 8, "{again:#}");

    // Every coverage answer is the same on both ledgers.
    for query in [
        vec!["export", "csv"],
        vec!["export", "hxl"],
        vec!["--output", "json", "overlaps", "--all"],
        vec!["--output", "json", "gaps"],
        vec!["--output", "json", "who-supports", "LY", "--children"],
        vec!["--output", "json", "matrix", "LY"],
    ] {
        let (one, two) = (table(&a, &query), table(&b, &query));
        // The imported projects cover both of the demo's gaps: that one is empty.
        assert!(
            query.contains(&"gaps") || !one.trim().is_empty(),
            "{query:?} answers something"
        );
        assert_eq!(strip_info(&one), strip_info(&two), "{query:?}");
    }
}

/// `xmllint --schema` with the IATI 2.03 activity schema
/// (tests/fixtures/iati-schema-2.03, the standard's own files).
fn assert_valid_iati_203(path: &std::path::Path) {
    let schema = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/iati-schema-2.03/iati-activities-schema.xsd");
    let output = std::process::Command::new("xmllint")
        .args(["--noout", "--schema"])
        .arg(&schema)
        .arg(path)
        .output()
        .expect("xmllint is missing: run scripts/test.sh (it installs libxml2-utils)");
    assert!(
        output.status.success(),
        "{} is not valid IATI 2.03: {}",
        path.display(),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// An answer without the lines that name the node's own log position.
fn strip_info(answer: &str) -> Vec<&str> {
    answer
        .lines()
        .filter(|line| !line.starts_with("as of ") && !line.contains("\"info\""))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn donor_systems_get_the_import_plan_over_grpc_in_chunks() {
    use tansiq_proto::v1 as pb;
    use tansiq_proto::v1::interchange_client::InterchangeClient;

    let dir = tempfile::tempdir().unwrap();
    let node = Node::start_with(dir.path(), &["--demo"]);
    let mut client = InterchangeClient::new(node.channel().await);
    let bytes = std::fs::read(fixture("undp-libya-v2.03.xml")).unwrap();
    let map = std::fs::read_to_string(fixture("pcode-map.csv")).unwrap();
    let chain = tansiq_ledger::signing::ChainId::parse(
        &node
            .client()
            .await
            .get_head(pb::GetHeadRequest {})
            .await
            .unwrap()
            .into_inner()
            .chain_id,
    )
    .unwrap();
    // Small chunks: the node reads the file as it arrives. The first one
    // says who asks, signed with one of that organisation's keys.
    let chunks = |key_file: &str, signed_at_ms: i64| -> Vec<pb::IatiImportChunk> {
        let (_, key) =
            tansiq_ledger::author::KeyFile::read(std::path::Path::new(&key(&node, key_file)))
                .unwrap();
        let message = tansiq_ledger::signing::plan_request_bytes(&chain, "undp", signed_at_ms);
        bytes
            .chunks(700)
            .enumerate()
            .map(|(index, data)| match index {
                0 => pb::IatiImportChunk {
                    data: data.to_vec(),
                    org_id: "undp".into(),
                    pcode_map: map.clone(),
                    signer_key: key.public().0.to_vec(),
                    signed_at_ms,
                    signature: key.sign_bytes(&message).to_vec(),
                },
                _ => pb::IatiImportChunk {
                    data: data.to_vec(),
                    ..Default::default()
                },
            })
            .collect()
    };
    let now = tansiq_ledger::author::now_ms();
    // Nobody, CARE's key for UNDP, an old signature: refused.
    let mut unsigned = chunks("undp", now);
    unsigned[0].signature.clear();
    for (attempt, code) in [
        (unsigned, tonic::Code::Unauthenticated),
        (chunks("care", now), tonic::Code::PermissionDenied),
        (
            chunks("undp", now - 3_600_000),
            tonic::Code::Unauthenticated,
        ),
    ] {
        let refused = client
            .plan_iati_import(tokio_stream::iter(attempt))
            .await
            .unwrap_err();
        assert_eq!(refused.code(), code, "{refused:?}");
    }
    let plan = client
        .plan_iati_import(tokio_stream::iter(chunks("undp", now)))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(plan.version, "2.03");
    assert_eq!(plan.activities_read, 5);
    assert_eq!(plan.activities.len(), 4);
    assert_eq!(plan.skipped[0].reason, "no_location");
    let first = &plan.activities[0];
    assert_eq!(first.project_id, "xm-dac-41114-lby-tq-001");
    let kinds: Vec<&str> = first
        .bodies
        .iter()
        .map(|b| tansiq_ledger::event::kind_name(b.kind.as_ref().unwrap()))
        .collect();
    assert_eq!(
        kinds,
        [
            "project_registered",
            "transaction_recorded",
            "transaction_recorded"
        ]
    );

    // A bad file: INVALID_ARGUMENT naming the line.
    let mut bad = chunks("undp", now);
    bad.truncate(1);
    bad[0].data = b"<iati-activities>\n<iati-activity>\n<title></sector>".to_vec();
    let refused = client
        .plan_iati_import(tokio_stream::iter(bad))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), tonic::Code::InvalidArgument);
    assert!(
        refused.message().contains("line 3"),
        "{}",
        refused.message()
    );
}
