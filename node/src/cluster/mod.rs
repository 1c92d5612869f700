//! Replication: openraft over tonic. Node-to-node messages are openraft's own
//! types in postcard (`tansiq_ledger::replication::encode_message`) inside
//! `tansiq.v1.Cluster` RPCs, a snapshot chunk's bytes beside; the storage is
//! `tansiq_ledger::replication` (log and state machine in the ledger's RocksDB).
//!
//! A submission reaching a follower or learner is forwarded, unchecked, to
//! the leader; the leader decodes it and checks its signatures (bad input
//! never reaches the log), batched with what arrived meanwhile into one Raft
//! entry. Every node re-verifies every signature when it applies the entry.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use openraft::error::{
    CheckIsLeaderError, ClientWriteError, ForwardToLeader, InstallSnapshotError, NetworkError,
    RPCError, RaftError, RemoteError, Unreachable,
};
use openraft::network::{RPCOption, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};
use openraft::{BasicNode, ChangeMembers, Raft};
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use tansiq_ledger::append::{decode_request, keys_introduced, verify_requests, SignerCheckError};
use tansiq_ledger::author::now_ms;
use tansiq_ledger::ids::PublicKeyBytes;
use tansiq_ledger::replication::{
    decode_message, encode_message, AppliedOutcome, LogStore, NodeId, Proposal, StateMachine,
    TypeConfig,
};
use tansiq_ledger::store::Tip;
use tansiq_ledger::{Ledger, Receipt};
use tansiq_proto::v1 as pb;
use tansiq_proto::v1::cluster_client::ClusterClient;
use tansiq_proto::v1::ledger_client::LedgerClient;

use tansiq_ledger::ids::EventId;
use tansiq_ledger::replication::{Outbox, PushOutcome};
use tansiq_ledger::store::StoreError;
use tokio::sync::{mpsc, oneshot, watch, Notify};
use tonic::transport::Channel;
use tonic::{Request, Response, Status};

use crate::committer::SubmitError;
use crate::peer_identity::{caller, claimed_node_matches, PeerIdentity};
use crate::service::{receipt_to_proto, submit_status};
use crate::status::rejection_status;
use crate::tls::{self, Tls};

/// A node's Raft instance and what it replicates.
pub struct Replication {
    pub node_id: NodeId,
    pub raft: Raft<TypeConfig>,
    ledger: Arc<Ledger>,
    peers: Peers,
    tls: Option<Tls>,
    refused_at_apply: Arc<AtomicU64>,
    proposals: mpsc::Sender<Pending>,
    leader_channel: Mutex<Option<(String, Channel)>>,
    outbox: Outbox,
    outbox_wake: Notify,
    in_flight: InFlightKeys,
}

/// A submission waiting to be proposed.
struct Pending {
    events: Vec<pb::SignedEvent>,
    reply: oneshot::Sender<Result<Vec<Receipt>, SubmitError>>,
}

/// How long a linearizable read waits for the leader and for its own apply.
const READ_BARRIER_TIMEOUT: Duration = Duration::from_secs(5);

/// Submissions waiting for the proposer beyond this make submitters wait.
const PROPOSAL_QUEUE_MAX: usize = 8_192;
/// Events per Raft entry at most (a batch is whatever arrived meanwhile).
const PROPOSAL_EVENTS_MAX: usize = 4_096;
/// Bytes of signed events per Raft entry at most: a batch stops growing
/// before it would pass this (one request, at most
/// [`crate::REQUEST_BYTES_MAX`], always fits).
const PROPOSAL_BYTES_MAX: usize = crate::REQUEST_BYTES_MAX;
/// Entries per AppendEntries message at most (openraft's default is 300).
/// With [`PROPOSAL_BYTES_MAX`] this bounds every Raft message a node sends,
/// so that [`CLUSTER_MESSAGE_BYTES_MAX`] never refuses an honest leader.
const APPEND_ENTRIES_MAX: u64 = 16;
/// Largest snapshot chunk a node sends (`--snapshot-chunk-bytes` at most).
pub const SNAPSHOT_CHUNK_BYTES_MAX: u64 = 64 * 1024 * 1024;
/// Largest Cluster message a node decodes or sends: a full AppendEntries
/// (entries of at most [`PROPOSAL_BYTES_MAX`] plus their framing), or a
/// snapshot chunk. Only a voter's certificate may send messages this large
/// (the gate refuses everyone else before reading a byte).
pub const CLUSTER_MESSAGE_BYTES_MAX: usize =
    (APPEND_ENTRIES_MAX as usize + 1) * (PROPOSAL_BYTES_MAX + 64 * 1024);
/// How long the leader waits for each segment of a snapshot it sends, the
/// last one included, which the receiver answers only once it checked and
/// installed the whole snapshot: it replays every event of the snapshot,
/// every signature checked again (Ledger::check_snapshot; tens of seconds
/// per million events on two cores). openraft's default, 200 ms, made the
/// leader give up and send the snapshot again, over and over. The cost of a
/// long one: a peer whose network silently drops packets in the middle of
/// a transfer holds up that peer's replication for up to this long before
/// the leader retries (a peer that is down refuses the connection at once).
const SNAPSHOT_SEGMENT_TIMEOUT: Duration = Duration::from_secs(600);

/// How long a submission waits for its entry to commit before the client is
/// told it is not committed (e.g. a leader cut off from the majority).
const COMMIT_TIMEOUT: Duration = Duration::from_secs(10);

/// Addresses that override the membership's, by node id (`--peer`).
pub type Peers = Arc<BTreeMap<NodeId, String>>;

