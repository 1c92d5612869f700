//! The analyst console: read-only HTML pages of coverage, gaps, overlaps,
//! projects and organisations, served by the node itself (`--http ADDR`).
//!
//! **One query surface**: every page is built from the protobuf answers a
//! gRPC client gets, by calling the node's own `Ledger` and `Coverage`
//! service implementations in process ([`Sources`]); the console has no
//! query of its own and keeps no copy of the data. A gRPC error becomes an
//! HTML page with the matching HTTP status ([`PageError`]).
//!
//! Pages are rendered on the server (usable with JavaScript off), in
//! English or Arabic ([`i18n`]), with every value escaped by the templates
//! (maud), and sent with a Content-Security-Policy that allows nothing but
//! the node's own stylesheet: no script, no inline style, no other host.
//!
//! The path of a request: [`router`] → a handler in [`pages`] → [`View`]
//! (language, as-of date and the query, checked) → calls on [`Sources`] →
//! a [`layout::Page`] → [`View::render`]. The node starts it next to its
//! gRPC server ([`start`]) and stops it first when it shuts down.

pub mod access;
mod i18n;
mod layout;
mod live;
pub mod map;
mod pages;
mod sources;
mod tiles;
mod view;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub use sources::{PageError, Sources};
pub use view::View;

/// Pages being rendered at once; past it a request gets 503 at once, so
/// that a burst of page loads cannot queue unbounded work on the node.
pub const PAGES_AT_ONCE_MAX: usize = 32;
/// Bytes of one query parameter or path segment (the listings' page
/// tokens are at most 256 bytes too); past it, 400.
pub const PARAMETER_BYTES_MAX: usize = 256;
/// Listing pages walked to count what is on the ledger (each of
/// `LIST_PAGE_MAX` items); past them the overview says "more than".
pub const COUNT_PAGES_MAX: usize = 10;
/// Municipalities (rows) a matrix shows; past it the page asks to narrow
/// the P-code.
pub const MATRIX_ROWS_MAX: usize = 200;
/// Rows of a gaps or overlaps table; past it the page says how many there
/// are and asks to narrow the P-code.
pub const TABLE_ROWS_MAX: usize = 500;

/// How long a stopping node waits for the pages being rendered.
pub const STOP_WAIT: Duration = Duration::from_secs(5);

/// The Content-Security-Policy of every answer: the node's own stylesheet
/// and images, no script at all, no inline style, never framed.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; frame-ancestors 'none'";

/// The stylesheet, served from the binary (no other host is ever asked).
const STYLESHEET: &str = include_str!("console.css");

/// Binds the console's address now, before the node opens its storage, so
/// that a node that cannot serve its console stops with nothing running.
pub async fn bind(address: SocketAddr) -> anyhow::Result<TcpListener> {
    TcpListener::bind(address).await.with_context(|| {
        format!(
            "cannot serve the console on {address}: serve it on another port with --http 127.0.0.1:PORT"
        )
    })
}

/// Serves the console on `listener`, on the node's runtime, until
/// [`Running::stop`].
pub fn start(
    listener: TcpListener,
    sources: Sources,
    boundaries: Option<Arc<map::Boundaries>>,
    security: Security,
) -> Running {
    let stop = CancellationToken::new();
    let console = Arc::new(Console {
        sources,
        boundaries,
        pages_at_once: Semaphore::new(PAGES_AT_ONCE_MAX),
        stopping: stop.clone(),
        access: security.access,
        live_streams: Arc::new(Semaphore::new(live::LIVE_STREAMS_MAX)),
    });
    let app = probes(Arc::clone(&console)).merge(router(console));
    let task = match security.tls {
        Some(acceptor) => tokio::spawn(access::serve_tls(listener, acceptor, app, stop.clone())),
        None => {
            let serving =
                axum::serve(listener, app).with_graceful_shutdown(stop.clone().cancelled_owned());
            tokio::spawn(async move {
                if let Err(error) = serving.await {
                    tracing::error!(%error, "the console stopped serving");
                }
            })
        }
    };
    Running { task, stop }
}

/// How the console is served: TLS or not, and what a reader must show
/// (see [`access`]).
#[derive(Default)]
pub struct Security {
    pub access: access::Access,
    /// TLS with the node's certificate (None: plain HTTP, on loopback).
    pub tls: Option<tokio_rustls::TlsAcceptor>,
}

/// The console being served.
pub struct Running {
    task: JoinHandle<()>,
    stop: CancellationToken,
}

