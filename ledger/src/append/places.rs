//! Which projects are in each (municipality, sector) now, as the
//! registration-time overlap check reads them: every registration compares
//! itself with the projects of each of its places, and reading their ids
//! from the coverage index and their whole records from the store for each
//! registration was most of the writer's time (a third of its samples in
//! the single-node profile of 2026-12-01, once the ledger held more projects
//! than the record cache).
//!
//! Kept by the one writer, in memory, bounded: a place's projects are
//! remembered as far as a registration read them from the store (one that
//! finds enough overlaps stops early: see [`as_written`] and [`PlaceList`];
//! a later one that needs more reads on from there), changed after each
//! group's write succeeded
//! (the projects it wrote, in their places now and out of those they left),
//! and bounded: when the lists hold more than
//! `limits::PLACE_LISTS_BYTES_MAX`, the places used least recently are
//! dropped until they hold three quarters of it. Everything is dropped when
//! the state is replaced (a snapshot).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::bounded_map::BoundedMap;
use crate::coverage::Candidate;
use crate::store::{ProjectRecord, Store, StoreError};
use crate::sync::lock_whole;

/// A place's projects now, in id order: all of them, or those up to an id.
pub(super) type Listed = Arc<PlaceList>;

/// What is remembered of a place: its projects as written, in id order,
/// all of them (`through` is `None`), or those whose id is at most
/// `through`: a crowded place is remembered as far as registrations read
/// it, and read on from the store after `through` when one needs more.
#[derive(Clone, Debug, PartialEq)]
pub(super) struct PlaceList {
    pub(super) candidates: Vec<Arc<Candidate>>,
    pub(super) through: Option<Box<str>>,
}

impl PlaceList {
    /// Whether a project `id` belongs in what is remembered.
    fn covers(&self, id: &str) -> bool {
        self.through.as_deref().is_none_or(|through| id <= through)
    }

    fn bytes(&self) -> usize {
        self.through.as_deref().map_or(0, str::len)
            + self.candidates.iter().map(|c| c.bytes()).sum::<usize>()
    }
}

#[derive(Default)]
pub(super) struct PlaceIndex {
    state: Mutex<Places>,
}

#[derive(Default)]
struct Places {
    /// P-code → sector → the projects there now.
    lists: HashMap<String, HashMap<String, Used>>,
    /// What all lists hold, in bytes (see [`Candidate::bytes`]); an empty
    /// list counts its keys.
    bytes: usize,
    /// Counts uses of the lists: each list keeps the count of its last use.
    clock: u64,
}

/// A list and when it was last used (see [`Places::clock`]).
struct Used {
    listed: Listed,
    last: u64,
}

impl PlaceIndex {
    /// The projects in `pcode` and `sector` as the last written group left
    /// them, if remembered.
    pub(super) fn get(&self, pcode: &str, sector: &str) -> Option<Listed> {
        self.state().use_list(pcode, sector)
    }

