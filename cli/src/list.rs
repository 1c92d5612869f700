//! `tansiq list`: what is on the ledger (municipalities, organisations,
//! projects), every page of the node's listing one after the other, as a
//! table or JSON lines.

use anyhow::bail;
use serde_json::json;
use tansiq_proto::v1 as pb;

use crate::args::{ListCommand, Output};
use crate::client::connect_coverage;
use crate::coverage::{emit, names, print_info, scope, to_json};
use crate::output;

/// Items asked for per page.
const PAGE_SIZE: u32 = 500;

fn page(token: String) -> Option<pb::PageRequest> {
    Some(pb::PageRequest {
        page_size: PAGE_SIZE,
        page_token: token,
    })
}

/// What a listing prints once, before its first row.
fn heading(output: Output, info: Option<&pb::AnswerInfo>, columns: &[(&str, usize)]) {
    print_info(output, info);
    output::header(output, columns);
}

/// The token of the next page; None after the last one.
fn next(token: String) -> Option<String> {
    (!token.is_empty()).then_some(token)
}

/// Asks `node` for every page of the listing and prints it.
pub async fn run(node: &str, output: Output, command: ListCommand) -> anyhow::Result<()> {
    let mut client = connect_coverage(node).await?;
    let mut token = String::new();
    let mut first = true;
    match command {
        ListCommand::Municipalities { pcode } => {
            let columns = [
                ("pcode", 12),
                ("level", 6),
                ("parent", 12),
                ("children", 8),
                ("name", 0),
            ];
            loop {
                let answer = client
                    .list_municipalities(pb::ListMunicipalitiesRequest {
                        scope: Some(pb::Scope {
                            pcode: pcode.clone(),
                            ..Default::default()
                        }),
                        page: page(token),
                    })
                    .await?
                    .into_inner();
                if std::mem::take(&mut first) {
                    heading(output, answer.info.as_ref(), &columns);
                }
                for municipality in &answer.municipalities {
                    let mut row = to_json(municipality)?;
                    row["level"] = json!(municipality.admin_level);
                    row["parent"] = json!(municipality.parent_pcode);
                    row["children"] = json!(municipality.children.len());
                    row["name"] = json!(names(municipality.name.as_ref()));
                    emit(output, municipality, &row, &columns)?;
                }
                match next(answer.next_page_token) {
                    Some(next) => token = next,
                    None => break,
                }
            }
        }
        ListCommand::Orgs { role } => {
            let role = match role.as_deref() {
                None => pb::OrgRole::Unspecified,
                Some("ministry") => pb::OrgRole::Ministry,
                Some("donor") => pb::OrgRole::Donor,
                Some("observer") => pb::OrgRole::Observer,
                Some(other) => bail!("--role {other:?}: use ministry, donor or observer"),
            };
            let columns = [
                ("orgId", 20),
                ("role", 10),
                ("iatiIdentifier", 20),
                ("keys", 14),
                ("name", 0),
            ];
            loop {
                let answer = client
                    .list_organisations(pb::ListOrganisationsRequest {
                        role: role as i32,
                        page: page(token),
                        ..Default::default()
                    })
                    .await?
                    .into_inner();
                if std::mem::take(&mut first) {
                    heading(output, answer.info.as_ref(), &columns);
                }
                for org in &answer.organisations {
                    let mut row = to_json(org)?;
                    let role = pb::OrgRole::try_from(org.role).unwrap_or_default();
                    row["role"] = json!(role
                        .as_str_name()
                        .trim_start_matches("ORG_ROLE_")
                        .to_lowercase());
                    let revoked = org.keys.iter().filter(|k| k.revoked_at > 0).count();
                    row["keys"] = json!(format!(
                        "{} active, {revoked} revoked",
                        org.keys.len() - revoked
                    ));
                    row["name"] = json!(names(org.name.as_ref()));
                    emit(output, org, &row, &columns)?;
                }
                match next(answer.next_page_token) {
                    Some(next) => token = next,
                    None => break,
                }
            }
        }
        ListCommand::Projects {
            pcode,
            sector,
            org,
            status,
            as_of,
        } => {
            let scope = scope(pcode, as_of);
            let columns = [
                ("projectId", 32),
                ("owner", 10),
                ("donor", 10),
                ("status", 16),
                ("places", 20),
                ("sectors", 12),
                ("title", 0),
            ];
            loop {
                let answer = client
                    .list_projects(pb::ListProjectsRequest {
                        scope: scope.clone(),
                        sector: sector.clone().unwrap_or_default(),
                        org_id: org.clone().unwrap_or_default(),
                        status: status.unwrap_or_default(),
                        page: page(token),
                    })
                    .await?
                    .into_inner();
                if std::mem::take(&mut first) {
                    heading(output, answer.info.as_ref(), &columns);
                }
                for project in &answer.projects {
                    let mut row = to_json(project)?;
                    row["status"] = json!(if project.pending_review {
                        format!("{} (held)", project.status_name)
                    } else {
                        project.status_name.clone()
                    });
                    row["places"] = json!(project.pcodes.join(","));
                    row["sectors"] = json!(project.sectors.join(","));
                    row["title"] = json!(names(project.title.as_ref()));
                    emit(output, project, &row, &columns)?;
                }
                match next(answer.next_page_token) {
                    Some(next) => token = next,
                    None => break,
                }
            }
        }
    }
    Ok(())
}
