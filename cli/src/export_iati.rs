//! `tansiq export iati [--org ORG]`: the ledger's projects as an IATI 2.03
//! activity file on standard output, rebuilt from the log as any client can
//! (every project's latest details, status and transactions).

use std::collections::BTreeMap;

use anyhow::Context;
use prost::Message;
use tansiq_ledger::iati_export::{write, ExportedProject};
use tansiq_proto::v1 as pb;
use tansiq_proto::v1::event_body::Kind;
use tokio_stream::StreamExt;

use crate::client::connect;

const STATUS_CLOSED: u32 = 4;
const STATUS_CANCELLED: u32 = 5;

pub async fn run(node: &str, org: Option<&str>) -> anyhow::Result<()> {
    let mut client = connect(node).await?;
    let head = client
        .get_head(pb::GetHeadRequest {})
        .await?
        .into_inner()
        .position;
    let mut projects: BTreeMap<String, ExportedProject> = BTreeMap::new();
    let mut organisations: BTreeMap<String, pb::OrganisationRegistered> = BTreeMap::new();
    if head > 0 {
        let mut log = client
            .subscribe(pb::SubscribeRequest { from_position: 1 })
            .await?
            .into_inner();
        while let Some(entry) = log.next().await {
            let entry = entry?;
            let event = entry
                .event
                .as_ref()
                .context("the node sent a log entry without its event")?;
            let body = pb::EventBody::decode(event.body.as_slice())
                .context("a logged event body does not decode")?;
            match body.kind {
                Some(Kind::OrganisationRegistered(org)) => {
                    organisations.insert(org.org_id.clone(), org);
                }
                kind => apply(&mut projects, &body.author, kind),
            }
            if entry.position >= head {
                break;
            }
        }
    }
    let selected: Vec<ExportedProject> = projects
        .into_values()
        .filter(|project| org.is_none_or(|org| project.owner == org))
        .map(|mut project| {
            if let Some(owner) = organisations.get(&project.owner) {
                project.owner_iati_identifier = owner.iati_identifier.clone();
                project.owner_org_type = owner.iati_org_type;
                project.owner_name = owner.name.clone();
            }
            project
        })
        .collect();
    let generated = chrono_like_now();
    print!("{}", write(&selected, &generated));
    Ok(())
}

fn apply(projects: &mut BTreeMap<String, ExportedProject>, author: &str, kind: Option<Kind>) {
    match kind {
        Some(Kind::ProjectRegistered(registered)) => {
            let details = registered.details.unwrap_or_default();
            projects.insert(
                registered.project_id.clone(),
                ExportedProject {
                    project_id: registered.project_id,
                    owner: author.to_owned(),
                    status: details.status,
                    details,
                    ..ExportedProject::default()
                },
            );
        }
        Some(Kind::ProjectUpdated(updated)) => {
            if let Some(project) = projects.get_mut(&updated.project_id) {
                let details = updated.details.unwrap_or_default();
                if !matches!(project.status, STATUS_CLOSED | STATUS_CANCELLED) {
                    project.status = details.status;
                }
                project.details = details;
            }
        }
        Some(Kind::ProjectStatusChanged(change)) => {
            if let Some(project) = projects.get_mut(&change.project_id) {
                project.status = change.status;
                if matches!(change.status, STATUS_CLOSED | STATUS_CANCELLED) {
                    project.closed_on = change.effective_date;
                }
            }
        }
        Some(Kind::ProjectClosed(closed)) => {
            if let Some(project) = projects.get_mut(&closed.project_id) {
                project.status = if closed.cancelled {
                    STATUS_CANCELLED
                } else {
                    STATUS_CLOSED
                };
                project.closed_on = closed.end_date;
            }
        }
        Some(Kind::TransactionRecorded(transaction)) => {
            if let Some(project) = projects.get_mut(&transaction.project_id) {
                project.transactions.push(transaction);
            }
        }
        _ => {}
    }
}

/// Now as an ISO 8601 UTC date-time (seconds), without a date library.
fn chrono_like_now() -> String {
    let now = tansiq_ledger::author::now_ms() / 1000;
    let days = now.div_euclid(86_400);
    let seconds = now.rem_euclid(86_400);
    let date = tansiq_ledger::date::Date::from_unix_ms(days * 86_400_000);
    format!(
        "{date}T{:02}:{:02}:{:02}Z",
        seconds / 3600,
        seconds % 3600 / 60,
        seconds % 60
    )
}
