//! Coverage queries as of a date: who supports a place, overlaps, gaps,
//! the matrix, and what a proposal would meet.

use std::collections::{BTreeMap, BTreeSet};

use tansiq_proto::v1 as pb;

use crate::date::Date;
use crate::store::{AttestationRecord, NeedRecord, ProjectRecord, ReviewRecord, Store, StoreError};

use super::overlap::{
    judge, pair, Cell as PairCell, Compared, Complementary, Judged, OverlapCounts, OverlapKind,
};
use super::policy::sector_policy;

/// The point in time a query answers for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AsOf {
    /// Events committed at or before this time (ms since the epoch) count.
    pub cut_ms: i64,
    /// The day closures are compared with.
    pub day: Date,
}

impl AsOf {
    /// The end of `day` (UTC).
    pub fn end_of(day: Date) -> AsOf {
        AsOf {
            cut_ms: (i64::from(day.days_since_epoch()) + 1) * 86_400_000 - 1,
            day,
        }
    }

    /// Now: everything committed, closures compared with today.
    pub fn now(now_ms: i64) -> AsOf {
        AsOf {
            cut_ms: i64::MAX,
            day: Date::from_unix_ms(now_ms),
        }
    }
}

/// A project supporting a (municipality, sector).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Support {
    /// The municipality's P-code.
    pub pcode: String,
    /// The sector code, as the project names it.
    pub sector: String,
    /// The supporting project.
    pub project_id: String,
    /// Its record as of the query.
    pub project: ProjectRecord,
}

/// Two overlapping projects in one municipality and sector.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Overlap {
    /// The municipality's P-code.
    pub pcode: String,
    /// The sector code they share.
    pub sector: String,
    /// One project of the pair.
    pub a: Support,
    /// The other.
    pub b: Support,
    /// Why they overlap.
    pub kind: OverlapKind,
    /// The ministry's review of the pair, if any.
    pub review: Option<ReviewRecord>,
}

impl Overlap {
    /// The pair of `a` and `b` in `pcode` and `sector`.
    pub(crate) fn of(
        pcode: &str,
        sector: &str,
        a: &Support,
        b: &Support,
        kind: OverlapKind,
        review: Option<ReviewRecord>,
    ) -> Overlap {
        Overlap {
            pcode: pcode.to_owned(),
            sector: sector.to_owned(),
            a: a.clone(),
            b: b.clone(),
            kind,
            review,
        }
    }

    /// One of the two projects is held for the ministry's review.
    pub fn held(&self) -> bool {
        self.a.project.pending_review || self.b.project.pending_review
    }
}

/// A claim disputed (or confirmed only in part) by the party it names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Dispute {
    /// The claim's project.
    pub project_id: String,
    /// Its owner: who made the claim (or the implementer who reported a
    /// result; see the project's results).
    pub owner: String,
    /// What is disputed: "funding", "active", "result/ID/START" or
    /// "transaction/EVENT_ID" (see `store::Subject`).
    pub subject: String,
    /// Who disputes it (for "funding", the funder as the project names it).
    pub attester: String,
    /// The verdict: DISPUTED or PARTLY.
    pub verdict: pb::AttestationVerdict,
    /// The attestation, with its note, value and place (none for funding,
    /// whose word the project keeps as its verdict only).
    pub word: Option<AttestationRecord>,
}

/// An assessed need with no support.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Gap {
    /// The municipality's P-code.
    pub pcode: String,
    /// The need's sector code.
    pub sector: String,
    /// The latest assessment of the need.
    pub need: NeedRecord,
}

/// One cell of the coverage matrix: a municipality and a 3-digit sector category.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Cell {
    /// How many projects support the cell (one in two sectors of its
    /// category counts once).
    pub projects: u32,
    /// Their donors (see [`ProjectRecord::donor`]).
    pub donors: BTreeSet<String>,
    /// Budgets of the cell's projects, summed per currency (whole budgets, not apportioned).
    pub budget: BTreeMap<String, DecimalSum>,
}

