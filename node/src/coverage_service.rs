//! The `tansiq.v1.Coverage` gRPC service: read-only queries over the
//! coverage projections (see `tansiq_ledger::coverage`).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use tansiq_ledger::author::now_ms;
use tansiq_ledger::coverage::{AsOf, Count, Coverage, Overlap, ProjectFilter, Support};
use tansiq_ledger::date::Date;
use tansiq_ledger::event::codes::{ActivityStatus, ACTIVITY_STATUS, SECTOR, SECTOR_CATEGORY};
use tansiq_ledger::event::{kind_name, Event};
use tansiq_ledger::limits::{
    ADMIN_LEVEL_MAX, LIST_PAGE_DEFAULT, LIST_PAGE_MAX, MATRIX_PLACES_MAX, OVERLAPS_ANSWER_MAX,
    PAGE_TOKEN_BYTES_MAX, REQUEST_BYTES_MAX, SEARCH_QUERY_BYTES_MAX, SEARCH_SCAN_MAX,
    WHO_SUPPORTS_MAX,
};
use tansiq_ledger::store::{OrgRecord, ProjectRecord, Store, StoreError};
use tansiq_ledger::Ledger;
use tansiq_proto::v1 as pb;
use tonic::{Request, Response, Status};

use crate::cluster::Replication;
use crate::status::{query_status, rejection_status, QueryError};

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
        run: impl FnOnce(&Ledger, &Coverage<'_>, pb::AnswerInfo) -> Result<T, QueryError>
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
                let coverage = ledger.coverage(as_of);
                run(ledger, &coverage, info)
            })
        })
        .await
        .map_err(|error| Status::internal(format!("query task failed: {error}")))?
        .map_err(|error| query_status(&error))
    }

    /// The donors supporting each municipality under the scope's P-code,
    /// for the console's map (not a gRPC answer: it holds only names, a
    /// few per place, however many places a country has).
    pub async fn donors_by_place(
        &self,
        scope: pb::Scope,
    ) -> Result<(BTreeMap<String, BTreeSet<String>>, pb::AnswerInfo), Status> {
        self.query(
            &scope.as_of,
            scope.consistency,
            move |ledger, coverage, info| {
                known_place(ledger.store(), &scope.pcode, false)?;
                Ok((coverage.donors_by_place(&scope.pcode)?, info))
            },
        )
        .await
    }

    /// Each municipality's uncovered needs under the scope's P-code (in
    /// `sector`, a prefix; "" for all): how many, and the people in need
    /// of the largest. For the console's map, which draws every place of a
    /// country and needs no need's source text.
    pub async fn uncovered_by_place(
        &self,
        scope: pb::Scope,
        sector: String,
    ) -> Result<(BTreeMap<String, (usize, u64)>, pb::AnswerInfo), Status> {
        self.query(
            &scope.as_of,
            scope.consistency,
            move |ledger, coverage, info| {
                known_place(ledger.store(), &scope.pcode, false)?;
                let mut needs: BTreeMap<String, (usize, u64)> = BTreeMap::new();
                for gap in coverage.gaps(&scope.pcode)? {
                    if gap.sector.starts_with(&sector) {
                        let entry = needs.entry(gap.pcode).or_default();
                        entry.0 += 1;
                        entry.1 = entry.1.max(gap.need.people_in_need);
                    }
                }
                Ok((needs, info))
            },
        )
        .await
    }
}

