//! `/download/{coverage|matrix|gaps|overlaps}?pcode=&as_of=&format=csv|hxl`: a
//! page's table as CSV or HXL-tagged CSV, written by the same writer as
//! `tansiq export csv|hxl` (`tansiq_ledger::coverage::csv`) from the same
//! gRPC answers, so a download and the CLI's export of the same scope are
//! the same bytes. Unlike a page, a download is not cut at
//! `TABLE_ROWS_MAX`: the services bound their answers themselves.

use std::sync::Arc;

use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use maud::{html, Markup};
use tansiq_ledger::coverage::csv::{self, Flavour};
use tansiq_proto::v1 as pb;

use crate::console::i18n::Text;
use crate::console::{Console, PageError, Sources, View};

/// The tables a download can hold.
const TABLES: [&str; 4] = ["coverage", "matrix", "gaps", "overlaps"];

pub async fn handle(
    State(console): State<Arc<Console>>,
    view: View,
    path: Result<Path<String>, PathRejection>,
) -> Response {
    let table = match super::segment(path, "table") {
        Ok(table) => table,
        Err(error) => return view.error(&error),
    };
    match download(&console.sources, &view, &table).await {
        Ok(text) => attachment(&view, &table, text),
        Err(error) => view.error(&error),
    }
}

async fn download(sources: &Sources, view: &View, table: &str) -> Result<String, PageError> {
    let flavour = match view.params.format.as_deref() {
        None | Some("csv") => Flavour::Csv,
        Some("hxl") => Flavour::Hxl,
        Some(other) => {
            return Err(PageError::bad_request(format!(
                "format {other:?}: a download is csv or hxl"
            )))
        }
    };
    let scope = view.scope(view.pcode());
    match table {
        "coverage" => {
            let answer = sources
                .who_supports(pb::WhoSupportsRequest {
                    count: 0,
                    scope: Some(scope),
                    sector: view.sector().to_owned(),
                    include_children: true,
                })
                .await?;
            Ok(csv::supports(flavour, &answer.supports))
        }
        "matrix" => {
            let answer = sources.matrix(scope).await?;
            Ok(csv::matrix(flavour, &answer.cells))
        }
        "gaps" => {
            let answer = sources
                .gaps_of(pb::GapsRequest {
                    scope: Some(scope),
                    sector: view.sector().to_owned(),
                    admin_level: view.level()?,
                    ..Default::default()
                })
                .await?;
            Ok(csv::gaps(flavour, &answer.gaps))
        }
        "overlaps" => {
            let answer = sources
                .overlaps(pb::OverlapsRequest {
                    scope: Some(scope),
                    sector: view.sector().to_owned(),
                    include_complementary: view.params.all.is_some(),
                    limit: 0,
                })
                .await?;
            Ok(csv::overlaps(flavour, &answer.overlaps))
        }
        other => Err(PageError::not_found(format!(
            "there is no table {other:?} to download: {}",
            TABLES.join(", ")
        ))),
    }
}

/// The file, named after what it holds: `tansiq-gaps-LY03-2026-06-30.csv`.
fn attachment(view: &View, table: &str, text: String) -> Response {
    let mut name = format!("tansiq-{table}");
    for part in [view.pcode(), view.as_of()] {
        if !part.is_empty() {
            name.push('-');
            // A file name of letters, digits and dashes only, whatever
            // the query held.
            name.extend(
                part.chars()
                    .filter(|c| c.is_ascii_alphanumeric() || *c == '-'),
            );
        }
    }
    if view.params.format.as_deref() == Some("hxl") {
        name.push_str("-hxl");
    }
    let disposition = HeaderValue::from_str(&format!("attachment; filename=\"{name}.csv\""))
        .unwrap_or_else(|_| HeaderValue::from_static("attachment"));
    (
        StatusCode::OK,
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/csv; charset=utf-8"),
            ),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        text,
    )
        .into_response()
}

/// Links to download `table` under `pcode` with this page's other
/// filters, as CSV and as HXL.
pub fn links(view: &View, table: &str, pcode: &str) -> Markup {
    let lang = view.lang;
    let mut filters: Vec<(&str, &str)> = Vec::new();
    if !pcode.is_empty() {
        filters.push(("pcode", pcode));
    }
    for (key, value) in [
        ("sector", &view.params.sector),
        ("level", &view.params.level),
        ("all", &view.params.all),
    ] {
        if let Some(value) = value {
            filters.push((key, value));
        }
    }
    let path = format!("/download/{table}");
    let mut hxl = filters.clone();
    hxl.push(("format", "hxl"));
    html! {
        p.downloads {
            a.download #{ "download-" (table) } href=(view.href(&path, &filters)) download { (lang.t(Text::Download)) }
            " · "
            a.download #{ "download-" (table) "-hxl" } href=(view.href(&path, &hxl)) download { (lang.t(Text::DownloadHxl)) }
        }
    }
}
