//! What is signed and hashed: the domain-separated signed bytes, event ids,
//! signing and signature verification (one by one and in batches).
//!
//! signed bytes = "tansiq/event/v1" 0x00 ‖ chain id (UTF-8) ‖ 0x00 ‖ body bytes
//! signature    = Ed25519(signer key, signed bytes)
//! event id     = blake3(signed bytes)
//!
//! The signer's public key is a field of the body, so the id names one key's
//! event: two keys that sign otherwise equal bodies make two different ids.

use curve25519_dalek::constants::ED25519_BASEPOINT_POINT;
use curve25519_dalek::edwards::{CompressedEdwardsY, EdwardsPoint};
use curve25519_dalek::scalar::Scalar;
use curve25519_dalek::traits::{IsIdentity, VartimeMultiscalarMul};
use ed25519_dalek::{Signer, SigningKey, VerifyingKey};
use rand::Rng;
use sha2::{Digest, Sha512};
use std::collections::HashMap;
use std::fmt;
use std::sync::LazyLock;

use crate::bounded_map::BoundedMap;
use crate::ids::{EventId, IdError, PublicKeyBytes};

/// The domain-separation tag at the start of every signed message.
pub const EVENT_DOMAIN: &[u8] = b"tansiq/event/v1";

/// A chain id: 1-64 lowercase ASCII letters, digits and '-'. Part of every
/// signature's prefix, so an event signed for one chain is invalid on another.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub struct ChainId(String);

