//! The as-of reads of the coverage projections (versions, coverage index,
//! needs, policies, reviews), as reads of the store.

use rocksdb::IteratorMode;

use crate::store::{
    cf, decode_record, split_text_key, text_key, Decode, ProjectRecord, ProjectVersion, Store,
    StoreError, VersionTime,
};

impl Store {
    /// The last version of a versioned record (keyed `prefix ‖ position`)
    /// committed at or before `cut_ms`.
    pub(crate) fn last_version_at<T: Decode>(
        &self,
        family: &str,
        prefix: &[u8],
        cut_ms: i64,
        committed_at: impl Fn(&T) -> i64,
    ) -> Result<Option<T>, StoreError> {
        // Newest first: versions are keyed by log position, and commit
        // times never go back along the log, so the first version at or
        // before the cut is the one (for a query of now, the newest: one
        // decode, however many versions there are).
        let mut upper = prefix.to_vec();
        upper.extend_from_slice(&[0xFF; 8]);
        let iter = self.db().iterator_cf(
            self.cf(family),
            IteratorMode::From(&upper, rocksdb::Direction::Reverse),
        );
        for item in iter {
            let (key, value) = item?;
            if !key.starts_with(prefix) {
                break;
            }
            let record: T = decode_record(family, &value)?;
            if committed_at(&record) <= cut_ms {
                return Ok(Some(record));
            }
        }
        Ok(None)
    }

    /// A project's state as committed at or before `cut_ms`.
    pub(crate) fn project_at(
        &self,
        project_id: &str,
        cut_ms: i64,
    ) -> Result<Option<ProjectRecord>, StoreError> {
        let version: Option<ProjectVersion> = self.last_version_at(
            cf::PROJECT_VERSIONS,
            &text_key(&[project_id]),
            cut_ms,
            |v: &ProjectVersion| v.committed_at_ms,
        )?;
        Ok(version.map(|v| v.project))
    }

    /// Every project's state as committed at or before `cut_ms`, in id
    /// order from the first id greater than `after` ("": from the first),
    /// to `each` until it returns false; projects registered later are
    /// left out. One forward read of the versions family: a project's
    /// versions follow each other in log order, and commit times never go
    /// back along the log, so its state at the cut is the last version
    /// read before one committed later. Each version is decoded only as
    /// far as its time ([`VersionTime`]), and only that last one whole; the
    /// versions after the first one past the cut not at all. What
    /// [`Store::project_at`] answers for each
    /// project, without an iterator and a seek per project.
    pub(crate) fn each_project_at(
        &self,
        after: &str,
        cut_ms: i64,
        mut each: impl FnMut(String, ProjectRecord) -> bool,
    ) -> Result<(), StoreError> {
        let mut iter = self.db.raw_iterator_cf(self.cf(cf::PROJECT_VERSIONS));
        if after.is_empty() {
            iter.seek_to_first();
        } else {
            // Past every version of `after` (`after` NUL position), and
            // before any greater id (whose byte after `after` is not NUL).
            let mut from = text_key(&[after]);
            from.extend_from_slice(&[0xFF; 9]);
            iter.seek(&from);
        }
        // The project being read: its id (with its NUL), its last version
        // committed by the cut so far (as stored: only that one is decoded,
        // the others only as far as their time), and whether a version
        // after the cut was reached.
        let mut current: Vec<u8> = Vec::new();
        let mut state: Option<Vec<u8>> = None;
        let mut past_the_cut = false;
        loop {
            let id = match iter.key() {
                Some(key) => Some(
                    key.len()
                        .checked_sub(8)
                        .map(|at| &key[..at])
                        .filter(|id| id.last() == Some(&0))
                        .ok_or_else(|| {
                            StoreError::Corrupt("project version key without an id".into())
                        })?,
                ),
                None => None,
            };
            if id != Some(current.as_slice()) {
                if let Some(stored) = state.take() {
                    let version: ProjectVersion = decode_record(cf::PROJECT_VERSIONS, &stored)?;
                    let name = &current[..current.len() - 1];
                    if !each(String::from_utf8_lossy(name).into_owned(), version.project) {
                        return Ok(());
                    }
                }
                let Some(id) = id else { break };
                current = id.to_vec();
                past_the_cut = false;
            }
            if !past_the_cut {
                let value = iter.value().unwrap_or_default();
                let VersionTime(committed_at_ms) = decode_record(cf::PROJECT_VERSIONS, value)?;
                if committed_at_ms <= cut_ms {
                    let stored = state.get_or_insert_with(Vec::new);
                    stored.clear();
                    stored.extend_from_slice(value);
                } else {
                    past_the_cut = true;
                }
            }
            iter.next();
        }
        iter.status()?;
        Ok(())
    }

    /// (P-code, sector, project id) of every project ever located under
    /// `pcode` (exactly `pcode` when `exact`).
    pub(crate) fn coverage_entries(
        &self,
        pcode: &str,
        exact: bool,
    ) -> Result<Vec<(String, String, String)>, StoreError> {
        self.coverage_entries_read(pcode, exact).collect()
    }

