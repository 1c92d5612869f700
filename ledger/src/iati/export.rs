//! Writing the ledger's projects as an IATI 2.03 `iati-activities` file.
//!
//! What IATI has no place for travels in elements and attributes of the
//! Tansiq namespace ([`NAMESPACE`], allowed by the IATI schema as
//! extensions): the ledger's project id, participants' ledger org ids and
//! location percentages. [`super::read`] reads them back, so that exporting
//! and importing again gives the same projects.

use std::fmt::Write as _;

use tansiq_proto::v1 as pb;

use crate::event::codes::ActivityStatus;

/// The namespace of Tansiq's IATI extensions.
pub const NAMESPACE: &str = "https://tansiq.org/ns/iati/1";

/// IATI's GeographicVocabulary has no code for OCHA P-codes; the export
/// names them with this (the schema takes any string; the importer reads
/// any code shaped like a P-code, whatever its vocabulary).
pub const PCODE_VOCABULARY: &str = "OCHA-PCODE";

/// A project as the ledger holds it.
#[derive(Clone, Debug, Default)]
pub struct ExportedProject {
    /// The project's ledger id.
    pub project_id: String,
    /// The ledger org id of the reporting organisation (its author).
    pub owner: String,
    /// The reporting organisation's IATI identifier (else its org id is used).
    pub owner_iati_identifier: String,
    /// Its IATI OrganisationType (0 when not known: written as 90, "Other").
    pub owner_org_type: u32,
    /// The reporting organisation's names, when registered.
    pub owner_name: Option<pb::Names>,
    /// The project's latest details.
    pub details: pb::ProjectDetails,
    /// The project's status now (a status change or closure after the last
    /// details is reflected here).
    pub status: ActivityStatus,
    /// The day a closed or cancelled project ended.
    pub closed_on: String,
    /// Its recorded transactions, in log order.
    pub transactions: Vec<pb::TransactionRecorded>,
    /// Its results as last reported, by result id.
    pub results: Vec<pb::ResultReported>,
    /// Other parties' word on its claims: (subject, attester, record).
    pub attestations: Vec<(String, String, crate::store::AttestationRecord)>,
}

fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

fn narratives(out: &mut String, indent: &str, names: Option<&pb::Names>) {
    let Some(names) = names else { return };
    if !names.latin.is_empty() {
        let _ = writeln!(
            out,
            "{indent}<narrative>{}</narrative>",
            escape(&names.latin)
        );
    }
    if !names.arabic.is_empty() {
        let _ = writeln!(
            out,
            "{indent}<narrative xml:lang=\"ar\">{}</narrative>",
            escape(&names.arabic)
        );
    }
}

fn has_text(names: Option<&pb::Names>) -> bool {
    names.is_some_and(|n| !n.latin.is_empty() || !n.arabic.is_empty())
}

