//! The console's one query surface: the node's `Ledger` and `Coverage`
//! gRPC services, called in process with the same requests a client sends,
//! and their errors as HTTP statuses.

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::sync::Arc;

use axum::http::StatusCode;
use tansiq_ledger::limits::LIST_PAGE_MAX;
use tansiq_proto::v1 as pb;
use tansiq_proto::v1::coverage_server::Coverage as _;
use tansiq_proto::v1::ledger_server::Ledger as _;
use tokio_stream::{Stream, StreamExt};
use tonic::{Code, Request, Response, Status};

use super::i18n::Text;
use super::COUNT_PAGES_MAX;
use crate::coverage_service::{CoverageService, InProcess};
use crate::service::LedgerService;

/// The services the console asks, shared with the gRPC server.
pub struct Sources {
    ledger: Arc<LedgerService>,
    coverage: Arc<CoverageService>,
}

/// Why a page could not be built: the HTTP status and what to tell the
/// reader (a gRPC status's message, or the console's own, in English),
/// and, where the console knows it, what was wrong in the reader's
/// language (else the page says it from the status).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PageError {
    pub status: StatusCode,
    pub message: String,
    pub hint: Option<Text>,
}

/// How many of something there are, counted a listing page at a time up
/// to [`COUNT_PAGES_MAX`] pages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Count {
    Exactly(usize),
    MoreThan(usize),
}

impl Sources {
    /// The node's metrics in the Prometheus text format.
    pub fn metrics(&self) -> String {
        self.ledger.metrics()
    }

    /// Whether the node should take clients (see `LedgerService::readiness`).
    pub async fn readiness(&self) -> Result<String, String> {
        self.ledger.readiness().await
    }

    pub fn new(ledger: Arc<LedgerService>, coverage: Arc<CoverageService>) -> Sources {
        Sources { ledger, coverage }
    }

    pub async fn head(&self) -> Result<pb::LedgerHead, PageError> {
        answer(
            self.ledger
                .get_head(Request::new(pb::GetHeadRequest {}))
                .await,
        )
    }

    /// The node's signed checkpoint, as `Ledger.GetCheckpoint` gives it.
    pub async fn checkpoint(&self) -> Result<pb::SignedCheckpoint, Status> {
        self.ledger
            .get_checkpoint(Request::new(pb::GetCheckpointRequest::default()))
            .await
            .map(Response::into_inner)
    }

    /// The genesis bytes, as `Ledger.GetGenesis` gives them.
    pub async fn genesis(&self) -> Result<pb::GenesisResponse, Status> {
        self.ledger
            .get_genesis(Request::new(pb::GetGenesisRequest {}))
            .await
            .map(Response::into_inner)
    }

    /// A tile of the log's Merkle tree (c2sp.org/tlog-tiles), and whether
    /// it is full.
    pub async fn tile(&self, path: String) -> Result<(Vec<u8>, bool), Status> {
        self.ledger.tile(path).await
    }

    pub async fn who_supports(
        &self,
        request: pb::WhoSupportsRequest,
    ) -> Result<pb::WhoSupportsResponse, PageError> {
        answer(self.coverage.who_supports(in_process(request)).await)
    }

    /// The matrix under the scope's P-code, within the places a gRPC answer
    /// covers: a download holds the same rows as the CLI's export.
    pub async fn matrix(&self, scope: pb::Scope) -> Result<pb::MatrixResponse, PageError> {
        let request = pb::MatrixRequest {
            scope: Some(scope),
            count: 0,
        };
        answer(self.coverage.matrix(in_process(request)).await)
    }

    /// Each municipality's uncovered needs under the scope's P-code, in
    /// `sector` (a prefix): how many, and the people in need of the largest.
    pub async fn uncovered_by_place(
        &self,
        scope: pb::Scope,
        sector: &str,
    ) -> Result<(BTreeMap<String, (usize, u64)>, pb::AnswerInfo), PageError> {
        self.coverage
            .uncovered_by_place(scope, sector.to_owned())
            .await
            .map_err(|status| PageError::of(&status))
    }