/// An exact sum of ledger amounts (decimals with at most 4 fraction
/// digits, see `fields::is_decimal_amount`), in ten-thousandths: summing
/// in floating point would drop cents from large budgets.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DecimalSum(i128);

impl DecimalSum {
    /// Adds `amount`; false (nothing added) when it is not a ledger amount.
    pub fn add(&mut self, amount: &str) -> bool {
        if !crate::event::fields::is_decimal_amount(amount) {
            return false;
        }
        let (integer, fraction) = amount.split_once('.').unwrap_or((amount, ""));
        let parse = |digits: &str| digits.parse::<i128>().unwrap_or(0);
        let fraction = format!("{fraction:0<4}");
        self.0 += parse(integer) * 10_000 + parse(&fraction);
        true
    }
}

impl std::fmt::Display for DecimalSum {
    /// At least two fraction digits, more only when the sum has them.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (integer, fraction) = (self.0 / 10_000, self.0 % 10_000);
        let mut fraction = format!("{fraction:04}");
        while fraction.len() > 2 && fraction.ends_with('0') {
            fraction.pop();
        }
        write!(f, "{integer}.{fraction}")
    }
}

/// What a scope holds now: open overlapping pairs and uncovered needs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Totals {
    /// Pairs of projects that overlap, those reviewed as complementary left out.
    pub open_overlaps: u64,
    /// Assessed needs nobody covers.
    pub uncovered_needs: u64,
    /// The people in need of those needs, summed.
    pub people_in_uncovered_needs: u64,
}

/// Counts the ledger keeps, that a query may answer from instead of
/// reading every project: of now (the ledger's [`super::Tally`], kept up
/// to date by its commits), or of a day that has ended on the ledger
/// ([`super::PastTallies`]: nothing committed later changes them). Each
/// is given the same queries, reading what they need, to count with.
pub(crate) trait KeptCounts: Sync {
    fn totals(&self, coverage: &Coverage<'_>, pcode: &str) -> Result<Totals, StoreError>;
    fn gaps(&self, coverage: &Coverage<'_>, pcode: &str) -> Result<Vec<Gap>, StoreError>;
    /// [`Coverage::counted_cells`], from the counts kept.
    fn counted_cells(
        &self,
        coverage: &Coverage<'_>,
        pcode: &str,
        sector: Option<&str>,
    ) -> Result<Vec<(PairCell, OverlapCounts)>, StoreError>;
}

/// Queries over a store's committed projections, as of a point in time.
#[derive(Clone, Copy)]
pub struct Coverage<'a> {
    pub(crate) store: &'a Store,
    pub(crate) as_of: AsOf,
    /// The counts kept for this query's point in time, if any (see
    /// [`KeptCounts`]).
    tally: Option<&'a dyn KeptCounts>,
    /// The pairs surely never reviewed, to skip reading their reviews.
    unreviewed: Option<&'a dyn Unreviewed>,
    /// What counts as support: what donors report, or only what the
    /// municipalities confirmed.
    count: Count,
}

/// What counts as a project's support in a place.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Count {
    /// What donors report (the default).
    #[default]
    Reported,
    /// Only support the place's municipality confirmed (an attestation of
    /// the project's activity, CONFIRMED or PARTLY, by the organisation of
    /// the municipality or of one above it, and none DISPUTED).
    Confirmed,
}

/// What the ledger remembers of the pairs it holds reviews of.
pub(crate) trait Unreviewed: Sync {
    /// True only when the pair `text_key([a, b])` has surely never been
    /// reviewed (false: it may have been; read it).
    fn surely_unreviewed(&self, pair: &[u8]) -> bool;
}

impl<'a> Coverage<'a> {
    /// Queries over `store` as of `as_of`, each reading what it needs.
    pub fn new(store: &'a Store, as_of: AsOf) -> Self {
        Coverage {
            store,
            as_of,
            tally: None,
            unreviewed: None,
            count: Count::Reported,
        }
    }

