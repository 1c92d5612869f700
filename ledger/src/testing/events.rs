//! Event bodies for tests and benchmarks, to sign with an
//! [`Author`](crate::author::Author); plain protobuf values, for a test to
//! change before signing where it needs others.

use crate::signing::KeyPair;
use tansiq_proto::v1 as pb;
use tansiq_proto::v1::event_body::Kind;

/// Names in Latin and Arabic script (either may be empty).
pub fn names(latin: &str, arabic: &str) -> Option<pb::Names> {
    Some(pb::Names {
        latin: latin.into(),
        arabic: arabic.into(),
    })
}

/// Registers `org_id` as a donor (IATI organisation type 21) whose one key
/// is `key`'s public key; its Latin name is its id.
pub fn register_donor(org_id: &str, key: &KeyPair) -> Kind {
    Kind::OrganisationRegistered(pb::OrganisationRegistered {
        org_id: org_id.into(),
        role: pb::OrgRole::Donor as i32,
        name: names(org_id, ""),
        iati_identifier: String::new(),
        iati_org_type: 21,
        keys: vec![key.public().0.to_vec()],
        pcode: String::new(),
    })
}

/// Registers the municipality `pcode` at administrative `level` under
/// `parent` (or none, when empty); its country is the pcode's first two
/// letters.
pub fn municipality(pcode: &str, parent: &str, level: u32) -> Kind {
    Kind::MunicipalityRegistered(pb::MunicipalityRegistered {
        pcode: pcode.into(),
        admin_level: level,
        parent_pcode: parent.into(),
        country: pcode[..2].into(),
        name: names(pcode, "غدامس"),
        population: 0,
    })
}

/// Project details made so far by [`details`] in this process.
static DETAILS_MADE: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

/// The details of a water project in implementation (IATI status 2), planned
/// from 2026-01-01 to 2027-12-31, wholly in `pcode` and `sector`, with a
/// budget of `value` in `currency` and an IATI identifier no other call in
/// this process returns.
pub fn details(pcode: &str, sector: &str, currency: &str, value: &str) -> pb::ProjectDetails {
    pb::ProjectDetails {
        // One activity, one identifier (the ledger refuses a second project
        // with another's): numbered in the order details are made.
        iati_identifier: format!(
            "XM-TEST-{pcode}-{sector}-{}",
            DETAILS_MADE.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        ),
        title: names("Water network rehabilitation", "إعادة تأهيل شبكة المياه"),
        description: None,
        participants: vec![],
        locations: vec![pb::ProjectLocation {
            pcode: pcode.into(),
            percentage: 100,
        }],
        sectors: vec![pb::ProjectSector {
            code: sector.into(),
            percentage: 100,
        }],
        status: 2,
        planned_start: "2026-01-01".into(),
        planned_end: "2027-12-31".into(),
        actual_start: String::new(),
        actual_end: String::new(),
        budget: Some(pb::Money {
            value: value.into(),
            currency: currency.into(),
        }),
    }
}

/// Registers the project `project_id` with `details` (see [`details`]).
pub fn project(project_id: &str, details: pb::ProjectDetails) -> Kind {
    Kind::ProjectRegistered(pb::ProjectRegistered {
        project_id: project_id.into(),
        details: Some(details),
    })
}
