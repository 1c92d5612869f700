//! Newtypes for the identifiers the ledger speaks: parsed at the edge, trusted inside.

use std::fmt;

/// blake3 hash of an event's signed bytes (see `signing::signed_bytes`).
#[derive(
    Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub struct EventId(pub [u8; 32]);

/// A log head: `blake3(previous head ‖ event id)`, the genesis hash at position 0.
#[derive(Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct HeadHash(pub [u8; 32]);

/// A 1-based position in the committed log (0 means "before the first event").
#[derive(
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Debug,
    Default,
    serde::Serialize,
    serde::Deserialize,
)]
pub struct LogPosition(pub u64);

/// A 32-byte ed25519 public key, as bytes (validity is checked when verifying).
#[derive(
    Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub struct PublicKeyBytes(pub [u8; 32]);

impl From<[u8; 32]> for PublicKeyBytes {
    fn from(bytes: [u8; 32]) -> Self {
        PublicKeyBytes(bytes)
    }
}

impl From<[u8; 32]> for EventId {
    fn from(bytes: [u8; 32]) -> Self {
        EventId(bytes)
    }
}

impl From<u64> for LogPosition {
    fn from(position: u64) -> Self {
        LogPosition(position)
    }
}

/// A ledger-wide organisation id such as `undp-libya`.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub struct OrgId(String);

/// Error for a malformed identifier; says what was expected.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{what} must be {expected}, got {got:?}")]
#[non_exhaustive]
pub struct IdError {
    /// What was parsed (e.g. "event id").
    pub what: &'static str,
    /// The form it must have.
    pub expected: &'static str,
    /// What was given instead.
    pub got: String,
}

macro_rules! hash_like {
    ($name:ident, $what:literal) => {
        impl $name {
            /// Parses exactly 32 bytes.
            pub fn from_slice(bytes: &[u8]) -> Result<Self, IdError> {
                <[u8; 32]>::try_from(bytes).map(Self).map_err(|_| IdError {
                    what: $what,
                    expected: "32 bytes",
                    got: format!("{} bytes", bytes.len()),
                })
            }
            /// Parses 64 hexadecimal characters.
            pub fn from_hex(text: &str) -> Result<Self, IdError> {
                let mut bytes = [0u8; 32];
                hex::decode_to_slice(text.trim(), &mut bytes).map_err(|_| IdError {
                    what: $what,
                    expected: "64 hexadecimal characters",
                    got: text.to_owned(),
                })?;
                Ok(Self(bytes))
            }
            /// The 64 lowercase hexadecimal characters of the bytes.
            pub fn to_hex(&self) -> String {
                hex::encode(self.0)
            }
            /// The 32 bytes.
            pub fn as_bytes(&self) -> &[u8; 32] {
                &self.0
            }
        }
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.to_hex())
            }
        }
        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), &self.to_hex()[..16])
            }
        }
    };
}

hash_like!(EventId, "event id");
hash_like!(HeadHash, "head hash");
hash_like!(PublicKeyBytes, "public key");

impl HeadHash {
    /// The head after appending `event` to a log whose head is `self`.
    pub fn next(&self, event: &EventId) -> HeadHash {
        let mut hasher = blake3::Hasher::new();
        hasher.update(&self.0);
        hasher.update(&event.0);
        HeadHash(*hasher.finalize().as_bytes())
    }
}

impl LogPosition {
    /// The position after this one.
    pub fn next(self) -> LogPosition {
        LogPosition(self.0 + 1)
    }
}

impl fmt::Display for LogPosition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl OrgId {
    /// Lowercase ASCII letters, digits, '-', '_' and '.', 2 to 64 characters.
    pub fn parse(text: &str) -> Result<Self, IdError> {
        if is_slug(text, 2, 64) {
            Ok(Self(text.to_owned()))
        } else {
            Err(IdError {
                what: "organisation id",
                expected: "2-64 lowercase ASCII letters, digits, '-', '_' or '.'",
                got: text.to_owned(),
            })
        }
    }
    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for OrgId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// True for `min..=max` characters of `[a-z0-9._-]`, starting with a letter or digit.
pub(crate) fn is_slug(text: &str, min: usize, max: usize) -> bool {
    (min..=max).contains(&text.len())
        && text
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-_.".contains(&b))
        && text
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_alphanumeric())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn org_ids_are_slugs() {
        assert!(OrgId::parse("undp-libya").is_ok());
        assert!(OrgId::parse("ministry.ly").is_ok());
        assert!(OrgId::parse("UNDP").is_err());
        assert!(OrgId::parse("-x").is_err());
        assert!(OrgId::parse("a").is_err());
        assert!(OrgId::parse(&"a".repeat(65)).is_err());
    }

    #[test]
    fn hex_round_trip_and_errors() {
        let id = EventId([7; 32]);
        assert_eq!(EventId::from_hex(&id.to_hex()), Ok(id));
        let err = EventId::from_hex("abc").unwrap_err();
        assert_eq!(err.expected, "64 hexadecimal characters");
        assert!(EventId::from_slice(&[0; 31]).is_err());
    }
}
