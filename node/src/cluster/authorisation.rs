//! Membership changes on the ledger. Every administration call carries the
//! ministry's signed `MembershipChangeAuthorised`, which must describe the
//! very change the call asks for; the node checks that the ledger would
//! accept it, writes it to the ledger, and only then makes the change. So
//! the ledger records every membership change and who asked for it, and an
//! administrator's certificate alone changes nothing.

use prost::Message;
use tansiq_proto::v1 as pb;
use tansiq_proto::v1::event_body::Kind;
use tonic::Status;

/// The change a call asks for, as its authorisation must describe it:
/// members in node-id order (a client may list them in any order).
pub(super) fn asked(
    change: pb::MembershipChange,
    mut members: Vec<pb::ClusterMember>,
) -> pb::MembershipChangeAuthorised {
    members.sort_by_key(|member| member.node_id);
    pb::MembershipChangeAuthorised {
        change: change as i32,
        members,
    }
}

/// A call's authorisation, with the organisation that signed it, when it
/// describes exactly the change `asked` (the ledger checks the signature,
/// the key and that the signer is the ministry).
pub(super) fn matching(
    authorisation: Option<pb::SignedEvent>,
    asked: &pb::MembershipChangeAuthorised,
) -> Result<(pb::SignedEvent, String), Status> {
    let Some(authorisation) = authorisation else {
        return Err(Status::permission_denied(
            "a membership change needs the ministry's signed authorisation, which the node writes to the ledger before it makes the change: run `tansiq cluster ...` with --key naming a ministry key file",
        ));
    };
    let body = pb::EventBody::decode(authorisation.body.as_slice()).map_err(|error| {
        Status::invalid_argument(format!("authorisation: not an event body ({error})"))
    })?;
    let described = match body.kind {
        Some(Kind::MembershipChangeAuthorised(described)) => described,
        _ => {
            return Err(Status::invalid_argument(
                "authorisation: the event is not a membershipChangeAuthorised",
            ))
        }
    };
    let described = asked_as(&described);
    if &described != asked {
        return Err(Status::invalid_argument(format!(
            "authorisation: it authorises {}, but the call asks for {}",
            summary(&described),
            summary(asked)
        )));
    }
    Ok((authorisation, body.author))
}

/// An authorisation as [`asked`] orders it.
fn asked_as(described: &pb::MembershipChangeAuthorised) -> pb::MembershipChangeAuthorised {
    let change = pb::MembershipChange::try_from(described.change).unwrap_or_default();
    asked(change, described.members.clone())
}

/// A change in words, for an error message: "add-learner 4=https://...".
pub(super) fn summary(change: &pb::MembershipChangeAuthorised) -> String {
    let name = match pb::MembershipChange::try_from(change.change).unwrap_or_default() {
        pb::MembershipChange::Init => "init",
        pb::MembershipChange::AddLearner => "add-learner",
        pb::MembershipChange::ChangeVoters => "change-voters",
        pb::MembershipChange::Unspecified => "no change",
    };
    let members: Vec<String> = change
        .members
        .iter()
        .map(|member| match member.address.as_str() {
            "" => member.node_id.to_string(),
            address => format!("{}={address}", member.node_id),
        })
        .collect();
    format!("{name} {}", members.join(" "))
}

/// Refuses an authorisation the ledger already holds: each change needs its
/// own, so a recorded authorisation cannot be replayed to undo a later change.
pub(super) fn first_use(receipt: &pb::Receipt) -> Result<(), Status> {
    if receipt.duplicate {
        return Err(Status::failed_precondition(format!(
            "this authorisation is already on the ledger (position {}, event {}) and was used; sign a new one for this change",
            receipt.position,
            hex::encode(&receipt.event_id)
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(node_id: u64, address: &str) -> pb::ClusterMember {
        pb::ClusterMember {
            node_id,
            address: address.to_owned(),
        }
    }

    fn signed(kind: Kind) -> pb::SignedEvent {
        pb::SignedEvent {
            body: pb::EventBody {
                author: "ministry".into(),
                kind: Some(kind),
                ..Default::default()
            }
            .encode_to_vec(),
            signature: vec![0; 64],
        }
    }

    #[test]
    fn an_authorisation_must_describe_the_change_asked_for() {
        let asked_for = asked(
            pb::MembershipChange::Init,
            vec![member(2, "http://b"), member(1, "http://a")],
        );
        // The same members in another order: the same change.
        let same = signed(Kind::MembershipChangeAuthorised(
            pb::MembershipChangeAuthorised {
                change: pb::MembershipChange::Init as i32,
                members: vec![member(1, "http://a"), member(2, "http://b")],
            },
        ));
        let (_, author) = matching(Some(same), &asked_for).expect("the same change");
        assert_eq!(author, "ministry");

        let other_address = signed(Kind::MembershipChangeAuthorised(
            pb::MembershipChangeAuthorised {
                change: pb::MembershipChange::Init as i32,
                members: vec![member(1, "http://a"), member(2, "http://evil")],
            },
        ));
        let refused = matching(Some(other_address), &asked_for).unwrap_err();
        assert_eq!(refused.code(), tonic::Code::InvalidArgument);
        assert!(
            refused.message().contains("2=http://evil"),
            "{}",
            refused.message()
        );

        let other_kind = signed(Kind::KeyRevoked(pb::KeyRevoked::default()));
        assert_eq!(
            matching(Some(other_kind), &asked_for).unwrap_err().code(),
            tonic::Code::InvalidArgument
        );
        assert_eq!(
            matching(None, &asked_for).unwrap_err().code(),
            tonic::Code::PermissionDenied
        );
    }
}
