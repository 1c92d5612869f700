//! Field rules of every body type: formats, code lists, ranges, limits.
//! Pure functions of the body; references to other entities are `append`'s job.

use tansiq_proto::v1 as pb;

use super::codes::{self, Codelist};
use crate::date::Date;
use crate::ids::{is_slug, OrgId, PublicKeyBytes};
use crate::limits::{
    ADMIN_LEVEL_MAX, CLUSTER_MEMBERS_MAX, NAME_BYTES_MAX, REPEATED_FIELD_ENTRIES_MAX,
    TEXT_FIELD_BYTES_MAX,
};
use crate::reject::Rejection;
use crate::signing::acceptable_public_key;
use tansiq_proto::v1::event_body::Kind;

type Checked = Result<(), Rejection>;

/// Checks the fields of one body.
pub fn check(kind: &Kind) -> Checked {
    match kind {
        Kind::OrganisationRegistered(body) => {
            org_id("org_id", &body.org_id)?;
            let role = pb::OrgRole::try_from(body.role).unwrap_or_default();
            if role == pb::OrgRole::Unspecified {
                return Err(Rejection::field(
                    "role",
                    "must be ORG_ROLE_MINISTRY, _DONOR, _OBSERVER, _LOCAL_GOVERNMENT or _IMPLEMENTER",
                ));
            }
            match (role, body.pcode.is_empty()) {
                (pb::OrgRole::LocalGovernment, true) => {
                    return Err(Rejection::field(
                        "pcode",
                        "is required for ORG_ROLE_LOCAL_GOVERNMENT: the P-code of the municipality whose organisation it is",
                    ))
                }
                (pb::OrgRole::LocalGovernment, false) => pcode("pcode", &body.pcode)?,
                (_, false) => {
                    return Err(Rejection::field(
                        "pcode",
                        "is only for ORG_ROLE_LOCAL_GOVERNMENT (a municipality's own organisation)",
                    ))
                }
                (_, true) => {}
            }
            names("name", body.name.as_ref())?;
            text(
                "iati_identifier",
                &body.iati_identifier,
                NAME_BYTES_MAX,
                Lines::One,
            )?;
            if body.iati_org_type != 0 {
                code(
                    "iati_org_type",
                    &body.iati_org_type.to_string(),
                    &codes::ORGANISATION_TYPE,
                )?;
            }
            repeated("keys", body.keys.len())?;
            if body.keys.is_empty() {
                return Err(Rejection::field(
                    "keys",
                    "an organisation needs at least one signing key",
                ));
            }
            body.keys.iter().try_for_each(|key| public_key("keys", key))
        }
        Kind::KeyRotated(body) => {
            org_id("org_id", &body.org_id)?;
            public_key("new_key", &body.new_key)?;
            if !body.retired_key.is_empty() {
                key_bytes("retired_key", &body.retired_key)?;
            }
            Ok(())
        }
        Kind::KeyRevoked(body) => {
            org_id("org_id", &body.org_id)?;
            key_bytes("key", &body.key)?;
            text("reason", &body.reason, TEXT_FIELD_BYTES_MAX, Lines::Several)
        }
        Kind::MunicipalityRegistered(body) => {
            pcode("pcode", &body.pcode)?;
            code("country", &body.country, &codes::COUNTRY)?;
            if !body.pcode.starts_with(&body.country) {
                return Err(Rejection::field(
                    "pcode",
                    format!(
                        "{:?} must start with its country code {:?}",
                        body.pcode, body.country
                    ),
                ));
            }
            // Level 0 is a whole country (its P-code is the ISO code), where
            // activities known only by country are kept.
            let country = body.pcode.len() == 2;
            if country != (body.admin_level == 0) || body.admin_level > ADMIN_LEVEL_MAX {
                return Err(Rejection::field(
                    "admin_level",
                    format!(
                        "must be 0 for a country (a 2-letter P-code) and 1 to {ADMIN_LEVEL_MAX} below it, got {} for {:?}",
                        body.admin_level, body.pcode
                    ),
                ));
            }
            if !body.parent_pcode.is_empty() {
                pcode("parent_pcode", &body.parent_pcode)?;
                if !body.pcode.starts_with(&body.parent_pcode) || body.pcode == body.parent_pcode {
                    return Err(Rejection::field(
                        "parent_pcode",
                        format!(
                            "{:?} must be a proper prefix of pcode {:?}",
                            body.parent_pcode, body.pcode
                        ),
                    ));
                }
            }
            names("name", body.name.as_ref())
        }
        Kind::SectorPolicySet(body) => {
            sector_or_category("sector", &body.sector)?;
            if pb::CoordinationPolicy::try_from(body.policy).unwrap_or_default()
                == pb::CoordinationPolicy::Unspecified
            {
                return Err(Rejection::field(
                    "policy",
                    "must be COORDINATION_POLICY_WARN or COORDINATION_POLICY_HOLD",
                ));
            }
            Ok(())
        }
        Kind::NeedAssessed(body) => {
            pcode("pcode", &body.pcode)?;
            code("sector", &body.sector, &codes::SECTOR)?;
            if !(1..=5).contains(&body.severity) {
                return Err(Rejection::field(
                    "severity",
                    format!("must be 1 to 5, got {}", body.severity),
                ));
            }
            period(
                "period_start",
                &body.period_start,
                "period_end",
                &body.period_end,
            )?;
            text("source", &body.source, TEXT_FIELD_BYTES_MAX, Lines::Several)
        }
        Kind::ProjectRegistered(body) => {
            project_id(&body.project_id)?;
            details(body.details.as_ref())
        }
        Kind::ProjectUpdated(body) => {
            project_id(&body.project_id)?;
            details(body.details.as_ref())
        }
        Kind::ProjectStatusChanged(body) => {
            project_id(&body.project_id)?;
            code("status", &body.status.to_string(), &codes::ACTIVITY_STATUS)?;
            date("effective_date", &body.effective_date)
        }
        Kind::TransactionRecorded(body) => {
            project_id(&body.project_id)?;
            code(
                "transaction_type",
                &body.transaction_type.to_string(),
                &codes::TRANSACTION_TYPE,
            )?;
            date("date", &body.date)?;
            money("value", body.value.as_ref())?;
            text(
                "provider_activity_id",
                &body.provider_activity_id,
                NAME_BYTES_MAX,
                Lines::One,
            )?;
            text(
                "description",
                &body.description,
                TEXT_FIELD_BYTES_MAX,
                Lines::Several,
            )?;
            if !body.receiver_org_id.is_empty() {
                org_id("receiver_org_id", &body.receiver_org_id)?;
            }
            Ok(())
        }
        Kind::ResultReported(body) => result(
            &body.project_id,
            &body.result_id,
            body.result_type,
            body.title.as_ref(),
            body.indicator.as_ref(),
        ),
        Kind::ResultUpdated(body) => result(
            &body.project_id,
            &body.result_id,
            body.result_type,
            body.title.as_ref(),
            body.indicator.as_ref(),
        ),
        Kind::ProjectClosed(body) => {
            project_id(&body.project_id)?;
            date("end_date", &body.end_date)
        }
        Kind::OverlapReviewed(body) => {
            project_id(&body.project_a)?;
            project_id(&body.project_b)?;
            if body.project_a == body.project_b {
                return Err(Rejection::field(
                    "project_b",
                    "an overlap review needs two different projects",
                ));
            }
            if pb::OverlapVerdict::try_from(body.verdict).unwrap_or_default()
                == pb::OverlapVerdict::Unspecified
            {
                return Err(Rejection::field(
                    "verdict",
                    "must be COMPLEMENTARY, DUPLICATE or SAME_PROJECT",
                ));
            }
            text("note", &body.note, TEXT_FIELD_BYTES_MAX, Lines::Several)
        }
        Kind::MembershipChangeAuthorised(body) => membership_change(body),
        Kind::AttestationMade(body) => {
            use pb::attestation_made::Subject;
            match &body.subject {
                Some(Subject::ProjectFunding(project) | Subject::ProjectActive(project)) => {
                    project_id(project)?
                }
                Some(Subject::ResultDelivered(period)) => {
                    project_id(&period.project_id)?;
                    result_id("result_delivered.result_id", &period.result_id)?;
                    date("result_delivered.period_start", &period.period_start)?;
                }
                Some(Subject::Transaction(event)) => {
                    if event.len() != 32 {
                        return Err(Rejection::field(
                            "transaction",
                            format!(
                                "must be the 32-byte id of a TransactionRecorded event, got {} bytes",
                                event.len()
                            ),
                        ));
                    }
                }
                None => {
                    return Err(Rejection::field(
                        "subject",
                        "is required: what is attested (projectFunding, projectActive, resultDelivered or transaction)",
                    ))
                }
            }
            if !body.value.is_empty() && !is_decimal_amount(&body.value) {
                return Err(Rejection::field(
                    "value",
                    format!(
                        "{:?} is not a decimal like \"1250\" or \"1250.50\"",
                        body.value
                    ),
                ));
            }
            let verdict = pb::AttestationVerdict::try_from(body.verdict).unwrap_or_default();
            match verdict {
                pb::AttestationVerdict::Unspecified => {
                    return Err(Rejection::field(
                        "verdict",
                        "must be ATTESTATION_VERDICT_CONFIRMED, _DISPUTED or _PARTLY",
                    ))
                }
                pb::AttestationVerdict::Disputed | pb::AttestationVerdict::Partly
                    if body.note.trim().is_empty() =>
                {
                    return Err(Rejection::field(
                        "note",
                        "is required when the verdict is DISPUTED or PARTLY: say what is not so",
                    ))
                }
                _ => {}
            }
            text("note", &body.note, TEXT_FIELD_BYTES_MAX, Lines::Several)
        }
        Kind::SecondaryReportingConsented(body) => {
            org_id("org_id", &body.org_id)?;
            if body.iati_org_identifier.is_empty() {
                return Err(Rejection::field(
                    "iati_org_identifier",
                    "is required (the publisher's IATI organisation identifier, e.g. XM-DAC-7)",
                ));
            }
            text(
                "iati_org_identifier",
                &body.iati_org_identifier,
                NAME_BYTES_MAX,
                Lines::One,
            )?;
            text("note", &body.note, TEXT_FIELD_BYTES_MAX, Lines::Several)
        }
    }
}

