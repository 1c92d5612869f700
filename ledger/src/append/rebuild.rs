//! A ledger rebuilt from its log, and a received snapshot checked by
//! replaying its signed events before it is installed.

use std::io::Seek;
use std::path::Path;

use tansiq_proto::v1 as pb;

use crate::event::{admit, CheckedRequest, Signatures};
use crate::ids::{EventId, HeadHash, LogPosition};
use crate::reject::Rejection;
use crate::store::{LogRecord, StorageFault, StoreError, Tip};

use super::ledger::{Durability, Ledger, OpenError};
use super::staging::Receipts;

/// Why a ledger could not be rebuilt from a log.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RebuildError {
    /// The new ledger could not be opened.
    #[error(transparent)]
    Open(#[from] OpenError),
    /// The target already holds a ledger with events: a rebuild writes
    /// only into a new one.
    #[error(
        "{0} already holds a ledger with events: a rebuild writes into a new, empty directory"
    )]
    TargetNotEmpty(std::path::PathBuf),
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

impl SnapshotCheckError {
    /// When the check failed on this node's own storage (its disk full, an
    /// I/O error in the store the snapshot is replayed into or the state
    /// file written from it), not on the snapshot: what kind of failure,
    /// one that goes once its cause does. None when the snapshot is to
    /// blame: damaged or cut short, an event refused, a head that its
    /// events do not give. A full disk must not be reported as a forged
    /// snapshot, nor a forged snapshot as a full disk.
    pub(crate) fn local_fault(&self) -> Option<StorageFault> {
        use std::io::ErrorKind;
        let fault = match self {
            // How the snapshot file's reader says it is damaged or short.
            SnapshotCheckError::Io(error)
                if matches!(
                    error.kind(),
                    ErrorKind::InvalidData | ErrorKind::UnexpectedEof
                ) =>
            {
                return None
            }
            SnapshotCheckError::Io(error) => StorageFault::of_io(error),
            SnapshotCheckError::Store(error)
            | SnapshotCheckError::Rebuild(
                RebuildError::Store(error) | RebuildError::Open(OpenError::Store(error)),
            ) => error.fault(),
            SnapshotCheckError::Rebuild(_) | SnapshotCheckError::HeadMismatch { .. } => {
                return None
            }
        };
        fault.reopen_clears().then_some(fault)
    }
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
    ///
    /// The events are replayed as they are read from the file, which
    /// holds the log in order with each event in its entry (store format
    /// 4): no store is written but the rebuilt one, so a check needs one
    /// store's memory besides the node's own, and writes the state once.
    /// A file with entries of the layout before format 4 (their events in
    /// a later family of the file) is first put in a store of its own,
    /// whose log the replay then reads.
    pub(crate) fn check_snapshot(
        &self,
        received: &mut std::fs::File,
        scratch: &Path,
        out: &Path,
    ) -> Result<Tip, SnapshotCheckError> {
        let checked = (|| {
            received.rewind()?;
            let (rebuilt, claimed_tip) = match self.replay_file(received, scratch)? {
                Some(replayed) => replayed,
                None => {
                    received.rewind()?;
                    self.replay_through_a_store(received, scratch)?
                }
            };
            let rebuilt_tip = rebuilt.tip()?;
            if claimed_tip != rebuilt_tip {
                return Err(SnapshotCheckError::HeadMismatch {
                    claimed_position: claimed_tip.position.0,
                    claimed_head: claimed_tip.head,
                    rebuilt_position: rebuilt_tip.position.0,
                    rebuilt_head: rebuilt_tip.head,
                });
            }
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

    /// Replays the log of the state file `received` as it is read, into
    /// a new ledger under `scratch`; returns it and the tip the file
    /// claims, or None when an entry of the log does not carry its event
    /// (the layout before store format 4). The log's entries must come
    /// in order, from position 1, each once.
    fn replay_file(
        &self,
        received: &mut std::fs::File,
        scratch: &Path,
    ) -> Result<Option<(Ledger, Tip)>, SnapshotCheckError> {
        use crate::store::{cf, keys};
        let target = scratch.join("rebuilt");
        let mut claimed = None;
        let mut earlier_layout = false;
        let rebuilt = replay(self.genesis(), &target, Signatures::Verify, |send| {
            let log = crate::store::state_index(cf::LOG);
            let meta = crate::store::state_index(cf::META);
            let mut next = LogPosition(1);
            let mut chunk: LogChunk = (Vec::new(), Vec::new());
            // Set when this reader stops the file's read on purpose.
            let mut stopped: Option<Result<(), StoreError>> = None;
            let read = crate::store::snapshot_file::read_pairs(
                std::io::BufReader::new(&mut *received),
                |family, key, value| {
                    let mut stop = |why: Result<(), StoreError>| {
                        stopped = Some(why);
                        Err(std::io::Error::other("stopped"))
                    };
                    // Every pair's family is checked, though only the log
                    // and the tip are read: a file of unknown families is
                    // not one this node wrote.
                    crate::store::state_family(family)?;
                    if family == meta && key == keys::META_TIP {
                        match keys::decode_tip(value) {
                            Ok(tip) => claimed = Some(tip),
                            Err(error) => return stop(Err(error)),
                        }
                    }
                    if family != log {
                        return Ok(());
                    }
                    let (record, envelope) = match crate::store::decode_log_pair(key, value) {
                        Ok(pair) => pair,
                        Err(error) => return stop(Err(error)),
                    };
                    if record.position != next {
                        return stop(Err(corrupt(format!(
                            "its log has position {} where {next} comes next",
                            record.position
                        ))));
                    }
                    next = next.next();
                    let Some(envelope) = envelope else {
                        earlier_layout = true;
                        return stop(Ok(()));
                    };
                    chunk.0.push(record);
                    chunk.1.push(envelope);
                    if chunk.0.len() == REBUILD_CHUNK_EVENTS && !send(std::mem::take(&mut chunk)) {
                        return stop(Ok(()));
                    }
                    Ok(())
                },
            );
            match (read, stopped) {
                (_, Some(why)) => why,
                (Ok(_), None) => {
                    if !chunk.0.is_empty() {
                        send(chunk);
                    }
                    Ok(())
                }
                (Err(error), None) => Err(corrupt(format!("snapshot file: {error}"))),
            }
        })?;
        if earlier_layout {
            drop(rebuilt);
            std::fs::remove_dir_all(&target)?;
            return Ok(None);
        }
        let claimed =
            claimed.ok_or_else(|| corrupt("the snapshot names no tip of its log".into()))?;
        Ok(Some((rebuilt, claimed)))
    }

    /// A snapshot check for a file of the layout before store format 4:
    /// the file copied under `scratch` (a state replacement names its file)
    /// and put whole in a store there (its families and hash checked as
    /// it is read), whose log is then replayed.
    fn replay_through_a_store(
        &self,
        received: &mut std::fs::File,
        scratch: &Path,
    ) -> Result<(Ledger, Tip), SnapshotCheckError> {
        std::fs::create_dir_all(scratch)?;
        let copy = scratch.join("received.snapshot");
        std::io::copy(received, &mut std::fs::File::create(&copy)?)?;
        let claimed = Ledger::open_copy(&scratch.join("claimed"), &self.genesis)
            .map_err(RebuildError::from)?;
        claimed.replace_state(&copy, Vec::new())?;
        let claimed_tip = claimed.tip()?;
        let rebuilt = rebuild(
            &claimed,
            &scratch.join("rebuilt"),
            i64::MAX,
            Signatures::Verify,
        )?;
        Ok((rebuilt, claimed_tip))
    }
}

fn corrupt(what: String) -> StoreError {
    StoreError::Corrupt(format!("snapshot: {what}"))
}

/// Log positions a rebuild reads, verifies and writes at once: large
/// enough that one write batch carries thousands of events, small enough
/// that two of them in flight (one verified while the other is written)
/// stay a few MiB.
pub(crate) const REBUILD_CHUNK_EVENTS: usize = 8_192;

/// One chunk of the log, read and admitted: its records, and its events
/// grouped by commit time, as requests: each group's events in one request
/// (they were all accepted once, and the rebuild fails at any refusal,
/// so a request boundary changes nothing staged; one request instead of one
/// per event spares the staging's merge of each request into its group, a
/// tenth of a trusting rebuild's time), or one per event in a group where
/// one was refused on admission, so that the refusal names its event.
struct AdmittedChunk {
    records: Vec<LogRecord>,
    groups: Vec<(Vec<CheckedRequest>, i64)>,
}

/// Replays `source`'s log, up to `cut_ms` commit time, into a new ledger at
/// `target`: every event decoded and applied again, with its original commit
/// time. The projections of the result are those of the log alone.
/// With [`Signatures::Verify`] every signature is checked again too (over
/// every core); a node rebuilding from its own store (whose events were
/// verified when appended) may skip that.
///
/// Two stages run at once: one thread reads the next chunk of the log and
/// verifies its signatures while the calling thread applies the chunk
/// before. Nobody is told of a receipt (the overlap warnings are not
/// computed either). Chunks are written without RocksDB's write-ahead log
/// ([`Durability::Unlogged`]): the target is whole only when this returns
/// Ok, after every memtable has been flushed to disk; a target left by an
/// interrupted rebuild is not a ledger to open, and every caller rebuilds
/// into a new directory it discards on failure (one that already holds
/// events is refused).
pub fn rebuild(
    source: &Ledger,
    target: &Path,
    cut_ms: i64,
    signatures: Signatures,
) -> Result<Ledger, RebuildError> {
    replay(source.genesis(), target, signatures, |send| {
        let mut from = LogPosition(1);
        while let Some(chunk) = read_chunk(source, from, cut_ms)? {
            // A chunk shorter than asked ends the log, or stops at the cut.
            let full = chunk.0.len() == REBUILD_CHUNK_EVENTS;
            from = chunk.0.last().map_or(from, |last| last.position.next());
            if !send(chunk) || !full {
                break;
            }
        }
        Ok(())
    })
}

/// Replays the log chunks `read` hands to its sink, in order, into a new
/// ledger at `target` (see [`rebuild`]). `read` runs on a thread of its
/// own, and each chunk is admitted (decoded, signatures verified) there;
/// the sink says false once the replay stopped (a refusal), and `read`
/// should stop too. Its error ends the replay.
fn replay(
    genesis: &crate::genesis::Genesis,
    target: &Path,
    signatures: Signatures,
    read: impl FnOnce(&mut dyn FnMut(LogChunk) -> bool) -> Result<(), StoreError> + Send,
) -> Result<Ledger, RebuildError> {
    let rebuilt = Ledger::open_copy(target, genesis)?;
    if rebuilt.tip()?.position.0 != 0 {
        return Err(RebuildError::TargetNotEmpty(target.to_path_buf()));
    }
    let chain = genesis.chain.clone();
    let (chunks, admitted) = std::sync::mpsc::sync_channel::<Result<AdmittedChunk, StoreError>>(1);
    std::thread::scope(|scope| -> Result<(), RebuildError> {
        scope.spawn(move || {
            let sender = chunks.clone();
            let mut send = |(records, envelopes): LogChunk| {
                let admitted = admit_chunk(&chain, records, envelopes, signatures);
                sender.send(Ok(admitted)).is_ok()
            };
            if let Err(error) = read(&mut send) {
                let _ = chunks.send(Err(error));
            }
        });
        for chunk in admitted {
            let AdmittedChunk { records, groups } = chunk?;
            let outcomes = rebuilt.commit_groups(
                groups,
                Vec::new(),
                Durability::Unlogged,
                Receipts::Untold,
            )?;
            let mut first = 0;
            for outcome in outcomes.into_iter().flatten() {
                match outcome {
                    Ok(receipts) => first += receipts.len(),
                    Err(rejection) => {
                        let (index, rejection) = match rejection {
                            Rejection::InBatch { index, rejection } => (index, *rejection),
                            rejection => (0, rejection),
                        };
                        let record = &records[first + index];
                        return Err(RebuildError::Refused {
                            position: record.position,
                            event_id: record.event_id,
                            rejection: Box::new(rejection),
                        });
                    }
                }
            }
        }
        Ok(())
    })?;
    rebuilt.store.flush_all()?;
    Ok(rebuilt)
}

/// One chunk of the log admitted: decoded, its signatures verified
/// (unless trusted), its events grouped by commit time.
fn admit_chunk(
    chain: &crate::signing::ChainId,
    records: Vec<LogRecord>,
    envelopes: Vec<pb::SignedEvent>,
    signatures: Signatures,
) -> AdmittedChunk {
    let mut requests = admit(chain, envelopes.into_iter().map(|e| vec![e]), signatures).into_iter();
    // One group per commit time, in log order.
    let mut groups: Vec<(Vec<CheckedRequest>, i64)> = Vec::new();
    for record in &records {
        let request = requests.next().expect("invariant: one request per record");
        match groups.last_mut() {
            Some((group, at)) if *at == record.committed_at_ms => group.push(request),
            _ => groups.push((vec![request], record.committed_at_ms)),
        }
    }
    for (group, _) in &mut groups {
        if group.iter().all(Result::is_ok) {
            let events = std::mem::take(group)
                .into_iter()
                .flatten()
                .flatten()
                .collect();
            *group = vec![Ok(events)];
        }
    }
    AdmittedChunk { records, groups }
}

/// Log records and their events.
type LogChunk = (Vec<LogRecord>, Vec<pb::SignedEvent>);

/// Up to [`REBUILD_CHUNK_EVENTS`] positions of `source`'s log from `from`,
/// committed no later than `cut_ms`, with their events; None past the end.
pub(crate) fn read_chunk(
    source: &Ledger,
    from: LogPosition,
    cut_ms: i64,
) -> Result<Option<LogChunk>, StoreError> {
    let (records, envelopes) =
        source
            .store
            .log_range_with_events_until(from, REBUILD_CHUNK_EVENTS, cut_ms)?;
    if records.is_empty() {
        return Ok(None);
    }
    Ok(Some((records, envelopes)))
}
