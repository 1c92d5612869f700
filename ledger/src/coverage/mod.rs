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
//!   (`normalise::similar_titles`); pairs the ministry reviewed as
//!   complementary are left out;
//! - a gap is an assessed need (latest assessment, period not over) with no
//!   supporting project in its municipality and 5-digit sector (needs are
//!   assessed in 5-digit sectors only).
//!
//! The counts of now (open overlaps and uncovered needs per cell) are kept
//! up to date by the commits in a [`Tally`], so that a whole country's
//! totals and gaps answer without reading every project.

pub mod csv;
mod list;
pub(crate) mod normalise;
mod overlap;
mod pairs;
mod policy;
mod project;
mod query;
mod read;
mod search;
mod tally;
#[cfg(test)]
mod tests;

pub use list::{Listed, Page, ProjectFilter};
pub use overlap::OverlapKind;
pub(crate) use overlap::{judge, pair, Candidate, Compared, Complementary, Judged};
pub(crate) use policy::policy_for;
pub(crate) use project::pcode_within;
pub use project::PeriodStatus;
pub(crate) use query::KeptCounts;
pub(crate) use query::Unreviewed;
pub use query::{AsOf, Cell, Count, Coverage, DecimalSum, Dispute, Gap, Overlap, Support, Totals};
pub use search::{Found, Hit, HitKind, SearchError};
pub use tally::{PastTallies, Tally};
