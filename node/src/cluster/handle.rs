//! The node's [`Replication`] handle: `start` makes the Raft instance over
//! the ledger and composes the parts the other files own (who leads, the
//! way to the leader, the proposer, a donor site's outbox), spawns the
//! proposal and outbox-delivery loops, and routes a client's submission to
//! one of them. The parts never name the handle, so no file of the folder
//! imports a file that imports it back.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use tansiq_ledger::limits::{FIRST_LEADER_WAIT, SNAPSHOT_SEGMENT_TIMEOUT};

use openraft::Raft;
use tansiq_ledger::replication::{LogStore, NodeId, StateMachine, TypeConfig};
use tansiq_ledger::store::Tip;
use tansiq_ledger::Ledger;
use tansiq_proto::v1 as pb;
use tokio::sync::watch;
use tonic::Status;

use super::cosign::Cosigners;
use super::forward::{retryable, Forwarder};
use super::members::{Members, Peers, Route};
use super::network::Network;
use super::outbox::{deliver_loop, DonorOutbox};
use super::propose::{propose_loop, Proposer};
use super::reads::read_barrier;
use crate::committer::SubmitError;
use crate::convert::cluster_status;
use crate::convert::receipt_to_proto;
use crate::status::{outbox_status, read_status, rejection_status, store_status, submit_status};
use crate::tls::Tls;
use tansiq_ledger::limits::{APPEND_ENTRIES_MAX, SNAPSHOT_CHUNK_BYTES_MAX};

/// A node's Raft instance and what it replicates.
pub struct Replication {
    pub(crate) raft: Raft<TypeConfig>,
    pub(super) members: Arc<Members>,
    ledger: Arc<Ledger>,
    counters: Arc<tansiq_ledger::replication::Counters>,
    proposer: Proposer,
    forwarder: Arc<Forwarder>,
    outbox: Arc<DonorOutbox>,
    cosigners: Cosigners,
    /// /readyz: the most entries this node may lag its leader's commit index.
    ready_lag_max: u64,
}

/// How long /readyz waits for the leader's commit index: a probe must
/// answer well within a load balancer's timeout.
const READY_PROBE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);

/// How this node takes part in a cluster (from the node's flags).
#[derive(Clone, Default)]
pub(crate) struct ClusterSettings {
    pub(crate) peers: BTreeMap<NodeId, String>,
    pub(crate) snapshot_every: Option<u64>,
    /// Largest snapshot chunk sent (openraft's default when None).
    pub(crate) snapshot_chunk_bytes: Option<u64>,
    /// The node's TLS, used as client identity towards peers (None: plaintext).
    pub(crate) tls: Option<Tls>,
    /// /readyz: the most entries this node may lag its leader's commit index.
    pub(crate) ready_lag_max: u64,
}

impl Replication {
    /// Starts Raft for `node_id` over `ledger`, updating `tip` as entries apply.
    pub(crate) async fn start(
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
        let counters = machine.counters();
        let leader_test = machine.leader_test();
        let verified_here = machine.verified_here();
        let peers: Peers = Arc::new(settings.peers);
        let raft = Raft::new(
            node_id,
            config,
            Network::new(Arc::clone(&peers), settings.tls.clone()),
            LogStore::new(Arc::clone(&ledger)),
            machine,
        )
        .await?;
        let metrics = raft.metrics();
        let _ = leader_test.set(Box::new(move || {
            metrics.borrow().state == openraft::ServerState::Leader
        }));
        let (proposer, proposal_queue) = Proposer::new();
        let members = Arc::new(Members::new(node_id, raft.clone(), peers));
        let cosigners = Cosigners::new(Arc::clone(&members), settings.tls.clone());
        let forwarder = Arc::new(Forwarder::new(settings.tls));
        let outbox = Arc::new(DonorOutbox::new(node_id, Arc::clone(&ledger)));
        let replication = Arc::new(Replication {
            raft,
            members: Arc::clone(&members),
            ledger: Arc::clone(&ledger),
            counters,
            proposer,
            forwarder: Arc::clone(&forwarder),
            outbox: Arc::clone(&outbox),
            cosigners,
            ready_lag_max: settings.ready_lag_max,
        });
        tokio::spawn(propose_loop(
            Arc::clone(&members),
            ledger,
            proposal_queue,
            verified_here,
        ));
        tokio::spawn(deliver_loop(outbox, members, forwarder));
        Ok(replication)
    }

