//! Listings of what is on the ledger, a page at a time in key order:
//! municipalities (under a P-code, each with its children), organisations,
//! and projects as of a date, filtered by place, sector, organisation and
//! status. What a client needs to find valid references without replaying
//! the log.

use rocksdb::IteratorMode;

use crate::event::codes::ActivityStatus;
use crate::store::{
    cf, decode_record, KeyValue, MunicipalityRecord, OrgRecord, ProjectRecord, Store, StoreError,
};

use super::query::Coverage;

/// One page of a listing, and where the next one begins.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Page<T> {
    /// The items, in key order.
    pub items: Vec<T>,
    /// The key to continue after (the last item's), when the page is full:
    /// the next page may still be empty.
    pub next: Option<String>,
}

impl<T> Page<T> {
    fn of(items: Vec<T>, limit: usize, key: impl Fn(&T) -> &str) -> Page<T> {
        let next = (items.len() == limit)
            .then(|| items.last().map(|item| key(item).to_owned()))
            .flatten();
        Page { items, next }
    }
}

/// A municipality as listed: its P-code, its record and its direct
/// children's P-codes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Listed {
    /// Its P-code.
    pub pcode: String,
    /// Its record.
    pub record: MunicipalityRecord,
    /// The P-codes of the municipalities whose parent it is.
    pub children: Vec<String>,
}

/// What a project listing keeps; every field set must match.
#[derive(Clone, Copy, Debug, Default)]
pub struct ProjectFilter<'f> {
    /// Located in this P-code or under it (empty: anywhere).
    pub pcode: &'f str,
    /// In this 5-digit sector, or in a sector of this 3-digit category.
    pub sector: Option<&'f str>,
    /// Registered, funded or implemented by this organisation (its id, or
    /// the name the project gives it).
    pub org: Option<&'f str>,
    /// In this IATI ActivityStatus.
    pub status: Option<ActivityStatus>,
}

impl ProjectFilter<'_> {
    fn keeps(&self, project: &ProjectRecord) -> bool {
        let summary = &project.summary;
        (self.pcode.is_empty() || summary.locations.iter().any(|p| p.starts_with(self.pcode)))
            && self
                .sector
                .is_none_or(|wanted| summary.sectors.iter().any(|s| s.starts_with(wanted)))
            && self.org.is_none_or(|org| {
                project.owner == org
                    || summary.funders.iter().any(|f| f == org)
                    || summary.implementers.iter().any(|i| i == org)
            })
            && self.status.is_none_or(|status| project.status == status)
    }
}

impl Store {
    /// Up to `limit` entries of `family` whose keys start with `prefix` and
    /// come after `after` (empty: from the first), in key order.
    fn page_of(
        &self,
        family: &str,
        prefix: &[u8],
        after: &[u8],
        limit: usize,
    ) -> Result<Vec<KeyValue>, StoreError> {
        let start = if after > prefix { after } else { prefix };
        let iter = self.db().iterator_cf(
            self.cf(family),
            IteratorMode::From(start, rocksdb::Direction::Forward),
        );
        let mut found = Vec::new();
        for item in iter {
            let (key, value) = item?;
            if !key.starts_with(prefix) || found.len() == limit {
                break;
            }
            if !after.is_empty() && *key <= *after {
                continue;
            }
            found.push((key, value));
        }
        Ok(found)
    }

    /// Municipalities whose P-code starts with `under` (itself included),
    /// after the P-code `after`, at most `limit`, each with its children.
    pub fn municipalities(
        &self,
        under: &str,
        after: &str,
        limit: usize,
    ) -> Result<Page<Listed>, StoreError> {
        let mut items = Vec::new();
        for (key, value) in self.page_of(
            cf::MUNICIPALITIES,
            under.as_bytes(),
            after.as_bytes(),
            limit,
        )? {
            let pcode = String::from_utf8_lossy(&key).into_owned();
            let record: MunicipalityRecord = decode_record(cf::MUNICIPALITIES, &value)?;
            let children = self.children_of(&pcode)?;
            items.push(Listed {
                pcode,
                record,
                children,
            });
        }
        Ok(Page::of(items, limit, |m| &m.pcode))
    }

    /// Whether a municipality's P-code is `pcode` or begins with it.
    pub fn has_municipality_under(&self, pcode: &str) -> Result<bool, StoreError> {
        Ok(self.count_municipalities_under(pcode, 1)? > 0)
    }

