//! Changes a request or a group staged and has not written, and the
//! records read during one group.

use std::cell::RefCell;
use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use tansiq_proto::v1 as pb;

use crate::ids::{EventId, LogPosition, PublicKeyBytes};
use crate::reject::Rejection;
use crate::store::{
    KeyRecord, LogRecord, MunicipalityRecord, OrgRecord, ProjectRecord, StoreError,
};
use crate::store::{NeedRecord, PolicyRecord, ReviewRecord};

use super::receipt::Logged;

/// Changes staged by a request or a group, not yet written.
#[derive(Default)]
pub(super) struct Overlay {
    pub(super) keys: HashMap<PublicKeyBytes, KeyRecord>,
    pub(super) key_events: HashMap<(PublicKeyBytes, u64), EventId>,
    /// Each event staged, for a repeat later in the group: its receipt's
    /// place in the log (the warnings were told once, and are not kept).
    pub(super) logged: HashMap<EventId, Logged>,
    pub(super) orgs: HashMap<String, OrgRecord>,
    pub(super) projects: HashMap<String, Arc<ProjectRecord>>,
    /// IATI activity identifier → the project staged with it last.
    pub(super) identifiers: HashMap<String, String>,
    pub(super) municipalities: HashMap<String, MunicipalityRecord>,
    pub(super) appended: Vec<(LogRecord, pb::SignedEvent)>,
    // Coverage projections: versions and index entries to write, and the
    // latest policies and reviews for reads within the group.
    /// Each with its commit time: a batch of several groups (a state
    /// machine's apply, a rebuild) holds versions of several times.
    pub(super) project_versions: Vec<(String, LogPosition, Arc<ProjectRecord>, i64)>,
    pub(super) project_events: Vec<(String, LogPosition, EventId)>,
    pub(super) coverage: BTreeSet<(String, String, String)>,
    /// Places projects left: (P-code, sector, project id).
    pub(super) left: Vec<(String, String, String)>,
    pub(super) needs: Vec<(String, String, LogPosition, NeedRecord)>,
    pub(super) policies: HashMap<String, PolicyRecord>,
    pub(super) policy_writes: Vec<(String, LogPosition, PolicyRecord)>,
    pub(super) reviews: HashMap<(String, String), ReviewRecord>,
    pub(super) review_writes: Vec<(String, String, LogPosition, ReviewRecord)>,
    /// (P-code, sector) cells whose counts the writes may change (see `coverage::Tally`).
    pub(super) touched: BTreeSet<(String, String)>,
}

impl Overlay {
    /// Takes `later`'s changes (a request's) after this one's (its
    /// group's): for a key both hold, `later`'s record wins; lists keep
    /// their order, this one's first.
    pub(super) fn absorb(&mut self, later: Overlay) {
        merge_map(&mut self.keys, later.keys);
        merge_map(&mut self.key_events, later.key_events);
        merge_map(&mut self.logged, later.logged);
        merge_map(&mut self.orgs, later.orgs);
        merge_map(&mut self.projects, later.projects);
        merge_map(&mut self.identifiers, later.identifiers);
        merge_map(&mut self.municipalities, later.municipalities);
        merge_list(&mut self.appended, later.appended);
        merge_list(&mut self.project_versions, later.project_versions);
        merge_list(&mut self.project_events, later.project_events);
        merge_set(&mut self.coverage, later.coverage);
        merge_list(&mut self.left, later.left);
        merge_list(&mut self.needs, later.needs);
        merge_map(&mut self.policies, later.policies);
        merge_list(&mut self.policy_writes, later.policy_writes);
        merge_map(&mut self.reviews, later.reviews);
        merge_list(&mut self.review_writes, later.review_writes);
        merge_set(&mut self.touched, later.touched);
    }
}

