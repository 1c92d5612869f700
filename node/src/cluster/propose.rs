//! The leader's proposer: submissions wait in a bounded queue; the proposal
//! loop takes what arrived meanwhile, decodes it and checks its signatures
//! together (bad input never reaches the log), refuses a request whose
//! signer the applied state already refuses, and proposes the rest as one
//! Raft entry; each request is then answered with its outcome at apply.

use std::sync::{Arc, Mutex};
use tansiq_ledger::limits::{
    PROPOSAL_BYTES_MAX, PROPOSAL_DECISION_TIMEOUT, PROPOSAL_EVENTS_MAX, PROPOSAL_QUEUE_MAX,
};

use openraft::error::{ClientWriteError, RaftError};
use openraft::BasicNode;
use tansiq_ledger::append::{keys_introduced, SignerCheckError};
use tansiq_ledger::author::now_ms;
use tansiq_ledger::event::{admit_noting, VerifiedHere};
use tansiq_ledger::ids::PublicKeyBytes;
use tansiq_ledger::replication::{AppliedOutcome, NodeId, Proposal, TypeConfig};
use tansiq_ledger::store::StorageFault;
use tansiq_ledger::sync::lock_whole;
use tansiq_ledger::{Ledger, Receipt};
use tansiq_proto::v1 as pb;
use tokio::sync::{mpsc, oneshot};

use super::members::Members;
use crate::committer::SubmitError;
use crate::recovery::StorageFailure;

/// A submission waiting to be proposed.
pub(super) struct Pending {
    events: Vec<pb::SignedEvent>,
    reply: oneshot::Sender<Result<Vec<Receipt>, SubmitError>>,
}

type ProposalReplies = Vec<oneshot::Sender<Result<Vec<Receipt>, SubmitError>>>;

/// Where a submission is handed to the proposal loop.
pub(super) struct Proposer {
    proposals: mpsc::Sender<Pending>,
}

/// The proposal loop's end of the queue.
pub(super) type ProposalQueue = mpsc::Receiver<Pending>;

impl Proposer {
    /// The proposer and its queue, bounded by [`PROPOSAL_QUEUE_MAX`]: give
    /// the queue to [`propose_loop`].
    pub(super) fn new() -> (Proposer, ProposalQueue) {
        let (proposals, queue) = mpsc::channel(PROPOSAL_QUEUE_MAX);
        (Proposer { proposals }, queue)
    }

    /// Submissions waiting for the proposal loop.
    pub(super) fn queued(&self) -> usize {
        self.proposals.max_capacity() - self.proposals.capacity()
    }

    /// Checks a request's signatures (bad input never reaches the log), then
    /// commits it through Raft together with the requests that arrived
    /// meanwhile, as one entry.
    pub(super) async fn propose(
        &self,
        events: Vec<pb::SignedEvent>,
    ) -> Result<Vec<Receipt>, SubmitError> {
        let received = std::time::Instant::now();
        let (reply, receipt) = oneshot::channel();
        self.proposals
            .send(Pending { events, reply })
            .await
            .map_err(|_| SubmitError::ShuttingDown)?;
        let answered = receipt.await.map_err(|_| SubmitError::ShuttingDown)?;
        let recorded = match &answered {
            Ok(receipts) => Some(Ok(receipts.as_slice())),
            Err(SubmitError::Rejected(rejection)) => Some(Err(rejection)),
            Err(_) => None,
        };
        if let Some(outcome) = recorded {
            crate::exposition::EXPORTED.record_request(outcome, received.elapsed());
        }
        answered
    }
}

