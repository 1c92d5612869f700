//! The coverage projection's writer: project records, versions, places,
//! and the overlap check a registration gets.

use std::collections::BTreeSet;
use std::sync::Arc;

use tansiq_proto::v1 as pb;

use crate::coverage::{judge, pair, Candidate, Compared, Complementary, Judged, OverlapKind};
use crate::event::codes::ActivityStatus;
use crate::event::Event;
use crate::ids::{EventId, LogPosition};
use crate::limits::RECEIPT_OVERLAP_WARNINGS_MAX;
use crate::reject::Rejection;
use crate::store::{
    NeedRecord, PolicyRecord, ProjectRecord, ProjectSummary, ReviewRecord, StoreError,
};

use super::authorise::{ministry_only, not_allowed, project_writer};
use super::overlay::{Effects, StageError};
use super::receipt::Warning;
use super::staging::{Receipts, Staging};

impl Staging<'_> {
    /// Stages a project's new state: its record, a version, its history and
    /// its coverage index entries.
    pub(super) fn stage_project(
        &mut self,
        project_id: &str,
        project: ProjectRecord,
        position: LogPosition,
        event: EventId,
    ) -> Result<(), StoreError> {
        // The places it leaves count again, as do those it comes to.
        if let Some(before) = self.project(project_id)? {
            for (pcode, sector) in before.places() {
                self.request
                    .touched
                    .insert((pcode.to_owned(), sector.to_owned()));
                if !project.places().any(|place| place == (pcode, sector)) {
                    self.request.left.push((
                        pcode.to_owned(),
                        sector.to_owned(),
                        project_id.to_owned(),
                    ));
                }
            }
        }
        for (pcode, sector) in project.places() {
            self.request
                .touched
                .insert((pcode.to_owned(), sector.to_owned()));
            self.request.coverage.insert((
                pcode.to_owned(),
                sector.to_owned(),
                project_id.to_owned(),
            ));
        }
        self.request
            .project_events
            .push((project_id.to_owned(), position, event));
        let project = Arc::new(project);
        self.request.project_versions.push((
            project_id.to_owned(),
            position,
            Arc::clone(&project),
            self.committed_at_ms,
        ));
        if !project.iati_identifier.is_empty() {
            self.request
                .identifiers
                .insert(project.iati_identifier.clone(), project_id.to_owned());
        }
        self.request.projects.insert(project_id.to_owned(), project);
        Ok(())
    }

    /// Stages a registration or update, with the overlaps it creates as
    /// warnings (when its receipt is told: see [`Receipts`]); under a
    /// `hold` policy an overlapping project is held.
    pub(super) fn stage_project_details(
        &mut self,
        project_id: &str,
        mut project: ProjectRecord,
        position: LogPosition,
        event: EventId,
    ) -> Result<Effects, StageError> {
        let mut effects = Effects::default();
        if self.receipts == Receipts::Told {
            effects.warnings = self.overlap_warnings(project_id, &project)?;
        }
        let held_sectors = self.held_sectors(project_id, &project)?;
        if !held_sectors.is_empty() {
            project.pending_review = true;
            effects.pending_review = true;
            effects.warnings.push(Warning::held(held_sectors));
        }
        self.stage_project(project_id, project, position, event)?;
        Ok(effects)
    }

    /// The receipt's overlap warnings: up to `RECEIPT_OVERLAP_WARNINGS_MAX`
    /// per place, and one saying there are more.
    fn overlap_warnings(
        &self,
        project_id: &str,
        project: &ProjectRecord,
    ) -> Result<Vec<Warning>, StageError> {
        let overlaps = self.overlaps_of(
            project_id,
            project,
            RECEIPT_OVERLAP_WARNINGS_MAX + 1,
            |_| Ok(true),
        )?;
        let total = overlaps.len();
        let mut warnings = Vec::with_capacity(total.min(RECEIPT_OVERLAP_WARNINGS_MAX + 1));
        for (shown, found) in overlaps.into_iter().enumerate() {
            if shown == RECEIPT_OVERLAP_WARNINGS_MAX {
                warnings.push(Warning::more_overlaps(total - shown));
                break;
            }
            let Found {
                pcode,
                sector,
                other,
                kind,
            } = found;
            warnings.push(Warning::overlap(pcode, sector, other, kind));
        }
        Ok(warnings)
    }

    /// The sectors under the `hold` policy in which `project` overlaps
    /// another project in one of its places: it is held if there is any.
    /// One overlap per place is enough, and places in other sectors are not
    /// searched. The same whether the receipt is told or not, so the state a
    /// rebuild writes is the state the first commit wrote.
    fn held_sectors(
        &self,
        project_id: &str,
        project: &ProjectRecord,
    ) -> Result<BTreeSet<String>, StageError> {
        let held = self.overlaps_of(project_id, project, 1, |sector| {
            Ok(self.policy(sector)? == pb::CoordinationPolicy::Hold)
        })?;
        Ok(held.into_iter().map(|found| found.sector).collect())
    }

    /// The projects `project` would overlap with now (unreviewed or not
    /// reviewed as complementary), one entry per other project: in the
    /// places whose sector `searched` accepts, at most `per_place` in each,
    /// in id order (the same on every node).
    pub(super) fn overlaps_of(
        &self,
        project_id: &str,
        project: &ProjectRecord,
        per_place: usize,
        searched: impl Fn(&str) -> Result<bool, StoreError>,
    ) -> Result<Vec<Found>, StageError> {
        let today = self.today();
        let compared = Compared::of(project);
        let mut found = Vec::new();
        // One entry per other project: those found in an earlier place are
        // not found again (a place lists each id once). Most projects have
        // one place, and need no such set.
        let mut seen = project.places().nth(1).map(|_| BTreeSet::new());
        for (pcode, sector) in project.places() {
            if !searched(sector)? {
                continue;
            }
            // Enough to name RECEIPT_OVERLAP_WARNINGS_MAX and say there are
            // more, or to know whether this place's sector policy holds it:
            // a crowded sector does not make every comparison slower.
            let mut in_place = 0;
            // Candidates: the place's projects as written (remembered in
            // memory, or read from the store as far as needed: `places.rs`)
            // and those this group staged there, merged in id order. A
            // project the group changed is read as staged.
            let mut written =
                self.memory
                    .places
                    .read(self.store, &self.memory.projects, pcode, sector);
            let mut staged = BTreeSet::new();
            for overlay in [&self.group.coverage, &self.request.coverage] {
                // A range of the ordered set: a group of thousands of
                // registrations must not scan itself once per registration.
                let from = (pcode.to_owned(), sector.to_owned(), String::new());
                staged.extend(
                    overlay
                        .range(from..)
                        .take_while(|(p, s, _)| p == pcode && s == sector)
                        .map(|(_, _, id)| id.as_str()),
                );
            }
            // A project listed as written and not staged here is as written,
            // unless this group moved it out of here: `stage_project` names
            // every place a staged project is in, and in `left` those it
            // left. Most groups move nothing, and most candidates then need
            // no look-up of the group's projects.
            let moved_out = !self.group.left.is_empty() || !self.request.left.is_empty();
            for written in merged(written.by_ref(), staged) {
                let written = written?;
                let other_id = written.id();
                if other_id == project_id
                    || seen.as_ref().is_some_and(|seen| seen.contains(other_id))
                {
                    continue;
                }
                let other = match &written {
                    Written::Only(form) if !moved_out => Arc::clone(form),
                    Written::Only(_) | Written::Staged(..) => match self.staged_project(other_id) {
                        Some(staged) => {
                            let still_there = staged.places().any(|place| place == (pcode, sector));
                            if !still_there {
                                continue;
                            }
                            Arc::new(Candidate::of(other_id, &staged))
                        }
                        None => match written.form() {
                            Some(form) => Arc::clone(form),
                            None => continue,
                        },
                    },
                };
                if !other.counts_on(today) {
                    continue;
                }
                let judged = judge(&compared, &*other, Complementary::LeftOut, || {
                    self.review(project_id, other_id)
                })?;
                let Some(Judged { kind, .. }) = judged else {
                    continue;
                };
                if let Some(seen) = seen.as_mut() {
                    seen.insert(other_id.to_owned());
                }
                found.push(Found {
                    pcode: pcode.to_owned(),
                    sector: sector.to_owned(),
                    other,
                    kind,
                });
                in_place += 1;
                if in_place >= per_place {
                    break;
                }
            }
            written.finish();
        }
        Ok(found)
    }

    /// A project as this request or group staged it, if either did.
    fn staged_project(&self, project_id: &str) -> Option<Arc<ProjectRecord>> {
        self.request
            .projects
            .get(project_id)
            .or_else(|| self.group.projects.get(project_id))
            .cloned()
    }
}

