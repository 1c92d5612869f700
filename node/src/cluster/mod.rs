//! Replication: openraft over tonic. Node-to-node messages are openraft's own
//! types in postcard (`wire::encode_message`) inside
//! `tansiq.v1.Cluster` RPCs, a snapshot chunk's bytes beside; the storage is
//! `tansiq_ledger::replication` (log and state machine in the ledger's RocksDB).
//!
//! A submission reaching a follower or learner is forwarded, unchecked, to
//! the leader; the leader decodes it and checks its signatures (bad input
//! never reaches the log), batched with what arrived meanwhile into one Raft
//! entry. Every node re-verifies every signature when it applies the entry,
//! but those it verified itself before proposing them (`VerifiedHere`).
//!
//! This folder owns, one concern per file:
//! - `handle`: the node's [`Replication`] handle, which starts Raft, composes
//!   the parts below and routes a client's submission;
//! - `members`: who leads, who votes, and where each member is reached;
//! - `forward`: the way to the leader, and a submission forwarded to it;
//! - `propose`: the leader's proposal queue and loop, and each answer;
//! - `outbox`: a donor site's outbox and its delivery to the leader;
//! - `reads`: the read barrier behind linearizable reads;
//! - `cosign`: the other voters' signatures of a checkpoint, asked for;
//! - `network`: openraft's network client, and the bounds on its messages;
//! - `authorisation`: the ministry's signed authorisation that every
//!   membership change carries, and writes to the ledger first;
//! - `service`: the gated `tansiq.v1.Cluster` service (`ClusterService`);
//!
//! Conversions to and from protobuf are in `node/src/convert.rs`; the
//! parts return plain errors (`OutboxError`, `ReadError`), which
//! `node/src/status.rs` defines and turns into gRPC statuses.
//!
//! The parts sit below `handle` and never name it; `mod.rs` only declares
//! and re-exports.

mod authorisation;
mod cosign;
mod forward;
mod handle;
mod members;
mod network;
mod outbox;
mod propose;
mod reads;
mod service;
pub mod wire;

pub(crate) use handle::ClusterSettings;
pub use handle::Replication;
pub(crate) use service::ClusterService;