/// Takes the submissions waiting, verifies them together and proposes the
/// valid ones as one Raft entry; the next batch is gathered while this one
/// replicates (each proposal is awaited on its own task). The keys of the
/// proposals in flight ([`InFlightKeys`]) are the loop's own.
pub(super) async fn propose_loop(
    members: Arc<Members>,
    ledger: Arc<Ledger>,
    mut queue: ProposalQueue,
    verified_here: Arc<VerifiedHere>,
) {
    let chain = ledger.chain().clone();
    let in_flight = Arc::new(InFlightKeys::default());
    let mut held_back: Option<Pending> = None;
    loop {
        let first = match held_back.take() {
            Some(pending) => pending,
            None => match queue.recv().await {
                Some(pending) => pending,
                None => break,
            },
        };
        let mut batch = vec![first];
        let mut events = batch[0].events.len();
        let mut bytes = request_bytes(&batch[0].events);
        while events < PROPOSAL_EVENTS_MAX {
            match queue.try_recv() {
                Ok(pending) if bytes + request_bytes(&pending.events) > PROPOSAL_BYTES_MAX => {
                    held_back = Some(pending);
                    break;
                }
                Ok(pending) => {
                    events += pending.events.len();
                    bytes += request_bytes(&pending.events);
                    batch.push(pending);
                }
                Err(_) => break,
            }
        }
        let chain = chain.clone();
        let ledger = Arc::clone(&ledger);
        let verified_here = Arc::clone(&verified_here);
        let introduced = in_flight.keys();
        let log_ahead_of_apply = members.log_ahead_of_apply();
        let checked = tokio::task::spawn_blocking(move || {
            // Verified here, and noted: not verified again when applied here.
            let mut requests = admit_noting(
                &chain,
                batch.iter().map(|pending| pending.events.clone()),
                &verified_here,
            );
            for request in requests.iter_mut() {
                let Ok(events) = request else { continue };
                // A state that cannot be read now (a snapshot being
                // installed) decides nothing: the apply checks again.
                if let Err(SignerCheckError::Refused(rejection)) =
                    ledger.check_signers(events, &introduced)
                {
                    if refuse_before_proposing(&rejection, log_ahead_of_apply) {
                        *request = Err(rejection);
                    }
                }
            }
            (batch, requests)
        })
        .await;
        let Ok((batch, requests)) = checked else {
            tracing::error!("the verification task of a proposal failed");
            continue;
        };
        let mut valid = Vec::with_capacity(batch.len());
        let mut replies: ProposalReplies = Vec::with_capacity(batch.len());
        let mut introducing = Vec::new();
        for (pending, checked) in batch.into_iter().zip(requests) {
            match checked {
                Ok(events) => {
                    introducing
                        .extend(events.iter().flat_map(|event| keys_introduced(&event.kind)));
                    valid.push(pb::SubmitBatchRequest {
                        events: pending.events,
                    });
                    replies.push(pending.reply);
                }
                Err(rejection) => {
                    let _ = pending.reply.send(Err(SubmitError::Rejected(rejection)));
                }
            }
        }
        if valid.is_empty() {
            continue;
        }
        let proposal = Proposal {
            committed_at_ms: now_ms(),
            requests: valid,
        };
        in_flight.add(&introducing);
        let members = Arc::clone(&members);
        let in_flight = Arc::clone(&in_flight);
        tokio::spawn(async move {
            let written = tokio::time::timeout(
                PROPOSAL_DECISION_TIMEOUT,
                members.raft.client_write(proposal),
            )
            .await;
            // Applied here, or not committed: the applied state decides from now on.
            in_flight.remove(&introducing);
            match written {
                Ok(result) => answer(&members, result, replies),
                Err(_) => {
                    for reply in replies {
                        let _ = reply.send(Err(SubmitError::NotDecided(format!(
                            "not committed within {} s: a majority of the voters did not log and apply it in time (a partition, voters down, or a node or its disk overloaded). The entry may still commit; resubmit the same signed events (accepted exactly once by event id), or submit to a node on the majority side",
                            PROPOSAL_DECISION_TIMEOUT.as_secs()
                        ))));
                    }
                }
            }
        });
    }
}

