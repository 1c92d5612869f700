//! The tree against an independent implementation (`vectors.py`, RFC 6962
//! from the RFC with Python's hashlib, its output committed as
//! `vectors.json`), and properties over random logs: every proof verifies,
//! and any single flipped bit in an entry, a root or a proof fails.

use proptest::prelude::*;
use serde::Deserialize;

use super::*;

#[derive(Deserialize)]
struct Vectors {
    entries_utf8: Vec<String>,
    roots: BTreeMap<String, String>,
    inclusion: Vec<Inclusion>,
    consistency: Vec<Consistency>,
}

#[derive(Deserialize)]
struct Inclusion {
    index: u64,
    size: u64,
    proof: Vec<String>,
}

#[derive(Deserialize)]
struct Consistency {
    old: u64,
    new: u64,
    proof: Vec<String>,
}

fn hash(hex_text: &str) -> Hash {
    let mut bytes = [0_u8; 32];
    hex::decode_to_slice(hex_text, &mut bytes).expect("a hash in hex");
    Hash(bytes)
}

/// A store holding a tree of `entries`, appended in batches of the sizes
/// `splits` gives in turn (so that hashes cross batch boundaries).
fn tree_of(entries: &[Vec<u8>], splits: &[usize]) -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let store = Store::open(dir.path()).expect("a store");
    let mut size = 0;
    let mut split = splits.iter().copied().cycle();
    while (size as usize) < entries.len() {
        let take = split.next().unwrap_or(1).max(1);
        let chunk = &entries[size as usize..entries.len().min(size as usize + take)];
        let hashes =
            hashes_to_store(&store, size, chunk.iter().map(Vec::as_slice)).expect("hashes");
        let mut batch = store.batch();
        for (index, hash) in &hashes {
            batch.put_tree_hash(*index, &hash.0);
        }
        size += chunk.len() as u64;
        batch.put_tree_size(size);
        store.write_synced(batch.batch).expect("write");
    }
    (dir, store)
}

#[test]
fn roots_and_proofs_equal_an_independent_implementation() {
    let vectors: Vectors =
        serde_json::from_str(include_str!("vectors.json")).expect("the vectors read");
    let entries: Vec<Vec<u8>> = vectors
        .entries_utf8
        .iter()
        .map(|e| e.as_bytes().to_vec())
        .collect();
    let (_dir, store) = tree_of(&entries, &[3, 1, 5]);
    assert_eq!(store.tree_size().unwrap(), entries.len() as u64);
    for (size, root) in &vectors.roots {
        let size: u64 = size.parse().unwrap();
        assert_eq!(store.tree_root(size).unwrap(), hash(root), "root of {size}");
    }
    for case in &vectors.inclusion {
        let proof = store.inclusion_proof(case.index, case.size).unwrap();
        let expected: Vec<Hash> = case.proof.iter().map(|h| hash(h)).collect();
        assert_eq!(proof, expected, "inclusion {} in {}", case.index, case.size);
        let root = hash(&vectors.roots[&case.size.to_string()]);
        check_inclusion(
            &proof,
            case.size,
            root,
            case.index,
            &entries[case.index as usize],
        )
        .unwrap();
    }
    for case in &vectors.consistency {
        let proof = store.consistency_proof(case.old, case.new).unwrap();
        let expected: Vec<Hash> = case.proof.iter().map(|h| hash(h)).collect();
        assert_eq!(proof, expected, "consistency {} to {}", case.old, case.new);
        let (old_root, new_root) = (
            hash(&vectors.roots[&case.old.to_string()]),
            hash(&vectors.roots[&case.new.to_string()]),
        );
        check_consistency(&proof, case.new, new_root, case.old, old_root).unwrap();
    }
}

#[test]
fn questions_beyond_the_tree_are_out_of_range() {
    let entries: Vec<Vec<u8>> = (0..5_u8).map(|i| vec![i]).collect();
    let (_dir, store) = tree_of(&entries, &[5]);
    assert!(matches!(store.tree_root(6), Err(TreeError::OutOfRange(_))));
    assert!(matches!(
        store.inclusion_proof(5, 5),
        Err(TreeError::OutOfRange(_))
    ));
    assert!(matches!(
        store.inclusion_proof(0, 9),
        Err(TreeError::OutOfRange(_))
    ));
    assert!(matches!(
        store.consistency_proof(4, 3),
        Err(TreeError::OutOfRange(_))
    ));
    assert!(matches!(
        store.consistency_proof(1, 6),
        Err(TreeError::OutOfRange(_))
    ));
}

#[test]
fn proof_hashes_are_32_bytes_each() {
    assert_eq!(proof_hashes(&[vec![7; 32]]).unwrap(), vec![Hash([7; 32])]);
    assert!(matches!(
        proof_hashes(&[vec![7; 32], vec![1; 31]]),
        Err(TreeError::Invalid(_))
    ));
}