    /// A place's projects as written, in id order: those remembered, then
    /// the store's after them (all of them if none are remembered), read
    /// as the caller goes. [`PlaceRead::finish`] remembers what was read.
    pub(super) fn read<'a>(
        &'a self,
        store: &'a Store,
        projects: &'a BoundedMap<String, Arc<ProjectRecord>>,
        pcode: &'a str,
        sector: &'a str,
    ) -> PlaceRead<'a, impl Iterator<Item = Result<Candidate, StoreError>> + 'a> {
        let remembered = self.get(pcode, sector);
        // Where the store is read on from, if memory does not hold the
        // whole place (`Some(None)`: from its start).
        let after = match &remembered {
            Some(listed) => listed.through.clone().map(Some),
            None => Some(None),
        };
        let from_memory = remembered
            .as_ref()
            .map_or(0, |listed| listed.candidates.len());
        PlaceRead {
            index: self,
            pcode,
            sector,
            remembered,
            next_in_memory: 0,
            from_memory,
            from_store: after
                .map(|after| as_written(store, Some(projects), pcode, sector, after.as_deref())),
            read: Vec::new(),
            to_the_end: false,
        }
    }

    /// Remembers what was read of a place (in id order, since the last
    /// group was written): the whole place (`through` `None`), or every
    /// project up to the id `through`.
    fn remember(
        &self,
        pcode: &str,
        sector: &str,
        candidates: Vec<Arc<Candidate>>,
        through: Option<Box<str>>,
    ) {
        let listed = PlaceList {
            candidates,
            through,
        };
        let mut places = self.state();
        places.bytes += list_bytes(pcode, sector) + listed.bytes();
        places.clock += 1;
        let used = Used {
            listed: Arc::new(listed),
            last: places.clock,
        };
        let earlier = places
            .lists
            .entry(pcode.to_owned())
            .or_default()
            .insert(sector.to_owned(), used);
        if let Some(earlier) = earlier {
            places.bytes -= list_bytes(pcode, sector) + earlier.listed.bytes();
        }
        places.bound();
    }

    /// What a group wrote (after its write succeeded): each project it
    /// wrote, as written, and the places projects left (`left`: P-code,
    /// sector, project id). Lists not in memory stay so: the store has it.
    pub(super) fn note_written<'a>(
        &self,
        written: impl IntoIterator<Item = (&'a String, &'a Arc<ProjectRecord>)>,
        left: &[(String, String, String)],
    ) {
        let mut places = self.state();
        for (pcode, sector, project_id) in left {
            places.remove(pcode, sector, project_id);
        }
        for (project_id, project) in written {
            let candidate = Arc::new(Candidate::of(project_id, project));
            for (pcode, sector) in project.places() {
                places.put(pcode, sector, &candidate);
            }
        }
        places.bound();
    }

    pub(super) fn forget_all(&self) {
        *self.state() = Places::default();
    }

    /// How many lists are in memory, and every one that differs from the
    /// store's (named with both forms): none, after any sequence of
    /// written groups.
    #[cfg(feature = "test-support")]
    pub(super) fn differences(&self, store: &Store) -> Result<(usize, Vec<String>), StoreError> {
        let mut differences = Vec::new();
        let mut compared = 0;
        for (pcode, sectors) in &self.state().lists {
            for (sector, Used { listed, .. }) in sectors {
                compared += 1;
                let stored: Vec<Candidate> = as_written(store, None, pcode, sector, None)
                    .filter(|read| read.as_ref().map_or(true, |c| listed.covers(&c.id)))
                    .collect::<Result<_, _>>()?;
                let in_memory: Vec<&Candidate> = listed.candidates.iter().map(|c| &**c).collect();
                if in_memory != stored.iter().collect::<Vec<_>>() {
                    differences.push(format!(
                        "{pcode} {sector}: in memory {in_memory:?}, stored {stored:?}"
                    ));
                }
            }
        }
        Ok((compared, differences))
    }

    fn state(&self) -> std::sync::MutexGuard<'_, Places> {
        lock_whole(&self.state)
    }
}

/// A place's projects as written, in id order ([`PlaceIndex::read`]):
/// what memory holds of it, then, unless that is the whole place, the
/// store's projects after it. Keeps what it hands out when the store is
/// read, so that [`PlaceRead::finish`] can remember it.
pub(super) struct PlaceRead<'a, S> {
    index: &'a PlaceIndex,
    pcode: &'a str,
    sector: &'a str,
    remembered: Option<Listed>,
    next_in_memory: usize,
    from_memory: usize,
    /// `None` when memory holds the whole place.
    from_store: Option<S>,
    /// What was handed out, if the store is read.
    read: Vec<Arc<Candidate>>,
    /// Whether the place was read to its end.
    to_the_end: bool,
}

impl<S: Iterator<Item = Result<Candidate, StoreError>>> Iterator for PlaceRead<'_, S> {
    type Item = Result<Arc<Candidate>, StoreError>;

    fn next(&mut self) -> Option<Self::Item> {
        let in_memory = self
            .remembered
            .as_ref()
            .and_then(|listed| listed.candidates.get(self.next_in_memory));
        let candidate = match in_memory {
            Some(candidate) => {
                self.next_in_memory += 1;
                Arc::clone(candidate)
            }
            None => match self.from_store.as_mut()?.next() {
                Some(Ok(candidate)) => Arc::new(candidate),
                Some(Err(error)) => return Some(Err(error)),
                None => {
                    self.to_the_end = true;
                    return None;
                }
            },
        };
        if self.from_store.is_some() {
            self.read.push(Arc::clone(&candidate));
        }
        Some(Ok(candidate))
    }
}

