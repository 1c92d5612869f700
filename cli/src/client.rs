//! Connecting to a node, and turning failures into messages a person can act on.

use tansiq_proto::v1::coverage_client::CoverageClient;
use tansiq_proto::v1::ledger_client::LedgerClient;
use tonic::transport::Channel;

pub type Client = LedgerClient<Channel>;

/// Connects to `node` (e.g. http://127.0.0.1:50051).
pub async fn connect(node: &str) -> anyhow::Result<Client> {
    Ok(LedgerClient::new(channel(node).await?).max_decoding_message_size(16 * 1024 * 1024))
}

/// A client of the node's Coverage service.
pub async fn connect_coverage(node: &str) -> anyhow::Result<CoverageClient<Channel>> {
    Ok(CoverageClient::new(channel(node).await?).max_decoding_message_size(64 * 1024 * 1024))
}

async fn channel(node: &str) -> anyhow::Result<Channel> {
    let endpoint = tonic::transport::Endpoint::from_shared(node.to_owned()).map_err(|error| {
        anyhow::anyhow!("--node {node:?} is not a URL like http://127.0.0.1:50051 ({error})")
    })?;
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