    /// The donors supporting each municipality under the scope's P-code:
    /// what the map colours a place by, for every place of a country.
    pub async fn donors_by_place(
        &self,
        scope: pb::Scope,
    ) -> Result<(BTreeMap<String, BTreeSet<String>>, pb::AnswerInfo), PageError> {
        self.coverage
            .donors_by_place(scope)
            .await
            .map_err(|status| PageError::of(&status))
    }

    pub async fn gaps(&self, scope: pb::Scope) -> Result<pb::GapsResponse, PageError> {
        self.gaps_of(pb::GapsRequest {
            scope: Some(scope),
            ..Default::default()
        })
        .await
    }

    pub async fn totals(&self, scope: pb::Scope) -> Result<pb::TotalsResponse, PageError> {
        answer(
            self.coverage
                .totals(Request::new(pb::TotalsRequest { scope: Some(scope) }))
                .await,
        )
    }

    pub async fn gaps_of(&self, request: pb::GapsRequest) -> Result<pb::GapsResponse, PageError> {
        answer(self.coverage.gaps(in_process(request)).await)
    }

    pub async fn overlaps(
        &self,
        request: pb::OverlapsRequest,
    ) -> Result<pb::OverlapsResponse, PageError> {
        answer(self.coverage.overlaps(in_process(request)).await)
    }

    pub async fn project_history(
        &self,
        project_id: &str,
    ) -> Result<pb::ProjectHistoryResponse, PageError> {
        let request = pb::ProjectHistoryRequest {
            project_id: project_id.to_owned(),
        };
        answer(self.coverage.project_history(Request::new(request)).await)
    }

    pub async fn municipalities(
        &self,
        request: pb::ListMunicipalitiesRequest,
    ) -> Result<pb::ListMunicipalitiesResponse, PageError> {
        answer(
            self.coverage
                .list_municipalities(Request::new(request))
                .await,
        )
    }

    pub async fn organisations(
        &self,
        request: pb::ListOrganisationsRequest,
    ) -> Result<pb::ListOrganisationsResponse, PageError> {
        answer(
            self.coverage
                .list_organisations(Request::new(request))
                .await,
        )
    }

    pub async fn search(
        &self,
        request: pb::SearchRequest,
    ) -> Result<pb::SearchResponse, PageError> {
        answer(self.coverage.search(Request::new(request)).await)
    }

    pub async fn projects(
        &self,
        request: pb::ListProjectsRequest,
    ) -> Result<pb::ListProjectsResponse, PageError> {
        answer(self.coverage.list_projects(Request::new(request)).await)
    }

    /// The organisation `org_id` (404 when it is not registered).
    pub async fn organisation(&self, org_id: &str) -> Result<pb::Organisation, PageError> {
        let request = pb::GetOrganisationRequest {
            org_id: org_id.to_owned(),
        };
        let answer = answer(self.coverage.get_organisation(Request::new(request)).await)?;
        answer.organisation.ok_or_else(|| {
            PageError::of(&Status::internal(
                "GetOrganisation answered no organisation",
            ))
        })
    }

    /// The first page of organisations (up to `LIST_PAGE_MAX`), to show
    /// their names beside the ids that answers carry.
    pub async fn organisation_directory(&self) -> Result<Vec<pb::Organisation>, PageError> {
        Ok(self
            .organisations(pb::ListOrganisationsRequest {
                page: Some(full_page(String::new())),
                ..Default::default()
            })
            .await?
            .organisations)
    }

    /// The project `project_id` as of `as_of` (404 when the ledger never
    /// held it; no project when it was registered after that date).
    pub async fn project(
        &self,
        project_id: &str,
        as_of: &str,
    ) -> Result<pb::GetProjectResponse, PageError> {
        let request = pb::GetProjectRequest {
            project_id: project_id.to_owned(),
            scope: Some(pb::Scope {
                as_of: as_of.to_owned(),
                ..Default::default()
            }),
        };
        answer(self.coverage.get_project(Request::new(request)).await)
    }