impl<S> PlaceRead<'_, S> {
    /// Remembers what was read, if the store was: the whole place if it
    /// was read to its end, else as far as it was read, if that is further
    /// than memory held. (A read stopped by an error is not finished.)
    pub(super) fn finish(self) {
        if self.from_store.is_none() {
            return;
        }
        if self.to_the_end {
            self.index
                .remember(self.pcode, self.sector, self.read, None);
        } else if self.read.len() > self.from_memory {
            let through = self.read.last().map(|last| last.id.clone());
            self.index
                .remember(self.pcode, self.sector, self.read, through);
        }
    }
}

/// The projects in a place as the last written group left them, read
/// from the store as the caller goes, in id order, all or those whose id is
/// greater than `after` (records `remembered` in memory are not read
/// again): the coverage index keeps the places
/// projects left, so each record says whether it is still there.
///
/// Read lazily so that a registration in a crowded place reads only the
/// projects it compares itself with: loading a place whole, one record per
/// project, was what held a million-event ledger's writer to about a
/// thousand events a second once its places no longer fitted in memory
/// (bench/README, "the snapshot bench's stall").
pub(super) fn as_written<'a>(
    store: &'a Store,
    remembered: Option<&'a BoundedMap<String, Arc<ProjectRecord>>>,
    pcode: &'a str,
    sector: &'a str,
    after: Option<&str>,
) -> impl Iterator<Item = Result<Candidate, StoreError>> + 'a {
    store
        .projects_in_place(pcode, sector, after)
        .filter_map(move |project_id| {
            let project_id = match project_id {
                Ok(project_id) => project_id,
                Err(error) => return Some(Err(error)),
            };
            let project = match remembered.and_then(|remembered| remembered.get(&project_id)) {
                Some(project) => Some(project),
                None => match store.project(&project_id) {
                    Ok(project) => project.map(Arc::new),
                    Err(error) => return Some(Err(error)),
                },
            };
            let project = project?;
            let still_there = project.places().any(|place| place == (pcode, sector));
            still_there.then(|| Ok(Candidate::of(&project_id, &project)))
        })
}

/// What a place's list costs besides its projects and the id it goes to:
/// its two keys (and their headers, in two maps), the list's header and
/// its shared pointer's counts, and when it was used.
fn list_bytes(pcode: &str, sector: &str) -> usize {
    pcode.len()
        + sector.len()
        + std::mem::size_of::<PlaceList>()
        + 10 * std::mem::size_of::<usize>()
}

impl Places {
    /// A place's list, if in memory, now its most recently used.
    fn use_list(&mut self, pcode: &str, sector: &str) -> Option<Listed> {
        let used = self.lists.get_mut(pcode)?.get_mut(sector)?;
        self.clock += 1;
        used.last = self.clock;
        Some(Arc::clone(&used.listed))
    }

    /// The list of a place, if in memory, to change (the caller keeps
    /// [`Places::bytes`] right).
    fn list_mut(&mut self, pcode: &str, sector: &str) -> Option<&mut PlaceList> {
        let used = self.lists.get_mut(pcode)?.get_mut(sector)?;
        Some(Arc::make_mut(&mut used.listed))
    }

    /// Takes `project_id` out of a place's list in memory.
    fn remove(&mut self, pcode: &str, sector: &str, project_id: &str) {
        let Some(list) = self.list_mut(pcode, sector) else {
            return;
        };
        let list = &mut list.candidates;
        if let Ok(at) = list.binary_search_by(|listed| (*listed.id).cmp(project_id)) {
            let gone = list.remove(at).bytes();
            self.bytes -= gone;
        }
    }

    /// Puts `candidate` in a place's list in memory, in place of its
    /// earlier form if listed (if the list goes as far as its id).
    fn put(&mut self, pcode: &str, sector: &str, candidate: &Arc<Candidate>) {
        let Some(list) = self.list_mut(pcode, sector) else {
            return;
        };
        if !list.covers(&candidate.id) {
            return;
        }
        let list = &mut list.candidates;
        let (added, replaced) = match list.binary_search_by(|listed| listed.id.cmp(&candidate.id)) {
            Ok(at) => {
                let replaced = std::mem::replace(&mut list[at], Arc::clone(candidate));
                (candidate.bytes(), replaced.bytes())
            }
            Err(at) => {
                list.insert(at, Arc::clone(candidate));
                (candidate.bytes(), 0)
            }
        };
        self.bytes = self.bytes + added - replaced;
    }

