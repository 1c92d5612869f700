//! Exact sums, the overlap rule and closed projects.

use crate::date::Date;
use crate::store::{ProjectRecord, ProjectSummary};

use super::{overlap::*, query::*};

#[test]
fn budgets_sum_exactly() {
    let mut sum = DecimalSum::default();
    for amount in ["0.1", "0.2", "999999999999999.9999", "1"] {
        assert!(sum.add(amount), "{amount}");
    }
    assert_eq!(sum.to_string(), "1000000000000001.2999");
    assert!(!sum.add("1e3"));
    let mut whole = DecimalSum::default();
    whole.add("100000");
    assert_eq!(whole.to_string(), "100000.00");
}

fn project(donor: &str, title: &str, start: &str, end: &str) -> ProjectRecord {
    ProjectRecord {
        owner: donor.into(),
        iati_identifier: String::new(),
        status: crate::event::codes::ActivityStatus(2),
        closed: false,
        closed_on: String::new(),
        registered_on: "2026-01-01".into(),
        pending_review: false,
        summary: ProjectSummary {
            title_latin: title.into(),
            start: start.into(),
            end: end.into(),
            locations: vec!["LY0101".into()],
            sectors: vec!["14030".into()],
            ..ProjectSummary::default()
        },
        funding_attested: Default::default(),
        results: Default::default(),
        attested: Default::default(),
    }
}

#[test]
fn overlap_needs_intersecting_periods_and_different_donors_or_alike_titles() {
    let a = project("eu", "Water network", "2026-01-01", "2026-12-31");
    let b = project("undp", "Desalination plant", "2026-06-01", "2027-06-01");
    assert_eq!(overlap_kind(&a, &b), Some(OverlapKind::DifferentDonors));
    let later = project("undp", "Desalination plant", "2027-01-01", "2027-06-01");
    assert_eq!(overlap_kind(&a, &later), None);
    let twice = project("eu", "water  NETWORK", "2026-03-01", "");
    assert_eq!(
        overlap_kind(&a, &twice),
        Some(OverlapKind::SameDonorSimilarTitle)
    );
    let other = project("eu", "School transport", "2026-03-01", "");
    assert_eq!(overlap_kind(&a, &other), None);
}

/// The comparison loops judge a record through [`Compared`] (its period
/// parsed once): every case of the rule, a closed project's end and a
/// start missing (the registration day instead) included, comes out as
/// the record itself gives it, whichever side it is on.
#[test]
fn a_record_compared_with_its_period_parsed_once_overlaps_as_the_record_does() {
    let mut closed = project("undp", "Desalination plant", "2025-01-01", "2027-06-01");
    closed.closed = true;
    closed.closed_on = "2026-02-01".into();
    let records = [
        project("eu", "Water network", "2026-01-01", "2026-12-31"),
        project("undp", "Desalination plant", "2026-06-01", "2027-06-01"),
        project("undp", "Desalination plant", "2027-01-01", "2027-06-01"),
        project("eu", "water  NETWORK", "2026-03-01", ""),
        project("eu", "School transport", "", "2025-12-31"),
        closed,
    ];
    let mut kinds = Vec::new();
    for a in &records {
        for b in &records {
            let expected = overlap_kind(a, b);
            assert_eq!(overlap_kind(&Compared::of(a), b), expected);
            assert_eq!(overlap_kind(a, &Compared::of(b)), expected);
            assert_eq!(overlap_kind(&Compared::of(a), &Compared::of(b)), expected);
            kinds.push(expected);
        }
    }
    // The cases cover each answer of the rule.
    assert!(kinds.contains(&None));
    assert!(kinds.contains(&Some(OverlapKind::DifferentDonors)));
    assert!(kinds.contains(&Some(OverlapKind::SameDonorSimilarTitle)));
}

#[test]
fn a_closed_project_counts_until_its_end_date() {
    let mut p = project("eu", "Water", "2026-01-01", "");
    p.closed = true;
    p.closed_on = "2026-05-31".into();
    assert!(p.counts_on(Date::parse("2026-05-31").expect("date")));
    assert!(!p.counts_on(Date::parse("2026-06-01").expect("date")));
}
