//! Replication: openraft over tonic. Node-to-node messages are openraft's own
//! types as JSON inside `tansiq.v1.Cluster` RPCs; the storage is
//! `tansiq_ledger::raft` (log and state machine in the ledger's RocksDB).
//!
//! A submission on a cluster node is decoded and its signatures checked
//! locally (bad input never reaches the log), then proposed as one Raft
//! entry; a follower or learner forwards it to the leader. Every node
//! re-verifies every signature when it applies the entry.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use openraft::error::{
    ClientWriteError, InstallSnapshotError, NetworkError, RPCError, RaftError, RemoteError,
    Unreachable,
};
use openraft::network::{RPCOption, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};
use openraft::{BasicNode, ChangeMembers, Raft, ServerState};
use serde::de::DeserializeOwned;
use serde::Serialize;
use tansiq_ledger::append::{decode_request, verify_requests};
use tansiq_ledger::author::now_ms;
use tansiq_ledger::raft::{AppliedOutcome, LogStore, NodeId, Proposal, StateMachine, TypeConfig};
use tansiq_ledger::store::Tip;
use tansiq_ledger::{Ledger, Receipt};
use tansiq_proto::v1 as pb;
use tansiq_proto::v1::cluster_client::ClusterClient;
use tansiq_proto::v1::ledger_client::LedgerClient;
use tokio::sync::watch;
use tonic::transport::Channel;
use tonic::{Request, Response, Status};

use crate::committer::SubmitError;

/// A node's Raft instance and what it replicates.
pub struct Replication {
    pub node_id: NodeId,
    pub raft: Raft<TypeConfig>,
    ledger: Arc<Ledger>,
}

impl Replication {
    /// Starts Raft for `node_id` over `ledger`, updating `tip` as entries apply.
    pub async fn start(
        node_id: NodeId,
        ledger: Arc<Ledger>,
        tip: watch::Sender<Tip>,
    ) -> anyhow::Result<Arc<Replication>> {
        let config = openraft::Config {
            cluster_name: ledger.chain().to_string(),
            heartbeat_interval: 200,
            election_timeout_min: 800,
            election_timeout_max: 1600,
            // Keep enough log for a follower that restarts to catch up from
            // it; beyond this, it gets a snapshot.
            snapshot_policy: openraft::SnapshotPolicy::LogsSinceLast(20_000),
            max_in_snapshot_log_to_keep: 5_000,
            ..Default::default()
        };
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
        let raft = Raft::new(
            node_id,
            config,
            Network,
            LogStore::new(Arc::clone(&ledger)),
            machine,
        )
        .await?;
        Ok(Arc::new(Replication {
            node_id,
            raft,
            ledger,
        }))
    }

    /// Checks a request locally, then commits it through Raft (forwarding
    /// to the leader when this node is not the leader).
    pub async fn submit(&self, events: Vec<pb::SignedEvent>) -> Result<Vec<Receipt>, SubmitError> {
        let chain = self.ledger.chain().clone();
        let mut requests = vec![decode_request(&chain, events.clone())];
        verify_requests(&chain, &mut requests);
        if let Some(Err(rejection)) = requests.pop() {
            return Err(SubmitError::Rejected(rejection));
        }
        let proposal = Proposal {
            committed_at_ms: now_ms(),
            requests: vec![pb::SubmitBatchRequest { events }],
        };
        match self.raft.client_write(proposal).await {
            Ok(response) => match response.data.outcomes.into_iter().next() {
                Some(AppliedOutcome::Committed(receipts)) => Ok(receipts),
                Some(AppliedOutcome::Refused {
                    rejection: Some(rejection),
                    ..
                }) => Err(SubmitError::Rejected(*rejection)),
                Some(AppliedOutcome::Refused { message, .. }) => {
                    Err(SubmitError::Storage(format!("refused at apply: {message}")))
                }
                None => Err(SubmitError::Storage(
                    "the applied entry returned no outcome".into(),
                )),
            },
            Err(RaftError::APIError(ClientWriteError::ForwardToLeader(forward))) => {
                match forward.leader_node {
                    Some(leader) => Err(SubmitError::Forward(leader.addr)),
                    None => Err(SubmitError::NoLeader),
                }
            }
            Err(error) => Err(SubmitError::Storage(format!("replication: {error}"))),
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
        }
    }

    pub fn is_leader(&self) -> bool {
        self.raft.metrics().borrow().state == ServerState::Leader
    }
}

/// Forwards a submission to the leader's Ledger service.
pub async fn forward(
    leader: &str,
    events: Vec<pb::SignedEvent>,
) -> Result<Vec<pb::Receipt>, Status> {
    let mut client = LedgerClient::connect(leader.to_owned())
        .await
        .map_err(|error| {
            Status::unavailable(format!(
                "this node is not the leader and cannot reach the leader at {leader} ({error}); retry"
            ))
        })?;
    Ok(client
        .submit_batch(pb::SubmitBatchRequest { events })
        .await?
        .into_inner()
        .receipts)
}

/// Creates a connection per peer; connects lazily.
pub struct Network;

pub struct Connection {
    target: NodeId,
    address: String,
    client: Option<ClusterClient<Channel>>,
}

impl RaftNetworkFactory<TypeConfig> for Network {
    type Network = Connection;

    async fn new_client(&mut self, target: NodeId, node: &BasicNode) -> Connection {
        Connection {
            target,
            address: node.addr.clone(),
            client: None,
        }
    }
}

type RpcResult<T, E> = Result<T, RPCError<NodeId, BasicNode, E>>;

