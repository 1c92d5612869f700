//! Coverage: who supports which municipality in which sector, the overlaps
//! between efforts and the assessed needs nobody covers — as the ledger stood
//! at any date.
//!
//! The projections are written by the append path in the same write batch as
//! the events (see `append`), and only ever grow: a project's every state is
//! kept as a version stamped with its commit time, so an as-of query picks
//! the last version committed by then. Rebuilding from the log (see
//! [`crate::append::rebuild`]) yields the same bytes.
//!
//! Counting rules:
//! - a project supports each (municipality, sector) of its locations and
//!   sectors from its registration — pipeline included, that is when
//!   duplication can still be prevented — until the end date of its closure
//!   or cancellation;
//! - two projects overlap when they share a municipality and a 5-digit
//!   sector, their periods intersect, and they have different donors, or one
//!   donor registered two projects whose titles look alike
//!   ([`crate::normalise::similar_titles`]); pairs the ministry reviewed as
//!   complementary are left out;
//! - a gap is an assessed need (latest assessment, period not over) with no
//!   supporting project in its municipality and sector (a 3-digit need is
//!   covered by any project in its category).

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use tansiq_proto::v1 as pb;

use crate::date::Date;
use crate::normalise::similar_titles;
use crate::store::{ProjectRecord, Store, StoreError};

/// IATI ActivityStatus codes that end a project.
pub const STATUS_CLOSED: u32 = 4;
pub const STATUS_CANCELLED: u32 = 5;

/// What coverage needs of a project's details.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProjectSummary {
    pub title_latin: String,
    pub title_arabic: String,
    /// Funding organisations (role 1): org id, else IATI id, else name.
    pub funders: Vec<String>,
    /// Implementing organisations (role 4).
    pub implementers: Vec<String>,
    pub locations: Vec<String>,
    pub sectors: Vec<String>,
    /// Actual start, else planned start (YYYY-MM-DD or empty).
    pub start: String,
    /// Actual end, else planned end.
    pub end: String,
    pub budget_value: String,
    pub budget_currency: String,
}

impl ProjectSummary {
    pub fn from_details(details: &pb::ProjectDetails) -> ProjectSummary {
        let participants = |role: u32| -> Vec<String> {
            details
                .participants
                .iter()
                .filter(|p| p.role == role)
                .map(|p| {
                    let name = p.name.as_ref();
                    [
                        p.org_id.as_str(),
                        p.iati_identifier.as_str(),
                        name.map_or("", |n| n.latin.as_str()),
                        name.map_or("", |n| n.arabic.as_str()),
                    ]
                    .into_iter()
                    .find(|s| !s.is_empty())
                    .unwrap_or_default()
                    .to_owned()
                })
                .filter(|id| !id.is_empty())
                .collect()
        };
        let either = |a: &str, b: &str| if a.is_empty() { b } else { a }.to_owned();
        let title = details.title.clone().unwrap_or_default();
        let budget = details.budget.clone().unwrap_or_default();
        ProjectSummary {
            title_latin: title.latin,
            title_arabic: title.arabic,
            funders: participants(1),
            implementers: participants(4),
            locations: details.locations.iter().map(|l| l.pcode.clone()).collect(),
            sectors: details.sectors.iter().map(|s| s.code.clone()).collect(),
            start: either(&details.actual_start, &details.planned_start),
            end: either(&details.actual_end, &details.planned_end),
            budget_value: budget.value,
            budget_currency: budget.currency,
        }
    }
}

impl ProjectRecord {
    /// The donor: the first funding organisation, else the reporting one.
    /// A funder other than the reporting organisation is only *claimed*
    /// ([`ProjectRecord::donor_is_claimed`]): it signed nothing.
    pub fn donor(&self) -> &str {
        self.summary
            .funders
            .first()
            .map_or(self.owner.as_str(), String::as_str)
    }

    /// Whether the donor shown is named by another organisation than
    /// itself (the reporting one) and has not confirmed it.
    pub fn donor_is_claimed(&self) -> bool {
        self.donor() != self.owner
    }