/// NOT_FOUND unless a registered municipality has the P-code `pcode`
/// (`exact`) or one beginning with it; an empty P-code is every place.
/// Keeps the ledger's counts of now (open overlaps and uncovered needs,
/// see `tansiq_ledger::coverage::Tally`) up to date off the request path:
/// everything at start (seconds at a million events) and when the day
/// turns, the cells written meanwhile every few seconds. A query that comes
/// first counts what is left itself.
///
/// Under a steady stream of writes every cell is written between two
/// counts, and recounting them all took 10-16% of a node's CPU during
/// ingest (perf, `tansiq-bench`, 2026-12-01): the pause after a count is at
/// least [`COUNT_PAUSE_PER_COUNTING`] times as long as the count took, so
/// counting takes at most a tenth of a core and writes keep the rest.
///
/// Holds the ledger weakly: it ends when the node lets go of the ledger.
pub async fn keep_counts(ledger: std::sync::Weak<Ledger>) {
    loop {
        let Some(ledger) = ledger.upgrade() else {
            return;
        };
        let started = std::time::Instant::now();
        let counted =
            tokio::task::spawn_blocking(move || ledger.read(|ledger| ledger.count_now(now_ms())))
                .await;
        let took = started.elapsed();
        match counted {
            Ok(Ok(())) | Ok(Err(StoreError::StateBeingReplaced)) => {}
            Ok(Err(error)) => {
                tracing::warn!(%error, "cannot count the open overlaps and gaps; queries count them themselves")
            }
            Err(error) => tracing::warn!(%error, "the count of open overlaps and gaps failed"),
        }
        tokio::time::sleep(pause_after_count(took)).await;
    }
}

/// A request's `limit`: 0 is none.
fn at_most(limit: u32) -> usize {
    match limit {
        0 => usize::MAX,
        limit => limit as usize,
    }
}

/// How often [`keep_counts`] counts, at most.
const COUNT_EVERY: std::time::Duration = std::time::Duration::from_secs(5);
/// [`keep_counts`] pauses at least this many times as long as its last
/// count took.
const COUNT_PAUSE_PER_COUNTING: u32 = 9;

/// How long [`keep_counts`] waits after a count that took `took`: so that
/// counting is at most a tenth of the time.
fn pause_after_count(took: std::time::Duration) -> std::time::Duration {
    COUNT_EVERY.max(took * COUNT_PAUSE_PER_COUNTING)
}

fn known_place(store: &Store, pcode: &str, exact: bool) -> Result<(), QueryError> {
    let known = pcode.is_empty()
        || if exact {
            store.municipality(pcode)?.is_some()
        } else {
            store.has_municipality_under(pcode)?
        };
    if known {
        return Ok(());
    }
    Err(QueryError::NotFound(format!(
        "no municipality with P-code {pcode:?}{} is registered on this ledger; list them with ListMunicipalities (`tansiq list municipalities`)",
        if exact { "" } else { " or under it" }
    )))
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

/// What the entries of one Coverage answer may take: the node encodes no
/// larger answer ([`REQUEST_BYTES_MAX`]), less room for its other fields.
const ANSWER_ENTRIES_BYTES_MAX: usize = REQUEST_BYTES_MAX - 64 * 1024;

/// Marks a request the node makes of itself (the console's pages): its
/// answer is used in process and never sent as one gRPC message, so it is
/// not held to one message's size (its count bounds still hold).
#[derive(Clone, Copy, Debug)]
pub struct InProcess;

/// What the entries of `request`'s answer may take, in bytes.
fn entries_bytes_max<T>(request: &Request<T>) -> usize {
    if request.extensions().get::<InProcess>().is_some() {
        usize::MAX
    } else {
        ANSWER_ENTRIES_BYTES_MAX
    }
}

/// `entries` if they take at most `bytes_max` encoded; else OUT_OF_RANGE
/// saying what to ask instead (`instead` is told how many of them, from
/// the first, would fit). The count bounds of each answer hold for
/// ordinary names and titles; names, titles and sources written long (up
/// to their own limits) would otherwise make an answer the node cannot
/// send, refused with a message nobody can act on.
fn fitting<M: prost::Message>(
    entries: Vec<M>,
    bytes_max: usize,
    what: &str,
    instead: impl FnOnce(usize) -> String,
) -> Result<Vec<M>, QueryError> {
    let mut bytes = 0;
    for (fit, entry) in entries.iter().enumerate() {
        let len = entry.encoded_len();
        // A repeated message field's entry: a one-byte tag, the length, the body.
        bytes += 1 + prost::length_delimiter_len(len) + len;
        if bytes > bytes_max {
            return Err(QueryError::TooLarge(format!(
                "these {} {what} take more than fits in one answer ({} MiB; their names, titles or sources are long): {}",
                entries.len(),
                REQUEST_BYTES_MAX >> 20,
                instead(fit)
            )));
        }
    }
    Ok(entries)
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
        title: Some(title(project)),
        owner: project.owner.clone(),
        donor: project.donor().to_owned(),
        donor_claimed: project.donor_is_claimed(),
        donor_attestation: project.donor_attestation() as i32,
        implementers: summary.implementers.clone(),
        status: project.status.0,
        status_name: project.status.name().to_owned(),
        start: summary.start.clone(),
        end: end(project),
        budget: budget(project),
        pending_review: project.pending_review,
        activity_attested: project.activity_attested(pcode) as i32,
    })
}

