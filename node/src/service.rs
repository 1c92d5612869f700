//! The `tansiq.v1.Ledger` gRPC service.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use tansiq_ledger::ids::{EventId, HeadHash, LogPosition, PublicKeyBytes};
use tansiq_ledger::limits::{
    CHECKPOINT_EVERY, COSIGN_WAIT, SUBSCRIBE_BUFFER_ENTRIES, SUBSCRIBE_PAGE_ENTRIES,
};
use tansiq_ledger::store::{Store, StoreError, Tip};
use tansiq_ledger::tree::checkpoint::{self, LogKey};
use tansiq_ledger::tree::tiles::TilePath;
use tansiq_ledger::tree::{Hash, TreeError};
use tansiq_ledger::Ledger;
use tansiq_proto::v1 as pb;
use tokio::sync::{mpsc, watch, Semaphore};
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status};

use crate::cluster::Replication;
use crate::committer::{Committer, Metrics};
use crate::convert::{log_entry, receipt_to_proto};
use crate::status::{store_status, submit_status, tree_status};

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
    /// Signs the log's checkpoints (None: the node serves none).
    log_key: Option<Arc<LogKey>>,
    /// The latest checkpoint made, with its cosignatures, and when; one
    /// is made at a time.
    latest_checkpoint: tokio::sync::Mutex<Option<(pb::SignedCheckpoint, Instant)>>,
    /// The last readiness check's answer, and when (see `readiness`).
    last_readiness: tokio::sync::Mutex<Option<(Instant, Result<String, String>)>>,
    /// Where an administrator's certificate may ask for backups.
    backup_dir: Option<std::path::PathBuf>,
}

/// How long a readiness answer is given again to the next probes.
const READINESS_REUSED_FOR: std::time::Duration = std::time::Duration::from_secs(1);

impl LedgerService {
    /// What `/metrics` serves: the counters kept as commits happen, and
    /// the gauges read now (see `crate::exposition`).
    pub fn metrics(&self) -> String {
        let exported = &crate::exposition::EXPORTED;
        exported
            .log_position
            .set(self.tip.borrow().position.0 as i64);
        exported.commit_queue.set(self.committer.queued() as i64);
        exported.uptime.set(self.started.elapsed().as_secs() as i64);
        exported.open_files.set(crate::exposition::open_files());
        let sizes = self.ledger.store().sizes();
        exported.store_sst_bytes.set(sizes.sst_bytes as i64);
        exported
            .store_memtable_bytes
            .set(sizes.memtable_bytes as i64);
        exported
            .store_table_readers_bytes
            .set(sizes.table_readers_bytes as i64);
        exported
            .store_block_cache_bytes
            .set(sizes.block_cache_bytes as i64);
        exported
            .store_write_stopped
            .set(i64::from(sizes.write_stopped));
        if let Some(replication) = &self.replication {
            replication.export_raft_metrics(exported);
        }
        exported.render()
    }

    /// Whether the node should take clients (`/readyz`): its storage takes
    /// a synced write, and a cluster member's Raft runs, knows a leader and
    /// has applied to within its limit of the leader's commit index (see
    /// `Replication::readiness`). Ok with what it checked, or Err with why not.
    pub async fn readiness(&self) -> Result<String, String> {
        // Probes arrive from every load balancer and watchdog: one check at
        // a time, and its answer reused for [`READINESS_REUSED_FOR`] (each
        // check costs a synced write and, in a cluster, a quorum round).
        let mut last = self.last_readiness.lock().await;
        if let Some((at, answer)) = last.as_ref() {
            if at.elapsed() < READINESS_REUSED_FOR {
                return answer.clone();
            }
        }
        let answer = self.check_readiness().await;
        *last = Some((Instant::now(), answer.clone()));
        answer
    }

    /// An administrator's certificate writes backups only into the node's
    /// backup folder (`--backup-dir`): it may not fill any disk the node
    /// can write.
    fn within_backup_dir(&self, out: &std::path::Path) -> Result<(), Status> {
        let Some(dir) = &self.backup_dir else {
            return Err(Status::permission_denied(
                "this node has no backup folder (--backup-dir, or backup_dir in its configuration file): an administrator's certificate asks for backups only into it; or sign the request with a ministry key",
            ));
        };
        let inside = out.starts_with(dir)
            && out != dir.as_path()
            && out
                .components()
                .all(|part| !matches!(part, std::path::Component::ParentDir));
        if !inside {
            return Err(Status::permission_denied(format!(
                "out_dir {} is not a folder inside this node's backup folder {}: an administrator's certificate asks for backups only there",
                out.display(),
                dir.display()
            )));
        }
        Ok(())
    }

