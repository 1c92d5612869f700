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

/// The name of a chain's witness keys: `tansiq.witness/<chain id>`.
pub fn witness_name(chain: &ChainId) -> String {
    format!("tansiq.witness/{chain}")
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
    /// Fewer of the trusted keys signed than needed.
    #[error("the checkpoint is signed by {signed} of the {trusted} trusted log keys, {needed} needed ({keys}); suspect a node that is not one of the cluster's, or a cluster that lost its majority")]
    TooFewSignatures {
        /// Trusted keys with a valid signature on it.
        signed: usize,
        /// Keys trusted.
        trusted: usize,
        /// Signatures needed.
        needed: usize,
        /// The keys that signed.
        keys: String,
    },
    /// Notes merged into one are of different checkpoints.
    #[error("the checkpoint signed by {key} is of another tree than this node's (same size, another root, or another size): suspect a member whose log differs")]
    Differs {
        /// The key of the note that differs.
        key: String,
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
    /// The same Ed25519 key, for the node's witness cosignatures.
    seed: ed25519_dalek::SigningKey,
}

/// The Ed25519 key in a signed-note private key string
/// (`PRIVATE+KEY+NAME+HEXID+BASE64(0x01 || SEED)`).
fn seed_of(private: &str) -> Result<ed25519_dalek::SigningKey, CheckpointError> {
    use base64::Engine as _;
    let bad = || CheckpointError::BadKey("(the private key)".into());
    let encoded = private.trim().splitn(5, '+').nth(4).ok_or_else(bad)?;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .map_err(|_| bad())?;
    match bytes.split_first() {
        Some((1, seed)) => ed25519_dalek::SigningKey::try_from(seed).map_err(|_| bad()),
        _ => Err(bad()),
    }
}

impl LogKey {
    /// A new key named `name`: its private key string (to keep secret) and
    /// the key.
    pub fn generate(name: &str) -> Result<(String, LogKey), CheckpointError> {
        let (private, verifier_key) = signed_note::generate_key(&mut rand::rngs::OsRng, name);
        let signer = StandardSigner::new(&private)
            .map_err(|error| CheckpointError::BadKey(error.to_string()))?;
        let seed = seed_of(&private)?;
        Ok((
            private,
            LogKey {
                signer,
                verifier_key,
                seed,
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
            seed: seed_of(private)?,
        })
    }

    /// The same key as a witness named `name`, signing
    /// c2sp.org/tlog-cosignature lines.
    pub fn witness(&self, name: &str) -> Witness {
        let public = [
            &[ALG_COSIGNATURE_V1],
            self.seed.verifying_key().as_bytes().as_slice(),
        ]
        .concat();
        Witness {
            name: name.to_owned(),
            id: signed_note::key_id(name, &public),
            signing: self.seed.clone(),
        }
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

/// The signed-note key type of a c2sp.org/tlog-cosignature
/// (`cosignature/v1`) key.
const ALG_COSIGNATURE_V1: u8 = 0x04;

/// A witness: it states, with a timestamped Ed25519 cosignature
/// (c2sp.org/tlog-cosignature, `cosignature/v1`), that it saw a
/// checkpoint and checked it against the ones it saw before. A learner
/// (a donor site) holds the whole tree, so its cosignature says the tree
/// it holds has this root.
pub struct Witness {
    name: String,
    id: u32,
    signing: ed25519_dalek::SigningKey,
}

impl Witness {
    /// Its verifier key: `NAME+HEXID+BASE64(0x04 || PUBLIC KEY)`.
    pub fn verifier_key(&self) -> String {
        use base64::Engine as _;
        let public = [
            &[ALG_COSIGNATURE_V1],
            self.signing.verifying_key().as_bytes().as_slice(),
        ]
        .concat();
        format!(
            "{}+{:08x}+{}",
            self.name,
            self.id,
            base64::engine::general_purpose::STANDARD.encode(public)
        )
    }

    /// Adds its cosignature, made now, to `note` (a signed checkpoint).
    pub fn cosign(&self, note: &[u8]) -> Result<Vec<u8>, CheckpointError> {
        let mut note = Note::from_bytes(note)
            .map_err(|error| CheckpointError::Malformed(error.to_string()))?;
        note.add_sigs(&[self])
            .map_err(|error| CheckpointError::Malformed(error.to_string()))?;
        Ok(note.to_bytes())
    }
}

/// What a cosignature signs: the `cosignature/v1` header with its time,
/// then the checkpoint's text.
fn cosigned_message(time: u64, text: &[u8]) -> Vec<u8> {
    let mut message = format!("cosignature/v1\ntime {time}\n").into_bytes();
    message.extend_from_slice(text);
    message
}

impl signed_note::Signer for Witness {
    fn name(&self) -> &str {
        &self.name
    }

    fn key_id(&self) -> u32 {
        self.id
    }

    /// `TIMESTAMP (8 bytes, big-endian seconds) || SIGNATURE`.
    fn sign(&self, text: &[u8]) -> Result<Vec<u8>, ed25519_dalek::SignatureError> {
        use ed25519_dalek::Signer as _;
        let time = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |since| since.as_secs());
        let signature = self.signing.sign(&cosigned_message(time, text));
        Ok([time.to_be_bytes().as_slice(), &signature.to_bytes()].concat())
    }
}

/// Checks a witness's cosignatures.
struct WitnessVerifier {
    name: String,
    id: u32,
    key: ed25519_dalek::VerifyingKey,
}

impl signed_note::Verifier for WitnessVerifier {
    fn name(&self) -> &str {
        &self.name
    }

    fn key_id(&self) -> u32 {
        self.id
    }

    fn verify(&self, text: &[u8], signature: &[u8]) -> bool {
        let (Some(time), Some(signature)) = (signature.get(..8), signature.get(8..)) else {
            return false;
        };
        let (Ok(time), Ok(signature)) = (
            <[u8; 8]>::try_from(time),
            ed25519_dalek::Signature::from_slice(signature),
        ) else {
            return false;
        };
        self.key
            .verify_strict(
                &cosigned_message(u64::from_be_bytes(time), text),
                &signature,
            )
            .is_ok()
    }
}

/// The verifier of a key string: a log's Ed25519 key (type 0x01) or a
/// witness's cosignature/v1 key (type 0x04).
fn verifier_of(key: &str) -> Result<Box<dyn signed_note::Verifier>, CheckpointError> {
    use base64::Engine as _;
    let bad = || CheckpointError::BadKey(key.to_owned());
    let key = key.trim();
    let mut parts = key.splitn(3, '+');
    let (Some(name), Some(id), Some(encoded)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(bad());
    };
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .map_err(|_| bad())?;
    match bytes.split_first() {
        Some((&ALG_COSIGNATURE_V1, public)) => {
            let id = u32::from_str_radix(id, 16).map_err(|_| bad())?;
            if id != signed_note::key_id(name, &bytes) || !signed_note::is_key_name_valid(name) {
                return Err(bad());
            }
            let public = <[u8; 32]>::try_from(public).map_err(|_| bad())?;
            Ok(Box::new(WitnessVerifier {
                name: name.to_owned(),
                id,
                key: ed25519_dalek::VerifyingKey::from_bytes(&public).map_err(|_| bad())?,
            }))
        }
        _ => Ok(Box::new(StandardVerifier::new(key).map_err(|_| bad())?)),
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
    verify_by(note, &[verifier_key.to_owned()], 1, origin).map(|(verified, _)| verified)
}

/// Checks that `note` is a checkpoint of `origin` with valid signatures of
/// at least `needed` of the log keys `trusted` (a cluster's voters: a
/// majority of them is the cluster's statement), and reads it; with the
/// keys that signed. A signature of a trusted key that does not verify
/// refuses the note; signatures of other keys are left aside.
pub fn verify_by(
    note: &[u8],
    trusted: &[String],
    needed: usize,
    origin: &str,
) -> Result<(Verified, Vec<String>), CheckpointError> {
    let mut verifiers: Vec<Box<dyn signed_note::Verifier>> = Vec::with_capacity(trusted.len());
    for key in trusted {
        verifiers.push(verifier_of(key)?);
    }
    let ids: Vec<(String, u32)> = verifiers
        .iter()
        .map(|verifier| (verifier.name().to_owned(), verifier.key_id()))
        .collect();
    let parsed =
        Note::from_bytes(note).map_err(|error| CheckpointError::Malformed(error.to_string()))?;
    let (verified, _) = parsed
        .verify(&VerifierList::new(verifiers))
        .map_err(|error| CheckpointError::Unsigned {
            key: trusted.join(", "),
            reason: error.to_string(),
        })?;
    let signed: Vec<String> = trusted
        .iter()
        .zip(&ids)
        .filter(|(_, (name, id))| {
            verified
                .iter()
                .any(|signature| signature.name() == name && signature.id() == *id)
        })
        .map(|(key, _)| key.trim().to_owned())
        .collect();
    if signed.len() < needed {
        return Err(CheckpointError::TooFewSignatures {
            signed: signed.len(),
            trusted: trusted.len(),
            needed,
            keys: signed.join(", "),
        });
    }
    let checkpoint = Checkpoint::from_bytes(parsed.text())
        .map_err(|error| CheckpointError::Malformed(error.to_string()))?;
    if checkpoint.origin() != origin {
        return Err(CheckpointError::OtherLog {
            expected: origin.to_owned(),
            found: checkpoint.origin().to_owned(),
        });
    }
    Ok((
        Verified {
            origin: checkpoint.origin().to_owned(),
            size: checkpoint.size(),
            root: *checkpoint.hash(),
        },
        signed,
    ))
}

/// One note carrying the signatures of several notes of the same
/// checkpoint, each checked with the verifier key beside it: what every
/// one of those keys states. A note of another checkpoint is refused.
pub fn merge(notes: &[(Vec<u8>, String)]) -> Result<Vec<u8>, CheckpointError> {
    let mut text: Option<Vec<u8>> = None;
    let mut signatures = Vec::new();
    for (note, key) in notes {
        let verifier =
            StandardVerifier::new(key.trim()).map_err(|_| CheckpointError::BadKey(key.clone()))?;
        let parsed = Note::from_bytes(note)
            .map_err(|error| CheckpointError::Malformed(error.to_string()))?;
        let (verified, _) = parsed
            .verify(&VerifierList::new(vec![Box::new(verifier)]))
            .map_err(|error| CheckpointError::Unsigned {
                key: key.trim().to_owned(),
                reason: error.to_string(),
            })?;
        match &text {
            None => text = Some(parsed.text().to_vec()),
            Some(text) if text.as_slice() == parsed.text() => {}
            Some(_) => {
                return Err(CheckpointError::Differs {
                    key: key.trim().to_owned(),
                })
            }
        }
        signatures.extend(verified);
    }
    let text = text.ok_or_else(|| CheckpointError::Malformed("no note to merge".into()))?;
    Ok(Note::new(&text, &signatures)
        .map_err(|error| CheckpointError::Malformed(error.to_string()))?
        .to_bytes())
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

    #[test]
    fn a_cluster_checkpoint_carries_each_voters_signature_and_needs_a_majority() {
        let origin = "tansiq.ledger/test-chain";
        let root = Hash([9; 32]);
        let voters: Vec<LogKey> = (0..3)
            .map(|_| LogKey::generate(origin).unwrap().1)
            .collect();
        let keys: Vec<String> = voters.iter().map(|k| k.verifier_key().to_owned()).collect();
        let notes: Vec<(Vec<u8>, String)> = voters
            .iter()
            .map(|k| {
                (
                    k.sign(origin, 7, root).unwrap(),
                    k.verifier_key().to_owned(),
                )
            })
            .collect();
        let merged = merge(&notes).unwrap();
        let (verified, signed) = verify_by(&merged, &keys, 3, origin).unwrap();
        assert_eq!((verified.size, verified.root, signed.len()), (7, root, 3));

        // Two of three: a majority, not all.
        let two = merge(&notes[..2]).unwrap();
        assert!(verify_by(&two, &keys, 2, origin).is_ok());
        assert!(matches!(
            verify_by(&two, &keys, 3, origin),
            Err(CheckpointError::TooFewSignatures {
                signed: 2,
                needed: 3,
                ..
            })
        ));
        // A key nobody trusts does not count.
        let (_, stranger) = LogKey::generate(origin).unwrap();
        let with_stranger = merge(&[
            notes[0].clone(),
            (
                stranger.sign(origin, 7, root).unwrap(),
                stranger.verifier_key().to_owned(),
            ),
        ])
        .unwrap();
        assert!(matches!(
            verify_by(&with_stranger, &keys, 2, origin),
            Err(CheckpointError::TooFewSignatures { signed: 1, .. })
        ));
        // Another tree, or a signature that does not verify: refused.
        let other = voters[2].sign(origin, 8, root).unwrap();
        assert!(matches!(
            merge(&[notes[0].clone(), (other, keys[2].clone())]),
            Err(CheckpointError::Differs { .. })
        ));
        assert!(matches!(
            merge(&[notes[0].clone(), (notes[1].0.clone(), keys[2].clone())]),
            Err(CheckpointError::Unsigned { .. })
        ));
        let text = String::from_utf8(merged).unwrap();
        let last = text.trim_end().rsplit('\n').next().unwrap().to_owned();
        let mut flipped = last.clone().into_bytes();
        let at = flipped.len() - 3;
        flipped[at] = if flipped[at] == b'A' { b'B' } else { b'A' };
        let tampered = text.replace(&last, &String::from_utf8(flipped).unwrap());
        assert!(verify_by(tampered.as_bytes(), &keys, 2, origin).is_err());
    }

    #[test]
    fn a_witness_cosignature_is_a_tlog_cosignature_v1_line() {
        let origin = "tansiq.ledger/test-chain";
        let (_, log) = LogKey::generate(origin).unwrap();
        let note = log.sign(origin, 5, Hash([3; 32])).unwrap();
        let witness = log.witness("tansiq.witness/test-chain");
        let key = witness.verifier_key();
        assert!(key.starts_with("tansiq.witness/test-chain+"), "{key}");
        let cosigned = witness.cosign(&note).unwrap();
        let text = String::from_utf8(cosigned.clone()).unwrap();
        assert_eq!(text.matches("\n\u{2014} ").count(), 2, "{text}");
        // The log's key and the witness's: both check.
        let both = [log.verifier_key().to_owned(), key.clone()];
        let (_, signed) = verify_by(&cosigned, &both, 2, origin).unwrap();
        assert_eq!(signed.len(), 2);
        // The signature is over "cosignature/v1\ntime T\n" and the text:
        // checked here with ed25519 directly, from the line's bytes.
        use base64::Engine as _;
        let line = text.trim_end().rsplit('\n').next().unwrap();
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(line.rsplit(' ').next().unwrap())
            .unwrap();
        let (time, signature) = (&bytes[4..12], &bytes[12..]);
        let body = text.split("\n\n").next().unwrap().to_owned() + "\n";
        let message = format!(
            "cosignature/v1\ntime {}\n{body}",
            u64::from_be_bytes(time.try_into().unwrap())
        );
        let public = ed25519_dalek::VerifyingKey::from_bytes(
            base64::engine::general_purpose::STANDARD
                .decode(key.splitn(3, '+').nth(2).unwrap())
                .unwrap()[1..]
                .try_into()
                .unwrap(),
        )
        .unwrap();
        public
            .verify_strict(
                message.as_bytes(),
                &ed25519_dalek::Signature::from_slice(signature).unwrap(),
            )
            .unwrap();
        // A changed time or text does not check.
        let mut forged = bytes.clone();
        forged[11] ^= 1;
        let forged_line = format!(
            "{} {}",
            line.rsplit_once(' ').unwrap().0,
            base64::engine::general_purpose::STANDARD.encode(forged)
        );
        let forged_note = text.replace(line, &forged_line);
        assert!(verify_by(forged_note.as_bytes(), &[key], 1, origin).is_err());
    }
}