/// Whether the leader refuses a request before proposing it, for a refusal
/// of [`Ledger::check_signers`] on its applied state. A revoked key is
/// refused always (a revocation is for good). An unknown key, or a key of
/// another organisation, could be registered by an entry this node has in
/// its log but not applied yet (a new leader catching up): then the entry's
/// apply decides, as before.
fn refuse_before_proposing(rejection: &tansiq_ledger::Rejection, log_ahead_of_apply: bool) -> bool {
    match rejection.root() {
        tansiq_ledger::Rejection::RevokedKey { .. } => true,
        tansiq_ledger::Rejection::UnknownKey { .. }
        | tansiq_ledger::Rejection::AuthorMismatch { .. } => !log_ahead_of_apply,
        _ => true,
    }
}

/// Keys registered by proposals on their way to the log (proposed, not yet
/// answered): a request they sign may follow them before they apply.
#[derive(Default)]
struct InFlightKeys {
    counts: Mutex<std::collections::HashMap<PublicKeyBytes, usize>>,
}

impl InFlightKeys {
    fn lock(&self) -> std::sync::MutexGuard<'_, std::collections::HashMap<PublicKeyBytes, usize>> {
        lock_whole(&self.counts)
    }

    fn keys(&self) -> std::collections::HashSet<PublicKeyBytes> {
        self.lock().keys().copied().collect()
    }

    /// Counts the keys a proposal registers (taken from its events as they
    /// were decoded for verification); [`Self::remove`] them when answered.
    fn add(&self, introduced: &[PublicKeyBytes]) {
        let mut counts = self.lock();
        for key in introduced {
            *counts.entry(*key).or_default() += 1;
        }
    }

    fn remove(&self, introduced: &[PublicKeyBytes]) {
        let mut counts = self.lock();
        for key in introduced {
            if let Some(count) = counts.get_mut(key) {
                *count -= 1;
                if *count == 0 {
                    counts.remove(key);
                }
            }
        }
    }
}

/// The bytes a request's signed events take in a Raft entry (about).
fn request_bytes(events: &[pb::SignedEvent]) -> usize {
    events.iter().map(prost::Message::encoded_len).sum()
}

type WriteResult = Result<
    openraft::raft::ClientWriteResponse<TypeConfig>,
    RaftError<NodeId, ClientWriteError<NodeId, BasicNode>>,
>;

/// Sends each request of a proposal its outcome.
fn answer(members: &Members, result: WriteResult, replies: ProposalReplies) {
    match result {
        Ok(response) => {
            let mut outcomes = response.data.outcomes.into_iter();
            for reply in replies {
                let outcome = match outcomes.next() {
                    Some(AppliedOutcome::Committed(receipts)) => Ok(receipts),
                    Some(AppliedOutcome::Refused {
                        rejection: Some(rejection),
                        ..
                    }) => Err(SubmitError::Rejected(*rejection)),
                    Some(AppliedOutcome::Refused { message, .. }) => {
                        Err(SubmitError::Storage(StorageFailure::new(
                            StorageFault::Other,
                            format!("refused at apply: {message}"),
                        )))
                    }
                    None => Err(SubmitError::Storage(StorageFailure::new(
                        StorageFault::Other,
                        "the applied entry returned no outcome for this request",
                    ))),
                };
                let _ = reply.send(outcome);
            }
        }
        Err(error) => {
            let to_each = || match &error {
                RaftError::APIError(ClientWriteError::ForwardToLeader(forward)) => members
                    .forward_address(forward)
                    .map_or(SubmitError::NoLeader, SubmitError::Forward),
                RaftError::Fatal(fatal) => SubmitError::ReplicationStopped {
                    failure: StorageFailure::of_stopped_raft(fatal),
                    others: members.other_members(),
                },
                other => SubmitError::Storage(StorageFailure::new(
                    StorageFault::Other,
                    format!("replication: {other}"),
                )),
            };
            for reply in replies {
                let _ = reply.send(Err(to_each()));
            }
        }
    }
}
