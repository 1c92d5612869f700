//! Tansiq's Raft types: what an entry carries (a proposal of client
//! requests), what applying it produced, and the binary forms of entries and
//! node-to-node messages (postcard).

use std::fmt::Debug;

use openraft::{BasicNode, Entry};
use serde::{Deserialize, Serialize};
use tansiq_proto::v1 as pb;

use crate::append::Receipt;
use crate::reject::Rejection;

/// A cluster member's Raft id.
pub type NodeId = u64;

openraft::declare_raft_types!(
    /// Tansiq's Raft types: entries carry client requests of signed events.
    pub TypeConfig:
        D = Proposal,
        R = Applied,
        NodeId = NodeId,
        Node = BasicNode,
        Entry = Entry<TypeConfig>,
        SnapshotData = tokio::fs::File,
        AsyncRuntime = openraft::TokioRuntime,
);

/// A Raft entry's payload: client requests (each atomic) and the commit time
/// the leader chose, so that every node stamps the events the same.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Proposal {
    /// The commit time the leader chose, ms since the Unix epoch.
    pub committed_at_ms: i64,
    /// The requests, in order.
    #[serde(with = "requests_as_protobuf")]
    pub requests: Vec<pb::SubmitBatchRequest>,
}

/// The requests of a proposal: in binary forms (the Raft log, node-to-node
/// messages) each is its protobuf bytes, as the client sent them; in JSON
/// (Raft log entries written before the binary form) the proto3 JSON
/// mapping, as before.
mod requests_as_protobuf {
    use prost::Message;
    use serde::de::Error;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};
    use tansiq_proto::v1 as pb;

    pub(super) fn serialize<S: Serializer>(
        requests: &[pb::SubmitBatchRequest],
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        if serializer.is_human_readable() {
            return requests.serialize(serializer);
        }
        serializer.collect_seq(
            requests
                .iter()
                .map(|request| serde_bytes::ByteBuf::from(request.encode_to_vec())),
        )
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Vec<pb::SubmitBatchRequest>, D::Error> {
        if deserializer.is_human_readable() {
            return Vec::<pb::SubmitBatchRequest>::deserialize(deserializer);
        }
        Vec::<serde_bytes::ByteBuf>::deserialize(deserializer)?
            .iter()
            .map(|bytes| pb::SubmitBatchRequest::decode(bytes.as_slice()).map_err(D::Error::custom))
            .collect()
    }
}

/// What applying an entry produced: one outcome per request of the proposal.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Applied {
    /// One outcome per request, in order.
    pub outcomes: Vec<AppliedOutcome>,
}

/// One request's outcome.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub enum AppliedOutcome {
    /// Committed: a receipt per event.
    Committed(Vec<Receipt>),
    /// Refused whole.
    Refused {
        /// The rejection's short code (see [`Rejection::reason`]).
        reason: String,
        /// The rejection's message.
        message: String,
        /// The typed rejection, on the node that applied it (not serialised).
        #[serde(skip)]
        rejection: Option<Box<Rejection>>,
    },
}