/// What a count asks, as the ledger's queries take it.
fn count_argument(count: i32) -> Count {
    match pb::SupportCount::try_from(count).unwrap_or_default() {
        pb::SupportCount::Reported => Count::Reported,
        pb::SupportCount::Confirmed => Count::Confirmed,
    }
}

/// Every attestation of a project's claims, funders' first.
fn attestations(project: &ProjectRecord) -> Vec<pb::Attestation> {
    let funding = project
        .funding_attested
        .iter()
        .map(|(funder, verdict)| pb::Attestation {
            subject: "funding".to_owned(),
            attester: funder.clone(),
            verdict: *verdict as i32,
            ..Default::default()
        });
    let others = project.attested.iter().flat_map(|(subject, words)| {
        words
            .iter()
            .map(move |(attester, word)| attestation(subject, attester, Some(word), word.verdict))
    });
    funding.chain(others).collect()
}

fn attestation(
    subject: &str,
    attester: &str,
    word: Option<&tansiq_ledger::store::AttestationRecord>,
    verdict: pb::AttestationVerdict,
) -> pb::Attestation {
    pb::Attestation {
        subject: subject.to_owned(),
        attester: attester.to_owned(),
        verdict: verdict as i32,
        note: word.map_or_else(String::new, |w| w.note.clone()),
        value: word.map_or_else(String::new, |w| w.value.clone()),
        pcode: word.map_or_else(String::new, |w| w.pcode.clone()),
        event_id: word.map_or_else(Vec::new, |w| w.event.as_bytes().to_vec()),
    }
}

/// A project's results, each period with its target, reported and
/// confirmed actual values.
fn results(project: &ProjectRecord) -> Vec<pb::ProjectResult> {
    let periods = project.result_periods();
    project
        .results
        .iter()
        .map(|(result_id, result)| pb::ProjectResult {
            result_id: result_id.clone(),
            result_type: result.result_type as i32,
            title: Some(result.title.clone()),
            reported_by: result.reported_by.clone(),
            indicator: Some(result.indicator.clone()),
            periods: periods
                .iter()
                .filter(|period| period.result_id == *result_id)
                .map(|period| pb::ResultPeriodStatus {
                    start: period.start.clone(),
                    end: period.end.clone(),
                    target: period.target.clone(),
                    reported_actual: period.reported.clone(),
                    confirmed_actual: period.confirmed.clone(),
                    verdict: period.verdict as i32,
                })
                .collect(),
        })
        .collect()
}

/// A project as a listing shows it.
fn project_listing(project_id: String, project: &ProjectRecord) -> pb::ProjectListing {
    let summary = &project.summary;
    pb::ProjectListing {
        project_id,
        iati_identifier: project.iati_identifier.clone(),
        title: Some(title(project)),
        owner: project.owner.clone(),
        donor: project.donor().to_owned(),
        donor_claimed: project.donor_is_claimed(),
        donor_attestation: project.donor_attestation() as i32,
        implementers: summary.implementers.clone(),
        pcodes: summary.locations.clone(),
        sectors: summary.sectors.clone(),
        status: project.status.0,
        status_name: project.status.name().to_owned(),
        start: summary.start.clone(),
        end: end(project),
        budget: budget(project),
        pending_review: project.pending_review,
        closed: project.closed,
        results: Vec::new(),
        attestations: Vec::new(),
    }
}

fn title(project: &ProjectRecord) -> pb::Names {
    pb::Names {
        latin: project.summary.title_latin.clone(),
        arabic: project.summary.title_arabic.clone(),
    }
}

/// The closure's end date once closed, else the planned or actual end.
fn end(project: &ProjectRecord) -> String {
    if project.closed {
        project.closed_on.clone()
    } else {
        project.summary.end.clone()
    }
}

