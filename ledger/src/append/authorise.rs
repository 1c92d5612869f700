//! Authorisation rules that need no state: roles, and IATI's rule that an
//! activity identifier begins with its reporting organisation's.

use tansiq_proto::v1 as pb;

use crate::reject::Rejection;

use super::overlay::StageError;

/// IATI's rule for activity identifiers, the ledger's too: an identifier
/// begins with its reporting organisation's IATI identifier and a hyphen.
/// `author` (whose own IATI identifier is `own`, empty if none) may report
/// `identifier` unless it begins with another organisation's identifier
/// (`owner_of` names the organisation that registered a prefix), or with
/// none of `author`'s own when `author` has one. The reason, if not.
pub fn activity_reporter(
    identifier: &str,
    author: &str,
    own: &str,
    owner_of: impl Fn(&str) -> Option<String>,
) -> Result<(), String> {
    let under = |prefix: &str| {
        identifier.len() > prefix.len() + 1
            && identifier.starts_with(prefix)
            && identifier.as_bytes()[prefix.len()] == b'-'
    };
    if !own.is_empty() {
        if under(own) {
            return Ok(());
        }
        return Err(format!(
            "its IATI identifier must begin with {author}'s own, {own}- (an activity another organisation publishes is registered by that organisation)"
        ));
    }
    let taken = identifier.match_indices('-').find_map(|(at, _)| {
        let prefix = &identifier[..at];
        owner_of(prefix)
            .filter(|owner| owner != author)
            .map(|owner| (owner, prefix))
    });
    match taken {
        Some((owner, prefix)) => Err(format!(
            "{prefix} is the IATI identifier of organisation {owner}, whose activities only it registers"
        )),
        None => Ok(()),
    }
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
