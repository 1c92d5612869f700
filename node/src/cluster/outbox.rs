//! A donor site's outbox: a learner that cannot reach the leader (or that
//! has a backlog) checks a client's request as the leader would, keeps it
//! durably in the bounded outbox of `tansiq_ledger::replication` (once, by
//! event id) and answers "accepted, pending"; the delivery loop hands the
//! outbox to the leader, oldest first, exactly once by event id.

use std::sync::Arc;
use std::time::Duration;

use tansiq_ledger::append::SignerCheckError;
use tansiq_ledger::event::{admit, Signatures};
use tansiq_ledger::ids::EventId;
use tansiq_ledger::replication::{NodeId, Outbox, PushOutcome};
use tansiq_ledger::store::StoreError;
use tansiq_ledger::Ledger;
use tansiq_proto::v1 as pb;
use tokio::sync::Notify;

use super::forward::{retryable, Forwarder};
use super::members::{Members, Route};
use crate::convert::pending_receipt;
use crate::convert::receipt_to_proto;
use crate::status::OutboxError;

/// This node's outbox, in its ledger's store, and the delivery loop's wake-up.
pub(super) struct DonorOutbox {
    node_id: NodeId,
    ledger: Arc<Ledger>,
    /// The requests waiting, oldest first.
    requests: Outbox,
    /// Rung when a request is accepted, so that the loop delivers it at once.
    wake: Notify,
}

impl DonorOutbox {
    pub(super) fn new(node_id: NodeId, ledger: Arc<Ledger>) -> Self {
        DonorOutbox {
            node_id,
            ledger,
            requests: Outbox::new(),
            wake: Notify::new(),
        }
    }

    /// What waits in this node's outbox.
    pub(super) fn waiting(
        &self,
    ) -> Result<tansiq_ledger::replication::outbox::Waiting, OutboxError> {
        self.requests
            .waiting(self.ledger.store())
            .map_err(OutboxError::Storage)
    }

    /// Requests waiting in this node's outbox (0 when it cannot be read).
    pub(super) fn pending(&self) -> u64 {
        self.waiting().map_or(0, |waiting| waiting.requests)
    }

    /// Whether no request waits (an outbox that cannot be read refuses the
    /// client's request: nothing was accepted).
    pub(super) fn is_empty(&self) -> Result<bool, OutboxError> {
        self.requests
            .is_empty(self.ledger.store())
            .map_err(OutboxError::Storage)
    }

    /// A donor site that cannot reach the leader: checks the request as the
    /// leader would before proposing it (signatures; signers registered and
    /// not revoked on this node's replica), keeps it durably in the bounded
    /// outbox (once, by event id) and answers "accepted, pending".
    pub(super) async fn accept_pending(
        self: &Arc<Self>,
        events: Vec<pb::SignedEvent>,
    ) -> Result<Vec<pb::Receipt>, OutboxError> {
        let this = Arc::clone(self);
        let receipts = tokio::task::spawn_blocking(move || {
            let chain = this.ledger.chain().clone();
            let [admitted] = <[_; 1]>::try_from(admit(&chain, [events.clone()], Signatures::Verify))
                .expect("invariant: admit answers once per request");
            let decoded = admitted.map_err(OutboxError::Invalid)?;
            match this.ledger.check_signers(&decoded, &Default::default()) {
                Err(SignerCheckError::Unreadable(error)) => {
                    return Err(OutboxError::ReplicaUnreadable(error))
                }
                Err(SignerCheckError::Refused(rejection)) => {
                    let position = this.ledger.tip().map_or(0, |tip| tip.position.0);
                    return Err(OutboxError::Refused {
                        rejection,
                        position,
                    });
                }
                // Accepted; or a check this node does not know of: the
                // leader and every apply check again.
                _ => {}
            }
            let ids: Vec<EventId> = decoded.iter().map(|event| event.id).collect();
            let store = this.ledger.store();
            // Already committed here: the receipts of the log.
            let mut committed = Vec::with_capacity(ids.len());
            for id in &ids {
                match this.ledger.receipt(id).map_err(OutboxError::Storage)? {
                    Some(receipt) => committed.push(receipt_to_proto(&receipt)),
                    None => break,
                }
            }
            if committed.len() == ids.len() {
                return Ok(committed);
            }
            let waiting = match this
                .requests
                .push(store, &ids, events)
                .map_err(OutboxError::Storage)?
            {
                PushOutcome::Queued => "waiting",
                PushOutcome::AlreadyWaiting => "already waiting",
                PushOutcome::Full { reason } => return Err(OutboxError::Full { reason }),
            };
            let note = format!(
                "accepted by donor-site node {} while the cluster's leader is out of reach; {waiting} in its outbox, delivered and committed when the leader is reachable (resubmitting is safe)",
                this.node_id,
            );
            Ok(ids.iter().map(|id| pending_receipt(id, &note)).collect())
        })
        .await
        .map_err(|error| OutboxError::TaskFailed(error.to_string()))??;
        self.wake.notify_one();
        Ok(receipts)
    }
}

/// Delivers the outbox to the leader, oldest first, one request at a time:
/// removed once the leader answers with receipts (new or duplicate: exactly
/// once by event id) or refuses it; kept and retried while the leader is out
/// of reach.
pub(super) async fn deliver_loop(
    outbox: Arc<DonorOutbox>,
    members: Arc<Members>,
    forwarder: Arc<Forwarder>,
) {
    const RETRY: Duration = Duration::from_millis(500);
    loop {
        let this = Arc::clone(&outbox);
        let first = tokio::task::spawn_blocking(move || this.requests.first(this.ledger.store()))
            .await
            .map_err(|error| StoreError::Corrupt(format!("outbox task failed: {error}")))
            .and_then(|result| result);
        let queued = match first {
            Ok(Some(queued)) => queued,
            Ok(None) => {
                tokio::select! {
                    _ = outbox.wake.notified() => {}
                    _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                }
                continue;
            }
            Err(error) => {
                tracing::error!(%error, "cannot read the outbox");
                tokio::time::sleep(RETRY).await;
                continue;
            }
        };
        let Route::Forward(leader) = members.route() else {
            tokio::time::sleep(RETRY).await;
            continue;
        };
        let chain = outbox.ledger.chain();
        let ids: Vec<EventId> = queued
            .events
            .iter()
            .map(|event| tansiq_ledger::signing::event_id(chain, &event.body))
            .collect();
        match forwarder.forward(&leader, queued.events.clone()).await {
            Ok(receipts) => {
                tracing::info!(
                    events = receipts.len(),
                    position = receipts.last().map_or(0, |r| r.position),
                    "outbox: delivered and committed"
                );
            }
            Err(status) if retryable(status.code()) => {
                tracing::debug!(
                    message = status.message(),
                    "outbox: leader out of reach; will retry"
                );
                tokio::time::sleep(RETRY).await;
                continue;
            }
            Err(status) => {
                tracing::warn!(
                    code = ?status.code(),
                    message = status.message(),
                    events = ids.len(),
                    "outbox: the leader refused a request accepted while it was out of reach; removed from the outbox"
                );
            }
        }
        if let Err(error) = outbox.requests.remove(outbox.ledger.store(), &queued, &ids) {
            tracing::error!(%error, "cannot remove a delivered request from the outbox");
            tokio::time::sleep(RETRY).await;
        }
    }
}