    async fn check_readiness(&self) -> Result<String, String> {
        let ledger = Arc::clone(&self.ledger);
        let writable = tokio::task::spawn_blocking(move || ledger.store().accepts_writes())
            .await
            .map_err(|error| format!("the storage check did not finish: {error}"))?;
        if let Err(error) = writable {
            return Err(format!("its storage does not take writes: {error}"));
        }
        let position = self.tip.borrow().position.0;
        match &self.replication {
            None => Ok(format!("ready: storage writable, log position {position}")),
            Some(replication) => replication.readiness().await.map(|checked| {
                format!("ready: storage writable, {checked}, log position {position}")
            }),
        }
    }

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
            log_key: None,
            latest_checkpoint: tokio::sync::Mutex::new(None),
            last_readiness: tokio::sync::Mutex::new(None),
            backup_dir: None,
        }
    }

    /// Lets an administrator's certificate ask for backups into folders
    /// inside `dir`.
    pub fn backups_into(mut self, dir: Option<std::path::PathBuf>) -> Self {
        self.backup_dir = dir;
        self
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

    /// A tree question, off the runtime, its failure as a status.
    async fn tree<T: Send + 'static>(
        &self,
        ask: impl FnOnce(&Store) -> Result<T, TreeError> + Send + 'static,
    ) -> Result<T, Status> {
        let ledger = Arc::clone(&self.ledger);
        tokio::task::spawn_blocking(move || {
            ledger
                .read(|ledger| Ok(ask(ledger.store())))
                .map_err(|error| store_status(&error))?
                .map_err(|error| tree_status(&error))
        })
        .await
        .map_err(|error| Status::internal(format!("read task failed: {error}")))?
    }

    /// The c2sp.org/tlog-tiles tile at `path` (`tile/...`) and whether it
    /// is full (never changes).
    pub async fn tile(&self, path: String) -> Result<(Vec<u8>, bool), Status> {
        let tile = TilePath::parse(&path).map_err(|error| tree_status(&error))?;
        self.tree(move |store| Ok((store.tile(tile)?, tile.is_full())))
            .await
    }

    /// Signs checkpoints with `key`.
    pub fn signing_checkpoints(mut self, key: LogKey) -> Self {
        if let Some(replication) = &self.replication {
            replication.own_log_key(key.verifier_key());
        }
        self.log_key = Some(Arc::new(key));
        self
    }

    /// The node's log key as a witness's.
    fn witness(&self, key: &LogKey) -> checkpoint::Witness {
        key.witness(&checkpoint::witness_name(self.ledger.chain()))
    }

    fn log_key(&self) -> Result<Arc<LogKey>, Status> {
        self.log_key
            .clone()
            .ok_or_else(|| Status::unimplemented("this node signs no checkpoints"))
    }

    /// This node's own signed checkpoint of the tree of `size` entries,
    /// waiting up to [`COSIGN_WAIT`] for a size it has not applied yet.
    async fn own_checkpoint(&self, size: u64) -> Result<pb::SignedCheckpoint, Status> {
        let key = self.log_key()?;
        let mut tip = self.tip.clone();
        let reached = tokio::time::timeout(COSIGN_WAIT, tip.wait_for(|tip| tip.position.0 >= size))
            .await
            .is_ok_and(|reached| reached.is_ok());
        if !reached {
            return Err(Status::failed_precondition(format!(
                "this node's tree has {} entries, not {size}, after waiting {} s: it is behind (or the size is beyond the log)",
                self.tip.borrow().position.0,
                COSIGN_WAIT.as_secs()
            )));
        }
        self.sign_checkpoint(key, Some(size)).await
    }

    /// A checkpoint of the tree of `size` (None: as it stands), signed by
    /// this node alone.
    async fn sign_checkpoint(
        &self,
        key: Arc<LogKey>,
        size: Option<u64>,
    ) -> Result<pb::SignedCheckpoint, Status> {
        let origin = checkpoint::origin(self.ledger.chain());
        self.tree(move |store| {
            let head = tree_head(store, size)?;
            let root = Hash(head.root.as_slice().try_into().map_err(|_| {
                TreeError::Store(StoreError::Corrupt("a tree root is not 32 bytes".into()))
            })?);
            let note = key
                .sign(&origin, head.size, root)
                .map_err(|error| TreeError::Store(StoreError::Corrupt(error.to_string())))?;
            Ok(pb::SignedCheckpoint {
                note,
                origin,
                size: head.size,
                root: head.root,
                verifier_key: key.verifier_key().to_owned(),
                cosigner_keys: vec![key.verifier_key().to_owned()],
            })
        })
        .await
    }

    /// The latest checkpoint: the one made last if the tree has not grown
    /// since (and, in a cluster, it carries every voter's signature or is
    /// younger than [`CHECKPOINT_EVERY`]), else a new one, signed by this
    /// node and, in a cluster, by every other voter that answers with the
    /// same tree (a voter whose tree differs is left out, and logged).
    pub async fn latest_checkpoint(&self) -> Result<pb::SignedCheckpoint, Status> {
        let key = self.log_key()?;
        let mut latest = self.latest_checkpoint.lock().await;
        let size = self.tree(|store| Ok(store.tree_size()?)).await?;
        let possible = self
            .replication
            .as_ref()
            .map_or(1, |replication| replication.possible_cosigners());
        if let Some((made, _)) = latest.as_ref().filter(|(made, at)| {
            made.size == size
                && (made.cosigner_keys.len() >= possible || at.elapsed() < CHECKPOINT_EVERY)
        }) {
            return Ok(made.clone());
        }
        let mut made = self.sign_checkpoint(Arc::clone(&key), Some(size)).await?;
        if let Some(replication) = &self.replication {
            let mut signed = vec![(made.note.clone(), made.verifier_key.clone())];
            for other in replication.voters_checkpoints(size).await {
                let mut with = signed.clone();
                with.push(other.clone());
                match checkpoint::merge(&with) {
                    Ok(note) => {
                        made.note = note;
                        made.cosigner_keys.push(other.1.clone());
                        signed = with;
                    }
                    Err(error) => {
                        tracing::warn!(key = %other.1, %error, "a voter's checkpoint is not this node's: left out")
                    }
                }
            }
            // A donor site's node holds the whole tree: it adds its
            // witness cosignature (c2sp.org/tlog-cosignature).
            if replication.is_learner() {
                let witness = self.witness(&key);
                made.note = witness.cosign(&made.note).map_err(|error| {
                    Status::internal(format!("cosigning the checkpoint: {error}"))
                })?;
                made.cosigner_keys.push(witness.verifier_key());
            }
        }
        *latest = Some((made.clone(), Instant::now()));
        Ok(made)
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

/// Reads up to a page of log entries from `from` with their envelopes.
fn read_entries(
    ledger: &Ledger,
    from: LogPosition,
    through: LogPosition,
) -> Result<Vec<pb::LogEntry>, StoreError> {
    let count = (through.0 + 1)
        .saturating_sub(from.0)
        .min(SUBSCRIBE_PAGE_ENTRIES as u64) as usize;
    let (records, events) = ledger.store().log_range_with_events(from, count)?;
    Ok(records
        .iter()
        .zip(events)
        .map(|(record, event)| log_entry(record, event))
        .collect())
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
                let Some((record, event)) = ledger.store().event(&id)? else {
                    return Ok(None);
                };
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
                last_event_id: record
                    .last_event
                    .map(|id| id.0.to_vec())
                    .unwrap_or_default(),
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

    async fn get_checkpoint(
        &self,
        request: Request<pb::GetCheckpointRequest>,
    ) -> Result<Response<pb::SignedCheckpoint>, Status> {
        match request.into_inner().size {
            0 => self.latest_checkpoint().await,
            size => self.own_checkpoint(size).await,
        }
        .map(Response::new)
    }

    async fn get_tree_head(
        &self,
        request: Request<pb::GetTreeHeadRequest>,
    ) -> Result<Response<pb::TreeHead>, Status> {
        let size = request.into_inner().size;
        self.tree(move |store| tree_head(store, (size != 0).then_some(size)))
            .await
            .map(Response::new)
    }

    async fn get_inclusion_proof(
        &self,
        request: Request<pb::GetInclusionProofRequest>,
    ) -> Result<Response<pb::InclusionProof>, Status> {
        let request = request.into_inner();
        // The event by id, or by position.
        let (event, position) = match request.event {
            Some(pb::get_inclusion_proof_request::Event::EventId(id)) => {
                (Some(id_argument(EventId::from_slice(&id))?), 0)
            }
            Some(pb::get_inclusion_proof_request::Event::Position(position)) if position > 0 => {
                (None, position)
            }
            _ => {
                return Err(Status::invalid_argument(
                    "name the event: event_id, or a log position (from 1)",
                ))
            }
        };
        let tree_size = request.tree_size;
        self.tree(move |store| {
            let (record, envelope) = match event {
                Some(id) => store
                    .event(&id)?
                    .ok_or_else(|| TreeError::NotFound(format!("no event {id} on this ledger")))?,
                None => store.entry_at(LogPosition(position))?.ok_or_else(|| {
                    TreeError::OutOfRange(format!("log position {position} is past the log's end"))
                })?,
            };
            let position = record.position;
            let tree = tree_head(store, (tree_size != 0).then_some(tree_size))?;
            let hashes = store.inclusion_proof(position.0 - 1, tree.size)?;
            Ok(pb::InclusionProof {
                position: position.0,
                tree: Some(tree),
                hashes: hashes.iter().map(|hash| hash.0.to_vec()).collect(),
                event: Some(envelope),
            })
        })
        .await
        .map(Response::new)
    }

    async fn get_consistency_proof(
        &self,
        request: Request<pb::GetConsistencyProofRequest>,
    ) -> Result<Response<pb::ConsistencyProof>, Status> {
        let request = request.into_inner();
        self.tree(move |store| {
            let new_size = request.new_size;
            let new = tree_head(store, (new_size != 0).then_some(new_size))?;
            let old = tree_head(store, Some(request.old_size))?;
            let hashes = store.consistency_proof(old.size, new.size)?;
            Ok(pb::ConsistencyProof {
                old: Some(old),
                new: Some(new),
                hashes: hashes.iter().map(|hash| hash.0.to_vec()).collect(),
            })
        })
        .await
        .map(Response::new)
    }

    async fn backup(
        &self,
        request: Request<pb::BackupRequest>,
    ) -> Result<Response<pb::BackupResponse>, Status> {
        let ledger = Arc::clone(&self.ledger);
        let administrator = administrator(&request, ledger.chain());
        let request = request.into_inner();
        let out = std::path::PathBuf::from(&request.out_dir);
        if !out.is_absolute() {
            return Err(Status::invalid_argument(format!(
                "out_dir {:?} must be an absolute path on the node's host",
                request.out_dir
            )));
        }
        let asked_by = match administrator {
            Some(identity) => {
                self.within_backup_dir(&out)?;
                identity.to_string()
            }
            None => {
                authenticate_ministry(&ledger, &request)?;
                "the ministry (signed)".to_owned()
            }
        };
        let manifest =
            tokio::task::spawn_blocking(move || tansiq_ledger::backup::backup(&ledger, &out))
                .await
                .map_err(|error| Status::internal(format!("the backup did not finish: {error}")))?
                .map_err(|error| match error {
                    tansiq_ledger::backup::BackupError::NotEmpty(_) => {
                        Status::already_exists(error.to_string())
                    }
                    other => Status::unavailable(format!("the backup failed: {other}")),
                })?;
        let head = HeadHash::from_hex(&manifest.head)
            .map_err(|error| Status::internal(error.to_string()))?;
        tracing::info!(out_dir = %request.out_dir, position = manifest.position, %asked_by, "backup written");
        Ok(Response::new(pb::BackupResponse {
            chain_id: manifest.chain_id,
            position: manifest.position,
            head: head.0.to_vec(),
            files: manifest.files.len() as u32,
            bytes: manifest.files.iter().map(|file| file.bytes).sum(),
            manifest: std::path::Path::new(&request.out_dir)
                .join(tansiq_ledger::backup::MANIFEST_FILE)
                .display()
                .to_string(),
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
                crate::exposition::EXPORTED.refused_by(crate::exposition::Limit::Subscriptions);
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
            log_key: self
                .log_key
                .as_ref()
                .map(|key| key.verifier_key().to_owned())
                .unwrap_or_default(),
            witness_key: self
                .log_key
                .as_ref()
                .map(|key| self.witness(key).verifier_key())
                .unwrap_or_default(),
        }))
    }
}

/// The head of the tree of `size` entries (`None`: the whole tree).
/// Makes a checkpoint every [`CHECKPOINT_EVERY`] while the log grows
/// (`latest_checkpoint` makes one only when the tree has grown), so that
/// the one served is never more than a few seconds behind, and carries
/// the voters' signatures without a client waiting for them.
/// Holds the service weakly: it ends when the node drops the service at
/// shutdown (the committer's threads wait for the last handle).
pub async fn checkpoint_every(service: std::sync::Weak<LedgerService>) {
    let mut every = tokio::time::interval(CHECKPOINT_EVERY);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        every.tick().await;
        let Some(service) = service.upgrade() else {
            return;
        };
        if service.log_key.is_none() {
            return;
        }
        if let Err(status) = service.latest_checkpoint().await {
            tracing::debug!(error = %status.message(), "no checkpoint made this time");
        }
    }
}