/// How this node takes part in a cluster (from the node's flags).
#[derive(Clone, Default)]
pub struct ClusterSettings {
    pub peers: BTreeMap<NodeId, String>,
    pub snapshot_every: Option<u64>,
    /// Largest snapshot chunk sent (openraft's default when None).
    pub snapshot_chunk_bytes: Option<u64>,
    /// The node's TLS, used as client identity towards peers (None: plaintext).
    pub tls: Option<Tls>,
}

/// Where a client's submission goes from this node.
enum Route {
    /// This node leads: propose it here.
    Propose,
    /// Another node leads, at this address.
    Forward(String),
    /// No leader known (election under way, or cut off).
    NoLeader,
}

type ProposalReplies = Vec<oneshot::Sender<Result<Vec<Receipt>, SubmitError>>>;

impl Replication {
    /// Starts Raft for `node_id` over `ledger`, updating `tip` as entries apply.
    pub async fn start(
        node_id: NodeId,
        ledger: Arc<Ledger>,
        tip: watch::Sender<Tip>,
        settings: ClusterSettings,
    ) -> anyhow::Result<Arc<Replication>> {
        // Keep enough log for a follower that restarts to catch up from it;
        // beyond this, it gets a snapshot.
        let snapshot_every = settings.snapshot_every.unwrap_or(20_000);
        let mut config = openraft::Config {
            cluster_name: ledger.chain().to_string(),
            heartbeat_interval: 200,
            election_timeout_min: 800,
            election_timeout_max: 1600,
            snapshot_policy: openraft::SnapshotPolicy::LogsSinceLast(snapshot_every),
            max_in_snapshot_log_to_keep: (snapshot_every / 4).min(5_000),
            purge_batch_size: 1,
            install_snapshot_timeout: SNAPSHOT_SEGMENT_TIMEOUT.as_millis() as u64,
            max_payload_entries: APPEND_ENTRIES_MAX,
            ..Default::default()
        };
        if let Some(bytes) = settings.snapshot_chunk_bytes {
            config.snapshot_max_chunk_size = bytes.min(SNAPSHOT_CHUNK_BYTES_MAX);
        }
        let config = Arc::new(config.validate()?);
        let watched = Arc::clone(&ledger);
        let machine = StateMachine::new(Arc::clone(&ledger)).on_applied(move || {
            if let Ok(new_tip) = watched.tip() {
                tip.send_if_modified(|current| {
                    let changed = *current != new_tip;
                    *current = new_tip;
                    changed
                });
            }
        });
        let refused_at_apply = machine.refused_counter();
        let peers: Peers = Arc::new(settings.peers);
        let raft = Raft::new(
            node_id,
            config,
            Network {
                peers: Arc::clone(&peers),
                tls: settings.tls.clone(),
                unreachable: Arc::default(),
            },
            LogStore::new(Arc::clone(&ledger)),
            machine,
        )
        .await?;
        let (proposals, queue) = mpsc::channel(PROPOSAL_QUEUE_MAX);
        let replication = Arc::new(Replication {
            node_id,
            raft,
            ledger,
            peers,
            tls: settings.tls,
            refused_at_apply,
            proposals,
            leader_channel: Mutex::new(None),
            outbox: Outbox::new(),
            outbox_wake: Notify::new(),
            in_flight: InFlightKeys::default(),
        });
        tokio::spawn(propose_loop(Arc::clone(&replication), queue));
        tokio::spawn(deliver_loop(Arc::clone(&replication)));
        Ok(replication)
    }

    /// A client's submission on a cluster node: proposed here when this
    /// node leads; otherwise forwarded, unchecked, to the leader (which
    /// checks it). A donor site (learner) that cannot reach the leader, or
    /// that has a backlog, keeps it in its outbox instead.
    pub async fn submit_from_client(
        self: &Arc<Self>,
        events: Vec<pb::SignedEvent>,
    ) -> Result<Vec<pb::Receipt>, Status> {
        let learner = self.is_learner();
        // A donor site with a backlog keeps order: behind the backlog.
        if learner && !self.outbox_is_empty()? {
            return self.accept_pending(events).await;
        }
        match self.route() {
            Route::Propose => self
                .propose(events)
                .await
                .map(|receipts| receipts.iter().map(receipt_to_proto).collect())
                .map_err(submit_status),
            Route::Forward(leader) if learner => {
                match self.forward(&leader, events.clone()).await {
                    Err(status) if retryable(status.code()) => self.accept_pending(events).await,
                    answered => answered,
                }
            }
            Route::Forward(leader) => self.forward(&leader, events).await,
            Route::NoLeader if learner => self.accept_pending(events).await,
            Route::NoLeader => Err(submit_status(SubmitError::NoLeader)),
        }
    }

    /// Where a submission goes from this node, by its view of the leader.
    fn route(&self) -> Route {
        let metrics = self.raft.metrics();
        let metrics = metrics.borrow();
        match metrics.current_leader {
            Some(id) if id == self.node_id => Route::Propose,
            Some(id) => metrics
                .membership_config
                .membership()
                .get_node(&id)
                .map_or(Route::NoLeader, |node| {
                    Route::Forward(self.address_of(id, &node.addr))
                }),
            None => Route::NoLeader,
        }
    }

    /// Checks a request's signatures (bad input never reaches the log), then
    /// commits it through Raft together with the requests that arrived
    /// meanwhile, as one entry.
    async fn propose(&self, events: Vec<pb::SignedEvent>) -> Result<Vec<Receipt>, SubmitError> {
        let (reply, receipt) = oneshot::channel();
        self.proposals
            .send(Pending { events, reply })
            .await
            .map_err(|_| SubmitError::ShuttingDown)?;
        receipt.await.map_err(|_| SubmitError::ShuttingDown)?
    }

