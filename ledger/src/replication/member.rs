//! Which member a data directory belongs to, and a restored member's
//! return as a new member.
//!
//! Raft's safety rests on each member never forgetting its vote nor an
//! entry it acknowledged. A member started from an older copy of its store
//! (a backup) would have forgotten both: it could vote twice in a term, or
//! help elect a leader that lacks entries the cluster committed with its
//! acknowledgement. So a restored store forgets its Raft state altogether
//! ([`forget_for_rejoining`]: vote, Raft log, its member id) and may not
//! start under any id of the membership it was copied with: it rejoins as
//! a new member (a learner, then a voter), as etcd asks of a member whose
//! disk was lost. The ledger it holds stays, so it catches up from where the
//! backup was taken.

use serde::{Deserialize, Serialize};

use crate::store::{cf, Store, StoreError};

use super::meta::{
    json, read_meta, META_APPLIED, META_COMMITTED, META_INSTALLING, META_MEMBERSHIP, META_PURGED,
    META_VOTE,
};
use super::types::NodeId;

/// The member whose store this is (JSON: its node id, or `null` for a
/// single node), written at its first start.
const META_MEMBER: &[u8] = b"member";
/// What a restored store was a copy of ([`RestoredFrom`]).
const META_RESTORED_FROM: &[u8] = b"restored_from";

/// What a store restored from a member's backup was a copy of.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RestoredFrom {
    /// The member whose backup it was, if it recorded its id.
    pub member: Option<NodeId>,
    /// Every node of the membership the backup held (voters and learners).
    pub members: Vec<NodeId>,
}

/// Why a node may not start on a data directory.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MemberError {
    /// Another member's data directory.
    #[error("this data directory is cluster member {stored}'s, not member {asked}'s: start it with --node-id {stored} (each member keeps its own data directory)")]
    OtherMember {
        /// The member it belongs to.
        stored: NodeId,
        /// The id it was started with.
        asked: NodeId,
    },
    /// A cluster member's data directory started as a single node, or the reverse.
    #[error("this data directory is cluster member {0}'s: start it with --node-id {0} (a member's store started alone would write outside the cluster's log)")]
    MemberAlone(NodeId),
    /// A cluster member's data directory from before directories recorded
    /// their member, started as a single node.
    #[error("this data directory holds a cluster member's Raft state: start it with --node-id and that member's id (a member's store started alone would write outside the cluster's log)")]
    UnrecordedMemberAlone,
    /// A single node's data directory started as a cluster member.
    #[error("this data directory served a single node: a cluster member starts from an empty data directory (it catches up from the others) or from a member's backup")]
    SingleAsMember,
    /// A restored store started under an id of the membership it was copied with.
    #[error("this data directory was restored from a backup of {from} (members then: {members}); a restored member rejoins as a new member, since its old vote and log must not come back: give it a node id never used in this cluster (above {highest}, the highest when the backup was taken; `tansiq cluster status` lists today's) and a certificate naming it; as the ministry, first `tansiq cluster remove OLD_ID` if the old member is still a voter, then start this node, `tansiq cluster add-learner NEW_ID=URL`, and `tansiq cluster promote NEW_ID` once `tansiq cluster status` shows it caught up")]
    Restored {
        /// Which member the backup was of.
        from: String,
        /// The membership's ids, listed.
        members: String,
        /// The highest id it names.
        highest: NodeId,
    },
    /// Reading or writing the store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The member a store belongs to: None when it never ran, Some(None) for
/// a single node's, Some(Some(id)) for member `id`'s.
pub fn member_of(store: &Store) -> Result<Option<Option<NodeId>>, StoreError> {
    read_meta(store, META_MEMBER)
}

