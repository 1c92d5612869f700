//! What each body type does to the state: the checks and changes of one
//! event, by kind.

use tansiq_proto::v1 as pb;

use crate::coverage::{pair, STATUS_CANCELLED, STATUS_CLOSED};
use crate::event::{Event, Kind};
use crate::ids::{LogPosition, PublicKeyBytes};
use crate::reject::Rejection;
use crate::store::{KeyRecord, MunicipalityRecord, OrgRecord, ProjectRecord};
use crate::store::{NeedRecord, PolicyRecord, ProjectSummary, ReviewRecord};

use super::authorise::{not_allowed, project_writer};
use super::overlay::{Effects, StageError};
use super::staging::Staging;

impl Staging<'_> {
    /// Authorises the event for its author's role and stages its effect on the registries.
    pub(super) fn apply_kind(
        &mut self,
        event: &Event,
        author: &OrgRecord,
        position: LogPosition,
    ) -> Result<Effects, StageError> {
        let author_id = event.author.as_str();
        let role = pb::OrgRole::try_from(author.role).unwrap_or_default();
        let ministry_only = |action: &str| -> Result<(), StageError> {
            if role == pb::OrgRole::Ministry {
                Ok(())
            } else {
                Err(not_allowed(author_id, role, action).into())
            }
        };
        match &event.kind {
            Kind::OrganisationRegistered(body) => {
                ministry_only("register organisations")?;
                if self.org(&body.org_id)?.is_some() {
                    return Err(Rejection::AlreadyRegistered {
                        what: "organisation",
                        id: body.org_id.clone(),
                    }
                    .into());
                }
                let mut keys = Vec::with_capacity(body.keys.len());
                for key in &body.keys {
                    let key = PublicKeyBytes::from_slice(key)
                        .map_err(|e| Rejection::field("keys", e.to_string()))?;
                    self.ensure_key_unused(&key, "keys")?;
                    self.request.keys.insert(
                        key,
                        KeyRecord {
                            org_id: body.org_id.clone(),
                            sequence: 0,
                            last_event: None,
                            revoked_at: None,
                        },
                    );
                    keys.push(key.0);
                }
                let name = body.name.clone().unwrap_or_default();
                self.request.orgs.insert(
                    body.org_id.clone(),
                    OrgRecord {
                        role: body.role,
                        name_arabic: name.arabic,
                        name_latin: name.latin,
                        iati_identifier: body.iati_identifier.clone(),
                        iati_org_type: body.iati_org_type,
                        keys,
                    },
                );
            }
            Kind::KeyRotated(body) => {
                self.own_org_or_ministry(author_id, role, &body.org_id, "rotate keys of")?;
                let mut org =
                    self.org(&body.org_id)?
                        .ok_or_else(|| Rejection::UnknownReference {
                            what: "organisation",
                            id: body.org_id.clone(),
                        })?;
                let new_key = PublicKeyBytes::from_slice(&body.new_key)
                    .map_err(|e| Rejection::field("new_key", e.to_string()))?;
                self.ensure_key_unused(&new_key, "new_key")?;
                if !body.retired_key.is_empty() {
                    let retired = PublicKeyBytes::from_slice(&body.retired_key)
                        .map_err(|e| Rejection::field("retired_key", e.to_string()))?;
                    self.revoke(&body.org_id, &retired, "retired_key", position)?;
                }
                self.request.keys.insert(
                    new_key,
                    KeyRecord {
                        org_id: body.org_id.clone(),
                        sequence: 0,
                        last_event: None,
                        revoked_at: None,
                    },
                );
                org.keys.push(new_key.0);
                self.request.orgs.insert(body.org_id.clone(), org);
            }
            Kind::KeyRevoked(body) => {
                self.own_org_or_ministry(author_id, role, &body.org_id, "revoke keys of")?;
                let key = PublicKeyBytes::from_slice(&body.key)
                    .map_err(|e| Rejection::field("key", e.to_string()))?;
                self.revoke(&body.org_id, &key, "key", position)?;
                self.keep_an_active_ministry_key(&body.org_id)?;
            }
            Kind::MunicipalityRegistered(body) => {
                ministry_only("register municipalities")?;
                if self.municipality(&body.pcode)?.is_some() {
                    return Err(Rejection::AlreadyRegistered {
                        what: "municipality",
                        id: body.pcode.clone(),
                    }
                    .into());
                }
                if !body.parent_pcode.is_empty() {
                    self.require_municipality(&body.parent_pcode)?;
                }
                let name = body.name.clone().unwrap_or_default();
                self.request.municipalities.insert(
                    body.pcode.clone(),
                    MunicipalityRecord {
                        parent: body.parent_pcode.clone(),
                        admin_level: body.admin_level,
                        name_arabic: name.arabic,
                        name_latin: name.latin,
                    },
                );
            }
            Kind::SectorPolicySet(body) => {
                ministry_only("set sector coordination policies")?;
                let record = PolicyRecord {
                    policy: body.policy,
                    committed_at_ms: self.committed_at_ms,
                };
                self.request
                    .policy_writes
                    .push((body.sector.clone(), position, record.clone()));
                self.request.policies.insert(body.sector.clone(), record);
            }
            Kind::NeedAssessed(body) => {
                ministry_only("record assessed needs")?;
                self.require_municipality(&body.pcode)?;
                self.request.needs.push((
                    body.pcode.clone(),
                    body.sector.clone(),
                    position,
                    NeedRecord {
                        people_in_need: body.people_in_need,
                        severity: body.severity,
                        period_start: body.period_start.clone(),
                        period_end: body.period_end.clone(),
                        source: body.source.clone(),
                        committed_at_ms: self.committed_at_ms,
                    },
                ));
            }
            Kind::OverlapReviewed(body) => {
                ministry_only("review overlaps")?;
                if body.project_a == body.project_b {
                    return Err(Rejection::field("project_b", "must differ from project_a").into());
                }
                let review = ReviewRecord {
                    verdict: body.verdict,
                    note: body.note.clone(),
                    committed_at_ms: self.committed_at_ms,
                };
                let (a, b) = pair(&body.project_a, &body.project_b);
                self.request.review_writes.push((
                    a.to_owned(),
                    b.to_owned(),
                    position,
                    review.clone(),
                ));
                self.request
                    .reviews
                    .insert((a.to_owned(), b.to_owned()), review);
                // A review releases a project held for it.
                for project_id in [&body.project_a, &body.project_b] {
                    let mut project = self.require_project(project_id)?;
                    project.pending_review = false;
                    self.stage_project(project_id, project, position, event.id);
                }
            }
            Kind::ProjectRegistered(body) => {
                project_writer(author_id, role)?;
                if self.project(&body.project_id)?.is_some() {
                    return Err(Rejection::AlreadyRegistered {
                        what: "project",
                        id: body.project_id.clone(),
                    }
                    .into());
                }
                let details = body
                    .details
                    .as_ref()
                    .ok_or_else(|| Rejection::field("details", "is required"))?;
                self.require_locations(details)?;
                self.own_activity_identifier(author_id, role, &details.iati_identifier)?;
                let project = ProjectRecord {
                    owner: author_id.to_owned(),
                    iati_identifier: details.iati_identifier.clone(),
                    status: details.status,
                    closed: false,
                    closed_on: String::new(),
                    registered_on: self.today().to_string(),
                    pending_review: false,
                    summary: ProjectSummary::from_details(details),
                };
                return self.stage_project_details(&body.project_id, project, position, event.id);
            }
            Kind::ProjectUpdated(body) => {
                let mut project = self.own_open_project(author_id, role, &body.project_id)?;
                let details = body
                    .details
                    .as_ref()
                    .ok_or_else(|| Rejection::field("details", "is required"))?;
                self.require_locations(details)?;
                self.own_activity_identifier(author_id, role, &details.iati_identifier)?;
                project.status = details.status;
                project.iati_identifier = details.iati_identifier.clone();
                project.summary = ProjectSummary::from_details(details);
                return self.stage_project_details(&body.project_id, project, position, event.id);
            }
            Kind::ProjectStatusChanged(body) => {
                let mut project = self.own_open_project(author_id, role, &body.project_id)?;
                project.status = body.status;
                if matches!(body.status, STATUS_CLOSED | STATUS_CANCELLED) {
                    project.closed = true;
                    project.closed_on = self.date_or_today(&body.effective_date);
                }
                self.stage_project(&body.project_id, project, position, event.id);
            }
            Kind::TransactionRecorded(body) => {
                self.own_project(author_id, role, &body.project_id)?;
                self.request
                    .project_events
                    .push((body.project_id.clone(), position, event.id));
            }
            Kind::ProjectClosed(body) => {
                let mut project = self.own_open_project(author_id, role, &body.project_id)?;
                project.closed = true;
                project.status = if body.cancelled {
                    STATUS_CANCELLED
                } else {
                    STATUS_CLOSED
                };
                project.closed_on = self.date_or_today(&body.end_date);
                self.stage_project(&body.project_id, project, position, event.id);
            }
        }
        Ok(Effects::default())
    }
}