    pub async fn count_organisations(&self) -> Result<Count, PageError> {
        count(|token| async move {
            let page = self
                .organisations(pb::ListOrganisationsRequest {
                    page: Some(full_page(token)),
                    ..Default::default()
                })
                .await?;
            Ok((page.organisations.len(), page.next_page_token))
        })
        .await
    }

    /// The first listing page (up to `LIST_PAGE_MAX`) of the municipalities
    /// under `pcode`, itself included, each with its children.
    pub async fn municipalities_under(
        &self,
        pcode: &str,
    ) -> Result<pb::ListMunicipalitiesResponse, PageError> {
        self.municipalities(pb::ListMunicipalitiesRequest {
            scope: Some(pb::Scope {
                pcode: pcode.to_owned(),
                ..Default::default()
            }),
            page: Some(full_page(String::new())),
        })
        .await
    }

    /// How many municipalities are registered, and the countries among
    /// those counted (admin level 0).
    pub async fn count_municipalities(&self) -> Result<(Count, Vec<pb::Municipality>), PageError> {
        let (mut total, mut countries, mut token) = (0, Vec::new(), String::new());
        for _ in 0..COUNT_PAGES_MAX {
            let page = self
                .municipalities(pb::ListMunicipalitiesRequest {
                    page: Some(full_page(token)),
                    ..Default::default()
                })
                .await?;
            total += page.municipalities.len();
            countries.extend(
                page.municipalities
                    .into_iter()
                    .filter(|m| m.admin_level == 0),
            );
            if page.next_page_token.is_empty() {
                return Ok((Count::Exactly(total), countries));
            }
            token = page.next_page_token;
        }
        Ok((Count::MoreThan(total), countries))
    }

    /// The log from position `from` on, as it commits: `Ledger.Subscribe`,
    /// under the node's limit on open subscriptions (past it, 503).
    pub async fn subscribe(
        &self,
        from: u64,
    ) -> Result<impl Stream<Item = Result<pb::LogEntry, Status>> + Send + 'static, PageError> {
        answer(
            self.ledger
                .subscribe(Request::new(pb::SubscribeRequest {
                    from_position: from,
                }))
                .await,
        )
    }

    /// The last `count` entries of the log through position `through`,
    /// oldest first, read with `Ledger.Subscribe` as a client would.
    pub async fn latest_entries(
        &self,
        through: u64,
        count: u64,
    ) -> Result<Vec<pb::LogEntry>, PageError> {
        if through == 0 || count == 0 {
            return Ok(Vec::new());
        }
        let from = through.saturating_sub(count - 1).max(1);
        let mut entries = Vec::new();
        let mut log = std::pin::pin!(self.subscribe(from).await?);
        while let Some(entry) = log.next().await {
            let entry = entry.map_err(|status| PageError::of(&status))?;
            let position = entry.position;
            entries.push(entry);
            if position >= through {
                break;
            }
        }
        Ok(entries)
    }

    /// Projects registered by `as_of` (closed ones included).
    pub async fn count_projects(&self, as_of: &str) -> Result<Count, PageError> {
        count(|token| async move {
            let page = self
                .projects(pb::ListProjectsRequest {
                    scope: Some(pb::Scope {
                        as_of: as_of.to_owned(),
                        ..Default::default()
                    }),
                    page: Some(full_page(token)),
                    ..Default::default()
                })
                .await?;
            Ok((page.projects.len(), page.next_page_token))
        })
        .await
    }
}

/// The largest page a listing gives, from `token`.
pub fn full_page(token: String) -> pb::PageRequest {
    pb::PageRequest {
        page_size: LIST_PAGE_MAX as u32,
        page_token: token,
    }
}

/// Adds up the items of successive pages (`next` gives a page's length and
/// the next token) until the last page or [`COUNT_PAGES_MAX`] pages.
async fn count<F, Fut>(mut next: F) -> Result<Count, PageError>
where
    F: FnMut(String) -> Fut,
    Fut: Future<Output = Result<(usize, String), PageError>>,
{
    let mut total = 0;
    let mut token = String::new();
    for _ in 0..COUNT_PAGES_MAX {
        let (items, next_token) = next(token).await?;
        total += items;
        if next_token.is_empty() {
            return Ok(Count::Exactly(total));
        }
        token = next_token;
    }
    Ok(Count::MoreThan(total))
}

