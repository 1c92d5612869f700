//! The registry's rules: organisations, keys (rotation, revocation, the
//! ministry's last key) and IATI identifiers.

use tansiq_proto::v1 as pb;

use crate::ids::{LogPosition, PublicKeyBytes};
use crate::reject::Rejection;
use crate::store::{KeyRecord, MunicipalityRecord, OrgRecord};

use super::authorise::{activity_reporter, ministry_only, not_allowed, Reporter};
use super::overlay::{Effects, StageError};
use super::staging::Staging;

impl Staging<'_> {
    pub(super) fn own_org_or_ministry(
        &self,
        author: &str,
        role: pb::OrgRole,
        org_id: &str,
        action: &str,
    ) -> Result<(), StageError> {
        if role == pb::OrgRole::Ministry || author == org_id {
            Ok(())
        } else {
            Err(not_allowed(author, role, &format!("{action} organisation {org_id}")).into())
        }
    }

    pub(super) fn ensure_key_unused(
        &self,
        key: &PublicKeyBytes,
        field: &str,
    ) -> Result<(), StageError> {
        match self.key(key)? {
            Some(record) => Err(Rejection::field(
                field,
                format!(
                    "key {key} is already registered to organisation {}",
                    record.org_id
                ),
            )
            .into()),
            None => Ok(()),
        }
    }

    pub(super) fn revoke(
        &mut self,
        org_id: &str,
        key: &PublicKeyBytes,
        field: &str,
        position: LogPosition,
    ) -> Result<(), StageError> {
        let mut record = self.key(key)?.ok_or(Rejection::UnknownKey { key: *key })?;
        if record.org_id != org_id {
            return Err(Rejection::field(
                field,
                format!(
                    "key {key} belongs to organisation {}, not {org_id}",
                    record.org_id
                ),
            )
            .into());
        }
        if let Some(at) = record.revoked_at {
            return Err(Rejection::field(
                field,
                format!("key {key} was already revoked at log position {at}"),
            )
            .into());
        }
        record.revoked_at = Some(position);
        self.request.keys.insert(*key, record);
        Ok(())
    }

    /// IATI's own rule: an activity identifier begins with its reporting
    /// organisation's identifier and a hyphen. An organisation that
    /// registered an IATI organisation identifier reports only activities
    /// under it; one without reports none under another's. So no
    /// organisation can take another's activities (and with them the
    /// right to report them).
    pub(super) fn own_activity_identifier(
        &self,
        author_id: &str,
        role: pb::OrgRole,
        identifier: &str,
    ) -> Result<(), StageError> {
        let org = self.org(author_id)?.unwrap_or_default();
        let owners = self.memory.iati_owners(self.store)?;
        let owner_of = |prefix: &str| {
            owners.get(prefix).cloned().or_else(|| {
                // An organisation registered earlier in this request or
                // this group, not yet written. Both: the verdict must not
                // depend on where a request or group boundary fell (a
                // cluster's nodes apply Raft entries, each a group, in
                // batches of their own sizes, all staged on one group's
                // overlay; a rebuild stages a commit time's events as one
                // request). The least id if several share the identifier,
                // not a hash map's order.
                [&self.request.orgs, &self.group.orgs]
                    .into_iter()
                    .flatten()
                    .filter(|(_, org)| org.iati_identifier == prefix)
                    .map(|(org_id, _)| org_id)
                    .min()
                    .cloned()
            })
        };
        let reporter = Reporter {
            org: author_id,
            own: &org.iati_identifier,
            reports_for: &org.reports_for,
        };
        activity_reporter(identifier, reporter, owner_of).map_err(|reason| {
            not_allowed(
                author_id,
                role,
                &format!("report activity {identifier:?}: {reason}"),
            )
            .into()
        })
    }

    /// An IATI activity identifier names one activity on the ledger: refused
    /// when a project other than `project_id` has it.
    pub(super) fn identifier_unused(
        &self,
        project_id: &str,
        identifier: &str,
    ) -> Result<(), StageError> {
        if identifier.is_empty() {
            return Ok(());
        }
        // Hints: the project last staged with it in the request, in the
        // group, and last written with it in the store; each one's current
        // record confirms or not.
        let candidates = [
            self.request.identifiers.get(identifier).cloned(),
            self.group.identifiers.get(identifier).cloned(),
            self.store.iati_activity(identifier)?,
        ];
        for other in candidates.into_iter().flatten() {
            if other != project_id
                && self
                    .project(&other)?
                    .is_some_and(|record| record.iati_identifier == identifier)
            {
                return Err(Rejection::IdentifierTaken {
                    identifier: identifier.to_owned(),
                    project: other,
                }
                .into());
            }
        }
        Ok(())
    }

    /// A ministry that revoked its last active key could never register,
    /// rotate or review anything again: refused (rotate first).
    pub(super) fn keep_an_active_ministry_key(&self, org_id: &str) -> Result<(), StageError> {
        let Some(org) = self.org(org_id)? else {
            return Ok(());
        };
        if org.role != pb::OrgRole::Ministry {
            return Ok(());
        }
        for key in &org.keys {
            let record = self.key(key)?;
            if record.is_some_and(|record| record.revoked_at.is_none()) {
                return Ok(());
            }
        }
        Err(Rejection::field(
            "key",
            format!(
                "this is the last active key of ministry organisation {org_id}: without one nobody could administer the ledger again; add a key first (KeyRotated with a new_key), then revoke this one"
            ),
        )
        .into())
    }
}

