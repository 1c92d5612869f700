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

#[test]
fn a_closed_project_counts_until_its_end_date() {
    let mut p = project("eu", "Water", "2026-01-01", "");
    p.closed = true;
    p.closed_on = "2026-05-31".into();
    assert!(p.counts_on(Date::parse("2026-05-31").expect("date")));
    assert!(!p.counts_on(Date::parse("2026-06-01").expect("date")));
}
