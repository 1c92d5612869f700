//! The ledger as it stands now, counted: how many pairs overlap and the
//! uncovered need of each (municipality, sector) cell, kept up to date
//! cell by cell so that the overview, and the overlaps and gaps of a whole
//! country, answer without reading every project again.
//!
//! At about a million events, counting the open overlaps of a country
//! means reading all of its projects (seconds, see bench/console.sh);
//! one event changes a few cells. So the append path names the cells each
//! commit group touched ([`Tally::touch`]), and a query of now first
//! counts those cells again, with the very rules of [`Coverage::overlaps`]
//! and [`Coverage::gaps`] (no second implementation). The first query,
//! a new day (closures and need periods are compared with the day) or a
//! replaced state count everything once.
//!
//! Counts, not pairs: a cell may hold millions of pairs (see `pairs.rs`),
//! and a listing reads again the few cells it shows.
//!
//! Never stale: a group marks its cells after its batch is written, and a
//! query takes the marks before it reads the store, so a cell written
//! meanwhile is either read with its new state or counted again by the
//! next query.
//!
//! Queries as of an earlier day use [`PastTallies`] instead: the counts of
//! a day that has ended on the ledger never change, so they are counted
//! once, when first asked, and kept for the next pages of the same day.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, Mutex};

use crate::date::Date;
use crate::store::{cf, text_key, NeedRecord, StoreError};

use super::overlap::{Cell, OverlapCounts};
use super::query::{AsOf, Coverage, Gap, KeptCounts, Totals};

/// Where an uncovered need ranks: most people in need first, then the
/// most severe, then by P-code and sector (the order of [`Coverage::gaps`]).
type Rank = (Reverse<u64>, Reverse<u32>, String, String);

/// Cells marked and not counted again before everything is counted
/// instead (a bulk import with nobody asking): bounds the marks' memory.
const MARKED_MAX: usize = 100_000;

/// The counted cells of the ledger as it stands now.
#[derive(Default)]
pub struct Tally {
    /// Held while counting; the append path never waits for it.
    state: Mutex<State>,
    /// What the append path marks, under its own lock.
    marks: Mutex<Marks>,
    /// [`Tally::counted_bytes`], plus one (0: never counted).
    counted_bytes: AtomicUsize,
}

#[derive(Default)]
struct Marks {
    /// Cells written since they were last counted.
    cells: BTreeSet<Cell>,
    /// Count everything again (the state was replaced, or too many marks).
    everything: bool,
}

#[derive(Default)]
struct State {
    /// The day the counts hold for; None until everything is counted.
    day: Option<Date>,
    /// Overlapping pairs per cell, those reviewed as complementary
    /// included (cells with none are left out).
    pairs: BTreeMap<Cell, OverlapCounts>,
    /// Uncovered needs per cell.
    gaps: BTreeMap<Cell, NeedRecord>,
    /// The same needs, in rank order.
    ranked: BTreeSet<Rank>,
}

impl Tally {
    /// Cells a commit group wrote: a project's every place before and
    /// after, a need's place. (Needs are assessed in 5-digit sectors: a
    /// project's place is the only one whose need it can cover.)
    pub(crate) fn touch(&self, cells: impl IntoIterator<Item = Cell>) {
        let mut marks = crate::sync::lock_whole(&self.marks);
        if marks.everything {
            return;
        }
        marks.cells.extend(cells);
        if marks.cells.len() > MARKED_MAX {
            marks.cells = BTreeSet::new();
            marks.everything = true;
        }
    }

    /// Forgets every count (the state was replaced): the next query counts all.
    pub(crate) fn forget(&self) {
        let mut marks = crate::sync::lock_whole(&self.marks);
        marks.cells = BTreeSet::new();
        marks.everything = true;
    }

    /// About how many bytes the counts took after the last count of
    /// everything ([`state_bytes`]), without waiting for a count under
    /// way; None before the first.
    pub(crate) fn counted_bytes(&self) -> Option<usize> {
        self.counted_bytes.load(Relaxed).checked_sub(1)
    }

    /// Counts the cells written since the last count (everything on a new
    /// day), so that the next query of now finds them counted.
    pub(crate) fn count(&self, coverage: &Coverage<'_>) -> Result<(), StoreError> {
        self.counted(coverage).map(drop)
    }

