//! `/live?from=N`: the positions the log commits from `N` on, as
//! server-sent events (`event: commit`, `id` and `data` the position),
//! fed by `Ledger.Subscribe`; and the script that uses them
//! (`/static/live.js`): a page that lists overlaps, gaps or the latest
//! events, showing the ledger as it stands now, fetches itself again when
//! something commits and swaps in its new content — a reviewer sees a new
//! overlap without reloading. With JavaScript off the pages are the
//! same, only not live.
//!
//! Each stream holds one of the node's log subscriptions (past the node's
//! limit, 503) and ends when the console stops or the reader goes away.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Query, State};
use axum::http::{header, HeaderMap};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tokio_stream::StreamExt;

use super::{Console, View};

/// The paths whose pages update live (when they show the ledger now).
pub const LIVE_PAGES: [&str; 3] = ["/", "/overlaps", "/gaps"];

/// The script, served from the binary like the stylesheet.
pub const SCRIPT: &str = include_str!("live.js");

/// Live streams the console serves at once (each also holds one of the
/// node's log subscriptions).
pub const LIVE_STREAMS_MAX: usize = 32;

/// How often an idle stream sends a comment, so that proxies and the
/// browser keep it open.
const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// Positions waiting for a slow reader; past it the forwarding task waits
/// (the subscription below it has its own bound).
const LIVE_BUFFER: usize = 16;

#[derive(Deserialize)]
pub struct LiveParams {
    /// The first position to announce (default: the next one).
    from: Option<u64>,
}

pub async fn handle(
    State(console): State<Arc<Console>>,
    view: View,
    headers: HeaderMap,
    query: Result<Query<LiveParams>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let Ok(Query(params)) = query else {
        return view.error(&super::PageError::bad_request(
            "from must be a log position: a whole number",
        ));
    };
    // A browser that reconnects says the last position it was told of.
    let reconnected = headers
        .get("last-event-id")
        .and_then(|value| value.to_str().ok())
        .and_then(|text| text.parse::<u64>().ok())
        .and_then(|position| position.checked_add(1));
    let from = match reconnected.or(params.from) {
        Some(from) => from,
        None => match console.sources.head().await {
            Ok(head) => head.position + 1,
            Err(error) => return view.error(&error),
        },
    };
    // The console's own share of streams, apart from the node's gRPC
    // subscriptions: past it, 503 (the browser retries later).
    let Ok(stream_slot) = Arc::clone(&console.live_streams).try_acquire_owned() else {
        return view.error(&super::PageError::busy());
    };
    let log = match console.sources.subscribe(from).await {
        Ok(log) => log,
        Err(error) => return view.error(&error),
    };
    // A task forwards the log's positions until the reader goes away, the
    // log ends (the reader reconnects) or the console stops.
    let (sender, commits) = mpsc::channel::<Result<Event, Infallible>>(LIVE_BUFFER);
    let stopping = console.stopping.clone();
    tokio::spawn(async move {
        let _stream_slot = stream_slot;
        let mut log = std::pin::pin!(log);
        loop {
            let entry = tokio::select! {
                () = stopping.cancelled() => break,
                () = sender.closed() => break,
                entry = log.next() => entry,
            };
            let Some(Ok(entry)) = entry else { break };
            let position = entry.position.to_string();
            let event = Event::default()
                .event("commit")
                .id(&position)
                .data(position);
            if sender.send(Ok(event)).await.is_err() {
                break;
            }
        }
    });
    let commits = ReceiverStream::new(commits);
    (
        [(header::CACHE_CONTROL, "no-store")],
        Sse::new(commits).keep_alive(KeepAlive::new().interval(KEEP_ALIVE)),
    )
        .into_response()
}

/// Whether the page at `path` updates live for `view`.
pub fn is_live(view: &View) -> bool {
    view.as_of().is_empty() && LIVE_PAGES.contains(&view.path())
}
