//! `tansiq checkpoint`, `tansiq prove` and `tansiq audit`: what a donor or
//! an auditor checks of the log without trusting the node that serves it.
//! Every answer is verified here, against a signed checkpoint, before it
//! is printed:
//!
//! - a checkpoint must carry valid signatures of the log keys (pinned with
//!   `--log-key`, one per cluster voter, of which `--quorum` must have
//!   signed; else the keys the node names, trusted on first use, said on
//!   standard error) and name this chain's log;
//! - an inclusion proof must lead from the event's bytes to the
//!   checkpoint's root;
//! - a consistency proof must lead from a saved checkpoint's root to the
//!   current one's: anything else is a rewritten log (a fork, or a
//!   truncation when the size went down), and the command fails naming
//!   both checkpoints.

use std::path::Path;

use anyhow::{bail, Context};
use prost::Message;
use serde_json::json;
use tansiq_ledger::ids::EventId;
use tansiq_ledger::signing::{event_id as event_id_of, ChainId};
use tansiq_ledger::tree::checkpoint::{self, Verified};
use tansiq_ledger::tree::{check_consistency, check_inclusion, proof_hashes};
use tansiq_proto::v1 as pb;
use tansiq_proto::v1::get_inclusion_proof_request::Event as Which;

use crate::args::{LogTrust, Output};
use crate::client::Client;
use crate::output;

/// The log keys a checkpoint is checked against, and how many of them
/// must have signed it.
struct Trusted {
    keys: Vec<String>,
    needed: usize,
    /// Given by the user (else trusted on first use).
    pinned: bool,
}

/// The node's current checkpoint, verified, its note, the keys trusted
/// and those that signed it.
async fn current(
    client: &mut Client,
    trust: &LogTrust,
) -> anyhow::Result<(Verified, Vec<u8>, Trusted, Vec<String>)> {
    let signed = client
        .get_checkpoint(pb::GetCheckpointRequest::default())
        .await?
        .into_inner();
    let (keys, pinned) = if trust.keys.is_empty() {
        let keys = if signed.cosigner_keys.is_empty() {
            vec![signed.verifier_key.clone()]
        } else {
            signed.cosigner_keys.clone()
        };
        eprintln!(
            "tansiq: trusting the log key(s) the node names on first use: {}; pin them with --log-key (or TANSIQ_LOG_KEY) so that a node cannot swap them",
            keys.join(", ")
        );
        (keys, false)
    } else {
        (trust.keys.clone(), true)
    };
    let needed = trust.quorum.unwrap_or(keys.len());
    if needed == 0 || needed > keys.len() {
        bail!(
            "--quorum {needed}: at least 1 and at most the {} log keys trusted",
            keys.len()
        );
    }
    let trusted = Trusted {
        keys,
        needed,
        pinned,
    };
    let (verified, signers) =
        checkpoint::verify_by(&signed.note, &trusted.keys, trusted.needed, &signed.origin)
            .context("the node's checkpoint")?;
    Ok((verified, signed.note, trusted, signers))
}

/// A saved checkpoint file, verified with the keys trusted for `origin`.
fn saved(path: &Path, trusted: &Trusted, origin: &str) -> anyhow::Result<Verified> {
    let note = std::fs::read(path)
        .with_context(|| format!("cannot read the checkpoint file {}", path.display()))?;
    checkpoint::verify_by(&note, &trusted.keys, trusted.needed, origin)
        .map(|(verified, _)| verified)
        .with_context(|| {
            format!(
                "the saved checkpoint {} (claims log {:?})",
                path.display(),
                checkpoint::claimed_origin(&note).unwrap_or_default()
            )
        })
}

fn describe(checkpoint: &Verified) -> String {
    format!(
        "size {} root {}",
        checkpoint.size,
        hex::encode(checkpoint.root.0)
    )
}

/// `tansiq checkpoint [--save FILE]`.
pub async fn checkpoint(
    output: Output,
    client: &mut Client,
    trust: &LogTrust,
    save: Option<&Path>,
) -> anyhow::Result<()> {
    let (verified, note, trusted, signers) = current(client, trust).await?;
    if let Some(path) = save {
        // A checkpoint saved before must be extended by the new one: a
        // smaller or forked tree is refused, and the file kept.
        if path.exists() {
            let before = saved(path, &trusted, &verified.origin)?;
            extends(client, &before, &verified, path).await?;
        }
        std::fs::write(path, &note).with_context(|| format!("cannot write {}", path.display()))?;
    }
    output::record(
        output,
        &json!({
            "origin": verified.origin,
            "size": verified.size,
            "root": hex::encode(verified.root.0),
            "log_key": trusted.keys.first(),
            "log_keys": trusted.keys,
            "signed_by": signers,
            "quorum": trusted.needed,
            "saved": save.map(|path| path.display().to_string()),
            "checkpoint": String::from_utf8_lossy(&note),
        }),
    );
    Ok(())
}