    /// The state with every cell counted for `coverage`'s day.
    fn counted(
        &self,
        coverage: &Coverage<'_>,
    ) -> Result<std::sync::MutexGuard<'_, State>, StoreError> {
        let mut state = crate::sync::lock_whole(&self.state);
        // The marks are taken before the store is read (see the module's text).
        let marks = std::mem::take(&mut *crate::sync::lock_whole(&self.marks));
        let day = coverage.as_of().day;
        if marks.everything || state.day != Some(day) {
            *state = State::default();
            count_everything(coverage, &mut state)?;
            state.day = Some(day);
            let bytes = state_bytes(&state);
            tracing::debug!(%day, bytes, "counted everything");
            self.counted_bytes.store(bytes.saturating_add(1), Relaxed);
            return Ok(state);
        }
        for cell in &marks.cells {
            if let Err(error) = count_cell(coverage, &mut state, cell) {
                // Half counted: count everything at the next query.
                state.day = None;
                return Err(error);
            }
        }
        Ok(state)
    }
}

impl KeptCounts for Tally {
    /// Totals under `pcode` (a prefix; "" for all), now.
    fn totals(&self, coverage: &Coverage<'_>, pcode: &str) -> Result<Totals, StoreError> {
        let state = self.counted(coverage)?;
        let mut totals = Totals::default();
        for (_, counts) in under(&state.pairs, pcode) {
            totals.open_overlaps += counts.open();
        }
        for (_, need) in under(&state.gaps, pcode) {
            totals.uncovered_needs += 1;
            totals.people_in_uncovered_needs += need.people_in_need;
        }
        Ok(totals)
    }

    /// Uncovered needs under `pcode` now, in rank order, as [`Coverage::gaps`] lists them.
    fn gaps(&self, coverage: &Coverage<'_>, pcode: &str) -> Result<Vec<Gap>, StoreError> {
        let state = self.counted(coverage)?;
        let mut gaps = Vec::new();
        for (_, _, place, sector) in &state.ranked {
            if !place.starts_with(pcode) {
                continue;
            }
            let cell = (place.clone(), sector.clone());
            let need = state.gaps.get(&cell).cloned().ok_or_else(|| {
                StoreError::Corrupt("the tally ranks a need it does not hold".into())
            })?;
            gaps.push(Gap {
                pcode: cell.0,
                sector: cell.1,
                need,
            });
        }
        Ok(gaps)
    }

    /// The cells under `pcode` now with overlapping pairs, optionally in
    /// one sector (or category), counted, in cell order.
    fn counted_cells(
        &self,
        coverage: &Coverage<'_>,
        pcode: &str,
        sector: Option<&str>,
    ) -> Result<Vec<(Cell, OverlapCounts)>, StoreError> {
        let state = self.counted(coverage)?;
        Ok(under(&state.pairs, pcode)
            .filter(|((_, cell_sector), _)| {
                sector.is_none_or(|wanted| cell_sector.starts_with(wanted))
            })
            .map(|(cell, counts)| (cell.clone(), *counts))
            .collect())
    }
}

/// About how many bytes `state` takes: each entry's key and value, its
/// strings' bytes (each rounded up as the allocator does, to 16), and a
/// share of the tree's nodes (16 per entry).
fn state_bytes(state: &State) -> usize {
    const NODE: usize = 16;
    fn text(text: &str) -> usize {
        text.len().next_multiple_of(16)
    }
    let cell = |(pcode, sector): &Cell| text(pcode) + text(sector);
    let pairs: usize = (state.pairs.keys())
        .map(|key| std::mem::size_of::<(Cell, OverlapCounts)>() + NODE + cell(key))
        .sum();
    let gaps: usize = (state.gaps.iter())
        .map(|(key, need)| {
            std::mem::size_of::<(Cell, NeedRecord)>()
                + NODE
                + cell(key)
                + text(&need.period_start)
                + text(&need.period_end)
                + text(&need.source)
        })
        .sum();
    let ranked: usize = (state.ranked.iter())
        .map(|(_, _, pcode, sector)| {
            std::mem::size_of::<Rank>() + NODE + text(pcode) + text(sector)
        })
        .sum();
    pairs + gaps + ranked
}