fn budget(project: &ProjectRecord) -> Option<pb::Money> {
    let summary = &project.summary;
    (!summary.budget_value.is_empty()).then(|| pb::Money {
        value: summary.budget_value.clone(),
        currency: summary.budget_currency.clone(),
    })
}

/// A listing's page size and where it starts, checked.
fn page(page: Option<pb::PageRequest>) -> Result<(usize, String), Status> {
    let page = page.unwrap_or_default();
    let size = match page.page_size as usize {
        0 => LIST_PAGE_DEFAULT,
        size if size > LIST_PAGE_MAX => {
            return Err(Status::invalid_argument(format!(
                "page.page_size {size} is over the limit of {LIST_PAGE_MAX}: ask for fewer and follow next_page_token"
            )))
        }
        size => size,
    };
    // A token is the last key of the previous page: an id or a P-code.
    if page.page_token.len() > PAGE_TOKEN_BYTES_MAX || page.page_token.chars().any(char::is_control)
    {
        return Err(Status::invalid_argument(
            "page.page_token is not one this node gave: pass back next_page_token as it came",
        ));
    }
    Ok((size, page.page_token))
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
        review: overlap.review.as_ref().map_or(0, |r| r.verdict as i32),
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
        let bytes_max = entries_bytes_max(&request);
        let request = request.into_inner();
        let scope = scope(request.scope);
        if scope.pcode.is_empty() && !request.include_children {
            return Err(Status::invalid_argument(
                "scope.pcode is required (the municipality's P-code, e.g. LY021104) unless include_children asks for everything under it",
            ));
        }
        let sector = sector_argument(&request.sector)?;
        let children = request.include_children;
        let count = count_argument(request.count);
        self.query(
            &scope.as_of,
            scope.consistency,
            move |ledger, coverage, info| {
                known_place(ledger.store(), &scope.pcode, !children)?;
                let supports = coverage
                    .counting(count)
                    .who_supports_at_most(&scope.pcode, sector.as_deref(), children, WHO_SUPPORTS_MAX)?
                    .ok_or_else(|| {
                        QueryError::TooLarge(format!(
                            "more than {WHO_SUPPORTS_MAX} supports (a project in a municipality and sector) match {}{}{}, more than one answer holds: ask about one municipality or region (a longer P-code){}, or page through the projects with ListProjects (`tansiq list projects`), which takes the same P-code and sector",
                            if scope.pcode.is_empty() { "anything" } else { scope.pcode.as_str() },
                            if children { " and the places under it" } else { "" },
                            sector.as_deref().map_or_else(String::new, |sector| format!(" in sector {sector}")),
                            if sector.is_none() { " or one sector" } else { "" },
                        ))
                    })?;
                let supports = fitting(supports_to_proto(ledger.store(), &supports)?, bytes_max, "supports", |_| {
                    "ask about one municipality or region (a longer P-code) or one sector, or page through the projects with ListProjects (`tansiq list projects`)".to_owned()
                })?;
                Ok(pb::WhoSupportsResponse {
                    info: Some(info),
                    supports,
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
        // Refused before anything is computed when more than
        // MATRIX_PLACES_MAX places are registered under its P-code, and
        // when its cells take more than one answer holds.
        let bytes_max = entries_bytes_max(&request);
        let request = request.into_inner();
        let count = count_argument(request.count);
        let scope = scope(request.scope);
        self.query(
            &scope.as_of,
            scope.consistency,
            move |ledger, coverage, info| {
                known_place(ledger.store(), &scope.pcode, false)?;
                let max = MATRIX_PLACES_MAX;
                if ledger.store().count_municipalities_under(&scope.pcode, max + 1)? > max {
                    return Err(QueryError::TooLarge(format!(
                        "more than {max} municipalities are registered {}: one Matrix answer covers at most {max}; ask for one region at a time (a longer P-code; `tansiq list municipalities{}` names them), or ask Totals for counts of the whole",
                        if scope.pcode.is_empty() { "on this ledger".to_owned() } else { format!("under {}", scope.pcode) },
                        if scope.pcode.is_empty() { String::new() } else { format!(" {}", scope.pcode) },
                    )));
                }
                let overlapping = coverage.open_overlaps_by_category(&scope.pcode)?;
                let mut cells = Vec::new();
                for (key, cell) in coverage.counting(count).matrix(&scope.pcode)? {
                    let open_overlaps = overlapping.get(&key).copied().unwrap_or(0);
                    let (pcode, category) = key;
                    cells.push(pb::MatrixCell {
                        open_overlaps,
                        municipality: names(ledger.store(), &pcode)?,
                        pcode,
                        category_name: SECTOR_CATEGORY
                            .get(&category)
                            .map_or_else(String::new, |e| e.name.to_owned()),
                        category,
                        projects: cell.projects,
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
                let cells = fitting(cells, bytes_max, "cells", |_| {
                    "ask for one region at a time (a longer P-code)".to_owned()
                })?;
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
        let bytes_max = entries_bytes_max(&request);
        let request = request.into_inner();
        let scope = scope(request.scope);
        let sector = sector_argument(&request.sector)?;
        let level = request.admin_level;
        let count = count_argument(request.count);
        if level > ADMIN_LEVEL_MAX {
            return Err(Status::invalid_argument(format!(
                "admin_level {level}: levels run from 1 (a region) to {ADMIN_LEVEL_MAX} (0: all)"
            )));
        }
        self.query(
            &scope.as_of,
            scope.consistency,
            move |ledger, coverage, info| {
                let store = ledger.store();
                known_place(store, &scope.pcode, false)?;
                let mut gaps = Vec::new();
                let in_sector = |gap_sector: &str| {
                    sector
                        .as_deref()
                        .is_none_or(|wanted| gap_sector.starts_with(wanted))
                };
                let limit = at_most(request.limit);
                let mut total = 0u64;
                for gap in coverage.counting(count).gaps(&scope.pcode)? {
                    if !in_sector(&gap.sector) {
                        continue;
                    }
                    // Past the limit only counted: names are read for a
                    // level filter alone.
                    let municipality = if level != 0 || gaps.len() < limit {
                        store.municipality(&gap.pcode)?
                    } else {
                        None
                    };
                    if level != 0 && municipality.as_ref().map(|m| m.admin_level) != Some(level) {
                        continue;
                    }
                    total += 1;
                    if gaps.len() == limit {
                        continue;
                    }
                    let sector_name = sector_name(&gap.sector);
                    let rank = gaps.len() as u32 + 1;
                    gaps.push(pb::Gap {
                        municipality: municipality.map(|m| pb::Names {
                            latin: m.name_latin,
                            arabic: m.name_arabic,
                        }),
                        pcode: gap.pcode,
                        sector: gap.sector,
                        sector_name,
                        people_in_need: gap.need.people_in_need,
                        severity: gap.need.severity,
                        period_start: gap.need.period_start,
                        period_end: gap.need.period_end,
                        source: gap.need.source,
                        rank,
                    });
                }
                let gaps = fitting(gaps, bytes_max, "uncovered needs", |fit| {
                    format!("the first {fit} fit: ask for at most {fit} (limit; the largest needs come first), or narrow the question with a longer P-code or a sector")
                })?;
                Ok(pb::GapsResponse {
                    info: Some(info),
                    gaps,
                    total,
                })
            },
        )
        .await
        .map(Response::new)
    }

    async fn totals(
        &self,
        request: Request<pb::TotalsRequest>,
    ) -> Result<Response<pb::TotalsResponse>, Status> {
        let scope = scope(request.into_inner().scope);
        self.query(
            &scope.as_of,
            scope.consistency,
            move |ledger, coverage, info| {
                known_place(ledger.store(), &scope.pcode, false)?;
                let totals = coverage.totals(&scope.pcode)?;
                Ok(pb::TotalsResponse {
                    info: Some(info),
                    open_overlaps: totals.open_overlaps,
                    uncovered_needs: totals.uncovered_needs,
                    people_in_uncovered_needs: totals.people_in_uncovered_needs,
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
        let bytes_max = entries_bytes_max(&request);
        let request = request.into_inner();
        let scope = scope(request.scope);
        let sector = sector_argument(&request.sector)?;
        let include = request.include_complementary;
        let asked = at_most(request.limit);
        self.query(
            &scope.as_of,
            scope.consistency,
            move |ledger, coverage, info| {
                known_place(ledger.store(), &scope.pcode, false)?;
                let (overlaps, total) = coverage.overlaps_held_first(
                    &scope.pcode,
                    sector.as_deref(),
                    include,
                    asked.min(OVERLAPS_ANSWER_MAX),
                )?;
                if asked > OVERLAPS_ANSWER_MAX && total > OVERLAPS_ANSWER_MAX {
                    return Err(QueryError::TooLarge(format!(
                        "{total} pairs overlap under {}{}, and one answer names at most {OVERLAPS_ANSWER_MAX}: ask for at most that many (limit; those held for review come first), or narrow the question with a longer P-code or a sector",
                        if scope.pcode.is_empty() { "every P-code" } else { scope.pcode.as_str() },
                        sector.as_deref().map_or_else(String::new, |sector| format!(" in sector {sector}")),
                    )));
                }
                let overlaps = overlaps
                    .iter()
                    .map(|o| overlap_to_proto(ledger.store(), o))
                    .collect::<Result<Vec<_>, _>>()?;
                let overlaps = fitting(overlaps, bytes_max, "overlapping pairs", |fit| {
                    format!("the first {fit} fit: ask for at most {fit} (limit; those held for review come first), or narrow the question with a longer P-code or a sector")
                })?;
                Ok(pb::OverlapsResponse {
                    info: Some(info),
                    overlaps,
                    total: total as u64,
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
        self.query(
            "",
            pb::ReadConsistency::Local as i32,
            move |ledger, _, info| {
                let store = ledger.store();
                if store.project(&project_id)?.is_none() {
                    return Err(QueryError::NotFound(format!(
                        "project {project_id:?} is not on the ledger; list projects with ListProjects (`tansiq list projects`)"
                    )));
                }
                let mut entries = Vec::new();
                for (position, event_id) in store.project_events(&project_id)? {
                    let Some((record, envelope)) = store.event(&event_id)? else {
                        continue;
                    };
                    let event = Event::decode(ledger.chain(), envelope).map_err(|rejection| {
                        StoreError::Corrupt(format!("stored event {event_id}: {rejection}"))
                    })?;
                    entries.push(pb::HistoryEntry {
                        position: position.0,
                        event_id: event_id.0.to_vec(),
                        author: event.author.to_string(),
                        signer_key: event.signer.0.to_vec(),
                        kind: kind_name(&event.kind).to_owned(),
                        created_at_ms: event.created_at_ms,
                        committed_at_ms: record.committed_at_ms,
                    });
                }
                Ok(pb::ProjectHistoryResponse {
                    info: Some(info),
                    entries,
                })
            },
        )
        .await
        .map(Response::new)
    }

    async fn list_municipalities(
        &self,
        request: Request<pb::ListMunicipalitiesRequest>,
    ) -> Result<Response<pb::ListMunicipalitiesResponse>, Status> {
        let request = request.into_inner();
        let scope = scope(request.scope);
        let (size, after) = page(request.page)?;
        self.query("", scope.consistency, move |ledger, _, info| {
            let store = ledger.store();
            known_place(store, &scope.pcode, false)?;
            let page = store.municipalities(&scope.pcode, &after, size)?;
            Ok(pb::ListMunicipalitiesResponse {
                info: Some(info),
                municipalities: page
                    .items
                    .into_iter()
                    .map(|listed| pb::Municipality {
                        pcode: listed.pcode,
                        admin_level: listed.record.admin_level,
                        parent_pcode: listed.record.parent,
                        name: Some(pb::Names {
                            latin: listed.record.name_latin,
                            arabic: listed.record.name_arabic,
                        }),
                        children: listed.children,
                    })
                    .collect(),
                next_page_token: page.next.unwrap_or_default(),
            })
        })
        .await
        .map(Response::new)
    }

    async fn list_organisations(
        &self,
        request: Request<pb::ListOrganisationsRequest>,
    ) -> Result<Response<pb::ListOrganisationsResponse>, Status> {
        let request = request.into_inner();
        let (size, after) = page(request.page)?;
        let role = pb::OrgRole::try_from(request.role).map_err(|_| {
            Status::invalid_argument(format!(
                "role {} is not an OrgRole: 1 ministry, 2 donor, 3 observer (0: any)",
                request.role
            ))
        })?;
        self.query("", request.consistency, move |ledger, _, info| {
            let store = ledger.store();
            let mut organisations = Vec::new();
            let mut from = after;
            // Pages of the registry until this page is full (a role filter
            // may leave out most of them).
            let next = loop {
                let page = store.organisations(&from, size)?;
                for (org_id, record) in page.items {
                    if role != pb::OrgRole::Unspecified && record.role != role {
                        continue;
                    }
                    organisations.push(organisation_to_proto(store, org_id, record)?);
                    if organisations.len() == size {
                        break;
                    }
                }
                if organisations.len() == size {
                    break organisations.last().map(|o| o.org_id.clone());
                }
                match page.next {
                    Some(next) => from = next,
                    None => break None,
                }
            };
            Ok(pb::ListOrganisationsResponse {
                info: Some(info),
                organisations,
                next_page_token: next.unwrap_or_default(),
            })
        })
        .await
        .map(Response::new)
    }

    async fn get_project(
        &self,
        request: Request<pb::GetProjectRequest>,
    ) -> Result<Response<pb::GetProjectResponse>, Status> {
        let request = request.into_inner();
        let scope = scope(request.scope);
        let project_id = request.project_id;
        self.query(
            &scope.as_of,
            scope.consistency,
            move |ledger, coverage, info| {
                let store = ledger.store();
                if store.project(&project_id)?.is_none() {
                    return Err(QueryError::NotFound(format!(
                        "project {project_id:?} is not on the ledger; list projects with ListProjects (`tansiq list projects`)"
                    )));
                }
                let project = coverage
                    .project_as_registered(&project_id)?
                    .map(|record| pb::ProjectListing {
                        results: results(&record),
                        attestations: attestations(&record),
                        ..project_listing(project_id, &record)
                    });
                Ok(pb::GetProjectResponse {
                    info: Some(info),
                    project,
                })
            },
        )
        .await
        .map(Response::new)
    }

    async fn list_disputes(
        &self,
        request: Request<pb::ListDisputesRequest>,
    ) -> Result<Response<pb::ListDisputesResponse>, Status> {
        let scope = scope(request.into_inner().scope);
        self.query(
            &scope.as_of,
            scope.consistency,
            move |ledger, coverage, info| {
                known_place(ledger.store(), &scope.pcode, false)?;
                let disputes = coverage
                    .disputes(&scope.pcode)?
                    .into_iter()
                    .map(|dispute| pb::Dispute {
                        attestation: Some(attestation(
                            &dispute.subject,
                            &dispute.attester,
                            dispute.word.as_ref(),
                            dispute.verdict,
                        )),
                        project_id: dispute.project_id,
                        owner: dispute.owner,
                    })
                    .collect();
                Ok(pb::ListDisputesResponse {
                    info: Some(info),
                    disputes,
                })
            },
        )
        .await
        .map(Response::new)
    }

    async fn get_organisation(
        &self,
        request: Request<pb::GetOrganisationRequest>,
    ) -> Result<Response<pb::GetOrganisationResponse>, Status> {
        let org_id = request.into_inner().org_id;
        self.query("", 0, move |ledger, _, info| {
            let store = ledger.store();
            let Some(record) = store.org(&org_id)? else {
                return Err(QueryError::NotFound(format!(
                    "organisation {org_id:?} is not registered on this ledger; list them with ListOrganisations (`tansiq list orgs`)"
                )));
            };
            Ok(pb::GetOrganisationResponse {
                info: Some(info),
                organisation: Some(organisation_to_proto(store, org_id, record)?),
            })
        })
        .await
        .map(Response::new)
    }

    async fn search(
        &self,
        request: Request<pb::SearchRequest>,
    ) -> Result<Response<pb::SearchResponse>, Status> {
        let request = request.into_inner();
        let (size, after) = page(request.page)?;
        let query = request.query;
        if query.len() > SEARCH_QUERY_BYTES_MAX {
            return Err(Status::invalid_argument(format!(
                "query is {} bytes long; at most {SEARCH_QUERY_BYTES_MAX}",
                query.len()
            )));
        }
        self.query("", 0, move |ledger, _, info| {
            let found = ledger
                .store()
                .search(&query, &after, size, SEARCH_SCAN_MAX)?;
            Ok(pb::SearchResponse {
                info: Some(info),
                hits: found
                    .hits
                    .into_iter()
                    .map(|hit| pb::SearchHit {
                        kind: hit.kind.as_str().to_owned(),
                        id: hit.id,
                        names: Some(pb::Names {
                            latin: hit.latin,
                            arabic: hit.arabic,
                        }),
                        iati_identifier: hit.iati_identifier,
                    })
                    .collect(),
                next_page_token: found.next.unwrap_or_default(),
                partial: found.partial,
            })
        })
        .await
        .map(Response::new)
    }

    async fn list_projects(
        &self,
        request: Request<pb::ListProjectsRequest>,
    ) -> Result<Response<pb::ListProjectsResponse>, Status> {
        let request = request.into_inner();
        let scope = scope(request.scope);
        let sector = sector_argument(&request.sector)?;
        let (size, after) = page(request.page)?;
        let (org, status) = (request.org_id, request.status);
        if status != 0 && ACTIVITY_STATUS.get(&status.to_string()).is_none() {
            return Err(Status::invalid_argument(format!(
                "status {status} is not an IATI ActivityStatus code: 1 pipeline, 2 implementation, 3 finalisation, 4 closed, 5 cancelled, 6 suspended (0: any)"
            )));
        }
        self.query(
            &scope.as_of,
            scope.consistency,
            move |ledger, coverage, info| {
                let store = ledger.store();
                known_place(store, &scope.pcode, false)?;
                if !org.is_empty() && store.org(&org)?.is_none() {
                    return Err(QueryError::NotFound(format!(
                        "organisation {org:?} is not registered on this ledger; list them with ListOrganisations (`tansiq list orgs`)"
                    )));
                }
                let filter = ProjectFilter {
                    pcode: &scope.pcode,
                    sector: sector.as_deref(),
                    org: (!org.is_empty()).then_some(org.as_str()),
                    status: (status != 0).then_some(ActivityStatus(status)),
                };
                let page = coverage.projects(filter, &after, size)?;
                Ok(pb::ListProjectsResponse {
                    info: Some(info),
                    projects: page
                        .items
                        .into_iter()
                        .map(|(id, project)| project_listing(id, &project))
                        .collect(),
                    next_page_token: page.next.unwrap_or_default(),
                })
            },
        )
        .await
        .map(Response::new)
    }
}

/// An organisation with its keys' state.
fn organisation_to_proto(
    store: &Store,
    org_id: String,
    record: OrgRecord,
) -> Result<pb::Organisation, StoreError> {
    let mut keys = Vec::with_capacity(record.keys.len());
    for key in &record.keys {
        let state = store.key(key)?;
        keys.push(pb::OrganisationKey {
            public_key: key.0.to_vec(),
            sequence: state.as_ref().map_or(0, |k| k.sequence),
            revoked_at: state.and_then(|k| k.revoked_at).map_or(0, |at| at.0),
        });
    }
    Ok(pb::Organisation {
        org_id,
        role: record.role as i32,
        name: Some(pb::Names {
            latin: record.name_latin,
            arabic: record.name_arabic,
        }),
        iati_identifier: record.iati_identifier,
        iati_org_type: record.iati_org_type,
        keys,
        reports_for: record.reports_for,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn the_count_of_now_takes_at_most_a_tenth_of_the_time() {
        assert_eq!(pause_after_count(Duration::from_millis(10)), COUNT_EVERY);
        for took in [
            Duration::from_secs(1),
            Duration::from_secs(3),
            Duration::from_secs(60),
        ] {
            let pause = pause_after_count(took);
            assert!(pause >= COUNT_EVERY);
            assert!(
                took.as_secs_f64() / (took + pause).as_secs_f64() <= 0.1 + 1e-9,
                "{took:?} of counting, then {pause:?} of pause"
            );
        }
        assert_eq!(
            pause_after_count(Duration::from_secs(3)),
            Duration::from_secs(27)
        );
    }
}
