//! Results and attestations: what a project delivered, as its owner or an
//! implementer it names reports it, and what other parties say of a
//! project's claims (a funder of its funding, a municipality of the
//! project's activity, results and disbursements there, an implementer of
//! the disbursements made to it). Both are kept on the project's record,
//! so its versions answer them as of any date.

use prost::Message;
use tansiq_proto::v1 as pb;
use tansiq_proto::v1::attestation_made::Subject as Claim;
use tansiq_proto::v1::event_body::Kind;

use crate::coverage::pcode_within;
use crate::event::Event;
use crate::ids::{EventId, LogPosition};
use crate::reject::Rejection;
use crate::store::{AttestationRecord, ProjectRecord, ResultRecord, Subject};

use super::authorise::not_allowed;
use super::overlay::{Effects, StageError};
use super::staging::Staging;

/// IATI TransactionType 3: a disbursement, the one transaction attested.
const DISBURSEMENT: u32 = 3;

/// A result's fields, as both `result_reported` and `result_updated` carry them.
pub(super) struct ResultBody<'a> {
    pub(super) project_id: &'a str,
    pub(super) result_id: &'a str,
    pub(super) result_type: pb::ResultType,
    pub(super) title: Option<&'a pb::Names>,
    pub(super) indicator: Option<&'a pb::Indicator>,
}

