//! How records are stored (store format 3).
//!
//! The records every event reads or writes — signing keys, projects and
//! project versions — are stored in protobuf
//! (`proto/tansiq/store/v1/records.proto`) after one tag byte, [`BINARY`].
//! The others (organisations, municipalities, needs, policies, reviews:
//! written by a few events each) stay in JSON.
//!
//! Reading takes either form: every record of store formats 1 and 2 is
//! JSON, and starts with `{`. A store upgraded from format 2 is not
//! rewritten; each record changes form when it is next written (dual read).
//! `tansiq-node dump FAMILY --data-dir DIR` prints any family's records as
//! JSON.

use std::collections::BTreeMap;

use serde::de::DeserializeOwned;
use serde::Serialize;
use tansiq_proto::store::v1 as stored;
use tansiq_proto::v1 as pb;

use crate::ids::{EventId, LogPosition};

use super::error::StoreError;
use super::records::{
    ActivityStatus, AttestationRecord, KeyRecord, MunicipalityRecord, NeedRecord, OrgRecord,
    PolicyRecord, ProjectRecord, ProjectSummary, ProjectVersion, ResultRecord, ReviewRecord,
};

/// The first byte of a record stored in protobuf.
pub(crate) const BINARY: u8 = 0x01;

/// A record's stored bytes.
pub(crate) trait Encode {
    fn encode(&self) -> Vec<u8>;
}

/// A record read from its stored bytes, in either form.
pub(crate) trait Decode: Sized {
    /// The record, or why the bytes are not one.
    fn decode(bytes: &[u8]) -> Result<Self, String>;
}

/// A record of `family` from its stored bytes.
pub(crate) fn decode_record<T: Decode>(family: &str, bytes: &[u8]) -> Result<T, StoreError> {
    T::decode(bytes).map_err(|error| StoreError::Corrupt(format!("{family} record: {error}")))
}

/// Records stored in JSON only.
macro_rules! json_records {
    ($($record:ty),*) => {$(
        impl Encode for $record {
            fn encode(&self) -> Vec<u8> {
                serde_json::to_vec(self).expect("invariant: records serialise to JSON")
            }
        }
        impl Decode for $record {
            fn decode(bytes: &[u8]) -> Result<Self, String> {
                serde_json::from_slice(bytes).map_err(|error| error.to_string())
            }
        }
    )*};
}
json_records!(
    OrgRecord,
    MunicipalityRecord,
    NeedRecord,
    PolicyRecord,
    ReviewRecord
);

fn binary<M: prost::Message>(message: &M) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(1 + message.encoded_len());
    bytes.push(BINARY);
    message
        .encode(&mut bytes)
        .expect("invariant: encoding into a Vec cannot fail");
    bytes
}

/// `bytes` in protobuf (message `M`, then `from`), or in JSON (`T`'s form
/// in store formats 1 and 2).
fn either<T, M>(bytes: &[u8], from: impl FnOnce(M) -> Result<T, String>) -> Result<T, String>
where
    T: DeserializeOwned,
    M: prost::Message + Default,
{
    match bytes.split_first() {
        Some((&BINARY, rest)) => from(M::decode(rest).map_err(|error| error.to_string())?),
        Some((b'{', _)) => serde_json::from_slice(bytes).map_err(|error| error.to_string()),
        _ => Err("in no known encoding".into()),
    }
}

impl Encode for KeyRecord {
    fn encode(&self) -> Vec<u8> {
        binary(&stored::Key {
            org_id: self.org_id.clone(),
            sequence: self.sequence,
            last_event: self
                .last_event
                .map_or_else(Vec::new, |id| id.as_bytes().to_vec()),
            revoked_at: self.revoked_at.map(|position| position.0),
        })
    }
}

impl Decode for KeyRecord {
    fn decode(bytes: &[u8]) -> Result<Self, String> {
        either(bytes, |key: stored::Key| {
            Ok(KeyRecord {
                org_id: key.org_id,
                sequence: key.sequence,
                last_event: match key.last_event.as_slice() {
                    [] => None,
                    id => Some(event_id(id)?),
                },
                revoked_at: key.revoked_at.map(LogPosition),
            })
        })
    }
}