/// A request the console makes of the node's own services: its answer is
/// drawn, not sent as one gRPC message (see [`InProcess`]).
fn in_process<T>(message: T) -> Request<T> {
    let mut request = Request::new(message);
    request.extensions_mut().insert(InProcess);
    request
}

fn answer<T>(result: Result<Response<T>, Status>) -> Result<T, PageError> {
    result
        .map(Response::into_inner)
        .map_err(|status| PageError::of(&status))
}

impl PageError {
    /// The one mapping of a gRPC status to the page's HTTP status: what the
    /// reader asked for does not exist (404) or is malformed (400), or the
    /// node cannot answer now (503); anything else is the node's fault (500).
    pub fn of(status: &Status) -> PageError {
        let http = match status.code() {
            Code::NotFound => StatusCode::NOT_FOUND,
            Code::InvalidArgument | Code::OutOfRange => StatusCode::BAD_REQUEST,
            Code::FailedPrecondition => StatusCode::CONFLICT,
            Code::Unavailable | Code::ResourceExhausted | Code::Aborted => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            Code::DeadlineExceeded => StatusCode::GATEWAY_TIMEOUT,
            Code::PermissionDenied => StatusCode::FORBIDDEN,
            Code::Unauthenticated => StatusCode::UNAUTHORIZED,
            Code::Ok
            | Code::Cancelled
            | Code::Unknown
            | Code::AlreadyExists
            | Code::Unimplemented
            | Code::Internal
            | Code::DataLoss => StatusCode::INTERNAL_SERVER_ERROR,
        };
        PageError {
            status: http,
            message: status.message().to_owned(),
            hint: None,
        }
    }

    pub fn bad_request(message: impl Into<String>) -> PageError {
        PageError {
            status: StatusCode::BAD_REQUEST,
            message: message.into(),
            hint: None,
        }
    }

    pub fn not_found(message: impl Into<String>) -> PageError {
        PageError {
            status: StatusCode::NOT_FOUND,
            message: message.into(),
            hint: None,
        }
    }

    pub fn busy() -> PageError {
        crate::exposition::EXPORTED.refused_by(crate::exposition::Limit::ConsolePages);
        PageError {
            status: StatusCode::SERVICE_UNAVAILABLE,
            message: format!(
                "the console is rendering {} pages already; retry in a moment",
                super::PAGES_AT_ONCE_MAX
            ),
            hint: None,
        }
    }

    /// The same error, with what was wrong in the reader's language.
    pub fn hinted(self, hint: Text) -> PageError {
        PageError {
            hint: Some(hint),
            ..self
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_grpc_code_has_its_http_status() {
        let expected = [
            (Code::NotFound, 404),
            (Code::InvalidArgument, 400),
            (Code::OutOfRange, 400),
            (Code::FailedPrecondition, 409),
            (Code::Unavailable, 503),
            (Code::ResourceExhausted, 503),
            (Code::Aborted, 503),
            (Code::DeadlineExceeded, 504),
            (Code::PermissionDenied, 403),
            (Code::Unauthenticated, 401),
            (Code::Internal, 500),
            (Code::DataLoss, 500),
            (Code::Unknown, 500),
        ];
        for (code, http) in expected {
            let error = PageError::of(&Status::new(code, "why"));
            assert_eq!(error.status.as_u16(), http, "{code:?}");
            assert_eq!(error.message, "why");
        }
    }

    #[tokio::test]
    async fn a_count_stops_after_its_pages() {
        let pages = |total: usize| {
            move |token: String| async move {
                let at: usize = token.parse().unwrap_or(0);
                let next = if at + 1 < total {
                    (at + 1).to_string()
                } else {
                    String::new()
                };
                Ok::<_, PageError>((1000, next))
            }
        };
        assert_eq!(count(pages(3)).await, Ok(Count::Exactly(3000)));
        assert_eq!(
            count(pages(COUNT_PAGES_MAX + 5)).await,
            Ok(Count::MoreThan(COUNT_PAGES_MAX * 1000))
        );
    }
}
