//! The `tansiq.v1.Interchange` service: plans of bulk imports. The node
//! reads the file as it streams in (constant memory per activity), decides
//! what each activity becomes (`tansiq_ledger::iati::plan`) and compares it
//! with its own state; the donor signs and submits. Nothing is written here.

use std::io::{BufReader, Cursor, Read};
use std::sync::mpsc::{sync_channel, Receiver};
use std::sync::Arc;
use tansiq_ledger::limits::{
    EXPORT_CHUNK_BYTES, PLANS_AT_ONCE, PLAN_ACTIVITIES_MAX, PLAN_BATCH_ACTIVITIES,
    PLAN_CHUNKS_IN_FLIGHT, PLAN_CHUNK_WAIT, PLAN_SIGNATURE_AGE_MAX_MS,
};

use tansiq_ledger::append::Trial;
use tansiq_ledger::author::now_ms;
use tansiq_ledger::iati::export as iati_export;
use tansiq_ledger::iati::plan::{difference, existing, plan, PcodeMap};
use tansiq_ledger::iati::{Activity, Reader};
use tansiq_ledger::ids::{OrgId, PublicKeyBytes};
use tansiq_ledger::signing::{plan_request_bytes, verify_signature};
use tansiq_ledger::store::StoreError;
use tansiq_ledger::{Ledger, Warning};
use tansiq_proto::v1 as pb;
use tonic::{Request, Response, Status, Streaming};

use crate::status::store_status;

pub struct InterchangeService {
    ledger: Arc<Ledger>,
    /// Plans computed at once (each holds a reader thread and its plan).
    plans: Arc<tokio::sync::Semaphore>,
}

impl InterchangeService {
    pub fn new(ledger: Arc<Ledger>) -> Self {
        InterchangeService {
            ledger,
            plans: Arc::new(tokio::sync::Semaphore::new(PLANS_AT_ONCE)),
        }
    }
}

/// The file's bytes as they arrive, for the blocking reader.
struct Chunks {
    receiver: Receiver<Vec<u8>>,
    current: Cursor<Vec<u8>>,
}

impl Read for Chunks {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        loop {
            let n = self.current.read(out)?;
            if n > 0 || out.is_empty() {
                return Ok(n);
            }
            match self.receiver.recv() {
                Ok(next) => self.current = Cursor::new(next),
                Err(_) => return Ok(0),
            }
        }
    }
}

fn plan_file(
    ledger: &Ledger,
    chunks: Chunks,
    org_id: &OrgId,
    signer: PublicKeyBytes,
    map: &PcodeMap,
) -> Result<pb::IatiImportPlan, Status> {
    // Each activity is planned soon after it is read, a few hundred at a
    // time: what the node holds grows with the plan it answers, never with
    // the file (collecting every activity first took +745 MB for a 601 MiB
    // file). `position` is the ledger's position when the last batch was
    // planned.
    let mut reader = Reader::new(BufReader::new(chunks));
    let mut answer = pb::IatiImportPlan::default();
    let mut batch = Vec::with_capacity(PLAN_BATCH_ACTIVITIES);
    let mut read = 0u64;
    // The activities are tried in file order, each after those before it,
    // as the real run submits them: the dry run's answer is the ledger's.
    let mut trial = ledger.trial().map_err(|e| store_status(&e))?;
    let planner = Planner {
        org_id,
        signer,
        map,
    };
    loop {
        let next = reader
            .next()
            .transpose()
            .map_err(|error| Status::invalid_argument(error.to_string()))?;
        let end = next.is_none();
        if let Some(activity) = next {
            read += 1;
            if read > PLAN_ACTIVITIES_MAX {
                return Err(Status::resource_exhausted(format!(
                    "the file holds more than {PLAN_ACTIVITIES_MAX} activities: split it (publishers' files are usually one per country or year)"
                )));
            }
            batch.push(activity);
        }
        if batch.len() == PLAN_BATCH_ACTIVITIES || (end && !batch.is_empty()) {
            let so_far = std::mem::take(&mut answer);
            answer = ledger
                .read(|ledger| planner.plan(ledger, &mut trial, &batch, so_far))
                .map_err(|e| store_status(&e))?;
            batch.clear();
        }
        if end {
            break;
        }
    }
    answer.version = reader.version.clone();
    answer.activities_read = read;
    Ok(answer)
}

/// Who asks for a plan, and how its places are read.
struct Planner<'a> {
    org_id: &'a OrgId,
    signer: PublicKeyBytes,
    map: &'a PcodeMap,
}

