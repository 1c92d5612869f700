//! What a request asks of a page, checked before any query: the language,
//! the as-of date and the other query parameters, each bounded; and how a
//! page or its error becomes the answer.

use std::fmt::Write as _;

use axum::extract::Query;
use axum::http::request::Parts;
use axum::http::{header, HeaderMap};
use serde::Deserialize;
use tansiq_ledger::date::Date;
use tansiq_proto::v1 as pb;

use super::i18n::{Lang, Text};
use super::{PageError, PARAMETER_BYTES_MAX};

/// The cookie the language links set.
pub const LANGUAGE_COOKIE: &str = "tansiq_lang";

/// The query parameters pages read; others are ignored.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct Params {
    /// YYYY-MM-DD: the ledger as it stood at the end of that day (the
    /// services check it).
    pub as_of: Option<String>,
    /// `en` or `ar`.
    pub lang: Option<String>,
    pub pcode: Option<String>,
    pub sector: Option<String>,
    /// A listing's page token.
    pub after: Option<String>,
    /// Overlaps: also those reviewed as complementary.
    pub all: Option<String>,
    /// Matrix: `budget` shows committed amounts.
    pub show: Option<String>,
    /// Gaps: only municipalities at this administrative level.
    pub level: Option<String>,
    /// Search: what to look for.
    pub q: Option<String>,
    /// Downloads: `csv` or `hxl`.
    pub format: Option<String>,
    /// Map: what places are coloured by (the map page checks it).
    pub by: Option<String>,
}

/// A request to a page: its language and its parameters, checked.
#[derive(Clone, Debug)]
pub struct View {
    pub lang: Lang,
    /// The language came from `?lang=`, so links carry it on.
    lang_in_query: bool,
    pub params: Params,
    /// The request's path, for the forms and the language switch.
    path: String,
}

impl View {
    /// A view of the overview in English, for an answer given before a
    /// request was read (the console is busy).
    pub fn plain() -> View {
        View::plain_in(Lang::En)
    }

    /// As [`View::plain`], in `lang` (an error page for a request whose
    /// parameters could not be read).
    pub fn plain_in(lang: Lang) -> View {
        View {
            lang,
            lang_in_query: false,
            params: Params::default(),
            path: "/".to_owned(),
        }
    }

    /// The as-of date as the services take it (empty: now).
    pub fn as_of(&self) -> &str {
        self.params.as_of.as_deref().unwrap_or("")
    }

    pub fn pcode(&self) -> &str {
        self.params.pcode.as_deref().unwrap_or("")
    }

    pub fn sector(&self) -> &str {
        self.params.sector.as_deref().unwrap_or("")
    }

    /// The administrative level asked for (0: any), or why it is not one.
    pub fn level(&self) -> Result<u32, PageError> {
        match self.params.level.as_deref() {
            None => Ok(0),
            Some(text) => text.parse().map_err(|_| {
                PageError::bad_request(format!(
                    "level {text:?} is not an administrative level: a number, 1 (a region) to 5"
                ))
                .hinted(Text::BadLevel)
            }),
        }
    }

    pub fn after(&self) -> &str {
        self.params.after.as_deref().unwrap_or("")
    }

    /// A scope with this request's as-of date.
    pub fn scope(&self, pcode: &str) -> pb::Scope {
        pb::Scope {
            pcode: pcode.to_owned(),
            as_of: self.as_of().to_owned(),
            ..Default::default()
        }
    }

    /// A link to `path` (already encoded) with `extra` parameters, keeping
    /// this request's as-of date and, when it came in the query, language.
    pub fn href(&self, path: &str, extra: &[(&str, &str)]) -> String {
        let mut pairs: Vec<(&str, &str)> = extra.to_vec();
        if let Some(as_of) = &self.params.as_of {
            pairs.push(("as_of", as_of));
        }
        if self.lang_in_query {
            pairs.push(("lang", self.lang.code()));
        }
        with_query(path, &pairs)
    }

    /// This page again, without its language (where a language link
    /// returns).
    pub fn here_without_language(&self) -> String {
        let p = &self.params;
        let pairs: Vec<(&str, &str)> = [
            ("pcode", &p.pcode),
            ("sector", &p.sector),
            ("after", &p.after),
            ("all", &p.all),
            ("show", &p.show),
            ("level", &p.level),
            ("q", &p.q),
            ("format", &p.format),
            ("by", &p.by),
            ("as_of", &p.as_of),
        ]
        .into_iter()
        .filter_map(|(key, value)| value.as_deref().map(|value| (key, value)))
        .collect();
        with_query(&self.path, &pairs)
    }

