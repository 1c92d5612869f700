//! The stored records: plain data, serialised as JSON (their shape is the
//! on-disk format).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use tansiq_proto::v1 as pb;

use crate::ids::{EventId, HeadHash, LogPosition};

/// The last committed position and the log head there.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tip {
    /// The last committed position (0 before the first event).
    pub position: LogPosition,
    /// The log head at that position (the genesis hash at 0).
    pub head: HeadHash,
}

/// One committed log position.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogRecord {
    /// The position.
    pub position: LogPosition,
    /// The event committed there.
    pub event_id: EventId,
    /// The log head after that event.
    pub head: HeadHash,
    /// When the event was committed, ms since the Unix epoch.
    pub committed_at_ms: i64,
}

/// A signing key: its organisation, chain head and revocation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyRecord {
    /// The organisation the key signs for.
    pub org_id: String,
    /// The sequence number of the key's last event (0 before its first).
    pub sequence: u64,
    /// The id of the key's last event (`None` before its first).
    pub last_event: Option<[u8; 32]>,
    /// Log position of the revoking event, if revoked.
    pub revoked_at: Option<u64>,
}

/// A registered organisation.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrgRecord {
    /// `pb::OrgRole` value.
    pub role: i32,
    /// The name in Arabic script.
    pub name_arabic: String,
    /// The name in Latin script.
    pub name_latin: String,
    /// The IATI organisation identifier (empty when none was given).
    pub iati_identifier: String,
    /// The IATI OrganisationType code (0 when unknown).
    pub iati_org_type: u32,
    /// Every key registered for the organisation (ed25519 public keys).
    pub keys: Vec<[u8; 32]>,
    /// IATI organisation identifiers of the publishers whose activities it
    /// may report as a secondary reporter, with the ministry's consent
    /// (absent from the stored record when there is none, so records
    /// written before consents existed read and write unchanged).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reports_for: Vec<String>,
}

/// A registered project: who may write it, and its state.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProjectRecord {
    /// The organisation that registered the project: the one that may write it.
    pub owner: String,
    /// The project's IATI activity identifier.
    pub iati_identifier: String,
    /// IATI ActivityStatus code.
    pub status: u32,
    /// Closed or cancelled.
    pub closed: bool,
    /// The end date of the closure or cancellation (YYYY-MM-DD), when closed.
    pub closed_on: String,
    /// The commit date of the registration.
    pub registered_on: String,
    /// Held under a `hold` policy until the ministry reviews its overlaps.
    pub pending_review: bool,
    /// What coverage needs of its latest details.
    pub summary: ProjectSummary,
    /// Funders' own word on the funding this project claims of them: the
    /// funder as the project names it (org id or IATI identifier) → its
    /// latest `pb::AttestationVerdict` value (absent from the stored record
    /// when there is none, so records written before attestations existed
    /// read and write unchanged).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub funding_attested: BTreeMap<String, i32>,
}

/// A registered municipality.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MunicipalityRecord {
    /// The parent's P-code (empty at administrative level 1).
    pub parent: String,
    /// Administrative level: 0 a whole country, 1 a region, ... 5.
    pub admin_level: u32,
    /// The name in Arabic script.
    pub name_arabic: String,
    /// The name in Latin script.
    pub name_latin: String,
}

/// A project's state from one commit on (written from a borrowed record,
/// read into an owned one).
#[derive(Serialize, Deserialize)]
pub(crate) struct ProjectVersion<P = ProjectRecord> {
    pub committed_at_ms: i64,
    pub project: P,
}

/// What coverage needs of a project's details.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProjectSummary {
    /// The title in Latin script.
    pub title_latin: String,
    /// The title in Arabic script.
    pub title_arabic: String,
    /// Funding organisations (role 1): org id, else IATI id, else name.
    pub funders: Vec<String>,
    /// Implementing organisations (role 4).
    pub implementers: Vec<String>,
    /// The P-codes of its locations.
    pub locations: Vec<String>,
    /// Its sector codes (DAC 5-digit, or 3-digit categories).
    pub sectors: Vec<String>,
    /// Actual start, else planned start (YYYY-MM-DD or empty).
    pub start: String,
    /// Actual end, else planned end.
    pub end: String,
    /// The budget, a decimal as written (empty when none).
    pub budget_value: String,
    /// The budget's ISO 4217 currency.
    pub budget_currency: String,
}

impl ProjectRecord {
    /// The record of a project `owner` registers with `details` on the
    /// day `registered_on` (YYYY-MM-DD): open, not held, unattested.
    pub fn registration(
        owner: String,
        details: &pb::ProjectDetails,
        registered_on: String,
    ) -> ProjectRecord {
        ProjectRecord {
            owner,
            iati_identifier: details.iati_identifier.clone(),
            status: details.status,
            closed: false,
            closed_on: String::new(),
            registered_on,
            pending_review: false,
            summary: ProjectSummary::from_details(details),
            funding_attested: BTreeMap::new(),
        }
    }
}

impl ProjectSummary {
    /// The summary of a project's details.
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

/// An assessed need, as of one assessment.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NeedRecord {
    /// People in need.
    pub people_in_need: u64,
    /// 1 (minimal) to 5 (catastrophic).
    pub severity: u32,
    /// The first day the assessment covers (YYYY-MM-DD).
    pub period_start: String,
    /// The last day it covers (YYYY-MM-DD).
    pub period_end: String,
    /// Where the figures come from, as the event says.
    pub source: String,
    /// When the assessment was committed, ms since the Unix epoch.
    pub committed_at_ms: i64,
}

/// The ministry's review of a pair of projects.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReviewRecord {
    /// `pb::OverlapVerdict` value.
    pub verdict: i32,
    /// The ministry's note.
    pub note: String,
    /// When the review was committed, ms since the Unix epoch.
    pub committed_at_ms: i64,
}

impl ReviewRecord {
    pub(crate) fn complementary(&self) -> bool {
        self.verdict == pb::OverlapVerdict::Complementary as i32
    }
}

/// A sector's coordination policy since a commit time.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct PolicyRecord {
    /// `pb::CoordinationPolicy` value.
    pub policy: i32,
    pub committed_at_ms: i64,
}
