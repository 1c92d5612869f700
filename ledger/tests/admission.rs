//! What the ledger admits, checked on a real store: one encoding per event
//! (a non-canonical body is refused), bounded equivocation evidence, and
//! the signer check a leader (or a donor site's outbox) makes before a
//! request may enter a Raft log.

use crate::common::municipality;

use std::collections::HashSet;

use prost::Message;
use tansiq_ledger::append::SignerCheckError;
use tansiq_ledger::author::Author;
use tansiq_ledger::event::{admit, Event, Signatures};
use tansiq_ledger::genesis::Genesis;
use tansiq_ledger::ids::OrgId;
use tansiq_ledger::signing::{ChainId, KeyPair};
use tansiq_ledger::{Ledger, Rejection};
use tansiq_proto::v1 as pb;
use tansiq_proto::v1::event_body::Kind;

/// The chain's genesis: the ministry holds the key of seed 1.
fn genesis() -> Genesis {
    Genesis::new_chain(
        "tansiq-admission",
        &OrgId::parse("ministry").expect("org id"),
        pb::Names {
            latin: "Ministry".into(),
            arabic: String::new(),
        },
        &[KeyPair::from_seed([1; 32]).public()],
        0,
    )
    .expect("genesis")
}

fn chain() -> ChainId {
    genesis().chain
}

fn ledger(dir: &std::path::Path) -> Ledger {
    Ledger::open(&dir.join("db"), Some(&genesis())).expect("open")
}

fn author(org: &str, seed: u8) -> Author {
    Author::new(
        chain(),
        OrgId::parse(org).expect("org id"),
        KeyPair::from_seed([seed; 32]),
        0,
        None,
    )
}

fn organisation(org: &str, key: &KeyPair) -> Kind {
    Kind::OrganisationRegistered(pb::OrganisationRegistered {
        pcode: String::new(),
        org_id: org.into(),
        role: pb::OrgRole::Donor as i32,
        name: Some(pb::Names {
            latin: org.into(),
            arabic: String::new(),
        }),
        keys: vec![key.public().0.to_vec()],
        ..Default::default()
    })
}

fn decoded(events: Vec<pb::SignedEvent>) -> Result<Vec<Event>, Rejection> {
    admit(&chain(), [events], Signatures::Verify)
        .pop()
        .expect("one verdict")
}

fn commit(ledger: &Ledger, events: Vec<pb::SignedEvent>) -> Result<(), Rejection> {
    let mut outcomes = ledger
        .commit_group(vec![decoded(events)], 1_767_225_600_000)
        .expect("commit");
    match outcomes.pop().expect("one outcome") {
        Ok(_) => Ok(()),
        Err(rejection) => Err(rejection),
    }
}

#[test]
fn a_body_in_another_encoding_of_the_same_content_is_refused() {
    let ministry = author("ministry", 1);
    let body = ministry.next_body(municipality("LY01"), 0);
    let canonical = body.encode_to_vec();
    // The same body with a field the schema does not define appended
    // (field 99, varint 1), and with `sequence` (field 3) as a 2-byte varint.
    let mut unknown_field = canonical.clone();
    unknown_field.extend_from_slice(&[0xf8, 0x06, 0x01]);
    let mut long_varint = Vec::new();
    let mut rest = canonical.as_slice();
    while !rest.is_empty() {
        // Copy field by field, widening the one-byte varint of field 3.
        let tag = rest[0];
        if tag == 0x18 {
            long_varint.extend_from_slice(&[0x18, rest[1] | 0x80, 0x00]);
            rest = &rest[2..];
            long_varint.extend_from_slice(rest);
            break;
        }
        long_varint.push(tag);
        rest = &rest[1..];
    }
    assert_ne!(long_varint, canonical, "the test widened the sequence");
    for body in [unknown_field, long_varint] {
        let (signed, _) = author("ministry", 1).sign_body(body);
        match decoded(vec![signed]) {
            Err(Rejection::Malformed { detail }) => {
                assert!(detail.contains("canonical"), "{detail}")
            }
            other => panic!("a non-canonical body was admitted: {other:?}"),
        }
    }
    let (signed, _) = author("ministry", 1).sign_body(canonical);
    decoded(vec![signed]).expect("the canonical body decodes");
}