    /// The other members, as `id=address`, for a client that must go elsewhere.
    fn other_members(&self) -> String {
        let metrics = self.raft.metrics().borrow().clone();
        let others: Vec<String> = metrics
            .membership_config
            .membership()
            .nodes()
            .filter(|(id, _)| **id != self.node_id)
            .map(|(id, node)| format!("{id}={}", self.address_of(*id, &node.addr)))
            .collect();
        others.join(", ")
    }

    /// A node that is not a voter: a donor site's node.
    pub fn is_learner(&self) -> bool {
        let metrics = self.raft.metrics();
        let is_voter = metrics
            .borrow()
            .membership_config
            .membership()
            .voter_ids()
            .any(|id| id == self.node_id);
        !is_voter
    }

    fn outbox_error(error: StoreError) -> Status {
        Status::unavailable(format!(
            "this node cannot use its outbox ({error}); nothing was accepted, retry"
        ))
    }

    /// Requests waiting in this node's outbox.
    pub fn outbox_pending(&self) -> u64 {
        self.outbox.len(self.ledger.store()).unwrap_or_default()
    }

    pub fn outbox_is_empty(&self) -> Result<bool, Status> {
        self.outbox
            .is_empty(self.ledger.store())
            .map_err(Self::outbox_error)
    }

    /// A donor site that cannot reach the leader: checks the request as the
    /// leader would before proposing it (signatures; signers registered and
    /// not revoked on this node's replica), keeps it durably in the bounded
    /// outbox (once, by event id) and answers "accepted, pending".
    pub async fn accept_pending(
        self: &Arc<Self>,
        events: Vec<pb::SignedEvent>,
    ) -> Result<Vec<pb::Receipt>, Status> {
        let this = Arc::clone(self);
        let receipts = tokio::task::spawn_blocking(move || {
            let chain = this.ledger.chain().clone();
            let mut requests = vec![decode_request(&chain, events.clone())];
            verify_requests(&chain, &mut requests);
            let decoded = match requests.pop() {
                Some(Ok(decoded)) => decoded,
                Some(Err(rejection)) => return Err(rejection_status(&rejection)),
                None => return Err(Status::internal("no verdict for the request")),
            };
            let checked = this.ledger.check_signers(&decoded, &Default::default());
            if let Err(SignerCheckError::Unreadable(error)) = &checked {
                return Err(Status::unavailable(format!(
                    "this donor-site node cannot read its replica now ({error}); nothing was accepted, retry"
                )));
            }
            if let Err(SignerCheckError::Refused(rejection)) = checked {
                let mut status = rejection_status(&rejection);
                let position = this.ledger.tip().map_or(0, |tip| tip.position.0);
                status = Status::with_metadata(
                    status.code(),
                    format!(
                        "{} (as this donor-site node's replica stands, at log position {position}; it cannot reach the leader now: if the key was registered very recently, retry when it has caught up)",
                        status.message()
                    ),
                    status.metadata().clone(),
                );
                return Err(status);
            }
            let ids: Vec<EventId> = decoded.iter().map(|event| event.id).collect();
            let store = this.ledger.store();
            // Already committed here: the receipts of the log.
            let mut committed = Vec::with_capacity(ids.len());
            for id in &ids {
                match this.ledger.receipt(id).map_err(Self::outbox_error)? {
                    Some(receipt) => committed.push(receipt_to_proto(&receipt)),
                    None => break,
                }
            }
            if committed.len() == ids.len() {
                return Ok(committed);
            }
            let waiting = match this
                .outbox
                .push(store, &ids, events)
                .map_err(Self::outbox_error)?
            {
                PushOutcome::Queued => "waiting",
                PushOutcome::AlreadyWaiting => "already waiting",
                PushOutcome::Full { reason } => {
                    return Err(Status::resource_exhausted(format!(
                        "{reason}; nothing was accepted: retry when the leader is reachable again, or submit to a ministry node"
                    )))
                }
            };
            let note = format!(
                "accepted by donor-site node {} while the cluster's leader is out of reach; {waiting} in its outbox, delivered and committed when the leader is reachable (resubmitting is safe)",
                this.node_id,
            );
            Ok(ids
                .iter()
                .map(|id| pb::Receipt {
                    event_id: id.0.to_vec(),
                    state: pb::ReceiptState::AcceptedPending as i32,
                    warnings: vec![note.clone()],
                    ..Default::default()
                })
                .collect())
        })
        .await
        .map_err(|error| Status::internal(format!("outbox task failed: {error}")))??;
        self.outbox_wake.notify_one();
        Ok(receipts)
    }

    /// Where this node reaches `node`: its `--peer` override, else the
    /// membership's address.
    pub fn address_of(&self, node: NodeId, advertised: &str) -> String {
        self.peers
            .get(&node)
            .cloned()
            .unwrap_or_else(|| advertised.to_owned())
    }

    /// Where this node reaches the leader a `ForwardToLeader` names.
    fn forward_address(&self, forward: &ForwardToLeader<NodeId, BasicNode>) -> Option<String> {
        let node = forward.leader_node.as_ref()?;
        Some(match forward.leader_id {
            Some(id) => self.address_of(id, &node.addr),
            None => node.addr.clone(),
        })
    }

    /// A channel to the leader's gRPC address, reused while the leader stays.
    fn channel_to(&self, leader: &str) -> Result<Channel, Status> {
        let mut cached = self
            .leader_channel
            .lock()
            .map_err(|_| Status::internal("leader channel lock poisoned"))?;
        if let Some((address, channel)) = cached.as_ref() {
            if address == leader {
                return Ok(channel.clone());
            }
        }
        let channel = tls::endpoint(leader, self.tls.as_ref())?
            .connect_timeout(Duration::from_secs(2))
            .connect_lazy();
        *cached = Some((leader.to_owned(), channel.clone()));
        Ok(channel)
    }

