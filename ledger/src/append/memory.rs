//! What the one writer keeps in memory between commit groups: records read
//! again and again, the IATI identifiers' owners, the reviewed pairs.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Arc;

use crate::bounded_map::BoundedMap;
use crate::ids::PublicKeyBytes;
use crate::store::{KeyRecord, MunicipalityRecord, OrgRecord, ProjectRecord, Store, StoreError};
use crate::sync::lock_whole;

/// Records as last written, kept between commit groups: every event reads
/// its key and organisation, every registration its places' municipalities,
/// and the overlap check reads the records of the projects already in a
/// place, again and again. Filled as records are read
/// and written by the one writer (after its write succeeded); emptied when
/// full and when the state is replaced (a snapshot).
#[derive(Default)]
pub(super) struct CrossGroupCache {
    pub(super) keys: BoundedMap<PublicKeyBytes, KeyRecord>,
    pub(super) orgs: BoundedMap<String, OrgRecord>,
    pub(super) municipalities: BoundedMap<String, MunicipalityRecord>,
    pub(super) projects: BoundedMap<String, Arc<ProjectRecord>>,
    pub(super) reviewed: ReviewedPairs,
    /// The projects in each place, for the overlap check.
    pub(super) places: super::places::PlaceIndex,
    /// IATI organisation identifier → the organisation that registered it;
    /// loaded on first use, dropped when an organisation is written.
    pub(super) iati_owners: std::sync::Mutex<Option<Arc<HashMap<String, String>>>>,
}

impl CrossGroupCache {
    pub(super) fn iati_owners(
        &self,
        store: &Store,
    ) -> Result<Arc<HashMap<String, String>>, StoreError> {
        let mut owners = lock_whole(&self.iati_owners);
        if let Some(known) = owners.as_ref() {
            return Ok(Arc::clone(known));
        }
        let loaded: HashMap<String, String> = store
            .org_iati_identifiers()?
            .into_iter()
            .map(|(org, identifier)| (identifier, org))
            .collect();
        let loaded = Arc::new(loaded);
        *owners = Some(Arc::clone(&loaded));
        Ok(loaded)
    }

    pub(super) fn forget_iati_owners(&self) {
        *lock_whole(&self.iati_owners) = None;
    }
}

/// Which pairs of projects have a review. Nearly every pair the overlap
/// check meets has none, and asking the store costs an iterator each time
/// (~8% of a follower's time in a profile under the cluster bench). Loaded by one scan of
/// the reviews on first use, kept up to date by the one writer; beyond
/// `limits::REMEMBERED_RECORDS_MAX` pairs the store is asked every time.
#[derive(Default)]
pub(super) struct ReviewedPairs {
    pub(super) known: std::sync::Mutex<KnownPairs>,
}

#[derive(Default)]
pub(super) enum KnownPairs {
    #[default]
    NotLoaded,
    /// Every reviewed pair, as `text_key([a, b])`.
    Pairs(HashSet<Vec<u8>>),
    TooMany,
}

impl ReviewedPairs {
    /// Whether the pair (`a`, `b`), in canonical order, may have a review:
    /// false only when it surely has none.
    pub(super) fn may_have(&self, store: &Store, a: &str, b: &str) -> Result<bool, StoreError> {
        let mut known = self.known();
        if matches!(*known, KnownPairs::NotLoaded) {
            *known = match store.reviewed_pairs(crate::limits::REMEMBERED_RECORDS_MAX)? {
                Some(pairs) => KnownPairs::Pairs(pairs),
                None => KnownPairs::TooMany,
            };
        }
        Ok(match &*known {
            KnownPairs::Pairs(pairs) => {
                !pairs.is_empty() && pairs.contains(&crate::store::text_key(&[a, b]))
            }
            KnownPairs::NotLoaded | KnownPairs::TooMany => true,
        })
    }

    /// Pairs a commit group wrote reviews for (after its write succeeded).
    ///
    /// (Readers ask [`crate::coverage::Unreviewed::surely_unreviewed`],
    /// which never loads the set: a load racing the writer could miss a
    /// review the writer then fails to add.)
    pub(super) fn add(&self, written: Vec<Vec<u8>>) {
        let mut known = self.known();
        if let KnownPairs::Pairs(pairs) = &mut *known {
            pairs.extend(written);
            if pairs.len() > crate::limits::REMEMBERED_RECORDS_MAX {
                *known = KnownPairs::TooMany;
            }
        }
    }

    pub(super) fn forget(&self) {
        *self.known() = KnownPairs::NotLoaded;
    }

    pub(super) fn known(&self) -> std::sync::MutexGuard<'_, KnownPairs> {
        lock_whole(&self.known)
    }
}

impl crate::coverage::Unreviewed for ReviewedPairs {
    fn surely_unreviewed(&self, pair: &[u8]) -> bool {
        match &*self.known() {
            KnownPairs::Pairs(pairs) => !pairs.contains(pair),
            KnownPairs::NotLoaded | KnownPairs::TooMany => false,
        }
    }
}

/// The registry records a commit group wrote, and the pairs it reviewed.
pub(super) struct GroupWrites {
    pub(super) keys: HashMap<PublicKeyBytes, KeyRecord>,
    pub(super) orgs: HashMap<String, OrgRecord>,
    pub(super) municipalities: HashMap<String, MunicipalityRecord>,
    pub(super) projects: HashMap<String, Arc<ProjectRecord>>,
    /// Places projects left: (P-code, sector, project id).
    pub(super) left: Vec<(String, String, String)>,
    pub(super) reviewed: Vec<Vec<u8>>,
    pub(super) touched: BTreeSet<(String, String)>,
}