    /// The request's path, for a form that submits to the same page.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// Whether the language came in the query (forms carry it on).
    pub fn lang_in_query(&self) -> bool {
        self.lang_in_query
    }

    /// The view a request asks for, or why it cannot be served (in the
    /// language to say it in).
    pub(super) fn parse(parts: &Parts) -> Result<View, (Lang, PageError)> {
        let fallback = language_of(&parts.headers);
        let Query(params) = Query::<Params>::try_from_uri(&parts.uri).map_err(|rejection| {
            (
                fallback,
                PageError::bad_request(format!("the query string is not valid: {rejection}")),
            )
        })?;
        // A bad value is refused in the language asked for, if one is.
        let asked = params.lang.as_deref().map(str::trim).and_then(Lang::parse);
        let params = checked(params).map_err(|error| (asked.unwrap_or(fallback), error))?;
        let (lang, lang_in_query) = match params.lang.as_deref() {
            Some(code) => match Lang::parse(code) {
                Some(lang) => (lang, true),
                None => {
                    return Err((
                        fallback,
                        PageError::bad_request(format!(
                            "lang {code:?} is not a language of the console: en or ar"
                        ))
                        .hinted(Text::BadLanguage),
                    ))
                }
            },
            None => (fallback, false),
        };
        Ok(View {
            lang,
            lang_in_query,
            params,
            path: encode_path(parts.uri.path()),
        })
    }
}

/// Empty parameters are absent (an empty date field of a form); each
/// value is bounded.
fn checked(params: Params) -> Result<Params, PageError> {
    let check = |name: &str, value: Option<String>| -> Result<Option<String>, PageError> {
        match value {
            Some(value) if value.len() > PARAMETER_BYTES_MAX => {
                Err(PageError::bad_request(format!(
                    "parameter {name} is {} bytes long; at most {PARAMETER_BYTES_MAX}",
                    value.len()
                ))
                .hinted(Text::TooLong))
            }
            Some(value) if value.trim().is_empty() => Ok(None),
            Some(value) => Ok(Some(value.trim().to_owned())),
            None => Ok(None),
        }
    };
    let as_of = check("as_of", params.as_of)?;
    // Checked here too, as the services check it, so that a page whose
    // answers take no date (a listing of what is registered now) refuses a
    // malformed one all the same rather than carry it on in its links.
    if let Some(text) = &as_of {
        if Date::parse(text).is_none() {
            return Err(PageError::bad_request(format!(
                "as_of {text:?} is not a date: use YYYY-MM-DD, e.g. 2026-06-30"
            ))
            .hinted(Text::BadDate));
        }
    }
    Ok(Params {
        as_of,
        lang: check("lang", params.lang)?,
        pcode: check("pcode", params.pcode)?,
        sector: check("sector", params.sector)?,
        after: check("after", params.after)?,
        all: check("all", params.all)?,
        show: check("show", params.show)?,
        level: check("level", params.level)?,
        q: check("q", params.q)?,
        format: check("format", params.format)?,
        by: check("by", params.by)?,
    })
}

/// A path segment (a P-code or an id from the URL), bounded.
pub fn segment(value: &str, what: &str) -> Result<String, PageError> {
    if value.len() > PARAMETER_BYTES_MAX {
        return Err(PageError::bad_request(format!(
            "the {what} in the address is {} bytes long; at most {PARAMETER_BYTES_MAX}",
            value.len()
        ))
        .hinted(Text::TooLong));
    }
    Ok(value.to_owned())
}

/// The cookie's language, else Arabic for a browser that prefers it, else
/// English.
fn language_of(headers: &HeaderMap) -> Lang {
    let cookie = headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == LANGUAGE_COOKIE)
        .and_then(|(_, value)| Lang::parse(value));
    if let Some(lang) = cookie {
        return lang;
    }
    let prefers_arabic = headers
        .get(header::ACCEPT_LANGUAGE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.trim_start().starts_with("ar"));
    if prefers_arabic {
        Lang::Ar
    } else {
        Lang::En
    }
}

/// `path?key=value&...`, each value percent-encoded.
pub fn with_query(path: &str, pairs: &[(&str, &str)]) -> String {
    let mut link = path.to_owned();
    for (index, (key, value)) in pairs.iter().enumerate() {
        link.push(if index == 0 { '?' } else { '&' });
        link.push_str(key);
        link.push('=');
        link.push_str(&encode(value));
    }
    link
}

