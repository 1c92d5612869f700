//! Who may read the console, and over what. On loopback (the default) the
//! console is plain HTTP for whoever can reach the machine's loopback;
//! beyond it the node refuses to serve it without TLS and an access rule
//! (`config.rs`), because coverage data in a conflict area can put people
//! at risk:
//!
//! - **TLS** with the node's own certificate (the one its gRPC server
//!   serves), by [`serve_tls`]: rustls, each handshake bounded in time,
//!   connections bounded in number;
//! - **client certificates** (`--http-client-certs`): the handshake
//!   requires a certificate of the node's CA, so only holders of one reach
//!   any page;
//! - **access tokens** (`--http-token-file FILE`): the file holds the
//!   blake3 hashes of the tokens, never the tokens (`tansiq console-token`
//!   makes one and appends its hash). A request carries the token as
//!   `Authorization: Bearer TOKEN`, or in the cookie that the sign-in form
//!   (`/access`) sets, `HttpOnly`, `Secure`, `SameSite=Strict`. A reader
//!   without it gets a 401 page with the form.

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tansiq_ledger::sync::lock_whole;

use anyhow::{bail, Context};
use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Router;
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use maud::html;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;

use super::i18n::Text;
use super::layout::Page;
use super::{Console, View, STOP_WAIT};

/// The cookie that carries an access token once the reader signed in.
pub const ACCESS_COOKIE: &str = "tansiq_access";
/// Lines of a token file, at most.
pub const TOKENS_MAX: usize = 1_000;
/// Connections the TLS console serves at once; past it a new one waits
/// to be accepted.
pub const TLS_CONNECTIONS_MAX: usize = 256;
/// How long a client may take to finish its TLS handshake.
pub const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Bytes of a sign-in form, at most.
pub const SIGN_IN_BYTES_MAX: usize = 1_024;
/// How long a client may take to send its sign-in form.
pub const SIGN_IN_TIMEOUT: Duration = Duration::from_secs(10);
/// Connections one address may hold to the TLS console at once.
pub const TLS_CONNECTIONS_PER_PEER_MAX: usize = TLS_CONNECTIONS_MAX / 8;

/// The PEM files the console serves TLS with: the node's.
pub struct TlsPem {
    pub ca: Vec<u8>,
    pub cert: Vec<u8>,
    pub key: Vec<u8>,
}

/// What the console requires of a reader.
#[derive(Clone, Default)]
pub struct Access {
    /// The blake3 hashes of the tokens that open the console (None: no
    /// token needed).
    pub tokens: Option<Arc<Tokens>>,
}

/// The hashes of the access tokens.
pub struct Tokens {
    hashes: HashSet<[u8; 32]>,
}

impl Tokens {
    /// Reads a token file: one hex blake3 hash (64 characters) per line;
    /// blank lines and `#` comments are skipped.
    pub fn load(path: &Path) -> anyhow::Result<Tokens> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the console's token file {}", path.display()))?;
        let mut hashes = HashSet::new();
        for (number, line) in text.lines().enumerate() {
            let line = line.split('#').next().unwrap_or("").trim();
            if line.is_empty() {
                continue;
            }
            let mut hash = [0_u8; 32];
            if hex::decode_to_slice(line, &mut hash).is_err() {
                bail!(
                    "{} line {}: not a token hash (64 hex characters); make one with `tansiq console-token --hash-file {}`; the file holds hashes, never tokens",
                    path.display(),
                    number + 1,
                    path.display()
                );
            }
            hashes.insert(hash);
            if hashes.len() > TOKENS_MAX {
                bail!("{}: more than {TOKENS_MAX} token hashes", path.display());
            }
        }
        if hashes.is_empty() {
            bail!(
                "{} holds no token hash: add one with `tansiq console-token --hash-file {}`",
                path.display(),
                path.display()
            );
        }
        Ok(Tokens { hashes })
    }

    /// Whether `token` is one of them.
    pub fn admit(&self, token: &str) -> bool {
        self.hashes
            .contains(blake3::hash(token.as_bytes()).as_bytes())
    }
}

/// The token a request carries: `Authorization: Bearer`, else the cookie.
fn token_of(headers: &HeaderMap) -> Option<&str> {
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "));
    bearer.or_else(|| {
        headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|value| value.to_str().ok())
            .flat_map(|value| value.split(';'))
            .filter_map(|pair| pair.trim().split_once('='))
            .find(|(name, _)| *name == ACCESS_COOKIE)
            .map(|(_, value)| value)
    })
}

