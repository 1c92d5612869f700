//! `tansiq export csv|hxl|iati`: coverage as CSV or HXL-tagged CSV (one row
//! per project x municipality x sector, from the Coverage service), or the
//! ledger's projects as an IATI 2.03 activity file
//! (`tansiq.v1.Interchange.ExportIati`), on standard output.

use std::io::Write;

use tansiq_ledger::coverage::csv;
use tansiq_proto::v1 as pb;
use tansiq_proto::v1::interchange_client::InterchangeClient;
use tokio_stream::StreamExt;

use crate::args::{AsOfArg, ExportFormat};
use crate::client::{channel, connect_coverage};
use crate::coverage::scope;

/// Writes the export in `format`: csv and hxl cover `pcode` as of `as_of`;
/// iati holds the projects `org` reports (every project without it).
pub async fn run(
    node: &str,
    format: ExportFormat,
    pcode: String,
    org: Option<String>,
    as_of: AsOfArg,
) -> anyhow::Result<()> {
    match format {
        ExportFormat::Csv | ExportFormat::Hxl => {
            let answer = connect_coverage(node)
                .await?
                .who_supports(pb::WhoSupportsRequest {
                    count: 0,
                    scope: scope(pcode, as_of),
                    sector: String::new(),
                    include_children: true,
                })
                .await?
                .into_inner();
            write_csv(format, &answer.supports);
            Ok(())
        }
        ExportFormat::Iati => iati(node, org.as_deref()).await,
    }
}

/// Streams the node's IATI file to standard output as it arrives.
async fn iati(node: &str, org: Option<&str>) -> anyhow::Result<()> {
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

/// The supports as CSV or HXL-tagged CSV, as the console's downloads
/// write them too.
fn write_csv(format: ExportFormat, supports: &[pb::ProjectSupport]) {
    let flavour = if format == ExportFormat::Hxl {
        csv::Flavour::Hxl
    } else {
        csv::Flavour::Csv
    };
    let table = csv::supports(flavour, supports);
    let mut out = std::io::stdout().lock();
    out.write_all(crate::output::for_terminal(&table).as_bytes())
        .and_then(|()| out.flush())
        .unwrap_or_else(|error| crate::output::stdout_failed(&error));
}
