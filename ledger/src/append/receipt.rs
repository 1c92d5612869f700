//! What an event's author is told: its receipt, or why its request was refused.

use std::fmt;
use std::sync::Arc;

use crate::coverage::{Candidate, OverlapKind};
use crate::ids::{EventId, HeadHash, LogPosition};
use crate::reject::Rejection;
use crate::store::{Store, StoreError};

/// What a committed (or already present) event's author is told.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Receipt {
    /// The event.
    pub event_id: EventId,
    /// Its position in the log.
    pub position: LogPosition,
    /// The log head after it.
    pub head: HeadHash,
    /// When it was committed, ms since the Unix epoch.
    pub committed_at_ms: i64,
    /// The event was already on the ledger; this is its first receipt.
    pub duplicate: bool,
    /// What did not stop the event but its author should know (e.g. overlaps
    /// with other projects); each shows as one line of text.
    pub warnings: Vec<Warning>,
    /// The project this event registers or updates is held for the
    /// ministry's review (a `hold` sector policy and an overlap).
    pub pending_review: bool,
}

/// What did not stop an event but its author should know: one line of
/// text, made where it is shown (`Display`). The writer thread finds every
/// overlap of every registration; naming them in text there, and copying
/// that text with each receipt, was a tenth of its time (perf,
/// `tansiq-bench`, 2026-12-01), so a receipt keeps what a warning names and
/// the request's own task writes the line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Warning(Said);

#[derive(Clone, Debug, PartialEq, Eq)]
enum Said {
    /// The project overlaps `other` in `pcode` and `sector`.
    Overlap {
        pcode: String,
        sector: String,
        other: Arc<Candidate>,
        kind: OverlapKind,
    },
    /// At least this many overlaps besides those named.
    MoreOverlaps(usize),
    /// Held for the ministry's review: these sectors are under the hold
    /// policy (and the project overlaps another there).
    Held(Vec<String>),
    /// A line as another process wrote it (a receipt read back from its
    /// serialised form).
    Text(String),
}

impl Warning {
    pub(super) fn overlap(
        pcode: String,
        sector: String,
        other: Arc<Candidate>,
        kind: OverlapKind,
    ) -> Warning {
        Warning(Said::Overlap {
            pcode,
            sector,
            other,
            kind,
        })
    }

    pub(super) fn more_overlaps(at_least: usize) -> Warning {
        Warning(Said::MoreOverlaps(at_least))
    }

    pub(super) fn held(sectors: impl IntoIterator<Item = String>) -> Warning {
        Warning(Said::Held(sectors.into_iter().collect()))
    }
}

impl Warning {
    /// The line an author reads.
    pub fn text(&self) -> String {
        match &self.0 {
            Said::Overlap {
                pcode,
                sector,
                other,
                kind,
            } => {
                let why = match kind {
                    OverlapKind::DifferentDonors => {
                        "another donor, same municipality, sector and period"
                    }
                    OverlapKind::SameDonorSimilarTitle => {
                        "same donor, a similar title: reported twice?"
                    }
                };
                // One exactly sized string (`concat`), not the formatting
                // machinery: every registration's receipt names up to ten of
                // these, and formatting them was a tenth of the writer's time
                // when the writer made them (bench/README.md).
                [
                    "overlap in ",
                    pcode,
                    ", sector ",
                    sector,
                    ": project ",
                    &other.id,
                    " of ",
                    &other.donor,
                    " (\"",
                    other.title(),
                    "\") — ",
                    why,
                ]
                .concat()
            }
            Said::MoreOverlaps(more) => format!(
                "and at least {more} more overlaps: see `tansiq check` or `tansiq overlaps`"
            ),
            Said::Held(sectors) => format!(
                "held pending the ministry's review: sector {} is under the hold policy",
                sectors.join(", ")
            ),
            Said::Text(text) => text.clone(),
        }
    }
}

impl fmt::Display for Warning {
    fn fmt(&self, out: &mut fmt::Formatter<'_>) -> fmt::Result {
        out.write_str(&self.text())
    }
}

/// Serialised as its text (a Raft entry's outcome, see `replication`).
impl serde::Serialize for Warning {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Warning {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(|text| Warning(Said::Text(text)))
    }
}

/// One request's outcome: a receipt per event, or the reason none was written.
pub type RequestOutcome = Result<Vec<Receipt>, Rejection>;

/// Where an event was logged: all its receipt says when it comes again.
#[derive(Clone, Copy, Debug)]
pub(super) struct Logged {
    pub(super) position: LogPosition,
    pub(super) head: HeadHash,
    pub(super) committed_at_ms: i64,
}

impl Logged {
    /// The receipt an event's author is told when sending it again
    /// (`duplicate`; no warnings: those were told the first time).
    pub(super) fn repeated(self, id: &EventId) -> Receipt {
        Receipt {
            event_id: *id,
            position: self.position,
            head: self.head,
            committed_at_ms: self.committed_at_ms,
            duplicate: true,
            warnings: Vec::new(),
            pending_review: false,
        }
    }
}

/// The receipt of an event already on the ledger (`duplicate`: its author
/// is told it again), or None.
pub(super) fn stored_receipt(store: &Store, id: &EventId) -> Result<Option<Receipt>, StoreError> {
    let Some(position) = store.event_position(id)? else {
        return Ok(None);
    };
    let record = store.log_record(position)?.ok_or_else(|| {
        StoreError::Corrupt(format!(
            "event {id} at position {position} has no log record"
        ))
    })?;
    if record.event_id != *id {
        return Err(StoreError::Corrupt(format!(
            "event {id} is indexed at log position {position}, which holds event {}",
            record.event_id
        )));
    }
    let logged = Logged {
        position,
        head: record.head,
        committed_at_ms: record.committed_at_ms,
    };
    Ok(Some(logged.repeated(id)))
}
