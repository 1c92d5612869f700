//! For random sequences of events (registrations, updates, status changes,
//! closures, needs, policies, reviews; several donors; over several days):
//!
//! - the projections maintained incrementally equal, byte for byte, the
//!   projections rebuilt from the log;
//! - every as-of answer (who supports, overlaps, gaps, matrix) equals the
//!   answer of a ledger rebuilt from the log cut at that date.

// Test code: a panic with its location is the failure report.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;

use proptest::prelude::*;
use tansiq_ledger::append::rebuild;
use tansiq_ledger::author::Author;
use tansiq_ledger::coverage::{AsOf, Count, Coverage, ProjectFilter};
use tansiq_ledger::date::Date;
use tansiq_ledger::event::Signatures;
use tansiq_ledger::ids::OrgId;
use tansiq_ledger::signing::KeyPair;
use tansiq_ledger::store::cf;
use tansiq_ledger::testing::{
    commit_group, events, past_days_counted, place_index_differences, place_remembered_through,
    projects_one_by_one,
};
use tansiq_ledger::Ledger;
use tansiq_proto::v1 as pb;
use tansiq_proto::v1::event_body::Kind;

const PCODES: [&str; 3] = ["LY0101", "LY0102", "LY0201"];
const SECTORS: [&str; 3] = ["14030", "14020", "12220"];
const TITLES: [&str; 4] = [
    "Water network rehabilitation",
    "Rehabilitation of the water network",
    "Primary health clinic",
    "إعادة تأهيل شبكة المياه",
];
const DAY_MS: i64 = 86_400_000;
/// 2026-01-01, the first day of every generated history.
const FIRST_DAY_MS: i64 = 1_767_225_600_000;

#[derive(Clone, Debug)]
enum Step {
    Register {
        donor: usize,
        pcode: usize,
        sector: usize,
        title: usize,
        start: u8,
        length: u8,
    },
    Update {
        project: usize,
        pcode: usize,
        sector: usize,
    },
    Status {
        project: usize,
        status: u32,
    },
    Close {
        project: usize,
        end: u8,
        cancelled: bool,
    },
    Review {
        a: usize,
        b: usize,
        verdict: i32,
    },
    Need {
        pcode: usize,
        sector: usize,
        people: u64,
    },
    Policy {
        sector: usize,
        hold: bool,
    },
    /// The project's owner reports a result with one period.
    Result {
        project: usize,
        actual: u8,
    },
    /// A municipality's organisation attests a project's activity (`what`
    /// 0) or the delivery of its last result (1); refused when the project
    /// is not in its place.
    Attest {
        project: usize,
        council: usize,
        verdict: i32,
        what: u8,
    },
    /// The next steps are committed on a later day.
    NextDay,
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        4 => (0usize..3, 0usize..3, 0usize..3, 0usize..4, 0u8..60, 1u8..90).prop_map(
            |(donor, pcode, sector, title, start, length)| Step::Register {
                donor, pcode, sector, title, start, length
            }
        ),
        1 => (any::<usize>(), 0usize..3, 0usize..3)
            .prop_map(|(project, pcode, sector)| Step::Update { project, pcode, sector }),
        1 => (any::<usize>(), 1u32..4).prop_map(|(project, status)| Step::Status { project, status }),
        1 => (any::<usize>(), 0u8..60, any::<bool>())
            .prop_map(|(project, end, cancelled)| Step::Close { project, end, cancelled }),
        1 => (any::<usize>(), any::<usize>(), 1i32..4).prop_map(|(a, b, verdict)| Step::Review { a, b, verdict }),
        1 => (0usize..3, 0usize..3, 1u64..100_000).prop_map(|(pcode, sector, people)| Step::Need { pcode, sector, people }),
        1 => (0usize..3, any::<bool>()).prop_map(|(sector, hold)| Step::Policy { sector, hold }),
        1 => (any::<usize>(), 0u8..200).prop_map(|(project, actual)| Step::Result { project, actual }),
        2 => (any::<usize>(), 0usize..2, 1i32..4, 0u8..2)
            .prop_map(|(project, council, verdict, what)| Step::Attest { project, council, verdict, what }),
        2 => Just(Step::NextDay),
    ]
}

fn day(offset: u8) -> String {
    Date::from_unix_ms(FIRST_DAY_MS + i64::from(offset) * DAY_MS).to_string()
}

struct History {
    _dir: tempfile::TempDir,
    ledger: Ledger,
    last_day: i64,
}

/// Commits `steps` into a new ledger, one commit group per step, the day
/// advancing at each `NextDay`. Refused steps (e.g. updating a closed
/// project) leave nothing, as on a node. After each step, the writer's
/// in-memory lists of projects by place (what the overlap check reads)
/// equal what the store says is in each place.
fn play(steps: &[Step]) -> History {
    play_checking(steps, |ledger| {
        let (_, differences) = place_index_differences(ledger);
        assert_eq!(differences, Vec::<String>::new());
    })
}