    /// When the lists hold more than the limit, drops those used least
    /// recently until they hold three quarters of it (so that the sort
    /// this takes comes once per quarter of the limit, not once per list):
    /// the registrations that use them again read them again.
    fn bound(&mut self) {
        let limit = crate::limits::PLACE_LISTS_BYTES_MAX;
        if self.bytes <= limit {
            return;
        }
        let mut by_use: Vec<(u64, String, String)> = self
            .lists
            .iter()
            .flat_map(|(pcode, sectors)| {
                sectors
                    .iter()
                    .map(|(sector, used)| (used.last, pcode.clone(), sector.clone()))
            })
            .collect();
        by_use.sort_unstable_by_key(|(last, ..)| *last);
        for (_, pcode, sector) in by_use {
            if self.bytes <= limit / 4 * 3 {
                break;
            }
            let Some(sectors) = self.lists.get_mut(&pcode) else {
                continue;
            };
            if let Some(dropped) = sectors.remove(&sector) {
                self.bytes -= list_bytes(&pcode, &sector) + dropped.listed.bytes();
            }
            if sectors.is_empty() {
                self.lists.remove(&pcode);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::ProjectSummary;

    fn project(owner: &str, places: &[(&str, &str)]) -> Arc<ProjectRecord> {
        let mut record = ProjectRecord::registration(
            owner.to_owned(),
            &Default::default(),
            "2026-01-01".to_owned(),
        );
        record.summary = ProjectSummary {
            title_latin: format!("{owner}'s project"),
            locations: places.iter().map(|(pcode, _)| pcode.to_string()).collect(),
            sectors: places
                .iter()
                .map(|(_, sector)| sector.to_string())
                .collect(),
            ..ProjectSummary::default()
        };
        Arc::new(record)
    }

    /// What the overlap check does with a place: the list if remembered,
    /// else `load`'s, remembered.
    fn get_or_load(
        index: &PlaceIndex,
        pcode: &str,
        sector: &str,
        load: impl FnOnce() -> Result<Vec<Candidate>, ()>,
    ) -> Result<Listed, ()> {
        if let Some(listed) = index.get(pcode, sector) {
            return Ok(listed);
        }
        index.remember(
            pcode,
            sector,
            load()?.into_iter().map(Arc::new).collect(),
            None,
        );
        Ok(index
            .get(pcode, sector)
            .expect("remembered: below the limit"))
    }

    fn ids(listed: &Listed) -> Vec<&str> {
        listed
            .candidates
            .iter()
            .map(|candidate| &*candidate.id)
            .collect()
    }

    #[test]
    fn lists_follow_what_groups_write_and_load_only_when_absent() {
        let index = PlaceIndex::default();
        let loads = std::cell::Cell::new(0);
        let load = |ids: &[&str]| {
            loads.set(loads.get() + 1);
            let listed: Vec<Candidate> = ids
                .iter()
                .map(|id| Candidate::of(id, &project("eu", &[("LY01", "14030")])))
                .collect();
            Ok(listed)
        };
        // The store reads a place in id order.
        let water = get_or_load(&index, "LY01", "14030", || load(&["p1", "p2"])).unwrap();
        assert_eq!(ids(&water), ["p1", "p2"]);
        let again = get_or_load(&index, "LY01", "14030", || load(&["never"])).unwrap();
        assert_eq!((ids(&again), loads.get()), (vec!["p1", "p2"], 1));

        // p3 arrives; p1 moves to another sector, not in memory.
        let written: HashMap<String, Arc<ProjectRecord>> = [
            ("p3".to_owned(), project("undp", &[("LY01", "14030")])),
            ("p1".to_owned(), project("eu", &[("LY01", "12220")])),
        ]
        .into();
        let left = [("LY01".to_owned(), "14030".to_owned(), "p1".to_owned())];
        index.note_written(&written, &left);
        let now = get_or_load(&index, "LY01", "14030", || load(&["never"])).unwrap();
        assert_eq!(ids(&now), ["p2", "p3"]);
        assert_eq!(&*now.candidates[1].donor, "undp");
        let held = |listed: &Listed| listed.bytes();
        assert_eq!(
            index.state().bytes,
            list_bytes("LY01", "14030") + held(&now),
            "counted as the lists change"
        );
        let health = get_or_load(&index, "LY01", "12220", || load(&["p1"])).unwrap();
        assert_eq!((ids(&health), loads.get()), (vec!["p1"], 2));
        // An empty place's list costs its keys: many of them count.
        get_or_load(&index, "LY02", "14030", || Ok(Vec::new())).unwrap();
        assert_eq!(
            index.state().bytes,
            list_bytes("LY01", "14030")
                + held(&now)
                + list_bytes("LY01", "12220")
                + held(&health)
                + list_bytes("LY02", "14030")
        );

        index.forget_all();
        get_or_load(&index, "LY01", "14030", || load(&["p2", "p3"])).unwrap();
        assert_eq!(loads.get(), 3, "forgotten, loaded again");
    }

    #[test]
    fn a_place_remembered_in_part_takes_only_projects_up_to_where_it_was_read() {
        let index = PlaceIndex::default();
        let water = |owner: &str| project(owner, &[("LY01", "14030")]);
        let read = ["p1", "p3"]
            .iter()
            .map(|id| Arc::new(Candidate::of(id, &water("eu"))))
            .collect();
        index.remember("LY01", "14030", read, Some("p3".into()));
        let written: HashMap<String, Arc<ProjectRecord>> = [
            ("p2".to_owned(), water("undp")),
            ("p4".to_owned(), water("undp")),
            ("p3".to_owned(), water("giz")),
        ]
        .into();
        let left = [("LY01".to_owned(), "14030".to_owned(), "p1".to_owned())];
        index.note_written(&written, &left);
        let now = index.get("LY01", "14030").unwrap();
        assert_eq!(ids(&now), ["p2", "p3"], "p4 is beyond what was read");
        assert_eq!(&*now.candidates[1].donor, "giz", "p3 as written last");
        assert_eq!(now.through.as_deref(), Some("p3"));
        assert_eq!(
            index.state().bytes,
            list_bytes("LY01", "14030") + now.bytes(),
            "counted with the id it goes to"
        );
    }

    #[test]
    fn beyond_the_limit_the_places_used_least_recently_are_dropped() {
        let index = PlaceIndex::default();
        let record = project("eu", &[("LY01", "14030")]);
        // Four lists of two sevenths of the limit each: the fourth takes
        // the lists past it, and three quarters of it hold two.
        let per_list = crate::limits::PLACE_LISTS_BYTES_MAX * 2
            / 7
            / Candidate::of("p000000", &record).bytes();
        let fill = |pcode: &str| {
            let candidates = (0..per_list)
                .map(|n| Arc::new(Candidate::of(&format!("p{n:06}"), &record)))
                .collect();
            index.remember(pcode, "14030", candidates, None);
        };
        fill("LY01");
        fill("LY02");
        fill("LY03");
        assert!(
            index.get("LY01", "14030").is_some(),
            "used again: now the most recent"
        );
        fill("LY04");
        let kept: Vec<&str> = ["LY01", "LY02", "LY03", "LY04"]
            .into_iter()
            .filter(|pcode| index.state().lists.contains_key(*pcode))
            .collect();
        assert_eq!(
            kept,
            ["LY01", "LY04"],
            "LY02 and LY03 were used least recently"
        );
        let held = index.get("LY01", "14030").unwrap().bytes() + list_bytes("LY01", "14030");
        assert_eq!(
            index.state().bytes,
            2 * held,
            "counted as lists are dropped"
        );
        assert!(index.state().bytes <= crate::limits::PLACE_LISTS_BYTES_MAX / 4 * 3);

        // A list larger than the limit alone is not kept either.
        index.remember(
            "LY05",
            "14030",
            (0..per_list * 4)
                .map(|n| Arc::new(Candidate::of(&format!("p{n:06}"), &record)))
                .collect(),
            None,
        );
        assert!(index.get("LY05", "14030").is_none());
        assert!(index.state().bytes <= crate::limits::PLACE_LISTS_BYTES_MAX / 4 * 3);
    }
}
