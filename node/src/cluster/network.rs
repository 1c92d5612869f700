//! The openraft network client: a connection per peer, made lazily, over
//! `tansiq.v1.Cluster`. Each Raft message travels as openraft's own type in
//! postcard (`super::wire`), a snapshot
//! chunk's bytes beside it; a peer going out of reach, and coming back, is
//! logged once each. Also the bounds on what a node sends and decodes.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tansiq_ledger::limits::CLUSTER_MESSAGE_BYTES_MAX;

use openraft::error::{
    InstallSnapshotError, NetworkError, RPCError, RaftError, RemoteError, Unreachable,
};
use openraft::network::{RPCOption, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};
use openraft::BasicNode;
use serde::de::DeserializeOwned;
use serde::Serialize;
use tansiq_ledger::replication::{NodeId, TypeConfig};

use super::wire::{decode_message, encode_message};
use tansiq_ledger::sync::lock_whole;
use tansiq_proto::v1 as pb;
use tansiq_proto::v1::cluster_client::ClusterClient;
use tonic::transport::Channel;
use tonic::Request;

use super::members::Peers;
use crate::tls::{self, Tls};

/// Creates a connection per peer; connects lazily.
pub(super) struct Network {
    peers: Peers,
    tls: Option<Tls>,
    unreachable: Unreachables,
}

impl Network {
    /// Reaches each peer at its `--peer` address, else the membership's,
    /// with `tls` as this node's client identity (None: plaintext).
    pub(super) fn new(peers: Peers, tls: Option<Tls>) -> Self {
        Network {
            peers,
            tls,
            unreachable: Arc::default(),
        }
    }
}

/// Peers this node cannot reach, and since when: one log line when a peer
/// goes out of reach and one when it is back, instead of openraft's lines
/// at every retry (silenced by the default log filter, see main.rs).
type Unreachables = Arc<Mutex<BTreeMap<NodeId, std::time::Instant>>>;

/// One peer, as openraft sends it Raft messages.
pub(super) struct Connection {
    target: NodeId,
    address: String,
    tls: Option<Tls>,
    client: Option<ClusterClient<Channel>>,
    unreachable: Unreachables,
}

impl RaftNetworkFactory<TypeConfig> for Network {
    type Network = Connection;

    async fn new_client(&mut self, target: NodeId, node: &BasicNode) -> Connection {
        Connection {
            target,
            address: self
                .peers
                .get(&target)
                .cloned()
                .unwrap_or_else(|| node.addr.clone()),
            tls: self.tls.clone(),
            client: None,
            unreachable: Arc::clone(&self.unreachable),
        }
    }
}

type RpcResult<T, E> = Result<T, RPCError<NodeId, BasicNode, E>>;

impl Connection {
    /// Sends one Raft message and decodes the reply.
    async fn call<Req, Resp, E>(
        &mut self,
        method: Method,
        request: &Req,
        option: &RPCOption,
    ) -> RpcResult<Resp, E>
    where
        Req: Serialize,
        Resp: DeserializeOwned,
        E: std::error::Error + DeserializeOwned,
    {
        let message =
            encode_message(request).map_err(|e| RPCError::Network(NetworkError::new(&e)))?;
        let reply = self.exchange(method, message, option).await;
        self.note_reachability(reply.as_ref().err());
        let reply = reply.map_err(RPCError::Unreachable)?;
        let result: Result<Resp, E> =
            decode_message(&reply).map_err(|e| RPCError::Network(NetworkError::new(&e)))?;
        result.map_err(|e| RPCError::RemoteError(RemoteError::new(self.target, e)))
    }

    /// The reply's message bytes, or why the peer was not reached.
    async fn exchange(
        &mut self,
        mut method: Method,
        message: Vec<u8>,
        option: &RPCOption,
    ) -> Result<Vec<u8>, Unreachable> {
        if self.client.is_none() {
            let endpoint = tls::endpoint(&self.address, self.tls.as_ref())
                .map_err(|e| Unreachable::new(&e))?
                .connect_timeout(Duration::from_millis(500));
            let channel = endpoint.connect().await.map_err(|e| Unreachable::new(&e))?;
            self.client = Some(
                ClusterClient::new(channel)
                    .max_decoding_message_size(CLUSTER_MESSAGE_BYTES_MAX)
                    .max_encoding_message_size(CLUSTER_MESSAGE_BYTES_MAX),
            );
        }
        let client = self.client.as_mut().expect("invariant: connected above");
        let mut payload = pb::RaftPayload {
            message,
            to_node: self.target,
            ..Default::default()
        };
        if let Method::InstallSnapshot(chunk) = &mut method {
            payload.snapshot_chunk = std::mem::take(chunk);
        }
        let mut request = Request::new(payload);
        request.set_timeout(option.hard_ttl());
        let reply = match method {
            Method::AppendEntries => client.append_entries(request).await,
            Method::Vote => client.vote(request).await,
            Method::InstallSnapshot(_) => client.install_snapshot(request).await,
        };
        match reply {
            Ok(reply) => Ok(reply.into_inner().message),
            Err(status) => {
                self.client = None;
                Err(Unreachable::new(&status))
            }
        }
    }

    /// Logs the peer going out of reach, and coming back, once each.
    fn note_reachability(&self, unreachable: Option<&Unreachable>) {
        let mut since = lock_whole(&self.unreachable);
        match unreachable {
            Some(error) => {
                if let std::collections::btree_map::Entry::Vacant(entry) = since.entry(self.target)
                {
                    entry.insert(std::time::Instant::now());
                    tracing::warn!(
                        peer = self.target,
                        address = %self.address,
                        %error,
                        "peer out of reach; retrying every 500 ms (RUST_LOG=info,openraft=debug logs every attempt)"
                    );
                }
            }
            None => {
                if let Some(down_since) = since.remove(&self.target) {
                    tracing::info!(
                        peer = self.target,
                        address = %self.address,
                        out_of_reach_s = down_since.elapsed().as_secs(),
                        "peer reachable again"
                    );
                }
            }
        }
    }
}

enum Method {
    AppendEntries,
    Vote,
    /// With the snapshot chunk's bytes.
    InstallSnapshot(Vec<u8>),
}

impl RaftNetwork<TypeConfig> for Connection {
    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> RpcResult<AppendEntriesResponse<NodeId>, RaftError<NodeId>> {
        self.call(Method::AppendEntries, &rpc, &option).await
    }

    async fn install_snapshot(
        &mut self,
        mut rpc: InstallSnapshotRequest<TypeConfig>,
        option: RPCOption,
    ) -> RpcResult<InstallSnapshotResponse<NodeId>, RaftError<NodeId, InstallSnapshotError>> {
        // The chunk travels as it is, beside the message.
        let chunk = std::mem::take(&mut rpc.data);
        self.call(Method::InstallSnapshot(chunk), &rpc, &option)
            .await
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<NodeId>,
        option: RPCOption,
    ) -> RpcResult<VoteResponse<NodeId>, RaftError<NodeId>> {
        self.call(Method::Vote, &rpc, &option).await
    }
}