/// [`play`], calling `check` after each step.
fn play_checking(steps: &[Step], mut check: impl FnMut(&Ledger)) -> History {
    let dir = tempfile::tempdir().unwrap();
    let (ledger, mut ministry) = tansiq_ledger::testing::open_test_ledger(
        &dir.path().join("ledger"),
        "tansiq-coverage-props",
        9,
        FIRST_DAY_MS,
    );
    let chain = ministry.chain.clone();
    let mut day_index = 0i64;
    let mut tick = 0i64;
    let mut at = |day_index: i64| {
        tick += 1;
        FIRST_DAY_MS + day_index * DAY_MS + tick
    };
    let mut setup = vec![
        events::municipality("LY01", "", 1),
        events::municipality("LY02", "", 1),
    ];
    setup.extend(PCODES.iter().map(|p| events::municipality(p, &p[..4], 2)));
    let mut donors = Vec::new();
    for index in 0..3 {
        let key = KeyPair::generate();
        let name = format!("donor-{index}");
        setup.push(events::register_donor(&name, &key));
        donors.push(Author::new(
            chain.clone(),
            OrgId::parse(&name).unwrap(),
            key,
            0,
            None,
        ));
    }
    // Municipalities' organisations: one for region LY01 (and the places
    // under it), one for LY0201.
    let mut councils = Vec::new();
    for (name, pcode) in [("council-ly01", "LY01"), ("council-ly0201", "LY0201")] {
        let key = KeyPair::generate();
        setup.push(Kind::OrganisationRegistered(pb::OrganisationRegistered {
            org_id: name.into(),
            role: pb::OrgRole::LocalGovernment as i32,
            name: events::names(name, ""),
            keys: vec![key.public().0.to_vec()],
            pcode: pcode.into(),
            ..Default::default()
        }));
        councils.push(Author::new(
            chain.clone(),
            OrgId::parse(name).unwrap(),
            key,
            0,
            None,
        ));
    }
    for kind in setup {
        let event = ministry.sign(kind, FIRST_DAY_MS).0;
        commit_group(&ledger, vec![vec![event]], at(0))
            .remove(0)
            .unwrap();
    }
    // (project id, result id) of the results reported.
    let mut results: Vec<(String, String)> = Vec::new();

    // (owner, project id)
    let mut projects: Vec<(usize, String)> = Vec::new();
    for step in steps {
        // Signs with a copy of the author, kept only if the event is accepted.
        let mut submit = |author: &mut Author, kind: Kind, day_index: i64| {
            let mut attempt = Author::new(
                author.chain.clone(),
                author.org.clone(),
                KeyPair::from_seed(author.key.seed()),
                0,
                None,
            );
            let body = author.next_body(kind, FIRST_DAY_MS);
            let (event, id) = attempt.sign_body(prost::Message::encode_to_vec(&body));
            let accepted = commit_group(&ledger, vec![vec![event]], at(day_index))
                .remove(0)
                .is_ok();
            if accepted {
                *author = Author::new(
                    author.chain.clone(),
                    author.org.clone(),
                    KeyPair::from_seed(author.key.seed()),
                    body.sequence,
                    Some(id),
                );
            }
            accepted
        };
        match step.clone() {
            Step::Register {
                donor,
                pcode,
                sector,
                title,
                start,
                length,
            } => {
                let id = format!("p-{}", projects.len());
                let mut details = events::details(PCODES[pcode], SECTORS[sector], "USD", "250000");
                details.iati_identifier = format!("XM-TEST-{id}");
                details.title = if TITLES[title].is_ascii() {
                    events::names(TITLES[title], "")
                } else {
                    events::names("", TITLES[title])
                };
                details.planned_start = day(start);
                details.planned_end = day(start.saturating_add(length));
                if submit(&mut donors[donor], events::project(&id, details), day_index) {
                    projects.push((donor, id));
                }
            }
            Step::Update {
                project,
                pcode,
                sector,
            } if !projects.is_empty() => {
                let (owner, id) = projects[project % projects.len()].clone();
                let mut details = events::details(PCODES[pcode], SECTORS[sector], "EUR", "9000");
                details.iati_identifier = format!("XM-TEST-{id}");
                submit(
                    &mut donors[owner],
                    Kind::ProjectUpdated(pb::ProjectUpdated {
                        project_id: id,
                        details: Some(details),
                    }),
                    day_index,
                );
            }
            Step::Status { project, status } if !projects.is_empty() => {
                let (owner, id) = projects[project % projects.len()].clone();
                submit(
                    &mut donors[owner],
                    Kind::ProjectStatusChanged(pb::ProjectStatusChanged {
                        project_id: id,
                        status,
                        effective_date: day(0),
                    }),
                    day_index,
                );
            }
            Step::Close {
                project,
                end,
                cancelled,
            } if !projects.is_empty() => {
                let (owner, id) = projects[project % projects.len()].clone();
                submit(
                    &mut donors[owner],
                    Kind::ProjectClosed(pb::ProjectClosed {
                        project_id: id,
                        end_date: day(end),
                        cancelled,
                    }),
                    day_index,
                );
            }
            Step::Review { a, b, verdict } if projects.len() > 1 => {
                let a = projects[a % projects.len()].1.clone();
                let b = projects[b % projects.len()].1.clone();
                submit(
                    &mut ministry,
                    Kind::OverlapReviewed(pb::OverlapReviewed {
                        project_a: a,
                        project_b: b,
                        verdict,
                        note: "reviewed".into(),
                    }),
                    day_index,
                );
            }
            Step::Need {
                pcode,
                sector,
                people,
            } => {
                submit(
                    &mut ministry,
                    Kind::NeedAssessed(pb::NeedAssessed {
                        pcode: PCODES[pcode].into(),
                        sector: SECTORS[sector].into(),
                        people_in_need: people,
                        severity: 3,
                        period_start: day(0),
                        period_end: day(200),
                        source: "survey".into(),
                    }),
                    day_index,
                );
            }
            Step::Result { project, actual } if !projects.is_empty() => {
                let (owner, id) = projects[project % projects.len()].clone();
                let result_id = format!("r-{}", results.len());
                let value = |value: String| pb::IndicatorValue {
                    value,
                    ..Default::default()
                };
                let reported = submit(
                    &mut donors[owner],
                    Kind::ResultReported(pb::ResultReported {
                        project_id: id.clone(),
                        result_id: result_id.clone(),
                        result_type: pb::ResultType::Output as i32,
                        title: events::names("Wells", ""),
                        indicator: Some(pb::Indicator {
                            title: events::names("Wells", ""),
                            measure: pb::IndicatorMeasure::Unit as i32,
                            periods: vec![pb::IndicatorPeriod {
                                start: day(0),
                                end: day(30),
                                target: Some(value("100".into())),
                                actual: Some(value(actual.to_string())),
                            }],
                            ..Default::default()
                        }),
                    }),
                    day_index,
                );
                if reported {
                    results.push((id, result_id));
                }
            }
            Step::Attest {
                project,
                council,
                verdict,
                what,
            } if !projects.is_empty() => {
                use pb::attestation_made::Subject;
                let subject = match (what, results.last()) {
                    (1, Some((id, result_id))) => Subject::ResultDelivered(pb::ResultPeriodRef {
                        project_id: id.clone(),
                        result_id: result_id.clone(),
                        period_start: day(0),
                    }),
                    _ => Subject::ProjectActive(projects[project % projects.len()].1.clone()),
                };
                submit(
                    &mut councils[council],
                    Kind::AttestationMade(pb::AttestationMade {
                        subject: Some(subject),
                        verdict,
                        note: "seen".into(),
                        value: if verdict == 3 {
                            "7".into()
                        } else {
                            String::new()
                        },
                    }),
                    day_index,
                );
            }
            Step::Policy { sector, hold } => {
                let policy = if hold {
                    pb::CoordinationPolicy::Hold
                } else {
                    pb::CoordinationPolicy::Warn
                };
                submit(
                    &mut ministry,
                    Kind::SectorPolicySet(pb::SectorPolicySet {
                        sector: SECTORS[sector].into(),
                        policy: policy as i32,
                    }),
                    day_index,
                );
            }
            Step::NextDay => day_index += 1,
            _ => {}
        }
        check(&ledger);
    }
    History {
        _dir: dir,
        ledger,
        last_day: day_index,
    }
}

