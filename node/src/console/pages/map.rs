//! `/map?pcode=&by=coverage|gaps&sector=`: the places of the node's
//! boundaries (`--boundaries`) under a P-code, one map a country, each
//! place coloured by the organisations supporting it or by its largest
//! uncovered need, and a link to its page.
//!
//! The shapes are the ones read at start ([`Boundaries`]): a page only
//! picks them and their colours. Every figure comes from the Coverage
//! answers (Matrix, or WhoSupports for a sector; Gaps), names from
//! ListMunicipalities. A place's figure counts it and the places under it
//! (P-codes starting with its own), so that a file of provinces still
//! shows projects registered in their districts; a place whose places are
//! drawn too is drawn under them, uncoloured. Colours are SVG presentation
//! attributes (`fill`), not styles: the console's policy forbids inline
//! style.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Bound;
use std::sync::Arc;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::response::Response;
use maud::{html, Markup};
use serde::Deserialize;
use tansiq_proto::v1 as pb;

use crate::console::i18n::{Lang, Text};
use crate::console::layout::{self, Page};
use crate::console::map::{Boundaries, Bounds, Shape};
use crate::console::sources::full_page;
use crate::console::view::encode;
use crate::console::{Console, PageError, Sources, View, COUNT_PAGES_MAX, PARAMETER_BYTES_MAX};

/// Fills by organisations supporting a place: 0, 1, 2, 3 or more.
pub const COVERAGE_FILLS: [&str; 4] = ["#e5e8eb", "#c6e2f2", "#7fbde0", "#2f86b8"];
/// Fills by the people in need of a place's largest uncovered need: none,
/// fewer than [`GAP_STEPS`]`[0]`, fewer than [`GAP_STEPS`]`[1]`, more.
pub const GAP_FILLS: [&str; 4] = ["#e5e8eb", "#fde0b0", "#f5a55a", "#c9581a"];
pub const GAP_STEPS: [u64; 2] = [10_000, 100_000];
/// A place drawn under the places under it.
const CONTEXT_FILL: &str = "#f6f7f8";
const CONTEXT_STROKE: &str = "#5b6672";
/// A shape whose P-code the ledger does not hold.
const UNKNOWN_FILL: &str = "#ffffff";
const UNKNOWN_STROKE: &str = "#9aa4ae";
const PLACE_STROKE: &str = "#ffffff";
/// Municipalities without a shape the page names (it counts them all).
const WITHOUT_SHAPE_NAMED: usize = 100;
/// A country's map names its places on the map up to this many (past it
/// names would cover the shapes: their titles still say them).
const LABELS_MAX: usize = 24;

/// The map's own parameter; the others are the [`View`]'s.
#[derive(Deserialize)]
pub struct MapQuery {
    by: Option<String>,
}

/// What the places are coloured by.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum By {
    Coverage,
    Gaps,
}

impl By {
    fn code(self) -> &'static str {
        match self {
            By::Coverage => "coverage",
            By::Gaps => "gaps",
        }
    }
}

pub async fn handle(
    State(console): State<Arc<Console>>,
    view: View,
    query: Result<Query<MapQuery>, QueryRejection>,
) -> Response {
    let page = match by(query) {
        Ok(by) => page(&console.sources, console.boundaries.as_deref(), &view, by).await,
        Err(error) => Err(error),
    };
    view.render(page)
}

fn by(query: Result<Query<MapQuery>, QueryRejection>) -> Result<By, PageError> {
    let Query(query) = query.map_err(|rejection| {
        PageError::bad_request(format!("the query string is not valid: {rejection}"))
    })?;
    match query.by.as_deref().map(str::trim) {
        Some(by) if by.len() > PARAMETER_BYTES_MAX => Err(PageError::bad_request(format!(
            "parameter by is {} bytes long; at most {PARAMETER_BYTES_MAX}",
            by.len()
        ))),
        None | Some("" | "coverage") => Ok(By::Coverage),
        Some("gaps") => Ok(By::Gaps),
        Some(other) => Err(PageError::bad_request(format!(
            "by {other:?} is not what the map colours places by: coverage or gaps"
        ))),
    }
}

