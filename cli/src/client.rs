//! Connecting to a node, and turning failures into messages a person can act on.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use tansiq_ledger::limits::{CLIENT_COVERAGE_ANSWER_BYTES_MAX, CLIENT_LEDGER_ANSWER_BYTES_MAX};

use anyhow::Context;
use tansiq_proto::v1::coverage_client::CoverageClient;
use tansiq_proto::v1::ledger_client::LedgerClient;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Identity};

/// Where a `tansiq-node --dev` started in this directory keeps its CA.
pub const DEV_CA: &str = "tansiq-data/tls/ca.pem";

/// How to reach nodes over TLS (from --ca, --tls-cert, --tls-key).
#[derive(Debug, Default)]
pub struct TlsOptions {
    pub ca: Option<PathBuf>,
    pub cert: Option<PathBuf>,
    pub key: Option<PathBuf>,
}

static TLS: OnceLock<TlsOptions> = OnceLock::new();

/// Sets the TLS options every connection of this process uses.
pub fn configure(options: TlsOptions) {
    let _ = TLS.set(options);
}

fn read(path: &Path, what: &str) -> anyhow::Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("cannot read the {what} {}", path.display()))
}

fn tls_config(node: &str) -> anyhow::Result<ClientTlsConfig> {
    let options = TLS.get_or_init(TlsOptions::default);
    let ca = match &options.ca {
        Some(path) => path.clone(),
        None if Path::new(DEV_CA).exists() => PathBuf::from(DEV_CA),
        None => anyhow::bail!(
            "{node} is https: give --ca FILE (or TANSIQ_CA), the CA that signed the node's certificate (a --dev node writes DATA_DIR/tls/ca.pem)"
        ),
    };
    let mut config =
        ClientTlsConfig::new().ca_certificate(Certificate::from_pem(read(&ca, "CA certificate")?));
    match (&options.cert, &options.key) {
        (Some(cert), Some(key)) => {
            config = config.identity(Identity::from_pem(
                read(cert, "client certificate")?,
                read(key, "client key")?,
            ));
        }
        (None, None) => {}
        _ => anyhow::bail!("a client certificate needs both --tls-cert and --tls-key"),
    }
    Ok(config)
}

pub type Client = LedgerClient<Channel>;

/// Connects to `node` (e.g. http://127.0.0.1:50051).
pub async fn connect(node: &str) -> anyhow::Result<Client> {
    Ok(LedgerClient::new(channel(node).await?)
        .max_decoding_message_size(CLIENT_LEDGER_ANSWER_BYTES_MAX))
}

/// A client of the node's Coverage service.
pub async fn connect_coverage(node: &str) -> anyhow::Result<CoverageClient<Channel>> {
    Ok(CoverageClient::new(channel(node).await?)
        .max_decoding_message_size(CLIENT_COVERAGE_ANSWER_BYTES_MAX))
}

/// A channel to `node`: TLS for https:// URLs, plaintext for http://.
pub async fn channel(node: &str) -> anyhow::Result<Channel> {
    let mut endpoint =
        tonic::transport::Endpoint::from_shared(node.to_owned()).map_err(|error| {
            anyhow::anyhow!("--node {node:?} is not a URL like https://127.0.0.1:50051 ({error})")
        })?;
    if node.starts_with("https://") {
        endpoint = endpoint.tls_config(tls_config(node)?)?;
    }
    endpoint.connect().await.map_err(|error| {
        anyhow::anyhow!("cannot reach a Tansiq node at {node} ({error}); is tansiq-node running? (set --node or TANSIQ_NODE)")
    })
}

/// One line for an error: a gRPC status shows its code and the node's message.
pub fn describe(error: &anyhow::Error) -> String {
    if let Some(status) = error.downcast_ref::<tonic::Status>() {
        let reason = status
            .metadata()
            .get("tansiq-reason")
            .and_then(|value| value.to_str().ok())
            .map(|reason| format!(" [{reason}]"))
            .unwrap_or_default();
        return format!("{:?}{reason}: {}", status.code(), status.message());
    }
    format!("{error:#}")
}
