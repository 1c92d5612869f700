//! `tansiq-node backup` and `tansiq-node restore`: a data directory's
//! ledger copied out with its manifest, and copied back in once checked
//! (see `tansiq_ledger::backup`). The genesis file travels with the copy.
//! `tansiq-node dump`: one column family, readable.

use std::io::Write;
use std::path::Path;

use anyhow::Context;
use tansiq_ledger::append::UpgradeCopy;
use tansiq_ledger::backup::{backup, restore, GENESIS_FILE, MANIFEST_FILE};
use tansiq_ledger::genesis::GenesisFile;
use tansiq_ledger::store::Store;
use tansiq_ledger::Ledger;

use crate::config::Maintenance;

/// Runs one maintenance task; what it did, for the operator.
pub fn run(task: Maintenance) -> anyhow::Result<String> {
    match task {
        Maintenance::Backup { data_dir, out } => {
            let store = data_dir.join("db");
            // Not upgraded: the backup keeps the format of the binary that
            // wrote the store, so that it can go back to it.
            let ledger =
                Ledger::open_upgrading(&store, None, UpgradeCopy::Leave).with_context(|| {
                    format!(
                    "cannot open the ledger in {} (a running node holds it: stop the node first)",
                    store.display()
                )
                })?;
            let manifest = backup(&ledger, &out)?;
            let bytes: u64 = manifest.files.iter().map(|file| file.bytes).sum();
            Ok(format!(
                "backup of chain {} at log position {} (head {}): {} files, {} bytes, in {}; manifest {}",
                manifest.chain_id,
                manifest.position,
                manifest.head,
                manifest.files.len(),
                bytes,
                out.display(),
                out.join(MANIFEST_FILE).display()
            ))
        }
        Maintenance::Restore {
            from,
            data_dir,
            genesis,
        } => {
            let expected = match &genesis {
                Some(path) => Some(GenesisFile::read(path)?),
                None => None,
            };
            let restored = restore(&from, &data_dir, expected.as_ref())?;
            copy_genesis(&from, &data_dir)?;
            let (manifest, tip) = (&restored.manifest, &restored.tip);
            let start = match &restored.rejoins {
                None => format!("start the node with --data-dir {}", data_dir.display()),
                Some(rejoins) => format!(
                    "it was a copy of {}: it rejoins the cluster as a new member (its Raft vote and log were forgotten): as the ministry, first `tansiq cluster remove OLD_ID` if the old member is still a voter; then start it with --data-dir {}, a node id never used in the cluster (not {}) and a certificate naming that id; then `tansiq cluster add-learner NEW_ID=URL` and, once caught up, `tansiq cluster promote NEW_ID` (README, \"Running a node in production\")",
                    rejoins
                        .member
                        .map_or_else(|| "a cluster member".to_owned(), |id| format!("member {id}")),
                    data_dir.display(),
                    rejoins
                        .members
                        .iter()
                        .map(u64::to_string)
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            };
            Ok(format!(
                "restored chain {} into {}: log position {} (head {}), every signature and key chain checked again; {start}",
                manifest.chain_id,
                data_dir.display(),
                tip.position.0,
                tip.head.to_hex(),
            ))
        }
        Maintenance::Dump { family, data_dir } => dump(&family, &data_dir),
    }
}

/// `tansiq-node dump`: JSON lines on stdout; the summary goes to stderr so
/// that the output is JSON lines only.
fn dump(family: &str, data_dir: &Path) -> anyhow::Result<String> {
    let path = data_dir.join("db");
    if !path.join("CURRENT").exists() {
        anyhow::bail!(
            "no store in {} (a node's store is DATA_DIR/db; give the node's --data-dir)",
            path.display()
        );
    }
    let store = Store::open_read_only(&path)
        .with_context(|| format!("cannot read the store in {}", path.display()))?;
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let mut failed = None;
    let pairs = store.dump_readable(family, |pair| match writeln!(out, "{pair}") {
        Ok(()) => true,
        Err(error) => {
            failed = Some(error);
            false
        }
    })?;
    if let Some(error) = failed.or_else(|| out.flush().err()) {
        // A closed pipe (`| head`) is the reader's choice, not a failure.
        if error.kind() != std::io::ErrorKind::BrokenPipe {
            return Err(error).context("cannot write the dump");
        }
    }
    eprintln!(
        "tansiq-node: {pairs} pairs of {family} in {}",
        path.display()
    );
    Ok(String::new())
}

/// Copies `from/genesis.json` to `to/` when there is one and `to` has none.
fn copy_genesis(from: &Path, to: &Path) -> anyhow::Result<()> {
    let source = from.join(GENESIS_FILE);
    let target = to.join(GENESIS_FILE);
    if source.exists() && !target.exists() {
        std::fs::copy(&source, &target)
            .with_context(|| format!("cannot copy {} to {}", source.display(), target.display()))?;
    }
    Ok(())
}
