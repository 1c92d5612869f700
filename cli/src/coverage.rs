//! The coverage queries: who-supports, matrix, gaps, overlaps, check,
//! history, each one request to the node's Coverage service, shown as a
//! table or JSON. Tables put Arabic names in the last column, so that
//! right-to-left text never shifts the columns after it.

use std::path::PathBuf;

use anyhow::{bail, Context};
use serde_json::{json, Value};
use tansiq_ledger::author::KeyFile;
use tansiq_proto::v1 as pb;

use crate::args::{AsOfArg, CoverageCommand, Output};
use crate::client::connect_coverage;
use crate::output;
use crate::signer::{read_bodies, DEFAULT_KEY_FILE};

/// Asks `node` the query and prints its answer.
pub async fn run(node: &str, output: Output, command: CoverageCommand) -> anyhow::Result<()> {
    let mut client = connect_coverage(node).await?;
    match command {
        CoverageCommand::WhoSupports {
            pcode,
            sector,
            children,
            confirmed,
            as_of,
        } => {
            let count = if confirmed {
                pb::SupportCount::Confirmed
            } else {
                pb::SupportCount::Reported
            };
            let answer = client
                .who_supports(pb::WhoSupportsRequest {
                    scope: scope(pcode, as_of),
                    sector: sector.unwrap_or_default(),
                    include_children: children,
                    count: count as i32,
                })
                .await?
                .into_inner();
            print_info(output, answer.info.as_ref());
            supports_table(output, &answer.supports);
        }
        CoverageCommand::Matrix {
            pcode,
            count,
            as_of,
        } => {
            let answer = client
                .matrix(pb::MatrixRequest {
                    scope: scope(pcode, as_of),
                    count: count.wire(),
                })
                .await?
                .into_inner();
            print_info(output, answer.info.as_ref());
            let columns = [
                ("pcode", 8),
                ("category", 8),
                ("projects", 8),
                ("donors", 24),
                ("budget", 30),
                ("categoryName", 40),
                ("municipality", 0),
            ];
            output::header(output, &columns);
            for cell in &answer.cells {
                let mut row = to_json(cell)?;
                row["donors"] = json!(cell.donors.join(","));
                row["budget"] = json!(cell
                    .budget
                    .iter()
                    .map(|b| format!("{} {}", b.value, b.currency))
                    .collect::<Vec<_>>()
                    .join(" + "));
                row["municipality"] = json!(names(cell.municipality.as_ref()));
                emit(output, cell, &row, &columns)?;
            }
        }
        CoverageCommand::Gaps {
            pcode,
            sector,
            level,
            limit,
            count,
            as_of,
        } => {
            let answer = client
                .gaps(pb::GapsRequest {
                    scope: scope(pcode, as_of),
                    sector: sector.unwrap_or_default(),
                    admin_level: level.unwrap_or_default(),
                    limit: limit.unwrap_or_default(),
                    count: count.wire(),
                })
                .await?
                .into_inner();
            print_info(output, answer.info.as_ref());
            let columns = [
                ("rank", 4),
                ("pcode", 8),
                ("sector", 6),
                ("peopleInNeed", 12),
                ("severity", 8),
                ("sectorName", 40),
                ("municipality", 0),
            ];
            output::header(output, &columns);
            for gap in &answer.gaps {
                let mut row = to_json(gap)?;
                row["municipality"] = json!(names(gap.municipality.as_ref()));
                emit(output, gap, &row, &columns)?;
            }
            print_shown(output, answer.gaps.len(), answer.total);
        }
        CoverageCommand::Totals { pcode, as_of } => {
            let answer = client
                .totals(pb::TotalsRequest {
                    scope: scope(pcode, as_of),
                })
                .await?
                .into_inner();
            print_info(output, answer.info.as_ref());
            let columns = [
                ("openOverlaps", 14),
                ("uncoveredNeeds", 16),
                ("peopleInUncoveredNeeds", 0),
            ];
            output::header(output, &columns);
            emit(output, &answer, &to_json(&answer)?, &columns)?;
        }
        CoverageCommand::Overlaps {
            pcode,
            sector,
            all,
            limit,
            as_of,
        } => {
            let answer = client
                .overlaps(pb::OverlapsRequest {
                    scope: scope(pcode, as_of),
                    sector: sector.unwrap_or_default(),
                    include_complementary: all,
                    limit: limit.unwrap_or_default(),
                })
                .await?
                .into_inner();
            print_info(output, answer.info.as_ref());
            overlaps_table(output, &answer.overlaps)?;
            print_shown(output, answer.overlaps.len(), answer.total);
        }
        CoverageCommand::Check { file, key } => {
            let (project_id, details) = proposed_project(&file)?;
            let path = key.unwrap_or_else(|| PathBuf::from(DEFAULT_KEY_FILE));
            let (org, _) = KeyFile::read(&path)
                .with_context(|| "pass --key FILE (the organisation that would register it)")?;
            let answer = client
                .check(pb::CheckRequest {
                    org_id: org.to_string(),
                    project_id,
                    details: Some(details),
                })
                .await?
                .into_inner();
            if output == Output::Json {
                say!("{}", serde_json::to_string_pretty(&answer)?);
                return Ok(());
            }
            say!("existing support in the proposed project's municipalities and sectors:");
            supports_table(output, &answer.existing);
            say!();
            if answer.overlaps.is_empty() {
                say!("no overlap: no other donor works there in that sector in that period");
            } else {
                say!("overlaps it would create:");
                overlaps_table(output, &answer.overlaps)?;
            }
            if answer.would_be_held {
                say!("\nunder the ministry's hold policy it would be held pending review");
            }
        }
        CoverageCommand::Results { project_id, as_of } => {
            let answer = client
                .get_project(pb::GetProjectRequest {
                    project_id: project_id.clone(),
                    scope: scope(String::new(), as_of),
                })
                .await?
                .into_inner();
            print_info(output, answer.info.as_ref());
            let Some(project) = answer.project else {
                anyhow::bail!("project {project_id} was not registered yet on that date");
            };
            if output == Output::Json {
                say!(
                    "{}",
                    serde_json::to_string(&json!({
                        "projectId": project.project_id,
                        "results": project.results,
                        "attestations": project.attestations,
                    }))?
                );
                return Ok(());
            }
            let columns = [
                ("result", 16),
                ("period", 22),
                ("target", 10),
                ("reported", 10),
                ("confirmed", 10),
                ("verdict", 10),
                ("indicator", 0),
            ];
            output::header(output, &columns);
            for result in &project.results {
                let indicator = result
                    .indicator
                    .as_ref()
                    .map(|i| names(i.title.as_ref()))
                    .unwrap_or_default();
                for period in &result.periods {
                    let row = json!({
                        "result": result.result_id,
                        "period": format!("{}..{}", period.start, period.end),
                        "target": period.target,
                        "reported": period.reported_actual,
                        "confirmed": period.confirmed_actual,
                        "verdict": verdict_name(period.verdict),
                        "indicator": indicator,
                    });
                    output::row(output, &row, &columns);
                }
            }
            if !project.attestations.is_empty() {
                say!("");
                attestations_table(output, &project.attestations);
            }
        }
        CoverageCommand::Disputes { pcode, as_of } => {
            let answer = client
                .list_disputes(pb::ListDisputesRequest {
                    scope: scope(pcode, as_of),
                })
                .await?
                .into_inner();
            print_info(output, answer.info.as_ref());
            let columns: Vec<(&str, usize)> = [("project", 24), ("owner", 12)]
                .into_iter()
                .chain(ATTESTATION_COLUMNS)
                .collect();
            output::header(output, &columns);
            for dispute in &answer.disputes {
                let mut row = attestation_row(&dispute.attestation.clone().unwrap_or_default());
                row["project"] = json!(dispute.project_id);
                row["owner"] = json!(dispute.owner);
                emit(output, dispute, &row, &columns)?;
            }
        }
        CoverageCommand::History { project_id } => {
            let answer = client
                .project_history(pb::ProjectHistoryRequest { project_id })
                .await?
                .into_inner();
            let columns = [
                ("position", 8),
                ("kind", 24),
                ("author", 16),
                ("committed", 24),
                ("eventId", 0),
            ];
            output::header(output, &columns);
            for entry in &answer.entries {
                let mut row = to_json(entry)?;
                row["eventId"] = json!(hex::encode(&entry.event_id));
                row["committed"] = json!(tansiq_ledger::date::Date::from_unix_ms(
                    entry.committed_at_ms
                )
                .to_string());
                emit(output, entry, &row, &columns)?;
            }
        }
    }
    Ok(())
}