    /// The same queries, counting as support what `count` says: only
    /// confirmed support is not counted by the tally (it is read).
    pub fn counting(self, count: Count) -> Coverage<'a> {
        Coverage {
            count,
            tally: self.tally.filter(|_| count == Count::Reported),
            ..self
        }
    }

    /// Queries over `store` as of `as_of`, as the ledger that owns it asks
    /// them: totals, gaps and overlaps are answered from `tally`, the
    /// counts the ledger keeps for `as_of` (if it keeps any), and reviews
    /// are read only for pairs `unreviewed` does not rule out (both kept
    /// up to date by the ledger).
    pub(crate) fn of_ledger(
        store: &'a Store,
        as_of: AsOf,
        tally: Option<&'a dyn KeptCounts>,
        unreviewed: &'a dyn Unreviewed,
    ) -> Self {
        Coverage {
            store,
            as_of,
            tally,
            unreviewed: Some(unreviewed),
            count: Count::Reported,
        }
    }

    /// The same queries, reading what they need (what the tally counts with).
    pub(crate) fn untallied(&self) -> Coverage<'a> {
        Coverage {
            tally: None,
            ..*self
        }
    }

    /// The point in time the queries answer for.
    pub fn as_of(&self) -> AsOf {
        self.as_of
    }

    /// Projects counting as support in `pcode` (and, with `children`, every
    /// P-code under it), optionally in one sector (5-digit) or category (3-digit).
    pub fn who_supports(
        &self,
        pcode: &str,
        sector: Option<&str>,
        children: bool,
    ) -> Result<Vec<Support>, StoreError> {
        Ok(self
            .who_supports_at_most(pcode, sector, children, usize::MAX)?
            .unwrap_or_default())
    }

    /// [`Coverage::who_supports`], or None as soon as there are more than
    /// `max`: what an answer to another organisation holds is bounded
    /// before it is read whole.
    pub fn who_supports_at_most(
        &self,
        pcode: &str,
        sector: Option<&str>,
        children: bool,
        max: usize,
    ) -> Result<Option<Vec<Support>>, StoreError> {
        let mut found = Vec::new();
        for entry in self.store.coverage_entries_read(pcode, !children) {
            let (place, place_sector, project_id) = entry?;
            if sector.is_some_and(|wanted| !place_sector.starts_with(wanted)) {
                continue;
            }
            found.extend(self.support(place, place_sector, project_id)?);
            if found.len() > max {
                return Ok(None);
            }
        }
        Ok(Some(found))
    }

    /// A coverage index entry as support, if the project counts there as
    /// of this query: the index keeps every place a project ever had, and
    /// its version as of the query decides (and, counting confirmed
    /// support only, the municipality's word).
    fn support(
        &self,
        place: String,
        place_sector: String,
        project_id: String,
    ) -> Result<Option<Support>, StoreError> {
        let Some(project) = self.project(&project_id)? else {
            return Ok(None);
        };
        let confirmed = || {
            matches!(
                project.activity_attested(&place),
                pb::AttestationVerdict::Confirmed | pb::AttestationVerdict::Partly
            )
        };
        let here = project
            .places()
            .any(|(p, s)| p == place && s == place_sector);
        let counts = here && (self.count == Count::Reported || confirmed());
        Ok(counts.then_some(Support {
            pcode: place,
            sector: place_sector,
            project_id,
            project,
        }))
    }

    /// Calls `each` with every (municipality, sector) cell under `pcode`
    /// (itself and its children) that has support, optionally in one
    /// sector or category, in key order, with its supports: one cell's
    /// projects in memory at a time, however large the ledger.
    pub(crate) fn for_each_place(
        &self,
        pcode: &str,
        sector: Option<&str>,
        mut each: impl FnMut(&str, &str, Vec<Support>) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let mut cell: Option<(String, String)> = None;
        let mut supports = Vec::new();
        for entry in self.store.coverage_entries_read(pcode, false) {
            let (place, place_sector, project_id) = entry?;
            if sector.is_some_and(|wanted| !place_sector.starts_with(wanted)) {
                continue;
            }
            let same = cell
                .as_ref()
                .is_some_and(|(p, s)| *p == place && *s == place_sector);
            if !same {
                if let Some((p, s)) = cell.take() {
                    if !supports.is_empty() {
                        each(&p, &s, std::mem::take(&mut supports))?;
                    }
                }
                cell = Some((place.clone(), place_sector.clone()));
            }
            supports.extend(self.support(place, place_sector, project_id)?);
        }
        if let Some((p, s)) = cell {
            if !supports.is_empty() {
                each(&p, &s, supports)?;
            }
        }
        Ok(())
    }

    /// The project's state as of this query, if it counts as support then.
    pub(crate) fn project(&self, project_id: &str) -> Result<Option<ProjectRecord>, StoreError> {
        Ok(self
            .store
            .project_at(project_id, self.as_of.cut_ms)?
            .filter(|project| project.counts_on(self.as_of.day)))
    }

    /// Overlapping pairs under `pcode` (and its children), optionally in one
    /// sector; with `include_complementary`, also the pairs reviewed as such.
    /// Every pair at once: a crowded cell holds n²/2 of them, so a node
    /// answers with [`Coverage::overlaps_held_first`] instead (the tests
    /// check it against this).
    pub fn overlaps(
        &self,
        pcode: &str,
        sector: Option<&str>,
        include_complementary: bool,
    ) -> Result<Vec<Overlap>, StoreError> {
        let mut overlaps = Vec::new();
        self.for_each_place(pcode, sector, |pcode, sector, supports| {
            self.for_each_overlap(
                &supports,
                Complementary::kept_if(include_complementary),
                |a, b, kind, review| {
                    overlaps.push(Overlap::of(pcode, sector, a, b, kind, review));
                    std::ops::ControlFlow::Continue(())
                },
            )
        })?;
        Ok(overlaps)
    }

    /// [`Coverage::overlaps`], those held for the ministry's review first,
    /// at most `limit`, with how many there are: only the pairs returned
    /// are kept, however many there are (see `pairs.rs`).
    pub fn overlaps_held_first(
        &self,
        pcode: &str,
        sector: Option<&str>,
        include_complementary: bool,
        limit: usize,
    ) -> Result<(Vec<Overlap>, usize), StoreError> {
        let cells = self.overlap_cells(pcode, sector)?;
        self.list_held_first(&cells, include_complementary, limit)
    }

    /// Open overlapping pairs (not reviewed as complementary) per
    /// municipality and 3-digit category under `pcode`: what
    /// [`Coverage::overlaps`] would list there, counted.
    pub fn open_overlaps_by_category(
        &self,
        pcode: &str,
    ) -> Result<BTreeMap<(String, String), u64>, StoreError> {
        let mut by_category: BTreeMap<(String, String), u64> = BTreeMap::new();
        for ((place, sector), counts) in self.overlap_cells(pcode, None)? {
            if counts.open() == 0 {
                continue;
            }
            let category = sector.get(..3).unwrap_or(&sector).to_owned();
            *by_category.entry((place, category)).or_default() += counts.open();
        }
        Ok(by_category)
    }

    /// Every cell under `pcode` (optionally in one sector or category)
    /// with overlapping pairs, counted, in cell order: from the counts of
    /// now when this query is of now, else read cell by cell.
    fn overlap_cells(
        &self,
        pcode: &str,
        sector: Option<&str>,
    ) -> Result<Vec<(PairCell, OverlapCounts)>, StoreError> {
        match self.tally {
            Some(tally) => tally.counted_cells(&self.untallied(), pcode, sector),
            None => self.counted_cells(pcode, sector),
        }
    }

    /// Open overlapping pairs and uncovered needs under `pcode`.
    pub fn totals(&self, pcode: &str) -> Result<Totals, StoreError> {
        if let Some(tally) = self.tally {
            return tally.totals(&self.untallied(), pcode);
        }
        let gaps = self.gaps(pcode)?;
        Ok(Totals {
            open_overlaps: self
                .counted_cells(pcode, None)?
                .iter()
                .map(|(_, counts)| counts.open())
                .sum(),
            uncovered_needs: gaps.len() as u64,
            people_in_uncovered_needs: gaps.iter().map(|gap| gap.need.people_in_need).sum(),
        })
    }

    pub(crate) fn review(&self, a: &str, b: &str) -> Result<Option<ReviewRecord>, StoreError> {
        let (a, b) = pair(a, b);
        if self.unreviewed.is_some_and(|unreviewed| {
            unreviewed.surely_unreviewed(&crate::store::text_key(&[a, b]))
        }) {
            return Ok(None);
        }
        self.store.review_at(a, b, self.as_of.cut_ms)
    }

    /// Assessed needs under `pcode` with no support, most people in need first.
    pub fn gaps(&self, pcode: &str) -> Result<Vec<Gap>, StoreError> {
        if let Some(tally) = self.tally {
            return tally.gaps(&self.untallied(), pcode);
        }
        let mut gaps = Vec::new();
        for (place, sector, need) in self.store.needs_at(pcode, self.as_of.cut_ms)? {
            if self.uncovered(&place, &sector, &need)? {
                gaps.push(Gap {
                    pcode: place,
                    sector,
                    need,
                });
            }
        }
        gaps.sort_by(|x, y| {
            (y.need.people_in_need, y.need.severity, &x.pcode, &x.sector).cmp(&(
                x.need.people_in_need,
                x.need.severity,
                &y.pcode,
                &y.sector,
            ))
        });
        Ok(gaps)
    }

    /// Whether `need`, assessed in `pcode` and `sector`, is a gap: its
    /// period is not over, and no project supports it.
    pub(crate) fn uncovered(
        &self,
        pcode: &str,
        sector: &str,
        need: &NeedRecord,
    ) -> Result<bool, StoreError> {
        if Date::parse(&need.period_end).is_some_and(|end| end < self.as_of.day) {
            return Ok(false);
        }
        Ok(self.who_supports(pcode, Some(sector), false)?.is_empty())
    }

    /// The claims of projects located under `pcode` (itself included) that
    /// the party they name disputes, or confirms only in part: the
    /// ministry's list of what to look into. By project, then subject.
    pub fn disputes(&self, pcode: &str) -> Result<Vec<Dispute>, StoreError> {
        let mut seen = BTreeSet::new();
        let mut found = Vec::new();
        for entry in self.store.coverage_entries_read(pcode, false) {
            let (_, _, project_id) = entry?;
            if !seen.insert(project_id.clone()) {
                continue;
            }
            let Some(project) = self.store.project_at(&project_id, self.as_of.cut_ms)? else {
                continue;
            };
            let open = |verdict: pb::AttestationVerdict| {
                matches!(
                    verdict,
                    pb::AttestationVerdict::Disputed | pb::AttestationVerdict::Partly
                )
            };
            for (funder, verdict) in &project.funding_attested {
                if open(*verdict) {
                    found.push(Dispute {
                        project_id: project_id.clone(),
                        subject: "funding".to_owned(),
                        attester: funder.clone(),
                        word: None,
                        verdict: *verdict,
                        owner: project.owner.clone(),
                    });
                }
            }
            for (subject, words) in &project.attested {
                for (attester, word) in words {
                    if open(word.verdict) {
                        found.push(Dispute {
                            project_id: project_id.clone(),
                            subject: subject.clone(),
                            attester: attester.clone(),
                            word: Some(word.clone()),
                            verdict: word.verdict,
                            owner: project.owner.clone(),
                        });
                    }
                }
            }
        }
        // The index's order depends on where projects were before: the
        // answer's does not.
        found.sort_by(|x, y| {
            (&x.project_id, &x.subject, &x.attester).cmp(&(&y.project_id, &y.subject, &y.attester))
        });
        Ok(found)
    }

    /// The donors (see [`ProjectRecord::donor`]) supporting each
    /// municipality under `pcode`, in any sector: what a map colours a
    /// place by. Cell by cell like [`Coverage::matrix`], and it keeps only
    /// the names: a country's map needs no cells, budgets or overlaps.
    pub fn donors_by_place(
        &self,
        pcode: &str,
    ) -> Result<BTreeMap<String, BTreeSet<String>>, StoreError> {
        let mut donors: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        self.for_each_place(pcode, None, |place, _, supports| {
            let of_place = match donors.get_mut(place) {
                Some(of_place) => of_place,
                None => donors.entry(place.to_owned()).or_default(),
            };
            for support in supports {
                if !of_place.contains(support.project.donor()) {
                    of_place.insert(support.project.donor().to_owned());
                }
            }
            Ok(())
        })?;
        Ok(donors)
    }

    /// Municipalities under `pcode` × 3-digit sector categories.
    pub fn matrix(&self, pcode: &str) -> Result<BTreeMap<(String, String), Cell>, StoreError> {
        let mut cells: BTreeMap<(String, String), Cell> = BTreeMap::new();
        // Cell by cell, one (municipality, sector) in memory at a time. A
        // category's sectors come together within a municipality (keys in
        // order, the category a sector's first 3 digits), so the projects
        // already counted are kept for the category being read only.
        let mut counted: ((String, String), BTreeSet<String>) = Default::default();
        self.for_each_place(pcode, None, |place, sector, supports| {
            let key = (
                place.to_owned(),
                sector.get(..3).unwrap_or(sector).to_owned(),
            );
            if counted.0 != key {
                counted = (key.clone(), BTreeSet::new());
            }
            let cell = cells.entry(key).or_default();
            for support in supports {
                if !counted.1.insert(support.project_id) {
                    continue;
                }
                cell.projects += 1;
                cell.donors.insert(support.project.donor().to_owned());
                let summary = &support.project.summary;
                if crate::event::fields::is_decimal_amount(&summary.budget_value) {
                    cell.budget
                        .entry(summary.budget_currency.clone())
                        .or_default()
                        .add(&summary.budget_value);
                }
            }
            Ok(())
        })?;
        Ok(cells)
    }

    /// What a proposed project would meet: the support already in its places
    /// and the overlaps it would create. Writes nothing.
    pub fn check(
        &self,
        project_id: &str,
        proposed: &ProjectRecord,
    ) -> Result<(Vec<Support>, Vec<Overlap>), StoreError> {
        let mut existing = Vec::new();
        let mut overlaps = Vec::new();
        let candidate = |pcode: &str, sector: &str| Support {
            pcode: pcode.to_owned(),
            sector: sector.to_owned(),
            project_id: project_id.to_owned(),
            project: proposed.clone(),
        };
        let compared = Compared::of(proposed);
        for (pcode, sector) in proposed.places() {
            for support in self.who_supports(pcode, Some(sector), false)? {
                if support.project_id == project_id || support.sector != sector {
                    continue;
                }
                let judged = judge(&compared, &support.project, Complementary::LeftOut, || {
                    self.review(project_id, &support.project_id)
                })?;
                if let Some(Judged { kind, review }) = judged {
                    overlaps.push(Overlap {
                        pcode: pcode.to_owned(),
                        sector: sector.to_owned(),
                        a: candidate(pcode, sector),
                        b: support.clone(),
                        kind,
                        review,
                    });
                }
                existing.push(support);
            }
        }
        Ok((existing, overlaps))
    }

    /// The coordination policy that applies to `sector` (5-digit, else its category).
    pub fn policy(&self, sector: &str) -> Result<pb::CoordinationPolicy, StoreError> {
        sector_policy(self.store, sector, self.as_of.cut_ms)
    }
}
