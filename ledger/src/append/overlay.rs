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
    pub(super) fn absorb(&mut self, other: Overlay) {
        self.keys.extend(other.keys);
        self.key_events.extend(other.key_events);
        self.logged.extend(other.logged);
        self.orgs.extend(other.orgs);
        self.projects.extend(other.projects);
        self.identifiers.extend(other.identifiers);
        self.municipalities.extend(other.municipalities);
        self.appended.extend(other.appended);
        self.project_versions.extend(other.project_versions);
        self.project_events.extend(other.project_events);
        self.coverage.extend(other.coverage);
        self.left.extend(other.left);
        self.needs.extend(other.needs);
        self.policies.extend(other.policies);
        self.policy_writes.extend(other.policy_writes);
        self.reviews.extend(other.reviews);
        self.review_writes.extend(other.review_writes);
        self.touched.extend(other.touched);
    }
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