/// `tansiq prove EVENT_ID [--checkpoint FILE]`.
pub async fn prove(
    output: Output,
    client: &mut Client,
    trust: &LogTrust,
    event_id: &str,
    against: Option<&Path>,
) -> anyhow::Result<()> {
    let id = EventId::from_hex(event_id)
        .with_context(|| format!("{event_id:?} is not an event id: 64 hex digits"))?;
    let (now, _, trusted, _) = current(client, trust).await?;
    let target = match against {
        Some(path) => saved(path, &trusted, &now.origin)?,
        None => now,
    };
    let proof = client
        .get_inclusion_proof(pb::GetInclusionProofRequest {
            event: Some(Which::EventId(id.0.to_vec())),
            tree_size: target.size,
        })
        .await?
        .into_inner();
    let event = proof
        .event
        .context("the node sent no event with its proof")?;
    let entry = event.encode_to_vec();
    // The id is the hash of the chain id and the signed body: the event
    // sent is the one asked for.
    let chain = target
        .origin
        .strip_prefix("tansiq.ledger/")
        .and_then(|chain| ChainId::parse(chain).ok())
        .with_context(|| format!("{:?} is not a Tansiq log's origin", target.origin))?;
    if event_id_of(&chain, &event.body) != id {
        bail!("the node answered for event {event_id} with another event");
    }
    let path = proof_hashes(&proof.hashes)?;
    let index = proof
        .position
        .checked_sub(1)
        .context("the node named log position 0, which holds no event")?;
    check_inclusion(&path, target.size, target.root, index, &entry).with_context(
        || {
            format!(
                "event {event_id} at log position {} is NOT proven in the checkpoint ({}): suspect a log that was rewritten, or a node that serves another log",
                proof.position,
                describe(&target)
            )
        },
    )?;
    output::record(
        output,
        &json!({
            "event_id": event_id,
            "position": proof.position,
            "tree_size": target.size,
            "root": hex::encode(target.root.0),
            "origin": target.origin,
            "log_key": trusted.keys.first(),
            "log_keys": trusted.keys,
            "entry": hex::encode(&entry),
            "log_key_pinned": trusted.pinned,
            "proof": path.iter().map(|hash| hex::encode(hash.0)).collect::<Vec<_>>(),
            "verified": true,
        }),
    );
    Ok(())
}

/// `tansiq audit --since FILE`.
pub async fn audit(
    output: Output,
    client: &mut Client,
    trust: &LogTrust,
    since: &Path,
) -> anyhow::Result<()> {
    let (now, _, trusted, _) = current(client, trust).await?;
    let before = saved(since, &trusted, &now.origin)?;
    extends(client, &before, &now, since).await?;
    output::record(
        output,
        &json!({
            "origin": now.origin,
            "since": describe(&before),
            "now": describe(&now),
            "consistent": true,
            "log_key_pinned": trusted.pinned,
        }),
    );
    Ok(())
}

/// Checks, with the node's consistency proof, that `now` extends `before`
/// (saved in `file`): anything else is a truncated or rewritten log.
async fn extends(
    client: &mut Client,
    before: &Verified,
    now: &Verified,
    file: &Path,
) -> anyhow::Result<()> {
    if now.size < before.size {
        bail!(
            "the log was TRUNCATED: the saved checkpoint {} has {} but the node's now has {}; the ministry's log lost entries it had published (or this node is behind: ask another)",
            file.display(),
            describe(before),
            describe(now)
        );
    }
    let proof = client
        .get_consistency_proof(pb::GetConsistencyProofRequest {
            old_size: before.size,
            new_size: now.size,
        })
        .await?
        .into_inner();
    let path = proof_hashes(&proof.hashes)?;
    check_consistency(&path, now.size, now.root, before.size, before.root).with_context(|| {
        format!(
            "the log was REWRITTEN (a fork): the node's checkpoint ({}) does not extend the saved one {} ({})",
            describe(now),
            file.display(),
            describe(before)
        )
    })
}
