//! openraft's own storage test suite run against Tansiq's Raft log and state
//! machine on RocksDB (ledger/src/replication/): vote, log reading, appending,
//! truncating, purging, applied state and membership, snapshots.

use std::sync::Arc;

use openraft::testing::{StoreBuilder, Suite};
use openraft::StorageError;
use tansiq_ledger::genesis::Genesis;
use tansiq_ledger::ids::OrgId;
use tansiq_ledger::replication::{LogStore, NodeId, StateMachine, TypeConfig};
use tansiq_ledger::signing::KeyPair;
use tansiq_ledger::Ledger;
use tansiq_proto::v1 as pb;

struct Builder;

impl StoreBuilder<TypeConfig, LogStore, StateMachine, tempfile::TempDir> for Builder {
    async fn build(
        &self,
    ) -> Result<(tempfile::TempDir, LogStore, StateMachine), StorageError<NodeId>> {
        let dir = tempfile::tempdir().expect("temporary directory");
        let genesis = Genesis::new_chain(
            "tansiq-raft-suite",
            &OrgId::parse("ministry").expect("org id"),
            pb::Names {
                latin: "Ministry".into(),
                arabic: String::new(),
            },
            &[KeyPair::from_seed([3; 32]).public()],
            0,
        )
        .expect("genesis");
        let ledger = Arc::new(Ledger::open(dir.path(), Some(&genesis)).expect("open ledger"));
        Ok((
            dir,
            LogStore::new(Arc::clone(&ledger)),
            StateMachine::new(ledger),
        ))
    }
}

#[test]
fn the_raft_storage_passes_openrafts_suite() {
    Suite::test_all(Builder).expect("openraft storage suite");
}
