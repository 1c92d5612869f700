//! Group commit in two pipelined stages on two threads, so that signature
//! verification of the next group overlaps the write and fdatasync of this one:
//!
//! submissions ─▶ [verifier: decode + batch-verify] ─▶ [writer: check state, one synced write batch] ─▶ receipts
//!
//! Both queues are bounded: a full queue makes submitters wait (backpressure).

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Instant;
use tansiq_ledger::limits::COMMIT_LATENCY_WINDOW;

use tansiq_ledger::append::RequestOutcome;
use tansiq_ledger::author::now_ms;
use tansiq_ledger::event::{admit, Event, Signatures};
use tansiq_ledger::limits::{COMMIT_GROUP_EVENTS_MAX, COMMIT_QUEUE_REQUESTS_MAX};
use tansiq_ledger::store::{StorageFault, Tip};
use tansiq_ledger::sync::lock_whole;
use tansiq_ledger::{Ledger, Rejection};
use tansiq_proto::v1 as pb;
use tokio::sync::{mpsc, oneshot, watch};

use crate::recovery::{Recovery, Stopped, StorageFailure};

/// Why a submission got no receipt.
#[derive(Debug)]
pub enum SubmitError {
    Rejected(Rejection),
    /// Nothing was written: storage failed. Its fault says what the client
    /// is told: a full disk (storage stays read-only until there is space
    /// again: RocksDB then recovers, or the node restarts itself in place,
    /// see `crate::recovery`), an I/O error that reopening the store clears
    /// (the node restarts itself in place), or something to retry.
    Storage(StorageFailure),
    ShuttingDown,
    /// Cluster mode: this node is not the leader; the leader's address.
    Forward(String),
    /// Cluster mode: no leader is known (election under way, or no quorum).
    NoLeader,
    /// Cluster mode: proposed but not committed in time; the message says why.
    NotDecided(String),
    /// Cluster mode: this node's Raft stopped after a storage failure; the
    /// failure, and where the other members are.
    ReplicationStopped {
        failure: StorageFailure,
        others: String,
    },
}

struct Job {
    events: Vec<pb::SignedEvent>,
    reply: oneshot::Sender<Result<Vec<tansiq_ledger::Receipt>, SubmitError>>,
    received: Instant,
}

struct VerifiedGroup {
    jobs: Vec<Job>,
    requests: Vec<Result<Vec<Event>, Rejection>>,
}

/// Counters an operator wants (served by GetStatus).
#[derive(Default)]
pub struct Metrics {
    pub events_committed: AtomicU64,
    pub events_rejected: AtomicU64,
    pub duplicates: AtomicU64,
    pub commit_groups: AtomicU64,
    latencies_us: Mutex<VecDeque<u64>>,
}

impl Metrics {
    fn record_latency(&self, micros: u64) {
        let mut window = lock_whole(&self.latencies_us);
        if window.len() == COMMIT_LATENCY_WINDOW {
            window.pop_front();
        }
        window.push_back(micros);
    }

    /// (p50, p99) of the recent submit latencies, in microseconds.
    pub fn latency_percentiles_us(&self) -> (u64, u64) {
        let mut sorted: Vec<u64> = lock_whole(&self.latencies_us).iter().copied().collect();
        if sorted.is_empty() {
            return (0, 0);
        }
        sorted.sort_unstable();
        let at = |q: f64| sorted[((sorted.len() - 1) as f64 * q).round() as usize];
        (at(0.50), at(0.99))
    }
}

/// The handle submitters use; cloning it is cheap.
#[derive(Clone)]
pub struct Committer {
    queue: mpsc::Sender<Job>,
}

/// The committer's threads, joined at shutdown.
pub struct CommitterThreads {
    verifier: JoinHandle<()>,
    writer: JoinHandle<()>,
}

impl CommitterThreads {
    /// Waits until both stages drained their queues and stopped.
    pub fn join(self) {
        let _ = self.verifier.join();
        let _ = self.writer.join();
    }
}

impl Committer {
    /// Requests waiting for the committer now.
    pub fn queued(&self) -> usize {
        self.queue.max_capacity() - self.queue.capacity()
    }

