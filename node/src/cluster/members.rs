//! Who is who in this node's cluster, as its Raft metrics say: which node
//! leads (and so where a client's submission goes), whether this node is a
//! voter or a learner, how far it has applied its log, and the address it
//! reaches each member at (a `--peer` override, else the membership's).

use std::collections::BTreeMap;
use std::sync::Arc;

use openraft::error::ForwardToLeader;
use openraft::{BasicNode, Raft};
use tansiq_ledger::replication::{NodeId, TypeConfig};

/// Addresses that override the membership's, by node id (`--peer`).
pub(super) type Peers = Arc<BTreeMap<NodeId, String>>;

/// Where a client's submission goes from this node.
pub(super) enum Route {
    /// This node leads: propose it here.
    Propose,
    /// Another node leads, at this address.
    Forward(String),
    /// No leader known (election under way, or cut off).
    NoLeader,
}

/// This node's Raft instance, read for who leads and who votes, and the
/// addresses this node reaches the other members at.
pub(super) struct Members {
    pub(super) node_id: NodeId,
    /// The same Raft instance as [`super::handle::Replication`]'s (a
    /// `Raft` is a shared handle; cloning it starts nothing).
    pub(super) raft: Raft<TypeConfig>,
    peers: Peers,
}

impl Members {
    pub(super) fn new(node_id: NodeId, raft: Raft<TypeConfig>, peers: Peers) -> Self {
        Members {
            node_id,
            raft,
            peers,
        }
    }

    /// Where a submission goes from this node, by its view of the leader.
    pub(super) fn route(&self) -> Route {
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

    /// The other members, as `id=address`, for a client that must go elsewhere.
    pub(super) fn other_members(&self) -> String {
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

    /// The other voters, and where this node reaches each.
    pub(super) fn other_voters(&self) -> Vec<(NodeId, String)> {
        let metrics = self.raft.metrics().borrow().clone();
        let membership = metrics.membership_config.membership();
        membership
            .voter_ids()
            .filter(|id| *id != self.node_id)
            .filter_map(|id| {
                membership
                    .get_node(&id)
                    .map(|node| (id, self.address_of(id, &node.addr)))
            })
            .collect()
    }

    /// A node that is not a voter: a donor site's node.
    pub(super) fn is_learner(&self) -> bool {
        let metrics = self.raft.metrics();
        let is_voter = metrics
            .borrow()
            .membership_config
            .membership()
            .voter_ids()
            .any(|id| id == self.node_id);
        !is_voter
    }

    /// Where this node reaches `node`: its `--peer` override, else the
    /// membership's address.
    pub(super) fn address_of(&self, node: NodeId, advertised: &str) -> String {
        self.peers
            .get(&node)
            .cloned()
            .unwrap_or_else(|| advertised.to_owned())
    }

    /// Where this node reaches the leader a `ForwardToLeader` names.
    pub(super) fn forward_address(
        &self,
        forward: &ForwardToLeader<NodeId, BasicNode>,
    ) -> Option<String> {
        let node = forward.leader_node.as_ref()?;
        Some(match forward.leader_id {
            Some(id) => self.address_of(id, &node.addr),
            None => node.addr.clone(),
        })
    }

    /// Whether this node's Raft log holds entries it has not applied yet.
    pub(super) fn log_ahead_of_apply(&self) -> bool {
        let metrics = self.raft.metrics();
        let metrics = metrics.borrow();
        metrics.last_log_index.unwrap_or_default()
            > metrics.last_applied.map_or(0, |log_id| log_id.index)
    }

    /// The Raft log index this node has applied.
    pub(super) fn applied_index(&self) -> u64 {
        self.raft
            .metrics()
            .borrow()
            .last_applied
            .map_or(0, |log_id| log_id.index)
    }
}