/// A result id: the rules of a project id.
fn result_id(field: &str, value: &str) -> Checked {
    if !is_slug(value, 2, 128) {
        return Err(Rejection::field(
            field,
            format!("{value:?} is not an id (lowercase ASCII letters, digits, '-', '_', '.', 2-128 characters)"),
        ));
    }
    Ok(())
}

/// A result's fields: its ids, type, title and indicator.
fn result(
    project: &str,
    result: &str,
    result_type: i32,
    title: Option<&pb::Names>,
    indicator: Option<&pb::Indicator>,
) -> Checked {
    project_id(project)?;
    result_id("result_id", result)?;
    if pb::ResultType::try_from(result_type).unwrap_or_default() == pb::ResultType::Unspecified {
        return Err(Rejection::field(
            "result_type",
            "must be RESULT_TYPE_OUTPUT, _OUTCOME, _IMPACT or _OTHER",
        ));
    }
    names("title", title)?;
    let indicator = indicator.ok_or_else(|| Rejection::field("indicator", "is required"))?;
    names("indicator.title", indicator.title.as_ref())?;
    let measure = pb::IndicatorMeasure::try_from(indicator.measure).unwrap_or_default();
    if measure == pb::IndicatorMeasure::Unspecified {
        return Err(Rejection::field(
            "indicator.measure",
            "must be INDICATOR_MEASURE_UNIT, _PERCENTAGE, _NOMINAL, _ORDINAL or _QUALITATIVE",
        ));
    }
    text(
        "indicator.vocabulary",
        &indicator.vocabulary,
        NAME_BYTES_MAX,
        Lines::One,
    )?;
    text(
        "indicator.code",
        &indicator.code,
        NAME_BYTES_MAX,
        Lines::One,
    )?;
    if !indicator.pcode.is_empty() {
        pcode("indicator.pcode", &indicator.pcode)?;
    }
    if let Some(baseline) = &indicator.baseline {
        indicator_value("indicator.baseline", measure, baseline)?;
    }
    repeated("indicator.periods", indicator.periods.len())?;
    let mut starts = std::collections::BTreeSet::new();
    for (index, period_) in indicator.periods.iter().enumerate() {
        let field = format!("indicator.periods[{index}]");
        date(&format!("{field}.start"), &period_.start)?;
        date(&format!("{field}.end"), &period_.end)?;
        period(
            &format!("{field}.start"),
            &period_.start,
            &format!("{field}.end"),
            &period_.end,
        )?;
        if !starts.insert(period_.start.as_str()) {
            return Err(Rejection::field(
                format!("{field}.start"),
                format!(
                    "two periods start on {}: a period is named by its start",
                    period_.start
                ),
            ));
        }
        if let Some(target) = &period_.target {
            indicator_value(&format!("{field}.target"), measure, target)?;
        }
        if let Some(actual) = &period_.actual {
            indicator_value(&format!("{field}.actual"), measure, actual)?;
        }
    }
    Ok(())
}