#[test]
fn one_key_leaves_one_piece_of_evidence_per_sequence() {
    let dir = tempfile::tempdir().expect("temp dir");
    let ledger = ledger(dir.path());
    let mut ministry = author("ministry", 1);
    let (first, _) = ministry.sign(municipality("LY01"), 0);
    commit(&ledger, vec![first]).expect("first event");
    for index in 0..5 {
        // Five different events at sequence 1 of the same key.
        let mut twin = author("ministry", 1);
        let (conflicting, _) = twin.sign(municipality(&format!("LY0{}", index + 2)), 0);
        match commit(&ledger, vec![conflicting]) {
            Err(Rejection::Equivocation { sequence, .. }) => assert_eq!(sequence, 1),
            other => panic!("expected an equivocation: {other:?}"),
        }
    }
    let evidence = ledger.store().evidence().expect("evidence");
    assert_eq!(
        evidence.len(),
        1,
        "the first conflicting event is kept, once"
    );
}

#[test]
fn signers_are_checked_against_the_applied_state_before_a_request_is_proposed() {
    let dir = tempfile::tempdir().expect("temp dir");
    let ledger = ledger(dir.path());
    let mut ministry = author("ministry", 1);
    let none = HashSet::new();

    // A throw-away key: refused, nothing written.
    let mut stranger = author("stranger", 9);
    let (junk, _) = stranger.sign(municipality("LY09"), 0);
    let events = decoded(vec![junk]).expect("signature is valid");
    assert!(matches!(
        ledger.check_signers(&events, &none),
        Err(SignerCheckError::Refused(Rejection::UnknownKey { .. }))
    ));

    // A key registered by an earlier event of the same request, or by a
    // request still on its way to the log, may sign.
    let donor_key = KeyPair::from_seed([2; 32]);
    let (register, _) = ministry.sign(organisation("donor", &donor_key), 0);
    let mut donor = author("donor", 2);
    let (donor_first, _) = donor.sign(municipality("LY05"), 0);
    let together = decoded(vec![register.clone(), donor_first.clone()]).expect("valid");
    ledger
        .check_signers(&together, &none)
        .expect("registered earlier in the request");
    let alone = decoded(vec![donor_first.clone()]).expect("valid");
    assert!(ledger.check_signers(&alone, &none).is_err());
    let in_flight: HashSet<_> = [donor_key.public()].into_iter().collect();
    ledger
        .check_signers(&alone, &in_flight)
        .expect("registered by a request on its way to the log");

    // A key that claims another organisation, and a revoked key.
    commit(&ledger, vec![register]).expect("registered");
    let mut impostor = author("ministry", 2);
    let (claim, _) = impostor.sign(municipality("LY06"), 0);
    let claim = decoded(vec![claim]).expect("valid");
    assert!(matches!(
        ledger.check_signers(&claim, &none),
        Err(SignerCheckError::Refused(Rejection::AuthorMismatch { .. }))
    ));
    ledger.check_signers(&alone, &none).expect("now registered");
    let (revoke, _) = ministry.sign(
        Kind::KeyRevoked(pb::KeyRevoked {
            org_id: "donor".into(),
            key: donor_key.public().0.to_vec(),
            reason: "test".into(),
        }),
        0,
    );
    commit(&ledger, vec![revoke]).expect("revoked");
    assert!(matches!(
        ledger.check_signers(&alone, &none),
        Err(SignerCheckError::Refused(Rejection::RevokedKey { .. }))
    ));
}

#[test]
fn an_activity_identifier_belongs_to_its_reporting_organisation() {
    use tansiq_ledger::append::{activity_reporter, Reporter};
    let owners = |prefix: &str| match prefix {
        "XM-DAC-41114" => Some("undp".to_owned()),
        "ES-DIR3-E04585801" => Some("aecid".to_owned()),
        _ => None,
    };
    let none: &[String] = &[];
    let undp = Reporter {
        org: "undp",
        own: "XM-DAC-41114",
        reports_for: none,
    };
    // An organisation with an IATI identifier reports only under it.
    activity_reporter("XM-DAC-41114-LY-1", undp, owners).expect("its own");
    let refused =
        activity_reporter("ES-DIR3-E04585801-LY-1", undp, owners).expect_err("AECID's activity");
    assert!(refused.contains("XM-DAC-41114-"), "{refused}");
    // A longer identifier that merely starts with the same characters is not under it.
    assert!(activity_reporter("XM-DAC-411140-1", undp, owners).is_err());
    // One without reports none under another's.
    let twin = Reporter {
        org: "tinley-park",
        own: "",
        reports_for: none,
    };
    activity_reporter("TWIN-GHADAMES-1", twin, owners).expect("nobody's prefix");
    let refused =
        activity_reporter("XM-DAC-41114-LY-1", twin, owners).expect_err("UNDP's activity");
    assert!(refused.contains("undp"), "{refused}");
    // A secondary reporter the ministry consented to reports the
    // publisher's activities, and still its own.
    let consented = ["ES-DIR3-E04585801".to_owned()];
    let secondary = Reporter {
        reports_for: &consented,
        ..undp
    };
    activity_reporter("ES-DIR3-E04585801-LY-1", secondary, owners).expect("with consent");
    activity_reporter("XM-DAC-41114-LY-1", secondary, owners).expect("its own");
    assert!(activity_reporter("ES-DIR3-E045858010-1", secondary, owners).is_err());
}

