//! Signed checkpoints: a tree head (origin, size, root) in the
//! c2sp.org/tlog-checkpoint text form, signed as a c2sp.org/signed-note
//! with Ed25519 — the form Certificate Transparency's tiled logs, Go's
//! checksum database and the witness network read. The text and note
//! arithmetic are the `tlog_tiles` and `signed_note` crates'.
//!
//! A checkpoint file as saved by `tansiq checkpoint --save` is the note's
//! bytes as the node served them:
//!
//! ```text
//! tansiq.ledger/tansiq-dev-0123456789abcdef01234567
//! 42
//! 3q2+7w...=
//!
//! — tansiq.ledger/tansiq-dev-0123456789abcdef01234567 AbCdEf...
//! ```

use signed_note::{Note, StandardSigner, StandardVerifier, VerifierList};
use tlog_tiles::Checkpoint;

use super::Hash;
use crate::signing::ChainId;

/// The checkpoint origin of a chain: `tansiq.ledger/<chain id>`.
pub fn origin(chain: &ChainId) -> String {
    format!("tansiq.ledger/{chain}")
}

/// Why a checkpoint is refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CheckpointError {
    /// Not a signed note, or its text is not a checkpoint.
    #[error("not a signed checkpoint (c2sp.org/tlog-checkpoint in a c2sp.org/signed-note): {0}")]
    Malformed(String),
    /// A verifier key that cannot be read.
    #[error("the log key {0:?} is not a signed-note verifier key (NAME+HEXID+BASE64)")]
    BadKey(String),
    /// No signature by the trusted key, or one that does not verify.
    #[error("the checkpoint is not signed by the trusted log key {key}: {reason}; suspect a checkpoint from another log, or a forged one")]
    Unsigned {
        /// The trusted key.
        key: String,
        /// What the note check said.
        reason: String,
    },
    /// Signed by the key, but for another log.
    #[error("the checkpoint is for log {found:?}, not {expected:?}")]
    OtherLog {
        /// The origin expected.
        expected: String,
        /// The origin in the checkpoint.
        found: String,
    },
}

/// A log's checkpoint signing key.
pub struct LogKey {
    signer: StandardSigner,
    verifier_key: String,
}

impl LogKey {
    /// A new key named `name`: its private key string (to keep secret) and
    /// the key.
    pub fn generate(name: &str) -> Result<(String, LogKey), CheckpointError> {
        let (private, verifier_key) = signed_note::generate_key(&mut rand::rngs::OsRng, name);
        let signer = StandardSigner::new(&private)
            .map_err(|error| CheckpointError::BadKey(error.to_string()))?;
        Ok((
            private,
            LogKey {
                signer,
                verifier_key,
            },
        ))
    }

    /// The key of a private key string (`PRIVATE+KEY+NAME+HEXID+BASE64`)
    /// and its verifier key.
    pub fn from_strings(private: &str, verifier_key: &str) -> Result<LogKey, CheckpointError> {
        let signer = StandardSigner::new(private.trim())
            .map_err(|error| CheckpointError::BadKey(error.to_string()))?;
        StandardVerifier::new(verifier_key.trim())
            .map_err(|_| CheckpointError::BadKey(verifier_key.to_owned()))?;
        Ok(LogKey {
            signer,
            verifier_key: verifier_key.trim().to_owned(),
        })
    }

    /// The verifier key (`NAME+HEXID+BASE64`) that checks its signatures.
    pub fn verifier_key(&self) -> &str {
        &self.verifier_key
    }

    /// The signed checkpoint of the tree of `size` entries with `root`.
    pub fn sign(&self, origin: &str, size: u64, root: Hash) -> Result<Vec<u8>, CheckpointError> {
        let text = Checkpoint::new(origin, size, root, "")
            .map_err(|error| CheckpointError::Malformed(error.to_string()))?
            .to_bytes();
        let mut note =
            Note::new(&text, &[]).map_err(|error| CheckpointError::Malformed(error.to_string()))?;
        note.add_sigs(&[&self.signer])
            .map_err(|error| CheckpointError::Malformed(error.to_string()))?;
        Ok(note.to_bytes())
    }
}

/// A checkpoint whose signature verified.
#[derive(Clone, Debug, PartialEq)]
pub struct Verified {
    /// The log it is of.
    pub origin: String,
    /// Entries in the tree.
    pub size: u64,
    /// The tree's root.
    pub root: Hash,
}

/// Checks that `note` is a checkpoint of `origin` signed by the log key
/// `verifier_key`, and reads it.
pub fn verify(note: &[u8], verifier_key: &str, origin: &str) -> Result<Verified, CheckpointError> {
    let verifier = StandardVerifier::new(verifier_key.trim())
        .map_err(|_| CheckpointError::BadKey(verifier_key.to_owned()))?;
    let parsed =
        Note::from_bytes(note).map_err(|error| CheckpointError::Malformed(error.to_string()))?;
    parsed
        .verify(&VerifierList::new(vec![Box::new(verifier)]))
        .map_err(|error| CheckpointError::Unsigned {
            key: verifier_key.trim().to_owned(),
            reason: error.to_string(),
        })?;
    let checkpoint = Checkpoint::from_bytes(parsed.text())
        .map_err(|error| CheckpointError::Malformed(error.to_string()))?;
    if checkpoint.origin() != origin {
        return Err(CheckpointError::OtherLog {
            expected: origin.to_owned(),
            found: checkpoint.origin().to_owned(),
        });
    }
    Ok(Verified {
        origin: checkpoint.origin().to_owned(),
        size: checkpoint.size(),
        root: *checkpoint.hash(),
    })
}

/// The origin a note's checkpoint names, unverified (to say which log a
/// refused checkpoint claims to be of).
pub fn claimed_origin(note: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(note).ok()?;
    text.lines().next().map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signed_checkpoint_verifies_with_its_key_only() {
        let origin = "tansiq.ledger/test-chain";
        let (private, key) = LogKey::generate(origin).unwrap();
        let root = Hash([7; 32]);
        let note = key.sign(origin, 42, root).unwrap();
        let text = String::from_utf8(note.clone()).unwrap();
        assert!(text.starts_with(&format!("{origin}\n42\n")), "{text}");
        assert!(text.contains("\n\n\u{2014} "), "{text}");
        let verified = verify(&note, key.verifier_key(), origin).unwrap();
        assert_eq!((verified.size, verified.root), (42, root));

        // The private key string gives the same key back.
        let again = LogKey::from_strings(&private, key.verifier_key()).unwrap();
        assert_eq!(again.verifier_key(), key.verifier_key());

        // Another key, another log, a changed byte: refused.
        let (_, other) = LogKey::generate(origin).unwrap();
        assert!(matches!(
            verify(&note, other.verifier_key(), origin),
            Err(CheckpointError::Unsigned { .. })
        ));
        assert!(matches!(
            verify(&note, key.verifier_key(), "tansiq.ledger/other"),
            Err(CheckpointError::OtherLog { .. })
        ));
        let forged = text.replacen("\n42\n", "\n43\n", 1);
        assert!(verify(forged.as_bytes(), key.verifier_key(), origin).is_err());
        assert!(verify(b"not a note", key.verifier_key(), origin).is_err());
        assert!(matches!(
            verify(&note, "nonsense", origin),
            Err(CheckpointError::BadKey(_))
        ));
    }
}