fn projections(ledger: &Ledger) -> Vec<(&'static str, usize, Vec<u8>)> {
    cf::PROJECTIONS
        .iter()
        .flat_map(|family| {
            ledger
                .store()
                .dump(family)
                .unwrap()
                .into_iter()
                .enumerate()
                .map(move |(index, (key, value))| {
                    let mut bytes = key.to_vec();
                    bytes.extend_from_slice(&value);
                    (*family, index, bytes)
                })
        })
        .collect()
}

/// The coverage matrix under "LY" from its every support at once: a
/// project counted once per municipality and category.
fn matrix_of_every_support(
    coverage: &Coverage<'_>,
) -> BTreeMap<(String, String), tansiq_ledger::coverage::Cell> {
    let mut cells: BTreeMap<(String, String), tansiq_ledger::coverage::Cell> = BTreeMap::new();
    let mut counted = std::collections::BTreeSet::new();
    for support in coverage.who_supports("LY", None, true).unwrap() {
        let key = (support.pcode.clone(), support.sector[..3].to_owned());
        if !counted.insert((key.clone(), support.project_id.clone())) {
            continue;
        }
        let cell = cells.entry(key).or_default();
        cell.projects += 1;
        cell.donors.insert(support.project.donor().to_owned());
        let summary = &support.project.summary;
        if tansiq_ledger::coverage::DecimalSum::default().add(&summary.budget_value) {
            cell.budget
                .entry(summary.budget_currency.clone())
                .or_default()
                .add(&summary.budget_value);
        }
    }
    cells
}