/// A baseline, target or actual in the indicator's measure.
fn indicator_value(
    field: &str,
    measure: pb::IndicatorMeasure,
    value: &pb::IndicatorValue,
) -> Checked {
    use pb::IndicatorMeasure as Measure;
    let stated = Measure::try_from(value.measure).unwrap_or_default();
    if stated != Measure::Unspecified && stated != measure {
        return Err(Rejection::field(
            format!("{field}.measure"),
            format!(
                "is {}, but the indicator is measured in {}: a value must be in the indicator's measure",
                stated.as_str_name(),
                measure.as_str_name()
            ),
        ));
    }
    text(
        &format!("{field}.comment"),
        &value.comment,
        TEXT_FIELD_BYTES_MAX,
        Lines::Several,
    )?;
    if measure == Measure::Qualitative {
        if !value.value.is_empty() {
            return Err(Rejection::field(
                format!("{field}.value"),
                "a qualitative indicator has no value: say it in the comment",
            ));
        }
        return Ok(());
    }
    if value.value.is_empty() {
        return Ok(());
    }
    if value.value.trim_start().starts_with('-') || !is_decimal_amount(&value.value) {
        return Err(Rejection::field(
            format!("{field}.value"),
            format!(
                "{:?} is not a decimal like \"120\" or \"12.5\"",
                value.value
            ),
        ));
    }
    if measure == Measure::Percentage && decimal_over(&value.value, 100) {
        return Err(Rejection::field(
            format!("{field}.value"),
            format!("{} is over 100: the indicator is a percentage", value.value),
        ));
    }
    Ok(())
}

