//! `/o/{id}`: an organisation: its role, names, IATI identity, signing keys
//! (active and revoked) and its projects as of the date asked, a listing
//! page at a time.

use std::sync::Arc;

use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::response::Response;
use maud::{html, Markup};
use tansiq_proto::v1 as pb;

use super::municipality::primary_name;
use crate::console::i18n::{Lang, Text};
use crate::console::layout::{self, Page};
use crate::console::view::encode;
use crate::console::{Console, PageError, Sources, View};

pub async fn handle(
    State(console): State<Arc<Console>>,
    view: View,
    path: Result<Path<String>, PathRejection>,
) -> Response {
    let page = match super::segment(path, "organisation id") {
        Ok(org_id) => page(&console.sources, &view, &org_id).await,
        Err(error) => Err(error),
    };
    view.render(page)
}

async fn page(sources: &Sources, view: &View, org_id: &str) -> Result<Page, PageError> {
    let lang = view.lang;
    // NOT_FOUND for an organisation that is not registered.
    let projects = sources
        .projects(pb::ListProjectsRequest {
            scope: Some(view.scope("")),
            org_id: org_id.to_owned(),
            page: Some(pb::PageRequest {
                page_size: 0,
                page_token: view.after().to_owned(),
            }),
            ..Default::default()
        })
        .await?;
    let organisation = sources.organisation(org_id).await?;
    let title = Some(primary_name(lang, organisation.name.as_ref()))
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| org_id.to_owned());
    let here = format!("/o/{}", encode(org_id));
    let body = html! {
        p.org-id { code #org-id { (org_id) } }
        (facts(lang, &organisation))
        section #projects {
            h2 { (lang.t(Text::ItsProjects)) }
            @if projects.projects.is_empty() {
                p.empty { (lang.t(Text::NoProjects)) }
            } @else {
                (projects_table(view, &projects.projects))
            }
            (layout::next_page(view, &here, &[], &projects.next_page_token))
        }
    };
    Ok(Page {
        title,
        body,
        info: projects.info,
    })
}

/// An organisation's role, in words.
pub fn role(lang: Lang, role: i32) -> &'static str {
    match pb::OrgRole::try_from(role) {
        Ok(pb::OrgRole::Ministry) => lang.t(Text::RoleMinistry),
        Ok(pb::OrgRole::Donor) => lang.t(Text::RoleDonor),
        Ok(pb::OrgRole::Observer) => lang.t(Text::RoleObserver),
        Ok(pb::OrgRole::LocalGovernment) => lang.t(Text::RoleLocalGovernment),
        Ok(pb::OrgRole::Implementer) => lang.t(Text::RoleImplementer),
        Ok(pb::OrgRole::Unspecified) | Err(_) => lang.t(Text::RoleUnknown),
    }
}

fn facts(lang: Lang, organisation: &pb::Organisation) -> Markup {
    html! {
        p.names { (layout::names(lang, organisation.name.as_ref())) }
        dl.facts {
            dt { (lang.t(Text::Role)) } dd #role { (role(lang, organisation.role)) }
            @if !organisation.iati_identifier.is_empty() {
                dt { (lang.t(Text::IatiIdentifier)) } dd { code { (organisation.iati_identifier) } }
            }
            @if organisation.iati_org_type != 0 {
                dt { (lang.t(Text::IatiOrgType)) } dd { (organisation.iati_org_type) }
            }
            @if !organisation.reports_for.is_empty() {
                dt { (lang.t(Text::ReportsFor)) }
                dd { @for (index, publisher) in organisation.reports_for.iter().enumerate() {
                    @if index > 0 { ", " }
                    code { (publisher) }
                } }
            }
        }
        section #keys {
            h2 { (lang.t(Text::Keys)) }
            table.keys {
                thead { tr {
                    th { (lang.t(Text::PublicKey)) }
                    th.number { (lang.t(Text::Sequence)) }
                    th { (lang.t(Text::Status)) }
                } }
                tbody {
                    @for key in &organisation.keys {
                        tr.key.revoked[key.revoked_at != 0] {
                            td { code { (hex::encode(&key.public_key)) } }
                            td.number { (key.sequence) }
                            td {
                                @if key.revoked_at == 0 {
                                    (lang.t(Text::Active))
                                } @else {
                                    (lang.t(Text::RevokedAt)) " " (key.revoked_at)
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// Projects as listed: title, places, sectors, status, dates, budget.
pub fn projects_table(view: &View, projects: &[pb::ProjectListing]) -> Markup {
    let lang = view.lang;
    html! {
        table.projects {
            thead { tr {
                th { (lang.t(Text::Project)) }
                th { (lang.t(Text::Owner)) }
                th { (lang.t(Text::Locations)) }
                th { (lang.t(Text::Sectors)) }
                th { (lang.t(Text::Status)) }
                th { (lang.t(Text::Period)) }
                th.number { (lang.t(Text::Budget)) }
            } }
            tbody {
                @for project in projects {
                    tr.listed-project.closed[project.closed] data-project=(project.project_id) {
                        td {
                            (layout::project_link(view, &project.project_id, project.title.as_ref()))
                            @if project.pending_review { " " span.badge.held { (lang.t(Text::HeldForReview)) } }
                        }
                        td {
                            a href=(view.href(&format!("/o/{}", encode(&project.owner)), &[])) { code { (project.owner) } }
                        }
                        td {
                            @for (index, pcode) in project.pcodes.iter().enumerate() {
                                @if index > 0 { ", " }
                                (layout::municipality_link(view, pcode, None))
                            }
                        }
                        td { @for (index, sector) in project.sectors.iter().enumerate() {
                            @if index > 0 { ", " }
                            code { (sector) }
                        } }
                        td {
                            (project.status_name)
                            @if project.closed { " (" (lang.t(Text::Closed)) ")" }
                        }
                        td { (project.start) " – " (project.end) }
                        td.number { (layout::money(project.budget.as_ref())) }
                    }
                }
            }
        }
    }
}
