//! `/`: the ledger (chain id, position, head) and how much is on it: counts
//! of organisations, municipalities, projects, open overlaps and uncovered
//! needs, each linked to its page; the countries; the latest events (kept
//! up to date live, see `live`); the largest gaps.

use std::sync::Arc;

use axum::extract::State;
use axum::response::Response;
use maud::{html, Markup};
use prost::Message as _;
use tansiq_ledger::event::kind_name;
use tansiq_proto::v1 as pb;

use crate::console::i18n::{Lang, Text};
use crate::console::layout::{self, Page};
use crate::console::sources::Count;
use crate::console::view::encode;
use crate::console::{Console, PageError, Sources, View};

/// Gaps the overview lists (the gaps page has them all).
const LARGEST_GAPS: usize = 5;
/// Events the overview lists, newest first.
const LATEST_EVENTS: u64 = 10;

pub async fn handle(State(console): State<Arc<Console>>, view: View) -> Response {
    view.render(page(&console.sources, &view).await)
}

async fn page(sources: &Sources, view: &View) -> Result<Page, PageError> {
    let lang = view.lang;
    // First the call that checks the as-of date, so that a malformed one
    // is refused before anything is counted; then the independent counts
    // at once (each is a blocking read of its own).
    let totals = sources.totals(view.scope("")).await?;
    let (gaps, projects, organisations, municipalities, head) = tokio::try_join!(
        sources.gaps_of(pb::GapsRequest {
            scope: Some(view.scope("")),
            limit: LARGEST_GAPS as u32,
            ..Default::default()
        }),
        sources.count_projects(view.as_of()),
        sources.count_organisations(),
        sources.count_municipalities(),
        sources.head(),
    )?;
    let (municipalities, countries) = municipalities;
    // The latest events, for the ledger as it stands now only (an as-of
    // page shows an earlier state; its latest events are not these).
    let latest = if view.as_of().is_empty() {
        sources.latest_entries(head.position, LATEST_EVENTS).await?
    } else {
        Vec::new()
    };
    let directory = sources.organisation_directory().await?;
    let body = html! {
        section.ledger {
            dl {
                dt { (lang.t(Text::ChainId)) } dd #chain-id { code { (head.chain_id) } }
                dt { (lang.t(Text::Position)) } dd #position { (head.position) }
                dt { (lang.t(Text::Head)) } dd #head { code { (hex::encode(&head.head)) } }
                dt { (lang.t(Text::GenesisHash)) } dd { code { (hex::encode(&head.genesis_hash)) } }
            }
        }
        section.counts {
            (count(view, "organisations", "/organisations", Text::Organisations, organisations, true))
            (count(view, "municipalities", "/municipalities", Text::Municipalities, municipalities, true))
            (count(view, "projects", "/projects", Text::ProjectsCount, projects, false))
            (count(view, "overlaps", "/overlaps", Text::OpenOverlaps, exactly(totals.open_overlaps), false))
            (count(view, "gaps", "/gaps", Text::UncoveredNeeds, exactly(totals.uncovered_needs), false))
        }
        @if !countries.is_empty() {
            section {
                h2 { (lang.t(Text::Countries)) }
                ul.countries {
                    @for country in &countries {
                        li {
                            (layout::municipality_link(view, &country.pcode, country.name.as_ref()))
                            " · "
                            a href=(view.href("/matrix", &[("pcode", &country.pcode)])) { (lang.t(Text::Matrix)) }
                        }
                    }
                }
            }
        }
        @if !latest.is_empty() {
            section #latest-events {
                h2 { (lang.t(Text::LatestEvents)) }
                (latest_events(view, &directory, &latest))
            }
        }
        @if !gaps.gaps.is_empty() {
            section {
                h2 { (lang.t(Text::UncoveredNeeds)) }
                (largest_gaps(view, &gaps.gaps))
                p { a href=(view.href("/gaps", &[])) { (lang.t(Text::Gaps)) " " (lang.onward()) } }
            }
        }
    };
    Ok(Page {
        title: lang.t(Text::Overview).to_owned(),
        body,
        info: totals.info,
    })
}

/// One figure, linked to the page that lists it. `registered_now`: the
/// listing has no as-of date (registrations are never undone).
fn count(
    view: &View,
    id: &str,
    path: &str,
    label: Text,
    count: Count,
    registered_now: bool,
) -> Markup {
    let lang = view.lang;
    html! {
        a.count href=(view.href(path, &[])) {
            span.figure id={ "count-" (id) } data-count=(figure(count)) { (shown(lang, count)) }
            span.label {
                (lang.t(label))
                @if registered_now { " (" (lang.t(Text::RegisteredNow)) ")" }
            }
        }
    }
}

fn exactly(count: u64) -> Count {
    Count::Exactly(usize::try_from(count).unwrap_or(usize::MAX))
}

/// The count as data (a test or a script reads it): "12", or "12+".
fn figure(count: Count) -> String {
    match count {
        Count::Exactly(count) => count.to_string(),
        Count::MoreThan(count) => format!("{count}+"),
    }
}

fn shown(lang: Lang, count: Count) -> String {
    match count {
        Count::Exactly(count) => layout::grouped(&count.to_string()),
        Count::MoreThan(count) => format!(
            "{} {}",
            lang.t(Text::MoreThan),
            layout::grouped(&count.to_string())
        ),
    }
}

/// The latest log entries, newest first: position, commit time, author,
/// kind and event id, from each entry's signed body.
fn latest_events(view: &View, directory: &[pb::Organisation], entries: &[pb::LogEntry]) -> Markup {
    let lang = view.lang;
    html! {
        table.events {
            thead { tr {
                th.number { (lang.t(Text::Position)) }
                th { (lang.t(Text::CommittedAt)) }
                th { (lang.t(Text::Author)) }
                th { (lang.t(Text::Kind)) }
                th { (lang.t(Text::EventId)) }
            } }
            tbody {
                @for entry in entries.iter().rev() {
                    @let body = entry
                        .event
                        .as_ref()
                        .and_then(|signed| pb::EventBody::decode(signed.body.as_slice()).ok())
                        .unwrap_or_default();
                    tr.event data-position=(entry.position) {
                        td.number { (entry.position) }
                        td { (layout::time(entry.committed_at_ms)) }
                        td { (layout::organisation(view, directory, &body.author)) }
                        td { code { (body.kind.as_ref().map_or("", kind_name)) } }
                        td { code.event-id { (hex::encode(&entry.event_id)) } }
                    }
                }
            }
        }
    }
}

fn largest_gaps(view: &View, gaps: &[pb::Gap]) -> Markup {
    let lang = view.lang;
    html! {
        table {
            thead { tr {
                th { (lang.t(Text::Municipality)) } th { (lang.t(Text::Sector)) } th.number { (lang.t(Text::PeopleInNeed)) }
            } }
            tbody {
                @for gap in gaps.iter().take(LARGEST_GAPS) {
                    tr {
                        td { (layout::municipality_link(view, &gap.pcode, gap.municipality.as_ref())) }
                        td {
                            a href=(view.href(&format!("/m/{}", encode(&gap.pcode)), &[("sector", &gap.sector)])) {
                                (layout::sector(&gap.sector, &gap.sector_name))
                            }
                        }
                        td.number { (layout::grouped(&gap.people_in_need.to_string())) }
                    }
                }
            }
        }
    }
}