/// One `iati-activity` element.
fn activity(out: &mut String, project: &ExportedProject) {
    let details = &project.details;
    let currency = details
        .budget
        .as_ref()
        .map(|b| b.currency.clone())
        .or_else(|| {
            project
                .transactions
                .first()
                .and_then(|t| t.value.as_ref().map(|v| v.currency.clone()))
        })
        .unwrap_or_default();
    out.push_str("  <iati-activity xml:lang=\"en\"");
    if !currency.is_empty() {
        let _ = write!(out, " default-currency=\"{}\"", escape(&currency));
    }
    out.push_str(">\n");
    let _ = writeln!(
        out,
        "    <iati-identifier>{}</iati-identifier>",
        escape(&details.iati_identifier)
    );
    let reference = if project.owner_iati_identifier.is_empty() {
        &project.owner
    } else {
        &project.owner_iati_identifier
    };
    let org_type = match project.owner_org_type {
        0 => 90,
        known => known,
    };
    let _ = writeln!(
        out,
        "    <reporting-org ref=\"{}\" type=\"{org_type}\" tansiq:org-id=\"{}\">",
        escape(reference),
        escape(&project.owner)
    );
    if has_text(project.owner_name.as_ref()) {
        narratives(out, "      ", project.owner_name.as_ref());
    } else {
        let _ = writeln!(
            out,
            "      <narrative>{}</narrative>",
            escape(&project.owner)
        );
    }
    out.push_str("    </reporting-org>\n");
    out.push_str("    <title>\n");
    narratives(out, "      ", details.title.as_ref());
    out.push_str("    </title>\n");
    // The 2.03 schema requires a description; an empty narrative stands
    // for "none" (and reads back as none).
    out.push_str("    <description type=\"1\">\n");
    if has_text(details.description.as_ref()) {
        narratives(out, "      ", details.description.as_ref());
    } else {
        out.push_str("      <narrative></narrative>\n");
    }
    out.push_str("    </description>\n");
    // The 2.03 schema requires a participating-org: a project that names
    // none gets its reporting organisation as accountable, marked implied
    // (the importer leaves it out again).
    if details.participants.is_empty() {
        let _ = writeln!(
            out,
            "    <participating-org role=\"2\" ref=\"{}\" type=\"{org_type}\" tansiq:implied=\"true\"/>",
            escape(reference)
        );
    }
    for participant in &details.participants {
        let _ = write!(out, "    <participating-org role=\"{}\"", participant.role);
        if !participant.iati_identifier.is_empty() {
            let _ = write!(out, " ref=\"{}\"", escape(&participant.iati_identifier));
        }
        if !participant.org_id.is_empty() {
            let _ = write!(out, " tansiq:org-id=\"{}\"", escape(&participant.org_id));
        }
        if has_text(participant.name.as_ref()) {
            out.push_str(">\n");
            narratives(out, "      ", participant.name.as_ref());
            out.push_str("    </participating-org>\n");
        } else {
            out.push_str("/>\n");
        }
    }
    let _ = writeln!(out, "    <activity-status code=\"{}\"/>", project.status);
    let actual_end = if details.actual_end.is_empty() {
        project.closed_on.as_str()
    } else {
        details.actual_end.as_str()
    };
    for (kind, date) in [
        (1, details.planned_start.as_str()),
        (2, details.actual_start.as_str()),
        (3, details.planned_end.as_str()),
        (4, actual_end),
    ] {
        if !date.is_empty() {
            let _ = writeln!(
                out,
                "    <activity-date type=\"{kind}\" iso-date=\"{}\"/>",
                escape(date)
            );
        }
    }
    for location in details.locations.iter().filter(|l| l.pcode.len() == 2) {
        let _ = writeln!(
            out,
            "    <recipient-country code=\"{}\" percentage=\"{}\"/>",
            escape(&location.pcode),
            location.percentage
        );
    }
    for location in details.locations.iter().filter(|l| l.pcode.len() > 2) {
        let _ = writeln!(
            out,
            "    <location>\n      <administrative vocabulary=\"{PCODE_VOCABULARY}\" code=\"{}\" tansiq:percentage=\"{}\"/>\n    </location>",
            escape(&location.pcode),
            location.percentage
        );
    }
    for sector in &details.sectors {
        let _ = writeln!(
            out,
            "    <sector vocabulary=\"{}\" code=\"{}\" percentage=\"{}\"/>",
            if sector.code.len() == 3 { 2 } else { 1 },
            escape(&sector.code),
            sector.percentage
        );
    }
    if let Some(budget) = &details.budget {
        let (start, end) = match (
            details.planned_start.as_str(),
            details.planned_end.as_str(),
            details.actual_start.as_str(),
            actual_end,
        ) {
            (start, end, _, _) if !start.is_empty() && !end.is_empty() => (start, end),
            (_, _, start, end) if !start.is_empty() && !end.is_empty() => (start, end),
            _ => ("", ""),
        };
        if !start.is_empty() {
            let _ = writeln!(
                out,
                "    <budget type=\"1\" status=\"1\">\n      <period-start iso-date=\"{0}\"/>\n      <period-end iso-date=\"{1}\"/>\n      <value currency=\"{2}\" value-date=\"{0}\">{3}</value>\n    </budget>",
                escape(start),
                escape(end),
                escape(&budget.currency),
                escape(&budget.value)
            );
        }
    }
    for transaction in &project.transactions {
        let value = transaction.value.clone().unwrap_or_default();
        let _ = writeln!(
            out,
            "    <transaction>\n      <transaction-type code=\"{}\"/>\n      <transaction-date iso-date=\"{1}\"/>\n      <value currency=\"{2}\" value-date=\"{1}\">{3}</value>",
            transaction.transaction_type,
            escape(&transaction.date),
            escape(&value.currency),
            escape(&value.value)
        );
        if !transaction.description.is_empty() {
            let _ = writeln!(
                out,
                "      <description>\n        <narrative>{}</narrative>\n      </description>",
                escape(&transaction.description)
            );
        }
        if !transaction.provider_activity_id.is_empty() {
            let _ = writeln!(
                out,
                "      <provider-org provider-activity-id=\"{}\"/>",
                escape(&transaction.provider_activity_id)
            );
        }
        if !transaction.receiver_org_id.is_empty() {
            let _ = writeln!(
                out,
                "      <receiver-org tansiq:org-id=\"{}\"/>",
                escape(&transaction.receiver_org_id)
            );
        }
        out.push_str("    </transaction>\n");
    }
    for result in &project.results {
        write_result(out, result);
    }
    let _ = writeln!(
        out,
        "    <tansiq:project-id>{}</tansiq:project-id>",
        escape(&project.project_id)
    );
    for (subject, attester, word) in &project.attestations {
        let verdict = match word.verdict {
            pb::AttestationVerdict::Confirmed => "CONFIRMED",
            pb::AttestationVerdict::Disputed => "DISPUTED",
            pb::AttestationVerdict::Partly => "PARTLY",
            pb::AttestationVerdict::Unspecified => "UNSPECIFIED",
        };
        let _ = writeln!(
            out,
            "    <tansiq:attestation subject=\"{}\" attester=\"{}\" verdict=\"{verdict}\" value=\"{}\" event-id=\"{}\">{}</tansiq:attestation>",
            escape(subject),
            escape(attester),
            escape(&word.value),
            word.event.to_hex(),
            escape(&word.note)
        );
    }
    out.push_str("  </iati-activity>\n");
}

