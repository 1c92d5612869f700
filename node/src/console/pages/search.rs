//! `/search?q=`: municipalities, organisations and projects by name in
//! Arabic or Latin script (spelling variants fold together), by P-code, id
//! or IATI identifier — the `Coverage.Search` answer, a page at a time.

use std::sync::Arc;

use axum::extract::State;
use axum::response::Response;
use maud::{html, Markup};
use tansiq_proto::v1 as pb;

use crate::console::i18n::Text;
use crate::console::layout::{self, Page};
use crate::console::view::encode;
use crate::console::{Console, PageError, Sources, View};

/// Hits a page shows.
const HITS_PER_PAGE: u32 = 50;

pub async fn handle(State(console): State<Arc<Console>>, view: View) -> Response {
    view.render(page(&console.sources, &view).await)
}

async fn page(sources: &Sources, view: &View) -> Result<Page, PageError> {
    let lang = view.lang;
    let query = view.params.q.clone().unwrap_or_default();
    let answer = if query.is_empty() {
        None
    } else {
        Some(
            sources
                .search(pb::SearchRequest {
                    query: query.clone(),
                    page: Some(pb::PageRequest {
                        page_size: HITS_PER_PAGE,
                        page_token: view.after().to_owned(),
                    }),
                })
                .await?,
        )
    };
    let body = html! {
        form.filter.search method="get" action="/search" role="search" {
            label for="q" { (lang.t(Text::Search)) }
            input #q type="search" name="q" value=(query) maxlength="256" size="40" dir="auto";
            @if view.lang_in_query() {
                input type="hidden" name="lang" value=(lang.code());
            }
            button type="submit" { (lang.t(Text::Search)) }
        }
        p.explained { (lang.t(Text::SearchHint)) }
        @if let Some(answer) = &answer {
            @if answer.hits.is_empty() && answer.next_page_token.is_empty() {
                p.empty #no-results { (lang.t(Text::NoResults)) }
            }
            @if !answer.hits.is_empty() {
                (hits(view, &answer.hits))
            }
            @if answer.partial {
                p.bounded #search-partial { (lang.t(Text::SearchedUpTo)) }
            }
            p.pages {
                @if !view.after().is_empty() {
                    a href=(view.href("/search", &[("q", &query)])) { (lang.t(Text::FirstPage)) }
                    " "
                }
                @if !answer.next_page_token.is_empty() {
                    a #next-page href=(view.href("/search", &[("q", &query), ("after", &answer.next_page_token)])) {
                        (lang.t(Text::NextPage)) " " (lang.onward())
                    }
                }
            }
        }
    };
    Ok(Page {
        title: lang.t(Text::Search).to_owned(),
        body,
        info: answer.and_then(|answer| answer.info),
    })
}

fn hits(view: &View, hits: &[pb::SearchHit]) -> Markup {
    let lang = view.lang;
    html! {
        table.hits {
            thead { tr {
                th { (lang.t(Text::Kind)) }
                th { (lang.t(Text::Name)) }
                th { (lang.t(Text::Pcode)) " / id" }
                th { (lang.t(Text::IatiIdentifier)) }
            } }
            tbody {
                @for hit in hits {
                    @let (path, label) = match hit.kind.as_str() {
                        "municipality" => ("/m/", Text::Municipality),
                        "organisation" => ("/o/", Text::Organisations),
                        _ => ("/p/", Text::Project),
                    };
                    tr.hit data-kind=(hit.kind) data-id=(hit.id) {
                        td { (lang.t(label)) }
                        td { a href=(view.href(&format!("{path}{}", encode(&hit.id)), &[])) { (layout::names(lang, hit.names.as_ref())) } }
                        td { code { (hit.id) } }
                        td { code { (hit.iati_identifier) } }
                    }
                }
            }
        }
    }
}
