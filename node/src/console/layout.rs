//! The frame of every page (navigation, language, as-of date, what the
//! answer reflects) and the small pieces pages share: names in both
//! scripts, links, amounts, times.
//!
//! Templates are maud's `html!`: every `(value)` is escaped; nothing here
//! uses `PreEscaped` on anything that came from the ledger.

use maud::{html, Markup, DOCTYPE};
use tansiq_ledger::date::Date;
use tansiq_proto::v1 as pb;

use super::i18n::{Lang, Text};
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use super::view::{encode, View};
use super::PageError;

/// What a page shows, and the answer its figures come from.
pub struct Page {
    pub title: String,
    pub body: Markup,
    /// The position and head the page's answer reflects.
    pub info: Option<pb::AnswerInfo>,
}

/// The whole HTML document of a page.
pub fn document(view: &View, page: Page) -> Markup {
    let lang = view.lang;
    let other = lang.other();
    html! {
        (DOCTYPE)
        html lang=(lang.code()) dir=(lang.dir()) {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta name="referrer" content="no-referrer";
                title { (page.title) " · " (lang.t(Text::Console)) }
                link rel="stylesheet" href="/static/console.css";
                // No icon to fetch: the page asks for nothing else.
                link rel="icon" href="data:,";
                @if super::live::is_live(view) {
                    script src="/static/live.js" defer {}
                }
            }
            body {
                header.top {
                    a.brand href=(view.href("/", &[])) { (lang.t(Text::Console)) }
                    nav {
                        a href=(view.href("/", &[])) { (lang.t(Text::Overview)) }
                        a href=(view.href("/matrix", &[])) { (lang.t(Text::Matrix)) }
                        a href=(view.href("/gaps", &[])) { (lang.t(Text::Gaps)) }
                        a href=(view.href("/map", &[])) { (lang.t(Text::Map)) }
                        a href=(view.href("/overlaps", &[])) { (lang.t(Text::Overlaps)) }
                        a href=(view.href("/municipalities", &[])) { (lang.t(Text::Municipalities)) }
                        a href=(view.href("/organisations", &[])) { (lang.t(Text::Organisations)) }
                        a href=(view.href("/projects", &[])) { (lang.t(Text::Projects)) }
                        a href=(view.href("/search", &[])) { (lang.t(Text::Search)) }
                    }
                    a #lang-switch lang=(other.code()) dir=(other.dir())
                        href={ "/language/" (other.code()) "?back=" (encode(&view.here_without_language())) } {
                        (other.t(Text::LanguageName))
                    }
                }
                (as_of_form(view))
                @let live_from = page.info.as_ref().filter(|_| super::live::is_live(view)).map(|info| info.position + 1);
                main data-live-from=[live_from] data-live-note=[live_from.map(|_| lang.t(Text::NewEvents))] {
                    h1 { (page.title) }
                    (page.body)
                }
                footer {
                    @if let Some(info) = &page.info {
                        (answer_info(lang, info))
                    }
                }
            }
        }
    }
}

/// The as-of date, a plain GET form (no script), keeping the page's other
/// parameters.
fn as_of_form(view: &View) -> Markup {
    let lang = view.lang;
    let p = &view.params;
    html! {
        form.as-of method="get" action=(view.path()) {
            label for="as_of" { (lang.t(Text::AsOf)) }
            input #as_of type="date" name="as_of" value=(view.as_of()) placeholder="YYYY-MM-DD";
            @for (name, value) in [("pcode", &p.pcode), ("sector", &p.sector), ("level", &p.level), ("q", &p.q), ("by", &p.by), ("all", &p.all), ("show", &p.show)] {
                @if let Some(value) = value {
                    input type="hidden" name=(name) value=(value);
                }
            }
            @if view.lang_in_query() {
                input type="hidden" name="lang" value=(lang.code());
            }
            button type="submit" { (lang.t(Text::Show)) }
            @if !view.as_of().is_empty() {
                " "
                a href=(view.path()) { (lang.t(Text::Now)) }
            }
        }
    }
}

/// "This answer reflects log position N, head H, as of DAY."
pub fn answer_info(lang: Lang, info: &pb::AnswerInfo) -> Markup {
    html! {
        p.answer-info #answer-info data-position=(info.position) data-as-of=(info.as_of) {
            (lang.t(Text::AnswerReflects)) " "
            (lang.t(Text::Position)) " " span #answer-position { (info.position) } ", "
            (lang.t(Text::Head)) " " code #answer-head { (hex::encode(&info.head)) } ", "
            (lang.t(Text::AsOf)) " " span #answer-as-of { (info.as_of) }
            @if info.linearizable {
                " (" (lang.t(Text::Linearizable)) ")"
            }
        }
    }
}