/// A project a registration overlaps with, and where.
pub(super) struct Found {
    pub(super) pcode: String,
    pub(super) sector: String,
    pub(super) other: Arc<Candidate>,
    pub(super) kind: OverlapKind,
}

/// How a place's candidate was found: listed as written and not staged
/// there, or staged there (by its id, with its written form, if listed).
enum Written<'a> {
    Only(Arc<Candidate>),
    Staged(&'a str, Option<Arc<Candidate>>),
}

impl Written<'_> {
    fn id(&self) -> &str {
        match self {
            Written::Only(written) => &written.id,
            Written::Staged(id, _) => id,
        }
    }

    fn form(&self) -> Option<&Arc<Candidate>> {
        match self {
            Written::Only(written) => Some(written),
            Written::Staged(_, written) => written.as_ref(),
        }
    }
}

/// A place's projects as written (`written`, in id order) and the ids this
/// group staged there, merged in id order without repeats: each id with its
/// written form, if listed, and whether it was staged there. Stops at the
/// first error reading the written ones.
fn merged<'a>(
    written: impl Iterator<Item = Result<Arc<Candidate>, StoreError>> + 'a,
    staged: BTreeSet<&'a str>,
) -> impl Iterator<Item = Result<Written<'a>, StoreError>> + 'a {
    let (mut written, mut staged) = (written.peekable(), staged.into_iter().peekable());
    std::iter::from_fn(move || {
        let order = match (written.peek(), staged.peek()) {
            (Some(Err(_)), _) => return written.next().map(|error| error.map(Written::Only)),
            (Some(Ok(form)), Some(id)) => (*form.id).cmp(id),
            (Some(Ok(_)), None) => std::cmp::Ordering::Less,
            (None, _) => std::cmp::Ordering::Greater,
        };
        match order {
            std::cmp::Ordering::Less => written.next().map(|form| form.map(Written::Only)),
            std::cmp::Ordering::Greater => staged.next().map(|id| Ok(Written::Staged(id, None))),
            std::cmp::Ordering::Equal => {
                let id = staged.next()?;
                written
                    .next()
                    .map(|form| form.map(|form| Written::Staged(id, Some(form))))
            }
        }
    })
}