/// The part of the ledger a coverage query asks about: under `pcode`, as of
/// a day, read locally or linearizably.
pub fn scope(pcode: String, as_of: AsOfArg) -> Option<pb::Scope> {
    Some(pb::Scope {
        pcode,
        as_of: as_of.as_of.unwrap_or_default(),
        consistency: if as_of.linearizable {
            pb::ReadConsistency::Linearizable
        } else {
            pb::ReadConsistency::Local
        } as i32,
    })
}

pub fn to_json<T: serde::Serialize>(value: &T) -> anyhow::Result<Value> {
    Ok(serde_json::to_value(value)?)
}

/// A JSON line of the message itself, or a table row of `row`.
pub fn emit<T: serde::Serialize>(
    output: Output,
    message: &T,
    row: &Value,
    columns: &[(&str, usize)],
) -> anyhow::Result<()> {
    match output {
        Output::Json => say!("{}", serde_json::to_string(message)?),
        Output::Table => output::row(output, row, columns),
    }
    Ok(())
}

/// Under a table cut by --limit: how many rows there are in all.
fn print_shown(output: Output, shown: usize, total: u64) {
    if output == Output::Table && (shown as u64) < total {
        say!("{shown} of {total} shown (--limit)");
    }
}

pub fn print_info(output: Output, info: Option<&pb::AnswerInfo>) {
    if let (Output::Table, Some(info)) = (output, info) {
        let applied = if info.applied_index > 0 {
            format!(", raft index {}", info.applied_index)
        } else {
            String::new()
        };
        let consistency = if info.linearizable {
            "linearizable"
        } else {
            "local: this node's applied state"
        };
        say!(
            "as of {} (log position {}, head {}{applied}; {consistency})",
            info.as_of,
            info.position,
            hex::encode(&info.head).get(..16).unwrap_or_default()
        );
    }
}

