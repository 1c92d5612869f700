//! `tansiq import iati FILE --key DONOR.key`: a donor's IATI activity file
//! onto the ledger, signed with the donor's key.
//!
//! The file streams to the node (`Interchange.PlanIatiImport`), which reads
//! it whole and answers, per activity, the events that bring the ledger to
//! it (a file that is not XML, not IATI or truncated is refused there, and
//! nothing is written). The CLI then signs each activity's events with the
//! donor's key and submits them in order, several activities per atomic
//! request; when the node refuses a request, each of its activities is
//! sent again alone, so that only the refused ones are skipped.
//! Re-importing the same file writes nothing: the plan is empty.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;
use serde_json::{json, Value};
use tansiq_ledger::author::{now_ms, Author, KeyFile};
use tansiq_ledger::event::kind_name;
use tansiq_proto::v1 as pb;
use tansiq_proto::v1::event_body::Kind;
use tansiq_proto::v1::interchange_client::InterchangeClient;
use tokio::io::AsyncReadExt;

use crate::args::Output;
use crate::client::{channel, connect, Client};
use crate::signer::{author_for, DEFAULT_KEY_FILE};
use tansiq_ledger::limits::REQUEST_BYTES_MAX;

#[derive(Default)]
struct Report {
    activities: u64,
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

/// Bytes per streamed chunk.
const CHUNK_BYTES: usize = 256 * 1024;

/// Streams the file to the node and returns its plan.
async fn plan_on_node(
    node: &str,
    import: &ImportIati,
    author: &tansiq_ledger::author::Author,
) -> anyhow::Result<pb::IatiImportPlan> {
    // The node plans only for an organisation that asks itself.
    let org_id = author.org.to_string();
    let signed_at_ms = tansiq_ledger::author::now_ms();
    let signature = author
        .key
        .sign_bytes(&tansiq_ledger::signing::plan_request_bytes(
            &author.chain,
            &org_id,
            signed_at_ms,
        ));
    let signer_key = author.public().0.to_vec();
    let pcode_map = match &import.pcode_map {
        Some(path) => std::fs::read_to_string(path)
            .with_context(|| format!("cannot read {}", path.display()))?,
        None => String::new(),
    };
    let mut file = tokio::fs::File::open(&import.file)
        .await
        .with_context(|| format!("cannot open {}", import.file.display()))?;
    let size = file.metadata().await.map(|m| m.len()).unwrap_or(0);
    let progress = std::io::stderr().is_terminal() && size > 8 * 1024 * 1024;
    let (sender, receiver) = tokio::sync::mpsc::channel::<pb::IatiImportChunk>(4);
    let reading = tokio::spawn(async move {
        let mut first = Some((org_id, pcode_map));
        let mut sent: u64 = 0;
        loop {
            let mut data = vec![0u8; CHUNK_BYTES];
            let n = file.read(&mut data).await?;
            if n == 0 && first.is_none() {
                break;
            }
            data.truncate(n);
            sent += n as u64;
            let chunk = match first.take() {
                Some((org_id, pcode_map)) => pb::IatiImportChunk {
                    data,
                    org_id,
                    pcode_map,
                    signer_key: signer_key.clone(),
                    signed_at_ms,
                    signature: signature.to_vec(),
                },
                None => pb::IatiImportChunk {
                    data,
                    ..Default::default()
                },
            };
            if sender.send(chunk).await.is_err() || n == 0 {
                break;
            }
            if progress {
                eprint!("\rsent {} of {} MiB", sent >> 20, size >> 20);
            }
        }
        if progress {
            eprintln!();
        }
        Ok::<_, std::io::Error>(())
    });
    let mut client = InterchangeClient::new(channel(node).await?)
        .max_decoding_message_size(usize::MAX)
        .max_encoding_message_size(REQUEST_BYTES_MAX);
    let answer = client
        .plan_iati_import(tokio_stream::wrappers::ReceiverStream::new(receiver))
        .await;
    reading
        .await
        .context("the file reader stopped")?
        .with_context(|| format!("cannot read {}", import.file.display()))?;
    match answer {
        Ok(plan) => Ok(plan.into_inner()),
        Err(status) if status.code() == tonic::Code::InvalidArgument => anyhow::bail!(
            "{}: nothing was imported: {}",
            import.file.display(),
            status.message()
        ),
        Err(status) => Err(status.into()),
    }
}

pub async fn iati(node: &str, output: Output, import: ImportIati) -> anyhow::Result<()> {
    let started = Instant::now();
    let key_path = import
        .key
        .clone()
        .unwrap_or_else(|| PathBuf::from(DEFAULT_KEY_FILE));
    KeyFile::read(&key_path).with_context(|| "pass --key FILE or set TANSIQ_KEY".to_owned())?;
    let mut ledger = connect(node).await?;
    let mut author = author_for(&mut ledger, Some(key_path.clone())).await?;
    let plan = plan_on_node(node, &import, &author).await?;
    let mut report = Report {
        activities: plan.activities_read,
        ..Report::default()
    };
    for skipped in plan.skipped {
        report.skip(&skipped.reason, &skipped.iati_identifier, skipped.detail);
    }
    let total = plan.activities.len();
    let progress = std::io::stderr().is_terminal() && total >= 200;
    let mut to_submit = Vec::new();
    for activity in plan.activities {
        for note in &activity.notes {
            report
                .notes
                .push((activity.iati_identifier.clone(), note.clone()));
        }
        let kinds: Vec<Kind> = activity
            .bodies
            .into_iter()
            .filter_map(|body| body.kind)
            .collect();
        if kinds.is_empty() {
            report.unchanged += 1;
            continue;
        }
        if activity.country_level {
            report.country_level += 1;
        }
        if import.dry_run {
            // The node tried the activity as the real run would submit it.
            if !activity.refusal.is_empty() {
                report.skip(
                    "refused_by_the_ledger",
                    &activity.iati_identifier,
                    activity.refusal,
                );
                continue;
            }
            for kind in &kinds {
                *report.events.entry(kind_name(kind)).or_default() += 1;
            }
            report.imported += 1;
            if activity.pending_review {
                report.held.push(activity.iati_identifier.clone());
            }
            for warning in activity.warnings {
                report
                    .warnings
                    .push((activity.iati_identifier.clone(), warning));
            }
            continue;
        }
        to_submit.push((activity.iati_identifier, kinds));
    }
    if !to_submit.is_empty() {
        submit_all(
            &mut ledger,
            &mut author,
            to_submit,
            &mut report,
            &key_path,
            progress,
        )
        .await?;
    }
    if progress {
        eprintln!("\r{total}/{total} activities");
    }
    print_report(output, &import, &report, started.elapsed().as_secs_f64())
}

/// Events per request an import sends: several activities travel
/// together (a round trip per activity was most of an import's time),
/// well under the node's `SUBMIT_BATCH_EVENTS_MAX`.
const IMPORT_REQUEST_EVENTS: usize = 500;
/// Bytes of signed events per request, well under the node's `REQUEST_BYTES_MAX`.
const IMPORT_REQUEST_BYTES: usize = REQUEST_BYTES_MAX / 4;

/// Signs and submits every activity, in order, several activities per
/// request. A request is atomic: when the node refuses one, none of its
/// activities is written; each of them is then signed again from the
/// key's head on the node and sent alone, so that only the refused ones
/// are skipped (each with the node's reason) and the rest are imported.
async fn submit_all(
    ledger: &mut Client,
    author: &mut Author,
    activities: Vec<(String, Vec<Kind>)>,
    report: &mut Report,
    key_path: &std::path::Path,
    progress: bool,
) -> anyhow::Result<()> {
    let total = activities.len();
    let mut queue: std::collections::VecDeque<(String, Vec<Kind>)> = activities.into();
    // Activities still to send one per request, after a refused request.
    let mut alone = 0_usize;
    let mut done = 0_usize;
    while !queue.is_empty() {
        let created_at_ms = now_ms();
        let mut chunk: Vec<(String, Vec<Kind>)> = Vec::new();
        let mut events: Vec<pb::SignedEvent> = Vec::new();
        let mut bytes = 0;
        while let Some((_, kinds)) = queue.front() {
            let more = chunk.is_empty()
                || (alone == 0
                    && events.len() + kinds.len() <= IMPORT_REQUEST_EVENTS
                    && bytes < IMPORT_REQUEST_BYTES);
            if !more {
                break;
            }
            let (identifier, kinds) = queue.pop_front().expect("invariant: a front exists");
            for kind in &kinds {
                let signed = author.sign(kind.clone(), created_at_ms).0;
                bytes += prost::Message::encoded_len(&signed);
                events.push(signed);
            }
            chunk.push((identifier, kinds));
        }
        alone = alone.saturating_sub(1);
        match ledger.submit_batch(pb::SubmitBatchRequest { events }).await {
            Ok(response) => {
                let mut receipts = response.into_inner().receipts.into_iter();
                for (identifier, kinds) in &chunk {
                    report.imported += 1;
                    for kind in kinds {
                        *report.events.entry(kind_name(kind)).or_default() += 1;
                        let Some(receipt) = receipts.next() else { continue };
                        if receipt.pending_review && report.held.last() != Some(identifier) {
                            report.held.push(identifier.clone());
                        }
                        for warning in receipt.warnings {
                            report.warnings.push((identifier.clone(), warning));
                        }
                    }
                }
            }
            Err(status) if is_refusal(status.code()) => {
                if chunk.len() == 1 {
                    let (identifier, _) = &chunk[0];
                    report.skip("refused_by_the_ledger", identifier, status.message().to_owned());
                } else {
                    // Which activity is refused: each is sent alone.
                    alone = chunk.len();
                    for activity in chunk.into_iter().rev() {
                        queue.push_front(activity);
                    }
                }
                // The refused events used the key's next sequence numbers:
                // start again from the node's head.
                *author = author_for(ledger, Some(key_path.to_path_buf())).await?;
                continue;
            }
            Err(status) => {
                return Err(anyhow::Error::from(status).context(format!(
                    "the node did not answer for activities {} to {} (the activities before them are imported; run the same import again to continue)",
                    chunk.first().map_or("", |(id, _)| id.as_str()),
                    chunk.last().map_or("", |(id, _)| id.as_str()),
                )))
            }
        }
        done += chunk.len();
        if progress {
            eprint!("\r{done}/{total} activities");
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

/// Items a table report lists per section (JSON lists them all).
const TABLE_LIST_MAX: usize = 20;

fn more(count: usize) {
    if count > TABLE_LIST_MAX {
        say!(
            "  ... and {} more (--output json lists them all)",
            count - TABLE_LIST_MAX
        );
    }
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
        say!("{}", serde_json::to_string_pretty(&json)?);
        return Ok(());
    }
    let verb = if import.dry_run {
        "would write"
    } else {
        "wrote"
    };
    say!(
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
    say!(
        "{verb} {written} events: {}",
        report
            .events
            .iter()
            .map(|(kind, n)| format!("{n} {kind}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    if report.country_level > 0 {
        say!(
            "{} activities located only by country (no administrative code with a P-code; see --pcode-map)",
            report.country_level
        );
    }
    for (reason, items) in &report.skipped {
        say!("skipped, {reason}: {}", items.len());
        for (id, detail) in items.iter().take(TABLE_LIST_MAX) {
            say!("  {id}: {detail}");
        }
        more(items.len());
    }
    if !report.warnings.is_empty() {
        say!("overlaps the import created: {}", report.warnings.len());
        for (id, warning) in report.warnings.iter().take(TABLE_LIST_MAX) {
            say!("  {id}: {warning}");
        }
        more(report.warnings.len());
    }
    if !report.held.is_empty() {
        let shown: Vec<&str> = report
            .held
            .iter()
            .take(TABLE_LIST_MAX)
            .map(String::as_str)
            .collect();
        say!(
            "held for the ministry's review ({}): {}",
            report.held.len(),
            shown.join(", ")
        );
        more(report.held.len());
    }
    if !report.notes.is_empty() {
        say!(
            "{} notes on parts left out (--output json lists them)",
            report.notes.len()
        );
    }
    say!(
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