#[test]
fn every_tree_extends_the_empty_one() {
    let entries: Vec<Vec<u8>> = (0..3_u8).map(|i| vec![i]).collect();
    let (_dir, store) = tree_of(&entries, &[3]);
    let proof = store.consistency_proof(0, 3).unwrap();
    assert!(proof.is_empty());
    let root = store.tree_root(3).unwrap();
    check_consistency(&proof, 3, root, 0, empty_root()).unwrap();
    assert!(check_consistency(&proof, 3, root, 0, root).is_err());
}

fn flipped(hash: Hash, bit: usize) -> Hash {
    let mut bytes = hash.0;
    bytes[(bit / 8) % 32] ^= 1 << (bit % 8);
    Hash(bytes)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn every_proof_verifies_and_any_flipped_bit_fails(
        entries in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..40), 1..90),
        splits in proptest::collection::vec(1_usize..17, 1..5),
        picks in proptest::collection::vec(any::<(u64, u64)>(), 4),
        bit in 0_usize..256,
    ) {
        let (_dir, store) = tree_of(&entries, &splits);
        let total = entries.len() as u64;
        for (a, b) in picks {
            let size = 1 + a % total;
            let index = b % size;
            let root = store.tree_root(size).unwrap();
            let proof = store.inclusion_proof(index, size).unwrap();
            let entry = &entries[index as usize];
            prop_assert!(check_inclusion(&proof, size, root, index, entry).is_ok());
            // A changed entry, root or proof hash is refused.
            let mut changed = entry.clone();
            if changed.is_empty() {
                changed.push(0);
            } else {
                let at = bit % changed.len();
                changed[at] ^= 1 << (bit % 8);
            }
            prop_assert!(check_inclusion(&proof, size, root, index, &changed).is_err());
            prop_assert!(check_inclusion(&proof, size, flipped(root, bit), index, entry).is_err());
            if !proof.is_empty() {
                let mut bad = proof.clone();
                let which = bit % bad.len();
                bad[which] = flipped(bad[which], bit);
                prop_assert!(check_inclusion(&bad, size, root, index, entry).is_err());
            }

            let old = 1 + b % size;
            let old_root = store.tree_root(old).unwrap();
            let consistency = store.consistency_proof(old, size).unwrap();
            prop_assert!(check_consistency(&consistency, size, root, old, old_root).is_ok());
            if old < size {
                prop_assert!(
                    check_consistency(&consistency, size, root, old, flipped(old_root, bit)).is_err()
                );
                prop_assert!(
                    check_consistency(&consistency, size, flipped(root, bit), old, old_root).is_err()
                );
                if !consistency.is_empty() {
                    let mut bad = consistency.clone();
                    let which = bit % bad.len();
                    bad[which] = flipped(bad[which], bit);
                    prop_assert!(check_consistency(&bad, size, root, old, old_root).is_err());
                }
            }
        }
    }
}

/// A ledger written before the tree existed (no tree hashes, no tree
/// size) gets the same tree at open as one that grew with it.
#[cfg(feature = "test-support")]
#[test]
fn a_ledger_from_before_the_tree_gets_it_when_opened() {
    use crate::store::cf;
    use crate::testing::{commit_group, events, open_test_ledger};

    let dir = tempfile::tempdir().unwrap();
    let (root, size) = {
        let (ledger, mut ministry) = open_test_ledger(dir.path(), "tree-test", 7, 1_000);
        for i in 0..30_u32 {
            let (event, _) = ministry.sign(
                events::municipality(&format!("LY{:02}", i + 10), "", 1),
                2_000 + i64::from(i),
            );
            commit_group(&ledger, vec![vec![event]], 2_000 + i64::from(i));
        }
        let size = ledger.store().tree_size().unwrap();
        assert_eq!(size, 30);
        let root = ledger.store().tree_root(size).unwrap();
        // Forget the tree, as a ledger from before it.
        let store = ledger.store();
        let mut batch = rocksdb::WriteBatch::default();
        for item in store
            .db()
            .iterator_cf(store.cf(cf::TREE), rocksdb::IteratorMode::Start)
        {
            let (key, _) = item.unwrap();
            batch.delete_cf(store.cf(cf::TREE), key);
        }
        batch.delete_cf(store.cf(cf::META), b"tree_size");
        store.write_synced(batch).unwrap();
        assert_eq!(store.tree_size().unwrap(), 0);
        (root, size)
    };
    let ledger = crate::Ledger::open(dir.path(), None).unwrap();
    assert_eq!(ledger.store().tree_size().unwrap(), size);
    assert_eq!(ledger.store().tree_root(size).unwrap(), root);
}