pub fn names(names: Option<&pb::Names>) -> String {
    match names {
        Some(n) if !n.latin.is_empty() && !n.arabic.is_empty() => {
            format!("{} · {}", n.latin, n.arabic)
        }
        Some(n) => format!("{}{}", n.latin, n.arabic),
        None => String::new(),
    }
}

fn support_row(support: &pb::ProjectSupport) -> anyhow::Result<Value> {
    let mut row = to_json(support)?;
    row["budget"] = json!(support
        .budget
        .as_ref()
        .map(|b| format!("{} {}", b.value, b.currency))
        .unwrap_or_default());
    row["period"] = json!(format!("{}..{}", support.start, support.end));
    row["status"] = json!(if support.pending_review {
        format!("{} (held for review)", support.status_name)
    } else {
        support.status_name.clone()
    });
    row["title"] = json!(names(support.title.as_ref()));
    match pb::AttestationVerdict::try_from(support.activity_attested).unwrap_or_default() {
        pb::AttestationVerdict::Unspecified => {}
        verdict => {
            row["status"] = json!(format!(
                "{} ({} here)",
                row["status"].as_str().unwrap_or_default(),
                verdict_name(verdict as i32)
            ))
        }
    }
    let disputed = support.donor_attestation == pb::AttestationVerdict::Disputed as i32;
    if disputed {
        // The donor says it does not fund what the owner claims.
        row["donor"] = json!(format!(
            "{} (claimed by {}, disputed by {})",
            support.donor, support.owner, support.donor
        ));
    } else if support.donor_claimed {
        // Named by the owner, not (yet) confirmed by the donor itself.
        row["donor"] = json!(format!("{} (claimed by {})", support.donor, support.owner));
    }
    Ok(row)
}

