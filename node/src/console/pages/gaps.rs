//! `/gaps?pcode=&sector=&level=`: assessed needs nobody covers, most
//! people in need first (the service's ranking), under a P-code or
//! everywhere, in a sector or category, at an administrative level.

use std::sync::Arc;

use axum::extract::State;
use axum::response::Response;
use maud::{html, Markup};
use tansiq_proto::v1 as pb;

use tansiq_ledger::limits::ADMIN_LEVEL_MAX;

use super::download;
use crate::console::i18n::Text;
use crate::console::layout::{self, Page};
use crate::console::view::encode;
use crate::console::{Console, PageError, Sources, View, TABLE_ROWS_MAX};

pub async fn handle(State(console): State<Arc<Console>>, view: View) -> Response {
    view.render(page(&console.sources, &view).await)
}

async fn page(sources: &Sources, view: &View) -> Result<Page, PageError> {
    let lang = view.lang;
    let gaps = sources
        .gaps_of(pb::GapsRequest {
            count: 0,
            scope: Some(view.scope(view.pcode())),
            sector: view.sector().to_owned(),
            admin_level: view.level()?,
            limit: TABLE_ROWS_MAX as u32,
        })
        .await?;
    let body = html! {
        (gap_filter(view))
        @if gaps.gaps.is_empty() {
            p.empty { (lang.t(Text::NoGaps)) }
        } @else {
            (download::links(view, "gaps", view.pcode()))
            (bounded_note(view, gaps.total))
            (gaps_table(view, &gaps.gaps))
        }
    };
    Ok(Page {
        title: lang.t(Text::Gaps).to_owned(),
        body,
        info: gaps.info,
    })
}

/// A form narrowing a page to a P-code (plain GET, no script).
pub fn pcode_filter(view: &View) -> Markup {
    let lang = view.lang;
    html! {
        form.filter method="get" action=(view.path()) {
            label for="pcode" { (lang.t(Text::FilterPcode)) }
            input #pcode type="text" name="pcode" value=(view.pcode()) maxlength="20" size="10" placeholder="LY03";
            @for (name, value) in [("as_of", &view.params.as_of), ("all", &view.params.all), ("show", &view.params.show)] {
                @if let Some(value) = value {
                    input type="hidden" name=(name) value=(value);
                }
            }
            @if view.lang_in_query() {
                input type="hidden" name="lang" value=(lang.code());
            }
            button type="submit" { (lang.t(Text::Show)) }
        }
    }
}

/// The gaps' filters: P-code (a country is its 2-letter code), sector or
/// category, administrative level (plain GET, no script).
fn gap_filter(view: &View) -> Markup {
    let lang = view.lang;
    let level = view.params.level.as_deref().unwrap_or("");
    html! {
        form.filter method="get" action=(view.path()) {
            label for="pcode" { (lang.t(Text::FilterPcode)) }
            input #pcode type="text" name="pcode" value=(view.pcode()) maxlength="20" size="10" placeholder="LY03";
            label for="sector" { (lang.t(Text::Sector)) }
            input #sector type="text" name="sector" value=(view.sector()) maxlength="5" size="6" placeholder="140" title=(lang.t(Text::AnySector));
            label for="level" { (lang.t(Text::AdminLevel)) }
            select #level name="level" {
                option value="" selected[level.is_empty()] { (lang.t(Text::AnyLevel)) }
                @for choice in 1..=ADMIN_LEVEL_MAX {
                    @let choice = choice.to_string();
                    option value=(choice) selected[level == choice] { (choice) }
                }
            }
            @if let Some(as_of) = &view.params.as_of {
                input type="hidden" name="as_of" value=(as_of);
            }
            @if view.lang_in_query() {
                input type="hidden" name="lang" value=(lang.code());
            }
            button type="submit" { (lang.t(Text::Show)) }
        }
    }
}

/// "500 shown of 812: narrow the P-code", when a table is cut.
pub fn bounded_note(view: &View, total: u64) -> Markup {
    let lang = view.lang;
    html! {
        @if total > TABLE_ROWS_MAX as u64 {
            p.bounded {
                (TABLE_ROWS_MAX) " " (lang.t(Text::Shown)) " " (lang.t(Text::Of)) " " (total) ". "
                (lang.t(Text::TooManyRows))
            }
        }
    }
}

pub fn gaps_table(view: &View, gaps: &[pb::Gap]) -> Markup {
    let lang = view.lang;
    html! {
        table.gaps {
            thead { tr {
                th.number { (lang.t(Text::Rank)) }
                th { (lang.t(Text::Municipality)) }
                th { (lang.t(Text::Sector)) }
                th.number { (lang.t(Text::PeopleInNeed)) }
                th.number { (lang.t(Text::Severity)) }
                th { (lang.t(Text::Period)) }
                th { (lang.t(Text::Source)) }
            } }
            tbody {
                @for gap in gaps {
                    tr.gap data-pcode=(gap.pcode) data-sector=(gap.sector) {
                        td.number { (gap.rank) }
                        td { (layout::municipality_link(view, &gap.pcode, gap.municipality.as_ref())) }
                        td {
                            a href=(view.href(&format!("/m/{}", encode(&gap.pcode)), &[("sector", &gap.sector)])) {
                                (layout::sector(&gap.sector, &gap.sector_name))
                            }
                        }
                        td.number { (layout::grouped(&gap.people_in_need.to_string())) }
                        td.number { (gap.severity) }
                        td { (gap.period_start) " – " (gap.period_end) }
                        td dir="auto" { (gap.source) }
                    }
                }
            }
        }
    }
}