#[test]
fn commit_times_never_go_back_along_the_log() {
    let dir = tempfile::tempdir().expect("temp dir");
    let ledger = ledger(dir.path());
    let mut ministry = author("ministry", 1);
    let mut committed_at = Vec::new();
    // A leader whose clock is five minutes behind the previous one's.
    for (pcode, clock_ms) in [("LY01", 1_767_225_600_000), ("LY02", 1_767_225_300_000)] {
        let (event, _) = ministry.sign(municipality(pcode), 0);
        let mut outcomes = ledger
            .commit_group(vec![decoded(vec![event])], clock_ms)
            .expect("commit");
        let receipts = outcomes.pop().expect("one outcome").expect("accepted");
        committed_at.push(receipts[0].committed_at_ms);
    }
    assert_eq!(committed_at, vec![1_767_225_600_000, 1_767_225_600_000]);
}

#[test]
fn an_iati_activity_identifier_names_one_project_on_the_ledger() {
    let dir = tempfile::tempdir().expect("temp dir");
    let ledger = ledger(dir.path());
    let mut ministry = author("ministry", 1);
    let (place, _) = ministry.sign(municipality("LY01"), 0);
    // Two twinned municipalities without IATI organisation identifiers.
    let (first, _) = ministry.sign(organisation("twin-a", &KeyPair::from_seed([3; 32])), 0);
    let (second, _) = ministry.sign(organisation("twin-b", &KeyPair::from_seed([4; 32])), 0);
    commit(&ledger, vec![place, first, second]).expect("registered");
    let project = |id: &str, identifier: &str| {
        Kind::ProjectRegistered(pb::ProjectRegistered {
            project_id: id.into(),
            details: Some(details(identifier)),
        })
    };
    let update = |id: &str, identifier: &str| {
        Kind::ProjectUpdated(pb::ProjectUpdated {
            project_id: id.into(),
            details: Some(details(identifier)),
        })
    };
    let mut a = author("twin-a", 3);
    let mut b = author("twin-b", 4);
    commit(&ledger, vec![a.sign(project("a-water", "TWIN-1"), 0).0]).expect("first");
    // Another organisation's project under the same identifier is refused,
    // by name, and so is a second one of the same organisation.
    let (taken, _) = b.sign(project("b-water", "TWIN-1"), 0);
    match commit(&ledger, vec![taken]) {
        Err(Rejection::IdentifierTaken {
            identifier,
            project,
        }) => assert_eq!(
            (identifier.as_str(), project.as_str()),
            ("TWIN-1", "a-water")
        ),
        other => panic!("a second project took TWIN-1: {other:?}"),
    }
    // A store of a release before format 5 has no index of identifiers:
    // it is written from the projects when the store is upgraded, and the
    // rule holds on.
    assert_eq!(
        tansiq_ledger::testing::as_written_before_format_5(&ledger),
        1
    );
    drop(ledger);
    let ledger = self::ledger(dir.path());
    let mut b = author("twin-b", 4);
    let (taken, _) = b.sign(project("b-water", "TWIN-1"), 0);
    assert!(matches!(
        commit(&ledger, vec![taken]),
        Err(Rejection::IdentifierTaken { project, .. }) if project == "a-water"
    ));
    let mut b = author("twin-b", 4);
    let (again, _) = a.sign(project("a-water-2", "TWIN-1"), 0);
    assert!(matches!(
        commit(&ledger, vec![again]),
        Err(Rejection::IdentifierTaken { .. })
    ));
    // The refused request used a's next sequence number: start again from
    // its key's head, as a client does.
    let mut a = author_on(&ledger, "twin-a", 3);
    // The project keeps its identifier through an update; once it takes
    // another, the first is free again, within one request too.
    commit(&ledger, vec![a.sign(update("a-water", "TWIN-1"), 0).0]).expect("same identifier");
    commit(&ledger, vec![a.sign(update("a-water", "TWIN-2"), 0).0]).expect("renamed");
    commit(&ledger, vec![b.sign(project("b-water", "TWIN-1"), 0).0]).expect("free again");
    let (one, _) = b.sign(project("b-school", "TWIN-3"), 0);
    let (two, _) = b.sign(project("b-clinic", "TWIN-3"), 0);
    assert!(matches!(
        commit(&ledger, vec![one, two]),
        Err(Rejection::InBatch { .. })
    ));
}

