//! `tansiq cluster`: form and watch a replicated cluster.

use std::path::PathBuf;

use anyhow::{bail, Context};
use serde_json::json;
use tansiq_ledger::author::now_ms;
use tansiq_ledger::event::Kind;
use tansiq_proto::v1 as pb;
use tansiq_proto::v1::cluster_client::ClusterClient;

use crate::args::{ClusterAction, Output};
use crate::output;
use crate::signer::author_for;

fn member(text: &str) -> anyhow::Result<pb::ClusterMember> {
    let (id, address) = text
        .split_once('=')
        .with_context(|| format!("{text:?} is not ID=URL, e.g. 2=http://10.0.0.2:50051"))?;
    Ok(pb::ClusterMember {
        node_id: id
            .parse()
            .with_context(|| format!("node id {id:?} is not a number"))?,
        address: address.to_owned(),
    })
}

/// Metadata with which a follower names the leader's address when it
/// refuses an administration call (the node does not pass such calls on).
const LEADER_METADATA: &str = "tansiq-leader";

pub async fn run(
    node: &str,
    output: Output,
    key: Option<PathBuf>,
    action: ClusterAction,
) -> anyhow::Result<()> {
    let mut result = run_action(node, key.clone(), action.clone()).await;
    // Administration goes to the leader: follow a follower's pointer once.
    let leader = result.as_ref().err().and_then(|error| {
        let status = error.downcast_ref::<tonic::Status>()?;
        let leader = status.metadata().get(LEADER_METADATA)?.to_str().ok()?;
        Some(leader.to_owned())
    });
    if let Some(leader) = leader {
        result = run_action(&leader, key, action).await;
    }
    match result {
        Err(error)
            if error
                .downcast_ref::<tonic::Status>()
                .is_some_and(|status| status.code() == tonic::Code::Unimplemented) =>
        {
            anyhow::bail!(
                "{node} is not a cluster member: start tansiq-node with --node-id N to use `tansiq cluster`"
            )
        }
        Err(error) => Err(error),
        Ok(status) => print_status(output, &status),
    }
}

/// Runs `action` on `node`; a membership change is signed with the key at
/// `key` (placed in its chain by that node's ledger).
async fn run_action(
    node: &str,
    key: Option<PathBuf>,
    action: ClusterAction,
) -> anyhow::Result<pb::ClusterStatus> {
    let mut client = ClusterClient::new(crate::client::channel(node).await?);
    let status = match action {
        ClusterAction::Init { members } => {
            let members = members
                .iter()
                .map(|m| member(m))
                .collect::<anyhow::Result<Vec<_>>>()?;
            let authorisation =
                authorise(node, key, pb::MembershipChange::Init, members.clone()).await?;
            client
                .init(pb::InitRequest {
                    members,
                    authorisation: Some(authorisation),
                })
                .await?
                .into_inner()
        }
        ClusterAction::AddLearner { member: text } => {
            let member = member(&text)?;
            let authorisation = authorise(
                node,
                key,
                pb::MembershipChange::AddLearner,
                vec![member.clone()],
            )
            .await?;
            client
                .add_learner(pb::AddLearnerRequest {
                    member: Some(member),
                    authorisation: Some(authorisation),
                })
                .await?
                .into_inner()
        }
        ClusterAction::Promote { node_id } | ClusterAction::Remove { node_id } => {
            let promote = matches!(action, ClusterAction::Promote { .. });
            let current = client
                .status(pb::ClusterStatusRequest {})
                .await?
                .into_inner();
            let mut voters: Vec<u64> = current
                .nodes
                .iter()
                .filter(|n| n.role == "voter")
                .map(|n| n.node_id)
                .collect();
            if promote {
                if !current.nodes.iter().any(|n| n.node_id == node_id) {
                    bail!("node {node_id} is not in the cluster; add it first with `tansiq cluster add-learner`");
                }
                voters.push(node_id);
            } else {
                voters.retain(|id| *id != node_id);
            }
            let named = voters
                .iter()
                .map(|&node_id| pb::ClusterMember {
                    node_id,
                    address: String::new(),
                })
                .collect();
            let authorisation =
                authorise(node, key, pb::MembershipChange::ChangeVoters, named).await?;
            client
                .change_voters(pb::ChangeVotersRequest {
                    voters,
                    authorisation: Some(authorisation),
                })
                .await?
                .into_inner()
        }
        ClusterAction::Status => client
            .status(pb::ClusterStatusRequest {})
            .await?
            .into_inner(),
    };
    Ok(status)
}

/// The ministry's signed authorisation of a membership change, which the
/// node writes to the ledger before it makes the change.
async fn authorise(
    node: &str,
    key: Option<PathBuf>,
    change: pb::MembershipChange,
    members: Vec<pb::ClusterMember>,
) -> anyhow::Result<pb::SignedEvent> {
    let mut ledger = crate::client::connect(node).await?;
    let mut author = author_for(&mut ledger, key)
        .await
        .context("a membership change is signed with a ministry key")?;
    let kind = Kind::MembershipChangeAuthorised(pb::MembershipChangeAuthorised {
        change: change as i32,
        members,
    });
    Ok(author.sign(kind, now_ms()).0)
}

fn print_status(output: Output, status: &pb::ClusterStatus) -> anyhow::Result<()> {
    if output == Output::Json {
        say!("{}", serde_json::to_string_pretty(status)?);
        return Ok(());
    }
    let leader = if status.has_leader {
        status.leader_id.to_string()
    } else {
        "none".into()
    };
    say!(
        "node {} ({}), leader {leader}, term {}, last log {}, applied {}, ledger position {}, head {}",
        status.node_id,
        status.state,
        status.term,
        status.last_log_index,
        status.applied_index,
        status.position,
        hex::encode(&status.head)
    );
    say!(
        "snapshot at {}, log purged through {}, refused at apply {}, outbox pending {}",
        status.snapshot_index,
        status.purged_index,
        status.refused_at_apply,
        status.outbox_pending
    );
    let columns = [
        ("node", 6),
        ("role", 8),
        ("matched", 8),
        ("lag", 6),
        ("address", 28),
        ("log_key", 0),
    ];
    output::header(output, &columns);
    for node in &status.nodes {
        output::row(
            output,
            &json!({
                "node": node.node_id,
                "role": node.role,
                "matched": node.matched_index,
                "lag": node.lag,
                "address": node.address,
                "log_key": node.log_key,
            }),
            &columns,
        );
    }
    Ok(())
}
