//! The commands: each talks to the node the way any client would.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use prost::Message;
use serde_json::{json, Value};
use tansiq_ledger::author::{now_ms, Author, KeyFile};
use tansiq_ledger::event::{kind_name, Kind};
use tansiq_ledger::genesis::{Genesis, GenesisFile};
use tansiq_ledger::ids::{EventId, HeadHash, OrgId, PublicKeyBytes};
use tansiq_ledger::signing::{self, ChainId, KeyPair, SignatureCheck};
use tansiq_proto::v1 as pb;
use tokio_stream::StreamExt;

use crate::args::{Cli, Command, ImportFormat, Output};
use crate::client::{connect, Client};
use crate::output;

/// The dev node's ministry key, used when no key is named.
pub const DEFAULT_KEY_FILE: &str = "./tansiq-data/ministry.key";

pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let output = cli.output;
    match cli.command {
        Command::Keygen { org, out } => keygen(output, &org, &out),
        Command::Genesis {
            name,
            ministry,
            ministry_keys,
            name_latin,
            name_arabic,
            out,
        } => {
            let names = pb::Names {
                arabic: name_arabic,
                latin: name_latin,
            };
            genesis(output, &name, &ministry, &ministry_keys, names, &out)
        }
        Command::Submit { file, key } => {
            submit(output, &mut connect(&cli.node).await?, &file, key).await
        }
        Command::Get { event_id } => get(output, &mut connect(&cli.node).await?, &event_id).await,
        Command::Head => head(output, &mut connect(&cli.node).await?).await,
        Command::Status => status(output, &mut connect(&cli.node).await?).await,
        Command::Tail { from, once } => {
            tail(output, &mut connect(&cli.node).await?, from, once).await
        }
        Command::Verify => verify(output, &mut connect(&cli.node).await?).await,
        Command::Cluster { action } => crate::cluster::run(&cli.node, output, action).await,
        Command::Import {
            format:
                ImportFormat::Iati {
                    file,
                    key,
                    dry_run,
                    pcode_map,
                },
        } => {
            let import = crate::import::ImportIati {
                file,
                key,
                dry_run,
                pcode_map,
            };
            crate::import::iati(&cli.node, output, import).await
        }
        command => crate::coverage::run(&cli.node, output, command).await,
    }
}

fn keygen(output: Output, org: &str, out: &Path) -> anyhow::Result<()> {
    let org = OrgId::parse(org)?;
    let key = KeyPair::generate();
    KeyFile::new(&org, &key, "").write(out)?;
    let public = key.public();
    output::record(
        output,
        &json!({
            "org_id": org.to_string(),
            "key_file": out.display().to_string(),
            "public_key_hex": public.to_hex(),
            "public_key_base64": base64_of(&public.0),
        }),
    );
    Ok(())
}