    /// A client's submission on a cluster node: proposed here when this
    /// node leads; otherwise forwarded, unchecked, to the leader (which
    /// checks it). A donor site (learner) that cannot reach the leader, or
    /// that has a backlog, keeps it in its outbox instead.
    pub(crate) async fn submit_from_client(
        &self,
        events: Vec<pb::SignedEvent>,
    ) -> Result<Vec<pb::Receipt>, Status> {
        let learner = self.members.is_learner();
        // A donor site with a backlog keeps order: behind the backlog.
        if learner && !self.outbox.is_empty().map_err(outbox_status)? {
            return self.accept_pending(events).await;
        }
        match self.members.route() {
            Route::Propose => self
                .proposer
                .propose(events)
                .await
                .map(|receipts| receipts.iter().map(receipt_to_proto).collect())
                .map_err(submit_status),
            Route::Forward(leader) if learner => {
                match self.forwarder.forward(&leader, events.clone()).await {
                    Err(status) if retryable(status.code()) => self.accept_pending(events).await,
                    answered => answered,
                }
            }
            Route::Forward(leader) => self.forwarder.forward(&leader, events).await,
            Route::NoLeader if learner => self.accept_pending(events).await,
            Route::NoLeader => Err(submit_status(SubmitError::NoLeader)),
        }
    }

    /// Refuses `request` with the ledger's reason, writing nothing, unless
    /// the ledger would accept it now (an already-recorded event counts as
    /// accepted: its receipt says `duplicate`). For an action that must not
    /// happen unless its record on the ledger will be accepted.
    pub(super) async fn would_accept(
        &self,
        request: Vec<pb::SignedEvent>,
    ) -> Result<Vec<pb::Receipt>, Status> {
        let ledger = Arc::clone(&self.ledger);
        let outcome = tokio::task::spawn_blocking(move || ledger.try_request(request))
            .await
            .map_err(|error| Status::internal(format!("the ledger's check stopped: {error}")))?
            .map_err(|error| store_status(&error))?;
        outcome
            .map(|receipts| receipts.iter().map(receipt_to_proto).collect())
            .map_err(|rejection| rejection_status(&rejection))
    }