    /// The period the project occupies: from its start (or registration)
    /// to its closure, else its end; `None` is open-ended.
    pub fn period(&self) -> (Option<Date>, Option<Date>) {
        let start = Date::parse(&self.summary.start).or_else(|| Date::parse(&self.registered_on));
        let end = if self.closed {
            Date::parse(&self.closed_on)
        } else {
            Date::parse(&self.summary.end)
        };
        (start, end)
    }

    /// Whether the project counts as support on `day`.
    pub fn counts_on(&self, day: Date) -> bool {
        !self.closed || Date::parse(&self.closed_on).is_some_and(|end| day <= end)
    }

    /// The (municipality, sector) pairs the project supports.
    pub fn places(&self) -> impl Iterator<Item = (&str, &str)> {
        self.summary.locations.iter().flat_map(move |pcode| {
            self.summary
                .sectors
                .iter()
                .map(move |sector| (pcode.as_str(), sector.as_str()))
        })
    }
}

/// Why two projects overlap.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum OverlapKind {
    /// Different donors in the same municipality and sector at the same time.
    DifferentDonors,
    /// One donor, two registrations whose titles look like the same project.
    SameDonorSimilarTitle,
}

impl OverlapKind {
    pub fn as_str(self) -> &'static str {
        match self {
            OverlapKind::DifferentDonors => "different_donors",
            OverlapKind::SameDonorSimilarTitle => "same_donor_similar_title",
        }
    }
}

fn periods_intersect(a: &ProjectRecord, b: &ProjectRecord) -> bool {
    let (a_start, a_end) = a.period();
    let (b_start, b_end) = b.period();
    let before = |start: Option<Date>, end: Option<Date>| match (start, end) {
        (Some(start), Some(end)) => start <= end,
        _ => true,
    };
    before(a_start, b_end) && before(b_start, a_end)
}

/// Whether `a` and `b` overlap in a place they share (not considering reviews).
pub fn overlap_kind(a: &ProjectRecord, b: &ProjectRecord) -> Option<OverlapKind> {
    if !periods_intersect(a, b) {
        return None;
    }
    // Keyed on who signed the registrations, never on the funder they
    // name: naming another donor as funder must not avoid an overlap (and
    // with it a sector's hold policy).
    if a.owner != b.owner {
        return Some(OverlapKind::DifferentDonors);
    }
    let alike = |x: &str, y: &str| similar_titles(x, y);
    (alike(&a.summary.title_latin, &b.summary.title_latin)
        || alike(&a.summary.title_arabic, &b.summary.title_arabic))
    .then_some(OverlapKind::SameDonorSimilarTitle)
}

/// An assessed need, as of one assessment.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NeedRecord {
    pub people_in_need: u64,
    pub severity: u32,
    pub period_start: String,
    pub period_end: String,
    pub source: String,
    pub committed_at_ms: i64,
}

/// The ministry's review of a pair of projects.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReviewRecord {
    /// `pb::OverlapVerdict` value.
    pub verdict: i32,
    pub note: String,
    pub committed_at_ms: i64,
}

impl ReviewRecord {
    pub fn complementary(&self) -> bool {
        self.verdict == pb::OverlapVerdict::Complementary as i32
    }
}

/// A sector's coordination policy since a commit time.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyRecord {
    /// `pb::CoordinationPolicy` value.
    pub policy: i32,
    pub committed_at_ms: i64,
}

/// A pair of project ids in canonical order.
pub fn pair<'a>(a: &'a str, b: &'a str) -> (&'a str, &'a str) {
    if a <= b {
        (a, b)
    } else {
        (b, a)
    }
}

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
    pub pcode: String,
    pub sector: String,
    pub project_id: String,
    pub project: ProjectRecord,
}

/// Two overlapping projects in one municipality and sector.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Overlap {
    pub pcode: String,
    pub sector: String,
    pub a: Support,
    pub b: Support,
    pub kind: OverlapKind,
    pub review: Option<ReviewRecord>,
}

/// An assessed need with no support.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Gap {
    pub pcode: String,
    pub sector: String,
    pub need: NeedRecord,
}

