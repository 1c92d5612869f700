//! The wire form of node-to-node Raft messages: openraft's own request and
//! result types in postcard (a compact serde form; the client requests
//! inside a proposal travel as their protobuf bytes), carried in
//! `tansiq.v1.Cluster`'s `RaftMessage`. The ledger defines no wire format;
//! this is the node's.

use serde::de::DeserializeOwned;
use serde::Serialize;

/// A Raft message (or its answer) as it goes on the wire.
pub fn encode_message<T: Serialize>(value: &T) -> Result<Vec<u8>, postcard::Error> {
    postcard::to_stdvec(value)
}

/// Decodes what [`encode_message`] encoded.
pub fn decode_message<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, postcard::Error> {
    postcard::from_bytes(bytes)
}