    /// Forwards a submission to the leader's Ledger service.
    pub async fn forward(
        &self,
        leader: &str,
        events: Vec<pb::SignedEvent>,
    ) -> Result<Vec<pb::Receipt>, Status> {
        let mut client = LedgerClient::new(self.channel_to(leader)?)
            .max_decoding_message_size(crate::REQUEST_BYTES_MAX)
            .max_encoding_message_size(crate::REQUEST_BYTES_MAX);
        let mut request = Request::new(pb::SubmitBatchRequest { events });
        request.set_timeout(COMMIT_TIMEOUT + Duration::from_secs(5));
        match client.submit_batch(request).await {
            Ok(response) => Ok(response.into_inner().receipts),
            Err(status) if retryable(status.code()) => {
                Err(Status::unavailable(format!(
                    "this node is not the leader and cannot reach the leader at {leader} ({}); nothing was written here, retry",
                    status.message()
                )))
            }
            Err(status) => Err(status),
        }
    }

    /// This node's view of the cluster.
    pub fn status(&self) -> pb::ClusterStatus {
        let metrics = self.raft.metrics().borrow().clone();
        let membership = metrics.membership_config.membership();
        let voters: Vec<NodeId> = membership.voter_ids().collect();
        let last = metrics.last_log_index.unwrap_or_default();
        let replication = metrics.replication.clone().unwrap_or_default();
        let nodes = membership
            .nodes()
            .map(|(id, node)| {
                let matched = replication
                    .get(id)
                    .and_then(|log_id| log_id.map(|l| l.index))
                    .unwrap_or(if *id == metrics.id { last } else { 0 });
                pb::ClusterNode {
                    node_id: *id,
                    address: node.addr.clone(),
                    role: if voters.contains(id) {
                        "voter"
                    } else {
                        "learner"
                    }
                    .into(),
                    matched_index: matched,
                    lag: last.saturating_sub(matched),
                }
            })
            .collect();
        let tip = self.ledger.tip().ok();
        pb::ClusterStatus {
            node_id: metrics.id,
            state: format!("{:?}", metrics.state),
            has_leader: metrics.current_leader.is_some(),
            leader_id: metrics.current_leader.unwrap_or_default(),
            term: metrics.current_term,
            last_log_index: last,
            applied_index: metrics.last_applied.map(|l| l.index).unwrap_or_default(),
            position: tip.map(|t| t.position.0).unwrap_or_default(),
            head: tip.map(|t| t.head.0.to_vec()).unwrap_or_default(),
            nodes,
            applied_term: metrics.last_applied.map_or(0, |l| l.leader_id.term),
            applied_leader: metrics.last_applied.map_or(0, |l| l.leader_id.node_id),
            purged_index: metrics.purged.map_or(0, |l| l.index),
            snapshot_index: metrics.snapshot.map_or(0, |l| l.index),
            refused_at_apply: self.refused_at_apply.load(Ordering::Relaxed),
            outbox_pending: self.outbox_pending(),
        }
    }

    /// Whether this node's Raft log holds entries it has not applied yet.
    fn log_ahead_of_apply(&self) -> bool {
        let metrics = self.raft.metrics();
        let metrics = metrics.borrow();
        metrics.last_log_index.unwrap_or_default()
            > metrics.last_applied.map_or(0, |log_id| log_id.index)
    }

    /// The Raft log index this node has applied.
    pub fn applied_index(&self) -> u64 {
        self.raft
            .metrics()
            .borrow()
            .last_applied
            .map_or(0, |log_id| log_id.index)
    }

    /// Waits until this node has applied every entry committed before the
    /// call: the leader confirms its leadership with a quorum and names the
    /// index (asked over `Cluster.ReadIndex` when another node leads).
    /// Returns the applied index the read will reflect.
    pub async fn read_barrier(&self) -> Result<u64, Status> {
        let index = tokio::time::timeout(READ_BARRIER_TIMEOUT, self.read_index())
            .await
            .map_err(|_| {
                Status::unavailable(format!(
                    "a linearizable read needs the leader to confirm it still leads, and it did not within {} s; ask without linearizable for this node's local answer (applied index {})",
                    READ_BARRIER_TIMEOUT.as_secs(),
                    self.applied_index()
                ))
            })??;
        self.raft
            .wait(Some(READ_BARRIER_TIMEOUT))
            .applied_index_at_least(Some(index), "linearizable read")
            .await
            .map_err(|error| {
                Status::unavailable(format!(
                    "this node has not applied up to index {index} yet ({error}); retry, or ask without linearizable"
                ))
            })?;
        Ok(self.applied_index().max(index))
    }

    async fn read_index(&self) -> Result<u64, Status> {
        match self.raft.get_read_log_id().await {
            Ok((read, _)) => Ok(read.map_or(0, |log_id| log_id.index)),
            Err(RaftError::APIError(CheckIsLeaderError::ForwardToLeader(forward))) => {
                let Some(leader) = self.forward_address(&forward) else {
                    return Err(Status::unavailable(
                        "a linearizable read needs the leader, and this node knows of none (election under way or no quorum); retry, or ask without linearizable",
                    ));
                };
                let mut client = ClusterClient::new(self.channel_to(&leader)?);
                let mut request = Request::new(pb::ReadIndexRequest {});
                request.set_timeout(READ_BARRIER_TIMEOUT);
                let reply = client.read_index(request).await.map_err(|status| {
                    Status::unavailable(format!(
                        "a linearizable read needs the leader at {leader}, which did not answer ({}); retry, or ask without linearizable",
                        status.message()
                    ))
                })?;
                Ok(reply.into_inner().index)
            }
            Err(error) => Err(Status::unavailable(format!(
                "this node cannot confirm its leadership with a quorum ({error}); retry, or ask without linearizable"
            ))),
        }
    }
}