/// The counts of the past days asked about most recently, each counted
/// once (by a [`Tally`] nothing marks): at most
/// `limits::PAST_DAYS_COUNTED_MAX` days, taking at most
/// `limits::PAST_COUNTS_BYTES_MAX` together (about:
/// [`Tally::counted_bytes`]).
/// A day whose counts alone take more is answered, then not kept: on a
/// ledger that large every page as of a past day counts again, and the
/// node's memory stays bounded by its limits, not by the ledger's size.
///
/// Only for a day that has ended on the ledger: one whose end is earlier
/// than the last commit's time. Commit times never go back along the log,
/// so nothing committed later is counted as of that day, and its counts
/// are final (the ledger checks this before it hands the counts to a
/// query: `Ledger::coverage`).
#[derive(Default)]
pub struct PastTallies {
    /// The most recently asked last.
    days: Mutex<VecDeque<Day>>,
}

/// One past day's counts.
struct Day {
    /// The end of the day ([`AsOf::cut_ms`]).
    cut_ms: i64,
    tally: Arc<Tally>,
}

impl PastTallies {
    /// The counts of `as_of`'s day, now the most recently asked.
    fn of(&self, as_of: AsOf) -> Arc<Tally> {
        let mut days = crate::sync::lock_whole(&self.days);
        let day = match days.iter().position(|day| day.cut_ms == as_of.cut_ms) {
            Some(at) => days.remove(at),
            None => None,
        }
        .unwrap_or_else(|| {
            // A new day: room for it is made before it is counted, so
            // that the counts kept never take more than their limit,
            // even while one is being counted. It will take about what
            // the largest kept day takes.
            let expected = days
                .iter()
                .filter_map(|day| day.tally.counted_bytes())
                .max();
            keep_within(
                &mut days,
                crate::limits::PAST_DAYS_COUNTED_MAX - 1,
                crate::limits::PAST_COUNTS_BYTES_MAX.saturating_sub(expected.unwrap_or(0)),
            );
            Day {
                cut_ms: as_of.cut_ms,
                tally: Arc::default(),
            }
        });
        let tally = Arc::clone(&day.tally);
        days.push_back(day);
        tally
    }

    /// `ask`, of the counts of `coverage`'s day; then the counts kept are
    /// brought back within their limits.
    fn answer<T>(
        &self,
        coverage: &Coverage<'_>,
        ask: impl FnOnce(&Tally) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let answer = ask(&self.of(coverage.as_of()))?;
        keep_within(
            &mut crate::sync::lock_whole(&self.days),
            crate::limits::PAST_DAYS_COUNTED_MAX,
            crate::limits::PAST_COUNTS_BYTES_MAX,
        );
        Ok(answer)
    }

    /// Whether a day whose counts take about `bytes` would be kept: one
    /// that would not is not worth counting whole (a query then reads the
    /// projections cell by cell, holding less at once).
    pub(crate) fn would_keep(bytes: usize) -> bool {
        bytes <= crate::limits::PAST_COUNTS_BYTES_MAX
    }

    /// Forgets every day (the state was replaced).
    pub(crate) fn forget(&self) {
        crate::sync::lock_whole(&self.days).clear();
    }

    /// The ends of the days kept (cut times), the most recently asked last.
    #[cfg(feature = "test-support")]
    pub(crate) fn days(&self) -> Vec<i64> {
        let days = crate::sync::lock_whole(&self.days);
        days.iter().map(|day| day.cut_ms).collect()
    }
}

/// Drops the days asked least recently until at most `days_max` are left,
/// taking at most `bytes_max` together (a day not yet measured counts as
/// nothing: it is being counted, and is measured once it is).
fn keep_within(days: &mut VecDeque<Day>, days_max: usize, bytes_max: usize) {
    let mut bytes: usize = days
        .iter()
        .filter_map(|day| day.tally.counted_bytes())
        .sum();
    while days.len() > days_max || bytes > bytes_max {
        let Some(dropped) = days.pop_front() else {
            break;
        };
        bytes -= dropped.tally.counted_bytes().unwrap_or(0);
    }
}

impl KeptCounts for PastTallies {
    fn totals(&self, coverage: &Coverage<'_>, pcode: &str) -> Result<Totals, StoreError> {
        self.answer(coverage, |tally| tally.totals(coverage, pcode))
    }

    fn gaps(&self, coverage: &Coverage<'_>, pcode: &str) -> Result<Vec<Gap>, StoreError> {
        self.answer(coverage, |tally| tally.gaps(coverage, pcode))
    }