/// Every answer a query can give under "LY", as comparable text: as
/// reported, as confirmed, the disputes and every result's periods.
fn answers(ledger: &Ledger, as_of: AsOf) -> String {
    let coverage = Coverage::new(ledger.store(), as_of);
    let confirmed = Coverage::new(ledger.store(), as_of).counting(Count::Confirmed);
    assert_eq!(
        coverage.matrix("LY").unwrap(),
        matrix_of_every_support(&coverage),
        "the matrix read cell by cell, and from every support at once"
    );
    let supports = coverage.who_supports("LY", None, true).unwrap();
    let mut donors: BTreeMap<String, std::collections::BTreeSet<String>> = BTreeMap::new();
    for support in &supports {
        donors
            .entry(support.pcode.clone())
            .or_default()
            .insert(support.project.donor().to_owned());
    }
    assert_eq!(
        coverage.donors_by_place("LY").unwrap(),
        donors,
        "the donors of each place read cell by cell, and from every support at once"
    );
    // Every project as of the point, listed a page at a time (pages of
    // three, so that listings go on after a project; and one page), as
    // one project at a time reads it.
    let listed = |page_size: usize| {
        let (mut all, mut after) = (Vec::new(), String::new());
        loop {
            let page = coverage
                .projects(ProjectFilter::default(), &after, page_size)
                .unwrap();
            all.extend(page.items);
            match page.next {
                Some(next) => after = next,
                None => return all,
            }
        }
    };
    let projects = projects_one_by_one(ledger, as_of);
    assert_eq!(listed(3), projects, "every project, in pages of three");
    assert_eq!(listed(10_000), projects, "every project, in one page");
    let periods: Vec<_> = supports
        .iter()
        .map(|support| {
            (
                support.pcode.clone(),
                support.project.activity_attested(&support.pcode),
                support.project.result_periods(),
            )
        })
        .collect();
    format!(
        "{:?}\n{:?}\n{:?}\n{:?}\n{:?}\n{:?}\n{:?}\n{:?}\n{:?}",
        projects,
        supports,
        coverage.overlaps("LY", None, true).unwrap(),
        coverage.gaps("LY").unwrap(),
        coverage.matrix("LY").unwrap(),
        confirmed.who_supports("LY", None, true).unwrap(),
        confirmed.gaps("LY").unwrap(),
        coverage.disputes("LY").unwrap(),
        periods,
    )
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 24,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn incremental_projections_equal_a_rebuild_and_as_of_equals_a_cut_rebuild(
        steps in proptest::collection::vec(step(), 1..60),
    ) {
        let history = play(&steps);
        let scratch = tempfile::tempdir().unwrap();

        let rebuilt = rebuild(&history.ledger, &scratch.path().join("all"), i64::MAX, Signatures::Verify).unwrap();
        prop_assert_eq!(rebuilt.tip().unwrap(), history.ledger.tip().unwrap());
        prop_assert_eq!(projections(&rebuilt), projections(&history.ledger));

        for day_index in 0..=history.last_day {
            let as_of = AsOf::end_of(Date::from_unix_ms(FIRST_DAY_MS + day_index * DAY_MS));
            let cut = rebuild(
                &history.ledger,
                &scratch.path().join(format!("cut-{day_index}")),
                as_of.cut_ms,
                Signatures::Unchecked,
            )
            .unwrap();
            prop_assert_eq!(
                answers(&history.ledger, as_of),
                answers(&cut, as_of),
                "as of day {}", day_index
            );
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 12,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    /// Store format 3 reads the JSON records of format 2 (dual read, no
    /// rewrite), so a store holding both forms, even versions of one
    /// project in different forms, answers every question as of every day
    /// as it did with every record in protobuf.
    #[test]
    fn a_store_holding_records_of_both_encodings_answers_the_same(
        steps in proptest::collection::vec(step(), 1..60),
        every in 1usize..4,
    ) {
        let history = play(&steps);
        let days: Vec<AsOf> = (0..=history.last_day)
            .map(|day_index| AsOf::end_of(Date::from_unix_ms(FIRST_DAY_MS + day_index * DAY_MS)))
            .collect();
        let before: Vec<String> = days.iter().map(|as_of| answers(&history.ledger, *as_of)).collect();
        let (in_json, in_protobuf) =
            tansiq_ledger::testing::rewrite_in_the_previous_encoding(&history.ledger, every);
        prop_assert!(in_json > 0);
        prop_assert!(every == 1 || in_protobuf > 0, "both forms: {} and {}", in_json, in_protobuf);
        for (as_of, expected) in days.iter().zip(&before) {
            prop_assert_eq!(&answers(&history.ledger, *as_of), expected);
        }
    }
}

/// The totals, gaps and overlaps as of `as_of`, as the ledger answers
/// them (from the counts it keeps, if it keeps any for `as_of`) and as a
/// scan of the store does, for every scope; the scan's answer is also
/// checked against every pair listed at once, sorted held first and cut
/// (what the listings that keep only the pairs they show must equal).
fn tallied_and_scanned(ledger: &Ledger, as_of: AsOf) -> (String, String) {
    type Listing = (Vec<tansiq_ledger::coverage::Overlap>, usize);
    type HeldFirst<'a> = &'a dyn Fn(&str, Option<&str>, bool, usize) -> Listing;
    // The open pairs under a P-code: in all, and per municipality and
    // category (what a matrix cell says).
    type OpenPairs<'a> = &'a dyn Fn(&str) -> (u64, BTreeMap<(String, String), u64>);
    let answer =
        |coverage: &Coverage<'_>, open_overlaps: OpenPairs<'_>, held_first: HeldFirst<'_>| {
            ["", "LY", "LY01", "LY0101", "LY0201"]
                .iter()
                .map(|pcode| {
                    let mut totals = coverage.totals(pcode).unwrap();
                    let (open, by_category) = open_overlaps(pcode);
                    totals.open_overlaps = open;
                    format!(
                        "{pcode}: {:?} {:?} {:?}\n{:?}\n{:?}\n{:?}\n",
                        totals,
                        by_category,
                        coverage.gaps(pcode).unwrap(),
                        held_first(pcode, None, false, usize::MAX),
                        held_first(pcode, Some("140"), true, usize::MAX),
                        held_first(pcode, None, true, 2),
                    )
                })
                .collect::<String>()
        };
    let of = |coverage: Coverage<'_>| {
        answer(
            &coverage,
            &|pcode| {
                (
                    coverage.totals(pcode).unwrap().open_overlaps,
                    coverage.open_overlaps_by_category(pcode).unwrap(),
                )
            },
            &|pcode, sector, complementary, limit| {
                coverage
                    .overlaps_held_first(pcode, sector, complementary, limit)
                    .unwrap()
            },
        )
    };
    let scan = Coverage::new(ledger.store(), as_of);
    let all_at_once = answer(
        &scan,
        &|pcode| {
            let open = scan.overlaps(pcode, None, false).unwrap();
            let mut by_category = BTreeMap::new();
            for overlap in &open {
                let category = overlap.sector[..3].to_owned();
                *by_category
                    .entry((overlap.pcode.clone(), category))
                    .or_insert(0) += 1;
            }
            (open.len() as u64, by_category)
        },
        &|pcode, sector, complementary, limit| {
            let mut all = scan.overlaps(pcode, sector, complementary).unwrap();
            all.sort_by_key(|overlap| !overlap.held());
            let total = all.len();
            all.truncate(limit);
            (all, total)
        },
    );
    let scanned = of(scan);
    assert_eq!(scanned, all_at_once, "cell by cell, and all pairs at once");
    (of(ledger.coverage(as_of)), scanned)
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 24,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    /// The counts of now that commits keep up to date, cell by cell, and
    /// those of past days, counted once and kept, equal a count of
    /// everything after every step; a day is kept only once it has ended
    /// on the ledger (its last commit is on a later day).
    #[test]
    fn the_tally_kept_by_commits_equals_a_count_of_everything(
        steps in proptest::collection::vec(step(), 1..60),
    ) {
        let mut checked = 0usize;
        let mut failure = None;
        let history = play_checking(&steps, |ledger| {
            // Mostly one day, so that the tally counts only the cells a
            // step wrote; now and then another (it counts everything).
            let mut days = vec![day(30)];
            if checked % 8 == 7 {
                days.push(day((checked % 90) as u8));
            }
            let mut as_ofs: Vec<AsOf> = days
                .iter()
                .map(|day| AsOf { cut_ms: i64::MAX, day: Date::parse(day).unwrap() })
                .collect();
            // The day of the last commit, which later steps may still
            // commit on, and the day before it, which has ended.
            let last = last_commit_ms(ledger);
            let (today, yesterday) = (
                AsOf::end_of(Date::from_unix_ms(last)),
                AsOf::end_of(Date::from_unix_ms(last - DAY_MS)),
            );
            as_ofs.extend([today, yesterday]);
            for as_of in as_ofs {
                let (tallied, scanned) = tallied_and_scanned(ledger, as_of);
                if tallied != scanned && failure.is_none() {
                    failure = Some(format!("after step {checked}, as of {as_of:?}:\ntally: {tallied}\nscan:  {scanned}"));
                }
            }
            let kept = past_days_counted(ledger);
            if (kept.contains(&today.cut_ms) || !kept.contains(&yesterday.cut_ms)) && failure.is_none() {
                failure = Some(format!(
                    "after step {checked}: kept the days ending {kept:?}, not the one ending {} but the one ending {}",
                    today.cut_ms, yesterday.cut_ms
                ));
            }
            checked += 1;
        });
        prop_assert!(failure.is_none(), "{}", failure.unwrap_or_default());
        prop_assert_eq!(checked, steps.len());
        drop(history);
    }
}

