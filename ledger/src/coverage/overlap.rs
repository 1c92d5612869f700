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

pub(crate) fn periods_intersect(a: &ProjectRecord, b: &ProjectRecord) -> bool {
    let (a_start, a_end) = a.period();
    let (b_start, b_end) = b.period();
    let before = |start: Option<Date>, end: Option<Date>| match (start, end) {
        (Some(start), Some(end)) => start <= end,
        _ => true,
    };
    before(a_start, b_end) && before(b_start, a_end)
}

/// Whether `a` and `b` overlap in a place they share (not considering reviews).
pub(crate) fn overlap_kind(a: &ProjectRecord, b: &ProjectRecord) -> Option<OverlapKind> {
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

/// Whether a pair the ministry reviewed as complementary still counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Complementary {
    /// No: it is not an overlap (warnings, holds, the default listing).
    LeftOut,
    /// Yes, with its review (`tansiq overlaps --all`).
    Kept,
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
    a: &ProjectRecord,
    b: &ProjectRecord,
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
