//! `/p/{id}`: a project's details as of the date asked, and its whole
//! signed history: every event with its author, kind, event id, log
//! position and commit time.

use std::sync::Arc;

use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::response::Response;
use maud::{html, Markup};
use tansiq_proto::v1 as pb;

use super::municipality::primary_name;
use crate::console::i18n::Text;
use crate::console::layout::{self, Page};
use crate::console::{Console, PageError, Sources, View};

pub async fn handle(
    State(console): State<Arc<Console>>,
    view: View,
    path: Result<Path<String>, PathRejection>,
) -> Response {
    let page = match super::segment(path, "project id") {
        Ok(project_id) => page(&console.sources, &view, &project_id).await,
        Err(error) => Err(error),
    };
    view.render(page)
}

async fn page(sources: &Sources, view: &View, project_id: &str) -> Result<Page, PageError> {
    let lang = view.lang;
    // NOT_FOUND for a project that is not on the ledger.
    let history = sources.project_history(project_id).await?;
    let found = sources.project(project_id, view.as_of()).await?;
    let (details, listing_info) = (found.project, found.info);
    let directory = sources.organisation_directory().await?;
    let as_of_day = listing_info.as_ref().map_or("", |info| info.as_of.as_str());
    let title = match &details {
        Some(details) => primary_name(lang, details.title.as_ref()),
        None => project_id.to_owned(),
    };
    let body = html! {
        p.project-id { code #project-id { (project_id) } }
        section #details {
            h2 { (lang.t(Text::Details)) }
            @match &details {
                Some(details) => (details_list(view, &directory, details)),
                None => {
                    p.empty #not-registered {
                        (lang.t(Text::NotRegisteredAsOf))
                    }
                }
            }
        }
        @if let Some(details) = &details {
            section #results {
                h2 { (lang.t(Text::Results)) }
                p.explained { (lang.t(Text::ResultsExplained)) }
                (results_table(view, details))
            }
            @if !details.attestations.is_empty() {
                section #attestations {
                    h2 { (lang.t(Text::Attestations)) }
                    p.explained { (lang.t(Text::AttestationsExplained)) }
                    (attestations_table(view, &directory, &details.attestations))
                }
            }
        }
        section #history {
            h2 { (lang.t(Text::SignedHistory)) }
            p.explained { (lang.t(Text::HistoryExplained)) }
            (history_table(view, &directory, &history.entries, as_of_day))
        }
    };
    Ok(Page {
        title,
        body,
        info: listing_info.or(history.info),
    })
}

fn details_list(
    view: &View,
    directory: &[pb::Organisation],
    details: &pb::ProjectListing,
) -> Markup {
    let lang = view.lang;
    html! {
        dl.facts {
            dt { (lang.t(Text::Name)) } dd #project-title { (layout::names(lang, details.title.as_ref())) }
            @if !details.iati_identifier.is_empty() {
                dt { (lang.t(Text::IatiIdentifier)) } dd { code { (details.iati_identifier) } }
            }
            dt { (lang.t(Text::Owner)) } dd { (layout::organisation(view, directory, &details.owner)) }
            dt { (lang.t(Text::Donor)) }
            dd { (layout::donor(view, directory, &details.donor, &details.owner, details.donor_claimed, details.donor_attestation)) }
            @if !details.implementers.is_empty() {
                dt { (lang.t(Text::Implementers)) }
                dd {
                    @for (index, implementer) in details.implementers.iter().enumerate() {
                        @if index > 0 { ", " }
                        (layout::organisation(view, directory, implementer))
                    }
                }
            }
            dt { (lang.t(Text::Locations)) }
            dd {
                @for (index, pcode) in details.pcodes.iter().enumerate() {
                    @if index > 0 { ", " }
                    (layout::municipality_link(view, pcode, None))
                }
            }
            dt { (lang.t(Text::Sectors)) }
            dd {
                @for (index, sector) in details.sectors.iter().enumerate() {
                    @if index > 0 { ", " }
                    code { (sector) }
                }
            }
            dt { (lang.t(Text::Status)) }
            dd {
                (details.status_name)
                @if details.closed { " (" (lang.t(Text::Closed)) ")" }
                @if details.pending_review { " " span.badge.held { (lang.t(Text::HeldForReview)) } }
            }
            dt { (lang.t(Text::Period)) } dd { (details.start) " – " (details.end) }
            dt { (lang.t(Text::Budget)) } dd { (layout::money(details.budget.as_ref())) }
        }
    }
}