/// The time of the ledger's last commit.
fn last_commit_ms(ledger: &Ledger) -> i64 {
    let tip = ledger.tip().unwrap();
    let record = ledger.store().log_record(tip.position).unwrap();
    record.expect("the tip is logged").committed_at_ms
}

#[test]
fn as_of_sees_a_closed_project_until_its_end_and_not_before_registration() {
    let steps = [
        Step::NextDay,
        Step::Register {
            donor: 0,
            pcode: 0,
            sector: 0,
            title: 0,
            start: 0,
            length: 30,
        },
        Step::NextDay,
        Step::Close {
            project: 0,
            end: 3,
            cancelled: false,
        },
    ];
    let history = play(&steps);
    let supports = |offset: i64| {
        let as_of = AsOf::end_of(Date::from_unix_ms(FIRST_DAY_MS + offset * DAY_MS));
        Coverage::new(history.ledger.store(), as_of)
            .who_supports("LY0101", Some("14030"), false)
            .unwrap()
            .len()
    };
    assert_eq!(supports(0), 0, "not yet registered on day 0");
    assert_eq!(supports(1), 1, "registered on day 1");
    assert_eq!(
        supports(3),
        1,
        "closed with end date day 3: counts through it"
    );
    assert_eq!(supports(4), 0, "after its end date");
}

