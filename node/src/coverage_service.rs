//! The `tansiq.v1.Coverage` gRPC service: read-only queries over the
//! coverage projections (see `tansiq_ledger::coverage`).

use std::sync::Arc;

use tansiq_ledger::author::now_ms;
use tansiq_ledger::coverage::{AsOf, Coverage, Overlap, Support};
use tansiq_ledger::date::Date;
use tansiq_ledger::event::codes::{ACTIVITY_STATUS, SECTOR, SECTOR_CATEGORY};
use tansiq_ledger::event::{kind_name, Event};
use tansiq_ledger::store::{ProjectRecord, Store, StoreError};
use tansiq_ledger::Ledger;
use tansiq_proto::v1 as pb;
use tonic::{Request, Response, Status};

use crate::cluster::Replication;
use crate::status::{rejection_status, store_status};

pub struct CoverageService {
    ledger: Arc<Ledger>,
    replication: Option<Arc<Replication>>,
}

impl CoverageService {
    pub fn new(ledger: Arc<Ledger>, replication: Option<Arc<Replication>>) -> Self {
        CoverageService {
            ledger,
            replication,
        }
    }

    /// Runs a query on a blocking thread with the scope's as-of point; a
    /// linearizable one first waits for this node to apply what the leader
    /// had committed.
    async fn query<T: Send + 'static>(
        &self,
        as_of: &str,
        consistency: i32,
        run: impl FnOnce(&Ledger, &Coverage<'_>, pb::AnswerInfo) -> Result<T, StoreError>
            + Send
            + 'static,
    ) -> Result<T, Status> {
        let as_of = parse_as_of(as_of)?;
        let linearizable = match pb::ReadConsistency::try_from(consistency) {
            Ok(pb::ReadConsistency::Local) => false,
            Ok(pb::ReadConsistency::Linearizable) => true,
            Err(_) => {
                return Err(Status::invalid_argument(format!(
                    "scope.consistency {consistency} is unknown: 0 (LOCAL) or 1 (LINEARIZABLE)"
                )))
            }
        };
        let applied_index = match (&self.replication, linearizable) {
            (Some(replication), true) => replication.read_barrier().await?,
            (Some(replication), false) => replication.applied_index(),
            (None, _) => 0,
        };
        // A single node is the only writer: every answer is linearizable.
        let linearizable = linearizable || self.replication.is_none();
        let ledger = Arc::clone(&self.ledger);
        tokio::task::spawn_blocking(move || {
            ledger.read(|ledger| {
                let tip = ledger.tip()?;
                let info = pb::AnswerInfo {
                    as_of: as_of.day.to_string(),
                    position: tip.position.0,
                    head: tip.head.0.to_vec(),
                    applied_index,
                    linearizable,
                };
                let coverage = Coverage::new(ledger.store(), as_of);
                run(ledger, &coverage, info)
            })
        })
        .await
        .map_err(|error| Status::internal(format!("query task failed: {error}")))?
        .map_err(|error| store_status(&error))
    }
}

fn parse_as_of(text: &str) -> Result<AsOf, Status> {
    if text.is_empty() {
        return Ok(AsOf::now(now_ms()));
    }
    Date::parse(text).map(AsOf::end_of).ok_or_else(|| {
        Status::invalid_argument(format!(
            "as_of {text:?} is not a date: use YYYY-MM-DD, e.g. 2026-06-30"
        ))
    })
}

/// The name of a DAC purpose code or 3-digit category.
fn sector_name(code: &str) -> String {
    match code.len() {
        3 => SECTOR_CATEGORY.get(code),
        _ => SECTOR.get(code),
    }
    .map_or_else(String::new, |e| e.name.to_owned())
}

fn sector_argument(sector: &str) -> Result<Option<String>, Status> {
    if sector.is_empty() {
        return Ok(None);
    }
    let known = match sector.len() {
        5 => SECTOR.get(sector).is_some(),
        3 => SECTOR_CATEGORY.get(sector).is_some(),
        _ => false,
    };
    if known {
        Ok(Some(sector.to_owned()))
    } else {
        Err(Status::invalid_argument(format!(
            "sector {sector:?} is neither a code of the {} list nor a category of the {} list",
            SECTOR.name, SECTOR_CATEGORY.name
        )))
    }
}

fn scope(scope: Option<pb::Scope>) -> pb::Scope {
    scope.unwrap_or_default()
}

fn names(store: &Store, pcode: &str) -> Result<Option<pb::Names>, StoreError> {
    Ok(store.municipality(pcode)?.map(|m| pb::Names {
        latin: m.name_latin,
        arabic: m.name_arabic,
    }))
}