/// Whether a decimal (already checked) is over `limit`.
pub(crate) fn decimal_over(value: &str, limit: u64) -> bool {
    let (integer, fraction) = value.split_once('.').unwrap_or((value, ""));
    let whole: u64 = integer.parse().unwrap_or(u64::MAX);
    whole > limit || (whole == limit && fraction.bytes().any(|b| b != b'0'))
}

/// A cluster membership change: a change named, each node once, with an
/// address where the change adds nodes and without one where it only
/// names voters.
fn membership_change(body: &pb::MembershipChangeAuthorised) -> Checked {
    let change = pb::MembershipChange::try_from(body.change).unwrap_or_default();
    let with_addresses = match change {
        pb::MembershipChange::Unspecified => {
            return Err(Rejection::field(
                "change",
                "must be MEMBERSHIP_CHANGE_INIT, MEMBERSHIP_CHANGE_ADD_LEARNER or MEMBERSHIP_CHANGE_CHANGE_VOTERS",
            ))
        }
        pb::MembershipChange::Init | pb::MembershipChange::AddLearner => true,
        pb::MembershipChange::ChangeVoters => false,
    };
    if body.members.is_empty() || body.members.len() > CLUSTER_MEMBERS_MAX {
        return Err(Rejection::field(
            "members",
            format!(
                "names {} nodes; a change names 1 to {CLUSTER_MEMBERS_MAX}",
                body.members.len()
            ),
        ));
    }
    if change == pb::MembershipChange::AddLearner && body.members.len() != 1 {
        return Err(Rejection::field(
            "members",
            "MEMBERSHIP_CHANGE_ADD_LEARNER names exactly one node",
        ));
    }
    let mut seen = std::collections::BTreeSet::new();
    for member in &body.members {
        if member.node_id == 0 {
            return Err(Rejection::field("members.node_id", "node ids start at 1"));
        }
        if !seen.insert(member.node_id) {
            return Err(Rejection::field(
                "members.node_id",
                format!("node {} is named twice", member.node_id),
            ));
        }
        text(
            "members.address",
            &member.address,
            NAME_BYTES_MAX,
            Lines::One,
        )?;
        let is_url =
            member.address.starts_with("http://") || member.address.starts_with("https://");
        match (with_addresses, member.address.is_empty()) {
            (true, _) if !is_url => {
                return Err(Rejection::field(
                    "members.address",
                    format!(
                        "node {}'s address {:?} must be an http:// or https:// URL",
                        member.node_id, member.address
                    ),
                ))
            }
            (false, false) => return Err(Rejection::field(
                "members.address",
                "MEMBERSHIP_CHANGE_CHANGE_VOTERS names voters by id only; leave addresses empty",
            )),
            _ => {}
        }
    }
    Ok(())
}

