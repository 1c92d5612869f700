//! Conversions between the ledger's and openraft's types and `tansiq.v1`
//! protobuf, in one place: receipts, log entries, a node's view of the
//! cluster (`ClusterStatus`), the receipt of a request accepted into a
//! donor site's outbox, and the members named to `Cluster.Init`. Pure: they
//! read nothing.

use std::collections::BTreeMap;

use openraft::{BasicNode, RaftMetrics};
use tansiq_ledger::ids::EventId;
use tansiq_ledger::replication::NodeId;
use tansiq_ledger::store::{LogRecord, Tip};
use tansiq_ledger::{Receipt, Warning};
use tansiq_proto::v1 as pb;

/// A node's view of the cluster, from its Raft metrics, the ledger's tip
/// (None when it cannot be read) and the node's counters.
pub(crate) fn cluster_status(
    metrics: &RaftMetrics<NodeId, BasicNode>,
    tip: Option<Tip>,
    refused_at_apply: u64,
    outbox_pending: u64,
    log_keys: &std::collections::BTreeMap<NodeId, String>,
) -> pb::ClusterStatus {
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
                log_key: log_keys.get(id).cloned().unwrap_or_default(),
            }
        })
        .collect();
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
        refused_at_apply,
        outbox_pending,
    }
}

/// The receipt of an event accepted into a donor site's outbox: pending,
/// with `note` saying why and what happens next.
pub(crate) fn pending_receipt(id: &EventId, note: &str) -> pb::Receipt {
    pb::Receipt {
        event_id: id.0.to_vec(),
        state: pb::ReceiptState::AcceptedPending as i32,
        warnings: vec![note.to_owned()],
        ..Default::default()
    }
}

/// The members `Cluster.Init` names, by node id (a node named twice keeps
/// its last address).
pub(crate) fn members_from_proto(members: Vec<pb::ClusterMember>) -> BTreeMap<NodeId, BasicNode> {
    members
        .into_iter()
        .map(|m| (m.node_id, BasicNode { addr: m.address }))
        .collect()
}

/// A committed event's receipt.
pub fn receipt_to_proto(receipt: &Receipt) -> pb::Receipt {
    pb::Receipt {
        event_id: receipt.event_id.0.to_vec(),
        position: receipt.position.0,
        head: receipt.head.0.to_vec(),
        state: pb::ReceiptState::Committed as i32,
        duplicate: receipt.duplicate,
        committed_at_ms: receipt.committed_at_ms,
        warnings: receipt.warnings.iter().map(Warning::text).collect(),
        pending_review: receipt.pending_review,
    }
}

/// A log record with its event, as Subscribe and ReadLog serve it.
pub fn log_entry(record: &LogRecord, event: pb::SignedEvent) -> pb::LogEntry {
    pb::LogEntry {
        position: record.position.0,
        event_id: record.event_id.0.to_vec(),
        head: record.head.0.to_vec(),
        event: Some(event),
        committed_at_ms: record.committed_at_ms,
    }
}