impl Encode for ProjectRecord {
    fn encode(&self) -> Vec<u8> {
        binary(&project_message(self))
    }
}

/// A project's message, encoded once for both places a commit writes it:
/// its current record and its version. Building and encoding the message
/// twice was a twentieth of the writer's time (perf, `tansiq-bench`).
pub(crate) struct EncodedProject(Vec<u8>);

impl EncodedProject {
    pub(crate) fn of(record: &ProjectRecord) -> EncodedProject {
        EncodedProject(prost::Message::encode_to_vec(&project_message(record)))
    }

    /// The bytes [`ProjectRecord`]'s `encode` gives.
    pub(crate) fn record(&self) -> Vec<u8> {
        let mut bytes = Vec::with_capacity(1 + self.0.len());
        bytes.push(BINARY);
        bytes.extend_from_slice(&self.0);
        bytes
    }

    /// The bytes [`ProjectVersion`]'s `encode` gives: the message of
    /// `records.proto`'s `ProjectVersion` framed around the project's bytes
    /// (field 1 left out when zero, as protobuf encoders do).
    pub(crate) fn version(&self, committed_at_ms: i64) -> Vec<u8> {
        use prost::encoding::{encode_key, encode_varint, int64, WireType};
        let mut bytes = Vec::with_capacity(1 + 11 + 1 + 10 + self.0.len());
        bytes.push(BINARY);
        if committed_at_ms != 0 {
            int64::encode(1, &committed_at_ms, &mut bytes);
        }
        encode_key(2, WireType::LengthDelimited, &mut bytes);
        encode_varint(self.0.len() as u64, &mut bytes);
        bytes.extend_from_slice(&self.0);
        bytes
    }
}

impl Decode for ProjectRecord {
    fn decode(bytes: &[u8]) -> Result<Self, String> {
        either(bytes, project_record)
    }
}

impl Encode for ProjectVersion<&ProjectRecord> {
    fn encode(&self) -> Vec<u8> {
        binary(&stored::ProjectVersion {
            committed_at_ms: self.committed_at_ms,
            project: Some(project_message(self.project)),
        })
    }
}

impl Decode for ProjectVersion {
    fn decode(bytes: &[u8]) -> Result<Self, String> {
        either(bytes, |version: stored::ProjectVersion| {
            Ok(ProjectVersion {
                committed_at_ms: version.committed_at_ms,
                project: project_record(version.project.ok_or("a version without its project")?)?,
            })
        })
    }
}

/// When a [`ProjectVersion`] was committed, read without decoding its
/// project: in protobuf, field 1 of its message alone (the project, field
/// 2, is skipped over by its length); in JSON, from the whole version.
pub(crate) struct VersionTime(pub i64);

/// The part of `stored::ProjectVersion` that [`VersionTime`] reads.
#[derive(Clone, PartialEq, prost::Message)]
struct StoredVersionTime {
    #[prost(int64, tag = "1")]
    committed_at_ms: i64,
}

impl Decode for VersionTime {
    fn decode(bytes: &[u8]) -> Result<Self, String> {
        match bytes.split_first() {
            Some((&BINARY, rest)) => <StoredVersionTime as prost::Message>::decode(rest)
                .map(|time| VersionTime(time.committed_at_ms))
                .map_err(|error| error.to_string()),
            _ => ProjectVersion::decode(bytes).map(|version| VersionTime(version.committed_at_ms)),
        }
    }
}

fn event_id(bytes: &[u8]) -> Result<EventId, String> {
    EventId::from_slice(bytes).map_err(|error| error.to_string())
}

/// A protobuf enum's number, refused when no variant has it (the store
/// only ever writes values the field rules accepted).
fn code<E: TryFrom<i32>>(number: i32) -> Result<E, String> {
    E::try_from(number).map_err(|_| format!("no code {number} in this field's list"))
}