/// A donor without an IATI organisation identifier may not register an
/// activity under another organisation's identifier, wherever that
/// organisation's registration was staged: committed in an earlier group,
/// in an earlier request of the same group, or earlier in the same
/// request. The verdict must not depend on those boundaries: a cluster's
/// nodes apply Raft entries (each a group) in batches of their own sizes,
/// and a rebuild stages each commit time's events as one request; a rule
/// that saw only some of them would split the nodes' states.
#[test]
fn an_organisations_iati_identifier_is_its_own_wherever_its_registration_was_staged() {
    for boundary in BOUNDARIES {
        match registered_after(boundary, "XI-IATI-EC_NEAR", "XI-IATI-EC_NEAR-1") {
            Err(rejection) => assert!(
                matches!(rejection.root(), Rejection::NotAllowed { .. })
                    && rejection
                        .to_string()
                        .contains("XI-IATI-EC_NEAR is the IATI identifier of organisation eu"),
                "{boundary}: {rejection}"
            ),
            Ok(()) => panic!("{boundary}: twin-a registered an activity of eu's"),
        }
    }
}

/// An identifier beginning with a hyphen begins with no organisation's
/// identifier: not with the empty one of an organisation registered
/// without any, wherever that registration was staged.
#[test]
fn an_identifier_beginning_with_a_hyphen_is_nobodys() {
    for boundary in BOUNDARIES {
        let outcome = registered_after(boundary, "", "-1");
        assert!(outcome.is_ok(), "{boundary}: {outcome:?}");
    }
}

/// Where an organisation's registration is staged relative to a project's.
const BOUNDARIES: [&str; 3] = ["earlier group", "earlier request", "same request"];

/// On a new ledger with a place and twin-a (a donor without an IATI
/// organisation identifier): the verdict on twin-a's project with the
/// activity identifier `identifier`, staged after the ministry's
/// registration of "eu" with the IATI identifier `publisher` (empty: none),
/// across `boundary`.
fn registered_after(boundary: &str, publisher: &str, identifier: &str) -> Result<(), Rejection> {
    let dir = tempfile::tempdir().expect("temp dir");
    let ledger = ledger(dir.path());
    let mut ministry = author("ministry", 1);
    let (place, _) = ministry.sign(municipality("LY01"), 0);
    let (twin, _) = ministry.sign(organisation("twin-a", &KeyPair::from_seed([3; 32])), 0);
    commit(&ledger, vec![place, twin]).expect("registered");
    let registration = Kind::OrganisationRegistered(pb::OrganisationRegistered {
        iati_identifier: publisher.into(),
        ..match organisation("eu", &KeyPair::from_seed([5; 32])) {
            Kind::OrganisationRegistered(body) => body,
            _ => unreachable!("organisation() registers an organisation"),
        }
    });
    let (registration, _) = ministry.sign(registration, 0);
    let (project, _) = author("twin-a", 3).sign(
        Kind::ProjectRegistered(pb::ProjectRegistered {
            project_id: "twin-water".into(),
            details: Some(details(identifier)),
        }),
        0,
    );
    match boundary {
        "earlier group" => {
            commit(&ledger, vec![registration]).expect("registered");
            commit(&ledger, vec![project])
        }
        "earlier request" => {
            let mut outcomes = ledger
                .commit_group(
                    vec![decoded(vec![registration]), decoded(vec![project])],
                    1_767_225_600_000,
                )
                .expect("commit");
            assert!(outcomes[0].is_ok(), "{:?}", outcomes[0]);
            outcomes.pop().expect("two outcomes").map(drop)
        }
        _ => commit(&ledger, vec![registration, project]),
    }
}