async fn page(
    sources: &Sources,
    boundaries: Option<&Boundaries>,
    view: &View,
    by: By,
) -> Result<Page, PageError> {
    let lang = view.lang;
    let Some(boundaries) = boundaries else {
        return Ok(Page {
            title: lang.t(Text::Map).to_owned(),
            body: no_boundaries(view),
            info: None,
        });
    };
    let pcode = view.pcode();
    // First the answer that checks the P-code, the date and the sector.
    let (figures, info) = figures(sources, view, by).await?;
    let places = places(sources, pcode).await?;
    let shapes = boundaries.under(pcode);
    let mut countries: BTreeMap<&str, Vec<&Shape>> = BTreeMap::new();
    for shape in shapes {
        let country = shape.pcode.get(..2).unwrap_or(&shape.pcode);
        countries.entry(country).or_default().push(shape);
    }
    let body = html! {
        (filter(view, by))
        p.explained {
            @match by {
                By::Coverage => (lang.t(Text::MapCoverageExplained)),
                By::Gaps => (lang.t(Text::MapGapsExplained)),
            }
        }
        @if boundaries.illustrative() {
            p.illustrative #illustrative { (lang.t(Text::IllustrativeShapes)) }
        }
        @if shapes.is_empty() {
            p.empty #no-shape-here { (lang.t(Text::NoShapeHere)) }
        }
        (legend(lang, by))
        div.maps {
            @for (country, shapes) in &countries {
                (country_map(view, country, shapes, &places, &figures, by))
            }
        }
        (without_shape(view, boundaries, &places))
    };
    Ok(Page {
        title: lang.t(Text::Map).to_owned(),
        body,
        info,
    })
}

/// The page of a node started without boundaries.
fn no_boundaries(view: &View) -> Markup {
    let lang = view.lang;
    html! {
        p.bounded #no-boundaries { (lang.t(Text::NoBoundaries)) }
        p { a href=(view.href("/matrix", &[])) { (lang.t(Text::Matrix)) } }
    }
}

/// A form choosing the P-code, the sector and what places are coloured by
/// (plain GET, no script), and links to switch between the two.
fn filter(view: &View, by: By) -> Markup {
    let lang = view.lang;
    let kept: Vec<(&str, &str)> = [("pcode", view.pcode()), ("sector", view.sector())]
        .into_iter()
        .filter(|(_, value)| !value.is_empty())
        .collect();
    let switch = |to: By| {
        let mut pairs = kept.clone();
        pairs.push(("by", to.code()));
        view.href("/map", &pairs)
    };
    html! {
        form.filter method="get" action=(view.path()) {
            label for="pcode" { (lang.t(Text::FilterPcode)) }
            input #pcode type="text" name="pcode" value=(view.pcode()) maxlength="20" size="10" placeholder="LY03";
            label for="sector" { (lang.t(Text::Sector)) }
            input #sector type="text" name="sector" value=(view.sector()) maxlength="5" size="6" placeholder="140";
            label for="by" { (lang.t(Text::ColourBy)) }
            select #by name="by" {
                option value="coverage" selected[by == By::Coverage] { (lang.t(Text::MapByCoverage)) }
                option value="gaps" selected[by == By::Gaps] { (lang.t(Text::MapByGaps)) }
            }
            @if let Some(as_of) = &view.params.as_of {
                input type="hidden" name="as_of" value=(as_of);
            }
            @if view.lang_in_query() {
                input type="hidden" name="lang" value=(lang.code());
            }
            button type="submit" { (lang.t(Text::Show)) }
        }
        p.toggle {
            (lang.t(Text::ColourBy)) ": "
            @for (choice, text) in [(By::Coverage, Text::MapByCoverage), (By::Gaps, Text::MapByGaps)] {
                @if choice == by {
                    strong id=(format!("by-{}", choice.code())) { (lang.t(text)) }
                } @else {
                    a id=(format!("by-{}", choice.code())) href=(switch(choice)) { (lang.t(text)) }
                }
                @if choice == By::Coverage { " · " }
            }
        }
    }
}

/// Figures by P-code, from one Coverage answer.
enum Figures {
    /// The organisations (donors) supporting each place.
    Coverage(BTreeMap<String, BTreeSet<String>>),
    /// Each place's uncovered needs: how many, and the people in need of
    /// the largest.
    Gaps(BTreeMap<String, (usize, u64)>),
}

/// What a place is coloured by.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Figure {
    /// Organisations, or people in need.
    value: u64,
    /// Uncovered needs (gaps only).
    needs: usize,
    /// `c0`..`c3` or `g0`..`g3`.
    class: &'static str,
    fill: &'static str,
}