    /// Starts both stages. They stop when every `Committer` handle is dropped.
    /// A write that fails with an error reopening the store clears goes to
    /// `recovery`.
    pub fn start(
        ledger: Arc<Ledger>,
        tip: watch::Sender<Tip>,
        metrics: Arc<Metrics>,
        recovery: Arc<Recovery>,
    ) -> std::io::Result<(Committer, CommitterThreads)> {
        let (queue, mut incoming) = mpsc::channel::<Job>(COMMIT_QUEUE_REQUESTS_MAX);
        let (to_writer, from_verifier) = std::sync::mpsc::sync_channel::<VerifiedGroup>(2);
        let chain = ledger.chain().clone();
        let verifier = std::thread::Builder::new()
            .name("tansiq-verify".into())
            .spawn(move || {
                while let Some(first) = incoming.blocking_recv() {
                    let mut jobs = vec![first];
                    let mut events = jobs[0].events.len();
                    while events < COMMIT_GROUP_EVENTS_MAX {
                        match incoming.try_recv() {
                            Ok(job) => {
                                events += job.events.len();
                                jobs.push(job);
                            }
                            Err(_) => break,
                        }
                    }
                    let requests = admit(
                        &chain,
                        jobs.iter_mut().map(|job| std::mem::take(&mut job.events)),
                        Signatures::Verify,
                    );
                    if to_writer.send(VerifiedGroup { jobs, requests }).is_err() {
                        break;
                    }
                }
            })?;
        let writer = std::thread::Builder::new()
            .name("tansiq-write".into())
            .spawn(move || {
                while let Ok(group) = from_verifier.recv() {
                    write_group(&ledger, &tip, &metrics, &recovery, group);
                }
            })?;
        Ok((Committer { queue }, CommitterThreads { verifier, writer }))
    }

    /// Submits one request's events and waits for their receipts.
    pub async fn submit(
        &self,
        events: Vec<pb::SignedEvent>,
    ) -> Result<Vec<tansiq_ledger::Receipt>, SubmitError> {
        let (reply, receipt) = oneshot::channel();
        let job = Job {
            events,
            reply,
            received: Instant::now(),
        };
        self.queue
            .send(job)
            .await
            .map_err(|_| SubmitError::ShuttingDown)?;
        receipt.await.map_err(|_| SubmitError::ShuttingDown)?
    }
}

fn write_group(
    ledger: &Ledger,
    tip: &watch::Sender<Tip>,
    metrics: &Metrics,
    recovery: &Arc<Recovery>,
    group: VerifiedGroup,
) {
    let span = tracing::debug_span!("commit_group", requests = group.jobs.len());
    let _entered = span.enter();
    match ledger.commit_group(group.requests, now_ms()) {
        Ok(outcomes) => {
            metrics.commit_groups.fetch_add(1, Ordering::Relaxed);
            crate::exposition::EXPORTED.commit_groups.inc();
            if let Ok(new_tip) = ledger.tip() {
                tip.send_if_modified(|current| {
                    assert!(
                        new_tip.position >= current.position,
                        "the log position only grows"
                    );
                    let changed = *current != new_tip;
                    *current = new_tip;
                    changed
                });
            }
            for (job, outcome) in group.jobs.into_iter().zip(outcomes) {
                record_outcome(metrics, &outcome);
                let latency = job.received.elapsed();
                metrics.record_latency(latency.as_micros() as u64);
                crate::exposition::EXPORTED.record_request(outcome.as_deref(), latency);
                let _ = job.reply.send(outcome.map_err(SubmitError::Rejected));
            }
        }
        Err(error) => {
            let failure = StorageFailure::of_store(&error);
            match failure.fault {
                StorageFault::DiskFull => {
                    tracing::error!(%error, "commit group failed: the disk is full; nothing of it was written. Free disk space: the node answers reads meanwhile, and takes writes again by itself once it can write (RocksDB recovers, or the node restarts in place)");
                }
                fault if fault.reopen_clears() => {
                    tracing::error!(%error, "commit group failed; nothing of it was written. The store refuses writes until it is reopened: the node answers reads meanwhile, and restarts itself in place once its storage is usable again");
                }
                _ => tracing::error!(%error, "commit group failed; nothing of it was written"),
            }
            recovery.storage_failed(&failure, Stopped::Store);
            for job in group.jobs {
                let _ = job.reply.send(Err(SubmitError::Storage(failure.clone())));
            }
        }
    }
}

fn record_outcome(metrics: &Metrics, outcome: &RequestOutcome) {
    match outcome {
        Ok(receipts) => {
            for receipt in receipts {
                if receipt.duplicate {
                    metrics.duplicates.fetch_add(1, Ordering::Relaxed);
                } else {
                    metrics.events_committed.fetch_add(1, Ordering::Relaxed);
                    tracing::debug!(event_id = %receipt.event_id, log_index = receipt.position.0, "committed");
                }
            }
        }
        Err(rejection) => {
            metrics.events_rejected.fetch_add(1, Ordering::Relaxed);
            tracing::info!(reason = rejection.reason(), %rejection, "rejected");
        }
    }
}