/// A verdict in words, as a badge class and its text.
pub fn verdict(view: &View, verdict: i32) -> (&'static str, &'static str) {
    let lang = view.lang;
    match pb::AttestationVerdict::try_from(verdict).unwrap_or_default() {
        pb::AttestationVerdict::Confirmed => ("confirmed", lang.t(Text::VerdictConfirmed)),
        pb::AttestationVerdict::Disputed => ("disputed", lang.t(Text::VerdictDisputed)),
        pb::AttestationVerdict::Partly => ("partly", lang.t(Text::VerdictPartly)),
        pb::AttestationVerdict::Unspecified => ("unattested", lang.t(Text::NotAttested)),
    }
}

/// Each result period: target, reported actual, confirmed actual and the
/// municipality's word.
fn results_table(view: &View, details: &pb::ProjectListing) -> Markup {
    let lang = view.lang;
    if details.results.is_empty() {
        return html! { p.empty #no-results { (lang.t(Text::NoResultsReported)) } };
    }
    html! {
        table.results {
            thead { tr {
                th { (lang.t(Text::Result)) }
                th { (lang.t(Text::Period)) }
                th.number { (lang.t(Text::Target)) }
                th.number { (lang.t(Text::ReportedActual)) }
                th.number { (lang.t(Text::ConfirmedActual)) }
                th { (lang.t(Text::MunicipalityWord)) }
            } }
            tbody {
                @for result in &details.results {
                    @let title = result.indicator.as_ref().and_then(|i| i.title.as_ref()).or(result.title.as_ref());
                    @for period in &result.periods {
                        @let (class, word) = verdict(view, period.verdict);
                        tr.result-period data-result=(result.result_id) data-start=(period.start) {
                            td { (layout::names(lang, title)) }
                            td.date { (period.start) " – " (period.end) }
                            td.number.target { (period.target) }
                            td.number.reported { (period.reported_actual) }
                            td.number.confirmed { (period.confirmed_actual) }
                            td { span.badge.(class) { (word) } }
                        }
                    }
                }
            }
        }
    }
}

/// Every attestation of the project's claims.
fn attestations_table(
    view: &View,
    directory: &[pb::Organisation],
    attestations: &[pb::Attestation],
) -> Markup {
    let lang = view.lang;
    html! {
        table.attestations {
            thead { tr {
                th { (lang.t(Text::Subject)) }
                th { (lang.t(Text::Attester)) }
                th { (lang.t(Text::Status)) }
                th.number { (lang.t(Text::Value)) }
                th { (lang.t(Text::Note)) }
            } }
            tbody {
                @for attestation in attestations {
                    @let (class, word) = verdict(view, attestation.verdict);
                    tr.attestation data-subject=(attestation.subject) data-verdict=(class) {
                        td { code { (attestation.subject) } }
                        td { (layout::organisation(view, directory, &attestation.attester)) }
                        td { span.badge.(class) { (word) } }
                        td.number { (attestation.value) }
                        td { (attestation.note) }
                    }
                }
            }
        }
    }
}

/// Every event, oldest first; those committed after the as-of day marked.
fn history_table(
    view: &View,
    directory: &[pb::Organisation],
    entries: &[pb::HistoryEntry],
    as_of_day: &str,
) -> Markup {
    let lang = view.lang;
    html! {
        table.history {
            thead { tr {
                th.number { (lang.t(Text::Position)) }
                th { (lang.t(Text::CommittedAt)) }
                th { (lang.t(Text::CreatedAt)) }
                th { (lang.t(Text::Author)) }
                th { (lang.t(Text::SigningKey)) }
                th { (lang.t(Text::Kind)) }
                th { (lang.t(Text::EventId)) }
            } }
            tbody {
                @for entry in entries {
                    @let later = !view.as_of().is_empty() && layout::day(entry.committed_at_ms).as_str() > as_of_day;
                    tr.history-entry.later[later] data-event-id=(hex::encode(&entry.event_id)) data-position=(entry.position) {
                        td.number { (entry.position) }
                        td {
                            (layout::time(entry.committed_at_ms))
                            @if later { " " span.badge { (lang.t(Text::AfterAsOf)) } }
                        }
                        td { (layout::time(entry.created_at_ms)) }
                        td { (layout::organisation(view, directory, &entry.author)) }
                        td { code.signer-key title=(hex::encode(&entry.signer_key)) { (hex::encode(entry.signer_key.get(..8).unwrap_or_default())) "…" } }
                        td { code { (entry.kind) } }
                        td { code.event-id { (hex::encode(&entry.event_id)) } }
                    }
                }
            }
        }
    }
}
