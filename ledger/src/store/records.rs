//! The stored records: plain data, serialised as JSON (their shape is the
//! on-disk format).

use serde::{Deserialize, Serialize};
use tansiq_proto::v1 as pb;

use crate::ids::{EventId, HeadHash, LogPosition};

/// The last committed position and the log head there.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tip {
    pub position: LogPosition,
    pub head: HeadHash,
}

/// One committed log position.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogRecord {
    pub position: LogPosition,
    pub event_id: EventId,
    pub head: HeadHash,
    pub committed_at_ms: i64,
}

/// A signing key: its organisation, chain head and revocation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyRecord {
    pub org_id: String,
    pub sequence: u64,
    pub last_event: Option<[u8; 32]>,
    /// Log position of the revoking event, if revoked.
    pub revoked_at: Option<u64>,
}

/// A registered organisation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrgRecord {
    pub role: i32,
    pub name_arabic: String,
    pub name_latin: String,
    pub iati_identifier: String,
    pub iati_org_type: u32,
    pub keys: Vec<[u8; 32]>,
}

/// A registered project: who may write it, and its state.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProjectRecord {
    pub owner: String,
    pub iati_identifier: String,
    pub status: u32,
    pub closed: bool,
    /// The end date of the closure or cancellation (YYYY-MM-DD), when closed.
    pub closed_on: String,
    /// The commit date of the registration.
    pub registered_on: String,
    /// Held under a `hold` policy until the ministry reviews its overlaps.
    pub pending_review: bool,
    pub summary: ProjectSummary,
}

/// A registered municipality.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MunicipalityRecord {
    pub parent: String,
    pub admin_level: u32,
    pub name_arabic: String,
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
