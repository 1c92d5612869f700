//! Results and attestations against a real `tansiq-node --dev --demo`,
//! through the CLI: what the demo's municipalities and implementer said,
//! every rule of who may report and attest what (allowed and refused, the
//! ledger unchanged by a refusal), and coverage read as reported and as
//! confirmed.

// Test code: a panic with its location is the failure report.
#![allow(clippy::unwrap_used)]

use base64::Engine;
use serde_json::Value;
use tansiq_tests::{cli, stderr, stdout, Node};

fn json(node: &Node, args: &[&str]) -> Value {
    let mut all = vec!["--output", "json"];
    all.extend_from_slice(args);
    let output = cli(node, &all);
    assert!(output.status.success(), "{args:?}: {}", stderr(&output));
    serde_json::from_str(&stdout(&output)).unwrap()
}

fn json_lines(node: &Node, args: &[&str]) -> Vec<Value> {
    let mut all = vec!["--output", "json"];
    all.extend_from_slice(args);
    let output = cli(node, &all);
    assert!(output.status.success(), "{args:?}: {}", stderr(&output));
    stdout(&output)
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}

struct Demo {
    dir: tempfile::TempDir,
    node: Node,
}

impl Demo {
    fn start() -> Demo {
        let dir = tempfile::tempdir().unwrap();
        let node = Node::start_with(dir.path(), &["--demo"]);
        Demo { dir, node }
    }

    fn key(&self, org: &str) -> String {
        let path = if org == "ministry" {
            self.dir.path().join("ministry.key")
        } else {
            self.dir.path().join("demo-keys").join(format!("{org}.key"))
        };
        path.display().to_string()
    }

    fn head(&self) -> Value {
        json(&self.node, &["head"])
    }

    /// Submits `body` (the JSON form) as `org`; the receipt.
    fn submit(&self, org: &str, name: &str, body: &str) -> Value {
        let file = self.dir.path().join(name);
        std::fs::write(&file, body).unwrap();
        json(
            &self.node,
            &["submit", file.to_str().unwrap(), "--key", &self.key(org)],
        )
    }

    /// Submits `body` as `org` and expects a refusal with `code` whose
    /// message holds `reason`; the ledger must not move.
    fn refused(&self, org: &str, name: &str, body: &str, code: &str, reason: &str) {
        let file = self.dir.path().join(name);
        std::fs::write(&file, body).unwrap();
        let before = self.head();
        let output = cli(
            &self.node,
            &["submit", file.to_str().unwrap(), "--key", &self.key(org)],
        );
        let message = stderr(&output);
        assert!(!output.status.success(), "{name} was accepted");
        assert!(
            message.contains(code) && message.contains(reason),
            "{name}: expected {code} and {reason:?}, got {message}"
        );
        assert_eq!(self.head(), before, "{name} changed the ledger");
    }
}

/// The `transaction` subject's JSON form: an event id in base64 (the CLI's
/// JSON answers give ids in base64, as proto3 JSON does; tables in hex).
fn event_b64(id: &str) -> String {
    match hex::decode(id) {
        Ok(bytes) if bytes.len() == 32 => base64::engine::general_purpose::STANDARD.encode(bytes),
        _ => id.to_owned(),
    }
}

/// A result of USAID's governance programme in Ghadames, with one period
/// whose target and actual are given (as JSON values).
fn result_json(kind: &str, result_id: &str, measure: &str, period: &str) -> String {
    format!(
        r#"{{"{kind}": {{"projectId": "usaid-ghadames-governance", "resultId": "{result_id}",
        "resultType": "RESULT_TYPE_OUTPUT", "title": {{"latin": "Revenue collected"}},
        "indicator": {{"title": {{"latin": "Share of fees collected"}}, "measure": "{measure}",
        "periods": [{period}]}}}}}}"#
    )
}

