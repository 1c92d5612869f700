//! Linearizable reads on a cluster node: the read barrier waits until this
//! node has applied everything committed before the read, at the index the
//! leader names after confirming its leadership with a quorum (asked over
//! `Cluster.ReadIndex` when another node leads).

use tansiq_ledger::limits::READ_BARRIER_TIMEOUT;

use openraft::error::{CheckIsLeaderError, RaftError};
use tansiq_proto::v1 as pb;
use tansiq_proto::v1::cluster_client::ClusterClient;
use tonic::Request;

use super::forward::Forwarder;
use super::members::Members;
use crate::status::ReadError;

/// Waits until this node has applied every entry committed before the
/// call: the leader confirms its leadership with a quorum and names the
/// index (asked over `Cluster.ReadIndex` when another node leads).
/// Returns the applied index the read will reflect.
pub(super) async fn read_barrier(
    members: &Members,
    forwarder: &Forwarder,
) -> Result<u64, ReadError> {
    let index = tokio::time::timeout(READ_BARRIER_TIMEOUT, read_index(members, forwarder))
        .await
        .map_err(|_| ReadError::LeaderSilent {
            waited_s: READ_BARRIER_TIMEOUT.as_secs(),
            applied_index: members.applied_index(),
        })??;
    members
        .raft
        .wait(Some(READ_BARRIER_TIMEOUT))
        .applied_index_at_least(Some(index), "linearizable read")
        .await
        .map_err(|error| ReadError::NotApplied {
            index,
            detail: error.to_string(),
        })?;
    Ok(members.applied_index().max(index))
}

/// The leader's commit index, once it confirmed its leadership with a
/// quorum (asked over `Cluster.ReadIndex` when another node leads).
pub(super) async fn read_index(members: &Members, forwarder: &Forwarder) -> Result<u64, ReadError> {
    match members.raft.get_read_log_id().await {
        Ok((read, _)) => Ok(read.map_or(0, |log_id| log_id.index)),
        Err(RaftError::APIError(CheckIsLeaderError::ForwardToLeader(forward))) => {
            let Some(leader) = members.forward_address(&forward) else {
                return Err(ReadError::NoLeader);
            };
            let unreachable = |detail: String| ReadError::LeaderUnreachable {
                leader: leader.clone(),
                detail,
            };
            let channel = forwarder
                .channel_to(&leader)
                .map_err(|status| unreachable(status.message().to_owned()))?;
            let mut client = ClusterClient::new(channel);
            let mut request = Request::new(pb::ReadIndexRequest {});
            request.set_timeout(READ_BARRIER_TIMEOUT);
            let reply = client
                .read_index(request)
                .await
                .map_err(|status| unreachable(status.message().to_owned()))?;
            Ok(reply.into_inner().index)
        }
        Err(error) => Err(ReadError::NoQuorum {
            detail: error.to_string(),
        }),
    }
}
