//! The gated `tansiq.v1.Cluster` service: Raft messages from the other
//! members in (each checked against the caller's certificate, decoded from
//! postcard, handed to openraft, the reply encoded back), and the cluster's
//! administration (init, add a learner, change the voters, read index,
//! status). Which certificate may call what is the gate's
//! (`crate::peer_identity::ClusterGate`), in front of this service.

use std::collections::{BTreeMap, BTreeSet};
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

use super::authorisation;
use super::handle::Replication;
use super::members::Route;
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

    /// Refuses a Raft message for another node: the membership may name
    /// this node's address for a member it is not (a restored member
    /// started on the old member's address before that one was removed),
    /// and answering for it would speak with a vote and log it never had.
    fn addressed_here(&self, payload: &pb::RaftPayload) -> Result<(), Status> {
        let here = self.replication.members.node_id;
        if payload.to_node == 0 || payload.to_node == here {
            return Ok(());
        }
        // Logged once per node named: the leader retries every 500 ms.
        static LOGGED: std::sync::Mutex<std::collections::BTreeSet<NodeId>> =
            std::sync::Mutex::new(std::collections::BTreeSet::new());
        if tansiq_ledger::sync::lock_whole(&LOGGED).insert(payload.to_node) {
            tracing::warn!(
                to_node = payload.to_node,
                here,
                "refused Raft messages for another node: the membership names this address for it (logged once)"
            );
        }
        Err(Status::failed_precondition(format!(
            "this Raft message is for node {}, and this is node {here}: the cluster's membership names this node's address for node {} (remove that member, or give this node another address)",
            payload.to_node, payload.to_node
        )))
    }

    /// Writes a membership change's authorisation to the ledger, on the
    /// leader, before the change is made: a follower sends the caller to
    /// the leader first (so the record and the change happen on one node),
    /// and an authorisation the ledger already holds is not used twice.
    async fn record(&self, signed: pb::SignedEvent) -> Result<pb::Receipt, Status> {
        match self.replication.members.route() {
            Route::Propose => {}
            Route::Forward(leader) => return Err(self.leader_is_at(leader)),
            Route::NoLeader => {
                return Err(Status::unavailable(
                    "the cluster has no leader right now (an election is under way, or this node is cut off); retry in a moment",
                ))
            }
        }
        // Refused here, what the ledger would refuse never enters the Raft log.
        let tried = self.replication.would_accept(vec![signed.clone()]).await?;
        tried.iter().try_for_each(authorisation::first_use)?;
        let receipt = self
            .replication
            .submit_from_client(vec![signed])
            .await?
            .pop()
            .ok_or_else(|| Status::internal("the ledger gave no receipt for the authorisation"))?;
        authorisation::first_use(&receipt)?;
        Ok(receipt)
    }

    /// A membership change made: its log line (who asked, who authorised
    /// it, where the ledger holds the authorisation, what changed) and the
    /// caller's answer, this node's view of the cluster.
    fn changed(
        &self,
        asked_by: &str,
        authorised_by: &str,
        receipt: &pb::Receipt,
        asked: &pb::MembershipChangeAuthorised,
    ) -> Response<pb::ClusterStatus> {
        tracing::info!(
            %asked_by,
            %authorised_by,
            position = receipt.position,
            change = %authorisation::summary(asked),
            "cluster membership changed"
        );
        Response::new(self.replication.status())
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
        self.leader_is_at(leader)
    }

    /// Sends the caller of an administration call to the leader, at `leader`.
    fn leader_is_at(&self, leader: String) -> Status {
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
        self.addressed_here(request.get_ref())?;
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
        self.addressed_here(request.get_ref())?;
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
        self.addressed_here(&payload)?;
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
        let request = request.into_inner();
        if request.members.is_empty() {
            return Err(Status::invalid_argument(
                "init needs at least one member: --member ID=URL",
            ));
        }
        let asked = authorisation::asked(pb::MembershipChange::Init, request.members.clone());
        let (signed, authorised_by) = authorisation::matching(request.authorisation, &asked)?;
        // Nothing happens unless the ledger will take the record of it.
        let tried = self.replication.would_accept(vec![signed.clone()]).await?;
        tried.iter().try_for_each(authorisation::first_use)?;
        let members: BTreeMap<NodeId, BasicNode> = members_from_proto(request.members);
        self.replication
            .raft
            .initialize(members)
            .await
            .map_err(admin_error)?;
        // The record goes to the first leader, once the new cluster has one.
        let receipt = self.replication.submit_once_led(signed).await.map_err(|status| {
            Status::new(
                status.code(),
                format!(
                    "the cluster was formed, but its authorisation is not on the ledger yet: {}; submit the same signed authorisation again once a leader is elected",
                    status.message()
                ),
            )
        })?;
        authorisation::first_use(&receipt)?;
        Ok(self.changed(&asked_by, &authorised_by, &receipt, &asked))
    }

    async fn add_learner(
        &self,
        request: Request<pb::AddLearnerRequest>,
    ) -> Result<Response<pb::ClusterStatus>, Status> {
        let asked_by = asked_by(&request);
        let request = request.into_inner();
        let member = request
            .member
            .ok_or_else(|| Status::invalid_argument("member is required"))?;
        let asked = authorisation::asked(pb::MembershipChange::AddLearner, vec![member.clone()]);
        let (signed, authorised_by) = authorisation::matching(request.authorisation, &asked)?;
        let receipt = self.record(signed).await?;
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
        Ok(self.changed(&asked_by, &authorised_by, &receipt, &asked))
    }

    async fn change_voters(
        &self,
        request: Request<pb::ChangeVotersRequest>,
    ) -> Result<Response<pb::ClusterStatus>, Status> {
        let asked_by = asked_by(&request);
        let request = request.into_inner();
        let voters: BTreeSet<NodeId> = request.voters.iter().copied().collect();
        if voters.is_empty() {
            return Err(Status::invalid_argument(
                "a cluster needs at least one voter; name the ministry nodes that vote",
            ));
        }
        let named = voters
            .iter()
            .map(|&node_id| pb::ClusterMember {
                node_id,
                address: String::new(),
            })
            .collect();
        let asked = authorisation::asked(pb::MembershipChange::ChangeVoters, named);
        let (signed, authorised_by) = authorisation::matching(request.authorisation, &asked)?;
        let receipt = self.record(signed).await?;
        let result = self
            .replication
            .raft
            .change_membership(ChangeMembers::ReplaceAllVoters(voters), true)
            .await;
        if let Err(error) = result {
            return Err(self.not_the_leader(&error));
        }
        Ok(self.changed(&asked_by, &authorised_by, &receipt, &asked))
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