fn details(details: Option<&pb::ProjectDetails>) -> Checked {
    let details = details.ok_or_else(|| Rejection::field("details", "is required"))?;
    if details.iati_identifier.trim().is_empty() {
        return Err(Rejection::field(
            "details.iati_identifier",
            "is required (the IATI activity identifier)",
        ));
    }
    text(
        "details.iati_identifier",
        &details.iati_identifier,
        NAME_BYTES_MAX,
        Lines::One,
    )?;
    names("details.title", details.title.as_ref())?;
    if let Some(description) = &details.description {
        text(
            "details.description.arabic",
            &description.arabic,
            TEXT_FIELD_BYTES_MAX,
            Lines::Several,
        )?;
        text(
            "details.description.latin",
            &description.latin,
            TEXT_FIELD_BYTES_MAX,
            Lines::Several,
        )?;
    }
    repeated("details.participants", details.participants.len())?;
    for participant in &details.participants {
        code(
            "details.participants.role",
            &participant.role.to_string(),
            &codes::ORGANISATION_ROLE,
        )?;
        if !participant.org_id.is_empty() {
            org_id("details.participants.org_id", &participant.org_id)?;
        }
        text(
            "details.participants.iati_identifier",
            &participant.iati_identifier,
            NAME_BYTES_MAX,
            Lines::One,
        )?;
        if let Some(name) = &participant.name {
            text(
                "details.participants.name.arabic",
                &name.arabic,
                NAME_BYTES_MAX,
                Lines::One,
            )?;
            text(
                "details.participants.name.latin",
                &name.latin,
                NAME_BYTES_MAX,
                Lines::One,
            )?;
        }
        if participant.org_id.is_empty()
            && participant.iati_identifier.is_empty()
            && participant.name.is_none()
        {
            return Err(Rejection::field(
                "details.participants",
                "each participant needs an org_id, an IATI identifier or a name",
            ));
        }
    }
    repeated("details.locations", details.locations.len())?;
    for location in &details.locations {
        pcode("details.locations.pcode", &location.pcode)?;
        percentage("details.locations.percentage", location.percentage)?;
    }
    repeated("details.sectors", details.sectors.len())?;
    for sector in &details.sectors {
        // A DAC 5-digit purpose code, or a 3-digit category when that is
        // all the donor reports (IATI sector vocabulary 2).
        if sector.code.len() == 3 {
            code(
                "details.sectors.code",
                &sector.code,
                &codes::SECTOR_CATEGORY,
            )?;
        } else {
            code("details.sectors.code", &sector.code, &codes::SECTOR)?;
        }
        percentage("details.sectors.percentage", sector.percentage)?;
    }
    code(
        "details.status",
        &details.status.to_string(),
        &codes::ACTIVITY_STATUS,
    )?;
    period(
        "details.planned_start",
        &details.planned_start,
        "details.planned_end",
        &details.planned_end,
    )?;
    period(
        "details.actual_start",
        &details.actual_start,
        "details.actual_end",
        &details.actual_end,
    )?;
    if let Some(budget) = &details.budget {
        money("details.budget", Some(budget))?;
    }
    Ok(())
}

fn org_id(field: &str, value: &str) -> Checked {
    OrgId::parse(value)
        .map(drop)
        .map_err(|error| Rejection::field(field, error.to_string()))
}

fn project_id(value: &str) -> Checked {
    if is_slug(value, 2, 128) {
        Ok(())
    } else {
        Err(Rejection::field(
            "project_id",
            format!(
                "must be 2-128 lowercase ASCII letters, digits, '-', '_' or '.', got {value:?}"
            ),
        ))
    }
}

fn key_bytes(field: &str, bytes: &[u8]) -> Result<PublicKeyBytes, Rejection> {
    PublicKeyBytes::from_slice(bytes).map_err(|error| Rejection::field(field, error.to_string()))
}

fn public_key(field: &str, bytes: &[u8]) -> Checked {
    let key = key_bytes(field, bytes)?;
    acceptable_public_key(&key)
        .map(drop)
        .map_err(|error| Rejection::field(field, error.to_string()))
}

/// Whether a text field may hold line breaks.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Lines {
    /// Names, titles, identifiers: one line.
    One,
    /// Descriptions, notes, reasons: line feeds and tabs allowed.
    Several,
}