fn project_message(record: &ProjectRecord) -> stored::Project {
    let summary = &record.summary;
    stored::Project {
        owner: record.owner.clone(),
        iati_identifier: record.iati_identifier.clone(),
        status: record.status.0,
        closed: record.closed,
        closed_on: record.closed_on.clone(),
        registered_on: record.registered_on.clone(),
        pending_review: record.pending_review,
        summary: Some(stored::Summary {
            title_latin: summary.title_latin.clone(),
            title_arabic: summary.title_arabic.clone(),
            funders: summary.funders.clone(),
            implementers: summary.implementers.clone(),
            locations: summary.locations.clone(),
            sectors: summary.sectors.clone(),
            start: summary.start.clone(),
            end: summary.end.clone(),
            budget_value: summary.budget_value.clone(),
            budget_currency: summary.budget_currency.clone(),
        }),
        funding_attested: record
            .funding_attested
            .iter()
            .map(|(funder, verdict)| (funder.clone(), i32::from(*verdict)))
            .collect(),
        results: record
            .results
            .iter()
            .map(|(id, result)| {
                let message = stored::Result {
                    reported_by: result.reported_by.clone(),
                    result_type: result.result_type.into(),
                    title: Some(result.title.clone()),
                    indicator: Some(result.indicator.clone()),
                };
                (id.clone(), message)
            })
            .collect(),
        attested: record
            .attested
            .iter()
            .map(|(subject, by)| {
                let by = by
                    .iter()
                    .map(|(org, word)| {
                        let message = stored::Attestation {
                            verdict: word.verdict.into(),
                            note: word.note.clone(),
                            value: word.value.clone(),
                            pcode: word.pcode.clone(),
                            event: word.event.as_bytes().to_vec(),
                        };
                        (org.clone(), message)
                    })
                    .collect();
                (subject.clone(), stored::Attestations { by })
            })
            .collect(),
    }
}

fn project_record(project: stored::Project) -> Result<ProjectRecord, String> {
    // Always written: a record without one is damaged.
    let summary = project.summary.ok_or("a project without its summary")?;
    Ok(ProjectRecord {
        owner: project.owner,
        iati_identifier: project.iati_identifier,
        status: ActivityStatus(project.status),
        closed: project.closed,
        closed_on: project.closed_on,
        registered_on: project.registered_on,
        pending_review: project.pending_review,
        summary: ProjectSummary {
            title_latin: summary.title_latin,
            title_arabic: summary.title_arabic,
            funders: summary.funders,
            implementers: summary.implementers,
            locations: summary.locations,
            sectors: summary.sectors,
            start: summary.start,
            end: summary.end,
            budget_value: summary.budget_value,
            budget_currency: summary.budget_currency,
        },
        funding_attested: project
            .funding_attested
            .into_iter()
            .map(|(funder, verdict)| Ok((funder, code::<pb::AttestationVerdict>(verdict)?)))
            .collect::<Result<_, String>>()?,
        results: project
            .results
            .into_iter()
            .map(|(id, result)| {
                let record = ResultRecord {
                    reported_by: result.reported_by,
                    result_type: code(result.result_type)?,
                    title: result.title.unwrap_or_default(),
                    indicator: result.indicator.unwrap_or_default(),
                };
                Ok((id, record))
            })
            .collect::<Result<_, String>>()?,
        attested: project
            .attested
            .into_iter()
            .map(|(subject, attestations)| {
                let by = attestations
                    .by
                    .into_iter()
                    .map(|(org, word)| {
                        let record = AttestationRecord {
                            verdict: code(word.verdict)?,
                            note: word.note,
                            value: word.value,
                            pcode: word.pcode,
                            event: event_id(&word.event)?,
                        };
                        Ok((org, record))
                    })
                    .collect::<Result<BTreeMap<_, _>, String>>()?;
                Ok((subject, by))
            })
            .collect::<Result<_, String>>()?,
    })
}

/// A record as JSON whatever its stored form (`tansiq-node dump`).
pub(crate) fn readable<T: Decode + Serialize>(bytes: &[u8]) -> Result<serde_json::Value, String> {
    serde_json::to_value(T::decode(bytes)?).map_err(|error| error.to_string())
}

