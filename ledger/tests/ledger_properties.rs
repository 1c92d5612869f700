//! Properties of the ledger core, checked on the library directly (no node):
//!
//! - flipping any single bit of a signed event makes it rejected, and the
//!   ledger is unchanged;
//! - for random sequences of events committed in random groups (with refused
//!   and repeated submissions mixed in), the log head chain recomputed from
//!   the stored events, following docs/PROTOCOL.md, equals the stored head at
//!   every position, also after the ledger is closed and reopened.
//!
//! The sign/verify round trip is a property test in `ledger/src/signing.rs`.

// Test code: a panic with its location is the failure report.
#![allow(clippy::unwrap_used)]

use tansiq_ledger::testing::events;

use std::path::Path;

use proptest::prelude::*;
use prost::Message;
use tansiq_ledger::append::RequestOutcome;
use tansiq_ledger::author::Author;
use tansiq_ledger::genesis::Genesis;
use tansiq_ledger::ids::{EventId, LogPosition, OrgId};
use tansiq_ledger::signing::KeyPair;
use tansiq_ledger::Ledger;
use tansiq_proto::v1 as pb;
use tansiq_proto::v1::event_body::Kind;

const MUNICIPALITIES: [&str; 3] = ["LY0101", "LY0102", "LY0103"];
const SECTORS: [&str; 4] = ["14030", "12220", "11110", "16010"];
const CREATED_AT_MS: i64 = 1_767_225_600_000;

/// A ledger in a temporary directory whose ministry has registered the
/// municipalities above.
struct Fixture {
    _dir: tempfile::TempDir,
    ledger: Ledger,
    ministry: Author,
}

fn open(path: &Path, genesis: Option<&Genesis>) -> Ledger {
    Ledger::open(path, genesis).unwrap()
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let (ledger, mut ministry) = tansiq_ledger::testing::open_test_ledger(
        &dir.path().join("ledger"),
        "tansiq-props",
        7,
        CREATED_AT_MS,
    );
    let setup: Vec<Vec<pb::SignedEvent>> = [events::municipality("LY01", "", 1)]
        .into_iter()
        .chain(
            MUNICIPALITIES
                .iter()
                .map(|pcode| events::municipality(pcode, "LY01", 2)),
        )
        .map(|kind| vec![ministry.sign(kind, CREATED_AT_MS).0])
        .collect();
    for outcome in commit(&ledger, setup) {
        outcome.unwrap();
    }
    Fixture {
        _dir: dir,
        ledger,
        ministry,
    }
}

/// The node's path for a group of requests: decode, batch-verify, commit.
fn commit(ledger: &Ledger, requests: Vec<Vec<pb::SignedEvent>>) -> Vec<RequestOutcome> {
    tansiq_ledger::testing::commit_group(ledger, requests, CREATED_AT_MS)
}

/// Registers a donor organisation with a fresh key; returns its author.
fn register_donor(fixture: &mut Fixture, name: &str) -> Author {
    let key = KeyPair::generate();
    let (event, _) = fixture
        .ministry
        .sign(events::register_donor(name, &key), CREATED_AT_MS);
    commit(&fixture.ledger, vec![vec![event]])
        .remove(0)
        .unwrap();
    Author::new(
        fixture.ledger.chain().clone(),
        OrgId::parse(name).unwrap(),
        key,
        0,
        None,
    )
}

/// The blake3 log head chain recomputed from the stored events alone, as
/// docs/PROTOCOL.md defines it, checked at every position against the stored
/// head; returns the number of events.
fn assert_head_chain_recomputes(ledger: &Ledger) -> u64 {
    let store = ledger.store();
    let chain = ledger.chain().to_string();
    let mut head = *blake3::hash(&ledger.genesis().bytes).as_bytes();
    let mut expected_position = 1;
    loop {
        let records = store
            .log_range(LogPosition(expected_position), 100)
            .unwrap();
        if records.is_empty() {
            break;
        }
        for record in records {
            assert_eq!(record.position, LogPosition(expected_position));
            let (by_id, envelope) = store.event(&record.event_id).unwrap().unwrap();
            assert_eq!(by_id, record);
            let position = record.position;
            let mut signed = b"tansiq/event/v1\0".to_vec();
            signed.extend_from_slice(chain.as_bytes());
            signed.push(0);
            signed.extend_from_slice(&envelope.body);
            let id = *blake3::hash(&signed).as_bytes();
            assert_eq!(id, record.event_id.0, "stored id at {position}");
            let mut hasher = blake3::Hasher::new();
            hasher.update(&head);
            hasher.update(&id);
            head = *hasher.finalize().as_bytes();
            assert_eq!(head, record.head.0, "stored head at {position}");
            expected_position += 1;
        }
    }
    let tip = ledger.tip().unwrap();
    assert_eq!(tip.position, LogPosition(expected_position - 1));
    assert_eq!(tip.head.0, head, "stored tip head");
    expected_position - 1
}