fn text(field: &str, value: &str, max: usize, lines: Lines) -> Checked {
    if value.len() > max {
        return Err(Rejection::field(
            field,
            format!("is {} bytes; the limit is {max}", value.len()),
        ));
    }
    match value.chars().find(|c| !allowed_in_text(*c, lines)) {
        None => Ok(()),
        Some(c) => Err(Rejection::field(
            field,
            format!(
                "holds U+{:04X} ({}), which text on the ledger may not hold: it would change how other organisations' screens and files show the text",
                c as u32,
                unwanted_kind(c)
            ),
        )),
    }
}

/// Text that another organisation wrote is shown on ministry and donor
/// screens, in CSV and XML: no control characters (terminal escapes, NUL,
/// line breaks in a one-line field), no bidirectional overrides, embeddings
/// or isolates (they reorder what a reader sees, e.g. "U+202E" turns
/// "fdp.exe" around), no noncharacters. Arabic's own marks (U+200E, U+200F,
/// U+061C) are allowed.
fn allowed_in_text(c: char, lines: Lines) -> bool {
    let code = c as u32;
    let control = c.is_control();
    let line_break = c == '\n' || c == '\t';
    let bidi_control = matches!(code, 0x202A..=0x202E | 0x2066..=0x2069);
    let separator = matches!(code, 0x2028 | 0x2029);
    let noncharacter = matches!(code, 0xFDD0..=0xFDEF) || (code & 0xFFFE) == 0xFFFE;
    if control {
        return line_break && lines == Lines::Several;
    }
    !(bidi_control || noncharacter || (separator && lines == Lines::One))
}

fn unwanted_kind(c: char) -> &'static str {
    match c as u32 {
        0x202A..=0x202E | 0x2066..=0x2069 => "a bidirectional override, embedding or isolate",
        0x2028 | 0x2029 | 0x0A | 0x0D => "a line break, in a one-line field",
        0xFDD0..=0xFDEF => "a noncharacter",
        code if code & 0xFFFE == 0xFFFE => "a noncharacter",
        _ => "a control character",
    }
}

fn names(field: &str, names: Option<&pb::Names>) -> Checked {
    let names = names
        .ok_or_else(|| Rejection::field(field, "needs a name in Arabic or in Latin script"))?;
    if names.arabic.trim().is_empty() && names.latin.trim().is_empty() {
        return Err(Rejection::field(
            field,
            "needs a name in Arabic or in Latin script",
        ));
    }
    text(
        &format!("{field}.arabic"),
        &names.arabic,
        NAME_BYTES_MAX,
        Lines::One,
    )?;
    text(
        &format!("{field}.latin"),
        &names.latin,
        NAME_BYTES_MAX,
        Lines::One,
    )
}

fn repeated(field: &str, count: usize) -> Checked {
    if count > REPEATED_FIELD_ENTRIES_MAX {
        return Err(Rejection::field(
            field,
            format!("has {count} entries; the limit is {REPEATED_FIELD_ENTRIES_MAX}"),
        ));
    }
    Ok(())
}

fn code(field: &str, value: &str, list: &Codelist) -> Checked {
    match list.get(value) {
        Some(entry) if !entry.withdrawn => Ok(()),
        Some(_) => Err(Rejection::field(
            field,
            format!("code {value:?} is withdrawn from the {} list", list.name),
        )),
        None => Err(Rejection::field(
            field,
            format!("code {value:?} is not in the {} list", list.name),
        )),
    }
}

fn sector_or_category(field: &str, value: &str) -> Checked {
    match value.len() {
        3 => code(field, value, &codes::SECTOR_CATEGORY),
        _ => code(field, value, &codes::SECTOR),
    }
}

/// OCHA-style P-code: two capital letters (ISO 3166-1 country), then up to 18 capital letters or digits.
fn pcode(field: &str, value: &str) -> Checked {
    let bytes = value.as_bytes();
    let ok = (2..=20).contains(&bytes.len())
        && bytes[..2].iter().all(u8::is_ascii_uppercase)
        && bytes[2..]
            .iter()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit());
    if !ok {
        return Err(Rejection::field(field, format!("{value:?} is not a P-code (two capital letters of the country, then capital letters or digits, e.g. \"LY021104\")")));
    }
    code(field, &value[..2], &codes::COUNTRY)
}

