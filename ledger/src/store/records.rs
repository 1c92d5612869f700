//! The stored records: plain data. Their JSON form (serde) is the on-disk
//! format of store formats 1 and 2, still read, and still written for the
//! records few events write; keys, projects and project versions are
//! written in protobuf since format 3 (see `super::encoding`).

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};
use tansiq_proto::v1 as pb;

use crate::ids::{EventId, HeadHash, LogPosition, PublicKeyBytes};

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
    pub last_event: Option<EventId>,
    /// Log position of the revoking event, if revoked.
    pub revoked_at: Option<LogPosition>,
}

/// A registered organisation.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrgRecord {
    /// Its role (stored as the `OrgRole` number).
    #[serde(with = "code")]
    pub role: pb::OrgRole,
    /// The name in Arabic script.
    pub name_arabic: String,
    /// The name in Latin script.
    pub name_latin: String,
    /// The IATI organisation identifier (empty when none was given).
    pub iati_identifier: String,
    /// The IATI OrganisationType code (0 when unknown).
    pub iati_org_type: u32,
    /// Every key registered for the organisation (ed25519 public keys).
    pub keys: Vec<PublicKeyBytes>,
    /// IATI organisation identifiers of the publishers whose activities it
    /// may report as a secondary reporter, with the ministry's consent
    /// (absent from the stored record when there is none, so records
    /// written before consents existed read and write unchanged).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reports_for: Vec<String>,
    /// A municipality's organisation: its P-code (absent from the stored
    /// record for every other organisation).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub pcode: String,
}

/// An IATI ActivityStatus code (1 pipeline, 2 implementation, 3
/// finalisation, 4 closed, 5 cancelled, 6 suspended), as the events carry
/// it and the store keeps it (a bare number: IATI may add codes, and
/// `event::codes::ACTIVITY_STATUS` is the list the field rules check it
/// against, and where its name is looked up).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ActivityStatus(pub u32);

impl ActivityStatus {
    /// Physical activity complete, or the final disbursement made.
    pub const CLOSED: ActivityStatus = ActivityStatus(4);
    /// Cancelled.
    pub const CANCELLED: ActivityStatus = ActivityStatus(5);

    /// Whether a project in this status has ended (closed or cancelled).
    pub fn ends_the_project(self) -> bool {
        matches!(self, Self::CLOSED | Self::CANCELLED)
    }
}

impl fmt::Display for ActivityStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// A registered project: who may write it, and its state.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProjectRecord {
    /// The organisation that registered the project: the one that may write it.
    pub owner: String,
    /// The project's IATI activity identifier.
    pub iati_identifier: String,
    /// Its IATI ActivityStatus.
    pub status: ActivityStatus,
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
    /// latest verdict, stored as its number (absent from the stored record
    /// when there is none, so records written before attestations existed
    /// read and write unchanged).
    #[serde(
        default,
        skip_serializing_if = "BTreeMap::is_empty",
        with = "code::map"
    )]
    pub funding_attested: BTreeMap<String, pb::AttestationVerdict>,
    /// Its results (IATI result/indicator/period), by result id, as last
    /// reported (absent from the stored record when there is none).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub results: BTreeMap<String, ResultRecord>,
    /// What other parties attested of the project's claims: the subject
    /// ([`Subject::key`]) → the attesting organisation → its latest word
    /// (absent from the stored record when there is none).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub attested: BTreeMap<String, BTreeMap<String, AttestationRecord>>,
}

/// A project's result as last reported.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ResultRecord {
    /// The organisation that reported it last (the owner or an implementer).
    pub reported_by: String,
    /// Its IATI ResultType (stored as the `ResultType` number).
    #[serde(with = "code")]
    pub result_type: pb::ResultType,
    /// Its title.
    pub title: pb::Names,
    /// Its indicator, periods and values, in proto3 JSON form.
    pub indicator: pb::Indicator,
}

impl Eq for ResultRecord {}

/// One party's word on one claim of a project.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttestationRecord {
    /// The verdict (stored as the `AttestationVerdict` number).
    #[serde(with = "code")]
    pub verdict: pb::AttestationVerdict,
    /// What the party adds.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub note: String,
    /// The value it confirms when not the one claimed.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub value: String,
    /// The P-code the party attests for (a municipality's organisation),
    /// empty for others.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub pcode: String,
    /// The attesting event.
    pub event: EventId,
}

/// What an attestation of a project is about, as its key in
/// [`ProjectRecord::attested`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Subject {
    /// The project is active in the attesting municipality.
    Active,
    /// A result's period was delivered.
    Result {
        /// The result.
        result_id: String,
        /// The period's start.
        period_start: String,
    },
    /// A transaction (a disbursement) reached the attesting party.
    Transaction(EventId),
}

