//! What an event's author is told: its receipt, or why its request was refused.

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
    /// with other projects).
    pub warnings: Vec<String>,
    /// The project this event registers or updates is held for the
    /// ministry's review (a `hold` sector policy and an overlap).
    pub pending_review: bool,
}

/// One request's outcome: a receipt per event, or the reason none was written.
pub type RequestOutcome = Result<Vec<Receipt>, Rejection>;

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
    Ok(Some(Receipt {
        event_id: *id,
        position,
        head: record.head,
        committed_at_ms: record.committed_at_ms,
        duplicate: true,
        warnings: Vec::new(),
        pending_review: false,
    }))
}