    /// [`Store::coverage_entries`], read as the caller goes (a caller may
    /// stop early): (P-code, sector, project) in key order, so each
    /// (P-code, sector) cell's entries come together.
    pub(crate) fn coverage_entries_read(
        &self,
        pcode: &str,
        exact: bool,
    ) -> impl Iterator<Item = Result<(String, String, String), StoreError>> + '_ {
        let prefix = if exact {
            text_key(&[pcode])
        } else {
            pcode.as_bytes().to_vec()
        };
        self.db
            .iterator_cf(
                self.cf(cf::COVERAGE),
                IteratorMode::From(&prefix, rocksdb::Direction::Forward),
            )
            .map_while(move |item| match item {
                Err(error) => Some(Err(error.into())),
                Ok((key, _)) => {
                    if !key.starts_with(&prefix) {
                        return None;
                    }
                    Some(match split_text_key(&key).as_slice() {
                        [pcode, sector, project] => {
                            Ok((pcode.clone(), sector.clone(), project.clone()))
                        }
                        _ => Err(StoreError::Corrupt("coverage key has not 3 parts".into())),
                    })
                }
            })
    }

    /// Ids of every project ever located in `pcode` with `sector` (exactly),
    /// in id order, all or those greater than `after`, read as the caller
    /// goes (a caller may stop early).
    pub(crate) fn projects_in_place(
        &self,
        pcode: &str,
        sector: &str,
        after: Option<&str>,
    ) -> impl Iterator<Item = Result<String, StoreError>> + '_ {
        let prefix = text_key(&[pcode, sector]);
        // Just after `after`'s own key (…after NUL): before any greater id.
        let from = match after {
            Some(after) => {
                let mut from = text_key(&[pcode, sector, after]);
                from.push(0);
                from
            }
            None => prefix.clone(),
        };
        self.db
            .iterator_cf(
                self.cf(cf::COVERAGE),
                IteratorMode::From(&from, rocksdb::Direction::Forward),
            )
            .map_while(move |item| match item {
                Err(error) => Some(Err(error.into())),
                Ok((key, _)) => {
                    let id = key.strip_prefix(prefix.as_slice())?;
                    let id = id.strip_suffix(&[0]).unwrap_or(id);
                    Some(Ok(String::from_utf8_lossy(id).into_owned()))
                }
            })
    }

    /// The latest assessment of every need under `pcode`, as of `cut_ms`.
    pub(crate) fn needs_at(
        &self,
        pcode: &str,
        cut_ms: i64,
    ) -> Result<Vec<(String, String, crate::store::NeedRecord)>, StoreError> {
        let mut latest: std::collections::BTreeMap<(String, String), crate::store::NeedRecord> =
            Default::default();
        for (key, value) in self.scan_prefix(cf::NEEDS, pcode.as_bytes())? {
            let need: crate::store::NeedRecord = decode_record(cf::NEEDS, &value)?;
            if need.committed_at_ms > cut_ms {
                continue;
            }
            if let [pcode, sector, ..] = split_text_key(&key).as_slice() {
                latest.insert((pcode.clone(), sector.clone()), need);
            }
        }
        Ok(latest
            .into_iter()
            .map(|((pcode, sector), need)| (pcode, sector, need))
            .collect())
    }

    /// A sector's (or category's) coordination policy as of `cut_ms`.
    pub(crate) fn policy_at(
        &self,
        sector: &str,
        cut_ms: i64,
    ) -> Result<Option<crate::store::PolicyRecord>, StoreError> {
        self.last_version_at(
            cf::POLICIES,
            &text_key(&[sector]),
            cut_ms,
            |p: &crate::store::PolicyRecord| p.committed_at_ms,
        )
    }

    /// The ministry's latest review of a pair (ids in canonical order) as of `cut_ms`.
    pub(crate) fn review_at(
        &self,
        a: &str,
        b: &str,
        cut_ms: i64,
    ) -> Result<Option<crate::store::ReviewRecord>, StoreError> {
        self.last_version_at(
            cf::REVIEWS,
            &text_key(&[a, b]),
            cut_ms,
            |r: &crate::store::ReviewRecord| r.committed_at_ms,
        )
    }

    /// The pairs of projects with at least one review, as `text_key([a, b])`;
    /// None when there are more than `limit` (the caller then asks
    /// [`Store::review_at`] each time).
    pub(crate) fn reviewed_pairs(
        &self,
        limit: usize,
    ) -> Result<Option<std::collections::HashSet<Vec<u8>>>, StoreError> {
        let mut pairs = std::collections::HashSet::new();
        let mut iter = self.db.raw_iterator_cf(self.cf(cf::REVIEWS));
        iter.seek_to_first();
        while let Some(key) = iter.key() {
            let pair = key
                .len()
                .checked_sub(8)
                .map(|at| &key[..at])
                .ok_or_else(|| StoreError::Corrupt("review key shorter than a position".into()))?;
            if !pairs.contains(pair) {
                if pairs.len() == limit {
                    return Ok(None);
                }
                pairs.insert(pair.to_vec());
            }
            iter.next();
        }
        iter.status()?;
        Ok(Some(pairs))
    }
}