impl Running {
    /// Stops taking connections, lets the pages being rendered finish (for
    /// at most [`STOP_WAIT`]), and so lets go of the services: the node
    /// drains its committer only once nothing holds the ledger service.
    pub async fn stop(mut self) {
        self.stop.cancel();
        if tokio::time::timeout(STOP_WAIT, &mut self.task)
            .await
            .is_err()
        {
            tracing::warn!("the console's pages did not finish within {STOP_WAIT:?}: cut short");
            self.task.abort();
            let _ = (&mut self.task).await;
        }
    }
}

/// What every handler shares.
pub(crate) struct Console {
    pub(crate) sources: Sources,
    /// The map's shapes (`--boundaries`, or the demo's), read at start.
    pub(crate) boundaries: Option<Arc<map::Boundaries>>,
    pages_at_once: Semaphore,
    /// Cancelled when the console stops: live streams end with it.
    stopping: CancellationToken,
    /// What a reader must show.
    access: access::Access,
    /// Live streams open ([`live::LIVE_STREAMS_MAX`]).
    live_streams: Arc<Semaphore>,
}

/// `/healthz` (the process answers) and `/readyz` (it should take
/// clients: see `LedgerService::readiness`), for a load balancer or
/// systemd: plain text, 200 or 503, outside the console's access rule (they
/// show nothing of the ledger but its position).
fn probes(console: Arc<Console>) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "alive\n" }))
        .route(
            "/metrics",
            get(|State(console): State<Arc<Console>>| async move {
                (
                    [(
                        header::CONTENT_TYPE,
                        "text/plain; version=0.0.4; charset=utf-8",
                    )],
                    console.sources.metrics(),
                )
            }),
        )
        .route(
            "/readyz",
            get(|State(console): State<Arc<Console>>| async move {
                match console.sources.readiness().await {
                    Ok(ready) => (StatusCode::OK, format!("{ready}\n")),
                    Err(why) => (
                        StatusCode::SERVICE_UNAVAILABLE,
                        format!("not ready: {why}\n"),
                    ),
                }
            }),
        )
        .with_state(console)
}

/// Every page and the stylesheet, behind the page limit and the security
/// headers.
fn router(console: Arc<Console>) -> Router {
    Router::new()
        .route("/", get(pages::overview::handle))
        .route("/matrix", get(pages::matrix::handle))
        .route("/gaps", get(pages::gaps::handle))
        .route("/map", get(pages::map::handle))
        .route("/overlaps", get(pages::overlaps::handle))
        .route("/m/{pcode}", get(pages::municipality::handle))
        .route("/p/{project_id}", get(pages::project::handle))
        .route("/o/{org_id}", get(pages::organisation::handle))
        .route("/municipalities", get(pages::listings::municipalities))
        .route("/organisations", get(pages::listings::organisations))
        .route("/projects", get(pages::listings::projects))
        .route("/search", get(pages::search::handle))
        .route("/download/{table}", get(pages::download::handle))
        .route("/language/{code}", get(pages::language::handle))
        .route("/live", get(live::handle))
        .route("/checkpoint", get(tiles::checkpoint))
        .route("/genesis", get(tiles::genesis))
        .route("/tile/{*rest}", get(tiles::tile))
        .route(
            "/access",
            get(access::form)
                .post(access::sign_in)
                .layer(axum::extract::DefaultBodyLimit::max(
                    access::SIGN_IN_BYTES_MAX,
                )),
        )
        .route("/static/console.css", get(stylesheet))
        .route("/static/live.js", get(script))
        .fallback(pages::not_a_page)
        // The page limit inside the access rule: a request without a
        // token is answered 401 before it can take a page's slot.
        .layer(middleware::from_fn_with_state(
            Arc::clone(&console),
            within_the_page_limit,
        ))
        .layer(middleware::from_fn_with_state(
            Arc::clone(&console),
            access::require_token,
        ))
        .layer(middleware::map_response(security_headers))
        .with_state(console)
}

async fn within_the_page_limit(
    State(console): State<Arc<Console>>,
    request: Request,
    next: Next,
) -> Response {
    let Ok(_slot) = console.pages_at_once.try_acquire() else {
        return View::plain().error(&PageError::busy());
    };
    next.run(request).await
}

async fn script() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        live::SCRIPT,
    )
        .into_response()
}

async fn stylesheet() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        STYLESHEET,
    )
        .into_response()
}

/// On every answer, the console's own and axum's (405, for one).
async fn security_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    if response.status() == StatusCode::METHOD_NOT_ALLOWED {
        // The console is read-only: say so rather than an empty page.
        *response.body_mut() = "the console is read-only: GET and HEAD only".into();
    }
    response
}
