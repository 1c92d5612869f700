//! The node's checkpoint signing key (`<data dir>/log-signing.key`):
//! created with the data directory, never sent anywhere. It signs the
//! checkpoints of the log's Merkle tree (`Ledger.GetCheckpoint`, see
//! `tansiq_ledger::tree::checkpoint`); its verifier key is logged at start
//! and returned with every checkpoint, for clients to pin.

use std::io::Write as _;
use std::path::Path;

use anyhow::{bail, Context};
use tansiq_ledger::signing::ChainId;
use tansiq_ledger::tree::checkpoint::{origin, LogKey};

/// The key file in a data directory.
pub const LOG_KEY_FILE: &str = "log-signing.key";

/// The node's log key, created on first start.
pub fn load_or_create(data_dir: &Path, chain: &ChainId) -> anyhow::Result<LogKey> {
    let path = data_dir.join(LOG_KEY_FILE);
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            let mut lines = text.lines().filter(|line| !line.starts_with('#'));
            let (Some(private), Some(verifier)) = (lines.next(), lines.next()) else {
                bail!(
                    "{} is not a log key file (a private key line, then its verifier key); move it away to make a new key (clients that pinned the old one will refuse the new checkpoints)",
                    path.display()
                );
            };
            LogKey::from_strings(private, verifier)
                .with_context(|| format!("the log key in {}", path.display()))
        }
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            let (private, key) = LogKey::generate(&origin(chain))?;
            let mut options = std::fs::OpenOptions::new();
            options.write(true).create_new(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
            let mut file = options
                .open(&path)
                .with_context(|| format!("cannot create {}", path.display()))?;
            writeln!(
                file,
                "# Tansiq log checkpoint signing key: keep it secret, keep a backup.\n{private}\n{}",
                key.verifier_key()
            )
            .and_then(|()| file.sync_all())
            .with_context(|| format!("cannot write {}", path.display()))?;
            Ok(key)
        }
        Err(error) => Err(error).with_context(|| format!("cannot read {}", path.display())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_is_made_once_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let chain = ChainId::parse("tansiq-dev-0123456789abcdef01234567").unwrap();
        let made = load_or_create(dir.path(), &chain).unwrap();
        let read = load_or_create(dir.path(), &chain).unwrap();
        assert_eq!(made.verifier_key(), read.verifier_key());
        assert!(made.verifier_key().starts_with("tansiq.ledger/tansiq-dev-"));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(dir.path().join(LOG_KEY_FILE))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        std::fs::write(dir.path().join(LOG_KEY_FILE), "garbage\n").unwrap();
        assert!(load_or_create(dir.path(), &chain).is_err());
    }
}