/// The page for an error: its status in the reader's language, and what
/// was wrong (the services' messages are in English).
pub fn error_page(view: &View, error: &PageError) -> Page {
    let lang = view.lang;
    let title = match error.status.as_u16() {
        404 => lang.t(Text::NotFound),
        400 => lang.t(Text::BadRequest),
        503 => lang.t(Text::Unavailable),
        _ => lang.t(Text::Failed),
    };
    // What went wrong in the page's language; the detail is the node's
    // message, in English.
    let hint = error.hint.unwrap_or(match error.status.as_u16() {
        404 => Text::NotFoundHint,
        400 => Text::BadRequestHint,
        503 => Text::UnavailableHint,
        _ => Text::FailedHint,
    });
    Page {
        title: format!("{} {}", error.status.as_u16(), title),
        body: html! {
            @if lang == Lang::Ar {
                p.error-hint #error-hint { (lang.t(hint)) }
                p.error-message #error-message lang="en" dir="ltr" {
                    (lang.t(Text::DetailInEnglish)) " " bdi { (error.message) }
                }
            } @else {
                p.error-message #error-message dir="auto" { (error.message) }
            }
            p { a href=(view.href("/", &[])) { (lang.t(Text::BackToOverview)) } }
        },
        info: None,
    }
}

/// A name in the page's language's script first, the other after it when
/// the ledger has both (each isolated, so that the two directions do not
/// mix).
pub fn names(lang: Lang, names: Option<&pb::Names>) -> Markup {
    let Some(names) = names else {
        return html! {};
    };
    let (arabic, latin) = (names.arabic.trim(), names.latin.trim());
    let arabic_first = lang == Lang::Ar && !arabic.is_empty() || latin.is_empty();
    let (first, second) = if arabic_first {
        ((arabic, "ar", "rtl"), (latin, "", "ltr"))
    } else {
        ((latin, "", "ltr"), (arabic, "ar", "rtl"))
    };
    html! {
        bdi.name lang=[lang_attribute(first.1)] dir=(first.2) { (first.0) }
        @if !second.0.is_empty() {
            " " bdi.name.other lang=[lang_attribute(second.1)] dir=(second.2) { (second.0) }
        }
    }
}

fn lang_attribute(code: &str) -> Option<&str> {
    (!code.is_empty()).then_some(code)
}

/// A municipality's P-code linked to its page, with its names.
pub fn municipality_link(view: &View, pcode: &str, municipality: Option<&pb::Names>) -> Markup {
    html! {
        a.municipality href=(view.href(&format!("/m/{}", encode(pcode)), &[])) {
            code { (pcode) }
        }
        @if municipality.is_some() {
            " " (names(view.lang, municipality))
        }
    }
}

/// A project's title linked to its page.
pub fn project_link(view: &View, project_id: &str, title: Option<&pb::Names>) -> Markup {
    html! {
        a.project href=(view.href(&format!("/p/{}", encode(project_id)), &[])) data-project=(project_id) {
            @if title.is_some() { (names(view.lang, title)) } @else { (project_id) }
        }
    }
}

/// An organisation's id linked to its page, with its names when the
/// directory has them (ids in answers may also be names a project gives
/// to an unregistered implementer: those are shown as they are).
pub fn organisation(view: &View, directory: &[pb::Organisation], id: &str) -> Markup {
    match directory.iter().find(|o| o.org_id == id) {
        Some(known) => html! {
            a.organisation href=(view.href(&format!("/o/{}", encode(id)), &[])) {
                (names(view.lang, known.name.as_ref()))
            }
        },
        None => html! { bdi { (id) } },
    }
}

/// The donor, marked when the reporting organisation only claims it, and
/// with what the donor attested.
pub fn donor(
    view: &View,
    directory: &[pb::Organisation],
    donor: &str,
    owner: &str,
    claimed: bool,
    attestation: i32,
) -> Markup {
    let lang = view.lang;
    let attested = match pb::AttestationVerdict::try_from(attestation) {
        Ok(pb::AttestationVerdict::Confirmed) => Some(lang.t(Text::AttestedConfirmed)),
        Ok(pb::AttestationVerdict::Disputed) => Some(lang.t(Text::AttestedDisputed)),
        Ok(pb::AttestationVerdict::Partly) => Some(lang.t(Text::AttestedPartly)),
        _ => None,
    };
    html! {
        (organisation(view, directory, donor))
        @if claimed {
            " " span.claimed { "(" (lang.t(Text::ClaimedBy)) " " (organisation(view, directory, owner)) ")" }
        }
        @if let Some(attested) = attested {
            " " span.attested { "(" (attested) ")" }
        }
    }
}