/// One result as IATI 2.03's `result` with its one `indicator`; the
/// result's ledger id travels as `tansiq:result-id`.
fn write_result(out: &mut String, result: &pb::ResultReported) {
    let indicator = result.indicator.clone().unwrap_or_default();
    let narratives = |names: &Option<pb::Names>| -> String {
        let names = names.clone().unwrap_or_default();
        let mut text = String::new();
        if !names.latin.is_empty() {
            text.push_str(&format!("<narrative>{}</narrative>", escape(&names.latin)));
        }
        if !names.arabic.is_empty() {
            text.push_str(&format!(
                "<narrative xml:lang=\"ar\">{}</narrative>",
                escape(&names.arabic)
            ));
        }
        text
    };
    let value = |element: &str, value: &Option<pb::IndicatorValue>, extra: &str| -> String {
        let Some(value) = value else {
            return String::new();
        };
        let comment = if value.comment.is_empty() {
            String::new()
        } else {
            format!(
                "<comment><narrative>{}</narrative></comment>",
                escape(&value.comment)
            )
        };
        let attribute = if value.value.is_empty() {
            String::new()
        } else {
            format!(" value=\"{}\"", escape(&value.value))
        };
        format!("<{element}{extra}{attribute}>{comment}</{element}>")
    };
    let _ = writeln!(
        out,
        "    <result type=\"{}\">\n      <title>{}</title>",
        result.result_type,
        narratives(&result.title)
    );
    let _ = write!(
        out,
        "      <indicator measure=\"{}\" ascending=\"{}\" tansiq:result-id=\"{}\">\n        <title>{}</title>",
        indicator.measure,
        if indicator.ascending { 1 } else { 0 },
        escape(&result.result_id),
        narratives(&indicator.title)
    );
    if !indicator.code.is_empty() {
        let _ = write!(
            out,
            "\n        <reference vocabulary=\"{}\" code=\"{}\"/>",
            escape(&indicator.vocabulary),
            escape(&indicator.code)
        );
    }
    // IATI requires a baseline's year: one without is left out.
    if indicator.baseline.is_some() && indicator.baseline_year != 0 {
        let year = format!(" year=\"{}\"", indicator.baseline_year);
        let _ = write!(
            out,
            "\n        {}",
            value("baseline", &indicator.baseline, &year)
        );
    }
    for period in &indicator.periods {
        let _ = write!(
            out,
            "\n        <period><period-start iso-date=\"{}\"/><period-end iso-date=\"{}\"/>{}{}</period>",
            escape(&period.start),
            escape(&period.end),
            value("target", &period.target, ""),
            value("actual", &period.actual, "")
        );
    }
    out.push_str("\n      </indicator>\n    </result>\n");
}

