//! Cosigned checkpoints: every other voter's signed checkpoint of the same
//! tree size, asked over its own `Ledger.GetCheckpoint` (with the size), so
//! that the checkpoint a node serves carries each voter's signature. A
//! voter signs only what its own tree holds: a checkpoint with a majority
//! of the voters' signatures is the cluster's statement, which no single
//! node (the leader included) can make alone. Also each member's log key
//! as it last answered, for `tansiq cluster status`.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use tansiq_ledger::limits::COSIGN_WAIT;
use tansiq_ledger::replication::NodeId;
use tansiq_ledger::sync::lock_whole;
use tansiq_proto::v1 as pb;
use tansiq_proto::v1::ledger_client::LedgerClient;
use tokio::task::JoinSet;
use tonic::transport::Channel;
use tonic::Request;

use super::members::Members;
use crate::tls::{self, Tls};

/// The voters this node asks for their signatures.
pub(super) struct Cosigners {
    members: Arc<Members>,
    /// This node's client identity towards them (None: plaintext).
    tls: Option<Tls>,
    /// A channel per address, made once.
    channels: Mutex<BTreeMap<String, Channel>>,
    /// Each member's log key, as it last answered (this node's own too).
    keys: Mutex<BTreeMap<NodeId, String>>,
}

impl Cosigners {
    pub(super) fn new(members: Arc<Members>, tls: Option<Tls>) -> Self {
        Cosigners {
            members,
            tls,
            channels: Mutex::default(),
            keys: Mutex::default(),
        }
    }

    /// Records this node's own log key.
    pub(super) fn own_key(&self, key: &str) {
        lock_whole(&self.keys).insert(self.members.node_id, key.to_owned());
    }

    /// Each member's log key as it last answered.
    pub(super) fn keys(&self) -> BTreeMap<NodeId, String> {
        lock_whole(&self.keys).clone()
    }

    /// Every other voter's signed checkpoint of the tree of `size` (its
    /// note and verifier key), of those that answer in time, by node id;
    /// the others are logged (a checkpoint then carries fewer signatures).
    pub(super) async fn checkpoints(&self, size: u64) -> Vec<(Vec<u8>, String)> {
        let mut asks = JoinSet::new();
        for (id, address) in self.members.other_voters() {
            let channel = match self.channel(&address) {
                Ok(channel) => channel,
                Err(status) => {
                    tracing::warn!(node = id, %address, error = %status.message(), "cannot reach a voter for its checkpoint signature");
                    continue;
                }
            };
            asks.spawn(async move {
                let mut client = LedgerClient::new(channel);
                let mut request = Request::new(pb::GetCheckpointRequest { size });
                request.set_timeout(COSIGN_WAIT + std::time::Duration::from_secs(1));
                (id, address, client.get_checkpoint(request).await)
            });
        }
        let mut answers = BTreeMap::new();
        while let Some(joined) = asks.join_next().await {
            match joined {
                Ok((id, _, Ok(answer))) => {
                    let answer = answer.into_inner();
                    lock_whole(&self.keys).insert(id, answer.verifier_key.clone());
                    answers.insert(id, (answer.note, answer.verifier_key));
                }
                Ok((id, address, Err(status))) => tracing::info!(
                    node = id,
                    %address,
                    size,
                    error = %status.message(),
                    "a voter gave no signature for this checkpoint; it carries the others'"
                ),
                Err(error) => tracing::warn!(%error, "a checkpoint signature request failed"),
            }
        }
        answers.into_values().collect()
    }

    fn channel(&self, address: &str) -> Result<Channel, tonic::Status> {
        let mut channels = lock_whole(&self.channels);
        if let Some(channel) = channels.get(address) {
            return Ok(channel.clone());
        }
        let channel = tls::endpoint(address, self.tls.as_ref())?
            .connect_timeout(std::time::Duration::from_secs(2))
            .connect_lazy();
        channels.insert(address.to_owned(), channel.clone());
        Ok(channel)
    }
}