    fn counted_cells(
        &self,
        coverage: &Coverage<'_>,
        pcode: &str,
        sector: Option<&str>,
    ) -> Result<Vec<(Cell, OverlapCounts)>, StoreError> {
        self.answer(coverage, |tally| {
            tally.counted_cells(coverage, pcode, sector)
        })
    }
}

/// The entries of `map` whose P-code begins with `pcode`.
fn under<'m, V>(
    map: &'m BTreeMap<Cell, V>,
    pcode: &'m str,
) -> impl Iterator<Item = (&'m Cell, &'m V)> {
    let start = (pcode.to_owned(), String::new());
    map.range(start..)
        .take_while(move |((place, _), _)| place.starts_with(pcode))
}

fn count_everything(coverage: &Coverage<'_>, state: &mut State) -> Result<(), StoreError> {
    // Cell by cell: the projects of one cell in memory at a time (listing
    // every overlap of a 5-million-event ledger at once took 2.6 GiB).
    for (cell, counts) in coverage.counted_cells("", None)? {
        state.pairs.insert(cell, counts);
    }
    for gap in coverage.gaps("")? {
        set_gap(state, (gap.pcode, gap.sector), Some(gap.need));
    }
    Ok(())
}

/// Counts one cell again: its pairs, and whether its need is covered.
fn count_cell(coverage: &Coverage<'_>, state: &mut State, cell: &Cell) -> Result<(), StoreError> {
    let (pcode, sector) = cell;
    let counts = coverage.count_overlaps(&coverage.cell_supports(pcode, sector)?)?;
    if counts.is_empty() {
        state.pairs.remove(cell);
    } else {
        state.pairs.insert(cell.clone(), counts);
    }
    let need: Option<NeedRecord> = coverage.store.last_version_at(
        cf::NEEDS,
        &text_key(&[pcode, sector]),
        coverage.as_of().cut_ms,
        |need: &NeedRecord| need.committed_at_ms,
    )?;
    let gap = match need {
        Some(need) if coverage.uncovered(pcode, sector, &need)? => Some(need),
        _ => None,
    };
    set_gap(state, cell.clone(), gap);
    Ok(())
}

fn set_gap(state: &mut State, cell: Cell, need: Option<NeedRecord>) {
    let rank = |need: &NeedRecord, (pcode, sector): &Cell| -> Rank {
        (
            Reverse(need.people_in_need),
            Reverse(need.severity),
            pcode.clone(),
            sector.clone(),
        )
    };
    if let Some(old) = state.gaps.remove(&cell) {
        state.ranked.remove(&rank(&old, &cell));
    }
    if let Some(need) = need {
        state.ranked.insert(rank(&need, &cell));
        state.gaps.insert(cell, need);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A day whose counts took `bytes` (None: not yet counted).
    fn day(cut_ms: i64, bytes: Option<usize>) -> Day {
        let tally = Tally::default();
        if let Some(bytes) = bytes {
            tally.counted_bytes.store(bytes + 1, Relaxed);
        }
        Day {
            cut_ms,
            tally: Arc::new(tally),
        }
    }

    fn cuts(days: &VecDeque<Day>) -> Vec<i64> {
        days.iter().map(|day| day.cut_ms).collect()
    }

    #[test]
    fn past_days_are_dropped_least_recently_asked_first_past_either_limit() {
        // Within both limits: all kept.
        let mut days = VecDeque::from([day(1, Some(10)), day(2, Some(10)), day(3, None)]);
        keep_within(&mut days, 3, 20);
        assert_eq!(cuts(&days), [1, 2, 3]);
        // Past the bytes: the least recently asked goes first; the one
        // being counted (not yet measured) weighs nothing.
        days.push_back(day(4, Some(5)));
        keep_within(&mut days, 4, 20);
        assert_eq!(cuts(&days), [2, 3, 4]);
        // Past the number of days.
        days.push_back(day(5, Some(1)));
        keep_within(&mut days, 3, 100);
        assert_eq!(cuts(&days), [3, 4, 5]);
        // A day larger than the bytes alone is not kept.
        days.push_back(day(6, Some(101)));
        keep_within(&mut days, 10, 100);
        assert_eq!(cuts(&days), Vec::<i64>::new());
    }
}
