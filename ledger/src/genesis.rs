//! The genesis: chain id and the ministry's organisation and keys, fixed when a
//! chain is created. Its hash is the log head at position 0.

use prost::Message;
use tansiq_proto::v1 as pb;

use crate::ids::{HeadHash, OrgId, PublicKeyBytes};
use crate::signing::{acceptable_public_key, ChainId};

/// A decoded, checked genesis with the exact bytes it was made from.
#[derive(Clone, Debug)]
pub struct Genesis {
    pub chain: ChainId,
    pub ministry: OrgId,
    pub ministry_keys: Vec<PublicKeyBytes>,
    pub message: pb::Genesis,
    /// The protobuf encoding that `hash` covers.
    pub bytes: Vec<u8>,
    /// blake3 of `bytes`: the log head at position 0.
    pub hash: HeadHash,
}

#[derive(Debug, thiserror::Error)]
pub enum GenesisError {
    #[error("genesis is not a protobuf Genesis: {0}")]
    Decode(#[from] prost::DecodeError),
    #[error("genesis: {0}")]
    Id(#[from] crate::ids::IdError),
    #[error("genesis: {0}")]
    Key(#[from] crate::signing::KeyError),
    #[error("genesis names no ministry key")]
    NoMinistryKey,
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
        let message = pb::Genesis {
            chain_id: chain.to_string(),
            ministry_org_id: ministry.to_string(),
            ministry_name: Some(ministry_name),
            ministry_keys: keys.iter().map(|key| key.0.to_vec()).collect(),
            created_at_ms,
        };
        Genesis::decode(&message.encode_to_vec())
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
    pub chain_id: String,
    pub ministry_org_id: String,
    #[serde(default)]
    pub ministry_name_arabic: String,
    #[serde(default)]
    pub ministry_name_latin: String,
    pub ministry_keys: Vec<String>,
    pub created_at_ms: i64,
}

#[derive(Debug, thiserror::Error)]
pub enum GenesisFileError {
    #[error("cannot read genesis file {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("genesis file {path} is not valid: {detail}")]
    Invalid { path: String, detail: String },
}

impl GenesisFile {
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

    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("invariant: a genesis file serialises")
    }
}
