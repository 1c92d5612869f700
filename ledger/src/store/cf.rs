//! Column families. Names are part of the on-disk format.

pub(crate) const META: &str = "meta";
pub(crate) const LOG: &str = "log";
pub(crate) const EVENTS: &str = "events";
pub(crate) const KEYS: &str = "keys";
pub(crate) const KEY_SEQUENCE: &str = "key_sequence";
pub(crate) const ORGS: &str = "orgs";
pub(crate) const MUNICIPALITIES: &str = "municipalities";
pub(crate) const PROJECTS: &str = "projects";
pub(crate) const EVIDENCE: &str = "evidence";
pub(crate) const PROJECT_VERSIONS: &str = "project_versions";
pub(crate) const PROJECT_EVENTS: &str = "project_events";
pub(crate) const COVERAGE: &str = "coverage";
pub(crate) const NEEDS: &str = "needs";
pub(crate) const POLICIES: &str = "policies";
pub(crate) const REVIEWS: &str = "reviews";
/// The log's Merkle tree: the hashes of its complete subtrees, by stored
/// hash index (see `crate::tree`), 32 bytes each.
pub(crate) const TREE: &str = "tree";
/// IATI activity identifier → the id of the project last written with it:
/// a hint, which that project's record confirms or not (store format 5;
/// it was a map in memory, which grew with the ledger).
pub(crate) const IATI_ACTIVITIES: &str = "iati_activities";
/// Raft's log entries (index → entry) and its vote, committed and purged
/// log ids, applied log id and membership (see `crate::replication`).
pub(crate) const RAFT_LOG: &str = "raft_log";
pub(crate) const RAFT_META: &str = "raft_meta";
/// A donor site's outbox: requests accepted while the leader was out of
/// reach (see `crate::replication::outbox`). Local to the node, never replicated.
pub(crate) const OUTBOX: &str = "outbox";
/// The column families a Raft snapshot carries: the ledger's whole state.
pub const STATE: &[&str] = &[
    META,
    LOG,
    EVENTS,
    KEYS,
    KEY_SEQUENCE,
    ORGS,
    MUNICIPALITIES,
    PROJECTS,
    EVIDENCE,
    PROJECT_VERSIONS,
    PROJECT_EVENTS,
    COVERAGE,
    NEEDS,
    POLICIES,
    REVIEWS,
    TREE,
    IATI_ACTIVITIES,
];
/// The column families that hold projections (rebuildable from the log).
pub const PROJECTIONS: &[&str] = &[
    ORGS,
    MUNICIPALITIES,
    PROJECTS,
    PROJECT_VERSIONS,
    PROJECT_EVENTS,
    COVERAGE,
    NEEDS,
    POLICIES,
    REVIEWS,
    IATI_ACTIVITIES,
];
/// The node's own families: the Raft log and metadata, the outbox.
pub const LOCAL: &[&str] = &[RAFT_LOG, RAFT_META, OUTBOX];

/// Every column family: the state, then the node's own.
pub fn all() -> impl Iterator<Item = &'static str> {
    STATE.iter().chain(LOCAL).copied()
}

#[cfg(test)]
mod family_tests {
    use crate::store::cf;

    #[test]
    fn a_snapshot_carries_the_state_and_never_the_raft_log_vote_or_outbox() {
        assert!(cf::STATE.iter().all(|family| !cf::LOCAL.contains(family)));
        for family in [cf::RAFT_LOG, cf::RAFT_META, cf::OUTBOX] {
            assert!(
                !cf::STATE.contains(&family),
                "{family} is never in a snapshot"
            );
        }
        assert!(cf::PROJECTIONS
            .iter()
            .all(|family| cf::STATE.contains(family)));
    }
}