/// The middleware: a request without an admitted token gets the 401
/// sign-in page (the stylesheet and the form itself stay open).
pub(crate) async fn require_token(
    State(console): State<Arc<Console>>,
    request: Request,
    next: Next,
) -> Response {
    let Some(tokens) = &console.access.tokens else {
        return next.run(request).await;
    };
    let open = matches!(request.uri().path(), "/access" | "/static/console.css");
    if open || token_of(request.headers()).is_some_and(|token| tokens.admit(token)) {
        return next.run(request).await;
    }
    sign_in_page(&View::plain(), StatusCode::UNAUTHORIZED, false)
}

/// `GET /access`: the sign-in form.
pub(crate) async fn form(view: View) -> Response {
    sign_in_page(&view, StatusCode::OK, false)
}

/// `POST /access` with `token=...`: sets the cookie and goes to the
/// overview, or says the token is not one of this console's.
pub(crate) async fn sign_in(
    State(console): State<Arc<Console>>,
    view: View,
    body: axum::body::Body,
) -> Response {
    let Some(tokens) = &console.access.tokens else {
        return (StatusCode::SEE_OTHER, [(header::LOCATION, "/")]).into_response();
    };
    // Bounded in size and in time: a client that trickles its form holds
    // nothing for long.
    let body: Bytes = match tokio::time::timeout(
        SIGN_IN_TIMEOUT,
        axum::body::to_bytes(body, SIGN_IN_BYTES_MAX),
    )
    .await
    {
        Ok(Ok(body)) => body,
        _ => return sign_in_page(&view, StatusCode::BAD_REQUEST, true),
    };
    let token = (body.len() <= SIGN_IN_BYTES_MAX)
        .then(|| {
            form_urlencoded::parse(&body)
                .find(|(name, _)| name == "token")
                .map(|(_, value)| value.trim().to_owned())
        })
        .flatten()
        .unwrap_or_default();
    if token.is_empty() || !tokens.admit(&token) {
        return sign_in_page(&view, StatusCode::UNAUTHORIZED, true);
    }
    // A token is hex from `tansiq console-token`; anything else cannot be
    // a cookie value and was not admitted above.
    let cookie = format!("{ACCESS_COOKIE}={token}; Path=/; HttpOnly; Secure; SameSite=Strict");
    match HeaderValue::from_str(&cookie) {
        Ok(cookie) => (
            StatusCode::SEE_OTHER,
            [
                (header::SET_COOKIE, cookie),
                (header::LOCATION, HeaderValue::from_static("/")),
            ],
        )
            .into_response(),
        Err(_) => sign_in_page(&view, StatusCode::BAD_REQUEST, true),
    }
}

fn sign_in_page(view: &View, status: StatusCode, refused: bool) -> Response {
    let lang = view.lang;
    let page = Page {
        title: lang.t(Text::SignIn).to_owned(),
        body: html! {
            @if refused {
                p.error-message #error-message { (lang.t(Text::TokenRefused)) }
            }
            p.explained { (lang.t(Text::SignInExplained)) }
            form.sign-in method="post" action="/access" {
                label for="token" { (lang.t(Text::AccessToken)) }
                input #token type="password" name="token" autocomplete="current-password" maxlength="256" required;
                button type="submit" { (lang.t(Text::SignIn)) }
            }
        },
        info: None,
    };
    let mut response = view.render(Ok(page));
    *response.status_mut() = status;
    if status == StatusCode::UNAUTHORIZED {
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    }
    response
}

