//! `/overlaps?pcode=&all=1`: pairs of projects that overlap, those held for
//! the ministry's review first, each with the ministry's review (or its
//! absence) and both projects side by side.

use std::sync::Arc;

use axum::extract::State;
use axum::response::Response;
use maud::{html, Markup};
use tansiq_proto::v1 as pb;

use super::download;
use super::gaps::{bounded_note, pcode_filter};
use crate::console::i18n::{Lang, Text};
use crate::console::layout::{self, Page};
use crate::console::{Console, PageError, Sources, View, TABLE_ROWS_MAX};

pub async fn handle(State(console): State<Arc<Console>>, view: View) -> Response {
    view.render(page(&console.sources, &view).await)
}

async fn page(sources: &Sources, view: &View) -> Result<Page, PageError> {
    let lang = view.lang;
    let all = view.params.all.is_some();
    let answer = sources
        .overlaps(pb::OverlapsRequest {
            scope: Some(view.scope(view.pcode())),
            sector: view.sector().to_owned(),
            include_complementary: all,
            // Held pairs come first (the service's order).
            limit: TABLE_ROWS_MAX as u32,
        })
        .await?;
    let directory = sources.organisation_directory().await?;
    let overlaps = answer.overlaps;
    let pcode = view.pcode();
    let body = html! {
        (pcode_filter(view))
        p.toggle {
            @if all {
                a #only-open href=(view.href("/overlaps", &filter(pcode, None))) { (lang.t(Text::OnlyOpen)) }
            } @else {
                a #include-complementary href=(view.href("/overlaps", &filter(pcode, Some("1")))) { (lang.t(Text::IncludeComplementary)) }
            }
        }
        @if overlaps.is_empty() {
            p.empty { (lang.t(Text::NoOverlaps)) }
        } @else {
            (download::links(view, "overlaps", view.pcode()))
            (bounded_note(view, answer.total))
            @for overlap in &overlaps {
                (overlap_pair(view, &directory, overlap))
            }
        }
    };
    Ok(Page {
        title: lang.t(Text::Overlaps).to_owned(),
        body,
        info: answer.info,
    })
}

fn filter<'a>(pcode: &'a str, all: Option<&'a str>) -> Vec<(&'a str, &'a str)> {
    let mut pairs = Vec::new();
    if !pcode.is_empty() {
        pairs.push(("pcode", pcode));
    }
    if let Some(all) = all {
        pairs.push(("all", all));
    }
    pairs
}

fn held(overlap: &pb::Overlap) -> bool {
    [&overlap.a, &overlap.b]
        .into_iter()
        .flatten()
        .any(|side| side.pending_review)
}

fn overlap_pair(view: &View, directory: &[pb::Organisation], overlap: &pb::Overlap) -> Markup {
    let lang = view.lang;
    let municipality = overlap.a.as_ref().and_then(|a| a.municipality.as_ref());
    let sector_name = overlap.a.as_ref().map_or("", |a| a.sector_name.as_str());
    html! {
        article.overlap.held[held(overlap)] data-pcode=(overlap.pcode) data-sector=(overlap.sector) {
            header {
                (layout::municipality_link(view, &overlap.pcode, municipality))
                " · " (layout::sector(&overlap.sector, sector_name))
                " · " span.kind { (overlap.kind.replace('_', " ")) }
                @if held(overlap) {
                    " " span.badge.held { (lang.t(Text::HeldForReview)) }
                }
            }
            p.review {
                (lang.t(Text::Review)) ": "
                strong { (verdict(lang, overlap.review)) }
                @if !overlap.review_note.is_empty() {
                    " — " bdi.note { (overlap.review_note) }
                }
            }
            div.pair {
                @for side in [&overlap.a, &overlap.b].into_iter().flatten() {
                    (project_side(view, directory, side))
                }
            }
        }
    }
}

fn verdict(lang: Lang, review: i32) -> &'static str {
    match pb::OverlapVerdict::try_from(review) {
        Ok(pb::OverlapVerdict::Complementary) => lang.t(Text::VerdictComplementary),
        Ok(pb::OverlapVerdict::Duplicate) => lang.t(Text::VerdictDuplicate),
        Ok(pb::OverlapVerdict::SameProject) => lang.t(Text::VerdictSameProject),
        Ok(pb::OverlapVerdict::Unspecified) | Err(_) => lang.t(Text::NotReviewed),
    }
}

fn project_side(view: &View, directory: &[pb::Organisation], side: &pb::ProjectSupport) -> Markup {
    let lang = view.lang;
    html! {
        div.side {
            h3 { (layout::project_link(view, &side.project_id, side.title.as_ref())) }
            dl {
                dt { (lang.t(Text::Owner)) } dd { (layout::organisation(view, directory, &side.owner)) }
                dt { (lang.t(Text::Donor)) } dd { (layout::donor(view, directory, &side.donor, &side.owner, side.donor_claimed, side.donor_attestation)) }
                @if !side.implementers.is_empty() {
                    dt { (lang.t(Text::Implementers)) }
                    dd {
                        @for (index, implementer) in side.implementers.iter().enumerate() {
                            @if index > 0 { ", " }
                            (layout::organisation(view, directory, implementer))
                        }
                    }
                }
                dt { (lang.t(Text::Status)) } dd { (side.status_name) }
                dt { (lang.t(Text::Period)) } dd { (side.start) " – " (side.end) }
                dt { (lang.t(Text::Budget)) } dd { (layout::money(side.budget.as_ref())) }
                @if side.pending_review {
                    dt { (lang.t(Text::Status)) } dd { span.badge.held { (lang.t(Text::HeldForReview)) } }
                }
            }
        }
    }
}