impl Subject {
    /// Its key in [`ProjectRecord::attested`].
    pub fn key(&self) -> String {
        match self {
            Subject::Active => "active".to_owned(),
            Subject::Result {
                result_id,
                period_start,
            } => format!("result/{result_id}/{period_start}"),
            Subject::Transaction(event) => format!("transaction/{}", event.to_hex()),
        }
    }
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
            status: ActivityStatus(details.status),
            closed: false,
            closed_on: String::new(),
            registered_on,
            pending_review: false,
            summary: ProjectSummary::from_details(details),
            funding_attested: BTreeMap::new(),
            results: BTreeMap::new(),
            attested: BTreeMap::new(),
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
    /// The verdict (stored as the `OverlapVerdict` number).
    #[serde(with = "code")]
    pub verdict: pb::OverlapVerdict,
    /// The ministry's note.
    pub note: String,
    /// When the review was committed, ms since the Unix epoch.
    pub committed_at_ms: i64,
}

impl ReviewRecord {
    pub(crate) fn complementary(&self) -> bool {
        self.verdict == pb::OverlapVerdict::Complementary
    }
}

/// A sector's coordination policy since a commit time.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct PolicyRecord {
    /// The policy (stored as the `CoordinationPolicy` number).
    #[serde(with = "code")]
    pub policy: pb::CoordinationPolicy,
    pub committed_at_ms: i64,
}

/// A protobuf enum stored as its number, as the events carry it: the
/// stored bytes are those of the `i32` the field held before it was typed.
/// A number no variant has is refused on read (the store only ever writes
/// values the field rules accepted).
mod code {
    use std::collections::BTreeMap;

    use serde::de::Error as _;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub(super) fn serialize<E, S>(value: &E, serializer: S) -> Result<S::Ok, S::Error>
    where
        E: Copy + Into<i32>,
        S: Serializer,
    {
        (*value).into().serialize(serializer)
    }

    pub(super) fn deserialize<'de, E, D>(deserializer: D) -> Result<E, D::Error>
    where
        E: TryFrom<i32>,
        D: Deserializer<'de>,
    {
        let number = i32::deserialize(deserializer)?;
        E::try_from(number)
            .map_err(|_| D::Error::custom(format!("no code {number} in this field's list")))
    }

    pub(super) mod map {
        use super::*;

        pub(in super::super) fn serialize<E, S>(
            map: &BTreeMap<String, E>,
            serializer: S,
        ) -> Result<S::Ok, S::Error>
        where
            E: Copy + Into<i32>,
            S: Serializer,
        {
            serializer.collect_map(map.iter().map(|(key, value)| (key, (*value).into())))
        }

        pub(in super::super) fn deserialize<'de, E, D>(
            deserializer: D,
        ) -> Result<BTreeMap<String, E>, D::Error>
        where
            E: TryFrom<i32>,
            D: Deserializer<'de>,
        {
            BTreeMap::<String, i32>::deserialize(deserializer)?
                .into_iter()
                .map(|(key, number)| {
                    E::try_from(number).map(|value| (key, value)).map_err(|_| {
                        D::Error::custom(format!("no code {number} in this field's list"))
                    })
                })
                .collect()
        }
    }
}

/// The stored JSON of every record, byte for byte: the on-disk format of
/// stores 1 and 2 (which format 3 reads), and of the records still written
/// in JSON. A change that alters these bytes changes what existing ledgers
/// hold and needs a migration; typing a field (a newtype for an id, an
/// enum for a code) must leave them as they are.
#[cfg(test)]
pub(super) mod golden {
    use super::*;

    fn json<T: Serialize>(record: &T) -> String {
        serde_json::to_string(record).expect("a record serialises")
    }

    fn round_trip<T: Serialize + serde::de::DeserializeOwned + PartialEq + std::fmt::Debug>(
        record: &T,
    ) {
        let read: T = serde_json::from_str(&json(record)).expect("a record reads back");
        assert_eq!(&read, record);
    }

    /// A key record with every field set (also `super::encoding`'s tests).
    pub(in crate::store) fn key() -> KeyRecord {
        KeyRecord {
            org_id: "undp".into(),
            sequence: 7,
            last_event: Some([1; 32].into()),
            revoked_at: Some(42_u64.into()),
        }
    }

    fn org() -> OrgRecord {
        OrgRecord {
            role: pb::OrgRole::Donor,
            name_arabic: "برنامج".into(),
            name_latin: "UNDP".into(),
            iati_identifier: "XM-DAC-41114".into(),
            iati_org_type: 40,
            keys: vec![[2; 32].into()],
            reports_for: Vec::new(),
            pcode: String::new(),
        }
    }