/// `later`'s entries into `earlier`, `later`'s winning where both hold a
/// key, the smaller map moved into the larger: a group absorbing a request
/// larger than itself (its first, or a rebuild's whole group of events in
/// one request) does not copy and rehash the larger one.
fn merge_map<K: Eq + std::hash::Hash, V>(earlier: &mut HashMap<K, V>, mut later: HashMap<K, V>) {
    if earlier.len() < later.len() {
        std::mem::swap(earlier, &mut later);
        // `earlier` holds the later entries now: the earlier ones fill in
        // only the keys the later did not name.
        for (key, value) in later {
            earlier.entry(key).or_insert(value);
        }
    } else {
        earlier.extend(later);
    }
}

/// `later` after `earlier`, moved whole when `earlier` is empty.
fn merge_list<T>(earlier: &mut Vec<T>, later: Vec<T>) {
    if earlier.is_empty() {
        *earlier = later;
    } else {
        earlier.extend(later);
    }
}

fn merge_set<T: Ord>(earlier: &mut BTreeSet<T>, mut later: BTreeSet<T>) {
    if earlier.len() < later.len() {
        std::mem::swap(earlier, &mut later);
    }
    earlier.append(&mut later);
}

/// What an accepted event's author is told besides its receipt.
#[derive(Default)]
pub(super) struct Effects {
    pub(super) warnings: Vec<super::receipt::Warning>,
    pub(super) pending_review: bool,
}

pub(super) enum StageError {
    Rejected(Rejection),
    Store(StoreError),
}

impl From<Rejection> for StageError {
    fn from(rejection: Rejection) -> Self {
        StageError::Rejected(rejection)
    }
}

impl From<StoreError> for StageError {
    fn from(error: StoreError) -> Self {
        StageError::Store(error)
    }
}

/// Records read from the store during one commit group. The store does not
/// change while a group is staged (one writer), so what was read stays true
/// unless the group itself changes it, and the overlays are looked at first.
#[derive(Default)]
pub(super) struct GroupCache {
    pub(super) keys: RefCell<HashMap<PublicKeyBytes, Option<KeyRecord>>>,
    pub(super) key_events: RefCell<HashMap<(PublicKeyBytes, u64), Option<EventId>>>,
    pub(super) orgs: RefCell<HashMap<String, Option<OrgRecord>>>,
    pub(super) projects: RefCell<HashMap<String, Option<Arc<ProjectRecord>>>>,
    pub(super) municipalities: RefCell<HashMap<String, Option<MunicipalityRecord>>>,
    /// Sector policies: looked up on every registration, rarely changed.
    pub(super) policies: RefCell<HashMap<String, Option<PolicyRecord>>>,
}

#[cfg(test)]
mod tests {
    use super::{merge_list, merge_map, merge_set};
    use std::collections::{BTreeSet, HashMap};

    /// Whichever map is larger, the later record of a key wins and every
    /// key of both is kept; lists keep their order; sets their union.
    #[test]
    fn a_later_change_wins_whichever_side_is_larger() {
        for (earlier_len, later_len) in [(1, 3), (3, 1), (0, 2), (2, 0), (2, 2)] {
            let earlier: HashMap<u32, &str> = (0..earlier_len).map(|k| (k, "earlier")).collect();
            let later: HashMap<u32, &str> = (1..=later_len).map(|k| (k, "later")).collect();
            let mut merged = earlier.clone();
            merge_map(&mut merged, later.clone());
            let mut expected = earlier;
            expected.extend(later);
            assert_eq!(merged, expected, "{earlier_len} then {later_len}");
        }
        let mut list = vec![1, 2];
        merge_list(&mut list, vec![3]);
        let mut empty = Vec::new();
        merge_list(&mut empty, vec![4, 5]);
        assert_eq!((list, empty), (vec![1, 2, 3], vec![4, 5]));
        let mut set = BTreeSet::from([1]);
        merge_set(&mut set, BTreeSet::from([1, 2, 3]));
        assert_eq!(set, BTreeSet::from([1, 2, 3]));
    }
}