fn genesis(
    output: Output,
    name: &str,
    ministry: &str,
    keys: &[String],
    names: pb::Names,
    out: &Path,
) -> anyhow::Result<()> {
    let ministry = OrgId::parse(ministry)?;
    let keys = keys
        .iter()
        .map(|key| {
            PublicKeyBytes::from_hex(key).with_context(|| {
                format!("--ministry-key {key:?}: give the public key's 64 hex digits")
            })
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let genesis = Genesis::new_chain(name, &ministry, names, &keys, now_ms())?;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(out)
        .with_context(|| {
            format!(
                "cannot create {} (an existing file is never overwritten)",
                out.display()
            )
        })?;
    std::io::Write::write_all(
        &mut file,
        GenesisFile::from_genesis(&genesis).to_json().as_bytes(),
    )
    .and_then(|()| file.sync_all())
    .with_context(|| format!("cannot write {}", out.display()))?;
    output::record(
        output,
        &json!({
            "chain_id": genesis.chain.to_string(),
            "genesis_hash": genesis.hash.to_hex(),
            "genesis_file": out.display().to_string(),
        }),
    );
    Ok(())
}

fn base64_of(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

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

async fn submit(
    output: Output,
    client: &mut Client,
    file: &Path,
    key: Option<PathBuf>,
) -> anyhow::Result<()> {
    let kinds = read_bodies(file)?;
    let mut author = author_for(client, key).await?;
    let created_at_ms = now_ms();
    let mut names = Vec::with_capacity(kinds.len());
    let events: Vec<pb::SignedEvent> = kinds
        .into_iter()
        .map(|kind| {
            names.push(kind_name(&kind));
            author.sign(kind, created_at_ms).0
        })
        .collect();
    let receipts = if events.len() == 1 {
        let event = events.into_iter().next();
        vec![client
            .submit(pb::SubmitRequest { event })
            .await?
            .into_inner()]
    } else {
        client
            .submit_batch(pb::SubmitBatchRequest { events })
            .await?
            .into_inner()
            .receipts
    };
    let columns = [
        ("position", 8),
        ("state", 16),
        ("type", 24),
        ("event_id", 64),
        ("duplicate", 9),
        ("warnings", 0),
    ];
    output::header(output, &columns);
    for (receipt, name) in receipts.iter().zip(names) {
        let state = if receipt.state == pb::ReceiptState::AcceptedPending as i32 {
            "accepted-pending"
        } else {
            "committed"
        };
        let row = json!({
            "position": receipt.position,
            "state": state,
            "type": name,
            "event_id": hex::encode(&receipt.event_id),
            "head": hex::encode(&receipt.head),
            "duplicate": receipt.duplicate,
            "committed_at_ms": receipt.committed_at_ms,
            "pending_review": receipt.pending_review,
            "warnings": match output {
                Output::Json => json!(receipt.warnings),
                Output::Table => json!(receipt.warnings.join("; ")),
            },
        });
        output::row(output, &row, &columns);
    }
    Ok(())
}

fn entry_json(entry: &pb::LogEntry) -> anyhow::Result<Value> {
    let event = entry
        .event
        .as_ref()
        .context("node sent a log entry without its event")?;
    let body =
        pb::EventBody::decode(event.body.as_slice()).context("stored body does not decode")?;
    let kind = body.kind.as_ref().map(kind_name).unwrap_or("unknown");
    Ok(json!({
        "position": entry.position,
        "event_id": hex::encode(&entry.event_id),
        "head": hex::encode(&entry.head),
        "committed_at_ms": entry.committed_at_ms,
        "type": kind,
        "author": body.author,
        "signer_key": hex::encode(&body.signer_key),
        "sequence": body.sequence,
        "body": serde_json::to_value(&body)?,
    }))
}

async fn get(output: Output, client: &mut Client, event_id: &str) -> anyhow::Result<()> {
    let id = EventId::from_hex(event_id)?;
    let entry = client
        .get_event(pb::GetEventRequest {
            event_id: id.0.to_vec(),
        })
        .await?
        .into_inner();
    output::record(output, &entry_json(&entry)?);
    Ok(())
}

async fn head(output: Output, client: &mut Client) -> anyhow::Result<()> {
    let head = client.get_head(pb::GetHeadRequest {}).await?.into_inner();
    output::record(
        output,
        &json!({
            "chain_id": head.chain_id,
            "position": head.position,
            "head": hex::encode(&head.head),
            "genesis_hash": hex::encode(&head.genesis_hash),
        }),
    );
    Ok(())
}

async fn status(output: Output, client: &mut Client) -> anyhow::Result<()> {
    let status = client
        .get_status(pb::GetStatusRequest {})
        .await?
        .into_inner();
    output::record(
        output,
        &json!({
            "chain_id": status.chain_id,
            "position": status.position,
            "head": hex::encode(&status.head),
            "events_committed": status.events_committed,
            "events_rejected": status.events_rejected,
            "duplicates": status.duplicates,
            "commit_groups": status.commit_groups,
            "commit_latency_p50_us": status.commit_latency_p50_us,
            "commit_latency_p99_us": status.commit_latency_p99_us,
            "uptime_s": status.uptime_s,
            "version": status.version,
        }),
    );
    Ok(())
}

async fn tail(output: Output, client: &mut Client, from: u64, once: bool) -> anyhow::Result<()> {
    let stop_at = if once {
        Some(
            client
                .get_head(pb::GetHeadRequest {})
                .await?
                .into_inner()
                .position,
        )
    } else {
        None
    };
    if stop_at.is_some_and(|head| head < from) {
        return Ok(());
    }
    let columns = [
        ("position", 8),
        ("type", 24),
        ("author", 20),
        ("event_id", 64),
    ];
    output::header(output, &columns);
    let mut stream = client
        .subscribe(pb::SubscribeRequest {
            from_position: from,
        })
        .await?
        .into_inner();
    while let Some(entry) = stream.next().await {
        let entry = entry?;
        output::row(output, &entry_json(&entry)?, &columns);
        if stop_at.is_some_and(|head| entry.position >= head) {
            break;
        }
    }
    Ok(())
}

/// Re-derives everything from the node's genesis and log: signatures, key
/// chains and the head chain, and compares the result with the node's head.
async fn verify(output: Output, client: &mut Client) -> anyhow::Result<()> {
    let genesis_response = client
        .get_genesis(pb::GetGenesisRequest {})
        .await?
        .into_inner();
    let genesis = Genesis::decode(&genesis_response.genesis)?;
    if genesis.hash.0.as_slice() != genesis_response.genesis_hash.as_slice() {
        bail!("node's genesis hash does not match its genesis bytes");
    }
    let head = client.get_head(pb::GetHeadRequest {}).await?.into_inner();
    let mut verifier = ChainVerifier::new(genesis);
    if head.position > 0 {
        let mut stream = client
            .subscribe(pb::SubscribeRequest { from_position: 1 })
            .await?
            .into_inner();
        while let Some(entry) = stream.next().await {
            let entry = entry?;
            let position = entry.position;
            verifier.push(entry)?;
            if position >= head.position {
                break;
            }
        }
    }
    let computed = verifier.finish()?;
    if computed.0 != head.position {
        bail!(
            "node reports position {} but served {} entries",
            head.position,
            computed.0
        );
    }
    if computed.1 .0.as_slice() != head.head.as_slice() {
        bail!(
            "head chain mismatch: computed {} but the node reports {}",
            computed.1,
            hex::encode(&head.head)
        );
    }
    output::record(
        output,
        &json!({
            "result": "ok",
            "chain_id": head.chain_id,
            "events_verified": computed.0,
            "head": computed.1.to_hex(),
            "signatures": "all valid",
            "key_chains": "all contiguous",
        }),
    );
    Ok(())
}

/// Checks log entries in order; signatures are verified in batches.
struct ChainVerifier {
    chain: ChainId,
    position: u64,
    head: HeadHash,
    keys: std::collections::HashMap<PublicKeyBytes, (u64, Option<EventId>)>,
    pending: Vec<(u64, PublicKeyBytes, Vec<u8>, Vec<u8>)>,
}

const VERIFY_BATCH: usize = 1024;

impl ChainVerifier {
    fn new(genesis: Genesis) -> Self {
        ChainVerifier {
            chain: genesis.chain.clone(),
            position: 0,
            head: genesis.hash,
            keys: Default::default(),
            pending: Vec::new(),
        }
    }

    fn push(&mut self, entry: pb::LogEntry) -> anyhow::Result<()> {
        let position = entry.position;
        if position != self.position + 1 {
            bail!("log skips from position {} to {position}", self.position);
        }
        let event = entry.event.context("log entry without event")?;
        let id = signing::event_id(&self.chain, &event.body);
        if id.0.as_slice() != entry.event_id.as_slice() {
            bail!(
                "position {position}: event id {} does not hash from its body ({id})",
                hex::encode(&entry.event_id)
            );
        }
        self.head = self.head.next(&id);
        if self.head.0.as_slice() != entry.head.as_slice() {
            bail!(
                "position {position}: head {} but blake3(previous head || id) is {}",
                hex::encode(&entry.head),
                self.head
            );
        }
        let body = pb::EventBody::decode(event.body.as_slice())
            .with_context(|| format!("position {position}: body"))?;
        let signer = PublicKeyBytes::from_slice(&body.signer_key)?;
        let (sequence, previous) = self.keys.get(&signer).cloned().unwrap_or((0, None));
        if body.sequence != sequence + 1 {
            bail!(
                "position {position}: key {signer} jumps from sequence {sequence} to {}",
                body.sequence
            );
        }
        let claimed_previous = if body.previous.is_empty() {
            None
        } else {
            Some(EventId::from_slice(&body.previous)?)
        };
        if claimed_previous != previous {
            bail!("position {position}: key {signer} sequence {} does not chain to its previous event", body.sequence);
        }
        self.keys.insert(signer, (body.sequence, Some(id)));
        self.pending.push((
            position,
            signer,
            signing::signed_bytes(&self.chain, &event.body),
            event.signature,
        ));
        self.position = position;
        if self.pending.len() >= VERIFY_BATCH {
            self.check_signatures()?;
        }
        Ok(())
    }

    fn check_signatures(&mut self) -> anyhow::Result<()> {
        let checks: Vec<SignatureCheck<'_>> = self
            .pending
            .iter()
            .map(|(_, key, message, signature)| SignatureCheck {
                key,
                message,
                signature,
            })
            .collect();
        let verdicts = signing::verify_signatures(&checks);
        if let Some(index) = verdicts.iter().position(|valid| !valid) {
            bail!(
                "position {}: signature does not verify",
                self.pending[index].0
            );
        }
        self.pending.clear();
        Ok(())
    }

    fn finish(mut self) -> anyhow::Result<(u64, HeadHash)> {
        self.check_signatures()?;
        Ok((self.position, self.head))
    }
}
