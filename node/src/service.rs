//! The `tansiq.v1.Ledger` gRPC service.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use tansiq_ledger::ids::{EventId, LogPosition, PublicKeyBytes};
use tansiq_ledger::limits::{SUBSCRIBE_BUFFER_ENTRIES, SUBSCRIBE_PAGE_ENTRIES};
use tansiq_ledger::store::{LogRecord, StoreError, Tip};
use tansiq_ledger::{Ledger, Receipt};
use tansiq_proto::v1 as pb;
use tokio::sync::{mpsc, watch, Semaphore};
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status};

use crate::cluster::Replication;
use crate::committer::{Committer, Metrics, SubmitError};
use crate::status::{rejection_status, store_status};

/// Serves the Ledger service over one node's ledger.
pub struct LedgerService {
    ledger: Arc<Ledger>,
    committer: Committer,
    replication: Option<Arc<Replication>>,
    tip: watch::Receiver<Tip>,
    metrics: Arc<Metrics>,
    started: Instant,
    /// Log subscriptions that may run at once.
    subscribers: Arc<Semaphore>,
    subscribers_max: usize,
}

impl LedgerService {
    pub fn new(
        ledger: Arc<Ledger>,
        committer: Committer,
        tip: watch::Receiver<Tip>,
        metrics: Arc<Metrics>,
        subscribers_max: usize,
    ) -> Self {
        LedgerService {
            ledger,
            committer,
            replication: None,
            tip,
            metrics,
            started: Instant::now(),
            subscribers: Arc::new(Semaphore::new(subscribers_max)),
            subscribers_max,
        }
    }

    async fn blocking<T: Send + 'static>(
        &self,
        read: impl FnOnce(&Ledger) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, Status> {
        let ledger = Arc::clone(&self.ledger);
        tokio::task::spawn_blocking(move || ledger.read(read))
            .await
            .map_err(|error| Status::internal(format!("read task failed: {error}")))?
            .map_err(|error| store_status(&error))
    }

    /// Cluster mode: submissions go through Raft.
    pub fn replicated(mut self, replication: Arc<Replication>) -> Self {
        self.replication = Some(replication);
        self
    }

    async fn submit_events(
        &self,
        events: Vec<pb::SignedEvent>,
    ) -> Result<Vec<pb::Receipt>, Status> {
        match &self.replication {
            Some(replication) => replication.submit_from_client(events).await,
            None => self
                .committer
                .submit(events)
                .await
                .map(|receipts| receipts.iter().map(receipt_to_proto).collect())
                .map_err(submit_status),
        }
    }
}

/// The status a client gets for a submission that got no receipt.
pub fn submit_status(error: SubmitError) -> Status {
    match error {
        SubmitError::Rejected(rejection) => rejection_status(&rejection),
        // gRPC's code for "the entire file system is out of space".
        SubmitError::DiskFull(error) => {
            Status::resource_exhausted(format!(
                "this node's disk is full ({error}); nothing was acknowledged. It still answers reads; to accept writes again it needs free disk space: once it can write again it reopens its storage by itself (restarting in place if need be); if it does not, restart tansiq-node. Resubmitting the same signed events then is safe (accepted once by event id)"
            ))
        }
        // After an I/O error (no file descriptor left, a permission, a
        // failing device) RocksDB refuses every later write until it is
        // reopened: "retry later" alone would not be true, the node reopens
        // its storage by itself only once the cause is gone
        // (crate::recovery).
        SubmitError::Storage(error) if tansiq_ledger::store::reopen_clears(&error) => Status::unavailable(format!(
            "the node could not write to its storage ({error}); nothing was written. Its storage refuses writes until it is reopened: the node does that by itself (a restart in place) once its storage is usable again, after the cause is fixed (open-file limit, permissions, free space, the device); if it does not, restart tansiq-node. Resubmit the same signed events to another node, or here after the restart; they are accepted once by event id"
        )),
        SubmitError::Storage(error) => Status::unavailable(format!(
            "the node could not write to its storage ({error}); nothing was written, retry later"
        )),
        SubmitError::ReplicationStopped { failure, others } => {
            let remedy = if tansiq_ledger::store::is_disk_full(&failure) {
                "its disk is full: free disk space; it restarts itself in place once it can write again (or restart tansiq-node), then catches up"
            } else if tansiq_ledger::store::reopen_clears(&failure) {
                "it restarts itself in place once its storage is usable again (after the cause is fixed: open-file limit, permissions, the device; or restart tansiq-node), then catches up"
            } else {
                "see its log, then restart tansiq-node"
            };
            Status::unavailable(format!(
                "this node stopped replicating after a storage failure ({failure}); the request was not acknowledged, and the other members may still commit it. They go on without this node: resubmit the same signed events to one of them ({others}); they are accepted once by event id. This node answers reads as of what it applied; {remedy}"
            ))
        }
        SubmitError::ShuttingDown => {
            Status::unavailable("the node is shutting down; retry on another node or later")
        }
        SubmitError::Forward(leader) => {
            Status::unavailable(format!("the leader moved to {leader}; retry"))
        }
        SubmitError::NotCommitted(message) => Status::unavailable(message),
        SubmitError::NoLeader => Status::unavailable(
            "the cluster has no leader right now (election under way or no quorum); nothing was written, retry",
        ),
    }
}