/// Percent-encodes everything but RFC 3986's unreserved characters, so a
/// value is safe in a path segment and in a query.
pub fn encode(value: &str) -> String {
    let mut encoded = String::with_capacity(value.len());
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            encoded.push(byte as char);
        } else {
            let _ = write!(encoded, "%{byte:02X}");
        }
    }
    encoded
}

/// The request's path, as it came (already encoded), keeping only what a
/// path may hold.
fn encode_path(path: &str) -> String {
    path.split('/')
        .map(|part| encode(&decode(part)))
        .collect::<Vec<_>>()
        .join("/")
}

/// Percent-decoding, lossy: only to re-encode a path the same way.
fn decode(part: &str) -> String {
    let bytes = part.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        let hex = |at: usize| bytes.get(at).and_then(|b| (*b as char).to_digit(16));
        match (bytes[index], hex(index + 1), hex(index + 2)) {
            (b'%', Some(high), Some(low)) => {
                out.push((high * 16 + low) as u8);
                index += 3;
            }
            (byte, _, _) => {
                out.push(byte);
                index += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Where a language link may send the reader back to: a path of this
/// console, never another host (`//host`, `/\host`).
pub fn local_path(back: Option<&str>) -> String {
    match back {
        Some(path)
            if path.starts_with('/')
                && !path.starts_with("//")
                && !path.starts_with("/\\")
                && path.len() <= 2 * PARAMETER_BYTES_MAX
                && path.chars().all(|c| c.is_ascii_graphic()) =>
        {
            path.to_owned()
        }
        _ => "/".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::{HeaderValue, StatusCode};

    #[test]
    fn links_are_encoded_and_keep_the_date() {
        assert_eq!(encode("LY0305"), "LY0305");
        assert_eq!(encode("<a b>&"), "%3Ca%20b%3E%26");
        assert_eq!(encode("غ"), "%D8%BA");
        assert_eq!(
            with_query("/m/LY", &[("sector", "151"), ("as_of", "2026-01-31")]),
            "/m/LY?sector=151&as_of=2026-01-31"
        );
        assert_eq!(encode_path("/m/LY%3Cx"), "/m/LY%3Cx");
        assert_eq!(encode_path("/p/a\"b"), "/p/a%22b");
    }

    #[test]
    fn a_language_link_returns_only_to_this_console() {
        assert_eq!(
            local_path(Some("/m/LY0305?as_of=2026-01-01")),
            "/m/LY0305?as_of=2026-01-01"
        );
        for elsewhere in [
            "//evil.example/",
            "/\\evil.example",
            "https://evil.example/",
            "x",
            "/a b",
        ] {
            assert_eq!(local_path(Some(elsewhere)), "/", "{elsewhere}");
        }
        assert_eq!(local_path(None), "/");
    }

    #[test]
    fn parameters_are_bounded_and_empty_ones_absent() {
        let long = "x".repeat(PARAMETER_BYTES_MAX + 1);
        let error = checked(Params {
            pcode: Some(long),
            ..Params::default()
        })
        .expect_err("too long");
        assert_eq!(error.status, StatusCode::BAD_REQUEST);
        let params = checked(Params {
            as_of: Some(" ".into()),
            pcode: Some(" LY ".into()),
            ..Params::default()
        })
        .expect("valid");
        assert_eq!(params.as_of, None);
        assert_eq!(params.pcode.as_deref(), Some("LY"));
        for date in ["2026-13-01", "yesterday", "2026-1-1"] {
            let error = checked(Params {
                as_of: Some(date.into()),
                ..Params::default()
            })
            .expect_err(date);
            assert!(error.message.contains("YYYY-MM-DD"), "{date}: {error:?}");
        }
        let params = checked(Params {
            as_of: Some("2026-02-28".into()),
            ..Params::default()
        })
        .expect("a date");
        assert_eq!(params.as_of.as_deref(), Some("2026-02-28"));
    }

    #[test]
    fn the_language_comes_from_the_cookie_then_the_browser() {
        let mut headers = HeaderMap::new();
        assert_eq!(language_of(&headers), Lang::En);
        headers.insert(
            header::ACCEPT_LANGUAGE,
            HeaderValue::from_static("ar-LY,ar;q=0.9"),
        );
        assert_eq!(language_of(&headers), Lang::Ar);
        headers.insert(
            header::COOKIE,
            HeaderValue::from_static("a=b; tansiq_lang=en"),
        );
        assert_eq!(language_of(&headers), Lang::En);
    }
}