/// The projects `store` holds (those `org` registered, or all), as they
/// stand now: latest details and status, every transaction, and the
/// reporting organisation's registration.
pub fn projects(
    store: &crate::store::Store,
    chain: &crate::signing::ChainId,
    org: Option<&str>,
) -> Result<Vec<ExportedProject>, crate::store::StoreError> {
    let mut exported = Vec::new();
    for (key, _) in store.dump(crate::store::cf::PROJECTS)? {
        let project_id = String::from_utf8_lossy(&key).into_owned();
        let Some(record) = store.project(&project_id)? else {
            continue;
        };
        if org.is_some_and(|org| record.owner != org) {
            continue;
        }
        let Some(current) = super::plan::existing(store, chain, &project_id)? else {
            continue;
        };
        let owner = store.org(&record.owner)?;
        exported.push(ExportedProject {
            project_id,
            owner_iati_identifier: owner
                .as_ref()
                .map(|o| o.iati_identifier.clone())
                .unwrap_or_default(),
            owner_org_type: owner.as_ref().map_or(0, |o| o.iati_org_type),
            owner_name: owner.map(|o| pb::Names {
                latin: o.name_latin,
                arabic: o.name_arabic,
            }),
            owner: record.owner,
            details: current.details.unwrap_or_default(),
            status: record.status,
            closed_on: record.closed_on,
            transactions: current.transactions,
            results: current.results.into_values().collect(),
            attestations: record
                .attested
                .iter()
                .flat_map(|(subject, words)| {
                    words.iter().map(move |(attester, word)| {
                        (subject.clone(), attester.clone(), word.clone())
                    })
                })
                .collect(),
        });
    }
    Ok(exported)
}

/// Now as an ISO 8601 UTC date-time (seconds), for `generated-datetime`.
pub fn generated_now() -> String {
    let now = crate::author::now_ms().div_euclid(1000);
    let (days, seconds) = (now.div_euclid(86_400), now.rem_euclid(86_400));
    format!(
        "{}T{:02}:{:02}:{:02}Z",
        crate::date::Date::from_unix_ms(days * 86_400_000),
        seconds / 3600,
        seconds % 3600 / 60,
        seconds % 60
    )
}

