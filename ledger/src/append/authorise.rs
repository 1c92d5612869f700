//! Authorisation rules that need no state: roles, and IATI's rule that an
//! activity identifier begins with its reporting organisation's.

use tansiq_proto::v1 as pb;

use crate::reject::Rejection;

use super::overlay::StageError;

/// IATI's rule for activity identifiers, the ledger's too: an identifier
/// begins with its reporting organisation's IATI identifier and a hyphen.
/// `reporter` may report `identifier` when it begins with one of the
/// publishers the ministry consented `reporter` reports for (a secondary
/// reporter); otherwise unless it begins with another organisation's
/// identifier (`owner_of` names the organisation that registered a prefix),
/// or with none of `reporter`'s own when it has one. The reason, if not.
pub fn activity_reporter(
    identifier: &str,
    reporter: Reporter<'_>,
    owner_of: impl Fn(&str) -> Option<String>,
) -> Result<(), String> {
    let under = |prefix: &str| {
        identifier.len() > prefix.len() + 1
            && identifier.starts_with(prefix)
            && identifier.as_bytes()[prefix.len()] == b'-'
    };
    let Reporter {
        org: author,
        own,
        reports_for,
    } = reporter;
    if reports_for.iter().any(|publisher| under(publisher)) {
        return Ok(());
    }
    if !own.is_empty() {
        if under(own) {
            return Ok(());
        }
        return Err(format!(
            "its IATI identifier must begin with {author}'s own, {own}- (an activity another organisation publishes is registered by that organisation, or by a secondary reporter the ministry consented to)"
        ));
    }
    // An empty prefix (an identifier beginning with '-') is no
    // organisation's identifier.
    let taken = identifier
        .match_indices('-')
        .filter(|(at, _)| *at > 0)
        .find_map(|(at, _)| {
            let prefix = &identifier[..at];
            owner_of(prefix)
                .filter(|owner| owner != author)
                .map(|owner| (owner, prefix))
        });
    match taken {
        Some((owner, prefix)) => Err(format!(
            "{prefix} is the IATI identifier of organisation {owner}, whose activities only it registers (or a secondary reporter the ministry consented to)"
        )),
        None => Ok(()),
    }
}

/// Who reports an activity, for [`activity_reporter`].
#[derive(Clone, Copy, Debug)]
pub struct Reporter<'a> {
    /// Its organisation id.
    pub org: &'a str,
    /// Its own IATI organisation identifier (empty if none).
    pub own: &'a str,
    /// The publishers the ministry consented it reports for.
    pub reports_for: &'a [String],
}

pub(super) fn project_writer(author: &str, role: pb::OrgRole) -> Result<(), StageError> {
    match role {
        pb::OrgRole::Donor | pb::OrgRole::Ministry => Ok(()),
        _ => Err(not_allowed(author, role, "write projects").into()),
    }
}

pub(super) fn not_allowed(author: &str, role: pb::OrgRole, action: &str) -> Rejection {
    Rejection::NotAllowed {
        org: author.to_owned(),
        role: role_name(role),
        action: action.to_owned(),
    }
}

/// A role's name as people read it.
pub(crate) fn role_name(role: pb::OrgRole) -> &'static str {
    match role {
        pb::OrgRole::Ministry => "ministry",
        pb::OrgRole::Donor => "donor",
        pb::OrgRole::Observer => "observer",
        pb::OrgRole::LocalGovernment => "local government",
        pb::OrgRole::Implementer => "implementer",
        pb::OrgRole::Unspecified => "unspecified",
    }
}

/// Only the ministry may do `action`.
pub(super) fn ministry_only(
    author: &str,
    role: pb::OrgRole,
    action: &str,
) -> Result<(), StageError> {
    if role == pb::OrgRole::Ministry {
        Ok(())
    } else {
        Err(not_allowed(author, role, action).into())
    }
}
