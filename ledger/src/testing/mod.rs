//! Builders for tests and benchmarks, not for production: event bodies
//! ([`events`]), a fresh in-process ledger ([`open_test_ledger`]) and the
//! node's commit path without a node ([`commit_group`]). Compiled only with
//! the `test-support` feature (the ledger's integration tests and
//! `tansiq-tests` turn it on; `tansiq-node` and `tansiq` do not).

pub mod events;

use std::path::Path;

use tansiq_proto::v1 as pb;

use crate::append::RequestOutcome;
use crate::author::Author;
use crate::event::{admit, Signatures};
use crate::genesis::Genesis;
use crate::ids::OrgId;
use crate::signing::KeyPair;
use crate::Ledger;

/// The node's path for a group of requests, in process: decode, batch-verify,
/// commit with the given commit time.
pub fn commit_group(
    ledger: &Ledger,
    requests: Vec<Vec<pb::SignedEvent>>,
    committed_at_ms: i64,
) -> Vec<RequestOutcome> {
    let decoded = admit(ledger.chain(), requests, Signatures::Verify);
    ledger
        .commit_group(decoded, committed_at_ms)
        .expect("storage works")
}

/// A new in-process ledger at `path` for a chain named `chain`, whose ministry
/// ("ministry") holds the key of `seed`; returns it with the ministry's author.
/// For property tests and benchmarks that need no node.
pub fn open_test_ledger(
    path: &Path,
    chain: &str,
    seed: u8,
    created_at_ms: i64,
) -> (Ledger, Author) {
    let ministry = OrgId::parse("ministry").expect("valid org id");
    let key = KeyPair::from_seed([seed; 32]);
    let genesis = Genesis::new_chain(
        chain,
        &ministry,
        pb::Names {
            latin: "Ministry".into(),
            arabic: "الوزارة".into(),
        },
        &[key.public()],
        created_at_ms,
    )
    .expect("valid genesis");
    let ledger = Ledger::open(path, Some(&genesis)).expect("open the ledger");
    (ledger, Author::new(genesis.chain, ministry, key, 0, None))
}

/// How many lists of projects by place the writer holds in memory, and
/// those that differ from what the store says is in each place now (see
/// `append/places.rs`).
pub fn place_index_differences(ledger: &Ledger) -> (usize, Vec<String>) {
    ledger.place_index_differences().expect("storage works")
}