fn tree_head(store: &Store, size: Option<u64>) -> Result<pb::TreeHead, TreeError> {
    let size = match size {
        Some(size) => size,
        None => store.tree_size()?,
    };
    Ok(pb::TreeHead {
        size,
        root: store.tree_root(size)?.0.to_vec(),
    })
}

/// The administrator whose certificate (of this chain's CA, checked by
/// the TLS handshake) made `request`, if one did.
fn administrator<T>(
    request: &Request<T>,
    chain: &tansiq_ledger::signing::ChainId,
) -> Option<crate::peer_identity::PeerIdentity> {
    let certificates = request.peer_certs()?;
    let identity =
        crate::peer_identity::PeerIdentity::from_certificate(certificates.first()?).ok()?;
    (identity.role == crate::peer_identity::Role::Admin && identity.chain == chain.as_str())
        .then_some(identity)
}

/// A backup is asked by the ministry: signed by one of its registered,
/// unrevoked keys, recently (it writes on the node's disk).
fn authenticate_ministry(ledger: &Ledger, request: &pb::BackupRequest) -> Result<(), Status> {
    use tansiq_ledger::signing::{backup_request_bytes, verify_signature};
    let how = "ask over mutual TLS with an administrator's certificate (tansiq://CHAIN/admin/NAME; `tansiq --tls-cert --tls-key backup`), or sign \"tansiq/backup/v1\" 0x00 chain_id 0x00 out_dir 0x00 signed_at_ms (8 bytes, big-endian) with a key of the ministry (docs/PROTOCOL.md; `tansiq backup --key`)";
    let key = PublicKeyBytes::from_slice(&request.signer_key)
        .map_err(|_| Status::unauthenticated(format!("signer_key is not a public key: {how}")))?;
    let age = (tansiq_ledger::author::now_ms() - request.signed_at_ms).abs();
    if age > tansiq_ledger::limits::PLAN_SIGNATURE_AGE_MAX_MS {
        return Err(Status::unauthenticated(format!(
            "signed_at_ms is {} s from this node's clock: sign the request again",
            age / 1000
        )));
    }
    let message = backup_request_bytes(ledger.chain(), &request.out_dir, request.signed_at_ms);
    if !verify_signature(&key, &message, &request.signature) {
        return Err(Status::unauthenticated(format!(
            "the backup request's signature does not verify: {how}"
        )));
    }
    let record = ledger
        .read(|ledger| ledger.store().key(&key))
        .map_err(|error| store_status(&error))?;
    let ministry = ledger.genesis().ministry.as_str();
    match record {
        Some(record) if record.revoked_at.is_none() && record.org_id == ministry => Ok(()),
        Some(record) if record.revoked_at.is_some() => {
            Err(Status::permission_denied(format!("key {key} was revoked")))
        }
        Some(record) => Err(Status::permission_denied(format!(
            "key {key} belongs to {}: only the ministry ({ministry}) asks a node for a backup",
            record.org_id
        ))),
        None => Err(Status::unauthenticated(format!(
            "key {key} is not registered on this ledger"
        ))),
    }
}