pub fn receipt_to_proto(receipt: &Receipt) -> pb::Receipt {
    pb::Receipt {
        event_id: receipt.event_id.0.to_vec(),
        position: receipt.position.0,
        head: receipt.head.0.to_vec(),
        state: pb::ReceiptState::Committed as i32,
        duplicate: receipt.duplicate,
        committed_at_ms: receipt.committed_at_ms,
        warnings: receipt.warnings.clone(),
        pending_review: receipt.pending_review,
    }
}

fn log_entry(record: &LogRecord, event: pb::SignedEvent) -> pb::LogEntry {
    pb::LogEntry {
        position: record.position.0,
        event_id: record.event_id.0.to_vec(),
        head: record.head.0.to_vec(),
        event: Some(event),
        committed_at_ms: record.committed_at_ms,
    }
}

/// Reads up to a page of log entries from `from` with their envelopes.
fn read_entries(
    ledger: &Ledger,
    from: LogPosition,
    through: LogPosition,
) -> Result<Vec<pb::LogEntry>, StoreError> {
    let count = (through.0 + 1)
        .saturating_sub(from.0)
        .min(SUBSCRIBE_PAGE_ENTRIES as u64) as usize;
    let records = ledger.store().log_range(from, count)?;
    let mut entries = Vec::with_capacity(records.len());
    for record in records {
        let (_, event) = ledger.store().event(&record.event_id)?.ok_or_else(|| {
            StoreError::Corrupt(format!(
                "log position {} names missing event {}",
                record.position, record.event_id
            ))
        })?;
        entries.push(log_entry(&record, event));
    }
    Ok(entries)
}

fn id_argument<T>(parse: Result<T, tansiq_ledger::ids::IdError>) -> Result<T, Status> {
    parse.map_err(|error| Status::invalid_argument(error.to_string()))
}

#[tonic::async_trait]
impl pb::ledger_server::Ledger for LedgerService {
    async fn submit(
        &self,
        request: Request<pb::SubmitRequest>,
    ) -> Result<Response<pb::Receipt>, Status> {
        let event = request
            .into_inner()
            .event
            .ok_or_else(|| Status::invalid_argument("SubmitRequest.event is required"))?;
        let mut receipts = self.submit_events(vec![event]).await?;
        let receipt = receipts
            .pop()
            .ok_or_else(|| Status::internal("committer returned no receipt"))?;
        Ok(Response::new(receipt))
    }

    async fn submit_batch(
        &self,
        request: Request<pb::SubmitBatchRequest>,
    ) -> Result<Response<pb::SubmitBatchResponse>, Status> {
        let receipts = self.submit_events(request.into_inner().events).await?;
        Ok(Response::new(pb::SubmitBatchResponse { receipts }))
    }

    async fn get_event(
        &self,
        request: Request<pb::GetEventRequest>,
    ) -> Result<Response<pb::LogEntry>, Status> {
        let id = id_argument(EventId::from_slice(&request.into_inner().event_id))?;
        let found = self
            .blocking(move |ledger| {
                let Some((position, event)) = ledger.store().event(&id)? else {
                    return Ok(None);
                };
                let record = ledger
                    .store()
                    .log_record(position)?
                    .ok_or_else(|| StoreError::Corrupt(format!("event {id} has no log record")))?;
                Ok(Some(log_entry(&record, event)))
            })
            .await?;
        found
            .map(Response::new)
            .ok_or_else(|| Status::not_found(format!("no event {id} on this ledger")))
    }

    async fn get_key_head(
        &self,
        request: Request<pb::GetKeyHeadRequest>,
    ) -> Result<Response<pb::KeyHead>, Status> {
        let key = id_argument(PublicKeyBytes::from_slice(&request.into_inner().public_key))?;
        let record = self
            .blocking(move |ledger| ledger.store().key(&key))
            .await?;
        let head = match record {
            Some(record) => pb::KeyHead {
                public_key: key.0.to_vec(),
                org_id: record.org_id,
                sequence: record.sequence,
                last_event_id: record.last_event.map(|id| id.to_vec()).unwrap_or_default(),
                revoked: record.revoked_at.is_some(),
            },
            None => pb::KeyHead {
                public_key: key.0.to_vec(),
                ..Default::default()
            },
        };
        Ok(Response::new(head))
    }

    async fn get_head(
        &self,
        _request: Request<pb::GetHeadRequest>,
    ) -> Result<Response<pb::LedgerHead>, Status> {
        let tip = *self.tip.borrow();
        let genesis = self.ledger.genesis();
        Ok(Response::new(pb::LedgerHead {
            chain_id: genesis.chain.to_string(),
            position: tip.position.0,
            head: tip.head.0.to_vec(),
            genesis_hash: genesis.hash.0.to_vec(),
        }))
    }