/// What each body type does (`Staging::stage_kind` dispatches here).
impl Staging<'_> {
    /// A `secondary_reporting_consented`: the ministry lets `org_id` report
    /// activities under another publisher's IATI identifier, or takes that
    /// back.
    pub(super) fn secondary_reporting_consented(
        &mut self,
        body: &pb::SecondaryReportingConsented,
        author_id: &str,
        role: pb::OrgRole,
    ) -> Result<Effects, StageError> {
        ministry_only(author_id, role, "consent to secondary reporting")?;
        let mut org = self
            .org(&body.org_id)?
            .ok_or_else(|| Rejection::UnknownReference {
                what: "organisation",
                id: body.org_id.clone(),
            })?;
        let publisher = &body.iati_org_identifier;
        if *publisher == org.iati_identifier {
            return Err(Rejection::field(
                "iati_org_identifier",
                format!("{publisher} is {}'s own IATI identifier: it reports those activities without consent", body.org_id),
            )
            .into());
        }
        let consented = org.reports_for.contains(publisher);
        match (body.withdrawn, consented) {
            (false, true) | (true, false) => {
                let state = if consented { "already has" } else { "has no" };
                return Err(Rejection::field(
                    "withdrawn",
                    format!(
                        "{} {state} the consent to report for {publisher}",
                        body.org_id
                    ),
                )
                .into());
            }
            (false, false) => org.reports_for.push(publisher.clone()),
            (true, true) => org.reports_for.retain(|p| p != publisher),
        }
        self.request.orgs.insert(body.org_id.clone(), org);
        Ok(Effects::default())
    }

    /// An `organisation_registered`: its checks and what it changes.
    pub(super) fn organisation_registered(
        &mut self,
        body: &pb::OrganisationRegistered,
        author_id: &str,
        role: pb::OrgRole,
    ) -> Result<Effects, StageError> {
        ministry_only(author_id, role, "register organisations")?;
        if self.org(&body.org_id)?.is_some() {
            return Err(Rejection::AlreadyRegistered {
                what: "organisation",
                id: body.org_id.clone(),
            }
            .into());
        }
        if !body.pcode.is_empty() && self.municipality(&body.pcode)?.is_none() {
            return Err(Rejection::UnknownReference {
                what: "municipality",
                id: body.pcode.clone(),
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
            keys.push(key);
        }
        let name = body.name.clone().unwrap_or_default();
        self.request.orgs.insert(
            body.org_id.clone(),
            OrgRecord {
                role: body.role(),
                name_arabic: name.arabic,
                name_latin: name.latin,
                iati_identifier: body.iati_identifier.clone(),
                iati_org_type: body.iati_org_type,
                keys,
                reports_for: Vec::new(),
                pcode: body.pcode.clone(),
            },
        );
        Ok(Effects::default())
    }

    /// A `key_rotated`: its checks and what it changes.
    pub(super) fn key_rotated(
        &mut self,
        body: &pb::KeyRotated,
        author_id: &str,
        role: pb::OrgRole,
        position: LogPosition,
    ) -> Result<Effects, StageError> {
        self.own_org_or_ministry(author_id, role, &body.org_id, "rotate keys of")?;
        let mut org = self
            .org(&body.org_id)?
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
        org.keys.push(new_key);
        self.request.orgs.insert(body.org_id.clone(), org);
        Ok(Effects::default())
    }

    /// A `key_revoked`: its checks and what it changes.
    pub(super) fn key_revoked(
        &mut self,
        body: &pb::KeyRevoked,
        author_id: &str,
        role: pb::OrgRole,
        position: LogPosition,
    ) -> Result<Effects, StageError> {
        self.own_org_or_ministry(author_id, role, &body.org_id, "revoke keys of")?;
        let key = PublicKeyBytes::from_slice(&body.key)
            .map_err(|e| Rejection::field("key", e.to_string()))?;
        self.revoke(&body.org_id, &key, "key", position)?;
        self.keep_an_active_ministry_key(&body.org_id)?;
        Ok(Effects::default())
    }

    /// A `municipality_registered`: its checks and what it changes.
    pub(super) fn municipality_registered(
        &mut self,
        body: &pb::MunicipalityRegistered,
        author_id: &str,
        role: pb::OrgRole,
    ) -> Result<Effects, StageError> {
        ministry_only(author_id, role, "register municipalities")?;
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
        Ok(Effects::default())
    }
}