impl Staging<'_> {
    pub(super) fn own_project(
        &self,
        author: &str,
        role: pb::OrgRole,
        project_id: &str,
    ) -> Result<ProjectRecord, StageError> {
        project_writer(author, role)?;
        let project = self.require_project(project_id)?;
        if project.owner != author {
            return Err(not_allowed(
                author,
                role,
                &format!(
                    "write project {project_id}, which belongs to {}",
                    project.owner
                ),
            )
            .into());
        }
        Ok(project)
    }

    pub(super) fn own_open_project(
        &self,
        author: &str,
        role: pb::OrgRole,
        project_id: &str,
    ) -> Result<ProjectRecord, StageError> {
        let project = self.own_project(author, role, project_id)?;
        if project.closed {
            return Err(Rejection::field(
                "project_id",
                format!("project {project_id} is closed; it can only receive transactions"),
            )
            .into());
        }
        Ok(project)
    }
}

/// What each body type does (`Staging::stage_kind` dispatches here).
impl Staging<'_> {
    /// A `sector_policy_set`: its checks and what it changes.
    pub(super) fn sector_policy_set(
        &mut self,
        body: &pb::SectorPolicySet,
        author_id: &str,
        role: pb::OrgRole,
        position: LogPosition,
    ) -> Result<Effects, StageError> {
        ministry_only(author_id, role, "set sector coordination policies")?;
        let record = PolicyRecord {
            policy: body.policy(),
            committed_at_ms: self.committed_at_ms,
        };
        self.request
            .policy_writes
            .push((body.sector.clone(), position, record.clone()));
        self.request.policies.insert(body.sector.clone(), record);
        Ok(Effects::default())
    }

    /// A `membership_change_authorised`: the ministry's record of a
    /// cluster membership change. It changes no registry: the log holds it,
    /// and the node makes the change once it is committed.
    pub(super) fn membership_change_authorised(
        &mut self,
        author_id: &str,
        role: pb::OrgRole,
    ) -> Result<Effects, StageError> {
        ministry_only(author_id, role, "authorise cluster membership changes")?;
        Ok(Effects::default())
    }

    /// A `need_assessed`: its checks and what it changes.
    pub(super) fn need_assessed(
        &mut self,
        body: &pb::NeedAssessed,
        author_id: &str,
        role: pb::OrgRole,
        position: LogPosition,
    ) -> Result<Effects, StageError> {
        ministry_only(author_id, role, "record assessed needs")?;
        self.require_municipality(&body.pcode)?;
        self.request
            .touched
            .insert((body.pcode.clone(), body.sector.clone()));
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
        Ok(Effects::default())
    }

    /// An `overlap_reviewed`: its checks and what it changes.
    pub(super) fn overlap_reviewed(
        &mut self,
        event: &Event,
        body: &pb::OverlapReviewed,
        author_id: &str,
        role: pb::OrgRole,
        position: LogPosition,
    ) -> Result<Effects, StageError> {
        ministry_only(author_id, role, "review overlaps")?;
        if body.project_a == body.project_b {
            return Err(Rejection::field("project_b", "must differ from project_a").into());
        }
        let review = ReviewRecord {
            verdict: body.verdict(),
            note: body.note.clone(),
            committed_at_ms: self.committed_at_ms,
        };
        let (a, b) = pair(&body.project_a, &body.project_b);
        self.request
            .review_writes
            .push((a.to_owned(), b.to_owned(), position, review.clone()));
        self.request
            .reviews
            .insert((a.to_owned(), b.to_owned()), review);
        // A review releases a project held for it.
        for project_id in [&body.project_a, &body.project_b] {
            let mut project = self.require_project(project_id)?;
            project.pending_review = false;
            self.stage_project(project_id, project, position, event.id)?;
        }
        Ok(Effects::default())
    }

    /// A `project_registered`: its checks and what it changes.
    pub(super) fn project_registered(
        &mut self,
        event: &Event,
        body: &pb::ProjectRegistered,
        author_id: &str,
        role: pb::OrgRole,
        position: LogPosition,
    ) -> Result<Effects, StageError> {
        project_writer(author_id, role)?;
        if self.project(&body.project_id)?.is_some() {
            return Err(Rejection::AlreadyRegistered {
                what: "project",
                id: body.project_id.clone(),
            }
            .into());
        }
        let details =
            self.checked_details(author_id, role, &body.project_id, body.details.as_ref())?;
        let project =
            ProjectRecord::registration(author_id.to_owned(), details, self.today().to_string());
        self.stage_project_details(&body.project_id, project, position, event.id)
    }

    /// A project's new details, checked against the state: present, in
    /// registered places, under an identifier `author_id` may report (or
    /// the one the project already has) and no other project has.
    fn checked_details<'d>(
        &self,
        author_id: &str,
        role: pb::OrgRole,
        project_id: &str,
        details: Option<&'d pb::ProjectDetails>,
    ) -> Result<&'d pb::ProjectDetails, StageError> {
        let details = details.ok_or_else(|| Rejection::field("details", "is required"))?;
        self.require_locations(details)?;
        // A project keeps the identifier it was registered under, even if
        // the consent that let its reporter take it was withdrawn since.
        let kept = self.project(project_id)?.is_some_and(|project| {
            project.owner == author_id && project.iati_identifier == details.iati_identifier
        });
        if !kept {
            self.own_activity_identifier(author_id, role, &details.iati_identifier)?;
        }
        self.identifier_unused(project_id, &details.iati_identifier)?;
        Ok(details)
    }

    /// A `project_updated`: its checks and what it changes.
    pub(super) fn project_updated(
        &mut self,
        event: &Event,
        body: &pb::ProjectUpdated,
        author_id: &str,
        role: pb::OrgRole,
        position: LogPosition,
    ) -> Result<Effects, StageError> {
        let mut project = self.own_open_project(author_id, role, &body.project_id)?;
        let details =
            self.checked_details(author_id, role, &body.project_id, body.details.as_ref())?;
        project.status = ActivityStatus(details.status);
        project.iati_identifier = details.iati_identifier.clone();
        project.summary = ProjectSummary::from_details(details);
        self.stage_project_details(&body.project_id, project, position, event.id)
    }

    /// A `project_status_changed`: its checks and what it changes.
    pub(super) fn project_status_changed(
        &mut self,
        event: &Event,
        body: &pb::ProjectStatusChanged,
        author_id: &str,
        role: pb::OrgRole,
        position: LogPosition,
    ) -> Result<Effects, StageError> {
        let mut project = self.own_open_project(author_id, role, &body.project_id)?;
        project.status = ActivityStatus(body.status);
        if project.status.ends_the_project() {
            project.closed = true;
            project.closed_on = self.date_or_today(&body.effective_date);
        }
        self.stage_project(&body.project_id, project, position, event.id)?;
        Ok(Effects::default())
    }

    /// A `transaction_recorded`: its checks and what it changes.
    pub(super) fn transaction_recorded(
        &mut self,
        event: &Event,
        body: &pb::TransactionRecorded,
        author_id: &str,
        role: pb::OrgRole,
        position: LogPosition,
    ) -> Result<Effects, StageError> {
        self.own_project(author_id, role, &body.project_id)?;
        self.request
            .project_events
            .push((body.project_id.clone(), position, event.id));
        Ok(Effects::default())
    }

    /// A `project_closed`: its checks and what it changes.
    pub(super) fn project_closed(
        &mut self,
        event: &Event,
        body: &pb::ProjectClosed,
        author_id: &str,
        role: pb::OrgRole,
        position: LogPosition,
    ) -> Result<Effects, StageError> {
        let mut project = self.own_open_project(author_id, role, &body.project_id)?;
        project.closed = true;
        project.status = if body.cancelled {
            ActivityStatus::CANCELLED
        } else {
            ActivityStatus::CLOSED
        };
        project.closed_on = self.date_or_today(&body.end_date);
        self.stage_project(&body.project_id, project, position, event.id)?;
        Ok(Effects::default())
    }
}
