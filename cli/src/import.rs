//! `tansiq import iati FILE --key DONOR.key`: a donor's IATI activity file
//! onto the ledger, signed with the donor's key.
//!
//! The whole file is read first (streamed, activity by activity): a file
//! that is not XML, not IATI or truncated stops the import before anything
//! is written. Then each activity is compared with what the ledger holds
//! for its project and only the difference is submitted, one atomic
//! request per activity: a new project is registered, changed details are
//! updated, transactions not yet recorded are recorded. Re-importing the
//! same file writes nothing.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context;
use prost::Message;
use serde_json::{json, Value};
use tansiq_ledger::author::{now_ms, Author};
use tansiq_ledger::event::kind_name;
use tansiq_ledger::iati::{Activity, Reader};
use tansiq_ledger::iati_plan::{plan, PcodeMap, Plan};
use tansiq_proto::v1 as pb;
use tansiq_proto::v1::coverage_client::CoverageClient;
use tansiq_proto::v1::event_body::Kind;
use tonic::transport::Channel;

use crate::args::Output;
use crate::client::{connect, connect_coverage, Client};
use crate::commands::author_for;

/// What the ledger already holds for a project.
struct Existing {
    owner: String,
    details: Option<pb::ProjectDetails>,
    transactions: Vec<pb::TransactionRecorded>,
    closed: bool,
}

#[derive(Default)]
struct Report {
    activities: usize,
    unchanged: usize,
    imported: usize,
    country_level: usize,
    events: BTreeMap<&'static str, usize>,
    skipped: BTreeMap<String, Vec<(String, String)>>,
    warnings: Vec<(String, String)>,
    held: Vec<String>,
    notes: Vec<(String, String)>,
}

impl Report {
    fn skip(&mut self, reason: &str, identifier: &str, detail: String) {
        self.skipped
            .entry(reason.to_owned())
            .or_default()
            .push((identifier.to_owned(), detail));
    }
}

pub struct ImportIati {
    pub file: PathBuf,
    pub key: Option<PathBuf>,
    pub dry_run: bool,
    pub pcode_map: Option<PathBuf>,
}

fn read_file(file: &Path) -> anyhow::Result<Vec<Activity>> {
    let handle =
        std::fs::File::open(file).with_context(|| format!("cannot open {}", file.display()))?;
    let size = handle.metadata().map(|m| m.len()).unwrap_or(0);
    let progress = std::io::stderr().is_terminal() && size > 4 * 1024 * 1024;
    let mut activities = Vec::new();
    for activity in Reader::new(std::io::BufReader::new(handle)) {
        let activity =
            activity.with_context(|| format!("{}: nothing was imported", file.display()))?;
        activities.push(activity);
        if progress && activities.len() % 100 == 0 {
            eprint!("\rread {} activities", activities.len());
        }
    }
    if progress {
        eprintln!();
    }
    Ok(activities)
}

/// The project's current details and transactions, from its history.
async fn existing(
    ledger: &mut Client,
    coverage: &mut CoverageClient<Channel>,
    project_id: &str,
) -> anyhow::Result<Option<Existing>> {
    let history = match coverage
        .project_history(pb::ProjectHistoryRequest {
            project_id: project_id.to_owned(),
        })
        .await
    {
        Ok(history) => history.into_inner(),
        Err(status) if status.code() == tonic::Code::NotFound => return Ok(None),
        Err(status) => return Err(status.into()),
    };
    let mut found = Existing {
        owner: String::new(),
        details: None,
        transactions: Vec::new(),
        closed: false,
    };
    for entry in history.entries {
        if !matches!(
            entry.kind.as_str(),
            "project_registered"
                | "project_updated"
                | "transaction_recorded"
                | "project_closed"
                | "project_status_changed"
        ) {
            continue;
        }
        let event = ledger
            .get_event(pb::GetEventRequest {
                event_id: entry.event_id,
            })
            .await?
            .into_inner()
            .event
            .context("the node sent a log entry without its event")?;
        let body = pb::EventBody::decode(event.body.as_slice())
            .context("a stored event body does not decode")?;
        match body.kind {
            Some(Kind::ProjectRegistered(registered)) => {
                found.owner = entry.author;
                found.details = registered.details;
            }
            Some(Kind::ProjectUpdated(updated)) => found.details = updated.details,
            Some(Kind::TransactionRecorded(transaction)) => found.transactions.push(transaction),
            Some(Kind::ProjectClosed(_)) => found.closed = true,
            Some(Kind::ProjectStatusChanged(change)) => {
                found.closed |= matches!(change.status, STATUS_CLOSED | STATUS_CANCELLED)
            }
            _ => {}
        }
    }
    Ok(Some(found))
}