/// The overlap check skips reviewed-complementary pairs by asking the
/// ledger's in-memory set of reviewed pairs first: a review committed in an
/// earlier group, or before the ledger was reopened, must still be found,
/// and a pair without one must still warn.
#[test]
fn a_review_from_an_earlier_group_or_before_a_restart_silences_its_overlap() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ledger");
    let (ledger, mut ministry) =
        tansiq_ledger::testing::open_test_ledger(&path, "tansiq-review-memory", 7, FIRST_DAY_MS);
    let mut at = FIRST_DAY_MS;
    register_ly0101(&ledger, &mut at, &mut ministry);
    let names = ["donor-a", "donor-b", "donor-c"].map(String::from);
    let mut donors = register_donors(&ledger, &mut at, &mut ministry, names);
    let mut commit =
        |ledger: &Ledger, author: &mut Author, kind: Kind| commit_at(ledger, &mut at, author, kind);
    let details = || events::details("LY0101", "14030", "EUR", "100000");
    let warned_about = |receipts: &[tansiq_ledger::Receipt], project: &str| {
        receipts
            .iter()
            .flat_map(|receipt| &receipt.warnings)
            .any(|warning| warning.to_string().contains(project))
    };
    commit(
        &ledger,
        &mut donors[0],
        events::project("water-a", details()),
    );
    let b = commit(
        &ledger,
        &mut donors[1],
        events::project("water-b", details()),
    );
    assert!(warned_about(&b, "water-a"), "no overlap warning: {b:?}");
    assert_eq!(
        b[0].warnings.iter().map(ToString::to_string).collect::<Vec<_>>(),
        ["overlap in LY0101, sector 14030: project water-a of donor-a (\"Water network rehabilitation\") — another donor, same municipality, sector and period"],
        "the warning names the place, the other project, its donor and title, and why"
    );

    commit(
        &ledger,
        &mut ministry,
        Kind::OverlapReviewed(pb::OverlapReviewed {
            project_a: "water-b".into(),
            project_b: "water-a".into(),
            verdict: pb::OverlapVerdict::Complementary as i32,
            note: "north and south networks".into(),
        }),
    );
    let update = || {
        Kind::ProjectUpdated(pb::ProjectUpdated {
            project_id: "water-b".into(),
            details: Some(details()),
        })
    };
    let b = commit(&ledger, &mut donors[1], update());
    assert!(!warned_about(&b, "water-a"), "reviewed pair warned: {b:?}");
    // Not reviewed with C's project: that pair warns.
    let c = commit(
        &ledger,
        &mut donors[2],
        events::project("water-c", details()),
    );
    assert!(
        warned_about(&c, "water-a") && warned_about(&c, "water-b"),
        "{c:?}"
    );

    drop(ledger);
    let ledger = Ledger::open(&path, None).unwrap();
    let b = commit(&ledger, &mut donors[1], update());
    assert!(
        !warned_about(&b, "water-a"),
        "reviewed pair warned after reopening: {b:?}"
    );
    assert!(warned_about(&b, "water-c"), "{b:?}");
}

/// A receipt names at most ten overlaps and counts the rest, says why a
/// project is held, and reads the same once serialised (a Raft entry's
/// outcome travels as text): the lines a donor's engineer reads, pinned.
#[test]
fn a_receipt_names_ten_overlaps_counts_the_rest_and_says_why_it_is_held() {
    let dir = tempfile::tempdir().unwrap();
    let (ledger, mut ministry) = tansiq_ledger::testing::open_test_ledger(
        &dir.path().join("ledger"),
        "tansiq-receipt-lines",
        7,
        FIRST_DAY_MS,
    );
    let mut at = FIRST_DAY_MS;
    register_ly0101(&ledger, &mut at, &mut ministry);
    let names = (0..13).map(|index| format!("donor-{index:02}"));
    let donors = register_donors(&ledger, &mut at, &mut ministry, names);
    let mut commit =
        |author: &mut Author, kind: Kind| commit_at(&ledger, &mut at, author, kind).remove(0);
    let lines = |receipt: &tansiq_ledger::Receipt| -> Vec<String> {
        receipt.warnings.iter().map(ToString::to_string).collect()
    };
    let mut last = None;
    for (index, mut donor) in donors.into_iter().enumerate() {
        if index == 12 {
            commit(
                &mut ministry,
                Kind::SectorPolicySet(pb::SectorPolicySet {
                    sector: "14030".into(),
                    policy: pb::CoordinationPolicy::Hold as i32,
                }),
            );
        }
        let details = events::details("LY0101", "14030", "EUR", "100000");
        let receipt = commit(
            &mut donor,
            events::project(&format!("water-{index:02}"), details),
        );
        if index == 11 {
            let told = lines(&receipt);
            assert_eq!(told.len(), 11, "{told:#?}");
            assert_eq!(
                told[0],
                "overlap in LY0101, sector 14030: project water-00 of donor-00 (\"Water network rehabilitation\") — another donor, same municipality, sector and period"
            );
            assert!(
                told[9].contains("project water-09 of donor-09"),
                "{told:#?}"
            );
            assert_eq!(
                told[10],
                "and at least 1 more overlaps: see `tansiq check` or `tansiq overlaps`"
            );
            assert!(!receipt.pending_review);
        }
        last = Some(receipt);
    }
    let held = last.unwrap();
    assert!(held.pending_review, "{held:?}");
    let told = lines(&held);
    assert_eq!(
        told.last().map(String::as_str),
        Some("held pending the ministry's review: sector 14030 is under the hold policy"),
        "{told:#?}"
    );
    let read_back: tansiq_ledger::Receipt =
        serde_json::from_str(&serde_json::to_string(&held).unwrap()).unwrap();
    assert_eq!(lines(&read_back), told, "the same lines once serialised");
}