fn date(field: &str, value: &str) -> Checked {
    Date::parse(value)
        .map(drop)
        .ok_or_else(|| Rejection::field(field, format!("{value:?} is not a date YYYY-MM-DD")))
}

fn optional_date(field: &str, value: &str) -> Result<Option<Date>, Rejection> {
    if value.is_empty() {
        return Ok(None);
    }
    date(field, value)?;
    Ok(Date::parse(value))
}

fn period(start_field: &str, start: &str, end_field: &str, end: &str) -> Checked {
    if let (Some(start_date), Some(end_date)) = (
        optional_date(start_field, start)?,
        optional_date(end_field, end)?,
    ) {
        if end_date < start_date {
            return Err(Rejection::field(
                end_field,
                format!("{end} is before {start_field} {start}"),
            ));
        }
    }
    Ok(())
}

fn percentage(field: &str, value: u32) -> Checked {
    if value > 100 {
        return Err(Rejection::field(
            field,
            format!("must be 0-100, got {value}"),
        ));
    }
    Ok(())
}

/// A non-negative decimal: up to 15 integer digits, optionally '.' and 1-4 fraction digits.
pub(crate) fn is_decimal_amount(value: &str) -> bool {
    let (integer, fraction) = value.split_once('.').unwrap_or((value, ""));
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    (1..=15).contains(&integer.len())
        && digits(integer)
        && (!value.contains('.') || (1..=4).contains(&fraction.len()))
        && digits(fraction)
}

fn money(field: &str, money: Option<&pb::Money>) -> Checked {
    let money = money.ok_or_else(|| Rejection::field(field, "is required"))?;
    if money.value.trim_start().starts_with('-') {
        return Err(Rejection::field(
            format!("{field}.value"),
            format!(
                "negative amount {:?}; amounts must be zero or more",
                money.value
            ),
        ));
    }
    if !is_decimal_amount(&money.value) {
        return Err(Rejection::field(
            format!("{field}.value"),
            format!(
                "{:?} is not a decimal amount like \"1250000\" or \"1250000.50\"",
                money.value
            ),
        ));
    }
    code(
        &format!("{field}.currency"),
        &money.currency,
        &codes::CURRENCY,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_refuses_what_would_change_how_it_is_shown() {
        for bad in [
            "title\u{1b}[2J",
            "nul\u{0}here",
            "two\nlines",
            "c1\u{85}",
            "exe.\u{202e}fdp",
            "isolate\u{2067}x",
            "sep\u{2028}x",
            "nonchar\u{fdd0}",
            "nonchar\u{1fffe}",
        ] {
            assert!(text("title", bad, 512, Lines::One).is_err(), "{bad:?}");
        }
        for good in [
            "مشروع المياه في غدامس",
            "Water \u{200f}غدامس\u{200e} project",
            "Café – Ghadames (phase 2)",
        ] {
            assert!(text("title", good, 512, Lines::One).is_ok(), "{good:?}");
        }
        assert!(text("note", "line one\n\tline two", 512, Lines::Several).is_ok());
        assert!(text("note", "bell\u{7}", 512, Lines::Several).is_err());
        let error = text("title", "a\u{202e}b", 512, Lines::One).expect_err("refused");
        assert!(error.to_string().contains("U+202E"), "{error}");
    }

    #[test]
    fn amounts() {
        for good in ["0", "1250000", "1250000.5", "12.3456"] {
            assert!(is_decimal_amount(good), "{good}");
        }
        for bad in [
            "",
            "-1",
            "1.",
            ".5",
            "1.23456",
            "1e6",
            "1,000",
            "1234567890123456",
        ] {
            assert!(!is_decimal_amount(bad), "{bad}");
        }
    }

    #[test]
    fn code_errors_name_the_list() {
        let err = code("details.sectors.code", "99999", &codes::SECTOR).unwrap_err();
        assert!(err.to_string().contains("IATI Sector"), "{err}");
        let err = money(
            "budget",
            Some(&pb::Money {
                value: "10".into(),
                currency: "XXQ".into(),
            }),
        )
        .unwrap_err();
        assert!(err.to_string().contains("ISO 4217"), "{err}");
    }

    #[test]
    fn pcodes() {
        assert!(pcode("p", "LY021104").is_ok());
        assert!(pcode("p", "ly021104").is_err());
        assert!(pcode("p", "QQ01").is_err(), "unknown country prefix");
        assert!(pcode("p", "L").is_err());
    }
}