/// The families whose values are records, with how each reads as JSON,
/// and whether its keys end in a log position (versioned keys).
fn record_family(family: &str) -> Option<(ReadableFn, bool)> {
    use super::cf;
    Some(match family {
        cf::KEYS => (readable::<KeyRecord> as ReadableFn, false),
        cf::ORGS => (readable::<OrgRecord>, false),
        cf::MUNICIPALITIES => (readable::<MunicipalityRecord>, false),
        cf::PROJECTS => (readable::<ProjectRecord>, false),
        cf::PROJECT_VERSIONS => (readable::<ProjectVersion>, true),
        cf::NEEDS => (readable::<NeedRecord>, true),
        cf::POLICIES => (readable::<PolicyRecord>, true),
        cf::REVIEWS => (readable::<ReviewRecord>, true),
        _ => return None,
    })
}

type ReadableFn = fn(&[u8]) -> Result<serde_json::Value, String>;

/// One stored pair of `family` as a JSON object: a record's key parts and
/// its fields as JSON, whatever its stored form; any other pair as hex.
pub(crate) fn readable_pair(family: &str, key: &[u8], value: &[u8]) -> serde_json::Value {
    let Some((read, versioned)) = record_family(family) else {
        return serde_json::json!({ "key": hex::encode(key), "value": hex::encode(value) });
    };
    let record = read(value).unwrap_or_else(
        |error| serde_json::json!({ "unreadable": error, "bytes": hex::encode(value) }),
    );
    let form = match value.first() {
        Some(&BINARY) => "protobuf",
        Some(b'{') => "json",
        _ => "unknown",
    };
    if family == super::cf::KEYS {
        return serde_json::json!({ "key": hex::encode(key), "form": form, "record": record });
    }
    let (text, position) = match key.len().checked_sub(8) {
        Some(at) if versioned => (
            &key[..at],
            Some(u64::from_be_bytes(
                key[at..].try_into().expect("invariant: sliced 8 bytes"),
            )),
        ),
        _ => (key, None),
    };
    let mut pair = serde_json::json!({
        "key": super::keys::split_text_key(text),
        "form": form,
        "record": record,
    });
    if let Some(position) = position {
        pair["position"] = position.into();
    }
    pair
}

#[cfg(test)]
mod tests {
    use super::super::records::golden::key;
    use super::*;

    /// Every field set, every map with an entry.
    fn project() -> ProjectRecord {
        let value = |value: &str| pb::IndicatorValue {
            value: value.into(),
            comment: String::new(),
            measure: 1,
        };
        ProjectRecord {
            owner: "eu".into(),
            iati_identifier: "XI-IATI-EC_NEAR-1".into(),
            status: ActivityStatus(4),
            closed: true,
            closed_on: "2026-10-01".into(),
            registered_on: "2026-01-02".into(),
            pending_review: true,
            summary: ProjectSummary {
                title_latin: "Water".into(),
                title_arabic: "مياه".into(),
                funders: vec!["usaid".into(), "XM-DAC-41114".into()],
                implementers: vec!["acted".into()],
                locations: vec!["LY0305".into()],
                sectors: vec!["14030".into()],
                start: "2026-01-01".into(),
                end: "2026-12-31".into(),
                budget_value: "100.5".into(),
                budget_currency: "EUR".into(),
            },
            funding_attested: BTreeMap::from([(
                "usaid".to_owned(),
                pb::AttestationVerdict::Disputed,
            )]),
            results: BTreeMap::from([(
                "r1".to_owned(),
                ResultRecord {
                    reported_by: "acted".into(),
                    result_type: pb::ResultType::Output,
                    title: pb::Names {
                        arabic: "آبار".into(),
                        latin: "Wells".into(),
                    },
                    indicator: pb::Indicator {
                        measure: 1,
                        ascending: true,
                        baseline: Some(value("0")),
                        periods: vec![pb::IndicatorPeriod {
                            start: "2026-01-01".into(),
                            end: "2026-06-30".into(),
                            target: Some(value("10")),
                            actual: None,
                        }],
                        ..pb::Indicator::default()
                    },
                },
            )]),
            attested: BTreeMap::from([(
                "active".to_owned(),
                BTreeMap::from([(
                    "ghadames".to_owned(),
                    AttestationRecord {
                        verdict: pb::AttestationVerdict::Confirmed,
                        note: "seen".into(),
                        value: String::new(),
                        pcode: "LY0305".into(),
                        event: [3; 32].into(),
                    },
                )]),
            )]),
        }
    }