/// A sector code with its name.
pub fn sector(code: &str, name: &str) -> Markup {
    html! {
        code { (code) }
        @if !name.is_empty() { " " span.sector-name lang="en" { (name) } }
    }
}

/// An amount with thousands separators, and its currency.
pub fn money(money: Option<&pb::Money>) -> Markup {
    match money {
        Some(money) => html! { span.money { (grouped(&money.value)) " " (money.currency) } },
        None => html! {},
    }
}

/// "1200000.50" → "1,200,000.50"; anything else as it is.
pub fn grouped(value: &str) -> String {
    let (whole, fraction) = value
        .split_once('.')
        .map_or((value, None), |(w, f)| (w, Some(f)));
    if whole.is_empty() || !whole.bytes().all(|b| b.is_ascii_digit()) {
        return value.to_owned();
    }
    let mut out = String::with_capacity(value.len() + whole.len() / 3);
    for (index, digit) in whole.chars().enumerate() {
        if index > 0 && (whole.len() - index) % 3 == 0 {
            out.push(',');
        }
        out.push(digit);
    }
    if let Some(fraction) = fraction {
        out.push('.');
        out.push_str(fraction);
    }
    out
}

/// Milliseconds since the epoch as `YYYY-MM-DD HH:MM:SS` (UTC).
pub fn time(ms: i64) -> String {
    if ms <= 0 {
        return String::new();
    }
    let seconds = ms.div_euclid(1000).rem_euclid(86_400);
    format!(
        "{} {:02}:{:02}:{:02}",
        Date::from_unix_ms(ms),
        seconds / 3600,
        seconds / 60 % 60,
        seconds % 60
    )
}

/// The day (UTC) of a time in milliseconds, as the as-of dates are written.
pub fn day(ms: i64) -> String {
    Date::from_unix_ms(ms).to_string()
}

/// A link to the next page of a listing, when there is one.
pub fn next_page(view: &View, path: &str, extra: &[(&str, &str)], token: &str) -> Markup {
    let lang = view.lang;
    let mut with_token = extra.to_vec();
    with_token.push(("after", token));
    html! {
        nav.pages {
            @if !view.after().is_empty() {
                a.first-page href=(view.href(path, extra)) { (lang.t(Text::FirstPage)) }
                " "
            }
            @if !token.is_empty() {
                a.next-page rel="next" href=(view.href(path, &with_token)) { (lang.t(Text::NextPage)) }
            }
        }
    }
}

/// Rendering: a page (or its error) as an HTTP answer. Here, not in
/// `view.rs`, so that the view (what a request asks) knows nothing of the
/// layout that draws it.
impl View {
    /// The page, or its error as a page with the error's status.
    pub fn render(&self, page: Result<Page, PageError>) -> Response {
        match page {
            Ok(page) => html(StatusCode::OK, document(self, page)),
            Err(error) => self.error(&error),
        }
    }

    pub fn error(&self, error: &PageError) -> Response {
        html(error.status, document(self, error_page(self, error)))
    }
}

impl<S: Send + Sync> FromRequestParts<S> for View {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<View, Response> {
        View::parse(parts).map_err(|(lang, error)| View::plain_in(lang).error(&error))
    }
}

fn html(status: StatusCode, markup: maud::Markup) -> Response {
    (
        status,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/html; charset=utf-8"),
        )],
        markup.into_string(),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_and_times_read_well() {
        assert_eq!(grouped("1200000"), "1,200,000");
        assert_eq!(grouped("400000.5"), "400,000.5");
        assert_eq!(grouped("999"), "999");
        assert_eq!(grouped("-5"), "-5");
        assert_eq!(time(0), "");
        assert_eq!(time(86_400_000 + 3_723_000), "1970-01-02 01:02:03");
    }

    #[test]
    fn a_hostile_name_is_text() {
        let hostile = pb::Names {
            latin: "<img src=x onerror=alert(1)>".into(),
            arabic: "</bdi><script>alert(2)</script>".into(),
        };
        let markup = names(Lang::En, Some(&hostile)).into_string();
        assert!(
            !markup.contains("<img") && !markup.contains("<script"),
            "{markup}"
        );
        assert!(
            markup.contains("&lt;img src=x onerror=alert(1)&gt;"),
            "{markup}"
        );
    }
}
