//! The client side of signing: an organisation's key file, and an [`Author`]
//! that numbers, chains and signs its events. Used by the CLI, the demo, tests
//! and benchmarks; docs/PROTOCOL.md describes the same steps for other languages.

use std::path::Path;

use prost::Message;
use serde::{Deserialize, Serialize};
use tansiq_proto::v1 as pb;

use crate::event::Kind;
use crate::ids::{EventId, OrgId, PublicKeyBytes};
use crate::signing::{ChainId, KeyPair};

/// A signing key on disk (JSON): the organisation it signs for and the ed25519 seed, hex.
#[derive(Serialize, Deserialize)]
pub struct KeyFile {
    /// The organisation the key signs for.
    pub org_id: String,
    /// The ed25519 public key, 64 hexadecimal characters.
    pub public_key: String,
    /// The ed25519 seed (RFC 8032 secret key), 64 hexadecimal characters.
    pub secret_key: String,
    /// A note for people (e.g. "TEST KEY"); omitted when empty.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub comment: String,
}

/// Why a key file could not be read or written; names the file.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyFileError {
    /// The file could not be read.
    #[error("cannot read key file {path}: {source}")]
    Read {
        /// The file, as given.
        path: String,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// The file could not be written (it may exist already: it is never overwritten).
    #[error("cannot write key file {path}: {source}")]
    Write {
        /// The file, as given.
        path: String,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// The file is not a key file, or its keys do not match.
    #[error("key file {path} is not a Tansiq key file: {detail}")]
    Invalid {
        /// The file, as given.
        path: String,
        /// What is wrong with it.
        detail: String,
    },
}

impl KeyFile {
    /// The key file of `key`, signing for `org`.
    pub fn new(org: &OrgId, key: &KeyPair, comment: &str) -> KeyFile {
        KeyFile {
            org_id: org.to_string(),
            public_key: key.public().to_hex(),
            secret_key: hex::encode(key.seed()),
            comment: comment.to_owned(),
        }
    }

    /// Reads a key file: its organisation and key. Errs when the file cannot
    /// be read, is not a key file, or its public key is not its secret key's.
    pub fn read(path: &Path) -> Result<(OrgId, KeyPair), KeyFileError> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| KeyFileError::Read {
            path: shown.clone(),
            source,
        })?;
        let invalid = |detail: String| KeyFileError::Invalid {
            path: shown.clone(),
            detail,
        };
        let file: KeyFile = serde_json::from_str(&text).map_err(|e| invalid(e.to_string()))?;
        let org = OrgId::parse(&file.org_id).map_err(|e| invalid(e.to_string()))?;
        let mut seed = [0u8; 32];
        hex::decode_to_slice(&file.secret_key, &mut seed)
            .map_err(|_| invalid("secret_key must be 64 hex characters".into()))?;
        let key = KeyPair::from_seed(seed);
        if key.public().to_hex() != file.public_key.to_lowercase() {
            return Err(invalid("public_key does not match secret_key".into()));
        }
        Ok((org, key))
    }

    /// Writes the file readable by its owner only (0600 on Unix); never overwrites.
    pub fn write(&self, path: &Path) -> Result<(), KeyFileError> {
        use std::io::Write;
        let shown = path.display().to_string();
        let text = serde_json::to_string_pretty(self).expect("invariant: a key file serialises");
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut file = options.open(path).map_err(|source| KeyFileError::Write {
            path: shown.clone(),
            source,
        })?;
        file.write_all(text.as_bytes())
            .and_then(|()| file.write_all(b"\n"))
            .and_then(|()| file.sync_all())
            .map_err(|source| KeyFileError::Write {
                path: shown,
                source,
            })
    }
}

/// An organisation's key with its chain position: signs the key's next events.
pub struct Author {
    /// The organisation the key signs for.
    pub org: OrgId,
    /// The signing key.
    pub key: KeyPair,
    /// The chain the events are signed for.
    pub chain: ChainId,
    next_sequence: u64,
    previous: Option<EventId>,
}

impl Author {
    /// An author whose key has signed `sequence` events, the last being `last_event`.
    pub fn new(
        chain: ChainId,
        org: OrgId,
        key: KeyPair,
        sequence: u64,
        last_event: Option<EventId>,
    ) -> Author {
        Author {
            org,
            key,
            chain,
            next_sequence: sequence + 1,
            previous: last_event,
        }
    }

    /// The key's public key.
    pub fn public(&self) -> PublicKeyBytes {
        self.key.public()
    }

    /// The body of this key's next event.
    pub fn next_body(&self, kind: Kind, created_at_ms: i64) -> pb::EventBody {
        event_body(
            &self.key.public(),
            &self.org,
            self.next_sequence,
            self.previous,
            created_at_ms,
            kind,
        )
    }

    /// Signs the key's next event and advances the chain.
    pub fn sign(&mut self, kind: Kind, created_at_ms: i64) -> (pb::SignedEvent, EventId) {
        let body = self.next_body(kind, created_at_ms).encode_to_vec();
        self.sign_body(body)
    }

    /// Signs encoded body bytes (which must be this key's next event) and advances the chain.
    pub fn sign_body(&mut self, body: Vec<u8>) -> (pb::SignedEvent, EventId) {
        let (signature, id) = self.key.sign(&self.chain, &body);
        self.next_sequence += 1;
        self.previous = Some(id);
        (
            pb::SignedEvent {
                body,
                signature: signature.to_vec(),
            },
            id,
        )
    }

    /// The sequence number the key's next event gets.
    pub fn next_sequence(&self) -> u64 {
        self.next_sequence
    }
}

/// Milliseconds since the Unix epoch, now.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|elapsed| elapsed.as_millis() as i64)
        .unwrap_or_default()
}

/// The body of event `sequence` of `signer`'s chain (after `previous`), for
/// `author`: what is signed (docs/PROTOCOL.md, section 3).
pub fn event_body(
    signer: &PublicKeyBytes,
    author: &OrgId,
    sequence: u64,
    previous: Option<EventId>,
    created_at_ms: i64,
    kind: Kind,
) -> pb::EventBody {
    pb::EventBody {
        signer_key: signer.0.to_vec(),
        author: author.to_string(),
        sequence,
        previous: previous.map(|id| id.0.to_vec()).unwrap_or_default(),
        created_at_ms,
        kind: Some(kind),
    }
}
