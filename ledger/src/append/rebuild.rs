//! A ledger rebuilt from its log, and a received snapshot checked by
//! replaying its signed events before it is installed.

use std::path::Path;

use crate::ids::{EventId, HeadHash, LogPosition};
use crate::reject::Rejection;
use crate::store::{StoreError, Tip};

use super::ledger::{Ledger, OpenError};
use crate::event::{admit, Signatures};

/// Why a ledger could not be rebuilt from a log.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RebuildError {
    /// The new ledger could not be opened.
    #[error(transparent)]
    Open(#[from] OpenError),
    /// Reading the log or writing the new ledger failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// An event of the log is refused when applied again.
    #[error("event {event_id} at position {position} no longer applies: {rejection}")]
    Refused {
        /// Its position in the log.
        position: LogPosition,
        /// The event.
        event_id: EventId,
        /// Why it is refused now.
        rejection: Box<Rejection>,
    },
}

/// Why a received snapshot was not installed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum SnapshotCheckError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Rebuild(#[from] RebuildError),
    #[error("the snapshot's log ends at position {claimed_position} with head {claimed_head}, but its own signed events give position {rebuilt_position} and head {rebuilt_head}")]
    HeadMismatch {
        claimed_position: u64,
        claimed_head: HeadHash,
        rebuilt_position: u64,
        rebuilt_head: HeadHash,
    },
    #[error("cannot write the checked state: {0}")]
    Io(#[from] std::io::Error),
}

impl Ledger {
    /// A node never installs state it cannot check: from a received state
    /// file (a Raft snapshot), keeps only its signed events, replays them
    /// with every signature, key chain and rule checked again into a new
    /// ledger under `scratch`, checks that the head chain comes out as the
    /// file claims, and writes the state so rebuilt to `out`. Projections,
    /// registries and heads in the file are never trusted: what is
    /// installed is a function of signed events alone (equivocation
    /// evidence, which is not, is not carried over). `scratch` is removed.
    pub(crate) fn check_snapshot(
        &self,
        received: &Path,
        scratch: &Path,
        out: &Path,
    ) -> Result<Tip, SnapshotCheckError> {
        let checked = (|| {
            let claimed = Ledger::open_copy(&scratch.join("claimed"), &self.genesis)
                .map_err(RebuildError::from)?;
            claimed.replace_state(received, Vec::new())?;
            let claimed_tip = claimed.tip()?;
            let rebuilt = rebuild(
                &claimed,
                &scratch.join("rebuilt"),
                i64::MAX,
                Signatures::Verify,
            )?;
            let rebuilt_tip = rebuilt.tip()?;
            if claimed_tip != rebuilt_tip {
                return Err(SnapshotCheckError::HeadMismatch {
                    claimed_position: claimed_tip.position.0,
                    claimed_head: claimed_tip.head,
                    rebuilt_position: rebuilt_tip.position.0,
                    rebuilt_head: rebuilt_tip.head,
                });
            }
            // Its caches and memtables are not needed for the write.
            drop(claimed);
            let store = rebuilt.store();
            store.write_state(&store.db().snapshot(), out)?;
            Ok(rebuilt_tip)
        })();
        let _ = std::fs::remove_dir_all(scratch);
        if checked.is_err() {
            let _ = std::fs::remove_file(out);
        }
        checked
    }
}

/// Replays `source`'s log, up to `cut_ms` commit time, into a new ledger at
/// `target`: every event decoded and applied again, with its original commit
/// time. The projections of the result are those of the log alone.
/// With [`Signatures::Verify`] every signature is checked again too; a node
/// rebuilding from its own store (whose events were verified when appended)
/// may skip that.
pub fn rebuild(
    source: &Ledger,
    target: &Path,
    cut_ms: i64,
    signatures: Signatures,
) -> Result<Ledger, RebuildError> {
    let rebuilt = Ledger::open_copy(target, source.genesis())?;
    let chain = source.chain().clone();
    let mut from = LogPosition(1);
    loop {
        let records = source.store.log_range(from, 1024)?;
        let Some(last) = records.last() else { break };
        from = last.position.next();
        let mut start = 0;
        while start < records.len() {
            let at = records[start].committed_at_ms;
            if at > cut_ms {
                return Ok(rebuilt);
            }
            let end = records[start..]
                .iter()
                .position(|r| r.committed_at_ms != at)
                .map_or(records.len(), |n| start + n);
            let mut envelopes = Vec::with_capacity(end - start);
            for record in &records[start..end] {
                let (_, envelope) = source.store.event(&record.event_id)?.ok_or_else(|| {
                    StoreError::Corrupt(format!("log names missing event {}", record.event_id))
                })?;
                envelopes.push(vec![envelope]);
            }
            let requests = admit(&chain, envelopes, signatures);
            let outcomes = rebuilt.commit_group(requests, at)?;
            for (record, outcome) in records[start..end].iter().zip(outcomes) {
                if let Err(rejection) = outcome {
                    return Err(RebuildError::Refused {
                        position: record.position,
                        event_id: record.event_id,
                        rejection: Box::new(rejection),
                    });
                }
            }
            start = end;
        }
    }
    Ok(rebuilt)
}
