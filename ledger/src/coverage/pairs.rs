//! Overlapping pairs counted and listed one cell at a time.
//!
//! A (municipality, sector) cell of n projects may hold n²/2 overlapping
//! pairs: a capital's cell with a few thousand projects of several donors
//! holds millions. So nothing keeps a cell's pairs: counts are kept per
//! cell ([`OverlapCounts`]), and a listing of at most `limit` pairs reads
//! again only the cells it shows, one at a time, keeping only the pairs it
//! returns. (The tally kept every pair of every cell: a 100,000-event
//! ledger whose 20,000 projects were in one municipality took a node to
//! 524 MiB.)

use std::ops::ControlFlow;

use crate::store::{ReviewRecord, StoreError};

use super::overlap::{judge, Cell, Compared, Complementary, Judged, OverlapCounts, OverlapKind};
use super::query::{Coverage, Overlap, Support};

/// One of the two projects is held for the ministry's review.
fn held(a: &Support, b: &Support) -> bool {
    a.project.pending_review || b.project.pending_review
}

impl Coverage<'_> {
    /// Calls `visit` with each overlapping pair of `supports` (all of one
    /// cell), in order, until it breaks: the one rule every listing and
    /// count of overlaps applies. Nothing is kept but what `visit` keeps.
    pub(crate) fn for_each_overlap(
        &self,
        supports: &[Support],
        complementary: Complementary,
        mut visit: impl FnMut(&Support, &Support, OverlapKind, Option<ReviewRecord>) -> ControlFlow<()>,
    ) -> Result<(), StoreError> {
        let compared: Vec<(&Support, Compared<'_>)> = supports
            .iter()
            .map(|support| (support, Compared::of(&support.project)))
            .collect();
        for (i, (a, a_compared)) in compared.iter().enumerate() {
            for (b, b_compared) in &compared[i + 1..] {
                let judged = judge(a_compared, b_compared, complementary, || {
                    self.review(&a.project_id, &b.project_id)
                })?;
                if let Some(Judged { kind, review }) = judged {
                    if visit(a, b, kind, review).is_break() {
                        return Ok(());
                    }
                }
            }
        }
        Ok(())
    }

    /// The overlapping pairs of `supports` (all of one cell), counted.
    pub(crate) fn count_overlaps(&self, supports: &[Support]) -> Result<OverlapCounts, StoreError> {
        let mut counts = OverlapCounts::default();
        self.for_each_overlap(supports, Complementary::Kept, |a, b, _, review| {
            counts.add(
                held(a, b),
                review.as_ref().is_some_and(ReviewRecord::complementary),
            );
            ControlFlow::Continue(())
        })?;
        Ok(counts)
    }

    /// The supports of exactly `pcode` and `sector`, in the order
    /// [`Coverage::for_each_place`] gives them.
    pub(crate) fn cell_supports(
        &self,
        pcode: &str,
        sector: &str,
    ) -> Result<Vec<Support>, StoreError> {
        let mut supports = self.who_supports(pcode, Some(sector), false)?;
        supports.retain(|support| support.sector == sector);
        Ok(supports)
    }

    /// The overlapping pairs of `cells` (each with its counts, in cell
    /// order), those held for the ministry's review first, then in cell
    /// order and each cell's own; at most `limit`, with how many there are.
    /// Only the cells with pairs to show are read again.
    pub(crate) fn list_held_first(
        &self,
        cells: &[(Cell, OverlapCounts)],
        include_complementary: bool,
        limit: usize,
    ) -> Result<(Vec<Overlap>, usize), StoreError> {
        let total: u64 = cells
            .iter()
            .map(|(_, counts)| counts.listed(include_complementary).0)
            .sum();
        let complementary = Complementary::kept_if(include_complementary);
        let mut overlaps = Vec::new();
        for held_pass in [true, false] {
            for ((pcode, sector), counts) in cells {
                if overlaps.len() >= limit {
                    break;
                }
                let (pairs, held_pairs) = counts.listed(include_complementary);
                let shown = if held_pass {
                    held_pairs
                } else {
                    pairs - held_pairs
                };
                if shown == 0 {
                    continue;
                }
                let supports = self.cell_supports(pcode, sector)?;
                self.for_each_overlap(&supports, complementary, |a, b, kind, review| {
                    if held(a, b) == held_pass {
                        overlaps.push(Overlap::of(pcode, sector, a, b, kind, review));
                    }
                    if overlaps.len() >= limit {
                        ControlFlow::Break(())
                    } else {
                        ControlFlow::Continue(())
                    }
                })?;
            }
        }
        Ok((overlaps, usize::try_from(total).unwrap_or(usize::MAX)))
    }

    /// Every cell under `pcode` (optionally in one sector or category) with
    /// overlapping pairs, counted, in cell order: one cell's projects in
    /// memory at a time.
    pub(crate) fn counted_cells(
        &self,
        pcode: &str,
        sector: Option<&str>,
    ) -> Result<Vec<(Cell, OverlapCounts)>, StoreError> {
        let mut cells = Vec::new();
        self.for_each_place(pcode, sector, |pcode, sector, supports| {
            let counts = self.count_overlaps(&supports)?;
            if !counts.is_empty() {
                cells.push(((pcode.to_owned(), sector.to_owned()), counts));
            }
            Ok(())
        })?;
        Ok(cells)
    }
}