    fn version(record: &ProjectRecord) -> Vec<u8> {
        ProjectVersion {
            committed_at_ms: 1_767_312_000_000,
            project: record,
        }
        .encode()
    }

    #[test]
    fn hot_records_read_back_from_protobuf_and_from_the_json_of_formats_1_and_2() {
        let fresh = KeyRecord {
            last_event: None,
            revoked_at: None,
            ..key()
        };
        let bare = ProjectRecord {
            funding_attested: BTreeMap::new(),
            results: BTreeMap::new(),
            attested: BTreeMap::new(),
            ..project()
        };
        for record in [key(), fresh] {
            let stored = record.encode();
            assert_eq!(stored[0], BINARY);
            assert_eq!(KeyRecord::decode(&stored), Ok(record.clone()));
            let json = serde_json::to_vec(&record).expect("JSON");
            assert_eq!(KeyRecord::decode(&json), Ok(record));
        }
        for record in [project(), bare] {
            let stored = record.encode();
            assert_eq!(stored[0], BINARY);
            assert_eq!(ProjectRecord::decode(&stored), Ok(record.clone()));
            let json = serde_json::to_vec(&record).expect("JSON");
            assert_eq!(ProjectRecord::decode(&json), Ok(record.clone()));
            let read = ProjectVersion::decode(&version(&record)).expect("a version reads");
            assert_eq!(
                (read.committed_at_ms, read.project),
                (1_767_312_000_000, record.clone())
            );
            let json = serde_json::to_vec(&ProjectVersion {
                committed_at_ms: 5,
                project: &record,
            })
            .expect("JSON");
            assert_eq!(
                ProjectVersion::decode(&json).expect("reads").project,
                record
            );
        }
    }

    /// The stored bytes are the on-disk format: a change that alters them
    /// changes what every store of format 3 holds.
    /// The writer encodes a project once for its record and its version:
    /// the same bytes as encoding each whole, for a version committed at
    /// any time (0 included, whose field protobuf leaves out).
    #[test]
    fn a_project_encoded_once_gives_its_record_and_versions_byte_for_byte() {
        let bare = ProjectRecord::registration(String::new(), &Default::default(), String::new());
        for record in [project(), bare] {
            let once = EncodedProject::of(&record);
            assert_eq!(once.record(), record.encode());
            for committed_at_ms in [0, 1, 1_767_225_600_000, -5, i64::MAX] {
                let whole = ProjectVersion {
                    committed_at_ms,
                    project: &record,
                }
                .encode();
                assert_eq!(once.version(committed_at_ms), whole, "{committed_at_ms}");
            }
        }
    }

    #[test]
    fn the_stored_protobuf_of_hot_records_stays_as_it_is() {
        assert_eq!(
            hex::encode(key().encode()),
            format!("010a04756e647010071a20{}202a", "01".repeat(32))
        );
        let bare = ProjectRecord {
            owner: "eu".into(),
            iati_identifier: String::new(),
            status: ActivityStatus(2),
            closed: false,
            closed_on: String::new(),
            registered_on: "2026-01-02".into(),
            pending_review: false,
            summary: ProjectSummary {
                locations: vec!["LY0305".into()],
                sectors: vec!["14030".into()],
                ..ProjectSummary::default()
            },
            funding_attested: BTreeMap::new(),
            results: BTreeMap::new(),
            attested: BTreeMap::new(),
        };
        assert_eq!(
            hex::encode(bare.encode()),
            "010a0265751802320a323032362d30312d3032420f2a064c593033303532053134303330"
        );
        // Every field, map, result and attestation, in a version.
        assert_eq!(
            blake3::hash(&version(&project())).to_hex().as_str(),
            "9b29223cc0a6cbfb52a54284a967e481547a23e1acbc0d2b8696ed14c0bc8f6a"
        );
    }

