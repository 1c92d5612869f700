//! Sector coordination policies: which applies to a sector code.

use tansiq_proto::v1 as pb;

use crate::store::{PolicyRecord, Store, StoreError};

/// The policy for a 5-digit sector as of `cut_ms`.
pub(crate) fn sector_policy(
    store: &Store,
    sector: &str,
    cut_ms: i64,
) -> Result<pb::CoordinationPolicy, StoreError> {
    policy_for(sector, |code| store.policy_at(code, cut_ms))
}

/// The policy for a 5-digit sector: its own if set, else its 3-digit
/// category's, else warn. `lookup` reads the policy record of one code.
pub(crate) fn policy_for(
    sector: &str,
    mut lookup: impl FnMut(&str) -> Result<Option<PolicyRecord>, StoreError>,
) -> Result<pb::CoordinationPolicy, StoreError> {
    for code in [sector, sector.get(..3).unwrap_or(sector)] {
        if let Some(record) = lookup(code)? {
            return Ok(record.policy);
        }
    }
    Ok(pb::CoordinationPolicy::Warn)
}