const STATUS_CLOSED: u32 = 4;
const STATUS_CANCELLED: u32 = 5;

/// The events that bring the ledger to `plan`.
fn difference(plan: &Plan, existing: Option<Existing>) -> Vec<Kind> {
    let mut kinds = Vec::new();
    let closed = existing.as_ref().is_some_and(|e| e.closed);
    let mut recorded = match existing {
        None => {
            kinds.push(Kind::ProjectRegistered(pb::ProjectRegistered {
                project_id: plan.project_id.clone(),
                details: Some(plan.details.clone()),
            }));
            Vec::new()
        }
        Some(existing) => {
            if existing.details.as_ref() != Some(&plan.details) {
                kinds.push(Kind::ProjectUpdated(pb::ProjectUpdated {
                    project_id: plan.project_id.clone(),
                    details: Some(plan.details.clone()),
                }));
            }
            existing.transactions
        }
    };
    for transaction in &plan.transactions {
        match recorded.iter().position(|have| have == transaction) {
            Some(index) => {
                recorded.swap_remove(index);
            }
            None => kinds.push(Kind::TransactionRecorded(transaction.clone())),
        }
    }
    // A finished activity closes its project (it then no longer counts as support).
    let status = plan.details.status;
    if matches!(status, STATUS_CLOSED | STATUS_CANCELLED) && !closed {
        let details = &plan.details;
        kinds.push(Kind::ProjectClosed(pb::ProjectClosed {
            project_id: plan.project_id.clone(),
            end_date: if details.actual_end.is_empty() {
                details.planned_end.clone()
            } else {
                details.actual_end.clone()
            },
            cancelled: status == STATUS_CANCELLED,
        }));
    }
    kinds
}

pub async fn iati(node: &str, output: Output, import: ImportIati) -> anyhow::Result<()> {
    let started = Instant::now();
    let map = match &import.pcode_map {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read {}", path.display()))?;
            PcodeMap::parse(&text)
                .map_err(|error| anyhow::anyhow!("{}: {error}", path.display()))?
        }
        None => PcodeMap::default(),
    };
    let activities = read_file(&import.file)?;
    let mut ledger = connect(node).await?;
    let mut coverage = connect_coverage(node).await?;
    let mut author = author_for(&mut ledger, import.key.clone()).await?;
    let mut report = Report {
        activities: activities.len(),
        ..Report::default()
    };
    let progress = std::io::stderr().is_terminal() && activities.len() >= 200;
    for (done, activity) in activities.iter().enumerate() {
        if progress && done % 50 == 0 {
            eprint!("\r{done}/{} activities", activities.len());
        }
        let plan = match plan(activity, &map) {
            Ok(plan) => plan,
            Err(skip) => {
                report.skip(skip.reason, &activity.identifier, skip.detail);
                continue;
            }
        };
        for note in &plan.notes {
            report.notes.push((plan.identifier.clone(), note.clone()));
        }
        let existing = existing(&mut ledger, &mut coverage, &plan.project_id).await?;
        if let Some(found) = &existing {
            if found.owner != author.org.as_str() {
                report.skip(
                    "owned_by_another_organisation",
                    &plan.identifier,
                    format!(
                        "project {} is registered by {}; only its reporting organisation updates it",
                        plan.project_id, found.owner
                    ),
                );
                continue;
            }
        }
        let kinds = difference(&plan, existing);
        if kinds.is_empty() {
            report.unchanged += 1;
            continue;
        }
        if plan.country_level {
            report.country_level += 1;
        }
        if import.dry_run {
            for kind in &kinds {
                *report.events.entry(kind_name(kind)).or_default() += 1;
            }
            report.imported += 1;
            continue;
        }
        submit(
            &mut ledger,
            &mut author,
            &plan,
            kinds,
            &mut report,
            import.key.clone(),
        )
        .await?;
    }
    if progress {
        eprintln!("\r{0}/{0} activities", activities.len());
    }
    print_report(output, &import, &report, started.elapsed().as_secs_f64())
}

