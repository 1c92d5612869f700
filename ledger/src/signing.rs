//! What is signed and hashed: the domain-separated signed bytes, event ids,
//! signing and signature verification (one by one and in batches).
//!
//! signed bytes = "tansiq/event/v1" 0x00 ‖ chain id (UTF-8) ‖ 0x00 ‖ body bytes
//! signature    = Ed25519(signer key, signed bytes)
//! event id     = blake3(signed bytes)
//!
//! The signer's public key is a field of the body, so the id names one key's
//! event: two keys that sign otherwise equal bodies make two different ids.

use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use std::collections::HashMap;
use std::fmt;

use crate::ids::{EventId, IdError, PublicKeyBytes};

/// The domain-separation tag at the start of every signed message.
pub const EVENT_DOMAIN: &[u8] = b"tansiq/event/v1";

/// A chain id: 1-64 lowercase ASCII letters, digits and '-'. Part of every
/// signature's prefix, so an event signed for one chain is invalid on another.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub struct ChainId(String);

impl ChainId {
    pub fn parse(text: &str) -> Result<Self, IdError> {
        let ok = (1..=64).contains(&text.len())
            && text
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if ok {
            Ok(Self(text.to_owned()))
        } else {
            Err(IdError {
                what: "chain id",
                expected: "1-64 lowercase ASCII letters, digits or '-'",
                got: text.to_owned(),
            })
        }
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ChainId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The exact bytes an event's signature covers and its id hashes.
pub fn signed_bytes(chain: &ChainId, body: &[u8]) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(EVENT_DOMAIN.len() + chain.0.len() + 2 + body.len());
    bytes.extend_from_slice(EVENT_DOMAIN);
    bytes.push(0);
    bytes.extend_from_slice(chain.0.as_bytes());
    bytes.push(0);
    bytes.extend_from_slice(body);
    bytes
}

/// blake3 of the signed bytes.
pub fn event_id(chain: &ChainId, body: &[u8]) -> EventId {
    EventId(*blake3::hash(&signed_bytes(chain, body)).as_bytes())
}

/// An ed25519 signing key with the public key it implies.
pub struct KeyPair {
    signing: SigningKey,
}

impl KeyPair {
    /// A fresh key from the operating system's random source.
    pub fn generate() -> Self {
        Self {
            signing: SigningKey::generate(&mut rand::rngs::OsRng),
        }
    }
    /// The key whose 32-byte RFC 8032 seed ("secret key") is `seed`.
    pub fn from_seed(seed: [u8; 32]) -> Self {
        Self {
            signing: SigningKey::from_bytes(&seed),
        }
    }
    pub fn seed(&self) -> [u8; 32] {
        self.signing.to_bytes()
    }
    pub fn public(&self) -> PublicKeyBytes {
        PublicKeyBytes(self.signing.verifying_key().to_bytes())
    }
    /// Signs `body` for `chain`: returns the 64-byte signature and the event id.
    pub fn sign(&self, chain: &ChainId, body: &[u8]) -> ([u8; 64], EventId) {
        let message = signed_bytes(chain, body);
        let signature = self.signing.sign(&message).to_bytes();
        (signature, EventId(*blake3::hash(&message).as_bytes()))
    }
}

/// Why a public key cannot sign on the ledger.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum KeyError {
    #[error("public key {0} is not a valid ed25519 point")]
    NotAPoint(PublicKeyBytes),
    #[error("public key {0} is a weak (small-order) ed25519 key and can never sign securely")]
    Weak(PublicKeyBytes),
}

/// Parses a public key that the ledger accepts for registration: a valid, non-weak point.
pub fn acceptable_public_key(key: &PublicKeyBytes) -> Result<VerifyingKey, KeyError> {
    let verifying = VerifyingKey::from_bytes(&key.0).map_err(|_| KeyError::NotAPoint(*key))?;
    if verifying.is_weak() {
        return Err(KeyError::Weak(*key));
    }
    Ok(verifying)
}

/// One signature to check: the signer, the signed bytes and the signature.
pub struct SignatureCheck<'a> {
    pub key: &'a PublicKeyBytes,
    pub message: &'a [u8],
    pub signature: &'a [u8],
}

/// How a set of signatures is checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rule {
    /// One batch equation for all (fast); a failing batch is checked one by
    /// one. The batch equation is randomised and cofactorless: for a
    /// crafted signature with a small-order component it may pass or fail
    /// from one run to the next. Fine for admission (the apply check
    /// decides); never for a state machine.
    Batch,
    /// `verify_strict` on each signature: the same verdict on every node,
    /// every time. What applying a replicated entry uses.
    Strict,
}