/// Delivers the outbox to the leader, oldest first, one request at a time:
/// removed once the leader answers with receipts (new or duplicate: exactly
/// once by event id) or refuses it; kept and retried while the leader is out
/// of reach.
async fn deliver_loop(replication: Arc<Replication>) {
    const RETRY: Duration = Duration::from_millis(500);
    loop {
        let this = Arc::clone(&replication);
        let first = tokio::task::spawn_blocking(move || this.outbox.first(this.ledger.store()))
            .await
            .map_err(|error| StoreError::Corrupt(format!("outbox task failed: {error}")))
            .and_then(|result| result);
        let queued = match first {
            Ok(Some(queued)) => queued,
            Ok(None) => {
                tokio::select! {
                    _ = replication.outbox_wake.notified() => {}
                    _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                }
                continue;
            }
            Err(error) => {
                tracing::error!(%error, "cannot read the outbox");
                tokio::time::sleep(RETRY).await;
                continue;
            }
        };
        let Route::Forward(leader) = replication.route() else {
            tokio::time::sleep(RETRY).await;
            continue;
        };
        let chain = replication.ledger.chain();
        let ids: Vec<EventId> = queued
            .events
            .iter()
            .map(|event| tansiq_ledger::signing::event_id(chain, &event.body))
            .collect();
        match replication.forward(&leader, queued.events.clone()).await {
            Ok(receipts) => {
                tracing::info!(
                    events = receipts.len(),
                    position = receipts.last().map_or(0, |r| r.position),
                    "outbox: delivered and committed"
                );
            }
            Err(status) if retryable(status.code()) => {
                tracing::debug!(
                    message = status.message(),
                    "outbox: leader out of reach; will retry"
                );
                tokio::time::sleep(RETRY).await;
                continue;
            }
            Err(status) => {
                tracing::warn!(
                    code = ?status.code(),
                    message = status.message(),
                    events = ids.len(),
                    "outbox: the leader refused a request accepted while it was out of reach; removed from the outbox"
                );
            }
        }
        if let Err(error) = replication
            .outbox
            .remove(replication.ledger.store(), &queued, &ids)
        {
            tracing::error!(%error, "cannot remove a delivered request from the outbox");
            tokio::time::sleep(RETRY).await;
        }
    }
}

/// gRPC codes that mean "not reached / try again", not "refused".
pub fn retryable(code: tonic::Code) -> bool {
    matches!(
        code,
        tonic::Code::Unavailable
            | tonic::Code::Unknown
            | tonic::Code::Cancelled
            | tonic::Code::DeadlineExceeded
            | tonic::Code::Aborted
    )
}

/// Takes the submissions waiting, verifies them together and proposes the
/// valid ones as one Raft entry; the next batch is gathered while this one
/// replicates (each proposal is awaited on its own task).
async fn propose_loop(replication: Arc<Replication>, mut queue: mpsc::Receiver<Pending>) {
    let chain = replication.ledger.chain().clone();
    let mut held_back: Option<Pending> = None;
    loop {
        let first = match held_back.take() {
            Some(pending) => pending,
            None => match queue.recv().await {
                Some(pending) => pending,
                None => break,
            },
        };
        let mut batch = vec![first];
        let mut events = batch[0].events.len();
        let mut bytes = request_bytes(&batch[0].events);
        while events < PROPOSAL_EVENTS_MAX {
            match queue.try_recv() {
                Ok(pending) if bytes + request_bytes(&pending.events) > PROPOSAL_BYTES_MAX => {
                    held_back = Some(pending);
                    break;
                }
                Ok(pending) => {
                    events += pending.events.len();
                    bytes += request_bytes(&pending.events);
                    batch.push(pending);
                }
                Err(_) => break,
            }
        }
        let chain = chain.clone();
        let ledger = Arc::clone(&replication.ledger);
        let introduced = replication.in_flight.keys();
        let log_ahead_of_apply = replication.log_ahead_of_apply();
        let checked = tokio::task::spawn_blocking(move || {
            let mut requests: Vec<_> = batch
                .iter()
                .map(|pending| decode_request(&chain, pending.events.clone()))
                .collect();
            verify_requests(&chain, &mut requests);
            for request in requests.iter_mut() {
                let Ok(events) = request else { continue };
                // A state that cannot be read now (a snapshot being
                // installed) decides nothing: the apply checks again.
                if let Err(SignerCheckError::Refused(rejection)) =
                    ledger.check_signers(events, &introduced)
                {
                    if refuse_before_proposing(&rejection, log_ahead_of_apply) {
                        *request = Err(rejection);
                    }
                }
            }
            (batch, requests)
        })
        .await;
        let Ok((batch, requests)) = checked else {
            tracing::error!("the verification task of a proposal failed");
            continue;
        };
        let mut valid = Vec::with_capacity(batch.len());
        let mut replies: ProposalReplies = Vec::with_capacity(batch.len());
        let mut introducing = Vec::new();
        for (pending, checked) in batch.into_iter().zip(requests) {
            match checked {
                Ok(events) => {
                    introducing
                        .extend(events.iter().flat_map(|event| keys_introduced(&event.kind)));
                    valid.push(pb::SubmitBatchRequest {
                        events: pending.events,
                    });
                    replies.push(pending.reply);
                }
                Err(rejection) => {
                    let _ = pending.reply.send(Err(SubmitError::Rejected(rejection)));
                }
            }
        }
        if valid.is_empty() {
            continue;
        }
        let proposal = Proposal {
            committed_at_ms: now_ms(),
            requests: valid,
        };
        replication.in_flight.add(&introducing);
        let replication = Arc::clone(&replication);
        tokio::spawn(async move {
            let written =
                tokio::time::timeout(COMMIT_TIMEOUT, replication.raft.client_write(proposal)).await;
            // Applied here, or not committed: the applied state decides from now on.
            replication.in_flight.remove(&introducing);
            match written {
                Ok(result) => answer(&replication, result, replies),
                Err(_) => {
                    for reply in replies {
                        let _ = reply.send(Err(SubmitError::NotCommitted(format!(
                            "not committed within {} s: this node cannot reach a majority of the voters (partition or voters down). The entry may still commit if they come back; resubmit the same signed events (accepted exactly once by event id) or submit to a node on the majority side",
                            COMMIT_TIMEOUT.as_secs()
                        ))));
                    }
                }
            }
        });
    }
}