/// A crowded place not in the writer's memory (after a restart, a snapshot,
/// or when its lists outgrew their limit) is read from the store only as
/// far as the receipt needs, tells what the remembered list told, and is
/// remembered as far as it was read; a place read whole is remembered
/// whole. (Loading whole crowded places
/// record by record held a million-event writer to about a thousand events
/// a second: bench/README, "the snapshot bench's stall".)
#[test]
fn a_crowded_place_read_from_the_store_tells_what_memory_told() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ledger");
    let (ledger, mut ministry) =
        tansiq_ledger::testing::open_test_ledger(&path, "tansiq-crowded-place", 7, FIRST_DAY_MS);
    let mut at = FIRST_DAY_MS;
    register_ly0101(&ledger, &mut at, &mut ministry);
    let names = (0..14).map(|index| format!("donor-{index:02}"));
    let mut donors = register_donors(&ledger, &mut at, &mut ministry, names);
    let mut commit = |ledger: &Ledger, author: &mut Author, kind: Kind| {
        commit_at(ledger, &mut at, author, kind).remove(0)
    };
    let lines = |receipt: &tansiq_ledger::Receipt| -> Vec<String> {
        receipt.warnings.iter().map(ToString::to_string).collect()
    };
    let water_named = |name: &str| {
        let mut details = events::details("LY0101", "14030", "EUR", "100000");
        details.iati_identifier = format!("XM-TEST-{name}");
        events::project(name, details)
    };
    let water = |index: usize| water_named(&format!("water-{index:02}"));
    let mut told_from_memory = Vec::new();
    for (index, donor) in donors.iter_mut().enumerate().take(13) {
        told_from_memory = lines(&commit(&ledger, donor, water(index)));
    }
    assert_eq!(told_from_memory.len(), 11, "{told_from_memory:#?}");
    assert_eq!(place_index_differences(&ledger), (1, Vec::new()));

    drop(ledger);
    let ledger = Ledger::open(&path, None).unwrap();
    let through = || place_remembered_through(&ledger, "LY0101", "14030");
    assert_eq!(through(), None, "nothing in memory after a restart");
    let told = lines(&commit(&ledger, &mut donors[13], water(13)));
    // The same first ten, in id order, and the count of the rest: what the
    // list in memory told the registration before.
    assert_eq!(told, told_from_memory, "{told:#?}");
    assert!(
        told[9].contains("project water-09 of donor-09"),
        "{told:#?}"
    );
    assert_eq!(
        place_index_differences(&ledger),
        (1, Vec::new()),
        "remembered as far as it was read"
    );
    // Ten shown and one more found: read to the eleventh other project,
    // and no further.
    assert_eq!(through(), Some(Some("water-10".to_owned())));
    // Projects written after it keep what is remembered equal to the store
    // up to where it was read: one within (water-05a, between water-05 and
    // water-06) is in the next receipts, one beyond (water-99) is not in
    // memory.
    commit(&ledger, &mut donors[0], water_named("water-99"));
    commit(&ledger, &mut donors[1], water_named("water-05a"));
    assert_eq!(place_index_differences(&ledger), (1, Vec::new()));
    let told = lines(&commit(&ledger, &mut donors[2], water_named("water-98")));
    assert!(
        told[6].contains("project water-05a of donor-01"),
        "{told:#?}"
    );
    assert!(
        told[9].contains("project water-08 of donor-08"),
        "{told:#?}"
    );
    assert_eq!(place_index_differences(&ledger), (1, Vec::new()));
    // One that overlaps nothing (another period) reads memory, then the
    // store on from where memory ends, to the end: the place is then
    // remembered whole, each project once.
    let mut later = water_named("water-97");
    if let Kind::ProjectRegistered(registered) = &mut later {
        let details = registered.details.as_mut().unwrap();
        details.planned_start = "2030-01-01".into();
        details.planned_end = "2030-12-31".into();
    }
    let told = lines(&commit(&ledger, &mut donors[4], later));
    assert_eq!(told, Vec::<String>::new());
    assert_eq!(through(), Some(None), "read to the end: remembered whole");
    assert_eq!(place_index_differences(&ledger), (1, Vec::new()));

    // A place with one project is read whole, and remembered beside it.
    let clinic = |name: &str| {
        let mut details = events::details("LY0101", "12220", "EUR", "100000");
        details.iati_identifier = format!("XM-TEST-{name}");
        events::project(name, details)
    };
    commit(&ledger, &mut donors[0], clinic("clinic-00"));
    let told = lines(&commit(&ledger, &mut donors[1], clinic("clinic-01")));
    assert_eq!(told.len(), 1, "{told:#?}");
    assert!(
        told[0].contains("project clinic-00 of donor-00"),
        "{told:#?}"
    );
    assert_eq!(place_index_differences(&ledger), (2, Vec::new()));
}

/// A need's cell is counted again when a project comes to cover it, and
/// again when the project moves away.
#[test]
fn the_tally_sees_a_need_covered_and_uncovered() {
    let steps = [
        Step::Need {
            pcode: 0,
            sector: 0,
            people: 500,
        },
        Step::Register {
            donor: 0,
            pcode: 0,
            sector: 0,
            title: 0,
            start: 0,
            length: 30,
        },
        Step::Update {
            project: 0,
            pcode: 1,
            sector: 0,
        },
    ];
    let mut uncovered = Vec::new();
    let mut lists = Vec::new();
    play_checking(&steps, |ledger| {
        let (compared, differences) = place_index_differences(ledger);
        assert_eq!(differences, Vec::<String>::new());
        lists.push(compared);
        let now = AsOf {
            cut_ms: i64::MAX,
            day: Date::parse(&day(30)).unwrap(),
        };
        let (tallied, scanned) = tallied_and_scanned(ledger, now);
        assert_eq!(tallied, scanned);
        uncovered.push(
            ledger
                .coverage(now)
                .totals("LY0101")
                .unwrap()
                .uncovered_needs,
        );
    });
    assert_eq!(
        uncovered,
        [1, 0, 1],
        "the need: uncovered, covered, left again"
    );
    // The registration's place was listed (and its update's), and each
    // list followed the project: the check above compared something.
    assert_eq!(lists, [0, 1, 2], "lists of projects by place in memory");
}

