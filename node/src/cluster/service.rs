//! The gated `tansiq.v1.Cluster` service: Raft messages from the other
//! members in (each checked against the caller's certificate, decoded from
//! postcard, handed to openraft, the reply encoded back), and the cluster's
//! administration (init, add a learner, change the voters, read index,
//! status). Which certificate may call what is the gate's
//! (`crate::peer_identity::ClusterGate`), in front of this service.

use std::collections::BTreeMap;
use std::sync::Arc;

use openraft::error::{ClientWriteError, RaftError};
use openraft::raft::{AppendEntriesRequest, InstallSnapshotRequest, VoteRequest};
use openraft::{BasicNode, ChangeMembers};
use serde::de::DeserializeOwned;
use serde::Serialize;
use tansiq_ledger::replication::{NodeId, TypeConfig};

use super::wire::{decode_message, encode_message};
use tansiq_proto::v1 as pb;
use tonic::{Request, Response, Status};

use super::handle::Replication;
use crate::convert::members_from_proto;
use crate::peer_identity::{caller, claimed_node_matches, PeerIdentity};

/// The `tansiq.v1.Cluster` service: Raft messages in, administration.
pub(crate) struct ClusterService {
    replication: Arc<Replication>,
}

impl ClusterService {
    pub(crate) fn new(replication: Arc<Replication>) -> Self {
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
                self.replication.members.forward_address(forward)
            }
            _ => None,
        };
        let Some(leader) = leader else {
            return admin_error(error);
        };
        let mut status = Status::failed_precondition(format!(
            "node {} is not the leader; send this to the leader at {leader}",
            self.replication.members.node_id
        ));
        if let Ok(value) = leader.parse() {
            status.metadata_mut().insert(LEADER_METADATA, value);
        }
        status
    }
}

/// Metadata naming the leader's address, on an administration call that a
/// follower refused (wire format: the CLI reads the same name).
const LEADER_METADATA: &str = "tansiq-leader";

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
        let members: BTreeMap<NodeId, BasicNode> = members_from_proto(request.into_inner().members);
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
                leader_id: self.replication.members.node_id,
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
