//! The ledger's rule for chain ids, on real stores.

use tansiq_proto::v1 as pb;

use super::ledger::{Ledger, OpenError};
use super::rebuild::rebuild;
use crate::event::Signatures;
use crate::genesis::Genesis;
use crate::signing::ChainId;

#[test]
fn a_chain_made_before_derived_ids_still_rebuilds_but_no_new_one_begins() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let legacy = Genesis::create(
        &ChainId::parse("tansiq-legacy").expect("chain id"),
        &crate::ids::OrgId::parse("ministry").expect("org id"),
        pb::Names::default(),
        &[crate::signing::KeyPair::from_seed([5; 32]).public()],
        0,
    )
    .expect("genesis");
    let refused = Ledger::open(&dir.path().join("new"), Some(&legacy));
    assert!(
        matches!(refused, Err(OpenError::UnderivedChainId { .. })),
        "a new chain needs a derived id"
    );
    // A ledger that exists with such an id (made before the rule) is
    // copied by a rebuild and a snapshot check all the same.
    let existing = Ledger::open_copy(&dir.path().join("old"), &legacy).expect("open");
    let rebuilt = rebuild(
        &existing,
        &dir.path().join("rebuilt"),
        i64::MAX,
        Signatures::Verify,
    )
    .expect("a rebuild of an existing chain");
    assert_eq!(rebuilt.tip().expect("tip"), existing.tip().expect("tip"));
    drop(existing);
    let reopened = Ledger::open(&dir.path().join("old"), Some(&legacy));
    assert!(reopened.is_ok(), "an existing ledger keeps its id");
}

#[test]
fn a_store_written_by_a_newer_format_is_refused_and_an_older_one_upgraded() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let genesis = Genesis::new_chain(
        "tansiq-format",
        &crate::ids::OrgId::parse("ministry").expect("org id"),
        pb::Names::default(),
        &[crate::signing::KeyPair::from_seed([6; 32]).public()],
        0,
    )
    .expect("genesis");
    let path = dir.path().join("db");
    let ledger = Ledger::open(&path, Some(&genesis)).expect("a new ledger");
    assert_eq!(
        ledger.store().format_version().expect("read"),
        Some(crate::store::FORMAT_VERSION)
    );
    // Format 1: no version recorded.
    let mut batch = rocksdb::WriteBatch::default();
    batch.delete_cf(
        ledger.store().cf(crate::store::cf::META),
        crate::store::keys::META_FORMAT,
    );
    ledger.store().write_synced(batch).expect("write");
    assert_eq!(ledger.store().format_version().expect("read"), Some(1));
    drop(ledger);
    let upgraded = Ledger::open(&path, Some(&genesis)).expect("an older format opens");
    assert_eq!(
        upgraded.store().format_version().expect("read"),
        Some(crate::store::FORMAT_VERSION)
    );
    let kept: Vec<_> = std::fs::read_dir(dir.path().join("backups"))
        .expect("a copy kept before the upgrade")
        .collect();
    assert_eq!(kept.len(), 1);
    upgraded
        .store()
        .set_format_version(crate::store::FORMAT_VERSION + 1)
        .expect("write");
    drop(upgraded);
    match Ledger::open(&path, Some(&genesis)) {
        Err(error @ OpenError::NewerFormat { .. }) => {
            assert!(
                error.to_string().contains("written by a newer Tansiq"),
                "{error}"
            );
        }
        other => panic!("a newer format must be refused: {:?}", other.err()),
    }
}