fn support_to_proto(
    store: &Store,
    pcode: &str,
    sector: &str,
    project_id: &str,
    project: &ProjectRecord,
) -> Result<pb::ProjectSupport, StoreError> {
    let summary = &project.summary;
    Ok(pb::ProjectSupport {
        pcode: pcode.to_owned(),
        municipality: names(store, pcode)?,
        sector: sector.to_owned(),
        sector_name: sector_name(sector),
        project_id: project_id.to_owned(),
        iati_identifier: project.iati_identifier.clone(),
        title: Some(pb::Names {
            latin: summary.title_latin.clone(),
            arabic: summary.title_arabic.clone(),
        }),
        owner: project.owner.clone(),
        donor: project.donor().to_owned(),
        donor_claimed: project.donor_is_claimed(),
        donor_attestation: project.donor_attestation() as i32,
        implementers: summary.implementers.clone(),
        status: project.status,
        status_name: ACTIVITY_STATUS
            .get(&project.status.to_string())
            .map_or_else(String::new, |e| e.name.to_owned()),
        start: summary.start.clone(),
        end: if project.closed {
            project.closed_on.clone()
        } else {
            summary.end.clone()
        },
        budget: (!summary.budget_value.is_empty()).then(|| pb::Money {
            value: summary.budget_value.clone(),
            currency: summary.budget_currency.clone(),
        }),
        pending_review: project.pending_review,
    })
}

fn supports_to_proto(
    store: &Store,
    supports: &[Support],
) -> Result<Vec<pb::ProjectSupport>, StoreError> {
    supports
        .iter()
        .map(|s| support_to_proto(store, &s.pcode, &s.sector, &s.project_id, &s.project))
        .collect()
}

fn overlap_to_proto(store: &Store, overlap: &Overlap) -> Result<pb::Overlap, StoreError> {
    let side =
        |s: &Support| support_to_proto(store, &s.pcode, &s.sector, &s.project_id, &s.project);
    Ok(pb::Overlap {
        pcode: overlap.pcode.clone(),
        sector: overlap.sector.clone(),
        a: Some(side(&overlap.a)?),
        b: Some(side(&overlap.b)?),
        kind: overlap.kind.as_str().to_owned(),
        review: overlap.review.as_ref().map_or(0, |r| r.verdict),
        review_note: overlap
            .review
            .as_ref()
            .map_or_else(String::new, |r| r.note.clone()),
    })
}

#[tonic::async_trait]
impl pb::coverage_server::Coverage for CoverageService {
    async fn who_supports(
        &self,
        request: Request<pb::WhoSupportsRequest>,
    ) -> Result<Response<pb::WhoSupportsResponse>, Status> {
        let request = request.into_inner();
        let scope = scope(request.scope);
        if scope.pcode.is_empty() && !request.include_children {
            return Err(Status::invalid_argument(
                "scope.pcode is required (the municipality's P-code, e.g. LY021104) unless include_children asks for everything under it",
            ));
        }
        let sector = sector_argument(&request.sector)?;
        let children = request.include_children;
        self.query(
            &scope.as_of,
            scope.consistency,
            move |ledger, coverage, info| {
                let supports = coverage.who_supports(&scope.pcode, sector.as_deref(), children)?;
                Ok(pb::WhoSupportsResponse {
                    info: Some(info),
                    supports: supports_to_proto(ledger.store(), &supports)?,
                })
            },
        )
        .await
        .map(Response::new)
    }

    async fn matrix(
        &self,
        request: Request<pb::MatrixRequest>,
    ) -> Result<Response<pb::MatrixResponse>, Status> {
        let scope = scope(request.into_inner().scope);
        self.query(
            &scope.as_of,
            scope.consistency,
            move |ledger, coverage, info| {
                let mut cells = Vec::new();
                for ((pcode, category), cell) in coverage.matrix(&scope.pcode)? {
                    cells.push(pb::MatrixCell {
                        municipality: names(ledger.store(), &pcode)?,
                        pcode,
                        category_name: SECTOR_CATEGORY
                            .get(&category)
                            .map_or_else(String::new, |e| e.name.to_owned()),
                        category,
                        projects: cell.projects.len() as u32,
                        donors: cell.donors.into_iter().collect(),
                        budget: cell
                            .budget
                            .into_iter()
                            .map(|(currency, value)| pb::BudgetTotal {
                                currency,
                                value: value.to_string(),
                            })
                            .collect(),
                    });
                }
                Ok(pb::MatrixResponse {
                    info: Some(info),
                    cells,
                })
            },
        )
        .await
        .map(Response::new)
    }

