//! `tansiq export csv|hxl|iati`: coverage as CSV or HXL-tagged CSV (one row
//! per project x municipality x sector, from the Coverage service), or the
//! ledger's projects as an IATI 2.03 activity file
//! (`tansiq.v1.Interchange.ExportIati`), on standard output.

use std::io::Write;

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

/// HXL hashtags of the export's columns (Humanitarian Exchange Language).
const EXPORT_COLUMNS: &[(&str, &str)] = &[
    ("pcode", "#adm2+code"),
    ("municipality_latin", "#adm2+name"),
    ("municipality_arabic", "#adm2+name+ar"),
    ("sector", "#sector+oecd"),
    ("sector_name", "#sector+name"),
    ("funder", "#org+funder"),
    ("implementers", "#org+impl"),
    ("project_id", "#activity+code"),
    ("iati_identifier", "#activity+id"),
    ("title", "#activity+name"),
    ("status", "#status"),
    ("start", "#date+start"),
    ("end", "#date+end"),
    ("budget", "#value+funding"),
    ("currency", "#currency"),
];

/// One CSV line per support under a header line of the column names; hxl
/// adds the hashtags as a second header line.
fn write_csv(format: ExportFormat, supports: &[pb::ProjectSupport]) {
    say!(
        "{}",
        EXPORT_COLUMNS
            .iter()
            .map(|(name, _)| *name)
            .collect::<Vec<_>>()
            .join(",")
    );
    if format == ExportFormat::Hxl {
        say!(
            "{}",
            EXPORT_COLUMNS
                .iter()
                .map(|(_, tag)| *tag)
                .collect::<Vec<_>>()
                .join(",")
        );
    }
    for s in supports {
        let municipality = s.municipality.clone().unwrap_or_default();
        let title = s.title.clone().unwrap_or_default();
        let budget = s.budget.clone().unwrap_or_default();
        let cells = [
            s.pcode.clone(),
            municipality.latin,
            municipality.arabic,
            s.sector.clone(),
            s.sector_name.clone(),
            s.donor.clone(),
            s.implementers.join(";"),
            s.project_id.clone(),
            s.iati_identifier.clone(),
            if title.latin.is_empty() {
                title.arabic
            } else {
                title.latin
            },
            s.status_name.clone(),
            s.start.clone(),
            s.end.clone(),
            budget.value,
            budget.currency,
        ];
        say!(
            "{}",
            cells
                .iter()
                .map(|c| csv_field(c))
                .collect::<Vec<_>>()
                .join(",")
        );
    }
}

/// RFC 4180 quoting.
fn csv_field(text: &str) -> String {
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_owned()
    }
}