    /// How many municipalities' P-codes are `pcode` or begin with it,
    /// counted up to `at_most` (for a bound: reads no further).
    pub fn count_municipalities_under(
        &self,
        pcode: &str,
        at_most: usize,
    ) -> Result<usize, StoreError> {
        Ok(self
            .page_of(cf::MUNICIPALITIES, pcode.as_bytes(), b"", at_most)?
            .len())
    }

    /// The P-codes whose parent is `pcode` (children begin with their
    /// parent's P-code; a country's are its level-1 areas).
    fn children_of(&self, pcode: &str) -> Result<Vec<String>, StoreError> {
        let mut children = Vec::new();
        for (key, value) in self.scan_prefix(cf::MUNICIPALITIES, pcode.as_bytes())? {
            if *key == *pcode.as_bytes() {
                continue;
            }
            let record: MunicipalityRecord = decode_record(cf::MUNICIPALITIES, &value)?;
            // Level-1 areas name no parent; a country (level 0, its ISO
            // code as P-code) is theirs.
            let under_country = pcode.len() == 2 && record.admin_level == 1;
            if record.parent == pcode || under_country {
                children.push(String::from_utf8_lossy(&key).into_owned());
            }
        }
        Ok(children)
    }

    /// Organisations after the id `after`, at most `limit`.
    pub fn organisations(
        &self,
        after: &str,
        limit: usize,
    ) -> Result<Page<(String, OrgRecord)>, StoreError> {
        let items = self
            .page_of(cf::ORGS, b"", after.as_bytes(), limit)?
            .into_iter()
            .map(|(key, value)| {
                Ok((
                    String::from_utf8_lossy(&key).into_owned(),
                    decode_record(cf::ORGS, &value)?,
                ))
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        Ok(Page::of(items, limit, |(id, _)| id))
    }
}

impl Coverage<'_> {
    /// The project `project_id` in its state at the as-of point, closed or
    /// not (`None` when it was registered after it, or never).
    pub fn project_as_registered(
        &self,
        project_id: &str,
    ) -> Result<Option<ProjectRecord>, StoreError> {
        self.store.project_at(project_id, self.as_of.cut_ms)
    }

    /// Projects registered by the as-of point (in their state then, closed
    /// ones included) that `filter` keeps, after the project id `after`, at
    /// most `limit`, in project-id order.
    pub fn projects(
        &self,
        filter: ProjectFilter<'_>,
        after: &str,
        limit: usize,
    ) -> Result<Page<(String, ProjectRecord)>, StoreError> {
        let mut items = Vec::new();
        let keep = |id: String, items: &mut Vec<(String, ProjectRecord)>| {
            if let Some(project) = self.store.project_at(&id, self.as_of.cut_ms)? {
                if filter.keeps(&project) {
                    items.push((id, project));
                }
            }
            Ok::<_, StoreError>(items.len() < limit)
        };
        if filter.pcode.is_empty() && self.as_of.cut_ms != i64::MAX {
            // Every project as of the cut, in id order, in one read.
            let mut kept = |id: String, project: ProjectRecord| {
                if filter.keeps(&project) {
                    items.push((id, project));
                }
                items.len() < limit
            };
            self.store
                .each_project_at(after, self.as_of.cut_ms, &mut kept)?;
        } else if filter.pcode.is_empty() {
            // Every project now, in id order, a page of records at a time
            // (each project's state of now is its last version: one seek).
            let mut from = after.to_owned();
            'scan: loop {
                let page = self
                    .store
                    .page_of(cf::PROJECTS, b"", from.as_bytes(), limit)?;
                let Some((last, _)) = page.last() else { break };
                from = String::from_utf8_lossy(last).into_owned();
                let full = page.len() == limit;
                for (key, _) in page {
                    if !keep(String::from_utf8_lossy(&key).into_owned(), &mut items)? {
                        break 'scan;
                    }
                }
                if !full {
                    break;
                }
            }
        } else {
            // The projects ever located under the P-code, from the coverage index.
            let mut ids: Vec<String> = self
                .store
                .coverage_entries(filter.pcode, false)?
                .into_iter()
                .map(|(_, _, id)| id)
                .filter(|id| after.is_empty() || id.as_str() > after)
                .collect();
            ids.sort();
            ids.dedup();
            for id in ids {
                if !keep(id, &mut items)? {
                    break;
                }
            }
        }
        Ok(Page::of(items, limit, |(id, _)| id))
    }
}