/// Whether the leader refuses a request before proposing it, for a refusal
/// of [`Ledger::check_signers`] on its applied state. A revoked key is
/// refused always (a revocation is for good). An unknown key, or a key of
/// another organisation, could be registered by an entry this node has in
/// its log but not applied yet (a new leader catching up): then the entry's
/// apply decides, as before.
fn refuse_before_proposing(rejection: &tansiq_ledger::Rejection, log_ahead_of_apply: bool) -> bool {
    match rejection.root() {
        tansiq_ledger::Rejection::RevokedKey { .. } => true,
        tansiq_ledger::Rejection::UnknownKey { .. }
        | tansiq_ledger::Rejection::AuthorMismatch { .. } => !log_ahead_of_apply,
        _ => true,
    }
}

/// Keys registered by proposals on their way to the log (proposed, not yet
/// answered): a request they sign may follow them before they apply.
#[derive(Default)]
struct InFlightKeys {
    counts: Mutex<std::collections::HashMap<PublicKeyBytes, usize>>,
}

impl InFlightKeys {
    fn lock(&self) -> std::sync::MutexGuard<'_, std::collections::HashMap<PublicKeyBytes, usize>> {
        self.counts
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn keys(&self) -> std::collections::HashSet<PublicKeyBytes> {
        self.lock().keys().copied().collect()
    }

    /// Counts the keys a proposal registers (taken from its events as they
    /// were decoded for verification); [`Self::remove`] them when answered.
    fn add(&self, introduced: &[PublicKeyBytes]) {
        let mut counts = self.lock();
        for key in introduced {
            *counts.entry(*key).or_default() += 1;
        }
    }

    fn remove(&self, introduced: &[PublicKeyBytes]) {
        let mut counts = self.lock();
        for key in introduced {
            if let Some(count) = counts.get_mut(key) {
                *count -= 1;
                if *count == 0 {
                    counts.remove(key);
                }
            }
        }
    }
}

/// The bytes a request's signed events take in a Raft entry (about).
fn request_bytes(events: &[pb::SignedEvent]) -> usize {
    events.iter().map(prost::Message::encoded_len).sum()
}

type WriteResult = Result<
    openraft::raft::ClientWriteResponse<TypeConfig>,
    RaftError<NodeId, ClientWriteError<NodeId, BasicNode>>,
>;

/// Sends each request of a proposal its outcome.
fn answer(replication: &Replication, result: WriteResult, replies: ProposalReplies) {
    match result {
        Ok(response) => {
            let mut outcomes = response.data.outcomes.into_iter();
            for reply in replies {
                let outcome = match outcomes.next() {
                    Some(AppliedOutcome::Committed(receipts)) => Ok(receipts),
                    Some(AppliedOutcome::Refused {
                        rejection: Some(rejection),
                        ..
                    }) => Err(SubmitError::Rejected(*rejection)),
                    Some(AppliedOutcome::Refused { message, .. }) => {
                        Err(SubmitError::Storage(format!("refused at apply: {message}")))
                    }
                    None => Err(SubmitError::Storage(
                        "the applied entry returned no outcome for this request".into(),
                    )),
                };
                let _ = reply.send(outcome);
            }
        }
        Err(error) => {
            let to_each = || match &error {
                RaftError::APIError(ClientWriteError::ForwardToLeader(forward)) => replication
                    .forward_address(forward)
                    .map_or(SubmitError::NoLeader, SubmitError::Forward),
                RaftError::Fatal(fatal) => SubmitError::ReplicationStopped {
                    failure: fatal.to_string(),
                    others: replication.other_members(),
                },
                other => SubmitError::Storage(format!("replication: {other}")),
            };
            for reply in replies {
                let _ = reply.send(Err(to_each()));
            }
        }
    }
}

/// Creates a connection per peer; connects lazily.
pub struct Network {
    peers: Peers,
    tls: Option<Tls>,
    unreachable: Unreachables,
}

/// Peers this node cannot reach, and since when: one log line when a peer
/// goes out of reach and one when it is back, instead of openraft's lines
/// at every retry (silenced by the default log filter, see main.rs).
type Unreachables = Arc<Mutex<BTreeMap<NodeId, std::time::Instant>>>;

pub struct Connection {
    target: NodeId,
    address: String,
    tls: Option<Tls>,
    client: Option<ClusterClient<Channel>>,
    unreachable: Unreachables,
}

impl RaftNetworkFactory<TypeConfig> for Network {
    type Network = Connection;

    async fn new_client(&mut self, target: NodeId, node: &BasicNode) -> Connection {
        Connection {
            target,
            address: self
                .peers
                .get(&target)
                .cloned()
                .unwrap_or_else(|| node.addr.clone()),
            tls: self.tls.clone(),
            client: None,
            unreachable: Arc::clone(&self.unreachable),
        }
    }
}

type RpcResult<T, E> = Result<T, RPCError<NodeId, BasicNode, E>>;

