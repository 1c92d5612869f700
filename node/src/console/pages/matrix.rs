//! `/matrix?pcode=&show=budget`: municipalities under a P-code × sector
//! categories, each cell shaded by the number of projects supporting it,
//! with its donors (or committed amounts), overlaps and uncovered needs
//! marked. A cell opens who supports that municipality in that category.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use axum::extract::State;
use axum::response::Response;
use maud::{html, Markup};
use tansiq_proto::v1 as pb;

use super::gaps::pcode_filter;
use crate::console::i18n::Text;
use crate::console::layout::{self, Page};
use crate::console::view::encode;
use crate::console::{Console, PageError, Sources, View, MATRIX_ROWS_MAX};

pub async fn handle(State(console): State<Arc<Console>>, view: View) -> Response {
    view.render(page(&console.sources, &view).await)
}

/// What a cell shows beside its project count.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Shown {
    Donors,
    Budget,
}

async fn page(sources: &Sources, view: &View) -> Result<Page, PageError> {
    let lang = view.lang;
    let shown = match view.params.show.as_deref() {
        None | Some("donors") => Shown::Donors,
        Some("budget") => Shown::Budget,
        Some(other) => {
            return Err(PageError::bad_request(format!(
                "show {other:?} is not what a matrix cell can show: donors or budget"
            )))
        }
    };
    let pcode = view.pcode();
    // More places registered under the P-code than a matrix shows: say so
    // before computing a matrix, its overlaps and gaps nobody will see (at
    // a country of 10,000 municipalities that takes seconds). A matrix's
    // rows are registered places under the P-code, so past this check it
    // never has too many.
    let registered = sources.municipalities_under(pcode).await?;
    if registered.municipalities.len() > MATRIX_ROWS_MAX {
        return Ok(Page {
            title: lang.t(Text::Matrix).to_owned(),
            body: too_many(view, &registered.municipalities),
            info: registered.info,
        });
    }
    let matrix = sources.matrix(view.scope(pcode)).await?;
    let gaps = sources.gaps(view.scope(pcode)).await?;

    let mut rows: BTreeMap<&str, Option<&pb::Names>> = BTreeMap::new();
    let mut columns: BTreeMap<&str, &str> = BTreeMap::new();
    for cell in &matrix.cells {
        rows.insert(&cell.pcode, cell.municipality.as_ref());
        columns.insert(&cell.category, &cell.category_name);
    }
    let mut gap_cells: BTreeMap<(&str, &str), &pb::Gap> = BTreeMap::new();
    for gap in &gaps.gaps {
        let category = gap.sector.get(..3).unwrap_or(&gap.sector);
        rows.entry(&gap.pcode).or_insert(gap.municipality.as_ref());
        columns.entry(category).or_insert("");
        gap_cells.entry((&gap.pcode, category)).or_insert(gap);
    }
    // Counted by the node: a cell's pairs may be millions.
    let overlap_cells: BTreeSet<(&str, &str)> = matrix
        .cells
        .iter()
        .filter(|cell| cell.open_overlaps > 0)
        .map(|cell| (cell.pcode.as_str(), cell.category.as_str()))
        .collect();
    let cells: BTreeMap<(&str, &str), &pb::MatrixCell> = matrix
        .cells
        .iter()
        .map(|cell| ((cell.pcode.as_str(), cell.category.as_str()), cell))
        .collect();

    let toggle: Vec<(&str, &str)> = [("pcode", pcode)]
        .into_iter()
        .filter(|(_, value)| !value.is_empty())
        .chain(match shown {
            Shown::Donors => Some(("show", "budget")),
            Shown::Budget => None,
        })
        .collect();
    let body = html! {
            (pcode_filter(view))
            p.explained { (lang.t(Text::MatrixExplained)) }
            (super::download::links(view, "matrix", pcode))
            p.toggle {
                a #toggle-shown href=(view.href("/matrix", &toggle)) {
                    @match shown {
                        Shown::Donors => (lang.t(Text::ShowBudget)),
                        Shown::Budget => (lang.t(Text::ShowDonors)),
                    }
                }
            }
            div.scroll {
                table.matrix {
                    thead { tr {
                        th { (lang.t(Text::Municipality)) }
                        @for (category, name) in &columns {
                            th.category title=(name) { code { (category) } @if !name.is_empty() { br; span.sector-name lang="en" { (name) } } }
                        }
                    } }
                    tbody {
                        @for (row, names) in &rows {
                            tr data-pcode=(row) {
                                th { (layout::municipality_link(view, row, *names)) }
                                @for category in columns.keys() {
                                    @let key = (*row, *category);
                                    (cell(view, key, cells.get(&key).copied(), overlap_cells.contains(&key), gap_cells.get(&key).copied(), shown))
                                }
                            }
                        }
                    }
                }
            }
            p.legend {
                span.legend.c1 { "1" } " " span.legend.c2 { "2" } " " span.legend.c3 { "3+" } " · "
                span.mark.overlap { "⚠ " (lang.t(Text::Overlap)) } " · "
                span.mark.gap { "○ " (lang.t(Text::Gap)) }
            }
    };
    Ok(Page {
        title: lang.t(Text::Matrix).to_owned(),
        body,
        info: matrix.info,
    })
}

