//! `--dev`: everything a single development node needs, created on first start
//! in its data directory: a ministry key (clearly marked as a dev key) and a
//! genesis naming it.

use std::path::Path;

use anyhow::Context;
use tansiq_ledger::author::{now_ms, KeyFile};
use tansiq_ledger::genesis::{Genesis, GenesisFile};
use tansiq_ledger::ids::OrgId;
use tansiq_ledger::signing::KeyPair;
use tansiq_proto::v1 as pb;

/// Dev chains are named `tansiq-dev`; their ids end with a hash of their
/// genesis, as every new chain's (`Genesis::new_chain`): two dev ledgers
/// never share a chain id, so neither accepts the other's events.
pub const DEV_CHAIN_NAME: &str = "tansiq-dev";
pub const DEV_MINISTRY_ORG: &str = "ministry";
pub const GENESIS_FILE: &str = "genesis.json";
pub const MINISTRY_KEY_FILE: &str = "ministry.key";

/// Returns the dev genesis of `data_dir`, creating it (and the ministry key) on first start.
pub fn dev_genesis(data_dir: &Path) -> anyhow::Result<Genesis> {
    std::fs::create_dir_all(data_dir)
        .with_context(|| format!("cannot create data directory {}", data_dir.display()))?;
    let genesis_path = data_dir.join(GENESIS_FILE);
    if genesis_path.exists() {
        return Ok(GenesisFile::read(&genesis_path)?);
    }
    let key_path = data_dir.join(MINISTRY_KEY_FILE);
    let ministry = OrgId::parse(DEV_MINISTRY_ORG).expect("invariant: the dev org id is valid");
    let key = if key_path.exists() {
        // A previous first start stopped between writing the key and the genesis.
        let (_, key) = KeyFile::read(&key_path)?;
        key
    } else {
        let key = KeyPair::generate();
        KeyFile::new(
            &ministry,
            &key,
            "DEV KEY for a local development chain only; never use it on a real ledger",
        )
        .write(&key_path)?;
        key
    };
    let name = pb::Names {
        arabic: "وزارة الحكم المحلي (تطوير)".to_owned(),
        latin: "Ministry of Local Government (development)".to_owned(),
    };
    let genesis = Genesis::new_chain(DEV_CHAIN_NAME, &ministry, name, &[key.public()], now_ms())?;
    let temporary = data_dir.join(format!("{GENESIS_FILE}.tmp"));
    std::fs::write(&temporary, GenesisFile::from_genesis(&genesis).to_json())
        .and_then(|()| std::fs::rename(&temporary, &genesis_path))
        .with_context(|| format!("cannot write {}", genesis_path.display()))?;
    tracing::info!(key_file = %key_path.display(), genesis = %genesis_path.display(), "created a development chain");
    Ok(genesis)
}