/// A random project event kind a donor can write about its own project.
fn project_kind(
    project: &str,
    choice: u8,
    municipality: usize,
    sector: usize,
    budget: u32,
) -> Kind {
    let mut details = events::details(
        MUNICIPALITIES[municipality % MUNICIPALITIES.len()],
        SECTORS[sector % SECTORS.len()],
        "EUR",
        &budget.to_string(),
    );
    details.iati_identifier = format!("XM-TEST-{project}");
    match choice % 3 {
        0 => Kind::ProjectUpdated(pb::ProjectUpdated {
            project_id: project.into(),
            details: Some(details),
        }),
        1 => Kind::ProjectStatusChanged(pb::ProjectStatusChanged {
            project_id: project.into(),
            status: 2 + u32::from(choice % 2),
            effective_date: "2026-03-01".into(),
        }),
        _ => Kind::TransactionRecorded(pb::TransactionRecorded {
            receiver_org_id: String::new(),
            project_id: project.into(),
            transaction_type: 3,
            date: "2026-04-01".into(),
            value: Some(pb::Money {
                value: format!("{budget}.50"),
                currency: "USD".into(),
            }),
            provider_activity_id: String::new(),
            description: "tranche".into(),
        }),
    }
}

/// Every single-bit variant of an envelope's protobuf encoding that still
/// decodes to a different event. (A flip that breaks the encoding is refused
/// before the ledger sees it; the gRPC layer cannot even decode it.)
fn single_bit_variants(event: &pb::SignedEvent) -> (Vec<pb::SignedEvent>, usize) {
    let wire = event.encode_to_vec();
    let mut variants = Vec::new();
    let mut undecodable = 0;
    for bit in 0..wire.len() * 8 {
        let mut flipped = wire.clone();
        flipped[bit / 8] ^= 1 << (bit % 8);
        match pb::SignedEvent::decode(flipped.as_slice()) {
            Ok(variant) => {
                assert!(
                    variant != *event,
                    "a flip of bit {bit} decoded to the same event"
                );
                variants.push(variant);
            }
            Err(_) => undecodable += 1,
        }
    }
    (variants, undecodable)
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 12,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn flipping_any_bit_of_a_signed_event_gets_it_rejected(
        title in "[a-zA-Z ]{1,40}",
        municipality in 0usize..3,
        sector in 0usize..4,
        budget in 1u32..10_000_000,
        by_ministry in any::<bool>(),
    ) {
        let mut fixture = fixture();
        let mut donor = (!by_ministry).then(|| register_donor(&mut fixture, "donor-a"));
        let author = donor.as_mut().unwrap_or(&mut fixture.ministry);
        let mut details = events::details(
            MUNICIPALITIES[municipality],
            SECTORS[sector],
            "EUR",
            &budget.to_string(),
        );
        details.title = events::names(&title, "مشروع");
        let (event, _) = author.sign(events::project("p-1", details), CREATED_AT_MS);
        let before = fixture.ledger.tip().unwrap();

        let (variants, undecodable) = single_bit_variants(&event);
        prop_assert!(!variants.is_empty());
        let outcomes = commit(
            &fixture.ledger,
            variants.iter().map(|variant| vec![variant.clone()]).collect(),
        );
        for (variant, outcome) in variants.iter().zip(&outcomes) {
            prop_assert!(
                outcome.is_err(),
                "a one-bit variant was accepted: {:?} (of {} decodable, {} undecodable)",
                variant, variants.len(), undecodable
            );
        }
        prop_assert_eq!(fixture.ledger.tip().unwrap(), before);

        // The untouched event is accepted: the refusals were the flips' doing.
        let receipt = commit(&fixture.ledger, vec![vec![event]]).remove(0).unwrap();
        prop_assert_eq!(receipt[0].position, before.position.next());
    }

    #[test]
    fn the_head_chain_recomputed_from_stored_events_equals_the_stored_head(
        steps in proptest::collection::vec(
            (0u8..6, any::<u8>(), 0usize..3, 0usize..4, 1u32..1_000_000, any::<bool>()),
            1..40,
        ),
    ) {
        let mut fixture = fixture();
        let mut donors = vec![register_donor(&mut fixture, "donor-a")];
        // (owner index, project id) of registered projects.
        let mut projects: Vec<(usize, String)> = Vec::new();
        let mut sent: Vec<pb::SignedEvent> = Vec::new();
        let mut group: Vec<(Vec<pb::SignedEvent>, bool)> = Vec::new();
        let mut accepted = 0u64;
        let mut repeated = 0u64;

        let flush = |group: &mut Vec<(Vec<pb::SignedEvent>, bool)>, ledger: &Ledger| -> (u64, u64) {
            let expected: Vec<bool> = group.iter().map(|(_, valid)| *valid).collect();
            let requests = group.drain(..).map(|(events, _)| events).collect();
            let mut counts = (0, 0);
            for (outcome, valid) in commit(ledger, requests).into_iter().zip(expected) {
                match outcome {
                    Ok(receipts) => {
                        assert!(valid, "an invalid request was accepted: {receipts:?}");
                        for receipt in receipts {
                            if receipt.duplicate { counts.1 += 1 } else { counts.0 += 1 }
                        }
                    }
                    Err(rejection) => assert!(!valid, "a valid request was refused: {rejection:?}"),
                }
            }
            counts
        };

        for (step, choice, municipality, sector, budget, end_group) in steps {
            match step {
                // A new project by some donor.
                0 | 1 => {
                    let owner = usize::from(choice) % donors.len();
                    let project = format!("p-{}", projects.len());
                    let (event, _) = donors[owner].sign(
                        events::project(
                            &project,
                            events::details(
                                MUNICIPALITIES[municipality],
                                SECTORS[sector],
                                "EUR",
                                &budget.to_string(),
                            ),
                        ),
                        CREATED_AT_MS,
                    );
                    projects.push((owner, project));
                    sent.push(event.clone());
                    group.push((vec![event], true));
                }
                // An update, status change or transaction by the owner.
                2 if !projects.is_empty() => {
                    let (owner, project) = &projects[usize::from(choice) % projects.len()];
                    let kind = project_kind(project, choice, municipality, sector, budget);
                    let (event, _) = donors[*owner].sign(kind, CREATED_AT_MS);
                    sent.push(event.clone());
                    group.push((vec![event], true));
                }
                // Another donor writing that project: refused, and the
                // refused event does not advance the writer's chain.
                3 if donors.len() > 1 && !projects.is_empty() => {
                    let (owner, project) = &projects[usize::from(choice) % projects.len()];
                    let intruder = (owner + 1) % donors.len();
                    let donor = &donors[intruder];
                    let kind = project_kind(project, choice, municipality, sector, budget);
                    // Signed at the intruder's true chain position, but
                    // `donors[intruder]` is not advanced.
                    let body = donor.next_body(kind, CREATED_AT_MS).encode_to_vec();
                    let (signature, _) = donor.key.sign(&donor.chain, &body);
                    let event = pb::SignedEvent { body, signature: signature.to_vec() };
                    group.push((vec![event], false));
                }
                // A retry of something already sent: its first receipt, nothing written.
                4 if !sent.is_empty() => {
                    let event = sent[usize::from(choice) % sent.len()].clone();
                    // Only events from earlier groups are known duplicates; a
                    // retry inside the same group is still a valid request.
                    group.push((vec![event], true));
                }
                // A new donor, registered by the ministry.
                _ => {
                    // Donor registration goes through `fixture.ministry`, in its own group.
                    let (a, r) = flush(&mut group, &fixture.ledger);
                    accepted += a;
                    repeated += r;
                    let name = format!("donor-{}", donors.len());
                    donors.push(register_donor(&mut fixture, &name));
                    accepted += 1;
                }
            }
            if end_group {
                let (a, r) = flush(&mut group, &fixture.ledger);
                accepted += a;
                repeated += r;
            }
        }
        let (a, r) = flush(&mut group, &fixture.ledger);
        accepted += a;
        repeated += r;

        // Setup: 4 municipalities + the first donor.
        let events = assert_head_chain_recomputes(&fixture.ledger);
        prop_assert_eq!(events, 5 + accepted, "{} retries answered as duplicates", repeated);

        let tip = fixture.ledger.tip().unwrap();
        let path = fixture._dir.path().join("ledger");
        drop(fixture.ledger);
        let reopened = open(&path, None);
        prop_assert_eq!(reopened.tip().unwrap(), tip);
        prop_assert_eq!(assert_head_chain_recomputes(&reopened), events);
    }
}