/// Checks many signatures; returns, for each, whether it is valid.
///
/// The rule is RFC 8032 verification with non-weak keys and canonical
/// encodings (`verify_strict`); a batch that passes ed25519-dalek's batch
/// equation is accepted as a whole, a batch that fails is checked one by one to
/// find the culprits.
pub fn verify_signatures(checks: &[SignatureCheck<'_>]) -> Vec<bool> {
    verify_signatures_by(checks, Rule::Batch)
}

/// [`verify_signatures`] with an explicit [`Rule`].
pub fn verify_signatures_by(checks: &[SignatureCheck<'_>], rule: Rule) -> Vec<bool> {
    // Decompressing a key costs about a third of a verification; a batch
    // usually holds few distinct keys.
    let mut keys: HashMap<&PublicKeyBytes, Option<VerifyingKey>> = HashMap::new();
    let mut parsed = Vec::with_capacity(checks.len());
    for check in checks {
        let key = *keys
            .entry(check.key)
            .or_insert_with(|| acceptable_public_key(check.key).ok());
        let signature = Signature::from_slice(check.signature).ok();
        parsed.push(key.zip(signature));
    }
    if rule == Rule::Batch && parsed.iter().all(Option::is_some) && !checks.is_empty() {
        let (keys, signatures): (Vec<VerifyingKey>, Vec<Signature>) =
            parsed.iter().flatten().cloned().unzip();
        let messages: Vec<&[u8]> = checks.iter().map(|c| c.message).collect();
        if ed25519_dalek::verify_batch(&messages, &signatures, &keys).is_ok() {
            return vec![true; checks.len()];
        }
    }
    checks
        .iter()
        .zip(parsed)
        .map(|(check, parsed)| {
            parsed.is_some_and(|(key, signature)| {
                key.verify_strict(check.message, &signature).is_ok()
            })
        })
        .collect()
}

/// Checks one signature with the same rule as [`verify_signatures`].
pub fn verify_signature(key: &PublicKeyBytes, message: &[u8], signature: &[u8]) -> bool {
    verify_signatures(&[SignatureCheck {
        key,
        message,
        signature,
    }])[0]
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn chain() -> ChainId {
        ChainId::parse("test-chain").expect("valid chain id")
    }

    proptest! {
        #[test]
        fn sign_then_verify_round_trips(seed in any::<[u8; 32]>(), body in proptest::collection::vec(any::<u8>(), 0..512)) {
            let key = KeyPair::from_seed(seed);
            let (signature, id) = key.sign(&chain(), &body);
            let message = signed_bytes(&chain(), &body);
            prop_assert!(verify_signature(&key.public(), &message, &signature));
            prop_assert_eq!(id, event_id(&chain(), &body));
            let other = ChainId::parse("other-chain").expect("valid chain id");
            prop_assert!(!verify_signature(&key.public(), &signed_bytes(&other, &body), &signature));
        }
    }

    #[test]
    fn both_rules_give_the_same_verdicts_on_valid_and_altered_signatures() {
        let keys: Vec<KeyPair> = (0..6u8).map(|i| KeyPair::from_seed([i; 32])).collect();
        let messages: Vec<Vec<u8>> = (0..6u8).map(|i| signed_bytes(&chain(), &[i; 12])).collect();
        let mut signatures: Vec<[u8; 64]> = keys
            .iter()
            .zip(0..6u8)
            .map(|(key, i)| key.sign(&chain(), &[i; 12]).0)
            .collect();
        signatures[4][0] ^= 0x40;
        let publics: Vec<PublicKeyBytes> = keys.iter().map(KeyPair::public).collect();
        let checks: Vec<SignatureCheck<'_>> = (0..6)
            .map(|i| SignatureCheck {
                key: &publics[i],
                message: &messages[i],
                signature: &signatures[i],
            })
            .collect();
        let expected = vec![true, true, true, true, false, true];
        assert_eq!(verify_signatures_by(&checks, Rule::Batch), expected);
        assert_eq!(verify_signatures_by(&checks, Rule::Strict), expected);
    }

    #[test]
    fn a_batch_with_one_bad_signature_names_it() {
        let keys: Vec<KeyPair> = (0..8u8).map(|i| KeyPair::from_seed([i; 32])).collect();
        let bodies: Vec<Vec<u8>> = (0..8u8).map(|i| vec![i; 10]).collect();
        let messages: Vec<Vec<u8>> = bodies.iter().map(|b| signed_bytes(&chain(), b)).collect();
        let mut signatures: Vec<[u8; 64]> = keys
            .iter()
            .zip(&bodies)
            .map(|(k, b)| k.sign(&chain(), b).0)
            .collect();
        signatures[5][0] ^= 1;
        let publics: Vec<PublicKeyBytes> = keys.iter().map(KeyPair::public).collect();
        let checks: Vec<SignatureCheck<'_>> = (0..8)
            .map(|i| SignatureCheck {
                key: &publics[i],
                message: &messages[i],
                signature: &signatures[i],
            })
            .collect();
        let verdicts = verify_signatures(&checks);
        assert_eq!(
            verdicts,
            vec![true, true, true, true, true, false, true, true]
        );
    }

    #[test]
    fn weak_keys_are_refused() {
        // The identity point (y = 1) is a small-order point.
        let mut identity = [0u8; 32];
        identity[0] = 1;
        assert_eq!(
            acceptable_public_key(&PublicKeyBytes(identity)).err(),
            Some(KeyError::Weak(PublicKeyBytes(identity)))
        );
    }
}
