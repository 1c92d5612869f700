//! The log's Merkle tree over HTTP, as c2sp.org/tlog-tiles clients (the
//! transparency-log ecosystem's mirrors, monitors and witnesses) fetch it:
//! `/checkpoint` (the signed note of `Ledger.GetCheckpoint`), `/genesis`
//! (for checking the entries offline) and
//! `/tile/<L>/<N>[.p/<W>]`, `/tile/entries/<N>[.p/<W>]` (tiles of height
//! 8; entry bundles of 16-bit length-prefixed entries). Full tiles never
//! change and are sent as immutable; a tile the tree does not hold yet is
//! a 404, as the spec's clients expect. They sit behind the console's
//! access rule like every page (the entries are the whole ledger).

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use tonic::{Code, Status};

use super::Console;

/// `/checkpoint`.
pub async fn checkpoint(State(console): State<Arc<Console>>) -> Response {
    match console.sources.checkpoint().await {
        Ok(signed) => (
            [
                (header::CONTENT_TYPE, "text/plain; charset=utf-8"),
                (header::CACHE_CONTROL, "no-store"),
            ],
            signed.note,
        )
            .into_response(),
        Err(status) => plain_error(&status),
    }
}

/// `/genesis`: the genesis' protobuf bytes, which a mirror needs to check
/// the entries offline (the chain id they are signed for, the head
/// chain's start). Not part of c2sp.org/tlog-tiles.
pub async fn genesis(State(console): State<Arc<Console>>) -> Response {
    match console.sources.genesis().await {
        Ok(genesis) => (
            [
                (header::CONTENT_TYPE, "application/octet-stream"),
                (header::CACHE_CONTROL, "public, max-age=31536000, immutable"),
            ],
            genesis.genesis,
        )
            .into_response(),
        Err(status) => plain_error(&status),
    }
}

/// `/tile/...`.
pub async fn tile(State(console): State<Arc<Console>>, Path(rest): Path<String>) -> Response {
    match console.sources.tile(format!("tile/{rest}")).await {
        Ok((bytes, full)) => (
            [
                (header::CONTENT_TYPE, "application/octet-stream"),
                (
                    header::CACHE_CONTROL,
                    if full {
                        "public, max-age=31536000, immutable"
                    } else {
                        "no-store"
                    },
                ),
            ],
            bytes,
        )
            .into_response(),
        Err(status) => plain_error(&status),
    }
}

/// A short plain-text error: 404 for what the tree does not hold (yet),
/// 400 for a path that is not a tile's.
fn plain_error(status: &Status) -> Response {
    let code = match status.code() {
        Code::OutOfRange | Code::NotFound => StatusCode::NOT_FOUND,
        Code::InvalidArgument => StatusCode::BAD_REQUEST,
        Code::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        Code::Unimplemented => StatusCode::NOT_IMPLEMENTED,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    };
    (
        code,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        format!("{}\n", status.message()),
    )
        .into_response()
}