fn details(identifier: &str) -> pb::ProjectDetails {
    pb::ProjectDetails {
        iati_identifier: identifier.into(),
        title: Some(pb::Names {
            latin: format!("Project {identifier}"),
            arabic: String::new(),
        }),
        locations: vec![pb::ProjectLocation {
            pcode: "LY01".into(),
            percentage: 100,
        }],
        sectors: vec![pb::ProjectSector {
            code: "14030".into(),
            percentage: 100,
        }],
        status: 2,
        ..Default::default()
    }
}

fn membership(change: pb::MembershipChange, members: &[(u64, &str)]) -> Kind {
    Kind::MembershipChangeAuthorised(pb::MembershipChangeAuthorised {
        change: change as i32,
        members: members
            .iter()
            .map(|(node_id, address)| pb::ClusterMember {
                node_id: *node_id,
                address: (*address).to_owned(),
            })
            .collect(),
    })
}

#[test]
fn only_the_ministry_authorises_a_membership_change_and_a_trial_writes_nothing() {
    let dir = tempfile::tempdir().expect("temp dir");
    let ledger = ledger(dir.path());
    let mut ministry = author("ministry", 1);
    let mut donor = author("donor-a", 2);
    let registration = ministry.sign(organisation("donor-a", &KeyPair::from_seed([2; 32])), 0);
    commit(&ledger, vec![registration.0]).expect("the donor is registered");

    // Field rules: a change named, each node once, addresses where nodes are added.
    for (kind, field) in [
        (
            membership(pb::MembershipChange::Unspecified, &[(1, "http://a")]),
            "change",
        ),
        (membership(pb::MembershipChange::Init, &[]), "members"),
        (
            membership(
                pb::MembershipChange::Init,
                &[(1, "http://a"), (1, "http://b")],
            ),
            "members.node_id",
        ),
        (
            membership(pb::MembershipChange::Init, &[(0, "http://a")]),
            "members.node_id",
        ),
        (
            membership(pb::MembershipChange::Init, &[(1, "ftp://a")]),
            "members.address",
        ),
        (
            membership(
                pb::MembershipChange::AddLearner,
                &[(4, "http://d"), (5, "http://e")],
            ),
            "members",
        ),
        (
            membership(pb::MembershipChange::ChangeVoters, &[(1, "http://a")]),
            "members.address",
        ),
    ] {
        let mut trial_author = author("ministry", 1);
        let refused = decoded(vec![trial_author.sign(kind, 0).0]).unwrap_err();
        assert!(
            matches!(&refused, Rejection::Field { field: f, .. } if f == field),
            "{field}: {refused:?}"
        );
    }

    // A donor may not authorise one; the trial says so and writes nothing.
    let head = ledger.tip().expect("tip");
    let by_donor = donor.sign(
        membership(pb::MembershipChange::AddLearner, &[(4, "https://d:1")]),
        0,
    );
    let refused = ledger
        .try_request(vec![by_donor.0.clone()])
        .expect("store")
        .unwrap_err();
    assert_eq!(refused.reason(), "not_allowed", "{refused}");
    assert_eq!(
        commit(&ledger, vec![by_donor.0]).unwrap_err().reason(),
        "not_allowed"
    );

    // The ministry's is accepted by the trial, which writes nothing, then committed.
    let by_ministry = ministry.sign(
        membership(pb::MembershipChange::ChangeVoters, &[(1, ""), (2, "")]),
        0,
    );
    let tried = ledger
        .try_request(vec![by_ministry.0.clone()])
        .expect("store")
        .expect("the ministry may authorise it");
    assert!(!tried[0].duplicate);
    assert_eq!(
        ledger.tip().expect("tip"),
        head,
        "a trial wrote to the ledger"
    );
    commit(&ledger, vec![by_ministry.0.clone()]).expect("committed");
    // Tried again, the same authorisation is a duplicate: the node refuses to use it twice.
    let again = ledger
        .try_request(vec![by_ministry.0])
        .expect("store")
        .expect("a duplicate is answered with its receipt");
    assert!(again[0].duplicate);
}

/// `org`'s author with the key of `seed`, placed after the key's last event
/// on `ledger` (as a client starts again after a refusal).
fn author_on(ledger: &Ledger, org: &str, seed: u8) -> Author {
    let key = ledger
        .store()
        .key(&KeyPair::from_seed([seed; 32]).public())
        .expect("read")
        .expect("a registered key");
    Author::new(
        chain(),
        OrgId::parse(org).expect("org id"),
        KeyPair::from_seed([seed; 32]),
        key.sequence,
        key.last_event,
    )
}

