//! One module per page; each has a `handle` that axum routes to, built
//! from the answers of [`super::Sources`] only.

pub mod download;
pub mod gaps;
pub mod language;
pub mod listings;
pub mod map;
pub mod matrix;
pub mod municipality;
pub mod organisation;
pub mod overlaps;
pub mod overview;
pub mod project;
pub mod search;

use axum::response::Response;

use super::i18n::Text;
use super::{PageError, View};

/// Any other address: 404, as a page.
pub async fn not_a_page(view: View) -> Response {
    view.error(&PageError::not_found(view.lang.t(Text::NotAPage)))
}

/// A segment of the page's address (a P-code or an id), bounded; one that
/// is not valid UTF-8 once decoded is a bad request, as a page.
pub fn segment(
    path: Result<axum::extract::Path<String>, axum::extract::rejection::PathRejection>,
    what: &str,
) -> Result<String, PageError> {
    match path {
        Ok(axum::extract::Path(value)) => super::view::segment(&value, what),
        Err(rejection) => Err(PageError::bad_request(format!(
            "the {what} in the address is not valid: {rejection}"
        ))),
    }
}