    /// Submits `event` once this node knows a leader (waiting up to
    /// [`FIRST_LEADER_WAIT`] for one, as right after a cluster is formed); its receipt.
    pub(super) async fn submit_once_led(
        &self,
        event: pb::SignedEvent,
    ) -> Result<pb::Receipt, Status> {
        let deadline = tokio::time::Instant::now() + FIRST_LEADER_WAIT;
        while matches!(self.members.route(), Route::NoLeader) {
            if tokio::time::Instant::now() >= deadline {
                return Err(submit_status(SubmitError::NoLeader));
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        self.submit_from_client(vec![event])
            .await?
            .pop()
            .ok_or_else(|| Status::internal("the ledger gave no receipt"))
    }

    /// The Raft log index this node has applied.
    pub(crate) fn applied_index(&self) -> u64 {
        self.members.applied_index()
    }

    /// Sets the Raft gauges and counters of `/metrics` from this member's
    /// Raft metrics, its state machine's counts and its outbox.
    pub(crate) fn export_raft_metrics(&self, exported: &crate::exposition::Exported) {
        let metrics = self.raft.metrics().borrow().clone();
        exported.raft_term.set(metrics.current_term as i64);
        exported
            .raft_leader
            .set(i64::from(metrics.current_leader == Some(metrics.id)));
        let last = metrics.last_log_index.unwrap_or(0);
        exported.raft_last_log_index.set(last as i64);
        exported
            .raft_applied_index
            .set(metrics.last_applied.map_or(0, |id| id.index) as i64);
        exported
            .raft_snapshot_index
            .set(metrics.snapshot.map_or(0, |id| id.index) as i64);
        exported
            .raft_purged_index
            .set(metrics.purged.map_or(0, |id| id.index) as i64);
        exported
            .raft_commit_index
            .set(leader_commit_index(&metrics).unwrap_or(0) as i64);
        exported.raft_peer_lag.reset();
        if let Some(replication) = &metrics.replication {
            for (peer, matched) in replication {
                let matched = matched.map_or(0, |id| id.index);
                exported
                    .raft_peer_lag
                    .with_label_values(&[&peer.to_string()])
                    .set(last.saturating_sub(matched) as i64);
            }
        }
        let counters = &self.counters;
        crate::exposition::catch_up(&[
            (&exported.events_applied, &counters.events_applied),
            (&exported.refused_at_apply, &counters.refused_at_apply),
            (&exported.snapshots_built, &counters.snapshots_built),
            (&exported.snapshots_installed, &counters.snapshots_installed),
        ]);
        // Not set when it cannot be read: 0 would read as "delivered".
        if let Ok(waiting) = self.outbox.waiting() {
            exported.outbox_requests.set(waiting.requests as i64);
            exported.outbox_events.set(waiting.events as i64);
        }
        exported.proposal_queue.set(self.proposer.queued() as i64);
    }

    /// Whether this member should take clients (`/readyz`): its Raft core
    /// runs, it knows a leader, and the leader's commit index (which the
    /// leader confirms with a quorum, as for a linearizable read) is at
    /// most `ready_lag_max` entries beyond what this member applied. Ok
    /// with what it checked, Err with why not.
    pub(crate) async fn readiness(&self) -> Result<String, String> {
        let metrics = self.raft.metrics().borrow().clone();
        if let Err(fatal) = &metrics.running_state {
            return Err(format!("its Raft core stopped: {fatal}"));
        }
        if metrics.current_leader.is_none() {
            return Err("it knows no leader (an election is under way, or no quorum)".into());
        }
        let committed = tokio::time::timeout(
            READY_PROBE_TIMEOUT,
            super::reads::read_index(&self.members, &self.forwarder),
        )
        .await
        .map_err(|_| {
            format!(
                "its leader did not confirm its commit index within {} s",
                READY_PROBE_TIMEOUT.as_secs()
            )
        })?
        .map_err(|error| {
            format!(
                "its leader's commit index is not known: {}",
                crate::status::read_status(error).message()
            )
        })?;
        let applied = self.members.applied_index();
        let lag = committed.saturating_sub(applied);
        let max = self.ready_lag_max;
        if lag > max {
            return Err(format!(
                "it has applied up to Raft index {applied}, {lag} entries behind its leader's commit index {committed} (more than {max}): it is catching up"
            ));
        }
        Ok(format!(
            "a leader known, applied up to Raft index {applied} of the leader's commit index {committed} (at most {max} behind)"
        ))
    }

    /// Waits until this node has applied every entry committed before the
    /// call (see [`read_barrier`]); returns the applied index the read will
    /// reflect.
    pub(crate) async fn read_barrier(&self) -> Result<u64, Status> {
        read_barrier(&self.members, &self.forwarder)
            .await
            .map_err(read_status)
    }

    /// A donor site's outbox takes the request (see [`DonorOutbox::accept_pending`]).
    async fn accept_pending(
        &self,
        events: Vec<pb::SignedEvent>,
    ) -> Result<Vec<pb::Receipt>, Status> {
        self.outbox
            .accept_pending(events)
            .await
            .map_err(outbox_status)
    }

    /// This node's view of the cluster.
    pub(super) fn status(&self) -> pb::ClusterStatus {
        let metrics = self.raft.metrics().borrow().clone();
        let tip = self.ledger.tip().ok();
        cluster_status(
            &metrics,
            tip,
            self.counters.refused_at_apply.load(Ordering::Relaxed),
            self.outbox.pending(),
            &self.cosigners.keys(),
        )
    }

    /// Every other voter's signed checkpoint of the tree of `size` (see
    /// `cosign`): what this node's checkpoint carries beside its own.
    pub(crate) async fn voters_checkpoints(&self, size: u64) -> Vec<(Vec<u8>, String)> {
        self.cosigners.checkpoints(size).await
    }

    /// Whether this node is a learner (a donor site's), not a voter.
    pub(crate) fn is_learner(&self) -> bool {
        self.members.is_learner()
    }

    /// How many signatures a checkpoint this node makes can carry: its
    /// own and every other voter's.
    pub(crate) fn possible_cosigners(&self) -> usize {
        1 + self.members.other_voters().len()
    }

    /// Records this node's log key (shown by `tansiq cluster status`).
    pub(crate) fn own_log_key(&self, key: &str) {
        self.cosigners.own_key(key);
    }
}

/// On the leader, the highest log index a majority of the voters hold (its
/// own log, and each voter's matched index): what it has committed, as far
/// as its metrics tell. None elsewhere. In a joint membership (during a
/// change) the voters of both configurations count as one set.
fn leader_commit_index(
    metrics: &openraft::RaftMetrics<NodeId, openraft::BasicNode>,
) -> Option<u64> {
    let replication = metrics.replication.as_ref()?;
    let mut held: Vec<u64> = metrics
        .membership_config
        .voter_ids()
        .map(|voter| {
            if voter == metrics.id {
                metrics.last_log_index.unwrap_or(0)
            } else {
                replication
                    .get(&voter)
                    .and_then(|matched| matched.map(|id| id.index))
                    .unwrap_or(0)
            }
        })
        .collect();
    if held.is_empty() {
        return None;
    }
    held.sort_unstable_by(|a, b| b.cmp(a));
    Some(held[held.len() / 2])
}