#[test]
fn a_secondary_reporter_reports_another_publishers_activities_only_with_the_ministrys_consent() {
    let dir = tempfile::tempdir().expect("temp dir");
    let ledger = ledger(dir.path());
    let mut ministry = author("ministry", 1);
    let undp = Kind::OrganisationRegistered(pb::OrganisationRegistered {
        pcode: String::new(),
        org_id: "undp".into(),
        role: pb::OrgRole::Donor as i32,
        name: Some(pb::Names {
            latin: "UNDP".into(),
            arabic: String::new(),
        }),
        iati_identifier: "XM-DAC-41114".into(),
        keys: vec![KeyPair::from_seed([5; 32]).public().0.to_vec()],
        ..Default::default()
    });
    let (place, _) = ministry.sign(municipality("LY01"), 0);
    let (registered, _) = ministry.sign(undp, 0);
    commit(&ledger, vec![place, registered]).expect("registered");
    let project = |id: &str, identifier: &str| {
        Kind::ProjectRegistered(pb::ProjectRegistered {
            project_id: id.into(),
            details: Some(details(identifier)),
        })
    };
    let consent = |withdrawn: bool| {
        Kind::SecondaryReportingConsented(pb::SecondaryReportingConsented {
            org_id: "undp".into(),
            iati_org_identifier: "ES-DIR3-E04585801".into(),
            withdrawn,
            note: "reports AECID's Libya programme under agreement 2026/7".into(),
        })
    };

    // Without consent UNDP may not register AECID's activity.
    let refused = commit(
        &ledger,
        vec![
            author_on(&ledger, "undp", 5)
                .sign(project("aecid-water", "ES-DIR3-E04585801-LY-1"), 0)
                .0,
        ],
    )
    .unwrap_err();
    assert_eq!(refused.reason(), "not_allowed", "{refused}");
    assert!(
        refused.to_string().contains("secondary reporter"),
        "{refused}"
    );

    // Only the ministry consents, to a registered organisation, once.
    let by_donor = author_on(&ledger, "undp", 5).sign(consent(false), 0).0;
    assert_eq!(
        commit(&ledger, vec![by_donor]).unwrap_err().reason(),
        "not_allowed"
    );
    let mut ministry = author_on(&ledger, "ministry", 1);
    let unknown = Kind::SecondaryReportingConsented(pb::SecondaryReportingConsented {
        org_id: "nobody".into(),
        iati_org_identifier: "ES-DIR3-E04585801".into(),
        ..Default::default()
    });
    assert_eq!(
        commit(&ledger, vec![ministry.sign(unknown, 0).0])
            .unwrap_err()
            .reason(),
        "unknown_reference"
    );
    let mut ministry = author_on(&ledger, "ministry", 1);
    commit(&ledger, vec![ministry.sign(consent(false), 0).0]).expect("consented");
    let twice = commit(&ledger, vec![ministry.sign(consent(false), 0).0]).unwrap_err();
    assert!(twice.to_string().contains("already has"), "{twice}");

    // With it, UNDP registers AECID's activity (and still its own).
    let mut undp = author_on(&ledger, "undp", 5);
    commit(
        &ledger,
        vec![
            undp.sign(project("aecid-water", "ES-DIR3-E04585801-LY-1"), 0)
                .0,
            undp.sign(project("undp-water", "XM-DAC-41114-LY-1"), 0).0,
        ],
    )
    .expect("with the ministry's consent");

    // Withdrawn: no new activity of AECID's, but the project registered
    // keeps its identifier through an update.
    let mut ministry = author_on(&ledger, "ministry", 1);
    commit(&ledger, vec![ministry.sign(consent(true), 0).0]).expect("withdrawn");
    let refused = commit(
        &ledger,
        vec![
            undp.sign(project("aecid-school", "ES-DIR3-E04585801-LY-2"), 0)
                .0,
        ],
    )
    .unwrap_err();
    assert_eq!(refused.reason(), "not_allowed", "{refused}");
    let mut undp = author_on(&ledger, "undp", 5);
    let update = Kind::ProjectUpdated(pb::ProjectUpdated {
        project_id: "aecid-water".into(),
        details: Some(details("ES-DIR3-E04585801-LY-1")),
    });
    commit(&ledger, vec![undp.sign(update, 0).0]).expect("its project stays its own");
}
