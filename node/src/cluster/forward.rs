//! Reaching the leader from a node that does not lead: one channel to the
//! leader's gRPC address, reused while it stays the leader; a client's
//! submission forwarded, unchecked, to the leader's Ledger service (which
//! checks it); and which gRPC codes mean "not reached, retry" rather than
//! "refused".

use std::sync::Mutex;
use std::time::Duration;

use tansiq_proto::v1 as pb;
use tansiq_proto::v1::ledger_client::LedgerClient;
use tonic::transport::Channel;
use tonic::{Request, Status};

use crate::tls::{self, Tls};
use tansiq_ledger::limits::PROPOSAL_DECISION_TIMEOUT;
use tansiq_ledger::sync::lock_whole;

/// This node's way to the leader's gRPC services.
pub(super) struct Forwarder {
    /// This node's client identity towards the leader (None: plaintext).
    tls: Option<Tls>,
    leader_channel: Mutex<Option<(String, Channel)>>,
}

impl Forwarder {
    pub(super) fn new(tls: Option<Tls>) -> Self {
        Forwarder {
            tls,
            leader_channel: Mutex::new(None),
        }
    }

    /// A channel to the leader's gRPC address, reused while the leader stays.
    pub(super) fn channel_to(&self, leader: &str) -> Result<Channel, Status> {
        let mut cached = lock_whole(&self.leader_channel);
        if let Some((address, channel)) = cached.as_ref() {
            if address == leader {
                return Ok(channel.clone());
            }
        }
        let channel = tls::endpoint(leader, self.tls.as_ref())?
            .connect_timeout(Duration::from_secs(2))
            .connect_lazy();
        *cached = Some((leader.to_owned(), channel.clone()));
        Ok(channel)
    }

    /// Forwards a submission to the leader's Ledger service.
    pub(super) async fn forward(
        &self,
        leader: &str,
        events: Vec<pb::SignedEvent>,
    ) -> Result<Vec<pb::Receipt>, Status> {
        let mut client = LedgerClient::new(self.channel_to(leader)?)
            .max_decoding_message_size(tansiq_ledger::limits::REQUEST_BYTES_MAX)
            .max_encoding_message_size(tansiq_ledger::limits::REQUEST_BYTES_MAX);
        let mut request = Request::new(pb::SubmitBatchRequest { events });
        request.set_timeout(PROPOSAL_DECISION_TIMEOUT + Duration::from_secs(5));
        match client.submit_batch(request).await {
            Ok(response) => Ok(response.into_inner().receipts),
            Err(status) if retryable(status.code()) => {
                Err(Status::unavailable(format!(
                    "this node is not the leader and cannot reach the leader at {leader} ({}); nothing was written here, retry",
                    status.message()
                )))
            }
            Err(status) => Err(status),
        }
    }
}

/// gRPC codes that mean "not reached / try again", not "refused".
pub(super) fn retryable(code: tonic::Code) -> bool {
    matches!(
        code,
        tonic::Code::Unavailable
            | tonic::Code::Unknown
            | tonic::Code::Cancelled
            | tonic::Code::DeadlineExceeded
            | tonic::Code::Aborted
    )
}