impl ChainId {
    /// Parses a chain id; errs unless it is 1-64 lowercase ASCII letters,
    /// digits and '-'.
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
    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ChainId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Domain of the signed request that asks a node for an IATI import plan.
pub const PLAN_DOMAIN: &[u8] = b"tansiq/plan-iati/v1";

/// The domain of a backup request's signature (`Ledger.Backup`).
pub const BACKUP_DOMAIN: &[u8] = b"tansiq/backup/v1";

/// The bytes a backup request's signature covers: the domain, the chain,
/// the folder and the signing time.
pub fn backup_request_bytes(chain: &ChainId, out_dir: &str, signed_at_ms: i64) -> Vec<u8> {
    let mut bytes = Vec::new();
    bytes.extend_from_slice(BACKUP_DOMAIN);
    bytes.push(0);
    bytes.extend_from_slice(chain.0.as_bytes());
    bytes.push(0);
    bytes.extend_from_slice(out_dir.as_bytes());
    bytes.push(0);
    bytes.extend_from_slice(&signed_at_ms.to_be_bytes());
    bytes
}

/// The bytes an organisation's key signs to ask a node for an IATI import
/// plan (`Interchange.PlanIatiImport`): the domain, 0x00, the chain id,
/// 0x00, the organisation id, 0x00, the signing time (ms since the Unix
/// epoch, 8 bytes big-endian).
pub fn plan_request_bytes(chain: &ChainId, org_id: &str, signed_at_ms: i64) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(PLAN_DOMAIN.len() + chain.0.len() + org_id.len() + 11);
    bytes.extend_from_slice(PLAN_DOMAIN);
    bytes.push(0);
    bytes.extend_from_slice(chain.0.as_bytes());
    bytes.push(0);
    bytes.extend_from_slice(org_id.as_bytes());
    bytes.push(0);
    bytes.extend_from_slice(&signed_at_ms.to_be_bytes());
    bytes
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
    /// The key's 32-byte RFC 8032 seed (the secret key).
    pub fn seed(&self) -> [u8; 32] {
        self.signing.to_bytes()
    }
    /// The public key.
    pub fn public(&self) -> PublicKeyBytes {
        PublicKeyBytes(self.signing.verifying_key().to_bytes())
    }
    /// Signs `message` as it is (for requests such as [`plan_request_bytes`]).
    pub fn sign_bytes(&self, message: &[u8]) -> [u8; 64] {
        self.signing.sign(message).to_bytes()
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
#[non_exhaustive]
pub enum KeyError {
    /// The bytes are not a point of the curve.
    #[error("public key {0} is not a valid ed25519 point")]
    NotAPoint(PublicKeyBytes),
    /// The point is of small order: signatures by it prove nothing.
    #[error("public key {0} is a weak (small-order) ed25519 key and can never sign securely")]
    Weak(PublicKeyBytes),
}

/// Parses a public key that the ledger accepts for registration: a valid, non-weak point.
pub(crate) fn acceptable_public_key(key: &PublicKeyBytes) -> Result<VerifyingKey, KeyError> {
    let verifying = VerifyingKey::from_bytes(&key.0).map_err(|_| KeyError::NotAPoint(*key))?;
    if verifying.is_weak() {
        return Err(KeyError::Weak(*key));
    }
    Ok(verifying)
}

/// One signature to check: the signer, the signed bytes and the signature.
pub struct SignatureCheck<'a> {
    /// The signer's public key.
    pub key: &'a PublicKeyBytes,
    /// The signed bytes.
    pub message: &'a [u8],
    /// The signature (valid ones are 64 bytes).
    pub signature: &'a [u8],
}

/// Checks many signatures; returns, for each, whether it is valid.
///
/// The rule is deterministic, so that every node of a cluster reaches the
/// same verdict on every signature, crafted ones included, whether it checks
/// a signature alone or in a batch:
///
/// - the key is a valid, non-weak point; `s` is canonical (below the group
///   order); `R` is a valid point and not of small order;
/// - the **cofactored** equation `[8]([s]B - R - [k]A) = 0` holds, with
///   `k = SHA-512(R || A || message) mod l` (RFC 8032's hash).
///
/// Signatures made by RFC 8032 signers always pass. The cofactored equation
/// is the one whose batch form agrees with the one-by-one check (ZIP 215):
/// ed25519-dalek's batch equation is cofactorless and randomised, and a
/// signature whose `R` carries a small torsion component passes it on some
/// runs and fails on others, which would split a replicated state machine.
/// Here a batch is checked with one multiscalar multiplication; a failing
/// batch is checked one by one to find the culprits.
pub fn verify_signatures(checks: &[SignatureCheck<'_>]) -> Vec<bool> {
    let parsed: Vec<Option<Parsed>> = checks.iter().map(Parsed::new).collect();
    if checks.len() > 1 && parsed.iter().all(Option::is_some) {
        let all: Vec<&Parsed> = parsed.iter().flatten().collect();
        if Parsed::hold_together(&all) {
            return vec![true; checks.len()];
        }
    }
    parsed
        .iter()
        .map(|parsed| parsed.as_ref().is_some_and(Parsed::holds))
        .collect()
}

/// Signers' keys as points (`None`: not a valid, non-weak point), kept
/// between batches: decompressing a key costs about as much as decompressing
/// `R`, a third or more of a signature's share of a batch, and the same
/// signers sign again and again. The point is a function of the key's bytes
/// alone, so remembering it changes no verdict.
static KEY_POINTS: LazyLock<BoundedMap<PublicKeyBytes, Option<EdwardsPoint>>> =
    LazyLock::new(BoundedMap::default);

fn key_point(key: &PublicKeyBytes) -> Option<EdwardsPoint> {
    KEY_POINTS.get_or_make(key, || {
        acceptable_public_key(key).ok().map(|key| key.to_edwards())
    })
}

/// A signature's points and scalars, decoded and hashed.
struct Parsed {
    /// The signer's key, as signed (names `a` in a batch).
    key: PublicKeyBytes,
    a: EdwardsPoint,
    r: EdwardsPoint,
    s: Scalar,
    k: Scalar,
}

impl Parsed {
    /// `None` when the signature cannot be valid (the key not an
    /// acceptable point, not 64 bytes, `s` not canonical, `R` not a point
    /// or of small order). `a` is always the point of `key`'s bytes, which
    /// a batch relies on to name a signer by its bytes.
    fn new(check: &SignatureCheck<'_>) -> Option<Parsed> {
        let a = key_point(check.key)?;
        let signature: &[u8; 64] = check.signature.try_into().ok()?;
        let (r_bytes, s_bytes) = signature.split_at(32);
        let s_bytes: [u8; 32] = s_bytes.try_into().ok()?;
        let s = Option::<Scalar>::from(Scalar::from_canonical_bytes(s_bytes))?;
        let r = CompressedEdwardsY::from_slice(r_bytes).ok()?.decompress()?;
        if r.is_small_order() {
            return None;
        }
        let hash = Sha512::new()
            .chain_update(r_bytes)
            .chain_update(check.key.0)
            .chain_update(check.message)
            .finalize();
        let k = Scalar::from_bytes_mod_order_wide(&hash.into());
        Some(Parsed {
            key: *check.key,
            a,
            r,
            s,
            k,
        })
    }

    /// `[8]([s]B - R - [k]A) = 0`.
    fn holds(&self) -> bool {
        (EdwardsPoint::vartime_double_scalar_mul_basepoint(&-self.k, &self.a, &self.s) - self.r)
            .mul_by_cofactor()
            .is_identity()
    }

    /// `[8](-(Σ z·s)B + Σ z·R + Σ (z·k)A) = 0` for random 128-bit `z`: holds
    /// for a batch of valid signatures, and fails (but for a chance of about
    /// 2^-128) when one of them does not hold alone.
    ///
    /// One signer's terms are added up first, `Σ (z·k)A = (Σ z·k)A`, from
    /// one point per signer instead of one per signature: a request's
    /// events are usually one donor's, and a batch of them is then about
    /// half as many points to multiply. With scalars reduced mod l the two
    /// sides may differ by a multiple of `l·A`, a torsion point when `A`
    /// has a torsion component (such keys are accepted: only small-order
    /// ones are weak); multiplied by the cofactor, as the equation is, they
    /// are the same point, so the verdict is the same.
    fn hold_together(all: &[&Parsed]) -> bool {
        let mut rng = rand::thread_rng();
        let zs: Vec<Scalar> = all
            .iter()
            .map(|_| Scalar::from(rng.gen::<u128>()))
            .collect();
        let b: Scalar = all.iter().zip(&zs).map(|(p, z)| z * p.s).sum();
        let mut signers: Vec<(EdwardsPoint, Scalar)> = Vec::new();
        let mut signer_of: HashMap<&PublicKeyBytes, usize> = HashMap::new();
        for (p, z) in all.iter().zip(&zs) {
            let at = *signer_of.entry(&p.key).or_insert_with(|| {
                signers.push((p.a, Scalar::ZERO));
                signers.len() - 1
            });
            signers[at].1 += z * p.k;
        }
        let scalars = std::iter::once(-b)
            .chain(zs.iter().copied())
            .chain(signers.iter().map(|(_, sum)| *sum));
        let points = std::iter::once(ED25519_BASEPOINT_POINT)
            .chain(all.iter().map(|p| p.r))
            .chain(signers.iter().map(|(a, _)| *a));
        EdwardsPoint::vartime_multiscalar_mul(scalars, points)
            .mul_by_cofactor()
            .is_identity()
    }
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

    /// A signature of `message` by the secret scalar `a` whose `R` carries
    /// a torsion component of order 8: valid under the cofactored equation,
    /// invalid under the cofactorless one.
    fn with_torsion_r(a: Scalar, message: &[u8]) -> (PublicKeyBytes, [u8; 64]) {
        let public = PublicKeyBytes((ED25519_BASEPOINT_POINT * a).compress().to_bytes());
        let r = Scalar::from(0x1234_5678_9abc_u64);
        let r_point = ED25519_BASEPOINT_POINT * r + curve25519_dalek::constants::EIGHT_TORSION[1];
        (public, signed_as(&public, a, r, r_point, message))
    }

    /// The signature `(R, r + k·a)` with `k = SHA-512(R || A || message)`,
    /// `A` as `public`'s bytes: what an RFC 8032 signer computes, for points
    /// of our choosing.
    fn signed_as(
        public: &PublicKeyBytes,
        a: Scalar,
        r: Scalar,
        r_point: EdwardsPoint,
        message: &[u8],
    ) -> [u8; 64] {
        let r_bytes = r_point.compress().to_bytes();
        let hash = Sha512::new()
            .chain_update(r_bytes)
            .chain_update(public.0)
            .chain_update(message)
            .finalize();
        let k = Scalar::from_bytes_mod_order_wide(&hash.into());
        let mut signature = [0u8; 64];
        signature[..32].copy_from_slice(&r_bytes);
        signature[32..].copy_from_slice((r + k * a).as_bytes());
        signature
    }

    /// Valid one by one and in batches, on every one of 64 tries (each
    /// batch draws new random `z`).
    fn holds_every_time(checks: &[SignatureCheck<'_>]) {
        for check in checks {
            assert!(verify_signature(check.key, check.message, check.signature));
        }
        for _ in 0..64 {
            assert!(batch_holds(checks));
            assert_eq!(verify_signatures(checks), vec![true; checks.len()]);
        }
    }

    #[test]
    fn a_torsion_crafted_signature_gets_the_same_verdict_alone_and_in_batches_every_time() {
        let message = signed_bytes(&chain(), b"crafted");
        let (crafted_key, crafted) = with_torsion_r(Scalar::from(987_654_321_u64), &message);
        // The cofactorless check (ed25519-dalek's verify_strict) refuses it:
        // the case is real, not an ordinary valid signature.
        let dalek = VerifyingKey::from_bytes(&crafted_key.0).expect("a point");
        assert!(dalek
            .verify_strict(&message, &ed25519_dalek::Signature::from_bytes(&crafted))
            .is_err());
        let mut broken = crafted;
        broken[40] ^= 1;
        let honest = KeyPair::from_seed([7; 32]);
        let (honest_signature, _) = honest.sign(&chain(), b"crafted");
        let honest_key = honest.public();
        for _ in 0..64 {
            let checks = [
                SignatureCheck {
                    key: &honest_key,
                    message: &message,
                    signature: &honest_signature,
                },
                SignatureCheck {
                    key: &crafted_key,
                    message: &message,
                    signature: &crafted,
                },
            ];
            assert_eq!(verify_signatures(&checks), vec![true, true]);
            assert_eq!(verify_signatures(&checks[1..]), vec![true]);
            let with_broken = [
                SignatureCheck {
                    key: &crafted_key,
                    message: &message,
                    signature: &broken,
                },
                SignatureCheck {
                    key: &honest_key,
                    message: &message,
                    signature: &honest_signature,
                },
            ];
            assert_eq!(verify_signatures(&with_broken), vec![false, true]);
        }
    }

    #[test]
    fn a_small_order_r_or_a_non_canonical_s_is_refused() {
        let key = KeyPair::from_seed([3; 32]);
        let public = key.public();
        let message = signed_bytes(&chain(), b"body");
        let (good, _) = key.sign(&chain(), b"body");
        let mut small_r = good;
        small_r[..32].copy_from_slice(
            curve25519_dalek::constants::EIGHT_TORSION[2]
                .compress()
                .as_bytes(),
        );
        let mut big_s = good;
        big_s[63] |= 0xf0;
        for signature in [&small_r, &big_s, &good[..63]] {
            assert_eq!(
                verify_signatures(&[SignatureCheck {
                    key: &public,
                    message: &message,
                    signature,
                }]),
                vec![false]
            );
        }
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

    /// `Parsed::hold_together` itself, not `verify_signatures` (whose
    /// one-by-one fallback would hide a batch equation that always fails).
    fn batch_holds(checks: &[SignatureCheck<'_>]) -> bool {
        let parsed: Vec<Parsed> = checks
            .iter()
            .map(|check| Parsed::new(check).expect("parses"))
            .collect();
        Parsed::hold_together(&parsed.iter().collect::<Vec<_>>())
    }

    #[test]
    fn one_signers_terms_added_up_give_the_verdicts_of_each_signature() {
        let donor = KeyPair::from_seed([9; 32]);
        let other = KeyPair::from_seed([10; 32]);
        let bodies: Vec<Vec<u8>> = (0..6u8).map(|i| vec![i; 20]).collect();
        let messages: Vec<Vec<u8>> = bodies.iter().map(|b| signed_bytes(&chain(), b)).collect();
        // Five of the donor's signatures and one of another signer, between them.
        let signers = [&donor, &donor, &other, &donor, &donor, &donor];
        let publics: Vec<PublicKeyBytes> = signers.iter().map(|k| k.public()).collect();
        let mut signatures: Vec<[u8; 64]> = signers
            .iter()
            .zip(&bodies)
            .map(|(k, b)| k.sign(&chain(), b).0)
            .collect();
        let valid = checks_of(&publics, &messages, &signatures);
        assert!(batch_holds(&valid), "a valid batch holds");
        assert_eq!(verify_signatures(&valid), vec![true; 6]);
        // One of the donor's signatures broken: the batch fails and names it.
        let mut one_bad = signatures.clone();
        one_bad[3][40] ^= 1;
        let one_bad = checks_of(&publics, &messages, &one_bad);
        assert!(!batch_holds(&one_bad));
        assert_eq!(
            verify_signatures(&one_bad),
            vec![true, true, true, false, true, true]
        );
        // Two of the donor's valid signatures swapped between their
        // messages: each term is wrong, and so is their sum.
        signatures.swap(3, 4);
        let swapped = checks_of(&publics, &messages, &signatures);
        assert!(!batch_holds(&swapped));
        assert_eq!(
            verify_signatures(&swapped),
            vec![true, true, true, false, false, true]
        );
    }

    fn checks_of<'a>(
        publics: &'a [PublicKeyBytes],
        messages: &'a [Vec<u8>],
        signatures: &'a [[u8; 64]],
    ) -> Vec<SignatureCheck<'a>> {
        (0..signatures.len())
            .map(|i| SignatureCheck {
                key: &publics[i],
                message: &messages[i],
                signature: &signatures[i],
            })
            .collect()
    }

    #[test]
    fn one_signers_torsion_crafted_signatures_hold_in_a_batch_every_time() {
        let a = Scalar::from(123_456_789_u64);
        let messages: Vec<Vec<u8>> = (0..3u8).map(|i| signed_bytes(&chain(), &[i; 8])).collect();
        let crafted: Vec<(PublicKeyBytes, [u8; 64])> =
            messages.iter().map(|m| with_torsion_r(a, m)).collect();
        let honest = KeyPair::from_seed([11; 32]);
        let (honest_signature, _) = honest.sign(&chain(), b"honest");
        let honest_message = signed_bytes(&chain(), b"honest");
        let honest_key = honest.public();
        let mut checks: Vec<SignatureCheck<'_>> = crafted
            .iter()
            .zip(&messages)
            .map(|((key, signature), message)| SignatureCheck {
                key,
                message,
                signature,
            })
            .collect();
        checks.push(SignatureCheck {
            key: &honest_key,
            message: &honest_message,
            signature: &honest_signature,
        });
        holds_every_time(&checks);
    }

    #[test]
    fn a_signer_whose_key_has_a_torsion_component_holds_in_a_batch_every_time() {
        // A = aB + T: not of small order, so accepted; its signatures hold
        // under the cofactored equation, and adding up its terms mod l may
        // leave a multiple of l·A = l·T, which the cofactor removes.
        let a = Scalar::from(555_555_u64);
        let torsion = curve25519_dalek::constants::EIGHT_TORSION[1];
        let key = PublicKeyBytes(
            (ED25519_BASEPOINT_POINT * a + torsion)
                .compress()
                .to_bytes(),
        );
        let signed: Vec<(Vec<u8>, [u8; 64])> = (0..5u8)
            .map(|i| {
                let message = signed_bytes(&chain(), &[i; 12]);
                let r = Scalar::from(1_000 + u64::from(i));
                let signature = signed_as(&key, a, r, ED25519_BASEPOINT_POINT * r, &message);
                (message, signature)
            })
            .collect();
        let checks: Vec<SignatureCheck<'_>> = signed
            .iter()
            .map(|(message, signature)| SignatureCheck {
                key: &key,
                message,
                signature,
            })
            .collect();
        holds_every_time(&checks);
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