#[test]
fn the_demo_reads_as_reported_and_as_confirmed() {
    let demo = Demo::start();
    let node = &demo.node;

    // Ghadames' council confirmed USAID's governance output; the period
    // shows target, reported and confirmed actual.
    let results = json(node, &["results", "usaid-ghadames-governance"]);
    let staff = &results["results"][0];
    assert_eq!(staff["resultId"], "staff-trained", "{results:#}");
    let period = &staff["periods"][0];
    assert_eq!(
        (
            &period["target"],
            &period["reportedActual"],
            &period["confirmedActual"],
            &period["verdict"]
        ),
        (
            &Value::from("60"),
            &Value::from("45"),
            &Value::from("45"),
            &Value::from("ATTESTATION_VERDICT_CONFIRMED")
        ),
        "{results:#}"
    );
    // It disputes the amount of a disbursement, saying what it received.
    let disputes = json_lines(node, &["disputes", "LY"]);
    assert_eq!(disputes.len(), 1, "{disputes:#?}");
    let dispute = &disputes[0];
    assert_eq!(dispute["projectId"], "usaid-ghadames-governance");
    assert_eq!(dispute["attestation"]["attester"], "ghadames-municipality");
    assert_eq!(dispute["attestation"]["value"], "240000");
    assert!(dispute["attestation"]["subject"]
        .as_str()
        .unwrap()
        .starts_with("transaction/"));
    // Al-Muwaqqar confirmed the ILO project's beneficiaries.
    let ilo = json(node, &["results", "ilo-muwaqqar-decent-work"]);
    assert_eq!(
        ilo["results"][0]["periods"][0]["confirmedActual"], "380",
        "{ilo:#}"
    );
    // The implementer in Deir ez-Zor confirmed receipt of UNDP's funds.
    let undp = json(node, &["results", "undp-deir-small-enterprises"]);
    let receipt = undp["attestations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["attester"] == "deir-enterprise-centre")
        .unwrap_or_else(|| panic!("{undp:#}"));
    assert_eq!(receipt["verdict"], "ATTESTATION_VERDICT_CONFIRMED");

    // Ghadames: both projects are reported there; only USAID's is
    // confirmed by the council.
    let reported = json_lines(node, &["who-supports", "LY0305"]);
    let confirmed = json_lines(node, &["who-supports", "LY0305", "--confirmed"]);
    let ids = |rows: &[Value]| -> Vec<String> {
        rows.iter()
            .map(|row| row["projectId"].as_str().unwrap().to_owned())
            .collect()
    };
    assert!(ids(&reported).contains(&"undp-ghadames-local-governance".to_owned()));
    assert_eq!(
        ids(&confirmed),
        ["usaid-ghadames-governance"],
        "{confirmed:#?}"
    );
    assert_eq!(
        confirmed[0]["activityAttested"],
        "ATTESTATION_VERDICT_CONFIRMED"
    );

    // Al-Muwaqqar's employment need is covered by the ILO project as
    // reported; nobody confirmed the project active there, so counting
    // confirmed support only, it is a gap.
    let gap_places = |count: &str| -> Vec<String> {
        json_lines(node, &["gaps", "JO", "--count", count])
            .iter()
            .map(|gap| {
                format!(
                    "{} {}",
                    gap["pcode"].as_str().unwrap(),
                    gap["sector"].as_str().unwrap()
                )
            })
            .collect()
    };
    assert!(!gap_places("reported").contains(&"JO1105 16020".to_owned()));
    assert!(gap_places("confirmed").contains(&"JO1105 16020".to_owned()));
    // Once Al-Muwaqqar confirms it, it is covered again.
    demo.submit(
        "muwaqqar-municipality",
        "active.json",
        r#"{"attestationMade": {"projectActive": "ilo-muwaqqar-decent-work", "verdict": "ATTESTATION_VERDICT_CONFIRMED"}}"#,
    );
    assert!(!gap_places("confirmed").contains(&"JO1105 16020".to_owned()));
    // The matrix counting confirmed support holds fewer projects.
    let projects = |count: &str| -> u64 {
        json_lines(node, &["matrix", "LY", "--count", count])
            .iter()
            .map(|cell| cell["projects"].as_u64().unwrap_or_default())
            .sum()
    };
    assert!(projects("confirmed") < projects("reported"));
    assert!(projects("confirmed") >= 1);
}

#[test]
fn who_may_report_and_attest_what_is_enforced_by_the_ledger() {
    let demo = Demo::start();
    let node = &demo.node;
    let period = |target: &str, actual: &str| {
        format!(
            r#"{{"start": "2026-01-01", "end": "2026-06-30", "target": {target}, "actual": {actual}}}"#
        )
    };
    let percent = "INDICATOR_MEASURE_PERCENTAGE";
    // Bad results: each refused with its field, nothing written.
    demo.refused(
        "usaid",
        "over-100.json",
        &result_json(
            "resultReported",
            "fees",
            percent,
            &period(r#"{"value": "120"}"#, "{}"),
        ),
        "InvalidArgument",
        "over 100",
    );
    demo.refused(
        "usaid",
        "backwards.json",
        &result_json(
            "resultReported",
            "fees",
            percent,
            r#"{"start": "2026-06-30", "end": "2026-01-01", "target": {"value": "50"}}"#,
        ),
        "InvalidArgument",
        "is before",
    );
    demo.refused(
        "usaid",
        "unit.json",
        &result_json(
            "resultReported",
            "fees",
            percent,
            &period(
                r#"{"value": "50", "measure": "INDICATOR_MEASURE_UNIT"}"#,
                "{}",
            ),
        ),
        "InvalidArgument",
        "the indicator's measure",
    );
    // A donor that does not own the project, and an implementer it does not name.
    let good = result_json(
        "resultReported",
        "fees",
        percent,
        &period(r#"{"value": "50"}"#, r#"{"value": "40"}"#),
    );
    demo.refused(
        "undp",
        "foreign.json",
        &good,
        "PermissionDenied",
        "only its owner",
    );
    demo.refused(
        "deir-enterprise-centre",
        "unnamed-implementer.json",
        &good,
        "PermissionDenied",
        "only its owner",
    );
    // The owner reports it; a second report of the same id is refused, an update is not.
    demo.submit("usaid", "fees.json", &good);
    demo.refused(
        "usaid",
        "again.json",
        &good,
        "AlreadyExists",
        "already registered",
    );
    demo.submit(
        "usaid",
        "fees-update.json",
        &result_json(
            "resultUpdated",
            "fees",
            percent,
            &period(r#"{"value": "50"}"#, r#"{"value": "45"}"#),
        ),
    );
    // An implementer the project names reports its results.
    demo.submit(
        "deir-enterprise-centre",
        "implementer.json",
        r#"{"resultReported": {"projectId": "undp-deir-small-enterprises", "resultId": "enterprises",
            "resultType": "RESULT_TYPE_OUTPUT", "title": {"latin": "Enterprises started"},
            "indicator": {"title": {"latin": "Enterprises"}, "measure": "INDICATOR_MEASURE_UNIT",
            "periods": [{"start": "2026-01-01", "end": "2026-12-31", "target": {"value": "30"}, "actual": {"value": "12"}}]}}}"#,
    );

    // Attestations.
    let attest = |subject: &str, verdict: &str| {
        format!(
            r#"{{"attestationMade": {{{subject}, "verdict": "ATTESTATION_VERDICT_{verdict}", "note": "checked"}}}}"#
        )
    };
    // A municipality outside its P-code.
    demo.refused(
        "muwaqqar-municipality",
        "outside.json",
        &attest(
            r#""projectActive": "usaid-ghadames-governance""#,
            "CONFIRMED",
        ),
        "PermissionDenied",
        "only for its P-code JO1105",
    );
    // A donor attesting a project's activity: that is a municipality's word.
    demo.refused(
        "undp",
        "donor-active.json",
        &attest(
            r#""projectActive": "usaid-ghadames-governance""#,
            "CONFIRMED",
        ),
        "PermissionDenied",
        "ORG_ROLE_LOCAL_GOVERNMENT",
    );
    // An event that does not exist, and one that is not a disbursement.
    demo.refused(
        "ghadames-municipality",
        "no-event.json",
        &attest(
            &format!(r#""transaction": "{}""#, event_b64(&"ab".repeat(32))),
            "CONFIRMED",
        ),
        "FailedPrecondition",
        "is not registered",
    );
    let history = json_lines(node, &["history", "usaid-ghadames-governance"]);
    let registration = history
        .iter()
        .find(|entry| entry["kind"] == "project_registered")
        .unwrap();
    demo.refused(
        "ghadames-municipality",
        "not-a-disbursement.json",
        &attest(
            &format!(
                r#""transaction": "{}""#,
                event_b64(registration["eventId"].as_str().unwrap())
            ),
            "CONFIRMED",
        ),
        "InvalidArgument",
        "not a TransactionRecorded",
    );
    // A result period with nothing delivered yet, and a result the project does not have.
    demo.refused(
        "ghadames-municipality",
        "no-result.json",
        &attest(
            r#""resultDelivered": {"projectId": "usaid-ghadames-governance", "resultId": "nothing", "periodStart": "2026-01-01"}"#,
            "CONFIRMED",
        ),
        "FailedPrecondition",
        "is not registered",
    );
    // The claim's own author: a donor recording a disbursement to itself
    // cannot confirm receiving it.
    let paid = demo.submit(
        "usaid",
        "to-itself.json",
        r#"{"transactionRecorded": {"projectId": "usaid-ghadames-governance", "transactionType": 3,
            "date": "2026-02-01", "value": {"value": "1000", "currency": "USD"}, "receiverOrgId": "usaid"}}"#,
    );
    let paid_id = paid["event_id"]
        .as_str()
        .unwrap_or_else(|| panic!("{paid:#}"));
    demo.refused(
        "usaid",
        "own-claim.json",
        &attest(
            &format!(r#""transaction": "{}""#, event_b64(paid_id)),
            "CONFIRMED",
        ),
        "PermissionDenied",
        "its own claim",
    );
    // An implementer attests only transactions made to it; the
    // municipality where the project is attests any disbursement of it.
    demo.refused(
        "deir-enterprise-centre",
        "not-its-transaction.json",
        &attest(
            &format!(r#""transaction": "{}""#, event_b64(paid_id)),
            "CONFIRMED",
        ),
        "PermissionDenied",
        "not named as receiver",
    );
    demo.submit(
        "ghadames-municipality",
        "where-the-project-is.json",
        &attest(
            &format!(r#""transaction": "{}""#, event_b64(paid_id)),
            "CONFIRMED",
        ),
    );
    // A disputed or partly verdict needs a note.
    demo.refused(
        "ghadames-municipality",
        "no-note.json",
        r#"{"attestationMade": {"projectActive": "usaid-ghadames-governance", "verdict": "ATTESTATION_VERDICT_DISPUTED"}}"#,
        "InvalidArgument",
        "note",
    );
    // Allowed: the council of Ghadames on the updated result, partly, with its value.
    demo.submit(
        "ghadames-municipality",
        "partly.json",
        r#"{"attestationMade": {"resultDelivered": {"projectId": "usaid-ghadames-governance", "resultId": "fees", "periodStart": "2026-01-01"},
            "verdict": "ATTESTATION_VERDICT_PARTLY", "note": "40% by the council's accounts", "value": "40"}}"#,
    );
    let results = json(node, &["results", "usaid-ghadames-governance"]);
    let fees = results["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["resultId"] == "fees")
        .unwrap();
    assert_eq!(fees["periods"][0]["reportedActual"], "45", "{results:#}");
    assert_eq!(fees["periods"][0]["confirmedActual"], "40", "{results:#}");
    assert_eq!(fees["periods"][0]["verdict"], "ATTESTATION_VERDICT_PARTLY");

    // A local government needs a registered P-code.
    // RFC 8032 test 1 public key.
    let key = "11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=";
    let municipality = |pcode: &str| {
        format!(
            r#"{{"organisationRegistered": {{"orgId": "nalut-municipality", "role": "ORG_ROLE_LOCAL_GOVERNMENT",
            "name": {{"latin": "Nalut"}}, "keys": ["{key}"]{pcode}}}}}"#
        )
    };
    demo.refused(
        "ministry",
        "no-pcode.json",
        &municipality(""),
        "InvalidArgument",
        "pcode",
    );
    demo.refused(
        "ministry",
        "unknown-pcode.json",
        &municipality(r#", "pcode": "LY0399""#),
        "FailedPrecondition",
        "LY0399",
    );
}
