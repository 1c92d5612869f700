//! Key encodings: text keys, versioned keys, key-chain keys, and the
//! decoding of stored values.

use crate::ids::{EventId, HeadHash, LogPosition, PublicKeyBytes};

use super::error::StoreError;
use super::records::{LogRecord, Tip};

pub(crate) const META_GENESIS: &[u8] = b"genesis";
pub(crate) const META_TIP: &[u8] = b"tip";
/// The store's format version (absent: format 1, before it was recorded).
pub(crate) const META_FORMAT: &[u8] = b"format_version";
/// How many log entries the Merkle tree holds (u64, big-endian): the log's
/// position once the tree has caught up with it.
pub(crate) const META_TREE_SIZE: &[u8] = b"tree_size";

pub(crate) fn key_sequence_key(key: &PublicKeyBytes, sequence: u64) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(72);
    bytes.extend_from_slice(key.as_bytes());
    bytes.extend_from_slice(&sequence.to_be_bytes());
    bytes
}

pub(crate) fn decode_tip(bytes: &[u8]) -> Result<Tip, StoreError> {
    if bytes.len() != 40 {
        return Err(StoreError::Corrupt(format!(
            "tip is {} bytes, expected 40",
            bytes.len()
        )));
    }
    Ok(Tip {
        position: LogPosition(u64::from_be_bytes(
            bytes[..8].try_into().expect("invariant: sliced 8 bytes"),
        )),
        head: HeadHash::from_slice(&bytes[8..]).map_err(|e| StoreError::Corrupt(e.to_string()))?,
    })
}

/// The bytes of a log record: event id, head, commit time. Since store
/// format 4 a log entry's value is these, then its event's envelope.
pub(crate) const LOG_RECORD_BYTES: usize = 72;

pub(crate) fn decode_log(position: LogPosition, bytes: &[u8]) -> Result<LogRecord, StoreError> {
    if bytes.len() < LOG_RECORD_BYTES {
        return Err(StoreError::Corrupt(format!(
            "log record {position} is {} bytes, expected at least {LOG_RECORD_BYTES}",
            bytes.len()
        )));
    }
    Ok(LogRecord {
        position,
        event_id: EventId::from_slice(&bytes[..32])
            .map_err(|e| StoreError::Corrupt(e.to_string()))?,
        head: HeadHash::from_slice(&bytes[32..64])
            .map_err(|e| StoreError::Corrupt(e.to_string()))?,
        committed_at_ms: i64::from_be_bytes(
            bytes[64..72].try_into().expect("invariant: sliced 8 bytes"),
        ),
    })
}

/// A key of text parts, each followed by a 0 byte (P-codes, sector codes and
/// ids hold no 0 byte), so that a prefix of parts is a key prefix.
pub(crate) fn text_key(parts: &[&str]) -> Vec<u8> {
    let mut key = Vec::new();
    for part in parts {
        key.extend_from_slice(part.as_bytes());
        key.push(0);
    }
    key
}

/// `text_key` parts followed by a big-endian log position.
pub(crate) fn versioned_key(parts: &[&str], position: LogPosition) -> Vec<u8> {
    let mut key = text_key(parts);
    key.extend_from_slice(&position.0.to_be_bytes());
    key
}

pub(crate) fn split_text_key(key: &[u8]) -> Vec<String> {
    key.strip_suffix(&[0])
        .unwrap_or(key)
        .split(|byte| *byte == 0)
        .map(|part| String::from_utf8_lossy(part).into_owned())
        .collect()
}
