//! The overlap rule: two projects overlap when they share a place and a
//! sector in intersecting periods, by kind (another donor, the same donor
//! with a similar title).

use serde::{Deserialize, Serialize};

use crate::date::Date;
use crate::store::{ProjectRecord, ReviewRecord};

use super::normalise::similar_titles;

/// Why two projects overlap.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum OverlapKind {
    /// Different donors in the same municipality and sector at the same time.
    DifferentDonors,
    /// One donor, two registrations whose titles look like the same project.
    SameDonorSimilarTitle,
}

impl OverlapKind {
    /// The kind's snake_case name, as the API and the CLI show it.
    pub fn as_str(self) -> &'static str {
        match self {
            OverlapKind::DifferentDonors => "different_donors",
            OverlapKind::SameDonorSimilarTitle => "same_donor_similar_title",
        }
    }
}

/// What the overlap rule reads of a project: who registered it, the
/// period it occupies and its titles. A stored record answers it, and so
/// does the writer's [`Candidate`] (the same facts, kept in memory per
/// place).
pub(crate) trait Overlapping {
    /// The organisation that registered (and signs) the project.
    fn owner(&self) -> &str;
    /// See [`ProjectRecord::period`].
    fn period(&self) -> (Option<Date>, Option<Date>);
    /// Its titles, Latin and Arabic.
    fn titles(&self) -> (&str, &str);
}

impl Overlapping for ProjectRecord {
    fn owner(&self) -> &str {
        &self.owner
    }
    fn period(&self) -> (Option<Date>, Option<Date>) {
        ProjectRecord::period(self)
    }
    fn titles(&self) -> (&str, &str) {
        (&self.summary.title_latin, &self.summary.title_arabic)
    }
}

/// A stored record compared with many others: its period parsed once
/// ([`ProjectRecord::period`] parses up to three dates at every call; a
/// registration is compared with every project of its place, and a
/// cell's count compares each pair). Borrowed, for the length of one
/// loop; [`Candidate`] is the owned form the writer keeps per place.
pub(crate) struct Compared<'a> {
    record: &'a ProjectRecord,
    period: (Option<Date>, Option<Date>),
}

impl<'a> Compared<'a> {
    pub(crate) fn of(record: &'a ProjectRecord) -> Compared<'a> {
        Compared {
            record,
            period: record.period(),
        }
    }
}

impl Overlapping for Compared<'_> {
    fn owner(&self) -> &str {
        &self.record.owner
    }
    fn period(&self) -> (Option<Date>, Option<Date>) {
        self.period
    }
    fn titles(&self) -> (&str, &str) {
        Overlapping::titles(self.record)
    }
}

/// A project as the registration-time overlap check keeps it in memory:
/// what [`overlap_kind`] reads, whether it counts on a day, and what a
/// receipt's warning names — parsed once, not at every comparison.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Candidate {
    pub(crate) id: Box<str>,
    owner: Box<str>,
    start: Option<Date>,
    end: Option<Date>,
    /// [`ProjectRecord::closed_until`].
    closed_until: Option<Option<Date>>,
    title_latin: Box<str>,
    title_arabic: Box<str>,
    /// [`ProjectRecord::donor`].
    pub(crate) donor: Box<str>,
}

impl Candidate {
    pub(crate) fn of(id: &str, project: &ProjectRecord) -> Candidate {
        let (start, end) = project.period();
        Candidate {
            id: id.into(),
            owner: project.owner.as_str().into(),
            start,
            end,
            closed_until: project.closed_until(),
            title_latin: project.summary.title_latin.as_str().into(),
            title_arabic: project.summary.title_arabic.as_str().into(),
            donor: project.donor().into(),
        }
    }

    /// [`ProjectRecord::counts_on`].
    pub(crate) fn counts_on(&self, day: Date) -> bool {
        super::project::counts_on(self.closed_until, day)
    }

    /// The memory it holds, roughly: its fixed part, its text, and the
    /// `Arc` a list keeps it in.
    pub(crate) fn bytes(&self) -> usize {
        std::mem::size_of::<Candidate>()
            + 2 * std::mem::size_of::<usize>()
            + self.id.len()
            + self.owner.len()
            + self.title_latin.len()
            + self.title_arabic.len()
            + self.donor.len()
    }

    /// The title a warning shows: the Latin one, else the Arabic one.
    pub(crate) fn title(&self) -> &str {
        if self.title_latin.is_empty() {
            &self.title_arabic
        } else {
            &self.title_latin
        }
    }
}