/// The file: `generated` is an ISO date-time for `generated-datetime`.
pub fn write(projects: &[ExportedProject], generated: &str) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<!-- Exported from a Tansiq ledger. tansiq:* elements and attributes carry what IATI has no place for. -->\n<iati-activities version=\"2.03\" generated-datetime=\"{}\" xmlns:tansiq=\"{NAMESPACE}\">",
        escape(generated)
    );
    for project in projects {
        activity(&mut out, project);
    }
    out.push_str("</iati-activities>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::iati::plan::{plan, PcodeMap};
    use crate::iati::read::Reader;

    #[test]
    fn an_exported_project_reads_back_the_same() {
        let details = pb::ProjectDetails {
            iati_identifier: "XM-TEST-1 & co".into(),
            title: Some(pb::Names {
                latin: "Water <network>".into(),
                arabic: "شبكة المياه".into(),
            }),
            description: None,
            participants: vec![pb::ParticipatingOrg {
                org_id: "eu".into(),
                iati_identifier: "XI-IATI-EC".into(),
                name: Some(pb::Names {
                    latin: "EU".into(),
                    arabic: String::new(),
                }),
                role: 1,
            }],
            locations: vec![pb::ProjectLocation {
                pcode: "LY0305".into(),
                percentage: 100,
            }],
            sectors: vec![pb::ProjectSector {
                code: "14030".into(),
                percentage: 100,
            }],
            status: 2,
            planned_start: "2026-01-01".into(),
            planned_end: "2027-12-31".into(),
            actual_start: String::new(),
            actual_end: String::new(),
            budget: Some(pb::Money {
                value: "950000".into(),
                currency: "USD".into(),
            }),
        };
        let project = ExportedProject {
            project_id: "undp-water".into(),
            owner: "undp".into(),
            owner_iati_identifier: "XM-DAC-41114".into(),
            owner_org_type: 40,
            owner_name: None,
            details: details.clone(),
            status: ActivityStatus(2),
            closed_on: String::new(),
            transactions: vec![pb::TransactionRecorded {
                receiver_org_id: String::new(),
                project_id: "undp-water".into(),
                transaction_type: 3,
                date: "2026-03-01".into(),
                value: Some(pb::Money {
                    value: "1000".into(),
                    currency: "USD".into(),
                }),
                provider_activity_id: "XI-1".into(),
                description: "first".into(),
            }],
            results: vec![pb::ResultReported {
                project_id: "undp-water".into(),
                result_id: "wells".into(),
                result_type: pb::ResultType::Outcome as i32,
                title: Some(pb::Names {
                    latin: "Wells & pumps".into(),
                    arabic: "آبار".into(),
                }),
                indicator: Some(pb::Indicator {
                    title: Some(pb::Names {
                        latin: "Wells <working>".into(),
                        arabic: String::new(),
                    }),
                    measure: pb::IndicatorMeasure::Percentage as i32,
                    ascending: false,
                    vocabulary: "1".into(),
                    code: "W-1".into(),
                    baseline: Some(pb::IndicatorValue {
                        value: "10".into(),
                        comment: "2025 survey".into(),
                        measure: 0,
                    }),
                    baseline_year: 2025,
                    periods: vec![pb::IndicatorPeriod {
                        start: "2026-01-01".into(),
                        end: "2026-12-31".into(),
                        target: Some(pb::IndicatorValue {
                            value: "80".into(),
                            ..Default::default()
                        }),
                        actual: Some(pb::IndicatorValue {
                            value: "64.5".into(),
                            comment: "two districts late".into(),
                            measure: 0,
                        }),
                    }],
                    pcode: String::new(),
                }),
            }],
            attestations: vec![(
                "active".into(),
                "nalut-council".into(),
                crate::store::AttestationRecord {
                    verdict: pb::AttestationVerdict::Disputed,
                    note: "no works seen".into(),
                    value: String::new(),
                    pcode: "LY0301".into(),
                    event: [7; 32].into(),
                },
            )],
        };
        let xml = write(std::slice::from_ref(&project), "2026-11-24T00:00:00Z");
        let activities: Vec<_> = Reader::new(xml.as_bytes())
            .collect::<Result<_, _>>()
            .expect("reads");
        let planned = plan(&activities[0], &PcodeMap::default()).expect("plans");
        assert_eq!(planned.project_id, "undp-water");
        assert_eq!(planned.details, details, "{xml}");
        assert_eq!(planned.transactions, project.transactions);
        assert_eq!(planned.results, project.results, "{xml}");
        assert!(
            planned
                .notes
                .iter()
                .any(|note| note.contains("nalut-council said DISPUTED of active: no works seen")),
            "{:?}",
            planned.notes
        );
    }
}
