//! Every command's dispatch, and the ledger's own commands: keygen,
//! genesis, submit, get, head, status, tail. Each talks to the node the way
//! any client would; coverage, export, import, verify and cluster have their
//! own files.

use std::path::{Path, PathBuf};

use anyhow::Context;
use prost::Message;
use serde_json::{json, Value};
use tansiq_ledger::author::{now_ms, KeyFile};
use tansiq_ledger::event::kind_name;
use tansiq_ledger::genesis::{Genesis, GenesisFile};
use tansiq_ledger::ids::{EventId, OrgId, PublicKeyBytes};
use tansiq_ledger::signing::KeyPair;
use tansiq_proto::v1 as pb;
use tokio_stream::StreamExt;

use crate::args::{Cli, Command, ImportFormat, Output};
use crate::client::{connect, Client};
use crate::output;
use crate::signer::{author_for, read_bodies};

/// Runs the command of a parsed command line: every `Command` is matched
/// here, so a new one cannot be left without a handler.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let output = cli.output;
    match cli.command {
        Command::Keygen { org, out } => keygen(output, &org, &out),
        Command::ConsoleToken { hash_file } => console_token(output, &hash_file),
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
        Command::Checkpoint { save, trust } => {
            let mut client = connect(&cli.node).await?;
            crate::tree::checkpoint(output, &mut client, &trust, save.as_deref()).await
        }
        Command::Prove {
            event_id,
            checkpoint,
            trust,
        } => {
            let mut client = connect(&cli.node).await?;
            crate::tree::prove(
                output,
                &mut client,
                &trust,
                &event_id,
                checkpoint.as_deref(),
            )
            .await
        }
        Command::Audit { since, trust } => {
            let mut client = connect(&cli.node).await?;
            crate::tree::audit(output, &mut client, &trust, &since).await
        }
        Command::Status => status(output, &mut connect(&cli.node).await?).await,
        Command::Backup { out, key } => {
            // With a client certificate and no key, the certificate asks.
            let signer = match (key, &cli.tls_cert) {
                (None, Some(_)) => None,
                (key, _) => {
                    Some(key.unwrap_or_else(|| PathBuf::from(crate::signer::DEFAULT_KEY_FILE)))
                }
            };
            backup(output, &mut connect(&cli.node).await?, &out, signer).await
        }
        Command::Tail { from, once } => {
            tail(output, &mut connect(&cli.node).await?, from, once).await
        }
        Command::Verify { mirror: None, .. } => {
            crate::verify::run(output, &mut connect(&cli.node).await?).await
        }
        Command::Verify {
            mirror: Some(dir),
            checkpoint,
            log_key,
        } => {
            let log_key = log_key.context(
                "checking a mirror offline needs the log key: --log-key KEY (or TANSIQ_LOG_KEY), as `tansiq checkpoint` prints it",
            )?;
            crate::mirror::verify(output, &dir, checkpoint.as_deref(), &log_key)
        }
        Command::Mirror {
            dir,
            from,
            token,
            log_key,
        } => {
            let log_key = match log_key {
                Some(key) => key,
                None => {
                    let signed = connect(&cli.node)
                        .await?
                        .get_checkpoint(pb::GetCheckpointRequest::default())
                        .await?
                        .into_inner();
                    eprintln!(
                        "tansiq: trusting the log key {} of {} on first use; pin it with --log-key",
                        signed.verifier_key, cli.node
                    );
                    signed.verifier_key
                }
            };
            let source = crate::mirror::Source {
                base: from,
                ca: cli.ca.clone(),
                token,
            };
            crate::mirror::mirror(output, &dir, &source, &log_key).await
        }
        Command::Coverage(command) => crate::coverage::run(&cli.node, output, command).await,
        Command::List { what } => crate::list::run(&cli.node, output, what).await,
        Command::Cluster { key, action } => {
            crate::cluster::run(&cli.node, output, key, action).await
        }
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
        Command::Export {
            format,
            pcode,
            org,
            as_of,
        } => crate::export::run(&cli.node, format, pcode, org, as_of).await,
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

/// A random token (32 bytes, hex), its hash appended to `hash_file`.
fn console_token(output: Output, hash_file: &Path) -> anyhow::Result<()> {
    use rand::RngCore as _;
    use std::io::Write as _;
    let mut secret = [0_u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut secret);
    let token = hex::encode(secret);
    let hash = blake3::hash(token.as_bytes()).to_hex();
    let mut options = std::fs::OpenOptions::new();
    options.create(true).append(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options
        .open(hash_file)
        .with_context(|| format!("cannot open the token file {}", hash_file.display()))?;
    writeln!(
        file,
        "{hash}  # console token made {}",
        tansiq_ledger::date::Date::from_unix_ms(tansiq_ledger::author::now_ms())
    )
    .with_context(|| format!("cannot write the token file {}", hash_file.display()))?;
    output::record(
        output,
        &json!({
            "token": token,
            "hash_file": hash_file.display().to_string(),
            "note": "give the token to the reader; it is shown only now, and the file holds only its hash",
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
        ("type", 30),
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
            "log_key": status.log_key,
            "witness_key": status.witness_key,
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
        ("type", 30),
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

/// `tansiq backup --out DIR`: the node writes a copy of its ledger there.
async fn backup(
    output: Output,
    client: &mut Client,
    out: &std::path::Path,
    signer: Option<PathBuf>,
) -> anyhow::Result<()> {
    let out_dir = out.display().to_string();
    let mut request = pb::BackupRequest {
        out_dir: out_dir.clone(),
        ..Default::default()
    };
    // Without a signer, the client certificate (an administrator's) asks.
    if let Some(path) = signer {
        let (_, key) = tansiq_ledger::author::KeyFile::read(&path).with_context(|| {
            "pass --key FILE (the ministry's key) or set TANSIQ_KEY, or ask as an administrator with --tls-cert and --tls-key".to_owned()
        })?;
        let chain = tansiq_ledger::signing::ChainId::parse(
            &client
                .get_head(pb::GetHeadRequest {})
                .await?
                .into_inner()
                .chain_id,
        )?;
        request.signed_at_ms = tansiq_ledger::author::now_ms();
        request.signature = key
            .sign_bytes(&tansiq_ledger::signing::backup_request_bytes(
                &chain,
                &out_dir,
                request.signed_at_ms,
            ))
            .to_vec();
        request.signer_key = key.public().0.to_vec();
    }
    let answer = client.backup(request).await?.into_inner();
    match output {
        Output::Json => say!("{}", serde_json::to_string(&answer)?),
        Output::Table => say!(
            "backup of chain {} at log position {} (head {}): {} files, {} bytes; manifest {}",
            answer.chain_id,
            answer.position,
            hex::encode(&answer.head),
            answer.files,
            answer.bytes,
            answer.manifest
        ),
    }
    Ok(())
}
