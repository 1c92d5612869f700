//! `/`: the ledger (chain id, position, head) and how much is on it: counts
//! of organisations, municipalities, projects, open overlaps and uncovered
//! needs, each linked to its page; the countries; the largest gaps.

use std::sync::Arc;

use axum::extract::State;
use axum::response::Response;
use maud::{html, Markup};
use tansiq_proto::v1 as pb;

use crate::console::i18n::{Lang, Text};
use crate::console::layout::{self, Page};
use crate::console::sources::Count;
use crate::console::view::encode;
use crate::console::{Console, PageError, Sources, View};

/// Gaps the overview lists (the gaps page has them all).
const LARGEST_GAPS: usize = 5;

pub async fn handle(State(console): State<Arc<Console>>, view: View) -> Response {
    view.render(page(&console.sources, &view).await)
}

async fn page(sources: &Sources, view: &View) -> Result<Page, PageError> {
    let lang = view.lang;
    // First the calls that check the as-of date, so that a malformed one
    // is refused before anything is counted.
    let overlaps = sources
        .overlaps(pb::OverlapsRequest {
            scope: Some(view.scope("")),
            ..Default::default()
        })
        .await?;
    let gaps = sources.gaps(view.scope("")).await?;
    let projects = sources.count_projects(view.as_of()).await?;
    let organisations = sources.count_organisations().await?;
    let (municipalities, countries) = sources.count_municipalities().await?;
    let head = sources.head().await?;
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
            (count(view, "overlaps", "/overlaps", Text::OpenOverlaps, Count::Exactly(overlaps.overlaps.len()), false))
            (count(view, "gaps", "/gaps", Text::UncoveredNeeds, Count::Exactly(gaps.gaps.len()), false))
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
        info: overlaps.info,
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