async fn submit(
    ledger: &mut Client,
    author: &mut Author,
    plan: &Plan,
    kinds: Vec<Kind>,
    report: &mut Report,
    key: Option<PathBuf>,
) -> anyhow::Result<()> {
    let created_at_ms = now_ms();
    let names: Vec<&'static str> = kinds.iter().map(kind_name).collect();
    let events: Vec<pb::SignedEvent> = kinds
        .into_iter()
        .map(|kind| author.sign(kind, created_at_ms).0)
        .collect();
    match ledger.submit_batch(pb::SubmitBatchRequest { events }).await {
        Ok(response) => {
            report.imported += 1;
            for name in names {
                *report.events.entry(name).or_default() += 1;
            }
            for receipt in response.into_inner().receipts {
                if receipt.pending_review {
                    report.held.push(plan.identifier.clone());
                }
                for warning in receipt.warnings {
                    report.warnings.push((plan.identifier.clone(), warning));
                }
            }
        }
        Err(status) if is_refusal(status.code()) => {
            report.skip("refused_by_the_ledger", &plan.identifier, status.message().to_owned());
            // The refused events used the key's next sequence numbers: start again from the node's head.
            *author = author_for(ledger, key).await?;
        }
        Err(status) => {
            return Err(anyhow::Error::from(status).context(format!(
                "the node did not answer for activity {} (the activities before it are imported; run the same import again to continue)",
                plan.identifier
            )))
        }
    }
    Ok(())
}

fn is_refusal(code: tonic::Code) -> bool {
    matches!(
        code,
        tonic::Code::InvalidArgument
            | tonic::Code::FailedPrecondition
            | tonic::Code::AlreadyExists
            | tonic::Code::NotFound
            | tonic::Code::PermissionDenied
            | tonic::Code::OutOfRange
    )
}

fn print_report(
    output: Output,
    import: &ImportIati,
    report: &Report,
    seconds: f64,
) -> anyhow::Result<()> {
    let written: usize = report.events.values().sum();
    let skipped: usize = report.skipped.values().map(Vec::len).sum();
    let json: Value = json!({
        "file": import.file.display().to_string(),
        "dryRun": import.dry_run,
        "activities": report.activities,
        "imported": report.imported,
        "unchanged": report.unchanged,
        "skipped": skipped,
        "countryLevel": report.country_level,
        "events": if import.dry_run { json!({}) } else { json!(report.events) },
        "wouldWrite": if import.dry_run { json!(report.events) } else { json!({}) },
        "eventsWritten": if import.dry_run { 0 } else { written },
        "skippedByReason": report.skipped.iter().map(|(reason, items)| {
            (reason.clone(), json!(items.iter().map(|(id, detail)| json!({"activity": id, "detail": detail})).collect::<Vec<_>>()))
        }).collect::<serde_json::Map<_, _>>(),
        "overlaps": report.warnings.iter().map(|(id, warning)| json!({"activity": id, "warning": warning})).collect::<Vec<_>>(),
        "heldForReview": report.held,
        "notes": report.notes.iter().map(|(id, note)| json!({"activity": id, "note": note})).collect::<Vec<_>>(),
        "seconds": seconds,
        "activitiesPerSecond": if seconds > 0.0 { report.activities as f64 / seconds } else { 0.0 },
    });
    if output == Output::Json {
        println!("{}", serde_json::to_string_pretty(&json)?);
        return Ok(());
    }
    let verb = if import.dry_run {
        "would write"
    } else {
        "wrote"
    };
    println!(
        "{}: {} activities read; {} imported, {} unchanged, {} skipped{}",
        import.file.display(),
        report.activities,
        report.imported,
        report.unchanged,
        skipped,
        if import.dry_run {
            " (dry run: nothing written)"
        } else {
            ""
        }
    );
    println!(
        "{verb} {written} events: {}",
        report
            .events
            .iter()
            .map(|(kind, n)| format!("{n} {kind}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    if report.country_level > 0 {
        println!(
            "{} activities located only by country (no administrative code with a P-code; see --pcode-map)",
            report.country_level
        );
    }
    for (reason, items) in &report.skipped {
        println!("skipped, {reason}: {}", items.len());
        for (id, detail) in items {
            println!("  {id}: {detail}");
        }
    }
    if !report.warnings.is_empty() {
        println!("overlaps the import created: {}", report.warnings.len());
        for (id, warning) in &report.warnings {
            println!("  {id}: {warning}");
        }
    }
    if !report.held.is_empty() {
        println!("held for the ministry's review: {}", report.held.join(", "));
    }
    if !report.notes.is_empty() {
        println!(
            "{} notes on parts left out (--output json lists them)",
            report.notes.len()
        );
    }
    println!(
        "{:.2} s, {:.0} activities/s",
        seconds,
        if seconds > 0.0 {
            report.activities as f64 / seconds
        } else {
            0.0
        }
    );
    Ok(())
}