    /// Projections are compared byte for byte with a rebuild: maps must
    /// encode in key order, not in a hash map's order of the moment.
    #[test]
    fn a_record_always_encodes_to_the_same_bytes() {
        let mut record = project();
        for n in 0..20 {
            record
                .funding_attested
                .insert(format!("funder-{n}"), pb::AttestationVerdict::Confirmed);
            let mut more = record.attested["active"].clone();
            more.insert(format!("org-{n}"), more["ghadames"].clone());
            record.attested.insert(format!("subject-{n}"), more);
        }
        let first = record.encode();
        for _ in 0..10 {
            let again = ProjectRecord::decode(&first).expect("reads back");
            assert_eq!(again.encode(), first);
        }
    }

    #[test]
    fn protobuf_records_are_smaller_than_their_json() {
        for (binary, json) in [
            (key().encode(), serde_json::to_vec(&key()).expect("JSON")),
            (
                project().encode(),
                serde_json::to_vec(&project()).expect("JSON"),
            ),
        ] {
            assert!(
                binary.len() * 2 < json.len(),
                "{} bytes against {} in JSON",
                binary.len(),
                json.len()
            );
        }
    }

    #[test]
    fn damaged_or_unknown_bytes_are_refused_with_the_reason() {
        assert_eq!(
            KeyRecord::decode(b"").unwrap_err(),
            "in no known encoding".to_owned()
        );
        assert_eq!(
            ProjectRecord::decode(&[0x02, 0x0a]).unwrap_err(),
            "in no known encoding".to_owned()
        );
        let stored = project().encode();
        assert!(ProjectRecord::decode(&stored[..stored.len() - 3]).is_err());
        // A verdict no variant has.
        let mut message = project_message(&project());
        message.funding_attested.insert("x".into(), 77);
        let error = ProjectRecord::decode(&binary(&message)).unwrap_err();
        assert!(error.contains("no code 77"), "{error}");
        // A project without its summary, a version without its project.
        let mut message = project_message(&project());
        message.summary = None;
        let error = ProjectRecord::decode(&binary(&message)).unwrap_err();
        assert!(error.contains("without its summary"), "{error}");
        let Err(error) = ProjectVersion::decode(&binary(&stored::ProjectVersion {
            committed_at_ms: 1,
            project: None,
        })) else {
            panic!("a version without its project must be refused");
        };
        assert!(error.contains("without its project"), "{error}");
        // An event id of the wrong length.
        let short = stored::Key {
            last_event: vec![1; 31],
            ..stored::Key::default()
        };
        assert!(KeyRecord::decode(&binary(&short)).is_err());
    }

    #[test]
    fn the_dump_shows_records_whatever_their_form_and_other_pairs_in_hex() {
        use super::super::cf;
        let binary = readable_pair(cf::PROJECTS, b"p1", &project().encode());
        let json = readable_pair(
            cf::PROJECTS,
            b"p1",
            &serde_json::to_vec(&project()).expect("JSON"),
        );
        assert_eq!(binary["form"], "protobuf");
        assert_eq!(json["form"], "json");
        assert_eq!(binary["record"], json["record"]);
        assert_eq!(binary["record"]["summary"]["title_arabic"], "مياه");
        assert_eq!(binary["key"], serde_json::json!(["p1"]));
        let mut key = super::super::keys::text_key(&["p1"]);
        key.extend_from_slice(&9_u64.to_be_bytes());
        let versioned = readable_pair(cf::PROJECT_VERSIONS, &key, &version(&project()));
        assert_eq!(versioned["position"], 9);
        assert_eq!(
            versioned["record"]["committed_at_ms"],
            1_767_312_000_000_i64
        );
        let other = readable_pair(cf::LOG, &[0, 1], &[0xab]);
        assert_eq!(other, serde_json::json!({ "key": "0001", "value": "ab" }));
        let broken = readable_pair(cf::KEYS, &[7], &[BINARY, 0xff]);
        assert!(broken["record"]["unreadable"].is_string(), "{broken}");
    }
}