    async fn gaps(
        &self,
        request: Request<pb::GapsRequest>,
    ) -> Result<Response<pb::GapsResponse>, Status> {
        let scope = scope(request.into_inner().scope);
        self.query(
            &scope.as_of,
            scope.consistency,
            move |ledger, coverage, info| {
                let mut gaps = Vec::new();
                for (rank, gap) in coverage.gaps(&scope.pcode)?.into_iter().enumerate() {
                    let sector_name = sector_name(&gap.sector);
                    gaps.push(pb::Gap {
                        municipality: names(ledger.store(), &gap.pcode)?,
                        pcode: gap.pcode,
                        sector: gap.sector,
                        sector_name,
                        people_in_need: gap.need.people_in_need,
                        severity: gap.need.severity,
                        period_start: gap.need.period_start,
                        period_end: gap.need.period_end,
                        source: gap.need.source,
                        rank: rank as u32 + 1,
                    });
                }
                Ok(pb::GapsResponse {
                    info: Some(info),
                    gaps,
                })
            },
        )
        .await
        .map(Response::new)
    }

    async fn overlaps(
        &self,
        request: Request<pb::OverlapsRequest>,
    ) -> Result<Response<pb::OverlapsResponse>, Status> {
        let request = request.into_inner();
        let scope = scope(request.scope);
        let sector = sector_argument(&request.sector)?;
        let include = request.include_complementary;
        self.query(
            &scope.as_of,
            scope.consistency,
            move |ledger, coverage, info| {
                let overlaps = coverage.overlaps(&scope.pcode, sector.as_deref(), include)?;
                Ok(pb::OverlapsResponse {
                    info: Some(info),
                    overlaps: overlaps
                        .iter()
                        .map(|o| overlap_to_proto(ledger.store(), o))
                        .collect::<Result<_, _>>()?,
                })
            },
        )
        .await
        .map(Response::new)
    }

    async fn check(
        &self,
        request: Request<pb::CheckRequest>,
    ) -> Result<Response<pb::CheckResponse>, Status> {
        let request = request.into_inner();
        let details = request
            .details
            .ok_or_else(|| Status::invalid_argument("details is required: the proposed project"))?;
        // The same field rules as a registration.
        tansiq_ledger::event::fields::check(&pb::event_body::Kind::ProjectRegistered(
            pb::ProjectRegistered {
                project_id: if request.project_id.is_empty() {
                    "proposed".into()
                } else {
                    request.project_id.clone()
                },
                details: Some(details.clone()),
            },
        ))
        .map_err(|rejection| rejection_status(&rejection))?;
        let project_id = if request.project_id.is_empty() {
            "(proposed)".to_owned()
        } else {
            request.project_id
        };
        let owner = request.org_id;
        self.query(
            "",
            pb::ReadConsistency::Local as i32,
            move |ledger, coverage, info| {
                let proposed =
                    ProjectRecord::registration(owner, &details, coverage.as_of().day.to_string());
                let (existing, overlaps) = coverage.check(&project_id, &proposed)?;
                let mut would_be_held = false;
                for overlap in &overlaps {
                    if coverage.policy(&overlap.sector)? == pb::CoordinationPolicy::Hold {
                        would_be_held = true;
                    }
                }
                Ok(pb::CheckResponse {
                    info: Some(info),
                    existing: supports_to_proto(ledger.store(), &existing)?,
                    overlaps: overlaps
                        .iter()
                        .map(|o| overlap_to_proto(ledger.store(), o))
                        .collect::<Result<_, _>>()?,
                    would_be_held,
                })
            },
        )
        .await
        .map(Response::new)
    }

    async fn project_history(
        &self,
        request: Request<pb::ProjectHistoryRequest>,
    ) -> Result<Response<pb::ProjectHistoryResponse>, Status> {
        let project_id = request.into_inner().project_id;
        let lookup = project_id.clone();
        let entries = self
            .query(
                "",
                pb::ReadConsistency::Local as i32,
                move |ledger, _, info| {
                    let store = ledger.store();
                    if store.project(&lookup)?.is_none() {
                        return Ok(None);
                    }
                    let mut entries = Vec::new();
                    for (position, event_id) in store.project_events(&lookup)? {
                        let record = store.log_record(position)?;
                        let Some((_, envelope)) = store.event(&event_id)? else {
                            continue;
                        };
                        let event =
                            Event::decode(ledger.chain(), envelope).map_err(|rejection| {
                                StoreError::Corrupt(format!("stored event {event_id}: {rejection}"))
                            })?;
                        entries.push(pb::HistoryEntry {
                            position: position.0,
                            event_id: event_id.0.to_vec(),
                            author: event.author.to_string(),
                            kind: kind_name(&event.kind).to_owned(),
                            created_at_ms: event.created_at_ms,
                            committed_at_ms: record.map_or(0, |r| r.committed_at_ms),
                        });
                    }
                    Ok(Some(pb::ProjectHistoryResponse {
                        info: Some(info),
                        entries,
                    }))
                },
            )
            .await?;
        entries.map(Response::new).ok_or_else(|| {
            Status::not_found(format!(
                "project {project_id:?} is not on the ledger; list projects with `tansiq who-supports`"
            ))
        })
    }
}