async fn figures(
    sources: &Sources,
    view: &View,
    by: By,
) -> Result<(Figures, Option<pb::AnswerInfo>), PageError> {
    let (pcode, sector) = (view.pcode(), view.sector());
    match by {
        By::Coverage if sector.is_empty() => {
            let (organisations, info) = sources.donors_by_place(view.scope(pcode)).await?;
            Ok((Figures::Coverage(organisations), Some(info)))
        }
        By::Coverage => {
            // The matrix has categories only: a sector (or category) is
            // WhoSupports' (which checks it).
            let supports = sources
                .who_supports(pb::WhoSupportsRequest {
                    count: 0,
                    scope: Some(view.scope(pcode)),
                    sector: sector.to_owned(),
                    include_children: true,
                })
                .await?;
            let mut organisations: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
            for support in supports.supports {
                organisations
                    .entry(support.pcode)
                    .or_default()
                    .insert(support.donor);
            }
            Ok((Figures::Coverage(organisations), supports.info))
        }
        By::Gaps => {
            let code = matches!(sector.len(), 3 | 5) && sector.bytes().all(|b| b.is_ascii_digit());
            if !sector.is_empty() && !code {
                return Err(PageError::bad_request(format!(
                    "sector {sector:?} is not an OECD DAC sector (5 digits) or category (3 digits)"
                )));
            }
            let (needs, info) = sources
                .uncovered_by_place(view.scope(pcode), sector)
                .await?;
            Ok((Figures::Gaps(needs), Some(info)))
        }
    }
}

impl Figures {
    /// The figure of `pcode` and every place under it.
    fn of(&self, pcode: &str) -> Figure {
        match self {
            Figures::Coverage(organisations) => {
                let mut all: BTreeSet<&str> = BTreeSet::new();
                for (_, donors) in under(organisations, pcode) {
                    all.extend(donors.iter().map(String::as_str));
                }
                coverage_figure(all.len() as u64)
            }
            Figures::Gaps(needs) => {
                let (mut count, mut largest) = (0, 0);
                for (_, (needs, people)) in under(needs, pcode) {
                    count += needs;
                    largest = largest.max(*people);
                }
                gap_figure(count, largest)
            }
        }
    }
}

/// The entries of `pcode` and of the P-codes under it (they follow it in
/// order).
fn under<'a, T>(
    map: &'a BTreeMap<String, T>,
    pcode: &'a str,
) -> impl Iterator<Item = (&'a String, &'a T)> {
    map.range::<str, _>((Bound::Included(pcode), Bound::Unbounded))
        .take_while(move |(key, _)| key.starts_with(pcode))
}

fn coverage_figure(organisations: u64) -> Figure {
    let step = organisations.min(3) as usize;
    Figure {
        value: organisations,
        needs: 0,
        class: ["c0", "c1", "c2", "c3"][step],
        fill: COVERAGE_FILLS[step],
    }
}

fn gap_figure(needs: usize, people: u64) -> Figure {
    let step = match people {
        _ if needs == 0 => 0,
        people if people < GAP_STEPS[0] => 1,
        people if people < GAP_STEPS[1] => 2,
        _ => 3,
    };
    Figure {
        value: people,
        needs,
        class: ["g0", "g1", "g2", "g3"][step],
        fill: GAP_FILLS[step],
    }
}