/// A verdict as the tables show it.
fn verdict_name(verdict: i32) -> &'static str {
    match pb::AttestationVerdict::try_from(verdict).unwrap_or_default() {
        pb::AttestationVerdict::Unspecified => "",
        pb::AttestationVerdict::Confirmed => "confirmed",
        pb::AttestationVerdict::Disputed => "disputed",
        pb::AttestationVerdict::Partly => "partly",
    }
}

/// An attestation's columns, after those a table puts before them.
const ATTESTATION_COLUMNS: [(&str, usize); 5] = [
    ("subject", 30),
    ("attester", 16),
    ("verdict", 10),
    ("value", 10),
    ("note", 0),
];

/// An attestation as a table row (its verdict in words).
fn attestation_row(attestation: &pb::Attestation) -> Value {
    json!({
        "subject": attestation.subject,
        "attester": attestation.attester,
        "verdict": verdict_name(attestation.verdict),
        "value": attestation.value,
        "note": attestation.note,
    })
}

fn attestations_table(output: Output, attestations: &[pb::Attestation]) {
    output::header(output, &ATTESTATION_COLUMNS);
    for attestation in attestations {
        output::row(output, &attestation_row(attestation), &ATTESTATION_COLUMNS);
    }
}

fn supports_table(output: Output, supports: &[pb::ProjectSupport]) {
    let columns = [
        ("pcode", 8),
        ("sector", 6),
        ("projectId", 32),
        ("donor", 12),
        ("status", 16),
        ("period", 22),
        ("budget", 14),
        ("title", 0),
    ];
    output::header(output, &columns);
    for support in supports {
        if let Ok(row) = support_row(support) {
            let _ = emit(output, support, &row, &columns);
        }
    }
}

fn overlaps_table(output: Output, overlaps: &[pb::Overlap]) -> anyhow::Result<()> {
    let columns = [
        ("pcode", 8),
        ("sector", 6),
        ("a", 32),
        ("b", 32),
        ("kind", 26),
        ("review", 0),
    ];
    output::header(output, &columns);
    for overlap in overlaps {
        let mut row = to_json(overlap)?;
        let side = |s: &Option<pb::ProjectSupport>| {
            s.as_ref()
                .map(|s| format!("{} ({})", s.project_id, s.donor))
                .unwrap_or_default()
        };
        row["a"] = json!(side(&overlap.a));
        row["b"] = json!(side(&overlap.b));
        row["review"] = json!(match pb::OverlapVerdict::try_from(overlap.review) {
            Ok(pb::OverlapVerdict::Complementary) =>
                format!("complementary: {}", overlap.review_note),
            Ok(pb::OverlapVerdict::Duplicate) => format!("duplicate: {}", overlap.review_note),
            Ok(pb::OverlapVerdict::SameProject) => format!("same project: {}", overlap.review_note),
            _ => "not reviewed".to_owned(),
        });
        emit(output, overlap, &row, &columns)?;
    }
    Ok(())
}

/// The project of a JSON file with a projectRegistered or projectUpdated body.
fn proposed_project(file: &std::path::Path) -> anyhow::Result<(String, pb::ProjectDetails)> {
    for kind in read_bodies(file)? {
        match kind {
            pb::event_body::Kind::ProjectRegistered(body) => {
                return Ok((body.project_id, body.details.unwrap_or_default()))
            }
            pb::event_body::Kind::ProjectUpdated(body) => {
                return Ok((body.project_id, body.details.unwrap_or_default()))
            }
            _ => {}
        }
    }
    bail!(
        "{} holds no projectRegistered or projectUpdated body to check",
        file.display()
    )
}
