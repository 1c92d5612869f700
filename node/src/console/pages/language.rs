//! `/language/{en|ar}?back=PATH`: remembers the reader's language in a
//! cookie and returns to the page it came from (a link, so it works with
//! JavaScript off).

use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use crate::console::i18n::Lang;
use crate::console::view::{local_path, LANGUAGE_COOKIE};
use crate::console::{PageError, View};

#[derive(Deserialize)]
pub struct Back {
    back: Option<String>,
}

pub async fn handle(
    view: View,
    code: Result<Path<String>, PathRejection>,
    back: Result<Query<Back>, QueryRejection>,
) -> Response {
    let lang = match super::segment(code, "language") {
        Ok(code) => Lang::parse(&code),
        Err(error) => return view.error(&error),
    };
    let Some(lang) = lang else {
        return view.error(&PageError::not_found(
            "the console speaks English (/language/en) and Arabic (/language/ar)",
        ));
    };
    let back = local_path(
        back.as_ref()
            .ok()
            .and_then(|Query(back)| back.back.as_deref()),
    );
    let location = HeaderValue::from_str(&back).unwrap_or(HeaderValue::from_static("/"));
    // A year; SameSite=Lax: sent on links followed to the console only.
    let cookie = HeaderValue::from_static(match lang {
        Lang::En => "tansiq_lang=en; Path=/; Max-Age=31536000; SameSite=Lax; HttpOnly",
        Lang::Ar => "tansiq_lang=ar; Path=/; Max-Age=31536000; SameSite=Lax; HttpOnly",
    });
    assert!(cookie.as_bytes().starts_with(LANGUAGE_COOKIE.as_bytes()));
    (
        StatusCode::SEE_OTHER,
        [(header::LOCATION, location), (header::SET_COOKIE, cookie)],
    )
        .into_response()
}