/// The rustls configuration of the console: the node's certificate; with
/// `client_certificates`, a certificate of the node's CA is required.
pub fn tls_acceptor(pem: &TlsPem, client_certificates: bool) -> anyhow::Result<TlsAcceptor> {
    let chain = CertificateDer::pem_slice_iter(&pem.cert)
        .collect::<Result<Vec<_>, _>>()
        .context("the node certificate is not PEM")?;
    let key = PrivateKeyDer::from_pem_slice(&pem.key).context("the node key is not PEM")?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ServerConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()
        .context("TLS versions")?;
    let config = if client_certificates {
        let mut roots = rustls::RootCertStore::empty();
        for ca in CertificateDer::pem_slice_iter(&pem.ca) {
            roots
                .add(ca.context("the CA certificate is not PEM")?)
                .context("the CA certificate cannot be a trust root")?;
        }
        let verifier =
            rustls::server::WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .context("the client certificate verifier")?;
        builder.with_client_cert_verifier(verifier)
    } else {
        builder.with_no_client_auth()
    }
    .with_single_cert(chain, key)
    .context("the node certificate and key do not go together")?;
    let mut config = config;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// Serves `app` over TLS on `listener` until `stop`, then lets the
/// connections finish for at most [`STOP_WAIT`].
pub async fn serve_tls(
    listener: TcpListener,
    acceptor: TlsAcceptor,
    app: Router,
    stop: CancellationToken,
) {
    let slots = Arc::new(Semaphore::new(TLS_CONNECTIONS_MAX));
    let per_peer: Arc<std::sync::Mutex<HashMap<IpAddr, usize>>> = Arc::default();
    let mut connections = JoinSet::new();
    loop {
        let Ok(slot) = Arc::clone(&slots).acquire_owned().await else {
            break;
        };
        let accepted = tokio::select! {
            () = stop.cancelled() => break,
            accepted = listener.accept() => accepted,
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(error) => {
                // Out of file descriptors, say: do not spin on it.
                tracing::warn!(%error, "the console cannot accept a connection");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        // One address may hold an eighth of the connections, so that one
        // client cannot take them all before its handshake.
        let Some(peer_slot) = PeerSlot::take(&per_peer, peer.ip()) else {
            drop(stream);
            continue;
        };
        let (acceptor, app, stop) = (acceptor.clone(), app.clone(), stop.clone());
        connections.spawn(async move {
            let _slot = slot;
            let _peer_slot = peer_slot;
            let tls =
                match tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                    Ok(Ok(tls)) => tls,
                    Ok(Err(error)) => {
                        tracing::debug!(%peer, %error, "a console TLS handshake failed");
                        return;
                    }
                    Err(_) => return,
                };
            let service = TowerToHyperService::new(app);
            let connection = hyper::server::conn::http1::Builder::new()
                .timer(hyper_util::rt::TokioTimer::new())
                .header_read_timeout(TLS_HANDSHAKE_TIMEOUT)
                .serve_connection(TokioIo::new(tls), service);
            let mut connection = std::pin::pin!(connection);
            tokio::select! {
                _ = connection.as_mut() => {}
                () = stop.cancelled() => {
                    connection.as_mut().graceful_shutdown();
                    let _ = connection.await;
                }
            }
        });
        // Reap the finished ones as we go.
        while connections.try_join_next().is_some() {}
    }
    let drained = tokio::time::timeout(STOP_WAIT, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        connections.abort_all();
    }
}

/// A connection counted against its address until dropped.
struct PeerSlot {
    counts: Arc<std::sync::Mutex<HashMap<IpAddr, usize>>>,
    peer: IpAddr,
}

impl PeerSlot {
    fn take(counts: &Arc<std::sync::Mutex<HashMap<IpAddr, usize>>>, peer: IpAddr) -> Option<Self> {
        let mut held = lock_whole(counts);
        let count = held.entry(peer).or_insert(0);
        if *count >= TLS_CONNECTIONS_PER_PEER_MAX {
            return None;
        }
        *count += 1;
        Some(PeerSlot {
            counts: Arc::clone(counts),
            peer,
        })
    }
}

impl Drop for PeerSlot {
    fn drop(&mut self) {
        let mut held = lock_whole(&self.counts);
        if let Some(count) = held.get_mut(&self.peer) {
            *count -= 1;
            if *count == 0 {
                held.remove(&self.peer);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_file_holds_hashes_and_admits_their_tokens_only() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tokens");
        let hash = blake3::hash(b"s3cret").to_hex();
        std::fs::write(&path, format!("# analysts\n{hash}  # planning unit\n\n")).unwrap();
        let tokens = Tokens::load(&path).unwrap();
        assert!(tokens.admit("s3cret"));
        assert!(!tokens.admit("s3cret "));
        assert!(
            !tokens.admit(hash.as_str()),
            "the hash itself opens nothing"
        );

        std::fs::write(&path, "s3cret\n").unwrap();
        let error = Tokens::load(&path).err().unwrap().to_string();
        assert!(
            error.contains("not a token hash") && error.contains("line 1"),
            "{error}"
        );
        std::fs::write(&path, "# nothing\n").unwrap();
        let error = Tokens::load(&path).err().unwrap().to_string();
        assert!(error.contains("no token hash"), "{error}");
    }

    #[test]
    fn the_token_comes_from_the_bearer_header_else_the_cookie() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            HeaderValue::from_static("a=b; tansiq_access=abc"),
        );
        assert_eq!(token_of(&headers), Some("abc"));
        headers.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Bearer xyz"),
        );
        assert_eq!(token_of(&headers), Some("xyz"));
        assert_eq!(token_of(&HeaderMap::new()), None);
    }
}
