//! `tansiq verify`: re-derives everything from a node's genesis and log
//! (every signature, every key's chain, the head chain) and compares the
//! result with the head the node reports.

use anyhow::{bail, Context};
use prost::Message;
use serde_json::json;
use tansiq_ledger::genesis::Genesis;
use tansiq_ledger::ids::{EventId, HeadHash, PublicKeyBytes};
use tansiq_ledger::limits::CLI_VERIFY_BATCH;
use tansiq_ledger::signing::{self, ChainId, SignatureCheck};
use tansiq_proto::v1 as pb;
use tokio_stream::StreamExt;

use crate::args::Output;
use crate::client::Client;
use crate::output;

/// Re-derives everything from the node's genesis and log: signatures, key
/// chains and the head chain, and compares the result with the node's head.
pub async fn run(output: Output, client: &mut Client) -> anyhow::Result<()> {
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
pub(crate) struct ChainVerifier {
    chain: ChainId,
    position: u64,
    head: HeadHash,
    keys: std::collections::HashMap<PublicKeyBytes, (u64, Option<EventId>)>,
    pending: Vec<(u64, PublicKeyBytes, Vec<u8>, Vec<u8>)>,
}

impl ChainVerifier {
    pub(crate) fn new(genesis: Genesis) -> Self {
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
        let event = entry.event.context("log entry without event")?;
        let id = signing::event_id(&self.chain, &event.body);
        if id.0.as_slice() != entry.event_id.as_slice() {
            bail!(
                "position {position}: event id {} does not hash from its body ({id})",
                hex::encode(&entry.event_id)
            );
        }
        self.push_event(position, event)?;
        if self.head.0.as_slice() != entry.head.as_slice() {
            bail!(
                "position {position}: head {} but blake3(previous head || id) is {}",
                hex::encode(&entry.head),
                self.head
            );
        }
        Ok(())
    }

    /// The event at `position`, its id and the head after it computed
    /// here (a mirror holds the events alone).
    pub(crate) fn push_event(
        &mut self,
        position: u64,
        event: pb::SignedEvent,
    ) -> anyhow::Result<()> {
        if position != self.position + 1 {
            bail!("log skips from position {} to {position}", self.position);
        }
        let id = signing::event_id(&self.chain, &event.body);
        self.head = self.head.next(&id);
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
        if self.pending.len() >= CLI_VERIFY_BATCH {
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

    pub(crate) fn finish(mut self) -> anyhow::Result<(u64, HeadHash)> {
        self.check_signatures()?;
        Ok((self.position, self.head))
    }
}