impl Planner<'_> {
    /// What importing `activities` would change, against the ledger as it
    /// is after the activities `trial` accepted before them, and what the
    /// ledger would answer to each.
    fn plan(
        &self,
        ledger: &Ledger,
        trial: &mut Trial,
        activities: &[Activity],
        mut answer: pb::IatiImportPlan,
    ) -> Result<pb::IatiImportPlan, StoreError> {
        answer.position = ledger.tip()?.position.0;
        let org_id = self.org_id;
        let store = ledger.store();
        for activity in activities {
            // The ledger's rule, asked here so that a dry run says what the
            // real run would be refused.
            if let Err(detail) = ledger.may_report(org_id.as_str(), &activity.identifier)? {
                answer.skipped.push(pb::SkippedActivity {
                    iati_identifier: activity.identifier.clone(),
                    reason: "reported_by_another_organisation".into(),
                    detail,
                });
                continue;
            }
            let planned = match plan(activity, self.map) {
                Ok(planned) => planned,
                Err(skip) => {
                    answer.skipped.push(pb::SkippedActivity {
                        iati_identifier: activity.identifier.clone(),
                        reason: skip.reason.to_owned(),
                        detail: skip.detail,
                    });
                    continue;
                }
            };
            let current = existing(store, ledger.chain(), &planned.project_id)?;
            if let Some(current) = &current {
                if current.owner != org_id.as_str() {
                    answer.skipped.push(pb::SkippedActivity {
                        iati_identifier: planned.identifier.clone(),
                        reason: "owned_by_another_organisation".into(),
                        detail: format!(
                            "project {} is registered by {}; only its reporting organisation updates it",
                            planned.project_id, current.owner
                        ),
                    });
                    continue;
                }
            }
            let kinds = difference(&planned, current);
            let mut tried = pb::PlannedActivity::default();
            if !kinds.is_empty() {
                match ledger.try_kinds(trial, self.signer, org_id, kinds.clone(), now_ms())? {
                    Ok(receipts) => {
                        tried.pending_review = receipts.iter().any(|r| r.pending_review);
                        tried.warnings = receipts
                            .iter()
                            .flat_map(|r| &r.warnings)
                            .map(Warning::text)
                            .collect();
                    }
                    Err(rejection) => {
                        tried.refusal = rejection.to_string();
                        tried.refusal_reason = rejection.reason().to_owned();
                    }
                }
            }
            answer.activities.push(pb::PlannedActivity {
                iati_identifier: planned.identifier,
                project_id: planned.project_id,
                country_level: planned.country_level,
                bodies: kinds
                    .into_iter()
                    .map(|kind| pb::EventBody {
                        kind: Some(kind),
                        ..pb::EventBody::default()
                    })
                    .collect(),
                notes: planned.notes,
                ..tried
            });
        }
        Ok(answer)
    }
}

/// A plan is computed only for an organisation that asks for it itself: the
/// first chunk is signed by one of its registered, unrevoked keys, recently
/// (planning a large file costs the node a reader and minutes of work; an
/// anonymous client must not be able to take the two plan slots).
fn authenticate_plan(
    ledger: &Ledger,
    org_id: &OrgId,
    first: &pb::IatiImportChunk,
) -> Result<PublicKeyBytes, Status> {
    let how = "sign \"tansiq/plan-iati/v1\" 0x00 chain_id 0x00 org_id 0x00 signed_at_ms (8 bytes, big-endian) with one of the organisation's keys (docs/PROTOCOL.md); the tansiq CLI does it with --key";
    let key = PublicKeyBytes::from_slice(&first.signer_key).map_err(|_| {
        Status::unauthenticated(format!(
            "the first chunk must carry signer_key, signed_at_ms and signature: {how}"
        ))
    })?;
    let age = (now_ms() - first.signed_at_ms).abs();
    if age > PLAN_SIGNATURE_AGE_MAX_MS {
        return Err(Status::unauthenticated(format!(
            "signed_at_ms is {} s from this node's clock (at most {} s): sign the request again",
            age / 1000,
            PLAN_SIGNATURE_AGE_MAX_MS / 1000
        )));
    }
    let message = plan_request_bytes(ledger.chain(), org_id.as_str(), first.signed_at_ms);
    if !verify_signature(&key, &message, &first.signature) {
        return Err(Status::unauthenticated(format!(
            "the plan request's signature does not verify: {how}"
        )));
    }
    let record = ledger
        .read(|ledger| ledger.store().key(&key))
        .map_err(|error| store_status(&error))?;
    match record {
        None => Err(Status::unauthenticated(format!(
            "key {key} is not registered on this ledger"
        ))),
        Some(record) if record.revoked_at.is_some() => {
            Err(Status::permission_denied(format!("key {key} was revoked")))
        }
        Some(record) if record.org_id != org_id.as_str() => Err(Status::permission_denied(
            format!("key {key} belongs to {}, not {org_id}", record.org_id),
        )),
        Some(_) => Ok(key),
    }
}

