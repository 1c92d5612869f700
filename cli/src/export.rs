//! `tansiq export iati [--org ORG]`: the ledger's projects as an IATI 2.03
//! activity file on standard output (`tansiq.v1.Interchange.ExportIati`).

use std::io::Write;

use tansiq_proto::v1 as pb;
use tansiq_proto::v1::interchange_client::InterchangeClient;
use tokio_stream::StreamExt;

use crate::client::channel;

pub async fn run(node: &str, org: Option<&str>) -> anyhow::Result<()> {
    let mut client = InterchangeClient::new(channel(node).await?);
    let mut chunks = client
        .export_iati(pb::ExportIatiRequest {
            org_id: org.unwrap_or_default().to_owned(),
        })
        .await?
        .into_inner();
    let mut out = std::io::stdout().lock();
    while let Some(chunk) = chunks.next().await {
        let data = chunk?.data;
        out.write_all(&data)
            .unwrap_or_else(|error| crate::output::stdout_failed(&error));
    }
    out.flush()
        .unwrap_or_else(|error| crate::output::stdout_failed(&error));
    Ok(())
}