impl Connection {
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
        let json =
            serde_json::to_vec(request).map_err(|e| RPCError::Network(NetworkError::new(&e)))?;
        if self.client.is_none() {
            let endpoint = tonic::transport::Endpoint::from_shared(self.address.clone())
                .map_err(|e| RPCError::Unreachable(Unreachable::new(&e)))?
                .connect_timeout(Duration::from_millis(500));
            let channel = endpoint
                .connect()
                .await
                .map_err(|e| RPCError::Unreachable(Unreachable::new(&e)))?;
            self.client = Some(
                ClusterClient::new(channel)
                    .max_decoding_message_size(usize::MAX)
                    .max_encoding_message_size(usize::MAX),
            );
        }
        let client = self.client.as_mut().expect("invariant: connected above");
        let mut request = Request::new(pb::RaftPayload { json });
        request.set_timeout(option.hard_ttl());
        let reply = match method {
            Method::AppendEntries => client.append_entries(request).await,
            Method::Vote => client.vote(request).await,
            Method::InstallSnapshot => client.install_snapshot(request).await,
        };
        let reply = match reply {
            Ok(reply) => reply.into_inner(),
            Err(status) => {
                self.client = None;
                return Err(RPCError::Unreachable(Unreachable::new(&status)));
            }
        };
        let result: Result<Resp, E> = serde_json::from_slice(&reply.json)
            .map_err(|e| RPCError::Network(NetworkError::new(&e)))?;
        result.map_err(|e| RPCError::RemoteError(RemoteError::new(self.target, e)))
    }
}

#[derive(Clone, Copy)]
enum Method {
    AppendEntries,
    Vote,
    InstallSnapshot,
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
        rpc: InstallSnapshotRequest<TypeConfig>,
        option: RPCOption,
    ) -> RpcResult<InstallSnapshotResponse<NodeId>, RaftError<NodeId, InstallSnapshotError>> {
        self.call(Method::InstallSnapshot, &rpc, &option).await
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
}

fn decode<T: DeserializeOwned>(payload: &pb::RaftPayload) -> Result<T, Status> {
    serde_json::from_slice(&payload.json)
        .map_err(|error| Status::invalid_argument(format!("not a Raft message: {error}")))
}

fn encode<T: Serialize>(value: &T) -> Result<Response<pb::RaftPayload>, Status> {
    serde_json::to_vec(value)
        .map(|json| Response::new(pb::RaftPayload { json }))
        .map_err(|error| Status::internal(format!("cannot encode a Raft reply: {error}")))
}

fn admin_error(error: impl std::fmt::Display) -> Status {
    Status::failed_precondition(error.to_string())
}

/// The leader's Cluster service, when `error` says another node leads.
async fn leader_client(
    error: &RaftError<NodeId, ClientWriteError<NodeId, BasicNode>>,
) -> Option<ClusterClient<Channel>> {
    let RaftError::APIError(ClientWriteError::ForwardToLeader(forward)) = error else {
        return None;
    };
    let leader = forward.leader_node.as_ref()?;
    ClusterClient::connect(leader.addr.clone()).await.ok()
}

#[tonic::async_trait]
impl pb::cluster_server::Cluster for ClusterService {
    async fn append_entries(
        &self,
        request: Request<pb::RaftPayload>,
    ) -> Result<Response<pb::RaftPayload>, Status> {
        let rpc: AppendEntriesRequest<TypeConfig> = decode(request.get_ref())?;
        encode(&self.replication.raft.append_entries(rpc).await)
    }

    async fn vote(
        &self,
        request: Request<pb::RaftPayload>,
    ) -> Result<Response<pb::RaftPayload>, Status> {
        let rpc: VoteRequest<NodeId> = decode(request.get_ref())?;
        encode(&self.replication.raft.vote(rpc).await)
    }

    async fn install_snapshot(
        &self,
        request: Request<pb::RaftPayload>,
    ) -> Result<Response<pb::RaftPayload>, Status> {
        let rpc: InstallSnapshotRequest<TypeConfig> = decode(request.get_ref())?;
        encode(&self.replication.raft.install_snapshot(rpc).await)
    }

    async fn init(
        &self,
        request: Request<pb::InitRequest>,
    ) -> Result<Response<pb::ClusterStatus>, Status> {
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
        self.replication
            .raft
            .initialize(members)
            .await
            .map_err(admin_error)?;
        Ok(Response::new(self.replication.status()))
    }

    async fn add_learner(
        &self,
        request: Request<pb::AddLearnerRequest>,
    ) -> Result<Response<pb::ClusterStatus>, Status> {
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
            return match leader_client(&error).await {
                Some(mut leader) => {
                    leader
                        .add_learner(pb::AddLearnerRequest {
                            member: Some(member),
                        })
                        .await
                }
                None => Err(admin_error(error)),
            };
        }
        Ok(Response::new(self.replication.status()))
    }

    async fn change_voters(
        &self,
        request: Request<pb::ChangeVotersRequest>,
    ) -> Result<Response<pb::ClusterStatus>, Status> {
        let request = request.into_inner();
        let voters: std::collections::BTreeSet<NodeId> = request.voters.iter().copied().collect();
        let result = self
            .replication
            .raft
            .change_membership(ChangeMembers::ReplaceAllVoters(voters), true)
            .await;
        if let Err(error) = result {
            return match leader_client(&error).await {
                Some(mut leader) => leader.change_voters(request).await,
                None => Err(admin_error(error)),
            };
        }
        Ok(Response::new(self.replication.status()))
    }

    async fn status(
        &self,
        _request: Request<pb::ClusterStatusRequest>,
    ) -> Result<Response<pb::ClusterStatus>, Status> {
        Ok(Response::new(self.replication.status()))
    }
}