/// Checks that a node may start on `store` as `node_id` (None: a single
/// node), and records it at the first start (one synced write).
pub fn claim(store: &Store, node_id: Option<NodeId>) -> Result<(), MemberError> {
    match (member_of(store)?, node_id) {
        (Some(Some(stored)), Some(asked)) if stored != asked => {
            return Err(MemberError::OtherMember { stored, asked })
        }
        (Some(Some(stored)), None) => return Err(MemberError::MemberAlone(stored)),
        (Some(None), Some(_)) => return Err(MemberError::SingleAsMember),
        (Some(_), _) => return Ok(()),
        (None, _) => {}
    }
    let restored_from = read_meta::<RestoredFrom>(store, META_RESTORED_FROM)?;
    // A member's store written before stores recorded their member; a
    // restored member's may serve alone (every voter lost: README).
    if node_id.is_none() && restored_from.is_none() && holds_raft_state(store)? {
        return Err(MemberError::UnrecordedMemberAlone);
    }
    if let (Some(asked), Some(restored)) = (node_id, restored_from) {
        if restored.members.contains(&asked) || restored.member == Some(asked) {
            let from = restored.member.map_or_else(
                || "a cluster member".to_owned(),
                |id| format!("member {id}"),
            );
            let members = restored
                .members
                .iter()
                .map(u64::to_string)
                .collect::<Vec<_>>()
                .join(", ");
            let highest = restored
                .members
                .iter()
                .chain(restored.member.iter())
                .max()
                .copied()
                .unwrap_or_default();
            return Err(MemberError::Restored {
                from,
                members,
                highest,
            });
        }
    }
    let mut batch = rocksdb::WriteBatch::default();
    batch.put_cf(store.cf(cf::RAFT_META), META_MEMBER, json(&node_id));
    store.write_synced(batch)?;
    Ok(())
}

/// Makes a restored copy of a member's store fit to rejoin as a new
/// member: forgets its vote, its committed index, its Raft log and its
/// member id, keeps the ledger and the applied log id (the log counts as
/// purged up to it, so the leader sends what follows, or a snapshot), and
/// records what it was a copy of. Returns that, or None for a single
/// node's store (nothing to forget).
pub fn forget_for_rejoining(store: &Store) -> Result<Option<RestoredFrom>, StoreError> {
    let membership = read_meta::<openraft::StoredMembership<NodeId, openraft::BasicNode>>(
        store,
        META_MEMBERSHIP,
    )?;
    let member = member_of(store)?.flatten();
    // A member's, even one that voted or logged before it applied a
    // membership (right after the cluster was formed).
    if membership.is_none() && member.is_none() && !holds_raft_state(store)? {
        return Ok(None);
    }
    let restored = RestoredFrom {
        member,
        members: membership
            .map(|membership| membership.membership().nodes().map(|(id, _)| *id).collect())
            .unwrap_or_default(),
    };
    let applied: Option<openraft::LogId<NodeId>> =
        read_meta::<Option<_>>(store, META_APPLIED)?.flatten();
    let meta = store.cf(cf::RAFT_META);
    let log = store.cf(cf::RAFT_LOG);
    let mut batch = rocksdb::WriteBatch::default();
    for key in [META_VOTE, META_COMMITTED, META_MEMBER] {
        batch.delete_cf(meta, key);
    }
    batch.put_cf(
        meta,
        META_INSTALLING,
        json(&None::<openraft::LogId<NodeId>>),
    );
    batch.delete_range_cf(log, 0u64.to_be_bytes(), u64::MAX.to_be_bytes());
    batch.delete_cf(log, u64::MAX.to_be_bytes());
    match applied {
        Some(applied) => batch.put_cf(meta, META_PURGED, json(&applied)),
        None => batch.delete_cf(meta, META_PURGED),
    }
    batch.put_cf(meta, META_RESTORED_FROM, json(&restored));
    store.write_synced(batch)?;
    Ok(Some(restored))
}

/// Whether the store holds a Raft member's state: a membership, a vote or
/// a Raft log entry.
fn holds_raft_state(store: &Store) -> Result<bool, StoreError> {
    if store.get_cf(cf::RAFT_META, META_MEMBERSHIP)?.is_some()
        || store.get_cf(cf::RAFT_META, META_VOTE)?.is_some()
    {
        return Ok(true);
    }
    let first = store
        .db()
        .iterator_cf(store.cf(cf::RAFT_LOG), rocksdb::IteratorMode::Start)
        .next()
        .transpose()?;
    Ok(first.is_some())
}
