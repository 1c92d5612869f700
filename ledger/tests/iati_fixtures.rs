//! The IATI reader on public files as publishers wrote them
//! (`../shared/fixtures/iati/`, see its SOURCES.md). A clone without
//! `shared/` skips these (and says so); the reader's own fixtures are tested
//! in `ledger/src/iati/read.rs` and end to end in `tests/tests/iati.rs`.

// Test code: a panic with its location is the failure report.
#![allow(clippy::unwrap_used)]

use std::path::PathBuf;

use tansiq_ledger::iati::{Activity, Reader};

fn fixture(name: &str) -> Option<Vec<Activity>> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/fixtures/iati")
        .join(name);
    if !path.exists() {
        eprintln!(
            "SKIPPED: {} is not there (no shared/ beside the clone)",
            path.display()
        );
        return None;
    }
    let file = std::io::BufReader::new(std::fs::File::open(&path).unwrap());
    Some(Reader::new(file).collect::<Result<_, _>>().unwrap())
}

#[test]
fn dfid_albania_2_01_reads_with_hierarchy_and_negative_revisions() {
    let Some(activities) = fixture("dfid-albania-v2.01.xml") else {
        return;
    };
    assert_eq!(activities.len(), 8);
    let first = &activities[0];
    assert_eq!(first.identifier, "GB-1-109616");
    assert_eq!(first.reporting_org.reference, "GB-GOV-1");
    assert_eq!(
        first.title.latin,
        "Support to the Intergrated Planning System"
    );
    assert_eq!(first.status, Some(4));
    assert_eq!(first.actual_start, "2007-03-15");
    assert_eq!(first.countries[0].0, "AL");
    assert!(activities
        .iter()
        .flat_map(|a| &a.budgets)
        .any(|b| b.budget_type == 2 && b.value.value.starts_with('-')));
    assert!(activities.iter().all(|a| !a.identifier.is_empty()));
}

#[test]
fn the_2_03_locations_file_reads_its_administrative_codes() {
    let Some(activities) = fixture("example-v2.03-locations.xml") else {
        return;
    };
    assert_eq!(activities.len(), 13);
    let codes: usize = activities
        .iter()
        .flat_map(|a| &a.locations)
        .map(|l| l.administrative.len())
        .sum();
    assert!(codes > 0, "administrative codes were read");
}

#[test]
fn the_standard_annotated_example_reads_every_part() {
    let Some(activities) = fixture("standard-example-annotated-v2.03.xml") else {
        return;
    };
    assert_eq!(activities.len(), 1);
    let a = &activities[0];
    assert!(!a.identifier.is_empty());
    assert!(!a.title.is_empty());
    assert!(!a.sectors.is_empty());
    assert!(!a.transactions.is_empty());
    assert!(!a.budgets.is_empty());
    assert!(!a.locations.is_empty());
    eprintln!("{a:#?}");
}