#[test]
fn a_signed_event_has_no_bit_that_can_be_flipped_silently() {
    // One fixed event, every bit: also the flips that break the encoding are
    // counted, so a change of the envelope's layout shows up here.
    let mut fixture = fixture();
    let (event, id): (pb::SignedEvent, EventId) = fixture
        .ministry
        .sign(events::municipality("LY0109", "LY01", 2), CREATED_AT_MS);
    let (variants, undecodable) = single_bit_variants(&event);
    let total = event.encoded_len() * 8;
    assert_eq!(variants.len() + undecodable, total);
    let outcomes = commit(
        &fixture.ledger,
        variants.into_iter().map(|variant| vec![variant]).collect(),
    );
    assert!(outcomes.iter().all(Result::is_err));
    let receipt = commit(&fixture.ledger, vec![vec![event]])
        .remove(0)
        .unwrap();
    assert_eq!(receipt[0].event_id, id);
}

#[test]
fn a_rebuild_is_on_disk_when_it_returns_and_never_writes_over_a_ledger() {
    // A rebuild writes without RocksDB's write-ahead log and flushes every
    // memtable before it returns: the target, closed and opened again,
    // holds the same log and answers. A target that already holds events
    // (one an interrupted rebuild left, or any ledger) is refused.
    let mut fixture = fixture();
    let mut donor = register_donor(&mut fixture, "donor-a");
    for (index, pcode) in MUNICIPALITIES.iter().enumerate() {
        let mut details = events::details(pcode, SECTORS[index], "EUR", "1000");
        details.iati_identifier = format!("XM-TEST-p{index}");
        let (event, _) = donor.sign(
            events::project(&format!("p{index}"), details),
            CREATED_AT_MS,
        );
        commit(&fixture.ledger, vec![vec![event]])
            .remove(0)
            .unwrap();
    }
    let scratch = tempfile::tempdir().unwrap();
    let target = scratch.path().join("rebuilt");
    let rebuilt = tansiq_ledger::append::rebuild(
        &fixture.ledger,
        &target,
        i64::MAX,
        tansiq_ledger::event::Signatures::Verify,
    )
    .unwrap();
    assert_eq!(
        tansiq_ledger::testing::unflushed_entries(&rebuilt),
        0,
        "every memtable is flushed when rebuild returns"
    );
    drop(rebuilt);
    let reopened = open(&target, Some(fixture.ledger.genesis()));
    assert_eq!(reopened.tip().unwrap(), fixture.ledger.tip().unwrap());
    assert_eq!(assert_head_chain_recomputes(&reopened), 8);
    for index in 0..MUNICIPALITIES.len() {
        let id = format!("p{index}");
        assert_eq!(
            reopened.store().project(&id).unwrap(),
            fixture.ledger.store().project(&id).unwrap(),
            "project {id}"
        );
    }
    drop(reopened);
    let refused = tansiq_ledger::append::rebuild(
        &fixture.ledger,
        &target,
        i64::MAX,
        tansiq_ledger::event::Signatures::Unchecked,
    );
    assert!(
        matches!(
            refused,
            Err(tansiq_ledger::append::RebuildError::TargetNotEmpty(ref path)) if path == &target
        ),
        "a rebuild into a ledger with events is refused, got {:?}",
        refused.map(|_| ())
    );
}
