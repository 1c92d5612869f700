//! What each body type does to the state: the checks and changes of one
//! event, by kind.

use crate::event::{Event, Kind};
use crate::ids::LogPosition;
use crate::store::OrgRecord;

use super::attest::ResultBody;
use super::overlay::{Effects, StageError};
use super::staging::Staging;

impl Staging<'_> {
    /// Authorises the event for its author's role and stages its effect on the registries.
    pub(super) fn stage_kind(
        &mut self,
        event: &Event,
        author: &OrgRecord,
        position: LogPosition,
    ) -> Result<Effects, StageError> {
        let author_id = event.author.as_str();
        let role = author.role;
        match &event.kind {
            Kind::OrganisationRegistered(body) => {
                self.organisation_registered(body, author_id, role)
            }
            Kind::KeyRotated(body) => self.key_rotated(body, author_id, role, position),
            Kind::KeyRevoked(body) => self.key_revoked(body, author_id, role, position),
            Kind::MunicipalityRegistered(body) => {
                self.municipality_registered(body, author_id, role)
            }
            Kind::SectorPolicySet(body) => self.sector_policy_set(body, author_id, role, position),
            Kind::NeedAssessed(body) => self.need_assessed(body, author_id, role, position),
            Kind::OverlapReviewed(body) => {
                self.overlap_reviewed(event, body, author_id, role, position)
            }
            Kind::ProjectRegistered(body) => {
                self.project_registered(event, body, author_id, role, position)
            }
            Kind::ProjectUpdated(body) => {
                self.project_updated(event, body, author_id, role, position)
            }
            Kind::ProjectStatusChanged(body) => {
                self.project_status_changed(event, body, author_id, role, position)
            }
            Kind::TransactionRecorded(body) => {
                self.transaction_recorded(event, body, author_id, role, position)
            }
            Kind::ProjectClosed(body) => {
                self.project_closed(event, body, author_id, role, position)
            }
            Kind::AttestationMade(body) => {
                self.attestation_made(event, body, author_id, role, position)
            }
            Kind::ResultReported(body) => self.result_written(
                event,
                ResultBody {
                    project_id: &body.project_id,
                    result_id: &body.result_id,
                    result_type: body.result_type(),
                    title: body.title.as_ref(),
                    indicator: body.indicator.as_ref(),
                },
                true,
                author_id,
                role,
                position,
            ),
            Kind::ResultUpdated(body) => self.result_written(
                event,
                ResultBody {
                    project_id: &body.project_id,
                    result_id: &body.result_id,
                    result_type: body.result_type(),
                    title: body.title.as_ref(),
                    indicator: body.indicator.as_ref(),
                },
                false,
                author_id,
                role,
                position,
            ),
            Kind::SecondaryReportingConsented(body) => {
                self.secondary_reporting_consented(body, author_id, role)
            }
            Kind::MembershipChangeAuthorised(_) => {
                self.membership_change_authorised(author_id, role)
            }
        }
    }
}
