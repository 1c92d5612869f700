//! `/municipalities`, `/organisations`, `/projects`: what is on the ledger,
//! a listing page at a time (the services' pagination; `?after=` is the
//! page token they gave).

use std::sync::Arc;

use axum::extract::State;
use axum::response::Response;
use maud::html;
use tansiq_proto::v1 as pb;

use super::gaps::pcode_filter;
use super::organisation::{projects_table, role};
use crate::console::i18n::Text;
use crate::console::layout::{self, Page};
use crate::console::view::encode;
use crate::console::{Console, PageError, Sources, View};

/// The services' default page (100 items).
fn page_from(view: &View) -> Option<pb::PageRequest> {
    Some(pb::PageRequest {
        page_size: 0,
        page_token: view.after().to_owned(),
    })
}

/// The filter to keep in the next page's link.
fn pcode_pair(view: &View) -> Vec<(&str, &str)> {
    match view.pcode() {
        "" => Vec::new(),
        pcode => vec![("pcode", pcode)],
    }
}

pub async fn municipalities(State(console): State<Arc<Console>>, view: View) -> Response {
    view.render(municipalities_page(&console.sources, &view).await)
}

async fn municipalities_page(sources: &Sources, view: &View) -> Result<Page, PageError> {
    let lang = view.lang;
    let listed = sources
        .municipalities(pb::ListMunicipalitiesRequest {
            scope: Some(pb::Scope {
                pcode: view.pcode().to_owned(),
                ..Default::default()
            }),
            page: page_from(view),
        })
        .await?;
    let body = html! {
        (pcode_filter(view))
        table.municipalities {
            thead { tr {
                th { (lang.t(Text::Pcode)) } th { (lang.t(Text::Name)) }
                th.number { (lang.t(Text::AdminLevel)) } th { (lang.t(Text::Children)) }
            } }
            tbody {
                @for municipality in &listed.municipalities {
                    tr.listed-municipality data-pcode=(municipality.pcode) {
                        td { a href=(view.href(&format!("/m/{}", encode(&municipality.pcode)), &[])) { code { (municipality.pcode) } } }
                        td { (layout::names(lang, municipality.name.as_ref())) }
                        td.number { (municipality.admin_level) }
                        td { (municipality.children.len()) }
                    }
                }
            }
        }
        (layout::next_page(view, "/municipalities", &pcode_pair(view), &listed.next_page_token))
    };
    Ok(Page {
        title: lang.t(Text::Municipalities).to_owned(),
        body,
        info: listed.info,
    })
}

pub async fn organisations(State(console): State<Arc<Console>>, view: View) -> Response {
    view.render(organisations_page(&console.sources, &view).await)
}

async fn organisations_page(sources: &Sources, view: &View) -> Result<Page, PageError> {
    let lang = view.lang;
    let listed = sources
        .organisations(pb::ListOrganisationsRequest {
            page: page_from(view),
            ..Default::default()
        })
        .await?;
    let body = html! {
        table.organisations {
            thead { tr {
                th { (lang.t(Text::Name)) } th { (lang.t(Text::Role)) }
                th { (lang.t(Text::IatiIdentifier)) } th.number { (lang.t(Text::Keys)) }
            } }
            tbody {
                @for organisation in &listed.organisations {
                    tr.listed-organisation data-org=(organisation.org_id) {
                        td {
                            a href=(view.href(&format!("/o/{}", encode(&organisation.org_id)), &[])) {
                                (layout::names(lang, organisation.name.as_ref()))
                            }
                            " " code { (organisation.org_id) }
                        }
                        td { (role(lang, organisation.role)) }
                        td { code { (organisation.iati_identifier) } }
                        td.number { (organisation.keys.len()) }
                    }
                }
            }
        }
        (layout::next_page(view, "/organisations", &[], &listed.next_page_token))
    };
    Ok(Page {
        title: lang.t(Text::Organisations).to_owned(),
        body,
        info: listed.info,
    })
}

pub async fn projects(State(console): State<Arc<Console>>, view: View) -> Response {
    view.render(projects_page(&console.sources, &view).await)
}

async fn projects_page(sources: &Sources, view: &View) -> Result<Page, PageError> {
    let lang = view.lang;
    let listed = sources
        .projects(pb::ListProjectsRequest {
            scope: Some(view.scope(view.pcode())),
            sector: view.sector().to_owned(),
            page: page_from(view),
            ..Default::default()
        })
        .await?;
    let mut kept = pcode_pair(view);
    if !view.sector().is_empty() {
        kept.push(("sector", view.sector()));
    }
    let body = html! {
        (pcode_filter(view))
        @if listed.projects.is_empty() {
            p.empty #no-projects { (lang.t(Text::NoProjects)) }
        } @else {
            (projects_table(view, &listed.projects))
        }
        (layout::next_page(view, "/projects", &kept, &listed.next_page_token))
    };
    Ok(Page {
        title: lang.t(Text::Projects).to_owned(),
        body,
        info: listed.info,
    })
}
