//! The genesis: chain id and the ministry's organisation and keys, fixed when a
//! chain is created. Its hash is the log head at position 0.

use prost::Message;
use tansiq_proto::v1 as pb;

use crate::ids::{HeadHash, OrgId, PublicKeyBytes};
use crate::signing::{acceptable_public_key, ChainId};

/// A decoded, checked genesis with the exact bytes it was made from.
#[derive(Clone, Debug)]
pub struct Genesis {
    /// The chain's id.
    pub chain: ChainId,
    /// The ministry's organisation id.
    pub ministry: OrgId,
    /// The ministry's first signing keys (at least one).
    pub ministry_keys: Vec<PublicKeyBytes>,
    /// The decoded message.
    pub message: pb::Genesis,
    /// The protobuf encoding that `hash` covers.
    pub bytes: Vec<u8>,
    /// blake3 of `bytes`: the log head at position 0.
    pub hash: HeadHash,
}

/// Why a genesis is refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GenesisError {
    /// The bytes are not a protobuf `Genesis`.
    #[error("genesis is not a protobuf Genesis: {0}")]
    Decode(#[from] prost::DecodeError),
    /// The chain id, the ministry's organisation id or a key is malformed.
    #[error("genesis: {0}")]
    Id(#[from] crate::ids::IdError),
    /// A ministry key cannot sign on the ledger.
    #[error("genesis: {0}")]
    Key(#[from] crate::signing::KeyError),
    /// The genesis names no ministry key.
    #[error("genesis names no ministry key")]
    NoMinistryKey,
    /// A new chain's name is not 1 to [`CHAIN_NAME_MAX`] lowercase ASCII
    /// letters, digits or '-'.
    #[error("chain name {0:?}: use 1-{CHAIN_NAME_MAX} lowercase ASCII letters, digits or '-' (e.g. ly-mlg)")]
    ChainName(String),
}

/// Domain of the hash a new chain's id ends with.
pub const CHAIN_ID_DOMAIN: &[u8] = b"tansiq/chain-id/v1";
/// Hex digits of that hash in the chain id (96 bits: no one finds a second
/// genesis with the same id by trying).
pub const CHAIN_SUFFIX_HEX: usize = 24;
/// Longest chain name: name, '-' and the suffix fit the 64 characters of a chain id.
pub const CHAIN_NAME_MAX: usize = 64 - 1 - CHAIN_SUFFIX_HEX;

/// The id of a new chain named `name` whose genesis is `genesis` (its
/// `chain_id` is ignored): `name`, '-', and the first [`CHAIN_SUFFIX_HEX`]
/// hex digits of BLAKE3-256(`CHAIN_ID_DOMAIN` 0x00 name 0x00 G), where G is
/// the genesis' protobuf encoding with `chain_id` empty. Two ledgers whose
/// geneses differ (another ministry key, another creation time) never share
/// a chain id, so neither accepts the other's events: the chain id is in
/// every signed byte string (docs/PROTOCOL.md, section 5).
pub fn derive_chain_id(name: &str, genesis: &pb::Genesis) -> Result<ChainId, GenesisError> {
    let valid = (1..=CHAIN_NAME_MAX).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if !valid {
        return Err(GenesisError::ChainName(name.to_owned()));
    }
    let unnamed = pb::Genesis {
        chain_id: String::new(),
        ..genesis.clone()
    };
    let mut hasher = blake3::Hasher::new();
    hasher.update(CHAIN_ID_DOMAIN);
    hasher.update(&[0]);
    hasher.update(name.as_bytes());
    hasher.update(&[0]);
    hasher.update(&unnamed.encode_to_vec());
    let suffix = &hasher.finalize().to_hex()[..CHAIN_SUFFIX_HEX];
    Ok(ChainId::parse(&format!("{name}-{suffix}"))?)
}

/// The genesis message of `chain_id` (empty: not derived yet).
fn message(
    chain_id: String,
    ministry: &OrgId,
    ministry_name: pb::Names,
    keys: &[PublicKeyBytes],
    created_at_ms: i64,
) -> pb::Genesis {
    pb::Genesis {
        chain_id,
        ministry_org_id: ministry.to_string(),
        ministry_name: Some(ministry_name),
        ministry_keys: keys.iter().map(|key| key.0.to_vec()).collect(),
        created_at_ms,
    }
}

impl Genesis {
    /// A new genesis for `chain` whose ministry holds `keys`.
    pub fn create(
        chain: &ChainId,
        ministry: &OrgId,
        ministry_name: pb::Names,
        keys: &[PublicKeyBytes],
        created_at_ms: i64,
    ) -> Result<Genesis, GenesisError> {
        let message = message(
            chain.to_string(),
            ministry,
            ministry_name,
            keys,
            created_at_ms,
        );
        Genesis::decode(&message.encode_to_vec())
    }

    /// The genesis of a new chain named `name`, its id derived from the rest
    /// ([`derive_chain_id`]).
    pub fn new_chain(
        name: &str,
        ministry: &OrgId,
        ministry_name: pb::Names,
        keys: &[PublicKeyBytes],
        created_at_ms: i64,
    ) -> Result<Genesis, GenesisError> {
        let message = message(String::new(), ministry, ministry_name, keys, created_at_ms);
        let chain = derive_chain_id(name, &message)?;
        Genesis::decode(
            &pb::Genesis {
                chain_id: chain.to_string(),
                ..message
            }
            .encode_to_vec(),
        )
    }

    /// The chain id this genesis should have by [`derive_chain_id`] (with
    /// the name its own id begins with), if its id is not that: a new
    /// ledger is created only from a genesis whose id is derived.
    pub fn underived_chain_id(&self) -> Option<String> {
        let id = self.chain.as_str();
        let name = id
            .len()
            .checked_sub(CHAIN_SUFFIX_HEX + 1)
            .filter(|&end| end > 0 && id.as_bytes()[end] == b'-')
            .map_or(id, |end| &id[..end]);
        let name = &name[..name.len().min(CHAIN_NAME_MAX)];
        match derive_chain_id(name, &self.message) {
            Ok(derived) if derived == self.chain => None,
            Ok(derived) => Some(derived.to_string()),
            Err(error) => Some(error.to_string()),
        }
    }

    /// Decodes and checks genesis bytes.
    pub fn decode(bytes: &[u8]) -> Result<Genesis, GenesisError> {
        let message = pb::Genesis::decode(bytes)?;
        let chain = ChainId::parse(&message.chain_id)?;
        let ministry = OrgId::parse(&message.ministry_org_id)?;
        let mut ministry_keys = Vec::with_capacity(message.ministry_keys.len());
        for key in &message.ministry_keys {
            let key = PublicKeyBytes::from_slice(key)?;
            acceptable_public_key(&key)?;
            ministry_keys.push(key);
        }
        if ministry_keys.is_empty() {
            return Err(GenesisError::NoMinistryKey);
        }
        Ok(Genesis {
            chain,
            ministry,
            ministry_keys,
            hash: HeadHash(*blake3::hash(bytes).as_bytes()),
            bytes: bytes.to_vec(),
            message,
        })
    }
}

/// The JSON form of a genesis, as kept in a data directory (`genesis.json`)
/// and passed to `tansiq-node --genesis`. Keys are hex.
#[derive(serde::Serialize, serde::Deserialize, Debug)]
pub struct GenesisFile {
    /// The chain's id.
    pub chain_id: String,
    /// The ministry's organisation id.
    pub ministry_org_id: String,
    /// The ministry's name in Arabic script.
    #[serde(default)]
    pub ministry_name_arabic: String,
    /// The ministry's name in Latin script.
    #[serde(default)]
    pub ministry_name_latin: String,
    /// The ministry's first signing keys, 64 hexadecimal characters each.
    pub ministry_keys: Vec<String>,
    /// When the genesis was made, ms since the Unix epoch.
    pub created_at_ms: i64,
}

/// Why a genesis file could not be read; names the file.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GenesisFileError {
    /// The file could not be read.
    #[error("cannot read genesis file {path}: {source}")]
    Read {
        /// The file, as given.
        path: String,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// The file is not a genesis file, or its genesis is refused.
    #[error("genesis file {path} is not valid: {detail}")]
    Invalid {
        /// The file, as given.
        path: String,
        /// What is wrong with it.
        detail: String,
    },
}

impl GenesisFile {
    /// The file form of `genesis`.
    pub fn from_genesis(genesis: &Genesis) -> GenesisFile {
        let name = genesis.message.ministry_name.clone().unwrap_or_default();
        GenesisFile {
            chain_id: genesis.chain.to_string(),
            ministry_org_id: genesis.ministry.to_string(),
            ministry_name_arabic: name.arabic,
            ministry_name_latin: name.latin,
            ministry_keys: genesis
                .ministry_keys
                .iter()
                .map(PublicKeyBytes::to_hex)
                .collect(),
            created_at_ms: genesis.message.created_at_ms,
        }
    }

    /// Reads and checks a genesis file.
    pub fn read(path: &std::path::Path) -> Result<Genesis, GenesisFileError> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| GenesisFileError::Read {
            path: shown.clone(),
            source,
        })?;
        let invalid = |detail: String| GenesisFileError::Invalid {
            path: shown.clone(),
            detail,
        };
        let file: GenesisFile = serde_json::from_str(&text).map_err(|e| invalid(e.to_string()))?;
        let chain = ChainId::parse(&file.chain_id).map_err(|e| invalid(e.to_string()))?;
        let ministry = OrgId::parse(&file.ministry_org_id).map_err(|e| invalid(e.to_string()))?;
        let keys = file
            .ministry_keys
            .iter()
            .map(|key| PublicKeyBytes::from_hex(key))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| invalid(e.to_string()))?;
        let name = pb::Names {
            arabic: file.ministry_name_arabic,
            latin: file.ministry_name_latin,
        };
        Genesis::create(&chain, &ministry, name, &keys, file.created_at_ms)
            .map_err(|e| invalid(e.to_string()))
    }

    /// The file's text: pretty-printed JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("invariant: a genesis file serialises")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn genesis(name: &str, created_at_ms: i64) -> Genesis {
        Genesis::new_chain(
            name,
            &OrgId::parse("ministry").expect("org id"),
            pb::Names::default(),
            &[crate::signing::KeyPair::from_seed([1; 32]).public()],
            created_at_ms,
        )
        .expect("genesis")
    }

    #[test]
    fn a_chain_id_is_its_name_and_a_hash_of_the_rest_of_its_genesis() {
        let one = genesis("ly-mlg", 1);
        assert!(one.chain.as_str().starts_with("ly-mlg-"));
        assert_eq!(one.chain.as_str().len(), "ly-mlg-".len() + CHAIN_SUFFIX_HEX);
        assert_eq!(one.underived_chain_id(), None);
        // Anything else in the genesis gives another id.
        assert_ne!(genesis("ly-mlg", 2).chain, one.chain);
        assert_ne!(genesis("ly-mlh", 1).chain, one.chain);
        // The same genesis under another id is not derived; the derived id is named.
        for other in ["ly-mlg", "tansiq-test", "ly-mlg-000000000000000000000000"] {
            let renamed = Genesis::create(
                &ChainId::parse(other).expect("chain id"),
                &one.ministry,
                one.message.ministry_name.clone().unwrap_or_default(),
                &one.ministry_keys,
                1,
            )
            .expect("genesis");
            let expected = renamed.underived_chain_id().expect("not derived");
            assert!(
                expected.ends_with(&one.chain.as_str()[7..]) || other == "tansiq-test",
                "{other}: {expected}"
            );
        }
        let longest = "a".repeat(CHAIN_NAME_MAX);
        assert_eq!(genesis(&longest, 1).chain.as_str().len(), 64);
        assert!(Genesis::new_chain(
            &format!("{longest}a"),
            &one.ministry,
            pb::Names::default(),
            &one.ministry_keys,
            1
        )
        .is_err());
    }
}