/// A ledger with LY01 and `municipalities` under it, and one registered
/// donor, "donor-a": what the small tests below commit to.
struct OneDonor {
    ledger: Ledger,
    donor: Author,
    at: i64,
    _dir: tempfile::TempDir,
}

impl OneDonor {
    fn new(chain: &str, seed: u8, municipalities: &[&str]) -> OneDonor {
        let dir = tempfile::tempdir().unwrap();
        let (ledger, mut ministry) = tansiq_ledger::testing::open_test_ledger(
            &dir.path().join("ledger"),
            chain,
            seed,
            FIRST_DAY_MS,
        );
        let mut at = FIRST_DAY_MS;
        let root = events::municipality("LY01", "", 1);
        commit_at(&ledger, &mut at, &mut ministry, root);
        for pcode in municipalities {
            let municipality = events::municipality(pcode, "LY01", 2);
            commit_at(&ledger, &mut at, &mut ministry, municipality);
        }
        let names = ["donor-a".to_owned()];
        let donor = register_donors(&ledger, &mut at, &mut ministry, names).remove(0);
        OneDonor {
            donor,
            ledger,
            at,
            _dir: dir,
        }
    }

    /// Registers `project_id` as donor-a.
    fn register(&mut self, project_id: &str, details: pb::ProjectDetails) {
        let kind = events::project(project_id, details);
        commit_at(&self.ledger, &mut self.at, &mut self.donor, kind);
    }

    fn now(&self) -> Coverage<'_> {
        self.ledger.coverage(AsOf::now(self.at))
    }
}

/// Commits `kind` signed by `author`, a moment after `at`, which it moves on.
/// Returns its receipts (one: a group of one event).
fn commit_at(
    ledger: &Ledger,
    at: &mut i64,
    author: &mut Author,
    kind: Kind,
) -> Vec<tansiq_ledger::Receipt> {
    *at += 1;
    let event = author.sign(kind, *at).0;
    let outcome = commit_group(ledger, vec![vec![event]], *at).remove(0);
    outcome.unwrap_or_else(|refused| panic!("refused: {refused:?}"))
}

/// Registers LY01 and, under it, LY0101 (signed by `ministry`).
fn register_ly0101(ledger: &Ledger, at: &mut i64, ministry: &mut Author) {
    commit_at(ledger, at, ministry, events::municipality("LY01", "", 1));
    commit_at(
        ledger,
        at,
        ministry,
        events::municipality("LY0101", "LY01", 2),
    );
}

/// Registers a donor of each name (signed by `ministry`): their authors.
fn register_donors(
    ledger: &Ledger,
    at: &mut i64,
    ministry: &mut Author,
    names: impl IntoIterator<Item = String>,
) -> Vec<Author> {
    names
        .into_iter()
        .map(|name| {
            let key = KeyPair::generate();
            commit_at(ledger, at, ministry, events::register_donor(&name, &key));
            let org = OrgId::parse(&name).unwrap();
            Author::new(ministry.chain.clone(), org, key, 0, None)
        })
        .collect()
}

/// A who-supports answer is bounded before it is read whole: past `max`
/// supports the ledger says so instead of reading on.
#[test]
fn who_supports_stops_past_its_bound() {
    let mut small = OneDonor::new("tansiq-bounded", 9, &["LY0101", "LY0102"]);
    for (project, pcode) in [
        ("pa", "LY0101"),
        ("pb", "LY0101"),
        ("pc", "LY0101"),
        ("pd", "LY0102"),
    ] {
        small.register(project, events::details(pcode, "14030", "EUR", "1000"));
    }
    let coverage = small.now();
    let count = |pcode: &str, children: bool, max: usize| {
        coverage
            .who_supports_at_most(pcode, None, children, max)
            .unwrap()
            .map(|supports| supports.len())
    };
    assert_eq!(count("LY01", true, 4), Some(4), "four under LY01");
    assert_eq!(count("LY01", true, 3), None, "more than three");
    assert_eq!(count("LY0101", false, 3), Some(3), "three in LY0101 alone");
    assert_eq!(count("LY0101", false, 2), None, "more than two");
    assert_eq!(
        coverage.who_supports("LY01", None, true).unwrap().len(),
        4,
        "unbounded"
    );
}

/// A matrix cell is a municipality and a 3-digit category: a project in
/// two sectors of one category counts once there, beside another project.
#[test]
fn a_project_in_two_sectors_of_one_category_counts_once_in_the_matrix() {
    let mut small = OneDonor::new("tansiq-matrix", 10, &["LY0101"]);
    let mut both = events::details("LY0101", "14030", "EUR", "1000");
    both.sectors = vec![
        pb::ProjectSector {
            code: "14030".into(),
            percentage: 50,
        },
        pb::ProjectSector {
            code: "14031".into(),
            percentage: 50,
        },
    ];
    small.register("two-sectors", both);
    small.register(
        "one-sector",
        events::details("LY0101", "14031", "EUR", "500"),
    );
    let matrix = small.now().matrix("LY01").unwrap();
    let cell = &matrix[&("LY0101".to_owned(), "140".to_owned())];
    assert_eq!(cell.projects, 2, "{matrix:?}");
    assert_eq!(cell.budget["EUR"].to_string(), "1500.00");
}