    async fn get_genesis(
        &self,
        _request: Request<pb::GetGenesisRequest>,
    ) -> Result<Response<pb::GenesisResponse>, Status> {
        let genesis = self.ledger.genesis();
        Ok(Response::new(pb::GenesisResponse {
            genesis: genesis.bytes.clone(),
            genesis_hash: genesis.hash.0.to_vec(),
        }))
    }

    type SubscribeStream = ReceiverStream<Result<pb::LogEntry, Status>>;

    async fn subscribe(
        &self,
        request: Request<pb::SubscribeRequest>,
    ) -> Result<Response<Self::SubscribeStream>, Status> {
        let permit = Arc::clone(&self.subscribers)
            .try_acquire_owned()
            .map_err(|_| {
                Status::resource_exhausted(format!(
                    "{} log subscriptions are open on this node (its limit); close one, or retry later",
                    self.subscribers_max
                ))
            })?;
        let mut next = LogPosition(request.into_inner().from_position.max(1));
        let (sender, receiver) = mpsc::channel(SUBSCRIBE_BUFFER_ENTRIES);
        let ledger = Arc::clone(&self.ledger);
        let mut tip = self.tip.clone();
        tokio::spawn(async move {
            // Held while the subscription runs.
            let _permit = permit;
            loop {
                let through = tip.borrow_and_update().position;
                while next <= through {
                    let ledger = Arc::clone(&ledger);
                    let from = next;
                    let page = tokio::task::spawn_blocking(move || {
                        ledger.read(|ledger| read_entries(ledger, from, through))
                    })
                    .await;
                    let entries = match page {
                        Ok(Ok(entries)) if !entries.is_empty() => entries,
                        Ok(Ok(_)) => {
                            let _ = sender
                                .send(Err(Status::internal(format!(
                                    "log position {from} is missing"
                                ))))
                                .await;
                            return;
                        }
                        Ok(Err(error)) => {
                            let _ = sender.send(Err(store_status(&error))).await;
                            return;
                        }
                        Err(error) => {
                            let _ = sender.send(Err(Status::internal(error.to_string()))).await;
                            return;
                        }
                    };
                    for entry in entries {
                        next = LogPosition(entry.position + 1);
                        if sender.send(Ok(entry)).await.is_err() {
                            return; // the subscriber went away
                        }
                    }
                }
                tokio::select! {
                    changed = tip.changed() => if changed.is_err() { return },
                    () = sender.closed() => return,
                }
            }
        });
        Ok(Response::new(ReceiverStream::new(receiver)))
    }

    async fn get_status(
        &self,
        _request: Request<pb::GetStatusRequest>,
    ) -> Result<Response<pb::NodeStatus>, Status> {
        let tip = *self.tip.borrow();
        let (p50, p99) = self.metrics.latency_percentiles_us();
        Ok(Response::new(pb::NodeStatus {
            chain_id: self.ledger.chain().to_string(),
            position: tip.position.0,
            head: tip.head.0.to_vec(),
            events_committed: self.metrics.events_committed.load(Ordering::Relaxed),
            events_rejected: self.metrics.events_rejected.load(Ordering::Relaxed),
            duplicates: self.metrics.duplicates.load(Ordering::Relaxed),
            commit_groups: self.metrics.commit_groups.load(Ordering::Relaxed),
            commit_latency_p50_us: p50,
            commit_latency_p99_us: p99,
            uptime_s: self.started.elapsed().as_secs(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_storage_error_a_restart_clears_says_the_node_restarts_itself() {
        let io = submit_status(SubmitError::Storage(
            "RocksDB: IO error: While open a file for appending: 000123.log: Too many open files"
                .into(),
        ));
        assert_eq!(io.code(), tonic::Code::Unavailable);
        for words in ["restart in place", "restart tansiq-node", "Resubmit"] {
            assert!(io.message().contains(words), "{words:?}: {}", io.message());
        }
        let other = submit_status(SubmitError::Storage("busy".into()));
        assert!(
            other.message().contains("retry later"),
            "{}",
            other.message()
        );
    }

    #[test]
    fn a_full_disk_says_what_to_free_and_that_the_node_reopens_its_storage() {
        let full = submit_status(SubmitError::DiskFull(
            "RocksDB: IO error: No space left on device".into(),
        ));
        assert_eq!(full.code(), tonic::Code::ResourceExhausted);
        for words in [
            "disk is full",
            "free disk space",
            "reopens its storage by itself",
            "restart",
            "Resubmitting",
        ] {
            assert!(
                full.message().contains(words),
                "{words:?}: {}",
                full.message()
            );
        }
    }

    #[test]
    fn a_stopped_member_says_whether_it_restarts_itself() {
        let stopped = |failure: &str| {
            submit_status(SubmitError::ReplicationStopped {
                failure: failure.into(),
                others: "2=http://127.0.0.1:2".into(),
            })
            .message()
            .to_owned()
        };
        let full = stopped("storage error: RocksDB: IO error: No space left on device");
        assert!(
            full.contains("free disk space") && full.contains("restarts itself"),
            "{full}"
        );
        let corrupt = stopped("storage error: stored data is corrupt: raft log key");
        assert!(
            !corrupt.contains("restarts itself") && corrupt.contains("restart tansiq-node"),
            "{corrupt}"
        );
    }
}
