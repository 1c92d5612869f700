//! What signs: the key file (`--key`, `$TANSIQ_KEY`, else the dev node's
//! ministry key), the event bodies read from JSON, and the author's place in
//! its key's chain as the node knows it. Used by `submit`, `check` and
//! `import`.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use serde_json::Value;
use tansiq_ledger::author::{Author, KeyFile};
use tansiq_ledger::event::Kind;
use tansiq_ledger::ids::EventId;
use tansiq_ledger::signing::ChainId;
use tansiq_proto::v1 as pb;

use crate::client::Client;

/// The dev node's ministry key, used when no key is named.
pub const DEFAULT_KEY_FILE: &str = "./tansiq-data/ministry.key";

/// Reads event bodies from JSON: one object or an array of objects, each the
/// proto3 JSON form of EventBody's `kind` (e.g. {"organisationRegistered": {...}}).
pub fn read_bodies(file: &Path) -> anyhow::Result<Vec<Kind>> {
    let text = if file == Path::new("-") {
        std::io::read_to_string(std::io::stdin()).context("cannot read standard input")?
    } else {
        std::fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))?
    };
    let value: Value =
        serde_json::from_str(&text).with_context(|| format!("{} is not JSON", file.display()))?;
    let items = match value {
        Value::Array(items) => items,
        other => vec![other],
    };
    if items.is_empty() {
        bail!("{} holds no event", file.display());
    }
    items
        .into_iter()
        .enumerate()
        .map(|(index, item)| {
            let body: pb::EventBody = serde_json::from_value(item).with_context(|| {
                format!(
                    "event[{index}] in {} is not an event body (see docs/PROTOCOL.md)",
                    file.display()
                )
            })?;
            body.kind.with_context(|| {
                format!(
                    "event[{index}] in {} names no event type such as \"organisationRegistered\"",
                    file.display()
                )
            })
        })
        .collect()
}

/// The author of the key file at `key_path` (default [`DEFAULT_KEY_FILE`]),
/// placed after the last event the node has from its key: the next event it
/// signs takes the next sequence number and chains to that event.
pub async fn author_for(client: &mut Client, key_path: Option<PathBuf>) -> anyhow::Result<Author> {
    let path = key_path.unwrap_or_else(|| PathBuf::from(DEFAULT_KEY_FILE));
    let (org, key) =
        KeyFile::read(&path).with_context(|| "pass --key FILE or set TANSIQ_KEY".to_owned())?;
    let head = client.get_head(pb::GetHeadRequest {}).await?.into_inner();
    let chain = ChainId::parse(&head.chain_id)?;
    let key_head = client
        .get_key_head(pb::GetKeyHeadRequest {
            public_key: key.public().0.to_vec(),
        })
        .await?
        .into_inner();
    let last = if key_head.last_event_id.is_empty() {
        None
    } else {
        Some(EventId::from_slice(&key_head.last_event_id)?)
    };
    Ok(Author::new(chain, org, key, key_head.sequence, last))
}
