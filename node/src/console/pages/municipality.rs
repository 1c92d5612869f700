//! `/m/{pcode}`: a municipality: who supports it in which sector (donor,
//! implementers, dates, amounts), its uncovered needs, where it belongs
//! and what is under it. `?sector=` narrows to a sector or category.

use std::sync::Arc;

use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::response::Response;
use maud::{html, Markup};
use tansiq_proto::v1 as pb;

use super::gaps::gaps_table;
use crate::console::i18n::Text;
use crate::console::layout::{self, Page};
use crate::console::view::encode;
use crate::console::{Console, PageError, Sources, View};

pub async fn handle(
    State(console): State<Arc<Console>>,
    view: View,
    path: Result<Path<String>, PathRejection>,
) -> Response {
    let page = match super::segment(path, "P-code") {
        Ok(pcode) => page(&console.sources, &view, &pcode).await,
        Err(error) => Err(error),
    };
    view.render(page)
}

async fn page(sources: &Sources, view: &View, pcode: &str) -> Result<Page, PageError> {
    let lang = view.lang;
    // NOT_FOUND for a P-code that is not registered, INVALID_ARGUMENT for a
    // malformed date or an unknown sector.
    let supports = sources
        .who_supports(pb::WhoSupportsRequest {
            count: 0,
            scope: Some(view.scope(pcode)),
            sector: view.sector().to_owned(),
            include_children: false,
        })
        .await?;
    let gaps = sources.gaps(view.scope(pcode)).await?;
    // It, and what is under it (a page: children past it show their P-code).
    let listed = sources.municipalities_under(pcode).await?.municipalities;
    let Some(this) = listed.iter().find(|m| m.pcode == pcode) else {
        return Err(PageError::not_found(format!(
            "no municipality with P-code {pcode:?} is registered on this ledger"
        )));
    };
    let directory = sources.organisation_directory().await?;
    let parent = match (this.parent_pcode.as_str(), this.admin_level) {
        ("", 1) => pcode.get(..2).unwrap_or(""),
        (parent, _) => parent,
    };
    let here = format!("/m/{}", encode(pcode));
    let body = html! {
        p.names { (layout::names(lang, this.name.as_ref())) }
        dl.facts {
            dt { (lang.t(Text::Pcode)) } dd { code #pcode { (pcode) } }
            dt { (lang.t(Text::AdminLevel)) } dd { (this.admin_level) }
            @if !parent.is_empty() {
                dt { (lang.t(Text::Parent)) } dd { (layout::municipality_link(view, parent, None)) }
            }
        }
        p.links {
            a href=(view.href("/matrix", &[("pcode", pcode)])) { (lang.t(Text::Matrix)) }
            " · "
            a #all-projects href=(view.href("/projects", &[("pcode", pcode)])) { (lang.t(Text::AllProjectsHere)) }
        }
        section #supports {
            h2 { (lang.t(Text::WhoSupports)) }
            @if !view.sector().is_empty() {
                p.filter {
                    (lang.t(Text::Sector)) " " code { (view.sector()) } " · "
                    a href=(view.href(&here, &[])) { (lang.t(Text::Sectors)) " ×" }
                }
            }
            @if supports.supports.is_empty() {
                p.empty #nobody { (lang.t(Text::NobodySupports)) }
            } @else {
                (supports_table(view, &directory, &supports.supports))
            }
            // Here and under it, as `tansiq export csv PCODE` writes it.
            (super::download::links(view, "coverage", pcode))
        }
        section #gaps {
            h2 { (lang.t(Text::GapsHere)) }
            @if gaps.gaps.is_empty() {
                p.empty { (lang.t(Text::NoGaps)) }
            } @else {
                (gaps_table(view, &gaps.gaps))
            }
        }
        @if !this.children.is_empty() {
            section #children {
                h2 { (lang.t(Text::Children)) }
                ul.children {
                    @for child in &this.children {
                        @let names = listed.iter().find(|m| &m.pcode == child).and_then(|m| m.name.as_ref());
                        li { (layout::municipality_link(view, child, names)) }
                    }
                }
            }
        }
    };
    Ok(Page {
        title: format!("{} ({pcode})", primary_name(lang, this.name.as_ref())),
        body,
        info: supports.info,
    })
}

/// The name a title uses: in the page's script when the ledger has it.
pub fn primary_name(lang: crate::console::i18n::Lang, names: Option<&pb::Names>) -> String {
    let Some(names) = names else {
        return String::new();
    };
    let arabic_first = lang == crate::console::i18n::Lang::Ar && !names.arabic.trim().is_empty()
        || names.latin.trim().is_empty();
    if arabic_first {
        names.arabic.trim().to_owned()
    } else {
        names.latin.trim().to_owned()
    }
}

/// Who supports a place, a row per project and sector.
pub fn supports_table(
    view: &View,
    directory: &[pb::Organisation],
    supports: &[pb::ProjectSupport],
) -> Markup {
    let lang = view.lang;
    html! {
        table.supports {
            thead { tr {
                th { (lang.t(Text::Sector)) }
                th { (lang.t(Text::Project)) }
                th { (lang.t(Text::Donor)) }
                th { (lang.t(Text::Implementers)) }
                th { (lang.t(Text::Status)) }
                th { (lang.t(Text::Start)) }
                th { (lang.t(Text::End)) }
                th.number { (lang.t(Text::Budget)) }
            } }
            tbody {
                @for support in supports {
                    tr.support.held[support.pending_review] data-project=(support.project_id) data-sector=(support.sector) {
                        td { (layout::sector(&support.sector, &support.sector_name)) }
                        td {
                            (layout::project_link(view, &support.project_id, support.title.as_ref()))
                            @if support.pending_review {
                                " " span.badge.held { (lang.t(Text::HeldForReview)) }
                            }
                            @match pb::AttestationVerdict::try_from(support.activity_attested).unwrap_or_default() {
                                pb::AttestationVerdict::Confirmed => { " " span.badge.confirmed.activity { (lang.t(Text::ConfirmedHere)) } }
                                pb::AttestationVerdict::Disputed => { " " span.badge.disputed.activity { (lang.t(Text::DisputedHere)) } }
                                pb::AttestationVerdict::Partly => { " " span.badge.partly.activity { (lang.t(Text::PartlyHere)) } }
                                pb::AttestationVerdict::Unspecified => {}
                            }
                        }
                        td { (layout::donor(view, directory, &support.donor, &support.owner, support.donor_claimed, support.donor_attestation)) }
                        td {
                            @for (index, implementer) in support.implementers.iter().enumerate() {
                                @if index > 0 { ", " }
                                (layout::organisation(view, directory, implementer))
                            }
                        }
                        td { (support.status_name) }
                        td.date { (support.start) }
                        td.date { (support.end) }
                        td.number { (layout::money(support.budget.as_ref())) }
                    }
                }
            }
        }
    }
}
