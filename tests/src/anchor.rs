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
//!
//! One pass of each is untimed (a warm-up), then the two alternate for
//! [`TIMED_PASSES`] timed passes and each rate is its side's median: one
//! pass, the library's first and cold, had tilted the ratio of the two.

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
    /// The median of the library's timed passes: the anchor.
    pub library: f64,
    /// The median of the ledger's.
    pub ledger: f64,
    /// Each timed pass, in the order run.
    pub library_passes: Vec<f64>,
    pub ledger_passes: Vec<f64>,
}

/// Verifies `events` in batches of `batch` on this thread with
/// `ed25519_dalek::verify_batch` and with the ledger's verification, one
/// untimed pass of each and then [`TIMED_PASSES`] timed passes of each,
/// alternating; each rate is its side's median. Fails if either finds a
/// bad signature. For the library, only its calls
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

    let library_pass = || -> anyhow::Result<f64> {
        let started = Instant::now();
        for (messages, signatures, signers) in &batches {
            let messages: Vec<&[u8]> = messages.iter().map(Vec::as_slice).collect();
            if ed25519_dalek::verify_batch(&messages, signatures, signers).is_err() {
                bail!("ed25519-dalek found a bad signature in a benchmark's batch");
            }
        }
        Ok(events.len() as f64 / started.elapsed().as_secs_f64())
    };
    let ledger_pass = || -> anyhow::Result<f64> {
        let started = Instant::now();
        for chunk in events.chunks(batch.max(1)) {
            if !verify_events_on_this_thread(chain, chunk)
                .iter()
                .all(|valid| *valid)
            {
                bail!("the ledger found a bad signature in a benchmark's batch");
            }
        }
        Ok(events.len() as f64 / started.elapsed().as_secs_f64())
    };
    // One pass of each untimed: caches, the ledger's decompressed keys and
    // the CPU's clock warm, for both alike. Then the timed passes
    // alternate (and which side goes first too), so that a neighbour's
    // load on this shared machine falls on both sides, and each side's
    // median is its rate.
    library_pass()?;
    ledger_pass()?;
    let (mut library, mut ledger) = (Vec::new(), Vec::new());
    for round in 0..TIMED_PASSES {
        // Each side goes first every other round.
        if round % 2 == 0 {
            library.push(library_pass()?);
            ledger.push(ledger_pass()?);
        } else {
            ledger.push(ledger_pass()?);
            library.push(library_pass()?);
        }
    }
    Ok(VerifyRates {
        library: median(&library),
        ledger: median(&ledger),
        library_passes: library,
        ledger_passes: ledger,
    })
}

/// Timed passes of each side over the same batches (after one untimed).
pub const TIMED_PASSES: usize = 3;

/// The middle value of `rates` (the mean of the two middle ones for an
/// even count).
fn median(rates: &[f64]) -> f64 {
    let mut sorted = rates.to_vec();
    sorted.sort_by(f64::total_cmp);
    let middle = sorted.len() / 2;
    match sorted.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => sorted[middle],
        _ => (sorted[middle - 1] + sorted[middle]) / 2.0,
    }
}

impl VerifyRates {
    /// The two rates, as every benchmark prints them.
    pub fn print(&self, batch: usize) {
        let passes = |rates: &[f64]| {
            rates
                .iter()
                .map(|rate| format!("{rate:.0}"))
                .collect::<Vec<_>>()
                .join(" / ")
        };
        println!(
            "ed25519 batch verification, 1 core ({batch} per batch), ed25519-dalek's verify_batch: {:.0} signatures/s (the ratios' anchor; median of {} passes after a warm-up, alternating with the ledger's: {})",
            self.library,
            self.library_passes.len(),
            passes(&self.library_passes)
        );
        println!(
            "  the ledger's verification of the same batches, 1 core: {:.0} signatures/s ({:.2} x the anchor; passes {})",
            self.ledger,
            self.ledger / self.library,
            passes(&self.ledger_passes)
        );
    }
}

#[cfg(test)]
mod tests {
    use super::median;

    #[test]
    fn the_median_is_the_middle_pass_whatever_their_order() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[50_000.0, 10.0, 60_000.0]), 50_000.0);
        assert_eq!(median(&[4.0, 1.0, 3.0, 2.0]), 2.5);
        assert!(median(&[]).is_nan());
    }
}