impl Connection {
    /// Sends one Raft message and decodes the reply.
    async fn call<Req, Resp, E>(
        &mut self,
        method: Method,
        request: &Req,
        option: &RPCOption,
    ) -> RpcResult<Resp, E>
    where
        Req: Serialize,
        Resp: DeserializeOwned,
        E: std::error::Error + DeserializeOwned,
    {
        let message =
            encode_message(request).map_err(|e| RPCError::Network(NetworkError::new(&e)))?;
        let reply = self.exchange(method, message, option).await;
        self.note_reachability(reply.as_ref().err());
        let reply = reply.map_err(RPCError::Unreachable)?;
        let result: Result<Resp, E> =
            decode_message(&reply).map_err(|e| RPCError::Network(NetworkError::new(&e)))?;
        result.map_err(|e| RPCError::RemoteError(RemoteError::new(self.target, e)))
    }

    /// The reply's message bytes, or why the peer was not reached.
    async fn exchange(
        &mut self,
        mut method: Method,
        message: Vec<u8>,
        option: &RPCOption,
    ) -> Result<Vec<u8>, Unreachable> {
        if self.client.is_none() {
            let endpoint = tls::endpoint(&self.address, self.tls.as_ref())
                .map_err(|e| Unreachable::new(&e))?
                .connect_timeout(Duration::from_millis(500));
            let channel = endpoint.connect().await.map_err(|e| Unreachable::new(&e))?;
            self.client = Some(
                ClusterClient::new(channel)
                    .max_decoding_message_size(CLUSTER_MESSAGE_BYTES_MAX)
                    .max_encoding_message_size(CLUSTER_MESSAGE_BYTES_MAX),
            );
        }
        let client = self.client.as_mut().expect("invariant: connected above");
        let mut payload = pb::RaftPayload {
            message,
            ..Default::default()
        };
        if let Method::InstallSnapshot(chunk) = &mut method {
            payload.snapshot_chunk = std::mem::take(chunk);
        }
        let mut request = Request::new(payload);
        request.set_timeout(option.hard_ttl());
        let reply = match method {
            Method::AppendEntries => client.append_entries(request).await,
            Method::Vote => client.vote(request).await,
            Method::InstallSnapshot(_) => client.install_snapshot(request).await,
        };
        match reply {
            Ok(reply) => Ok(reply.into_inner().message),
            Err(status) => {
                self.client = None;
                Err(Unreachable::new(&status))
            }
        }
    }

    /// Logs the peer going out of reach, and coming back, once each.
    fn note_reachability(&self, unreachable: Option<&Unreachable>) {
        let mut since = self
            .unreachable
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        match unreachable {
            Some(error) => {
                if let std::collections::btree_map::Entry::Vacant(entry) = since.entry(self.target)
                {
                    entry.insert(std::time::Instant::now());
                    tracing::warn!(
                        peer = self.target,
                        address = %self.address,
                        %error,
                        "peer out of reach; retrying every 500 ms (RUST_LOG=info,openraft=debug logs every attempt)"
                    );
                }
            }
            None => {
                if let Some(down_since) = since.remove(&self.target) {
                    tracing::info!(
                        peer = self.target,
                        address = %self.address,
                        out_of_reach_s = down_since.elapsed().as_secs(),
                        "peer reachable again"
                    );
                }
            }
        }
    }
}

enum Method {
    AppendEntries,
    Vote,
    /// With the snapshot chunk's bytes.
    InstallSnapshot(Vec<u8>),
}

impl RaftNetwork<TypeConfig> for Connection {
    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> RpcResult<AppendEntriesResponse<NodeId>, RaftError<NodeId>> {
        self.call(Method::AppendEntries, &rpc, &option).await
    }

    async fn install_snapshot(
        &mut self,
        mut rpc: InstallSnapshotRequest<TypeConfig>,
        option: RPCOption,
    ) -> RpcResult<InstallSnapshotResponse<NodeId>, RaftError<NodeId, InstallSnapshotError>> {
        // The chunk travels as it is, beside the message.
        let chunk = std::mem::take(&mut rpc.data);
        self.call(Method::InstallSnapshot(chunk), &rpc, &option)
            .await
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<NodeId>,
        option: RPCOption,
    ) -> RpcResult<VoteResponse<NodeId>, RaftError<NodeId>> {
        self.call(Method::Vote, &rpc, &option).await
    }
}

/// The `tansiq.v1.Cluster` service: Raft messages in, administration.
pub struct ClusterService {
    replication: Arc<Replication>,
}

impl ClusterService {
    pub fn new(replication: Arc<Replication>) -> Self {
        ClusterService { replication }
    }

    /// An administration call sent to a node that does not lead: the
    /// caller is told where the leader is (in the message and in the
    /// `tansiq-leader` metadata, which the CLI follows). The node does not
    /// pass it on: its own certificate may not administer the cluster.
    fn not_the_leader(
        &self,
        error: &RaftError<NodeId, ClientWriteError<NodeId, BasicNode>>,
    ) -> Status {
        let leader = match error {
            RaftError::APIError(ClientWriteError::ForwardToLeader(forward)) => {
                self.replication.forward_address(forward)
            }
            _ => None,
        };
        let Some(leader) = leader else {
            return admin_error(error);
        };
        let mut status = Status::failed_precondition(format!(
            "node {} is not the leader; send this to the leader at {leader}",
            self.replication.node_id
        ));
        if let Ok(value) = leader.parse() {
            status.metadata_mut().insert(LEADER_METADATA, value);
        }
        status
    }
}

/// Metadata naming the leader's address, on an administration call that a
/// follower refused.
pub const LEADER_METADATA: &str = "tansiq-leader";

/// Who asked, for the log line of a membership change.
fn asked_by<T>(request: &Request<T>) -> String {
    caller(request).map_or_else(
        || "a plaintext caller (loopback)".to_owned(),
        PeerIdentity::to_string,
    )
}