/// One cell of the coverage matrix: a municipality and a 3-digit sector category.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Cell {
    pub projects: BTreeSet<String>,
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

/// Queries over a store's committed projections, as of a point in time.
pub struct Coverage<'a> {
    store: &'a Store,
    as_of: AsOf,
}

impl<'a> Coverage<'a> {
    pub fn new(store: &'a Store, as_of: AsOf) -> Self {
        Coverage { store, as_of }
    }

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
        let mut found = Vec::new();
        for (place, place_sector, project_id) in self.store.coverage_entries(pcode, !children)? {
            if sector.is_some_and(|wanted| !place_sector.starts_with(wanted)) {
                continue;
            }
            let Some(project) = self.project(&project_id)? else {
                continue;
            };
            // The index keeps every place a project ever had; its version
            // as of this query decides.
            if project
                .places()
                .any(|(p, s)| p == place && s == place_sector)
            {
                found.push(Support {
                    pcode: place,
                    sector: place_sector,
                    project_id,
                    project,
                });
            }
        }
        Ok(found)
    }

    /// The project's state as of this query, if it counts as support then.
    fn project(&self, project_id: &str) -> Result<Option<ProjectRecord>, StoreError> {
        Ok(self
            .store
            .project_at(project_id, self.as_of.cut_ms)?
            .filter(|project| project.counts_on(self.as_of.day)))
    }

    /// Overlapping pairs under `pcode` (and its children), optionally in one
    /// sector; with `include_complementary`, also the pairs reviewed as such.
    pub fn overlaps(
        &self,
        pcode: &str,
        sector: Option<&str>,
        include_complementary: bool,
    ) -> Result<Vec<Overlap>, StoreError> {
        let mut places: BTreeMap<(String, String), Vec<Support>> = BTreeMap::new();
        for support in self.who_supports(pcode, sector, true)? {
            places
                .entry((support.pcode.clone(), support.sector.clone()))
                .or_default()
                .push(support);
        }
        let mut overlaps = Vec::new();
        for ((pcode, sector), supports) in places {
            for (i, a) in supports.iter().enumerate() {
                for b in &supports[i + 1..] {
                    let Some(kind) = overlap_kind(&a.project, &b.project) else {
                        continue;
                    };
                    let review = self.review(&a.project_id, &b.project_id)?;
                    if !include_complementary
                        && review.as_ref().is_some_and(ReviewRecord::complementary)
                    {
                        continue;
                    }
                    overlaps.push(Overlap {
                        pcode: pcode.clone(),
                        sector: sector.clone(),
                        a: a.clone(),
                        b: b.clone(),
                        kind,
                        review,
                    });
                }
            }
        }
        Ok(overlaps)
    }

    fn review(&self, a: &str, b: &str) -> Result<Option<ReviewRecord>, StoreError> {
        let (a, b) = pair(a, b);
        self.store.review_at(a, b, self.as_of.cut_ms)
    }

    /// Assessed needs under `pcode` with no support, most people in need first.
    pub fn gaps(&self, pcode: &str) -> Result<Vec<Gap>, StoreError> {
        let mut gaps = Vec::new();
        for (place, sector, need) in self.store.needs_at(pcode, self.as_of.cut_ms)? {
            if Date::parse(&need.period_end).is_some_and(|end| end < self.as_of.day) {
                continue;
            }
            if self.who_supports(&place, Some(&sector), false)?.is_empty() {
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

    /// Municipalities under `pcode` × 3-digit sector categories.
    pub fn matrix(&self, pcode: &str) -> Result<BTreeMap<(String, String), Cell>, StoreError> {
        let mut cells: BTreeMap<(String, String), Cell> = BTreeMap::new();
        for support in self.who_supports(pcode, None, true)? {
            let category = support
                .sector
                .get(..3)
                .unwrap_or(&support.sector)
                .to_owned();
            let cell = cells.entry((support.pcode, category)).or_default();
            if cell.projects.insert(support.project_id) {
                cell.donors.insert(support.project.donor().to_owned());
                let summary = &support.project.summary;
                if crate::event::fields::is_decimal_amount(&summary.budget_value) {
                    cell.budget
                        .entry(summary.budget_currency.clone())
                        .or_default()
                        .add(&summary.budget_value);
                }
            }
        }
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
        for (pcode, sector) in proposed.places() {
            for support in self.who_supports(pcode, Some(sector), false)? {
                if support.project_id == project_id || support.sector != sector {
                    continue;
                }
                if let Some(kind) = overlap_kind(proposed, &support.project) {
                    let review = self.review(project_id, &support.project_id)?;
                    if !review.as_ref().is_some_and(ReviewRecord::complementary) {
                        overlaps.push(Overlap {
                            pcode: pcode.to_owned(),
                            sector: sector.to_owned(),
                            a: candidate(pcode, sector),
                            b: support.clone(),
                            kind,
                            review,
                        });
                    }
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

/// The policy for a 5-digit sector as of `cut_ms`.
pub fn sector_policy(
    store: &Store,
    sector: &str,
    cut_ms: i64,
) -> Result<pb::CoordinationPolicy, StoreError> {
    policy_for(sector, |code| store.policy_at(code, cut_ms))
}

/// The policy for a 5-digit sector: its own if set, else its 3-digit
/// category's, else warn. `lookup` reads the policy record of one code.
pub fn policy_for(
    sector: &str,
    mut lookup: impl FnMut(&str) -> Result<Option<PolicyRecord>, StoreError>,
) -> Result<pb::CoordinationPolicy, StoreError> {
    for code in [sector, sector.get(..3).unwrap_or(sector)] {
        if let Some(record) = lookup(code)? {
            return Ok(pb::CoordinationPolicy::try_from(record.policy)
                .unwrap_or(pb::CoordinationPolicy::Warn));
        }
    }
    Ok(pb::CoordinationPolicy::Warn)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budgets_sum_exactly() {
        let mut sum = DecimalSum::default();
        for amount in ["0.1", "0.2", "999999999999999.9999", "1"] {
            assert!(sum.add(amount), "{amount}");
        }
        assert_eq!(sum.to_string(), "1000000000000001.2999");
        assert!(!sum.add("1e3"));
        let mut whole = DecimalSum::default();
        whole.add("100000");
        assert_eq!(whole.to_string(), "100000.00");
    }

    fn project(donor: &str, title: &str, start: &str, end: &str) -> ProjectRecord {
        ProjectRecord {
            owner: donor.into(),
            iati_identifier: String::new(),
            status: 2,
            closed: false,
            closed_on: String::new(),
            registered_on: "2026-01-01".into(),
            pending_review: false,
            summary: ProjectSummary {
                title_latin: title.into(),
                start: start.into(),
                end: end.into(),
                locations: vec!["LY0101".into()],
                sectors: vec!["14030".into()],
                ..ProjectSummary::default()
            },
        }
    }

    #[test]
    fn overlap_needs_intersecting_periods_and_different_donors_or_alike_titles() {
        let a = project("eu", "Water network", "2026-01-01", "2026-12-31");
        let b = project("undp", "Desalination plant", "2026-06-01", "2027-06-01");
        assert_eq!(overlap_kind(&a, &b), Some(OverlapKind::DifferentDonors));
        let later = project("undp", "Desalination plant", "2027-01-01", "2027-06-01");
        assert_eq!(overlap_kind(&a, &later), None);
        let twice = project("eu", "water  NETWORK", "2026-03-01", "");
        assert_eq!(
            overlap_kind(&a, &twice),
            Some(OverlapKind::SameDonorSimilarTitle)
        );
        let other = project("eu", "School transport", "2026-03-01", "");
        assert_eq!(overlap_kind(&a, &other), None);
    }

    #[test]
    fn a_closed_project_counts_until_its_end_date() {
        let mut p = project("eu", "Water", "2026-01-01", "");
        p.closed = true;
        p.closed_on = "2026-05-31".into();
        assert!(p.counts_on(Date::parse("2026-05-31").expect("date")));
        assert!(!p.counts_on(Date::parse("2026-06-01").expect("date")));
    }
}