impl Overlapping for Candidate {
    fn owner(&self) -> &str {
        &self.owner
    }
    fn period(&self) -> (Option<Date>, Option<Date>) {
        (self.start, self.end)
    }
    fn titles(&self) -> (&str, &str) {
        (&self.title_latin, &self.title_arabic)
    }
}

pub(crate) fn periods_intersect(a: &impl Overlapping, b: &impl Overlapping) -> bool {
    let (a_start, a_end) = a.period();
    let (b_start, b_end) = b.period();
    let before = |start: Option<Date>, end: Option<Date>| match (start, end) {
        (Some(start), Some(end)) => start <= end,
        _ => true,
    };
    before(a_start, b_end) && before(b_start, a_end)
}

/// Whether `a` and `b` overlap in a place they share (not considering reviews).
pub(crate) fn overlap_kind(a: &impl Overlapping, b: &impl Overlapping) -> Option<OverlapKind> {
    if !periods_intersect(a, b) {
        return None;
    }
    // Keyed on who signed the registrations, never on the funder they
    // name: naming another donor as funder must not avoid an overlap (and
    // with it a sector's hold policy).
    if a.owner() != b.owner() {
        return Some(OverlapKind::DifferentDonors);
    }
    let ((a_latin, a_arabic), (b_latin, b_arabic)) = (a.titles(), b.titles());
    (similar_titles(a_latin, b_latin) || similar_titles(a_arabic, b_arabic))
        .then_some(OverlapKind::SameDonorSimilarTitle)
}

/// Whether a pair the ministry reviewed as complementary still counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Complementary {
    /// No: it is not an overlap (warnings, holds, the default listing).
    LeftOut,
    /// Yes, with its review (`tansiq overlaps --all`).
    Kept,
}

impl Complementary {
    /// Kept when a listing includes the complementary pairs, else left out.
    pub(crate) fn kept_if(include_complementary: bool) -> Complementary {
        if include_complementary {
            Complementary::Kept
        } else {
            Complementary::LeftOut
        }
    }
}

/// Two projects that overlap, and the ministry's review of the pair if any.
#[derive(Clone, Debug)]
pub(crate) struct Judged {
    pub(crate) kind: OverlapKind,
    pub(crate) review: Option<ReviewRecord>,
}

/// The overlap rule, whole, for two projects found in one place and
/// sector: [`overlap_kind`], then the pair's review (read only when they
/// overlap), which leaves a complementary pair out unless `complementary`
/// keeps it. The one rule the staging (warnings and holds at registration),
/// `Coverage::overlaps` and `Coverage::check` apply.
pub(crate) fn judge<E>(
    a: &impl Overlapping,
    b: &impl Overlapping,
    complementary: Complementary,
    review: impl FnOnce() -> Result<Option<ReviewRecord>, E>,
) -> Result<Option<Judged>, E> {
    let Some(kind) = overlap_kind(a, b) else {
        return Ok(None);
    };
    let review = review()?;
    if complementary == Complementary::LeftOut
        && review.as_ref().is_some_and(ReviewRecord::complementary)
    {
        return Ok(None);
    }
    Ok(Some(Judged { kind, review }))
}

/// A pair of project ids in canonical order.
pub(crate) fn pair<'a>(a: &'a str, b: &'a str) -> (&'a str, &'a str) {
    if a <= b {
        (a, b)
    } else {
        (b, a)
    }
}

/// A (municipality P-code, sector code) pair.
pub(crate) type Cell = (String, String);

/// The overlapping pairs of one cell, counted: how many were reviewed as
/// complementary and how many not, and how many of each are held for the
/// ministry's review.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct OverlapCounts {
    open: u64,
    open_held: u64,
    complementary: u64,
    complementary_held: u64,
}

impl OverlapCounts {
    pub(crate) fn add(&mut self, held: bool, complementary: bool) {
        let (pairs, held_pairs) = if complementary {
            (&mut self.complementary, &mut self.complementary_held)
        } else {
            (&mut self.open, &mut self.open_held)
        };
        *pairs += 1;
        *held_pairs += u64::from(held);
    }

    /// Pairs not reviewed as complementary.
    pub(crate) fn open(&self) -> u64 {
        self.open
    }

    /// No pair at all.
    pub(crate) fn is_empty(&self) -> bool {
        self.open + self.complementary == 0
    }

    /// (pairs, of which held) a listing shows, with or without those
    /// reviewed as complementary.
    pub(crate) fn listed(&self, include_complementary: bool) -> (u64, u64) {
        if include_complementary {
            (
                self.open + self.complementary,
                self.open_held + self.complementary_held,
            )
        } else {
            (self.open, self.open_held)
        }
    }
}