fn decode<T: DeserializeOwned>(payload: &pb::RaftPayload) -> Result<T, Status> {
    if !payload.json.is_empty() {
        return Err(Status::failed_precondition(
            "this peer sends Raft messages as JSON: it runs an older tansiq-node; every node of a cluster needs the same version",
        ));
    }
    decode_message(&payload.message)
        .map_err(|error| Status::invalid_argument(format!("not a Raft message: {error}")))
}

fn encode<T: Serialize>(value: &T) -> Result<Response<pb::RaftPayload>, Status> {
    encode_message(value)
        .map(|message| {
            Response::new(pb::RaftPayload {
                message,
                ..Default::default()
            })
        })
        .map_err(|error| Status::internal(format!("cannot encode a Raft reply: {error}")))
}

fn admin_error(error: impl std::fmt::Display) -> Status {
    Status::failed_precondition(error.to_string())
}

#[tonic::async_trait]
impl pb::cluster_server::Cluster for ClusterService {
    async fn append_entries(
        &self,
        request: Request<pb::RaftPayload>,
    ) -> Result<Response<pb::RaftPayload>, Status> {
        let rpc: AppendEntriesRequest<TypeConfig> = decode(request.get_ref())?;
        claimed_node_matches(
            caller(&request),
            rpc.vote.leader_id.voted_for(),
            "an AppendEntries",
        )?;
        encode(&self.replication.raft.append_entries(rpc).await)
    }

    async fn vote(
        &self,
        request: Request<pb::RaftPayload>,
    ) -> Result<Response<pb::RaftPayload>, Status> {
        let rpc: VoteRequest<NodeId> = decode(request.get_ref())?;
        claimed_node_matches(caller(&request), rpc.vote.leader_id.voted_for(), "a Vote")?;
        encode(&self.replication.raft.vote(rpc).await)
    }

    async fn install_snapshot(
        &self,
        request: Request<pb::RaftPayload>,
    ) -> Result<Response<pb::RaftPayload>, Status> {
        let identity = caller(&request).cloned();
        let payload = request.into_inner();
        let mut rpc: InstallSnapshotRequest<TypeConfig> = decode(&payload)?;
        claimed_node_matches(
            identity.as_ref(),
            rpc.vote.leader_id.voted_for(),
            "an InstallSnapshot",
        )?;
        rpc.data = payload.snapshot_chunk;
        encode(&self.replication.raft.install_snapshot(rpc).await)
    }

    async fn init(
        &self,
        request: Request<pb::InitRequest>,
    ) -> Result<Response<pb::ClusterStatus>, Status> {
        let asked_by = asked_by(&request);
        let members: BTreeMap<NodeId, BasicNode> = request
            .into_inner()
            .members
            .into_iter()
            .map(|m| (m.node_id, BasicNode { addr: m.address }))
            .collect();
        if members.is_empty() {
            return Err(Status::invalid_argument(
                "init needs at least one member: --member ID=URL",
            ));
        }
        let listed: Vec<String> = members
            .iter()
            .map(|(id, node)| format!("{id}={}", node.addr))
            .collect();
        self.replication
            .raft
            .initialize(members)
            .await
            .map_err(admin_error)?;
        tracing::info!(%asked_by, voters = %listed.join(", "), "cluster initialised");
        Ok(Response::new(self.replication.status()))
    }

    async fn add_learner(
        &self,
        request: Request<pb::AddLearnerRequest>,
    ) -> Result<Response<pb::ClusterStatus>, Status> {
        let asked_by = asked_by(&request);
        let member = request
            .into_inner()
            .member
            .ok_or_else(|| Status::invalid_argument("member is required"))?;
        let result = self
            .replication
            .raft
            .add_learner(
                member.node_id,
                BasicNode {
                    addr: member.address.clone(),
                },
                true,
            )
            .await;
        if let Err(error) = result {
            return Err(self.not_the_leader(&error));
        }
        tracing::info!(%asked_by, learner = member.node_id, address = %member.address, "learner added");
        Ok(Response::new(self.replication.status()))
    }

    async fn change_voters(
        &self,
        request: Request<pb::ChangeVotersRequest>,
    ) -> Result<Response<pb::ClusterStatus>, Status> {
        let asked_by = asked_by(&request);
        let request = request.into_inner();
        let voters: std::collections::BTreeSet<NodeId> = request.voters.iter().copied().collect();
        if voters.is_empty() {
            return Err(Status::invalid_argument(
                "a cluster needs at least one voter; name the ministry nodes that vote",
            ));
        }
        let result = self
            .replication
            .raft
            .change_membership(ChangeMembers::ReplaceAllVoters(voters.clone()), true)
            .await;
        if let Err(error) = result {
            return Err(self.not_the_leader(&error));
        }
        tracing::info!(%asked_by, voters = ?voters, "voters changed");
        Ok(Response::new(self.replication.status()))
    }

    async fn read_index(
        &self,
        _request: Request<pb::ReadIndexRequest>,
    ) -> Result<Response<pb::ReadIndexResponse>, Status> {
        match self.replication.raft.get_read_log_id().await {
            Ok((read, _)) => Ok(Response::new(pb::ReadIndexResponse {
                index: read.map_or(0, |log_id| log_id.index),
                leader_id: self.replication.node_id,
            })),
            Err(error) => Err(Status::unavailable(format!(
                "this node cannot serve a read index ({error})"
            ))),
        }
    }

    async fn status(
        &self,
        _request: Request<pb::ClusterStatusRequest>,
    ) -> Result<Response<pb::ClusterStatus>, Status> {
        Ok(Response::new(self.replication.status()))
    }
}