/// The next chunk of a streamed file; an error when it does not come within
/// [`PLAN_CHUNK_WAIT`] (a stalled upload must not hold a plan slot).
async fn next_chunk(
    stream: &mut Streaming<pb::IatiImportChunk>,
) -> Result<Option<pb::IatiImportChunk>, Status> {
    tokio::time::timeout(PLAN_CHUNK_WAIT, stream.message())
        .await
        .map_err(|_| {
            Status::deadline_exceeded(format!(
                "no chunk of the file arrived for {} s; send it again",
                PLAN_CHUNK_WAIT.as_secs()
            ))
        })?
}

type FileStream =
    std::pin::Pin<Box<dyn tokio_stream::Stream<Item = Result<pb::IatiFileChunk, Status>> + Send>>;

#[tonic::async_trait]
impl pb::interchange_server::Interchange for InterchangeService {
    type ExportIatiStream = FileStream;

    async fn export_iati(
        &self,
        request: Request<pb::ExportIatiRequest>,
    ) -> Result<Response<Self::ExportIatiStream>, Status> {
        let org = request.into_inner().org_id;
        let ledger = Arc::clone(&self.ledger);
        let xml = tokio::task::spawn_blocking(move || {
            let org = (!org.is_empty()).then_some(org.as_str());
            ledger
                .read(|ledger| iati_export::projects(ledger.store(), ledger.chain(), org))
                .map(|projects| iati_export::write(&projects, &iati_export::generated_now()))
        })
        .await
        .map_err(|error| Status::internal(format!("export failed: {error}")))?
        .map_err(|e| store_status(&e))?;
        let chunks: Vec<Result<pb::IatiFileChunk, Status>> = xml
            .into_bytes()
            .chunks(EXPORT_CHUNK_BYTES)
            .map(|data| {
                Ok(pb::IatiFileChunk {
                    data: data.to_vec(),
                })
            })
            .collect();
        Ok(Response::new(Box::pin(tokio_stream::iter(chunks))))
    }

    async fn plan_iati_import(
        &self,
        request: Request<Streaming<pb::IatiImportChunk>>,
    ) -> Result<Response<pb::IatiImportPlan>, Status> {
        let _plan = Arc::clone(&self.plans)
            .acquire_owned()
            .await
            .map_err(|_| Status::unavailable("the node is shutting down"))?;
        let mut stream = request.into_inner();
        let first = next_chunk(&mut stream).await?.ok_or_else(|| {
            Status::invalid_argument(
                "no chunk arrived: send the file in chunks, with org_id in the first",
            )
        })?;
        let org_id = OrgId::parse(&first.org_id).map_err(|error| {
            Status::invalid_argument(format!(
                "org_id (first chunk) must name the organisation that will sign: {error}"
            ))
        })?;
        let signer = authenticate_plan(&self.ledger, &org_id, &first)?;
        let map = PcodeMap::parse(&first.pcode_map)
            .map_err(|error| Status::invalid_argument(format!("pcode_map: {error}")))?;
        let (sender, receiver) = sync_channel::<Vec<u8>>(PLAN_CHUNKS_IN_FLIGHT);
        let chunks = Chunks {
            receiver,
            current: Cursor::new(first.data),
        };
        let ledger = Arc::clone(&self.ledger);
        let worker =
            tokio::task::spawn_blocking(move || plan_file(&ledger, chunks, &org_id, signer, &map));
        while let Some(chunk) = next_chunk(&mut stream).await? {
            let sender = sender.clone();
            // A full channel blocks: hand it to a blocking thread.
            let sent = tokio::task::spawn_blocking(move || sender.send(chunk.data).is_ok())
                .await
                .unwrap_or(false);
            if !sent {
                // The reader stopped (a bad file): its error is the answer.
                break;
            }
        }
        drop(sender);
        let plan = worker
            .await
            .map_err(|error| Status::internal(format!("import planning failed: {error}")))??;
        Ok(Response::new(plan))
    }
}