    fn project() -> ProjectRecord {
        ProjectRecord {
            owner: "eu".into(),
            iati_identifier: "XI-IATI-EC_NEAR-1".into(),
            status: ActivityStatus(2),
            closed: false,
            closed_on: String::new(),
            registered_on: "2026-01-02".into(),
            pending_review: true,
            summary: ProjectSummary {
                title_latin: "Water".into(),
                funders: vec!["usaid".into()],
                locations: vec!["LY0305".into()],
                sectors: vec!["14030".into()],
                budget_value: "100.5".into(),
                budget_currency: "EUR".into(),
                ..ProjectSummary::default()
            },
            funding_attested: BTreeMap::new(),
            results: BTreeMap::new(),
            attested: BTreeMap::new(),
        }
    }

    #[test]
    fn the_stored_json_of_every_record_stays_as_it_is() {
        let ones = [1_u8; 32].map(|b| b.to_string()).join(",");
        let twos = [2_u8; 32].map(|b| b.to_string()).join(",");
        assert_eq!(
            json(&key()),
            format!(r#"{{"org_id":"undp","sequence":7,"last_event":[{ones}],"revoked_at":42}}"#)
        );
        let fresh = KeyRecord {
            last_event: None,
            revoked_at: None,
            ..key()
        };
        assert_eq!(
            json(&fresh),
            r#"{"org_id":"undp","sequence":7,"last_event":null,"revoked_at":null}"#
        );
        assert_eq!(
            json(&org()),
            format!(
                r#"{{"role":2,"name_arabic":"برنامج","name_latin":"UNDP","iati_identifier":"XM-DAC-41114","iati_org_type":40,"keys":[[{twos}]]}}"#
            )
        );
        let consented = OrgRecord {
            reports_for: vec!["NL-1".into()],
            ..org()
        };
        assert!(json(&consented).ends_with(r#","reports_for":["NL-1"]}"#));
        assert_eq!(
            json(&project()),
            r#"{"owner":"eu","iati_identifier":"XI-IATI-EC_NEAR-1","status":2,"closed":false,"closed_on":"","registered_on":"2026-01-02","pending_review":true,"summary":{"title_latin":"Water","title_arabic":"","funders":["usaid"],"implementers":[],"locations":["LY0305"],"sectors":["14030"],"start":"","end":"","budget_value":"100.5","budget_currency":"EUR"}}"#
        );
        let attested = ProjectRecord {
            funding_attested: BTreeMap::from([(
                "usaid".to_owned(),
                pb::AttestationVerdict::Confirmed,
            )]),
            ..project()
        };
        assert!(json(&attested).ends_with(r#","funding_attested":{"usaid":1}}"#));
        assert_eq!(
            json(&MunicipalityRecord {
                parent: "LY03".into(),
                admin_level: 2,
                name_arabic: "غدامس".into(),
                name_latin: "Ghadames".into(),
            }),
            r#"{"parent":"LY03","admin_level":2,"name_arabic":"غدامس","name_latin":"Ghadames"}"#
        );
        assert_eq!(
            json(&NeedRecord {
                people_in_need: 8000,
                severity: 3,
                period_start: "2026-01-01".into(),
                period_end: "2026-12-31".into(),
                source: "MSNA".into(),
                committed_at_ms: 5,
            }),
            r#"{"people_in_need":8000,"severity":3,"period_start":"2026-01-01","period_end":"2026-12-31","source":"MSNA","committed_at_ms":5}"#
        );
        assert_eq!(
            json(&ReviewRecord {
                verdict: pb::OverlapVerdict::Complementary,
                note: "n".into(),
                committed_at_ms: 6,
            }),
            r#"{"verdict":1,"note":"n","committed_at_ms":6}"#
        );
        assert_eq!(
            json(&PolicyRecord {
                policy: pb::CoordinationPolicy::Hold,
                committed_at_ms: 7,
            }),
            r#"{"policy":2,"committed_at_ms":7}"#
        );
        assert_eq!(
            json(&ProjectVersion {
                committed_at_ms: 9,
                project: MunicipalityRecord {
                    parent: String::new(),
                    admin_level: 0,
                    name_arabic: String::new(),
                    name_latin: "x".into(),
                },
            }),
            r#"{"committed_at_ms":9,"project":{"parent":"","admin_level":0,"name_arabic":"","name_latin":"x"}}"#
        );
        round_trip(&key());
        round_trip(&org());
        round_trip(&attested);
    }

    #[test]
    fn a_code_no_variant_has_is_refused_on_read() {
        let unknown =
            serde_json::from_str::<ReviewRecord>(r#"{"verdict":9,"note":"n","committed_at_ms":6}"#)
                .expect_err("verdict 9 is in no list");
        assert!(unknown.to_string().contains("no code 9"), "{unknown}");
        let unknown = serde_json::from_str::<ProjectRecord>(&json(&project()).replace(
            r#""pending_review":true"#,
            r#""pending_review":true,"funding_attested":{"usaid":7}"#,
        ))
        .expect_err("attestation verdict 7 is in no list");
        assert!(unknown.to_string().contains("no code 7"), "{unknown}");
    }
}