/// Every municipality the ledger lists under `pcode` (up to
/// [`COUNT_PAGES_MAX`] listing pages), by P-code.
async fn places(
    sources: &Sources,
    pcode: &str,
) -> Result<BTreeMap<String, pb::Municipality>, PageError> {
    let mut places = BTreeMap::new();
    let mut token = String::new();
    for _ in 0..COUNT_PAGES_MAX {
        let page = sources
            .municipalities(pb::ListMunicipalitiesRequest {
                scope: Some(pb::Scope {
                    pcode: pcode.to_owned(),
                    ..Default::default()
                }),
                page: Some(full_page(token)),
            })
            .await?;
        places.extend(
            page.municipalities
                .into_iter()
                .map(|place| (place.pcode.clone(), place)),
        );
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    Ok(places)
}

/// A name as plain text (an SVG title holds no markup), in the page's
/// language's script when the ledger has it.
fn plain_name(lang: Lang, names: Option<&pb::Names>) -> &str {
    let Some(names) = names else { return "" };
    let (arabic, latin) = (names.arabic.trim(), names.latin.trim());
    match lang {
        Lang::Ar if !arabic.is_empty() => arabic,
        _ if !latin.is_empty() => latin,
        _ => arabic,
    }
}

/// One country's map: its shapes, coarser ones under finer ones.
fn country_map(
    view: &View,
    country: &str,
    shapes: &[&Shape],
    places: &BTreeMap<String, pb::Municipality>,
    figures: &Figures,
    by: By,
) -> Markup {
    let lang = view.lang;
    // Sorted by P-code, a place's places follow it at once.
    let mut painted: Vec<(&Shape, bool)> = shapes
        .iter()
        .enumerate()
        .map(|(at, shape)| {
            let has_places_under = shapes
                .get(at + 1)
                .is_some_and(|next| next.pcode.starts_with(&shape.pcode));
            (*shape, has_places_under)
        })
        .collect();
    painted.sort_by(|(a, _), (b, _)| (a.pcode.len(), &a.pcode).cmp(&(b.pcode.len(), &b.pcode)));
    let bounds = shapes
        .iter()
        .map(|shape| shape.bounds)
        .reduce(Bounds::union);
    let name = places
        .get(country)
        .map(|place| plain_name(lang, place.name.as_ref()))
        .filter(|name| !name.is_empty())
        .unwrap_or(country);
    // Names on the map, at the middle of each place's box, when few.
    let labelled: Vec<(&Shape, &str)> = painted
        .iter()
        .filter(|(_, has_places_under)| !has_places_under)
        .filter_map(|(shape, _)| {
            let name = plain_name(lang, places.get(&shape.pcode)?.name.as_ref());
            (!name.is_empty()).then_some((*shape, name))
        })
        .collect();
    let font = bounds.map_or(1.0, |b| (b.x_max - b.x_min).max(b.y_max - b.y_min) / 24.0);
    html! {
        section.map-country data-country=(country) {
            h2 { (name) @if name != country { " " code { (country) } } }
            @if let Some(bounds) = bounds {
                svg.map viewBox=(bounds.view_box()) role="group" aria-label=(name) data-country=(country) {
                    @for (shape, has_places_under) in &painted {
                        (place(view, shape, places.get(&shape.pcode), figures, by, *has_places_under))
                    }
                    @if labelled.len() <= LABELS_MAX {
                        g.labels aria-hidden="true" pointer-events="none" text-anchor="middle"
                            font-size=(format!("{font:.1}")) fill="#1d2630" stroke="#ffffff"
                            stroke-width=(format!("{:.2}", font / 6.0)) paint-order="stroke" {
                            @for (shape, name) in &labelled {
                                text x=(format!("{:.1}", (shape.bounds.x_min + shape.bounds.x_max) / 2.0))
                                    y=(format!("{:.1}", (shape.bounds.y_min + shape.bounds.y_max) / 2.0 + font / 3.0)) {
                                    (name)
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// A shape: a link to its place's page, titled with its name and figure;
/// unlinked and white when the ledger does not hold its P-code.
fn place(
    view: &View,
    shape: &Shape,
    municipality: Option<&pb::Municipality>,
    figures: &Figures,
    by: By,
    has_places_under: bool,
) -> Markup {
    let lang = view.lang;
    let pcode = shape.pcode.as_str();
    let Some(municipality) = municipality else {
        return html! {
            g.unknown data-pcode=(pcode) {
                title { (pcode) " · " (lang.t(Text::NotOnLedger)) }
                path.shape.unknown d=(shape.path) fill=(UNKNOWN_FILL) stroke=(UNKNOWN_STROKE)
                    stroke-width="1" vector-effect="non-scaling-stroke" fill-rule="evenodd" data-pcode=(pcode) {}
            }
        };
    };
    let figure = figures.of(pcode);
    let name = plain_name(lang, municipality.name.as_ref());
    let title = match by {
        By::Coverage => format!(
            "{name} ({pcode}) · {}: {}",
            lang.t(Text::OrganisationsSupporting),
            figure.value
        ),
        By::Gaps if figure.needs == 0 => {
            format!("{name} ({pcode}) · {}: 0", lang.t(Text::UncoveredNeeds))
        }
        By::Gaps => format!(
            "{name} ({pcode}) · {}: {} · {}: {}",
            lang.t(Text::UncoveredNeeds),
            figure.needs,
            lang.t(Text::LargestUncoveredNeed),
            layout::grouped(&figure.value.to_string())
        ),
    };
    let sector: Vec<(&str, &str)> = [("sector", view.sector())]
        .into_iter()
        .filter(|(_, value)| !value.is_empty())
        .collect();
    let (class, fill, stroke, width) = if has_places_under {
        (
            "shape context".to_owned(),
            CONTEXT_FILL,
            CONTEXT_STROKE,
            "1.5",
        )
    } else {
        (
            format!("shape {}", figure.class),
            figure.fill,
            PLACE_STROKE,
            "1",
        )
    };
    html! {
        a.place href=(view.href(&format!("/m/{}", encode(pcode)), &sector)) data-pcode=(pcode) {
            title { (title) }
            path class=(class) d=(shape.path) fill=(fill) stroke=(stroke) stroke-width=(width)
                vector-effect="non-scaling-stroke" fill-rule="evenodd" stroke-linejoin="round"
                data-pcode=(pcode) data-figure=(figure.value) data-needs=(figure.needs) {}
        }
    }
}

/// What the colours say, each beside a swatch drawn with its fill.
fn legend(lang: Lang, by: By) -> Markup {
    let none = lang.t(Text::NoneYet);
    let steps: [(&str, String); 4] = match by {
        By::Coverage => [
            (COVERAGE_FILLS[0], "0".to_owned()),
            (COVERAGE_FILLS[1], "1".to_owned()),
            (COVERAGE_FILLS[2], "2".to_owned()),
            (COVERAGE_FILLS[3], "3+".to_owned()),
        ],
        By::Gaps => [
            (GAP_FILLS[0], none.to_owned()),
            (
                GAP_FILLS[1],
                format!("1 – {}", layout::grouped(&(GAP_STEPS[0] - 1).to_string())),
            ),
            (
                GAP_FILLS[2],
                format!(
                    "{} – {}",
                    layout::grouped(&GAP_STEPS[0].to_string()),
                    layout::grouped(&(GAP_STEPS[1] - 1).to_string())
                ),
            ),
            (
                GAP_FILLS[3],
                format!("{}+", layout::grouped(&GAP_STEPS[1].to_string())),
            ),
        ],
    };
    let heading = match by {
        By::Coverage => lang.t(Text::OrganisationsSupporting),
        By::Gaps => lang.t(Text::LargestUncoveredNeed),
    };
    html! {
        div.map-legend #legend {
            span.legend-heading { (heading) ":" }
            @for (fill, label) in &steps {
                " " (swatch(fill, PLACE_STROKE)) " " span.legend-label { (label) }
            }
            " · " (swatch(CONTEXT_FILL, CONTEXT_STROKE)) " " span.legend-label { (lang.t(Text::PlaceWithPlacesUnder)) }
            " · " (swatch(UNKNOWN_FILL, UNKNOWN_STROKE)) " " span.legend-label { (lang.t(Text::NotOnLedger)) }
        }
    }
}

fn swatch(fill: &str, stroke: &str) -> Markup {
    html! {
        svg.swatch width="14" height="14" viewBox="0 0 14 14" aria-hidden="true" {
            rect x="0.5" y="0.5" width="13" height="13" fill=(fill) stroke=(if stroke == PLACE_STROKE { UNKNOWN_STROKE } else { stroke }) {}
        }
    }
}

/// The municipalities the ledger lists here that have no shape, at the
/// administrative levels the map draws (all of them when it draws none of
/// the ledger's).
fn without_shape(
    view: &View,
    boundaries: &Boundaries,
    places: &BTreeMap<String, pb::Municipality>,
) -> Markup {
    let lang = view.lang;
    let drawn_levels: BTreeSet<u32> = places
        .values()
        .filter(|place| boundaries.shape(&place.pcode).is_some())
        .map(|place| place.admin_level)
        .collect();
    let without: Vec<&pb::Municipality> = places
        .values()
        .filter(|place| drawn_levels.is_empty() || drawn_levels.contains(&place.admin_level))
        .filter(|place| boundaries.shape(&place.pcode).is_none())
        .collect();
    html! {
        @if without.is_empty() {
            p.explained #without-shape data-count="0" { (lang.t(Text::EveryPlaceHasShape)) }
        } @else {
            p.bounded #without-shape data-count=(without.len()) {
                (lang.t(Text::WithoutShape)) ": " (without.len())
            }
            ul.children {
                @for place in without.iter().take(WITHOUT_SHAPE_NAMED) {
                    li { (layout::municipality_link(view, &place.pcode, place.name.as_ref())) }
                }
                @if without.len() > WITHOUT_SHAPE_NAMED { li { "…" } }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colours_follow_the_figures() {
        let classes: Vec<&str> = [0, 1, 2, 3, 12]
            .into_iter()
            .map(|n| coverage_figure(n).class)
            .collect();
        assert_eq!(classes, ["c0", "c1", "c2", "c3", "c3"]);
        assert_eq!(coverage_figure(2).fill, COVERAGE_FILLS[2]);
        assert_eq!(gap_figure(0, 0).class, "g0");
        assert_eq!(gap_figure(1, 0).class, "g1", "a need of unknown size");
        assert_eq!(gap_figure(1, 9_999).class, "g1");
        assert_eq!(gap_figure(2, 10_000).class, "g2");
        assert_eq!(gap_figure(1, 150_000).fill, GAP_FILLS[3]);
    }

    #[test]
    fn a_place_counts_the_places_under_it() {
        let mut organisations: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for (pcode, donor) in [
            ("LY0301", "eu"),
            ("LY0305", "usaid"),
            ("LY0305", "undp"),
            ("LY0305", "eu"),
            ("LY04", "wfp"),
            ("LY030", "hidden-prefix"),
        ] {
            organisations
                .entry(pcode.to_owned())
                .or_default()
                .insert(donor.to_owned());
        }
        let figures = Figures::Coverage(organisations);
        assert_eq!(figures.of("LY0305").value, 3);
        assert_eq!(figures.of("LY0301").value, 1);
        assert_eq!(figures.of("LY03").value, 4, "eu once");
        assert_eq!(figures.of("LY").value, 5);
        assert_eq!(figures.of("SY").value, 0);
        let mut needs = BTreeMap::new();
        needs.insert("LY0301".to_owned(), (1, 12_000));
        needs.insert("LY0305".to_owned(), (2, 8_000));
        let figures = Figures::Gaps(needs);
        assert_eq!(figures.of("LY03"), gap_figure(3, 12_000));
    }

    #[test]
    fn what_the_ledger_or_the_file_says_is_text() {
        let shapes = Boundaries::demo().expect("demo");
        let shape = shapes.shape("LY0305").expect("Ghadames");
        let hostile = pb::Municipality {
            pcode: "LY0305".into(),
            admin_level: 2,
            name: Some(pb::Names {
                latin: "</title><script>alert(1)</script>".into(),
                arabic: String::new(),
            }),
            ..Default::default()
        };
        let figures = Figures::Coverage(BTreeMap::new());
        let view = View::plain();
        let markup =
            place(&view, shape, Some(&hostile), &figures, By::Coverage, false).into_string();
        assert!(!markup.contains("<script"), "{markup}");
        assert!(markup.contains("&lt;/title&gt;&lt;script&gt;"), "{markup}");
        assert!(markup.contains("href=\"/m/LY0305\""), "{markup}");
        assert!(
            markup.contains(&format!("fill=\"{}\"", COVERAGE_FILLS[0])),
            "{markup}"
        );
        assert!(!markup.contains("style="), "{markup}");
        let unknown = place(&view, shape, None, &figures, By::Gaps, false).into_string();
        assert!(!unknown.contains("href="), "{unknown}");
    }

    #[test]
    fn what_a_map_is_coloured_by_is_checked() {
        let query = |by: Option<&str>| {
            Ok(Query(MapQuery {
                by: by.map(str::to_owned),
            }))
        };
        assert_eq!(by(query(None)), Ok(By::Coverage));
        assert_eq!(by(query(Some("gaps"))), Ok(By::Gaps));
        let error = by(query(Some("colour"))).expect_err("unknown");
        assert!(error.message.contains("coverage or gaps"), "{error:?}");
        let error = by(query(Some(&"x".repeat(PARAMETER_BYTES_MAX + 1)))).expect_err("long");
        assert!(error.message.contains("at most 256"), "{error:?}");
        let page = no_boundaries(&View::plain()).into_string();
        assert!(page.contains("--boundaries FILE.geojson"), "{page}");
    }
}