fn cell(
    view: &View,
    (pcode, category): (&str, &str),
    cell: Option<&pb::MatrixCell>,
    overlap: bool,
    gap: Option<&pb::Gap>,
    shown: Shown,
) -> Markup {
    let lang = view.lang;
    let link = view.href(&format!("/m/{}", encode(pcode)), &[("sector", category)]);
    let shade = match cell.map_or(0, |cell| cell.projects) {
        0 => "c0",
        1 => "c1",
        2 => "c2",
        _ => "c3",
    };
    let mut class = format!("cell {shade}");
    if overlap {
        class.push_str(" overlap");
    }
    if gap.is_some() {
        class.push_str(" gap");
    }
    html! {
        td class=(class) {
            @if let Some(cell) = cell {
                a.cell href=(link) data-pcode=(pcode) data-category=(category) data-projects=(cell.projects) {
                    span.projects { (cell.projects) }
                    @if overlap { " " span.mark.overlap title=(lang.t(Text::Overlap)) { "⚠" } }
                }
                span.detail {
                    @match shown {
                        Shown::Donors => {
                            @for (index, donor) in cell.donors.iter().enumerate() {
                                @if index > 0 { ", " }
                                bdi { (donor) }
                            }
                        }
                        Shown::Budget => {
                            @for total in &cell.budget {
                                span.money { (layout::grouped(&total.value)) " " (total.currency) } " "
                            }
                        }
                    }
                }
            }
            @if let Some(gap) = gap {
                a.mark.gap href=(view.href(&format!("/m/{}", encode(pcode)), &[("sector", &gap.sector)])) title=(lang.t(Text::Gap)) {
                    "○ " (layout::grouped(&gap.people_in_need.to_string()))
                }
            }
        }
    }
}

/// More places are registered under the P-code (`listed`, a listing page
/// of them) than a matrix shows: say so, and offer the places under it to
/// narrow it to.
fn too_many(view: &View, listed: &[pb::Municipality]) -> Markup {
    let lang = view.lang;
    let pcode = view.pcode();
    let top = listed.iter().map(|m| m.admin_level).min().unwrap_or(0);
    let narrower: Vec<&pb::Municipality> = if pcode.is_empty() {
        listed.iter().filter(|m| m.admin_level == 0).collect()
    } else if !listed.iter().any(|m| m.pcode == pcode) {
        // Not registered itself (a country known only as a prefix): the
        // highest places under it.
        listed.iter().filter(|m| m.admin_level == top).collect()
    } else {
        let children = listed
            .iter()
            .find(|m| m.pcode == pcode)
            .map(|m| m.children.clone())
            .unwrap_or_default();
        listed
            .iter()
            .filter(|m| children.contains(&m.pcode))
            .collect()
    };
    html! {
        (pcode_filter(view))
        p.bounded #too-many {
            (lang.t(Text::TooManyRows)) " (> " (MATRIX_ROWS_MAX) ")"
        }
        @if !narrower.is_empty() {
            p { (lang.t(Text::NarrowTo)) ":" }
            ul.children {
                @for place in narrower {
                    li {
                        a href=(view.href("/matrix", &[("pcode", &place.pcode)])) {
                            code { (place.pcode) } " " (layout::names(lang, place.name.as_ref()))
                        }
                    }
                }
            }
        }
    }
}