impl Staging<'_> {
    /// A `result_reported` (`new`) or `result_updated`: by the project's
    /// owner or an implementer it names; the result's place, if it has
    /// one, is one of the project's.
    pub(super) fn result_written(
        &mut self,
        event: &Event,
        body: ResultBody<'_>,
        new: bool,
        author_id: &str,
        role: pb::OrgRole,
        position: LogPosition,
    ) -> Result<Effects, StageError> {
        let mut project = self.require_project(body.project_id)?;
        self.may_report_results(&project, body.project_id, author_id, role)?;
        let indicator = body.indicator.cloned().unwrap_or_default();
        if !indicator.pcode.is_empty()
            && !project
                .summary
                .locations
                .iter()
                .any(|location| pcode_within(&indicator.pcode, location))
        {
            return Err(Rejection::field(
                "indicator.pcode",
                format!(
                    "{} is not one of project {}'s places ({}) nor under one",
                    indicator.pcode,
                    body.project_id,
                    project.summary.locations.join(", ")
                ),
            )
            .into());
        }
        match (new, project.results.contains_key(body.result_id)) {
            (true, true) => {
                return Err(Rejection::AlreadyRegistered {
                    what: "result",
                    id: format!("{}/{}", body.project_id, body.result_id),
                }
                .into())
            }
            (false, false) => {
                return Err(Rejection::UnknownReference {
                    what: "result",
                    id: format!("{}/{}", body.project_id, body.result_id),
                }
                .into())
            }
            _ => {}
        }
        project.results.insert(
            body.result_id.to_owned(),
            ResultRecord {
                reported_by: author_id.to_owned(),
                result_type: body.result_type,
                title: body.title.cloned().unwrap_or_default(),
                indicator,
            },
        );
        self.stage_project(body.project_id, project, position, event.id)?;
        Ok(Effects::default())
    }

    /// The owner (a donor or the ministry), or an implementer the project
    /// names among its participants (by org id or IATI identifier).
    fn may_report_results(
        &self,
        project: &ProjectRecord,
        project_id: &str,
        author_id: &str,
        role: pb::OrgRole,
    ) -> Result<(), StageError> {
        let owner = project.owner == author_id
            && matches!(role, pb::OrgRole::Donor | pb::OrgRole::Ministry);
        let implementer = role == pb::OrgRole::Implementer
            && self
                .named_as(&project.summary.implementers, author_id)?
                .is_some();
        if owner || implementer {
            return Ok(());
        }
        Err(not_allowed(
            author_id,
            role,
            &format!(
                "report results of project {project_id}: only its owner {} or an implementer it names (participant role 4) may",
                project.owner
            ),
        )
        .into())
    }

    /// How `list` (funders or implementers as a project gives them) names
    /// `org_id`: by its id or its IATI identifier; None if it does not.
    fn named_as(&self, list: &[String], org_id: &str) -> Result<Option<String>, StageError> {
        let own_iati = self
            .org(org_id)?
            .map(|org| org.iati_identifier)
            .unwrap_or_default();
        Ok(list
            .iter()
            .find(|named| *named == org_id || (!own_iati.is_empty() && **named == own_iati))
            .cloned())
    }

    /// An `attestation_made`: a party's word on a claim another made about
    /// it, kept on the claim's project. Who may attest what:
    /// - a project's funding: a funder the project names (kept under the
    ///   funder's name as the project gives it);
    /// - a project's activity, a result's period: a municipality's
    ///   organisation, where the project (the result) is;
    /// - a disbursement: the organisation it names as receiver, or a
    ///   municipality's organisation where its project is.
    ///
    /// Never the claim's own author.
    pub(super) fn attestation_made(
        &mut self,
        event: &Event,
        body: &pb::AttestationMade,
        author_id: &str,
        role: pb::OrgRole,
        position: LogPosition,
    ) -> Result<Effects, StageError> {
        let claim = body
            .subject
            .as_ref()
            .ok_or_else(|| Rejection::field("subject", "is required"))?;
        // The claim's project, read once; a disbursement names it.
        let disbursement = match claim {
            Claim::ProjectFunding(project_id) => {
                return self.funding_attested(event, body, project_id, author_id, role, position)
            }
            Claim::Transaction(event_id) => {
                let event_id = EventId::from_slice(event_id)
                    .map_err(|error| Rejection::field("transaction", error.to_string()))?;
                Some((event_id, self.disbursement(&event_id)?))
            }
            Claim::ProjectActive(_) | Claim::ResultDelivered(_) => None,
        };
        let project_id = match (claim, &disbursement) {
            (Claim::ProjectActive(project_id), _) => project_id.clone(),
            (Claim::ResultDelivered(period), _) => period.project_id.clone(),
            (_, Some((_, (transaction, _)))) => transaction.project_id.clone(),
            _ => unreachable!("invariant: every other claim returned above"),
        };
        let project = self.require_project(&project_id)?;
        // What is attested, who claimed it, and where (None: the project's places).
        let (subject, claimed_by, place) = match (claim, disbursement) {
            (Claim::ResultDelivered(period), _) => {
                let (claimed_by, place) = self.delivered_period(&project, period)?;
                let subject = Subject::Result {
                    result_id: period.result_id.clone(),
                    period_start: period.period_start.clone(),
                };
                (subject, claimed_by, place)
            }
            (_, Some((event_id, (transaction, claimed_by)))) => {
                if transaction.receiver_org_id == author_id {
                    // The receiver attests receipt, wherever the project is.
                    let record = self.attestation_record(body, event, String::new());
                    return self.keep_attestation(
                        project,
                        &project_id,
                        Subject::Transaction(event_id),
                        &claimed_by,
                        record,
                        author_id,
                        role,
                        position,
                        event.id,
                    );
                }
                (Subject::Transaction(event_id), claimed_by, None)
            }
            _ => (Subject::Active, project.owner.clone(), None),
        };
        // A municipality's organisation, for its own places.
        let area = self.attesting_area(author_id, role, &subject)?;
        let here = match place.as_deref() {
            Some(pcode) => pcode_within(pcode, &area),
            None => project
                .summary
                .locations
                .iter()
                .any(|location| pcode_within(location, &area)),
        };
        if !here {
            return Err(not_allowed(
                author_id,
                role,
                &format!(
                    "attest for project {project_id} at {}: a municipality attests only for its P-code {area} and the places under it",
                    place.unwrap_or_else(|| project.summary.locations.join(", "))
                ),
            )
            .into());
        }
        let record = self.attestation_record(body, event, area);
        self.keep_attestation(
            project,
            &project_id,
            subject,
            &claimed_by,
            record,
            author_id,
            role,
            position,
            event.id,
        )
    }

    /// A result period `project` reports as delivered: who reported it,
    /// and its own place if it has one. Refused when the project has no
    /// such result or period, or the period reports nothing delivered.
    fn delivered_period(
        &self,
        project: &ProjectRecord,
        period: &pb::ResultPeriodRef,
    ) -> Result<(String, Option<String>), StageError> {
        let result =
            project
                .results
                .get(&period.result_id)
                .ok_or_else(|| Rejection::UnknownReference {
                    what: "result",
                    id: format!("{}/{}", period.project_id, period.result_id),
                })?;
        let Some(indicator_period) = result
            .indicator
            .periods
            .iter()
            .find(|p| p.start == period.period_start)
        else {
            return Err(Rejection::UnknownReference {
                what: "result period",
                id: format!(
                    "{}/{} from {}",
                    period.project_id, period.result_id, period.period_start
                ),
            }
            .into());
        };
        if indicator_period
            .actual
            .as_ref()
            .is_none_or(|actual| actual.value.is_empty() && actual.comment.is_empty())
        {
            return Err(Rejection::field(
                "result_delivered",
                format!(
                    "result {}/{} reports no actual value for the period from {}: there is nothing delivered to attest yet",
                    period.project_id, period.result_id, period.period_start
                ),
            )
            .into());
        }
        let place = (!result.indicator.pcode.is_empty()).then(|| result.indicator.pcode.clone());
        Ok((result.reported_by.clone(), place))
    }

    /// The P-code a municipality's organisation attests for; others may
    /// attest only what names them.
    fn attesting_area(
        &self,
        author_id: &str,
        role: pb::OrgRole,
        subject: &Subject,
    ) -> Result<String, StageError> {
        let org = self.org(author_id)?.unwrap_or_default();
        if role == pb::OrgRole::LocalGovernment && !org.pcode.is_empty() {
            return Ok(org.pcode);
        }
        let what = match subject {
            Subject::Active => "attest that a project is active in a municipality",
            Subject::Result { .. } => "attest that a result was delivered in a municipality",
            Subject::Transaction(_) => {
                "attest a disbursement it is not named as receiver of (a municipality's organisation attests those where the project is)"
            }
        };
        Err(not_allowed(
            author_id,
            role,
            &format!(
                "{what}: only that municipality's own organisation (ORG_ROLE_LOCAL_GOVERNMENT) may"
            ),
        )
        .into())
    }

    fn attestation_record(
        &self,
        body: &pb::AttestationMade,
        event: &Event,
        pcode: String,
    ) -> AttestationRecord {
        AttestationRecord {
            verdict: body.verdict(),
            note: body.note.clone(),
            value: body.value.clone(),
            pcode,
            event: event.id,
        }
    }

    /// Keeps `record` as `author_id`'s word on `subject` of `project_id`
    /// (replacing its earlier word), unless it is the claim's own author.
    #[allow(clippy::too_many_arguments)]
    fn keep_attestation(
        &mut self,
        mut project: ProjectRecord,
        project_id: &str,
        subject: Subject,
        claimed_by: &str,
        record: AttestationRecord,
        author_id: &str,
        role: pb::OrgRole,
        position: LogPosition,
        event: EventId,
    ) -> Result<Effects, StageError> {
        if claimed_by == author_id {
            return Err(not_allowed(
                author_id,
                role,
                &format!(
                    "attest its own claim ({} of project {project_id}): an attestation is the word of another party",
                    subject.key()
                ),
            )
            .into());
        }
        project
            .attested
            .entry(subject.key())
            .or_default()
            .insert(author_id.to_owned(), record);
        self.stage_project(project_id, project, position, event)?;
        Ok(Effects::default())
    }

    /// The disbursement recorded by `event_id`, and who recorded it.
    fn disbursement(
        &self,
        event_id: &EventId,
    ) -> Result<(pb::TransactionRecorded, String), StageError> {
        let signed = match self.staged_event(event_id) {
            Some(signed) => signed,
            None => self
                .store
                .event(event_id)?
                .map(|(_, signed)| signed)
                .ok_or_else(|| Rejection::UnknownReference {
                    what: "event",
                    id: event_id.to_hex(),
                })?,
        };
        let body = pb::EventBody::decode(signed.body.as_slice()).map_err(|error| {
            crate::store::StoreError::Corrupt(format!(
                "stored event {event_id} does not decode: {error}"
            ))
        })?;
        match body.kind {
            Some(Kind::TransactionRecorded(transaction))
                if transaction.transaction_type == DISBURSEMENT =>
            {
                Ok((transaction, body.author))
            }
            Some(Kind::TransactionRecorded(transaction)) => Err(Rejection::field(
                "transaction",
                format!(
                    "event {event_id} records a transaction of type {}, not a disbursement (type 3): only disbursements are attested",
                    transaction.transaction_type
                ),
            )
            .into()),
            other => Err(Rejection::field(
                "transaction",
                format!(
                    "event {event_id} is a {}, not a TransactionRecorded: it cannot be attested as a disbursement",
                    other.as_ref().map_or("event without a body", crate::event::kind_name)
                ),
            )
            .into()),
        }
    }

    /// An event staged by this group or request, not yet written.
    fn staged_event(&self, event_id: &EventId) -> Option<pb::SignedEvent> {
        let id = *event_id;
        self.request
            .appended
            .iter()
            .chain(&self.group.appended)
            .find(|(record, _)| record.event_id == id)
            .map(|(_, signed)| signed.clone())
    }

    /// A funder's word on the funding a project claims of it (see
    /// `ProjectRecord::funding_attested`).
    fn funding_attested(
        &mut self,
        event: &Event,
        body: &pb::AttestationMade,
        project_id: &str,
        author_id: &str,
        role: pb::OrgRole,
        position: LogPosition,
    ) -> Result<Effects, StageError> {
        let mut project = self.require_project(project_id)?;
        if project.owner == author_id {
            return Err(not_allowed(
                author_id,
                role,
                &format!("attest the funding of its own project {project_id:?}: a funder's attestation is the word of a funder the project names, not of the organisation that registered it"),
            )
            .into());
        }
        let Some(named) = self.named_as(&project.summary.funders, author_id)? else {
            return Err(not_allowed(
                author_id,
                role,
                &format!("attest the funding of project {project_id:?}: the project does not name {author_id} as a funder"),
            )
            .into());
        };
        project.funding_attested.insert(named, body.verdict());
        self.stage_project(project_id, project, position, event.id)?;
        Ok(Effects::default())
    }
}
