//! The benchmarks' anchor: one core's ed25519 batch verification, as the
//! ed25519 library itself does it (`ed25519_dalek::verify_batch`), on the
//! signatures a benchmark is about to send or replay. Issue 17's goals are
//! events/s divided by this rate, measured in the same run.
//!
//! The ledger's own verification (`tansiq_ledger::signing`) is measured on
//! the same batches beside it: it keeps signers' keys decompressed between
//! batches and adds up each signer's terms, so on a batch of few signers it
//! is faster than the library; the ratio's anchor stays the library, which
//! no change to the ledger moves.

use std::collections::HashMap;
use std::time::Instant;

use anyhow::{bail, Context};
use ed25519_dalek::{Signature, VerifyingKey};
use tansiq_ledger::event::{verify_events_on_this_thread, Event};
use tansiq_ledger::signing::{signed_bytes, ChainId};

/// Signatures per batch, unless a benchmark is told otherwise.
pub const VERIFY_BATCH: usize = 512;

/// Signatures per second on one core: the library's (the anchor) and the
/// ledger's, over the same batches.
pub struct VerifyRates {
    pub library: f64,
    pub ledger: f64,
}

/// Verifies `events` in batches of `batch` on this thread, once with
/// `ed25519_dalek::verify_batch` and once with the ledger's verification;
/// fails if either finds a bad signature. For the library, only its calls
/// are timed (keys decompressed and messages built before); the ledger's
/// function builds its messages and keeps its keys itself, and is timed
/// whole. How much faster the ledger is depends on the batches' signers
/// (it adds up each signer's terms): these are the benchmark's own.
pub fn one_core_verify_rates(
    chain: &ChainId,
    events: &[&Event],
    batch: usize,
) -> anyhow::Result<VerifyRates> {
    if events.is_empty() {
        bail!("no signatures to time");
    }
    let mut keys: HashMap<[u8; 32], VerifyingKey> = HashMap::new();
    let mut batches = Vec::new();
    for chunk in events.chunks(batch.max(1)) {
        let mut messages = Vec::with_capacity(chunk.len());
        let mut signatures = Vec::with_capacity(chunk.len());
        let mut signers = Vec::with_capacity(chunk.len());
        for event in chunk {
            messages.push(signed_bytes(chain, &event.body));
            let signature: [u8; 64] = event.signature[..]
                .try_into()
                .context("a signature is 64 bytes")?;
            signatures.push(Signature::from_bytes(&signature));
            let key = match keys.get(&event.signer.0) {
                Some(key) => *key,
                None => {
                    let key = VerifyingKey::from_bytes(&event.signer.0)
                        .context("a signer's key is a point")?;
                    keys.insert(event.signer.0, key);
                    key
                }
            };
            signers.push(key);
        }
        batches.push((messages, signatures, signers));
    }

    let started = Instant::now();
    for (messages, signatures, signers) in &batches {
        let messages: Vec<&[u8]> = messages.iter().map(Vec::as_slice).collect();
        if ed25519_dalek::verify_batch(&messages, signatures, signers).is_err() {
            bail!("ed25519-dalek found a bad signature in a benchmark's batch");
        }
    }
    let library = events.len() as f64 / started.elapsed().as_secs_f64();

    let started = Instant::now();
    for chunk in events.chunks(batch.max(1)) {
        if !verify_events_on_this_thread(chain, chunk)
            .iter()
            .all(|valid| *valid)
        {
            bail!("the ledger found a bad signature in a benchmark's batch");
        }
    }
    let ledger = events.len() as f64 / started.elapsed().as_secs_f64();
    Ok(VerifyRates { library, ledger })
}

impl VerifyRates {
    /// The two rates, as every benchmark prints them.
    pub fn print(&self, batch: usize) {
        println!(
            "ed25519 batch verification, 1 core ({batch} per batch), ed25519-dalek's verify_batch: {:.0} signatures/s (the ratios' anchor)",
            self.library
        );
        println!(
            "  the ledger's verification of the same batches, 1 core: {:.0} signatures/s ({:.2} x the anchor)",
            self.ledger,
            self.ledger / self.library
        );
    }
}
